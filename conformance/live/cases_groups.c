/* Live cases of server-kept groups: CreateGroup, AddGroupMembers,
 * RemoveGroupMembers, LeaveGroup, ListGroups, GetGroup, GroupChangedEvent
 * and group sends (spec/delivery.md sections 8.3 and 8.4, DELIV-100 to
 * DELIV-110; spec/wire.md section 5.15). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "live.h"
#include "ventra/err.h"
#include "vt_constants.h"

/* ---- Helpers ----------------------------------------------------------- */

/* A group as a case expects it: its members and its admins (in any order;
 * the server lists each sorted bytewise) and its revision. */
typedef struct group_want {
    const char *const *members;
    size_t n;
    const char *const *admins;
    size_t na;
    uint64_t revision;
} group_want;

/* |r| freed after the case; a group RPC answered ERROR_UNKNOWN_RPC makes
 * the case UNIMPLEMENTED. */
static Ventra__V1__Response *held(vcl_ctx *ctx, Ventra__V1__Response *r, const char *rpc)
{
    vcl_unimplemented_if_unknown(ctx, vtc_error_code(vcl_keep(ctx, r)), rpc);
    return r;
}

/* Asserts that |r| is the error |code| (as vtc_expect_error, WIRE-43);
 * frees |r|. */
static void expect_error(vcl_ctx *ctx, Ventra__V1__Response *r, int code)
{
    if (vtc_error_code(r) == VT_ERR_UNKNOWN_RPC) {
        vtc_response_free(r);
        vcl_unimplemented(ctx, "a group RPC answered ERROR_UNKNOWN_RPC");
    }
    vtc_expect_error(r, code);
}

/* Asserts that |r| succeeded with |body|. */
static void expect_body(vcl_ctx *ctx, const Ventra__V1__Response *r, int body,
                        const char *rpc)
{
    int code = vtc_error_code(r);
    int got = r != NULL ? (int)r->body_case : 0;

    VCL_CHECK(ctx, code == 0 && got == body, "%s answered %s (body %d), want body %d",
              rpc, vcl_code_name(code), got, body);
}

static Ventra__V1__Response *create_group(vtc_device *d, const char *const *members,
                                          size_t n)
{
    Ventra__V1__CreateGroupRequest cg = VENTRA__V1__CREATE_GROUP_REQUEST__INIT;

    cg.n_members = n;
    cg.members = (char **)members;
    return vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_CREATE_GROUP, &cg);
}

/* AddGroupMembers (|add|) or RemoveGroupMembers of |members| by |d|. */
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

/* LeaveGroup (|leave|) or GetGroup of |gid| by |d|. */
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

static void expect_leave_ok(vcl_ctx *ctx, vtc_device *d, const uint8_t *gid)
{
    Ventra__V1__Response *r = held(ctx, leave_group(d, gid, 16), "LeaveGroup");

    expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_LEAVE_GROUP, "LeaveGroup");
}

/* ListGroups of |d|: |n| ids, the first |first| unless NULL. */
static void expect_group_ids(vcl_ctx *ctx, vtc_device *d, size_t n, const uint8_t *first)
{
    Ventra__V1__Response *r = held(ctx, list_groups(d), "ListGroups");

    expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS, "ListGroups");
    VCL_CHECK(ctx, r->list_groups->n_group_ids == n, "%s: ListGroups lists %zu, want %zu",
              d->username, r->list_groups->n_group_ids, n);
    VCL_CHECK(ctx,
              first == NULL ||
                  (r->list_groups->group_ids[0].len == 16 &&
                   memcmp(r->list_groups->group_ids[0].data, first, 16) == 0),
              "%s: ListGroups lists another group", d->username);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Asserts that |got| is |want| sorted bytewise (strcmp compares as
 * unsigned char). */
static void check_names(vcl_ctx *ctx, const char *what, char *const *got, size_t n_got,
                        const char *const *want, size_t n)
{
    const char *sorted[64];

    VCL_CHECK(ctx, n <= 64, "too many names");
    if (n > 0) {
        memcpy(sorted, want, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_str);
    }
    VCL_CHECK(ctx, n_got == n, "%s: %zu names, want %zu", what, n_got, n);
    for (size_t i = 0; i < n; i++)
        VCL_CHECK(ctx, strcmp(got[i], sorted[i]) == 0,
                  "%s[%zu] is '%s', want '%s' (the names sorted bytewise)", what, i,
                  got[i], sorted[i]);
}

