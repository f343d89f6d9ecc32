/* ventrad, the reference Ventra server: command line, configuration, the
 * server key in the data directory (spec/auth.md, The server key), the
 * store, and the event loop. `ventrad gen-cert CERT KEY` writes a
 * self-signed TLS pair for development. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "gencert.h"
#include "log.h"
#include "net.h"
#include "server.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ventrad [options]\n"
        "       ventrad gen-cert CERT KEY\n"
        "\n"
        "Serves the Ventra protocol (spec/wire.md) on one port: WebSocket on /v1/ws,\n"
        "/healthz and /metrics. Settings come from defaults, then --config FILE,\n"
        "then VENTRA_* environment variables, then flags.\n"
        "\n"
        "  --listen HOST:PORT     address (default 127.0.0.1:8080; port 0 picks one)\n"
        "  --data DIR             data directory: ventra.db, server.key (default ./var)\n"
        "  --config FILE          key = value settings, the flag names without --\n"
        "  --check-config         check the configuration and exit (0 when valid)\n"
        "  --tls-cert FILE        serve wss with this certificate (PEM)...\n"
        "  --tls-key FILE         ...and this private key (PEM)\n"
        "  --log-level LEVEL      debug, info, warn or error (default info)\n"
        "  --registration open|closed   whether Register is allowed (default open)\n"
        "  --limit NAME=SPEC      a rate limit: NAME one of requests, handshakes, auth,\n"
        "                         registrations, failed_logins, sends, bundles,\n"
        "                         device_changes, groups; SPEC off or RATE/UNIT:BURST\n"
        "                         with UNIT s, m or h (e.g. sends=50/s:500)\n"
        "  --limits off           turn every rate limit off (testing only)\n"
        "  --auth-timeout-s N     seconds to authenticate (default 30; testing only)\n"
        "  --idle-timeout-s N     idle seconds before closing (default 90; testing "
        "only)\n"
        "  --ping-interval-s N    quiet seconds before the server pings (default 30)\n"
        "  -h, --help             this text\n"
        "\n"
        "Environment: VENTRA_LISTEN, VENTRA_DATA, VENTRA_TLS_CERT, VENTRA_TLS_KEY,\n"
        "VENTRA_LOG_LEVEL, VENTRA_REGISTRATION, VENTRA_LIMITS, VENTRA_LIMIT_<NAME>.\n"
        "Stop with SIGTERM or Ctrl-C: in-flight writes finish, clients are told.\n");
}

/* Reads <data>/server.key (64 hex digits of the Ed25519 seed) or makes
 * one on first start, mode 0600. AUTH-9: the key must outlive restarts. */
static vt_err load_server_key(vtd_server *srv)
{
    char path[600];
    snprintf(path, sizeof path, "%s/server.key", srv->cfg.data_dir);
    uint8_t seed[32];
    char hex[65 + 1];
    vt_err err = VT_ERR_IO;
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(hex, 1, 64, f);
        fclose(f);
        hex[n] = '\0';
        size_t bin_len = 0;
        if (n != 64 ||
            sodium_hex2bin(seed, sizeof seed, hex, 64, NULL, &bin_len, NULL) != 0 ||
            bin_len != 32) {
            vtd_log(VTD_LOG_ERROR, "server key file is malformed", "path=%s", path);
            goto out;
        }
    } else {
        if (vt_random_bytes(seed, sizeof seed) != VT_OK)
            goto out;
        sodium_bin2hex(hex, sizeof hex, seed, sizeof seed);
        hex[64] = '\n';
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || write(fd, hex, 65) != 65 || fsync(fd) != 0) {
            vtd_log(VTD_LOG_ERROR, "cannot write server key", "path=%s err=%s", path,
                    strerror(errno));
            if (fd >= 0)
                close(fd);
            goto out;
        }
        close(fd);
        vtd_log(VTD_LOG_INFO, "server key created", "path=%s", path);
    }
    srv->server_sk = sodium_malloc(64);
    if (!srv->server_sk)
        goto out;
    err = vt_ed25519_keypair_from_seed(srv->server_pk, srv->server_sk, seed);
out:
    vt_wipe(seed, sizeof seed);
    vt_wipe(hex, sizeof hex);
    return err;
}

