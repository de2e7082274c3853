/*
 * engine/store/sqlite/store_sqlite_messages.c: the SQLite backend's
 * transactional messages (schema/0004_messages.sql): creating one (a
 * campaigns row of kind 1, its one copy of the content and of each
 * attachment (schema/0016; an inline part's content_id: 0018), one
 * deliveries row per recipient with txn = 1, all in one transaction),
 * loading it for the pipeline, the API's reads (one message with its
 * attachments' metadata and its receipts, a page of messages filtered by
 * tag and recipient state), and the due-time claim of transactional
 * deliveries.
 *
 * Returns 0 or a negative EDM_E* code (EDM_ENOTFOUND for an id that is not
 * a message, EDM_EDB with the reason in edm_store_errmsg()).
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <string.h>

enum {
    MS_CAMPAIGN,
    MS_CONTENT,
    MS_SUPPRESSED,
    MS_DELIVERY,
    MS_CLAIM,
    MS_LOAD_CONTENT,
    MS_RECEIPTS,
    MS_ATTACH_INSERT,
    MS_ATTACH_LOAD,
    MS_ATTACH_META,
};

static const char *const msg_sql[SQ_MSG_STMTS] = {
    [MS_CAMPAIGN] = "INSERT INTO campaigns(kind, name, from_addr, reply_to, pool, status, send_at, "
                    "headers, tags, template_id, created_at, updated_at, track) "
                    "VALUES (1, 'message', ?1, ?2, coalesce(?3, 'default'), 0, ?4, "
                    "coalesce(?5, '{}'), coalesce(?6, '[]'), ?7, ?8, ?8, ?9)",
    [MS_CONTENT] = "INSERT INTO message_content(campaign_id, source, subject, html, text, raw, "
                   "envelope_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [MS_SUPPRESSED] = "SELECT 1 FROM suppressions WHERE value IN (?1, ?2) LIMIT 1",
    [MS_DELIVERY] = "INSERT OR IGNORE INTO deliveries(campaign_id, email, domain_id, vars, status, "
                    "queued_at, next_attempt_at, txn) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
    [MS_CLAIM] = "UPDATE deliveries SET next_attempt_at = ?3 WHERE id IN (SELECT id FROM "
                 "deliveries WHERE txn = 1 AND status IN (0, 1) AND next_attempt_at <= ?1 "
                 "ORDER BY next_attempt_at LIMIT ?2) RETURNING id, email, vars, attempts, "
                 "queued_at, first_attempt_at, campaign_id",
    [MS_LOAD_CONTENT] = "SELECT source, subject, html, text, raw, envelope_from FROM "
                        "message_content WHERE campaign_id = ?1",
    [MS_RECEIPTS] = "SELECT " RECEIPT_COLUMNS " FROM deliveries WHERE campaign_id = ?1 ORDER BY id",
    [MS_ATTACH_INSERT] = "INSERT INTO message_attachments(campaign_id, idx, filename, "
                         "content_type, data, content_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [MS_ATTACH_LOAD] = "SELECT filename, content_type, data, content_id FROM message_attachments "
                       "WHERE campaign_id = ?1 ORDER BY idx",
    [MS_ATTACH_META] =
        "SELECT filename, content_type, length(data), content_id FROM message_attachments "
        "WHERE campaign_id = ?1 ORDER BY idx",
};

static sqlite3_stmt *msg_stmt(sq_store *s, int which)
{
    if (s->msg_stmts[which] == NULL &&
        sqlite3_prepare_v2(s->db, msg_sql[which], -1, &s->msg_stmts[which], NULL) != SQLITE_OK) {
        sq_fail(s, "prepare");
        return NULL;
    }
    return s->msg_stmts[which];
}

/* ---- create ---- */

