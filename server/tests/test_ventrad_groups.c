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

#include <cmocka.h>

#include "vt_constants.h"
#include "vtc_server.h"

/* ---- Helpers ----------------------------------------------------------- */

/* A group as a test expects it: its members and its admins (in any order;
 * the server lists each sorted bytewise) and its revision. */
typedef struct group_want {
    const char *const *members;
    size_t n;
    const char *const *admins;
    size_t na;
    uint64_t revision;
} group_want;

static Ventra__V1__Response *create_group(vtc_device *d, const char *const *members,
                                          size_t n)
{
    Ventra__V1__CreateGroupRequest cg = VENTRA__V1__CREATE_GROUP_REQUEST__INIT;

    cg.n_members = n;
    cg.members = (char **)members;
    return vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_CREATE_GROUP, &cg);
}

/* AddGroupMembers (|add|) or RemoveGroupMembers of |members| by |d|: the
 * two requests have the same fields. */
static Ventra__V1__Response *change_members(vtc_device *d, bool add, const uint8_t *gid,
                                            size_t gid_len, const char *const *members,
                                            size_t n)
{
    Ventra__V1__AddGroupMembersRequest ag = VENTRA__V1__ADD_GROUP_MEMBERS_REQUEST__INIT;
    Ventra__V1__RemoveGroupMembersRequest rg =
        VENTRA__V1__REMOVE_GROUP_MEMBERS_REQUEST__INIT;

    ag.group_id = rg.group_id = vtc_bin(gid, gid_len);
    ag.n_members = rg.n_members = n;
    ag.members = rg.members = (char **)members;
    if (add)
        return vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_ADD_GROUP_MEMBERS, &ag);
    return vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_REMOVE_GROUP_MEMBERS, &rg);
}

static Ventra__V1__Response *add_members(vtc_device *d, const uint8_t *gid,
                                         size_t gid_len, const char *const *members,
                                         size_t n)
{
    return change_members(d, true, gid, gid_len, members, n);
}

static Ventra__V1__Response *remove_members(vtc_device *d, const uint8_t *gid,
                                            size_t gid_len, const char *const *members,
                                            size_t n)
{
    return change_members(d, false, gid, gid_len, members, n);
}

/* LeaveGroup (|leave|) or GetGroup of |gid| by |d|: both carry the id
 * alone. */
static Ventra__V1__Response *by_group_id(vtc_device *d, bool leave, const uint8_t *gid,
                                         size_t gid_len)
{
    Ventra__V1__LeaveGroupRequest lg = VENTRA__V1__LEAVE_GROUP_REQUEST__INIT;
    Ventra__V1__GetGroupRequest gg = VENTRA__V1__GET_GROUP_REQUEST__INIT;

    lg.group_id = gg.group_id = vtc_bin(gid, gid_len);
    if (leave)
        return vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_LEAVE_GROUP, &lg);
    return vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_GET_GROUP, &gg);
}

static Ventra__V1__Response *leave_group(vtc_device *d, const uint8_t *gid,
                                         size_t gid_len)
{
    return by_group_id(d, true, gid, gid_len);
}

static Ventra__V1__Response *get_group(vtc_device *d, const uint8_t *gid, size_t gid_len)
{
    return by_group_id(d, false, gid, gid_len);
}

static Ventra__V1__Response *list_groups(vtc_device *d)
{
    Ventra__V1__ListGroupsRequest lg = VENTRA__V1__LIST_GROUPS_REQUEST__INIT;

    return vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_LIST_GROUPS, &lg);
}

static void expect_leave_ok(vtc_device *d, const uint8_t *gid)
{
    Ventra__V1__Response *r = leave_group(d, gid, 16);

    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_LEAVE_GROUP);
    vtc_response_free(r);
}

/* ListGroups of |d|: |n| ids, the first |first| unless NULL. */
static void expect_group_ids(vtc_device *d, size_t n, const uint8_t *first)
{
    Ventra__V1__Response *r = list_groups(d);

    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS);
    assert_int_equal(r->list_groups->n_group_ids, n);
    if (first != NULL)
        assert_memory_equal(r->list_groups->group_ids[0].data, first, 16);
    vtc_response_free(r);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Asserts that |got| (|n_got| names) is |want| (|n| names) sorted bytewise
 * (strcmp compares as unsigned char). */
