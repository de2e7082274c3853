/*
 * tests/engine/message/test_track.c: the link rewriter's edge cases
 * (engine/message/track.c; docs/tracking.md, "Click tracking"), table
 * driven: quoting (double, single, none), uppercase tags and attributes,
 * character references, mailto:, tel:, anchors and relative links,
 * data-notrack, the unsubscribe links, links inside comments, links that
 * already point at the tracking endpoints, several href attributes, '>'
 * inside a quoted value, an unterminated tag. For each: the rewritten
 * HTML exactly, and edm_track_link finding every tracked link's URL by
 * its index in the original; the open pixel's place. (edm_track_links,
 * the list of them all: test_track_links.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/message/track.h"
#include "engine/message/verp.h"

#include <stdio.h>
#include <string.h>

#define BASE  "https://mail.example.com"
#define UNSUB "https://prefs.example/u"

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
#define DELIVERY 0x2aULL

/* want with "{0}", "{1}"... replaced by the click URL of that index. */
static void expand(const char *want, edm_buf *out)
{
    for (const char *p = want; *p;) {
        if (p[0] == '{' && p[1] >= '0' && p[1] <= '9' && p[2] == '}') {
            char tok[EDM_TRACK_TOKEN_MAX];
            assert_true(edm_verp_track_token(tok, EDM_VERP_CLICK, secret, sizeof secret - 1,
                                             DELIVERY, (uint32_t)(p[1] - '0')) > 0);
            edm_buf_appendf(out, "%s/c/%s", BASE, tok);
            p += 3;
        } else {
            edm_buf_append_char(out, *p++);
        }
    }
}

static const struct {
    const char *html;
    const char *want;    /* the rewritten HTML, clicks only */
    const char *urls[3]; /* edm_track_link of index 0, 1, 2 (NULL: none) */
} cases[] = {
    {"<a href=\"https://x.example/a?b=1&amp;c=2\">x</a>",
     "<a href=\"{0}\">x</a>",
     {"https://x.example/a?b=1&c=2"}},
    {"<a href='https://x.example/s'>x</a>", "<a href='{0}'>x</a>", {"https://x.example/s"}},
    {"<a href=https://x.example/u>x</a>", "<a href={0}>x</a>", {"https://x.example/u"}},
    {"<A CLASS=b HREF=\"HTTPS://X.example/Up\">x</A>",
     "<A CLASS=b HREF=\"{0}\">x</A>",
     {"HTTPS://X.example/Up"}},
    {"<a\thref = \"http://x.example/sp\" >x</a>",
     "<a\thref = \"{0}\" >x</a>",
     {"http://x.example/sp"}},
    {"<a href=\"  https://x.example/pad  \">x</a>",
     "<a href=\"{0}\">x</a>",
     {"https://x.example/pad"}},
    /* character references: decoded for the redirect, control ones refused */
    {"<a href=\"https://x.example&#47;p&#x3F;q=&quot;1&quot;\">x</a>",
     "<a href=\"{0}\">x</a>",
     {"https://x.example/p?q=\"1\""}},
    {"<a href=\"https://x.example/&#10;evil\">x</a>", "<a href=\"{0}\">x</a>", {NULL}},
    /* left alone: other schemes, anchors, relative links, not an <a> */
    {"<a href=\"mailto:help@example.com\">m</a><a href=\"tel:+1\">t</a><a href=\"#top\">a</a>"
     "<a href=\"/rel\">r</a><a href=\"javascript:alert(1)\">j</a><a name=\"x\">n</a>"
     "<abbr href=\"https://x.example/\">b</abbr><area href=\"https://x.example/\">",
     "<a href=\"mailto:help@example.com\">m</a><a href=\"tel:+1\">t</a><a href=\"#top\">a</a>"
     "<a href=\"/rel\">r</a><a href=\"javascript:alert(1)\">j</a><a name=\"x\">n</a>"
     "<abbr href=\"https://x.example/\">b</abbr><area href=\"https://x.example/\">",
     {NULL}},
    /* data-notrack, with or without a value, any case; then a tracked one */
    {"<a data-notrack href=\"https://n.example/1\">1</a>"
     "<a href=\"https://n.example/2\" DATA-NOTRACK=\"yes\">2</a>"
     "<a href=\"https://t.example/3\">3</a>",
     "<a data-notrack href=\"https://n.example/1\">1</a>"
     "<a href=\"https://n.example/2\" DATA-NOTRACK=\"yes\">2</a>"
     "<a href=\"{0}\">3</a>",
     {"https://t.example/3"}},
    /* the unsubscribe links: the prefix, the public listener's, the word */
    {"<a href=\"" UNSUB "/tok\">u</a><a href=\"" BASE "/u/tok\">u</a>"
     "<a href=\"https://shop.example/UnSubscribe?me\">u</a><a href=\"https://t.example/\">t</a>",
     "<a href=\"" UNSUB "/tok\">u</a><a href=\"" BASE "/u/tok\">u</a>"
     "<a href=\"https://shop.example/UnSubscribe?me\">u</a><a href=\"{0}\">t</a>",
     {"https://t.example/"}},
    /* links in comments are neither rewritten nor counted */
    {"<!-- <a href=\"https://hidden.example/\">h</a> --><a href=\"https://t.example/1\">1</a>"
     "<!--[if mso]><a href=\"https://mso.example/\">m</a><![endif]-->"
     "<a href=\"https://t.example/2\">2</a>",
     "<!-- <a href=\"https://hidden.example/\">h</a> --><a href=\"{0}\">1</a>"
     "<!--[if mso]><a href=\"https://mso.example/\">m</a><![endif]-->"
     "<a href=\"{1}\">2</a>",
     {"https://t.example/1", "https://t.example/2"}},
    /* already at the tracking endpoints: left alone, not wrapped twice */
    {"<a href=\"" BASE "/c/2a-0-0123456789abcdef0123\">c</a>"
     "<a href=\"" BASE "/o/2a-0123456789abcdef0123.gif\">o</a>"
     "<a href=\"" BASE "/page\">p</a>",
     "<a href=\"" BASE "/c/2a-0-0123456789abcdef0123\">c</a>"
     "<a href=\"" BASE "/o/2a-0123456789abcdef0123.gif\">o</a>"
     "<a href=\"{0}\">p</a>",
     {BASE "/page"}},
    /* the first href counts; '>' inside a quoted value; indexes in order */
    {"<a href=\"https://one.example/\" href=\"https://two.example/\">1</a>"
     "<a title=\"a>b\" href=\"https://t.example/q\">2</a><a href=\"https://t.example/3\">3</a>",
     "<a href=\"{0}\" href=\"https://two.example/\">1</a>"
     "<a title=\"a>b\" href=\"{1}\">2</a><a href=\"{2}\">3</a>",
     {"https://one.example/", "https://t.example/q", "https://t.example/3"}},
    /* an unterminated tag: the rest is copied as it is */
    {"<a href=\"https://t.example/1\">1</a><a href=\"https://t.example/2",
     "<a href=\"{0}\">1</a><a href=\"https://t.example/2",
     {"https://t.example/1"}},
};

