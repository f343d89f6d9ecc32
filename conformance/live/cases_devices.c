/* Live cases of the devices of an account (spec/auth.md, Devices, Linking,
 * Removing a device, Deleting an account; spec/wire.md sections 5.7 to
 * 5.10; spec/delivery.md section 6 for what removal and deletion do to
 * queues): AddDevice and the first Login of a pending device, ListDevices,
 * the device limit and ids, RemoveDevice and DeleteAccount. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "case_util.h"
#include "live.h"
#include "ventra/crypto.h"
#include "ventra/err.h"
#include "vt_constants.h"

#define REASON(name) VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_##name
#define PURPOSE(name) VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_##name
#define EV(name) VENTRA__V1__EVENT__BODY_##name

/* Seconds of slack between our clock and the server's. */
#define CLOCK_SLACK_S 120

/* ---- Helpers ------------------------------------------------------------ */

/* AddDevice of |ik| named |name|, approved by |owner| with a correct link
 * signature. */
static Ventra__V1__Response *add_device(vtc_device *owner, const uint8_t ik[32],
                                        const char *name)
{
    uint8_t sig[64];

    vtc_sign_link(owner->id, owner->server_key, owner->username, owner->device_id, ik,
                  sig);
    return vtc_rpc_add_device(owner->c, ik, 32, name, sig, 64);
}

/* A new device of |owner|'s account approved by AddDevice with |name| and
 * not logged in yet (pending); *expires_at (when not NULL) is the answer's.
 * Freed after the case; vtc_login makes it active. */
static vtc_device *add_pending(vcl_ctx *ctx, vtc_device *owner, const char *name,
                               uint64_t *expires_at)
{
    vtc_device *d = calloc(1, sizeof *d);
    Ventra__V1__Response *r;

    VCL_CHECK(ctx, d != NULL, "out of memory");
    vcl_hold_device(ctx, d);
    snprintf(d->username, sizeof d->username, "%s", owner->username);
    memcpy(d->server_key, owner->server_key, 32);
    d->port = owner->port;
    d->id = vtc_new_identity();
    r = vcl_ok_body(ctx, add_device(owner, vt_identity_public(d->id), name),
                    VENTRA__V1__RESPONSE__BODY_ADD_DEVICE, "AddDevice");
    d->device_id = r->add_device->device_id;
    if (expires_at != NULL)
        *expires_at = r->add_device->expires_at;
    return d;
}

/* AUTH-41: Login of |d| (a removed, lapsed or deleted device, or a
 * replaced key) is refused with the one answer for every such failure. */
static void expect_login_refused(vcl_ctx *ctx, vtc_device *d, const char *what)
{
    int rc = vtc_login(d, vcl_port(ctx));

    vtc_disconnect(d);
    VCL_CHECK(ctx, rc == VT_ERR_BAD_SIGNATURE,
              "Login of %s: got %s, want ERROR_BAD_SIGNATURE", what, vcl_code_name(rc));
}

/* Logs |d| in (its first Login makes a pending device active). */
static void login_ok(vcl_ctx *ctx, vtc_device *d)
{
    int rc = vtc_login(d, vcl_port(ctx));

    VCL_CHECK(ctx, rc == 0, "Login of %s/%u: got %s, want success", d->username,
              d->device_id, vcl_code_name(rc));
}

/* ListDevices(|user|) on |c|, asserted to succeed; freed after the case. */
static Ventra__V1__ListDevicesResponse *list(vcl_ctx *ctx, vtc_client *c,
                                             const char *user)
{
    Ventra__V1__Response *r =
        vcl_ok_body(ctx, vtc_rpc_list_devices(c, user),
                    VENTRA__V1__RESPONSE__BODY_LIST_DEVICES, "ListDevices");

    return r->list_devices;
}

/* Asserts that ListDevices(|user|) on |c| lists exactly the |n| ids |want|,
 * in that order. */
static void expect_list(vcl_ctx *ctx, vtc_client *c, const char *user,
                        const uint32_t *want, size_t n)
{
    Ventra__V1__ListDevicesResponse *l = list(ctx, c, user);
    char got[96] = "", wanted[96] = "";
    bool same = l->n_devices == n;

    for (size_t i = 0; i < l->n_devices && i < 8; i++) {
        size_t o = strlen(got);

        snprintf(got + o, sizeof got - o, "%s%u", i ? " " : "", l->devices[i]->device_id);
        if (i >= n || l->devices[i]->device_id != want[i])
            same = false;
    }
    for (size_t i = 0; i < n; i++) {
        size_t o = strlen(wanted);

        snprintf(wanted + o, sizeof wanted - o, "%s%u", i ? " " : "", want[i]);
    }
    VCL_CHECK(ctx, same, "ListDevices(%s) lists devices [%s], want [%s]",
              user[0] ? user : "own account", got, wanted);
}

/* Asserts that |r| is ERROR_STALE_DEVICES with one entry, for |user|, with
 * the |nm| ids |missing| and the |ne| ids |extra|; frees |r|. */
static void expect_stale(vcl_ctx *ctx, Ventra__V1__Response *r, const char *user,
                         const uint32_t *missing, size_t nm, const uint32_t *extra,
                         size_t ne)
{
    const Ventra__V1__StaleDevices *s;
    int code = vtc_error_code(vcl_keep(ctx, r));
    bool same;

    VCL_CHECK(ctx, code == VT_ERR_STALE_DEVICES, "Send: got %s, want ERROR_STALE_DEVICES",
              vcl_code_name(code));
    VCL_CHECK(ctx, r->error->n_stale == 1, "ERROR_STALE_DEVICES with %zu entries, want 1",
              r->error->n_stale);
    s = r->error->stale[0];
    VCL_CHECK(ctx, strcmp(s->username, user) == 0,
              "the stale entry names '%s', want '%s'", s->username, user);
    same = s->n_missing == nm && s->n_extra == ne;
    for (size_t i = 0; same && i < nm; i++)
        same = s->missing[i] == missing[i];
    for (size_t i = 0; same && i < ne; i++)
        same = s->extra[i] == extra[i];
    VCL_CHECK(ctx, same,
              "the stale entry has %zu missing (first %u) and %zu extra (first %u); want "
              "%zu missing (first %u) and %zu extra (first %u)",
              s->n_missing, s->n_missing ? s->missing[0] : 0, s->n_extra,
              s->n_extra ? s->extra[0] : 0, nm, nm ? missing[0] : 0, ne,
              ne ? extra[0] : 0);
}

/* Asserts that a Send from |from| to |to| with envelopes for the |n|
 * devices |ids| (to_recipient only) is accepted; returns the message id
 * in |mid|. */
static void send_ok(vcl_ctx *ctx, vtc_device *from, const char *to, const uint32_t *ids,
                    size_t n, uint8_t mid[16])
{
    Ventra__V1__Response *r;

    vtc_random16(mid);
    r = vcl_ok_body(ctx, vtc_send_lists(from, to, ids, n, NULL, 0, "hello", mid, NULL),
                    VENTRA__V1__RESPONSE__BODY_SEND, "Send");
    VCL_CHECK(ctx, !r->send->duplicate, "a first Send answered duplicate true");
}

/* A Send from |from| to |owner|'s devices 1 and 2, where device 2 (|naming|)
 * may not receive, is ERROR_STALE_DEVICES with extra [2]; then a Send to
 * device 1 (|only|) succeeds. */
static void device2_extra(vcl_ctx *ctx, vtc_device *from, const vtc_device *owner,
                          const char *naming, const char *only)
{
    static const uint32_t one[] = {1}, both[] = {1, 2}, two[] = {2};
    uint8_t mid[16];

    vcl_step(ctx, "a Send naming %s", naming);
    vtc_random16(mid);
    expect_stale(ctx,
                 vtc_send_lists(from, owner->username, both, 2, NULL, 0, "x", mid, NULL),
                 owner->username, NULL, 0, two, 1);
    vcl_step(ctx, "a Send to %s", only);
    send_ok(ctx, from, owner->username, one, 1, mid);
}

