/* Client tier, sessions: trust in identity keys and what a client does with
 * envelopes it cannot or must not decrypt (spec/security.md SEC-4, SEC-5,
 * SEC-7, SEC-42; crypto.md CRYPTO-77, CRYPTO-128, CRYPTO-129; auth.md
 * AUTH-94; state/session.md SM-200), with the peer and the proxy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_kit.h"
#include "vtc_peer.h"

static void free_peer(void *p)
{
    vtc_peer_free(p);
}

static vtc_peer *peer(vcl_ctx *ctx, const char *prefix)
{
    vtc_peer *p = vtc_peer_register(vcl_port(ctx), prefix);

    vcl_defer(ctx, free_peer, p);
    return p;
}

/* Whether |p| decrypts a DataMessage |text| within a few messages. */
static bool peer_gets(vtc_peer *p, const char *text, int timeout_ms)
{
    vtc_peer_msg m;
    bool got = false;

    for (int i = 0; i < 4 && !got && vtc_peer_recv(p, timeout_ms, &m); i++) {
        got = m.error == VT_OK && vtc_peer_msg_text(&m) != NULL &&
              strcmp(vtc_peer_msg_text(&m), text) == 0;
        vtc_peer_msg_clear(&m);
    }
    return got;
}

static void contact(vcl_ctx *ctx, vck_client *k, vtc_peer *p)
{
    char t1[64], t2[64];
    uint8_t mid[16];

    vcl_step(ctx, "the client and the peer exchange a message each");
    vck_text(t1, "a");
    vck_send(k, vtc_peer_username(p), t1, mid);
    VCL_CHECK(ctx, peer_gets(p, t1, 5000),
              "the peer did not decrypt the client's message");
    vck_text(t2, "b");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t2, NULL), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS, "the peer's message shown");
}

static void identity_change(vcl_ctx *ctx)
{
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", NULL);
    char t2[64], t3[64], t4[64];
    uint8_t mid[16];

    contact(ctx, k, p);
    vcl_step(ctx, "the peer's account is deleted and registered again with a new key");
    vtc_peer_rotate_identity(p);
    vck_text(t2, "new-key");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t2, NULL), VT_OK);
    vck_wait(k, vck_has_ident, vtc_peer_username(p), VCK_WAIT_MS);
    vck_pump(k, VCK_QUIET_MS);
    VCL_CHECK(
        ctx, vck_count_text(k, t2) == 0,
        "a message under the changed identity key was shown before it was accepted");
    vcl_step(ctx, "the client writes: held until the user accepts");
    vck_text(t3, "held");
    VCL_CODE(ctx, (int)vt_client_send_text(k->c, vtc_peer_username(p), t3, mid), VT_OK);
    vck_pump(k, 2000);
    VCL_CHECK(ctx, !peer_gets(p, t3, 1000),
              "the client encrypted to the changed identity key before it was accepted");
    VCL_CHECK(ctx, vck_has_ident(k, vtc_peer_username(p)),
              "no identity change reported for a device id it had seen (AUTH-94)");
    vcl_step(ctx, "the user accepts the new key");
    VCL_CODE(ctx, (int)vt_client_accept_identity(k->c, vtc_peer_username(p)), VT_OK);
    vck_pump(k, 1000);
    VCL_CHECK(ctx, peer_gets(p, t3, 5000),
              "the held message did not go out after accepting");
    vck_text(t4, "after");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t4, NULL), VT_OK);
    vck_expect(k, vck_has_text, t4, VCK_WAIT_MS,
               "the peer's message under the accepted key");
}

typedef struct rewrite_type {
    bool on;
    int type;
    char sender[33]; /* non-empty: replace the sender instead */
    unsigned done;
} rewrite_type;

/* Rewrites the next MessageEvent to the client: its envelope type, or its
 * sender. */
static vck_verdict rewrite_event(void *ud, unsigned conn, vck_dir dir,
                                 const uint8_t *data, size_t len, uint8_t **out,
                                 size_t *out_len)
{
    rewrite_type *r = ud;
    Ventra__V1__Frame *f;
    vck_verdict v = VCK_PASS;

    (void)conn;
    if (!r->on || dir != VCK_TO_CLIENT || (f = vck_decode(data, len)) == NULL)
        return VCK_PASS;
    if (f->kind_case == VENTRA__V1__FRAME__KIND_EVENT &&
        f->event->body_case == VENTRA__V1__EVENT__BODY_MESSAGE) {
        char *old = f->event->message->sender;

        if (r->sender[0])
            f->event->message->sender = r->sender;
        else
            f->event->message->type = (Ventra__V1__EnvelopeType)r->type;
        if ((*out = vck_pack(f, out_len)) != NULL) {
            v = VCK_REPLACE;
            r->done++;
            r->on = false;
        }
        f->event->message->sender = old;
    }
    ventra__v1__frame__free_unpacked(f, NULL);
    return v;
}

