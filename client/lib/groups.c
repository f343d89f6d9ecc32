/* Groups: the membership the server keeps (CreateGroup .. GetGroup) and the
 * group's name, which travels end to end in a GroupUpdate Content to every
 * member (SEC-2), never to the server. Implements the client side of
 * spec/delivery.md sections 8.3 and 8.4 (DELIV-100 to DELIV-111). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "ventra/crypto.h"
#include "ventra/v1/e2e.pb.h"

static vt_err put_info(vt_client *c, const ventra_v1_GroupInfo *g, const char *name)
{
    const char *members[64], *admins[64];
    char *old = NULL, **om = NULL;
    size_t n = 0;
    vt_err err;

    if (g->group_id.size != 16)
        return VT_ERR_INTERNAL;
    if (name == NULL && vc_store_get_group(c->store, g->group_id.bytes, &old, &om, &n) == VT_OK)
        vc_store_free_names(om, n);
    for (size_t i = 0; i < g->members_count; i++)
        members[i] = g->members[i];
    for (size_t i = 0; i < g->admins_count; i++)
        admins[i] = g->admins[i];
    err = vc_store_put_group(c->store, g->group_id.bytes, name ? name : old ? old : "", members,
                             g->members_count, admins, g->admins_count);
    free(old);
    return err;
}

/* A GroupUpdate with the name to every other member and our other devices. */
static vt_err announce_name(vt_client *c, const ventra_v1_GroupInfo *g, const char *name)
{
    ventra_v1_Content ct;
    uint8_t *content = NULL;
    size_t len = 0;
    vt_err err;

    memset(&ct, 0, sizeof ct);
    ct.which_body = ventra_v1_Content_group_update_tag;
    memcpy(ct.body.group_update.group_id.bytes, g->group_id.bytes, 16);
    ct.body.group_update.group_id.size = 16;
    snprintf(ct.body.group_update.name, sizeof ct.body.group_update.name, "%s", name);
    if ((err = vc_encode_content(&ct, &content, &len)) != VT_OK)
        return err;
    for (size_t i = 0; i < g->members_count && err == VT_OK; i++)
        if (strcmp(g->members[i], c->username) != 0)
            err = vc_outbox_queue(c, g->members[i], g->group_id.bytes, content, len, NULL);
    if (err == VT_OK)
        err = vc_outbox_queue(c, c->username, g->group_id.bytes, content, len, NULL);
    free(content);
    return err;
}

static vt_err call(vt_client *c, ventra_v1_Request *req, ventra_v1_Frame **resp, int timeout_ms)
{
    uint64_t deadline = vc_now_ms() + (uint64_t)timeout_ms;
    vt_err err = vc_ensure_authed(c, deadline);

    if (err != VT_OK)
        return err;
    return vc_rpc_call(c, req, resp, deadline);
}

static vt_err fill_members(ventra_v1_Request *req, char (*dst)[33], pb_size_t *count,
                           size_t max, const char *const *members, size_t n)
{
    (void)req;
    if (n > max)
        return VT_ERR_LIMIT_EXCEEDED;
    for (size_t i = 0; i < n; i++) {
        if (members[i] == NULL || strlen(members[i]) > 32)
            return VT_ERR_INVALID_ARGUMENT;
        snprintf(dst[i], 33, "%s", members[i]);
    }
    *count = (pb_size_t)n;
    return VT_OK;
}

vt_err vt_client_group_create(vt_client *c, const char *name, const char *const *members,
                              size_t n, uint8_t group_id[16], int timeout_ms)
{
    ventra_v1_Request *req = calloc(1, sizeof *req);
    ventra_v1_Frame *resp = NULL;
    vt_err err;

    if (req == NULL)
        return VT_ERR_NO_MEMORY;
    if (c == NULL || name == NULL || strlen(name) > 128 || (members == NULL && n)) {
        free(req);
        return VT_ERR_INVALID_ARGUMENT;
    }
    req->which_body = ventra_v1_Request_create_group_tag;
    err = fill_members(req, req->body.create_group.members, &req->body.create_group.members_count,
                       63, members, n);
    if (err == VT_OK)
        err = call(c, req, &resp, timeout_ms);
    if (err == VT_OK && !resp->kind.response.body.create_group.has_group)
        err = VT_ERR_INTERNAL;
    if (err == VT_OK) {
        const ventra_v1_GroupInfo *g = &resp->kind.response.body.create_group.group;
        err = put_info(c, g, name);
        if (err == VT_OK)
            err = announce_name(c, g, name); /* SEC-2: the name goes end to end */
        if (err == VT_OK && group_id)
            memcpy(group_id, g->group_id.bytes, 16);
    }
    free(resp);
    free(req);
    return err;
}

