/*
 * engine/message/message.c: render -> compose -> sign for one recipient (see
 * message.h). The per-recipient secrets (VERP token, unsubscribe token)
 * are HMACs of the delivery id, so bounces and unsubscribes can be traced
 * back to the delivery without a lookup table.
 */
#include "engine/message/message.h"
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/message/track.h"
#include "engine/message/verp.h"
#include "engine/store/rows.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int edm_message_worker_init(edm_message_worker *w)
{
    return edm_message_worker_init_with(w, NULL);
}

int edm_message_worker_init_with(edm_message_worker *w, edm_dkim_signer *signer)
{
    memset(w, 0, sizeof *w);
    edm_tpl_msg_init(&w->parts);
    w->mime = edm_mime_new();
    w->signer = signer ? signer : edm_dkim_signer_new();
    if (w->mime == NULL || w->signer == NULL) {
        edm_message_worker_free(w);
        return EDM_ENOMEM;
    }
    return 0;
}

void edm_message_worker_free(edm_message_worker *w)
{
    edm_tpl_msg_free(&w->parts);
    edm_mime_free(w->mime);
    edm_dkim_signer_free(w->signer);
    edm_buf_free(&w->composed);
    edm_buf_free(&w->scratch);
    edm_buf_free(&w->tracked);
    memset(w, 0, sizeof *w);
}

const char *edm_message_addr_domain(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return at && at[1] ? at + 1 : NULL;
}

int edm_message_parse_from(const char *from, char **addr, char **name)
{
    *addr = *name = NULL;
    edm_mailbox mb;
    const char *why;
    if (edm_addr_mailbox(from, strlen(from), &mb, &why) != 0)
        return EDM_EINVAL;
    *addr = edm_strndup(mb.addr, strlen(mb.addr));
    *name = mb.name ? edm_strndup(mb.name, mb.name_len) : NULL;
    if (*addr == NULL || (mb.name && *name == NULL)) {
        edm_free(*addr);
        edm_free(*name);
        *addr = *name = NULL;
        return EDM_ENOMEM;
    }
    return 0;
}

