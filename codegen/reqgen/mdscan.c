/* Markdown block scanner shared by vt-reqgen and vt-constgen. It follows
 * CommonMark only as far as spec/README.md needs ("Requirement IDs",
 * "Constants"): paragraphs, list items with continuation lines, table rows,
 * headings; fenced and indented code, HTML comments and the regions between
 * <!-- req:ignore-start --> and <!-- req:ignore-end --> are skipped. */
#include "mdscan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LIST_DEPTH 32

void *md_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fputs("out of memory\n", stderr);
        exit(2);
    }
    return p;
}

void *md_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fputs("out of memory\n", stderr);
        exit(2);
    }
    return q;
}

char *md_xstrndup(const char *s, size_t n)
{
    char *p = md_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *md_xstrdup(const char *s)
{
    return md_xstrndup(s, strlen(s));
}

void md_error(md_diag *d, const char *file, unsigned line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%u: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    d->errors++;
}

/* ---- buffers and escaping ---- */

void md_buf_put(md_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = md_xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void md_buf_puts(md_buf *b, const char *s)
{
    md_buf_put(b, s, strlen(s));
}

void md_buf_printf(md_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_list aq;
    int n;
    va_start(ap, fmt);
    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("formatting failed\n", stderr);
        exit(2);
    }
    md_buf_put(b, "", 0); /* make sure data exists */
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = b->len + (size_t)n + 256;
        b->data = md_xrealloc(b->data, b->cap);
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, aq);
    va_end(aq);
    b->len += (size_t)n;
}

void md_buf_free(md_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void md_buf_json_string(md_buf *b, const char *s)
{
    md_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            md_buf_puts(b, "\\\"");
            break;
        case '\\':
            md_buf_puts(b, "\\\\");
            break;
        case '\n':
            md_buf_puts(b, "\\n");
            break;
        case '\t':
            md_buf_puts(b, "\\t");
            break;
        case '\r':
            md_buf_puts(b, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                md_buf_printf(b, "\\u%04x", *p);
            else
                md_buf_put(b, (const char *)p, 1);
        }
    }
    md_buf_put(b, "\"", 1);
}

void md_buf_c_string(md_buf *b, const char *s, size_t width, const char *indent)
{
    size_t col = 0;
    unsigned char prev = 0;
    md_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t n;
        /* Split after a space once the literal is |width| long (or, with no
         * space in sight, 20 bytes later), never inside a UTF-8 sequence. */
        if (((col >= width && prev == ' ') || col >= width + 20) && (*p & 0xC0) != 0x80) {
            md_buf_puts(b, "\"\n");
            md_buf_puts(b, indent);
            md_buf_put(b, "\"", 1);
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
        } else if (*p < 0x20 || *p == 0x7f) {
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
        md_buf_put(b, esc, n);
        col += n;
        prev = *p;
    }
    md_buf_put(b, "\"", 1);
}

void md_buf_c_comment_text(md_buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (p[0] == '*' && p[1] == '/')
            md_buf_puts(b, "* ");
        else if (p[0] == '/' && p[1] == '*')
            md_buf_puts(b, "/ ");
        else
            md_buf_put(b, p, 1);
    }
}

char *md_sources_line(const char *tool, int nfiles, char **files)
{
    md_buf b = {0};
    md_buf_printf(&b, "Generated by %s from", tool);
    for (int i = 0; i < nfiles; i++)
        md_buf_printf(&b, " %s", files[i]);
    md_buf_puts(&b, ". Do not edit.");
    return b.data;
}

/* ---- writing ---- */

static int make_dirs(const char *dir)
{
    char *p = md_xstrdup(dir);
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

int md_write_outputs(const char *outdir, size_t n, const char *const *names,
                     md_buf *const *bufs)
{
    char **tmp = md_xmalloc(n * sizeof *tmp);
    char **dst = md_xmalloc(n * sizeof *dst);
    size_t written = 0;
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        md_buf path = {0};
        md_buf_printf(&path, "%s/%s", outdir, names[i]);
        dst[i] = path.data;
        md_buf tpath = {0};
        md_buf_printf(&tpath, "%s/.%s.tmp", outdir, names[i]);
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

/* ---- inline helpers ---- */

char *md_collapse(const char *s)
{
    md_buf b = {0};
    int space = 0;
    md_buf_put(&b, "", 0);
    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            space = 1;
            continue;
        }
        if (space && b.len)
            md_buf_put(&b, " ", 1);
        space = 0;
        md_buf_put(&b, p, 1);
    }
    return b.data;
}

