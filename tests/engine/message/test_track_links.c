/*
 * tests/engine/message/test_track_links.c: finding tracked links again in a
 * rendered HTML part (engine/message/track.c): edm_track_links lists, in
 * index order, exactly what edm_track_link gives for each index (entities
 * decoded, a URL with control characters refused as empty), skipping
 * mailto:, anchors, data-notrack and unsubscribe links.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/message/track.h"

#include <string.h>

#define BASE "https://mail.example.com"

static const char html[] = "<html><body><a href=\"https://shop.example/p/A1?u=ann&amp;x=1\">Buy</a>"
                           "<a href=\"mailto:help@example.com\">m</a><a href=\"#top\">t</a>"
                           "<a data-notrack href=\"https://notrack.example/\">n</a>"
                           "<!-- <a href=\"https://comment.example/\">c</a> -->"
                           "<A class=x HREF='https://news.example/ann'>news</A>"
                           "<a href=\"https://bad.example/&#10;x\">bad</a>"
                           "<a href=\"https://prefs.example/unsubscribe?u=ann\">unsub</a>"
                           "<a href=\"https://news.example/unsub-prefix/tok\">u2</a>"
                           "<a href = \" https://last.example/ \">last</a></body></html>";

static void links_match_link(void **state)
{
    (void)state;
    const char *unsub = "https://news.example/unsub-prefix/";
    edm_buf all = EDM_BUF_INIT;
    uint32_t n = 0;
    assert_int_equal(edm_track_links(BASE, unsub, html, strlen(html), &all, &n), 0);
    assert_int_equal(n, 4);
    const char *want[] = {"https://shop.example/p/A1?u=ann&x=1", "https://news.example/ann", "",
                          "https://last.example/"};
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *got = all.data + off;
        assert_string_equal(got, want[i]);
        off += strlen(got) + 1;
        edm_buf one = EDM_BUF_INIT;
        int rc = edm_track_link(BASE, unsub, html, strlen(html), i, &one);
        if (*want[i]) {
            assert_int_equal(rc, 0);
            assert_string_equal(edm_buf_cstr(&one), want[i]);
        } else {
            assert_int_equal(rc, EDM_ENOTFOUND);
        }
        edm_buf_free(&one);
    }
    assert_int_equal(off, all.len);
    edm_buf one = EDM_BUF_INIT;
    assert_int_equal(edm_track_link(BASE, unsub, html, strlen(html), 4, &one), EDM_ENOTFOUND);
    edm_buf_free(&one);
    edm_buf_free(&all);
}

static void no_links(void **state)
{
    (void)state;
    edm_buf all = EDM_BUF_INIT;
    uint32_t n = 9;
    const char *h = "<p>no links <a href=\"mailto:x@y\">m</a></p>";
    assert_int_equal(edm_track_links(BASE, NULL, h, strlen(h), &all, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(all.len, 0);
    edm_buf_free(&all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(links_match_link),
        cmocka_unit_test(no_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
