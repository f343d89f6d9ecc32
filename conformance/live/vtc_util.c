/* Shared helpers of the test kit: deadlines, buffers, an HTTP/1.1 GET for the endpoints
 * of spec/wire.md section 1.3, and base64url (RFC 4648 section 5) for tokens
 * (spec/auth.md AUTH-50). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "vtc.h"
#include "vtc_int.h"

int64_t vtc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t vtc_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int vtc_left_ms(int64_t deadline)
{
    int64_t left = deadline - vtc_now_ms();

    if (left < 0)
        return 0;
    if (left > 1000000)
        return 1000000;
    return (int)left;
}

void *vtc_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        vtc_fail("out of memory (%zu bytes)", n);
    return p;
}

void *vtc_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        vtc_fail("out of memory (%zu bytes)", n);
    return q;
}

char *vtc_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = vtc_xmalloc(n);

    memcpy(p, s, n);
    return p;
}

/* ---- HTTP ----------------------------------------------------------- */

/* Decodes a chunked body in place; returns its length. */
static size_t dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;

    while (in < len) {
        char *end;
        unsigned long n = strtoul(body + in, &end, 16);
        char *eol = strstr(body + in, "\r\n");

        if (eol == NULL || end == body + in)
            break;
        in = (size_t)(eol - body) + 2;
        if (n == 0 || in + n > len)
            break;
        memmove(body + out, body + in, n);
        out += n;
        in += n + 2;
    }
    body[out] = '\0';
    return out;
}

int vtc_http_request(int port, const char *request, char **headers, char **body)
{
    int64_t deadline = vtc_now_ms() + 5000;
    char *buf = NULL, *sep, *cl;
    size_t len = 0, cap = 0, hlen, blen;
    vtc_sock s;
    int status = -1;

    if (headers != NULL)
        *headers = NULL;
    if (body != NULL)
        *body = NULL;
    if (!vtc_sock_open(&s, port, 5000))
        return -1;
    if (!vtc_sock_write(&s, request, strlen(request), deadline))
        goto out;
    /* The request says Connection: close, so read to the end; stop early
     * once Content-Length bytes of body are in. */
    for (;;) {
        long n;

        if (cap - len < 4097) {
            cap = cap ? cap * 2 : 8192;
            buf = vtc_xrealloc(buf, cap);
        }
        buf[len] = '\0';
        sep = strstr(buf, "\r\n\r\n");
        if (sep != NULL && (cl = strcasestr(buf, "\ncontent-length:")) != NULL &&
            cl < sep) {
            size_t want = strtoul(cl + 16, NULL, 10);

            if (len >= (size_t)(sep - buf) + 4 + want)
                break;
        }
        n = vtc_sock_read(&s, buf + len, cap - len - 1, vtc_left_ms(deadline));
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (buf == NULL)
        goto out;
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        status = -1;
        goto out;
    }
    sep = strstr(buf, "\r\n\r\n");
    hlen = sep ? (size_t)(sep - buf) + 2 : len;
    blen = sep ? len - hlen - 2 : 0;
    if (headers != NULL) {
        *headers = vtc_xmalloc(hlen + 1);
        memcpy(*headers, buf, hlen);
        (*headers)[hlen] = '\0';
    }
    if (body != NULL) {
        char *b = vtc_xmalloc(blen + 1);
        char *te = strcasestr(buf, "\ntransfer-encoding: chunked");

        if (blen)
            memcpy(b, sep + 4, blen);
        b[blen] = '\0';
        if (te != NULL && te < buf + hlen)
            dechunk(b, blen);
        *body = b;
    }
out:
    free(buf);
    vtc_sock_close(&s);
    return status;
}

int vtc_http_get(int port, const char *path, char **headers, char **body)
{
    char req[1024];

    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", path,
             vtc_target_host(), port);
    return vtc_http_request(port, req, headers, body);
}

/* ---- base64url ------------------------------------------------------- */

char *vtc_b64url(const void *data, size_t len)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const uint8_t *p = data;
    char *out = vtc_xmalloc(len / 3 * 4 + 5);
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;

        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}
