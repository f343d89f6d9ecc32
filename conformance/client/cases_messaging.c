/* Client tier, messaging: what the client puts in what it sends, as the
 * peer decrypts it (spec/security.md SEC-1, SEC-2, SEC-3, SEC-9; crypto.md
 * CRYPTO-10, CRYPTO-93, CRYPTO-120, CRYPTO-130; delivery.md DELIV-82,
 * DELIV-85, DELIV-87). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_kit.h"
#include "vt_constants.h"
#include "ventra/x3dh.h"
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

/* The next message of |p| whose body is |body| (a Ventra__V1__Content
 * body case), skipping others; fails the case when none comes. */
static void recv_body(vcl_ctx *ctx, vtc_peer *p, int body, vtc_peer_msg *m)
{
    for (int i = 0; i < 6; i++) {
        if (!vtc_peer_recv(p, 5000, m))
            break;
        VCL_CHECK(ctx, m->error == VT_OK,
                  "the peer could not decrypt the client's message: %s",
                  vt_strerror(m->error));
        if (m->body != NULL && (int)m->body->body_case == body)
            return;
        vtc_peer_msg_clear(m);
    }
    vcl_failf(ctx, "the peer received no Content of body case %d from the client", body);
}

/* CRYPTO-130, computed here from the raw bytes: B is the length without
 * field 15; p the smallest >= 1 with B + 1 + varint_len(p) + p a multiple
 * of PADDING_BLOCK, or 0 when B is a positive multiple already. */
static void check_padding(vcl_ctx *ctx, const vtc_peer_msg *m, const char *what)
{
    const uint8_t *c = m->content;
    size_t n = m->content_len, i = 0, b = 0, pad = 0, want;
    int fields15 = 0;

    VCL_CHECK(ctx, c != NULL, "%s: no content", what);
    VCL_CHECK(ctx, n % VT_PADDING_BLOCK == 0,
              "%s: the Content is %zu bytes, not a multiple of PADDING_BLOCK (%u)", what,
              n, VT_PADDING_BLOCK);
    while (i < n) {
        size_t start = i, shift = 0;
        uint64_t tag = 0, l = 0;

        do {
            tag |= (uint64_t)(c[i] & 0x7f) << shift;
            shift += 7;
        } while (c[i++] & 0x80 && i < n);
        VCL_CHECK(ctx, (tag & 7) == 2 || (tag & 7) == 0, "%s: unexpected wire type",
                  what);
        shift = 0;
        do {
            l |= (uint64_t)(c[i] & 0x7f) << shift;
            shift += 7;
        } while (c[i++] & 0x80 && i < n);
        if ((tag & 7) == 2)
            i += l;
        VCL_CHECK(ctx, i <= n, "%s: a truncated field", what);
        if (tag >> 3 == 15) {
            fields15++;
            pad = (size_t)l;
        } else {
            b += i - start;
        }
    }
    VCL_CHECK(ctx, fields15 <= 1, "%s: %d padding fields", what, fields15);
    want = 0;
    if (b == 0 || b % VT_PADDING_BLOCK != 0)
        for (want = 1;; want++) {
            size_t vl = want < 128 ? 1 : want < 16384 ? 2 : 3;

            if ((b + 1 + vl + want) % VT_PADDING_BLOCK == 0)
                break;
        }
    VCL_CHECK(ctx, pad == want,
              "%s: %zu bytes of padding for B = %zu, CRYPTO-130 gives %zu", what, pad, b,
              want);
}

