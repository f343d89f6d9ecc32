/* The client's one connection: a libwebsockets client socket (subprotocol
 * ventra.v1, binary frames, nanopb codecs), request ids and response
 * matching, keep-alive and reconnect with backoff, driven by the generated
 * client_conn machine. Implements spec/state/client_conn.md (SM-1 to SM-5),
 * spec/wire.md 1.1-1.5 and 2.2 (WIRE-2, -6, -10, -11, -15, -30, -35, -36,
 * -51) and the client side of spec/auth.md (AUTH-11, AUTH-12, AUTH-66). */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_int.h"
#include "ventra/crypto.h"
#include "ventra/frame.h"
#include "vt_constants.h"
#include "vt_rpc_client.h"

enum { AUTH_NONE, AUTH_RESUME, AUTH_CHALLENGE, AUTH_LOGIN, AUTH_REGISTER };

#define REQUEST_TIMEOUT_MS 30000u /* WIRE-15 */

/* ---- frames out ---------------------------------------------------------- */

static vt_err queue_frame(vt_client *c, const ventra_v1_Frame *f)
{
    size_t len = 0;
    vc_out *o;
    vt_err err = vt_frame_size_nanopb(f, &len);

    if (err != VT_OK)
        return err;
    if (len > VT_MAX_FRAME_SIZE)
        return VT_ERR_TOO_LARGE;
    o = calloc(1, sizeof *o);
    if (o == NULL)
        return VT_ERR_NO_MEMORY;
    o->buf = malloc(LWS_PRE + len);
    if (o->buf == NULL) {
        free(o);
        return VT_ERR_NO_MEMORY;
    }
    err = vt_frame_encode_nanopb(f, o->buf + LWS_PRE, len, &o->len);
    if (err != VT_OK) {
        free(o->buf);
        free(o);
        return err;
    }
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    if (c->wsi && c->ws_open)
        lws_callback_on_writable(c->wsi);
    return VT_OK;
}

static void free_out(vt_client *c)
{
    while (c->out_head) {
        vc_out *n = c->out_head->next;
        vt_wipe(c->out_head->buf, LWS_PRE + c->out_head->len);
        free(c->out_head->buf);
        free(c->out_head);
        c->out_head = n;
    }
    c->out_tail = NULL;
}

/* ---- requests ------------------------------------------------------------ */

vt_err vc_wire_err(uint32_t code)
{
    /* WIRE-42, SPEC-3: local codes (100+), codes this revision does not
     * know and ERROR_OK inside an Error are all ERROR_INTERNAL */
    vt_err err = (vt_err)code;

    if (code == 0 || code >= VT_ERR_LOCAL_FIRST || !vt_err_is_wire(err))
        return VT_ERR_INTERNAL;
    return err;
}

size_t vc_rpc_inflight(const vt_client *c)
{
    size_t n = 0;
    for (size_t i = 0; i < 32; i++)
        n += c->slots[i].used;
    return n;
}

static vc_slot *new_slot(vt_client *c)
{
    uint32_t limit = c->max_inflight ? c->max_inflight : VT_MAX_INFLIGHT_REQUESTS;
    vc_slot *free_slot = NULL;

    if (limit > 32)
        limit = 32;
    if (vc_rpc_inflight(c) >= limit)
        return NULL;
    for (size_t i = 0; i < 32 && !free_slot; i++)
        if (!c->slots[i].used)
            free_slot = &c->slots[i];
    if (free_slot == NULL)
        return NULL;
    for (;;) { /* WIRE-30: non-zero, unique among those in flight */
        bool taken = false;
        uint32_t id = ++c->next_id;
        if (id == 0)
            continue;
        for (size_t i = 0; i < 32; i++)
            if (c->slots[i].used && c->slots[i].id == id)
                taken = true;
        if (!taken) {
            memset(free_slot, 0, sizeof *free_slot);
            free_slot->used = true;
            free_slot->id = id;
            free_slot->sent_ms = vc_now_ms();
            return free_slot;
        }
    }
}

static vt_err send_request(vt_client *c, ventra_v1_Request *req, vc_slot **out)
{
    ventra_v1_Frame *f;
    vc_slot *s;
    vt_err err;

    if (c->wsi == NULL || !c->ws_open)
        return VT_ERR_UNAVAILABLE;
    s = new_slot(c);
    if (s == NULL)
        return VT_ERR_RATE_LIMITED;
    f = calloc(1, sizeof *f);
    if (f == NULL) {
        s->used = false;
        return VT_ERR_NO_MEMORY;
    }
    req->id = s->id;
    f->which_kind = ventra_v1_Frame_request_tag;
    f->kind.request = *req;
    err = queue_frame(c, f);
    vt_wipe(f, sizeof *f);
    free(f);
    if (err != VT_OK) {
        s->used = false;
        return err;
    }
    *out = s;
    return VT_OK;
}

