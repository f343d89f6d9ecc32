/* ventra-conform: the conformance suite's command line. It prints the
 * protocol catalogue an implementer works through (the RPCs, events and
 * error codes of spec/wire.md, the requirement index of spec/), which
 * requirements the recorded vectors test, runs those vectors through
 * libventra case by case (vectors.h), and runs the live cases against a
 * server over the wire (conformance/live/live.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "coverage.h"
#include "live_int.h"
#include "vectors.h"
#include "ventra/err.h"
#include "vt_requirements.h"
#include "vt_rpc.h"

enum { EXIT_USAGE = 2 };

static const char usage[] =
    "usage: ventra-conform <command> [options]\n"
    "\n"
    "commands:\n"
    "  rpcs                      the RPC catalogue (spec/wire.md)\n"
    "  events                    the server events (spec/wire.md)\n"
    "  errors                    the error codes with their numeric values\n"
    "  requirements [--level L]  every requirement ID of spec/, L = must|should|may\n"
    "  coverage [--gate] [--report FILE] [--list] [DIR]\n"
    "                            which vectors (under DIR, default\n"
    "                            conformance/vectors) and live cases test each\n"
    "                            requirement; lists untested MUSTs; --gate fails\n"
    "                            while there is one\n"
    "  vectors [--json FILE] [DIR]\n"
    "                            run every vector of DIR/crypto, DIR/wire,\n"
    "                            DIR/state and DIR/schema (default\n"
    "                            conformance/vectors) through libventra: one\n"
    "                            line per case,\n"
    "                            PASS|FAIL <file>#<tcId or id> <comment>, then a\n"
    "                            summary; --json FILE writes the results too.\n"
    "                            Run it from the source root (protoc -Ischemas).\n"
    "  server --url ws://HOST:PORT [options]\n"
    "                            drive a running server over the wire, case by\n"
    "                            case (`ventra-conform server --help` for options)\n"
    "  client --url ws://HOST:PORT [options]\n"
    "                            drive a client implementation (client.h) against\n"
    "                            a running server, case by case, observed through\n"
    "                            a peer the suite controls (same options)\n"
    "\n"
    "Exit status: 0 on success, 1 when a vector cites an unknown requirement\n"
    "or cannot be read, or (vectors) when any case fails, 2 on a usage error.\n";

static void print_rpcs(void)
{
    printf("%-4s %-34s %-6s %-10s %s\n", "id", "rpc", "public", "idempotent", "summary");
    for (size_t i = 0; i < vt_rpc_count; i++) {
        const vt_rpc_desc *r = &vt_rpcs[i];
        char name[64];
        snprintf(name, sizeof(name), "%s/%s", r->service, r->method);
        printf("%-4u %-34s %-6s %-10s %s\n", (unsigned)r->id, name,
               r->is_public ? "yes" : "no", r->idempotent ? "yes" : "no", r->summary);
    }
    printf("%zu rpcs\n", vt_rpc_count);
}

static void print_events(void)
{
    for (size_t i = 0; i < vt_event_count; i++)
        printf("%-4u %-16s %s\n", (unsigned)vt_events[i].id, vt_events[i].name,
               vt_events[i].summary);
    printf("%zu events\n", vt_event_count);
}

static void print_errors(void)
{
    /* The enum is append-only and dense within its two ranges (WIRE-40). */
    for (int code = 0; code < VT_ERR_LOCAL_FIRST + 100; code++) {
        const char *name = vt_err_name((vt_err)code);
        if (name == NULL)
            continue;
        printf("%-4d %-28s %-5s %s\n", code, name,
               vt_err_is_wire((vt_err)code) ? "wire" : "local",
               vt_strerror((vt_err)code));
    }
}

static const char *level_name(vt_req_level level)
{
    switch (level) {
    case VT_REQ_MUST:
        return "MUST";
    case VT_REQ_SHOULD:
        return "SHOULD";
    case VT_REQ_MAY:
        return "MAY";
    }
    return "?";
}

static bool parse_level(const char *text, vt_req_level *out)
{
    static const char *const names[] = {"must", "should", "may"};
    static const vt_req_level levels[] = {VT_REQ_MUST, VT_REQ_SHOULD, VT_REQ_MAY};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = levels[i];
            return true;
        }
    }
    return false;
}

static int print_requirements(int argc, char **argv)
{
    bool filter = argc > 0;
    vt_req_level want = VT_REQ_MUST;

    if (filter &&
        !(argc == 2 && strcmp(argv[0], "--level") == 0 && parse_level(argv[1], &want))) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }

    size_t counts[3] = {0, 0, 0}, shown = 0;
    for (size_t i = 0; i < vt_requirement_count; i++) {
        const vt_requirement *r = &vt_requirements[i];
        counts[r->level]++;
        if (filter && r->level != want)
            continue;
        printf("%-11s %-6s %s:%u\n    %s\n", r->id, level_name(r->level), r->file,
               r->line, r->text);
        shown++;
    }
    printf("%zu requirements shown; spec/ has %zu MUST, %zu SHOULD, %zu MAY\n", shown,
           counts[VT_REQ_MUST], counts[VT_REQ_SHOULD], counts[VT_REQ_MAY]);
    return 0;
}

