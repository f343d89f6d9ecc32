/* Tests of vt-reqgen and vt-constgen (spec/README.md, "Requirement IDs" and
 * "Constants"): the good fixture's outputs, one bad fixture per error kind,
 * and the real spec against the committed generated/spec/. Runs the real
 * binaries from $VT_BUILD_DIR/bin with the repository root as working dir. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIX "codegen/reqgen/tests/fixtures"

typedef struct run_result {
    int status; /* exit status, or -1 when the tool did not exit normally */
    char *err;  /* everything it wrote to stderr */
} run_result;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    size_t cap = 0;
    size_t got;
    if (f == NULL)
        return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* Runs $VT_BUILD_DIR/bin/<tool> OUTDIR files..., capturing stderr. */
static run_result run_tool(const char *tool, const char *outdir, const char *const *files,
                           size_t nfiles)
{
    const char *build = getenv("VT_BUILD_DIR");
    char exe[4096];
    char errpath[] = "/tmp/vt-reqgen-err-XXXXXX";
    run_result r = {-1, NULL};
    int fd;
    pid_t pid;
    int wstatus;
    char **argv;

    assert_non_null(build);
    snprintf(exe, sizeof exe, "%s/bin/%s", build, tool);
    fd = mkstemp(errpath);
    assert_true(fd >= 0);
    argv = calloc(nfiles + 3, sizeof *argv);
    assert_non_null(argv);
    argv[0] = (char *)tool;
    argv[1] = (char *)outdir;
    for (size_t i = 0; i < nfiles; i++)
        argv[i + 2] = (char *)files[i];
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        if (devnull >= 0)
            dup2(devnull, 1);
        execv(exe, argv);
        _exit(127);
    }
    close(fd);
    free(argv);
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    if (WIFEXITED(wstatus))
        r.status = WEXITSTATUS(wstatus);
    r.err = read_file(errpath, NULL);
    assert_non_null(r.err);
    unlink(errpath);
    return r;
}

/* Checks a run's exit status (and, when |needle| is given, that stderr holds
 * it); frees the captured stderr first so a failing check leaks nothing. */