vt_err vc_rpc_async(vt_client *c, ventra_v1_Request *req, vc_rpc_cb cb, void *ud)
{
    vc_slot *s = NULL;
    vt_err err = send_request(c, req, &s);

    if (err == VT_OK) {
        s->cb = cb;
        s->ud = ud;
    }
    return err;
}

vt_err vc_rpc_call(vt_client *c, ventra_v1_Request *req, ventra_v1_Frame **out,
                   uint64_t deadline_ms)
{
    vc_slot *s = NULL;
    uint32_t id;
    vt_err err;

    *out = NULL;
    /* wait for a free slot (WIRE-35) */
    while ((err = send_request(c, req, &s)) == VT_ERR_RATE_LIMITED &&
           vc_left(deadline_ms) > 0)
        if ((err = vc_conn_service(
                 c, vc_left(deadline_ms) > 50 ? 50 : vc_left(deadline_ms))) != VT_OK)
            return err;
    if (err != VT_OK)
        return err;
    s->sync = true;
    id = s->id;
    while (!s->done && vc_left(deadline_ms) > 0) {
        err = vc_conn_service(c, vc_left(deadline_ms));
        if (err != VT_OK)
            break;
        if (!s->used || s->id != id)
            break;
    }
    if (!s->done || !s->used || s->id != id) {
        if (s->used && s->id == id) {
            /* WIRE-15: a request past its deadline leaves the slot busy
             * until the response or the socket's end; forget the waiter. */
            s->sync = false;
            s->cb = NULL;
        }
        return VT_ERR_UNAVAILABLE;
    }
    *out = s->frame;
    err = s->frame ? VT_OK : s->err;
    if (s->frame && s->frame->kind.response.has_error)
        err = vc_wire_err((uint32_t)s->frame->kind.response.error.code);
    if (s->frame && err == VT_OK && s->frame->kind.response.which_body == 0)
        err = VT_ERR_INTERNAL; /* WIRE-32 */
    s->used = false;
    s->frame = NULL;
    return err;
}

/* Completes every request of a socket that went away. */
static void fail_all(vt_client *c)
{
    for (size_t i = 0; i < 32; i++) {
        vc_slot *s = &c->slots[i];
        if (!s->used)
            continue;
        if (s->sync) {
            s->done = true;
            s->err = VT_ERR_UNAVAILABLE;
            continue; /* the waiter frees it */
        }
        s->used = false;
        if (s->cb)
            s->cb(c, s->ud, NULL, VT_ERR_UNAVAILABLE);
    }
}

/* ---- machine glue --------------------------------------------------------- */

static const vt_client_conn_ops conn_ops;

vt_client_state vc_conn_public_state(vt_client_conn_state s)
{
    switch (s) {
    case VT_CLIENT_CONN_CONNECTING:
        return VT_CLIENT_CONNECTING;
    case VT_CLIENT_CONN_AUTHENTICATING:
        return VT_CLIENT_AUTHENTICATING;
    case VT_CLIENT_CONN_DRAINING:
        return VT_CLIENT_DRAINING;
    case VT_CLIENT_CONN_LIVE:
        return VT_CLIENT_LIVE;
    case VT_CLIENT_CONN_BACKOFF:
        return VT_CLIENT_BACKOFF;
    case VT_CLIENT_CONN_CLOSED:
        return VT_CLIENT_CLOSED;
    default:
        return VT_CLIENT_DISCONNECTED;
    }
}

/* Events raised while a step runs (a socket callback inside open_socket)
 * wait until it has set the next state. */
static bool stepping;
static vt_client_conn_event pending_ev[8];
static vt_client *pending_cl[8];
static size_t n_pending;

void vc_conn_fire(vt_client *c, vt_client_conn_event ev)
{
    if (stepping) {
        if (n_pending < 8) {
            pending_ev[n_pending] = ev;
            pending_cl[n_pending++] = c;
        }
        return;
    }
    stepping = true;
    for (;;) {
        vt_client_conn_state before = c->st;
        if (vt_client_conn_step(&conn_ops, c, &c->st, ev) && before != c->st &&
            c->cb.state)
            c->cb.state(c->ud, vc_conn_public_state(c->st),
                        c->st == VT_CLIENT_CONN_CLOSED ? c->close_why : VT_OK);
        if (n_pending == 0)
            break;
        c = pending_cl[0];
        ev = pending_ev[0];
        memmove(pending_ev, pending_ev + 1, --n_pending * sizeof pending_ev[0]);
        memmove(pending_cl, pending_cl + 1, n_pending * sizeof pending_cl[0]);
    }
    stepping = false;
}

bool vc_conn_authed(const vt_client *c)
{
    return c->st == VT_CLIENT_CONN_DRAINING || c->st == VT_CLIENT_CONN_LIVE;
}

