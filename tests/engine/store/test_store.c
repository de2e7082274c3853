/*
 * tests/engine/store/test_store.c: the store through the storage interface,
 * run on SQLite and on PostgreSQL (tests/support/store_backend.h): migrations (fresh, re-run,
 * newer-than-binary refused), a file that is not SQLite, objects round trips, recipient upload with
 * duplicates and suppressions across batch commits, claim/record/release,
 * receipts filters and cursors, stats, cancel, idempotency, and injected
 * allocation failure during a claim. On PostgreSQL, the "not a database"
 * case is a server that is not there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/store/schema.h"
#include "engine/store/store.h"
#include "engine/base/timeutil.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    return edm_test_store_fx_new(state, "store", 1);
}

static int teardown(void **state)
{
    return edm_test_store_fx_free(state);
}

static int64_t make_campaign(edm_store *st)
{
    json_t *tf = json_pack("{s:s, s:s, s:s, s:s}", "name", "t", "subject", "Hi {{name}}", "html",
                           "<p>x</p>", "text", "x");
    edm_template_row t;
    assert_int_equal(st->ops->template_create(st, tf, &t), 0);
    json_t *cf =
        json_pack("{s:s, s:I, s:s, s:{s:s}, s:[s]}", "name", "c", "template_id", (json_int_t)t.id,
                  "from", "news@example.com", "headers", "X-Campaign", "1", "tags", "promo");
    edm_campaign_row c;
    assert_int_equal(st->ops->campaign_create(st, cf, &c), 0);
    assert_int_equal(c.template_id, t.id);
    int64_t id = c.id;
    json_decref(tf);
    edm_template_row_clear(&t);
    json_decref(cf);
    edm_campaign_row_clear(&c);
    return id;
}

static void upload(edm_store *st, int64_t cid, int n, const char *domain, int counts[3])
{
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    for (int i = 0; i < n; i++) {
        char email[128];
        snprintf(email, sizeof email, "user%d@%s", i, domain);
        edm_recipient r = {.email = email, .domain = domain, .vars_json = "{\"name\":\"x\"}"};
        enum edm_add_outcome o;
        assert_int_equal(st->ops->upload_add(up, &r, 1, &o), 0);
        counts[o]++;
    }
    assert_int_equal(st->ops->upload_end(up, 1), 0);
}

static void migrations_fresh_rerun_and_newer(void **state)
{
    struct edm_test_store_fx *f = *state;
    int cur, sup;
    assert_int_equal(f->st->ops->schema_version(f->st, &cur, &sup), 0);
    assert_true(sup >= 1);
    assert_int_equal(cur, sup);
    edm_store_close(f->st);

    /* Re-running is a no-op: same version, no new rows. */
    char err[512];
    assert_int_equal(edm_store_open(f->path, &f->st, err, sizeof err), 0);
    assert_int_equal(f->st->ops->schema_version(f->st, &cur, &sup), 0);
    assert_int_equal(cur, sup);
    edm_store_close(f->st);
    f->st = NULL;
    assert_int_equal(edm_test_store_value(f->path, "SELECT count(*) FROM schema_version"),
                     edm_test_migrations());

    /* A database from a newer edm is refused with a clear message. */
    assert_int_equal(
        edm_test_store_exec(f->path, "INSERT INTO schema_version VALUES (999, 'future', 0)"), 0);
    f->st = NULL;
    assert_int_equal(edm_store_open(f->path, &f->st, err, sizeof err), EDM_ESTATE);
    assert_null(f->st);
    assert_non_null(strstr(err, "database schema version 999 is newer than this edm supports"));

    /* Both dialects carry the same migrations: same versions, same names. */
    int i = 0;
    for (; edm_migrations[i].version; i++) {
        assert_int_equal(edm_pg_migrations[i].version, edm_migrations[i].version);
        assert_string_equal(edm_pg_migrations[i].name, edm_migrations[i].name);
    }
    assert_int_equal(edm_pg_migrations[i].version, 0);
}

