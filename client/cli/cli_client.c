/* ventra: opening the client on the data directory, the callbacks that feed
 * the output, and the loop every command waits in. The connection's states
 * are those of spec/state/client_conn.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"

#define SERVER_FILE "server_url"

volatile sig_atomic_t cli_stop;
volatile sig_atomic_t cli_catching;

/* Inside our own loops a signal ends the loop and the command closes the
 * client cleanly; elsewhere (a call that runs the library's loop) it
 * ends the process as usual: the store is transactional. */
static void on_signal(int sig)
{
    if (!cli_catching) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    cli_stop = 1;
}

void cli_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- callbacks ----------------------------------------------------------- */

/* identity warnings already shown in this run */
static struct {
    char user[VT_MAX_USERNAME_LEN + 1];
    uint32_t device;
} warned[16];
static size_t n_warned;

static void on_message(void *ud, const vt_client_message *m)
{
    cli *x = ud;
    cli_print_message(x, x->msg_out, m, NULL);
    x->shown++;
    /* a read receipt cannot be sent from inside the callback */
    if (x->mark_read && !m->outgoing && m->group_id == NULL &&
        x->n_reads < sizeof x->reads / sizeof x->reads[0] &&
        strlen(m->sender) < sizeof x->reads[0].from) {
        strcpy(x->reads[x->n_reads].from, m->sender);
        memcpy(x->reads[x->n_reads].id, m->message_id, 16);
        x->n_reads++;
    }
}

static void on_status(void *ud, const uint8_t *id, vt_client_msg_status st, vt_err err)
{
    cli *x = ud;
    if (x->tracking && sodium_memcmp(id, x->track_id, 16) == 0) {
        x->track_st = st;
        x->track_err = err;
        if (st == VT_MSG_HELD || st == VT_MSG_SENT || st == VT_MSG_DELIVERED ||
            st == VT_MSG_READ || st == VT_MSG_FAILED)
            x->track_done = true;
        return;
    }
    if (st == VT_MSG_FAILED || st == VT_MSG_HELD) {
        char hex[33];
        cli_hex(hex, id, 16);
        if (st == VT_MSG_FAILED)
            fprintf(stderr, "ventra: message %s failed: %s\n", hex, vt_strerror(err));
        else
            fprintf(stderr, "ventra: message %s is held until you accept the new key\n",
                    hex);
    }
}

static void on_identity_changed(void *ud, const char *username, uint32_t device_id)
{
    cli *x = ud;
    x->changed = true;
    for (size_t i = 0; i < n_warned; i++)
        if (warned[i].device == device_id && strcmp(warned[i].user, username) == 0)
            return;
    if (n_warned < sizeof warned / sizeof warned[0]) {
        snprintf(warned[n_warned].user, sizeof warned[n_warned].user, "%s", username);
        warned[n_warned++].device = device_id;
    }
    cli_print_identity_warning(username, device_id);
}

static void on_state(void *ud, vt_client_state st, vt_err why)
{
    cli *x = ud;
    x->state = st;
    x->state_why = why;
    if (st == VT_CLIENT_LIVE)
        x->was_live = true;
    if (st == VT_CLIENT_BACKOFF || st == VT_CLIENT_CLOSED) {
        if (x->follow && st == VT_CLIENT_BACKOFF && !x->lost)
            fprintf(stderr, "ventra: disconnected (%s); reconnecting\n",
                    why == VT_OK ? "connection closed" : vt_strerror(why));
        x->lost = true;
    } else if (st == VT_CLIENT_LIVE && x->follow && x->lost) {
        fprintf(stderr, "ventra: connected again\n");
        x->lost = false;
    }
}

static void on_notice(void *ud, const char *text)
{
    (void)ud;
    fputs("ventra: ", stderr);
    cli_put_text(stderr, text, 8);
    fputc('\n', stderr);
}

static const vt_client_callbacks callbacks = {
    .message = on_message,
    .status = on_status,
    .identity_changed = on_identity_changed,
    .state = on_state,
    .notice = on_notice,
};

/* ---- opening --------------------------------------------------------------- */

static int data_dir(cli *x)
{
    const char *given = x->data_opt, *home;
    if (given == NULL)
        given = getenv("VENTRA_HOME");
    if (given != NULL && given[0] != '\0') {
        x->data_dir = strdup(given);
    } else if ((home = getenv("HOME")) != NULL && home[0] != '\0') {
        size_t n = strlen(home) + sizeof "/.ventra";
        x->data_dir = malloc(n);
        if (x->data_dir != NULL)
            snprintf(x->data_dir, n, "%s/.ventra", home);
    } else {
        fprintf(stderr,
                "ventra: no data directory: give --data DIR or set VENTRA_HOME\n");
        return CLI_USAGE;
    }
    if (x->data_dir == NULL) {
        fprintf(stderr, "ventra: out of memory\n");
        return CLI_LOCAL;
    }
    return CLI_OK;
}

