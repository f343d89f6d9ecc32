/* libventra: enforces the nanopb .options bounds on messages decoded with
 * protobuf-c, which has no bounds of its own (spec/wire.md, Limits: a field
 * over a limit is ERROR_TOO_LARGE). The table is generated into
 * vt_pbc_limits.h by protoc-gen-ventra. */
#ifndef VENTRA_PBC_LIMITS_H
#define VENTRA_PBC_LIMITS_H

#include <protobuf-c/protobuf-c.h>

#include "vt_errors.h"
#include "vt_pbc_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Walks |msg| and every submessage it holds (singular, optional, repeated
 * and oneof fields). Returns VT_ERR_TOO_LARGE when a string or bytes value
 * is longer than its max_len or a repeated field has more than max_count
 * elements, VT_ERR_INVALID_ARGUMENT when |msg| is NULL, VT_OK otherwise.
 * Does not modify or take ownership of |msg|. */
__attribute__((warn_unused_result)) vt_err
vt_pbc_check_limits(const ProtobufCMessage *msg);

/* As vt_pbc_check_limits(), but only the bounds of spec/wire.md 4.2: a
 * bytes field whose limit is one of the fixed lengths (KEY_LEN,
 * SIGNATURE_LEN, CHALLENGE_NONCE_LEN, MESSAGE_ID_LEN, GROUP_ID_LEN) is a
 * form there, answered ERROR_INVALID_ARGUMENT by the RPC's own checks, not
 * a bound. A server uses it to tell a frame over a bound (ERROR_TOO_LARGE)
 * from one with a field of the wrong form. Errors: as vt_pbc_check_limits. */
__attribute__((warn_unused_result)) vt_err
vt_pbc_check_bounds(const ProtobufCMessage *msg);

/* The bound of field number |field| of messages of type |desc|, or NULL when
 * the field is unbounded. */
const vt_pbc_limit *vt_pbc_limit_find(const ProtobufCMessageDescriptor *desc,
                                      uint32_t field);

#ifdef __cplusplus
}
#endif

#endif
