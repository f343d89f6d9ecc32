/* A minimal RFC 6455 client for black-box tests: opening handshake with a
 * checked Sec-WebSocket-Accept, masked (optionally fragmented) sends, frame
 * parsing with reassembly, ping answers, close frames, and raw writes for
 * malformed input. Transport of spec/wire.md section 1 (WIRE-1 to WIRE-4). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "ventra/crypto.h"
#include "vtc.h"
#include "vtc_int.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_HEADERS 64
/* Far above MAX_FRAME_SIZE, so a server's oversized message is still read
 * and reported rather than cut off. */
#define MAX_MESSAGE (64u << 20)

struct vtc_ws {
    vtc_sock sock;
    unsigned no; /* the connection's number in the frame log */
    char *head;  /* the answer's header block, split in place */
    size_t nhdr;
    char *hname[MAX_HEADERS];
    char *hval[MAX_HEADERS];
    uint8_t *rbuf; /* received bytes not parsed yet */
    size_t rlen, rcap;
    uint8_t *frag; /* reassembly of a fragmented message */
    size_t frag_len;
    int frag_opcode; /* 0: no fragmented message in progress */
    bool close_sent;
    bool ended; /* close frame received, EOF or a protocol error */
};

void vtc_ws_msg_free(vtc_ws_msg *m)
{
    if (m == NULL)
        return;
    free(m->data);
    m->data = NULL;
    m->len = 0;
}

/* Reads what is available into rbuf, waiting at most |timeout_ms|.
 * Returns 1 on data, 0 on timeout, -1 on EOF or error. */
static int fill(vtc_ws *ws, int timeout_ms)
{
    long n;

    if (ws->rcap - ws->rlen < 65536) {
        ws->rcap = ws->rcap ? ws->rcap * 2 : 131072;
        ws->rbuf = vtc_xrealloc(ws->rbuf, ws->rcap);
    }
    n = vtc_sock_read(&ws->sock, ws->rbuf + ws->rlen, ws->rcap - ws->rlen, timeout_ms);
    if (n == 0)
        return 0;
    if (n < 0)
        return -1;
    ws->rlen += (size_t)n;
    return 1;
}

static void consume(vtc_ws *ws, size_t n)
{
    memmove(ws->rbuf, ws->rbuf + n, ws->rlen - n);
    ws->rlen -= n;
}

static void b64_std(char *out, const uint8_t *in, size_t len)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

