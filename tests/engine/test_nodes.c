/*
 * tests/engine/test_nodes.c: several `edm serve` nodes on one PostgreSQL
 * database (docs/postgresql.md, "Several nodes"), on a throwaway cluster
 * (tests/support/pg_cluster.c), sending one campaign to smtp-sink, which
 * dumps every message with its envelope (X-Rcpt-Args) and the address it
 * came from (X-Client-Addr). Each node has its own source address.
 *  - two and three nodes: the campaign is created, uploaded and scheduled
 *    through different nodes; every recipient is delivered exactly once,
 *    by the nodes between them (each node's address sent some), the
 *    campaign starts and completes once, GET /v1/nodes lists every node
 *    from any node, and receipts read from any node;
 *  - pause through one node stops every node within about a second; resume through another finishes
 * the campaign, each recipient once;
 *  - kill -9 of one node mid-campaign: the others finish it after the dead
 *    node's lease; every recipient delivered, at most the dead node's
 *    in-flight messages (pipeline.window) twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/pg_cluster.h"
#include "tests/support/testlib.h"

#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NODES 3
#define WINDOW    40 /* pipeline.window: what one node holds in flight */

struct fx {
    edm_test_pg pg;
    char *dir;
    char dump[4200];
    char db[4400];
    int sink_port;
    pid_t sink;
    int api[MAX_NODES];
    pid_t node[MAX_NODES];
};

static struct fx F;

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    if (edm_test_pg_start(&F.pg) != 0)
        return -1;
    F.dir = edm_test_tmpdir("nodes");
    chmod(F.dir, 0755); /* smtp-sink writes as nobody */
    snprintf(F.dump, sizeof F.dump, "%s/dump", F.dir);
    if (mkdir(F.dump, 0777) != 0 || chmod(F.dump, 0777) != 0)
        return -1;
    if (edm_test_pg_newdb(&F.pg, F.db, sizeof F.db) != 0)
        return -1;
    F.sink_port = edm_test_free_port("127.0.0.1");
    char addr[64], tmpl[4300], log[4300];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", F.sink_port);
    snprintf(tmpl, sizeof tmpl, "%s/%%H%%M%%S.", F.dump);
    snprintf(log, sizeof log, "%s/sink.log", F.dir);
    char *argv[] = {"smtp-sink", "-u", "nobody", "-m", "200", "-d", tmpl, addr, "256", NULL};
    F.sink = edm_test_spawn(argv, log);
    if (F.sink <= 0 || edm_test_wait_port("127.0.0.1", F.sink_port, 10000) != 0)
        return -1;
    setenv("EDM_API_KEYS", "k", 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < MAX_NODES; i++)
        if (F.node[i] > 0)
            edm_test_stop(F.node[i], 5000);
    if (F.sink > 0)
        edm_test_stop(F.sink, 2000);
    edm_test_pg_stop(&F.pg);
    if (F.dir) {
        edm_test_rmtree(F.dir);
        free(F.dir);
    }
    return 0;
}

/* Node i: its own API port and source address 127.0.0.(2 + i), the
 * route to smtp-sink, a small window so that the nodes share the work. */
static void start_node(int i, const char *extra)
{
    char json[8192], path[4300], log[4300];
    F.api[i] = edm_test_free_port("127.0.0.1");
    snprintf(json, sizeof json,
             "{\"db\": \"%s\", \"api\": {\"listen\": \"127.0.0.1:%d\"},"
             " \"node\": {\"id\": \"node%d\", \"lease\": 3},"
             " \"pipeline\": {\"window\": %d},"
             " \"smtp\": {\"helo\": \"node%d.test\", \"tls\": \"none\"},"
             " \"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.%d\"}]}],"
             " \"domains\": [{\"match\": \"*\", \"max_connections\": 2}],"
             " \"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}]%s}",
             F.db, F.api[i], i, WINDOW, i, 2 + i, F.sink_port, extra ? extra : "");
    snprintf(path, sizeof path, "%s/node%d.json", F.dir, i);
    assert_int_equal(edm_test_write_file(path, json, strlen(json)), 0);
    snprintf(log, sizeof log, "%s/node%d.log", F.dir, i);
    char *argv[] = {(char *)edm_test_bin(), "serve", "-c", path, NULL};
    F.node[i] = edm_test_spawn(argv, log);
    assert_true(F.node[i] > 0);
    if (edm_test_wait_port("127.0.0.1", F.api[i], 15000) != 0) {
        char *text = edm_test_read_file(log, NULL);
        fail_msg("node %d did not come up:\n%s", i, text ? text : "");
    }
}

