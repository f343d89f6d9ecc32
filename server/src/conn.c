/* The connection layer of ventrad: one WebSocket connection from upgrade
 * to close. Runs the general checks of spec/wire.md 2.3 in their order
 * (WIRE-26), the generated server_conn machine (spec/state/server_conn.md),
 * request-id bookkeeping (WIRE-33, WIRE-35), the push window and the drain
 * (DELIV-42 to DELIV-45), and the outgoing queue whose entries wait for the
 * store flush they depend on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "log.h"
#include "server.h"
#include "ventra/frame.h"
#include "ventra/pbc_limits.h"

/* ---- outgoing queue ---------------------------------------------------- */

static void mark_dirty(vt_srv_conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        c->dirty_next = c->srv->dirty;
        c->srv->dirty = c;
    }
}

/* The batch an entry made now has to wait for: the open one, if any. */
static uint64_t current_gate(const vtd_server *srv)
{
    return vtd_store_batch_ops(srv->store) > 0 ? srv->batch_seq : 0;
}

static bool released(const vtd_server *srv, const vtd_out *o)
{
    return o->batch == 0 || o->batch <= srv->committed_batch;
}

static void enqueue(vt_srv_conn *c, vtd_out *o)
{
    o->batch = current_gate(c->srv);
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->out_bytes += o->len;
    if (o->batch == 0 && c->wsi)
        lws_callback_on_writable(c->wsi);
    else
        mark_dirty(c);
}

static void queue_close(vt_srv_conn *c, int code)
{
    if (c->close_queued)
        return;
    vtd_out *o = calloc(1, sizeof *o + LWS_PRE);
    if (!o)
        return; /* the tick's close timeout ends it */
    o->close_code = code;
    c->close_code = code;
    c->close_queued = true;
    c->close_sent_ms = vtd_now_ms();
    enqueue(c, o);
}

/* Encodes |f| and queues it. A frame that cannot be encoded is a bug of
 * ours (a field over its bound), logged, and the connection is closed. */
static void emit_frame(vt_srv_conn *c, const Ventra__V1__Frame *f, vtd_frame_kind kind,
                       bool is_response, uint32_t resp_id)
{
    if (c->close_queued)
        return;
    size_t need = vt_frame_size_pbc(f);
    if (c->out_bytes + need > VTD_OUT_MAX_BYTES) {
        vtd_log(VTD_LOG_WARN, "connection too slow; closing", "peer=%s queued=%zu",
                c->peer, c->out_bytes);
        queue_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION);
        c->state = VT_SERVER_CONN_CLOSING;
        return;
    }
    vtd_out *o = malloc(sizeof *o + LWS_PRE + need);
    if (!o) {
        queue_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
        return;
    }
    memset(o, 0, sizeof *o);
    size_t len = 0;
    vt_err err = vt_frame_encode_pbc(f, o->buf + LWS_PRE, need, &len);
    if (err != VT_OK) {
        vtd_log(VTD_LOG_ERROR, "cannot encode frame", "err=%s", vt_strerror(err));
        free(o);
        queue_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
        return;
    }
    o->len = len;
    o->kind = kind;
    o->is_response = is_response;
    o->resp_id = resp_id;
    enqueue(c, o);
}

void vtd_conn_emit_event(vt_srv_conn *c, Ventra__V1__Event *ev)
{
    /* WIRE-37: events only on authenticated connections */
    if (!c->authed || c->state == VT_SERVER_CONN_CLOSING ||
        c->state == VT_SERVER_CONN_CLOSED)
        return;
    Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;
    f.kind_case = VENTRA__V1__FRAME__KIND_EVENT;
    f.event = ev;
    emit_frame(c, &f, VTD_FRAME_EVENT, false, 0);
}

static void inflight_remove(vt_srv_conn *c, uint32_t id)
{
    for (unsigned i = 0; i < c->inflight_n; i++)
        if (c->inflight[i] == id) {
            c->inflight[i] = c->inflight[--c->inflight_n];
            return;
        }
}

static bool inflight_has(const vt_srv_conn *c, uint32_t id)
{
    for (unsigned i = 0; i < c->inflight_n; i++)
        if (c->inflight[i] == id)
            return true;
    return false;
}

