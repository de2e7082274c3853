/*
 * api/routes/templates.c: /v1/templates: create (201), list, get, replace (PUT),
 * delete (204; 409 while a live campaign uses it), preview.
 *
 * A template is {name, subject, html, text, partials}: name and subject
 * required, html or text (at least one), partials an object of name ->
 * source; it must compile (preview.c) before it is stored. PUT replaces
 * the whole template: a part it leaves out (or null) is gone.
 * Header-bound text (name, subject) may not hold NUL; every string is
 * checked for NUL bytes.
 */
#include "api/api_int.h"
#include "api/rows_json.h"
#include "engine/base/err.h"

#include <string.h>

#define TEMPLATE_MAX_TEXT (4 * 1024 * 1024)

static const char *const template_fields[] = {"name", "subject", "html", "text", "partials", NULL};

/* Checks a create/replace body; answers 422 and returns -1 if wrong. */
static int template_check(api_call *c, json_t *b)
{
    const char *s;
    if (api_fields_known(c, b, template_fields) != 0 ||
        api_field_string(c, b, "name", 1, 200, &s) < 0 ||
        api_field_string(c, b, "subject", 1, 998, &s) < 0)
        return -1;
    int h = api_field_string(c, b, "html", 0, TEMPLATE_MAX_TEXT, &s);
    if (h < 0)
        return -1;
    int t = api_field_string(c, b, "text", 0, TEMPLATE_MAX_TEXT, &s);
    if (t < 0)
        return -1;
    if (h == 0 && t == 0) {
        api_error(c, 422, "required", "html", "a template needs html or text (or both)");
        return -1;
    }
    if (json_string_length(json_object_get(b, "name")) == 0) {
        api_error(c, 422, "invalid", "name", "name must not be empty");
        return -1;
    }
    json_t *p = json_object_get(b, "partials");
    if (p && !json_is_null(p)) {
        if (!json_is_object(p)) {
            api_error(c, 422, "invalid_type", "partials",
                      "partials must be an object of name -> template source");
            return -1;
        }
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v)
        {
            char field[160];
            snprintf(field, sizeof field, "partials.%.100s", k);
            if (!json_is_string(v)) {
                api_error(c, 422, "invalid_type", field, "%s must be a string", field);
                return -1;
            }
            if (api_check_text(c, field, v, 0) != 0)
                return -1;
        }
    }
    return api_template_compile_check(c, b);
}

/* The whole template a create or PUT stores: a part not given (or null)
 * is none (html, text) or empty (partials), so PUT replaces every field. */
static json_t *template_body(json_t *b)
{
    json_t *p = json_object_get(b, "partials");
    json_t *t = json_pack("{s:O,s:O,s:O*,s:O*,s:o}", "name", json_object_get(b, "name"), "subject",
                          json_object_get(b, "subject"), "html", json_object_get(b, "html"), "text",
                          json_object_get(b, "text"), "partials",
                          p && !json_is_null(p) ? json_incref(p) : json_object());
    if (t == NULL)
        EDM_PANIC("out of memory");
    if (json_object_get(t, "html") == NULL)
        json_object_set_new(t, "html", json_null());
    if (json_object_get(t, "text") == NULL)
        json_object_set_new(t, "text", json_null());
    return t;
}

void api_templates_create(api_call *c)
{
    if (template_check(c, c->body) != 0)
        return;
    edm_store *st = c->api->store;
    edm_template_row t;
    json_t *body = template_body(c->body);
    int rc = st->ops->template_create(st, body, &t);
    json_decref(body);
    if (rc != 0) {
        api_store_error(c, rc, "template");
        return;
    }
    api_reply(c, 201, api_template_json(&t));
    edm_template_row_clear(&t);
}

void api_templates_list(api_call *c)
{
    int limit;
    int64_t after;
    if (api_paging(c, &limit, &after) != 0)
        return;
    edm_template_page page = {0};
    edm_store *st = c->api->store;
    int rc = st->ops->template_list(st, after, limit, &page);
    if (rc != 0) {
        api_store_error(c, rc, "template");
        return;
    }
    api_reply(c, 200, api_list(api_template_items(&page), page.next));
    edm_template_page_free(&page);
}

void api_templates_get(api_call *c)
{
    edm_store *st = c->api->store;
    edm_template_row t;
    int rc = c->id > 0 ? st->ops->template_get(st, c->id, &t) : EDM_ENOTFOUND;
    if (rc != 0) {
        api_store_error(c, rc, "template");
        return;
    }
    api_reply(c, 200, api_template_json(&t));
    edm_template_row_clear(&t);
}

void api_templates_put(api_call *c)
{
    edm_store *st = c->api->store;
    int rc = c->id > 0 ? st->ops->template_get(st, c->id, NULL) : EDM_ENOTFOUND;
    if (rc != 0) {
        api_store_error(c, rc, "template");
        return;
    }
    if (template_check(c, c->body) != 0)
        return;
    edm_template_row t;
    json_t *body = template_body(c->body);
    rc = st->ops->template_update(st, c->id, body, &t);
    json_decref(body);
    if (rc != 0) {
        api_store_error(c, rc, "template");
        return;
    }
    api_reply(c, 200, api_template_json(&t));
    edm_template_row_clear(&t);
}

void api_templates_delete(api_call *c)
{
    edm_store *st = c->api->store;
    int rc = c->id > 0 ? st->ops->template_delete(st, c->id) : EDM_ENOTFOUND;
    if (rc == EDM_ESTATE) {
        api_error(c, 409, "in_use", NULL,
                  "template %lld is used by a campaign that is not draft, completed or "
                  "cancelled",
                  (long long)c->id);
        return;
    }
    if (rc != 0) {
        api_store_error(c, rc, "template");
        return;
    }
    api_reply_empty(c, 204);
}