static void not_sqlite_is_a_clear_error(void **state)
{
    struct edm_test_store_fx *f = *state;
    char path[4300], err[512];
    if (edm_test_store_is_pg()) {
        /* No server behind the socket directory: a clear error, no store. */
        edm_store *st = NULL;
        snprintf(path, sizeof path, "postgresql://postgres@/edm?host=%s&port=1", f->dir);
        assert_int_equal(edm_store_open(path, &st, err, sizeof err), EDM_EDB);
        assert_null(st);
        assert_non_null(strstr(err, "cannot connect to PostgreSQL"));
        /* A database that does not exist on a running server: the same. */
        char *q = strstr(f->path, "?");
        snprintf(path, sizeof path, "postgresql://postgres@/nosuchdb%s", q);
        assert_int_equal(edm_store_open(path, &st, err, sizeof err), EDM_EDB);
        assert_null(st);
        assert_non_null(strstr(err, "nosuchdb"));
        return;
    }
    snprintf(path, sizeof path, "%s/junk.db", f->dir);
    const char junk[] = "this is a text file, definitely not a database, padded to be long "
                        "enough that SQLite reads a whole header page from it.......";
    assert_int_equal(edm_test_write_file(path, junk, sizeof junk), 0);
    edm_store *st = NULL;
    assert_int_equal(edm_store_open(path, &st, err, sizeof err), EDM_EDB);
    assert_null(st);
    char want[4400];
    snprintf(want, sizeof want, "%s: not an SQLite database", path);
    assert_string_equal(err, want);

    snprintf(path, sizeof path, "%s/no/such/dir/edm.db", f->dir);
    assert_int_equal(edm_store_open(path, &st, err, sizeof err), EDM_EDB);
    assert_non_null(strstr(err, "cannot open"));
}

static void templates_round_trip_and_pages(void **state)
{
    edm_store *st = ((struct edm_test_store_fx *)*state)->st;
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        json_t *in = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "name", "welcome", "subject",
                               "Hello '); DROP TABLE templates; --", "html", "<b>{{x}}</b>",
                               "partials", "footer", "bye", "header", "hi");
        edm_template_row out;
        assert_int_equal(st->ops->template_create(st, in, &out), 0);
        assert_string_equal(out.subject, "Hello '); DROP TABLE templates; --");
        assert_int_equal(out.npartials, 2); /* in the order given */
        assert_string_equal(out.partials[0].name, "footer");
        assert_string_equal(out.partials[0].value, "bye");
        assert_string_equal(out.partials[1].name, "header");
        assert_string_equal(edm_row_pair_get(out.partials, out.npartials, "header"), "hi");
        assert_null(out.text);
        assert_true(out.created_at > 0);
        ids[i] = out.id;
        json_decref(in);
        edm_template_row_clear(&out);
    }
    edm_template_page p;
    assert_int_equal(st->ops->template_list(st, 0, 2, &p), 0);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.items[0].id, ids[0]);
    assert_string_equal(p.items[1].html, "<b>{{x}}</b>");
    assert_int_equal(p.next, ids[1]);
    int64_t after = p.next;
    edm_template_page_free(&p);
    assert_int_equal(st->ops->template_list(st, after, 2, &p), 0);
    assert_int_equal(p.n, 2);
    after = p.next;
    edm_template_page_free(&p);
    assert_int_equal(st->ops->template_list(st, after, 2, &p), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.next, 0);
    edm_template_page_free(&p);

    int64_t id = ids[0];
    json_t *patch = json_pack("{s:s}", "subject", "New");
    edm_template_row out;
    assert_int_equal(st->ops->template_update(st, id, patch, &out), 0);
    assert_string_equal(out.subject, "New");
    assert_string_equal(out.name, "welcome");
    edm_template_row_clear(&out);
    assert_int_equal(st->ops->template_update(st, 424242, patch, &out), EDM_ENOTFOUND);
    json_decref(patch);
    assert_int_equal(st->ops->template_delete(st, id), 0);
    assert_int_equal(st->ops->template_get(st, id, &out), EDM_ENOTFOUND);
    assert_int_equal(st->ops->template_delete(st, id), EDM_ENOTFOUND);
}

