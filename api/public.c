/*
 * api/public.c: the public listener (see public.h): its own http_app on
 * the HTTP core, two routes on /u/{token}, small HTML answers; GET
 * /c/{token} (click: 302) and GET /o/{token}.gif (open: a 1x1 GIF) through
 * engine/feedback/engagement.c (HEAD answers the same and records
 * nothing). Bodies are buffered and capped at 4 KiB; a token is checked
 * with the HMAC secret before anything is read from the store. Stopping
 * writes the opens and clicks still queued.
 */
#include "api/public.h"
#include "api/api_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/feedback/engagement.h"
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
    edm_engagement *engagement;
    edm_buf url, hdr; /* a click's target and Location header, reused */
    void (*done)(void *);
    void *done_arg;
};

static void page(http_req *req, int status, const char *title, const char *body_html);
static void public_free(void *arg);

/* A transparent 1x1 GIF. */
static const unsigned char pixel_gif[] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

#define NO_CACHE                                                                                   \
    "Cache-Control: no-store, no-cache, must-revalidate, private, max-age=0\r\n"                   \
    "Pragma: no-cache\r\nExpires: 0\r\n"

/* The tracking token of "/c/<token>" or "/o/<token>.gif", or NULL. */
static const char *track_token_of(const char *path, char kind, size_t *n)
{
    if (path[0] != '/' || path[1] != kind || path[2] != '/')
        return NULL;
    const char *t = path + 3;
    *n = strlen(t);
    if (kind == 'o') {
        if (*n < 5 || strcmp(t + *n - 4, ".gif") != 0)
            return NULL;
        *n -= 4;
    }
    if (*n == 0 || *n >= EDM_TRACK_TOKEN_MAX || memchr(t, '/', *n))
        return NULL;
    return t;
}

/* The client's address without its port ("ip:port", "[v6]:port"). */
static void peer_ip(const http_req *req, char *out, size_t len)
{
    const char *p = req->peer ? req->peer : "";
    const char *colon = strrchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
        p++;
        n -= 2;
    }
    snprintf(out, len, "%.*s", (int)n, p);
}

static void on_track(edm_public *pub, http_req *req, char kind)
{
    size_t n = 0;
    const char *tok = track_token_of(req->path, kind, &n);
    char ip[64];
    peer_ip(req, ip, sizeof ip);
    const char *ua = http_req_header(req, "User-Agent");
    int64_t now = edm_time_now();
    edm_buf *url = &pub->url;
    edm_buf_reset(url);
    /* HEAD answers the same head and records nothing (a link checker's
     * HEAD is no reader's click). */
    int record = req->method == HTTP_GET;
    int rc = tok == NULL || pub->engagement == NULL ? EDM_ENOTFOUND
             : kind == 'c' ? edm_engagement_click(pub->engagement, tok, n, ua, ip, now, url, record)
                           : edm_engagement_open(pub->engagement, tok, n, ua, ip, now, record);
    if (rc == EDM_ENOTFOUND) {
        page(req, 404, "Not found", "<p>No such page.</p>");
    } else if (rc != 0) {
        edm_log(EDM_LOG_ERROR, "public", "event=track_failed path=%.60s error=%s", req->path,
                edm_strerror(rc));
        page(req, 503, "Try again later", "<p>Please try again in a moment.</p>");
    } else if (kind == 'o') {
        http_respond(req, 200, "image/gif", NO_CACHE, (const char *)pixel_gif, sizeof pixel_gif);
    } else {
        edm_buf *h = &pub->hdr;
        edm_buf_reset(h);
        if (edm_buf_append_str(h, "Location: ") != 0 || edm_buf_append(h, url->data, url->len) ||
            edm_buf_append_str(h, "\r\n" NO_CACHE) != 0) {
            page(req, 503, "Try again later", "<p>Please try again in a moment.</p>");
        } else {
            http_respond(req, 302, "text/plain", edm_buf_cstr(h), "redirecting\n", 12);
        }
    }
}

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
    if (track_token_of(req->path, 'c', &n) || track_token_of(req->path, 'o', &n)) {
        if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
            http_respond(req, 405, "text/plain", "Allow: GET\r\n", "method not allowed\n", 19);
            return 1;
        }
        req->body_mode = HTTP_BODY_BUFFER;
        return 0;
    }
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

/* Finds the first n bytes of needle in hay[0..len), or NULL. */
static const char *find_bytes(const char *hay, size_t len, const char *needle, size_t n)
{
    return n && len >= n ? memmem(hay, len, needle, n) : NULL;
}

/* multipart/form-data (RFC 7578), which RFC 8058 3.1 says the one-click
 * POST SHOULD use: a part named List-Unsubscribe whose value is One-Click.
 * ctype is the request's Content-Type. */