static int add_recipient(sq_store *s, int64_t id, const edm_message_new *m, size_t i, int64_t now,
                         int any_suppressions, int64_t *receipt_id, enum edm_add_outcome *outcome)
{
    const edm_recipient *r = &m->rcpts[i];
    int suppressed =
        any_suppressions ? sq_recipient_suppressed(s, msg_stmt(s, MS_SUPPRESSED), r) : 0;
    if (suppressed < 0)
        return suppressed;
    sqlite3_stmt *q = msg_stmt(s, MS_DELIVERY);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, id);
    sq_bind_text(q, 2, r->email);
    if (sq_bind_string(s, q, 3, r->domain) != 0)
        return EDM_EDB;
    if (sq_vars_bind(s, q, 4, r) != 0)
        return EDM_EDB;
    sqlite3_bind_int(q, 5, suppressed ? EDM_DSTATE_SUPPRESSED : EDM_DSTATE_QUEUED);
    sqlite3_bind_int64(q, 6, now);
    sqlite3_bind_int64(q, 7, m->send_at > now ? m->send_at : now);
    if (sq_step_done(s, q, "insert recipient") != 0)
        return EDM_EDB;
    if (sqlite3_changes(s->db) == 0) {
        *receipt_id = 0;
        *outcome = EDM_ADD_DUPLICATE;
    } else {
        *receipt_id = sqlite3_last_insert_rowid(s->db);
        *outcome = suppressed ? EDM_ADD_SUPPRESSED : EDM_ADD_ACCEPTED;
    }
    return 0;
}

static int message_insert(sq_store *s, const edm_message_new *m, int64_t now, int64_t *id,
                          int64_t *receipt_ids, enum edm_add_outcome *outcomes);

/* The message's attachments, one row each (inside message_insert's
 * transaction). */
static int add_attachments(sq_store *s, int64_t id, const edm_message_new *m)
{
    for (size_t i = 0; i < m->nattachments; i++) {
        const edm_attachment_new *a = &m->attachments[i];
        sqlite3_stmt *q = msg_stmt(s, MS_ATTACH_INSERT);
        if (q == NULL)
            return EDM_EDB;
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)i);
        sq_bind_text(q, 3, a->filename);
        sq_bind_text(q, 4, a->content_type);
        /* a zero-length blob, not NULL, for an empty file */
        sqlite3_bind_blob64(q, 5, a->len ? a->data : "", a->len, SQLITE_STATIC);
        sq_bind_text(q, 6, a->content_id);
        int rc = sq_step_done(s, q, "insert message attachment");
        sqlite3_clear_bindings(q);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int sq_message_create(edm_store *st, const edm_message_new *m, int64_t now, int64_t *id,
                      int64_t *receipt_ids, enum edm_add_outcome *outcomes)
{
    sq_store *s = SQ(st);
    /* Durable before the 202 or the 250 (docs/smtp.md "Commit before
     * 250"): this one commit runs with synchronous=FULL, so the WAL is
     * fsynced before COMMIT returns, as Postfix fsyncs its queue file;
     * every other write (campaign outcomes) stays NORMAL. SQLite refuses
     * to change the level inside a transaction: set before BEGIN, put
     * back after COMMIT or ROLLBACK. */
    sqlite3_stmt *sync = sq_stmt(s, SQ_SYNC_FULL);
    int rc = sync == NULL ? EDM_EDB : sq_step_done(s, sync, "synchronous=FULL");
    if (rc == 0)
        rc = message_insert(s, m, now, id, receipt_ids, outcomes);
    sync = sq_stmt(s, SQ_SYNC_NORMAL);
    int rc2 = sync == NULL ? EDM_EDB : sq_step_done(s, sync, "synchronous=NORMAL");
    return rc != 0 ? rc : rc2;
}

