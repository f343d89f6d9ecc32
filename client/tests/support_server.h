/* The engine tests' process helper: the real ventrad on a free loopback
 * port with a fresh data directory, and fresh client data directories. */
#ifndef VT_CLIENT_TEST_SUPPORT_SERVER_H
#define VT_CLIENT_TEST_SUPPORT_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct ts_server {
    pid_t pid;
    int port;
    char dir[256];      /* the temporary tree of this test */
    char url[64];       /* ws://127.0.0.1:PORT */
} ts_server;

/* Starts ventrad (--limits off); false when it did not report its port. */
bool ts_server_start(ts_server *s);
/* Stops it (SIGTERM, then waits) and removes the temporary tree. */
void ts_server_stop(ts_server *s);
/* A fresh client data directory path under the server's tree. */
void ts_client_dir(const ts_server *s, const char *name, char *out, size_t cap);

#endif
