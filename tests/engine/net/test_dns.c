/*
 * tests/engine/net/test_dns.c: MX resolution through c-ares against a real
 * dnsmasq on a free port: preference order and shuffling among equals,
 * IPv4 before IPv6, implicit MX, null MX and NXDOMAIN (permanent), refused
 * and timed-out queries (temporary), MX hosts without addresses, the TTL
 * cache and its cap, coalesced concurrent lookups, cancel, and closing
 * with lookups in flight. Every test counts callbacks and ends with an
 * empty loop; dnsmasq is stopped by PID in the group teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/config/config.h"
#include "engine/net/dns.h"
#include "engine/base/err.h"
#include "engine/delivery/resolve.h"
#include "engine/base/log.h"
#include "tests/support/smtp_run.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pid_t dnsmasq_pid;
static char live_ip[32], dead_ip[32];
static char server[64];
static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = edm_test_tmpdir("dns");
    int port = edm_test_free_port("127.0.0.1");
    snprintf(server, sizeof server, "127.0.0.1:%d", port);
    char portarg[32], log[600];
    snprintf(portarg, sizeof portarg, "--port=%d", port);
    snprintf(log, sizeof log, "%s/dnsmasq.log", dir);
    /* deliver.test: a dead MX (preference 5) and a live one (10) where the
     * test's fake SMTP server listens. */
    int x = 30 + (int)(getpid() % 100);
    snprintf(live_ip, sizeof live_ip, "127.0.1.%d", x);
    snprintf(dead_ip, sizeof dead_ip, "127.0.1.%d", x + 100);
    char live_rec[80], dead_rec[80];
    snprintf(live_rec, sizeof live_rec, "--host-record=mx-live.deliver.test,%s", live_ip);
    snprintf(dead_rec, sizeof dead_rec, "--host-record=mx-dead.deliver.test,%s", dead_ip);
    char *argv[] = {"dnsmasq",
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--pid-file=",
                    "--user=root",
                    portarg,
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--no-resolv",
                    "--no-hosts",
                    "--log-queries",
                    "--log-facility=-",
                    "--local-ttl=60",
                    "--local=/test/",
                    "--mx-host=a.test,mx1.a.test,10",
                    "--mx-host=a.test,mx2.a.test,20",
                    "--mx-host=a.test,mx3.a.test,10",
                    "--host-record=mx1.a.test,127.0.1.1",
                    "--host-record=mx2.a.test,127.0.1.2",
                    "--host-record=mx3.a.test,127.0.1.3,::1",
                    "--mx-host=nullmx.test,.,0",
                    "--address=/nx.test/",
                    "--host-record=implicit.test,127.0.1.5",
                    "--mx-host=noaddr.test,ghost.noaddr.test,10",
                    "--server=/sf.test/127.0.0.1#1",
                    "--mx-host=deliver.test,mx-dead.deliver.test,5",
                    "--mx-host=deliver.test,mx-live.deliver.test,10",
                    live_rec,
                    dead_rec,
                    NULL};
    dnsmasq_pid = edm_test_spawn(argv, log);
    if (dnsmasq_pid < 0 || edm_test_wait_port("127.0.0.1", port, 10000) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (dnsmasq_pid > 0)
        edm_test_stop(dnsmasq_pid, 2000);
    if (getenv("EDM_TEST_DEBUG")) {
        char path[700];
        snprintf(path, sizeof path, "%s/dnsmasq.log", dir);
        char *text = edm_test_read_file(path, NULL);
        fprintf(stderr, "%s", text ? text : "(no dnsmasq log)\n");
        free(text);
    }
    edm_test_rmtree(dir);
    free(dir);
    return 0;
}

#define MAXR 32

struct got {
    int calls;
    uint64_t id;
    enum dns_status status;
    int implicit, from_cache;
    uint32_t ttl;
    char hosts[8][64];
    unsigned prefs[8];
    char addrs[8][4][64];
    size_t naddrs[8];
    size_t nhosts;
};

struct ctx {
    uv_loop_t loop;
    dns_resolver *r;
    struct got got[MAXR];
    int n, calls;
};

static void on_mx(uint64_t id, const dns_mx_result *res, void *arg)
{
    struct ctx *c = arg;
    c->calls++;
    assert_true(id >= 1 && id <= MAXR);
    struct got *g = &c->got[id - 1];
    g->calls++;
    g->id = id;
    g->status = res->status;
    g->implicit = res->implicit;
    g->from_cache = res->from_cache;
    g->ttl = res->ttl;
    g->nhosts = res->nhosts;
    for (size_t i = 0; i < res->nhosts && i < 8; i++) {
        snprintf(g->hosts[i], sizeof g->hosts[i], "%s", res->hosts[i].name);
        g->prefs[i] = res->hosts[i].pref;
        g->naddrs[i] = res->hosts[i].naddrs;
        for (size_t k = 0; k < res->hosts[i].naddrs && k < 4; k++)
            snprintf(g->addrs[i][k], sizeof g->addrs[i][k], "%s", res->hosts[i].addrs[k]);
    }
}

