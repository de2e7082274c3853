/*
 * engine/base/log.h: one key=value line per event on stderr.
 *
 *   edm_log(EDM_LOG_INFO, "smtp", "session=%u state=%s", id, name);
 * prints
 *   ts=2026-11-27T13:06:01.123Z level=info mod=smtp session=7 state=EHLO
 * Values with spaces must be quoted by the caller (edm_log_quote helps).
 * Credentials and AUTH payloads never go to the log. Thread-safe.
 */
#ifndef EDM_LOG_H
#define EDM_LOG_H

#include <stddef.h>

enum edm_log_level { EDM_LOG_DEBUG, EDM_LOG_INFO, EDM_LOG_WARN, EDM_LOG_ERROR, EDM_LOG_OFF };

void edm_log_set_level(enum edm_log_level level);
enum edm_log_level edm_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int edm_log_level_parse(const char *name);
const char *edm_log_level_name(enum edm_log_level level);

void edm_log(enum edm_log_level level, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies s into out (size n) as a quoted log value: "..." with \" \\ and
 * control characters escaped, truncated to fit. Returns out. */
const char *edm_log_quote(char *out, size_t n, const char *s);

#define EDM_DEBUG(mod, ...)                                                                        \
    do {                                                                                           \
        if (edm_log_get_level() <= EDM_LOG_DEBUG)                                                  \
            edm_log(EDM_LOG_DEBUG, mod, __VA_ARGS__);                                              \
    } while (0)

#endif
