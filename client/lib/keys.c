/* The device's prekeys: the first upload after Register or linking
 * (AUTH-23), replenishing one-time prekeys (CRYPTO-26), rotating the signed
 * and last-resort prekeys (CRYPTO-22, CRYPTO-28) and deleting replaced ones
 * after their grace period (CRYPTO-23, -24, -30). Ids are never reused:
 * settings "next_prekey_id", "next_signed_prekey_id", "next_last_resort_id"
 * (CRYPTO-20, -25, -27). Implements spec/crypto.md section 4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "ventra/crypto.h"
#include "ventra/prekeys.h"
#include "vt_constants.h"

void vc_keys_after_auth(vt_client *c)
{
    vc_prekey_row row;

    c->prekeys_checked = false;
    c->prekeys_ok = false;
    if (vc_store_current_prekey(c->store, VC_PREKEY_SIGNED, &row) != VT_OK ||
        row.created_at + VT_SIGNED_PREKEY_ROTATION_S <= vc_now_s())
        c->need_signed = true;
    vt_wipe(&row, sizeof row);
}

void vc_keys_on_drained(vt_client *c)
{
    uint64_t now = vc_now_s();
    /* CRYPTO-24: after the grace period, at the first drained queue */
    VC_IGNORE(vc_store_expire_prekeys(c->store, VC_PREKEY_SIGNED, now, VT_SIGNED_PREKEY_GRACE_S,
                                  NULL));
    VC_IGNORE(vc_store_expire_prekeys(c->store, VC_PREKEY_LAST_RESORT, now,
                                  VT_SIGNED_PREKEY_GRACE_S, NULL));
}

/* Draws |n| consecutive ids from the setting |name| and advances it first,
 * so an id is never handed out twice even when the upload fails. */
static vt_err take_ids(vt_client *c, const char *name, uint32_t n, uint32_t *first)
{
    uint64_t next = vc_get_u64(c, name, 1);

    if (next == 0 || next + n > 0xffffffffull)
        return VT_ERR_LIMIT_EXCEEDED;
    *first = (uint32_t)next;
    return vc_set_u64(c, name, next + n);
}

static vt_err make_signed(vt_client *c, bool last_resort, ventra_v1_SignedPrekey *out,
                          uint32_t *id_out)
{
    vt_signed_prekey k;
    vc_prekey_row row;
    uint32_t id = 0;
    vt_err err = take_ids(c, last_resort ? "next_last_resort_id" : "next_signed_prekey_id", 1,
                          &id);

    if (err != VT_OK)
        return err;
    err = vt_signed_prekey_generate(&k, c->id, id, last_resort);
    if (err != VT_OK)
        return err;
    memset(&row, 0, sizeof row);
    row.kind = last_resort ? VC_PREKEY_LAST_RESORT : VC_PREKEY_SIGNED;
    row.id = id;
    memcpy(row.pub, k.key.pub, 32);
    memcpy(row.priv, k.key.priv, 32);
    memcpy(row.signature, k.signature, 64);
    row.created_at = vc_now_s();
    err = vc_store_put_prekey(c->store, &row);
    out->id = id;
    memcpy(out->public_key.bytes, k.key.pub, 32);
    out->public_key.size = 32;
    memcpy(out->signature.bytes, k.signature, 64);
    out->signature.size = 64;
    *id_out = id;
    vt_wipe(&k, sizeof k);
    vt_wipe(&row, sizeof row);
    return err;
}

