/* ventrad configuration (see config.h): one setter shared by the config
 * file, the environment and the flags. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vt_constants.h"

static const char *const limit_names[VTD_LIMIT_COUNT] = {
    "requests", "handshakes", "auth",           "registrations", "failed_logins",
    "sends",    "bundles",    "device_changes", "groups",
};

/* spec/wire.md 4.3, WIRE-72: the RECOMMENDED defaults. */
static const char *const limit_defaults[VTD_LIMIT_COUNT] = {
    "50/s:200", "5/s:50",   "1/s:10",  "10/h:10", "10/h:10",
    "50/s:500", "60/h:100", "10/h:10", "1/s:60",
};

const char *vtd_limit_name(vtd_limit l)
{
    return (unsigned)l < VTD_LIMIT_COUNT ? limit_names[l] : "?";
}

void vtd_config_defaults(vtd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 8080;
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "var");
    cfg->log_level = VTD_LOG_INFO;
    cfg->registration_open = true;
    for (int i = 0; i < VTD_LIMIT_COUNT; i++)
        if (vtd_bucket_cfg_parse(limit_defaults[i], &cfg->limits[i]) != VT_OK)
            cfg->limits[i].enabled = false; /* unreachable: the table parses */
    cfg->auth_timeout_s = (unsigned)VT_AUTH_TIMEOUT_S;
    cfg->idle_timeout_s = (unsigned)VT_IDLE_TIMEOUT_S;
    cfg->ping_interval_s = (unsigned)VT_PING_INTERVAL_S;
}

__attribute__((format(printf, 3, 4))) static bool fail(char *err, size_t errcap,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
    return false;
}

static bool copy_str(char *dst, size_t cap, const char *v, const char *key, char *err,
                     size_t errcap)
{
    if (strlen(v) >= cap)
        return fail(err, errcap, "%s: value too long: %s", key, v);
    memcpy(dst, v, strlen(v) + 1);
    return true;
}

static bool parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    if (!isdigit((unsigned char)*v))
        return false;
    unsigned long n = strtoul(v, &end, 10);
    if (*end != '\0' || n < lo || n > hi)
        return false;
    *out = (unsigned)n;
    return true;
}

/* "HOST:PORT", "[V6]:PORT" */
static bool parse_listen(vtd_config *cfg, const char *v, char *err, size_t errcap)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v)
        return fail(err, errcap, "listen: expected HOST:PORT, got %s", v);
    size_t hlen = (size_t)(colon - v);
    const char *h = v;
    if (*h == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    unsigned port;
    if (hlen == 0 || hlen >= sizeof cfg->listen_host ||
        !parse_uint(colon + 1, 0, 65535, &port))
        return fail(err, errcap, "listen: expected HOST:PORT, got %s", v);
    memcpy(cfg->listen_host, h, hlen);
    cfg->listen_host[hlen] = '\0';
    cfg->listen_port = (int)port;
    return true;
}

