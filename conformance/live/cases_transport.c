/* Live cases of the transport (spec/wire.md section 1): the opening
 * handshake and its subprotocol, no extensions, binary-only and fragmented
 * messages, the message size limit, and the plain HTTP endpoints. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "live.h"
#include "vt_constants.h"
#include "vt_rpc.h"

/* Receives one message on |ws| and checks it is the Response |id| to a
 * Ping with |nonce|. */
static void expect_ping_response(vcl_ctx *ctx, vtc_ws *ws, const vtc_ws_msg *m,
                                 uint32_t id, uint64_t nonce)
{
    Ventra__V1__Frame *f;
    bool ok;

    (void)ws;
    VCL_CHECK(ctx, m->kind == VTC_WS_BINARY, "got WebSocket message kind %d, want binary",
              (int)m->kind);
    f = ventra__v1__frame__unpack(NULL, m->len, m->data);
    ok = f != NULL && f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE &&
         f->response->id == id &&
         f->response->body_case == VENTRA__V1__RESPONSE__BODY_PING &&
         f->response->ping->nonce == nonce;
    if (f != NULL)
        ventra__v1__frame__free_unpacked(f, NULL);
    VCL_CHECK(ctx, ok, "not the Ping response %u with nonce %llu", id,
              (unsigned long long)nonce);
}

/* ---- WIRE-1, WIRE-2 -------------------------------------------------------- */

static void subprotocol_required(vcl_ctx *ctx)
{
    static const struct {
        const char *what;
        vtc_ws_opts opts;
    } refused[] = {
        {"no Sec-WebSocket-Protocol", {.protocols = ""}},
        {"only ventra.v2", {.protocols = "ventra.v2"}},
        {"the path /v2/ws", {.path = "/v2/ws"}},
    };
    vtc_ws_opts several = {.protocols = "chat, ventra.v1"};
    const char *proto;
    vtc_client *c;
    vtc_ws *ws;
    int status;

    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        vcl_step(ctx, "handshake with %s", refused[i].what);
        ws = vcl_ws(ctx, &refused[i].opts, &status);
        VCL_CHECK(ctx, ws != NULL, "no TCP connection");
        VCL_CHECK(ctx, status != 101, "the upgrade completed (101)");
    }
    vcl_step(ctx, "handshake offering chat, ventra.v1");
    ws = vcl_ws(ctx, &several, &status);
    VCL_CHECK(ctx, ws != NULL && status == 101, "answered %d, want 101", status);
    proto = vtc_ws_header(ws, "Sec-WebSocket-Protocol");
    VCL_CHECK(ctx, proto != NULL && strcmp(proto, VT_PROTOCOL_NAME) == 0,
              "selected subprotocol '%s', want exactly " VT_PROTOCOL_NAME,
              proto ? proto : "(none)");

    vcl_step(ctx, "the default handshake");
    c = vcl_client(ctx);
    proto = vtc_ws_header(vtc_client_ws(c), "Sec-WebSocket-Protocol");
    VCL_CHECK(ctx, proto != NULL && strcmp(proto, VT_PROTOCOL_NAME) == 0,
              "selected subprotocol '%s', want exactly " VT_PROTOCOL_NAME,
              proto ? proto : "(none)");
    vcl_expect_ping_ok(ctx, c, 7);
}

/* WIRE-2's SHOULD: the refusal is a 400. */
static void subprotocol_refused_400(vcl_ctx *ctx)
{
    vtc_ws_opts none = {.protocols = ""};
    int status;

    vcl_step(ctx, "handshake without Sec-WebSocket-Protocol");
    VCL_CHECK(ctx, vcl_ws(ctx, &none, &status) != NULL, "no TCP connection");
    VCL_CHECK(ctx, status == 400, "answered %d, want 400", status);
}

/* ---- WIRE-3 ------------------------------------------------------------------ */

