/* The vector runner's driver: walks conformance/vectors/{crypto,wire,state}
 * and the helpers the kinds share (case fields, failure text, file lists).
 * The vector format is conformance/vectors/crypto/FORMAT.md. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"
#include "vectors_int.h"

void vt_conform_detail_vadd(vt_conform_detail *d, const char *fmt, va_list ap)
{
    size_t cap = sizeof d->text;
    d->count++;
    if (d->len + 5 >= cap)
        return; /* already full and marked */
    if (d->len > 0)
        d->len += (size_t)snprintf(d->text + d->len, cap - d->len, "; ");
    int n = vsnprintf(d->text + d->len, cap - d->len, fmt, ap);
    if (n < 0 || d->len + (size_t)n >= cap - 4) {
        d->len = cap - 4;
        memcpy(d->text + d->len, "...", 4);
        d->len = cap - 1;
        return;
    }
    d->len += (size_t)n;
}

void vt_conform_detail_add(vt_conform_detail *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vt_conform_detail_vadd(d, fmt, ap);
    va_end(ap);
}

void vt_conform_detail_reset(vt_conform_detail *d)
{
    d->len = 0;
    d->count = 0;
    d->text[0] = '\0';
}

void vt_conform_case_fill(vt_conform_case *c, const char *file, json_t *t)
{
    memset(c, 0, sizeof *c);
    c->file = file;
    c->comment = "";
    c->result = VT_CONFORM_PASS;
    if (t == NULL) {
        c->comment = "(the file itself)";
        return;
    }
    c->tc_id = (long long)json_integer_value(json_object_get(t, "tcId"));
    c->id = json_string_value(json_object_get(t, "id"));
    const char *comment = json_string_value(json_object_get(t, "comment"));
    if (comment != NULL)
        c->comment = comment;
    c->expected = json_string_value(json_object_get(t, "result"));
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(t, "requirements"), i, r)
    {
        const char *s = json_string_value(r);
        if (s != NULL && c->n_requirements < VT_CONFORM_MAX_REQS)
            c->requirements[c->n_requirements++] = s;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int vt_conform_list_json(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    char **v = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t l = strlen(e->d_name);
        /* *.json except the schema files */
        if (l <= 5 || strcmp(e->d_name + l - 5, ".json") != 0 ||
            strstr(e->d_name, "schema") != NULL)
            continue;
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (nv == NULL)
                goto out;
            v = nv;
            cap = ncap;
        }
        if ((v[len] = strdup(e->d_name)) == NULL)
            goto out;
        len++;
    }
    if (len > 0)
        qsort(v, len, sizeof v[0], cmp_str);
    *names = v;
    *n = len;
    v = NULL;
    len = 0;
    rc = 0;
out:
    vt_conform_names_free(v, len);
    closedir(d);
    return rc;
}

void vt_conform_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Reports |c| as failed when |d| holds any disagreement. */
static int report(vt_conform_case *c, vt_conform_detail *d, vt_conform_case_fn fn,
                  void *ud)
{
    bool failed = d->len > 0;
    c->result = failed ? VT_CONFORM_FAIL : VT_CONFORM_PASS;
    c->detail = failed ? d->text : NULL;
    fn(c, ud);
    vt_conform_detail_reset(d);
    return failed ? 1 : 0;
}

static int run_file(const char *path, const char *label, vt_conform_test_fn run,
                    vt_conform_case_fn fn, void *ud)
{
    static vt_conform_detail d;
    vt_conform_case c;
    json_error_t jerr;
    int failed = 0;
    vt_conform_detail_reset(&d);
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL) {
        vt_conform_case_fill(&c, label, NULL);
        vt_conform_detail_add(&d, "does not parse: %s (line %d)", jerr.text, jerr.line);
        return report(&c, &d, fn, ud);
    }
    json_t *g;
    size_t gi, n = 0;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g)
    {
        json_t *t;
        size_t ti;
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            vt_conform_case_fill(&c, label, t);
            run(&d, g, t);
            n++;
            failed += report(&c, &d, fn, ud);
        }
    }
    json_int_t declared = json_integer_value(json_object_get(root, "numberOfTests"));
    if ((json_int_t)n != declared) {
        vt_conform_case_fill(&c, label, NULL);
        vt_conform_detail_add(&d, "ran %zu tests, numberOfTests says %lld", n,
                              (long long)declared);
        failed += report(&c, &d, fn, ud);
    }
    json_decref(root);
    return failed;
}

int vt_conform_dir_run(const char *dir, const char *kind, vt_conform_file_fn file,
                       void *arg)
{
    char **names = NULL;
    size_t n = 0;
    int failed = 0;
    if (vt_conform_list_json(dir, &names, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char path[4096], label[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(label, sizeof label, "%s/%s", kind, names[i]);
        failed += file(path, label, arg);
    }
    vt_conform_names_free(names, n);
    return failed;
}

typedef struct kind_walk {
    vt_conform_test_fn run;
    vt_conform_case_fn fn;
    void *ud;
} kind_walk;

static int kind_file(const char *path, const char *label, void *arg)
{
    const kind_walk *w = arg;
    return run_file(path, label, w->run, w->fn, w->ud);
}

int vt_conform_kind_run(const char *dir, const char *kind, vt_conform_test_fn run,
                        vt_conform_case_fn fn, void *ud)
{
    kind_walk w = {run, fn, ud};
    return vt_conform_dir_run(dir, kind, kind_file, &w);
}

int vt_conform_vectors_run(const char *dir, vt_conform_case_fn fn, void *ud)
{
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/crypto", dir);
    int crypto = vt_conform_crypto_run(sub, fn, ud);
    if (crypto < 0)
        return -1;
    snprintf(sub, sizeof sub, "%s/wire", dir);
    int wire = vt_conform_wire_run(sub, fn, ud);
    if (wire < 0)
        return -1;
    snprintf(sub, sizeof sub, "%s/state", dir);
    int state = vt_conform_state_run(sub, fn, ud);
    if (state < 0)
        return -1;
    snprintf(sub, sizeof sub, "%s/schema", dir);
    int schema = vt_conform_schema_run(sub, fn, ud);
    if (schema < 0)
        return -1;
    return crypto + wire + state + schema;
}