static void padded(vcl_ctx *ctx)
{
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", NULL);
    char t1[64], t2[64];
    uint8_t mid[16], pmid[16];
    vtc_peer_msg m;

    vck_text(t1, "hello");
    vcl_step(ctx, "the client sends a text");
    vck_send(k, vtc_peer_username(p), t1, mid);
    recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_DATA, &m);
    check_padding(ctx, &m, "a DataMessage");
    vtc_peer_msg_clear(&m);
    vcl_step(ctx, "the peer writes; the client's delivered receipt");
    vck_text(t2, "reply");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t2, pmid), VT_OK);
    vck_expect(k, vck_has_text, t2, VCK_WAIT_MS, "the peer's message shown");
    vck_pump(k, 300);
    recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_RECEIPT, &m);
    check_padding(ctx, &m, "a ReceiptMessage");
    vtc_peer_msg_clear(&m);
    vcl_step(ctx, "a typing indicator");
    VCL_CODE(ctx, (int)vt_client_send_typing(k->c, vtc_peer_username(p), true), VT_OK);
    vck_pump(k, 300);
    recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_TYPING, &m);
    check_padding(ctx, &m, "a TypingMessage");
    vtc_peer_msg_clear(&m);
    for (int len = 100; len <= 400; len += 150) {
        char *t = calloc(1, (size_t)len + 1);

        VCL_CHECK(ctx, t != NULL, "out of memory");
        vcl_defer(ctx, free, t);
        memset(t, 'a' + len % 26, (size_t)len);
        vcl_step(ctx, "a text of %d bytes", len);
        vck_send(k, vtc_peer_username(p), t, mid);
        recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_DATA, &m);
        check_padding(ctx, &m, "a longer DataMessage");
        vtc_peer_msg_clear(&m);
    }
}

static void typing_ephemeral(vcl_ctx *ctx)
{
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", NULL);
    char t1[64];
    uint8_t mid[16];
    vtc_peer_msg m;

    vcl_step(ctx, "typing started and stopped");
    VCL_CODE(ctx, (int)vt_client_send_typing(k->c, vtc_peer_username(p), true), VT_OK);
    vck_pump(k, 300);
    recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_TYPING, &m);
    VCL_CHECK(ctx, m.ephemeral && m.seq == 0, "a TypingMessage came in a stored send");
    vtc_peer_msg_clear(&m);
    VCL_CODE(ctx, (int)vt_client_send_typing(k->c, vtc_peer_username(p), false), VT_OK);
    vck_pump(k, 300);
    recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_TYPING, &m);
    VCL_CHECK(ctx, m.ephemeral, "a TypingMessage came in a stored send");
    vtc_peer_msg_clear(&m);
    vcl_step(ctx, "a text");
    vck_text(t1, "text");
    vck_send(k, vtc_peer_username(p), t1, mid);
    recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_DATA, &m);
    VCL_CHECK(ctx, !m.ephemeral, "a DataMessage came in an ephemeral send");
    vtc_peer_msg_clear(&m);
}

static bool has_receipt_for(const vtc_peer_msg *m, const uint8_t mid[16], bool *read)
{
    const Ventra__V1__ReceiptMessage *r = m->body->receipt;

    for (size_t i = 0; r != NULL && i < r->n_message_ids; i++)
        if (r->message_ids[i].len == 16 && memcmp(r->message_ids[i].data, mid, 16) == 0) {
            *read = r->type == VENTRA__V1__RECEIPT_TYPE__RECEIPT_TYPE_READ;
            return true;
        }
    return false;
}

static void receipts(vcl_ctx *ctx)
{
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", NULL);
    char t[64];
    uint8_t pmid[16], mid[16];
    vtc_peer_msg m;
    bool read = false;

    vcl_step(ctx, "the peer writes; the client shows it");
    vck_text(t, "hi");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t, pmid), VT_OK);
    vck_expect(k, vck_has_text, t, VCK_WAIT_MS, "the peer's message shown");
    VCL_CHECK(ctx, vck_history_has(k, t), "shown but not in the history");
    vcl_step(ctx, "the user reads it");
    VCL_CODE(ctx, (int)vt_client_mark_read(k->c, vtc_peer_username(p), pmid), VT_OK);
    for (int i = 0; i < 4 && !read; i++) {
        vck_pump(k, 300);
        recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_RECEIPT, &m);
        VCL_CHECK(ctx, m.group_id_len == 0, "a receipt went in a group send");
        VCL_CHECK(ctx, !m.ephemeral, "a receipt went in an ephemeral send");
        VCL_CHECK(ctx, m.body->receipt->n_message_ids <= 64, "%zu ids in one receipt",
                  m.body->receipt->n_message_ids);
        VCL_CHECK(ctx, has_receipt_for(&m, pmid, &read),
                  "a receipt that does not name the message by its id");
        vtc_peer_msg_clear(&m);
    }
    VCL_CHECK(ctx, read, "no read receipt after vt_client_mark_read");
    vcl_step(ctx, "the peer sends receipts and typing: the client answers none of them");
    vck_text(t, "mine");
    vck_send(k, vtc_peer_username(p), t, mid);
    recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_DATA, &m);
    vtc_peer_msg_clear(&m);
    VCL_CODE(ctx, vtc_peer_send_receipt(p, k->name, (const uint8_t(*)[16])mid, 1, false),
             VT_OK);
    VCL_CODE(ctx, vtc_peer_send_receipt(p, k->name, (const uint8_t(*)[16])mid, 1, true),
             VT_OK);
    VCL_CODE(ctx, vtc_peer_send_typing(p, k->name, true), VT_OK);
    vck_pump(k, VCK_QUIET_MS);
    while (vtc_peer_recv(p, 500, &m)) {
        bool bad =
            m.body != NULL && m.body->body_case == VENTRA__V1__CONTENT__BODY_RECEIPT;

        vtc_peer_msg_clear(&m);
        VCL_CHECK(ctx, !bad,
                  "the client sent a receipt for a receipt or a typing indicator");
    }
}

