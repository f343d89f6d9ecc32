/* Client tier, transport: where the client connects (spec/wire.md WIRE-6,
 * security.md SEC-8) and what it does with frames a server of a later
 * revision, or a misbehaving one, sends (WIRE-25, WIRE-36, WIRE-42, WIRE-51,
 * spec/README.md SPEC-3), through the intercepting proxy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_kit.h"
#include "vtc_peer.h"

static void free_peer(void *p)
{
    vtc_peer_free(p);
}

static vtc_peer *peer(vcl_ctx *ctx, const char *prefix)
{
    vtc_peer *p = vtc_peer_register(vcl_port(ctx), prefix);

    vcl_defer(ctx, free_peer, p);
    return p;
}

/* A message each way between |k| and |p| works. */
static void roundtrip(vcl_ctx *ctx, vck_client *k, vtc_peer *p)
{
    char t1[64], t2[64];
    uint8_t mid[16];
    vtc_peer_msg m;
    bool got = false;

    vck_text(t1, "to-peer");
    vcl_step(ctx, "the client sends to the peer");
    vck_send(k, vtc_peer_username(p), t1, mid);
    for (int i = 0; i < 4 && !got; i++) {
        VCL_CHECK(ctx, vtc_peer_recv(p, 5000, &m), "the peer received nothing");
        got = m.error == VT_OK && vtc_peer_msg_text(&m) != NULL &&
              strcmp(vtc_peer_msg_text(&m), t1) == 0;
        vtc_peer_msg_clear(&m);
    }
    VCL_CHECK(ctx, got, "the peer did not decrypt the client's message");
    vck_text(t2, "to-client");
    vcl_step(ctx, "the peer sends to the client");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t2, NULL), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS, "the peer's message shown");
}

/* ---- WIRE-6: plain ws only to loopback ---------------------------------------- */

static void plain_ws_remote(vcl_ctx *ctx)
{
    vcl_step(ctx, "vt_client_open with ws:// to a non-loopback address");
    VCL_CODE(ctx, (int)vck_try_open(ctx, "ws://192.0.2.1:1"), VT_ERR_CONFIG);
    VCL_CODE(ctx, (int)vck_try_open(ctx, "ws://example.org:80"), VT_ERR_CONFIG);
}

/* A wss server whose certificate does not verify: the client must not send
 * the handshake; with that certificate configured as its CA it does (so the
 * listener does see a handshake when one comes). */
static bool gave_up(vck_client *k, const void *unused)
{
    (void)unused;
    return k->c != NULL && (vt_client_get_state(k->c) == VT_CLIENT_BACKOFF ||
                            vt_client_get_state(k->c) == VT_CLIENT_CLOSED);
}

static void tls_unverified(vcl_ctx *ctx)
{
    vck_tls *t = vck_tls_start(ctx);
    char url[64];
    vck_client *k;
    size_t hs = 0;
    bool http = false;
    vt_err err;

    snprintf(url, sizeof url, "wss://127.0.0.1:%d", vck_tls_port(t));
    vcl_step(ctx,
             "a client with the system trust store connects to a self-signed server");
    k = vck_open_ca(ctx, url, NULL);
    err = vt_client_register(k->c, "unverified", 3000);
    VCL_CHECK(ctx, err != VT_OK, "registration over an unverified certificate succeeded");
    vck_wait(k, gave_up, NULL, 3000);
    vck_shut(k);
    vck_tls_seen(t, &hs, &http);
    VCL_CHECK(
        ctx, !http,
        "the client sent the WebSocket handshake to a server whose certificate does "
        "not verify");
    vcl_step(ctx, "control: a client that trusts the certificate sends the handshake");
    k = vck_open_ca(ctx, url, vck_tls_cert_file(t));
    err = vt_client_register(k->c, "verified", 3000);
    (void)err; /* the listener answers nothing */
    vck_shut(k);
    vck_tls_seen(t, &hs, &http);
    VCL_CHECK(ctx, http,
              "control failed: a client trusting the certificate sent no handshake (the "
              "check above proves nothing)");
}

/* ---- WIRE-25: unknown events and stray responses are ignored ------------------ */

