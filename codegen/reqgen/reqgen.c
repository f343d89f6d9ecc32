/* vt-reqgen: builds the requirement registry of the spec (spec/README.md,
 * "Requirement IDs") and refuses a spec whose MUSTs and SHOULDs stand outside
 * numbered requirements, or whose IDs repeat, are withdrawn or misprefixed.
 * Usage: vt-reqgen OUTDIR file.md...  Writes requirements.md,
 * requirements.json, vt_requirements.h and vt_requirements.c into OUTDIR. */
#include "mdscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { LEVEL_NONE = -1, LEVEL_MUST, LEVEL_SHOULD, LEVEL_MAY } req_level;

static const char *const level_names[] = {"MUST", "SHOULD", "MAY"};
static const char *const level_enums[] = {"VT_REQ_MUST", "VT_REQ_SHOULD", "VT_REQ_MAY"};

typedef struct req {
    char *id;
    char *prefix;
    unsigned long number;
    size_t prefix_rank; /* where the prefix first appears on the command line */
    req_level level;
    const char *file;
    unsigned line;
    char *text;
} req;

typedef struct withdrawn {
    char *id;
    const char *file;
    unsigned line;
} withdrawn;

typedef struct registry {
    req *reqs;
    size_t count;
    withdrawn *gone;
    size_t ngone;
    char **prefixes; /* distinct prefixes in command-line order */
    size_t nprefixes;
} registry;

/* ---- words ---- */

static int is_word_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/* Skips the code span starting at |p| (a run of backticks); returns the
 * first byte after it, or p + run length when the span never closes. */
static const char *skip_code_span(const char *p)
{
    const char *end = md_code_span_end(p);
    return end != NULL ? end : p + md_backtick_run(p);
}

/* Key words count only as all-caps whole words outside code spans: a
 * `MUST` in backticks talks about the word rather than using it. */
typedef struct keyword_hit {
    req_level level;    /* strongest key word found */
    const char *strong; /* first MUST/SHALL/REQUIRED/SHOULD/RECOMMENDED, or NULL */
    const char *where;  /* its position in the text */
} keyword_hit;

static void find_keywords(const char *text, keyword_hit *hit)
{
    static const struct {
        const char *word;
        req_level level;
        int strong;
    } words[] = {
        {"MUST", LEVEL_MUST, 1},          {"SHALL", LEVEL_MUST, 1},
        {"REQUIRED", LEVEL_MUST, 1},      {"SHOULD", LEVEL_SHOULD, 1},
        {"RECOMMENDED", LEVEL_SHOULD, 1}, {"MAY", LEVEL_MAY, 0},
        {"OPTIONAL", LEVEL_MAY, 0},
    };
    const char *p = text;
    hit->level = LEVEL_NONE;
    hit->strong = NULL;
    hit->where = NULL;
    while (*p) {
        if (*p == '`') {
            p = skip_code_span(p);
            continue;
        }
        if (!is_word_char(*p)) {
            p++;
            continue;
        }
        const char *start = p;
        while (is_word_char(*p))
            p++;
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
            size_t n = strlen(words[i].word);
            if ((size_t)(p - start) != n || strncmp(start, words[i].word, n) != 0)
                continue;
            if (hit->level == LEVEL_NONE || words[i].level < hit->level)
                hit->level = words[i].level;
            if (words[i].strong && hit->strong == NULL) {
                hit->strong = words[i].word;
                hit->where = start;
            }
        }
    }
}

static unsigned line_of(const char *text, const char *pos, unsigned first)
{
    unsigned line = first;
    for (const char *q = text; q < pos; q++)
        line += *q == '\n';
    return line;
}

/* Parses "**ID**" at |p|. On success returns the length of the bold ID and
 * sets prefix and number strings (pointers into p). Leading zeros are
 * refused so that WIRE-7 and WIRE-07 cannot both exist. */
