/* The load generator's protocol client: one device on one connection of
 * the event loop. Authenticates (GetServerInfo, GetChallenge, then Register
 * or Login signed over the AUTH-12 transcripts), then sends Send and Ack
 * requests within the in-flight limit and hands responses and events to
 * its owner. Frames are protobuf-c (generated/pbc), packed straight into
 * the connection's output. spec/wire.md sections 2 and 5, spec/auth.md,
 * spec/delivery.md sections 3 and 5. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "lg.h"
#include "ventra/crypto.h"
#include "ventra/prekeys.h"
#include "ventra/ratchet.h"
#include "ventra/x3dh.h"
#include "vt_constants.h"

typedef enum client_state {
    CS_CONNECTING,
    CS_INFO,      /* GetServerInfo sent */
    CS_CHALLENGE, /* GetChallenge sent */
    CS_AUTH,      /* Register or Login sent */
    CS_READY,
    CS_FAILED,
} client_state;

typedef struct slot {
    uint32_t id; /* 0: free */
    uint64_t tag;
} slot;

struct lg_client {
    lg_loop *loop;
    lg_conn *conn;
    lg_client_cbs cbs;
    void *ud;
    client_state state;
    char username[33];
    char device_name[65];
    const vt_identity *id;
    bool login;
    uint32_t device_id;
    uint8_t server_key[32];
    bool have_key;
    uint32_t next_id;
    uint32_t setup_id; /* the setup request in flight */
    unsigned max_inflight;
    unsigned inflight;
    slot slots[VT_MAX_INFLIGHT_REQUESTS];
    uint64_t auth_sent_ns;
};

static void fail(lg_client *c, const char *what, int code)
{
    if (c->state == CS_FAILED)
        return;
    c->state = CS_FAILED;
    if (c->cbs.on_fail)
        c->cbs.on_fail(c, c->ud, what, code);
}

static uint32_t take_id(lg_client *c)
{
    if (++c->next_id == 0)
        c->next_id = 1; /* WIRE-30: never 0 */
    return c->next_id;
}

/* Packs |req| (its id set here) into one binary message. */
static uint32_t put_request(lg_client *c, Ventra__V1__Request *req)
{
    Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;
    size_t len;
    uint8_t *p;

    req->id = take_id(c);
    f.kind_case = VENTRA__V1__FRAME__KIND_REQUEST;
    f.request = req;
    len = ventra__v1__frame__get_packed_size(&f);
    p = lg_conn_msg_begin(c->conn, len);
    ventra__v1__frame__pack(&f, p);
    lg_conn_msg_end(c->conn);
    return req->id;
}

static void setup_request(lg_client *c, Ventra__V1__Request *req, client_state next)
{
    c->setup_id = put_request(c, req);
    c->state = next;
}

static void ask_challenge(lg_client *c)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__GetChallengeRequest body = VENTRA__V1__GET_CHALLENGE_REQUEST__INIT;

    body.purpose = c->login ? VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_LOGIN
                            : VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_REGISTER;
    req.body_case = VENTRA__V1__REQUEST__BODY_GET_CHALLENGE;
    req.get_challenge = &body;
    setup_request(c, &req, CS_CHALLENGE);
}

/* Register (AUTH-21) or Login (AUTH-30) signed over the transcript of
 * AUTH-12 with the challenge |nonce|. */
