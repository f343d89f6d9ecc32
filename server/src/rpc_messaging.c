/* Handlers of service Messaging: Send and Ack (spec/delivery.md sections
 * 2 to 7). A stored send is durable for every destination device before
 * its response leaves (DELIV-2): the copies and the idempotency record go
 * into one store operation, all or nothing (DELIV-3), and the response
 * waits for the batch flush. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"

static bool envelopes_ok(Ventra__V1__OutgoingEnvelope *const *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i]->device_id == 0 || e[i]->content.len == 0 ||
            (e[i]->type != VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY &&
             e[i]->type != VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE))
            return false;
        for (size_t j = 0; j < i; j++)
            if (e[j]->device_id == e[i]->device_id)
                return false;
    }
    return true;
}

static bool names_device(Ventra__V1__OutgoingEnvelope *const *e, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (e[i]->device_id == id)
            return true;
    return false;
}

/* DELIV-30: compares a list with the devices it must name exactly. */
typedef struct stale_entry {
    Ventra__V1__StaleDevices msg;
    uint32_t missing[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    uint32_t extra[VT_MAX_ENVELOPES_TO_RECIPIENT + 1];
} stale_entry;

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool diff_list(stale_entry *s, const char *username, const uint32_t *required,
                      size_t n_req, Ventra__V1__OutgoingEnvelope *const *e, size_t n)
{
    ventra__v1__stale_devices__init(&s->msg);
    size_t nm = 0, nx = 0;
    for (size_t i = 0; i < n_req; i++)
        if (!names_device(e, n, required[i]))
            s->missing[nm++] = required[i];
    for (size_t i = 0; i < n; i++) {
        bool req = false;
        for (size_t j = 0; j < n_req && !req; j++)
            req = required[j] == e[i]->device_id;
        if (!req)
            s->extra[nx++] = e[i]->device_id;
    }
    qsort(s->missing, nm, sizeof s->missing[0], cmp_u32);
    qsort(s->extra, nx, sizeof s->extra[0], cmp_u32);
    s->msg.username = (char *)username;
    s->msg.missing = s->missing;
    s->msg.n_missing = nm;
    s->msg.extra = s->extra;
    s->msg.n_extra = nx;
    return nm == 0 && nx == 0;
}

/* The active device ids of |acct| other than |except| (0: none). */
static vt_err active_ids(vtd_store *st, vtd_account_id acct, uint32_t except,
                         uint32_t *ids, size_t *n)
{
    vtd_device devs[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    size_t nd = 0;
    vt_err err = vtd_active_devices(st, acct, devs, &nd);
    *n = 0;
    for (size_t i = 0; err == VT_OK && i < nd; i++)
        if (devs[i].device_id != except)
            ids[(*n)++] = devs[i].device_id;
    return err;
}

static bool is_member(const vtd_group *g, vtd_account_id acct)
{
    for (size_t i = 0; i < g->member_count; i++)
        if (g->members[i].acct == acct)
            return true;
    return false;
}

static void reply_send(vt_srv_call *call, uint64_t time_ms, bool duplicate)
{
    Ventra__V1__SendResponse r = VENTRA__V1__SEND_RESPONSE__INIT;
    r.server_time_ms = time_ms;
    r.duplicate = duplicate;
    vt_srv_reply_send(call, &r);
}

/* DELIV-80: an ephemeral copy goes to a connected device, never stored. */
static void push_ephemeral(vtd_server *srv, vt_srv_conn *from,
                           const Ventra__V1__SendRequest *req, vtd_account_id acct,
                           const Ventra__V1__OutgoingEnvelope *e, uint64_t now_ms)
{
    vt_srv_conn *to = vtd_hub_get(srv, acct, e->device_id);
    if (!to)
        return;
    Ventra__V1__MessageEvent me = VENTRA__V1__MESSAGE_EVENT__INIT;
    Ventra__V1__Event ev = VENTRA__V1__EVENT__INIT;
    me.sender = from->username;
    me.sender_device = from->device_id;
    me.message_id = req->message_id;
    me.type = e->type;
    me.content = e->content;
    me.server_time_ms = now_ms;
    me.group_id = req->group_id;
    me.recipient = req->recipient;
    me.ephemeral = true;
    ev.body_case = VENTRA__V1__EVENT__BODY_MESSAGE;
    ev.message = &me;
    vtd_conn_emit_event(to, &ev);
}

static vt_err queue_copies(vtd_server *srv, vt_srv_conn *from,
                           const Ventra__V1__SendRequest *req, vtd_account_id acct,
                           Ventra__V1__OutgoingEnvelope *const *e, size_t n,
                           uint64_t now_ms)
{
    vtd_message m;
    memset(&m, 0, sizeof m);
    m.sender = from->username;
    m.sender_device = from->device_id;
    memcpy(m.message_id, req->message_id.data, VTD_MESSAGE_ID_LEN);
    m.server_time_ms = now_ms;
    m.group_id_len = req->group_id.len;
    if (req->group_id.len)
        memcpy(m.group_id, req->group_id.data, VTD_GROUP_ID_LEN);
    m.recipient = req->recipient;
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = 0;
        m.type = (uint32_t)e[i]->type;
        m.content = e[i]->content.data;
        m.content_len = e[i]->content.len;
        vt_err err = vtd_store_queue_push(srv->store, acct, e[i]->device_id, &m, &seq);
        if (err != VT_OK)
            return err;
    }
    return VT_OK;
}

static void pump_devices(vtd_server *srv, vtd_account_id acct,
                         Ventra__V1__OutgoingEnvelope *const *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vt_srv_conn *to = vtd_hub_get(srv, acct, e[i]->device_id);
        if (to)
            vtd_conn_pump(to);
    }
}