static int message_insert(sq_store *s, const edm_message_new *m, int64_t now, int64_t *id,
                          int64_t *receipt_ids, enum edm_add_outcome *outcomes)
{
    int rc = sq_begin(s);
    if (rc != 0)
        return rc;
    sqlite3_stmt *q = sq_stmt(s, SQ_SUPPRESSION_ANY);
    if (q == NULL || sqlite3_step(q) != SQLITE_ROW) {
        rc = sq_fail(s, "suppressions");
        goto fail;
    }
    int any_suppressions = sqlite3_column_int(q, 0);
    sqlite3_reset(q);

    if ((q = msg_stmt(s, MS_CAMPAIGN)) == NULL) {
        rc = EDM_EDB;
        goto fail;
    }
    sq_bind_text(q, 1, m->from);
    sq_bind_text(q, 2, m->reply_to);
    sq_bind_text(q, 3, m->pool);
    if (m->send_at > 0)
        sqlite3_bind_int64(q, 4, m->send_at);
    else
        sqlite3_bind_null(q, 4);
    sq_bind_text(q, 5, m->headers_json);
    sq_bind_text(q, 6, m->tags_json);
    sqlite3_bind_int(q, 9, (int)m->track);
    if (m->template_id > 0)
        sqlite3_bind_int64(q, 7, m->template_id);
    else
        sqlite3_bind_null(q, 7);
    sqlite3_bind_int64(q, 8, now);
    rc = sqlite3_step(q);
    sqlite3_clear_bindings(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        rc = sq_fail(s, "insert message");
        goto fail;
    }
    *id = sqlite3_last_insert_rowid(s->db);

    if ((q = msg_stmt(s, MS_CONTENT)) == NULL) {
        rc = EDM_EDB;
        goto fail;
    }
    sqlite3_bind_int64(q, 1, *id);
    sq_bind_text(q, 2, m->source ? m->source : "api");
    sq_bind_text(q, 3, m->subject);
    sq_bind_text(q, 4, m->html);
    sq_bind_text(q, 5, m->text);
    if (m->raw)
        sqlite3_bind_blob(q, 6, m->raw, (int)m->rawlen, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 6);
    sq_bind_text(q, 7, m->envelope_from);
    rc = sq_step_done(s, q, "insert message content");
    sqlite3_clear_bindings(q);
    if (rc != 0 || (rc = add_attachments(s, *id, m)) != 0)
        goto fail;
    for (size_t i = 0; i < m->nrcpts; i++)
        if ((rc = add_recipient(s, *id, m, i, now, any_suppressions, &receipt_ids[i],
                                &outcomes[i])) != 0)
            goto fail;
    if ((rc = sq_commit(s)) != 0)
        goto fail;
    return 0;
fail:
    sq_rollback(s);
    return rc;
}

/* ---- load (pipeline) ---- */

static char *col_dup(sqlite3_stmt *q, int i)
{
    const char *t = (const char *)sqlite3_column_text(q, i);
    return t ? edm_strndup(t, (size_t)sqlite3_column_bytes(q, i)) : NULL;
}

/* The attachments of message id into out (in the order given). */
static int load_attachments(sq_store *s, int64_t id, edm_message_row *out)
{
    sqlite3_stmt *q = msg_stmt(s, MS_ATTACH_LOAD);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (out->nattachments == cap) {
            cap = cap ? cap * 2 : 4;
            out->attachments = edm_xrealloc(out->attachments, cap * sizeof *out->attachments);
        }
        edm_attachment_row *a = &out->attachments[out->nattachments++];
        a->filename = col_dup(q, 0);
        a->content_type = col_dup(q, 1);
        a->len = (size_t)sqlite3_column_bytes(q, 2);
        a->data = edm_xmalloc(a->len ? a->len : 1);
        if (a->len)
            memcpy(a->data, sqlite3_column_blob(q, 2), a->len);
        a->content_id = col_dup(q, 3);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, "load message attachments");
}

