/*
 * engine/store/sqlite/store_sqlite_rows.c: the SQLite backend's reads of
 * campaigns and templates as typed rows (engine/store/rows.h): get by id and
 * pages by id cursor. Writes (create, update, delete) are in
 * store_sqlite_objects.c and come back here for the stored row.
 *
 * Columns holding JSON text (headers, tags, partials) are parsed here, once,
 * into arrays; members that are not strings (never written by the API,
 * which checks them) are skipped.
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <string.h>

#define TEMPLATE_SELECT                                                                            \
    "SELECT id, name, subject, html, text, partials, created_at, updated_at FROM templates "
#define CAMPAIGN_SELECT                                                                            \
    "SELECT id, name, template_id, from_addr, reply_to, pool, status, send_at, headers, tags, "    \
    "unsubscribe, max_per_hour, created_at, updated_at, started_at, completed_at, track "          \
    "FROM campaigns "

static char *col_str(sqlite3_stmt *q, int i)
{
    const char *t = (const char *)sqlite3_column_text(q, i);
    return t ? edm_xstrdup(t) : NULL;
}

static int64_t col_time(sqlite3_stmt *q, int i)
{
    int64_t t = sqlite3_column_int64(q, i); /* 0 for NULL */
    return t > 0 ? t : 0;
}

/* A JSON object of strings in column i as pairs, in order. */
static void col_pairs(sqlite3_stmt *q, int i, edm_row_pair **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *t = (const char *)sqlite3_column_text(q, i);
    json_t *o = t ? json_loads(t, 0, NULL) : NULL;
    if (json_is_object(o) && json_object_size(o) > 0) {
        *out = edm_xcalloc(json_object_size(o), sizeof **out);
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            if (!json_is_string(v))
                continue;
            (*out)[*n].name = edm_xstrdup(k);
            (*out)[*n].value = edm_xstrdup(json_string_value(v));
            (*n)++;
        }
    }
    json_decref(o);
}

/* A JSON array of strings in column i. */
static void col_strings(sqlite3_stmt *q, int i, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *t = (const char *)sqlite3_column_text(q, i);
    json_t *a = t ? json_loads(t, 0, NULL) : NULL;
    if (json_is_array(a) && json_array_size(a) > 0) {
        *out = edm_xcalloc(json_array_size(a), sizeof **out);
        size_t k;
        json_t *v;
        json_array_foreach(a, k, v)
        {
            if (json_is_string(v))
                (*out)[(*n)++] = edm_xstrdup(json_string_value(v));
        }
    }
    json_decref(a);
}

/* Reads a row of TEMPLATE_SELECT. */
static void template_read(sqlite3_stmt *q, edm_template_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(q, 0);
    r->name = col_str(q, 1);
    r->subject = col_str(q, 2);
    r->html = col_str(q, 3);
    r->text = col_str(q, 4);
    col_pairs(q, 5, &r->partials, &r->npartials);
    r->created_at = col_time(q, 6);
    r->updated_at = col_time(q, 7);
}

/* Reads a row of CAMPAIGN_SELECT. */
void sq_campaign_read(sqlite3_stmt *q, edm_campaign_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(q, 0);
    r->name = col_str(q, 1);
    r->template_id = sqlite3_column_int64(q, 2);
    r->from = col_str(q, 3);
    r->reply_to = col_str(q, 4);
    r->pool = col_str(q, 5);
    r->state = (enum edm_cstate)sqlite3_column_int(q, 6);
    r->send_at = col_time(q, 7);
    col_pairs(q, 8, &r->headers, &r->nheaders);
    col_strings(q, 9, &r->tags, &r->ntags);
    r->unsubscribe = col_str(q, 10);
    r->max_per_hour = sqlite3_column_int64(q, 11);
    r->created_at = col_time(q, 12);
    r->updated_at = col_time(q, 13);
    r->started_at = col_time(q, 14);
    r->completed_at = col_time(q, 15);
    r->track = (unsigned)sqlite3_column_int(q, 16);
}

