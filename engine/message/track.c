/*
 * engine/message/track.c: finds the links of a rendered HTML part and
 * rewrites them for click tracking, adds the open pixel (see track.h).
 * A small scanner, not an HTML parser: it looks at "<a" start tags outside
 * comments and reads their attributes (quoted or not) the way browsers
 * do; whatever it does not recognise it copies unchanged.
 */
#include "engine/message/track.h"
#include "engine/base/err.h"
#include "engine/message/verp.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* One <a> start tag: where its href value is and whether to track it. */
typedef struct link_at {
    size_t tag_start, tag_end;   /* '<' .. after '>' */
    size_t href_start, href_end; /* the value, without quotes */
    int trackable;
} link_at;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int starts_ci(const char *p, size_t n, const char *s)
{
    size_t sl = strlen(s);
    return n >= sl && strncasecmp(p, s, sl) == 0;
}

/* Decodes the character references browsers decode in attribute values
 * for the ones that matter in URLs: &amp; &quot; &apos; &lt; &gt; and
 * numeric ones (ASCII only). */
static int decode_attr(const char *p, size_t n, edm_buf *out)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}, {"lt;", '<'}, {"gt;", '>'}};
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '&') {
            size_t k;
            int done = 0;
            for (k = 0; k < sizeof named / sizeof named[0]; k++) {
                if (starts_ci(p + i + 1, n - i - 1, named[k].name)) {
                    c = named[k].c;
                    i += strlen(named[k].name);
                    done = 1;
                    break;
                }
            }
            if (!done && i + 2 < n && p[i + 1] == '#') {
                size_t j = i + 2;
                int hex = j < n && (p[j] == 'x' || p[j] == 'X');
                j += (size_t)hex;
                unsigned v = 0, digits = 0;
                while (j < n && digits < 6 &&
                       (hex ? isxdigit((unsigned char)p[j]) : isdigit((unsigned char)p[j]))) {
                    char d = p[j++];
                    v = v * (hex ? 16u : 10u) +
                        (unsigned)(isdigit((unsigned char)d) ? d - '0' : (tolower(d) - 'a' + 10));
                    digits++;
                }
                if (digits && j < n && p[j] == ';' && v > 0 && v < 128) {
                    c = (char)v;
                    i = j;
                }
            }
        }
        if (edm_buf_append_char(out, c) != 0)
            return EDM_ENOMEM;
    }
    return 0;
}

static int unsub_link(const char *base_url, const char *unsub_prefix, const char *h, size_t n)
{
    if (unsub_prefix && *unsub_prefix && n >= strlen(unsub_prefix) &&
        strncmp(h, unsub_prefix, strlen(unsub_prefix)) == 0)
        return 1;
    if (base_url) {
        size_t bl = strlen(base_url);
        if (n >= bl + 3 && strncmp(h, base_url, bl) == 0 && strncmp(h + bl, "/u/", 3) == 0)
            return 1;
    }
    return 0;
}

/* A link to the tracking endpoints themselves (<base_url>/c/ or /o/):
 * already tracked, never wrapped twice. */
static int own_link(const char *base_url, const char *h, size_t n)
{
    size_t bl = base_url ? strlen(base_url) : 0;
    if (bl && n >= bl + 3 && strncmp(h, base_url, bl) == 0 &&
        (strncmp(h + bl, "/c/", 3) == 0 || strncmp(h + bl, "/o/", 3) == 0))
        return 1;
    return 0;
}

static int has_word_unsubscribe(const char *h, size_t n)
{
    for (size_t i = 0; i + 11 <= n; i++)
        if (strncasecmp(h + i, "unsubscribe", 11) == 0)
            return 1;
    return 0;
}

/* The end of the comment opened at s[i] ("<!--"), or n. */
static size_t comment_end(const char *s, size_t n, size_t i)
{
    for (size_t j = i + 4; j + 3 <= n; j++)
        if (memcmp(s + j, "-->", 3) == 0)
            return j + 3;
    return n;
}

