/*
 * engine/resolve.c: destination resolution for the relay (see resolve.h).
 * Address literals ("127.0.0.1", "[::1]", "::1") answer at once; names
 * go to engine/dns.c (MX, else the name's own addresses), whose answers
 * come back by request id: a pending entry maps the id to the relay's
 * callback. Each MX host contributes one edm_mx_host per address, in
 * preference order. NXDOMAIN and null MX are permanent (EDM_ENOTFOUND,
 * "bad_domain"); the rest temporary (EDM_EDNS, "dns").
 */
#include "engine/resolve.h"
#include "engine/alloc.h"
#include "engine/dns.h"
#include "engine/err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

struct pending {
    uint64_t id;
    edm_resolve_cb cb;
    void *arg;
    struct pending *next;
};

struct edm_resolver {
    uv_loop_t *loop;
    const edm_config *cfg;
    dns_resolver *dns;
    struct pending *pending;
};

static void on_mx(uint64_t id, const dns_mx_result *res, void *arg)
{
    edm_resolver *r = arg;
    struct pending **pp = &r->pending;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    struct pending *p = *pp;
    if (p == NULL)
        return; /* nobody waits any more */
    *pp = p->next;
    if (res->status != DNS_OK) {
        int perm = res->status == DNS_NXDOMAIN || res->status == DNS_NULL_MX;
        char why[300];
        snprintf(why, sizeof why, "%s: %s", res->domain, res->error);
        p->cb(p->arg, perm ? EDM_ENOTFOUND : EDM_EDNS, perm ? "bad_domain" : "dns", why, NULL, 0);
        edm_free(p);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < res->nhosts; i++)
        n += res->hosts[i].naddrs;
    edm_mx_host *hosts = edm_xcalloc(n ? n : 1, sizeof *hosts);
    size_t k = 0;
    for (size_t i = 0; i < res->nhosts; i++)
        for (size_t a = 0; a < res->hosts[i].naddrs; a++, k++) {
            snprintf(hosts[k].host, sizeof hosts[k].host, "%s", res->hosts[i].name);
            snprintf(hosts[k].ip, sizeof hosts[k].ip, "%s", res->hosts[i].addrs[a]);
        }
    p->cb(p->arg, 0, NULL, NULL, hosts, n);
    edm_free(hosts);
    edm_free(p);
}

int edm_resolver_new(uv_loop_t *loop, const edm_config *cfg, edm_resolver **out, char *err,
                     size_t errlen)
{
    edm_resolver *r = edm_calloc(1, sizeof *r);
    if (r == NULL)
        return EDM_ENOMEM;
    r->loop = loop;
    r->cfg = cfg;
    dns_options o = {(const char *const *)cfg->dns.servers, cfg->dns.nservers,
                     cfg->dns.cache_max_ttl > 0 ? (unsigned)cfg->dns.cache_max_ttl : 0, 0, 0};
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
    dns_close(r->dns); /* its handles close on the loop; it frees itself */
    while (r->pending) {
        struct pending *p = r->pending;
        r->pending = p->next;
        edm_free(p);
    }
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
        cb(arg, 0, NULL, NULL, &h, 1);
        return 0;
    }
    struct pending *p = edm_calloc(1, sizeof *p);
    if (p == NULL)
        return EDM_ENOMEM;
    p->cb = cb;
    p->arg = arg;
    p->id = dns_resolve_mx(r->dns, name);
    p->next = r->pending;
    r->pending = p;
    return 0;
}
