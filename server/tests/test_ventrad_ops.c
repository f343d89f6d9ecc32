/* Black-box tests of ventrad's operational side: the configuration
 * (flags, file, VENTRA_* environment, --check-config, WIRE-5), TLS with a
 * `ventrad gen-cert` pair (spec/wire.md 1.2), rate limits answered with
 * ERROR_RATE_LIMITED and a retry-after (WIRE-70) and the idle timeout
 * (WIRE-12). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "vt_constants.h"
#include "vtc_server.h"

static const char *ventrad(void)
{
    static char path[600];
    const char *b = getenv("VT_BUILD_DIR");
    snprintf(path, sizeof path, "%s/bin/ventrad", b ? b : "build");
    return path;
}

/* Runs ventrad with |args| (NULL-terminated, after argv[0]) and optional
 * environment assignment |env| ("NAME=value"); returns its exit status. */
static int run_ventrad(const char *env, const char *const *args)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[32];
        int n = 0;
        argv[n++] = (char *)ventrad();
        for (; args[n - 1] && n < 31; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        if (env)
            putenv((char *)env);
        int devnull = open("/dev/null", 1);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Makes |dir| (a mkdtemp template) a fresh directory, and |a| and |b| the
 * paths of the files |a_name| and |b_name| in it. */
static void temp_paths(char *dir, char a[300], const char *a_name, char b[300],
                       const char *b_name)
{
    assert_non_null(mkdtemp(dir));
    snprintf(a, 300, "%s/%s", dir, a_name);
    snprintf(b, 300, "%s/%s", dir, b_name);
}

/* Removes the files |a| and |b| and then the directory |dir|. */
static void remove_paths(const char *dir, const char *a, const char *b)
{
    unlink(a);
    unlink(b);
    rmdir(dir);
}

static void test_check_config(void **state)
{
    (void)state;
    char dir[] = "/tmp/vtops-XXXXXX", conf[300], bad[300];
    temp_paths(dir, conf, "ventrad.conf", bad, "bad.conf");
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "# a comment\nlisten = 127.0.0.1:9000\nlimit.sends = 10/s:5\n"
               "registration = closed\nlog-level = warn\n");
    fclose(f);
    f = fopen(bad, "w");
    assert_non_null(f);
    fprintf(f, "listen 127.0.0.1:9000\n");
    fclose(f);

    const char *ok[] = {"--data", dir, "--check-config", NULL};
    assert_int_equal(run_ventrad(NULL, ok), 0);
    const char *file_ok[] = {"--config", conf, "--data", dir, "--check-config", NULL};
    assert_int_equal(run_ventrad(NULL, file_ok), 0);
    const char *file_bad[] = {"--config", bad, "--check-config", NULL};
    assert_int_equal(run_ventrad(NULL, file_bad), 2);
    /* WIRE-5: plain ws only on loopback */
    const char *public_ws[] = {"--listen", "0.0.0.0:9000", "--check-config", NULL};
    assert_int_equal(run_ventrad(NULL, public_ws), 2);
    assert_int_equal(run_ventrad("VENTRA_LISTEN=192.0.2.1:9000", ok), 2);
    const char *loop6[] = {"--listen", "[::1]:9000", "--check-config", NULL};
    assert_int_equal(run_ventrad(NULL, loop6), 0);
    const char *bad_limit[] = {"--limit", "sends=fast", "--check-config", NULL};
    assert_int_equal(run_ventrad(NULL, bad_limit), 2);
    const char *bad_name[] = {"--limit", "nothing=1/s:1", "--check-config", NULL};
    assert_int_equal(run_ventrad(NULL, bad_name), 2);
    assert_int_equal(run_ventrad("VENTRA_LIMIT_SENDS=sometimes", ok), 2);
    const char *cert_alone[] = {"--tls-cert", conf, "--check-config", NULL};
    assert_int_equal(run_ventrad(NULL, cert_alone), 2);
    const char *unknown[] = {"--colour", "blue", "--check-config", NULL};
    assert_int_equal(run_ventrad(NULL, unknown), 2);
    remove_paths(dir, conf, bad);
}

/* A request that finds its bucket empty is refused with a retry-after of
 * at least 1 ms and no more than a refill period (WIRE-70). */
static void test_request_rate_limit(void **state)
{
    (void)state;
    vtc_server srv;
    const char *extra[] = {"--limits", "off", "--limit", "requests=1/s:3", NULL};
    vtc_server_start(&srv, extra);
    vtc_client *c = vtc_client_new(srv.port);
    for (int i = 0; i < 4; i++) {
        Ventra__V1__Response *r = vtc_rpc_ping(c, (uint64_t)i);
        assert_non_null(r);
        if (i < 3) {
            assert_int_equal(vtc_error_code(r), 0);
        } else {
            assert_int_equal(vtc_error_code(r), VT_ERR_RATE_LIMITED);
            assert_true(r->error->retry_after_ms >= 1 &&
                        r->error->retry_after_ms <= 1000);
        }
        vtc_response_free(r);
    }
    /* the connection stays usable for other clients */
    vtc_client *fresh = vtc_client_new(srv.port);
    assert_int_equal(vtc_take_code(vtc_rpc_ping(fresh, 0)), 0);
    vtc_client_free(fresh);
    vtc_client_free(c);
    vtc_server_cleanup(&srv);
}

