/* Black-box tests of ventrad's server-kept groups: CreateGroup,
 * AddGroupMembers, RemoveGroupMembers, LeaveGroup, ListGroups, GetGroup,
 * GroupChangedEvent and group sends (spec/delivery.md section 8.3 and 8.4,
 * DELIV-100 to DELIV-111; spec/wire.md section 5.15). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "vt_constants.h"
#include "vtc.h"

/* ---- Helpers ----------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
    int64_t left = deadline - now_ms();

    return left > 0 ? (int)left : 0;
}

static int setup(void **state)
{
    vtc_server *srv = calloc(1, sizeof *srv);

    if (srv == NULL)
        return -1;
    vtc_server_start(srv, NULL);
    *state = srv;
    return 0;
}

static int teardown(void **state)
{
    vtc_server *srv = *state;

    vtc_server_cleanup(srv);
    free(srv);
    return 0;
}

static vtc_device *new_account(const vtc_server *srv, const char *prefix)
{
    char name[33];

    vtc_username(name, prefix);
    return vtc_register(srv->port, name);
}

static void random16(uint8_t out[16])
{
    assert_int_equal(vt_random_bytes(out, 16), VT_OK);
}

static void expect_error(Ventra__V1__Response *r, int code)
{
    assert_non_null(r);
    if (r->error == NULL)
        fail_msg("expected error %d, got a body %d", code, (int)r->body_case);
    assert_int_equal(r->body_case, VENTRA__V1__RESPONSE__BODY__NOT_SET);
    assert_int_equal(r->error->code, code);
    assert_int_equal(r->error->retry_after_ms, 0);
    assert_int_equal(r->error->n_stale, 0);
    vtc_response_free(r);
}

static void expect_body(const Ventra__V1__Response *r, int body)
{
    assert_non_null(r);
    if (r->error != NULL)
        fail_msg("expected a body %d, got error %d (%s)", body, (int)r->error->code,
                 r->error->message ? r->error->message : "");
    assert_int_equal(r->body_case, body);
}

static Ventra__V1__Response *create_group(vtc_device *d, const char *const *members,
                                          size_t n)
{
    Ventra__V1__CreateGroupRequest cg = VENTRA__V1__CREATE_GROUP_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;

    cg.n_members = n;
    cg.members = (char **)members;
    req.body_case = VENTRA__V1__REQUEST__BODY_CREATE_GROUP;
    req.create_group = &cg;
    return vtc_call(d->c, &req);
}

static Ventra__V1__Response *add_members(vtc_device *d, const uint8_t *gid,
                                         size_t gid_len, const char *const *members,
                                         size_t n)
{
    Ventra__V1__AddGroupMembersRequest ag = VENTRA__V1__ADD_GROUP_MEMBERS_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;

    ag.group_id.data = (uint8_t *)gid;
    ag.group_id.len = gid_len;
    ag.n_members = n;
    ag.members = (char **)members;
    req.body_case = VENTRA__V1__REQUEST__BODY_ADD_GROUP_MEMBERS;
    req.add_group_members = &ag;
    return vtc_call(d->c, &req);
}

static Ventra__V1__Response *remove_members(vtc_device *d, const uint8_t *gid,
                                            size_t gid_len, const char *const *members,
                                            size_t n)
{
    Ventra__V1__RemoveGroupMembersRequest rg =
        VENTRA__V1__REMOVE_GROUP_MEMBERS_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;

    rg.group_id.data = (uint8_t *)gid;
    rg.group_id.len = gid_len;
    rg.n_members = n;
    rg.members = (char **)members;
    req.body_case = VENTRA__V1__REQUEST__BODY_REMOVE_GROUP_MEMBERS;
    req.remove_group_members = &rg;
    return vtc_call(d->c, &req);
}

static Ventra__V1__Response *leave_group(vtc_device *d, const uint8_t *gid,
                                         size_t gid_len)
{
    Ventra__V1__LeaveGroupRequest lg = VENTRA__V1__LEAVE_GROUP_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;

    lg.group_id.data = (uint8_t *)gid;
    lg.group_id.len = gid_len;
    req.body_case = VENTRA__V1__REQUEST__BODY_LEAVE_GROUP;
    req.leave_group = &lg;
    return vtc_call(d->c, &req);
}

static Ventra__V1__Response *list_groups(vtc_device *d)
{
    Ventra__V1__ListGroupsRequest lg = VENTRA__V1__LIST_GROUPS_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;

    req.body_case = VENTRA__V1__REQUEST__BODY_LIST_GROUPS;
    req.list_groups = &lg;
    return vtc_call(d->c, &req);
}

static Ventra__V1__Response *get_group(vtc_device *d, const uint8_t *gid, size_t gid_len)
{
    Ventra__V1__GetGroupRequest gg = VENTRA__V1__GET_GROUP_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;

    gg.group_id.data = (uint8_t *)gid;
    gg.group_id.len = gid_len;
    req.body_case = VENTRA__V1__REQUEST__BODY_GET_GROUP;
    req.get_group = &gg;
    return vtc_call(d->c, &req);
}

static void expect_leave_ok(vtc_device *d, const uint8_t *gid)
{
    Ventra__V1__Response *r = leave_group(d, gid, 16);

    expect_body(r, VENTRA__V1__RESPONSE__BODY_LEAVE_GROUP);
    vtc_response_free(r);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Asserts |g| has |gid| (unless NULL), the |n| |members| and the |na|
 * |admins| each sorted bytewise (strcmp compares as unsigned char), and
 * |revision|. The expected lists may come in any order. */