/* ---- guards ---- */

static bool g_has_token(void *ctx)
{
    vt_client *c = ctx;
    char tok[8];
    size_t len = 0;
    vt_err err = vc_store_get(c->store, "token", tok, sizeof tok, &len);

    if (err != VT_OK && err != VT_ERR_BUFFER_TOO_SMALL)
        return false;
    /* SM-4: not expired by our own clock (a minute of margin) */
    return c->device_id != 0 && vc_get_u64(c, "token_exp", 0) > vc_now_s() + 60;
}

static bool g_has_device(void *ctx)
{
    vt_client *c = ctx;
    return c->id != NULL && c->device_id != 0 && c->username[0] != '\0';
}

static bool g_token_rejected(void *ctx)
{
    vt_client *c = ctx;
    return c->last_auth_rpc == AUTH_RESUME && c->auth_err == VT_ERR_BAD_TOKEN;
}

static bool g_auth_retryable(void *ctx)
{
    vt_client *c = ctx;
    return c->auth_err == VT_ERR_INTERNAL || c->auth_err == VT_ERR_UNAVAILABLE ||
           c->auth_err == VT_ERR_RATE_LIMITED || c->auth_err == VT_ERR_BAD_CHALLENGE;
}

static bool g_device_gone(void *ctx)
{
    vt_client *c = ctx;
    return c->end_reason ==
               ventra_v1_SessionEndReason_SESSION_END_REASON_DEVICE_REMOVED ||
           c->end_reason == ventra_v1_SessionEndReason_SESSION_END_REASON_ACCOUNT_DELETED;
}

static bool g_server_shutdown(void *ctx)
{
    vt_client *c = ctx;
    return c->end_reason == ventra_v1_SessionEndReason_SESSION_END_REASON_SHUTDOWN;
}

/* ---- actions ---- */

static uintptr_t conn_gen;

static void a_open_socket(void *ctx)
{
    vt_client *c = ctx;
    struct lws_client_connect_info i;

    memset(&i, 0, sizeof i);
    c->ws_open = false;
    c->server_info_ok = false;
    c->close_code = 0;
    c->session_ended_seen = false;
    c->end_reason = 0;
    c->auth_err = VT_OK;
    c->prekeys_checked = false;
    c->prekeys_ok = false;
    c->drained = false;
    c->rx_len = 0;
    c->next_id = 0;
    i.context = c->ctx;
    i.address = c->host;
    i.port = c->port;
    i.path = c->path;
    i.host = c->host;
    i.origin = c->host;
    i.protocol = VT_PROTOCOL_NAME;
    i.ssl_connection = c->tls ? LCCSCF_USE_SSL : 0; /* WIRE-6: verified */
    i.opaque_user_data = (void *)++conn_gen;
    c->wsi = NULL;
    c->wsi = lws_client_connect_via_info(&i);
    if (c->wsi == NULL)
        vc_conn_fire(c, VT_CLIENT_CONN_EV_WS_ERROR);
}

static void a_start_keepalive(void *ctx)
{
    vt_client *c = ctx;
    c->keepalive = true;
    c->last_rx_ms = c->last_ping_ms = vc_now_ms();
}

/* SM-5: a socket that went on its own leaves no timer behind. */
static void a_stop_keepalive(void *ctx)
{
    vt_client *c = ctx;
    c->keepalive = false;
    c->last_ping_ms = 0;
}

static void handle_auth_response(vt_client *c, void *ud, const ventra_v1_Response *r,
                                 vt_err terr);