/* Asserts that |g| has |gid| (unless NULL) and is the group |w|. */
static void check_group(vcl_ctx *ctx, const Ventra__V1__GroupInfo *g, const uint8_t *gid,
                        const group_want *w)
{
    VCL_CHECK(ctx, g != NULL, "no GroupInfo");
    VCL_CHECK(ctx, g->group_id.len == VT_GROUP_ID_LEN, "a group id of %zu bytes",
              g->group_id.len);
    VCL_CHECK(ctx, gid == NULL || memcmp(g->group_id.data, gid, 16) == 0,
              "GroupInfo of another group");
    check_names(ctx, "members", g->members, g->n_members, w->members, w->n);
    check_names(ctx, "admins", g->admins, g->n_admins, w->admins, w->na);
    VCL_CHECK(ctx, g->revision == w->revision, "revision %llu, want %llu",
              (unsigned long long)g->revision, (unsigned long long)w->revision);
}

/* GetGroup by |d| and check_group of the answer. */
static void expect_group(vcl_ctx *ctx, vtc_device *d, const uint8_t *gid,
                         const group_want *w)
{
    Ventra__V1__Response *r = held(ctx, get_group(d, gid, 16), "GetGroup");

    expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_GET_GROUP, "GetGroup");
    check_group(ctx, r->get_group->group, gid, w);
}

/* AddGroupMembers (|add|) or RemoveGroupMembers of |names| by |d|
 * succeeds and answers the group |w|. */
static void expect_change_ok(vcl_ctx *ctx, vtc_device *d, bool add, const uint8_t *gid,
                             const char *const *names, size_t n, const group_want *w)
{
    const char *rpc = add ? "AddGroupMembers" : "RemoveGroupMembers";
    Ventra__V1__Response *r = held(ctx, change_members(d, add, gid, 16, names, n), rpc);

    if (add) {
        expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_ADD_GROUP_MEMBERS, rpc);
        check_group(ctx, r->add_group_members->group, gid, w);
    } else {
        expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_REMOVE_GROUP_MEMBERS, rpc);
        check_group(ctx, r->remove_group_members->group, gid, w);
    }
}

static void expect_added(vcl_ctx *ctx, vtc_device *d, const uint8_t *gid,
                         const char *const *names, size_t n, const group_want *w)
{
    expect_change_ok(ctx, d, true, gid, names, n, w);
}

static void expect_removed(vcl_ctx *ctx, vtc_device *d, const uint8_t *gid,
                           const char *const *names, size_t n, const group_want *w)
{
    expect_change_ok(ctx, d, false, gid, names, n, w);
}

/* DELIV-107: the next GroupChangedEvent of each device of the
 * NULL-terminated list, made by |changed_by|, carries the group |w| (no
 * members and admins for a removed account). */
