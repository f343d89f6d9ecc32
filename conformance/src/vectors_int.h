/* Private helpers shared by the vector runners (vectors.c, vectors_crypto.c,
 * vectors_wire.c, vectors_state.c) and the wire test's nanopb collector checks. */
#ifndef VT_CONFORM_VECTORS_INT_H
#define VT_CONFORM_VECTORS_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <pb.h>

#include "vectors.h"
#include "ventra/v1/frame.pb.h"

/* A case's failure text: appended to, "; "-separated, truncated with "...";
 * |count| is the number of disagreements added (truncated or not). */
typedef struct vt_conform_detail {
    char text[2048];
    size_t len;
    size_t count;
} vt_conform_detail;

void vt_conform_detail_vadd(vt_conform_detail *d, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void vt_conform_detail_add(vt_conform_detail *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void vt_conform_detail_reset(vt_conform_detail *d);

/* Runs one test of a kind (|group| is its test group): every disagreement
 * goes into |d|; the case fails when |d| is not empty afterwards. */
typedef void (*vt_conform_test_fn)(vt_conform_detail *d, json_t *group, json_t *test);

/* Calls |file|(path, label, |arg|) for every *.json of |dir| that is not
 * a schema, in name order, the label "<kind>/<name>". Returns the sum of
 * what |file| returned (failed cases), -1 when |dir| cannot be read. */
typedef int (*vt_conform_file_fn)(const char *path, const char *label, void *arg);
int vt_conform_dir_run(const char *dir, const char *kind, vt_conform_file_fn file,
                       void *arg);

/* The Wycheproof-envelope walk the kinds share: every *.json of |dir| in
 * name order (cases labelled "<kind>/<file>"), every test of every group
 * through |run|, a file-level case when a file does not parse or its
 * numberOfTests is wrong. Returns the number of failed cases, -1 when
 * |dir| cannot be read. */
int vt_conform_kind_run(const char *dir, const char *kind, vt_conform_test_fn run,
                        vt_conform_case_fn fn, void *ud);

/* Fills |c| with |file| and the id, tcId, comment, result and requirements
 * of the test |t| (NULL: a file-level case); result PASS, detail NULL. */
void vt_conform_case_fill(vt_conform_case *c, const char *file, json_t *t);

/* The *.json names of |dir| that are not schemas, sorted; the caller frees
 * them with vt_conform_names_free(). Returns 0, or -1 when |dir| cannot be
 * read (nothing to free then). */
int vt_conform_list_json(const char *dir, char ***names, size_t *n);
void vt_conform_names_free(char **names, size_t n);

/* ---- SendRequest envelopes in nanopb (vectors_wire.c) ------------------ */

/* One collected envelope list: |cap| is the field's max_count. */
typedef struct np_envs {
    ventra_v1_OutgoingEnvelope *items;
    pb_size_t cap;
    pb_size_t count;
} np_envs;

typedef struct np_send {
    np_envs to_recipient;
    np_envs to_self;
} np_send;

/* max_count of SendRequest.to_recipient and to_self (messaging.options);
 * vt_conform_np_collect_send() checks them against the generated table. */
#define NP_TO_RECIPIENT_MAX 6
#define NP_TO_SELF_MAX 5

/* Where vt_conform_np_collect_send() collects the envelopes. */
extern ventra_v1_OutgoingEnvelope vt_conform_np_to_recipient[NP_TO_RECIPIENT_MAX];
extern ventra_v1_OutgoingEnvelope vt_conform_np_to_self[NP_TO_SELF_MAX];

/* Sets encode callbacks on |send| that write the envelopes of |ns|. */
void vt_conform_np_set_encode(ventra_v1_SendRequest *send, np_send *ns);

/* For |frame| decoded from |buf| with request body send: decodes the
 * SendRequest in |buf| again with callbacks that collect the envelopes into
 * |ns|, checks the two decodes agree on every other field, and sets encode
 * callbacks on the frame's send body that write the collected envelopes.
 * Returns false, with the reason in *why, when the second decode fails
 * (e.g. more envelopes than max_count) or a check does not hold. */
bool vt_conform_np_collect_send(const uint8_t *buf, size_t len, ventra_v1_Frame *frame,
                                np_send *ns, const char **why);

#endif
