/*
 * engine/store/pg/store_pg_messages.c: the PostgreSQL backend's
 * transactional messages (schema/pg/0004_messages.sql): creating one (a
 * campaigns row of kind 1, its content and attachments (schema/pg/0016;
 * an inline part's content_id: 0018), one deliveries row per recipient
 * with txn = 1, in one transaction),
 * loading it for the pipeline, the API's reads (attachments' metadata,
 * never their bytes), and the due-time claim of transactional deliveries
 * (FOR UPDATE SKIP LOCKED: nodes sharing the database never claim the
 * same row at once).
 *
 * Returns 0 or a negative EDM_E* code (EDM_ENOTFOUND for an id that is not
 * a message, EDM_EDB with the reason in edm_store_errmsg()).
 */
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/store/pg/store_pg_int.h"

#include <string.h>

/* a message's id, under the campaigns list's lock (store_pg_feed.c) */
#define MESSAGE_ID PG_LIST_ID("campaigns_id_seq", PG_LOCK_CAMPAIGNS)
static const char SQL_CAMPAIGN[] =
    "INSERT INTO campaigns(id, kind, name, from_addr, reply_to, pool, status, send_at, headers, "
    "tags, template_id, created_at, updated_at, track) VALUES (" MESSAGE_ID ", 1, 'message', "
    "$1, $2, coalesce($3, 'default'), 0, $4, coalesce($5, '{}'), coalesce($6, '[]'), $7, $8, $8, "
    "$9) RETURNING id";
static const char SQL_CONTENT[] =
    "INSERT INTO message_content(campaign_id, source, subject, html, text, raw, envelope_from) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)";
static const char SQL_ATTACH_INSERT[] =
    "INSERT INTO message_attachments(campaign_id, idx, filename, content_type, data, content_id) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
static const char SQL_ATTACH_LOAD[] = "SELECT filename, content_type, data, content_id FROM "
                                      "message_attachments WHERE campaign_id = $1 ORDER BY idx";
static const char SQL_ATTACH_META[] =
    "SELECT filename, content_type, octet_length(data), content_id FROM message_attachments "
    "WHERE campaign_id = $1 ORDER BY idx";
static const char SQL_DELIVERY[] =
    "INSERT INTO deliveries(campaign_id, email, domain, vars, status, queued_at, next_attempt_at, "
    "txn, vars_bin) VALUES ($1, $2, $3, $4, CASE WHEN EXISTS (SELECT 1 FROM suppressions WHERE "
    "value IN ($2, $3)) THEN 4 ELSE 0 END, $5, $6, 1, $7) ON CONFLICT (email, campaign_id) DO "
    "NOTHING RETURNING id, status";

/* The message's attachments, one row each (inside the create's
 * transaction). */
static int add_attachments(pg_store *s, int64_t id, const edm_message_new *m)
{
    for (size_t i = 0; i < m->nattachments; i++) {
        const edm_attachment_new *a = &m->attachments[i];
        pg_params p;
        pgp_init(&p);
        pgp_int(&p, id);
        pgp_int(&p, (int64_t)i);
        pgp_text(&p, a->filename);
        pgp_text(&p, a->content_type);
        pgp_bytes(&p, a->len ? a->data : "", a->len);
        pgp_text(&p, a->content_id);
        int rc = pg_do(s, SQL_ATTACH_INSERT, &p, "insert message attachment");
        if (rc != 0)
            return rc;
    }
    return 0;
}

