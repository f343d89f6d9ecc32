/* ventra: send, recv, chat and history. Sending only queues (the outbox
 * survives a crash); send then waits for the outcome of
 * spec/state/outgoing_message.md. recv waits for QueueDrained, the LIVE
 * state of spec/state/client_conn.md. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"

/* ---- shared with group send ------------------------------------------------ */

static void wipe_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

int cli_read_text(int argc, char **argv, int i, char **out)
{
    size_t cap = VT_MAX_CONTENT_SIZE + 1, n = 0;
    char *buf;

    if (i < argc && strcmp(argv[i], "-") != 0) {
        /* the words after USER, joined: `ventra send bob see you` works */
        size_t len = 0;
        for (int k = i; k < argc; k++)
            len += strlen(argv[k]) + 1;
        if ((buf = malloc(len)) == NULL)
            return CLI_LOCAL;
        buf[0] = '\0';
        for (int k = i; k < argc; k++) {
            if (k > i)
                strcat(buf, " ");
            strcat(buf, argv[k]);
        }
        n = strlen(buf);
    } else {
        if (i + 1 < argc) {
            fprintf(stderr, "ventra: give the text or -, not both\n");
            return CLI_USAGE;
        }
        if ((buf = malloc(cap + 1)) == NULL)
            return CLI_LOCAL;
        for (;;) {
            ssize_t r = read(0, buf + n, cap - n);
            if (r < 0 && errno == EINTR && !cli_stop)
                continue;
            if (r < 0) {
                fprintf(stderr, "ventra: reading the message: %s\n", strerror(errno));
                free(buf);
                return CLI_LOCAL;
            }
            if (r == 0)
                break;
            n += (size_t)r;
            if (n == cap) {
                sodium_memzero(buf, n);
                free(buf);
                fprintf(stderr, "ventra: the message is longer than %u bytes\n",
                        VT_MAX_CONTENT_SIZE);
                return CLI_USAGE;
            }
        }
        buf[n] = '\0';
        if (n > 0 && buf[n - 1] == '\n') /* what echo and editors add */
            buf[--n] = '\0';
    }
    if (n == 0 || strlen(buf) != n) {
        fprintf(stderr, n == 0 ? "ventra: the message is empty\n"
                               : "ventra: the message holds a NUL byte\n");
        sodium_memzero(buf, n);
        free(buf);
        return CLI_USAGE;
    }
    *out = buf;
    return CLI_OK;
}

static bool track_done(cli *x)
{
    return x->track_done;
}

int cli_wait_sent(cli *x, const char *to)
{
    char hex[33];
    int rc = cli_wait(x, track_done, "sending");
    cli_hex(hex, x->track_id, 16);
    if (rc != CLI_OK) {
        fprintf(stderr, "ventra: the message is not sent yet; it stays in the outbox and "
                        "goes out the next time ventra connects\n");
        return rc;
    }
    if (x->json) {
        json_t *o = json_object();
        json_object_set_new(o, "to", cli_json_str(to));
        json_object_set_new(o, "message_id", json_string(hex));
        json_object_set_new(o, "status", json_string(cli_status_name(x->track_st)));
        if (x->track_st == VT_MSG_FAILED)
            json_object_set_new(o, "error", json_string(vt_strerror(x->track_err)));
        cli_json_line(o);
    }
    switch (x->track_st) {
    case VT_MSG_SENT:
    case VT_MSG_DELIVERED:
    case VT_MSG_READ:
        if (!x->json) {
            fputs("Sent to ", stdout);
            cli_put_text(stdout, to, 0);
            fputs(".\n", stdout);
        }
        return CLI_OK;
    case VT_MSG_HELD:
        fputs("ventra: the message to ", stderr);
        cli_put_text(stderr, to, 0);
        fputs(" is held, not sent: an identity key changed (see the warning).\n", stderr);
        return CLI_HELD;
    default:
        if (x->track_err == VT_ERR_NOT_FOUND) {
            fputs("ventra: no such user or group: ", stderr);
            cli_put_text(stderr, to, 0);
            fputc('\n', stderr);
            return CLI_NO_ACCOUNT;
        }
        fprintf(stderr, "ventra: the message failed: %s\n", vt_strerror(x->track_err));
        return CLI_ERR;
    }
}

