/* Client tier, sessions: trust in identity keys, what a client does with
 * envelopes it cannot or must not decrypt, and the prekeys it uploads and
 * keeps (spec/security.md SEC-4, SEC-5, SEC-7, SEC-42; crypto.md CRYPTO-20,
 * CRYPTO-23, CRYPTO-25, CRYPTO-27, CRYPTO-29, CRYPTO-30, CRYPTO-77,
 * CRYPTO-121, CRYPTO-128, CRYPTO-129; auth.md AUTH-94; state/session.md
 * SM-200), with the peer and the proxy; the atomic commit of a responder
 * session (CRYPTO-74, by crash sweep) and the deletion of losing sessions
 * (CRYPTO-124, CRYPTO-125). */
#define _GNU_SOURCE /* nanosleep, poll */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_kit.h"
#include "ventra/crypto.h"
#include "vt_constants.h"
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

/* ---- Prekeys (spec/crypto.md section 4) ------------------------------------ */

/* Drops every PrekeysLowEvent to the client while |*on|, so that its
 * one-time prekeys can be used up; counts them in |dropped|. */
typedef struct no_low {
    bool on;
    unsigned dropped;
} no_low;

static vck_verdict drop_prekeys_low(void *ud, unsigned conn, vck_dir dir,
                                    const uint8_t *data, size_t len, uint8_t **out,
                                    size_t *out_len)
{
    no_low *nl = ud;
    Ventra__V1__Frame *f;
    vck_verdict v = VCK_PASS;

    (void)conn;
    (void)out;
    (void)out_len;
    if (!nl->on || dir != VCK_TO_CLIENT || (f = vck_decode(data, len)) == NULL)
        return VCK_PASS;
    if (f->kind_case == VENTRA__V1__FRAME__KIND_EVENT &&
        f->event->body_case == VENTRA__V1__EVENT__BODY_PREKEYS_LOW) {
        nl->dropped++;
        v = VCK_DROP;
    }
    ventra__v1__frame__free_unpacked(f, NULL);
    return v;
}

/* One bundle of |user|'s device |device| handed to |p| (a session made
 * from it, nothing sent); its prekey ids to |x|. */
static void take_bundle(vcl_ctx *ctx, vtc_peer *p, const char *user, uint32_t device,
                        vt_x3dh_fields *x)
{
    vtc_peer_forget(p, user);
    VCL_CODE(ctx, vtc_peer_start_sessions(p, user), VT_OK);
    VCL_CHECK(ctx, vtc_peer_session_x3dh(p, user, device, x),
              "the peer made no session with %s/%u", user, device);
}

/* Fetches the client's bundles through |d| until the server hands out the
 * last-resort prekey (at most |limit| fetches); its ids to |x|. */
static void use_up_one_time(vcl_ctx *ctx, vtc_peer *d, vck_client *k, unsigned limit,
                            vt_x3dh_fields *x)
{
    uint32_t dev = vt_client_device_id(k->c);
    unsigned i;

    vcl_step(ctx,
             "a peer fetches the client's bundles until only the last resort is left");
    for (i = 0; i < limit; i++) {
        take_bundle(ctx, d, k->name, dev, x);
        if (x->one_time_prekey_id == 0)
            break;
    }
    VCL_CHECK(
        ctx, i < limit && x->last_resort_prekey_id != 0,
        "no last-resort bundle after %u fetches (the client kept uploading one-time "
        "prekeys, or the server hands out none)",
        limit);
    vcl_log(ctx, "last resort %u after %u fetches", x->last_resort_prekey_id, i + 1);
}

/* Whether |pub| is an X25519 public key that is not of small order. */
static bool x25519_ok(const ProtobufCBinaryData *pub)
{
    uint8_t priv[32], shared[32];
    bool ok;

    if (pub->len != 32 || vt_random_bytes(priv, sizeof priv) != VT_OK)
        return false;
    ok = vt_x25519(shared, priv, pub->data) == VT_OK;
    vt_wipe(priv, sizeof priv);
    vt_wipe(shared, sizeof shared);
    return ok;
}

typedef struct ids_seen {
    uint32_t *ids;
    size_t n, cap;
} ids_seen;

static bool seen_id(const ids_seen *s, uint32_t id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ids[i] == id)
            return true;
    return false;
}

static void add_id(ids_seen *s, uint32_t id)
{
    if (s->n == s->cap) {
        uint32_t *n = realloc(s->ids, (s->cap ? 2 * s->cap : 256) * sizeof *n);

        if (n == NULL)
            return;
        s->ids = n;
        s->cap = s->cap ? 2 * s->cap : 256;
    }
    s->ids[s->n++] = id;
}