/* DELIV-82 through the proxy: no Ack holding seq 0. */
static void no_ack_ephemeral(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    char t[64];
    vck_rec *recs;
    size_t n = 0, acks = 0;

    vcl_step(ctx, "the peer sends a stored text, then typing (ephemeral)");
    vck_text(t, "stored");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t, NULL), VT_OK);
    vck_expect(k, vck_has_text, t, VCK_WAIT_MS, "the text shown");
    VCL_CODE(ctx, vtc_peer_send_typing(p, k->name, true), VT_OK);
    for (int i = 0; i < 40 && k->ntyping == 0; i++)
        vck_pump(k, 100);
    VCL_CHECK(ctx, k->ntyping > 0,
              "the client reported no typing (the case proves nothing)");
    vck_pump(k, VCK_QUIET_MS);
    recs = vck_proxy_records(px, &n);
    for (size_t i = 0; i < n; i++) {
        Ventra__V1__Frame *f;

        if (recs[i].dir != VCK_TO_SERVER ||
            (f = vck_decode(recs[i].data, recs[i].len)) == NULL)
            continue;
        if (f->kind_case == VENTRA__V1__FRAME__KIND_REQUEST &&
            f->request->body_case == VENTRA__V1__REQUEST__BODY_ACK) {
            for (size_t j = 0; j < f->request->ack->n_seqs; j++) {
                bool zero = f->request->ack->seqs[j] == 0;

                if (zero) {
                    ventra__v1__frame__free_unpacked(f, NULL);
                    vck_recs_free(recs, n);
                    vcl_failf(ctx,
                              "the client acknowledged seq 0 (an ephemeral message)");
                }
                acks++;
            }
        }
        ventra__v1__frame__free_unpacked(f, NULL);
    }
    vck_recs_free(recs, n);
    VCL_CHECK(ctx, acks > 0,
              "the client acknowledged nothing at all (the stored text either)");
}

/* SEC-2 through the proxy: nothing the user wrote appears in what the client
 * sends to the server. */
static void nothing_in_clear(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    char t[64], g[64];
    const char *member = vtc_peer_username(p);
    uint8_t mid[16], gid[16];
    vtc_peer_msg m;
    vck_rec *recs;
    size_t n = 0;

    vck_text(t, "secret-text");
    vck_text(g, "secret-group");
    vcl_step(ctx, "a text, a typing indicator and a group with a name");
    vck_send(k, member, t, mid);
    recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_DATA, &m);
    vtc_peer_msg_clear(&m);
    VCL_CODE(ctx, (int)vt_client_send_typing(k->c, member, true), VT_OK);
    vck_pump(k, 300);
    VCL_CODE(ctx, (int)vt_client_group_create(k->c, g, &member, 1, gid, VCK_WAIT_MS),
             VT_OK);
    vck_pump(k, VCK_QUIET_MS);
    recs = vck_proxy_records(px, &n);
    for (size_t i = 0; i < n; i++) {
        bool bad = recs[i].dir == VCK_TO_SERVER &&
                   (vck_contains(recs[i].data, recs[i].len, t, strlen(t)) ||
                    vck_contains(recs[i].data, recs[i].len, g, strlen(g)));

        if (bad) {
            vck_recs_free(recs, n);
            vcl_failf(ctx,
                      "a frame to the server holds the text or the group name in clear");
        }
    }
    vck_recs_free(recs, n);
}

