/* libventra signed transcripts: the exact bytes a device's identity key
 * signs for register, login, link, delete-account and prekeys.
 * Implements spec/auth.md "Signed transcripts" (AUTH-10, AUTH-12) and
 * spec/crypto.md CRYPTO-21. */
#include "ventra/identity.h"

#include <string.h>

#include "vt_constants.h"

/* One piece of a transcript: raw bytes, lp(bytes) or u32be(value). */
enum part_kind { PART_RAW, PART_LP, PART_U32 };

typedef struct part {
    enum part_kind kind;
    const uint8_t *data;
    size_t len;
    uint32_t value;
} part;

#define RAW(p, n) ((part){PART_RAW, (const uint8_t *)(p), (n), 0})
#define LP(p, n) ((part){PART_LP, (const uint8_t *)(p), (n), 0})
#define U32(v) ((part){PART_U32, NULL, 0, (v)})

static const uint8_t zero_byte[1] = {0};

/* Measures the parts, then writes them; nothing is written unless all fit.
 * lp(x) = u16be(len(x)) || x (spec/README.md), so a part longer than 65535
 * bytes cannot be encoded. */
static vt_err build(uint8_t *out, size_t cap, size_t *out_len, const part *parts, size_t n)
{
    size_t total = 0;
    size_t pos = 0;
    size_t i;

    if (out == NULL || out_len == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    for (i = 0; i < n; i++) {
        switch (parts[i].kind) {
        case PART_RAW:
            total += parts[i].len;
            break;
        case PART_LP:
            if (parts[i].len > 0xffffu)
                return VT_ERR_INVALID_ARGUMENT;
            total += 2 + parts[i].len;
            break;
        case PART_U32:
            total += 4;
            break;
        }
    }
    if (total > cap)
        return VT_ERR_BUFFER_TOO_SMALL;
    for (i = 0; i < n; i++) {
        const part *p = &parts[i];

        switch (p->kind) {
        case PART_LP:
            out[pos++] = (uint8_t)(p->len >> 8);
            out[pos++] = (uint8_t)p->len;
            /* The bytes follow their length. */
            /* fall through */
        case PART_RAW:
            if (p->len > 0)
                memcpy(out + pos, p->data, p->len);
            pos += p->len;
            break;
        case PART_U32:
            out[pos++] = (uint8_t)(p->value >> 24);
            out[pos++] = (uint8_t)(p->value >> 16);
            out[pos++] = (uint8_t)(p->value >> 8);
            out[pos++] = (uint8_t)p->value;
            break;
        }
    }
    *out_len = pos;
    return VT_OK;
}

/* spec/auth.md AUTH-10, AUTH-12: label || 00 || lp(server_key) || fields. */
vt_err vt_transcript_register(uint8_t *out, size_t cap, size_t *out_len,
                              const uint8_t server_key[32], const uint8_t *nonce,
                              size_t nonce_len, const char *username,
                              const uint8_t identity_key[32])
{
    if (server_key == NULL || (nonce == NULL && nonce_len > 0) || username == NULL ||
        identity_key == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    const part parts[] = {
        RAW(VT_LABEL_REGISTER, VT_LABEL_REGISTER_LEN),
        RAW(zero_byte, 1),
        LP(server_key, VT_KEY_LEN),
        LP(nonce, nonce_len),
        LP(username, strlen(username)),
        LP(identity_key, VT_KEY_LEN),
    };
    return build(out, cap, out_len, parts, sizeof parts / sizeof parts[0]);
}

/* Login and account deletion sign the same fields under different labels
 * (spec/auth.md): label || 00 || lp(server_key) || lp(nonce) ||
 * lp(username) || u32be(device_id). */
static vt_err nonce_device_transcript(uint8_t *out, size_t cap, size_t *out_len,
                                      const char *label, size_t label_len,
                                      const uint8_t server_key[32], const uint8_t *nonce,
                                      size_t nonce_len, const char *username,
                                      uint32_t device_id)
{
    if (server_key == NULL || (nonce == NULL && nonce_len > 0) || username == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    const part parts[] = {
        RAW(label, label_len),
        RAW(zero_byte, 1),
        LP(server_key, VT_KEY_LEN),
        LP(nonce, nonce_len),
        LP(username, strlen(username)),
        U32(device_id),
    };
    return build(out, cap, out_len, parts, sizeof parts / sizeof parts[0]);
}

vt_err vt_transcript_login(uint8_t *out, size_t cap, size_t *out_len,
                           const uint8_t server_key[32], const uint8_t *nonce, size_t nonce_len,
                           const char *username, uint32_t device_id)
{
    return nonce_device_transcript(out, cap, out_len, VT_LABEL_LOGIN, VT_LABEL_LOGIN_LEN,
                                   server_key, nonce, nonce_len, username, device_id);
}

vt_err vt_transcript_link(uint8_t *out, size_t cap, size_t *out_len,
                          const uint8_t server_key[32], const char *username,
                          uint32_t approving_device_id, const uint8_t new_identity_key[32])
{
    if (server_key == NULL || username == NULL || new_identity_key == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    const part parts[] = {
        RAW(VT_LABEL_LINK, VT_LABEL_LINK_LEN),
        RAW(zero_byte, 1),
        LP(server_key, VT_KEY_LEN),
        LP(username, strlen(username)),
        U32(approving_device_id),
        LP(new_identity_key, VT_KEY_LEN),
    };
    return build(out, cap, out_len, parts, sizeof parts / sizeof parts[0]);
}

vt_err vt_transcript_delete_account(uint8_t *out, size_t cap, size_t *out_len,
                                    const uint8_t server_key[32], const uint8_t *nonce,
                                    size_t nonce_len, const char *username, uint32_t device_id)
{
    return nonce_device_transcript(out, cap, out_len, VT_LABEL_DELETE_ACCOUNT,
                                   VT_LABEL_DELETE_ACCOUNT_LEN, server_key, nonce, nonce_len,
                                   username, device_id);
}

/* spec/crypto.md CRYPTO-21: label || 00 || u32be(id) || lp(public_key); no
 * server key, since prekeys are checked end to end. */
vt_err vt_transcript_prekey(uint8_t *out, size_t cap, size_t *out_len, bool last_resort,
                            uint32_t prekey_id, const uint8_t public_key[32])
{
    if (public_key == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    const part parts[] = {
        last_resort ? RAW(VT_LABEL_LAST_RESORT, VT_LABEL_LAST_RESORT_LEN)
                    : RAW(VT_LABEL_PREKEY, VT_LABEL_PREKEY_LEN),
        RAW(zero_byte, 1),
        U32(prekey_id),
        LP(public_key, VT_KEY_LEN),
    };
    return build(out, cap, out_len, parts, sizeof parts / sizeof parts[0]);
}
