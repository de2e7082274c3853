/*
 * engine/base/log.c: the key=value logger (see log.h). One fprintf per line,
 * so lines from different threads never interleave.
 */
#include "engine/base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static atomic_int log_level = EDM_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void edm_log_set_level(enum edm_log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum edm_log_level edm_log_get_level(void)
{
    return (enum edm_log_level)atomic_load(&log_level);
}

int edm_log_level_parse(const char *name)
{
    for (int i = 0; i <= EDM_LOG_OFF; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

const char *edm_log_level_name(enum edm_log_level level)
{
    return (unsigned)level <= EDM_LOG_OFF ? level_names[level] : "?";
}

void edm_log(enum edm_log_level level, const char *mod, const char *fmt, ...)
{
    if ((int)level < atomic_load(&log_level) || level >= EDM_LOG_OFF)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s mod=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), level_names[level], mod);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    line[len] = '\0';
    fputs(line, stderr);
}

const char *edm_log_quote(char *out, size_t n, const char *s)
{
    size_t o = 0;
    if (n < 3) {
        if (n)
            out[0] = '\0';
        return out;
    }
    out[o++] = '"';
    for (; s && *s && o + 5 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
