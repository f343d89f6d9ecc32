/* ventra: the account and its devices: register, link (spec/auth.md,
 * AUTH-70 and AUTH-71: the link code and the link reply), devices and
 * delete-account. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"

static const char register_usage[] =
    "usage: ventra register NAME\n"
    "Creates the account NAME on the server with this machine as its first\n"
    "device. NAME: 1 to 32 of a-z 0-9 . _ - , starting with a letter. The\n"
    "store in the data directory is created and encrypted with the passphrase.\n";

int cmd_register(cli *x, int argc, char **argv)
{
    vt_err err;
    int rc;
    if (cli_want_help(argc, argv, register_usage))
        return CLI_OK;
    if (argc != 2)
        return cli_usage(register_usage);
    if ((rc = cli_open(x, true)) != CLI_OK)
        return rc;
    if (vt_client_device_id(x->c) != 0) {
        fprintf(stderr, "ventra: %s already holds the account %s; use another --data\n",
                x->data_dir, vt_client_username(x->c));
        return CLI_USAGE;
    }
    err = vt_client_register(x->c, argv[1], x->timeout_ms);
    if (err == VT_ERR_ALREADY_EXISTS) {
        fprintf(stderr, "ventra: the name %s is taken on %s\n", argv[1], x->server);
        return CLI_ERR;
    }
    if (err == VT_ERR_INVALID_ARGUMENT) {
        fprintf(stderr,
                "ventra: %s is not a valid name: 1 to 32 of a-z 0-9 . _ -, "
                "starting with a letter\n",
                argv[1]);
        return CLI_USAGE;
    }
    if (err != VT_OK)
        return cli_fail(x, "cannot register", err);
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "username", json_string(argv[1]));
        json_object_set_new(o, "device_id", json_integer(vt_client_device_id(x->c)));
        cli_json_line(o);
    } else {
        printf("Registered %s (device %u) on %s.\n", argv[1], vt_client_device_id(x->c),
               x->server);
    }
    return CLI_OK;
}

static const char link_usage[] =
    "usage: ventra link          (on the new machine: print its link code)\n"
    "       ventra link REPLY    (then: finish, REPLY as in alice/2)\n"
    "Adds this machine to an existing account. `ventra link` prints a code;\n"
    "on a device already in the account run `ventra devices approve CODE`,\n"
    "which prints the reply; finish here with `ventra link REPLY`.\n";

/* A link reply is USERNAME/DEVICE_ID with the id in decimal (AUTH-71). */
static bool is_link_reply(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash[1] == '\0')
        return false;
    for (const char *p = slash + 1; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

int cmd_link(cli *x, int argc, char **argv)
{
    char code[512];
    vt_err err;
    int rc;
    if (cli_want_help(argc, argv, link_usage))
        return CLI_OK;
    if (argc > 2)
        return cli_usage(link_usage);

    if (argc == 1) {
        if ((rc = cli_open(x, true)) != CLI_OK)
            return rc;
        if (vt_client_device_id(x->c) != 0) {
            fprintf(stderr, "ventra: %s already is device %u of %s\n", x->data_dir,
                    vt_client_device_id(x->c), vt_client_username(x->c));
            return CLI_USAGE;
        }
        err = vt_client_link_begin(x->c, code, sizeof code);
        if (err != VT_OK)
            return cli_fail(x, "cannot make a link code", err);
        if (x->json) {
            json_t *o = json_object();
            json_object_set_new(o, "link_code", json_string(code));
            cli_json_line(o);
        } else {
            /* the code alone on stdout, so that scripts can take it */
            printf("%s\n", code);
            fflush(stdout);
            fprintf(stderr,
                    "\nThat is this machine's link code. On a device already in the "
                    "account run\n    ventra devices approve %s\nand finish here with "
                    "the reply it prints:\n    ventra link USER/ID\n",
                    code);
        }
        return CLI_OK;
    }

    if (!is_link_reply(argv[1])) {
        fprintf(stderr, "ventra: a link reply looks like alice/2\n");
        return CLI_USAGE;
    }
    if ((rc = cli_open(x, false)) != CLI_OK)
        return rc;
    if (vt_client_device_id(x->c) != 0) {
        fprintf(stderr, "ventra: %s already is device %u of %s\n", x->data_dir,
                vt_client_device_id(x->c), vt_client_username(x->c));
        return CLI_USAGE;
    }
    err = vt_client_link_finish(x->c, argv[1], x->timeout_ms);
    if (err == VT_ERR_STATE) {
        fprintf(stderr, "ventra: no link code was made here: run `ventra link` first\n");
        return CLI_USAGE;
    }
    if (err != VT_OK)
        return cli_fail(x, "cannot finish the link", err);
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "username", cli_json_str(vt_client_username(x->c)));
        json_object_set_new(o, "device_id", json_integer(vt_client_device_id(x->c)));
        cli_json_line(o);
    } else {
        printf("Linked: this machine is device %u of %s.\n", vt_client_device_id(x->c),
               vt_client_username(x->c));
    }
    return CLI_OK;
}

