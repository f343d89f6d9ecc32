/* Content padding and the session-replacement rule. Implements
 * spec/crypto.md section 8 (CRYPTO-130 to CRYPTO-132) and CRYPTO-124. */
#include <string.h>

#include "ventra/session.h"
#include "vt_constants.h"
#include "varint_int.h"

#define PADDING_FIELD 15u

size_t vt_content_padding_len(size_t b)
{
    if (b > 0 && b % VT_PADDING_BLOCK == 0)
        return 0;
    /* CRYPTO-130: the smallest p >= 1 with B + 1 + vt_varint_len(p) + p a
     * multiple of PADDING_BLOCK; found within two blocks (p <= 287). */
    for (size_t p = 1;; p++)
        if ((b + 1 + vt_varint_len(p) + p) % VT_PADDING_BLOCK == 0)
            return p;
}

/* Copies every top-level field except field 15 from |in| to |out|. */
static vt_err strip(uint8_t *out, size_t cap, size_t *out_len, const uint8_t *in,
                    size_t len)
{
    const uint8_t *p = in, *end = in + len;
    size_t w = 0;
    while (p < end) {
        const uint8_t *start = p;
        uint64_t key, v;
        if (!vt_varint_get(&p, end, &key) || key >> 3 == 0)
            return VT_ERR_INVALID_ARGUMENT;
        switch (key & 7) {
        case 0:
            if (!vt_varint_get(&p, end, &v))
                return VT_ERR_INVALID_ARGUMENT;
            break;
        case 1:
            if (end - p < 8)
                return VT_ERR_INVALID_ARGUMENT;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return VT_ERR_INVALID_ARGUMENT;
            p += 4;
            break;
        case 2:
            if (!vt_varint_get(&p, end, &v) || v > (uint64_t)(end - p))
                return VT_ERR_INVALID_ARGUMENT;
            p += v;
            break;
        default:
            return VT_ERR_INVALID_ARGUMENT;
        }
        if (key >> 3 == PADDING_FIELD)
            continue;
        size_t n = (size_t)(p - start);
        if (cap - w < n)
            return VT_ERR_BUFFER_TOO_SMALL;
        memmove(out + w, start, n);
        w += n;
    }
    *out_len = w;
    return VT_OK;
}

vt_err vt_content_pad(uint8_t *out, size_t cap, size_t *out_len, const uint8_t *content,
                      size_t len)
{
    if (out_len != NULL)
        *out_len = 0;
    if (out == NULL || out_len == NULL || (content == NULL && len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    size_t b = 0;
    vt_err rc = strip(out, cap, &b, content, len);
    if (rc != VT_OK)
        return rc;
    size_t p = vt_content_padding_len(b);
    if (p > 0) {
        size_t extra = 1 + vt_varint_len(p) + p;
        if (cap - b < extra)
            return VT_ERR_BUFFER_TOO_SMALL;
        uint8_t *q = out + b;
        *q++ = (uint8_t)(PADDING_FIELD << 3 | 2); /* 7a */
        size_t v = p;
        while (v >= 0x80) {
            *q++ = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        *q++ = (uint8_t)v;
        memset(q, 0, p); /* CRYPTO-131 */
        b += extra;
    }
    *out_len = b;
    return VT_OK;
}

vt_err vt_content_unpad(uint8_t *out, size_t cap, size_t *out_len, const uint8_t *content,
                        size_t len)
{
    if (out_len != NULL)
        *out_len = 0;
    if (out == NULL || out_len == NULL || (content == NULL && len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    return strip(out, cap, out_len, content, len);
}

bool vt_session_new_replaces(const vt_ratchet *current, const uint8_t own_ik[32],
                             const uint8_t sender_ik[32])
{
    if (current == NULL)
        return true;
    /* CRYPTO-124: an unconfirmed initiator session of the lower key wins. */
    if (vt_ratchet_get_role(current) == VT_RATCHET_INITIATOR &&
        !vt_ratchet_confirmed(current) && memcmp(own_ik, sender_ik, 32) < 0)
        return false;
    return true;
}
