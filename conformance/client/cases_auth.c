/* Client tier, auth: the pinned server key (spec/auth.md AUTH-11,
 * security.md SEC-8), the token (AUTH-54) and the link code and reply
 * (AUTH-70, AUTH-71), through the client API and the proxy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client_kit.h"

typedef struct key_swap {
    bool on;
    unsigned swapped;
} key_swap;

/* Flips a bit of the server key in every GetServerInfoResponse. */
static vck_verdict swap_key(void *ud, unsigned conn, vck_dir dir, const uint8_t *data,
                            size_t len, uint8_t **out, size_t *out_len)
{
    key_swap *s = ud;
    Ventra__V1__Frame *f;
    vck_verdict v = VCK_PASS;

    (void)conn;
    if (!s->on || dir != VCK_TO_CLIENT || (f = vck_decode(data, len)) == NULL)
        return VCK_PASS;
    if (f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE &&
        f->response->body_case == VENTRA__V1__RESPONSE__BODY_GET_SERVER_INFO &&
        f->response->get_server_info->server_key.len == 32) {
        f->response->get_server_info->server_key.data[0] ^= 0x01;
        if ((*out = vck_pack(f, out_len)) != NULL) {
            v = VCK_REPLACE;
            s->swapped++;
        }
    }
    ventra__v1__frame__free_unpacked(f, NULL);
    return v;
}

static bool is_auth(int body)
{
    return body == VENTRA__V1__REQUEST__BODY_LOGIN ||
           body == VENTRA__V1__REQUEST__BODY_RESUME ||
           body == VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT ||
           body == VENTRA__V1__REQUEST__BODY_ADD_DEVICE ||
           body == VENTRA__V1__REQUEST__BODY_DELETE_ACCOUNT;
}

static unsigned last_conn(vck_proxy *px)
{
    size_t n = 0;
    vck_rec *recs = vck_proxy_records(px, &n);
    unsigned c = n ? recs[n - 1].conn : 0;

    vck_recs_free(recs, n);
    return c;
}

static void server_key_changed(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    vck_client *k = vck_account(ctx, "cli", vck_proxy_url(px));
    key_swap s = {false, 0};
    unsigned conn;
    vck_rec *recs;
    size_t n = 0;

    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE");
    conn = last_conn(px);
    vck_proxy_set_hook(px, swap_key, &s);
    vck_proxy_lock(px);
    s.on = true;
    vck_proxy_unlock(px);
    vcl_step(ctx, "the client reconnects; GetServerInfo reports another key");
    vck_reopen(k);
    vck_pump(k, 3000);
    vck_proxy_lock(px);
    VCL_CHECK(ctx, s.swapped > 0,
              "the client sent no GetServerInfo (the case proves nothing)");
    vck_proxy_unlock(px);
    recs = vck_proxy_records(px, &n);
    for (size_t i = 0; i < n; i++) {
        int body;

        if (recs[i].conn <= conn || recs[i].dir != VCK_TO_SERVER)
            continue;
        body = vck_request_case(recs[i].data, recs[i].len);
        if (is_auth(body)) {
            vck_recs_free(recs, n);
            vcl_failf(ctx,
                      "after the server key changed the client sent a signed or token "
                      "request (body %d)",
                      body);
        }
    }
    vck_recs_free(recs, n);
    VCL_CHECK(ctx, !vck_is_live(k, NULL), "the client is LIVE with a changed server key");
}

/* AUTH-54: the token goes only in ResumeRequest; after BAD_TOKEN the client
 * logs in with a new challenge and never presents the token again. */
typedef struct token_watch {
    char token[600];
    bool refuse; /* answer the next Resume with ERROR_BAD_TOKEN */
    unsigned refused_conn;
} token_watch;

static vck_verdict watch_token(void *ud, unsigned conn, vck_dir dir, const uint8_t *data,
                               size_t len, uint8_t **out, size_t *out_len)
{
    token_watch *w = ud;
    Ventra__V1__Frame *f = vck_decode(data, len);
    vck_verdict v = VCK_PASS;

    if (f == NULL)
        return VCK_PASS;
    if (dir == VCK_TO_CLIENT && f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE &&
        w->token[0] == '\0') {
        const char *t =
            f->response->body_case == VENTRA__V1__RESPONSE__BODY_REGISTER_ACCOUNT
                ? f->response->register_account->token
            : f->response->body_case == VENTRA__V1__RESPONSE__BODY_LOGIN
                ? f->response->login->token
                : NULL;
        if (t != NULL)
            snprintf(w->token, sizeof w->token, "%s", t);
    }
    if (dir == VCK_TO_SERVER && w->refuse &&
        f->kind_case == VENTRA__V1__FRAME__KIND_REQUEST &&
        f->request->body_case == VENTRA__V1__REQUEST__BODY_RESUME) {
        if ((*out = vck_error_response(f->request->id, VT_ERR_BAD_TOKEN, out_len)) !=
            NULL) {
            v = VCK_ANSWER;
            w->refuse = false;
            w->refused_conn = conn;
        }
    }
    ventra__v1__frame__free_unpacked(f, NULL);
    return v;
}

