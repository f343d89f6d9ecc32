/* The crypto vectors (conformance/vectors/crypto, the *.json files, written by the
 * independent Python oracle; format in FORMAT.md there) run through
 * libventra: KDFs and AEAD, identity keys, X25519, prekey and auth
 * signatures, X3DH on both sides, scripted ratchet sessions, padding and
 * safety numbers (spec/crypto.md, spec/auth.md). Valid vectors must give
 * exactly their outputs; invalid ones must fail with exactly their error and
 * change no state. Every disagreement of a case is listed in its detail. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ventra/crypto.h"
#include "ventra/identity.h"
#include "ventra/prekeys.h"
#include "ventra/ratchet.h"
#include "ventra/safety.h"
#include "ventra/session.h"
#include "ventra/x3dh.h"
#include "vectors.h"
#include "vectors_int.h"
#include "vt_constants.h"

#define MAX_BYTES 4096

/* ---- reporting --------------------------------------------------------- */

/* The disagreements of the case being run, "; "-separated. */
static vt_conform_detail *detail;

#define mismatch(...) vt_conform_detail_add(detail, __VA_ARGS__)

/* ---- JSON helpers ------------------------------------------------------ */

typedef struct bytes {
    uint8_t b[MAX_BYTES];
    size_t len;
} bytes;

static bool hexval(char c, uint8_t *v)
{
    if (c >= '0' && c <= '9')
        *v = (uint8_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
        *v = (uint8_t)(c - 'a' + 10);
    else
        return false;
    return true;
}

/* The hex string |key| of |o| into |out|; false (and a failure) when absent
 * or malformed. */
static bool get_hex(json_t *o, const char *key, bytes *out)
{
    const char *s = json_string_value(json_object_get(o, key));
    size_t n = s != NULL ? strlen(s) : 0;
    if (s == NULL || n % 2 != 0 || n / 2 > MAX_BYTES) {
        mismatch("field %s missing or not hex", key);
        return false;
    }
    for (size_t i = 0; i < n / 2; i++) {
        uint8_t hi, lo;
        if (!hexval(s[2 * i], &hi) || !hexval(s[2 * i + 1], &lo)) {
            mismatch("field %s not hex", key);
            return false;
        }
        out->b[i] = (uint8_t)(hi << 4 | lo);
    }
    out->len = n / 2;
    return true;
}

static bool get_key(json_t *o, const char *key, uint8_t out[32])
{
    bytes b;
    if (!get_hex(o, key, &b))
        return false;
    if (b.len != 32) {
        mismatch("field %s is %zu bytes, not 32", key, b.len);
        return false;
    }
    memcpy(out, b.b, 32);
    return true;
}

static uint64_t get_uint(json_t *o, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(o, key));
}

static void expect_bytes(json_t *o, const char *key, const uint8_t *got, size_t len)
{
    bytes want;
    if (!get_hex(o, key, &want))
        return;
    if (want.len != len || memcmp(want.b, got, len) != 0) {
        char buf[2 * 200 + 1];
        size_t n = len < 200 ? len : 200;
        for (size_t i = 0; i < n; i++)
            snprintf(buf + 2 * i, 3, "%02x", got[i]);
        buf[2 * n] = '\0';
        mismatch("%s differs: got %s%s", key, buf, len > n ? "..." : "");
    }
}

static void expect_err(json_t *t, vt_err got, const char *what)
{
    bool valid = strcmp(json_string_value(json_object_get(t, "result")), "valid") == 0;
    const char *want =
        valid ? "ERROR_OK" : json_string_value(json_object_get(t, "error"));
    const char *name = got == VT_OK ? "ERROR_OK" : vt_err_name(got);
    if (name == NULL || want == NULL || strcmp(name, want) != 0)
        mismatch("%s: got %s, want %s", what, name ? name : "?", want ? want : "?");
}

static bool is_valid(json_t *t)
{
    return strcmp(json_string_value(json_object_get(t, "result")), "valid") == 0;
}

/* ---- a random source replaying a vector's draws ------------------------ */

typedef struct replay {
    json_t *draws;
    size_t next;
} replay;