/* ---- send -------------------------------------------------------------------- */

static const char send_usage[] =
    "usage: ventra send USER [TEXT|-]\n"
    "Sends TEXT (the words after USER), or with - or no TEXT all of stdin as\n"
    "one message, and waits until the server has it. Exit status 0: sent;\n"
    "4: held because USER's identity key changed (see verify and accept);\n"
    "1: not sent yet (it stays queued) or failed; 5: no such user.\n";

typedef struct changed_q {
    const char *user;
    bool changed;
} changed_q;

static bool contact_changed(void *ud, const vt_client_contact *ct)
{
    changed_q *q = ud;
    if (strcmp(ct->username, q->user) == 0) {
        q->changed = ct->changed;
        return false;
    }
    return true;
}

int cmd_send(cli *x, int argc, char **argv)
{
    changed_q q = {.user = argc > 1 ? argv[1] : ""};
    char *text = NULL;
    vt_err err;
    int rc;
    if (cli_want_help(argc, argv, send_usage))
        return CLI_OK;
    if (argc < 2 || argv[1][0] == '-')
        return cli_usage(send_usage);
    if ((rc = cli_read_text(argc, argv, 2, &text)) != CLI_OK)
        return rc;
    if ((rc = cli_open(x, false)) != CLI_OK || (rc = cli_start(x)) != CLI_OK)
        goto out;
    err = vt_client_send_text(x->c, argv[1], text, x->track_id);
    if (err != VT_OK) {
        rc = cli_fail(x, "cannot send", err);
        goto out;
    }
    /* Behind a message already held for this user the new one waits in
     * the outbox without a status of its own (SM-304: in order), so say so
     * now rather than wait for nothing. */
    if (vt_client_contacts(x->c, contact_changed, &q) == VT_OK && q.changed) {
        cli_print_identity_warning(argv[1], 0);
        fprintf(stderr,
                "ventra: the message to %s is queued and held until you accept "
                "the new key\n",
                argv[1]);
        rc = CLI_HELD;
        goto out;
    }
    x->tracking = true;
    rc = cli_wait_sent(x, argv[1]);
out:
    wipe_free(text);
    return rc;
}

/* ---- recv -------------------------------------------------------------------- */

static const char recv_usage[] =
    "usage: ventra recv [--follow]\n"
    "Connects, prints every message that arrived (queued while this device\n"
    "was away) and exits. --follow keeps printing until Ctrl-C. Lines read\n"
    "`TIME alice: text`; your own messages from other devices `-> bob: text`;\n"
    "group messages carry #GID. --json: one object per message.\n";

static void flush_reads(cli *x)
{
    for (size_t i = 0; i < x->n_reads; i++) {
        vt_err err = vt_client_mark_read(x->c, x->reads[i].from, x->reads[i].id);
        if (err != VT_OK)
            fprintf(stderr, "ventra: read receipt: %s\n", vt_strerror(err));
    }
    x->n_reads = 0;
}

/* Services the client until SIGINT or SIGTERM; the connection comes back
 * by itself after a loss. */
static int follow(cli *x)
{
    cli_catching = 1;
    while (!cli_stop) {
        vt_err err = vt_client_service(x->c, 200);
        if (err != VT_OK)
            return cli_fail(x, "the connection failed", err);
        flush_reads(x);
        if (vt_client_get_state(x->c) == VT_CLIENT_CLOSED)
            return cli_fail(x, "the server closed the connection",
                            x->state_why == VT_OK ? VT_ERR_UNAVAILABLE : x->state_why);
    }
    return CLI_OK;
}

int cmd_recv(cli *x, int argc, char **argv)
{
    int rc;
    if (cli_want_help(argc, argv, recv_usage))
        return CLI_OK;
    if (argc == 2 && strcmp(argv[1], "--follow") == 0)
        x->follow = true;
    else if (argc != 1)
        return cli_usage(recv_usage);
    x->msg_out = stdout;
    if ((rc = cli_open(x, false)) != CLI_OK)
        return rc;
    if (x->follow)
        return (rc = cli_start(x)) != CLI_OK ? rc : follow(x);
    return cli_connect_live(x);
}

