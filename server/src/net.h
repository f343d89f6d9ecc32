/* ventrad's network adapter (libwebsockets): see net.c. */
#ifndef VTD_NET_H
#define VTD_NET_H

#include "ventra/err.h"

typedef struct vtd_server vtd_server;

/* Listens as srv->cfg says, logs "listening", and serves until SIGTERM or
 * SIGINT has led to a clean shutdown (WIRE-14). Errors: VT_ERR_IO. */
vt_err vtd_net_run(vtd_server *srv);

/* Once a second, from the loop: expiry sweeps (tokens, lapsed devices,
 * idempotency records, retention) every minute. */
void vtd_server_housekeeping(vtd_server *srv);

/* Starts the shutdown of WIRE-14: from now on requests are answered
 * ERROR_UNAVAILABLE; vtd_server_close_all then ends every connection
 * (SessionEndedEvent SHUTDOWN when authenticated, close 1001). */
void vtd_server_begin_shutdown(vtd_server *srv);
void vtd_server_close_all(vtd_server *srv);

#endif
