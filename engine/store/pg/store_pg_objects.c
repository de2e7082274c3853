/*
 * engine/store/pg/store_pg_objects.c: the PostgreSQL backend's writes of
 * templates and campaigns (their typed reads: store_pg_rows.c) and the
 * API-only reads as JSON (store.h): campaign stats, receipts with filters
 * and id cursors, delivery events, suppressions, idempotency keys. JSON
 * comes back shaped as the API shows it (RFC 3339 times, state names);
 * fields going in were validated by the caller, and only known field
 * names ever reach SQL, as bound values.
 */
#include "engine/base/alloc.h"
#include "engine/store/receipt.h"
#include "engine/store/stats.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/store/pg/store_pg_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define IDEM_TTL (24 * 3600)

enum col_kind { COL_TEXT, COL_INT, COL_JSON, COL_TIME, COL_CSTATE, COL_TRACK };
struct col {
    const char *field;
    const char *column;
    enum col_kind kind;
    int writable;
};

static const struct col template_cols[] = {
    {"name", "name", COL_TEXT, 1},         {"subject", "subject", COL_TEXT, 1},
    {"html", "html", COL_TEXT, 1},         {"text", "text", COL_TEXT, 1},
    {"partials", "partials", COL_JSON, 1}, {NULL, NULL, 0, 0},
};

static const struct col campaign_cols[] = {
    {"name", "name", COL_TEXT, 1},
    {"template_id", "template_id", COL_INT, 1},
    {"from", "from_addr", COL_TEXT, 1},
    {"reply_to", "reply_to", COL_TEXT, 1},
    {"pool", "pool", COL_TEXT, 1},
    {"send_at", "send_at", COL_TIME, 1},
    {"headers", "headers", COL_JSON, 1},
    {"tags", "tags", COL_JSON, 1},
    {"unsubscribe", "unsubscribe", COL_TEXT, 1},
    {"max_per_hour", "max_per_hour", COL_INT, 1},
    {"track", "track", COL_TRACK, 1},
    {NULL, NULL, 0, 0},
};

/* Adds a field's value to p; *tmp is freed by the caller. 0 or EDM_EINVAL. */
static int bind_field(pg_params *p, const struct col *c, json_t *v, char **tmp)
{
    *tmp = NULL;
    if (json_is_null(v)) {
        pgp_null(p);
        return 0;
    }
    switch (c->kind) {
    case COL_TEXT:
        if (!json_is_string(v))
            return EDM_EINVAL;
        pgp_text(p, json_string_value(v));
        return 0;
    case COL_INT:
        if (!json_is_integer(v))
            return EDM_EINVAL;
        pgp_int(p, json_integer_value(v));
        return 0;
    case COL_JSON:
        if ((*tmp = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
            return EDM_ENOMEM;
        pgp_text(p, *tmp);
        return 0;
    case COL_TIME: {
        int64_t t;
        if (json_is_integer(v)) {
            pgp_int(p, json_integer_value(v));
            return 0;
        }
        if (!json_is_string(v) || edm_time_parse_rfc3339(json_string_value(v), &t) != 0)
            return EDM_EINVAL;
        pgp_int(p, t);
        return 0;
    }
    case COL_TRACK:
        /* {"opens": bool, "clicks": bool} as bits (docs/tracking.md). */
        if (!json_is_object(v))
            return EDM_EINVAL;
        pgp_int(p, (json_is_true(json_object_get(v, "opens")) ? (int)EDM_TRACK_OPENS : 0) |
                       (json_is_true(json_object_get(v, "clicks")) ? (int)EDM_TRACK_CLICKS : 0));
        return 0;
    default: return EDM_EINVAL;
    }
}

/* INSERT (id 0) or UPDATE (id > 0) of the writable fields present. */
static int write_object(pg_store *s, const char *table, const struct col *cols, int64_t id,
                        json_t *fields, int64_t *new_id)
{
    edm_buf sql = EDM_BUF_INIT, vals = EDM_BUF_INIT;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, edm_time_now());
    char *tmps[16] = {0};
    int rc = 0;
    if (id == 0) {
        /* the id under the list's lock (pg_list_settled) */
        edm_buf_appendf(&sql, "INSERT INTO %s(id, created_at, updated_at", table);
        edm_buf_append_str(&vals, strcmp(table, "campaigns") == 0
                                      ? PG_LIST_ID("campaigns_id_seq", PG_LOCK_CAMPAIGNS)
                                      : PG_LIST_ID("templates_id_seq", PG_LOCK_TEMPLATES));
        edm_buf_append_str(&vals, ", $1, $1");
    } else {
        edm_buf_appendf(&sql, "UPDATE %s SET updated_at = $1", table);
    }
    for (int i = 0; rc == 0 && cols[i].field; i++) {
        json_t *v = json_object_get(fields, cols[i].field);
        if (!cols[i].writable || v == NULL)
            continue;
        rc = bind_field(&p, &cols[i], v, &tmps[i]);
        if (id == 0) {
            edm_buf_appendf(&sql, ", %s", cols[i].column);
            edm_buf_appendf(&vals, ", $%d", p.n);
        } else {
            edm_buf_appendf(&sql, ", %s = $%d", cols[i].column, p.n);
        }
    }
    if (id == 0) {
        edm_buf_appendf(&sql, ") VALUES (%s) RETURNING id", edm_buf_cstr(&vals));
    } else {
        pgp_int(&p, id);
        edm_buf_appendf(&sql, " WHERE id = $%d RETURNING id", p.n);
    }
    edm_buf_free(&vals);
    if (rc == 0 && sql.data == NULL)
        rc = EDM_ENOMEM;
    if (rc == 0) {
        PGresult *r = pg_run_once(s, sql.data, &p, "write");
        if (r == NULL) {
            rc = pg_code(s);
        } else {
            if (PQntuples(r) == 0)
                rc = EDM_ENOTFOUND;
            else if (new_id)
                *new_id = pg_int(r, 0, 0);
            PQclear(r);
        }
    }
    edm_buf_free(&sql);
    for (int i = 0; i < 16; i++)
        free(tmps[i]);
    return rc;
}

int pg_template_create(edm_store *st, json_t *fields, edm_template_row *out)
{
    int64_t id;
    int rc = write_object(PG(st), "templates", template_cols, 0, fields, &id);
    return rc || out == NULL ? rc : pg_template_get(st, id, out);
}

int pg_template_update(edm_store *st, int64_t id, json_t *fields, edm_template_row *out)
{
    int rc = write_object(PG(st), "templates", template_cols, id, fields, NULL);
    return rc || out == NULL ? rc : pg_template_get(st, id, out);
}

static int delete_by_id(pg_store *s, const char *sql, int64_t id)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r = pg_run(s, sql, &p, "delete");
    if (r == NULL)
        return pg_code(s) == EDM_EINVAL ? EDM_ESTATE : EDM_EDB;
    int64_t n = pg_affected(r);
    PQclear(r);
    return n ? 0 : EDM_ENOTFOUND;
}