static void check_group(const Ventra__V1__GroupInfo *g, const uint8_t *gid,
                        const char *const *members, size_t n, const char *const *admins,
                        size_t na, uint64_t revision)
{
    const char *sorted[64];

    assert_non_null(g);
    assert_int_equal(g->group_id.len, VT_GROUP_ID_LEN);
    if (gid != NULL)
        assert_memory_equal(g->group_id.data, gid, 16);
    assert_true(n <= 64 && na <= 64);
    if (n > 0) {
        memcpy(sorted, members, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_str);
    }
    assert_int_equal(g->n_members, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(g->members[i], sorted[i]);
    if (na > 0) {
        memcpy(sorted, admins, na * sizeof *sorted);
        qsort(sorted, na, sizeof *sorted, cmp_str);
    }
    assert_int_equal(g->n_admins, na);
    for (size_t i = 0; i < na; i++)
        assert_string_equal(g->admins[i], sorted[i]);
    assert_int_equal(g->revision, revision);
}

/* GetGroup by |d| and check_group of the answer. */
static void expect_group(vtc_device *d, const uint8_t *gid, const char *const *members,
                         size_t n, const char *const *admins, size_t na,
                         uint64_t revision)
{
    Ventra__V1__Response *r = get_group(d, gid, 16);

    expect_body(r, VENTRA__V1__RESPONSE__BODY_GET_GROUP);
    check_group(r->get_group->group, gid, members, n, admins, na, revision);
    vtc_response_free(r);
}

/* The next event of kind |kind| on |c| within |ms|, others dropped. */
static Ventra__V1__Event *wait_event(vtc_client *c, int kind, int ms)
{
    int64_t deadline = now_ms() + ms;

    for (;;) {
        Ventra__V1__Event *e = vtc_next_event(c, left_ms(deadline));

        if (e == NULL)
            return NULL;
        if ((int)e->body_case == kind)
            return e;
        vtc_event_free(e);
    }
}

/* DELIV-107: |d|'s next GroupChangedEvent, made by |changed_by|, carries
 * the group as given (no members and admins for a removed account). */
static void expect_changed(vtc_device *d, const uint8_t *gid, const char *const *members,
                           size_t n, const char *const *admins, size_t na,
                           uint64_t revision, const char *changed_by)
{
    Ventra__V1__Event *e = wait_event(d->c, VENTRA__V1__EVENT__BODY_GROUP_CHANGED, 5000);

    if (e == NULL)
        fail_msg("%s: no GroupChangedEvent (revision %llu) within 5 s", d->username,
                 (unsigned long long)revision);
    assert_string_equal(e->group_changed->changed_by, changed_by);
    check_group(e->group_changed->group, gid, members, n, admins, na, revision);
    vtc_event_free(e);
}

/* A group send: one envelope per device of |r|, content "<text>|r<id>". */
static Ventra__V1__Response *send_group(vtc_device *from, const char *recipient,
                                        const uint32_t *r, size_t nr, const uint32_t *s,
                                        size_t ns, const char *text, const uint8_t *mid,
                                        const uint8_t *gid, size_t gid_len)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__SendRequest send = VENTRA__V1__SEND_REQUEST__INIT;
    Ventra__V1__OutgoingEnvelope env[16], *rp[8], *sp[8];
    char content[16][64];

    assert_true(nr <= 8 && ns <= 8);
    for (size_t i = 0; i < nr + ns; i++) {
        bool self = i >= nr;
        uint32_t dev = self ? s[i - nr] : r[i];

        ventra__v1__outgoing_envelope__init(&env[i]);
        env[i].device_id = dev;
        env[i].type = VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE;
        snprintf(content[i], sizeof content[i], "%s|%c%u", text, self ? 's' : 'r', dev);
        env[i].content.data = (uint8_t *)content[i];
        env[i].content.len = strlen(content[i]);
        if (self)
            sp[i - nr] = &env[i];
        else
            rp[i] = &env[i];
    }
    send.message_id.data = (uint8_t *)mid;
    send.message_id.len = 16;
    send.recipient = (char *)recipient;
    send.n_to_recipient = nr;
    send.to_recipient = rp;
    send.n_to_self = ns;
    send.to_self = sp;
    send.group_id.data = (uint8_t *)gid;
    send.group_id.len = gid_len;
    req.body_case = VENTRA__V1__REQUEST__BODY_SEND;
    req.send = &send;
    return vtc_call(from->c, &req);
}

