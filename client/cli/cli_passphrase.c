/* ventra: the store's passphrase (--passphrase-file, VENTRA_PASSPHRASE or
 * the terminal without echo) and yes/no questions on the terminal. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"

/* Drops one trailing "\n" or "\r\n". */
static size_t chomp(char *buf, size_t n)
{
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return n;
}

static int from_file(const char *path, char *buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    ssize_t r;
    if (fd < 0) {
        fprintf(stderr, "ventra: --passphrase-file %s: %s\n", path, strerror(errno));
        return CLI_USAGE;
    }
    while (n < CLI_PASSPHRASE_MAX - 1 &&
           (r = read(fd, buf + n, CLI_PASSPHRASE_MAX - 1 - n)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "ventra: --passphrase-file %s: %s\n", path, strerror(errno));
            close(fd);
            return CLI_USAGE;
        }
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    /* the first line is the passphrase */
    char *nl = memchr(buf, '\n', n);
    if (nl != NULL)
        n = (size_t)(nl - buf) + 1;
    *len = chomp(buf, n);
    sodium_memzero(buf + *len, CLI_PASSPHRASE_MAX - *len);
    return CLI_OK;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Prompts on /dev/tty with echo off; reads one line into |buf|. */
static int ask(int tty, const char *prompt, char *buf, size_t *len)
{
    struct termios old, quiet;
    struct sigaction sa, old_int, old_term;
    size_t n = 0;
    int rc = CLI_OK;
    bool restore = false;

    if (write(tty, prompt, strlen(prompt)) < 0)
        return CLI_USAGE;
    if (tcgetattr(tty, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        restore = tcsetattr(tty, TCSANOW, &quiet) == 0;
    }
    /* Ctrl-C must not leave the terminal without echo. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    for (;;) {
        char ch;
        ssize_t r = read(tty, &ch, 1);
        if (r < 0 && errno == EINTR && !interrupted)
            continue;
        if (r <= 0 || interrupted) {
            rc = CLI_USAGE;
            break;
        }
        if (ch == '\n' || ch == '\r')
            break;
        if (n < CLI_PASSPHRASE_MAX - 1)
            buf[n++] = ch;
        ch = 0;
    }
    if (restore)
        tcsetattr(tty, TCSANOW, &old);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (write(tty, "\n", 1) < 0) {
        /* nothing to do: the prompt's newline is cosmetic */
    }
    buf[n] = '\0';
    *len = n;
    if (rc != CLI_OK)
        sodium_memzero(buf, CLI_PASSPHRASE_MAX);
    return rc;
}

static int from_terminal(bool confirm, char *buf, size_t *len)
{
    char *again = NULL;
    size_t again_len = 0;
    int rc;
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (tty < 0) {
        fprintf(stderr, "ventra: no passphrase: use --passphrase-file FILE, set "
                        "VENTRA_PASSPHRASE, or run ventra on a terminal\n");
        return CLI_USAGE;
    }
    rc = ask(tty, confirm ? "New passphrase for this store: " : "Passphrase: ", buf, len);
    if (rc == CLI_OK && confirm) {
        again = sodium_malloc(CLI_PASSPHRASE_MAX);
        if (again == NULL) {
            rc = CLI_LOCAL;
        } else if ((rc = ask(tty, "The same passphrase again: ", again, &again_len)) ==
                       CLI_OK &&
                   (again_len != *len || sodium_memcmp(again, buf, *len) != 0)) {
            fprintf(stderr, "ventra: the passphrases differ; nothing was created\n");
            rc = CLI_USAGE;
        }
        sodium_free(again); /* wipes */
    }
    close(tty);
    if (rc != CLI_OK)
        sodium_memzero(buf, CLI_PASSPHRASE_MAX);
    return rc;
}

int cli_passphrase(const cli *x, bool confirm, char *buf, size_t *len)
{
    const char *env = getenv("VENTRA_PASSPHRASE");
    int rc;

    if (x->passphrase_file != NULL) {
        rc = from_file(x->passphrase_file, buf, len);
    } else if (env != NULL) {
        size_t n = strlen(env);
        if (n >= CLI_PASSPHRASE_MAX) {
            fprintf(stderr, "ventra: VENTRA_PASSPHRASE is longer than %d bytes\n",
                    CLI_PASSPHRASE_MAX - 1);
            return CLI_USAGE;
        }
        memcpy(buf, env, n + 1);
        *len = n;
        rc = CLI_OK;
    } else {
        rc = from_terminal(confirm, buf, len);
    }
    if (rc == CLI_OK && *len == 0) {
        fprintf(stderr, "ventra: the passphrase is empty\n");
        rc = CLI_USAGE;
    }
    if (rc != CLI_OK)
        sodium_memzero(buf, CLI_PASSPHRASE_MAX);
    return rc;
}

bool cli_confirm(const char *question)
{
    char answer[16];
    size_t n = 0;
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty < 0)
        return false;
    if (write(tty, question, strlen(question)) < 0 || write(tty, " [y/N] ", 7) < 0) {
        close(tty);
        return false;
    }
    for (;;) {
        char ch;
        ssize_t r = read(tty, &ch, 1);
        if (r < 0 && errno == EINTR && !cli_stop)
            continue;
        if (r <= 0 || ch == '\n')
            break;
        if (n < sizeof answer - 1)
            answer[n++] = ch;
    }
    answer[n] = '\0';
    close(tty);
    return strcmp(answer, "y") == 0 || strcmp(answer, "yes") == 0;
}
