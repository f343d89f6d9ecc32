/* libventra-client's public API (client/include/ventra/client.h): opening
 * the store, the loop, the account (Register, linking AUTH-70/71, devices,
 * DeleteAccount), history, and trust (spec/crypto.md section 9, SEC-5). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "client_int.h"
#include "ventra/crypto.h"
#include "ventra/frame.h"
#include "ventra/safety.h"
#include "ventra/v1/e2e.pb-c.h"
#include "ventra/v1/e2e.pb.h"
#include "vt_constants.h"

uint64_t vc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t vc_now_s(void)
{
    return vc_now_ms() / 1000u;
}

int vc_left(uint64_t deadline_ms)
{
    uint64_t now = vc_now_ms();
    if (now >= deadline_ms)
        return 0;
    return deadline_ms - now > 0x7fffffff ? 0x7fffffff : (int)(deadline_ms - now);
}

void vc_notice(vt_client *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (c->cb.notice == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->cb.notice(c->ud, buf);
}

vt_err vc_set_u64(vt_client *c, const char *name, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    return vc_store_set(c->store, name, num, strlen(num));
}

uint64_t vc_get_u64(vt_client *c, const char *name, uint64_t dflt)
{
    char num[24];
    size_t len = 0;

    if (vc_store_get(c->store, name, num, sizeof num - 1, &len) != VT_OK)
        return dflt;
    num[len] = '\0';
    return strtoull(num, NULL, 10);
}

/* WIRE-6: ws only to a loopback host. */
static bool loopback(const char *h)
{
    return strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 ||
           strcmp(h, "localhost") == 0;
}

static vt_err parse_url(vt_client *c, const char *url)
{
    const char *p, *end, *colon;
    size_t hl;

    if (url == NULL || strlen(url) >= sizeof c->url)
        return VT_ERR_CONFIG;
    snprintf(c->url, sizeof c->url, "%s", url);
    if (strncmp(url, "wss://", 6) == 0) {
        c->tls = true;
        p = url + 6;
    } else if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
    } else {
        return VT_ERR_CONFIG;
    }
    end = strchr(p, '/');
    if (end == NULL)
        end = p + strlen(p);
    if (*p == '[') { /* [::1]:port */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL)
            return VT_ERR_CONFIG;
        hl = (size_t)(rb - p - 1);
        if (hl >= sizeof c->host)
            return VT_ERR_CONFIG;
        memcpy(c->host, p + 1, hl);
        c->host[hl] = '\0';
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        hl = (size_t)((colon ? colon : end) - p);
        if (hl == 0 || hl >= sizeof c->host)
            return VT_ERR_CONFIG;
        memcpy(c->host, p, hl);
        c->host[hl] = '\0';
    }
    c->port = c->tls ? 443 : 80;
    if (colon) {
        char *e;
        long port = strtol(colon + 1, &e, 10);
        if (e != end || port <= 0 || port > 65535)
            return VT_ERR_CONFIG;
        c->port = (int)port;
    }
    snprintf(c->path, sizeof c->path, "%s", *end ? end : VT_WS_PATH);
    if (!c->tls && !loopback(c->host))
        return VT_ERR_CONFIG;
    return VT_OK;
}

static void load_device(vt_client *c)
{
    uint8_t seed[32];
    size_t len = 0;

    if (c->id == NULL && vc_store_get_identity(c->store, seed) == VT_OK) {
        if (vt_identity_from_seed(&c->id, seed) != VT_OK)
            c->id = NULL;
    }
    vt_wipe(seed, sizeof seed);
    if (vc_store_get(c->store, "username", c->username, sizeof c->username - 1, &len) ==
        VT_OK)
        c->username[len] = '\0';
    else
        c->username[0] = '\0';
    c->device_id = (uint32_t)vc_get_u64(c, "device_id", 0);
    if (vc_store_get(c->store, "server_key", c->server_key, 32, &len) == VT_OK &&
        len == 32)
        c->have_server_key = true;
}

