/* vt-smgen: reads the state machines of spec/state/ (Markdown, in the format of
 * spec/README.md, "State machines") and writes, per machine, a C header and
 * source to generated/state/: enums, guard/action hooks, the transition table
 * as data for lib/include/ventra/sm.h, and a step function.
 *
 * Usage: vt-smgen OUTDIR file.md...
 * Errors are reported as "file:line: message"; nothing is written unless
 * every file is valid. Exit status: 0 ok, 1 invalid spec, 2 usage or I/O. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* The runtime stores indices and line numbers in 16 bits (vt_sm_row). */
#define LIMIT 32000

struct name {
    char *text;    /* UPPER_SNAKE or lower_snake */
    char *meaning; /* Meaning column; NULL for guards and actions */
    int line;
};

struct name_list {
    struct name *v;
    int n, cap;
};

struct row {
    int state, event;
    int guard; /* -1: none */
    bool negated;
    int action_first, action_count;
    int next;
    int line;
};

/* A Transitions row before names are resolved. */
struct raw_row {
    char *state, *event, *guard, *next;
    bool negated;
    int action_first, action_count; /* into machine.raw_actions */
    int line;
};

struct machine {
    const char *path; /* as given on the command line */
    char *name;
    int name_line;
    struct name_list states, events, guards, actions;
    struct raw_row *raw;
    int raw_n, raw_cap;
    struct name_list raw_actions; /* action names of all rows, in order */
    struct row *rows;
    int *row_actions;
    int errors;
};

static void fail(struct machine *m, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct machine *m, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: ", m->path, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    m->errors++;
}

static void list_add(struct name_list *l, const char *text, size_t len,
                     const char *meaning, int line)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = cg_xrealloc(l->v, (size_t)l->cap * sizeof(*l->v));
    }
    l->v[l->n].text = cg_xstrndup(text, len);
    l->v[l->n].meaning = meaning ? cg_xstrndup(meaning, strlen(meaning)) : NULL;
    l->v[l->n].line = line;
    l->n++;
}

static int list_find(const struct name_list *l, const char *text)
{
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].text, text) == 0)
            return i;
    }
    return -1;
}

static void list_free(struct name_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].text);
        free(l->v[i].meaning);
    }
    free(l->v);
}

static void machine_free(struct machine *m)
{
    free(m->name);
    list_free(&m->states);
    list_free(&m->events);
    list_free(&m->guards);
    list_free(&m->actions);
    list_free(&m->raw_actions);
    for (int i = 0; i < m->raw_n; i++) {
        free(m->raw[i].state);
        free(m->raw[i].event);
        free(m->raw[i].guard);
        free(m->raw[i].next);
    }
    free(m->raw);
    free(m->rows);
    free(m->row_actions);
}

/* ---- lexical helpers ------------------------------------------------- */

static bool is_upper_snake(const char *s, size_t n)
{
    if (n == 0 || !(s[0] >= 'A' && s[0] <= 'Z'))
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return false;
    }
    return true;
}

static bool is_lower_snake(const char *s, size_t n)
{
    if (n == 0 || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return false;
    }
    return true;
}

/* Trims blanks at both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* If [s, s+n) is exactly `name` with a name of the given case, stores the
 * name's span and returns true. */
static bool code_name(const char *s, size_t n, bool upper, const char **out,
                      size_t *out_n)
{
    if (n < 3 || s[0] != '`' || s[n - 1] != '`')
        return false;
    s++;
    n -= 2;
    if (!(upper ? is_upper_snake(s, n) : is_lower_snake(s, n)))
        return false;
    *out = s;
    *out_n = n;
    return true;
}

struct cell {
    const char *s;
    size_t n;
};

#define MAX_CELLS 8

/* Splits a table line "| a | b |" into trimmed cells. Returns the number of
 * cells, or -1 when the line does not end with '|' or has too many. */
static int split_cells(const char *line, size_t len, struct cell *cells)
{
    const char *p = line, *end = line + len;
    int n = 0;

    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if (p >= end || *p != '|' || end[-1] != '|' || end - p < 2)
        return -1;
    p++;
    while (p < end) {
        const char *q = memchr(p, '|', (size_t)(end - p));

        if (q == NULL)
            return -1;
        if (n == MAX_CELLS)
            return -1;
        cells[n].s = p;
        cells[n].n = (size_t)(q - p);
        trim(&cells[n].s, &cells[n].n);
        n++;
        p = q + 1;
    }
    return n;
}