static void check_run(run_result r, int want, const char *tool, const char *needle)
{
    static char err[16384];
    int found = needle == NULL || strstr(r.err, needle) != NULL;
    snprintf(err, sizeof err, "%s", r.err);
    free(r.err);
    if (r.status != want)
        fail_msg("%s exited with %d, expected %d; stderr:\n%s", tool, r.status, want,
                 err);
    if (!found)
        fail_msg("expected \"%s\" in stderr of %s, got:\n%s", needle, tool, err);
    if (want == 0 && err[0] != '\0')
        fail_msg("%s succeeded but complained:\n%s", tool, err);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

typedef struct fixture {
    char dir[64];  /* a fresh temporary directory */
    char out[128]; /* dir/out, not created: the generators create it */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/vt-reqgen-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->out, sizeof f->out, "%s/out", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static char *out_file(const fixture *f, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->out, name);
    return read_file(path, NULL);
}

static json_t *load_json(const fixture *f, const char *name)
{
    char path[256];
    json_error_t e;
    json_t *j;
    snprintf(path, sizeof path, "%s/%s", f->out, name);
    j = json_load_file(path, 0, &e);
    if (j == NULL)
        fail_msg("%s: %s (line %d)", path, e.text, e.line);
    return j;
}

static const char *const good_files[] = {FIX "/good/README.md", FIX "/good/alpha.md",
                                         FIX "/good/state/beta.md",
                                         FIX "/good/state/gamma.md"};
#define NGOOD (sizeof good_files / sizeof good_files[0])

static json_t *find_req(json_t *reqs, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(reqs, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
            return v;
    }
    return NULL;
}

static void assert_req(json_t *reqs, const char *id, const char *level, const char *file,
                       json_int_t line)
{
    json_t *r = find_req(reqs, id);
    if (r == NULL)
        fail_msg("requirement %s missing", id);
    assert_string_equal(json_string_value(json_object_get(r, "level")), level);
    assert_string_equal(json_string_value(json_object_get(r, "file")), file);
    assert_int_equal(json_integer_value(json_object_get(r, "line")), line);
}

static const char *req_text(json_t *reqs, const char *id)
{
    json_t *r = find_req(reqs, id);
    assert_non_null(r);
    return json_string_value(json_object_get(r, "text"));
}

static void good_registry(void **state)
{
    fixture *f = *state;
    run_result r = run_tool("vt-reqgen", f->out, good_files, NGOOD);
    json_t *root;
    json_t *reqs;
    size_t i;
    json_t *v;
    /* Prefix order of the command line (FIX, ALPHA, SM), then numbers:
     * ALPHA-10 after ALPHA-9, SM-1 (gamma.md) before SM-2 (beta.md). */
    static const char *const order[] = {"FIX-1",    "FIX-2",    "ALPHA-2", "ALPHA-3",
                                        "ALPHA-6",  "ALPHA-7",  "ALPHA-8", "ALPHA-9",
                                        "ALPHA-10", "ALPHA-11", "SM-1",    "SM-2"};

    check_run(r, 0, "vt-reqgen", NULL);

    root = load_json(f, "requirements.json");
    assert_string_equal(json_string_value(json_object_get(root, "generated_by")),
                        "Generated by vt-reqgen from " FIX "/good/README.md " FIX
                        "/good/alpha.md " FIX "/good/state/beta.md " FIX
                        "/good/state/gamma.md. Do not edit.");
    reqs = json_object_get(root, "requirements");
    assert_int_equal(json_array_size(reqs), 12);
    json_array_foreach(reqs, i, v)
    {
        assert_string_equal(json_string_value(json_object_get(v, "id")), order[i]);
    }

    assert_req(reqs, "FIX-1", "MUST", FIX "/good/README.md", 16);
    assert_req(reqs, "FIX-2", "MAY", FIX "/good/README.md", 19); /* `MUST` is code */
    assert_req(reqs, "ALPHA-10", "MUST", FIX "/good/alpha.md", 9);
    assert_req(reqs, "ALPHA-2", "SHOULD", FIX "/good/alpha.md", 12);
    assert_req(reqs, "ALPHA-3", "MUST", FIX "/good/alpha.md", 17);
    assert_req(reqs, "ALPHA-6", "MAY", FIX "/good/alpha.md", 28);
    assert_req(reqs, "ALPHA-7", "SHOULD", FIX "/good/alpha.md", 30);
    assert_req(reqs, "ALPHA-8", "MUST", FIX "/good/alpha.md", 35);
    assert_req(reqs, "ALPHA-9", "MUST", FIX "/good/alpha.md", 38);
    assert_req(reqs, "ALPHA-11", "MUST", FIX "/good/alpha.md", 42);
    assert_req(reqs, "SM-2", "MUST", FIX "/good/state/beta.md", 5);
    assert_req(reqs, "SM-1", "SHOULD", FIX "/good/state/gamma.md", 5);

    /* Continuation lines join the item; whitespace collapses. */
    assert_string_equal(
        req_text(reqs, "ALPHA-10"),
        "A list item requirement whose text continues on this line, and the "
        "server MUST NOT stop here.");
    /* A table row: the ID's cell goes, the other cells stay. */
    assert_string_equal(req_text(reqs, "ALPHA-3"),
                        "The `ERROR_X` reply MUST carry the request id.");
    assert_string_equal(
        req_text(reqs, "ALPHA-8"),
        "Text with \"quotes\", a back\\slash, ?\?= and a | pipe MUST survive "
        "escaping.");
    /* A second paragraph of a list item belongs to the item. */
    assert_string_equal(
        req_text(reqs, "ALPHA-9"),
        "First paragraph of the item MUST hold. Second paragraph of the same "
        "item.");
    /* A line starting with "||" but no table around it is prose. */
    assert_string_equal(
        req_text(reqs, "ALPHA-11"),
        "The transcript MUST be `label` followed by || lp(x) as prose, not a "
        "table row.");
    /* Ignored region, fenced code, indented code: nothing from there. */
    assert_null(find_req(reqs, "FIX-99"));
    assert_null(find_req(reqs, "ALPHA-4"));
    assert_null(find_req(reqs, "ALPHA-5"));
    assert_null(find_req(reqs, "ALPHA-12"));
    json_decref(root);
}

static void good_index_and_c(void **state)
{
    fixture *f = *state;
    char *md;
    char *h;
    char *c;
    check_run(run_tool("vt-reqgen", f->out, good_files, NGOOD), 0, "vt-reqgen", NULL);

    md = out_file(f, "requirements.md");
    assert_non_null(md);
    assert_memory_equal(
        md, "<!-- Generated by vt-reqgen from " FIX "/good/README.md ",
        strlen("<!-- Generated by vt-reqgen from " FIX "/good/README.md "));
    assert_non_null(strstr(md, "12 requirements: 7 MUST, 3 SHOULD, 2 MAY.\n"));
    assert_non_null(strstr(md, "| " FIX "/good/README.md | 2 | 1 | 0 | 1 |\n"));
    assert_non_null(strstr(md, "| " FIX "/good/alpha.md | 8 | 5 | 2 | 1 |\n"));
    assert_non_null(strstr(md, "| " FIX "/good/state/beta.md | 1 | 1 | 0 | 0 |\n"));
    assert_non_null(strstr(md, "| " FIX "/good/state/gamma.md | 1 | 0 | 1 | 0 |\n"));
    assert_non_null(strstr(md, "| MUST | 7 |\n| SHOULD | 3 |\n| MAY | 2 |\n"));
    /* Summary: first sentence, emphasis stripped, code kept. */
    assert_non_null(
        strstr(md, "| FIX-1 | MUST | " FIX
                   "/good/README.md | An implementation MUST pass these tests. |\n"));
    assert_non_null(strstr(md,
                           "| FIX-2 | MAY | " FIX
                           "/good/README.md | Implementations MAY ship extra features; "
                           "the word `MUST` in code is only a mention. |\n"));
    /* A pipe in a summary is escaped so the table keeps its columns. */
    assert_non_null(strstr(md, "?\?= and a \\| pipe MUST survive escaping. |\n"));
    free(md);

    h = out_file(f, "vt_requirements.h");
    assert_non_null(h);
    assert_memory_equal(h, "/* Generated by vt-reqgen from ", 30);
    assert_non_null(strstr(h, "typedef enum { VT_REQ_MUST, VT_REQ_SHOULD, VT_REQ_MAY } "
                              "vt_req_level;"));
    assert_non_null(
        strstr(h, "const vt_requirement *vt_requirement_find(const char *id);"));
    free(h);
    c = out_file(f, "vt_requirements.c");
    assert_non_null(c);
    assert_non_null(
        strstr(c, "\"Text with \\\"quotes\\\", a back\\\\slash, ?\\?= and a | pipe"));
    assert_non_null(strstr(c, "const size_t vt_requirement_count = 12;"));
    /* Long texts are split into literals of bounded width. */
    for (char *line = c; line != NULL;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (strncmp(line, "/* Generated", 12) != 0 && len > 100)
            fail_msg("line too long in vt_requirements.c: %.*s", (int)len, line);
        line = nl ? nl + 1 : NULL;
    }
    free(c);
}

static void good_is_deterministic(void **state)
{
    fixture *f = *state;
    char other[160];
    static const char *const names[] = {"requirements.md", "requirements.json",
                                        "vt_requirements.h", "vt_requirements.c"};
    run_result a = run_tool("vt-reqgen", f->out, good_files, NGOOD);
    snprintf(other, sizeof other, "%s/again", f->dir);
    run_result b = run_tool("vt-reqgen", other, good_files, NGOOD);
    check_run(a, 0, "vt-reqgen", NULL);
    check_run(b, 0, "vt-reqgen", NULL);
    for (size_t i = 0; i < 4; i++) {
        char p1[256];
        char p2[256];
        size_t l1;
        size_t l2;
        snprintf(p1, sizeof p1, "%s/%s", f->out, names[i]);
        snprintf(p2, sizeof p2, "%s/%s", other, names[i]);
        char *x = read_file(p1, &l1);
        char *y = read_file(p2, &l2);
        assert_non_null(x);
        assert_non_null(y);
        assert_int_equal(l1, l2);
        assert_memory_equal(x, y, l1);
        /* No absolute paths leak into the output. */
        assert_null(strstr(x, "/tmp/"));
        free(x);
        free(y);
    }
}

static void good_constants(void **state)
{
    fixture *f = *state;
    run_result r = run_tool("vt-constgen", f->out, good_files, NGOOD);
    json_t *root;
    json_t *cs;
    char *h;
    static const struct {
        const char *name;
        const char *type;
        const char *file;
    } want[] = {
        {"FIX_SIZE", "u32", FIX "/good/README.md"},
        {"FIX_U32_MAX", "u32", FIX "/good/README.md"},
        {"FIX_BIG", "u64", FIX "/good/README.md"},
        {"FIX_LABEL", "string", FIX "/good/README.md"},
        {"FIX_TRICKY", "string", FIX "/good/README.md"},
        {"BETA_TIMEOUT_S", "u64", FIX "/good/state/beta.md"},
    };

    check_run(r, 0, "vt-constgen", NULL);
    root = load_json(f, "constants.json");
    assert_string_equal(json_string_value(json_object_get(root, "generated_by")),
                        "Generated by vt-constgen from " FIX "/good/README.md " FIX
                        "/good/alpha.md " FIX "/good/state/beta.md " FIX
                        "/good/state/gamma.md. Do not edit.");
    cs = json_object_get(root, "constants");
    /* Ignored region, indented code and the non-constants table add nothing. */
    assert_int_equal(json_array_size(cs), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *c = json_array_get(cs, i);
        assert_string_equal(json_string_value(json_object_get(c, "name")), want[i].name);
        assert_string_equal(json_string_value(json_object_get(c, "type")), want[i].type);
        assert_string_equal(json_string_value(json_object_get(c, "file")), want[i].file);
    }
    assert_int_equal(json_integer_value(json_object_get(json_array_get(cs, 0), "value")),
                     262144);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(cs, 1), "value")),
                     4294967295LL);
    assert_true(json_integer_value(json_object_get(json_array_get(cs, 2), "value")) ==
                9007199254740993LL);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(cs, 3), "value")),
        "fix.v1/label");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(cs, 3), "meaning")),
        "A label; `a || b` is concatenation.");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(cs, 4), "value")),
        "say \"hi\" ?\?= \\ ok");
    json_decref(root);

    h = out_file(f, "vt_constants.h");
    assert_non_null(h);
    assert_memory_equal(h, "/* Generated by vt-constgen from ", 32);
    assert_non_null(strstr(h, "#define VT_FIX_SIZE 262144u\n"));
    assert_non_null(strstr(h, "#define VT_FIX_BIG 9007199254740993ull\n"));
    assert_non_null(strstr(h, "#define VT_BETA_TIMEOUT_S 604800ull\n"));
    assert_non_null(strstr(h, "#define VT_FIX_LABEL \"fix.v1/label\"\n"
                              "#define VT_FIX_LABEL_LEN 12u\n"));
    assert_non_null(strstr(h, "#define VT_FIX_TRICKY \"say \\\"hi\\\" ?\\?= \\\\ ok\"\n"
                              "#define VT_FIX_TRICKY_LEN 17u\n"));
    /* Comment: name, type, source file and meaning; a stray end-of-comment
     * in the meaning is defused. */
    assert_non_null(strstr(h, "/* FIX_SIZE (u32, " FIX "/good/README.md): Largest\n"
                              " * frame, in bytes. */\n#define VT_FIX_SIZE"));
    assert_non_null(strstr(h, "a trigraph * / in a comment."));
    assert_null(strstr(h, "IGNORED"));
    assert_null(strstr(h, "NOT_A_CONSTANT"));
    free(h);
}

