/* Tests of the state machines: the generated C of every machine in
 * spec/state/ against the spec tables themselves (read here by a parser of
 * our own, so the generator is not the only witness of its output), the
 * generic runtime of lib/src/sm.c, and vt-smgen's rejection of bad specs. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ventra/sm.h"
#include "vt_sm_client_conn.h"
#include "vt_sm_outgoing_message.h"
#include "vt_sm_server_conn.h"
#include "vt_sm_session.h"

/* ---- an independent reader of the spec tables ------------------------- */

#define NAME_LEN 64

/* Names in the spec tables are short; a longer one is a parse error here. */
static void copy_name(char *dst, const char *src)
{
    size_t n = strlen(src);
    assert_true(n < NAME_LEN);
    memcpy(dst, src, n + 1);
}
#define MAX_ITEMS 64
#define MAX_ROWS 160
#define MAX_ACTS 8

struct spec_row {
    char state[NAME_LEN], event[NAME_LEN], guard[NAME_LEN]; /* guard "" = - */
    bool negated;
    char acts[MAX_ACTS][NAME_LEN];
    int nacts;
    char next[NAME_LEN];
    int line;
};

struct spec {
    char machine[NAME_LEN];
    char states[MAX_ITEMS][NAME_LEN];
    int nstates;
    char events[MAX_ITEMS][NAME_LEN];
    int nevents;
    struct spec_row rows[MAX_ROWS];
    int nrows;
};

/* Copies the backticked words of |s| (up to |end|) into |out|. */
static int backticked(const char *s, const char *end, char out[][NAME_LEN], int max)
{
    int n = 0;

    while (s < end && n < max) {
        const char *a = memchr(s, '`', (size_t)(end - s)), *b;

        if (a == NULL || (b = memchr(a + 1, '`', (size_t)(end - a - 1))) == NULL)
            break;
        snprintf(out[n++], NAME_LEN, "%.*s", (int)(b - a - 1), a + 1);
        s = b + 1;
    }
    return n;
}

static void read_spec(const char *path, struct spec *sp)
{
    FILE *f = fopen(path, "r");
    char line[2048], section[64] = "";
    int lineno = 0;

    memset(sp, 0, sizeof(*sp));
    if (f == NULL)
        fail_msg("cannot open %s (tests run from the repository root)", path);
    while (fgets(line, sizeof(line), f)) {
        char cells[6][NAME_LEN];
        const char *c[6];
        int nc = 0;

        lineno++;
        if (strncmp(line, "Machine: ", 9) == 0)
            backticked(line, line + strlen(line), &sp->machine, 1);
        if (strncmp(line, "## ", 3) == 0)
            snprintf(section, sizeof(section), "%.*s", (int)strcspn(line + 3, "\r\n"),
                     line + 3);
        if (strncmp(line, "| `", 3) != 0)
            continue; /* not a data row */
        for (const char *p = line; (p = strchr(p, '|')) != NULL && nc < 6; p++)
            c[nc++] = p;
        if (strcmp(section, "States") == 0)
            backticked(c[0], c[1], &sp->states[sp->nstates++], 1);
        else if (strcmp(section, "Events") == 0)
            backticked(c[0], c[1], &sp->events[sp->nevents++], 1);
        else if (strcmp(section, "Transitions") == 0) {
            struct spec_row *r = &sp->rows[sp->nrows++];

            assert_int_equal(nc, 6);
            r->line = lineno;
            backticked(c[0], c[1], &cells[0], 1);
            copy_name(r->state, cells[0]);
            backticked(c[1], c[2], &cells[1], 1);
            copy_name(r->event, cells[1]);
            if (backticked(c[2], c[3], &cells[2], 1) == 1) {
                const char *nm = cells[2];

                r->negated = strstr(c[2], "not ") != NULL && strstr(c[2], "not ") < c[3];
                if (strncmp(nm, "not ", 4) == 0)
                    nm += 4;
                copy_name(r->guard, nm);
            }
            r->nacts = backticked(c[3], c[4], r->acts, MAX_ACTS);
            backticked(c[4], c[5], &cells[4], 1);
            copy_name(r->next, cells[4]);
        }
        assert_true(sp->nstates < MAX_ITEMS && sp->nevents < MAX_ITEMS &&
                    sp->nrows < MAX_ROWS);
    }
    fclose(f);
    assert_true(sp->machine[0] != '\0');
    assert_true(sp->nstates > 0 && sp->nevents > 0 && sp->nrows > 0);
}