static size_t backtick_run(const char *p)
{
    size_t n = 0;
    while (p[n] == '`')
        n++;
    return n;
}

/* Where the code span opened by |n| backticks at |p| closes (the first
 * byte after the closing run), or NULL when it never closes. */
static const char *code_span_end(const char *p, size_t n)
{
    const char *q = p + n;
    while (*q) {
        if (*q == '`') {
            size_t m = backtick_run(q);
            if (m == n)
                return q + m;
            q += m;
        } else {
            q++;
        }
    }
    return NULL;
}

static char *trim_dup(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return md_xstrndup(s, n);
}

int md_split_row(const char *row, char ***cells)
{
    char **out = NULL;
    int n = 0;
    md_buf cur = {0};
    const char *p = row;
    md_buf_put(&cur, "", 0);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '|')
        p++;
    for (;;) {
        if (*p == '\0' || *p == '|') {
            out = md_xrealloc(out, (size_t)(n + 1) * sizeof *out);
            out[n++] = trim_dup(cur.data, cur.len);
            cur.len = 0;
            cur.data[0] = '\0';
            if (*p == '\0')
                break;
            p++;
            continue;
        }
        if (*p == '\\' && p[1] == '|') {
            md_buf_put(&cur, "|", 1);
            p += 2;
            continue;
        }
        if (*p == '`') {
            size_t k = backtick_run(p);
            const char *end = code_span_end(p, k);
            if (end != NULL) {
                /* GFM: "\|" stands for '|' even inside a code span in a cell. */
                for (; p < end; p++) {
                    if (*p == '\\' && p[1] == '|')
                        p++;
                    md_buf_put(&cur, p, 1);
                }
            } else {
                md_buf_put(&cur, p, k);
                p += k;
            }
            continue;
        }
        md_buf_put(&cur, p, 1);
        p++;
    }
    md_buf_free(&cur);
    /* "| a | b |": the piece after the closing pipe is empty; drop it. */
    if (n > 1 && out[n - 1][0] == '\0') {
        size_t len = strlen(row);
        while (len && (row[len - 1] == ' ' || row[len - 1] == '\t'))
            len--;
        if (len && row[len - 1] == '|' && (len < 2 || row[len - 2] != '\\')) {
            free(out[n - 1]);
            n--;
        }
    }
    *cells = out;
    return n;
}

void md_cells_free(char **cells, int n)
{
    for (int i = 0; i < n; i++)
        free(cells[i]);
    free(cells);
}

int md_is_delimiter_row(const char *row)
{
    char **cells;
    int n = md_split_row(row, &cells);
    int ok = n > 0;
    for (int i = 0; ok && i < n; i++) {
        const char *c = cells[i];
        size_t len = strlen(c);
        size_t dashes = 0;
        if (len && c[0] == ':') {
            c++;
            len--;
        }
        if (len && c[len - 1] == ':')
            len--;
        while (dashes < len && c[dashes] == '-')
            dashes++;
        ok = dashes > 0 && dashes == len;
    }
    md_cells_free(cells, n);
    return ok;
}

/* ---- the block scanner ---- */

typedef enum { M_NORMAL, M_FENCE, M_INDENTED_CODE, M_COMMENT, M_IGNORE } scan_mode;

typedef struct list_level {
    unsigned content_indent;
    size_t block; /* the item's block index */
} list_level;

typedef struct scanner {
    md_doc *doc;
    md_diag *diag;
    scan_mode mode;
    char fence_char;
    size_t fence_len;
    unsigned mode_line; /* where the fence / comment / ignore region opened */
    unsigned code_base;
    long open; /* index of the paragraph or item that takes lazy lines, or -1 */
    list_level stack[MAX_LIST_DEPTH];
    unsigned depth;
    int blank_before;
    int in_table;
    unsigned tables;
    unsigned rows;
} scanner;

static unsigned indent_of(const char *line, const char **rest)
{
    unsigned col = 0;
    const char *p = line;
    for (; *p == ' ' || *p == '\t'; p++)
        col = *p == '\t' ? (col / 4 + 1) * 4 : col + 1;
    *rest = p;
    return col;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t')
            return 0;
    return 1;
}

