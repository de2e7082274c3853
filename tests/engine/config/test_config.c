/*
 * tests/engine/config/test_config.c: the configuration as loaded: bad
 * configs each with their exact messages (table-driven), docs/config.md's
 * example accepted, defaults, the effective config's round trip through
 * JSON, relative paths, DKIM key checks, domain pattern lookups and the
 * "inbound" keys, webhooks.ca_file. (`edm check-config` and the docs' coverage of every key:
 * test_config_cli.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/config/config.h"
#include "engine/base/err.h"
#include "tests/engine/config/config_fixture.h"
#include "tests/support/testlib.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loads json (base dir: the temp dir) and returns its errors joined by
 * newlines ("" when it loads), malloc'd. */
static char *load_errors(const char *json)
{
    edm_config cfg;
    edm_config_errors errs;
    int rc = edm_config_load_string(json, strlen(json), "<test>", config_fixture_dir, &cfg, &errs);
    edm_buf b = EDM_BUF_INIT;
    edm_buf_append_str(&b, "");
    for (size_t i = 0; i < errs.count; i++)
        edm_buf_appendf(&b, "%s%s", i ? "\n" : "", errs.msg[i]);
    if (rc == 0) {
        assert_int_equal(errs.count, 0);
        edm_config_free(&cfg);
    } else {
        assert_int_equal(rc, EDM_EINVAL);
        assert_true(errs.count > 0);
    }
    edm_config_errors_free(&errs);
    return edm_buf_detach(&b, NULL);
}