vtc_ws *vtc_ws_connect(int port, const vtc_ws_opts *opts, int *status)
{
    const char *path = opts && opts->path ? opts->path : VT_WS_PATH;
    const char *protos = opts && opts->protocols ? opts->protocols : VT_PROTOCOL_NAME;
    const char *exts = opts ? opts->extensions : NULL;
    int64_t deadline = vtc_now_ms() + 5000;
    uint8_t nonce[16], digest[EVP_MAX_MD_SIZE];
    char key[32], accept[64], req[2048], keyguid[128];
    unsigned int dlen = 0;
    vtc_ws *ws;
    char *end, *line;
    vtc_sock sock;
    int len;

    *status = -1;
    if (!vtc_sock_open(&sock, port, 5000))
        return NULL;
    ws = calloc(1, sizeof *ws);
    if (ws == NULL) {
        vtc_sock_close(&sock);
        vtc_fail("out of memory");
    }
    ws->sock = sock;
    ws->no = vtc_next_conn_no();

    if (vt_random_bytes(nonce, sizeof nonce) != VT_OK)
        vtc_fail("vt_random_bytes failed");
    b64_std(key, nonce, sizeof nonce);
    len = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\n"
                   "Host: %s:%d\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n",
                   path, vtc_target_host(), port, key);
    if (protos[0] != '\0')
        len += snprintf(req + len, sizeof req - (size_t)len,
                        "Sec-WebSocket-Protocol: %s\r\n", protos);
    if (exts != NULL)
        len += snprintf(req + len, sizeof req - (size_t)len,
                        "Sec-WebSocket-Extensions: %s\r\n", exts);
    len += snprintf(req + len, sizeof req - (size_t)len, "\r\n");
    if (!vtc_sock_write(&ws->sock, req, (size_t)len, deadline))
        goto broken;

    /* Read up to the end of the header block; what follows stays in rbuf
     * as the first frame bytes. */
    for (;;) {
        uint8_t *hit = ws->rlen >= 4 ? memmem(ws->rbuf, ws->rlen, "\r\n\r\n", 4) : NULL;

        if (hit != NULL) {
            size_t hl = (size_t)(hit - ws->rbuf) + 4;

            ws->head = vtc_xmalloc(hl + 1);
            memcpy(ws->head, ws->rbuf, hl);
            ws->head[hl] = '\0';
            consume(ws, hl);
            break;
        }
        if (ws->rlen > 65536 || vtc_left_ms(deadline) == 0 ||
            fill(ws, vtc_left_ms(deadline)) < 0)
            goto broken;
    }

    if (sscanf(ws->head, "HTTP/1.%*d %d", status) != 1)
        *status = -1;
    /* Split the header lines in place into name/value pairs. */
    line = strstr(ws->head, "\r\n");
    while (line != NULL && ws->nhdr < MAX_HEADERS) {
        char *colon;

        line += 2;
        end = strstr(line, "\r\n");
        if (end == NULL || end == line)
            break;
        *end = '\0';
        colon = strchr(line, ':');
        if (colon != NULL) {
            char *v = colon + 1;
            char *t;

            *colon = '\0';
            while (*v == ' ' || *v == '\t')
                v++;
            t = v + strlen(v);
            while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
                *--t = '\0';
            ws->hname[ws->nhdr] = line;
            ws->hval[ws->nhdr] = v;
            ws->nhdr++;
        }
        line = end;
    }

    if (*status == 101) {
        const char *got = vtc_ws_header(ws, "Sec-WebSocket-Accept");

        snprintf(keyguid, sizeof keyguid, "%s%s", key, WS_GUID);
        if (!EVP_Digest(keyguid, strlen(keyguid), digest, &dlen, EVP_sha1(), NULL))
            vtc_fail("EVP_Digest(SHA1) failed");
        b64_std(accept, digest, dlen);
        if (got == NULL || strcmp(got, accept) != 0) {
            fprintf(stderr, "vtc: bad Sec-WebSocket-Accept '%s' (want '%s')\n",
                    got ? got : "(none)", accept);
            *status = -1;
        }
    }
    if (*status != 101)
        ws->ended = true;
    vtc_log_frame(ws->no, false, -1, path, strlen(path), *status);
    return ws;

broken:
    /* The TCP connection worked but no answer came: report it as a
     * connection that can only be freed. */
    ws->ended = true;
    *status = -1;
    vtc_log_frame(ws->no, false, -1, path, strlen(path), -1);
    return ws;
}

const char *vtc_ws_header(const vtc_ws *ws, const char *name)
{
    size_t i;

    if (ws == NULL)
        return NULL;
    for (i = 0; i < ws->nhdr; i++)
        if (strcasecmp(ws->hname[i], name) == 0)
            return ws->hval[i];
    return NULL;
}