static uint64_t expect_sent(Ventra__V1__Response *r)
{
    uint64_t t;

    expect_body(r, VENTRA__V1__RESPONSE__BODY_SEND);
    assert_false(r->send->duplicate);
    t = r->send->server_time_ms;
    vtc_response_free(r);
    return t;
}

/* The next MessageEvent of |d| (other events dropped), checked as
 * DELIV-1 says for a group message; acked. */
static void expect_group_message(vtc_device *d, const vtc_device *from,
                                 const char *recipient, const uint8_t *mid,
                                 const uint8_t *gid, const char *content)
{
    Ventra__V1__Event *e = wait_event(d->c, VENTRA__V1__EVENT__BODY_MESSAGE, 5000);
    Ventra__V1__MessageEvent *m;

    if (e == NULL)
        fail_msg("%s/%u: no MessageEvent within 5 s", d->username, d->device_id);
    m = e->message;
    assert_true(m->seq >= 1);
    assert_string_equal(m->sender, from->username);
    assert_int_equal(m->sender_device, from->device_id);
    assert_int_equal(m->message_id.len, 16);
    assert_memory_equal(m->message_id.data, mid, 16);
    assert_int_equal(m->group_id.len, 16);
    assert_memory_equal(m->group_id.data, gid, 16);
    assert_string_equal(m->recipient, recipient);
    assert_int_equal(m->content.len, strlen(content));
    assert_memory_equal(m->content.data, content, strlen(content));
    assert_false(m->ephemeral);
    assert_int_equal(vtc_ack(d, &m->seq, 1), 1);
    vtc_event_free(e);
}

/* Creates a group by |d| with |members| and returns its id in |gid|. */
static void create_ok(vtc_device *d, const char *const *members, size_t n,
                      uint8_t gid[16])
{
    Ventra__V1__Response *r = create_group(d, members, n);

    expect_body(r, VENTRA__V1__RESPONSE__BODY_CREATE_GROUP);
    assert_non_null(r->create_group->group);
    assert_int_equal(r->create_group->group->group_id.len, 16);
    memcpy(gid, r->create_group->group->group_id.data, 16);
    vtc_response_free(r);
}

/* ---- Tests ---------------------------------------------------------------------- */

/* DELIV-100: members sorted, duplicates and the caller counted once, the
 * creator the only admin, revision 1, a fresh id per call; the checks in
 * order; DELIV-107 to every member's connection, the caller's included. */
static void test_create_group(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    vtc_device *carol = new_account(srv, "carol");
    const char *req[] = {carol->username, bob->username, bob->username, alice->username};
    const char *all[] = {alice->username, bob->username, carol->username};
    const char *admin[] = {alice->username};
    char ghost[33];
    uint8_t gid[16], gid2[16];
    Ventra__V1__Response *r;

    r = create_group(alice, req, 4);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_CREATE_GROUP);
    check_group(r->create_group->group, NULL, all, 3, admin, 1, 1);
    memcpy(gid, r->create_group->group->group_id.data, 16);
    vtc_response_free(r);

    expect_changed(alice, gid, all, 3, admin, 1, 1, alice->username);
    expect_changed(bob, gid, all, 3, admin, 1, 1, alice->username);
    expect_changed(carol, gid, all, 3, admin, 1, 1, alice->username);
    expect_group(bob, gid, all, 3, admin, 1, 1);

    /* Not idempotent: another group, with the caller alone. */
    r = create_group(alice, NULL, 0);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_CREATE_GROUP);
    check_group(r->create_group->group, NULL, admin, 1, admin, 1, 1);
    memcpy(gid2, r->create_group->group->group_id.data, 16);
    vtc_response_free(r);
    assert_memory_not_equal(gid, gid2, 16);

    /* Check 1 (every name well-formed) before check 2 (every account exists). */
    vtc_username(ghost, "ghost");
    {
        const char *bad[] = {"Bob"}, *shrt[] = {"ab"}, *gh[] = {ghost};
        const char *mixed[] = {ghost, "Bad"}, *mixed2[] = {bob->username, ghost};

        expect_error(create_group(alice, bad, 1), VT_ERR_INVALID_ARGUMENT);
        expect_error(create_group(alice, shrt, 1), VT_ERR_INVALID_ARGUMENT);
        expect_error(create_group(alice, mixed, 2), VT_ERR_INVALID_ARGUMENT);
        expect_error(create_group(alice, gh, 1), VT_ERR_NOT_FOUND);
        expect_error(create_group(alice, mixed2, 2), VT_ERR_NOT_FOUND);
    }

    /* The refused calls created nothing. */
    r = list_groups(alice);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS);
    assert_int_equal(r->list_groups->n_group_ids, 2);
    vtc_response_free(r);
    r = list_groups(bob);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS);
    assert_int_equal(r->list_groups->n_group_ids, 1);
    assert_memory_equal(r->list_groups->group_ids[0].data, gid, 16);
    vtc_response_free(r);

    vtc_device_free(carol);
    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-101: any member adds, revision + 1 per change, adding nobody
 * changes nothing (no revision, no event); the checks in order. */