/* Sends the auth RPC |which|, GetServerInfo first on a new socket. */
static void begin_auth(vt_client *c, int which)
{
    ventra_v1_Request req;
    vt_err err;

    memset(&req, 0, sizeof req);
    c->auth_next = which;
    if (!c->server_info_ok) {
        req.which_body = ventra_v1_Request_get_server_info_tag;
        err = vc_rpc_async(c, &req, handle_auth_response, (void *)(intptr_t)AUTH_NONE);
        goto out;
    }
    c->last_auth_rpc = which;
    switch (which) {
    case AUTH_RESUME: {
        size_t len = 0;
        req.which_body = ventra_v1_Request_resume_tag;
        err = vc_store_get(c->store, "token", req.body.resume.token,
                           sizeof req.body.resume.token - 1, &len);
        if (err == VT_OK)
            req.body.resume.token[len] = '\0';
        break;
    }
    case AUTH_CHALLENGE:
        req.which_body = ventra_v1_Request_get_challenge_tag;
        req.body.get_challenge.purpose =
            g_has_device(c) ? ventra_v1_ChallengePurpose_CHALLENGE_PURPOSE_LOGIN
                            : ventra_v1_ChallengePurpose_CHALLENGE_PURPOSE_REGISTER;
        err = VT_OK;
        break;
    case AUTH_LOGIN: {
        uint8_t t[VT_TRANSCRIPT_MAX];
        size_t tl = 0;
        ventra_v1_LoginRequest *l = &req.body.login;
        req.which_body = ventra_v1_Request_login_tag;
        snprintf(l->username, sizeof l->username, "%s", c->username);
        l->device_id = c->device_id;
        memcpy(l->nonce.bytes, c->nonce, c->nonce_len);
        l->nonce.size = (pb_size_t)c->nonce_len;
        err = vt_transcript_login(t, sizeof t, &tl, c->server_key, c->nonce, c->nonce_len,
                                  c->username, c->device_id);
        if (err == VT_OK)
            err = vt_identity_sign(c->id, l->signature.bytes, t, tl);
        l->signature.size = 64;
        break;
    }
    case AUTH_REGISTER: {
        uint8_t t[VT_TRANSCRIPT_MAX];
        size_t tl = 0;
        ventra_v1_RegisterRequest *r = &req.body.register_account;
        req.which_body = ventra_v1_Request_register_account_tag;
        if (c->register_name[0] == '\0' || c->id == NULL) {
            err = VT_ERR_STATE;
            break;
        }
        snprintf(r->username, sizeof r->username, "%s", c->register_name);
        memcpy(r->identity_key.bytes, vt_identity_public(c->id), 32);
        r->identity_key.size = 32;
        snprintf(r->device_name, sizeof r->device_name, "%s", c->device_name);
        memcpy(r->nonce.bytes, c->nonce, c->nonce_len);
        r->nonce.size = (pb_size_t)c->nonce_len;
        err = vt_transcript_register(t, sizeof t, &tl, c->server_key, c->nonce,
                                     c->nonce_len, c->register_name,
                                     vt_identity_public(c->id));
        if (err == VT_OK)
            err = vt_identity_sign(c->id, r->signature.bytes, t, tl);
        r->signature.size = 64;
        break;
    }
    default:
        err = VT_ERR_STATE;
    }
    if (err == VT_OK)
        err = vc_rpc_async(c, &req, handle_auth_response, (void *)(intptr_t)which);
out:
    vt_wipe(&req, sizeof req);
    if (err != VT_OK) {
        c->auth_err = err;
        vc_conn_fire(c, VT_CLIENT_CONN_EV_AUTH_FAILED);
    }
}

static void handle_auth_response(vt_client *c, void *ud, const ventra_v1_Response *r,
                                 vt_err terr)
{
    int which = (int)(intptr_t)ud;

    if (r == NULL) {
        (void)terr; /* the socket's end is its own event */
        return;
    }
    if (r->has_error) {
        c->auth_err = vc_wire_err((uint32_t)r->error.code);
        c->last_auth_rpc = which;
        vc_conn_fire(c, VT_CLIENT_CONN_EV_AUTH_FAILED);
        return;
    }
    switch (which) {
    case AUTH_NONE: {
        const ventra_v1_GetServerInfoResponse *si = vt_cli_response_get_server_info(r);
        if (si == NULL || si->server_key.size != 32) {
            c->auth_err = VT_ERR_INTERNAL;
            vc_conn_fire(c, VT_CLIENT_CONN_EV_AUTH_FAILED);
            return;
        }
        /* AUTH-11: pin on first connect, refuse a different key later */
        if (c->have_server_key && !vt_equal(c->server_key, si->server_key.bytes, 32)) {
            c->auth_err = VT_ERR_CRYPTO;
            vc_conn_fire(c, VT_CLIENT_CONN_EV_AUTH_FAILED);
            return;
        }
        if (!c->have_server_key) {
            if (vc_store_set(c->store, "server_key", si->server_key.bytes, 32) != VT_OK) {
                c->auth_err = VT_ERR_IO;
                vc_conn_fire(c, VT_CLIENT_CONN_EV_AUTH_FAILED);
                return;
            }
            memcpy(c->server_key, si->server_key.bytes, 32);
            c->have_server_key = true;
        }
        if (si->has_limits && si->limits.max_inflight_requests)
            c->max_inflight = si->limits.max_inflight_requests;
        c->server_info_ok = true;
        begin_auth(c, c->auth_next);
        return;
    }
    case AUTH_CHALLENGE: {
        const ventra_v1_GetChallengeResponse *ch = vt_cli_response_get_challenge(r);
        if (ch == NULL || ch->nonce.size == 0 || ch->nonce.size > 32) {
            c->auth_err = VT_ERR_INTERNAL;
            vc_conn_fire(c, VT_CLIENT_CONN_EV_AUTH_FAILED);
            return;
        }
        memcpy(c->nonce, ch->nonce.bytes, ch->nonce.size);
        c->nonce_len = ch->nonce.size;
        vc_conn_fire(c, VT_CLIENT_CONN_EV_CHALLENGE_OK);
        return;
    }
    default:
        break;
    }
    memset(&c->auth, 0, sizeof c->auth);
    if (which == AUTH_RESUME && vt_cli_response_resume(r)) {
        const ventra_v1_ResumeResponse *x = vt_cli_response_resume(r);
        snprintf(c->auth.token, sizeof c->auth.token, "%s", x->token);
        c->auth.exp = x->token_expires_at;
        c->auth.device_id = x->device_id;
        snprintf(c->auth.username, sizeof c->auth.username, "%s", x->username);
    } else if (which == AUTH_LOGIN && vt_cli_response_login(r)) {
        const ventra_v1_LoginResponse *x = vt_cli_response_login(r);
        snprintf(c->auth.token, sizeof c->auth.token, "%s", x->token);
        c->auth.exp = x->token_expires_at;
        c->auth.device_id = c->device_id;
        snprintf(c->auth.username, sizeof c->auth.username, "%s", c->username);
    } else if (which == AUTH_REGISTER && vt_cli_response_register(r)) {
        const ventra_v1_RegisterResponse *x = vt_cli_response_register(r);
        snprintf(c->auth.token, sizeof c->auth.token, "%s", x->token);
        c->auth.exp = x->token_expires_at;
        c->auth.device_id = x->device_id;
        snprintf(c->auth.username, sizeof c->auth.username, "%s", c->register_name);
    } else {
        c->auth_err = VT_ERR_INTERNAL; /* WIRE-32 */
        vc_conn_fire(c, VT_CLIENT_CONN_EV_AUTH_FAILED);
        return;
    }
    vc_conn_fire(c, VT_CLIENT_CONN_EV_AUTH_OK);
}

