/* Tests of protoc-gen-ventra's schema checks (spec/wire.md, RPC catalogue):
 * runs protoc with the built plugin on the fixtures under tests/fixtures and
 * expects a failure naming the rpc or field at fault; a good fixture and the
 * real schemas (whose output must equal generated/rpc/) are the controls. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#define FIXTURES "codegen/protoc-gen-ventra/tests/fixtures"
#define PROTOC "/usr/bin/protoc"

static const char *const outputs[] = {
    "vt_rpc.h",        "vt_rpc.c",        "vt_errors.h",     "vt_errors.c",
    "vt_pbc_limits.h", "vt_pbc_limits.c", "vt_rpc_server.h", "vt_rpc_server.c",
    "vt_rpc_client.h", "vt_rpc_client.c",
};
#define N_OUTPUTS (sizeof(outputs) / sizeof(outputs[0]))

typedef struct run {
    char dir[64]; /* protoc's output folder */
    int status;   /* exit status of protoc */
    char *err;    /* what protoc wrote on stderr */
} run;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096;
    size_t n = 0;
    char *data = malloc(cap + 1);
    assert_non_null(data);
    size_t got;
    while ((got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            data = realloc(data, cap + 1);
            assert_non_null(data);
        }
    }
    fclose(f);
    data[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return data;
}

static const char *plugin_path(void)
{
    static char path[4096];
    const char *build = getenv("VT_BUILD_DIR");
    assert_non_null(build);
    snprintf(path, sizeof(path), "%s/bin/protoc-gen-ventra", build);
    return path;
}

/* protoc -I<root> -I<fixtures/common> -Ischemas ... from the repo root (the
 * test's cwd): a fixture brings only the files it changes. */
static void run_plugin(run *r, const char *root, const char *param)
{
    strcpy(r->dir, "/tmp/vt-pgv-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             PROTOC " -I%s -I" FIXTURES "/common -Ischemas --plugin=protoc-gen-ventra=%s --ventra_out=%s "
                    "%s%s ventra/v1/service.proto ventra/v1/frame.proto ventra/v1/e2e.proto "
                    "2>%s/stderr",
             root, plugin_path(), r->dir, param[0] ? "--ventra_opt=" : "", param, r->dir);
    int rc = system(cmd);
    assert_int_not_equal(rc, -1);
    r->status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
    char path[256];
    snprintf(path, sizeof(path), "%s/stderr", r->dir);
    r->err = read_file(path, NULL);
    assert_non_null(r->err);
}

static void cleanup(run *r)
{
    char path[256];
    for (size_t i = 0; i < N_OUTPUTS; i++) {
        snprintf(path, sizeof(path), "%s/%s", r->dir, outputs[i]);
        remove(path);
    }
    snprintf(path, sizeof(path), "%s/stderr", r->dir);
    remove(path);
    remove(r->dir);
    free(r->err);
}

static void run_fixture(run *r, const char *name)
{
    char root[256];
    char param[320];
    snprintf(root, sizeof(root), FIXTURES "/%s", name);
    snprintf(param, sizeof(param), "options_dir=%s/ventra/v1", root);
    run_plugin(r, root, param);
}

/* The fixture fails, protoc reports |want|, and nothing is written. */
static void expect_failure(const char *fixture, const char *want)
{
    run r;
    run_fixture(&r, fixture);
    if (strstr(r.err, want) == NULL) {
        print_error("fixture %s: stderr does not contain \"%s\":\n%s\n", fixture, want,
                    r.err);
    }
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, want));
    char path[256];
    snprintf(path, sizeof(path), "%s/vt_rpc.h", r.dir);
    FILE *f = fopen(path, "r");
    assert_null(f);
    cleanup(&r);
}

