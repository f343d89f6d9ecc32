/* ventra-bench's output (bench.h): one line per figure for people, or one
 * JSON object with every figure under --json; and the monotonic clock every
 * mode times with. DESIGN.md section 10. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bench.h"

/* Under --json the object is {"mode": M, <name>: value..., "units":
 * {<name>: unit...}}, keys in the order they were added (jansson keeps
 * insertion order), so a figure must not be called "mode" or "units". */
struct bench_report {
    bool json;
    json_t *obj;
    json_t *units;
};

/* A benchmark program has nothing useful to do without memory. */
static void out_of_memory(void)
{
    fputs("ventra-bench: out of memory\n", stderr);
    abort();
}

/* json_object_set_new takes the value's reference even when it fails. */
static void set_new(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL || json_object_set_new(obj, key, value) != 0)
        out_of_memory();
}

bench_report *bench_report_new(const char *mode, bool json)
{
    bench_report *r = calloc(1, sizeof *r);

    if (r == NULL)
        out_of_memory();
    r->json = json;
    if (json) {
        r->obj = json_object();
        r->units = json_object();
        if (r->obj == NULL || r->units == NULL)
            out_of_memory();
        set_new(r->obj, "mode", json_string(mode));
    } else {
        printf("ventra-bench %s\n", mode);
        fflush(stdout);
    }
    return r;
}

/* Enough digits to compare runs, no more: 31234 ops/s, 42.7 ns, 1.23 x;
 * whole numbers as they are. */
static void format_value(char *buf, size_t cap, double v)
{
    double a = v < 0 ? -v : v;

    if (v != v || a > 1e300)
        snprintf(buf, cap, "n/a");
    else if (a < 9e15 && v == (double)(long long)v)
        snprintf(buf, cap, "%lld", (long long)v);
    else if (a >= 100)
        snprintf(buf, cap, "%.0f", v);
    else if (a >= 10)
        snprintf(buf, cap, "%.1f", v);
    else
        snprintf(buf, cap, "%.2f", v);
}

/* Whole numbers (counts: lost, duplicated) stay integers in JSON; a value
 * JSON cannot hold (NaN, infinity) is null. */
static json_t *json_value(double v)
{
    if (v != v || v > 1e300 || v < -1e300)
        return json_null();
    if (v > -9e15 && v < 9e15 && v == (double)(long long)v)
        return json_integer((json_int_t)v);
    return json_real(v);
}

void bench_report_add(bench_report *r, const char *name, double value, const char *unit)
{
    char buf[64];

    if (r->json) {
        set_new(r->obj, name, json_value(value));
        set_new(r->units, name, json_string(unit));
        return;
    }
    format_value(buf, sizeof buf, value);
    printf("  %-34s %12s %s\n", name, buf, unit);
    fflush(stdout);
}

void bench_report_note(bench_report *r, const char *name, const char *text)
{
    if (r->json) {
        set_new(r->obj, name, json_string(text));
        return;
    }
    printf("  %s: %s\n", name, text);
    fflush(stdout);
}

void bench_report_end(bench_report *r)
{
    if (r == NULL)
        return;
    if (r->json) {
        if (json_object_set(r->obj, "units", r->units) != 0)
            out_of_memory();
        if (json_dumpf(r->obj, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) != 0 ||
            fputc('\n', stdout) == EOF)
            fputs("ventra-bench: cannot write the JSON report\n", stderr);
        fflush(stdout);
        json_decref(r->units);
        json_decref(r->obj);
    }
    free(r);
}

double bench_now(void)
{
    return (double)bench_now_ns() / 1e9;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail with a valid clock id and pointer. */
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
