/* Tests of ventrad metrics (server/src/core/metrics.c): exact exposition
 * lines, cumulative histograms, the Prometheus text format 0.0.4 line
 * syntax, and that only fixed label values ever appear (spec/wire.md 1.3,
 * WIRE-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "vt_rpc.h"

/* Renders |m| into |*text| (the caller frees it), checking the length. */
static void render(const vtd_metrics *m, char **text)
{
    size_t len = 0;
    *text = NULL;
    assert_int_equal(vtd_metrics_render(m, text, &len), VT_OK);
    assert_non_null(*text);
    assert_int_equal(strlen(*text), len);
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

#define assert_line(text, line)                                                          \
    do {                                                                                 \
        if (!has_line((text), (line)))                                                   \
            fail_msg("missing line: %s", (line));                                        \
    } while (0)

/* ---- a small checker of the exposition format ---- */

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static bool in_list(const char *v, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(v, *list) == 0)
            return true;
    return false;
}

static bool is_err_name(const char *v)
{
    for (int e = 0; e < 256; e++) {
        const char *n = vt_err_name((vt_err)e);
        if (n != NULL && strcmp(n, v) == 0)
            return true;
    }
    return false;
}

/* WIRE-8: every label value is one of a fixed set. */
static bool label_ok(const char *key, const char *v)
{
    static const char *const states[] = {"open", "authenticated", NULL};
    static const char *const codes[] = {"1000", "1001", "1002", "1003",  "1008",
                                        "1009", "1011", "4001", "other", NULL};
    static const char *const kinds[] = {"request",   "response", "event",    "no_kind",
                                        "malformed", "text",     "oversize", NULL};
    static const char *const les[] = {
        "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
        "0.025",  "0.05",    "0.1",    "0.25",  "0.5",    "1",     "2.5",
        "5",      "10",      "2",      "4",     "8",      "16",    "32",
        "64",     "128",     "256",    "512",   "1024",   "+Inf",  NULL};
    if (strcmp(key, "state") == 0)
        return in_list(v, states);
    if (strcmp(key, "kind") == 0)
        return in_list(v, kinds);
    if (strcmp(key, "le") == 0)
        return in_list(v, les);
    if (strcmp(key, "code") == 0)
        return in_list(v, codes) || is_err_name(v);
    if (strcmp(key, "result") == 0)
        return strcmp(v, "ok") == 0 || strcmp(v, "other") == 0 || is_err_name(v);
    if (strcmp(key, "rpc") == 0) {
        if (strcmp(v, "unknown") == 0)
            return true;
        for (size_t i = 0; i < vt_rpc_count; i++)
            if (strcmp(v, vt_rpcs[i].method) == 0)
                return true;
        return false;
    }
    return false;
}

static bool value_ok(const char *v)
{
    if (strcmp(v, "+Inf") == 0 || strcmp(v, "-Inf") == 0 || strcmp(v, "NaN") == 0)
        return true;
    const char *p = v;
    if (*p == '-')
        p++;
    int digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    return digits > 0 && *p == '\0';
}

typedef struct hist_track {
    char series[512]; /* name without _bucket, labels without le */
    double last_bucket;
    double inf;
    bool have_inf;
} hist_track;

/* Checks every line of |text|: "# HELP name text", "# TYPE name type" (once
 * per family, before its samples), or "name{k="v",...} value" with the name
 * of a declared family (plus _bucket/_sum/_count for histograms), fixed
 * label values, and for histograms non-decreasing buckets whose +Inf equals
 * _count. Returns the number of sample lines. */
