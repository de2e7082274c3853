/*
 * engine/store/stats.h: a campaign's delivery stats as the API shows them
 * (docs/api.md, "Stats"), summed from the rows of its counters
 * (schema/0002_campaign_counts.sql: state, bounce category, count). Both
 * backends read their counters and add each row here; the JSON is built
 * once.
 */
#ifndef EDM_STORE_STATS_H
#define EDM_STORE_STATS_H

#include "engine/store/outcome.h"
#include "engine/store/rows.h"

#include <jansson.h>
#include <stdint.h>

typedef struct edm_stats_acc {
    int64_t counts[EDM_DSTATE_COUNT];
    int64_t total;
    json_t *cats; /* bounce category -> count */
} edm_stats_acc;

void edm_stats_begin(edm_stats_acc *a);
/* One counter row: state, category ("" or NULL for none), count. */
void edm_stats_add(edm_stats_acc *a, int64_t state, const char *category, int64_t n);
/* Drops what was added (a failed read). */
void edm_stats_abandon(edm_stats_acc *a);
/* The stats object: campaign_id, status, counts by state,
 * bounce_categories, total, done, progress. NULL when out of memory. */
json_t *edm_stats_json(edm_stats_acc *a, int64_t campaign_id, enum edm_cstate state);

#endif
