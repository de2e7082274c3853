/*
 * engine/feedback/engagement_queue.h: opens and clicks waiting to be
 * written (docs/tracking.md, "Speed"): the public listener answers first
 * and the events go to the store in groups, one transaction per flush
 * (edm_store_engagement_batch). Bounded: at most max events and max_bytes
 * of their strings; add refuses beyond that (the caller flushes, and
 * answers "try again" if that fails). A failed flush keeps what was not
 * written, in order, for the next one. Loop thread only.
 */
#ifndef EDM_ENGAGEMENT_QUEUE_H
#define EDM_ENGAGEMENT_QUEUE_H

#include "engine/store/store.h"

#include <stddef.h>

typedef struct engagement_queue engagement_queue;

engagement_queue *engagement_queue_new(edm_store *st, size_t max, size_t max_bytes);
/* Frees what is still queued without writing it (flush first). */
void engagement_queue_free(engagement_queue *q);
/* Copies r (and its strings) in. 0, or EDM_EBUSY when the queue is full. */
int engagement_queue_add(engagement_queue *q, const edm_engagement_rec *r);
size_t engagement_queue_len(const engagement_queue *q);
/* Writes what is queued. 0 (empty now) or the store's EDM_E* code (what
 * was not written stays queued). */
int engagement_queue_flush(engagement_queue *q);

#endif