/* A response answers a request; the id stays in flight until written. */
static void send_response(vt_srv_conn *c, Ventra__V1__Response *resp, bool track)
{
    Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;
    f.kind_case = VENTRA__V1__FRAME__KIND_RESPONSE;
    f.response = resp;
    if (track && resp->id != 0 && c->inflight_n < VTD_INFLIGHT_CAP &&
        !inflight_has(c, resp->id))
        c->inflight[c->inflight_n++] = resp->id;
    emit_frame(c, &f, VTD_FRAME_RESPONSE, track, resp->id);
}

/* WIRE-27, WIRE-73: bad or refused frames in a row; a success resets. */
static bool counts_as_bad(vt_err e)
{
    switch (e) {
    case VT_ERR_MALFORMED_FRAME:
    case VT_ERR_UNKNOWN_FRAME_KIND:
    case VT_ERR_DUPLICATE_REQUEST_ID:
    case VT_ERR_UNKNOWN_RPC:
    case VT_ERR_UNAUTHENTICATED:
    case VT_ERR_TOO_LARGE:
    case VT_ERR_INVALID_ARGUMENT:
    case VT_ERR_RATE_LIMITED:
        return true;
    default:
        return false;
    }
}

static void after_answer(vt_srv_conn *c, vt_err code)
{
    if (code == VT_OK)
        c->bad_in_a_row = 0;
    else if (counts_as_bad(code) && ++c->bad_in_a_row >= VT_MAX_CONSECUTIVE_ERRORS)
        vtd_conn_fire(c, VT_SERVER_CONN_EV_TOO_MANY_ERRORS);
}

/* An error answer outside any call (ids 0 and frame-level errors). */
static void answer_error(vt_srv_conn *c, uint32_t id, vt_err code, uint32_t retry_ms,
                         bool track)
{
    Ventra__V1__Error e = VENTRA__V1__ERROR__INIT;
    Ventra__V1__Response resp = VENTRA__V1__RESPONSE__INIT;
    e.code = (Ventra__V1__ErrorCode)code;
    e.message = (char *)vt_strerror(code);
    e.retry_after_ms = retry_ms;
    resp.id = id;
    resp.error = &e;
    vtd_metrics_error(c->srv->metrics, code);
    send_response(c, &resp, track);
}

void vt_srv_call_reply(vt_srv_call *call, Ventra__V1__Response *resp)
{
    vt_srv_conn *c = call->conn;
    if (call->replied)
        return; /* one response per request (WIRE-34) */
    call->replied = true;
    resp->id = call->id;
    vt_err code = resp->error ? (vt_err)resp->error->code : VT_OK;
    vtd_metrics_rpc(c->srv->metrics, call->method, code,
                    (double)(vtd_mono_ns() - call->start_ns) / 1e9);
    if (resp->error)
        vtd_metrics_error(c->srv->metrics, code);
    send_response(c, resp, true);
    after_answer(c, code);
}

/* ---- the machine's actions ------------------------------------------- */

static void act_dispatch(void *ctx)
{
    vt_srv_conn *c = ctx;
    vt_err e = vt_srv_dispatch(c, c->cur_call, c->cur_req, c->authed);
    if (e != VT_OK)
        vtd_reply_error(c->cur_call, e, vt_strerror(e));
    else if (!c->cur_call->replied)
        vtd_reply_error(c->cur_call, VT_ERR_INTERNAL, "no answer");
}

static void act_reply_unauthenticated(void *ctx)
{
    vt_srv_conn *c = ctx;
    vtd_reply_error(c->cur_call, VT_ERR_UNAUTHENTICATED, "authenticate first");
}

static void act_reply_already_authenticated(void *ctx)
{
    vt_srv_conn *c = ctx;
    vtd_reply_error(c->cur_call, VT_ERR_PERMISSION_DENIED, "already authenticated");
}

/* WIRE-14, step 6 of spec/wire.md 2.3: the machine is SHUTTING_DOWN. */
static void act_reply_unavailable(void *ctx)
{
    vt_srv_conn *c = ctx;
    vtd_reply_error(c->cur_call, VT_ERR_UNAVAILABLE, vt_strerror(VT_ERR_UNAVAILABLE));
}

