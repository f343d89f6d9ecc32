/* libventra-client end to end against the real ventrad: register, send and
 * receive exactly once with acks across a restart, the outbox surviving a
 * close, sync copies on a linked device, a changed identity key holding a
 * message until accepted (on a new connection and while connected), a
 * group of three, stale device lists, the pinned server key, receipts and
 * typing, a removed device, prekey replenishment, an undecryptable message
 * and the user's retry of a failed one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "client_int.h"
#include "support_server.h"
#include "ventra/client.h"
#include "ventra/crypto.h"
#include "vt_constants.h"
#include <pb_encode.h>

#define T_MS 20000

typedef struct tc {
    vt_client *c;
    char dir[300];
    char name[40];
    int messages;
    int outgoing_seen;
    char last_text[256];
    char last_conv[40];
    bool last_group;
    vt_client_msg_status last_status;
    uint8_t last_status_id[16];
    int identity_changed;
    int receipts;
    int reads;
    int typing;
    bool typing_started;
    int undecryptable;
    int replaced;
    vt_err last_status_err;
    vt_client_state last_state;
    vt_err last_state_why;
} tc;

static ts_server srv;

static void on_message(void *ud, const vt_client_message *m)
{
    tc *t = ud;
    t->messages++;
    if (m->outgoing)
        t->outgoing_seen++;
    snprintf(t->last_text, sizeof t->last_text, "%s", m->text);
    snprintf(t->last_conv, sizeof t->last_conv, "%s", m->conversation);
    t->last_group = m->group_id != NULL;
}

static void on_status(void *ud, const uint8_t *mid, vt_client_msg_status st, vt_err err)
{
    tc *t = ud;
    memcpy(t->last_status_id, mid, 16);
    t->last_status = st;
    t->last_status_err = err;
}

static void on_identity(void *ud, const char *u, uint32_t d)
{
    tc *t = ud;
    (void)u;
    (void)d;
    t->identity_changed++;
}

static void on_receipt(void *ud, const char *from, uint32_t dev, const uint8_t *mid,
                       bool read)
{
    tc *t = ud;
    (void)from;
    (void)dev;
    (void)mid;
    t->receipts++;
    t->reads += read;
}

static void on_typing(void *ud, const char *from, const uint8_t *gid, bool started)
{
    tc *t = ud;
    (void)from;
    assert_null(gid);
    t->typing++;
    t->typing_started = started;
}

static void on_state(void *ud, vt_client_state st, vt_err why)
{
    tc *t = ud;
    t->last_state = st;
    t->last_state_why = why;
    if (getenv("VTCE_VERBOSE"))
        fprintf(stderr, "[%s] state %d (%s)\n", t->name, (int)st, vt_strerror(why));
}

static void on_notice(void *ud, const char *text)
{
    tc *t = ud;
    if (strstr(text, "could not decrypt"))
        t->undecryptable++;
    if (strstr(text, "another connection"))
        t->replaced++;
    if (getenv("VTCE_VERBOSE"))
        fprintf(stderr, "[%s] %s\n", t->name, text);
}

static void open_tc(tc *t, const char *name)
{
    vt_client_config cfg;
    vt_client_callbacks cb;

    if (t->name[0] == '\0') {
        snprintf(t->name, sizeof t->name, "%s", name);
        ts_client_dir(&srv, name, t->dir, sizeof t->dir);
    }
    memset(&cfg, 0, sizeof cfg);
    memset(&cb, 0, sizeof cb);
    cfg.server_url = srv.url;
    cfg.data_dir = t->dir;
    cfg.passphrase = "test passphrase";
    cfg.passphrase_len = strlen("test passphrase");
    cfg.device_name = name;
    cb.message = on_message;
    cb.status = on_status;
    cb.identity_changed = on_identity;
    cb.receipt = on_receipt;
    cb.notice = on_notice;
    cb.typing = on_typing;
    cb.state = on_state;
    assert_int_equal(vt_client_open(&t->c, &cfg, &cb, t), VT_OK);
}

static void close_tc(tc *t)
{
    vt_client_close(t->c);
    t->c = NULL;
}

static void new_user(tc *t, const char *dirname, const char *user)
{
    memset(t, 0, sizeof *t);
    open_tc(t, dirname);
    assert_int_equal(vt_client_register(t->c, user, T_MS), VT_OK);
}

static bool is_live(void *ud)
{
    return vt_client_get_state(((tc *)ud)->c) == VT_CLIENT_LIVE;
}
static bool is_idle(void *ud)
{
    return is_live(ud) && vt_client_idle(((tc *)ud)->c);
}
static bool got_one(void *ud)
{
    return ((tc *)ud)->messages >= 1;
}
static bool got_three(void *ud)
{
    return ((tc *)ud)->messages >= 3;
}
static bool status_delivered(void *ud)
{
    return ((tc *)ud)->last_status == VT_MSG_DELIVERED;
}
static bool status_held(void *ud)
{
    return ((tc *)ud)->last_status == VT_MSG_HELD;
}

static void live(tc *t)
{
    assert_int_equal(vt_client_start(t->c), VT_OK);
    assert_int_equal(vt_client_run(t->c, T_MS, is_live, t), VT_OK);
}

/* Both run until |t| is idle: |other| keeps its socket serviced too. */
static void pump(tc *a, tc *b, bool (*done)(void *), void *ud)
{
    for (int i = 0; i < T_MS / 50; i++) {
        if (done(ud))
            return;
        assert_int_equal(vt_client_service(a->c, 25), VT_OK);
        if (b && b->c)
            assert_int_equal(vt_client_service(b->c, 25), VT_OK);
    }
    fail_msg("timed out");
}

