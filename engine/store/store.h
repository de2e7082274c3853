/*
 * engine/store/store.h: the storage interface, the only way anything in edm
 * reaches the database. A backend fills a struct of function pointers
 * (engine/store/sqlite/, and engine/store/pg/ for several sending nodes
 * sharing one job store). No SQL or SQLite type
 * leaks through this header.
 *
 * Three kinds of calls:
 *  - campaigns and templates come back as typed rows (rows.h), which the
 *    engine reads and the API turns into its JSON (api/rows_json.c); their
 *    create and update take the fields the API validated, as a JSON object;
 *  - API-only reads (receipts pages, events, stats, suppressions) return
 *    jansson objects shaped as the API shows them (times as RFC 3339
 *    strings), so the API forwards them as they are;
 *  - hot paths (recipient upload, claiming due work, recording results) use
 *    plain structs and work in batches.
 *
 * Return values: 0 (or a count) on success, negative EDM_E* on failure:
 * EDM_ENOTFOUND for an unknown id, EDM_ESTATE for a compare-and-set whose
 * expected state did not hold, EDM_EEXIST for a duplicate, EDM_EDB for a
 * database failure (edm_store_errmsg() says more). Returned rows, json_t
 * objects and job arrays belong to the caller.
 *
 * Threads: one edm_store is used from one thread at a time (the loop thread).
 */
#ifndef EDM_STORE_H
#define EDM_STORE_H

#include "engine/store/feedback.h"
#include "engine/store/outcome.h"
#include "engine/store/rows.h"
#include "engine/store/vars.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Delivery states (enum edm_dstate: engine/store/outcome.h) by name. */
const char *edm_dstate_name(enum edm_dstate s);
/* Parses a state name; returns -1 if unknown. */
int edm_dstate_parse(const char *name);
int edm_dstate_is_terminal(enum edm_dstate s);

typedef struct edm_store edm_store;

/* One recipient row for upload. email is already validated and normalised.
 * Its variables: either the compact parts (engine/store/vars.h: vars_names,
 * the names as a JSON array text, and vars_vals, one value per name), or
 * vars_json, a JSON object text, used when vars_names is NULL (NULL both:
 * none, {}). */
typedef struct edm_recipient {
    const char *email;
    const char *domain;
    const char *vars_json;
    const char *vars_names;
    const unsigned char *vars_vals;
    size_t vars_vals_len;
} edm_recipient;

/* Outcome of adding one recipient. */
enum edm_add_outcome { EDM_ADD_ACCEPTED = 0, EDM_ADD_DUPLICATE = 1, EDM_ADD_SUPPRESSED = 2 };

/* A claimed delivery, handed to the pipeline. Strings owned by the job
 * array (freed by edm_store_jobs_free). */
typedef struct edm_job {
    int64_t id;
    int64_t campaign_id;
    char *email;
    char *domain;
    edm_vars vars;            /* as stored: edm_vars_to_json gives the object */
    int attempts;             /* attempts made before this one */
    int64_t queued_at;        /* unix seconds */
    int64_t first_attempt_at; /* 0 if never attempted */
} edm_job;

/* Filters for listing receipts of one campaign. NULL/0 = no filter. */
typedef struct edm_receipt_filter {
    const char *status; /* public state name */
    const char *domain;
    const char *email;
    int64_t since; /* last_attempt_at >= since (or queued_at when never attempted) */
    int64_t until;
    const char *feedback; /* "complained" or "unsubscribed" */
    int64_t after;        /* cursor: receipts with id > after */
    int limit;            /* 1..1000 */
} edm_receipt_filter;

/* A page: items plus the cursor of the next page (0 = last page). */
typedef struct edm_page {
    json_t *items;
    int64_t next;
} edm_page;

typedef struct edm_upload edm_upload;

/* A source address's counters (engine/delivery/pool.c): its warm-up start
 * (unix day of its first send, 0 = never sent) and its sends in the last
 * hour and day, as text "slot_start_ms:count,..." (the sliding windows of
 * engine/delivery/shaper.h). */
