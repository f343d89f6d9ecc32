/* Incoming messages: dedup before decrypt (DELIV-90), decrypt, store the
 * message with its processed record and the session change in one
 * transaction, tell the application, then acknowledge (DELIV-53, DELIV-91);
 * ephemeral messages are never acknowledged (DELIV-82); a message that does
 * not decrypt is noted and acknowledged (CRYPTO-77, DELIV-92). Delivered
 * receipts go out after storing a DataMessage (DELIV-87). Implements
 * spec/delivery.md sections 5, 7 and 8 and the receiving half of
 * spec/crypto.md sections 5 and 7. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "ventra/crypto.h"
#include "ventra/frame.h"
#include "ventra/session.h"
#include "ventra/v1/e2e.pb-c.h"
#include "ventra/v1/e2e.pb.h"
#include "vt_constants.h"

static void hex16(char out[33], const uint8_t *b)
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void send_delivered(vt_client *c, const char *to, const uint8_t mid[16])
{
    ventra_v1_Content *ct = calloc(1, sizeof *ct);
    uint8_t *content = NULL;
    size_t len = 0;

    if (ct == NULL)
        return;
    ct->which_body = ventra_v1_Content_receipt_tag;
    ct->body.receipt.type = ventra_v1_ReceiptType_RECEIPT_TYPE_DELIVERED;
    ct->body.receipt.message_ids_count = 1;
    memcpy(ct->body.receipt.message_ids[0].bytes, mid, 16);
    ct->body.receipt.message_ids[0].size = 16;
    ct->body.receipt.at_ms = vc_now_ms();
    if (vc_encode_content(ct, &content, &len) == VT_OK)
        (void)vc_outbox_queue(c, to, NULL, content, len, NULL);
    free(content);
    free(ct);
}

static void update_group_name(vt_client *c, const uint8_t gid[16], const char *name)
{
    char *old = NULL, **members = NULL;
    size_t n = 0;

    if (vc_store_get_group(c->store, gid, &old, &members, &n) == VT_OK) {
        VC_IGNORE(vc_store_put_group(c->store, gid, name, (const char *const *)members, n, NULL, 0));
        free(old);
        vc_store_free_names(members, n);
    } else {
        VC_IGNORE(vc_store_put_group(c->store, gid, name, NULL, 0, NULL, 0));
    }
}

void vc_on_message_event(vt_client *c, const ventra_v1_MessageEvent *e)
{
    size_t cap = e->content.size + 64, pt_len = 0, ul = 0;
    uint8_t *pt = malloc(cap);
    ventra_v1_Content *ct = calloc(1, sizeof *ct);
    bool ack = true, show = false, from_me = strcmp(e->sender, c->username) == 0;
    bool gid_ok = e->group_id.size == 0 || e->group_id.size == 16;
    char mid_hex[33];
    vc_history_row h;
    vt_err err;

    memset(&h, 0, sizeof h);
    hex16(mid_hex, e->message_id.bytes);
    if (pt == NULL || ct == NULL)
        goto out_noack; /* pushed again later */
    if (e->ephemeral) {
        ack = false; /* DELIV-82 */
    } else if (e->message_id.size != 16 ||
               vc_store_was_processed(c->store, e->sender, e->message_id.bytes)) {
        goto out; /* DELIV-90: a duplicate is acked, not shown again */
    }
    if (vc_store_begin(c->store) != VT_OK)
        goto out_noack;
    err = vc_session_decrypt(c, e->sender, e->sender_device, e->type, e->content.bytes,
                             e->content.size, pt, cap, &pt_len);
    if (err == VT_OK)
        err = vt_content_unpad(pt, cap, &ul, pt, pt_len); /* CRYPTO-132 */
    if (err == VT_OK)
        err = vt_msg_decode_nanopb(&ventra__v1__content__descriptor, ventra_v1_Content_fields, pt,
                                   ul, VT_MAX_CONTENT_SIZE, ct);
    if (err != VT_OK) {
        /* CRYPTO-77 / SM-200: note it, ack it, the session is unchanged */
        if (err == VT_ERR_PERMISSION_DENIED)
            vc_notice(c, "dropped message %s from %s device %u: its identity key changed and "
                         "was not accepted", mid_hex, e->sender, e->sender_device);
        else
            vc_notice(c, "could not decrypt message %s from %s device %u: %s", mid_hex,
                      e->sender, e->sender_device, vt_strerror(err));
        if (!e->ephemeral)
            VC_IGNORE(vc_store_mark_processed(c->store, e->sender, e->message_id.bytes, vc_now_s()));
        if (vc_store_commit(c->store) != VT_OK)
            ack = false;
        goto out;
    }
    if (e->ephemeral) {
        /* DELIV-85: only typing rides an ephemeral send */
        if (vc_store_commit(c->store) != VT_OK)
            goto out;
        if (ct->which_body == ventra_v1_Content_typing_tag && !from_me && c->cb.typing)
            c->cb.typing(c->ud, e->sender,
                         ct->body.typing.group_id.size == 16 ? ct->body.typing.group_id.bytes
                                                             : NULL,
                         ct->body.typing.action == ventra_v1_TypingAction_TYPING_ACTION_STARTED);
        goto out;
    }
    err = VT_OK;
    switch (ct->which_body) {
    case ventra_v1_Content_data_tag: {
        const ventra_v1_DataMessage *d = &ct->body.data;
        /* DELIV-111: the Content names the MessageEvent's group */
        if (!gid_ok || d->group_id.size != e->group_id.size ||
            (e->group_id.size && memcmp(d->group_id.bytes, e->group_id.bytes, 16) != 0)) {
            vc_notice(c, "dropped message %s from %s: group mismatch", mid_hex, e->sender);
            break;
        }
        /* SEC-7: attributed to the session's account and device only */
        if (e->group_id.size) {
            memcpy(h.group_id, e->group_id.bytes, 16);
            h.has_group = true;
        } else {
            /* a sync copy from our other device shows as outgoing */
            snprintf(h.peer, sizeof h.peer, "%s", from_me ? e->recipient : e->sender);
        }
        snprintf(h.sender, sizeof h.sender, "%s", e->sender);
        h.sender_device = e->sender_device;
        memcpy(h.message_id, e->message_id.bytes, 16);
        h.outgoing = from_me;
        snprintf(h.status, sizeof h.status, "%s", from_me ? "SENT" : "received");
        h.sent_at_ms = d->sent_at_ms;
        h.server_ms = e->server_time_ms;
        h.text = (char *)d->text;
        h.text_len = strlen(d->text);
        err = vc_store_add_history(c->store, &h);
        if (err == VT_ERR_ALREADY_EXISTS)
            err = VT_OK;
        else if (err == VT_OK)
            show = true;
        h.text = NULL;
        break;
    }
    case ventra_v1_Content_receipt_tag:
        break; /* after the commit */
    case ventra_v1_Content_group_update_tag:
        if (ct->body.group_update.group_id.size == 16)
            update_group_name(c, ct->body.group_update.group_id.bytes,
                              ct->body.group_update.name);
        break;
    default:
        break; /* DELIV-85: typing in a stored send is ignored */
    }
    if (err == VT_OK)
        err = vc_store_mark_processed(c->store, e->sender, e->message_id.bytes, vc_now_s());
    if (err == VT_OK)
        err = vc_store_commit(c->store);
    else
        vc_store_rollback(c->store);
    if (err != VT_OK) {
        ack = false; /* DELIV-91: not stored, not acked: pushed again */
        show = false;
        goto out;
    }
    if (show && c->cb.message) {
        vt_client_message m;
        char conv[33];
        memset(&m, 0, sizeof m);
        if (h.has_group) {
            hex16(conv, h.group_id);
            m.conversation = conv;
            m.group_id = h.group_id;
        } else {
            m.conversation = h.peer;
        }
        m.sender = e->sender;
        m.sender_device = e->sender_device;
        m.message_id = e->message_id.bytes;
        m.text = ct->body.data.text;
        m.sent_at_ms = ct->body.data.sent_at_ms;
        m.server_time_ms = e->server_time_ms;
        m.outgoing = from_me;
        c->cb.message(c->ud, &m);
    }
    if (show && !from_me) /* DELIV-87: after storing it */
        send_delivered(c, e->sender, e->message_id.bytes);
    if (ct->which_body == ventra_v1_Content_receipt_tag && !from_me) {
        const ventra_v1_ReceiptMessage *r = &ct->body.receipt;
        bool read = r->type == ventra_v1_ReceiptType_RECEIPT_TYPE_READ;
        for (size_t i = 0; i < r->message_ids_count; i++) {
            if (r->message_ids[i].size != 16)
                continue;
            vc_outbox_receipt(c, r->message_ids[i].bytes, read);
            if (c->cb.receipt)
                c->cb.receipt(c->ud, e->sender, e->sender_device, r->message_ids[i].bytes, read);
        }
    }
    if (ct->which_body == ventra_v1_Content_group_update_tag)
        vc_notice(c, "%s named a group \"%s\"", e->sender, ct->body.group_update.name);