static int setup(void **state)
{
    (void)state;
    return ts_server_start(&srv) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ts_server_stop(&srv);
    return 0;
}

static bool count_row(void *ud, const vt_client_message *m, vt_client_msg_status st)
{
    (void)m;
    (void)st;
    (*(size_t *)ud)++;
    return true;
}

static size_t count_hist(tc *t, const char *conv)
{
    size_t n = 0;
    assert_int_equal(vt_client_history(t->c, conv, count_row, &n), VT_OK);
    return n;
}

/* Alice sends to Bob while Bob's client is closed; Bob gets it once on
 * reopening, acks it, and a further restart shows nothing new. */
static void test_send_receive_restart(void **state)
{
    tc a, b;
    uint8_t mid[16];
    (void)state;

    new_user(&a, "a1", "alice");
    new_user(&b, "b1", "bob");
    close_tc(&b);
    assert_int_equal(vt_client_send_text(a.c, "bob", "hello bob", mid), VT_OK);
    assert_int_equal(vt_client_run(a.c, T_MS, is_idle, &a), VT_OK);
    assert_int_equal(a.last_status, VT_MSG_SENT);
    assert_memory_equal(a.last_status_id, mid, 16);

    open_tc(&b, "b1");
    live(&b);
    assert_int_equal(vt_client_run(b.c, T_MS, got_one, &b), VT_OK);
    assert_int_equal(vt_client_run(b.c, T_MS, is_idle, &b), VT_OK);
    assert_int_equal(b.messages, 1);
    assert_string_equal(b.last_text, "hello bob");
    assert_string_equal(b.last_conv, "alice");
    /* the delivered receipt comes back end to end */
    pump(&a, &b, status_delivered, &a);

    close_tc(&b);
    b.messages = 0;
    open_tc(&b, "b1");
    live(&b);
    assert_int_equal(vt_client_run(b.c, 1500, got_one, &b), VT_ERR_UNAVAILABLE);
    assert_int_equal(b.messages, 0); /* acked: not pushed again */
    assert_int_equal(count_hist(&b, "alice"), 1);

    /* and the reply goes the other way on the established session */
    assert_int_equal(vt_client_send_text(b.c, "alice", "hi alice", NULL), VT_OK);
    pump(&b, &a, got_one, &a);
    assert_string_equal(a.last_text, "hi alice");
    close_tc(&a);
    close_tc(&b);
}

/* A message queued while offline survives closing the client. */
static void test_outbox_survives_close(void **state)
{
    tc a, b;
    (void)state;

    new_user(&a, "a2", "alice2");
    new_user(&b, "b2", "bob2");
    close_tc(&a);
    open_tc(&a, "a2"); /* not started: nothing goes out */
    assert_int_equal(vt_client_send_text(a.c, "bob2", "from the outbox", NULL), VT_OK);
    assert_false(vt_client_idle(a.c));
    close_tc(&a);
    open_tc(&a, "a2");
    live(&a);
    pump(&a, &b, is_idle, &a);
    pump(&b, &a, got_one, &b);
    assert_int_equal(vt_client_run(b.c, 1000, got_three, &b), VT_ERR_UNAVAILABLE);
    assert_int_equal(b.messages, 1);
    assert_string_equal(b.last_text, "from the outbox");
    close_tc(&a);
    close_tc(&b);
}