typedef struct edm_ip_counters {
    const char *addr; /* "*": the OS-chosen address */
    int64_t first_day;
    const char *hour, *day;
} edm_ip_counters;

/* An attachment of a message to create: its bytes, decoded (the caller
 * checked the name and type: api/routes/messages_attach.c). */
typedef struct edm_attachment_new {
    const char *filename;
    const char *content_type;
    const void *data;
    size_t len;
    const char *content_id; /* an inline part (schema/0018), or NULL */
} edm_attachment_new;

/* A transactional message to create (POST /v1/messages, SMTP submission):
 * one copy of the content and one delivery per recipient
 * (docs/api.md, "Transactional messages"). Either template_id, or
 * subject/html/text (template sources rendered with each recipient's
 * vars), or raw (an RFC 5322 message sent as it is, SMTP). Recipients are
 * validated and normalised by the caller. */
typedef struct edm_message_new {
    const char *source;       /* "api" or "smtp" */
    const char *from;         /* "addr" or "Name <addr>" */
    const char *reply_to;     /* or NULL */
    const char *pool;         /* or NULL: "default" */
    int64_t send_at;          /* 0: at once */
    const char *headers_json; /* JSON object text, or NULL */
    const char *tags_json;    /* JSON array text, or NULL */
    int64_t template_id;      /* 0: none */
    const char *subject, *html, *text;
    const char *raw; /* NULL unless SMTP */
    size_t rawlen;
    const char *envelope_from;             /* SMTP: MAIL FROM, or NULL */
    unsigned track;                        /* EDM_TRACK_OPENS | EDM_TRACK_CLICKS (rows.h) */
    const edm_attachment_new *attachments; /* API: stored once, in this order */
    size_t nattachments;
    const edm_recipient *rcpts;
    size_t nrcpts;
} edm_message_new;

/* A sending node as it joins (node_join). */
typedef struct edm_node_info {
    const char *id;       /* config node.id, or "<host>:<API port>" */
    const char *api;      /* its API address, or NULL */
    const char *ips_json; /* JSON array of its source addresses */
    int64_t now;          /* unix seconds */
    int64_t lease;        /* seconds without a heartbeat before its claims pass on */
} edm_node_info;

/* Engagement tracking (docs/tracking.md). What the public listener needs
 * to answer a click or an open: the delivery's campaign (or message), its
 * tracking bits, state, delivery time and variables (as stored:
 * edm_vars_clear), and the campaign's own unsubscribe URL (edm_free). */
typedef struct edm_track_target {
    int64_t campaign_id;
    int is_message;
    unsigned track;
    enum edm_dstate status;
    int64_t delivered_at;
    int64_t source_version; /* changes when the HTML source changes */
    char email[256];
    edm_vars vars;
    char *unsubscribe;
} edm_track_target;

/* One open or click to record. */
typedef struct edm_engagement_rec {
    int64_t delivery_id;
    enum edm_event_type type; /* EDM_EVENT_OPEN or EDM_EVENT_CLICK */
    int64_t at;
    int link; /* clicks: the link index; opens: -1 */
    const char *url;
    int machine;
    const char *user_agent, *ip; /* or NULL */
} edm_engagement_rec;

/* A webhook as the sender needs it (secret included). */
typedef struct edm_webhook_row {
    int64_t id;
    char *url;
    unsigned events;
    char *secret;
} edm_webhook_row;
void edm_webhook_rows_free(edm_webhook_row *rows, size_t n);

struct edm_store_ops {
    const char *name;
    void (*close)(edm_store *st);
    const char *(*errmsg)(edm_store *st);
    int (*schema_version)(edm_store *st, int *current, int *supported);

    /* settings: small named secrets and values; get_or_create makes a random
     * value of len bytes on first use and keeps it. */
    int (*setting_get_or_create)(edm_store *st, const char *name, unsigned char *out, size_t len);
    /* small text values (warm-up start days...): get gives EDM_ENOTFOUND
     * when unset; *value is freed with edm_free. */
    int (*setting_get)(edm_store *st, const char *name, char **value);
    int (*setting_put)(edm_store *st, const char *name, const char *value);

