/* The live conformance runner, `ventra-conform server --url URL` and
 * `ventra-conform client --url URL`: runs the cases of live.h (a table of
 * areas per mode) against any Ventra server over the wire, or against a
 * client implementation through that server, one by one with fresh
 * accounts, and reports PASS, FAIL (with the step, the message and
 * the frames of the case), SKIP or UNIMPLEMENTED per case, as text, JUnit
 * XML and JSON (conformance/README.md, the live tier). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "live_int.h"
#include "ventra/crypto.h"
#include "ventra/err.h"

enum { EXIT_USAGE = 2, LOG_TAIL = 12, MAX_PREFIXES = 64 };

typedef enum { OUT_PASS, OUT_FAIL, OUT_SKIP, OUT_UNIMPL, OUT_XFAIL, OUT_XPASS } outcome;

static const char *const outcome_names[] = {"PASS",          "FAIL",  "SKIP",
                                            "UNIMPLEMENTED", "XFAIL", "XPASS"};

typedef struct options {
    const char *mode; /* "server" or "client" */
    const vcl_area *areas;
    size_t narea;
    const char *url, *junit, *json, *xfail_file, *crash_cmd, *key_file, *ca;
    const char *prefixes[MAX_PREFIXES];
    size_t nprefix;
    bool list, strict, limits, slow, insecure, closed;
    char host[256];
    int port;
    bool tls;
    char **xfail; /* the case ids of --expected-failures */
    size_t nxfail;
} options;

typedef struct deferred {
    void (*fn)(void *);
    void *p;
} deferred;

typedef struct log_line {
    unsigned conn;
    char *text;
} log_line;

struct vcl_ctx {
    const vcl_case *c;
    const options *opt;
    int64_t t0;
    jmp_buf jmp;
    bool running; /* inside the case's run(): failures longjmp */
    char step[256];
    char msg[1024];
    deferred *defs;
    size_t ndef, defcap;
    log_line *log;
    size_t nlog, logcap;
};

/* One case's result, kept for the reports. */
typedef struct result {
    const vcl_case *c;
    outcome out;
    long long ms;
    char *step, *msg, *frames; /* malloc'd; NULL when none */
} result;

static const char usage[] =
    "usage: ventra-conform %s --url ws://HOST:PORT|wss://HOST:PORT [options]\n"
    "  --list                   print the cases (id, level, requirements, title)\n"
    "  --case PREFIX            run only the cases whose id starts with PREFIX\n"
    "                           (repeatable; a PREFIX that matches none is an error)\n"
    "  --strict                 run the SHOULD cases too\n"
    "  --limits                 run the cases that need the server's rate limits on\n"
    "  --slow                   run the cases that wait on a spec timer\n"
    "  --registration-closed    the server refuses Register: run only the cases\n"
    "                           that need that (AUTH-102)\n"
    "  --crash-cmd CMD          a shell command that kills the server with SIGKILL\n"
    "                           and starts it again at the same URL\n"
    "  --server-key-file FILE   the server's key (64 hex digits of its seed)\n"
    "  --expected-failures FILE case ids (one a line, # comments) expected to FAIL\n"
    "  --junit FILE, --json FILE  write the results\n"
    "  --ca FILE                verify the TLS certificate against FILE\n"
    "  --insecure               do not verify the TLS certificate\n"
    "Exit status: 0 when no case failed, 1 otherwise, 2 on a usage error.\n";

/* ---- The context --------------------------------------------------------- */

int vcl_port(const vcl_ctx *ctx)
{
    return ctx->opt->port;
}

const char *vcl_host(const vcl_ctx *ctx)
{
    return ctx->opt->host;
}

const char *vcl_url(const vcl_ctx *ctx)
{
    return ctx->opt->url;
}

const char *vcl_ca_file(const vcl_ctx *ctx)
{
    return ctx->opt->ca;
}

static void add_log(vcl_ctx *ctx, unsigned conn, char *text)
{
    if (ctx->nlog == ctx->logcap) {
        size_t cap = ctx->logcap ? ctx->logcap * 2 : 64;
        log_line *l = realloc(ctx->log, cap * sizeof *l);

        if (l == NULL) {
            free(text);
            return;
        }
        ctx->log = l;
        ctx->logcap = cap;
    }
    ctx->log[ctx->nlog].conn = conn;
    ctx->log[ctx->nlog].text = text;
    ctx->nlog++;
}

