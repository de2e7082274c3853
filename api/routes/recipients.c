/*
 * api/routes/recipients.c: POST /v1/campaigns/{id}/recipients: a recipient list
 * (JSON array, NDJSON or CSV: see engine/ingest/upload.h) streamed into the
 * store as it arrives, through the one import routine (engine/ingest/import.h:
 * address checks, batches of API_UPLOAD_BATCH_ROWS rows sorted by domain, each written in
 * one store transaction inside one call, the campaign state checked again
 * before each batch). Rows that fail are listed in the answer with their
 * line and reason; the others are kept.
 *
 * Answer (200): {"accepted","duplicates","suppressed","rejected":[{line,
 * email, error}], "rejected_total", "rejected_truncated"}. The rejected list
 * keeps the first EDM_IMPORT_REJECTED_MAX entries (bounded memory for a
 * 1,000,000-line upload of garbage); rejected_total counts them all.
 *
 * A body sent as application/json must start as JSON ('[' or '{'), else
 * 400 malformed_json with the position (nothing is read or written).
 *
 * The campaign must be draft, scheduled or paused (409 otherwise; checked
 * again at each batch). A client that goes away mid-upload keeps the
 * batches already written; the rows of the unwritten batch are dropped.
 */
#include "api/api_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/campaign/lifecycle.h"
#include "engine/ingest/import.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Rows per store transaction on the loop thread: a bounded slice (a few
 * milliseconds), so that a 1,000,000-row upload never holds the loop for
 * long (docs/architecture.md, "Threads and ownership"). */
#define API_UPLOAD_BATCH_ROWS 5000

typedef struct upload_state {
    api_call *call;
    edm_import *im;
    /* Content-Type: application/json: until its first significant byte,
     * the body must show it is JSON (an array or objects), else 400 */
    int json_pending;
    long line, col;
    int64_t bytes;
} upload_state;

static void state_free(void *p)
{
    upload_state *u = p;
    if (u->im && (edm_import_waiting(u->im) > 0 || !u->call->answered)) {
        const edm_import_counts *n = edm_import_get_counts(u->im);
        edm_log(EDM_LOG_INFO, "api",
                "campaign=%lld upload=aborted rows=%lld accepted=%lld dropped=%zu",
                (long long)u->call->id, (long long)(n->rows + (int64_t)edm_import_waiting(u->im)),
                (long long)n->accepted, edm_import_waiting(u->im));
    }
    edm_import_free(u->im);
    edm_free(u);
}

/* The import stopped mid-upload: answer it. Batches written before stay;
 * the counts so far are in the message (409) or the log. */
static void fail(api_call *c, upload_state *u, int rc)
{
    const char *why = edm_import_error(u->im);
    if (rc == EDM_EINVAL)
        api_error(c, 422, "invalid_upload", NULL, "%s", why);
    else if (rc == EDM_ENOMEM)
        api_error(c, 503, "no_memory", NULL, "out of memory");
    else if (rc == EDM_ESTATE)
        api_error(c, 409, "wrong_state", NULL, "%s", why);
    else if (rc == EDM_EBUSY)
        api_error(c, 503, "busy", NULL, "%s", why);
    else if (rc == EDM_EDB || rc == EDM_EIO)
        api_error(c, 500, "storage", NULL, "%s", why);
    else
        api_store_error(c, rc, "campaign");
}

/* The HTTP layer cut the body (413): say what was kept. */
static void note(void *state, char *buf, size_t len)
{
    upload_state *u = state;
    const edm_import_counts *n = edm_import_get_counts(u->im);
    if (n->batches == 0)
        snprintf(buf, len, "no row was written");
    else
        snprintf(buf, len,
                 "%lld batches written before are kept (%lld rows, %lld new recipients); the "
                 "rest of the body was not read",
                 (long long)n->batches, (long long)n->rows, (long long)n->accepted);
}