static void a_send_resume(void *ctx)
{
    begin_auth(ctx, AUTH_RESUME);
}
static void a_send_get_challenge(void *ctx)
{
    begin_auth(ctx, AUTH_CHALLENGE);
}
static void a_send_login(void *ctx)
{
    begin_auth(ctx, AUTH_LOGIN);
}
static void a_send_register(void *ctx)
{
    begin_auth(ctx, AUTH_REGISTER);
}

static void a_schedule_backoff(void *ctx)
{
    vt_client *c = ctx;
    uint64_t bound = VT_RECONNECT_BASE_MS;
    uint32_t r = 0;

    /* SM-2: uniform in [0, min(MAX, BASE * 2^n)], then n + 1 */
    for (unsigned i = 0; i < c->backoff_n && bound < VT_RECONNECT_MAX_MS; i++)
        bound *= 2;
    if (bound > VT_RECONNECT_MAX_MS)
        bound = VT_RECONNECT_MAX_MS;
    if (vt_random_bytes((uint8_t *)&r, sizeof r) != VT_OK)
        r = 0;
    c->backoff_until_ms = vc_now_ms() + (uint64_t)r % (bound + 1);
    c->backoff_n++;
    c->wsi = NULL;
    c->ws_open = false;
    fail_all(c);
    free_out(c);
}