static void token_use(vcl_ctx *ctx)
{
    vck_proxy *px = vck_proxy_start(ctx);
    token_watch w = {.refuse = false};
    vck_client *k;
    vck_rec *recs;
    size_t n = 0, tl;
    bool login_after = false, resumed = false;
    int64_t deadline;

    vck_proxy_set_hook(px, watch_token, &w);
    k = vck_account(ctx, "cli", vck_proxy_url(px));
    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE");
    vck_proxy_lock(px);
    VCL_CHECK(ctx, w.token[0] != '\0', "no token seen in the registration");
    w.refuse = true;
    vck_proxy_unlock(px);
    vcl_step(ctx, "the connection drops; the Resume is answered ERROR_BAD_TOKEN");
    vck_proxy_cut(px);
    deadline = vtc_now_ms() + 15000;
    while (vtc_left_ms(deadline) > 0) {
        vck_pump(k, 200);
        vck_proxy_lock(px);
        resumed = w.refused_conn != 0;
        vck_proxy_unlock(px);
        if (resumed && vck_is_live(k, NULL))
            break;
    }
    VCL_CHECK(ctx, resumed, "the client did not Resume with its token after a drop");
    vck_expect(k, vck_is_live, NULL, VCK_WAIT_MS, "LIVE again after logging in");
    vck_proxy_cut(px);
    vck_expect(k, vck_is_live, NULL, 15000, "LIVE after another drop");
    tl = strlen(w.token);
    recs = vck_proxy_records(px, &n);
    for (size_t i = 0; i < n; i++) {
        int body;

        if (recs[i].dir != VCK_TO_SERVER ||
            !vck_contains(recs[i].data, recs[i].len, w.token, tl))
            continue;
        body = vck_request_case(recs[i].data, recs[i].len);
        if (body != VENTRA__V1__REQUEST__BODY_RESUME || recs[i].conn > w.refused_conn) {
            vck_recs_free(recs, n);
            vcl_failf(
                ctx,
                body == VENTRA__V1__REQUEST__BODY_RESUME
                    ? "the client presented a token refused with ERROR_BAD_TOKEN again"
                    : "the token was sent outside a ResumeRequest");
        }
    }
    for (size_t i = 0; i < n; i++)
        if (recs[i].dir == VCK_TO_SERVER && recs[i].conn >= w.refused_conn &&
            vck_request_case(recs[i].data, recs[i].len) ==
                VENTRA__V1__REQUEST__BODY_LOGIN)
            login_after = true;
    vck_recs_free(recs, n);
    VCL_CHECK(ctx, login_after, "no Login after ERROR_BAD_TOKEN");
}

/* AUTH-70, AUTH-71: the link code is base64url (no padding) of the canonical
 * LinkCode; the reply is "<username>/<device id>"; a code whose key is not 32
 * bytes is refused. */
static void link_code(vcl_ctx *ctx)
{
    vck_client *a = vck_account(ctx, "cli", NULL), *b;
    char code[128], reply[128], want[64], bad[128];
    uint8_t raw[128], badraw[40];
    size_t rl = 0, ndev = 0;
    vt_client_device devs[8];
    static const char name[] = "conformance device";
    vt_err err;

    b = vck_link(ctx, a, code, reply);
    vcl_step(ctx, "the link code %s", code);
    VCL_CHECK(
        ctx,
        strspn(code,
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
            strlen(code),
        "the link code is not base64url without padding");
    VCL_CHECK(ctx,
              sodium_base642bin(raw, sizeof raw, code, strlen(code), NULL, &rl, NULL,
                                sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0,
              "the link code does not decode as base64url");
    VCL_CHECK(
        ctx,
        rl == 2 + 32 + 2 + strlen(name) && raw[0] == 0x0a && raw[1] == 32 &&
            raw[34] == 0x12 && raw[35] == strlen(name) &&
            memcmp(raw + 36, name, strlen(name)) == 0,
        "the link code is not the canonical LinkCode (field 1 of 32 bytes, then the "
        "name, nothing else): %zu bytes",
        rl);
    snprintf(want, sizeof want, "%s/%u", a->name, vt_client_device_id(b->c));
    VCL_CHECK(ctx, strcmp(reply, want) == 0, "the link reply is \"%s\", want \"%s\"",
              reply, want);
    vcl_step(ctx, "a link code whose identity key is 31 bytes");
    badraw[0] = 0x0a;
    badraw[1] = 31;
    vtc_random16(badraw + 2);
    vtc_random16(badraw + 18);
    sodium_bin2base64(bad, sizeof bad, badraw, 33,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    err = vt_client_link_approve(a->c, bad, reply, sizeof reply, VCK_WAIT_MS);
    VCL_CHECK(ctx, err != VT_OK, "a link code with a 31-byte identity key was approved");
    VCL_CODE(ctx, (int)vt_client_devices(a->c, devs, 8, &ndev, VCK_WAIT_MS), VT_OK);
    VCL_CHECK(ctx, ndev == 2, "the account has %zu devices, want 2", ndev);
}

VCK_CASES(
    auth,
    {"auth/server-key-changed", "AUTH-11 SEC-8", VCL_MUST, 0,
     "no signed or token request once GetServerInfo reports another key",
     server_key_changed},
    {"auth/token-only-in-resume", "AUTH-54", VCL_MUST, 0,
     "the token only in ResumeRequest; after ERROR_BAD_TOKEN a Login, never it again",
     token_use},
    {"auth/link-code", "AUTH-70 AUTH-71", VCL_MUST, 0,
     "the link code is canonical base64url; the reply is user/id; a bad key is refused",
     link_code}, );