    /* per source address counters: get gives EDM_ENOTFOUND for an address
     * never saved; *hour and *day are freed with edm_free. put writes n
     * rows in one transaction. */
    int (*ip_counters_get)(edm_store *st, const char *addr, int64_t *first_day, char **hour,
                           char **day);
    int (*ip_counters_put)(edm_store *st, const edm_ip_counters *rows, size_t n);

    /* templates: fields name, subject, html, text, partials (object).
     * create and update fill *out (if out is not NULL) with the stored row;
     * a row from get is cleared by the caller (edm_template_row_clear). */
    int (*template_create)(edm_store *st, json_t *fields, edm_template_row *out);
    int (*template_get)(edm_store *st, int64_t id, edm_template_row *out);
    int (*template_list)(edm_store *st, int64_t after, int limit, edm_template_page *page);
    int (*template_update)(edm_store *st, int64_t id, json_t *fields, edm_template_row *out);
    /* EDM_ESTATE if a campaign that is not draft/completed/cancelled uses it. */
    int (*template_delete)(edm_store *st, int64_t id);

    /* campaigns: fields name, template_id, from, reply_to, pool, send_at
     * (RFC 3339 string or null), headers (object), tags (array),
     * unsubscribe (string), max_per_hour (integer). Rows as for templates.
     * status filters the list (-1: every state). */
    int (*campaign_create)(edm_store *st, json_t *fields, edm_campaign_row *out);
    int (*campaign_get)(edm_store *st, int64_t id, edm_campaign_row *out);
    int (*campaign_list)(edm_store *st, int status, int64_t after, int limit,
                         edm_campaign_page *page);
    int (*campaign_update)(edm_store *st, int64_t id, json_t *fields, edm_campaign_row *out);
    /* Deletes a campaign with its receipts, their events and its counters;
     * EDM_ENOTFOUND if there is none (or it was deleted already). On
     * SQLite one short write marks it: from the return on, every read
     * hides it and its rows (as if gone), and campaign_purge removes them
     * later. PostgreSQL deletes it all here (concurrent connections: the
     * others do not wait for it). */
    int (*campaign_delete)(edm_store *st, int64_t id);
    /* Removes rows of deleted campaigns in one short transaction: up to
     * `rows` receipts (with their events), and a campaign once it has none
     * left. Returns the rows removed, 0 when nothing is left to purge, or a
     * negative EDM_E*. Campaigns marked before a crash or restart are
     * purged all the same. NULL: campaign_delete leaves nothing behind
     * (PostgreSQL). engine/campaign/purge.c is the caller. */
    int (*campaign_purge)(edm_store *st, int rows);
    /* Compare-and-set of the campaign state: succeeds only if the current
     * state's bit is in from_mask (EDM_ESTATE otherwise). send_at >= 0 sets
     * it (seconds), -1 leaves it. Stamps started_at/completed_at. The rules
     * of which transition is allowed are engine/campaign/lifecycle.c's,
     * the only caller outside tests. */
    int (*campaign_transition)(edm_store *st, int64_t id, unsigned from_mask, enum edm_cstate to,
                               int64_t send_at);
    /* Ids of campaigns in state `state`, with send_at <= due when due >= 0. */
    int (*campaign_ids)(edm_store *st, enum edm_cstate state, int64_t due, int64_t **ids,
                        size_t *n);
    /* 1 if a campaign has a recipient queued or deferred, 0 if not (an
     * index seek, cheap at any size: the scheduler asks every tick). */
    int (*campaign_has_pending)(edm_store *st, int64_t id);
    /* counts[EDM_DSTATE_COUNT] of one campaign's deliveries. */
    int (*campaign_counts)(edm_store *st, int64_t id, int64_t counts[EDM_DSTATE_COUNT]);
    /* {counts:{state:n}, bounce_categories:{cat:n}, total, done, progress} */
    int (*campaign_stats)(edm_store *st, int64_t id, json_t **out);

