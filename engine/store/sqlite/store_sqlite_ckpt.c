/*
 * engine/store/sqlite/store_sqlite_ckpt.c: WAL checkpoints off the loop
 * thread. SQLite's automatic checkpoint runs inside the COMMIT that grows
 * the WAL past its limit: on the loop thread, copying thousands of pages
 * into the database file and syncing it, while every API request and SMTP
 * event waits (at 10M recipients the stats answered in 47 ms while
 * sending, 0.2 ms idle). Here a WAL hook on the store's connection wakes a
 * thread of its own, with a connection of its own, that runs a PASSIVE
 * checkpoint (it never waits for a lock and never blocks a writer; the
 * next write after a complete one starts the WAL over).
 *
 * Entry points: sq_ckpt_start(s) after the connection's pragmas (0, or
 * the automatic checkpoint is left in place when the thread cannot
 * start: an in-memory database, no memory); sq_ckpt_stop(s) before the
 * connection closes (joins the thread; the last close checkpoints what
 * is left). Limits: a checkpoint that fails (disk full) is logged and
 * tried again at the next commit past the limit; past SQ_CKPT_PAGES_HARD
 * (a writer outrunning the thread) the commit checkpoints itself.
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/alloc.h"
#include "engine/base/log.h"

#include <pthread.h>
#include <string.h>

/* WAL pages (8 KiB) that wake the checkpointer: 32 MiB, as the automatic
 * checkpoint's limit was (wal_autocheckpoint=4000). */
#define SQ_CKPT_PAGES 4000
/* The WAL starts over only when a write begins after a complete
 * checkpoint; a writer faster than the checkpointer (a long upload) could
 * keep it from ever completing, and the WAL would grow without bound.
 * Past this many pages (125 MiB) the committing thread checkpoints
 * itself, as SQLite's automatic checkpoint does. */
#define SQ_CKPT_PAGES_HARD (4 * SQ_CKPT_PAGES)

struct sq_ckpt {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int want, stop;
    sqlite3 *db; /* the thread's own connection */
};

/* Runs inside each COMMIT on the store's thread: a flag and a signal (a
 * checkpoint only past the hard limit). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sq_ckpt *c = arg;
    if (pages >= SQ_CKPT_PAGES_HARD) {
        /* SQLITE_BUSY while the checkpointer runs: the next commit tries again */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    if (pages >= SQ_CKPT_PAGES) {
        pthread_mutex_lock(&c->mu);
        if (!c->want) {
            c->want = 1;
            pthread_cond_signal(&c->cv);
        }
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    sq_ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->want && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop)
            break;
        c->want = 0;
        pthread_mutex_unlock(&c->mu);
        int log = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
            edm_log(EDM_LOG_WARN, "store", "event=checkpoint_failed err=\"%s\"",
                    sqlite3_errmsg(c->db));
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int sq_ckpt_start(sq_store *s)
{
    const char *p = s->path;
    if (p[0] == '\0' || strcmp(p, ":memory:") == 0 || strstr(p, "mode=memory") ||
        strncmp(p, "file::memory:", 13) == 0)
        return 0;
    sq_ckpt *c = edm_calloc(1, sizeof *c);
    if (c == NULL)
        return 0;
    if (sqlite3_open_v2(p, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c->db, "PRAGMA cache_size=-1024; PRAGMA mmap_size=0", NULL, NULL, NULL) !=
            SQLITE_OK) {
        edm_log(EDM_LOG_WARN, "store", "event=checkpointer_unavailable err=\"%s\"",
                c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close(c->db);
        edm_free(c);
        return 0;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        sqlite3_close(c->db);
        edm_free(c);
        return 0;
    }
    /* replaces the automatic checkpoint (wal_autocheckpoint) */
    sqlite3_wal_hook(s->db, wal_hook, c);
    s->ckpt = c;
    return 0;
}

void sq_ckpt_stop(sq_store *s)
{
    sq_ckpt *c = s->ckpt;
    if (c == NULL)
        return;
    sqlite3_wal_hook(s->db, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    sqlite3_close(c->db);
    edm_free(c);
    s->ckpt = NULL;
}
