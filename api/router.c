/*
 * api/router.c: the route table of the JSON API and the glue between the
 * HTTP layer (http.c) and the resource handlers: route matching (404 and
 * 405 with Allow), authentication (401), Idempotency-Key, body modes
 * (JSON bodies buffered and parsed, with the position of a syntax error;
 * recipient uploads streamed), and the per-request call state.
 *
 * Entry points: api_routes / api_nroutes (the table, also checked against
 * openapi.json by a test), api_router_app (the http_app for http.c).
 * Every request gets exactly one answer; handlers answer through reply.c.
 */
#include "api/api_int.h"
#include "api/router.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GET    HTTP_GET
#define POST   HTTP_POST
#define PUT    HTTP_PUT
#define PATCH  HTTP_PATCH
#define DELETE HTTP_DELETE

const api_route api_routes[] = {
    {GET, "/v1/health", api_health_get, API_NOAUTH, NULL},
    {GET, "/v1/openapi.json", api_openapi_get, 0, NULL},
    {POST, "/v1/templates", api_templates_create, API_JSON | API_IDEMPOTENT, NULL},
    {GET, "/v1/templates", api_templates_list, 0, NULL},
    {GET, "/v1/templates/{id}", api_templates_get, 0, NULL},
    {PUT, "/v1/templates/{id}", api_templates_put, API_JSON, NULL},
    {DELETE, "/v1/templates/{id}", api_templates_delete, 0, NULL},
    {POST, "/v1/templates/{id}/preview", api_templates_preview, API_JSON_OPT, NULL},
    {POST, "/v1/campaigns", api_campaigns_create, API_JSON | API_IDEMPOTENT, NULL},
    {GET, "/v1/campaigns", api_campaigns_list, 0, NULL},
    {GET, "/v1/campaigns/{id}", api_campaigns_get, 0, NULL},
    {PATCH, "/v1/campaigns/{id}", api_campaigns_patch, API_JSON, NULL},
    {DELETE, "/v1/campaigns/{id}", api_campaigns_delete, 0, NULL},
    {POST, "/v1/campaigns/{id}/recipients", NULL, API_IDEMPOTENT, &api_recipients_upload},
    {POST, "/v1/campaigns/{id}/schedule", api_campaigns_schedule, API_JSON_OPT, NULL},
    {POST, "/v1/campaigns/{id}/pause", api_campaigns_pause, API_JSON_OPT, NULL},
    {POST, "/v1/campaigns/{id}/resume", api_campaigns_resume, API_JSON_OPT, NULL},
    {POST, "/v1/campaigns/{id}/cancel", api_campaigns_cancel, API_JSON_OPT, NULL},
    {GET, "/v1/campaigns/{id}/stats", api_campaigns_stats, 0, NULL},
    {GET, "/v1/campaigns/{id}/receipts", api_receipts_list, 0, NULL},
    {GET, "/v1/campaigns/{id}/receipts.ndjson", api_receipts_ndjson, 0, NULL},
    {GET, "/v1/receipts/{id}/events", api_receipts_events, 0, NULL},
    {GET, "/v1/suppressions", api_suppressions_list, 0, NULL},
    {POST, "/v1/suppressions", api_suppressions_create, API_JSON | API_CSV | API_IDEMPOTENT, NULL},
    {GET, "/v1/suppressions.csv", api_suppressions_csv, 0, NULL},
    {GET, "/v1/events", api_events_list, 0, NULL},
    {DELETE, "/v1/suppressions", api_suppressions_delete, API_JSON_OPT, NULL},
    {GET, "/v1/pools", api_pools_get, 0, NULL},
    {GET, "/v1/nodes", api_nodes_list, 0, NULL},
    {POST, "/v1/messages", api_messages_create, API_JSON | API_IDEMPOTENT, NULL},
    {GET, "/v1/messages", api_messages_list, 0, NULL},
    {GET, "/v1/messages/{id}", api_messages_get, 0, NULL},
    {POST, "/v1/webhooks", api_webhooks_create, API_JSON, NULL},
    {GET, "/v1/webhooks", api_webhooks_list, 0, NULL},
    {DELETE, "/v1/webhooks/{id}", api_webhooks_delete, 0, NULL},
};
const size_t api_nroutes = sizeof api_routes / sizeof api_routes[0];

/* 1 if path matches pattern; {id} takes a positive decimal id (a segment
 * that is not one still matches, with *id = -1: "no such object"). */
int api_route_match(const char *pattern, const char *path, int64_t *id)
{
    *id = 0;
    while (*pattern && *path) {
        if (strncmp(pattern, "{id}", 4) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0)
                return 0;
            int64_t v = 0;
            int ok = n <= 18;
            for (size_t i = 0; i < n && ok; i++) {
                ok = path[i] >= '0' && path[i] <= '9';
                v = v * 10 + (path[i] - '0');
            }
            *id = ok && v > 0 ? v : -1;
            pattern += 4;
            path += n;
            continue;
        }
        if (*pattern != *path)
            return 0;
        pattern++, path++;
    }
    return *pattern == '\0' && *path == '\0';
}

