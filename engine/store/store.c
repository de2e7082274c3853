/*
 * engine/store/store.c: backend-independent parts of the storage interface:
 * state names, choosing a backend for edm_store_open (SQLite, or
 * PostgreSQL for a postgresql:// URI), freeing jobs and
 * pages, batches of engagement events for a backend without a batch op. See store.h for the
 * contract.
 */
#include "engine/store/store.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>

static const char *const dstate_names[EDM_DSTATE_COUNT] = {
    "queued", "deferred", "delivered", "bounced", "suppressed", "failed", "cancelled",
};

static const char *const cstate_names[EDM_CSTATE_COUNT] = {
    "draft", "scheduled", "running", "paused", "completed", "cancelled",
};

const char *edm_dstate_name(enum edm_dstate s)
{
    return (unsigned)s < EDM_DSTATE_COUNT ? dstate_names[s] : "?";
}

int edm_dstate_parse(const char *name)
{
    for (int i = 0; i < EDM_DSTATE_COUNT; i++)
        if (strcmp(name, dstate_names[i]) == 0)
            return i;
    return -1;
}

int edm_dstate_is_terminal(enum edm_dstate s)
{
    return s >= EDM_DSTATE_DELIVERED;
}

const char *edm_cstate_name(enum edm_cstate s)
{
    return (unsigned)s < EDM_CSTATE_COUNT ? cstate_names[s] : "?";
}

int edm_cstate_parse(const char *name)
{
    for (int i = 0; i < EDM_CSTATE_COUNT; i++)
        if (strcmp(name, cstate_names[i]) == 0)
            return i;
    return -1;
}

int edm_store_is_pg(const char *where)
{
    return strncmp(where, "postgres://", 11) == 0 || strncmp(where, "postgresql://", 13) == 0;
}

int edm_store_open(const char *where, edm_store **st, char *err, size_t errlen)
{
    if (edm_store_is_pg(where))
        return edm_store_pg_open(where, st, err, errlen);
    return edm_store_sqlite_open(where, st, err, errlen);
}

void edm_store_jobs_free(edm_job *jobs, size_t n)
{
    for (size_t i = 0; jobs && i < n; i++) {
        edm_free(jobs[i].email);
        edm_free(jobs[i].domain);
        edm_vars_clear(&jobs[i].vars);
    }
    edm_free(jobs);
}

void edm_page_free(edm_page *page)
{
    if (page) {
        json_decref(page->items);
        page->items = NULL;
    }
}

int edm_store_engagement_batch(edm_store *st, const edm_engagement_rec *r, size_t n, size_t *done)
{
    *done = 0;
    if (n == 0)
        return 0;
    if (st->ops->engagement_record_batch) {
        int rc = st->ops->engagement_record_batch(st, r, n);
        if (rc == 0)
            *done = n;
        return rc;
    }
    for (; *done < n; (*done)++) {
        int rc = st->ops->engagement_record(st, &r[*done], NULL);
        if (rc != 0 && rc != EDM_ENOTFOUND)
            return rc;
    }
    return 0;
}
