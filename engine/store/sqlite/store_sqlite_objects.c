/*
 * engine/store/sqlite/store_sqlite_objects.c: the SQLite backend's writes of
 * templates and campaigns (their typed reads: store_sqlite_rows.c), and
 * the API-only reads as JSON (store.h): campaign stats, receipts with
 * filters and id cursors, delivery events, suppressions, idempotency keys.
 * JSON comes back shaped as the API shows it (RFC 3339 times, state
 * names); fields going in were validated by the caller, and only known
 * field names ever reach SQL, as bound values.
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/alloc.h"
#include "engine/store/receipt.h"
#include "engine/store/stats.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"

#include <ctype.h>
#include <string.h>

#define IDEM_TTL (24 * 3600)

/* A field of an object: its JSON name, its column, how it is stored. */
enum col_kind { COL_TEXT, COL_INT, COL_JSON, COL_TIME, COL_CSTATE, COL_TRACK };
struct col {
    const char *field;
    const char *column;
    enum col_kind kind;
    int writable;
};

static const struct col template_cols[] = {
    {"id", "id", COL_INT, 0},
    {"name", "name", COL_TEXT, 1},
    {"subject", "subject", COL_TEXT, 1},
    {"html", "html", COL_TEXT, 1},
    {"text", "text", COL_TEXT, 1},
    {"partials", "partials", COL_JSON, 1},
    {"created_at", "created_at", COL_TIME, 0},
    {"updated_at", "updated_at", COL_TIME, 0},
    {NULL, NULL, 0, 0},
};

static const struct col campaign_cols[] = {
    {"id", "id", COL_INT, 0},
    {"name", "name", COL_TEXT, 1},
    {"template_id", "template_id", COL_INT, 1},
    {"from", "from_addr", COL_TEXT, 1},
    {"reply_to", "reply_to", COL_TEXT, 1},
    {"pool", "pool", COL_TEXT, 1},
    {"status", "status", COL_CSTATE, 0},
    {"send_at", "send_at", COL_TIME, 1},
    {"headers", "headers", COL_JSON, 1},
    {"tags", "tags", COL_JSON, 1},
    {"unsubscribe", "unsubscribe", COL_TEXT, 1},
    {"max_per_hour", "max_per_hour", COL_INT, 1},
    {"track", "track", COL_TRACK, 1},
    {"created_at", "created_at", COL_TIME, 0},
    {"updated_at", "updated_at", COL_TIME, 0},
    {"started_at", "started_at", COL_TIME, 0},
    {"completed_at", "completed_at", COL_TIME, 0},
    {NULL, NULL, 0, 0},
};

static json_t *row_object(sqlite3_stmt *q, const struct col *cols)
{
    json_t *o = json_object();
    for (int i = 0; o && cols[i].field; i++) {
        json_t *v;
        switch (cols[i].kind) {
        case COL_TEXT: v = sq_text_col(q, i); break;
        case COL_INT: v = sq_int_col(q, i); break;
        case COL_JSON:
            v = sq_json_col(q, i, strcmp(cols[i].field, "tags") == 0 ? "[]" : "{}");
            break;
        case COL_TIME: v = sq_time_col(q, i); break;
        case COL_CSTATE: v = json_string(edm_cstate_name(sqlite3_column_int(q, i))); break;
        case COL_TRACK:
            v = json_pack("{s:b,s:b}", "opens", (sqlite3_column_int(q, i) & EDM_TRACK_OPENS) != 0,
                          "clicks", (sqlite3_column_int(q, i) & EDM_TRACK_CLICKS) != 0);
            break;
        default: EDM_PANIC("bad column kind %d", cols[i].kind);
        }
        json_object_set_new(o, cols[i].field, v);
    }
    return o;
}

