/*
 * engine/store/tracking.c: the names of webhook events and their bits
 * (store.h, docs/tracking.md "Webhooks"), and freeing webhook rows.
 */
#include "engine/store/store.h"
#include "engine/base/alloc.h"

#include <string.h>

static const char *const names[EDM_WEBHOOK_EVENT_COUNT] = {
    "delivered",  "deferred",     "bounced", "failed", "suppressed",
    "complained", "unsubscribed", "open",    "click"};

unsigned edm_webhook_event_parse(const char *name)
{
    for (int i = 0; i < EDM_WEBHOOK_EVENT_COUNT; i++)
        if (strcmp(name, names[i]) == 0)
            return 1u << i;
    return 0;
}

const char *edm_webhook_event_name(int i)
{
    return i >= 0 && i < EDM_WEBHOOK_EVENT_COUNT ? names[i] : "?";
}

void edm_webhook_rows_free(edm_webhook_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        edm_free(rows[i].url);
        edm_free(rows[i].secret);
    }
    edm_free(rows);
}