static vt_err queue_full(vtd_store *st, vtd_account_id acct,
                         Ventra__V1__OutgoingEnvelope *const *e, size_t n, bool *full)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t depth = 0;
        vt_err err = vtd_store_queue_depth(st, acct, e[i]->device_id, &depth);
        if (err != VT_OK)
            return err;
        if (depth >= VT_MAX_QUEUE_DEPTH) { /* DELIV-60 */
            *full = true;
            return VT_OK;
        }
    }
    *full = false;
    return VT_OK;
}

void vt_srv_handle_send(vt_srv_conn *conn, vt_srv_call *call,
                        const Ventra__V1__SendRequest *req)
{
    vtd_server *srv = conn->srv;
    vtd_store *st = srv->store;
    const char *recipient = req->recipient ? req->recipient : "";
    bool to_self_account = strcmp(recipient, conn->username) == 0;
    bool grouped = req->group_id.len != 0;

    /* spec/delivery.md 3.1, checks 1 to 7 */
    if (!vtd_bytes_len(&req->message_id, VT_MESSAGE_ID_LEN) ||
        !vtd_username_ok(recipient) ||
        (grouped && !vtd_bytes_len(&req->group_id, VT_GROUP_ID_LEN)) ||
        !envelopes_ok(req->to_recipient, req->n_to_recipient) ||
        !envelopes_ok(req->to_self, req->n_to_self) ||
        names_device(req->to_self, req->n_to_self, conn->device_id) ||
        (to_self_account &&
         names_device(req->to_recipient, req->n_to_recipient, conn->device_id)) ||
        ((to_self_account || grouped) && req->n_to_self > 0)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "send request is not well-formed");
        return;
    }
    /* check 8: idempotency (DELIV-21, DELIV-22) */
    uint64_t now_ms = vtd_now_ms();
    uint64_t window_start =
        now_ms > VT_DEDUP_WINDOW_S * 1000 ? now_ms - VT_DEDUP_WINDOW_S * 1000 : 0;
    vtd_dedup rec;
    bool found = false;
    vt_err err = vtd_store_dedup_get(st, conn->acct, req->message_id.data, window_start,
                                     &rec, &found);
    if (err != VT_OK) {
        vtd_reply_internal(call, "dedup_get", err);
        return;
    }
    if (found) {
        bool same = strcmp(rec.recipient, recipient) == 0 &&
                    rec.group_id_len == req->group_id.len &&
                    (rec.group_id_len == 0 ||
                     memcmp(rec.group_id, req->group_id.data, VT_GROUP_ID_LEN) == 0) &&
                    rec.ephemeral == (bool)req->ephemeral;
        if (same)
            reply_send(call, rec.accepted_ms, true);
        else
            vtd_reply_error(call, VT_ERR_CONFLICT, "message_id used for another message");
        return;
    }
    /* check 9 */
    vtd_account_id racct = 0;
    err = vtd_store_account_find(st, recipient, &racct);
    if (err == VT_ERR_NOT_FOUND) {
        vtd_reply_error(call, VT_ERR_NOT_FOUND, "no such recipient");
        return;
    }
    if (err != VT_OK) {
        vtd_reply_internal(call, "account_find", err);
        return;
    }
    /* checks 10, 11 (DELIV-110) */
    if (grouped) {
        static vtd_group g;
        err = vtd_store_group_get(st, req->group_id.data, &g);
        if (err == VT_ERR_NOT_FOUND || (err == VT_OK && !is_member(&g, conn->acct))) {
            vtd_reply_error(call, VT_ERR_NOT_FOUND, "no such group");
            return;
        }
        if (err != VT_OK) {
            vtd_reply_internal(call, "group_get", err);
            return;
        }
        if (!is_member(&g, racct)) {
            vtd_reply_error(call, VT_ERR_PERMISSION_DENIED, "recipient is not a member");
            return;
        }
    }
    /* check 12 (DELIV-30): the recipient's list first, then the sender's */
    uint32_t req_r[VT_MAX_DEVICES_PER_ACCOUNT + 1], req_s[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    size_t n_r = 0, n_s = 0;
    err = active_ids(st, racct, to_self_account ? conn->device_id : 0, req_r, &n_r);
    if (err == VT_OK && !to_self_account && !grouped)
        err = active_ids(st, conn->acct, conn->device_id, req_s, &n_s);
    if (err != VT_OK) {
        vtd_reply_internal(call, "device lists", err);
        return;
    }
    stale_entry se[2];
    Ventra__V1__StaleDevices *stale[2];
    size_t n_stale = 0;
    if (!diff_list(&se[n_stale], recipient, req_r, n_r, req->to_recipient,
                   req->n_to_recipient))
        stale[n_stale] = &se[n_stale].msg, n_stale++;
    if (!diff_list(&se[n_stale], conn->username, req_s, n_s, req->to_self,
                   req->n_to_self))
        stale[n_stale] = &se[n_stale].msg, n_stale++;
    if (n_stale > 0) {
        Ventra__V1__Error e = VENTRA__V1__ERROR__INIT;
        Ventra__V1__Response resp = VENTRA__V1__RESPONSE__INIT;
        e.code = VENTRA__V1__ERROR_CODE__ERROR_STALE_DEVICES;
        e.message = (char *)"device lists are stale";
        e.stale = stale;
        e.n_stale = n_stale;
        resp.error = &e;
        vt_srv_call_reply(call, &resp);
        return;
    }
    if (req->ephemeral) { /* DELIV-80: pushed, never stored or recorded */
        for (size_t i = 0; i < req->n_to_recipient; i++)
            push_ephemeral(srv, conn, req, racct, req->to_recipient[i], now_ms);
        for (size_t i = 0; i < req->n_to_self; i++)
            push_ephemeral(srv, conn, req, conn->acct, req->to_self[i], now_ms);
        reply_send(call, now_ms, false);
        return;
    }
    /* check 13 */
    bool full = false;
    err = queue_full(st, racct, req->to_recipient, req->n_to_recipient, &full);
    if (err == VT_OK && !full)
        err = queue_full(st, conn->acct, req->to_self, req->n_to_self, &full);
    if (err != VT_OK) {
        vtd_reply_internal(call, "queue_depth", err);
        return;
    }
    if (full) {
        vtd_reply_error(call, VT_ERR_QUEUE_FULL, "a destination queue is full");
        return;
    }
    if (!vtd_op_begin(call))
        return;
    err = queue_copies(srv, conn, req, racct, req->to_recipient, req->n_to_recipient,
                       now_ms);
    if (err == VT_OK)
        err = queue_copies(srv, conn, req, conn->acct, req->to_self, req->n_to_self,
                           now_ms);
    if (err == VT_OK) {
        memset(&rec, 0, sizeof rec);
        snprintf(rec.recipient, sizeof rec.recipient, "%s", recipient);
        rec.group_id_len = req->group_id.len;
        if (grouped)
            memcpy(rec.group_id, req->group_id.data, VT_GROUP_ID_LEN);
        rec.accepted_ms = now_ms;
        err = vtd_store_dedup_put(st, conn->acct, req->message_id.data, &rec);
    }
    if (!vtd_op_end(call, err == VT_OK))
        return;
    if (err != VT_OK) {
        vtd_reply_internal(call, "send", err);
        return;
    }
    vtd_metrics_messages_stored(srv->metrics, req->n_to_recipient + req->n_to_self);
    reply_send(call, now_ms, false);
    /* DELIV-44: online devices get it now (held until the flush) */
    pump_devices(srv, racct, req->to_recipient, req->n_to_recipient);
    pump_devices(srv, conn->acct, req->to_self, req->n_to_self);
}