static void campaign_transitions_are_compare_and_set(void **state)
{
    edm_store *st = ((struct edm_test_store_fx *)*state)->st;
    int64_t cid = make_campaign(st);
    edm_campaign_row c;
    assert_int_equal(st->ops->campaign_get(st, cid, &c), 0);
    assert_int_equal(c.state, EDM_CSTATE_DRAFT);
    assert_string_equal(c.from, "news@example.com");
    assert_int_equal(c.ntags, 1);
    assert_string_equal(c.tags[0], "promo");
    assert_int_equal(c.nheaders, 1);
    assert_string_equal(c.headers[0].name, "X-Campaign");
    assert_string_equal(c.headers[0].value, "1");
    assert_null(c.reply_to);
    assert_string_equal(c.pool, "default"); /* the column's default */
    assert_int_equal(c.send_at, 0);
    assert_int_equal(c.max_per_hour, 0);
    assert_int_equal(c.started_at, 0);
    edm_campaign_row_clear(&c);

    unsigned from_draft = EDM_CSTATE_BIT(EDM_CSTATE_DRAFT);
    assert_int_equal(st->ops->campaign_transition(st, cid, EDM_CSTATE_BIT(EDM_CSTATE_RUNNING),
                                                  EDM_CSTATE_PAUSED, -1),
                     EDM_ESTATE);
    int64_t when = edm_time_now() + 3600;
    assert_int_equal(st->ops->campaign_transition(st, cid, from_draft, EDM_CSTATE_SCHEDULED, when),
                     0);
    int64_t *ids;
    size_t n;
    assert_int_equal(st->ops->campaign_ids(st, EDM_CSTATE_SCHEDULED, edm_time_now(), &ids, &n), 0);
    assert_int_equal(n, 0);
    edm_free(ids);
    assert_int_equal(st->ops->campaign_ids(st, EDM_CSTATE_SCHEDULED, when, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], cid);
    edm_free(ids);
    assert_int_equal(st->ops->campaign_transition(st, cid, EDM_CSTATE_BIT(EDM_CSTATE_SCHEDULED),
                                                  EDM_CSTATE_RUNNING, -1),
                     0);
    assert_int_equal(st->ops->campaign_get(st, cid, &c), 0);
    assert_int_equal(c.state, EDM_CSTATE_RUNNING);
    assert_true(c.started_at > 0);
    assert_int_equal(c.send_at, when);
    edm_campaign_row_clear(&c);

    /* pages by state */
    int64_t other = make_campaign(st);
    edm_campaign_page p;
    assert_int_equal(st->ops->campaign_list(st, EDM_CSTATE_RUNNING, 0, 10, &p), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.items[0].id, cid);
    assert_int_equal(p.next, 0);
    edm_campaign_page_free(&p);
    assert_int_equal(st->ops->campaign_list(st, -1, 0, 1, &p), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.next, cid);
    edm_campaign_page_free(&p);
    assert_int_equal(st->ops->campaign_list(st, -1, cid, 1, &p), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.items[0].id, other);
    assert_int_equal(p.items[0].state, EDM_CSTATE_DRAFT);
    assert_int_equal(p.next, 0);
    edm_campaign_page_free(&p);
    assert_int_equal(st->ops->campaign_transition(st, 9999, from_draft, EDM_CSTATE_RUNNING, -1),
                     EDM_ENOTFOUND);
}

/* PostgreSQL: a big upload leaves the planner statistics of what it
 * wrote (engine/store/pg/store_pg_jobs.c, analyze_after_upload); without
 * them a freshly filled table is planned as empty and a receipts page
 * sorts the whole campaign. pg_class.reltuples is -1 until the table is
 * first analyzed or vacuumed. SQLite plans from its indexes alone. */
static void big_upload_leaves_planner_statistics(void **state)
{
    struct edm_test_store_fx *f = *state;
    if (!edm_test_store_is_pg())
        skip();
    edm_store *st = f->st;
    int64_t cid = make_campaign(st);
    enum { N = 60000 };
    static char emails[N][32];
    static edm_recipient rows[N];
    static enum edm_add_outcome out[N];
    for (int i = 0; i < N; i++) {
        snprintf(emails[i], sizeof emails[i], "a%d@a.test", i);
        rows[i] = (edm_recipient){.email = emails[i], .domain = "a.test", .vars_json = NULL};
    }
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    assert_int_equal(st->ops->upload_add(up, rows, N, out), 0);
    assert_int_equal(st->ops->upload_end(up, 1), 0);
    assert_true(edm_test_store_value(f->path, "SELECT reltuples::bigint FROM pg_class "
                                              "WHERE relname = 'deliveries'") >= N);
}

/* Many rows in one upload_add call (PostgreSQL writes them in chunks of
 * a few thousand a statement): duplicates inside the call, across a chunk
 * boundary and of an earlier call, a suppressed address, a NULL and a
 * quoted variables object; ids follow the order given. */
