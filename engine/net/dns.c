/*
 * engine/net/dns.c: c-ares on the libuv loop, MX lookups, TTL cache (see
 * dns.h).
 *
 * c-ares tells us which sockets to watch (sock_state_cb): each gets a
 * uv_poll_t; its timeouts are driven by one uv_timer_t re-armed from
 * ares_timeout() after every activity. A second timer with a zero delay
 * ("kick") starts new lookups and delivers cache hits, so no callback ever
 * runs inside dns_resolve_mx(). One lookup per domain in flight: later
 * requests for it join its waiter list (coalescing). A lookup is: MX query;
 * then A and AAAA for each exchanger (or for the domain itself when it has
 * no MX). The answer is cached for the smallest TTL seen, capped by
 * cache_max_ttl; NXDOMAIN and null MX are cached for the SOA's negative
 * TTL (RFC 2308) or 300 s, also capped; temporary failures are not cached.
 *
 * Limits: the cache is never pruned except on expiry hits (a relay asks for
 * a bounded set of domains); CNAMEs are followed by c-ares's A/AAAA
 * parsing only.
 */
#include "engine/net/dns.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define NBUCKETS                      256
#define NEG_TTL_DEFAULT               300u
/* RR types and class (arpa/nameser.h names, spelt out to stay C11). */
enum { T_A = 1, T_MX = 15, T_AAAA = 28, C_IN = 1 };

struct mxhost {
    char *name;
    unsigned pref;
    char **addrs;
    size_t naddrs;
    int tempfail;
};

struct answer {
    enum dns_status status;
    char error[96];
    int implicit;
    uint32_t ttl;
    struct mxhost *hosts;
    size_t nhosts;
};

struct waiter {
    uint64_t id;
    struct waiter *next;
};

struct lookup {
    struct lookup *next;
    dns_resolver *r;
    char *domain;
    struct waiter *waiters;
    struct answer a;
    int started;
    int pending;      /* c-ares queries outstanding */
    uint32_t ttl_min; /* smallest TTL seen */
};

/* One c-ares query in flight: which lookup, which host, which type. */
struct query {
    struct lookup *l;
    size_t host;
    int type;
};

struct cache_entry {
    struct cache_entry *next;
    char *domain;
    uint64_t expires_ms;
    struct answer a;
};

struct sock {
    uv_poll_t poll;
    ares_socket_t fd;
    dns_resolver *r;
    struct sock *next;
};

struct ready {
    uint64_t id;
    char *domain;
    struct ready *next;
};

struct dns_resolver {
    uv_loop_t *loop;
    ares_channel ch;
    uv_timer_t timer;
    uv_timer_t kick;
    int handles;
    int closing;
    dns_mx_cb cb;
    void *arg;
    uint64_t next_id;
    unsigned max_ttl;
    unsigned long queries;
    uint64_t rng;
    struct lookup *lookups;
    struct cache_entry *buckets[NBUCKETS];
    struct sock *socks;
    struct ready *ready;
};

static const char *const status_names[] = {"ok", "nxdomain", "null_mx", "no_address", "tempfail"};

const char *dns_status_name(enum dns_status s)
{
    EDM_ASSERT((unsigned)s < sizeof status_names / sizeof status_names[0]);
    return status_names[s];
}

/* ---- answers and the cache ------------------------------------------ */

static void answer_free(struct answer *a)
{
    for (size_t i = 0; i < a->nhosts; i++) {
        for (size_t k = 0; k < a->hosts[i].naddrs; k++)
            edm_free(a->hosts[i].addrs[k]);
        edm_free(a->hosts[i].addrs);
        edm_free(a->hosts[i].name);
    }
    edm_free(a->hosts);
    memset(a, 0, sizeof *a);
}

static unsigned hash(const char *s)
{
    unsigned h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h % NBUCKETS;
}

static struct cache_entry *cache_find(dns_resolver *r, const char *domain)
{
    struct cache_entry **pp = &r->buckets[hash(domain)];
    uint64_t now = edm_time_mono_ms();
    while (*pp) {
        struct cache_entry *e = *pp;
        if (strcmp(e->domain, domain) == 0) {
            if (e->expires_ms > now)
                return e;
            *pp = e->next; /* expired */
            answer_free(&e->a);
            edm_free(e->domain);
            edm_free(e);
            return NULL;
        }
        pp = &e->next;
    }
    return NULL;
}

