/* Live cases of hostile and malformed input (spec/wire.md 1.4, 2.1, 4.2;
 * spec/README.md SPEC-3; spec/security.md SEC-26): messages that are no
 * Frame, frames of no or the wrong kind, unknown fields, fields over their
 * bounds or not UTF-8, and WebSocket protocol violations. After each, the
 * connection is still served where the spec says so, and a fresh client
 * always is. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "live.h"
#include "ventra/err.h"
#include "vt_constants.h"
#include "vt_rpc.h"

#define P(name) VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_##name

/* A fresh client registers and pings: the server still serves. */
static void expect_serving(vcl_ctx *ctx)
{
    vcl_step(ctx, "a fresh client is served");
    vcl_expect_ping_ok(ctx, vcl_account(ctx, "alive")->c, 0xabcdef);
}

/* Sends |len| raw bytes; the next Response must be the error |code| with
 * |id| and no body; then the connection must still serve (WIRE-23). */
static void expect_refused(vcl_ctx *ctx, vtc_client *c, const void *data, size_t len,
                           uint32_t id, int code, const char *what)
{
    vcl_expect_raw_error(ctx, c, data, len, id, code, what);
    vcl_expect_ping_ok(ctx, c, 0xabcdef);
}

/* A message of |n| raw bytes that is not a valid Frame. */
typedef struct raw_input {
    const char *what;
    uint8_t b[12];
    size_t n;
} raw_input;

/* Each of the |n| inputs |in|, on one connection, is refused with |code|
 * (id 0) and the connection still serves; then a fresh client is served. */
static void expect_all_refused(vcl_ctx *ctx, const raw_input *in, size_t n, int code)
{
    vtc_client *c = vcl_client(ctx);

    for (size_t i = 0; i < n; i++) {
        vcl_step(ctx, "%s", in[i].what);
        expect_refused(ctx, c, in[i].b, in[i].n, 0, code, in[i].what);
    }
    expect_serving(ctx);
}

/* ---- Messages that are no Frame (WIRE-23, WIRE-24) -----------------------------------
 */

