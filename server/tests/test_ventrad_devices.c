/* Black-box tests of ventrad's Devices service: AddDevice and the first
 * Login of a linked device, ListDevices, the device limit, RemoveDevice
 * and DeleteAccount with the sessions they end (spec/wire.md 5.7 to 5.10;
 * spec/auth.md AUTH-3 to AUTH-8, AUTH-52, AUTH-72 to AUTH-93). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "vtc_server.h"

#define E(name) VENTRA__V1__ERROR_CODE__ERROR_##name
#define P(name) VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_##name
#define R(name) VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_##name

/* AddDevice of |ik| approved by |owner| (a correct link signature). */
static Ventra__V1__Response *add_device(vtc_device *owner, const uint8_t ik[32],
                                        const char *name)
{
    uint8_t sig[64];

    vtc_sign_link(owner->id, owner->server_key, owner->username, owner->device_id, ik,
                  sig);
    return vtc_rpc_add_device(owner->c, ik, 32, name, sig, 64);
}

/* The device ids of ListDevices(|user|) on |c|, asserted to succeed. */
static size_t list(vtc_client *c, const char *user, uint32_t ids[8])
{
    Ventra__V1__Response *r = vtc_rpc_list_devices(c, user);
    size_t i, n;

    assert_non_null(r);
    if (r->error != NULL)
        fail_msg("ListDevices(%s): code %d", user, (int)r->error->code);
    assert_int_equal(r->body_case, VENTRA__V1__RESPONSE__BODY_LIST_DEVICES);
    n = r->list_devices->n_devices;
    assert_true(n <= 8);
    for (i = 0; i < n; i++)
        ids[i] = r->list_devices->devices[i]->device_id;
    vtc_response_free(r);
    return n;
}

/* A device of |owner|'s account logging in for the first time by hand. */
static vtc_device *device_for(vtc_device *owner, vt_identity *id, uint32_t device_id)
{
    vtc_device *d = calloc(1, sizeof *d);

    assert_non_null(d);
    snprintf(d->username, sizeof d->username, "%s", owner->username);
    memcpy(d->server_key, owner->server_key, 32);
    d->id = id;
    d->device_id = device_id;
    d->port = owner->port;
    return d;
}

/* A DeleteAccount of (|user|, |dev|) with the 32 bytes of |nonce| on |c|,
 * signed by |signer| over the transcript of these values and |key|; its
 * error code. */
static int delete_code(vtc_client *c, const vt_identity *signer, const uint8_t *key,
                       const uint8_t *nonce, const char *user, uint32_t dev)
{
    uint8_t sig[64];

    vtc_sign_delete_account(signer, key, nonce, 32, user, dev, sig);
    return vtc_take_code(vtc_rpc_delete_account(c, nonce, 32, sig, 64));
}

/* ---- AddDevice and ListDevices ---------------------------------------- */

