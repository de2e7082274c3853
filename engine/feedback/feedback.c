/*
 * engine/feedback/feedback.c: matches a parsed report (report.h) to the
 * delivery it is about and applies it through the store's feedback op
 * (see feedback.h for the rules). The category comes from
 * engine/delivery/classify.c; nothing here names one but to decide which
 * bounces suppress the address.
 */
#include "engine/feedback/feedback.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/delivery/classify.h"
#include "engine/feedback/report.h"
#include "engine/message/verp.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *edm_fb_what_name(enum edm_fb_what w)
{
    static const char *const names[] = {"ignored", "unmatched",  "bounced",
                                        "delayed", "complained", "unsubscribed"};
    return (unsigned)w < sizeof names / sizeof names[0] ? names[w] : "?";
}

int edm_feedback_unsub_token(const edm_fb_ctx *c, const char *tok, size_t n, int64_t *id)
{
    uint64_t v;
    if (edm_verp_token_check(tok, n, EDM_VERP_UNSUB, c->secret, c->secret_len, &v) != 0 || v == 0 ||
        v > INT64_MAX)
        return EDM_EINVAL;
    *id = (int64_t)v;
    return 0;
}

static int apply(const edm_fb_ctx *c, edm_feedback_rec *f, enum edm_fb_what what,
                 edm_fb_result *out)
{
    int rc = c->st->ops->feedback_apply(c->st, f, &out->done);
    if (rc == EDM_ENOTFOUND) {
        out->what = EDM_FB_UNMATCHED;
        return 0;
    }
    if (rc != 0)
        return rc;
    out->what = what;
    out->delivery_id = f->delivery_id;
    edm_log(EDM_LOG_INFO, "feedback",
            "event=%s delivery=%lld campaign=%lld form=%s changed=%d suppressed=%d",
            edm_fb_what_name(what), (long long)f->delivery_id, (long long)out->done.campaign_id,
            out->form, out->done.changed, out->done.suppressed);
    return 0;
}

int edm_feedback_unsubscribe(const edm_fb_ctx *c, const char *tok, size_t n, int64_t now,
                             edm_fb_result *out)
{
    memset(out, 0, sizeof *out);
    out->form = "";
    int64_t id;
    if (edm_feedback_unsub_token(c, tok, n, &id) != 0)
        return EDM_ENOTFOUND;
    edm_feedback_rec *f = edm_calloc(1, sizeof *f);
    if (f == NULL)
        return EDM_ENOMEM;
    f->delivery_id = id;
    f->type = EDM_EVENT_UNSUBSCRIBE;
    f->at = now;
    f->suppress = "unsubscribe";
    int rc = apply(c, f, EDM_FB_UNSUBSCRIBED, out);
    edm_free(f);
    if (rc == 0 && out->what == EDM_FB_UNMATCHED)
        return EDM_ENOTFOUND;
    return rc;
}

/* "prefix+TOKEN@..." of the given kind, checked: its delivery id or 0. */
static int64_t addr_id(const edm_fb_ctx *c, const char *addr, enum edm_verp_kind kind,
                       const char *prefix)
{
    uint64_t id;
    if (addr == NULL ||
        edm_verp_address_parse(addr, kind, prefix, c->secret, c->secret_len, &id) != 0 ||
        id > INT64_MAX)
        return 0;
    return (int64_t)id;
}

/* The recipient a report names, lower-cased into out ("" if none): an
 * ARF's Original-Rcpt-To, a DSN's first failed (else delayed) recipient,
 * the one dsn() below applies. */
static void report_rcpt(const fb_report *r, char *out, size_t n)
{
    const char *a = r->kind == FB_KIND_ARF ? r->arf_rcpt : "";
    for (int want = FB_ACTION_FAILED; r->kind == FB_KIND_DSN && !*a && want <= FB_ACTION_DELAYED;
         want++)
        for (size_t i = 0; i < r->nrcpts && !*a; i++)
            if ((int)r->rcpts[i].action == want)
                a = r->rcpts[i].final_rcpt[0] ? r->rcpts[i].final_rcpt : r->rcpts[i].original_rcpt;
    size_t k = 0;
    for (; a[k] && k + 1 < n; k++)
        out[k] = (char)tolower((unsigned char)a[k]);
    out[k] = '\0';
}

/* The delivery a report is about: its tokens, then its Message-ID (when
 * several deliveries share it, the one to the recipient it names). */
