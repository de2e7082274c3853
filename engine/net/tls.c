/*
 * engine/net/tls.c: SSL_CTX set-up and TLS over memory BIOs (see tls.h).
 *
 * Entry points: tls_client_ctx_new / tls_server_ctx_new, tls_conn_*.
 * Return values: 0 / counts on success, EDM_ETLS with a text in
 * tls_conn.error (from OpenSSL's error queue) on failure. Limits: no
 * certificate verification on the client (opportunistic SMTP TLS); no
 * renegotiation handling beyond what OpenSSL does inside SSL_read.
 */
#include "engine/net/tls.h"
#include "engine/base/err.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

static void take_error(char *out, size_t n, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[120] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(out, n, "%s%s%s", what, e ? ": " : "", buf);
    ERR_clear_error();
}

SSL_CTX *tls_client_ctx_new(char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        take_error(err, errlen, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    return ctx;
}

SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        take_error(err, errlen, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        take_error(err, errlen, "loading certificate or key");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

int tls_conn_init(tls_conn *t, SSL_CTX *ctx, int server, const char *sni)
{
    memset(t, 0, sizeof *t);
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        take_error(t->error, sizeof t->error, "SSL_new");
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        memset(t, 0, sizeof *t);
        return EDM_ENOMEM;
    }
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both BIOs now */
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (sni && *sni)
            SSL_set_tlsext_host_name(t->ssl, sni);
    }
    return 0;
}

void tls_conn_free(tls_conn *t)
{
    if (t->ssl)
        SSL_free(t->ssl);
    t->ssl = NULL;
    t->rbio = t->wbio = NULL;
}

int tls_conn_feed(tls_conn *t, const void *data, size_t len)
{
    while (len > 0) {
        int chunk = len > 1 << 30 ? 1 << 30 : (int)len;
        int n = BIO_write(t->rbio, data, chunk);
        if (n <= 0)
            return EDM_ENOMEM;
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

int tls_conn_handshake(tls_conn *t)
{
    if (t->established)
        return 1;
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->established = 1;
        snprintf(t->protocol, sizeof t->protocol, "%s", SSL_get_version(t->ssl));
        snprintf(t->cipher, sizeof t->cipher, "%s", SSL_get_cipher_name(t->ssl));
        return 1;
    }
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    take_error(t->error, sizeof t->error, "TLS handshake failed");
    return EDM_ETLS;
}

long tls_conn_read(tls_conn *t, void *buf, size_t n)
{
    int want = n > 1 << 30 ? 1 << 30 : (int)n;
    int rc = SSL_read(t->ssl, buf, want);
    if (rc > 0)
        return rc;
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(t->error, sizeof t->error, "peer closed the TLS session");
        return EDM_EIO;
    }
    take_error(t->error, sizeof t->error, "TLS read failed");
    return EDM_ETLS;
}

int tls_conn_write(tls_conn *t, const void *data, size_t len)
{
    while (len > 0) {
        int chunk = len > 1 << 30 ? 1 << 30 : (int)len;
        int n = SSL_write(t->ssl, data, chunk);
        if (n <= 0) {
            take_error(t->error, sizeof t->error, "TLS write failed");
            return EDM_ETLS;
        }
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

size_t tls_conn_pending(const tls_conn *t)
{
    return BIO_ctrl_pending(t->wbio);
}

size_t tls_conn_take(tls_conn *t, void *out, size_t n)
{
    int want = n > 1 << 30 ? 1 << 30 : (int)n;
    int got = BIO_read(t->wbio, out, want);
    return got > 0 ? (size_t)got : 0;
}
