/* The recorded conformance vectors run through libventra: every case of the
 * JSON files under conformance/vectors/crypto (spec/crypto.md, spec/auth.md),
 * conformance/vectors/wire (spec/wire.md) and conformance/vectors/state (the
 * traces of the machines of spec/state/), one result per case. Used by
 * `ventra-conform vectors` and by the cmocka tests of conformance/tests. */
#ifndef VT_CONFORM_VECTORS_H
#define VT_CONFORM_VECTORS_H

#include <stddef.h>

typedef enum vt_conform_result {
    VT_CONFORM_PASS,
    VT_CONFORM_FAIL,
} vt_conform_result;

#define VT_CONFORM_MAX_REQS 16

/* One case's outcome. Every pointer is valid only during the callback. A
 * problem with a whole file (it does not parse, numberOfTests is wrong) is
 * reported as a case with |id| NULL and |tc_id| 0. */
typedef struct vt_conform_case {
    const char *file;     /* "<kind>/<name>.json", e.g. "crypto/x3dh.json" */
    long long tc_id;      /* the test's tcId, 0 when absent */
    const char *id;       /* the stable string id, NULL when absent */
    const char *comment;  /* the vector's comment, "" when absent */
    const char *expected; /* "valid", "invalid", ..., NULL when absent */
    const char *requirements[VT_CONFORM_MAX_REQS]; /* requirement IDs cited */
    size_t n_requirements;
    vt_conform_result result;
    const char *detail; /* why it failed (every disagreement); NULL on PASS */
} vt_conform_case;

typedef void (*vt_conform_case_fn)(const vt_conform_case *c, void *ud);

/* Runs every *.json vector file of |dir|/crypto, then |dir|/wire, then
 * |dir|/state, files in name order, and calls |fn| (with |ud|) once per
 * case. The wire checks run protoc (PROTOC, default "protoc") with
 * -Ischemas, so the working directory must be the source root. Returns the
 * number of failed cases, or -1 when one of the three folders cannot be
 * read. */
int vt_conform_vectors_run(const char *dir, vt_conform_case_fn fn, void *ud)
    __attribute__((warn_unused_result));

/* The same for one kind: |dir| holds the crypto (resp. wire, state) *.json
 * files; the |file| reported is "crypto/<name>" (resp. "wire/<name>",
 * "state/<name>"). The state traces replay on the generated tables of
 * generated/state (vectors/state/FORMAT.md). */
int vt_conform_crypto_run(const char *dir, vt_conform_case_fn fn, void *ud)
    __attribute__((warn_unused_result));
int vt_conform_wire_run(const char *dir, vt_conform_case_fn fn, void *ud)
    __attribute__((warn_unused_result));
int vt_conform_state_run(const char *dir, vt_conform_case_fn fn, void *ud)
    __attribute__((warn_unused_result));
/* The schema lock (vectors/schema, SPEC-2): every released field and enum
 * value is still in the schema this build was generated from. */
int vt_conform_schema_run(const char *dir, vt_conform_case_fn fn, void *ud)
    __attribute__((warn_unused_result));

#endif