static void check_names(char *const *got, size_t n_got, const char *const *want, size_t n)
{
    const char *sorted[64];

    assert_true(n <= 64);
    if (n > 0) {
        memcpy(sorted, want, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_str);
    }
    assert_int_equal(n_got, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got[i], sorted[i]);
}

/* Asserts that |g| has |gid| (unless NULL) and is the group |w|. */
static void check_group(const Ventra__V1__GroupInfo *g, const uint8_t *gid,
                        const group_want *w)
{
    assert_non_null(g);
    assert_int_equal(g->group_id.len, VT_GROUP_ID_LEN);
    if (gid != NULL)
        assert_memory_equal(g->group_id.data, gid, 16);
    check_names(g->members, g->n_members, w->members, w->n);
    check_names(g->admins, g->n_admins, w->admins, w->na);
    assert_int_equal(g->revision, w->revision);
}

/* GetGroup by |d| and check_group of the answer. */
static void expect_group(vtc_device *d, const uint8_t *gid, const group_want *w)
{
    Ventra__V1__Response *r = get_group(d, gid, 16);

    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_GET_GROUP);
    check_group(r->get_group->group, gid, w);
    vtc_response_free(r);
}

/* AddGroupMembers (|add|) or RemoveGroupMembers of |names| by |d|
 * succeeds and answers the group |w|. */
static void expect_change_ok(vtc_device *d, bool add, const uint8_t *gid,
                             const char *const *names, size_t n, const group_want *w)
{
    Ventra__V1__Response *r = change_members(d, add, gid, 16, names, n);

    if (add) {
        vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_ADD_GROUP_MEMBERS);
        check_group(r->add_group_members->group, gid, w);
    } else {
        vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_REMOVE_GROUP_MEMBERS);
        check_group(r->remove_group_members->group, gid, w);
    }
    vtc_response_free(r);
}

static void expect_added(vtc_device *d, const uint8_t *gid, const char *const *names,
                         size_t n, const group_want *w)
{
    expect_change_ok(d, true, gid, names, n, w);
}

static void expect_removed(vtc_device *d, const uint8_t *gid, const char *const *names,
                           size_t n, const group_want *w)
{
    expect_change_ok(d, false, gid, names, n, w);
}

/* DELIV-107: the next GroupChangedEvent of each device of the
 * NULL-terminated list, made by |changed_by|, carries the group |w| (no
 * members and admins for a removed account). The devices are read in
 * order. */
__attribute__((sentinel)) static void
expect_changed(const uint8_t *gid, const group_want *w, const char *changed_by, ...)
{
    va_list ap;
    vtc_device *d;

    va_start(ap, changed_by);
    while ((d = va_arg(ap, vtc_device *)) != NULL) {
        Ventra__V1__Event *e =
            vtc_wait_event(d->c, VENTRA__V1__EVENT__BODY_GROUP_CHANGED, 5000);

        if (e == NULL)
            fail_msg("%s: no GroupChangedEvent (revision %llu) within 5 s", d->username,
                     (unsigned long long)w->revision);
        assert_string_equal(e->group_changed->changed_by, changed_by);
        check_group(e->group_changed->group, gid, w);
        vtc_event_free(e);
    }
    va_end(ap);
}

/* A group send: one envelope per device of |r| and |s|, content
 * "<text>|r<id>" (vtc_send_build), in the group |gid| of |gid_len| bytes. */
static Ventra__V1__Response *send_group(vtc_device *from, const char *recipient,
                                        const uint32_t *r, size_t nr, const uint32_t *s,
                                        size_t ns, const char *text, const uint8_t *mid,
                                        const uint8_t *gid, size_t gid_len)
{
    const vtc_send_opts o = {.group_id = gid, .group_id_len = gid_len};

    return vtc_send_lists(from, recipient, r, nr, s, ns, text, mid, &o);
}