void vcl_log(vcl_ctx *ctx, const char *fmt, ...)
{
    char line[512], *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (asprintf(&text, "+%lld ms %s", (long long)(vtc_now_ms() - ctx->t0), line) >= 0)
        add_log(ctx, 0, text);
}

void vcl_step(vcl_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ctx->step, sizeof ctx->step, fmt, ap);
    va_end(ap);
}

static _Noreturn void end_case(vcl_ctx *ctx, outcome out, const char *fmt, va_list ap)
{
    vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    if (!ctx->running) {
        /* Outside a case (a cleanup): nothing to jump back to. */
        fprintf(stderr, "ventra-conform: %s outside a case: %s\n", outcome_names[out],
                ctx->msg);
        abort();
    }
    ctx->running = false;
    longjmp(ctx->jmp, (int)out + 1);
}

void vcl_failf(vcl_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    end_case(ctx, OUT_FAIL, fmt, ap);
}

void vcl_skip(vcl_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    end_case(ctx, OUT_SKIP, fmt, ap);
}

void vcl_unimplemented(vcl_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    end_case(ctx, OUT_UNIMPL, fmt, ap);
}

static const char *code_name(int code)
{
    const char *name = code < 0 ? "no response" : code == 0 ? "OK" : vt_err_name(code);

    return name != NULL ? name : "unknown code";
}

void vcl_check_code(vcl_ctx *ctx, int got, int want, const char *what)
{
    if (got != want)
        vcl_failf(ctx, "%s: got %s (%d), want %s (%d)", what, code_name(got), got,
                  code_name(want), want);
}

/* A failure inside the kit fails the running case. */
static void kit_failed(const char *msg, void *ud)
{
    vcl_failf(ud, "%s", msg);
}

void vcl_defer(vcl_ctx *ctx, void (*fn)(void *), void *p)
{
    if (ctx->ndef == ctx->defcap) {
        size_t cap = ctx->defcap ? ctx->defcap * 2 : 16;
        deferred *d = realloc(ctx->defs, cap * sizeof *d);

        if (d == NULL) {
            fn(p);
            vcl_failf(ctx, "out of memory");
        }
        ctx->defs = d;
        ctx->defcap = cap;
    }
    ctx->defs[ctx->ndef].fn = fn;
    ctx->defs[ctx->ndef].p = p;
    ctx->ndef++;
}

static void free_client(void *p)
{
    vtc_client_free(p);
}

static void free_ws(void *p)
{
    vtc_ws_free(p);
}

static void free_device(void *p)
{
    vtc_device_free(p);
}

vtc_client *vcl_client(vcl_ctx *ctx)
{
    vtc_client *c = vtc_client_new(ctx->opt->port);

    vcl_defer(ctx, free_client, c);
    return c;
}

vtc_ws *vcl_ws(vcl_ctx *ctx, const vtc_ws_opts *opts, int *status)
{
    vtc_ws *ws = vtc_ws_connect(ctx->opt->port, opts, status);

    if (ws != NULL)
        vcl_defer(ctx, free_ws, ws);
    return ws;
}

vtc_device *vcl_account(vcl_ctx *ctx, const char *prefix)
{
    char name[33];
    vtc_device *d;

    vtc_username(name, prefix);
    d = vtc_register(ctx->opt->port, name);
    vcl_defer(ctx, free_device, d);
    return d;
}

vtc_device *vcl_link(vcl_ctx *ctx, vtc_device *owner)
{
    vtc_device *d = vtc_link(owner);

    vcl_defer(ctx, free_device, d);
    return d;
}

void vcl_crash_restart(vcl_ctx *ctx)
{
    int64_t deadline;
    int rc;

    if (ctx->opt->crash_cmd == NULL)
        vcl_skip(ctx, "needs --crash-cmd");
    fflush(NULL);
    rc = system(ctx->opt->crash_cmd);
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
        vcl_failf(ctx, "--crash-cmd failed (status %d)", rc);
    /* Serving again: the upgrade succeeds and a Ping is answered. Between
     * refused connections a short pause, not a busy loop. */
    deadline = vtc_now_ms() + 30000;
    while (vtc_left_ms(deadline) > 0) {
        int status = 0;
        vtc_client *c = vtc_client_connect(ctx->opt->port, NULL, &status);
        int code = c != NULL ? vtc_take_code(vtc_rpc_ping(c, 1)) : -1;

        vtc_client_free(c);
        if (code == 0)
            return;
        poll(NULL, 0, 50);
    }
    vcl_failf(ctx, "the server did not serve again within 30 s of --crash-cmd");
}

