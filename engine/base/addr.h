/*
 * engine/base/addr.h: the one address validator of edm, shared by the
 * edges (API routes, `edm send`, the recipient import) and the composer
 * (engine/message/), so that every address accepted is one edm can send.
 *
 * What edm sends end to end (docs/messages.md, "Addresses"): a local part that is an
 * ASCII dot-atom (RFC 5321 section 4.1.2) and a domain of LDH labels;
 * internationalised domain labels are accepted and converted to A-labels
 * ("xn--...", RFC 3492), which the composer and SMTP carry as plain ASCII.
 * Refused with a clear reason: quoted local parts, non-ASCII local parts
 * (they would need SMTPUTF8, RFC 6531) and address literals ([IPv4]).
 *
 *  - edm_addr_normalize: a recipient address, lower-cased (ASCII letters),
 *    which is also the key for duplicate detection and suppressions.
 *  - edm_addr_normalize_domain: a bare domain the same way.
 *  - edm_addr_mailbox: one From / Reply-To mailbox ("addr" or
 *    "Name <addr>"), the local part's case kept.
 *  - edm_addr_sendable: the composer's check of an address it is about to
 *    write (already normalised).
 */
#ifndef EDM_ADDR_H
#define EDM_ADDR_H

#include <stddef.h>

/* Room for any normalised address: 64 + 1 + 255 + NUL, IDN expansion
 * included (the result is refused if it does not fit in 254 octets). */
#define EDM_ADDR_MAX 320

/* Validates and normalises in[0..len) into out (EDM_ADDR_MAX bytes).
 * On success returns 0 and sets *domain_off to the offset of the domain in
 * out. On failure returns EDM_EINVAL and sets *why to a constant reason
 * ("missing @", "domain label too long", ...). */
int edm_addr_normalize(const char *in, size_t len, char out[EDM_ADDR_MAX], size_t *domain_off,
                       const char **why);

/* Normalises a bare domain (for suppressions and receipt filters) the same
 * way. Returns 0 or EDM_EINVAL with *why. */
int edm_addr_normalize_domain(const char *in, size_t len, char out[EDM_ADDR_MAX], const char **why);

/* One mailbox as a From or Reply-To value. */
typedef struct edm_mailbox {
    char addr[EDM_ADDR_MAX]; /* local part as given, domain lower-cased in A-labels */
    size_t domain_off;       /* of the domain in addr */
    const char *name;        /* display name inside the input (quotes removed), or NULL */
    size_t name_len;
} edm_mailbox;

/* Parses in[0..len): "addr", "<addr>" or "Display Name <addr>" (the name
 * may be a quoted-string). Exactly one mailbox: lists ("a@x, b@y"),
 * groups and text after the address are refused, as are NUL and line
 * breaks anywhere. Returns 0 or EDM_EINVAL with a constant *why. */
int edm_addr_mailbox(const char *in, size_t len, edm_mailbox *mb, const char **why);

/* 1 if addr (NUL-terminated) is an address the composer writes as it is:
 * an ASCII dot-atom local part of 1..64 octets, "@", and a domain that
 * edm_addr_domain_sendable accepts; at most 254 octets in all. Every
 * result of edm_addr_normalize and edm_addr_mailbox passes. */
int edm_addr_sendable(const char *addr);
/* 1 if d[0..n) is a domain of ASCII LDH labels (1..63 octets each, no
 * hyphen at either end), at most 253 octets. One label is enough here
 * (message-id domains, test hosts); the edges ask for two. */
int edm_addr_domain_sendable(const char *d, size_t n);

#endif
