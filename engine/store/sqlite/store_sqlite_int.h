/*
 * engine/store/sqlite/store_sqlite_int.h: shared by store_sqlite*.c only. The SQLite
 * backend's handle, its prepared-statement cache and small helpers.
 */
#ifndef EDM_STORE_SQLITE_INT_H
#define EDM_STORE_SQLITE_INT_H

#include "engine/base/buf.h"
#include "engine/store/store.h"
#include "engine/store/vars_cache.h"

#include <sqlite3.h>

/* Recipients an upload inserts in one statement (SQ_UPLOAD_INSERT_MANY):
 * a statement's own cost, AUTOINCREMENT's sequence update among it, is
 * paid once for them. */
#define SQ_UPLOAD_ROWS 16

/* Statements kept prepared for the life of the handle. */
enum sq_stmt {
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_SETTING_GET,
    SQ_SETTING_PUT,
    SQ_SETTING_REPLACE,
    SQ_UPLOAD_SUPPRESSED,
    SQ_UPLOAD_INSERT,
    SQ_UPLOAD_INSERT_MANY, /* SQ_UPLOAD_ROWS rows in one statement */
    SQ_CLAIM_RETRY,
    SQ_CLAIM_QUEUED,
    SQ_UNCLAIM,
    SQ_SUPPRESSION_ANY,
    SQ_HAS_PENDING,
    SQ_COUNTS,
    SQ_RECORD,
    SQ_EVENT,
    SQ_TEMPLATE_GET,
    SQ_CAMPAIGN_GET,
    SQ_RECEIPT_GET,
    SQ_SUPPRESSION_CHECK,
    SQ_CAMPAIGN_FIRST_DELIVERY,
    SQ_SUPPRESSION_FILTER,
    SQ_STRING_GET,
    SQ_STRING_PUT,
    SQ_VARNAMES_GET,
    SQ_VARNAMES_PUT,
    SQ_VARNAMES_TEXT,
    SQ_SYNC_FULL,
    SQ_SYNC_NORMAL,
    SQ_COUNT
};

/* How long a statement waits for a lock held by another process. */
#define SQ_BUSY_MS 50

/* Receipt list statements cached by filter mask (6 filter bits). */
#define SQ_RECEIPT_VARIANTS 64

/* Statements of store_sqlite_messages.c. */
#define SQ_MSG_STMTS 10

typedef struct sq_ckpt sq_ckpt;

/* Statements of store_sqlite_tracking.c (engagement, the click path). */
#define SQ_TRACK_STMTS 8

/* Statements of store_sqlite_record.c (recording outcomes). */
#define SQ_RECORD_STMTS 5

typedef struct sq_store {
    edm_store base;
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[SQ_COUNT];
    sqlite3_stmt *receipt_stmts[SQ_RECEIPT_VARIANTS];
    sqlite3_stmt *msg_stmts[SQ_MSG_STMTS]; /* store_sqlite_messages.c's, prepared on first use */
    sqlite3_stmt *track_stmts[SQ_TRACK_STMTS];   /* store_sqlite_tracking.c's, likewise */
    sqlite3_stmt *record_stmts[SQ_RECORD_STMTS]; /* store_sqlite_record.c's, likewise */
    char node_id[128]; /* store_sqlite_nodes.c: this engine's node, "" none */
    int64_t lease;
    struct sq_string *strings; /* store_sqlite_strings.c's cache: text -> id */
    size_t strings_cap, strings_len;
    edm_vars_cache vars; /* store_sqlite_vars.c's names cache */
    edm_buf vars_buf;    /* the compact bytes of the row being written */
    sq_ckpt *ckpt;       /* store_sqlite_ckpt.c's thread, NULL: automatic checkpoints */
    int purge_idle;      /* store_sqlite_purge.c: 1 once no campaign is left to purge */
    char err[512];
} sq_store;

#define SQ(st) ((sq_store *)(st))

