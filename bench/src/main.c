/* ventra-bench's command line: `ventra-bench <mode> [options]` hands the
 * mode's own arguments to its entry point (bench.h). What each mode measures
 * and compares against is DESIGN.md section 10 and bench/README.md. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

typedef struct mode {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *options;
    const char *summary;
} mode;

static const mode MODES[] = {
    {"crypto", bench_crypto, "[--json] [--seconds S]",
     "X3DH, ratchet messages and DH ratchet steps per second, and their ratio\n"
     "          to the raw primitives (X25519, AES-256-GCM, HMAC, HKDF) they are made "
     "of"},
    {"relay", bench_relay,
     "--url URL --pairs P --rate R --duration S --size B [--find-max] [--json]",
     "delivered messages per second and end-to-end latency through ventrad,\n"
     "          against a bare relay driven by the same load generator"},
    {"conns", bench_conns, "--url URL -n N [--json]",
     "server memory per authenticated idle connection"},
    {"drain", bench_drain, "[--url URL] [-n N] [--json]",
     "time to drain the messages queued for an offline device"},
};

#define NMODES (sizeof MODES / sizeof MODES[0])

static void usage(FILE *f)
{
    fputs("usage: ventra-bench <crypto|relay|conns|drain> [options]\n"
          "       ventra-bench <mode> --help\n"
          "       ventra-bench --help\n"
          "\n"
          "Benchmarks print each figure with a baseline measured in the same run\n"
          "and their ratio; every mode takes --json (one JSON object). Modes:\n",
          f);
    for (size_t i = 0; i < NMODES; i++) {
        fprintf(f, "  %-7s %s\n          %s\n", MODES[i].name, MODES[i].options,
                MODES[i].summary);
    }
    fputs("\nExit status: 0 done, 1 a benchmark failed, 2 usage error.\n", f);
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int main(int argc, char **argv)
{
    const mode *m = NULL;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < NMODES; i++) {
        if (strcmp(argv[1], MODES[i].name) == 0)
            m = &MODES[i];
    }
    if (m == NULL) {
        fprintf(stderr, "ventra-bench: unknown mode '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    /* `<mode> --help` is the mode's: each one owns its options. */
    return m->run(argc - 1, argv + 1);
}
