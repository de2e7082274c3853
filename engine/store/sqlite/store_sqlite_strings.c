/*
 * engine/store/sqlite/store_sqlite_strings.c: the ledger's shared strings
 * (schema/0007_compact_ledger.sql, docs/architecture.md "The ledger"):
 * recipient domains, MX hosts, addresses and TLS versions are stored once
 * in `strings` and referenced by id from deliveries and delivery_events.
 *
 * sq_string_id(s, text, &id) gives the id of a text, inserting it when new;
 * it must run inside the caller's write transaction. Ids are cached in a
 * hash table on the handle (a hit costs no SQL); rows are never deleted, so
 * a cached id stays valid for every process sharing the file, except one
 * learned in a transaction that rolled back: sq_rollback clears the cache.
 * The cache holds at most SQ_STRINGS_MAX entries, then starts again empty.
 *
 * sq_message_key(text): the 64-bit key of a Message-ID, indexed in place
 * of the Message-ID itself (deliveries.message_key); also the SQL function
 * edm_message_key(text) that migrations 0007 and 0012 fill the column with.
 * A key finds candidates, the row's text confirms (collisions are fine).
 * For edm's own Message-IDs ("<hex ms>.<hex counter>.<hex>@domain",
 * engine/message/mime.c) the key is the milliseconds then 20 bits of the
 * text's FNV-1a hash, so the rows of a batch are appended at the index's
 * right edge; any other text keys by its 64-bit FNV-1a hash.
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <string.h>

#define SQ_STRINGS_MAX 65536

struct sq_string {
    uint64_t hash;
    int64_t id;
    char *value; /* NULL: free slot */
};

static uint64_t fnv1a(const char *v, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)v[i];
        h *= 1099511628211ULL;
    }
    return h;
}

#define MSGKEY_HASH_BITS 20
#define MSGKEY_MS_MAX    (1ULL << (63 - MSGKEY_HASH_BITS)) /* the year 2248 */

/* The milliseconds leading an edm Message-ID ("<hex>." with at most 11
 * digits, below MSGKEY_MS_MAX), or 0. */
static uint64_t leading_ms(const char *v)
{
    uint64_t ms = 0;
    size_t i = 0;
    for (; i < 11; i++) {
        char c = v[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                            : 16;
        if (d == 16)
            break;
        ms = ms << 4 | d;
    }
    return i > 0 && v[i] == '.' && ms < MSGKEY_MS_MAX ? ms : 0;
}

int64_t sq_message_key(const char *message_id)
{
    size_t n = strlen(message_id);
    uint64_t h = fnv1a(message_id, n), ms = leading_ms(message_id);
    if (ms)
        return (int64_t)(ms << MSGKEY_HASH_BITS | (h & ((1ULL << MSGKEY_HASH_BITS) - 1)));
    /* an int64 reinterpretation: the column is INTEGER */
    int64_t k;
    memcpy(&k, &h, sizeof k);
    return k;
}

static void message_key_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    if (t == NULL)
        sqlite3_result_null(ctx);
    else
        sqlite3_result_int64(ctx, sq_message_key(t));
}

int sq_strings_register(sq_store *s)
{
    if (sqlite3_create_function(s->db, "edm_message_key", 1,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                message_key_fn, NULL, NULL) != SQLITE_OK)
        return sq_fail(s, "register edm_message_key");
    return 0;
}

void sq_strings_clear(sq_store *s)
{
    for (size_t i = 0; i < s->strings_cap; i++)
        edm_free(s->strings[i].value);
    edm_free(s->strings);
    s->strings = NULL;
    s->strings_cap = s->strings_len = 0;
}

static struct sq_string *slot(struct sq_string *t, size_t cap, uint64_t h, const char *v)
{
    for (size_t i = (size_t)h & (cap - 1);; i = (i + 1) & (cap - 1))
        if (t[i].value == NULL || (t[i].hash == h && strcmp(t[i].value, v) == 0))
            return &t[i];
}

static int cache_put(sq_store *s, uint64_t h, const char *v, int64_t id)
{
    if (s->strings_len >= SQ_STRINGS_MAX)
        sq_strings_clear(s);
    if ((s->strings_len + 1) * 4 > s->strings_cap * 3) {
        size_t cap = s->strings_cap ? s->strings_cap * 2 : 256;
        struct sq_string *t = edm_calloc(cap, sizeof *t);
        if (t == NULL)
            return EDM_ENOMEM;
        for (size_t i = 0; i < s->strings_cap; i++)
            if (s->strings[i].value)
                *slot(t, cap, s->strings[i].hash, s->strings[i].value) = s->strings[i];
        edm_free(s->strings);
        s->strings = t;
        s->strings_cap = cap;
    }
    char *copy = edm_strndup(v, strlen(v));
    if (copy == NULL)
        return EDM_ENOMEM;
    *slot(s->strings, s->strings_cap, h, v) = (struct sq_string){h, id, copy};
    s->strings_len++;
    return 0;
}

int sq_string_id(sq_store *s, const char *v, int64_t *id)
{
    uint64_t h = fnv1a(v, strlen(v));
    if (s->strings_cap) {
        struct sq_string *e = slot(s->strings, s->strings_cap, h, v);
        if (e->value) {
            *id = e->id;
            return 0;
        }
    }
    sqlite3_stmt *q = sq_stmt(s, SQ_STRING_GET);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_text(q, 1, v, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (rc == SQLITE_DONE) {
        if ((q = sq_stmt(s, SQ_STRING_PUT)) == NULL)
            return EDM_EDB;
        sqlite3_bind_text(q, 1, v, -1, SQLITE_STATIC);
        if ((rc = sq_step_done(s, q, "insert string")) != 0)
            return rc;
        *id = sqlite3_last_insert_rowid(s->db);
    } else if (rc != SQLITE_ROW) {
        return sq_fail(s, "string");
    }
    return cache_put(s, h, v, *id);
}

int sq_bind_string(sq_store *s, sqlite3_stmt *q, int i, const char *v)
{
    if (v == NULL || v[0] == '\0')
        return sqlite3_bind_null(q, i) == SQLITE_OK ? 0 : EDM_EDB;
    int64_t id;
    int rc = sq_string_id(s, v, &id);
    if (rc == 0)
        sqlite3_bind_int64(q, i, id);
    return rc;
}