static void upload_many_rows_in_one_call(void **state)
{
    edm_store *st = ((struct edm_test_store_fx *)*state)->st;
    int64_t cid = make_campaign(st);
    assert_int_equal(st->ops->suppression_add(st, "m10@c.test", "complaint", NULL), 0);
    enum { N = 12000 };
    static char emails[N][32];
    static edm_recipient rows[N];
    static enum edm_add_outcome out[N];
    for (int i = 0; i < N; i++) {
        snprintf(emails[i], sizeof emails[i], "m%d@c.test", i);
        rows[i] = (edm_recipient){.email = emails[i], .domain = "c.test", .vars_json = "{\"n\":1}"};
    }
    rows[7].email = emails[3];       /* a duplicate in the same chunk */
    rows[5000].email = emails[4999]; /* across the chunk boundary */
    rows[1].vars_json = "{\"q\":\"a\\\"b\\\\c, {d}\"}";
    rows[2].vars_json = NULL;
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    assert_int_equal(st->ops->upload_add(up, rows, N, out), 0);
    enum edm_add_outcome again = EDM_ADD_ACCEPTED, again16[16];
    assert_int_equal(st->ops->upload_add(up, &rows[9], 1, &again), 0);
    /* sixteen at once (SQLite's rows per statement), every one known */
    assert_int_equal(st->ops->upload_add(up, &rows[100], 16, again16), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(again16[i], EDM_ADD_DUPLICATE);
    assert_int_equal(st->ops->upload_end(up, 1), 0);
    int counts[3] = {0};
    for (int i = 0; i < N; i++)
        counts[out[i]]++;
    assert_int_equal(out[7], EDM_ADD_DUPLICATE);
    assert_int_equal(out[5000], EDM_ADD_DUPLICATE);
    assert_int_equal(again, EDM_ADD_DUPLICATE);
    assert_int_equal(out[10], EDM_ADD_SUPPRESSED);
    assert_int_equal(out[3], EDM_ADD_ACCEPTED);
    assert_int_equal(out[4999], EDM_ADD_ACCEPTED);
    assert_int_equal(counts[EDM_ADD_DUPLICATE], 2);
    assert_int_equal(counts[EDM_ADD_SUPPRESSED], 1);
    assert_int_equal(counts[EDM_ADD_ACCEPTED], N - 3);
    int64_t by_state[EDM_DSTATE_COUNT];
    assert_int_equal(st->ops->campaign_counts(st, cid, by_state), 0);
    assert_int_equal(by_state[EDM_DSTATE_QUEUED], N - 3);
    assert_int_equal(by_state[EDM_DSTATE_SUPPRESSED], 1);
    /* claimed in id order = the order given, the first of each address */
    edm_job *jobs;
    size_t n;
    int64_t cursor = 0;
    assert_int_equal(st->ops->claim(st, cid, edm_time_now(), 60, &cursor, N, &jobs, &n), 0);
    assert_int_equal(n, N - 3);
    size_t k = 0;
    for (int i = 0; i < N; i++) {
        if (out[i] != EDM_ADD_ACCEPTED)
            continue;
        assert_string_equal(jobs[k].email, rows[i].email);
        if (i == 1)
            assert_string_equal(jobs[k].vars.json, rows[1].vars_json);
        if (i == 2)
            assert_true(jobs[k].vars.json == NULL && jobs[k].vars.bin == NULL);
        k++;
    }
    assert_int_equal(k, n);
    edm_store_jobs_free(jobs, n);
}

/* A second handle attached to a node joined through the first (the
 * pipeline's claim connection) leases its claims to that node: the node's
 * in_flight counts them, and leaving hands them back. */
static void attached_handle_claims_for_the_node(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st, *other;
    int64_t cid = make_campaign(st);
    int counts[3] = {0};
    upload(st, cid, 10, "a.test", counts);
    edm_node_info ni = {.id = "n1", .api = "127.0.0.1:1", .now = edm_time_now(), .lease = 15};
    assert_int_equal(st->ops->node_join(st, &ni), 0);
    char err[512];
    assert_int_equal(edm_store_open(f->path, &other, err, sizeof err), 0);
    assert_int_equal(other->ops->node_attach(other, "n1"), 0);
    edm_job *jobs;
    size_t n;
    int64_t cursor = 0;
    assert_int_equal(other->ops->claim(other, cid, edm_time_now(), 60, &cursor, 4, &jobs, &n), 0);
    assert_int_equal(n, 4);
    edm_store_jobs_free(jobs, n);
    json_t *nodes = NULL;
    assert_int_equal(st->ops->node_list(st, edm_time_now(), &nodes), 0);
    json_t *me = json_array_get(nodes, 0);
    assert_string_equal(json_string_value(json_object_get(me, "id")), "n1");
    /* SQLite does not store what is in flight */
    assert_int_equal(json_integer_value(json_object_get(me, "in_flight")),
                     edm_test_store_is_pg() ? 4 : 0);
    json_decref(nodes);
    assert_int_equal(st->ops->node_leave(st), 0);
    if (edm_test_store_is_pg())
        assert_int_equal(edm_test_store_value(f->path, "SELECT count(*) FROM deliveries "
                                                       "WHERE lease_node IS NOT NULL"),
                         0);
    edm_store_close(other);
}

static void upload_counts_duplicates_and_suppressions(void **state)
{
    edm_store *st = ((struct edm_test_store_fx *)*state)->st;
    int64_t cid = make_campaign(st);
    assert_int_equal(st->ops->suppression_add(st, "user7@a.test", "complaint", NULL), 0);
    assert_int_equal(st->ops->suppression_add(st, "B.TEST", "domain gone", NULL), 0);
    int counts[3] = {0};
    upload(st, cid, 25000, "a.test", counts); /* crosses two batch commits */
    assert_int_equal(counts[EDM_ADD_ACCEPTED], 24999);
    assert_int_equal(counts[EDM_ADD_SUPPRESSED], 1);
    int again[3] = {0};
    upload(st, cid, 10, "a.test", again);
    assert_int_equal(again[EDM_ADD_DUPLICATE], 10);
    int dom[3] = {0};
    upload(st, cid, 3, "b.test", dom);
    assert_int_equal(dom[EDM_ADD_SUPPRESSED], 3);
    int64_t counts_by_state[EDM_DSTATE_COUNT];
    assert_int_equal(st->ops->campaign_counts(st, cid, counts_by_state), 0);
    assert_int_equal(counts_by_state[EDM_DSTATE_QUEUED], 24999);
    assert_int_equal(counts_by_state[EDM_DSTATE_SUPPRESSED], 4);
    assert_int_equal(st->ops->suppression_check(st, "user7@a.test", "a.test"), 1);
    assert_int_equal(st->ops->suppression_check(st, "x@b.test", "b.test"), 1);
    assert_int_equal(st->ops->suppression_check(st, "user8@a.test", "a.test"), 0);
    /* the same answers for a claimed batch in one look-up */
    edm_job batch[4] = {{.email = "user7@a.test", .domain = "a.test"},
                        {.email = "x@b.test", .domain = "b.test"},
                        {.email = "user8@a.test", .domain = "a.test"},
                        {.email = "q\"\\@c.test", .domain = "c.test"}};
    unsigned char hit[4] = {9, 9, 9, 9};
    assert_int_equal(st->ops->suppression_filter(st, batch, 4, hit), 0);
    assert_int_equal(hit[0], 1);
    assert_int_equal(hit[1], 1);
    assert_int_equal(hit[2], 0);
    assert_int_equal(hit[3], 0);
    assert_int_equal(st->ops->suppression_delete(st, "b.test"), 0);
    assert_int_equal(st->ops->suppression_delete(st, "b.test"), EDM_ENOTFOUND);
    edm_page p;
    assert_int_equal(st->ops->suppression_list(st, 0, 10, &p), 0);
    assert_int_equal(json_array_size(p.items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p.items, 0), "kind")),
                        "email");
    edm_page_free(&p);

    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, 777777, &up), EDM_ENOTFOUND);
}