static void authenticate(lg_client *c, const uint8_t *nonce, size_t nonce_len)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__RegisterRequest reg = VENTRA__V1__REGISTER_REQUEST__INIT;
    Ventra__V1__LoginRequest lin = VENTRA__V1__LOGIN_REQUEST__INIT;
    uint8_t tr[VT_TRANSCRIPT_MAX], sig[64];
    size_t tlen = 0;
    vt_err err;

    if (c->login)
        err = vt_transcript_login(tr, sizeof tr, &tlen, c->server_key, nonce, nonce_len,
                                  c->username, c->device_id);
    else
        err = vt_transcript_register(tr, sizeof tr, &tlen, c->server_key, nonce,
                                     nonce_len, c->username, vt_identity_public(c->id));
    if (err == VT_OK)
        err = vt_identity_sign(c->id, sig, tr, tlen);
    if (err != VT_OK) {
        fail(c, "transcript", (int)err);
        return;
    }
    if (c->login) {
        lin.username = c->username;
        lin.device_id = c->device_id;
        lin.nonce.data = (uint8_t *)nonce;
        lin.nonce.len = nonce_len;
        lin.signature.data = sig;
        lin.signature.len = sizeof sig;
        req.body_case = VENTRA__V1__REQUEST__BODY_LOGIN;
        req.login = &lin;
    } else {
        reg.username = c->username;
        reg.identity_key.data = (uint8_t *)vt_identity_public(c->id);
        reg.identity_key.len = 32;
        reg.device_name = c->device_name;
        reg.nonce.data = (uint8_t *)nonce;
        reg.nonce.len = nonce_len;
        reg.signature.data = sig;
        reg.signature.len = sizeof sig;
        req.body_case = VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT;
        req.register_account = &reg;
    }
    c->auth_sent_ns = bench_now_ns();
    setup_request(c, &req, CS_AUTH);
}

static void setup_response(lg_client *c, const Ventra__V1__Response *r)
{
    int code = r->error ? (int)r->error->code : 0;

    c->setup_id = 0;
    switch (c->state) {
    case CS_INFO:
        if (code != 0 || r->body_case != VENTRA__V1__RESPONSE__BODY_GET_SERVER_INFO ||
            r->get_server_info->server_key.len != 32) {
            fail(c, "GetServerInfo", code);
            return;
        }
        memcpy(c->server_key, r->get_server_info->server_key.data, 32);
        c->have_key = true;
        if (r->get_server_info->limits != NULL &&
            r->get_server_info->limits->max_inflight_requests > 0 &&
            r->get_server_info->limits->max_inflight_requests < c->max_inflight)
            c->max_inflight = r->get_server_info->limits->max_inflight_requests;
        ask_challenge(c);
        return;
    case CS_CHALLENGE:
        if (code != 0 || r->body_case != VENTRA__V1__RESPONSE__BODY_GET_CHALLENGE) {
            fail(c, "GetChallenge", code);
            return;
        }
        authenticate(c, r->get_challenge->nonce.data, r->get_challenge->nonce.len);
        return;
    case CS_AUTH:
        if (code != 0 ||
            r->body_case != (c->login ? VENTRA__V1__RESPONSE__BODY_LOGIN
                                      : VENTRA__V1__RESPONSE__BODY_REGISTER_ACCOUNT)) {
            fail(c, c->login ? "Login" : "Register", code);
            return;
        }
        if (!c->login)
            c->device_id = r->register_account->device_id;
        c->state = CS_READY;
        if (c->cbs.on_ready)
            c->cbs.on_ready(c, c->ud);
        return;
    default:
        return;
    }
}

static void on_open(lg_conn *conn, void *ud)
{
    lg_client *c = ud;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__GetServerInfoRequest body = VENTRA__V1__GET_SERVER_INFO_REQUEST__INIT;

    (void)conn;
    if (c->have_key) {
        ask_challenge(c);
        return;
    }
    req.body_case = VENTRA__V1__REQUEST__BODY_GET_SERVER_INFO;
    req.get_server_info = &body;
    setup_request(c, &req, CS_INFO);
}

