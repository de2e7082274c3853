/*
 * engine/message/track.h: open and click tracking in a rendered HTML part
 * (docs/tracking.md). rewrite turns each trackable link into
 * "<base_url>/c/<token>" (the token names the delivery and the link's
 * index, never the URL) and adds the open pixel "<base_url>/o/<token>.gif";
 * link finds a link again by its index in the same rendered HTML, which is
 * how the public listener learns where a click goes without storing URLs.
 *
 * A link is trackable when it is an <a> with an http:// or https:// href,
 * no data-notrack attribute, and an href that is not an unsubscribe link
 * (it starts with unsub_prefix or "<base_url>/u/", or contains
 * "unsubscribe"), nor already a link to "<base_url>/c/" or "/o/", and not
 * inside an HTML comment. mailto:, tel:, anchors (#...) and every other
 * scheme are left alone. Indexes count trackable links from 0 in document
 * order. The pixel goes before the last </body> outside comments.
 */
#ifndef EDM_TRACK_H
#define EDM_TRACK_H

#include "engine/base/buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct edm_track_opts {
    const char *base_url;     /* public.base_url, without a trailing '/' */
    const char *unsub_prefix; /* the unsubscribe URL before its token, or NULL */
    int opens, clicks;
    const void *secret;
    size_t secret_len;
    uint64_t delivery_id;
} edm_track_opts;

/* Appends html[0..n) to out, rewritten as o asks. Returns 0, EDM_EINVAL
 * (no base URL, bad secret) or EDM_ENOMEM. */
int edm_track_rewrite(const edm_track_opts *o, const char *html, size_t n, edm_buf *out);

/* Appends to out the URL of trackable link number `link` in html[0..n)
 * (its href with HTML character references decoded). Returns 0,
 * EDM_ENOTFOUND (no such link, or its URL holds control characters) or
 * EDM_ENOMEM. base_url and unsub_prefix as for rewrite. */
int edm_track_link(const char *base_url, const char *unsub_prefix, const char *html, size_t n,
                   uint32_t link, edm_buf *out);

/* Appends to out the URL of every trackable link of html[0..n), in index
 * order, each followed by a NUL; a URL refused by edm_track_link (control
 * characters) is an empty string. *count: how many. Returns 0 or
 * EDM_ENOMEM. */
int edm_track_links(const char *base_url, const char *unsub_prefix, const char *html, size_t n,
                    edm_buf *out, uint32_t *count);

#endif
