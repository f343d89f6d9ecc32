/* Handlers of service Groups: CreateGroup, AddGroupMembers,
 * RemoveGroupMembers, LeaveGroup, ListGroups, GetGroup (spec/delivery.md
 * 8.3, DELIV-100 to DELIV-107). The server keeps ids, members, admins and
 * a revision; everything else about a group is end to end. */
#include <string.h>

#include "log.h"
#include "server.h"

/* A GroupInfo pointing into |g|; members and admins in bytewise order. */
typedef struct group_msg {
    Ventra__V1__GroupInfo info;
    char *members[VTD_GROUP_MEMBERS_MAX];
    char *admins[VTD_GROUP_MEMBERS_MAX];
} group_msg;

static void to_info(group_msg *m, vtd_group *g)
{
    ventra__v1__group_info__init(&m->info);
    m->info.group_id.data = g->group_id;
    m->info.group_id.len = VTD_GROUP_ID_LEN;
    m->info.revision = g->revision;
    m->info.members = m->members;
    m->info.admins = m->admins;
    for (size_t i = 0; i < g->member_count; i++) {
        m->members[m->info.n_members++] = g->members[i].username;
        if (g->members[i].admin)
            m->admins[m->info.n_admins++] = g->members[i].username;
    }
}

static void emit_changed(vtd_server *srv, vtd_account_id acct,
                         Ventra__V1__GroupInfo *info, const char *changed_by)
{
    vtd_device devs[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    size_t n = 0;
    if (vtd_active_devices(srv->store, acct, devs, &n) != VT_OK)
        return;
    Ventra__V1__GroupChangedEvent gc = VENTRA__V1__GROUP_CHANGED_EVENT__INIT;
    Ventra__V1__Event ev = VENTRA__V1__EVENT__INIT;
    gc.group = info;
    gc.changed_by = (char *)changed_by;
    ev.body_case = VENTRA__V1__EVENT__BODY_GROUP_CHANGED;
    ev.group_changed = &gc;
    for (size_t i = 0; i < n; i++) {
        vt_srv_conn *c = vtd_hub_get(srv, acct, devs[i].device_id);
        if (c)
            vtd_conn_emit_event(c, &ev);
    }
}

/* DELIV-107: members after the change get the group; the removed get its
 * id and revision with no members. */
static void notify(vtd_server *srv, vtd_group *after, const vtd_account_id *removed,
                   size_t n_removed, const char *changed_by)
{
    static group_msg m;
    to_info(&m, after);
    for (size_t i = 0; i < after->member_count; i++)
        emit_changed(srv, after->members[i].acct, &m.info, changed_by);
    Ventra__V1__GroupInfo gone = VENTRA__V1__GROUP_INFO__INIT;
    gone.group_id.data = after->group_id;
    gone.group_id.len = VTD_GROUP_ID_LEN;
    gone.revision = after->revision;
    for (size_t i = 0; i < n_removed; i++)
        emit_changed(srv, removed[i], &gone, changed_by);
}

void vtd_groups_notify(vtd_server *srv, const uint8_t (*ids)[VTD_GROUP_ID_LEN], size_t n,
                       const char *changed_by)
{
    static vtd_group g;
    for (size_t i = 0; i < n; i++)
        if (vtd_store_group_get(srv->store, ids[i], &g) == VT_OK)
            notify(srv, &g, NULL, 0, changed_by);
}

static bool names_ok(char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!vtd_username_ok(names[i]))
            return false;
    return true;
}

static const vtd_group_member *member_of(const vtd_group *g, vtd_account_id acct)
{
    for (size_t i = 0; i < g->member_count; i++)
        if (g->members[i].acct == acct)
            return &g->members[i];
    return NULL;
}

/* The group |id| if the caller's account is a member (else NOT_FOUND). */
static vt_err load_member_group(vt_srv_conn *conn, const uint8_t *id, vtd_group *g)
{
    vt_err err = vtd_store_group_get(conn->srv->store, id, g);
    if (err == VT_OK && !member_of(g, conn->acct))
        err = VT_ERR_NOT_FOUND;
    return err;
}

static void reply_group_error(vt_srv_call *call, vt_err err, const char *what)
{
    if (err == VT_ERR_NOT_FOUND)
        vtd_reply_error(call, VT_ERR_NOT_FOUND, "no such group");
    else
        vtd_reply_internal(call, what, err);
}

