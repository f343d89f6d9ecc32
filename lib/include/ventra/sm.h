/* The generic state-machine runtime: the table types every machine generated
 * by codegen/smgen shares, and the row walk that gives a transition table the
 * meaning spec/README.md ("State machines") defines. */
#ifndef VENTRA_SM_H
#define VENTRA_SM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* vt_sm_row.guard when the row has no guard (`-` in the Guard column). */
#define VT_SM_NO_GUARD (-1)

/* One row of a Transitions table, in table order. Indices refer to the name
 * arrays of the vt_sm_def that holds the row. */
typedef struct vt_sm_row {
    uint16_t state;        /* the State column */
    uint16_t event;        /* the Event column */
    int16_t guard;         /* guard index, or VT_SM_NO_GUARD */
    bool negated;          /* the guard was written `not name` */
    uint16_t action_first; /* first entry of this row in vt_sm_def.row_actions */
    uint16_t action_count; /* number of actions, run in order */
    uint16_t next;         /* the Next column */
    uint16_t line;         /* line of the row in the spec file, for reports */
} vt_sm_row;

/* A whole machine: what the three tables of its spec file say. The generated
 * vt_<machine>_def() returns one; the state with index 0 is the initial
 * state. All arrays are static and immutable. */
typedef struct vt_sm_def {
    const char *name;   /* the machine name, e.g. "client_conn" */
    const char *source; /* the spec file it came from, e.g. "spec/state/x.md" */
    uint16_t state_count;
    uint16_t event_count;
    uint16_t guard_count;
    uint16_t action_count;
    uint16_t row_count;
    const char *const *state_names;  /* state_count UPPER_SNAKE names */
    const char *const *event_names;  /* event_count UPPER_SNAKE names */
    const char *const *guard_names;  /* guard_count lower_snake names */
    const char *const *action_names; /* action_count lower_snake names */
    const vt_sm_row *rows;           /* row_count rows, in table order */
    const uint16_t *row_actions;     /* action indices, sliced by the rows */
} vt_sm_def;

/* A guard or action of an implementation. |ctx| is the caller's context,
 * passed through unchanged. */
typedef bool (*vt_sm_guard_fn)(void *ctx);
typedef void (*vt_sm_action_fn)(void *ctx);

/* Answers whether guard |guard| (an index into def->guard_names) holds now.
 * Used by vt_sm_select so a trace checker can supply guard values from a
 * recorded trace instead of from live functions. */
typedef bool (*vt_sm_guard_eval)(void *env, unsigned guard);

/* Picks the row that fires for |event| in |state|: the first row of that
 * (state, event) pair, in table order, that is unguarded or whose guard
 * (as |eval| reports it, inverted for `not name`) holds. |eval| may be NULL
 * when the pair has no guarded row; a NULL |eval| makes every guard false.
 * Returns the row index, or -1 when no row applies (the event is not allowed
 * in that state), including for an out-of-range state or event. */
int vt_sm_select(const vt_sm_def *def, unsigned state, unsigned event,
                 vt_sm_guard_eval eval, void *env);

/* Fires |event| on a machine in |*state|: selects the row as vt_sm_select
 * does, calling guards[i](ctx) for guard i, then calls the row's actions in
 * order (actions[j](ctx)) and sets *state to the row's Next.
 * A NULL guards array or a NULL entry in it counts as a guard that is false
 * (so `not name` holds); a NULL actions array or entry is a no-op. Both
 * arrays are indexed like def->guard_names and def->action_names.
 * Returns true when a row fired; false, with *state unchanged and nothing
 * called but guards, when the event is not allowed in that state. */
bool vt_sm_step(const vt_sm_def *def, const vt_sm_guard_fn *guards,
                const vt_sm_action_fn *actions, void *ctx, unsigned *state,
                unsigned event);

/* Whether |event| has any row in |state|, whatever the guards. */
bool vt_sm_has_row(const vt_sm_def *def, unsigned state, unsigned event);

/* Name of state, event, guard or action |i|; NULL when out of range. */
const char *vt_sm_state_name(const vt_sm_def *def, unsigned i);
const char *vt_sm_event_name(const vt_sm_def *def, unsigned i);
const char *vt_sm_guard_name(const vt_sm_def *def, unsigned i);
const char *vt_sm_action_name(const vt_sm_def *def, unsigned i);

/* Index of the state, event, guard or action called |name| (exact match),
 * or -1 when the machine has none of that name. For trace replay. */
int vt_sm_state_index(const vt_sm_def *def, const char *name);
int vt_sm_event_index(const vt_sm_def *def, const char *name);
int vt_sm_guard_index(const vt_sm_def *def, const char *name);
int vt_sm_action_index(const vt_sm_def *def, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* VENTRA_SM_H */
