/*
 * engine/store/sqlite/store_sqlite_counters.c: the ip_counters table
 * (schema/0003_ip_counters.sql): per source address warm-up start day and
 * sliding-window counts, read at start and written at most once a second
 * by engine/delivery/pool.c. Returns 0, EDM_ENOTFOUND (get, no row),
 * EDM_EDB with the store's message, or EDM_ENOMEM.
 */
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/store/sqlite/store_sqlite_int.h"

int sq_ip_counters_get(edm_store *st, const char *addr, int64_t *first_day, char **hour, char **day)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "SELECT first_day, hour, day FROM ip_counters WHERE addr = ?1",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "read ip counters");
    sqlite3_bind_text(q, 1, addr, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q), ret = 0;
    if (rc == SQLITE_ROW) {
        *first_day = sqlite3_column_int64(q, 0);
        *hour = edm_strdup((const char *)sqlite3_column_text(q, 1));
        *day = edm_strdup((const char *)sqlite3_column_text(q, 2));
        if (*hour == NULL || *day == NULL) {
            edm_free(*hour);
            edm_free(*day);
            ret = EDM_ENOMEM;
        }
    } else {
        ret = rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "read ip counters");
    }
    sqlite3_finalize(q);
    return ret;
}

int sq_ip_counters_put(edm_store *st, const edm_ip_counters *rows, size_t n)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *w;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO ip_counters(addr, first_day, hour, day, "
                           "updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &w, NULL) != SQLITE_OK)
        return sq_fail(s, "write ip counters");
    int rc = sq_begin(s);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_text(w, 1, rows[i].addr, -1, SQLITE_STATIC);
        sqlite3_bind_int64(w, 2, rows[i].first_day);
        sqlite3_bind_text(w, 3, rows[i].hour, -1, SQLITE_STATIC);
        sqlite3_bind_text(w, 4, rows[i].day, -1, SQLITE_STATIC);
        sqlite3_bind_int64(w, 5, edm_time_now());
        rc = sq_step_done(s, w, "write ip counters");
    }
    sqlite3_finalize(w);
    if (rc != 0) {
        sq_rollback(s);
        return rc;
    }
    return sq_commit(s);
}
