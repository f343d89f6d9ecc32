/* `ventra-conform coverage`: which vectors and cases test each requirement
 * of spec/ (generated/spec/requirements.json), and the gate that fails while
 * a MUST is tested by none. Sources: the recorded vectors (every kind folder
 * under the vector directory, each test's `requirements`), the live
 * cases of every area (conformance/live, each case's `reqs`) and the
 * client tier's cases (conformance/client), counted separately. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "coverage.h"
#include "live_int.h"
#include "vt_requirements.h"

/* One requirement's citations, as "vector wire/requests.json#wire/request/ping"
 * or "live auth/forged-signature" strings. */
typedef struct cites {
    char **v;
    size_t n, cap;
} cites;

typedef struct coverage {
    cites *by_req;      /* indexed like vt_requirements */
    size_t *by_vectors; /* citations by vectors, per requirement */
    size_t *by_live;    /* by live cases */
    size_t *by_client;  /* by client cases */
    size_t unknown;     /* citations of IDs spec/ does not have */
    size_t files, cases, client_cases;
    size_t not_run; /* cases the --results runs did not exercise */
} coverage;

typedef enum { SRC_VECTOR, SRC_LIVE, SRC_CLIENT } source;

/* With --results: the cases a run actually exercised ("server auth/x",
 * "client messaging/y"), from the JSON results of `ventra-conform server`
 * and `client` runs; a case counts only when its outcome was PASS or XFAIL
 * (it ran and its checks were made; SKIP and UNIMPLEMENTED test nothing). */
typedef struct ran {
    char **v;
    size_t n, cap;
    bool given;
} ran;

static int ran_add(ran *r, const char *mode, const char *id)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? 2 * r->cap : 64;
        char **nv = realloc(r->v, ncap * sizeof *nv);
        if (nv == NULL)
            return -1;
        r->v = nv;
        r->cap = ncap;
    }
    size_t len = strlen(mode) + 1 + strlen(id) + 1;
    if ((r->v[r->n] = malloc(len)) == NULL)
        return -1;
    snprintf(r->v[r->n++], len, "%s %s", mode, id);
    return 0;
}

static bool ran_has(const ran *r, const char *mode, const char *id)
{
    size_t ml = strlen(mode);
    for (size_t i = 0; i < r->n; i++)
        if (strncmp(r->v[i], mode, ml) == 0 && r->v[i][ml] == ' ' &&
            strcmp(r->v[i] + ml + 1, id) == 0)
            return true;
    return false;
}

static int ran_load(ran *r, const char *path)
{
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error), *c;
    const char *mode = json_string_value(json_object_get(root, "mode"));
    size_t i;
    int rc = 0;
    if (root == NULL || mode == NULL) {
        fprintf(stderr, "ventra-conform: %s: not the results of a server or client run\n",
                path);
        json_decref(root);
        return -1;
    }
    r->given = true;
    json_array_foreach(json_object_get(root, "cases"), i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *out = json_string_value(json_object_get(c, "outcome"));
        if (rc == 0 && id != NULL && out != NULL &&
            (strcmp(out, "PASS") == 0 || strcmp(out, "XFAIL") == 0))
            rc = ran_add(r, mode, id);
    }
    json_decref(root);
    return rc;
}

static void ran_free(ran *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    free(r->v);
}

static int cite(coverage *cov, const char *id, const char *where, source from,
                const char *src)
{
    const vt_requirement *r = id != NULL ? vt_requirement_find(id) : NULL;
    if (r == NULL) {
        fprintf(stderr, "%s cites unknown requirement %s\n", src,
                id ? id : "(not a string)");
        cov->unknown++;
        return 0;
    }
    size_t i = (size_t)(r - vt_requirements);
    cites *c = &cov->by_req[i];
    if (c->n == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 4;
        char **nv = realloc(c->v, ncap * sizeof *nv);
        if (nv == NULL)
            return -1;
        c->v = nv;
        c->cap = ncap;
    }
    size_t len = strlen(where) + 1;
    if ((c->v[c->n] = malloc(len)) == NULL)
        return -1;
    memcpy(c->v[c->n++], where, len);
    if (from == SRC_LIVE)
        cov->by_live[i]++;
    else if (from == SRC_CLIENT)
        cov->by_client[i]++;
    else
        cov->by_vectors[i]++;
    return 0;
}

/* The citations of every test of one vector file |path|, labelled
 * "<kind>/<file>#<id>". */