void vcl_server_keypair(vcl_ctx *ctx, uint8_t pk[32], uint8_t sk[64])
{
    if (ctx->opt->key_file == NULL)
        vcl_skip(ctx, "needs --server-key-file");
    vtc_keypair_from_file(ctx->opt->key_file, pk, sk);
}

char *vcl_token_mint(vcl_ctx *ctx, const char *username, uint32_t device_id, uint64_t iat,
                     uint64_t exp)
{
    uint8_t pk[32], sk[64];
    char *tok;

    vcl_server_keypair(ctx, pk, sk);
    tok = vtc_token_mint_key(pk, sk, username, device_id, iat, exp);
    vt_wipe(sk, sizeof sk);
    vcl_defer(ctx, free, tok);
    return tok;
}

/* ---- The frame log --------------------------------------------------------- */

static void log_frame(const vtc_frame_rec *rec, void *ud)
{
    vcl_ctx *ctx = ud;
    char summary[512], hex[40] = "", *text = NULL;
    size_t i, n = rec->len < 16 ? rec->len : 16;

    for (i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", rec->data[i]);
    vtc_frame_summary(rec, summary, sizeof summary);
    /* The handshake's data is its path, not bytes of a message. */
    if (rec->opcode == -1
            ? asprintf(&text, "%s +%lld ms %s", rec->sent ? "->" : "<-",
                       (long long)(vtc_now_ms() - ctx->t0), summary) < 0
            : asprintf(&text, "%s +%lld ms %zu B %s%s%s", rec->sent ? "->" : "<-",
                       (long long)(vtc_now_ms() - ctx->t0), rec->len, hex,
                       rec->len > n ? ".. "
                       : n          ? " "
                                    : "",
                       summary) < 0)
        return;
    add_log(ctx, rec->conn, text);
}

/* The last LOG_TAIL frames of each connection of the case, indented, as
 * a malloc'd string (NULL when there were none). */
static char *format_frames(const vcl_ctx *ctx)
{
    char *buf = NULL;
    size_t len = 0, i, j;
    FILE *f;

    if (ctx->nlog == 0 || (f = open_memstream(&buf, &len)) == NULL)
        return NULL;
    for (i = 0; i < ctx->nlog; i++) {
        unsigned conn = ctx->log[i].conn;
        size_t total = 0, seen = 0;
        bool first = true;

        for (j = 0; j < i; j++)
            if (ctx->log[j].conn == conn)
                first = false;
        if (!first)
            continue;
        for (j = i; j < ctx->nlog; j++)
            total += ctx->log[j].conn == conn;
        if (conn == 0)
            fprintf(f, "    the case's log (%zu lines%s):\n", total,
                    total > LOG_TAIL ? ", the last 12" : "");
        else
            fprintf(f, "    connection %u (%zu frames%s):\n", conn, total,
                    total > LOG_TAIL ? ", the last 12" : "");
        for (j = i; j < ctx->nlog; j++) {
            if (ctx->log[j].conn != conn)
                continue;
            if (total - seen++ <= LOG_TAIL)
                fprintf(f, "      %s\n", ctx->log[j].text);
        }
    }
    fclose(f);
    return buf;
}

/* ---- Running the cases ------------------------------------------------------- */

static bool is_xfail(const options *o, const char *id)
{
    for (size_t i = 0; i < o->nxfail; i++)
        if (strcmp(o->xfail[i], id) == 0)
            return true;
    return false;
}

/* Why the case does not run with these options, or NULL. */
static const char *skip_reason(const options *o, const vcl_case *c)
{
    if (c->level == VCL_SHOULD && !o->strict)
        return "a SHOULD case: runs with --strict";
    if ((c->needs & VCL_NEEDS_CRASH) && o->crash_cmd == NULL)
        return "needs --crash-cmd";
    if ((c->needs & VCL_NEEDS_SERVER_KEY) && o->key_file == NULL)
        return "needs --server-key-file";
    if ((c->needs & VCL_NEEDS_LIMITS) && !o->limits)
        return "needs a server with its rate limits on: runs with --limits";
    if ((c->needs & VCL_SLOW) && !o->slow)
        return "waits on a spec timer: runs with --slow";
    if ((c->needs & VCL_NEEDS_CLOSED_REGISTRATION) && !o->closed)
        return "needs a server with registration closed: runs with --registration-closed";
    if (!(c->needs & VCL_NEEDS_CLOSED_REGISTRATION) && o->closed)
        return "needs registration open (--registration-closed runs only the cases of a "
               "closed server)";
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

/* Runs case |c| in |ctx| (fresh) into |res|. */
static void run_case(vcl_ctx *ctx, const vcl_case *c, result *res)
{
    const char *why = skip_reason(ctx->opt, c);
    volatile outcome out = OUT_PASS;
    int jumped;

    ctx->c = c;
    ctx->t0 = vtc_now_ms();
    snprintf(ctx->step, sizeof ctx->step, "start");
    ctx->msg[0] = '\0';
    if (why != NULL) {
        out = OUT_SKIP;
        snprintf(ctx->msg, sizeof ctx->msg, "%s", why);
    } else {
        vtc_set_fail_handler(kit_failed, ctx);
        vtc_set_frame_hook(log_frame, ctx);
        jumped = setjmp(ctx->jmp);
        if (jumped == 0) {
            ctx->running = true;
            c->run(ctx);
            ctx->running = false;
        } else {
            out = (outcome)(jumped - 1);
        }
        vtc_set_fail_handler(NULL, NULL);
        /* Cleanups run logged too (a close is part of the story) but
         * cannot fail the case any more. */
        while (ctx->ndef > 0) {
            deferred d = ctx->defs[--ctx->ndef];

            d.fn(d.p);
        }
        vtc_set_frame_hook(NULL, NULL);
    }
    if (is_xfail(ctx->opt, c->id)) {
        if (out == OUT_FAIL)
            out = OUT_XFAIL;
        else if (out == OUT_PASS) {
            out = OUT_XPASS;
            snprintf(ctx->msg, sizeof ctx->msg,
                     "passed, but --expected-failures lists it: remove it there");
        }
    }
    res->c = c;
    res->out = out;
    res->ms = (long long)(vtc_now_ms() - ctx->t0);
    res->step = out == OUT_FAIL || out == OUT_XFAIL ? dup_or_null(ctx->step) : NULL;
    res->msg = dup_or_null(ctx->msg);
    res->frames = out == OUT_FAIL || out == OUT_XFAIL ? format_frames(ctx) : NULL;
    for (size_t i = 0; i < ctx->nlog; i++)
        free(ctx->log[i].text);
    ctx->nlog = 0;
}

static void print_result(const result *r)
{
    printf("%s %s (%s) %lld ms\n", outcome_names[r->out], r->c->id, r->c->reqs, r->ms);
    if (r->step != NULL)
        printf("    step: %s\n", r->step);
    if (r->msg != NULL)
        printf("    %s\n", r->msg);
    if (r->out == OUT_FAIL && r->frames != NULL)
        fputs(r->frames, stdout);
    fflush(stdout);
}

/* ---- Reports ----------------------------------------------------------------- */

static void xml_text(FILE *f, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '<')
            fputs("&lt;", f);
        else if (ch == '>')
            fputs("&gt;", f);
        else if (ch == '&')
            fputs("&amp;", f);
        else if (ch == '"')
            fputs("&quot;", f);
        else if (ch < 0x20 && ch != '\n' && ch != '\t')
            fputc('?', f); /* not allowed in XML 1.0 */
        else
            fputc(ch, f);
    }
}

