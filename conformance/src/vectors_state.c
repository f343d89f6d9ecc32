/* The state-machine trace vectors (conformance/vectors/state/<machine>.json,
 * format in FORMAT.md there) replayed on the generated transition tables of
 * spec/state/ (one per machine): every step selects its row with vt_sm_select, the guard
 * values coming from the trace, and must fire exactly the actions and reach
 * exactly the state the trace expects, or find no row when it expects the
 * event to be rejected (SM-100, SM-201). */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "vectors.h"
#include "vectors_int.h"
#include "ventra/sm.h"
#include "vt_sm_client_conn.h"
#include "vt_sm_outgoing_message.h"
#include "vt_sm_server_conn.h"
#include "vt_sm_session.h"

/* Enough for every guard of every machine; a trace naming more is refused. */
#define MAX_GUARDS 32

/* ---- reporting --------------------------------------------------------- */

/* The disagreements of the trace being run, "; "-separated. */
static vt_conform_detail *detail;

#define mismatch(...) vt_conform_detail_add(detail, __VA_ARGS__)

/* ---- the machines ------------------------------------------------------ */

typedef const vt_sm_def *(*def_fn)(void);

static const struct {
    const char *name;
    def_fn def;
} machines[] = {
    {"client_conn", vt_client_conn_def},
    {"server_conn", vt_server_conn_def},
    {"session", vt_session_def},
    {"outgoing_message", vt_outgoing_message_def},
};

static const vt_sm_def *find_machine(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof machines / sizeof machines[0]; i++)
        if (strcmp(machines[i].name, name) == 0)
            return machines[i].def();
    return NULL;
}

/* The guard values the environment reports at one step; unnamed are false. */
typedef struct guard_env {
    bool value[MAX_GUARDS];
} guard_env;

static bool eval_guard(void *env, unsigned guard)
{
    const guard_env *g = env;
    return guard < MAX_GUARDS && g->value[guard];
}