static bool is_separator(const struct cell *cells, int n, int want)
{
    if (n != want)
        return false;
    for (int i = 0; i < n; i++) {
        if (!cg_md_delimiter_cell(cells[i].s, cells[i].n))
            return false;
    }
    return true;
}

static bool header_is(const struct cell *cells, int n, const char *const *want,
                      int want_n)
{
    if (n != want_n)
        return false;
    for (int i = 0; i < n; i++) {
        if (cells[i].n != strlen(want[i]) || memcmp(cells[i].s, want[i], cells[i].n) != 0)
            return false;
    }
    return true;
}

/* ---- parsing ---------------------------------------------------------- */

enum section { SEC_OTHER, SEC_STATES, SEC_EVENTS, SEC_TRANSITIONS };

static const char *const states_header[] = {"State", "Meaning"};
static const char *const events_header[] = {"Event", "Meaning"};
static const char *const trans_header[] = {"State", "Event", "Guard", "Action", "Next"};

static void parse_name_row(struct machine *m, struct name_list *l, const char *what,
                           const struct cell *c, int n, int line)
{
    const char *name;
    size_t len;
    char *meaning, *key;
    int prev;

    if (n != 2) {
        fail(m, line, "malformed %s row: expected 2 cells, found %d", what, n);
        return;
    }
    if (!code_name(c[0].s, c[0].n, true, &name, &len)) {
        fail(m, line,
             "malformed %s row: %s name must be an UPPER_SNAKE name in backticks", what,
             what);
        return;
    }
    if (c[1].n == 0) {
        fail(m, line, "malformed %s row: empty Meaning", what);
        return;
    }
    key = cg_xstrndup(name, len);
    prev = list_find(l, key);
    free(key);
    if (prev >= 0) {
        fail(m, line, "duplicate %s `%.*s` (first defined at line %d)", what, (int)len,
             name, l->v[prev].line);
        return;
    }
    meaning = cg_xstrndup(c[1].s, c[1].n);
    list_add(l, name, len, meaning, line);
    free(meaning);
}

static void parse_transition_row(struct machine *m, const struct cell *c, int n, int line)
{
    const char *s, *e, *g = NULL, *nx;
    size_t sn, en, gn = 0, nxn;
    bool negated = false;
    int first = m->raw_actions.n;
    struct raw_row *r;

    if (n != 5) {
        fail(m, line, "malformed transition row: expected 5 cells, found %d", n);
        return;
    }
    if (!code_name(c[0].s, c[0].n, true, &s, &sn)) {
        fail(m, line,
             "malformed transition row: State must be an UPPER_SNAKE name in backticks");
        return;
    }
    if (!code_name(c[1].s, c[1].n, true, &e, &en)) {
        fail(m, line,
             "malformed transition row: Event must be an UPPER_SNAKE name in backticks");
        return;
    }
    if (!(c[2].n == 1 && c[2].s[0] == '-')) {
        const char *gs = c[2].s;
        size_t gl = c[2].n;
        bool ok;

        /* `name`, not `name`, or `not name` */
        if (gl > 4 && memcmp(gs, "not ", 4) == 0) {
            negated = true;
            gs += 4;
            gl -= 4;
            trim(&gs, &gl);
            ok = code_name(gs, gl, false, &g, &gn);
        } else if (gl > 6 && memcmp(gs, "`not ", 5) == 0 && gs[gl - 1] == '`') {
            negated = true;
            g = gs + 5;
            gn = gl - 6;
            ok = is_lower_snake(g, gn);
        } else {
            ok = code_name(gs, gl, false, &g, &gn);
        }
        if (!ok) {
            fail(m, line, "malformed guard: expected -, `name` or not `name`");
            return;
        }
    }
    if (!(c[3].n == 1 && c[3].s[0] == '-')) {
        const char *p = c[3].s, *end = c[3].s + c[3].n;

        while (p <= end) {
            const char *q = memchr(p, ',', (size_t)(end - p));
            const char *item = p, *a;
            size_t item_n, an;

            if (q == NULL)
                q = end;
            item_n = (size_t)(q - p);
            trim(&item, &item_n);
            if (!code_name(item, item_n, false, &a, &an)) {
                fail(m, line, "malformed action list: expected - or `name`, `name`, ...");
                while (m->raw_actions.n > first) /* drop this row's */
                    free(m->raw_actions.v[--m->raw_actions.n].text);
                return;
            }
            list_add(&m->raw_actions, a, an, NULL, line);
            p = q + 1;
        }
    }
    if (!code_name(c[4].s, c[4].n, true, &nx, &nxn)) {
        fail(m, line,
             "malformed transition row: Next must be an UPPER_SNAKE name in backticks");
        return;
    }
    if (m->raw_n == m->raw_cap) {
        m->raw_cap = m->raw_cap ? 2 * m->raw_cap : 32;
        m->raw = cg_xrealloc(m->raw, (size_t)m->raw_cap * sizeof(*m->raw));
    }
    r = &m->raw[m->raw_n++];
    r->state = cg_xstrndup(s, sn);
    r->event = cg_xstrndup(e, en);
    r->guard = g ? cg_xstrndup(g, gn) : NULL;
    r->negated = negated;
    r->next = cg_xstrndup(nx, nxn);
    r->action_first = first;
    r->action_count = m->raw_actions.n - first;
    r->line = line;
}

