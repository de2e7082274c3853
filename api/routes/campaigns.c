/*
 * api/routes/campaigns.c: /v1/campaigns: create (201), list (?status=), get,
 * PATCH (draft, scheduled or paused), delete (draft, completed or
 * cancelled; 204), the lifecycle actions schedule / pause / resume / cancel
 * (rules in engine/campaign/lifecycle.c; 409 from a wrong state), and stats.
 *
 * Fields: name, template_id, from, reply_to, pool, send_at, headers, tags,
 * unsubscribe, max_per_hour, track. Each is checked here and a wrong one is
 * answered 422 with its name in "field" (headers.X-Name for one header).
 * null unsets a field (its default: pool "default", headers {}, tags [],
 * track both off),
 * except name and from, which cannot be null.
 */
#include "api/api_int.h"
#include "api/rows_json.h"
#include "engine/base/addr.h"
#include "engine/base/header.h"
#include "engine/base/err.h"
#include "engine/campaign/lifecycle.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <string.h>

static const char *const campaign_fields[] = {"name",        "template_id",  "from",    "reply_to",
                                              "pool",        "send_at",      "headers", "tags",
                                              "unsubscribe", "max_per_hour", "track",   NULL};

int api_check_track(api_call *c, json_t *b, unsigned *bits)
{
    *bits = 0;
    json_t *t = json_object_get(b, "track");
    if (t == NULL || json_is_null(t))
        return 0;
    if (!json_is_object(t)) {
        api_error(c, 422, "invalid_type", "track", "track must be an object {opens, clicks}");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(t, k, v)
    {
        char field[80];
        snprintf(field, sizeof field, "track.%.60s", k);
        if (strcmp(k, "opens") != 0 && strcmp(k, "clicks") != 0) {
            api_error(c, 422, "unknown_field", field, "unknown field %s", field);
            return -1;
        }
        if (!json_is_boolean(v)) {
            api_error(c, 422, "invalid_type", field, "%s must be true or false", field);
            return -1;
        }
        if (json_is_true(v))
            *bits |= strcmp(k, "opens") == 0 ? EDM_TRACK_OPENS : EDM_TRACK_CLICKS;
    }
    return 0;
}

/* "addr@x" or "Display Name <addr@x>": the validator the composer uses
 * (engine/base/addr.c), so an accepted address is one edm can send. */
int api_check_mailbox(api_call *c, const char *field, const char *v)
{
    edm_mailbox mb;
    const char *why;
    if (edm_addr_mailbox(v, strlen(v), &mb, &why) != 0) {
        api_error(c, 422, "invalid_address", field, "%s is not a valid address: %s", field, why);
        return -1;
    }
    return 0;
}

/* from (required or not), reply_to and pool. */
int api_check_sender(api_call *c, json_t *b, int from_required)
{
    const char *s;
    int r;
    if ((r = api_field_string(c, b, "from", from_required, 998, &s)) < 0 ||
        (r > 0 && api_check_mailbox(c, "from", s) != 0))
        return -1;
    if ((r = api_field_string(c, b, "reply_to", 0, 998, &s)) < 0 ||
        (r > 0 && api_check_mailbox(c, "reply_to", s) != 0))
        return -1;
    if ((r = api_field_string(c, b, "pool", 0, 100, &s)) < 0)
        return -1;
    const edm_api_engine *e = &c->api->engine;
    if (r > 0 && e->pool_exists && !e->pool_exists(e->ctx, s)) {
        api_error(c, 422, "not_found", "pool", "no pool named %.100s is configured", s);
        return -1;
    }
    return 0;
}

/* template_id names a stored template. */
int api_check_template(api_call *c, int64_t id)
{
    edm_store *st = c->api->store;
    int rc = st->ops->template_get(st, id, NULL);
    if (rc == EDM_ENOTFOUND) {
        api_error(c, 422, "not_found", "template_id", "no template %lld", (long long)id);
        return -1;
    }
    if (rc != 0) {
        api_store_error(c, rc, "template");
        return -1;
    }
    return 0;
}

/* Names and values as the composer writes them (engine/base/header.c). */
int api_check_headers(api_call *c, json_t *h)
{
    if (!json_is_object(h)) {
        api_error(c, 422, "invalid_type", "headers", "headers must be an object of name -> value");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(h, k, v)
    {
        char field[120];
        snprintf(field, sizeof field, "headers.%.100s", k);
        switch (edm_header_name_check(k)) {
        case EDM_HEADER_NAME_OK: break;
        case EDM_HEADER_NAME_INVALID:
            api_error(c, 422, "invalid", field, "%s is not a valid header field name", field);
            return -1;
        case EDM_HEADER_NAME_RESERVED:
            api_error(c, 422, "reserved", field, "%s is set by edm and cannot be given", field);
            return -1;
        }
        if (!json_is_string(v)) {
            api_error(c, 422, "invalid_type", field, "%s must be a string", field);
            return -1;
        }
        const char *why;
        if (edm_header_value_check(json_string_value(v), json_string_length(v), &why) != 0) {
            api_error(c, 422, "invalid", field, "%s %s", field, why);
            return -1;
        }
    }
    return 0;
}

int api_check_tags(api_call *c, json_t *t)
{
    if (!json_is_array(t) || json_array_size(t) > 100) {
        api_error(c, 422, "invalid_type", "tags", "tags must be an array of at most 100 strings");
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(t, i, v)
    {
        char field[32];
        snprintf(field, sizeof field, "tags[%zu]", i);
        if (!json_is_string(v) || json_string_length(v) > 200) {
            api_error(c, 422, "invalid_type", field, "%s must be a string of at most 200 bytes",
                      field);
            return -1;
        }
        if (api_check_text(c, field, v, 1) != 0)
            return -1;
    }
    return 0;
}

/* Validates a create (creating = 1) or PATCH body. */
static int campaign_check(api_call *c, json_t *b, int creating)
{
    const char *s;
    int64_t n;
    if (api_fields_known(c, b, campaign_fields) != 0)
        return -1;
    /* name and from cannot be unset (null) */
    static const char *const needed[] = {"name", "from"};
    for (size_t i = 0; i < 2; i++)
        if (json_is_null(json_object_get(b, needed[i]))) {
            api_error(c, 422, "required", needed[i], "%s cannot be null", needed[i]);
            return -1;
        }
    if (api_field_string(c, b, "name", creating, 200, &s) < 0)
        return -1;
    if (s && s[0] == '\0') {
        api_error(c, 422, "invalid", "name", "name must not be empty");
        return -1;
    }
    int r = api_field_int(c, b, "template_id", 0, 1, INT64_MAX, &n);
    if (r < 0)
        return -1;
    if (r > 0 && api_check_template(c, n) != 0)
        return -1;
    if (api_check_sender(c, b, creating) != 0)
        return -1;
    if (api_field_time(c, b, "send_at", 0, &n) < 0)
        return -1;
    json_t *h = json_object_get(b, "headers");
    if (h && !json_is_null(h) && api_check_headers(c, h) != 0)
        return -1;
    json_t *t = json_object_get(b, "tags");
    if (t && !json_is_null(t) && api_check_tags(c, t) != 0)
        return -1;
    if ((r = api_field_string(c, b, "unsubscribe", 0, 2000, &s)) < 0)
        return -1;
    if (r > 0 && (strncmp(s, "https://", 8) != 0 || strlen(s) < 12 || strpbrk(s, " \r\n<>\""))) {
        api_error(c, 422, "invalid", "unsubscribe", "unsubscribe must be an https:// URL");
        return -1;
    }
    if (api_field_int(c, b, "max_per_hour", 0, 1, 100000000, &n) < 0)
        return -1;
    unsigned bits;
    if (api_check_track(c, b, &bits) != 0)
        return -1;
    /* null for these is their default (the store keeps no null there) */
    if (json_is_null(json_object_get(b, "pool")))
        json_object_set_new(b, "pool", json_string("default"));
    if (json_is_null(json_object_get(b, "headers")))
        json_object_set_new(b, "headers", json_object());
    if (json_is_null(json_object_get(b, "tags")))
        json_object_set_new(b, "tags", json_array());
    if (json_is_null(json_object_get(b, "track")))
        json_object_set_new(b, "track", json_pack("{s:b,s:b}", "opens", 0, "clicks", 0));
    return 0;
}

void api_campaigns_create(api_call *c)
{
    if (campaign_check(c, c->body, 1) != 0)
        return;
    edm_store *st = c->api->store;
    edm_campaign_row row;
    int rc = st->ops->campaign_create(st, c->body, &row);
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return;
    }
    api_reply(c, 201, api_campaign_json(&row));
    edm_campaign_row_clear(&row);
}

void api_campaigns_list(api_call *c)
{
    int limit;
    int64_t after;
    if (api_paging(c, &limit, &after) != 0)
        return;
    char status[32];
    int r = api_query(c, "status", status, sizeof status);
    if (r < 0 || (r > 0 && edm_cstate_parse(status) < 0)) {
        api_error(c, 422, "invalid", "status",
                  "status must be one of draft, scheduled, running, paused, completed, "
                  "cancelled");
        return;
    }
    edm_campaign_page page = {0};
    edm_store *st = c->api->store;
    int rc = st->ops->campaign_list(st, r > 0 ? edm_cstate_parse(status) : -1, after, limit, &page);
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return;
    }
    api_reply(c, 200, api_list(api_campaign_items(&page), page.next));
    edm_campaign_page_free(&page);
}

/* Loads the campaign of the path into *row; answers 404 (or the store's
 * error) and returns -1 if none. */
static int load(api_call *c, edm_campaign_row *row)
{
    edm_store *st = c->api->store;
    int rc = c->id > 0 ? st->ops->campaign_get(st, c->id, row) : EDM_ENOTFOUND;
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return -1;
    }
    return 0;
}