static void no_extensions(vcl_ctx *ctx)
{
    vtc_ws_opts deflate = {.extensions = "permessage-deflate; client_max_window_bits"};
    vtc_ws_msg *m = vcl_msg(ctx);
    uint8_t buf[64];
    size_t n = vcl_ping_frame(buf, sizeof buf, 1, 99);
    const char *ext;
    vtc_ws *ws;
    int status;

    vcl_step(ctx, "handshake offering permessage-deflate");
    ws = vcl_ws(ctx, &deflate, &status);
    VCL_CHECK(ctx, ws != NULL && status == 101, "answered %d, want 101", status);
    ext = vtc_ws_header(ws, "Sec-WebSocket-Extensions");
    VCL_CHECK(ctx, ext == NULL, "the server accepted the extension '%s'", ext);

    vcl_step(ctx, "an uncompressed Ping");
    VCL_CHECK(ctx, vtc_ws_send(ws, 2, buf, n, 1), "write failed");
    vtc_ws_recv(ws, 5000, m);
    expect_ping_response(ctx, ws, m, 1, 99);
}

/* ---- WIRE-4 ------------------------------------------------------------------ */

static void text_frame_closes_1003(vcl_ctx *ctx)
{
    uint8_t buf[64];
    size_t n = vcl_ping_frame(buf, sizeof buf, 3, 1);
    vtc_client *c;
    int code;

    vcl_step(ctx, "a valid Ping frame in a text message");
    c = vcl_client(ctx);
    VCL_CHECK(ctx, vtc_ws_send(vtc_client_ws(c), 1, buf, n, 1), "write failed");
    code = vtc_wait_close(c, 5000);
    VCL_CHECK(ctx, code == 1003, "close code %d, want 1003", code);

    vcl_step(ctx, "the text message 'hello'");
    c = vcl_client(ctx);
    VCL_CHECK(ctx, vtc_ws_send(vtc_client_ws(c), 1, "hello", 5, 1), "write failed");
    code = vtc_wait_close(c, 5000);
    VCL_CHECK(ctx, code == 1003, "close code %d, want 1003", code);

    vcl_step(ctx, "a new connection still serves");
    vcl_expect_ping_ok(ctx, vcl_client(ctx), 8);
}

/* Frame |n| bytes of |payload| into |raw| as one client frame (masked). */
static size_t client_frame(uint8_t *raw, uint8_t first, const uint8_t *payload, size_t n)
{
    static const uint8_t mask[4] = {1, 2, 3, 4};
    size_t o = 0;

    raw[o++] = first;
    raw[o++] = (uint8_t)(0x80 | n);
    memcpy(raw + o, mask, 4);
    o += 4;
    for (size_t i = 0; i < n; i++)
        raw[o++] = payload[i] ^ mask[i & 3];
    return o;
}

static void fragmented_accepted(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    vtc_ws *ws = vtc_client_ws(c);
    vtc_ws_msg *m = vcl_msg(ctx);
    uint8_t buf[64], raw[160];
    size_t n = vcl_ping_frame(buf, sizeof buf, 31, 0x5555), half, o = 0;
    bool pong = false, resp = false;

    for (int frags = 2; frags <= (int)n; frags += 3) {
        uint32_t id = 31 + (uint32_t)frags;
        Ventra__V1__Response *r;
        bool ok;

        vcl_step(ctx, "a Ping in %d fragments", frags);
        n = vcl_ping_frame(buf, sizeof buf, id, 0x5555);
        VCL_CHECK(ctx, vtc_ws_send(ws, 2, buf, n, frags), "write failed");
        r = vtc_wait_response(c, id, 5000);
        ok = r != NULL && r->body_case == VENTRA__V1__RESPONSE__BODY_PING &&
             r->ping->nonce == 0x5555;
        vtc_response_free(r);
        VCL_CHECK(ctx, ok, "no Ping response (close code %d)", vtc_client_close_code(c));
    }

    /* RFC 6455 5.4: a control frame between two fragments is answered, and
     * the message is still reassembled. */
    vcl_step(ctx, "a WebSocket ping between the two fragments of a Ping");
    n = vcl_ping_frame(buf, sizeof buf, 77, 0x7777);
    half = n / 2;
    o += client_frame(raw + o, 0x02, buf, half);                /* binary, no FIN */
    o += client_frame(raw + o, 0x89, (const uint8_t *)"hi", 2); /* ping */
    o += client_frame(raw + o, 0x80, buf + half, n - half);     /* continuation, FIN */
    VCL_CHECK(ctx, vtc_ws_send_raw(ws, raw, o), "write failed");
    while (!pong || !resp) {
        vtc_ws_msg_free(m);
        vtc_ws_recv(ws, 5000, m);
        if (m->kind == VTC_WS_PONG) {
            VCL_CHECK(ctx, !pong, "two pongs");
            VCL_CHECK(ctx, m->len == 2 && memcmp(m->data, "hi", 2) == 0,
                      "the pong does not echo the ping's payload");
            pong = true;
        } else {
            expect_ping_response(ctx, ws, m, 77, 0x7777);
            resp = true;
        }
    }

    vcl_step(ctx, "a WebSocket ping on its own");
    VCL_CHECK(ctx, vtc_ws_ping(ws, "ventra", 6), "write failed");
    vtc_ws_msg_free(m);
    vtc_ws_recv(ws, 5000, m);
    VCL_CHECK(ctx,
              m->kind == VTC_WS_PONG && m->len == 6 && memcmp(m->data, "ventra", 6) == 0,
              "no pong echoing 'ventra' (message kind %d)", (int)m->kind);
}

