/* libventra errors: the one error enum vt_err (generated into vt_errors.h
 * from enum ventra.v1.ErrorCode of schemas/ventra/v1/frame.proto) and its
 * messages. Implements spec/wire.md, Errors (WIRE-40, WIRE-41, WIRE-42). */
#ifndef VENTRA_ERR_H
#define VENTRA_ERR_H

#include "vt_errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A one-sentence English description of |err| (the schema's comment on the
 * ErrorCode value), or "unknown error" for a value vt_err does not define.
 * Never NULL; the string is static. */
const char *vt_strerror(vt_err err);

#ifdef __cplusplus
}
#endif

#endif
