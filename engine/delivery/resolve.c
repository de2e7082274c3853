/*
 * engine/delivery/resolve.c: destination resolution for the relay (see resolve.h).
 * Address literals ("127.0.0.1", "[::1]", "::1") answer at once; names go
 * to the c-ares resolver (dns.c), whose answers carry a query id: pending
 * requests are kept by that id, and an answer for an id nobody waits for
 * any more is dropped. Every MX host's addresses become targets, in
 * preference order, IPv4 first. A failure is reported as a fact
 * (EDM_FAIL_NXDOMAIN, ...); engine/delivery/classify.c says what it means.
 */
#include "engine/delivery/resolve.h"
#include "engine/base/alloc.h"
#include "engine/net/dns.h"
#include "engine/base/err.h"
#include "engine/base/log.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define MAX_TARGETS 32

typedef struct pending {
    uint64_t id;
    edm_resolve_cb cb;
    void *arg;
    struct pending *next;
} pending;

struct edm_resolver {
    dns_resolver *dns;
    pending *waiting;
};

static void on_mx(uint64_t id, const dns_mx_result *res, void *arg)
{
    edm_resolver *r = arg;
    edm_mx_host hosts[MAX_TARGETS];
    size_t n = 0;
    for (size_t i = 0; res->status == DNS_OK && i < res->nhosts; i++)
        for (size_t k = 0; k < res->hosts[i].naddrs && n < MAX_TARGETS; k++) {
            snprintf(hosts[n].host, sizeof hosts[n].host, "%s", res->hosts[i].name);
            snprintf(hosts[n].ip, sizeof hosts[n].ip, "%s", res->hosts[i].addrs[k]);
            n++;
        }
    int rc = 0;
    enum edm_failure failure = EDM_FAIL_NONE;
    char why[256] = "";
    switch (res->status) {
    case DNS_OK: break;
    case DNS_NXDOMAIN:
        rc = EDM_ENOTFOUND;
        failure = EDM_FAIL_NXDOMAIN;
        snprintf(why, sizeof why, "%s: domain does not exist (NXDOMAIN)", res->domain);
        break;
    case DNS_NULL_MX:
        rc = EDM_ENOTFOUND;
        failure = EDM_FAIL_NULL_MX;
        snprintf(why, sizeof why, "%s: domain accepts no mail (null MX, RFC 7505)", res->domain);
        break;
    case DNS_NO_ADDRESS:
    case DNS_TEMPFAIL:
    default:
        rc = EDM_EDNS;
        failure = res->status == DNS_NO_ADDRESS ? EDM_FAIL_NO_ADDRESS : EDM_FAIL_DNS_TEMP;
        snprintf(why, sizeof why, "%s: %s", res->domain,
                 res->error ? res->error : dns_status_name(res->status));
        break;
    }
    if (rc == 0 && n == 0) {
        rc = EDM_EDNS;
        failure = EDM_FAIL_NO_ADDRESS;
        snprintf(why, sizeof why, "%s: no address for any mail exchanger", res->domain);
    }
    pending **pp = &r->waiting;
    while (*pp) {
        pending *p = *pp;
        if (p->id != id) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        p->cb(p->arg, rc, failure, rc ? why : NULL, hosts, n);
        edm_free(p);
    }
}

int edm_resolver_new(uv_loop_t *loop, const edm_config *cfg, edm_resolver **out, char *err,
                     size_t errlen)
{
    edm_resolver *r = edm_calloc(1, sizeof *r);
    if (r == NULL)
        return EDM_ENOMEM;
    dns_options o = {.servers = (const char *const *)cfg->dns.servers,
                     .nservers = cfg->dns.nservers,
                     .cache_max_ttl = (unsigned)cfg->dns.cache_max_ttl};
    r->dns = dns_new(loop, &o, on_mx, r, err, errlen);
    if (r->dns == NULL) {
        edm_free(r);
        return EDM_EDNS;
    }
    *out = r;
    return 0;
}

void edm_resolver_free(edm_resolver *r)
{
    if (r == NULL)
        return;
    /* Every waiter hears back (cancelled), so it can free what it passed. */
    while (r->waiting) {
        pending *p = r->waiting;
        r->waiting = p->next;
        p->cb(p->arg, EDM_ECANCELED, EDM_FAIL_DNS_TEMP, "resolver stopped", NULL, 0);
        edm_free(p);
    }
    dns_close(r->dns);
    edm_free(r);
}

/* Fills h if name is an address literal; returns 1 if it was. */
static int literal(const char *name, edm_mx_host *h)
{
    char buf[64];
    size_t n = strlen(name);
    if (n >= 2 && name[0] == '[' && name[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, name + 1, n - 2);
        buf[n - 2] = '\0';
    } else if (n < sizeof buf) {
        memcpy(buf, name, n + 1);
    } else {
        return 0;
    }
    unsigned char a[16];
    if (inet_pton(AF_INET, buf, a) != 1 && inet_pton(AF_INET6, buf, a) != 1)
        return 0;
    snprintf(h->host, sizeof h->host, "%s", buf);
    snprintf(h->ip, sizeof h->ip, "%s", buf);
    return 1;
}

int edm_resolver_resolve(void *ctx, const char *name, edm_resolve_cb cb, void *arg)
{
    edm_resolver *r = ctx;
    edm_mx_host h;
    if (literal(name, &h)) {
        cb(arg, 0, EDM_FAIL_NONE, NULL, &h, 1);
        return 0;
    }
    pending *p = edm_calloc(1, sizeof *p);
    if (p == NULL)
        return EDM_ENOMEM;
    p->cb = cb;
    p->arg = arg;
    /* Answers (cached ones too) always come later from the loop, each
     * request with its own id. */
    p->id = dns_resolve_mx(r->dns, name);
    p->next = r->waiting;
    r->waiting = p;
    return 0;
}