/* Asserts that nothing is queued for |d| (connected just now): the next
 * MessageEvent or QueueDrainedEvent is a QueueDrainedEvent with count 0. */
static void expect_queue_empty(vcl_ctx *ctx, vtc_device *d)
{
    Ventra__V1__Event *e = vtc_wait_events(
        d->c, VTC_EVENT(EV(MESSAGE)) | VTC_EVENT(EV(QUEUE_DRAINED)), 5000);

    VCL_CHECK(ctx, e != NULL, "%s/%u: no QueueDrainedEvent within 5 s", d->username,
              d->device_id);
    vcl_hold_event(ctx, e);
    VCL_CHECK(
        ctx, e->body_case == EV(QUEUE_DRAINED),
        "%s/%u was pushed a message (seq %llu) queued before it existed as it is now",
        d->username, d->device_id,
        (unsigned long long)(e->message ? e->message->seq : 0));
    VCL_CHECK(ctx, e->queue_drained->count == 0,
              "%s/%u: QueueDrainedEvent count %u, want 0 (nothing queued)", d->username,
              d->device_id, e->queue_drained->count);
}

/* Asserts that |d| (connected just now) is pushed the message |mid| from
 * |sender|/|sender_dev| within 5 s. */
static void expect_message_from(vcl_ctx *ctx, vtc_device *d, const uint8_t mid[16],
                                const char *sender, uint32_t sender_dev)
{
    Ventra__V1__Event *e = vtc_wait_event(d->c, EV(MESSAGE), 5000);
    const Ventra__V1__MessageEvent *m;

    VCL_CHECK(ctx, e != NULL, "%s/%u: the queued message was not delivered", d->username,
              d->device_id);
    vcl_hold_event(ctx, e);
    m = e->message;
    VCL_CHECK(ctx, m->message_id.len == 16 && memcmp(m->message_id.data, mid, 16) == 0,
              "%s/%u: pushed another message than the one queued", d->username,
              d->device_id);
    VCL_CHECK(ctx, strcmp(m->sender, sender) == 0 && m->sender_device == sender_dev,
              "the message's sender is %s/%u, want %s/%u", m->sender, m->sender_device,
              sender, sender_dev);
}

/* Sends |req| on |c|, then reads the connection message by message: the
 * Response to it (success, body |body|) must come before the
 * SessionEndedEvent with |reason|, which must be the last frame before the
 * close 4001 (AUTH-86, AUTH-92, WIRE-601). Events before the response are
 * skipped. */
static void expect_answer_then_end(vcl_ctx *ctx, vtc_client *c, Ventra__V1__Request *req,
                                   int body, int reason)
{
    uint32_t id = vtc_send_request(c, req);
    vtc_ws *ws = vtc_client_ws(c);
    vtc_ws_msg *m = vcl_msg(ctx);
    int64_t deadline = vtc_now_ms() + 5000;
    bool answered = false, ended = false;

    for (;;) {
        Ventra__V1__Frame *f;
        int code = 0, got_reason = 0, kind;

        vtc_ws_msg_free(m);
        vtc_ws_recv(ws, vtc_left_ms(deadline), m);
        if (m->kind == VTC_WS_CLOSE || m->kind == VTC_WS_EOF) {
            VCL_CHECK(ctx, answered, "the connection closed before the response");
            VCL_CHECK(ctx, ended, "the connection closed without a SessionEndedEvent");
            VCL_CHECK(ctx, m->kind == VTC_WS_CLOSE && m->close_code == 4001,
                      "closed with %d after the SessionEndedEvent, want 4001",
                      m->kind == VTC_WS_CLOSE ? m->close_code : -1);
            return;
        }
        VCL_CHECK(ctx, m->kind != VTC_WS_TIMEOUT, "within 5 s: %s",
                  !answered ? "no response"
                  : !ended  ? "no SessionEndedEvent"
                            : "no close after the SessionEndedEvent");
        if (m->kind != VTC_WS_BINARY)
            continue;
        f = ventra__v1__frame__unpack(NULL, m->len, m->data);
        VCL_CHECK(ctx, f != NULL, "the server sent a message that is not a Frame");
        kind = (int)f->kind_case;
        if (kind == VENTRA__V1__FRAME__KIND_RESPONSE && f->response->id == id) {
            code = vtc_error_code(f->response);
            if (code == 0 && (int)f->response->body_case != body)
                code = VT_ERR_INTERNAL;
        } else if (kind == VENTRA__V1__FRAME__KIND_EVENT &&
                   f->event->body_case == EV(SESSION_ENDED)) {
            got_reason = (int)f->event->session_ended->reason;
            kind = -1;
        }
        ventra__v1__frame__free_unpacked(f, NULL);
        VCL_CHECK(ctx, !ended, "a frame after the SessionEndedEvent");
        if (kind == VENTRA__V1__FRAME__KIND_RESPONSE) {
            VCL_CHECK(ctx, code == 0, "the request was answered %s, want success",
                      vcl_code_name(code));
            answered = true;
        } else if (kind == -1) {
            VCL_CHECK(ctx, answered, "the SessionEndedEvent came before the response");
            VCL_CHECK(ctx, got_reason == reason, "SessionEndedEvent reason %d, want %d",
                      got_reason, reason);
            ended = true;
        }
    }
}

/* GetChallenge(DELETE_ACCOUNT) on |c| into |nonce|. */
static void delete_challenge(vcl_ctx *ctx, vtc_client *c, uint8_t nonce[32])
{
    VCL_CHECK(ctx, vtc_challenge(c, PURPOSE(DELETE_ACCOUNT), nonce),
              "GetChallenge(DELETE_ACCOUNT) failed");
}

/* DeleteAccount of (|user|, |dev|) with the 32 bytes of |nonce| on |c|,
 * signed by |signer| over the transcript with the server key |key|. */
static Ventra__V1__Response *delete_signed(vtc_client *c, const vt_identity *signer,
                                           const uint8_t *key, const uint8_t *nonce,
                                           const char *user, uint32_t dev)
{
    uint8_t sig[64];

    vtc_sign_delete_account(signer, key, nonce, 32, user, dev, sig);
    return vtc_rpc_delete_account(c, nonce, 32, sig, 64);
}

/* |d|'s DeleteAccount, asserting the response first, then the end of its
 * session (AUTH-92). */
static void delete_account_ok(vcl_ctx *ctx, vtc_device *d)
{
    Ventra__V1__DeleteAccountRequest body = VENTRA__V1__DELETE_ACCOUNT_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    uint8_t nonce[32], sig[64];

    delete_challenge(ctx, d->c, nonce);
    vtc_sign_delete_account(d->id, d->server_key, nonce, 32, d->username, d->device_id,
                            sig);
    body.nonce = vtc_bin(nonce, 32);
    body.signature = vtc_bin(sig, 64);
    req.body_case = VENTRA__V1__REQUEST__BODY_DELETE_ACCOUNT;
    req.delete_account = &body;
    expect_answer_then_end(ctx, d->c, &req, VENTRA__V1__RESPONSE__BODY_DELETE_ACCOUNT,
                           REASON(ACCOUNT_DELETED));
    vtc_disconnect(d);
}

/* ---- AddDevice and the pending device ---------------------------------- */

