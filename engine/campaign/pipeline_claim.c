/*
 * engine/campaign/pipeline_claim.c: claiming due recipients in batches (within the
 * campaign's max_per_hour and the pipeline's max_pending; on the loop, or
 * on the thread pool through o.claim_st, one claim per campaign at a time),
 * suppression (one store look-up per claimed batch) and broken-campaign checks, and rendering,
 * composing and signing on the libuv thread pool; rendered messages go to the relay. UTF-8 bodies
 * are composed 8bit (SMTP_MSG_8BITMIME) unless the recipient domain's server was found to lack
 * 8BITMIME (no_8bit, learned in pipeline_outcome.c from messages the relay gave back unsent).
 */
#include "engine/campaign/pipeline_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/smtp/smtp_session.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- claiming ---- */

int64_t pl_domain_key(const char *domain)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (const char *c = domain ? domain : ""; *c; c++)
        h = (h ^ (unsigned char)tolower((unsigned char)*c)) * 0x100000001b3ULL;
    h &= INT64_MAX; /* the set holds positive ids */
    return h ? (int64_t)h : 1;
}

void pl_queue_batch(edm_pipeline *p, pl_batch *b)
{
    p->rendering += b->n;
    b->next = p->batches;
    if (p->batches)
        p->batches->prev = b;
    p->batches = b;
    uv_queue_work(p->o.loop, &b->req, pl_render_work, pl_render_after);
}

static unsigned char *suppressed_in(edm_store *st, const edm_job *jobs, size_t n)
{
    unsigned char *hit = edm_xcalloc(n ? n : 1, 1);
    const struct edm_store_ops *ops = st->ops;
    if (ops->suppression_filter) {
        /* a failed look-up sends as the per-job check did on failure */
        if (ops->suppression_filter(st, jobs, n, hit) != 0)
            memset(hit, 0, n);
        return hit;
    }
    for (size_t i = 0; i < n; i++)
        hit[i] = ops->suppression_check(st, jobs[i].email, jobs[i].domain) == 1;
    return hit;
}

unsigned char *pl_suppressed(edm_pipeline *p, const edm_job *jobs, size_t n)
{
    return suppressed_in(p->o.st, jobs, n);
}

void pl_cursor_back(pl_campaign *c, int64_t next)
{
    if (next - 1 < c->cursor)
        c->cursor = next - 1;
    c->cursor_back = 1;
    c->drained = 0;
}

static void free_job(edm_job *job)
{
    edm_free(job->email);
    edm_free(job->domain);
    edm_vars_clear(&job->vars);
}

/* Hands claimed jobs[0..n) to rendering (or fails them: broken campaign,
 * suppressed); takes ownership of jobs and suppressed. */
static size_t take_jobs(edm_pipeline *p, pl_campaign *c, edm_job *jobs, size_t n,
                        unsigned char *suppressed)
{
    pl_batch *b = NULL;
    size_t taken = 0;
    for (size_t i = 0; i < n; i++) {
        edm_job *job = &jobs[i];
        if (edm_idset_has(&p->in_flight, job->id)) {
            free_job(job);
            continue;
        }
        edm_idset_add(&p->in_flight, job->id);
        c->pending++;
        p->pending++;
        p->pending_bytes += c->job_bytes;
        taken++;
        if (c->broken || suppressed[i]) {
            pl_fail_job(p, c, job, c->broken ? EDM_DSTATE_FAILED : EDM_DSTATE_SUPPRESSED,
                        c->broken ? c->broken_reason : "on the suppression list");
            free_job(job);
            continue;
        }
        if (b == NULL) {
            b = edm_xcalloc(1, sizeof *b);
            b->p = p;
            b->c = c;
            c->refs++;
            b->req.data = b;
        }
        b->jobs[b->n].allow_8bit = !edm_idset_has(&p->no_8bit, pl_domain_key(job->domain));
        b->jobs[b->n++].job = *job;
        if (b->n == RENDER_BATCH) {
            pl_queue_batch(p, b);
            b = NULL;
        }
    }
    if (b)
        pl_queue_batch(p, b);
    edm_free(suppressed);
    edm_free(jobs);
    return taken;
}

