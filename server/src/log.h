/* ventrad's structured log: one logfmt line per event on stderr
 * (`ts=... level=... msg=... key=value ...`), filtered by level. The
 * metadata rules of spec/security.md apply: never log message contents,
 * keys, tokens or nonces. */
#ifndef VTD_LOG_H
#define VTD_LOG_H

#include <stdarg.h>

typedef enum { VTD_LOG_DEBUG, VTD_LOG_INFO, VTD_LOG_WARN, VTD_LOG_ERROR } vtd_log_level;

/* Sets the lowest level that is written (default VTD_LOG_INFO). */
void vtd_log_set_level(vtd_log_level level);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int vtd_log_level_parse(const char *s);

/* Writes one line: ts, level, msg=|msg| (quoted when needed), then the
 * pairs of |fmt|, which is printf-style text already in `key=value` form,
 * e.g. vtd_log(VTD_LOG_INFO, "listening", "addr=%s tls=%s", a, t).
 * |fmt| may be NULL. */
void vtd_log(vtd_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Quotes |s| for a logfmt value into |out| (|cap| bytes): bare when it has
 * no space, quote, '=' or control character, else in double quotes with
 * \" and \\ escapes; control characters become '?'. Returns |out|. */
const char *vtd_log_quote(char *out, unsigned cap, const char *s);

#endif