/* ---- the bad fixtures ---- */

static void expect_failure(const fixture *f, const char *tool, const char *const *files,
                           size_t n, const char *message)
{
    struct stat st;
    check_run(run_tool(tool, f->out, files, n), 1, tool, message);
    /* Nothing written, not even the output directory. */
    assert_int_equal(stat(f->out, &st), -1);
    assert_int_equal(errno, ENOENT);
}

#define ONE(path) ((const char *const[]){path}), 1

static void bad_stray_keyword(void **state)
{
    expect_failure(*state, "vt-reqgen", ONE(FIX "/bad/stray.md"),
                   FIX "/bad/stray.md:8: SHOULD outside a numbered requirement\n");
}

static void bad_duplicate_across_files(void **state)
{
    static const char *const files[] = {FIX "/bad/dup_a.md", FIX "/bad/dup_b.md"};
    expect_failure(*state, "vt-reqgen", files, 2,
                   FIX "/bad/dup_b.md:7: duplicate requirement ID DUP-1 (first at " FIX
                       "/bad/dup_a.md:5)\n");
}

static void bad_wrong_prefix(void **state)
{
    expect_failure(*state, "vt-reqgen", ONE(FIX "/bad/prefix.md"),
                   FIX
                   "/bad/prefix.md:7: requirement ID WIRE-1 does not carry this file's "
                   "prefix BAD\n");
}

