/* Markdown block scanner shared by vt-reqgen and vt-constgen: splits a spec
 * file into paragraphs, list items, table rows and headings, skipping code
 * blocks and req:ignore regions (spec/README.md, "Requirement IDs").
 * Also the small output helpers both generators need (growable buffer,
 * JSON and C string escaping, all-or-nothing file writing). */
#ifndef VT_CODEGEN_MDSCAN_H
#define VT_CODEGEN_MDSCAN_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { MD_PARAGRAPH, MD_LIST_ITEM, MD_TABLE_ROW, MD_HEADING } md_kind;

/* One block. |text| has the list marker (items) or the leading '#'s
 * (headings) removed; rows keep their pipes. Lines of a block are joined
 * with '\n', each line stripped of its indentation. */
typedef struct md_block {
    md_kind kind;
    unsigned line;  /* 1-based line the block starts on */
    unsigned table; /* rows only: 1-based table number within the file */
    unsigned row;   /* rows only: 0-based row number within its table */
    unsigned level; /* headings only: 1..6 */
    char *text;
} md_block;

typedef struct md_doc {
    const char *path; /* as given on the command line, not owned */
    md_block *blocks;
    size_t count;
} md_doc;

/* Diagnostics: every error is printed as "file:line: message" on stderr and
 * counted; a generator writes nothing when the count is not zero. */
typedef struct md_diag {
    unsigned errors;
} md_diag;

void md_error(md_diag *d, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads and scans |path|. Scanner errors (an unterminated or unmatched
 * req:ignore region, an unreadable file) go to |d|. Returns 0 on success,
 * -1 when the file could not be scanned; |doc| is then empty but may still
 * be passed to md_doc_free. */
int md_scan_file(const char *path, md_doc *doc, md_diag *d);
void md_doc_free(md_doc *doc);

/* Table rows: splits |row| into trimmed cells (the outer pipes dropped).
 * A '|' inside a backtick code span or escaped as "\|" does not split.
 * Returns the number of cells, or -1 on allocation failure; the caller frees
 * each cell and the array with md_cells_free. */
int md_split_row(const char *row, char ***cells);
void md_cells_free(char **cells, int n);

/* True when |row| is a table delimiter row such as |---|:--:|. */
int md_is_delimiter_row(const char *row);

/* Collapses every run of whitespace to one space and trims both ends. */
char *md_collapse(const char *s);

/* A growable byte buffer. Allocation failure aborts the generator: these are
 * build tools, and a half-written output must never be mistaken for a good
 * one. */
typedef struct md_buf {
    char *data;
    size_t len;
    size_t cap;
} md_buf;

void md_buf_put(md_buf *b, const char *s, size_t n);
void md_buf_puts(md_buf *b, const char *s);
void md_buf_printf(md_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void md_buf_free(md_buf *b);

/* Appends |s| as a JSON string literal (quotes included). */
void md_buf_json_string(md_buf *b, const char *s);
/* Appends |s| as one or more adjacent C string literals, each split after a
 * space once it holds |width| source characters (at most |width| + 20
 * without a space), the second and later ones on their own line after
 * |indent|. Escapes quotes, backslashes, control bytes and '?'
 * (trigraphs are live in strict C17). */
void md_buf_c_string(md_buf *b, const char *s, size_t width, const char *indent);
/* Appends |s| for use inside a C block comment ("* /" for a closing "*\/"). */
void md_buf_c_comment_text(md_buf *b, const char *s);

/* The "from a b c" list of sources for the first line of an output. */
char *md_sources_line(const char *tool, int nfiles, char **files);

/* Writes every (name, buffer) pair into |outdir| (created if missing):
 * each file goes to a temporary name first and is renamed into place, so a
 * failure leaves no half-written output. Returns 0 or -1 (message on stderr). */
int md_write_outputs(const char *outdir, size_t n, const char *const *names,
                     md_buf *const *bufs);

void *md_xmalloc(size_t n);
void *md_xrealloc(void *p, size_t n);
char *md_xstrdup(const char *s);
char *md_xstrndup(const char *s, size_t n);

#endif
