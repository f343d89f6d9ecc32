/* Account and device helpers of the test kit: Register, AddDevice + Login,
 * Resume, prekey uploads, sends and acks as a well-behaved client makes
 * them (spec/auth.md Registration, Login, Linking; spec/delivery.md Send),
 * and session tokens minted with a server key (spec/auth.md AUTH-50). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "ventra/crypto.h"
#include "ventra/prekeys.h"
#include "vtc.h"
#include "vtc_int.h"

static vtc_device *device_new(int port, const char *username)
{
    vtc_device *d = calloc(1, sizeof *d);

    if (d == NULL)
        vtc_fail("out of memory");
    snprintf(d->username, sizeof d->username, "%s", username);
    d->port = port;
    if (vt_identity_generate(&d->id) != VT_OK)
        vtc_fail("vt_identity_generate failed");
    return d;
}

void vtc_device_free(vtc_device *d)
{
    if (d == NULL)
        return;
    vtc_client_free(d->c);
    vt_identity_free(d->id);
    free(d);
}

void vtc_disconnect(vtc_device *d)
{
    if (d == NULL)
        return;
    vtc_client_free(d->c);
    d->c = NULL;
}

static const char *code_str(const Ventra__V1__Response *r)
{
    const ProtobufCEnumValue *v;

    if (r == NULL)
        return "no response";
    if (r->error == NULL)
        return "OK";
    v = protobuf_c_enum_descriptor_get_value(&ventra__v1__error_code__descriptor,
                                             (int)r->error->code);
    return v ? v->name : "unknown code";
}

/* Frees |d| and |r| (either may be NULL), then fails with the message: a
 * failed helper leaks nothing. */
__attribute__((noreturn, format(printf, 3, 4))) static void
fail_device(vtc_device *d, Ventra__V1__Response *r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vtc_response_free(r);
    vtc_device_free(d);
    vtc_fail("%s", msg);
}

/* vtc_client_new for |d|, freeing |d| when the connection fails. */
static vtc_client *new_client(vtc_device *d, int port)
{
    int status = 0;
    vtc_client *c = vtc_client_connect(port, NULL, &status);

    if (c == NULL)
        fail_device(d, NULL, "%s: connect to %s:%d failed (HTTP status %d)", d->username,
                    vtc_target_host(), port, status);
    return c;
}

bool vtc_server_info(vtc_client *c, uint8_t server_key[32])
{
    Ventra__V1__Response *r = vtc_rpc_server_info(c);
    bool ok = r && r->body_case == VENTRA__V1__RESPONSE__BODY_GET_SERVER_INFO &&
              r->get_server_info->server_key.len == 32;
    if (ok)
        memcpy(server_key, r->get_server_info->server_key.data, 32);
    vtc_response_free(r);
    return ok;
}

bool vtc_challenge(vtc_client *c, int purpose, uint8_t nonce[32])
{
    Ventra__V1__Response *r = vtc_rpc_get_challenge(c, purpose);
    bool ok = r && r->body_case == VENTRA__V1__RESPONSE__BODY_GET_CHALLENGE &&
              r->get_challenge->nonce.len == 32;
    if (ok)
        memcpy(nonce, r->get_challenge->nonce.data, 32);
    else
        fprintf(stderr, "vtc: GetChallenge(%d): %s\n", purpose, code_str(r));
    vtc_response_free(r);
    return ok;
}

