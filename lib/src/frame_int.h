/* libventra framing, private: the codec-independent check that both decoders
 * run before their own (spec/wire.md, Framing and Limits; rules 2 and 3 of
 * ventra/frame.h), so protobuf-c and nanopb accept and reject the same
 * inputs with the same error. */
#ifndef VENTRA_FRAME_INT_H
#define VENTRA_FRAME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ventra/err.h"

/* Checks |buf| (|len| bytes) against the schema of |desc|, recursively:
 * VT_ERR_MALFORMED_FRAME if anything anywhere is not well-formed, else
 * VT_ERR_TOO_LARGE if a string, bytes or repeated field exceeds its bound
 * of the limit table (vt_pbc_limit_find()), else VT_OK. Also
 * VT_ERR_NO_MEMORY. It looks at the wire bytes, so it holds nanopb (whose
 * callback fields have no bounds of their own) to the same rules. */
vt_err vt_wire_check(const uint8_t *buf, size_t len,
                     const ProtobufCMessageDescriptor *desc);

/* True when |s| (|len| bytes) is UTF-8 by RFC 3629 and holds no U+0000. */
bool vt_wire_utf8_ok(const uint8_t *s, size_t len);

#endif