static void bad_configs(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *errors;
    } cases[] = {
        {"{\"smtp\": {\"port\": \"25\"}}", "smtp.port: expected an integer"},
        {"{\"smtp\": {\"tlss\": \"none\"}}", "smtp.tlss: unknown key"},
        {"{\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\"}, "
         "{\"addr\": \"127.0.0.300\"}]}]}",
         "pools[0].ips[1].addr: not an IP address"},
        {"{\"smtp\": {\"port\": 0}}", "smtp.port: must be between 1 and 65535"},
        {"{\"pipeline\": {\"window\": 0}}", "pipeline.window: must be between 1 and 1000000"},
        {"{\"pipeline\": {\"windows\": 10}}", "pipeline.windows: unknown key"},
        {"{\"smtp\": {\"port\": 65536}}", "smtp.port: must be between 1 and 65535"},
        {"{\"smtp\": {\"port\": 25.0}}", "smtp.port: expected an integer"},
        {"{\"smtp\": {\"tls\": \"maybe\"}}",
         "smtp.tls: must be one of none, opportunistic, required"},
        {"{\"smtp\": {\"timeouts\": {\"data_end\": 0}}}",
         "smtp.timeouts.data_end: must be between 1 and 86400"},
        {"{\"smtp\": {\"tls\": true}}", "smtp.tls: expected a string"},
        {"{\"smtp\": {\"timeouts\": 5}}", "smtp.timeouts: expected an object"},
        {"{\"smtp\": {\"helo\": \"bad host!\"}}",
         "smtp.helo: not a host name or address literal ([192.0.2.1], [IPv6:2001:db8::1])"},
        {"{\"smtp\": {\"helo\": \"[::1]\"}}",
         "smtp.helo: not a host name or address literal ([192.0.2.1], [IPv6:2001:db8::1])"},
        {"{\"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.999:25\"}]}",
         "routes[0].relay: expected host:port (or [IPv6]:port)"},
        {"{\"api\": {\"listen\": \"localhost:8025\"}}",
         "api.listen: expected IP:port (or [IPv6]:port)"},
        {"{\"api\": {\"listen\": \"127.0.0.1\"}}", "api.listen: expected IP:port (or [IPv6]:port)"},
        {"{\"api\": {\"keys_env\": \"EDM-KEYS\"}}",
         "api.keys_env: not an environment variable name"},
        {"{\"api\": {\"header_timeout\": 0}}", "api.header_timeout: must be between 1 and 3600"},
        {"{\"api\": {\"min_body_rate\": \"fast\"}}", "api.min_body_rate: expected an integer"},
        {"{\"api\": {\"max_connections\": 70000}}",
         "api.max_connections: must be between 1 and 65536"},
        {"{\"api\": {\"max_connections_per_ip\": -1}}",
         "api.max_connections_per_ip: must be between 1 and 65536"},
        {"{\"dns\": {\"servers\": [\"1.2.3.4:99999\", 7]}}",
         "dns.servers[0]: expected an IP address with an optional :port\n"
         "dns.servers[1]: expected a string"},
        {"{\"db\": \"\"}", "db: must not be empty"},
        {"{\"log\": {\"level\": \"verbose\"}}",
         "log.level: must be one of debug, info, warn, error, off"},
        {"{\"bounce_domain\": \"-bad.example\"}", "bounce_domain: not a domain name"},
        {"[]", "top level: expected a JSON object"},
        {"{\"pools\": []}", "pools: must not be empty"},
        {"{\"pools\": [1]}", "pools[0]: expected an object"},
        {"{\"pools\": [{\"ips\": []}]}", "pools[0].name: required"},
        {"{\"pools\": [{\"name\": \"a b\"}]}",
         "pools[0].name: must be 1-64 letters, digits, '_', '.' or '-'"},
        {"{\"pools\": [{\"name\": \"x\"}, {\"name\": \"x\"}]}",
         "pools[1].name: \"x\" is already the name of pools[0]"},
        {"{\"pools\": [{\"name\": \"a\", \"ips\": [{\"addr\": \"::1\"}]},"
         " {\"name\": \"b\", \"ips\": [{\"addr\": \"0:0::0001\"}]}]}",
         "pools[1].ips[0].addr: ::1 is already in pools[0].ips[0]"},
        {"{\"pools\": [{\"name\": \"a\", \"ips\": [{\"addr\": \"10.0.0.1\", \"max_per_hour\": -1,"
         " \"weight\": -1}]}]}",
         "pools[0].ips[0].max_per_hour: must be between 0 and 1000000000000\n"
         "pools[0].ips[0].weight: must be between 0 and 1000"},
        {"{\"pools\": [{\"name\": \"a\", \"ips\": [{\"addr\": \"10.0.0.1\","
         " \"warmup\": [[2, 100], [1, 50], [3], [4, 0]]}]}]}",
         "pools[0].ips[0].warmup[1]: day 1 is not after the previous step's day 2\n"
         "pools[0].ips[0].warmup[2]: expected [day, per_day]\n"
         "pools[0].ips[0].warmup[3][1]: must be between 1 and 1000000000000"},
        {"{\"pools\": [{\"name\": \"a\", \"ips\": [{\"helo\": \"x.example\"}]}]}",
         "pools[0].ips[0].addr: required"},
        {"{\"domains\": [{\"match\": \"gmail..com\"}]}",
         "domains[0].match: not a domain pattern (example.com, *.example.com or *)"},
        {"{\"domains\": [{\"match\": \"Gmail.com\"}, {\"match\": \"gmail.com\"}]}",
         "domains[1].match: \"gmail.com\" is already matched by domains[0]"},
        {"{\"domains\": [{\"match\": \"*\", \"max_connections\": 0,"
         " \"backoff\": {\"on\": [\"421\", \"x\", \"4.7.1.2\"], \"pause\": 0}}]}",
         "domains[0].max_connections: must be between 1 and 10000\n"
         "domains[0].backoff.on[1]: not a reply code prefix (like \"421\" or \"4.7.\")\n"
         "domains[0].backoff.on[2]: not a reply code prefix (like \"421\" or \"4.7.\")\n"
         "domains[0].backoff.pause: must be between 1 and 86400"},
        {"{\"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1\"}]}",
         "routes[0].relay: expected host:port (or [IPv6]:port)"},
        {"{\"routes\": [{\"match\": \"*.test\"}]}", "routes[0].relay: required"},
        {"{\"routes\": [{\"match\": \"*.test\", \"relay\": \"smtp.example.com:587\","
         " \"auth\": {\"username\": \"u\", \"password\": \"secret\"}}]}",
         "routes[0].auth.password: unknown key\n"
         "routes[0].auth.password_env: required"},
        {"{\"routes\": [{\"match\": \"*\", \"relay\": \"[::1]:587\", \"tls\": \"opportunistic\","
         " \"auth\": {\"username\": \"u\", \"password_env\": \"RELAY_PASS\"}}]}",
         "routes[0].tls: must be \"required\" with auth (credentials only over TLS)"},
        {"{\"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s1\", \"key\": "
         "\"keys/s1.pem\", \"algorithm\": \"rsa-sha1\"}]}",
         "dkim[0].algorithm: must be one of rsa-sha256, ed25519-sha256"},
        {"{\"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s 1\"}]}",
         "dkim[0].selector: not a selector (DNS labels: letters, digits, '-', '_')\n"
         "dkim[0].key: required"},
        {"{\"retry\": {\"schedule\": []}}", "retry.schedule: must not be empty"},
        {"{\"retry\": {\"schedule\": [60, 0, \"1h\"], \"max_age\": 10}}",
         "retry.schedule[1]: must be between 1 and 604800\n"
         "retry.schedule[2]: expected an integer\n"
         "retry.max_age: must be between 60 and 2592000"},
        {"{\"unsubscribe\": {\"url\": \"http://mail.example.com/u\"}}",
         "unsubscribe.url: not an https:// URL"},
        {"{\"unsubscribe\": {\"url\": \"https:///u\"}}", "unsubscribe.url: not an https:// URL"},
        {"{\"public\": {\"listen\": \"nowhere\"}}",
         "public.listen: expected IP:port (or [IPv6]:port)"},
        {"{\"public\": {\"base_url\": \"http://mail.example.com\"}}",
         "public.base_url: not an https:// URL"},
        {"{\"public\": {\"port\": 1}}", "public.port: unknown key"},
        {"{\"inbound\": {\"listen\": [\"127.0.0.1\"], \"feedback_addresses\": [\"fbl\", 3],"
         " \"max_recipients\": 0, \"data_timeout\": \"1m\", \"cert\": \"c.pem\", \"x\": 1}}",
         "inbound.x: unknown key\n"
         "inbound.listen[0]: expected IP:port (or [IPv6]:port)\n"
         "inbound.feedback_addresses[0]: not an address: missing @\n"
         "inbound.feedback_addresses[1]: expected a string\n"
         "inbound.max_recipients: expected an integer from 1 to 10000\n"
         "inbound.data_timeout: expected an integer from 1 to 3600\n"
         "inbound: cert and key go together"},
        {"{\"inbound\": []}", "inbound: expected an object or null"},
        {"{\"db\": \"a\", \"db\": \"b\"}", "<test>:1:16: duplicate object key near '\"db\"'"},
        {"{\"a\": 1,}", "<test>:1:9: string or '}' expected near '}'"},
        /* Everything is collected, unknown keys first in each object. */
        {"{\"zzz\": 1, \"smtp\": {\"port\": \"25\", \"tlss\": 1}, \"api\": {\"listen\": 8025},"
         " \"unsubscribe\": {\"url\": 1}}",
         "zzz: unknown key\n"
         "api.listen: expected a string\n"
         "smtp.tlss: unknown key\n"
         "smtp.port: expected an integer\n"
         "unsubscribe.url: expected a string or null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = load_errors(cases[i].json);
        if (strcmp(got, cases[i].errors) != 0)
            fail_msg("case %zu: %s\n  expected: %s\n  got:      %s", i, cases[i].json,
                     cases[i].errors, got);
        edm_free(got);
    }
}

