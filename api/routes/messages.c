/*
 * api/routes/messages.c: /v1/messages, transactional messages (docs/api.md,
 * "Transactional messages"): POST creates one message to up to 1,000
 * recipients and answers 202 {id, recipients: [{id, email, status}]} once
 * it is committed to the store (Idempotency-Key honoured by the router);
 * GET /v1/messages/{id} gives it with its recipients' receipts; GET
 * /v1/messages?tag=&status=&after=&limit= lists them.
 *
 * Fields: from, to (addresses or {email, name, vars}), reply_to, either
 * subject + html/text or template_id (+ vars for every recipient),
 * headers (X- names and a short allow-list; engine/base/header.c checks
 * names and values), tags, pool, send_at, attachments (checked and decoded
 * by messages_attach.c, stored once with the message). A wrong one answers
 * 422 naming it (to[3].email, headers.Bcc, attachments[1].content);
 * nothing is stored then.
 */
#include "api/api_int.h"
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/message/message.h"
#include "engine/store/vars.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RECIPIENTS 1000

static const char *const message_fields[] = {
    "from",    "to",   "reply_to", "subject", "html",  "text",        "template_id", "vars",
    "headers", "tags", "pool",     "send_at", "track", "attachments", NULL};

/* Header fields a transactional message may set besides X-*. */
static const char *const allowed_headers[] = {"Auto-Submitted", "Precedence", "Importance",
                                              "Priority",       "Keywords",   "Comments",
                                              "List-Id",        NULL};

static int header_allowed(const char *name)
{
    if (strncasecmp(name, "X-", 2) == 0)
        return 1;
    for (size_t i = 0; allowed_headers[i]; i++)
        if (strcasecmp(name, allowed_headers[i]) == 0)
            return 1;
    return 0;
}

/* One parsed recipient. */
typedef struct rcpt {
    char email[EDM_ADDR_MAX];
    size_t domain_off;
    char *vars;  /* JSON text or NULL */
    char *names; /* or the compact parts (engine/store/vars.h), or NULL */
    unsigned char *vals;
    size_t vals_len;
} rcpt;

static void rcpts_free(rcpt *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        edm_free(r[i].vars);
        edm_free(r[i].names);
        edm_free(r[i].vals);
    }
    edm_free(r);
}

/* 1 if a string anywhere in v holds a NUL character (the store and the
 * templates take none: docs/messages.md). */
static int holds_nul(const json_t *v)
{
    if (json_is_string(v))
        return memchr(json_string_value(v), '\0', json_string_length(v)) != NULL;
    const char *k;
    size_t i;
    json_t *m;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, m)
        {
            if (holds_nul(m))
                return 1;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, m)
        {
            if (holds_nul(m))
                return 1;
        }
    }
    return 0;
}

/* to[i]: "addr" or {email, name?, vars?}, with the message's vars under
 * the recipient's. */