/* "a, b, c" of the actions of row |r|, "-" when it has none. */
static void row_actions_text(const vt_sm_def *def, const vt_sm_row *r, char *buf,
                             size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    if (r->action_count == 0)
        snprintf(buf, cap, "-");
    for (unsigned i = 0; i < r->action_count && len < cap; i++) {
        const char *name = vt_sm_action_name(def, def->row_actions[r->action_first + i]);
        int n = snprintf(buf + len, cap - len, "%s%s", i > 0 ? ", " : "",
                         name != NULL ? name : "?");
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

/* The same for a JSON array of names. */
static void json_actions_text(json_t *a, char *buf, size_t cap)
{
    size_t len = 0, i;
    json_t *v;
    buf[0] = '\0';
    if (json_array_size(a) == 0)
        snprintf(buf, cap, "-");
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        int n = snprintf(buf + len, cap > len ? cap - len : 0, "%s%s", i > 0 ? ", " : "",
                         s != NULL ? s : "?");
        if (n < 0 || len + (size_t)n >= cap)
            break;
        len += (size_t)n;
    }
}

/* Fills |env| from the step's "guards"; false (and a failure) when a name is
 * not a guard of the machine or a value is not a boolean. */
static bool load_guards(const vt_sm_def *def, json_t *guards, size_t step, guard_env *env)
{
    const char *name;
    json_t *v;
    bool ok = true;
    memset(env, 0, sizeof *env);
    if (guards != NULL && !json_is_object(guards)) {
        mismatch("step %zu: guards is not an object", step);
        return false;
    }
    json_object_foreach(guards, name, v)
    {
        int g = vt_sm_guard_index(def, name);
        if (g < 0 || g >= MAX_GUARDS) {
            mismatch("step %zu: machine %s has no guard %s", step, def->name, name);
            ok = false;
        } else if (!json_is_boolean(v)) {
            mismatch("step %zu: guard %s is not true or false", step, name);
            ok = false;
        } else {
            env->value[g] = json_is_true(v);
        }
    }
    return ok;
}

/* Compares the row that fired with the step's expected actions and state. */
static void check_fired(const vt_sm_def *def, const vt_sm_row *r, json_t *expect,
                        size_t step, const char *where)
{
    json_t *want = json_object_get(expect, "actions");
    const char *next = json_string_value(json_object_get(expect, "state"));
    char got_text[512], want_text[512];
    size_t i;
    json_t *v;
    bool same = json_array_size(want) == r->action_count;

    if (!json_is_array(want) || next == NULL) {
        mismatch("step %zu (%s): expect needs actions and state, or rejected", step,
                 where);
        return;
    }
    json_array_foreach(want, i, v)
    {
        const char *name = json_string_value(v);
        int a = name != NULL ? vt_sm_action_index(def, name) : -1;
        if (a < 0) {
            mismatch("step %zu (%s): machine %s has no action %s", step, where, def->name,
                     name != NULL ? name : "(not a string)");
            return;
        }
        if (i < r->action_count && def->row_actions[r->action_first + i] != (unsigned)a)
            same = false;
    }
    if (vt_sm_state_index(def, next) < 0) {
        mismatch("step %zu (%s): machine %s has no state %s", step, where, def->name,
                 next);
        return;
    }
    row_actions_text(def, r, got_text, sizeof got_text);
    json_actions_text(want, want_text, sizeof want_text);
    if (!same)
        mismatch("step %zu (%s): expected actions [%s], the table (line %u) runs [%s]",
                 step, where, want_text, (unsigned)r->line, got_text);
    if ((unsigned)vt_sm_state_index(def, next) != r->next)
        mismatch("step %zu (%s): expected state %s, the table (line %u) goes to %s", step,
                 where, next, (unsigned)r->line, vt_sm_state_name(def, r->next));
}

/* Replays one trace; every disagreement is a mismatch. */
static void run_trace(const vt_sm_def *def, json_t *t)
{
    const char *start = json_string_value(json_object_get(t, "start"));
    json_t *steps = json_object_get(t, "steps"), *s;
    size_t i;
    int state = start != NULL ? vt_sm_state_index(def, start) : -1;

    if (state < 0) {
        mismatch("machine %s has no start state %s", def->name,
                 start != NULL ? start : "(none)");
        return;
    }
    if (json_array_size(steps) == 0) {
        mismatch("trace has no steps");
        return;
    }
    json_array_foreach(steps, i, s)
    {
        size_t step = i + 1;
        const char *ev_name = json_string_value(json_object_get(s, "event"));
        json_t *expect = json_object_get(s, "expect");
        int ev = ev_name != NULL ? vt_sm_event_index(def, ev_name) : -1;
        guard_env env;
        char where[160];

        if (ev < 0) {
            mismatch("step %zu: machine %s has no event %s", step, def->name,
                     ev_name != NULL ? ev_name : "(none)");
            return;
        }
        if (!load_guards(def, json_object_get(s, "guards"), step, &env))
            return;
        snprintf(where, sizeof where, "%s in %s", ev_name, vt_sm_state_name(def, state));
        int row = vt_sm_select(def, (unsigned)state, (unsigned)ev, eval_guard, &env);
        bool rejected = json_is_true(json_object_get(expect, "rejected"));
        if (!json_is_object(expect)) {
            mismatch("step %zu (%s): no expect", step, where);
            return;
        }
        if (rejected && row >= 0) {
            char got_text[512];
            const vt_sm_row *r = &def->rows[row];
            row_actions_text(def, r, got_text, sizeof got_text);
            mismatch("step %zu (%s): expected rejected, the table (line %u) runs [%s] "
                     "and goes to %s",
                     step, where, (unsigned)r->line, got_text,
                     vt_sm_state_name(def, r->next));
            return;
        }
        if (rejected)
            continue; /* no row: state and actions unchanged */
        if (row < 0) {
            mismatch("step %zu (%s): expected state %s, the table has no applicable row "
                     "(rejected)",
                     step, where,
                     json_string_value(json_object_get(expect, "state")) != NULL
                         ? json_string_value(json_object_get(expect, "state"))
                         : "(none)");
            return;
        }
        size_t before = detail->count;
        check_fired(def, &def->rows[row], expect, step, where);
        if (detail->count != before)
            return; /* later steps would start from the wrong state */
        state = def->rows[row].next;
    }
}

static void run_test(vt_conform_detail *d, json_t *group, json_t *t)
{
    const char *type = json_string_value(json_object_get(group, "type"));
    const char *name = json_string_value(json_object_get(group, "machine"));
    const vt_sm_def *def = find_machine(name);
    detail = d;
    if (type == NULL || strcmp(type, "StateTrace") != 0)
        mismatch("unknown test type %s", type != NULL ? type : "(none)");
    else if (def == NULL)
        mismatch("unknown machine %s", name != NULL ? name : "(none)");
    else
        run_trace(def, t);
    detail = NULL;
}

int vt_conform_state_run(const char *dir, vt_conform_case_fn fn, void *ud)
{
    return vt_conform_kind_run(dir, "state", run_test, fn, ud);
}