static void on_data(lg_conn *conn, void *ud, const uint8_t *data, size_t len)
{
    lg_client *c = ud;
    Ventra__V1__Frame *f = ventra__v1__frame__unpack(NULL, len, data);

    (void)conn;
    if (f == NULL) { /* WIRE-25: a frame we cannot decode */
        lg_conn_close(c->conn, 1002);
        c->conn = NULL;
        fail(c, "decode", LG_CLOSE_ERROR);
        return;
    }
    if (f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE) {
        const Ventra__V1__Response *r = f->response;

        if (c->state != CS_READY) {
            if (r->id == c->setup_id && r->id != 0)
                setup_response(c, r);
        } else {
            for (unsigned i = 0; i < VT_MAX_INFLIGHT_REQUESTS; i++)
                if (c->slots[i].id == r->id && r->id != 0) {
                    uint64_t tag = c->slots[i].tag;

                    c->slots[i].id = 0;
                    c->inflight--;
                    if (c->cbs.on_response)
                        c->cbs.on_response(c, c->ud, tag, r);
                    break;
                }
        }
    } else if (f->kind_case == VENTRA__V1__FRAME__KIND_EVENT && c->state == CS_READY) {
        if (c->cbs.on_event)
            c->cbs.on_event(c, c->ud, f->event);
    }
    ventra__v1__frame__free_unpacked(f, NULL);
}

static void on_close(lg_conn *conn, void *ud, int code)
{
    lg_client *c = ud;

    (void)conn;
    c->conn = NULL; /* freed by the loop */
    fail(c, c->state == CS_READY ? "closed" : "connect", code);
}

static const lg_conn_cbs client_conn_cbs = {on_open, on_data, on_close};

lg_client *lg_client_start(lg_loop *l, const lg_client_opts *o, const lg_client_cbs *cbs,
                           void *ud)
{
    lg_client *c = calloc(1, sizeof *c);

    if (c == NULL) {
        fprintf(stderr, "ventra-bench: out of memory\n");
        abort();
    }
    c->loop = l;
    c->cbs = *cbs;
    c->ud = ud;
    snprintf(c->username, sizeof c->username, "%s", o->username);
    snprintf(c->device_name, sizeof c->device_name, "%s",
             o->device_name ? o->device_name : "ventra-bench");
    c->id = o->id;
    c->login = o->login;
    c->device_id = o->device_id;
    c->max_inflight = VT_MAX_INFLIGHT_REQUESTS;
    if (o->server_key != NULL) {
        memcpy(c->server_key, o->server_key, 32);
        c->have_key = true;
    }
    c->state = CS_CONNECTING;
    c->conn = lg_conn_open(l, o->target, LG_CONN_WS, o->src_ip, &client_conn_cbs, c);
    if (c->conn == NULL)
        c->state = CS_FAILED; /* no socket: reported by lg_client_failed */
    return c;
}

void lg_client_free(lg_client *c)
{
    if (c == NULL)
        return;
    if (c->conn != NULL)
        lg_conn_close(c->conn, 1000);
    free(c);
}

void lg_client_close(lg_client *c)
{
    if (c->conn != NULL) {
        lg_conn_close(c->conn, 1000);
        c->conn = NULL;
    }
}

bool lg_client_ready(const lg_client *c)
{
    return c->state == CS_READY;
}

bool lg_client_failed(const lg_client *c)
{
    return c->state == CS_FAILED;
}

unsigned lg_client_inflight(const lg_client *c)
{
    return c->inflight;
}

unsigned lg_client_max_inflight(const lg_client *c)
{
    return c->max_inflight;
}

uint32_t lg_client_device_id(const lg_client *c)
{
    return c->device_id;
}

const uint8_t *lg_client_server_key(const lg_client *c)
{
    return c->server_key;
}

uint64_t lg_client_auth_sent_ns(const lg_client *c)
{
    return c->auth_sent_ns;
}

lg_conn *lg_client_conn(lg_client *c)
{
    return c->conn;
}

