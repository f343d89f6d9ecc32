/* ventrad's server-wide pieces: clocks, the device hub (which connection
 * speaks for which device, AUTH-65), the keyed rate limiters (spec/wire.md
 * 4.3), shutdown (WIRE-14) and the periodic expiry sweeps (DELIV-24,
 * DELIV-61, AUTH-73). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "net.h"
#include "server.h"

uint64_t vtd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t vtd_now_s(void)
{
    return vtd_now_ms() / 1000u;
}

uint64_t vtd_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- hub ---- */

static size_t hub_slot(vtd_account_id acct, uint32_t device_id)
{
    uint64_t h = (uint64_t)acct * 0x9E3779B97F4A7C15ull ^
                 (uint64_t)device_id * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h >> 32) % VTD_HUB_BUCKETS;
}

vt_srv_conn *vtd_hub_get(vtd_server *srv, vtd_account_id acct, uint32_t device_id)
{
    for (vt_srv_conn *c = srv->hub[hub_slot(acct, device_id)]; c; c = c->hub_next)
        if (c->acct == acct && c->device_id == device_id)
            return c;
    return NULL;
}

void vtd_hub_put(vtd_server *srv, vt_srv_conn *c)
{
    size_t s = hub_slot(c->acct, c->device_id);
    c->hub_next = srv->hub[s];
    srv->hub[s] = c;
}

void vtd_hub_remove(vtd_server *srv, vt_srv_conn *c)
{
    for (vt_srv_conn **p = &srv->hub[hub_slot(c->acct, c->device_id)]; *p;
         p = &(*p)->hub_next)
        if (*p == c) {
            *p = c->hub_next;
            c->hub_next = NULL;
            return;
        }
}

/* ---- limits ---- */

bool vtd_limit_take(vtd_server *srv, vtd_limit l, const void *key, size_t key_len,
                    uint32_t *retry_ms)
{
    if (!srv->cfg.limits[l].enabled || !srv->limiters[l])
        return true;
    return vtd_limiter_take(srv->limiters[l], key, key_len, vtd_now_ms(), retry_ms);
}

bool vtd_limit_check(vtd_server *srv, vtd_limit l, const void *key, size_t key_len,
                     uint32_t *retry_ms)
{
    if (!srv->cfg.limits[l].enabled || !srv->limiters[l])
        return true;
    return vtd_limiter_check(srv->limiters[l], key, key_len, vtd_now_ms(), retry_ms);
}

/* ---- shutdown and housekeeping ---- */

/* WIRE-14, spec/state/server_conn.md SM-104: SHUTDOWN moves every
 * connection to SHUTTING_DOWN, where requests that reach us during a short
 * grace are answered ERROR_UNAVAILABLE (none is left unanswered in a socket
 * buffer); GRACE_OVER then tells each and closes it with 1001. */
void vtd_server_begin_shutdown(vtd_server *srv)
{
    srv->shutting_down = true;
    srv->shutdown_deadline_ms = vtd_now_ms() + 5000;
    for (vt_srv_conn *c = srv->conns; c; c = c->next)
        vtd_conn_fire(c, VT_SERVER_CONN_EV_SHUTDOWN);
}

void vtd_server_close_all(vtd_server *srv)
{
    srv->closing_all = true;
    for (vt_srv_conn *c = srv->conns; c; c = c->next) {
        c->end_reason = VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_SHUTDOWN;
        vtd_conn_fire(c, VT_SERVER_CONN_EV_GRACE_OVER);
    }
}

void vtd_server_housekeeping(vtd_server *srv)
{
    uint64_t now = vtd_now_s();
    if (now - srv->last_housekeeping_s < 60 || srv->shutting_down)
        return;
    srv->last_housekeeping_s = now;
    if (vtd_store_op_begin(srv->store) != VT_OK)
        return;
    uint64_t now_ms = now * 1000u, expired = 0;
    size_t lapsed = 0;
    vt_err err = vtd_store_tokens_expire(srv->store, now);
    if (err == VT_OK)
        err = vtd_store_devices_expire(srv->store, now, &lapsed);
    if (err == VT_OK && now_ms > VT_DEDUP_WINDOW_S * 1000u)
        err = vtd_store_dedup_expire(srv->store, now_ms - VT_DEDUP_WINDOW_S * 1000u);
    if (err == VT_OK && now_ms > VT_QUEUE_RETENTION_S * 1000u)
        err = vtd_store_queue_expire(srv->store, now_ms - VT_QUEUE_RETENTION_S * 1000u,
                                     &expired);
    if (vtd_store_op_end(srv->store, err == VT_OK) != VT_OK || err != VT_OK)
        vtd_log(VTD_LOG_WARN, "housekeeping failed", "err=%s", vt_strerror(err));
    else if (lapsed || expired)
        vtd_log(VTD_LOG_INFO, "housekeeping", "lapsed_devices=%zu expired_messages=%llu",
                lapsed, (unsigned long long)expired);
    uint64_t total = 0;
    if (vtd_store_queue_total(srv->store, &total) == VT_OK)
        vtd_metrics_set_queue_depth(srv->metrics, total);
}