static void bad_withdrawn(void **state)
{
    expect_failure(*state, "vt-reqgen", ONE(FIX "/bad/withdrawn.md"),
                   FIX "/bad/withdrawn.md:7: requirement ID BAD-7 is withdrawn (" FIX
                       "/bad/withdrawn.md:11)\n");
}

static void bad_withdrawn_in_other_file(void **state)
{
    /* README.md's withdrawn list applies to every file. */
    static const char *const files[] = {FIX "/good/README.md",
                                        FIX "/bad/withdrawn_other.md"};
    expect_failure(*state, "vt-reqgen", files, 2,
                   FIX
                   "/bad/withdrawn_other.md:5: requirement ID FIX-3 is withdrawn (" FIX
                   "/good/README.md:45)\n");
}

static void bad_no_prefix(void **state)
{
    expect_failure(*state, "vt-reqgen", ONE(FIX "/bad/noprefix.md"),
                   FIX "/bad/noprefix.md:1: no 'Requirement prefix: NAME' line\n");
}

static void bad_no_keyword(void **state)
{
    expect_failure(*state, "vt-reqgen", ONE(FIX "/bad/nokeyword.md"),
                   FIX "/bad/nokeyword.md:5: requirement BAD-1 has no key word");
}

static void bad_unterminated_ignore(void **state)
{
    expect_failure(*state, "vt-reqgen", ONE(FIX "/bad/ignore.md"),
                   FIX "/bad/ignore.md:5: req:ignore-start without req:ignore-end\n");
}