int sq_message_load(edm_store *st, int64_t id, edm_message_row *out)
{
    sq_store *s = SQ(st);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, name, template_id, from_addr, reply_to, pool, status, "
                           "send_at, headers, tags, unsubscribe, max_per_hour, created_at, "
                           "updated_at, started_at, completed_at, track FROM campaigns "
                           "WHERE id = ?1 AND kind = 1",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare message");
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        sq_campaign_read(q, &out->c);
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "load message");
    if ((q = msg_stmt(s, MS_LOAD_CONTENT)) == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, id);
    if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        out->source = col_dup(q, 0);
        out->subject = col_dup(q, 1);
        out->html = col_dup(q, 2);
        out->text = col_dup(q, 3);
        if (sqlite3_column_type(q, 4) != SQLITE_NULL) {
            out->rawlen = (size_t)sqlite3_column_bytes(q, 4);
            out->raw = edm_xmalloc(out->rawlen + 1);
            memcpy(out->raw, sqlite3_column_blob(q, 4), out->rawlen);
            out->raw[out->rawlen] = '\0';
        }
        out->envelope_from = col_dup(q, 5);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW) {
        edm_message_row_clear(out);
        return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "load message content");
    }
    if ((rc = load_attachments(s, id, out)) != 0) {
        edm_message_row_clear(out);
        return rc;
    }
    return 0;
}

/* ---- API reads ---- */

#define MESSAGE_SELECT                                                                             \
    "SELECT c.id, mc.source, c.from_addr, c.reply_to, mc.subject, c.template_id, c.pool, c.tags, " \
    "c.send_at, c.created_at FROM campaigns c JOIN message_content mc ON mc.campaign_id = c.id "

/* [{filename, content_type, size, content_id?}] of message id: never the
 * bytes; content_id only for an inline part. */
static int attachments_json(sq_store *s, int64_t id, json_t **out)
{
    sqlite3_stmt *q = msg_stmt(s, MS_ATTACH_META);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, id);
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *a = json_pack("{s:o, s:o, s:I}", "filename", sq_text_col(q, 0), "content_type",
                              sq_text_col(q, 1), "size", (json_int_t)sqlite3_column_int64(q, 2));
        if (sqlite3_column_type(q, 3) != SQLITE_NULL)
            json_object_set_new(a, "content_id", sq_text_col(q, 3));
        json_array_append_new(arr, a);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return sq_fail(s, "message attachments");
    }
    *out = arr;
    return 0;
}

/* A row of MESSAGE_SELECT with its attachments' metadata, its recipients'
 * receipts and counts. */
static int message_object(sq_store *s, sqlite3_stmt *q, json_t **out)
{
    int64_t id = sqlite3_column_int64(q, 0);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(id));
    json_object_set_new(o, "source", sq_text_col(q, 1));
    json_object_set_new(o, "from", sq_text_col(q, 2));
    json_object_set_new(o, "reply_to", sq_text_col(q, 3));
    json_object_set_new(o, "subject", sq_text_col(q, 4));
    json_object_set_new(o, "template_id", sq_int_col(q, 5));
    json_object_set_new(o, "pool", sq_text_col(q, 6));
    json_object_set_new(o, "tags", sq_json_col(q, 7, "[]"));
    json_object_set_new(o, "send_at", sq_time_col(q, 8));
    json_object_set_new(o, "created_at", sq_time_col(q, 9));
    json_t *att = NULL;
    int arc = attachments_json(s, id, &att);
    if (arc != 0) {
        json_decref(o);
        return arc;
    }
    json_object_set_new(o, "attachments", att);
    sqlite3_stmt *r = msg_stmt(s, MS_RECEIPTS);
    if (r == NULL) {
        json_decref(o);
        return EDM_EDB;
    }
    sqlite3_bind_int64(r, 1, id);
    json_t *rcpts = json_array(), *counts = json_object();
    int rc, pending = 0;
    while ((rc = sqlite3_step(r)) == SQLITE_ROW) {
        json_t *rec = sq_receipt_object(r);
        /* The parent is the message, not a campaign: campaign_id is null
         * (every receipt has every field). */
        json_object_set_new(rec, "campaign_id", json_null());
        const char *state = json_string_value(json_object_get(rec, "status"));
        int st = edm_dstate_parse(state);
        pending |= st >= 0 && !edm_dstate_is_terminal((enum edm_dstate)st);
        json_t *c = json_object_get(counts, state);
        json_object_set_new(counts, state, json_integer(c ? json_integer_value(c) + 1 : 1));
        json_array_append_new(rcpts, rec);
    }
    sqlite3_reset(r);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        json_decref(rcpts);
        json_decref(counts);
        return sq_fail(s, "message receipts");
    }
    json_object_set_new(o, "status", json_string(pending ? "pending" : "done"));
    json_object_set_new(o, "counts", counts);
    json_object_set_new(o, "recipients", rcpts);
    *out = o;
    return 0;
}

