/* protoc-gen-ventra: reads the nanopb .options files (max_size, max_count)
 * so the protobuf-c side enforces the same bounds as nanopb (spec/wire.md,
 * Limits). Other nanopb options are ignored. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgv.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The loaded .proto file an .options file belongs to: same base name. */
static const pgv_file_desc *proto_of(const pgv_model *m, const char *options_name)
{
    size_t base = strlen(options_name) - strlen(".options");
    for (size_t i = 0; i < m->req->n_proto_file; i++) {
        const char *name = m->req->proto_file[i]->name;
        const char *slash = strrchr(name, '/');
        const char *file = slash ? slash + 1 : name;
        if (strncmp(file, options_name, base) == 0 &&
            strcmp(file + base, ".proto") == 0) {
            return m->req->proto_file[i];
        }
    }
    return NULL;
}

static bool parse_u32(const char *s, uint32_t *out)
{
    if (*s < '0' || *s > '9') {
        return false;
    }
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > UINT32_MAX) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static pgv_limit *limit_for(pgv_model *m, const pgv_msg *msg, const pgv_field_desc *field,
                            size_t *cap)
{
    for (size_t i = 0; i < m->n_limits; i++) {
        if (m->limits[i].msg == msg && m->limits[i].field == field) {
            return &m->limits[i];
        }
    }
    if (m->n_limits == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        pgv_limit *n = pgv_alloc(*cap * sizeof(*n));
        if (m->n_limits) {
            memcpy(n, m->limits, m->n_limits * sizeof(*n));
        }
        m->limits = n;
    }
    pgv_limit *l = &m->limits[m->n_limits++];
    memset(l, 0, sizeof(*l));
    l->msg = msg;
    l->field = field;
    return l;
}

static void parse_line(pgv_model *m, const char *where, char *line, size_t *cap)
{
    char *save = NULL;
    char *name = strtok_r(line, " \t\r", &save);
    if (name == NULL) {
        return;
    }
    if (strchr(name, '*') != NULL) {
        pgv_error(m, "%s: wildcard names are not supported: %s", where, name);
        return;
    }
    char *dot = strrchr(name, '.');
    if (dot == NULL) {
        pgv_error(m, "%s: %s does not name a message field", where, name);
        return;
    }
    char *msg_name = pgv_strndup(name, (size_t)(dot - name));
    const pgv_msg *msg = pgv_find_msg(m, msg_name);
    if (msg == NULL) {
        pgv_error(m, "%s: no message %s (in %s)", where, msg_name, name);
        return;
    }
    const pgv_field_desc *field = pgv_find_field(msg, dot + 1);
    if (field == NULL) {
        pgv_error(m, "%s: message %s has no field %s", where, msg_name, dot + 1);
        return;
    }
    bool repeated =
        field->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
    bool is_string =
        field->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING;
    bool is_bytes =
        field->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES;
    pgv_limit *l = NULL;
    for (char *opt = strtok_r(NULL, " \t\r", &save); opt;
         opt = strtok_r(NULL, " \t\r", &save)) {
        char *colon = strchr(opt, ':');
        if (colon == NULL) {
            pgv_error(m, "%s: %s: option %s is not key:value", where, name, opt);
            continue;
        }
        *colon = '\0';
        bool size = strcmp(opt, "max_size") == 0;
        bool count = strcmp(opt, "max_count") == 0;
        if (!size && !count) {
            continue;
        }
        uint32_t v;
        if (!parse_u32(colon + 1, &v)) {
            pgv_error(m, "%s: %s: %s:%s is not a number", where, name, opt, colon + 1);
            continue;
        }
        if (l == NULL) {
            l = limit_for(m, msg, field, cap);
        }
        if (size) {
            if (!is_string && !is_bytes) {
                pgv_error(m,
                          "%s: %s: max_size on a field that is neither string nor bytes",
                          where, name);
                continue;
            }
            /* nanopb's max_size counts a string's terminating NUL. */
            if (is_string && v == 0) {
                pgv_error(m, "%s: %s: max_size:0 leaves no room for a string's NUL",
                          where, name);
                continue;
            }
            uint32_t len = is_string ? v - 1 : v;
            if (l->has_size && l->max_len != len) {
                pgv_error(m, "%s: %s: conflicting max_size", where, name);
            }
            l->max_len = len;
            l->has_size = true;
        } else {
            if (!repeated) {
                pgv_error(m, "%s: %s: max_count on a field that is not repeated", where,
                          name);
                continue;
            }
            if (l->has_count && l->max_count != v) {
                pgv_error(m, "%s: %s: conflicting max_count", where, name);
            }
            l->max_count = v;
            l->has_count = true;
        }
    }
}

static void load_file(pgv_model *m, const char *path, size_t *cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        pgv_error(m, "%s: cannot open: %s", path, strerror(errno));
        return;
    }
    char line[4096];
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        char *where = pgv_printf("%s:%u", path, lineno);
        parse_line(m, where, line, cap);
    }
    fclose(f);
}

static int cmp_limit(const void *a, const void *b)
{
    const pgv_limit *x = a;
    const pgv_limit *y = b;
    int c = strcmp(x->msg->full_name, y->msg->full_name);
    if (c != 0) {
        return c;
    }
    return x->field->number < y->field->number ? -1 : x->field->number > y->field->number;
}

void pgv_options_load(pgv_model *m)
{
    DIR *d = opendir(m->options_dir);
    if (d == NULL) {
        pgv_error(m, "options_dir %s: %s", m->options_dir, strerror(errno));
        return;
    }
    size_t n = 0;
    size_t ncap = 16;
    char **names = pgv_alloc(ncap * sizeof(*names));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= strlen(".options") || strcmp(de->d_name + len - 8, ".options") != 0) {
            continue;
        }
        if (n == ncap) {
            ncap *= 2;
            char **nn = pgv_alloc(ncap * sizeof(*nn));
            memcpy(nn, names, n * sizeof(*nn));
            names = nn;
        }
        names[n++] = pgv_strdup(de->d_name);
    }
    closedir(d);
    /* readdir order is the file system's: sort for deterministic output. */
    qsort(names, n, sizeof(*names), cmp_str);
    m->options_used = pgv_alloc((n ? n : 1) * sizeof(char *));
    m->options_skipped = pgv_alloc((n ? n : 1) * sizeof(char *));
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (proto_of(m, names[i]) == NULL) {
            /* Its schema is not part of this protoc run (e2e.proto: payloads
             * only clients decode, with nanopb). */
            m->options_skipped[m->n_options_skipped++] = names[i];
            continue;
        }
        m->options_used[m->n_options_used++] = names[i];
        load_file(m, pgv_printf("%s/%s", m->options_dir, names[i]), &cap);
    }
    if (m->n_limits) {
        qsort(m->limits, m->n_limits, sizeof(*m->limits), cmp_limit);
    }
}
