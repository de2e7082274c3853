/*
 * engine/net/tls.h: OpenSSL contexts and TLS connections over memory BIOs.
 *
 * The network side is not OpenSSL's: ciphertext arriving from the socket is
 * fed in with tls_conn_feed(), ciphertext to send is taken out with
 * tls_conn_take(), so that engine/net/io.c can drive TLS on a libuv stream.
 */
#ifndef EDM_TLS_H
#define EDM_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* A client context for SMTP: TLS 1.2+, no certificate verification (RFC
 * 7435 opportunistic security, as MTAs do without DANE or MTA-STS).
 * Returns NULL with a message in err on failure. Free with tls_ctx_free. */
SSL_CTX *tls_client_ctx_new(char *err, size_t errlen);
/* A server context with a PEM certificate and key (tests' servers). */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen);
void tls_ctx_free(SSL_CTX *ctx);

typedef struct tls_conn {
    SSL *ssl;
    BIO *rbio; /* ciphertext in (we write, OpenSSL reads) */
    BIO *wbio; /* ciphertext out (OpenSSL writes, we read) */
    int established;
    char protocol[16]; /* "TLSv1.3" once established */
    char cipher[64];   /* "TLS_AES_256_GCM_SHA384" */
    char error[128];   /* last failure, for logs and results */
} tls_conn;

/* server = 1 to accept, 0 to connect (sni may be NULL). 0 or EDM_ENOMEM /
 * EDM_ETLS. */
int tls_conn_init(tls_conn *t, SSL_CTX *ctx, int server, const char *sni);
void tls_conn_free(tls_conn *t);

/* Ciphertext from the peer. 0 or EDM_ENOMEM. */
int tls_conn_feed(tls_conn *t, const void *data, size_t len);
/* Advances the handshake: 1 established (protocol and cipher recorded),
 * 0 needs more input, EDM_ETLS on failure (message in t->error). */
int tls_conn_handshake(tls_conn *t);
/* Plaintext into buf: bytes read (> 0), 0 when no more input is buffered,
 * EDM_EIO when the peer sent close_notify, EDM_ETLS on failure. */
long tls_conn_read(tls_conn *t, void *buf, size_t n);
/* Encrypts all of data (memory BIOs never block). 0 or EDM_ETLS. */
int tls_conn_write(tls_conn *t, const void *data, size_t len);
/* Ciphertext waiting to be sent. */
size_t tls_conn_pending(const tls_conn *t);
/* Moves up to n bytes of waiting ciphertext to out; returns the count. */
size_t tls_conn_take(tls_conn *t, void *out, size_t n);

#endif
