/*
 * engine/store/feedback.h: what comes back after a message was sent, as the
 * store records it (included by store.h; docs/feedback.md): event types,
 * a receipt's feedback, and one piece of feedback to apply to a receipt
 * (a DSN, a complaint, an unsubscribe) in one transaction with its event
 * and its suppression. engine/feedback/ decides what a report means; the
 * store only writes it.
 */
#ifndef EDM_STORE_FEEDBACK_H
#define EDM_STORE_FEEDBACK_H

#include "engine/store/outcome.h"

#include <stdint.h>

/* Every event has a type; attempts are the pipeline's. */
enum edm_event_type {
    EDM_EVENT_ATTEMPT = 0,
    EDM_EVENT_DSN = 1,
    EDM_EVENT_COMPLAINT = 2,
    EDM_EVENT_UNSUBSCRIBE = 3,
    EDM_EVENT_OPEN = 4, /* docs/tracking.md */
    EDM_EVENT_CLICK = 5,
};
#define EDM_EVENT_TYPE_COUNT 6
/* "attempt", "dsn", "complaint", "unsubscribe", "open", "click". */
const char *edm_event_type_name(enum edm_event_type t);
/* Parses a type name; -1 if unknown. */
int edm_event_type_parse(const char *name);

/* A receipt's feedback. */
enum edm_feedback {
    EDM_FEEDBACK_NONE = 0,
    EDM_FEEDBACK_COMPLAINED = 1,
    EDM_FEEDBACK_UNSUBSCRIBED = 2
};
/* "complained", "unsubscribed"; "" for none. */
const char *edm_feedback_name(enum edm_feedback f);
/* Parses "complained" or "unsubscribed"; -1 otherwise. */
int edm_feedback_parse(const char *name);

/* One piece of feedback for one delivery. For a DSN: the event carries
 * event_status (bounced for a failure, deferred for a delay) and the reply
 * facts; with bounce set, a delivered or deferred receipt becomes bounced
 * with them (any other state keeps its own). A complaint sets the
 * receipt's feedback to complained, an unsubscribe to unsubscribed unless
 * it already has feedback; a repeated one adds no event. suppress names
 * the suppression reason to add the address with ("bounce", "complaint",
 * "unsubscribe"; NULL: none); an address already on the list keeps its
 * reason. */
typedef struct edm_feedback_rec {
    int64_t delivery_id;
    enum edm_event_type type; /* DSN, COMPLAINT or UNSUBSCRIBE */
    int64_t at;               /* unix seconds */
    int bounce;
    enum edm_dstate event_status;
    int code;
    char enhanced[16];
    char text[EDM_OUTCOME_TEXT_MAX];
    char mx_host[256];
    enum edm_category category;
    const char *suppress;
} edm_feedback_rec;

/* What applying it did. */
typedef struct edm_feedback_done {
    int64_t campaign_id;
    char email[256];
    enum edm_dstate status; /* the receipt's state afterwards */
    int changed;            /* the receipt changed (state or feedback) */
    int event;              /* an event was added */
    int suppressed;         /* the address is on the suppression list now */
} edm_feedback_done;

#endif