static bool write_junit(const char *path, const options *o, const result *res, size_t n,
                        const size_t *count)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return false;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    fprintf(f,
            "<testsuite name=\"ventra-conform %s\" tests=\"%zu\" failures=\"%zu\" "
            "skipped=\"%zu\">\n",
            o->mode, n, count[OUT_FAIL] + count[OUT_XPASS],
            count[OUT_SKIP] + count[OUT_UNIMPL] + count[OUT_XFAIL]);
    for (size_t i = 0; i < n; i++) {
        const result *r = &res[i];
        const char *slash = strchr(r->c->id, '/');
        int alen = slash ? (int)(slash - r->c->id) : 0;

        fprintf(f, "  <testcase classname=\"%.*s\" name=\"", alen, r->c->id);
        xml_text(f, slash ? slash + 1 : r->c->id);
        fprintf(f, "\" time=\"%.3f\">\n", (double)r->ms / 1000.0);
        switch (r->out) {
        case OUT_PASS:
            break;
        case OUT_FAIL:
        case OUT_XPASS:
            fputs("    <failure message=\"", f);
            xml_text(f, r->msg);
            fputs("\">step: ", f);
            xml_text(f, r->step ? r->step : "-");
            fputs("</failure>\n", f);
            break;
        case OUT_SKIP:
        case OUT_UNIMPL:
        case OUT_XFAIL:
            fprintf(f, "    <skipped message=\"%s",
                    r->out == OUT_UNIMPL  ? "unimplemented: "
                    : r->out == OUT_XFAIL ? "expected failure: "
                                          : "");
            xml_text(f, r->msg);
            fputs("\"/>\n", f);
            break;
        }
        if (r->frames != NULL) {
            fputs("    <system-out>", f);
            xml_text(f, r->frames);
            fputs("</system-out>\n", f);
        }
        fputs("  </testcase>\n", f);
    }
    fputs("</testsuite>\n</testsuites>\n", f);
    return fclose(f) == 0;
}