static void add_device_pending(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "owner");
    vtc_device *stranger = vcl_account(ctx, "stranger");
    uint64_t now = (uint64_t)time(NULL), expires_at = 0;
    const uint32_t one[] = {1};
    vtc_device *d2;

    vcl_step(ctx, "AddDevice");
    d2 = add_pending(ctx, owner, "laptop", &expires_at);
    VCL_CHECK(ctx, d2->device_id == 2, "the first AddDevice answered device %u, want 2",
              d2->device_id);
    VCL_CHECK(ctx,
              expires_at + CLOCK_SLACK_S >= now + VT_LINK_TTL_S &&
                  expires_at <= now + VT_LINK_TTL_S + CLOCK_SLACK_S,
              "expires_at %llu, want now + LINK_TTL_S (%llu)",
              (unsigned long long)expires_at, (unsigned long long)(now + VT_LINK_TTL_S));

    vcl_step(ctx, "ListDevices while device 2 is pending");
    expect_list(ctx, owner->c, "", one, 1);
    expect_list(ctx, stranger->c, owner->username, one, 1);

    device2_extra(ctx, stranger, owner, "the pending device", "the active device only");
}

static void first_login_activates(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "owner");
    vtc_device *stranger = vcl_account(ctx, "stranger");
    const uint32_t one[] = {1}, both[] = {1, 2}, three[] = {1, 2, 3}, missing[] = {2, 3};
    vtc_device *d2, *d3;
    uint8_t mid[16];

    d2 = add_pending(ctx, owner, "laptop", NULL);
    vcl_step(ctx, "the first Login of device 2");
    login_ok(ctx, d2);
    expect_list(ctx, owner->c, "", both, 2);
    expect_list(ctx, stranger->c, owner->username, both, 2);

    vcl_step(ctx, "device 2 links device 3");
    d3 = vcl_link(ctx, d2);
    VCL_CHECK(ctx, d3->device_id == 3, "the device linked by device 2 got id %u, want 3",
              d3->device_id);
    expect_list(ctx, stranger->c, owner->username, three, 3);

    vcl_step(ctx, "a Send naming device 1 only");
    vtc_random16(mid);
    expect_stale(
        ctx, vtc_send_lists(stranger, owner->username, one, 1, NULL, 0, "x", mid, NULL),
        owner->username, missing, 2, NULL, 0);
}

static void add_device_retry(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "retry");
    vt_identity *a = vcl_identity(ctx), *b = vcl_identity(ctx);
    Ventra__V1__Response *r1, *r2, *r3;
    const uint32_t one[] = {1};

    vcl_step(ctx, "AddDevice of key A");
    r1 = vcl_ok_body(ctx, add_device(owner, vt_identity_public(a), "a"),
                     VENTRA__V1__RESPONSE__BODY_ADD_DEVICE, "AddDevice(A)");
    vcl_step(ctx, "AddDevice of key A again");
    r2 = vcl_ok_body(ctx, add_device(owner, vt_identity_public(a), "a"),
                     VENTRA__V1__RESPONSE__BODY_ADD_DEVICE, "AddDevice(A) again");
    VCL_CHECK(ctx,
              r1->add_device->device_id == r2->add_device->device_id &&
                  r1->add_device->expires_at == r2->add_device->expires_at,
              "the retry answered device %u expiring %llu, want the first answer's %u "
              "expiring %llu",
              r2->add_device->device_id, (unsigned long long)r2->add_device->expires_at,
              r1->add_device->device_id, (unsigned long long)r1->add_device->expires_at);
    vcl_step(ctx, "AddDevice of key B");
    r3 = vcl_ok_body(ctx, add_device(owner, vt_identity_public(b), "b"),
                     VENTRA__V1__RESPONSE__BODY_ADD_DEVICE, "AddDevice(B)");
    VCL_CHECK(ctx, r1->add_device->device_id == 2 && r3->add_device->device_id == 3,
              "devices %u and %u, want 2 and 3: the retry created a device",
              r1->add_device->device_id, r3->add_device->device_id);
    expect_list(ctx, owner->c, "", one, 1);
}

static void add_device_invalid(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "adderr");
    vt_identity *a = vcl_identity(ctx);
    const uint8_t *ik = vt_identity_public(a);
    const char *user = owner->username;
    uint8_t sig[72] = {0}, long_ik[40] = {0}, small_order[32] = {1}, noncanon[32];
    char name[VT_MAX_DEVICE_NAME_LEN + 2];
    const uint32_t one[] = {1};
    Ventra__V1__Response *r;

    memset(noncanon, 0xff, sizeof noncanon);
    noncanon[31] = 0x7f; /* y = 2^255 - 1 >= p: not a canonical encoding */
    memcpy(long_ik, ik, 32);
    vtc_sign_link(owner->id, owner->server_key, user, 1, ik, sig);

    vcl_step(ctx, "identity keys and signatures of the wrong length");
    vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, ik, 31, "", sig, 64),
                    VT_ERR_INVALID_ARGUMENT, "identity_key of 31 bytes");
    vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, long_ik, 33, "", sig, 64),
                    VT_ERR_INVALID_ARGUMENT, "identity_key of 33 bytes");
    vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, NULL, 0, "", sig, 64),
                    VT_ERR_INVALID_ARGUMENT, "no identity_key");
    vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, ik, 32, "", sig, 63),
                    VT_ERR_INVALID_ARGUMENT, "signature of 63 bytes");
    vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, ik, 32, "", sig, 65),
                    VT_ERR_INVALID_ARGUMENT, "signature of 65 bytes");
    vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, ik, 32, "", NULL, 0),
                    VT_ERR_INVALID_ARGUMENT, "no signature");

    vcl_step(ctx, "identity keys that are not valid (AUTH-7)");
    VCL_CHECK(ctx,
              !vt_ed25519_public_valid(small_order) && !vt_ed25519_public_valid(noncanon),
              "test setup: the invalid keys are valid");
    vtc_sign_link(owner->id, owner->server_key, user, 1, small_order, sig);
    vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, small_order, 32, "", sig, 64),
                    VT_ERR_INVALID_ARGUMENT, "the identity point as identity_key");
    vtc_sign_link(owner->id, owner->server_key, user, 1, noncanon, sig);
    vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, noncanon, 32, "", sig, 64),
                    VT_ERR_INVALID_ARGUMENT, "a non-canonical identity_key");
    /* Check 2 comes before check 3: a bad signature too is still
     * INVALID_ARGUMENT. */
    memset(sig, 0x55, 64);
    vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, small_order, 32, "", sig, 64),
                    VT_ERR_INVALID_ARGUMENT, "an invalid key with a bad signature");
    VCL_CODE(ctx, vtc_take_code(vtc_rpc_ping(owner->c, 1)), 0);

    vcl_step(ctx, "a device name of MAX_DEVICE_NAME_LEN + 1 bytes");
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    vtc_sign_link(owner->id, owner->server_key, user, 1, ik, sig);
    vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, ik, 32, name, sig, 64),
                    VT_ERR_TOO_LARGE, "a device name of 65 bytes");
    expect_list(ctx, owner->c, "", one, 1);

    vcl_step(ctx, "a device name of exactly MAX_DEVICE_NAME_LEN bytes");
    name[VT_MAX_DEVICE_NAME_LEN] = '\0';
    r = vcl_ok_body(ctx, add_device(owner, ik, name),
                    VENTRA__V1__RESPONSE__BODY_ADD_DEVICE,
                    "AddDevice with a 64-byte name");
    VCL_CHECK(ctx, r->add_device->device_id == 2,
              "device %u, want 2: a refused AddDevice used an id",
              r->add_device->device_id);
}

