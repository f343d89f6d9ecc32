/* Client tier, delivery: a message is stored before it is acknowledged and
 * shown once when the server pushes it again (spec/delivery.md DELIV-53,
 * DELIV-90, DELIV-91), through the intercepting proxy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_kit.h"
#include "vtc_peer.h"

static void free_peer(void *p)
{
    vtc_peer_free(p);
}

typedef struct lose_acks {
    bool on;
    int64_t first_ack_ms; /* when the first Ack reached the proxy */
} lose_acks;

/* Answers every Ack itself (AckResponse, nothing deleted), so that the
 * server never hears of it: the acknowledgement is lost, as in a crash. */
static vck_verdict answer_acks(void *ud, unsigned conn, vck_dir dir, const uint8_t *data,
                               size_t len, uint8_t **out, size_t *out_len)
{
    lose_acks *l = ud;
    Ventra__V1__Frame *f;
    vck_verdict v = VCK_PASS;

    (void)conn;
    if (!l->on || dir != VCK_TO_SERVER || (f = vck_decode(data, len)) == NULL)
        return VCK_PASS;
    if (f->kind_case == VENTRA__V1__FRAME__KIND_REQUEST &&
        f->request->body_case == VENTRA__V1__REQUEST__BODY_ACK) {
        Ventra__V1__Frame rf = VENTRA__V1__FRAME__INIT;
        Ventra__V1__Response r = VENTRA__V1__RESPONSE__INIT;
        Ventra__V1__AckResponse ack = VENTRA__V1__ACK_RESPONSE__INIT;

        r.id = f->request->id;
        r.body_case = VENTRA__V1__RESPONSE__BODY_ACK;
        r.ack = &ack;
        rf.kind_case = VENTRA__V1__FRAME__KIND_RESPONSE;
        rf.response = &r;
        if ((*out = vck_pack(&rf, out_len)) != NULL) {
            v = VCK_ANSWER;
            if (l->first_ack_ms == 0)
                l->first_ack_ms = vtc_now_ms();
        }
    }
    ventra__v1__frame__free_unpacked(f, NULL);
    return v;
}

/* Whether the records hold, on a connection after |after|, a MessageEvent
 * to the client with |mid| (pushed) and an Ack to the server (acked). */
static void scan(vck_proxy *px, unsigned after, const uint8_t mid[16], bool *pushed,
                 bool *acked)
{
    size_t n = 0;
    vck_rec *recs = vck_proxy_records(px, &n);

    *pushed = *acked = false;
    for (size_t i = 0; i < n; i++) {
        Ventra__V1__Frame *f;

        if (recs[i].conn <= after || recs[i].dropped ||
            (f = vck_decode(recs[i].data, recs[i].len)) == NULL)
            continue;
        if (f->kind_case == VENTRA__V1__FRAME__KIND_EVENT &&
            f->event->body_case == VENTRA__V1__EVENT__BODY_MESSAGE &&
            f->event->message->message_id.len == 16 &&
            memcmp(f->event->message->message_id.data, mid, 16) == 0)
            *pushed = true;
        if (f->kind_case == VENTRA__V1__FRAME__KIND_REQUEST &&
            f->request->body_case == VENTRA__V1__REQUEST__BODY_ACK)
            *acked = true;
        ventra__v1__frame__free_unpacked(f, NULL);
    }
    vck_recs_free(recs, n);
}

static unsigned last_conn(vck_proxy *px)
{
    size_t n = 0;
    vck_rec *recs = vck_proxy_records(px, &n);
    unsigned c = n ? recs[n - 1].conn : 0;

    vck_recs_free(recs, n);
    return c;
}

static void redelivered_once(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = vtc_peer_register(vcl_port(ctx), "peer");
    vck_client *k;
    lose_acks l = {false, 0};
    char t[64];
    uint8_t mid[16];
    bool pushed = false, acked = false;
    unsigned conn;

    vcl_defer(ctx, free_peer, p);
    k = vck_account(ctx, "cli", vck_proxy_url(px));
    vck_proxy_set_hook(px, answer_acks, &l);
    vck_proxy_lock(px);
    l.on = true;
    vck_proxy_unlock(px);
    vcl_step(ctx, "the peer writes; the client's Ack never reaches the server");
    vck_text(t, "once");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t, mid), VT_OK);
    vck_expect(k, vck_has_text, t, VCK_WAIT_MS, "the message shown");
    VCL_CHECK(ctx, vck_history_has(k, t), "shown but not in vt_client_history");
    vck_pump(k, 500);
    vck_proxy_lock(px);
    VCL_CHECK(ctx, l.first_ack_ms != 0, "the client did not acknowledge the message");
    VCL_CHECK(ctx, l.first_ack_ms >= k->msgs[0].at_ms,
              "the Ack left before the client reported the message stored");
    l.on = false;
    vck_proxy_unlock(px);
    vcl_step(ctx, "the client closes and opens its store again");
    conn = last_conn(px);
    vck_shut(k);
    vck_reopen(k);
    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE again");
    vck_pump(k, VCK_QUIET_MS);
    scan(px, conn, mid, &pushed, &acked);
    VCL_CHECK(ctx, pushed,
              "the server did not push the unacknowledged message again "
              "(the case proves nothing)");
    VCL_CHECK(ctx, vck_history_has(k, t),
              "the message is not in the history after reopening");
    VCL_CHECK(ctx, vck_count_text(k, t) == 1,
              "the redelivered message was shown %zu times", vck_count_text(k, t));
    VCL_CHECK(ctx, acked, "the duplicate was not acknowledged");
}

VCK_CASES(delivery,
          {"delivery/redelivered-once", "DELIV-90 DELIV-91 DELIV-53", VCL_MUST, 0,
           "stored before the Ack; pushed again after a lost Ack, shown once and acked",
           redelivered_once}, );
