/* Helpers shared by the live cases (cases_<area>.c): the names of error
 * codes, responses, events and buffers owned by the case's context, the
 * GetChallenge/GetServerInfo/Register/Login steps of spec/auth.md and the
 * Ping of spec/wire.md 5.2. Like everything vcl_* hands out (live.h), what
 * these return is freed after the case whatever its outcome. */
#ifndef VCL_CASE_UTIL_H
#define VCL_CASE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "live.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The name of the code |code| (vtc_error_code: 0 = OK, -1 = no response):
 * "no response", "OK", its ERROR_* name, or "unknown code". A static
 * string. */
const char *vcl_code_name(int code);

/* Fails the case (|what| names the call) unless |r| is answered |want|
 * (0: success); frees |r|. */
void vcl_expect_code(vcl_ctx *ctx, Ventra__V1__Response *r, int want, const char *what);

/* Makes the case UNIMPLEMENTED ("|what| answered ERROR_UNKNOWN_RPC") when
 * |code| is VT_ERR_UNKNOWN_RPC: the server does not offer the RPC. */
void vcl_unimplemented_if_unknown(vcl_ctx *ctx, int code, const char *what);

/* Fails the case (|what| names the call) unless |r| succeeded with the body
 * |body| (a VENTRA__V1__RESPONSE__BODY_* value). Does not free |r|; returns
 * it. */
Ventra__V1__Response *vcl_expect_body(vcl_ctx *ctx, Ventra__V1__Response *r, int body,
                                      const char *what);

/* vcl_expect_body on |r|, which is freed after the case. */
Ventra__V1__Response *vcl_ok_body(vcl_ctx *ctx, Ventra__V1__Response *r, int body,
                                  const char *what);

/* Hand |r|, |e|, |d| or |c| (each may be NULL) to the context: freed after
 * the case. Each returns its argument. */
Ventra__V1__Response *vcl_keep(vcl_ctx *ctx, Ventra__V1__Response *r);
Ventra__V1__Event *vcl_hold_event(vcl_ctx *ctx, Ventra__V1__Event *e);
vtc_device *vcl_hold_device(vcl_ctx *ctx, vtc_device *d);
vtc_client *vcl_hold_client(vcl_ctx *ctx, vtc_client *c);

/* |n| zeroed bytes (at least one); fails the case when out of memory.
 * Freed after the case. */
void *vcl_alloc(vcl_ctx *ctx, size_t n);

/* An empty message buffer for vtc_ws_recv and friends; fails the case when
 * out of memory. Freed (with what it holds) after the case. */
vtc_ws_msg *vcl_msg(vcl_ctx *ctx);

/* A fresh identity key pair (vtc_new_identity), freed after the case. */
vt_identity *vcl_identity(vcl_ctx *ctx);

/* GetChallenge(|purpose|) on |c|, which must give a 32-byte nonce: into
 * |nonce|. Fails the case otherwise. */
void vcl_challenge(vcl_ctx *ctx, vtc_client *c, int purpose, uint8_t nonce[32]);

/* GetServerInfo on |c|, which must give a 32-byte server key: into |key|.
 * Fails the case otherwise. */
void vcl_server_key(vcl_ctx *ctx, vtc_client *c, uint8_t key[32]);

/* The code of a Register of |name| with identity key |ik| (32 bytes) and
 * the 32-byte |nonce| on |c|, signed by |signer| over (|key|, |nonce|,
 * |signed_name|, |ik|) (spec/auth.md Registration). */
int vcl_register_code(vtc_client *c, const vt_identity *signer, const uint8_t key[32],
                      const uint8_t *nonce, const char *signed_name, const char *name,
                      const uint8_t *ik);

/* The code of a Login of |user|/|dev| with the 32-byte |nonce| on |c|,
 * signed by |signer| over (|key|, |nonce|, |user|, |dev|) (spec/auth.md
 * Login). */
int vcl_login_code(vtc_client *c, const vt_identity *signer, const uint8_t key[32],
                   const uint8_t *nonce, const char *user, uint32_t dev);

/* Sends the |len| raw bytes |data| on |c|; the next Response must be the
 * error |code| with the id |id| and no body (WIRE-43). Fails the case
 * otherwise (|what| names the step). Returns the Response, freed after the
 * case. */
Ventra__V1__Response *vcl_expect_raw_error(vcl_ctx *ctx, vtc_client *c, const void *data,
                                           size_t len, uint32_t id, int code,
                                           const char *what);

/* An encoded Frame{request{|id|, ping{|nonce|}}} into |out| (|cap| bytes;
 * fails the case when too small, as vtc_raw_request); returns its length. */
size_t vcl_ping_frame(uint8_t *out, size_t cap, uint32_t id, uint64_t nonce);

/* A Ping with |nonce| on |c| must be answered with its PingResponse: the
 * connection still serves (and its count of bad frames in a row is reset,
 * WIRE-27). Fails the case otherwise. */
void vcl_expect_ping_ok(vcl_ctx *ctx, vtc_client *c, uint64_t nonce);

#ifdef __cplusplus
}
#endif

#endif
