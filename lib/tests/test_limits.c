/* The bounds of the .options files (nanopb's static sizes and, through
 * vt_pbc_limits, the server's checks) must equal the limits of the spec's
 * constants tables (spec/wire.md, Limits): two sources, one set of numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ventra/pbc_limits.h"
#include "ventra/v1/auth.pb-c.h"
#include "ventra/v1/e2e.pb-c.h"
#include "ventra/v1/e2e.pb.h"
#include "ventra/v1/frame.pb-c.h"
#include "ventra/v1/groups.pb-c.h"
#include "ventra/v1/messaging.pb-c.h"
#include "ventra/v1/prekeys.pb-c.h"
#include "vt_constants.h"

typedef struct bound {
    const ProtobufCMessageDescriptor *message;
    uint32_t field;
    uint32_t max_len;   /* 0: not a length bound */
    uint32_t max_count; /* 0: not a count bound */
} bound;

#define LEN(msg, field, n) {&ventra__v1__##msg##__descriptor, field, n, 0}
#define COUNT(msg, field, n) {&ventra__v1__##msg##__descriptor, field, 0, n}

static const bound bounds[] = {
    /* Content and envelopes. */
    LEN(outgoing_envelope, 3, VT_MAX_CONTENT_SIZE),
    LEN(message_event, 6, VT_MAX_CONTENT_SIZE),
    COUNT(send_request, 3, VT_MAX_ENVELOPES_TO_RECIPIENT),
    COUNT(send_request, 4, VT_MAX_ENVELOPES_TO_SELF),
    LEN(send_request, 1, VT_MESSAGE_ID_LEN),
    LEN(message_event, 4, VT_MESSAGE_ID_LEN),
    LEN(receipt_message, 2, VT_MESSAGE_ID_LEN),
    LEN(send_request, 5, VT_GROUP_ID_LEN),
    LEN(message_event, 8, VT_GROUP_ID_LEN),
    LEN(group_info, 1, VT_GROUP_ID_LEN),
    LEN(add_group_members_request, 1, VT_GROUP_ID_LEN),
    LEN(remove_group_members_request, 1, VT_GROUP_ID_LEN),
    LEN(leave_group_request, 1, VT_GROUP_ID_LEN),
    LEN(get_group_request, 1, VT_GROUP_ID_LEN),
    LEN(list_groups_response, 1, VT_GROUP_ID_LEN),
    LEN(data_message, 3, VT_GROUP_ID_LEN),
    LEN(typing_message, 3, VT_GROUP_ID_LEN),
    LEN(group_update, 1, VT_GROUP_ID_LEN),
    /* Usernames. */
    LEN(register_request, 1, VT_MAX_USERNAME_LEN),
    LEN(login_request, 1, VT_MAX_USERNAME_LEN),
    LEN(resume_response, 1, VT_MAX_USERNAME_LEN),
    LEN(list_devices_request, 1, VT_MAX_USERNAME_LEN),
    LEN(fetch_bundles_request, 1, VT_MAX_USERNAME_LEN),
    LEN(send_request, 2, VT_MAX_USERNAME_LEN),
    LEN(message_event, 2, VT_MAX_USERNAME_LEN),
    LEN(message_event, 9, VT_MAX_USERNAME_LEN),
    LEN(stale_devices, 1, VT_MAX_USERNAME_LEN),
    LEN(group_info, 2, VT_MAX_USERNAME_LEN),
    LEN(group_info, 3, VT_MAX_USERNAME_LEN),
    LEN(create_group_request, 1, VT_MAX_USERNAME_LEN),
    LEN(add_group_members_request, 2, VT_MAX_USERNAME_LEN),
    LEN(remove_group_members_request, 2, VT_MAX_USERNAME_LEN),
    LEN(group_changed_event, 2, VT_MAX_USERNAME_LEN),
    /* Device names, tokens, error text. */
    LEN(register_request, 3, VT_MAX_DEVICE_NAME_LEN),
    LEN(add_device_request, 2, VT_MAX_DEVICE_NAME_LEN),
    LEN(device_info, 3, VT_MAX_DEVICE_NAME_LEN),
    LEN(link_code, 2, VT_MAX_DEVICE_NAME_LEN),
    LEN(register_response, 2, VT_MAX_TOKEN_LEN),
    LEN(login_response, 1, VT_MAX_TOKEN_LEN),
    LEN(resume_request, 1, VT_MAX_TOKEN_LEN),
    LEN(resume_response, 3, VT_MAX_TOKEN_LEN),
    LEN(error, 2, VT_MAX_ERROR_MESSAGE_LEN),
    /* Keys, signatures, nonces. */
    LEN(get_server_info_response, 1, VT_KEY_LEN),
    LEN(register_request, 2, VT_KEY_LEN),
    LEN(add_device_request, 1, VT_KEY_LEN),
    LEN(device_info, 2, VT_KEY_LEN),
    LEN(prekey_bundle, 2, VT_KEY_LEN),
    LEN(signed_prekey, 2, VT_KEY_LEN),
    LEN(one_time_prekey, 2, VT_KEY_LEN),
    LEN(prekey_message, 1, VT_KEY_LEN),
    LEN(prekey_message, 2, VT_KEY_LEN),
    LEN(link_code, 1, VT_KEY_LEN),
    LEN(register_request, 5, VT_SIGNATURE_LEN),
    LEN(login_request, 4, VT_SIGNATURE_LEN),
    LEN(add_device_request, 3, VT_SIGNATURE_LEN),
    LEN(delete_account_request, 2, VT_SIGNATURE_LEN),
    LEN(signed_prekey, 3, VT_SIGNATURE_LEN),
    LEN(get_challenge_response, 1, VT_CHALLENGE_NONCE_LEN),
    LEN(register_request, 4, VT_CHALLENGE_NONCE_LEN),
    LEN(login_request, 3, VT_CHALLENGE_NONCE_LEN),
    LEN(delete_account_request, 1, VT_CHALLENGE_NONCE_LEN),
    /* Counts. */
    COUNT(upload_prekeys_request, 2, VT_MAX_PREKEYS_PER_UPLOAD),
    COUNT(fetch_bundles_request, 2, VT_MAX_DEVICES_PER_ACCOUNT),
    COUNT(fetch_bundles_response, 1, VT_MAX_DEVICES_PER_ACCOUNT),
    COUNT(list_devices_response, 1, VT_MAX_DEVICES_PER_ACCOUNT),
    COUNT(stale_devices, 2, VT_MAX_DEVICES_PER_ACCOUNT),
    COUNT(stale_devices, 3, VT_MAX_DEVICES_PER_ACCOUNT),
    COUNT(ack_request, 1, VT_MAX_ACK_BATCH),
    COUNT(group_info, 2, VT_MAX_GROUP_MEMBERS),
    COUNT(group_info, 3, VT_MAX_GROUP_MEMBERS),
    COUNT(add_group_members_request, 2, VT_MAX_GROUP_MEMBERS),
    COUNT(remove_group_members_request, 2, VT_MAX_GROUP_MEMBERS),
    /* The creator joins implicitly. */
    COUNT(create_group_request, 1, VT_MAX_GROUP_MEMBERS - 1),
    COUNT(list_groups_response, 1, VT_MAX_GROUPS_PER_ACCOUNT),
};