static void rewrites_and_finds_links(void **state)
{
    (void)state;
    edm_track_opts o = {.base_url = BASE,
                        .unsub_prefix = UNSUB,
                        .clicks = 1,
                        .secret = secret,
                        .secret_len = sizeof secret - 1,
                        .delivery_id = DELIVERY};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *h = cases[i].html;
        edm_buf got = EDM_BUF_INIT, want = EDM_BUF_INIT;
        assert_int_equal(edm_track_rewrite(&o, h, strlen(h), &got), 0);
        expand(cases[i].want, &want);
        edm_buf_append_char(&got, '\0');
        edm_buf_append_char(&want, '\0');
        if (strcmp(got.data, want.data) != 0)
            fail_msg("case %zu:\n got  %s\n want %s", i, got.data, want.data);
        size_t k = 0;
        for (; k < 3 && cases[i].urls[k]; k++) {
            edm_buf url = EDM_BUF_INIT;
            assert_int_equal(edm_track_link(BASE, UNSUB, h, strlen(h), (uint32_t)k, &url), 0);
            edm_buf_append_char(&url, '\0');
            if (strcmp(url.data, cases[i].urls[k]) != 0)
                fail_msg("case %zu link %zu: got %s want %s", i, k, url.data, cases[i].urls[k]);
            edm_buf_free(&url);
        }
        /* past the last: none (and a refused URL is none too) */
        edm_buf url = EDM_BUF_INIT;
        int count = 0;
        for (const char *p = cases[i].want; (p = strchr(p, '{')) != NULL; p++)
            count++;
        int rc = edm_track_link(BASE, UNSUB, h, strlen(h), (uint32_t)k, &url);
        if (rc != EDM_ENOTFOUND)
            fail_msg("case %zu: link %zu answered %d", i, k, rc);
        assert_int_equal(url.len, 0);
        assert_true((int)k <= count);
        edm_buf_free(&url);
        edm_buf_free(&got);
        edm_buf_free(&want);
    }
}

/* The pixel goes before the last </body> outside comments, else at the
 * end; with clicks off nothing else changes; no base URL is an error. */
static void open_pixel_place(void **state)
{
    (void)state;
    char tok[EDM_TRACK_TOKEN_MAX];
    assert_true(edm_verp_track_token(tok, EDM_VERP_OPEN, secret, sizeof secret - 1, DELIVERY, 0) >
                0);
    char img[256];
    snprintf(img, sizeof img,
             "<img src=\"%s/o/%s.gif\" width=\"1\" height=\"1\" alt=\"\" "
             "style=\"display:block;border:0;width:1px;height:1px\">",
             BASE, tok);
    edm_track_opts o = {.base_url = BASE,
                        .opens = 1,
                        .secret = secret,
                        .secret_len = sizeof secret - 1,
                        .delivery_id = DELIVERY};
    const char *in[] = {"<html><body><p>x</p></body><!-- </body> --></html>",
                        "<p><a href=\"https://t.example/\">x</a></p>"};
    char want[2][512];
    snprintf(want[0], sizeof want[0], "<html><body><p>x</p>%s</body><!-- </body> --></html>", img);
    snprintf(want[1], sizeof want[1], "<p><a href=\"https://t.example/\">x</a></p>%s", img);
    /* a </body> inside a comment is not the body's end */
    for (int i = 0; i < 2; i++) {
        edm_buf got = EDM_BUF_INIT;
        assert_int_equal(edm_track_rewrite(&o, in[i], strlen(in[i]), &got), 0);
        edm_buf_append_char(&got, '\0');
        assert_string_equal(got.data, want[i]);
        edm_buf_free(&got);
    }
    o.base_url = NULL;
    edm_buf got = EDM_BUF_INIT;
    assert_int_equal(edm_track_rewrite(&o, in[0], strlen(in[0]), &got), EDM_EINVAL);
    edm_buf_free(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rewrites_and_finds_links),
        cmocka_unit_test(open_pixel_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
