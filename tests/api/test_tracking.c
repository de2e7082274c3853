/*
 * tests/api/test_tracking.c: opens and clicks end to end (docs/tracking.md)
 * in the real `edm serve`: a campaign with tracking on is delivered to a
 * real smtp-sink that dumps every message; Python's email package reads
 * the HTML parts back; curl follows every rewritten link on the public
 * listener and must land on that recipient's own URL; mailto:, anchors,
 * data-notrack and unsubscribe links are untouched; forged, altered and
 * misused tokens answer 404 and record nothing; HEAD answers the same
 * head without a body and records nothing; editing the template after
 * sending changes no redirect; the stats, receipts and /v1/events match
 * exactly the clicks and opens made; the clicks still queued when edm is
 * stopped (SIGTERM) are all in the store after it. On both store backends
 * (tests/support/store_backend.h; api_test_tracking_pg).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/api/apitest.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BASE "https://mail.example.com"

static apitest srv;
static int pub_port;
static pid_t sink_pid;

#define req(method, path, body, want) apitest_expect(&srv, method, path, body, want)

/* curl on the public listener: status; *location the redirect target
 * (malloc'd) when asked. ua: a User-Agent or NULL for curl's own. */
static int fetch(const char *url_under_base, const char *ua, char **location, char **headers)
{
    char cmd[4096], hdr[600];
    snprintf(hdr, sizeof hdr, "%s/h.out", srv.dir);
    snprintf(cmd, sizeof cmd,
             "curl -sS -o /dev/null -D %s -w '%%{http_code} %%{redirect_url}' %s%s%s "
             "'http://127.0.0.1:%d%s'",
             hdr, ua ? "-A '" : "", ua ? ua : "", ua ? "'" : "", pub_port,
             url_under_base + strlen(BASE));
    char *out = NULL;
    int code = 0;
    /* No HTTP answer at all (curl's 000) happened twice in loaded parallel
     * runs on PostgreSQL and never alone: say what curl saw and ask once
     * more. Any answer counts as it is; a request that reached edm twice
     * shows in the click counts checked below. */
    for (int attempt = 0; attempt < 2 && code == 0; attempt++) {
        free(out);
        out = NULL;
        int st = edm_test_run(cmd, &out);
        code = out ? atoi(out) : 0;
        if (code == 0)
            fprintf(stderr, "fetch: curl exit %d for %s: %s\n", st, url_under_base, out ? out : "");
    }
    if (location) {
        const char *sp = out ? strchr(out, ' ') : NULL;
        *location = strdup(sp ? sp + 1 : "");
    }
    free(out);
    if (headers)
        *headers = edm_test_read_file(hdr, NULL);
    return code;
}

typedef struct link {
    char to[64], kind[8], url[512];
} link;

/* The links of every delivered message, read back by tests/api/tracking_links.py. */
static size_t read_links(const char *dump, link *ls, size_t max)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", edm_test_src("tests/api/tracking_links.py"),
             dump);
    char *out = NULL;
    assert_int_equal(edm_test_run(cmd, &out), 0);
    size_t n = 0;
    for (char *line = strtok(out, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        assert_non_null(t2);
        snprintf(ls[n].to, sizeof ls[n].to, "%.*s", (int)(t1 - line), line);
        snprintf(ls[n].kind, sizeof ls[n].kind, "%.*s", (int)(t2 - t1 - 1), t1 + 1);
        snprintf(ls[n].url, sizeof ls[n].url, "%s", t2 + 1);
        n++;
    }
    free(out);
    return n;
}

static int64_t stat_int(json_t *stats, const char *obj, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(stats, obj), key));
}

static json_t *events(const char *type)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/events?type=%s", type);
    json_t *e = req("GET", path, NULL, 200);
    json_t *items = json_incref(json_object_get(e, "items"));
    json_decref(e);
    return items;
}

/* HEAD on the public listener: the GET's head (status, want in it), no
 * body. */
