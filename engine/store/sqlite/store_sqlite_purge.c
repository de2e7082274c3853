/*
 * engine/store/sqlite/store_sqlite_purge.c: deleting a campaign on SQLite
 * without a long transaction (schema/0017_campaign_purge.sql). The store
 * has one connection, used from the loop thread: deleting 200,000 receipts
 * with their events in one transaction held the engine and the API for
 * most of a second. So:
 *
 *   sq_campaign_delete  one INSERT marks the campaign (campaign_purges).
 *                       Every read hides a marked campaign (SQ_SHOWN on
 *                       campaigns, and on receipts and events read by
 *                       their own id; sq_campaign_deleted for a receipt
 *                       stream), so for the API it is gone with all its
 *                       rows at once.
 *   sq_campaign_purge   one short transaction: up to `rows` receipts of the
 *                       lowest marked campaign (their events go with them:
 *                       ON DELETE CASCADE; the counters follow: triggers;
 *                       their webhook posts not yet made: by the outbox's
 *                       index on receipts, schema/0019),
 *                       or the campaign row itself once it has none left
 *                       (its mark, counters and sources: cascades,
 *                       triggers).
 *                       Returns the receipts or campaigns removed; 0 when
 *                       no campaign is marked.
 *
 * Nothing is ever half-visible: a campaign is hidden from the commit of
 * its mark until its row goes, and the mark is in the database, so a
 * crash or restart resumes the purge (engine/campaign/purge.c runs it).
 * Ids stay unused after the rows go (AUTOINCREMENT, schema/0015).
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"

int sq_campaign_delete(edm_store *st, int64_t id)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q,
                        "INSERT INTO campaign_purges(campaign_id, deleted_at) "
                        "SELECT id, ?2 FROM campaigns WHERE id = ?1 AND " SQ_SHOWN("id"));
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, edm_time_now());
    rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sq_fail(s, "delete campaign");
    if (sqlite3_changes(s->db) == 0)
        return EDM_ENOTFOUND;
    s->purge_idle = 0;
    return 0;
}

int sq_campaign_deleted(sq_store *s, int64_t id)
{
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q, "SELECT 1 FROM campaign_purges WHERE campaign_id = ?1");
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_fail(s, "campaign deleted");
    return rc == SQLITE_ROW;
}

/* The lowest campaign marked deleted: 0 and *id, EDM_ENOTFOUND, EDM_E*. */
static int next_marked(sq_store *s, int64_t *id)
{
    sqlite3_stmt *q;
    int rc =
        sq_prepare(s, &q, "SELECT campaign_id FROM campaign_purges ORDER BY campaign_id LIMIT 1");
    if (rc != 0)
        return rc;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "campaigns to purge");
}

/* Runs one statement on campaign id (and limit); *n gets its changes. */
static int run(sq_store *s, const char *sql, int64_t id, int limit, int *n)
{
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q, sql);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, id);
    if (limit > 0)
        sqlite3_bind_int(q, 2, limit);
    rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sq_fail(s, "purge");
    *n = sqlite3_changes(s->db);
    return 0;
}

int sq_campaign_purge(edm_store *st, int rows)
{
    sq_store *s = SQ(st);
    if (s->purge_idle)
        return 0;
    int64_t id = 0;
    int rc = next_marked(s, &id);
    if (rc == EDM_ENOTFOUND) {
        s->purge_idle = 1; /* until the next delete */
        return 0;
    }
    if (rc != 0)
        return rc;
    if ((rc = sq_begin(s)) != 0)
        return rc;
    /* No ORDER BY: the first entries of an index on campaign_id, which
     * the previous chunks emptied; sorting would read the whole campaign
     * every time. */
    int n = 0, gone = 0, posts = 0;
    /* their events waiting in the webhook outbox first (the same rows:
     * the same query on the same index in one transaction) */
    rc = run(s,
             "DELETE FROM webhook_outbox WHERE delivery_id IN "
             "(SELECT id FROM deliveries WHERE campaign_id = ?1 LIMIT ?2)",
             id, rows > 0 ? rows : 1, &posts);
    if (rc == 0)
        rc = run(s,
                 "DELETE FROM deliveries WHERE id IN "
                 "(SELECT id FROM deliveries WHERE campaign_id = ?1 LIMIT ?2)",
                 id, rows > 0 ? rows : 1, &n);
    if (rc == 0 && n < (rows > 0 ? rows : 1))
        rc = run(s, "DELETE FROM campaigns WHERE id = ?1", id, 0, &gone);
    if (rc == 0)
        rc = sq_commit(s);
    if (rc != 0) {
        sq_rollback(s);
        return rc;
    }
    return n + gone > 0 ? n + gone : 1;
}
