/* The generic state-machine runtime: row selection and stepping over the
 * tables codegen/smgen generates from spec/state/, with the semantics of
 * spec/README.md ("State machines"). */
#include "ventra/sm.h"

#include <stddef.h>
#include <string.h>

int vt_sm_select(const vt_sm_def *def, unsigned state, unsigned event,
                 vt_sm_guard_eval eval, void *env)
{
    if (def == NULL || state >= def->state_count || event >= def->event_count)
        return -1;
    for (unsigned i = 0; i < def->row_count; i++) {
        const vt_sm_row *r = &def->rows[i];
        bool holds;

        if (r->state != state || r->event != event)
            continue;
        if (r->guard == VT_SM_NO_GUARD) {
            holds = true;
        } else {
            /* A guard nobody can evaluate is false (sm.h). */
            holds = eval != NULL && eval(env, (unsigned)r->guard);
            if (r->negated)
                holds = !holds;
        }
        if (holds)
            return (int)i;
    }
    return -1;
}

/* Adapts a guard function array to vt_sm_guard_eval. */
struct guard_env {
    const vt_sm_guard_fn *guards;
    void *ctx;
};

static bool eval_guard_fn(void *env, unsigned guard)
{
    const struct guard_env *g = env;

    if (g->guards == NULL || g->guards[guard] == NULL)
        return false;
    return g->guards[guard](g->ctx);
}

bool vt_sm_step(const vt_sm_def *def, const vt_sm_guard_fn *guards,
                const vt_sm_action_fn *actions, void *ctx, unsigned *state,
                unsigned event)
{
    struct guard_env env = {guards, ctx};
    int idx;

    if (state == NULL)
        return false;
    idx = vt_sm_select(def, *state, event, eval_guard_fn, &env);
    if (idx < 0)
        return false;

    const vt_sm_row *r = &def->rows[idx];
    for (unsigned k = 0; k < r->action_count; k++) {
        unsigned a = def->row_actions[r->action_first + k];

        if (actions != NULL && actions[a] != NULL)
            actions[a](ctx);
    }
    *state = r->next;
    return true;
}

bool vt_sm_has_row(const vt_sm_def *def, unsigned state, unsigned event)
{
    if (def == NULL)
        return false;
    for (unsigned i = 0; i < def->row_count; i++) {
        if (def->rows[i].state == state && def->rows[i].event == event)
            return true;
    }
    return false;
}

static const char *name_at(const char *const *names, unsigned count, unsigned i)
{
    return i < count ? names[i] : NULL;
}

const char *vt_sm_state_name(const vt_sm_def *def, unsigned i)
{
    return def ? name_at(def->state_names, def->state_count, i) : NULL;
}

const char *vt_sm_event_name(const vt_sm_def *def, unsigned i)
{
    return def ? name_at(def->event_names, def->event_count, i) : NULL;
}

const char *vt_sm_guard_name(const vt_sm_def *def, unsigned i)
{
    return def ? name_at(def->guard_names, def->guard_count, i) : NULL;
}

const char *vt_sm_action_name(const vt_sm_def *def, unsigned i)
{
    return def ? name_at(def->action_names, def->action_count, i) : NULL;
}

static int index_of(const char *const *names, unsigned count, const char *name)
{
    if (name == NULL)
        return -1;
    for (unsigned i = 0; i < count; i++) {
        if (strcmp(names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

int vt_sm_state_index(const vt_sm_def *def, const char *name)
{
    return def ? index_of(def->state_names, def->state_count, name) : -1;
}

int vt_sm_event_index(const vt_sm_def *def, const char *name)
{
    return def ? index_of(def->event_names, def->event_count, name) : -1;
}

int vt_sm_guard_index(const vt_sm_def *def, const char *name)
{
    return def ? index_of(def->guard_names, def->guard_count, name) : -1;
}

int vt_sm_action_index(const vt_sm_def *def, const char *name)
{
    return def ? index_of(def->action_names, def->action_count, name) : -1;
}
