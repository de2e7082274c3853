/*
 * engine/store/sqlite/store_sqlite_vars.c: recipients' variables in the
 * SQLite store (engine/store/vars.h, schema/0013_var_names.sql).
 * deliveries.vars holds a BLOB in the compact form (a column of TEXT
 * affinity keeps a BLOB as it is), or the JSON object text of a row
 * written before 0013 or with values that are not all strings, or NULL.
 * The names rows are found through the handle's cache (vars_cache.h):
 * writing or claiming a batch with one set of names costs one look-up.
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <string.h>

static int id_of(void *ctx, const char *text, int64_t *id)
{
    sq_store *s = ctx;
    sqlite3_stmt *q = sq_stmt(s, SQ_VARNAMES_GET);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return sq_fail(s, "var_names");
    if ((q = sq_stmt(s, SQ_VARNAMES_PUT)) == NULL)
        return EDM_EDB;
    sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
    if ((rc = sq_step_done(s, q, "insert var_names")) != 0)
        return rc;
    *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

static int text_of(void *ctx, int64_t id, char **text)
{
    sq_store *s = ctx;
    sqlite3_stmt *q = sq_stmt(s, SQ_VARNAMES_TEXT);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q), out = 0;
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        *text = t ? edm_strndup(t, (size_t)sqlite3_column_bytes(q, 0)) : NULL;
        out = *text ? 0 : t ? EDM_ENOMEM : EDM_ENOTFOUND;
    } else {
        out = rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "var_names");
    }
    sqlite3_reset(q);
    return out;
}

int sq_vars_bind(sq_store *s, sqlite3_stmt *q, int i, const edm_recipient *r)
{
    if (r->vars_names == NULL) {
        sq_bind_text(q, i, r->vars_json);
        return 0;
    }
    int rc = edm_vars_cache_encode(&s->vars, &s->vars_buf, r->vars_names, r->vars_vals,
                                   r->vars_vals_len, id_of, s);
    if (rc != 0)
        return rc;
    return sqlite3_bind_blob(q, i, s->vars_buf.data, (int)s->vars_buf.len, SQLITE_TRANSIENT) ==
                   SQLITE_OK
               ? 0
               : sq_fail(s, "bind vars");
}

int sq_vars_col(sq_store *s, sqlite3_stmt *q, int i, edm_vars *v)
{
    *v = (edm_vars){0};
    switch (sqlite3_column_type(q, i)) {
    case SQLITE_NULL: return 0;
    case SQLITE_BLOB: {
        const unsigned char *b = sqlite3_column_blob(q, i);
        size_t n = (size_t)sqlite3_column_bytes(q, i);
        return edm_vars_cache_read(&s->vars, v, b ? b : (const unsigned char *)"", n, text_of, s);
    }
    default: {
        const char *t = (const char *)sqlite3_column_text(q, i);
        if (t == NULL)
            return EDM_ENOMEM;
        v->json = edm_strndup(t, (size_t)sqlite3_column_bytes(q, i));
        return v->json ? 0 : EDM_ENOMEM;
    }
    }
}
