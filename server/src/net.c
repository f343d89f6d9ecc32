/* ventrad's network adapter on libwebsockets: one port serving the
 * WebSocket endpoint (spec/wire.md 1.1: path WS_PATH, subprotocol
 * PROTOCOL_NAME, binary only, no extensions), TLS when configured (1.2),
 * and the HTTP resources of 1.3 (/healthz, /metrics). It turns lws
 * callbacks into calls of the connection layer and runs the event loop,
 * flushing the store batch after every service pass (group commit). */
#include "net.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include "log.h"
#include "server.h"

/* The rx buffer lws keeps per connection: small, so that an idle
 * connection costs little; longer messages arrive in pieces and are
 * reassembled in the connection. */
#define RX_CHUNK 1024

/* Service passes that may join one store batch before it is flushed. */
#define GATHER_PASSES 64

static volatile sig_atomic_t signalled;
static struct lws_context *signal_ctx;

static void on_signal(int sig)
{
    (void)sig;
    signalled = 1;
    if (signal_ctx)
        lws_cancel_service(signal_ctx);
}

typedef struct http_pss {
    char *body;
    size_t len;
    size_t sent;
} http_pss;

typedef struct ws_pss {
    vt_srv_conn *conn;
} ws_pss;

static vtd_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static void peer_of(struct lws *wsi, char *out, size_t cap)
{
    if (!lws_get_peer_simple(wsi, out, cap))
        snprintf(out, cap, "?");
}

/* Whether the comma-separated header value |v| lists |token| exactly. */
static bool lists_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - p) == tl && memcmp(p, token, tl) == 0)
            return true;
        p = e;
    }
    return false;
}

static int http_reply(struct lws *wsi, http_pss *pss, unsigned status, const char *ctype,
                      char *body, size_t len)
{
    unsigned char buf[LWS_PRE + 1024];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    pss->body = body;
    pss->len = len;
    pss->sent = 0;
    if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t)len, &p, end))
        return 1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    lws_callback_on_writable(wsi);
    return 0;
}

static int serve_http(struct lws *wsi, http_pss *pss, const char *uri)
{
    vtd_server *srv = server_of(wsi);
    if (strcmp(uri, "/healthz") == 0) {
        bool ok = !srv->shutting_down && !srv->store_failed;
        return http_reply(wsi, pss, ok ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE,
                          "text/plain", strdup(ok ? "ok\n" : "unavailable\n"),
                          ok ? 3 : 12);
    }
    if (strcmp(uri, "/metrics") == 0) {
        char *text = NULL;
        size_t len = 0;
        uint64_t total = 0;
        if (vtd_store_queue_total(srv->store, &total) == VT_OK)
            vtd_metrics_set_queue_depth(srv->metrics, total);
        if (vtd_metrics_render(srv->metrics, &text, &len) != VT_OK)
            return http_reply(wsi, pss, HTTP_STATUS_INTERNAL_SERVER_ERROR, "text/plain",
                              strdup("error\n"), 6);
        return http_reply(wsi, pss, HTTP_STATUS_OK, "text/plain; version=0.0.4", text,
                          len);
    }
    /* WIRE-7: every other path */
    return http_reply(wsi, pss, HTTP_STATUS_NOT_FOUND, "text/plain",
                      strdup("not found\n"), 10);
}

/* WIRE-1, WIRE-2, WIRE-72 (handshakes): decide an upgrade before lws
 * answers 101. Returns 0 to let it proceed, 1 when we answered. */