static void add_device_bad_signature(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "badsig");
    vt_identity *a = vcl_identity(ctx), *mallory = vcl_identity(ctx);
    const uint8_t *ik = vt_identity_public(a);
    uint8_t sig[64], rnd[32];
    const uint32_t one[] = {1};
    const struct {
        const char *what;
        const vt_identity *signer;
        const uint8_t *server_key;
        uint32_t approver;
        const uint8_t *new_key;
    } forged[] = {
        {"signed by the new key itself", a, owner->server_key, 1, ik},
        {"signed by another identity", mallory, owner->server_key, 1, ik},
        {"over approving device 2", owner->id, owner->server_key, 2, ik},
        {"over another new key", owner->id, owner->server_key, 1, rnd},
        {"over another server key", owner->id, rnd, 1, ik},
    };
    Ventra__V1__Response *r;

    vtc_random16(rnd);
    vtc_random16(rnd + 16);
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        vcl_step(ctx, "a link signature %s", forged[i].what);
        vtc_sign_link(forged[i].signer, forged[i].server_key, owner->username,
                      forged[i].approver, forged[i].new_key, sig);
        vcl_expect_code(ctx, vtc_rpc_add_device(owner->c, ik, 32, "", sig, 64),
                        VT_ERR_BAD_SIGNATURE, forged[i].what);
    }
    vcl_step(ctx, "a correct signature after the refusals");
    expect_list(ctx, owner->c, "", one, 1);
    r = vcl_ok_body(ctx, add_device(owner, ik, ""), VENTRA__V1__RESPONSE__BODY_ADD_DEVICE,
                    "AddDevice");
    VCL_CHECK(ctx, r->add_device->device_id == 2,
              "device %u, want 2: a refused AddDevice used an id",
              r->add_device->device_id);
}

static void add_device_active_key(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "dupkey");
    vtc_device *d2 = vcl_link(ctx, owner);
    vtc_device *other = vcl_account(ctx, "other");
    const uint32_t both[] = {1, 2};
    Ventra__V1__Response *r;

    vcl_step(ctx, "AddDevice of device 1's own key");
    vcl_expect_code(ctx, add_device(owner, vt_identity_public(owner->id), ""),
                    VT_ERR_ALREADY_EXISTS, "AddDevice of an active device's key");
    vcl_step(ctx, "AddDevice of device 2's key, approved by device 2");
    vcl_expect_code(ctx, add_device(d2, vt_identity_public(d2->id), ""),
                    VT_ERR_ALREADY_EXISTS, "AddDevice of the approver's own key");
    vcl_step(ctx, "AddDevice of device 2's key, approved by device 1");
    vcl_expect_code(ctx, add_device(owner, vt_identity_public(d2->id), ""),
                    VT_ERR_ALREADY_EXISTS, "AddDevice of another active device's key");
    expect_list(ctx, owner->c, "", both, 2);

    /* AUTH-8 is per account: a key of another account's device passes
     * every check of AUTH-72. */
    vcl_step(ctx, "AddDevice of a key of another account's device");
    r = vcl_ok_body(ctx, add_device(other, vt_identity_public(owner->id), ""),
                    VENTRA__V1__RESPONSE__BODY_ADD_DEVICE,
                    "AddDevice of another account's key");
    VCL_CHECK(ctx, r->add_device->device_id == 2, "device %u, want 2",
              r->add_device->device_id);
}

static void device_limit(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "limit");
    vtc_device *d2 = vcl_link(ctx, owner);
    vtc_device *pend[VT_MAX_DEVICES_PER_ACCOUNT];
    vt_identity *extra = vcl_identity(ctx);
    Ventra__V1__Response *r;
    size_t i;

    /* Active devices 1 and 2, pending 3 to 6. */
    vcl_step(ctx, "AddDevice up to MAX_DEVICES_PER_ACCOUNT devices");
    for (i = 3; i <= VT_MAX_DEVICES_PER_ACCOUNT; i++) {
        pend[i - 1] = add_pending(ctx, i % 2 ? owner : d2, "", NULL);
        VCL_CHECK(ctx, pend[i - 1]->device_id == i,
                  "AddDevice answered device %u, want %zu", pend[i - 1]->device_id, i);
    }
    vcl_step(ctx, "one AddDevice more");
    vcl_expect_code(ctx, add_device(owner, vt_identity_public(extra), ""),
                    VT_ERR_LIMIT_EXCEEDED, "AddDevice of a seventh device");

    vcl_step(ctx, "a retried AddDevice of pending device 4 at the limit");
    r = vcl_ok_body(ctx, add_device(owner, vt_identity_public(pend[3]->id), ""),
                    VENTRA__V1__RESPONSE__BODY_ADD_DEVICE, "the retried AddDevice");
    VCL_CHECK(ctx, r->add_device->device_id == 4, "the retry answered device %u, want 4",
              r->add_device->device_id);

    vcl_step(ctx, "the first Login of a pending device at the limit");
    login_ok(ctx, pend[2]);

    vcl_step(ctx, "RemoveDevice of pending device 6, then AddDevice");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 6), 0, "RemoveDevice(6)");
    r = vcl_ok_body(ctx, add_device(owner, vt_identity_public(extra), ""),
                    VENTRA__V1__RESPONSE__BODY_ADD_DEVICE, "AddDevice after a removal");
    VCL_CHECK(ctx, r->add_device->device_id == 7,
              "the device after a removal got id %u, want 7 (ids are never reused)",
              r->add_device->device_id);
    vcl_expect_code(ctx, add_device(owner, vt_identity_public(pend[5]->id), ""),
                    VT_ERR_LIMIT_EXCEEDED, "AddDevice of the removed key at the limit");
}

static void pending_first_login_empty_queue(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "owner");
    vtc_device *sender = vcl_account(ctx, "sender");
    const uint32_t one[] = {1}, both[] = {1, 2};
    uint8_t mid[16];
    vtc_device *d2;

    d2 = add_pending(ctx, owner, "", NULL);
    vcl_step(ctx, "a Send to the account while device 2 is pending");
    send_ok(ctx, sender, owner->username, one, 1, mid);
    vcl_step(ctx, "the first Login of device 2");
    login_ok(ctx, d2);
    expect_queue_empty(ctx, d2);

    vcl_step(ctx, "a Send after device 2 became active");
    send_ok(ctx, sender, owner->username, both, 2, mid);
    expect_message_from(ctx, d2, mid, sender->username, sender->device_id);
}

/* Entry |i| of |l|: device |i| + 1, |d|, with its identity key. */
static const Ventra__V1__DeviceInfo *listed(vcl_ctx *ctx,
                                            const Ventra__V1__ListDevicesResponse *l,
                                            size_t i, const vtc_device *d)
{
    const Ventra__V1__DeviceInfo *di = l->devices[i];

    VCL_CHECK(ctx, di->device_id == i + 1, "entry %zu is device %u, want %zu", i,
              di->device_id, i + 1);
    VCL_CHECK(ctx,
              di->identity_key.len == 32 &&
                  memcmp(di->identity_key.data, vt_identity_public(d->id), 32) == 0,
              "device %zu: not its identity key", i + 1);
    return di;
}

/* ---- ListDevices ---------------------------------------------------------- */