static void cache_put(dns_resolver *r, const char *domain, struct answer *a)
{
    if (a->ttl == 0) {
        answer_free(a);
        return;
    }
    struct cache_entry *old = cache_find(r, domain);
    if (old) { /* a newer answer replaces it */
        answer_free(&old->a);
        old->a = *a;
        old->expires_ms = edm_time_mono_ms() + (uint64_t)a->ttl * 1000;
        memset(a, 0, sizeof *a);
        return;
    }
    struct cache_entry *e = edm_xcalloc(1, sizeof *e);
    e->domain = edm_xstrdup(domain);
    e->a = *a;
    e->expires_ms = edm_time_mono_ms() + (uint64_t)a->ttl * 1000;
    memset(a, 0, sizeof *a);
    unsigned b = hash(domain);
    e->next = r->buckets[b];
    r->buckets[b] = e;
}

static uint64_t rnd(dns_resolver *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}

static int by_pref(const void *a, const void *b)
{
    const dns_host *x = a, *y = b;
    return x->pref < y->pref ? -1 : x->pref > y->pref;
}

/* Calls back for one request: hosts sorted by preference, equal ones in a
 * fresh random order. */
static void deliver(dns_resolver *r, uint64_t id, const char *domain, const struct answer *a,
                    int from_cache)
{
    dns_host *hosts = edm_xcalloc(a->nhosts ? a->nhosts : 1, sizeof *hosts);
    size_t n = 0;
    for (size_t i = 0; i < a->nhosts; i++) {
        if (a->hosts[i].naddrs == 0)
            continue;
        hosts[n].name = a->hosts[i].name;
        hosts[n].pref = a->hosts[i].pref;
        hosts[n].addrs = (const char *const *)a->hosts[i].addrs;
        hosts[n].naddrs = a->hosts[i].naddrs;
        n++;
    }
    /* Shuffle everything, then a stable-enough sort by preference keeps the
     * shuffle among equals (qsort is not stable: shuffle runs of equals). */
    qsort(hosts, n, sizeof *hosts, by_pref);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && hosts[j].pref == hosts[i].pref)
            j++;
        /* Fisher-Yates over hosts[i..j). */
        for (size_t left = j - i; left > 1; left--) {
            size_t k = i + left - 1;
            size_t m = i + (size_t)(rnd(r) % left);
            dns_host t = hosts[k];
            hosts[k] = hosts[m];
            hosts[m] = t;
        }
        i = j;
    }
    dns_mx_result res = {0};
    res.status = a->status;
    res.domain = domain;
    res.error = a->error;
    res.hosts = hosts;
    res.nhosts = a->status == DNS_OK ? n : 0;
    res.implicit = a->implicit;
    res.from_cache = from_cache;
    res.ttl = a->ttl;
    r->cb(id, &res, r->arg);
    edm_free(hosts);
}

/* ---- c-ares plumbing ------------------------------------------------ */

static void rearm(dns_resolver *r);

static void poll_cb(uv_poll_t *p, int status, int events)
{
    struct sock *s = container_of(p, struct sock, poll);
    dns_resolver *r = s->r;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
    if (status < 0 || (events & UV_READABLE))
        rfd = s->fd;
    if (status < 0 || (events & UV_WRITABLE))
        wfd = s->fd;
    ares_process_fd(r->ch, rfd, wfd);
    rearm(r);
}

static void resolver_unref(dns_resolver *r);

static void sock_closed(uv_handle_t *h)
{
    struct sock *s = container_of((uv_poll_t *)h, struct sock, poll);
    dns_resolver *r = s->r;
    edm_free(s);
    resolver_unref(r);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    dns_resolver *r = data;
    struct sock **pp = &r->socks;
    while (*pp && (*pp)->fd != fd)
        pp = &(*pp)->next;
    struct sock *s = *pp;
    if (!readable && !writable) {
        if (s) {
            *pp = s->next;
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, sock_closed);
        }
        return;
    }
    if (s == NULL) {
        s = edm_xcalloc(1, sizeof *s);
        s->fd = fd;
        s->r = r;
        if (uv_poll_init_socket(r->loop, &s->poll, fd) != 0)
            EDM_PANIC("uv_poll_init_socket failed for a c-ares socket");
        s->poll.data = r;
        r->handles++;
        s->next = r->socks;
        r->socks = s;
    }
    uv_poll_start(&s->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), poll_cb);
}

