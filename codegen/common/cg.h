/* Helpers shared by the generators of codegen/ (protoc-gen-ventra, vt-reqgen,
 * vt-constgen, vt-smgen): allocation that ends the process on failure, a
 * growable output buffer with C and JSON escaping, whole-stream reading,
 * all-or-nothing writing of outputs, and one Markdown table rule. */
#ifndef VT_CODEGEN_CG_H
#define VT_CODEGEN_CG_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>

/* The name allocation failures are reported under ("vt-smgen: out of
 * memory"); each generator's main sets it first. */
extern const char *cg_tool;

/* Allocation failure prints "<cg_tool>: out of memory" and exits with 2:
 * these are build tools, not library code, and a half-built output must
 * never be mistaken for a good one. Zero sizes allocate one byte. */
void *cg_xmalloc(size_t n);
void *cg_xcalloc(size_t n); /* zeroed */
void *cg_xrealloc(void *p, size_t n);
char *cg_xstrdup(const char *s);
char *cg_xstrndup(const char *s, size_t n);

/* A growable byte buffer, kept NUL-terminated once anything was appended;
 * |data| is malloc'd and released by cg_buf_free. {0} is an empty buffer. */
typedef struct cg_buf {
    char *data;
    size_t len;
    size_t cap;
} cg_buf;

void cg_buf_put(cg_buf *b, const char *s, size_t n);
void cg_buf_puts(cg_buf *b, const char *s);
void cg_buf_printf(cg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cg_buf_vprintf(cg_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void cg_buf_free(cg_buf *b);

/* Appends |s| as a JSON string literal (quotes included). */
void cg_buf_json_string(cg_buf *b, const char *s);

/* cg_buf_c_string flag: octal-escape bytes >= 0x80 too, so the literal is
 * plain ASCII (otherwise UTF-8 is copied as is). */
#define CG_C_ASCII 1u

/* Appends |s| as one or more adjacent C string literals (quotes included).
 * With |width| > 0 a literal is split after a space once it holds |width|
 * source characters (at most |width| + 20 without a space), never inside a
 * UTF-8 sequence, the second and later ones on their own line after
 * |indent|; |width| 0 never splits. Escapes quotes, backslashes, control
 * bytes and '?' after '?' (trigraphs are live in strict C17). */
void cg_buf_c_string(cg_buf *b, const char *s, size_t width, const char *indent,
                     unsigned flags);

/* Appends |s| for use inside a C block comment: "*" "/" becomes "* /" and
 * "/" "*" becomes "/ *", so the text can neither close the comment nor
 * open a nested one (-Wcomment). */
void cg_buf_c_comment(cg_buf *b, const char *s);

/* Reads |f| to its end into a malloc'd buffer with a NUL after the last
 * byte (the data may hold NULs of its own); *len gets the byte count.
 * Returns NULL on a read error, with errno as the failed read left it. */
char *cg_read_stream(FILE *f, size_t *len);

/* Writes every (name, buffer) pair into |outdir| (created if missing):
 * each file goes to a temporary name first and is renamed into place, so a
 * failure leaves no half-written output. Returns 0 or -1 (message on stderr). */
int cg_write_outputs(const char *outdir, size_t n, const char *const *names,
                     cg_buf *const *bufs);

/* True when the (already trimmed) cell [s, s + n) is a Markdown table
 * delimiter cell: dashes with an optional ':' at either end ("---", ":-:"). */
int cg_md_delimiter_cell(const char *s, size_t n);

#endif
