/* Tests of the kit's end-to-end peer (conformance/live/vtc_peer.h) against
 * the real ventrad: sessions both ways (spec/crypto.md sections 5 to 7),
 * padding (section 8), the sender's other devices (spec/delivery.md 3.2),
 * receipts and typing, a changed identity key and undecryptable content. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "vt_constants.h"
#include "vtc_peer.h"
#include "vtc_server.h"

#define WAIT_MS 5000

static int port_of(void **state)
{
    return ((vtc_server *)*state)->port;
}

/* Receives the next message of |p| into |m| and checks it decrypted, came
 * from |from| and is a DataMessage with |text|, padded (CRYPTO-130). */
static void expect_text(vtc_peer *p, vtc_peer_msg *m, const vtc_peer *from,
                        const char *text)
{
    assert_true(vtc_peer_recv(p, WAIT_MS, m));
    assert_int_equal(m->error, VT_OK);
    assert_false(m->duplicate);
    assert_string_equal(m->sender, vtc_peer_username(from));
    assert_int_equal(m->sender_device, vtc_peer_device_id(from));
    assert_non_null(vtc_peer_msg_text(m));
    assert_string_equal(vtc_peer_msg_text(m), text);
    assert_int_equal(m->content_len % VT_PADDING_BLOCK, 0);
    assert_true(m->content_len > 0);
    assert_true(m->acked);
}

static void test_prekey_then_message(void **state)
{
    vtc_peer *alice = vtc_peer_register(port_of(state), "alice");
    vtc_peer *bob = vtc_peer_register(port_of(state), "bob");
    const char *a = vtc_peer_username(alice), *b = vtc_peer_username(bob);
    uint8_t mid[16];
    vtc_peer_msg m;
    bool confirmed = true;

    /* Alice starts the session: a PrekeyMessage until bob answers. */
    assert_int_equal(vtc_peer_send_text(alice, b, "hello bob", mid), VT_OK);
    expect_text(bob, &m, alice, "hello bob");
    assert_int_equal(m.type, VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY);
    assert_true(m.new_session);
    assert_int_equal(m.message_id_len, 16);
    assert_memory_equal(m.message_id, mid, 16);
    assert_string_equal(m.recipient, b);
    assert_true(m.seq > 0);
    vtc_peer_msg_clear(&m);
    assert_true(vtc_peer_has_session(alice, b, vtc_peer_device_id(bob), &confirmed));
    assert_false(confirmed);

    /* CRYPTO-61: still unconfirmed, so the second is a PrekeyMessage too,
     * matched to the existing session (CRYPTO-122). */
    assert_int_equal(vtc_peer_send_text(alice, b, "still there?", NULL), VT_OK);
    expect_text(bob, &m, alice, "still there?");
    assert_int_equal(m.type, VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY);
    assert_false(m.new_session);
    vtc_peer_msg_clear(&m);

    /* Bob, the responder, always sends bare messages (CRYPTO-62). */
    assert_int_equal(vtc_peer_send_text(bob, a, "hi alice", NULL), VT_OK);
    expect_text(alice, &m, bob, "hi alice");
    assert_int_equal(m.type, VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE);
    vtc_peer_msg_clear(&m);
    assert_true(vtc_peer_has_session(alice, b, vtc_peer_device_id(bob), &confirmed));
    assert_true(confirmed);

    /* Confirmed: alice's next message is a bare MESSAGE. */
    assert_int_equal(vtc_peer_send_text(alice, b, "good", NULL), VT_OK);
    expect_text(bob, &m, alice, "good");
    assert_int_equal(m.type, VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE);
    vtc_peer_msg_clear(&m);

    /* Nothing else is queued: every message was acked. */
    assert_false(vtc_peer_recv(bob, 300, &m));
    vtc_peer_free(alice);
    vtc_peer_free(bob);
}

static void test_other_devices(void **state)
{
    vtc_peer *a1 = vtc_peer_register(port_of(state), "alice");
    vtc_peer *a2 = vtc_peer_link(a1);
    vtc_peer *bob = vtc_peer_register(port_of(state), "bob");
    const char *a = vtc_peer_username(a1), *b = vtc_peer_username(bob);
    vtc_peer_msg m;

    assert_string_equal(vtc_peer_username(a2), a);
    assert_int_not_equal(vtc_peer_device_id(a2), vtc_peer_device_id(a1));
    assert_memory_not_equal(vtc_peer_identity_key(a1), vtc_peer_identity_key(a2), 32);

    /* A send from a1 reaches bob and, as a copy, a2 (DELIV-1, 3.2). */
    assert_int_equal(vtc_peer_send_text(a1, b, "from a1", NULL), VT_OK);
    expect_text(bob, &m, a1, "from a1");
    vtc_peer_msg_clear(&m);
    expect_text(a2, &m, a1, "from a1");
    assert_string_equal(m.recipient, b);
    assert_int_equal(m.type, VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY);
    vtc_peer_msg_clear(&m);

    /* And the other way: a2's send is copied to a1. */
    assert_int_equal(vtc_peer_send_text(a2, b, "from a2", NULL), VT_OK);
    expect_text(bob, &m, a2, "from a2");
    assert_true(m.new_session);
    vtc_peer_msg_clear(&m);
    expect_text(a1, &m, a2, "from a2");
    vtc_peer_msg_clear(&m);

    /* Bob's reply reaches both of alice's devices, each its own session. */
    assert_int_equal(vtc_peer_send_text(bob, a, "to both", NULL), VT_OK);
    expect_text(a1, &m, bob, "to both");
    assert_int_equal(m.type, VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE);
    vtc_peer_msg_clear(&m);
    expect_text(a2, &m, bob, "to both");
    assert_int_equal(m.type, VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE);
    vtc_peer_msg_clear(&m);

    /* A note to self goes to the other device only. */
    assert_int_equal(vtc_peer_send_text(a1, a, "note", NULL), VT_OK);
    expect_text(a2, &m, a1, "note");
    vtc_peer_msg_clear(&m);
    assert_false(vtc_peer_recv(a1, 300, &m));

    vtc_peer_free(a2);
    vtc_peer_free(a1);
    vtc_peer_free(bob);
}

