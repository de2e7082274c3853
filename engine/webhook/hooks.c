/*
 * engine/webhook/hooks.c: the webhook sender (see hooks.h). libcurl's
 * multi interface driven by the loop, as curl's docs/examples/multi-uv.c
 * shows: CURLMOPT_SOCKETFUNCTION opens a uv_poll_t per socket curl wants
 * watched, CURLMOPT_TIMERFUNCTION arms one uv_timer_t, and both call
 * curl_multi_socket_action; finished transfers are collected from
 * curl_multi_info_read. A second timer ticks over the webhooks and starts
 * a POST for each one that has nothing in flight and something due.
 */
#include "engine/webhook/hooks.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct hook_xfer {
    edm_hooks *h;
    int64_t webhook_id, last_id, first_at;
    int attempts;
    size_t count;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
} hook_xfer;

typedef struct hook_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    edm_hooks *h;
} hook_sock;

struct edm_hooks {
    edm_hooks_opts o;
    CURLM *multi;
    uv_timer_t curl_timer, tick;
    hook_xfer *xfers[64]; /* in flight, one per webhook at most */
    int closing, open_handles;
    void (*done)(void *);
    void *done_arg;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void edm_hooks_signature(const char *secret, int64_t t, const char *body, size_t len, char *out,
                         size_t outlen)
{
    char ts[32];
    int tn = snprintf(ts, sizeof ts, "%lld.", (long long)t);
    unsigned char md[32];
    size_t ml = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (ctx == NULL || !EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)tn) ||
        !EVP_MAC_update(ctx, (const unsigned char *)body, len) ||
        !EVP_MAC_final(ctx, md, &ml, sizeof md))
        EDM_PANIC("HMAC-SHA256 failed");
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    int n = snprintf(out, outlen, "t=%lld,v1=", (long long)t);
    for (size_t i = 0; i < ml && (size_t)n + 3 <= outlen; i++)
        n += snprintf(out + n, outlen - (size_t)n, "%02x", md[i]);
}

static void maybe_done(edm_hooks *h)
{
    if (h->closing && h->open_handles == 0) {
        void (*done)(void *) = h->done;
        void *arg = h->done_arg;
        edm_free(h);
        if (done)
            done(arg);
    }
}

static void timer_closed(uv_handle_t *hd)
{
    edm_hooks *h = hd->data;
    h->open_handles--;
    maybe_done(h);
}

static void sock_closed(uv_handle_t *hd)
{
    hook_sock *s = (hook_sock *)((char *)hd - offsetof(hook_sock, poll));
    edm_hooks *h = s->h;
    edm_free(s);
    h->open_handles--;
    maybe_done(h);
}

static void xfer_free(hook_xfer *x)
{
    curl_multi_remove_handle(x->h->multi, x->easy);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->body); /* json_dumps's */
    edm_free(x);
}

/* A finished POST: ack on 2xx, else retry later or drop past max_age. */
static void finished(edm_hooks *h, hook_xfer *x, CURLcode res)
{
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    edm_store *st = h->o.store;
    int64_t now = edm_time_now();
    if (res == CURLE_OK && status >= 200 && status < 300) {
        st->ops->outbox_ack(st, x->webhook_id, x->last_id);
        edm_log(EDM_LOG_DEBUG, "webhook", "webhook=%lld event=delivered events=%zu",
                (long long)x->webhook_id, x->count);
    } else if (now - x->first_at > h->o.max_age_s) {
        st->ops->outbox_ack(st, x->webhook_id, x->last_id);
        edm_log(EDM_LOG_WARN, "webhook",
                "webhook=%lld event=dropped events=%zu attempts=%d reason=\"older than %llds\"",
                (long long)x->webhook_id, x->count, x->attempts + 1, (long long)h->o.max_age_s);
    } else {
        int64_t delay = h->o.retry_min_s;
        for (int i = 0; i < x->attempts && delay < 3600; i++)
            delay *= 2;
        if (delay > 3600)
            delay = 3600;
        st->ops->outbox_retry(st, x->webhook_id, x->last_id, now + delay);
        edm_log(EDM_LOG_INFO, "webhook",
                "webhook=%lld event=failed status=%ld error=\"%s\" retry_in=%llds",
                (long long)x->webhook_id, status, curl_easy_strerror(res), (long long)delay);
    }
    for (size_t i = 0; i < sizeof h->xfers / sizeof h->xfers[0]; i++)
        if (h->xfers[i] == x)
            h->xfers[i] = NULL;
    xfer_free(x);
}