int pg_template_delete(edm_store *st, int64_t id)
{
    pg_store *s = PG(st);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    /* draft, completed, cancelled campaigns keep their history and lose
     * the link; any other state refuses the delete. */
    PGresult *r = pg_run(s,
                         "SELECT count(*) FROM campaigns WHERE template_id = $1 AND "
                         "status NOT IN (0, 4, 5)",
                         &p, "template use");
    if (r == NULL)
        return EDM_EDB;
    int in_use = pg_int(r, 0, 0) > 0;
    PQclear(r);
    if (in_use)
        return EDM_ESTATE;
    int rc = pg_do(s, "UPDATE campaigns SET template_id = NULL WHERE template_id = $1", &p,
                   "unlink template");
    return rc ? rc : delete_by_id(s, "DELETE FROM templates WHERE id = $1", id);
}

int pg_campaign_create(edm_store *st, json_t *fields, edm_campaign_row *out)
{
    int64_t id;
    int rc = write_object(PG(st), "campaigns", campaign_cols, 0, fields, &id);
    return rc || out == NULL ? rc : pg_campaign_get(st, id, out);
}

int pg_campaign_update(edm_store *st, int64_t id, json_t *fields, edm_campaign_row *out)
{
    int rc = write_object(PG(st), "campaigns", campaign_cols, id, fields, NULL);
    return rc || out == NULL ? rc : pg_campaign_get(st, id, out);
}

int pg_campaign_delete(edm_store *st, int64_t id)
{
    /* its receipts' events not yet posted to webhooks go with it, in the
     * same statement (schema/pg/0019): posted later, they would name
     * receipts that are gone */
    return delete_by_id(PG(st),
                        "WITH posts AS (DELETE FROM webhook_outbox WHERE delivery_id IN "
                        "(SELECT id FROM deliveries WHERE campaign_id = $1)) "
                        "DELETE FROM campaigns WHERE id = $1",
                        id);
}