/* Reads the file's Machine line and its three tables. */
static void parse(struct machine *m, char *text)
{
    enum section sec = SEC_OTHER;
    /* Per table section: 0 none seen, 1 header seen, 2 in rows, 3 done,
     * 4 skipping the rest of a table whose header was wrong. */
    int tstate[4] = {0, 0, 0, 0};
    int tline[4] = {0, 0, 0, 0};
    int lineno = 0;
    char *p = text;

    while (*p) {
        char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        struct cell cells[MAX_CELLS];
        int n;

        lineno++;
        if (len > 0 && p[len - 1] == '\r')
            len--;

        if (len >= 2 && p[0] == '#') {
            const char *h = p;
            size_t hn = len;

            if (tstate[sec] != 0)
                tstate[sec] = 3;
            while (hn > 0 && *h == '#') {
                h++;
                hn--;
            }
            trim(&h, &hn);
            sec = SEC_OTHER;
            if (len > 3 && memcmp(p, "## ", 3) == 0) {
                if (hn == 6 && memcmp(h, "States", 6) == 0)
                    sec = SEC_STATES;
                else if (hn == 6 && memcmp(h, "Events", 6) == 0)
                    sec = SEC_EVENTS;
                else if (hn == 11 && memcmp(h, "Transitions", 11) == 0)
                    sec = SEC_TRANSITIONS;
                if (sec != SEC_OTHER && tline[sec] != 0)
                    fail(m, lineno, "second \"## %.*s\" section", (int)hn, h);
            }
        } else if (len >= 8 && memcmp(p, "Machine:", 8) == 0) {
            const char *s = p + 8, *name;
            size_t sn = len - 8, nn;

            trim(&s, &sn);
            if (m->name != NULL)
                fail(m, lineno, "second Machine line (first at line %d)", m->name_line);
            else if (!code_name(s, sn, false, &name, &nn))
                fail(m, lineno,
                     "malformed Machine line: expected Machine: `lower_snake_name`");
            else {
                m->name = cg_xstrndup(name, nn);
                m->name_line = lineno;
            }
        } else if (sec != SEC_OTHER && len > 0 && p[0] == '|') {
            n = split_cells(p, len, cells);
            if (tstate[sec] == 4) {
                /* already reported */
            } else if (tstate[sec] == 3) {
                fail(m, lineno, "second table in this section");
            } else if (tstate[sec] == 0) {
                const char *const *want = sec == SEC_STATES   ? states_header
                                          : sec == SEC_EVENTS ? events_header
                                                              : trans_header;
                int want_n = sec == SEC_TRANSITIONS ? 5 : 2;

                tline[sec] = lineno;
                tstate[sec] = 1;
                if (!header_is(cells, n, want, want_n)) {
                    fail(m, lineno, "table header must be exactly %s",
                         sec == SEC_STATES ? "| State | Meaning |"
                         : sec == SEC_EVENTS
                             ? "| Event | Meaning |"
                             : "| State | Event | Guard | Action | Next |");
                    tstate[sec] = 4;
                }
            } else if (tstate[sec] == 1) {
                if (!is_separator(cells, n, sec == SEC_TRANSITIONS ? 5 : 2)) {
                    fail(m, lineno, "malformed table: expected a |---| separator row");
                    tstate[sec] = 4;
                } else {
                    tstate[sec] = 2;
                }
            } else if (n < 0) {
                fail(m, lineno, "malformed row: cells must be enclosed in '|'");
            } else if (sec == SEC_STATES) {
                parse_name_row(m, &m->states, "state", cells, n, lineno);
            } else if (sec == SEC_EVENTS) {
                parse_name_row(m, &m->events, "event", cells, n, lineno);
            } else {
                parse_transition_row(m, cells, n, lineno);
            }
        } else if (sec != SEC_OTHER && tstate[sec] >= 1) {
            /* Any non-table line ends the table. */
            tstate[sec] = 3;
        }
        p += eol ? (size_t)(eol - p) + 1 : len;
    }

    if (lineno == 0)
        lineno = 1; /* an empty file: report at line 1 */
    if (m->name == NULL)
        fail(m, 1, "no line Machine: `name`");
    if (tline[SEC_STATES] == 0)
        fail(m, lineno, "no \"## States\" table");
    else if (m->states.n == 0)
        fail(m, tline[SEC_STATES], "the States table has no rows");
    if (tline[SEC_EVENTS] == 0)
        fail(m, lineno, "no \"## Events\" table");
    else if (m->events.n == 0)
        fail(m, tline[SEC_EVENTS], "the Events table has no rows");
    if (tline[SEC_TRANSITIONS] == 0)
        fail(m, lineno, "no \"## Transitions\" table");
    else if (m->raw_n == 0)
        fail(m, tline[SEC_TRANSITIONS], "the Transitions table has no rows");
}

