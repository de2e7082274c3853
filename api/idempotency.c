/*
 * api/idempotency.c: Idempotency-Key on the POSTs that create things.
 * The key is scoped by method and path ("POST /v1/campaigns <key>"); the
 * first 2xx answer is kept in the store (store ops idem_get/idem_put, which
 * forget entries after 24 hours) and replayed byte for byte, with
 * `Idempotent-Replayed: true`, to a retry. While a request with a key is
 * still running (a long upload), a second one with the same key gets 409.
 *
 * A buffered (JSON) request is fingerprinted (SHA-256 of the body, kept
 * under "fp <scoped key>"): a retry with the same key and a different body
 * is refused with 422 instead of getting the first answer, as Stripe does.
 *
 * Entry points: api_idem_new/free, api_idem_begin, api_idem_end,
 * api_idem_release. Known limit: streamed uploads are not fingerprinted
 * (the key is checked at the head, before the body).
 */
#include "api/api_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDEM_KEY_MAX 255

typedef struct inflight {
    struct inflight *next;
    char *key;
} inflight;

struct api_idem {
    inflight *head;
};

api_idem *api_idem_new(void)
{
    return edm_xcalloc(1, sizeof(api_idem));
}

void api_idem_free(api_idem *i)
{
    if (i == NULL)
        return;
    while (i->head) {
        inflight *n = i->head->next;
        edm_free(i->head->key);
        edm_free(i->head);
        i->head = n;
    }
    edm_free(i);
}

/* "fp " + key, and the body's SHA-256 in hex (buffered bodies only). */
static void fingerprint(const api_call *c, char *key_out, size_t n, const char *scoped,
                        char hex[2 * SHA256_DIGEST_LENGTH + 1])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)edm_buf_cstr(&c->req->body), c->req->body.len, d);
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    snprintf(key_out, n, "fp %s", scoped);
}

int api_idem_begin(api_call *c)
{
    const char *key = http_req_header(c->req, "idempotency-key");
    if (key == NULL || !(c->route->flags & API_IDEMPOTENT))
        return 0;
    size_t n = strlen(key);
    int ok = n > 0 && n <= IDEM_KEY_MAX;
    for (size_t i = 0; i < n && ok; i++)
        ok = key[i] > 0x20 && key[i] < 0x7f;
    if (!ok) {
        api_error(c, 422, "invalid", "Idempotency-Key",
                  "Idempotency-Key must be 1 to %d visible ASCII characters", IDEM_KEY_MAX);
        return 1;
    }
    size_t len = strlen(c->req->method_name) + strlen(c->req->path) + n + 3;
    char *scoped = edm_xmalloc(len);
    snprintf(scoped, len, "%s %s %s", c->req->method_name, c->req->path, key);
    for (inflight *f = c->api->idem->head; f; f = f->next)
        if (strcmp(f->key, scoped) == 0) {
            edm_free(scoped);
            api_error(c, 409, "idempotency_in_progress", "Idempotency-Key",
                      "a request with this Idempotency-Key is still running");
            return 1;
        }
    edm_store *st = c->api->store;
    int status = 0;
    char *body = NULL;
    int rc = st->ops->idem_get(st, scoped, &status, &body);
    if (rc == 0 && body != NULL && c->route->stream == NULL) {
        /* the same request again? (a different body is a misuse of the key) */
        char fpkey[600], hex[2 * SHA256_DIGEST_LENGTH + 1];
        fingerprint(c, fpkey, sizeof fpkey, scoped, hex);
        int fst = 0;
        char *fp = NULL;
        if (st->ops->idem_get(st, fpkey, &fst, &fp) == 0 && fp && strcmp(fp, hex) != 0) {
            free(fp);
            free(body);
            edm_free(scoped);
            api_error(c, 422, "idempotency_mismatch", "Idempotency-Key",
                      "this Idempotency-Key was used with a different request body");
            return 1;
        }
        free(fp);
    }
    if (rc == 0 && body != NULL) {
        edm_free(scoped);
        c->answered = 1;
        http_respond(c->req, status, "application/json", "Idempotent-Replayed: true\r\n", body,
                     strlen(body));
        free(body);
        return 1;
    }
    free(body);
    if (rc != 0 && rc != EDM_ENOTFOUND) {
        edm_free(scoped);
        api_store_error(c, rc, "idempotency key");
        return 1;
    }
    inflight *f = edm_xmalloc(sizeof *f);
    f->key = scoped;
    f->next = c->api->idem->head;
    c->api->idem->head = f;
    c->idem_key = edm_xstrdup(scoped);
    return 0;
}

void api_idem_end(api_call *c, int status, const char *body)
{
    if (c->idem_key == NULL || status < 200 || status > 299)
        return;
    edm_store *st = c->api->store;
    int rc = st->ops->idem_put(st, c->idem_key, status, body);
    if (rc == 0 && c->route->stream == NULL) {
        char fpkey[600], hex[2 * SHA256_DIGEST_LENGTH + 1];
        fingerprint(c, fpkey, sizeof fpkey, c->idem_key, hex);
        rc = st->ops->idem_put(st, fpkey, 0, hex);
    }
    if (rc != 0)
        edm_log(EDM_LOG_WARN, "api", "req=%llu idempotency_put_failed=\"%s\"",
                (unsigned long long)c->req->id, edm_strerror(rc));
}

void api_idem_release(api_call *c)
{
    if (c->idem_key == NULL)
        return;
    for (inflight **p = &c->api->idem->head; *p; p = &(*p)->next)
        if (strcmp((*p)->key, c->idem_key) == 0) {
            inflight *f = *p;
            *p = f->next;
            edm_free(f->key);
            edm_free(f);
            break;
        }
    edm_free(c->idem_key);
    c->idem_key = NULL;
}
