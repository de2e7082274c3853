/*
 * engine/resolve.c: destination resolution for the relay (see resolve.h).
 * Address literals ("127.0.0.1", "[::1]", "::1") answer at once; names
 * go to DNS.
 */
#include "engine/resolve.h"
#include "engine/alloc.h"
#include "engine/err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

struct edm_resolver {
    uv_loop_t *loop;
    const edm_config *cfg;
};

int edm_resolver_new(uv_loop_t *loop, const edm_config *cfg, edm_resolver **out, char *err,
                     size_t errlen)
{
    (void)err;
    (void)errlen;
    edm_resolver *r = edm_calloc(1, sizeof *r);
    if (r == NULL)
        return EDM_ENOMEM;
    r->loop = loop;
    r->cfg = cfg;
    *out = r;
    return 0;
}

void edm_resolver_free(edm_resolver *r)
{
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
    (void)r;
    edm_mx_host h;
    if (literal(name, &h)) {
        cb(arg, 0, NULL, NULL, &h, 1);
        return 0;
    }
    cb(arg, EDM_EDNS, "dns", "no DNS resolver in this build", NULL, 0);
    return 0;
}