bool vtd_config_set(vtd_config *cfg, const char *key, const char *value, char *err,
                    size_t errcap)
{
    unsigned n;
    if (strcmp(key, "listen") == 0)
        return parse_listen(cfg, value, err, errcap);
    if (strcmp(key, "data") == 0)
        return copy_str(cfg->data_dir, sizeof cfg->data_dir, value, key, err, errcap);
    if (strcmp(key, "tls-cert") == 0)
        return copy_str(cfg->tls_cert, sizeof cfg->tls_cert, value, key, err, errcap);
    if (strcmp(key, "tls-key") == 0)
        return copy_str(cfg->tls_key, sizeof cfg->tls_key, value, key, err, errcap);
    if (strcmp(key, "log-level") == 0) {
        int l = vtd_log_level_parse(value);
        if (l < 0)
            return fail(err, errcap,
                        "log-level: expected debug, info, warn or error, got %s", value);
        cfg->log_level = l;
        return true;
    }
    if (strcmp(key, "registration") == 0) {
        if (strcmp(value, "open") != 0 && strcmp(value, "closed") != 0)
            return fail(err, errcap, "registration: expected open or closed, got %s",
                        value);
        cfg->registration_open = strcmp(value, "open") == 0;
        return true;
    }
    if (strcmp(key, "limits") == 0) {
        if (strcmp(value, "off") != 0)
            return fail(err, errcap, "limits: only 'off' is accepted, got %s", value);
        for (int i = 0; i < VTD_LIMIT_COUNT; i++)
            cfg->limits[i].enabled = false;
        return true;
    }
    if (strncmp(key, "limit.", 6) == 0) {
        for (int i = 0; i < VTD_LIMIT_COUNT; i++)
            if (strcmp(key + 6, limit_names[i]) == 0) {
                if (vtd_bucket_cfg_parse(value, &cfg->limits[i]) != VT_OK)
                    return fail(
                        err, errcap,
                        "%s: expected off or RATE/UNIT:BURST (e.g. 50/s:200), got %s",
                        key, value);
                return true;
            }
        return fail(err, errcap, "unknown limit %s", key + 6);
    }
    if (strcmp(key, "auth-timeout-s") == 0 || strcmp(key, "idle-timeout-s") == 0 ||
        strcmp(key, "ping-interval-s") == 0) {
        if (!parse_uint(value, 1, 86400, &n))
            return fail(err, errcap, "%s: expected seconds from 1 to 86400, got %s", key,
                        value);
        if (key[0] == 'a')
            cfg->auth_timeout_s = n;
        else if (key[0] == 'i')
            cfg->idle_timeout_s = n;
        else
            cfg->ping_interval_s = n;
        return true;
    }
    return fail(err, errcap, "unknown setting %s", key);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

bool vtd_config_load_file(vtd_config *cfg, const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errcap, "cannot open config file %s", path);
    char line[1024];
    unsigned lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (*s == '\0')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errcap, "%s:%u: expected key = value", path, lineno);
            ok = false;
            break;
        }
        *eq = '\0';
        char sub[512];
        if (!vtd_config_set(cfg, trim(s), trim(eq + 1), sub, sizeof sub)) {
            snprintf(err, errcap, "%s:%u: %s", path, lineno, sub);
            ok = false;
        }
    }
    fclose(f);
    return ok;
}

bool vtd_config_load_env(vtd_config *cfg, char *err, size_t errcap)
{
    static const char *const plain[][2] = {
        {"VENTRA_LISTEN", "listen"},       {"VENTRA_DATA", "data"},
        {"VENTRA_TLS_CERT", "tls-cert"},   {"VENTRA_TLS_KEY", "tls-key"},
        {"VENTRA_LOG_LEVEL", "log-level"}, {"VENTRA_REGISTRATION", "registration"},
        {"VENTRA_LIMITS", "limits"},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        const char *v = getenv(plain[i][0]);
        if (v && !vtd_config_set(cfg, plain[i][1], v, err, errcap))
            return false;
    }
    for (int i = 0; i < VTD_LIMIT_COUNT; i++) {
        char var[64], key[64];
        snprintf(var, sizeof var, "VENTRA_LIMIT_%s", limit_names[i]);
        for (char *p = var; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        snprintf(key, sizeof key, "limit.%s", limit_names[i]);
        const char *v = getenv(var);
        if (v && !vtd_config_set(cfg, key, v, err, errcap))
            return false;
    }
    return true;
}

bool vtd_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

bool vtd_config_check(const vtd_config *cfg, char *err, size_t errcap)
{
    bool tls = cfg->tls_cert[0] != '\0';
    if (tls != (cfg->tls_key[0] != '\0'))
        return fail(err, errcap, "tls-cert and tls-key go together");
    if (tls && access(cfg->tls_cert, R_OK) != 0)
        return fail(err, errcap, "tls-cert %s is not readable", cfg->tls_cert);
    if (tls && access(cfg->tls_key, R_OK) != 0)
        return fail(err, errcap, "tls-key %s is not readable", cfg->tls_key);
    /* WIRE-5: plain ws only on a loopback address. */
    if (!tls && !vtd_host_is_loopback(cfg->listen_host))
        return fail(err, errcap,
                    "listen %s is not a loopback address: configure tls-cert and tls-key "
                    "(plain ws is for loopback only, spec/wire.md WIRE-5)",
                    cfg->listen_host);
    if (cfg->data_dir[0] == '\0')
        return fail(err, errcap, "data: a directory is required");
    return true;
}