static int parse_rcpt(api_call *c, json_t *v, size_t i, json_t *common, rcpt *out)
{
    char field[48];
    const char *email = NULL;
    json_t *vars = NULL, *name = NULL, *ev = v;
    if (json_is_string(v)) {
        email = json_string_value(v);
        snprintf(field, sizeof field, "to[%zu]", i);
    } else if (json_is_object(v)) {
        snprintf(field, sizeof field, "to[%zu].email", i);
        ev = json_object_get(v, "email");
        email = json_string_value(ev);
        vars = json_object_get(v, "vars");
        name = json_object_get(v, "name");
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m)
        {
            if (strcmp(k, "email") && strcmp(k, "name") && strcmp(k, "vars")) {
                api_error(c, 422, "unknown_field", field, "to[%zu] has an unknown field %.60s", i,
                          k);
                return -1;
            }
        }
        if ((vars && !json_is_object(vars) && !json_is_null(vars)) ||
            (name && !json_is_string(name) && !json_is_null(name))) {
            snprintf(field, sizeof field, "to[%zu]", i);
            api_error(c, 422, "invalid_type", field, "%s: name must be a string and vars an object",
                      field);
            return -1;
        }
    } else {
        snprintf(field, sizeof field, "to[%zu]", i);
        api_error(c, 422, "invalid_type", field, "%s must be an address or {email, name, vars}",
                  field);
        return -1;
    }
    if (holds_nul(name) || holds_nul(vars)) {
        snprintf(field, sizeof field, "to[%zu].%s", i, holds_nul(name) ? "name" : "vars");
        api_error(c, 422, "invalid", field, "%s must not contain NUL characters", field);
        return -1;
    }
    const char *why = "missing";
    if (email == NULL || strlen(email) != json_string_length(ev) ||
        edm_addr_normalize(email, strlen(email), out->email, &out->domain_off, &why) != 0) {
        api_error(c, 422, "invalid_address", field, "%s is not a valid address: %s", field, why);
        return -1;
    }
    json_t *all = json_object();
    if (common)
        json_object_update(all, common);
    if (json_is_object(vars))
        json_object_update(all, vars);
    /* {{name}}: the recipient's own vars first, then to[i].name, then the
     * message's vars (what is said of one recipient beats what is said
     * of all) */
    if (json_is_string(name) && !json_object_get(vars, "name"))
        json_object_set(all, "name", name);
    /* the To display name (engine/message/message.h) */
    if (json_is_string(name) && json_string_length(name) > 0)
        json_object_set(all, EDM_MESSAGE_TO_NAME_VAR, name);
    /* all strings: stored compactly, as an upload's; else JSON text */
    edm_buf names = EDM_BUF_INIT, vals = EDM_BUF_INIT;
    if (edm_vars_from_object(all, &names, &vals) == 1) {
        out->names = edm_buf_detach(&names, NULL);
        out->vals_len = vals.len;
        out->vals = (unsigned char *)edm_buf_detach(&vals, NULL);
    } else {
        out->vars = json_object_size(all) ? json_dumps(all, JSON_COMPACT) : NULL;
    }
    edm_buf_free(&names);
    edm_buf_free(&vals);
    json_decref(all);
    return 0;
}

/* The content: subject + html/text (compiled now, so that a template error
 * is a 422 and not a failed receipt later) or template_id. */
static int check_content(api_call *c, json_t *b, int64_t *template_id)
{
    const char *s;
    int64_t n;
    *template_id = 0;
    int r = api_field_int(c, b, "template_id", 0, 1, INT64_MAX, &n);
    if (r < 0)
        return -1;
    int has_inline =
        json_object_get(b, "subject") || json_object_get(b, "html") || json_object_get(b, "text");
    if (r > 0 && has_inline) {
        api_error(c, 422, "invalid", "template_id",
                  "give either template_id or subject with html/text, not both");
        return -1;
    }
    if (r > 0) {
        if (api_check_template(c, n) != 0)
            return -1;
        *template_id = n;
        return 0;
    }
    if (api_field_string(c, b, "subject", 1, 998, &s) < 0)
        return -1;
    if (api_field_string(c, b, "html", 0, 0, &s) < 0 ||
        api_field_string(c, b, "text", 0, 0, &s) < 0)
        return -1;
    if (!json_is_string(json_object_get(b, "html")) &&
        !json_is_string(json_object_get(b, "text"))) {
        api_error(c, 422, "required", "html", "html or text is required with subject");
        return -1;
    }
    json_t *tpl = json_object();
    const char *parts[] = {"subject", "html", "text"};
    for (int i = 0; i < 3; i++)
        if (json_is_string(json_object_get(b, parts[i])))
            json_object_set(tpl, parts[i], json_object_get(b, parts[i]));
    int rc = api_template_compile_check(c, tpl);
    json_decref(tpl);
    return rc;
}