/* ---- checking --------------------------------------------------------- */

/* Names the generated enums reserve for themselves. */
static void check_reserved(struct machine *m)
{
    for (int i = 0; i < m->states.n; i++) {
        const char *s = m->states.v[i].text;

        if (strcmp(s, "STATE_COUNT") == 0 || strcmp(s, "EVENT_COUNT") == 0 ||
            strcmp(s, "INITIAL") == 0 || strncmp(s, "EV_", 3) == 0)
            fail(m, m->states.v[i].line, "state name `%s` collides with a generated name",
                 s);
    }
}

/* Resolves names; collects guards and actions in order of first use. */
static void resolve(struct machine *m)
{
    m->rows = cg_xrealloc(NULL, (size_t)m->raw_n * sizeof(*m->rows));
    m->row_actions = cg_xrealloc(NULL, (size_t)m->raw_actions.n * sizeof(int));
    for (int i = 0; i < m->raw_n; i++) {
        const struct raw_row *r = &m->raw[i];
        struct row *o = &m->rows[i];

        o->line = r->line;
        o->state = list_find(&m->states, r->state);
        if (o->state < 0)
            fail(m, r->line, "unknown state `%s` in Transitions", r->state);
        o->event = list_find(&m->events, r->event);
        if (o->event < 0)
            fail(m, r->line, "unknown event `%s` in Transitions", r->event);
        o->next = list_find(&m->states, r->next);
        if (o->next < 0)
            fail(m, r->line, "unknown Next state `%s`", r->next);
        o->negated = r->negated;
        o->guard = -1;
        if (r->guard != NULL) {
            o->guard = list_find(&m->guards, r->guard);
            if (o->guard < 0) {
                list_add(&m->guards, r->guard, strlen(r->guard), NULL, r->line);
                o->guard = m->guards.n - 1;
            }
        }
        o->action_first = r->action_first;
        o->action_count = r->action_count;
        for (int k = 0; k < r->action_count; k++) {
            const char *a = m->raw_actions.v[r->action_first + k].text;
            int idx = list_find(&m->actions, a);

            if (idx < 0) {
                list_add(&m->actions, a, strlen(a), NULL, r->line);
                idx = m->actions.n - 1;
            }
            m->row_actions[r->action_first + k] = idx;
        }
    }
}

/* A row can fire only if some guard values make every earlier row of its
 * (state, event) pair fail and its own guard hold. */
static void check_shadowed(struct machine *m)
{
    signed char *val = cg_xrealloc(NULL, (size_t)m->guards.n + 1);

    for (int i = 0; i < m->raw_n; i++) {
        const struct row *r = &m->rows[i];
        int blocker = 0;

        memset(val, -1, (size_t)m->guards.n + 1);
        for (int j = 0; j < i && blocker == 0; j++) {
            const struct row *e = &m->rows[j];

            if (e->state != r->state || e->event != r->event)
                continue;
            if (e->guard < 0) {
                blocker = e->line;
            } else {
                /* Row j must fail: its guard literal is false. */
                signed char want = e->negated ? 1 : 0;

                if (val[e->guard] >= 0 && val[e->guard] != want)
                    blocker = e->line;
                val[e->guard] = want;
            }
        }
        if (blocker == 0 && r->guard >= 0) {
            signed char want = r->negated ? 0 : 1;

            if (val[r->guard] >= 0 && val[r->guard] != want)
                blocker = -1;
        }
        if (blocker > 0)
            fail(m, r->line,
                 "row can never fire: earlier rows of (%s, %s) up to line %d always "
                 "match first",
                 m->states.v[r->state].text, m->events.v[r->event].text, blocker);
        else if (blocker < 0)
            fail(m, r->line,
                 "row can never fire: its guard holds only when an earlier row of (%s, "
                 "%s) fires",
                 m->states.v[r->state].text, m->events.v[r->event].text);
    }
    free(val);
}