/* True when the data directory holds no store yet. */
static bool store_is_new(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = true;
    if (d == NULL)
        return errno == ENOENT;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, SERVER_FILE) == 0)
            continue;
        empty = false;
        break;
    }
    closedir(d);
    return empty;
}

static char *server_file_path(const cli *x)
{
    size_t n = strlen(x->data_dir) + sizeof "/" SERVER_FILE;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", x->data_dir, SERVER_FILE);
    return p;
}

/* The URL the data directory first used (DIR/server_url), or NULL. */
static char *read_server_file(const cli *x)
{
    char *path = server_file_path(x), *url = NULL;
    FILE *f;
    char line[512];
    if (path == NULL)
        return NULL;
    f = fopen(path, "re");
    if (f != NULL) {
        if (fgets(line, sizeof line, f) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0] != '\0')
                url = strdup(line);
        }
        fclose(f);
    }
    free(path);
    return url;
}

static void write_server_file(const cli *x, const char *url)
{
    char *path = server_file_path(x);
    int fd;
    if (path == NULL)
        return;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        size_t n = strlen(url);
        if (write(fd, url, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
            fprintf(stderr, "ventra: could not write %s\n", path);
        close(fd);
    }
    free(path);
}

int cli_open(cli *x, bool creating)
{
    char *pass = NULL, *stored = NULL, host[65];
    size_t pass_len = 0;
    vt_client_config cfg;
    vt_err err;
    int rc;

    if ((rc = data_dir(x)) != CLI_OK)
        return rc;
    if (!creating && store_is_new(x->data_dir)) {
        fprintf(stderr,
                "ventra: no account in %s: run `ventra register NAME`, or `ventra link` "
                "to add this machine to an account\n",
                x->data_dir);
        return CLI_NO_ACCOUNT;
    }
    stored = read_server_file(x);
    if (x->server == NULL)
        x->server = stored != NULL ? stored : CLI_DEFAULT_SERVER;
    if (x->device_name == NULL) {
        if (gethostname(host, sizeof host - 1) != 0)
            snprintf(host, sizeof host, "ventra");
        host[sizeof host - 1] = '\0';
        x->device_name = host;
    }

    pass = sodium_malloc(CLI_PASSPHRASE_MAX); /* guarded, locked, wiped on free */
    if (pass == NULL) {
        fprintf(stderr, "ventra: out of memory\n");
        rc = CLI_LOCAL;
        goto out;
    }
    rc = cli_passphrase(x, creating && store_is_new(x->data_dir), pass, &pass_len);
    if (rc != CLI_OK)
        goto out;

    memset(&cfg, 0, sizeof cfg);
    cfg.server_url = x->server;
    cfg.data_dir = x->data_dir;
    cfg.passphrase = pass;
    cfg.passphrase_len = pass_len;
    cfg.device_name = x->device_name;
    err = vt_client_open(&x->c, &cfg, &callbacks, x);
    sodium_memzero(pass, CLI_PASSPHRASE_MAX);
    if (err == VT_ERR_BAD_PASSPHRASE) {
        fprintf(stderr, "ventra: wrong passphrase for the store in %s\n", x->data_dir);
        rc = CLI_PASSPHRASE;
    } else if (err == VT_ERR_CONFIG) {
        if (stored != NULL && strcmp(stored, x->server) != 0)
            fprintf(stderr, "ventra: %s belongs to the server %s, not %s\n", x->data_dir,
                    stored, x->server);
        else
            fprintf(stderr,
                    "ventra: cannot use the server URL %s with %s (plain ws:// is for "
                    "loopback addresses only; elsewhere use wss://)\n",
                    x->server, x->data_dir);
        rc = CLI_USAGE;
    } else if (err != VT_OK) {
        rc = cli_fail(x, "cannot open the store", err);
    } else {
        if (stored == NULL)
            write_server_file(x, x->server);
        rc = CLI_OK;
    }
out:
    sodium_free(pass);
    x->server_owned = stored; /* x->server may point at it; freed by cli_close */
    if (x->device_name == host)
        x->device_name = NULL;
    return rc;
}

void cli_close(cli *x)
{
    if (x->c != NULL) {
        vt_client_close(x->c);
        x->c = NULL;
    }
    free(x->server_owned);
    x->server_owned = NULL;
}

/* ---- errors ----------------------------------------------------------------- */

int cli_fail(cli *x, const char *what, vt_err err)
{
    const char *hint = NULL;
    int rc;
    switch (err) {
    case VT_ERR_BAD_PASSPHRASE:
        rc = CLI_PASSPHRASE;
        break;
    case VT_ERR_NOT_FOUND:
        rc = CLI_NO_ACCOUNT;
        break;
    case VT_ERR_STATE:
        if (x->c != NULL && vt_client_device_id(x->c) == 0) {
            hint = "this store holds no account: run `ventra register NAME` or `ventra "
                   "link`";
            rc = CLI_NO_ACCOUNT;
        } else {
            rc = CLI_ERR;
        }
        break;
    case VT_ERR_INVALID_ARGUMENT:
    case VT_ERR_TOO_LARGE:
        rc = CLI_USAGE;
        break;
    case VT_ERR_PERMISSION_DENIED:
    case VT_ERR_BAD_SIGNATURE:
        hint =
            "the server no longer accepts this device (removed, or the account deleted)";
        rc = CLI_NO_ACCOUNT;
        break;
    case VT_ERR_NO_MEMORY:
    case VT_ERR_IO:
    case VT_ERR_CONFIG:
    case VT_ERR_BUFFER_TOO_SMALL:
        rc = CLI_LOCAL;
        break;
    case VT_ERR_UNAVAILABLE:
        /* the library's own loops time out with this too */
        fprintf(stderr,
                "ventra: %s: the server at %s is not available (not running, not "
                "reachable, or shutting down)\n",
                what, x->server != NULL ? x->server : "?");
        return CLI_ERR;
    default:
        rc = CLI_ERR;
        break;
    }
    fprintf(stderr, "ventra: %s: %s\n", what, vt_strerror(err));
    if (hint != NULL)
        fprintf(stderr, "ventra: %s\n", hint);
    return rc;
}

/* ---- the loop ----------------------------------------------------------------- */

int cli_start(cli *x)
{
    vt_err err;
    if (x->started)
        return CLI_OK;
    if (vt_client_device_id(x->c) == 0) {
        fprintf(stderr,
                "ventra: no account in %s (never registered, or deleted): run "
                "`ventra register NAME` or `ventra link` first\n",
                x->data_dir);
        return CLI_NO_ACCOUNT;
    }
    err = vt_client_start(x->c);
    if (err != VT_OK)
        return cli_fail(x, "cannot connect", err);
    x->started = true;
    return CLI_OK;
}

int cli_wait(cli *x, bool (*done)(cli *x), const char *what)
{
    int64_t deadline = now_ms() + x->timeout_ms;
    int rc = CLI_OK;
    cli_catching = 1;
    while (!done(x)) {
        int64_t left = deadline - now_ms();
        vt_err err;
        if (cli_stop) {
            fprintf(stderr, "ventra: interrupted while %s\n", what);
            rc = CLI_ERR;
            break;
        }
        /* a first connection that fails is reported at once; a lost one
         * is given until the deadline to come back */
        if (vt_client_get_state(x->c) == VT_CLIENT_CLOSED && x->state_why != VT_OK) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s ended the session while %s", x->server, what);
            rc = cli_fail(x, msg, x->state_why);
            break;
        }
        if (vt_client_get_state(x->c) == VT_CLIENT_CLOSED ||
            (x->lost && !x->follow && !x->was_live)) {
            fprintf(stderr,
                    "ventra: cannot reach the server at %s%s%s (is it running?)\n",
                    x->server, x->state_why != VT_OK ? ": " : "",
                    x->state_why != VT_OK ? vt_strerror(x->state_why) : "");
            rc = CLI_ERR;
            break;
        }
        if (left <= 0) {
            fprintf(stderr, "ventra: no answer from %s within %d s while %s\n", x->server,
                    x->timeout_ms / 1000, what);
            rc = CLI_ERR;
            break;
        }
        err = vt_client_service(x->c, left < 200 ? (int)left : 200);
        if (err != VT_OK) {
            rc = cli_fail(x, what, err);
            break;
        }
    }
    cli_catching = 0;
    return rc;
}

static bool live_and_idle(cli *x)
{
    return vt_client_get_state(x->c) == VT_CLIENT_LIVE && vt_client_idle(x->c);
}

int cli_connect_live(cli *x)
{
    int rc = cli_start(x);
    if (rc != CLI_OK)
        return rc;
    return cli_wait(x, live_and_idle, "connecting");
}