static void timer_cb(uv_timer_t *t)
{
    dns_resolver *r = container_of(t, dns_resolver, timer);
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm(r);
}

static void rearm(dns_resolver *r)
{
    if (r->closing)
        return;
    struct timeval tv, *tvp = ares_timeout(r->ch, NULL, &tv);
    if (tvp == NULL) {
        uv_timer_stop(&r->timer);
        return;
    }
    uint64_t ms = (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000 + 1;
    uv_timer_start(&r->timer, timer_cb, ms, 0);
}

/* ---- DNS message details c-ares does not expose --------------------- */

static const unsigned char *skip_name(const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        if ((*p & 0xC0) == 0xC0)
            return p + 2 <= end ? p + 2 : NULL;
        if (*p == 0)
            return p + 1;
        p += 1 + *p;
    }
    return NULL;
}

/* Smallest TTL of the answer section (authority = 0) or the negative TTL
 * of the SOA in the authority section (authority = 1): min(TTL, MINIMUM).
 * UINT32_MAX when there is none. */
static uint32_t section_ttl(const unsigned char *buf, int len, int authority)
{
    uint32_t min = UINT32_MAX;
    if (buf == NULL || len < 12)
        return min;
    const unsigned char *p = buf + 12, *end = buf + len;
    unsigned qd = (unsigned)(buf[4] << 8 | buf[5]), an = (unsigned)(buf[6] << 8 | buf[7]);
    unsigned ns = (unsigned)(buf[8] << 8 | buf[9]);
    for (unsigned i = 0; i < qd && p; i++) {
        p = skip_name(p, end);
        p = p && p + 4 <= end ? p + 4 : NULL;
    }
    for (unsigned i = 0; i < an + ns && p; i++) {
        p = skip_name(p, end);
        if (p == NULL || p + 10 > end)
            break;
        unsigned type = (unsigned)(p[0] << 8 | p[1]);
        uint32_t ttl = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
        unsigned rdlen = (unsigned)(p[8] << 8 | p[9]);
        p += 10;
        if (p + rdlen > end)
            break;
        if (!authority && i < an && ttl < min)
            min = ttl;
        if (authority && i >= an && type == 6 /* SOA */ && rdlen >= 20) {
            const unsigned char *q = p + rdlen - 4;
            uint32_t minimum =
                (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
            uint32_t t = ttl < minimum ? ttl : minimum;
            if (t < min)
                min = t;
        }
        p += rdlen;
    }
    return min;
}

/* ---- lookups -------------------------------------------------------- */

static void lookup_query(struct lookup *l, const char *name, size_t host, int type);

static void set_error(struct answer *a, enum dns_status st, const char *what, int ares_status)
{
    a->status = st;
    snprintf(a->error, sizeof a->error, "%s%s%s", what, ares_status ? ": " : "",
             ares_status ? ares_strerror(ares_status) : "");
}

static void finish(struct lookup *l)
{
    dns_resolver *r = l->r;
    struct lookup **pp = &r->lookups;
    while (*pp != l)
        pp = &(*pp)->next;
    *pp = l->next;
    struct answer *a = &l->a;
    if (!r->closing) {
        if (a->status == DNS_OK) {
            size_t with = 0;
            int temp = 0;
            for (size_t i = 0; i < a->nhosts; i++) {
                with += a->hosts[i].naddrs > 0;
                temp |= a->hosts[i].tempfail;
            }
            if (with == 0)
                set_error(a, temp ? DNS_TEMPFAIL : DNS_NO_ADDRESS,
                          temp ? "address lookup failed" : "no address for any mail exchanger", 0);
        }
        uint32_t ttl = l->ttl_min == UINT32_MAX ? NEG_TTL_DEFAULT : l->ttl_min;
        a->ttl = ttl < r->max_ttl ? ttl : r->max_ttl;
        if (a->status == DNS_TEMPFAIL || a->status == DNS_NO_ADDRESS)
            a->ttl = 0;
        edm_log(EDM_LOG_DEBUG, "dns", "domain=%s status=%s hosts=%zu ttl=%u", l->domain,
                dns_status_name(a->status), a->nhosts, a->ttl);
        for (struct waiter *w = l->waiters; w; w = w->next)
            deliver(r, w->id, l->domain, a, 0);
        if (a->status != DNS_TEMPFAIL && a->status != DNS_NO_ADDRESS)
            cache_put(r, l->domain, a);
    }
    answer_free(a);
    while (l->waiters) {
        struct waiter *w = l->waiters;
        l->waiters = w->next;
        edm_free(w);
    }
    edm_free(l->domain);
    edm_free(l);
}

/* Inserts an address of h at position pos and notes its TTL. */
static void host_add_addr(struct lookup *l, struct mxhost *h, size_t pos, int family,
                          const void *addr, int ttl)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(family, addr, ip, sizeof ip);
    h->addrs = edm_xrealloc(h->addrs, (h->naddrs + 1) * sizeof *h->addrs);
    memmove(h->addrs + pos + 1, h->addrs + pos, (h->naddrs - pos) * sizeof *h->addrs);
    h->addrs[pos] = edm_xstrdup(ip);
    h->naddrs++;
    if (ttl >= 0 && (uint32_t)ttl < l->ttl_min)
        l->ttl_min = (uint32_t)ttl;
}