static void garbage_malformed(vcl_ctx *ctx)
{
    static const raw_input junk[] = {
        {"a runaway varint", {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 8},
        {"a varint of 11 bytes",
         {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
         12},
        {"a length past the end", {0x0a, 0x7f, 0x08, 0x01}, 4},
        {"a length of 2^32", {0x0a, 0x80, 0x80, 0x80, 0x80, 0x10, 0x08, 0x01}, 8},
        {"a group wire type", {0x0b, 0x00}, 2},
        {"wire types 6 and 7", {0x0e, 0x00, 0x0f}, 3},
        {"field number 0", {0x00, 0x01}, 2},
        {"Frame.request as a varint", {0x08, 0x01}, 2},
        {"Request.id as bytes", {0x0a, 0x03, 0x0a, 0x01, 0x05}, 5},
        {"a uint32 id over 32 bits",
         {0x0a, 0x08, 0x08, 0x80, 0x80, 0x80, 0x80, 0x10, 0x5a, 0x00},
         10},
    };

    expect_all_refused(ctx, junk, sizeof junk / sizeof junk[0], VT_ERR_MALFORMED_FRAME);
}

static void truncated_malformed(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    uint8_t buf[64];
    size_t n = vcl_ping_frame(buf, sizeof buf, 9, 0x112233445566ull);

    for (size_t cut = 1; cut < n; cut++) {
        vcl_step(ctx, "a Ping frame of %zu bytes cut to %zu", n, n - cut);
        expect_refused(ctx, c, buf, n - cut, 0, VT_ERR_MALFORMED_FRAME, "the frame");
    }
    expect_serving(ctx);
}

static void unknown_frame_kind(vcl_ctx *ctx)
{
    static const raw_input frames[] = {
        {"an empty message", {0}, 0},
        {"a response", {0x12, 0x02, 0x08, 0x05}, 4},
        {"an event", {0x1a, 0x00}, 2},
        {"only an unknown field 4", {0x20, 0x01}, 2},
    };

    expect_all_refused(ctx, frames, sizeof frames / sizeof frames[0],
                       VT_ERR_UNKNOWN_FRAME_KIND);
}

/* ---- Unknown fields (WIRE-22, SPEC-3)
 * ---------------------------------------------------- */

static void unknown_fields_ignored(vcl_ctx *ctx)
{
    /* Frame{request{id 21, field 9 varint, ping{nonce 1, field 7 bytes},
     * ping{nonce 2}}, field 15 bytes}: a repeated oneof member replaces the
     * earlier one. */
    static const uint8_t f[] = {0x0a, 0x0f, 0x08, 0x15, 0x48, 0x01, 0x5a,
                                0x05, 0x08, 0x01, 0x3a, 0x01, 0x78, 0x5a,
                                0x02, 0x08, 0x02, 0x7a, 0x01, 0x00};
    vtc_client *c = vcl_client(ctx);
    Ventra__V1__Response *r;

    vcl_step(ctx, "a Ping with unknown fields at three levels, its body twice");
    r = vcl_keep(ctx, vtc_call_raw(c, f, sizeof f));
    VCL_CHECK(ctx, r != NULL, "no response (close code %d)", vtc_client_close_code(c));
    VCL_CHECK(ctx, r->id == 21, "response id %u, want 21", r->id);
    VCL_CODE(ctx, vtc_error_code(r), 0);
    VCL_CHECK(ctx, r->body_case == VENTRA__V1__RESPONSE__BODY_PING && r->ping->nonce == 2,
              "want the Ping of the last body, nonce 2");

    vcl_step(ctx, "a Register with an unknown field in its body registers");
    {
        Ventra__V1__RegisterRequest b = VENTRA__V1__REGISTER_REQUEST__INIT;
        vt_identity *id = vtc_new_identity();
        uint8_t key[32], nonce[32], sig[64], body[512], frame[600];
        char user[33];
        size_t n;

        vtc_username(user, "unkfield");
        VCL_CHECK(ctx, vtc_server_info(c, key), "GetServerInfo failed");
        VCL_CHECK(ctx, vtc_challenge(c, P(REGISTER), nonce), "GetChallenge failed");
        vtc_sign_register(id, key, nonce, 32, user, vt_identity_public(id), sig);
        b.username = user;
        b.identity_key = vtc_bin(vt_identity_public(id), 32);
        b.nonce = vtc_bin(nonce, 32);
        b.signature = vtc_bin(sig, 64);
        n = ventra__v1__register_request__pack(&b, body);
        vt_identity_free(id);
        /* field 200, length-delimited, 3 bytes */
        body[n++] = 0xc2;
        body[n++] = 0x0c;
        body[n++] = 0x03;
        memcpy(body + n, "xyz", 3);
        n += 3;
        n = vtc_raw_request(frame, sizeof frame, 31, VT_RPC_REGISTER, body, n);
        r = vcl_keep(ctx, vtc_call_raw(c, frame, n));
        VCL_CHECK(ctx, r != NULL && r->id == 31, "no response of id 31");
        VCL_CODE(ctx, vtc_error_code(r), 0);
        VCL_CHECK(ctx, r->body_case == VENTRA__V1__RESPONSE__BODY_REGISTER_ACCOUNT,
                  "no RegisterResponse");
    }
}

/* ---- Field bounds and strings (WIRE-60, WIRE-61)
 * ---------------------------------------- */

static void field_over_bound(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    vtc_device *d = vcl_account(ctx, "bounds");
    char name33[34], tok513[514];
    uint8_t nonce[32], zeros[64] = {0};
    vt_identity *id;

    memset(name33, 'a', 33);
    name33[33] = '\0';
    memset(tok513, 'A', 513);
    tok513[513] = '\0';
    VCL_CHECK(ctx, vtc_challenge(c, P(REGISTER), nonce), "GetChallenge failed");
    vcl_step(ctx, "Register of a 33-byte name");
    vcl_check_code(
        ctx, vtc_take_code(vtc_rpc_register(c, name33, zeros, 32, nonce, 32, zeros, 64)),
        VT_ERR_TOO_LARGE, "Register");
    vcl_expect_ping_ok(ctx, c, 0xabcdef);
    vcl_step(ctx, "Login of a 33-byte name");
    vcl_check_code(ctx, vtc_take_code(vtc_rpc_login(c, name33, 1, nonce, 32, zeros, 64)),
                   VT_ERR_TOO_LARGE, "Login");
    vcl_expect_ping_ok(ctx, c, 0xabcdef);
    vcl_step(ctx, "Resume of a 513-byte token");
    vcl_check_code(ctx, vtc_take_code(vtc_rpc_resume(c, tok513)), VT_ERR_TOO_LARGE,
                   "Resume");
    vcl_expect_ping_ok(ctx, c, 0xabcdef);
    vcl_step(ctx, "a 32-byte name is within bounds: Register gets as far as the nonce");
    name33[32] = '\0';
    id = vtc_new_identity();
    {
        int code = vtc_take_code(vtc_rpc_register(c, name33, vt_identity_public(id), 32,
                                                  zeros, 32, zeros, 64));

        vt_identity_free(id);
        vcl_check_code(ctx, code, VT_ERR_BAD_CHALLENGE, "Register of a 32-byte name");
    }
    vcl_expect_ping_ok(ctx, c, 0xabcdef);
    vcl_step(ctx, "authenticated: ListDevices of a 33-byte name");
    name33[32] = 'a';
    vcl_check_code(ctx, vtc_take_code(vtc_rpc_list_devices(d->c, name33)),
                   VT_ERR_TOO_LARGE, "ListDevices");
    vcl_expect_ping_ok(ctx, d->c, 0xabcdef);
    vcl_step(ctx, "AddDevice with a device name of MAX_DEVICE_NAME_LEN + 1 bytes");
    {
        char name65[66];

        memset(name65, 'n', 65);
        name65[65] = '\0';
        vcl_check_code(
            ctx, vtc_take_code(vtc_rpc_add_device(d->c, zeros, 32, name65, zeros, 64)),
            VT_ERR_TOO_LARGE, "AddDevice");
    }
    vcl_expect_ping_ok(ctx, d->c, 0xabcdef);
    expect_serving(ctx);
}

static void string_not_utf8(vcl_ctx *ctx)
{
    static const struct {
        const char *what;
        const char *s;
    } bad[] = {
        {"a byte 0xff", "ab\xff"},
        {"a lone continuation byte", "ab\x80"},
        {"an overlong encoding of '/'", "ab\xc0\xaf"},
        {"a truncated sequence", "ab\xe2\x82"},
        {"a surrogate", "ab\xed\xa0\x80"},
    };
    vtc_client *c = vcl_client(ctx);
    uint8_t body[64], frame[96];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0] + 1; i++) {
        const char *s = i < sizeof bad / sizeof bad[0] ? bad[i].s : "ab\0c";
        size_t len = i < sizeof bad / sizeof bad[0] ? strlen(s) : 4, n = 0;

        vcl_step(ctx, "ListDevices of a username with %s",
                 i < sizeof bad / sizeof bad[0] ? bad[i].what : "U+0000");
        body[n++] = 0x0a; /* ListDevicesRequest.username */
        body[n++] = (uint8_t)len;
        memcpy(body + n, s, len);
        n += len;
        n = vtc_raw_request(frame, sizeof frame, 12, VT_RPC_LIST_DEVICES, body, n);
        expect_refused(ctx, c, frame, n, 0, VT_ERR_MALFORMED_FRAME, "the frame");
    }
    expect_serving(ctx);
}