static json_t *reqs_array(const char *reqs)
{
    json_t *a = json_array();

    while (a != NULL && reqs != NULL && *reqs != '\0') {
        size_t n = strcspn(reqs, " ");

        if (n > 0)
            json_array_append_new(a, json_stringn(reqs, n));
        reqs += n + (reqs[n] == ' ');
    }
    return a;
}

static bool write_json(const char *path, const options *o, const result *res, size_t n,
                       const size_t *count)
{
    json_t *cases = json_array(), *doc;
    bool ok;

    for (size_t i = 0; i < n && cases != NULL; i++) {
        const result *r = &res[i];

        json_array_append_new(
            cases, json_pack("{s:s, s:o, s:s, s:s, s:I, s:s?, s:s?, s:s?}", "id",
                             r->c->id, "reqs", reqs_array(r->c->reqs), "level",
                             r->c->level == VCL_MUST ? "MUST" : "SHOULD", "outcome",
                             outcome_names[r->out], "ms", (json_int_t)r->ms, "step",
                             r->step, "message", r->msg, "frames", r->frames));
    }
    doc = json_pack("{s:s, s:s, s:b, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o}", "mode",
                    o->mode, "url", o->url, "strict", o->strict, "summary", "passed",
                    (json_int_t)count[OUT_PASS], "failed", (json_int_t)count[OUT_FAIL],
                    "skipped", (json_int_t)count[OUT_SKIP], "unimplemented",
                    (json_int_t)count[OUT_UNIMPL], "xfail", (json_int_t)count[OUT_XFAIL],
                    "xpass", (json_int_t)count[OUT_XPASS], "cases", cases);
    ok = doc != NULL && json_dump_file(doc, path, JSON_INDENT(2)) == 0;
    json_decref(doc);
    return ok;
}

/* ---- Options ------------------------------------------------------------------- */

/* ws://HOST[:PORT][/...] or wss://...; HOST may be [IPv6]. */
static bool parse_url(options *o)
{
    const char *p = o->url, *h, *e;
    size_t hl;

    if (strncmp(p, "ws://", 5) == 0) {
        p += 5;
        o->port = 80;
    } else if (strncmp(p, "wss://", 6) == 0) {
        p += 6;
        o->port = 443;
        o->tls = true;
    } else {
        return false;
    }
    if (*p == '[') {
        h = p + 1;
        e = strchr(h, ']');
        if (e == NULL)
            return false;
        hl = (size_t)(e - h);
        p = e + 1;
    } else {
        h = p;
        hl = strcspn(p, ":/");
        p += hl;
    }
    if (hl == 0 || hl >= sizeof o->host)
        return false;
    memcpy(o->host, h, hl);
    o->host[hl] = '\0';
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);

        if (end == p + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/'))
            return false;
        o->port = (int)port;
        p = end;
    }
    return *p == '\0' || strcmp(p, "/") == 0 || strcmp(p, VT_WS_PATH) == 0;
}

