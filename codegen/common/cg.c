/* Helpers shared by the generators of codegen/: one implementation of the
 * buffer, escaping, reading and output writing that protoc-gen-ventra,
 * vt-reqgen, vt-constgen and vt-smgen all need (see cg.h). */
#include "cg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cg_tool = "codegen";

static void out_of_memory(void)
{
    fprintf(stderr, "%s: out of memory\n", cg_tool);
    exit(2);
}

void *cg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

void *cg_xcalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

void *cg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        out_of_memory();
    return q;
}

char *cg_xstrndup(const char *s, size_t n)
{
    char *p = cg_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cg_xstrdup(const char *s)
{
    return cg_xstrndup(s, strlen(s));
}

/* ---- buffers and escaping ---- */

static void reserve(cg_buf *b, size_t extra)
{
    size_t cap;
    if (b->len + extra + 1 <= b->cap)
        return;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = cg_xrealloc(b->data, cap);
    b->cap = cap;
}

void cg_buf_put(cg_buf *b, const char *s, size_t n)
{
    reserve(b, n);
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cg_buf_puts(cg_buf *b, const char *s)
{
    cg_buf_put(b, s, strlen(s));
}

void cg_buf_vprintf(cg_buf *b, const char *fmt, va_list ap)
{
    va_list aq;
    int n;
    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0) {
        fprintf(stderr, "%s: formatting failed\n", cg_tool);
        exit(2);
    }
    reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void cg_buf_printf(cg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cg_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void cg_buf_free(cg_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void cg_buf_json_string(cg_buf *b, const char *s)
{
    cg_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            cg_buf_puts(b, "\\\"");
            break;
        case '\\':
            cg_buf_puts(b, "\\\\");
            break;
        case '\n':
            cg_buf_puts(b, "\\n");
            break;
        case '\t':
            cg_buf_puts(b, "\\t");
            break;
        case '\r':
            cg_buf_puts(b, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                cg_buf_printf(b, "\\u%04x", *p);
            else
                cg_buf_put(b, (const char *)p, 1);
        }
    }
    cg_buf_put(b, "\"", 1);
}

void cg_buf_c_string(cg_buf *b, const char *s, size_t width, const char *indent,
                     unsigned flags)
{
    size_t col = 0;
    unsigned char prev = 0;
    cg_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t n;
        /* Split after a space once the literal is |width| long (or, with no
         * space in sight, 20 bytes later), never inside a UTF-8 sequence. */
        if (width && ((col >= width && prev == ' ') || col >= width + 20) &&
            (*p & 0xC0) != 0x80) {
            cg_buf_puts(b, "\"\n");
            cg_buf_puts(b, indent);
            cg_buf_put(b, "\"", 1);
            col = 0;
        }
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else if (*p == '\n') {
            memcpy(esc, "\\n", 2);
            n = 2;
        } else if (*p == '\t') {
            memcpy(esc, "\\t", 2);
            n = 2;
        } else if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && (flags & CG_C_ASCII))) {
            /* Always three octal digits, so a following digit is never absorbed. */
            snprintf(esc, sizeof esc, "\\%03o", *p);
            n = 4;
        } else if (*p == '?' && prev == '?') {
            memcpy(esc, "\\?", 2);
            n = 2;
        } else {
            esc[0] = (char)*p;
            n = 1;
        }
        cg_buf_put(b, esc, n);
        col += n;
        prev = *p;
    }
    cg_buf_put(b, "\"", 1);
}

void cg_buf_c_comment(cg_buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (p[0] == '*' && p[1] == '/')
            cg_buf_puts(b, "* ");
        else if (p[0] == '/' && p[1] == '*')
            cg_buf_puts(b, "/ ");
        else
            cg_buf_put(b, p, 1);
    }
}

/* ---- reading ---- */

char *cg_read_stream(FILE *f, size_t *len)
{
    cg_buf all = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cg_buf_put(&all, chunk, n);
    if (ferror(f)) {
        int e = errno;
        cg_buf_free(&all);
        errno = e;
        return NULL;
    }
    cg_buf_put(&all, "", 0); /* an empty stream still gets its NUL */
    *len = all.len;
    return all.data;
}

/* ---- writing ---- */

static int make_dirs(const char *dir)
{
    char *p = cg_xstrdup(dir);
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                fprintf(stderr, "cannot create %s: %s\n", p, strerror(errno));
                rc = -1;
                goto out;
            }
            *q = c;
            if (c == '\0')
                break;
        }
    }
out:
    free(p);
    return rc;
}

int cg_write_outputs(const char *outdir, size_t n, const char *const *names,
                     cg_buf *const *bufs)
{
    char **tmp = cg_xmalloc(n * sizeof *tmp);
    char **dst = cg_xmalloc(n * sizeof *dst);
    size_t written = 0;
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        cg_buf path = {0};
        cg_buf tpath = {0};
        cg_buf_printf(&path, "%s/%s", outdir, names[i]);
        dst[i] = path.data;
        cg_buf_printf(&tpath, "%s/.%s.tmp", outdir, names[i]);
        tmp[i] = tpath.data;
    }
    if (make_dirs(outdir) != 0)
        goto out;
    for (; written < n; written++) {
        FILE *f = fopen(tmp[written], "wb");
        int bad;
        if (f == NULL) {
            fprintf(stderr, "cannot write %s: %s\n", tmp[written], strerror(errno));
            goto out;
        }
        bad = bufs[written]->len &&
              fwrite(bufs[written]->data, 1, bufs[written]->len, f) != bufs[written]->len;
        if (fclose(f) != 0 || bad) {
            fprintf(stderr, "cannot write %s\n", tmp[written]);
            written++; /* remove this one too */
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (rename(tmp[i], dst[i]) != 0) {
            fprintf(stderr, "cannot rename %s: %s\n", tmp[i], strerror(errno));
            goto out;
        }
    }
    written = 0;
    rc = 0;
out:
    for (size_t i = 0; i < written; i++)
        unlink(tmp[i]);
    for (size_t i = 0; i < n; i++) {
        free(tmp[i]);
        free(dst[i]);
    }
    free(tmp);
    free(dst);
    return rc;
}

/* ---- Markdown ---- */

int cg_md_delimiter_cell(const char *s, size_t n)
{
    size_t a = 0;
    if (n > 0 && s[0] == ':')
        a++;
    if (n > a && s[n - 1] == ':')
        n--;
    if (n <= a)
        return 0;
    for (size_t k = a; k < n; k++) {
        if (s[k] != '-')
            return 0;
    }
    return 1;
}