static void call_free(void *p)
{
    api_call *c = p;
    api_idem_release(c);
    if (c->free_state && c->state)
        c->free_state(c->state);
    json_decref(c->body);
    edm_free(c);
}

/* Answers an error outside a call's handler (routing, auth). */
static int refuse(api_call *c, int status, const char *code, const char *extra_allow,
                  const char *msg)
{
    if (extra_allow == NULL) {
        api_error(c, status, code, NULL, "%s", msg);
        return 1;
    }
    size_t len;
    char *body = api_error_body(code, NULL, msg, &len);
    c->answered = 1;
    http_respond(c->req, status, "application/json", extra_allow, body, len);
    free(body);
    return 1;
}

/* The route's note on what it did with a body the HTTP layer cuts. */
static void call_note(void *app_data, char *buf, size_t len)
{
    api_call *c = app_data;
    if (c->note && c->state)
        c->note(c->state, buf, len);
}

static int on_head(void *ctx, http_req *req)
{
    edm_api *api = ctx;
    api_call *c = edm_xcalloc(1, sizeof *c);
    c->api = api;
    c->req = req;
    req->app_data = c;
    req->app_free = call_free;
    req->app_note = call_note;
    req->body_mode = HTTP_BODY_BUFFER;

    const api_route *route = NULL;
    char allow[128] = "";
    int64_t id = 0;
    for (size_t i = 0; i < api_nroutes; i++) {
        int64_t rid;
        if (!api_route_match(api_routes[i].pattern, req->path, &rid))
            continue;
        if (api_routes[i].method == req->method) {
            route = &api_routes[i];
            id = rid;
            break;
        }
        size_t l = strlen(allow);
        snprintf(allow + l, sizeof allow - l, "%s%s", l ? ", " : "",
                 http_method_str(api_routes[i].method));
    }
    c->route = route;
    c->id = id;
    if (route == NULL || !(route->flags & API_NOAUTH)) {
        if (api_auth_nkeys(api->auth) == 0)
            return refuse(c, 401, "unauthorized", NULL,
                          "no API key is configured: start edm with EDM_API_KEYS=<key> (or the "
                          "variable named by api.keys_env) in its environment");
        if (!api_auth_check(api->auth, http_req_header(req, "authorization")))
            return refuse(c, 401, "unauthorized", NULL,
                          "missing or wrong API key (Authorization: Bearer <key>)");
    }
    if (route == NULL && allow[0]) {
        char hdr[160];
        snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
        return refuse(c, 405, "method_not_allowed", hdr, "method not allowed on this path");
    }
    if (route == NULL)
        return refuse(c, 404, "not_found", NULL, "no such route");
    if (route->stream) {
        req->body_mode = HTTP_BODY_STREAM;
        if (api_idem_begin(c) != 0)
            return 1;
        return route->stream->begin(c) != 0 || c->answered;
    }
    return 0;
}

static int on_body(void *ctx, http_req *req, const char *data, size_t len)
{
    (void)ctx;
    api_call *c = req->app_data;
    return c->route->stream->body(c, data, len) != 0 || c->answered;
}

/* Parses the buffered body for API_JSON / API_JSON_OPT routes. */
static int parse_body(api_call *c)
{
    http_req *req = c->req;
    const char *ct = http_req_header(req, "content-type");
    if ((c->route->flags & API_CSV) && ct && strncasecmp(ct, "text/csv", 8) == 0)
        return 0;
    const char *s = edm_buf_cstr(&req->body);
    size_t n = req->body.len;
    size_t blank = 0;
    while (blank < n && strchr(" \t\r\n", s[blank]))
        blank++;
    if (blank == n) {
        if (c->route->flags & API_JSON_OPT) {
            c->body = json_object();
            return 0;
        }
        api_error(c, 400, "malformed_json", NULL, "a JSON object body is required");
        return -1;
    }
    json_error_t je;
    c->body = json_loadb(s, n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    if (c->body == NULL) {
        api_error(c, 400, "malformed_json", NULL,
                  "malformed JSON at line %d, column %d (byte %d): %s", je.line, je.column,
                  je.position, je.text);
        return -1;
    }
    if (!json_is_object(c->body)) {
        api_error(c, 422, "invalid_type", NULL, "the body must be a JSON object");
        return -1;
    }
    return 0;
}

static void on_complete(void *ctx, http_req *req)
{
    (void)ctx;
    api_call *c = req->app_data;
    if (c->route->stream) {
        c->route->stream->end(c);
    } else if (api_idem_begin(c) == 0) {
        if (!(c->route->flags & (API_JSON | API_JSON_OPT)) && req->body.len > 0)
            api_error(c, 400, "unexpected_body", NULL, "this route takes no body");
        else if (!(c->route->flags & (API_JSON | API_JSON_OPT)) || parse_body(c) == 0)
            c->route->handle(c);
    }
    EDM_ASSERT(c->answered || c->deferred);
}

http_app api_router_app(edm_api *api)
{
    http_app app = {api, on_head, on_body, on_complete};
    return app;
}