static void act_reply_frame_error(void *ctx)
{
    vt_srv_conn *c = ctx;
    if (c->cur_call) {
        if (c->cur_err == VT_ERR_RATE_LIMITED)
            vtd_reply_rate_limited(c->cur_call, c->cur_retry_ms);
        else
            vtd_reply_error(c->cur_call, c->cur_err, vt_strerror(c->cur_err));
        return;
    }
    /* no call: frame-level errors carry id 0, or a duplicate id that
     * must not disturb the request already in flight under it */
    answer_error(c, c->cur_err_id, c->cur_err, 0, false);
    after_answer(c, c->cur_err);
}

static void act_bind_device(void *ctx)
{
    vt_srv_conn *c = ctx;
    c->authed = true;
    c->acct = c->bind_acct;
    c->device_id = c->bind_device;
    memcpy(c->username, c->bind_username, sizeof c->username);
    vtd_metrics_conn_authenticated(c->srv->metrics);
}

static void act_replace_older(void *ctx)
{
    vt_srv_conn *c = ctx;
    vt_srv_conn *old = vtd_hub_get(c->srv, c->acct, c->device_id);
    if (old && old != c) {
        vtd_hub_remove(c->srv, old);
        vtd_conn_end_session(old,
                             VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_REPLACED);
    }
    vtd_hub_put(c->srv, c);
}

static void act_start_idle_timer(void *ctx)
{
    vt_srv_conn *c = ctx;
    c->last_rx_ms = vtd_now_ms();
}

static void act_start_drain(void *ctx)
{
    vt_srv_conn *c = ctx;
    vtd_server *srv = c->srv;
    uint64_t last = 0;
    uint32_t count = 0;
    /* DELIV-45: the drain set is what is queued now */
    if (vtd_store_queue_last_seq(srv->store, c->acct, c->device_id, &last) != VT_OK)
        last = 0;
    c->drain_until = last;
    c->drain_count = 0;
    c->drained = false;
    c->push_cursor = 0;
    c->window_n = 0;
    /* WIRE-600: a low stock is told after every authentication */
    if (vtd_store_one_time_prekey_count(srv->store, c->acct, c->device_id, &count) ==
            VT_OK &&
        count < VT_PREKEY_LOW_WATERMARK)
        vtd_notify_prekeys_low(srv, c->acct, c->device_id, count);
    vtd_conn_pump(c);
}

static void act_send_queue_drained(void *ctx)
{
    vt_srv_conn *c = ctx;
    Ventra__V1__QueueDrainedEvent qd = VENTRA__V1__QUEUE_DRAINED_EVENT__INIT;
    Ventra__V1__Event ev = VENTRA__V1__EVENT__INIT;
    qd.count = c->drain_count;
    ev.body_case = VENTRA__V1__EVENT__BODY_QUEUE_DRAINED;
    ev.queue_drained = &qd;
    c->drained = true;
    vtd_conn_emit_event(c, &ev);
    vtd_conn_pump(c);
}

static void act_send_session_ended(void *ctx)
{
    vt_srv_conn *c = ctx;
    Ventra__V1__SessionEndedEvent se = VENTRA__V1__SESSION_ENDED_EVENT__INIT;
    Ventra__V1__Event ev = VENTRA__V1__EVENT__INIT;
    se.reason = (Ventra__V1__SessionEndReason)c->end_reason;
    ev.body_case = VENTRA__V1__EVENT__BODY_SESSION_ENDED;
    ev.session_ended = &se;
    vtd_conn_emit_event(c, &ev);
}

static void act_close_policy(void *ctx)
{
    queue_close(ctx, LWS_CLOSE_STATUS_POLICY_VIOLATION);
}

static void act_close_going_away(void *ctx)
{
    queue_close(ctx, LWS_CLOSE_STATUS_GOINGAWAY);
}

static void act_close_session_ended(void *ctx)
{
    queue_close(ctx, 4001);
}

static void act_close_idle(void *ctx)
{
    queue_close(ctx, LWS_CLOSE_STATUS_NORMAL);
}

static void act_unbind_device(void *ctx)
{
    vt_srv_conn *c = ctx;
    if (c->authed)
        vtd_hub_remove(c->srv, c);
}

static void act_release(void *ctx)
{
    vt_srv_conn *c = ctx;
    c->wsi = NULL; /* freed by vtd_conn_on_closed once the machine is done */
}

