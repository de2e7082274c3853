/*
 * tests/engine/cmd/test_migrate_pg.c: `edm migrate --to postgresql://...`
 * (docs/postgresql.md) copies an SQLite store into an empty PostgreSQL
 * database on a throwaway cluster: templates, campaigns with their
 * receipts, events and stats, suppressions, the token secret, a
 * transactional message with raw bytes (tabs, backslashes, CR LF) read
 * back the same through both backends, and one with attachments (every
 * byte value, a UTF-8 file name: schema/0016; a content_id: 0018); recipients' variables in both
 * stored forms (JSON text, and the compact form with its names rows:
 * engine/store/vars.h) read back as the same objects; new ids continue
 * after the copied ones (a new names row too); a second copy into the now
 * used database is refused and changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/buf.h"
#include "engine/store/store.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char raw_msg[] = "Subject: a\tb\\c\r\n\r\nline one\r\nback\\slash\ttab\r\n";
static unsigned char att_bytes[256]; /* every byte value */
static const char att_name[] = "R\xc3\xa9sum\xc3\xa9\t\\.bin";
static int64_t att_msg_id; /* the message that has them */

/* A small store with a bit of everything; returns the campaign id. */
static int64_t fill(edm_store *st, int64_t *msg_id)
{
    json_t *tf = json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", "t\tab", "subject", "Hi {{n}}",
                           "text", "x\\y\nz", "partials", "p", "part");
    edm_template_row t;
    assert_int_equal(st->ops->template_create(st, tf, &t), 0);
    json_t *cf =
        json_pack("{s:s, s:I, s:s, s:{s:s}, s:[s]}", "name", "c", "template_id", (json_int_t)t.id,
                  "from", "A <a@example.com>", "headers", "X-A", "1", "tags", "promo");
    edm_campaign_row c;
    assert_int_equal(st->ops->campaign_create(st, cf, &c), 0);
    json_decref(tf);
    json_decref(cf);
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, c.id, &up), 0);
    static const char *const names[] = {"[\"n\",\"city\"]", "[\"n\",\"t\\tb\\\\\"]"};
    for (int i = 0; i < 50; i++) {
        char email[64], vars[64], n[16];
        snprintf(email, sizeof email, "r%d@d%d.test", i, i % 3);
        snprintf(vars, sizeof vars, "{\"n\": %d}", i);
        snprintf(n, sizeof n, "%d", i);
        /* a third as JSON text (a number), the rest compact, two sets of names */
        edm_buf vals = EDM_BUF_INIT;
        assert_int_equal(edm_vars_put_value(&vals, n, strlen(n)), 0);
        const char *v2 = i % 2 ? "Z\xc3\xbcrich\ttab\\" : "";
        assert_int_equal(edm_vars_put_value(&vals, v2, strlen(v2)), 0);
        edm_recipient r = {.email = email, .domain = strchr(email, '@') + 1, .vars_json = vars};
        if (i % 3 != 0) {
            r.vars_names = names[i % 2];
            r.vars_vals = (const unsigned char *)vals.data;
            r.vars_vals_len = vals.len;
        }
        enum edm_add_outcome o;
        assert_int_equal(st->ops->upload_add(up, &r, 1, &o), 0);
        edm_buf_free(&vals);
    }
    assert_int_equal(st->ops->upload_end(up, 1), 0);
    int64_t cursor = 0;
    edm_job *jobs;
    size_t n;
    assert_int_equal(st->ops->claim(st, c.id, 1000, 60, &cursor, 10, &jobs, &n), 0);
    assert_int_equal(n, 10);
    edm_outcome o[10];
    memset(o, 0, sizeof o);
    for (size_t i = 0; i < n; i++) {
        o[i].id = jobs[i].id;
        o[i].attempted = 1;
        o[i].attempted_at = 2000;
        o[i].status = i % 2 ? EDM_DSTATE_DELIVERED : EDM_DSTATE_BOUNCED;
        o[i].category = i % 2 ? EDM_CATEGORY_NONE : EDM_CATEGORY_BAD_MAILBOX;
        o[i].code = i % 2 ? 250 : 550;
        snprintf(o[i].text, sizeof o[i].text, "reply\t%zu \\ \"quoted\"", i);
        snprintf(o[i].mx_host, sizeof o[i].mx_host, "mx.test");
    }
    assert_int_equal(st->ops->record(st, o, n), 0);
    edm_store_jobs_free(jobs, n);
    assert_int_equal(st->ops->suppression_add(st, "gone@x.test", "complaint", NULL), 0);
    unsigned char secret[32];
    assert_int_equal(st->ops->setting_get_or_create(st, "secret", secret, sizeof secret), 0);
    edm_recipient mr = {.email = "m@x.test", .domain = "x.test", .vars_json = NULL};
    edm_message_new m = {.source = "smtp",
                         .from = "a@example.com",
                         .raw = raw_msg,
                         .rawlen = sizeof raw_msg - 1,
                         .rcpts = &mr,
                         .nrcpts = 1};
    int64_t rid;
    enum edm_add_outcome mo;
    assert_int_equal(st->ops->message_create(st, &m, 3000, msg_id, &rid, &mo), 0);
    for (size_t i = 0; i < sizeof att_bytes; i++)
        att_bytes[i] = (unsigned char)i;
    edm_attachment_new att[] = {
        {att_name, "application/octet-stream", att_bytes, sizeof att_bytes, "logo.1@x.test"},
        {"empty.txt", "text/plain", "", 0, NULL}};
    edm_message_new ma = {.source = "api",
                          .from = "a@example.com",
                          .subject = "s",
                          .text = "t",
                          .attachments = att,
                          .nattachments = 2,
                          .rcpts = &mr,
                          .nrcpts = 1};
    assert_int_equal(st->ops->message_create(st, &ma, 3000, &att_msg_id, &rid, &mo), 0);
    int64_t cid = c.id;
    edm_template_row_clear(&t);
    edm_campaign_row_clear(&c);
    return cid;
}

