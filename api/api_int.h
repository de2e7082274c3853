/*
 * api/api_int.h: shared by the api/ files only: the API object, the
 * per-request call context handed to resource handlers, the reply and
 * field-validation helpers (reply.c), auth (auth.c), idempotency
 * (idempotency.c) and the handlers of each resource file.
 */
#ifndef EDM_API_INT_H
#define EDM_API_INT_H

#include "api/api.h"
#include "api/http.h"
#include "engine/base/buf.h"

#include <jansson.h>
#include <sys/socket.h>
#include <stdint.h>

typedef struct api_auth api_auth;
typedef struct api_idem api_idem;

struct edm_api {
    uv_loop_t *loop;
    http_server *http;
    edm_store *store;
    edm_api_engine engine;
    api_auth *auth;
    api_idem *idem;
    void (*done)(void *);
    void *done_arg;
};

typedef struct api_call api_call;

/* A streamed-body route (recipient upload): begin at the head (may answer
 * and return nonzero), body pieces, end answers. State hangs off the call. */
typedef struct api_stream_in {
    int (*begin)(api_call *c);
    int (*body)(api_call *c, const char *data, size_t len);
    void (*end)(api_call *c);
    void (*free_state)(void *state);
} api_stream_in;

enum api_route_flags {
    API_NOAUTH = 1,     /* no key needed */
    API_JSON = 2,       /* a JSON object body is required */
    API_JSON_OPT = 4,   /* a JSON object body is allowed (empty = {}) */
    API_IDEMPOTENT = 8, /* honours Idempotency-Key */
    API_CSV = 16,       /* a text/csv body is taken as it is instead (c->body NULL) */
};

typedef struct api_route {
    int method;          /* enum http_method */
    const char *pattern; /* "/v1/campaigns/{id}/stats" */
    void (*handle)(api_call *c);
    unsigned flags;
    const api_stream_in *stream; /* instead of handle */
} api_route;

struct api_call {
    edm_api *api;
    http_req *req;
    const api_route *route;
    int64_t id;     /* the {id} of the path, 0 if none */
    json_t *body;   /* API_JSON / API_JSON_OPT: the parsed object */
    char *idem_key; /* scoped Idempotency-Key, NULL if none */
    int answered;   /* an answer is out (or streaming) */
    int deferred;   /* the handler answers later, from the loop (work off the loop) */
    void *state;    /* handler state (uploads, streams) */
    void (*free_state)(void *state);
    /* Optional: what the handler did with a body the HTTP layer cuts
     * (http_req.app_note). */
    void (*note)(void *state, char *buf, size_t len);
};

/* The routes (router.c) and their number, for the OpenAPI check. */
extern const api_route api_routes[];
extern const size_t api_nroutes;

/* ---- api.c ---- */
/* "127.0.0.1:8025", "[::1]:8025", "localhost:8025" into ss; EDM_EINVAL
 * with "<what>: not an address:port" in err. */
int api_parse_listen(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen,
                     const char *what);