static size_t check_exposition(const char *text)
{
    char families[64][64], types[64][16];
    size_t nfam = 0, samples = 0;
    hist_track tracks[64];
    size_t ntracks = 0;
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');

    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        char l[512];
        size_t n = (size_t)(end - line);
        assert_true(n > 0 && n < sizeof l);
        memcpy(l, line, n);
        l[n] = '\0';
        line = end + 1;

        if (strncmp(l, "# HELP ", 7) == 0) {
            const char *p = l + 7;
            assert_true(name_char(*p, true));
            while (name_char(*p, false))
                p++;
            assert_true(*p == ' ' && p[1] != '\0');
            continue;
        }
        if (strncmp(l, "# TYPE ", 7) == 0) {
            char name[64], type[16];
            assert_int_equal(sscanf(l + 7, "%63s %15s", name, type), 2);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
            for (size_t i = 0; i < nfam; i++)
                assert_string_not_equal(families[i], name);
            assert_true(nfam < 64);
            strcpy(families[nfam], name);
            strcpy(types[nfam++], type);
            continue;
        }
        assert_true(l[0] != '#');

        /* A sample: name, optional {labels}, one space, a value. */
        char *p = l;
        assert_true(name_char(*p, true));
        while (name_char(*p, false))
            p++;
        char name[64];
        assert_true((size_t)(p - l) < sizeof name);
        memcpy(name, l, (size_t)(p - l));
        name[p - l] = '\0';
        char series[256], le[64] = "";
        snprintf(series, sizeof series, "%s", name);
        if (*p == '{') {
            p++;
            bool first = true;
            while (*p != '}') {
                if (!first) {
                    assert_int_equal(*p, ',');
                    p++;
                }
                first = false;
                char key[32], val[64];
                size_t k = 0, v = 0;
                assert_true(name_char(*p, true));
                while (name_char(*p, false) && k < sizeof key - 1)
                    key[k++] = *p++;
                key[k] = '\0';
                assert_int_equal(*p++, '=');
                assert_int_equal(*p++, '"');
                while (*p != '"' && *p != '\0' && v < sizeof val - 1) {
                    assert_true(*p != '\\' && *p != '\n');
                    val[v++] = *p++;
                }
                val[v] = '\0';
                assert_int_equal(*p++, '"');
                if (!label_ok(key, val))
                    fail_msg("label %s=\"%s\" is not a fixed value", key, val);
                if (strcmp(key, "le") == 0)
                    snprintf(le, sizeof le, "%s", val);
                else
                    snprintf(series + strlen(series), sizeof series - strlen(series),
                             ",%s=%s", key, val);
            }
            p++;
        }
        assert_int_equal(*p++, ' ');
        assert_true(value_ok(p));
        samples++;

        /* Its family, declared before. */
        const char *type = NULL;
        char base[64];
        snprintf(base, sizeof base, "%s", name);
        for (size_t i = 0; i < nfam && type == NULL; i++)
            if (strcmp(families[i], name) == 0)
                type = types[i];
        const char *suffixes[] = {"_bucket", "_sum", "_count"};
        for (size_t s = 0; s < 3 && type == NULL; s++) {
            size_t nl = strlen(name), sl = strlen(suffixes[s]);
            if (nl > sl && strcmp(name + nl - sl, suffixes[s]) == 0) {
                base[nl - sl] = '\0';
                for (size_t i = 0; i < nfam; i++)
                    if (strcmp(families[i], base) == 0 &&
                        strcmp(types[i], "histogram") == 0)
                        type = types[i];
                if (type == NULL)
                    snprintf(base, sizeof base, "%s", name);
            }
        }
        if (type == NULL)
            fail_msg("sample %s of no declared family", name);
        assert_int_equal(strcmp(name, base) == 0, strcmp(type, "histogram") != 0);

        if (strcmp(type, "histogram") == 0) {
            /* series: base + labels except le */
            char key[512];
            snprintf(key, sizeof key, "%s%s", base,
                     strchr(series, ',') ? strchr(series, ',') : "");
            hist_track *t = NULL;
            for (size_t i = 0; i < ntracks; i++)
                if (strcmp(tracks[i].series, key) == 0)
                    t = &tracks[i];
            if (t == NULL) {
                assert_true(ntracks < 64);
                t = &tracks[ntracks++];
                memset(t, 0, sizeof *t);
                snprintf(t->series, sizeof t->series, "%s", key);
            }
            double v = strcmp(p, "+Inf") == 0 ? 1e300 : strtod(p, NULL);
            size_t nl = strlen(name);
            if (nl > 7 && strcmp(name + nl - 7, "_bucket") == 0) {
                assert_true(le[0] != '\0');
                assert_false(t->have_inf);
                assert_true(v >= t->last_bucket);
                t->last_bucket = v;
                if (strcmp(le, "+Inf") == 0) {
                    t->inf = v;
                    t->have_inf = true;
                }
            } else if (nl > 6 && strcmp(name + nl - 6, "_count") == 0) {
                assert_true(t->have_inf);
                assert_true(v == t->inf);
            }
        }
    }
    return samples;
}

/* Where |s| first occurs in |text|, or SIZE_MAX. */
static size_t offset_of(const char *text, const char *s)
{
    const char *p = strstr(text, s);
    return p != NULL ? (size_t)(p - text) : SIZE_MAX;
}