static size_t add_block(scanner *s, md_kind kind, unsigned line, const char *text,
                        size_t len)
{
    md_doc *d = s->doc;
    md_block *b;
    d->blocks = md_xrealloc(d->blocks, (d->count + 1) * sizeof *d->blocks);
    b = &d->blocks[d->count];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->line = line;
    b->text = trim_dup(text, len);
    return d->count++;
}

/* Appends a line to |block|, padding with empty lines so that line k of the
 * block text is always source line block->line + k (diagnostics point at
 * the exact line even across blank lines inside a list item). */
static void append_line(scanner *s, size_t block, const char *text, unsigned lineno)
{
    md_block *b = &s->doc->blocks[block];
    char *t = trim_dup(text, strlen(text));
    size_t old = strlen(b->text);
    unsigned have = 1;
    unsigned pad;
    for (const char *q = b->text; *q; q++)
        have += *q == '\n';
    pad = lineno > b->line + have ? lineno - b->line - have : 0;
    b->text = md_xrealloc(b->text, old + pad + strlen(t) + 2);
    memset(b->text + old, '\n', pad + 1);
    strcpy(b->text + old + pad + 1, t);
    free(t);
}

/* Thematic break: three or more of one of - * _, spaces allowed between. */
static int is_thematic_break(const char *p)
{
    char c = 0;
    int n = 0;
    for (; *p; p++) {
        if (*p == ' ' || *p == '\t')
            continue;
        if (*p != '-' && *p != '*' && *p != '_')
            return 0;
        if (c && *p != c)
            return 0;
        c = *p;
        n++;
    }
    return n >= 3;
}

static int is_setext_underline(const char *p, unsigned *level)
{
    char c = *p;
    if (c != '=' && c != '-')
        return 0;
    while (*p == c)
        p++;
    if (!is_blank(p))
        return 0;
    *level = c == '=' ? 1 : 2;
    return 1;
}

/* A list marker at |p|: returns its length including the spaces after it
 * (0 when there is none) and sets *ordinal (-1 for bullets) and *width
 * (marker plus spaces counted as content indent). */
static size_t list_marker(const char *p, long *ordinal, unsigned *width)
{
    size_t m = 0;
    size_t sp = 0;
    if (*p == '-' || *p == '*' || *p == '+') {
        m = 1;
        *ordinal = -1;
    } else if (*p >= '0' && *p <= '9') {
        long v = 0;
        while (m < 9 && p[m] >= '0' && p[m] <= '9')
            v = v * 10 + (p[m++] - '0');
        if (p[m] != '.' && p[m] != ')')
            return 0;
        m++;
        *ordinal = v;
    } else {
        return 0;
    }
    if (p[m] != ' ' && p[m] != '\t' && p[m] != '\0')
        return 0;
    while (p[m + sp] == ' ' || p[m + sp] == '\t')
        sp++;
    /* Five or more spaces: the item starts with indented code; the content
     * indent is then the marker plus one space (CommonMark). */
    *width = (unsigned)(m + (sp >= 1 && sp <= 4 ? sp : 1));
    return m + (sp <= 4 ? sp : 1);
}

static size_t fence_open(const char *p, char *c)
{
    size_t n = 0;
    if (*p != '`' && *p != '~')
        return 0;
    while (p[n] == *p)
        n++;
    if (n < 3)
        return 0;
    if (*p == '`' && strchr(p + n, '`') != NULL)
        return 0;
    *c = *p;
    return n;
}

static void close_open(scanner *s)
{
    s->open = -1;
}

typedef enum { D_NONE, D_IGNORE_START, D_IGNORE_END, D_UNKNOWN } directive;

/* A line that is only an HTML comment "<!-- req:... -->" (spaces inside the
 * comment are free) is a directive to the generators. */
static directive directive_of(const char *p)
{
    const char *end;
    const char *b;
    size_t n;
    if (strncmp(p, "<!--", 4) != 0 || (end = strstr(p + 4, "-->")) == NULL ||
        !is_blank(end + 3))
        return D_NONE;
    b = p + 4;
    while (b < end && (*b == ' ' || *b == '\t'))
        b++;
    n = (size_t)(end - b);
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    if (n < 4 || strncmp(b, "req:", 4) != 0)
        return D_NONE;
    if (n == 16 && strncmp(b, "req:ignore-start", 16) == 0)
        return D_IGNORE_START;
    if (n == 14 && strncmp(b, "req:ignore-end", 14) == 0)
        return D_IGNORE_END;
    return D_UNKNOWN;
}