static int index_in(char names[][NAME_LEN], int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0)
            return i;
    }
    fail_msg("name %s not found", name);
    return -1;
}

/* ---- recording guards and actions ------------------------------------- */

struct rec {
    const char *true_guards[16]; /* guards that hold; every other is false */
    int ntrue;
    bool all_true;
    char calls[MAX_ACTS * 2][NAME_LEN]; /* actions called, in order */
    int ncalls;
};

static bool rec_guard(void *ctx, const char *name)
{
    struct rec *r = ctx;

    if (r->all_true)
        return true;
    for (int i = 0; i < r->ntrue; i++) {
        if (strcmp(r->true_guards[i], name) == 0)
            return true;
    }
    return false;
}

static void rec_action(void *ctx, const char *name)
{
    struct rec *r = ctx;

    assert_true(r->ncalls < MAX_ACTS * 2);
    copy_name(r->calls[r->ncalls++], name);
}

/* One recorder per hook of each machine, named after the ops member it
 * fills, so a hook wired to the wrong row shows up as the wrong name. */
#define DEF_G(m, g)                                                                      \
    static bool m##_g_##g(void *ctx)                                                     \
    {                                                                                    \
        return rec_guard(ctx, #g);                                                       \
    }
#define DEF_A(m, a)                                                                      \
    static void m##_a_##a(void *ctx)                                                     \
    {                                                                                    \
        rec_action(ctx, #a);                                                             \
    }
#define SET_G(m, g) .guard_##g = m##_g_##g,
#define SET_A(m, a) .action_##a = m##_a_##a,

#define CC_DEF_G(g) DEF_G(cc, g)
#define CC_DEF_A(a) DEF_A(cc, a)
#define CC_SET_G(g) SET_G(cc, g)
#define CC_SET_A(a) SET_A(cc, a)
VT_CLIENT_CONN_GUARD_LIST(CC_DEF_G)
VT_CLIENT_CONN_ACTION_LIST(CC_DEF_A)
static const vt_client_conn_ops cc_ops = {VT_CLIENT_CONN_GUARD_LIST(CC_SET_G)
                                              VT_CLIENT_CONN_ACTION_LIST(CC_SET_A)};

#define SC_DEF_G(g) DEF_G(sc, g)
#define SC_DEF_A(a) DEF_A(sc, a)
#define SC_SET_G(g) SET_G(sc, g)
#define SC_SET_A(a) SET_A(sc, a)
VT_SERVER_CONN_GUARD_LIST(SC_DEF_G)
VT_SERVER_CONN_ACTION_LIST(SC_DEF_A)
static const vt_server_conn_ops sc_ops = {VT_SERVER_CONN_GUARD_LIST(SC_SET_G)
                                              VT_SERVER_CONN_ACTION_LIST(SC_SET_A)};

#define SE_DEF_G(g) DEF_G(se, g)
#define SE_DEF_A(a) DEF_A(se, a)
#define SE_SET_G(g) SET_G(se, g)
#define SE_SET_A(a) SET_A(se, a)
VT_SESSION_GUARD_LIST(SE_DEF_G)
VT_SESSION_ACTION_LIST(SE_DEF_A)
static const vt_session_ops se_ops = {VT_SESSION_GUARD_LIST(SE_SET_G)
                                          VT_SESSION_ACTION_LIST(SE_SET_A)};

#define OM_DEF_G(g) DEF_G(om, g)
#define OM_DEF_A(a) DEF_A(om, a)
#define OM_SET_G(g) SET_G(om, g)
#define OM_SET_A(a) SET_A(om, a)
VT_OUTGOING_MESSAGE_GUARD_LIST(OM_DEF_G)
VT_OUTGOING_MESSAGE_ACTION_LIST(OM_DEF_A)
static const vt_outgoing_message_ops om_ops = {
    VT_OUTGOING_MESSAGE_GUARD_LIST(OM_SET_G) VT_OUTGOING_MESSAGE_ACTION_LIST(OM_SET_A)};

/* Steps through the machine's typed API, with the recorders or NULL ops. */
#define STEP_FN(m, ops)                                                                  \
    static bool step_##m(void *ctx, unsigned *st, unsigned ev, bool null_ops)            \
    {                                                                                    \
        vt_##m##_state s = (vt_##m##_state) * st;                                        \
        bool ok = vt_##m##_step(null_ops ? NULL : &ops, ctx, &s, (vt_##m##_event)ev);    \
        *st = (unsigned)s;                                                               \
        return ok;                                                                       \
    }                                                                                    \
    static const char *state_name_##m(unsigned i)                                        \
    {                                                                                    \
        return vt_##m##_state_name((vt_##m##_state)i);                                   \
    }                                                                                    \
    static const char *event_name_##m(unsigned i)                                        \
    {                                                                                    \
        return vt_##m##_event_name((vt_##m##_event)i);                                   \
    }
STEP_FN(client_conn, cc_ops)
STEP_FN(server_conn, sc_ops)
STEP_FN(session, se_ops)
STEP_FN(outgoing_message, om_ops)

struct mut {
    const char *path;
    const vt_sm_def *(*def)(void);
    bool (*step)(void *ctx, unsigned *st, unsigned ev, bool null_ops);
    const char *(*state_name)(unsigned);
    const char *(*event_name)(unsigned);
    unsigned state_count, event_count, initial;
};

static const struct mut machines[] = {
    {"spec/state/client_conn.md", vt_client_conn_def, step_client_conn,
     state_name_client_conn, event_name_client_conn, VT_CLIENT_CONN_STATE_COUNT,
     VT_CLIENT_CONN_EVENT_COUNT, VT_CLIENT_CONN_INITIAL},
    {"spec/state/server_conn.md", vt_server_conn_def, step_server_conn,
     state_name_server_conn, event_name_server_conn, VT_SERVER_CONN_STATE_COUNT,
     VT_SERVER_CONN_EVENT_COUNT, VT_SERVER_CONN_INITIAL},
    {"spec/state/session.md", vt_session_def, step_session, state_name_session,
     event_name_session, VT_SESSION_STATE_COUNT, VT_SESSION_EVENT_COUNT,
     VT_SESSION_INITIAL},
    {"spec/state/outgoing_message.md", vt_outgoing_message_def, step_outgoing_message,
     state_name_outgoing_message, event_name_outgoing_message,
     VT_OUTGOING_MESSAGE_STATE_COUNT, VT_OUTGOING_MESSAGE_EVENT_COUNT,
     VT_OUTGOING_MESSAGE_INITIAL},
};
#define NMACHINES (sizeof(machines) / sizeof(machines[0]))

static struct spec *load(size_t i)
{
    struct spec *sp = calloc(1, sizeof(*sp));

    assert_non_null(sp);
    read_spec(machines[i].path, sp);
    return sp;
}

/* ---- the generated machines against the spec ------------------------- */

/* Enums and names are in table order, with the spec's spelling. */
static void test_names_match_spec(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMACHINES; m++) {
        const struct mut *t = &machines[m];
        struct spec *sp = load(m);
        const vt_sm_def *def = t->def();

        assert_string_equal(def->name, sp->machine);
        assert_string_equal(def->source, t->path);
        assert_int_equal(t->state_count, sp->nstates);
        assert_int_equal(t->event_count, sp->nevents);
        assert_int_equal(def->state_count, sp->nstates);
        assert_int_equal(def->event_count, sp->nevents);
        assert_int_equal(def->row_count, sp->nrows);
        assert_int_equal(t->initial, 0);
        for (int i = 0; i < sp->nstates; i++)
            assert_string_equal(t->state_name((unsigned)i), sp->states[i]);
        for (int i = 0; i < sp->nevents; i++)
            assert_string_equal(t->event_name((unsigned)i), sp->events[i]);
        assert_null(t->state_name(t->state_count));
        assert_null(t->event_name(t->event_count));
        free(sp);
    }
    /* A few enum values pinned by hand against the tables. */
    assert_int_equal(VT_CLIENT_CONN_INITIAL, VT_CLIENT_CONN_DISCONNECTED);
    assert_int_equal(VT_CLIENT_CONN_CLOSED, 6);
    assert_int_equal(VT_SERVER_CONN_INITIAL, VT_SERVER_CONN_AWAITING_AUTH);
    assert_int_equal(VT_SERVER_CONN_EV_PEER_CLOSED, 10);
    assert_int_equal(VT_SESSION_INITIAL, VT_SESSION_NONE);
    assert_int_equal(VT_SESSION_UNTRUSTED, 3);
    assert_int_equal(VT_OUTGOING_MESSAGE_INITIAL, VT_OUTGOING_MESSAGE_QUEUED);
    assert_int_equal(VT_OUTGOING_MESSAGE_EV_RECEIPT_READ, 13);
}

/* Guard values under which row |r| is the first to hold among the rows of
 * its (state, event): earlier rows' guards fail, its own holds. */
static void guards_for_row(const struct spec *sp, int r, struct rec *rec)
{
    const struct spec_row *row = &sp->rows[r];
    const char *falses[16];
    int nfalse = 0;

    memset(rec, 0, sizeof(*rec));
    for (int j = 0; j <= r; j++) {
        const struct spec_row *e = &sp->rows[j];
        bool want;

        if (strcmp(e->state, row->state) != 0 || strcmp(e->event, row->event) != 0)
            continue;
        /* An unguarded earlier row would shadow this one (vt-smgen refuses). */
        assert_true(e->guard[0] != '\0' || j == r);
        if (e->guard[0] == '\0')
            continue;
        want = j == r ? !e->negated : e->negated;
        if (want)
            rec->true_guards[rec->ntrue++] = e->guard;
        else
            falses[nfalse++] = e->guard;
        assert_true(rec->ntrue < 16 && nfalse < 16);
    }
    for (int i = 0; i < rec->ntrue; i++) {
        for (int k = 0; k < nfalse; k++)
            assert_string_not_equal(rec->true_guards[i], falses[k]);
    }
}

/* Every row of every table: from its State, its Event moves the machine to
 * its Next after calling exactly its Actions, in order. */
static void test_every_row(void **state)
{
    int tested = 0;

    (void)state;
    for (size_t m = 0; m < NMACHINES; m++) {
        const struct mut *t = &machines[m];
        struct spec *sp = load(m);

        for (int r = 0; r < sp->nrows; r++) {
            const struct spec_row *row = &sp->rows[r];
            struct rec rec;
            unsigned st = (unsigned)index_in(sp->states, sp->nstates, row->state);
            unsigned ev = (unsigned)index_in(sp->events, sp->nevents, row->event);

            guards_for_row(sp, r, &rec);
            if (!t->step(&rec, &st, ev, false))
                fail_msg("%s:%d: %s + %s refused", t->path, row->line, row->state,
                         row->event);
            if (strcmp(t->state_name(st), row->next) != 0)
                fail_msg("%s:%d: went to %s, spec says %s", t->path, row->line,
                         t->state_name(st), row->next);
            assert_int_equal(rec.ncalls, row->nacts);
            for (int k = 0; k < row->nacts; k++) {
                if (strcmp(rec.calls[k], row->acts[k]) != 0)
                    fail_msg("%s:%d: action %d is %s, spec says %s", t->path, row->line,
                             k, rec.calls[k], row->acts[k]);
            }
            tested++;
        }
        free(sp);
    }
    print_message("[ info     ] %d transition rows checked\n", tested);
    assert_true(tested > 100);
}

static bool pair_has_row(const struct spec *sp, int s, int e)
{
    for (int r = 0; r < sp->nrows; r++) {
        if (strcmp(sp->rows[r].state, sp->states[s]) == 0 &&
            strcmp(sp->rows[r].event, sp->events[e]) == 0)
            return true;
    }
    return false;
}

/* Fires |ev| in |st| and expects a refusal: false, state unchanged, no
 * action called. */
static void expect_refused(const struct mut *t, struct rec *rec, unsigned st, unsigned ev,
                           bool null_ops)
{
    unsigned s = st;

    rec->ncalls = 0;
    if (t->step(rec, &s, ev, null_ops))
        fail_msg("%s: %s + %s allowed, spec has no applicable row", t->path,
                 t->state_name(st), t->event_name(ev));
    assert_int_equal(s, st);
    assert_int_equal(rec->ncalls, 0);
}

/* A (state, event) pair with no row is refused whatever the guards. */
static void test_pairs_without_rows(void **state)
{
    int pairs = 0;

    (void)state;
    for (size_t m = 0; m < NMACHINES; m++) {
        const struct mut *t = &machines[m];
        struct spec *sp = load(m);
        struct rec rec;

        for (int s = 0; s < sp->nstates; s++) {
            for (int e = 0; e < sp->nevents; e++) {
                if (pair_has_row(sp, s, e))
                    continue;
                memset(&rec, 0, sizeof(rec));
                rec.all_true = true;
                expect_refused(t, &rec, (unsigned)s, (unsigned)e, false);
                rec.all_true = false;
                expect_refused(t, &rec, (unsigned)s, (unsigned)e, false);
                expect_refused(t, &rec, (unsigned)s, (unsigned)e, true);
                pairs++;
            }
        }
        free(sp);
    }
    print_message("[ info     ] %d (state, event) pairs without rows refused\n", pairs);
    assert_true(pairs > 0);
}

/* When no guard of a pair's rows holds and none of them is unguarded, the
 * event is refused. Also: out-of-range events and states are refused. */
static void test_guards_failing_refuse(void **state)
{
    int pairs = 0;

    (void)state;
    for (size_t m = 0; m < NMACHINES; m++) {
        const struct mut *t = &machines[m];
        struct spec *sp = load(m);
        struct rec rec;

        for (int s = 0; s < sp->nstates; s++) {
            for (int e = 0; e < sp->nevents; e++) {
                bool any = false, unguarded = false, ok = true;
                const char *falses[16];
                int nfalse = 0;

                memset(&rec, 0, sizeof(rec));
                for (int r = 0; r < sp->nrows; r++) {
                    const struct spec_row *row = &sp->rows[r];

                    if (strcmp(row->state, sp->states[s]) != 0 ||
                        strcmp(row->event, sp->events[e]) != 0)
                        continue;
                    any = true;
                    if (row->guard[0] == '\0')
                        unguarded = true;
                    else if (row->negated)
                        rec.true_guards[rec.ntrue++] = row->guard;
                    else
                        falses[nfalse++] = row->guard;
                }
                for (int i = 0; i < rec.ntrue; i++) {
                    for (int k = 0; k < nfalse; k++)
                        ok = ok && strcmp(rec.true_guards[i], falses[k]) != 0;
                }
                if (!any || unguarded || !ok)
                    continue; /* no row, or some row always holds */
                expect_refused(t, &rec, (unsigned)s, (unsigned)e, false);
                pairs++;
            }
        }
        {
            unsigned st = 0;

            memset(&rec, 0, sizeof(rec));
            rec.all_true = true;
            expect_refused(t, &rec, 0, t->event_count, false);
            expect_refused(t, &rec, t->state_count, 0, false);
            assert_false(t->step(&rec, &st, t->event_count + 100, false));
            assert_int_equal(st, 0);
        }
        free(sp);
    }
    /* The four machines give every guarded pair a fallback today; the
     * runtime test below covers guarded-only pairs with a table of its own. */
    print_message("[ info     ] %d guarded-only pairs refused\n", pairs);
}

/* NULL ops: every guard is false (so `not name` holds), actions are no-ops. */
static void test_null_ops(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMACHINES; m++) {
        const struct mut *t = &machines[m];
        struct spec *sp = load(m);

        for (int s = 0; s < sp->nstates; s++) {
            for (int e = 0; e < sp->nevents; e++) {
                const struct spec_row *want = NULL;
                struct rec rec;
                unsigned st = (unsigned)s;

                for (int r = 0; r < sp->nrows && want == NULL; r++) {
                    const struct spec_row *row = &sp->rows[r];

                    if (strcmp(row->state, sp->states[s]) == 0 &&
                        strcmp(row->event, sp->events[e]) == 0 &&
                        (row->guard[0] == '\0' || row->negated))
                        want = row;
                }
                memset(&rec, 0, sizeof(rec));
                if (want == NULL) {
                    expect_refused(t, &rec, st, (unsigned)e, true);
                    continue;
                }
                assert_true(t->step(&rec, &st, (unsigned)e, true));
                assert_string_equal(t->state_name(st), want->next);
                assert_int_equal(rec.ncalls, 0);
            }
        }
        free(sp);
    }
    {
        vt_session_state st = VT_SESSION_NONE;

        assert_false(vt_session_step(&se_ops, NULL, NULL, VT_SESSION_EV_SEND));
        assert_false(vt_session_step(NULL, NULL, &st, VT_SESSION_EV_SEND));
        assert_int_equal(st, VT_SESSION_NONE);
    }
}