/* CRYPTO-120: one envelope per device, each decrypting with its current
 * session: a peer account of two devices and the client's own second device. */
static void fan_out(vcl_ctx *ctx)
{
    vtc_peer *p1 = peer(ctx, "peer");
    vtc_peer *p2 = vtc_peer_link(p1);
    vck_client *a = vck_account(ctx, "cli", NULL), *a2;
    char t[64];
    uint8_t mid[16];

    vcl_defer(ctx, free_peer, p2);
    a2 = vck_link(ctx, a, NULL, NULL);
    for (int round = 0; round < 2; round++) {
        vtc_peer *ps[2] = {p1, p2};

        vck_text(t, round ? "second" : "first");
        vcl_step(ctx, "the client sends message %d", round + 1);
        vck_send(a, vtc_peer_username(p1), t, mid);
        for (int i = 0; i < 2; i++) {
            vtc_peer_msg m;
            bool ok;

            recv_body(ctx, ps[i], VENTRA__V1__CONTENT__BODY_DATA, &m);
            ok = vtc_peer_msg_text(&m) != NULL && strcmp(vtc_peer_msg_text(&m), t) == 0 &&
                 memcmp(m.message_id, mid, 16) == 0;
            VCL_CHECK(
                ctx, round == 0 || !m.new_session,
                "device %d: the second message made a new session (not the current one)",
                i + 1);
            vtc_peer_msg_clear(&m);
            VCL_CHECK(ctx, ok, "peer device %d did not get the text", i + 1);
        }
        vck_expect(a2, vck_has_text, t, VCK_WAIT_MS,
                   "the sync copy on the client's 2nd device");
    }
}

/* SEC-9, CRYPTO-10 (weak: randomness is not provable from outside): the
 * message ids of 8 messages and the identity keys of 2 registrations all
 * differ and are not all-zero. */
static void fresh_randomness(vcl_ctx *ctx)
{
    vtc_peer *p = peer(ctx, "peer");
    vck_client *a = vck_account(ctx, "cli", NULL), *b = vck_account(ctx, "cli", NULL);
    uint8_t mids[8][16], zero[16] = {0};
    Ventra__V1__Response *ra, *rb;
    bool differ;

    for (int i = 0; i < 8; i++) {
        char t[64];

        vck_text(t, "n");
        VCL_CODE(ctx, (int)vt_client_send_text(a->c, vtc_peer_username(p), t, mids[i]),
                 VT_OK);
        VCL_CHECK(ctx, memcmp(mids[i], zero, 16) != 0, "an all-zero message id");
        for (int j = 0; j < i; j++)
            VCL_CHECK(ctx, memcmp(mids[i], mids[j], 16) != 0, "two messages with one id");
    }
    vcl_step(ctx, "the identity keys of two registrations");
    ra = vtc_rpc_list_devices(vtc_peer_device(p)->c, a->name);
    rb = vtc_rpc_list_devices(vtc_peer_device(p)->c, b->name);
    VCL_CHECK(ctx,
              ra && rb && ra->list_devices && rb->list_devices &&
                  ra->list_devices->n_devices == 1 && rb->list_devices->n_devices == 1,
              "ListDevices of the two accounts failed");
    differ = ra->list_devices->devices[0]->identity_key.len == 32 &&
             memcmp(ra->list_devices->devices[0]->identity_key.data,
                    rb->list_devices->devices[0]->identity_key.data, 32) != 0;
    vtc_response_free(ra);
    vtc_response_free(rb);
    VCL_CHECK(ctx, differ, "two registrations have the same identity key");
}

/* ---- SEC-1: no shared secret leaves the client ------------------------------------
 *
 * The peer records every secret its sessions with the client held or
 * derived (root keys, chain keys, message keys, their AES keys and nonces,
 * the X3DH SK of the session the client started): the client derived the
 * same ones, so none may appear in anything the client sent, raw or in
 * hex. The limit: the client's own private keys (identity, prekeys,
 * ratchet and X3DH ephemeral keys) are never seen from outside, so this
 * case cannot look for them; only the secrets it shares with the peer. */

