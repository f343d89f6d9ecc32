/* protoc-gen-ventra: the arena, the output buffer and the name conversions
 * (protobuf-c's and nanopb's C naming rules, so generated code can name the
 * codecs' types, descriptors and members). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgv.h"

typedef struct arena_block {
    struct arena_block *next;
    max_align_t data[];
} arena_block;

static arena_block *arena;

static void out_of_memory(void)
{
    fputs("protoc-gen-ventra: out of memory\n", stderr);
    exit(1);
}

void *pgv_alloc(size_t n)
{
    arena_block *b = calloc(1, sizeof(*b) + n + 1);
    if (b == NULL) {
        out_of_memory();
    }
    b->next = arena;
    arena = b;
    return b->data;
}

void pgv_arena_free(void)
{
    while (arena != NULL) {
        arena_block *next = arena->next;
        free(arena);
        arena = next;
    }
}

char *pgv_strndup(const char *s, size_t n)
{
    char *d = pgv_alloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *pgv_strdup(const char *s)
{
    return pgv_strndup(s, strlen(s));
}

static char *vprintf_arena(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        out_of_memory();
    }
    char *s = pgv_alloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *pgv_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vprintf_arena(fmt, ap);
    va_end(ap);
    return s;
}

static void buf_reserve(pgv_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1) {
        cap *= 2;
    }
    /* The old block stays in the arena; generated files are small. */
    char *d = pgv_alloc(cap);
    if (b->len) {
        memcpy(d, b->data, b->len);
    }
    b->data = d;
    b->cap = cap;
}

void pgv_buf_puts(pgv_buf *b, const char *s)
{
    size_t n = strlen(s);
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void pgv_buf_printf(pgv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vprintf_arena(fmt, ap);
    va_end(ap);
    pgv_buf_puts(b, s);
}

void pgv_buf_c_string(pgv_buf *b, const char *s)
{
    char tmp[8];
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            tmp[2] = '\0';
        } else if (*p == '?' && p[1] == '?') {
            /* No trigraphs: ISO C17 still translates "??x". */
            strcpy(tmp, "?\\");
        } else if (*p < 0x20 || *p >= 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\%03o", *p);
        } else {
            tmp[0] = (char)*p;
            tmp[1] = '\0';
        }
        pgv_buf_puts(b, tmp);
    }
}

void pgv_buf_c_comment(pgv_buf *b, const char *s)
{
    char tmp[2] = {0, 0};
    for (const char *p = s; *p; p++) {
        tmp[0] = *p;
        pgv_buf_puts(b, tmp);
        if (p[0] == '*' && p[1] == '/') {
            pgv_buf_puts(b, " ");
        }
    }
}

char *pgv_buf_str(const pgv_buf *b)
{
    return pgv_strndup(b->len ? b->data : "", b->len);
}

/* CamelCase to snake_case, splitting before an upper-case letter that
 * follows a lower-case letter or digit, or that starts a new word after an
 * acronym ("HTTPServer" -> "http_server"). */
char *pgv_snake(const char *camel)
{
    size_t n = strlen(camel);
    char *out = pgv_alloc(2 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)camel[i];
        if (isupper(c) && i > 0) {
            unsigned char prev = (unsigned char)camel[i - 1];
            unsigned char next = (unsigned char)camel[i + 1];
            if (islower(prev) || isdigit(prev) || (isupper(prev) && islower(next))) {
                out[o++] = '_';
            }
        }
        out[o++] = (char)tolower(c);
    }
    out[o] = '\0';
    return out;
}

char *pgv_upper(const char *s)
{
    char *out = pgv_strdup(s);
    for (char *p = out; *p; p++) {
        *p = (char)toupper((unsigned char)*p);
    }
    return out;
}

/* protobuf-c's CamelToLower: an underscore before an upper-case letter that
 * follows a non-upper-case one, then lower case. */