static void addr_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct query *q = arg;
    struct lookup *l = q->l;
    struct mxhost *h = &l->a.hosts[q->host];
    if (status == ARES_SUCCESS && !l->r->closing) {
        if (q->type == T_A) {
            struct ares_addrttl at[32];
            int n = 32;
            if (ares_parse_a_reply(abuf, alen, NULL, at, &n) == ARES_SUCCESS)
                for (int i = 0; i < n; i++) /* IPv4 before any IPv6 already there */
                    host_add_addr(l, h, (size_t)i, AF_INET, &at[i].ipaddr, at[i].ttl);
        } else {
            struct ares_addr6ttl at[32];
            int n = 32;
            if (ares_parse_aaaa_reply(abuf, alen, NULL, at, &n) == ARES_SUCCESS)
                for (int i = 0; i < n; i++)
                    host_add_addr(l, h, h->naddrs, AF_INET6, &at[i].ip6addr, at[i].ttl);
        }
    } else if (status != ARES_ENOTFOUND && status != ARES_ENODATA) {
        h->tempfail = 1;
    }
    edm_free(q);
    if (--l->pending == 0)
        finish(l);
}

static void add_host(struct lookup *l, const char *name, unsigned pref)
{
    struct answer *a = &l->a;
    a->hosts = edm_xrealloc(a->hosts, (a->nhosts + 1) * sizeof *a->hosts);
    struct mxhost *h = &a->hosts[a->nhosts++];
    memset(h, 0, sizeof *h);
    h->name = edm_xstrdup(name);
    h->pref = pref;
}

static void mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct query *q = arg;
    struct lookup *l = q->l;
    edm_free(q);
    l->pending--;
    if (l->r->closing) {
        if (l->pending == 0)
            finish(l);
        return;
    }
    struct answer *a = &l->a;
    if (status == ARES_ENOTFOUND) {
        set_error(a, DNS_NXDOMAIN, "NXDOMAIN", 0);
        l->ttl_min = section_ttl(abuf, alen, 1);
    } else if (status == ARES_ENODATA) {
        a->implicit = 1; /* RFC 5321 5.1: the domain is its own exchanger */
        add_host(l, l->domain, 0);
        uint32_t neg = section_ttl(abuf, alen, 1);
        if (neg < l->ttl_min)
            l->ttl_min = neg;
    } else if (status != ARES_SUCCESS) {
        set_error(a, DNS_TEMPFAIL, "MX lookup failed", status);
    } else {
        struct ares_mx_reply *mx = NULL;
        int prc = ares_parse_mx_reply(abuf, alen, &mx);
        if (prc == ARES_ENODATA) {
            a->implicit = 1;
            add_host(l, l->domain, 0);
        } else if (prc != ARES_SUCCESS) {
            set_error(a, DNS_TEMPFAIL, "bad MX answer", prc);
        } else {
            l->ttl_min = section_ttl(abuf, alen, 0);
            int null_mx = 0;
            for (struct ares_mx_reply *m = mx; m; m = m->next) {
                if (m->host[0] == '\0' || strcmp(m->host, ".") == 0)
                    null_mx = 1;
                else
                    add_host(l, m->host, m->priority);
            }
            ares_free_data(mx);
            /* RFC 7505: a null MX is the only record; with others, ignore it. */
            if (null_mx && a->nhosts == 0)
                set_error(a, DNS_NULL_MX, "null MX: the domain accepts no mail", 0);
        }
    }
    if (a->status == DNS_OK) {
        size_t n = a->nhosts;
        for (size_t i = 0; i < n; i++) {
            lookup_query(l, a->hosts[i].name, i, T_A);
            lookup_query(l, a->hosts[i].name, i, T_AAAA);
        }
    }
    if (l->pending == 0)
        finish(l);
}

