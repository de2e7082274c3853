/*
 * engine/message/dkim.h: DKIM signing (RFC 6376, relaxed/relaxed; rsa-sha256 and
 * ed25519-sha256 per RFC 8463).
 *
 * Keys are loaded once at start (edm_dkim_key_load) and are then shared,
 * read-only, by every thread. Signing needs an edm_dkim_signer per thread
 * (its hash contexts and scratch buffers are reused message after
 * message). One call signs a message with one or more keys (dual RSA +
 * Ed25519) and yields the DKIM-Signature fields to put in front of it.
 *
 * Signed fields: From (over-signed), To, Subject, Date, Message-ID,
 * MIME-Version, Content-Type, Content-Transfer-Encoding, List-Unsubscribe,
 * List-Unsubscribe-Post, Reply-To and Feedback-ID, each where present.
 * l= is never used; t= is the signing time.
 */
#ifndef EDM_DKIM_H
#define EDM_DKIM_H

#include "engine/base/buf.h"
#include "engine/config/config.h" /* enum edm_dkim_alg */

#include <stddef.h>
#include <stdint.h>

typedef struct edm_dkim_key edm_dkim_key;

/* Loads a PEM private key (PKCS#8 or traditional) for domain/selector.
 * RSA keys must be 1024..4096 bits for rsa-sha256; ed25519-sha256 needs an
 * Ed25519 key. Returns 0, EDM_EIO (unreadable file), EDM_EINVAL (not a key
 * of that kind, bad domain or selector); err (may be NULL) gets the
 * reason. */
int edm_dkim_key_load(edm_dkim_key **out, const char *pem_path, const char *domain,
                      const char *selector, enum edm_dkim_alg alg, char *err, size_t errlen);
void edm_dkim_key_free(edm_dkim_key *key);
enum edm_dkim_alg edm_dkim_key_alg(const edm_dkim_key *key);
const char *edm_dkim_key_domain(const edm_dkim_key *key);
const char *edm_dkim_key_selector(const edm_dkim_key *key);
/* Appends the DNS TXT record for the key ("v=DKIM1; k=rsa; p=..."); it
 * belongs at <selector>._domainkey.<domain>. */
int edm_dkim_key_dns_txt(const edm_dkim_key *key, edm_buf *out);

typedef struct edm_dkim_signer edm_dkim_signer;

edm_dkim_signer *edm_dkim_signer_new(void);
void edm_dkim_signer_free(edm_dkim_signer *s);

/* Signs msg[0..len) (a whole message, CRLF line ends, as the composer
 * writes it) with each of keys[0..nkeys) at time t (unix seconds) and
 * appends one DKIM-Signature field per key (CRLF-terminated) to out; the
 * caller writes them before the message. No keys: nothing to do, 0. Returns 0, EDM_EINVAL (no
 * header block, no From), EDM_ENOMEM, or EDM_EIO (OpenSSL refused to sign). On failure out keeps
 * its previous length. */
int edm_dkim_sign(edm_dkim_signer *s, edm_dkim_key *const *keys, size_t nkeys, const char *msg,
                  size_t len, int64_t t, edm_buf *out);

#endif
