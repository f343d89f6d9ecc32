/* Private helpers of the protocol kit (vtc.h): growable buffers, the
 * connection to the target (plain TCP or TLS), the frame log and the
 * assertions behind vtc_expect_*. Test code only. */
#ifndef VTC_INT_H
#define VTC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtc.h"

/* malloc/realloc that fail the test instead of returning NULL. */
void *vtc_xmalloc(size_t n);
void *vtc_xrealloc(void *p, size_t n);
char *vtc_xstrdup(const char *s);

/* One connection to the target: a non-blocking socket, and the TLS
 * session over it when the target is TLS. */
typedef struct vtc_sock {
    int fd;
    struct ssl_st *ssl; /* NULL in plain */
} vtc_sock;

/* Connects to the target's |port| (and completes the TLS handshake, with
 * the certificate checked) within |timeout_ms|. Returns false, with the
 * reason on stderr for TLS, when it could not. */
bool vtc_sock_open(vtc_sock *s, int port, int timeout_ms);

/* Reads at most |cap| bytes, waiting at most |timeout_ms|. Returns the
 * count (> 0), 0 on timeout, -1 on end of stream or error. */
long vtc_sock_read(vtc_sock *s, void *buf, size_t cap, int timeout_ms);

/* Writes all |len| bytes before |deadline|; false on error or timeout. */
bool vtc_sock_write(vtc_sock *s, const void *data, size_t len, int64_t deadline);

/* Closes (a TLS session without close_notify) and resets |s|. */
void vtc_sock_close(vtc_sock *s);

/* Hands one record to the frame hook, if any. */
void vtc_log_frame(unsigned conn, bool sent, int opcode, const void *data, size_t len,
                   int status);

/* A number for a new connection (1, 2, ...). */
unsigned vtc_next_conn_no(void);

/* Fails the test when |cond| is false / when two integers differ. */
#define VTC_ASSERT(cond)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            vtc_fail("%s:%d: assertion failed: %s", __FILE__, __LINE__, #cond);          \
    } while (0)
#define VTC_ASSERT_INT(got, want)                                                        \
    do {                                                                                 \
        long long got_ = (long long)(got), want_ = (long long)(want);                    \
        if (got_ != want_)                                                               \
            vtc_fail("%s:%d: %s is %lld, want %lld", __FILE__, __LINE__, #got, got_,     \
                     want_);                                                             \
    } while (0)

#endif
