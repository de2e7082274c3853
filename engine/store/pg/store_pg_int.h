/*
 * engine/store/pg/store_pg_int.h: shared by store_pg*.c only. The
 * PostgreSQL backend's handle, its prepared-statement cache (statements are
 * prepared on first use, keyed by their SQL text's address), parameter
 * lists and column readers.
 */
#ifndef EDM_STORE_PG_INT_H
#define EDM_STORE_PG_INT_H

#include "engine/base/buf.h"
#include "engine/store/store.h"
#include "engine/store/vars_cache.h"

#include <libpq-fe.h>

#define PG_MAX_STMTS  96
#define PG_MAX_PARAMS 24

/* The settled bound of one id sequence (store_pg_feed.c): every id <= safe
 * is committed or never will be; pend_l waits to be so once no
 * transaction below pend_r runs (pend_r 0: none waits). */
typedef struct pg_feed_bound {
    uint64_t safe;
    uint64_t pend_l;
    uint64_t pend_r;
} pg_feed_bound;

/* The tables read by a cursor in lists (after=), store_pg_feed.c. */
enum pg_list { PG_LIST_CAMPAIGNS, PG_LIST_TEMPLATES, PG_LIST_SUPPRESSIONS, PG_LIST_COUNT };

typedef struct pg_store {
    edm_store base;
    PGconn *conn;
    const char *prepared[PG_MAX_STMTS]; /* SQL texts prepared as "s<index>" */
    int nprepared;
    int in_tx;
    char node_id[128]; /* node_join's id: claims of queued rows lease to it; "" none */
    int64_t lease;     /* seconds a heartbeat keeps the node alive */
    char sqlstate[6];  /* of the last failure */
    char err[512];
    int64_t uploaded;                 /* rows this connection uploaded since its last ANALYZE */
    int64_t analyzed_at;              /* rows it had uploaded in all at that ANALYZE */
    edm_vars_cache vars;              /* store_pg_vars.c's names cache */
    edm_buf vars_buf;                 /* the compact bytes of the row being written */
    pg_feed_bound events_bound;       /* GET /v1/events (pg_event_list) */
    pg_feed_bound outbox_bound;       /* webhook batches (pg_outbox_batch) */
    int64_t list_safe[PG_LIST_COUNT]; /* pg_list_settled's latest bounds */
} pg_store;

#define PG(st) ((pg_store *)(st))

/* Parameters of one statement, as text (or binary for pgp_bytes). */
typedef struct pg_params {
    const char *v[PG_MAX_PARAMS];
    int len[PG_MAX_PARAMS];
    int fmt[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][24];
    int n;
} pg_params;

void pgp_init(pg_params *p);
void pgp_int(pg_params *p, int64_t v);
void pgp_text(pg_params *p, const char *v); /* NULL: SQL null */
void pgp_null(pg_params *p);
void pgp_bytes(pg_params *p, const void *v, size_t len);

/* Runs a statement prepared once per connection (sql must be a string
 * with static storage: its address is the cache key). Returns the result
 * (PQclear it) or NULL on failure, with the message in s->err. */
PGresult *pg_run(pg_store *s, const char *sql, const pg_params *p, const char *what);
/* The same for SQL built at run time: parsed each time, still bound. */
PGresult *pg_run_once(pg_store *s, const char *sql, const pg_params *p, const char *what);
/* pg_run that only reports: 0, or the EDM_E* code of the failure. */
int pg_do(pg_store *s, const char *sql, const pg_params *p, const char *what);
/* The EDM_E* code of the last failure (EDM_EDB, or EDM_EINVAL for a
 * constraint violation). */
int pg_code(pg_store *s);
int pg_begin(pg_store *s);
int pg_commit(pg_store *s);
void pg_rollback(pg_store *s);

/* Column readers (row r, column c). */
int64_t pg_int(const PGresult *q, int r, int c); /* 0 for null */
int pg_isnull(const PGresult *q, int r, int c);
char *pg_dup(const PGresult *q, int r, int c); /* NULL for null; aborts on OOM */
json_t *pg_json_col(const PGresult *q, int r, int c, const char *fallback);
json_t *pg_time_col(const PGresult *q, int r, int c);
json_t *pg_text_col(const PGresult *q, int r, int c);
json_t *pg_int_col(const PGresult *q, int r, int c);
int64_t pg_affected(const PGresult *q);