vtc_device *vtc_register(int port, const char *username)
{
    Ventra__V1__RegisterRequest body = VENTRA__V1__REGISTER_REQUEST__INIT;
    uint8_t nonce[32], sig[64];
    Ventra__V1__Response *r;
    vtc_device *d = device_new(port, username);
    const uint8_t *ik = vt_identity_public(d->id);

    d->c = new_client(d, port);
    if (!vtc_server_info(d->c, d->server_key))
        fail_device(d, NULL, "GetServerInfo failed");
    if (!vtc_challenge(d->c, VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_REGISTER,
                       nonce))
        fail_device(d, NULL, "GetChallenge(REGISTER) failed");
    vtc_sign_register(d->id, d->server_key, nonce, 32, d->username, ik, sig);
    /* vtc_rpc_register with a device name. */
    body.username = d->username;
    body.identity_key = vtc_bin(ik, 32);
    body.device_name = "test device";
    body.nonce = vtc_bin(nonce, 32);
    body.signature = vtc_bin(sig, 64);
    r = vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT, &body);
    if (r == NULL || r->body_case != VENTRA__V1__RESPONSE__BODY_REGISTER_ACCOUNT)
        fail_device(d, r, "Register(%s): %s%s%s", username, code_str(r),
                    r && r->error ? " " : "", r && r->error ? r->error->message : "");
    d->device_id = r->register_account->device_id;
    snprintf(d->token, sizeof d->token, "%s", r->register_account->token);
    vtc_response_free(r);
    return d;
}

vtc_device *vtc_link(vtc_device *owner)
{
    uint8_t sig[64];
    Ventra__V1__Response *r;
    vtc_device *d;
    int rc;

    if (owner->c == NULL)
        vtc_fail("vtc_link: the owner device is offline");
    d = device_new(owner->port, owner->username);
    memcpy(d->server_key, owner->server_key, 32);
    vtc_sign_link(owner->id, owner->server_key, owner->username, owner->device_id,
                  vt_identity_public(d->id), sig);
    r = vtc_rpc_add_device(owner->c, vt_identity_public(d->id), 32, "linked device", sig,
                           64);
    if (r == NULL || r->body_case != VENTRA__V1__RESPONSE__BODY_ADD_DEVICE)
        fail_device(d, r, "AddDevice(%s): %s", owner->username, code_str(r));
    d->device_id = r->add_device->device_id;
    vtc_response_free(r);
    rc = vtc_login(d, d->port);
    if (rc != 0)
        fail_device(d, NULL, "Login of linked device %s/%u: error %d", d->username,
                    d->device_id, rc);
    return d;
}

/* The code of |r|, the answer of a Login or Resume (|body| is its body
 * case); a wrong or missing body is INTERNAL (WIRE-32). On success
 * d->token becomes the fresh token. Frees |r|. */
static int keep_token(vtc_device *d, Ventra__V1__Response *r, int body)
{
    int rc = vtc_error_code(r);

    if (rc == 0 && (int)r->body_case != body)
        rc = VENTRA__V1__ERROR_CODE__ERROR_INTERNAL;
    else if (rc == 0)
        snprintf(d->token, sizeof d->token, "%s",
                 body == VENTRA__V1__RESPONSE__BODY_LOGIN ? r->login->token
                                                          : r->resume->token);
    vtc_response_free(r);
    return rc;
}

int vtc_login(vtc_device *d, int port)
{
    uint8_t nonce[32], sig[64];
    Ventra__V1__Response *r;
    int rc;

    vtc_disconnect(d);
    d->port = port;
    d->c = vtc_client_new(port);
    r = vtc_rpc_get_challenge(d->c,
                              VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_LOGIN);
    rc = vtc_error_code(r);
    if (rc == 0 && (r->body_case != VENTRA__V1__RESPONSE__BODY_GET_CHALLENGE ||
                    r->get_challenge->nonce.len != 32))
        rc = VENTRA__V1__ERROR_CODE__ERROR_INTERNAL;
    if (rc == 0)
        memcpy(nonce, r->get_challenge->nonce.data, 32);
    vtc_response_free(r);
    if (rc != 0)
        return rc;
    vtc_sign_login(d->id, d->server_key, nonce, 32, d->username, d->device_id, sig);
    r = vtc_rpc_login(d->c, d->username, d->device_id, nonce, 32, sig, 64);
    return keep_token(d, r, VENTRA__V1__RESPONSE__BODY_LOGIN);
}