/* Every state must be reachable from the initial state, ignoring guards;
 * every event must have at least one row. */
static void check_reachable(struct machine *m)
{
    bool *seen = cg_xrealloc(NULL, (size_t)m->states.n);
    bool grew = true;

    memset(seen, 0, (size_t)m->states.n);
    seen[0] = true;
    while (grew) {
        grew = false;
        for (int i = 0; i < m->raw_n; i++) {
            const struct row *r = &m->rows[i];

            if (seen[r->state] && !seen[r->next]) {
                seen[r->next] = true;
                grew = true;
            }
        }
    }
    for (int s = 0; s < m->states.n; s++) {
        if (!seen[s])
            fail(m, m->states.v[s].line,
                 "state `%s` is unreachable from the initial state `%s`",
                 m->states.v[s].text, m->states.v[0].text);
    }
    free(seen);

    for (int e = 0; e < m->events.n; e++) {
        bool used = false;

        for (int i = 0; i < m->raw_n && !used; i++)
            used = m->rows[i].event == e;
        if (!used)
            fail(m, m->events.v[e].line, "event `%s` has no transition",
                 m->events.v[e].text);
    }
}

static void check(struct machine *m)
{
    if (m->errors)
        return;
    if (m->states.n > LIMIT || m->events.n > LIMIT || m->raw_n > LIMIT ||
        m->raw_actions.n > LIMIT) {
        fail(m, 1, "machine too large (more than %d states, events, rows or actions)",
             LIMIT);
        return;
    }
    check_reserved(m);
    resolve(m);
    if (m->errors)
        return;
    check_shadowed(m);
    check_reachable(m);
}

/* ---- output ----------------------------------------------------------- */

/* Each file is built in memory (|f|) and main writes them all or none. */

static void put_upper(cg_buf *f, const char *s)
{
    for (; *s; s++) {
        char c = (char)toupper((unsigned char)*s);

        cg_buf_put(f, &c, 1);
    }
}

/* VT_<MACHINE>_ */
static void put_prefix(cg_buf *f, const struct machine *m)
{
    cg_buf_puts(f, "VT_");
    put_upper(f, m->name);
    cg_buf_puts(f, "_");
}

