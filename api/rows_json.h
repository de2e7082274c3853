/*
 * api/rows_json.h: the store's typed rows (engine/store/rows.h) as the API
 * shows them: one conversion per object, used by every route that answers
 * a campaign or a template (api/routes/campaigns.c, templates.c,
 * preview.c). Field order, nulls and RFC 3339 times are part of the API
 * (docs/ and api/openapi.json).
 */
#ifndef EDM_API_ROWS_JSON_H
#define EDM_API_ROWS_JSON_H

#include "engine/store/store.h"

#include <jansson.h>

/* New references; NULL only when out of memory. */
json_t *api_template_json(const edm_template_row *t);
json_t *api_campaign_json(const edm_campaign_row *c);
/* The items of a page as a JSON array. */
json_t *api_template_items(const edm_template_page *p);
json_t *api_campaign_items(const edm_campaign_page *p);

#endif
