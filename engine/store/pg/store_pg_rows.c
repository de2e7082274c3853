/*
 * engine/store/pg/store_pg_rows.c: the PostgreSQL backend's reads of
 * campaigns and templates as typed rows (engine/store/rows.h): get by id
 * and pages by id cursor. Columns holding JSON text (headers, tags,
 * partials) are parsed here, once; members that are not strings are
 * skipped. Returns 0, EDM_ENOTFOUND or EDM_EDB.
 */
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/store/pg/store_pg_int.h"

#include <string.h>

#define TEMPLATE_SELECT                                                                            \
    "SELECT id, name, subject, html, text, partials, created_at, updated_at FROM templates "
#define CAMPAIGN_SELECT "SELECT " PG_CAMPAIGN_COLUMNS " FROM campaigns "

static int64_t col_time(const PGresult *q, int r, int c)
{
    int64_t t = pg_int(q, r, c);
    return t > 0 ? t : 0;
}

static void col_pairs(const PGresult *q, int r, int c, edm_row_pair **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *o = pg_isnull(q, r, c) ? NULL : json_loads(PQgetvalue(q, r, c), 0, NULL);
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

static void col_strings(const PGresult *q, int r, int c, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *a = pg_isnull(q, r, c) ? NULL : json_loads(PQgetvalue(q, r, c), 0, NULL);
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

static void template_read(const PGresult *q, int r, void *out)
{
    edm_template_row *t = out;
    memset(t, 0, sizeof *t);
    t->id = pg_int(q, r, 0);
    t->name = pg_dup(q, r, 1);
    t->subject = pg_dup(q, r, 2);
    t->html = pg_dup(q, r, 3);
    t->text = pg_dup(q, r, 4);
    col_pairs(q, r, 5, &t->partials, &t->npartials);
    t->created_at = col_time(q, r, 6);
    t->updated_at = col_time(q, r, 7);
}

void pg_campaign_read(const PGresult *q, int r, edm_campaign_row *c)
{
    memset(c, 0, sizeof *c);
    c->id = pg_int(q, r, 0);
    c->name = pg_dup(q, r, 1);
    c->template_id = pg_int(q, r, 2);
    c->from = pg_dup(q, r, 3);
    c->reply_to = pg_dup(q, r, 4);
    c->pool = pg_dup(q, r, 5);
    c->state = (enum edm_cstate)pg_int(q, r, 6);
    c->send_at = col_time(q, r, 7);
    col_pairs(q, r, 8, &c->headers, &c->nheaders);
    col_strings(q, r, 9, &c->tags, &c->ntags);
    c->unsubscribe = pg_dup(q, r, 10);
    c->max_per_hour = pg_int(q, r, 11);
    c->created_at = col_time(q, r, 12);
    c->updated_at = col_time(q, r, 13);
    c->started_at = col_time(q, r, 14);
    c->completed_at = col_time(q, r, 15);
    c->track = (unsigned)pg_int(q, r, 16);
}

static void campaign_read_any(const PGresult *q, int r, void *out)
{
    pg_campaign_read(q, r, out);
}

static int get_row(pg_store *s, const char *sql, int64_t id,
                   void (*read)(const PGresult *, int, void *), void *out)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *q = pg_run(s, sql, &p, "get");
    if (q == NULL)
        return EDM_EDB;
    int found = PQntuples(q) == 1;
    if (found && out)
        read(q, 0, out);
    PQclear(q);
    return found ? 0 : EDM_ENOTFOUND;
}

int pg_template_get(edm_store *st, int64_t id, edm_template_row *out)
{
    return get_row(PG(st), TEMPLATE_SELECT "WHERE id = $1", id, template_read, out);
}

int pg_source_get(pg_store *s, int64_t campaign_id, edm_template_row *out)
{
    return get_row(s,
                   "SELECT campaign_id, NULL, subject, html, text, partials, taken_at, taken_at "
                   "FROM campaign_sources WHERE campaign_id = $1",
                   campaign_id, template_read, out);
}

int pg_campaign_get(edm_store *st, int64_t id, edm_campaign_row *out)
{
    return get_row(PG(st), CAMPAIGN_SELECT "WHERE id = $1 AND kind = 0", id, campaign_read_any,
                   out);
}

/* Reads up to limit rows of q (which asked for limit + 1) of `size` bytes;
 * *next is the last id when more rows follow. */
static void list_rows(const PGresult *q, int limit, size_t size,
                      void (*read)(const PGresult *, int, void *), void **items, size_t *n,
                      int64_t *next)
{
    int rows = PQntuples(q);
    int count = rows > limit ? limit : rows;
    char *arr = count ? edm_xcalloc((size_t)count, size) : NULL;
    for (int i = 0; i < count; i++)
        read(q, i, arr + (size_t)i * size);
    *items = arr;
    *n = (size_t)count;
    *next = rows > limit && count > 0 ? pg_int(q, count - 1, 0) : 0;
}

int pg_template_list(edm_store *st, int64_t after, int limit, edm_template_page *page)
{
    memset(page, 0, sizeof *page);
    int64_t upto;
    int rc = pg_list_settled(PG(st), PG_LIST_TEMPLATES, &upto);
    if (rc != 0)
        return rc;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, after);
    pgp_int(&p, limit + 1);
    pgp_int(&p, upto);
    PGresult *q = pg_run(PG(st), TEMPLATE_SELECT "WHERE id > $1 AND id <= $3 ORDER BY id LIMIT $2",
                         &p, "list");
    if (q == NULL)
        return EDM_EDB;
    void *items;
    list_rows(q, limit, sizeof(edm_template_row), template_read, &items, &page->n, &page->next);
    page->items = items;
    PQclear(q);
    return 0;
}

int pg_campaign_list(edm_store *st, int status, int64_t after, int limit, edm_campaign_page *page)
{
    memset(page, 0, sizeof *page);
    if (status >= EDM_CSTATE_COUNT)
        return EDM_EINVAL;
    int64_t upto;
    int rc = pg_list_settled(PG(st), PG_LIST_CAMPAIGNS, &upto);
    if (rc != 0)
        return rc;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, after);
    pgp_int(&p, limit + 1);
    pgp_int(&p, status);
    pgp_int(&p, upto);
    PGresult *q =
        pg_run(PG(st),
               CAMPAIGN_SELECT "WHERE id > $1 AND id <= $4 AND kind = 0 AND ($3::integer < 0 "
                               "OR status = $3::integer) ORDER BY id LIMIT $2",
               &p, "list");
    if (q == NULL)
        return EDM_EDB;
    void *items;
    list_rows(q, limit, sizeof(edm_campaign_row), campaign_read_any, &items, &page->n, &page->next);
    page->items = items;
    PQclear(q);
    return 0;
}
