/*
 * engine/store/feedback.c: the names of event types and of a receipt's
 * feedback (see feedback.h), as the API shows them.
 */
#include "engine/store/feedback.h"

#include <string.h>

static const char *const type_names[EDM_EVENT_TYPE_COUNT] = {"attempt",     "dsn",  "complaint",
                                                             "unsubscribe", "open", "click"};

const char *edm_event_type_name(enum edm_event_type t)
{
    return (unsigned)t < EDM_EVENT_TYPE_COUNT ? type_names[t] : "?";
}

int edm_event_type_parse(const char *name)
{
    for (int i = 0; i < EDM_EVENT_TYPE_COUNT; i++)
        if (strcmp(name, type_names[i]) == 0)
            return i;
    return -1;
}

const char *edm_feedback_name(enum edm_feedback f)
{
    return f == EDM_FEEDBACK_COMPLAINED     ? "complained"
           : f == EDM_FEEDBACK_UNSUBSCRIBED ? "unsubscribed"
                                            : "";
}

int edm_feedback_parse(const char *name)
{
    if (strcmp(name, "complained") == 0)
        return EDM_FEEDBACK_COMPLAINED;
    if (strcmp(name, "unsubscribed") == 0)
        return EDM_FEEDBACK_UNSUBSCRIBED;
    return -1;
}