/* A linked second device of Alice sees what the first one sends. */
static void test_linked_device_sync(void **state)
{
    tc a1, a2, b;
    char code[128], reply[64];
    (void)state;

    new_user(&a1, "a3", "alice3");
    new_user(&b, "b3", "bob3");
    memset(&a2, 0, sizeof a2);
    open_tc(&a2, "a3b");
    assert_int_equal(vt_client_link_begin(a2.c, code, sizeof code), VT_OK);
    assert_int_equal(vt_client_link_approve(a1.c, code, reply, sizeof reply, T_MS),
                     VT_OK);
    assert_string_equal(reply, "alice3/2");
    assert_int_equal(vt_client_link_finish(a2.c, reply, T_MS), VT_OK);
    assert_int_equal(vt_client_device_id(a2.c), 2);
    live(&a2);

    assert_int_equal(vt_client_send_text(a1.c, "bob3", "from device one", NULL), VT_OK);
    pump(&a1, &a2, is_idle, &a1);
    pump(&a2, &a1, got_one, &a2);
    assert_int_equal(a2.outgoing_seen, 1);
    assert_string_equal(a2.last_conv, "bob3");
    assert_string_equal(a2.last_text, "from device one");
    pump(&b, &a1, got_one, &b);
    assert_int_equal(b.messages, 1);

    /* Bob's reply reaches both of Alice's devices */
    a1.messages = a2.messages = 0;
    assert_int_equal(vt_client_send_text(b.c, "alice3", "to both", NULL), VT_OK);
    pump(&b, &a1, got_one, &a1);
    pump(&a2, &b, got_one, &a2);
    assert_string_equal(a2.last_text, "to both");
    close_tc(&a1);
    close_tc(&a2);
    close_tc(&b);
}

/* Bob's account is deleted and registered again with a new key: Alice's
 * next message is held until she accepts the new key. */
static void test_identity_change_holds(void **state)
{
    tc a, b, b2;
    (void)state;

    new_user(&a, "a4", "alice4");
    new_user(&b, "b4", "bob4");
    assert_int_equal(vt_client_send_text(a.c, "bob4", "first", NULL), VT_OK);
    pump(&a, &b, is_idle, &a);
    pump(&b, &a, got_one, &b);
    assert_int_equal(vt_client_delete_account(b.c, T_MS), VT_OK);
    close_tc(&b);
    new_user(&b2, "b4new", "bob4");
    /* Alice's next run lists Bob's devices again on its new connection */
    close_tc(&a);
    open_tc(&a, "a4");
    live(&a);

    assert_int_equal(vt_client_send_text(a.c, "bob4", "second", NULL), VT_OK);
    /* the old device list is stale: the send learns the new key */
    pump(&a, &b2, status_held, &a);
    assert_true(a.identity_changed >= 1);
    assert_int_equal(vt_client_run(b2.c, 1000, got_one, &b2), VT_ERR_UNAVAILABLE);
    assert_int_equal(b2.messages, 0);

    assert_int_equal(vt_client_accept_identity(a.c, "bob4"), VT_OK);
    pump(&a, &b2, is_idle, &a);
    pump(&b2, &a, got_one, &b2);
    assert_string_equal(b2.last_text, "second");
    close_tc(&a);
    close_tc(&b2);
}

struct grp {
    int n;
    char name[129];
};

static bool one_group(void *ud, const vt_client_group *g)
{
    struct grp *x = ud;
    x->n++;
    snprintf(x->name, sizeof x->name, "%s", g->name);
    return true;
}

static void test_group_of_three(void **state)
{
    tc a, b, c;
    const char *members[] = {"bob5", "carol5"};
    uint8_t gid[16];
    struct grp g = {0, ""};
    (void)state;

    new_user(&a, "a5", "alice5");
    new_user(&b, "b5", "bob5");
    new_user(&c, "c5", "carol5");
    assert_int_equal(vt_client_group_create(a.c, "friends", members, 2, gid, T_MS),
                     VT_OK);
    assert_int_equal(vt_client_send_group_text(a.c, gid, "hello group", NULL), VT_OK);
    pump(&a, &b, is_idle, &a);
    pump(&b, &c, got_one, &b);
    pump(&c, &b, got_one, &c);
    assert_string_equal(b.last_text, "hello group");
    assert_string_equal(c.last_text, "hello group");
    assert_true(b.last_group && c.last_group);
    /* the name came end to end */
    assert_int_equal(vt_client_groups(c.c, one_group, &g, T_MS), VT_OK);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.name, "friends");
    close_tc(&a);
    close_tc(&b);
    close_tc(&c);
}

static bool status_sent(void *ud)
{
    return ((tc *)ud)->last_status == VT_MSG_SENT;
}
static bool status_failed(void *ud)
{
    return ((tc *)ud)->last_status == VT_MSG_FAILED;
}
static bool status_read(void *ud)
{
    return ((tc *)ud)->last_status == VT_MSG_READ;
}
static bool got_two(void *ud)
{
    return ((tc *)ud)->messages >= 2;
}
static bool got_typing(void *ud)
{
    return ((tc *)ud)->typing >= 1;
}
static bool got_changed(void *ud)
{
    return ((tc *)ud)->identity_changed >= 1;
}
static bool got_undecryptable(void *ud)
{
    return ((tc *)ud)->undecryptable >= 1;
}
static bool is_closed(void *ud)
{
    return vt_client_get_state(((tc *)ud)->c) == VT_CLIENT_CLOSED;
}