/* ---- the generic runtime on a table of its own ------------------------ */

static const char *const t_states[] = {"IDLE", "BUSY", "DONE"};
static const char *const t_events[] = {"GO", "STOP", "NEVER"};
static const char *const t_guards[] = {"ready", "armed"};
static const char *const t_actions[] = {"one", "two"};
static const uint16_t t_row_actions[] = {0, 1, 1};
static const vt_sm_row t_rows[] = {
    /* IDLE GO [ready] -> BUSY: one, two   (guarded only) */
    {0, 0, 0, false, 0, 2, 1, 10},
    /* BUSY GO [not armed] -> DONE: two    (guarded only, negated) */
    {1, 0, 1, true, 2, 1, 2, 11},
    /* BUSY STOP [ready] -> IDLE */
    {1, 1, 0, false, 0, 0, 0, 12},
    /* BUSY STOP -> DONE: one */
    {1, 1, VT_SM_NO_GUARD, false, 0, 1, 2, 13},
};
static const vt_sm_def t_def = {
    .name = "t",
    .source = "test",
    .state_count = 3,
    .event_count = 3,
    .guard_count = 2,
    .action_count = 2,
    .row_count = 4,
    .state_names = t_states,
    .event_names = t_events,
    .guard_names = t_guards,
    .action_names = t_actions,
    .rows = t_rows,
    .row_actions = t_row_actions,
};

