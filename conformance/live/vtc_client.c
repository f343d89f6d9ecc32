/* The protocol client of the test kit: Frames over one WebSocket
 * connection, request ids, responses matched by id, events queued in
 * order (spec/wire.md section 2). What the server sends is decoded with
 * protobuf-c's own unpack, independent of the server's decoder. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtc.h"
#include "vtc_int.h"

struct vtc_client {
    vtc_ws *ws;
    uint32_t next_id;
    Ventra__V1__Event **events; /* FIFO of events not taken yet */
    size_t nev, evcap;
    Ventra__V1__Response **resps; /* responses nobody waited for yet */
    size_t nresp, respcap;
    int close_code; /* 0 while open; the close code, 1005, or -1 for EOF */
};

vtc_client *vtc_client_connect(int port, const vtc_ws_opts *opts, int *status)
{
    vtc_client *c;
    vtc_ws *ws = vtc_ws_connect(port, opts, status);

    if (ws == NULL || *status != 101) {
        vtc_ws_free(ws);
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        vtc_ws_free(ws);
        vtc_fail("out of memory");
    }
    c->ws = ws;
    c->next_id = 1;
    return c;
}

vtc_client *vtc_client_new(int port)
{
    int status = 0;
    vtc_client *c = vtc_client_connect(port, NULL, &status);

    if (c == NULL && status == -1)
        vtc_fail("connect to %s:%d failed (no TCP connection or no HTTP answer)",
                 vtc_target_host(), port);
    if (c == NULL)
        vtc_fail("WebSocket handshake with %s:%d answered %d", vtc_target_host(), port,
                 status);
    return c;
}

void vtc_client_free(vtc_client *c)
{
    size_t i;

    if (c == NULL)
        return;
    vtc_ws_free(c->ws);
    for (i = 0; i < c->nev; i++)
        vtc_event_free(c->events[i]);
    for (i = 0; i < c->nresp; i++)
        vtc_response_free(c->resps[i]);
    free(c->events);
    free(c->resps);
    free(c);
}

vtc_ws *vtc_client_ws(vtc_client *c)
{
    return c ? c->ws : NULL;
}

void vtc_response_free(Ventra__V1__Response *r)
{
    if (r != NULL)
        ventra__v1__response__free_unpacked(r, NULL);
}

void vtc_event_free(Ventra__V1__Event *e)
{
    if (e != NULL)
        ventra__v1__event__free_unpacked(e, NULL);
}

int vtc_error_code(const Ventra__V1__Response *r)
{
    if (r == NULL)
        return -1;
    if (r->error != NULL)
        return (int)r->error->code;
    return 0;
}

static void push_event(vtc_client *c, Ventra__V1__Event *e)
{
    if (c->nev == c->evcap) {
        c->evcap = c->evcap ? c->evcap * 2 : 8;
        c->events = vtc_xrealloc(c->events, c->evcap * sizeof *c->events);
    }
    c->events[c->nev++] = e;
}

static void push_resp(vtc_client *c, Ventra__V1__Response *r)
{
    if (c->nresp == c->respcap) {
        c->respcap = c->respcap ? c->respcap * 2 : 8;
        c->resps = vtc_xrealloc(c->resps, c->respcap * sizeof *c->resps);
    }
    c->resps[c->nresp++] = r;
}

/* Takes the stashed response with |id| (any id when |any|), or NULL. */
static Ventra__V1__Response *take_resp(vtc_client *c, uint32_t id, bool any)
{
    size_t i;

    for (i = 0; i < c->nresp; i++) {
        Ventra__V1__Response *r = c->resps[i];

        if (any || r->id == id) {
            memmove(c->resps + i, c->resps + i + 1,
                    (c->nresp - i - 1) * sizeof *c->resps);
            c->nresp--;
            return r;
        }
    }
    return NULL;
}

/* Receives one WebSocket message and files it: a Response goes to the
 * stash, an Event to the queue. Returns false when the connection ended
 * or the deadline passed. */
static bool pump(vtc_client *c, int64_t deadline)
{
    vtc_ws_msg m;
    Ventra__V1__Frame *f;

    if (c->close_code != 0)
        return false;
    vtc_ws_recv(c->ws, vtc_left_ms(deadline), &m);
    switch (m.kind) {
    case VTC_WS_BINARY:
        f = ventra__v1__frame__unpack(NULL, m.len, m.data);
        if (f == NULL) {
            fprintf(stderr, "vtc: server sent %zu bytes that are no Frame\n", m.len);
            break;
        }
        if (f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE && f->response != NULL) {
            push_resp(c, f->response);
            f->kind_case = VENTRA__V1__FRAME__KIND__NOT_SET;
            f->response = NULL;
        } else if (f->kind_case == VENTRA__V1__FRAME__KIND_EVENT && f->event != NULL) {
            push_event(c, f->event);
            f->kind_case = VENTRA__V1__FRAME__KIND__NOT_SET;
            f->event = NULL;
        } else {
            fprintf(stderr, "vtc: server sent a Frame of kind %d\n", (int)f->kind_case);
        }
        ventra__v1__frame__free_unpacked(f, NULL);
        break;
    case VTC_WS_CLOSE:
        c->close_code = m.close_code;
        break;
    case VTC_WS_EOF:
    case VTC_WS_ERROR:
        c->close_code = -1;
        break;
    case VTC_WS_TEXT:
        fprintf(stderr, "vtc: server sent a text message\n");
        break;
    case VTC_WS_PONG:
        break;
    case VTC_WS_TIMEOUT:
        vtc_ws_msg_free(&m);
        return false;
    }
    vtc_ws_msg_free(&m);
    return c->close_code == 0;
}