/* ---- WebSocket protocol errors (WIRE-9: 1002) ----------------------------------------
 */

/* One client frame: |first| (FIN, RSV, opcode), masked unless |unmasked|. */
static size_t ws_frame(uint8_t *raw, uint8_t first, const uint8_t *payload, size_t n,
                       bool unmasked)
{
    static const uint8_t mask[4] = {7, 1, 2, 3};
    size_t o = 0;

    raw[o++] = first;
    if (n < 126) {
        raw[o++] = (uint8_t)((unmasked ? 0 : 0x80) | n);
    } else {
        raw[o++] = (uint8_t)((unmasked ? 0 : 0x80) | 126);
        raw[o++] = (uint8_t)(n >> 8);
        raw[o++] = (uint8_t)n;
    }
    if (!unmasked) {
        memcpy(raw + o, mask, 4);
        o += 4;
    }
    for (size_t i = 0; i < n; i++)
        raw[o++] = unmasked ? payload[i] : payload[i] ^ mask[i & 3];
    return o;
}

static void ws_protocol_errors(vcl_ctx *ctx)
{
    uint8_t ping[64], big[200], raw[600];
    size_t np = vcl_ping_frame(ping, sizeof ping, 3, 3), fl = 0;
    char failed[1024] = "";

    memset(big, 'p', sizeof big);
    for (int i = 1; i < 7; i++) {
        vtc_client *c = vcl_client(ctx);
        const char *what = "";
        size_t o = 0;
        int code;

        switch (i) {
        case 1:
            what = "a binary frame with RSV2 set";
            o = ws_frame(raw, 0xa2, ping, np, false);
            break;
        case 2:
            what = "the reserved opcode 3";
            o = ws_frame(raw, 0x83, ping, np, false);
            break;
        case 3:
            what = "a ping of 126 bytes";
            o = ws_frame(raw, 0x89, big, 126, false);
            break;
        case 4:
            what = "a fragmented ping";
            o = ws_frame(raw, 0x09, big, 4, false);
            o += ws_frame(raw + o, 0x80, big, 4, false);
            break;
        case 5:
            what = "a continuation frame with no message begun";
            o = ws_frame(raw, 0x80, ping, np, false);
            break;
        default:
            what = "a new binary message inside a fragmented one";
            o = ws_frame(raw, 0x02, ping, 2, false);
            o += ws_frame(raw + o, 0x82, ping, np, false);
            break;
        }
        vcl_step(ctx, "%s", what);
        VCL_CHECK(ctx, vtc_ws_send_raw(vtc_client_ws(c), raw, o), "write failed");
        code = vtc_wait_close(c, 2000);
        /* Every violation is tried before the case fails. RFC 6455 7.1.7
         * lets the server drop the TCP connection without a close frame
         * (-1); a close frame has 1002 (WIRE-9). */
        if (code != 1002 && code != -1 && fl < sizeof failed)
            fl += (size_t)snprintf(failed + fl, sizeof failed - fl,
                                   "%s%s: close code %d (0: still open)", fl ? "; " : "",
                                   what, code);
    }
    expect_serving(ctx);
    vcl_step(ctx, "the verdict over every violation");
    VCL_CHECK(ctx, fl == 0, "want the connection failed (close 1002) after each, got: %s",
              failed);
}

