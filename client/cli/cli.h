/* ventra, the command line on libventra-client (client/include/ventra/
 * client.h): what the command files share. One file per command group
 * (cli_account.c, cli_messages.c, cli_trust.c, cli_groups.c), the output in
 * cli_output.c, the passphrase in cli_passphrase.c, the client's set-up and
 * callbacks in cli_client.c. */
#ifndef VT_CLI_H
#define VT_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ventra/client.h"
#include "vt_constants.h"

/* Exit statuses; `ventra --help` prints this table (keep both in step). */
enum {
    CLI_OK = 0,         /* done */
    CLI_ERR = 1,        /* the server or the network failed, or a message FAILED */
    CLI_USAGE = 2,      /* bad command line or arguments */
    CLI_PASSPHRASE = 3, /* the passphrase does not open the store */
    CLI_HELD = 4,       /* a message is held: a contact's identity key changed */
    CLI_NO_ACCOUNT = 5, /* no account in this store, or no such user, group or device */
    CLI_LOCAL = 6       /* a local failure: the store, the data directory, memory */
};

#define CLI_DEFAULT_SERVER "ws://127.0.0.1:8080"
#define CLI_DEFAULT_TIMEOUT_S 30
#define CLI_PASSPHRASE_MAX 1024

/* The options before the command, and what the run learned. */
typedef struct cli {
    /* options */
    const char *server;   /* --server, VENTRA_SERVER, DIR/server_url, default */
    const char *data_opt; /* --data */
    char *data_dir;       /* --data, $VENTRA_HOME, ~/.ventra (owned, set by cli_open) */
    const char *passphrase_file;
    const char *device_name;
    bool json;
    bool yes;
    int timeout_ms;
    bool server_given;  /* --server or VENTRA_SERVER */
    char *server_owned; /* what x->server points at when read from DIR/server_url */
    bool follow;        /* recv --follow, chat: reconnecting is not a failure */

    /* the client */
    vt_client *c;
    bool started;

    /* where messages that arrive go: stdout for recv and chat, else stderr */
    FILE *msg_out;
    bool mark_read; /* chat: send read receipts for what was shown */
    struct {
        char from[VT_MAX_USERNAME_LEN + 1];
        uint8_t id[16];
    } reads[32]; /* read receipts to send after the callback returned */
    size_t n_reads;

    /* what the callbacks saw */
    vt_client_state state;
    vt_err state_why;
    bool was_live;
    bool lost;    /* BACKOFF or CLOSED while a one-shot command waited */
    bool changed; /* identity_changed fired */
    size_t shown; /* messages printed */

    /* the message `send` waits for */
    bool tracking;
    uint8_t track_id[16];
    bool track_done;
    vt_client_msg_status track_st;
    vt_err track_err;
} cli;

extern volatile sig_atomic_t cli_stop;     /* SIGINT or SIGTERM arrived */
extern volatile sig_atomic_t cli_catching; /* set while our own loop runs */

/* ---- cli_client.c -------------------------------------------------------- */

/* Opens the client on the data directory (asking for the passphrase as
 * needed; |creating|: a new store, ask twice). Returns an exit status. */
int cli_open(cli *x, bool creating);
/* Starts the connection (once). Returns an exit status. */
int cli_start(cli *x);
/* Runs the loop until |done| or the timeout; sets no status itself.
 * Returns CLI_OK when |done| became true, else an exit status with the
 * reason printed. */
int cli_wait(cli *x, bool (*done)(cli *x), const char *what);
/* Connects and waits for LIVE (the queue drained) and an empty outbox. */
int cli_connect_live(cli *x);
/* Maps a library error to an exit status, printing "ventra: |what|: why". */
int cli_fail(cli *x, const char *what, vt_err err);
void cli_close(cli *x);
/* Installs the SIGINT/SIGTERM handler that sets cli_stop. */
void cli_signals(void);

/* ---- cli_passphrase.c ---------------------------------------------------- */

/* Reads the passphrase into |buf| (CLI_PASSPHRASE_MAX bytes): --passphrase-
 * file, else VENTRA_PASSPHRASE, else the terminal (twice when |confirm|).
 * Returns an exit status; on CLI_OK *len is its length. The caller wipes
 * |buf| with sodium_memzero. */
int cli_passphrase(const cli *x, bool confirm, char *buf, size_t *len);
/* Asks a yes/no question on the terminal; false when there is none. */
bool cli_confirm(const char *question);

/* ---- cli_output.c -------------------------------------------------------- */

/* One message, as a line (or a JSON object); |status| (may be NULL) is
 * what became of an outgoing one, for history. */
void cli_print_message(cli *x, FILE *out, const vt_client_message *m, const char *status);
/* The boxed warning of a changed identity key (device_id 0: not known). */
void cli_print_identity_warning(const char *username, uint32_t device_id);
/* Writes |s| for a terminal: invalid UTF-8 and control characters replaced,
 * newlines indented by |indent| spaces. */
void cli_put_text(FILE *out, const char *s, int indent);
void cli_hex(char *out, const uint8_t *in, size_t n); /* out: 2n+1 bytes */
bool cli_unhex(uint8_t *out, size_t n, const char *in);
const char *cli_status_name(vt_client_msg_status st);
/* Prints a JSON object (jansson json_t *, stolen) as one line on stdout. */
void cli_json_line(void *obj);
/* A JSON string of |s| that is valid UTF-8 whatever |s| holds. */
void *cli_json_str(const char *s);
void cli_format_time(char *out, size_t cap, uint64_t ms);

/* ---- the commands (argv[0] is the command's name) ------------------------ */

int cmd_register(cli *x, int argc, char **argv);
int cmd_link(cli *x, int argc, char **argv);
int cmd_devices(cli *x, int argc, char **argv);
int cmd_delete_account(cli *x, int argc, char **argv);
int cmd_send(cli *x, int argc, char **argv);
int cmd_recv(cli *x, int argc, char **argv);
int cmd_chat(cli *x, int argc, char **argv);
int cmd_history(cli *x, int argc, char **argv);
int cmd_contacts(cli *x, int argc, char **argv);
int cmd_verify(cli *x, int argc, char **argv);
int cmd_accept(cli *x, int argc, char **argv);
int cmd_group(cli *x, int argc, char **argv);

/* Prints |usage| (the command's help) to stdout when argv holds --help or
 * -h, returning true. */
bool cli_want_help(int argc, char **argv, const char *usage);
/* Prints "usage: ..." for a wrong command line, returns CLI_USAGE. */
int cli_usage(const char *usage);

/* Waits for the tracked message to leave QUEUED/SENDING; the exit status
 * for what became of it (shared by send and group send). */
int cli_wait_sent(cli *x, const char *to);
/* Reads TEXT or stdin ("-" or absent) into a new string (caller frees,
 * wiping it). Returns an exit status. */
int cli_read_text(int argc, char **argv, int i, char **out);

#endif