/* ---- WIRE-21 ----------------------------------------------------------------- */

/* Frame{request{id 5, ping{}, field 99: |pl| bytes of padding}} in |out|,
 * the lengths as 3-byte varints; unknown fields are skipped (WIRE-22), so
 * it is a Ping. Returns its length. */
static size_t padded_ping(uint8_t *out, size_t pl)
{
    static const uint8_t ping[] = {0x08, 0x05, 0x5a, 0x00}; /* id 5, ping{} */
    size_t inner = sizeof ping + 2 + 3 + pl, o = 0;

    out[o++] = 0x0a; /* Frame.request */
    out[o++] = (uint8_t)(0x80 | (inner & 0x7f));
    out[o++] = (uint8_t)(0x80 | (inner >> 7 & 0x7f));
    out[o++] = (uint8_t)(inner >> 14);
    memcpy(out + o, ping, sizeof ping);
    o += sizeof ping;
    out[o++] = 0x9a; /* field 99, length-delimited */
    out[o++] = 0x06;
    out[o++] = (uint8_t)(0x80 | (pl & 0x7f));
    out[o++] = (uint8_t)(0x80 | (pl >> 7 & 0x7f));
    out[o++] = (uint8_t)(pl >> 14);
    memset(out + o, 'p', pl);
    return o + pl;
}

static void frame_too_large_1009(vcl_ctx *ctx)
{
    size_t max = VT_MAX_FRAME_SIZE;
    /* The outer tag and length (4), the request's id and ping (4), the
     * padding's tag and length (5). */
    size_t pl = max - 4 - 4 - 5;
    uint8_t *buf = malloc(max + 1);
    Ventra__V1__Response *r;
    vtc_client *c;
    bool ok;
    int code;

    VCL_CHECK(ctx, buf != NULL, "out of memory");
    vcl_defer(ctx, free, buf);

    vcl_step(ctx, "a Ping of exactly MAX_FRAME_SIZE bytes");
    c = vcl_client(ctx);
    VCL_CHECK(ctx, padded_ping(buf, pl) == max, "padded_ping: wrong length");
    r = vtc_call_raw(c, buf, max);
    ok = r != NULL && r->id == 5 && r->body_case == VENTRA__V1__RESPONSE__BODY_PING;
    code = vtc_error_code(r);
    vtc_response_free(r);
    VCL_CHECK(ctx, ok, "no Ping response (code %d, close code %d)", code,
              vtc_client_close_code(c));

    vcl_step(ctx, "a Ping of MAX_FRAME_SIZE + 1 bytes");
    c = vcl_client(ctx);
    VCL_CHECK(ctx, padded_ping(buf, pl + 1) == max + 1, "padded_ping: wrong length");
    VCL_CHECK(ctx, vtc_ws_send(vtc_client_ws(c), 2, buf, max + 1, 1), "write failed");
    /* Not answered (a Response would be dropped by vtc_wait_close, so
     * look for one first), and closed with 1009. */
    r = vtc_wait_response(c, 5, 5000);
    code = vtc_error_code(r);
    vtc_response_free(r);
    VCL_CHECK(ctx, code == -1, "the oversized message was answered (code %d)", code);
    code = vtc_wait_close(c, 5000);
    VCL_CHECK(ctx, code == 1009, "close code %d, want 1009", code);

    vcl_step(ctx, "a new connection still serves");
    vcl_expect_ping_ok(ctx, vcl_client(ctx), 9);
}

