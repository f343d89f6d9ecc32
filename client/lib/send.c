/* The outbox and the life of an outgoing message, driven by the generated
 * outgoing_message machine: one row per message in the store (it survives
 * restarts), the same message id on every attempt (DELIV-20), Sesame
 * fan-out to the recipient's and our own other devices (DELIV 3.2), the one
 * stale-device retry (DELIV-31, SM-302), held messages (SM-303, SM-306),
 * the dedup window (SM-305), receipts (SM-300), the user's retry and
 * ephemeral typing (DELIV-85). Implements spec/state/outgoing_message.md
 * and spec/delivery.md sections 3 and 7. */
#include <pb_encode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "ventra/crypto.h"
#include "ventra/frame.h"
#include "ventra/session.h"
#include "ventra/v1/e2e.pb.h"
#include "vt_constants.h"
#include "vt_sm_outgoing_message.h"

vt_err vc_encode_content(const ventra_v1_Content *ct, uint8_t **out, size_t *len)
{
    size_t cap = sizeof(ventra_v1_Content) + 64;
    uint8_t *buf = malloc(cap);
    vt_err err;

    if (buf == NULL)
        return VT_ERR_NO_MEMORY;
    err = vt_msg_encode_nanopb(ventra_v1_Content_fields, ct, buf, cap, len);
    if (err != VT_OK) {
        free(buf);
        return err;
    }
    *out = buf;
    return VT_OK;
}

/* A DataMessage (Content field 1) is shown to the user; receipts and group
 * updates ride the outbox without status callbacks. */
static bool is_data(const vc_outbox_row *r)
{
    return r->content_len > 0 && r->content[0] == 0x0a;
}

/* The user sees one status per message: a group message's is that of its
 * send to our own account (vt_client_send_group_text). */
static bool shown(const vt_client *c, const vc_outbox_row *r)
{
    return is_data(r) && (!r->has_group || strcmp(r->recipient, c->username) == 0);
}

vt_err vc_outbox_queue(vt_client *c, const char *to, const uint8_t *group_id,
                       const uint8_t *content, size_t len, uint8_t mid_out[16])
{
    vc_outbox_row row;
    vt_err err;

    memset(&row, 0, sizeof row);
    /* DELIV-20: drawn once, reused on every attempt */
    if ((err = vt_random_bytes(row.message_id, 16)) != VT_OK)
        return err;
    snprintf(row.recipient, sizeof row.recipient, "%s", to);
    if (group_id) {
        memcpy(row.group_id, group_id, 16);
        row.has_group = true;
    }
    snprintf(row.state, sizeof row.state, "QUEUED");
    row.content = (uint8_t *)content;
    row.content_len = len;
    err = vc_store_outbox_add(c->store, &row);
    if (err == VT_OK && mid_out)
        memcpy(mid_out, row.message_id, 16);
    c->dirty_outbox = true;
    c->next_outbox_ms = 0;
    return err;
}

/* ---- the machine's context ---------------------------------------------------- */

#define NO_EVENT (-1)

typedef struct vc_octx {
    vt_client *c;
    vc_outbox_row row;
    bool removed;
    int next;          /* the event the last action produced */
    bool held_pending; /* IDENTITY_CHANGED came while the request ran */
    int deferred;      /* USER_ACCEPTED_KEY held back meanwhile (SM-306) */
    int receipt;       /* a receipt that came meanwhile */
    vt_err err;
    bool quiet; /* a group member who left: dropped silently */
    uint64_t server_ms;
    uint32_t retry_after_ms;
    ventra_v1_Error stale; /* the STALE_DEVICES detail */
    vc_envelope rec[VT_MAX_ENVELOPES_TO_RECIPIENT];
    size_t n_rec;
    vc_envelope self[VT_MAX_ENVELOPES_TO_SELF];
    size_t n_self;
    uint64_t deadline;
} octx;

