/*
 * tests/support/store_backend.c: store tests on SQLite or PostgreSQL (see
 * store_backend.h).
 */
#include "tests/support/store_backend.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/testlib.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static edm_test_pg cluster;
static int cluster_up;

int edm_test_store_is_pg(void)
{
    const char *b = getenv("EDM_TEST_STORE");
    return b && strcmp(b, "pg") == 0;
}

int edm_test_store_group_setup(void **state)
{
    (void)state;
    if (!edm_test_store_is_pg())
        return 0;
    if (edm_test_pg_start(&cluster) != 0)
        return -1;
    cluster_up = 1;
    return 0;
}

int edm_test_store_group_teardown(void **state)
{
    (void)state;
    if (cluster_up)
        edm_test_pg_stop(&cluster);
    cluster_up = 0;
    return 0;
}

int edm_test_store_where(const char *dir, char *where, size_t len)
{
    if (!edm_test_store_is_pg()) {
        snprintf(where, len, "%s/edm.db", dir);
        return 0;
    }
    return cluster_up ? edm_test_pg_newdb(&cluster, where, len) : -1;
}

int edm_test_store_exec(const char *where, const char *sql)
{
    if (strncmp(where, "postgresql://", 13) == 0)
        return edm_test_pg_exec(where, sql);
    sqlite3 *db;
    char *msg = NULL;
    int rc = -1;
    if (sqlite3_open(where, &db) == SQLITE_OK) {
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
            rc = 0;
        else
            fprintf(stderr, "store_backend: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
    }
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
}

long long edm_test_store_value(const char *where, const char *sql)
{
    if (strncmp(where, "postgresql://", 13) == 0)
        return edm_test_pg_int(where, sql);
    sqlite3 *db;
    sqlite3_stmt *q = NULL;
    long long v = -1;
    if (sqlite3_open_v2(where, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 2000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
        sqlite3_column_type(q, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(q, 0);
    else
        fprintf(stderr, "store_backend: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

void edm_test_store_release(edm_store *st, char *dir)
{
    edm_store_close(st);
    edm_test_rmtree(dir);
    free(dir);
}

int edm_test_store_fx_new(void **state, const char *name, int open)
{
    struct edm_test_store_fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->dir = edm_test_tmpdir(name);
    *state = f;
    if (edm_test_store_where(f->dir, f->path, sizeof f->path) != 0)
        return -1;
    char err[512];
    if (open && edm_store_open(f->path, &f->st, err, sizeof err) != 0) {
        fprintf(stderr, "open %s: %s\n", f->path, err);
        return -1;
    }
    return 0;
}

int edm_test_store_fx_free(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_test_store_release(f->st, f->dir);
    free(f);
    return 0;
}

int64_t edm_test_store_template(edm_store *st, const char *html, const char *text)
{
    json_t *tf = json_pack("{s:s, s:s}", "name", "t", "subject", "Hi");
    if (text)
        json_object_set_new(tf, "text", json_string(text));
    if (html)
        json_object_set_new(tf, "html", json_string(html));
    edm_template_row t;
    assert_int_equal(st->ops->template_create(st, tf, &t), 0);
    json_decref(tf);
    int64_t id = t.id;
    edm_template_row_clear(&t);
    return id;
}

int64_t edm_test_store_campaign_on(edm_store *st, int64_t template_id)
{
    json_t *cf = json_pack("{s:s, s:I, s:s}", "name", "c", "template_id", (json_int_t)template_id,
                           "from", "news@example.com");
    edm_campaign_row c;
    assert_int_equal(st->ops->campaign_create(st, cf, &c), 0);
    json_decref(cf);
    int64_t id = c.id;
    edm_campaign_row_clear(&c);
    return id;
}

int64_t edm_test_store_webhook(edm_store *st, unsigned events)
{
    json_t *w = NULL;
    assert_int_equal(st->ops->webhook_create(st, "https://hooks.example/h", events, "whsec_x", &w),
                     0);
    int64_t id = json_integer_value(json_object_get(w, "id"));
    json_decref(w);
    return id;
}

int64_t edm_test_store_campaign(edm_store *st, const char *html, const char *text)
{
    return edm_test_store_campaign_on(st, edm_test_store_template(st, html, text));
}

void edm_test_store_upload(edm_store *st, int64_t cid, const char *fmt, int from, int n, int expect)
{
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    for (int i = from; i < from + n; i++) {
        char email[128];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(email, sizeof email, fmt, i, i % 3);
#pragma GCC diagnostic pop
        const char *at = strchr(email, '@');
        assert_non_null(at);
        edm_recipient r = {.email = email, .domain = at + 1};
        enum edm_add_outcome o;
        assert_int_equal(st->ops->upload_add(up, &r, 1, &o), 0);
        if (expect >= 0)
            assert_int_equal(o, expect);
    }
    assert_int_equal(st->ops->upload_end(up, 1), 0);
}

int edm_test_store_purge(edm_store *st)
{
    int n = 1;
    while (st->ops->campaign_purge && (n = st->ops->campaign_purge(st, 7)) > 0)
        ;
    return n < 0 ? n : 0;
}
