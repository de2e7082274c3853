/*
 * engine/delivery/shaper.c: token buckets, sliding windows and backoff matching
 * (see shaper.h). Pure functions of the caller's clock.
 */
#include "engine/delivery/shaper.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void edm_bucket_init(edm_bucket *b, double rate, uint64_t period_ms, double burst, uint64_t now)
{
    b->per_ms = rate > 0 && period_ms > 0 ? rate / (double)period_ms : 0;
    b->burst = burst < 1 ? 1 : burst;
    b->tokens = b->burst;
    b->last_ms = now;
}

int edm_bucket_unlimited(const edm_bucket *b)
{
    return b->per_ms <= 0;
}

static void refill(edm_bucket *b, uint64_t now)
{
    if (now > b->last_ms) {
        b->tokens += (double)(now - b->last_ms) * b->per_ms;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
    }
    b->last_ms = now > b->last_ms ? now : b->last_ms;
}

void edm_bucket_set_rate(edm_bucket *b, double rate, uint64_t period_ms, uint64_t now)
{
    refill(b, now);
    b->per_ms = rate > 0 && period_ms > 0 ? rate / (double)period_ms : 0;
}

uint64_t edm_bucket_wait(edm_bucket *b, uint64_t now)
{
    if (edm_bucket_unlimited(b))
        return 0;
    refill(b, now);
    if (b->tokens >= 1)
        return 0;
    return (uint64_t)ceil((1 - b->tokens) / b->per_ms);
}

uint64_t edm_bucket_take(edm_bucket *b, uint64_t now)
{
    uint64_t w = edm_bucket_wait(b, now);
    if (w == 0 && !edm_bucket_unlimited(b))
        b->tokens -= 1;
    return w;
}

void edm_window_init(edm_window *w, uint64_t span_ms)
{
    memset(w, 0, sizeof *w);
    w->slot_ms = span_ms / EDM_WINDOW_SLOTS ? span_ms / EDM_WINDOW_SLOTS : 1;
}

void edm_window_add(edm_window *w, uint64_t now, uint32_t n)
{
    uint64_t start = now - now % w->slot_ms;
    size_t i = (size_t)((now / w->slot_ms) % EDM_WINDOW_SLOTS);
    if (w->slot_start[i] != start) {
        w->slot_start[i] = start;
        w->count[i] = 0;
    }
    w->count[i] += n;
}

uint64_t edm_window_sum(const edm_window *w, uint64_t now)
{
    uint64_t span = w->slot_ms * EDM_WINDOW_SLOTS, sum = 0;
    for (size_t i = 0; i < EDM_WINDOW_SLOTS; i++)
        if (w->count[i] && w->slot_start[i] + span > now)
            sum += w->count[i];
    return sum;
}

void edm_window_format(const edm_window *w, uint64_t now, char *out, size_t n)
{
    uint64_t span = w->slot_ms * EDM_WINDOW_SLOTS;
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < EDM_WINDOW_SLOTS; i++) {
        if (w->count[i] == 0 || w->slot_start[i] + span <= now)
            continue;
        int k = snprintf(out + len, n - len, "%s%llu:%u", len ? "," : "",
                         (unsigned long long)w->slot_start[i], (unsigned)w->count[i]);
        if (k < 0 || (size_t)k >= n - len) {
            out[len] = '\0';
            return;
        }
        len += (size_t)k;
    }
}

void edm_window_parse(edm_window *w, const char *text)
{
    const char *p = text;
    while (p && *p) {
        char *end;
        unsigned long long start = strtoull(p, &end, 10);
        if (*end == ':') {
            unsigned long cnt = strtoul(end + 1, &end, 10);
            if (cnt > 0 && cnt <= UINT32_MAX)
                edm_window_add(w, (uint64_t)start, (uint32_t)cnt);
        }
        p = strchr(end, ',');
        if (p)
            p++;
    }
}

int edm_backoff_matches(char *const *prefixes, size_t n, int code, const char *enhanced)
{
    char codes[8];
    snprintf(codes, sizeof codes, "%d", code);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(prefixes[i]);
        if (len == 0)
            continue;
        if (code > 0 && strncmp(codes, prefixes[i], len) == 0)
            return 1;
        if (enhanced && *enhanced && strncmp(enhanced, prefixes[i], len) == 0)
            return 1;
    }
    return 0;
}