static vt_outgoing_message_state state_of(const char *name)
{
    for (int i = 0; i < VT_OUTGOING_MESSAGE_STATE_COUNT; i++)
        if (strcmp(name, vt_outgoing_message_state_name((vt_outgoing_message_state)i)) ==
            0)
            return (vt_outgoing_message_state)i;
    return VT_OUTGOING_MESSAGE_QUEUED;
}

static void status(octx *o, vt_client_msg_status st, vt_err why)
{
    if (shown(o->c, &o->row) && o->c->cb.status)
        o->c->cb.status(o->c->ud, o->row.message_id, st, why);
}

static void set_history(octx *o, const char *st)
{
    if (shown(o->c, &o->row))
        VC_IGNORE(vc_store_set_history_status(o->c->store, o->c->username,
                                              o->row.message_id, st));
}

static void free_envelopes(octx *o)
{
    for (size_t i = 0; i < o->n_rec; i++)
        free(o->rec[i].content);
    for (size_t i = 0; i < o->n_self; i++)
        free(o->self[i].content);
    o->n_rec = o->n_self = 0;
}

static bool g_retried_once(void *ctx)
{
    return ((octx *)ctx)->row.stale_retried;
}

/* SM-305: DEDUP_WINDOW_S since the first attempt (DELIV-24). */
static bool g_expired(void *ctx)
{
    octx *o = ctx;
    return o->row.first_attempt_ms != 0 &&
           vc_now_ms() - o->row.first_attempt_ms >= VT_DEDUP_WINDOW_S * 1000;
}

static bool g_within_dedup_window(void *ctx)
{
    octx *o = ctx;
    return o->row.first_attempt_ms == 0 ||
           vc_now_ms() - o->row.first_attempt_ms < VT_DEDUP_WINDOW_S * 1000;
}

static int event_for_error(vt_err err)
{
    switch (err) {
    case VT_ERR_PERMISSION_DENIED:
        return VT_OUTGOING_MESSAGE_EV_IDENTITY_CHANGED;
    case VT_ERR_UNAVAILABLE:
    case VT_ERR_INTERNAL:
    case VT_ERR_RATE_LIMITED:
    case VT_ERR_QUEUE_FULL:
    case VT_ERR_NO_PREKEYS:
        return VT_OUTGOING_MESSAGE_EV_TRANSPORT_ERROR;
    default:
        return VT_OUTGOING_MESSAGE_EV_PERMANENT_ERROR;
    }
}

static vt_err encrypt_list(octx *o, const char *user, uint8_t *pt, size_t pt_len,
                           vc_envelope *env, size_t cap, size_t *n)
{
    uint32_t ids[16];
    bool changed = false;
    size_t k = vc_active_devices(o->c, user, ids, 16, &changed);
    vt_err err = VT_OK;

    if (changed)
        return VT_ERR_PERMISSION_DENIED;
    for (size_t i = 0; i < k && err == VT_OK; i++) {
        if (*n >= cap)
            return VT_ERR_LIMIT_EXCEEDED;
        err = vc_session_encrypt(o->c, user, ids[i], pt, pt_len, &env[*n]);
        if (err == VT_OK)
            (*n)++;
    }
    return err;
}