/* The checks of CRYPTO-20, -25 and -27 over every upload so far: the ids
 * seen, the public keys (for distinctness) and the first failure in |why|
 * (empty when fine). */
typedef struct upload_checks {
    ids_seen one_time, signed_ids, last_resort;
    uint8_t key_bytes[1024][32];
    size_t nkeys;
    unsigned uploads, with_signed, with_one_time;
    char why[200];
} upload_checks;

static void check_key(upload_checks *u, const ProtobufCBinaryData *pub, const char *what,
                      uint32_t id)
{
    if (u->why[0])
        return;
    if (!x25519_ok(pub)) {
        snprintf(u->why, sizeof u->why,
                 "%s %u: not a valid X25519 public key (%zu bytes)", what, id, pub->len);
        return;
    }
    for (size_t i = 0; i < u->nkeys; i++)
        if (memcmp(u->key_bytes[i], pub->data, 32) == 0) {
            snprintf(u->why, sizeof u->why,
                     "%s %u: the same public key as an earlier prekey", what, id);
            return;
        }
    if (u->nkeys < 1024)
        memcpy(u->key_bytes[u->nkeys++], pub->data, 32);
}

static void check_signed(upload_checks *u, const Ventra__V1__SignedPrekey *k,
                         ids_seen *ids, const char *what)
{
    if (k == NULL || u->why[0])
        return;
    if (k->id == 0)
        snprintf(u->why, sizeof u->why, "a %s with id 0", what);
    else if (seen_id(ids, k->id))
        snprintf(u->why, sizeof u->why,
                 "a %s with id %u, the id of an earlier %s it still holds", what, k->id,
                 what);
    else
        add_id(ids, k->id);
    check_key(u, &k->public_key, what, k->id);
}

static void check_upload(upload_checks *u, const Ventra__V1__UploadPrekeysRequest *r)
{
    u->uploads++;
    u->with_signed += r->signed_prekey != NULL;
    u->with_one_time += r->n_one_time_prekeys > 0;
    check_signed(u, r->signed_prekey, &u->signed_ids, "signed prekey");
    check_signed(u, r->last_resort_prekey, &u->last_resort, "last-resort prekey");
    for (size_t i = 0; i < r->n_one_time_prekeys && !u->why[0]; i++) {
        uint32_t id = r->one_time_prekeys[i]->id;

        if (id == 0)
            snprintf(u->why, sizeof u->why, "a one-time prekey with id 0");
        else if (seen_id(&u->one_time, id))
            snprintf(u->why, sizeof u->why,
                     "one-time prekey id %u given again (upload %u)", id, u->uploads);
        else
            add_id(&u->one_time, id);
        check_key(u, &r->one_time_prekeys[i]->public_key, "one-time prekey", id);
    }
}

static void free_checks(void *p)
{
    upload_checks *u = p;

    free(u->one_time.ids);
    free(u->signed_ids.ids);
    free(u->last_resort.ids);
    free(u);
}

/* The UploadPrekeys requests the client sent so far, checked. */
static upload_checks *check_uploads(vcl_ctx *ctx, vck_proxy *px)
{
    upload_checks *u = calloc(1, sizeof *u);
    vck_rec *recs;
    size_t n = 0;

    VCL_CHECK(ctx, u != NULL, "out of memory");
    vcl_defer(ctx, free_checks, u);
    recs = vck_proxy_records(px, &n);
    for (size_t i = 0; i < n && !u->why[0]; i++) {
        Ventra__V1__Frame *f;

        if (recs[i].dir != VCK_TO_SERVER ||
            vck_request_case(recs[i].data, recs[i].len) !=
                VENTRA__V1__REQUEST__BODY_UPLOAD_PREKEYS ||
            (f = vck_decode(recs[i].data, recs[i].len)) == NULL)
            continue;
        check_upload(u, f->request->upload_prekeys);
        ventra__v1__frame__free_unpacked(f, NULL);
    }
    vck_recs_free(recs, n);
    return u;
}

static bool uploads_at_least(vck_proxy *px, unsigned want)
{
    vck_rec *recs;
    size_t n = 0;
    unsigned got = 0;

    recs = vck_proxy_records(px, &n);
    for (size_t i = 0; i < n; i++)
        got +=
            recs[i].dir == VCK_TO_SERVER && vck_request_case(recs[i].data, recs[i].len) ==
                                                VENTRA__V1__REQUEST__BODY_UPLOAD_PREKEYS;
    vck_recs_free(recs, n);
    return got >= want;
}

