/*
 * engine/campaign/lifecycle.c: campaign lifecycle rules (see lifecycle.h).
 *
 * Entry points: edm_lifecycle_apply (one action through the store's
 * compare-and-set), edm_lifecycle_from_mask / _can_* (the rules as data).
 * Returns 0 or a negative EDM_E* code (EDM_ESTATE for a wrong state).
 */
#include "engine/campaign/lifecycle.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"

#define B(s) EDM_CSTATE_BIT(EDM_CSTATE_##s)

static const struct {
    const char *name;
    unsigned from;
} actions[EDM_LIFECYCLE_ACTION_COUNT] = {
    [EDM_LIFECYCLE_SCHEDULE] = {"schedule", B(DRAFT) | B(SCHEDULED)},
    [EDM_LIFECYCLE_PAUSE] = {"pause", B(SCHEDULED) | B(RUNNING)},
    [EDM_LIFECYCLE_RESUME] = {"resume", B(PAUSED)},
    [EDM_LIFECYCLE_CANCEL] = {"cancel", B(SCHEDULED) | B(RUNNING) | B(PAUSED)},
    [EDM_LIFECYCLE_START] = {"start", B(SCHEDULED)},
    [EDM_LIFECYCLE_COMPLETE] = {"complete", B(RUNNING)},
};

const char *edm_lifecycle_action_name(enum edm_lifecycle_action a)
{
    EDM_ASSERT((unsigned)a < EDM_LIFECYCLE_ACTION_COUNT);
    return actions[a].name;
}

unsigned edm_lifecycle_from_mask(enum edm_lifecycle_action a)
{
    EDM_ASSERT((unsigned)a < EDM_LIFECYCLE_ACTION_COUNT);
    return actions[a].from;
}

int edm_lifecycle_can_edit(enum edm_cstate s)
{
    return (EDM_CSTATE_BIT(s) & (B(DRAFT) | B(SCHEDULED) | B(PAUSED))) != 0;
}

int edm_lifecycle_can_delete(enum edm_cstate s)
{
    return (EDM_CSTATE_BIT(s) & (B(DRAFT) | B(COMPLETED) | B(CANCELLED))) != 0;
}

int edm_lifecycle_can_add_recipients(enum edm_cstate s)
{
    /* not while running: the scheduler could complete the campaign between
     * two batches of an upload */
    return (EDM_CSTATE_BIT(s) & (B(DRAFT) | B(SCHEDULED) | B(PAUSED))) != 0;
}

int edm_lifecycle_check_add_recipients(edm_store *st, int64_t id, enum edm_cstate *state)
{
    edm_campaign_row c;
    int rc = st->ops->campaign_get(st, id, &c);
    if (rc != 0)
        return rc;
    enum edm_cstate s = c.state;
    edm_campaign_row_clear(&c);
    if (state)
        *state = s;
    return edm_lifecycle_can_add_recipients(s) ? 0 : EDM_ESTATE;
}

int edm_lifecycle_import_check(void *ctx, edm_store *st, int64_t id)
{
    (void)ctx;
    return edm_lifecycle_check_add_recipients(st, id, NULL);
}

int edm_lifecycle_apply(edm_store *st, int64_t id, enum edm_lifecycle_action a, int64_t send_at,
                        int64_t now, enum edm_cstate *to, enum edm_cstate *from)
{
    EDM_ASSERT((unsigned)a < EDM_LIFECYCLE_ACTION_COUNT);
    edm_campaign_row c;
    int rc = st->ops->campaign_get(st, id, &c);
    if (rc != 0)
        return rc;
    enum edm_cstate cur = c.state;
    int64_t cur_send_at = c.send_at;
    edm_campaign_row_clear(&c);
    if ((unsigned)cur >= EDM_CSTATE_COUNT)
        return EDM_EDB;
    if (from)
        *from = cur;
    unsigned mask = actions[a].from;
    if (!(EDM_CSTATE_BIT(cur) & mask))
        return EDM_ESTATE;
    if (a == EDM_LIFECYCLE_START && cur_send_at > now)
        return EDM_ESTATE; /* not yet */
    if (a == EDM_LIFECYCLE_COMPLETE) {
        rc = st->ops->campaign_has_pending(st, id);
        if (rc != 0)
            return rc < 0 ? rc : EDM_ESTATE; /* deliveries left */
    }
    enum edm_cstate next;
    int64_t set_send_at = -1;
    switch (a) {
    case EDM_LIFECYCLE_SCHEDULE:
        next = send_at <= now ? EDM_CSTATE_RUNNING : EDM_CSTATE_SCHEDULED;
        set_send_at = send_at;
        break;
    case EDM_LIFECYCLE_PAUSE: next = EDM_CSTATE_PAUSED; break;
    case EDM_LIFECYCLE_RESUME:
        next = cur_send_at > now ? EDM_CSTATE_SCHEDULED : EDM_CSTATE_RUNNING;
        break;
    case EDM_LIFECYCLE_CANCEL: next = EDM_CSTATE_CANCELLED; break;
    case EDM_LIFECYCLE_START: next = EDM_CSTATE_RUNNING; break;
    case EDM_LIFECYCLE_COMPLETE: next = EDM_CSTATE_COMPLETED; break;
    default: EDM_PANIC("bad lifecycle action %d", (int)a);
    }
    /* compare-and-set on the state just read, so a concurrent change fails */
    rc = st->ops->campaign_transition(st, id, EDM_CSTATE_BIT(cur), next, set_send_at);
    if (rc != 0)
        return rc;
    *to = next;
    return 0;
}