/* Prepared statement for id, prepared on first use; NULL on failure (err set). */
sqlite3_stmt *sq_stmt(sq_store *s, enum sq_stmt id);
/* A one-off statement (the caller finalizes it): 0, or the error recorded. */
int sq_prepare(sq_store *s, sqlite3_stmt **q, const char *sql);
/* Records the db's error message ("what: msg") and returns EDM_EBUSY when
 * another process holds the lock, else EDM_EDB. */
int sq_fail(sq_store *s, const char *what);
int sq_begin(sq_store *s);
int sq_commit(sq_store *s);
void sq_rollback(sq_store *s);
/* Binds text or NULL. */
void sq_bind_text(sqlite3_stmt *st, int i, const char *v);
/* json value of a column holding JSON text (NULL column -> fallback). */
json_t *sq_json_col(sqlite3_stmt *st, int i, const char *fallback);
/* RFC 3339 string or JSON null for a column holding unix seconds. */
json_t *sq_time_col(sqlite3_stmt *st, int i);
json_t *sq_text_col(sqlite3_stmt *st, int i);
json_t *sq_int_col(sqlite3_stmt *st, int i);

int sq_step_done(sq_store *s, sqlite3_stmt *st, const char *what);

/* Shared strings (store_sqlite_strings.c, schema/0007_compact_ledger.sql). */
/* The id of text v in `strings`, inserted if new; inside a write transaction. */
int sq_string_id(sq_store *s, const char *v, int64_t *id);
/* Binds the id of v, or NULL for NULL or "". */
int sq_bind_string(sq_store *s, sqlite3_stmt *q, int i, const char *v);
/* Forgets every cached id (after a rollback; at close). */
void sq_strings_clear(sq_store *s);
/* Variables (store_sqlite_vars.c, schema/0013_var_names.sql). Binds a
 * recipient's variables to parameter i: the compact bytes as a BLOB (the
 * names id found or inserted: inside a write transaction), JSON text, or
 * NULL. */
int sq_vars_bind(sq_store *s, sqlite3_stmt *q, int i, const edm_recipient *r);
/* Is r on the suppression list, by q: a statement "... WHERE value IN
 * (?1 email, ?2 domain)" (upload, messages)? 1 yes, 0 no, < 0 an error. */
int sq_recipient_suppressed(sq_store *s, sqlite3_stmt *q, const edm_recipient *r);
/* Reads column i (BLOB: compact; TEXT: JSON; NULL) into v. 0 or EDM_E*. */
int sq_vars_col(sq_store *s, sqlite3_stmt *q, int i, edm_vars *v);
/* WAL checkpoints on a thread of their own (store_sqlite_ckpt.c): start
 * after the pragmas; stop before the connection closes. */
int sq_ckpt_start(sq_store *s);
void sq_ckpt_stop(sq_store *s);
/* Registers the SQL function edm_message_key(text) on the connection. */
int sq_strings_register(sq_store *s);
/* The indexed key of a Message-ID (deliveries.message_key). */
int64_t sq_message_key(const char *message_id);
/* The domain of a stored (normalised) address, allocated; NULL if none. */
char *sq_email_domain(const char *email);
/* The SQL text of shared string col (an id column) as a value. */
#define SQ_STR(col) "(SELECT value FROM strings WHERE id = " col ")"

/* Ops implemented in store_sqlite_jobs.c. */
int sq_upload_begin(edm_store *st, int64_t campaign_id, edm_upload **up);
int sq_upload_add(edm_upload *up, const edm_recipient *rows, size_t n,
                  enum edm_add_outcome *outcomes);
int sq_upload_end(edm_upload *up, int commit);
int sq_claim(edm_store *st, int64_t campaign_id, int64_t now, int64_t lease, int64_t *cursor,
             size_t limit, edm_job **jobs, size_t *n);