/* Every guard and action of the three machines has a hook. */
static void test_ops_complete(void **state)
{
    (void)state;
    assert_true(vc_conn_ops_complete());
    assert_true(vc_session_ops_complete());
    assert_true(vc_outbox_ops_complete());
}

static void link_second(tc *first, tc *second, const char *dirname)
{
    char code[128], reply[64];

    memset(second, 0, sizeof *second);
    open_tc(second, dirname);
    assert_int_equal(vt_client_link_begin(second->c, code, sizeof code), VT_OK);
    assert_int_equal(vt_client_link_approve(first->c, code, reply, sizeof reply, T_MS),
                     VT_OK);
    assert_int_equal(vt_client_link_finish(second->c, reply, T_MS), VT_OK);
    live(second);
}

/* DELIV-31, SM-302: Bob links a device after Alice listed his; her send is
 * stale, she fetches the new device's bundle, retries once, both get it. */
static void test_stale_devices(void **state)
{
    tc a, b1, b2;
    uint8_t mid[16];
    (void)state;

    new_user(&a, "a6", "alice6");
    new_user(&b1, "b6", "bob6");
    assert_int_equal(vt_client_send_text(a.c, "bob6", "one", NULL), VT_OK);
    pump(&a, &b1, is_idle, &a);
    pump(&b1, &a, got_one, &b1);
    link_second(&b1, &b2, "b6b");
    assert_int_equal(vt_client_get_state(a.c), VT_CLIENT_LIVE); /* same connection */

    assert_int_equal(vt_client_send_text(a.c, "bob6", "two", mid), VT_OK);
    pump(&a, &b1, is_idle, &a);
    assert_memory_equal(a.last_status_id, mid, 16);
    assert_true(a.last_status == VT_MSG_SENT || a.last_status == VT_MSG_DELIVERED);
    pump(&b1, &b2, got_two, &b1);
    pump(&b2, &b1, got_one, &b2);
    assert_string_equal(b1.last_text, "two");
    assert_string_equal(b2.last_text, "two");
    assert_int_equal(b2.messages, 1);
    close_tc(&a);
    close_tc(&b1);
    close_tc(&b2);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out;
    char buf[8192];
    size_t n;

    if (in == NULL)
        return; /* a sidecar that does not exist */
    out = fopen(to, "wb");
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

/* AUTH-11: a copy of Alice's installation whose pinned server key differs
 * refuses the server: CLOSED with VT_ERR_CRYPTO, and it sends no Resume
 * (which would have replaced Alice's live connection, AUTH-66). */
static void test_server_key_pinned(void **state)
{
    tc a, x;
    char path[400], to[400];
    const char *side[] = {"", "-wal", "-shm", "-journal"};
    uint8_t other[32];
    vc_store *st = NULL;
    (void)state;

    new_user(&a, "a7", "alice7");
    close_tc(&a);
    memset(&x, 0, sizeof x);
    snprintf(x.name, sizeof x.name, "a7copy");
    ts_client_dir(&srv, "a7copy", x.dir, sizeof x.dir);
    assert_int_equal(mkdir(x.dir, 0700), 0);
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/ventra.db%s", a.dir, side[i]);
        snprintf(to, sizeof to, "%s/ventra.db%s", x.dir, side[i]);
        copy_file(path, to);
    }
    snprintf(path, sizeof path, "%s/ventra.db", x.dir);
    assert_int_equal(
        vc_store_open(&st, path, "test passphrase", strlen("test passphrase")), VT_OK);
    memset(other, 0x42, sizeof other);
    assert_int_equal(vc_store_set(st, "server_key", other, sizeof other), VT_OK);
    vc_store_close(st);

    open_tc(&a, "a7");
    live(&a);
    open_tc(&x, "a7copy");
    assert_int_equal(vt_client_start(x.c), VT_OK);
    pump(&x, &a, is_closed, &x);
    assert_int_equal(x.last_state, VT_CLIENT_CLOSED);
    assert_int_equal(x.last_state_why, VT_ERR_CRYPTO);
    /* nothing authenticated as Alice's device: her connection stays */
    for (int i = 0; i < 20; i++)
        assert_int_equal(vt_client_service(a.c, 25), VT_OK);
    assert_int_equal(vt_client_get_state(a.c), VT_CLIENT_LIVE);
    assert_int_equal(a.replaced, 0);
    close_tc(&x);
    close_tc(&a);
}

