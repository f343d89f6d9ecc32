/* Live cases of rate limiting (spec/wire.md section 4.3): a refused
 * request says when to retry and has no effect (WIRE-70), and the floors
 * below which a server must not refuse (WIRE-71). They need the server's
 * limits on (--limits) and spend few registrations, as a server applies
 * its per-address registration limit to the whole run. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "live.h"
#include "ventra/err.h"
#include "vt_constants.h"

/* The number of groups ListGroups lists for |d|. */
static size_t group_count(vcl_ctx *ctx, vtc_device *d)
{
    Ventra__V1__ListGroupsRequest lg = VENTRA__V1__LIST_GROUPS_REQUEST__INIT;
    Ventra__V1__Response *r =
        vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_LIST_GROUPS, &lg);
    int code = vtc_error_code(r);
    size_t n = code == 0 && r->list_groups != NULL ? r->list_groups->n_group_ids : 0;

    vtc_response_free(r);
    VCL_CHECK(ctx, code == 0, "ListGroups answered %s", vcl_code_name(code));
    return n;
}

/* WIRE-70: CreateGroup repeated (it changes state, so an executed request
 * shows) until a rate limit refuses one: the refusal is RATE_LIMITED with
 * retry_after_ms of at least 1 and no body, and no group was created for
 * it. A server with no limit that covers 200 CreateGroups is skipped. */
static void refused_not_executed(vcl_ctx *ctx)
{
    enum { TRIES = 200 };
    vtc_device *alice = vcl_account(ctx, "alice");
    size_t created = 0, n;
    uint32_t retry = 0;
    bool limited = false;

    vcl_step(ctx, "CreateGroup until a rate limit refuses one (at most %d)", TRIES);
    for (int i = 0; i < TRIES && !limited; i++) {
        Ventra__V1__CreateGroupRequest cg = VENTRA__V1__CREATE_GROUP_REQUEST__INIT;
        Ventra__V1__Response *r =
            vtc_call_body(alice->c, VENTRA__V1__REQUEST__BODY_CREATE_GROUP, &cg);
        int code = vtc_error_code(r);
        bool body = r != NULL && r->body_case != VENTRA__V1__RESPONSE__BODY__NOT_SET;

        if (code == VT_ERR_RATE_LIMITED) {
            limited = true;
            retry = r->error->retry_after_ms;
        }
        vtc_response_free(r);
        if (code == VT_ERR_UNKNOWN_RPC)
            vcl_unimplemented(ctx, "CreateGroup answered ERROR_UNKNOWN_RPC");
        VCL_CHECK(ctx, code == 0 || code == VT_ERR_RATE_LIMITED,
                  "CreateGroup %d answered %s, want OK or RATE_LIMITED", i + 1,
                  vcl_code_name(code));
        VCL_CHECK(ctx, code == 0 || !body, "RATE_LIMITED came with a body");
        if (code == 0)
            created++;
    }
    if (!limited)
        vcl_skip(ctx, "no rate limit refused any of %d CreateGroups", TRIES);
    VCL_CHECK(ctx, retry >= 1, "RATE_LIMITED with retry_after_ms %u, want at least 1",
              retry);

    vcl_step(ctx, "the refused CreateGroup created nothing: %zu groups", created);
    n = group_count(ctx, alice);
    VCL_CHECK(ctx, n == created,
              "ListGroups lists %zu groups after %zu were created: the refused request "
              "was executed",
              n, created);
}

/* WIRE-71: 100 requests within one second on one connection are not
 * refused (Pings, at most MAX_INFLIGHT_REQUESTS in flight). */
