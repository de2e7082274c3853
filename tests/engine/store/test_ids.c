/*
 * tests/engine/store/test_ids.c: an id the API has shown never names
 * another object later (schema/0015_ids_never_reused.sql), on SQLite and
 * on PostgreSQL: once the newest template, suppression, webhook or
 * campaign (with its receipts) is deleted, the next one gets a greater id,
 * also after the store is closed and opened again. On SQLite, a database
 * at schema version 14 with rows comes out of migration 15 with every row,
 * id, index, trigger and foreign key as it was, and new ids past the old
 * highest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/store/schema.h"
#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    return edm_test_store_fx_new(state, "ids", 1);
}

static int setup_closed(void **state)
{
    return edm_test_store_fx_new(state, "ids", 0);
}

static int teardown(void **state)
{
    return edm_test_store_fx_free(state);
}

static void reopen(struct edm_test_store_fx *f)
{
    char err[512];
    edm_store_close(f->st);
    f->st = NULL;
    if (edm_store_open(f->path, &f->st, err, sizeof err) != 0)
        fail_msg("open %s: %s", f->path, err);
}

static int64_t suppression(edm_store *st, const char *value)
{
    json_t *v = NULL;
    assert_int_equal(st->ops->suppression_add(st, value, "test", &v), 0);
    int64_t id = json_integer_value(json_object_get(v, "id"));
    json_decref(v);
    return id;
}

static int64_t webhook(edm_store *st)
{
    json_t *w = NULL;
    assert_int_equal(
        st->ops->webhook_create(st, "http://127.0.0.1:9/h", EDM_WEBHOOK_DELIVERED, "s", &w), 0);
    int64_t id = json_integer_value(json_object_get(w, "id"));
    json_decref(w);
    return id;
}

/* A campaign on template tid with two recipients; its id, and the highest
 * of its receipt ids in *receipt_max (the lowest in *receipt_min). */
static int64_t campaign(struct edm_test_store_fx *f, int64_t tid, int64_t *receipt_min,
                        int64_t *receipt_max)
{
    static int next;
    int64_t cid = edm_test_store_campaign_on(f->st, tid);
    edm_test_store_upload(f->st, cid, "u%d@d.test", next, 2, EDM_ADD_ACCEPTED);
    next += 2;
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT min(id) FROM deliveries WHERE campaign_id = %lld",
             (long long)cid);
    *receipt_min = edm_test_store_value(f->path, sql);
    snprintf(sql, sizeof sql, "SELECT max(id) FROM deliveries WHERE campaign_id = %lld",
             (long long)cid);
    *receipt_max = edm_test_store_value(f->path, sql);
    return cid;
}

/* Deletes the newest of each kind, reopens the store, makes one more: its
 * id is past the deleted one. Run twice: the second round deletes what the
 * first made. */
static void deleted_ids_never_reused(void **state)
{
    struct edm_test_store_fx *f = *state;
    int64_t tid = edm_test_store_template(f->st, "<p>x</p>", "x");
    int64_t tpl = edm_test_store_template(f->st, "<p>y</p>", "y");
    int64_t sup = suppression(f->st, "gone0@d.test");
    int64_t hook = webhook(f->st);
    int64_t rmin, rmax;
    int64_t cid = campaign(f, tid, &rmin, &rmax);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(f->st->ops->template_delete(f->st, tpl), 0);
        char value[32];
        snprintf(value, sizeof value, "gone%d@d.test", round);
        assert_int_equal(f->st->ops->suppression_delete(f->st, value), 0);
        assert_int_equal(f->st->ops->webhook_delete(f->st, hook), 0);
        assert_int_equal(f->st->ops->campaign_delete(f->st, cid), 0);
        assert_int_equal(edm_test_store_purge(f->st), 0);
        reopen(f);
        int64_t tpl2 = edm_test_store_template(f->st, "<p>z</p>", "z");
        snprintf(value, sizeof value, "gone%d@d.test", round + 1);
        int64_t sup2 = suppression(f->st, value);
        int64_t hook2 = webhook(f->st);
        int64_t rmin2, rmax2;
        int64_t cid2 = campaign(f, tid, &rmin2, &rmax2);
        assert_true(tpl2 > tpl);
        assert_true(sup2 > sup);
        assert_true(hook2 > hook);
        assert_true(cid2 > cid);
        assert_true(rmin2 > rmax);
        tpl = tpl2, sup = sup2, hook = hook2, cid = cid2, rmax = rmax2;
    }
}

/* ---- SQLite: a database at version 14 upgraded ---- */