static void write_header(cg_buf *f, const struct machine *m)
{
    const char *n = m->name;

    cg_buf_printf(f, "/* Generated by vt-smgen from %s; do not edit. */\n", m->path);
    cg_buf_printf(
        f,
        "/* Machine `%s`: its states, events, guard and action hooks and\n"
        " * step function. The rows are tried as spec/README.md, State machines,\n"
        " * says; lib/include/ventra/sm.h has the generic runtime. */\n",
        n);
    cg_buf_puts(f, "#ifndef VT_SM_");
    put_upper(f, n);
    cg_buf_puts(f, "_H\n#define VT_SM_");
    put_upper(f, n);
    cg_buf_puts(f, "_H\n\n#include <stdbool.h>\n\n#include \"ventra/sm.h\"\n\n"
                   "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");

    cg_buf_puts(f, "/* States, in table order; the first is the initial state. */\n"
                   "typedef enum {\n");
    for (int i = 0; i < m->states.n; i++) {
        cg_buf_puts(f, "\t");
        put_prefix(f, m);
        cg_buf_printf(f, "%s, /* ", m->states.v[i].text);
        cg_buf_c_comment(f, m->states.v[i].meaning);
        cg_buf_puts(f, " */\n");
    }
    cg_buf_puts(f, "\t");
    put_prefix(f, m);
    cg_buf_printf(f, "STATE_COUNT\n} vt_%s_state;\n\n#define ", n);
    put_prefix(f, m);
    cg_buf_puts(f, "INITIAL ");
    put_prefix(f, m);
    cg_buf_printf(f, "%s\n\n", m->states.v[0].text);

    cg_buf_puts(f, "/* Events, in table order. */\ntypedef enum {\n");
    for (int i = 0; i < m->events.n; i++) {
        cg_buf_puts(f, "\t");
        put_prefix(f, m);
        cg_buf_printf(f, "EV_%s, /* ", m->events.v[i].text);
        cg_buf_c_comment(f, m->events.v[i].meaning);
        cg_buf_puts(f, " */\n");
    }
    cg_buf_puts(f, "\t");
    put_prefix(f, m);
    cg_buf_printf(f, "EVENT_COUNT\n} vt_%s_event;\n\n", n);

    cg_buf_printf(
        f,
        "/* The implementation's guards and actions, one per name used in the\n"
        " * Transitions table, in order of first use. |ctx| is the step's ctx.\n"
        " * A NULL guard counts as false (so `not name` holds); a NULL action does\n"
        " * nothing. Leaving one NULL that the machine can reach is a bug. */\n"
        "typedef struct vt_%s_ops {\n",
        n);
    for (int i = 0; i < m->guards.n; i++)
        cg_buf_printf(f, "\tbool (*guard_%s)(void *ctx);\n", m->guards.v[i].text);
    for (int i = 0; i < m->actions.n; i++)
        cg_buf_printf(f, "\tvoid (*action_%s)(void *ctx);\n", m->actions.v[i].text);
    if (m->guards.n + m->actions.n == 0)
        cg_buf_puts(f, "\tint unused; /* the machine has no guard and no action */\n");
    cg_buf_printf(f, "} vt_%s_ops;\n\n", n);

    cg_buf_puts(
        f, "/* X-macros over the guard and action names, in ops order. */\n#define ");
    put_prefix(f, m);
    cg_buf_puts(f, "GUARD_LIST(X)");
    for (int i = 0; i < m->guards.n; i++)
        cg_buf_printf(f, " \\\n\tX(%s)", m->guards.v[i].text);
    cg_buf_puts(f, "\n#define ");
    put_prefix(f, m);
    cg_buf_puts(f, "ACTION_LIST(X)");
    for (int i = 0; i < m->actions.n; i++)
        cg_buf_printf(f, " \\\n\tX(%s)", m->actions.v[i].text);
    cg_buf_puts(f, "\n\n");

    cg_buf_printf(
        f,
        "/* The state's or event's name as in the spec table; NULL when out of\n"
        " * range. */\n"
        "const char *vt_%s_state_name(vt_%s_state state);\n"
        "const char *vt_%s_event_name(vt_%s_event event);\n\n"
        "/* The machine as data, for trace checkers (lib/include/ventra/sm.h). */\n"
        "const vt_sm_def *vt_%s_def(void);\n\n"
        "/* Fires |event| in |*state|: tries the rows of (state, event) in table\n"
        " * order, takes the first whose guard holds (calling ops' guards with\n"
        " * |ctx|), runs its actions in order and sets *state to its Next.\n"
        " * Returns false, leaving *state unchanged and running no action, when\n"
        " * no row applies: the event is not allowed in that state. |ops| may be\n"
        " * NULL (every guard false, every action a no-op). */\n"
        "bool vt_%s_step(const vt_%s_ops *ops, void *ctx, vt_%s_state *state,\n"
        "\t\tvt_%s_event event);\n\n",
        n, n, n, n, n, n, n, n, n);
    cg_buf_puts(f, "#ifdef __cplusplus\n}\n#endif\n\n#endif /* VT_SM_");
    put_upper(f, n);
    cg_buf_puts(f, "_H */\n");
}

static void put_names(cg_buf *f, const char *var, const struct name_list *l)
{
    if (l->n == 0)
        return;
    cg_buf_printf(f, "static const char *const %s[%d] = {\n", var, l->n);
    for (int i = 0; i < l->n; i++)
        cg_buf_printf(f, "\t\"%s\",\n", l->v[i].text);
    cg_buf_puts(f, "};\n\n");
}