static void test_receipt_typing_unpadded(void **state)
{
    vtc_peer *alice = vtc_peer_register(port_of(state), "alice");
    vtc_peer *bob = vtc_peer_register(port_of(state), "bob");
    const char *a = vtc_peer_username(alice), *b = vtc_peer_username(bob);
    Ventra__V1__Content c = VENTRA__V1__CONTENT__INIT;
    Ventra__V1__DataMessage dm = VENTRA__V1__DATA_MESSAGE__INIT;
    vtc_peer_send_opts o = {.unpadded = true};
    uint8_t mid[1][16];
    vtc_peer_msg m;

    assert_int_equal(vtc_peer_send_text(alice, b, "read me", mid[0]), VT_OK);
    expect_text(bob, &m, alice, "read me");
    vtc_peer_msg_clear(&m);

    assert_int_equal(vtc_peer_send_receipt(bob, a, mid, 1, true), VT_OK);
    assert_true(vtc_peer_recv(alice, WAIT_MS, &m));
    assert_int_equal(m.error, VT_OK);
    assert_non_null(m.body);
    assert_int_equal(m.body->body_case, VENTRA__V1__CONTENT__BODY_RECEIPT);
    assert_int_equal(m.body->receipt->type, VENTRA__V1__RECEIPT_TYPE__RECEIPT_TYPE_READ);
    assert_int_equal(m.body->receipt->n_message_ids, 1);
    assert_memory_equal(m.body->receipt->message_ids[0].data, mid[0], 16);
    assert_int_equal(m.content_len % VT_PADDING_BLOCK, 0);
    vtc_peer_msg_clear(&m);

    /* Typing: ephemeral, seq 0, never acked (DELIV-80, DELIV-82). */
    assert_int_equal(vtc_peer_send_typing(bob, a, true), VT_OK);
    assert_true(vtc_peer_recv(alice, WAIT_MS, &m));
    assert_int_equal(m.error, VT_OK);
    assert_true(m.ephemeral);
    assert_int_equal(m.seq, 0);
    assert_false(m.acked);
    assert_int_equal(m.body->body_case, VENTRA__V1__CONTENT__BODY_TYPING);
    assert_int_equal(m.body->typing->action,
                     VENTRA__V1__TYPING_ACTION__TYPING_ACTION_STARTED);
    vtc_peer_msg_clear(&m);

    /* Unpadded on purpose: the receiver still decodes it (CRYPTO-132). The
     * text is chosen so that the bare encoding is no multiple of 160. */
    dm.text = "no padding";
    c.body_case = VENTRA__V1__CONTENT__BODY_DATA;
    c.data = &dm;
    assert_int_equal(vtc_peer_send(alice, b, &c, &o, NULL), VT_OK);
    assert_true(vtc_peer_recv(bob, WAIT_MS, &m));
    assert_int_equal(m.error, VT_OK);
    assert_string_equal(vtc_peer_msg_text(&m), "no padding");
    assert_int_equal(m.content_len, ventra__v1__content__get_packed_size(&c));
    assert_int_not_equal(m.content_len % VT_PADDING_BLOCK, 0);
    vtc_peer_msg_clear(&m);

    vtc_peer_free(alice);
    vtc_peer_free(bob);
}

/* The identity key FetchBundles shows for |user|'s device 1, as seen by a
 * fresh account. */
static void bundle_key(int port, const char *user, uint8_t ik[32])
{
    Ventra__V1__FetchBundlesRequest body = VENTRA__V1__FETCH_BUNDLES_REQUEST__INIT;
    vtc_peer *carol = vtc_peer_register(port, "carol");
    Ventra__V1__Response *r;

    body.username = (char *)user;
    r = vtc_call_body(vtc_peer_device(carol)->c, VENTRA__V1__REQUEST__BODY_FETCH_BUNDLES,
                      &body);
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES);
    assert_int_equal(r->fetch_bundles->n_bundles, 1);
    assert_int_equal(r->fetch_bundles->bundles[0]->identity_key.len, 32);
    memcpy(ik, r->fetch_bundles->bundles[0]->identity_key.data, 32);
    vtc_response_free(r);
    vtc_peer_free(carol);
}