/* Binds a field value for column kind; returns 0 or EDM_EINVAL. */
static int bind_field(sqlite3_stmt *q, int idx, const struct col *c, json_t *v, char **tmp)
{
    *tmp = NULL;
    if (json_is_null(v) && c->kind == COL_TRACK) {
        sqlite3_bind_int(q, idx, 0);
        return 0;
    }
    if (json_is_null(v)) {
        sqlite3_bind_null(q, idx);
        return 0;
    }
    switch (c->kind) {
    case COL_TEXT:
        if (!json_is_string(v))
            return EDM_EINVAL;
        sqlite3_bind_text(q, idx, json_string_value(v), (int)json_string_length(v), SQLITE_STATIC);
        return 0;
    case COL_INT:
        if (!json_is_integer(v))
            return EDM_EINVAL;
        sqlite3_bind_int64(q, idx, json_integer_value(v));
        return 0;
    case COL_JSON:
        *tmp = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (*tmp == NULL)
            return EDM_ENOMEM;
        sqlite3_bind_text(q, idx, *tmp, -1, SQLITE_STATIC);
        return 0;
    case COL_TIME: {
        int64_t t;
        if (json_is_integer(v)) {
            sqlite3_bind_int64(q, idx, json_integer_value(v));
            return 0;
        }
        if (!json_is_string(v) || edm_time_parse_rfc3339(json_string_value(v), &t) != 0)
            return EDM_EINVAL;
        sqlite3_bind_int64(q, idx, t);
        return 0;
    }
    case COL_TRACK:
        /* {"opens": bool, "clicks": bool} as bits (docs/tracking.md). */
        if (!json_is_object(v))
            return EDM_EINVAL;
        sqlite3_bind_int(
            q, idx,
            (json_is_true(json_object_get(v, "opens")) ? (int)EDM_TRACK_OPENS : 0) |
                (json_is_true(json_object_get(v, "clicks")) ? (int)EDM_TRACK_CLICKS : 0));
        return 0;
    default: return EDM_EINVAL;
    }
}

/* INSERT (id 0) or UPDATE (id > 0) of the writable fields present in
 * `fields`; extra columns/values are given for the insert (created_at...). */
static int write_object(sq_store *s, const char *table, const struct col *cols, int64_t id,
                        json_t *fields, int64_t *new_id)
{
    edm_buf sql = EDM_BUF_INIT;
    int64_t now = edm_time_now();
    int n = 0;
    if (id == 0) {
        edm_buf vals = EDM_BUF_INIT;
        edm_buf_appendf(&sql, "INSERT INTO %s(created_at, updated_at", table);
        edm_buf_append_str(&vals, "?1, ?1");
        for (int i = 0; cols[i].field; i++)
            if (cols[i].writable && json_object_get(fields, cols[i].field)) {
                edm_buf_appendf(&sql, ", %s", cols[i].column);
                edm_buf_appendf(&vals, ", ?%d", i + 2);
                n++;
            }
        edm_buf_appendf(&sql, ") VALUES (%s)", edm_buf_cstr(&vals));
        edm_buf_free(&vals);
    } else {
        edm_buf_appendf(&sql, "UPDATE %s SET updated_at = ?1", table);
        for (int i = 0; cols[i].field; i++)
            if (cols[i].writable && json_object_get(fields, cols[i].field)) {
                edm_buf_appendf(&sql, ", %s = ?%d", cols[i].column, i + 2);
                n++;
            }
        edm_buf_appendf(&sql, " WHERE id = ?%d", 100);
    }
    if (sql.data == NULL)
        return EDM_ENOMEM;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, sql.data, -1, &q, NULL) != SQLITE_OK) {
        edm_buf_free(&sql);
        return sq_fail(s, "prepare write");
    }
    edm_buf_free(&sql);
    sqlite3_bind_int64(q, 1, now);
    if (id)
        sqlite3_bind_int64(q, 100, id);
    char *tmps[32] = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && cols[i].field; i++) {
        json_t *v = json_object_get(fields, cols[i].field);
        if (cols[i].writable && v)
            rc = bind_field(q, i + 2, &cols[i], v, &tmps[i]);
    }
    if (rc == 0) {
        int src = sqlite3_step(q);
        if (src != SQLITE_DONE)
            rc = (src & 0xff) == SQLITE_CONSTRAINT ? EDM_EINVAL : sq_fail(s, "write");
        if ((src & 0xff) == SQLITE_CONSTRAINT)
            sq_fail(s, "write");
    }
    sqlite3_finalize(q);
    for (int i = 0; i < 32; i++)
        free(tmps[i]);
    if (rc == 0 && id && sqlite3_changes(s->db) == 0)
        rc = EDM_ENOTFOUND;
    if (rc == 0 && new_id)
        *new_id = id ? id : sqlite3_last_insert_rowid(s->db);
    return rc;
}