/* Queues |req| as one of the client's in-flight requests. */
static bool call(lg_client *c, Ventra__V1__Request *req, uint64_t tag)
{
    if (c->state != CS_READY || c->conn == NULL || c->inflight >= c->max_inflight)
        return false;
    for (unsigned i = 0; i < VT_MAX_INFLIGHT_REQUESTS; i++)
        if (c->slots[i].id == 0) {
            c->slots[i].id = put_request(c, req);
            c->slots[i].tag = tag;
            c->inflight++;
            return true;
        }
    return false;
}

bool lg_client_send(lg_client *c, const char *recipient, const uint8_t message_id[16],
                    uint32_t device_id, int type, const uint8_t *content, size_t len,
                    uint64_t tag)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__SendRequest body = VENTRA__V1__SEND_REQUEST__INIT;
    Ventra__V1__OutgoingEnvelope env = VENTRA__V1__OUTGOING_ENVELOPE__INIT;
    Ventra__V1__OutgoingEnvelope *envs[1] = {&env};

    env.device_id = device_id;
    env.type = (Ventra__V1__EnvelopeType)type;
    env.content.data = (uint8_t *)content;
    env.content.len = len;
    body.message_id.data = (uint8_t *)message_id;
    body.message_id.len = 16;
    body.recipient = (char *)recipient;
    body.n_to_recipient = 1;
    body.to_recipient = envs;
    req.body_case = VENTRA__V1__REQUEST__BODY_SEND;
    req.send = &body;
    return call(c, &req, tag);
}

bool lg_client_ack(lg_client *c, const uint64_t *seqs, size_t n, uint64_t tag)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__AckRequest body = VENTRA__V1__ACK_REQUEST__INIT;

    if (n == 0 || n > VT_MAX_ACK_BATCH)
        return false;
    body.n_seqs = n;
    body.seqs = (uint64_t *)seqs;
    req.body_case = VENTRA__V1__REQUEST__BODY_ACK;
    req.ack = &body;
    return call(c, &req, tag);
}

size_t lg_clients_setup(lg_loop *l, lg_client **out, const lg_client_opts *opts, size_t n,
                        size_t window, double timeout_s, const lg_client_cbs *const *cbs,
                        void *const *uds)
{
    double deadline = bench_now() + timeout_s;
    size_t started = 0, done = 0, ready = 0;

    if (window == 0)
        window = 1;
    while (done < n && bench_now() < deadline) {
        while (started < n && started - done < window) {
            out[started] = lg_client_start(l, &opts[started], cbs[started],
                                           uds ? uds[started] : NULL);
            started++;
        }
        lg_loop_run(l, 5000000);
        done = ready = 0;
        for (size_t i = 0; i < started; i++) {
            if (lg_client_ready(out[i]))
                ready++;
            if (lg_client_ready(out[i]) || lg_client_failed(out[i]))
                done++;
        }
    }
    /* what never started (timeout) exists, failed, so out[] is complete */
    for (; started < n; started++) {
        out[started] = calloc(1, sizeof(lg_client));
        if (out[started] == NULL)
            abort();
        out[started]->state = CS_FAILED;
    }
    return ready;
}

/* ---- end-to-end payloads ------------------------------------------------ */

typedef struct local_keys {
    vt_prekey spk, opk;
} local_keys;

static vt_err find_spk(void *ctx, uint32_t id, vt_prekey *out)
{
    local_keys *k = ctx;

    if (id != k->spk.id)
        return VT_ERR_NOT_FOUND;
    *out = k->spk;
    return VT_OK;
}

static vt_err find_opk(void *ctx, uint32_t id, vt_prekey *out)
{
    local_keys *k = ctx;

    if (id != k->opk.id)
        return VT_ERR_NOT_FOUND;
    *out = k->opk;
    return VT_OK;
}