int sq_message_get(edm_store *st, int64_t id, json_t **out)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, MESSAGE_SELECT "WHERE c.id = ?1 AND c.kind = 1", -1, &q, NULL) !=
        SQLITE_OK)
        return sq_fail(s, "prepare message");
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        rc = message_object(s, q, out);
    else
        rc = rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "get message");
    sqlite3_finalize(q);
    return rc;
}

int sq_message_list(edm_store *st, const char *tag, const char *status, int64_t after, int limit,
                    edm_page *page)
{
    sq_store *s = SQ(st);
    memset(page, 0, sizeof *page);
    int state = -1;
    if (status && (state = edm_dstate_parse(status)) < 0)
        return EDM_EINVAL;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           MESSAGE_SELECT
                           "WHERE c.kind = 1 AND c.id > ?1 "
                           "AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(c.tags) "
                           "WHERE json_each.value = ?3)) "
                           "AND (?4 < 0 OR EXISTS (SELECT 1 FROM deliveries d WHERE "
                           "d.campaign_id = c.id AND d.status = ?4)) ORDER BY c.id LIMIT ?2",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare messages");
    sqlite3_bind_int64(q, 1, after);
    sqlite3_bind_int(q, 2, limit + 1);
    sq_bind_text(q, 3, tag);
    sqlite3_bind_int(q, 4, state);
    page->items = json_array();
    int rc, count = 0;
    int64_t last = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (count == limit) {
            page->next = last;
            break;
        }
        json_t *o;
        if ((rc = message_object(s, q, &o)) != 0)
            break;
        last = sqlite3_column_int64(q, 0);
        json_array_append_new(page->items, o);
        count++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        edm_page_free(page);
        return rc < 0 ? rc : sq_fail(s, "list messages");
    }
    return 0;
}

/* ---- claim ---- */

int sq_claim_txn(edm_store *st, int64_t now, int64_t lease, size_t limit, edm_job **jobs, size_t *n)
{
    sq_store *s = SQ(st);
    *jobs = NULL;
    *n = 0;
    if (limit == 0)
        return 0;
    sqlite3_stmt *q = msg_stmt(s, MS_CLAIM);
    if (q == NULL)
        return EDM_EDB;
    edm_job *v = edm_calloc(limit, sizeof *v);
    if (v == NULL)
        return EDM_ENOMEM;
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)limit);
    sqlite3_bind_int64(q, 3, now + lease);
    size_t cnt = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (cnt == limit)
            continue; /* RETURNING rows must all be stepped */
        edm_job *j = &v[cnt++];
        j->id = sqlite3_column_int64(q, 0);
        j->email = col_dup(q, 1);
        j->domain = sq_email_domain(j->email);
        int vrc = sq_vars_col(s, q, 2, &j->vars);
        j->attempts = sqlite3_column_int(q, 3);
        j->queued_at = sqlite3_column_int64(q, 4);
        j->first_attempt_at = sqlite3_column_int64(q, 5);
        j->campaign_id = sqlite3_column_int64(q, 6);
        if (j->email == NULL || j->domain == NULL || vrc != 0)
            oom = 1;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE || oom) {
        edm_store_jobs_free(v, cnt);
        return oom ? EDM_ENOMEM : sq_fail(s, "claim transactional");
    }
    if (cnt == 0) {
        edm_free(v);
        v = NULL;
    }
    *jobs = v;
    *n = cnt;
    return 0;
}
