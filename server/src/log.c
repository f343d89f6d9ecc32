/* ventrad's logfmt logger (see log.h). Writes whole lines with one
 * write(2) so lines from a crash-restart test harness never interleave. */
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static vtd_log_level min_level = VTD_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void vtd_log_set_level(vtd_log_level level)
{
    min_level = level;
}

int vtd_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

const char *vtd_log_quote(char *out, unsigned cap, const char *s)
{
    bool bare = *s != '\0';
    for (const char *p = s; *p && bare; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20)
            bare = false;
    unsigned n = 0;
    if (!bare && n + 1 < cap)
        out[n++] = '"';
    for (const char *p = s; *p && n + 3 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!bare && (ch == '"' || ch == '\\'))
            out[n++] = '\\';
        out[n++] = ch < 0x20 ? '?' : (char)ch;
    }
    if (!bare && n + 1 < cap)
        out[n++] = '"';
    out[n < cap ? n : cap - 1] = '\0';
    return out;
}

void vtd_log(vtd_log_level level, const char *msg, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    char quoted[512];
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level],
                     vtd_log_quote(quoted, sizeof quoted, msg));
    if (fmt && n > 0 && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m < (int)(sizeof line - (size_t)n - 1)
                     ? m
                     : (int)(sizeof line - (size_t)n - 2);
    }
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
