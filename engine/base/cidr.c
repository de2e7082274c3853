/*
 * engine/base/cidr.c: CIDR networks, parsed once and matched per request
 * (see cidr.h).
 */
#include "engine/base/cidr.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

int edm_cidr_parse(const char *s, edm_cidr *n)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : strlen(s);
    if (len == 0 || len >= sizeof ip)
        return -1;
    memcpy(ip, s, len);
    ip[len] = '\0';
    n->family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(n->family, ip, n->addr) != 1)
        return -1;
    int max = n->family == AF_INET ? 32 : 128;
    if (slash == NULL) {
        n->bits = max;
        return 0;
    }
    const char *d = slash + 1;
    int bits = 0;
    if (*d == '\0')
        return -1;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || (bits = bits * 10 + (*d - '0')) > max)
            return -1;
    }
    n->bits = bits;
    return 0;
}

int edm_cidr_contains(const edm_cidr *n, const char *ip)
{
    unsigned char a[16];
    int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (family != n->family || inet_pton(family, ip, a) != 1)
        return 0;
    int full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(a, n->addr, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (n->addr[full] & mask);
}