static void check_done(edm_hooks *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        hook_xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        finished(h, x, m->data.result);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    hook_sock *s = (hook_sock *)((char *)p - offsetof(hook_sock, poll));
    int flags = status < 0 ? CURL_CSELECT_ERR : 0;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    edm_hooks *h = s->h;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
    (void)easy;
    edm_hooks *h = userp;
    hook_sock *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            curl_multi_assign(h->multi, fd, NULL);
            uv_close((uv_handle_t *)&s->poll, sock_closed);
        }
        return 0;
    }
    if (s == NULL) {
        s = edm_xcalloc(1, sizeof *s);
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(h->o.loop, &s->poll, fd) != 0) {
            edm_free(s);
            return -1;
        }
        h->open_handles++;
        curl_multi_assign(h->multi, fd, s);
    }
    int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    edm_hooks *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    edm_hooks *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->curl_timer);
    else
        uv_timer_start(&h->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static void start_post(edm_hooks *h, const edm_webhook_row *w, size_t slot)
{
    edm_store *st = h->o.store;
    hook_xfer *x = edm_xcalloc(1, sizeof *x);
    x->h = h;
    x->webhook_id = w->id;
    int rc = st->ops->outbox_batch(st, w->id, edm_time_now(), h->o.batch, &x->last_id, &x->first_at,
                                   &x->attempts, &x->body, &x->count);
    if (rc != 0 || x->count == 0) {
        free(x->body);
        edm_free(x);
        return;
    }
    char sig[128], hdr[160];
    size_t len = strlen(x->body);
    edm_hooks_signature(w->secret, edm_time_now(), x->body, len, sig, sizeof sig);
    snprintf(hdr, sizeof hdr, "Edm-Signature: %s", sig);
    x->headers = curl_slist_append(NULL, "Content-Type: application/json");
    x->headers = curl_slist_append(x->headers, hdr);
    x->headers = curl_slist_append(x->headers, "Expect:");
    x->easy = curl_easy_init();
    if (x->easy == NULL || x->headers == NULL)
        EDM_PANIC("out of memory (libcurl)");
    curl_easy_setopt(x->easy, CURLOPT_URL, w->url);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, (long)h->o.timeout_s);
    curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "edm-webhooks/1");
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->o.ca_file)
        curl_easy_setopt(x->easy, CURLOPT_CAINFO, h->o.ca_file);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    h->xfers[slot] = x;
    curl_multi_add_handle(h->multi, x->easy);
}

static int in_flight(edm_hooks *h, int64_t id, size_t *free_slot)
{
    *free_slot = SIZE_MAX;
    for (size_t i = 0; i < sizeof h->xfers / sizeof h->xfers[0]; i++) {
        if (h->xfers[i] && h->xfers[i]->webhook_id == id)
            return 1;
        if (h->xfers[i] == NULL && *free_slot == SIZE_MAX)
            *free_slot = i;
    }
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    edm_hooks *h = t->data;
    edm_store *st = h->o.store;
    edm_webhook_row *ws;
    size_t n;
    if (st->ops->webhook_all(st, &ws, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        size_t slot;
        if (!in_flight(h, ws[i].id, &slot) && slot != SIZE_MAX)
            start_post(h, &ws[i], slot);
    }
    edm_webhook_rows_free(ws, n);
}

int edm_hooks_start(const edm_hooks_opts *o, edm_hooks **out)
{
    pthread_once(&curl_once, curl_init_once);
    edm_hooks *h = edm_xcalloc(1, sizeof *h);
    h->o = *o;
    if (!h->o.tick_ms)
        h->o.tick_ms = 500;
    if (!h->o.batch)
        h->o.batch = 100;
    if (!h->o.timeout_s)
        h->o.timeout_s = 10;
    if (!h->o.max_age_s)
        h->o.max_age_s = 86400;
    if (!h->o.retry_min_s)
        h->o.retry_min_s = 10;
    if ((h->multi = curl_multi_init()) == NULL) {
        edm_free(h);
        return EDM_ENOMEM;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    uv_timer_init(o->loop, &h->curl_timer);
    uv_timer_init(o->loop, &h->tick);
    h->curl_timer.data = h->tick.data = h;
    h->open_handles = 2;
    uv_timer_start(&h->tick, on_tick, h->o.tick_ms, h->o.tick_ms);
    *out = h;
    return 0;
}

void edm_hooks_stop(edm_hooks *h, void (*done)(void *arg), void *arg)
{
    h->done = done;
    h->done_arg = arg;
    for (size_t i = 0; i < sizeof h->xfers / sizeof h->xfers[0]; i++)
        if (h->xfers[i]) {
            xfer_free(h->xfers[i]); /* its sockets are closed through on_socket */
            h->xfers[i] = NULL;
        }
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    h->closing = 1;
    uv_timer_stop(&h->tick);
    uv_timer_stop(&h->curl_timer);
    uv_close((uv_handle_t *)&h->tick, timer_closed);
    uv_close((uv_handle_t *)&h->curl_timer, timer_closed);
}
