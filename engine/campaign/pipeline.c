/*
 * engine/campaign/pipeline.c: claim -> render/compose/sign (thread pool) -> relay ->
 * outcome -> store (see pipeline.h).
 *
 * Objects: one pl_campaign per running campaign (its compiled template
 * set and message context, claim cursor, counters), refcounted because
 * render batches and messages in the relay point at it after it stops
 * running; one pl_batch per uv_queue_work of up to RENDER_BATCH jobs.
 * Render work carries the campaign pointer with a reference, never a bare
 * id lookup, and its results are applied on the loop thread.
 *
 * In flight is not a stored state: a claimed recipient stays queued (or
 * deferred, leased) in the store until its outcome is recorded. The set of
 * ids in flight keeps a restarted cursor from handing one out twice.
 */
#include "engine/campaign/pipeline.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/idset.h"
#include "engine/base/log.h"
#include "engine/message/message.h"
#include "engine/delivery/shaper.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RENDER_BATCH 32
#define FLUSH_MS     100
#define FLUSH_AT     1000
#define RETRY_LEASE  3600
#define SECRET_LEN   32
#define SECRET_MAX   256

/* ---- campaigns ---- */

typedef struct pl_campaign {
    int64_t id;
    int refs;
    int running;   /* in the scheduler's running set */
    int cancelled; /* deferrals coming back are recorded as cancelled */
    int broken;    /* template or From unusable: its recipients fail */
    char *broken_reason;
    int64_t cursor;  /* claim cursor over queued ids */
    size_t pending;  /* claimed, outcome not yet recorded */
    edm_bucket rate; /* max_per_hour */
    edm_window sent_minute;
    char *from_addr, *from_name, *reply_to, *pool, *unsub_url, *feedback_id;
    edm_mime_header *headers;
    size_t nheaders;
    edm_tpl_set *tpl;
    edm_dkim_key **keys;
    size_t nkeys;
    edm_message_ctx mctx;
    struct pl_campaign *next;
} pl_campaign;

typedef struct pl_result {
    edm_result r;
    char *strs; /* owns every string r points at */
} pl_result;

struct edm_pipeline {
    edm_pipeline_opts o;
    pl_campaign *campaigns;
    edm_idset in_flight;
    size_t pending;     /* all campaigns */
    size_t rendering;   /* jobs in render batches */
    pl_result *results; /* buffered outcomes */
    size_t nresults, capresults;
    uv_timer_t flush_timer;
    int timer_armed;
    int stopping;
    struct pl_batch *batches; /* queued or running on the thread pool */
    void (*stop_cb)(void *);
    void *stop_arg;
    unsigned char secret[SECRET_MAX];
    size_t secret_len;
    edm_window sent_minute;
};