static int cite_vector_file(coverage *cov, const char *path, const char *label)
{
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    int rc = 0;
    if (root == NULL) {
        fprintf(stderr, "%s:%d: %s\n", path, error.line, error.text);
        return -1;
    }
    size_t gi, ti, ri;
    json_t *group, *test, *id;
    json_array_foreach(json_object_get(root, "testGroups"), gi, group)
    {
        json_array_foreach(json_object_get(group, "tests"), ti, test)
        {
            char where[1024];
            const char *tid = json_string_value(json_object_get(test, "id"));
            snprintf(where, sizeof where, "vector %s#%s", label, tid ? tid : "?");
            json_array_foreach(json_object_get(test, "requirements"), ri, id)
            {
                if (rc == 0)
                    rc = cite(cov, json_string_value(id), where, SRC_VECTOR, path);
            }
        }
    }
    json_decref(root);
    return rc;
}

/* One level of kinds (crypto/, wire/, state/, schema/), then their files. */
static int cite_vectors(coverage *cov, const char *dir)
{
    DIR *top = opendir(dir);
    int rc = 0;
    if (top == NULL) {
        fprintf(stderr, "ventra-conform: cannot read %s\n", dir);
        return -1;
    }
    for (struct dirent *kind; rc == 0 && (kind = readdir(top)) != NULL;) {
        char sub[4096];
        if (kind->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, kind->d_name);
        DIR *d = opendir(sub);
        if (d == NULL)
            continue;
        for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
            size_t n = strlen(e->d_name);
            char path[8192], label[600];
            if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", sub, e->d_name);
            snprintf(label, sizeof label, "%s/%s", kind->d_name, e->d_name);
            rc = cite_vector_file(cov, path, label);
            cov->files++;
        }
        closedir(d);
    }
    closedir(top);
    return rc;
}

/* Every case of every area of |areas| (the live tier's or the client
 * tier's, |from|); `reqs` is space separated. */
static int cite_cases(coverage *cov, const vcl_area *areas, size_t narea, source from,
                      const ran *r)
{
    const char *mode = from == SRC_CLIENT ? "client" : "server";
    for (size_t a = 0; a < narea; a++) {
        for (size_t i = 0; i < *areas[a].count; i++) {
            const vcl_case *c = &areas[a].cases[i];
            char where[256], id[32];
            if (r->given && !ran_has(r, mode, c->id)) {
                cov->not_run++;
                continue;
            }
            snprintf(where, sizeof where, "%s %s", from == SRC_CLIENT ? "client" : "live",
                     c->id);
            for (const char *p = c->reqs; *p != '\0';) {
                size_t n = strcspn(p, " ");
                if (n > 0 && n < sizeof id) {
                    memcpy(id, p, n);
                    id[n] = '\0';
                    if (cite(cov, id, where, from, c->id) != 0)
                        return -1;
                } else if (n > 0) {
                    cov->unknown++;
                }
                p += n;
                p += strspn(p, " ");
            }
            if (from == SRC_CLIENT)
                cov->client_cases++;
            else
                cov->cases++;
        }
    }
    return 0;
}

enum { REPORT_MAX_CITES = 8 };

static const char *level_name(vt_req_level level)
{
    return level == VT_REQ_MUST ? "MUST" : level == VT_REQ_SHOULD ? "SHOULD" : "MAY";
}