int pg_message_create(edm_store *st, const edm_message_new *m, int64_t now, int64_t *id,
                      int64_t *receipt_ids, enum edm_add_outcome *outcomes)
{
    pg_store *s = PG(st);
    int rc = pg_begin(s);
    if (rc != 0)
        return rc;
    /* Durable before it returns (the 202 and the SMTP 250 promise it),
     * whatever synchronous_commit the database runs with. */
    if ((rc = pg_do(s, "SET LOCAL synchronous_commit = on", NULL, "durable commit")) != 0)
        goto fail;
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, m->from);
    pgp_text(&p, m->reply_to);
    pgp_text(&p, m->pool);
    if (m->send_at > 0)
        pgp_int(&p, m->send_at);
    else
        pgp_null(&p);
    pgp_text(&p, m->headers_json);
    pgp_text(&p, m->tags_json);
    if (m->template_id > 0)
        pgp_int(&p, m->template_id);
    else
        pgp_null(&p);
    pgp_int(&p, now);
    pgp_int(&p, (int64_t)m->track);
    PGresult *r = pg_run(s, SQL_CAMPAIGN, &p, "insert message");
    if (r == NULL) {
        rc = pg_code(s);
        goto fail;
    }
    *id = pg_int(r, 0, 0);
    PQclear(r);

    pgp_init(&p);
    pgp_int(&p, *id);
    pgp_text(&p, m->source ? m->source : "api");
    pgp_text(&p, m->subject);
    pgp_text(&p, m->html);
    pgp_text(&p, m->text);
    if (m->raw)
        pgp_bytes(&p, m->raw, m->rawlen);
    else
        pgp_null(&p);
    pgp_text(&p, m->envelope_from);
    if ((rc = pg_do(s, SQL_CONTENT, &p, "insert message content")) != 0 ||
        (rc = add_attachments(s, *id, m)) != 0)
        goto fail;
    for (size_t i = 0; i < m->nrcpts; i++) {
        const edm_recipient *rc_ = &m->rcpts[i];
        int compact = pg_vars_encode(s, rc_);
        if (compact < 0) {
            rc = compact;
            goto fail;
        }
        pgp_init(&p);
        pgp_int(&p, *id);
        pgp_text(&p, rc_->email);
        pgp_text(&p, rc_->domain);
        pgp_text(&p, compact ? NULL : rc_->vars_json);
        pgp_int(&p, now);
        pgp_int(&p, m->send_at > now ? m->send_at : now);
        if (compact)
            pgp_bytes(&p, s->vars_buf.data, s->vars_buf.len);
        else
            pgp_null(&p);
        if ((r = pg_run(s, SQL_DELIVERY, &p, "insert recipient")) == NULL) {
            rc = pg_code(s);
            goto fail;
        }
        if (PQntuples(r) == 0) {
            receipt_ids[i] = 0;
            outcomes[i] = EDM_ADD_DUPLICATE;
        } else {
            receipt_ids[i] = pg_int(r, 0, 0);
            outcomes[i] =
                pg_int(r, 0, 1) == EDM_DSTATE_SUPPRESSED ? EDM_ADD_SUPPRESSED : EDM_ADD_ACCEPTED;
        }
        PQclear(r);
    }
    if ((rc = pg_commit(s)) != 0)
        goto fail;
    return 0;
fail:
    pg_rollback(s);
    return rc;
}

/* The attachments of message id into out (in the order given). */
static int load_attachments(pg_store *s, int64_t id, edm_message_row *out)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r = pg_run(s, SQL_ATTACH_LOAD, &p, "load message attachments");
    if (r == NULL)
        return EDM_EDB;
    int n = PQntuples(r);
    if (n > 0)
        out->attachments = edm_xcalloc((size_t)n, sizeof *out->attachments);
    for (int i = 0; i < n; i++) {
        edm_attachment_row *a = &out->attachments[out->nattachments];
        size_t len = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 2), &len);
        if (b == NULL) {
            PQclear(r);
            return EDM_ENOMEM;
        }
        a->filename = pg_dup(r, i, 0);
        a->content_type = pg_dup(r, i, 1);
        a->content_id = pg_dup(r, i, 3);
        a->data = edm_xmalloc(len ? len : 1);
        memcpy(a->data, b, len);
        a->len = len;
        PQfreemem(b);
        out->nattachments++;
    }
    PQclear(r);
    return 0;
}

