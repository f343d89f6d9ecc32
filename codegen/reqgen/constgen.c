/* vt-constgen: collects every constants table of the spec (spec/README.md,
 * "Constants": header row | Constant | Value | Type | Meaning |) so code never
 * copies a number from the prose. Usage: vt-constgen OUTDIR file.md...
 * Writes vt_constants.h and constants.json into OUTDIR. */
#include "mdscan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const header_cells[] = {"Constant", "Value", "Type", "Meaning"};

typedef enum { T_U32, T_U64, T_STRING } const_type;
static const char *const type_names[] = {"u32", "u64", "string"};

typedef struct constant {
    char *name;
    const_type type;
    uint64_t number;
    char *string; /* decoded, T_STRING only */
    char *meaning;
    const char *file;
    unsigned line;
} constant;

typedef struct table_set {
    constant *items;
    size_t count;
} table_set;

/* Drops one pair of surrounding backticks: writers often put `u32` or
 * `"ventra.v1"` in code style, which changes nothing about the value. */
static const char *unquote_code(const char *cell, size_t *len)
{
    size_t n = strlen(cell);
    if (n >= 2 && cell[0] == '`' && cell[n - 1] == '`' && cell[1] != '`') {
        *len = n - 2;
        return cell + 1;
    }
    *len = n;
    return cell;
}

static int valid_name(const char *p, size_t n)
{
    if (n == 0 || !(p[0] >= 'A' && p[0] <= 'Z'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
              p[i] == '_'))
            return 0;
    return p[n - 1] != '_';
}

/* A double-quoted literal with \" and \\ as its only escapes. */
static char *decode_string(const char *p, size_t n)
{
    cg_buf out = {0};
    cg_buf_put(&out, "", 0);
    if (n < 2 || p[0] != '"' || p[n - 1] != '"')
        goto bad;
    for (size_t i = 1; i + 1 < n; i++) {
        if (p[i] == '\\') {
            if (i + 2 < n && (p[i + 1] == '"' || p[i + 1] == '\\')) {
                cg_buf_put(&out, p + i + 1, 1);
                i++;
                continue;
            }
            goto bad;
        }
        if (p[i] == '"')
            goto bad;
        cg_buf_put(&out, p + i, 1);
    }
    return out.data;
bad:
    cg_buf_free(&out);
    return NULL;
}

