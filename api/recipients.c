/*
 * api/recipients.c: POST /v1/campaigns/{id}/recipients: a recipient list
 * (JSON array, NDJSON or CSV: see upload.h) streamed into the store as it
 * arrives. Each row's address is validated and normalised (addr.c) and
 * added through the store's batched upload; the store reports duplicates
 * (same address twice in the campaign) and suppressed addresses. Rows that
 * fail are listed in the answer with their line and reason; the others are
 * kept.
 *
 * Answer (200): {"accepted","duplicates","suppressed","rejected":[{line,
 * email, error}], "rejected_total", "rejected_truncated"}. The rejected list
 * keeps the first REJECTED_MAX entries (bounded memory for a 1,000,000-line
 * upload of garbage); rejected_total counts them all.
 *
 * The campaign must be draft, scheduled or paused (409 otherwise). A client
 * that goes away mid-upload keeps the batches already committed; the open
 * batch is rolled back (upload_end(commit=0)).
 */
#include "api/addr.h"
#include "api/api_int.h"
#include "api/upload.h"
#include "engine/alloc.h"
#include "engine/err.h"
#include "engine/lifecycle.h"
#include "engine/log.h"

#include <stdlib.h>
#include <string.h>

#define REJECTED_MAX 10000

typedef struct upload_state {
    api_call *call;
    edm_upload *up;
    edm_upload_parser *parser;
    int64_t accepted, duplicates, suppressed, rejected_total, rows;
    json_t *rejected;
    int failed; /* a store error: answered 500 */
} upload_state;

static void state_free(void *p)
{
    upload_state *u = p;
    if (u->up) {
        int rc = u->call->api->store->ops->upload_end(u->up, 0);
        edm_log(EDM_LOG_INFO, "api",
                "campaign=%lld upload=aborted rows=%lld accepted=%lld rollback_rc=%d",
                (long long)u->call->id, (long long)u->rows, (long long)u->accepted, rc);
    }
    edm_upload_parser_free(u->parser);
    json_decref(u->rejected);
    edm_free(u);
}

static int on_reject(void *ctx, long line, const char *email, const char *error)
{
    upload_state *u = ctx;
    u->rows++;
    u->rejected_total++;
    if (json_array_size(u->rejected) >= REJECTED_MAX)
        return 0;
    json_t *e = email ? json_string(email) : NULL;
    json_t *r = json_pack("{s:I,s:o,s:s}", "line", (json_int_t)line, "email", e ? e : json_null(),
                          "error", error);
    if (r == NULL)
        return EDM_ENOMEM;
    json_array_append_new(u->rejected, r);
    return 0;
}

static int on_row(void *ctx, long line, const char *email, size_t len, json_t *vars)
{
    upload_state *u = ctx;
    char addr[EDM_ADDR_MAX];
    size_t doff;
    const char *why;
    if (edm_addr_normalize(email, len, addr, &doff, &why) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "invalid address: %s", why);
        /* the raw address goes back only if it is printable text */
        json_t *probe = memchr(email, '\0', len) ? NULL : json_stringn(email, len);
        int rc = on_reject(ctx, line, probe ? email : NULL, msg);
        json_decref(probe);
        return rc;
    }
    char *vj = NULL;
    if (vars && json_object_size(vars) > 0) {
        vj = json_dumps(vars, JSON_COMPACT);
        if (vj == NULL)
            return EDM_ENOMEM;
    }
    edm_recipient r = {addr, addr + doff, vj};
    enum edm_add_outcome out;
    int rc = u->call->api->store->ops->upload_add(u->up, &r, &out);
    free(vj);
    if (rc != 0)
        return rc;
    u->rows++;
    switch (out) {
    case EDM_ADD_ACCEPTED: u->accepted++; break;
    case EDM_ADD_DUPLICATE: u->duplicates++; break;
    case EDM_ADD_SUPPRESSED: u->suppressed++; break;
    default: EDM_PANIC("bad upload outcome %d", (int)out);
    }
    return 0;
}

/* A parse or store failure mid-upload: answer it. */
static void fail(api_call *c, upload_state *u, int rc)
{
    if (rc == EDM_EINVAL)
        api_error(c, 422, "invalid_upload", NULL, "%s", edm_upload_parser_error(u->parser));
    else if (rc == EDM_ENOMEM)
        api_error(c, 503, "no_memory", NULL, "out of memory");
    else
        api_store_error(c, rc, "campaign");
}

static int begin(api_call *c)
{
    edm_store *st = c->api->store;
    json_t *cur = NULL;
    int rc = c->id > 0 ? st->ops->campaign_get(st, c->id, &cur) : EDM_ENOTFOUND;
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return 1;
    }
    enum edm_cstate s;
    int64_t send_at;
    rc = edm_lifecycle_campaign_state(cur, &s, &send_at);
    json_decref(cur);
    if (rc != 0 || !edm_lifecycle_can_add_recipients(s)) {
        api_error(c, 409, "wrong_state", NULL,
                  "recipients can be added to draft, scheduled or paused campaigns, not %s ones",
                  rc == 0 ? edm_cstate_name(s) : "unreadable");
        return 1;
    }
    upload_state *u = edm_xcalloc(1, sizeof *u);
    u->call = c;
    u->rejected = json_array();
    c->state = u;
    c->free_state = state_free;
    edm_upload_sink sink = {u, on_row, on_reject};
    enum edm_upload_format fmt =
        edm_upload_format_from_type(http_req_header(c->req, "content-type"));
    if (edm_upload_parser_new(fmt, &sink, &u->parser) != 0 || u->rejected == NULL) {
        api_error(c, 503, "no_memory", NULL, "out of memory");
        return 1;
    }
    rc = st->ops->upload_begin(st, c->id, &u->up);
    if (rc != 0) {
        u->up = NULL;
        api_store_error(c, rc, "campaign");
        return 1;
    }
    return 0;
}

static int body(api_call *c, const char *data, size_t len)
{
    upload_state *u = c->state;
    int rc = edm_upload_parser_feed(u->parser, data, len);
    if (rc != 0) {
        fail(c, u, rc);
        return 1;
    }
    return 0;
}

static void end(api_call *c)
{
    upload_state *u = c->state;
    int rc = edm_upload_parser_finish(u->parser);
    if (rc != 0) {
        fail(c, u, rc);
        return;
    }
    edm_upload *up = u->up;
    u->up = NULL;
    rc = c->api->store->ops->upload_end(up, 1);
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return;
    }
    edm_log(EDM_LOG_INFO, "api",
            "campaign=%lld upload=done rows=%lld accepted=%lld duplicates=%lld suppressed=%lld "
            "rejected=%lld",
            (long long)c->id, (long long)u->rows, (long long)u->accepted, (long long)u->duplicates,
            (long long)u->suppressed, (long long)u->rejected_total);
    json_t *out =
        json_pack("{s:I,s:I,s:I,s:O,s:I,s:b}", "accepted", (json_int_t)u->accepted, "duplicates",
                  (json_int_t)u->duplicates, "suppressed", (json_int_t)u->suppressed, "rejected",
                  u->rejected, "rejected_total", (json_int_t)u->rejected_total,
                  "rejected_truncated", u->rejected_total > (int64_t)json_array_size(u->rejected));
    if (out == NULL)
        EDM_PANIC("out of memory");
    api_reply(c, 200, out);
}

const api_stream_in api_recipients_upload = {begin, body, end, state_free};