int edm_message_build(edm_message_worker *w, const edm_message_ctx *c, int64_t delivery_id,
                      const char *rcpt, const json_t *vars, int64_t now, int allow_8bit,
                      edm_buf *out, char **sender, char *msgid, int *is_8bit, char *err,
                      size_t errlen)
{
    *sender = NULL;
    if (is_8bit)
        *is_8bit = 0;
    err[0] = '\0';
    int rc;
    const char *from_domain = edm_message_addr_domain(c->from_addr);
    const char *bounce_domain = c->bounce_domain ? c->bounce_domain : from_domain;

    /* The VERP envelope sender and the List-Unsubscribe targets. */
    edm_buf_reset(&w->scratch);
    if ((rc = edm_verp_address(&w->scratch, EDM_VERP_BOUNCE, "bounces", bounce_domain, c->secret,
                               c->secret_len, (uint64_t)delivery_id)) != 0) {
        snprintf(err, errlen, "envelope sender: %s", edm_strerror(rc));
        return rc;
    }
    size_t sender_len = w->scratch.len;
    edm_buf_append_char(&w->scratch, '\0');
    /* One unsubscribe token for the mailto address and the URL. */
    char token[EDM_VERP_TOKEN_MAX];
    rc = edm_verp_token(token, EDM_VERP_UNSUB, c->secret, c->secret_len, (uint64_t)delivery_id);
    size_t mailto_off = w->scratch.len;
    if (rc >= 0)
        rc = edm_verp_address_token(&w->scratch, "unsubscribe", bounce_domain, token);
    if (rc != 0) {
        snprintf(err, errlen, "unsubscribe address: %s", edm_strerror(rc));
        return rc;
    }
    edm_buf_append_char(&w->scratch, '\0');
    size_t url_off = w->scratch.len;
    if (c->unsub_url && (rc = edm_verp_unsub_url(&w->scratch, c->unsub_url, token)) != 0) {
        snprintf(err, errlen, "unsubscribe url: %s", edm_strerror(rc));
        return rc;
    }
    /* The public listener's one-click endpoint (docs/feedback.md). */
    if (!c->unsub_url && c->public_url &&
        (rc = edm_buf_appendf(&w->scratch, "%s/u/%s", c->public_url, token)) != 0)
        return rc;
    const char *url = c->unsub_url || c->public_url ? "" : NULL;
    if (edm_buf_append_char(&w->scratch, '\0') != 0)
        return EDM_ENOMEM;

    /* The recipient's variables, with {{unsubscribe_url}}: the https URL
     * of List-Unsubscribe, else its mailto: (docs/templates.md), unless
     * the data names one. Campaign mail only. */
    json_t *own = NULL;
    int named =
        c->names_unsub_url ? c->names_unsub_url > 0 : edm_tpl_set_names(c->tpl, "unsubscribe_url");
    if (named && !c->no_unsubscribe && (vars == NULL || json_is_object(vars)) &&
        json_object_get(vars, "unsubscribe_url") == NULL) {
        own = vars ? json_copy((json_t *)vars) : json_object();
        json_t *link = url ? json_string(w->scratch.data + url_off)
                           : json_sprintf("mailto:%s", w->scratch.data + mailto_off);
        int bad = own == NULL || link == NULL;
        if (bad)
            json_decref(link);
        else /* takes link, also when it fails */
            bad = json_object_set_new(own, "unsubscribe_url", link) != 0;
        if (bad) {
            json_decref(own);
            return EDM_ENOMEM;
        }
    }
    edm_tpl_opts opts = {.strict = c->strict};
    edm_tpl_error terr;
    rc = edm_tpl_set_render(c->tpl, own ? own : vars, &opts, &w->parts, &terr);
    json_decref(own);
    if (rc != 0) {
        snprintf(err, errlen, "template %s: %s", terr.part[0] ? terr.part : "render", terr.msg);
        return rc;
    }

    /* Reply-To as the campaign gives it: "addr" or "Name <addr>", checked
     * by the validator the API uses (engine/base/addr.c). */
    edm_mailbox reply;
    char *reply_name = NULL;
    if (c->reply_to) {
        const char *why;
        if (edm_addr_mailbox(c->reply_to, strlen(c->reply_to), &reply, &why) != 0) {
            snprintf(err, errlen, "reply_to: %s", why);
            return EDM_EINVAL;
        }
        if (reply.name && (reply_name = edm_strndup(reply.name, reply.name_len)) == NULL)
            return EDM_ENOMEM;
    }
    /* Open and click tracking (docs/tracking.md), never in previews. */
    const char *html = edm_buf_cstr(&w->parts.html);
    size_t html_len = w->parts.html.len;
    if (c->track && c->public_url && delivery_id > 0 && edm_tpl_set_has_html(c->tpl)) {
        edm_track_opts to = {.base_url = c->public_url,
                             .unsub_prefix = c->unsub_url,
                             .opens = (c->track & EDM_TRACK_OPENS) != 0,
                             .clicks = (c->track & EDM_TRACK_CLICKS) != 0,
                             .secret = c->secret,
                             .secret_len = c->secret_len,
                             .delivery_id = (uint64_t)delivery_id};
        edm_buf_reset(&w->tracked);
        if ((rc = edm_track_rewrite(&to, html, html_len, &w->tracked)) != 0 ||
            (rc = edm_buf_append_char(&w->tracked, '\0')) != 0) {
            edm_free(reply_name);
            snprintf(err, errlen, "tracking: %s", edm_strerror(rc));
            return rc;
        }
        html = w->tracked.data;
        html_len = w->tracked.len - 1;
    }
    edm_mime_msg m = {
        .from_addr = c->from_addr,
        .from_name = c->from_name,
        .to_addr = rcpt,
        .to_name = c->to_name_from_vars && json_is_object(vars)
                       ? json_string_value(json_object_get(vars, EDM_MESSAGE_TO_NAME_VAR))
                       : NULL,
        .reply_to = c->reply_to ? reply.addr : NULL,
        .reply_to_name = reply_name,
        .subject = edm_buf_cstr(&w->parts.subject),
        .html = edm_tpl_set_has_html(c->tpl) ? html : NULL,
        .html_len = html_len,
        .text = edm_tpl_set_has_text(c->tpl) ? edm_buf_cstr(&w->parts.text) : NULL,
        .text_len = w->parts.text.len,
        .headers = c->headers,
        .n_headers = c->nheaders,
        .unsub_mailto = c->no_unsubscribe ? NULL : w->scratch.data + mailto_off,
        .unsub_url = url && !c->no_unsubscribe ? w->scratch.data + url_off : NULL,
        .feedback_id = c->feedback_id,
        .msgid_domain = c->msgid_domain,
        .date = now,
        .attachments = c->attachments,
        .n_attachments = c->n_attachments,
        .allow_8bit = allow_8bit,
    };
    edm_buf_reset(&w->composed);
    rc = edm_mime_compose(w->mime, &m, &w->composed);
    edm_free(reply_name);
    if (rc != 0) {
        snprintf(err, errlen, "compose: %s",
                 *edm_mime_error(w->mime) ? edm_mime_error(w->mime) : edm_strerror(rc));
        return rc;
    }
    size_t start = out->len;
    if (c->nkeys && (rc = edm_dkim_sign(w->signer, c->keys, c->nkeys, w->composed.data,
                                        w->composed.len, now, out)) != 0) {
        snprintf(err, errlen, "dkim: %s", edm_strerror(rc));
        return rc;
    }
    if ((rc = edm_buf_append(out, w->composed.data, w->composed.len)) != 0) {
        out->len = start;
        return rc;
    }
    snprintf(msgid, 256, "%s", edm_mime_message_id(w->mime));
    if (is_8bit)
        *is_8bit = edm_mime_is_8bit(w->mime);
    *sender = edm_strndup(w->scratch.data, sender_len);
    if (*sender == NULL) {
        out->len = start;
        return EDM_ENOMEM;
    }
    return 0;
}

