/* Tests of vt_pbc_check_limits() and the generated limit table: each bound
 * of spec/wire.md, Limits at its limit (accepted) and at limit + 1
 * (ERROR_TOO_LARGE), nested inside a Frame as the server decodes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/pbc_limits.h"
#include "ventra/v1/frame.pb-c.h"

static uint8_t zeros[20000];

static ProtobufCBinaryData bytes_of(size_t len)
{
    ProtobufCBinaryData bd = {len, zeros};
    return bd;
}

static char *string_of(size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    memset(s, 'a', len);
    s[len] = '\0';
    return s;
}

static vt_err check_frame_request(Ventra__V1__Request *req)
{
    Ventra__V1__Frame frame = VENTRA__V1__FRAME__INIT;
    frame.kind_case = VENTRA__V1__FRAME__KIND_REQUEST;
    frame.request = req;
    return vt_pbc_check_limits(&frame.base);
}

static vt_err upload_prekeys(size_t count, size_t key_len)
{
    Ventra__V1__OneTimePrekey keys[101];
    Ventra__V1__OneTimePrekey *ptrs[101];
    assert_true(count <= 101);
    for (size_t i = 0; i < count; i++) {
        ventra__v1__one_time_prekey__init(&keys[i]);
        keys[i].id = (uint32_t)i + 1;
        keys[i].public_key = bytes_of(i == count - 1 ? key_len : 32);
        ptrs[i] = &keys[i];
    }
    Ventra__V1__UploadPrekeysRequest up = VENTRA__V1__UPLOAD_PREKEYS_REQUEST__INIT;
    up.n_one_time_prekeys = count;
    up.one_time_prekeys = ptrs;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    req.id = 7;
    req.body_case = VENTRA__V1__REQUEST__BODY_UPLOAD_PREKEYS;
    req.upload_prekeys = &up;
    return check_frame_request(&req);
}

static void test_one_time_prekeys(void **state)
{
    (void)state;
    assert_int_equal(upload_prekeys(100, 32), VT_OK);
    assert_int_equal(upload_prekeys(101, 32), VT_ERR_TOO_LARGE);
    /* A bytes bound inside an element of a repeated message field. */
    assert_int_equal(upload_prekeys(3, 33), VT_ERR_TOO_LARGE);
}

static vt_err send(size_t n_envelopes, size_t content_len)
{
    Ventra__V1__OutgoingEnvelope env[7];
    Ventra__V1__OutgoingEnvelope *ptrs[7];
    assert_true(n_envelopes <= 7);
    for (size_t i = 0; i < n_envelopes; i++) {
        ventra__v1__outgoing_envelope__init(&env[i]);
        env[i].device_id = (uint32_t)i + 1;
        env[i].content = bytes_of(content_len);
        ptrs[i] = &env[i];
    }
    Ventra__V1__SendRequest sr = VENTRA__V1__SEND_REQUEST__INIT;
    sr.message_id = bytes_of(16);
    sr.recipient = "bob";
    sr.n_to_recipient = n_envelopes;
    sr.to_recipient = ptrs;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    req.id = 1;
    req.body_case = VENTRA__V1__REQUEST__BODY_SEND;
    req.send = &sr;
    return check_frame_request(&req);
}

static void test_envelope_content(void **state)
{
    (void)state;
    assert_int_equal(send(1, 16384), VT_OK);
    assert_int_equal(send(1, 16385), VT_ERR_TOO_LARGE);
    assert_int_equal(send(6, 10), VT_OK);
    assert_int_equal(send(7, 10), VT_ERR_TOO_LARGE);
}

static vt_err register_username(size_t len)
{
    char *name = string_of(len);
    Ventra__V1__RegisterRequest rr = VENTRA__V1__REGISTER_REQUEST__INIT;
    rr.username = name;
    rr.identity_key = bytes_of(32);
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    req.id = 1;
    req.body_case = VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT;
    req.register_account = &rr;
    vt_err err = check_frame_request(&req);
    free(name);
    return err;
}

static void test_username(void **state)
{
    (void)state;
    /* nanopb's max_size:33 counts the NUL: 32 bytes is the limit. */
    assert_int_equal(register_username(32), VT_OK);
    assert_int_equal(register_username(33), VT_ERR_TOO_LARGE);
}

/* Response.error (singular message) -> stale (repeated message) -> username
 * (string), and the stale count itself. */