static void list_devices_fields(vcl_ctx *ctx)
{
    static const char utf8_name[] = "Zo\xc3\xab's \xe2\x98\x8e";
    vtc_device *owner = vcl_account(ctx, "lister");
    vtc_device *stranger = vcl_account(ctx, "stranger");
    vtc_device *dev[3];
    uint64_t now = (uint64_t)time(NULL);
    const char *names[3] = {"test device", utf8_name, ""};
    Ventra__V1__ListDevicesResponse *l;

    dev[0] = owner;
    dev[1] = add_pending(ctx, owner, utf8_name, NULL);
    dev[2] = add_pending(ctx, owner, "", NULL);
    login_ok(ctx, dev[1]);
    login_ok(ctx, dev[2]);

    vcl_step(ctx, "ListDevices of the own account, from device 2");
    l = list(ctx, dev[1]->c, "");
    VCL_CHECK(ctx, l->n_devices == 3, "%zu devices listed, want 3", l->n_devices);
    for (size_t i = 0; i < 3; i++) {
        const Ventra__V1__DeviceInfo *di = listed(ctx, l, i, dev[i]);

        VCL_CHECK(ctx, strcmp(di->name, names[i]) == 0,
                  "device %zu: name '%s', want '%s'", i + 1, di->name, names[i]);
        VCL_CHECK(ctx,
                  di->created_at + CLOCK_SLACK_S >= now &&
                      di->created_at <= now + CLOCK_SLACK_S,
                  "device %zu: created_at %llu, want about %llu (now)", i + 1,
                  (unsigned long long)di->created_at, (unsigned long long)now);
    }

    vcl_step(ctx, "ListDevices of the account, from another account");
    l = list(ctx, stranger->c, owner->username);
    VCL_CHECK(ctx, l->n_devices == 3, "%zu devices listed, want 3", l->n_devices);
    for (size_t i = 0; i < 3; i++) {
        const Ventra__V1__DeviceInfo *di = listed(ctx, l, i, dev[i]);

        VCL_CHECK(ctx, di->name[0] == '\0',
                  "device %zu: another account is shown the name '%s', want ''", i + 1,
                  di->name);
        VCL_CHECK(ctx, di->created_at == 0,
                  "device %zu: another account is shown created_at %llu, want 0", i + 1,
                  (unsigned long long)di->created_at);
    }
}

static void list_devices_errors(vcl_ctx *ctx)
{
    static const char *const bad[] = {"No-Such", "1abc", "ab", "a b", "-abc", "abc!"};
    vtc_device *d = vcl_account(ctx, "asker");
    char ghost[33], big[VT_MAX_USERNAME_LEN + 2];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vcl_step(ctx, "ListDevices('%s')", bad[i]);
        vcl_expect_code(ctx, vtc_rpc_list_devices(d->c, bad[i]), VT_ERR_INVALID_ARGUMENT,
                        "ListDevices of a malformed username");
    }
    vcl_step(ctx, "ListDevices of a username of MAX_USERNAME_LEN + 1 bytes");
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    vcl_expect_code(ctx, vtc_rpc_list_devices(d->c, big), VT_ERR_TOO_LARGE,
                    "ListDevices of a 33-byte username");
    vcl_step(ctx, "ListDevices of a well-formed name of no account");
    vtc_username(ghost, "ghost");
    vcl_expect_code(ctx, vtc_rpc_list_devices(d->c, ghost), VT_ERR_NOT_FOUND,
                    "ListDevices of an unknown account");
}

/* ---- RemoveDevice ---------------------------------------------------------- */

static void remove_device_errors(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "rmerr");
    const uint32_t one[] = {1};

    vcl_step(ctx, "RemoveDevice(0)");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 0), VT_ERR_INVALID_ARGUMENT,
                    "RemoveDevice(0)");
    vcl_step(ctx, "RemoveDevice of ids never issued");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 2), VT_ERR_NOT_FOUND,
                    "RemoveDevice(2)");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 99), VT_ERR_NOT_FOUND,
                    "RemoveDevice(99)");
    vcl_step(ctx, "RemoveDevice of the only active device, with a pending one");
    add_pending(ctx, owner, "", NULL);
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 1), VT_ERR_PERMISSION_DENIED,
                    "RemoveDevice of the only active device");
    vcl_expect_code(ctx, vtc_rpc_ping(owner->c, 5), 0, "Ping after the refusal");
    expect_list(ctx, owner->c, "", one, 1);
}

static void remove_device(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "remove");
    vtc_device *d2 = vcl_link(ctx, owner);
    vtc_device *stranger = vcl_account(ctx, "stranger");
    const uint32_t one[] = {1};

    vcl_step(ctx, "RemoveDevice(2) from device 1");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 2), 0, "RemoveDevice(2)");
    vtc_expect_session_ended(d2->c, REASON(DEVICE_REMOVED), 4001, 5000);
    vtc_disconnect(d2);

    /* Its tokens: auth/token-revoked-device-removed (AUTH-52). */
    vcl_step(ctx, "Login of the removed device");
    expect_login_refused(ctx, d2, "a removed device");

    vcl_step(ctx, "ListDevices after the removal");
    expect_list(ctx, owner->c, "", one, 1);
    expect_list(ctx, stranger->c, owner->username, one, 1);
    vcl_expect_code(ctx, vtc_rpc_ping(owner->c, 3), 0,
                    "Ping on the remover's connection");
}

static void remove_device_idempotent(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "rmtwice");
    vtc_device *d2 = vcl_link(ctx, owner);
    const uint32_t one[] = {1};
    vtc_device *d3;

    vcl_step(ctx, "RemoveDevice(2)");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 2), 0, "RemoveDevice(2)");
    vtc_expect_session_ended(d2->c, REASON(DEVICE_REMOVED), 4001, 5000);
    vcl_step(ctx, "RemoveDevice(2) again");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 2), 0, "RemoveDevice(2) again");
    expect_list(ctx, owner->c, "", one, 1);
    vcl_step(ctx, "RemoveDevice(1), the only active device now");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 1), VT_ERR_PERMISSION_DENIED,
                    "RemoveDevice of the only active device");
    vcl_step(ctx, "the next linked device");
    d3 = vcl_link(ctx, owner);
    VCL_CHECK(ctx, d3->device_id == 3,
              "the device linked after removing device 2 got id %u, want 3",
              d3->device_id);
}

static void remove_pending_device(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "rmpend");
    vtc_device *d2 = add_pending(ctx, owner, "", NULL);
    Ventra__V1__Response *r;

    vcl_step(ctx, "RemoveDevice of pending device 2");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 2), 0, "RemoveDevice(2)");
    vcl_step(ctx, "Login of the removed pending device");
    expect_login_refused(ctx, d2, "a removed pending device");
    vcl_step(ctx, "AddDevice of the same key again");
    r = vcl_ok_body(ctx, add_device(owner, vt_identity_public(d2->id), ""),
                    VENTRA__V1__RESPONSE__BODY_ADD_DEVICE, "AddDevice");
    VCL_CHECK(ctx, r->add_device->device_id == 3,
              "AddDevice of a removed device's key answered device %u, want a new id 3",
              r->add_device->device_id);
}

static void remove_self(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "rmself");
    vtc_device *d2 = vcl_link(ctx, owner);
    Ventra__V1__RemoveDeviceRequest body = VENTRA__V1__REMOVE_DEVICE_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    const uint32_t one[] = {1};

    vcl_step(ctx, "device 2 removes itself");
    body.device_id = d2->device_id;
    req.body_case = VENTRA__V1__REQUEST__BODY_REMOVE_DEVICE;
    req.remove_device = &body;
    expect_answer_then_end(ctx, d2->c, &req, VENTRA__V1__RESPONSE__BODY_REMOVE_DEVICE,
                           REASON(DEVICE_REMOVED));
    vcl_step(ctx, "device 1 after the removal");
    expect_list(ctx, owner->c, "", one, 1);
    vcl_expect_code(ctx, vtc_rpc_ping(owner->c, 2), 0, "Ping on device 1's connection");
}

static void removed_device_send_extra(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "owner");
    vtc_device *d2 = vcl_link(ctx, owner);
    vtc_device *sender = vcl_account(ctx, "sender");
    const uint32_t both[] = {1, 2};
    uint8_t mid[16];

    vcl_step(ctx, "a message queued for device 2, pushed and not acknowledged");
    send_ok(ctx, sender, owner->username, both, 2, mid);
    vtc_event_free(vtc_expect_message(d2, 5000));
    vcl_step(ctx, "RemoveDevice(2)");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 2), 0, "RemoveDevice(2)");
    device2_extra(ctx, sender, owner, "the removed device", "device 1 only");
}