static void dkim_key_checks(void **state)
{
    (void)state;
    static const struct {
        const char *key, *alg;
        const char *error; /* "%s": the key's resolved path; NULL: valid */
    } cases[] = {
        {"keys/s1.pem", "rsa-sha256", NULL},
        {"keys/ed.pem", "ed25519-sha256", NULL},
        /* a key not there yet only warns (the engine refuses to start) */
        {"keys/missing.pem", "rsa-sha256", NULL},
        {"keys/junk.pem", "rsa-sha256", "dkim[0].key: %s: not an unencrypted PEM private key"},
        {"keys/ed.pem", "rsa-sha256", "dkim[0].key: %s: not an RSA key (algorithm rsa-sha256)"},
        {"keys/s1.pem", "ed25519-sha256",
         "dkim[0].key: %s: not an Ed25519 key (algorithm ed25519-sha256)"},
        {"keys/small.pem", "rsa-sha256",
         "dkim[0].key: %s: RSA key of 512 bits (1024 at least, 2048 advised)"},
        {"keys", "rsa-sha256",
         "dkim[0].key: %s: not a key file (a regular file of at most 65536 bytes)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512], want[1024];
        snprintf(json, sizeof json,
                 "{\"dkim\": [{\"domain\": \"Example.COM\", \"selector\": \"s1\", \"key\": "
                 "\"%s\", \"algorithm\": \"%s\"}]}",
                 cases[i].key, cases[i].alg);
        snprintf(want, sizeof want, cases[i].error ? cases[i].error : "",
                 config_fixture_path(cases[i].key));
        char *got = load_errors(json);
        if (strcmp(got, want) != 0)
            fail_msg("case %zu: expected '%s', got '%s'", i, want, got);
        edm_free(got);
    }
    /* Two keys for one domain (RSA and Ed25519) are fine; the same selector twice is not. */
    char *got = load_errors("{\"dkim\": ["
                            "{\"domain\": \"example.com\", \"selector\": \"r\", \"key\": "
                            "\"keys/s1.pem\"},"
                            "{\"domain\": \"example.com\", \"selector\": \"e\", \"key\": "
                            "\"keys/ed.pem\", \"algorithm\": \"ed25519-sha256\"},"
                            "{\"domain\": \"EXAMPLE.com\", \"selector\": \"r\", \"key\": "
                            "\"keys/s1.pem\"}]}");
    assert_string_equal(got, "dkim[2].selector: r._domainkey.example.com is already dkim[0]");
    edm_free(got);
}

/* Rules that are not edm's provider rules. */
static size_t own_rules(const edm_config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->ndomains; i++)
        n += !cfg->domains[i].builtin;
    return n;
}

