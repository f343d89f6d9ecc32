/* ventrad metrics: aggregate counters, gauges and histograms, rendered in
 * the Prometheus text exposition format 0.0.4 for GET /metrics.
 * Implements spec/wire.md section 1.3 (WIRE-8: no identifying values). */
#ifndef VTD_METRICS_H
#define VTD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/crypto.h"
#include "ventra/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a WebSocket message was, for the frame counters (label kind). */
typedef enum vtd_frame_kind {
    VTD_FRAME_REQUEST,   /* "request" */
    VTD_FRAME_RESPONSE,  /* "response" */
    VTD_FRAME_EVENT,     /* "event" */
    VTD_FRAME_NO_KIND,   /* "no_kind": a Frame without (a known) kind */
    VTD_FRAME_MALFORMED, /* "malformed": not decodable as a Frame */
    VTD_FRAME_TEXT,      /* "text": a text message (closed with 1003) */
    VTD_FRAME_OVERSIZE,  /* "oversize": above MAX_FRAME_SIZE (1009) */
    VTD_FRAME_KIND_COUNT
} vtd_frame_kind;

/* The metrics of one server process. Every label value it can print is
 * fixed: a close code from a small set, a frame kind, an rpc method name
 * from the catalogue, an ERROR_* name from the schema, a bucket bound; no
 * update takes anything that identifies an account or a conversation
 * (WIRE-8). Updates are O(1), lock-free (relaxed atomics) and may come
 * from several threads; a render taken meanwhile is not an atomic
 * snapshot across series, but each histogram's +Inf bucket always equals
 * its _count. */
typedef struct vtd_metrics vtd_metrics;

/* Creates zeroed metrics into |*out|, freed with vtd_metrics_free; |*out|
 * is untouched on failure. Errors: VT_ERR_INVALID_ARGUMENT (NULL),
 * VT_ERR_NO_MEMORY. */
VT_MUST_CHECK vt_err vtd_metrics_new(vtd_metrics **out);

/* Frees |m|. NULL is a no-op. */
void vtd_metrics_free(vtd_metrics *m);

/* A WebSocket connection was upgraded: ventra_connections{state="open"}
 * up by one, ventra_connections_opened_total up by one. */
void vtd_metrics_conn_opened(vtd_metrics *m);

/* A connection authenticated (Register, Login or Resume succeeded):
 * ventra_connections{state="authenticated"} up by one. Call it once per
 * connection. */
void vtd_metrics_conn_authenticated(vtd_metrics *m);

/* A connection closed with |close_code| (the code sent or received; 1006
 * or any code outside 1000, 1001, 1002, 1003, 1008, 1009, 1011, 4001
 * counts as "other"): ventra_connections_closed_total{code=...} up by one,
 * the open gauge down by one, and the authenticated gauge down by one when
 * |was_authenticated| (the caller knows whether it called
 * vtd_metrics_conn_authenticated for this connection). */
void vtd_metrics_conn_closed(vtd_metrics *m, int close_code, bool was_authenticated);

/* One WebSocket message received from, or sent to, a client, by kind:
 * ventra_frames_received_total / ventra_frames_sent_total{kind=...}. A
 * kind out of range is ignored. */
void vtd_metrics_frame_in(vtd_metrics *m, vtd_frame_kind kind);
void vtd_metrics_frame_out(vtd_metrics *m, vtd_frame_kind kind);

/* An RPC answered: ventra_rpcs_total{rpc=<method>,result=<r>} up by one,
 * with <method> the catalogue name of |method_id| ("Send"; "unknown" for an
 * id vt_rpc_find does not know) and <r> "ok" for VT_OK, the ERROR_* name of
 * |result| otherwise ("other" for a value without one); and |seconds| (the
 * time from decoding the request to queueing its response; negative or NaN
 * counts as 0) into the histogram ventra_rpc_duration_seconds{rpc=...}. */
void vtd_metrics_rpc(vtd_metrics *m, uint32_t method_id, vt_err result, double seconds);

/* Messages accepted into queues (one per destination device), pushed to
 * devices as MessageEvents, and acknowledged: ventra_messages_stored_total,
 * ventra_messages_delivered_total, ventra_messages_acked_total up by |n|. */
void vtd_metrics_messages_stored(vtd_metrics *m, uint64_t n);
void vtd_metrics_messages_delivered(vtd_metrics *m, uint64_t n);
void vtd_metrics_messages_acked(vtd_metrics *m, uint64_t n);

/* The number of messages queued for all devices together, as last
 * counted: the gauge ventra_queue_depth. */
void vtd_metrics_set_queue_depth(vtd_metrics *m, uint64_t total);

/* One store transaction committed |ops| operations in |commit_seconds|:
 * histograms ventra_store_batch_ops (le 1, 2, 4, ..., 1024, +Inf) and
 * ventra_store_commit_seconds (le 0.0001 to 1, +Inf). */
void vtd_metrics_store_batch(vtd_metrics *m, size_t ops, double commit_seconds);

/* An Error frame was sent with |code|: ventra_errors_total{code=<name>} up
 * by one, <name> the ERROR_* name of |code| ("other" for a value without
 * one). VT_OK is not an error and is ignored. */
void vtd_metrics_error(vtd_metrics *m, vt_err code);

/* Renders |m| as Prometheus text 0.0.4: for every family a # HELP and a
 * # TYPE line, then its samples; labelled counters show only the label
 * sets seen so far (the fixed close codes and frame kinds always show);
 * histograms have cumulative _bucket{le=...} lines up to le="+Inf", then
 * _sum and _count. On success |*out| is a NUL-terminated malloc'd string
 * that the caller frees with free(), |*len| its length without the NUL;
 * on failure neither is written. Errors: VT_ERR_INVALID_ARGUMENT (NULL),
 * VT_ERR_NO_MEMORY. */
VT_MUST_CHECK vt_err vtd_metrics_render(const vtd_metrics *m, char **out, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