static void claim_record_release_and_receipts(void **state)
{
    edm_store *st = ((struct edm_test_store_fx *)*state)->st;
    int64_t cid = make_campaign(st);
    int counts[3] = {0};
    upload(st, cid, 10, "a.test", counts);
    upload(st, cid, 5, "b.test", counts);
    int64_t now = edm_time_now();
    const int64_t lease = 3600;

    edm_job *jobs;
    size_t n;
    int64_t cursor = 0;
    assert_int_equal(st->ops->claim(st, cid, now, lease, &cursor, 6, &jobs, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(cursor, jobs[5].id);
    assert_string_equal(jobs[0].vars.json, "{\"name\":\"x\"}");
    assert_string_equal(jobs[0].email, "user0@a.test");
    assert_int_equal(jobs[0].attempts, 0);
    edm_job *more;
    size_t m;
    assert_int_equal(st->ops->claim(st, cid, now, lease, &cursor, 100, &more, &m), 0);
    assert_int_equal(m, 9); /* the rest: the cursor skips the six in flight */
    assert_true(more[0].id > jobs[5].id);
    edm_store_jobs_free(more, m);
    assert_int_equal(st->ops->claim(st, cid, now, lease, &cursor, 100, &more, &m), 0);
    assert_int_equal(m, 0);
    assert_null(more);

    /* Outcomes, given out of id order on purpose. */
    edm_outcome res[3] = {
        {.id = jobs[2].id,
         .status = EDM_DSTATE_DEFERRED,
         .attempted = 1,
         .attempted_at = now,
         .next_attempt_at = now + 60,
         .code = 451,
         .enhanced = "4.7.1",
         .text = "try later",
         .category = EDM_CATEGORY_RATE_LIMITED,
         .mx_host = "mx1.a.test",
         .mx_ip = "127.0.1.1",
         .source_ip = "127.0.0.2",
         .duration_ms = 12},
        {.id = jobs[0].id,
         .status = EDM_DSTATE_DELIVERED,
         .attempted = 1,
         .attempted_at = now,
         .code = 250,
         .enhanced = "2.0.0",
         .text = "ok queued as ABC",
         .mx_host = "mx1.a.test",
         .mx_ip = "127.0.1.1",
         .source_ip = "127.0.0.2",
         .tls = "TLSv1.3 TLS_AES_256_GCM_SHA384",
         .message_id = "<m1@example.com>",
         .remote_queue_id = "ABC",
         .duration_ms = 8},
        {.id = jobs[1].id,
         .status = EDM_DSTATE_BOUNCED,
         .attempted = 1,
         .attempted_at = now,
         .code = 550,
         .enhanced = "5.1.1",
         .text = "no such user",
         .category = EDM_CATEGORY_BAD_MAILBOX},
    };
    assert_int_equal(st->ops->record(st, res, 3), 0);

    json_t *r = NULL;
    assert_int_equal(st->ops->receipt_get(st, jobs[0].id, &r), 0);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "delivered");
    assert_string_equal(json_string_value(json_object_get(r, "remote_queue_id")), "ABC");
    assert_string_equal(json_string_value(json_object_get(r, "tls")),
                        "TLSv1.3 TLS_AES_256_GCM_SHA384");
    assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 1);
    assert_true(json_is_string(json_object_get(r, "delivered_at")));
    assert_true(json_is_null(json_object_get(r, "next_attempt_at")));
    json_decref(r);
    assert_int_equal(st->ops->receipt_get(st, jobs[2].id, &r), 0);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "deferred");
    assert_true(json_is_string(json_object_get(r, "next_attempt_at")));
    assert_string_equal(json_string_value(json_object_get(r, "bounce_category")), "rate_limited");
    json_decref(r);
    /* The category by its name; empty strings are stored as null. */
    assert_int_equal(st->ops->receipt_get(st, jobs[1].id, &r), 0);
    assert_string_equal(json_string_value(json_object_get(r, "bounce_category")), "bad_mailbox");
    assert_string_equal(json_string_value(json_object_get(r, "enhanced_code")), "5.1.1");
    assert_string_equal(json_string_value(json_object_get(r, "response")), "no such user");
    assert_true(json_is_null(json_object_get(r, "mx_host")));
    assert_true(json_is_null(json_object_get(r, "tls")));
    assert_true(json_is_null(json_object_get(r, "message_id")));
    json_decref(r);
    assert_int_equal(st->ops->receipt_get(st, jobs[0].id, &r), 0);
    assert_true(json_is_null(json_object_get(r, "bounce_category")));
    json_decref(r);

    /* After a crash (a fresh cursor), every row without an outcome is claimed
     * again; the deferred one only once it is due. */
    cursor = 0;
    assert_int_equal(st->ops->claim(st, cid, now, lease, &cursor, 100, &more, &m), 0);
    assert_int_equal(m, 12);
    for (size_t i = 0; i < m; i++)
        assert_true(more[i].id != jobs[2].id);
    edm_store_jobs_free(more, m);
    cursor = 1 << 30;
    assert_int_equal(st->ops->claim(st, cid, now + 61, lease, &cursor, 100, &more, &m), 0);
    assert_int_equal(m, 1);
    assert_int_equal(more[0].id, jobs[2].id);
    assert_int_equal(more[0].attempts, 1);
    edm_store_jobs_free(more, m);
    /* Leased: not handed out again until the lease ends or it is unclaimed. */
    assert_int_equal(st->ops->claim(st, cid, now + 62, lease, &cursor, 100, &more, &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(st->ops->unclaim(st, &jobs[2].id, 1, now + 62), 0);
    assert_int_equal(st->ops->claim(st, cid, now + 62, lease, &cursor, 100, &more, &m), 0);
    assert_int_equal(m, 1);
    edm_store_jobs_free(more, m);

    json_t *ev = NULL;
    assert_int_equal(st->ops->receipt_events(st, jobs[2].id, &ev), 0);
    assert_int_equal(json_array_size(ev), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ev, 0), "smtp_code")), 451);
    json_decref(ev);

    /* Receipts: filters and a stable cursor. */
    static const struct {
        const char *status, *domain, *email;
        int want;
    } cases[] = {
        {NULL, NULL, NULL, 15},        {"delivered", NULL, NULL, 1},    {"bounced", NULL, NULL, 1},
        {"deferred", NULL, NULL, 1},   {"queued", NULL, NULL, 12},      {NULL, "b.test", NULL, 5},
        {"queued", "b.test", NULL, 5}, {NULL, NULL, "user3@b.test", 1}, {"failed", NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        edm_receipt_filter flt = {.status = cases[i].status,
                                  .domain = cases[i].domain,
                                  .email = cases[i].email,
                                  .limit = 1000};
        edm_page p;
        assert_int_equal(st->ops->receipt_list(st, cid, &flt, &p), 0);
        assert_int_equal(json_array_size(p.items), cases[i].want);
        assert_int_equal(p.next, 0);
        edm_page_free(&p);
    }
    edm_receipt_filter bad = {.status = "sending", .limit = 10}; /* not a state */
    edm_page p;
    assert_int_equal(st->ops->receipt_list(st, cid, &bad, &p), EDM_EINVAL);
    int seen = 0;
    edm_receipt_filter pg = {.limit = 4};
    int64_t last = 0;
    do {
        assert_int_equal(st->ops->receipt_list(st, cid, &pg, &p), 0);
        for (size_t i = 0; i < json_array_size(p.items); i++) {
            int64_t id = json_integer_value(json_object_get(json_array_get(p.items, i), "id"));
            assert_true(id > last);
            last = id;
            seen++;
        }
        pg.after = p.next;
        edm_page_free(&p);
    } while (pg.after);
    assert_int_equal(seen, 15);

    json_t *stats = NULL;
    assert_int_equal(st->ops->campaign_stats(st, cid, &stats), 0);
    json_t *sc = json_object_get(stats, "counts");
    assert_int_equal(json_integer_value(json_object_get(sc, "queued")), 12);
    assert_int_equal(json_integer_value(json_object_get(sc, "delivered")), 1);
    assert_int_equal(json_integer_value(json_object_get(stats, "done")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(stats, "bounce_categories"),
                                                        "bad_mailbox")),
                     1);
    json_decref(stats);

    assert_int_equal(st->ops->campaign_has_pending(st, cid), 1);
    assert_int_equal(st->ops->cancel_pending(st, cid), 13);
    assert_int_equal(st->ops->campaign_has_pending(st, cid), 0);
    int64_t cs[EDM_DSTATE_COUNT];
    assert_int_equal(st->ops->campaign_counts(st, cid, cs), 0);
    assert_int_equal(cs[EDM_DSTATE_CANCELLED], 13);
    edm_store_jobs_free(jobs, n);
}