static void pbc_camel_to_lower(pgv_buf *b, const char *s, size_t n, bool upper)
{
    bool was_upper = true;
    char tmp[3];
    for (size_t i = 0; i < n; i++) {
        bool is_upper = isupper((unsigned char)s[i]) != 0;
        size_t t = 0;
        if (is_upper && !was_upper) {
            tmp[t++] = '_';
        }
        int c = (unsigned char)s[i];
        tmp[t++] = (char)(upper ? toupper(c) : tolower(c));
        tmp[t] = '\0';
        pgv_buf_puts(b, tmp);
        was_upper = is_upper;
    }
}

static char *pbc_join(const char *full, int mode)
{
    pgv_buf b = {0};
    const char *p = full;
    bool first = true;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n > 0) {
            if (!first) {
                pgv_buf_puts(&b, "__");
            }
            first = false;
            if (mode == 0) {
                /* protobuf-c's ToCamel: capitalise, drop '_' and capitalise
                 * the letter after it. */
                bool cap = true;
                char tmp[2] = {0, 0};
                for (size_t i = 0; i < n; i++) {
                    if (p[i] == '_') {
                        cap = true;
                        continue;
                    }
                    tmp[0] = cap ? (char)toupper((unsigned char)p[i]) : p[i];
                    cap = false;
                    pgv_buf_puts(&b, tmp);
                }
            } else {
                pbc_camel_to_lower(&b, p, n, mode == 2);
            }
        }
        p += n;
        if (*p == '.') {
            p++;
        }
    }
    return pgv_buf_str(&b);
}

char *pgv_pbc_type(const char *full)
{
    return pbc_join(full, 0);
}

char *pgv_pbc_lower(const char *full)
{
    return pbc_join(full, 1);
}

char *pgv_pbc_upper(const char *full)
{
    return pbc_join(full, 2);
}

/* protobuf-c appends '_' to member names that are C or C++ keywords (the
 * list of its c_helpers.cc). */
static const char *const keywords[] = {
    "and",
    "and_eq",
    "asm",
    "auto",
    "bitand",
    "bitor",
    "bool",
    "break",
    "case",
    "catch",
    "char",
    "class",
    "compl",
    "const",
    "const_cast",
    "continue",
    "default",
    "delete",
    "do",
    "double",
    "dynamic_cast",
    "else",
    "enum",
    "explicit",
    "extern",
    "false",
    "float",
    "for",
    "friend",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "mutable",
    "namespace",
    "new",
    "not",
    "not_eq",
    "operator",
    "or",
    "or_eq",
    "private",
    "protected",
    "public",
    "register",
    "reinterpret_cast",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "static_cast",
    "struct",
    "switch",
    "template",
    "this",
    "throw",
    "true",
    "try",
    "typedef",
    "typeid",
    "typename",
    "union",
    "unsigned",
    "using",
    "virtual",
    "void",
    "volatile",
    "wchar_t",
    "while",
    "xor",
    "xor_eq",
};

char *pgv_pbc_member(const char *field)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (strcmp(field, keywords[i]) == 0) {
            return pgv_printf("%s_", field);
        }
    }
    return pgv_strdup(field);
}

char *pgv_nanopb_type(const char *full)
{
    char *out = pgv_strdup(full);
    for (char *p = out; *p; p++) {
        if (*p == '.') {
            *p = '_';
        }
    }
    return out;
}

char *pgv_comment_line(const char *comment)
{
    pgv_buf b = {0};
    const char *p = comment ? comment : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            p++;
        }
        const char *end = p;
        while (*end && *end != '\n') {
            end++;
        }
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t' || last[-1] == '\r')) {
            last--;
        }
        if (last > p) {
            if (b.len) {
                pgv_buf_puts(&b, " ");
            }
            pgv_buf_puts(&b, pgv_strndup(p, (size_t)(last - p)));
        }
        p = end;
    }
    return pgv_buf_str(&b);
}

char *pgv_first_sentence(const char *line)
{
    for (const char *p = line; *p; p++) {
        if (*p == '.' && (p[1] == '\0' || p[1] == ' ')) {
            return pgv_strndup(line, (size_t)(p - line) + 1);
        }
    }
    return pgv_strdup(line);
}
