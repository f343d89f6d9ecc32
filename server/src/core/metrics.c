/* ventrad metrics: fixed-label counters, gauges and histograms and their
 * Prometheus text exposition (format 0.0.4) for GET /metrics. Implements
 * spec/wire.md section 1.3 (WIRE-8: aggregate values only). */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_rpc.h"

/* Relaxed atomics: each counter is exact, their mutual order does not
 * matter. calloc's zero bytes are a valid zero for these lock-free types. */
typedef _Atomic uint64_t counter;
typedef _Atomic int64_t gauge;

#define ERR_SCAN 256 /* vt_err values probed for a name */
#define ERR_SLOTS 64 /* named results kept apart; more fall into "other" */
#define RPC_SLOTS (VT_RPC_COUNT + 1) /* the catalogue, then "unknown" */
#define HIST_MAX 16
#define UNNAMED 0xff /* err_slot[]: no name of its own, counts as "other" */

typedef struct bound {
    double v;
    const char *le;
} bound;

/* Latency of RPCs, seconds. */
static const bound RPC_LE[] = {{0.0005, "0.0005"}, {0.001, "0.001"}, {0.0025, "0.0025"},
                               {0.005, "0.005"},   {0.01, "0.01"},   {0.025, "0.025"},
                               {0.05, "0.05"},     {0.1, "0.1"},     {0.25, "0.25"},
                               {0.5, "0.5"},       {1, "1"},         {2.5, "2.5"},
                               {5, "5"},           {10, "10"}};
/* Duration of a store commit, seconds. */
static const bound COMMIT_LE[] = {{0.0001, "0.0001"},
                                  {0.00025, "0.00025"},
                                  {0.0005, "0.0005"},
                                  {0.001, "0.001"},
                                  {0.0025, "0.0025"},
                                  {0.005, "0.005"},
                                  {0.01, "0.01"},
                                  {0.025, "0.025"},
                                  {0.05, "0.05"},
                                  {0.1, "0.1"},
                                  {0.25, "0.25"},
                                  {0.5, "0.5"},
                                  {1, "1"}};
/* Operations per store batch. */
static const bound OPS_LE[] = {{1, "1"},     {2, "2"},     {4, "4"},      {8, "8"},
                               {16, "16"},   {32, "32"},   {64, "64"},    {128, "128"},
                               {256, "256"}, {512, "512"}, {1024, "1024"}};
#define NBOUNDS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NBOUNDS(RPC_LE) <= HIST_MAX && NBOUNDS(COMMIT_LE) <= HIST_MAX &&
                   NBOUNDS(OPS_LE) <= HIST_MAX,
               "a histogram has more bounds than struct hist holds");
_Static_assert(ERR_SLOTS < UNNAMED, "result slots must fit err_slot[]");

static const int CLOSE_CODES[] = {1000, 1001, 1002, 1003, 1008, 1009, 1011, 4001};
static const char *const CLOSE_LABELS[] = {"1000", "1001", "1002", "1003", "1008",
                                           "1009", "1011", "4001", "other"};
#define CLOSE_SLOTS (NBOUNDS(CLOSE_CODES) + 1)

static const char *const KIND_LABELS[VTD_FRAME_KIND_COUNT] = {
    "request", "response", "event", "no_kind", "malformed", "text", "oversize"};

/* Non-cumulative counts per bucket (the last is above every bound), and
 * the sum of observations in nanoseconds (durations) or units (ops). */
typedef struct hist {
    counter n[HIST_MAX + 1];
    counter sum;
} hist;

struct vtd_metrics {
    gauge conns_open, conns_auth;
    counter conns_opened;
    counter conns_closed[CLOSE_SLOTS];
    counter frames_in[VTD_FRAME_KIND_COUNT], frames_out[VTD_FRAME_KIND_COUNT];
    counter rpcs[RPC_SLOTS][ERR_SLOTS + 1];
    hist rpc_seconds[RPC_SLOTS];
    counter stored, delivered, acked;
    counter queue_depth;
    hist batch_ops, commit_seconds;
    counter errors[ERR_SLOTS + 1];
    /* vt_err value -> result slot; slot names ("ok", then ERROR_*; the
     * slot n_err_slots is "other"). Fixed at creation. */
    uint8_t err_slot[ERR_SCAN];
    const char *err_names[ERR_SLOTS + 1];
    size_t n_err_slots;
};

