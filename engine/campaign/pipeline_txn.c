/*
 * engine/campaign/pipeline_txn.c: transactional messages (POST
 * /v1/messages, SMTP submission; docs/api.md "Transactional messages") in
 * the pipeline. Their deliveries are claimed by due time ahead of every
 * campaign's, up to TXN_RESERVE beyond max_pending so that a big campaign
 * filling the pipeline never holds them back, and each message is loaded
 * once (its template compiled and its attachments kept, or its raw bytes
 * kept) into a pl_campaign
 * marked is_message, which renders, signs, relays and records exactly like
 * a campaign's; the relay queues them ahead of campaign mail.
 */
#include "engine/campaign/pipeline_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_nonempty(const char *v)
{
    return v && *v ? edm_xstrdup(v) : NULL;
}

/* Takes the attachments of mr into c: every recipient's message carries
 * them, from this one copy. */
static void take_attachments(pl_campaign *c, edm_message_row *mr)
{
    if (mr->nattachments == 0)
        return;
    c->attach_rows = mr->attachments;
    c->nattach = mr->nattachments;
    mr->attachments = NULL;
    mr->nattachments = 0;
    c->attach = edm_xcalloc(c->nattach, sizeof *c->attach);
    for (size_t i = 0; i < c->nattach; i++)
        c->attach[i] = (edm_mime_attachment){.filename = c->attach_rows[i].filename,
                                             .content_type = c->attach_rows[i].content_type,
                                             .data = c->attach_rows[i].data,
                                             .len = c->attach_rows[i].len,
                                             .content_id = c->attach_rows[i].content_id};
}

/* Loads message id into the pipeline's list; NULL if it is gone. */
/* One recipient's copy of message c, estimated: the raw message, or its
 * sources and the attachments in base64 (4/3, with line ends). */
static size_t copy_bytes(const pl_campaign *c, const edm_message_row *mr)
{
    size_t n = pl_copy_bytes(mr->subject, mr->html, mr->text) + c->rawlen;
    for (size_t i = 0; i < c->nattach; i++)
        n += c->attach[i].len / 57 * 78 + 78;
    return n;
}

static pl_campaign *message_load(edm_pipeline *p, int64_t id)
{
    edm_store *st = p->o.st;
    edm_message_row mr;
    if (st->ops->message_load(st, id, &mr) != 0)
        return NULL;
    pl_campaign *c = edm_xcalloc(1, sizeof *c);
    c->id = id;
    c->refs = 1;
    c->is_message = 1;
    edm_window_init(&c->sent_minute, 60000);
    edm_bucket_init(&c->rate, 0, 3600ull * 1000, 1, edm_time_mono_ms());
    c->pool = dup_nonempty(mr.c.pool);
    c->reply_to = dup_nonempty(mr.c.reply_to);
    c->track = mr.raw ? 0 : mr.c.track;
    char fid[96];
    snprintf(fid, sizeof fid, "m%lld:%s:edm", (long long)id, c->pool ? c->pool : "default");
    c->feedback_id = edm_xstrdup(fid);
    if (mr.c.nheaders) {
        c->headers = edm_xcalloc(mr.c.nheaders, sizeof *c->headers);
        for (size_t i = 0; i < mr.c.nheaders; i++) {
            c->headers[c->nheaders].name = edm_xstrdup(mr.c.headers[i].name);
            c->headers[c->nheaders].value = edm_xstrdup(mr.c.headers[i].value);
            c->nheaders++;
        }
    }
    const char *from = mr.c.from;
    edm_tpl_error terr;
    if (from == NULL || edm_message_parse_from(from, &c->from_addr, &c->from_name) != 0) {
        pl_campaign_break(c, "invalid from address: %s", from ? from : "(none)");
    } else if (mr.raw) {
        c->raw = mr.raw;
        c->rawlen = mr.rawlen;
        mr.raw = NULL;
    } else if (mr.c.template_id > 0) {
        edm_template_row tr;
        /* The template as it was when the message was created
         * (docs/tracking.md). */
        if (st->ops->track_source(st, id, &tr) != 0) {
            pl_campaign_break(c, "%s", "the message's template is gone");
        } else {
            if (pl_tpl_compile(&c->tpl, &tr, &terr) != 0)
                pl_campaign_break(c, "template error: %s", terr.msg);
            edm_template_row_clear(&tr);
        }
    } else {
        edm_template_row tr = {.subject = mr.subject, .html = mr.html, .text = mr.text};
        if (pl_tpl_compile(&c->tpl, &tr, &terr) != 0)
            pl_campaign_break(c, "template error: %s", terr.msg);
    }
    take_attachments(c, &mr);
    c->job_bytes = copy_bytes(c, &mr);
    edm_message_row_clear(&mr);
    pl_campaign_finish(p, c);
    edm_log(EDM_LOG_DEBUG, "pipeline", "message=%lld event=loaded keys=%zu raw=%d attachments=%zu",
            (long long)id, c->nkeys, c->raw != NULL, c->nattach);
    return c;
}