static void unknown_event(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    /* Event{field 99: "x"} in Frame.event (field 3) */
    static const uint8_t unknown[] = {0x1a, 0x04, 0x9a, 0x06, 0x01, 'x'};
    Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;
    Ventra__V1__Response r = VENTRA__V1__RESPONSE__INIT;
    Ventra__V1__PingResponse ping = VENTRA__V1__PING_RESPONSE__INIT;
    uint8_t *stray;
    size_t len = 0, nstates;

    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE");
    nstates = k->nstates;
    vcl_step(ctx,
             "the proxy sends an Event of an unknown kind and a Response to no request");
    r.id = 0x7ffffff1u;
    r.body_case = VENTRA__V1__RESPONSE__BODY_PING;
    r.ping = &ping;
    f.kind_case = VENTRA__V1__FRAME__KIND_RESPONSE;
    f.response = &r;
    stray = vck_pack(&f, &len);
    VCL_CHECK(ctx, stray != NULL, "out of memory");
    vcl_defer(ctx, free, stray);
    VCL_CHECK(ctx, vck_proxy_inject(px, unknown, sizeof unknown),
              "no connection to inject on");
    VCL_CHECK(ctx, vck_proxy_inject(px, stray, len), "no connection to inject on");
    vck_pump(k, VCK_QUIET_MS);
    VCL_CHECK(ctx, k->nstates == nstates && vck_is_live(k, NULL),
              "the client left LIVE after an unknown Event or a stray Response");
    roundtrip(ctx, k, p);
    VCL_CHECK(ctx, k->nstates == nstates, "the client reconnected meanwhile");
}

/* ---- WIRE-42, SPEC-3: local and unknown error codes are ERROR_INTERNAL -------- */

typedef struct answer_code {
    int code;
    unsigned answered;
} answer_code;

static vck_verdict answer_list_devices(void *ud, unsigned conn, vck_dir dir,
                                       const uint8_t *data, size_t len, uint8_t **out,
                                       size_t *out_len)
{
    answer_code *a = ud;
    Ventra__V1__Frame *f;
    vck_verdict v = VCK_PASS;

    (void)conn;
    if (dir != VCK_TO_SERVER || a->code == 0 || (f = vck_decode(data, len)) == NULL)
        return VCK_PASS;
    if (f->kind_case == VENTRA__V1__FRAME__KIND_REQUEST &&
        f->request->body_case == VENTRA__V1__REQUEST__BODY_LIST_DEVICES) {
        *out = vck_error_response(f->request->id, a->code, out_len);
        if (*out != NULL) {
            v = VCK_ANSWER;
            a->answered++;
        }
    }
    ventra__v1__frame__free_unpacked(f, NULL);
    return v;
}

static void error_codes(vcl_ctx *ctx)
{
    static const int codes[] = {100, 102, 105, 106, 150, 77, 1000};
    vck_proxy *px = vck_proxy_start(ctx);
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    answer_code a = {0, 0};
    vt_client_device devs[4];
    size_t n = 0;

    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE");
    vck_proxy_set_hook(px, answer_list_devices, &a);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        vt_err err;
        unsigned before;

        vck_proxy_lock(px);
        a.code = codes[i];
        before = a.answered;
        vck_proxy_unlock(px);
        vcl_step(ctx, "ListDevices answered with error code %d", codes[i]);
        err = vt_client_devices(k->c, devs, 4, &n, VCK_WAIT_MS);
        vck_proxy_lock(px);
        VCL_CHECK(ctx, a.answered > before, "the client sent no ListDevices");
        vck_proxy_unlock(px);
        VCL_CHECK(ctx, err == VT_ERR_INTERNAL,
                  "error code %d on the wire: vt_client_devices returned %s (%d), want "
                  "ERROR_INTERNAL (%d)",
                  codes[i], vt_strerror(err), (int)err, (int)VT_ERR_INTERNAL);
    }
}

/* ---- SPEC-3: unknown fields are ignored ----------------------------------------- */

static size_t put_varint(uint8_t *out, uint64_t v)
{
    return vtc_pb_varint(out, v);
}

/* Adds an unknown varint field (127 = 42) inside the Response or Event of
 * every frame to the client, and an unknown field (15 = 1) to the Frame. */