/* ---- claiming on the thread pool (o.claim_st) ---- */

typedef struct pl_claim {
    uv_work_t req;
    edm_pipeline *p;
    pl_campaign *c; /* a counted reference */
    int64_t now, cursor;
    size_t want, n;
    size_t bytes; /* the campaign's job_bytes when the claim started */
    edm_job *jobs;
    unsigned char *hit;
    int rc;
} pl_claim;

static void claim_work(uv_work_t *req)
{
    pl_claim *k = req->data;
    edm_store *st = k->p->o.claim_st;
    k->rc = st->ops->claim(st, k->c->id, k->now, RETRY_LEASE, &k->cursor, k->want, &k->jobs, &k->n);
    if (k->rc == 0 && k->n > 0)
        k->hit = suppressed_in(st, k->jobs, k->n);
}

static void claim_after(uv_work_t *req, int status)
{
    pl_claim *k = req->data;
    edm_pipeline *p = k->p;
    pl_campaign *c = k->c;
    p->claims--;
    p->claims_want -= k->want;
    p->claims_bytes -= k->want * k->bytes;
    c->claiming = 0;
    if (status != 0 || k->rc != 0) {
        c->drained = 1; /* tried again at the tick, not at once in a loop */
        edm_log(EDM_LOG_ERROR, "pipeline", "campaign=%lld event=claim_failed err=\"%s\"",
                (long long)c->id,
                status != 0 ? uv_strerror(status) : edm_store_errmsg(p->o.claim_st));
    } else {
        if (!c->cursor_back)
            c->cursor = k->cursor;
        c->drained = k->n == 0;
        if (p->stopping || !c->running) {
            /* Not sent: as a dropped render batch (pl_render_after). */
            for (size_t i = 0; i < k->n; i++) {
                if (k->jobs[i].attempts > 0)
                    p->o.st->ops->unclaim(p->o.st, &k->jobs[i].id, 1, edm_time_now());
                else
                    pl_cursor_back(c, k->jobs[i].id);
                free_job(&k->jobs[i]);
            }
            edm_free(k->jobs);
            edm_free(k->hit);
        } else {
            take_jobs(p, c, k->jobs, k->n, k->hit);
        }
    }
    c->cursor_back = 0;
    pl_campaign_unref(c);
    edm_free(k);
    pl_pump(p);
    pl_maybe_stopped(p);
}

static void claim_start(edm_pipeline *p, pl_campaign *c, int64_t now, size_t want)
{
    pl_claim *k = edm_xcalloc(1, sizeof *k);
    k->p = p;
    k->c = c;
    c->refs++;
    c->claiming = 1;
    c->cursor_back = 0;
    k->now = now;
    k->cursor = c->cursor;
    k->want = want;
    k->req.data = k;
    p->claims++;
    p->claims_want += want;
    k->bytes = c->job_bytes;
    p->claims_bytes += want * k->bytes;
    if (uv_queue_work(p->o.loop, &k->req, claim_work, claim_after) != 0)
        EDM_PANIC("uv_queue_work failed");
}

/* Claims up to room recipients of c: on the loop (returns how many were
 * taken), or starts a claim on the thread pool (returns 0: claim_after
 * takes them and pumps again). */