int pg_campaign_stats(edm_store *st, int64_t id, json_t **out)
{
    edm_campaign_row c;
    int rc = pg_campaign_get(st, id, &c);
    if (rc != 0)
        return rc;
    enum edm_cstate cstate = c.state;
    edm_campaign_row_clear(&c);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r =
        pg_run(PG(st), "SELECT status, category, n FROM campaign_counts WHERE campaign_id = $1", &p,
               "stats");
    if (r == NULL)
        return EDM_EDB;
    edm_stats_acc acc;
    edm_stats_begin(&acc);
    for (int i = 0; i < PQntuples(r); i++)
        edm_stats_add(&acc, pg_int(r, i, 0), PQgetvalue(r, i, 1), pg_int(r, i, 2));
    PQclear(r);
    *out = edm_stats_json(&acc, id, cstate);
    if (*out == NULL)
        return EDM_ENOMEM;
    if ((rc = pg_feedback_stats(PG(st), id, *out)) != 0 ||
        (rc = pg_engagement_stats(PG(st), id, *out)) != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- receipts ---- */

static int pg_rd_null(const edm_row_reader *rd, int c)
{
    return pg_isnull(rd->row, rd->r, c);
}

static int64_t pg_rd_i64(const edm_row_reader *rd, int c)
{
    return pg_int(rd->row, rd->r, c);
}

static const char *pg_rd_text(const edm_row_reader *rd, int c, size_t *len)
{
    *len = (size_t)PQgetlength(rd->row, rd->r, c);
    return PQgetvalue(rd->row, rd->r, c);
}

json_t *pg_receipt_object(const PGresult *q, int r)
{
    edm_row_reader rd = {q, r, pg_rd_null, pg_rd_i64, pg_rd_text};
    return edm_receipt_json(&rd);
}

/* Every filter is in the one statement: a null parameter turns it off. */
static const char SQL_RECEIPTS[] =
    "SELECT " PG_RECEIPT_COLUMNS " FROM deliveries WHERE campaign_id = $1 AND id > $2 "
    "AND ($3::integer IS NULL OR status = $3::integer) AND ($4::text IS NULL OR domain = $4) "
    "AND ($5::text IS NULL OR email = $5) "
    "AND ($6::bigint IS NULL OR coalesce(last_attempt_at, queued_at) >= $6) "
    "AND ($7::bigint IS NULL OR coalesce(last_attempt_at, queued_at) < $7) "
    "AND ($9::integer IS NULL OR feedback = $9::integer) ORDER BY id LIMIT $8";

int pg_receipt_list(edm_store *st, int64_t campaign_id, const edm_receipt_filter *f, edm_page *page)
{
    page->items = NULL;
    page->next = 0;
    int limit = f->limit > 0 && f->limit <= 1000 ? f->limit : 100;
    int status = -1;
    if (f->status && (status = edm_dstate_parse(f->status)) < 0)
        return EDM_EINVAL;
    int feedback = -1;
    if (f->feedback && (feedback = edm_feedback_parse(f->feedback)) < 0)
        return EDM_EINVAL;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, campaign_id);
    pgp_int(&p, f->after);
    if (f->status)
        pgp_int(&p, status);
    else
        pgp_null(&p);
    pgp_text(&p, f->domain);
    pgp_text(&p, f->email);
    if (f->since)
        pgp_int(&p, f->since);
    else
        pgp_null(&p);
    if (f->until)
        pgp_int(&p, f->until);
    else
        pgp_null(&p);
    pgp_int(&p, limit + 1);
    if (f->feedback)
        pgp_int(&p, feedback);
    else
        pgp_null(&p);
    PGresult *r = pg_run(PG(st), SQL_RECEIPTS, &p, "receipts");
    if (r == NULL)
        return EDM_EDB;
    json_t *items = json_array();
    int rows = PQntuples(r);
    for (int i = 0; i < rows && i < limit; i++)
        json_array_append_new(items, pg_receipt_object(r, i));
    if (rows > limit)
        page->next = pg_int(r, limit - 1, 0);
    PQclear(r);
    page->items = items;
    return 0;
}

int pg_receipt_get(edm_store *st, int64_t id, json_t **out)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r = pg_run(PG(st), "SELECT " PG_RECEIPT_COLUMNS " FROM deliveries WHERE id = $1", &p,
                         "receipt");
    if (r == NULL)
        return EDM_EDB;
    int found = PQntuples(r) == 1;
    if (found)
        *out = pg_receipt_object(r, 0);
    PQclear(r);
    return found ? 0 : EDM_ENOTFOUND;
}

int pg_receipt_events(edm_store *st, int64_t id, json_t **items)
{
    json_t *rcpt = NULL;
    int rc = pg_receipt_get(st, id, &rcpt);
    json_decref(rcpt);
    if (rc != 0)
        return rc;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r = pg_run(PG(st),
                         "SELECT " PG_EVENT_COLUMNS " FROM delivery_events e "
                         "WHERE e.delivery_id = $1 ORDER BY e.id",
                         &p, "events");
    if (r == NULL)
        return EDM_EDB;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(arr, pg_event_object(r, i, 0));
    PQclear(r);
    *items = arr;
    return 0;
}

/* ---- suppressions ---- */