/* Answers the campaign of the path as it is now. */
static void reply_campaign(api_call *c, int status)
{
    edm_campaign_row row;
    if (load(c, &row) != 0)
        return;
    api_reply(c, status, api_campaign_json(&row));
    edm_campaign_row_clear(&row);
}

/* The state of the campaign of the path; -1 if answered (404). */
static int load_state(api_call *c, enum edm_cstate *state)
{
    edm_campaign_row row;
    if (load(c, &row) != 0)
        return -1;
    *state = row.state;
    edm_campaign_row_clear(&row);
    return 0;
}

void api_campaigns_get(api_call *c)
{
    reply_campaign(c, 200);
}

void api_campaigns_patch(api_call *c)
{
    enum edm_cstate s;
    if (load_state(c, &s) != 0)
        return;
    if (!edm_lifecycle_can_edit(s)) {
        api_error(c, 409, "wrong_state", NULL,
                  "a %s campaign cannot be changed (only draft, scheduled or paused)",
                  edm_cstate_name(s));
        return;
    }
    if (campaign_check(c, c->body, 0) != 0)
        return;
    edm_store *st = c->api->store;
    edm_campaign_row row;
    int rc = st->ops->campaign_update(st, c->id, c->body, &row);
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return;
    }
    api_reply(c, 200, api_campaign_json(&row));
    edm_campaign_row_clear(&row);
}