static void test_link_and_list(void **state)
{
    vtc_server *srv = *state;
    char user[33], stranger_name[33];
    vtc_device *owner, *stranger, *d2;
    vt_identity *id2 = vtc_new_identity();
    Ventra__V1__Response *r;
    uint32_t ids[8];
    uint64_t now = (uint64_t)time(NULL);
    uint32_t dev;

    vtc_username(user, "link");
    vtc_username(stranger_name, "stranger");
    owner = vtc_register(srv->port, user);
    stranger = vtc_register(srv->port, stranger_name);

    r = add_device(owner, vt_identity_public(id2), "laptop");
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_ADD_DEVICE);
    dev = r->add_device->device_id;
    assert_int_equal(dev, 2);
    assert_true(r->add_device->expires_at + 120 >= now + VT_LINK_TTL_S);
    assert_true(r->add_device->expires_at <= now + VT_LINK_TTL_S + 120);
    vtc_response_free(r);

    /* Pending: not listed (AUTH-4). */
    assert_int_equal(list(owner->c, "", ids), 1);
    assert_int_equal(list(stranger->c, user, ids), 1);

    /* The first Login makes it active. */
    d2 = device_for(owner, id2, dev);
    assert_int_equal(vtc_login(d2, srv->port), 0);
    assert_int_equal(list(owner->c, "", ids), 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);

    /* Own account: names and created_at; others see neither (AUTH-6). */
    r = vtc_rpc_list_devices(d2->c, user);
    assert_int_equal(vtc_error_code(r), 0);
    assert_int_equal(r->list_devices->n_devices, 2);
    assert_string_equal(r->list_devices->devices[0]->name, "test device");
    assert_string_equal(r->list_devices->devices[1]->name, "laptop");
    assert_true(r->list_devices->devices[0]->created_at + 120 >= now);
    assert_true(r->list_devices->devices[1]->created_at + 120 >= now);
    assert_memory_equal(r->list_devices->devices[0]->identity_key.data,
                        vt_identity_public(owner->id), 32);
    assert_memory_equal(r->list_devices->devices[1]->identity_key.data,
                        vt_identity_public(id2), 32);
    vtc_response_free(r);
    r = vtc_rpc_list_devices(stranger->c, user);
    assert_int_equal(vtc_error_code(r), 0);
    assert_int_equal(r->list_devices->n_devices, 2);
    assert_int_equal(r->list_devices->devices[0]->device_id, 1);
    assert_int_equal(r->list_devices->devices[1]->device_id, 2);
    assert_string_equal(r->list_devices->devices[0]->name, "");
    assert_string_equal(r->list_devices->devices[1]->name, "");
    assert_true(r->list_devices->devices[0]->created_at == 0);
    assert_true(r->list_devices->devices[1]->created_at == 0);
    assert_int_equal(r->list_devices->devices[1]->identity_key.len, 32);
    assert_memory_equal(r->list_devices->devices[1]->identity_key.data,
                        vt_identity_public(id2), 32);
    vtc_response_free(r);

    /* ListDevices checks (WIRE-220 table). */
    assert_int_equal(vtc_take_code(vtc_rpc_list_devices(stranger->c, "No-Such")),
                     E(INVALID_ARGUMENT));
    assert_int_equal(vtc_take_code(vtc_rpc_list_devices(stranger->c, "nosuchuser-xyz")),
                     E(NOT_FOUND));

    /* The linked device is a full device: a helper-made link, too. */
    {
        vtc_device *d3 = vtc_link(d2);

        assert_int_equal(d3->device_id, 3);
        assert_int_equal(list(stranger->c, user, ids), 3);
        vtc_device_free(d3);
    }
    vtc_device_free(d2);
    vtc_device_free(owner);
    vtc_device_free(stranger);
}

/* WIRE-200: a retried AddDevice answers the same id and expires_at and
 * creates nothing. */
static void test_add_device_retry(void **state)
{
    vtc_server *srv = *state;
    char user[33];
    vtc_device *owner;
    vt_identity *a = vtc_new_identity(), *b = vtc_new_identity();
    Ventra__V1__Response *r1, *r2, *r3;

    vtc_username(user, "retry");
    owner = vtc_register(srv->port, user);
    r1 = add_device(owner, vt_identity_public(a), "a");
    r2 = add_device(owner, vt_identity_public(a), "a");
    assert_int_equal(vtc_error_code(r1), 0);
    assert_int_equal(vtc_error_code(r2), 0);
    assert_int_equal(r1->add_device->device_id, 2);
    assert_int_equal(r2->add_device->device_id, 2);
    assert_true(r1->add_device->expires_at == r2->add_device->expires_at);
    r3 = add_device(owner, vt_identity_public(b), "b");
    assert_int_equal(vtc_error_code(r3), 0);
    assert_int_equal(r3->add_device->device_id, 3);
    vtc_response_free(r1);
    vtc_response_free(r2);
    vtc_response_free(r3);
    vt_identity_free(a);
    vt_identity_free(b);
    vtc_device_free(owner);
}

