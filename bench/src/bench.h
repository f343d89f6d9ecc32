/* ventra-bench: benchmark programs that print figures and ratios against a
 * baseline measured in the same run (DESIGN.md section 10). Never timed
 * unit tests. Each mode is one entry point taking its own arguments
 * (argv[0] is the mode name) and returning the process exit status. */
#ifndef VENTRA_BENCH_H
#define VENTRA_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* `ventra-bench crypto [--json] [--seconds S]` (bench_crypto.c) */
int bench_crypto(int argc, char **argv);
/* `ventra-bench relay --url URL --pairs P --rate R --duration S --size B
 *  [--find-max] [--json]` (bench_relay.c) */
int bench_relay(int argc, char **argv);
/* `ventra-bench conns --url URL -n N [--json]` (bench_conns.c) */
int bench_conns(int argc, char **argv);
/* `ventra-bench drain [--url URL] [-n N] [--json]` (bench_drain.c) */
int bench_drain(int argc, char **argv);

/* ---- shared output (report.c): one figure per line for people, or one
 * JSON object with every figure under --json. ---- */
typedef struct bench_report bench_report;

/* A report for |mode|; |json| selects the output form. Never NULL
 * (aborts on out of memory: this is a benchmark program). */
bench_report *bench_report_new(const char *mode, bool json);
/* Adds a figure: |name| (snake_case, the JSON key), |value|, |unit| ("msg/s",
 * "ms", "ops/s", "x", "B", ...), printed at once unless JSON. */
void bench_report_add(bench_report *r, const char *name, double value, const char *unit);
/* Adds a text field (JSON string; printed as "name: text"). */
void bench_report_note(bench_report *r, const char *name, const char *text);
/* Prints the JSON object (under --json) and frees. */
void bench_report_end(bench_report *r);

/* Monotonic clock in seconds / nanoseconds. */
double bench_now(void);
uint64_t bench_now_ns(void);

#endif