static bool guard_is_auth_rpc(void *ctx)
{
    vt_srv_conn *c = ctx;
    const Ventra__V1__Request *r = c->cur_req;
    if (!r)
        return false;
    switch (r->body_case) {
    case VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT:
    case VENTRA__V1__REQUEST__BODY_LOGIN:
    case VENTRA__V1__REQUEST__BODY_RESUME:
        return true;
    case VENTRA__V1__REQUEST__BODY_GET_CHALLENGE:
        return r->get_challenge->purpose ==
                   VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_LOGIN ||
               r->get_challenge->purpose ==
                   VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_REGISTER;
    default:
        return false;
    }
}

static bool guard_is_bound(void *ctx)
{
    const vt_srv_conn *c = ctx;
    return c->authed;
}

static const vt_server_conn_ops conn_ops = {
    .guard_is_auth_rpc = guard_is_auth_rpc,
    .guard_is_bound = guard_is_bound,
    .action_reply_unavailable = act_reply_unavailable,
    .action_dispatch = act_dispatch,
    .action_reply_unauthenticated = act_reply_unauthenticated,
    .action_reply_frame_error = act_reply_frame_error,
    .action_cancel_auth_timer = NULL, /* the tick looks at the state */
    .action_bind_device = act_bind_device,
    .action_replace_older_connection = act_replace_older,
    .action_start_idle_timer = act_start_idle_timer,
    .action_start_drain = act_start_drain,
    .action_close_policy = act_close_policy,
    .action_close_going_away = act_close_going_away,
    .action_release = act_release,
    .action_reply_already_authenticated = act_reply_already_authenticated,
    .action_send_queue_drained = act_send_queue_drained,
    .action_close_idle = act_close_idle,
    .action_send_session_ended = act_send_session_ended,
    .action_close_session_ended = act_close_session_ended,
    .action_unbind_device = act_unbind_device,
};

/* SM-100: one event at a time, each with all its actions. An event raised
 * by an action (a handler's AUTH_OK, an answer's TOO_MANY_ERRORS) waits
 * until the running step is done. */
void vtd_conn_fire(vt_srv_conn *c, vt_server_conn_event ev)
{
    if (c->stepping) {
        if (c->pending_n < VTD_PENDING_EVENTS)
            c->pending[c->pending_n++] = ev;
        else
            vtd_log(VTD_LOG_ERROR, "event queue full", "event=%s",
                    vt_server_conn_event_name(ev));
        return;
    }
    c->stepping = true;
    for (;;) {
        vt_server_conn_state before = c->state;
        if (!vt_server_conn_step(&conn_ops, c, &c->state, ev) &&
            before != VT_SERVER_CONN_CLOSED && before != VT_SERVER_CONN_CLOSING)
            vtd_log(VTD_LOG_DEBUG, "event not allowed", "state=%s event=%s",
                    vt_server_conn_state_name(before), vt_server_conn_event_name(ev));
        if (c->pending_n == 0)
            break;
        ev = c->pending[0];
        memmove(c->pending, c->pending + 1, --c->pending_n * sizeof c->pending[0]);
    }
    c->stepping = false;
}

void vtd_conn_end_session(vt_srv_conn *c, int reason)
{
    c->end_reason = reason;
    vtd_conn_fire(c, VT_SERVER_CONN_EV_SESSION_ENDED);
}

/* ---- life cycle ------------------------------------------------------- */

vt_srv_conn *vtd_conn_new(vtd_server *srv, struct lws *wsi, const char *peer)
{
    vt_srv_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = srv;
    c->wsi = wsi;
    c->state = VT_SERVER_CONN_INITIAL;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->opened_ms = c->last_rx_ms = c->last_tx_ms = vtd_now_ms();
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->conn_count++;
    vtd_metrics_conn_opened(srv->metrics);
    /* an upgrade that was accepted just before shutdown began */
    if (srv->shutting_down)
        vtd_conn_fire(c, VT_SERVER_CONN_EV_SHUTDOWN);
    if (srv->closing_all)
        vtd_conn_fire(c, VT_SERVER_CONN_EV_GRACE_OVER);
    return c;
}