/* Hard bounces at SMTP time suppress the address, as a DSN's do
 * (PRODUCT.md "Receipts", docs/api.md): bounced as bad_mailbox or
 * bad_domain adds it with reason "bounce" in the same transaction; other
 * bounces (a full mailbox, expired) and deliveries do not; an address
 * already listed keeps its reason. */
static void hard_bounces_suppress(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t cid = make_campaign(st);
    int counts[3] = {0, 0, 0};
    upload(st, cid, 6, "hb.test", counts);
    assert_int_equal(counts[EDM_ADD_ACCEPTED], 6);
    int64_t cursor = 0, now = edm_time_now();
    edm_job *jobs;
    size_t n;
    assert_int_equal(st->ops->claim(st, cid, now, 60, &cursor, 10, &jobs, &n), 0);
    assert_int_equal(n, 6);
    json_t *sv = NULL; /* listed after the upload, by hand */
    assert_int_equal(st->ops->suppression_add(st, jobs[5].email, "manual", &sv), 0);
    json_decref(sv);
    static const struct {
        enum edm_dstate status;
        enum edm_category cat;
    } res[6] = {{EDM_DSTATE_BOUNCED, EDM_CATEGORY_BAD_MAILBOX},
                {EDM_DSTATE_BOUNCED, EDM_CATEGORY_BAD_DOMAIN},
                {EDM_DSTATE_BOUNCED, EDM_CATEGORY_MAILBOX_FULL},
                {EDM_DSTATE_BOUNCED, EDM_CATEGORY_EXPIRED},
                {EDM_DSTATE_DELIVERED, EDM_CATEGORY_NONE},
                {EDM_DSTATE_BOUNCED, EDM_CATEGORY_BAD_MAILBOX}};
    edm_outcome o[6];
    memset(o, 0, sizeof o);
    for (size_t i = 0; i < n; i++) {
        o[i].id = jobs[i].id;
        o[i].status = res[i].status;
        o[i].category = res[i].cat;
        o[i].attempted = 1;
        o[i].attempted_at = now;
        o[i].code = res[i].status == EDM_DSTATE_DELIVERED ? 250 : 550;
        snprintf(o[i].text, sizeof o[i].text, "%d x", o[i].code);
    }
    assert_int_equal(st->ops->record(st, o, n), 0);
    edm_page page = {0};
    assert_int_equal(st->ops->suppression_list(st, 0, 100, &page), 0);
    char got[512] = "";
    size_t i;
    json_t *e;
    json_array_foreach(page.items, i, e)
    {
        size_t l = strlen(got);
        snprintf(got + l, sizeof got - l, "%s%s:%s", l ? " " : "",
                 json_string_value(json_object_get(e, "value")),
                 json_string_value(json_object_get(e, "reason")));
    }
    edm_page_free(&page);
    char want[512];
    snprintf(want, sizeof want, "%s:manual %s:bounce %s:bounce", jobs[5].email, jobs[0].email,
             jobs[1].email);
    assert_string_equal(got, want);
    edm_store_jobs_free(jobs, n);
}

