/* libventra Double Ratchet: session state, encryption, decryption and the
 * versioned binary serialization of a session for the client's store.
 * Implements spec/crypto.md section 6 (CRYPTO-80 to CRYPTO-104). */
#ifndef VENTRA_RATCHET_H
#define VENTRA_RATCHET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef VT_RATCHET_MUST_CHECK
#define VT_RATCHET_MUST_CHECK __attribute__((warn_unused_result))
#endif

/* A source of random bytes: fills |out| with |len| bytes, returns VT_OK or
 * an error (which aborts the operation that asked, state unchanged). Every
 * draw the spec names (the X3DH ephemeral key, each new ratchet key pair)
 * goes through one, in the order the spec lists, so recorded vectors can be
 * replayed. */
typedef vt_err (*vt_rng_fn)(void *ctx, uint8_t *out, size_t len);

typedef struct vt_rng {
    vt_rng_fn fn;
    void *ctx;
} vt_rng;

/* The default source: the operating system's CSPRNG (vt_random_bytes,
 * CRYPTO-10). |ctx| is ignored. Functions below take a `const vt_rng *`
 * and use this one when it is NULL. */
VT_RATCHET_MUST_CHECK vt_err vt_rng_system(void *ctx, uint8_t *out, size_t len);

/* Session roles (spec/crypto.md 6.1). */
typedef enum vt_ratchet_role {
    VT_RATCHET_INITIATOR = 0,
    VT_RATCHET_RESPONDER = 1,
} vt_ratchet_role;

/* Length of the session AD (CRYPTO-55), of a header (CRYPTO-86) and the
 * overhead of a ratchet message over its plaintext (CRYPTO-87). */
#define VT_RATCHET_AD_LEN 65u
#define VT_RATCHET_OVERHEAD 57u

/* A session: every variable of spec/crypto.md 6.1. Opaque; the keys live in
 * sodium_malloc'd memory and are wiped when freed. Not thread-safe: one
 * thread at a time per session. */
typedef struct vt_ratchet vt_ratchet;

/* The X3DH fields an initiator repeats in every PrekeyMessage until the
 * session is confirmed (CRYPTO-60, CRYPTO-61). Public values only. */
typedef struct vt_x3dh_fields {
    uint8_t identity_key[32]; /* IK_A, the initiator's Ed25519 key */
    uint8_t base_key[32];     /* EK.public */
    uint32_t signed_prekey_id;
    uint32_t one_time_prekey_id;    /* 0 when none */
    uint32_t last_resort_prekey_id; /* 0 when none */
} vt_x3dh_fields;

/* RatchetInitAlice(SK, spk_public) (CRYPTO-84) for a session whose AD is
 * |ad| and whose X3DH fields are |x3dh| (remote identity key = AD[33..65],
 * base key = x3dh->base_key). Draws one key pair from |rng| (NULL: system).
 * Normally called by vt_x3dh_initiate; public for vectors and tests.
 * On success *out is a new session the caller frees with vt_ratchet_free;
 * on failure *out is untouched.
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL argument, AD version byte not 1),
 * VT_ERR_CRYPTO (all-zero DH output, CRYPTO-2), VT_ERR_NO_MEMORY, or the
 * rng's error. */
VT_RATCHET_MUST_CHECK vt_err vt_ratchet_init_alice(vt_ratchet **out, const uint8_t sk[32],
                                                   const uint8_t spk_public[32],
                                                   const uint8_t ad[VT_RATCHET_AD_LEN],
                                                   const vt_x3dh_fields *x3dh,
                                                   const vt_rng *rng);

/* RatchetInitBob(SK, spk_pair) (CRYPTO-85); AD as above (remote identity
 * key = AD[1..33]), |base_key| the initiator's EK.public. No random draw.
 * Errors: VT_ERR_INVALID_ARGUMENT, VT_ERR_NO_MEMORY. */
VT_RATCHET_MUST_CHECK vt_err vt_ratchet_init_bob(vt_ratchet **out, const uint8_t sk[32],
                                                 const uint8_t spk_public[32],
                                                 const uint8_t spk_private[32],
                                                 const uint8_t ad[VT_RATCHET_AD_LEN],
                                                 const uint8_t base_key[32]);

/* Frees |r| after wiping every key and skipped key. NULL is allowed. */
void vt_ratchet_free(vt_ratchet *r);

/* A deep copy of |r| into *out (untouched on failure). VT_ERR_NO_MEMORY. */
VT_RATCHET_MUST_CHECK vt_err vt_ratchet_clone(vt_ratchet **out, const vt_ratchet *r);

/* RatchetEncrypt (CRYPTO-89): writes header || ciphertext || tag, that is
 * |pt_len| + VT_RATCHET_OVERHEAD bytes, into |out| (capacity |cap|), sets
 * *out_len, and advances the sending chain. The caller MUST store the
 * advanced state durably before the output leaves the device (CRYPTO-93).
 * |out| must not overlap |pt|.
 * On any error the state is unchanged and *out_len is 0.
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL argument; |pt| may be NULL only when
 * |pt_len| is 0), VT_ERR_STATE (no sending chain), VT_ERR_LIMIT_EXCEEDED
 * (Ns = 0xffffffff, CRYPTO-92), VT_ERR_BUFFER_TOO_SMALL, VT_ERR_CRYPTO. */