static void prekey_ids(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *d = peer(ctx, "drain");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    uint32_t dev = vt_client_device_id(k->c);
    vt_x3dh_fields x;
    upload_checks *u;
    int64_t deadline;

    VCL_CHECK(ctx, uploads_at_least(px, 1), "no UploadPrekeys at registration");
    vcl_step(ctx, "a peer takes the one-time stock below PREKEY_LOW_WATERMARK");
    for (unsigned i = 0; i < VT_MAX_PREKEYS_PER_UPLOAD; i++) {
        take_bundle(ctx, d, k->name, dev, &x);
        if (x.one_time_prekey_id == 0)
            break;
        if (i % 10 == 9)
            vck_pump(k, 20);
        if (uploads_at_least(px, 2))
            break;
    }
    vcl_step(ctx, "the client replenishes after the PrekeysLowEvent");
    deadline = vtc_now_ms() + VCK_WAIT_MS;
    while (!uploads_at_least(px, 2) && vtc_left_ms(deadline) > 0)
        vck_pump(k, 100);
    VCL_CHECK(ctx, uploads_at_least(px, 2),
              "no second UploadPrekeys after the stock went low (CRYPTO-26 is a SHOULD; "
              "the case needs it)");
    vcl_step(ctx, "the client replaces its signed and last-resort prekeys, twice");
    VCL_CODE(ctx, (int)vt_client_rotate_prekeys(k->c, VCK_WAIT_MS), VT_OK);
    VCL_CODE(ctx, (int)vt_client_rotate_prekeys(k->c, VCK_WAIT_MS), VT_OK);
    vck_pump(k, 300);
    u = check_uploads(ctx, px);
    vcl_log(ctx,
            "%u uploads: %u with a signed prekey, %u with one-time prekeys, %zu keys",
            u->uploads, u->with_signed, u->with_one_time, u->nkeys);
    VCL_CHECK(ctx, u->why[0] == '\0', "%s", u->why);
    VCL_CHECK(ctx, u->with_signed >= 3 && u->with_one_time >= 2,
              "the uploads held too little to check (%u with signed prekeys, %u with "
              "one-time prekeys)",
              u->with_signed, u->with_one_time);
}

static void last_resort_reuse(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *d = peer(ctx, "drain"), *p1 = peer(ctx, "one"), *p2 = peer(ctx, "two");
    no_low nl = {true, 0};
    vck_client *k;
    vt_x3dh_fields x, x1, x2;
    char t1[64], t2[64], r1[64], r2[64];
    uint8_t mid[16];

    vck_proxy_set_hook(px, drop_prekeys_low, &nl);
    k = vck_account(ctx, "cli", vck_proxy_url(px));
    use_up_one_time(ctx, d, k, 2 * VT_MAX_PREKEYS_PER_UPLOAD, &x);
    vcl_step(ctx, "a first peer starts a session from the last-resort prekey");
    take_bundle(ctx, p1, k->name, vt_client_device_id(k->c), &x1);
    VCL_CHECK(ctx, x1.one_time_prekey_id == 0 && x1.last_resort_prekey_id != 0,
              "the first peer's bundle holds no last-resort prekey");
    vck_text(t1, "first");
    VCL_CODE(ctx, vtc_peer_send_text(p1, k->name, t1, NULL), VT_OK);
    vck_expect(k, vck_has_text, t1, VCK_WAIT_MS, "the first peer's message shown");
    vck_pump(k, 500);
    vcl_step(ctx, "a second peer starts one from the same last-resort prekey");
    take_bundle(ctx, p2, k->name, vt_client_device_id(k->c), &x2);
    VCL_CHECK(
        ctx,
        x2.one_time_prekey_id == 0 &&
            x2.last_resort_prekey_id == x1.last_resort_prekey_id,
        "the second bundle holds last-resort prekey %u, not %u (the client uploaded a "
        "new one; the case proves nothing)",
        x2.last_resort_prekey_id, x1.last_resort_prekey_id);
    vck_text(t2, "second");
    VCL_CODE(ctx, vtc_peer_send_text(p2, k->name, t2, NULL), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS,
               "the second peer's message under the used last-resort prekey shown");
    vcl_step(ctx, "both sessions work the other way too");
    vck_text(r1, "reply1");
    vck_send(k, vtc_peer_username(p1), r1, mid);
    VCL_CHECK(ctx, peer_gets(p1, r1, 5000), "the first peer did not decrypt the reply");
    vck_text(r2, "reply2");
    vck_send(k, vtc_peer_username(p2), r2, mid);
    VCL_CHECK(ctx, peer_gets(p2, r2, 5000), "the second peer did not decrypt the reply");
}

