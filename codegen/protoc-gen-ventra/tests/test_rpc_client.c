/* Tests of the generated client stubs (generated/rpc/vt_rpc_client.c): each
 * stub's frame decodes with protobuf-c (a second codec) to the right id and
 * body, matches protobuf-c's own encoding byte for byte, and refuses short
 * buffers; the typed response accessors (spec/wire.md, RPC catalogue). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc_list.h"
#include "ventra/v1/frame.pb-c.h"
#include "vt_rpc_client.h"

#include <pb_encode.h>

static uint8_t buf[65536];

/* Decodes |len| bytes of |buf| with protobuf-c and checks it is a request
 * frame with |id| and body case |rpc|. */
static void expect_frame(size_t len, uint32_t id, uint32_t rpc)
{
    Ventra__V1__Frame *f = ventra__v1__frame__unpack(NULL, len, buf);
    assert_non_null(f);
    assert_int_equal(f->kind_case, VENTRA__V1__FRAME__KIND_REQUEST);
    assert_non_null(f->request);
    assert_int_equal(f->request->id, id);
    assert_int_equal(f->request->body_case, rpc);
    ventra__v1__frame__free_unpacked(f, NULL);
}

static void test_every_stub(void **state)
{
    (void)state;
    size_t n = 0;
#define CHECK_STUB(snake, Camel, UPPER, id_, pub)                                        \
    {                                                                                    \
        static ventra_v1_##Camel##Request req = ventra_v1_##Camel##Request_init_zero;    \
        size_t len = 0;                                                                  \
        assert_int_equal(vt_cli_encode_##snake(77, &req, buf, sizeof(buf), &len),        \
                         VT_OK);                                                         \
        expect_frame(len, 77, id_);                                                      \
        /* One byte short: refused, and told the size needed. */                         \
        size_t need = 0;                                                                 \
        assert_int_equal(vt_cli_encode_##snake(77, &req, buf, len - 1, &need),           \
                         VT_ERR_BUFFER_TOO_SMALL);                                       \
        assert_int_equal(need, len);                                                     \
        need = 0;                                                                        \
        assert_int_equal(vt_cli_encode_##snake(77, &req, NULL, 0, &need),                \
                         VT_ERR_BUFFER_TOO_SMALL);                                       \
        assert_int_equal(need, len);                                                     \
        assert_int_equal(vt_cli_encode_##snake(77, NULL, buf, sizeof(buf), &len),        \
                         VT_ERR_INVALID_ARGUMENT);                                       \
        assert_int_equal(vt_cli_encode_##snake(77, &req, buf, sizeof(buf), NULL),        \
                         VT_ERR_INVALID_ARGUMENT);                                       \
        assert_int_equal(vt_rpc_find(id_)->id, VT_RPC_##UPPER);                          \
        n++;                                                                             \
    }
    VT_TEST_RPCS(CHECK_STUB)
#undef CHECK_STUB
    /* The hand list covers the whole generated catalogue. */
    assert_int_equal(n, vt_rpc_count);
}

/* The envelopes of a send are a callback field in nanopb (a static array of
 * eleven 16 KiB envelopes would make every Frame ~180 KiB): the client
 * streams them from its own storage. */
typedef struct envelope_list {
    const ventra_v1_OutgoingEnvelope *items;
    size_t count;
} envelope_list;

static bool encode_envelopes(pb_ostream_t *stream, const pb_field_t *field,
                             void *const *arg)
{
    const envelope_list *list = *arg;
    for (size_t i = 0; i < list->count; i++) {
        if (!pb_encode_tag_for_field(stream, field) ||
            !pb_encode_submessage(stream, ventra_v1_OutgoingEnvelope_fields,
                                  &list->items[i]))
            return false;
    }
    return true;
}

/* A send with real content: the stub's bytes equal protobuf-c's encoding of
 * the same Frame, and the body decodes intact. */
static void test_send_bytes(void **state)
{
    (void)state;
    static ventra_v1_SendRequest req = ventra_v1_SendRequest_init_zero;
    static ventra_v1_OutgoingEnvelope out[2];
    req.message_id.size = 16;
    memset(req.message_id.bytes, 0xab, 16);
    strcpy(req.recipient, "bob");
    for (int i = 0; i < 2; i++) {
        out[i] = (ventra_v1_OutgoingEnvelope)ventra_v1_OutgoingEnvelope_init_zero;
        out[i].device_id = (uint32_t)i + 1;
        out[i].content.size = 300;
        memset(out[i].content.bytes, 0x30 + i, 300);
    }
    envelope_list list = {out, 2};
    req.to_recipient.funcs.encode = encode_envelopes;
    req.to_recipient.arg = &list;
    size_t len = 0;
    assert_int_equal(vt_cli_encode_send(300, &req, buf, sizeof(buf), &len), VT_OK);

    uint8_t content[2][300];
    Ventra__V1__OutgoingEnvelope env[2];
    Ventra__V1__OutgoingEnvelope *envp[2];
    for (int i = 0; i < 2; i++) {
        memset(content[i], 0x30 + i, 300);
        ventra__v1__outgoing_envelope__init(&env[i]);
        env[i].device_id = (uint32_t)i + 1;
        env[i].content.len = 300;
        env[i].content.data = content[i];
        envp[i] = &env[i];
    }
    uint8_t mid[16];
    memset(mid, 0xab, 16);
    Ventra__V1__SendRequest sr = VENTRA__V1__SEND_REQUEST__INIT;
    sr.message_id.len = 16;
    sr.message_id.data = mid;
    sr.recipient = "bob";
    sr.n_to_recipient = 2;
    sr.to_recipient = envp;
    Ventra__V1__Request r = VENTRA__V1__REQUEST__INIT;
    r.id = 300;
    r.body_case = VENTRA__V1__REQUEST__BODY_SEND;
    r.send = &sr;
    Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;
    f.kind_case = VENTRA__V1__FRAME__KIND_REQUEST;
    f.request = &r;
    static uint8_t want[sizeof(buf)];
    size_t want_len = ventra__v1__frame__get_packed_size(&f);
    assert_true(want_len <= sizeof(want));
    ventra__v1__frame__pack(&f, want);
    assert_int_equal(len, want_len);
    assert_memory_equal(buf, want, len);

    Ventra__V1__Frame *got = ventra__v1__frame__unpack(NULL, len, buf);
    assert_non_null(got);
    assert_int_equal(got->request->body_case, VENTRA__V1__REQUEST__BODY_SEND);
    assert_string_equal(got->request->send->recipient, "bob");
    assert_int_equal(got->request->send->n_to_recipient, 2);
    assert_int_equal(got->request->send->to_recipient[1]->content.len, 300);
    assert_int_equal(got->request->send->to_recipient[1]->content.data[299], 0x31);
    ventra__v1__frame__free_unpacked(got, NULL);
}

/* Request id 0 is left out, as every proto3 encoder does (the server then
 * answers ERROR_DUPLICATE_REQUEST_ID; conformance tests send it). */
static void test_id_zero(void **state)
{
    (void)state;
    static ventra_v1_PingRequest req = ventra_v1_PingRequest_init_zero;
    size_t len = 0;
    assert_int_equal(vt_cli_encode_ping(0, &req, buf, sizeof(buf), &len), VT_OK);
    /* Frame.request { ping {} }: 0a 02 5a 00 */
    static const uint8_t want[] = {0x0a, 0x02, 0x5a, 0x00};
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    expect_frame(len, 0, VT_RPC_PING);
    assert_int_equal(vt_cli_encode_ping(UINT32_MAX, &req, buf, sizeof(buf), &len), VT_OK);
    expect_frame(len, UINT32_MAX, VT_RPC_PING);
}

/* nanopb refuses a count over the .options bound: the stub reports it. */
static void test_over_bound(void **state)
{
    (void)state;
    static ventra_v1_AckRequest req = ventra_v1_AckRequest_init_zero;
    req.seqs_count = 256;
    size_t len = 0;
    assert_int_equal(vt_cli_encode_ack(1, &req, buf, sizeof(buf), &len), VT_OK);
    expect_frame(len, 1, VT_RPC_ACK);
    req.seqs_count = 257;
    assert_int_equal(vt_cli_encode_ack(1, &req, buf, sizeof(buf), &len),
                     VT_ERR_INVALID_ARGUMENT);
}

static void test_response_accessors(void **state)
{
    (void)state;
    static ventra_v1_Response resp = ventra_v1_Response_init_zero;
    resp.id = 4;
    assert_null(vt_cli_response_send(&resp));
    assert_null(vt_cli_response_send(NULL));
    resp.which_body = ventra_v1_Response_send_tag;
    resp.body.send.duplicate = true;
    const ventra_v1_SendResponse *s = vt_cli_response_send(&resp);
    assert_ptr_equal(s, &resp.body.send);
    assert_true(s->duplicate);
    assert_null(vt_cli_response_ack(&resp));
    assert_null(vt_cli_response_get_server_info(&resp));
    resp.which_body = ventra_v1_Response_get_group_tag;
    assert_ptr_equal(vt_cli_response_get_group(&resp), &resp.body.get_group);
    assert_null(vt_cli_response_send(&resp));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_stub),
        cmocka_unit_test(test_send_bytes),
        cmocka_unit_test(test_id_zero),
        cmocka_unit_test(test_over_bound),
        cmocka_unit_test(test_response_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