int sq_record(edm_store *st, const edm_outcome *results, size_t n);
int sq_unclaim(edm_store *st, const int64_t *ids, size_t n, int64_t now);
int sq_cancel_pending(edm_store *st, int64_t campaign_id);
int sq_suppression_filter(edm_store *st, const edm_job *jobs, size_t n, unsigned char *hit);

/* Ops implemented in store_sqlite_counters.c. */
int sq_ip_counters_get(edm_store *st, const char *addr, int64_t *first_day, char **hour,
                       char **day);
int sq_ip_counters_put(edm_store *st, const edm_ip_counters *rows, size_t n);

/* The ledger's texts of a receipt or an event (prefix p: "" or "e."), read
 * through their ids: mx_host, mx_ip, source_ip, tls. */
#define SQ_LEDGER_COLUMNS(p)                                                                       \
    SQ_STR(p "mx_host_id")                                                                         \
    ", " SQ_STR(p "mx_ip_id") ", " SQ_STR(p "source_ip_id") ", " SQ_STR(p "tls_id")
/* The columns of a receipt, in the order sq_receipt_object reads them. */
#define RECEIPT_COLUMNS                                                                            \
    "id, campaign_id, email, status, attempts, smtp_code, enhanced_code, response, "               \
    "bounce_category, " SQ_LEDGER_COLUMNS("") ", message_id, remote_queue_id, queued_at, "         \
                                              "first_attempt_at, last_attempt_at, delivered_at, "  \
                                              "next_attempt_at, feedback, feedback_at, "           \
                                              "opened_at, clicked_at"
/* A receipt as the API shows it, from a row of RECEIPT_COLUMNS. */
json_t *sq_receipt_object(sqlite3_stmt *q);
/* Reads a campaign row (store_sqlite_rows.c's CAMPAIGN_SELECT columns). */
void sq_campaign_read(sqlite3_stmt *q, edm_campaign_row *r);

/* Ops implemented in store_sqlite_messages.c. */
int sq_message_create(edm_store *st, const edm_message_new *m, int64_t now, int64_t *id,
                      int64_t *receipt_ids, enum edm_add_outcome *outcomes);
int sq_message_load(edm_store *st, int64_t id, edm_message_row *out);
int sq_message_get(edm_store *st, int64_t id, json_t **out);
int sq_message_list(edm_store *st, const char *tag, const char *status, int64_t after, int limit,
                    edm_page *page);
int sq_claim_txn(edm_store *st, int64_t now, int64_t lease, size_t limit, edm_job **jobs,
                 size_t *n);

/* Ops implemented in store_sqlite_rows.c. */
int sq_template_get(edm_store *st, int64_t id, edm_template_row *out);
/* The template a campaign started sending with (schema/0009_tracking_sources.sql):
 * 0, EDM_ENOTFOUND (none taken) or EDM_EDB. */
int sq_source_get(sq_store *s, int64_t campaign_id, edm_template_row *out);
int sq_template_list(edm_store *st, int64_t after, int limit, edm_template_page *page);
int sq_campaign_get(edm_store *st, int64_t id, edm_campaign_row *out);
int sq_campaign_list(edm_store *st, int status, int64_t after, int limit, edm_campaign_page *page);

/* Ops implemented in store_sqlite_objects.c. */
int sq_template_create(edm_store *st, json_t *fields, edm_template_row *out);
int sq_template_update(edm_store *st, int64_t id, json_t *fields, edm_template_row *out);
int sq_template_delete(edm_store *st, int64_t id);
int sq_campaign_create(edm_store *st, json_t *fields, edm_campaign_row *out);
int sq_campaign_update(edm_store *st, int64_t id, json_t *fields, edm_campaign_row *out);
int sq_campaign_stats(edm_store *st, int64_t id, json_t **out);
int sq_receipt_list(edm_store *st, int64_t campaign_id, const edm_receipt_filter *f,
                    edm_page *page);