static bool load_xfail(options *o)
{
    FILE *f = fopen(o->xfail_file, "r");
    char line[512];

    if (f == NULL) {
        fprintf(stderr, "ventra-conform: cannot read %s: %s\n", o->xfail_file,
                strerror(errno));
        return false;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *s = line, *end;
        char **grown;

        s[strcspn(s, "#")] = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        end = s + strcspn(s, " \t\r\n");
        *end = '\0';
        if (*s == '\0')
            continue;
        grown = realloc(o->xfail, (o->nxfail + 1) * sizeof *grown);
        if (grown == NULL || (grown[o->nxfail] = strdup(s)) == NULL) {
            if (grown != NULL)
                o->xfail = grown;
            fclose(f);
            return false;
        }
        o->xfail = grown;
        o->nxfail++;
    }
    fclose(f);
    return true;
}

static bool selected(const options *o, const vcl_case *c)
{
    if (o->nprefix == 0)
        return true;
    for (size_t i = 0; i < o->nprefix; i++)
        if (strncmp(c->id, o->prefixes[i], strlen(o->prefixes[i])) == 0)
            return true;
    return false;
}

/* Every selected case, in table order, into a malloc'd array. */
static const vcl_case **select_cases(const options *o, size_t *n)
{
    const vcl_case **list = NULL;
    size_t total = 0, k = 0;

    for (size_t a = 0; a < o->narea; a++)
        total += *o->areas[a].count;
    list = calloc(total + 1, sizeof *list);
    if (list == NULL)
        return NULL;
    for (size_t a = 0; a < o->narea; a++)
        for (size_t i = 0; i < *o->areas[a].count; i++)
            if (selected(o, &o->areas[a].cases[i]))
                list[k++] = &o->areas[a].cases[i];
    *n = k;
    return list;
}

static int parse_args(options *o, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **val = NULL;

        if (strcmp(a, "--list") == 0)
            o->list = true;
        else if (strcmp(a, "--strict") == 0)
            o->strict = true;
        else if (strcmp(a, "--limits") == 0)
            o->limits = true;
        else if (strcmp(a, "--slow") == 0)
            o->slow = true;
        else if (strcmp(a, "--registration-closed") == 0)
            o->closed = true;
        else if (strcmp(a, "--insecure") == 0)
            o->insecure = true;
        else if (strcmp(a, "--url") == 0)
            val = &o->url;
        else if (strcmp(a, "--junit") == 0)
            val = &o->junit;
        else if (strcmp(a, "--json") == 0)
            val = &o->json;
        else if (strcmp(a, "--expected-failures") == 0)
            val = &o->xfail_file;
        else if (strcmp(a, "--crash-cmd") == 0)
            val = &o->crash_cmd;
        else if (strcmp(a, "--server-key-file") == 0)
            val = &o->key_file;
        else if (strcmp(a, "--ca") == 0)
            val = &o->ca;
        else if (strcmp(a, "--case") == 0 && o->nprefix < MAX_PREFIXES)
            val = &o->prefixes[o->nprefix++];
        else
            return -1;
        if (val != NULL) {
            if (i + 1 >= argc)
                return -1;
            *val = argv[++i];
        }
    }
    if (o->url == NULL && !o->list)
        return -1;
    if (o->url != NULL && !parse_url(o)) {
        fprintf(stderr,
                "ventra-conform: --url wants ws://HOST:PORT or wss://HOST:PORT\n");
        return -1;
    }
    return 0;
}