static vt_err response_stale(size_t n_stale, size_t username_len)
{
    char *name = string_of(username_len);
    Ventra__V1__StaleDevices st[3];
    Ventra__V1__StaleDevices *ptrs[3];
    assert_true(n_stale <= 3);
    for (size_t i = 0; i < n_stale; i++) {
        ventra__v1__stale_devices__init(&st[i]);
        st[i].username = name;
        ptrs[i] = &st[i];
    }
    Ventra__V1__Error e = VENTRA__V1__ERROR__INIT;
    e.code = VENTRA__V1__ERROR_CODE__ERROR_STALE_DEVICES;
    e.n_stale = n_stale;
    e.stale = ptrs;
    Ventra__V1__Response resp = VENTRA__V1__RESPONSE__INIT;
    resp.id = 3;
    resp.error = &e;
    Ventra__V1__Frame frame = VENTRA__V1__FRAME__INIT;
    frame.kind_case = VENTRA__V1__FRAME__KIND_RESPONSE;
    frame.response = &resp;
    vt_err err = vt_pbc_check_limits(&frame.base);
    free(name);
    return err;
}

static void test_error_stale(void **state)
{
    (void)state;
    assert_int_equal(response_stale(2, 32), VT_OK);
    assert_int_equal(response_stale(1, 33), VT_ERR_TOO_LARGE);
    assert_int_equal(response_stale(3, 3), VT_ERR_TOO_LARGE);
}

static vt_err event_content(size_t len)
{
    Ventra__V1__MessageEvent me = VENTRA__V1__MESSAGE_EVENT__INIT;
    me.seq = 1;
    me.sender = "alice";
    me.message_id = bytes_of(16);
    me.content = bytes_of(len);
    Ventra__V1__Event ev = VENTRA__V1__EVENT__INIT;
    ev.body_case = VENTRA__V1__EVENT__BODY_MESSAGE;
    ev.message = &me;
    Ventra__V1__Frame frame = VENTRA__V1__FRAME__INIT;
    frame.kind_case = VENTRA__V1__FRAME__KIND_EVENT;
    frame.event = &ev;
    return vt_pbc_check_limits(&frame.base);
}

static void test_event_content(void **state)
{
    (void)state;
    assert_int_equal(event_content(16384), VT_OK);
    assert_int_equal(event_content(16385), VT_ERR_TOO_LARGE);
}

/* The path a server takes: bytes off the wire, protobuf-c unpack, check. */
static void test_decoded_frame(void **state)
{
    (void)state;
    for (size_t len = 16384; len <= 16385; len++) {
        Ventra__V1__OutgoingEnvelope env = VENTRA__V1__OUTGOING_ENVELOPE__INIT;
        Ventra__V1__OutgoingEnvelope *ptr = &env;
        env.device_id = 1;
        env.content = bytes_of(len);
        Ventra__V1__SendRequest sr = VENTRA__V1__SEND_REQUEST__INIT;
        sr.n_to_recipient = 1;
        sr.to_recipient = &ptr;
        Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
        req.id = 9;
        req.body_case = VENTRA__V1__REQUEST__BODY_SEND;
        req.send = &sr;
        Ventra__V1__Frame frame = VENTRA__V1__FRAME__INIT;
        frame.kind_case = VENTRA__V1__FRAME__KIND_REQUEST;
        frame.request = &req;
        size_t n = ventra__v1__frame__get_packed_size(&frame);
        uint8_t *buf = malloc(n);
        assert_non_null(buf);
        ventra__v1__frame__pack(&frame, buf);
        Ventra__V1__Frame *got = ventra__v1__frame__unpack(NULL, n, buf);
        free(buf);
        assert_non_null(got);
        assert_int_equal(vt_pbc_check_limits(&got->base),
                         len == 16384 ? VT_OK : VT_ERR_TOO_LARGE);
        ventra__v1__frame__free_unpacked(got, NULL);
    }
}

/* A oneof's union is read only for the member that is set: a Response whose
 * body is get_server_info with a 33-byte key fails; the same bytes under no
 * body case are ignored. */
static void test_oneof(void **state)
{
    (void)state;
    Ventra__V1__GetServerInfoResponse info = VENTRA__V1__GET_SERVER_INFO_RESPONSE__INIT;
    info.server_key = bytes_of(33);
    Ventra__V1__Response resp = VENTRA__V1__RESPONSE__INIT;
    resp.body_case = VENTRA__V1__RESPONSE__BODY_GET_SERVER_INFO;
    resp.get_server_info = &info;
    assert_int_equal(vt_pbc_check_limits(&resp.base), VT_ERR_TOO_LARGE);
    info.server_key = bytes_of(32);
    assert_int_equal(vt_pbc_check_limits(&resp.base), VT_OK);
    info.server_key = bytes_of(33);
    resp.body_case = VENTRA__V1__RESPONSE__BODY__NOT_SET;
    assert_int_equal(vt_pbc_check_limits(&resp.base), VT_OK);
}

static void test_null(void **state)
{
    (void)state;
    assert_int_equal(vt_pbc_check_limits(NULL), VT_ERR_INVALID_ARGUMENT);
    assert_null(vt_pbc_limit_find(NULL, 1));
}