int pg_message_load(edm_store *st, int64_t id, edm_message_row *out)
{
    pg_store *s = PG(st);
    memset(out, 0, sizeof *out);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r = pg_run(s,
                         "SELECT " PG_CAMPAIGN_COLUMNS ", mc.source, mc.subject, mc.html, "
                         "mc.text, mc.raw, mc.envelope_from FROM campaigns c JOIN message_content "
                         "mc ON mc.campaign_id = c.id WHERE c.id = $1 AND c.kind = 1",
                         &p, "load message");
    if (r == NULL)
        return EDM_EDB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return EDM_ENOTFOUND;
    }
    pg_campaign_read(r, 0, &out->c);
    out->source = pg_dup(r, 0, 17);
    out->subject = pg_dup(r, 0, 18);
    out->html = pg_dup(r, 0, 19);
    out->text = pg_dup(r, 0, 20);
    if (!pg_isnull(r, 0, 21)) {
        size_t n = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 21), &n);
        if (raw == NULL) {
            PQclear(r);
            edm_message_row_clear(out);
            return EDM_ENOMEM;
        }
        out->raw = edm_xmalloc(n + 1);
        memcpy(out->raw, raw, n);
        out->raw[n] = '\0';
        out->rawlen = n;
        PQfreemem(raw);
    }
    out->envelope_from = pg_dup(r, 0, 22);
    PQclear(r);
    int rc = load_attachments(s, id, out);
    if (rc != 0)
        edm_message_row_clear(out);
    return rc;
}

#define MESSAGE_SELECT                                                                             \
    "SELECT c.id, mc.source, c.from_addr, c.reply_to, mc.subject, c.template_id, c.pool, c.tags, " \
    "c.send_at, c.created_at FROM campaigns c JOIN message_content mc ON mc.campaign_id = c.id "

/* [{filename, content_type, size, content_id?}] of message id: never the
 * bytes; content_id only for an inline part. */
static int attachments_json(pg_store *s, int64_t id, json_t **out)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r = pg_run(s, SQL_ATTACH_META, &p, "message attachments");
    if (r == NULL)
        return EDM_EDB;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *a = json_pack("{s:o, s:o, s:I}", "filename", pg_text_col(r, i, 0), "content_type",
                              pg_text_col(r, i, 1), "size", (json_int_t)pg_int(r, i, 2));
        if (!pg_isnull(r, i, 3))
            json_object_set_new(a, "content_id", pg_text_col(r, i, 3));
        json_array_append_new(arr, a);
    }
    PQclear(r);
    *out = arr;
    return 0;
}

/* A row of MESSAGE_SELECT with its attachments' metadata, its recipients'
 * receipts and counts. */
static int message_object(pg_store *s, const PGresult *q, int row, json_t **out)
{
    int64_t id = pg_int(q, row, 0);
    json_t *att;
    int arc = attachments_json(s, id, &att);
    if (arc != 0)
        return arc;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r = pg_run(
        s, "SELECT " PG_RECEIPT_COLUMNS " FROM deliveries WHERE campaign_id = $1 ORDER BY id", &p,
        "message receipts");
    if (r == NULL) {
        json_decref(att);
        return EDM_EDB;
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(id));
    json_object_set_new(o, "source", pg_text_col(q, row, 1));
    json_object_set_new(o, "from", pg_text_col(q, row, 2));
    json_object_set_new(o, "reply_to", pg_text_col(q, row, 3));
    json_object_set_new(o, "subject", pg_text_col(q, row, 4));
    json_object_set_new(o, "template_id", pg_int_col(q, row, 5));
    json_object_set_new(o, "pool", pg_text_col(q, row, 6));
    json_object_set_new(o, "tags", pg_json_col(q, row, 7, "[]"));
    json_object_set_new(o, "send_at", pg_time_col(q, row, 8));
    json_object_set_new(o, "created_at", pg_time_col(q, row, 9));
    json_object_set_new(o, "attachments", att);
    json_t *rcpts = json_array(), *counts = json_object();
    int pending = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *rec = pg_receipt_object(r, i);
        /* the parent is the message: campaign_id null, as in sqlite */
        json_object_set_new(rec, "campaign_id", json_null());
        const char *state = json_string_value(json_object_get(rec, "status"));
        int stt = edm_dstate_parse(state);
        pending |= stt >= 0 && !edm_dstate_is_terminal((enum edm_dstate)stt);
        json_t *c = json_object_get(counts, state);
        json_object_set_new(counts, state, json_integer(c ? json_integer_value(c) + 1 : 1));
        json_array_append_new(rcpts, rec);
    }
    PQclear(r);
    json_object_set_new(o, "status", json_string(pending ? "pending" : "done"));
    json_object_set_new(o, "counts", counts);
    json_object_set_new(o, "recipients", rcpts);
    *out = o;
    return 0;
}