/* ---- chat -------------------------------------------------------------------- */

static const char chat_usage[] =
    "usage: ventra chat USER\n"
    "Each line typed is sent to USER; incoming messages appear as they\n"
    "arrive. End with Ctrl-D (after the outbox emptied) or Ctrl-C.\n";

static bool outbox_empty(cli *x)
{
    return vt_client_get_state(x->c) == VT_CLIENT_LIVE && vt_client_idle(x->c);
}

/* Sends each complete line in |buf| (|*n| bytes), keeping the rest. */
static int send_lines(cli *x, const char *to, char *buf, size_t *n, bool all)
{
    size_t start = 0;
    for (size_t i = 0; i < *n; i++) {
        bool last = all && i + 1 == *n;
        if (buf[i] != '\n' && !last)
            continue;
        size_t end = buf[i] == '\n' ? i : i + 1;
        if (end > start) {
            char save = buf[end];
            vt_err err;
            buf[end] = '\0';
            err = vt_client_send_text(x->c, to, buf + start, NULL);
            buf[end] = save;
            if (err != VT_OK)
                return cli_fail(x, "cannot send", err);
        }
        start = i + 1;
    }
    memmove(buf, buf + start, *n - start);
    sodium_memzero(buf + (*n - start), start);
    *n -= start;
    return CLI_OK;
}

int cmd_chat(cli *x, int argc, char **argv)
{
    char *buf = NULL;
    size_t n = 0, cap = VT_MAX_CONTENT_SIZE;
    bool eof = false;
    int rc;

    if (cli_want_help(argc, argv, chat_usage))
        return CLI_OK;
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage(chat_usage);
    x->msg_out = stdout;
    x->follow = true;
    x->mark_read = true;
    if ((rc = cli_open(x, false)) != CLI_OK || (rc = cli_start(x)) != CLI_OK)
        return rc;
    if ((buf = sodium_malloc(cap + 1)) == NULL) /* +1: send_lines ends a piece with NUL */
        return CLI_LOCAL;
    cli_catching = 1;

    while (!cli_stop && !eof) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        vt_err err = vt_client_service(x->c, 50);
        if (err != VT_OK) {
            rc = cli_fail(x, "the connection failed", err);
            goto out;
        }
        flush_reads(x);
        if (vt_client_get_state(x->c) == VT_CLIENT_CLOSED) {
            rc = cli_fail(x, "the server closed the connection",
                          x->state_why == VT_OK ? VT_ERR_UNAVAILABLE : x->state_why);
            goto out;
        }
        if (poll(&p, 1, 0) <= 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
            continue;
        ssize_t r = read(0, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            eof = true;
        } else {
            n += (size_t)r;
        }
        /* a line longer than a message goes out in pieces */
        if ((rc = send_lines(x, argv[1], buf, &n, eof || n == cap)) != CLI_OK)
            goto out;
    }
    /* EOF: wait until everything typed has left */
    x->follow = false;
    rc = cli_stop ? CLI_OK : cli_wait(x, outbox_empty, "sending what was typed");
out:
    sodium_free(buf);
    return rc;
}

/* ---- history ----------------------------------------------------------------- */

static const char history_usage[] =
    "usage: ventra history [USER|GID]\n"
    "The messages stored on this device, oldest first: with USER or a group\n"
    "id, that conversation only. Your own messages show their status.\n";

static bool history_one(void *ud, const vt_client_message *m, vt_client_msg_status st)
{
    cli *x = ud;
    cli_print_message(x, stdout, m, m->outgoing ? cli_status_name(st) : NULL);
    return true;
}

int cmd_history(cli *x, int argc, char **argv)
{
    vt_err err;
    int rc;
    if (cli_want_help(argc, argv, history_usage))
        return CLI_OK;
    if (argc > 2)
        return cli_usage(history_usage);
    if ((rc = cli_open(x, false)) != CLI_OK)
        return rc;
    err = vt_client_history(x->c, argc == 2 ? argv[1] : NULL, history_one, x);
    if (err != VT_OK)
        return cli_fail(x, "cannot read the history", err);
    return CLI_OK;
}