static void test_add_device_errors(void **state)
{
    vtc_server *srv = *state;
    char user[33];
    vtc_device *owner;
    vt_identity *a = vtc_new_identity(), *mallory = vtc_new_identity();
    const uint8_t *ik = vt_identity_public(a);
    uint8_t sig[64], rnd[32], small_order[32] = {1}; /* the identity point */
    char longname[VT_MAX_DEVICE_NAME_LEN + 2];
    uint32_t ids[8];

    vtc_username(user, "adderr");
    owner = vtc_register(srv->port, user);
    assert_int_equal(vt_random_bytes(rnd, 32), VT_OK);
    assert_false(vt_ed25519_public_valid(small_order));

    /* Check 1: form. */
    vtc_sign_link(owner->id, owner->server_key, user, 1, ik, sig);
    assert_int_equal(vtc_take_code(vtc_rpc_add_device(owner->c, ik, 31, "", sig, 64)),
                     E(INVALID_ARGUMENT));
    assert_int_equal(vtc_take_code(vtc_rpc_add_device(owner->c, ik, 32, "", sig, 63)),
                     E(INVALID_ARGUMENT));
    vtc_sign_link(owner->id, owner->server_key, user, 1, small_order, sig);
    assert_int_equal(
        vtc_take_code(vtc_rpc_add_device(owner->c, small_order, 32, "", sig, 64)),
        E(INVALID_ARGUMENT));
    /* A name over MAX_DEVICE_NAME_LEN is TOO_LARGE (step 11). */
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    vtc_sign_link(owner->id, owner->server_key, user, 1, ik, sig);
    assert_int_equal(
        vtc_take_code(vtc_rpc_add_device(owner->c, ik, 32, longname, sig, 64)),
        E(TOO_LARGE));

    /* Check 2: forged link signatures: by the new key itself, by a
     * stranger, over another approving device id, over another key, over
     * another server key. */
    {
        const struct {
            const vt_identity *signer;
            const uint8_t *server_key;
            uint32_t approver;
            const uint8_t *new_key;
        } forged[] = {
            {a, owner->server_key, 1, ik},
            {mallory, owner->server_key, 1, ik},
            {owner->id, owner->server_key, 2, ik},
            {owner->id, owner->server_key, 1, rnd},
            {owner->id, rnd, 1, ik},
        };

        for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
            vtc_sign_link(forged[i].signer, forged[i].server_key, user,
                          forged[i].approver, forged[i].new_key, sig);
            assert_int_equal(
                vtc_take_code(vtc_rpc_add_device(owner->c, ik, 32, "", sig, 64)),
                E(BAD_SIGNATURE));
        }
    }

    /* Check 3: the key of an active device of the account. */
    assert_int_equal(vtc_take_code(add_device(owner, vt_identity_public(owner->id), "")),
                     E(ALREADY_EXISTS));

    /* Nothing was created: the next device gets id 2, and no device is
     * listed besides the owner. A name of exactly MAX_DEVICE_NAME_LEN
     * bytes is within bounds. */
    longname[VT_MAX_DEVICE_NAME_LEN] = '\0';
    {
        Ventra__V1__Response *r = add_device(owner, ik, longname);

        assert_int_equal(vtc_error_code(r), 0);
        assert_int_equal(r->add_device->device_id, 2);
        vtc_response_free(r);
    }
    assert_int_equal(list(owner->c, "", ids), 1);

    vt_identity_free(a);
    vt_identity_free(mallory);
    vtc_device_free(owner);
}

/* spec/wire.md 4.2 and AUTH-15: fixed-length fields longer than their
 * length are INVALID_ARGUMENT, never TOO_LARGE. */
static void test_fixed_lengths_longer(void **state)
{
    vtc_server *srv = *state;
    char user[33];
    vtc_device *owner;
    vt_identity *a = vtc_new_identity();
    uint8_t ik[40] = {0}, sig[72] = {0}, nonce[40] = {0};
    int rc, failed = 0;

    vtc_username(user, "fixlen");
    owner = vtc_register(srv->port, user);
    memcpy(ik, vt_identity_public(a), 32);
    vtc_sign_link(owner->id, owner->server_key, user, 1, ik, sig);
    rc = vtc_take_code(vtc_rpc_add_device(owner->c, ik, 33, "", sig, 64));
    failed += vtc_tally(rc, E(INVALID_ARGUMENT), "AddDevice identity_key of 33 bytes");
    rc = vtc_take_code(vtc_rpc_add_device(owner->c, ik, 32, "", sig, 65));
    failed += vtc_tally(rc, E(INVALID_ARGUMENT), "AddDevice signature of 65 bytes");
    assert_true(vtc_challenge(owner->c, P(DELETE_ACCOUNT), nonce));
    vtc_sign_delete_account(owner->id, owner->server_key, nonce, 32, user, 1, sig);
    rc = vtc_take_code(vtc_rpc_delete_account(owner->c, nonce, 33, sig, 64));
    failed += vtc_tally(rc, E(INVALID_ARGUMENT), "DeleteAccount nonce of 33 bytes");
    rc = vtc_take_code(vtc_rpc_delete_account(owner->c, nonce, 32, sig, 65));
    failed += vtc_tally(rc, E(INVALID_ARGUMENT), "DeleteAccount signature of 65 bytes");
    vt_identity_free(a);
    vtc_device_free(owner);
    assert_int_equal(failed, 0);
}

