/*
 * tests/engine/store/test_store_durable.c: a transactional message is on
 * disk before message_create returns (the 250 of the submission server and
 * the 202 of POST /v1/messages: docs/smtp.md "Commit before 250"), while
 * every other write keeps synchronous=NORMAL (no fsync of the WAL per
 * commit, so campaign outcome writes are not slowed).
 *
 * How: an SQLite VFS shim, registered as the default before the store
 * opens, forwards every call to the real VFS and counts xSync on the WAL
 * file. message_create must sync it at least once; an ordinary write
 * before and after must not (proving the level is put back).
 *
 * The same shim records which thread writes the database file itself
 * (only a WAL checkpoint does, in WAL mode): past the WAL's limit the
 * checkpoint runs on the store's checkpointer thread, never inside a
 * COMMIT of the thread that uses the store (store_sqlite_ckpt.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/timeutil.h"
#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the counting VFS shim ---- */

typedef struct shim_file {
    sqlite3_file base;
    sqlite3_file *real; /* right after this struct, szOsFile of the real VFS */
    int wal, main_db;
} shim_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static unsigned wal_syncs;
/* writes to the main database file by the test's thread and by others */
static pthread_t test_thread;
static atomic_uint db_writes_here, db_writes_elsewhere;

#define REAL(f) (((shim_file *)(f))->real)

static int s_close(sqlite3_file *f)
{
    return REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
}
static int s_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}
static int s_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    if (((shim_file *)f)->main_db)
        atomic_fetch_add(
            pthread_equal(pthread_self(), test_thread) ? &db_writes_here : &db_writes_elsewhere, 1);
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}
static int s_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int s_sync(sqlite3_file *f, int flags)
{
    if (((shim_file *)f)->wal)
        wal_syncs++;
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int s_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int s_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int s_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int s_check(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int s_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int s_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int s_caps(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int s_shm_map(sqlite3_file *f, int i, int sz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, extend, pp);
}
static int s_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void s_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int s_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int s_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
static int s_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_io = {
    3,          s_close,       s_read,      s_write, s_truncate, s_sync, s_size,
    s_lock,     s_unlock,      s_check,     s_fcntl, s_sector,   s_caps, s_shm_map,
    s_shm_lock, s_shm_barrier, s_shm_unmap, s_fetch, s_unfetch};

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    shim_file *sf = (shim_file *)f;
    sf->real = (sqlite3_file *)(sf + 1);
    sf->wal = (flags & SQLITE_OPEN_WAL) != 0;
    sf->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    int rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out);
    /* xClose is called even when xOpen fails if pMethods is set. */
    f->pMethods = sf->real->pMethods ? &shim_io : NULL;
    return rc;
}

static void shim_register(void)
{
    test_thread = pthread_self();
    if (real_vfs) { /* registered by an earlier test */
        assert_int_equal(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
        return;
    }
    real_vfs = sqlite3_vfs_find(NULL);
    assert_non_null(real_vfs);
    assert_true(real_vfs->iVersion >= 2);
    shim_vfs = *real_vfs;
    shim_vfs.zName = "edm-test-sync-count";
    shim_vfs.szOsFile = (int)sizeof(shim_file) + real_vfs->szOsFile;
    shim_vfs.xOpen = shim_open;
    assert_int_equal(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
}

/* ---- the test ---- */

static void ordinary_write(edm_store *st, const char *name)
{
    json_t *tf = json_pack("{s:s, s:s, s:s}", "name", name, "subject", "Hi", "text", "Hello");
    edm_template_row t;
    assert_int_equal(st->ops->template_create(st, tf, &t), 0);
    edm_template_row_clear(&t);
    json_decref(tf);
}

static void message_commit_is_synced_and_others_are_not(void **state)
{
    (void)state;
    shim_register();
    char *dir = edm_test_tmpdir("durable");
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/edm.db", dir);
    edm_store *st;
    assert_int_equal(edm_store_open(path, &st, err, sizeof err), 0);

    unsigned before = wal_syncs;
    ordinary_write(st, "t1");
    assert_int_equal(wal_syncs, before); /* NORMAL: no fsync per commit */

    static const char raw[] = "From: shop@example.com\r\nSubject: reset\r\n\r\ncode\r\n";
    edm_recipient r = {.email = "ann@a.test", .domain = "a.test", .vars_json = NULL};
    edm_message_new m = {.source = "smtp",
                         .from = "shop@example.com",
                         .raw = raw,
                         .rawlen = sizeof raw - 1,
                         .envelope_from = "shop@example.com",
                         .rcpts = &r,
                         .nrcpts = 1};
    int64_t id = 0, rid = 0;
    enum edm_add_outcome out;
    before = wal_syncs;
    assert_int_equal(st->ops->message_create(st, &m, edm_time_now(), &id, &rid, &out), 0);
    assert_true(id > 0);
    printf("WAL syncs in message_create: %u\n", wal_syncs - before);
    assert_true(wal_syncs > before); /* on disk before it returns */

    before = wal_syncs;
    ordinary_write(st, "t2");
    assert_int_equal(wal_syncs, before); /* and NORMAL again after */

    edm_store_close(st);
    sqlite3_vfs_unregister(&shim_vfs);
    edm_test_rmtree(dir);
    free(dir);
}

/* 40,000 recipients with 1 KiB of variables each: about 50 MB of WAL,
 * past the checkpoint limit (32 MiB) more than once. */
static void checkpoints_run_off_the_store_thread(void **state)
{
    (void)state;
    shim_register();
    char *dir = edm_test_tmpdir("ckpt");
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/edm.db", dir);
    edm_store *st;
    assert_int_equal(edm_store_open(path, &st, err, sizeof err), 0);
    int64_t cid = edm_test_store_campaign(st, NULL, "x");
    atomic_store(&db_writes_here, 0);
    atomic_store(&db_writes_elsewhere, 0);

    static char vars[1100];
    memset(vars, 'v', sizeof vars);
    memcpy(vars, "{\"pad\":\"", 8);
    memcpy(vars + sizeof vars - 3, "\"}", 3);
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    for (int i = 0; i < 40000; i++) {
        char email[64];
        snprintf(email, sizeof email, "u%d@d%d.test", i, i % 7);
        edm_recipient r = {.email = email, .domain = strchr(email, '@') + 1, .vars_json = vars};
        enum edm_add_outcome o;
        assert_int_equal(st->ops->upload_add(up, &r, 1, &o), 0);
    }
    assert_int_equal(st->ops->upload_end(up, 1), 0);
    /* the checkpointer copies the WAL into the database meanwhile */
    for (int i = 0; i < 200 && atomic_load(&db_writes_elsewhere) == 0; i++)
        edm_test_sleep_ms(50);
    printf("database writes: %u by the checkpointer, %u by the store's thread\n",
           atomic_load(&db_writes_elsewhere), atomic_load(&db_writes_here));
    assert_true(atomic_load(&db_writes_elsewhere) > 0);
    assert_int_equal(atomic_load(&db_writes_here), 0);
    int64_t counts[EDM_DSTATE_COUNT];
    assert_int_equal(st->ops->campaign_counts(st, cid, counts), 0);
    assert_int_equal(counts[EDM_DSTATE_QUEUED], 40000);
    edm_store_close(st);
    sqlite3_vfs_unregister(&shim_vfs);
    edm_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(message_commit_is_synced_and_others_are_not),
        cmocka_unit_test(checkpoints_run_off_the_store_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
