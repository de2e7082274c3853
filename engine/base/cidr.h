/*
 * engine/base/cidr.h: IP networks in CIDR notation ("192.0.2.0/24",
 * "2001:db8::/32", or a bare address for one host) and whether an address
 * falls in one. Used for submission's trusted_networks (docs/smtp.md) and
 * the public listener's machine_ips (docs/tracking.md).
 */
#ifndef EDM_CIDR_H
#define EDM_CIDR_H

typedef struct edm_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits; /* prefix length: 0-32 for IPv4, 0-128 for IPv6 */
} edm_cidr;

/* Returns 0, or -1 when s is not an address with an optional "/bits"
 * within the family's length. */
int edm_cidr_parse(const char *s, edm_cidr *n);

/* 1 when the textual address ip is in n (same family, same prefix). */
int edm_cidr_contains(const edm_cidr *n, const char *ip);

#endif