/* One frame from the client: FIN as given, masked (RFC 6455 5.3). */
static bool send_frame(vtc_ws *ws, int opcode, bool fin, const uint8_t *data, size_t len)
{
    uint8_t hdr[14], mask[4];
    size_t h = 0, i;
    uint8_t *buf;
    bool ok;

    hdr[h++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        hdr[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (i = 0; i < 8; i++)
            hdr[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    if (vt_random_bytes(mask, sizeof mask) != VT_OK)
        vtc_fail("vt_random_bytes failed");
    memcpy(hdr + h, mask, 4);
    h += 4;
    buf = vtc_xmalloc(h + len);
    memcpy(buf, hdr, h);
    for (i = 0; i < len; i++)
        buf[h + i] = data[i] ^ mask[i & 3];
    ok = vtc_sock_write(&ws->sock, buf, h + len, vtc_now_ms() + 10000);
    free(buf);
    return ok;
}

bool vtc_ws_send(vtc_ws *ws, int opcode, const void *data, size_t len, int fragments)
{
    const uint8_t *p = data;
    size_t n, off = 0, piece;
    int i;

    if (ws == NULL)
        return false;
    n = fragments < 1 ? 1 : (size_t)fragments;
    piece = len / n;
    vtc_log_frame(ws->no, true, opcode, data, len, (int)n);
    for (i = 0; (size_t)i < n; i++) {
        size_t this_len = (size_t)i + 1 == n ? len - off : piece;

        if (!send_frame(ws, i == 0 ? opcode : 0, (size_t)i + 1 == n, p ? p + off : NULL,
                        this_len))
            return false;
        off += this_len;
    }
    return true;
}

bool vtc_ws_send_raw(vtc_ws *ws, const void *data, size_t len)
{
    if (ws == NULL)
        return false;
    vtc_log_frame(ws->no, true, 0, data, len, 0);
    return vtc_sock_write(&ws->sock, data, len, vtc_now_ms() + 10000);
}

bool vtc_ws_ping(vtc_ws *ws, const void *data, size_t len)
{
    if (ws == NULL || len > 125)
        return false;
    vtc_log_frame(ws->no, true, 9, data, len, 0);
    return send_frame(ws, 9, true, data, len);
}

bool vtc_ws_close(vtc_ws *ws, int code)
{
    uint8_t p[2];

    if (ws == NULL)
        return false;
    ws->close_sent = true;
    if (code == 0) {
        vtc_log_frame(ws->no, true, 8, NULL, 0, 1005);
        return send_frame(ws, 8, true, NULL, 0);
    }
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    vtc_log_frame(ws->no, true, 8, NULL, 0, code);
    return send_frame(ws, 8, true, p, 2);
}

static void set_msg(vtc_ws_msg *out, vtc_ws_kind kind, const uint8_t *data, size_t len)
{
    out->kind = kind;
    out->len = len;
    out->data = vtc_xmalloc(len + 1);
    if (len)
        memcpy(out->data, data, len);
    out->data[len] = '\0'; /* handy for text and close reasons */
}

static void recv_msg(vtc_ws *ws, int timeout_ms, vtc_ws_msg *out)
{
    int64_t deadline = vtc_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);

    memset(out, 0, sizeof *out);
    if (ws == NULL) {
        out->kind = VTC_WS_EOF;
        return;
    }
    for (;;) {
        uint8_t *b = ws->rbuf;
        size_t h = 2, i;
        uint64_t plen;
        int opcode;
        bool fin;

        if (ws->rlen >= 2) {
            fin = (b[0] & 0x80) != 0;
            opcode = b[0] & 0x0f;
            plen = b[1] & 0x7f;
            if ((b[0] & 0x70) != 0 || (b[1] & 0x80) != 0) {
                /* RSV bits without an extension, or a masked server frame
                 * (RFC 6455 5.1, 5.2). */
                ws->ended = true;
                out->kind = VTC_WS_ERROR;
                return;
            }
            if (plen == 126)
                h = 4;
            else if (plen == 127)
                h = 10;
            if (ws->rlen >= h) {
                if (plen == 126) {
                    plen = (uint64_t)b[2] << 8 | b[3];
                } else if (plen == 127) {
                    plen = 0;
                    for (i = 0; i < 8; i++)
                        plen = plen << 8 | b[2 + i];
                }
                if (plen > MAX_MESSAGE || (opcode >= 8 && (plen > 125 || !fin))) {
                    ws->ended = true;
                    out->kind = VTC_WS_ERROR;
                    return;
                }
                if (ws->rlen >= h + plen) {
                    const uint8_t *pl = b + h;
                    size_t len = (size_t)plen;

                    switch (opcode) {
                    case 0: /* continuation */
                    case 1:
                    case 2:
                        if ((opcode == 0) != (ws->frag_opcode != 0) ||
                            ws->frag_len + len > MAX_MESSAGE) {
                            ws->ended = true;
                            out->kind = VTC_WS_ERROR;
                            return;
                        }
                        if (opcode != 0)
                            ws->frag_opcode = opcode;
                        ws->frag = vtc_xrealloc(ws->frag, ws->frag_len + len + 1);
                        if (len)
                            memcpy(ws->frag + ws->frag_len, pl, len);
                        ws->frag_len += len;
                        consume(ws, h + len);
                        if (fin) {
                            out->kind =
                                ws->frag_opcode == 1 ? VTC_WS_TEXT : VTC_WS_BINARY;
                            out->data = ws->frag;
                            out->data[ws->frag_len] = '\0';
                            out->len = ws->frag_len;
                            ws->frag = NULL;
                            ws->frag_len = 0;
                            ws->frag_opcode = 0;
                            return;
                        }
                        continue;
                    case 8: /* close */
                        if (len == 1) {
                            ws->ended = true;
                            out->kind = VTC_WS_ERROR;
                            return;
                        }
                        set_msg(out, VTC_WS_CLOSE, len > 2 ? pl + 2 : NULL,
                                len > 2 ? len - 2 : 0);
                        out->close_code = len >= 2 ? (pl[0] << 8 | pl[1]) : 1005;
                        consume(ws, h + len);
                        /* Logged here, before our answer. */
                        vtc_log_frame(ws->no, false, 8, out->data, out->len,
                                      out->close_code);
                        ws->ended = true;
                        /* Answer the closing handshake (RFC 6455 5.5.1). */
                        if (!ws->close_sent)
                            vtc_ws_close(ws,
                                         out->close_code == 1005 ? 0 : out->close_code);
                        return;
                    case 9: { /* ping: answer with the same payload */
                        uint8_t copy[125];

                        memcpy(copy, pl, len);
                        vtc_log_frame(ws->no, false, 9, copy, len, 0);
                        if (!ws->close_sent)
                            vtc_log_frame(ws->no, true, 10, copy, len, 0);
                        consume(ws, h + len);
                        if (!ws->close_sent)
                            send_frame(ws, 10, true, copy, len);
                        continue;
                    }
                    case 10:
                        set_msg(out, VTC_WS_PONG, pl, len);
                        consume(ws, h + len);
                        return;
                    default:
                        ws->ended = true;
                        out->kind = VTC_WS_ERROR;
                        return;
                    }
                }
            }
        }
        if (ws->ended && ws->rlen == 0) {
            out->kind = VTC_WS_EOF;
            return;
        }
        {
            int r = fill(ws, vtc_left_ms(deadline));

            if (r < 0) {
                ws->ended = true;
                out->kind = VTC_WS_EOF;
                return;
            }
            if (r == 0 && vtc_left_ms(deadline) == 0) {
                out->kind = VTC_WS_TIMEOUT;
                return;
            }
        }
    }
}

void vtc_ws_recv(vtc_ws *ws, int timeout_ms, vtc_ws_msg *out)
{
    static const int opcode[] = {
        [VTC_WS_BINARY] = 2, [VTC_WS_TEXT] = 1, [VTC_WS_CLOSE] = 8,
        [VTC_WS_PONG] = 10,  [VTC_WS_EOF] = 8,  [VTC_WS_ERROR] = -2};

    recv_msg(ws, timeout_ms, out);
    /* An end of stream is logged as a close with status -1. */
    if (ws != NULL && out->kind != VTC_WS_TIMEOUT && out->kind != VTC_WS_CLOSE)
        vtc_log_frame(ws->no, false, opcode[out->kind], out->data, out->len,
                      out->kind == VTC_WS_CLOSE ? out->close_code : -1);
}

void vtc_ws_free(vtc_ws *ws)
{
    if (ws == NULL)
        return;
    vtc_sock_close(&ws->sock);
    free(ws->head);
    free(ws->rbuf);
    free(ws->frag);
    free(ws);
}

/* (Addition, for idle-timeout checks: a pong would count as traffic,
 * spec/wire.md WIRE-12.) As vtc_ws_recv, but the server's pings are
 * consumed without being answered, and neither is its close frame. */
void vtc_ws_recv_quiet(vtc_ws *ws, int timeout_ms, vtc_ws_msg *out)
{
    bool was = ws->close_sent;

    ws->close_sent = true; /* recv_msg answers nothing once a close was sent */
    vtc_ws_recv(ws, timeout_ms, out);
    ws->close_sent = was;
}
