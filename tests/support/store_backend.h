/*
 * tests/support/store_backend.h: runs a store test on either backend. The
 * same test executable is registered twice with ctest (tests/engine/
 * store/store.cmake): on SQLite, and with EDM_TEST_STORE=pg on a throwaway
 * PostgreSQL cluster (pg_cluster.h) started by the group setup and stopped
 * by its teardown. Each test gets a fresh database; raw SQL (to check or
 * to set up what the interface cannot) goes through the right client.
 * It also holds the fixtures many store tests share: a campaign on a
 * fresh template, and an upload of numbered recipients.
 */
#ifndef EDM_TEST_STORE_BACKEND_H
#define EDM_TEST_STORE_BACKEND_H

#include "engine/store/store.h"

#include <stddef.h>
#include <stdint.h>

/* 1 when this run is on PostgreSQL (EDM_TEST_STORE=pg). */
int edm_test_store_is_pg(void);
/* cmocka group setup and teardown: start and stop the cluster when on
 * PostgreSQL (a failed start fails the group). */
int edm_test_store_group_setup(void **state);
int edm_test_store_group_teardown(void **state);
/* A fresh database: dir/edm.db on SQLite, a new database's URI on
 * PostgreSQL. Returns 0 or -1. */
int edm_test_store_where(const char *dir, char *where, size_t len);
/* Raw SQL through a second connection: exec gives 0 or -1; value gives
 * the first column of the first row (-1 on failure or NULL). On SQLite
 * value opens the file read-only and waits up to 2 s for a lock, so it
 * can watch a running edm's database. */
int edm_test_store_exec(const char *where, const char *sql);
long long edm_test_store_value(const char *where, const char *sql);

/* Closes st (NULL is fine), removes dir (from edm_test_tmpdir) and its
 * contents, and frees dir: a store test's teardown. */
void edm_test_store_release(edm_store *st, char *dir);

/* Runs the purge of deleted campaigns to its end, as the engine does in
 * the background (store.h campaign_purge; nothing to do on PostgreSQL).
 * Returns 0 or the store's error. */
int edm_test_store_purge(edm_store *st);

/* A store test's fixture: a temporary directory, the store's location
 * (edm_test_store_where) and, once opened, the handle. */
struct edm_test_store_fx {
    char *dir;
    char path[4200];
    edm_store *st;
};
/* A cmocka setup's body: *state becomes a new fixture whose directory is
 * named after name; the store is opened too when open (a failure says
 * why on stderr and fails the setup). */
int edm_test_store_fx_new(void **state, const char *name, int open);
/* A cmocka teardown's body: the store closed, the directory removed. */
int edm_test_store_fx_free(void **state);
/* A template named "t" with subject "Hi" and the given html and text parts
 * (NULL leaves a part out); returns its id. A failed op fails the test. */
int64_t edm_test_store_template(edm_store *st, const char *html, const char *text);
/* A draft campaign "c" from news@example.com on that template; its id. */
int64_t edm_test_store_campaign_on(edm_store *st, int64_t template_id);
/* Both at once: a new template's draft campaign; returns the campaign id. */
int64_t edm_test_store_campaign(edm_store *st, const char *html, const char *text);
/* A webhook to https://hooks.example/h (never posted to: the store's
 * outbox is what tests read) for the events bits given; returns its id. */
int64_t edm_test_store_webhook(edm_store *st, unsigned events);
/* Uploads recipients i = from .. from + n - 1 to campaign cid in one
 * upload: the address is fmt printed with (i, i % 3), e.g. "u%d@d.test" or
 * "u%d@d%d.test", its domain what follows '@'. Each add's outcome must be
 * expect (an enum edm_add_outcome), or anything when expect is -1. */
void edm_test_store_upload(edm_store *st, int64_t cid, const char *fmt, int from, int n,
                           int expect);

#endif