/* A page of objects by id cursor. */
static int list_objects(sq_store *s, const char *sql, const struct col *cols, const char *filter,
                        int64_t after, int limit, edm_page *page)
{
    sqlite3_stmt *q;
    page->items = NULL;
    page->next = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare list");
    sqlite3_bind_int64(q, 1, after);
    sqlite3_bind_int(q, 2, limit + 1);
    if (filter)
        sqlite3_bind_text(q, 3, filter, -1, SQLITE_STATIC);
    json_t *items = json_array();
    int rc, count = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (count == limit) {
            page->next =
                json_integer_value(json_object_get(json_array_get(items, count - 1), "id"));
            break;
        }
        json_array_append_new(items, row_object(q, cols));
        count++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        return sq_fail(s, "list");
    }
    page->items = items;
    return 0;
}

/* ---- templates ---- */

int sq_template_create(edm_store *st, json_t *fields, edm_template_row *out)
{
    int64_t id;
    int rc = write_object(SQ(st), "templates", template_cols, 0, fields, &id);
    return rc || out == NULL ? rc : sq_template_get(st, id, out);
}

int sq_template_update(edm_store *st, int64_t id, json_t *fields, edm_template_row *out)
{
    int rc = write_object(SQ(st), "templates", template_cols, id, fields, NULL);
    return rc || out == NULL ? rc : sq_template_get(st, id, out);
}

static int delete_by_id(sq_store *s, const char *sql, int64_t id)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare delete");
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return (rc & 0xff) == SQLITE_CONSTRAINT ? EDM_ESTATE : sq_fail(s, "delete");
    return sqlite3_changes(s->db) ? 0 : EDM_ENOTFOUND;
}