static void a_encrypt_for_devices(void *ctx)
{
    octx *o = ctx;
    vt_client *c = o->c;
    const char *to = o->row.recipient;
    bool to_me = strcmp(to, c->username) == 0;
    bool with_self = !to_me && !o->row.has_group; /* DELIV-10 check 7 */
    size_t cap = o->row.content_len + 2 * VT_PADDING_BLOCK, pt_len = 0;
    uint8_t *pt = malloc(cap);
    vt_err err;

    free_envelopes(o);
    o->next = NO_EVENT;
    if (pt == NULL) {
        o->err = VT_ERR_NO_MEMORY;
        o->next = VT_OUTGOING_MESSAGE_EV_TRANSPORT_ERROR;
        return;
    }
    err = vc_sessions_prepare(c, to, NULL, 0, o->deadline);
    if (err == VT_OK && with_self)
        err = vc_sessions_prepare(c, c->username, NULL, 0, o->deadline);
    if (err == VT_OK) /* SEC-3 */
        err = vt_content_pad(pt, cap, &pt_len, o->row.content, o->row.content_len);
    if (err == VT_OK)
        err = vc_store_begin(c->store);
    if (err == VT_OK) {
        err = encrypt_list(o, to, pt, pt_len, o->rec, VT_MAX_ENVELOPES_TO_RECIPIENT,
                           &o->n_rec);
        if (err == VT_OK && with_self)
            err = encrypt_list(o, c->username, pt, pt_len, o->self,
                               VT_MAX_ENVELOPES_TO_SELF, &o->n_self);
        /* CRYPTO-93: the advanced sessions are durable before sending */
        if (err == VT_OK)
            err = vc_store_commit(c->store);
        else
            vc_store_rollback(c->store);
    }
    vt_wipe(pt, cap);
    free(pt);
    if (err != VT_OK) {
        free_envelopes(o);
        o->err = err;
        o->next = event_for_error(err);
    }
}

struct env_list {
    const vc_envelope *env;
    size_t n;
};

static bool encode_envs(pb_ostream_t *stream, const pb_field_t *field, void *const *arg)
{
    const struct env_list *l = *arg;

    for (size_t i = 0; i < l->n; i++) {
        ventra_v1_OutgoingEnvelope e;
        memset(&e, 0, sizeof e);
        e.device_id = l->env[i].device_id;
        e.type = (ventra_v1_EnvelopeType)l->env[i].type;
        if (l->env[i].len > sizeof e.content.bytes)
            return false;
        memcpy(e.content.bytes, l->env[i].content, l->env[i].len);
        e.content.size = (pb_size_t)l->env[i].len;
        if (!pb_encode_tag_for_field(stream, field) ||
            !pb_encode_submessage(stream, ventra_v1_OutgoingEnvelope_fields, &e))
            return false;
    }
    return true;
}

static vt_err do_send(vt_client *c, const char *to, const uint8_t mid[16],
                      const uint8_t *gid, bool ephemeral, const vc_envelope *rec,
                      size_t n_rec, const vc_envelope *self, size_t n_self,
                      uint64_t deadline, ventra_v1_Frame **resp)
{
    ventra_v1_Request req;
    struct env_list lr = {rec, n_rec}, ls = {self, n_self};

    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_send_tag;
    memcpy(req.body.send.message_id.bytes, mid, 16);
    req.body.send.message_id.size = 16;
    snprintf(req.body.send.recipient, sizeof req.body.send.recipient, "%s", to);
    if (gid) {
        memcpy(req.body.send.group_id.bytes, gid, 16);
        req.body.send.group_id.size = 16;
    }
    req.body.send.ephemeral = ephemeral;
    req.body.send.to_recipient.funcs.encode = encode_envs;
    req.body.send.to_recipient.arg = &lr;
    req.body.send.to_self.funcs.encode = encode_envs;
    req.body.send.to_self.arg = &ls;
    return vc_rpc_call(c, &req, resp, deadline);
}

/* Reads the group again (GetGroup); false when the recipient left it. */
static bool still_member(octx *o)
{
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    bool member = true;
    vt_err err;

    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_get_group_tag;
    memcpy(req.body.get_group.group_id.bytes, o->row.group_id, 16);
    req.body.get_group.group_id.size = 16;
    err = vc_rpc_call(o->c, &req, &resp, o->deadline);
    if (err == VT_OK && resp->kind.response.body.get_group.has_group) {
        const ventra_v1_GroupInfo *g = &resp->kind.response.body.get_group.group;
        const char *m[64], *a[64];
        char *name = NULL, **old = NULL;
        size_t n = 0;
        member = false;
        for (size_t i = 0; i < g->members_count; i++) {
            m[i] = g->members[i];
            member |= strcmp(g->members[i], o->row.recipient) == 0;
        }
        for (size_t i = 0; i < g->admins_count; i++)
            a[i] = g->admins[i];
        if (vc_store_get_group(o->c->store, o->row.group_id, &name, &old, &n) == VT_OK) {
            VC_IGNORE(vc_store_put_group(o->c->store, o->row.group_id, name ? name : "",
                                         m, g->members_count, a, g->admins_count));
            free(name);
            vc_store_free_names(old, n);
        }
    } else if (err == VT_ERR_NOT_FOUND) {
        member = false; /* we are not in the group any more */
    }
    free(resp);
    return member;
}