static void test_add_members(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    vtc_device *carol = new_account(srv, "carol");
    vtc_device *dave = new_account(srv, "dave");
    vtc_device *erin = new_account(srv, "erin");
    const char *admin[] = {alice->username};
    const char *ab[] = {alice->username, bob->username};
    const char *abc[] = {alice->username, bob->username, carol->username};
    const char *abcd[] = {alice->username, bob->username, carol->username,
                          dave->username};
    const char *b[] = {bob->username}, *c[] = {carol->username}, *d[] = {dave->username};
    const char *e[] = {erin->username}, *bad[] = {"Bad"};
    char ghost[33];
    const char *gh[] = {ghost};
    uint8_t gid[16], unknown[16];
    Ventra__V1__Response *r;

    vtc_username(ghost, "ghost");
    random16(unknown);
    create_ok(alice, b, 1, gid);
    expect_changed(alice, gid, ab, 2, admin, 1, 1, alice->username);
    expect_changed(bob, gid, ab, 2, admin, 1, 1, alice->username);

    /* bob is no admin, but any member may add. */
    r = add_members(bob, gid, 16, c, 1);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_ADD_GROUP_MEMBERS);
    check_group(r->add_group_members->group, gid, abc, 3, admin, 1, 2);
    vtc_response_free(r);
    expect_changed(alice, gid, abc, 3, admin, 1, 2, bob->username);
    expect_changed(bob, gid, abc, 3, admin, 1, 2, bob->username);
    expect_changed(carol, gid, abc, 3, admin, 1, 2, bob->username);

    /* Adding members already there, or nobody: no change. */
    r = add_members(bob, gid, 16, c, 1);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_ADD_GROUP_MEMBERS);
    check_group(r->add_group_members->group, gid, abc, 3, admin, 1, 2);
    vtc_response_free(r);
    r = add_members(carol, gid, 16, ab, 2);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_ADD_GROUP_MEMBERS);
    check_group(r->add_group_members->group, gid, abc, 3, admin, 1, 2);
    vtc_response_free(r);
    r = add_members(alice, gid, 16, NULL, 0);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_ADD_GROUP_MEMBERS);
    check_group(r->add_group_members->group, gid, abc, 3, admin, 1, 2);
    vtc_response_free(r);

    /* Refused: check 1 (form) before 2 (membership) before 3 (accounts). */
    expect_error(add_members(alice, gid, 15, d, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(add_members(alice, gid, 0, d, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(add_members(alice, gid, 16, bad, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(add_members(erin, gid, 16, bad, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(add_members(erin, gid, 16, e, 1), VT_ERR_NOT_FOUND);
    expect_error(add_members(erin, gid, 16, gh, 1), VT_ERR_NOT_FOUND);
    expect_error(add_members(alice, unknown, 16, d, 1), VT_ERR_NOT_FOUND);
    expect_error(add_members(alice, gid, 16, gh, 1), VT_ERR_NOT_FOUND);

    /* The next change is revision 3, and it is the next event everyone
     * sees: the calls above pushed nothing. */
    r = add_members(alice, gid, 16, d, 1);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_ADD_GROUP_MEMBERS);
    check_group(r->add_group_members->group, gid, abcd, 4, admin, 1, 3);
    vtc_response_free(r);
    expect_changed(alice, gid, abcd, 4, admin, 1, 3, alice->username);
    expect_changed(bob, gid, abcd, 4, admin, 1, 3, alice->username);
    expect_changed(carol, gid, abcd, 4, admin, 1, 3, alice->username);
    expect_changed(dave, gid, abcd, 4, admin, 1, 3, alice->username);
    expect_group(dave, gid, abcd, 4, admin, 1, 3);
    /* erin was never added and heard nothing. */
    assert_null(wait_event(erin->c, VENTRA__V1__EVENT__BODY_GROUP_CHANGED, 300));

    vtc_device_free(erin);
    vtc_device_free(dave);
    vtc_device_free(carol);
    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-102: admins only, never oneself; removed accounts get the event
 * with no members; removing non-members changes nothing. */
static void test_remove_members(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    vtc_device *carol = new_account(srv, "carol");
    vtc_device *dave = new_account(srv, "dave");
    vtc_device *erin = new_account(srv, "erin");
    const char *admin[] = {alice->username};
    const char *bcd[] = {bob->username, carol->username, dave->username};
    const char *abcd[] = {alice->username, bob->username, carol->username,
                          dave->username};
    const char *abd[] = {alice->username, bob->username, dave->username};
    const char *a[] = {alice->username}, *b[] = {bob->username}, *c[] = {carol->username};
    const char *e[] = {erin->username}, *bad[] = {"Bad"},
               *bd[] = {bob->username, dave->username};
    uint8_t gid[16];
    Ventra__V1__Response *r;

    create_ok(alice, bcd, 3, gid);
    expect_changed(carol, gid, abcd, 4, admin, 1, 1, alice->username);

    /* Check 1 (form, not oneself) before 2 (membership) before 3 (admin). */
    expect_error(remove_members(alice, gid, 16, a, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(remove_members(bob, gid, 16, b, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(remove_members(erin, gid, 16, e, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(remove_members(alice, gid, 16, bad, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(remove_members(alice, gid, 15, c, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(remove_members(erin, gid, 16, c, 1), VT_ERR_NOT_FOUND);
    expect_error(remove_members(bob, gid, 16, c, 1), VT_ERR_PERMISSION_DENIED);
    expect_group(carol, gid, abcd, 4, admin, 1, 1);

    r = remove_members(alice, gid, 16, c, 1);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_REMOVE_GROUP_MEMBERS);
    check_group(r->remove_group_members->group, gid, abd, 3, admin, 1, 2);
    vtc_response_free(r);
    expect_changed(alice, gid, abcd, 4, admin, 1, 1, alice->username);
    expect_changed(alice, gid, abd, 3, admin, 1, 2, alice->username);
    expect_changed(bob, gid, abcd, 4, admin, 1, 1, alice->username);
    expect_changed(bob, gid, abd, 3, admin, 1, 2, alice->username);
    expect_changed(dave, gid, abcd, 4, admin, 1, 1, alice->username);
    expect_changed(dave, gid, abd, 3, admin, 1, 2, alice->username);
    /* The removed account: id and revision, no members, no admins. */
    expect_changed(carol, gid, NULL, 0, NULL, 0, 2, alice->username);

    /* The group no longer exists for carol. */
    expect_error(get_group(carol, gid, 16), VT_ERR_NOT_FOUND);
    r = list_groups(carol);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS);
    assert_int_equal(r->list_groups->n_group_ids, 0);
    vtc_response_free(r);
    expect_error(add_members(carol, gid, 16, c, 1), VT_ERR_NOT_FOUND);

    /* Removing non-members, or nobody: no change. */
    r = remove_members(alice, gid, 16, c, 1);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_REMOVE_GROUP_MEMBERS);
    check_group(r->remove_group_members->group, gid, abd, 3, admin, 1, 2);
    vtc_response_free(r);
    r = remove_members(alice, gid, 16, e, 1);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_REMOVE_GROUP_MEMBERS);
    check_group(r->remove_group_members->group, gid, abd, 3, admin, 1, 2);
    vtc_response_free(r);
    r = remove_members(alice, gid, 16, NULL, 0);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_REMOVE_GROUP_MEMBERS);
    check_group(r->remove_group_members->group, gid, abd, 3, admin, 1, 2);
    vtc_response_free(r);

    /* Two at once: one change, revision 3, the next event of each. */
    r = remove_members(alice, gid, 16, bd, 2);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_REMOVE_GROUP_MEMBERS);
    check_group(r->remove_group_members->group, gid, a, 1, admin, 1, 3);
    vtc_response_free(r);
    expect_changed(alice, gid, a, 1, admin, 1, 3, alice->username);
    expect_changed(bob, gid, NULL, 0, NULL, 0, 3, alice->username);
    expect_changed(dave, gid, NULL, 0, NULL, 0, 3, alice->username);
    expect_group(alice, gid, a, 1, admin, 1, 3);

    vtc_device_free(erin);
    vtc_device_free(dave);
    vtc_device_free(carol);
    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-103, DELIV-104: LeaveGroup succeeds for anyone with a well-formed
 * id; the last admin leaving makes the bytewise-first remaining member an
 * admin; the last member leaving deletes the group. */
static void test_leave_group(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *zed = new_account(srv, "zed");
    vtc_device *mia = new_account(srv, "mia");
    vtc_device *kim = new_account(srv, "kim");
    vtc_device *dave = new_account(srv, "dave");
    const char *zmk[] = {zed->username, mia->username, kim->username};
    const char *all[] = {alice->username, zed->username, mia->username, kim->username};
    const char *zk[] = {zed->username, kim->username}, *z[] = {zed->username};
    const char *admin[] = {alice->username}, *kadmin[] = {kim->username};
    const char *zadmin[] = {zed->username}, *m[] = {mia->username};
    uint8_t gid[16], unknown[16];
    Ventra__V1__Response *r;

    /* The bytewise order the test relies on (prefixes k < m < z). */
    assert_true(strcmp(kim->username, mia->username) < 0);
    assert_true(strcmp(mia->username, zed->username) < 0);

    random16(unknown);
    expect_leave_ok(dave, unknown);
    expect_error(leave_group(dave, unknown, 15), VT_ERR_INVALID_ARGUMENT);
    expect_error(leave_group(dave, unknown, 0), VT_ERR_INVALID_ARGUMENT);

    create_ok(alice, zmk, 3, gid);
    expect_changed(alice, gid, all, 4, admin, 1, 1, alice->username);
    expect_changed(zed, gid, all, 4, admin, 1, 1, alice->username);
    expect_changed(mia, gid, all, 4, admin, 1, 1, alice->username);
    expect_changed(kim, gid, all, 4, admin, 1, 1, alice->username);

    /* A non-member leaving: success, no change. */
    expect_leave_ok(dave, gid);
    expect_group(alice, gid, all, 4, admin, 1, 1);

    /* The last (only) admin leaves: kim, first bytewise, becomes admin in
     * the same change (the creation order was zed, mia, kim). */
    expect_leave_ok(alice, gid);
    expect_group(zed, gid, zmk, 3, kadmin, 1, 2);
    expect_changed(zed, gid, zmk, 3, kadmin, 1, 2, alice->username);
    expect_changed(mia, gid, zmk, 3, kadmin, 1, 2, alice->username);
    expect_changed(kim, gid, zmk, 3, kadmin, 1, 2, alice->username);
    expect_changed(alice, gid, NULL, 0, NULL, 0, 2, alice->username);
    expect_error(get_group(alice, gid, 16), VT_ERR_NOT_FOUND);
    /* Leaving again: still a success, nothing changes. */
    expect_leave_ok(alice, gid);
    expect_group(kim, gid, zmk, 3, kadmin, 1, 2);

    /* kim is an admin now: it may remove, zed may not. */
    expect_error(remove_members(zed, gid, 16, m, 1), VT_ERR_PERMISSION_DENIED);
    r = remove_members(kim, gid, 16, m, 1);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_REMOVE_GROUP_MEMBERS);
    check_group(r->remove_group_members->group, gid, zk, 2, kadmin, 1, 3);
    vtc_response_free(r);

    /* kim, the last admin, leaves: zed remains and becomes admin. */
    expect_leave_ok(kim, gid);
    expect_group(zed, gid, z, 1, zadmin, 1, 4);
    expect_changed(zed, gid, zk, 2, kadmin, 1, 3, kim->username);
    expect_changed(zed, gid, z, 1, zadmin, 1, 4, kim->username);

    /* The last member leaves: the group is gone for everyone. */
    expect_leave_ok(zed, gid);
    r = list_groups(zed);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS);
    assert_int_equal(r->list_groups->n_group_ids, 0);
    vtc_response_free(r);
    expect_error(get_group(zed, gid, 16), VT_ERR_NOT_FOUND);
    expect_error(get_group(kim, gid, 16), VT_ERR_NOT_FOUND);
    expect_error(add_members(zed, gid, 16, z, 1), VT_ERR_NOT_FOUND);
    expect_leave_ok(zed, gid);

    vtc_device_free(dave);
    vtc_device_free(kim);
    vtc_device_free(mia);
    vtc_device_free(zed);
    vtc_device_free(alice);
}

/* DELIV-105: the ids of every group of the caller, sorted bytewise. */
static void test_list_groups_sorted(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    const char *a[] = {alice->username};
    uint8_t gid[6][16];
    Ventra__V1__Response *r;

    r = list_groups(alice);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS);
    assert_int_equal(r->list_groups->n_group_ids, 0);
    vtc_response_free(r);

    for (int i = 0; i < 5; i++)
        create_ok(alice, NULL, 0, gid[i]);
    create_ok(bob, a, 1, gid[5]);

    r = list_groups(alice);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS);
    assert_int_equal(r->list_groups->n_group_ids, 6);
    for (size_t i = 0; i < 6; i++) {
        bool found = false;

        assert_int_equal(r->list_groups->group_ids[i].len, 16);
        if (i > 0)
            assert_true(memcmp(r->list_groups->group_ids[i - 1].data,
                               r->list_groups->group_ids[i].data, 16) < 0);
        for (int k = 0; k < 6; k++)
            if (memcmp(r->list_groups->group_ids[i].data, gid[k], 16) == 0)
                found = true;
        assert_true(found);
    }
    vtc_response_free(r);

    r = list_groups(bob);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS);
    assert_int_equal(r->list_groups->n_group_ids, 1);
    assert_memory_equal(r->list_groups->group_ids[0].data, gid[5], 16);
    vtc_response_free(r);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-106: a member reads the group; a non-member, an unknown id: NOT_FOUND;
 * a malformed id: INVALID_ARGUMENT. */
static void test_get_group(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    vtc_device *carol = new_account(srv, "carol");
    const char *b[] = {bob->username}, *ab[] = {alice->username, bob->username};
    const char *admin[] = {alice->username};
    uint8_t gid[16], unknown[16];

    random16(unknown);
    create_ok(alice, b, 1, gid);
    expect_group(alice, gid, ab, 2, admin, 1, 1);
    expect_group(bob, gid, ab, 2, admin, 1, 1);
    expect_error(get_group(carol, gid, 16), VT_ERR_NOT_FOUND);
    expect_error(get_group(alice, unknown, 16), VT_ERR_NOT_FOUND);
    expect_error(get_group(alice, gid, 15), VT_ERR_INVALID_ARGUMENT);
    expect_error(get_group(carol, gid, 0), VT_ERR_INVALID_ARGUMENT);

    vtc_device_free(carol);
    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* spec/wire.md section 4.2: a group id is a fixed-length form, not a
 * bound: 17 bytes is INVALID_ARGUMENT in every group RPC, not TOO_LARGE. */
static void test_group_id_overlong(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    const char *b[] = {bob->username};
    uint8_t gid[17];

    create_ok(alice, NULL, 0, gid);
    gid[16] = 0;
    expect_error(get_group(alice, gid, 17), VT_ERR_INVALID_ARGUMENT);
    expect_error(leave_group(alice, gid, 17), VT_ERR_INVALID_ARGUMENT);
    expect_error(add_members(alice, gid, 17, b, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(remove_members(alice, gid, 17, b, 1), VT_ERR_INVALID_ARGUMENT);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-110, checks 3, 7, 10 and 11 of delivery.md 3.1: group sends go to
 * members only, from members only, with to_self empty; the own copy goes
 * as a send to the sender's own account. */
static void test_group_send(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice1 = new_account(srv, "alice");
    vtc_device *alice2 = vtc_link(alice1);
    vtc_device *bob = new_account(srv, "bob");
    vtc_device *carol = new_account(srv, "carol");
    vtc_device *dave = new_account(srv, "dave");
    const uint32_t one[] = {1}, two[] = {2}, r12[] = {1, 2}, r19[] = {1, 9};
    const char *b[] = {bob->username};
    char ghost[33];
    uint8_t gid[16], unknown[16], m1[16], m2[16], m3[16], m4[16], m5[16];

    vtc_username(ghost, "ghost");
    random16(unknown);
    create_ok(alice1, b, 1, gid);

    /* To a member. */
    random16(m1);
    expect_sent(send_group(alice1, bob->username, one, 1, NULL, 0, "g", m1, gid, 16));
    expect_group_message(bob, alice1, bob->username, m1, gid, "g|r1");
    /* The own copy: recipient the own account, to_recipient its devices. */
    random16(m2);
    expect_sent(
        send_group(alice1, alice1->username, two, 1, NULL, 0, "own", m2, gid, 16));
    expect_group_message(alice2, alice1, alice1->username, m2, gid, "own|r2");

    /* Refused. */
    random16(m3);
    expect_error(send_group(alice1, bob->username, one, 1, two, 1, "g", m3, gid, 16),
                 VT_ERR_INVALID_ARGUMENT);
    expect_error(send_group(alice1, bob->username, one, 1, NULL, 0, "g", m3, gid, 15),
                 VT_ERR_INVALID_ARGUMENT);
    expect_error(send_group(alice1, carol->username, one, 1, NULL, 0, "g", m3, gid, 16),
                 VT_ERR_PERMISSION_DENIED);
    /* 11 before 12: the list for carol is also wrong. */
    expect_error(send_group(alice1, carol->username, r19, 2, NULL, 0, "g", m3, gid, 16),
                 VT_ERR_PERMISSION_DENIED);
    expect_error(send_group(carol, alice1->username, r12, 2, NULL, 0, "g", m3, gid, 16),
                 VT_ERR_NOT_FOUND);
    /* 10 before 11: a non-member to a non-member. */
    expect_error(send_group(carol, dave->username, one, 1, NULL, 0, "g", m3, gid, 16),
                 VT_ERR_NOT_FOUND);
    expect_error(send_group(alice1, bob->username, one, 1, NULL, 0, "g", m3, unknown, 16),
                 VT_ERR_NOT_FOUND);
    expect_error(send_group(alice1, ghost, one, 1, NULL, 0, "g", m3, gid, 16),
                 VT_ERR_NOT_FOUND);
    /* The same message id without the group, or with another: CONFLICT. */
    expect_error(send_group(alice1, bob->username, one, 1, two, 1, "g", m1, NULL, 0),
                 VT_ERR_CONFLICT);

    /* m3 was never recorded, and nothing refused reached anyone. */
    expect_sent(send_group(alice1, bob->username, one, 1, NULL, 0, "m3", m3, gid, 16));
    expect_group_message(bob, alice1, bob->username, m3, gid, "m3|r1");

    /* DELIV-110: a message queued before the recipient's removal stays. */
    vtc_disconnect(bob);
    random16(m4);
    expect_sent(
        send_group(alice1, bob->username, one, 1, NULL, 0, "before", m4, gid, 16));
    {
        Ventra__V1__Response *r = remove_members(alice1, gid, 16, b, 1);

        expect_body(r, VENTRA__V1__RESPONSE__BODY_REMOVE_GROUP_MEMBERS);
        vtc_response_free(r);
    }
    random16(m5);
    expect_error(send_group(alice1, bob->username, one, 1, NULL, 0, "after", m5, gid, 16),
                 VT_ERR_PERMISSION_DENIED);
    assert_int_equal(vtc_login(bob, srv->port), 0);
    expect_group_message(bob, alice1, bob->username, m4, gid, "before|r1");
    expect_error(send_group(bob, alice1->username, r12, 2, NULL, 0, "after", m5, gid, 16),
                 VT_ERR_NOT_FOUND);

    vtc_device_free(dave);
    vtc_device_free(carol);
    vtc_device_free(bob);
    vtc_device_free(alice2);
    vtc_device_free(alice1);
}

/* Section 8.4: in a three-member group every member sends pairwise to the
 * two others, each with its own message id, and each member gets both. */
static void test_group_three_members(void **state)
{
    vtc_server *srv = *state;
    vtc_device *m[3];
    const uint32_t one[] = {1};
    uint8_t gid[16], mid[3][3][16];

    m[0] = new_account(srv, "alice");
    m[1] = new_account(srv, "bob");
    m[2] = new_account(srv, "carol");
    {
        const char *others[] = {m[1]->username, m[2]->username};

        create_ok(m[0], others, 2, gid);
    }
    for (int from = 0; from < 3; from++)
        for (int to = 0; to < 3; to++) {
            char text[32];

            if (from == to)
                continue;
            random16(mid[from][to]);
            snprintf(text, sizeof text, "from %d", from);
            expect_sent(send_group(m[from], m[to]->username, one, 1, NULL, 0, text,
                                   mid[from][to], gid, 16));
        }
    /* Each member gets the two others' messages in the order they were
     * accepted (DELIV-41). */
    for (int to = 0; to < 3; to++)
        for (int from = 0; from < 3; from++) {
            char want[32];

            if (from == to)
                continue;
            snprintf(want, sizeof want, "from %d|r1", from);
            expect_group_message(m[to], m[from], m[to]->username, mid[from][to], gid,
                                 want);
        }

    for (int i = 0; i < 3; i++)
        vtc_device_free(m[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leave_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_groups_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_id_overlong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_three_members, setup, teardown),
    };

    if (vt_crypto_init() != VT_OK)
        return 1;
    /* VTC_TEST_FILTER=test_name runs one test (a cmocka pattern). */
    if (getenv("VTC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("VTC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