static void fake_message_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_null(ctx);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* The text of the first column of every row of sql, one line each. */
static char *lines(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    size_t len = 0;
    char *out = calloc(1, 1);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        size_t n = v ? strlen(v) : 4;
        out = realloc(out, len + n + 2);
        memcpy(out + len, v ? v : "NULL", n);
        len += n;
        out[len++] = '\n';
        out[len] = '\0';
    }
    sqlite3_finalize(st);
    return out;
}

/* Every row of table, every column quoted, in the order of that text. */
static char *dump(sqlite3 *db, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT group_concat('quote(' || name || ')', ' || '','' || ') "
             "FROM pragma_table_info('%s')",
             table);
    char *cols = lines(db, sql);
    cols[strcspn(cols, "\n")] = '\0';
    size_t n = strlen(cols) + 128;
    char *q = malloc(n);
    snprintf(q, n, "SELECT %s FROM %s ORDER BY 1", cols, table);
    char *rows = lines(db, q);
    free(q);
    free(cols);
    return rows;
}

static const char *const tables[] = {"templates",
                                     "campaigns",
                                     "deliveries",
                                     "delivery_events",
                                     "suppressions",
                                     "webhooks",
                                     "webhook_outbox",
                                     "message_content",
                                     "campaign_sources",
                                     "campaign_counts",
                                     "engagement_counts",
                                     "strings",
                                     NULL};

/* What must not change: every row of every table, the columns and foreign
 * keys of each, and every index, trigger and view. */
static char *snapshot(sqlite3 *db)
{
    size_t len = 0;
    char *all = calloc(1, 1);
    for (int i = 0; tables[i]; i++) {
        char sql[512];
        char *parts[3];
        parts[0] = dump(db, tables[i]);
        snprintf(sql, sizeof sql,
                 "SELECT cid || name || type || \"notnull\" || coalesce(dflt_value, '-') || pk "
                 "FROM pragma_table_info('%s')",
                 tables[i]);
        parts[1] = lines(db, sql);
        snprintf(sql, sizeof sql,
                 "SELECT \"table\" || \"from\" || coalesce(\"to\", '-') || on_delete "
                 "FROM pragma_foreign_key_list('%s')",
                 tables[i]);
        parts[2] = lines(db, sql);
        for (int p = 0; p < 3; p++) {
            size_t n = strlen(tables[i]) + strlen(parts[p]) + 4;
            all = realloc(all, len + n + 1);
            len += (size_t)snprintf(all + len, n + 1, "%s:\n%s\n", tables[i], parts[p]);
            free(parts[p]);
        }
    }
    /* indexes, triggers and views; not those of tables that later
     * migrations make (0016's message_attachments), nor those later
     * migrations add or change (0019's outbox index and receipts view) */
    char *schema =
        lines(db, "SELECT type || ' ' || name || ' ' || coalesce(sql, '') "
                  "FROM sqlite_schema WHERE type != 'table' "
                  "AND tbl_name NOT IN ('message_attachments') "
                  "AND name NOT IN ('webhook_outbox_delivery', 'receipts') ORDER BY name");
    all = realloc(all, len + strlen(schema) + 1);
    memcpy(all + len, schema, strlen(schema) + 1);
    free(schema);
    return all;
}

/* The database as edm wrote it at version 14: the migrations up to 14. */
static sqlite3 *at_version_14(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_create_function(db, "edm_message_key", 1, SQLITE_UTF8, NULL,
                                             fake_message_key, NULL, NULL),
                     SQLITE_OK);
    exec_sql(db, "PRAGMA foreign_keys=ON; CREATE TABLE schema_version (version INTEGER "
                 "PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    for (int i = 0; edm_migrations[i].version && edm_migrations[i].version <= 14; i++) {
        exec_sql(db, edm_migrations[i].sql);
        char rec[160];
        snprintf(rec, sizeof rec, "INSERT INTO schema_version VALUES (%d, '%s', 0)",
                 edm_migrations[i].version, edm_migrations[i].name);
        exec_sql(db, rec);
    }
    return db;
}