static void prekey_grace(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *d = peer(ctx, "drain"), *p1 = peer(ctx, "early"),
             *p2 = peer(ctx, "lastres"), *p3 = peer(ctx, "late");
    no_low nl = {true, 0};
    vck_client *k;
    uint32_t dev;
    vt_x3dh_fields x, x1, x2, x3;
    char t1[64], t2[64], t3[64];

    vck_proxy_set_hook(px, drop_prekeys_low, &nl);
    k = vck_account(ctx, "cli", vck_proxy_url(px));
    dev = vt_client_device_id(k->c);
    vcl_step(ctx, "a peer fetches a bundle with a one-time prekey and waits");
    take_bundle(ctx, p1, k->name, dev, &x1);
    VCL_CHECK(ctx, x1.one_time_prekey_id != 0, "the first bundle has no one-time prekey");
    use_up_one_time(ctx, d, k, 2 * VT_MAX_PREKEYS_PER_UPLOAD, &x);
    vcl_step(ctx, "another fetches a bundle with the last-resort prekey and waits");
    take_bundle(ctx, p2, k->name, dev, &x2);
    VCL_CHECK(ctx, x2.one_time_prekey_id == 0 && x2.last_resort_prekey_id != 0,
              "the second bundle holds no last-resort prekey");
    vcl_step(ctx, "the client replaces its signed and last-resort prekeys");
    VCL_CODE(ctx, (int)vt_client_rotate_prekeys(k->c, VCK_WAIT_MS), VT_OK);
    take_bundle(ctx, p3, k->name, dev, &x3);
    VCL_CHECK(ctx,
              x3.signed_prekey_id != x1.signed_prekey_id &&
                  x3.last_resort_prekey_id != x2.last_resort_prekey_id,
              "after the rotation the server still hands out signed prekey %u / last "
              "resort %u (the upload did not replace them; the case proves nothing)",
              x3.signed_prekey_id, x3.last_resort_prekey_id);
    vcl_step(ctx, "the waiting peers send PrekeyMessages made from the old bundles");
    vck_text(t1, "old-signed");
    VCL_CODE(ctx, vtc_peer_send_text(p1, k->name, t1, NULL), VT_OK);
    vck_text(t2, "old-last-resort");
    VCL_CODE(ctx, vtc_peer_send_text(p2, k->name, t2, NULL), VT_OK);
    vck_text(t3, "new-bundle");
    VCL_CODE(ctx, vtc_peer_send_text(p3, k->name, t3, NULL), VT_OK);
    vck_expect(k, vck_has_text, t3, VCK_WAIT_MS,
               "control: the message from the new bundle");
    vck_wait(k, vck_has_text, t2, VCK_QUIET_MS);
    VCL_CHECK(ctx, vck_has_text(k, t1),
              "a PrekeyMessage made from a bundle fetched before the signed prekey was "
              "replaced did not decrypt (CRYPTO-23)");
    VCL_CHECK(
        ctx, vck_has_text(k, t2),
        "a PrekeyMessage made from a bundle fetched before the signed and last-resort "
        "prekeys were replaced did not decrypt (CRYPTO-23, CRYPTO-30)");
}

/* ---- CRYPTO-121: a bare MESSAGE needs a session ------------------------------ */

static void bare_without_session(vcl_ctx *ctx)
{
    vtc_peer *p = peer(ctx, "peer"), *p2;
    vck_client *k = vck_account(ctx, "cli", NULL);
    vtc_peer_send_opts bare = {.bare = true};
    Ventra__V1__Content c = VENTRA__V1__CONTENT__INIT;
    Ventra__V1__DataMessage dm = VENTRA__V1__DATA_MESSAGE__INIT;
    char t1[64], t2[64], t3[64], t4[64], r[64];
    uint8_t mid[16];

    c.body_case = VENTRA__V1__CONTENT__BODY_DATA;
    c.data = &dm;
    vcl_step(ctx, "a peer the client has no session with sends a bare MESSAGE");
    vck_text(t1, "bare");
    dm.text = t1;
    dm.sent_at_ms = vtc_wall_ms();
    VCL_CODE(ctx, vtc_peer_send(p, k->name, &c, &bare, NULL), VT_OK);
    vck_pump(k, VCK_QUIET_MS);
    VCL_CHECK(ctx, vck_count_text(k, t1) == 0 && !vck_history_has(k, t1),
              "a bare MESSAGE from a device without a session was shown or stored");
    vcl_step(ctx, "the same session's next message, as a PrekeyMessage, is taken");
    vck_text(t2, "prekey");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t2, NULL), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS, "the PrekeyMessage shown");
    vck_pump(k, 300);
    VCL_CHECK(ctx, vck_count_text(k, t1) == 0,
              "the refused bare MESSAGE was shown later");
    vck_text(r, "reply");
    vck_send(k, vtc_peer_username(p), r, mid);
    VCL_CHECK(ctx, peer_gets(p, r, 5000), "the peer did not decrypt the client's reply");
    vcl_step(ctx, "a second device of the same account, without a session, sends a bare "
                  "MESSAGE");
    p2 = vtc_peer_link(p);
    vcl_defer(ctx, free_peer, p2);
    vck_text(t3, "bare2");
    dm.text = t3;
    dm.sent_at_ms = vtc_wall_ms();
    VCL_CODE(ctx, vtc_peer_send(p2, k->name, &c, &bare, NULL), VT_OK);
    vck_pump(k, VCK_QUIET_MS);
    VCL_CHECK(
        ctx, vck_count_text(k, t3) == 0,
        "a bare MESSAGE from %s/%u, a device without a session (the account's other "
        "device has one), was shown",
        vtc_peer_username(p2), vtc_peer_device_id(p2));
    vck_text(t4, "prekey2");
    VCL_CODE(ctx, vtc_peer_send_text(p2, k->name, t4, NULL), VT_OK);
    vck_expect(k, vck_has_text, t4, VCK_WAIT_MS,
               "the second device's PrekeyMessage shown");
    vck_text(t2, "first-device");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t2, NULL), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS,
               "the first device's session still works");
}