static void removed_sender_messages_stay(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *a2 = vcl_link(ctx, alice);
    vtc_device *bob = vcl_account(ctx, "bob");
    const uint32_t one[] = {1};
    uint8_t mid[16];

    vcl_step(ctx, "alice/2 sends to bob, who is offline");
    vtc_disconnect(bob);
    vtc_random16(mid);
    vcl_ok_body(ctx,
                vtc_send_lists(a2, bob->username, one, 1, one, 1, "from 2", mid, NULL),
                VENTRA__V1__RESPONSE__BODY_SEND, "Send from alice/2");
    vcl_step(ctx, "alice/1 removes alice/2");
    vcl_expect_code(ctx, vtc_rpc_remove_device(alice->c, 2), 0, "RemoveDevice(2)");
    vcl_step(ctx, "bob logs in");
    login_ok(ctx, bob);
    expect_message_from(ctx, bob, mid, alice->username, 2);
}

/* ---- DeleteAccount ---------------------------------------------------------- */

static void delete_account_errors(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "delerr");
    vtc_device *d2 = vcl_link(ctx, owner);
    vt_identity *mallory = vcl_identity(ctx);
    const uint8_t *key = owner->server_key;
    const char *user = owner->username;
    uint8_t nonce[40] = {0}, sig[72] = {0}, rnd[32];
    const uint32_t both[] = {1, 2};

    vtc_random16(rnd);
    vtc_random16(rnd + 16);
    vcl_step(ctx, "nonces and signatures of the wrong length");
    delete_challenge(ctx, owner->c, nonce);
    vtc_sign_delete_account(owner->id, key, nonce, 32, user, 1, sig);
    vcl_expect_code(ctx, vtc_rpc_delete_account(owner->c, nonce, 31, sig, 64),
                    VT_ERR_INVALID_ARGUMENT, "nonce of 31 bytes");
    vcl_expect_code(ctx, vtc_rpc_delete_account(owner->c, nonce, 33, sig, 64),
                    VT_ERR_INVALID_ARGUMENT, "nonce of 33 bytes");
    vcl_expect_code(ctx, vtc_rpc_delete_account(owner->c, nonce, 32, sig, 0),
                    VT_ERR_INVALID_ARGUMENT, "no signature");
    vcl_expect_code(ctx, vtc_rpc_delete_account(owner->c, nonce, 32, sig, 65),
                    VT_ERR_INVALID_ARGUMENT, "signature of 65 bytes");

    vcl_step(ctx, "challenges that are not this connection's DELETE_ACCOUNT challenge");
    vcl_expect_code(ctx, delete_signed(d2->c, owner->id, key, nonce, user, 1),
                    VT_ERR_BAD_CHALLENGE, "the nonce of another connection");
    vcl_expect_code(ctx, delete_signed(owner->c, owner->id, key, rnd, user, 1),
                    VT_ERR_BAD_CHALLENGE, "a nonce never issued");
    /* Check 1 comes before check 2: a short nonce is INVALID_ARGUMENT on
     * a connection without a challenge, too. */
    vcl_expect_code(ctx, vtc_rpc_delete_account(d2->c, nonce, 31, sig, 64),
                    VT_ERR_INVALID_ARGUMENT, "a 31-byte nonce without a challenge");

    vcl_step(ctx, "signatures that do not verify");
    delete_challenge(ctx, owner->c, nonce);
    vcl_expect_code(ctx, delete_signed(owner->c, mallory, key, nonce, user, 1),
                    VT_ERR_BAD_SIGNATURE, "signed by another identity");
    /* The refused request consumed the challenge (AUTH-33). */
    vcl_expect_code(ctx, delete_signed(owner->c, owner->id, key, nonce, user, 1),
                    VT_ERR_BAD_CHALLENGE, "a correct signature over the consumed nonce");
    delete_challenge(ctx, owner->c, nonce);
    vcl_expect_code(ctx, delete_signed(owner->c, owner->id, key, nonce, user, 2),
                    VT_ERR_BAD_SIGNATURE, "over device 2's id");
    delete_challenge(ctx, owner->c, nonce);
    vcl_expect_code(ctx, delete_signed(owner->c, owner->id, rnd, nonce, user, 1),
                    VT_ERR_BAD_SIGNATURE, "over another server key");
    delete_challenge(ctx, d2->c, nonce);
    vcl_expect_code(ctx, delete_signed(d2->c, owner->id, key, nonce, user, 1),
                    VT_ERR_BAD_SIGNATURE, "device 1's signature sent by device 2");

    vcl_step(ctx, "the account after the refusals");
    expect_list(ctx, d2->c, "", both, 2);
}

static void delete_account(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "delete");
    vtc_device *d2 = vcl_link(ctx, owner);
    vtc_device *d3 = add_pending(ctx, owner, "", NULL);
    vtc_device *stranger = vcl_account(ctx, "stranger");

    vcl_step(ctx, "DeleteAccount from device 1");
    delete_account_ok(ctx, owner);
    vcl_step(ctx, "the session of device 2");
    vtc_expect_session_ended(d2->c, REASON(ACCOUNT_DELETED), 4001, 5000);
    vtc_disconnect(d2);

    /* The tokens: auth/token-revoked-account-deleted (AUTH-52). */
    vcl_step(ctx, "Login of the deleted devices");
    expect_login_refused(ctx, d2, "a deleted account's device");
    expect_login_refused(ctx, d3, "a deleted account's pending device");
    vcl_step(ctx, "ListDevices of the deleted account");
    vcl_expect_code(ctx, vtc_rpc_list_devices(stranger->c, owner->username),
                    VT_ERR_NOT_FOUND, "ListDevices of a deleted account");
}

static void reregister_fresh_account(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "again");
    vtc_device *d2 = vcl_link(ctx, owner);
    const uint32_t one[] = {1};
    vtc_device *again, *again2;
    int rc;

    vcl_step(ctx, "DeleteAccount");
    delete_account_ok(ctx, owner);
    vtc_expect_session_ended(d2->c, REASON(ACCOUNT_DELETED), 4001, 5000);
    vtc_disconnect(d2);

    vcl_step(ctx, "Register of the same name");
    again = vtc_register(vcl_port(ctx), owner->username);
    vcl_hold_device(ctx, again);
    VCL_CHECK(ctx, again->device_id == 1, "the new account's first device is %u, want 1",
              again->device_id);
    expect_list(ctx, again->c, "", one, 1);
    again2 = vcl_link(ctx, again);
    VCL_CHECK(ctx, again2->device_id == 2,
              "the new account's second device is %u, want 2", again2->device_id);

    /* The old account's tokens: auth/token-revoked-account-deleted. */
    vcl_step(ctx, "Login with the old device 1's key");
    expect_login_refused(ctx, owner, "the old key as device 1");
    vcl_step(ctx, "Resume of the new device 1");
    rc = vtc_resume(again, vcl_port(ctx));
    VCL_CHECK(ctx, rc == 0, "Resume of the new account's device: got %s",
              vcl_code_name(rc));
}

