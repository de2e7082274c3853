/*
 * engine/campaign/pipeline.h: the delivery pipeline. For each running campaign it
 * claims due recipients from the store in batches, renders, composes and
 * signs their messages on the libuv thread pool, hands them to the relay,
 * and writes every outcome back to the store in batches (one transaction
 * per batch, in id order), turning deferrals into retries on the config's
 * schedule and into bounces ("expired") past retry.max_age.
 *
 * It is driven by the scheduler's hooks (edm_pipeline_sched_hooks) and by
 * the relay's done callback (edm_pipeline_on_outcome). Back-pressure: it
 * claims only while fewer than `max_pending` messages are between claim
 * and outcome.
 */
#ifndef EDM_PIPELINE_H
#define EDM_PIPELINE_H

#include "engine/config/config.h"
#include "engine/message/dkim.h"
#include "engine/delivery/outmsg.h"
#include "engine/delivery/relay.h"
#include "engine/campaign/sched.h"
#include "engine/store/store.h"

#include <uv.h>

typedef struct edm_pipeline edm_pipeline;

typedef struct edm_pipeline_opts {
    uv_loop_t *loop;
    edm_store *st;
    const edm_config *cfg;
    edm_relay *relay;
    edm_dkim_key *const *keys; /* every configured key; each campaign uses its From domain's */
    size_t nkeys;
    size_t max_pending; /* 0: 4000 */
    size_t claim_batch; /* 0: 500 */
    /* Transactional messages in flight (claimed, not done), in estimated
     * bytes: a message with big attachments, or a big submitted one, to
     * many recipients is claimed a few recipients at a time, since each
     * recipient's copy is held until it is sent. At least one is always
     * taken. 0: 64 MiB. */
    size_t max_pending_bytes;
    /* Optional: a second handle on the same store, used only on the thread
     * pool to write outcomes there while the loop goes on (PostgreSQL: a
     * write is a round trip and a server's work, not to be waited for on
     * the loop). NULL: outcomes are written on the loop. Not owned. */
    edm_store *record_st;
    /* Optional: a third handle, used only on the thread pool to claim
     * campaigns' recipients (and check them against the suppression list)
     * while the loop goes on; one claim per campaign at a time. NULL:
     * claims run on the loop. Not owned. */
    edm_store *claim_st;
} edm_pipeline_opts;

int edm_pipeline_new(const edm_pipeline_opts *o, edm_pipeline **out);
/* Hooks for edm_sched_start (running set, in-flight counts, cancel). */
edm_sched_hooks edm_pipeline_sched_hooks(edm_pipeline *p);
/* The relay's done callback (ctx is the pipeline). */
void edm_pipeline_on_outcome(void *ctx, edm_outmsg *m, const edm_outcome *o);
/* Claims what is due now (a transactional message was just committed):
 * safe to call any number of times. */
void edm_pipeline_kick(edm_pipeline *p);
/* Writes buffered outcomes to the store now, on the loop (EDM_EBUSY while
 * a write on the thread pool is under way). */
int edm_pipeline_flush(edm_pipeline *p);
/* Stops claiming and cancels render work not yet started (its recipients
 * stay queued in the store). */
void edm_pipeline_quiesce(edm_pipeline *p);
/* Quiesces; cb runs when no render work is outstanding and every outcome
 * is written. The relay must be stopped too for that to happen. */
void edm_pipeline_stop(edm_pipeline *p, void (*cb)(void *arg), void *arg);
void edm_pipeline_free(edm_pipeline *p);

/* The HMAC secret of VERP and unsubscribe tokens: the value of the
 * environment variable cfg->unsubscribe.secret_env when set (at least 16
 * bytes), else a random one kept in the store. */
const unsigned char *edm_pipeline_secret(const edm_pipeline *p);
size_t edm_pipeline_secret_len(const edm_pipeline *p);

/* The number of live nodes sending from this store (the engine's
 * heartbeat): each campaign's max_per_hour is shared among them. */
void edm_pipeline_set_nodes(edm_pipeline *p, int nodes);

/* Messages sent in the last minute by a campaign (0: all campaigns). */
double edm_pipeline_rate_per_minute(const edm_pipeline *p, int64_t campaign_id);

#endif