/* ---- WIRE-7 ------------------------------------------------------------------ */

static void healthz_and_404(vcl_ctx *ctx)
{
    static const char *const missing[] = {"/nope", "/v1/wsx"};
    char *headers = NULL, *body = NULL;
    int status;

    vcl_step(ctx, "GET /healthz");
    status = vtc_http_get(vcl_port(ctx), "/healthz", &headers, &body);
    vcl_defer(ctx, free, headers);
    vcl_defer(ctx, free, body);
    VCL_CHECK(ctx, status == 200, "status %d, want 200", status);
    VCL_CHECK(ctx, body != NULL && (strcmp(body, "ok") == 0 || strcmp(body, "ok\n") == 0),
              "body '%s', want 'ok'", body ? body : "(none)");
    VCL_CHECK(ctx, headers != NULL && strcasestr(headers, "\ncontent-type: text/plain"),
              "no Content-Type: text/plain");

    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        vcl_step(ctx, "GET %s", missing[i]);
        status = vtc_http_get(vcl_port(ctx), missing[i], NULL, NULL);
        VCL_CHECK(ctx, status == 404, "status %d, want 404", status);
    }
}

/* ---- WIRE-8, SEC-24 -------------------------------------------------------- */

/* After an account registered, sent a message and made a group, /metrics
 * (when the server serves it) names none of them: no username, no message
 * or group id (hex, either case), no client address. */
static void metrics_aggregate(vcl_ctx *ctx)
{
    vtc_device *a = vcl_account(ctx, "metricsa");
    vtc_device *b = vcl_account(ctx, "metricsb");
    char *headers = NULL, *body = NULL, hex[33];
    uint8_t mid[16];
    int status;

    vcl_step(ctx, "traffic that names accounts and a message");
    vtc_random16(mid);
    vtc_response_free(vtc_send_text(a, b->username, "metrics", mid));
    vcl_step(ctx, "GET /metrics");
    status = vtc_http_get(vcl_port(ctx), "/metrics", &headers, &body);
    vcl_defer(ctx, free, headers);
    vcl_defer(ctx, free, body);
    if (status == 404)
        vcl_skip(ctx, "the server serves no /metrics");
    VCL_CHECK(ctx, status == 200 && body != NULL, "GET /metrics: status %d", status);
    VCL_CHECK(ctx, strstr(body, a->username) == NULL && strstr(body, b->username) == NULL,
              "/metrics names a username");
    for (size_t i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", mid[i]);
    VCL_CHECK(ctx, strcasestr(body, hex) == NULL, "/metrics holds the message id %s",
              hex);
    VCL_CHECK(ctx, strstr(body, "127.0.0.1") == NULL, "/metrics holds a client address");
}

VCL_CASES(
    transport,
    {"transport/subprotocol-required", "WIRE-1 WIRE-2", VCL_MUST, 0,
     "a handshake without ventra.v1 gets no 101; with it, exactly ventra.v1 is selected",
     subprotocol_required},
    {"transport/subprotocol-refused-400", "WIRE-2", VCL_SHOULD, 0,
     "a handshake without ventra.v1 is answered 400", subprotocol_refused_400},
    {"transport/no-extensions", "WIRE-3", VCL_MUST, 0,
     "permessage-deflate offered is not accepted; plain frames work", no_extensions},
    {"transport/text-frame-closes-1003", "WIRE-4", VCL_MUST, 0,
     "a text message closes the connection with 1003", text_frame_closes_1003},
    {"transport/fragmented-accepted", "WIRE-4", VCL_MUST, 0,
     "fragmented messages (with a ping between fragments) are reassembled",
     fragmented_accepted},
    {"transport/frame-too-large-1009", "WIRE-21", VCL_MUST, 0,
     "MAX_FRAME_SIZE bytes are served, one more closes with 1009 unanswered",
     frame_too_large_1009},
    {"transport/healthz-and-404", "WIRE-7", VCL_MUST, 0,
     "GET /healthz answers 200 ok text/plain; unknown paths 404", healthz_and_404},
    {"transport/metrics-aggregate", "WIRE-8 SEC-24", VCL_MUST, 0,
     "/metrics names no account, message or client address", metrics_aggregate});
