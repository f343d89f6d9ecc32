/* ventra, the command line: the global options, the command table and
 * `ventra --help`. The commands live in cli_*.c (cli.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(cli *x, int argc, char **argv);
} command;

static const command commands[] = {
    {"register", cmd_register}, {"link", cmd_link},
    {"devices", cmd_devices},   {"delete-account", cmd_delete_account},
    {"send", cmd_send},         {"recv", cmd_recv},
    {"chat", cmd_chat},         {"history", cmd_history},
    {"contacts", cmd_contacts}, {"verify", cmd_verify},
    {"accept", cmd_accept},     {"group", cmd_group},
};

static const char help_text[] =
    "usage: ventra [options] <command> [args]\n"
    "\n"
    "An end-to-end encrypted messenger client. Each data directory is one\n"
    "device of one account; its store is encrypted with your passphrase.\n"
    "\n"
    "Account and devices:\n"
    "  register NAME             create the account NAME with this device\n"
    "  link                      on a new device: print its link code\n"
    "  link REPLY                ...then finish with the reply (alice/2)\n"
    "  devices [list]            the account's devices\n"
    "  devices approve CODE      on an existing device: add the device of CODE\n"
    "  devices remove ID         remove a device\n"
    "  delete-account [--yes]    delete the account on the server\n"
    "Messages:\n"
    "  send USER [TEXT|-]        send TEXT (or stdin) and wait until it is sent\n"
    "  recv [--follow]           print what arrived; --follow: keep waiting\n"
    "  chat USER                 send typed lines, show incoming ones\n"
    "  history [USER|GID]        the stored messages, oldest first\n"
    "Trust:\n"
    "  contacts                  contacts and whether their keys are verified\n"
    "  verify USER [--mark]      the safety number; --mark: you compared it\n"
    "  accept USER               accept USER's changed identity key\n"
    "Groups (GID: the group id in hex, or the group's name):\n"
    "  group create NAME USER... | group add GID USER... |\n"
    "  group remove GID USER... | group leave GID | group list |\n"
    "  group send GID [TEXT|-]\n"
    "\n"
    "Options:\n"
    "  --server URL              ws://HOST:PORT (loopback) or wss://HOST:PORT;\n"
    "                            default VENTRA_SERVER, else the URL this data\n"
    "                            directory first used, else " CLI_DEFAULT_SERVER "\n"
    "  --data DIR                default $VENTRA_HOME, else ~/.ventra\n"
    "  --passphrase-file FILE    the passphrase (first line); else\n"
    "                            VENTRA_PASSPHRASE, else asked on the terminal\n"
    "  --device-name NAME        this device's name (default: the host name)\n"
    "  --timeout SECONDS         how long to wait for the server (default 30)\n"
    "  --json                    one JSON object per line on stdout\n"
    "  --yes                     do not ask for confirmation\n"
    "  `ventra COMMAND --help` tells more about a command.\n"
    "\n"
    "Messages that arrive while another command runs are stored and shown on\n"
    "stderr; `ventra history` shows them again.\n"
    "\n"
    "Exit status:\n"
    "  0  done\n"
    "  1  the server or the network failed, or the message failed\n"
    "  2  bad command line\n"
    "  3  wrong passphrase\n"
    "  4  message held: the contact's identity key changed (see verify, accept)\n"
    "  5  no account in this store, or no such user, group or device\n"
    "  6  local failure (store, data directory, memory)\n";

bool cli_want_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return true;
        }
        if (strcmp(argv[i], "--") == 0)
            break;
    }
    return false;
}

int cli_usage(const char *usage)
{
    fputs(usage, stderr);
    return CLI_USAGE;
}

/* "--name VALUE" or "--name=VALUE": the value, advancing *i; NULL when
 * argv[*i] is not this option. *missing is set when the value is absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *name,
                             bool *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

int main(int argc, char **argv)
{
    cli x;
    const char *data = NULL;
    int i, rc;

    memset(&x, 0, sizeof x);
    x.timeout_ms = CLI_DEFAULT_TIMEOUT_S * 1000;
    x.msg_out = stderr;
    if (sodium_init() < 0) {
        fprintf(stderr, "ventra: libsodium failed to initialise\n");
        return CLI_LOCAL;
    }

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help_text, stdout);
            return CLI_OK;
        } else if (strcmp(a, "--json") == 0) {
            x.json = true;
        } else if (strcmp(a, "--yes") == 0) {
            x.yes = true;
        } else if ((v = opt_value(argc, argv, &i, "--server", &missing)) != NULL) {
            x.server = v;
            x.server_given = true;
        } else if ((v = opt_value(argc, argv, &i, "--data", &missing)) != NULL) {
            data = v;
        } else if ((v = opt_value(argc, argv, &i, "--passphrase-file", &missing)) !=
                   NULL) {
            x.passphrase_file = v;
        } else if ((v = opt_value(argc, argv, &i, "--device-name", &missing)) != NULL) {
            x.device_name = v;
        } else if ((v = opt_value(argc, argv, &i, "--timeout", &missing)) != NULL) {
            char *end;
            long s;
            errno = 0;
            s = strtol(v, &end, 10);
            if (errno != 0 || *end != '\0' || s <= 0 || s > 86400) {
                fprintf(stderr, "ventra: --timeout: seconds from 1 to 86400\n");
                return CLI_USAGE;
            }
            x.timeout_ms = (int)s * 1000;
        } else {
            if (missing)
                fprintf(stderr, "ventra: %s needs a value\n", a);
            else
                fprintf(stderr, "ventra: unknown option %s (see ventra --help)\n", a);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        fputs(help_text, stderr);
        return CLI_USAGE;
    }
    if (x.server == NULL && getenv("VENTRA_SERVER") != NULL &&
        getenv("VENTRA_SERVER")[0]) {
        x.server = getenv("VENTRA_SERVER");
        x.server_given = true;
    }

    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++) {
        if (strcmp(argv[i], commands[k].name) != 0)
            continue;
        x.data_opt = data;
        cli_signals();
        rc = commands[k].run(&x, argc - i, argv + i);
        cli_close(&x);
        free(x.data_dir);
        return rc;
    }
    fprintf(stderr, "ventra: unknown command '%s' (see ventra --help)\n", argv[i]);
    return CLI_USAGE;
}