static void upgrade_from_14_keeps_rows_and_ids(void **state)
{
    struct edm_test_store_fx *f = *state;
    sqlite3 *db = at_version_14(f->path);
    /* rows of every kind, ids with gaps (deleted rows), a message (a
     * campaigns row of kind 1), an event that fed a webhook's outbox */
    exec_sql(db,
             "INSERT INTO strings(id, value) VALUES (1, 'd.test'), (2, 'mx.d.test');"
             "INSERT INTO templates(id, name, subject, html, created_at, updated_at) VALUES "
             "(3, 't', 'Hi', '<p>x</p>', 1, 2), (7, 'u', 'Yo', NULL, 3, 4);"
             "INSERT INTO campaigns(id, name, template_id, from_addr, status, created_at, "
             "updated_at, kind, track) VALUES (4, 'c', 3, 'a@d.test', 4, 1, 2, 0, 3), "
             "(9, 'm', 7, 'b@d.test', 0, 5, 6, 1, 0);"
             "INSERT INTO message_content(campaign_id, source, subject, text) VALUES "
             "(9, 'api', 'S', 'T');"
             "INSERT INTO webhooks(id, url, events, secret, created_at) VALUES "
             "(5, 'http://127.0.0.1:9/h', 1, 's', 7);"
             "INSERT INTO deliveries(id, campaign_id, email, vars, status, queued_at, domain_id, "
             "mx_host_id, message_id, message_key, txn) VALUES "
             "(10, 4, 'a@d.test', '{\"n\":1}', 2, 1, 1, 2, '<1@d.test>', 77, 0), "
             "(12, 4, 'b@d.test', NULL, 3, 1, 1, NULL, NULL, NULL, 0), "
             "(20, 9, 'c@d.test', NULL, 0, 1, 1, NULL, NULL, NULL, 1);"
             "INSERT INTO delivery_events(id, delivery_id, attempted_at, status, smtp_code, "
             "mx_host_id, type, url, link, machine) VALUES "
             "(30, 10, 5, 2, 250, 2, NULL, NULL, NULL, NULL), "
             "(31, 10, 6, 2, NULL, NULL, 5, 'https://x.test/', 0, 0), "
             "(35, 12, 7, 3, 550, NULL, NULL, NULL, NULL, NULL);"
             "INSERT INTO suppressions(id, value, kind, reason, created_at) VALUES "
             "(2, 'x@d.test', 'email', 'r', 1), (6, 'e.test', 'domain', '', 2);");
    char *before = snapshot(db);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    char err[512];
    if (edm_store_open(f->path, &f->st, err, sizeof err) != 0)
        fail_msg("upgrade: %s", err);
    int cur, sup;
    assert_int_equal(f->st->ops->schema_version(f->st, &cur, &sup), 0);
    assert_int_equal(cur, sup);
    assert_true(cur >= 15);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    char *after = snapshot(db);
    assert_string_equal(after, before);
    free(before);
    free(after);
    /* the six tables are AUTOINCREMENT now, their sequences at the highest
     * id each held */
    char *seq = lines(db, "SELECT name || '=' || seq FROM sqlite_sequence "
                          "WHERE name != 'webhook_outbox' ORDER BY name");
    assert_string_equal(seq, "campaigns=9\ndeliveries=20\ndelivery_events=35\nsuppressions=6\n"
                             "templates=7\nwebhooks=5\n");
    free(seq);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    /* new ids are past the old highest, also once the newest is deleted */
    assert_true(edm_test_store_template(f->st, NULL, "x") > 7);
    assert_true(suppression(f->st, "new@d.test") > 6);
    assert_true(webhook(f->st) > 5);
    int64_t rmin, rmax;
    int64_t cid = campaign(f, 3, &rmin, &rmax);
    assert_true(cid > 9);
    assert_true(rmin > 20);
    assert_int_equal(f->st->ops->campaign_delete(f->st, cid), 0);
    assert_int_equal(edm_test_store_purge(f->st), 0);
    /* migration 15 run again (a database stepped back to 14, as
     * test_ledger does) keeps the sequences, not only the highest ids */
    edm_store_close(f->st);
    f->st = NULL;
    /* (and undoes the later migrations that make tables: 0016's; 0018
     * then adds its content_id column to the new table again) */
    assert_int_equal(edm_test_store_exec(f->path, "DELETE FROM schema_version WHERE version >= 15; "
                                                  "DROP TABLE message_attachments"),
                     0);
    reopen(f);
    int64_t rmin2, rmax2;
    assert_true(campaign(f, 3, &rmin2, &rmax2) > cid);
    assert_true(rmin2 > rmax);
    assert_true(edm_test_store_value(f->path, "SELECT count(*) FROM deliveries") == 3 + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(deleted_ids_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(upgrade_from_14_keeps_rows_and_ids, setup_closed, teardown),
    };
    /* The last test is SQLite's (schema/0015 makes no change on PostgreSQL). */
    size_t n = sizeof tests / sizeof tests[0] - (edm_test_store_is_pg() ? 1 : 0);
    return _cmocka_run_group_tests("store_test_ids", tests, n, edm_test_store_group_setup,
                                   edm_test_store_group_teardown);
}
