/* Tests of the generated catalogue and server dispatch (generated/rpc/
 * vt_rpc.c, vt_rpc_server.c): routing of every rpc, the WIRE-50 gate for
 * non-public rpcs before authentication, ERROR_UNKNOWN_RPC for a missing or
 * unknown body, and the typed reply helpers (spec/wire.md, RPC catalogue). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc_list.h"
#include "vt_rpc.h"
#include "vt_rpc_server.h"

/* What the last handler / reply saw. */
static struct {
    int calls;
    uint32_t id;
    vt_srv_conn *conn;
    vt_srv_call *call;
    const void *req;
} handled;

static struct {
    int calls;
    vt_srv_call *call;
    Ventra__V1__Response__BodyCase body_case;
    const void *body;
    size_t packed_size;
} replied;

#define DEFINE_HANDLER(snake, Camel, UPPER, id_, pub)                                    \
    void vt_srv_handle_##snake(vt_srv_conn *conn, vt_srv_call *call,                     \
                               const Ventra__V1__##Camel##Request *req)                  \
    {                                                                                    \
        handled.calls++;                                                                 \
        handled.id = VT_RPC_##UPPER;                                                     \
        handled.conn = conn;                                                             \
        handled.call = call;                                                             \
        handled.req = req;                                                               \
    }
VT_TEST_RPCS(DEFINE_HANDLER)

void vt_srv_call_reply(vt_srv_call *call, Ventra__V1__Response *resp)
{
    replied.calls++;
    replied.call = call;
    replied.body_case = resp->body_case;
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(
        &ventra__v1__response__descriptor, (unsigned)resp->body_case);
    replied.body = fd ? *(void **)((char *)resp + fd->offset) : NULL;
    replied.packed_size = ventra__v1__response__get_packed_size(resp);
}

/* Opaque to the generated code: any distinct addresses do. */
static int conn_token;
static int call_token;
#define CONN ((vt_srv_conn *)(void *)&conn_token)
#define CALL ((vt_srv_call *)(void *)&call_token)

/* A Request whose body is an empty message of the rpc's input type, set
 * through protobuf-c's reflection so no rpc is named by hand here. */
typedef struct built {
    Ventra__V1__Request req;
    ProtobufCMessage *body;
} built;

static void build(built *b, const vt_rpc_desc *rpc)
{
    ventra__v1__request__init(&b->req);
    b->req.id = 42;
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(
        &ventra__v1__request__descriptor, rpc->id);
    assert_non_null(fd);
    assert_int_equal(fd->type, PROTOBUF_C_TYPE_MESSAGE);
    const ProtobufCMessageDescriptor *bd = fd->descriptor;
    assert_string_equal(bd->name, rpc->request_type);
    b->body = calloc(1, bd->sizeof_message);
    assert_non_null(b->body);
    protobuf_c_message_init(bd, b->body);
    *(uint32_t *)(void *)((char *)&b->req + fd->quantifier_offset) = rpc->id;
    *(ProtobufCMessage **)(void *)((char *)&b->req + fd->offset) = b->body;
}

static void test_catalogue(void **state)
{
    (void)state;
    static const struct {
        uint32_t id;
        const char *method;
        bool is_public;
    } want[] = {
#define ROW(snake, Camel, UPPER, id_, pub) {id_, #Camel, pub},
        VT_TEST_RPCS(ROW)
#undef ROW
    };
    size_t n = sizeof(want) / sizeof(want[0]);
    assert_int_equal(vt_rpc_count, n);
    assert_int_equal(VT_RPC_COUNT, n);
    for (size_t i = 0; i < n; i++) {
        const vt_rpc_desc *r = &vt_rpcs[i];
        assert_int_equal(r->id, want[i].id);
        assert_string_equal(r->method, want[i].method);
        assert_int_equal(r->is_public, want[i].is_public);
        assert_ptr_equal(vt_rpc_find(r->id), r);
        char full[128];
        snprintf(full, sizeof(full), "ventra.v1.%s/%s", r->service, r->method);
        assert_string_equal(r->full_name, full);
        snprintf(full, sizeof(full), "ventra.v1.%sRequest", r->method);
        assert_string_equal(r->request_type, full);
        snprintf(full, sizeof(full), "ventra.v1.%sResponse", r->method);
        assert_string_equal(r->response_type, full);
        assert_true(strlen(r->summary) > 0);
        /* WIRE-50: the public rpcs are exactly those of service Session. */
        assert_int_equal(r->is_public, strcmp(r->service, "Session") == 0);
    }
    assert_string_equal(vt_rpc_find(VT_RPC_GET_SERVER_INFO)->summary,
                        "Returns the server key, protocol version and limits.");
    assert_true(vt_rpc_find(VT_RPC_SEND)->idempotent);
    assert_false(vt_rpc_find(VT_RPC_CREATE_GROUP)->idempotent);
    const uint32_t unknown[] = {0, 1, 9, 16, 19, 24, 42, 56, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_null(vt_rpc_find(unknown[i]));
    }
}