out:
    if (ack && !e->ephemeral)
        vc_queue_ack(c, e->seq);
out_noack:
    if (pt) {
        vt_wipe(pt, cap);
        free(pt);
    }
    if (ct) {
        vt_wipe(ct, sizeof *ct);
        free(ct);
    }
}

void vc_on_group_changed(vt_client *c, const ventra_v1_GroupChangedEvent *e)
{
    char *name = NULL, **old = NULL;
    size_t n = 0;
    const char *members[64], *admins[64];

    if (!e->has_group || e->group.group_id.size != 16)
        return;
    if (vc_store_get_group(c->store, e->group.group_id.bytes, &name, &old, &n) != VT_OK)
        name = NULL;
    vc_store_free_names(old, n);
    if (e->group.members_count == 0) {
        /* we were removed, or left (DELIV-107) */
        VC_IGNORE(vc_store_delete_group(c->store, e->group.group_id.bytes));
        vc_notice(c, "%s removed you from a group", e->changed_by);
    } else {
        for (size_t i = 0; i < e->group.members_count; i++)
            members[i] = e->group.members[i];
        for (size_t i = 0; i < e->group.admins_count; i++)
            admins[i] = e->group.admins[i];
        VC_IGNORE(vc_store_put_group(c->store, e->group.group_id.bytes, name ? name : "", members,
                                 e->group.members_count, admins, e->group.admins_count));
        vc_notice(c, "%s changed the members of group %s", e->changed_by,
                  name && name[0] ? name : "(unnamed)");
    }
    free(name);
}