static void a_send_request(void *ctx)
{
    octx *o = ctx;
    ventra_v1_Frame *resp = NULL;
    vt_err err;

    if (o->next != NO_EVENT)
        return; /* encryption failed: that event comes next */
    if (o->row.first_attempt_ms == 0)
        o->row.first_attempt_ms = vc_now_ms();
    o->row.attempts++;
    snprintf(o->row.state, sizeof o->row.state, "SENDING");
    VC_IGNORE(vc_store_outbox_update(o->c->store, &o->row));
    err = do_send(o->c, o->row.recipient, o->row.message_id,
                  o->row.has_group ? o->row.group_id : NULL, false, o->rec, o->n_rec,
                  o->self, o->n_self, o->deadline, &resp);
    free_envelopes(o);
    o->err = err;
    if (err == VT_OK) {
        const ventra_v1_SendResponse *s = &resp->kind.response.body.send;
        o->server_ms = s->server_time_ms;
        /* SM-301: duplicate true is the same success */
        o->next = s->duplicate ? VT_OUTGOING_MESSAGE_EV_SEND_DUPLICATE
                               : VT_OUTGOING_MESSAGE_EV_SEND_OK;
    } else if (err == VT_ERR_STALE_DEVICES && resp) {
        o->stale = resp->kind.response.error;
        o->next = VT_OUTGOING_MESSAGE_EV_STALE_DEVICES;
    } else {
        if (resp && resp->kind.response.has_error)
            o->retry_after_ms = resp->kind.response.error.retry_after_ms;
        if ((err == VT_ERR_PERMISSION_DENIED || err == VT_ERR_NOT_FOUND) &&
            o->row.has_group)
            o->quiet = !still_member(o); /* DELIV-111 */
        if (err == VT_ERR_NOT_FOUND) /* the account went: a new one may take its name */
            vc_devices_unlist(o->c, o->row.recipient);
        o->next = err == VT_ERR_PERMISSION_DENIED ? VT_OUTGOING_MESSAGE_EV_PERMANENT_ERROR
                                                  : event_for_error(err);
    }
    free(resp);
}

static void a_notify_held(void *ctx)
{
    octx *o = ctx;
    if (o->c->cb.status == NULL)
        vc_notice(o->c, "a message to %s is held: an identity key changed",
                  o->row.recipient);
    set_history(o, "HELD");
    status(o, VT_MSG_HELD, VT_OK);
}

static void a_remove_from_outbox(void *ctx)
{
    octx *o = ctx;
    VC_IGNORE(vc_store_outbox_remove(o->c->store, o->row.message_id));
    o->removed = true;
}

static void a_report_failure(void *ctx)
{
    octx *o = ctx;
    if (o->quiet)
        return; /* the member left the group: nothing to tell */
    if (is_data(&o->row) && o->c->cb.status == NULL)
        vc_notice(o->c, "a message to %s was not sent: %s", o->row.recipient,
                  vt_strerror(o->err));
    set_history(o, "FAILED");
    status(o, VT_MSG_FAILED, o->err != VT_OK ? o->err : VT_ERR_INTERNAL);
}

static void a_mark_sent(void *ctx)
{
    octx *o = ctx;
    set_history(o, "SENT");
    status(o, VT_MSG_SENT, VT_OK);
}

static void a_mark_delivered(void *ctx)
{
    octx *o = ctx;
    set_history(o, "DELIVERED");
    status(o, VT_MSG_DELIVERED, VT_OK);
}