static vck_verdict add_unknown(void *ud, unsigned conn, vck_dir dir, const uint8_t *data,
                               size_t len, uint8_t **out, size_t *out_len)
{
    static const uint8_t inner[] = {0xf8, 0x07, 0x2a}, outer[] = {0x78, 0x01};
    size_t hl = 1, inner_len = 0, i = 1, shift = 0;
    uint8_t *o;

    (void)ud;
    (void)conn;
    if (dir != VCK_TO_CLIENT || len < 2 || (data[0] != 0x12 && data[0] != 0x1a))
        return VCK_PASS;
    while (i < len && i < 6) {
        inner_len |= (size_t)(data[i] & 0x7f) << shift;
        shift += 7;
        if (!(data[i++] & 0x80))
            break;
    }
    hl = i;
    if (hl + inner_len != len)
        return VCK_PASS; /* not a lone Response or Event: left alone */
    o = malloc(len + 32);
    if (o == NULL)
        return VCK_PASS;
    o[0] = data[0];
    i = 1 + put_varint(o + 1, inner_len + sizeof inner);
    memcpy(o + i, data + hl, inner_len);
    i += inner_len;
    memcpy(o + i, inner, sizeof inner);
    i += sizeof inner;
    memcpy(o + i, outer, sizeof outer);
    *out = o;
    *out_len = i + sizeof outer;
    return VCK_REPLACE;
}

static void unknown_fields(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k;

    vck_proxy_set_hook(px, add_unknown, NULL);
    vcl_step(ctx, "registration through a server whose frames carry unknown fields");
    k = vck_account(ctx, "cli", vck_proxy_url(px));
    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE");
    roundtrip(ctx, k, p);
}

/* ---- WIRE-51: no non-public RPC before the authenticating response ------------- */

static bool is_public(int body)
{
    return body == VENTRA__V1__REQUEST__BODY_GET_SERVER_INFO ||
           body == VENTRA__V1__REQUEST__BODY_PING ||
           body == VENTRA__V1__REQUEST__BODY_GET_CHALLENGE ||
           body == VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT ||
           body == VENTRA__V1__REQUEST__BODY_LOGIN ||
           body == VENTRA__V1__REQUEST__BODY_RESUME;
}

typedef struct hold_auth {
    unsigned after_conn; /* hold on connections after this one */
    uint32_t auth_id;
    unsigned auth_conn;
    bool holding, released;
    uint8_t *held[64]; /* the response and everything after it, in order */
    size_t held_len[64], nheld;
} hold_auth;

/* Withholds the response to the Resume or Login of a new connection, and
 * everything after it on that connection (the order of WIRE-37 stays). */
static vck_verdict hold_auth_response(void *ud, unsigned conn, vck_dir dir,
                                      const uint8_t *data, size_t len, uint8_t **out,
                                      size_t *out_len)
{
    hold_auth *h = ud;
    Ventra__V1__Frame *f;
    vck_verdict v = VCK_PASS;

    (void)out;
    (void)out_len;
    if (conn <= h->after_conn || h->released || (f = vck_decode(data, len)) == NULL)
        return VCK_PASS;
    if (dir == VCK_TO_SERVER && f->kind_case == VENTRA__V1__FRAME__KIND_REQUEST &&
        (f->request->body_case == VENTRA__V1__REQUEST__BODY_RESUME ||
         f->request->body_case == VENTRA__V1__REQUEST__BODY_LOGIN) &&
        h->auth_conn == 0) {
        h->auth_id = f->request->id;
        h->auth_conn = conn;
    } else if (dir == VCK_TO_CLIENT && conn == h->auth_conn &&
               (h->holding ||
                (f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE &&
                 f->response->id == h->auth_id && f->response->error == NULL)) &&
               h->nheld < 64 && (h->held[h->nheld] = malloc(len)) != NULL) {
        memcpy(h->held[h->nheld], data, len);
        h->held_len[h->nheld++] = len;
        h->holding = true;
        v = VCK_DROP;
    }
    ventra__v1__frame__free_unpacked(f, NULL);
    return v;
}