static json_t *snapshot(edm_store *st, int64_t cid, int64_t msg_id)
{
    json_t *s = json_object();
    edm_receipt_filter f = {.limit = 1000};
    edm_page p;
    assert_int_equal(st->ops->receipt_list(st, cid, &f, &p), 0);
    json_object_set_new(s, "receipts", p.items);
    json_t *v;
    assert_int_equal(st->ops->campaign_stats(st, cid, &v), 0);
    json_object_set_new(s, "stats", v);
    int64_t first = json_integer_value(json_object_get(json_array_get(p.items, 1), "id"));
    assert_int_equal(st->ops->receipt_events(st, first, &v), 0);
    json_object_set_new(s, "events", v);
    assert_int_equal(st->ops->suppression_list(st, 0, 100, &p), 0);
    json_object_set_new(s, "suppressions", p.items);
    assert_int_equal(st->ops->message_get(st, msg_id, &v), 0);
    json_object_set_new(s, "message", v);
    assert_int_equal(st->ops->message_get(st, att_msg_id, &v), 0);
    json_object_set_new(s, "message_attachments", v);
    /* the variables of every queued recipient, as the templates see them */
    int64_t cursor = 0;
    edm_job *jobs;
    size_t n;
    assert_int_equal(st->ops->claim(st, cid, 1000, 60, &cursor, 100, &jobs, &n), 0);
    assert_int_equal(n, 40);
    json_t *vars = json_object();
    for (size_t i = 0; i < n; i++) {
        char err[160];
        assert_int_equal(edm_vars_to_json(&jobs[i].vars, &v, err, sizeof err), 0);
        json_object_set_new(vars, jobs[i].email, v);
    }
    edm_store_jobs_free(jobs, n);
    json_object_set_new(s, "vars", vars);
    return s;
}