/* RFC 6455 5.1: "The server MUST close the connection upon receiving a
 * frame that is not masked." */
static void unmasked_frame_refused(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    uint8_t ping[64], raw[96];
    size_t np = vcl_ping_frame(ping, sizeof ping, 3, 3),
           o = ws_frame(raw, 0x82, ping, np, true);
    Ventra__V1__Response *r;
    int code;

    vcl_step(ctx, "a Ping in an unmasked binary frame");
    VCL_CHECK(ctx, vtc_ws_send_raw(vtc_client_ws(c), raw, o), "write failed");
    r = vtc_wait_response(c, 3, 2000);
    code = vtc_error_code(r);
    vtc_response_free(r);
    VCL_CHECK(ctx, r == NULL,
              "the unmasked frame was answered (%s), want the connection "
              "failed with 1002",
              vcl_code_name(code));
    code = vtc_wait_close(c, 2000);
    VCL_CHECK(ctx, code == 1002 || code == -1, "close code %d (0: still open), want 1002",
              code);
    expect_serving(ctx);
}

/* SEC-26: no permessage-deflate, so a message marked compressed (RSV1)
 * is a protocol error and is not inflated into a request. */
static void compressed_not_inflated(vcl_ctx *ctx)
{
    vtc_ws_opts deflate = {.extensions = "permessage-deflate"};
    /* Frame{request{id 3, ping{}}} deflated (RFC 7692: the tail 00 00 ff ff cut). */
    static const uint8_t deflated[] = {0xe2, 0x62, 0xe1, 0x60, 0x8e, 0x62, 0x00, 0x00};
    vtc_ws_msg *m = vcl_msg(ctx);
    uint8_t raw[64];
    size_t o;
    int status;
    vtc_ws *ws;

    vcl_step(ctx, "handshake offering permessage-deflate");
    ws = vcl_ws(ctx, &deflate, &status);
    VCL_CHECK(ctx, ws != NULL && status == 101, "answered %d, want 101", status);
    if (vtc_ws_header(ws, "Sec-WebSocket-Extensions") != NULL)
        vcl_skip(ctx, "the server negotiated an extension (transport/no-extensions "
                      "fails): the decompressed-size check needs a deflate encoder");
    vcl_step(ctx, "a deflated Ping with RSV1 set");
    o = ws_frame(raw, 0xc2, deflated, sizeof deflated, false);
    VCL_CHECK(ctx, vtc_ws_send_raw(ws, raw, o), "write failed");
    do {
        vtc_ws_msg_free(m);
        vtc_ws_recv(ws, 5000, m);
        VCL_CHECK(ctx, m->kind != VTC_WS_BINARY,
                  "the server answered a message it should not have inflated");
    } while (m->kind == VTC_WS_PONG);
    VCL_CHECK(ctx,
              (m->kind == VTC_WS_CLOSE && m->close_code == 1002) || m->kind == VTC_WS_EOF,
              "message kind %d (close code %d), want a close 1002", (int)m->kind,
              m->kind == VTC_WS_CLOSE ? m->close_code : 0);
    expect_serving(ctx);
}