static bool send_frame(vtc_client *c, const Ventra__V1__Frame *f)
{
    size_t len = ventra__v1__frame__get_packed_size(f);
    uint8_t *buf = vtc_xmalloc(len);
    bool ok;

    ventra__v1__frame__pack(f, buf);
    ok = vtc_ws_send(c->ws, 2, buf, len, 1);
    free(buf);
    return ok;
}

uint32_t vtc_send_request(vtc_client *c, Ventra__V1__Request *req)
{
    Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;

    if (req->id == 0) {
        req->id = c->next_id++;
        if (c->next_id == 0)
            c->next_id = 1;
    }
    f.kind_case = VENTRA__V1__FRAME__KIND_REQUEST;
    f.request = req;
    if (!send_frame(c, &f))
        fprintf(stderr, "vtc: write of request %u failed\n", req->id);
    return req->id;
}

Ventra__V1__Response *vtc_wait_response(vtc_client *c, uint32_t id, int timeout_ms)
{
    int64_t deadline = vtc_now_ms() + timeout_ms;
    Ventra__V1__Response *r;

    for (;;) {
        r = take_resp(c, id, false);
        if (r != NULL)
            return r;
        if (!pump(c, deadline))
            return take_resp(c, id, false);
    }
}

Ventra__V1__Response *vtc_call(vtc_client *c, Ventra__V1__Request *req)
{
    uint32_t id = vtc_send_request(c, req);

    return vtc_wait_response(c, id, 5000);
}

Ventra__V1__Response *vtc_call_raw(vtc_client *c, const void *data, size_t len)
{
    int64_t deadline = vtc_now_ms() + 5000;
    Ventra__V1__Response *r;

    if (!vtc_ws_send(c->ws, 2, data, len, 1))
        fprintf(stderr, "vtc: raw write failed\n");
    for (;;) {
        r = take_resp(c, 0, true);
        if (r != NULL)
            return r;
        if (!pump(c, deadline))
            return take_resp(c, 0, true);
    }
}

Ventra__V1__Event *vtc_next_event(vtc_client *c, int timeout_ms)
{
    int64_t deadline = vtc_now_ms() + timeout_ms;

    for (;;) {
        if (c->nev > 0) {
            Ventra__V1__Event *e = c->events[0];

            memmove(c->events, c->events + 1, (c->nev - 1) * sizeof *c->events);
            c->nev--;
            return e;
        }
        if (!pump(c, deadline) && c->nev == 0)
            return NULL;
    }
}

int vtc_wait_close(vtc_client *c, int timeout_ms)
{
    int64_t deadline = vtc_now_ms() + timeout_ms;

    while (c->close_code == 0) {
        if (!pump(c, deadline) && c->close_code == 0)
            return 0;
        while (c->nresp > 0)
            vtc_response_free(take_resp(c, 0, true));
    }
    return c->close_code;
}

int vtc_client_close_code(const vtc_client *c)
{
    return c ? c->close_code : -1;
}

size_t vtc_pb_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;

    do {
        uint8_t b = v & 0x7f;

        v >>= 7;
        out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

size_t vtc_raw_request(uint8_t *out, size_t cap, uint32_t id, uint32_t method,
                       const uint8_t *body, size_t body_len)
{
    uint8_t hdr[32];
    size_t h = 0, inner, n = 0;

    if (id != 0) {
        hdr[h++] = 0x08;
        h += vtc_pb_varint(hdr + h, id);
    }
    if (method != 0) {
        h += vtc_pb_varint(hdr + h, (uint64_t)method << 3 | 2);
        h += vtc_pb_varint(hdr + h, body_len);
    }
    inner = h + (method != 0 ? body_len : 0);
    if (cap < inner + 12)
        vtc_fail("vtc_raw_request: buffer too small");
    out[n++] = 0x0a; /* Frame.request, length-delimited */
    n += vtc_pb_varint(out + n, inner);
    memcpy(out + n, hdr, h);
    n += h;
    if (method != 0 && body_len > 0) {
        memcpy(out + n, body, body_len);
        n += body_len;
    }
    return n;
}