int sq_template_delete(edm_store *st, int64_t id)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM campaigns WHERE template_id = ?1 AND "
                           "status NOT IN (0, 4, 5)", /* draft, completed, cancelled */
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare template use");
    sqlite3_bind_int64(q, 1, id);
    int in_use = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) > 0;
    sqlite3_finalize(q);
    if (in_use)
        return EDM_ESTATE;
    /* Campaigns that are done keep their history; they just lose the link. */
    if (sqlite3_prepare_v2(s->db, "UPDATE campaigns SET template_id = NULL WHERE template_id = ?1",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare unlink");
    sqlite3_bind_int64(q, 1, id);
    sqlite3_step(q);
    sqlite3_finalize(q);
    return delete_by_id(s, "DELETE FROM templates WHERE id = ?1", id);
}

/* ---- campaigns ---- */

int sq_campaign_create(edm_store *st, json_t *fields, edm_campaign_row *out)
{
    int64_t id;
    int rc = write_object(SQ(st), "campaigns", campaign_cols, 0, fields, &id);
    return rc || out == NULL ? rc : sq_campaign_get(st, id, out);
}

int sq_campaign_update(edm_store *st, int64_t id, json_t *fields, edm_campaign_row *out)
{
    int rc = write_object(SQ(st), "campaigns", campaign_cols, id, fields, NULL);
    return rc || out == NULL ? rc : sq_campaign_get(st, id, out);
}

int sq_campaign_stats(edm_store *st, int64_t id, json_t **out)
{
    sq_store *s = SQ(st);
    edm_campaign_row c;
    int rc = sq_campaign_get(st, id, &c);
    if (rc != 0)
        return rc;
    enum edm_cstate cstate = c.state;
    edm_campaign_row_clear(&c);
    /* From the counters (schema/0002_campaign_counts.sql): a handful of
     * rows whatever the campaign's size. Categories: bounced only. */
    sqlite3_stmt *q = sq_stmt(s, SQ_COUNTS);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, id);
    edm_stats_acc acc;
    edm_stats_begin(&acc);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        edm_stats_add(&acc, sqlite3_column_int(q, 0), (const char *)sqlite3_column_text(q, 1),
                      sqlite3_column_int64(q, 2));
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        edm_stats_abandon(&acc);
        return sq_fail(s, "stats");
    }
    *out = edm_stats_json(&acc, id, cstate);
    if (*out == NULL)
        return EDM_ENOMEM;
    if ((rc = sq_feedback_stats(s, id, *out)) != 0 ||
        (rc = sq_engagement_stats(s, id, *out)) != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- receipts ---- */

static int sq_rd_null(const edm_row_reader *rd, int c)
{
    return sqlite3_column_type((sqlite3_stmt *)rd->row, c) == SQLITE_NULL;
}

static int64_t sq_rd_i64(const edm_row_reader *rd, int c)
{
    return sqlite3_column_int64((sqlite3_stmt *)rd->row, c);
}

static const char *sq_rd_text(const edm_row_reader *rd, int c, size_t *len)
{
    const char *t = (const char *)sqlite3_column_text((sqlite3_stmt *)rd->row, c);
    *len = (size_t)sqlite3_column_bytes((sqlite3_stmt *)rd->row, c);
    return t;
}

json_t *sq_receipt_object(sqlite3_stmt *q)
{
    edm_row_reader rd = {q, 0, sq_rd_null, sq_rd_i64, sq_rd_text};
    return edm_receipt_json(&rd);
}

enum { RF_STATUS = 1, RF_DOMAIN = 2, RF_EMAIL = 4, RF_SINCE = 8, RF_UNTIL = 16, RF_FEEDBACK = 32 };

static sqlite3_stmt *receipt_stmt(sq_store *s, unsigned mask)
{
    if (s->receipt_stmts[mask] == NULL) {
        edm_buf sql = EDM_BUF_INIT;
        /* Without a status, domain or email filter no index gives the
         * campaign's rows in id order (deliveries_status is ordered by
         * status first, and SQLite would sort the whole campaign for each
         * page): walk the rowid from the cursor instead ("+" keeps the
         * planner off the campaign_id indexes). receipt_list starts the
         * first page at the campaign's first row. */
        int by_rowid = !(mask & (RF_STATUS | RF_DOMAIN | RF_EMAIL | RF_FEEDBACK));
        edm_buf_append_str(&sql, by_rowid ? "SELECT " RECEIPT_COLUMNS
                                            " FROM deliveries WHERE +campaign_id = ?1 AND id > ?2"
                                          : "SELECT " RECEIPT_COLUMNS
                                            " FROM deliveries WHERE campaign_id = ?1 AND id > ?2");
        if (mask & RF_STATUS)
            edm_buf_append_str(&sql, " AND status = ?3");
        if (mask & RF_DOMAIN)
            edm_buf_append_str(&sql, " AND domain_id = (SELECT id FROM strings WHERE value = ?6)");
        if (mask & RF_EMAIL)
            edm_buf_append_str(&sql, " AND email = ?7");
        if (mask & RF_SINCE)
            edm_buf_append_str(&sql, " AND coalesce(last_attempt_at, queued_at) >= ?8");
        if (mask & RF_UNTIL)
            edm_buf_append_str(&sql, " AND coalesce(last_attempt_at, queued_at) < ?9");
        if (mask & RF_FEEDBACK)
            edm_buf_append_str(&sql, " AND feedback = ?4");
        edm_buf_append_str(&sql, " ORDER BY id LIMIT ?10");
        if (sql.data == NULL || sqlite3_prepare_v3(s->db, sql.data, -1, SQLITE_PREPARE_PERSISTENT,
                                                   &s->receipt_stmts[mask], NULL) != SQLITE_OK) {
            edm_buf_free(&sql);
            sq_fail(s, "prepare receipts");
            return NULL;
        }
        edm_buf_free(&sql);
    }
    sqlite3_reset(s->receipt_stmts[mask]);
    sqlite3_clear_bindings(s->receipt_stmts[mask]);
    return s->receipt_stmts[mask];
}

int sq_receipt_list(edm_store *st, int64_t campaign_id, const edm_receipt_filter *f, edm_page *page)
{
    sq_store *s = SQ(st);
    page->items = NULL;
    page->next = 0;
    unsigned mask = (f->status ? RF_STATUS : 0) | (f->domain ? RF_DOMAIN : 0) |
                    (f->email ? RF_EMAIL : 0) | (f->since ? RF_SINCE : 0) |
                    (f->until ? RF_UNTIL : 0) | (f->feedback ? RF_FEEDBACK : 0);
    int limit = f->limit > 0 && f->limit <= 1000 ? f->limit : 100;
    int status = -1;
    if (f->status && (status = edm_dstate_parse(f->status)) < 0)
        return EDM_EINVAL;
    int feedback = -1;
    if (f->feedback && (feedback = edm_feedback_parse(f->feedback)) < 0)
        return EDM_EINVAL;
    /* a stream that began before the campaign was deleted ends here */
    int gone = sq_campaign_deleted(s, campaign_id);
    if (gone != 0)
        return gone > 0 ? EDM_ENOTFOUND : gone;
    sqlite3_stmt *q = receipt_stmt(s, mask);
    if (q == NULL)
        return EDM_EDB;
    int64_t after = f->after;
    if (!(mask & (RF_STATUS | RF_DOMAIN | RF_EMAIL | RF_FEEDBACK))) {
        /* the rowid walk starts at the campaign's first row, not at row 1 */
        sqlite3_stmt *fq = sq_stmt(s, SQ_CAMPAIGN_FIRST_DELIVERY);
        if (fq == NULL)
            return EDM_EDB;
        sqlite3_bind_int64(fq, 1, campaign_id);
        int frc = sqlite3_step(fq);
        int64_t first = frc == SQLITE_ROW ? sqlite3_column_int64(fq, 0) : 0;
        int none = frc == SQLITE_ROW && sqlite3_column_type(fq, 0) == SQLITE_NULL;
        sqlite3_reset(fq);
        if (frc != SQLITE_ROW)
            return sq_fail(s, "receipts start");
        if (none) {
            page->items = json_array();
            return page->items ? 0 : EDM_ENOMEM;
        }
        if (after < first - 1)
            after = first - 1;
    }
    sqlite3_bind_int64(q, 1, campaign_id);
    sqlite3_bind_int64(q, 2, after);
    if (mask & RF_STATUS)
        sqlite3_bind_int(q, 3, status);
    if (mask & RF_FEEDBACK)
        sqlite3_bind_int(q, 4, feedback);
    sq_bind_text(q, 6, f->domain);
    sq_bind_text(q, 7, f->email);
    sqlite3_bind_int64(q, 8, f->since);
    sqlite3_bind_int64(q, 9, f->until);
    sqlite3_bind_int(q, 10, limit + 1);
    json_t *items = json_array();
    int rc, count = 0;
    int64_t last = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (count == limit) {
            page->next = last;
            break;
        }
        last = sqlite3_column_int64(q, 0);
        json_array_append_new(items, sq_receipt_object(q));
        count++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        return sq_fail(s, "receipts");
    }
    page->items = items;
    return 0;
}