__attribute__((sentinel)) static void expect_changed(vcl_ctx *ctx, const uint8_t *gid,
                                                     const group_want *w,
                                                     const char *changed_by, ...)
{
    va_list ap;
    vtc_device *d;

    va_start(ap, changed_by);
    while ((d = va_arg(ap, vtc_device *)) != NULL) {
        Ventra__V1__Event *e =
            vtc_wait_event(d->c, VENTRA__V1__EVENT__BODY_GROUP_CHANGED, 5000);

        if (e == NULL) {
            va_end(ap);
            vcl_failf(ctx, "%s: no GroupChangedEvent (revision %llu) within 5 s",
                      d->username, (unsigned long long)w->revision);
        }
        vcl_hold_event(ctx, e);
        vcl_step(ctx, "%s's GroupChangedEvent of revision %llu by %s", d->username,
                 (unsigned long long)w->revision, changed_by);
        VCL_CHECK(ctx, strcmp(e->group_changed->changed_by, changed_by) == 0,
                  "changed_by '%s', want '%s'", e->group_changed->changed_by, changed_by);
        check_group(ctx, e->group_changed->group, gid, w);
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

/* The next MessageEvent of |d|, checked as DELIV-1 says for a group
 * message; acked. */
static void expect_group_message(vcl_ctx *ctx, vtc_device *d, const vtc_device *from,
                                 const char *recipient, const uint8_t *mid,
                                 const uint8_t *gid, const char *content)
{
    Ventra__V1__Event *e = vtc_expect_message(d, 5000);

    vcl_hold_event(ctx, e);
    vtc_check_message(e->message, from, recipient, mid, gid, content, 0);
    VCL_CHECK(ctx, vtc_ack(d, &e->message->seq, 1) == 1, "the Ack deleted nothing");
}

/* Creates a group by |d| with |members| and returns its id in |gid|; the
 * answer is the group |w| unless that is NULL. */
static void create_ok(vcl_ctx *ctx, vtc_device *d, const char *const *members, size_t n,
                      const group_want *w, uint8_t gid[16])
{
    Ventra__V1__Response *r = held(ctx, create_group(d, members, n), "CreateGroup");

    expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_CREATE_GROUP, "CreateGroup");
    VCL_CHECK(ctx, r->create_group->group != NULL, "CreateGroup answered no GroupInfo");
    VCL_CHECK(ctx, r->create_group->group->group_id.len == 16,
              "CreateGroup answered a group id of %zu bytes",
              r->create_group->group->group_id.len);
    if (w != NULL)
        check_group(ctx, r->create_group->group, NULL, w);
    memcpy(gid, r->create_group->group->group_id.data, 16);
}

/* ---- Cases ---------------------------------------------------------------------- */

/* DELIV-100: members sorted, duplicates and the caller counted once, the
 * creator the only admin, revision 1, a fresh id per call; the checks in
 * order; DELIV-107 to every member's connection, the caller's included. */
static void create_group_case(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *carol = vcl_account(ctx, "carol");
    const char *req[] = {carol->username, bob->username, bob->username, alice->username};
    const char *all[] = {alice->username, bob->username, carol->username};
    const char *admin[] = {alice->username};
    const group_want g_all = {all, 3, admin, 1, 1}, g_alone = {admin, 1, admin, 1, 1};
    char ghost[33];
    uint8_t gid[16], gid2[16];

    vcl_step(ctx, "CreateGroup(carol, bob, bob, alice) by alice");
    create_ok(ctx, alice, req, 4, &g_all, gid);
    expect_changed(ctx, gid, &g_all, alice->username, alice, bob, carol, NULL);
    vcl_step(ctx, "bob reads it");
    expect_group(ctx, bob, gid, &g_all);

    vcl_step(ctx, "not idempotent: CreateGroup() makes another group");
    create_ok(ctx, alice, NULL, 0, &g_alone, gid2);
    VCL_CHECK(ctx, memcmp(gid, gid2, 16) != 0, "the second group has the first one's id");

    vtc_username(ghost, "ghost");
    {
        const char *bad[] = {"Bob"}, *shrt[] = {"ab"}, *gh[] = {ghost};
        const char *mixed[] = {ghost, "Bad"}, *mixed2[] = {bob->username, ghost};

        vcl_step(ctx, "check 1: malformed names");
        expect_error(ctx, create_group(alice, bad, 1), VT_ERR_INVALID_ARGUMENT);
        expect_error(ctx, create_group(alice, shrt, 1), VT_ERR_INVALID_ARGUMENT);
        vcl_step(ctx, "check 1 before 2: an unknown and a malformed name");
        expect_error(ctx, create_group(alice, mixed, 2), VT_ERR_INVALID_ARGUMENT);
        vcl_step(ctx, "check 2: unknown accounts");
        expect_error(ctx, create_group(alice, gh, 1), VT_ERR_NOT_FOUND);
        expect_error(ctx, create_group(alice, mixed2, 2), VT_ERR_NOT_FOUND);
    }

    vcl_step(ctx, "the refused calls created nothing");
    expect_group_ids(ctx, alice, 2, NULL);
    expect_group_ids(ctx, bob, 1, gid);
}

/* DELIV-101: any member adds, revision + 1 per change, adding nobody
 * changes nothing (no revision, no event); the checks in order. */
static void add_members_case(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *carol = vcl_account(ctx, "carol");
    vtc_device *dave = vcl_account(ctx, "dave");
    vtc_device *erin = vcl_account(ctx, "erin");
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
    Ventra__V1__Event *ev;

    vtc_username(ghost, "ghost");
    vtc_random16(unknown);
    create_ok(ctx, alice, b, 1, NULL, gid);
    expect_changed(ctx, gid, &g1, alice->username, alice, bob, NULL);

    vcl_step(ctx, "bob, no admin, adds carol");
    expect_added(ctx, bob, gid, c, 1, &g2);
    expect_changed(ctx, gid, &g2, bob->username, alice, bob, carol, NULL);

    vcl_step(ctx, "adding members already there, or nobody: no change");
    expect_added(ctx, bob, gid, c, 1, &g2);
    expect_added(ctx, carol, gid, ab, 2, &g2);
    expect_added(ctx, alice, gid, NULL, 0, &g2);

    vcl_step(ctx, "check 1: a group id of 15 or 0 bytes, a malformed name");
    expect_error(ctx, add_members(alice, gid, 15, d, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(ctx, add_members(alice, gid, 0, d, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(ctx, add_members(alice, gid, 16, bad, 1), VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "check 1 before 2: a malformed name from a non-member");
    expect_error(ctx, add_members(erin, gid, 16, bad, 1), VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "check 2: a non-member, an unknown group");
    expect_error(ctx, add_members(erin, gid, 16, e, 1), VT_ERR_NOT_FOUND);
    expect_error(ctx, add_members(erin, gid, 16, gh, 1), VT_ERR_NOT_FOUND);
    expect_error(ctx, add_members(alice, unknown, 16, d, 1), VT_ERR_NOT_FOUND);
    vcl_step(ctx, "check 3: an unknown account");
    expect_error(ctx, add_members(alice, gid, 16, gh, 1), VT_ERR_NOT_FOUND);

    vcl_step(ctx, "the next change is revision 3, the next event everyone sees");
    expect_added(ctx, alice, gid, d, 1, &g3);
    expect_changed(ctx, gid, &g3, alice->username, alice, bob, carol, dave, NULL);
    expect_group(ctx, dave, gid, &g3);
    vcl_step(ctx, "erin was never added and heard nothing");
    ev = vtc_wait_event(erin->c, VENTRA__V1__EVENT__BODY_GROUP_CHANGED, 300);
    vtc_event_free(ev);
    VCL_CHECK(ctx, ev == NULL, "a non-member got a GroupChangedEvent");
}

/* DELIV-102: admins only, never oneself; removed accounts get the event
 * with no members; removing non-members changes nothing. */
static void remove_members_case(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *carol = vcl_account(ctx, "carol");
    vtc_device *dave = vcl_account(ctx, "dave");
    vtc_device *erin = vcl_account(ctx, "erin");
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

    create_ok(ctx, alice, bcd, 3, NULL, gid);
    expect_changed(ctx, gid, &g1, alice->username, carol, NULL);

    vcl_step(ctx, "check 1: oneself, a malformed name or id (even from a non-member)");
    expect_error(ctx, remove_members(alice, gid, 16, a, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(ctx, remove_members(bob, gid, 16, b, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(ctx, remove_members(erin, gid, 16, e, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(ctx, remove_members(alice, gid, 16, bad, 1), VT_ERR_INVALID_ARGUMENT);
    expect_error(ctx, remove_members(alice, gid, 15, c, 1), VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "check 2: a non-member");
    expect_error(ctx, remove_members(erin, gid, 16, c, 1), VT_ERR_NOT_FOUND);
    vcl_step(ctx, "check 3: a member who is no admin");
    expect_error(ctx, remove_members(bob, gid, 16, c, 1), VT_ERR_PERMISSION_DENIED);
    expect_group(ctx, carol, gid, &g1);

    vcl_step(ctx, "alice removes carol");
    expect_removed(ctx, alice, gid, c, 1, &g2);
    expect_changed(ctx, gid, &g1, alice->username, alice, NULL);
    expect_changed(ctx, gid, &g2, alice->username, alice, NULL);
    expect_changed(ctx, gid, &g1, alice->username, bob, NULL);
    expect_changed(ctx, gid, &g2, alice->username, bob, NULL);
    expect_changed(ctx, gid, &g1, alice->username, dave, NULL);
    expect_changed(ctx, gid, &g2, alice->username, dave, NULL);
    /* The removed account: id and revision, no members, no admins. */
    expect_changed(ctx, gid, &gone2, alice->username, carol, NULL);

    vcl_step(ctx, "the group no longer exists for carol");
    expect_error(ctx, get_group(carol, gid, 16), VT_ERR_NOT_FOUND);
    expect_group_ids(ctx, carol, 0, NULL);
    expect_error(ctx, add_members(carol, gid, 16, c, 1), VT_ERR_NOT_FOUND);

    vcl_step(ctx, "removing non-members, or nobody: no change");
    expect_removed(ctx, alice, gid, c, 1, &g2);
    expect_removed(ctx, alice, gid, e, 1, &g2);
    expect_removed(ctx, alice, gid, NULL, 0, &g2);

    vcl_step(ctx, "two at once: one change, revision 3, the next event of each");
    expect_removed(ctx, alice, gid, bd, 2, &g3);
    expect_changed(ctx, gid, &g3, alice->username, alice, NULL);
    expect_changed(ctx, gid, &gone3, alice->username, bob, dave, NULL);
    expect_group(ctx, alice, gid, &g3);
}

/* DELIV-103, DELIV-104: LeaveGroup succeeds for anyone with a well-formed
 * id; the last admin leaving makes the bytewise-first remaining member an
 * admin; the last member leaving deletes the group. */
static void leave_group_case(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *zed = vcl_account(ctx, "zed");
    vtc_device *mia = vcl_account(ctx, "mia");
    vtc_device *kim = vcl_account(ctx, "kim");
    vtc_device *dave = vcl_account(ctx, "dave");
    const char *zmk[] = {zed->username, mia->username, kim->username};
    const char *all[] = {alice->username, zed->username, mia->username, kim->username};
    const char *zk[] = {zed->username, kim->username}, *z[] = {zed->username};
    const char *admin[] = {alice->username}, *kadmin[] = {kim->username};
    const char *zadmin[] = {zed->username}, *m[] = {mia->username};
    const group_want g1 = {all, 4, admin, 1, 1}, g2 = {zmk, 3, kadmin, 1, 2};
    const group_want g3 = {zk, 2, kadmin, 1, 3}, g4 = {z, 1, zadmin, 1, 4};
    const group_want gone2 = {NULL, 0, NULL, 0, 2};
    uint8_t gid[16], unknown[16];

    /* The bytewise order the case relies on (prefixes k < m < z). */
    VCL_CHECK(ctx,
              strcmp(kim->username, mia->username) < 0 &&
                  strcmp(mia->username, zed->username) < 0,
              "the account names do not sort as their prefixes");

    vcl_step(ctx, "leaving an unknown group succeeds; a malformed id does not");
    vtc_random16(unknown);
    expect_leave_ok(ctx, dave, unknown);
    expect_error(ctx, leave_group(dave, unknown, 15), VT_ERR_INVALID_ARGUMENT);
    expect_error(ctx, leave_group(dave, unknown, 0), VT_ERR_INVALID_ARGUMENT);

    create_ok(ctx, alice, zmk, 3, NULL, gid);
    expect_changed(ctx, gid, &g1, alice->username, alice, zed, mia, kim, NULL);

    vcl_step(ctx, "a non-member leaving: success, no change");
    expect_leave_ok(ctx, dave, gid);
    expect_group(ctx, alice, gid, &g1);

    vcl_step(ctx, "the only admin leaves: kim, first bytewise, becomes admin");
    expect_leave_ok(ctx, alice, gid);
    expect_group(ctx, zed, gid, &g2);
    expect_changed(ctx, gid, &g2, alice->username, zed, mia, kim, NULL);
    expect_changed(ctx, gid, &gone2, alice->username, alice, NULL);
    expect_error(ctx, get_group(alice, gid, 16), VT_ERR_NOT_FOUND);
    vcl_step(ctx, "leaving again: still a success, nothing changes");
    expect_leave_ok(ctx, alice, gid);
    expect_group(ctx, kim, gid, &g2);

    vcl_step(ctx, "kim is an admin now: it may remove, zed may not");
    expect_error(ctx, remove_members(zed, gid, 16, m, 1), VT_ERR_PERMISSION_DENIED);
    expect_removed(ctx, kim, gid, m, 1, &g3);

    vcl_step(ctx, "kim, the last admin, leaves: zed remains and becomes admin");
    expect_leave_ok(ctx, kim, gid);
    expect_group(ctx, zed, gid, &g4);
    expect_changed(ctx, gid, &g3, kim->username, zed, NULL);
    expect_changed(ctx, gid, &g4, kim->username, zed, NULL);

    vcl_step(ctx, "the last member leaves: the group is gone for everyone");
    expect_leave_ok(ctx, zed, gid);
    expect_group_ids(ctx, zed, 0, NULL);
    expect_error(ctx, get_group(zed, gid, 16), VT_ERR_NOT_FOUND);
    expect_error(ctx, get_group(kim, gid, 16), VT_ERR_NOT_FOUND);
    expect_error(ctx, add_members(zed, gid, 16, z, 1), VT_ERR_NOT_FOUND);
    expect_leave_ok(ctx, zed, gid);
}

/* DELIV-105: the ids of every group of the caller, sorted bytewise. */
static void list_groups_sorted(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    const char *a[] = {alice->username};
    uint8_t gid[6][16];
    Ventra__V1__Response *r;

    vcl_step(ctx, "no groups yet");
    expect_group_ids(ctx, alice, 0, NULL);

    vcl_step(ctx, "five groups of alice's, one of bob's with her");
    for (int i = 0; i < 5; i++)
        create_ok(ctx, alice, NULL, 0, NULL, gid[i]);
    create_ok(ctx, bob, a, 1, NULL, gid[5]);

    vcl_step(ctx, "alice lists the six, sorted bytewise");
    r = held(ctx, list_groups(alice), "ListGroups");
    expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS, "ListGroups");
    VCL_CHECK(ctx, r->list_groups->n_group_ids == 6, "%zu ids, want 6",
              r->list_groups->n_group_ids);
    for (size_t i = 0; i < 6; i++) {
        bool found = false;

        VCL_CHECK(ctx, r->list_groups->group_ids[i].len == 16, "id %zu of %zu bytes", i,
                  r->list_groups->group_ids[i].len);
        VCL_CHECK(ctx,
                  i == 0 || memcmp(r->list_groups->group_ids[i - 1].data,
                                   r->list_groups->group_ids[i].data, 16) < 0,
                  "ids %zu and %zu are not in increasing bytewise order", i - 1, i);
        for (int k = 0; k < 6; k++)
            if (memcmp(r->list_groups->group_ids[i].data, gid[k], 16) == 0)
                found = true;
        VCL_CHECK(ctx, found, "id %zu is none of alice's groups", i);
    }
    vcl_step(ctx, "bob lists his one");
    expect_group_ids(ctx, bob, 1, gid[5]);
}

/* DELIV-106: a member reads the group; a non-member, an unknown id:
 * NOT_FOUND; a malformed id: INVALID_ARGUMENT. */
static void get_group_case(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *carol = vcl_account(ctx, "carol");
    const char *b[] = {bob->username}, *ab[] = {alice->username, bob->username};
    const char *admin[] = {alice->username};
    const group_want g1 = {ab, 2, admin, 1, 1};
    uint8_t gid[16], unknown[16];

    vtc_random16(unknown);
    create_ok(ctx, alice, b, 1, NULL, gid);
    vcl_step(ctx, "both members read it");
    expect_group(ctx, alice, gid, &g1);
    expect_group(ctx, bob, gid, &g1);
    vcl_step(ctx, "a non-member, an unknown id: NOT_FOUND");
    expect_error(ctx, get_group(carol, gid, 16), VT_ERR_NOT_FOUND);
    expect_error(ctx, get_group(alice, unknown, 16), VT_ERR_NOT_FOUND);
    vcl_step(ctx, "ids of 15 and 0 bytes: INVALID_ARGUMENT");
    expect_error(ctx, get_group(alice, gid, 15), VT_ERR_INVALID_ARGUMENT);
    expect_error(ctx, get_group(carol, gid, 0), VT_ERR_INVALID_ARGUMENT);
}

/* DELIV-101, DELIV-102, DELIV-103, DELIV-106 (spec/wire.md section 4.2):
 * a group id is a fixed-length form, not a bound: 17 bytes is
 * INVALID_ARGUMENT in every group RPC, not TOO_LARGE. */
static void group_id_overlong(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    const char *b[] = {bob->username};
    uint8_t gid[17];

    create_ok(ctx, alice, NULL, 0, NULL, gid);
    gid[16] = 0;
    vcl_step(ctx, "GetGroup with a 17-byte id");
    expect_error(ctx, get_group(alice, gid, 17), VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "LeaveGroup with a 17-byte id");
    expect_error(ctx, leave_group(alice, gid, 17), VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "AddGroupMembers with a 17-byte id");
    expect_error(ctx, add_members(alice, gid, 17, b, 1), VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "RemoveGroupMembers with a 17-byte id");
    expect_error(ctx, remove_members(alice, gid, 17, b, 1), VT_ERR_INVALID_ARGUMENT);
}

/* DELIV-110, DELIV-10 (checks 3, 7, 10 and 11): group sends go to members
 * only, from members only, with to_self empty; the own copy goes as a send
 * to the sender's own account; a message queued before the recipient's
 * removal stays. */
static void group_send(vcl_ctx *ctx)
{
    vtc_device *alice1 = vcl_account(ctx, "alice");
    vtc_device *alice2 = vcl_link(ctx, alice1);
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *carol = vcl_account(ctx, "carol");
    vtc_device *dave = vcl_account(ctx, "dave");
    const uint32_t one[] = {1}, two[] = {2}, r12[] = {1, 2}, r19[] = {1, 9};
    const char *b[] = {bob->username}, *a[] = {alice1->username};
    const group_want g_alone = {a, 1, a, 1, 2};
    char ghost[33];
    uint8_t gid[16], unknown[16], m1[16], m2[16], m3[16], m4[16], m5[16];
    const struct {
        const char *what;
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
        {"7: to_self with a group", alice1, bob->username, one, 1, two, 1, m3, gid, 16,
         VT_ERR_INVALID_ARGUMENT},
        {"3: a 15-byte group id", alice1, bob->username, one, 1, NULL, 0, m3, gid, 15,
         VT_ERR_INVALID_ARGUMENT},
        {"11: a recipient not in the group", alice1, carol->username, one, 1, NULL, 0, m3,
         gid, 16, VT_ERR_PERMISSION_DENIED},
        {"11 before 12: a non-member recipient with a wrong list", alice1,
         carol->username, r19, 2, NULL, 0, m3, gid, 16, VT_ERR_PERMISSION_DENIED},
        {"10: a sender not in the group", carol, alice1->username, r12, 2, NULL, 0, m3,
         gid, 16, VT_ERR_NOT_FOUND},
        {"10 before 11: a non-member to a non-member", carol, dave->username, one, 1,
         NULL, 0, m3, gid, 16, VT_ERR_NOT_FOUND},
        {"10: an unknown group", alice1, bob->username, one, 1, NULL, 0, m3, unknown, 16,
         VT_ERR_NOT_FOUND},
        {"9: an unknown recipient", alice1, ghost, one, 1, NULL, 0, m3, gid, 16,
         VT_ERR_NOT_FOUND},
        {"8: the first send's id without its group", alice1, bob->username, one, 1, two,
         1, m1, NULL, 0, VT_ERR_CONFLICT},
    };

    vtc_username(ghost, "ghost");
    vtc_random16(unknown);
    create_ok(ctx, alice1, b, 1, NULL, gid);

    vcl_step(ctx, "a group send to bob, a member");
    vtc_random16(m1);
    vtc_expect_sent(send_group(alice1, bob->username, one, 1, NULL, 0, "g", m1, gid, 16),
                    false);
    expect_group_message(ctx, bob, alice1, bob->username, m1, gid, "g|r1");
    vcl_step(ctx, "the own copy: recipient the own account, to_recipient its devices");
    vtc_random16(m2);
    vtc_expect_sent(
        send_group(alice1, alice1->username, two, 1, NULL, 0, "own", m2, gid, 16), false);
    expect_group_message(ctx, alice2, alice1, alice1->username, m2, gid, "own|r2");

    vtc_random16(m3);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        Ventra__V1__Response *r;
        int code;

        vcl_step(ctx, "check %s: %s", refused[i].what, vcl_code_name(refused[i].want));
        r = send_group(refused[i].from, refused[i].recipient, refused[i].r, refused[i].nr,
                       refused[i].s, refused[i].ns, "g", refused[i].mid, refused[i].gid,
                       refused[i].gid_len);
        code = vtc_error_code(r);
        if (code != refused[i].want) {
            vtc_response_free(r);
            VCL_CODE(ctx, code, refused[i].want);
        }
        vtc_expect_error(r, refused[i].want);
    }

    vcl_step(ctx, "m3 was never recorded, and nothing refused reached anyone");
    vtc_expect_sent(send_group(alice1, bob->username, one, 1, NULL, 0, "m3", m3, gid, 16),
                    false);
    expect_group_message(ctx, bob, alice1, bob->username, m3, gid, "m3|r1");

    vcl_step(ctx, "a message queued for bob, then bob removed");
    vtc_disconnect(bob);
    vtc_random16(m4);
    vtc_expect_sent(
        send_group(alice1, bob->username, one, 1, NULL, 0, "before", m4, gid, 16), false);
    expect_removed(ctx, alice1, gid, b, 1, &g_alone);
    vcl_step(ctx, "sending to bob now: PERMISSION_DENIED");
    vtc_random16(m5);
    vtc_expect_error(
        send_group(alice1, bob->username, one, 1, NULL, 0, "after", m5, gid, 16),
        VT_ERR_PERMISSION_DENIED);
    vcl_step(ctx, "bob still gets the message queued before his removal");
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    expect_group_message(ctx, bob, alice1, bob->username, m4, gid, "before|r1");
    vcl_step(ctx, "bob, no member now, cannot send to the group: NOT_FOUND");
    vtc_expect_error(
        send_group(bob, alice1->username, r12, 2, NULL, 0, "after", m5, gid, 16),
        VT_ERR_NOT_FOUND);
}

/* DELIV-110 (section 8.4): in a three-member group every member sends
 * pairwise to the two others, each with its own message id, and each
 * member gets both, in the order they were accepted (DELIV-41). */
static void group_three_members(vcl_ctx *ctx)
{
    vtc_device *m[3];
    const uint32_t one[] = {1};
    uint8_t gid[16], mid[3][3][16];

    m[0] = vcl_account(ctx, "alice");
    m[1] = vcl_account(ctx, "bob");
    m[2] = vcl_account(ctx, "carol");
    {
        const char *others[] = {m[1]->username, m[2]->username};

        create_ok(ctx, m[0], others, 2, NULL, gid);
    }
    vcl_step(ctx, "every member sends to the two others");
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
    for (int to = 0; to < 3; to++)
        for (int from = 0; from < 3; from++) {
            char want[32];

            if (from == to)
                continue;
            vcl_step(ctx, "%s gets the message of %s", m[to]->username,
                     m[from]->username);
            snprintf(want, sizeof want, "from %d|r1", from);
            expect_group_message(ctx, m[to], m[from], m[to]->username, mid[from][to], gid,
                                 want);
        }
}

/* WIRE-80: each group RPC is answered in the body member of its method. */
static void group_bodies(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    const char *b[] = {bob->username};
    uint8_t gid[16];
    Ventra__V1__Response *r;

    vcl_step(ctx, "CreateGroup");
    create_ok(ctx, alice, NULL, 0, NULL, gid);
    vcl_step(ctx, "AddGroupMembers");
    r = held(ctx, add_members(alice, gid, 16, b, 1), "AddGroupMembers");
    expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_ADD_GROUP_MEMBERS, "AddGroupMembers");
    vcl_step(ctx, "RemoveGroupMembers");
    r = held(ctx, remove_members(alice, gid, 16, b, 1), "RemoveGroupMembers");
    expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_REMOVE_GROUP_MEMBERS,
                "RemoveGroupMembers");
    vcl_step(ctx, "ListGroups");
    r = held(ctx, list_groups(alice), "ListGroups");
    expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_LIST_GROUPS, "ListGroups");
    vcl_step(ctx, "GetGroup");
    r = held(ctx, get_group(alice, gid, 16), "GetGroup");
    expect_body(ctx, r, VENTRA__V1__RESPONSE__BODY_GET_GROUP, "GetGroup");
    vcl_step(ctx, "LeaveGroup");
    expect_leave_ok(ctx, alice, gid);
}

VCL_CASES(
    groups,
    {"groups/create-group", "DELIV-100 DELIV-107", VCL_MUST, 0,
     "CreateGroup: sorted members, creator sole admin, revision 1, checks in order",
     create_group_case},
    {"groups/add-members", "DELIV-101 DELIV-107", VCL_MUST, 0,
     "any member adds; a change is revision + 1 and an event; no-ops change nothing",
     add_members_case},
    {"groups/remove-members", "DELIV-102 DELIV-107", VCL_MUST, 0,
     "admins remove others; removed accounts get an empty GroupInfo event",
     remove_members_case},
    {"groups/leave-group", "DELIV-103 DELIV-104 DELIV-107", VCL_MUST, 0,
     "LeaveGroup always succeeds; the bytewise-first member inherits admin; last deletes",
     leave_group_case},
    {"groups/list-groups-sorted", "DELIV-105", VCL_MUST, 0,
     "ListGroups answers the caller's group ids sorted bytewise", list_groups_sorted},
    {"groups/get-group", "DELIV-106", VCL_MUST, 0,
     "GetGroup: members read, non-members NOT_FOUND, malformed INVALID_ARGUMENT",
     get_group_case},
    {"groups/group-id-overlong", "DELIV-101 DELIV-102 DELIV-103 DELIV-106", VCL_MUST, 0,
     "a 17-byte group id is INVALID_ARGUMENT in every group RPC", group_id_overlong},
    {"groups/group-send", "DELIV-110 DELIV-10", VCL_MUST, 0,
     "group sends between members only; queued messages outlive a removal", group_send},
    {"groups/three-members", "DELIV-110 DELIV-41", VCL_MUST, 0,
     "pairwise sends in a three-member group reach everyone in order",
     group_three_members},
    {"groups/rpc-bodies", "WIRE-80", VCL_MUST, 0,
     "the six group RPCs are answered in the body of their method", group_bodies});