/* The report: one row per requirement with everything that tests it. */
static int write_report(const coverage *cov, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "ventra-conform: cannot write %s\n", path);
        return -1;
    }
    fprintf(f, "# Requirement coverage\n\n"
               "Every requirement of spec/ and the vectors and live cases that test it\n"
               "(`ventra-conform coverage --report`).\n\n"
               "| Requirement | Level | Tested by |\n|---|---|---|\n");
    for (size_t i = 0; i < vt_requirement_count; i++) {
        const cites *c = &cov->by_req[i];
        fprintf(f, "| %s | %s | ", vt_requirements[i].id,
                level_name(vt_requirements[i].level));
        if (c->n == 0)
            fputs("**untested**", f);
        /* A long list says how many it leaves out (the schema lock cites
         * SPEC-2 from every locked entry). */
        for (size_t j = 0; j < c->n && j < REPORT_MAX_CITES; j++)
            fprintf(f, "%s`%s`", j ? ", " : "", c->v[j]);
        if (c->n > REPORT_MAX_CITES)
            fprintf(f, " and %zu more", c->n - REPORT_MAX_CITES);
        fputs(" |\n", f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static const char usage[] =
    "usage: ventra-conform coverage [--gate] [--report FILE] [--list]\n"
    "                               [--results FILE]... [DIR]\n"
    "  DIR          the vectors (default conformance/vectors); the live cases\n"
    "               are built into ventra-conform\n"
    "  --gate       exit 1 while any MUST requirement is tested by nothing\n"
    "  --report F   write the whole map (requirement -> vectors and cases) as\n"
    "               Markdown to F\n"
    "  --list       print every requirement with what tests it\n"
    "  --results F  the JSON results (--json) of a server or client run;\n"
    "               repeatable. Given any, a case counts only when one of\n"
    "               these runs passed it (or it failed as expected)\n";

int vt_conform_coverage(int argc, char **argv)
{
    const char *dir = "conformance/vectors", *report = NULL;
    bool gate = false, list = false;
    coverage cov = {0};
    ran runs = {0};
    int rc = 1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--gate") == 0)
            gate = true;
        else if (strcmp(argv[i], "--list") == 0)
            list = true;
        else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
            report = argv[++i];
        else if (strcmp(argv[i], "--results") == 0 && i + 1 < argc) {
            if (ran_load(&runs, argv[++i]) != 0)
                goto out;
        } else if (argv[i][0] != '-' && i == argc - 1)
            dir = argv[i];
        else {
            fputs(usage, stderr);
            ran_free(&runs);
            return 2;
        }
    }
    cov.by_req = calloc(vt_requirement_count + 1, sizeof *cov.by_req);
    cov.by_vectors = calloc(vt_requirement_count + 1, sizeof *cov.by_vectors);
    cov.by_live = calloc(vt_requirement_count + 1, sizeof *cov.by_live);
    cov.by_client = calloc(vt_requirement_count + 1, sizeof *cov.by_client);
    if (cov.by_req == NULL || cov.by_vectors == NULL || cov.by_live == NULL ||
        cov.by_client == NULL)
        goto out;
    if (cite_vectors(&cov, dir) != 0 ||
        cite_cases(&cov, vcl_areas, vcl_area_count, SRC_LIVE, &runs) != 0 ||
        cite_cases(&cov, vcl_client_areas, vcl_client_area_count, SRC_CLIENT, &runs) != 0)
        goto out;
    if (report != NULL && write_report(&cov, report) != 0)
        goto out;

    size_t must = 0, must_hit = 0, by_vec = 0, by_live = 0, by_client = 0, should = 0,
           should_hit = 0;
    printf("untested MUST requirements:\n");
    for (size_t i = 0; i < vt_requirement_count; i++) {
        const vt_requirement *r = &vt_requirements[i];
        bool hit = cov.by_req[i].n > 0;
        if (list) {
            printf("%-11s %-6s", r->id, level_name(r->level));
            for (size_t j = 0; j < cov.by_req[i].n; j++)
                printf("%s%s", j ? ", " : " ", cov.by_req[i].v[j]);
            printf("\n");
        }
        if (r->level == VT_REQ_SHOULD) {
            should++;
            should_hit += hit;
        }
        if (r->level != VT_REQ_MUST)
            continue;
        must++;
        must_hit += hit;
        by_vec += cov.by_vectors[i] > 0;
        by_live += cov.by_live[i] > 0;
        by_client += cov.by_client[i] > 0;
        if (!hit)
            printf("  %-11s %s:%u\n", r->id, r->file, r->line);
    }
    printf("%zu vector files, %zu live cases, %zu client cases; %zu of %zu MUST "
           "requirements tested (%zu by vectors, %zu by live cases, %zu by client "
           "cases), %zu of %zu SHOULD; %zu unknown citations\n",
           cov.files, cov.cases, cov.client_cases, must_hit, must, by_vec, by_live,
           by_client, should_hit, should, cov.unknown);
    if (runs.given)
        printf("(counting only the cases the given runs exercised: %zu cases not run)\n",
               cov.not_run);
    rc = cov.unknown == 0 && cov.files > 0 && (!gate || must_hit == must) ? 0 : 1;
out:
    for (size_t i = 0; cov.by_req != NULL && i < vt_requirement_count; i++) {
        for (size_t j = 0; j < cov.by_req[i].n; j++)
            free(cov.by_req[i].v[j]);
        free(cov.by_req[i].v);
    }
    free(cov.by_req);
    free(cov.by_vectors);
    free(cov.by_live);
    free(cov.by_client);
    ran_free(&runs);
    return rc;
}
