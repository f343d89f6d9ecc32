/* Tests of vt_err, vt_err_name/message/is_wire and vt_strerror: pins every
 * numeric value, name and message by hand (spec/wire.md, Errors, WIRE-40:
 * values are stable forever), so a renumbered or reworded code fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/err.h"

typedef struct expected {
    vt_err err;
    int value;
    const char *name;
    const char *message;
    bool wire;
} expected;

static const expected codes[] = {
    {VT_OK, 0, "ERROR_OK", "Not an error; never sent in Error.code.", true},
    {VT_ERR_MALFORMED_FRAME, 1, "ERROR_MALFORMED_FRAME",
     "The frame could not be decoded as a Frame.", true},
    {VT_ERR_UNKNOWN_FRAME_KIND, 2, "ERROR_UNKNOWN_FRAME_KIND",
     "The frame has no kind, or one a server does not accept from clients.", true},
    {VT_ERR_UNKNOWN_RPC, 3, "ERROR_UNKNOWN_RPC",
     "The request names no RPC this server knows.", true},
    {VT_ERR_INVALID_ARGUMENT, 4, "ERROR_INVALID_ARGUMENT",
     "A field is missing, out of range or of the wrong form.", true},
    {VT_ERR_TOO_LARGE, 5, "ERROR_TOO_LARGE",
     "A frame, field or list exceeds a limit of spec/wire.md.", true},
    {VT_ERR_UNAUTHENTICATED, 6, "ERROR_UNAUTHENTICATED",
     "The RPC needs an authenticated connection.", true},
    {VT_ERR_PERMISSION_DENIED, 7, "ERROR_PERMISSION_DENIED",
     "The caller is authenticated but may not do this.", true},
    {VT_ERR_BAD_SIGNATURE, 8, "ERROR_BAD_SIGNATURE", "A signature did not verify.", true},
    {VT_ERR_BAD_CHALLENGE, 9, "ERROR_BAD_CHALLENGE",
     "The challenge nonce is unknown, used or expired.", true},
    {VT_ERR_BAD_TOKEN, 10, "ERROR_BAD_TOKEN",
     "The session token is malformed, forged, expired or revoked.", true},
    {VT_ERR_NOT_FOUND, 11, "ERROR_NOT_FOUND",
     "The named account, device or group does not exist.", true},
    {VT_ERR_ALREADY_EXISTS, 12, "ERROR_ALREADY_EXISTS", "The username is taken.", true},
    {VT_ERR_STALE_DEVICES, 13, "ERROR_STALE_DEVICES",
     "The send's device list does not match the account's devices.", true},
    {VT_ERR_RATE_LIMITED, 14, "ERROR_RATE_LIMITED",
     "Too many requests; retry after Error.retry_after_ms.", true},
    {VT_ERR_QUEUE_FULL, 15, "ERROR_QUEUE_FULL", "The recipient device's queue is full.",
     true},
    {VT_ERR_LIMIT_EXCEEDED, 16, "ERROR_LIMIT_EXCEEDED",
     "A counted resource (devices, members, prekeys) is at its limit.", true},
    {VT_ERR_DUPLICATE_REQUEST_ID, 17, "ERROR_DUPLICATE_REQUEST_ID",
     "The request id is zero or already in flight on this connection.", true},
    {VT_ERR_INTERNAL, 18, "ERROR_INTERNAL",
     "The server failed; the request may be retried.", true},
    {VT_ERR_UNAVAILABLE, 19, "ERROR_UNAVAILABLE",
     "The server is shutting down; reconnect later.", true},
    {VT_ERR_NO_PREKEYS, 20, "ERROR_NO_PREKEYS",
     "The recipient device has no prekey bundle to hand out.", true},
    {VT_ERR_CONFLICT, 21, "ERROR_CONFLICT",
     "The message id was reused with different content.", true},
    {VT_ERR_NO_MEMORY, 100, "ERROR_NO_MEMORY", "Memory could not be allocated.", false},
    {VT_ERR_BUFFER_TOO_SMALL, 101, "ERROR_BUFFER_TOO_SMALL",
     "An output buffer is too small for the result.", false},
    {VT_ERR_CRYPTO, 102, "ERROR_CRYPTO",
     "A cryptographic primitive failed or rejected its input.", false},
    {VT_ERR_DECRYPT, 103, "ERROR_DECRYPT", "A ciphertext failed authentication.", false},
    {VT_ERR_IO, 104, "ERROR_IO", "An operating-system input or output call failed.",
     false},
    {VT_ERR_STATE, 105, "ERROR_STATE", "The operation is not valid in the current state.",
     false},
    {VT_ERR_CONFIG, 106, "ERROR_CONFIG", "The configuration is invalid.", false},
    {VT_ERR_BAD_PASSPHRASE, 107, "ERROR_BAD_PASSPHRASE",
     "A local store could not be opened with the key given (wrong passphrase).", false},
};

#define N_CODES (sizeof(codes) / sizeof(codes[0]))

static bool is_known(int v)
{
    for (size_t i = 0; i < N_CODES; i++) {
        if (codes[i].value == v) {
            return true;
        }
    }
    return false;
}

static void test_numeric_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CODES; i++) {
        assert_int_equal((int)codes[i].err, codes[i].value);
    }
    assert_int_equal(VT_ERR_LOCAL_FIRST, 100);
}

static void test_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CODES; i++) {
        const char *name = vt_err_name(codes[i].err);
        assert_non_null(name);
        assert_string_equal(name, codes[i].name);
    }
}

static void test_messages(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CODES; i++) {
        const char *msg = vt_err_message(codes[i].err);
        assert_non_null(msg);
        assert_string_equal(msg, codes[i].message);
        assert_string_equal(vt_strerror(codes[i].err), codes[i].message);
    }
}

static void test_is_wire(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CODES; i++) {
        assert_int_equal(vt_err_is_wire(codes[i].err), codes[i].wire);
    }
}

/* Every value the generated enum knows is in the hand table, and nothing
 * else has a name: a code added to the schema must be pinned here too. */
static void test_table_is_complete(void **state)
{
    (void)state;
    for (int v = -5; v < 1000; v++) {
        bool named = vt_err_name((vt_err)v) != NULL;
        assert_int_equal(named, is_known(v));
        if (!named) {
            assert_null(vt_err_message((vt_err)v));
            assert_false(vt_err_is_wire((vt_err)v));
            assert_string_equal(vt_strerror((vt_err)v), "unknown error");
        }
    }
}

static void test_unknown_values(void **state)
{
    (void)state;
    const int unknown[] = {22, 99, 108, -1, 1000, INT32_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        vt_err e = (vt_err)unknown[i];
        assert_null(vt_err_name(e));
        assert_null(vt_err_message(e));
        assert_false(vt_err_is_wire(e));
        assert_non_null(vt_strerror(e));
        assert_string_equal(vt_strerror(e), "unknown error");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_values),    cmocka_unit_test(test_names),
        cmocka_unit_test(test_messages),          cmocka_unit_test(test_is_wire),
        cmocka_unit_test(test_table_is_complete), cmocka_unit_test(test_unknown_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