    /* recipient upload in batches: begin, add (any number of calls, each
     * with rows[0..n) and their outcomes[0..n) filled in), end. begin opens
     * the write transaction and end commits it (add may commit and reopen
     * it every few thousand rows): make no other store call between begin
     * and end, i.e. run a whole batch inside one callback of the loop. A
     * row whose address came earlier (in this call or before) is a
     * duplicate. PostgreSQL writes the rows of one call in a few round
     * trips, not one a row. */
    int (*upload_begin)(edm_store *st, int64_t campaign_id, edm_upload **up);
    int (*upload_add)(edm_upload *up, const edm_recipient *rows, size_t n,
                      enum edm_add_outcome *outcomes);
    int (*upload_end)(edm_upload *up, int commit);

    /* hot path: claim up to `limit` due deliveries of a campaign: first
     * deferred rows whose next_attempt_at <= now (leased: their
     * next_attempt_at moves to now + lease so the next claim skips them),
     * then queued rows with id > *cursor in id order (*cursor advances to
     * the last one handed out; the caller keeps it, 0 to start over).
     * Queued rows are not written: the caller must not hand out a row it
     * already has in flight when it starts a cursor over. */
    int (*claim)(edm_store *st, int64_t campaign_id, int64_t now, int64_t lease, int64_t *cursor,
                 size_t limit, edm_job **jobs, size_t *n);
    /* record outcomes (engine/store/outcome.h: status DEFERRED or a terminal
     * one) in one transaction, with one event per attempted one. */
    int (*record)(edm_store *st, const edm_outcome *results, size_t n);
    /* hand back claimed rows unsent: deferred ones become due at `now`. */
    int (*unclaim)(edm_store *st, const int64_t *ids, size_t n, int64_t now);
    /* mark every non-terminal delivery of a campaign cancelled; returns how
     * many. Called by the scheduler's sweep of cancelled campaigns
     * (engine/campaign/sched.c) only. */
    int (*cancel_pending)(edm_store *st, int64_t campaign_id);

    /* receipts */
    int (*receipt_list)(edm_store *st, int64_t campaign_id, const edm_receipt_filter *f,
                        edm_page *page);
    int (*receipt_get)(edm_store *st, int64_t id, json_t **out);
    int (*receipt_events)(edm_store *st, int64_t id, json_t **items);

    /* suppressions: value is an email or a domain. */
    int (*suppression_add)(edm_store *st, const char *value, const char *reason, json_t **out);
    int (*suppression_list)(edm_store *st, int64_t after, int limit, edm_page *page);
    int (*suppression_delete)(edm_store *st, const char *value);
    /* 1 if the email or its domain is suppressed, 0 if not. */
    int (*suppression_check)(edm_store *st, const char *email, const char *domain);
    /* The suppression check of a claimed batch, one look-up for all of it:
     * hit[i] = 1 if jobs[i]'s email or domain is suppressed, else 0.
     * Returns 0 or a negative EDM_E* code (hit then undefined). */
    int (*suppression_filter)(edm_store *st, const edm_job *jobs, size_t n, unsigned char *hit);

    /* feedback (engine/store/feedback.h): apply one DSN, complaint or
     * unsubscribe in one transaction (EDM_ENOTFOUND: no such delivery);
     * find a delivery by the Message-ID it was sent with (without <>;
     * EDM_ENOTFOUND if none): when several share it (a message submitted
     * over SMTP goes to each recipient as it is), the one to email (lower
     * case; NULL: no preference), else the first; every event in id order as a cursor feed
     * (type -1: every type), shaped as GET /v1/events shows them. */
    int (*feedback_apply)(edm_store *st, const edm_feedback_rec *f, edm_feedback_done *done);
    int (*delivery_by_message_id)(edm_store *st, const char *message_id, const char *email,
                                  int64_t *id);
    int (*event_list)(edm_store *st, int type, int64_t after, int limit, edm_page *page);

    /* idempotency: remembered answers for Idempotency-Key (24 h). */
    int (*idem_get)(edm_store *st, const char *key, int *status, char **body);
    int (*idem_put)(edm_store *st, const char *key, int status, const char *body);