static vt_err change(vt_client *c, bool add, const uint8_t group_id[16],
                     const char *const *members, size_t n, int timeout_ms)
{
    ventra_v1_Request *req = calloc(1, sizeof *req);
    ventra_v1_Frame *resp = NULL;
    vt_err err;

    if (req == NULL)
        return VT_ERR_NO_MEMORY;
    if (c == NULL || group_id == NULL || (members == NULL && n)) {
        free(req);
        return VT_ERR_INVALID_ARGUMENT;
    }
    if (add) {
        req->which_body = ventra_v1_Request_add_group_members_tag;
        memcpy(req->body.add_group_members.group_id.bytes, group_id, 16);
        req->body.add_group_members.group_id.size = 16;
        err = fill_members(req, req->body.add_group_members.members,
                           &req->body.add_group_members.members_count, 64, members, n);
    } else {
        req->which_body = ventra_v1_Request_remove_group_members_tag;
        memcpy(req->body.remove_group_members.group_id.bytes, group_id, 16);
        req->body.remove_group_members.group_id.size = 16;
        err = fill_members(req, req->body.remove_group_members.members,
                           &req->body.remove_group_members.members_count, 64, members, n);
    }
    if (err == VT_OK)
        err = call(c, req, &resp, timeout_ms);
    if (err == VT_OK) {
        const ventra_v1_GroupInfo *g = add ? &resp->kind.response.body.add_group_members.group
                                           : &resp->kind.response.body.remove_group_members.group;
        char *name = NULL, **om = NULL;
        size_t k = 0;
        err = put_info(c, g, NULL);
        /* the new members learn the name end to end too */
        if (err == VT_OK && add &&
            vc_store_get_group(c->store, group_id, &name, &om, &k) == VT_OK) {
            err = announce_name(c, g, name ? name : "");
            free(name);
            vc_store_free_names(om, k);
        }
    }
    free(resp);
    free(req);
    return err;
}

vt_err vt_client_group_add(vt_client *c, const uint8_t group_id[16], const char *const *members,
                           size_t n, int timeout_ms)
{
    return change(c, true, group_id, members, n, timeout_ms);
}

vt_err vt_client_group_remove(vt_client *c, const uint8_t group_id[16],
                              const char *const *members, size_t n, int timeout_ms)
{
    return change(c, false, group_id, members, n, timeout_ms);
}

vt_err vt_client_group_leave(vt_client *c, const uint8_t group_id[16], int timeout_ms)
{
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    vt_err err;

    if (c == NULL || group_id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_leave_group_tag;
    memcpy(req.body.leave_group.group_id.bytes, group_id, 16);
    req.body.leave_group.group_id.size = 16;
    err = call(c, &req, &resp, timeout_ms);
    if (err == VT_OK)
        VC_IGNORE(vc_store_delete_group(c->store, group_id));
    free(resp);
    return err;
}

vt_err vt_client_groups(vt_client *c, bool (*fn)(void *ud, const vt_client_group *g), void *ud,
                        int timeout_ms)
{
    uint64_t deadline;
    ventra_v1_Request req;
    ventra_v1_Frame *list = NULL;
    vt_err err;

    if (c == NULL || fn == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    deadline = vc_now_ms() + (uint64_t)timeout_ms;
    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_list_groups_tag;
    err = call(c, &req, &list, timeout_ms);
    if (err != VT_OK)
        goto out;
    for (size_t i = 0; i < list->kind.response.body.list_groups.group_ids_count; i++) {
        const ventra_v1_ListGroupsResponse_group_ids_t *id =
            &list->kind.response.body.list_groups.group_ids[i];
        ventra_v1_Frame *resp = NULL;
        vt_client_group g;
        char *name = NULL, **om = NULL;
        size_t k = 0;
        bool more;

        if (id->size != 16)
            continue;
        memset(&req, 0, sizeof req);
        req.which_body = ventra_v1_Request_get_group_tag;
        memcpy(req.body.get_group.group_id.bytes, id->bytes, 16);
        req.body.get_group.group_id.size = 16;
        err = vc_rpc_call(c, &req, &resp, deadline);
        if (err != VT_OK) {
            free(resp);
            break;
        }
        const ventra_v1_GroupInfo *info = &resp->kind.response.body.get_group.group;
        (void)put_info(c, info, NULL);
        memset(&g, 0, sizeof g);
        memcpy(g.group_id, id->bytes, 16);
        if (vc_store_get_group(c->store, id->bytes, &name, &om, &k) == VT_OK) {
            snprintf(g.name, sizeof g.name, "%s", name ? name : "");
            free(name);
            vc_store_free_names(om, k);
        }
        g.members = info->members_count;
        for (size_t j = 0; j < info->admins_count; j++)
            g.admin |= strcmp(info->admins[j], c->username) == 0;
        free(resp);
        more = fn(ud, &g);
        if (!more)
            break;
    }
out:
    free(list);
    return err;
}