void vtd_conn_on_closed(vt_srv_conn *c)
{
    vtd_server *srv = c->srv;
    bool was_authed = c->authed;
    vtd_conn_fire(c, VT_SERVER_CONN_EV_PEER_CLOSED);
    if (c->authed && vtd_hub_get(srv, c->acct, c->device_id) == c)
        vtd_hub_remove(srv, c);
    /* unlink from the dirty list */
    for (vt_srv_conn **p = &srv->dirty; *p; p = &(*p)->dirty_next)
        if (*p == c) {
            *p = c->dirty_next;
            break;
        }
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->conn_count--;
    vtd_metrics_conn_closed(srv->metrics, c->close_code, was_authed);
    for (vtd_out *o = c->out_head, *n; o; o = n) {
        n = o->next;
        free(o);
    }
    free(c->rx);
    vt_wipe(c->challenge, sizeof c->challenge);
    free(c);
}

/* ---- input ------------------------------------------------------------ */

/* Step 10 of spec/wire.md 2.3: the buckets of WIRE-72 that a request meets
 * before its own checks. Keyed by connection or by the caller's account. */
static bool rate_ok(vt_srv_conn *c, const Ventra__V1__Request *r, uint32_t *retry)
{
    vtd_server *srv = c->srv;
    uint64_t now = vtd_now_ms();
    if (!vtd_bucket_take(&c->rl_requests, &srv->cfg.limits[VTD_LIMIT_REQUESTS], now,
                         retry))
        return false;
    vtd_limit keyed = VTD_LIMIT_COUNT;
    switch (r->body_case) {
    case VENTRA__V1__REQUEST__BODY_GET_CHALLENGE:
    case VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT:
    case VENTRA__V1__REQUEST__BODY_LOGIN:
    case VENTRA__V1__REQUEST__BODY_RESUME:
        return vtd_bucket_take(&c->rl_auth, &srv->cfg.limits[VTD_LIMIT_AUTH], now, retry);
    case VENTRA__V1__REQUEST__BODY_SEND:
        keyed = VTD_LIMIT_SENDS;
        break;
    case VENTRA__V1__REQUEST__BODY_ADD_DEVICE:
    case VENTRA__V1__REQUEST__BODY_REMOVE_DEVICE:
        keyed = VTD_LIMIT_DEVICE_CHANGES;
        break;
    case VENTRA__V1__REQUEST__BODY_CREATE_GROUP:
    case VENTRA__V1__REQUEST__BODY_ADD_GROUP_MEMBERS:
    case VENTRA__V1__REQUEST__BODY_REMOVE_GROUP_MEMBERS:
        keyed = VTD_LIMIT_GROUPS;
        break;
    default:
        return true;
    }
    return vtd_limit_take(srv, keyed, &c->acct, sizeof c->acct, retry);
}

static bool is_public(const Ventra__V1__Request *r)
{
    const vt_rpc_desc *d = vt_rpc_find((uint32_t)r->body_case);
    return d && d->is_public;
}

static void frame_error(vt_srv_conn *c, vt_err code, uint32_t id)
{
    c->cur_req = NULL;
    c->cur_call = NULL;
    c->cur_err = code;
    c->cur_err_id = id;
    vtd_conn_fire(c, VT_SERVER_CONN_EV_FRAME_INVALID);
}