/* CreateGroup(|members|) on |c|; the response is freed after the case. */
static Ventra__V1__GroupInfo *create_group(vcl_ctx *ctx, vtc_client *c, char **members,
                                           size_t n)
{
    Ventra__V1__CreateGroupRequest body = VENTRA__V1__CREATE_GROUP_REQUEST__INIT;
    Ventra__V1__Response *r;

    body.members = members;
    body.n_members = n;
    r = vtc_call_body(c, VENTRA__V1__REQUEST__BODY_CREATE_GROUP, &body);
    if (vtc_error_code(r) == VT_ERR_UNKNOWN_RPC) {
        vtc_response_free(r);
        vcl_unimplemented(ctx, "CreateGroup answered ERROR_UNKNOWN_RPC");
    }
    vcl_ok_body(ctx, r, VENTRA__V1__RESPONSE__BODY_CREATE_GROUP, "CreateGroup");
    VCL_CHECK(ctx, r->create_group->group != NULL, "CreateGroup answered no group");
    return r->create_group->group;
}

static void reregister_nothing_carries_over(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "carry");
    vtc_device *bob = vcl_account(ctx, "bob");
    Ventra__V1__GetPrekeyCountRequest gc = VENTRA__V1__GET_PREKEY_COUNT_REQUEST__INIT;
    Ventra__V1__ListGroupsRequest lg = VENTRA__V1__LIST_GROUPS_REQUEST__INIT;
    Ventra__V1__FetchBundlesRequest fb = VENTRA__V1__FETCH_BUNDLES_REQUEST__INIT;
    const uint32_t one[] = {1};
    char *members[1] = {bob->username};
    uint8_t mid_in[16], mid_out[16];
    Ventra__V1__Response *r;
    vtc_device *again;

    vcl_step(ctx, "the old account: prekeys, a group, a message in, a message out");
    VCL_CHECK(ctx, vtc_upload_prekeys(owner, 100, 5) == 5, "UploadPrekeys: count not 5");
    create_group(ctx, owner->c, members, 1);
    send_ok(ctx, bob, owner->username, one, 1, mid_in);
    send_ok(ctx, owner, bob->username, one, 1, mid_out);
    vcl_step(ctx, "DeleteAccount");
    delete_account_ok(ctx, owner);

    vcl_step(ctx, "Register of the same name");
    again = vtc_register(vcl_port(ctx), owner->username);
    vcl_hold_device(ctx, again);
    expect_queue_empty(ctx, again);

    vcl_step(ctx, "the new account's prekeys");
    r = vcl_ok_body(
        ctx, vtc_call_body(again->c, VENTRA__V1__REQUEST__BODY_GET_PREKEY_COUNT, &gc),
        VENTRA__V1__RESPONSE__BODY_GET_PREKEY_COUNT, "GetPrekeyCount");
    VCL_CHECK(ctx,
              r->get_prekey_count->one_time_count == 0 &&
                  !r->get_prekey_count->has_signed_prekey &&
                  !r->get_prekey_count->has_last_resort_prekey,
              "GetPrekeyCount of the new device: %u one-time, signed %d, last-resort %d; "
              "want none of the old account's",
              r->get_prekey_count->one_time_count, r->get_prekey_count->has_signed_prekey,
              r->get_prekey_count->has_last_resort_prekey);
    fb.username = again->username;
    vcl_expect_code(ctx,
                    vtc_call_body(bob->c, VENTRA__V1__REQUEST__BODY_FETCH_BUNDLES, &fb),
                    VT_ERR_NO_PREKEYS, "FetchBundles of the new account");

    vcl_step(ctx, "the new account's groups");
    r = vcl_ok_body(ctx,
                    vtc_call_body(again->c, VENTRA__V1__REQUEST__BODY_LIST_GROUPS, &lg),
                    VENTRA__V1__RESPONSE__BODY_LIST_GROUPS, "ListGroups");
    VCL_CHECK(ctx, r->list_groups->n_group_ids == 0,
              "the new account belongs to %zu groups, want 0",
              r->list_groups->n_group_ids);

    vcl_step(ctx, "a Send of the new account with the old account's message id");
    r = vcl_ok_body(
        ctx, vtc_send_lists(again, bob->username, one, 1, NULL, 0, "x", mid_out, NULL),
        VENTRA__V1__RESPONSE__BODY_SEND, "Send");
    VCL_CHECK(ctx, !r->send->duplicate,
              "the new account's Send was answered duplicate: the old account's "
              "idempotency record was kept");
}

static void delete_account_leaves_groups(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *carol = vcl_account(ctx, "carol");
    char *members[2] = {bob->username, carol->username};
    Ventra__V1__GroupInfo *g;
    const Ventra__V1__GroupInfo *after;
    Ventra__V1__Event *e;

    vcl_step(ctx, "alice creates a group with bob and carol");
    g = create_group(ctx, alice->c, members, 2);
    /* bob and carol are told of the new group; drop those events. */
    for (int i = 0; i < 2; i++) {
        vtc_device *d = i ? carol : bob;

        e = vtc_wait_event(d->c, EV(GROUP_CHANGED), 5000);
        VCL_CHECK(ctx, e != NULL, "%s got no GroupChangedEvent for the new group",
                  d->username);
        vtc_event_free(e);
    }
    vcl_step(ctx, "alice deletes her account");
    delete_account_ok(ctx, alice);

    for (int i = 0; i < 2; i++) {
        vtc_device *d = i ? carol : bob;

        vcl_step(ctx, "the GroupChangedEvent of %s", d->username);
        e = vtc_wait_event(d->c, EV(GROUP_CHANGED), 5000);
        VCL_CHECK(ctx, e != NULL, "%s got no GroupChangedEvent", d->username);
        vcl_hold_event(ctx, e);
        after = e->group_changed->group;
        VCL_CHECK(ctx, after != NULL, "GroupChangedEvent without a group");
        VCL_CHECK(ctx, strcmp(e->group_changed->changed_by, alice->username) == 0,
                  "changed_by '%s', want the deleted account '%s'",
                  e->group_changed->changed_by, alice->username);
        VCL_CHECK(ctx,
                  after->group_id.len == 16 &&
                      memcmp(after->group_id.data, g->group_id.data, 16) == 0,
                  "the event names another group");
        VCL_CHECK(ctx, after->revision == g->revision + 1, "revision %llu, want %llu",
                  (unsigned long long)after->revision,
                  (unsigned long long)(g->revision + 1));
        VCL_CHECK(ctx,
                  after->n_members == 2 &&
                      strcmp(after->members[0], bob->username) == 0 &&
                      strcmp(after->members[1], carol->username) == 0,
                  "members after the deletion: %zu (first '%s'), want bob and carol",
                  after->n_members, after->n_members ? after->members[0] : "");
        /* DELIV-104: the member sorting first becomes admin. */
        VCL_CHECK(
            ctx, after->n_admins == 1 && strcmp(after->admins[0], bob->username) == 0,
            "admins after the deletion: %zu (first '%s'), want only '%s'",
            after->n_admins, after->n_admins ? after->admins[0] : "", bob->username);
    }
}

static void deleted_sender_messages_stay(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    const uint32_t one[] = {1};
    uint8_t mid[16];

    vcl_step(ctx, "alice sends to bob, who is offline");
    vtc_disconnect(bob);
    send_ok(ctx, alice, bob->username, one, 1, mid);
    vcl_step(ctx, "alice deletes her account");
    delete_account_ok(ctx, alice);
    vcl_step(ctx, "bob logs in");
    login_ok(ctx, bob);
    expect_message_from(ctx, bob, mid, alice->username, 1);
}

/* ---- The approval lapse (LINK_TTL_S) -------------------------------------------- */

/* Waits until our clock has passed |expires_at| (Unix seconds) by a few
 * seconds, pinging |c| every 20 s so that the connection stays up. */
static void wait_past(vcl_ctx *ctx, vtc_client *c, uint64_t expires_at)
{
    uint64_t ping = 100;

    while ((uint64_t)time(NULL) <= expires_at + 5) {
        Ventra__V1__Event *e = vtc_next_event(c, 20000);

        vtc_event_free(e);
        vcl_expect_code(ctx, vtc_rpc_ping(c, ping++), 0, "Ping while waiting");
    }
}