/* A line starting with '|' is a table row only inside a table or right
 * above a delimiter row (GFM), so prose wrapped before "|| x" stays prose. */
static int starts_row(const scanner *s, const char *p, const char *next)
{
    const char *q;
    if (*p != '|')
        return 0;
    if (s->in_table)
        return 1;
    if (next == NULL)
        return 0;
    (void)indent_of(next, &q);
    return *q == '|' && md_is_delimiter_row(q);
}

static void scan_line(scanner *s, const char *line, const char *next, unsigned lineno)
{
    const char *p;
    unsigned indent = indent_of(line, &p);
    unsigned base = 0;
    unsigned rel;
    char fc;
    size_t fl;
    long ordinal;
    unsigned width;
    size_t ml;
    unsigned hl;

    switch (s->mode) {
    case M_IGNORE:
        if (directive_of(p) == D_IGNORE_END)
            s->mode = M_NORMAL;
        else if (directive_of(p) == D_IGNORE_START)
            md_error(s->diag, s->doc->path, lineno,
                     "req:ignore-start inside the region opened on line %u",
                     s->mode_line);
        return;
    case M_FENCE: {
        size_t n = 0;
        while (p[n] == s->fence_char)
            n++;
        if (n >= s->fence_len && is_blank(p + n))
            s->mode = M_NORMAL;
        return;
    }
    case M_COMMENT:
        if (strstr(p, "-->") != NULL)
            s->mode = M_NORMAL;
        return;
    case M_INDENTED_CODE:
        if (is_blank(p) || indent >= s->code_base + 4)
            return;
        s->mode = M_NORMAL;
        break;
    case M_NORMAL:
        break;
    }

    if (is_blank(p)) {
        close_open(s);
        s->blank_before = 1;
        s->in_table = 0;
        return;
    }

    /* Which list item, if any, this line may belong to. After a blank line
     * a line indented less than an item's content leaves that item. */
    if (s->blank_before || s->open < 0) {
        while (s->depth && indent < s->stack[s->depth - 1].content_indent)
            s->depth--;
    }
    if (s->depth && indent >= s->stack[s->depth - 1].content_indent)
        base = s->stack[s->depth - 1].content_indent;
    rel = indent - base;

    if (rel < 4) {
        switch (directive_of(p)) {
        case D_IGNORE_START:
            close_open(s);
            s->in_table = 0;
            s->mode = M_IGNORE;
            s->mode_line = lineno;
            goto done;
        case D_IGNORE_END:
            md_error(s->diag, s->doc->path, lineno,
                     "req:ignore-end without req:ignore-start");
            goto done;
        case D_UNKNOWN:
            md_error(s->diag, s->doc->path, lineno,
                     "unknown directive (req:ignore-start and req:ignore-end are known)");
            goto done;
        case D_NONE:
            break;
        }
        if (strncmp(p, "<!--", 4) == 0) {
            close_open(s);
            s->in_table = 0;
            if (strstr(p + 4, "-->") == NULL) {
                s->mode = M_COMMENT;
                s->mode_line = lineno;
            }
            goto done;
        }
        if ((fl = fence_open(p, &fc)) != 0) {
            close_open(s);
            s->in_table = 0;
            s->mode = M_FENCE;
            s->fence_char = fc;
            s->fence_len = fl;
            s->mode_line = lineno;
            goto done;
        }
        if (*p == '#') {
            size_t h = 0;
            while (p[h] == '#')
                h++;
            if (h <= 6 && (p[h] == ' ' || p[h] == '\t' || p[h] == '\0')) {
                const char *t = p + h;
                size_t len = strlen(t);
                size_t b;
                /* An optional closing run of '#'s is not part of the text. */
                while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
                    len--;
                while (len && t[len - 1] == '#')
                    len--;
                close_open(s);
                s->in_table = 0;
                s->depth = 0;
                b = add_block(s, MD_HEADING, lineno, t, len);
                s->doc->blocks[b].level = (unsigned)h;
                goto done;
            }
        }
        if (s->open >= 0 && s->doc->blocks[s->open].kind == MD_PARAGRAPH &&
            is_setext_underline(p, &hl)) {
            s->doc->blocks[s->open].kind = MD_HEADING;
            s->doc->blocks[s->open].level = hl;
            close_open(s);
            s->depth = 0;
            goto done;
        }
        if (is_thematic_break(p)) {
            close_open(s);
            s->in_table = 0;
            s->depth = 0;
            goto done;
        }
        if (starts_row(s, p, next)) {
            size_t b;
            close_open(s);
            if (!s->in_table) {
                s->tables++;
                s->rows = 0;
            }
            b = add_block(s, MD_TABLE_ROW, lineno, p, strlen(p));
            s->doc->blocks[b].table = s->tables;
            s->doc->blocks[b].row = s->rows++;
            s->in_table = 1;
            goto done;
        }
        ml = list_marker(p, &ordinal, &width);
        /* Inside a paragraph only a bullet or "1." starts a list (CommonMark),
         * so a wrapped line that happens to begin "2013." stays text. */
        if (ml && !(s->open >= 0 && s->doc->blocks[s->open].kind == MD_PARAGRAPH &&
                    ordinal > 1)) {
            size_t b;
            close_open(s);
            s->in_table = 0;
            while (s->depth && s->stack[s->depth - 1].content_indent > indent)
                s->depth--;
            b = add_block(s, MD_LIST_ITEM, lineno, p + ml, strlen(p + ml));
            if (s->depth < MAX_LIST_DEPTH) {
                s->stack[s->depth].content_indent = indent + width;
                s->stack[s->depth].block = b;
                s->depth++;
            }
            s->open = (long)b;
            goto done;
        }
    } else if (s->open < 0) {
        s->in_table = 0;
        s->mode = M_INDENTED_CODE;
        s->code_base = base;
        goto done;
    }

    s->in_table = 0;
    if (s->open >= 0) {
        append_line(s, (size_t)s->open, p, lineno);
    } else if (s->blank_before && s->depth && base) {
        /* A later paragraph of the same list item belongs to that item. */
        s->open = (long)s->stack[s->depth - 1].block;
        append_line(s, (size_t)s->open, p, lineno);
    } else {
        s->open = (long)add_block(s, MD_PARAGRAPH, lineno, p, strlen(p));
    }
done:
    s->blank_before = 0;
}

