/*
 * engine/feedback/engagement_queue.h: opens and clicks waiting to be
 * written (docs/tracking.md, "Speed"): the public listener answers first
 * and the events go to the store in groups, one transaction per flush
 * (edm_store_engagement_batch).
 *
 * Two modes. Without a writer, flush writes on the caller's thread through
 * the queue's store. With a writer (engagement_queue_start_writer), a
 * thread of its own writes through its own store connection: flush hands
 * the queued events over (one batch at a time) and returns at once, so the
 * loop never waits for the disk; a failed batch is retried by the writer
 * every ENGAGEMENT_QUEUE_RETRY_MS (logged once) and newer events wait
 * behind it, in order.
 *
 * Bounded: at most max events and max_bytes of their strings queued, and
 * as much again in the writer's batch; add refuses beyond that (EDM_EBUSY:
 * the caller flushes and, if that cannot make room, answers "try again").
 * All functions but the writer's own are for one thread (the loop).
 */
#ifndef EDM_ENGAGEMENT_QUEUE_H
#define EDM_ENGAGEMENT_QUEUE_H

#include "engine/store/store.h"

#include <stddef.h>

#define ENGAGEMENT_QUEUE_RETRY_MS 50

typedef struct engagement_queue engagement_queue;

engagement_queue *engagement_queue_new(edm_store *st, size_t max, size_t max_bytes);
/* Stops the writer (it finishes its batch, one more try if it was
 * failing), writes what is still queued and frees the queue and the
 * writer's store. *lost: how many events could not be written. */
void engagement_queue_free(engagement_queue *q, size_t *lost);
/* Writes from now on on a thread of its own through wst (another
 * connection to the same database; the queue owns and closes it).
 * Returns 0 or EDM_ENOMEM (no thread: writes stay on the caller's). */
int engagement_queue_start_writer(engagement_queue *q, edm_store *wst);
/* Copies r (and its strings) in. 0, or EDM_EBUSY when the queue is full. */
int engagement_queue_add(engagement_queue *q, const edm_engagement_rec *r);
/* Events queued and not yet written (the writer's batch included). */
size_t engagement_queue_len(engagement_queue *q);
/* Events queued and not yet handed over (the writer's batch excluded). */
size_t engagement_queue_waiting(const engagement_queue *q);
/* Without a writer: writes what is queued, 0 (empty now) or the store's
 * EDM_E* code (what was not written stays queued). With one: hands what
 * is queued to the writer when it is idle (wait: waits for it first,
 * unless it is failing), 0, or EDM_EBUSY when the writer is failing (the
 * store's code is logged by the writer). */
int engagement_queue_flush(engagement_queue *q, int wait);

#endif