/* ---- CRYPTO-74: the responder's commit is atomic (a crash sweep) ------------ */

/* Counts the MessageEvents from |sender| passed to the client and, while
 * |drop_acks|, drops every Ack the client sends, so that the server pushes
 * the message again on the next connection. */
typedef struct sweep_hook {
    char sender[33];
    bool drop_acks;
    unsigned forwards, acks_dropped;
} sweep_hook;

static vck_verdict sweep_filter(void *ud, unsigned conn, vck_dir dir, const uint8_t *data,
                                size_t len, uint8_t **out, size_t *out_len)
{
    sweep_hook *h = ud;
    Ventra__V1__Frame *f;

    (void)conn;
    (void)out;
    (void)out_len;
    if (dir == VCK_TO_SERVER) {
        if (h->drop_acks &&
            vck_request_case(data, len) == VENTRA__V1__REQUEST__BODY_ACK) {
            h->acks_dropped++;
            return VCK_DROP;
        }
        return VCK_PASS;
    }
    if ((f = vck_decode(data, len)) == NULL)
        return VCK_PASS;
    if (f->kind_case == VENTRA__V1__FRAME__KIND_EVENT &&
        f->event->body_case == VENTRA__V1__EVENT__BODY_MESSAGE &&
        strcmp(f->event->message->sender, h->sender) == 0)
        h->forwards++;
    ventra__v1__frame__free_unpacked(f, NULL);
    return VCK_PASS;
}

static unsigned forwards(vck_proxy *px, sweep_hook *h)
{
    unsigned n;

    vck_proxy_lock(px);
    n = h->forwards;
    vck_proxy_unlock(px);
    return n;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

    nanosleep(&ts, NULL);
}

/* How many lines of what a child wrote to |fd| are |text|. */
static unsigned shown_by_child(int fd, const char *text)
{
    char buf[4096];
    size_t len = 0, tl = strlen(text);
    ssize_t r;
    unsigned n = 0;

    while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    for (char *line = buf, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1)
        n += (size_t)(nl - line) == tl && memcmp(line, text, tl) == 0;
    return n;
}

/* Where a run kills the client process: in its message callback, at the
 * Nth change of its data directory after the message reached it, or a
 * number of microseconds after the first such change. */
typedef struct kill_point {
    bool in_callback;
    unsigned nth_write;
    long after_us;
} kill_point;

static void describe(char out[64], const kill_point *kp)
{
    if (kp->in_callback)
        snprintf(out, 64, "in the message callback");
    else if (kp->nth_write)
        snprintf(out, 64, "at write %u to the data directory", kp->nth_write);
    else
        snprintf(out, 64, "%ld us after the first write", kp->after_us);
}

/* Waits for the |fw|+1st forward of the message, then kills |pid| at |kp|
 * (the directory is polled every 20 us, so "at write N" is at most that
 * late). */
static void kill_at(vcl_ctx *ctx, vck_client *k, vck_proxy *px, sweep_hook *h,
                    unsigned fw, int pid, int fd, const kill_point *kp)
{
    int64_t deadline = vtc_now_ms() + 15000;
    unsigned want = kp->nth_write ? kp->nth_write : 1, writes = 0;
    uint64_t last, now;

    while (forwards(px, h) <= fw && vtc_left_ms(deadline) > 0)
        sleep_us(50);
    VCL_CHECK(ctx, forwards(px, h) > fw,
              "the server did not push the PrekeyMessage to the client process");
    if (kp->in_callback) {
        struct pollfd pf = {fd, POLLIN, 0};

        (void)poll(&pf, 1, 5000); /* the child dies in its callback */
        vck_kill(ctx, pid);
        return;
    }
    last = vck_dir_stamp(k);
    deadline = vtc_now_ms() + 3000;
    while (writes < want && vtc_left_ms(deadline) > 0) {
        if ((now = vck_dir_stamp(k)) != last) {
            writes++;
            last = now;
        } else {
            sleep_us(20);
        }
    }
    if (writes < want)
        vcl_log(ctx, "only %u writes seen", writes);
    if (kp->after_us)
        sleep_us(kp->after_us);
    vck_kill(ctx, pid);
}

