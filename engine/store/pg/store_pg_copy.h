/*
 * engine/store/pg/store_pg_copy.h: moving an SQLite store to PostgreSQL
 * (`edm migrate --to postgresql://...`, docs/postgresql.md).
 */
#ifndef EDM_STORE_PG_COPY_H
#define EDM_STORE_PG_COPY_H

#include <stdint.h>
#include <stddef.h>

/* Copies every row of the SQLite database at sqlite_path (migrated to
 * this edm's schema first) into the PostgreSQL database of uri (migrated
 * too), in one transaction: templates, campaigns, messages, recipients
 * with their receipts and events, suppressions, settings (the token
 * secret: issued unsubscribe links keep working), per address counters
 * and idempotency keys. The campaign counters are rebuilt by the
 * database's triggers; ids are kept. Refuses a target that already has
 * templates, campaigns or suppressions. progress (may be NULL) is called
 * after each table. Returns 0 or a negative EDM_E* code with err set. */
int edm_store_pg_copy_from_sqlite(const char *sqlite_path, const char *uri,
                                  void (*progress)(const char *table, int64_t rows, void *arg),
                                  void *arg, char *err, size_t errlen);

#endif