/* Read receipts and typing end to end; typing is never queued or acked. */
static void test_receipts_and_typing(void **state)
{
    tc a, b;
    uint8_t mid[16];
    (void)state;

    new_user(&a, "a8", "alice8");
    new_user(&b, "b8", "bob8");
    assert_int_equal(vt_client_send_text(a.c, "bob8", "read me", mid), VT_OK);
    pump(&a, &b, is_idle, &a);
    pump(&b, &a, got_one, &b);
    pump(&a, &b, status_delivered, &a);
    assert_int_equal(vt_client_mark_read(b.c, "alice8", mid), VT_OK);
    pump(&b, &a, status_read, &a);
    assert_memory_equal(a.last_status_id, mid, 16);
    assert_true(a.reads >= 1);

    assert_int_equal(vt_client_send_typing(a.c, "bob8", true), VT_OK);
    assert_true(vt_client_idle(a.c)); /* DELIV-85: not in the outbox */
    pump(&b, &a, got_typing, &b);
    assert_true(b.typing_started);
    assert_int_equal(b.c->n_acks, 0); /* DELIV-82 */
    assert_true(vt_client_idle(b.c));
    assert_memory_equal(a.last_status_id, mid, 16); /* no status for typing */
    close_tc(&b);
    b.typing = 0;
    open_tc(&b, "b8");
    live(&b);
    assert_int_equal(vt_client_run(b.c, 1000, got_typing, &b), VT_ERR_UNAVAILABLE);
    close_tc(&a);
    close_tc(&b);
}

/* SM-3, AUTH-87: a removed device ends CLOSED and forgets its credentials. */
static void test_remove_device(void **state)
{
    tc a1, a2, b;
    char path[400];
    uint8_t seed[32];
    size_t len = 0;
    char tok[600];
    vc_store *st = NULL;
    (void)state;

    new_user(&a1, "a9", "alice9");
    new_user(&b, "b9", "bob9");
    link_second(&a1, &a2, "a9b");
    assert_int_equal(vt_client_send_text(a1.c, "bob9", "sync", NULL), VT_OK);
    pump(&a1, &a2, is_idle, &a1);
    pump(&a2, &a1, got_one, &a2); /* a session with alice9/1 now */
    assert_int_equal(vt_client_remove_device(a1.c, 2, T_MS), VT_OK);
    pump(&a2, &a1, is_closed, &a2);
    assert_int_equal(a2.last_state_why, VT_ERR_PERMISSION_DENIED);
    assert_int_equal(vt_client_device_id(a2.c), 0);
    close_tc(&a2);

    snprintf(path, sizeof path, "%s/ventra.db", a2.dir);
    assert_int_equal(
        vc_store_open(&st, path, "test passphrase", strlen("test passphrase")), VT_OK);
    assert_int_equal(vc_store_get_identity(st, seed), VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_get(st, "token", tok, sizeof tok, &len), VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_get(st, "device_id", tok, sizeof tok, &len),
                     VT_ERR_NOT_FOUND);
    assert_false(vc_store_has_session(st, "alice9", 1, VC_SESSION_CURRENT));
    vc_store_close(st);
    open_tc(&a2, "a9b");
    assert_int_equal(vt_client_start(a2.c), VT_ERR_STATE); /* nothing to log in as */
    close_tc(&a2);
    close_tc(&a1);
    close_tc(&b);
}

static vt_err prekey_count(tc *t, uint32_t *n)
{
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    vt_err err;

    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_get_prekey_count_tag;
    err = vc_rpc_call(t->c, &req, &resp, vc_now_ms() + T_MS);
    if (err == VT_OK)
        *n = resp->kind.response.body.get_prekey_count.one_time_count;
    free(resp);
    return err;
}

/* CRYPTO-26: Alice's fetches take Bob's stock below the watermark; the
 * PrekeysLowEvent makes Bob upload and the count rises again. */
static void test_prekey_replenish(void **state)
{
    tc a, b;
    uint32_t n = 0, start = 0;
    (void)state;

    new_user(&a, "a10", "alice10");
    new_user(&b, "b10", "bob10");
    live(&a);
    live(&b);
    assert_int_equal(prekey_count(&b, &start), VT_OK);
    assert_true(start >= VT_PREKEY_LOW_WATERMARK);
    for (uint32_t i = 0; i + VT_PREKEY_LOW_WATERMARK <= start; i++) {
        ventra_v1_Request req;
        ventra_v1_Frame *resp = NULL;
        memset(&req, 0, sizeof req);
        req.which_body = ventra_v1_Request_fetch_bundles_tag;
        snprintf(req.body.fetch_bundles.username, sizeof req.body.fetch_bundles.username,
                 "bob10");
        req.body.fetch_bundles.device_ids[0] = 1;
        req.body.fetch_bundles.device_ids_count = 1;
        assert_int_equal(vc_rpc_call(a.c, &req, &resp, vc_now_ms() + T_MS), VT_OK);
        free(resp);
    }
    assert_int_equal(prekey_count(&b, &n), VT_OK);
    assert_true(n < VT_PREKEY_LOW_WATERMARK);
    for (int i = 0; i < 100 && n < VT_PREKEY_LOW_WATERMARK; i++) {
        assert_int_equal(vt_client_service(b.c, 50), VT_OK);
        assert_int_equal(prekey_count(&b, &n), VT_OK);
    }
    assert_true(n >= VT_PREKEY_LOW_WATERMARK + VT_MAX_PREKEYS_PER_UPLOAD - 1);
    close_tc(&a);
    close_tc(&b);
}