/* A tag of 6 random characters for the usernames of this run. */
static void set_run_tag(void)
{
    static const char abc[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t rnd[6];
    char tag[7];

    if (vt_random_bytes(rnd, sizeof rnd) != VT_OK)
        return;
    for (size_t i = 0; i < sizeof rnd; i++)
        tag[i] = abc[rnd[i] % 36];
    tag[6] = '\0';
    vtc_set_run_tag(tag);
}

int vcl_main(int argc, char **argv)
{
    return vcl_run("server", vcl_areas, vcl_area_count, argc, argv);
}

int vcl_run(const char *mode, const vcl_area *areas, size_t narea, int argc, char **argv)
{
    options o = {.mode = mode, .areas = areas, .narea = narea};
    const vcl_case **list = NULL;
    result *res = NULL;
    size_t n = 0, count[6] = {0};
    vcl_ctx *ctx = NULL;
    int rc = EXIT_USAGE;

    if (argc == 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        printf(usage, mode);
        rc = 0;
        goto out;
    }
    if (parse_args(&o, argc, argv) != 0) {
        fprintf(stderr, usage, mode);
        goto out;
    }
    if ((list = select_cases(&o, &n)) == NULL)
        goto out;
    for (size_t i = 0; i < o.nprefix; i++) {
        options one = {
            .areas = areas, .narea = narea, .nprefix = 1, .prefixes = {o.prefixes[i]}};
        size_t m = 0;
        const vcl_case **l = select_cases(&one, &m);

        free(l);
        if (m == 0) {
            fprintf(stderr, "ventra-conform: --case %s matches no case\n", o.prefixes[i]);
            goto out;
        }
    }
    if (o.list) {
        for (size_t i = 0; i < n; i++)
            printf("%-40s %-6s %-24s %s\n", list[i]->id,
                   list[i]->level == VCL_MUST ? "MUST" : "SHOULD", list[i]->reqs,
                   list[i]->title);
        rc = 0;
        goto out;
    }
    rc = 1;
    if (o.xfail_file != NULL && !load_xfail(&o)) {
        rc = EXIT_USAGE;
        goto out;
    }
    if (vt_crypto_init() != VT_OK) {
        fprintf(stderr, "ventra-conform: the crypto library did not initialise\n");
        goto out;
    }
    if (!vtc_target_set(o.host, o.tls, o.ca, o.insecure)) {
        fprintf(stderr, "ventra-conform: cannot set up TLS\n");
        goto out;
    }
    if (o.tls && o.insecure)
        printf("WARNING: --insecure: the server's TLS certificate is NOT verified\n");
    signal(SIGPIPE, SIG_IGN); /* a write to a closed TLS connection */
    set_run_tag();
    res = calloc(n + 1, sizeof *res);
    ctx = calloc(1, sizeof *ctx);
    if (res == NULL || ctx == NULL)
        goto out;
    ctx->opt = &o;
    printf("ventra-conform %s: %s, %zu cases%s\n", mode, o.url, n,
           o.strict ? " (strict)" : "");
    for (size_t i = 0; i < n; i++) {
        run_case(ctx, list[i], &res[i]);
        count[res[i].out]++;
        print_result(&res[i]);
    }
    printf("%zu cases: %zu passed, %zu failed, %zu skipped, %zu unimplemented", n,
           count[OUT_PASS], count[OUT_FAIL] + count[OUT_XPASS], count[OUT_SKIP],
           count[OUT_UNIMPL]);
    if (count[OUT_XFAIL] + count[OUT_XPASS] > 0)
        printf(" (%zu expected failures, %zu unexpected passes)", count[OUT_XFAIL],
               count[OUT_XPASS]);
    printf("\n");
    rc = count[OUT_FAIL] + count[OUT_XPASS] == 0 ? 0 : 1;
    if (o.junit != NULL && !write_junit(o.junit, &o, res, n, count)) {
        fprintf(stderr, "ventra-conform: cannot write %s\n", o.junit);
        rc = 1;
    }
    if (o.json != NULL && !write_json(o.json, &o, res, n, count)) {
        fprintf(stderr, "ventra-conform: cannot write %s\n", o.json);
        rc = 1;
    }
out:
    for (size_t i = 0; res != NULL && i < n; i++) {
        free(res[i].step);
        free(res[i].msg);
        free(res[i].frames);
    }
    if (ctx != NULL) {
        free(ctx->defs);
        free(ctx->log);
    }
    free(ctx);
    free(res);
    free(list);
    for (size_t i = 0; i < o.nxfail; i++)
        free(o.xfail[i]);
    free(o.xfail);
    vtc_target_set(NULL, false, NULL, false);
    return rc;
}