/* The sends bucket is keyed by account: two devices share it. */
static void test_send_rate_limit(void **state)
{
    (void)state;
    vtc_server srv;
    const char *extra[] = {"--limits", "off", "--limit", "sends=1/h:2", NULL};
    vtc_server_start(&srv, extra);
    vtc_device *alice = vtc_new_account(&srv, "alice");
    vtc_device *bob = vtc_new_account(&srv, "bob");
    for (int i = 0; i < 3; i++) {
        Ventra__V1__Response *r = vtc_send_text(alice, bob->username, "hi", NULL);
        assert_non_null(r);
        if (i < 2) {
            assert_int_equal(vtc_error_code(r), 0);
        } else {
            assert_int_equal(vtc_error_code(r), VT_ERR_RATE_LIMITED);
            /* one token per hour: the wait is most of an hour */
            assert_true(r->error->retry_after_ms > 3000000);
        }
        vtc_response_free(r);
    }
    /* bob's own bucket is untouched */
    assert_int_equal(vtc_take_code(vtc_send_text(bob, alice->username, "hello", NULL)),
                     0);
    vtc_device_free(alice);
    vtc_device_free(bob);
    vtc_server_cleanup(&srv);
}

/* WIRE-12: a connection that sends nothing (and so does not answer the
 * server's pings either) is closed with 1000 after the idle timeout. */
static void test_idle_timeout(void **state)
{
    (void)state;
    vtc_server srv;
    const char *extra[] = {"--idle-timeout-s", "2", NULL};
    vtc_server_start(&srv, extra);
    vtc_device *d = vtc_new_account(&srv, "idle");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct timespec nap = {3, 600 * 1000 * 1000}; /* timeout + the 1 s tick */
    nanosleep(&nap, NULL); /* read nothing: the kit answers pings only when reading */
    int code = vtc_wait_close(d->c, 5000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(code, 1000);
    assert_true(t1.tv_sec - t0.tv_sec < 7);
    vtc_device_free(d);
    vtc_server_cleanup(&srv);
}

/* A client that answers the server's pings is not idle. */
static void test_pongs_keep_alive(void **state)
{
    (void)state;
    vtc_server srv;
    const char *extra[] = {"--idle-timeout-s", "2", "--log-level", "debug", NULL};
    vtc_server_start(&srv, extra);
    vtc_device *d = vtc_new_account(&srv, "lively");
    /* keep reading (and so answering pings) for twice the timeout */
    assert_int_equal(vtc_wait_close(d->c, 4500), 0);
    vtc_device_free(d);
    vtc_server_cleanup(&srv);
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Opens TLS to the server, trusting only |cert|; max_version 0 = any. */
static SSL *tls_open(SSL_CTX **ctx_out, int port, const char *cert, int max_version,
                     int *fd)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, cert, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (max_version) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(ctx, max_version);
        SSL_CTX_set_security_level(ctx, 0);
    }
    *fd = tcp_connect(port);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, *fd);
    SSL_set1_host(ssl, "127.0.0.1");
    *ctx_out = ctx;
    return ssl;
}

static void test_tls(void **state)
{
    (void)state;
    char dir[] = "/tmp/vtops-XXXXXX", cert[300], key[300];
    temp_paths(dir, cert, "cert.pem", key, "key.pem");
    const char *gen[] = {"gen-cert", cert, key, NULL};
    assert_int_equal(run_ventrad(NULL, gen), 0);

    vtc_server srv;
    const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    vtc_server_start(&srv, extra);

    SSL_CTX *ctx;
    int fd;
    SSL *ssl = tls_open(&ctx, srv.port, cert, 0, &fd);
    assert_int_equal(SSL_connect(ssl), 1); /* the certificate verifies */
    assert_true(SSL_version(ssl) >= TLS1_2_VERSION);
    const char get[] =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    assert_int_equal(SSL_write(ssl, get, (int)strlen(get)), (int)strlen(get));
    char buf[1024];
    size_t got = 0;
    int n;
    while (got < sizeof buf - 1 &&
           (n = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got))) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    assert_non_null(strstr(buf, " 200 "));
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);

    /* WIRE-5: nothing older than TLS 1.2 */
    ssl = tls_open(&ctx, srv.port, cert, TLS1_1_VERSION, &fd);
    assert_int_not_equal(SSL_connect(ssl), 1);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    ERR_clear_error();

    vtc_server_cleanup(&srv);
    remove_paths(dir, cert, key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_config),
        cmocka_unit_test(test_request_rate_limit),
        cmocka_unit_test(test_send_rate_limit),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_pongs_keep_alive),
        cmocka_unit_test(test_tls),
    };
    return VTC_RUN(tests, NULL, NULL);
}