static void test_events(void **state)
{
    (void)state;
    static const struct {
        uint32_t id;
        const char *name;
        const char *type;
    } want[] = {
        {VT_EVENT_MESSAGE, "message", "ventra.v1.MessageEvent"},
        {VT_EVENT_QUEUE_DRAINED, "queue_drained", "ventra.v1.QueueDrainedEvent"},
        {VT_EVENT_PREKEYS_LOW, "prekeys_low", "ventra.v1.PrekeysLowEvent"},
        {VT_EVENT_GROUP_CHANGED, "group_changed", "ventra.v1.GroupChangedEvent"},
        {VT_EVENT_SESSION_ENDED, "session_ended", "ventra.v1.SessionEndedEvent"},
    };
    assert_int_equal(VT_EVENT_MESSAGE, 10);
    assert_int_equal(VT_EVENT_SESSION_ENDED, 14);
    assert_int_equal(vt_event_count, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(vt_events[i].id, want[i].id);
        assert_string_equal(vt_events[i].name, want[i].name);
        assert_string_equal(vt_events[i].type, want[i].type);
        assert_ptr_equal(vt_event_find(want[i].id), &vt_events[i]);
    }
    assert_null(vt_event_find(0));
    assert_null(vt_event_find(15));
}

static void test_routes_every_rpc(void **state)
{
    (void)state;
    for (size_t i = 0; i < vt_rpc_count; i++) {
        built b;
        build(&b, &vt_rpcs[i]);
        memset(&handled, 0, sizeof(handled));
        assert_int_equal(vt_srv_dispatch(CONN, CALL, &b.req, true), VT_OK);
        assert_int_equal(handled.calls, 1);
        assert_int_equal(handled.id, vt_rpcs[i].id);
        assert_ptr_equal(handled.conn, CONN);
        assert_ptr_equal(handled.call, CALL);
        assert_ptr_equal(handled.req, b.body);
        free(b.body);
    }
}

static void test_unauthenticated(void **state)
{
    (void)state;
    size_t n_public = 0;
    for (size_t i = 0; i < vt_rpc_count; i++) {
        built b;
        build(&b, &vt_rpcs[i]);
        memset(&handled, 0, sizeof(handled));
        vt_err err = vt_srv_dispatch(CONN, CALL, &b.req, false);
        if (vt_rpcs[i].is_public) {
            n_public++;
            assert_int_equal(err, VT_OK);
            assert_int_equal(handled.calls, 1);
            assert_int_equal(handled.id, vt_rpcs[i].id);
        } else {
            assert_int_equal(err, VT_ERR_UNAUTHENTICATED);
            assert_int_equal(handled.calls, 0);
        }
        free(b.body);
    }
    assert_int_equal(n_public, 6);
}

static void test_unknown_rpc(void **state)
{
    (void)state;
    memset(&handled, 0, sizeof(handled));
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    req.id = 5;
    assert_int_equal(vt_srv_dispatch(CONN, CALL, &req, true), VT_ERR_UNKNOWN_RPC);
    assert_int_equal(vt_srv_dispatch(CONN, CALL, &req, false), VT_ERR_UNKNOWN_RPC);
    /* A body case no rpc has (a newer client's rpc decoded as unknown). */
    req.body_case = (Ventra__V1__Request__BodyCase)99;
    assert_int_equal(vt_srv_dispatch(CONN, CALL, &req, true), VT_ERR_UNKNOWN_RPC);
    /* A case set without its message. */
    req.body_case = VENTRA__V1__REQUEST__BODY_SEND;
    req.send = NULL;
    assert_int_equal(vt_srv_dispatch(CONN, CALL, &req, true), VT_ERR_UNKNOWN_RPC);
    assert_int_equal(vt_srv_dispatch(CONN, CALL, NULL, true), VT_ERR_UNKNOWN_RPC);
    assert_int_equal(handled.calls, 0);
}

/* Every typed reply helper puts its body under the rpc's own case. */
static void test_reply_helpers(void **state)
{
    (void)state;
#define CHECK_REPLY(snake, Camel, UPPER, id_, pub)                                       \
    {                                                                                    \
        Ventra__V1__##Camel##Response body;                                              \
        protobuf_c_message_init(&ventra__v1__##snake##_response__descriptor, &body);     \
        memset(&replied, 0, sizeof(replied));                                            \
        vt_srv_reply_##snake(CALL, &body);                                               \
        assert_int_equal(replied.calls, 1);                                              \
        assert_ptr_equal(replied.call, CALL);                                            \
        assert_int_equal(replied.body_case, id_);                                        \
        assert_int_equal(replied.body_case, VT_RPC_##UPPER);                             \
        assert_ptr_equal(replied.body, &body);                                           \
        assert_true(replied.packed_size >= 2);                                           \
    }
    VT_TEST_RPCS(CHECK_REPLY)
#undef CHECK_REPLY
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogue),        cmocka_unit_test(test_events),
        cmocka_unit_test(test_routes_every_rpc), cmocka_unit_test(test_unauthenticated),
        cmocka_unit_test(test_unknown_rpc),      cmocka_unit_test(test_reply_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