int sq_receipt_get(edm_store *st, int64_t id, json_t **out);
int sq_receipt_events(edm_store *st, int64_t id, json_t **items);
int sq_suppression_add(edm_store *st, const char *value, const char *reason, json_t **out);
int sq_suppression_list(edm_store *st, int64_t after, int limit, edm_page *page);
int sq_suppression_delete(edm_store *st, const char *value);
int sq_suppression_check(edm_store *st, const char *email, const char *domain);
int sq_idem_get(edm_store *st, const char *key, int *status, char **body);
int sq_idem_put(edm_store *st, const char *key, int status, const char *body);

/* Ops implemented in store_sqlite_purge.c (schema/0017_campaign_purge.sql). */
int sq_campaign_delete(edm_store *st, int64_t id);
int sq_campaign_purge(edm_store *st, int rows);
/* 1 if campaign id is deleted (its purge pending), 0 if not (or no such
 * campaign), or a negative EDM_E*. */
int sq_campaign_deleted(sq_store *s, int64_t id);
/* SQL: campaign id `col` is not deleted (its purge pending): what every
 * read of campaigns, and of receipts and events by their own id, adds.
 * The subquery reads campaign_purges (a handful of rows) once per
 * statement. */
#define SQ_SHOWN(col) col " NOT IN (SELECT campaign_id FROM campaign_purges)"

/* Ops implemented in store_sqlite_nodes.c. */
int sq_node_join(edm_store *st, const edm_node_info *n);
int sq_node_beat(edm_store *st, int64_t now);
int sq_node_leave(edm_store *st);
int sq_node_attach(edm_store *st, const char *id);
int sq_node_list(edm_store *st, int64_t now, json_t **items);

/* Ops implemented in store_sqlite_feedback.c. */
int sq_feedback_apply(edm_store *st, const edm_feedback_rec *f, edm_feedback_done *done);
int sq_delivery_by_message_id(edm_store *st, const char *message_id, const char *email,
                              int64_t *id);
int sq_event_list(edm_store *st, int type, int64_t after, int limit, edm_page *page);
/* Adds complaints, unsubscribes and complaint_rate to a campaign's stats. */
int sq_feedback_stats(sq_store *s, int64_t campaign_id, json_t *stats);

/* Ops implemented in store_sqlite_tracking.c (docs/tracking.md). */
int sq_track_lookup(edm_store *st, int64_t delivery_id, edm_track_target *out);
int sq_track_source(edm_store *st, int64_t campaign_id, edm_template_row *out);
int sq_engagement_record(edm_store *st, const edm_engagement_rec *r, int *first);
int sq_engagement_record_batch(edm_store *st, const edm_engagement_rec *r, size_t n);
/* Adds opens, clicks, links and the rates to a campaign's stats. */
int sq_engagement_stats(sq_store *s, int64_t campaign_id, json_t *stats);
int sq_webhook_create(edm_store *st, const char *url, unsigned events, const char *secret,
                      json_t **out);
int sq_webhook_list(edm_store *st, json_t **items);
int sq_webhook_delete(edm_store *st, int64_t id);
int sq_webhook_all(edm_store *st, edm_webhook_row **rows, size_t *n);
int sq_outbox_batch(edm_store *st, int64_t webhook_id, int64_t now, size_t limit, int64_t *last_id,
                    int64_t *first_created, int *attempts, char **body, size_t *count);
int sq_outbox_ack(edm_store *st, int64_t webhook_id, int64_t last_id);
int sq_outbox_retry(edm_store *st, int64_t webhook_id, int64_t last_id, int64_t next_attempt_at);
/* An event as the API shows it, from the EDM_SQ_EVENT_COLUMNS starting at
 * column first (type first). */
#define EDM_SQ_EVENT_COLUMNS                                                                       \
    "e.type, e.attempted_at, e.status, e.smtp_code, e.enhanced_code, "                             \
    "e.response, " SQ_LEDGER_COLUMNS(                                                              \
        "e.") ", e.duration_ms, e.url, e.link, e.machine, e.user_agent, e.ip"
json_t *sq_event_object(sqlite3_stmt *q, int first);

#endif
