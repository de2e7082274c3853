/*
 * api/rows_json.c: campaign and template rows turned into the API's JSON
 * (see rows_json.h). A string that is NULL in the row is null; an id or a
 * time of 0 is null; times are RFC 3339 in UTC. Members come in the order
 * the API has always shown them.
 */
#include "api/rows_json.h"
#include "engine/base/timeutil.h"

static json_t *str(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *id_or_null(int64_t v)
{
    return v > 0 ? json_integer(v) : json_null();
}

static json_t *time_or_null(int64_t t)
{
    char buf[40];
    return t > 0 ? json_string(edm_time_rfc3339(t, buf, sizeof buf)) : json_null();
}

static json_t *pairs(const edm_row_pair *p, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++)
        json_object_set_new(o, p[i].name, json_string(p[i].value));
    return o;
}

json_t *api_template_json(const edm_template_row *t)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "id", json_integer(t->id));
    json_object_set_new(o, "name", str(t->name));
    json_object_set_new(o, "subject", str(t->subject));
    json_object_set_new(o, "html", str(t->html));
    json_object_set_new(o, "text", str(t->text));
    json_object_set_new(o, "partials", pairs(t->partials, t->npartials));
    json_object_set_new(o, "created_at", time_or_null(t->created_at));
    json_object_set_new(o, "updated_at", time_or_null(t->updated_at));
    return o;
}

json_t *api_campaign_json(const edm_campaign_row *c)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_t *tags = json_array();
    for (size_t i = 0; tags && i < c->ntags; i++)
        json_array_append_new(tags, json_string(c->tags[i]));
    json_object_set_new(o, "id", json_integer(c->id));
    json_object_set_new(o, "name", str(c->name));
    json_object_set_new(o, "template_id", id_or_null(c->template_id));
    json_object_set_new(o, "from", str(c->from));
    json_object_set_new(o, "reply_to", str(c->reply_to));
    json_object_set_new(o, "pool", str(c->pool));
    json_object_set_new(o, "status", json_string(edm_cstate_name(c->state)));
    json_object_set_new(o, "send_at", time_or_null(c->send_at));
    json_object_set_new(o, "headers", pairs(c->headers, c->nheaders));
    json_object_set_new(o, "tags", tags);
    json_object_set_new(o, "unsubscribe", str(c->unsubscribe));
    json_object_set_new(o, "max_per_hour", id_or_null(c->max_per_hour));
    json_object_set_new(o, "track",
                        json_pack("{s:b, s:b}", "opens", (c->track & EDM_TRACK_OPENS) != 0,
                                  "clicks", (c->track & EDM_TRACK_CLICKS) != 0));
    json_object_set_new(o, "created_at", time_or_null(c->created_at));
    json_object_set_new(o, "updated_at", time_or_null(c->updated_at));
    json_object_set_new(o, "started_at", time_or_null(c->started_at));
    json_object_set_new(o, "completed_at", time_or_null(c->completed_at));
    return o;
}

json_t *api_template_items(const edm_template_page *p)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < p->n; i++)
        json_array_append_new(a, api_template_json(&p->items[i]));
    return a;
}

json_t *api_campaign_items(const edm_campaign_page *p)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < p->n; i++)
        json_array_append_new(a, api_campaign_json(&p->items[i]));
    return a;
}
