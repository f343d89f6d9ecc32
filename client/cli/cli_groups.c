/* ventra: groups (spec/delivery.md section 9): the server keeps who is a
 * member; each message is encrypted for every member device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"

static const char group_usage[] =
    "usage: ventra group create NAME USER...   a new group; prints its id (GID)\n"
    "       ventra group add GID USER...       add members (admins only)\n"
    "       ventra group remove GID USER...    remove members (admins only)\n"
    "       ventra group leave GID\n"
    "       ventra group list                  your groups: GID, name, members\n"
    "       ventra group send GID [TEXT|-]     send to every member\n"
    "GID is the group id in hex (32 digits) or the group's name when no other\n"
    "group of yours has that name.\n";

typedef struct find {
    const char *name;
    uint8_t gid[16];
    int found;
} find;

static bool find_one(void *ud, const vt_client_group *g)
{
    find *f = ud;
    if (strcmp(g->name, f->name) == 0) {
        memcpy(f->gid, g->group_id, 16);
        f->found++;
    }
    return true;
}

/* GID: hex, or the name of exactly one of this account's groups. */
static int resolve(cli *x, const char *arg, uint8_t gid[16])
{
    find f = {.name = arg};
    vt_err err;
    int rc;
    if (cli_unhex(gid, 16, arg))
        return CLI_OK;
    if ((rc = cli_start(x)) != CLI_OK)
        return rc;
    err = vt_client_groups(x->c, find_one, &f, x->timeout_ms);
    if (err != VT_OK)
        return cli_fail(x, "cannot list the groups", err);
    if (f.found == 1) {
        memcpy(gid, f.gid, 16);
        return CLI_OK;
    }
    if (f.found == 0)
        fprintf(stderr, "ventra: no group %s (see ventra group list)\n", arg);
    else
        fprintf(stderr,
                "ventra: %d groups are named %s: give the id (ventra group list)\n",
                f.found, arg);
    return f.found == 0 ? CLI_NO_ACCOUNT : CLI_USAGE;
}

static bool list_one(void *ud, const vt_client_group *g)
{
    cli *x = ud;
    char hex[33];
    cli_hex(hex, g->group_id, 16);
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "group_id", json_string(hex));
        json_object_set_new(o, "name", cli_json_str(g->name));
        json_object_set_new(o, "members", json_integer((json_int_t)g->members));
        json_object_set_new(o, "admin", json_boolean(g->admin));
        cli_json_line(o);
    } else {
        printf("%s  ", hex);
        cli_put_text(stdout, g->name, 0);
        printf("  %zu member%s%s\n", g->members, g->members == 1 ? "" : "s",
               g->admin ? "  (admin)" : "");
    }
    return true;
}

static int members_call(cli *x, int argc, char **argv, bool add)
{
    uint8_t gid[16];
    const char *const *members = (const char *const *)argv + 3;
    size_t n = (size_t)argc - 3;
    vt_err err;
    int rc;
    if ((rc = resolve(x, argv[2], gid)) != CLI_OK || (rc = cli_start(x)) != CLI_OK)
        return rc;
    err = add ? vt_client_group_add(x->c, gid, members, n, x->timeout_ms)
              : vt_client_group_remove(x->c, gid, members, n, x->timeout_ms);
    if (err == VT_ERR_NOT_FOUND) {
        fprintf(stderr, "ventra: no such group or user\n");
        return CLI_NO_ACCOUNT;
    }
    if (err == VT_ERR_PERMISSION_DENIED) {
        fprintf(stderr, "ventra: only the group's admins can %s members\n",
                add ? "add" : "remove");
        return CLI_ERR;
    }
    if (err != VT_OK)
        return cli_fail(x, add ? "cannot add the members" : "cannot remove the members",
                        err);
    if (!x->json)
        printf("%s %zu member%s.\n", add ? "Added" : "Removed", n, n == 1 ? "" : "s");
    return CLI_OK;
}

static int group_send(cli *x, int argc, char **argv)
{
    char *text = NULL, hex[33];
    uint8_t gid[16];
    vt_err err;
    int rc;
    if ((rc = cli_read_text(argc, argv, 3, &text)) != CLI_OK)
        return rc;
    if ((rc = resolve(x, argv[2], gid)) != CLI_OK || (rc = cli_start(x)) != CLI_OK)
        goto out;
    cli_hex(hex, gid, 16);
    err = vt_client_send_group_text(x->c, gid, text, x->track_id);
    if (err != VT_OK) {
        rc = cli_fail(x, "cannot send", err);
        goto out;
    }
    x->tracking = true;
    rc = cli_wait_sent(x, hex);
out:
    if (text != NULL) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    return rc;
}

int cmd_group(cli *x, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    uint8_t gid[16];
    char hex[33];
    vt_err err;
    int rc;

    if (cli_want_help(argc, argv, group_usage))
        return CLI_OK;
    if (!(strcmp(sub, "list") == 0 && argc == 2) &&
        !(strcmp(sub, "leave") == 0 && argc == 3) &&
        !(strcmp(sub, "send") == 0 && argc >= 3) &&
        !((strcmp(sub, "create") == 0 || strcmp(sub, "add") == 0 ||
           strcmp(sub, "remove") == 0) &&
          argc >= 4))
        return cli_usage(group_usage);
    if ((rc = cli_open(x, false)) != CLI_OK)
        return rc;

    if (strcmp(sub, "send") == 0)
        return group_send(x, argc, argv);
    if (strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0)
        return members_call(x, argc, argv, sub[0] == 'a');
    if ((rc = cli_start(x)) != CLI_OK)
        return rc;
    if (strcmp(sub, "list") == 0) {
        err = vt_client_groups(x->c, list_one, x, x->timeout_ms);
        return err == VT_OK ? CLI_OK : cli_fail(x, "cannot list the groups", err);
    }
    if (strcmp(sub, "leave") == 0) {
        if ((rc = resolve(x, argv[2], gid)) != CLI_OK)
            return rc;
        err = vt_client_group_leave(x->c, gid, x->timeout_ms);
        if (err != VT_OK)
            return cli_fail(x, "cannot leave the group", err);
        if (!x->json)
            printf("Left the group.\n");
        return CLI_OK;
    }
    /* create */
    err = vt_client_group_create(x->c, argv[2], (const char *const *)argv + 3,
                                 (size_t)argc - 3, gid, x->timeout_ms);
    if (err == VT_ERR_NOT_FOUND) {
        fprintf(stderr, "ventra: a member is not a user of this server\n");
        return CLI_NO_ACCOUNT;
    }
    if (err != VT_OK)
        return cli_fail(x, "cannot create the group", err);
    cli_hex(hex, gid, 16);
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "group_id", json_string(hex));
        json_object_set_new(o, "name", cli_json_str(argv[2]));
        cli_json_line(o);
    } else {
        /* the id alone on stdout, for scripts */
        printf("%s\n", hex);
        fflush(stdout);
        fprintf(stderr,
                "Created the group %s with %d other member%s; send with\n"
                "    ventra group send %s TEXT\n",
                argv[2], argc - 3, argc == 4 ? "" : "s", hex);
    }
    return CLI_OK;
}