/* The columns of a receipt, in the order pg_receipt_object reads them. */
#define PG_RECEIPT_COLUMNS                                                                         \
    "id, campaign_id, email, status, attempts, smtp_code, enhanced_code, response, "               \
    "bounce_category, mx_host, mx_ip, source_ip, tls, message_id, remote_queue_id, queued_at, "    \
    "first_attempt_at, last_attempt_at, delivered_at, next_attempt_at, feedback, feedback_at, "    \
    "opened_at, clicked_at"
json_t *pg_receipt_object(const PGresult *q, int r);
#define PG_CAMPAIGN_COLUMNS                                                                        \
    "id, name, template_id, from_addr, reply_to, pool, status, send_at, headers, tags, "           \
    "unsubscribe, max_per_hour, created_at, updated_at, started_at, completed_at, track"
void pg_campaign_read(const PGresult *q, int r, edm_campaign_row *out);

/* store_pg_rows.c */
int pg_template_get(edm_store *st, int64_t id, edm_template_row *out);
/* The template a campaign started sending with (schema/pg/0009_tracking_sources.sql):
 * 0, EDM_ENOTFOUND (none taken) or EDM_EDB. */
int pg_source_get(pg_store *s, int64_t campaign_id, edm_template_row *out);
int pg_template_list(edm_store *st, int64_t after, int limit, edm_template_page *page);
int pg_campaign_get(edm_store *st, int64_t id, edm_campaign_row *out);
int pg_campaign_list(edm_store *st, int status, int64_t after, int limit, edm_campaign_page *page);

/* store_pg_objects.c */
int pg_template_create(edm_store *st, json_t *fields, edm_template_row *out);
int pg_template_update(edm_store *st, int64_t id, json_t *fields, edm_template_row *out);
int pg_template_delete(edm_store *st, int64_t id);
int pg_campaign_create(edm_store *st, json_t *fields, edm_campaign_row *out);
int pg_campaign_update(edm_store *st, int64_t id, json_t *fields, edm_campaign_row *out);
int pg_campaign_delete(edm_store *st, int64_t id);
int pg_campaign_stats(edm_store *st, int64_t id, json_t **out);
int pg_receipt_list(edm_store *st, int64_t campaign_id, const edm_receipt_filter *f,
                    edm_page *page);
int pg_receipt_get(edm_store *st, int64_t id, json_t **out);
int pg_receipt_events(edm_store *st, int64_t id, json_t **items);
int pg_suppression_add(edm_store *st, const char *value, const char *reason, json_t **out);
int pg_suppression_list(edm_store *st, int64_t after, int limit, edm_page *page);
int pg_suppression_delete(edm_store *st, const char *value);
int pg_suppression_check(edm_store *st, const char *email, const char *domain);
int pg_idem_get(edm_store *st, const char *key, int *status, char **body);
int pg_idem_put(edm_store *st, const char *key, int status, const char *body);

/* store_pg_nodes.c */
int pg_node_join(edm_store *st, const edm_node_info *n);
int pg_node_beat(edm_store *st, int64_t now);
int pg_node_leave(edm_store *st);
int pg_node_attach(edm_store *st, const char *id);
int pg_node_list(edm_store *st, int64_t now, json_t **items);

/* store_pg_tracking.c */
int pg_track_lookup(edm_store *st, int64_t delivery_id, edm_track_target *out);
int pg_track_source(edm_store *st, int64_t campaign_id, edm_template_row *out);
int pg_engagement_record(edm_store *st, const edm_engagement_rec *r, int *first);
int pg_webhook_create(edm_store *st, const char *url, unsigned events, const char *secret,
                      json_t **out);
int pg_webhook_list(edm_store *st, json_t **items);
int pg_webhook_delete(edm_store *st, int64_t id);
int pg_webhook_all(edm_store *st, edm_webhook_row **rows, size_t *n);
int pg_outbox_batch(edm_store *st, int64_t webhook_id, int64_t now, size_t limit, int64_t *last_id,
                    int64_t *first_created, int *attempts, char **body, size_t *count);
int pg_outbox_ack(edm_store *st, int64_t webhook_id, int64_t last_id);
int pg_outbox_retry(edm_store *st, int64_t webhook_id, int64_t last_id, int64_t next_attempt_at);

/* store_pg_feedback.c */
int pg_feedback_apply(edm_store *st, const edm_feedback_rec *f, edm_feedback_done *done);
int pg_delivery_by_message_id(edm_store *st, const char *message_id, const char *email,
                              int64_t *id);