    /* transactional messages (docs/api.md, "Transactional messages").
     * create commits the message and its deliveries in one transaction,
     * durably (on disk before it returns: the 202 and the 250 promise it;
     * docs/smtp.md "Commit before 250"), and fills *id, receipt_ids[i] (0
     * for a duplicate of an earlier recipient) and outcomes[i] (ACCEPTED,
     * DUPLICATE, or SUPPRESSED: a receipt in state suppressed, never sent).
     * load gives the pipeline the message with its attachments
     * (EDM_ENOTFOUND for a campaign id). get and list answer JSON: {id,
     * source, from, reply_to, subject, template_id, pool, tags,
     * send_at, created_at, attachments: [{filename, content_type, size}]
     * (never the bytes), status ("pending" or "done"), counts,
     * recipients: [receipt...]}; list filters by tag and by a recipient's
     * state, ids after `after` ascending. */
    int (*message_create)(edm_store *st, const edm_message_new *m, int64_t now, int64_t *id,
                          int64_t *receipt_ids, enum edm_add_outcome *outcomes);
    int (*message_load)(edm_store *st, int64_t id, edm_message_row *out);
    int (*message_get)(edm_store *st, int64_t id, json_t **out);
    int (*message_list)(edm_store *st, const char *tag, const char *status, int64_t after,
                        int limit, edm_page *page);
    /* hot path: claim up to limit due transactional deliveries (queued or
     * deferred, next_attempt_at <= now), earliest first, leased: their
     * next_attempt_at moves to now + lease (unclaim gives them back). */
    int (*claim_txn)(edm_store *st, int64_t now, int64_t lease, size_t limit, edm_job **jobs,
                     size_t *n);

    /* sending nodes (docs/postgresql.md): join registers this engine as
     * node n->id (its API address and source IPs) and takes the node's
     * lock: EDM_EBUSY when another live engine is that node (on SQLite,
     * any other engine: engine/engine.c's file lock); a node that comes
     * back hands back what it held before (at most its in-flight messages
     * are sent twice). From then on this store's claims of queued rows are
     * leased to the node. beat (about once a second) keeps it alive until
     * now + lease seconds, hands the leases of nodes whose time is over
     * back to everyone and returns how many nodes are alive; leave ends it cleanly (leases handed
     * back). list answers GET /v1/nodes: [{id, api, ips, started_at, heartbeat_at, alive,
     * in_flight, campaigns}]. */
    int (*node_join)(edm_store *st, const edm_node_info *n);
    /* Another handle of a node joined through a first one (the pipeline's
     * claim connection): its claims of queued rows lease to node id too. It
     * takes no lock and registers nothing; the first handle beats and
     * leaves. */
    int (*node_attach)(edm_store *st, const char *id);
    int (*node_beat)(edm_store *st, int64_t now);
    int (*node_leave)(edm_store *st);
    int (*node_list)(edm_store *st, int64_t now, json_t **items);

    /* engagement (docs/tracking.md). track_lookup: EDM_ENOTFOUND for an
     * unknown delivery. track_source: the sources the campaign's (or
     * message's) messages are rendered from, as a template row: the
     * template as it was when the campaign started sending (or the message
     * was created), taken by the store (schema/0009_tracking_sources.sql),
     * else a message's own content, else the template as it is now; the
     * pipeline renders from it and clicks resolve from it (track_lookup's
     * source_version is -1 for a taken source, which never changes).
     * engagement_record: the event, the
     * receipt's opened_at/clicked_at and the campaign's counters in one
     * transaction; *first (may be NULL) is 1 for the recipient's first
     * event of that kind, class and link. */
    int (*track_lookup)(edm_store *st, int64_t delivery_id, edm_track_target *out);
    int (*track_source)(edm_store *st, int64_t campaign_id, edm_template_row *out);
    int (*engagement_record)(edm_store *st, const edm_engagement_rec *r, int *first);
    /* engagement_record_batch (NULL: edm_store_engagement_batch records one
     * at a time): every record of r[0..n) as engagement_record would, in
     * one transaction, all or none; a record whose delivery is gone
     * (deleted since the click) is skipped. */
    int (*engagement_record_batch)(edm_store *st, const edm_engagement_rec *r, size_t n);