/* AUTH-5: at most MAX_DEVICES_PER_ACCOUNT devices, pending included. */
static void test_device_limit(void **state)
{
    vtc_server *srv = *state;
    char user[33];
    vtc_device *owner;
    vt_identity *ids[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    Ventra__V1__Response *r;
    size_t i;

    vtc_username(user, "limit");
    owner = vtc_register(srv->port, user);
    for (i = 1; i <= VT_MAX_DEVICES_PER_ACCOUNT; i++)
        ids[i] = vtc_new_identity();
    for (i = 1; i < VT_MAX_DEVICES_PER_ACCOUNT; i++) {
        r = add_device(owner, vt_identity_public(ids[i]), "");
        if (vtc_error_code(r) != 0)
            fail_msg("AddDevice #%zu: code %d", i, vtc_error_code(r));
        assert_int_equal(r->add_device->device_id, i + 1);
        vtc_response_free(r);
    }
    /* The seventh device. */
    assert_int_equal(vtc_take_code(add_device(
                         owner, vt_identity_public(ids[VT_MAX_DEVICES_PER_ACCOUNT]), "")),
                     E(LIMIT_EXCEEDED));
    /* A retry of a pending one still answers its id (AUTH-72 step 5
     * comes before the limit). */
    r = add_device(owner, vt_identity_public(ids[3]), "");
    assert_int_equal(vtc_error_code(r), 0);
    assert_int_equal(r->add_device->device_id, 4);
    vtc_response_free(r);
    /* Removing a pending device frees a place; the new one gets a new id
     * (AUTH-3: ids are never reused). */
    assert_int_equal(vtc_take_code(vtc_rpc_remove_device(owner->c, 6)), 0);
    r = add_device(owner, vt_identity_public(ids[VT_MAX_DEVICES_PER_ACCOUNT]), "");
    assert_int_equal(vtc_error_code(r), 0);
    assert_int_equal(r->add_device->device_id, 7);
    vtc_response_free(r);

    for (i = 1; i <= VT_MAX_DEVICES_PER_ACCOUNT; i++)
        vt_identity_free(ids[i]);
    vtc_device_free(owner);
}

/* ---- RemoveDevice ----------------------------------------------------- */

static void test_remove_device(void **state)
{
    vtc_server *srv = *state;
    char user[33], old_token[513];
    vtc_device *owner, *d2;
    vtc_client *c2;
    uint32_t ids[8];
    int rc;

    vtc_username(user, "remove");
    owner = vtc_register(srv->port, user);
    d2 = vtc_link(owner);
    assert_int_equal(d2->device_id, 2);
    snprintf(old_token, sizeof old_token, "%s", d2->token);

    /* Checks 1 and 2. */
    assert_int_equal(vtc_take_code(vtc_rpc_remove_device(owner->c, 0)),
                     E(INVALID_ARGUMENT));
    assert_int_equal(vtc_take_code(vtc_rpc_remove_device(owner->c, 3)), E(NOT_FOUND));
    assert_int_equal(vtc_take_code(vtc_rpc_remove_device(owner->c, 99)), E(NOT_FOUND));

    assert_int_equal(vtc_take_code(vtc_rpc_remove_device(owner->c, 2)), 0);
    /* WIRE-210: the removed device's connection ends. */
    c2 = d2->c;
    vtc_expect_session_ended(c2, R(DEVICE_REMOVED), 4001, 5000);
    d2->c = NULL;
    vtc_client_free(c2);

    /* Its token is revoked (AUTH-52), Login fails as AUTH-41 says, and it
     * is no longer listed. */
    rc = vtc_resume(d2, srv->port);
    assert_int_equal(rc, E(BAD_TOKEN));
    snprintf(d2->token, sizeof d2->token, "%s", old_token);
    assert_int_equal(vtc_resume(d2, srv->port), E(BAD_TOKEN));
    assert_int_equal(vtc_login(d2, srv->port), E(BAD_SIGNATURE));
    assert_int_equal(list(owner->c, "", ids), 1);
    assert_int_equal(ids[0], 1);

    /* Idempotent: removing again succeeds and changes nothing. */
    assert_int_equal(vtc_take_code(vtc_rpc_remove_device(owner->c, 2)), 0);
    /* Check 3: not the only active device. */
    assert_int_equal(vtc_take_code(vtc_rpc_remove_device(owner->c, 1)),
                     E(PERMISSION_DENIED));
    assert_int_equal(vtc_take_code(vtc_rpc_ping(owner->c, 1)), 0);
    assert_int_equal(list(owner->c, "", ids), 1);

    /* The next device gets id 3, never 2 again (AUTH-3). */
    {
        vtc_device *d3 = vtc_link(owner);

        assert_int_equal(d3->device_id, 3);
        vtc_device_free(d3);
    }
    vtc_device_free(d2);
    vtc_device_free(owner);
}

/* AUTH-86: a device that removes itself gets the response first, then
 * the event, then the close. */
static void test_remove_self(void **state)
{
    vtc_server *srv = *state;
    char user[33];
    vtc_device *owner, *d2;
    Ventra__V1__Response *r;
    uint32_t ids[8];

    vtc_username(user, "rmself");
    owner = vtc_register(srv->port, user);
    d2 = vtc_link(owner);
    r = vtc_rpc_remove_device(d2->c, d2->device_id);
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_REMOVE_DEVICE);
    vtc_response_free(r);
    vtc_expect_session_ended(d2->c, R(DEVICE_REMOVED), 4001, 5000);
    assert_int_equal(list(owner->c, "", ids), 1);
    /* The owner's connection is untouched. */
    assert_int_equal(vtc_take_code(vtc_rpc_ping(owner->c, 2)), 0);
    vtc_device_free(d2);
    vtc_device_free(owner);
}