/* The table: sorted strictly, every entry names a real field with a real
 * bound, counts only on repeated fields, lengths only on string/bytes. */
/* spec/wire.md 4.2: fixed-length byte fields are forms, not bounds. The
 * full check refuses a 33-byte key (the client's codec could not hold it);
 * vt_pbc_check_bounds leaves it to the RPC and still enforces real bounds. */
static void test_forms_are_not_bounds(void **state)
{
    (void)state;
    Ventra__V1__RegisterRequest reg = VENTRA__V1__REGISTER_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__Frame frame = VENTRA__V1__FRAME__INIT;
    reg.username = string_of(5);
    reg.identity_key = bytes_of(33);
    reg.nonce = bytes_of(32);
    reg.signature = bytes_of(65);
    req.body_case = VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT;
    req.register_account = &reg;
    frame.kind_case = VENTRA__V1__FRAME__KIND_REQUEST;
    frame.request = &req;
    assert_int_equal(vt_pbc_check_limits(&frame.base), VT_ERR_TOO_LARGE);
    assert_int_equal(vt_pbc_check_bounds(&frame.base), VT_OK);
    free(reg.username);
    reg.username = string_of(33); /* a bound: MAX_USERNAME_LEN + 1 */
    assert_int_equal(vt_pbc_check_bounds(&frame.base), VT_ERR_TOO_LARGE);
    free(reg.username);

    Ventra__V1__OutgoingEnvelope env = VENTRA__V1__OUTGOING_ENVELOPE__INIT;
    Ventra__V1__OutgoingEnvelope *envs[1] = {&env};
    Ventra__V1__SendRequest send = VENTRA__V1__SEND_REQUEST__INIT;
    send.message_id = bytes_of(17);
    send.group_id = bytes_of(15);
    send.recipient = (char *)"bob";
    send.to_recipient = envs;
    send.n_to_recipient = 1;
    env.content = bytes_of(16384);
    req.body_case = VENTRA__V1__REQUEST__BODY_SEND;
    req.send = &send;
    assert_int_equal(vt_pbc_check_bounds(&frame.base), VT_OK);
    env.content = bytes_of(16385); /* MAX_CONTENT_SIZE + 1 is a bound */
    assert_int_equal(vt_pbc_check_bounds(&frame.base), VT_ERR_TOO_LARGE);
    assert_int_equal(vt_pbc_check_bounds(NULL), VT_ERR_INVALID_ARGUMENT);
}

static void test_table(void **state)
{
    (void)state;
    assert_true(vt_pbc_limit_count > 50);
    for (size_t i = 0; i < vt_pbc_limit_count; i++) {
        const vt_pbc_limit *l = &vt_pbc_limits[i];
        assert_non_null(l->message);
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(l->message, (unsigned)l->field);
        assert_non_null(fd);
        assert_true(l->max_count != 0 || l->max_len != 0);
        if (l->max_count != 0) {
            assert_int_equal(fd->label, PROTOBUF_C_LABEL_REPEATED);
        }
        if (l->max_len != 0) {
            assert_true(fd->type == PROTOBUF_C_TYPE_STRING ||
                        fd->type == PROTOBUF_C_TYPE_BYTES);
        }
        if (i > 0) {
            const vt_pbc_limit *p = &vt_pbc_limits[i - 1];
            int c = strcmp(p->message->name, l->message->name);
            assert_true(c < 0 || (c == 0 && p->field < l->field));
        }
        assert_ptr_equal(vt_pbc_limit_find(l->message, l->field), l);
    }
    const vt_pbc_limit *u =
        vt_pbc_limit_find(&ventra__v1__register_request__descriptor, 1 /* username */);
    assert_non_null(u);
    assert_int_equal(u->max_len, 32);
    const vt_pbc_limit *c =
        vt_pbc_limit_find(&ventra__v1__outgoing_envelope__descriptor, 3 /* content */);
    assert_non_null(c);
    assert_int_equal(c->max_len, 16384);
    const vt_pbc_limit *k =
        vt_pbc_limit_find(&ventra__v1__upload_prekeys_request__descriptor, 2);
    assert_non_null(k);
    assert_int_equal(k->max_count, 100);
    assert_int_equal(k->max_len, 0);
    assert_null(vt_pbc_limit_find(&ventra__v1__register_request__descriptor, 99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_time_prekeys),
        cmocka_unit_test(test_envelope_content),
        cmocka_unit_test(test_username),
        cmocka_unit_test(test_error_stale),
        cmocka_unit_test(test_event_content),
        cmocka_unit_test(test_decoded_frame),
        cmocka_unit_test(test_oneof),
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_forms_are_not_bounds),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