VCL_CASES(
    hostile,
    {"hostile/garbage-malformed", "WIRE-23 WIRE-61", VCL_MUST, 0,
     "messages that are no protobuf Frame are MALFORMED_FRAME, id 0, the connection kept",
     garbage_malformed},
    {"hostile/truncated-malformed", "WIRE-23", VCL_MUST, 0,
     "every truncation of a Ping frame is MALFORMED_FRAME, id 0", truncated_malformed},
    {"hostile/unknown-frame-kind", "WIRE-24", VCL_MUST, 0,
     "an empty frame, a response, an event or no kind is UNKNOWN_FRAME_KIND, id 0",
     unknown_frame_kind},
    {"hostile/unknown-fields-ignored", "WIRE-22 SPEC-3", VCL_MUST, 0,
     "unknown fields are skipped at every level; a repeated oneof member replaces the "
     "earlier",
     unknown_fields_ignored},
    {"hostile/field-over-bound", "WIRE-60", VCL_MUST, 0,
     "fields one over their bound are TOO_LARGE; at the bound they pass",
     field_over_bound},
    {"hostile/string-not-utf8", "WIRE-61", VCL_MUST, 0,
     "a string field that is not UTF-8, or holds U+0000, makes the frame MALFORMED_FRAME",
     string_not_utf8},
    {"hostile/ws-protocol-errors", "WIRE-9", VCL_MUST, 0,
     "reserved-bit, reserved-opcode and malformed control or continuation "
     "frames fail the connection (close 1002)",
     ws_protocol_errors},
    {"hostile/unmasked-frame-refused", "WIRE-9", VCL_MUST, 0,
     "an unmasked client frame is not served: the connection fails (close 1002)",
     unmasked_frame_refused},
    {"hostile/compressed-not-inflated", "SEC-26 WIRE-3", VCL_MUST, 0,
     "without permessage-deflate a message with RSV1 set is not inflated: close 1002",
     compressed_not_inflated});
