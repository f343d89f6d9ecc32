/* libventra internal: protobuf base-128 varints, for the few places that
 * read or write end-to-end payloads byte by byte (padding, PrekeyMessage)
 * instead of through a codec. */
#ifndef VENTRA_VARINT_INT_H
#define VENTRA_VARINT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes the varint encoding of |v| takes (1 to 10). */
size_t vt_varint_len(uint64_t v);

/* Writes |v| at |p| (room for vt_varint_len(v) bytes); returns the end. */
uint8_t *vt_varint_put(uint8_t *p, uint64_t v);

/* Reads a varint at *p, not past |end|, and advances *p. False for a
 * truncated varint or one of more than 64 bits. */
bool vt_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v);

#endif