static vt_err upload(vt_client *c, uint64_t deadline)
{
    ventra_v1_Request *req = calloc(1, sizeof *req);
    ventra_v1_UploadPrekeysRequest *u;
    ventra_v1_Frame *resp = NULL;
    uint32_t spk_id = 0, lr_id = 0, first = 0;
    vt_err err = VT_OK;

    if (req == NULL)
        return VT_ERR_NO_MEMORY;
    req->which_body = ventra_v1_Request_upload_prekeys_tag;
    u = &req->body.upload_prekeys;
    if ((err = vc_store_begin(c->store)) != VT_OK)
        goto out;
    if (c->need_signed) {
        err = make_signed(c, false, &u->signed_prekey, &spk_id);
        if (err == VT_OK)
            err = make_signed(c, true, &u->last_resort_prekey, &lr_id);
        u->has_signed_prekey = u->has_last_resort_prekey = err == VT_OK;
    }
    if (err == VT_OK && c->need_one_time) {
        uint32_t n = VT_MAX_PREKEYS_PER_UPLOAD;
        err = take_ids(c, "next_prekey_id", n, &first);
        for (uint32_t i = 0; err == VT_OK && i < n; i++) {
            vt_prekey k;
            vc_prekey_row row;
            err = vt_prekey_generate(&k, first + i);
            if (err != VT_OK)
                break;
            memset(&row, 0, sizeof row);
            row.kind = VC_PREKEY_ONE_TIME;
            row.id = k.id;
            memcpy(row.pub, k.pub, 32);
            memcpy(row.priv, k.priv, 32);
            row.created_at = vc_now_s();
            err = vc_store_put_prekey(c->store, &row);
            u->one_time_prekeys[i].id = k.id;
            memcpy(u->one_time_prekeys[i].public_key.bytes, k.pub, 32);
            u->one_time_prekeys[i].public_key.size = 32;
            u->one_time_prekeys_count = (pb_size_t)(i + 1);
            vt_wipe(&k, sizeof k);
            vt_wipe(&row, sizeof row);
        }
    }
    /* the private keys are stored before their public halves leave */
    if (err == VT_OK)
        err = vc_store_commit(c->store);
    else
        vc_store_rollback(c->store);
    if (err != VT_OK)
        goto out;
    err = vc_rpc_call(c, req, &resp, deadline);
    if (err == VT_OK) {
        uint64_t now = vc_now_s();
        if (spk_id) { /* CRYPTO-23: the grace period starts now */
            VC_IGNORE(vc_store_mark_prekeys_replaced(c->store, VC_PREKEY_SIGNED, spk_id, now));
            VC_IGNORE(vc_store_mark_prekeys_replaced(c->store, VC_PREKEY_LAST_RESORT, lr_id, now));
        }
        c->need_signed = false;
        c->need_one_time = false;
    } else if (spk_id) {
        /* not uploaded: these never became current */
        VC_IGNORE(vc_store_delete_prekey(c->store, VC_PREKEY_SIGNED, spk_id));
        VC_IGNORE(vc_store_delete_prekey(c->store, VC_PREKEY_LAST_RESORT, lr_id));
    }
out:
    free(resp);
    free(req);
    return err;
}

vt_err vc_keys_work(vt_client *c, uint64_t deadline)
{
    vt_err err = VT_OK;

    if (c->id == NULL)
        return VT_ERR_STATE;
    if (!c->prekeys_checked) {
        /* WIRE-602: learn the stock after each authentication */
        ventra_v1_Request req;
        ventra_v1_Frame *resp = NULL;
        memset(&req, 0, sizeof req);
        req.which_body = ventra_v1_Request_get_prekey_count_tag;
        err = vc_rpc_call(c, &req, &resp, deadline);
        if (err == VT_OK) {
            const ventra_v1_GetPrekeyCountResponse *p =
                &resp->kind.response.body.get_prekey_count;
            c->prekeys_checked = true;
            if (p->one_time_count < VT_PREKEY_LOW_WATERMARK)
                c->need_one_time = true;
            if (!p->has_signed_prekey || !p->has_last_resort_prekey)
                c->need_signed = true;
        }
        free(resp);
        if (err != VT_OK)
            return err;
    }
    if (c->need_signed || c->need_one_time)
        err = upload(c, deadline);
    if (err == VT_OK)
        c->prekeys_ok = true;
    return err;
}