static void a_mark_read(void *ctx)
{
    octx *o = ctx;
    set_history(o, "READ");
    status(o, VT_MSG_READ, VT_OK);
}

static void a_note_retry(void *ctx)
{
    ((octx *)ctx)->row.stale_retried = true;
}
static void a_reset_retry(void *ctx)
{
    ((octx *)ctx)->row.stale_retried = false;
}

static void a_fix_device_lists(void *ctx)
{
    octx *o = ctx;
    vt_err err = VT_OK;

    /* DELIV-31: drop the extra devices, sessions with the missing ones; the
     * list is read again and its keys compared with the trusted ones */
    for (size_t i = 0; i < o->stale.stale_count && err == VT_OK; i++) {
        const ventra_v1_StaleDevices *sd = &o->stale.stale[i];
        for (size_t j = 0; j < sd->extra_count; j++)
            vc_drop_device(o->c, sd->username, sd->extra[j]);
        err = vc_devices_refresh(o->c, sd->username, o->deadline);
        if (err == VT_OK)
            err = vc_sessions_prepare(o->c, sd->username, sd->missing, sd->missing_count,
                                      o->deadline);
    }
    o->err = err;
    o->next = err == VT_OK ? VT_OUTGOING_MESSAGE_EV_DEVICES_FIXED : event_for_error(err);
}

static void a_schedule_retry(void *ctx)
{
    octx *o = ctx;
    uint64_t bound = VT_RECONNECT_BASE_MS;
    uint32_t r = 0;

    /* SM-2's backoff, or the server's retry_after_ms */
    for (uint32_t i = 1; i < o->row.attempts && bound < VT_RECONNECT_MAX_MS; i++)
        bound *= 2;
    if (bound > VT_RECONNECT_MAX_MS)
        bound = VT_RECONNECT_MAX_MS;
    if (vt_random_bytes((uint8_t *)&r, sizeof r) != VT_OK)
        r = 0;
    o->row.next_attempt_ms =
        vc_now_ms() + (o->retry_after_ms ? o->retry_after_ms : (uint64_t)r % (bound + 1));
    set_history(o, "QUEUED");
}

static void a_add_to_outbox(void *ctx)
{
    octx *o = ctx;
    VC_IGNORE(vc_store_outbox_add(o->c->store, &o->row));
    o->removed = false;
}

static const vt_outgoing_message_ops out_ops = {
    .guard_expired = g_expired,
    .guard_retried_once = g_retried_once,
    .guard_within_dedup_window = g_within_dedup_window,
    .action_encrypt_for_devices = a_encrypt_for_devices,
    .action_send_request = a_send_request,
    .action_notify_held = a_notify_held,
    .action_remove_from_outbox = a_remove_from_outbox,
    .action_report_failure = a_report_failure,
    .action_mark_delivered = a_mark_delivered,
    .action_mark_read = a_mark_read,
    .action_mark_sent = a_mark_sent,
    .action_note_retry = a_note_retry,
    .action_fix_device_lists = a_fix_device_lists,
    .action_schedule_retry = a_schedule_retry,
    .action_reset_retry = a_reset_retry,
    .action_add_to_outbox = a_add_to_outbox,
};

bool vc_outbox_ops_complete(void)
{
    bool ok = true;
#define G(n) ok &= out_ops.guard_##n != NULL;
#define A(n) ok &= out_ops.action_##n != NULL;
    VT_OUTGOING_MESSAGE_GUARD_LIST(G)
    VT_OUTGOING_MESSAGE_ACTION_LIST(A)
#undef G
#undef A
    return ok;
}

static bool step(octx *o, vt_outgoing_message_state *st, int ev)
{
    o->next = NO_EVENT;
    if (!vt_outgoing_message_step(&out_ops, o, st, (vt_outgoing_message_event)ev))
        return false;
    snprintf(o->row.state, sizeof o->row.state, "%s",
             vt_outgoing_message_state_name(*st));
    return true;
}

static bool changed(vt_client *c, const char *user)
{
    uint32_t ids[16];
    bool ch = false;
    (void)vc_active_devices(c, user, ids, 16, &ch);
    return ch;
}

