/*
 * api/public.c: the public listener (see public.h): its own http_app on
 * the HTTP core, two routes on /u/{token}, small HTML answers. Bodies are
 * buffered and capped at 4 KiB; a token is checked with the HMAC secret
 * before anything is read from the store.
 */
#include "api/public.h"
#include "api/api_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/feedback/feedback.h"
#include "engine/message/verp.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>

struct edm_public {
    http_server *http;
    edm_store *store;
    unsigned char secret[256];
    size_t secret_len;
    void (*done)(void *);
    void *done_arg;
};

static void page(http_req *req, int status, const char *title, const char *body_html)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf,
                     "<!doctype html><html><head><meta charset=\"utf-8\">"
                     "<meta name=\"robots\" content=\"noindex\"><title>%s</title></head>"
                     "<body><h1>%s</h1>%s</body></html>\n",
                     title, title, body_html);
    http_respond(req, status, "text/html; charset=utf-8", "Cache-Control: no-store\r\n", buf,
                 (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* The token of "/u/<token>", or NULL. */
static const char *token_of(const char *path, size_t *n)
{
    if (strncmp(path, "/u/", 3) != 0)
        return NULL;
    const char *t = path + 3;
    *n = strlen(t);
    if (*n == 0 || *n >= EDM_VERP_TOKEN_MAX || strchr(t, '/'))
        return NULL;
    return t;
}

static int on_head(void *ctx, http_req *req)
{
    (void)ctx;
    size_t n = 0;
    if (token_of(req->path, &n) == NULL) {
        page(req, 404, "Not found", "<p>No such page.</p>");
        return 1;
    }
    if (req->method != HTTP_GET && req->method != HTTP_POST) {
        http_respond(req, 405, "text/plain", "Allow: GET, POST\r\n", "method not allowed\n", 19);
        return 1;
    }
    req->body_mode = HTTP_BODY_BUFFER;
    return 0;
}

static int one_click_body(const char *b)
{
    /* application/x-www-form-urlencoded: List-Unsubscribe=One-Click among
     * the pairs (RFC 8058 3.1). */
    const char *want = "List-Unsubscribe=One-Click";
    size_t wl = strlen(want);
    for (const char *p = b; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL)
        if (strncmp(p, want, wl) == 0 &&
            (p[wl] == '\0' || p[wl] == '&' || p[wl] == '\r' || p[wl] == '\n'))
            return 1;
    return 0;
}

static void on_complete(void *ctx, http_req *req)
{
    edm_public *pub = ctx;
    size_t n = 0;
    const char *tok = token_of(req->path, &n);
    edm_fb_ctx fc = {pub->store, pub->secret, pub->secret_len};
    int64_t id;
    if (tok == NULL || edm_feedback_unsub_token(&fc, tok, n, &id) != 0) {
        page(req, 404, "Not found", "<p>This unsubscribe link is not valid.</p>");
        return;
    }
    if (req->method == HTTP_GET) {
        char html[512];
        snprintf(html, sizeof html,
                 "<p>Do you want to stop receiving these emails?</p>"
                 "<form method=\"post\" action=\"/u/%.*s\">"
                 "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
                 "<button type=\"submit\">Unsubscribe</button></form>",
                 (int)n, tok);
        page(req, 200, "Unsubscribe", html);
        return;
    }
    if (!one_click_body(edm_buf_cstr(&req->body))) {
        page(req, 400, "Bad request", "<p>The body must be List-Unsubscribe=One-Click.</p>");
        return;
    }
    edm_fb_result r;
    int rc = edm_feedback_unsubscribe(&fc, tok, n, edm_time_now(), &r);
    if (rc == EDM_ENOTFOUND) {
        page(req, 404, "Not found", "<p>This unsubscribe link is not valid.</p>");
        return;
    }
    if (rc != 0) {
        edm_log(EDM_LOG_ERROR, "public", "event=unsubscribe_failed delivery=%lld error=%s",
                (long long)id, edm_strerror(rc));
        page(req, 503, "Try again later", "<p>Please try again in a moment.</p>");
        return;
    }
    page(req, 200, "Unsubscribed", "<p>You will not receive these emails any more.</p>");
}

int edm_public_start(uv_loop_t *loop, const edm_public_config *cfg, edm_store *store,
                     edm_public **out, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int rc = api_parse_listen(cfg->listen, &ss, err, errlen, "public.listen");
    if (rc != 0)
        return rc;
    if (cfg->secret_len < EDM_VERP_SECRET_MIN ||
        cfg->secret_len > sizeof((edm_public *)0)->secret) {
        snprintf(err, errlen, "public: no usable unsubscribe secret");
        return EDM_EINVAL;
    }
    edm_public *pub = edm_xcalloc(1, sizeof *pub);
    pub->store = store;
    memcpy(pub->secret, cfg->secret, cfg->secret_len);
    pub->secret_len = cfg->secret_len;
    http_limits lim = {
        .max_header = 16 * 1024,
        .max_body = 4096,
        .max_buffered_body = 4096,
        .header_timeout_ms = 10000,
        .idle_timeout_ms = 30000,
        .min_body_rate = 256,
        .body_window_ms = 10000,
        .max_connections = 1024,
        .max_per_ip = 32,
    };
    http_app app = {pub, on_head, NULL, on_complete};
    rc = http_server_start(loop, (struct sockaddr *)&ss, &lim, &app, &pub->http, err, errlen);
    if (rc != 0) {
        edm_free(pub);
        return rc;
    }
    edm_log(EDM_LOG_INFO, "public", "listen=%s port=%d", cfg->listen, http_server_port(pub->http));
    *out = pub;
    return 0;
}

int edm_public_port(const edm_public *p)
{
    return http_server_port(p->http);
}

static void on_stopped(void *arg)
{
    edm_public *pub = arg;
    void (*done)(void *) = pub->done;
    void *done_arg = pub->done_arg;
    edm_free(pub);
    if (done)
        done(done_arg);
}

void edm_public_stop(edm_public *p, void (*done)(void *arg), void *arg)
{
    p->done = done;
    p->done_arg = arg;
    http_server_stop(p->http, on_stopped, p);
}