/* One row by id through a cached statement; read fills *out. */
static int get_row(sq_store *s, enum sq_stmt which, int64_t id,
                   void (*read)(sqlite3_stmt *, void *), void *out)
{
    sqlite3_stmt *q = sq_stmt(s, which);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && out)
        read(q, out);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "get");
}

static void template_read_any(sqlite3_stmt *q, void *r)
{
    template_read(q, r);
}

static void campaign_read_any(sqlite3_stmt *q, void *r)
{
    sq_campaign_read(q, r);
}

int sq_template_get(edm_store *st, int64_t id, edm_template_row *out)
{
    return get_row(SQ(st), SQ_TEMPLATE_GET, id, template_read_any, out);
}

int sq_campaign_get(edm_store *st, int64_t id, edm_campaign_row *out)
{
    return get_row(SQ(st), SQ_CAMPAIGN_GET, id, campaign_read_any, out);
}

int sq_source_get(sq_store *s, int64_t campaign_id, edm_template_row *out)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT campaign_id, NULL, subject, html, text, partials, taken_at, "
                           "taken_at FROM campaign_sources WHERE campaign_id = ?1",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare");
    sqlite3_bind_int64(q, 1, campaign_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        template_read(q, out);
    sqlite3_finalize(q);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "campaign source");
}

/* Steps q (bound: ?1 after, ?2 limit + 1) into an array of up to limit rows
 * of `size` bytes; *next is the last id when more rows follow. */
static int list_rows(sq_store *s, sqlite3_stmt *q, int limit, size_t size,
                     void (*read)(sqlite3_stmt *, void *), void **items, size_t *n, int64_t *next)
{
    *items = NULL;
    *n = 0;
    *next = 0;
    char *arr = NULL;
    size_t count = 0;
    int64_t last = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (count == (size_t)limit) {
            *next = last;
            break;
        }
        last = sqlite3_column_int64(q, 0);
        arr = edm_xrealloc(arr, (count + 1) * size);
        read(q, arr + count * size);
        count++;
    }
    sqlite3_finalize(q);
    *items = arr;
    *n = count;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_fail(s, "list");
    return 0;
}

int sq_template_list(edm_store *st, int64_t after, int limit, edm_template_page *page)
{
    sq_store *s = SQ(st);
    memset(page, 0, sizeof *page);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, TEMPLATE_SELECT "WHERE id > ?1 ORDER BY id LIMIT ?2", -1, &q,
                           NULL) != SQLITE_OK)
        return sq_fail(s, "prepare list");
    sqlite3_bind_int64(q, 1, after);
    sqlite3_bind_int(q, 2, limit + 1);
    void *items;
    int rc = list_rows(s, q, limit, sizeof(edm_template_row), template_read_any, &items, &page->n,
                       &page->next);
    page->items = items;
    if (rc != 0)
        edm_template_page_free(page);
    return rc;
}

int sq_campaign_list(edm_store *st, int status, int64_t after, int limit, edm_campaign_page *page)
{
    sq_store *s = SQ(st);
    memset(page, 0, sizeof *page);
    if (status >= EDM_CSTATE_COUNT)
        return EDM_EINVAL;
    sqlite3_stmt *q;
    const char *sql =
        status >= 0 ? CAMPAIGN_SELECT
            "WHERE id > ?1 AND kind = 0 AND status = ?3 AND " SQ_SHOWN("id") " ORDER BY id LIMIT ?2"
                    : CAMPAIGN_SELECT
            "WHERE id > ?1 AND kind = 0 AND " SQ_SHOWN("id") " ORDER BY id LIMIT ?2";
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare list");
    sqlite3_bind_int64(q, 1, after);
    sqlite3_bind_int(q, 2, limit + 1);
    if (status >= 0)
        sqlite3_bind_int(q, 3, status);
    void *items;
    int rc = list_rows(s, q, limit, sizeof(edm_campaign_row), campaign_read_any, &items, &page->n,
                       &page->next);
    page->items = items;
    if (rc != 0)
        edm_campaign_page_free(page);
    return rc;
}