void vt_srv_handle_ack(vt_srv_conn *conn, vt_srv_call *call,
                       const Ventra__V1__AckRequest *req)
{
    vtd_server *srv = conn->srv;
    if (req->n_seqs == 0) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "no seqs");
        return;
    }
    for (size_t i = 0; i < req->n_seqs; i++)
        if (req->seqs[i] == 0) { /* DELIV-82: ephemeral messages are not acked */
            vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "seq 0");
            return;
        }
    if (!vtd_op_begin(call))
        return;
    uint32_t deleted = 0;
    vt_err err = vtd_store_queue_delete(srv->store, conn->acct, conn->device_id,
                                        req->seqs, req->n_seqs, &deleted);
    if (!vtd_op_end(call, err == VT_OK))
        return;
    if (err != VT_OK) {
        vtd_reply_internal(call, "ack", err);
        return;
    }
    vtd_metrics_messages_acked(srv->metrics, deleted);
    Ventra__V1__AckResponse r = VENTRA__V1__ACK_RESPONSE__INIT;
    r.deleted = deleted;
    vt_srv_reply_ack(call, &r);
    /* DELIV-52: acked messages leave the window, which moves on */
    for (size_t i = 0; i < req->n_seqs; i++)
        for (unsigned w = 0; w < conn->window_n; w++)
            if (conn->window[w] == req->seqs[i]) {
                conn->window[w] = conn->window[--conn->window_n];
                break;
            }
    vtd_conn_pump(conn);
}