static void ctx_init(struct ctx *c, unsigned max_ttl, unsigned timeout_ms, const char *srv)
{
    memset(c, 0, sizeof *c);
    assert_int_equal(uv_loop_init(&c->loop), 0);
    const char *servers[] = {srv ? srv : server};
    dns_options o = {servers, 1, max_ttl, timeout_ms, 1};
    char err[200];
    c->r = dns_new(&c->loop, &o, on_mx, c, err, sizeof err);
    if (c->r == NULL)
        fail_msg("dns_new: %s", err);
}

static void run(struct ctx *c)
{
    uv_run(&c->loop, UV_RUN_DEFAULT);
}

static void ctx_close(struct ctx *c)
{
    dns_close(c->r);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_alive(&c->loop), 0);
    assert_int_equal(uv_loop_close(&c->loop), 0);
}

static void outcomes(void **state)
{
    (void)state;
    static const struct {
        const char *domain;
        enum dns_status st;
        int implicit;
        size_t nhosts;
        const char *first;
    } cases[] = {
        {"a.test", DNS_OK, 0, 3, NULL},
        {"A.Test.", DNS_OK, 0, 3, NULL}, /* same name: coalesced with the first */
        {"nullmx.test", DNS_NULL_MX, 0, 0, NULL},
        {"nx.test", DNS_NXDOMAIN, 0, 0, NULL},
        {"nothere.test", DNS_NXDOMAIN, 0, 0, NULL},
        {"implicit.test", DNS_OK, 1, 1, "implicit.test"},
        {"noaddr.test", DNS_NO_ADDRESS, 0, 0, NULL},
        {"other.example", DNS_TEMPFAIL, 0, 0, NULL}, /* REFUSED */
        {"sf.test", DNS_TEMPFAIL, 0, 0, NULL},       /* upstream never answers */
    };
    struct ctx c;
    ctx_init(&c, 0, 300, NULL);
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dns_resolve_mx(c.r, cases[i].domain), i + 1);
    assert_int_equal(c.calls, 0); /* never from inside dns_resolve_mx */
    run(&c);
    assert_int_equal(c.calls, n);
    for (size_t i = 0; i < n; i++) {
        struct got *g = &c.got[i];
        assert_int_equal(g->calls, 1);
        if (g->status != cases[i].st)
            fail_msg("%s: %s, want %s", cases[i].domain, dns_status_name(g->status),
                     dns_status_name(cases[i].st));
        assert_int_equal(g->implicit, cases[i].implicit);
        assert_int_equal(g->nhosts, cases[i].nhosts);
        if (cases[i].first)
            assert_string_equal(g->hosts[0], cases[i].first);
    }
    /* a.test: prefs 10, 10, 20; mx3 has IPv4 first then IPv6. */
    struct got *a = &c.got[0];
    assert_int_equal(a->prefs[0], 10);
    assert_int_equal(a->prefs[1], 10);
    assert_string_equal(a->hosts[2], "mx2.a.test");
    assert_string_equal(a->addrs[2][0], "127.0.1.2");
    for (int i = 0; i < 2; i++) {
        if (strcmp(a->hosts[i], "mx3.a.test") == 0) {
            assert_int_equal(a->naddrs[i], 2);
            assert_string_equal(a->addrs[i][0], "127.0.1.3");
            assert_string_equal(a->addrs[i][1], "::1");
        } else {
            assert_string_equal(a->hosts[i], "mx1.a.test");
            assert_string_equal(a->addrs[i][0], "127.0.1.1");
        }
    }
    assert_int_equal(a->ttl, 60); /* dnsmasq --local-ttl */
    assert_int_equal(c.got[5].ttl, 60);
    assert_string_equal(c.got[5].addrs[0][0], "127.0.1.5");
    ctx_close(&c);
}