static size_t parse_bold_id(const char *p, size_t *prefix_len, size_t *digits,
                            int *leading_zero)
{
    size_t i = 2;
    size_t d;
    if (strncmp(p, "**", 2) != 0 || !(p[2] >= 'A' && p[2] <= 'Z'))
        return 0;
    while ((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9'))
        i++;
    if (p[i] != '-')
        return 0;
    *prefix_len = i - 2;
    i++;
    d = i;
    while (p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == d || strncmp(p + i, "**", 2) != 0)
        return 0;
    *digits = i - d;
    *leading_zero = p[d] == '0' && i - d > 1;
    return i + 2;
}

/* Where a block's own text starts: after "|" and the first cell's leading
 * whitespace for a row (list markers are already gone). */
static const char *block_start(const md_block *b)
{
    const char *p = b->text;
    if (b->kind == MD_TABLE_ROW) {
        if (*p == '|')
            p++;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    return p;
}

/* The text of a requirement, bold ID removed and whitespace collapsed. A
 * row's cells are joined with " | "; the ID's cell goes when it is empty. */
static char *requirement_text(const md_block *b, size_t idlen)
{
    cg_buf out = {0};
    char *r;
    cg_buf_put(&out, "", 0);
    if (b->kind == MD_TABLE_ROW) {
        char **cells;
        int n = md_split_row(b->text, &cells);
        int first = 1;
        for (int i = 0; i < n; i++) {
            const char *c = cells[i];
            if (i == 0) {
                c += idlen;
                while (*c == ' ' || *c == '\t')
                    c++;
                if (*c == '\0')
                    continue;
            }
            if (!first)
                cg_buf_puts(&out, " | ");
            cg_buf_puts(&out, c);
            first = 0;
        }
        md_cells_free(cells, n);
    } else {
        cg_buf_puts(&out, b->text + idlen);
    }
    r = md_collapse(out.data);
    cg_buf_free(&out);
    return r;
}

/* ---- per-file passes ---- */

static int valid_prefix(const char *p, size_t n)
{
    if (n == 0 || !(p[0] >= 'A' && p[0] <= 'Z'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')))
            return 0;
    return 1;
}

/* "Requirement prefix: WIRE" (the name may be in backticks). Returns the
 * prefix or NULL; complains at most once per file about extra ones. */
static char *file_prefix(const md_doc *doc, md_diag *d)
{
    static const char tag[] = "Requirement prefix:";
    char *prefix = NULL;
    unsigned where = 0;
    for (size_t i = 0; i < doc->count; i++) {
        const md_block *b = &doc->blocks[i];
        const char *p = b->text;
        size_t n;
        if (b->kind != MD_PARAGRAPH || strncmp(p, tag, sizeof tag - 1) != 0)
            continue;
        p += sizeof tag - 1;
        while (*p == ' ' || *p == '\t')
            p++;
        n = strcspn(p, "\n");
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n >= 2 && p[0] == '`' && p[n - 1] == '`') {
            p++;
            n -= 2;
        }
        if (!valid_prefix(p, n)) {
            md_error(d, doc->path, b->line, "malformed requirement prefix '%.*s'", (int)n,
                     p);
            continue;
        }
        if (prefix != NULL) {
            md_error(d, doc->path, b->line,
                     "second 'Requirement prefix:' line (first on line %u)", where);
            continue;
        }
        prefix = cg_xstrndup(p, n);
        where = b->line;
    }
    if (prefix == NULL)
        md_error(d, doc->path, 1, "no 'Requirement prefix: NAME' line");
    return prefix;
}

/* Items "- WIRE-7: reason" under a "Withdrawn requirement IDs" heading. */
static void collect_withdrawn(registry *r, const md_doc *doc, md_diag *d)
{
    unsigned section = 0; /* heading level of the open section, 0 when none */
    for (size_t i = 0; i < doc->count; i++) {
        const md_block *b = &doc->blocks[i];
        if (b->kind == MD_HEADING) {
            if (section && b->level <= section)
                section = 0;
            if (strcmp(b->text, "Withdrawn requirement IDs") == 0)
                section = b->level;
            continue;
        }
        if (!section || b->kind != MD_LIST_ITEM)
            continue;
        const char *p = b->text;
        const char *q;
        size_t pl = 0;
        int wrap = 0;
        if (*p == '`')
            wrap = 1;
        else if (strncmp(p, "**", 2) == 0)
            wrap = 2;
        p += wrap;
        q = p;
        while ((*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9'))
            q++;
        pl = (size_t)(q - p);
        if (!valid_prefix(p, pl) || *q != '-' || !(q[1] >= '1' && q[1] <= '9')) {
            md_error(d, doc->path, b->line,
                     "withdrawn entry is not '- PREFIX-N: reason'");
            continue;
        }
        q++;
        while (*q >= '0' && *q <= '9')
            q++;
        const char *end = q;
        if ((wrap == 1 && *q != '`') || (wrap == 2 && strncmp(q, "**", 2) != 0)) {
            md_error(d, doc->path, b->line,
                     "withdrawn entry is not '- PREFIX-N: reason'");
            continue;
        }
        q += wrap;
        if (*q != ':') {
            md_error(d, doc->path, b->line,
                     "withdrawn entry is not '- PREFIX-N: reason'");
            continue;
        }
        r->gone = cg_xrealloc(r->gone, (r->ngone + 1) * sizeof *r->gone);
        r->gone[r->ngone].id = cg_xstrndup(p, (size_t)(end - p));
        r->gone[r->ngone].file = doc->path;
        r->gone[r->ngone].line = b->line;
        r->ngone++;
    }
}

static size_t prefix_rank(registry *r, const char *prefix)
{
    for (size_t i = 0; i < r->nprefixes; i++)
        if (strcmp(r->prefixes[i], prefix) == 0)
            return i;
    r->prefixes = cg_xrealloc(r->prefixes, (r->nprefixes + 1) * sizeof *r->prefixes);
    r->prefixes[r->nprefixes] = cg_xstrdup(prefix);
    return r->nprefixes++;
}

static void collect_requirements(registry *r, const md_doc *doc, const char *prefix,
                                 md_diag *d)
{
    for (size_t i = 0; i < doc->count; i++) {
        const md_block *b = &doc->blocks[i];
        const char *start = block_start(b);
        size_t pl = 0;
        size_t digits = 0;
        int zero = 0;
        size_t idlen =
            b->kind == MD_HEADING ? 0 : parse_bold_id(start, &pl, &digits, &zero);
        keyword_hit hit;

        if (idlen == 0) {
            find_keywords(b->text, &hit);
            if (hit.strong != NULL)
                md_error(d, doc->path, line_of(b->text, hit.where, b->line),
                         "%s outside a numbered requirement", hit.strong);
            continue;
        }

        char *id = cg_xstrndup(start + 2, idlen - 4);
        int ok = 1;
        if (zero) {
            md_error(d, doc->path, b->line, "requirement ID %s has a leading zero", id);
            ok = 0;
        }
        /* Nine digits keep numbers exact and the sort order total. */
        if (digits > 9) {
            md_error(d, doc->path, b->line, "requirement ID %s has more than 9 digits",
                     id);
            ok = 0;
        }
        if (prefix != NULL && (strlen(prefix) != pl || strncmp(id, prefix, pl) != 0)) {
            md_error(d, doc->path, b->line,
                     "requirement ID %s does not carry this file's prefix %s", id,
                     prefix);
            ok = 0;
        }
        for (size_t k = 0; k < r->ngone; k++) {
            if (strcmp(r->gone[k].id, id) == 0) {
                md_error(d, doc->path, b->line, "requirement ID %s is withdrawn (%s:%u)",
                         id, r->gone[k].file, r->gone[k].line);
                ok = 0;
            }
        }
        for (size_t k = 0; k < r->count; k++) {
            if (strcmp(r->reqs[k].id, id) == 0) {
                md_error(d, doc->path, b->line,
                         "duplicate requirement ID %s (first at %s:%u)", id,
                         r->reqs[k].file, r->reqs[k].line);
                ok = 0;
                break;
            }
        }
        char *text = requirement_text(b, idlen);
        find_keywords(text, &hit);
        if (hit.level == LEVEL_NONE) {
            md_error(d, doc->path, b->line,
                     "requirement %s has no key word (MUST, SHOULD, MAY, ...)", id);
            ok = 0;
        }
        if (!ok) {
            free(id);
            free(text);
            continue;
        }
        r->reqs = cg_xrealloc(r->reqs, (r->count + 1) * sizeof *r->reqs);
        req *q = &r->reqs[r->count++];
        q->id = id;
        q->prefix = cg_xstrndup(id, pl);
        q->number = strtoul(id + pl + 1, NULL, 10);
        q->prefix_rank = prefix_rank(r, q->prefix);
        q->level = hit.level;
        q->file = doc->path;
        q->line = b->line;
        q->text = text;
    }
}

static int compare_reqs(const void *a, const void *b)
{
    const req *x = a;
    const req *y = b;
    if (x->prefix_rank != y->prefix_rank)
        return x->prefix_rank < y->prefix_rank ? -1 : 1;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    return 0;
}

/* ---- outputs ---- */

/* The first sentence of |text| with emphasis markers removed, ready for a
 * Markdown table cell. A sentence ends at . ! or ? before a space or the
 * end, outside code spans; "e.g." and "i.e." do not end one. */
static char *summary_of(const char *text)
{
    cg_buf out = {0};
    const char *p = text;
    cg_buf_put(&out, "", 0);
    while (*p) {
        if (*p == '`') {
            const char *e = skip_code_span(p);
            for (const char *c = p; c < e; c++) {
                if (*c == '|')
                    cg_buf_put(&out, "\\", 1);
                cg_buf_put(&out, c, 1);
            }
            p = e;
            continue;
        }
        if (*p == '*') {
            p++;
            continue;
        }
        if (*p == '_' && (p == text || !is_word_char(p[-1]) || !is_word_char(p[1]))) {
            p++;
            continue;
        }
        if (*p == '|') {
            cg_buf_puts(&out, "\\|");
            p++;
            continue;
        }
        cg_buf_put(&out, p, 1);
        if ((*p == '.' || *p == '!' || *p == '?') && (p[1] == ' ' || p[1] == '\0')) {
            int abbrev = out.len >= 4 && (strcmp(out.data + out.len - 4, "e.g.") == 0 ||
                                          strcmp(out.data + out.len - 4, "i.e.") == 0);
            if (!abbrev)
                break;
        }
        p++;
    }
    return out.data;
}

static void emit_markdown(cg_buf *o, const registry *r, const char *banner, int nfiles,
                          char **files)
{
    size_t total[3] = {0, 0, 0};
    cg_buf_printf(o, "<!-- %s -->\n", banner);
    cg_buf_puts(o, "# Requirement index\n\n");
    cg_buf_puts(o, "Every numbered requirement of the specification (spec/README.md,\n"
                   "\"Requirement IDs\"), sorted by prefix and number.\n\n");
    for (size_t i = 0; i < r->count; i++)
        total[r->reqs[i].level]++;
    cg_buf_printf(o, "%zu requirements: %zu MUST, %zu SHOULD, %zu MAY.\n\n", r->count,
                  total[0], total[1], total[2]);
    cg_buf_puts(o, "## Per file\n\n| File | Requirements | MUST | SHOULD | MAY |\n"
                   "|---|---:|---:|---:|---:|\n");
    for (int f = 0; f < nfiles; f++) {
        size_t c[3] = {0, 0, 0};
        for (size_t i = 0; i < r->count; i++)
            if (strcmp(r->reqs[i].file, files[f]) == 0)
                c[r->reqs[i].level]++;
        cg_buf_printf(o, "| %s | %zu | %zu | %zu | %zu |\n", files[f], c[0] + c[1] + c[2],
                      c[0], c[1], c[2]);
    }
    cg_buf_printf(o, "| **total** | %zu | %zu | %zu | %zu |\n\n", r->count, total[0],
                  total[1], total[2]);
    cg_buf_puts(o, "## Per level\n\n| Level | Requirements |\n|---|---:|\n");
    for (int l = 0; l < 3; l++)
        cg_buf_printf(o, "| %s | %zu |\n", level_names[l], total[l]);
    cg_buf_puts(
        o, "\n## Requirements\n\n| ID | Level | File | Summary |\n|---|---|---|---|\n");
    for (size_t i = 0; i < r->count; i++) {
        char *s = summary_of(r->reqs[i].text);
        cg_buf_printf(o, "| %s | %s | %s | %s |\n", r->reqs[i].id,
                      level_names[r->reqs[i].level], r->reqs[i].file, s);
        free(s);
    }
}

static void emit_json(cg_buf *o, const registry *r, const char *banner)
{
    cg_buf_puts(o, "{\n  \"generated_by\": ");
    cg_buf_json_string(o, banner);
    cg_buf_puts(o, ",\n  \"requirements\": [");
    for (size_t i = 0; i < r->count; i++) {
        const req *q = &r->reqs[i];
        cg_buf_puts(o, i ? ",\n    {\"id\": " : "\n    {\"id\": ");
        cg_buf_json_string(o, q->id);
        cg_buf_printf(o, ", \"level\": \"%s\", \"file\": ", level_names[q->level]);
        cg_buf_json_string(o, q->file);
        cg_buf_printf(o, ", \"line\": %u, \"text\": ", q->line);
        cg_buf_json_string(o, q->text);
        cg_buf_puts(o, "}");
    }
    cg_buf_puts(o, r->count ? "\n  ]\n}\n" : "]\n}\n");
}

static void emit_header(cg_buf *o, const char *banner)
{
    cg_buf_puts(o, "/* ");
    cg_buf_c_comment(o, banner);
    cg_buf_puts(o, " */\n");
    cg_buf_puts(
        o,
        "/* The requirement registry of spec/ (spec/README.md, \"Requirement IDs\"):\n"
        " * every numbered requirement, its level and where it is defined. The\n"
        " * conformance suite's coverage report matches test names against it. */\n"
        "#ifndef VT_REQUIREMENTS_H\n"
        "#define VT_REQUIREMENTS_H\n"
        "\n"
        "#include <stddef.h>\n"
        "\n"
        "/* The strongest key word of a requirement (MUST also covers MUST NOT,\n"
        " * SHALL, SHALL NOT and REQUIRED; SHOULD covers SHOULD NOT and\n"
        " * RECOMMENDED; MAY covers OPTIONAL). */\n"
        "typedef enum { VT_REQ_MUST, VT_REQ_SHOULD, VT_REQ_MAY } vt_req_level;\n"
        "\n"
        "typedef struct vt_requirement {\n"
        "  const char *id;      /* \"WIRE-20\" */\n"
        "  vt_req_level level;\n"
        "  const char *file;    /* spec file, as given to the generator */\n"
        "  unsigned line;       /* 1-based line where the requirement starts */\n"
        "  const char *text;    /* full text, bold ID removed, whitespace collapsed */\n"
        "} vt_requirement;\n"
        "\n"
        "/* Sorted by prefix (in the order the spec files were given) and number.\n"
        " * vt_requirements[vt_requirement_count] is an end marker whose fields\n"
        " * are all NULL / 0. */\n"
        "extern const vt_requirement vt_requirements[];\n"
        "extern const size_t vt_requirement_count;\n"
        "\n"
        "/* The requirement whose ID is |id| (\"DELIV-20\"), or NULL when there is\n"
        " * none or |id| is NULL. */\n"
        "const vt_requirement *vt_requirement_find(const char *id);\n"
        "\n"
        "#endif\n");
}

static void emit_source(cg_buf *o, const registry *r, const char *banner)
{
    cg_buf_puts(o, "/* ");
    cg_buf_c_comment(o, banner);
    cg_buf_puts(o, " */\n");
    cg_buf_puts(o, "/* The requirement registry of spec/; see vt_requirements.h. */\n"
                   "#include \"vt_requirements.h\"\n\n#include <string.h>\n\n"
                   "const vt_requirement vt_requirements[] = {\n");
    for (size_t i = 0; i < r->count; i++) {
        const req *q = &r->reqs[i];
        cg_buf_puts(o, "    {");
        cg_buf_c_string(o, q->id, 70, "     ", 0);
        cg_buf_printf(o, ", %s, ", level_enums[q->level]);
        cg_buf_c_string(o, q->file, 70, "     ", 0);
        cg_buf_printf(o, ", %uu,\n     ", q->line);
        cg_buf_c_string(o, q->text, 70, "     ", 0);
        cg_buf_puts(o, "},\n");
    }
    cg_buf_puts(o,
                "    {NULL, VT_REQ_MUST, NULL, 0u, NULL}, /* end marker, not counted */\n"
                "};\n\n");
    cg_buf_printf(o, "const size_t vt_requirement_count = %zu;\n\n", r->count);
    cg_buf_puts(o, "const vt_requirement *vt_requirement_find(const char *id) {\n"
                   "  if (id == NULL)\n"
                   "    return NULL;\n"
                   "  for (size_t i = 0; i < vt_requirement_count; i++)\n"
                   "    if (strcmp(vt_requirements[i].id, id) == 0)\n"
                   "      return &vt_requirements[i];\n"
                   "  return NULL;\n"
                   "}\n");
}

int main(int argc, char **argv)
{
    md_diag diag = {0};
    registry reg;
    md_doc *docs = NULL;
    char **prefixes = NULL;
    int nfiles = argc - 2;
    int rc = 1;
    cg_buf out[4] = {{0}};
    char *banner = NULL;

    cg_tool = "vt-reqgen";
    memset(&reg, 0, sizeof reg);
    if (argc < 3) {
        fputs("usage: vt-reqgen OUTDIR file.md...\n", stderr);
        return 2;
    }
    docs = cg_xmalloc((size_t)nfiles * sizeof *docs);
    prefixes = cg_xmalloc((size_t)nfiles * sizeof *prefixes);
    for (int f = 0; f < nfiles; f++) {
        md_scan_file(argv[f + 2], &docs[f], &diag);
        prefixes[f] = NULL;
    }
    /* Withdrawn IDs first: the list sits at the end of README.md and applies
     * to every file. Prefix ranks follow the command line. */
    for (int f = 0; f < nfiles; f++)
        collect_withdrawn(&reg, &docs[f], &diag);
    for (int f = 0; f < nfiles; f++) {
        prefixes[f] = file_prefix(&docs[f], &diag);
        if (prefixes[f] != NULL)
            (void)prefix_rank(&reg, prefixes[f]);
    }
    for (int f = 0; f < nfiles; f++)
        collect_requirements(&reg, &docs[f], prefixes[f], &diag);
    if (diag.errors) {
        fprintf(stderr, "vt-reqgen: %u error%s, nothing written\n", diag.errors,
                diag.errors == 1 ? "" : "s");
        goto out;
    }
    if (reg.count)
        qsort(reg.reqs, reg.count, sizeof *reg.reqs, compare_reqs);

    banner = md_sources_line("vt-reqgen", nfiles, argv + 2);
    emit_markdown(&out[0], &reg, banner, nfiles, argv + 2);
    emit_json(&out[1], &reg, banner);
    emit_header(&out[2], banner);
    emit_source(&out[3], &reg, banner);
    {
        static const char *const names[] = {"requirements.md", "requirements.json",
                                            "vt_requirements.h", "vt_requirements.c"};
        cg_buf *const bufs[] = {&out[0], &out[1], &out[2], &out[3]};
        if (cg_write_outputs(argv[1], 4, names, bufs) != 0)
            goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < 4; i++)
        cg_buf_free(&out[i]);
    free(banner);
    for (int f = 0; f < nfiles; f++) {
        md_doc_free(&docs[f]);
        free(prefixes[f]);
    }
    free(docs);
    free(prefixes);
    for (size_t i = 0; i < reg.count; i++) {
        free(reg.reqs[i].id);
        free(reg.reqs[i].prefix);
        free(reg.reqs[i].text);
    }
    free(reg.reqs);
    for (size_t i = 0; i < reg.ngone; i++)
        free(reg.gone[i].id);
    free(reg.gone);
    for (size_t i = 0; i < reg.nprefixes; i++)
        free(reg.prefixes[i]);
    free(reg.prefixes);
    return rc;
}