/* The value of the sample line that starts with |prefix| + " ". */
static uint64_t sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; (p = strstr(p, prefix)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtoull(p + n + 1, NULL, 10);
    fail_msg("no sample %s", prefix);
    return 0;
}

/* ---- tests ---- */

static void test_new_free_render_args(void **state)
{
    (void)state;
    vtd_metrics *m = NULL;
    assert_int_equal(vtd_metrics_new(NULL), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_metrics_new(&m), VT_OK);
    char *text = (char *)0x1;
    size_t len = 7;
    assert_int_equal(vtd_metrics_render(NULL, &text, &len), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_metrics_render(m, NULL, &len), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_metrics_render(m, &text, NULL), VT_ERR_INVALID_ARGUMENT);
    assert_ptr_equal(text, (char *)0x1);
    assert_int_equal(len, 7);
    vtd_metrics_free(m);
    vtd_metrics_free(NULL);
}

static void test_empty(void **state)
{
    (void)state;
    vtd_metrics *m;
    assert_int_equal(vtd_metrics_new(&m), VT_OK);
    char *t;
    render(m, &t);
    const char *families[][2] = {
        {"ventra_connections", "gauge"},
        {"ventra_connections_opened_total", "counter"},
        {"ventra_connections_closed_total", "counter"},
        {"ventra_frames_received_total", "counter"},
        {"ventra_frames_sent_total", "counter"},
        {"ventra_rpcs_total", "counter"},
        {"ventra_rpc_duration_seconds", "histogram"},
        {"ventra_messages_stored_total", "counter"},
        {"ventra_messages_delivered_total", "counter"},
        {"ventra_messages_acked_total", "counter"},
        {"ventra_queue_depth", "gauge"},
        {"ventra_store_batch_ops", "histogram"},
        {"ventra_store_commit_seconds", "histogram"},
        {"ventra_errors_total", "counter"},
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        char line[128];
        snprintf(line, sizeof line, "# TYPE %s %s", families[i][0], families[i][1]);
        assert_line(t, line);
        snprintf(line, sizeof line, "# HELP %s ", families[i][0]);
        assert_non_null(strstr(t, line));
    }
    assert_line(t, "ventra_connections{state=\"open\"} 0");
    assert_line(t, "ventra_connections{state=\"authenticated\"} 0");
    assert_line(t, "ventra_connections_closed_total{code=\"other\"} 0");
    assert_line(t, "ventra_frames_sent_total{kind=\"oversize\"} 0");
    assert_line(t, "ventra_store_batch_ops_bucket{le=\"+Inf\"} 0");
    assert_line(t, "ventra_store_batch_ops_sum 0");
    assert_line(t, "ventra_store_commit_seconds_sum 0.000000000");
    assert_line(t, "ventra_store_commit_seconds_count 0");
    assert_null(strstr(t, "ventra_rpcs_total{"));
    assert_null(strstr(t, "ventra_rpc_duration_seconds_bucket"));
    assert_null(strstr(t, "ventra_errors_total{"));
    check_exposition(t);
    free(t);
    vtd_metrics_free(m);
}