vt_err vtd_metrics_new(vtd_metrics **out)
{
    if (out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    vtd_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return VT_ERR_NO_MEMORY;
    /* The result labels are the schema's names (vt_err_name); VT_OK is
     * "ok". Probing the names keeps this in step with the generated enum. */
    size_t n = 1;
    m->err_names[0] = "ok";
    for (int v = 1; v < ERR_SCAN; v++) {
        const char *name = vt_err_name((vt_err)v);
        if (name != NULL && n < ERR_SLOTS) {
            m->err_slot[v] = (uint8_t)n;
            m->err_names[n++] = name;
        } else {
            m->err_slot[v] = UNNAMED;
        }
    }
    m->n_err_slots = n;
    m->err_names[n] = "other";
    *out = m;
    return VT_OK;
}

void vtd_metrics_free(vtd_metrics *m)
{
    free(m);
}

static void inc(counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void gauge_add(gauge *g, int64_t n)
{
    atomic_fetch_add_explicit(g, n, memory_order_relaxed);
}

static uint64_t get(const counter *c)
{
    return atomic_load_explicit((counter *)c, memory_order_relaxed);
}

static size_t err_slot(const vtd_metrics *m, vt_err e)
{
    int v = (int)e;
    if (v < 0 || v >= ERR_SCAN || m->err_slot[v] == UNNAMED)
        return m->n_err_slots;
    return m->err_slot[v];
}

/* Seconds as whole nanoseconds, 0 for negative or NaN, capped at ~31
 * years so that a sum of many cannot plausibly wrap. */
static uint64_t to_ns(double s)
{
    if (!(s > 0))
        return 0;
    if (s > 1e9)
        return 1000000000ull * 1000000000ull;
    return (uint64_t)(s * 1e9 + 0.5);
}

static void observe(hist *h, const bound *b, size_t nb, double v, uint64_t sum_units)
{
    size_t i = 0;
    while (i < nb && !(v <= b[i].v))
        i++;
    inc(&h->n[i], 1);
    inc(&h->sum, sum_units);
}

void vtd_metrics_conn_opened(vtd_metrics *m)
{
    gauge_add(&m->conns_open, 1);
    inc(&m->conns_opened, 1);
}

void vtd_metrics_conn_authenticated(vtd_metrics *m)
{
    gauge_add(&m->conns_auth, 1);
}

void vtd_metrics_conn_closed(vtd_metrics *m, int close_code, bool was_authenticated)
{
    size_t slot = 0;
    while (slot < NBOUNDS(CLOSE_CODES) && CLOSE_CODES[slot] != close_code)
        slot++;
    inc(&m->conns_closed[slot], 1);
    gauge_add(&m->conns_open, -1);
    if (was_authenticated)
        gauge_add(&m->conns_auth, -1);
}

void vtd_metrics_frame_in(vtd_metrics *m, vtd_frame_kind kind)
{
    if ((unsigned)kind < VTD_FRAME_KIND_COUNT)
        inc(&m->frames_in[kind], 1);
}

void vtd_metrics_frame_out(vtd_metrics *m, vtd_frame_kind kind)
{
    if ((unsigned)kind < VTD_FRAME_KIND_COUNT)
        inc(&m->frames_out[kind], 1);
}

void vtd_metrics_rpc(vtd_metrics *m, uint32_t method_id, vt_err result, double seconds)
{
    /* vt_rpc_find is a binary search of the fixed catalogue: O(1) here. */
    const vt_rpc_desc *d = vt_rpc_find(method_id);
    size_t r = d != NULL && (size_t)(d - vt_rpcs) < VT_RPC_COUNT ? (size_t)(d - vt_rpcs)
                                                                 : VT_RPC_COUNT;
    inc(&m->rpcs[r][err_slot(m, result)], 1);
    observe(&m->rpc_seconds[r], RPC_LE, NBOUNDS(RPC_LE), seconds, to_ns(seconds));
}

void vtd_metrics_messages_stored(vtd_metrics *m, uint64_t n)
{
    inc(&m->stored, n);
}

void vtd_metrics_messages_delivered(vtd_metrics *m, uint64_t n)
{
    inc(&m->delivered, n);
}

void vtd_metrics_messages_acked(vtd_metrics *m, uint64_t n)
{
    inc(&m->acked, n);
}

void vtd_metrics_set_queue_depth(vtd_metrics *m, uint64_t total)
{
    atomic_store_explicit(&m->queue_depth, total, memory_order_relaxed);
}

void vtd_metrics_store_batch(vtd_metrics *m, size_t ops, double commit_seconds)
{
    observe(&m->batch_ops, OPS_LE, NBOUNDS(OPS_LE), (double)ops, (uint64_t)ops);
    observe(&m->commit_seconds, COMMIT_LE, NBOUNDS(COMMIT_LE), commit_seconds,
            to_ns(commit_seconds));
}

void vtd_metrics_error(vtd_metrics *m, vt_err code)
{
    if (code != VT_OK)
        inc(&m->errors[err_slot(m, code)], 1);
}

/* ---- rendering ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool failed;
} buf;

__attribute__((format(printf, 2, 3))) static void put(buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap =
            b->cap * 2 > b->len + (size_t)n + 1 ? b->cap * 2 : b->len + (size_t)n + 1;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void family(buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* |label| is empty or `name="value",` (with the comma), prefixed to le. */
static void put_hist(buf *b, const char *name, const char *label, const hist *h,
                     const bound *bd, size_t nb, bool ns)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < nb; i++) {
        cum += get(&h->n[i]);
        put(b, "%s_bucket{%sle=\"%s\"} %" PRIu64 "\n", name, label, bd[i].le, cum);
    }
    cum += get(&h->n[nb]);
    put(b, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, label, cum);
    /* Labels without the trailing comma, for _sum and _count. */
    size_t ll = strlen(label);
    int lw = ll > 0 ? (int)ll - 1 : 0;
    const char *open = ll > 0 ? "{" : "", *close = ll > 0 ? "}" : "";
    uint64_t sum = get(&h->sum);
    if (ns)
        put(b, "%s_sum%s%.*s%s %" PRIu64 ".%09" PRIu64 "\n", name, open, lw, label, close,
            sum / 1000000000u, sum % 1000000000u);
    else
        put(b, "%s_sum%s%.*s%s %" PRIu64 "\n", name, open, lw, label, close, sum);
    put(b, "%s_count%s%.*s%s %" PRIu64 "\n", name, open, lw, label, close, cum);
}

