/*
 * engine/store/pg/store_pg_feed.c: how far a reader may pass in a table
 * whose ids are read in order by a cursor (GET /v1/events?after=, the
 * webhook outbox's batches) on PostgreSQL, where ids come from a sequence
 * when a row is inserted but transactions commit in any order: with id
 * 100 in one still open and 101 committed by another, a reader that took
 * 101 and moved its cursor past it would never see 100 (docs/postgresql.md,
 * "Events feed").
 *
 * The settled bound: an id B such that every id <= B is committed and
 * visible to the next statement, or never will be (rolled back, deleted).
 * It comes from a candidate: the sequence's last value L read first, then
 * a fresh transaction id R (this connection assigns itself one, in a
 * transaction rolled back at once). Every transaction that took an id <= L
 * had its transaction id before it took the id (each writer of these rows
 * has locked or updated a receipt first: FOR UPDATE, UPDATE deliveries;
 * that assigns it), so below R. Once no transaction below R runs
 * (R <= the xmin of a snapshot), L is settled, and stays so.
 *
 * Each call makes a candidate and checks it and the oldest one not yet
 * settled, kept per connection (pg_feed_bound); without concurrent writers
 * the new one is settled at once, so rows show without delay. A
 * transaction that stays open holds the bound back until it ends: the
 * reader waits, it never skips. Cost per call: four short statements and
 * one transaction id (no write, no flush: the transaction is rolled back).
 *
 * The txid_* functions, not PostgreSQL 13's pg_current_xact_id() and
 * pg_snapshot_xmin(pg_current_snapshot()), which answer the same 64-bit
 * ids: they also run on PostgreSQL 12 (docs/postgresql.md).
 *
 * The lists read by a cursor (campaigns and messages, templates,
 * suppressions: GET ...?after=) are not polled feeds: a row added and then
 * listed must show at once, and an unrelated transaction left open on the
 * server must not hold a list back. Their writers are few and all edm's,
 * so they are bounded exactly instead (pg_list_settled): every writer
 * takes the list's advisory lock, shared, before it takes an id
 * (PG_LIST_ID, PG_LIST_LOCK), and holds it to its end; a reader takes it
 * exclusively for a moment and reads the sequence: every id up to that
 * value belongs to a writer that has ended, and later writers get ids
 * above it. The reader only tries the lock (no queue, no error logged),
 * up to LIST_TRIES times 2 ms apart; while writers keep it, it keeps its
 * previous bound: rows show late, never skipped.
 *
 * Entry points: pg_feed_settled(s, b, seq, &upto), pg_list_settled(s,
 * list, &upto): 0 or EDM_E*. Limits: the
 * sequence must hand out ids one at a time (CACHE 1, the default of the
 * identity columns): a session's cache would give out ids below L later.
 */
#include "engine/base/err.h"
#include "engine/store/pg/store_pg_int.h"

#include <stdlib.h>
#include <time.h>

/* 2 ms apart: a list waits at most about 50 ms for its writers */
#define LIST_TRIES 25

/* The first column of a one-row result (a transaction id or a sequence
 * value, bigint) of sql, a string with static storage (pg_run): 0 with
 * *ok = 0 when there is none. */
static uint64_t one_value(pg_store *s, const char *sql, const char *what, int *ok)
{
    PGresult *r = pg_run(s, sql, NULL, what);
    *ok = r != NULL && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0);
    uint64_t v = *ok ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return v;
}

/* A candidate: the sequence's last value, then a transaction id taken
 * after reading it. */
static int candidate(pg_store *s, const char *last_sql, uint64_t *l, uint64_t *r)
{
    int rc = pg_begin(s), ok = 0;
    if (rc != 0)
        return rc;
    *l = one_value(s, last_sql, "feed last id", &ok);
    if (ok)
        *r = one_value(s, "SELECT txid_current()", "feed xid", &ok);
    /* nothing written: rolled back, no commit record to flush */
    int rb = pg_do(s, "ROLLBACK", NULL, "feed rollback");
    s->in_tx = 0;
    return ok ? rb : EDM_EDB;
}

int pg_feed_settled(pg_store *s, pg_feed_bound *b, const char *last_sql, int64_t *upto)
{
    uint64_t l, r;
    int ok, rc = candidate(s, last_sql, &l, &r);
    if (rc != 0)
        return rc;
    uint64_t xmin =
        one_value(s, "SELECT txid_snapshot_xmin(txid_current_snapshot())", "feed xmin", &ok);
    if (!ok)
        return EDM_EDB;
    if (r <= xmin) {
        /* the new candidate settled: everything up to now */
        b->safe = l;
        b->pend_r = 0;
    } else if (b->pend_r && b->pend_r <= xmin) {
        /* the older one settled; the new one waits in its place */
        b->safe = b->pend_l;
        b->pend_l = l;
        b->pend_r = r;
    } else if (!b->pend_r) {
        b->pend_l = l;
        b->pend_r = r;
    }
    /* else the older one keeps waiting (a newer one would never be the
     * first to settle) */
    *upto = (int64_t)b->safe;
    return 0;
}

int pg_list_settled(pg_store *s, enum pg_list l, int64_t *upto)
{
    static const struct {
        const char *try_lock;
        const char *last;
    } lists[PG_LIST_COUNT] = {
        [PG_LIST_CAMPAIGNS] = {"SELECT pg_try_advisory_xact_lock(" PG_LOCK_CAMPAIGNS ")::int",
                               "SELECT last_value - (NOT is_called)::int FROM campaigns_id_seq"},
        [PG_LIST_TEMPLATES] = {"SELECT pg_try_advisory_xact_lock(" PG_LOCK_TEMPLATES ")::int",
                               "SELECT last_value - (NOT is_called)::int FROM templates_id_seq"},
        [PG_LIST_SUPPRESSIONS] = {"SELECT pg_try_advisory_xact_lock(" PG_LOCK_SUPPRESSIONS ")::int",
                                  "SELECT last_value - (NOT is_called)::int FROM "
                                  "suppressions_id_seq"},
    };
    EDM_ASSERT((unsigned)l < PG_LIST_COUNT);
    int rc = 0;
    for (int t = 0; t < LIST_TRIES; t++) {
        if (t > 0) {
            struct timespec ms = {0, 2000000};
            nanosleep(&ms, NULL);
        }
        if ((rc = pg_begin(s)) != 0)
            return rc;
        int ok;
        uint64_t got = one_value(s, lists[l].try_lock, "list lock", &ok);
        uint64_t last = ok && got == 1 ? one_value(s, lists[l].last, "list last id", &ok) : 0;
        int locked = ok && got == 1;
        /* nothing written: rolled back, the lock with it */
        int rb = pg_do(s, "ROLLBACK", NULL, "list rollback");
        s->in_tx = 0;
        if (!ok || rb != 0)
            return EDM_EDB;
        if (locked) {
            s->list_safe[l] = (int64_t)last;
            break;
        }
    }
    *upto = s->list_safe[l];
    return 0;
}