static void test_connections_frames_messages(void **state)
{
    (void)state;
    vtd_metrics *m;
    assert_int_equal(vtd_metrics_new(&m), VT_OK);
    for (int i = 0; i < 5; i++)
        vtd_metrics_conn_opened(m);
    vtd_metrics_conn_authenticated(m);
    vtd_metrics_conn_authenticated(m);
    vtd_metrics_conn_authenticated(m);
    vtd_metrics_conn_closed(m, 1000, true);
    vtd_metrics_conn_closed(m, 4001, true);
    vtd_metrics_conn_closed(m, 1006, false); /* abnormal: "other" */
    vtd_metrics_conn_closed(m, 1008, false);

    vtd_metrics_frame_in(m, VTD_FRAME_REQUEST);
    vtd_metrics_frame_in(m, VTD_FRAME_REQUEST);
    vtd_metrics_frame_in(m, VTD_FRAME_MALFORMED);
    vtd_metrics_frame_in(m, VTD_FRAME_TEXT);
    vtd_metrics_frame_in(m, VTD_FRAME_KIND_COUNT); /* ignored */
    vtd_metrics_frame_in(m, (vtd_frame_kind)-1);   /* ignored */
    vtd_metrics_frame_out(m, VTD_FRAME_RESPONSE);
    vtd_metrics_frame_out(m, VTD_FRAME_RESPONSE);
    vtd_metrics_frame_out(m, VTD_FRAME_EVENT);

    vtd_metrics_messages_stored(m, 5);
    vtd_metrics_messages_stored(m, 1);
    vtd_metrics_messages_delivered(m, 3);
    vtd_metrics_messages_acked(m, 2);
    vtd_metrics_set_queue_depth(m, 42);
    vtd_metrics_set_queue_depth(m, 7);

    char *t;
    render(m, &t);
    assert_line(t, "ventra_connections{state=\"open\"} 1");
    assert_line(t, "ventra_connections{state=\"authenticated\"} 1");
    assert_line(t, "ventra_connections_opened_total 5");
    assert_line(t, "ventra_connections_closed_total{code=\"1000\"} 1");
    assert_line(t, "ventra_connections_closed_total{code=\"4001\"} 1");
    assert_line(t, "ventra_connections_closed_total{code=\"1008\"} 1");
    assert_line(t, "ventra_connections_closed_total{code=\"other\"} 1");
    assert_line(t, "ventra_connections_closed_total{code=\"1001\"} 0");
    assert_line(t, "ventra_frames_received_total{kind=\"request\"} 2");
    assert_line(t, "ventra_frames_received_total{kind=\"malformed\"} 1");
    assert_line(t, "ventra_frames_received_total{kind=\"text\"} 1");
    assert_line(t, "ventra_frames_received_total{kind=\"oversize\"} 0");
    assert_line(t, "ventra_frames_received_total{kind=\"no_kind\"} 0");
    assert_line(t, "ventra_frames_sent_total{kind=\"response\"} 2");
    assert_line(t, "ventra_frames_sent_total{kind=\"event\"} 1");
    assert_line(t, "ventra_frames_sent_total{kind=\"request\"} 0");
    assert_line(t, "ventra_messages_stored_total 6");
    assert_line(t, "ventra_messages_delivered_total 3");
    assert_line(t, "ventra_messages_acked_total 2");
    assert_line(t, "ventra_queue_depth 7");
    /* The ignored kinds added nothing anywhere. */
    uint64_t total = 0;
    const char *kinds[] = {"request",   "response", "event",   "no_kind",
                           "malformed", "text",     "oversize"};
    for (size_t i = 0; i < 7; i++) {
        char p[96];
        snprintf(p, sizeof p, "ventra_frames_received_total{kind=\"%s\"}", kinds[i]);
        total += sample(t, p);
    }
    assert_int_equal(total, 4);
    check_exposition(t);
    free(t);
    vtd_metrics_free(m);
}

static void test_rpcs(void **state)
{
    (void)state;
    vtd_metrics *m;
    assert_int_equal(vtd_metrics_new(&m), VT_OK);
    vtd_metrics_rpc(m, VT_RPC_SEND, VT_OK, 0.0004);
    vtd_metrics_rpc(m, VT_RPC_SEND, VT_OK, 0.001); /* on a bound: le="0.001" */
    vtd_metrics_rpc(m, VT_RPC_SEND, VT_OK, 0.003);
    vtd_metrics_rpc(m, VT_RPC_SEND, VT_ERR_STALE_DEVICES, 20);  /* above 10: +Inf */
    vtd_metrics_rpc(m, VT_RPC_LOGIN, VT_ERR_BAD_SIGNATURE, -1); /* counts as 0 */
    vtd_metrics_rpc(m, 999, VT_ERR_UNKNOWN_RPC, 0.0001);
    vtd_metrics_rpc(m, 0, VT_ERR_UNKNOWN_RPC, 0.0001);
    vtd_metrics_rpc(m, VT_RPC_PING, (vt_err)77, 0.0001); /* no name: "other" */
    vtd_metrics_rpc(m, VT_RPC_PING, VT_ERR_NO_MEMORY, 0.0001);

    char *t;
    render(m, &t);
    assert_line(t, "ventra_rpcs_total{rpc=\"Send\",result=\"ok\"} 3");
    assert_line(t, "ventra_rpcs_total{rpc=\"Send\",result=\"ERROR_STALE_DEVICES\"} 1");
    assert_line(t, "ventra_rpcs_total{rpc=\"Login\",result=\"ERROR_BAD_SIGNATURE\"} 1");
    assert_line(t, "ventra_rpcs_total{rpc=\"unknown\",result=\"ERROR_UNKNOWN_RPC\"} 2");
    assert_line(t, "ventra_rpcs_total{rpc=\"Ping\",result=\"other\"} 1");
    assert_line(t, "ventra_rpcs_total{rpc=\"Ping\",result=\"ERROR_NO_MEMORY\"} 1");
    assert_null(strstr(t, "ventra_rpcs_total{rpc=\"Ack\""));

    const char *const send_buckets[][2] = {
        {"0.0005", "1"}, {"0.001", "2"}, {"0.0025", "2"}, {"0.005", "3"}, {"0.01", "3"},
        {"0.025", "3"},  {"0.05", "3"},  {"0.1", "3"},    {"0.25", "3"},  {"0.5", "3"},
        {"1", "3"},      {"2.5", "3"},   {"5", "3"},      {"10", "3"},    {"+Inf", "4"}};
    for (size_t i = 0; i < sizeof send_buckets / sizeof send_buckets[0]; i++) {
        char line[128];
        snprintf(line, sizeof line,
                 "ventra_rpc_duration_seconds_bucket{rpc=\"Send\",le=\"%s\"} %s",
                 send_buckets[i][0], send_buckets[i][1]);
        assert_line(t, line);
    }
    assert_line(t, "ventra_rpc_duration_seconds_sum{rpc=\"Send\"} 20.004400000");
    assert_line(t, "ventra_rpc_duration_seconds_count{rpc=\"Send\"} 4");
    assert_line(t, "ventra_rpc_duration_seconds_bucket{rpc=\"Login\",le=\"0.0005\"} 1");
    assert_line(t, "ventra_rpc_duration_seconds_sum{rpc=\"Login\"} 0.000000000");
    assert_line(t, "ventra_rpc_duration_seconds_count{rpc=\"unknown\"} 2");
    assert_line(t, "ventra_rpc_duration_seconds_count{rpc=\"Ping\"} 2");
    assert_null(strstr(t, "ventra_rpc_duration_seconds_count{rpc=\"Ack\"}"));
    check_exposition(t);
    free(t);
    vtd_metrics_free(m);
}