static void product_example_accepted(void **state)
{
    (void)state;
    edm_config cfg;
    edm_config_errors errs;
    const char *path = config_fixture_path("edm.json");
    int rc = edm_config_load(path, &cfg, &errs);
    for (size_t i = 0; i < errs.count; i++)
        print_error("%s\n", errs.msg[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.count, 0);
    assert_string_equal(cfg.path, path);
    assert_string_equal(cfg.db, config_fixture_path("edm.db"));
    assert_string_equal(cfg.api.listen_host, "127.0.0.1");
    assert_int_equal(cfg.api.listen_port, 8025);
    assert_int_equal(cfg.dns.nservers, 1);
    assert_string_equal(cfg.dns.servers[0], "127.0.0.1:5353");
    assert_string_equal(cfg.smtp.helo, "mta.example.com");
    assert_int_equal(cfg.smtp.tls, EDM_TLS_OPPORTUNISTIC);
    assert_int_equal(cfg.smtp.timeouts.data_end, 600);
    assert_int_equal(cfg.npools, 1);
    const struct edm_config_ip *ip = &cfg.pools[0].ips[0];
    assert_int_equal(cfg.pools[0].nips, 1);
    assert_string_equal(ip->addr, "127.0.0.2");
    assert_int_equal(ip->max_per_hour, 50000);
    assert_int_equal(ip->nwarmup, 2);
    assert_int_equal(ip->warmup[1].day, 2);
    assert_int_equal(ip->warmup[1].per_day, 5000);
    /* gmail.com as given, plus the built-in "*" entry for every other domain
     * (and the provider rules, engine/config/config_builtin.c). */
    assert_int_equal(own_rules(&cfg), 2);
    assert_string_equal(edm_config_domain_for(&cfg, "GMAIL.com")->match, "gmail.com");
    assert_int_equal(edm_config_domain_for(&cfg, "gmail.com")->max_per_minute, 600);
    assert_string_equal(edm_config_domain_for(&cfg, "mail.gmail.com")->match, "*");
    assert_int_equal(edm_config_domain_for(&cfg, "yahoo.com")->max_connections, 20);
    const struct edm_config_route *r = edm_config_route_for(&cfg, "a.test");
    assert_non_null(r);
    assert_string_equal(r->relay_host, "127.0.0.1");
    assert_int_equal(r->relay_port, 2525);
    assert_int_equal(r->tls, EDM_TLS_OPPORTUNISTIC);
    assert_null(edm_config_route_for(&cfg, "test"));
    assert_null(edm_config_route_for(&cfg, "example.com"));
    assert_string_equal(cfg.dkim[0].key, config_fixture_path("keys/s1.pem"));
    assert_int_equal(cfg.retry.nschedule, 4);
    assert_int_equal(cfg.retry.max_age, 86400);
    assert_string_equal(cfg.unsubscribe.url, "https://mail.example.com/unsubscribe");
    assert_string_equal(edm_config_pool_find(&cfg, NULL)->name, "default");
    assert_null(edm_config_pool_find(&cfg, "other"));
    edm_config_free(&cfg);
}

/* "mx:" rules: a pattern on MX host names, chosen by the most preferred
 * host any of them matches; a config rule with a built-in rule's match
 * replaces it; the new keys and their errors. */
static void mx_rules_and_provider_rules(void **state)
{
    (void)state;
    static const char json[] =
        "{\"domains\": [{\"match\": \"mx:*.google.com\", \"max_connections\": 3,"
        " \"max_per_hour\": 7200, \"burst\": 4, \"total\": {\"max_connections\": 9}},"
        " {\"match\": \"mx:mx.b.test\"}],"
        " \"routes\": [{\"match\": \"*\", \"relay\": \"r.test:25\"}]}";
    edm_config cfg;
    edm_config_errors errs;
    assert_int_equal(edm_config_load_string(json, strlen(json), "t", NULL, &cfg, &errs), 0);
    size_t google = 0;
    for (size_t i = 0; i < cfg.ndomains; i++)
        google += strcmp(cfg.domains[i].match, "mx:*.google.com") == 0;
    assert_int_equal(google, 1); /* the config's replaced the built-in one */
    const char *hosts[] = {"mx.a.test", "alt1.aspmx.l.google.com", "mx.b.test"};
    const struct edm_config_domain *d = edm_config_mx_rule_for(&cfg, hosts, 3);
    assert_non_null(d);
    assert_string_equal(d->match, "mx:*.google.com");
    assert_false(d->builtin);
    assert_int_equal(d->max_connections, 3);
    assert_int_equal(d->max_per_hour, 7200);
    assert_int_equal(edm_config_domain_burst(d), 4);
    assert_int_equal(d->total_max_connections, 9);
    assert_string_equal(edm_config_mx_rule_for(&cfg, hosts + 2, 1)->match, "mx:mx.b.test");
    assert_null(edm_config_mx_rule_for(&cfg, hosts, 1));
    const char *qq[] = {"mx3.qq.com"};
    assert_true(edm_config_mx_rule_for(&cfg, qq, 1)->builtin);
    /* mx: rules never match a recipient domain as such. */
    assert_string_equal(edm_config_domain_for(&cfg, "google.com")->match, "*");
    assert_int_equal(cfg.routes[0].max_connections, 50);
    edm_config_free(&cfg);
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"domains\": [{\"match\": \"mx:*\"}]}",
         "domains[0].match: not an MX host pattern (mx:mx.example.com or mx:*.example.com)"},
        {"{\"domains\": [{\"match\": \"*\", \"burst\": -1}]}",
         "domains[0].burst: must be between 0 and 1000000"},
        {"{\"domains\": [{\"match\": \"*\", \"total\": {\"max_conn\": 1}}]}",
         "domains[0].total.max_conn: unknown key"},
        {"{\"routes\": [{\"match\": \"*\", \"relay\": \"r.test:25\", \"max_connections\": 0}]}",
         "routes[0].max_connections: must be between 1 and 100000"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            edm_config_load_string(bad[i].json, strlen(bad[i].json), "t", NULL, &cfg, &errs),
            EDM_EINVAL);
        edm_buf got = EDM_BUF_INIT;
        for (size_t k = 0; k < errs.count; k++)
            edm_buf_appendf(&got, "%s%s", k ? "\n" : "", errs.msg[k]);
        if (strcmp(edm_buf_cstr(&got), bad[i].want) != 0)
            fail_msg("case %zu: got %s", i, edm_buf_cstr(&got));
        edm_buf_free(&got);
        edm_config_errors_free(&errs);
    }
}