/* The next MessageEvent of |d| (other events dropped), checked as
 * DELIV-1 says for a group message; acked. */
static void expect_group_message(vtc_device *d, const vtc_device *from,
                                 const char *recipient, const uint8_t *mid,
                                 const uint8_t *gid, const char *content)
{
    Ventra__V1__Event *e = vtc_expect_message(d, 5000);

    vtc_check_message(e->message, from, recipient, mid, gid, content, 0);
    assert_int_equal(vtc_ack(d, &e->message->seq, 1), 1);
    vtc_event_free(e);
}

/* Creates a group by |d| with |members| and returns its id in |gid|; the
 * answer is the group |w| unless that is NULL. */
static void create_ok(vtc_device *d, const char *const *members, size_t n,
                      const group_want *w, uint8_t gid[16])
{
    Ventra__V1__Response *r = create_group(d, members, n);

    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_CREATE_GROUP);
    assert_non_null(r->create_group->group);
    assert_int_equal(r->create_group->group->group_id.len, 16);
    if (w != NULL)
        check_group(r->create_group->group, NULL, w);
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
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    vtc_device *carol = vtc_new_account(srv, "carol");
    const char *req[] = {carol->username, bob->username, bob->username, alice->username};
    const char *all[] = {alice->username, bob->username, carol->username};
    const char *admin[] = {alice->username};
    const group_want g_all = {all, 3, admin, 1, 1}, g_alone = {admin, 1, admin, 1, 1};
    char ghost[33];
    uint8_t gid[16], gid2[16];

    create_ok(alice, req, 4, &g_all, gid);
    expect_changed(gid, &g_all, alice->username, alice, bob, carol, NULL);
    expect_group(bob, gid, &g_all);

    /* Not idempotent: another group, with the caller alone. */
    create_ok(alice, NULL, 0, &g_alone, gid2);
    assert_memory_not_equal(gid, gid2, 16);

    /* Check 1 (every name well-formed) before check 2 (every account exists). */
    vtc_username(ghost, "ghost");
    {
        const char *bad[] = {"Bob"}, *shrt[] = {"ab"}, *gh[] = {ghost};
        const char *mixed[] = {ghost, "Bad"}, *mixed2[] = {bob->username, ghost};

        vtc_expect_error(create_group(alice, bad, 1), VT_ERR_INVALID_ARGUMENT);
        vtc_expect_error(create_group(alice, shrt, 1), VT_ERR_INVALID_ARGUMENT);
        vtc_expect_error(create_group(alice, mixed, 2), VT_ERR_INVALID_ARGUMENT);
        vtc_expect_error(create_group(alice, gh, 1), VT_ERR_NOT_FOUND);
        vtc_expect_error(create_group(alice, mixed2, 2), VT_ERR_NOT_FOUND);
    }

    /* The refused calls created nothing. */
    expect_group_ids(alice, 2, NULL);
    expect_group_ids(bob, 1, gid);

    vtc_device_free(carol);
    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-101: any member adds, revision + 1 per change, adding nobody
 * changes nothing (no revision, no event); the checks in order. */