/* Some destination device of the message is UNTRUSTED. */
static bool dest_changed(vt_client *c, const vc_outbox_row *r)
{
    bool with_self = !r->has_group && strcmp(r->recipient, c->username) != 0;
    return changed(c, r->recipient) || (with_self && changed(c, c->username));
}

/* |username|'s devices are destinations of the message (DELIV 3.2). */
static bool affects(vt_client *c, const vc_outbox_row *r, const char *username)
{
    return strcmp(r->recipient, username) == 0 ||
           (strcmp(username, c->username) == 0 && !r->has_group);
}

static void released(octx *o)
{
    set_history(o, "QUEUED");
    status(o, VT_MSG_QUEUED, VT_OK);
    o->c->dirty_outbox = true;
}

/* SM-306: what came while the request or the fix ran, after its answer. */
static int after_answer(octx *o, vt_outgoing_message_state *st, int ev)
{
    if (o->held_pending) {
        o->held_pending = false;
        if (*st == VT_OUTGOING_MESSAGE_QUEUED || *st == VT_OUTGOING_MESSAGE_SENDING ||
            *st == VT_OUTGOING_MESSAGE_STALE_DEVICES)
            (void)step(o, st, VT_OUTGOING_MESSAGE_EV_IDENTITY_CHANGED);
    }
    if (ev == NO_EVENT && o->receipt != NO_EVENT) {
        int r = o->receipt;
        o->receipt = NO_EVENT;
        if (step(o, st, r))
            ev = o->next;
    }
    if (ev == NO_EVENT && o->deferred != NO_EVENT) {
        int d = o->deferred;
        o->deferred = NO_EVENT;
        if (*st == VT_OUTGOING_MESSAGE_HELD && !dest_changed(o->c, &o->row) &&
            step(o, st, d)) {
            if (d == VT_OUTGOING_MESSAGE_EV_USER_ACCEPTED_KEY)
                released(o);
            ev = o->next;
        }
    }
    return ev;
}

/* Fires |ev| and every event the actions produce; writes the row back.
 * False when the machine has no row for |ev|. */
static bool run(octx *o, int ev)
{
    vt_outgoing_message_state st = state_of(o->row.state);
    bool taken = step(o, &st, ev);

    for (ev = taken ? o->next : NO_EVENT;;) {
        ev = after_answer(o, &st, ev);
        if (ev == NO_EVENT || !step(o, &st, ev))
            break;
        ev = o->next;
    }
    if (!o->removed)
        VC_IGNORE(vc_store_outbox_update(o->c->store, &o->row));
    free_envelopes(o);
    return taken;
}

static octx *new_octx(vt_client *c, uint64_t deadline)
{
    octx *o = calloc(1, sizeof *o);
    if (o == NULL)
        return NULL;
    o->c = c;
    o->deadline = deadline;
    o->next = NO_EVENT;
    o->deferred = NO_EVENT;
    o->receipt = NO_EVENT;
    return o;
}

static void free_octx(octx *o)
{
    if (o == NULL)
        return;
    vc_outbox_row_clear(&o->row);
    vt_wipe(o, sizeof *o);
    free(o);
}

struct mids {
    uint8_t (*ids)[16];
    size_t n, cap;
};

static bool collect(void *ud, const vc_outbox_row *row)
{
    struct mids *m = ud;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        void *p = realloc(m->ids, cap * 16);
        if (p == NULL)
            return false;
        m->ids = p;
        m->cap = cap;
    }
    memcpy(m->ids[m->n++], row->message_id, 16);
    return true;
}

/* The message ids in the outbox, in order; NULL ids on failure. */
static struct mids outbox_ids(vt_client *c)
{
    struct mids m = {NULL, 0, 0};
    if (vc_store_outbox_each(c->store, collect, &m) != VT_OK) {
        free(m.ids);
        m.ids = NULL;
        m.n = 0;
    }
    return m;
}