static bool hex_contains(const uint8_t *hay, size_t len, const uint8_t *b, size_t n,
                         bool upper)
{
    static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
    const char *d = upper ? up : lo;
    char h[65];

    for (size_t i = 0; i < n; i++) {
        h[2 * i] = d[b[i] >> 4];
        h[2 * i + 1] = d[b[i] & 15];
    }
    return vck_contains(hay, len, h, 2 * n);
}

/* Which secret of |p| occurs in |hay| (-1: none). */
static long leaked(const vtc_peer *p, const uint8_t *hay, size_t len)
{
    const vtc_peer_secret *sec;
    size_t n = vtc_peer_secrets(p, &sec);

    for (size_t i = 0; i < n; i++)
        if (vck_contains(hay, len, sec[i].bytes, sec[i].len) ||
            hex_contains(hay, len, sec[i].bytes, sec[i].len, false) ||
            hex_contains(hay, len, sec[i].bytes, sec[i].len, true))
            return (long)i;
    return -1;
}

static void no_secrets_leave(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    const char *member = vtc_peer_username(p);
    const vtc_peer_secret *sec;
    char t[64];
    uint8_t mid[16], gid[16];
    vtc_peer_msg m;
    vck_rec *recs;
    size_t n = 0, nsec;

    vcl_step(ctx, "the client starts a session; messages go both ways, several turns");
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 2; i++) {
            vck_text(t, "to-peer");
            vck_send(k, member, t, mid);
            recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_DATA, &m);
            VCL_CHECK(ctx, leaked(p, m.content, m.content_len) < 0,
                      "a Content the client sent holds a session secret");
            vtc_peer_msg_clear(&m);
        }
        vck_text(t, "to-client");
        VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t, NULL), VT_OK);
        vck_expect(k, vck_has_text, t, VCK_WAIT_MS, "the peer's message shown");
    }
    vcl_step(ctx, "a read receipt, typing and a group");
    VCL_CODE(ctx, (int)vt_client_mark_read(k->c, member, k->msgs[k->nmsg - 1].message_id),
             VT_OK);
    VCL_CODE(ctx, (int)vt_client_send_typing(k->c, member, true), VT_OK);
    VCL_CODE(ctx, (int)vt_client_group_create(k->c, "g", &member, 1, gid, VCK_WAIT_MS),
             VT_OK);
    vck_pump(k, VCK_QUIET_MS);
    while (vtc_peer_recv(p, 500, &m)) {
        VCL_CHECK(ctx, m.content == NULL || leaked(p, m.content, m.content_len) < 0,
                  "a Content the client sent holds a session secret");
        vtc_peer_msg_clear(&m);
    }
    nsec = vtc_peer_secrets(p, &sec);
    VCL_CHECK(ctx, nsec >= 20, "the peer recorded only %zu secrets (proves little)",
              nsec);
    vcl_log(ctx, "%zu secrets looked for", nsec);
    recs = vck_proxy_records(px, &n);
    for (size_t i = 0; i < n; i++) {
        long which;

        if (recs[i].dir != VCK_TO_SERVER)
            continue;
        which = leaked(p, recs[i].data, recs[i].len);
        if (which >= 0) {
            int body = vck_request_case(recs[i].data, recs[i].len);

            vck_recs_free(recs, n);
            vcl_failf(ctx,
                      "a frame the client sent (request body %d) holds secret #%ld of "
                      "its session (%zu bytes)",
                      body, which, sec[which].len);
        }
    }
    vck_recs_free(recs, n);
}

/* ---- CRYPTO-93: the advanced sending state is stored before the send ----------- */

typedef struct watch_send {
    bool on;
    uint32_t send_id;
    bool answered; /* the Send's response went to the client */
} watch_send;

static vck_verdict watch_sends(void *ud, unsigned conn, vck_dir dir, const uint8_t *data,
                               size_t len, uint8_t **out, size_t *out_len)
{
    watch_send *w = ud;
    Ventra__V1__Frame *f;

    (void)conn;
    (void)out;
    (void)out_len;
    if (!w->on || (f = vck_decode(data, len)) == NULL)
        return VCK_PASS;
    if (dir == VCK_TO_SERVER && f->kind_case == VENTRA__V1__FRAME__KIND_REQUEST &&
        f->request->body_case == VENTRA__V1__REQUEST__BODY_SEND &&
        f->request->send->n_to_recipient > 0 && w->send_id == 0)
        w->send_id = f->request->id;
    else if (dir == VCK_TO_CLIENT && f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE &&
             w->send_id != 0 && f->response->id == w->send_id)
        w->answered = true;
    ventra__v1__frame__free_unpacked(f, NULL);
    return VCK_PASS;
}