static bool parse_args(vtd_config *cfg, int argc, char **argv, bool *check_only,
                       char *err, size_t errcap)
{
    /* the config file comes first, whatever its place on the line */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc &&
            !vtd_config_load_file(cfg, argv[i + 1], err, errcap))
            return false;
    if (!vtd_config_load_env(cfg, err, errcap))
        return false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--check-config") == 0) {
            *check_only = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
            snprintf(err, errcap, "unexpected argument %s (see --help)", a);
            return false;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--config") == 0)
            continue;
        if (strcmp(a, "--limit") == 0) {
            char key[96];
            const char *eq = strchr(v, '=');
            if (!eq || (size_t)(eq - v) > 80) {
                snprintf(err, errcap, "--limit expects NAME=SPEC, got %s", v);
                return false;
            }
            snprintf(key, sizeof key, "limit.%.*s", (int)(eq - v), v);
            if (!vtd_config_set(cfg, key, eq + 1, err, errcap))
                return false;
            continue;
        }
        if (!vtd_config_set(cfg, a + 2, v, err, errcap))
            return false;
    }
    return vtd_config_check(cfg, err, errcap);
}

static vt_err make_limiters(vtd_server *srv)
{
    static const vtd_limit keyed[] = {
        VTD_LIMIT_HANDSHAKES, VTD_LIMIT_REGISTRATIONS, VTD_LIMIT_FAILED_LOGINS,
        VTD_LIMIT_SENDS,      VTD_LIMIT_BUNDLES,       VTD_LIMIT_DEVICE_CHANGES,
        VTD_LIMIT_GROUPS,
    };
    for (size_t i = 0; i < sizeof keyed / sizeof keyed[0]; i++) {
        if (!srv->cfg.limits[keyed[i]].enabled)
            continue; /* an off limit costs no table (vtd_limit_take passes) */
        vt_err err =
            vtd_limiter_new(&srv->limiters[keyed[i]], &srv->cfg.limits[keyed[i]], 65536);
        if (err != VT_OK)
            return err;
    }
    return VT_OK;
}

int main(int argc, char **argv)
{
    static vtd_server srv; /* large (the hub), so not on the stack */
    char err[600];
    bool check_only = false;
    int rc = 1;

    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "gen-cert") == 0) {
        if (argc != 4) {
            fprintf(stderr, "usage: ventrad gen-cert CERT KEY\n");
            return 2;
        }
        return vtd_gen_cert(argv[2], argv[3]) == VT_OK ? 0 : 1;
    }
    if (vt_crypto_init() != VT_OK) {
        fprintf(stderr, "ventrad: cannot initialise the crypto library\n");
        return 1;
    }
    vtd_config_defaults(&srv.cfg);
    if (!parse_args(&srv.cfg, argc, argv, &check_only, err, sizeof err)) {
        fprintf(stderr, "ventrad: %s\n", err);
        return 2;
    }
    if (check_only) {
        printf("configuration ok\n");
        return 0;
    }
    vtd_log_set_level((vtd_log_level)srv.cfg.log_level);
    if (mkdir(srv.cfg.data_dir, 0700) != 0 && errno != EEXIST) {
        vtd_log(VTD_LOG_ERROR, "cannot create data directory", "path=%s err=%s",
                srv.cfg.data_dir, strerror(errno));
        return 1;
    }
    srv.batch_seq = 1;
    if (load_server_key(&srv) != VT_OK)
        goto out;
    vt_err e = vtd_store_open(&srv.store, srv.cfg.data_dir);
    if (e != VT_OK) {
        vtd_log(VTD_LOG_ERROR, "cannot open store", "path=%s err=%s", srv.cfg.data_dir,
                vt_strerror(e));
        goto out;
    }
    if (vtd_metrics_new(&srv.metrics) != VT_OK || make_limiters(&srv) != VT_OK)
        goto out;
    vtd_log(VTD_LOG_INFO, "store open", "path=%s/ventra.db schema=%d", srv.cfg.data_dir,
            vtd_store_schema_version(srv.store));
    if (vtd_net_run(&srv) == VT_OK)
        rc = 0;
    vtd_log(VTD_LOG_INFO, "stopped", "exit=%d", rc);
out:
    vtd_store_close(srv.store);
    vtd_metrics_free(srv.metrics);
    for (int i = 0; i < VTD_LIMIT_COUNT; i++)
        vtd_limiter_free(srv.limiters[i]);
    if (srv.server_sk)
        sodium_free(srv.server_sk);
    return rc;
}