/* A request to node i's API with curl; returns the parsed answer. */
static json_t *api(int i, const char *method, const char *path, const char *ctype,
                   const char *body_file)
{
    char cmd[9000];
    int n = snprintf(cmd, sizeof cmd,
                     "curl -s -X %s -H 'Authorization: Bearer k' http://127.0.0.1:%d%s", method,
                     F.api[i], path);
    if (body_file)
        snprintf(cmd + n, sizeof cmd - (size_t)n, " -H 'Content-Type: %s' --data-binary @%s", ctype,
                 body_file);
    char *out = NULL;
    assert_int_equal(edm_test_run(cmd, &out), 0);
    json_error_t je;
    json_t *v = json_loads(out ? out : "", 0, &je);
    if (v == NULL)
        fail_msg("%s %s: not JSON: %s", method, path, out ? out : "");
    free(out);
    return v;
}

static json_t *api_json(int i, const char *method, const char *path, const char *body)
{
    char file[4300];
    snprintf(file, sizeof file, "%s/body.json", F.dir);
    assert_int_equal(edm_test_write_file(file, body, strlen(body)), 0);
    return api(i, method, path, "application/json", file);
}

/* Creates, uploads and schedules a campaign of n recipients through
 * nodes a, b and c; returns its id. */
static int64_t campaign(int a, int b, int c, int n, const char *extra)
{
    json_t *t = api_json(a, "POST", "/v1/templates",
                         "{\"name\": \"t\", \"subject\": \"n{{n}}\", \"text\": \"message {{n}}\"}");
    int64_t tid = json_integer_value(json_object_get(t, "id"));
    assert_true(tid > 0);
    json_decref(t);
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\": \"c\", \"template_id\": %lld, \"from\": \"a@example.com\"%s}",
             (long long)tid, extra ? extra : "");
    json_t *cj = api_json(a, "POST", "/v1/campaigns", body);
    int64_t cid = json_integer_value(json_object_get(cj, "id"));
    assert_true(cid > 0);
    json_decref(cj);
    char csv[4300], path[128];
    snprintf(csv, sizeof csv, "%s/r.csv", F.dir);
    FILE *f = fopen(csv, "w");
    fprintf(f, "email,n\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "r%d@d%d.test,%d\n", i, i % 5, i);
    fclose(f);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/recipients", (long long)cid);
    json_t *u = api(b, "POST", path, "text/csv", csv);
    assert_int_equal(json_integer_value(json_object_get(u, "accepted")), n);
    json_decref(u);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/schedule", (long long)cid);
    json_t *s = api_json(c, "POST", path, "{\"send_at\": \"2000-01-01T00:00:00Z\"}");
    const char *st = json_string_value(json_object_get(s, "status"));
    assert_true(st && (strcmp(st, "running") == 0 || strcmp(st, "scheduled") == 0));
    json_decref(s);
    return cid;
}

static const char *campaign_status(int i, int64_t cid)
{
    static char buf[32];
    char path[64];
    snprintf(path, sizeof path, "/v1/campaigns/%lld", (long long)cid);
    json_t *c = api(i, "GET", path, NULL, NULL);
    snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(c, "status")));
    json_decref(c);
    return buf;
}

static int wait_completed(int i, int64_t cid, int seconds)
{
    for (int k = 0; k < seconds * 10; k++) {
        if (strcmp(campaign_status(i, cid), "completed") == 0)
            return 0;
        edm_test_sleep_ms(100);
    }
    return -1;
}

/* Reads the dump: how many messages each recipient got (times[i]), how
 * many came from each node's address (from[node]). */
