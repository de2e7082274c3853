/*
 * engine/delivery/shaper.h: rate shaping primitives. Token buckets (per source IP
 * per hour, per domain per minute, per campaign per hour), rolling
 * counters (sent in the last hour / day), and domain backoff (pause a
 * destination after a reply that matches the config's backoff.on prefixes).
 *
 * All times are monotonic milliseconds passed in by the caller, so the
 * logic is deterministic and testable without sleeping.
 */
#ifndef EDM_SHAPER_H
#define EDM_SHAPER_H

#include <stddef.h>
#include <stdint.h>

/* A token bucket: `rate` tokens per `period_ms`, holding at most `burst`.
 * rate 0 means unlimited. */
typedef struct edm_bucket {
    double tokens;
    double per_ms;
    double burst;
    uint64_t last_ms;
} edm_bucket;

void edm_bucket_init(edm_bucket *b, double rate, uint64_t period_ms, double burst, uint64_t now);
/* Takes one token: 0 if taken, else the milliseconds until one is there. */
uint64_t edm_bucket_take(edm_bucket *b, uint64_t now);
/* Milliseconds until a token is there (0 = now), without taking it. */
uint64_t edm_bucket_wait(edm_bucket *b, uint64_t now);
int edm_bucket_unlimited(const edm_bucket *b);
/* Changes the rate (tokens already there stay, up to the burst). */
void edm_bucket_set_rate(edm_bucket *b, double rate, uint64_t period_ms, uint64_t now);

/* Events in a sliding window of `slots` slots of slot_ms each (60 x 1 min
 * for the last hour). */
#define EDM_WINDOW_SLOTS 60
typedef struct edm_window {
    uint64_t slot_ms;
    uint64_t slot_start[EDM_WINDOW_SLOTS];
    uint32_t count[EDM_WINDOW_SLOTS];
} edm_window;

void edm_window_init(edm_window *w, uint64_t span_ms);
void edm_window_add(edm_window *w, uint64_t now, uint32_t n);
/* Events within the span before now. */
uint64_t edm_window_sum(const edm_window *w, uint64_t now);

/* The window's counts still within the span before now as text
 * "slot_start:count,..." into out (n bytes; 60 slots fit in 1600). */
void edm_window_format(const edm_window *w, uint64_t now, char *out, size_t n);
/* Adds the counts of such a text (what edm_window_format wrote, with the
 * same span) back into w; malformed pairs are skipped. */
void edm_window_parse(edm_window *w, const char *text);

/* Does a reply (code "421", enhanced "4.7.0", text) match one of the
 * backoff prefixes ("421", "4.7.", "5.7.1")? */
int edm_backoff_matches(char *const *prefixes, size_t n, int code, const char *enhanced);

#endif