static int check_message(api_call *c, json_t *b, int64_t *template_id, int64_t *send_at)
{
    if (api_fields_known(c, b, message_fields) != 0)
        return -1;
    if (api_check_sender(c, b, 1) != 0)
        return -1;
    if (api_field_time(c, b, "send_at", 0, send_at) < 0)
        return -1;
    json_t *h = json_object_get(b, "headers");
    if (h && !json_is_null(h)) {
        if (api_check_headers(c, h) != 0)
            return -1;
        const char *k;
        json_t *v;
        json_object_foreach(h, k, v)
        {
            if (!header_allowed(k)) {
                char field[120];
                snprintf(field, sizeof field, "headers.%.100s", k);
                api_error(c, 422, "reserved", field,
                          "%s cannot be set: only X- fields and Auto-Submitted, Precedence, "
                          "Importance, Priority, Keywords, Comments, List-Id",
                          field);
                return -1;
            }
        }
    }
    json_t *t = json_object_get(b, "tags");
    if (t && !json_is_null(t) && api_check_tags(c, t) != 0)
        return -1;
    json_t *vars = json_object_get(b, "vars");
    if (vars && !json_is_null(vars) && !json_is_object(vars)) {
        api_error(c, 422, "invalid_type", "vars", "vars must be an object");
        return -1;
    }
    if (holds_nul(vars)) {
        api_error(c, 422, "invalid", "vars", "vars must not contain NUL characters");
        return -1;
    }
    if (check_content(c, b, template_id) != 0)
        return -1;
    unsigned bits;
    if (api_check_track(c, b, &bits) != 0)
        return -1;
    json_t *to = json_object_get(b, "to");
    if (!json_is_array(to) || json_array_size(to) == 0 || json_array_size(to) > MAX_RECIPIENTS) {
        api_error(c, 422, json_is_array(to) ? "invalid" : "required", "to",
                  "to must be an array of 1 to %d recipients", MAX_RECIPIENTS);
        return -1;
    }
    return 0;
}

static const char *outcome_status(enum edm_add_outcome o)
{
    switch (o) {
    case EDM_ADD_ACCEPTED: return "queued";
    case EDM_ADD_SUPPRESSED: return "suppressed";
    case EDM_ADD_DUPLICATE: return "duplicate";
    }
    return "queued";
}