static void test_good_fixture(void **state)
{
    (void)state;
    run r;
    run_fixture(&r, "good");
    if (r.status != 0) {
        print_error("%s\n", r.err);
    }
    assert_int_equal(r.status, 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/vt_rpc.c", r.dir);
    char *rpc = read_file(path, NULL);
    assert_non_null(rpc);
    assert_non_null(strstr(rpc, "\"ventra.v1.Test/Echo\""));
    assert_non_null(strstr(rpc, "\"Keeps the connection alive.\""));
    free(rpc);
    snprintf(path, sizeof(path), "%s/vt_rpc_server.c", r.dir);
    char *srv = read_file(path, NULL);
    assert_non_null(srv);
    /* Echo is not public: the gate is in front of its handler only. */
    const char *echo = strstr(srv, "case VENTRA__V1__REQUEST__BODY_ECHO:");
    const char *ping = strstr(srv, "case VENTRA__V1__REQUEST__BODY_PING:");
    assert_non_null(echo);
    assert_non_null(ping);
    const char *gate = strstr(srv, "return VT_ERR_UNAUTHENTICATED;");
    assert_non_null(gate);
    assert_true(echo < ping ? (gate > echo && gate < ping) : gate > echo);
    assert_null(strstr(gate + 1, "return VT_ERR_UNAUTHENTICATED;"));
    free(srv);
    snprintf(path, sizeof(path), "%s/vt_pbc_limits.c", r.dir);
    char *lim = read_file(path, NULL);
    assert_non_null(lim);
    /* max_size:17 on a string: 16 bytes. */
    assert_non_null(strstr(lim, "{&ventra__v1__echo_request__descriptor, 1, 0, 16},"));
    free(lim);
    cleanup(&r);
}

static void test_input_not_in_request(void **state)
{
    (void)state;
    expect_failure("bad_input",
                   "rpc ventra.v1.Test/Echo: input type ventra.v1.LostRequest "
                   "is not a field of ventra.v1.Request.body");
}

static void test_response_number(void **state)
{
    (void)state;
    expect_failure(
        "bad_response_number",
        "rpc ventra.v1.Test/Echo: output type ventra.v1.EchoResponse is field 12 "
        "of ventra.v1.Response.body, expected field 10");
}

static void test_options_unknown_field(void **state)
{
    (void)state;
    expect_failure("bad_options_field",
                   "frame.options:2: message ventra.v1.EchoRequest has no field txt");
}

static void test_options_unknown_message(void **state)
{
    (void)state;
    expect_failure("bad_options_message", "frame.options:2: no message ventra.v1.Nope");
}

static void test_orphan_request_field(void **state)
{
    (void)state;
    expect_failure("orphan_request_field",
                   "ventra.v1.Request.body field lost (12) is the input of no rpc");
}

static void test_extra_response_field(void **state)
{
    (void)state;
    expect_failure("extra_response_field",
                   "ventra.v1.Response.body field lost (12) is the output of no rpc");
}

static void test_duplicate_method_id(void **state)
{
    (void)state;
    expect_failure(
        "duplicate_method_id",
        "rpcs ventra.v1.Test/Echo and ventra.v1.Test/EchoAgain share method id 10");
}

static void test_parameters(void **state)
{
    (void)state;
    run r;
    run_plugin(&r, FIXTURES "/good", "");
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "options_dir=DIR"));
    cleanup(&r);
    run_plugin(&r, FIXTURES "/good", "options_dir=" FIXTURES "/good/ventra/v1,color=red");
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "unknown parameter color=red"));
    cleanup(&r);
    run_plugin(&r, FIXTURES "/good", "options_dir=" FIXTURES "/nowhere");
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "nowhere"));
    cleanup(&r);
}

/* The real schemas, as tools/generate.sh runs the plugin: the output is
 * exactly the committed generated/rpc/ (run `make generate` after a schema
 * change), and a second run gives the same bytes. */
static void test_real_schemas_match_generated(void **state)
{
    (void)state;
    run a;
    run b;
    run_plugin(&a, "schemas", "options_dir=schemas/ventra/v1");
    run_plugin(&b, "schemas", "options_dir=schemas/ventra/v1");
    if (a.status != 0) {
        print_error("%s\n", a.err);
    }
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    for (size_t i = 0; i < N_OUTPUTS; i++) {
        char pa[256];
        char pb[256];
        char pg[256];
        snprintf(pa, sizeof(pa), "%s/%s", a.dir, outputs[i]);
        snprintf(pb, sizeof(pb), "%s/%s", b.dir, outputs[i]);
        snprintf(pg, sizeof(pg), "generated/rpc/%s", outputs[i]);
        size_t la = 0;
        size_t lb = 0;
        size_t lg = 0;
        char *da = read_file(pa, &la);
        char *db = read_file(pb, &lb);
        char *dg = read_file(pg, &lg);
        assert_non_null(da);
        assert_non_null(db);
        assert_non_null(dg);
        assert_int_equal(la, lb);
        assert_memory_equal(da, db, la);
        if (la != lg || memcmp(da, dg, la) != 0) {
            print_error("generated/rpc/%s is stale: run make generate\n", outputs[i]);
        }
        assert_int_equal(la, lg);
        assert_memory_equal(da, dg, la);
        /* First line: generator, source, "do not edit". */
        assert_true(strncmp(da, "/* Generated by protoc-gen-ventra from ", 39) == 0);
        char *nl = strchr(da, '\n');
        assert_non_null(nl);
        *nl = '\0';
        assert_non_null(strstr(da, "schemas/ventra/v1"));
        assert_non_null(strstr(da, "do not edit. */"));
        free(da);
        free(db);
        free(dg);
    }
    cleanup(&a);
    cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_fixture),
        cmocka_unit_test(test_input_not_in_request),
        cmocka_unit_test(test_response_number),
        cmocka_unit_test(test_options_unknown_field),
        cmocka_unit_test(test_options_unknown_message),
        cmocka_unit_test(test_orphan_request_field),
        cmocka_unit_test(test_extra_response_field),
        cmocka_unit_test(test_duplicate_method_id),
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_real_schemas_match_generated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