VT_RATCHET_MUST_CHECK vt_err vt_ratchet_encrypt(vt_ratchet *r, uint8_t *out, size_t cap,
                                                size_t *out_len, const uint8_t *pt,
                                                size_t pt_len);

/* RatchetDecrypt (CRYPTO-90) at time |now| (Unix seconds; the library reads
 * no clock). Decrypts into a scratch state and commits it only after the tag
 * has verified (CRYPTO-97, CRYPTO-98): on any error the session is byte for
 * byte unchanged, |pt| holds no plaintext and *pt_len is 0. The plaintext is
 * |msg_len| - VT_RATCHET_OVERHEAD bytes. A DH ratchet step draws one key
 * pair from |rng| (NULL: system).
 * Errors, in the spec's order: VT_ERR_INVALID_ARGUMENT (too short, version
 * byte not 1, N = 0xffffffff; NULL argument), VT_ERR_BUFFER_TOO_SMALL
 * (|cap| below the plaintext length), VT_ERR_DECRYPT (tag fails; key used,
 * expired or evicted), VT_ERR_LIMIT_EXCEEDED (more than MAX_SKIP to skip),
 * VT_ERR_CRYPTO (low-order ratchet key), VT_ERR_NO_MEMORY, the rng's error. */
VT_RATCHET_MUST_CHECK vt_err vt_ratchet_decrypt(vt_ratchet *r, uint8_t *pt, size_t cap,
                                                size_t *pt_len, const uint8_t *msg,
                                                size_t msg_len, uint64_t now,
                                                const vt_rng *rng);

/* Read-only views of the state (public values and flags). */
vt_ratchet_role vt_ratchet_get_role(const vt_ratchet *r);
bool vt_ratchet_confirmed(const vt_ratchet *r);
const uint8_t *vt_ratchet_ad(const vt_ratchet *r);        /* 65 bytes */
const uint8_t *vt_ratchet_remote_ik(const vt_ratchet *r); /* 32 bytes */
const uint8_t *vt_ratchet_base_key(const vt_ratchet *r);  /* 32 bytes */
/* The initiator's X3DH fields (CRYPTO-61): VT_OK for an initiator session,
 * VT_ERR_STATE for a responder session. */
VT_RATCHET_MUST_CHECK vt_err vt_ratchet_x3dh_fields(const vt_ratchet *r,
                                                    vt_x3dh_fields *out);
/* Number of stored skipped message keys. */
size_t vt_ratchet_skipped_count(const vt_ratchet *r);

/* The whole state as in spec/crypto.md 6.1, for vectors and tests. The
 * secret fields are copies; the caller wipes the struct (vt_wipe) and
 * frees `skipped` with vt_ratchet_state_clear. */
typedef struct vt_ratchet_skipped {
    uint8_t dh[32];
    uint32_t n;
    uint8_t mk[32];
    uint64_t stored_at;
} vt_ratchet_skipped;

typedef struct vt_ratchet_state {
    vt_ratchet_role role;
    bool confirmed;
    uint8_t ad[VT_RATCHET_AD_LEN];
    uint8_t remote_ik[32];
    uint8_t base_key[32];
    vt_x3dh_fields x3dh; /* zero for a responder */
    uint8_t dhs_public[32], dhs_private[32];
    bool has_dhr, has_cks, has_ckr;
    uint8_t dhr[32], rk[32], cks[32], ckr[32];
    uint32_t ns, nr, pn;
    size_t skipped_len;
    vt_ratchet_skipped *skipped; /* oldest first; owned, wiped by clear */
} vt_ratchet_state;

/* Fills *st with a copy of the state. VT_ERR_NO_MEMORY. */
VT_RATCHET_MUST_CHECK vt_err vt_ratchet_export_state(const vt_ratchet *r,
                                                     vt_ratchet_state *st);
/* Wipes and frees what export_state allocated, and wipes *st. NULL ok. */
void vt_ratchet_state_clear(vt_ratchet_state *st);
/* Makes a session from an explicit state (vectors). Checks only the form
 * (role, skipped count at most MAX_SKIPPED_KEYS). VT_ERR_INVALID_ARGUMENT,
 * VT_ERR_NO_MEMORY. */
VT_RATCHET_MUST_CHECK vt_err vt_ratchet_import_state(vt_ratchet **out,
                                                     const vt_ratchet_state *st);

/* Serialization for the client's store (ratchet_serial.c). The format is
 * private to libventra and versioned by its first byte (currently 1).
 * vt_ratchet_serialized_len gives the exact size; vt_ratchet_serialize
 * writes it (VT_ERR_BUFFER_TOO_SMALL when |cap| is less). The output holds
 * keys: the caller wipes it. vt_ratchet_deserialize rejects an unknown
 * version, truncated or trailing bytes and any malformed field with
 * VT_ERR_INVALID_ARGUMENT; *out untouched on failure. */
size_t vt_ratchet_serialized_len(const vt_ratchet *r);
VT_RATCHET_MUST_CHECK vt_err vt_ratchet_serialize(const vt_ratchet *r, uint8_t *out,
                                                  size_t cap, size_t *out_len);
VT_RATCHET_MUST_CHECK vt_err vt_ratchet_deserialize(vt_ratchet **out, const uint8_t *in,
                                                    size_t len);
#define VT_RATCHET_SERIAL_VERSION 1u

#ifdef __cplusplus
}
#endif

#endif
