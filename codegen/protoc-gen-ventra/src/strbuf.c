/* protoc-gen-ventra: the arena and the name conversions (protobuf-c's and
 * nanopb's C naming rules, so generated code can name the codecs' types,
 * descriptors and members); the output buffer is codegen/common's cg_buf. */
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

void *pgv_alloc(size_t n)
{
    arena_block *b = cg_xcalloc(sizeof(*b) + n + 1);
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

char *pgv_printf(const char *fmt, ...)
{
    cg_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    cg_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *s = pgv_buf_str(&b);
    cg_buf_free(&b);
    return s;
}

char *pgv_buf_str(const cg_buf *b)
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
static void pbc_camel_to_lower(cg_buf *b, const char *s, size_t n, bool upper)
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
        cg_buf_puts(b, tmp);
        was_upper = is_upper;
    }
}

static char *pbc_join(const char *full, int mode)
{
    cg_buf b = {0};
    const char *p = full;
    bool first = true;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n > 0) {
            if (!first) {
                cg_buf_puts(&b, "__");
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
                    cg_buf_puts(&b, tmp);
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
    char *s = pgv_buf_str(&b);
    cg_buf_free(&b);
    return s;
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
    cg_buf b = {0};
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
                cg_buf_puts(&b, " ");
            }
            cg_buf_put(&b, p, (size_t)(last - p));
        }
        p = end;
    }
    char *s = pgv_buf_str(&b);
    cg_buf_free(&b);
    return s;
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