static bool is_sending(const vt_client *c, const uint8_t mid[16])
{
    return c->sending && memcmp(c->sending->row.message_id, mid, 16) == 0;
}

/* One outbox row's turn: the event it takes now, or NO_EVENT. */
static int turn(const octx *o, uint64_t now)
{
    vt_outgoing_message_state st = state_of(o->row.state);

    if (st == VT_OUTGOING_MESSAGE_HELD) /* SM-306: nothing of it is outstanding now */
        return g_expired((void *)o) ? VT_OUTGOING_MESSAGE_EV_EXPIRED : NO_EVENT;
    if (o->row.next_attempt_ms > now)
        return NO_EVENT;
    return VT_OUTGOING_MESSAGE_EV_SEND_ATTEMPT; /* `expired` fails it (SM-305) */
}

vt_err vc_outbox_work(vt_client *c, uint64_t deadline_ms)
{
    struct mids m;
    char blocked[64][33];
    size_t n_blocked = 0;
    uint64_t now = vc_now_ms(), next = 0;

    if (!c->dirty_outbox && (c->next_outbox_ms == 0 || now < c->next_outbox_ms))
        return VT_OK;
    c->dirty_outbox = false;
    c->next_outbox_ms = 0;
    m = outbox_ids(c);
    for (size_t i = 0; i < m.n && c->st == VT_CLIENT_CONN_LIVE; i++) {
        octx *o = new_octx(c, deadline_ms);
        bool skip = false;
        int ev;

        if (o == NULL)
            break;
        if (vc_store_outbox_get(c->store, m.ids[i], &o->row) != VT_OK) {
            free_octx(o);
            continue;
        }
        /* SM-304: in order per recipient */
        for (size_t j = 0; j < n_blocked; j++)
            skip |= strcmp(blocked[j], o->row.recipient) == 0;
        ev = skip ? NO_EVENT : turn(o, now);
        if (ev == VT_OUTGOING_MESSAGE_EV_SEND_ATTEMPT) {
            /* SENDING or STALE_DEVICES when we stopped: its answer is lost */
            snprintf(o->row.state, sizeof o->row.state, "QUEUED");
            c->sending = o;
        }
        if (ev != NO_EVENT)
            (void)run(o, ev);
        c->sending = NULL;
        if (!o->removed) {
            skip = true;
            if (o->row.next_attempt_ms > now &&
                (next == 0 || o->row.next_attempt_ms < next))
                next = o->row.next_attempt_ms;
        }
        if (skip && n_blocked < 64)
            snprintf(blocked[n_blocked++], sizeof blocked[0], "%s", o->row.recipient);
        free_octx(o);
    }
    free(m.ids);
    c->next_outbox_ms = next;
    return VT_OK;
}

void vc_outbox_receipt(vt_client *c, const uint8_t mid[16], bool read)
{
    octx *o = new_octx(c, 0);
    int ev = read ? VT_OUTGOING_MESSAGE_EV_RECEIPT_READ
                  : VT_OUTGOING_MESSAGE_EV_RECEIPT_DELIVERED;
    vc_history_row h;

    if (o == NULL)
        return;
    memset(&h, 0, sizeof h);
    if (is_sending(c, mid)) {
        c->sending->receipt = ev; /* after its request's answer */
    } else if (vc_store_outbox_get(c->store, mid, &o->row) == VT_OK) {
        (void)run(o, ev); /* SM-300: a receipt proves it was stored */
    } else if (vc_store_get_history(c->store, c->username, mid, &h) == VT_OK &&
               h.outgoing) {
        vt_outgoing_message_state st = state_of(h.status);
        memcpy(o->row.message_id, mid, 16);
        o->row.content = (uint8_t *)"\x0a";
        o->row.content_len = 1; /* a DataMessage: status callbacks */
        o->removed = true;      /* not in the outbox */
        (void)step(o, &st, ev);
        o->row.content = NULL;
    }
    vc_history_row_clear(&h);
    free_octx(o);
}

