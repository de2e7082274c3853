/*
 * tests/engine/store/test_attachments.c: a transactional message's
 * attachments in the store (schema/0016_message_attachments.sql), on
 * SQLite and on PostgreSQL (tests/support/store_backend.h): stored once
 * per message whatever the number of recipients, loaded for the pipeline
 * byte for byte in the order given (NUL bytes, every byte value, an empty
 * file, a UTF-8 name), an inline part's content_id (schema/0018) kept and
 * shown, NULL and absent for the others, shown by get and list as
 * metadata only, none for a message without them, and a create that fails stores none of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <string.h>

static int setup(void **state)
{
    return edm_test_store_fx_new(state, "attach", 1);
}

static int teardown(void **state)
{
    return edm_test_store_fx_free(state);
}

static const edm_recipient rcpts[] = {
    {.email = "a@a.test", .domain = "a.test"},
    {.email = "b@b.test", .domain = "b.test"},
    {.email = "c@c.test", .domain = "c.test"},
};

/* want_fail: the create must fail (SQLite says EDM_EDB, PostgreSQL
 * EDM_EINVAL for a constraint). */
static int64_t create(edm_store *st, const edm_attachment_new *att, size_t n, int want_fail)
{
    edm_message_new m = {.source = "api",
                         .from = "shop@example.com",
                         .subject = "s",
                         .text = "t",
                         .attachments = att,
                         .nattachments = n,
                         .rcpts = rcpts,
                         .nrcpts = 3};
    int64_t id = 0, ids[3];
    enum edm_add_outcome outs[3];
    int rc = st->ops->message_create(st, &m, 1000, &id, ids, outs);
    if (want_fail)
        assert_int_not_equal(rc, 0);
    else
        assert_int_equal(rc, 0);
    return id;
}

static long long count(const char *where, const char *sql)
{
    return edm_test_store_value(where, sql);
}

static void stored_once_loaded_whole_shown_as_metadata(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    unsigned char bin[512];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)i; /* every byte value, NULs included */
    const char *name = "R\xc3\xa9sum\xc3\xa9 \xe2\x80\x93 2026.bin";
    const edm_attachment_new att[] = {
        {"invoice.pdf", "application/pdf", "%PDF-1.4\n", 9, NULL},
        {name, "application/octet-stream", bin, sizeof bin, "logo.1@x.test"},
        {"empty.txt", "text/plain", "", 0, NULL},
    };
    int64_t id = create(st, att, 3, 0);
    int64_t plain = create(st, NULL, 0, 0);

    /* one copy per message, not per recipient */
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM message_attachments WHERE campaign_id = %lld",
             (long long)id);
    assert_int_equal(count(f->path, sql), 3);
    assert_int_equal(count(f->path, "SELECT count(*) FROM message_attachments"), 3);

    edm_message_row m;
    assert_int_equal(st->ops->message_load(st, id, &m), 0);
    assert_int_equal(m.nattachments, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(m.attachments[i].filename, att[i].filename);
        assert_string_equal(m.attachments[i].content_type, att[i].content_type);
        assert_int_equal(m.attachments[i].len, att[i].len);
        assert_non_null(m.attachments[i].data);
        if (att[i].content_id)
            assert_string_equal(m.attachments[i].content_id, att[i].content_id);
        else
            assert_null(m.attachments[i].content_id);
        if (att[i].len)
            assert_memory_equal(m.attachments[i].data, att[i].data, att[i].len);
    }
    edm_message_row_clear(&m);
    assert_int_equal(st->ops->message_load(st, plain, &m), 0);
    assert_int_equal(m.nattachments, 0);
    assert_null(m.attachments);
    edm_message_row_clear(&m);

    json_t *want = json_pack("[{s:s, s:s, s:i}, {s:s, s:s, s:i, s:s}, {s:s, s:s, s:i}]", "filename",
                             "invoice.pdf", "content_type", "application/pdf", "size", 9,
                             "filename", name, "content_type", "application/octet-stream", "size",
                             (int)sizeof bin, "content_id", "logo.1@x.test", "filename",
                             "empty.txt", "content_type", "text/plain", "size", 0);
    json_t *o = NULL;
    assert_int_equal(st->ops->message_get(st, id, &o), 0);
    if (!json_equal(json_object_get(o, "attachments"), want))
        fail_msg("get: %s", json_dumps(o, 0));
    json_decref(o);
    assert_int_equal(st->ops->message_get(st, plain, &o), 0);
    assert_true(json_is_array(json_object_get(o, "attachments")));
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 0);
    json_decref(o);
    edm_page page;
    assert_int_equal(st->ops->message_list(st, NULL, NULL, 0, 10, &page), 0);
    assert_int_equal(json_array_size(page.items), 2);
    assert_true(json_equal(json_object_get(json_array_get(page.items, 0), "attachments"), want));
    edm_page_free(&page);
    json_decref(want);
}

/* A create that fails part-way (an attachment without a name breaks a
 * NOT NULL constraint after the message row went in) leaves nothing. */
static void failed_create_stores_nothing(void **state)
{
    struct edm_test_store_fx *f = *state;
    const edm_attachment_new att[] = {
        {"a.pdf", "application/pdf", "x", 1, NULL},
        {NULL, "application/pdf", "y", 1, NULL},
    };
    int64_t id = create(f->st, att, 2, 1);
    (void)id;
    assert_int_equal(count(f->path, "SELECT count(*) FROM message_attachments"), 0);
    assert_int_equal(count(f->path, "SELECT count(*) FROM message_content"), 0);
    assert_int_equal(count(f->path, "SELECT count(*) FROM deliveries"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stored_once_loaded_whole_shown_as_metadata, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failed_create_stores_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
