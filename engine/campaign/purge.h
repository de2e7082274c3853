/*
 * engine/campaign/purge.h: the background purge of deleted campaigns. On
 * SQLite, DELETE /v1/campaigns/{id} only marks the campaign (store.h
 * campaign_delete); this removes its rows through the store's
 * campaign_purge, a few thousand per short transaction with the loop free
 * between them, until nothing is left. Nothing to do on a store without
 * campaign_purge (PostgreSQL).
 */
#ifndef EDM_PURGE_H
#define EDM_PURGE_H

#include "engine/store/store.h"

#include <uv.h>

/* Receipts per transaction, and the pause between two transactions. */
#define EDM_PURGE_ROWS   2000
#define EDM_PURGE_GAP_MS 10

typedef struct edm_purge edm_purge;

/* A purge on loop for st (which must outlive it), idle until kicked.
 * Returns NULL (nothing to purge: no campaign_purge) or the object. */
edm_purge *edm_purge_new(uv_loop_t *loop, edm_store *st);
/* Runs the purge until the store has nothing left, unless it runs already.
 * Cheap when idle (the store remembers that nothing is marked): the
 * engine's heartbeat calls it every second. NULL is fine. */
void edm_purge_kick(edm_purge *p);
/* Stops it (a transaction never stays open between two turns: the rest
 * waits for the next start) and frees it once its timer is closed. NULL
 * is fine. */
void edm_purge_free(edm_purge *p);

#endif