void vc_outbox_release_held(vt_client *c, const char *username)
{
    struct mids m = outbox_ids(c);

    if (c->sending && affects(c, &c->sending->row, username))
        c->sending->deferred = VT_OUTGOING_MESSAGE_EV_USER_ACCEPTED_KEY; /* SM-306 */
    for (size_t i = 0; i < m.n; i++) {
        octx *o = new_octx(c, 0);
        if (o == NULL)
            break;
        if (!is_sending(c, m.ids[i]) &&
            vc_store_outbox_get(c->store, m.ids[i], &o->row) == VT_OK &&
            state_of(o->row.state) == VT_OUTGOING_MESSAGE_HELD &&
            affects(c, &o->row, username) && !dest_changed(c, &o->row) &&
            run(o, VT_OUTGOING_MESSAGE_EV_USER_ACCEPTED_KEY))
            released(o);
        free_octx(o);
    }
    free(m.ids);
    c->dirty_outbox = true;
}

void vc_outbox_identity_changed(vt_client *c, const char *username)
{
    struct mids m = outbox_ids(c);

    for (size_t i = 0; i < m.n; i++) {
        octx *o;
        if (is_sending(c, m.ids[i])) {
            c->sending->held_pending = true; /* taken before its answer (SM-306) */
            continue;
        }
        o = new_octx(c, 0);
        if (o == NULL)
            break;
        if (vc_store_outbox_get(c->store, m.ids[i], &o->row) == VT_OK &&
            affects(c, &o->row, username) &&
            state_of(o->row.state) != VT_OUTGOING_MESSAGE_HELD)
            (void)run(o, VT_OUTGOING_MESSAGE_EV_IDENTITY_CHANGED);
        free_octx(o);
    }
    free(m.ids);
}

vt_err vc_outbox_retry(vt_client *c, const vc_history_row *h, const uint8_t *content,
                       size_t len)
{
    octx *o = new_octx(c, 0);
    vt_err err = VT_OK;

    if (o == NULL)
        return VT_ERR_NO_MEMORY;
    memcpy(o->row.message_id, h->message_id, 16);
    snprintf(o->row.recipient, sizeof o->row.recipient, "%s", h->peer);
    snprintf(o->row.state, sizeof o->row.state, "FAILED");
    /* the first attempt came after the message was made: counting the
     * window from then keeps DELIV-24 however long ago that attempt was */
    o->row.first_attempt_ms = h->sent_at_ms ? h->sent_at_ms : 1;
    o->row.content = (uint8_t *)content;
    o->row.content_len = len;
    o->removed = true; /* FAILED: not in the outbox */
    if (!run(o, VT_OUTGOING_MESSAGE_EV_USER_RETRY))
        err = VT_ERR_STATE; /* outside within_dedup_window */
    else if (o->removed)
        err = VT_ERR_IO; /* add_to_outbox failed */
    else
        released(o);
    o->row.content = NULL;
    free_octx(o);
    return err;
}

vt_err vc_send_ephemeral(vt_client *c, const char *to, const uint8_t *content, size_t len,
                         uint64_t deadline_ms)
{
    octx *o = calloc(1, sizeof *o);
    ventra_v1_Frame *resp = NULL;
    vt_err err;

    if (o == NULL)
        return VT_ERR_NO_MEMORY;
    o->c = c;
    o->deadline = deadline_ms;
    o->next = NO_EVENT;
    if ((err = vt_random_bytes(o->row.message_id, 16)) != VT_OK)
        goto out;
    snprintf(o->row.recipient, sizeof o->row.recipient, "%s", to);
    o->row.content = (uint8_t *)content;
    o->row.content_len = len;
    a_encrypt_for_devices(o);
    err = o->err;
    if (o->next == NO_EVENT)
        err = do_send(c, to, o->row.message_id, NULL, true, o->rec, o->n_rec, o->self,
                      o->n_self, deadline_ms, &resp);
    free(resp);
    free_envelopes(o);
out:
    o->row.content = NULL;
    free(o);
    return err;
}