static void bad_ignore_end_alone(void **state)
{
    expect_failure(*state, "vt-reqgen", ONE(FIX "/bad/ignore_end.md"),
                   FIX "/bad/ignore_end.md:7: req:ignore-end without req:ignore-start\n");
}

static void bad_unknown_directive(void **state)
{
    expect_failure(*state, "vt-reqgen", ONE(FIX "/bad/directive.md"),
                   FIX "/bad/directive.md:5: unknown directive");
}

static void bad_leading_zero(void **state)
{
    expect_failure(*state, "vt-reqgen", ONE(FIX "/bad/leading_zero.md"),
                   FIX
                   "/bad/leading_zero.md:5: requirement ID BAD-07 has a leading zero\n");
}

static void bad_const_header(void **state)
{
    expect_failure(*state, "vt-constgen", ONE(FIX "/bad/const_header.md"),
                   FIX "/bad/const_header.md:3: constants table header must be exactly");
}

static void bad_missing_file(void **state)
{
    expect_failure(*state, "vt-reqgen", ONE(FIX "/bad/no-such-file.md"),
                   FIX "/bad/no-such-file.md:0: cannot open");
}

static void bad_const_duplicate(void **state)
{
    expect_failure(*state, "vt-constgen", ONE(FIX "/bad/const_dup.md"),
                   FIX
                   "/bad/const_dup.md:10: constant DUP_SIZE defined twice (first at " FIX
                   "/bad/const_dup.md:5)\n");
}

static void bad_const_malformed_row(void **state)
{
    expect_failure(*state, "vt-constgen", ONE(FIX "/bad/const_row.md"),
                   FIX
                   "/bad/const_row.md:6: malformed constants row: 3 cells, expected 4\n");
}

static void bad_const_u32_range(void **state)
{
    expect_failure(*state, "vt-constgen", ONE(FIX "/bad/const_range.md"),
                   FIX
                   "/bad/const_range.md:5: constant TOO_BIG: value 4294967296 is out of "
                   "range for u32\n");
}

static void bad_const_u64_range(void **state)
{
    expect_failure(
        *state, "vt-constgen", ONE(FIX "/bad/const_u64.md"),
        FIX "/bad/const_u64.md:5: constant WAY_TOO_BIG: value 18446744073709551616 "
            "is out of range for u64\n");
}