struct one_env {
    uint32_t device;
    const uint8_t *bytes;
    size_t len;
};

static bool encode_one(pb_ostream_t *stream, const pb_field_t *field, void *const *arg)
{
    const struct one_env *e = *arg;
    ventra_v1_OutgoingEnvelope o;

    if (e == NULL)
        return true;
    memset(&o, 0, sizeof o);
    o.device_id = e->device;
    o.type = ventra_v1_EnvelopeType_ENVELOPE_TYPE_MESSAGE;
    memcpy(o.content.bytes, e->bytes, e->len);
    o.content.size = (pb_size_t)e->len;
    return pb_encode_tag_for_field(stream, field) &&
           pb_encode_submessage(stream, ventra_v1_OutgoingEnvelope_fields, &o);
}

/* CRYPTO-77: an envelope Bob cannot decrypt is noted and acked, and the
 * session it names still works for the next message. */
static void test_undecryptable(void **state)
{
    tc a, b;
    uint8_t junk[120];
    struct one_env e = {1, junk, sizeof junk};
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    (void)state;

    new_user(&a, "a11", "alice11");
    new_user(&b, "b11", "bob11");
    assert_int_equal(vt_client_send_text(a.c, "bob11", "one", NULL), VT_OK);
    pump(&a, &b, is_idle, &a);
    pump(&b, &a, got_one, &b);

    assert_int_equal(vt_random_bytes(junk, sizeof junk), VT_OK);
    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_send_tag;
    assert_int_equal(vt_random_bytes(req.body.send.message_id.bytes, 16), VT_OK);
    req.body.send.message_id.size = 16;
    snprintf(req.body.send.recipient, sizeof req.body.send.recipient, "bob11");
    req.body.send.to_recipient.funcs.encode = encode_one;
    req.body.send.to_recipient.arg = &e;
    req.body.send.to_self.funcs.encode = encode_one;
    req.body.send.to_self.arg = NULL;
    assert_int_equal(vc_rpc_call(a.c, &req, &resp, vc_now_ms() + T_MS), VT_OK);
    free(resp);
    pump(&b, &a, got_undecryptable, &b);
    assert_int_equal(b.messages, 1);
    pump(&b, &a, is_idle, &b);

    close_tc(&b); /* acked: not pushed again */
    b.undecryptable = 0;
    open_tc(&b, "b11");
    live(&b);
    assert_int_equal(vt_client_run(b.c, 1000, got_undecryptable, &b), VT_ERR_UNAVAILABLE);
    assert_int_equal(vt_client_send_text(a.c, "bob11", "two", NULL), VT_OK);
    pump(&a, &b, is_idle, &a);
    pump(&b, &a, got_two, &b);
    assert_string_equal(b.last_text, "two");
    assert_int_equal(b.undecryptable, 0);
    close_tc(&a);
    close_tc(&b);
}

/* SM-200, AUTH-94 while Alice stays connected: a send to the deleted
 * account fails, and the next one lists Bob's devices again and is held
 * for the new key. */
static void test_identity_change_connected(void **state)
{
    tc a, b, b2;
    uint8_t mid[16];
    (void)state;

    new_user(&a, "a12", "alice12");
    new_user(&b, "b12", "bob12");
    assert_int_equal(vt_client_send_text(a.c, "bob12", "first", NULL), VT_OK);
    pump(&a, &b, is_idle, &a);
    pump(&b, &a, got_one, &b);
    assert_int_equal(vt_client_delete_account(b.c, T_MS), VT_OK);
    close_tc(&b);
    assert_int_equal(vt_client_send_text(a.c, "bob12", "nobody", mid), VT_OK);
    pump(&a, NULL, status_failed, &a);
    assert_int_equal(a.last_status_err, VT_ERR_NOT_FOUND);

    new_user(&b2, "b12new", "bob12");
    assert_int_equal(vt_client_get_state(a.c), VT_CLIENT_LIVE);
    assert_int_equal(vt_client_send_text(a.c, "bob12", "second", NULL), VT_OK);
    pump(&a, &b2, status_held, &a);
    assert_true(a.identity_changed >= 1);
    assert_int_equal(vt_client_accept_identity(a.c, "bob12"), VT_OK);
    pump(&a, &b2, is_idle, &a);
    pump(&b2, &a, got_one, &b2);
    assert_string_equal(b2.last_text, "second");
    close_tc(&a);
    close_tc(&b2);
}

/* CRYPTO-68, SM-200: the new account's PrekeyMessage reveals the new key
 * to connected Alice; it is dropped and her next message is held. */
