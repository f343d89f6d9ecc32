/* ventra: trust in contacts' identity keys: contacts, verify (the safety
 * number of spec/crypto.md CRYPTO-140..143) and accept (a changed key,
 * CRYPTO-128; SEC-5). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char contacts_usage[] =
    "usage: ventra contacts\n"
    "The accounts this device has talked to: how many devices, and whether\n"
    "their keys are verified (safety number compared) or changed.\n";

static bool contact_one(void *ud, const vt_client_contact *ct)
{
    cli *x = ud;
    const char *trust = ct->changed    ? "KEY CHANGED: see ventra verify, ventra accept"
                        : ct->verified ? "verified"
                                       : "not verified";
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "username", cli_json_str(ct->username));
        json_object_set_new(o, "devices", json_integer((json_int_t)ct->devices));
        json_object_set_new(o, "verified", json_boolean(ct->verified));
        json_object_set_new(o, "changed", json_boolean(ct->changed));
        cli_json_line(o);
    } else {
        cli_put_text(stdout, ct->username, 0);
        printf("  %zu device%s  %s\n", ct->devices, ct->devices == 1 ? "" : "s", trust);
    }
    return true;
}

int cmd_contacts(cli *x, int argc, char **argv)
{
    vt_err err;
    int rc;
    if (cli_want_help(argc, argv, contacts_usage))
        return CLI_OK;
    if (argc != 1)
        return cli_usage(contacts_usage);
    if ((rc = cli_open(x, false)) != CLI_OK)
        return rc;
    err = vt_client_contacts(x->c, contact_one, x);
    if (err != VT_OK)
        return cli_fail(x, "cannot list the contacts", err);
    return CLI_OK;
}

static const char verify_usage[] =
    "usage: ventra verify USER [--mark]\n"
    "Prints the safety number of this account and USER. Compare it with the\n"
    "one USER sees (ventra verify YOU), in person or on a call you trust;\n"
    "when the two match, run ventra verify USER --mark.\n";

/* The 12 groups of 5 digits, 4 to a line. */
static void print_number(const char *num)
{
    int groups = 0;
    const char *p = num;
    fputs("    ", stdout);
    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        if (n > 0) {
            if (groups > 0)
                fputs(groups % 4 == 0 ? "\n    " : " ", stdout);
            printf("%.*s", (int)n, p);
            groups++;
        }
        p += n;
        while (*p == ' ')
            p++;
    }
    fputc('\n', stdout);
}

int cmd_verify(cli *x, int argc, char **argv)
{
    char num[128];
    bool mark = false;
    const char *user = NULL;
    vt_err err;
    int rc;
    if (cli_want_help(argc, argv, verify_usage))
        return CLI_OK;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mark") == 0)
            mark = true;
        else if (user == NULL && argv[i][0] != '-')
            user = argv[i];
        else
            return cli_usage(verify_usage);
    }
    if (user == NULL)
        return cli_usage(verify_usage);
    if ((rc = cli_open(x, false)) != CLI_OK)
        return rc;

    if (mark) {
        err = vt_client_verify(x->c, user);
        if (err == VT_ERR_NOT_FOUND) {
            fprintf(stderr,
                    "ventra: %s is not a contact yet: run `ventra verify %s` first\n",
                    user, user);
            return CLI_NO_ACCOUNT;
        }
        if (err != VT_OK)
            return cli_fail(x, "cannot mark the contact verified", err);
        if (!x->json)
            printf("Marked %s verified.\n", user);
        return CLI_OK;
    }

    if ((rc = cli_start(x)) != CLI_OK)
        return rc;
    err = vt_client_safety_number(x->c, user, num, sizeof num, x->timeout_ms);
    if (err == VT_ERR_NOT_FOUND) {
        fprintf(stderr, "ventra: no such user: %s\n", user);
        return CLI_NO_ACCOUNT;
    }
    if (err != VT_OK)
        return cli_fail(x, "cannot compute the safety number", err);
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "username", cli_json_str(user));
        json_object_set_new(o, "safety_number", json_string(num));
        cli_json_line(o);
        return CLI_OK;
    }
    printf("Safety number of %s and %s:\n\n", vt_client_username(x->c), user);
    print_number(num);
    printf("\nCompare it with the number %s sees (ventra verify %s), in person or\n"
           "on a call you trust. If the two match: ventra verify %s --mark\n",
           user, vt_client_username(x->c), user);
    return CLI_OK;
}

static const char accept_usage[] =
    "usage: ventra accept USER\n"
    "Trusts the new identity key of USER and sends the messages held for\n"
    "USER. Do this only after comparing safety numbers (ventra verify USER):\n"
    "a changed key can mean someone else is posing as USER.\n";

int cmd_accept(cli *x, int argc, char **argv)
{
    vt_err err;
    int rc;
    if (cli_want_help(argc, argv, accept_usage))
        return CLI_OK;
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage(accept_usage);
    if ((rc = cli_open(x, false)) != CLI_OK)
        return rc;
    err = vt_client_accept_identity(x->c, argv[1]);
    if (err == VT_ERR_NOT_FOUND) {
        fprintf(stderr, "ventra: %s is not a contact\n", argv[1]);
        return CLI_NO_ACCOUNT;
    }
    if (err != VT_OK)
        return cli_fail(x, "cannot accept the key", err);
    fprintf(stderr,
            "ventra: accepted the new identity key of %s. If you did not compare\n"
            "ventra: safety numbers, do it now: ventra verify %s\n",
            argv[1], argv[1]);
    rc = cli_connect_live(x); /* LIVE with an empty outbox: the held messages left */
    if (rc != CLI_OK)
        fprintf(stderr, "ventra: the held messages stay queued and go out the next time "
                        "ventra connects\n");
    else if (!x->json)
        printf("Accepted %s's new key; held messages were sent.\n", argv[1]);
    return rc;
}