static void defaults_filled(void **state)
{
    (void)state;
    edm_config cfg;
    edm_config_errors errs;
    assert_int_equal(edm_config_load(NULL, &cfg, &errs), 0);
    assert_null(cfg.path);
    assert_string_equal(cfg.db, "edm.db");
    assert_string_equal(cfg.api.listen, "127.0.0.1:8025");
    assert_string_equal(cfg.api.keys_env, "EDM_API_KEYS");
    assert_int_equal(cfg.api.header_timeout, 10);
    assert_int_equal(cfg.api.min_body_rate, 1024);
    assert_int_equal(cfg.api.max_connections, 1024);
    assert_int_equal(cfg.api.max_connections_per_ip, 64);
    assert_int_equal(cfg.dns.nservers, 0);
    assert_int_equal(cfg.smtp.port, 25);
    assert_int_equal(cfg.pipeline.window, 4000);
    assert_true(strlen(cfg.smtp.helo) > 0);
    assert_int_equal(cfg.smtp.tls, EDM_TLS_OPPORTUNISTIC);
    const struct edm_config_timeouts *t = &cfg.smtp.timeouts;
    int want[] = {30, 300, 300, 300, 120, 180, 600};
    int got[] = {t->connect, t->greeting, t->mail, t->rcpt, t->data, t->data_block, t->data_end};
    assert_memory_equal(got, want, sizeof want);
    assert_int_equal(cfg.npools, 1);
    assert_string_equal(cfg.pools[0].name, "default");
    assert_int_equal(cfg.pools[0].nips, 0);
    assert_int_equal(own_rules(&cfg), 1);
    assert_string_equal(cfg.domains[0].match, "*");
    assert_int_equal(cfg.nroutes, 0);
    assert_int_equal(cfg.ndkim, 0);
    assert_int_equal(cfg.retry.schedule[0], 60);
    assert_int_equal(cfg.retry.max_age, 259200);
    assert_null(cfg.unsubscribe.url);
    assert_int_equal(cfg.log_level, EDM_LOG_INFO);
    /* "{}" is the same configuration as no file at all. */
    char *a = edm_config_to_json(&cfg);
    edm_config_free(&cfg);
    assert_int_equal(edm_config_load_string("{}", 2, "t", NULL, &cfg, &errs), 0);
    char *b = edm_config_to_json(&cfg);
    assert_string_equal(a, b);
    edm_config_free(&cfg);
    edm_free(a);
    edm_free(b);
    /* Per-address HELO and route TLS are filled from smtp. */
    const char *j = "{\"smtp\": {\"helo\": \"mx.example.org\", \"tls\": \"required\"},"
                    " \"message_id_domain\": \"Mail.Example.ORG\","
                    " \"pools\": [{\"name\": \"p\", \"ips\": [{\"addr\": \"10.1.1.1\"}]}],"
                    " \"routes\": [{\"match\": \"a.example\", \"relay\": \"Relay.Example:25\"},"
                    " {\"match\": \"*.example\", \"relay\": \"10.0.0.1:587\","
                    " \"auth\": {\"username\": \"u\", \"password_env\": \"P\"}}]}";
    assert_int_equal(edm_config_load_string(j, strlen(j), "t", NULL, &cfg, &errs), 0);
    assert_string_equal(cfg.pools[0].ips[0].helo, "mx.example.org");
    assert_string_equal(cfg.message_id_domain, "mail.example.org");
    assert_int_equal(cfg.pools[0].ips[0].weight, 1);
    assert_int_equal(cfg.pools[0].ips[0].max_per_hour, 0);
    assert_string_equal(cfg.routes[0].relay, "relay.example:25");
    assert_int_equal(cfg.routes[0].tls, EDM_TLS_REQUIRED);
    assert_null(cfg.routes[0].auth_username);
    assert_int_equal(cfg.routes[1].tls, EDM_TLS_REQUIRED);
    assert_string_equal(cfg.routes[1].auth_password_env, "P");
    /* Exact beats suffix; a suffix pattern does not match its own domain. */
    assert_ptr_equal(edm_config_route_for(&cfg, "a.example"), &cfg.routes[0]);
    assert_ptr_equal(edm_config_route_for(&cfg, "b.a.example"), &cfg.routes[1]);
    assert_null(edm_config_route_for(&cfg, "example"));
    assert_string_equal(edm_config_pool_find(&cfg, NULL)->name, "p");
    edm_config_free(&cfg);
}

