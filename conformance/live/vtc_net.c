/* The kit's connection to the target: a process-wide host, plain TCP or TLS
 * (OpenSSL, the certificate verified against the system store or a given CA
 * file, spec/wire.md WIRE-6), deadlines on every read and write, and the
 * failure handler that every helper of the kit reports through. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "vtc.h"
#include "vtc_int.h"

static struct {
    char host[256];
    SSL_CTX *tls; /* NULL: plain */
    bool insecure;
    vtc_fail_fn fail;
    void *fail_ud;
} target = {.host = "127.0.0.1"};

void vtc_set_fail_handler(vtc_fail_fn fn, void *ud)
{
    target.fail = fn;
    target.fail_ud = ud;
}

void vtc_fail(const char *fmt, ...)
{
    va_list ap;
    char buf[1024];

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (target.fail != NULL)
        target.fail(buf, target.fail_ud);
    fprintf(stderr, "vtc: %s\n", buf);
    abort(); /* the handler must not return */
}

static void tls_error(const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();

    ERR_error_string_n(e, buf, sizeof buf);
    fprintf(stderr, "vtc: %s: %s\n", what, e ? buf : "(no detail)");
    ERR_clear_error();
}

bool vtc_target_set(const char *host, bool tls, const char *ca_file, bool insecure)
{
    SSL_CTX *ctx = NULL;

    if (tls) {
        ctx = SSL_CTX_new(TLS_client_method());
        if (ctx == NULL) {
            tls_error("SSL_CTX_new");
            return false;
        }
        /* WIRE-5: TLS 1.2 or later. */
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
        if (!insecure &&
            (ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                             : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
            tls_error(ca_file != NULL ? ca_file : "the system trust store");
            SSL_CTX_free(ctx);
            return false;
        }
    }
    SSL_CTX_free(target.tls);
    target.tls = ctx;
    target.insecure = insecure;
    snprintf(target.host, sizeof target.host, "%s", host ? host : "127.0.0.1");
    return true;
}

const char *vtc_target_host(void)
{
    return target.host;
}

/* Waits for |events| on |fd| until |deadline|; true when they came. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int r;

    do
        r = poll(&pfd, 1, vtc_left_ms(deadline));
    while (r < 0 && errno == EINTR);
    return r == 1;
}

static int tcp_connect(int port, int64_t deadline)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL, *ai;
    char service[16];
    int fd = -1, one = 1;

    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(target.host, service, &hints, &res) != 0)
        return -1;
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        int err = 0;
        socklen_t elen = sizeof err;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        /* Non-blocking from here on: every read and write waits in poll()
         * first, so that the deadlines hold. */
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
            (errno != EINPROGRESS || !wait_fd(fd, POLLOUT, deadline) ||
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Waits for what SSL_get_error says the session needs; false on a real
 * error or the deadline. */
static bool tls_wait(vtc_sock *s, int rc, int64_t deadline)
{
    switch (SSL_get_error(s->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return wait_fd(s->fd, POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE:
        return wait_fd(s->fd, POLLOUT, deadline);
    default:
        return false;
    }
}

static bool tls_open(vtc_sock *s, int64_t deadline)
{
    struct in6_addr a6;
    struct in_addr a4;
    bool ip = inet_pton(AF_INET, target.host, &a4) == 1 ||
              inet_pton(AF_INET6, target.host, &a6) == 1;
    int rc;

    s->ssl = SSL_new(target.tls);
    if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1)
        goto fail;
    if (!ip)
        SSL_set_tlsext_host_name(s->ssl, target.host);
    if (!target.insecure) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(s->ssl);

        if ((ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, target.host)
                : X509_VERIFY_PARAM_set1_host(vp, target.host, 0)) != 1)
            goto fail;
    }
    while ((rc = SSL_connect(s->ssl)) != 1)
        if (!tls_wait(s, rc, deadline))
            goto fail;
    return true;
fail:
    if (s->ssl != NULL && SSL_get_verify_result(s->ssl) != X509_V_OK)
        fprintf(stderr, "vtc: TLS certificate of %s: %s\n", target.host,
                X509_verify_cert_error_string(SSL_get_verify_result(s->ssl)));
    tls_error("TLS handshake");
    SSL_free(s->ssl);
    s->ssl = NULL;
    return false;
}

bool vtc_sock_open(vtc_sock *s, int port, int timeout_ms)
{
    int64_t deadline = vtc_now_ms() + timeout_ms;

    s->ssl = NULL;
    s->fd = tcp_connect(port, deadline);
    if (s->fd < 0)
        return false;
    if (target.tls != NULL && !tls_open(s, deadline)) {
        close(s->fd);
        s->fd = -1;
        return false;
    }
    return true;
}

long vtc_sock_read(vtc_sock *s, void *buf, size_t cap, int timeout_ms)
{
    int64_t deadline = vtc_now_ms() + timeout_ms;

    for (;;) {
        ssize_t n;

        if (s->ssl != NULL) {
            /* Read first: TLS may hold decrypted bytes that poll() does
             * not see. */
            int rc = SSL_read(s->ssl, buf, cap > 1 << 30 ? 1 << 30 : (int)cap);

            if (rc > 0)
                return rc;
            if (!tls_wait(s, rc, deadline))
                return SSL_get_error(s->ssl, rc) == SSL_ERROR_WANT_READ ||
                               SSL_get_error(s->ssl, rc) == SSL_ERROR_WANT_WRITE
                           ? 0
                           : -1;
            continue;
        }
        if (!wait_fd(s->fd, POLLIN, deadline))
            return 0;
        n = recv(s->fd, buf, cap, 0);
        if (n > 0)
            return (long)n;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        return -1;
    }
}

bool vtc_sock_write(vtc_sock *s, const void *data, size_t len, int64_t deadline)
{
    const uint8_t *p = data;

    while (len > 0) {
        ssize_t n;

        if (s->ssl != NULL) {
            int rc = SSL_write(s->ssl, p, len > 1 << 30 ? 1 << 30 : (int)len);

            if (rc <= 0) {
                if (!tls_wait(s, rc, deadline))
                    return false;
                continue;
            }
            n = rc;
        } else {
            if (!wait_fd(s->fd, POLLOUT, deadline))
                return false;
            n = send(s->fd, p, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                    continue;
                return false;
            }
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

void vtc_sock_close(vtc_sock *s)
{
    SSL_free(s->ssl);
    s->ssl = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* (Addition.) Whether the target is TLS (wss://), as vtc_target_set set it. */
bool vtc_target_is_tls(void)
{
    return target.tls != NULL;
}
