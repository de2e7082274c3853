/*
 * engine/store/rows.c: freeing the typed rows of rows.h (campaigns,
 * templates, their pages). Every backend allocates them with
 * engine/base/alloc.h, so one set of free functions serves all.
 */
#include "engine/store/rows.h"
#include "engine/base/alloc.h"

#include <string.h>

static void pairs_free(edm_row_pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        edm_free(p[i].name);
        edm_free(p[i].value);
    }
    edm_free(p);
}

void edm_template_row_clear(edm_template_row *r)
{
    if (r == NULL)
        return;
    edm_free(r->name);
    edm_free(r->subject);
    edm_free(r->html);
    edm_free(r->text);
    pairs_free(r->partials, r->npartials);
    memset(r, 0, sizeof *r);
}

void edm_campaign_row_clear(edm_campaign_row *r)
{
    if (r == NULL)
        return;
    edm_free(r->name);
    edm_free(r->from);
    edm_free(r->reply_to);
    edm_free(r->pool);
    pairs_free(r->headers, r->nheaders);
    for (size_t i = 0; i < r->ntags; i++)
        edm_free(r->tags[i]);
    edm_free(r->tags);
    edm_free(r->unsubscribe);
    memset(r, 0, sizeof *r);
}

void edm_attachment_rows_free(edm_attachment_row *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        edm_free(a[i].filename);
        edm_free(a[i].content_type);
        edm_free(a[i].data);
        edm_free(a[i].content_id);
    }
    edm_free(a);
}

void edm_message_row_clear(edm_message_row *r)
{
    if (r == NULL)
        return;
    edm_campaign_row_clear(&r->c);
    edm_free(r->source);
    edm_free(r->subject);
    edm_free(r->html);
    edm_free(r->text);
    edm_free(r->raw);
    edm_free(r->envelope_from);
    edm_attachment_rows_free(r->attachments, r->nattachments);
    memset(r, 0, sizeof *r);
}

void edm_template_page_free(edm_template_page *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        edm_template_row_clear(&p->items[i]);
    edm_free(p->items);
    memset(p, 0, sizeof *p);
}

void edm_campaign_page_free(edm_campaign_page *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        edm_campaign_row_clear(&p->items[i]);
    edm_free(p->items);
    memset(p, 0, sizeof *p);
}

const char *edm_row_pair_get(const edm_row_pair *pairs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(pairs[i].name, name) == 0)
            return pairs[i].value;
    return NULL;
}
