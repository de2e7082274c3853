/*
 * engine/store/pg/store_pg_vars.c: recipients' variables in the
 * PostgreSQL store (engine/store/vars.h, schema/pg/0013_var_names.sql).
 * deliveries.vars is TEXT, so the compact bytes go to deliveries.vars_bin
 * (bytea) and a row has one of the two, or neither. Names rows are found
 * through the handle's cache (vars_cache.h): a batch with one set of
 * names costs one look-up, not one per row. Several nodes may add the
 * same names at once: the insert does nothing on a conflict and the
 * row is read again, committed by the other node.
 */
#include "engine/store/pg/store_pg_int.h"
#include "engine/base/hex.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>

static const char SQL_ID_GET[] = "SELECT id FROM var_names WHERE names = $1";
static const char SQL_ID_PUT[] =
    "INSERT INTO var_names(names) VALUES ($1) ON CONFLICT (names) DO NOTHING RETURNING id";
static const char SQL_TEXT[] = "SELECT names FROM var_names WHERE id = $1";

/* 1 with *id when q has a row, 0 without, negative on failure. */
static int one_id(pg_store *s, const char *sql, const char *text, int64_t *id)
{
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, text);
    PGresult *q = pg_run(s, sql, &p, "var_names");
    if (q == NULL)
        return pg_code(s);
    int found = PQntuples(q) > 0;
    if (found)
        *id = pg_int(q, 0, 0);
    PQclear(q);
    return found;
}

static int id_of(void *ctx, const char *text, int64_t *id)
{
    pg_store *s = ctx;
    int rc = one_id(s, SQL_ID_GET, text, id);
    if (rc == 0)
        rc = one_id(s, SQL_ID_PUT, text, id);
    if (rc == 0) /* another node's insert won: committed now */
        rc = one_id(s, SQL_ID_GET, text, id);
    if (rc == 0) {
        snprintf(s->err, sizeof s->err, "var_names: no row for a names text just inserted");
        return EDM_EDB;
    }
    return rc < 0 ? rc : 0;
}

static int text_of(void *ctx, int64_t id, char **text)
{
    pg_store *s = ctx;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *q = pg_run(s, SQL_TEXT, &p, "var_names");
    if (q == NULL)
        return pg_code(s);
    int rc = PQntuples(q) == 1 ? 0 : EDM_ENOTFOUND;
    if (rc == 0 && (*text = edm_strdup(PQgetvalue(q, 0, 0))) == NULL)
        rc = EDM_ENOMEM;
    PQclear(q);
    return rc;
}

int pg_vars_encode(pg_store *s, const edm_recipient *r)
{
    if (r->vars_names == NULL)
        return 0;
    int rc = edm_vars_cache_encode(&s->vars, &s->vars_buf, r->vars_names, r->vars_vals,
                                   r->vars_vals_len, id_of, s);
    return rc == 0 ? 1 : rc;
}

int pg_vars_col(pg_store *s, const PGresult *q, int r, int cj, int cb, edm_vars *v)
{
    *v = (edm_vars){0};
    if (!PQgetisnull(q, r, cb)) {
        /* bytea in the text format: "\x" and two hex digits a byte */
        const char *h = PQgetvalue(q, r, cb);
        size_t n = (size_t)PQgetlength(q, r, cb);
        if (n < 2 || h[0] != '\\' || h[1] != 'x' || n % 2 != 0) {
            snprintf(s->err, sizeof s->err, "vars_bin: not a hex bytea");
            return EDM_EDB;
        }
        size_t len = (n - 2) / 2;
        unsigned char *b = edm_malloc(len ? len : 1);
        if (b == NULL)
            return EDM_ENOMEM;
        for (size_t i = 0; i < len; i++) {
            int hi = edm_hex_value(h[2 + 2 * i]), lo = edm_hex_value(h[3 + 2 * i]);
            if (hi < 0 || lo < 0) {
                edm_free(b);
                snprintf(s->err, sizeof s->err, "vars_bin: not a hex bytea");
                return EDM_EDB;
            }
            b[i] = (unsigned char)(hi << 4 | lo);
        }
        int rc = edm_vars_cache_read(&s->vars, v, b, len, text_of, s);
        edm_free(b);
        return rc;
    }
    if (!PQgetisnull(q, r, cj) &&
        (v->json = edm_strndup(PQgetvalue(q, r, cj), (size_t)PQgetlength(q, r, cj))) == NULL)
        return EDM_ENOMEM;
    return 0;
}

void pg_vars_rolled_back(pg_store *s)
{
    edm_vars_cache_forget_ids(&s->vars);
}