/* ---- reply.c ---- */
/* Answers with a JSON value (taking the reference) and status. */
void api_reply(api_call *c, int status, json_t *v);
/* Answers with no body (204). */
void api_reply_empty(api_call *c, int status);
/* Answers {"error":{"code","message","field"}}. field may be NULL. */
void api_error(api_call *c, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Maps a store error to 404 (what names the object: "campaign"), 409 or
 * 500. */
void api_store_error(api_call *c, int rc, const char *what);
/* {"items": items, "next": "N" | null} (takes items). */
json_t *api_list(json_t *items, int64_t next);
/* The same for one page of a list held whole (takes all): the items after
 * cursor `after`, at most limit. by_id: all is in ascending "id" order and
 * the cursor is the last id shown; else the cursor is a position (for
 * lists that only grow at the end, or that are small and live). */
json_t *api_list_page(json_t *all, int64_t after, int limit, int by_id);
/* The same error body, for answers made outside a call (http, auth). */
char *api_error_body(const char *code, const char *field, const char *message, size_t *len);

/* Query string: copies the percent-decoded value of name into out. Returns
 * 1 if present, 0 if absent, -1 if too long or malformed (NUL). */
int api_query(const api_call *c, const char *name, char *out, size_t outlen);
/* limit (1..1000, default 100) and after (cursor, default 0). Answers 422
 * and returns -1 on a bad value. */
int api_paging(api_call *c, int *limit, int64_t *after);

/* Field checks on a JSON object body: each answers 422 naming the field
 * and returns -1 on a wrong type or value; 0 when absent (and not
 * required), 1 when present and valid. */
int api_field_string(api_call *c, json_t *obj, const char *name, int required, size_t maxlen,
                     const char **out);
int api_field_int(api_call *c, json_t *obj, const char *name, int required, int64_t min,
                  int64_t max, int64_t *out);
/* RFC 3339 string or null (null gives *out = -1). */
int api_field_time(api_call *c, json_t *obj, const char *name, int required, int64_t *out);
/* Refuses keys not in allowed (NULL-terminated). */
int api_fields_known(api_call *c, json_t *obj, const char *const *allowed);
/* A string value must not hold NUL or (for header-like values) CR/LF. */
int api_check_text(api_call *c, const char *field, json_t *s, int single_line);

/* ---- auth.c ---- */
/* Reads the keys from env var keys_env. Returns the number of keys. */
int api_auth_load(api_auth **out, const char *keys_env);
void api_auth_free(api_auth *a);
int api_auth_nkeys(const api_auth *a);
/* 1 if the Authorization header carries a configured key (constant time
 * over the candidate keys), 0 if not. */
int api_auth_check(const api_auth *a, const char *authorization);

/* ---- idempotency.c ---- */
api_idem *api_idem_new(void);
void api_idem_free(api_idem *i);
/* Before a creating request runs. Returns 0 to run it (c->idem_key set if
 * a key was given), 1 if it answered (replay, key in use, bad key). */
int api_idem_begin(api_call *c);
/* After the answer status/body is known: remembers 2xx answers. */
void api_idem_end(api_call *c, int status, const char *body);
/* The request ended (answered or aborted): frees the in-flight mark. */
void api_idem_release(api_call *c);

/* ---- preview.c ---- */
/* Compiles a template body (subject, html, text, partials) to check it;
 * answers 422 naming the part and position and returns -1 if it fails. */
int api_template_compile_check(api_call *c, json_t *tpl);

/* ---- resources ---- */
/* Field checks shared by campaigns and messages (api/routes/campaigns.c):
 * a From / Reply-To mailbox; a body's from (required or not), reply_to
 * and pool (one the engine has); a template_id that names a stored
 * template (a store failure answered as api_store_error); a headers
 * object; a tags array. Each answers 422 naming the field and returns -1
 * when wrong. */
int api_check_mailbox(api_call *c, const char *field, const char *v);
int api_check_sender(api_call *c, json_t *b, int from_required);
int api_check_template(api_call *c, int64_t id);
int api_check_headers(api_call *c, json_t *h);
int api_check_tags(api_call *c, json_t *t);
/* `track` of a campaign or message: absent, null or {"opens": bool,
 * "clicks": bool} (docs/tracking.md); *bits gets EDM_TRACK_* bits.
 * Answers 422 and returns -1 when wrong. */
int api_check_track(api_call *c, json_t *b, unsigned *bits);

/* The attachments of POST /v1/messages (api/routes/messages_attach.c):
 * items[i] points into data[i] (the decoded bytes) and into the body's
 * strings, so the body outlives them. */
#define API_MAX_ATTACHMENTS      20
#define API_MAX_ATTACHMENT_BYTES (10 * 1024 * 1024) /* decoded, all of them */
#define API_MAX_FILENAME         255                /* bytes of UTF-8 */
typedef struct api_attachments {
    edm_attachment_new *items;
    edm_buf *data;
    size_t n;
} api_attachments;
/* Checks and decodes b's attachments (absent or null: none). Returns 0,
 * or -1 having answered 422 naming the field (out is then empty). */
int api_message_attachments(api_call *c, json_t *b, api_attachments *out);
/* Inline parts (a content_id) need an HTML body: b's html, or the html of
 * template template_id (when not 0). Returns 0, or -1 having answered 422
 * naming the first inline part's content_id. */
int api_message_attachments_inline(api_call *c, json_t *b, int64_t template_id,
                                   const api_attachments *a);
void api_attachments_free(api_attachments *a);

void api_messages_create(api_call *c);
void api_messages_list(api_call *c);
void api_messages_get(api_call *c);
void api_health_get(api_call *c);
void api_openapi_get(api_call *c);
void api_templates_create(api_call *c);
void api_templates_list(api_call *c);
void api_templates_get(api_call *c);
void api_templates_put(api_call *c);
void api_templates_delete(api_call *c);
void api_templates_preview(api_call *c);
void api_campaigns_create(api_call *c);
void api_campaigns_list(api_call *c);
void api_campaigns_get(api_call *c);
void api_campaigns_patch(api_call *c);
void api_campaigns_delete(api_call *c);
void api_campaigns_schedule(api_call *c);
void api_campaigns_pause(api_call *c);
void api_campaigns_resume(api_call *c);
void api_campaigns_cancel(api_call *c);
void api_campaigns_stats(api_call *c);
extern const api_stream_in api_recipients_upload;
void api_receipts_list(api_call *c);
void api_receipts_ndjson(api_call *c);
void api_receipts_events(api_call *c);
void api_webhooks_create(api_call *c);
void api_webhooks_list(api_call *c);
void api_webhooks_delete(api_call *c);
void api_suppressions_list(api_call *c);
void api_suppressions_create(api_call *c);
void api_suppressions_delete(api_call *c);
void api_pools_get(api_call *c);
void api_nodes_list(api_call *c);
void api_suppressions_csv(api_call *c);
void api_suppressions_import(api_call *c);
void api_events_list(api_call *c);

#endif