static int confirm_upgrade(struct lws *wsi)
{
    vtd_server *srv = server_of(wsi);
    char path[64] = "", protos[256] = "", peer[INET6_ADDRSTRLEN];
    lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI);
    if (lws_hdr_copy(wsi, protos, sizeof protos, WSI_TOKEN_PROTOCOL) < 0)
        protos[0] = '\0';
    unsigned status = 0;
    uint32_t retry = 0;
    peer_of(wsi, peer, sizeof peer);
    if (strcmp(path, VT_WS_PATH) != 0)
        status = HTTP_STATUS_NOT_FOUND;
    else if (!lists_token(protos, VT_PROTOCOL_NAME))
        status = HTTP_STATUS_BAD_REQUEST;
    else if (srv->shutting_down)
        status = HTTP_STATUS_SERVICE_UNAVAILABLE;
    else if (!vtd_limit_take(srv, VTD_LIMIT_HANDSHAKES, peer, strlen(peer), &retry))
        status = 429;
    if (status == 0)
        return 0;
    vtd_log(VTD_LOG_DEBUG, "upgrade refused", "status=%u", status);
    lws_return_http_status(wsi, status, NULL);
    return 1;
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                   void *in, size_t len)
{
    http_pss *pss = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(wsi);
    case LWS_CALLBACK_HTTP:
        return serve_http(wsi, pss, in ? (const char *)in : "");
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!pss->body)
            return -1;
        size_t chunk = pss->len - pss->sent;
        if (chunk > 16384)
            chunk = 16384;
        unsigned char *buf = malloc(LWS_PRE + chunk + 1);
        if (!buf)
            return -1;
        memcpy(buf + LWS_PRE, pss->body + pss->sent, chunk);
        bool last = pss->sent + chunk == pss->len;
        int n = lws_write(wsi, buf + LWS_PRE, chunk,
                          last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
        free(buf);
        if (n < (int)chunk)
            return -1;
        pss->sent += chunk;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        free(pss->body);
        pss->body = NULL;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (pss) {
            free(pss->body);
            pss->body = NULL;
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static void on_receive(vt_srv_conn *c, struct lws *wsi, const uint8_t *in, size_t len)
{
    bool first = lws_is_first_fragment(wsi);
    bool last = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    if (first) {
        c->rx_len = 0;
        c->rx_overflow = false;
        c->rx_text = !lws_frame_is_binary(wsi);
        if (last) { /* the common case: one piece, no copy */
            vtd_conn_on_message(c, len ? in : NULL, len, c->rx_text);
            return;
        }
    }
    if (!c->rx_overflow) {
        if (c->rx_len + len > VT_MAX_FRAME_SIZE) {
            c->rx_overflow = true; /* WIRE-21: close 1009 without answering */
            vtd_conn_on_oversize(c);
            lws_callback_on_writable(wsi);
        } else if (c->rx_len + len > c->rx_cap) {
            size_t cap = c->rx_cap ? c->rx_cap : RX_CHUNK;
            while (cap < c->rx_len + len)
                cap *= 2;
            uint8_t *nb = realloc(c->rx, cap);
            if (!nb) {
                c->rx_overflow = true;
                vtd_conn_on_oversize(c);
            } else {
                c->rx = nb;
                c->rx_cap = cap;
            }
        }
        if (!c->rx_overflow && len > 0) /* an empty piece has no payload pointer */
            memcpy(c->rx + c->rx_len, in, len);
        if (!c->rx_overflow)
            c->rx_len += len;
    }
    if (last) {
        if (!c->rx_overflow)
            vtd_conn_on_message(c, c->rx, c->rx_len, c->rx_text);
        /* an idle connection keeps no reassembly buffer */
        free(c->rx);
        c->rx = NULL;
        c->rx_cap = c->rx_len = 0;
    }
}

static int cb_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    ws_pss *pss = user;
    vtd_server *srv;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
        char peer[INET6_ADDRSTRLEN];
        srv = server_of(wsi);
        peer_of(wsi, peer, sizeof peer);
        pss->conn = vtd_conn_new(srv, wsi, peer);
        return pss->conn ? 0 : -1;
    }
    case LWS_CALLBACK_RECEIVE:
        if (pss->conn)
            on_receive(pss->conn, wsi, in, len);
        return 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss->conn)
            vtd_conn_on_pong(pss->conn);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss->conn ? vtd_conn_on_writable(pss->conn) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (pss->conn)
            pss->conn->last_rx_ms = vtd_now_ms();
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (pss->conn) {
            vtd_conn_on_closed(pss->conn);
            pss->conn = NULL;
        }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"http", cb_http, sizeof(http_pss), 0, 0, NULL, 0},
    {VT_PROTOCOL_NAME, cb_ws, sizeof(ws_pss), RX_CHUNK, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static lws_sorted_usec_list_t tick_sul, close_sul;

/* The grace of WIRE-14 for requests already on their way. */
#define SHUTDOWN_GRACE_US (250 * LWS_US_PER_MS)

static void on_close_all(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    vtd_server_close_all(lws_context_user(signal_ctx));
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    vtd_server *srv = lws_context_user(signal_ctx);
    uint64_t now = vtd_now_ms();
    for (vt_srv_conn *c = srv->conns, *n; c; c = n) {
        n = c->next;
        vtd_conn_tick(c, now);
    }
    vtd_server_housekeeping(srv);
    lws_sul_schedule(signal_ctx, 0, &tick_sul, on_tick, LWS_US_PER_SEC);
}

static void lws_log_to_ours(int level, const char *line)
{
    char msg[512], quoted[520];
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    snprintf(msg, sizeof msg, "%.*s", (int)n, line);
    vtd_log(level & LLL_ERR ? VTD_LOG_ERROR : VTD_LOG_WARN, "libwebsockets", "detail=%s",
            vtd_log_quote(quoted, sizeof quoted, msg));
}

vt_err vtd_net_run(vtd_server *srv)
{
    struct lws_context_creation_info info;
    bool tls = srv->cfg.tls_cert[0] != '\0';
    memset(&info, 0, sizeof info);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_ours);
    info.port = srv->cfg.listen_port;
    info.iface = srv->cfg.listen_host;
    info.protocols = protocols;
    info.user = srv;
    info.gid = -1;
    info.uid = -1;
    if (!strchr(srv->cfg.listen_host, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.fd_limit_per_thread = 0;
    info.timeout_secs = 10;
    if (tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = srv->cfg.tls_cert;
        info.ssl_private_key_filepath = srv->cfg.tls_key;
        /* WIRE-5: TLS 1.2 or later */
        info.ssl_options_set =
            SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
    }
    srv->ctx = lws_create_context(&info);
    if (!srv->ctx) {
        vtd_log(VTD_LOG_ERROR, "cannot listen", "host=%s port=%d", srv->cfg.listen_host,
                srv->cfg.listen_port);
        return VT_ERR_IO;
    }
    signal_ctx = srv->ctx;
    srv->vhost = lws_get_vhost_by_name(srv->ctx, "default");
    srv->port = srv->vhost ? lws_get_vhost_listen_port(srv->vhost) : srv->cfg.listen_port;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char addr[96];
    snprintf(addr, sizeof addr, strchr(srv->cfg.listen_host, ':') ? "[%s]:%d" : "%s:%d",
             srv->cfg.listen_host, srv->port);
    vtd_log(VTD_LOG_INFO, "listening", "addr=%s tls=%s ws=%s://%s%s", addr,
            tls ? "true" : "false", tls ? "wss" : "ws", addr, VT_WS_PATH);
    lws_sul_schedule(srv->ctx, 0, &tick_sul, on_tick, LWS_US_PER_SEC);

    for (;;) {
        if (lws_service(srv->ctx, 0) < 0)
            break;
        /* Group commit: while writes wait for a flush, take in whatever
         * else has already arrived (a negative timeout never blocks), so
         * one fsync covers it all. */
        for (int i = 0; i < GATHER_PASSES && vtd_store_batch_ops(srv->store) > 0; i++)
            if (lws_service(srv->ctx, -1) < 0)
                break;
        vtd_server_flush(srv);
        if (signalled && !srv->shutting_down) {
            vtd_log(VTD_LOG_INFO, "shutting down", "connections=%zu", srv->conn_count);
            vtd_server_begin_shutdown(srv);
            lws_sul_schedule(srv->ctx, 0, &close_sul, on_close_all, SHUTDOWN_GRACE_US);
        }
        if (srv->closing_all &&
            (srv->conn_count == 0 || vtd_now_ms() >= srv->shutdown_deadline_ms))
            break;
    }
    vtd_server_flush(srv);
    lws_sul_cancel(&tick_sul);
    lws_sul_cancel(&close_sul);
    lws_context_destroy(srv->ctx);
    srv->ctx = NULL;
    signal_ctx = NULL;
    return VT_OK;
}