/* Resolves usernames to distinct account ids; NOT_FOUND for an unknown. */
static vt_err resolve(vtd_store *st, char *const *names, size_t n, vtd_account_id *out,
                      size_t *n_out, bool skip_unknown)
{
    *n_out = 0;
    for (size_t i = 0; i < n; i++) {
        vtd_account_id a;
        vt_err err = vtd_store_account_find(st, names[i], &a);
        if (err == VT_ERR_NOT_FOUND && skip_unknown)
            continue;
        if (err != VT_OK)
            return err;
        bool dup = false;
        for (size_t j = 0; j < *n_out && !dup; j++)
            dup = out[j] == a;
        if (!dup)
            out[(*n_out)++] = a;
    }
    return VT_OK;
}

static vt_err under_group_limit(vtd_store *st, const vtd_account_id *accts, size_t n,
                                bool *ok)
{
    *ok = true;
    for (size_t i = 0; i < n && *ok; i++) {
        uint32_t count = 0;
        vt_err err = vtd_store_group_count_of(st, accts[i], &count);
        if (err != VT_OK)
            return err;
        *ok = count < VT_MAX_GROUPS_PER_ACCOUNT;
    }
    return VT_OK;
}

void vt_srv_handle_create_group(vt_srv_conn *conn, vt_srv_call *call,
                                const Ventra__V1__CreateGroupRequest *req)
{
    vtd_store *st = conn->srv->store;
    if (!names_ok(req->members, req->n_members)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "members are not well-formed");
        return;
    }
    vtd_account_id accts[VTD_GROUP_MEMBERS_MAX + 1];
    size_t n = 0;
    accts[0] = conn->acct;
    vt_err err = resolve(st, req->members, req->n_members, accts + 1, &n, false);
    if (err == VT_ERR_NOT_FOUND) {
        vtd_reply_error(call, VT_ERR_NOT_FOUND, "a member account does not exist");
        return;
    }
    bool ok = true;
    if (err == VT_OK)
        err = under_group_limit(st, accts, n + 1, &ok);
    if (err != VT_OK) {
        vtd_reply_internal(call, "create_group", err);
        return;
    }
    if (!ok) {
        vtd_reply_error(call, VT_ERR_LIMIT_EXCEEDED, "an account is in its most groups");
        return;
    }
    static vtd_group g;
    uint8_t id[VTD_GROUP_ID_LEN];
    if (!vtd_op_begin(call))
        return;
    err = vt_random_bytes(id, sizeof id);
    if (err == VT_OK)
        err = vtd_store_group_create(st, id, 1);
    if (err == VT_OK)
        err = vtd_store_group_put_member(st, id, conn->acct, true);
    for (size_t i = 1; err == VT_OK && i <= n; i++)
        if (accts[i] != conn->acct) /* the caller's own name counts once */
            err = vtd_store_group_put_member(st, id, accts[i], false);
    if (err == VT_OK)
        err = vtd_store_group_get(st, id, &g);
    if (!vtd_op_end(call, err == VT_OK))
        return;
    if (err != VT_OK) {
        vtd_reply_internal(call, "create_group", err);
        return;
    }
    static group_msg m;
    to_info(&m, &g);
    Ventra__V1__CreateGroupResponse r = VENTRA__V1__CREATE_GROUP_RESPONSE__INIT;
    r.group = &m.info;
    vt_srv_reply_create_group(call, &r);
    notify(conn->srv, &g, NULL, 0, conn->username);
}

/* Adds (|add|) or removes |accts| in one operation, bumps the revision
 * (DELIV-101, DELIV-102) and reloads |g|. Answers the call on failure. */
static bool change_members(vt_srv_call *call, vtd_group *g, const uint8_t *gid,
                           const vtd_account_id *accts, size_t n, bool add)
{
    vtd_store *st = call->conn->srv->store;
    if (!vtd_op_begin(call))
        return false;
    vt_err err = VT_OK;
    for (size_t i = 0; err == VT_OK && i < n; i++)
        err = add ? vtd_store_group_put_member(st, gid, accts[i], false)
                  : vtd_store_group_remove_member(st, gid, accts[i]);
    if (err == VT_OK)
        err = vtd_store_group_set_revision(st, gid, g->revision + 1);
    if (err == VT_OK)
        err = vtd_store_group_get(st, gid, g);
    if (!vtd_op_end(call, err == VT_OK))
        return false;
    if (err != VT_OK) {
        vtd_reply_internal(call, add ? "add_members" : "remove_members", err);
        return false;
    }
    return true;
}