void vtd_conn_on_message(vt_srv_conn *c, const uint8_t *data, size_t len, bool text)
{
    vtd_server *srv = c->srv;
    c->last_rx_ms = vtd_now_ms();
    if (c->state == VT_SERVER_CONN_CLOSING || c->state == VT_SERVER_CONN_CLOSED)
        return; /* SM-102 */
    if (text) { /* step 1, WIRE-4 */
        vtd_metrics_frame_in(srv->metrics, VTD_FRAME_TEXT);
        queue_close(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE);
        c->state = VT_SERVER_CONN_CLOSING;
        return;
    }
    Ventra__V1__Frame *frame = NULL;
    bool over_bound = false, unbounded = false;
    vt_err err = vt_frame_decode_pbc(data, len, VT_MAX_FRAME_SIZE, &frame);
    if (err == VT_ERR_TOO_LARGE) {
        /* Well-formed (rule 2 passed) but a field is over its bound:
         * decode without bounds so steps 4 to 10 still come first. */
        frame = ventra__v1__frame__unpack(NULL, len, data);
        if (!frame)
            err = VT_ERR_NO_MEMORY;
        else /* a fixed-length form too long is the RPC's INVALID_ARGUMENT */
            over_bound = vt_pbc_check_bounds(&frame->base) == VT_ERR_TOO_LARGE;
        unbounded = frame != NULL;
    }
    if (!frame) {
        vtd_metrics_frame_in(srv->metrics, err == VT_ERR_UNKNOWN_FRAME_KIND
                                               ? VTD_FRAME_NO_KIND
                                               : VTD_FRAME_MALFORMED);
        frame_error(c, err == VT_ERR_NO_MEMORY ? VT_ERR_INTERNAL : err, 0);
        return;
    }
    if (frame->kind_case != VENTRA__V1__FRAME__KIND_REQUEST) { /* step 4 */
        vtd_metrics_frame_in(srv->metrics,
                             frame->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE
                                 ? VTD_FRAME_RESPONSE
                                 : VTD_FRAME_EVENT);
        frame_error(c, VT_ERR_UNKNOWN_FRAME_KIND, 0);
        goto out;
    }
    vtd_metrics_frame_in(srv->metrics, VTD_FRAME_REQUEST);
    const Ventra__V1__Request *req = frame->request;
    if (req->id == 0 || inflight_has(c, req->id)) { /* step 5 */
        frame_error(c, VT_ERR_DUPLICATE_REQUEST_ID, req->id);
        goto out;
    }
    vt_srv_call call = {.conn = c,
                        .id = req->id,
                        .method = (uint32_t)req->body_case,
                        .start_ns = vtd_mono_ns()};
    c->cur_req = req;
    c->cur_call = &call;
    c->cur_retry_ms = 0;
    vt_server_conn_event ev = VT_SERVER_CONN_EV_FRAME_INVALID;
    if (c->state == VT_SERVER_CONN_SHUTTING_DOWN) /* step 6: the machine answers */
        ev = is_public(req) ? VT_SERVER_CONN_EV_FRAME_PUBLIC_RPC
                            : VT_SERVER_CONN_EV_FRAME_PRIVATE_RPC;
    else if (c->inflight_n >= VT_MAX_INFLIGHT_REQUESTS) /* step 7 */
        c->cur_err = VT_ERR_RATE_LIMITED;
    else if (!vt_rpc_find((uint32_t)req->body_case)) /* step 8 */
        c->cur_err = VT_ERR_UNKNOWN_RPC;
    else if (!is_public(req) && !c->authed) /* step 9: the machine answers */
        ev = VT_SERVER_CONN_EV_FRAME_PRIVATE_RPC;
    else if (!rate_ok(c, req, &c->cur_retry_ms)) /* step 10 */
        c->cur_err = VT_ERR_RATE_LIMITED;
    else if (over_bound) /* step 11 */
        c->cur_err = VT_ERR_TOO_LARGE;
    else
        ev = is_public(req) ? VT_SERVER_CONN_EV_FRAME_PUBLIC_RPC
                            : VT_SERVER_CONN_EV_FRAME_PRIVATE_RPC;
    vtd_conn_fire(c, ev);
    if (!call.replied && c->state != VT_SERVER_CONN_CLOSED && !c->close_queued)
        vtd_reply_error(&call, VT_ERR_INTERNAL, "no answer");
    c->cur_req = NULL;
    c->cur_call = NULL;
out:
    if (unbounded)
        ventra__v1__frame__free_unpacked(frame, NULL);
    else
        vt_frame_free_pbc(frame);
}

void vtd_conn_on_oversize(vt_srv_conn *c)
{
    vtd_metrics_frame_in(c->srv->metrics, VTD_FRAME_OVERSIZE);
    queue_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE); /* WIRE-21 */
    c->state = VT_SERVER_CONN_CLOSING;
}

void vtd_conn_on_pong(vt_srv_conn *c)
{
    vtd_log(VTD_LOG_DEBUG, "pong", "peer=%s", c->peer);
    c->last_rx_ms = vtd_now_ms();
}

/* ---- output ----------------------------------------------------------- */