static void lookup_query(struct lookup *l, const char *name, size_t host, int type)
{
    struct query *q = edm_xcalloc(1, sizeof *q);
    q->l = l;
    q->host = host;
    q->type = type;
    l->pending++;
    l->r->queries++;
    ares_query(l->r->ch, name, C_IN, type, type == T_MX ? mx_cb : addr_cb, q);
}

static void kick_cb(uv_timer_t *t)
{
    dns_resolver *r = container_of(t, dns_resolver, kick);
    /* Cache hits first (in request order). */
    while (r->ready) {
        struct ready *rd = r->ready;
        r->ready = rd->next;
        struct cache_entry *e = cache_find(r, rd->domain);
        if (e) {
            deliver(r, rd->id, rd->domain, &e->a, 1);
        } else { /* expired meanwhile: look it up for real */
            struct lookup *l;
            for (l = r->lookups; l && strcmp(l->domain, rd->domain) != 0; l = l->next)
                ;
            if (l == NULL) {
                l = edm_xcalloc(1, sizeof *l);
                l->r = r;
                l->domain = edm_xstrdup(rd->domain);
                l->ttl_min = UINT32_MAX;
                l->next = r->lookups;
                r->lookups = l;
            }
            struct waiter *w = edm_xcalloc(1, sizeof *w);
            w->id = rd->id;
            w->next = l->waiters;
            l->waiters = w;
        }
        edm_free(rd->domain);
        edm_free(rd);
    }
    for (struct lookup *l = r->lookups; l; l = l->next) {
        if (l->started)
            continue;
        l->started = 1;
        lookup_query(l, l->domain, 0, T_MX);
    }
    rearm(r);
}

/* ---- public --------------------------------------------------------- */

dns_resolver *dns_new(uv_loop_t *loop, const dns_options *opts, dns_mx_cb cb, void *arg, char *err,
                      size_t errlen)
{
    static int lib_ready;
    if (!lib_ready) {
        if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
            snprintf(err, errlen, "c-ares library init failed");
            return NULL;
        }
        lib_ready = 1;
    }
    dns_resolver *r = edm_calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->loop = loop;
    r->cb = cb;
    r->arg = arg;
    r->max_ttl = opts->cache_max_ttl ? opts->cache_max_ttl : 3600;
    r->rng = edm_time_mono_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() ^ (uintptr_t)r;
    if (r->rng == 0)
        r->rng = 1;
    struct ares_options ao;
    memset(&ao, 0, sizeof ao);
    ao.sock_state_cb = sock_state_cb;
    ao.sock_state_cb_data = r;
    ao.timeout = (int)(opts->timeout_ms ? opts->timeout_ms : 2000);
    ao.tries = (int)(opts->tries ? opts->tries : 2);
    int rc = ares_init_options(&r->ch, &ao,
                               ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares init: %s", ares_strerror(rc));
        edm_free(r);
        return NULL;
    }
    if (opts->nservers > 0) {
        edm_buf csv = EDM_BUF_INIT;
        rc = ARES_SUCCESS;
        for (size_t i = 0; i < opts->nservers; i++)
            if (edm_buf_appendf(&csv, "%s%s", i ? "," : "", opts->servers[i]) != 0)
                rc = ARES_ENOMEM;
        if (rc == ARES_SUCCESS)
            rc = ares_set_servers_ports_csv(r->ch, edm_buf_cstr(&csv));
        edm_buf_free(&csv);
        if (rc != ARES_SUCCESS) {
            snprintf(err, errlen, "dns.servers: %s", ares_strerror(rc));
            ares_destroy(r->ch);
            edm_free(r);
            return NULL;
        }
    }
    uv_timer_init(loop, &r->timer);
    uv_timer_init(loop, &r->kick);
    r->timer.data = r->kick.data = r;
    r->handles = 2;
    return r;
}