int edm_message_preview(const json_t *tpl, const json_t *vars, const char *from, const char *to,
                        edm_dkim_key *const *keys, size_t nkeys, const char *unsub_url,
                        const char *bounce_domain, const char *msgid_domain,
                        const unsigned char *secret, size_t secret_len, edm_buf *out, char *err,
                        size_t errlen)
{
    char *addr = NULL, *name = NULL, *sender = NULL, msgid[256];
    edm_tpl_set *set = NULL;
    edm_tpl_error terr;
    /* Unnamed, a sender on the first key's domain (so the preview is
     * signed as that domain's mail would be) and the data's own email. */
    char from_buf[300];
    if (from == NULL) {
        snprintf(from_buf, sizeof from_buf, "preview@%s",
                 nkeys ? edm_dkim_key_domain(keys[0]) : "example.com");
        from = from_buf;
    }
    if (to == NULL) {
        const char *email =
            json_is_object(vars) ? json_string_value(json_object_get(vars, "email")) : NULL;
        to = email && edm_addr_sendable(email) ? email : "recipient@example.com";
    }
    int rc = edm_message_parse_from(from, &addr, &name);
    if (rc != 0) {
        snprintf(err, errlen, "from: not an email address: %s", from);
        return rc;
    }
    if ((rc = edm_tpl_set_compile(&set, tpl, &terr)) != 0) {
        snprintf(err, errlen, "template %s: %s", terr.part, terr.msg);
        edm_free(addr);
        edm_free(name);
        return rc;
    }
    const char *dom = edm_message_addr_domain(addr);
    edm_dkim_key *mine[8];
    size_t nmine = 0;
    for (size_t i = 0; dom && i < nkeys && nmine < 8; i++)
        if (strcasecmp(edm_dkim_key_domain(keys[i]), dom) == 0)
            mine[nmine++] = keys[i];
    edm_message_ctx c = {.tpl = set,
                         .from_addr = addr,
                         .from_name = name,
                         .unsub_url = unsub_url,
                         .bounce_domain = bounce_domain,
                         .msgid_domain = msgid_domain,
                         .keys = mine,
                         .nkeys = nmine,
                         .secret = secret,
                         .secret_len = secret_len};
    edm_message_worker w;
    if ((rc = edm_message_worker_init(&w)) == 0) {
        rc = edm_message_build(&w, &c, 0, to, vars, edm_time_now(), 0, out, &sender, msgid, NULL,
                               err, errlen);
        edm_message_worker_free(&w);
    }
    edm_free(sender);
    edm_tpl_set_free(set);
    edm_free(addr);
    edm_free(name);
    return rc;
}
