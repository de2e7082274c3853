/*
 * tests/engine/store/test_ledger.c: the compact ledger of
 * schema/0007_compact_ledger.sql. A database written before it (domain,
 * MX host and addresses, TLS, Message-ID as text in every row) comes out
 * of the migration with the same receipts, events, domain filter and
 * Message-ID look-up; new outcomes store their repeated strings once (one
 * `strings` row per distinct text, whatever the number of recipients);
 * the rows hold no copy of those texts; webhook payloads built from the
 * outbox read those texts back through `strings`. Message-ID keys
 * (schema/0012_message_key_order.sql) follow the sending time for edm's
 * own Message-IDs, find every row, and are redone by the migration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/store/outcome.h"
#include "engine/store/schema.h"
#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    char *dir;
    char path[4200];
    edm_store *st;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = edm_test_tmpdir("ledger");
    snprintf(f->path, sizeof f->path, "%s/edm.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    edm_test_store_release(f->st, f->dir);
    free(f);
    return 0;
}

static void open_store(struct fx *f)
{
    char err[512];
    assert_int_equal(edm_store_open(f->path, &f->st, err, sizeof err), 0);
}

static void assert_field(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    if (want == NULL) {
        if (!json_is_null(v))
            fail_msg("%s: want null", key);
        return;
    }
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
        fail_msg("%s: want %s, got %s", key, want, json_is_string(v) ? json_string_value(v) : "?");
}

static void migration_keeps_receipts(void **state)
{
    struct fx *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    /* a database at version 1, written as the first edm wrote it */
    const char *setup_sql =
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at INTEGER NOT NULL); INSERT INTO schema_version VALUES (1, '0001_init', 0);"
        "INSERT INTO templates VALUES (1, 't', 's', NULL, 'x', '{}', 0, 0);"
        "INSERT INTO campaigns(id, name, template_id, from_addr, status, created_at, updated_at) "
        "VALUES (1, 'c', 1, 'a@example.com', 4, 0, 0);"
        "INSERT INTO deliveries(id, campaign_id, email, domain, status, attempts, smtp_code, "
        "enhanced_code, response, mx_host, mx_ip, source_ip, tls, message_id, queued_at, "
        "first_attempt_at, last_attempt_at, delivered_at) VALUES "
        "(1, 1, 'a@x.test', 'x.test', 2, 1, 250, '2.0.0', 'Ok', 'mx.x.test', '127.0.1.1', "
        "'127.0.0.2', 'TLSv1.3', '1.2.3@m.example', 100, 100, 100, 100),"
        "(2, 1, 'b@y.test', 'y.test', 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
        "100, NULL, NULL, NULL);"
        "INSERT INTO delivery_events(delivery_id, attempted_at, status, smtp_code, "
        "enhanced_code, response, mx_host, mx_ip, source_ip, tls, duration_ms) VALUES "
        "(1, 100, 2, 250, '2.0.0', 'Ok', 'mx.x.test', '127.0.1.1', '127.0.0.2', 'TLSv1.3', 7);";
    char *msg = NULL;
    assert_int_equal(sqlite3_exec(db, edm_migrations[0].sql, NULL, NULL, &msg), SQLITE_OK);
    if (sqlite3_exec(db, setup_sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s", msg);
    sqlite3_close(db);

    open_store(f);
    json_t *r = NULL;
    assert_int_equal(f->st->ops->receipt_get(f->st, 1, &r), 0);
    assert_field(r, "email", "a@x.test");
    assert_field(r, "mx_host", "mx.x.test");
    assert_field(r, "mx_ip", "127.0.1.1");
    assert_field(r, "source_ip", "127.0.0.2");
    assert_field(r, "tls", "TLSv1.3");
    assert_field(r, "message_id", "1.2.3@m.example");
    json_decref(r);
    assert_int_equal(f->st->ops->receipt_get(f->st, 2, &r), 0);
    assert_field(r, "mx_host", NULL);
    assert_field(r, "tls", NULL);
    json_decref(r);

    json_t *ev = NULL;
    assert_int_equal(f->st->ops->receipt_events(f->st, 1, &ev), 0);
    assert_int_equal(json_array_size(ev), 1);
    assert_field(json_array_get(ev, 0), "mx_host", "mx.x.test");
    assert_field(json_array_get(ev, 0), "source_ip", "127.0.0.2");
    assert_field(json_array_get(ev, 0), "tls", "TLSv1.3");
    json_decref(ev);

    edm_receipt_filter flt = {.domain = "y.test", .limit = 10};
    edm_page page;
    assert_int_equal(f->st->ops->receipt_list(f->st, 1, &flt, &page), 0);
    assert_int_equal(json_array_size(page.items), 1);
    assert_field(json_array_get(page.items, 0), "email", "b@y.test");
    edm_page_free(&page);
    flt.domain = "nowhere.test";
    assert_int_equal(f->st->ops->receipt_list(f->st, 1, &flt, &page), 0);
    assert_int_equal(json_array_size(page.items), 0);
    edm_page_free(&page);

    int64_t id = 0;
    assert_int_equal(f->st->ops->delivery_by_message_id(f->st, "1.2.3@m.example", NULL, &id), 0);
    assert_int_equal(id, 1);
    assert_int_equal(f->st->ops->delivery_by_message_id(f->st, "9.9.9@m.example", NULL, &id),
                     EDM_ENOTFOUND);

    /* the texts are gone from the rows; the receipts view still shows them */
    assert_int_equal(edm_test_store_value(f->path,
                                          "SELECT count(*) FROM pragma_table_info('deliveries') "
                                          "WHERE name IN ('domain', 'mx_host', 'mx_ip', "
                                          "'source_ip', 'tls')"),
                     0);
    assert_int_equal(edm_test_store_value(f->path, "SELECT count(*) FROM receipts WHERE mx_host = "
                                                   "'mx.x.test' AND tls = 'TLSv1.3'"),
                     1);
    /* 0006's outbox triggers survive 0007's column drops */
    assert_int_equal(edm_test_store_value(f->path,
                                          "SELECT count(*) FROM sqlite_master WHERE type = "
                                          "'trigger' AND name IN ('delivery_events_outbox', "
                                          "'deliveries_outbox', 'deliveries_outbox_insert')"),
                     3);
}

static void outcomes_share_strings(void **state)
{
    struct fx *f = *state;
    open_store(f);
    int64_t cid = edm_test_store_campaign(f->st, NULL, "x");

    enum { N = 300 };
    edm_test_store_upload(f->st, cid, "u%d@d%d.test", 0, N, EDM_ADD_ACCEPTED);

    int64_t cursor = 0;
    edm_job *jobs;
    size_t n;
    assert_int_equal(f->st->ops->claim(f->st, cid, 1000, 60, &cursor, N, &jobs, &n), 0);
    assert_int_equal(n, N);
    /* the claim gives the domain back from the address */
    for (size_t i = 0; i < n; i++)
        assert_string_equal(jobs[i].domain, strchr(jobs[i].email, '@') + 1);
    edm_outcome *out = calloc(N, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        out[i].id = jobs[i].id;
        out[i].status = i % 2 ? EDM_DSTATE_DELIVERED : EDM_DSTATE_DEFERRED;
        out[i].attempted = 1;
        out[i].code = i % 2 ? 250 : 451;
        out[i].attempted_at = 1000;
        out[i].next_attempt_at = 2000;
        snprintf(out[i].mx_host, sizeof out[i].mx_host, "mx%zu.test", i % 2);
        snprintf(out[i].mx_ip, sizeof out[i].mx_ip, "127.0.1.%zu", 1 + i % 2);
        snprintf(out[i].source_ip, sizeof out[i].source_ip, "127.0.0.2");
        snprintf(out[i].message_id, sizeof out[i].message_id, "%zu.x@m.test", i);
    }
    assert_int_equal(f->st->ops->record(f->st, out, n), 0);
    /* a second attempt that got no further than DNS keeps the first one's path */
    edm_outcome again = {.id = jobs[0].id,
                         .status = EDM_DSTATE_DEFERRED,
                         .attempted = 1,
                         .attempted_at = 2000,
                         .next_attempt_at = 3000};
    assert_int_equal(f->st->ops->record(f->st, &again, 1), 0);
    json_t *r = NULL;
    assert_int_equal(f->st->ops->receipt_get(f->st, jobs[0].id, &r), 0);
    assert_field(r, "mx_host", "mx0.test");
    assert_field(r, "mx_ip", "127.0.1.1");
    assert_field(r, "tls", NULL);
    assert_field(r, "message_id", "0.x@m.test");
    json_decref(r);
    assert_int_equal(f->st->ops->receipt_get(f->st, jobs[1].id, &r), 0);
    assert_field(r, "mx_host", "mx1.test");
    assert_field(r, "mx_ip", "127.0.1.2");
    assert_field(r, "source_ip", "127.0.0.2");
    json_decref(r);
    int64_t id = 0;
    assert_int_equal(f->st->ops->delivery_by_message_id(f->st, "7.x@m.test", NULL, &id), 0);
    assert_int_equal(id, jobs[7].id);
    /* 3 domains, 2 MX hosts, 2 MX addresses, 1 source address */
    assert_int_equal(edm_test_store_value(f->path, "SELECT count(*) FROM strings"), 8);
    edm_store_jobs_free(jobs, n);
    free(out);
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

/* edm's Message-IDs ("<hex ms>.<hex counter>.<hex>@domain") key by their
 * milliseconds first, so the recorded rows of a batch land at the right
 * edge of deliveries_message_key instead of at random places; ten rows
 * share each millisecond and a foreign Message-ID keys by its hash: every
 * one is still found. Migration 0012 recomputes keys written before it. */
static void message_keys_follow_sending_order(void **state)
{
    struct fx *f = *state;
    open_store(f);
    int64_t cid = edm_test_store_campaign(f->st, NULL, "x");
    enum { N = 200 };
    edm_test_store_upload(f->st, cid, "k%d@d.test", 0, N, -1);
    int64_t cursor = 0;
    edm_job *jobs;
    size_t n;
    assert_int_equal(f->st->ops->claim(f->st, cid, 1000, 60, &cursor, N, &jobs, &n), 0);
    assert_int_equal(n, N);
    edm_outcome *out = calloc(N, sizeof *out);
    const unsigned long long ms0 = 0x19a2b3c4d5eULL;
    for (size_t i = 0; i < n; i++) {
        out[i].id = jobs[i].id;
        out[i].status = EDM_DSTATE_DELIVERED;
        out[i].attempted = 1;
        out[i].code = 250;
        out[i].attempted_at = 1000;
        if (i == N - 1)
            snprintf(out[i].message_id, sizeof out[i].message_id, "client-7@client.example");
        else
            snprintf(out[i].message_id, sizeof out[i].message_id, "%llx.%zx.%016llx@m.test",
                     ms0 + i / 10, i, (unsigned long long)(i * 0x9e3779b97f4a7c15ULL));
    }
    assert_int_equal(f->st->ops->record(f->st, out, n), 0);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM deliveries WHERE message_key >> 20 = %llu + (id - %lld) / 10",
             ms0, (long long)jobs[0].id);
    assert_int_equal(edm_test_store_value(f->path, sql), N - 1);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < n; i++) {
            int64_t id = 0;
            assert_int_equal(
                f->st->ops->delivery_by_message_id(f->st, out[i].message_id, NULL, &id), 0);
            assert_int_equal(id, jobs[i].id);
        }
        if (round == 1)
            break;
        /* keys written by an older edm (a database at version 11, before
         * 0012 and the migrations after it, whose tables go too: 0013's
         * var_names, 0016's message_attachments, with 0018's column):
         * 0012 runs again and redoes them */
        edm_store_close(f->st);
        f->st = NULL;
        exec_sql(f->path, "UPDATE deliveries SET message_key = 7 WHERE message_key IS NOT NULL; "
                          "DELETE FROM schema_version WHERE version >= 12; "
                          "DROP TABLE var_names; DROP TABLE message_attachments");
        open_store(f);
        assert_int_equal(edm_test_store_value(f->path, sql), N - 1);
    }
    edm_store_jobs_free(jobs, n);
    free(out);
}