int vtc_resume(vtc_device *d, int port)
{
    vtc_disconnect(d);
    d->port = port;
    d->c = vtc_client_new(port);
    return keep_token(d, vtc_rpc_resume(d->c, d->token),
                      VENTRA__V1__RESPONSE__BODY_RESUME);
}

/* The message of the signed (or last-resort) prekey |k|; points into |k|. */
static void signed_prekey_msg(Ventra__V1__SignedPrekey *m, vt_signed_prekey *k)
{
    m->id = k->key.id;
    m->public_key = vtc_bin(k->key.pub, 32);
    m->signature = vtc_bin(k->signature, 64);
}

uint32_t vtc_upload_prekeys(vtc_device *d, uint32_t first_id, size_t n)
{
    Ventra__V1__UploadPrekeysRequest body = VENTRA__V1__UPLOAD_PREKEYS_REQUEST__INIT;
    Ventra__V1__SignedPrekey spk = VENTRA__V1__SIGNED_PREKEY__INIT;
    Ventra__V1__SignedPrekey lrk = VENTRA__V1__SIGNED_PREKEY__INIT;
    Ventra__V1__OneTimePrekey *otk = NULL, **otkp = NULL;
    vt_signed_prekey s, l;
    vt_prekey *keys = NULL;
    Ventra__V1__Response *r;
    uint32_t count;
    size_t i;

    if (vt_signed_prekey_generate(&s, d->id, 1, false) != VT_OK ||
        vt_signed_prekey_generate(&l, d->id, 2, true) != VT_OK)
        vtc_fail("vt_signed_prekey_generate failed");
    signed_prekey_msg(&spk, &s);
    signed_prekey_msg(&lrk, &l);
    if (n > 0) {
        keys = vtc_xmalloc(n * sizeof *keys);
        otk = vtc_xmalloc(n * sizeof *otk);
        otkp = vtc_xmalloc(n * sizeof *otkp);
        for (i = 0; i < n; i++) {
            Ventra__V1__OneTimePrekey init = VENTRA__V1__ONE_TIME_PREKEY__INIT;

            if (vt_prekey_generate(&keys[i], first_id + (uint32_t)i) != VT_OK)
                vtc_fail("vt_prekey_generate failed");
            otk[i] = init;
            otk[i].id = keys[i].id;
            otk[i].public_key.data = keys[i].pub;
            otk[i].public_key.len = 32;
            otkp[i] = &otk[i];
        }
    }
    body.signed_prekey = &spk;
    body.last_resort_prekey = &lrk;
    body.n_one_time_prekeys = n;
    body.one_time_prekeys = otkp;
    r = vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_UPLOAD_PREKEYS, &body);
    if (r == NULL || r->body_case != VENTRA__V1__RESPONSE__BODY_UPLOAD_PREKEYS)
        vtc_fail("UploadPrekeys(%s/%u): %s", d->username, d->device_id, code_str(r));
    count = r->upload_prekeys->one_time_count;
    vtc_response_free(r);
    vt_wipe(&s, sizeof s);
    vt_wipe(&l, sizeof l);
    if (keys != NULL)
        vt_wipe(keys, n * sizeof *keys);
    free(keys);
    free(otk);
    free(otkp);
    return count;
}

static char run_tag[9];

void vtc_set_run_tag(const char *tag)
{
    snprintf(run_tag, sizeof run_tag, "%s", tag ? tag : "");
}

void vtc_username(char out[33], const char *prefix)
{
    static unsigned counter;
    char tail[24];
    size_t i, plen, tlen;

    if (run_tag[0] != '\0')
        tlen = (size_t)snprintf(tail, sizeof tail, "%sx%u", run_tag, ++counter);
    else
        tlen = (size_t)snprintf(tail, sizeof tail, "%ldx%u", (long)getpid(), ++counter);
    plen = strlen(prefix);
    if (plen + tlen > 31)
        plen = 31 - tlen;
    /* AUTH-1: a letter first, then [a-z0-9._-]. */
    out[0] = 'u';
    for (i = 0; i < plen; i++) {
        char ch = (char)tolower((unsigned char)prefix[i]);

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            ch = '_';
        out[1 + i] = ch;
    }
    memcpy(out + 1 + plen, tail, tlen + 1);
    /* Keep the prefix readable: drop the leading 'u' when it starts with a
     * letter already. */
    if (plen > 0 && out[1] >= 'a' && out[1] <= 'z')
        memmove(out, out + 1, strlen(out + 1) + 1);
}