static void hundred_requests_per_second(vcl_ctx *ctx)
{
    enum { N = 100 };
    vtc_client *c = vcl_client(ctx);
    Ventra__V1__Request *req = vcl_alloc(ctx, N * sizeof *req);
    Ventra__V1__PingRequest *pr = vcl_alloc(ctx, N * sizeof *pr);
    uint32_t ids[N];
    size_t sent = 0, done = 0;
    int64_t t0 = vtc_now_ms();

    vcl_step(ctx, "%d Pings, pipelined", N);
    while (done < N) {
        Ventra__V1__Response *r;
        int code;
        bool ok;

        while (sent < N && sent - done < VT_MAX_INFLIGHT_REQUESTS) {
            ventra__v1__request__init(&req[sent]);
            ventra__v1__ping_request__init(&pr[sent]);
            pr[sent].nonce = sent + 1;
            req[sent].body_case = VENTRA__V1__REQUEST__BODY_PING;
            req[sent].ping = &pr[sent];
            ids[sent] = vtc_send_request(c, &req[sent]);
            sent++;
        }
        r = vtc_wait_response(c, ids[done], 5000);
        code = vtc_error_code(r);
        ok = r != NULL && r->body_case == VENTRA__V1__RESPONSE__BODY_PING &&
             r->ping->nonce == done + 1;
        vtc_response_free(r);
        VCL_CHECK(ctx, ok,
                  "Ping %zu of %d (%lld ms after the first) answered %s, want a "
                  "PingResponse",
                  done + 1, N, (long long)(vtc_now_ms() - t0), vcl_code_name(code));
        done++;
    }
}

/* WIRE-71: an account whose two devices together send 190 messages in a
 * burst (19 per second averaged over 10 seconds, each connection under
 * 100 requests in any second) is not refused. */
static void account_send_floor(vcl_ctx *ctx)
{
    enum { PER_DEVICE = 95 };
    vtc_device *alice1 = vcl_account(ctx, "alice");
    vtc_device *alice2 = vcl_link(ctx, alice1);
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *from[2] = {alice1, alice2};
    const uint32_t r1[] = {1};
    vtc_send_buf *b = vcl_alloc(ctx, sizeof *b);
    int64_t t0 = vtc_now_ms();

    for (int k = 0; k < 2; k++) {
        uint32_t self = k == 0 ? 2 : 1, ids[VT_MAX_INFLIGHT_REQUESTS] = {0};
        size_t sent = 0, done = 0;

        vcl_step(ctx, "%d sends from alice/%d, pipelined", PER_DEVICE, k + 1);
        while (done < PER_DEVICE) {
            Ventra__V1__Response *r;
            int code;

            while (sent < PER_DEVICE && sent - done < VT_MAX_INFLIGHT_REQUESTS) {
                uint8_t mid[16];

                vtc_random16(mid);
                vtc_send_build(b, bob->username, r1, 1, &self, 1, "f", mid, NULL);
                ids[sent % VT_MAX_INFLIGHT_REQUESTS] =
                    vtc_send_request(from[k]->c, &b->req);
                sent++;
            }
            r = vtc_wait_response(from[k]->c, ids[done % VT_MAX_INFLIGHT_REQUESTS],
                                  10000);
            code = vtc_error_code(r);
            vtc_response_free(r);
            VCL_CHECK(
                ctx, code == 0,
                "send %zu of alice/%d (%zu of the account, %lld ms after the first) "
                "answered %s, want a SendResponse",
                done + 1, k + 1, (size_t)k * PER_DEVICE + done + 1,
                (long long)(vtc_now_ms() - t0), vcl_code_name(code));
            done++;
        }
    }
}

VCL_CASES(
    ratelimit,
    {"ratelimit/refused-not-executed", "WIRE-70", VCL_MUST, VCL_NEEDS_LIMITS,
     "a request refused by a rate limit carries retry_after_ms >= 1 and has no effect",
     refused_not_executed},
    {"ratelimit/hundred-requests-per-second", "WIRE-71", VCL_MUST, VCL_NEEDS_LIMITS,
     "100 requests within one second on one connection are not refused",
     hundred_requests_per_second},
    {"ratelimit/account-send-floor", "WIRE-71", VCL_MUST, VCL_NEEDS_LIMITS,
     "190 sends by two devices of one account in a burst are not refused",
     account_send_floor});