bool lg_session_pair(const vt_identity *sender, const vt_identity *recipient,
                     vt_ratchet **tx, vt_ratchet **rx)
{
    static const uint8_t hello[] = "ventra-bench session";
    uint8_t msg[sizeof hello + VT_RATCHET_OVERHEAD], pkm[512], pt[sizeof hello];
    vt_signed_prekey spk;
    local_keys keys;
    vt_bundle b;
    vt_x3dh_fields xf;
    vt_x3dh_keys xk;
    vt_x3dh_commit commit;
    vt_prekey_message pm;
    vt_ratchet *a = NULL, *r = NULL;
    size_t mlen = 0, plen = 0, ptlen = 0;
    bool ok = false;

    memset(&b, 0, sizeof b);
    memset(&keys, 0, sizeof keys);
    if (vt_signed_prekey_generate(&spk, recipient, 1, false) != VT_OK ||
        vt_prekey_generate(&keys.opk, 2) != VT_OK)
        goto out;
    keys.spk = spk.key;
    memcpy(b.identity_key, vt_identity_public(recipient), 32);
    b.signed_prekey_id = spk.key.id;
    memcpy(b.signed_prekey, spk.key.pub, 32);
    memcpy(b.signed_prekey_sig, spk.signature, 64);
    b.has_one_time = true;
    b.one_time_id = keys.opk.id;
    memcpy(b.one_time, keys.opk.pub, 32);
    if (vt_x3dh_initiate(&a, sender, &b, NULL) != VT_OK ||
        vt_ratchet_x3dh_fields(a, &xf) != VT_OK ||
        vt_ratchet_encrypt(a, msg, sizeof msg, &mlen, hello, sizeof hello) != VT_OK ||
        vt_prekey_message_encode(pkm, sizeof pkm, &plen, &xf, msg, mlen) != VT_OK ||
        vt_prekey_message_decode(&pm, pkm, plen) != VT_OK)
        goto out;
    memset(&xk, 0, sizeof xk);
    xk.ctx = &keys;
    xk.identity = recipient;
    xk.signed_prekey = find_spk;
    xk.one_time_prekey = find_opk;
    if (vt_x3dh_respond(&r, &commit, pt, sizeof pt, &ptlen, &pm, &xk,
                        (uint64_t)time(NULL), NULL) != VT_OK ||
        ptlen != sizeof hello)
        goto out;
    *tx = a;
    *rx = r;
    a = r = NULL;
    ok = true;
out:
    vt_ratchet_free(a);
    vt_ratchet_free(r);
    vt_wipe(&spk, sizeof spk);
    vt_wipe(&keys, sizeof keys);
    vt_wipe(pt, sizeof pt);
    return ok;
}

#define PT_MAGIC 0x56424e31u /* "VBN1" */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

void lg_pt_put(uint8_t *pt, size_t len, uint32_t stream, uint64_t index, uint64_t t_ns)
{
    put_u32(pt, PT_MAGIC);
    put_u32(pt + 4, stream);
    put_u64(pt + 8, index);
    put_u64(pt + 16, t_ns);
    if (len > LG_PT_MIN)
        memset(pt + LG_PT_MIN, 0, len - LG_PT_MIN);
}

bool lg_pt_get(const uint8_t *pt, size_t len, uint32_t *stream, uint64_t *index,
               uint64_t *t_ns)
{
    if (len < LG_PT_MIN || get_u32(pt) != PT_MAGIC)
        return false;
    *stream = get_u32(pt + 4);
    *index = get_u64(pt + 8);
    *t_ns = get_u64(pt + 16);
    return true;
}

void lg_mid_put(uint8_t mid[16], const uint8_t run[8], uint32_t stream, uint32_t index)
{
    memcpy(mid, run, 8);
    put_u32(mid + 8, stream);
    put_u32(mid + 12, index);
}

bool lg_mid_get(const uint8_t *mid, size_t len, const uint8_t run[8], uint32_t *stream,
                uint32_t *index)
{
    if (len != 16 || memcmp(mid, run, 8) != 0)
        return false;
    *stream = get_u32(mid + 8);
    *index = get_u32(mid + 12);
    return true;
}