static const char devices_usage[] =
    "usage: ventra devices [list]\n"
    "       ventra devices approve CODE   add the new device that showed CODE\n"
    "       ventra devices remove ID      remove device ID from the account\n";

/* The device name a link code proposes (LinkCode of e2e.proto: field 1
 * the identity key, field 2 the name; AUTH-70), into |name|. */
static bool link_code_name(const char *code, char *name, size_t cap)
{
    unsigned char bin[256];
    size_t n, len;
    if (sodium_base642bin(bin, sizeof bin, code, strlen(code), NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return false;
    if (n < 34 || bin[0] != 0x0a || bin[1] != 32)
        return false;
    name[0] = '\0';
    if (n == 34)
        return true;
    if (bin[34] != 0x12 || n < 36 || (len = bin[35]) > 127 || 36 + len != n || len >= cap)
        return false;
    memcpy(name, bin + 36, len);
    name[len] = '\0';
    return true;
}

static int devices_approve(cli *x, const char *code)
{
    char name[128], reply[128], q[256];
    vt_err err;
    int rc;
    if (!link_code_name(code, name, sizeof name)) {
        fprintf(stderr,
                "ventra: that is not a link code (copy it whole from `ventra link`)\n");
        return CLI_USAGE;
    }
    if ((rc = cli_open(x, false)) != CLI_OK || (rc = cli_start(x)) != CLI_OK)
        return rc;
    fputs("ventra: adding the device named '", stderr);
    cli_put_text(stderr, name, 0);
    fprintf(stderr, "' to %s\n", vt_client_username(x->c));
    if (!x->yes && isatty(0)) {
        snprintf(q, sizeof q, "Add this device to %s?", vt_client_username(x->c));
        if (!cli_confirm(q)) {
            fprintf(stderr, "ventra: nothing was changed\n");
            return CLI_USAGE;
        }
    }
    err = vt_client_link_approve(x->c, code, reply, sizeof reply, x->timeout_ms);
    if (err != VT_OK)
        return cli_fail(x, "cannot approve the device", err);
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "reply", cli_json_str(reply));
        cli_json_line(o);
    } else {
        printf("%s\n", reply);
        fflush(stdout);
        fprintf(stderr,
                "\nApproved. Finish on the new device, soon (the approval lapses):\n"
                "    ventra link %s\n",
                reply);
    }
    return CLI_OK;
}