vt_err vt_client_open(vt_client **out, const vt_client_config *cfg,
                      const vt_client_callbacks *cb, void *ud)
{
    vt_client *c = NULL;
    char path[1024], url[256];
    size_t len = 0;
    vt_err err;

    if (out == NULL || cfg == NULL || cfg->data_dir == NULL || cfg->server_url == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (vt_crypto_init() != VT_OK)
        return VT_ERR_CRYPTO;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return VT_ERR_NO_MEMORY;
    if (cb)
        c->cb = *cb;
    c->ud = ud;
    c->st = VT_CLIENT_CONN_INITIAL;
    if ((err = parse_url(c, cfg->server_url)) != VT_OK)
        goto fail;
    if (cfg->ca_file)
        snprintf(c->ca_file, sizeof c->ca_file, "%s", cfg->ca_file);
    snprintf(c->device_name, sizeof c->device_name, "%s",
             cfg->device_name ? cfg->device_name : "");
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        err = VT_ERR_IO;
        goto fail;
    }
    snprintf(path, sizeof path, "%s/ventra.db", cfg->data_dir);
    err = vc_store_open(&c->store, path, cfg->passphrase ? cfg->passphrase : "",
                        cfg->passphrase ? cfg->passphrase_len : 0);
    if (err != VT_OK)
        goto fail;
    err = vc_store_get(c->store, "server_url", url, sizeof url - 1, &len);
    if (err == VT_OK) {
        url[len] = '\0';
        if (strcmp(url, c->url) != 0) {
            err = VT_ERR_CONFIG; /* bound to another server */
            goto fail;
        }
    } else if ((err = vc_store_set(c->store, "server_url", c->url, strlen(c->url))) !=
               VT_OK) {
        goto fail;
    }
    load_device(c);
    if ((err = vc_conn_init(c)) != VT_OK)
        goto fail;
    c->dirty_outbox = true;
    *out = c;
    return VT_OK;
fail:
    vc_store_close(c->store);
    vt_identity_free(c->id);
    free(c);
    return err;
}

void vt_client_close(vt_client *c)
{
    if (c == NULL)
        return;
    if (c->st != VT_CLIENT_CONN_CLOSED && c->st != VT_CLIENT_CONN_DISCONNECTED) {
        c->stopping = true;
        vc_conn_fire(c, VT_CLIENT_CONN_EV_STOP);
        /* let the close frame (1000) go out */
        for (int i = 0; i < 5 && c->closing; i++)
            (void)vc_conn_service(c, 20);
    }
    vc_conn_free(c);
    vt_identity_free(c->id);
    vc_store_close(c->store);
    vt_wipe(c, sizeof *c);
    free(c);
}

