/*
 * engine/campaign/pipeline_campaign.c: the running campaigns: each loaded once from
 * the store (template set compiled, From and headers checked, DKIM keys
 * chosen), kept while it runs or has messages pending, refcounted.
 */
#include "engine/campaign/pipeline_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- campaigns ---- */

void pl_campaign_unref(pl_campaign *c)
{
    if (c == NULL || --c->refs > 0)
        return;
    edm_free(c->broken_reason);
    edm_free(c->raw);
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
    edm_attachment_rows_free(c->attach_rows, c->nattach);
    edm_free(c->attach);
    edm_tpl_set_free(c->tpl);
    edm_free(c->keys);
    edm_free(c);
}

static char *dup_nonempty(const char *v)
{
    return v && *v ? edm_xstrdup(v) : NULL;
}

/* Compiles a stored template. The template library takes its sources as a
 * JSON object (templates/template.h), built here from the row. */
int pl_tpl_compile(edm_tpl_set **out, const edm_template_row *t, edm_tpl_error *err)
{
    json_t *partials = json_object();
    for (size_t i = 0; i < t->npartials; i++)
        json_object_set_new(partials, t->partials[i].name, json_string(t->partials[i].value));
    json_t *src = json_object();
    json_object_set_new(src, "partials", partials);
    if (t->subject)
        json_object_set_new(src, "subject", json_string(t->subject));
    if (t->html)
        json_object_set_new(src, "html", json_string(t->html));
    if (t->text)
        json_object_set_new(src, "text", json_string(t->text));
    int rc = edm_tpl_set_compile(out, src, err);
    json_decref(src);
    return rc;
}

void pl_campaign_break(pl_campaign *c, const char *fmt, const char *detail)
{
    char buf[600];
    snprintf(buf, sizeof buf, fmt, detail);
    c->broken = 1;
    c->broken_reason = edm_xstrdup(buf);
    edm_log(EDM_LOG_ERROR, "pipeline", "campaign=%lld event=unsendable reason=\"%s\"",
            (long long)c->id, buf);
}

/* The DKIM keys of the From domain and the message context; links c into
 * the pipeline's list. */
void pl_campaign_finish(edm_pipeline *p, pl_campaign *c)
{
    const edm_config *cfg = p->o.cfg;
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
        .public_url = cfg->public.base_url,
        .bounce_domain = cfg->bounce_domain,
        .msgid_domain = cfg->message_id_domain,
        .feedback_id = c->feedback_id,
        .keys = c->keys,
        .nkeys = c->nkeys,
        .secret = p->secret,
        .secret_len = p->secret_len,
        .strict = 1,
        .no_unsubscribe = c->is_message,
        .to_name_from_vars = c->is_message,
        .names_unsub_url = c->tpl && edm_tpl_set_names(c->tpl, "unsubscribe_url") ? 1 : -1,
        .track = cfg->public.base_url ? c->track : 0,
        .attachments = c->attach,
        .n_attachments = c->nattach,
    };
    c->next = p->campaigns;
    p->campaigns = c;
}

int64_t pl_campaign_share(const edm_pipeline *p, int64_t max_per_hour)
{
    if (max_per_hour <= 0 || p->nodes <= 1)
        return max_per_hour;
    int64_t share = max_per_hour / p->nodes;
    return share > 0 ? share : 1;
}

void edm_pipeline_set_nodes(edm_pipeline *p, int nodes)
{
    if (nodes < 1 || nodes == p->nodes)
        return;
    p->nodes = nodes;
    for (pl_campaign *c = p->campaigns; c; c = c->next)
        if (c->max_per_hour > 0)
            edm_bucket_set_rate(&c->rate, (double)pl_campaign_share(p, c->max_per_hour),
                                3600ull * 1000, edm_time_mono_ms());
}