static void test_add_members(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    vtc_device *carol = vtc_new_account(srv, "carol");
    vtc_device *dave = vtc_new_account(srv, "dave");
    vtc_device *erin = vtc_new_account(srv, "erin");
    const char *admin[] = {alice->username};
    const char *ab[] = {alice->username, bob->username};
    const char *abc[] = {alice->username, bob->username, carol->username};
    const char *abcd[] = {alice->username, bob->username, carol->username,
                          dave->username};
    const char *b[] = {bob->username}, *c[] = {carol->username}, *d[] = {dave->username};
    const char *e[] = {erin->username}, *bad[] = {"Bad"};
    const group_want g1 = {ab, 2, admin, 1, 1}, g2 = {abc, 3, admin, 1, 2};
    const group_want g3 = {abcd, 4, admin, 1, 3};
    char ghost[33];
    const char *gh[] = {ghost};
    uint8_t gid[16], unknown[16];

    vtc_username(ghost, "ghost");
    vtc_random16(unknown);
    create_ok(alice, b, 1, NULL, gid);
    expect_changed(gid, &g1, alice->username, alice, bob, NULL);

    /* bob is no admin, but any member may add. */
    expect_added(bob, gid, c, 1, &g2);
    expect_changed(gid, &g2, bob->username, alice, bob, carol, NULL);

    /* Adding members already there, or nobody: no change. */
    expect_added(bob, gid, c, 1, &g2);
    expect_added(carol, gid, ab, 2, &g2);
    expect_added(alice, gid, NULL, 0, &g2);

    /* Refused: check 1 (form) before 2 (membership) before 3 (accounts). */
    vtc_expect_error(add_members(alice, gid, 15, d, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(add_members(alice, gid, 0, d, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(add_members(alice, gid, 16, bad, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(add_members(erin, gid, 16, bad, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(add_members(erin, gid, 16, e, 1), VT_ERR_NOT_FOUND);
    vtc_expect_error(add_members(erin, gid, 16, gh, 1), VT_ERR_NOT_FOUND);
    vtc_expect_error(add_members(alice, unknown, 16, d, 1), VT_ERR_NOT_FOUND);
    vtc_expect_error(add_members(alice, gid, 16, gh, 1), VT_ERR_NOT_FOUND);

    /* The next change is revision 3, and it is the next event everyone
     * sees: the calls above pushed nothing. */
    expect_added(alice, gid, d, 1, &g3);
    expect_changed(gid, &g3, alice->username, alice, bob, carol, dave, NULL);
    expect_group(dave, gid, &g3);
    /* erin was never added and heard nothing. */
    assert_null(vtc_wait_event(erin->c, VENTRA__V1__EVENT__BODY_GROUP_CHANGED, 300));

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
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    vtc_device *carol = vtc_new_account(srv, "carol");
    vtc_device *dave = vtc_new_account(srv, "dave");
    vtc_device *erin = vtc_new_account(srv, "erin");
    const char *admin[] = {alice->username};
    const char *bcd[] = {bob->username, carol->username, dave->username};
    const char *abcd[] = {alice->username, bob->username, carol->username,
                          dave->username};
    const char *abd[] = {alice->username, bob->username, dave->username};
    const char *a[] = {alice->username}, *b[] = {bob->username}, *c[] = {carol->username};
    const char *e[] = {erin->username}, *bad[] = {"Bad"},
               *bd[] = {bob->username, dave->username};
    const group_want g1 = {abcd, 4, admin, 1, 1}, g2 = {abd, 3, admin, 1, 2};
    const group_want g3 = {a, 1, admin, 1, 3};
    const group_want gone2 = {NULL, 0, NULL, 0, 2}, gone3 = {NULL, 0, NULL, 0, 3};
    uint8_t gid[16];

    create_ok(alice, bcd, 3, NULL, gid);
    expect_changed(gid, &g1, alice->username, carol, NULL);

    /* Check 1 (form, not oneself) before 2 (membership) before 3 (admin). */
    vtc_expect_error(remove_members(alice, gid, 16, a, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(remove_members(bob, gid, 16, b, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(remove_members(erin, gid, 16, e, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(remove_members(alice, gid, 16, bad, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(remove_members(alice, gid, 15, c, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(remove_members(erin, gid, 16, c, 1), VT_ERR_NOT_FOUND);
    vtc_expect_error(remove_members(bob, gid, 16, c, 1), VT_ERR_PERMISSION_DENIED);
    expect_group(carol, gid, &g1);

    expect_removed(alice, gid, c, 1, &g2);
    expect_changed(gid, &g1, alice->username, alice, NULL);
    expect_changed(gid, &g2, alice->username, alice, NULL);
    expect_changed(gid, &g1, alice->username, bob, NULL);
    expect_changed(gid, &g2, alice->username, bob, NULL);
    expect_changed(gid, &g1, alice->username, dave, NULL);
    expect_changed(gid, &g2, alice->username, dave, NULL);
    /* The removed account: id and revision, no members, no admins. */
    expect_changed(gid, &gone2, alice->username, carol, NULL);

    /* The group no longer exists for carol. */
    vtc_expect_error(get_group(carol, gid, 16), VT_ERR_NOT_FOUND);
    expect_group_ids(carol, 0, NULL);
    vtc_expect_error(add_members(carol, gid, 16, c, 1), VT_ERR_NOT_FOUND);

    /* Removing non-members, or nobody: no change. */
    expect_removed(alice, gid, c, 1, &g2);
    expect_removed(alice, gid, e, 1, &g2);
    expect_removed(alice, gid, NULL, 0, &g2);

    /* Two at once: one change, revision 3, the next event of each. */
    expect_removed(alice, gid, bd, 2, &g3);
    expect_changed(gid, &g3, alice->username, alice, NULL);
    expect_changed(gid, &gone3, alice->username, bob, dave, NULL);
    expect_group(alice, gid, &g3);

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
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *zed = vtc_new_account(srv, "zed");
    vtc_device *mia = vtc_new_account(srv, "mia");
    vtc_device *kim = vtc_new_account(srv, "kim");
    vtc_device *dave = vtc_new_account(srv, "dave");
    const char *zmk[] = {zed->username, mia->username, kim->username};
    const char *all[] = {alice->username, zed->username, mia->username, kim->username};
    const char *zk[] = {zed->username, kim->username}, *z[] = {zed->username};
    const char *admin[] = {alice->username}, *kadmin[] = {kim->username};
    const char *zadmin[] = {zed->username}, *m[] = {mia->username};
    const group_want g1 = {all, 4, admin, 1, 1}, g2 = {zmk, 3, kadmin, 1, 2};
    const group_want g3 = {zk, 2, kadmin, 1, 3}, g4 = {z, 1, zadmin, 1, 4};
    const group_want gone2 = {NULL, 0, NULL, 0, 2};
    uint8_t gid[16], unknown[16];

    /* The bytewise order the test relies on (prefixes k < m < z). */
    assert_true(strcmp(kim->username, mia->username) < 0);
    assert_true(strcmp(mia->username, zed->username) < 0);

    vtc_random16(unknown);
    expect_leave_ok(dave, unknown);
    vtc_expect_error(leave_group(dave, unknown, 15), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(leave_group(dave, unknown, 0), VT_ERR_INVALID_ARGUMENT);

    create_ok(alice, zmk, 3, NULL, gid);
    expect_changed(gid, &g1, alice->username, alice, zed, mia, kim, NULL);

    /* A non-member leaving: success, no change. */
    expect_leave_ok(dave, gid);
    expect_group(alice, gid, &g1);

    /* The last (only) admin leaves: kim, first bytewise, becomes admin in
     * the same change (the creation order was zed, mia, kim). */
    expect_leave_ok(alice, gid);
    expect_group(zed, gid, &g2);
    expect_changed(gid, &g2, alice->username, zed, mia, kim, NULL);
    expect_changed(gid, &gone2, alice->username, alice, NULL);
    vtc_expect_error(get_group(alice, gid, 16), VT_ERR_NOT_FOUND);
    /* Leaving again: still a success, nothing changes. */
    expect_leave_ok(alice, gid);
    expect_group(kim, gid, &g2);

    /* kim is an admin now: it may remove, zed may not. */
    vtc_expect_error(remove_members(zed, gid, 16, m, 1), VT_ERR_PERMISSION_DENIED);
    expect_removed(kim, gid, m, 1, &g3);

    /* kim, the last admin, leaves: zed remains and becomes admin. */
    expect_leave_ok(kim, gid);
    expect_group(zed, gid, &g4);
    expect_changed(gid, &g3, kim->username, zed, NULL);
    expect_changed(gid, &g4, kim->username, zed, NULL);

    /* The last member leaves: the group is gone for everyone. */
    expect_leave_ok(zed, gid);
    expect_group_ids(zed, 0, NULL);
    vtc_expect_error(get_group(zed, gid, 16), VT_ERR_NOT_FOUND);
    vtc_expect_error(get_group(kim, gid, 16), VT_ERR_NOT_FOUND);
    vtc_expect_error(add_members(zed, gid, 16, z, 1), VT_ERR_NOT_FOUND);
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
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    const char *a[] = {alice->username};
    uint8_t gid[6][16];
    Ventra__V1__Response *r;

    expect_group_ids(alice, 0, NULL);

    for (int i = 0; i < 5; i++)
        create_ok(alice, NULL, 0, NULL, gid[i]);
    create_ok(bob, a, 1, NULL, gid[5]);

    r = list_groups(alice);
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS);
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

    expect_group_ids(bob, 1, gid[5]);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-106: a member reads the group; a non-member, an unknown id: NOT_FOUND;
 * a malformed id: INVALID_ARGUMENT. */
static void test_get_group(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    vtc_device *carol = vtc_new_account(srv, "carol");
    const char *b[] = {bob->username}, *ab[] = {alice->username, bob->username};
    const char *admin[] = {alice->username};
    const group_want g1 = {ab, 2, admin, 1, 1};
    uint8_t gid[16], unknown[16];

    vtc_random16(unknown);
    create_ok(alice, b, 1, NULL, gid);
    expect_group(alice, gid, &g1);
    expect_group(bob, gid, &g1);
    vtc_expect_error(get_group(carol, gid, 16), VT_ERR_NOT_FOUND);
    vtc_expect_error(get_group(alice, unknown, 16), VT_ERR_NOT_FOUND);
    vtc_expect_error(get_group(alice, gid, 15), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(get_group(carol, gid, 0), VT_ERR_INVALID_ARGUMENT);

    vtc_device_free(carol);
    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* spec/wire.md section 4.2: a group id is a fixed-length form, not a
 * bound: 17 bytes is INVALID_ARGUMENT in every group RPC, not TOO_LARGE. */
static void test_group_id_overlong(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    const char *b[] = {bob->username};
    uint8_t gid[17];

    create_ok(alice, NULL, 0, NULL, gid);
    gid[16] = 0;
    vtc_expect_error(get_group(alice, gid, 17), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(leave_group(alice, gid, 17), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(add_members(alice, gid, 17, b, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(remove_members(alice, gid, 17, b, 1), VT_ERR_INVALID_ARGUMENT);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-110, checks 3, 7, 10 and 11 of delivery.md 3.1: group sends go to
 * members only, from members only, with to_self empty; the own copy goes
 * as a send to the sender's own account. */
static void test_group_send(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice1 = vtc_new_account(srv, "alice");
    vtc_device *alice2 = vtc_link(alice1);
    vtc_device *bob = vtc_new_account(srv, "bob");
    vtc_device *carol = vtc_new_account(srv, "carol");
    vtc_device *dave = vtc_new_account(srv, "dave");
    const uint32_t one[] = {1}, two[] = {2}, r12[] = {1, 2}, r19[] = {1, 9};
    const char *b[] = {bob->username}, *a[] = {alice1->username};
    const group_want g_alone = {a, 1, a, 1, 2};
    char ghost[33];
    uint8_t gid[16], unknown[16], m1[16], m2[16], m3[16], m4[16], m5[16];
    const struct {
        vtc_device *from;
        const char *recipient;
        const uint32_t *r;
        size_t nr;
        const uint32_t *s;
        size_t ns;
        const uint8_t *mid, *gid;
        size_t gid_len;
        int want;
    } refused[] = {
        {alice1, bob->username, one, 1, two, 1, m3, gid, 16, VT_ERR_INVALID_ARGUMENT},
        {alice1, bob->username, one, 1, NULL, 0, m3, gid, 15, VT_ERR_INVALID_ARGUMENT},
        {alice1, carol->username, one, 1, NULL, 0, m3, gid, 16, VT_ERR_PERMISSION_DENIED},
        /* 11 before 12: the list for carol is also wrong. */
        {alice1, carol->username, r19, 2, NULL, 0, m3, gid, 16, VT_ERR_PERMISSION_DENIED},
        {carol, alice1->username, r12, 2, NULL, 0, m3, gid, 16, VT_ERR_NOT_FOUND},
        /* 10 before 11: a non-member to a non-member. */
        {carol, dave->username, one, 1, NULL, 0, m3, gid, 16, VT_ERR_NOT_FOUND},
        {alice1, bob->username, one, 1, NULL, 0, m3, unknown, 16, VT_ERR_NOT_FOUND},
        {alice1, ghost, one, 1, NULL, 0, m3, gid, 16, VT_ERR_NOT_FOUND},
        /* The same message id without the group, or with another: CONFLICT. */
        {alice1, bob->username, one, 1, two, 1, m1, NULL, 0, VT_ERR_CONFLICT},
    };

    vtc_username(ghost, "ghost");
    vtc_random16(unknown);
    create_ok(alice1, b, 1, NULL, gid);

    /* To a member. */
    vtc_random16(m1);
    vtc_expect_sent(send_group(alice1, bob->username, one, 1, NULL, 0, "g", m1, gid, 16),
                    false);
    expect_group_message(bob, alice1, bob->username, m1, gid, "g|r1");
    /* The own copy: recipient the own account, to_recipient its devices. */
    vtc_random16(m2);
    vtc_expect_sent(
        send_group(alice1, alice1->username, two, 1, NULL, 0, "own", m2, gid, 16), false);
    expect_group_message(alice2, alice1, alice1->username, m2, gid, "own|r2");

    /* Refused, none of them recorded or delivered. */
    vtc_random16(m3);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        Ventra__V1__Response *r =
            send_group(refused[i].from, refused[i].recipient, refused[i].r, refused[i].nr,
                       refused[i].s, refused[i].ns, "g", refused[i].mid, refused[i].gid,
                       refused[i].gid_len);

        if (vtc_error_code(r) != refused[i].want)
            fail_msg("refused send %zu: code %d, want %d", i, vtc_error_code(r),
                     refused[i].want);
        vtc_expect_error(r, refused[i].want);
    }

    /* m3 was never recorded, and nothing refused reached anyone. */
    vtc_expect_sent(send_group(alice1, bob->username, one, 1, NULL, 0, "m3", m3, gid, 16),
                    false);
    expect_group_message(bob, alice1, bob->username, m3, gid, "m3|r1");

    /* DELIV-110: a message queued before the recipient's removal stays. */
    vtc_disconnect(bob);
    vtc_random16(m4);
    vtc_expect_sent(
        send_group(alice1, bob->username, one, 1, NULL, 0, "before", m4, gid, 16), false);
    expect_removed(alice1, gid, b, 1, &g_alone);
    vtc_random16(m5);
    vtc_expect_error(
        send_group(alice1, bob->username, one, 1, NULL, 0, "after", m5, gid, 16),
        VT_ERR_PERMISSION_DENIED);
    assert_int_equal(vtc_login(bob, srv->port), 0);
    expect_group_message(bob, alice1, bob->username, m4, gid, "before|r1");
    vtc_expect_error(
        send_group(bob, alice1->username, r12, 2, NULL, 0, "after", m5, gid, 16),
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

    m[0] = vtc_new_account(srv, "alice");
    m[1] = vtc_new_account(srv, "bob");
    m[2] = vtc_new_account(srv, "carol");
    {
        const char *others[] = {m[1]->username, m[2]->username};

        create_ok(m[0], others, 2, NULL, gid);
    }
    for (int from = 0; from < 3; from++)
        for (int to = 0; to < 3; to++) {
            char text[32];

            if (from == to)
                continue;
            vtc_random16(mid[from][to]);
            snprintf(text, sizeof text, "from %d", from);
            vtc_expect_sent(send_group(m[from], m[to]->username, one, 1, NULL, 0, text,
                                       mid[from][to], gid, 16),
                            false);
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
        VTC_TEST(test_create_group),        VTC_TEST(test_add_members),
        VTC_TEST(test_remove_members),      VTC_TEST(test_leave_group),
        VTC_TEST(test_list_groups_sorted),  VTC_TEST(test_get_group),
        VTC_TEST(test_group_id_overlong),   VTC_TEST(test_group_send),
        VTC_TEST(test_group_three_members),
    };

    return VTC_RUN(tests, NULL, NULL);
}
