/*
 * api/routes/recipients.c: POST /v1/campaigns/{id}/recipients: a recipient list
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
 * Rows are written in batches (BATCH_ROWS rows or BATCH_BYTES), each in one
 * store transaction opened and committed inside one call, so no transaction
 * stays open while the loop serves other requests (or the scheduler).
 *
 * The campaign must be draft, scheduled or paused (409 otherwise; checked
 * again at each batch). A client that goes away mid-upload keeps the
 * batches already written; the rows of the unwritten batch are dropped.
 */
#include "engine/ingest/addr.h"
#include "api/api_int.h"
#include "engine/ingest/upload.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/campaign/lifecycle.h"
#include "engine/base/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REJECTED_MAX 10000
#define BATCH_ROWS   20000
#define BATCH_BYTES  (8 * 1024 * 1024)

/* A validated row waiting for its batch: offsets into the batch arena. */
typedef struct pending_row {
    size_t email;      /* normalised address, NUL-terminated */
    size_t domain_off; /* of the domain inside the address */
    size_t vars;       /* JSON object text, NUL-terminated; SIZE_MAX if none */
} pending_row;

typedef struct upload_state {
    api_call *call;
    edm_upload_parser *parser;
    int64_t accepted, duplicates, suppressed, rejected_total, rows;
    json_t *rejected;
    pending_row batch[BATCH_ROWS];
    size_t nbatch;
    edm_buf arena; /* the strings of the batch, back to back */
    int stop_rc;   /* why the sink stopped the parse (answered already) */
} upload_state;

static void batch_clear(upload_state *u)
{
    u->nbatch = 0;
    edm_buf_reset(&u->arena);
}

static void state_free(void *p)
{
    upload_state *u = p;
    if (u->nbatch > 0 || !u->call->answered)
        edm_log(EDM_LOG_INFO, "api",
                "campaign=%lld upload=aborted rows=%lld accepted=%lld dropped=%zu",
                (long long)u->call->id, (long long)u->rows, (long long)u->accepted, u->nbatch);
    edm_buf_free(&u->arena);
    edm_upload_parser_free(u->parser);
    json_decref(u->rejected);
    edm_free(u);
}

/* Batch order for the store: by domain, then address. Neighbouring rows
 * then land in neighbouring pages of the domain and address indexes, which
 * keeps inserts fast with many domains (row ids still grow in that order,
 * so receipts list a batch grouped by domain). */
static const char *sort_arena;

static int row_cmp(const void *a, const void *b)
{
    const pending_row *x = a, *y = b;
    const char *ex = sort_arena + x->email, *ey = sort_arena + y->email;
    int c = strcmp(ex + x->domain_off, ey + y->domain_off);
    return c ? c : strcmp(ex, ey);
}

/* Writes the batch in one store transaction, all within this call: no
 * transaction stays open while the loop serves other requests. Returns 0,
 * EDM_ESTATE if the campaign no longer takes recipients, or a store code. */
static int flush(upload_state *u)
{
    if (u->nbatch == 0)
        return 0;
    api_call *c = u->call;
    edm_store *st = c->api->store;
    edm_campaign_row cur;
    int rc = st->ops->campaign_get(st, c->id, &cur);
    if (rc == 0) {
        if (!edm_lifecycle_can_add_recipients(cur.state))
            rc = EDM_ESTATE;
        edm_campaign_row_clear(&cur);
    }
    edm_upload *up = NULL;
    if (rc == 0) {
        sort_arena = u->arena.data;
        qsort(u->batch, u->nbatch, sizeof u->batch[0], row_cmp);
        sort_arena = NULL;
        rc = st->ops->upload_begin(st, c->id, &up);
    }
    for (size_t i = 0; rc == 0 && i < u->nbatch; i++) {
        pending_row *r = &u->batch[i];
        const char *a = u->arena.data;
        edm_recipient rec = {a + r->email, a + r->email + r->domain_off,
                             r->vars == SIZE_MAX ? NULL : a + r->vars};
        enum edm_add_outcome out;
        rc = st->ops->upload_add(up, &rec, &out);
        if (rc != 0)
            break;
        switch (out) {
        case EDM_ADD_ACCEPTED: u->accepted++; break;
        case EDM_ADD_DUPLICATE: u->duplicates++; break;
        case EDM_ADD_SUPPRESSED: u->suppressed++; break;
        default: EDM_PANIC("bad upload outcome %d", (int)out);
        }
    }
    if (up) {
        int erc = st->ops->upload_end(up, rc == 0);
        if (rc == 0)
            rc = erc;
    }
    batch_clear(u);
    return rc;
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

static int on_row(void *ctx, long line, const char *email, size_t len, const char *vars,
                  size_t vars_len)
{
    upload_state *u = ctx;
    char addr[EDM_ADDR_MAX];
    size_t doff;
    const char *why;
    if (edm_addr_normalize(email, len, addr, &doff, &why) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "invalid address: %s", why);
        return on_reject(ctx, line, memchr(email, '\0', len) ? NULL : email, msg);
    }
    pending_row *r = &u->batch[u->nbatch];
    r->email = u->arena.len;
    r->domain_off = doff;
    r->vars = vars ? u->arena.len + strlen(addr) + 1 : SIZE_MAX;
    if (edm_buf_append(&u->arena, addr, strlen(addr) + 1) != 0 ||
        (vars && (edm_buf_append(&u->arena, vars, vars_len) != 0 ||
                  edm_buf_append_char(&u->arena, '\0') != 0)))
        return EDM_ENOMEM;
    u->nbatch++;
    u->rows++;
    if (u->nbatch == BATCH_ROWS || u->arena.len >= BATCH_BYTES) {
        int rc = flush(u);
        if (rc != 0)
            u->stop_rc = rc;
        return rc;
    }
    return 0;
}

/* A parse or store failure mid-upload: answer it. Batches written before
 * stay; the counts so far are in the log. */
static void fail(api_call *c, upload_state *u, int rc)
{
    if (rc == EDM_EINVAL && u->stop_rc == 0)
        api_error(c, 422, "invalid_upload", NULL, "%s", edm_upload_parser_error(u->parser));
    else if (rc == EDM_ENOMEM)
        api_error(c, 503, "no_memory", NULL, "out of memory");
    else if (rc == EDM_ESTATE)
        api_error(c, 409, "wrong_state", NULL,
                  "the campaign changed state during the upload and takes no more recipients "
                  "(%lld rows were added before)",
                  (long long)u->accepted);
    else
        api_store_error(c, rc, "campaign");
}

static int begin(api_call *c)
{
    edm_store *st = c->api->store;
    edm_campaign_row cur;
    int rc = c->id > 0 ? st->ops->campaign_get(st, c->id, &cur) : EDM_ENOTFOUND;
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return 1;
    }
    enum edm_cstate s = cur.state;
    edm_campaign_row_clear(&cur);
    if (!edm_lifecycle_can_add_recipients(s)) {
        api_error(c, 409, "wrong_state", NULL,
                  "recipients can be added to draft, scheduled or paused campaigns, not %s ones",
                  rc == 0 ? edm_cstate_name(s) : "unreadable");
        return 1;
    }
    upload_state *u = edm_calloc(1, sizeof *u);
    if (u == NULL) {
        api_error(c, 503, "no_memory", NULL, "out of memory");
        return 1;
    }
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
    rc = flush(u);
    if (rc != 0) {
        fail(c, u, rc);
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