/* The ratchet header's (DHs, N) of one envelope content (CRYPTO-86), the
 * ratchet message inside a PrekeyMessage for ENVELOPE_TYPE_PREKEY. */
static bool header_of(int type, const ProtobufCBinaryData *c, uint8_t key[36],
                      const uint8_t **msg, size_t *msg_len)
{
    vt_prekey_message pm;

    if (type == VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY) {
        if (vt_prekey_message_decode(&pm, c->data, c->len) != VT_OK)
            return false;
        *msg = pm.message;
        *msg_len = pm.message_len;
    } else {
        *msg = c->data;
        *msg_len = c->len;
    }
    if (*msg_len < VT_RATCHET_OVERHEAD)
        return false;
    memcpy(key, *msg + 1, 32);      /* DHs.public */
    memcpy(key + 32, *msg + 37, 4); /* N */
    return true;
}

typedef struct sent_env {
    uint8_t key[36];
    uint8_t *msg;
    size_t len;
} sent_env;

static void free_envs(sent_env *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].msg);
    free(e);
}

/* Fails when two envelopes the client sent to |device| carry the same
 * (DHs, N), and so the same message key, over different ciphertexts. */
static void check_no_key_reuse(vcl_ctx *ctx, vck_proxy *px, uint32_t device)
{
    vck_rec *recs;
    size_t n = 0, ne = 0, nsend = 0;
    sent_env *envs = NULL;
    char why[160] = "";

    recs = vck_proxy_records(px, &n);
    for (size_t i = 0; i < n && !why[0]; i++) {
        Ventra__V1__Frame *f;

        if (recs[i].dir != VCK_TO_SERVER ||
            vck_request_case(recs[i].data, recs[i].len) !=
                VENTRA__V1__REQUEST__BODY_SEND ||
            (f = vck_decode(recs[i].data, recs[i].len)) == NULL)
            continue;
        nsend++;
        for (size_t j = 0; j < f->request->send->n_to_recipient && !why[0]; j++) {
            const Ventra__V1__OutgoingEnvelope *e = f->request->send->to_recipient[j];
            const uint8_t *msg;
            size_t mlen;
            uint8_t key[36];
            sent_env *ne2;

            if (e->device_id != device ||
                !header_of((int)e->type, &e->content, key, &msg, &mlen))
                continue;
            for (size_t q = 0; q < ne && !why[0]; q++)
                if (memcmp(envs[q].key, key, 36) == 0 &&
                    (envs[q].len != mlen || memcmp(envs[q].msg, msg, mlen) != 0))
                    snprintf(why, sizeof why,
                             "two different ratchet messages with the same DHs and N "
                             "(%u): one message key used twice",
                             (unsigned)key[32] << 24 | (unsigned)key[33] << 16 |
                                 (unsigned)key[34] << 8 | key[35]);
            if ((ne2 = realloc(envs, (ne + 1) * sizeof *envs)) == NULL)
                break;
            envs = ne2;
            memcpy(envs[ne].key, key, 36);
            envs[ne].msg = malloc(mlen);
            envs[ne].len = envs[ne].msg != NULL ? mlen : 0;
            if (envs[ne].msg != NULL)
                memcpy(envs[ne].msg, msg, mlen);
            ne++;
        }
        ventra__v1__frame__free_unpacked(f, NULL);
    }
    vck_recs_free(recs, n);
    free_envs(envs, ne);
    VCL_CHECK(ctx, !why[0], "%s", why);
    VCL_CHECK(ctx, ne >= 3, "only %zu envelopes to the peer in %zu Sends (proves little)",
              ne, nsend);
}