static void claim_survives_allocation_failure(void **state)
{
    edm_store *st = ((struct edm_test_store_fx *)*state)->st;
    int64_t cid = make_campaign(st);
    int counts[3] = {0};
    upload(st, cid, 20, "a.test", counts);
    edm_job *jobs = NULL;
    size_t n = 0;
    int failures = 0;
    for (long k = 0; k < 8; k++) {
        int64_t cursor = 0;
        edm_alloc_fail_after(k);
        int rc = st->ops->claim(st, cid, edm_time_now(), 60, &cursor, 20, &jobs, &n);
        edm_alloc_fail_after(-1);
        if (rc == EDM_ENOMEM) {
            failures++;
            assert_null(jobs);
            assert_int_equal(cursor, 0); /* a failed claim hands out nothing */
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(n, 20);
        edm_store_jobs_free(jobs, n);
    }
    assert_true(failures > 0);
    int64_t cursor = 0;
    assert_int_equal(st->ops->claim(st, cid, edm_time_now(), 60, &cursor, 100, &jobs, &n), 0);
    assert_int_equal(n, 20);
    edm_store_jobs_free(jobs, n);
}

static void idempotency_and_settings(void **state)
{
    edm_store *st = ((struct edm_test_store_fx *)*state)->st;
    int status;
    char *body;
    assert_int_equal(st->ops->idem_get(st, "k1", &status, &body), EDM_ENOTFOUND);
    assert_int_equal(st->ops->idem_put(st, "k1", 201, "{\"id\":1}"), 0);
    assert_int_equal(st->ops->idem_get(st, "k1", &status, &body), 0);
    assert_int_equal(status, 201);
    assert_string_equal(body, "{\"id\":1}");
    edm_free(body);

    unsigned char a[32], b[32];
    assert_int_equal(st->ops->setting_get_or_create(st, "secret", a, sizeof a), 0);
    assert_int_equal(st->ops->setting_get_or_create(st, "secret", b, sizeof b), 0);
    assert_memory_equal(a, b, 32);
    unsigned char zero[32] = {0};
    assert_memory_not_equal(a, zero, 32);
    char *v = NULL;
    assert_int_equal(st->ops->setting_get(st, "warmup:127.0.0.2", &v), EDM_ENOTFOUND);
    assert_int_equal(st->ops->setting_put(st, "warmup:127.0.0.2", "20419"), 0);
    assert_int_equal(st->ops->setting_put(st, "warmup:127.0.0.2", "20420"), 0);
    assert_int_equal(st->ops->setting_get(st, "warmup:127.0.0.2", &v), 0);
    assert_string_equal(v, "20420");
    edm_free(v);
    assert_int_equal(edm_dstate_parse("bounced"), EDM_DSTATE_BOUNCED);
    assert_int_equal(edm_dstate_parse("sending"), -1);
    assert_string_equal(edm_cstate_name(EDM_CSTATE_PAUSED), "paused");
}

/* PostgreSQL: the server ends edm's session (a restart, an admin's
 * pg_terminate_backend). The call that finds it gone fails and the store
 * reconnects (engine/store/pg/store_pg.c fail(), with its session
 * settings made again), so the next call works. SQLite has no session. */
static void a_dropped_session_reconnects(void **state)
{
    struct edm_test_store_fx *f = *state;
    if (!edm_test_store_is_pg())
        skip();
    edm_store *st = f->st;
    assert_int_equal(st->ops->setting_put(st, "k", "1"), 0);
    long long pid = edm_test_store_value(f->path, "SELECT pid FROM pg_stat_activity WHERE datname "
                                                  "= current_database() AND pid <> "
                                                  "pg_backend_pid()");
    assert_true(pid > 0);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)::int", pid);
    assert_int_equal(edm_test_store_value(f->path, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %lld", pid);
    for (int i = 0; i < 500 && edm_test_store_value(f->path, sql) != 0; i++)
        edm_test_sleep_ms(10);
    assert_int_equal(edm_test_store_value(f->path, sql), 0);
    char *v = NULL;
    assert_int_equal(st->ops->setting_get(st, "k", &v), EDM_EDB);
    assert_int_equal(st->ops->setting_put(st, "k", "2"), 0);
    assert_int_equal(st->ops->setting_get(st, "k", &v), 0);
    assert_string_equal(v, "2");
    edm_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrations_fresh_rerun_and_newer, setup, teardown),
        cmocka_unit_test_setup_teardown(not_sqlite_is_a_clear_error, setup, teardown),
        cmocka_unit_test_setup_teardown(templates_round_trip_and_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(campaign_transitions_are_compare_and_set, setup, teardown),
        cmocka_unit_test_setup_teardown(upload_counts_duplicates_and_suppressions, setup, teardown),
        cmocka_unit_test_setup_teardown(upload_many_rows_in_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(big_upload_leaves_planner_statistics, setup, teardown),
        cmocka_unit_test_setup_teardown(attached_handle_claims_for_the_node, setup, teardown),
        cmocka_unit_test_setup_teardown(claim_record_release_and_receipts, setup, teardown),
        cmocka_unit_test_setup_teardown(hard_bounces_suppress, setup, teardown),
        cmocka_unit_test_setup_teardown(claim_survives_allocation_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(idempotency_and_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(a_dropped_session_reconnects, setup, teardown),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