/* Decimal only: no sign, no 0x, no leading zeros, no separators. */
static int decode_number(const char *p, size_t n, uint64_t max, uint64_t *v)
{
    uint64_t x = 0;
    if (n == 0 || (p[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -2;
        x = x * 10 + d;
    }
    if (x > max)
        return -2;
    *v = x;
    return 0;
}

static void parse_row(table_set *set, const md_doc *doc, const md_block *b, md_diag *d)
{
    char **cells;
    int n = md_split_row(b->text, &cells);
    const char *p;
    size_t len;
    constant c;

    memset(&c, 0, sizeof c);
    if (n != 4) {
        md_error(d, doc->path, b->line, "malformed constants row: %d cells, expected 4",
                 n);
        goto out;
    }
    len = strlen(cells[0]);
    if (len < 3 || cells[0][0] != '`' || cells[0][len - 1] != '`' ||
        !valid_name(cells[0] + 1, len - 2)) {
        md_error(
            d, doc->path, b->line,
            "malformed constants row: name '%s' is not an UPPER_SNAKE name in backticks",
            cells[0]);
        goto out;
    }
    c.name = cg_xstrndup(cells[0] + 1, len - 2);
    p = unquote_code(cells[2], &len);
    if (len == 3 && strncmp(p, "u32", 3) == 0) {
        c.type = T_U32;
    } else if (len == 3 && strncmp(p, "u64", 3) == 0) {
        c.type = T_U64;
    } else if (len == 6 && strncmp(p, "string", 6) == 0) {
        c.type = T_STRING;
    } else {
        md_error(d, doc->path, b->line,
                 "constant %s has unknown type '%s' (u32, u64 or string)", c.name,
                 cells[2]);
        goto out;
    }
    p = unquote_code(cells[1], &len);
    if (c.type == T_STRING) {
        if (len == 0 || p[0] != '"') {
            md_error(d, doc->path, b->line,
                     "constant %s: value '%s' is not a string literal in double quotes",
                     c.name, cells[1]);
            goto out;
        }
        c.string = decode_string(p, len);
        if (c.string == NULL) {
            md_error(d, doc->path, b->line, "constant %s: malformed string literal %s",
                     c.name, cells[1]);
            goto out;
        }
    } else {
        int r =
            decode_number(p, len, c.type == T_U32 ? UINT32_MAX : UINT64_MAX, &c.number);
        if (r == -1) {
            md_error(d, doc->path, b->line,
                     "constant %s: value '%s' is not a decimal integer", c.name,
                     cells[1]);
            goto out;
        }
        if (r == -2) {
            md_error(d, doc->path, b->line,
                     "constant %s: value %s is out of range for %s", c.name, cells[1],
                     type_names[c.type]);
            goto out;
        }
    }
    if (cells[3][0] == '\0') {
        md_error(d, doc->path, b->line, "malformed constants row: %s has no meaning",
                 c.name);
        goto out;
    }
    for (size_t i = 0; i < set->count; i++) {
        if (strcmp(set->items[i].name, c.name) == 0) {
            md_error(d, doc->path, b->line, "constant %s defined twice (first at %s:%u)",
                     c.name, set->items[i].file, set->items[i].line);
            goto out;
        }
    }
    c.meaning = md_collapse(cells[3]);
    c.file = doc->path;
    c.line = b->line;
    set->items = cg_xrealloc(set->items, (set->count + 1) * sizeof *set->items);
    set->items[set->count++] = c;
    memset(&c, 0, sizeof c);
out:
    free(c.name);
    free(c.string);
    md_cells_free(cells, n);
}

/* 1 when |b| is the header of a constants table, 0 when it is some other
 * table, -1 (reported) when it starts like one but is not exact. */
static int is_constants_header(const md_doc *doc, const md_block *b, md_diag *d)
{
    char **cells;
    int n = md_split_row(b->text, &cells);
    int r = 0;
    if (n >= 1 && strcmp(cells[0], header_cells[0]) == 0) {
        r = n == 4;
        for (int i = 1; r && i < 4; i++)
            r = strcmp(cells[i], header_cells[i]) == 0;
        if (!r) {
            md_error(d, doc->path, b->line,
                     "constants table header must be exactly | Constant | Value | Type | "
                     "Meaning |");
            r = -1;
        }
    }
    md_cells_free(cells, n);
    return r;
}

static void collect(table_set *set, const md_doc *doc, md_diag *d)
{
    unsigned table = 0; /* the constants table being read, 0 when none */
    for (size_t i = 0; i < doc->count; i++) {
        const md_block *b = &doc->blocks[i];
        if (b->kind == MD_PARAGRAPH && strncmp(b->text, "| Constant |", 12) == 0) {
            md_error(d, doc->path, b->line,
                     "constants table header is not followed by a delimiter row");
            continue;
        }
        if (b->kind != MD_TABLE_ROW) {
            table = 0;
            continue;
        }
        if (b->row == 0) {
            table = is_constants_header(doc, b, d) == 1 ? b->table : 0;
            continue;
        }
        if (b->table != table || b->row == 1)
            continue; /* another table, or the delimiter row */
        parse_row(set, doc, b, d);
    }
}

/* A string constant S brings VT_S_LEN; a constant named S_LEN would clash. */
static void check_len_clashes(const table_set *set, md_diag *d)
{
    for (size_t i = 0; i < set->count; i++) {
        const constant *s = &set->items[i];
        if (s->type != T_STRING)
            continue;
        for (size_t k = 0; k < set->count; k++) {
            const constant *c = &set->items[k];
            size_t n = strlen(s->name);
            if (strncmp(c->name, s->name, n) == 0 && strcmp(c->name + n, "_LEN") == 0)
                md_error(
                    d, c->file, c->line,
                    "constant %s clashes with VT_%s_LEN of string constant %s (%s:%u)",
                    c->name, s->name, s->name, s->file, s->line);
        }
    }
}

/* A block comment wrapped at about 78 columns. */
static void emit_comment(cg_buf *o, const char *text)
{
    const char *p = text;
    size_t col = 3;
    cg_buf_puts(o, "/*");
    while (*p) {
        size_t w = strcspn(p, " ");
        if (col + 1 + w > 76 && col > 3) {
            cg_buf_puts(o, "\n *");
            col = 2;
        }
        cg_buf_puts(o, " ");
        {
            char *word = cg_xstrndup(p, w);
            cg_buf_c_comment(o, word);
            free(word);
        }
        col += 1 + w;
        p += w;
        while (*p == ' ')
            p++;
    }
    cg_buf_puts(o, " */\n");
}

static void emit_header(cg_buf *o, const table_set *set, const char *banner)
{
    cg_buf_puts(o, "/* ");
    cg_buf_c_comment(o, banner);
    cg_buf_puts(o, " */\n");
    cg_buf_puts(
        o, "/* The constants of spec/ (spec/README.md, \"Constants\"): one #define per\n"
           " * row of every constants table. u32 values carry a u suffix, u64 values\n"
           " * ull; a string constant comes with VT_<NAME>_LEN, its length in bytes\n"
           " * without a terminating NUL. */\n"
           "#ifndef VT_CONSTANTS_H\n#define VT_CONSTANTS_H\n");
    for (size_t i = 0; i < set->count; i++) {
        const constant *c = &set->items[i];
        cg_buf comment = {0};
        cg_buf_printf(&comment, "%s (%s, %s): %s", c->name, type_names[c->type], c->file,
                      c->meaning);
        cg_buf_puts(o, "\n");
        emit_comment(o, comment.data);
        cg_buf_free(&comment);
        switch (c->type) {
        case T_U32:
            cg_buf_printf(o, "#define VT_%s %lluu\n", c->name,
                          (unsigned long long)c->number);
            break;
        case T_U64:
            cg_buf_printf(o, "#define VT_%s %lluull\n", c->name,
                          (unsigned long long)c->number);
            break;
        case T_STRING:
            cg_buf_printf(o, "#define VT_%s ", c->name);
            cg_buf_c_string(o, c->string, 60, "    ", 0);
            cg_buf_printf(o, "\n#define VT_%s_LEN %zuu\n", c->name, strlen(c->string));
            break;
        }
    }
    cg_buf_puts(o, "\n#endif\n");
}

static void emit_json(cg_buf *o, const table_set *set, const char *banner)
{
    cg_buf_puts(o, "{\n  \"generated_by\": ");
    cg_buf_json_string(o, banner);
    cg_buf_puts(o, ",\n  \"constants\": [");
    for (size_t i = 0; i < set->count; i++) {
        const constant *c = &set->items[i];
        cg_buf_puts(o, i ? ",\n    {\"name\": " : "\n    {\"name\": ");
        cg_buf_json_string(o, c->name);
        cg_buf_puts(o, ", \"value\": ");
        if (c->type == T_STRING)
            cg_buf_json_string(o, c->string);
        else
            cg_buf_printf(o, "%llu", (unsigned long long)c->number);
        cg_buf_printf(o, ", \"type\": \"%s\", \"file\": ", type_names[c->type]);
        cg_buf_json_string(o, c->file);
        cg_buf_puts(o, ", \"meaning\": ");
        cg_buf_json_string(o, c->meaning);
        cg_buf_puts(o, "}");
    }
    cg_buf_puts(o, set->count ? "\n  ]\n}\n" : "]\n}\n");
}

int main(int argc, char **argv)
{
    md_diag diag = {0};
    table_set set = {0};
    cg_buf out[2] = {{0}};
    char *banner = NULL;
    int rc = 1;

    cg_tool = "vt-constgen";
    if (argc < 3) {
        fputs("usage: vt-constgen OUTDIR file.md...\n", stderr);
        return 2;
    }
    /* Files in command-line order, tables and rows in file order. */
    for (int f = 2; f < argc; f++) {
        md_doc doc;
        if (md_scan_file(argv[f], &doc, &diag) == 0)
            collect(&set, &doc, &diag);
        md_doc_free(&doc);
    }
    check_len_clashes(&set, &diag);
    if (diag.errors) {
        fprintf(stderr, "vt-constgen: %u error%s, nothing written\n", diag.errors,
                diag.errors == 1 ? "" : "s");
        goto out;
    }
    banner = md_sources_line("vt-constgen", argc - 2, argv + 2);
    emit_header(&out[0], &set, banner);
    emit_json(&out[1], &set, banner);
    {
        static const char *const names[] = {"vt_constants.h", "constants.json"};
        cg_buf *const bufs[] = {&out[0], &out[1]};
        if (cg_write_outputs(argv[1], 2, names, bufs) != 0)
            goto out;
    }
    rc = 0;
out:
    cg_buf_free(&out[0]);
    cg_buf_free(&out[1]);
    free(banner);
    for (size_t i = 0; i < set.count; i++) {
        free(set.items[i].name);
        free(set.items[i].string);
        free(set.items[i].meaning);
    }
    free(set.items);
    return rc;
}