pl_campaign *pl_campaign_load(edm_pipeline *p, int64_t id)
{
    edm_store *st = p->o.st;
    edm_campaign_row cr;
    if (st->ops->campaign_get(st, id, &cr) != 0)
        return NULL;
    pl_campaign *c = edm_xcalloc(1, sizeof *c);
    c->id = id;
    c->refs = 1;
    c->running = 1;
    edm_window_init(&c->sent_minute, 60000);
    /* max_per_hour holds for the campaign across the nodes sending it:
     * each node takes its share (edm_pipeline_set_nodes). */
    c->max_per_hour = cr.max_per_hour;
    int64_t mph = pl_campaign_share(p, cr.max_per_hour);
    edm_bucket_init(&c->rate, (double)mph, 3600ull * 1000, mph > 0 ? (double)(mph / 60 + 1) : 1,
                    edm_time_mono_ms());
    c->pool = dup_nonempty(cr.pool);
    c->reply_to = dup_nonempty(cr.reply_to);
    c->track = cr.track;
    const edm_config *cfg = p->o.cfg;
    c->unsub_url = dup_nonempty(cr.unsubscribe);
    if (c->unsub_url == NULL && cfg->unsubscribe.url)
        c->unsub_url = edm_xstrdup(cfg->unsubscribe.url);
    char fid[96];
    snprintf(fid, sizeof fid, "%lld:%s:edm", (long long)id, c->pool ? c->pool : "default");
    c->feedback_id = edm_xstrdup(fid);

    if (cr.nheaders) {
        c->headers = edm_xcalloc(cr.nheaders, sizeof *c->headers);
        for (size_t i = 0; i < cr.nheaders; i++) {
            c->headers[c->nheaders].name = edm_xstrdup(cr.headers[i].name);
            c->headers[c->nheaders].value = edm_xstrdup(cr.headers[i].value);
            c->nheaders++;
        }
    }
    const char *from = cr.from;
    c->job_bytes = pl_copy_bytes(NULL, NULL, NULL); /* broken: fails, holds nothing */
    if (from == NULL || edm_message_parse_from(from, &c->from_addr, &c->from_name) != 0) {
        pl_campaign_break(c, "invalid from address: %s", from ? from : "(none)");
    } else {
        edm_template_row tr;
        edm_tpl_error terr;
        /* The template as it was when the campaign started sending, so
         * that an edit afterwards changes neither the messages still to
         * send nor the clicks on those sent (docs/tracking.md). */
        if (cr.template_id <= 0 || st->ops->track_source(st, id, &tr) != 0) {
            pl_campaign_break(c, "%s", "the campaign has no template");
        } else {
            if (pl_tpl_compile(&c->tpl, &tr, &terr) != 0)
                pl_campaign_break(c, "template error: %s", terr.msg);
            c->job_bytes = pl_copy_bytes(tr.subject, tr.html, tr.text);
            edm_template_row_clear(&tr);
        }
    }
    edm_campaign_row_clear(&cr);
    pl_campaign_finish(p, c);
    edm_log(EDM_LOG_INFO, "pipeline", "campaign=%lld event=loaded keys=%zu", (long long)id,
            c->nkeys);
    return c;
}

size_t pl_copy_bytes(const char *subject, const char *html, const char *text)
{
    size_t n = 4096; /* the headers, the signatures, the MIME parts' own */
    n += subject ? strlen(subject) : 0;
    n += html ? strlen(html) : 0;
    n += text ? strlen(text) : 0;
    return n;
}

/* The sources say little of a copy's size when a section repeats for
 * the recipient's data ({{#items}}...{{/items}} over a long list): the
 * estimate grows to the biggest copy rendered, and every copy of c held
 * now counts at the new size (each is released at c's job_bytes:
 * pl_job_done), so max_pending_bytes holds from the next claim on. It
 * never shrinks: a smaller copy later does not let bigger ones pile up. */
void pl_copy_seen(edm_pipeline *p, pl_campaign *c, size_t bytes)
{
    if (bytes <= c->job_bytes)
        return;
    p->pending_bytes += (bytes - c->job_bytes) * c->pending;
    c->job_bytes = bytes;
}

pl_campaign *pl_campaign_find(edm_pipeline *p, int64_t id)
{
    for (pl_campaign *c = p->campaigns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* Drops campaigns that are neither running nor have anything pending. */
void pl_campaigns_prune(edm_pipeline *p)
{
    pl_campaign **pp = &p->campaigns;
    while (*pp) {
        pl_campaign *c = *pp;
        if (!c->running && c->pending == 0) {
            *pp = c->next;
            pl_campaign_unref(c);
        } else {
            pp = &c->next;
        }
    }
}
