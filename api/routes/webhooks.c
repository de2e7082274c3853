/*
 * api/routes/webhooks.c: /v1/webhooks (docs/tracking.md, "Webhooks"):
 * create (201 with the signing secret, shown this once), list (without
 * secrets, with how many events wait in the outbox), delete (204, or 404).
 * Body: {"url": "https://...", "events": ["delivered", "click", ...]}.
 */
#include "api/api_int.h"
#include "engine/base/err.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static const char *const fields[] = {"url", "events", NULL};

void api_webhooks_create(api_call *c)
{
    json_t *b = c->body;
    const char *url;
    if (api_fields_known(c, b, fields) != 0 || api_field_string(c, b, "url", 1, 2000, &url) < 0)
        return;
    if ((strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) || strlen(url) < 10 ||
        strpbrk(url, " \r\n\t<>\"")) {
        api_error(c, 422, "invalid", "url", "url must be an http:// or https:// URL");
        return;
    }
    json_t *ev = json_object_get(b, "events");
    if (!json_is_array(ev) || json_array_size(ev) == 0) {
        api_error(c, 422, ev ? "invalid" : "required", "events",
                  "events must be a non-empty array of event names");
        return;
    }
    unsigned mask = 0;
    size_t i;
    json_t *v;
    json_array_foreach(ev, i, v)
    {
        unsigned bit = json_is_string(v) ? edm_webhook_event_parse(json_string_value(v)) : 0;
        if (bit == 0) {
            char field[32];
            snprintf(field, sizeof field, "events[%zu]", i);
            api_error(c, 422, "invalid", field,
                      "%s: not one of delivered, deferred, bounced, failed, suppressed, "
                      "complained, unsubscribed, open, click",
                      field);
            return;
        }
        mask |= bit;
    }
    unsigned char raw[24];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        api_error(c, 500, "internal", NULL, "no randomness for the secret");
        return;
    }
    char secret[8 + 2 * sizeof raw + 1] = "whsec_";
    for (size_t k = 0; k < sizeof raw; k++)
        snprintf(secret + 6 + 2 * k, 3, "%02x", raw[k]);
    edm_store *st = c->api->store;
    json_t *out = NULL;
    int rc = st->ops->webhook_create(st, url, mask, secret, &out);
    if (rc != 0) {
        api_store_error(c, rc, "webhook");
        return;
    }
    api_reply(c, 201, out);
}

void api_webhooks_list(api_call *c)
{
    int limit;
    int64_t after;
    if (api_paging(c, &limit, &after) != 0)
        return;
    edm_store *st = c->api->store;
    json_t *items = NULL;
    int rc = st->ops->webhook_list(st, &items);
    if (rc != 0) {
        api_store_error(c, rc, "webhook");
        return;
    }
    api_reply(c, 200, api_list_page(items, after, limit, 1));
}

void api_webhooks_delete(api_call *c)
{
    edm_store *st = c->api->store;
    int rc = c->id > 0 ? st->ops->webhook_delete(st, c->id) : EDM_ENOTFOUND;
    if (rc != 0) {
        api_store_error(c, rc, "webhook");
        return;
    }
    api_reply_empty(c, 204);
}
