/*
 * engine/config/config_json.c: the effective configuration as JSON (what
 * `edm check-config` prints): every key of edm_config, defaults included,
 * in the order docs/config.md lists them.
 *
 * Entry point: edm_config_to_json(). The text it returns is accepted back
 * by edm_config_load_string and gives the same configuration.
 * Out of memory is fatal.
 */
#include "engine/base/alloc.h"
#include "engine/config/config_int.h"
#include "engine/base/err.h"

#include <stdlib.h>

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *jstrv(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, jstr(v[i]));
    return a;
}

static json_t *pools_json(const edm_config *cfg)
{
    json_t *pools = json_array();
    for (size_t i = 0; i < cfg->npools; i++) {
        const struct edm_config_pool *p = &cfg->pools[i];
        json_t *ips = json_array();
        for (size_t k = 0; k < p->nips; k++) {
            const struct edm_config_ip *ip = &p->ips[k];
            json_t *warmup = json_array();
            for (size_t w = 0; w < ip->nwarmup; w++)
                json_array_append_new(warmup, json_pack("[iI]", ip->warmup[w].day,
                                                        (json_int_t)ip->warmup[w].per_day));
            json_array_append_new(ips, json_pack("{s:o s:o s:I s:i s:o}", "addr", jstr(ip->addr),
                                                 "helo", jstr(ip->helo), "max_per_hour",
                                                 (json_int_t)ip->max_per_hour, "weight", ip->weight,
                                                 "warmup", warmup));
        }
        json_array_append_new(pools, json_pack("{s:o s:o}", "name", jstr(p->name), "ips", ips));
    }
    return pools;
}

static json_t *domains_json(const edm_config *cfg)
{
    json_t *domains = json_array();
    for (size_t i = 0; i < cfg->ndomains; i++) {
        const struct edm_config_domain *d = &cfg->domains[i];
        json_t *total = d->total_max_connections || d->total_max_per_minute
                            ? json_pack("{s:i s:i}", "max_connections", d->total_max_connections,
                                        "max_per_minute", d->total_max_per_minute)
                            : json_null();
        json_array_append_new(
            domains, json_pack("{s:o s:i s:i s:i s:i s:i s:o s:{s:o s:i}}", "match", jstr(d->match),
                               "max_connections", d->max_connections, "max_messages_per_connection",
                               d->max_messages_per_connection, "max_per_minute", d->max_per_minute,
                               "max_per_hour", d->max_per_hour, "burst", edm_config_domain_burst(d),
                               "total", total, "backoff", "on",
                               jstrv(d->backoff_on, d->nbackoff_on), "pause", d->backoff_pause));
    }
    return domains;
}

static json_t *routes_json(const edm_config *cfg)
{
    json_t *routes = json_array();
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct edm_config_route *r = &cfg->routes[i];
        json_t *auth = r->auth_username ? json_pack("{s:o s:o}", "username", jstr(r->auth_username),
                                                    "password_env", jstr(r->auth_password_env))
                                        : json_null();
        json_array_append_new(routes,
                              json_pack("{s:o s:o s:s s:i s:o}", "match", jstr(r->match), "relay",
                                        jstr(r->relay), "tls", edm_tls_mode_name(r->tls),
                                        "max_connections", r->max_connections, "auth", auth));
    }
    return routes;
}

static json_t *dkim_json(const edm_config *cfg)
{
    json_t *dkim = json_array();
    for (size_t i = 0; i < cfg->ndkim; i++) {
        const struct edm_config_dkim *d = &cfg->dkim[i];
        json_array_append_new(dkim, json_pack("{s:o s:o s:o s:s}", "domain", jstr(d->domain),
                                              "selector", jstr(d->selector), "key", jstr(d->key),
                                              "algorithm", edm_dkim_alg_name(d->algorithm)));
    }
    return dkim;
}

static json_t *inbound_json(const struct edm_config_inbound *in)
{
    return json_pack("{s:o s:o s:o s:o s:I s:i s:i s:i s:i s:i}", "listen",
                     jstrv(in->listen, in->nlisten), "feedback_addresses",
                     jstrv(in->feedback_addresses, in->nfeedback), "cert", jstr(in->cert), "key",
                     jstr(in->key), "max_message_bytes", (json_int_t)in->max_message_bytes,
                     "max_recipients", in->max_recipients, "max_connections_per_ip",
                     in->max_connections_per_ip, "max_connections", in->max_connections,
                     "command_timeout", in->command_timeout, "data_timeout", in->data_timeout);
}

