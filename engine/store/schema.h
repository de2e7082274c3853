/*
 * engine/store/schema.h: the schema migrations compiled into the binary from
 * schema/NNNN_name.sql and schema/pg/NNNN_name.sql (see schema/CMakeLists.txt). The table ends with
 * a zero version; versions increase by one from 1.
 */
#ifndef EDM_SCHEMA_H
#define EDM_SCHEMA_H

struct edm_migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct edm_migration edm_migrations[];
/* The same migrations in PostgreSQL's dialect (schema/pg/), same versions. */
extern const struct edm_migration edm_pg_migrations[];

#endif