static size_t claim_for(edm_pipeline *p, pl_campaign *c, size_t room)
{
    if (c->claiming)
        return 0;
    size_t want = room < p->o.claim_batch ? room : p->o.claim_batch;
    /* and within max_pending_bytes: copies of a big template are held
     * a few at a time (at least one) */
    size_t used = p->pending_bytes + p->claims_bytes, max = p->o.max_pending_bytes;
    size_t fit = used < max ? (max - used) / c->job_bytes : 0;
    if (want > fit)
        want = fit > 0 ? fit : (size_t)(used == 0); /* one when nothing is held */
    if (!edm_bucket_unlimited(&c->rate)) {
        uint64_t now = edm_time_mono_ms();
        size_t allowed = 0;
        while (allowed < want && edm_bucket_take(&c->rate, now) == 0)
            allowed++;
        want = allowed;
    }
    if (want == 0)
        return 0;
    int64_t now = edm_time_now();
    if (p->o.claim_st) {
        claim_start(p, c, now, want);
        return 0;
    }
    edm_job *jobs;
    size_t n;
    if (p->o.st->ops->claim(p->o.st, c->id, now, RETRY_LEASE, &c->cursor, want, &jobs, &n) != 0)
        return 0;
    c->drained = n == 0;
    return take_jobs(p, c, jobs, n, n ? pl_suppressed(p, jobs, n) : NULL);
}

void pl_pump(edm_pipeline *p)
{
    if (p->stopping || p->record_failing)
        return;
    pl_pump_txn(p); /* transactional mail first */
    /* Keep about max_pending messages between claim and outcome, refilled
     * a batch at a time: claiming whenever one slot frees (after every
     * outcome) cost a claim transaction and a one-message render work item
     * (a thread wake-up) per message. */
    size_t refill = p->o.max_pending / 4;
    if (refill > p->o.claim_batch)
        refill = p->o.claim_batch;
    if (refill == 0)
        refill = 1;
    for (pl_campaign *c = p->campaigns; c; c = c->next) {
        /* A drained campaign waits for the scheduler's tick (or a row
         * handed back): not a claim that finds nothing after every
         * outcome of a campaign's last window. */
        if (!c->running || c->drained)
            continue;
        /* An outcome the store has not taken yet is still in flight (after
         * a crash it is sent again): it counts against max_pending. */
        while (p->pending + pl_unrecorded(p) + p->claims_want + refill <= p->o.max_pending) {
            size_t got =
                claim_for(p, c, p->o.max_pending - p->pending - pl_unrecorded(p) - p->claims_want);
            if (got == 0)
                break;
        }
    }
}

/* ---- rendering on the thread pool ---- */

/* A kept signer, or NULL (the worker then makes a new one). */
static edm_dkim_signer *signer_take(edm_pipeline *p)
{
    edm_dkim_signer *sg = NULL;
    uv_mutex_lock(&p->signers_mu);
    if (p->nsigners > 0)
        sg = p->signers[--p->nsigners];
    uv_mutex_unlock(&p->signers_mu);
    return sg;
}

static void signer_give(edm_pipeline *p, edm_dkim_signer *sg)
{
    uv_mutex_lock(&p->signers_mu);
    if (sg && p->nsigners < PL_SIGNERS_MAX) {
        p->signers[p->nsigners++] = sg;
        sg = NULL;
    }
    uv_mutex_unlock(&p->signers_mu);
    edm_dkim_signer_free(sg);
}