int md_scan_file(const char *path, md_doc *doc, md_diag *d)
{
    FILE *f;
    md_buf all = {0};
    char chunk[8192];
    size_t n;
    scanner s;
    unsigned lineno = 0;
    char **lines = NULL;
    size_t nlines = 0;
    unsigned before = d->errors;
    int rc = -1;

    memset(doc, 0, sizeof *doc);
    doc->path = path;
    f = fopen(path, "rb");
    if (f == NULL) {
        md_error(d, path, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        md_buf_put(&all, chunk, n);
    if (ferror(f)) {
        md_error(d, path, 0, "read error");
        fclose(f);
        goto out;
    }
    fclose(f);
    md_buf_put(&all, "", 0);
    if (memchr(all.data, '\0', all.len) != NULL) {
        md_error(d, path, 0, "file contains a NUL byte");
        goto out;
    }

    memset(&s, 0, sizeof s);
    s.doc = doc;
    s.diag = d;
    s.open = -1;
    s.blank_before = 1;
    /* Split into lines first: a table row needs to see the line after it. */
    for (char *line = all.data; *line != '\0';) {
        char *nl = strchr(line, '\n');
        lines = md_xrealloc(lines, (nlines + 1) * sizeof *lines);
        lines[nlines++] = line;
        if (nl == NULL)
            break;
        *nl = '\0';
        if (nl > line && nl[-1] == '\r')
            nl[-1] = '\0';
        line = nl + 1;
    }
    for (size_t i = 0; i < nlines; i++) {
        lineno = (unsigned)i + 1;
        scan_line(&s, lines[i], i + 1 < nlines ? lines[i + 1] : NULL, lineno);
    }
    switch (s.mode) {
    case M_IGNORE:
        md_error(d, path, s.mode_line, "req:ignore-start without req:ignore-end");
        break;
    case M_FENCE:
        md_error(d, path, s.mode_line, "code fence never closed");
        break;
    case M_COMMENT:
        md_error(d, path, s.mode_line, "HTML comment never closed");
        break;
    default:
        break;
    }
    rc = d->errors == before ? 0 : -1;
out:
    free(lines);
    md_buf_free(&all);
    return rc;
}

void md_doc_free(md_doc *doc)
{
    for (size_t i = 0; i < doc->count; i++)
        free(doc->blocks[i].text);
    free(doc->blocks);
    doc->blocks = NULL;
    doc->count = 0;
}