/* ListDevices(|user|) on |c|: the active device ids into |ids|; returns
 * their count, or -1 on an error. */
static int list_ids(vtc_client *c, const char *user, uint32_t ids[16])
{
    Ventra__V1__Response *r = vtc_rpc_list_devices(c, user);
    int n = -1;
    size_t i;

    if (r != NULL && r->body_case == VENTRA__V1__RESPONSE__BODY_LIST_DEVICES) {
        n = 0;
        for (i = 0; i < r->list_devices->n_devices && i < 16; i++)
            ids[n++] = r->list_devices->devices[i]->device_id;
    }
    vtc_response_free(r);
    return n;
}

/* Appends to |list| (*n entries so far) an envelope in env[*ne] with
 * content |text| for each of the |count| devices |ids| but |skip| (0:
 * none). */
static void add_envelopes(Ventra__V1__OutgoingEnvelope *env, size_t *ne,
                          Ventra__V1__OutgoingEnvelope **list, size_t *n,
                          const uint32_t *ids, int count, uint32_t skip, const char *text)
{
    int i;

    for (i = 0; i < count; i++) {
        Ventra__V1__OutgoingEnvelope init = VENTRA__V1__OUTGOING_ENVELOPE__INIT;

        if (skip != 0 && ids[i] == skip)
            continue;
        env[*ne] = init;
        env[*ne].device_id = ids[i];
        env[*ne].type = VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE;
        env[*ne].content = vtc_bin((const uint8_t *)text, strlen(text));
        list[(*n)++] = &env[(*ne)++];
    }
}

Ventra__V1__Response *vtc_send_text(vtc_device *from, const char *to_user,
                                    const char *text, const uint8_t *message_id)
{
    Ventra__V1__SendRequest body = VENTRA__V1__SEND_REQUEST__INIT;
    Ventra__V1__OutgoingEnvelope env[32], *rp[16], *sp[16];
    uint32_t rids[16], sids[16];
    uint8_t mid[16];
    bool self = strcmp(to_user, from->username) == 0;
    int nr, ns = 0;
    size_t ne = 0;

    if (from->c == NULL)
        vtc_fail("vtc_send_text: the sender is offline");
    if (message_id != NULL)
        memcpy(mid, message_id, 16);
    else if (vt_random_bytes(mid, 16) != VT_OK)
        vtc_fail("vt_random_bytes failed");
    nr = list_ids(from->c, to_user, rids);
    if (nr < 0)
        nr = 0; /* let Send itself answer NOT_FOUND or INVALID_ARGUMENT */
    if (!self) {
        ns = list_ids(from->c, "", sids);
        if (ns < 0)
            vtc_fail("ListDevices of the own account failed");
    }
    body.message_id.data = mid;
    body.message_id.len = 16;
    body.recipient = (char *)to_user;
    add_envelopes(env, &ne, rp, &body.n_to_recipient, rids, nr,
                  self ? from->device_id : 0, text);
    add_envelopes(env, &ne, sp, &body.n_to_self, sids, ns, from->device_id, text);
    body.to_recipient = rp;
    body.to_self = sp;
    return vtc_call_body(from->c, VENTRA__V1__REQUEST__BODY_SEND, &body);
}