int sq_receipt_get(edm_store *st, int64_t id, json_t **out)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q = sq_stmt(s, SQ_RECEIPT_GET);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *out = sq_receipt_object(q);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "receipt");
}

int sq_receipt_events(edm_store *st, int64_t id, json_t **items)
{
    sq_store *s = SQ(st);
    json_t *r = NULL;
    int rc = sq_receipt_get(st, id, &r);
    json_decref(r);
    if (rc != 0)
        return rc;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " EDM_SQ_EVENT_COLUMNS " FROM delivery_events e "
                           "WHERE e.delivery_id = ?1 ORDER BY e.id",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare events");
    sqlite3_bind_int64(q, 1, id);
    json_t *arr = json_array();
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        json_array_append_new(arr, sq_event_object(q, 0));
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return sq_fail(s, "events");
    }
    *items = arr;
    return 0;
}

/* ---- suppressions ---- */

static const struct col suppression_cols[] = {
    {"id", "id", COL_INT, 0},
    {"value", "value", COL_TEXT, 0},
    {"kind", "kind", COL_TEXT, 0},
    {"reason", "reason", COL_TEXT, 0},
    {"created_at", "created_at", COL_TIME, 0},
    {NULL, NULL, 0, 0},
};

static char *lower_dup(const char *v)
{
    char *d = edm_strdup(v);
    for (char *p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

int sq_suppression_add(edm_store *st, const char *value, const char *reason, json_t **out)
{
    sq_store *s = SQ(st);
    char *v = lower_dup(value);
    if (v == NULL)
        return EDM_ENOMEM;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO suppressions(value, kind, reason, created_at) "
                           "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(value) DO UPDATE SET "
                           "reason = excluded.reason RETURNING id, value, kind, reason, created_at",
                           -1, &q, NULL) != SQLITE_OK) {
        edm_free(v);
        return sq_fail(s, "prepare suppression");
    }
    sqlite3_bind_text(q, 1, v, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, strchr(v, '@') ? "email" : "domain", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, reason ? reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, edm_time_now());
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && out)
        *out = row_object(q, suppression_cols);
    sqlite3_finalize(q);
    edm_free(v);
    return rc == SQLITE_ROW ? 0 : sq_fail(s, "add suppression");
}