/* ---- DeleteAccount ---------------------------------------------------- */

static void test_delete_account(void **state)
{
    vtc_server *srv = *state;
    char user[33], token1[513], token2[513];
    vtc_device *owner, *d2, *again;
    uint8_t nonce[32], sig[64], rnd[32];
    vt_identity *mallory = vtc_new_identity();
    const uint8_t *key;
    Ventra__V1__Response *r;
    uint32_t ids[8];

    vtc_username(user, "delete");
    owner = vtc_register(srv->port, user);
    key = owner->server_key;
    d2 = vtc_link(owner);
    snprintf(token1, sizeof token1, "%s", owner->token);
    snprintf(token2, sizeof token2, "%s", d2->token);
    assert_int_equal(vt_random_bytes(rnd, 32), VT_OK);

    /* Check 1: lengths. */
    assert_true(vtc_challenge(owner->c, P(DELETE_ACCOUNT), nonce));
    vtc_sign_delete_account(owner->id, key, nonce, 32, user, 1, sig);
    assert_int_equal(vtc_take_code(vtc_rpc_delete_account(owner->c, nonce, 31, sig, 64)),
                     E(INVALID_ARGUMENT));
    assert_int_equal(vtc_take_code(vtc_rpc_delete_account(owner->c, nonce, 32, sig, 0)),
                     E(INVALID_ARGUMENT));
    /* Check 2: the challenge: no challenge on this connection, a nonce
     * never issued. */
    assert_int_equal(delete_code(d2->c, owner->id, key, nonce, user, 1),
                     E(BAD_CHALLENGE));
    assert_int_equal(delete_code(owner->c, owner->id, key, rnd, user, 1),
                     E(BAD_CHALLENGE));
    /* Check 3: forged signatures: another key; the other device's id. */
    assert_true(vtc_challenge(owner->c, P(DELETE_ACCOUNT), nonce));
    assert_int_equal(delete_code(owner->c, mallory, key, nonce, user, 1),
                     E(BAD_SIGNATURE));
    /* ... and the challenge is consumed (AUTH-33). */
    assert_int_equal(delete_code(owner->c, owner->id, key, nonce, user, 1),
                     E(BAD_CHALLENGE));
    assert_true(vtc_challenge(owner->c, P(DELETE_ACCOUNT), nonce));
    assert_int_equal(delete_code(owner->c, owner->id, key, nonce, user, 2),
                     E(BAD_SIGNATURE));
    /* The account is intact. */
    assert_int_equal(list(d2->c, "", ids), 2);

    /* The real thing: response, then both connections end. */
    assert_true(vtc_challenge(owner->c, P(DELETE_ACCOUNT), nonce));
    vtc_sign_delete_account(owner->id, key, nonce, 32, user, 1, sig);
    r = vtc_rpc_delete_account(owner->c, nonce, 32, sig, 64);
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_DELETE_ACCOUNT);
    vtc_response_free(r);
    vtc_expect_session_ended(owner->c, R(ACCOUNT_DELETED), 4001, 5000);
    vtc_expect_session_ended(d2->c, R(ACCOUNT_DELETED), 4001, 5000);
    vtc_disconnect(owner);
    vtc_disconnect(d2);

    /* The tokens are dead. */
    assert_int_equal(vtc_resume(owner, srv->port), E(BAD_TOKEN));
    assert_int_equal(vtc_resume(d2, srv->port), E(BAD_TOKEN));
    vtc_disconnect(owner);

    /* AUTH-93: the name is free again; the new account starts at device
     * 1 with another key, and the old device-1 token is still refused
     * although its sub and dev name an existing device (AUTH-52). */
    again = vtc_register(srv->port, user);
    assert_int_equal(again->device_id, 1);
    snprintf(owner->token, sizeof owner->token, "%s", token1);
    assert_int_equal(vtc_resume(owner, srv->port), E(BAD_TOKEN));
    snprintf(d2->token, sizeof d2->token, "%s", token2);
    assert_int_equal(vtc_resume(d2, srv->port), E(BAD_TOKEN));
    r = vtc_rpc_list_devices(again->c, "");
    assert_int_equal(vtc_error_code(r), 0);
    assert_int_equal(r->list_devices->n_devices, 1);
    assert_memory_equal(r->list_devices->devices[0]->identity_key.data,
                        vt_identity_public(again->id), 32);
    vtc_response_free(r);
    /* The old device's key no longer logs in. */
    assert_int_equal(vtc_login(owner, srv->port), E(BAD_SIGNATURE));
    /* The new account's device logs in and resumes normally. */
    assert_int_equal(vtc_resume(again, srv->port), 0);

    vt_identity_free(mallory);
    vtc_device_free(again);
    vtc_device_free(d2);
    vtc_device_free(owner);
}

/* The helper of the kit, and a deleted account's name in ListDevices. */
static void test_delete_account_helper(void **state)
{
    vtc_server *srv = *state;
    char user[33], other[33];
    vtc_device *d, *o;

    vtc_username(user, "delhelp");
    vtc_username(other, "watcher");
    d = vtc_register(srv->port, user);
    o = vtc_register(srv->port, other);
    assert_int_equal(vtc_delete_account(d), 0);
    assert_int_equal(vtc_wait_close(d->c, 5000), 4001);
    assert_int_equal(vtc_take_code(vtc_rpc_list_devices(o->c, user)), E(NOT_FOUND));
    vtc_device_free(d);
    vtc_device_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_and_list),
        cmocka_unit_test(test_add_device_retry),
        cmocka_unit_test(test_add_device_errors),
        cmocka_unit_test(test_fixed_lengths_longer),
        cmocka_unit_test(test_device_limit),
        cmocka_unit_test(test_remove_device),
        cmocka_unit_test(test_remove_self),
        cmocka_unit_test(test_delete_account),
        cmocka_unit_test(test_delete_account_helper),
    };

    return VTC_RUN(tests, vtc_setup, vtc_teardown);
}