struct tctx {
    bool ready, armed;
    int log[8], n;
    int guard_calls;
};

static bool t_ready(void *c)
{
    ((struct tctx *)c)->guard_calls++;
    return ((struct tctx *)c)->ready;
}

static bool t_armed(void *c)
{
    ((struct tctx *)c)->guard_calls++;
    return ((struct tctx *)c)->armed;
}

static void t_one(void *c)
{
    struct tctx *t = c;

    t->log[t->n++] = 1;
}

static void t_two(void *c)
{
    struct tctx *t = c;

    t->log[t->n++] = 2;
}

static bool eval_bits(void *env, unsigned guard)
{
    return (*(unsigned *)env >> guard) & 1u;
}

static void test_runtime(void **state)
{
    const vt_sm_guard_fn g[] = {t_ready, t_armed};
    const vt_sm_action_fn a[] = {t_one, t_two};
    const vt_sm_guard_fn g_null[] = {NULL, NULL};
    struct tctx c;
    unsigned st, bits;

    (void)state;
    /* guarded-only pair, guard false: refused, nothing run */
    memset(&c, 0, sizeof(c));
    st = 0;
    assert_false(vt_sm_step(&t_def, g, a, &c, &st, 0));
    assert_int_equal(st, 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.guard_calls, 1);
    /* guard true: fires, actions in order */
    c.ready = true;
    assert_true(vt_sm_step(&t_def, g, a, &c, &st, 0));
    assert_int_equal(st, 1);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.log[0], 1);
    assert_int_equal(c.log[1], 2);
    /* first matching row wins; fallback when the guard fails */
    c.n = 0;
    assert_true(vt_sm_step(&t_def, g, a, &c, &st, 1));
    assert_int_equal(st, 0);
    assert_int_equal(c.n, 0);
    st = 1;
    c.ready = false;
    assert_true(vt_sm_step(&t_def, g, a, &c, &st, 1));
    assert_int_equal(st, 2);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.log[0], 1);
    /* negated guard: holds when the guard is false, refused when true */
    st = 1;
    c.n = 0;
    c.armed = true;
    assert_false(vt_sm_step(&t_def, g, a, &c, &st, 0));
    assert_int_equal(st, 1);
    c.armed = false;
    assert_true(vt_sm_step(&t_def, g, a, &c, &st, 0));
    assert_int_equal(st, 2);
    assert_int_equal(c.log[0], 2);
    /* NULL guards count as false, NULL actions do nothing */
    st = 1;
    assert_true(vt_sm_step(&t_def, g_null, NULL, &c, &st, 0));
    assert_int_equal(st, 2);
    st = 0;
    assert_false(vt_sm_step(&t_def, NULL, NULL, &c, &st, 0));
    assert_int_equal(st, 0);
    /* an event with no row anywhere, and out of range */
    for (unsigned s0 = 0; s0 < 3; s0++) {
        st = s0;
        c.ready = c.armed = true;
        assert_false(vt_sm_step(&t_def, g, a, &c, &st, 2));
        assert_int_equal(st, s0);
    }
    st = 0;
    assert_false(vt_sm_step(&t_def, g, a, &c, &st, 3));
    st = 3;
    assert_false(vt_sm_step(&t_def, g, a, &c, &st, 0));
    assert_int_equal(st, 3);
    assert_false(vt_sm_step(&t_def, g, a, &c, NULL, 0));
    assert_false(vt_sm_step(NULL, g, a, &c, &st, 0));

    /* select with an oracle, as a trace checker uses it */
    bits = 0;
    assert_int_equal(vt_sm_select(&t_def, 0, 0, eval_bits, &bits), -1);
    bits = 1;
    assert_int_equal(vt_sm_select(&t_def, 0, 0, eval_bits, &bits), 0);
    assert_int_equal(vt_sm_select(&t_def, 1, 1, eval_bits, &bits), 2);
    bits = 0;
    assert_int_equal(vt_sm_select(&t_def, 1, 1, eval_bits, &bits), 3);
    assert_int_equal(vt_sm_select(&t_def, 1, 0, NULL, NULL), 1);
    bits = 2;
    assert_int_equal(vt_sm_select(&t_def, 1, 0, eval_bits, &bits), -1);
    assert_int_equal(vt_sm_select(&t_def, 2, 0, eval_bits, &bits), -1);

    assert_true(vt_sm_has_row(&t_def, 1, 1));
    assert_false(vt_sm_has_row(&t_def, 2, 0));
    assert_false(vt_sm_has_row(&t_def, 0, 2));
    assert_string_equal(vt_sm_state_name(&t_def, 2), "DONE");
    assert_null(vt_sm_state_name(&t_def, 3));
    assert_string_equal(vt_sm_event_name(&t_def, 1), "STOP");
    assert_null(vt_sm_event_name(&t_def, 3));
    assert_string_equal(vt_sm_guard_name(&t_def, 1), "armed");
    assert_null(vt_sm_guard_name(&t_def, 2));
    assert_string_equal(vt_sm_action_name(&t_def, 0), "one");
    assert_null(vt_sm_action_name(&t_def, 2));
    assert_null(vt_sm_state_name(NULL, 0));
    assert_int_equal(vt_sm_state_index(&t_def, "BUSY"), 1);
    assert_int_equal(vt_sm_state_index(&t_def, "busy"), -1);
    assert_int_equal(vt_sm_event_index(&t_def, "NEVER"), 2);
    assert_int_equal(vt_sm_guard_index(&t_def, "armed"), 1);
    assert_int_equal(vt_sm_action_index(&t_def, "two"), 1);
    assert_int_equal(vt_sm_action_index(&t_def, "three"), -1);
    assert_int_equal(vt_sm_state_index(&t_def, NULL), -1);
    assert_int_equal(vt_sm_state_index(NULL, "IDLE"), -1);

    /* the generated defs expose their hooks by name too */
    assert_int_equal(vt_sm_guard_index(vt_client_conn_def(), "token_rejected") >= 0, 1);
    assert_int_equal(vt_sm_state_index(vt_session_def(), "ESTABLISHED"),
                     VT_SESSION_ESTABLISHED);
}