/* ---- vectors ------------------------------------------------------------ */

typedef struct vector_run {
    size_t passed, failed;
    json_t *cases; /* the --json results, NULL without --json */
} vector_run;

static void print_case(const vt_conform_case *c, void *ud)
{
    vector_run *run = ud;
    bool pass = c->result == VT_CONFORM_PASS;
    char where[64];

    if (c->id == NULL && c->tc_id == 0)
        snprintf(where, sizeof where, "file");
    else if (c->tc_id != 0)
        snprintf(where, sizeof where, "%lld", c->tc_id);
    printf("%s %s#%s %s\n", pass ? "PASS" : "FAIL", c->file,
           c->tc_id != 0 || c->id == NULL ? where : c->id, c->comment);
    if (!pass) {
        /* The detail, indented; it may span lines (protoc's text). */
        const char *d = c->detail != NULL ? c->detail : "(no detail)";
        while (*d != '\0') {
            size_t n = strcspn(d, "\n");
            printf("    %.*s\n", (int)n, d);
            d += n + (d[n] == '\n');
        }
    }
    if (pass)
        run->passed++;
    else
        run->failed++;
    if (run->cases == NULL)
        return;
    json_t *reqs = json_array();
    for (size_t i = 0; i < c->n_requirements; i++)
        json_array_append_new(reqs, json_string(c->requirements[i]));
    json_t *o =
        json_pack("{s:s, s:I, s:s?, s:s, s:s?, s:s, s:o}", "file", c->file, "tcId",
                  (json_int_t)c->tc_id, "id", c->id, "comment", c->comment, "expected",
                  c->expected, "result", pass ? "PASS" : "FAIL", "requirements", reqs);
    if (o != NULL && !pass)
        json_object_set_new(o, "detail", json_string(c->detail ? c->detail : ""));
    if (o != NULL)
        json_array_append_new(run->cases, o);
}

static int run_vectors(int argc, char **argv)
{
    const char *dir = "conformance/vectors", *json_path = NULL;
    bool have_dir = false;
    vector_run run = {0, 0, NULL};
    int rc = 1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            json_path = argv[++i];
        } else if (argv[i][0] != '-' && !have_dir) {
            dir = argv[i];
            have_dir = true;
        } else {
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (json_path != NULL && (run.cases = json_array()) == NULL)
        goto out;
    int failed = vt_conform_vectors_run(dir, print_case, &run);
    if (failed < 0) {
        fprintf(stderr, "ventra-conform: cannot read %s/crypto, %s/wire or %s/state\n",
                dir, dir, dir);
        goto out;
    }
    printf("%zu cases: %zu passed, %zu failed\n", run.passed + run.failed, run.passed,
           run.failed);
    if (json_path != NULL) {
        json_t *doc = json_pack("{s:s, s:I, s:I, s:O}", "dir", dir, "passed",
                                (json_int_t)run.passed, "failed", (json_int_t)run.failed,
                                "cases", run.cases);
        if (doc == NULL || json_dump_file(doc, json_path, JSON_INDENT(2)) != 0) {
            fprintf(stderr, "ventra-conform: cannot write %s\n", json_path);
            json_decref(doc);
            goto out;
        }
        json_decref(doc);
    }
    rc = run.failed == 0 && run.passed > 0 ? 0 : 1;
out:
    json_decref(run.cases);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "requirements") == 0)
        return print_requirements(argc - 2, argv + 2);
    if (strcmp(cmd, "vectors") == 0)
        return run_vectors(argc - 2, argv + 2);
    if (strcmp(cmd, "server") == 0)
        return vcl_main(argc - 2, argv + 2);
    if (strcmp(cmd, "client") == 0)
        return vcl_run("client", vcl_client_areas, vcl_client_area_count, argc - 2,
                       argv + 2);
    if (strcmp(cmd, "coverage") == 0)
        return vt_conform_coverage(argc - 2, argv + 2);
    if (argc != 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "rpcs") == 0)
        print_rpcs();
    else if (strcmp(cmd, "events") == 0)
        print_events();
    else if (strcmp(cmd, "errors") == 0)
        print_errors();
    else {
        fprintf(stderr, "ventra-conform: unknown command '%s'\n\n%s", cmd, usage);
        return EXIT_USAGE;
    }
    return 0;
}
