/*
 * engine/campaign/pipeline_int.h: shared by engine/campaign/pipeline*.c only:
 * the pipeline's objects and the routines its stages call across files.
 *
 * Objects: one pl_campaign per running campaign (its compiled template
 * set and message context, claim cursor, counters), refcounted because
 * render batches and messages in the relay point at it after it stops
 * running; one pl_batch per uv_queue_work of up to RENDER_BATCH jobs.
 * Render work carries the campaign pointer with a reference, never a bare
 * id lookup, and its results are applied on the loop thread.
 */
#ifndef EDM_PIPELINE_INT_H
#define EDM_PIPELINE_INT_H

#include "engine/campaign/pipeline.h"
#include "engine/base/idset.h"
#include "engine/message/message.h"
#include "engine/delivery/shaper.h"

#define RENDER_BATCH 32
/* DKIM signers kept for reuse (at most one per thread-pool thread is in
 * use at a time). */
#define PL_SIGNERS_MAX 16
#define FLUSH_MS       100
#define FLUSH_AT       1000
#define RETRY_LEASE    3600
#define STOP_TRIES     3
#define SECRET_LEN     32
#define SECRET_MAX     256
#define TXN_RESERVE    500 /* transactional messages in flight beyond max_pending */
#define TXN_LEASE      60  /* seconds a claimed transactional delivery is leased */

typedef struct pl_campaign {
    int64_t id;
    int refs;
    int running;    /* in the scheduler's running set */
    int cancelled;  /* deferrals coming back are recorded as cancelled */
    int broken;     /* template or From unusable: its recipients fail */
    int is_message; /* a transactional message (pipeline_txn.c): never "running" */
    unsigned track; /* EDM_TRACK_* (docs/tracking.md) */
    char *raw;      /* an SMTP-submitted message, sent as stored (or NULL: rendered) */
    size_t rawlen;
    char *broken_reason;
    int64_t cursor;  /* claim cursor over queued ids */
    int drained;     /* its last claim found nothing: next tries at the tick */
    int claiming;    /* a claim is under way on the thread pool (o.claim_st) */
    int cursor_back; /* the cursor moved back while it was: keep that one */
    size_t pending;  /* claimed, outcome not yet recorded */
    edm_bucket rate; /* max_per_hour, this node's share of it */
    int64_t max_per_hour;
    edm_window sent_minute;
    char *from_addr, *from_name, *reply_to, *pool, *unsub_url, *feedback_id;
    edm_mime_header *headers;
    size_t nheaders;
    /* a message's attachments (pipeline_txn.c), loaded once with it: the
     * rows own the bytes, the composer's views point into them */
    edm_attachment_row *attach_rows;
    edm_mime_attachment *attach;
    size_t nattach;
    /* the estimated size of one recipient's copy (the template's sources,
     * a message's raw bytes or base64 attachments), for max_pending_bytes;
     * raised to the biggest copy rendered (pl_copy_seen) */
    size_t job_bytes;
    edm_tpl_set *tpl;
    edm_dkim_key **keys;
    size_t nkeys;
    edm_message_ctx mctx;
    struct pl_campaign *next;
} pl_campaign;

struct edm_pipeline {
    edm_pipeline_opts o;
    pl_campaign *campaigns;
    edm_idset in_flight;
    size_t pending;       /* all campaigns */
    size_t pending_bytes; /* job_bytes of every pending job (o.max_pending_bytes) */
    size_t claims_bytes;  /* job_bytes of what claims under way may bring */
    int txn_full; /* the last claim of messages gave some back: pending_bytes was at the bound */
    size_t rendering;     /* jobs in render batches */
    edm_outcome *results; /* buffered outcomes, complete, as the store records them */
    size_t nresults, capresults;
    /* Outcomes being written on the thread pool (o.record_st): still in
     * flight until the write succeeds (pipeline_record.c). */
    edm_outcome *recording;
    size_t nrecording, caprecording;
    int record_busy;
    int record_rc;
    uv_work_t record_req;
    uv_timer_t flush_timer;
    int timer_armed;
    int stopping;
    /* The store refused the last write of outcomes: nothing new is claimed
     * until a write succeeds (docs/architecture.md, "Crash and shutdown"). */
    int record_failing;
    int stop_failures;        /* failed writes since stopping: past STOP_TRIES, stop anyway */
    struct pl_batch *batches; /* queued or running on the thread pool */
    void (*stop_cb)(void *);
    void *stop_arg;
    edm_idset no_8bit; /* recipient domains whose server lacks 8BITMIME (pl_domain_key) */
    unsigned char secret[SECRET_MAX];
    size_t secret_len;
    edm_window sent_minute;
    size_t claims;      /* claims under way on the thread pool */
    size_t claims_want; /* recipients they may bring: counted against max_pending */
    int txn_wake;       /* transactional work may be due: claim it (pipeline_txn.c) */
    int nodes;          /* live sending nodes sharing the store: campaign limits are shared */
    /* DKIM signers (their OpenSSL contexts and RSA key copies) kept
     * between render batches: a batch takes one and gives it back
     * (pipeline_claim.c), instead of setting one up, and OpenSSL a new
     * blinding for its key copy, for every RENDER_BATCH messages. */
    uv_mutex_t signers_mu;
    struct edm_dkim_signer *signers[PL_SIGNERS_MAX];
    size_t nsigners;
};