static void drop_job(edm_job *job)
{
    edm_free(job->email);
    edm_free(job->domain);
    edm_vars_clear(&job->vars);
}

/* Hands one claimed job of message c to its open batch (queued when full). */
static void take(edm_pipeline *p, pl_campaign *c, edm_job *job, int suppressed, pl_batch **open)
{
    edm_idset_add(&p->in_flight, job->id);
    c->pending++;
    p->pending++;
    p->pending_bytes += c->job_bytes;
    if (c->broken) {
        pl_fail_job(p, c, job, EDM_DSTATE_FAILED, c->broken_reason);
        drop_job(job);
        return;
    }
    if (suppressed) {
        pl_fail_job(p, c, job, EDM_DSTATE_SUPPRESSED, "on the suppression list");
        drop_job(job);
        return;
    }
    if (*open && ((*open)->c != c || (*open)->n == RENDER_BATCH)) {
        pl_queue_batch(p, *open);
        *open = NULL;
    }
    if (*open == NULL) {
        *open = edm_xcalloc(1, sizeof **open);
        (*open)->p = p;
        (*open)->c = c;
        c->refs++;
        (*open)->req.data = *open;
    }
    pl_batch *b = *open;
    b->jobs[b->n].allow_8bit = !edm_idset_has(&p->no_8bit, pl_domain_key(job->domain));
    b->jobs[b->n++].job = *job;
}

/* Room for more copies of messages under o.max_pending_bytes: after the
 * bound was reached, only once half of it is free again (not a claim
 * and a give-back after every copy sent). */
static int bytes_room(const edm_pipeline *p)
{
    size_t max = p->o.max_pending_bytes;
    return p->pending_bytes == 0 || p->pending_bytes < (p->txn_full ? max / 2 : max);
}

void pl_pump_txn(edm_pipeline *p)
{
    /* Only when something may be due (a kick, a scheduler tick): not a
     * claim statement after every outcome of a campaign. */
    size_t cap = p->o.max_pending + TXN_RESERVE;
    while (p->txn_wake && !p->stopping && p->pending < cap && bytes_room(p)) {
        size_t want = cap - p->pending;
        if (want > p->o.claim_batch)
            want = p->o.claim_batch;
        edm_job *jobs;
        size_t n;
        if (p->o.st->ops->claim_txn(p->o.st, edm_time_now(), TXN_LEASE, want, &jobs, &n) != 0) {
            edm_log(EDM_LOG_ERROR, "pipeline", "event=claim_txn_failed err=\"%s\"",
                    edm_store_errmsg(p->o.st));
            return;
        }
        size_t taken = 0, nback = 0;
        int64_t *back = NULL;
        pl_batch *open = NULL;
        unsigned char *suppressed = n ? pl_suppressed(p, jobs, n) : NULL;
        for (size_t i = 0; i < n; i++) {
            edm_job *job = &jobs[i];
            pl_campaign *c = NULL;
            if (!edm_idset_has(&p->in_flight, job->id)) {
                c = pl_campaign_find(p, job->campaign_id);
                if (c == NULL)
                    c = message_load(p, job->campaign_id);
            }
            if (c == NULL || !c->is_message) {
                drop_job(job); /* in flight already (a lease ran out), or gone */
                continue;
            }
            if (p->pending_bytes > 0 && p->pending_bytes >= p->o.max_pending_bytes) {
                /* the copies in flight are big enough: the rest waits */
                if (back == NULL)
                    back = edm_xcalloc(n, sizeof *back);
                back[nback++] = job->id;
                drop_job(job);
                continue;
            }
            take(p, c, job, suppressed[i], &open);
            taken++;
        }
        if (open)
            pl_queue_batch(p, open);
        edm_free(suppressed);
        edm_free(jobs);
        p->txn_full = nback > 0;
        if (nback > 0) {
            /* due again at once: claimed when enough copies are sent */
            p->o.st->ops->unclaim(p->o.st, back, nback, edm_time_now());
            edm_free(back);
            break;
        }
        if (n < want)
            p->txn_wake = 0; /* everything due is claimed */
        if (taken == 0 || n < want)
            break;
    }
}