int pg_event_list(edm_store *st, int type, int64_t after, int limit, edm_page *page);
/* Adds complaints, unsubscribes and complaint_rate to a campaign's stats. */
int pg_feedback_stats(pg_store *s, int64_t campaign_id, json_t *stats);
/* Adds opens, clicks, links and the rates (docs/tracking.md). */
int pg_engagement_stats(pg_store *s, int64_t campaign_id, json_t *stats);
/* An event as the API shows it, from PG_EVENT_COLUMNS starting at column
 * first (type first). */
#define PG_EVENT_COLUMNS                                                                           \
    "e.type, e.attempted_at, e.status, e.smtp_code, e.enhanced_code, e.response, e.mx_host, "      \
    "e.mx_ip, e.source_ip, e.tls, e.duration_ms, e.url, e.link, e.machine, e.user_agent, e.ip"
json_t *pg_event_object(const PGresult *q, int r, int first);

/* store_pg_feed.c: *upto becomes the settled bound of the sequence whose
 * last value last_sql reads (one row: last_value - (NOT is_called)::int);
 * readers by id cursor pass no id above it. 0 or EDM_E*; outside a
 * transaction only. */
int pg_feed_settled(pg_store *s, pg_feed_bound *b, const char *last_sql, int64_t *upto);
/* The same for a list read with after= (campaigns and messages,
 * templates, suppressions): no id above *upto may still commit. */
int pg_list_settled(pg_store *s, enum pg_list l, int64_t *upto);
/* The advisory lock key of a list's writers (shared) and readers. */
#define PG_LOCK_CAMPAIGNS    "1701080322" /* "edm" + 2 */
#define PG_LOCK_TEMPLATES    "1701080323"
#define PG_LOCK_SUPPRESSIONS "1701080324"
/* The id of a row inserted into one of those tables by a statement that
 * inserts one row: taken under the list's lock, held shared to the end of
 * the transaction (the function scan in FROM runs before the projection
 * that takes the id). */
#define PG_LIST_ID(seq, key)                                                                       \
    "(SELECT nextval('" seq "') FROM (SELECT 1 FROM pg_advisory_xact_lock_shared(" key ")) x)"
/* The same lock for a statement that inserts many: run first. */
#define PG_LIST_LOCK(key) "SELECT pg_advisory_xact_lock_shared(" key ")"

/* store_pg_jobs.c */
/* Variables (store_pg_vars.c, schema/pg/0013_var_names.sql): the
 * compact bytes of r's variables into s->vars_buf (the names id found or
 * inserted: inside the writer's transaction); 1 when r has them, 0 when
 * it has JSON text or nothing (r->vars_json), or a negative EDM_E*. */
int pg_vars_encode(pg_store *s, const edm_recipient *r);
/* Reads row r's variables, JSON text in column cj and compact bytes (a
 * bytea, hex) in column cb, into v. 0 or EDM_E*. */
int pg_vars_col(pg_store *s, const PGresult *q, int r, int cj, int cb, edm_vars *v);
/* Forgets the names ids learned in a transaction that rolled back. */
void pg_vars_rolled_back(pg_store *s);

int pg_upload_begin(edm_store *st, int64_t campaign_id, edm_upload **up);
int pg_upload_add(edm_upload *up, const edm_recipient *rows, size_t n,
                  enum edm_add_outcome *outcomes);
int pg_upload_end(edm_upload *up, int commit);
int pg_claim(edm_store *st, int64_t campaign_id, int64_t now, int64_t lease, int64_t *cursor,
             size_t limit, edm_job **jobs, size_t *n);
int pg_record(edm_store *st, const edm_outcome *results, size_t n);
int pg_unclaim(edm_store *st, const int64_t *ids, size_t n, int64_t now);
int pg_cancel_pending(edm_store *st, int64_t campaign_id);
int pg_suppression_filter(edm_store *st, const edm_job *jobs, size_t n, unsigned char *hit);
int pg_ip_counters_get(edm_store *st, const char *addr, int64_t *first_day, char **hour,
                       char **day);
int pg_ip_counters_put(edm_store *st, const edm_ip_counters *rows, size_t n);

/* store_pg_messages.c */
int pg_message_create(edm_store *st, const edm_message_new *m, int64_t now, int64_t *id,
                      int64_t *receipt_ids, enum edm_add_outcome *outcomes);
int pg_message_load(edm_store *st, int64_t id, edm_message_row *out);
int pg_message_get(edm_store *st, int64_t id, json_t **out);
int pg_message_list(edm_store *st, const char *tag, const char *status, int64_t after, int limit,
                    edm_page *page);
int pg_claim_txn(edm_store *st, int64_t now, int64_t lease, size_t limit, edm_job **jobs,
                 size_t *n);

#endif