static void head_only(const char *url_under_base, const char *want_status, const char *want)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %d HEAD '%s'",
             edm_test_src("tests/api/http_raw.py"), pub_port, url_under_base + strlen(BASE));
    char *out = NULL;
    assert_int_equal(edm_test_run(cmd, &out), 0);
    assert_non_null(out);
    assert_true(strncmp(out, want_status, strlen(want_status)) == 0);
    assert_non_null(strstr(out, want));
    const char *end = strstr(out, "\r\n\r\n");
    assert_non_null(end);
    assert_string_equal(end, "\r\n\r\n"); /* nothing after the head */
    free(out);
}

/* The stats once the queued clicks and opens are written (at most
 * ENGAGEMENT_FLUSH_MS after the last one, docs/tracking.md "Speed"). */
static json_t *stats_when(const char *spath, int64_t clicks, int64_t opens)
{
    json_t *stats = NULL;
    for (int i = 0; i < 100; i++) {
        stats = req("GET", spath, NULL, 200);
        if (stat_int(stats, "clicks", "total") + stat_int(stats, "clicks", "machine_total") ==
                clicks &&
            stat_int(stats, "opens", "total") + stat_int(stats, "opens", "machine_total") == opens)
            return stats;
        json_decref(stats);
        edm_test_sleep_ms(20);
    }
    fail_msg("the stats never showed %lld clicks and %lld opens", (long long)clicks,
             (long long)opens);
    return NULL;
}

/* A count read through a second connection (SQLite or PostgreSQL,
 * tests/support/store_backend.h), after edm has stopped. */
static int64_t db_count(const char *sql)
{
    return edm_test_store_value(srv.db, sql);
}

static const char *names[3] = {"ann", "bob", "cy"};
static const char *skus[3] = {"A1", "B2", "C3"};
/* a CSV column stored compactly (engine/store/vars.h): UTF-8, empty, and
 * a quoted field with a comma and quotes, rendered as they were given */
static const char *cities[3] = {"Z\xc3\xbcrich", "", "a, \"b\""};

static int who(const char *to)
{
    for (int i = 0; i < 3; i++)
        if (strstr(to, names[i]) == to)
            return i;
    fail_msg("unexpected recipient %s", to);
    return -1;
}