static void test_identity_change_by_prekey_message(void **state)
{
    tc a, b, b2;
    (void)state;

    new_user(&a, "a13", "alice13");
    new_user(&b, "b13", "bob13");
    assert_int_equal(vt_client_send_text(b.c, "alice13", "first", NULL), VT_OK);
    pump(&b, &a, is_idle, &b);
    pump(&a, &b, got_one, &a);
    pump(&a, &b, is_idle, &a); /* the delivered receipt went: Bob is listed */
    assert_int_equal(vt_client_delete_account(b.c, T_MS), VT_OK);
    close_tc(&b);
    new_user(&b2, "b13new", "bob13");
    assert_int_equal(vt_client_send_text(b2.c, "alice13", "it is me", NULL), VT_OK);
    pump(&b2, &a, is_idle, &b2);
    pump(&a, &b2, got_changed, &a);
    assert_int_equal(a.messages, 1); /* dropped, not shown (SM-200) */
    assert_int_equal(vt_client_get_state(a.c), VT_CLIENT_LIVE);
    assert_int_equal(vt_client_send_text(a.c, "bob13", "held", NULL), VT_OK);
    pump(&a, &b2, status_held, &a);
    assert_int_equal(vt_client_accept_identity(a.c, "bob13"), VT_OK);
    pump(&a, &b2, is_idle, &a);
    pump(&b2, &a, got_one, &b2);
    assert_string_equal(b2.last_text, "held");
    close_tc(&a);
    close_tc(&b2);
}

/* USER_RETRY: a message to an account that does not exist yet fails; once
 * it exists, the retry sends it with the same id. */
static void test_retry(void **state)
{
    tc a, c;
    uint8_t mid[16], sent[16], none[16];
    (void)state;

    new_user(&a, "a14", "alice14");
    assert_int_equal(vt_client_send_text(a.c, "carol14", "late", mid), VT_OK);
    pump(&a, NULL, status_failed, &a);
    assert_int_equal(a.last_status_err, VT_ERR_NOT_FOUND);
    assert_true(vt_client_idle(a.c));
    /* retried too early it fails again, and can be retried again */
    assert_int_equal(vt_client_retry(a.c, mid), VT_OK);
    assert_int_equal(a.last_status, VT_MSG_QUEUED);
    pump(&a, NULL, status_failed, &a);

    new_user(&c, "c14", "carol14");
    assert_int_equal(vt_client_retry(a.c, mid), VT_OK);
    pump(&a, &c, status_sent, &a);
    assert_memory_equal(a.last_status_id, mid, 16);
    pump(&c, &a, got_one, &c);
    assert_string_equal(c.last_text, "late");
    /* only a FAILED message of this account can be retried */
    assert_int_equal(vt_client_retry(a.c, mid), VT_ERR_STATE);
    assert_int_equal(vt_client_send_text(a.c, "carol14", "fine", sent), VT_OK);
    assert_int_equal(vt_client_retry(a.c, sent), VT_ERR_STATE);
    memset(none, 0x77, sizeof none);
    assert_int_equal(vt_client_retry(a.c, none), VT_ERR_NOT_FOUND);
    assert_int_equal(vt_client_retry(a.c, NULL), VT_ERR_INVALID_ARGUMENT);
    pump(&a, &c, is_idle, &a);
    close_tc(&a);
    close_tc(&c);
}

/* WIRE-42, SPEC-3: every wire code of this revision maps to itself; local
 * codes (100+), unknown ones and ERROR_OK inside an Error are
 * ERROR_INTERNAL. */
static void test_wire_error_codes(void **state)
{
    static const uint32_t internal[] = {
        0, 22, 77, 99, 100, 101, 102, 105, 106, 107, 150, 1000, 0x7fffffffu, 0xffffffffu};
    (void)state;

    for (uint32_t code = 1; code <= (uint32_t)VT_ERR_CONFLICT; code++)
        assert_int_equal(vc_wire_err(code), (vt_err)code);
    for (size_t i = 0; i < sizeof internal / sizeof internal[0]; i++)
        assert_int_equal(vc_wire_err(internal[i]), VT_ERR_INTERNAL);
}

/* Bob's bundle as the server hands it out now (consumes a one-time key). */
static void fetch_bundle(tc *a, const char *user, uint32_t *spk, uint32_t *lr,
                         bool *has_lr)
{
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    const ventra_v1_PrekeyBundle *b;

    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_fetch_bundles_tag;
    snprintf(req.body.fetch_bundles.username, sizeof req.body.fetch_bundles.username,
             "%s", user);
    req.body.fetch_bundles.device_ids[0] = 1;
    req.body.fetch_bundles.device_ids_count = 1;
    assert_int_equal(vc_rpc_call(a->c, &req, &resp, vc_now_ms() + T_MS), VT_OK);
    assert_int_equal(resp->kind.response.body.fetch_bundles.bundles_count, 1);
    b = &resp->kind.response.body.fetch_bundles.bundles[0];
    assert_true(b->has_signed_prekey);
    *spk = b->signed_prekey.id;
    *has_lr = b->has_last_resort_prekey;
    *lr = b->has_last_resort_prekey ? b->last_resort_prekey.id : 0;
    free(resp);
}