void api_campaigns_delete(api_call *c)
{
    enum edm_cstate s;
    if (load_state(c, &s) != 0)
        return;
    if (!edm_lifecycle_can_delete(s)) {
        api_error(c, 409, "wrong_state", NULL, "a %s campaign cannot be deleted (cancel it first)",
                  edm_cstate_name(s));
        return;
    }
    edm_store *st = c->api->store;
    int rc = st->ops->campaign_delete(st, c->id);
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return;
    }
    api_reply_empty(c, 204);
}

static const char *mask_names(unsigned mask, char *out, size_t n)
{
    out[0] = '\0';
    for (int s = 0; s < EDM_CSTATE_COUNT; s++)
        if (mask & EDM_CSTATE_BIT(s)) {
            size_t l = strlen(out);
            snprintf(out + l, n - l, "%s%s", l ? " or " : "", edm_cstate_name(s));
        }
    return out;
}

static void lifecycle(api_call *c, enum edm_lifecycle_action a, int64_t send_at)
{
    enum edm_cstate to, from = EDM_CSTATE_DRAFT;
    edm_store *st = c->api->store;
    int rc = c->id > 0 ? edm_lifecycle_apply(st, c->id, a, send_at, edm_time_now(), &to, &from)
                       : EDM_ENOTFOUND;
    if (rc == EDM_ESTATE) {
        char allowed[96];
        {
            api_error(c, 409, "wrong_state", NULL, "cannot %s a %s campaign (only %s)",
                      edm_lifecycle_action_name(a), edm_cstate_name(from),
                      mask_names(edm_lifecycle_from_mask(a), allowed, sizeof allowed));
            return;
        }
    }
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return;
    }
    edm_log(EDM_LOG_INFO, "api", "campaign=%lld action=%s state=%s->%s", (long long)c->id,
            edm_lifecycle_action_name(a), edm_cstate_name(from), edm_cstate_name(to));
    const edm_api_engine *e = &c->api->engine;
    if (e->campaign_changed)
        e->campaign_changed(e->ctx, c->id, to);
    reply_campaign(c, 200);
}