typedef struct pl_job {
    edm_job job;
    int allow_8bit;  /* decided on the loop thread at claim time */
    edm_outmsg *msg; /* built message, or NULL on failure */
    int rc;
    char err[256];
} pl_job;

typedef struct pl_batch {
    uv_work_t req;
    edm_pipeline *p;
    pl_campaign *c;
    pl_job jobs[RENDER_BATCH];
    size_t n;
    struct pl_batch *prev, *next; /* the pipeline's batches in the pool */
} pl_batch;

/* pipeline_campaign.c: the running campaigns' cache. */
/* This node's share of a campaign's max_per_hour (0: no limit). */
int64_t pl_campaign_share(const edm_pipeline *p, int64_t max_per_hour);
pl_campaign *pl_campaign_load(edm_pipeline *p, int64_t id);
pl_campaign *pl_campaign_find(edm_pipeline *p, int64_t id);
/* One recipient's copy estimated from its sources (job_bytes). */
size_t pl_copy_bytes(const char *subject, const char *html, const char *text);
/* A copy of c was rendered at bytes: c's estimate rises to it if that is
 * more, for the copies held already too. */
void pl_copy_seen(edm_pipeline *p, pl_campaign *c, size_t bytes);
void pl_campaign_unref(pl_campaign *c);
/* Drops campaigns that stopped running and have nothing pending. */
void pl_campaigns_prune(edm_pipeline *p);

/* Shared steps of loading a campaign or a message. */
int pl_tpl_compile(edm_tpl_set **out, const edm_template_row *t, edm_tpl_error *err);
void pl_campaign_break(pl_campaign *c, const char *fmt, const char *detail);
void pl_campaign_finish(edm_pipeline *p, pl_campaign *c);

/* pipeline_txn.c: transactional messages, claimed ahead of campaigns. */
/* Claims due transactional deliveries (up to max_pending + TXN_RESERVE in
 * flight: a big campaign never starves them) and queues their renders. */
void pl_pump_txn(edm_pipeline *p);

/* pipeline_claim.c: claiming and rendering. */
void pl_queue_batch(edm_pipeline *p, pl_batch *b);
/* Which of n claimed jobs are suppressed (one store look-up for the
 * batch); hit[i] = 1 or 0, allocated, freed by the caller. */
unsigned char *pl_suppressed(edm_pipeline *p, const edm_job *jobs, size_t n);
/* Claims for every running campaign while fewer than max_pending messages
 * are between claim and recorded outcome (outcomes buffered and not yet
 * written count as in flight), and never while the store refuses writes. */
void pl_pump(edm_pipeline *p);
/* Moves c's claim cursor back to before id next (a row to claim again). */
void pl_cursor_back(pl_campaign *c, int64_t next);
void pl_render_work(uv_work_t *req);
void pl_render_after(uv_work_t *req, int status);
/* The key of a recipient domain in no_8bit (a 64-bit hash; a collision
 * only costs quoted-printable for one more domain). */
int64_t pl_domain_key(const char *domain);
/* Records a job that is never sent (failed, suppressed) as its outcome. */
void pl_fail_job(edm_pipeline *p, pl_campaign *c, const edm_job *job, enum edm_dstate status,
                 const char *why);

/* pipeline_outcome.c: outcomes buffered and written in batches. */
/* Buffers a complete outcome (copied). */
void pl_add_result(edm_pipeline *p, const edm_outcome *r);
void pl_arm_flush(edm_pipeline *p);
/* Writes the buffered outcomes: on the thread pool when the pipeline has a
 * record_st (one write at a time), else on the loop (pipeline_record.c). */
void pl_flush(edm_pipeline *p);
/* Outcomes buffered or being written: in flight until the store has them. */
size_t pl_unrecorded(const edm_pipeline *p);
void pl_job_done(edm_pipeline *p, pl_campaign *c);
/* Runs the stop callback once nothing is rendering or buffered. */
void pl_maybe_stopped(edm_pipeline *p);

#endif