int sq_suppression_list(edm_store *st, int64_t after, int limit, edm_page *page)
{
    return list_objects(SQ(st),
                        "SELECT id, value, kind, reason, created_at FROM suppressions "
                        "WHERE id > ?1 ORDER BY id LIMIT ?2",
                        suppression_cols, NULL, after, limit, page);
}

int sq_suppression_delete(edm_store *st, const char *value)
{
    sq_store *s = SQ(st);
    char *v = lower_dup(value);
    if (v == NULL)
        return EDM_ENOMEM;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM suppressions WHERE value = ?1", -1, &q, NULL) !=
        SQLITE_OK) {
        edm_free(v);
        return sq_fail(s, "prepare delete suppression");
    }
    sqlite3_bind_text(q, 1, v, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    edm_free(v);
    if (rc != SQLITE_DONE)
        return sq_fail(s, "delete suppression");
    return sqlite3_changes(s->db) ? 0 : EDM_ENOTFOUND;
}

int sq_suppression_check(edm_store *st, const char *email, const char *domain)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q = sq_stmt(s, SQ_SUPPRESSION_CHECK);
    if (q == NULL)
        return EDM_EDB;
    sq_bind_text(q, 1, email);
    sq_bind_text(q, 2, domain);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : sq_fail(s, "check suppression");
}

/* ---- idempotency ---- */

int sq_idem_get(edm_store *st, const char *key, int *status, char **body)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT status, body FROM idempotency WHERE key = ?1 AND "
                           "created_at > ?2",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare idempotency");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, edm_time_now() - IDEM_TTL);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *status = sqlite3_column_int(q, 0);
        *body = edm_strdup((const char *)sqlite3_column_text(q, 1));
    }
    sqlite3_finalize(q);
    if (rc == SQLITE_ROW)
        return *body ? 0 : EDM_ENOMEM;
    return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "idempotency");
}

int sq_idem_put(edm_store *st, const char *key, int status, const char *body)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM idempotency WHERE created_at <= ?1", -1, &q, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(q, 1, edm_time_now() - IDEM_TTL);
        sqlite3_step(q);
        sqlite3_finalize(q);
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO idempotency(key, status, body, created_at) "
                           "VALUES (?1, ?2, ?3, ?4)",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare idempotency put");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, status);
    sqlite3_bind_text(q, 3, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, edm_time_now());
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, "idempotency put");
}