int pg_message_get(edm_store *st, int64_t id, json_t **out)
{
    pg_store *s = PG(st);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *q = pg_run(s, MESSAGE_SELECT "WHERE c.id = $1 AND c.kind = 1", &p, "get message");
    if (q == NULL)
        return EDM_EDB;
    int rc = PQntuples(q) == 1 ? message_object(s, q, 0, out) : EDM_ENOTFOUND;
    PQclear(q);
    return rc;
}

int pg_message_list(edm_store *st, const char *tag, const char *status, int64_t after, int limit,
                    edm_page *page)
{
    pg_store *s = PG(st);
    memset(page, 0, sizeof *page);
    int state = -1;
    if (status && (state = edm_dstate_parse(status)) < 0)
        return EDM_EINVAL;
    int64_t upto;
    int rc = pg_list_settled(s, PG_LIST_CAMPAIGNS, &upto);
    if (rc != 0)
        return rc;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, after);
    pgp_int(&p, limit + 1);
    pgp_text(&p, tag);
    pgp_int(&p, state);
    pgp_int(&p, upto);
    PGresult *q = pg_run(s,
                         MESSAGE_SELECT
                         "WHERE c.kind = 1 AND c.id > $1 AND c.id <= $5::bigint "
                         "AND ($3::text IS NULL OR (c.tags::jsonb) ? $3::text) "
                         "AND ($4::integer < 0 OR EXISTS (SELECT 1 FROM deliveries d WHERE "
                         "d.campaign_id = c.id AND d.status = $4::integer)) ORDER BY c.id LIMIT $2",
                         &p, "list messages");
    if (q == NULL)
        return EDM_EDB;
    page->items = json_array();
    int rows = PQntuples(q);
    for (int i = 0; rc == 0 && i < rows && i < limit; i++) {
        json_t *o;
        if ((rc = message_object(s, q, i, &o)) == 0)
            json_array_append_new(page->items, o);
    }
    if (rc == 0 && rows > limit)
        page->next = pg_int(q, limit - 1, 0);
    PQclear(q);
    if (rc != 0)
        edm_page_free(page);
    return rc;
}

int pg_claim_txn(edm_store *st, int64_t now, int64_t lease, size_t limit, edm_job **jobs, size_t *n)
{
    *jobs = NULL;
    *n = 0;
    if (limit == 0)
        return 0;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, now);
    pgp_int(&p, (int64_t)limit);
    pgp_int(&p, now + lease);
    PGresult *r = pg_run(
        PG(st),
        "UPDATE deliveries SET next_attempt_at = $3 WHERE id = ANY(ARRAY(SELECT id FROM deliveries "
        "WHERE txn = 1 AND status IN (0, 1) AND next_attempt_at <= $1 "
        "ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)) RETURNING id, email, "
        "domain, vars, attempts, queued_at, first_attempt_at, campaign_id, vars_bin",
        &p, "claim transactional");
    if (r == NULL)
        return EDM_EDB;
    size_t cnt = (size_t)PQntuples(r);
    if (cnt > limit)
        cnt = limit;
    edm_job *v = cnt ? edm_xcalloc(cnt, sizeof *v) : NULL;
    int vrc = 0;
    for (size_t i = 0; i < cnt; i++) {
        edm_job *j = &v[i];
        j->id = pg_int(r, (int)i, 0);
        j->email = pg_dup(r, (int)i, 1);
        j->domain = pg_dup(r, (int)i, 2);
        if (vrc == 0)
            vrc = pg_vars_col(PG(st), r, (int)i, 3, 8, &j->vars);
        j->attempts = (int)pg_int(r, (int)i, 4);
        j->queued_at = pg_int(r, (int)i, 5);
        j->first_attempt_at = pg_int(r, (int)i, 6);
        j->campaign_id = pg_int(r, (int)i, 7);
    }
    PQclear(r);
    if (vrc != 0) {
        edm_store_jobs_free(v, cnt);
        return vrc;
    }
    *jobs = v;
    *n = cnt;
    return 0;
}