static void unknown_envelope_type(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    rewrite_type r = {false, 9, "", 0};
    char t1[64], t2[64];

    contact(ctx, k, p);
    vck_proxy_set_hook(px, rewrite_event, &r);
    vck_proxy_lock(px);
    r.on = true;
    vck_proxy_unlock(px);
    vcl_step(ctx, "a message arrives with envelope type 9");
    vck_text(t1, "type9");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t1, NULL), VT_OK);
    vck_pump(k, VCK_QUIET_MS);
    vck_proxy_lock(px);
    VCL_CHECK(ctx, r.done == 1, "the proxy saw no message to rewrite");
    vck_proxy_unlock(px);
    VCL_CHECK(ctx, vck_count_text(k, t1) == 0,
              "a message of an unknown envelope type was shown");
    vcl_step(ctx, "the session is unchanged: the next message decrypts");
    vck_text(t2, "next");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t2, NULL), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS, "the next message shown");
}

static void garbage_content(vcl_ctx *ctx)
{
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", NULL);
    uint8_t junk[300];
    char t2[64];

    contact(ctx, k, p);
    vcl_step(ctx, "the peer sends content that decrypts under no session");
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    VCL_CODE(ctx,
             vtc_peer_send_raw(p, k->name,
                               VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE, junk,
                               sizeof junk, NULL),
             VT_OK);
    VCL_CODE(ctx,
             vtc_peer_send_raw(p, k->name,
                               VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY, junk,
                               sizeof junk, NULL),
             VT_OK);
    vck_pump(k, VCK_QUIET_MS);
    VCL_CHECK(ctx, k->nmsg == 1, "undecryptable content was shown");
    vcl_step(ctx, "the session is unchanged: the next message decrypts");
    vck_text(t2, "next");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t2, NULL), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS, "the next message shown");
}

static void forged_sender(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer"), *m = peer(ctx, "mallory");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    rewrite_type r = {false, 0, "", 0};
    char t[64];

    contact(ctx, k, p);
    snprintf(r.sender, sizeof r.sender, "%s", vtc_peer_username(m));
    vck_proxy_set_hook(px, rewrite_event, &r);
    vck_proxy_lock(px);
    r.on = true;
    vck_proxy_unlock(px);
    vcl_step(ctx, "the peer writes; the server names another account as the sender");
    vck_text(t, "forged");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t, NULL), VT_OK);
    vck_pump(k, 2000);
    for (size_t i = 0; i < k->nmsg; i++)
        VCL_CHECK(ctx, strcmp(k->msgs[i].sender, vtc_peer_username(m)) != 0,
                  "a message decrypted by the session with %s was attributed to %s",
                  vtc_peer_username(p), vtc_peer_username(m));
}

static void group_mismatch(vcl_ctx *ctx)
{
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", NULL);
    const char *member = vtc_peer_username(p);
    uint8_t gid[16], other[16];
    Ventra__V1__Content c = VENTRA__V1__CONTENT__INIT;
    Ventra__V1__DataMessage d = VENTRA__V1__DATA_MESSAGE__INIT;
    vtc_peer_send_opts o = {0};
    char t1[64], t2[64];

    contact(ctx, k, p);
    vcl_step(ctx, "the client makes a group with the peer");
    VCL_CODE(ctx, (int)vt_client_group_create(k->c, "g", &member, 1, gid, VCK_WAIT_MS),
             VT_OK);
    vck_pump(k, 500);
    vtc_random16(other);
    c.body_case = VENTRA__V1__CONTENT__BODY_DATA;
    c.data = &d;
    o.group_id = gid;
    vcl_step(ctx, "a group message whose Content names another group");
    vck_text(t1, "wrong-group");
    d.text = t1;
    d.sent_at_ms = vtc_wall_ms();
    d.group_id = vtc_bin(other, 16);
    VCL_CODE(ctx, vtc_peer_send(p, k->name, &c, &o, NULL), VT_OK);
    vck_pump(k, VCK_QUIET_MS);
    VCL_CHECK(ctx, vck_count_text(k, t1) == 0,
              "a group message whose Content names another group_id was shown");
    vcl_step(ctx, "control: the same with the right group_id is shown");
    vck_text(t2, "right-group");
    d.text = t2;
    d.group_id = vtc_bin(gid, 16);
    VCL_CODE(ctx, vtc_peer_send(p, k->name, &c, &o, NULL), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS, "the group message shown");
}

