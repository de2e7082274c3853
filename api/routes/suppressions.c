/*
 * api/routes/suppressions.c: /v1/suppressions: list (paged), add (201; an email
 * or a whole domain, with a reason), remove. Values are normalised like
 * recipient addresses (lower case, A-label domains), so a suppression
 * matches however the address was written in an upload.
 *
 * An entry is {id, value, kind ("email" or "domain"), email, domain (the
 * value under its kind's name, the other null), reason, created_at}.
 * Bodies: {"email": "a@b.c", "reason": "..."} or {"domain": "b.c", ...}
 * (or {"value": ...}: an address if it has an '@', else a domain).
 * DELETE takes the value from ?email=, ?domain= or ?value= (or a body of
 * the same shape); 204, or 404 if it was not on the list.
 * POST with a text/csv body and GET /v1/suppressions.csv: suppressions_csv.c.
 */
#include "engine/base/addr.h"
#include "api/api_int.h"
#include "engine/base/err.h"

#include <string.h>

static const char *const fields[] = {"email", "domain", "value", "reason", NULL};

/* Finds and normalises the value; answers 422 and returns -1 if wrong. */
static int read_value(api_call *c, const char *email, const char *domain, const char *value,
                      char out[EDM_ADDR_MAX])
{
    int given = (email != NULL) + (domain != NULL) + (value != NULL);
    if (given != 1) {
        api_error(c, 422, given ? "invalid" : "required", "email",
                  "give exactly one of email, domain or value");
        return -1;
    }
    const char *field = email ? "email" : domain ? "domain" : "value";
    const char *v = email ? email : domain ? domain : value;
    const char *why;
    size_t doff;
    int rc = (email || (value && strchr(value, '@')))
                 ? edm_addr_normalize(v, strlen(v), out, &doff, &why)
                 : edm_addr_normalize_domain(v, strlen(v), out, &why);
    if (rc != 0) {
        api_error(c, 422, "invalid", field, "%s is not valid: %s", field, why);
        return -1;
    }
    return 0;
}

/* A suppression as the API shows it: the store's {id, value, kind,
 * reason, created_at} plus the value under its kind's name ("email" or
 * "domain", the other null), as it was given. */
static json_t *shown(json_t *s)
{
    const char *kind = json_string_value(json_object_get(s, "kind"));
    int domain = kind && strcmp(kind, "domain") == 0;
    json_t *v = json_object_get(s, "value");
    json_object_set(s, "email", domain ? json_null() : v);
    json_object_set(s, "domain", domain ? v : json_null());
    return s;
}

void api_suppressions_list(api_call *c)
{
    int limit;
    int64_t after;
    if (api_paging(c, &limit, &after) != 0)
        return;
    edm_page page = {0};
    edm_store *st = c->api->store;
    int rc = st->ops->suppression_list(st, after, limit, &page);
    if (rc != 0) {
        api_store_error(c, rc, "suppression");
        return;
    }
    size_t i;
    json_t *s;
    json_array_foreach(page.items, i, s)
    {
        shown(s);
    }
    api_reply(c, 200, api_list(page.items, page.next));
}

void api_suppressions_create(api_call *c)
{
    const char *email, *domain, *value, *reason;
    char norm[EDM_ADDR_MAX];
    if (c->body == NULL) { /* text/csv (API_CSV) */
        api_suppressions_import(c);
        return;
    }
    if (api_fields_known(c, c->body, fields) != 0 ||
        api_field_string(c, c->body, "email", 0, 400, &email) < 0 ||
        api_field_string(c, c->body, "domain", 0, 400, &domain) < 0 ||
        api_field_string(c, c->body, "value", 0, 400, &value) < 0 ||
        api_field_string(c, c->body, "reason", 0, 1000, &reason) < 0 ||
        read_value(c, email, domain, value, norm) != 0)
        return;
    edm_store *st = c->api->store;
    json_t *out = NULL;
    /* an entry always has a reason: one added by hand without one is
     * "manual" (edm's own are bounce, complaint and unsubscribe) */
    int rc = st->ops->suppression_add(st, norm, reason && reason[0] ? reason : "manual", &out);
    if (rc == EDM_EEXIST) {
        api_error(c, 409, "exists", "email", "%s is already suppressed", norm);
        return;
    }
    if (rc != 0) {
        api_store_error(c, rc, "suppression");
        return;
    }
    api_reply(c, 201, shown(out));
}

void api_suppressions_delete(api_call *c)
{
    char e[1024], d[1024], v[1024];
    int re = api_query(c, "email", e, sizeof e);
    int rd = api_query(c, "domain", d, sizeof d);
    int rv = api_query(c, "value", v, sizeof v);
    if (re < 0 || rd < 0 || rv < 0) {
        api_error(c, 422, "invalid",
                  re < 0   ? "email"
                  : rd < 0 ? "domain"
                           : "value",
                  "malformed query value");
        return;
    }
    const char *email = re > 0 ? e : NULL, *domain = rd > 0 ? d : NULL, *value = rv > 0 ? v : NULL;
    if (!email && !domain && !value) {
        if (api_fields_known(c, c->body, fields) != 0 ||
            api_field_string(c, c->body, "email", 0, 400, &email) < 0 ||
            api_field_string(c, c->body, "domain", 0, 400, &domain) < 0 ||
            api_field_string(c, c->body, "value", 0, 400, &value) < 0)
            return;
    }
    char norm[EDM_ADDR_MAX];
    if (read_value(c, email, domain, value, norm) != 0)
        return;
    edm_store *st = c->api->store;
    int rc = st->ops->suppression_delete(st, norm);
    if (rc == EDM_ENOTFOUND) {
        api_error(c, 404, "not_found", NULL, "%s is not on the suppression list", norm);
        return;
    }
    if (rc != 0) {
        api_store_error(c, rc, "suppression");
        return;
    }
    api_reply_empty(c, 204);
}