/* load(to_json(load(text))) gives the same JSON again. */
static void round_trip(void **state)
{
    (void)state;
    char *example = edm_test_read_file(config_fixture_path("edm.json"), NULL);
    const char *inputs[] = {
        example,
        "{}",
        "{\"api\": {\"listen\": \"[::1]:9000\"}, \"dns\": {\"servers\": [\"::1\", \"[::1]:53\"]},"
        " \"bounce_domain\": \"bounces.example.com\", \"log\": {\"level\": \"debug\"},"
        " \"smtp\": {\"helo\": \"[IPv6:2001:db8::2]\"},"
        " \"pools\": [{\"name\": \"v6\", \"ips\": [{\"addr\": \"2001:DB8::0:1\", \"weight\": 3,"
        " \"warmup\": [[1, 50], [7, 5000]]}]}],"
        " \"routes\": [{\"match\": \"*\", \"relay\": \"smart.example.net:587\","
        " \"auth\": {\"username\": \"me\", \"password_env\": \"SMART_PASS\"}}],"
        " \"dkim\": [{\"domain\": \"example.com\", \"selector\": \"ed\", \"key\": \"keys/ed.pem\","
        " \"algorithm\": \"ed25519-sha256\"}], \"unsubscribe\": {\"url\": null},"
        " \"pipeline\": {\"window\": 250}}",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        edm_config cfg;
        edm_config_errors errs;
        assert_int_equal(edm_config_load_string(inputs[i], strlen(inputs[i]), "t",
                                                config_fixture_dir, &cfg, &errs),
                         0);
        char *first = edm_config_to_json(&cfg);
        edm_config_free(&cfg);
        /* Paths are absolute by now: no base directory needed. */
        assert_int_equal(edm_config_load_string(first, strlen(first), "t", NULL, &cfg, &errs), 0);
        char *second = edm_config_to_json(&cfg);
        assert_string_equal(first, second);
        json_error_t je;
        json_t *j = json_loads(first, 0, &je);
        assert_non_null(j);
        if (i == 2) {
            assert_string_equal(cfg.pools[0].ips[0].addr, "2001:db8::1");
            assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(j, "dkim"), 0), "key")),
                                config_fixture_path("keys/ed.pem"));
            assert_string_equal(cfg.api.listen_host, "::1");
            assert_int_equal(cfg.pipeline.window, 250);
        }
        json_decref(j);
        edm_config_free(&cfg);
        edm_free(first);
        edm_free(second);
    }
    free(example);
}