static int one_click_multipart(const char *ctype, const char *b, size_t len)
{
    const char *bp = ctype ? strcasestr(ctype, "boundary=") : NULL;
    if (bp == NULL || strncasecmp(ctype, "multipart/form-data", 19) != 0)
        return 0;
    bp += 9;
    char delim[80] = "\r\n--"; /* CRLF, "--", the boundary (RFC 2046: 1-70 chars) */
    size_t dl = 4;
    int quoted = *bp == '"';
    for (bp += quoted; *bp && dl + 1 < sizeof delim; bp++) {
        if (quoted ? *bp == '"' : (*bp == ';' || *bp == ' ' || *bp == '\t'))
            break;
        delim[dl++] = *bp;
    }
    if (dl == 4 || (quoted && *bp != '"'))
        return 0;
    const char *end = b + len, *p;
    if (len >= dl - 2 && memcmp(b, delim + 2, dl - 2) == 0)
        p = b + dl - 2; /* the body opens with the first delimiter */
    else if ((p = find_bytes(b, len, delim, dl)) != NULL)
        p += dl; /* after a preamble */
    else
        return 0;
    /* p: just after a delimiter. */
    while (end - p >= 2 && !(p[0] == '-' && p[1] == '-')) {
        const char *eol = find_bytes(p, (size_t)(end - p), "\r\n", 2);
        const char *hend = eol ? find_bytes(eol, (size_t)(end - eol), "\r\n\r\n", 4) : NULL;
        if (hend == NULL)
            return 0;
        const char *v = hend + 4;
        const char *next = find_bytes(v, (size_t)(end - v), delim, dl);
        if (next == NULL)
            return 0;
        char hdr[512]; /* the part's header fields, with the CRLF before them */
        size_t hl = (size_t)(hend - eol) + 2;
        snprintf(hdr, sizeof hdr, "%.*s", (int)(hl < sizeof hdr ? hl : sizeof hdr - 1), eol);
        if ((strcasestr(hdr, "name=\"List-Unsubscribe\"") ||
             strcasestr(hdr, "name=List-Unsubscribe\r") ||
             strcasestr(hdr, "name=List-Unsubscribe;")) &&
            next - v == 9 && memcmp(v, "One-Click", 9) == 0)
            return 1;
        p = next + dl;
    }
    return 0;
}

static void on_complete(void *ctx, http_req *req)
{
    edm_public *pub = ctx;
    size_t n = 0;
    if (req->path[0] == '/' && (req->path[1] == 'c' || req->path[1] == 'o') &&
        req->path[2] == '/') {
        on_track(pub, req, req->path[1]);
        return;
    }
    const char *tok = token_of(req->path, &n);
    edm_fb_ctx fc = {pub->store, pub->secret, pub->secret_len};
    int64_t id;
    if (tok == NULL || edm_feedback_unsub_token(&fc, tok, n, &id) != 0) {
        page(req, 404, "Not found", "<p>This unsubscribe link is not valid.</p>");
        return;
    }
    if (req->method == HTTP_GET) {
        /* No action: the form posts to the page's own URL, which stays
         * right behind a proxy that serves base_url under a path. */
        page(req, 200, "Unsubscribe",
             "<p>Do you want to stop receiving these emails?</p>"
             "<form method=\"post\">"
             "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
             "<button type=\"submit\">Unsubscribe</button></form>");
        return;
    }
    if (!one_click_body(edm_buf_cstr(&req->body)) &&
        !one_click_multipart(http_req_header(req, "Content-Type"), req->body.data, req->body.len)) {
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
    if (cfg->base_url) {
        edm_engagement_opts eo = {.loop = loop,
                                  .store = store,
                                  .secret = cfg->secret,
                                  .secret_len = cfg->secret_len,
                                  .base_url = cfg->base_url,
                                  .unsub_url = cfg->unsub_url,
                                  .machine_ips = cfg->machine_ips,
                                  .nmachine_ips = cfg->nmachine_ips,
                                  .machine_open_seconds = cfg->machine_open_seconds,
                                  .db = cfg->db};
        pub->engagement = edm_engagement_new(&eo);
    }
    http_limits lim = {
        .max_header = 16 * 1024,
        .max_body = 4096,
        .max_buffered_body = 4096,
        .header_timeout_ms = 10000,
        .idle_timeout_ms = 30000,
        .min_body_rate = 256,
        .body_window_ms = 10000,
        .max_connections = 1024,
        /* Image proxies (Gmail's, Apple's prefetch) fetch for many readers
         * from few addresses (docs/tracking.md, "Speed"). */
        .max_per_ip = 256,
    };
    http_app app = {pub, on_head, NULL, on_complete};
    rc = http_server_start(loop, (struct sockaddr *)&ss, &lim, &app, &pub->http, err, errlen);
    if (rc != 0) {
        edm_engagement_close(pub->engagement, public_free, pub);
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

static void public_free(void *arg)
{
    edm_public *pub = arg;
    edm_buf_free(&pub->url);
    edm_buf_free(&pub->hdr);
    edm_free(pub);
}

static void on_closed(void *arg)
{
    edm_public *pub = arg;
    void (*done)(void *) = pub->done;
    void *done_arg = pub->done_arg;
    public_free(pub);
    if (done)
        done(done_arg);
}

/* The listener is closed: the queued opens and clicks are written, then
 * the engagement state goes. */
static void on_stopped(void *arg)
{
    edm_public *pub = arg;
    edm_engagement_close(pub->engagement, on_closed, pub);
}

void edm_public_stop(edm_public *p, void (*done)(void *arg), void *arg)
{
    p->done = done;
    p->done_arg = arg;
    http_server_stop(p->http, on_stopped, p);
}