static void migrate_to_copies_everything(void **state)
{
    (void)state;
    edm_test_pg pg;
    assert_int_equal(edm_test_pg_start(&pg), 0);
    char *dir = edm_test_tmpdir("migrate-pg");
    char db[4300], cfg[4300], uri[4400], cmd[13000];
    snprintf(db, sizeof db, "%s/edm.db", dir);
    snprintf(cfg, sizeof cfg, "%s/edm.json", dir);
    assert_int_equal(edm_test_write_file(cfg, "{\"db\": \"edm.db\"}", 16), 0);
    assert_int_equal(edm_test_pg_newdb(&pg, uri, sizeof uri), 0);

    char err[512];
    edm_store *st;
    int64_t msg_id;
    assert_int_equal(edm_store_open(db, &st, err, sizeof err), 0);
    int64_t cid = fill(st, &msg_id);
    json_t *before = snapshot(st, cid, msg_id);
    unsigned char secret[32], secret2[32];
    assert_int_equal(st->ops->setting_get_or_create(st, "secret", secret, sizeof secret), 0);
    /* a template made and deleted: SQLite never gives its id out again
     * (schema/0015), and neither does PostgreSQL after the copy */
    edm_template_row t;
    json_t *tf = json_pack("{s:s, s:s, s:s}", "name", "gone", "subject", "s", "text", "x");
    assert_int_equal(st->ops->template_create(st, tf, &t), 0);
    assert_int_equal(t.id, 2);
    assert_int_equal(st->ops->template_delete(st, t.id), 0);
    edm_template_row_clear(&t);
    json_decref(tf);
    /* a campaign deleted, its rows not purged yet (the engine does it in
     * the background): the copy has nothing of it */
    int64_t filled = edm_test_store_value(db, "SELECT count(*) FROM deliveries");
    json_t *cf = json_pack("{s:s, s:I, s:s}", "name", "gone", "template_id", (json_int_t)1, "from",
                           "a@example.com");
    edm_campaign_row gone;
    assert_int_equal(st->ops->campaign_create(st, cf, &gone), 0);
    json_decref(cf);
    edm_upload *gup;
    assert_int_equal(st->ops->upload_begin(st, gone.id, &gup), 0);
    edm_recipient gr[2] = {{.email = "g1@x.test", .domain = "x.test"},
                           {.email = "g2@x.test", .domain = "x.test"}};
    enum edm_add_outcome go[2];
    assert_int_equal(st->ops->upload_add(gup, gr, 2, go), 0);
    assert_int_equal(st->ops->upload_end(gup, 1), 0);
    assert_int_equal(st->ops->campaign_delete(st, gone.id), 0);
    edm_store_close(st);
    assert_int_equal(edm_test_store_value(db, "SELECT count(*) FROM deliveries"), filled + 2);

    snprintf(cmd, sizeof cmd, "%s migrate -c %s --to '%s'", edm_test_bin(), cfg, uri);
    char *out = NULL;
    int rc = edm_test_run(cmd, &out);
    if (rc != 0)
        fail_msg("edm migrate --to: %d\n%s", rc, out ? out : "");
    assert_non_null(strstr(out, "deliveries       52 rows"));
    free(out);
    char gsql[96];
    snprintf(gsql, sizeof gsql, "SELECT count(*) FROM campaigns WHERE id = %lld",
             (long long)gone.id);
    assert_int_equal(edm_test_pg_int(uri, gsql), 0);
    edm_campaign_row_clear(&gone);

    assert_int_equal(edm_store_open(uri, &st, err, sizeof err), 0);
    json_t *after = snapshot(st, cid, msg_id);
    if (!json_equal(before, after)) {
        char *a = json_dumps(before, JSON_INDENT(1)), *b = json_dumps(after, JSON_INDENT(1));
        fail_msg("SQLite:\n%s\nPostgreSQL:\n%s", a, b);
    }
    /* both forms and both names rows came over */
    assert_int_equal(edm_test_pg_int(uri, "SELECT count(*) FROM var_names"), 2);
    assert_int_equal(edm_test_pg_int(uri, "SELECT count(*) FROM deliveries WHERE vars_bin IS NOT "
                                          "NULL AND vars IS NULL"),
                     33);
    json_t *r49 = json_object_get(json_object_get(after, "vars"), "r49@d1.test");
    assert_string_equal(json_string_value(json_object_get(r49, "t\tb\\")), "Z\xc3\xbcrich\ttab\\");
    assert_string_equal(json_string_value(json_object_get(r49, "n")), "49");
    assert_int_equal(st->ops->setting_get_or_create(st, "secret", secret2, sizeof secret2), 0);
    assert_memory_equal(secret, secret2, sizeof secret);
    edm_message_row m;
    assert_int_equal(st->ops->message_load(st, msg_id, &m), 0);
    assert_int_equal(m.rawlen, sizeof raw_msg - 1);
    assert_memory_equal(m.raw, raw_msg, m.rawlen);
    edm_message_row_clear(&m);
    assert_int_equal(st->ops->message_load(st, att_msg_id, &m), 0);
    assert_int_equal(m.nattachments, 2);
    assert_string_equal(m.attachments[0].filename, att_name);
    assert_int_equal(m.attachments[0].len, sizeof att_bytes);
    assert_memory_equal(m.attachments[0].data, att_bytes, sizeof att_bytes);
    assert_string_equal(m.attachments[0].content_id, "logo.1@x.test");
    assert_null(m.attachments[1].content_id);
    assert_string_equal(m.attachments[1].content_type, "text/plain");
    assert_int_equal(m.attachments[1].len, 0);
    edm_message_row_clear(&m);
    assert_int_equal(st->ops->template_get(st, 1, &t), 0);
    assert_string_equal(t.name, "t\tab");
    assert_string_equal(t.text, "x\\y\nz");
    edm_template_row_clear(&t);
    /* new rows continue after the copied ids, and after the deleted one */
    tf = json_pack("{s:s, s:s, s:s}", "name", "new", "subject", "s", "text", "x");
    assert_int_equal(st->ops->template_create(st, tf, &t), 0);
    assert_int_equal(t.id, 3);
    edm_template_row_clear(&t);
    json_decref(tf);
    /* and a new set of names gets a names row of its own */
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    edm_buf vals = EDM_BUF_INIT;
    assert_int_equal(edm_vars_put_value(&vals, "v", 1), 0);
    edm_recipient nr = {.email = "new@x.test",
                        .domain = "x.test",
                        .vars_names = "[\"other\"]",
                        .vars_vals = (const unsigned char *)vals.data,
                        .vars_vals_len = vals.len};
    enum edm_add_outcome no;
    assert_int_equal(st->ops->upload_add(up, &nr, 1, &no), 0);
    assert_int_equal(st->ops->upload_end(up, 1), 0);
    edm_buf_free(&vals);
    assert_int_equal(edm_test_pg_int(uri, "SELECT max(id) FROM var_names"), 3);
    edm_store_close(st);

    /* A second copy into a database in use is refused. */
    rc = edm_test_run(cmd, &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "already holds"));
    free(out);
    assert_int_equal(edm_test_pg_int(uri, "SELECT count(*) FROM deliveries"), 53);

    json_decref(before);
    json_decref(after);
    edm_test_pg_stop(&pg);
    edm_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrate_to_copies_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