static void bad_const_not_decimal(void **state)
{
    expect_failure(*state, "vt-constgen", ONE(FIX "/bad/const_hex.md"),
                   FIX "/bad/const_hex.md:5: constant HEX: value '0x10' is not a decimal "
                       "integer\n");
}

static void bad_const_unknown_type(void **state)
{
    expect_failure(*state, "vt-constgen", ONE(FIX "/bad/const_type.md"),
                   FIX "/bad/const_type.md:5: constant SIGNED has unknown type 'i32'");
}

static void bad_const_type_mismatch(void **state)
{
    expect_failure(*state, "vt-constgen", ONE(FIX "/bad/const_mismatch.md"),
                   FIX
                   "/bad/const_mismatch.md:5: constant NAME: value '5' is not a string "
                   "literal");
}

static void bad_const_len_clash(void **state)
{
    expect_failure(*state, "vt-constgen", ONE(FIX "/bad/const_len.md"),
                   FIX "/bad/const_len.md:6: constant PATH_LEN clashes with VT_PATH_LEN");
}

/* ---- the real spec ---- */

static void compare_outputs(const char *fresh, const char *committed, const char *name)
{
    char p1[512];
    char p2[512];
    size_t l1 = 0;
    size_t l2 = 0;
    snprintf(p1, sizeof p1, "%s/%s", fresh, name);
    snprintf(p2, sizeof p2, "%s/%s", committed, name);
    char *x = read_file(p1, &l1);
    char *y = read_file(p2, &l2);
    int same = x != NULL && y != NULL && l1 == l2 && memcmp(x, y, l1) == 0;
    int missing = y == NULL;
    free(x);
    free(y);
    if (missing)
        fail_msg("%s is missing: run 'make generate'", p2);
    if (!same)
        fail_msg("%s is stale: run 'make generate' and commit", p2);
}

static void real_spec_is_current(void **state)
{
    fixture *f = *state;
    glob_t g;
    struct stat st;
    run_result r;
    run_result c;
    int rc;
    /* The same file list, in the same (byte-wise) order, as tools/generate.sh
     * gets from sh: the spec folder, then its state folder. */
    memset(&g, 0, sizeof g);
    rc = glob("spec/*.md", 0, NULL, &g);
    assert_int_equal(rc, 0);
    rc = glob("spec/state/*.md", GLOB_APPEND, NULL, &g);
    assert_true(rc == 0 || rc == GLOB_NOMATCH);

    /* Both runs before any check, so a failing check leaks no glob. */
    r = run_tool("vt-reqgen", f->out, (const char *const *)g.gl_pathv, g.gl_pathc);
    c = run_tool("vt-constgen", f->out, (const char *const *)g.gl_pathv, g.gl_pathc);
    globfree(&g);
    {
        /* Keep vt-constgen's verdict while vt-reqgen's is checked. */
        static char cerr[16384];
        int cstatus = c.status;
        snprintf(cerr, sizeof cerr, "%s", c.err);
        free(c.err);
        check_run(r, 0, "vt-reqgen", NULL);
        if (cstatus != 0 || cerr[0] != '\0')
            fail_msg("vt-constgen exited with %d on the spec; stderr:\n%s", cstatus,
                     cerr);
    }

    if (stat("generated/spec", &st) != 0) {
        print_message("generated/spec does not exist yet; comparison skipped\n");
        return;
    }
    compare_outputs(f->out, "generated/spec", "requirements.json");
    compare_outputs(f->out, "generated/spec", "requirements.md");
    compare_outputs(f->out, "generated/spec", "vt_requirements.h");
    compare_outputs(f->out, "generated/spec", "vt_requirements.c");
    compare_outputs(f->out, "generated/spec", "vt_constants.h");
    compare_outputs(f->out, "generated/spec", "constants.json");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(good_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(good_index_and_c, setup, teardown),
        cmocka_unit_test_setup_teardown(good_is_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(good_constants, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_stray_keyword, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_duplicate_across_files, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_wrong_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_withdrawn, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_withdrawn_in_other_file, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_no_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_no_keyword, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_unterminated_ignore, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_ignore_end_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_unknown_directive, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_leading_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_const_header, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_const_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_const_malformed_row, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_const_u32_range, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_const_u64_range, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_const_not_decimal, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_const_unknown_type, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_const_type_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_const_len_clash, setup, teardown),
        cmocka_unit_test_setup_teardown(real_spec_is_current, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