    /* webhooks (docs/tracking.md, "Webhooks"): events is a mask of
     * EDM_WEBHOOK_* bits. create answers the webhook with its secret; list
     * answers them without. Events reach the outbox through the store's
     * own writes (schema/0006_tracking.sql). outbox_batch gives the oldest
     * rows of one webhook (at most limit) as a JSON array text in *body,
     * or *count 0 when none is due (the oldest row's next_attempt_at >
     * now); ack deletes rows up to last_id, retry sets their next attempt
     * and counts the attempt. With several nodes on one database
     * (PostgreSQL), outbox_batch also takes the webhook's sender lease and
     * answers *count 0 while another node holds it; ack and retry give it
     * back (docs/postgresql.md). */
    int (*webhook_create)(edm_store *st, const char *url, unsigned events, const char *secret,
                          json_t **out);
    int (*webhook_list)(edm_store *st, json_t **items);
    int (*webhook_delete)(edm_store *st, int64_t id);
    int (*webhook_all)(edm_store *st, edm_webhook_row **rows, size_t *n);
    int (*outbox_batch)(edm_store *st, int64_t webhook_id, int64_t now, size_t limit,
                        int64_t *last_id, int64_t *first_created, int *attempts, char **body,
                        size_t *count);
    int (*outbox_ack)(edm_store *st, int64_t webhook_id, int64_t last_id);
    int (*outbox_retry)(edm_store *st, int64_t webhook_id, int64_t last_id,
                        int64_t next_attempt_at);
};

/* Webhook event bits, by the names webhooks subscribe with. */
enum {
    EDM_WEBHOOK_DELIVERED = 1,
    EDM_WEBHOOK_DEFERRED = 2,
    EDM_WEBHOOK_BOUNCED = 4,
    EDM_WEBHOOK_FAILED = 8,
    EDM_WEBHOOK_SUPPRESSED = 16,
    EDM_WEBHOOK_COMPLAINED = 32,
    EDM_WEBHOOK_UNSUBSCRIBED = 64,
    EDM_WEBHOOK_OPEN = 128,
    EDM_WEBHOOK_CLICK = 256,
};
#define EDM_WEBHOOK_EVENT_COUNT 9
/* The bit of an event name; 0 if unknown. The name of bit i. */
unsigned edm_webhook_event_parse(const char *name);
const char *edm_webhook_event_name(int i);

struct edm_store {
    const struct edm_store_ops *ops;
};

/* Opens a store. `where` is a path for SQLite (created if missing,
 * migrations applied) or a postgresql:// (postgres://) URI for PostgreSQL
 * (engine/store/pg/, docs/postgresql.md; migrations applied). On failure returns a negative code
 * and, if err is given, writes a message into it. */
int edm_store_open(const char *where, edm_store **st, char *err, size_t errlen);
int edm_store_sqlite_open(const char *path, edm_store **st, char *err, size_t errlen);
int edm_store_pg_open(const char *conninfo, edm_store **st, char *err, size_t errlen);
/* 1 if `where` names a PostgreSQL database (postgresql:// or postgres://). */
int edm_store_is_pg(const char *where);

void edm_store_jobs_free(edm_job *jobs, size_t n);
/* Records r[0..n) (opens and clicks queued by the public listener): with
 * the backend's engagement_record_batch in one transaction, else one
 * engagement_record each. *done: how many of the first records are
 * recorded or skipped (gone deliveries); the rest are to be retried.
 * Returns 0 (then *done == n) or the first failure's EDM_E* code. */
int edm_store_engagement_batch(edm_store *st, const edm_engagement_rec *r, size_t n, size_t *done);
void edm_page_free(edm_page *page);

/* Calls go through the ops table: st->ops->claim(st, id, now, 500, &jobs, &n).
 * These two are the common exceptions. */
static inline void edm_store_close(edm_store *st)
{
    if (st)
        st->ops->close(st);
}
static inline const char *edm_store_errmsg(edm_store *st)
{
    return st->ops->errmsg(st);
}

#endif