static int devices_list(cli *x)
{
    vt_client_device d[VT_MAX_DEVICES_PER_ACCOUNT + 4];
    size_t n = 0;
    vt_err err;
    int rc;
    if ((rc = cli_open(x, false)) != CLI_OK || (rc = cli_start(x)) != CLI_OK)
        return rc;
    err = vt_client_devices(x->c, d, sizeof d / sizeof d[0], &n, x->timeout_ms);
    if (err != VT_OK)
        return cli_fail(x, "cannot list the devices", err);
    if (n > sizeof d / sizeof d[0])
        n = sizeof d / sizeof d[0];
    for (size_t i = 0; i < n; i++) {
        char when[32];
        cli_format_time(when, sizeof when, d[i].created_at * 1000);
        if (x->json) {
            json_t *o = json_object();
            json_object_set_new(o, "device_id", json_integer(d[i].device_id));
            json_object_set_new(o, "name", cli_json_str(d[i].name));
            json_object_set_new(o, "created_at",
                                json_integer((json_int_t)d[i].created_at));
            json_object_set_new(o, "this_device", json_boolean(d[i].is_this_device));
            cli_json_line(o);
        } else {
            printf("%3u  %s  ", d[i].device_id, when);
            cli_put_text(stdout, d[i].name, 0);
            printf("%s\n", d[i].is_this_device ? "  (this device)" : "");
        }
    }
    return CLI_OK;
}

static int devices_remove(cli *x, const char *arg)
{
    char *end;
    unsigned long id;
    vt_err err;
    int rc;
    errno = 0;
    id = strtoul(arg, &end, 10);
    if (errno != 0 || *end != '\0' || id == 0 || id > UINT32_MAX) {
        fprintf(stderr, "ventra: a device id is a number (see `ventra devices`)\n");
        return CLI_USAGE;
    }
    if ((rc = cli_open(x, false)) != CLI_OK || (rc = cli_start(x)) != CLI_OK)
        return rc;
    err = vt_client_remove_device(x->c, (uint32_t)id, x->timeout_ms);
    if (err == VT_ERR_NOT_FOUND) {
        fprintf(stderr, "ventra: %s has no device %lu\n", vt_client_username(x->c), id);
        return CLI_NO_ACCOUNT;
    }
    if (err != VT_OK)
        return cli_fail(x, "cannot remove the device", err);
    if (!x->json)
        printf("Removed device %lu of %s.\n", id, vt_client_username(x->c));
    return CLI_OK;
}

int cmd_devices(cli *x, int argc, char **argv)
{
    if (cli_want_help(argc, argv, devices_usage))
        return CLI_OK;
    if (argc == 1 || (argc == 2 && strcmp(argv[1], "list") == 0))
        return devices_list(x);
    if (argc == 3 && strcmp(argv[1], "approve") == 0)
        return devices_approve(x, argv[2]);
    if (argc == 3 && strcmp(argv[1], "remove") == 0)
        return devices_remove(x, argv[2]);
    return cli_usage(devices_usage);
}

static const char delete_usage[] =
    "usage: ventra delete-account [--yes]\n"
    "Deletes the account on the server, with all its devices; others can\n"
    "then no longer reach it, and the name may be taken again. Asks first\n"
    "unless --yes. The local store keeps the history: remove the data\n"
    "directory to erase it.\n";

int cmd_delete_account(cli *x, int argc, char **argv)
{
    char q[256], *user;
    vt_err err;
    int rc;
    if (cli_want_help(argc, argv, delete_usage))
        return CLI_OK;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--yes") == 0)
            x->yes = true;
        else
            return cli_usage(delete_usage);
    }
    if ((rc = cli_open(x, false)) != CLI_OK || (rc = cli_start(x)) != CLI_OK)
        return rc;
    user = strdup(vt_client_username(x->c));
    if (user == NULL)
        return CLI_LOCAL;
    if (!x->yes) {
        snprintf(q, sizeof q, "Delete the account %s on %s, with every device, for good?",
                 user, x->server);
        if (!cli_confirm(q)) {
            fprintf(stderr, "ventra: nothing was deleted%s\n",
                    isatty(0) ? "" : " (give --yes when there is no terminal)");
            free(user);
            return CLI_USAGE;
        }
    }
    err = vt_client_delete_account(x->c, x->timeout_ms);
    if (err != VT_OK) {
        free(user);
        return cli_fail(x, "cannot delete the account", err);
    }
    if (!x->json)
        printf("Deleted the account %s. The history stays in %s until you remove it.\n",
               user, x->data_dir);
    free(user);
    return CLI_OK;
}
