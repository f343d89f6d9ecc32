/* Client tier, messaging: what the client puts in what it sends, as the
 * peer decrypts it (spec/security.md SEC-2, SEC-3, SEC-9; crypto.md
 * CRYPTO-10, CRYPTO-120, CRYPTO-130; delivery.md DELIV-82, DELIV-85,
 * DELIV-87). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_kit.h"
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
     "message ids and identity keys differ (a weak check of the RNG)",
     fresh_randomness}, );