/* vt_client_rotate_prekeys: new signed and last-resort prekeys with fresh
 * ids go up (the server hands them out next), and the replaced private
 * keys stay in the store, marked replaced, for the grace period
 * (CRYPTO-20, -23, -27, -30). */
static void test_rotate_prekeys(void **state)
{
    tc a, b, u;
    uint32_t spk0 = 0, lr0 = 0, spk1 = 0, lr1 = 0, spk2 = 0, lr2 = 0;
    bool has_lr = false;
    vc_prekey_row row;
    (void)state;

    assert_int_equal(vt_client_rotate_prekeys(NULL, T_MS), VT_ERR_INVALID_ARGUMENT);
    memset(&u, 0, sizeof u);
    open_tc(&u, "u15");
    assert_int_equal(vt_client_rotate_prekeys(u.c, T_MS), VT_ERR_STATE); /* no device */
    close_tc(&u);

    new_user(&a, "a15", "alice15");
    new_user(&b, "b15", "bob15");
    assert_int_equal(vc_store_current_prekey(b.c->store, VC_PREKEY_SIGNED, &row), VT_OK);
    spk0 = row.id;
    assert_int_equal(vc_store_current_prekey(b.c->store, VC_PREKEY_LAST_RESORT, &row),
                     VT_OK);
    lr0 = row.id;
    fetch_bundle(&a, "bob15", &spk1, &lr1, &has_lr);
    assert_int_equal(spk1, spk0);

    assert_int_equal(vt_client_rotate_prekeys(b.c, T_MS), VT_OK);
    assert_int_equal(vc_store_current_prekey(b.c->store, VC_PREKEY_SIGNED, &row), VT_OK);
    assert_true(row.id != 0 && row.id != spk0);
    spk2 = row.id;
    assert_int_equal(vc_store_current_prekey(b.c->store, VC_PREKEY_LAST_RESORT, &row),
                     VT_OK);
    assert_true(row.id != 0 && row.id != lr0);
    lr2 = row.id;
    /* the replaced keys are kept, with the time they were replaced */
    assert_int_equal(vc_store_get_prekey(b.c->store, VC_PREKEY_SIGNED, spk0, &row),
                     VT_OK);
    assert_true(row.replaced_at != 0 && row.replaced_at <= vc_now_s());
    assert_int_equal(vc_store_get_prekey(b.c->store, VC_PREKEY_LAST_RESORT, lr0, &row),
                     VT_OK);
    assert_true(row.replaced_at != 0);
    vt_wipe(&row, sizeof row);
    /* the server hands out the new ones */
    fetch_bundle(&a, "bob15", &spk1, &lr1, &has_lr);
    assert_int_equal(spk1, spk2);
    (void)lr2;
    /* a second rotation draws fresh ids again; the first replaced key is
     * still within its grace period */
    assert_int_equal(vt_client_rotate_prekeys(b.c, T_MS), VT_OK);
    assert_int_equal(vc_store_current_prekey(b.c->store, VC_PREKEY_SIGNED, &row), VT_OK);
    assert_true(row.id != spk0 && row.id != spk2);
    assert_int_equal(vc_store_get_prekey(b.c->store, VC_PREKEY_SIGNED, spk0, &row),
                     VT_OK);
    vt_wipe(&row, sizeof row);
    /* and the client keeps working: a message each way */
    assert_int_equal(vt_client_send_text(a.c, "bob15", "after rotation", NULL), VT_OK);
    live(&b);
    pump(&b, &a, got_one, &b);
    assert_string_equal(b.last_text, "after rotation");
    close_tc(&a);
    close_tc(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_receive_restart),
        cmocka_unit_test(test_outbox_survives_close),
        cmocka_unit_test(test_linked_device_sync),
        cmocka_unit_test(test_identity_change_holds),
        cmocka_unit_test(test_group_of_three),
        cmocka_unit_test(test_ops_complete),
        cmocka_unit_test(test_stale_devices),
        cmocka_unit_test(test_server_key_pinned),
        cmocka_unit_test(test_receipts_and_typing),
        cmocka_unit_test(test_remove_device),
        cmocka_unit_test(test_prekey_replenish),
        cmocka_unit_test(test_undecryptable),
        cmocka_unit_test(test_identity_change_connected),
        cmocka_unit_test(test_identity_change_by_prekey_message),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_wire_error_codes),
        cmocka_unit_test(test_rotate_prekeys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