static void test_rotate_identity(void **state)
{
    vtc_peer *alice = vtc_peer_register(port_of(state), "alice");
    vtc_peer *bob = vtc_peer_register(port_of(state), "bob");
    const char *b = vtc_peer_username(bob);
    char a[33];
    uint8_t old_ik[32], new_ik[32];
    vtc_peer_msg m;

    snprintf(a, sizeof a, "%s", vtc_peer_username(alice));
    assert_int_equal(vtc_peer_send_text(alice, b, "before", NULL), VT_OK);
    expect_text(bob, &m, alice, "before");
    vtc_peer_msg_clear(&m);
    bundle_key(port_of(state), a, old_ik);
    assert_memory_equal(old_ik, vtc_peer_identity_key(alice), 32);

    vtc_peer_rotate_identity(alice);
    assert_string_equal(vtc_peer_username(alice), a);
    assert_memory_not_equal(vtc_peer_identity_key(alice), old_ik, 32);
    bundle_key(port_of(state), a, new_ik);
    assert_memory_equal(new_ik, vtc_peer_identity_key(alice), 32);

    /* Bob still holds the old session: new alice has none (CRYPTO-121). */
    assert_int_equal(vtc_peer_send_text(bob, a, "old session", NULL), VT_OK);
    assert_true(vtc_peer_recv(alice, WAIT_MS, &m));
    assert_int_equal(m.error, VT_ERR_STATE);
    assert_null(m.content);
    assert_true(m.acked);
    vtc_peer_msg_clear(&m);

    /* New alice's PrekeyMessage is refused: bob recorded the old key
     * (CRYPTO-68), until bob accepts the change (CRYPTO-128). */
    assert_int_equal(vtc_peer_send_text(alice, b, "it is me", NULL), VT_OK);
    assert_true(vtc_peer_recv(bob, WAIT_MS, &m));
    assert_int_equal(m.error, VT_ERR_PERMISSION_DENIED);
    vtc_peer_msg_clear(&m);
    vtc_peer_forget(bob, a);
    assert_int_equal(vtc_peer_send_text(bob, a, "welcome back", NULL), VT_OK);
    expect_text(alice, &m, bob, "welcome back");
    assert_int_equal(m.type, VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY);
    vtc_peer_msg_clear(&m);

    vtc_peer_free(alice);
    vtc_peer_free(bob);
}

static void test_garbage(void **state)
{
    vtc_peer *alice = vtc_peer_register(port_of(state), "alice");
    vtc_peer *bob = vtc_peer_register(port_of(state), "bob");
    const char *b = vtc_peer_username(bob);
    uint8_t junk[120], mid[16];
    vtc_peer_msg m;

    assert_int_equal(vtc_peer_send_text(alice, b, "first", NULL), VT_OK);
    expect_text(bob, &m, alice, "first");
    vtc_peer_msg_clear(&m);

    /* A ratchet message of the right version, a new random ratchet key, PN
     * and N 0 (so nothing to skip), and a tag that does not verify. */
    memset(junk, 0x5a, sizeof junk);
    junk[0] = 1;
    vtc_random16(junk + 1);
    vtc_random16(junk + 17);
    memset(junk + 33, 0, 8);
    assert_int_equal(vtc_peer_send_raw(alice, b,
                                       VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE,
                                       junk, sizeof junk, mid),
                     VT_OK);
    assert_true(vtc_peer_recv(bob, WAIT_MS, &m));
    assert_int_equal(m.error, VT_ERR_DECRYPT);
    assert_memory_equal(m.message_id, mid, 16);
    assert_null(m.body);
    assert_true(m.acked); /* CRYPTO-77 */
    vtc_peer_msg_clear(&m);

    /* A PrekeyMessage that does not decode (field 31, wire type 7). */
    memset(junk, 0xff, sizeof junk);
    assert_int_equal(vtc_peer_send_raw(alice, b,
                                       VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY,
                                       junk, sizeof junk, NULL),
                     VT_OK);
    assert_true(vtc_peer_recv(bob, WAIT_MS, &m));
    assert_int_equal(m.error, VT_ERR_INVALID_ARGUMENT);
    vtc_peer_msg_clear(&m);

    /* The server refuses an unknown envelope type (delivery.md 3.1, 4). */
    assert_int_equal(vtc_peer_send_raw(alice, b, 7, junk, sizeof junk, NULL),
                     VT_ERR_INVALID_ARGUMENT);

    /* The session survived both (CRYPTO-77: no state change). */
    assert_int_equal(vtc_peer_send_text(alice, b, "after", NULL), VT_OK);
    expect_text(bob, &m, alice, "after");
    vtc_peer_msg_clear(&m);

    vtc_peer_free(alice);
    vtc_peer_free(bob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prekey_then_message),
        cmocka_unit_test(test_other_devices),
        cmocka_unit_test(test_receipt_typing_unpadded),
        cmocka_unit_test(test_rotate_identity),
        cmocka_unit_test(test_garbage),
    };

    return VTC_RUN(tests, vtc_setup, vtc_teardown);
}