static void cache_coalescing_and_shuffle(void **state)
{
    (void)state;
    struct ctx c;
    ctx_init(&c, 0, 0, NULL);
    for (int i = 0; i < 5; i++)
        dns_resolve_mx(c.r, "a.test");
    run(&c);
    assert_int_equal(c.calls, 5);
    /* One MX query and A+AAAA for each of the three hosts, for five callers. */
    assert_int_equal(dns_queries_sent(c.r), 7);
    for (int i = 0; i < 5; i++)
        assert_int_equal(c.got[i].from_cache, 0);
    /* From the cache now: no query; equal preferences come in both orders,
     * the 20 always last. */
    int mx1_first = 0, mx3_first = 0;
    for (int round = 0; round < 25; round++) {
        uint64_t id = dns_resolve_mx(c.r, "a.test");
        run(&c);
        struct got *g = &c.got[id - 1];
        assert_int_equal(g->calls, 1);
        assert_int_equal(g->from_cache, 1);
        assert_string_equal(g->hosts[2], "mx2.a.test");
        mx1_first += strcmp(g->hosts[0], "mx1.a.test") == 0;
        mx3_first += strcmp(g->hosts[0], "mx3.a.test") == 0;
    }
    assert_int_equal(mx1_first + mx3_first, 25);
    assert_true(mx1_first > 0 && mx3_first > 0);
    assert_int_equal(dns_queries_sent(c.r), 7);
    /* Permanent negatives are cached too; temporary failures are not. */
    dns_resolve_mx(c.r, "nx.test");
    run(&c);
    unsigned long q = dns_queries_sent(c.r);
    uint64_t id = dns_resolve_mx(c.r, "nx.test");
    run(&c);
    assert_int_equal(c.got[id - 1].status, DNS_NXDOMAIN);
    assert_int_equal(c.got[id - 1].from_cache, 1);
    assert_int_equal(dns_queries_sent(c.r), q);
    ctx_close(&c);
}

static void ttl_cap_cancel_and_close(void **state)
{
    (void)state;
    struct ctx c;
    ctx_init(&c, 1, 300, NULL); /* dns.cache_max_ttl = 1 */
    uint64_t id = dns_resolve_mx(c.r, "implicit.test");
    run(&c);
    assert_int_equal(c.got[id - 1].ttl, 1);
    unsigned long q = dns_queries_sent(c.r);
    edm_test_sleep_ms(1100); /* past the capped TTL */
    id = dns_resolve_mx(c.r, "implicit.test");
    run(&c);
    assert_int_equal(c.got[id - 1].from_cache, 0);
    assert_true(dns_queries_sent(c.r) > q);

    /* Cancel: no callback for that id; the other request still answered. */
    int before = c.calls;
    uint64_t gone = dns_resolve_mx(c.r, "a.test");
    uint64_t kept = dns_resolve_mx(c.r, "a.test");
    dns_cancel(c.r, gone);
    run(&c);
    assert_int_equal(c.calls, before + 1);
    assert_int_equal(c.got[gone - 1].calls, 0);
    assert_int_equal(c.got[kept - 1].calls, 1);

    /* Close with a lookup in flight (sf.test never answers) and one not
     * started yet: no callback, every handle closed. */
    before = c.calls;
    dns_resolve_mx(c.r, "sf.test");
    uv_run(&c.loop, UV_RUN_NOWAIT); /* starts the query */
    dns_resolve_mx(c.r, "nothere.test");
    ctx_close(&c);
    assert_int_equal(c.calls, before);
}

static void unreachable_server_is_temporary(void **state)
{
    (void)state;
    char dead[64];
    snprintf(dead, sizeof dead, "127.0.0.1:%d", edm_test_free_port("127.0.0.1"));
    struct ctx c;
    ctx_init(&c, 0, 200, dead);
    dns_resolve_mx(c.r, "a.test");
    run(&c);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.got[0].status, DNS_TEMPFAIL);
    ctx_close(&c);

    /* A bad server string is an error naming the key. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *bad[] = {"not an address"};
    dns_options o = {bad, 1, 0, 0, 0};
    char err[200];
    assert_null(dns_new(&loop, &o, on_mx, NULL, err, sizeof err));
    assert_non_null(strstr(err, "dns.servers"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* DNS and the SMTP session together, as the relay uses them: the MX list
 * flattened into targets in preference order; the dead MX is skipped. */
static smtp_target targets[16];
static char target_ips[16][64], target_hosts[16][64];
static size_t ntargets;

static void on_mx_targets(uint64_t id, const dns_mx_result *res, void *arg)
{
    (void)id;
    (void)arg;
    if (res->status != DNS_OK)
        fail_msg("%s: %s (%s)", res->domain, dns_status_name(res->status), res->error);
    ntargets = 0;
    for (size_t i = 0; i < res->nhosts; i++)
        for (size_t k = 0; k < res->hosts[i].naddrs && ntargets < 16; k++) {
            snprintf(target_hosts[ntargets], 64, "%s", res->hosts[i].name);
            snprintf(target_ips[ntargets], 64, "%s", res->hosts[i].addrs[k]);
            targets[ntargets].host = target_hosts[ntargets];
            targets[ntargets].ip = target_ips[ntargets];
            ntargets++;
        }
}