typedef struct pl_job {
    edm_job job;
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

static void campaign_unref(pl_campaign *c)
{
    if (c == NULL || --c->refs > 0)
        return;
    edm_free(c->broken_reason);
    edm_free(c->from_addr);
    edm_free(c->from_name);
    edm_free(c->reply_to);
    edm_free(c->pool);
    edm_free(c->unsub_url);
    edm_free(c->feedback_id);
    for (size_t i = 0; i < c->nheaders; i++) {
        edm_free((char *)c->headers[i].name);
        edm_free((char *)c->headers[i].value);
    }
    edm_free(c->headers);
    edm_tpl_set_free(c->tpl);
    edm_free(c->keys);
    edm_free(c);
}

static char *json_strdup(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v && *v ? edm_xstrdup(v) : NULL;
}

static void campaign_break(pl_campaign *c, const char *fmt, const char *detail)
{
    char buf[600];
    snprintf(buf, sizeof buf, fmt, detail);
    c->broken = 1;
    c->broken_reason = edm_xstrdup(buf);
    edm_log(EDM_LOG_ERROR, "pipeline", "campaign=%lld event=unsendable reason=\"%s\"",
            (long long)c->id, buf);
}

static pl_campaign *campaign_load(edm_pipeline *p, int64_t id)
{
    edm_store *st = p->o.st;
    json_t *cj = NULL, *tj = NULL;
    if (st->ops->campaign_get(st, id, &cj) != 0)
        return NULL;
    pl_campaign *c = edm_xcalloc(1, sizeof *c);
    c->id = id;
    c->refs = 1;
    c->running = 1;
    edm_window_init(&c->sent_minute, 60000);
    json_int_t mph = json_integer_value(json_object_get(cj, "max_per_hour"));
    edm_bucket_init(&c->rate, (double)mph, 3600ull * 1000, mph > 0 ? (double)(mph / 60 + 1) : 1,
                    edm_time_mono_ms());
    c->pool = json_strdup(cj, "pool");
    c->reply_to = json_strdup(cj, "reply_to");
    const edm_config *cfg = p->o.cfg;
    c->unsub_url = json_strdup(cj, "unsubscribe");
    if (c->unsub_url == NULL && cfg->unsubscribe.url)
        c->unsub_url = edm_xstrdup(cfg->unsubscribe.url);
    char fid[96];
    snprintf(fid, sizeof fid, "%lld:%s:edm", (long long)id, c->pool ? c->pool : "default");
    c->feedback_id = edm_xstrdup(fid);

    json_t *hdrs = json_object_get(cj, "headers");
    if (json_is_object(hdrs) && json_object_size(hdrs)) {
        c->headers = edm_xcalloc(json_object_size(hdrs), sizeof *c->headers);
        const char *k;
        json_t *v;
        json_object_foreach(hdrs, k, v)
        {
            if (!json_is_string(v))
                continue;
            c->headers[c->nheaders].name = edm_xstrdup(k);
            c->headers[c->nheaders].value = edm_xstrdup(json_string_value(v));
            c->nheaders++;
        }
    }
    const char *from = json_string_value(json_object_get(cj, "from"));
    if (from == NULL || edm_message_parse_from(from, &c->from_addr, &c->from_name) != 0) {
        campaign_break(c, "invalid from address: %s", from ? from : "(none)");
    } else {
        json_t *tid = json_object_get(cj, "template_id");
        edm_tpl_error terr;
        if (!json_is_integer(tid) || st->ops->template_get(st, json_integer_value(tid), &tj) != 0)
            campaign_break(c, "%s", "the campaign has no template");
        else if (edm_tpl_set_compile(&c->tpl, tj, &terr) != 0)
            campaign_break(c, "template error: %s", terr.msg);
    }
    /* The DKIM keys of the From domain. */
    const char *dom = edm_message_addr_domain(c->from_addr);
    c->keys = edm_xcalloc(p->o.nkeys ? p->o.nkeys : 1, sizeof *c->keys);
    for (size_t i = 0; dom && i < p->o.nkeys; i++)
        if (strcasecmp(edm_dkim_key_domain(p->o.keys[i]), dom) == 0)
            c->keys[c->nkeys++] = p->o.keys[i];
    c->mctx = (edm_message_ctx){
        .tpl = c->tpl,
        .from_addr = c->from_addr,
        .from_name = c->from_name,
        .reply_to = c->reply_to,
        .headers = c->headers,
        .nheaders = c->nheaders,
        .unsub_url = c->unsub_url,
        .bounce_domain = cfg->bounce_domain,
        .msgid_domain = cfg->message_id_domain,
        .feedback_id = c->feedback_id,
        .keys = c->keys,
        .nkeys = c->nkeys,
        .secret = p->secret,
        .secret_len = p->secret_len,
        .strict = 1,
    };
    json_decref(cj);
    json_decref(tj);
    c->next = p->campaigns;
    p->campaigns = c;
    edm_log(EDM_LOG_INFO, "pipeline", "campaign=%lld event=loaded keys=%zu", (long long)id,
            c->nkeys);
    return c;
}

static pl_campaign *campaign_find(edm_pipeline *p, int64_t id)
{
    for (pl_campaign *c = p->campaigns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* Drops campaigns that are neither running nor have anything pending. */
static void campaigns_prune(edm_pipeline *p)
{
    pl_campaign **pp = &p->campaigns;
    while (*pp) {
        pl_campaign *c = *pp;
        if (!c->running && c->pending == 0) {
            *pp = c->next;
            campaign_unref(c);
        } else {
            pp = &c->next;
        }
    }
}

/* ---- outcomes ---- */

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *str_put(char **at, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*at, s, n);
    const char *r = *at;
    *at += n;
    return r;
}

static void arm_flush(edm_pipeline *p);

/* Buffers an outcome; strings are copied. */
static void add_result(edm_pipeline *p, const edm_result *r)
{
    if (p->nresults == p->capresults) {
        p->capresults = p->capresults ? p->capresults * 2 : 256;
        p->results = edm_xrealloc(p->results, p->capresults * sizeof *p->results);
    }
    pl_result *pr = &p->results[p->nresults++];
    pr->r = *r;
    size_t need = str_size(r->enhanced_code) + str_size(r->response) +
                  str_size(r->bounce_category) + str_size(r->mx_host) + str_size(r->mx_ip) +
                  str_size(r->source_ip) + str_size(r->tls) + str_size(r->message_id) +
                  str_size(r->remote_queue_id);
    pr->strs = edm_xmalloc(need ? need : 1);
    char *at = pr->strs;
    pr->r.enhanced_code = str_put(&at, r->enhanced_code);
    pr->r.response = str_put(&at, r->response);
    pr->r.bounce_category = str_put(&at, r->bounce_category);
    pr->r.mx_host = str_put(&at, r->mx_host);
    pr->r.mx_ip = str_put(&at, r->mx_ip);
    pr->r.source_ip = str_put(&at, r->source_ip);
    pr->r.tls = str_put(&at, r->tls);
    pr->r.message_id = str_put(&at, r->message_id);
    pr->r.remote_queue_id = str_put(&at, r->remote_queue_id);
    if (p->nresults >= FLUSH_AT)
        edm_pipeline_flush(p);
    else
        arm_flush(p);
}

static void pump(edm_pipeline *p);

int edm_pipeline_flush(edm_pipeline *p)
{
    if (p->nresults == 0)
        return 0;
    edm_result *rs = edm_xmalloc(p->nresults * sizeof *rs);
    for (size_t i = 0; i < p->nresults; i++)
        rs[i] = p->results[i].r;
    int rc = p->o.st->ops->record(p->o.st, rs, p->nresults);
    edm_free(rs);
    if (rc != 0) {
        /* Keep them and try again at the next flush: nothing is lost. */
        edm_log(EDM_LOG_ERROR, "pipeline", "event=record_failed results=%zu err=\"%s\"",
                p->nresults, edm_store_errmsg(p->o.st));
        arm_flush(p);
        return rc;
    }
    /* Only now may these ids be claimed again (a restarted cursor). */
    for (size_t i = 0; i < p->nresults; i++) {
        edm_idset_del(&p->in_flight, p->results[i].r.id);
        edm_free(p->results[i].strs);
    }
    p->nresults = 0;
    return 0;
}

/* Runs the stop callback once nothing is rendering or buffered. */
static void maybe_stopped(edm_pipeline *p)
{
    if (p->stopping && p->rendering == 0 && p->nresults == 0 && p->stop_cb) {
        void (*cb)(void *) = p->stop_cb;
        p->stop_cb = NULL;
        cb(p->stop_arg);
    }
}

static void on_flush_timer(uv_timer_t *t)
{
    edm_pipeline *p = t->data;
    p->timer_armed = 0;
    edm_pipeline_flush(p);
    pump(p);
    maybe_stopped(p);
}

static void arm_flush(edm_pipeline *p)
{
    if (!p->timer_armed) {
        p->timer_armed = 1;
        uv_timer_start(&p->flush_timer, on_flush_timer, FLUSH_MS, 0);
    }
}

static int64_t retry_delay(const edm_config *cfg, int attempts)
{
    const struct edm_config_retry *r = &cfg->retry;
    if (r->nschedule == 0)
        return 300;
    size_t i = attempts > 0 ? (size_t)(attempts - 1) : 0;
    return r->schedule[i < r->nschedule ? i : r->nschedule - 1];
}

/* Turns an outcome into the stored result (retry time, expiry). */
static void outcome_to_result(edm_pipeline *p, int64_t id, int attempts_before, int64_t queued_at,
                              const char *message_id, const edm_outcome *o, edm_result *r)
{
    int64_t now = edm_time_now();
    memset(r, 0, sizeof *r);
    r->id = id;
    r->attempted = o->attempted;
    r->attempted_at = now;
    r->smtp_code = o->code;
    r->enhanced_code = o->enhanced && *o->enhanced ? o->enhanced : NULL;
    r->response = o->text;
    r->bounce_category = o->category && *o->category ? o->category : NULL;
    r->mx_host = o->mx_host && *o->mx_host ? o->mx_host : NULL;
    r->mx_ip = o->mx_ip && *o->mx_ip ? o->mx_ip : NULL;
    r->source_ip = o->source_ip && *o->source_ip ? o->source_ip : NULL;
    r->tls = o->tls && *o->tls ? o->tls : NULL;
    r->message_id = message_id;
    r->remote_queue_id = o->remote_queue_id && *o->remote_queue_id ? o->remote_queue_id : NULL;
    r->duration_ms = o->duration_ms;
    switch (o->kind) {
    case EDM_OUTCOME_DELIVERED:
        r->status = EDM_DSTATE_DELIVERED;
        r->bounce_category = NULL;
        break;
    case EDM_OUTCOME_BOUNCED: r->status = EDM_DSTATE_BOUNCED; break;
    case EDM_OUTCOME_DEFERRED: {
        int64_t expires = queued_at + p->o.cfg->retry.max_age;
        if (now >= expires) {
            r->status = EDM_DSTATE_BOUNCED;
            r->bounce_category = "expired";
            break;
        }
        int attempts = attempts_before + (o->attempted ? 1 : 0);
        int64_t next = now + retry_delay(p->o.cfg, attempts > 0 ? attempts : 1);
        if (o->not_before > next)
            next = o->not_before;
        r->status = EDM_DSTATE_DEFERRED;
        r->next_attempt_at = next < expires ? next : expires;
        break;
    }
    default: EDM_PANIC("outcome %d cannot be recorded", (int)o->kind);
    }
}

/* One claimed recipient has its outcome (buffered for the store, or
 * given back unsent). */
static void job_done(edm_pipeline *p, pl_campaign *c)
{
    EDM_ASSERT(c->pending > 0 && p->pending > 0);
    c->pending--;
    p->pending--;
}

static void free_outmsg(edm_outmsg *m)
{
    edm_free(m->rcpt);
    edm_free(m->domain);
    edm_free(m->sender);
    edm_free(m->message_id);
    edm_buf_free(&m->data);
    edm_free(m);
}

void edm_pipeline_on_outcome(void *ctx, edm_outmsg *m, const edm_outcome *o)
{
    edm_pipeline *p = ctx;
    pl_campaign *c = campaign_find(p, m->campaign_id);
    EDM_ASSERT(c != NULL);
    if (o->kind == EDM_OUTCOME_DROPPED) {
        /* Never attempted: it stays queued (or deferred, lease lifted) in the
         * store and the cursor must come back for it. */
        if (m->attempts > 0)
            p->o.st->ops->unclaim(p->o.st, &m->delivery_id, 1, edm_time_now());
        else if (m->delivery_id - 1 < c->cursor)
            c->cursor = m->delivery_id - 1;
        edm_idset_del(&p->in_flight, m->delivery_id);
    } else {
        edm_result r;
        outcome_to_result(p, m->delivery_id, m->attempts, m->queued_at, m->message_id, o, &r);
        if (c->cancelled && r.status == EDM_DSTATE_DEFERRED) {
            r.status = EDM_DSTATE_CANCELLED;
            r.next_attempt_at = 0;
        }
        if (o->attempted) {
            uint64_t now = edm_time_mono_ms();
            edm_window_add(&c->sent_minute, now, 1);
            edm_window_add(&p->sent_minute, now, 1);
        }
        add_result(p, &r);
    }
    job_done(p, c);
    free_outmsg(m);
    pump(p);
}

/* ---- rendering on the thread pool ---- */

static void render_work(uv_work_t *req)
{
    pl_batch *b = req->data;
    edm_message_worker w;
    int wrc = edm_message_worker_init(&w);
    int64_t now = edm_time_now();
    for (size_t i = 0; i < b->n; i++) {
        pl_job *j = &b->jobs[i];
        if (wrc != 0) {
            j->rc = wrc;
            snprintf(j->err, sizeof j->err, "out of memory");
            continue;
        }
        json_error_t jerr;
        json_t *vars = j->job.vars_json ? json_loads(j->job.vars_json, 0, &jerr) : json_object();
        if (vars == NULL) {
            j->rc = EDM_EINVAL;
            snprintf(j->err, sizeof j->err, "recipient variables: %s", jerr.text);
            continue;
        }
        if (json_is_object(vars) && !json_object_get(vars, "email"))
            json_object_set_new(vars, "email", json_string(j->job.email));
        edm_outmsg *m = edm_calloc(1, sizeof *m);
        char msgid[256];
        if (m == NULL) {
            j->rc = EDM_ENOMEM;
        } else {
            j->rc = edm_message_build(&w, &b->c->mctx, j->job.id, j->job.email, vars, now, &m->data,
                                      &m->sender, msgid, j->err, sizeof j->err);
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
        j->msg = m;
    }
    if (wrc == 0)
        edm_message_worker_free(&w);
}

static void fail_job(edm_pipeline *p, pl_campaign *c, const edm_job *job, enum edm_dstate status,
                     const char *reason)
{
    edm_result r = {.id = job->id,
                    .status = status,
                    .attempted = 0,
                    .attempted_at = edm_time_now(),
                    .response = reason};
    add_result(p, &r);
    job_done(p, c);
}

static void render_after(uv_work_t *req, int status)
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
        if (status == UV_ECANCELED || (j->msg && (p->stopping || !b->c->running))) {
            /* Not sent: it stays queued in the store. */
            if (j->msg) {
                edm_outcome o = {.kind = EDM_OUTCOME_DROPPED};
                edm_pipeline_on_outcome(p, j->msg, &o);
            } else {
                edm_idset_del(&p->in_flight, j->job.id);
                if (j->job.attempts > 0)
                    p->o.st->ops->unclaim(p->o.st, &j->job.id, 1, edm_time_now());
                else if (j->job.id - 1 < b->c->cursor)
                    b->c->cursor = j->job.id - 1;
                job_done(p, b->c);
            }
        } else if (j->msg) {
            edm_relay_submit(p->o.relay, j->msg);
        } else {
            edm_log(EDM_LOG_WARN, "pipeline", "campaign=%lld delivery=%lld event=failed err=\"%s\"",
                    (long long)b->c->id, (long long)j->job.id, j->err);
            fail_job(p, b->c, &j->job, EDM_DSTATE_FAILED, j->err);
        }
        edm_free(j->job.email);
        edm_free(j->job.domain);
        edm_free(j->job.vars_json);
    }
    campaign_unref(b->c);
    edm_free(b);
    pump(p);
    maybe_stopped(p);
}

/* ---- claiming ---- */

static void queue_batch(edm_pipeline *p, pl_batch *b)
{
    p->rendering += b->n;
    b->next = p->batches;
    if (p->batches)
        p->batches->prev = b;
    p->batches = b;
    uv_queue_work(p->o.loop, &b->req, render_work, render_after);
}

static size_t claim_for(edm_pipeline *p, pl_campaign *c, size_t room)
{
    size_t want = room < p->o.claim_batch ? room : p->o.claim_batch;
    if (!edm_bucket_unlimited(&c->rate)) {
        uint64_t now = edm_time_mono_ms();
        size_t allowed = 0;
        while (allowed < want && edm_bucket_take(&c->rate, now) == 0)
            allowed++;
        want = allowed;
    }
    if (want == 0)
        return 0;
    edm_job *jobs;
    size_t n;
    int64_t now = edm_time_now();
    if (p->o.st->ops->claim(p->o.st, c->id, now, RETRY_LEASE, &c->cursor, want, &jobs, &n) != 0)
        return 0;
    pl_batch *b = NULL;
    size_t taken = 0;
    for (size_t i = 0; i < n; i++) {
        edm_job *job = &jobs[i];
        if (edm_idset_has(&p->in_flight, job->id)) {
            edm_free(job->email);
            edm_free(job->domain);
            edm_free(job->vars_json);
            continue;
        }
        edm_idset_add(&p->in_flight, job->id);
        c->pending++;
        p->pending++;
        taken++;
        if (c->broken) {
            fail_job(p, c, job, EDM_DSTATE_FAILED, c->broken_reason);
            edm_free(job->email);
            edm_free(job->domain);
            edm_free(job->vars_json);
            continue;
        }
        if (p->o.st->ops->suppression_check(p->o.st, job->email, job->domain) == 1) {
            fail_job(p, c, job, EDM_DSTATE_SUPPRESSED, "on the suppression list");
            edm_free(job->email);
            edm_free(job->domain);
            edm_free(job->vars_json);
            continue;
        }
        if (b == NULL) {
            b = edm_xcalloc(1, sizeof *b);
            b->p = p;
            b->c = c;
            c->refs++;
            b->req.data = b;
        }
        b->jobs[b->n++].job = *job;
        if (b->n == RENDER_BATCH) {
            queue_batch(p, b);
            b = NULL;
        }
    }
    if (b)
        queue_batch(p, b);
    edm_free(jobs);
    return taken;
}

static void pump(edm_pipeline *p)
{
    if (p->stopping)
        return;
    for (pl_campaign *c = p->campaigns; c; c = c->next) {
        if (!c->running)
            continue;
        /* Keep about max_pending messages between claim and outcome. */
        while (p->pending < p->o.max_pending) {
            size_t got = claim_for(p, c, p->o.max_pending - p->pending);
            if (got == 0)
                break;
        }
    }
}

/* ---- scheduler hooks ---- */

static void hook_running(void *ctx, const int64_t *ids, size_t n)
{
    edm_pipeline *p = ctx;
    for (pl_campaign *c = p->campaigns; c; c = c->next) {
        int still = 0;
        for (size_t i = 0; i < n; i++)
            still |= ids[i] == c->id;
        if (c->running && !still) {
            c->running = 0;
            edm_relay_drop_campaign(p->o.relay, c->id);
            edm_log(EDM_LOG_INFO, "pipeline", "campaign=%lld event=stopped_sending",
                    (long long)c->id);
        } else if (!c->running && still) {
            c->running = 1;
            c->cursor = 0; /* in-flight ids are skipped by the in-flight set */
        }
    }
    for (size_t i = 0; i < n; i++)
        if (campaign_find(p, ids[i]) == NULL)
            campaign_load(p, ids[i]);
    campaigns_prune(p);
    pump(p);
}

static size_t hook_in_flight(void *ctx, int64_t campaign_id)
{
    edm_pipeline *p = ctx;
    pl_campaign *c = campaign_find(p, campaign_id);
    if (c == NULL)
        return 0;
    /* Buffered results are not in the store yet: count them as in flight
     * (all campaigns' alike; the buffer is written within FLUSH_MS). */
    return c->pending + (p->nresults > 0);
}

static void hook_cancelled(void *ctx, int64_t campaign_id)
{
    edm_pipeline *p = ctx;
    pl_campaign *c = campaign_find(p, campaign_id);
    if (c) {
        c->running = 0;
        c->cancelled = 1;
    }
    edm_relay_drop_campaign(p->o.relay, campaign_id);
}

edm_sched_hooks edm_pipeline_sched_hooks(edm_pipeline *p)
{
    return (edm_sched_hooks){.ctx = p,
                             .running = hook_running,
                             .in_flight = hook_in_flight,
                             .cancelled = hook_cancelled};
}

/* ---- life cycle ---- */

int edm_pipeline_new(const edm_pipeline_opts *o, edm_pipeline **out)
{
    edm_pipeline *p = edm_calloc(1, sizeof *p);
    if (p == NULL)
        return EDM_ENOMEM;
    p->o = *o;
    if (p->o.max_pending == 0)
        p->o.max_pending = 4000;
    if (p->o.claim_batch == 0)
        p->o.claim_batch = 500;
    const char *env =
        o->cfg->unsubscribe.secret_env ? getenv(o->cfg->unsubscribe.secret_env) : NULL;
    if (env && strlen(env) >= 16) {
        p->secret_len = strlen(env) < SECRET_MAX ? strlen(env) : SECRET_MAX;
        memcpy(p->secret, env, p->secret_len);
    } else {
        int rc = o->st->ops->setting_get_or_create(o->st, "secret", p->secret, SECRET_LEN);
        if (rc != 0) {
            edm_free(p);
            return rc;
        }
        p->secret_len = SECRET_LEN;
        if (env)
            edm_log(EDM_LOG_WARN, "pipeline", "event=secret_too_short env=%s min=16",
                    o->cfg->unsubscribe.secret_env);
    }
    edm_window_init(&p->sent_minute, 60000);
    uv_timer_init(o->loop, &p->flush_timer);
    p->flush_timer.data = p;
    *out = p;
    return 0;
}

void edm_pipeline_quiesce(edm_pipeline *p)
{
    p->stopping = 1;
    /* Batches still waiting for a thread are not rendered: their
     * recipients stay queued in the store (render_after sees ECANCELED). */
    for (pl_batch *b = p->batches; b; b = b->next)
        uv_cancel((uv_req_t *)&b->req);
}

void edm_pipeline_stop(edm_pipeline *p, void (*cb)(void *arg), void *arg)
{
    edm_pipeline_quiesce(p);
    p->stop_cb = cb;
    p->stop_arg = arg;
    arm_flush(p);
}

static void on_timer_closed(uv_handle_t *h)
{
    edm_pipeline *p = h->data;
    while (p->campaigns) {
        pl_campaign *c = p->campaigns;
        p->campaigns = c->next;
        campaign_unref(c);
    }
    edm_idset_free(&p->in_flight);
    edm_free(p->results);
    edm_free(p);
}

void edm_pipeline_free(edm_pipeline *p)
{
    if (p == NULL)
        return;
    edm_pipeline_flush(p);
    for (size_t i = 0; i < p->nresults; i++)
        edm_free(p->results[i].strs);
    p->nresults = 0;
    uv_close((uv_handle_t *)&p->flush_timer, on_timer_closed);
}

const unsigned char *edm_pipeline_secret(const edm_pipeline *p)
{
    return p->secret;
}

size_t edm_pipeline_secret_len(const edm_pipeline *p)
{
    return p->secret_len;
}

double edm_pipeline_rate_per_minute(const edm_pipeline *p, int64_t campaign_id)
{
    uint64_t now = edm_time_mono_ms();
    if (campaign_id == 0)
        return (double)edm_window_sum(&p->sent_minute, now);
    for (pl_campaign *c = p->campaigns; c; c = c->next)
        if (c->id == campaign_id)
            return (double)edm_window_sum(&c->sent_minute, now);
    return 0;
}