Ventra__V1__MessageEvent *vtc_next_message(vtc_device *d, int timeout_ms)
{
    int64_t deadline = vtc_now_ms() + timeout_ms;

    if (d->c == NULL)
        return NULL;
    for (;;) {
        Ventra__V1__Event *e = vtc_next_event(d->c, vtc_left_ms(deadline));
        Ventra__V1__MessageEvent *m;

        if (e == NULL)
            return NULL;
        if (e->body_case == VENTRA__V1__EVENT__BODY_MESSAGE && e->message != NULL) {
            m = e->message;
            e->body_case = VENTRA__V1__EVENT__BODY__NOT_SET;
            e->message = NULL;
            vtc_event_free(e);
            return m;
        }
        vtc_event_free(e);
    }
}

void vtc_message_free(Ventra__V1__MessageEvent *m)
{
    if (m != NULL)
        ventra__v1__message_event__free_unpacked(m, NULL);
}

int vtc_ack(vtc_device *d, const uint64_t *seqs, size_t count)
{
    Ventra__V1__Response *r;
    int deleted = -1;

    if (d->c == NULL)
        return -1;
    r = vtc_rpc_ack(d->c, seqs, count);
    if (r != NULL && r->body_case == VENTRA__V1__RESPONSE__BODY_ACK)
        deleted = (int)r->ack->deleted;
    vtc_response_free(r);
    return deleted;
}

/* ---- Tokens (spec/auth.md AUTH-50) ------------------------------------ */

char *vtc_token_make(const char *header_json, const char *claims_json,
                     const uint8_t sk[64])
{
    char *h = vtc_b64url(header_json, strlen(header_json));
    char *c = vtc_b64url(claims_json, strlen(claims_json));
    size_t len = strlen(h) + 1 + strlen(c);
    char *s = NULL, *out;
    uint8_t sig[64];

    out = vtc_xmalloc(len + 1 + 90);
    snprintf(out, len + 1, "%s.%s", h, c);
    if (sk != NULL) {
        if (vt_ed25519_sign(sig, (const uint8_t *)out, len, sk) != VT_OK)
            vtc_fail("vt_ed25519_sign failed");
        s = vtc_b64url(sig, sizeof sig);
    }
    snprintf(out + len, 90, ".%s", s ? s : "");
    free(h);
    free(c);
    free(s);
    return out;
}

char *vtc_token_mint_key(const uint8_t pk[32], const uint8_t sk[64], const char *username,
                         uint32_t device_id, uint64_t iat, uint64_t exp)
{
    uint8_t jti[16];
    char claims[512], hex[65], *j, *tok;
    size_t i;

    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", pk[i]);
    if (vt_random_bytes(jti, sizeof jti) != VT_OK)
        vtc_fail("vt_random_bytes failed");
    j = vtc_b64url(jti, sizeof jti);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"ventra:%s\",\"sub\":\"%s\",\"dev\":%u,\"iat\":%llu,\"exp\":%llu,"
             "\"jti\":\"%s\"}",
             hex, username, device_id, (unsigned long long)iat, (unsigned long long)exp,
             j);
    free(j);
    tok = vtc_token_make("{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", claims, sk);
    return tok;
}

void vtc_keypair_from_file(const char *path, uint8_t pk[32], uint8_t sk[64])
{
    char hex[80];
    uint8_t seed[32];
    FILE *f;
    size_t n, len = 0;
    bool ok;

    f = fopen(path, "rb");
    if (f == NULL)
        vtc_fail("open %s: %s", path, strerror(errno));
    n = fread(hex, 1, sizeof hex - 1, f);
    fclose(f);
    if (n < 64) {
        vt_wipe(hex, sizeof hex);
        vtc_fail("%s: %zu bytes, want 64 hex digits", path, n);
    }
    ok = sodium_hex2bin(seed, sizeof seed, hex, 64, NULL, &len, NULL) == 0 && len == 32;
    vt_wipe(hex, sizeof hex);
    if (ok)
        ok = vt_ed25519_keypair_from_seed(pk, sk, seed) == VT_OK;
    vt_wipe(seed, sizeof seed);
    if (!ok)
        vtc_fail("%s: not 64 hex digits of an Ed25519 seed", path);
}
