/*
 * engine/store/receipt.h: a receipt as the API shows it (docs/api.md,
 * "Receipts"), built from one row of a backend's receipt columns. Both
 * backends select the same 24 columns in the same order (RECEIPT_COLUMNS
 * in store/sqlite, PG_RECEIPT_COLUMNS in store/pg) and hand a reader of
 * their row; the JSON is built here, once.
 */
#ifndef EDM_STORE_RECEIPT_H
#define EDM_STORE_RECEIPT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct edm_row_reader edm_row_reader;
struct edm_row_reader {
    const void *row; /* the backend's statement or result */
    int r;           /* its row number, where the backend has one */
    int (*is_null)(const edm_row_reader *rd, int col);
    int64_t (*i64)(const edm_row_reader *rd, int col);
    const char *(*text)(const edm_row_reader *rd, int col, size_t *len);
};

/* The receipt object of the row (never NULL: out of memory is fatal). */
json_t *edm_receipt_json(const edm_row_reader *rd);

#endif