static void state_before_send(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vtc_peer *p = peer(ctx, "peer");
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    const char *member = vtc_peer_username(p);
    watch_send w = {false, 0, false};
    char t0[64], t1[64], t2[64];
    bool got1 = false, got2 = false, answered = false;
    uint8_t mid[16];
    int64_t deadline;
    vtc_peer_msg m;
    int pid;

    vcl_step(ctx, "the client and the peer exchange a message each");
    vck_text(t0, "first");
    vck_send(k, member, t0, mid);
    recv_body(ctx, p, VENTRA__V1__CONTENT__BODY_DATA, &m);
    vtc_peer_msg_clear(&m);
    vck_text(t0, "back");
    VCL_CODE(ctx, vtc_peer_send_text(p, k->name, t0, NULL), VT_OK);
    vck_expect(k, vck_has_text, t0, VCK_WAIT_MS, "the peer's message shown");
    vck_pump(k, 500);
    vck_proxy_set_hook(px, watch_sends, &w);
    vck_proxy_lock(px);
    w.on = true;
    vck_proxy_unlock(px);
    vcl_step(ctx, "the client, in a process of its own, sends message 1; it is killed "
                  "(SIGKILL) as soon as the server has answered the Send");
    vck_text(t1, "before-kill");
    pid = vck_fork_send(k, member, t1);
    deadline = vtc_now_ms() + 15000;
    while (!answered && vtc_left_ms(deadline) > 0) {
        poll(NULL, 0, 2);
        vck_proxy_lock(px);
        answered = w.answered;
        vck_proxy_unlock(px);
    }
    vck_kill(ctx, pid);
    VCL_CHECK(ctx, answered, "the client process sent no Send within 15 s");
    vck_proxy_lock(px);
    w.on = false;
    vck_proxy_unlock(px);
    vcl_step(ctx, "the client is opened again from its store and sends message 2");
    vck_reopen(k);
    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE");
    vck_text(t2, "after-kill");
    vck_send(k, member, t2, mid);
    vck_pump(k, 500);
    for (int i = 0; i < 6 && !(got1 && got2) && vtc_peer_recv(p, 5000, &m); i++) {
        const char *text = vtc_peer_msg_text(&m);

        VCL_CHECK(ctx, m.error == VT_OK || m.duplicate,
                  "the peer could not decrypt a message of the client after the kill: %s "
                  "(a message key used again?)",
                  vt_strerror(m.error));
        got1 |= text != NULL && strcmp(text, t1) == 0;
        got2 |= text != NULL && strcmp(text, t2) == 0;
        vtc_peer_msg_clear(&m);
    }
    VCL_CHECK(ctx, got1, "the peer did not decrypt message 1 (sent before the kill)");
    VCL_CHECK(ctx, got2, "the peer did not decrypt message 2 (sent after the kill)");
    check_no_key_reuse(ctx, px, vtc_peer_device_id(p));
}

VCK_CASES(
    messaging,
    {"messaging/padded-content", "SEC-3 CRYPTO-130", VCL_MUST, 0,
     "texts, receipts and typing are padded exactly as CRYPTO-130 says", padded},
    {"messaging/typing-ephemeral", "DELIV-85", VCL_MUST, 0,
     "typing goes only in ephemeral sends, texts never", typing_ephemeral},
    {"messaging/receipts", "DELIV-87", VCL_MUST, 0,
     "a read receipt names the message id, no group; no receipt for a receipt or typing",
     receipts},
    {"messaging/no-ack-ephemeral", "DELIV-82", VCL_MUST, 0,
     "an ephemeral MessageEvent is not acknowledged", no_ack_ephemeral},
    {"messaging/nothing-in-clear", "SEC-2", VCL_MUST, 0,
     "text and group name never appear in a frame to the server", nothing_in_clear},
    {"messaging/fan-out", "CRYPTO-120", VCL_MUST, 0,
     "one envelope per device of the peer and of the client's own account", fan_out},
    {"messaging/fresh-randomness", "SEC-9 CRYPTO-10", VCL_MUST, 0,
     "message ids and identity keys differ (a weak check of the RNG)", fresh_randomness},
    {"messaging/no-secrets-leave", "SEC-1", VCL_MUST, 0,
     "no root, chain or message key of its sessions in anything the client sends",
     no_secrets_leave},
    {"messaging/state-before-send", "CRYPTO-93", VCL_MUST, 0,
     "killed right after a Send, the client never uses that message key again",
     state_before_send}, );