static uint64_t hist_count(const hist *h, size_t nb)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= nb; i++)
        n += get(&h->n[i]);
    return n;
}

static const char *rpc_name(size_t r)
{
    return r < VT_RPC_COUNT && r < vt_rpc_count ? vt_rpcs[r].method : "unknown";
}

/* A family of one unlabelled sample. */
static void scalar(buf *b, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    family(b, name, type, help);
    put(b, "%s %" PRIu64 "\n", name, value);
}

vt_err vtd_metrics_render(const vtd_metrics *m, char **out, size_t *len)
{
    if (m == NULL || out == NULL || len == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    buf b = {.p = malloc(8192), .cap = 8192};
    if (b.p == NULL)
        return VT_ERR_NO_MEMORY;
    b.p[0] = '\0';

    family(&b, "ventra_connections", "gauge", "Open WebSocket connections, by state.");
    put(&b, "ventra_connections{state=\"open\"} %" PRId64 "\n",
        atomic_load_explicit((gauge *)&m->conns_open, memory_order_relaxed));
    put(&b, "ventra_connections{state=\"authenticated\"} %" PRId64 "\n",
        atomic_load_explicit((gauge *)&m->conns_auth, memory_order_relaxed));

    family(&b, "ventra_connections_opened_total", "counter",
           "WebSocket connections upgraded.");
    put(&b, "ventra_connections_opened_total %" PRIu64 "\n", get(&m->conns_opened));

    family(&b, "ventra_connections_closed_total", "counter",
           "WebSocket connections closed, by close code.");
    for (size_t i = 0; i < CLOSE_SLOTS; i++)
        put(&b, "ventra_connections_closed_total{code=\"%s\"} %" PRIu64 "\n",
            CLOSE_LABELS[i], get(&m->conns_closed[i]));

    family(&b, "ventra_frames_received_total", "counter",
           "WebSocket messages received, by kind.");
    for (size_t i = 0; i < VTD_FRAME_KIND_COUNT; i++)
        put(&b, "ventra_frames_received_total{kind=\"%s\"} %" PRIu64 "\n", KIND_LABELS[i],
            get(&m->frames_in[i]));
    family(&b, "ventra_frames_sent_total", "counter",
           "WebSocket messages sent, by kind.");
    for (size_t i = 0; i < VTD_FRAME_KIND_COUNT; i++)
        put(&b, "ventra_frames_sent_total{kind=\"%s\"} %" PRIu64 "\n", KIND_LABELS[i],
            get(&m->frames_out[i]));

    family(&b, "ventra_rpcs_total", "counter", "RPCs answered, by method and result.");
    for (size_t r = 0; r < RPC_SLOTS; r++)
        for (size_t e = 0; e <= m->n_err_slots; e++) {
            uint64_t n = get(&m->rpcs[r][e]);
            if (n > 0)
                put(&b, "ventra_rpcs_total{rpc=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                    rpc_name(r), m->err_names[e], n);
        }

    family(&b, "ventra_rpc_duration_seconds", "histogram",
           "Time from a request's decoding to its response, by method.");
    for (size_t r = 0; r < RPC_SLOTS; r++) {
        if (hist_count(&m->rpc_seconds[r], NBOUNDS(RPC_LE)) == 0)
            continue;
        char label[64];
        snprintf(label, sizeof label, "rpc=\"%s\",", rpc_name(r));
        put_hist(&b, "ventra_rpc_duration_seconds", label, &m->rpc_seconds[r], RPC_LE,
                 NBOUNDS(RPC_LE), true);
    }

    scalar(&b, "ventra_messages_stored_total", "counter",
           "Messages accepted into device queues (one per destination device).",
           get(&m->stored));
    scalar(&b, "ventra_messages_delivered_total", "counter",
           "Queued messages pushed to devices.", get(&m->delivered));
    scalar(&b, "ventra_messages_acked_total", "counter",
           "Queued messages acknowledged and deleted.", get(&m->acked));
    scalar(&b, "ventra_queue_depth", "gauge", "Messages queued for all devices together.",
           get(&m->queue_depth));

    family(&b, "ventra_store_batch_ops", "histogram",
           "Operations per store transaction.");
    put_hist(&b, "ventra_store_batch_ops", "", &m->batch_ops, OPS_LE, NBOUNDS(OPS_LE),
             false);
    family(&b, "ventra_store_commit_seconds", "histogram",
           "Time to commit a store transaction.");
    put_hist(&b, "ventra_store_commit_seconds", "", &m->commit_seconds, COMMIT_LE,
             NBOUNDS(COMMIT_LE), true);

    family(&b, "ventra_errors_total", "counter", "Error frames sent, by error code.");
    for (size_t e = 1; e <= m->n_err_slots; e++) {
        uint64_t n = get(&m->errors[e]);
        if (n > 0)
            put(&b, "ventra_errors_total{code=\"%s\"} %" PRIu64 "\n", m->err_names[e], n);
    }

    if (b.failed) {
        free(b.p);
        return VT_ERR_NO_MEMORY;
    }
    *out = b.p;
    *len = b.len;
    return VT_OK;
}