void api_messages_create(api_call *c)
{
    json_t *b = c->body;
    int64_t template_id, send_at;
    if (check_message(c, b, &template_id, &send_at) != 0)
        return;
    json_t *to = json_object_get(b, "to");
    size_t n = json_array_size(to);
    rcpt *rs = edm_xcalloc(n, sizeof *rs);
    edm_recipient *er = edm_xcalloc(n, sizeof *er);
    int64_t *ids = edm_xcalloc(n, sizeof *ids);
    enum edm_add_outcome *outs = edm_xcalloc(n, sizeof *outs);
    json_t *common = json_object_get(b, "vars");
    api_attachments att = {0};
    for (size_t i = 0; i < n; i++) {
        if (parse_rcpt(c, json_array_get(to, i), i, json_is_object(common) ? common : NULL,
                       &rs[i]) != 0)
            goto out;
        er[i] = (edm_recipient){rs[i].email, rs[i].email + rs[i].domain_off,
                                rs[i].vars,  rs[i].names,
                                rs[i].vals,  rs[i].vals_len};
    }
    /* after the recipients: a bad address answers before megabytes are
     * decoded */
    if (api_message_attachments(c, b, &att) != 0 ||
        api_message_attachments_inline(c, b, template_id, &att) != 0)
        goto out;
    json_t *h = json_object_get(b, "headers"), *t = json_object_get(b, "tags");
    char *hj = json_is_object(h) ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char *tj = json_is_array(t) ? json_dumps(t, JSON_COMPACT) : NULL;
    edm_message_new m = {
        .source = "api",
        .from = json_string_value(json_object_get(b, "from")),
        .reply_to = json_string_value(json_object_get(b, "reply_to")),
        .pool = json_string_value(json_object_get(b, "pool")),
        .send_at = send_at > 0 ? send_at : 0,
        .headers_json = hj,
        .tags_json = tj,
        .template_id = template_id,
        .subject = json_string_value(json_object_get(b, "subject")),
        .html = json_string_value(json_object_get(b, "html")),
        .text = json_string_value(json_object_get(b, "text")),
        .attachments = att.items,
        .nattachments = att.n,
        .rcpts = er,
        .nrcpts = n,
    };
    if (api_check_track(c, b, &m.track) != 0) {
        free(hj); /* 422 already answered */
        free(tj);
        goto out;
    }
    edm_store *st = c->api->store;
    int64_t id;
    int rc = st->ops->message_create(st, &m, edm_time_now(), &id, ids, outs);
    free(hj);
    free(tj);
    if (rc != 0) {
        api_store_error(c, rc, "message");
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o =
            json_pack("{s:s, s:s}", "email", rs[i].email, "status", outcome_status(outs[i]));
        json_object_set_new(o, "id", ids[i] ? json_integer(ids[i]) : json_null());
        json_array_append_new(arr, o);
    }
    const edm_api_engine *e = &c->api->engine;
    if (e->message_queued)
        e->message_queued(e->ctx, id);
    api_reply(c, 202, json_pack("{s:I, s:o}", "id", (json_int_t)id, "recipients", arr));
out:
    api_attachments_free(&att);
    rcpts_free(rs, n);
    edm_free(er);
    edm_free(ids);
    edm_free(outs);
}

/* A message's counts name every delivery state, 0 for those none of its
 * recipients is in, as a campaign's stats do (the store counts the
 * states it saw). */
static void counts_complete(json_t *msg)
{
    json_t *seen = json_object_get(msg, "counts"), *all = json_object();
    for (int s = 0; s < EDM_DSTATE_COUNT; s++) {
        const char *name = edm_dstate_name((enum edm_dstate)s);
        json_t *n = seen ? json_object_get(seen, name) : NULL;
        json_object_set_new(all, name, json_integer(n ? json_integer_value(n) : 0));
    }
    json_object_set_new(msg, "counts", all);
}

void api_messages_get(api_call *c)
{
    edm_store *st = c->api->store;
    json_t *o = NULL;
    int rc = c->id > 0 ? st->ops->message_get(st, c->id, &o) : EDM_ENOTFOUND;
    if (rc != 0) {
        api_store_error(c, rc, "message");
        return;
    }
    counts_complete(o);
    api_reply(c, 200, o);
}

void api_messages_list(api_call *c)
{
    int limit;
    int64_t after;
    if (api_paging(c, &limit, &after) != 0)
        return;
    char tag[256], status[32];
    int rt = api_query(c, "tag", tag, sizeof tag);
    int rs = api_query(c, "status", status, sizeof status);
    if (rt < 0) {
        api_error(c, 422, "invalid", "tag", "tag is too long or malformed");
        return;
    }
    if (rs < 0 || (rs > 0 && edm_dstate_parse(status) < 0)) {
        api_error(c, 422, "invalid", "status",
                  "status must be one of queued, deferred, delivered, bounced, suppressed, "
                  "failed, cancelled");
        return;
    }
    edm_page page = {0};
    edm_store *st = c->api->store;
    int rc =
        st->ops->message_list(st, rt > 0 ? tag : NULL, rs > 0 ? status : NULL, after, limit, &page);
    if (rc != 0) {
        api_store_error(c, rc, "message");
        return;
    }
    size_t i;
    json_t *m;
    json_array_foreach(page.items, i, m) counts_complete(m);
    api_reply(c, 200, api_list(page.items, page.next));
    page.items = NULL;
    edm_page_free(&page);
}