void vt_srv_handle_add_group_members(vt_srv_conn *conn, vt_srv_call *call,
                                     const Ventra__V1__AddGroupMembersRequest *req)
{
    vtd_store *st = conn->srv->store;
    if (!vtd_bytes_len(&req->group_id, VT_GROUP_ID_LEN) ||
        !names_ok(req->members, req->n_members)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT,
                        "group_id or members not well-formed");
        return;
    }
    static vtd_group g;
    vt_err err = load_member_group(conn, req->group_id.data, &g);
    if (err != VT_OK) {
        reply_group_error(call, err, "add_members");
        return;
    }
    vtd_account_id accts[VTD_GROUP_MEMBERS_MAX], fresh[VTD_GROUP_MEMBERS_MAX];
    size_t n = 0, nf = 0;
    err = resolve(st, req->members, req->n_members, accts, &n, false);
    if (err == VT_ERR_NOT_FOUND) {
        vtd_reply_error(call, VT_ERR_NOT_FOUND, "a member account does not exist");
        return;
    }
    for (size_t i = 0; err == VT_OK && i < n; i++)
        if (!member_of(&g, accts[i]))
            fresh[nf++] = accts[i];
    bool ok = true;
    if (err == VT_OK && g.member_count + nf > VT_MAX_GROUP_MEMBERS) {
        vtd_reply_error(call, VT_ERR_LIMIT_EXCEEDED, "the group would be too large");
        return;
    }
    if (err == VT_OK)
        err = under_group_limit(st, fresh, nf, &ok);
    if (err != VT_OK) {
        vtd_reply_internal(call, "add_members", err);
        return;
    }
    if (!ok) {
        vtd_reply_error(call, VT_ERR_LIMIT_EXCEEDED, "an account is in its most groups");
        return;
    }
    /* a call that adds nobody changes nothing (DELIV-101) */
    if (nf > 0 && !change_members(call, &g, req->group_id.data, fresh, nf, true))
        return;
    static group_msg m;
    to_info(&m, &g);
    Ventra__V1__AddGroupMembersResponse r = VENTRA__V1__ADD_GROUP_MEMBERS_RESPONSE__INIT;
    r.group = &m.info;
    vt_srv_reply_add_group_members(call, &r);
    if (nf > 0)
        notify(conn->srv, &g, NULL, 0, conn->username);
}

void vt_srv_handle_remove_group_members(vt_srv_conn *conn, vt_srv_call *call,
                                        const Ventra__V1__RemoveGroupMembersRequest *req)
{
    vtd_store *st = conn->srv->store;
    bool bad = !vtd_bytes_len(&req->group_id, VT_GROUP_ID_LEN) ||
               !names_ok(req->members, req->n_members);
    for (size_t i = 0; !bad && i < req->n_members; i++)
        bad = strcmp(req->members[i], conn->username) == 0; /* leave with LeaveGroup */
    if (bad) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "group_id or members not valid");
        return;
    }
    static vtd_group g;
    vt_err err = load_member_group(conn, req->group_id.data, &g);
    if (err != VT_OK) {
        reply_group_error(call, err, "remove_members");
        return;
    }
    if (!member_of(&g, conn->acct)->admin) {
        vtd_reply_error(call, VT_ERR_PERMISSION_DENIED, "only an admin removes members");
        return;
    }
    vtd_account_id accts[VTD_GROUP_MEMBERS_MAX], gone[VTD_GROUP_MEMBERS_MAX];
    size_t n = 0, ng = 0;
    err = resolve(st, req->members, req->n_members, accts, &n, true);
    for (size_t i = 0; err == VT_OK && i < n; i++)
        if (member_of(&g, accts[i]))
            gone[ng++] = accts[i];
    if (err != VT_OK) {
        vtd_reply_internal(call, "remove_members", err);
        return;
    }
    if (ng > 0 && !change_members(call, &g, req->group_id.data, gone, ng, false))
        return;
    static group_msg m;
    to_info(&m, &g);
    Ventra__V1__RemoveGroupMembersResponse r =
        VENTRA__V1__REMOVE_GROUP_MEMBERS_RESPONSE__INIT;
    r.group = &m.info;
    vt_srv_reply_remove_group_members(call, &r);
    if (ng > 0)
        notify(conn->srv, &g, gone, ng, conn->username);
}

/* LeaveGroup's change of |g| (DELIV-103, DELIV-104) inside an operation;
 * *deleted when |acct| was the last member. */
