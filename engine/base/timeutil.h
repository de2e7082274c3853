/*
 * engine/base/timeutil.h: wall-clock and monotonic time, RFC 3339 (API, store)
 * and RFC 5322 (Date: header) formatting and parsing. All in UTC.
 *
 * The clock can be moved forward for tests (edm_time_advance_ms): every
 * reader of time in the engine goes through the three clocks below, so a
 * retry schedule, an expiry past retry.max_age, a backoff pause or a rate
 * limit measured in seconds to hours passes in a test in milliseconds. The
 * offset is 0 unless a test sets it (one relaxed atomic load per reading).
 * libuv timers are not moved: a timer armed for 60 s still fires after
 * 60 real seconds, so tests advance the clock and then give the code an
 * event (a submit, a scheduler hook) that makes it look at the time.
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

/* Tests only: moves all three clocks forward by ms (cumulative; negative
 * moves back). edm_time_reset_offset() returns to the real clocks. */
void edm_time_advance_ms(int64_t ms);
void edm_time_reset_offset(void);

/* "2026-11-27T13:06:01Z" into out (at least 21 bytes). Returns out. */
char *edm_time_rfc3339(int64_t unix_s, char *out, size_t n);
/* Parses RFC 3339 ("2026-11-27T13:06:01Z", "...T13:06:01.5+01:00") into unix
 * seconds. Returns 0 or EDM_EINVAL. */
int edm_time_parse_rfc3339(const char *s, int64_t *unix_s);
/* "Fri, 27 Nov 2026 13:06:01 +0000" into out (at least 32 bytes). */
char *edm_time_rfc5322(int64_t unix_s, char *out, size_t n);

#endif