/* Writes one entry; -1 when the connection must close now. */
static int write_one(vt_srv_conn *c, vtd_out *o)
{
    if (o->close_code) {
        static const char reason[] = "closing";
        lws_close_reason(c->wsi, (enum lws_close_status)o->close_code,
                         (unsigned char *)reason, sizeof reason - 1);
        if (c->state != VT_SERVER_CONN_CLOSED)
            c->state = VT_SERVER_CONN_CLOSING;
        return -1;
    }
    if (o->ping) {
        /* a payload: lws reports no pong of an empty ping */
        memcpy(o->buf + LWS_PRE, "ventra", 6);
        return lws_write(c->wsi, o->buf + LWS_PRE, 6, LWS_WRITE_PING) < 0 ? -1 : 0;
    }
    int rc = lws_write(c->wsi, o->buf + LWS_PRE, o->len, LWS_WRITE_BINARY) < (int)o->len
                 ? -1
                 : 0;
    vtd_metrics_frame_out(c->srv->metrics, o->kind);
    if (o->is_response)
        inflight_remove(c, o->resp_id);
    c->last_tx_ms = vtd_now_ms();
    return rc;
}

/* Writes every released entry the socket takes now, so a burst of
 * responses and pushes costs one wake-up, not one each. */
int vtd_conn_on_writable(vt_srv_conn *c)
{
    int rc = 0;
    while (rc == 0 && c->out_head && released(c->srv, c->out_head) &&
           !lws_send_pipe_choked(c->wsi)) {
        vtd_out *o = c->out_head;
        c->out_head = o->next;
        if (!c->out_head)
            c->out_tail = NULL;
        c->out_bytes -= o->len;
        rc = write_one(c, o);
        free(o);
    }
    if (rc == 0 && c->out_head && released(c->srv, c->out_head))
        lws_callback_on_writable(c->wsi);
    return rc;
}

void vtd_server_flush(vtd_server *srv)
{
    size_t ops = vtd_store_batch_ops(srv->store);
    if (ops > 0) {
        uint64_t t0 = vtd_mono_ns();
        vt_err err = vtd_store_flush(srv->store);
        vtd_metrics_store_batch(srv->metrics, ops, (double)(vtd_mono_ns() - t0) / 1e9);
        if (err != VT_OK) {
            /* Nothing of the batch happened: whoever was to hear of it
             * loses the connection instead and retries (WIRE-34). */
            vtd_log(VTD_LOG_ERROR, "store commit failed; closing affected connections",
                    "ops=%zu err=%s", ops, vt_strerror(err));
            srv->store_failed = true;
            uint64_t failed = srv->batch_seq;
            for (vt_srv_conn *c = srv->dirty; c; c = c->dirty_next) {
                vtd_out **p = &c->out_head;
                c->out_tail = NULL;
                while (*p) {
                    if ((*p)->batch == failed) {
                        vtd_out *dead = *p;
                        *p = dead->next;
                        c->out_bytes -= dead->len;
                        free(dead);
                    } else {
                        c->out_tail = *p;
                        p = &(*p)->next;
                    }
                }
                c->close_queued = false;
                queue_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
                c->state = VT_SERVER_CONN_CLOSING;
            }
        } else {
            srv->store_failed = false;
        }
        srv->committed_batch = srv->batch_seq++;
    }
    vt_srv_conn *c = srv->dirty;
    srv->dirty = NULL;
    while (c) {
        vt_srv_conn *n = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        if (c->wsi && c->out_head)
            lws_callback_on_writable(c->wsi);
        c = n;
    }
}

/* ---- push ------------------------------------------------------------- */

static bool push_one(void *ud, const vtd_message *m)
{
    vt_srv_conn *c = ud;
    if (!c->drained && m->seq > c->drain_until) {
        /* DELIV-45: the QueueDrainedEvent goes first */
        c->drain_boundary = true;
        return false;
    }
    Ventra__V1__MessageEvent me = VENTRA__V1__MESSAGE_EVENT__INIT;
    Ventra__V1__Event ev = VENTRA__V1__EVENT__INIT;
    me.seq = m->seq;
    me.sender = (char *)m->sender;
    me.sender_device = m->sender_device;
    me.message_id.data = (uint8_t *)m->message_id;
    me.message_id.len = VTD_MESSAGE_ID_LEN;
    me.type = (Ventra__V1__EnvelopeType)m->type;
    me.content.data = (uint8_t *)m->content;
    me.content.len = m->content_len;
    me.server_time_ms = m->server_time_ms;
    me.group_id.data = (uint8_t *)m->group_id;
    me.group_id.len = m->group_id_len;
    me.recipient = (char *)m->recipient;
    ev.body_case = VENTRA__V1__EVENT__BODY_MESSAGE;
    ev.message = &me;
    vtd_conn_emit_event(c, &ev);
    c->push_cursor = m->seq;
    c->window[c->window_n++] = m->seq;
    if (!c->drained)
        c->drain_count++;
    vtd_metrics_messages_delivered(c->srv->metrics, 1);
    return c->window_n < VT_PUSH_WINDOW;
}