/* Whether |p| decrypts a DataMessage |text| among the next |n| messages. */
static bool peer_gets_among(vtc_peer *p, const char *text, int n)
{
    vtc_peer_msg m;
    bool got = false;

    for (int i = 0; i < n && !got && vtc_peer_recv(p, 3000, &m); i++) {
        got = m.error == VT_OK && vtc_peer_msg_text(&m) != NULL &&
              strcmp(vtc_peer_msg_text(&m), text) == 0;
        vtc_peer_msg_clear(&m);
    }
    return got;
}

/* CRYPTO-74 by crash sweep, not a proof: for each kill point the peer
 * starts a fresh session from a new bundle (so each PrekeyMessage is
 * committed with a one-time prekey of its own), the client runs in a
 * process of its own, the proxy keeps its Acks from the server, and the
 * process is SIGKILLed at that point of its processing of the message; the
 * client is then opened again from its store and the server pushes the
 * message again. A commit that is not atomic (say the session and the
 * one-time prekey deletion stored before the message, or the prekey deleted
 * without the session) loses the message when the kill falls in between:
 * the redelivery no longer decrypts. One that stores nothing durably before
 * the plaintext is released shows it twice. Required at every kill point:
 * once opened again the client holds the message in its history (never
 * lost; a kill between the commit and the callback leaves it stored but
 * not announced, which is allowed), and the message callbacks of both
 * processes announced it at most once (never twice). The kill points are
 * the callback itself, the Nth change of the data directory after the push
 * and a few delays after the first change: a sweep, not a proof; a moment
 * it misses proves nothing about it. */
static void commit_atomic(vcl_ctx *ctx)
{
    static const kill_point points[] = {
        {true, 0, 0},    {false, 1, 0},    {false, 2, 0},    {false, 3, 0},
        {false, 4, 0},   {false, 5, 0},    {false, 6, 0},    {false, 8, 0},
        {false, 10, 0},  {false, 12, 0},   {false, 14, 0},   {false, 16, 0},
        {false, 18, 0},  {false, 20, 0},   {false, 22, 0},   {false, 24, 0},
        {false, 27, 0},  {false, 30, 0},   {false, 0, 2000}, {false, 0, 4000},
        {false, 0, 6000}, {false, 0, 8000}, {false, 0, 11000}, {false, 0, 15000},
        {false, 0, 25000},
    };
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    sweep_hook h;
    char t[64], r[64];
    uint8_t mid[16];

    memset(&h, 0, sizeof h);
    snprintf(h.sender, sizeof h.sender, "%s", vtc_peer_username(p));
    vck_proxy_set_hook(px, sweep_filter, &h);
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        char where[64];
        unsigned fw, child_n, total;
        bool stored;
        int pid, fd;

        describe(where, &points[i]);
        vcl_step(ctx, "a new session's PrekeyMessage; the client process is killed %s",
                 where);
        vtc_peer_forget(p, k->name);
        vck_text(t, "sweep");
        VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t, NULL), VT_OK);
        vck_proxy_lock(px);
        h.drop_acks = true;
        fw = h.forwards;
        vck_proxy_unlock(px);
        pid = vck_fork_recv(k, points[i].in_callback, &fd);
        kill_at(ctx, k, px, &h, fw, pid, fd, &points[i]);
        child_n = shown_by_child(fd, t);
        vck_proxy_lock(px);
        h.drop_acks = false;
        fw = h.forwards;
        vck_proxy_unlock(px);
        vck_reopen(k);
        {
            int64_t deadline = vtc_now_ms() + VCK_WAIT_MS;

            while (forwards(px, &h) <= fw && vck_count_text(k, t) == 0 &&
                   vtc_left_ms(deadline) > 0)
                vck_pump(k, 50);
        }
        VCL_CHECK(ctx, forwards(px, &h) > fw || vck_count_text(k, t) > 0,
                  "the server did not push the unacknowledged message again after "
                  "the kill (the case proves nothing)");
        vck_pump(k, 500);
        total = child_n + (unsigned)vck_count_text(k, t);
        stored = vck_history_has(k, t);
        vcl_log(ctx, "killed %s: shown %u time(s) before the kill, %u after; %s", where,
                child_n, total - child_n, stored ? "in the history" : "not stored");
        VCL_CHECK(ctx, stored,
                  "a PrekeyMessage was lost: the client was killed %s and, opened "
                  "again, has not stored the message pushed again (shown %u time(s); "
                  "the commit of step 10 was not atomic, CRYPTO-74)",
                  where, total);
        VCL_CHECK(ctx, total <= 1,
                  "a PrekeyMessage was shown %u times: the client was killed %s and "
                  "showed it again when pushed again",
                  total, where);
    }
    vcl_step(ctx, "the last session works both ways");
    vck_text(r, "reply");
    vck_send(k, vtc_peer_username(p), r, mid);
    VCL_CHECK(ctx, peer_gets_among(p, r, 40), "the peer did not decrypt the client's reply");
    vck_text(t, "after");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t, NULL), VT_OK);
    vck_expect(k, vck_has_text, t, VCK_WAIT_MS, "the peer's next message shown");
}