static void delivers_to_the_mx_found(void **state)
{
    (void)state;
    smtp_run r;
    run_init(&r);
    smtp_fake_config cfg = {0};
    cfg.ip = live_ip;
    smtp_fake *f = run_fake(&r, &cfg);
    const char *servers[] = {server};
    dns_options o = {servers, 1, 0, 0, 0};
    char err[200];
    dns_resolver *d = dns_new(&r.loop, &o, on_mx_targets, NULL, err, sizeof err);
    assert_non_null(d);
    dns_resolve_mx(d, "deliver.test");
    uv_run(&r.loop, UV_RUN_NOWAIT);
    while (ntargets == 0)
        uv_run(&r.loop, UV_RUN_ONCE);
    dns_close(d);
    assert_int_equal(ntargets, 2);
    assert_string_equal(targets[0].host, "mx-dead.deliver.test");
    static const char *const rc[] = {"someone@deliver.test", NULL};
    run_add(&r, "s@edm.test", rc, "Subject: via MX\r\n\r\nhello\r\n");
    smtp_options so = run_options(targets, ntargets, smtp_fake_port(f));
    run_session(&r, &so);
    run_loop(&r);
    assert_int_equal(r.msgs[0].status, EDM_DSTATE_DELIVERED);
    assert_string_equal(r.msgs[0].mx_host, "mx-live.deliver.test");
    assert_string_equal(r.msgs[0].mx_ip, live_ip);
    assert_int_equal(smtp_fake_messages(f), 1);
    run_free(&r);
}

/* engine/delivery/resolve.c (the relay's resolver) over engine/net/dns.c. */
struct rgot {
    int calls, rc;
    enum edm_failure failure;
    size_t n;
    char first_host[256], last_ip[64];
};

static void on_resolved(void *arg, int rc, enum edm_failure failure, const char *why,
                        const edm_mx_host *hosts, size_t n)
{
    (void)why;
    struct rgot *g = arg;
    g->calls++;
    g->rc = rc;
    g->failure = failure;
    g->n = n;
    if (n) {
        snprintf(g->first_host, sizeof g->first_host, "%s", hosts[0].host);
        snprintf(g->last_ip, sizeof g->last_ip, "%s", hosts[n - 1].ip);
    }
}

static void relay_resolver(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    edm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    char *servers[] = {server};
    cfg.dns.servers = servers;
    cfg.dns.nservers = 1;
    cfg.dns.cache_max_ttl = 3600;
    edm_resolver *r = NULL;
    char err[200];
    assert_int_equal(edm_resolver_new(&loop, &cfg, &r, err, sizeof err), 0);
    struct rgot a = {0}, nx = {0}, lit = {0}, nul = {0};
    assert_int_equal(edm_resolver_resolve(r, "a.test", on_resolved, &a), 0);
    assert_int_equal(edm_resolver_resolve(r, "nx.test", on_resolved, &nx), 0);
    assert_int_equal(edm_resolver_resolve(r, "nullmx.test", on_resolved, &nul), 0);
    assert_int_equal(edm_resolver_resolve(r, "[127.0.0.1]", on_resolved, &lit), 0);
    assert_int_equal(lit.calls, 1); /* literals answer at once */
    assert_int_equal(lit.n, 1);
    while (a.calls + nx.calls + nul.calls < 3)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(a.rc, 0);
    assert_int_equal(a.failure, EDM_FAIL_NONE);
    assert_int_equal(a.n, 4); /* mx1, mx3 (IPv4 and IPv6), then mx2 */
    assert_string_equal(a.last_ip, "127.0.1.2");
    assert_true(strcmp(a.first_host, "mx1.a.test") == 0 || strcmp(a.first_host, "mx3.a.test") == 0);
    assert_int_equal(nx.rc, EDM_ENOTFOUND);
    assert_int_equal(nx.failure, EDM_FAIL_NXDOMAIN);
    assert_int_equal(nul.rc, EDM_ENOTFOUND);
    assert_int_equal(nul.failure, EDM_FAIL_NULL_MX);
    edm_resolver_free(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    edm_log_set_level(EDM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outcomes),
        cmocka_unit_test(cache_coalescing_and_shuffle),
        cmocka_unit_test(ttl_cap_cancel_and_close),
        cmocka_unit_test(unreachable_server_is_temporary),
        cmocka_unit_test(delivers_to_the_mx_found),
        cmocka_unit_test(relay_resolver),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
