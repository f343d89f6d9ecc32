/* The ventrad side of the black-box test kit: runs the real binary on a
 * free loopback port with a temporary data directory (Redis's test suite
 * does the same), mints tokens with its key, and the cmocka fixtures of
 * the server tests. The protocol client it drives is vtc.h, the library
 * ventra_conform_live that the live conformance runner shares. */
#ifndef VTC_SERVER_H
#define VTC_SERVER_H

#include <sys/types.h>

#include "vtc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The server process ---------------------------------------------- */

typedef struct vtc_server {
    pid_t pid;            /* 0 when not running */
    int port;             /* the port it listens on (read from its log) */
    char data_dir[256];   /* its --data directory (created by vtc_server_start) */
    char log_path[300];   /* its stderr, a file inside data_dir's parent */
    char *extra_args[32]; /* extra arguments, NULL-terminated (owned) */
} vtc_server;

/* Starts $VT_BUILD_DIR/bin/ventrad with --listen 127.0.0.1:0, --data in a
 * fresh temporary directory, --limits off (unless |extra| sets limits) and
 * the NULL-terminated |extra| arguments (may be NULL); waits (at most 10 s)
 * for its "msg=listening" log line and reads the port from it. Aborts the
 * test on failure. */
void vtc_server_start(vtc_server *srv, const char *const *extra);

/* Starts it again on the same data directory and arguments (new port). */
void vtc_server_restart(vtc_server *srv);

/* Sends |sig| (SIGTERM, SIGINT or SIGKILL) and waits at most 10 s for the
 * process to end; returns its exit status as waitpid reports it
 * (WIFEXITED/WEXITSTATUS apply), or -1 when it had to be killed. */
int vtc_server_stop(vtc_server *srv, int sig);

/* Stops the server if running (SIGKILL) and removes the data directory. */
void vtc_server_cleanup(vtc_server *srv);

/* The server's log so far, as a malloc'd NUL-terminated string. */
char *vtc_server_log(const vtc_server *srv);

/* The server's Ed25519 key pair, read from <data_dir>/server.key (64 hex
 * digits of the 32-byte seed), for forging tokens in tests. */
void vtc_server_keypair(const vtc_server *srv, uint8_t pk[32], uint8_t sk[64]);

/* (Addition.) Limits: when |extra| holds "--limits" or "--limit", the kit
 * adds no "--limits off" of its own; pass "--limits", "off" before a
 * "--limit NAME=SPEC" to have only that one limit on. The environment
 * variable VTC_KEEP keeps the temporary directory for inspection. */

/* A token of exactly the AUTH-50 form for (|username|, |device_id|) with
 * the given iat and exp and a random jti, signed with the key of |srv|
 * (vtc_server_keypair). Malloc'd. */
char *vtc_token_mint(const vtc_server *srv, const char *username, uint32_t device_id,
                     uint64_t iat, uint64_t exp);

/* ---- cmocka fixtures (additions) ----------------------------------------
 *
 * For test programs (they include <cmocka.h>). */

/* Prepares a test program: vt_crypto_init, a failure handler that fails
 * the running cmocka test (vtc_set_fail_handler), and with VTC_TEST_FILTER set
 * (a cmocka pattern, e.g. a test's name) only the matching tests run.
 * Returns false when the crypto library did not initialise. */
bool vtc_test_init(void);

/* cmocka setup: starts a server with no extra arguments into *state
 * (calloc'd; as a group setup, every test of the group shares it).
 * Returns -1 when out of memory. */
int vtc_setup(void **state);

/* vtc_setup with the NULL-terminated |extra| arguments of
 * vtc_server_start, for a test's own setup. */
int vtc_setup_with(void **state, const char *const *extra);

/* cmocka teardown of vtc_setup: stops the server, removes its data
 * directory and frees it. */
int vtc_teardown(void **state);

/* A cmocka test of |fn| with a fresh server of its own in *state. */
#define VTC_TEST(fn) cmocka_unit_test_setup_teardown(fn, vtc_setup, vtc_teardown)

/* The exit status of a test program: vtc_test_init, then the cmocka
 * group |tests| with the group fixtures |setup| and |teardown| (NULL for
 * none). */
#define VTC_RUN(tests, setup, teardown)                                                  \
    (vtc_test_init() ? cmocka_run_group_tests(tests, setup, teardown) : 1)

/* Registers an account with a fresh name that starts with |prefix|. */
vtc_device *vtc_new_account(const vtc_server *srv, const char *prefix);

#ifdef __cplusplus
}
#endif

#endif