/* ---- vt-smgen itself -------------------------------------------------- */

static char *smgen_path(void)
{
    const char *b = getenv("VT_BUILD_DIR");
    char *p;

    if (b == NULL)
        fail_msg("VT_BUILD_DIR is not set (run through ctest)");
    p = malloc(strlen(b) + 16);
    assert_non_null(p);
    sprintf(p, "%s/bin/vt-smgen", b);
    assert_int_equal(access(p, X_OK), 0);
    return p;
}

/* Runs vt-smgen; returns its exit status and its stderr in |out|. */
static int run_smgen(const char *outdir, const char *files, char *out, size_t cap)
{
    char *gen = smgen_path();
    char cmd[4096];
    FILE *p;
    size_t n;
    int status;

    snprintf(cmd, sizeof(cmd), "'%s' '%s' %s 2>&1", gen, outdir, files);
    free(gen);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    status = pclose(p);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void test_generator_rejects(void **state)
{
    static const struct {
        const char *files, *message;
    } cases[] = {
#define FX "codegen/smgen/tests/"
        {FX "bad_unknown_state.md", FX "bad_unknown_state.md:24: unknown state `C`"},
        {FX "bad_unknown_event.md", FX "bad_unknown_event.md:25: unknown event `JUMP`"},
        {FX "bad_unknown_next.md", FX "bad_unknown_next.md:24: unknown Next state `Z`"},
        {FX "bad_unreachable.md", FX "bad_unreachable.md:10: state `B` is unreachable"},
        {FX "bad_malformed_row.md",
         FX "bad_malformed_row.md:24: malformed transition row: expected 5 cells"},
        {FX "bad_duplicate_state.md",
         FX "bad_duplicate_state.md:10: duplicate state `A` (first defined at line 9)"},
        {FX "bad_duplicate_event.md",
         FX "bad_duplicate_event.md:17: duplicate event `GO`"},
        {FX "bad_guard.md", FX "bad_guard.md:23: malformed guard"},
        {FX "bad_shadowed_row.md", FX "bad_shadowed_row.md:24: row can never fire"},
        {FX "bad_unused_event.md",
         FX "bad_unused_event.md:17: event `BACK` has no transition"},
        {FX "bad_no_machine.md", FX "bad_no_machine.md:1: no line Machine:"},
        {FX "bad_header.md", FX "bad_header.md:21: table header must be exactly"},
        /* one bad file stops all output, and a machine may be defined once */
        {FX "good_guarded_only.md " FX "bad_duplicate_machine.md",
         FX "bad_duplicate_machine.md:3: machine `good_guarded_only` is already defined"},
        {FX "good_guarded_only.md " FX "no_such_file.md", FX "no_such_file.md: "},
#undef FX
    };
    char dir[] = "/tmp/vt-smgen-test-XXXXXX";
    char out[8192];

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = run_smgen(dir, cases[i].files, out, sizeof(out));

        if (rc == 0 || strstr(out, cases[i].message) == NULL)
            fail_msg("vt-smgen %s: exit %d, output:\n%s\nwanted: %s", cases[i].files, rc,
                     out, cases[i].message);
        assert_int_equal(count_files(dir), 0);
    }

    /* A pair whose rows are all guarded, with no fallback, is valid. */
    assert_int_equal(
        run_smgen(dir, "codegen/smgen/tests/good_guarded_only.md", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(count_files(dir), 2);
    remove_dir(dir);
}

static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa != NULL && fb != NULL;
    int ca, cb;

    while (same) {
        ca = fgetc(fa);
        cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* generated/state/ is what vt-smgen makes of spec/state/ today, byte for
 * byte, twice in a row. */
static void test_generated_up_to_date(void **state)
{
    char dir[] = "/tmp/vt-smgen-test-XXXXXX";
    char files[4096] = "", out[8192], a[1024], b[1024];
    char *names[64];
    int n = 0;
    DIR *d;
    struct dirent *e;

    (void)state;
    assert_non_null(mkdtemp(dir));
    d = opendir("spec/state");
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);

        if (l > 3 && strcmp(e->d_name + l - 3, ".md") == 0) {
            names[n] = strdup(e->d_name);
            assert_non_null(names[n]);
            n++;
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
    for (int i = 0; i < n; i++) {
        strcat(files, " spec/state/");
        strcat(files, names[i]);
    }
    assert_int_equal(n, (int)NMACHINES);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(run_smgen(dir, files, out, sizeof(out)), 0);
        assert_int_equal(count_files(dir), 2 * n);
        assert_int_equal(count_files("generated/state"), 2 * n);
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < 2; h++) {
                snprintf(a, sizeof(a), "%s/vt_sm_%.*s.%s", dir,
                         (int)(strlen(names[i]) - 3), names[i], h ? "h" : "c");
                snprintf(b, sizeof(b), "generated/state/vt_sm_%.*s.%s",
                         (int)(strlen(names[i]) - 3), names[i], h ? "h" : "c");
                if (!same_file(a, b))
                    fail_msg("%s is stale: run make generate", b);
            }
        }
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_match_spec),
        cmocka_unit_test(test_every_row),
        cmocka_unit_test(test_pairs_without_rows),
        cmocka_unit_test(test_guards_failing_refuse),
        cmocka_unit_test(test_null_ops),
        cmocka_unit_test(test_runtime),
        cmocka_unit_test(test_generator_rejects),
        cmocka_unit_test(test_generated_up_to_date),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
