/* Markdown block scanner shared by vt-reqgen and vt-constgen: splits a spec
 * file into paragraphs, list items, table rows and headings, skipping code
 * blocks and req:ignore regions (spec/README.md, "Requirement IDs").
 * The buffer, escaping and output writing they use live in codegen/common
 * (cg.h), shared with the other generators. */
#ifndef VT_CODEGEN_MDSCAN_H
#define VT_CODEGEN_MDSCAN_H

#include <stdarg.h>
#include <stddef.h>

#include "cg.h"

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

/* Code spans: the length of the run of backticks at |p|, and where the
 * code span that run opens closes (the first byte after the closing run of
 * the same length), or NULL when it never closes. */
size_t md_backtick_run(const char *p);
const char *md_code_span_end(const char *p);

/* Collapses every run of whitespace to one space and trims both ends. */
char *md_collapse(const char *s);

/* The "from a b c" list of sources for the first line of an output. */
char *md_sources_line(const char *tool, int nfiles, char **files);

#endif