/* Webhook payloads (schema/0006_tracking.sql's outbox, filled by triggers
 * that 0007 leaves in place) read the event's MX host, addresses and TLS
 * through `strings`; an engagement event keeps its own columns. */
static void webhook_events_read_the_ledger(void **state)
{
    struct fx *f = *state;
    open_store(f);
    json_t *w = NULL;
    assert_int_equal(f->st->ops->webhook_create(f->st, "http://127.0.0.1:9/h",
                                                EDM_WEBHOOK_DELIVERED | EDM_WEBHOOK_CLICK, "s", &w),
                     0);
    int64_t wid = json_integer_value(json_object_get(w, "id"));
    json_decref(w);
    int64_t cid = edm_test_store_campaign(f->st, NULL, "x");
    edm_test_store_upload(f->st, cid, "w@w.test", 0, 1, -1);
    int64_t cursor = 0;
    edm_job *jobs;
    size_t n;
    assert_int_equal(f->st->ops->claim(f->st, cid, 1000, 60, &cursor, 10, &jobs, &n), 0);
    assert_int_equal(n, 1);
    edm_outcome out = {.id = jobs[0].id,
                       .status = EDM_DSTATE_DELIVERED,
                       .attempted = 1,
                       .code = 250,
                       .attempted_at = 1000};
    snprintf(out.mx_host, sizeof out.mx_host, "mx.w.test");
    snprintf(out.mx_ip, sizeof out.mx_ip, "127.0.1.9");
    snprintf(out.source_ip, sizeof out.source_ip, "127.0.0.3");
    snprintf(out.tls, sizeof out.tls, "TLSv1.3");
    assert_int_equal(f->st->ops->record(f->st, &out, 1), 0);
    edm_engagement_rec click = {.delivery_id = jobs[0].id,
                                .type = EDM_EVENT_CLICK,
                                .at = 1100,
                                .link = 0,
                                .url = "https://example.com/a",
                                .user_agent = "UA",
                                .ip = "198.51.100.7"};
    assert_int_equal(f->st->ops->engagement_record(f->st, &click, NULL), 0);

    int64_t last = 0, first_created = 0;
    int attempts = -1;
    char *body = NULL;
    assert_int_equal(
        f->st->ops->outbox_batch(f->st, wid, 5000, 10, &last, &first_created, &attempts, &body, &n),
        0);
    assert_int_equal(n, 2);
    json_t *arr = json_loads(body, 0, NULL);
    assert_non_null(arr);
    json_t *d = json_array_get(arr, 0), *k = json_array_get(arr, 1);
    assert_field(d, "event", "delivered");
    assert_field(d, "email", "w@w.test");
    assert_field(d, "mx_host", "mx.w.test");
    assert_field(d, "mx_ip", "127.0.1.9");
    assert_field(d, "source_ip", "127.0.0.3");
    assert_field(d, "tls", "TLSv1.3");
    assert_int_equal(json_integer_value(json_object_get(d, "receipt_id")), jobs[0].id);
    assert_int_equal(json_integer_value(json_object_get(d, "campaign_id")), cid);
    assert_field(k, "event", "click");
    assert_field(k, "url", "https://example.com/a");
    assert_int_equal(json_integer_value(json_object_get(k, "link")), 0);
    assert_true(json_is_false(json_object_get(k, "machine")));
    assert_field(k, "user_agent", "UA");
    assert_field(k, "ip", "198.51.100.7");
    assert_field(k, "mx_host", NULL);
    json_decref(arr);
    free(body);

    json_t *r = NULL;
    assert_int_equal(f->st->ops->receipt_get(f->st, jobs[0].id, &r), 0);
    assert_field(r, "mx_host", "mx.w.test");
    assert_field(r, "tls", "TLSv1.3");
    assert_false(json_is_null(json_object_get(r, "clicked_at")));
    assert_true(json_is_null(json_object_get(r, "opened_at")));
    json_decref(r);
    edm_store_jobs_free(jobs, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migration_keeps_receipts, setup, teardown),
        cmocka_unit_test_setup_teardown(outcomes_share_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(message_keys_follow_sending_order, setup, teardown),
        cmocka_unit_test_setup_teardown(webhook_events_read_the_ledger, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
