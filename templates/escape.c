/*
 * templates/escape.c: output escaping (tpl_escape_*).
 *
 * HTML: & < > " ' ` = become entities, as Handlebars does (so the output
 * of a template ported from Handlebars is byte-identical). Header: every C0
 * control (0x00-0x1F: CR, LF, TAB...), DEL and the UTF-8 encoded C1
 * controls U+0080-U+009F are dropped, so a header value can never be split
 * or folded by data. Return 0 or the edm_buf error (EDM_ETOOBIG at the
 * output limit, EDM_ENOMEM).
 */
#include "templates/tpl_int.h"

#include <string.h>

static const char *const html_ent[256] = {
    ['&'] = "&amp;",   ['<'] = "&lt;",   ['>'] = "&gt;",   ['"'] = "&quot;",
    ['\''] = "&#x27;", ['`'] = "&#x60;", ['='] = "&#x3D;",
};

int tpl_escape_html(edm_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *ent = html_ent[(unsigned char)s[i]];
        if (ent == NULL)
            continue;
        int rc = edm_buf_append(b, s + run, i - run);
        if (rc == 0)
            rc = edm_buf_append(b, ent, strlen(ent));
        if (rc != 0)
            return rc;
        run = i + 1;
    }
    return edm_buf_append(b, s + run, n - run);
}

/* Length of the control character at s[i] (1 or 2 bytes), 0 if none. */
static size_t ctl_len(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
        return 1;
    if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
        (unsigned char)s[i + 1] <= 0x9f)
        return 2;
    return 0;
}

int tpl_escape_has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ctl_len(s, n, i))
            return 1;
    return 0;
}

int tpl_escape_header(edm_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        size_t k = ctl_len(s, n, i);
        if (k == 0) {
            i++;
            continue;
        }
        int rc = edm_buf_append(b, s + run, i - run);
        if (rc != 0)
            return rc;
        i += k;
        run = i;
    }
    return edm_buf_append(b, s + run, n - run);
}