/* Every method of the catalogue gets its own label, its schema name. */
static void test_every_rpc_named(void **state)
{
    (void)state;
    vtd_metrics *m;
    assert_int_equal(vtd_metrics_new(&m), VT_OK);
    for (size_t i = 0; i < vt_rpc_count; i++)
        for (size_t k = 0; k <= i; k++)
            vtd_metrics_rpc(m, vt_rpcs[i].id, VT_OK, 0.01);
    char *t;
    render(m, &t);
    for (size_t i = 0; i < vt_rpc_count; i++) {
        char line[128];
        snprintf(line, sizeof line, "ventra_rpcs_total{rpc=\"%s\",result=\"ok\"} %zu",
                 vt_rpcs[i].method, i + 1);
        assert_line(t, line);
        snprintf(line, sizeof line, "ventra_rpc_duration_seconds_count{rpc=\"%s\"} %zu",
                 vt_rpcs[i].method, i + 1);
        assert_line(t, line);
    }
    assert_line(t, "ventra_rpcs_total{rpc=\"GetServerInfo\",result=\"ok\"} 1");
    check_exposition(t);
    free(t);
    vtd_metrics_free(m);
}

static void test_store_histograms(void **state)
{
    (void)state;
    vtd_metrics *m;
    assert_int_equal(vtd_metrics_new(&m), VT_OK);
    vtd_metrics_store_batch(m, 1, 0.00005);
    vtd_metrics_store_batch(m, 3, 0.2);
    vtd_metrics_store_batch(m, 1024, 2);
    vtd_metrics_store_batch(m, 5000, 0.0001);
    vtd_metrics_store_batch(m, 0, 0.00025);
    char *t;
    render(m, &t);
    const char *const ops[][2] = {{"1", "2"},   {"2", "2"},    {"4", "3"},
                                  {"8", "3"},   {"16", "3"},   {"32", "3"},
                                  {"64", "3"},  {"128", "3"},  {"256", "3"},
                                  {"512", "3"}, {"1024", "4"}, {"+Inf", "5"}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char line[96];
        snprintf(line, sizeof line, "ventra_store_batch_ops_bucket{le=\"%s\"} %s",
                 ops[i][0], ops[i][1]);
        assert_line(t, line);
    }
    assert_line(t, "ventra_store_batch_ops_sum 6028");
    assert_line(t, "ventra_store_batch_ops_count 5");
    const char *const secs[][2] = {{"0.0001", "2"}, {"0.00025", "3"}, {"0.0005", "3"},
                                   {"0.001", "3"},  {"0.0025", "3"},  {"0.005", "3"},
                                   {"0.01", "3"},   {"0.025", "3"},   {"0.05", "3"},
                                   {"0.1", "3"},    {"0.25", "4"},    {"0.5", "4"},
                                   {"1", "4"},      {"+Inf", "5"}};
    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
        char line[96];
        snprintf(line, sizeof line, "ventra_store_commit_seconds_bucket{le=\"%s\"} %s",
                 secs[i][0], secs[i][1]);
        assert_line(t, line);
    }
    assert_line(t, "ventra_store_commit_seconds_sum 2.200400000");
    assert_line(t, "ventra_store_commit_seconds_count 5");
    /* le order: the buckets appear in increasing bound order. */
    size_t a = offset_of(t, "ventra_store_batch_ops_bucket{le=\"1\"}");
    size_t b = offset_of(t, "ventra_store_batch_ops_bucket{le=\"1024\"}");
    size_t c = offset_of(t, "ventra_store_batch_ops_bucket{le=\"+Inf\"}");
    assert_true(a < b && b < c && c != SIZE_MAX);
    check_exposition(t);
    free(t);
    vtd_metrics_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    vtd_metrics *m;
    assert_int_equal(vtd_metrics_new(&m), VT_OK);
    vtd_metrics_error(m, VT_ERR_RATE_LIMITED);
    vtd_metrics_error(m, VT_ERR_RATE_LIMITED);
    vtd_metrics_error(m, VT_ERR_MALFORMED_FRAME);
    vtd_metrics_error(m, VT_OK); /* not an error */
    vtd_metrics_error(m, (vt_err)250);
    vtd_metrics_error(m, (vt_err)-1);
    vtd_metrics_error(m, (vt_err)100000);
    char *t;
    render(m, &t);
    assert_line(t, "ventra_errors_total{code=\"ERROR_RATE_LIMITED\"} 2");
    assert_line(t, "ventra_errors_total{code=\"ERROR_MALFORMED_FRAME\"} 1");
    assert_line(t, "ventra_errors_total{code=\"other\"} 3");
    assert_null(strstr(t, "ERROR_OK"));
    assert_null(strstr(t, "code=\"ok\""));
    check_exposition(t);
    free(t);
    vtd_metrics_free(m);
}