/* Finds the next <a ...> start tag at or after *pos; 0 if none. */
static int next_link(const char *base_url, const char *unsub_prefix, const char *s, size_t n,
                     size_t *pos, link_at *l)
{
    size_t i = *pos;
    while (i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (lt == NULL)
            break;
        i = (size_t)(lt - s);
        if (starts_ci(s + i, n - i, "<!--")) {
            i = comment_end(s, n, i);
            continue;
        }
        if (!(i + 2 < n && (s[i + 1] == 'a' || s[i + 1] == 'A') && is_space(s[i + 2]))) {
            i++;
            continue;
        }
        memset(l, 0, sizeof *l);
        l->tag_start = i;
        size_t j = i + 2;
        int notrack = 0, has_href = 0;
        while (j < n && s[j] != '>') {
            if (is_space(s[j]) || s[j] == '/') {
                j++;
                continue;
            }
            size_t ns = j;
            while (j < n && !is_space(s[j]) && s[j] != '=' && s[j] != '>')
                j++;
            size_t ne = j;
            while (j < n && is_space(s[j]))
                j++;
            size_t vs = j, ve = j;
            if (j < n && s[j] == '=') {
                j++;
                while (j < n && is_space(s[j]))
                    j++;
                if (j < n && (s[j] == '"' || s[j] == '\'')) {
                    char q = s[j++];
                    vs = j;
                    while (j < n && s[j] != q)
                        j++;
                    ve = j;
                    if (j < n)
                        j++;
                } else {
                    vs = j;
                    while (j < n && !is_space(s[j]) && s[j] != '>')
                        j++;
                    ve = j;
                }
            }
            if (ne - ns == 4 && strncasecmp(s + ns, "href", 4) == 0 && !has_href) {
                has_href = 1;
                l->href_start = vs;
                l->href_end = ve;
            } else if (ne - ns == 12 && strncasecmp(s + ns, "data-notrack", 12) == 0) {
                notrack = 1;
            }
        }
        if (j >= n) /* an unterminated tag: leave the rest alone */
            return 0;
        l->tag_end = j + 1;
        *pos = j + 1;
        if (has_href) {
            const char *h = s + l->href_start;
            size_t hn = l->href_end - l->href_start;
            while (hn && is_space(*h)) {
                h++;
                hn--;
            }
            l->trackable = !notrack &&
                           (starts_ci(h, hn, "http://") || starts_ci(h, hn, "https://")) &&
                           !unsub_link(base_url, unsub_prefix, h, hn) &&
                           !has_word_unsubscribe(h, hn) && !own_link(base_url, h, hn);
        }
        return 1;
    }
    *pos = n;
    return 0;
}

int edm_track_rewrite(const edm_track_opts *o, const char *html, size_t n, edm_buf *out)
{
    if (o->base_url == NULL || *o->base_url == '\0')
        return EDM_EINVAL;
    char tok[EDM_TRACK_TOKEN_MAX];
    size_t copied = 0, pos = 0;
    uint32_t idx = 0;
    link_at l;
    while (o->clicks && next_link(o->base_url, o->unsub_prefix, html, n, &pos, &l)) {
        if (!l.trackable)
            continue;
        if (edm_verp_track_token(tok, EDM_VERP_CLICK, o->secret, o->secret_len, o->delivery_id,
                                 idx++) < 0)
            return EDM_EINVAL;
        if (edm_buf_append(out, html + copied, l.href_start - copied) != 0 ||
            edm_buf_appendf(out, "%s/c/%s", o->base_url, tok) != 0)
            return EDM_ENOMEM;
        copied = l.href_end;
    }
    /* The pixel goes before the last </body> outside comments, else at
     * the end. */
    size_t at = n;
    for (size_t i = copied; o->opens && i < n;) {
        const char *lt = memchr(html + i, '<', n - i);
        if (lt == NULL)
            break;
        i = (size_t)(lt - html);
        if (starts_ci(html + i, n - i, "<!--")) {
            i = comment_end(html, n, i);
            continue;
        }
        if (starts_ci(html + i, n - i, "</body"))
            at = i;
        i++;
    }
    if (edm_buf_append(out, html + copied, at - copied) != 0)
        return EDM_ENOMEM;
    if (o->opens) {
        if (edm_verp_track_token(tok, EDM_VERP_OPEN, o->secret, o->secret_len, o->delivery_id, 0) <
            0)
            return EDM_EINVAL;
        if (edm_buf_appendf(out,
                            "<img src=\"%s/o/%s.gif\" width=\"1\" height=\"1\" alt=\"\" "
                            "style=\"display:block;border:0;width:1px;height:1px\">",
                            o->base_url, tok) != 0)
            return EDM_ENOMEM;
    }
    return edm_buf_append(out, html + at, n - at) != 0 ? EDM_ENOMEM : 0;
}

/* Appends the decoded URL of link l; EDM_ENOTFOUND (nothing appended) when
 * it holds control characters. */
static int link_url(const char *html, const link_at *l, edm_buf *out)
{
    size_t start = out->len;
    const char *h = html + l->href_start;
    size_t hn = l->href_end - l->href_start;
    while (hn && is_space(*h)) {
        h++;
        hn--;
    }
    while (hn && is_space(h[hn - 1]))
        hn--;
    if (decode_attr(h, hn, out) != 0)
        return EDM_ENOMEM;
    for (size_t i = start; i < out->len; i++)
        if ((unsigned char)out->data[i] < 0x20 || out->data[i] == 0x7f) {
            out->len = start;
            return EDM_ENOTFOUND;
        }
    return 0;
}

int edm_track_link(const char *base_url, const char *unsub_prefix, const char *html, size_t n,
                   uint32_t link, edm_buf *out)
{
    size_t pos = 0;
    uint32_t idx = 0;
    link_at l;
    while (next_link(base_url, unsub_prefix, html, n, &pos, &l))
        if (l.trackable && idx++ == link)
            return link_url(html, &l, out);
    return EDM_ENOTFOUND;
}

int edm_track_links(const char *base_url, const char *unsub_prefix, const char *html, size_t n,
                    edm_buf *out, uint32_t *count)
{
    size_t pos = 0;
    link_at l;
    *count = 0;
    while (next_link(base_url, unsub_prefix, html, n, &pos, &l)) {
        if (!l.trackable)
            continue;
        int rc = link_url(html, &l, out);
        if (rc == EDM_ENOMEM || edm_buf_append_char(out, '\0') != 0)
            return EDM_ENOMEM;
        (*count)++;
    }
    return 0;
}