static void test_options_match_constants(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        const bound *b = &bounds[i];
        const vt_pbc_limit *l = vt_pbc_limit_find(b->message, b->field);
        if (l == NULL)
            fail_msg("%s field %u has no bound in the .options files", b->message->name,
                     b->field);
        if (b->max_len != 0 && l->max_len != b->max_len)
            fail_msg("%s field %u: .options allows %u bytes, the spec %u",
                     b->message->name, b->field, l->max_len, b->max_len);
        if (b->max_count != 0 && l->max_count != b->max_count)
            fail_msg("%s field %u: .options allows %u items, the spec %u",
                     b->message->name, b->field, l->max_count, b->max_count);
    }
}

/* The largest padded Content, encrypted (header and tag added), fits the
 * bound of PrekeyMessage.message, and the largest PrekeyMessage fits an
 * envelope: a client can always send what it can encode. */
static void test_payloads_fit_envelope(void **state)
{
    (void)state;
    const vt_pbc_limit *inner =
        vt_pbc_limit_find(&ventra__v1__prekey_message__descriptor, 6);
    assert_non_null(inner);
    assert_true(ventra_v1_Content_size + VT_RATCHET_HEADER_LEN + VT_AEAD_TAG_LEN <=
                inner->max_len);
    assert_true(ventra_v1_PrekeyMessage_size <= VT_MAX_CONTENT_SIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_match_constants),
        cmocka_unit_test(test_payloads_fit_envelope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