static json_t *submission_json(const struct edm_config_submission *s)
{
    return json_pack("{s:o s:o s:o s:o s:o s:I s:i s:i s:i s:i s:i s:i s:i s:i}", "listen",
                     jstrv(s->listen, s->nlisten), "tls_listen",
                     jstrv(s->tls_listen, s->ntls_listen), "cert", jstr(s->cert), "key",
                     jstr(s->key), "trusted_networks", jstrv(s->trusted_networks, s->ntrusted),
                     "max_message_bytes", (json_int_t)s->max_message_bytes, "max_recipients",
                     s->max_recipients, "max_connections_per_ip", s->max_connections_per_ip,
                     "max_connections", s->max_connections, "auth_failure_delay_ms",
                     s->auth_failure_delay_ms, "auth_max_failures", s->auth_max_failures,
                     "auth_lockout", s->auth_lockout, "command_timeout", s->command_timeout,
                     "data_timeout", s->data_timeout);
}

char *edm_config_to_json(const edm_config *cfg)
{
    const struct edm_config_timeouts *t = &cfg->smtp.timeouts;
    json_t *schedule = json_array();
    for (size_t i = 0; i < cfg->retry.nschedule; i++)
        json_array_append_new(schedule, json_integer(cfg->retry.schedule[i]));
    json_t *root = json_pack(
        "{s:o s:{s:s} s:o s:o"
        " s:{s:o s:o s:I s:i s:i s:i s:i s:i}"
        " s:{s:o s:i}"
        " s:{s:i s:o s:s s:{s:i s:i s:i s:i s:i s:i s:i}}"
        " s:o s:o s:o s:o"
        " s:{s:o s:I}"
        " s:{s:o s:o}}",
        "db", jstr(cfg->db), "log", "level", edm_log_level_name(cfg->log_level), "bounce_domain",
        jstr(cfg->bounce_domain), "message_id_domain", jstr(cfg->message_id_domain),
        /* api */
        "api", "listen", jstr(cfg->api.listen), "keys_env", jstr(cfg->api.keys_env),
        "max_body_bytes", (json_int_t)cfg->api.max_body_bytes, "idle_timeout",
        cfg->api.idle_timeout, "header_timeout", cfg->api.header_timeout, "min_body_rate",
        cfg->api.min_body_rate, "max_connections", cfg->api.max_connections,
        "max_connections_per_ip", cfg->api.max_connections_per_ip,
        /* dns */
        "dns", "servers", jstrv(cfg->dns.servers, cfg->dns.nservers), "cache_max_ttl",
        cfg->dns.cache_max_ttl,
        /* smtp */
        "smtp", "port", cfg->smtp.port, "helo", jstr(cfg->smtp.helo), "tls",
        edm_tls_mode_name(cfg->smtp.tls), "timeouts", "connect", t->connect, "greeting",
        t->greeting, "mail", t->mail, "rcpt", t->rcpt, "data", t->data, "data_block", t->data_block,
        "data_end", t->data_end,
        /* arrays */
        "pools", pools_json(cfg), "domains", domains_json(cfg), "routes", routes_json(cfg), "dkim",
        dkim_json(cfg),
        /* retry, unsubscribe */
        "retry", "schedule", schedule, "max_age", (json_int_t)cfg->retry.max_age, "unsubscribe",
        "url", jstr(cfg->unsubscribe.url), "secret_env", jstr(cfg->unsubscribe.secret_env));
    if (root == NULL ||
        json_object_set_new(root, "pipeline",
                            json_pack("{s:I}", "window", (json_int_t)cfg->pipeline.window)) != 0 ||
        json_object_set_new(root, "node",
                            json_pack("{s:o s:I}", "id", jstr(cfg->node.id), "lease",
                                      (json_int_t)cfg->node.lease)) != 0 ||
        json_object_set_new(root, "public",
                            json_pack("{s:o, s:o, s:o, s:I}", "listen", jstr(cfg->public.listen),
                                      "base_url", jstr(cfg->public.base_url), "machine_ips",
                                      jstrv(cfg->public.machine_ips, cfg->public.nmachine_ips),
                                      "machine_open_seconds",
                                      (json_int_t)cfg->public.machine_open_seconds)) != 0 ||
        json_object_set_new(root, "webhooks",
                            json_pack("{s:I, s:I, s:o}", "retry_min",
                                      (json_int_t)cfg->webhooks.retry_min, "max_age",
                                      (json_int_t)cfg->webhooks.max_age, "ca_file",
                                      jstr(cfg->webhooks.ca_file))) != 0 ||
        json_object_set_new(root, "inbound", inbound_json(&cfg->inbound)) != 0 ||
        json_object_set_new(root, "submission", submission_json(&cfg->submission)) != 0)
        EDM_PANIC("config_to_json: cannot build the JSON (out of memory?)");
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (text == NULL)
        EDM_PANIC("out of memory");
    char *copy = edm_xstrdup(text);
    free(text);
    return copy;
}
