/* The case API of the live conformance tier, `ventra-conform server --url
 * URL`: a case drives any Ventra server black-box over the wire (spec/wire.md,
 * auth.md, delivery.md) with the protocol kit (vtc.h) and reports through
 * its context. Cases live in cases_<area>.c; cases.c lists every area. */
#ifndef VCL_LIVE_H
#define VCL_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "vtc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { VCL_MUST, VCL_SHOULD } vcl_level; /* SHOULD cases run only with --strict */

enum {
    VCL_NEEDS_CRASH =
        1u, /* needs --crash-cmd (kill -9 and restart the server at the same URL) */
    VCL_NEEDS_SERVER_KEY = 2u, /* needs --server-key-file (the 32-byte seed as 64 hex
                                  digits) to mint tokens */
    VCL_NEEDS_LIMITS =
        4u, /* needs a server with its rate limits on: runs only with --limits */
    VCL_SLOW =
        8u, /* waits on a spec timer (AUTH_TIMEOUT_S, ...): runs only with --slow */
    VCL_NEEDS_CLOSED_REGISTRATION =
        16u /* needs a server whose registration is closed (AUTH-102): runs only with
               --registration-closed, which runs nothing else */
};

typedef struct vcl_ctx vcl_ctx;

typedef struct vcl_case {
    const char *id;   /* stable "area/name", e.g. "auth/forged-signature" */
    const char *reqs; /* requirement IDs it checks, space separated: "AUTH-21 AUTH-20" */
    vcl_level level;
    unsigned needs;    /* VCL_NEEDS_* and VCL_SLOW bits */
    const char *title; /* one line */
    void (*run)(vcl_ctx *ctx);
} vcl_case;

/* Ends each cases_<area>.c: emits `const vcl_case vcl_cases_<area>[]` (the
 * case initializers given) and `const size_t vcl_cases_<area>_count`. */
#define VCL_CASES(area, ...)                                                             \
    extern const vcl_case vcl_cases_##area[];                                            \
    extern const size_t vcl_cases_##area##_count;                                        \
    const vcl_case vcl_cases_##area[] = {__VA_ARGS__};                                   \
    const size_t vcl_cases_##area##_count = sizeof vcl_cases_##area / sizeof(vcl_case)

/* The target: its port (for the vtc_* helpers that take one) and host. */
int vcl_port(const vcl_ctx *ctx);
const char *vcl_host(const vcl_ctx *ctx);

/* (Additions.) The --url as given, and the --ca file (NULL when none). */
const char *vcl_url(const vcl_ctx *ctx);
const char *vcl_ca_file(const vcl_ctx *ctx);

/* (Addition.) Adds a line to the case's log, which a failure prints with
 * the frames (the client tier logs what the client under test reported). */
__attribute__((format(printf, 2, 3))) void vcl_log(vcl_ctx *ctx, const char *fmt, ...);

/* Names the step now running; a failure shows it. */
__attribute__((format(printf, 2, 3))) void vcl_step(vcl_ctx *ctx, const char *fmt, ...);

/* End the case now: FAIL (the server did something the spec forbids),
 * SKIP (a precondition is missing), UNIMPLEMENTED (the server does not
 * offer what the case needs, e.g. a spec RPC answered ERROR_UNKNOWN_RPC).
 * Everything vcl_* handed out is freed afterwards. */
__attribute__((format(printf, 2, 3))) _Noreturn void vcl_failf(vcl_ctx *ctx,
                                                               const char *fmt, ...);
__attribute__((format(printf, 2, 3))) _Noreturn void vcl_skip(vcl_ctx *ctx,
                                                              const char *fmt, ...);
__attribute__((format(printf, 2, 3))) _Noreturn void
vcl_unimplemented(vcl_ctx *ctx, const char *fmt, ...);

/* Fails the case with the printf-style message when !|cond|. */
#define VCL_CHECK(ctx, cond, ...)                                                        \
    do {                                                                                 \
        if (!(cond))                                                                     \
            vcl_failf((ctx), __VA_ARGS__);                                               \
    } while (0)

/* Fails the case when the error code |got| (vtc_error_code: 0 = OK, -1 =
 * no response) is not |want|; both are printed by name (vt_err_name). */
#define VCL_CODE(ctx, got, want) vcl_check_code((ctx), (got), (want), #got)
void vcl_check_code(vcl_ctx *ctx, int got, int want, const char *what);

/* A new connection with the default handshake (fails the case when it
 * does not come up). Owned by the context: freed after the case whatever
 * its outcome; do not free it. */
vtc_client *vcl_client(vcl_ctx *ctx);

/* (Addition.) A raw WebSocket connection with |opts| (NULL: default), as
 * vtc_ws_connect; NULL when no TCP connection came up. Freed after the
 * case. */
vtc_ws *vcl_ws(vcl_ctx *ctx, const vtc_ws_opts *opts, int *status);

/* A fresh account (a name unique to this run, starting with |prefix|),
 * registered and online; freed after the case. */
vtc_device *vcl_account(vcl_ctx *ctx, const char *prefix);

/* A second device of |owner|'s account, linked and logged in; freed after
 * the case. */
vtc_device *vcl_link(vcl_ctx *ctx, vtc_device *owner);

/* Runs |fn|(|p|) after the case, whatever its outcome (last in, first
 * out), e.g. vcl_defer(ctx, free, buf). */
void vcl_defer(vcl_ctx *ctx, void (*fn)(void *), void *p);

/* Runs --crash-cmd (kill -9 and restart the server at the same URL) and
 * waits (at most 30 s) until the server serves again; fails the case when
 * the command fails or the server does not come back. */
void vcl_crash_restart(vcl_ctx *ctx);

/* The server's key pair from --server-key-file; SKIPs without one. */
void vcl_server_keypair(vcl_ctx *ctx, uint8_t pk[32], uint8_t sk[64]);

/* A token of the AUTH-50 form signed with the server key (SKIPs without
 * --server-key-file); freed after the case. */
char *vcl_token_mint(vcl_ctx *ctx, const char *username, uint32_t device_id, uint64_t iat,
                     uint64_t exp);

#ifdef __cplusplus
}
#endif

#endif
