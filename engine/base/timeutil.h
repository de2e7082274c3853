/*
 * engine/base/timeutil.h: wall-clock and monotonic time, RFC 3339 (API, store)
 * and RFC 5322 (Date: header) formatting and parsing. All in UTC.
 */
#ifndef EDM_TIMEUTIL_H
#define EDM_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Unix time in milliseconds (wall clock). */
int64_t edm_time_now_ms(void);
/* Unix time in seconds (wall clock). */
int64_t edm_time_now(void);
/* Monotonic milliseconds, for durations and timers. */
uint64_t edm_time_mono_ms(void);

/* "2026-11-27T13:06:01Z" into out (at least 21 bytes). Returns out. */
char *edm_time_rfc3339(int64_t unix_s, char *out, size_t n);
/* Parses RFC 3339 ("2026-11-27T13:06:01Z", "...T13:06:01.5+01:00") into unix
 * seconds. Returns 0 or EDM_EINVAL. */
int edm_time_parse_rfc3339(const char *s, int64_t *unix_s);
/* "Fri, 27 Nov 2026 13:06:01 +0000" into out (at least 32 bytes). */
char *edm_time_rfc5322(int64_t unix_s, char *out, size_t n);

#endif