static void write_source(cg_buf *f, const struct machine *m, const char *header)
{
    const char *n = m->name;

    cg_buf_printf(f, "/* Generated by vt-smgen from %s; do not edit. */\n", m->path);
    cg_buf_printf(f,
                  "/* Machine `%s` as data, and its step function over the generic\n"
                  " * runtime of lib/src/sm.c. */\n",
                  n);
    cg_buf_printf(f, "#include \"%s\"\n\n#include <stddef.h>\n#include <stdint.h>\n\n",
                  header);

    put_names(f, "state_names", &m->states);
    put_names(f, "event_names", &m->events);
    put_names(f, "guard_names", &m->guards);
    put_names(f, "action_names", &m->actions);
    if (m->raw_actions.n > 0) {
        cg_buf_printf(f,
                      "/* The action lists of the rows, back to back. */\n"
                      "static const uint16_t row_actions[%d] = {",
                      m->raw_actions.n);
        for (int i = 0; i < m->raw_actions.n; i++)
            cg_buf_printf(f, "%s%d,", i % 16 == 0 ? "\n\t" : " ", m->row_actions[i]);
        cg_buf_puts(f, "\n};\n\n");
    }

    cg_buf_printf(f,
                  "/* The Transitions table, row by row: state, event, guard, negated,\n"
                  " * first action, action count, next, spec line. */\n"
                  "static const vt_sm_row rows[%d] = {\n",
                  m->raw_n);
    for (int i = 0; i < m->raw_n; i++) {
        const struct row *r = &m->rows[i];

        cg_buf_printf(f, "\t/* line %d: %s %s ", r->line, m->states.v[r->state].text,
                      m->events.v[r->event].text);
        if (r->guard >= 0)
            cg_buf_printf(f, "[%s%s] ", r->negated ? "not " : "",
                          m->guards.v[r->guard].text);
        cg_buf_printf(f, "-> %s", m->states.v[r->next].text);
        for (int k = 0; k < r->action_count; k++)
            cg_buf_printf(f, "%s%s", k ? ", " : ": ",
                          m->actions.v[m->row_actions[r->action_first + k]].text);
        cg_buf_puts(f, " */\n\t{ ");
        put_prefix(f, m);
        cg_buf_printf(f, "%s, ", m->states.v[r->state].text);
        put_prefix(f, m);
        cg_buf_printf(f, "EV_%s, ", m->events.v[r->event].text);
        if (r->guard >= 0)
            cg_buf_printf(f, "%d, %s, ", r->guard, r->negated ? "true" : "false");
        else
            cg_buf_puts(f, "VT_SM_NO_GUARD, false, ");
        cg_buf_printf(f, "%d, %d, ", r->action_first, r->action_count);
        put_prefix(f, m);
        cg_buf_printf(f, "%s, %d },\n", m->states.v[r->next].text, r->line);
    }
    cg_buf_puts(f, "};\n\n");

    cg_buf_printf(f,
                  "static const vt_sm_def def = {\n"
                  "\t.name = \"%s\",\n\t.source = \"%s\",\n",
                  n, m->path);
    cg_buf_puts(f, "\t.state_count = ");
    put_prefix(f, m);
    cg_buf_puts(f, "STATE_COUNT,\n\t.event_count = ");
    put_prefix(f, m);
    cg_buf_printf(f,
                  "EVENT_COUNT,\n\t.guard_count = %d,\n\t.action_count = %d,\n"
                  "\t.row_count = %d,\n",
                  m->guards.n, m->actions.n, m->raw_n);
    cg_buf_puts(f, "\t.state_names = state_names,\n\t.event_names = event_names,\n");
    cg_buf_printf(f, "\t.guard_names = %s,\n", m->guards.n ? "guard_names" : "NULL");
    cg_buf_printf(f, "\t.action_names = %s,\n", m->actions.n ? "action_names" : "NULL");
    cg_buf_printf(f, "\t.rows = rows,\n\t.row_actions = %s,\n};\n\n",
                  m->raw_actions.n ? "row_actions" : "NULL");

    cg_buf_printf(f,
                  "const char *vt_%s_state_name(vt_%s_state state)\n{\n"
                  "\treturn (unsigned)state < (unsigned)",
                  n, n);
    put_prefix(f, m);
    cg_buf_puts(f, "STATE_COUNT ? state_names[state] : NULL;\n}\n\n");
    cg_buf_printf(f,
                  "const char *vt_%s_event_name(vt_%s_event event)\n{\n"
                  "\treturn (unsigned)event < (unsigned)",
                  n, n);
    put_prefix(f, m);
    cg_buf_puts(f, "EVENT_COUNT ? event_names[event] : NULL;\n}\n\n");
    cg_buf_printf(f, "const vt_sm_def *vt_%s_def(void)\n{\n\treturn &def;\n}\n\n", n);

    cg_buf_printf(f,
                  "bool vt_%s_step(const vt_%s_ops *ops, void *ctx, vt_%s_state *state,\n"
                  "\t\tvt_%s_event event)\n{\n"
                  "\tstatic const vt_%s_ops no_ops;\n\tunsigned s;\n\n"
                  "\tif (state == NULL)\n\t\treturn false;\n"
                  "\tif (ops == NULL)\n\t\tops = &no_ops;\n",
                  n, n, n, n, n);
    if (m->guards.n > 0) {
        cg_buf_printf(f, "\tconst vt_sm_guard_fn guards[%d] = {\n", m->guards.n);
        for (int i = 0; i < m->guards.n; i++)
            cg_buf_printf(f, "\t\tops->guard_%s,\n", m->guards.v[i].text);
        cg_buf_puts(f, "\t};\n");
    }
    if (m->actions.n > 0) {
        cg_buf_printf(f, "\tconst vt_sm_action_fn actions[%d] = {\n", m->actions.n);
        for (int i = 0; i < m->actions.n; i++)
            cg_buf_printf(f, "\t\tops->action_%s,\n", m->actions.v[i].text);
        cg_buf_puts(f, "\t};\n");
    }
    cg_buf_printf(f,
                  "\n\ts = (unsigned)*state;\n"
                  "\tif (!vt_sm_step(&def, %s, %s, ctx, &s, (unsigned)event))\n"
                  "\t\treturn false;\n"
                  "\t*state = (vt_%s_state)s;\n\treturn true;\n}\n",
                  m->guards.n ? "guards" : "NULL", m->actions.n ? "actions" : "NULL", n);
    if (m->guards.n + m->actions.n == 0)
        cg_buf_puts(f, "/* (ops is unused: the machine has no guard and no action) */\n");
}