static long read_dump(int n, int *times, long from[MAX_NODES])
{
    memset(times, 0, sizeof(int) * (size_t)n);
    memset(from, 0, sizeof(long) * MAX_NODES);
    long total = 0;
    DIR *d = opendir(F.dump);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4500];
        snprintf(path, sizeof path, "%s/%s", F.dump, e->d_name);
        char *text = edm_test_read_file(path, NULL);
        if (text == NULL)
            continue;
        const char *r = strstr(text, "X-Rcpt-Args: <r");
        const char *a = strstr(text, "X-Client-Addr: 127.0.0.");
        if (r && a) {
            int k = atoi(r + 15), node = atoi(a + 23) - 2;
            if (k >= 0 && k < n)
                times[k]++;
            if (node >= 0 && node < MAX_NODES)
                from[node]++;
            total++;
        }
        free(text);
        unlink(path);
    }
    if (d)
        closedir(d);
    return total;
}

static long long db_int(const char *sql)
{
    return edm_test_pg_int(F.db, sql);
}

static void nodes_share_one_campaign(int nodes)
{
    enum { N = 600 };
    for (int i = 0; i < nodes; i++)
        start_node(i, NULL);
    int64_t cid = campaign(0, 1 % nodes, nodes - 1, N, NULL);
    if (wait_completed(nodes - 1, cid, 120) != 0)
        fail_msg("campaign not completed: %s", campaign_status(0, cid));
    edm_test_sleep_ms(300); /* smtp-sink finishes writing */
    int times[N];
    long from[MAX_NODES];
    long total = read_dump(N, times, from);
    for (int k = 0; k < N; k++)
        if (times[k] != 1)
            fail_msg("recipient r%d received %d messages", k, times[k]);
    assert_int_equal(total, N);
    for (int i = 0; i < nodes; i++) {
        printf("node%d sent %ld\n", i, from[i]);
        assert_true(from[i] > 0); /* every node took part */
    }
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM deliveries WHERE campaign_id = %lld AND status = 2 "
             "AND attempts = 1 AND lease_node IS NULL",
             (long long)cid);
    assert_int_equal(db_int(sql), N);
    /* started once, completed once, by whichever node got there first */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM campaigns WHERE id = %lld AND status = 4",
             (long long)cid);
    assert_int_equal(db_int(sql), 1);

    /* Any node answers for all: the nodes, the stats, the receipts. */
    for (int i = 0; i < nodes; i++) {
        json_t *l = api(i, "GET", "/v1/nodes", NULL, NULL);
        json_t *items = json_object_get(l, "items");
        assert_int_equal(json_array_size(items), nodes);
        for (int j = 0; j < nodes; j++) {
            json_t *nd = json_array_get(items, (size_t)j);
            char id[32], ip[32];
            snprintf(id, sizeof id, "node%d", j);
            snprintf(ip, sizeof ip, "127.0.0.%d", 2 + j);
            assert_string_equal(json_string_value(json_object_get(nd, "id")), id);
            assert_true(json_is_true(json_object_get(nd, "alive")));
            assert_string_equal(json_string_value(json_array_get(json_object_get(nd, "ips"), 0)),
                                ip);
            assert_int_equal(json_integer_value(json_object_get(nd, "in_flight")), 0);
        }
        json_decref(l);
        char path[128];
        snprintf(path, sizeof path, "/v1/campaigns/%lld/stats", (long long)cid);
        json_t *s = api(i, "GET", path, NULL, NULL);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(s, "counts"), "delivered")), N);
        json_decref(s);
        snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?email=r7@d2.test", (long long)cid);
        json_t *r = api(i, "GET", path, NULL, NULL);
        json_t *rc = json_array_get(json_object_get(r, "items"), 0);
        assert_string_equal(json_string_value(json_object_get(rc, "status")), "delivered");
        json_decref(r);
    }
}

static void two_nodes_send_each_recipient_once(void **state)
{
    (void)state;
    nodes_share_one_campaign(2);
}

static void three_nodes_send_each_recipient_once(void **state)
{
    (void)state;
    nodes_share_one_campaign(3);
}

