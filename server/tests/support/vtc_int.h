/* Private helpers of the black-box test kit (vtc.h): failing the running
 * cmocka test, growable buffers, sockets. Test code only. */
#ifndef VTC_INT_H
#define VTC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Prints the message and fails the running cmocka test (longjmps back to
 * the runner, so the group teardown still stops the server). */
__attribute__((noreturn, format(printf, 1, 2))) void vtc_fail(const char *fmt, ...);

/* malloc/realloc that fail the test instead of returning NULL. */
void *vtc_xmalloc(size_t n);
void *vtc_xrealloc(void *p, size_t n);
char *vtc_xstrdup(const char *s);

/* Connects a blocking TCP socket to 127.0.0.1:|port| within |timeout_ms|;
 * returns the descriptor or -1. */
int vtc_tcp_connect(int port, int timeout_ms);

/* Writes all |len| bytes before |deadline|; false on error or timeout. */
bool vtc_write_all(int fd, const void *data, size_t len, int64_t deadline);

#endif