/* SEC-4: a bundle whose signed-prekey signature does not verify is refused
 * and nothing is encrypted to it (the proxy corrupts FetchBundles answers,
 * since a conforming server refuses such an upload). */
static vck_verdict corrupt_bundles(void *ud, unsigned conn, vck_dir dir,
                                   const uint8_t *data, size_t len, uint8_t **out,
                                   size_t *out_len)
{
    unsigned *n = ud;
    Ventra__V1__Frame *f;
    vck_verdict v = VCK_PASS;

    (void)conn;
    if (dir != VCK_TO_CLIENT || (f = vck_decode(data, len)) == NULL)
        return VCK_PASS;
    if (f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE &&
        f->response->body_case == VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES) {
        Ventra__V1__FetchBundlesResponse *fb = f->response->fetch_bundles;

        for (size_t i = 0; i < fb->n_bundles; i++)
            if (fb->bundles[i]->signed_prekey &&
                fb->bundles[i]->signed_prekey->signature.len)
                fb->bundles[i]->signed_prekey->signature.data[0] ^= 0x01;
        if ((*out = vck_pack(f, out_len)) != NULL) {
            v = VCK_REPLACE;
            (*n)++;
        }
    }
    ventra__v1__frame__free_unpacked(f, NULL);
    return v;
}

static void bad_bundle_signature(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    unsigned corrupted = 0;
    uint8_t mid[16];
    char t[64];
    vck_rec *recs;
    size_t n = 0;

    vck_proxy_set_hook(px, corrupt_bundles, &corrupted);
    vcl_step(ctx, "the client writes to the peer; the bundle's signature is broken");
    vck_text(t, "bad-bundle");
    VCL_CODE(ctx, (int)vt_client_send_text(k->c, vtc_peer_username(p), t, mid), VT_OK);
    vck_pump(k, 3000);
    vck_proxy_lock(px);
    VCL_CHECK(ctx, corrupted > 0,
              "the client fetched no bundle (the case proves nothing)");
    vck_proxy_unlock(px);
    recs = vck_proxy_records(px, &n);
    for (size_t i = 0; i < n; i++) {
        bool bad =
            recs[i].dir == VCK_TO_SERVER &&
            vck_request_case(recs[i].data, recs[i].len) == VENTRA__V1__REQUEST__BODY_SEND;

        if (bad) {
            vck_recs_free(recs, n);
            vcl_failf(ctx, "the client sent a message encrypted to a bundle whose signed "
                           "prekey signature does not verify");
        }
    }
    vck_recs_free(recs, n);
    VCL_CHECK(ctx, !peer_gets(p, t, 500), "the peer received the message");
}

VCK_CASES(
    sessions,
    {"sessions/identity-change", "SEC-5 SM-200 AUTH-94 CRYPTO-128", VCL_MUST, 0,
     "a re-registered contact's new key: its messages dropped, ours held until accepted",
     identity_change},
    {"sessions/unknown-envelope-type", "CRYPTO-129", VCL_MUST, 0,
     "an envelope of an unknown type is not shown and changes no session",
     unknown_envelope_type},
    {"sessions/garbage-content", "SEC-42 CRYPTO-77", VCL_MUST, 0,
     "undecryptable MESSAGE and PREKEY content: not shown, the session still works",
     garbage_content},
    {"sessions/forged-sender", "SEC-7", VCL_MUST, 0,
     "a message is never attributed to the sender the server names but the session's",
     forged_sender},
    {"sessions/group-id-mismatch", "SEC-7 DELIV-111", VCL_MUST, 0,
     "a group message whose Content names another group is dropped", group_mismatch},
    {"sessions/bad-bundle-signature", "SEC-4", VCL_MUST, 0,
     "a bundle with a bad signed-prekey signature is refused, nothing encrypted to it",
     bad_bundle_signature}, );
