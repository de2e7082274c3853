/*
 * engine/store/stats.c: a campaign's stats object from its counter rows
 * (see stats.h), shared by the SQLite and PostgreSQL stores.
 */
#include "engine/store/stats.h"
#include "engine/store/store.h"

#include <string.h>

void edm_stats_begin(edm_stats_acc *a)
{
    memset(a, 0, sizeof *a);
    a->cats = json_object();
}

void edm_stats_add(edm_stats_acc *a, int64_t state, const char *category, int64_t n)
{
    if (n <= 0)
        return;
    if (state >= 0 && state < EDM_DSTATE_COUNT)
        a->counts[state] += n;
    a->total += n;
    if (state == EDM_DSTATE_BOUNCED && category && category[0])
        json_object_set_new(a->cats, category, json_integer(n));
}

void edm_stats_abandon(edm_stats_acc *a)
{
    json_decref(a->cats);
    a->cats = NULL;
}

json_t *edm_stats_json(edm_stats_acc *a, int64_t campaign_id, enum edm_cstate state)
{
    json_t *states = json_object();
    int64_t done = 0;
    for (int i = 0; i < EDM_DSTATE_COUNT; i++) {
        json_object_set_new(states, edm_dstate_name(i), json_integer(a->counts[i]));
        if (edm_dstate_is_terminal(i))
            done += a->counts[i];
    }
    json_t *out =
        json_pack("{s:I, s:o, s:o, s:o, s:I, s:I, s:f}", "campaign_id", (json_int_t)campaign_id,
                  "status", json_string(edm_cstate_name(state)), "counts", states,
                  "bounce_categories", a->cats, "total", (json_int_t)a->total, "done",
                  (json_int_t)done, "progress", a->total ? (double)done / (double)a->total : 0.0);
    a->cats = NULL; /* json_pack's "o" took it, also on failure */
    return out;
}