static int64_t report_id(const edm_fb_ctx *c, const fb_report *r)
{
    uint64_t id;
    for (size_t i = 0; i < r->nbounce; i++)
        if (edm_verp_token_check(r->bounce_tokens[i], strlen(r->bounce_tokens[i]), EDM_VERP_BOUNCE,
                                 c->secret, c->secret_len, &id) == 0 &&
            id && id <= INT64_MAX)
            return (int64_t)id;
    for (size_t i = 0; i < r->nunsub; i++)
        if (edm_verp_token_check(r->unsub_tokens[i], strlen(r->unsub_tokens[i]), EDM_VERP_UNSUB,
                                 c->secret, c->secret_len, &id) == 0 &&
            id && id <= INT64_MAX)
            return (int64_t)id;
    int64_t found;
    char rcpt[256];
    report_rcpt(r, rcpt, sizeof rcpt);
    if (r->message_id[0] &&
        c->st->ops->delivery_by_message_id(c->st, r->message_id, rcpt, &found) == 0)
        return found;
    return 0;
}

static int dsn(const edm_fb_ctx *c, const fb_report *r, int64_t id, int64_t now, edm_fb_result *out)
{
    const fb_rcpt *x = NULL;
    for (size_t i = 0; i < r->nrcpts && x == NULL; i++)
        if (r->rcpts[i].action == FB_ACTION_FAILED)
            x = &r->rcpts[i];
    for (size_t i = 0; i < r->nrcpts && x == NULL; i++)
        if (r->rcpts[i].action == FB_ACTION_DELAYED)
            x = &r->rcpts[i];
    if (x == NULL)
        return 0; /* delivered, relayed, expanded: nothing to record */
    if (id == 0) {
        out->what = EDM_FB_UNMATCHED;
        return 0;
    }
    int failed = x->action == FB_ACTION_FAILED;
    classify_result v = classify_dsn(failed, x->code, x->status, x->diagnostic);
    edm_feedback_rec *f = edm_calloc(1, sizeof *f);
    if (f == NULL)
        return EDM_ENOMEM;
    f->delivery_id = id;
    f->type = EDM_EVENT_DSN;
    f->at = now;
    f->bounce = failed;
    f->event_status = v.status;
    f->code = x->code;
    snprintf(f->enhanced, sizeof f->enhanced, "%s", x->status);
    if (x->diagnostic[0])
        EDM_OUTCOME_PUT(f->text, x->diagnostic);
    else
        snprintf(f->text, sizeof f->text, "DSN %s %s", fb_action_name(x->action), x->status);
    EDM_OUTCOME_PUT(f->mx_host, x->remote_mta);
    f->category = failed ? v.category : EDM_CATEGORY_NONE;
    if (failed && edm_category_hard(v.category))
        f->suppress = "bounce";
    int rc = apply(c, f, failed ? EDM_FB_BOUNCED : EDM_FB_DELAYED, out);
    edm_free(f);
    return rc;
}

static int complaint(const edm_fb_ctx *c, const fb_report *r, int64_t id, int64_t now,
                     edm_fb_result *out)
{
    if (strcasecmp(r->feedback_type, "not-spam") == 0)
        return 0;
    if (id == 0) {
        out->what = EDM_FB_UNMATCHED;
        return 0;
    }
    edm_feedback_rec *f = edm_calloc(1, sizeof *f);
    if (f == NULL)
        return EDM_ENOMEM;
    f->delivery_id = id;
    f->type = EDM_EVENT_COMPLAINT;
    f->at = now;
    f->event_status = EDM_DSTATE_DELIVERED;
    snprintf(f->text, sizeof f->text, "feedback-type: %s",
             r->feedback_type[0] ? r->feedback_type : "abuse");
    f->suppress = "complaint";
    int rc = apply(c, f, EDM_FB_COMPLAINED, out);
    edm_free(f);
    return rc;
}

int edm_feedback_message(const edm_fb_ctx *c, const char *rcpt, const char *msg, size_t len,
                         int64_t now, edm_fb_result *out)
{
    memset(out, 0, sizeof *out);
    out->form = "";
    int64_t id = addr_id(c, rcpt, EDM_VERP_UNSUB, "unsubscribe");
    if (id) {
        char tok[EDM_VERP_TOKEN_MAX];
        int n = edm_verp_token(tok, EDM_VERP_UNSUB, c->secret, c->secret_len, (uint64_t)id);
        if (n < 0)
            return n;
        out->form = "mailto";
        int rc = edm_feedback_unsubscribe(c, tok, (size_t)n, now, out);
        out->form = "mailto";
        if (rc == EDM_ENOTFOUND) {
            out->what = EDM_FB_UNMATCHED;
            return 0;
        }
        return rc;
    }
    fb_report *r = edm_malloc(sizeof *r);
    if (r == NULL)
        return EDM_ENOMEM;
    int rc = fb_parse(msg, len, r);
    if (rc == 0) {
        out->form = r->form;
        int64_t env = addr_id(c, rcpt, EDM_VERP_BOUNCE, "bounces");
        if (r->kind == FB_KIND_DSN)
            rc = dsn(c, r, env ? env : report_id(c, r), now, out);
        else if (r->kind == FB_KIND_ARF)
            rc = complaint(c, r, report_id(c, r), now, out);
    }
    edm_free(r);
    return rc;
}