static void a_close_socket(void *ctx)
{
    vt_client *c = ctx;

    a_stop_keepalive(c);
    if (c->wsi) {
        struct lws *w = c->wsi;
        c->wsi = NULL;
        c->closing = w;
        lws_set_opaque_user_data(w, NULL); /* no more events from it */
        if (c->ws_open) {
            lws_close_reason(w, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            lws_callback_on_writable(w);
        } else {
            lws_set_timeout(w, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
    }
    c->ws_open = false;
    fail_all(c);
    free_out(c);
}

static void a_store_token(void *ctx)
{
    vt_client *c = ctx;
    char num[16];
    vt_err err = vc_store_set(c->store, "token", c->auth.token, strlen(c->auth.token));

    if (err == VT_OK)
        err = vc_set_u64(c, "token_exp", c->auth.exp);
    if (err == VT_OK && c->device_id == 0 && c->auth.device_id != 0) {
        /* after Register: the device id and the name (store_token) */
        snprintf(num, sizeof num, "%u", c->auth.device_id);
        err = vc_store_set(c->store, "device_id", num, strlen(num));
        if (err == VT_OK)
            err = vc_store_set(c->store, "username", c->auth.username,
                               strlen(c->auth.username));
        if (err == VT_OK) {
            c->device_id = c->auth.device_id;
            snprintf(c->username, sizeof c->username, "%s", c->auth.username);
        }
    }
    vt_wipe(&c->auth, sizeof c->auth);
    c->n_listed = 0;
    c->own_devices_listed = false;
    if (err != VT_OK)
        vc_notice(c, "could not store the session token: %s", vt_strerror(err));
    vc_keys_after_auth(c);
}

static void a_reset_backoff(void *ctx)
{
    ((vt_client *)ctx)->backoff_n = 0;
}

static void a_forget_token(void *ctx)
{
    vt_client *c = ctx;
    VC_IGNORE(vc_store_unset(c->store, "token"));
    VC_IGNORE(vc_store_unset(c->store, "token_exp"));
}

static void a_report_auth_failure(void *ctx)
{
    vt_client *c = ctx;
    c->close_why = c->auth_err == VT_ERR_BAD_TOKEN ? VT_ERR_BAD_SIGNATURE : c->auth_err;
    if (c->auth_err == VT_ERR_CRYPTO)
        vc_notice(c,
                  "the server key differs from the one recorded for %s: refusing to "
                  "authenticate (AUTH-11)",
                  c->url);
    else
        vc_notice(c, "authentication failed: %s", vt_strerror(c->auth_err));
}

static void a_flush_outbox(void *ctx)
{
    vt_client *c = ctx;
    c->dirty_outbox = true; /* SM-1: the outbox goes out now that we are LIVE */
    c->next_outbox_ms = 0;
    vc_keys_on_drained(c);
}

static void a_forget_credentials(void *ctx)
{
    vc_forget_device(ctx); /* SM-3, AUTH-87 */
}

static void a_report_session_ended(void *ctx)
{
    vt_client *c = ctx;
    switch (c->end_reason) {
    case ventra_v1_SessionEndReason_SESSION_END_REASON_DEVICE_REMOVED:
        vc_notice(c, "this device was removed from the account");
        break;
    case ventra_v1_SessionEndReason_SESSION_END_REASON_ACCOUNT_DELETED:
        vc_notice(c, "the account was deleted");
        break;
    case ventra_v1_SessionEndReason_SESSION_END_REASON_REPLACED:
        /* AUTH-66 */
        vc_notice(c, "another connection authenticated as this device; if that was not "
                     "you, its token or identity key may be stolen");
        break;
    default:
        vc_notice(c, "the server ended the session");
    }
    c->close_why = VT_ERR_PERMISSION_DENIED;
}

static void a_cancel_backoff(void *ctx)
{
    ((vt_client *)ctx)->backoff_until_ms = 0;
}

static const vt_client_conn_ops conn_ops = {
    .guard_has_token = g_has_token,
    .guard_has_device = g_has_device,
    .guard_token_rejected = g_token_rejected,
    .guard_auth_retryable = g_auth_retryable,
    .guard_device_gone = g_device_gone,
    .guard_server_shutdown = g_server_shutdown,
    .action_open_socket = a_open_socket,
    .action_start_keepalive = a_start_keepalive,
    .action_send_resume = a_send_resume,
    .action_send_get_challenge = a_send_get_challenge,
    .action_schedule_backoff = a_schedule_backoff,
    .action_close_socket = a_close_socket,
    .action_send_login = a_send_login,
    .action_send_register = a_send_register,
    .action_store_token = a_store_token,
    .action_reset_backoff = a_reset_backoff,
    .action_forget_token = a_forget_token,
    .action_report_auth_failure = a_report_auth_failure,
    .action_stop_keepalive = a_stop_keepalive,
    .action_flush_outbox = a_flush_outbox,
    .action_forget_credentials = a_forget_credentials,
    .action_report_session_ended = a_report_session_ended,
    .action_cancel_backoff = a_cancel_backoff,
};

bool vc_conn_ops_complete(void)
{
    bool ok = true;
#define G(n) ok &= conn_ops.guard_##n != NULL;
#define A(n) ok &= conn_ops.action_##n != NULL;
    VT_CLIENT_CONN_GUARD_LIST(G)
    VT_CLIENT_CONN_ACTION_LIST(A)
#undef G
#undef A
    return ok;
}

/* ---- frames in ------------------------------------------------------------ */

static void on_frame(vt_client *c, const uint8_t *buf, size_t len)
{
    ventra_v1_Frame *f = malloc(sizeof *f);
    vt_err err;

    if (f == NULL)
        return;
    err = vt_frame_decode_nanopb(buf, len, VT_MAX_FRAME_SIZE, f);
    if (err != VT_OK || f->which_kind == ventra_v1_Frame_request_tag) {
        /* WIRE-25: a frame we cannot use; the connection is broken */
        free(f);
        vc_notice(c, "undecodable frame from the server: %s", vt_strerror(err));
        vc_conn_fire(c, VT_CLIENT_CONN_EV_KEEPALIVE_TIMEOUT);
        return;
    }
    if (f->which_kind == ventra_v1_Frame_response_tag) {
        const ventra_v1_Response *r = &f->kind.response;
        for (size_t i = 0; i < 32; i++) {
            vc_slot *s = &c->slots[i];
            if (!s->used || s->id != r->id || s->done)
                continue;
            if (s->sync) { /* WIRE-36: by id only */
                s->frame = f;
                s->done = true;
                return;
            }
            s->used = false;
            if (s->cb)
                s->cb(c, s->ud, r, VT_OK);
            break;
        }
        vt_wipe(f, sizeof *f);
        free(f);
        return;
    }
    /* events */
    switch (f->kind.event.which_body) {
    case ventra_v1_Event_message_tag:
        vc_on_message_event(c, &f->kind.event.body.message);
        break;
    case ventra_v1_Event_queue_drained_tag:
        c->drained = true;
        vc_conn_fire(c, VT_CLIENT_CONN_EV_QUEUE_DRAINED);
        break;
    case ventra_v1_Event_prekeys_low_tag:
        c->need_one_time = true;
        break;
    case ventra_v1_Event_group_changed_tag:
        vc_on_group_changed(c, &f->kind.event.body.group_changed);
        break;
    case ventra_v1_Event_session_ended_tag:
        c->session_ended_seen = true;
        c->end_reason = f->kind.event.body.session_ended.reason;
        vc_conn_fire(c, VT_CLIENT_CONN_EV_SESSION_ENDED);
        break;
    default:
        break;
    }
    vt_wipe(f, sizeof *f);
    free(f);
}

static void on_receive(vt_client *c, struct lws *wsi, const uint8_t *in, size_t len)
{
    bool first = lws_is_first_fragment(wsi);
    bool last = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

    if (first)
        c->rx_len = 0;
    if (first && !lws_frame_is_binary(wsi)) {
        vc_conn_fire(c, VT_CLIENT_CONN_EV_KEEPALIVE_TIMEOUT); /* binary only (WIRE-4) */
        return;
    }
    if (first && last) {
        on_frame(c, in, len);
        return;
    }
    if (c->rx_len + len > VT_MAX_FRAME_SIZE) {
        vc_conn_fire(c, VT_CLIENT_CONN_EV_KEEPALIVE_TIMEOUT);
        return;
    }
    if (c->rx_len + len > c->rx_cap) {
        size_t cap = c->rx_cap ? c->rx_cap : 4096;
        uint8_t *nb;
        while (cap < c->rx_len + len)
            cap *= 2;
        nb = realloc(c->rx, cap);
        if (nb == NULL)
            return;
        c->rx = nb;
        c->rx_cap = cap;
    }
    if (len)
        memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (last) {
        on_frame(c, c->rx, c->rx_len);
        c->rx_len = 0;
    }
}

static int cb_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    vt_client *c = ctx ? lws_context_user(ctx) : NULL;
    bool current;

    (void)user;
    if (c == NULL)
        return 0;
    current = c->wsi == wsi && lws_get_opaque_user_data(wsi) != NULL;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (current || (c->wsi == NULL && c->st == VT_CLIENT_CONN_CONNECTING &&
                        lws_get_opaque_user_data(wsi) == (void *)conn_gen)) {
            c->wsi = NULL;
            vc_conn_fire(c, VT_CLIENT_CONN_EV_WS_ERROR);
        }
        if (c->closing == wsi)
            c->closing = NULL;
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!current)
            return -1;
        c->ws_open = true;
        c->last_rx_ms = vc_now_ms();
        vc_conn_fire(c, VT_CLIENT_CONN_EV_WS_OPEN);
        if (c->out_head && c->wsi)
            lws_callback_on_writable(c->wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!current)
            return 0;
        c->last_rx_ms = vc_now_ms();
        on_receive(c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        if (current)
            c->last_rx_ms = vc_now_ms();
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!current)
            return -1; /* close_socket: the close frame (1000) goes out */
        if (c->out_head) {
            vc_out *o = c->out_head;
            int n = lws_write(wsi, o->buf + LWS_PRE, o->len, LWS_WRITE_BINARY);
            c->out_head = o->next;
            if (c->out_head == NULL)
                c->out_tail = NULL;
            vt_wipe(o->buf, LWS_PRE + o->len);
            free(o->buf);
            free(o);
            if (n < 0)
                return -1;
            if (c->out_head)
                lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (current && len >= 2)
            c->close_code =
                (uint16_t)(((const uint8_t *)in)[0] << 8 | ((const uint8_t *)in)[1]);
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c->closing == wsi)
            c->closing = NULL;
        if (!current)
            return 0;
        c->wsi = NULL;
        c->ws_open = false;
        if (c->close_code == 4001 && !c->session_ended_seen) {
            c->end_reason = 0; /* unknown: no automatic reconnect (WIRE-10) */
            vc_conn_fire(c, VT_CLIENT_CONN_EV_SESSION_ENDED);
        } else {
            vc_conn_fire(c, VT_CLIENT_CONN_EV_WS_CLOSED);
        }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {VT_PROTOCOL_NAME, cb_ws, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void no_log(int level, const char *line)
{
    (void)level;
    (void)line;
}

vt_err vc_conn_init(vt_client *c)
{
    struct lws_context_creation_info info;

    memset(&info, 0, sizeof info);
    lws_set_log_level(0, no_log); /* library code prints nothing */
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = c;
    info.gid = -1;
    info.uid = -1;
    info.options = c->tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
    if (c->tls && c->ca_file[0])
        info.client_ssl_ca_filepath = c->ca_file;
    c->ctx = lws_create_context(&info);
    return c->ctx ? VT_OK : VT_ERR_NO_MEMORY;
}

void vc_conn_free(vt_client *c)
{
    if (c->ctx)
        lws_context_destroy(c->ctx);
    c->ctx = NULL;
    c->wsi = NULL;
    free_out(c);
    for (size_t i = 0; i < 32; i++) {
        free(c->slots[i].frame);
        c->slots[i].frame = NULL;
        c->slots[i].used = false;
    }
    free(c->rx);
    c->rx = NULL;
    c->rx_cap = c->rx_len = 0;
}

static void ping_cb(vt_client *c, void *ud, const ventra_v1_Response *r, vt_err e)
{
    (void)c;
    (void)ud;
    (void)r;
    (void)e;
}

void vc_conn_timers(vt_client *c)
{
    uint64_t now = vc_now_ms();

    if (c->st == VT_CLIENT_CONN_BACKOFF && now >= c->backoff_until_ms) {
        vc_conn_fire(c, VT_CLIENT_CONN_EV_BACKOFF_ELAPSED);
        return;
    }
    if (c->wsi == NULL || !c->ws_open || !c->keepalive)
        return;
    /* KEEPALIVE_TIMEOUT: nothing for two ping intervals, or a request
     * unanswered for 30 s (WIRE-15) */
    bool dead = now - c->last_rx_ms > 2 * VT_PING_INTERVAL_S * 1000;
    for (size_t i = 0; i < 32; i++)
        if (c->slots[i].used && now - c->slots[i].sent_ms > REQUEST_TIMEOUT_MS)
            dead = true;
    if (dead) {
        vc_conn_fire(c, VT_CLIENT_CONN_EV_KEEPALIVE_TIMEOUT);
        return;
    }
    if (now - c->last_ping_ms >= VT_PING_INTERVAL_S * 1000) { /* WIRE-11 */
        ventra_v1_Request req;
        memset(&req, 0, sizeof req);
        req.which_body = ventra_v1_Request_ping_tag;
        req.body.ping.nonce = now;
        if (vc_rpc_async(c, &req, ping_cb, NULL) == VT_OK)
            c->last_ping_ms = now;
    }
}

static lws_sorted_usec_list_t wake_sul;
static void on_wake(lws_sorted_usec_list_t *sul)
{
    (void)sul;
}

vt_err vc_conn_service(vt_client *c, int timeout_ms)
{
    if (c->ctx == NULL)
        return VT_ERR_STATE;
    vc_conn_timers(c);
    if (timeout_ms <= 0) {
        if (lws_service(c->ctx, -1) < 0)
            return VT_ERR_IO;
    } else {
        /* lws waits until its next timer: bound the wait with one */
        int rc;
        lws_sul_schedule(c->ctx, 0, &wake_sul, on_wake,
                         (lws_usec_t)timeout_ms * LWS_US_PER_MS);
        rc = lws_service(c->ctx, 0);
        lws_sul_cancel(&wake_sul);
        if (rc < 0)
            return VT_ERR_IO;
    }
    vc_conn_timers(c);
    return VT_OK;
}

void vc_queue_ack(vt_client *c, uint64_t seq)
{
    if (seq == 0) /* DELIV-82: never ack an ephemeral message */
        return;
    if (c->n_acks < VC_ACK_MAX)
        c->acks[c->n_acks++] = seq;
    if (c->n_acks == VC_ACK_MAX)
        vc_flush_acks(c);
}

static void ack_cb(vt_client *c, void *ud, const ventra_v1_Response *r, vt_err e)
{
    (void)c;
    (void)ud;
    (void)r;
    (void)e; /* a lost ack only means the message is pushed again (DELIV-42) */
}

void vc_flush_acks(vt_client *c)
{
    ventra_v1_Request *req;

    if (c->n_acks == 0 || !vc_conn_authed(c))
        return;
    req = calloc(1, sizeof *req);
    if (req == NULL)
        return;
    req->which_body = ventra_v1_Request_ack_tag;
    memcpy(req->body.ack.seqs, c->acks, c->n_acks * sizeof c->acks[0]);
    req->body.ack.seqs_count = (pb_size_t)c->n_acks;
    if (vc_rpc_async(c, req, ack_cb, NULL) == VT_OK)
        c->n_acks = 0;
    free(req);
}