vt_err vt_client_start(vt_client *c)
{
    if (c == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (c->st == VT_CLIENT_CONN_CLOSED)
        c->st = VT_CLIENT_CONN_DISCONNECTED; /* a new run of the machine */
    if (c->st != VT_CLIENT_CONN_DISCONNECTED)
        return VT_OK;
    if (!(c->id && c->device_id && c->username[0]) && c->register_name[0] == '\0')
        return VT_ERR_STATE; /* nothing to authenticate as */
    c->close_why = VT_OK;
    c->backoff_n = 0;
    vc_conn_fire(c, VT_CLIENT_CONN_EV_START);
    return VT_OK;
}

void vt_client_stop(vt_client *c)
{
    if (c)
        vc_conn_fire(c, VT_CLIENT_CONN_EV_STOP);
}

vt_client_state vt_client_get_state(const vt_client *c)
{
    return vc_conn_public_state(c ? c->st : VT_CLIENT_CONN_DISCONNECTED);
}

/* The engine's work between socket passes: acks, prekeys, the outbox. It
 * may run requests to completion (nested loop passes) but never nests. */
static void work(vt_client *c)
{
    uint64_t deadline = vc_now_ms() + 10000;

    if (c->in_work || !vc_conn_authed(c))
        return;
    c->in_work = true;
    vc_flush_acks(c);
    if (vc_keys_work(c, deadline) == VT_OK && c->st == VT_CLIENT_CONN_LIVE)
        (void)vc_outbox_work(c, deadline);
    vc_flush_acks(c);
    c->in_work = false;
}

vt_err vt_client_service(vt_client *c, int timeout_ms)
{
    vt_err err;

    if (c == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    work(c);
    err = vc_conn_service(c, timeout_ms);
    work(c);
    return err;
}

vt_err vt_client_run(vt_client *c, int timeout_ms, bool (*done)(void *ud), void *ud)
{
    uint64_t deadline = vc_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    vt_err err;

    if (c == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    for (;;) {
        if (done && done(ud))
            return VT_OK;
        if (c->st == VT_CLIENT_CONN_CLOSED)
            return c->close_why != VT_OK ? c->close_why : VT_ERR_STATE;
        if (vc_left(deadline) == 0)
            return VT_ERR_UNAVAILABLE;
        err = vt_client_service(c, vc_left(deadline) > 100 ? 100 : vc_left(deadline));
        if (err != VT_OK)
            return err;
    }
}

static bool count_row(void *ud, const vc_outbox_row *row)
{
    (void)row;
    (*(size_t *)ud)++;
    return true;
}

bool vt_client_idle(const vt_client *c)
{
    size_t n = 0;

    if (c == NULL)
        return true;
    if (vc_store_outbox_each(c->store, count_row, &n) != VT_OK)
        return false;
    return n == 0 && vc_rpc_inflight(c) == 0 && c->n_acks == 0;
}

vt_err vc_ensure_authed(vt_client *c, uint64_t deadline_ms)
{
    vt_err err;

    if (vc_conn_authed(c))
        return VT_OK;
    if ((err = vt_client_start(c)) != VT_OK)
        return err;
    while (!vc_conn_authed(c) && vc_left(deadline_ms) > 0) {
        if (c->st == VT_CLIENT_CONN_CLOSED)
            return c->close_why != VT_OK ? c->close_why : VT_ERR_STATE;
        if ((err = vc_conn_service(
                 c, vc_left(deadline_ms) > 100 ? 100 : vc_left(deadline_ms))) != VT_OK)
            return err;
    }
    return vc_conn_authed(c) ? VT_OK : VT_ERR_UNAVAILABLE;
}

/* Runs until authenticated and the prekeys are up (AUTH-23). */
static vt_err run_until_ready(vt_client *c, int timeout_ms)
{
    uint64_t deadline = vc_now_ms() + (uint64_t)timeout_ms;
    vt_err err = vc_ensure_authed(c, deadline);

    while (err == VT_OK && !c->prekeys_ok && vc_left(deadline) > 0) {
        if (c->st == VT_CLIENT_CONN_CLOSED)
            return c->close_why != VT_OK ? c->close_why : VT_ERR_STATE;
        err = vt_client_service(c, 50);
    }
    if (err == VT_OK && !c->prekeys_ok)
        err = VT_ERR_UNAVAILABLE;
    return err;
}

/* ---- the account ---------------------------------------------------------- */

static bool username_ok(const char *u)
{
    size_t n = u ? strlen(u) : 0;
    if (n < VT_MIN_USERNAME_LEN || n > VT_MAX_USERNAME_LEN || u[0] < 'a' || u[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++) /* AUTH-1 */
        if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9') ||
              u[i] == '.' || u[i] == '_' || u[i] == '-'))
            return false;
    return true;
}

static vt_err new_identity(vt_client *c)
{
    uint8_t seed[32];
    vt_err err;

    if (c->id)
        return VT_OK;
    err = vt_identity_generate(&c->id);
    if (err == VT_OK)
        err = vt_identity_seed(c->id, seed);
    if (err == VT_OK)
        err = vc_store_put_identity(c->store, seed);
    vt_wipe(seed, sizeof seed);
    if (err != VT_OK) {
        vt_identity_free(c->id);
        c->id = NULL;
    }
    return err;
}

vt_err vt_client_register(vt_client *c, const char *username, int timeout_ms)
{
    vt_err err;

    if (c == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (c->device_id != 0)
        return VT_ERR_STATE;
    if (!username_ok(username))
        return VT_ERR_INVALID_ARGUMENT;
    if ((err = new_identity(c)) != VT_OK)
        return err;
    snprintf(c->register_name, sizeof c->register_name, "%s", username);
    err = run_until_ready(c, timeout_ms);
    c->register_name[0] = '\0';
    return err;
}

vt_err vt_client_link_begin(vt_client *c, char *code, size_t cap)
{
    ventra_v1_LinkCode lc;
    uint8_t buf[128];
    size_t len = 0;
    vt_err err;

    if (c == NULL || code == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (c->device_id != 0)
        return VT_ERR_STATE;
    if ((err = new_identity(c)) != VT_OK)
        return err;
    memset(&lc, 0, sizeof lc);
    memcpy(lc.identity_key.bytes, vt_identity_public(c->id), 32);
    lc.identity_key.size = 32;
    snprintf(lc.device_name, sizeof lc.device_name, "%s", c->device_name);
    /* AUTH-70: canonical (nanopb writes field 1, then 2 when not empty) */
    err = vt_msg_encode_nanopb(ventra_v1_LinkCode_fields, &lc, buf, sizeof buf, &len);
    if (err != VT_OK)
        return err;
    if (cap < sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return VT_ERR_BUFFER_TOO_SMALL;
    sodium_bin2base64(code, cap, buf, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return VT_OK;
}

vt_err vt_client_link_finish(vt_client *c, const char *reply, int timeout_ms)
{
    const char *slash;
    char user[33], num[16];
    char *e;
    unsigned long dev;
    vt_err err;

    if (c == NULL || reply == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (c->id == NULL || c->device_id != 0)
        return VT_ERR_STATE;
    slash = strchr(reply, '/'); /* AUTH-71: exactly user/N */
    if (slash == NULL || (size_t)(slash - reply) >= sizeof user || slash[1] < '1' ||
        slash[1] > '9')
        return VT_ERR_INVALID_ARGUMENT;
    memcpy(user, reply, (size_t)(slash - reply));
    user[slash - reply] = '\0';
    dev = strtoul(slash + 1, &e, 10);
    if (*e != '\0' || dev == 0 || dev > 0xffffffffUL || !username_ok(user))
        return VT_ERR_INVALID_ARGUMENT;
    snprintf(num, sizeof num, "%lu", dev);
    if ((err = vc_store_set(c->store, "username", user, strlen(user))) != VT_OK ||
        (err = vc_store_set(c->store, "device_id", num, strlen(num))) != VT_OK)
        return err;
    snprintf(c->username, sizeof c->username, "%s", user);
    c->device_id = (uint32_t)dev;
    err = run_until_ready(c, timeout_ms);
    if (err != VT_OK && c->st == VT_CLIENT_CONN_CLOSED) {
        /* not linked after all: back to a fresh installation */
        VC_IGNORE(vc_store_unset(c->store, "device_id"));
        c->device_id = 0;
    }
    return err;
}

vt_err vt_client_link_approve(vt_client *c, const char *code, char *reply, size_t cap,
                              int timeout_ms)
{
    uint64_t deadline = vc_now_ms() + (uint64_t)timeout_ms;
    uint8_t raw[128], t[VT_TRANSCRIPT_MAX];
    size_t raw_len = 0, tl = 0;
    ventra_v1_LinkCode lc;
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    vt_err err;

    if (c == NULL || code == NULL || reply == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (sodium_base642bin(raw, sizeof raw, code, strlen(code), NULL, &raw_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return VT_ERR_INVALID_ARGUMENT;
    memset(&lc, 0, sizeof lc);
    err = vt_msg_decode_nanopb(&ventra__v1__link_code__descriptor,
                               ventra_v1_LinkCode_fields, raw, raw_len, sizeof raw, &lc);
    if (err != VT_OK || lc.identity_key.size != 32) /* AUTH-70 */
        return VT_ERR_INVALID_ARGUMENT;
    if ((err = vc_ensure_authed(c, deadline)) != VT_OK)
        return err;
    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_add_device_tag;
    memcpy(req.body.add_device.identity_key.bytes, lc.identity_key.bytes, 32);
    req.body.add_device.identity_key.size = 32;
    snprintf(req.body.add_device.device_name, sizeof req.body.add_device.device_name,
             "%s", lc.device_name);
    err = vt_transcript_link(t, sizeof t, &tl, c->server_key, c->username, c->device_id,
                             lc.identity_key.bytes);
    if (err == VT_OK)
        err = vt_identity_sign(c->id, req.body.add_device.signature.bytes, t, tl);
    req.body.add_device.signature.size = 64;
    if (err == VT_OK)
        err = vc_rpc_call(c, &req, &resp, deadline);
    if (err == VT_OK) {
        int n = snprintf(reply, cap, "%s/%u", c->username,
                         resp->kind.response.body.add_device.device_id);
        if (n < 0 || (size_t)n >= cap)
            err = VT_ERR_BUFFER_TOO_SMALL;
        /* our own device list changed: list it again before the next send */
        c->own_devices_listed = false;
    }
    free(resp);
    return err;
}

const char *vt_client_username(const vt_client *c)
{
    return c && c->username[0] ? c->username : NULL;
}

uint32_t vt_client_device_id(const vt_client *c)
{
    return c ? c->device_id : 0;
}

vt_err vt_client_devices(vt_client *c, vt_client_device *out, size_t cap, size_t *n,
                         int timeout_ms)
{
    uint64_t deadline = vc_now_ms() + (uint64_t)timeout_ms;
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    vt_err err;

    if (c == NULL || n == NULL || (out == NULL && cap > 0))
        return VT_ERR_INVALID_ARGUMENT;
    if ((err = vc_ensure_authed(c, deadline)) != VT_OK)
        return err;
    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_list_devices_tag;
    err = vc_rpc_call(c, &req, &resp, deadline);
    if (err == VT_OK) {
        const ventra_v1_ListDevicesResponse *l = &resp->kind.response.body.list_devices;
        *n = l->devices_count;
        for (size_t i = 0; i < l->devices_count && i < cap; i++) {
            memset(&out[i], 0, sizeof out[i]);
            out[i].device_id = l->devices[i].device_id;
            snprintf(out[i].name, sizeof out[i].name, "%s", l->devices[i].name);
            out[i].created_at = l->devices[i].created_at;
            out[i].is_this_device = l->devices[i].device_id == c->device_id;
        }
    }
    free(resp);
    return err;
}

static bool forget_sessions(void *ud, const char *username)
{
    vt_client *c = ud;
    VC_IGNORE(vc_store_delete_sessions(c->store, username, 0));
    return true;
}

void vc_forget_device(vt_client *c)
{
    /* AUTH-87: token, device id, identity key and sessions; the contacts'
     * recorded keys and the history stay (AUTH-94) */
    VC_IGNORE(vc_store_unset(c->store, "token"));
    VC_IGNORE(vc_store_unset(c->store, "token_exp"));
    VC_IGNORE(vc_store_unset(c->store, "device_id"));
    VC_IGNORE(vc_store_delete_identity(c->store));
    VC_IGNORE(vc_store_each_contact(c->store, forget_sessions, c));
    c->device_id = 0;
    vt_identity_free(c->id);
    c->id = NULL;
}

vt_err vt_client_remove_device(vt_client *c, uint32_t device_id, int timeout_ms)
{
    uint64_t deadline = vc_now_ms() + (uint64_t)timeout_ms;
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    vt_err err;

    if (c == NULL || device_id == 0)
        return VT_ERR_INVALID_ARGUMENT;
    if ((err = vc_ensure_authed(c, deadline)) != VT_OK)
        return err;
    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_remove_device_tag;
    req.body.remove_device.device_id = device_id;
    err = vc_rpc_call(c, &req, &resp, deadline);
    free(resp);
    if (err == VT_OK && device_id != c->device_id)
        vc_drop_device(c, c->username, device_id);
    return err;
}

vt_err vt_client_rotate_prekeys(vt_client *c, int timeout_ms)
{
    uint64_t deadline = vc_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    vt_err err;

    if (c == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (c->id == NULL || c->device_id == 0 || c->in_work)
        return VT_ERR_STATE; /* no device yet, or called from a callback */
    /* CRYPTO-22, CRYPTO-28: the same upload the rotation timer asks for
     * (keys.c); the replaced keys stay for their grace period (CRYPTO-23,
     * CRYPTO-30). When it fails the flag stays set and the engine's next
     * pass uploads them. */
    c->need_signed = true;
    if ((err = vc_ensure_authed(c, deadline)) != VT_OK)
        return err;
    c->in_work = true;
    err = vc_keys_work(c, deadline);
    c->in_work = false;
    return err;
}

vt_err vt_client_delete_account(vt_client *c, int timeout_ms)
{
    uint64_t deadline = vc_now_ms() + (uint64_t)timeout_ms;
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    uint8_t t[VT_TRANSCRIPT_MAX];
    size_t tl = 0;
    vt_err err;

    if (c == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if ((err = vc_ensure_authed(c, deadline)) != VT_OK)
        return err;
    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_get_challenge_tag;
    req.body.get_challenge.purpose =
        ventra_v1_ChallengePurpose_CHALLENGE_PURPOSE_DELETE_ACCOUNT;
    if ((err = vc_rpc_call(c, &req, &resp, deadline)) != VT_OK)
        goto out;
    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_delete_account_tag;
    {
        const ventra_v1_GetChallengeResponse *ch =
            &resp->kind.response.body.get_challenge;
        ventra_v1_DeleteAccountRequest *d = &req.body.delete_account;
        memcpy(d->nonce.bytes, ch->nonce.bytes, ch->nonce.size);
        d->nonce.size = ch->nonce.size;
        err =
            vt_transcript_delete_account(t, sizeof t, &tl, c->server_key, ch->nonce.bytes,
                                         ch->nonce.size, c->username, c->device_id);
        if (err == VT_OK)
            err = vt_identity_sign(c->id, d->signature.bytes, t, tl);
        d->signature.size = 64;
    }
    free(resp);
    resp = NULL;
    if (err == VT_OK)
        err = vc_rpc_call(c, &req, &resp, deadline);
    if (err == VT_OK) {
        vc_forget_device(c); /* SM-3: nothing of this account authenticates again */
        vt_client_stop(c);
    }
out:
    free(resp);
    return err;
}

/* ---- messages ------------------------------------------------------------- */

static vt_err add_outgoing_history(vt_client *c, const char *peer, const uint8_t *gid,
                                   const uint8_t mid[16], const char *text, uint64_t at)
{
    vc_history_row h;

    memset(&h, 0, sizeof h);
    snprintf(h.peer, sizeof h.peer, "%s", gid ? "" : peer);
    if (gid) {
        memcpy(h.group_id, gid, 16);
        h.has_group = true;
    }
    snprintf(h.sender, sizeof h.sender, "%s", c->username);
    h.sender_device = c->device_id;
    memcpy(h.message_id, mid, 16);
    h.outgoing = true;
    snprintf(h.status, sizeof h.status, "QUEUED");
    h.sent_at_ms = at;
    h.text = (char *)text;
    h.text_len = strlen(text);
    return vc_store_add_history(c->store, &h);
}

static vt_err data_content(const char *text, const uint8_t *gid, uint64_t at,
                           uint8_t **out, size_t *len)
{
    ventra_v1_Content *ct = calloc(1, sizeof *ct);
    vt_err err;

    if (ct == NULL)
        return VT_ERR_NO_MEMORY;
    if (strlen(text) >= sizeof ct->body.data.text) {
        free(ct);
        return VT_ERR_TOO_LARGE;
    }
    ct->which_body = ventra_v1_Content_data_tag;
    snprintf(ct->body.data.text, sizeof ct->body.data.text, "%s", text);
    ct->body.data.sent_at_ms = at;
    if (gid) {
        memcpy(ct->body.data.group_id.bytes, gid, 16);
        ct->body.data.group_id.size = 16;
    }
    err = vc_encode_content(ct, out, len);
    vt_wipe(ct, sizeof *ct);
    free(ct);
    return err;
}

vt_err vt_client_send_text(vt_client *c, const char *to, const char *text,
                           uint8_t message_id[16])
{
    uint8_t mid[16], *content = NULL;
    size_t len = 0;
    uint64_t at = vc_now_ms();
    vt_err err;

    if (c == NULL || to == NULL || text == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (!username_ok(to))
        return VT_ERR_INVALID_ARGUMENT;
    if (c->device_id == 0)
        return VT_ERR_STATE;
    if ((err = data_content(text, NULL, at, &content, &len)) != VT_OK)
        return err;
    if ((err = vc_store_begin(c->store)) != VT_OK)
        goto out;
    err = vc_outbox_queue(c, to, NULL, content, len, mid);
    if (err == VT_OK)
        err = add_outgoing_history(c, to, NULL, mid, text, at);
    if (err == VT_OK)
        err = vc_store_commit(c->store);
    else
        vc_store_rollback(c->store);
    if (err == VT_OK && message_id)
        memcpy(message_id, mid, 16);
out:
    if (content)
        vt_wipe(content, len);
    free(content);
    return err;
}

vt_err vt_client_send_group_text(vt_client *c, const uint8_t group_id[16],
                                 const char *text, uint8_t message_id[16])
{
    char *name = NULL, **members = NULL;
    size_t n = 0, len = 0;
    uint8_t mid[16], first[16], *content = NULL;
    uint64_t at = vc_now_ms();
    vt_err err;

    if (c == NULL || group_id == NULL || text == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if ((err = vc_store_get_group(c->store, group_id, &name, &members, &n)) != VT_OK)
        return err;
    if ((err = data_content(text, group_id, at, &content, &len)) != VT_OK)
        goto out;
    if ((err = vc_store_begin(c->store)) != VT_OK)
        goto out;
    /* spec/delivery.md 8.4: one Send to our own other devices, whose id is
     * the message's (its status is the one shown), and one per other
     * member, each with its own message id (DELIV-20) */
    err = vc_outbox_queue(c, c->username, group_id, content, len, first);
    for (size_t i = 0; i < n && err == VT_OK; i++)
        if (strcmp(members[i], c->username) != 0)
            err = vc_outbox_queue(c, members[i], group_id, content, len, mid);
    if (err == VT_OK)
        err = add_outgoing_history(c, "", group_id, first, text, at);
    if (err == VT_OK)
        err = vc_store_commit(c->store);
    else
        vc_store_rollback(c->store);
    if (err == VT_OK && message_id)
        memcpy(message_id, first, 16);
out:
    if (content)
        vt_wipe(content, len);
    free(content);
    free(name);
    vc_store_free_names(members, n);
    return err;
}

vt_err vt_client_retry(vt_client *c, const uint8_t message_id[16])
{
    vc_history_row h;
    uint8_t *content = NULL;
    size_t len = 0;
    vt_err err;

    if (c == NULL || message_id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (c->device_id == 0)
        return VT_ERR_STATE;
    err = vc_store_get_history(c->store, c->username, message_id, &h);
    if (err != VT_OK)
        return err;
    if (!h.outgoing || strcmp(h.status, "FAILED") != 0)
        err = VT_ERR_STATE;
    else if (h.has_group)
        err = VT_ERR_INVALID_ARGUMENT; /* its per-member ids are gone */
    else
        err = data_content(h.text ? h.text : "", NULL, h.sent_at_ms, &content, &len);
    if (err == VT_OK)
        err = vc_outbox_retry(c, &h, content, len);
    if (content)
        vt_wipe(content, len);
    free(content);
    vc_history_row_clear(&h);
    return err;
}

vt_err vt_client_send_typing(vt_client *c, const char *to, bool started)
{
    ventra_v1_Content ct;
    uint8_t *content = NULL;
    size_t len = 0;
    vt_err err;

    if (c == NULL || to == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (c->st != VT_CLIENT_CONN_LIVE)
        return VT_ERR_UNAVAILABLE; /* DELIV-85: never queued */
    memset(&ct, 0, sizeof ct);
    ct.which_body = ventra_v1_Content_typing_tag;
    ct.body.typing.action = started ? ventra_v1_TypingAction_TYPING_ACTION_STARTED
                                    : ventra_v1_TypingAction_TYPING_ACTION_STOPPED;
    ct.body.typing.at_ms = vc_now_ms();
    if ((err = vc_encode_content(&ct, &content, &len)) != VT_OK)
        return err;
    err = vc_send_ephemeral(c, to, content, len, vc_now_ms() + 5000);
    free(content);
    return err;
}

vt_err vt_client_mark_read(vt_client *c, const char *from, const uint8_t message_id[16])
{
    ventra_v1_Content *ct;
    uint8_t *content = NULL;
    size_t len = 0;
    vt_err err;

    if (c == NULL || from == NULL || message_id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    ct = calloc(1, sizeof *ct);
    if (ct == NULL)
        return VT_ERR_NO_MEMORY;
    ct->which_body = ventra_v1_Content_receipt_tag;
    ct->body.receipt.type = ventra_v1_ReceiptType_RECEIPT_TYPE_READ;
    ct->body.receipt.message_ids_count = 1;
    memcpy(ct->body.receipt.message_ids[0].bytes, message_id, 16);
    ct->body.receipt.message_ids[0].size = 16;
    ct->body.receipt.at_ms = vc_now_ms();
    err = vc_encode_content(ct, &content, &len);
    free(ct);
    if (err == VT_OK)
        err = vc_store_set_history_status(c->store, from, message_id, "read");
    if (err == VT_OK)
        err = vc_outbox_queue(c, from, NULL, content, len, NULL);
    free(content);
    return err;
}

static vt_client_msg_status status_of(const char *s)
{
    static const char *const names[] = {"QUEUED", "SENDING",   "STALE_DEVICES", "HELD",
                                        "SENT",   "DELIVERED", "READ",          "FAILED"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0)
            return (vt_client_msg_status)i;
    if (strcmp(s, "read") == 0)
        return VT_MSG_READ;
    return VT_MSG_DELIVERED; /* "received" */
}

struct hist_ctx {
    bool (*fn)(void *ud, const vt_client_message *m, vt_client_msg_status st);
    void *ud;
};

static bool hist_row(void *ud, const vc_history_row *r)
{
    struct hist_ctx *h = ud;
    vt_client_message m;
    char conv[33];

    memset(&m, 0, sizeof m);
    if (r->has_group) {
        for (int i = 0; i < 16; i++)
            snprintf(conv + 2 * i, 3, "%02x", r->group_id[i]);
        m.conversation = conv;
        m.group_id = r->group_id;
    } else {
        m.conversation = r->peer;
    }
    m.sender = r->sender;
    m.sender_device = r->sender_device;
    m.message_id = r->message_id;
    m.text = r->text ? r->text : "";
    m.sent_at_ms = r->sent_at_ms;
    m.server_time_ms = r->server_ms;
    m.outgoing = r->outgoing;
    return h->fn(h->ud, &m, status_of(r->status));
}

static bool parse_group_hex(const char *s, uint8_t gid[16])
{
    if (s == NULL || strlen(s) != 32)
        return false;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return false;
        gid[i] = (uint8_t)v;
    }
    for (int i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

vt_err vt_client_history(vt_client *c, const char *conversation,
                         bool (*fn)(void *ud, const vt_client_message *m,
                                    vt_client_msg_status st),
                         void *ud)
{
    struct hist_ctx h = {fn, ud};
    uint8_t gid[16];
    bool is_group = parse_group_hex(conversation, gid);

    if (c == NULL || fn == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    return vc_store_each_history(c->store, is_group || !conversation ? "" : conversation,
                                 is_group ? gid : NULL, 0, SIZE_MAX, hist_row, &h);
}

/* ---- trust ---------------------------------------------------------------- */

struct contacts_ctx {
    vt_client *c;
    bool (*fn)(void *ud, const vt_client_contact *ct);
    void *ud;
    vt_err err;
};

static bool one_contact(void *ud, const char *username)
{
    struct contacts_ctx *x = ud;
    vc_device_row rows[16];
    size_t n = 0;
    vt_client_contact ct;

    memset(&ct, 0, sizeof ct);
    snprintf(ct.username, sizeof ct.username, "%s", username);
    x->err = vc_store_list_devices(x->c->store, username, rows, 16, &n);
    if (x->err != VT_OK)
        return false;
    ct.verified = n > 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        if (!rows[i].active)
            continue;
        ct.devices++;
        if (rows[i].trust != VC_TRUST_VERIFIED)
            ct.verified = false;
        if (rows[i].trust == VC_TRUST_CHANGED)
            ct.changed = true;
    }
    if (ct.devices == 0)
        ct.verified = false;
    vt_wipe(rows, sizeof rows);
    return x->fn(x->ud, &ct);
}

vt_err vt_client_contacts(vt_client *c, bool (*fn)(void *ud, const vt_client_contact *ct),
                          void *ud)
{
    struct contacts_ctx x = {c, fn, ud, VT_OK};
    vt_err err;

    if (c == NULL || fn == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vc_store_each_contact(c->store, one_contact, &x);
    return err != VT_OK ? err : x.err;
}

vt_err vt_client_safety_number(vt_client *c, const char *username, char *out, size_t cap,
                               int timeout_ms)
{
    vc_device_row rows[16];
    size_t n = 0;
    const vc_device_row *pick = NULL;
    vt_err err;

    if (c == NULL || username == NULL || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (c->id == NULL)
        return VT_ERR_STATE;
    err = vc_store_list_devices(c->store, username, rows, 16, &n);
    if (err == VT_OK && n == 0) {
        uint64_t deadline = vc_now_ms() + (uint64_t)timeout_ms;
        err = vc_ensure_authed(c, deadline);
        if (err == VT_OK)
            err = vc_devices_refresh(c, username, deadline);
        if (err == VT_OK)
            err = vc_store_list_devices(c->store, username, rows, 16, &n);
    }
    if (err != VT_OK)
        return err;
    /* the contact's lowest active device other than this one; a changed key
     * shows the new number (CRYPTO-145) */
    for (size_t i = 0; i < n && i < 16 && !pick; i++)
        if (rows[i].active &&
            !(strcmp(username, c->username) == 0 && rows[i].device_id == c->device_id))
            pick = &rows[i];
    if (pick == NULL)
        return VT_ERR_NOT_FOUND;
    err = vt_safety_compute(out, cap, true, NULL, vt_identity_public(c->id),
                            (const uint8_t *)c->username, strlen(c->username),
                            pick->trust == VC_TRUST_CHANGED ? pick->pending_key
                                                            : pick->identity_key,
                            (const uint8_t *)username, strlen(username));
    return err;
}

vt_err vt_client_verify(vt_client *c, const char *username)
{
    vc_device_row rows[16];
    size_t n = 0;
    vt_err err;

    if (c == NULL || username == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vc_store_list_devices(c->store, username, rows, 16, &n);
    if (err == VT_OK && n == 0)
        err = VT_ERR_NOT_FOUND;
    for (size_t i = 0; err == VT_OK && i < n && i < 16; i++) {
        if (rows[i].trust == VC_TRUST_CHANGED)
            continue; /* accept it first */
        rows[i].trust = VC_TRUST_VERIFIED;
        err = vc_store_put_device(c->store, &rows[i]);
    }
    return err;
}

vt_err vt_client_accept_identity(vt_client *c, const char *username)
{
    vt_err err;

    if (c == NULL || username == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vc_session_accept(c, username);
    if (err == VT_OK)
        vc_outbox_release_held(c, username);
    return err;
}