static void kill9_of_a_node_the_others_finish(void **state)
{
    (void)state;
    enum { N = 1500 };
    for (int i = 0; i < 3; i++)
        start_node(i, NULL);
    /* 150 messages a second for the campaign, shared by the nodes: it
     * lasts about ten seconds, long enough to kill a node in the middle. */
    int64_t cid = campaign(0, 1, 2, N, ", \"max_per_hour\": 540000");
    long seen = 0;
    for (int k = 0; k < 600 && seen < N / 5; k++) {
        edm_test_sleep_ms(20);
        char sql[128];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM deliveries WHERE campaign_id = %lld AND status = 2",
                 (long long)cid);
        seen = db_int(sql);
    }
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM deliveries WHERE lease_node = 'node1'");
    long long held = db_int(sql);
    kill(F.node[1], SIGKILL);
    assert_int_equal(edm_test_wait_exit(F.node[1], 5000), 128 + SIGKILL);
    F.node[1] = 0;
    assert_true(seen < N); /* killed mid-way */
    printf("killed node1 after %ld delivered; it held %lld\n", seen, held);

    if (wait_completed(0, cid, 120) != 0)
        fail_msg("campaign not completed: %s", campaign_status(0, cid));
    edm_test_sleep_ms(300);
    int times[N];
    long from[MAX_NODES];
    long total = read_dump(N, times, from);
    int twice = 0;
    for (int k = 0; k < N; k++) {
        if (times[k] < 1)
            fail_msg("recipient r%d never received its message", k);
        twice += times[k] - 1;
    }
    printf("received %ld for %d recipients (%d twice); node0 %ld node1 %ld node2 %ld\n", total, N,
           twice, from[0], from[1], from[2]);
    assert_true(twice <= WINDOW); /* at most the dead node's in-flight ones */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM deliveries WHERE campaign_id = %lld AND status = 2",
             (long long)cid);
    assert_int_equal(db_int(sql), N);
    /* The dead node is listed as not alive and holds nothing any more. */
    json_t *l = api(2, "GET", "/v1/nodes", NULL, NULL);
    json_t *n1 = json_array_get(json_object_get(l, "items"), 1);
    assert_string_equal(json_string_value(json_object_get(n1, "id")), "node1");
    assert_true(json_is_false(json_object_get(n1, "alive")));
    assert_int_equal(json_integer_value(json_object_get(n1, "in_flight")), 0);
    json_decref(l);
}

static long long delivered(int64_t cid)
{
    char sql[128];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM deliveries WHERE campaign_id = %lld AND status = 2",
             (long long)cid);
    return edm_test_pg_int(F.db, sql);
}

static void pause_and_resume_reach_every_node(void **state)
{
    (void)state;
    enum { N = 1200 };
    for (int i = 0; i < 2; i++)
        start_node(i, NULL);
    /* 150 messages a second for the campaign, shared by the nodes */
    int64_t cid = campaign(0, 0, 0, N, ", \"max_per_hour\": 540000");
    for (int k = 0; k < 500 && delivered(cid) < 100; k++)
        edm_test_sleep_ms(20);
    char path[128];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/pause", (long long)cid);
    json_t *r = api_json(1, "POST", path, "{}");
    assert_string_equal(json_string_value(json_object_get(r, "status")), "paused");
    json_decref(r);
    edm_test_sleep_ms(1500);
    long long d1 = delivered(cid);
    edm_test_sleep_ms(1500);
    long long d2 = delivered(cid);
    printf("paused at %lld delivered, %lld after 1.5 s more\n", d1, d2);
    assert_int_equal(d2, d1); /* no node sends any more */
    assert_true(d1 < N);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/resume", (long long)cid);
    r = api_json(0, "POST", path, "{}");
    assert_string_equal(json_string_value(json_object_get(r, "status")), "running");
    json_decref(r);
    if (wait_completed(1, cid, 120) != 0)
        fail_msg("campaign not completed: %s", campaign_status(0, cid));
    edm_test_sleep_ms(300);
    int times[N];
    long from[MAX_NODES];
    assert_int_equal(read_dump(N, times, from), N);
    for (int k = 0; k < N; k++)
        if (times[k] != 1)
            fail_msg("recipient r%d received %d messages", k, times[k]);
    assert_true(from[0] > 0 && from[1] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(two_nodes_send_each_recipient_once, setup, teardown),
        cmocka_unit_test_setup_teardown(three_nodes_send_each_recipient_once, setup, teardown),
        cmocka_unit_test_setup_teardown(pause_and_resume_reach_every_node, setup, teardown),
        cmocka_unit_test_setup_teardown(kill9_of_a_node_the_others_finish, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