void vtd_conn_pump(vt_srv_conn *c)
{
    vtd_server *srv = c->srv;
    /* bound to a device (start_drain runs before the state is DRAINING) */
    if (!c->authed || c->close_queued || c->state == VT_SERVER_CONN_CLOSING ||
        c->state == VT_SERVER_CONN_CLOSED)
        return;
    uint64_t min_ms = 0, now = vtd_now_ms();
    if (now > VT_QUEUE_RETENTION_S * 1000) /* DELIV-61: never push expired */
        min_ms = now - VT_QUEUE_RETENTION_S * 1000;
    bool exhausted = false;
    c->drain_boundary = false;
    while (c->window_n < VT_PUSH_WINDOW && !c->close_queued) {
        size_t n = 0;
        size_t room = VT_PUSH_WINDOW - c->window_n;
        vt_err err = vtd_store_queue_read(srv->store, c->acct, c->device_id,
                                          c->push_cursor, min_ms, room, push_one, c, &n);
        if (err != VT_OK) {
            vtd_log(VTD_LOG_ERROR, "queue read failed", "err=%s", vt_strerror(err));
            return;
        }
        if (c->drain_boundary)
            break;
        if (n < room) {
            exhausted = true;
            break;
        }
    }
    /* The drain set is pushed, or what is left of it was acked unpushed;
     * act_send_queue_drained pumps again for what follows. */
    if (!c->drained &&
        (c->drain_boundary || exhausted || c->push_cursor >= c->drain_until))
        vtd_conn_fire(c, VT_SERVER_CONN_EV_DRAIN_DONE);
}

/* ---- timers ----------------------------------------------------------- */

void vtd_conn_tick(vt_srv_conn *c, uint64_t now_ms)
{
    const vtd_config *cfg = &c->srv->cfg;
    switch (c->state) {
    case VT_SERVER_CONN_AWAITING_AUTH:
        if (now_ms - c->opened_ms >= (uint64_t)cfg->auth_timeout_s * 1000) /* WIRE-13 */
            vtd_conn_fire(c, VT_SERVER_CONN_EV_AUTH_TIMEOUT);
        break;
    case VT_SERVER_CONN_DRAINING:
    case VT_SERVER_CONN_LIVE: {
        uint64_t quiet = now_ms - c->last_rx_ms;
        uint64_t ping_ms = (uint64_t)cfg->ping_interval_s * 1000;
        if (ping_ms >= (uint64_t)cfg->idle_timeout_s * 1000)
            ping_ms = (uint64_t)cfg->idle_timeout_s * 1000 / 3;
        if (quiet >= (uint64_t)cfg->idle_timeout_s * 1000) { /* WIRE-12 */
            vtd_conn_fire(c, VT_SERVER_CONN_EV_IDLE_TIMEOUT);
        } else if (quiet >= ping_ms && now_ms - c->last_tx_ms >= ping_ms &&
                   !c->close_queued) {
            /* our own ping: a client that only pings us still pongs ours */
            vtd_out *o = calloc(1, sizeof *o + LWS_PRE + 8);
            if (o) {
                vtd_log(VTD_LOG_DEBUG, "ping", "peer=%s quiet_ms=%llu", c->peer,
                        (unsigned long long)quiet);
                o->ping = true;
                c->last_tx_ms = now_ms;
                enqueue(c, o);
            }
        }
        break;
    }
    case VT_SERVER_CONN_CLOSING:
        if (c->wsi && now_ms - c->close_sent_ms >= 5000) {
            struct lws *wsi = c->wsi;
            vtd_conn_fire(c, VT_SERVER_CONN_EV_CLOSE_TIMEOUT);
            lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
        break;
    default:
        break;
    }
}