static vt_err leave(vtd_store *st, vtd_group *g, vtd_account_id acct, bool *deleted)
{
    vt_err err = vtd_store_group_remove_member(st, g->group_id, acct);
    *deleted = g->member_count <= 1;
    if (err != VT_OK || *deleted)
        return err == VT_OK ? vtd_store_group_delete(st, g->group_id) : err;
    bool admin_left = false;
    const vtd_group_member *first = NULL; /* members are sorted bytewise */
    for (size_t i = 0; i < g->member_count; i++) {
        if (g->members[i].acct == acct)
            continue;
        if (!first)
            first = &g->members[i];
        admin_left = admin_left || g->members[i].admin;
    }
    if (!admin_left)
        err = vtd_store_group_put_member(st, g->group_id, first->acct, true);
    if (err == VT_OK)
        err = vtd_store_group_set_revision(st, g->group_id, g->revision + 1);
    if (err == VT_OK) {
        uint8_t id[VTD_GROUP_ID_LEN]; /* |g| is overwritten by the read */
        memcpy(id, g->group_id, sizeof id);
        err = vtd_store_group_get(st, id, g);
    }
    return err;
}

void vt_srv_handle_leave_group(vt_srv_conn *conn, vt_srv_call *call,
                               const Ventra__V1__LeaveGroupRequest *req)
{
    vtd_store *st = conn->srv->store;
    Ventra__V1__LeaveGroupResponse r = VENTRA__V1__LEAVE_GROUP_RESPONSE__INIT;
    if (!vtd_bytes_len(&req->group_id, VT_GROUP_ID_LEN)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "group_id not well-formed");
        return;
    }
    static vtd_group g;
    vt_err err = load_member_group(conn, req->group_id.data, &g);
    if (err == VT_ERR_NOT_FOUND) { /* nothing tells a non-member anything */
        vt_srv_reply_leave_group(call, &r);
        return;
    }
    bool deleted = false;
    if (err == VT_OK) {
        if (!vtd_op_begin(call))
            return;
        err = leave(st, &g, conn->acct, &deleted);
        if (!vtd_op_end(call, err == VT_OK))
            return;
    }
    if (err != VT_OK) {
        vtd_reply_internal(call, "leave_group", err);
        return;
    }
    vt_srv_reply_leave_group(call, &r);
    if (deleted)
        g.member_count = 0, g.revision++;
    notify(conn->srv, &g, &conn->acct, 1, conn->username);
}

vt_err vtd_groups_leave_all(vtd_server *srv, vtd_account_id acct,
                            uint8_t (*changed)[VTD_GROUP_ID_LEN], size_t *n)
{
    static uint8_t ids[VT_MAX_GROUPS_PER_ACCOUNT][VTD_GROUP_ID_LEN];
    static vtd_group g;
    size_t count = 0;
    *n = 0;
    vt_err err =
        vtd_store_groups_of(srv->store, acct, ids, VT_MAX_GROUPS_PER_ACCOUNT, &count);
    for (size_t i = 0; err == VT_OK && i < count; i++) {
        bool deleted = false;
        err = vtd_store_group_get(srv->store, ids[i], &g);
        if (err == VT_OK)
            err = leave(srv->store, &g, acct, &deleted);
        if (err == VT_OK && !deleted)
            memcpy(changed[(*n)++], ids[i], VTD_GROUP_ID_LEN);
    }
    return err;
}

void vt_srv_handle_list_groups(vt_srv_conn *conn, vt_srv_call *call,
                               const Ventra__V1__ListGroupsRequest *req)
{
    (void)req;
    static uint8_t ids[VT_MAX_GROUPS_PER_ACCOUNT][VTD_GROUP_ID_LEN];
    static ProtobufCBinaryData out[VT_MAX_GROUPS_PER_ACCOUNT];
    size_t n = 0;
    vt_err err = vtd_store_groups_of(conn->srv->store, conn->acct, ids,
                                     VT_MAX_GROUPS_PER_ACCOUNT, &n);
    if (err != VT_OK) {
        vtd_reply_internal(call, "list_groups", err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        out[i].data = ids[i];
        out[i].len = VTD_GROUP_ID_LEN;
    }
    Ventra__V1__ListGroupsResponse r = VENTRA__V1__LIST_GROUPS_RESPONSE__INIT;
    r.n_group_ids = n;
    r.group_ids = out;
    vt_srv_reply_list_groups(call, &r);
}

void vt_srv_handle_get_group(vt_srv_conn *conn, vt_srv_call *call,
                             const Ventra__V1__GetGroupRequest *req)
{
    if (!vtd_bytes_len(&req->group_id, VT_GROUP_ID_LEN)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "group_id not well-formed");
        return;
    }
    static vtd_group g;
    vt_err err = load_member_group(conn, req->group_id.data, &g);
    if (err != VT_OK) {
        reply_group_error(call, err, "get_group");
        return;
    }
    static group_msg m;
    to_info(&m, &g);
    Ventra__V1__GetGroupResponse r = VENTRA__V1__GET_GROUP_RESPONSE__INIT;
    r.group = &m.info;
    vt_srv_reply_get_group(call, &r);
}