/* ---- CRYPTO-124/125: a losing session is deleted when it loses its place ---- */

static void free_ratchet(void *r)
{
    vt_ratchet_free(r);
}

/* The client's identity key, from the server's device list. */
static void client_key(vcl_ctx *ctx, vtc_peer *p, vck_client *k, uint8_t out[32])
{
    Ventra__V1__Response *r = vtc_rpc_list_devices(vtc_peer_device(p)->c, k->name);
    uint32_t dev = vt_client_device_id(k->c);
    bool found = false;

    VCL_CHECK(ctx, r != NULL && vtc_error_code(r) == 0 &&
                       r->body_case == VENTRA__V1__RESPONSE__BODY_LIST_DEVICES,
              "ListDevices(%s) failed", k->name);
    for (size_t i = 0; i < r->list_devices->n_devices && !found; i++) {
        const Ventra__V1__DeviceInfo *d = r->list_devices->devices[i];

        if (d->device_id == dev && d->identity_key.len == 32) {
            memcpy(out, d->identity_key.data, 32);
            found = true;
        }
    }
    vtc_response_free(r);
    VCL_CHECK(ctx, found, "ListDevices(%s) does not list device %u", k->name, dev);
}

/* Sends |text| from |p| in the session |*s| (put back in |*s| afterwards,
 * advanced), the peer's current session staying what it was. */
static void send_in(vcl_ctx *ctx, vtc_peer *p, vck_client *k, vt_ratchet **s,
                    const char *text)
{
    uint32_t dev = vt_client_device_id(k->c);
    vt_ratchet *cur = vtc_peer_session_swap(p, k->name, dev, *s);
    vt_err rc = vtc_peer_send_text(p, k->name, text, NULL);

    *s = vtc_peer_session_swap(p, k->name, dev, cur);
    VCL_CODE(ctx, rc, VT_OK);
}

/* Simultaneous initiation (CRYPTO-124) with the client's identity key the
 * lower one, so that the client keeps the peer's sessions as losing ones:
 * S_C, the client's session, stays current; the peer's S1 is kept as the
 * losing one; a second PrekeyMessage from the peer (S2, new base key)
 * takes S1's place, so S1 must be gone (CRYPTO-125): a PrekeyMessage of S1
 * is not shown (its base key is used, CRYPTO-76), while S2 still decrypts.
 * Then S_C is confirmed and replaced by a third session S3 from the peer,
 * so S2 must be gone too: a PrekeyMessage of S2 is not shown. A client that
 * kept either losing session would decrypt and show those messages. */
