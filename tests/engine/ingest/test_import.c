/*
 * tests/engine/ingest/test_import.c: the recipient import routine
 * (engine/ingest/import.c) against a real SQLite store in a temp dir:
 * batches written as they fill (inside the feed call), each sorted by
 * domain then address, counts (accepted, duplicates, suppressed,
 * rejected), rejected rows with their line and reason (invalid addresses,
 * what edm cannot send, NUL in variables), a campaign cancelled between
 * two batches stopping the import with a clear error and keeping whole
 * batches, a store failure (full disk) in a later batch saying how
 * many batches are kept, and a body that is not a list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/campaign/lifecycle.h"
#include "engine/ingest/import.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    char *dir;
    edm_store *st;
    int64_t cid;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = edm_test_tmpdir("import");
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/edm.db", f->dir);
    if (edm_store_open(path, &f->st, err, sizeof err) != 0)
        fail_msg("store: %s", err);
    json_t *fields = json_pack("{s:s,s:s}", "name", "c", "from", "a@x.test");
    edm_campaign_row c;
    assert_int_equal(f->st->ops->campaign_create(f->st, fields, &c), 0);
    f->cid = c.id;
    json_decref(fields);
    edm_campaign_row_clear(&c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    edm_test_store_release(f->st, f->dir);
    free(f);
    return 0;
}

/* Feeds body in pieces of step bytes; returns the first non-zero code. */
static int feed(edm_import *im, const char *body, size_t step)
{
    size_t len = strlen(body);
    for (size_t off = 0; off < len; off += step) {
        int rc = edm_import_feed(im, body + off, len - off < step ? len - off : step);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The campaign's recipients in id order, "email status" per line. */
static char *recipients(fixture *f)
{
    edm_receipt_filter flt = {.limit = 1000};
    edm_page page = {0};
    assert_int_equal(f->st->ops->receipt_list(f->st, f->cid, &flt, &page), 0);
    static char out[4096];
    out[0] = '\0';
    size_t i;
    json_t *r;
    json_array_foreach(page.items, i, r)
    {
        size_t l = strlen(out);
        snprintf(out + l, sizeof out - l, "%s %s\n", json_string_value(json_object_get(r, "email")),
                 json_string_value(json_object_get(r, "status")));
    }
    edm_page_free(&page);
    return out;
}

static void batches_sorted_and_counted(void **state)
{
    fixture *f = *state;
    json_t *sup = NULL;
    assert_int_equal(f->st->ops->suppression_add(f->st, "sup.test", "test", &sup), 0);
    json_decref(sup);
    edm_import_opts o = {
        .format = EDM_UPLOAD_CSV, .check = edm_lifecycle_import_check, .batch_rows = 4};
    edm_import *im;
    assert_int_equal(edm_import_new(f->st, f->cid, &o, &im), 0);
    static const char body[] = "email,name\n"
                               "B@Z.test,1\n"               /* line 2 */
                               "a@y.test,2\n"               /* 3 */
                               "not-an-address,3\n"         /* 4: rejected */
                               "c@y.test,4\n"               /* 5 */
                               "a@Y.TEST,5\n"               /* 6: duplicate; the batch is full */
                               "d@x.test,6\n"               /* 7 */
                               "\"\"\"q r\"\"@x.test\",7\n" /* 8: rejected */
                               "s@sup.test,8\n"             /* 9: suppressed */
                               "u@[127.0.0.1],9\n";         /* 10: rejected */
    assert_int_equal(feed(im, body, 3), 0);
    /* the first batch went to the store inside the feed that filled it */
    const edm_import_counts *n = edm_import_get_counts(im);
    assert_int_equal(n->accepted, 3);
    assert_int_equal(n->duplicates, 1);
    assert_int_equal(edm_import_waiting(im), 2);
    assert_string_equal(recipients(f), "a@y.test queued\nc@y.test queued\nb@z.test queued\n");
    assert_int_equal(edm_import_finish(im), 0);
    assert_string_equal(edm_import_error(im), "");
    assert_int_equal(n->rows, 9);
    assert_int_equal(n->accepted, 4);
    assert_int_equal(n->duplicates, 1);
    assert_int_equal(n->suppressed, 1);
    assert_int_equal(n->rejected, 3);
    assert_int_equal(edm_import_waiting(im), 0);
    /* each batch sorted by domain, then address; ids grow in that order */
    assert_string_equal(recipients(f), "a@y.test queued\nc@y.test queued\nb@z.test queued\n"
                                       "s@sup.test suppressed\nd@x.test queued\n");
    size_t nr;
    const edm_import_reject *r = edm_import_rejected(im, &nr);
    assert_int_equal(nr, 3);
    assert_int_equal(r[0].line, 4);
    assert_string_equal(r[0].email, "not-an-address");
    assert_string_equal(r[0].error, "invalid address: missing @");
    assert_int_equal(r[1].line, 8);
    assert_string_equal(r[1].email, "\"q r\"@x.test");
    assert_string_equal(r[1].error, "invalid address: quoted local parts are not supported");
    assert_int_equal(r[2].line, 10);
    assert_string_equal(r[2].error, "invalid address: address literals are not supported");
    edm_import_free(im);
}

/* What the engine could not send is refused row by row, with its line. */
static void unsendable_rows_rejected(void **state)
{
    fixture *f = *state;
    edm_import_opts o = {.format = EDM_UPLOAD_SNIFF, .rejected_max = 3};
    edm_import *im;
    assert_int_equal(edm_import_new(f->st, f->cid, &o, &im), 0);
    static const char body[] =
        "{\"email\":\"ok@x.test\",\"name\":\"a\\\\u0000b\"}\n"      /* 1: an escaped backslash */
        "{\"email\":\"n@x.test\",\"name\":\"a\\u0000b\"}\n"         /* 2: NUL */
        "{\"email\":\"m@x.test\",\"vars\":{\"k\":[\"\\u0000\"]}}\n" /* 3: NUL, nested */
        "{\"email\":\"j\xc3\xb6rg@x.test\"}\n"                      /* 4: UTF-8 local part */
        "{\"email\":\"\\\"a\\\"@x.test\"}\n"                        /* 5: quoted local part */
        "{\"email\":\"ok2@b\xc3\xbc"
        "cher.test\"}\n"; /* 6: IDN domain: sent as A-label */
    assert_int_equal(feed(im, body, 1), 0);
    assert_int_equal(edm_import_finish(im), 0);
    const edm_import_counts *n = edm_import_get_counts(im);
    assert_int_equal(n->accepted, 2);
    assert_int_equal(n->rejected, 4);
    size_t nr;
    const edm_import_reject *r = edm_import_rejected(im, &nr);
    assert_int_equal(nr, 3); /* rejected_max: the rest counted only */
    assert_int_equal(r[0].line, 2);
    assert_string_equal(r[0].email, "n@x.test");
    assert_string_equal(r[0].error, "variables must not contain NUL characters");
    assert_int_equal(r[1].line, 3);
    assert_string_equal(r[1].error, "variables must not contain NUL characters");
    assert_int_equal(r[2].line, 4);
    assert_string_equal(r[2].error,
                        "invalid address: non-ASCII local parts are not supported (SMTPUTF8)");
    assert_string_equal(recipients(f), "ok@x.test queued\nok2@xn--bcher-kva.test queued\n");
    edm_import_free(im);
}

static void cancelled_between_batches(void **state)
{
    fixture *f = *state;
    edm_import_opts o = {
        .format = EDM_UPLOAD_CSV, .check = edm_lifecycle_import_check, .batch_rows = 2};
    edm_import *im;
    assert_int_equal(edm_import_new(f->st, f->cid, &o, &im), 0);
    assert_int_equal(feed(im, "email\n1@x.test\n2@x.test\n3@x.test\n", 64), 0);
    assert_int_equal(edm_import_get_counts(im)->accepted, 2);
    /* the campaign is scheduled, then cancelled, while the upload goes on */
    int64_t now = edm_time_now();
    enum edm_cstate to;
    assert_int_equal(
        edm_lifecycle_apply(f->st, f->cid, EDM_LIFECYCLE_SCHEDULE, now + 3600, now, &to, NULL), 0);
    assert_int_equal(edm_lifecycle_apply(f->st, f->cid, EDM_LIFECYCLE_CANCEL, -1, now, &to, NULL),
                     0);
    assert_int_equal(feed(im, "4@x.test\n5@x.test\n", 64), EDM_ESTATE);
    assert_non_null(strstr(edm_import_error(im), "the campaign changed state during the upload"));
    assert_non_null(strstr(edm_import_error(im), "(2 rows were added before)"));
    /* stopped: nothing more is read or written */
    assert_int_equal(edm_import_feed(im, "6@x.test\n", 9), EDM_ESTATE);
    assert_int_equal(edm_import_finish(im), EDM_ESTATE);
    assert_int_equal(edm_import_get_counts(im)->accepted, 2);
    /* the first batch is kept whole (the scheduler's sweep cancels it with
     * the campaign: tests/engine/campaign/test_sched.c), the second was
     * never written */
    assert_string_equal(recipients(f), "1@x.test queued\n2@x.test queued\n");
    edm_import_free(im);
}

/* The store fails on the second batch (a full disk): the import stops
 * and says how many batches it wrote before (kept); the failing batch is
 * rolled back whole. */
static const struct edm_store_ops *real_ops;
static int adds_left; /* rows written before the failure */

/* Writes the rows one at a time until adds_left runs out. */
static int failing_add(edm_upload *up, const edm_recipient *r, size_t n, enum edm_add_outcome *o)
{
    for (size_t i = 0; i < n; i++) {
        if (adds_left-- <= 0)
            return EDM_EDB;
        int rc = real_ops->upload_add(up, &r[i], 1, &o[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void store_failure_says_what_is_kept(void **state)
{
    fixture *f = *state;
    real_ops = f->st->ops;
    struct edm_store_ops ops = *real_ops;
    ops.upload_add = failing_add;
    f->st->ops = &ops;
    adds_left = 3; /* the first batch (2 rows) and one row of the second */
    edm_import_opts o = {.format = EDM_UPLOAD_CSV, .batch_rows = 2};
    edm_import *im;
    assert_int_equal(edm_import_new(f->st, f->cid, &o, &im), 0);
    int rc = feed(im, "email\n1@x.test\n2@x.test\n3@x.test\n4@x.test\n5@x.test\n", 64);
    f->st->ops = real_ops;
    assert_int_equal(rc, EDM_EDB);
    const char *why = edm_import_error(im);
    printf("import stopped: %s\n", why);
    assert_non_null(strstr(why, "1 batches written before are kept (2 rows, 2 new recipients)"));
    assert_int_equal(edm_import_get_counts(im)->batches, 1);
    assert_string_equal(recipients(f), "1@x.test queued\n2@x.test queued\n");
    assert_int_equal(edm_import_finish(im), EDM_EDB);
    edm_import_free(im);
}

static void not_a_list(void **state)
{
    fixture *f = *state;
    edm_import_opts o = {.format = EDM_UPLOAD_CSV};
    edm_import *im;
    assert_int_equal(edm_import_new(f->st, f->cid, &o, &im), 0);
    assert_int_equal(feed(im, "name,city\nx,y\n", 4), EDM_EINVAL);
    assert_non_null(strstr(edm_import_error(im), "email"));
    assert_int_equal(edm_import_finish(im), EDM_EINVAL);
    assert_string_equal(recipients(f), "");
    edm_import_free(im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(batches_sorted_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(unsendable_rows_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(cancelled_between_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(store_failure_says_what_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(not_a_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