static vt_err replay_rng(void *ctx, uint8_t *out, size_t len)
{
    replay *r = ctx;
    const char *s = json_string_value(json_array_get(r->draws, r->next));
    if (s == NULL || strlen(s) != 2 * len)
        return VT_ERR_STATE; /* the vector did not supply this draw */
    for (size_t i = 0; i < len; i++) {
        uint8_t hi = 0, lo = 0;
        if (!hexval(s[2 * i], &hi) || !hexval(s[2 * i + 1], &lo))
            return VT_ERR_STATE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    r->next++;
    return VT_OK;
}

/* ---- state comparison (FORMAT.md, "A state") --------------------------- */

static void expect_opt_key(json_t *st, const char *key, bool set, const uint8_t v[32],
                           const char *where)
{
    json_t *j = json_object_get(st, key);
    if (json_is_null(j)) {
        if (set)
            mismatch("%s.%s: set here, unset in the vector", where, key);
        return;
    }
    if (!set) {
        mismatch("%s.%s: unset here, set in the vector", where, key);
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "%s.%s", where, key);
    bytes w;
    if (get_hex(st, key, &w) && (w.len != 32 || memcmp(w.b, v, 32) != 0))
        mismatch("%s differs", name);
}

static void expect_state(json_t *st, const vt_ratchet *r, const char *where)
{
    if (!json_is_object(st)) {
        mismatch("%s: no state in the vector", where);
        return;
    }
    vt_ratchet_state s;
    if (vt_ratchet_export_state(r, &s) != VT_OK) {
        mismatch("%s: export failed", where);
        return;
    }
    const char *role = json_string_value(json_object_get(st, "role"));
    const char *mine = s.role == VT_RATCHET_INITIATOR ? "initiator" : "responder";
    if (role == NULL || strcmp(role, mine) != 0)
        mismatch("%s.role: %s", where, mine);
    if (json_is_true(json_object_get(st, "confirmed")) != s.confirmed)
        mismatch("%s.confirmed: %d", where, s.confirmed);
    bytes w;
    if (get_hex(st, "ad", &w) && (w.len != 65 || memcmp(w.b, s.ad, 65) != 0))
        mismatch("%s.ad differs", where);
    if (get_hex(st, "dhsPublic", &w) &&
        (w.len != 32 || memcmp(w.b, s.dhs_public, 32) != 0))
        mismatch("%s.dhsPublic differs", where);
    if (get_hex(st, "rk", &w) && (w.len != 32 || memcmp(w.b, s.rk, 32) != 0))
        mismatch("%s.rk differs", where);
    expect_opt_key(st, "dhr", s.has_dhr, s.dhr, where);
    expect_opt_key(st, "cks", s.has_cks, s.cks, where);
    expect_opt_key(st, "ckr", s.has_ckr, s.ckr, where);
    if (get_uint(st, "ns") != s.ns || get_uint(st, "nr") != s.nr ||
        get_uint(st, "pn") != s.pn)
        mismatch("%s: Ns/Nr/PN %u/%u/%u differ from %llu/%llu/%llu", where, s.ns, s.nr,
                 s.pn, (unsigned long long)get_uint(st, "ns"),
                 (unsigned long long)get_uint(st, "nr"),
                 (unsigned long long)get_uint(st, "pn"));
    if (get_uint(st, "skippedCount") != s.skipped_len)
        mismatch("%s.skippedCount: %zu", where, s.skipped_len);
    crypto_hash_sha256_state h;
    uint8_t dig[32];
    crypto_hash_sha256_init(&h);
    for (size_t i = 0; i < s.skipped_len; i++) {
        uint8_t e[76];
        memcpy(e, s.skipped[i].dh, 32);
        for (int k = 0; k < 4; k++)
            e[32 + k] = (uint8_t)(s.skipped[i].n >> (24 - 8 * k));
        memcpy(e + 36, s.skipped[i].mk, 32);
        for (int k = 0; k < 8; k++)
            e[68 + k] = (uint8_t)(s.skipped[i].stored_at >> (56 - 8 * k));
        crypto_hash_sha256_update(&h, e, sizeof e);
    }
    crypto_hash_sha256_final(&h, dig);
    if (get_hex(st, "skippedDigest", &w) && (w.len != 32 || memcmp(w.b, dig, 32) != 0))
        mismatch("%s.skippedDigest differs", where);
    vt_ratchet_state_clear(&s);
}

/* ---- HkdfLabel, Aead --------------------------------------------------- */

static void check_hkdf_call(json_t *t, const uint8_t *salt, size_t salt_len,
                            const uint8_t *ikm, size_t ikm_len, const char *info,
                            size_t info_len, size_t len)
{
    expect_bytes(t, "salt", salt, salt_len);
    expect_bytes(t, "ikm", ikm, ikm_len);
    expect_bytes(t, "info", (const uint8_t *)info, info_len);
    if (get_uint(t, "length") != len)
        mismatch("length");
    uint8_t okm[64];
    if (vt_hkdf_sha256(okm, len, salt, salt_len, ikm, ikm_len, (const uint8_t *)info,
                       info_len) != VT_OK)
        mismatch("hkdf failed");
    else
        expect_bytes(t, "okm", okm, len);
}

static void run_hkdf_label(json_t *t)
{
    static const uint8_t zero32[32];
    const char *fn = json_string_value(json_object_get(t, "function"));
    bytes a, b;
    uint8_t out[64];
    if (fn == NULL) {
        mismatch("no function");
    } else if (strcmp(fn, "X3DH_SK") == 0) {
        json_t *dh = json_object_get(t, "dh");
        uint8_t ikm[160];
        size_t n = json_array_size(dh);
        memset(ikm, 0xff, 32);
        for (size_t i = 0; i < n && i < 4; i++) {
            json_t *wrap = json_pack("{sO}", "v", json_array_get(dh, i));
            if (get_hex(wrap, "v", &a) && a.len == 32)
                memcpy(ikm + 32 + 32 * i, a.b, 32);
            json_decref(wrap);
        }
        check_hkdf_call(t, zero32, 32, ikm, 32 * (n + 1), VT_LABEL_X3DH,
                        VT_LABEL_X3DH_LEN, 32);
        if (vt_hkdf_sha256(out, 32, zero32, 32, ikm, 32 * (n + 1),
                           (const uint8_t *)VT_LABEL_X3DH, VT_LABEL_X3DH_LEN) == VT_OK)
            expect_bytes(t, "sk", out, 32);
    } else if (strcmp(fn, "KDF_RK") == 0) {
        if (get_hex(t, "rk", &a) && get_hex(t, "dhOut", &b)) {
            check_hkdf_call(t, a.b, a.len, b.b, b.len, VT_LABEL_RATCHET_ROOT,
                            VT_LABEL_RATCHET_ROOT_LEN, 64);
            if (vt_hkdf_sha256(out, 64, a.b, a.len, b.b, b.len,
                               (const uint8_t *)VT_LABEL_RATCHET_ROOT,
                               VT_LABEL_RATCHET_ROOT_LEN) == VT_OK) {
                expect_bytes(t, "rootKey", out, 32);
                expect_bytes(t, "chainKey", out + 32, 32);
            }
        }
    } else if (strcmp(fn, "KDF_CK") == 0) {
        static const uint8_t one = 1, two = 2;
        if (get_hex(t, "ck", &a) && vt_hmac_sha256(out, a.b, a.len, &one, 1) == VT_OK &&
            vt_hmac_sha256(out + 32, a.b, a.len, &two, 1) == VT_OK) {
            expect_bytes(t, "messageKey", out, 32);
            expect_bytes(t, "nextChainKey", out + 32, 32);
        }
    } else if (strcmp(fn, "EXPAND") == 0) {
        if (get_hex(t, "mk", &a)) {
            check_hkdf_call(t, zero32, 32, a.b, a.len, VT_LABEL_MESSAGE_KEYS,
                            VT_LABEL_MESSAGE_KEYS_LEN, 44);
            if (vt_hkdf_sha256(out, 44, zero32, 32, a.b, a.len,
                               (const uint8_t *)VT_LABEL_MESSAGE_KEYS,
                               VT_LABEL_MESSAGE_KEYS_LEN) == VT_OK) {
                expect_bytes(t, "aesKey", out, 32);
                expect_bytes(t, "nonce", out + 32, 12);
            }
        }
    } else {
        mismatch("unknown function %s", fn);
    }
}

static void run_aead(json_t *t)
{
    static bytes key, nonce, pt, aad, ct, out;
    if (!get_hex(t, "key", &key) || !get_hex(t, "nonce", &nonce) ||
        !get_hex(t, "plaintext", &pt) || !get_hex(t, "aad", &aad) ||
        !get_hex(t, "ciphertext", &ct))
        return;
    if (key.len != 32 || nonce.len != 12) {
        mismatch("key/nonce length");
        return;
    }
    if (is_valid(t)) {
        if (vt_aes256gcm_encrypt(out.b, pt.b, pt.len, aad.b, aad.len, key.b, nonce.b) !=
            VT_OK)
            mismatch("encrypt failed");
        else
            expect_bytes(t, "ciphertext", out.b, pt.len + 16);
    }
    vt_err rc = vt_aes256gcm_decrypt(out.b, ct.b, ct.len, aad.b, aad.len, key.b, nonce.b);
    expect_err(t, rc, "decrypt");
    if (rc == VT_OK)
        expect_bytes(t, "plaintext", out.b, ct.len - 16);
}

/* ---- Identity, X25519 -------------------------------------------------- */

static void run_identity(json_t *t)
{
    uint8_t seed[32], pub[32], xpub[32], sk[64], xpriv[32];
    if (json_object_get(t, "seed") == NULL) {
        if (get_key(t, "ed25519Public", pub))
            expect_err(t, vt_ed25519_pk_to_x25519(xpub, pub), "pk_to_x25519");
        return;
    }
    if (!get_key(t, "seed", seed))
        return;
    vt_identity *id = NULL;
    if (vt_identity_from_seed(&id, seed) != VT_OK) {
        mismatch("identity_from_seed failed");
        return;
    }
    expect_bytes(t, "ed25519Public", vt_identity_public(id), 32);
    expect_bytes(t, "x25519Public", vt_identity_x25519_public(id), 32);
    if (vt_ed25519_keypair_from_seed(pub, sk, seed) == VT_OK &&
        vt_ed25519_sk_to_x25519(xpriv, sk) == VT_OK)
        expect_bytes(t, "x25519Private", xpriv, 32);
    else
        mismatch("sk_to_x25519 failed");
    if (vt_ed25519_pk_to_x25519(xpub, pub) == VT_OK)
        expect_bytes(t, "x25519Public", xpub, 32);
    else
        mismatch("pk_to_x25519 failed");
    vt_wipe(sk, sizeof sk);
    vt_wipe(xpriv, sizeof xpriv);
    vt_identity_free(id);
}

static void run_x25519(json_t *t)
{
    uint8_t priv[32], pub[32], out[32];
    if (!get_key(t, "private", priv) || !get_key(t, "public", pub))
        return;
    vt_err rc = vt_x25519(out, priv, pub);
    expect_err(t, rc, "x25519");
    if (rc == VT_OK)
        expect_bytes(t, "shared", out, 32);
}

/* ---- PrekeySignature, AuthTranscript ----------------------------------- */

static void run_prekey_signature(json_t *t)
{
    uint8_t ik[32], pk[32], tr[VT_TRANSCRIPT_MAX];
    bytes sig;
    size_t tl;
    const char *label = json_string_value(json_object_get(t, "label"));
    bool lr = label != NULL && strcmp(label, "LABEL_LAST_RESORT") == 0;
    uint32_t id = (uint32_t)get_uint(t, "prekeyId");
    if (!get_key(t, "identityKey", ik) || !get_key(t, "prekeyPublic", pk) ||
        !get_hex(t, "signature", &sig))
        return;
    if (vt_transcript_prekey(tr, sizeof tr, &tl, lr, id, pk) != VT_OK)
        mismatch("transcript failed");
    else if (json_object_get(t, "transcript") != NULL) /* absent in some invalid tests */
        if (json_object_get(t, "transcript") != NULL)  /* absent in some invalid tests */
            expect_bytes(t, "transcript", tr, tl);
    if (sig.len != 64) {
        mismatch("signature length");
        return;
    }
    expect_err(t, vt_prekey_signature_verify(ik, lr, id, pk, sig.b), "verify");
    uint8_t seed[32], pub[32], sk[64], mine[64];
    if (json_object_get(t, "seed") != NULL && get_key(t, "seed", seed) && is_valid(t)) {
        if (vt_ed25519_keypair_from_seed(pub, sk, seed) != VT_OK ||
            vt_ed25519_sign(mine, tr, tl, sk) != VT_OK)
            mismatch("sign failed");
        else
            expect_bytes(t, "signature", mine, 64);
        vt_wipe(sk, sizeof sk);
    }
}

static void run_auth_transcript(json_t *t)
{
    const char *purpose = json_string_value(json_object_get(t, "purpose"));
    const char *user = json_string_value(json_object_get(t, "username"));
    uint8_t server[32], tr[VT_TRANSCRIPT_MAX], k[32], signer[32];
    bytes nonce, sig;
    size_t tl = 0;
    vt_err rc = VT_ERR_INVALID_ARGUMENT;
    if (purpose == NULL || user == NULL || !get_key(t, "serverKey", server) ||
        !get_key(t, "signerPublic", signer) || !get_hex(t, "signature", &sig))
        return;
    if (strcmp(purpose, "link") != 0 && !get_hex(t, "nonce", &nonce))
        return;
    if (strcmp(purpose, "register") == 0) {
        if (get_key(t, "identityKey", k))
            rc = vt_transcript_register(tr, sizeof tr, &tl, server, nonce.b, nonce.len,
                                        user, k);
    } else if (strcmp(purpose, "login") == 0) {
        rc = vt_transcript_login(tr, sizeof tr, &tl, server, nonce.b, nonce.len, user,
                                 (uint32_t)get_uint(t, "deviceId"));
    } else if (strcmp(purpose, "delete-account") == 0) {
        rc = vt_transcript_delete_account(tr, sizeof tr, &tl, server, nonce.b, nonce.len,
                                          user, (uint32_t)get_uint(t, "deviceId"));
    } else if (strcmp(purpose, "link") == 0) {
        if (get_key(t, "newIdentityKey", k))
            rc = vt_transcript_link(tr, sizeof tr, &tl, server, user,
                                    (uint32_t)get_uint(t, "approvingDeviceId"), k);
    } else {
        mismatch("unknown purpose %s", purpose);
        return;
    }
    if (rc != VT_OK) {
        mismatch("transcript failed: %s", vt_err_name(rc));
        return;
    }
    if (json_object_get(t, "transcript") != NULL) /* absent in some invalid tests */
        expect_bytes(t, "transcript", tr, tl);
    if (sig.len != 64) {
        mismatch("signature length");
        return;
    }
    expect_err(t, vt_ed25519_verify(sig.b, tr, tl, signer), "verify");
    uint8_t seed[32], pub[32], sk[64], mine[64];
    if (is_valid(t) && json_object_get(t, "signerSeed") != NULL &&
        get_key(t, "signerSeed", seed)) {
        if (vt_ed25519_keypair_from_seed(pub, sk, seed) != VT_OK ||
            vt_ed25519_sign(mine, tr, tl, sk) != VT_OK)
            mismatch("sign failed");
        else
            expect_bytes(t, "signature", mine, 64);
        vt_wipe(sk, sizeof sk);
    }
}

/* ---- X3DH -------------------------------------------------------------- */

/* CRYPTO-45 on the JSON form of a PrekeyBundle, then the struct. This is the
 * protobuf-to-struct step a client performs before vt_x3dh_initiate. */
static vt_err bundle_from_json(json_t *t, json_t *jb, vt_bundle *b)
{
    memset(b, 0, sizeof *b);
    json_t *req = json_object_get(t, "requestedDeviceIds"), *v;
    size_t i;
    bool asked = false;
    json_array_foreach(req, i, v)
    {
        if (json_integer_value(v) == json_integer_value(json_object_get(jb, "deviceId")))
            asked = true;
    }
    if (!asked)
        return VT_ERR_INVALID_ARGUMENT;
    bytes x;
    if (!get_hex(jb, "identityKey", &x) || x.len != 32)
        return VT_ERR_INVALID_ARGUMENT;
    memcpy(b->identity_key, x.b, 32);
    json_t *spk = json_object_get(jb, "signedPrekey");
    json_t *otk = json_object_get(jb, "oneTimePrekey");
    json_t *lr = json_object_get(jb, "lastResortPrekey");
    if (spk == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    json_t *keys[3] = {spk, otk, lr};
    for (int k = 0; k < 3; k++) {
        if (keys[k] == NULL)
            continue;
        if (get_uint(keys[k], "id") == 0 || !get_hex(keys[k], "publicKey", &x) ||
            x.len != 32)
            return VT_ERR_INVALID_ARGUMENT;
        if (k != 1 && (!get_hex(keys[k], "signature", &x) || x.len != 64))
            return VT_ERR_INVALID_ARGUMENT;
    }
    if (otk != NULL && lr != NULL)
        return VT_ERR_INVALID_ARGUMENT;
    b->signed_prekey_id = (uint32_t)get_uint(spk, "id");
    get_key(spk, "publicKey", b->signed_prekey);
    get_hex(spk, "signature", &x);
    memcpy(b->signed_prekey_sig, x.b, 64);
    if (otk != NULL) {
        b->has_one_time = true;
        b->one_time_id = (uint32_t)get_uint(otk, "id");
        get_key(otk, "publicKey", b->one_time);
    }
    if (lr != NULL) {
        b->has_last_resort = true;
        b->last_resort_id = (uint32_t)get_uint(lr, "id");
        get_key(lr, "publicKey", b->last_resort);
        get_hex(lr, "signature", &x);
        memcpy(b->last_resort_sig, x.b, 64);
    }
    return VT_OK;
}

/* The recorded identity key of the vector, when it has one, must equal
 * |key| (CRYPTO-50 step 49, CRYPTO-65 step 4). */
static vt_err recorded_key_check(json_t *t, const uint8_t key[32])
{
    uint8_t rec[32];
    if (json_object_get(t, "recordedIdentityKey") == NULL)
        return VT_OK;
    if (get_key(t, "recordedIdentityKey", rec) && !vt_equal(rec, key, 32))
        return VT_ERR_PERMISSION_DENIED;
    return VT_OK;
}

static void run_x3dh_initiator(json_t *t)
{
    uint8_t seed[32];
    static bytes pt;
    vt_identity *alice = NULL;
    vt_ratchet *r = NULL;
    vt_bundle b;
    if (!get_key(t, "aliceSeed", seed) || !get_hex(t, "plaintext", &pt))
        return;
    if (vt_identity_from_seed(&alice, seed) != VT_OK) {
        mismatch("identity_from_seed");
        return;
    }
    replay rp = {json_object_get(t, "draws"), 0};
    vt_rng rng = {replay_rng, &rp};
    /* CRYPTO-50: form (45), then identity key and signatures (46-48), then
     * the recorded identity key (49), then the key agreement. */
    vt_err rc = bundle_from_json(t, json_object_get(t, "bundle"), &b);
    if (rc == VT_OK)
        rc = vt_bundle_verify(&b);
    if (rc == VT_OK)
        rc = recorded_key_check(t, b.identity_key);
    if (rc == VT_OK)
        rc = vt_x3dh_initiate(&r, alice, &b, &rng);
    expect_err(t, rc, "initiate");
    if (rc != VT_OK)
        goto out;
    vt_x3dh_fields f;
    static bytes msg, pm;
    if (vt_ratchet_x3dh_fields(r, &f) != VT_OK ||
        vt_ratchet_encrypt(r, msg.b, sizeof msg.b, &msg.len, pt.b, pt.len) != VT_OK ||
        vt_prekey_message_encode(pm.b, sizeof pm.b, &pm.len, &f, msg.b, msg.len) !=
            VT_OK) {
        mismatch("encrypt/encode failed");
        goto out;
    }
    expect_bytes(t, "baseKey", f.base_key, 32);
    expect_bytes(t, "ratchetMessage", msg.b, msg.len);
    expect_bytes(t, "prekeyMessage", pm.b, pm.len);
    expect_bytes(t, "ad", vt_ratchet_ad(r), 65);
    expect_state(json_object_get(t, "state"), r, "state");
    /* SK through the same draws (EK is the first). */
    replay rp2 = {json_object_get(t, "draws"), 0};
    vt_rng rng2 = {replay_rng, &rp2};
    uint8_t sk[32], ad[65], ek[32];
    const uint8_t *opk = b.has_one_time      ? b.one_time
                         : b.has_last_resort ? b.last_resort
                                             : NULL;
    if (vt_x3dh_initiator_secret(sk, ad, ek, alice, b.identity_key, b.signed_prekey, opk,
                                 &rng2) != VT_OK)
        mismatch("initiator_secret failed");
    else
        expect_bytes(t, "sk", sk, 32);
    vt_wipe(sk, sizeof sk);
out:
    vt_ratchet_free(r);
    vt_identity_free(alice);
}

typedef struct holdings {
    json_t *t;
} holdings;

static vt_err lookup(json_t *list, uint32_t id, vt_prekey *out)
{
    size_t i;
    json_t *k;
    json_array_foreach(list, i, k)
    {
        if (get_uint(k, "id") == id) {
            out->id = id;
            if (!get_key(k, "public", out->pub) || !get_key(k, "private", out->priv))
                return VT_ERR_INVALID_ARGUMENT;
            return VT_OK;
        }
    }
    return VT_ERR_NOT_FOUND;
}

static vt_err get_spk(void *ctx, uint32_t id, vt_prekey *out)
{
    return lookup(json_object_get(((holdings *)ctx)->t, "signedPrekeys"), id, out);
}

static vt_err get_otk(void *ctx, uint32_t id, vt_prekey *out)
{
    return lookup(json_object_get(((holdings *)ctx)->t, "oneTimePrekeys"), id, out);
}

static vt_err get_lr(void *ctx, uint32_t id, vt_prekey *out)
{
    return lookup(json_object_get(((holdings *)ctx)->t, "lastResortPrekeys"), id, out);
}

static bool base_used(void *ctx, const uint8_t bk[32])
{
    json_t *list = json_object_get(((holdings *)ctx)->t, "usedBaseKeys"), *v;
    size_t i;
    json_array_foreach(list, i, v)
    {
        json_t *wrap = json_pack("{sO}", "v", v);
        uint8_t k[32];
        bool hit = get_key(wrap, "v", k) && memcmp(k, bk, 32) == 0;
        json_decref(wrap);
        if (hit)
            return true;
    }
    return false;
}

static void run_x3dh_responder(json_t *t)
{
    uint8_t seed[32];
    static bytes pmb, pt;
    vt_identity *bob = NULL;
    vt_ratchet *r = NULL, *const sentinel = (vt_ratchet *)&pmb;
    if (!get_key(t, "bobSeed", seed) || !get_hex(t, "prekeyMessage", &pmb))
        return;
    if (vt_identity_from_seed(&bob, seed) != VT_OK) {
        mismatch("identity_from_seed");
        return;
    }
    holdings h = {t};
    vt_x3dh_keys keys = {&h, bob, get_spk, get_otk, get_lr, base_used};
    replay rp = {json_object_get(t, "draws"), 0};
    vt_rng rng = {replay_rng, &rp};
    vt_prekey_message pm;
    vt_x3dh_commit c, untouched;
    memset(&c, 0xa5, sizeof c);
    untouched = c;
    size_t pl = 0;
    r = sentinel;
    /* CRYPTO-65: decode (1), form and identity key (2, 3), the recorded key
     * (4); step 5 never applies here; then steps 6 to 9. */
    vt_err rc = vt_prekey_message_decode(&pm, pmb.b, pmb.len);
    if (rc == VT_OK)
        rc = vt_prekey_message_check(&pm);
    if (rc == VT_OK)
        rc = recorded_key_check(t, pm.identity_key);
    if (rc == VT_OK)
        rc = vt_x3dh_respond(&r, &c, pt.b, sizeof pt.b, &pl, &pm, &keys,
                             get_uint(t, "now"), &rng);
    expect_err(t, rc, "respond");
    if (rc != VT_OK) {
        /* CRYPTO-72: nothing to store, nothing consumed. */
        if (r != sentinel || memcmp(&c, &untouched, sizeof c) != 0 || pl != 0)
            mismatch("a failed respond wrote its outputs");
        r = NULL;
        goto out;
    }
    expect_bytes(t, "plaintext", pt.b, pl);
    if (get_uint(t, "consumedOneTimePrekeyId") != c.consumed_one_time_id)
        mismatch("consumedOneTimePrekeyId: %u", c.consumed_one_time_id);
    expect_bytes(t, "ad", vt_ratchet_ad(r), 65);
    expect_state(json_object_get(t, "state"), r, "state");
    /* SK again, through the responder's formula. */
    vt_prekey spk, opk;
    bool have_opk = pm.one_time_prekey_id != 0 || pm.last_resort_prekey_id != 0;
    uint8_t sk[32], ad[65];
    if (get_spk(&h, pm.signed_prekey_id, &spk) != VT_OK ||
        (pm.one_time_prekey_id != 0 &&
         get_otk(&h, pm.one_time_prekey_id, &opk) != VT_OK) ||
        (pm.last_resort_prekey_id != 0 &&
         get_lr(&h, pm.last_resort_prekey_id, &opk) != VT_OK) ||
        vt_x3dh_responder_secret(sk, ad, bob, pm.identity_key, pm.base_key, &spk,
                                 have_opk ? &opk : NULL) != VT_OK)
        mismatch("responder_secret failed");
    else
        expect_bytes(t, "sk", sk, 32);
    vt_wipe(sk, sizeof sk);
    vt_wipe(&spk, sizeof spk);
    vt_wipe(&opk, sizeof opk);
out:
    vt_ratchet_free(r);
    vt_identity_free(bob);
}

/* ---- RatchetScript ----------------------------------------------------- */

/* A session's serialized form, in a buffer grown as needed. */
typedef struct ser {
    uint8_t *b;
    size_t len, cap;
} ser;

static bool serialize(const vt_ratchet *r, ser *out)
{
    size_t need = vt_ratchet_serialized_len(r);
    if (need > out->cap) {
        uint8_t *n = realloc(out->b, need);
        if (n == NULL)
            return false;
        out->b = n;
        out->cap = need;
    }
    return vt_ratchet_serialize(r, out->b, out->cap, &out->len) == VT_OK;
}

static void run_ratchet_script(json_t *t)
{
    uint8_t sk[32], spk_pub[32], spk_priv[32];
    bytes ad;
    vt_ratchet *party[2] = {NULL, NULL};
    ser before = {NULL, 0, 0}, after = {NULL, 0, 0};
    if (!get_key(t, "sk", sk) || !get_hex(t, "ad", &ad) || ad.len != 65 ||
        !get_key(t, "bobSpkPrivate", spk_priv) || !get_key(t, "bobSpkPublic", spk_pub))
        return;
    json_t *draw = json_pack("[O]", json_object_get(t, "aliceInitDraw"));
    replay rp0 = {draw, 0};
    vt_rng rng0 = {replay_rng, &rp0};
    vt_x3dh_fields f;
    memset(&f, 0, sizeof f);
    vt_err rc = vt_ratchet_init_alice(&party[0], sk, spk_pub, ad.b, &f, &rng0);
    json_decref(draw);
    if (rc != VT_OK || vt_ratchet_init_bob(&party[1], sk, spk_pub, spk_priv, ad.b,
                                           f.base_key) != VT_OK) {
        mismatch("init failed");
        goto out;
    }
    expect_state(json_object_get(t, "aliceState0"), party[0], "aliceState0");
    expect_state(json_object_get(t, "bobState0"), party[1], "bobState0");
    json_t *steps = json_object_get(t, "steps"), *st;
    size_t i;
    static bytes pt, msg, out;
    json_array_foreach(steps, i, st)
    {
        char where[48];
        snprintf(where, sizeof where, "step %zu", i);
        const char *who = json_string_value(json_object_get(st, "party"));
        const char *op = json_string_value(json_object_get(st, "op"));
        const char *want_err = json_string_value(json_object_get(st, "error"));
        if (who == NULL || op == NULL) {
            mismatch("%s: no party/op", where);
            break;
        }
        vt_ratchet *r = party[strcmp(who, "alice") == 0 ? 0 : 1];
        if (!serialize(r, &before)) {
            mismatch("%s: serialize", where);
            break;
        }
        size_t n = 0;
        if (strcmp(op, "encrypt") == 0) {
            if (!get_hex(st, "plaintext", &pt))
                break;
            size_t reps = json_object_get(st, "repeat") ? get_uint(st, "repeat") : 1;
            rc = VT_OK;
            for (size_t k = 0; k < reps && rc == VT_OK; k++)
                rc = vt_ratchet_encrypt(r, out.b, sizeof out.b, &n, pt.b, pt.len);
            if (rc == VT_OK && want_err == NULL)
                expect_bytes(st, "message", out.b, n);
        } else {
            if (!get_hex(st, "message", &msg))
                break;
            replay rp = {json_object_get(st, "draws"), 0};
            vt_rng rng = {replay_rng, &rp};
            rc = vt_ratchet_decrypt(r, out.b, sizeof out.b, &n, msg.b, msg.len,
                                    get_uint(st, "now"), &rng);
            if (rc == VT_OK && want_err == NULL)
                expect_bytes(st, "plaintext", out.b, n);
        }
        const char *got = rc == VT_OK ? NULL : vt_err_name(rc);
        if ((got == NULL) != (want_err == NULL) ||
            (got != NULL && strcmp(got, want_err) != 0))
            mismatch("%s (%s %s): got %s, want %s", where, who, op, got ? got : "ok",
                     want_err ? want_err : "ok");
        if (rc != VT_OK) { /* CRYPTO-97: byte for byte unchanged */
            if (!serialize(r, &after) || after.len != before.len ||
                memcmp(after.b, before.b, before.len) != 0)
                mismatch("%s: state changed by a failed step", where);
        }
        expect_state(json_object_get(st, "state"), r, where);
    }
out:
    if (before.b != NULL)
        vt_wipe(before.b, before.cap);
    if (after.b != NULL)
        vt_wipe(after.b, after.cap);
    free(before.b);
    free(after.b);
    vt_ratchet_free(party[0]);
    vt_ratchet_free(party[1]);
}

/* ---- RatchetEncryptFrom ----------------------------------------------- */

/* RatchetEncrypt from a given sending state (CRYPTO-89, CRYPTO-92). */
static void run_encrypt_from(json_t *t)
{
    vt_ratchet_state st;
    static bytes ad, pt, out;
    memset(&st, 0, sizeof st);
    st.role = VT_RATCHET_INITIATOR;
    st.confirmed = true;
    st.has_dhr = st.has_cks = true;
    if (!get_hex(t, "ad", &ad) || ad.len != 65 || !get_hex(t, "plaintext", &pt) ||
        !get_key(t, "dhr", st.dhr) || !get_key(t, "rk", st.rk) ||
        !get_key(t, "cks", st.cks) || !get_key(t, "dhsPrivate", st.dhs_private) ||
        !get_key(t, "dhsPublic", st.dhs_public)) {
        vt_wipe(&st, sizeof st);
        return;
    }
    memcpy(st.ad, ad.b, 65);
    st.ns = (uint32_t)get_uint(t, "ns");
    st.pn = (uint32_t)get_uint(t, "pn");
    vt_ratchet *r = NULL;
    size_t n = 0;
    vt_err rc = vt_ratchet_import_state(&r, &st);
    vt_wipe(&st, sizeof st);
    if (rc != VT_OK) {
        mismatch("import failed");
        return;
    }
    rc = vt_ratchet_encrypt(r, out.b, sizeof out.b, &n, pt.b, pt.len);
    expect_err(t, rc, "encrypt");
    if (rc == VT_OK) {
        vt_ratchet_state after;
        expect_bytes(t, "message", out.b, n);
        if (vt_ratchet_export_state(r, &after) != VT_OK) {
            mismatch("export failed");
        } else {
            expect_bytes(t, "cksAfter", after.cks, 32);
            if (get_uint(t, "nsAfter") != after.ns)
                mismatch("nsAfter: %u", after.ns);
            vt_ratchet_state_clear(&after);
        }
    }
    vt_ratchet_free(r);
}

/* ---- Padding, safety numbers ------------------------------------------- */

static void run_padding(json_t *t)
{
    static bytes in, out;
    size_t n;
    if (!get_hex(t, "unpadded", &in))
        return;
    if (vt_content_padding_len(in.len) != get_uint(t, "paddingLen"))
        mismatch("paddingLen: %zu", vt_content_padding_len(in.len));
    if (vt_content_pad(out.b, sizeof out.b, &n, in.b, in.len) != VT_OK)
        mismatch("pad failed");
    else
        expect_bytes(t, "padded", out.b, n);
}

static void run_padding_receive(json_t *t)
{
    static bytes in, out;
    size_t n;
    if (!get_hex(t, "padded", &in))
        return;
    vt_err rc = vt_content_unpad(out.b, sizeof out.b, &n, in.b, in.len);
    expect_err(t, rc, "unpad");
    if (rc == VT_OK)
        expect_bytes(t, "body", out.b, n);
}

static void run_safety(json_t *t, bool scan)
{
    uint8_t lik[32], rik[32], fp[64], qr[65];
    const char *lu = json_string_value(json_object_get(t, "localUsername"));
    const char *ru = json_string_value(json_object_get(t, "remoteUsername"));
    if (lu == NULL || ru == NULL || !get_key(t, "localIdentityKey", lik) ||
        !get_key(t, "remoteIdentityKey", rik))
        return;
    if (scan) {
        static bytes sc;
        if (!get_hex(t, "scanned", &sc))
            return;
        bool match =
            vt_safety_qr_matches(sc.b, sc.len, lik, (const uint8_t *)lu, strlen(lu), rik,
                                 (const uint8_t *)ru, strlen(ru));
        if (match != is_valid(t))
            mismatch("scan match: %d", match);
        return;
    }
    char disp[31], num[61];
    const struct {
        const uint8_t *ik;
        const char *u;
        const char *fk, *dk;
    } sides[2] = {{lik, lu, "localFingerprint", "localDisplay"},
                  {rik, ru, "remoteFingerprint", "remoteDisplay"}};
    for (int s = 0; s < 2; s++) {
        if (vt_safety_fingerprint(fp, sides[s].ik, (const uint8_t *)sides[s].u,
                                  strlen(sides[s].u)) != VT_OK) {
            mismatch("fingerprint failed");
            return;
        }
        expect_bytes(t, sides[s].fk, fp, 64);
        vt_safety_displayable(disp, fp);
        const char *want = json_string_value(json_object_get(t, sides[s].dk));
        if (want == NULL || strcmp(want, disp) != 0)
            mismatch("%s: %s", sides[s].dk, disp);
    }
    if (vt_safety_compute(num, sizeof num, false, qr, lik, (const uint8_t *)lu,
                          strlen(lu), rik, (const uint8_t *)ru, strlen(ru)) != VT_OK) {
        mismatch("safety_compute failed");
        return;
    }
    const char *want = json_string_value(json_object_get(t, "safetyNumber"));
    if (want == NULL || strcmp(want, num) != 0)
        mismatch("safetyNumber: %s", num);
    expect_bytes(t, "qrPayload", qr, 65);
}

/* ---- the driver -------------------------------------------------------- */

typedef struct kind {
    const char *type;
    void (*run)(json_t *t);
} kind;

static void run_safety_number(json_t *t)
{
    run_safety(t, false);
}

static void run_safety_scan(json_t *t)
{
    run_safety(t, true);
}

static const kind kinds[] = {
    {"HkdfLabel", run_hkdf_label},
    {"Aead", run_aead},
    {"Identity", run_identity},
    {"X25519", run_x25519},
    {"PrekeySignature", run_prekey_signature},
    {"AuthTranscript", run_auth_transcript},
    {"X3dhInitiator", run_x3dh_initiator},
    {"X3dhResponder", run_x3dh_responder},
    {"RatchetScript", run_ratchet_script},
    {"RatchetEncryptFrom", run_encrypt_from},
    {"Padding", run_padding},
    {"PaddingReceive", run_padding_receive},
    {"SafetyNumber", run_safety_number},
    {"SafetyNumberScan", run_safety_scan},
};

static const kind *find_kind(const char *type)
{
    for (size_t i = 0; type != NULL && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].type, type) == 0)
            return &kinds[i];
    return NULL;
}

static void run_test(vt_conform_detail *d, json_t *group, json_t *t)
{
    const char *type = json_string_value(json_object_get(group, "type"));
    const kind *k = find_kind(type);
    detail = d;
    if (k == NULL)
        mismatch("unknown test type %s", type ? type : "(none)");
    else
        k->run(t);
    detail = NULL;
}

int vt_conform_crypto_run(const char *dir, vt_conform_case_fn fn, void *ud)
{
    if (vt_crypto_init() != VT_OK)
        return -1;
    return vt_conform_kind_run(dir, "crypto", run_test, fn, ud);
}