uint64_t dns_resolve_mx(dns_resolver *r, const char *domain)
{
    EDM_ASSERT(!r->closing);
    char name[256];
    size_t n = 0;
    for (; domain[n] && n < sizeof name - 1; n++)
        name[n] = (char)tolower((unsigned char)domain[n]);
    while (n > 0 && name[n - 1] == '.')
        n--;
    name[n] = '\0';
    uint64_t id = ++r->next_id;
    if (cache_find(r, name)) {
        struct ready *rd = edm_xcalloc(1, sizeof *rd), **tail = &r->ready;
        rd->id = id;
        rd->domain = edm_xstrdup(name);
        while (*tail)
            tail = &(*tail)->next;
        *tail = rd;
    } else {
        struct lookup *l;
        for (l = r->lookups; l && strcmp(l->domain, name) != 0; l = l->next)
            ;
        if (l == NULL) {
            l = edm_xcalloc(1, sizeof *l);
            l->r = r;
            l->domain = edm_xstrdup(name);
            l->ttl_min = UINT32_MAX;
            l->next = r->lookups;
            r->lookups = l;
        }
        struct waiter *w = edm_xcalloc(1, sizeof *w), **tail = &l->waiters;
        w->id = id;
        while (*tail)
            tail = &(*tail)->next;
        *tail = w;
    }
    uv_timer_start(&r->kick, kick_cb, 0, 0);
    return id;
}

void dns_cancel(dns_resolver *r, uint64_t id)
{
    for (struct ready **pp = &r->ready; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct ready *rd = *pp;
            *pp = rd->next;
            edm_free(rd->domain);
            edm_free(rd);
            return;
        }
    }
    for (struct lookup *l = r->lookups; l; l = l->next) {
        for (struct waiter **pp = &l->waiters; *pp; pp = &(*pp)->next) {
            if ((*pp)->id == id) {
                struct waiter *w = *pp;
                *pp = w->next;
                edm_free(w);
                return;
            }
        }
    }
}

unsigned long dns_queries_sent(const dns_resolver *r)
{
    return r->queries;
}

/* One handle of r closed; the last one frees r. */
static void resolver_unref(dns_resolver *r)
{
    if (--r->handles > 0)
        return;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        while (r->buckets[b]) {
            struct cache_entry *e = r->buckets[b];
            r->buckets[b] = e->next;
            answer_free(&e->a);
            edm_free(e->domain);
            edm_free(e);
        }
    }
    edm_free(r);
}

static void handle_closed(uv_handle_t *h)
{
    resolver_unref(h->data);
}

void dns_close(dns_resolver *r)
{
    if (r->closing)
        return;
    r->closing = 1;
    while (r->ready) {
        struct ready *rd = r->ready;
        r->ready = rd->next;
        edm_free(rd->domain);
        edm_free(rd);
    }
    /* Lookups not started yet have no c-ares query: drop them here. */
    for (struct lookup **pp = &r->lookups; *pp;) {
        struct lookup *l = *pp;
        if (l->started) {
            pp = &l->next;
            continue;
        }
        l->pending = 0;
        finish(l);
    }
    ares_destroy(r->ch); /* cancels queries (their callbacks free them) and closes sockets */
    while (r->socks) {
        struct sock *s = r->socks;
        r->socks = s->next;
        uv_poll_stop(&s->poll);
        uv_close((uv_handle_t *)&s->poll, sock_closed);
    }
    EDM_ASSERT(r->lookups == NULL);
    uv_close((uv_handle_t *)&r->timer, handle_closed);
    uv_close((uv_handle_t *)&r->kick, handle_closed);
}