static int begin(api_call *c)
{
    edm_store *st = c->api->store;
    enum edm_cstate s;
    int rc = c->id > 0 ? edm_lifecycle_check_add_recipients(st, c->id, &s) : EDM_ENOTFOUND;
    if (rc == EDM_ESTATE || rc == EDM_EINVAL) {
        api_error(c, 409, "wrong_state", NULL,
                  "recipients can be added to draft, scheduled or paused campaigns, not %s ones",
                  rc == EDM_ESTATE ? edm_cstate_name(s) : "unreadable");
        return 1;
    }
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return 1;
    }
    upload_state *u = edm_calloc(1, sizeof *u);
    if (u == NULL) {
        api_error(c, 503, "no_memory", NULL, "out of memory");
        return 1;
    }
    u->call = c;
    c->state = u;
    c->free_state = state_free;
    c->note = note;
    edm_import_opts o = {
        .format = edm_upload_format_from_type(http_req_header(c->req, "content-type")),
        .check = edm_lifecycle_import_check,
        .batch_rows = API_UPLOAD_BATCH_ROWS,
    };
    const char *ct = http_req_header(c->req, "content-type");
    if (ct != NULL) {
        while (*ct == ' ')
            ct++;
        size_t n = strcspn(ct, "; ");
        u->json_pending = n == 16 && strncasecmp(ct, "application/json", n) == 0;
    }
    u->line = 1;
    u->col = 1;
    if (edm_import_new(st, c->id, &o, &u->im) != 0) {
        api_error(c, 503, "no_memory", NULL, "out of memory");
        return 1;
    }
    return 0;
}

/* A body sent as application/json that does not start (after white
 * space) with '[' or '{' is malformed JSON:
 * 400 with its position, before any row is read (nothing is written). */
static int json_start_ok(api_call *c, upload_state *u, const char *data, size_t len)
{
    for (size_t i = 0; u->json_pending && i < len; i++, u->bytes++) {
        unsigned char ch = (unsigned char)data[i];
        if (ch == '\n') {
            u->line++;
            u->col = 1;
        } else if (ch == ' ' || ch == '\t' || ch == '\r') {
            u->col++;
        } else if (ch == '[' || ch == '{') {
            u->json_pending = 0;
        } else {
            api_error(c, 400, "malformed_json", NULL,
                      "malformed JSON at line %ld, column %ld (byte %lld): '[' or '{' expected "
                      "(a JSON array of recipients, or one object per line)",
                      u->line, u->col, (long long)u->bytes + 1);
            return 0;
        }
    }
    return 1;
}

static int body(api_call *c, const char *data, size_t len)
{
    upload_state *u = c->state;
    if (!json_start_ok(c, u, data, len))
        return 1;
    int rc = edm_import_feed(u->im, data, len);
    if (rc != 0) {
        fail(c, u, rc);
        return 1;
    }
    return 0;
}

/* {line, email, error} for each rejected row kept. */
static json_t *rejected_json(const edm_import *im)
{
    size_t n;
    const edm_import_reject *r = edm_import_rejected(im, &n);
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *e = r[i].email ? json_string(r[i].email) : NULL;
        if (json_array_append_new(a,
                                  json_pack("{s:I,s:o,s:s}", "line", (json_int_t)r[i].line, "email",
                                            e ? e : json_null(), "error", r[i].error)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static void end(api_call *c)
{
    upload_state *u = c->state;
    int rc = edm_import_finish(u->im);
    if (rc != 0) {
        fail(c, u, rc);
        return;
    }
    const edm_import_counts *n = edm_import_get_counts(u->im);
    edm_log(EDM_LOG_INFO, "api",
            "campaign=%lld upload=done rows=%lld accepted=%lld duplicates=%lld suppressed=%lld "
            "rejected=%lld",
            (long long)c->id, (long long)n->rows, (long long)n->accepted, (long long)n->duplicates,
            (long long)n->suppressed, (long long)n->rejected);
    json_t *rejected = rejected_json(u->im);
    json_t *out = rejected
                      ? json_pack("{s:I,s:I,s:I,s:o,s:I,s:b}", "accepted", (json_int_t)n->accepted,
                                  "duplicates", (json_int_t)n->duplicates, "suppressed",
                                  (json_int_t)n->suppressed, "rejected", rejected, "rejected_total",
                                  (json_int_t)n->rejected, "rejected_truncated",
                                  n->rejected > (int64_t)json_array_size(rejected))
                      : NULL;
    if (out == NULL)
        EDM_PANIC("out of memory");
    api_reply(c, 200, out);
}

const api_stream_in api_recipients_upload = {begin, body, end, state_free};