static void losing_deleted(vcl_ctx *ctx)
{
    vck_client *k = vck_account(ctx, "cli", NULL);
    uint32_t dev = vt_client_device_id(k->c);
    uint8_t cik[32];
    vtc_peer *p = NULL;
    vt_ratchet *s1 = NULL, *s2 = NULL, *sc = NULL;
    char c1[64], t1[64], t2[64], t3[64], t4[64], t5[64], t6[64], t7[64], t8[64],
        r1[64];
    uint8_t mid[16];
    int tries;

    vcl_step(ctx, "accounts are registered until the peer's identity key is the higher");
    for (tries = 0; tries < 64; tries++) {
        if (tries % 8 == 7) { /* a client key this high is unlucky: a new client */
            k = vck_account(ctx, "cli", NULL);
            dev = vt_client_device_id(k->c);
        }
        p = peer(ctx, "peer");
        client_key(ctx, p, k, cik);
        if (memcmp(cik, vtc_peer_identity_key(p), 32) < 0)
            break;
    }
    VCL_CHECK(ctx, tries < 64, "no peer with a higher identity key than the client's");
    vcl_log(ctx, "the client's key is lower after %d peer(s)", tries + 1);
    vcl_step(ctx, "both start a session at once: the peer takes a bundle, the client "
                  "writes first");
    VCL_CODE(ctx, vtc_peer_start_sessions(p, k->name), VT_OK);
    vck_text(c1, "client-first");
    vck_send(k, vtc_peer_username(p), c1, mid);
    vck_text(t1, "s1");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t1, NULL), VT_OK);
    vck_expect(k, vck_has_text, t1, VCK_WAIT_MS,
               "the peer's PrekeyMessage (a losing session at the client) shown");
    vcl_step(ctx, "the peer starts a second session (new base key): it takes the first "
                  "losing session's place");
    s1 = vtc_peer_session_swap(p, k->name, dev, NULL);
    vcl_defer(ctx, free_ratchet, s1); /* freed after the case, whatever it holds then */
    VCL_CHECK(ctx, s1 != NULL, "the peer holds no session S1");
    vck_text(t2, "s2");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t2, NULL), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS, "the second session's message shown");
    vcl_step(ctx, "the peer writes in the first (replaced) losing session");
    vck_text(t3, "s1-again");
    send_in(ctx, p, k, &s1, t3);
    vck_pump(k, VCK_QUIET_MS);
    VCL_CHECK(ctx, vck_count_text(k, t3) == 0,
              "a PrekeyMessage of a losing session that another losing session had "
              "replaced was decrypted and shown (CRYPTO-125: it must be deleted)");
    vcl_step(ctx, "control: the losing session that took its place still decrypts");
    vck_text(t4, "s2-again");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t4, NULL), VT_OK);
    vck_expect(k, vck_has_text, t4, VCK_WAIT_MS,
               "the current losing session's PrekeyMessage shown");
    vcl_step(ctx, "the peer takes the client's session; its reply confirms it");
    s2 = vtc_peer_session_swap(p, k->name, dev, NULL);
    vcl_defer(ctx, free_ratchet, s2);
    VCL_CHECK(ctx, peer_gets_among(p, c1, 20),
              "the peer did not decrypt the client's first message");
    vck_text(t5, "sc");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t5, NULL), VT_OK);
    vck_expect(k, vck_has_text, t5, VCK_WAIT_MS,
               "the peer's reply in the client's session shown");
    vcl_step(ctx, "the peer starts a third session: it replaces the client's current "
                  "one");
    sc = vtc_peer_session_swap(p, k->name, dev, NULL);
    vcl_defer(ctx, free_ratchet, sc);
    vck_text(t6, "s3");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t6, NULL), VT_OK);
    vck_expect(k, vck_has_text, t6, VCK_WAIT_MS, "the third session's message shown");
    vcl_step(ctx, "the peer writes in the losing session of the replaced pair");
    vck_text(t7, "s2-late");
    send_in(ctx, p, k, &s2, t7);
    vck_pump(k, VCK_QUIET_MS);
    VCL_CHECK(ctx, vck_count_text(k, t7) == 0,
              "a PrekeyMessage of the losing session was decrypted and shown after the "
              "current session had been replaced (CRYPTO-125: it must be deleted)");
    vcl_step(ctx, "the surviving session works both ways");
    vck_text(r1, "reply");
    vck_send(k, vtc_peer_username(p), r1, mid);
    VCL_CHECK(ctx, peer_gets_among(p, r1, 20),
              "the peer did not decrypt the client's reply in the third session");
    vck_text(t8, "s3-again");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t8, NULL), VT_OK);
    vck_expect(k, vck_has_text, t8, VCK_WAIT_MS, "the third session's next message shown");
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
     bad_bundle_signature},
    {"sessions/prekey-ids", "CRYPTO-20 CRYPTO-25 CRYPTO-27", VCL_MUST, 0,
     "uploaded prekeys: non-zero ids never reused, valid and distinct X25519 keys",
     prekey_ids},
    {"sessions/last-resort-reuse", "CRYPTO-29", VCL_MUST, 0,
     "two peers start sessions from the same last-resort prekey; both get through",
     last_resort_reuse},
    {"sessions/prekey-grace", "CRYPTO-23 CRYPTO-30", VCL_MUST, 0,
     "PrekeyMessages from bundles fetched before a rotation still decrypt", prekey_grace},
    {"sessions/bare-message-no-session", "CRYPTO-121", VCL_MUST, 0,
     "a bare MESSAGE from a device without a session is refused; nothing changes",
     bare_without_session},
    {"sessions/commit-atomic", "CRYPTO-74", VCL_MUST, 0,
     "a client killed around its commit of a PrekeyMessage shows it exactly once",
     commit_atomic},
    {"sessions/losing-deleted", "CRYPTO-125", VCL_MUST, 0,
     "a losing session replaced or whose pair's current session is replaced is deleted",
     losing_deleted}, );