static json_t *suppression_object(const PGresult *r, int i)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "id", pg_int_col(r, i, 0), "value",
                     pg_text_col(r, i, 1), "kind", pg_text_col(r, i, 2), "reason",
                     pg_text_col(r, i, 3), "created_at", pg_time_col(r, i, 4));
}

static char *lower_dup(const char *v)
{
    char *d = edm_xstrdup(v);
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* one suppression, its id under the list's lock (pg_list_settled) */
#define SUPPRESSION_ID PG_LIST_ID("suppressions_id_seq", PG_LOCK_SUPPRESSIONS)
static const char SQL_SUPPRESSION_ADD[] =
    "INSERT INTO suppressions(id, value, kind, reason, created_at) "
    "VALUES (" SUPPRESSION_ID ", $1, $2, $3, $4) "
    "ON CONFLICT (value) DO UPDATE SET reason = excluded.reason "
    "RETURNING id, value, kind, reason, created_at";

int pg_suppression_add(edm_store *st, const char *value, const char *reason, json_t **out)
{
    char *v = lower_dup(value);
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, v);
    pgp_text(&p, strchr(v, '@') ? "email" : "domain");
    pgp_text(&p, reason ? reason : "");
    pgp_int(&p, edm_time_now());
    PGresult *r = pg_run(PG(st), SQL_SUPPRESSION_ADD, &p, "add suppression");
    edm_free(v);
    if (r == NULL)
        return EDM_EDB;
    if (out)
        *out = suppression_object(r, 0);
    PQclear(r);
    return 0;
}

int pg_suppression_list(edm_store *st, int64_t after, int limit, edm_page *page)
{
    page->items = NULL;
    page->next = 0;
    int64_t upto;
    int rc = pg_list_settled(PG(st), PG_LIST_SUPPRESSIONS, &upto);
    if (rc != 0)
        return rc;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, after);
    pgp_int(&p, limit + 1);
    pgp_int(&p, upto);
    PGresult *r = pg_run(PG(st),
                         "SELECT id, value, kind, reason, created_at FROM suppressions "
                         "WHERE id > $1 AND id <= $3 ORDER BY id LIMIT $2",
                         &p, "list suppressions");
    if (r == NULL)
        return EDM_EDB;
    json_t *items = json_array();
    int rows = PQntuples(r);
    for (int i = 0; i < rows && i < limit; i++)
        json_array_append_new(items, suppression_object(r, i));
    if (rows > limit)
        page->next = pg_int(r, limit - 1, 0);
    PQclear(r);
    page->items = items;
    return 0;
}

int pg_suppression_delete(edm_store *st, const char *value)
{
    char *v = lower_dup(value);
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, v);
    PGresult *r =
        pg_run(PG(st), "DELETE FROM suppressions WHERE value = $1", &p, "delete suppression");
    edm_free(v);
    if (r == NULL)
        return EDM_EDB;
    int64_t n = pg_affected(r);
    PQclear(r);
    return n ? 0 : EDM_ENOTFOUND;
}

int pg_suppression_check(edm_store *st, const char *email, const char *domain)
{
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, email);
    pgp_text(&p, domain);
    PGresult *r = pg_run(PG(st), "SELECT 1 FROM suppressions WHERE value IN ($1, $2) LIMIT 1", &p,
                         "check suppression");
    if (r == NULL)
        return EDM_EDB;
    int found = PQntuples(r) > 0;
    PQclear(r);
    return found;
}

/* ---- idempotency ---- */

int pg_idem_get(edm_store *st, const char *key, int *status, char **body)
{
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, key);
    pgp_int(&p, edm_time_now() - IDEM_TTL);
    PGresult *r = pg_run(PG(st),
                         "SELECT status, body FROM idempotency WHERE key = $1 AND "
                         "created_at > $2",
                         &p, "idempotency");
    if (r == NULL)
        return EDM_EDB;
    int found = PQntuples(r) == 1;
    if (found) {
        *status = (int)pg_int(r, 0, 0);
        *body = pg_dup(r, 0, 1);
    }
    PQclear(r);
    return found ? 0 : EDM_ENOTFOUND;
}

int pg_idem_put(edm_store *st, const char *key, int status, const char *body)
{
    pg_store *s = PG(st);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, edm_time_now() - IDEM_TTL);
    pg_do(s, "DELETE FROM idempotency WHERE created_at <= $1", &p, "idempotency expiry");
    pgp_init(&p);
    pgp_text(&p, key);
    pgp_int(&p, status);
    pgp_text(&p, body);
    pgp_int(&p, edm_time_now());
    return pg_do(s,
                 "INSERT INTO idempotency(key, status, body, created_at) VALUES ($1, $2, $3, $4) "
                 "ON CONFLICT (key) DO UPDATE SET status = excluded.status, body = excluded.body, "
                 "created_at = excluded.created_at",
                 &p, "idempotency put");
}
