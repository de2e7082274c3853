/*
 * engine/store/rows.h: the typed rows the store hands out for campaigns and
 * templates (included by store.h). The engine reads these, never JSON; the
 * API turns them into its JSON at its edge (api/rows_json.c).
 *
 * Conventions: a string is NULL when the column is null; an id of 0 means
 * none (ids start at 1); a time is unix seconds, 0 when unset. A row owns
 * every string and array it points at: edm_*_row_clear() frees them (and
 * leaves the row zeroed), edm_*_page_free() a page and its rows.
 */
#ifndef EDM_STORE_ROWS_H
#define EDM_STORE_ROWS_H

#include <stddef.h>
#include <stdint.h>

/* Campaign states: draft -> scheduled -> running -> completed, paused and
 * cancelled. The rules live in engine/campaign/lifecycle.c; the store only
 * does compare-and-set. */
enum edm_cstate {
    EDM_CSTATE_DRAFT = 0,
    EDM_CSTATE_SCHEDULED = 1,
    EDM_CSTATE_RUNNING = 2,
    EDM_CSTATE_PAUSED = 3,
    EDM_CSTATE_COMPLETED = 4,
    EDM_CSTATE_CANCELLED = 5,
};
#define EDM_CSTATE_COUNT  6
#define EDM_CSTATE_BIT(s) (1u << (s))
const char *edm_cstate_name(enum edm_cstate s);
int edm_cstate_parse(const char *name);

/* A name and a value: a header field, a partial's name and source. */
typedef struct edm_row_pair {
    char *name;
    char *value;
} edm_row_pair;

typedef struct edm_template_row {
    int64_t id;
    char *name;
    char *subject;
    char *html;             /* NULL: no HTML part */
    char *text;             /* NULL: no text part */
    edm_row_pair *partials; /* name -> source, in the order given */
    size_t npartials;
    int64_t created_at, updated_at;
} edm_template_row;

/* Engagement tracking of a campaign or message (docs/tracking.md). */
#define EDM_TRACK_OPENS  1u
#define EDM_TRACK_CLICKS 2u

typedef struct edm_campaign_row {
    int64_t id;
    char *name;
    int64_t template_id; /* 0: none */
    enum edm_cstate state;
    int64_t send_at; /* 0: none */
    char *from;      /* "addr" or "Name <addr>" */
    char *reply_to;
    char *pool;
    edm_row_pair *headers; /* extra header fields, in the order given */
    size_t nheaders;
    char **tags;
    size_t ntags;
    char *unsubscribe;    /* the campaign's own unsubscribe URL */
    int64_t max_per_hour; /* 0: no limit */
    unsigned track;       /* EDM_TRACK_OPENS | EDM_TRACK_CLICKS */
    int64_t created_at, updated_at, started_at, completed_at;
} edm_campaign_row;

/* A page of rows and the cursor of the next page (0 = last page). */
typedef struct edm_template_page {
    edm_template_row *items;
    size_t n;
    int64_t next;
} edm_template_page;

typedef struct edm_campaign_page {
    edm_campaign_row *items;
    size_t n;
    int64_t next;
} edm_campaign_page;

/* One attachment of a transactional message (schema/0016): its file name
 * (UTF-8), MIME type and decoded bytes; content_id (schema/0018) makes it
 * an inline part, NULL a regular attachment. */
typedef struct edm_attachment_row {
    char *filename;
    char *content_type;
    unsigned char *data; /* len bytes (never NULL, even for 0) */
    size_t len;
    char *content_id;
} edm_attachment_row;

/* A transactional message as the pipeline loads it: the campaigns row of
 * kind 1 (from, reply_to, pool, headers, tags, template_id, send_at), its
 * one copy of the content and its attachments, in the order given. */
typedef struct edm_message_row {
    edm_campaign_row c;
    char *source; /* "api" or "smtp" */
    char *subject, *html, *text;
    char *raw; /* SMTP: the message as received, or NULL */
    size_t rawlen;
    char *envelope_from;
    edm_attachment_row *attachments;
    size_t nattachments;
} edm_message_row;

void edm_message_row_clear(edm_message_row *r);
/* Frees n attachment rows and the array. */
void edm_attachment_rows_free(edm_attachment_row *a, size_t n);
void edm_template_row_clear(edm_template_row *r);
void edm_campaign_row_clear(edm_campaign_row *r);
void edm_template_page_free(edm_template_page *p);
void edm_campaign_page_free(edm_campaign_page *p);
/* The value of the pair named name (exact match), or NULL. */
const char *edm_row_pair_get(const edm_row_pair *pairs, size_t n, const char *name);

#endif