static void relative_paths(void **state)
{
    (void)state;
    static const struct {
        const char *db, *want; /* want "%s": the config file's directory */
    } cases[] = {
        {"data/edm.db", "%s/sub/data/edm.db"},
        {"/var/lib/edm/edm.db", "/var/lib/edm/edm.db"},
        {":memory:", ":memory:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256], want[1024];
        snprintf(json, sizeof json, "{\"db\": \"%s\"}", cases[i].db);
        assert_int_equal(
            edm_test_write_file(config_fixture_path("sub/edm.json"), json, strlen(json)), 0);
        snprintf(want, sizeof want, cases[i].want, config_fixture_dir);
        edm_config cfg;
        edm_config_errors errs;
        assert_int_equal(edm_config_load(config_fixture_path("sub/edm.json"), &cfg, &errs), 0);
        assert_string_equal(cfg.db, want);
        edm_config_free(&cfg);
    }
    /* Without a directory (load_string with none), paths stay as written. */
    edm_config cfg;
    edm_config_errors errs;
    assert_int_equal(edm_config_load_string("{\"db\": \"x.db\"}", 14, "t", NULL, &cfg, &errs), 0);
    assert_string_equal(cfg.db, "x.db");
    edm_config_free(&cfg);
    /* A missing file and a directory are errors of their own. */
    assert_int_equal(edm_config_load(config_fixture_path("nope.json"), &cfg, &errs), EDM_ENOTFOUND);
    assert_int_equal(errs.count, 1);
    char want[1100];
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory",
             config_fixture_path("nope.json"));
    assert_string_equal(errs.msg[0], want);
    edm_config_errors_free(&errs);
    assert_int_equal(edm_config_load(config_fixture_dir, &cfg, &errs), EDM_EIO);
    edm_config_errors_free(&errs);
}

static void too_many_errors(void **state)
{
    (void)state;
    edm_buf b = EDM_BUF_INIT;
    edm_buf_append_str(&b, "{");
    for (int i = 0; i < 150; i++)
        edm_buf_appendf(&b, "%s\"k%d\": 1", i ? ", " : "", i);
    edm_buf_append_str(&b, "}");
    edm_config cfg;
    edm_config_errors errs;
    assert_int_equal(edm_config_load_string(b.data, b.len, "t", NULL, &cfg, &errs), EDM_EINVAL);
    assert_int_equal(errs.count, 101);
    assert_string_equal(errs.msg[99], "k99: unknown key");
    assert_string_equal(errs.msg[100], "(50 more errors not shown)");
    edm_config_errors_free(&errs);
    edm_buf_free(&b);
}

