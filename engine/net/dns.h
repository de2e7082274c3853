/*
 * engine/net/dns.h: MX resolution through c-ares on the libuv loop, with a
 * TTL cache and coalesced concurrent lookups.
 *
 * A lookup for a domain yields its mail exchangers in preference order
 * (random order among equal preferences, reshuffled for every caller),
 * each with its IPv4 and IPv6 addresses; the domain itself when it has no
 * MX (RFC 5321 5.1 implicit MX). Null MX (RFC 7505) and NXDOMAIN are
 * permanent; SERVFAIL, timeouts and refused queries are temporary.
 *
 * Completion carries the request id returned by dns_resolve_mx(), never
 * a caller's pointer: the caller looks its object up by id and drops the
 * answer if the object is gone (or calls dns_cancel()). Callbacks always
 * come from the loop, never from inside dns_resolve_mx().
 */
#ifndef EDM_DNS_H
#define EDM_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum dns_status {
    DNS_OK,
    DNS_NXDOMAIN,   /* permanent: the domain does not exist */
    DNS_NULL_MX,    /* permanent: RFC 7505 "MX 0 ." */
    DNS_NO_ADDRESS, /* MX hosts exist but none has an address (temporary) */
    DNS_TEMPFAIL    /* SERVFAIL, timeout, refused, network */
};

typedef struct dns_host {
    const char *name;
    unsigned pref;
    const char *const *addrs; /* IPv4 first, then IPv6 */
    size_t naddrs;
} dns_host;

typedef struct dns_mx_result {
    enum dns_status status;
    const char *domain;
    const char *error; /* for logs and receipts: "NXDOMAIN", "SERVFAIL" ... */
    const dns_host *hosts;
    size_t nhosts;
    int implicit; /* no MX records: the domain's own addresses */
    int from_cache;
    uint32_t ttl; /* seconds the answer is cached for (after the cap) */
} dns_mx_result;

/* r and everything in it live only during the call. */
typedef void (*dns_mx_cb)(uint64_t id, const dns_mx_result *r, void *arg);

typedef struct dns_options {
    const char *const *servers; /* "127.0.0.1:5353", "192.0.2.1"; none: /etc/resolv.conf */
    size_t nservers;
    unsigned cache_max_ttl; /* seconds (dns.cache_max_ttl, docs/config.md); 0 = 3600 */
    unsigned timeout_ms;    /* per try; 0 = 2000 */
    unsigned tries;         /* 0 = 2 */
} dns_options;

typedef struct dns_resolver dns_resolver;

/* NULL with a message in err on failure (bad server string, c-ares init). */
dns_resolver *dns_new(uv_loop_t *loop, const dns_options *opts, dns_mx_cb cb, void *arg, char *err,
                      size_t errlen);
/* Starts (or joins, or answers from the cache) a lookup. Returns its id
 * (> 0). */
uint64_t dns_resolve_mx(dns_resolver *r, const char *domain);
/* The callback for id will not be called. */
void dns_cancel(dns_resolver *r, uint64_t id);
/* Queries sent to the servers so far (tests check coalescing/caching). */
unsigned long dns_queries_sent(const dns_resolver *r);
/* Cancels everything, closes its handles and frees r from the loop. */
void dns_close(dns_resolver *r);

const char *dns_status_name(enum dns_status s);

#endif
