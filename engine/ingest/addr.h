/*
 * engine/ingest/addr.h: recipient address validation and normalisation.
 *
 * edm_addr_normalize() accepts an RFC 5321 mailbox (Local-part "@" Domain):
 * a dot-string or quoted-string local part (UTF-8 allowed, RFC 6531), a
 * domain of LDH labels (internationalised labels allowed and converted to
 * their A-label, "xn--...", RFC 3492), or an address literal [IPv4] /
 * [IPv6:...]. Surrounding blanks are trimmed. The result is lower-cased
 * (ASCII letters), which is also the key for duplicate detection.
 */
#ifndef EDM_API_ADDR_H
#define EDM_API_ADDR_H

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

#endif