static void pattern_matching(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *domain;
        int matches;
    } cases[] = {
        {"gmail.com", "gmail.com", 1},  {"gmail.com", "GMAIL.COM", 1},
        {"gmail.com", "xgmail.com", 0}, {"*.test", "a.test", 1},
        {"*.test", "a.b.test", 1},      {"*.test", "test", 0},
        {"*.test", "atest", 0},         {"*", "anything.example", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(edm_config_pattern_matches(cases[i].pattern, cases[i].domain) > 0,
                         cases[i].matches);
    assert_true(edm_config_pattern_matches("*.b.test", "a.b.test") >
                edm_config_pattern_matches("*.test", "a.b.test"));
    assert_true(edm_config_pattern_matches("a.b.test", "a.b.test") >
                edm_config_pattern_matches("*.b.test", "a.b.test"));
    assert_true(edm_config_pattern_matches("*.test", "a.test") >
                edm_config_pattern_matches("*", "a.test"));
}

/* "inbound": off by default; addresses kept normalised; limits and paths. */
static void inbound_keys(void **state)
{
    (void)state;
    edm_config cfg;
    edm_config_defaults(&cfg);
    assert_int_equal(cfg.inbound.nlisten, 0);
    assert_int_equal(cfg.inbound.max_message_bytes, 10485760);
    assert_int_equal(cfg.inbound.command_timeout, 300);
    edm_config_free(&cfg);
    const char *j = "{\"inbound\": {\"listen\": [\"127.0.0.1:2525\", \"[::1]:25\"],"
                    " \"feedback_addresses\": [\"FBL@Bounces.Example.com\"], \"cert\": \"c.pem\","
                    " \"key\": \"k.pem\", \"max_recipients\": 5, \"data_timeout\": 30}}";
    edm_config_errors errs;
    assert_int_equal(edm_config_load_string(j, strlen(j), "t", "/etc/edm", &cfg, &errs), 0);
    assert_int_equal(cfg.inbound.nlisten, 2);
    assert_string_equal(cfg.inbound.listen[1], "[::1]:25");
    assert_int_equal(cfg.inbound.nfeedback, 1);
    assert_string_equal(cfg.inbound.feedback_addresses[0], "fbl@bounces.example.com");
    assert_string_equal(cfg.inbound.cert, "/etc/edm/c.pem");
    assert_int_equal(cfg.inbound.max_recipients, 5);
    assert_int_equal(cfg.inbound.data_timeout, 30);
    assert_int_equal(cfg.inbound.max_connections_per_ip, 10);
    edm_config_free(&cfg);
}

/* webhooks.ca_file: resolved against the config's directory, a readable
 * PEM certificate or an error naming the key; shown by the effective
 * config. */
static void webhooks_ca_file(void **state)
{
    (void)state;
    char *out = NULL, cmd[1200];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 1 -subj /CN=ca.test 2>&1",
             config_fixture_path("sub/ca.key"), config_fixture_path("sub/ca.pem"));
    assert_int_equal(edm_test_run(cmd, &out), 0);
    free(out);
    const char *j = "{\"webhooks\": {\"ca_file\": \"sub/ca.pem\"}}";
    edm_config cfg;
    edm_config_errors errs;
    assert_int_equal(edm_config_load_string(j, strlen(j), "t", config_fixture_dir, &cfg, &errs), 0);
    assert_string_equal(cfg.webhooks.ca_file, config_fixture_path("sub/ca.pem"));
    char *text = edm_config_to_json(&cfg);
    assert_non_null(strstr(text, "sub/ca.pem"));
    edm_free(text);
    edm_config_free(&cfg);

    char *e = load_errors("{\"webhooks\": {\"ca_file\": \"sub/none.pem\"}}");
    assert_non_null(strstr(e, "webhooks.ca_file: cannot read "));
    assert_non_null(strstr(e, "No such file"));
    free(e);
    e = load_errors("{\"webhooks\": {\"ca_file\": \"keys/junk.pem\"}}");
    assert_non_null(strstr(e, "webhooks.ca_file: "));
    assert_non_null(strstr(e, "no PEM certificate in it"));
    free(e);
    e = load_errors("{\"webhooks\": {\"ca_file\": 3}}");
    assert_string_equal(e, "webhooks.ca_file: expected a string or null");
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_configs),
        cmocka_unit_test(inbound_keys),
        cmocka_unit_test(webhooks_ca_file),
        cmocka_unit_test(dkim_key_checks),
        cmocka_unit_test(product_example_accepted),
        cmocka_unit_test(defaults_filled),
        cmocka_unit_test(mx_rules_and_provider_rules),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(relative_paths),
        cmocka_unit_test(too_many_errors),
        cmocka_unit_test(pattern_matching),
    };
    return cmocka_run_group_tests(tests, config_fixture_setup, config_fixture_teardown);
}
