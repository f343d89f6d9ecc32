/* ventrad's configuration: defaults, then a config file, then VENTRA_*
 * environment variables, then command-line flags, all through one setter
 * so the three spell every setting the same way. Holds the operator's
 * choices the spec leaves open (spec/wire.md 4.3 rate limits, AUTH-102
 * registration) and refuses what it forbids (WIRE-5: plain ws only on
 * loopback). */
#ifndef VTD_CONFIG_H
#define VTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "ratelimit.h"

/* The buckets of spec/wire.md 4.3 (WIRE-72), in table order. */
typedef enum {
    VTD_LIMIT_REQUESTS,
    VTD_LIMIT_HANDSHAKES,
    VTD_LIMIT_AUTH,
    VTD_LIMIT_REGISTRATIONS,
    VTD_LIMIT_FAILED_LOGINS,
    VTD_LIMIT_SENDS,
    VTD_LIMIT_BUNDLES,
    VTD_LIMIT_DEVICE_CHANGES,
    VTD_LIMIT_GROUPS,
    VTD_LIMIT_COUNT
} vtd_limit;

typedef struct vtd_config {
    char listen_host[64];
    int listen_port;
    char data_dir[512];
    char tls_cert[512];
    char tls_key[512];
    int log_level;          /* vtd_log_level */
    bool registration_open; /* AUTH-102 */
    vtd_bucket_cfg limits[VTD_LIMIT_COUNT];
    unsigned auth_timeout_s;  /* AUTH_TIMEOUT_S unless testing */
    unsigned idle_timeout_s;  /* IDLE_TIMEOUT_S unless testing */
    unsigned ping_interval_s; /* server pings on a quiet connection */
} vtd_config;

/* Fills |cfg| with the defaults: 127.0.0.1:8080, data "var", info,
 * registration open, the RECOMMENDED limits of WIRE-72, spec timeouts. */
void vtd_config_defaults(vtd_config *cfg);

/* The name of limit |l| as the config spells it ("failed_logins"). */
const char *vtd_limit_name(vtd_limit l);

/* Sets |key| (a long flag name without "--", e.g. "listen", "limit.sends",
 * "limits") to |value|. On error returns false with a message in |err|
 * (|errcap| bytes). */
bool vtd_config_set(vtd_config *cfg, const char *key, const char *value, char *err,
                    size_t errcap);

/* Reads `key = value` lines (# starts a comment) from |path|. */
bool vtd_config_load_file(vtd_config *cfg, const char *path, char *err, size_t errcap);

/* Applies VENTRA_LISTEN, VENTRA_DATA, VENTRA_TLS_CERT, VENTRA_TLS_KEY,
 * VENTRA_LOG_LEVEL, VENTRA_REGISTRATION, VENTRA_LIMITS and
 * VENTRA_LIMIT_<NAME> when set. */
bool vtd_config_load_env(vtd_config *cfg, char *err, size_t errcap);

/* Checks the whole configuration for consistency (WIRE-5, TLS files). */
bool vtd_config_check(const vtd_config *cfg, char *err, size_t errcap);

/* True when |host| is a loopback address (127.0.0.0/8, ::1, localhost). */
bool vtd_host_is_loopback(const char *host);

#endif
