/*
 * engine/base/timeutil.c: clocks and time formats (see timeutil.h). Uses
 * timegm(3) for UTC conversion; no locale is consulted. The test offset is
 * atomic because render threads read the wall clock too.
 */
#include "engine/base/timeutil.h"
#include "engine/base/err.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Milliseconds added to every clock (tests only; see timeutil.h). */
static _Atomic int64_t offset_ms;

static int64_t offset(void)
{
    return atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

void edm_time_advance_ms(int64_t ms)
{
    atomic_fetch_add_explicit(&offset_ms, ms, memory_order_relaxed);
}

void edm_time_reset_offset(void)
{
    atomic_store_explicit(&offset_ms, 0, memory_order_relaxed);
}

int64_t edm_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + offset();
}

int64_t edm_time_now(void)
{
    int64_t off = offset();
    if (off == 0)
        return (int64_t)time(NULL);
    return edm_time_now_ms() / 1000;
}

uint64_t edm_time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + offset());
}

char *edm_time_rfc3339(int64_t unix_s, char *out, size_t n)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

char *edm_time_rfc5322(int64_t unix_s, char *out, size_t n)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return out;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

int edm_time_parse_rfc3339(const char *s, int64_t *unix_s)
{
    const char *p = s;
    int Y, M, D, h, m, sec;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D))
        return EDM_EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return EDM_EINVAL;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
        return EDM_EINVAL;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return EDM_EINVAL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return EDM_EINVAL;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return EDM_EINVAL;
    }
    if (*p != '\0')
        return EDM_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
        return EDM_EINVAL;
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M == 2 && D == 29 && !leap)
        return EDM_EINVAL;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec == 60 ? 59 : sec;
    *unix_s = (int64_t)timegm(&tm) - off;
    return 0;
}