void api_campaigns_schedule(api_call *c)
{
    static const char *const fields[] = {"send_at", NULL};
    int64_t send_at;
    if (api_fields_known(c, c->body, fields) != 0 ||
        api_field_time(c, c->body, "send_at", 0, &send_at) < 0)
        return;
    edm_campaign_row cur;
    if (load(c, &cur) != 0)
        return;
    enum edm_cstate s = cur.state;
    if (send_at < 0 && cur.send_at > 0)
        send_at = cur.send_at; /* no send_at given: the campaign's own */
    if (send_at < 0)
        send_at = edm_time_now(); /* neither: now */
    int has_template = cur.template_id > 0;
    edm_campaign_row_clear(&cur);
    if (!has_template && (EDM_CSTATE_BIT(s) & edm_lifecycle_from_mask(EDM_LIFECYCLE_SCHEDULE))) {
        api_error(c, 422, "required", "template_id",
                  "the campaign has no template_id: set one with PATCH first");
        return;
    }
    lifecycle(c, EDM_LIFECYCLE_SCHEDULE, send_at);
}

static void simple_action(api_call *c, enum edm_lifecycle_action a)
{
    static const char *const none[] = {NULL};
    if (api_fields_known(c, c->body, none) != 0)
        return;
    lifecycle(c, a, -1);
}

void api_campaigns_pause(api_call *c)
{
    simple_action(c, EDM_LIFECYCLE_PAUSE);
}

void api_campaigns_resume(api_call *c)
{
    simple_action(c, EDM_LIFECYCLE_RESUME);
}

void api_campaigns_cancel(api_call *c)
{
    simple_action(c, EDM_LIFECYCLE_CANCEL);
}

void api_campaigns_stats(api_call *c)
{
    enum edm_cstate s;
    if (load_state(c, &s) != 0)
        return;
    edm_store *st = c->api->store;
    json_t *out = NULL;
    int rc = st->ops->campaign_stats(st, c->id, &out);
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return;
    }
    const edm_api_engine *e = &c->api->engine;
    double rate = e->campaign_rate ? e->campaign_rate(e->ctx, c->id) : 0.0;
    json_object_set_new(out, "campaign_id", json_integer(c->id));
    json_object_set_new(out, "status", json_string(edm_cstate_name(s)));
    json_object_set_new(out, "rate", json_real(rate));
    api_reply(c, 200, out);
}