static void pending_lapses(vcl_ctx *ctx)
{
    vtc_device *owner = vcl_account(ctx, "lapse");
    vtc_device *pend[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    vt_identity *extra = vcl_identity(ctx);
    uint64_t expires_at = 0;
    Ventra__V1__Response *r;

    vcl_step(ctx, "AddDevice of five pending devices");
    for (uint32_t i = 2; i <= VT_MAX_DEVICES_PER_ACCOUNT; i++)
        pend[i] = add_pending(ctx, owner, "", i == 2 ? &expires_at : NULL);
    vcl_expect_code(ctx, add_device(owner, vt_identity_public(extra), ""),
                    VT_ERR_LIMIT_EXCEEDED, "AddDevice at the limit");

    vcl_step(ctx, "waiting LINK_TTL_S for the approvals to lapse");
    wait_past(ctx, owner->c, expires_at);

    vcl_step(ctx, "Login of a lapsed device");
    expect_login_refused(ctx, pend[2], "a lapsed device");
    vcl_step(ctx, "RemoveDevice of a lapsed device");
    vcl_expect_code(ctx, vtc_rpc_remove_device(owner->c, 3), 0,
                    "RemoveDevice of a lapsed device");
    vcl_step(ctx, "AddDevice once the lapsed devices no longer count");
    r = vcl_ok_body(ctx, add_device(owner, vt_identity_public(extra), ""),
                    VENTRA__V1__RESPONSE__BODY_ADD_DEVICE, "AddDevice after the lapse");
    VCL_CHECK(ctx, r->add_device->device_id == VT_MAX_DEVICES_PER_ACCOUNT + 1,
              "the device after the lapse got id %u, want %u (lapsed ids stay used)",
              r->add_device->device_id, VT_MAX_DEVICES_PER_ACCOUNT + 1);
    vcl_step(ctx, "AddDevice of a lapsed device's key");
    r = vcl_ok_body(ctx, add_device(owner, vt_identity_public(pend[4]->id), ""),
                    VENTRA__V1__RESPONSE__BODY_ADD_DEVICE, "AddDevice of a lapsed key");
    VCL_CHECK(ctx, r->add_device->device_id == VT_MAX_DEVICES_PER_ACCOUNT + 2,
              "AddDevice of a lapsed device's key answered device %u, want a new id %u",
              r->add_device->device_id, VT_MAX_DEVICES_PER_ACCOUNT + 2);
}

VCL_CASES(
    devices,
    {"devices/add-device-pending", "AUTH-73 WIRE-200 AUTH-4 AUTH-74", VCL_MUST, 0,
     "AddDevice answers id 2 and now + LINK_TTL_S; the pending device is in no list and "
     "no destination",
     add_device_pending},
    {"devices/first-login-activates", "AUTH-74 AUTH-4 WIRE-220", VCL_MUST, 0,
     "the first Login of a pending device makes it listed, a full device, and a required "
     "destination",
     first_login_activates},
    {"devices/add-device-retry", "WIRE-200 AUTH-72 AUTH-8", VCL_MUST, 0,
     "a retried AddDevice answers the same id and expires_at and creates nothing",
     add_device_retry},
    {"devices/add-device-invalid", "AUTH-72 AUTH-15 AUTH-7 AUTH-6", VCL_MUST, 0,
     "AddDevice with bad lengths or invalid keys is INVALID_ARGUMENT, a long name "
     "TOO_LARGE",
     add_device_invalid},
    {"devices/add-device-bad-signature", "AUTH-72", VCL_MUST, 0,
     "forged link signatures are BAD_SIGNATURE and use no device id",
     add_device_bad_signature},
    {"devices/add-device-active-key", "AUTH-72 AUTH-8", VCL_MUST, 0,
     "AddDevice of an active device's key is ALREADY_EXISTS; another account's key is "
     "fine",
     add_device_active_key},
    {"devices/device-limit", "AUTH-5 AUTH-72 AUTH-3", VCL_MUST, 0,
     "MAX_DEVICES_PER_ACCOUNT active and pending; a retry passes at the limit; ids are "
     "never reused",
     device_limit},
    {"devices/pending-first-login-empty-queue", "DELIV-73 AUTH-74", VCL_MUST, 0,
     "a device that becomes active gets nothing sent before",
     pending_first_login_empty_queue},
    {"devices/list-devices-fields", "AUTH-80 WIRE-220 AUTH-6", VCL_MUST, 0,
     "ListDevices: ids in order with keys; names and created_at to the own account only",
     list_devices_fields},
    {"devices/list-devices-errors", "AUTH-80", VCL_MUST, 0,
     "ListDevices of a malformed name is INVALID_ARGUMENT, of an unknown one NOT_FOUND",
     list_devices_errors},
    {"devices/remove-device-errors", "AUTH-85", VCL_MUST, 0,
     "RemoveDevice(0), of an id never issued, of the only active device",
     remove_device_errors},
    {"devices/remove-device", "AUTH-86 WIRE-210 AUTH-4", VCL_MUST, 0,
     "a removed device's session ends (DEVICE_REMOVED, 4001); it logs in no more and is "
     "not listed",
     remove_device},
    {"devices/remove-device-idempotent", "AUTH-85 WIRE-210 AUTH-3", VCL_MUST, 0,
     "removing a removed device succeeds and changes nothing; its id is not reused",
     remove_device_idempotent},
    {"devices/remove-pending-device", "AUTH-85 AUTH-3", VCL_MUST, 0,
     "a pending device can be removed; its Login then fails", remove_pending_device},
    {"devices/remove-self", "AUTH-86 WIRE-210", VCL_MUST, 0,
     "a device removing itself gets the response, then the event, then the close",
     remove_self},
    {"devices/removed-device-send-extra", "DELIV-70 AUTH-86", VCL_MUST, 0,
     "a Send naming a removed device lists it as extra", removed_device_send_extra},
    {"devices/removed-sender-messages-stay", "DELIV-71", VCL_MUST, 0,
     "messages from a removed device stay queued and are delivered",
     removed_sender_messages_stay},
    {"devices/delete-account-errors", "AUTH-90 AUTH-15 AUTH-33", VCL_MUST, 0,
     "DeleteAccount checks: lengths, the connection's DELETE_ACCOUNT challenge, the "
     "signature",
     delete_account_errors},
    {"devices/delete-account", "AUTH-91 AUTH-92 WIRE-230", VCL_MUST, 0,
     "DeleteAccount ends every session (ACCOUNT_DELETED, 4001) and deletes every device",
     delete_account},
    {"devices/reregister-fresh-account", "AUTH-93", VCL_MUST, 0,
     "a deleted name registers again from device 1; the old key logs in no more",
     reregister_fresh_account},
    {"devices/reregister-nothing-carries-over", "AUTH-93 AUTH-91 DELIV-72", VCL_MUST, 0,
     "the new account has no queue, prekeys, groups or idempotency records of the old",
     reregister_nothing_carries_over},
    {"devices/delete-account-leaves-groups", "AUTH-91 DELIV-72", VCL_MUST, 0,
     "a deleted account leaves its groups as by LeaveGroup: GroupChangedEvent, new admin",
     delete_account_leaves_groups},
    {"devices/deleted-sender-messages-stay", "DELIV-71 AUTH-91", VCL_MUST, 0,
     "messages from a deleted account stay queued and are delivered",
     deleted_sender_messages_stay},
    {"devices/pending-lapses", "AUTH-73 WIRE-210 AUTH-3", VCL_MUST, VCL_SLOW,
     "after LINK_TTL_S a pending device cannot log in, no longer counts, keeps its id",
     pending_lapses});