static void no_rpc_before_auth(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    hold_auth h = {0};
    uint8_t mid[16];
    int64_t released = 0, deadline;
    vck_rec *recs;
    size_t n = 0;
    bool held = false;

    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE");
    vck_proxy_lock(px);
    h.after_conn = 1;
    vck_proxy_unlock(px);
    vck_proxy_set_hook(px, hold_auth_response, &h);
    vcl_step(ctx, "the connection drops; a message is queued meanwhile");
    vck_proxy_cut(px);
    VCL_CODE(ctx, (int)vt_client_send_text(k->c, vtc_peer_username(p), "queued", mid),
             VT_OK);
    vcl_step(ctx, "the client reconnects; its authenticating response is withheld 1.5 s");
    deadline = vtc_now_ms() + 15000;
    while (!held && vtc_left_ms(deadline) > 0) {
        vck_pump(k, 100);
        vck_proxy_lock(px);
        held = h.holding;
        vck_proxy_unlock(px);
    }
    if (!held)
        vcl_failf(ctx, "the client did not authenticate again within 15 s");
    vck_pump(k, VCK_QUIET_MS);
    vck_proxy_lock(px);
    released = vtc_now_ms();
    h.released = true;
    vck_proxy_unlock(px);
    for (size_t i = 0; i < h.nheld; i++) {
        bool ok = vck_proxy_inject(px, h.held[i], h.held_len[i]);

        free(h.held[i]);
        h.held[i] = NULL;
        VCL_CHECK(ctx, ok, "the connection is gone");
    }
    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE again");
    recs = vck_proxy_records(px, &n);
    for (size_t i = 0; i < n; i++) {
        int body;

        if (recs[i].conn != h.auth_conn || recs[i].dir != VCK_TO_SERVER ||
            recs[i].at_ms >= released)
            continue;
        body = vck_request_case(recs[i].data, recs[i].len);
        if (body != 0 && !is_public(body)) {
            vck_recs_free(recs, n);
            vcl_failf(ctx,
                      "the client sent a non-public request (body %d) before the "
                      "authenticating response",
                      body);
        }
    }
    vck_recs_free(recs, n);
}

/* ---- WIRE-36: responses are matched by id, not by order ---------------------- */

typedef struct reorder {
    bool on;
    vck_proxy *px;
    uint32_t ack_id, list_id; /* the requests whose responses are held */
    uint8_t *held;            /* the Ack's response */
    size_t held_len;
    bool swapped;
} reorder;

/* Holds the response to the first Ack after |on|, then, when the response
 * to a ListDevices sent while it is held comes, sends that one first and
 * the Ack's after it. */
static vck_verdict reorder_responses(void *ud, unsigned conn, vck_dir dir,
                                     const uint8_t *data, size_t len, uint8_t **out,
                                     size_t *out_len)
{
    reorder *r = ud;
    Ventra__V1__Frame *f;
    vck_verdict v = VCK_PASS;

    (void)conn;
    (void)out;
    (void)out_len;
    if (!r->on || r->swapped || (f = vck_decode(data, len)) == NULL)
        return VCK_PASS;
    if (dir == VCK_TO_SERVER && f->kind_case == VENTRA__V1__FRAME__KIND_REQUEST) {
        if (f->request->body_case == VENTRA__V1__REQUEST__BODY_ACK && r->ack_id == 0)
            r->ack_id = f->request->id;
        else if (f->request->body_case == VENTRA__V1__REQUEST__BODY_LIST_DEVICES &&
                 r->held != NULL && r->list_id == 0)
            r->list_id = f->request->id;
    } else if (dir == VCK_TO_CLIENT && f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE) {
        uint32_t id = f->response->id;

        if (id != 0 && id == r->ack_id && r->held == NULL &&
            (r->held = malloc(len)) != NULL) {
            memcpy(r->held, data, len);
            r->held_len = len;
            v = VCK_DROP;
        } else if (id != 0 && id == r->list_id && r->held != NULL) {
            /* this one first, then the one that was asked for earlier */
            if (vck_proxy_inject_locked(r->px, data, len) &&
                vck_proxy_inject_locked(r->px, r->held, r->held_len)) {
                v = VCK_DROP;
                r->swapped = true;
            }
        }
    }
    ventra__v1__frame__free_unpacked(f, NULL);
    return v;
}

