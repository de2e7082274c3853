/*
 * engine/ingest/import.h: the one recipient import of edm, used by the
 * API upload (api/routes/recipients.c) and `edm send` (engine/cmd/):
 * parse a list (CSV, NDJSON or a JSON array: upload.h), check each address
 * (engine/base/addr.h) and its variables, and write the rows into one
 * campaign in batches.
 *
 * Bytes are fed as they arrive (body chunks on the loop, file chunks);
 * rows wait in a batch of at most EDM_IMPORT_BATCH_ROWS rows or
 * EDM_IMPORT_BATCH_BYTES bytes. A full batch is written inside the feed
 * call that filled it, the last one by edm_import_finish: before each
 * batch the check callback says whether the campaign still takes
 * recipients; then the batch is sorted by domain and address and written
 * in one store upload (upload_begin .. upload_end within that one call, so
 * no transaction stays open across loop turns).
 *
 * Counts cover written batches only: rows waiting in a batch are neither
 * accepted nor lost until it is written. A stop (the check refused, a
 * store or memory failure, a body that is not a list) keeps every batch
 * written before and drops the waiting one; edm_import_error says why.
 */
#ifndef EDM_IMPORT_H
#define EDM_IMPORT_H

#include "engine/ingest/upload.h"
#include "engine/store/store.h"

#include <stddef.h>
#include <stdint.h>

#define EDM_IMPORT_BATCH_ROWS  20000
#define EDM_IMPORT_BATCH_BYTES (8 * 1024 * 1024)
/* Rejected rows kept for the answer by default (all are counted). */
#define EDM_IMPORT_REJECTED_MAX 10000
/* A rejected row's email is kept up to this many bytes. */
#define EDM_IMPORT_REJECTED_EMAIL_MAX 512

typedef struct edm_import_opts {
    enum edm_upload_format format;
    /* Called before each batch is written: 0 to write it, or a negative
     * code (EDM_ESTATE: the campaign takes no more recipients) that stops
     * the import. NULL: no check. */
    int (*check)(void *ctx, edm_store *st, int64_t campaign_id);
    void *ctx;
    size_t batch_rows;   /* 0: EDM_IMPORT_BATCH_ROWS */
    size_t batch_bytes;  /* 0: EDM_IMPORT_BATCH_BYTES */
    size_t rejected_max; /* rejected rows kept; 0: EDM_IMPORT_REJECTED_MAX */
} edm_import_opts;

typedef struct edm_import_counts {
    int64_t rows;       /* rows read, written or rejected (waiting ones not) */
    int64_t accepted;   /* new recipients */
    int64_t duplicates; /* already in the campaign (or twice in the list) */
    int64_t suppressed; /* on the suppression list: stored as suppressed */
    int64_t rejected;   /* unreadable rows and invalid addresses or variables */
    int64_t batches;    /* batches written (each one store transaction) */
} edm_import_counts;

/* One rejected row: line as upload.h counts them; email as read (cut to
 * EDM_IMPORT_REJECTED_EMAIL_MAX bytes, NUL-terminated) or NULL when the
 * row had none or it held a NUL byte; error a reason in English. */
typedef struct edm_import_reject {
    long line;
    char *email;
    char *error;
} edm_import_reject;

typedef struct edm_import edm_import;

/* Returns 0 or EDM_ENOMEM. The options are copied. */
int edm_import_new(edm_store *st, int64_t campaign_id, const edm_import_opts *o, edm_import **out);
/* Feeds the next bytes; may write batches. Returns 0 or the code that
 * stopped the import: the check's code, EDM_EINVAL (not a recipient list),
 * EDM_ENOMEM, or a store code. After a stop, feed and finish return the
 * same code again and do nothing. */
int edm_import_feed(edm_import *im, const char *data, size_t len);
/* The input ended: reads the last row and writes the last batch. Same
 * returns as feed. */
int edm_import_finish(edm_import *im);
/* Why the import stopped, "" if it did not. A stop after batches were
 * written says how many are kept ("...; 2 batches written before are kept:
 * 40000 rows, 39990 new recipients"). */
const char *edm_import_error(const edm_import *im);
const edm_import_counts *edm_import_get_counts(const edm_import *im);
/* The rejected rows kept (the first rejected_max), in input order. */
const edm_import_reject *edm_import_rejected(const edm_import *im, size_t *n);
/* Rows read but not written yet (waiting in the batch). */
size_t edm_import_waiting(const edm_import *im);
void edm_import_free(edm_import *im);

#endif
