/*
 * engine/message/verp.h: unforgeable per-delivery tokens: the VERP return path
 * (bounces+TOKEN@bounce-domain) that attributes a bounce to one delivery,
 * and the per-recipient List-Unsubscribe token (mailto local part and
 * https URL).
 *
 * A token is "<id in hex>-<80-bit HMAC-SHA256 tag in base32>", lower case
 * (local parts may be case-folded on the way back; checks ignore case).
 * The tag covers a purpose label and the id, so a bounce token is no
 * unsubscribe token and the reverse. The secret is a byte string of at
 * least 16 bytes that the caller keeps (the engine stores it in its
 * database); without it a token can be neither guessed nor forged.
 */
#ifndef EDM_VERP_H
#define EDM_VERP_H

#include "engine/base/buf.h"

#include <stddef.h>
#include <stdint.h>

enum edm_verp_kind { EDM_VERP_BOUNCE, EDM_VERP_UNSUB, EDM_VERP_OPEN, EDM_VERP_CLICK };

/* Longest token, with its NUL. */
#define EDM_VERP_TOKEN_MAX  40
#define EDM_VERP_SECRET_MIN 16

/* Writes the token for id into out (EDM_VERP_TOKEN_MAX bytes). Returns its
 * length, or EDM_EINVAL if the secret is shorter than EDM_VERP_SECRET_MIN. */
int edm_verp_token(char *out, enum edm_verp_kind kind, const void *secret, size_t secret_len,
                   uint64_t id);
/* Checks tok[0..n) (any case) and gives its id. Returns 0 or EDM_EINVAL
 * (malformed, wrong purpose or forged; compared in constant time). */
int edm_verp_token_check(const char *tok, size_t n, enum edm_verp_kind kind, const void *secret,
                         size_t secret_len, uint64_t *id);

/* Appends "prefix+TOKEN@domain" (e.g. bounces+1f-abc...@bounce.example.com).
 * Returns 0, EDM_EINVAL (bad prefix, domain or secret) or EDM_ENOMEM. */
int edm_verp_address(edm_buf *out, enum edm_verp_kind kind, const char *prefix, const char *domain,
                     const void *secret, size_t secret_len, uint64_t id);
/* The same with a token already made by edm_verp_token (one HMAC for an
 * address and a URL that carry the same token). */
int edm_verp_address_token(edm_buf *out, const char *prefix, const char *domain, const char *token);
/* Parses an address made by edm_verp_address with the same prefix (any
 * domain, any case) and checks its token. Returns 0 or EDM_EINVAL. */
int edm_verp_address_parse(const char *addr, enum edm_verp_kind kind, const char *prefix,
                           const void *secret, size_t secret_len, uint64_t *id);

/* Appends base_url (http or https; a #fragment is dropped) with token (an
 * EDM_VERP_UNSUB token from edm_verp_token, the same one the mailto
 * address carries) as its "t" query parameter ("?t=" or "&t=" as the URL
 * needs). Returns 0, EDM_EINVAL or EDM_ENOMEM. */
int edm_verp_unsub_url(edm_buf *out, const char *base_url, const char *token);

/* Tracking tokens (docs/tracking.md): an open token "<id hex>-<tag>"
 * names a delivery; a click token "<id hex>-<link hex>-<tag>" names a
 * delivery and the index of a link in its HTML part, never the URL. Lower
 * case only (they travel in URLs, not in local parts). */
#define EDM_TRACK_TOKEN_MAX 48
/* Writes the token (EDM_TRACK_TOKEN_MAX bytes); kind is EDM_VERP_OPEN
 * (link ignored) or EDM_VERP_CLICK. Returns its length or EDM_EINVAL. */
int edm_verp_track_token(char *out, enum edm_verp_kind kind, const void *secret, size_t secret_len,
                         uint64_t id, uint32_t link);
/* Checks tok[0..n) and gives its delivery id and link (link may be NULL).
 * Returns 0 or EDM_EINVAL (malformed, wrong kind or forged). */
int edm_verp_track_check(const char *tok, size_t n, enum edm_verp_kind kind, const void *secret,
                         size_t secret_len, uint64_t *id, uint32_t *link);

#endif