static void free_reorder(void *p)
{
    reorder *r = p;

    free(r->held);
    free(r);
}

static bool ack_held(vck_proxy *px, reorder *r)
{
    bool held;

    vck_proxy_lock(px);
    held = r->held != NULL;
    vck_proxy_unlock(px);
    return held;
}

static void responses_by_id(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    reorder *r = calloc(1, sizeof *r);
    vt_client_device devs[4];
    size_t n = 0, nstates;
    char t[64], t2[64];
    int64_t deadline;
    vt_err err;
    bool swapped;

    VCL_CHECK(ctx, r != NULL, "out of memory");
    vcl_defer(ctx, free_reorder, r);
    r->px = px;
    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE");
    nstates = k->nstates;
    vck_proxy_set_hook(px, reorder_responses, r);
    vck_proxy_lock(px);
    r->on = true;
    vck_proxy_unlock(px);
    vcl_step(ctx, "the peer writes; the response to the client's Ack is held");
    vck_text(t, "held-ack");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t, NULL), VT_OK);
    vck_expect(k, vck_has_text, t, VCK_WAIT_MS, "the peer's message shown");
    deadline = vtc_now_ms() + VCK_WAIT_MS;
    while (!ack_held(px, r) && vtc_left_ms(deadline) > 0)
        vck_pump(k, 50);
    VCL_CHECK(ctx, ack_held(px, r), "the client sent no Ack (the case proves nothing)");
    vcl_step(ctx, "ListDevices while the Ack is in flight; its response comes first");
    err = vt_client_devices(k->c, devs, 4, &n, VCK_WAIT_MS);
    vck_proxy_lock(px);
    swapped = r->swapped;
    vck_proxy_unlock(px);
    VCL_CHECK(ctx, swapped,
              "the proxy did not reorder the two responses (no ListDevices while the Ack "
              "was held)");
    VCL_CHECK(ctx, err == VT_OK, "vt_client_devices: %s", vt_strerror(err));
    VCL_CHECK(ctx, n == 1 && devs[0].device_id == vt_client_device_id(k->c),
              "vt_client_devices after the reordered responses: %zu devices, the first "
              "%u (want 1, this device %u)",
              n, n ? devs[0].device_id : 0, vt_client_device_id(k->c));
    vck_pump(k, 500);
    VCL_CHECK(ctx, k->nstates == nstates && vck_is_live(k, NULL),
              "the client left LIVE after responses in another order than its requests");
    vcl_step(ctx, "the connection still works");
    vck_text(t2, "after");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t2, NULL), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS, "the next message shown");
    VCL_CHECK(ctx, vck_count_text(k, t) == 1, "the first message was shown %zu times",
              vck_count_text(k, t));
}

VCK_CASES(transport,
          {"transport/plain-ws-remote", "WIRE-6 SEC-8", VCL_MUST, 0,
           "vt_client_open refuses ws:// to a host that is not a loopback address",
           plain_ws_remote},
          {"transport/tls-unverified", "WIRE-6 SEC-8", VCL_MUST, 0,
           "no WebSocket handshake to a wss server whose certificate does not verify",
           tls_unverified},
          {"transport/unknown-event", "WIRE-25", VCL_MUST, 0,
           "an Event of an unknown kind and a Response to no request are ignored",
           unknown_event},
          {"transport/unknown-error-codes", "WIRE-42 SPEC-3", VCL_MUST, 0,
           "local (100+) and unknown error codes on the wire are ERROR_INTERNAL",
           error_codes},
          {"transport/unknown-fields", "SPEC-3", VCL_MUST, 0,
           "unknown fields in Frame, Response and Event are ignored", unknown_fields},
          {"transport/no-rpc-before-auth", "WIRE-51", VCL_MUST, 0,
           "no non-public request before the response that authenticated the connection",
           no_rpc_before_auth},
          {"transport/responses-by-id", "WIRE-36", VCL_MUST, 0,
           "two responses in the reverse order of their requests: both complete rightly",
           responses_by_id}, );
