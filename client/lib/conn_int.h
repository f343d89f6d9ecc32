/* The client's connection (conn.c): transport, requests in flight and the
 * client_conn machine's glue. spec/state/client_conn.md, spec/wire.md. */
#ifndef VT_CLIENT_CONN_INT_H
#define VT_CLIENT_CONN_INT_H

#include "client_int.h"

vt_err vc_conn_init(vt_client *c);
void vc_conn_free(vt_client *c);
void vc_conn_fire(vt_client *c, vt_client_conn_event ev);
vt_err vc_conn_service(vt_client *c, int timeout_ms);
void vc_conn_timers(vt_client *c);
bool vc_conn_authed(const vt_client *c);
/* Sends |req| (its body set; id filled in) as an async request. */
vt_err vc_rpc_async(vt_client *c, ventra_v1_Request *req, vc_rpc_cb cb, void *ud);
/* Sends |req| and runs the loop until its response, the connection's end or
 * |deadline_ms|. VT_OK: *out is the response frame (caller frees); an
 * Error response returns its code with *out set too (for details);
 * VT_ERR_UNAVAILABLE when no response came. */
vt_err vc_rpc_call(vt_client *c, ventra_v1_Request *req, ventra_v1_Frame **out,
                   uint64_t deadline_ms);
size_t vc_rpc_inflight(const vt_client *c);
/* The vt_err for the code of an Error on the wire: the code itself when it
 * is a wire code of this revision, else VT_ERR_INTERNAL (WIRE-42, SPEC-3).
 * Every wire code becomes a vt_err through here. */
vt_err vc_wire_err(uint32_t code);

/* The public name (client.h) of a state of the client_conn machine. */
vt_client_state vc_conn_public_state(vt_client_conn_state s);
void vc_flush_acks(vt_client *c);
void vc_queue_ack(vt_client *c, uint64_t seq);

#endif