/* Everything at once, many times over, with hostile arguments: the output
 * still parses and holds nothing but fixed label values (WIRE-8). */
static void test_format_and_fixed_labels(void **state)
{
    (void)state;
    vtd_metrics *m;
    assert_int_equal(vtd_metrics_new(&m), VT_OK);
    uint32_t x = 12345;
    for (int i = 0; i < 20000; i++) {
        x = x * 1103515245u + 12345u;
        vtd_metrics_rpc(m, x % 70, (vt_err)(x % 130), (double)(x % 20000) / 1000.0);
        vtd_metrics_error(m, (vt_err)(x % 300));
        vtd_metrics_frame_in(m, (vtd_frame_kind)(x % 9));
        vtd_metrics_frame_out(m, (vtd_frame_kind)(x % 9));
        vtd_metrics_conn_opened(m);
        vtd_metrics_conn_closed(m, (int)(x % 5000), false);
        vtd_metrics_store_batch(m, x % 3000, (double)(x % 3000) / 1000.0);
    }
    char *t;
    render(m, &t);
    size_t n = check_exposition(t);
    assert_true(n > 100);
    /* No NaN, no negative numbers, no escapes. */
    assert_null(strstr(t, "NaN"));
    assert_null(strstr(t, " -"));
    assert_null(strchr(t, '\\'));
    free(t);
    vtd_metrics_free(m);
}

/* The checker's pieces refuse what they should, so its silence means
 * something. */
static void test_checker_pieces(void **state)
{
    (void)state;
    assert_true(label_ok("rpc", "Send"));
    assert_false(label_ok("rpc", "alice"));
    assert_false(label_ok("user", "alice"));
    assert_false(label_ok("code", "1006"));
    assert_true(label_ok("code", "ERROR_BAD_TOKEN"));
    assert_false(label_ok("le", "0.3"));
    assert_true(value_ok("12"));
    assert_true(value_ok("0.000100000"));
    assert_false(value_ok("12 "));
    assert_false(value_ok("abc"));
    assert_false(value_ok(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_free_render_args),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_connections_frames_messages),
        cmocka_unit_test(test_rpcs),
        cmocka_unit_test(test_every_rpc_named),
        cmocka_unit_test(test_store_histograms),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_format_and_fixed_labels),
        cmocka_unit_test(test_checker_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