/* Reads |path| whole; NULL with errno set when it cannot be read or holds
 * a NUL byte (EINVAL), which no Markdown spec does. */
static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n = 0;
    int e;

    if (f == NULL)
        return NULL;
    buf = cg_read_stream(f, &n);
    e = errno;
    fclose(f);
    errno = e;
    if (buf != NULL && memchr(buf, '\0', n) != NULL) {
        free(buf);
        buf = NULL;
        errno = EINVAL;
    }
    return buf;
}

int main(int argc, char **argv)
{
    struct machine *ms;
    int nm, rc = 0;

    cg_tool = "vt-smgen";
    if (argc < 3) {
        fprintf(stderr, "usage: vt-smgen OUTDIR file.md...\n");
        return 2;
    }
    nm = argc - 2;
    ms = calloc((size_t)nm, sizeof(*ms));
    if (ms == NULL)
        return 2;

    for (int i = 0; i < nm; i++) {
        struct machine *m = &ms[i];
        char *text;

        m->path = argv[i + 2];
        text = read_all(m->path);
        if (text == NULL) {
            fprintf(stderr, "vt-smgen: %s: %s\n", m->path, strerror(errno));
            rc = 2;
            continue;
        }
        parse(m, text);
        free(text);
        check(m);
        for (int j = 0; j < i && m->name; j++) {
            if (ms[j].name && strcmp(ms[j].name, m->name) == 0)
                fail(m, m->name_line, "machine `%s` is already defined in %s", m->name,
                     ms[j].path);
        }
        if (m->errors && rc == 0)
            rc = 1;
    }

    /* Write nothing unless everything is valid; then all files or none. */
    if (rc == 0) {
        cg_buf *bufs = cg_xcalloc(2 * (size_t)nm * sizeof(*bufs));
        cg_buf **bufp = cg_xmalloc(2 * (size_t)nm * sizeof(*bufp));
        char **names = cg_xmalloc(2 * (size_t)nm * sizeof(*names));

        for (int i = 0; i < nm; i++) {
            cg_buf h = {0}, c = {0};

            cg_buf_printf(&h, "vt_sm_%s.h", ms[i].name);
            cg_buf_printf(&c, "vt_sm_%s.c", ms[i].name);
            names[2 * i] = h.data;
            names[2 * i + 1] = c.data;
            write_header(&bufs[2 * i], &ms[i]);
            write_source(&bufs[2 * i + 1], &ms[i], names[2 * i]);
            bufp[2 * i] = &bufs[2 * i];
            bufp[2 * i + 1] = &bufs[2 * i + 1];
        }
        if (cg_write_outputs(argv[1], 2 * (size_t)nm, (const char *const *)names, bufp) !=
            0)
            rc = 2;
        for (int i = 0; i < 2 * nm; i++) {
            cg_buf_free(&bufs[i]);
            free(names[i]);
        }
        free(names);
        free(bufp);
        free(bufs);
    }

    for (int i = 0; i < nm; i++)
        machine_free(&ms[i]);
    free(ms);
    return rc;
}