void pl_render_work(uv_work_t *req)
{
    pl_batch *b = req->data;
    edm_message_worker w;
    int wrc = edm_message_worker_init_with(&w, signer_take(b->p));
    int64_t now = edm_time_now();
    for (size_t i = 0; i < b->n; i++) {
        pl_job *j = &b->jobs[i];
        if (wrc != 0) {
            j->rc = wrc;
            snprintf(j->err, sizeof j->err, "out of memory");
            continue;
        }
        /* the stored variables as an object, straight from the compact
         * form (engine/store/vars.h); an unreadable one fails this message */
        json_t *vars = NULL;
        char verr[160];
        if ((j->rc = edm_vars_to_json(&j->job.vars, &vars, verr, sizeof verr)) != 0) {
            snprintf(j->err, sizeof j->err, "recipient variables: %s",
                     j->rc == EDM_ENOMEM ? "out of memory" : verr);
            continue;
        }
        if (!json_object_get(vars, "email"))
            json_object_set_new(vars, "email", json_string(j->job.email));
        edm_outmsg *m = edm_calloc(1, sizeof *m);
        char msgid[256];
        if (m == NULL) {
            j->rc = EDM_ENOMEM;
        } else {
            int is_8bit = 0;
            if (b->c->raw)
                j->rc = edm_message_build_raw(&w, &b->c->mctx, j->job.id, b->c->raw, b->c->rawlen,
                                              now, j->allow_8bit, &m->data, &m->sender, msgid,
                                              &is_8bit, j->err, sizeof j->err);
            else
                j->rc = edm_message_build(&w, &b->c->mctx, j->job.id, j->job.email, vars, now,
                                          j->allow_8bit, &m->data, &m->sender, msgid, &is_8bit,
                                          j->err, sizeof j->err);
            m->smtp_flags = is_8bit ? SMTP_MSG_8BITMIME : 0;
        }
        json_decref(vars);
        if (j->rc != 0) {
            if (m) {
                edm_buf_free(&m->data);
                edm_free(m);
            }
            continue;
        }
        m->delivery_id = j->job.id;
        m->campaign_id = j->job.campaign_id;
        m->attempts = j->job.attempts;
        m->queued_at = j->job.queued_at;
        m->rcpt = j->job.email;
        m->domain = j->job.domain;
        j->job.email = j->job.domain = NULL;
        m->message_id = edm_xstrdup(msgid);
        m->pool = b->c->pool;
        m->priority = b->c->is_message;
        j->msg = m;
    }
    if (wrc == 0) {
        signer_give(b->p, w.signer);
        w.signer = NULL;
        edm_message_worker_free(&w);
    }
}

void pl_fail_job(edm_pipeline *p, pl_campaign *c, const edm_job *job, enum edm_dstate status,
                 const char *reason)
{
    edm_outcome r;
    memset(&r, 0, sizeof r);
    r.id = job->id;
    r.status = status;
    r.attempted_at = edm_time_now();
    EDM_OUTCOME_PUT(r.text, reason);
    pl_add_result(p, &r);
    pl_job_done(p, c);
}

void pl_render_after(uv_work_t *req, int status)
{
    pl_batch *b = req->data;
    edm_pipeline *p = b->p;
    p->rendering -= b->n;
    if (b->prev)
        b->prev->next = b->next;
    else
        p->batches = b->next;
    if (b->next)
        b->next->prev = b->prev;
    for (size_t i = 0; i < b->n; i++) {
        pl_job *j = &b->jobs[i];
        if (status == UV_ECANCELED ||
            (j->msg && (p->stopping || (!b->c->running && !b->c->is_message)))) {
            /* Not sent: it stays queued in the store. */
            if (j->msg) {
                edm_pipeline_on_outcome(p, j->msg, NULL);
            } else {
                edm_idset_del(&p->in_flight, j->job.id);
                if (j->job.attempts > 0 || b->c->is_message)
                    p->o.st->ops->unclaim(p->o.st, &j->job.id, 1, edm_time_now());
                else
                    pl_cursor_back(b->c, j->job.id);
                pl_job_done(p, b->c);
            }
        } else if (j->msg) {
            pl_copy_seen(p, b->c, j->msg->data.len);
            edm_relay_submit(p->o.relay, j->msg);
        } else {
            edm_log(EDM_LOG_WARN, "pipeline", "campaign=%lld delivery=%lld event=failed err=\"%s\"",
                    (long long)b->c->id, (long long)j->job.id, j->err);
            pl_fail_job(p, b->c, &j->job, EDM_DSTATE_FAILED, j->err);
        }
        edm_free(j->job.email);
        edm_free(j->job.domain);
        edm_vars_clear(&j->job.vars);
    }
    pl_campaign_unref(b->c);
    edm_free(b);
    pl_pump(p);
    pl_maybe_stopped(p);
}
