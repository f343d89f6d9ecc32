/* libventra errors: vt_strerror() over the generated ErrorCode table
 * (generated/rpc/vt_errors.c). Implements spec/wire.md, Errors. */
#include "ventra/err.h"

#include <stddef.h>

const char *vt_strerror(vt_err err)
{
    const char *msg = vt_err_message(err);
    /* Callers print the result unchecked: never hand them NULL. */
    return msg != NULL ? msg : "unknown error";
}