static void tracked_campaign(void **state)
{
    (void)state;
    char *dump = edm_test_tmpdir("sinkdump");
    chmod(dump, 0777);
    int sink_port = edm_test_free_port("127.0.0.1");
    char addr[64], tmpl[600];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sink_port);
    snprintf(tmpl, sizeof tmpl, "%s/m.", dump);
    char *argv[] = {"smtp-sink", "-u", "nobody", "-d", tmpl, addr, "64", NULL};
    sink_pid = edm_test_spawn(argv, NULL);
    assert_true(sink_pid > 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", sink_port, 5000), 0);

    pub_port = edm_test_free_port("127.0.0.1");
    char extra[512];
    snprintf(extra, sizeof extra,
             "\"pools\": [{\"name\": \"default\"}], "
             "\"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}], "
             "\"public\": {\"listen\": \"127.0.0.1:%d\", \"base_url\": \"" BASE "\", "
             "\"machine_open_seconds\": 0, \"machine_ips\": [\"10.9.0.0/16\"]}",
             sink_port, pub_port);
    apitest_start_serve(&srv, "EDM_TEST_TRACK_KEYS", "k1", 0, extra);
    assert_int_equal(edm_test_wait_port("127.0.0.1", pub_port, 5000), 0);

    const char *tbody =
        "{\"name\":\"t\",\"subject\":\"Hi {{name}}\",\"text\":\"shop\",\"html\":"
        "\"<html><body><p>Hi {{name}}</p>"
        "<a href=\\\"https://shop.example/p/{{sku}}?u={{name}}&amp;x=1\\\">Buy</a> "
        "<a href=\\\"mailto:help@example.com\\\">mail</a> <a href=\\\"#top\\\">top</a> "
        "<a data-notrack href=\\\"https://notrack.example/{{city}}\\\">nt</a> "
        "<A class=x HREF='https://news.example/{{name}}'>news</A> "
        "<a href=\\\"https://prefs.example/unsubscribe?u={{name}}\\\">unsub</a> "
        "<a href=\\\"{{unsubscribe_url}}\\\">stop</a>"
        "</body></html>\"}";
    json_t *t = req("POST", "/v1/templates", tbody, 201);
    int64_t tid = json_integer_value(json_object_get(t, "id"));
    char body[400];
    snprintf(body, sizeof body,
             "{\"name\":\"c\",\"template_id\":%lld,\"from\":\"n@example.com\","
             "\"track\":{\"opens\":true,\"clicks\":true}}",
             (long long)tid);
    json_decref(t);
    json_t *c = req("POST", "/v1/campaigns", body, 201);
    int64_t cid = json_integer_value(json_object_get(c, "id"));
    assert_true(json_is_true(json_object_get(json_object_get(c, "track"), "clicks")));
    json_decref(c);
    apitest_expect_error(&srv, "POST", "/v1/campaigns",
                         "{\"name\":\"c\",\"from\":\"n@example.com\",\"track\":{\"opens\":1}}", 422,
                         "invalid_type", "track.opens");
    json_decref(apitest_upload(&srv, cid, "text/csv",
                               "email,name,sku,city\nann@a.test,ann,A1,Z\xc3\xbcrich\n"
                               "bob@b.test,bob,B2,\ncy@a.test,cy,C3,\"a, \"\"b\"\"\"\n",
                               200));
    char path[128];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/schedule", (long long)cid);
    json_decref(req("POST", path, "{\"send_at\":\"2001-01-01T00:00:00Z\"}", 200));
    char spath[128];
    snprintf(spath, sizeof spath, "/v1/campaigns/%lld/stats", (long long)cid);
    json_t *stats = NULL;
    for (int i = 0; i < 400; i++) {
        stats = req("GET", spath, NULL, 200);
        if (json_integer_value(json_object_get(stats, "done")) == 3)
            break;
        json_decref(stats);
        stats = NULL;
        edm_test_sleep_ms(50);
    }
    assert_non_null(stats);
    assert_int_equal(stat_int(stats, "counts", "delivered"), 3);
    json_decref(stats);

    /* Every message: two tracked links, five untouched (the last one
     * {{unsubscribe_url}}, the one-click URL of List-Unsubscribe), the
     * pixel last. */
    link ls[64];
    size_t n = read_links(dump, ls, 64);
    assert_int_equal(n, 3 * 8);
    char clicks[3][2][512], opens[3][512];
    memset(clicks, 0, sizeof clicks);
    for (size_t i = 0; i < n; i += 8) {
        int r = who(ls[i].to);
        assert_string_equal(ls[i + 0].kind, "href");
        assert_true(strncmp(ls[i + 0].url, BASE "/c/", strlen(BASE) + 3) == 0);
        assert_string_equal(ls[i + 1].url, "mailto:help@example.com");
        assert_string_equal(ls[i + 2].url, "#top");
        char city[128];
        snprintf(city, sizeof city, "https://notrack.example/%s", cities[r]);
        assert_string_equal(ls[i + 3].url, city);
        assert_true(strncmp(ls[i + 4].url, BASE "/c/", strlen(BASE) + 3) == 0);
        char unsub[128];
        snprintf(unsub, sizeof unsub, "https://prefs.example/unsubscribe?u=%s", names[r]);
        assert_string_equal(ls[i + 5].url, unsub);
        assert_true(strncmp(ls[i + 6].url, BASE "/u/", strlen(BASE) + 3) == 0);
        assert_string_equal(ls[i + 7].kind, "img");
        assert_true(strncmp(ls[i + 7].url, BASE "/o/", strlen(BASE) + 3) == 0);
        snprintf(clicks[r][0], 512, "%s", ls[i].url);
        snprintf(clicks[r][1], 512, "%s", ls[i + 4].url);
        snprintf(opens[r], 512, "%s", ls[i + 7].url);
    }

    /* Forged, altered and misused tokens: 404, nothing recorded. */
    char bad[6][600];
    snprintf(bad[0], 600, "%s", clicks[0][0]);
    char *last = &bad[0][strlen(bad[0]) - 1]; /* altered tag (a letter: no curl glob) */
    *last = *last == 'a' ? 'b' : 'a';
    snprintf(bad[1], 600, "%s", clicks[0][0]);
    char *dash = strchr(bad[1] + strlen(BASE) + 3, '-');
    dash[1] = dash[1] == '0' ? '1' : '0';                               /* another link index */
    snprintf(bad[2], 600, "%s/c/%s", BASE, strrchr(opens[0], '/') + 1); /* an open token */
    snprintf(bad[3], 600, "%s/o/%s.gif", BASE, strrchr(clicks[1][0], '/') + 1);
    snprintf(bad[4], 600, "%s/c/1-0-aaaaaaaaaaaaaaaa", BASE);
    snprintf(bad[5], 600, "%s/c/%s", BASE, "../../v1/health");
    for (int i = 0; i < 6; i++)
        assert_int_equal(fetch(bad[i], NULL, NULL, NULL), 404);
    /* A link checker's HEAD: the same answer without a body, nothing
     * recorded (the counts below hold only the GETs). */
    char want[200];
    snprintf(want, sizeof want, "\r\nLocation: https://shop.example/p/%s?u=%s&x=1\r\n", skus[0],
             names[0]);
    head_only(clicks[0][0], "HTTP/1.1 302 Found\r\n", want);
    head_only(opens[0], "HTTP/1.1 200 ", "\r\nContent-Type: image/gif\r\n");
    edm_test_sleep_ms(200); /* past a flush: anything queued is written */
    json_t *none = events("click");
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
    none = events("open");
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);

    /* The template edited after sending: links moved, one removed, one
     * added before the others. The redirects still go where each
     * recipient was sent (the source taken when the campaign started,
     * docs/tracking.md). */
    char tpath[64];
    snprintf(tpath, sizeof tpath, "/v1/templates/%lld", (long long)tid);
    json_decref(req("PUT", tpath,
                    "{\"name\":\"t\",\"subject\":\"Edited\",\"text\":\"x\",\"html\":"
                    "\"<a href=\\\"https://new.example/first\\\">n</a> "
                    "<a href=\\\"https://moved.example/{{sku}}\\\">Buy</a>\"}",
                    200));

    /* Every rewritten link lands on that recipient's own URL. */
    for (int r = 0; r < 3; r++) {
        char want0[200], want1[200], *loc = NULL;
        snprintf(want0, sizeof want0, "https://shop.example/p/%s?u=%s&x=1", skus[r], names[r]);
        snprintf(want1, sizeof want1, "https://news.example/%s", names[r]);
        assert_int_equal(fetch(clicks[r][0], NULL, &loc, NULL), 302);
        assert_string_equal(loc, want0);
        free(loc);
        assert_int_equal(fetch(clicks[r][1], NULL, &loc, NULL), 302);
        assert_string_equal(loc, want1);
        free(loc);
    }
    /* ann clicks the first link again; a scanner follows bob's. */
    char *loc = NULL;
    assert_int_equal(fetch(clicks[0][0], NULL, &loc, NULL), 302);
    free(loc);
    assert_int_equal(fetch(clicks[1][0], "Mozilla/5.0 (compatible; Barracuda)", &loc, NULL), 302);
    free(loc);

    /* Opens: ann twice, bob through Gmail's image proxy (machine). */
    char *hdrs = NULL;
    assert_int_equal(fetch(opens[0], NULL, NULL, &hdrs), 200);
    assert_non_null(strstr(hdrs, "Content-Type: image/gif"));
    assert_non_null(strstr(hdrs, "no-store"));
    free(hdrs);
    assert_int_equal(fetch(opens[0], NULL, NULL, NULL), 200);
    assert_int_equal(fetch(opens[1],
                           "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via "
                           "ggpht.com GoogleImageProxy)",
                           NULL, NULL),
                     200);

    stats = stats_when(spath, 8, 3);
    assert_int_equal(stat_int(stats, "clicks", "total"), 7);
    assert_int_equal(stat_int(stats, "clicks", "unique"), 3);
    assert_int_equal(stat_int(stats, "clicks", "machine_total"), 1);
    assert_int_equal(stat_int(stats, "clicks", "machine_unique"), 1);
    assert_int_equal(stat_int(stats, "opens", "total"), 2);
    assert_int_equal(stat_int(stats, "opens", "unique"), 1);
    assert_int_equal(stat_int(stats, "opens", "machine_total"), 1);
    assert_int_equal(stat_int(stats, "opens", "machine_unique"), 1);
    json_t *links = json_object_get(stats, "links");
    assert_int_equal(json_array_size(links), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(links, 0), "total")), 4);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(links, 0), "unique")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(links, 0), "machine_total")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(links, 1), "total")), 3);
    assert_true(json_real_value(json_object_get(stats, "click_through_rate")) == 1.0);
    json_decref(stats);

    json_t *ce = events("click");
    assert_int_equal(json_array_size(ce), 8);
    size_t i;
    json_t *e;
    int machine = 0;
    json_array_foreach(ce, i, e)
    {
        int r = who(json_string_value(json_object_get(e, "email")));
        const char *url = json_string_value(json_object_get(e, "url"));
        assert_non_null(url);
        assert_non_null(strstr(url, names[r]));
        machine += json_is_true(json_object_get(e, "machine"));
    }
    assert_int_equal(machine, 1);
    json_decref(ce);
    json_t *oe = events("open");
    assert_int_equal(json_array_size(oe), 3);
    json_decref(oe);

    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts", (long long)cid);
    json_t *list = req("GET", path, NULL, 200);
    json_array_foreach(json_object_get(list, "items"), i, e)
    {
        int r = who(json_string_value(json_object_get(e, "email")));
        assert_true(json_is_string(json_object_get(e, "clicked_at")));
        assert_true(r == 2 ? json_is_null(json_object_get(e, "opened_at"))
                           : json_is_string(json_object_get(e, "opened_at")));
    }
    json_decref(list);

    /* A burst of clicks, then SIGTERM right after the last answer: the
     * clicks still queued are written as edm stops. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %d '%s' 300 %d",
             edm_test_src("tests/api/click_burst.py"), pub_port, clicks[2][1] + strlen(BASE),
             (int)srv.pid);
    char *out = NULL;
    assert_int_equal(edm_test_run(cmd, &out), 0);
    assert_non_null(out);
    assert_int_equal(atoi(out), 300);
    free(out);
    assert_int_equal(edm_test_wait_exit(srv.pid, 10000), 0);
    srv.pid = 0;
    assert_int_equal(db_count("SELECT count(*) FROM delivery_events WHERE type = 5"), 8 + 300);
    assert_int_equal(db_count("SELECT sum(total) FROM engagement_counts WHERE what = 1 AND "
                              "link = 1 AND machine = 0"),
                     3 + 300);
    edm_test_rmtree(srv.dir);
    free(srv.dir);
    srv.dir = NULL;

    edm_test_stop(sink_pid, 1000);
    sink_pid = 0;
    edm_test_rmtree(dump);
    free(dump);
}

static int teardown(void **state)
{
    (void)state;
    if (sink_pid > 0)
        edm_test_stop(sink_pid, 1000);
    if (srv.pid > 0)
        edm_test_stop(srv.pid, 1000);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(tracked_campaign, teardown),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
