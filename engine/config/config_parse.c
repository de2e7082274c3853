/*
 * engine/config/config_parse.c: the configuration's schema: walks the JSON tree,
 * checks every key (unknown keys, types, values) and fills the edm_config
 * that already holds the defaults.
 *
 * Entry point: config_parse(). It never stops at the first problem: every
 * error goes to the context's list with its key path, and values that fail
 * keep their defaults so that later checks still run. The caller discards
 * cfg when the list is not empty.
 * Order of errors: unknown keys of an object first (in file order), then
 * its known keys in schema order.
 */
#include "engine/base/alloc.h"
#include "engine/config/config_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define MAX_COUNT 1000000000000LL /* caps for per-hour and per-day counts */
#define DAY       86400

typedef bool (*str_check)(struct config_ctx *c, const char *s);

enum { OPTIONAL = 0, REQUIRED = 1, NULLABLE = 2, LOWER = 4 /* store in lower case */ };

static void check_keys(struct config_ctx *c, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known) {
            size_t old = config_enter_key(c, key);
            config_error(c, "unknown key");
            config_leave(c, old);
        }
    }
}

/* obj[key] with its path entered (restore with config_leave(c, *old)), or
 * NULL when absent: then "required" is reported if flags say so. */
static json_t *enter(struct config_ctx *c, json_t *obj, const char *key, int flags, size_t *old)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL && (flags & REQUIRED)) {
        size_t o = config_enter_key(c, key);
        config_error(c, "required");
        config_leave(c, o);
    }
    if (v != NULL)
        *old = config_enter_key(c, key);
    return v;
}

static bool int_value(struct config_ctx *c, json_t *v, int64_t min, int64_t max, int64_t *out)
{
    if (!json_is_integer(v)) {
        config_error(c, "expected an integer");
        return false;
    }
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) {
        config_error(c, "must be between %lld and %lld", (long long)min, (long long)max);
        return false;
    }
    *out = x;
    return true;
}

static void get_i64(struct config_ctx *c, json_t *obj, const char *key, int64_t min, int64_t max,
                    int64_t *out)
{
    size_t old;
    json_t *v = enter(c, obj, key, OPTIONAL, &old);
    if (v != NULL) {
        int_value(c, v, min, max, out);
        config_leave(c, old);
    }
}

static void get_int(struct config_ctx *c, json_t *obj, const char *key, int min, int max, int *out)
{
    int64_t x = *out;
    get_i64(c, obj, key, min, max, &x);
    *out = (int)x;
}

/* A non-empty string that passes check (if any) replaces *out; with
 * NULLABLE, null sets *out to NULL. */
static void get_str(struct config_ctx *c, json_t *obj, const char *key, int flags, str_check check,
                    char **out)
{
    size_t old;
    json_t *v = enter(c, obj, key, flags, &old);
    if (v == NULL)
        return;
    if (json_is_null(v) && (flags & NULLABLE)) {
        edm_free(*out);
        *out = NULL;
    } else if (!json_is_string(v)) {
        config_error(c, (flags & NULLABLE) ? "expected a string or null" : "expected a string");
    } else if (json_string_length(v) == 0) {
        config_error(c, "must not be empty");
    } else if (check == NULL || check(c, json_string_value(v))) {
        edm_free(*out);
        *out = edm_xstrdup(json_string_value(v));
        if (flags & LOWER)
            config_lower(*out);
    }
    config_leave(c, old);
}

/* Sets *out to the index of the name given; true if the key was present
 * and valid. */
static bool get_enum(struct config_ctx *c, json_t *obj, const char *key, const char *const *names,
                     const char *list, int *out)
{
    size_t old;
    json_t *v = enter(c, obj, key, OPTIONAL, &old);
    if (v == NULL)
        return false;
    bool ok = false;
    for (int i = 0; names[i] && !ok && json_is_string(v); i++)
        if (strcmp(names[i], json_string_value(v)) == 0) {
            *out = i;
            ok = true;
        }
    if (!json_is_string(v))
        config_error(c, "expected a string");
    else if (!ok)
        config_error(c, "must be one of %s", list);
    config_leave(c, old);
    return ok;
}

/* obj[key] as an object whose keys are checked, path entered; else NULL. */
static json_t *get_obj(struct config_ctx *c, json_t *obj, const char *key, int flags,
                       const char *const *keys, size_t *old)
{
    json_t *v = enter(c, obj, key, flags, old);
    if (v == NULL || (json_is_null(v) && (flags & NULLABLE))) {
        if (v != NULL)
            config_leave(c, *old);
        return NULL;
    }
    if (!json_is_object(v)) {
        config_error(c, (flags & NULLABLE) ? "expected an object or null" : "expected an object");
        config_leave(c, *old);
        return NULL;
    }
    check_keys(c, v, keys);
    return v;
}

/* obj[key] as an array (non-empty if nonempty), path entered; else NULL. */
static json_t *get_arr(struct config_ctx *c, json_t *obj, const char *key, bool nonempty,
                       size_t *old)
{
    json_t *v = enter(c, obj, key, OPTIONAL, old);
    if (v == NULL)
        return NULL;
    if (!json_is_array(v) || (nonempty && json_array_size(v) == 0)) {
        config_error(c, json_is_array(v) ? "must not be empty" : "expected an array");
        config_leave(c, *old);
        return NULL;
    }
    return v;
}

/* arr[i] as an object with its keys checked, index entered; else NULL. */
static json_t *item_obj(struct config_ctx *c, json_t *arr, size_t i, const char *const *keys,
                        size_t *old)
{
    json_t *v = json_array_get(arr, i);
    *old = config_enter_index(c, i);
    if (!json_is_object(v)) {
        config_error(c, "expected an object");
        config_leave(c, *old);
        return NULL;
    }
    check_keys(c, v, keys);
    return v;
}

/* A host name or an RFC 5321 address literal: [192.0.2.1], [IPv6:2001:db8::1]. */
static bool check_helo(struct config_ctx *c, const char *s)
{
    size_t n = strlen(s);
    if (config_is_hostname(s))
        return true;
    if (s[0] == '[' && s[n - 1] == ']' && n < 64) {
        char ip[64];
        memcpy(ip, s + 1, n - 2);
        ip[n - 2] = '\0';
        bool v6 = strncmp(ip, "IPv6:", 5) == 0;
        unsigned char bin[16];
        if (inet_pton(v6 ? AF_INET6 : AF_INET, v6 ? ip + 5 : ip, bin) == 1)
            return true;
    }
    config_error(c, "not a host name or address literal ([192.0.2.1], [IPv6:2001:db8::1])");
    return false;
}

static bool check_selector(struct config_ctx *c, const char *s)
{
    if (config_is_domain(s))
        return true;
    config_error(c, "not a selector (DNS labels: letters, digits, '-', '_')");
    return false;
}

static bool check_pool_name(struct config_ctx *c, const char *s)
{
    if (strlen(s) <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789_.-") == strlen(s))
        return true;
    config_error(c, "must be 1-64 letters, digits, '_', '.' or '-'");
    return false;
}

static const char *const TLS_NAMES[] = {"none", "opportunistic", "required", NULL};
#define TLS_LIST "none, opportunistic, required"

static void parse_api(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"listen",
                                       "keys_env",
                                       "max_body_bytes",
                                       "idle_timeout",
                                       "header_timeout",
                                       "min_body_rate",
                                       "max_connections",
                                       "max_connections_per_ip",
                                       NULL};
    size_t old, o2;
    json_t *api = get_obj(c, root, "api", OPTIONAL, keys, &old);
    if (api == NULL)
        return;
    json_t *v = enter(c, api, "listen", OPTIONAL, &o2);
    if (v != NULL) {
        char *host;
        int port;
        if (!json_is_string(v))
            config_error(c, "expected a string");
        else if (config_check_hostport(c, json_string_value(v), true, false, &host, &port)) {
            edm_free(cfg->api.listen);
            edm_free(cfg->api.listen_host);
            cfg->api.listen = edm_xstrdup(json_string_value(v));
            cfg->api.listen_host = host;
            cfg->api.listen_port = port;
        }
        config_leave(c, o2);
    }
    get_str(c, api, "keys_env", OPTIONAL, config_check_env_name, &cfg->api.keys_env);
    get_i64(c, api, "max_body_bytes", 1024, 1LL << 40, &cfg->api.max_body_bytes);
    get_int(c, api, "idle_timeout", 1, DAY, &cfg->api.idle_timeout);
    get_int(c, api, "header_timeout", 1, 3600, &cfg->api.header_timeout);
    get_int(c, api, "min_body_rate", 1, 1 << 30, &cfg->api.min_body_rate);
    get_int(c, api, "max_connections", 1, 65536, &cfg->api.max_connections);
    get_int(c, api, "max_connections_per_ip", 1, 65536, &cfg->api.max_connections_per_ip);
    config_leave(c, old);
}

static void parse_dns(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"servers", "cache_max_ttl", NULL};
    size_t old, o2;
    json_t *dns = get_obj(c, root, "dns", OPTIONAL, keys, &old);
    if (dns == NULL)
        return;
    json_t *arr = get_arr(c, dns, "servers", false, &o2);
    if (arr != NULL) {
        struct edm_config_dns *d = &cfg->dns;
        config_free_strv(d->servers, d->nservers);
        d->nservers = json_array_size(arr);
        d->servers = edm_xcalloc(d->nservers + 1, sizeof *d->servers);
        for (size_t i = 0; i < d->nservers; i++) {
            size_t o3 = config_enter_index(c, i);
            json_t *s = json_array_get(arr, i);
            char *host;
            int port;
            if (!json_is_string(s))
                config_error(c, "expected a string");
            else if (config_check_hostport(c, json_string_value(s), true, true, &host, &port)) {
                edm_free(host);
                d->servers[i] = edm_xstrdup(json_string_value(s));
            }
            config_leave(c, o3);
        }
        config_leave(c, o2);
    }
    get_int(c, dns, "cache_max_ttl", 0, 7 * DAY, &cfg->dns.cache_max_ttl);
    config_leave(c, old);
}

static void parse_smtp(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"port", "helo", "tls", "timeouts", NULL};
    static const char *const tkeys[] = {"connect", "greeting",   "mail",     "rcpt",
                                        "data",    "data_block", "data_end", NULL};
    size_t old, o2;
    json_t *smtp = get_obj(c, root, "smtp", OPTIONAL, keys, &old);
    if (smtp == NULL)
        return;
    get_int(c, smtp, "port", 1, 65535, &cfg->smtp.port);
    get_str(c, smtp, "helo", OPTIONAL, check_helo, &cfg->smtp.helo);
    int tls = (int)cfg->smtp.tls;
    get_enum(c, smtp, "tls", TLS_NAMES, TLS_LIST, &tls);
    cfg->smtp.tls = (enum edm_tls_mode)tls;
    json_t *t = get_obj(c, smtp, "timeouts", OPTIONAL, tkeys, &o2);
    if (t != NULL) {
        struct edm_config_timeouts *to = &cfg->smtp.timeouts;
        int *fields[] = {&to->connect, &to->greeting,   &to->mail,    &to->rcpt,
                         &to->data,    &to->data_block, &to->data_end};
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            get_int(c, t, tkeys[i], 1, DAY, fields[i]);
        config_leave(c, o2);
    }
    config_leave(c, old);
}

static void parse_warmup(struct config_ctx *c, json_t *ipj, struct edm_config_ip *ip)
{
    size_t old;
    json_t *arr = get_arr(c, ipj, "warmup", false, &old);
    if (arr == NULL)
        return;
    ip->nwarmup = json_array_size(arr);
    ip->warmup = edm_xcalloc(ip->nwarmup + 1, sizeof *ip->warmup);
    int prev_day = 0;
    for (size_t i = 0; i < ip->nwarmup; i++) {
        size_t o2 = config_enter_index(c, i);
        json_t *step = json_array_get(arr, i);
        int64_t day = 0, per_day = 0;
        if (!json_is_array(step) || json_array_size(step) != 2) {
            config_error(c, "expected [day, per_day]");
        } else {
            size_t o3 = config_enter_index(c, 0);
            bool ok = int_value(c, json_array_get(step, 0), 1, 3650, &day);
            config_leave(c, o3);
            o3 = config_enter_index(c, 1);
            ok &= int_value(c, json_array_get(step, 1), 1, MAX_COUNT, &per_day);
            config_leave(c, o3);
            if (ok && day <= prev_day)
                config_error(c, "day %d is not after the previous step's day %d", (int)day,
                             prev_day);
            if (ok)
                prev_day = (int)day;
        }
        ip->warmup[i].day = (int)day;
        ip->warmup[i].per_day = per_day;
        config_leave(c, o2);
    }
    config_leave(c, old);
}

/* Reports addr if an earlier address (pool p, ip k) has the same text. */
static void check_dup_ip(struct config_ctx *c, const edm_config *cfg, size_t np, size_t ni)
{
    const char *addr = cfg->pools[np].ips[ni].addr;
    for (size_t p = 0; p <= np; p++)
        for (size_t k = 0; k < (p == np ? ni : cfg->pools[p].nips); k++)
            if (cfg->pools[p].ips[k].addr && strcmp(cfg->pools[p].ips[k].addr, addr) == 0) {
                config_error(c, "%s is already in pools[%zu].ips[%zu]", addr, p, k);
                return;
            }
}

static void parse_pool_ip(struct config_ctx *c, json_t *ipj, edm_config *cfg, size_t np, size_t ni)
{
    struct edm_config_ip *ip = &cfg->pools[np].ips[ni];
    size_t old;
    ip->weight = 1;
    json_t *v = enter(c, ipj, "addr", REQUIRED, &old);
    if (v != NULL) {
        if (!json_is_string(v))
            config_error(c, "expected a string");
        else if (config_check_ip(c, json_string_value(v), &ip->addr, &ip->family))
            check_dup_ip(c, cfg, np, ni);
        config_leave(c, old);
    }
    get_str(c, ipj, "helo", OPTIONAL, check_helo, &ip->helo);
    if (ip->helo == NULL)
        ip->helo = edm_xstrdup(cfg->smtp.helo);
    get_i64(c, ipj, "max_per_hour", 0, MAX_COUNT, &ip->max_per_hour);
    get_int(c, ipj, "weight", 0, 1000, &ip->weight);
    parse_warmup(c, ipj, ip);
}

static void parse_pools(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"name", "ips", NULL};
    static const char *const ipkeys[] = {"addr", "helo", "max_per_hour", "weight", "warmup", NULL};
    size_t old, o2, o3, o4;
    json_t *arr = get_arr(c, root, "pools", true, &old);
    if (arr == NULL)
        return;
    config_free_pools(cfg->pools, cfg->npools);
    cfg->npools = json_array_size(arr);
    cfg->pools = edm_xcalloc(cfg->npools, sizeof *cfg->pools);
    for (size_t i = 0; i < cfg->npools; i++) {
        struct edm_config_pool *p = &cfg->pools[i];
        json_t *pj = item_obj(c, arr, i, keys, &o2);
        if (pj == NULL)
            continue;
        get_str(c, pj, "name", REQUIRED, check_pool_name, &p->name);
        for (size_t k = 0; p->name && k < i; k++)
            if (cfg->pools[k].name && strcmp(cfg->pools[k].name, p->name) == 0) {
                o3 = config_enter_key(c, "name");
                config_error(c, "\"%s\" is already the name of pools[%zu]", p->name, k);
                config_leave(c, o3);
                break;
            }
        json_t *ips = get_arr(c, pj, "ips", false, &o3);
        if (ips != NULL) {
            p->nips = json_array_size(ips);
            p->ips = edm_xcalloc(p->nips + 1, sizeof *p->ips);
            for (size_t k = 0; k < p->nips; k++) {
                json_t *ipj = item_obj(c, ips, k, ipkeys, &o4);
                if (ipj != NULL) {
                    parse_pool_ip(c, ipj, cfg, i, k);
                    config_leave(c, o4);
                }
            }
            config_leave(c, o3);
        }
        config_leave(c, o2);
    }
    config_leave(c, old);
}

void config_domain_defaults(struct edm_config_domain *d, const char *match)
{
    d->match = edm_xstrdup(match);
    d->max_connections = 20;
    d->max_messages_per_connection = 100;
    d->max_per_minute = 0;
    d->max_per_hour = 0;
    d->burst = 0;
    d->total_max_connections = 0;
    d->total_max_per_minute = 0;
    d->nbackoff_on = 2;
    d->backoff_on = edm_xcalloc(2, sizeof *d->backoff_on);
    d->backoff_on[0] = edm_xstrdup("421");
    d->backoff_on[1] = edm_xstrdup("4.7.");
    d->backoff_pause = 300;
}

/* Reports the current item's match if an earlier entry has the same one. */
static void check_dup_match(struct config_ctx *c, const char *what, const char *match,
                            char *const *earlier, size_t stride, size_t n)
{
    for (size_t k = 0; match && k < n; k++) {
        const char *m = *(char *const *)((const char *)earlier + k * stride);
        if (m && strcmp(m, match) == 0) {
            size_t old = config_enter_key(c, "match");
            config_error(c, "\"%s\" is already matched by %s[%zu]", match, what, k);
            config_leave(c, old);
            return;
        }
    }
}

static void parse_backoff(struct config_ctx *c, json_t *dj, struct edm_config_domain *d)
{
    static const char *const keys[] = {"on", "pause", NULL};
    size_t old, o2;
    json_t *b = get_obj(c, dj, "backoff", OPTIONAL, keys, &old);
    if (b == NULL)
        return;
    json_t *on = get_arr(c, b, "on", false, &o2);
    if (on != NULL) {
        config_free_strv(d->backoff_on, d->nbackoff_on);
        d->nbackoff_on = json_array_size(on);
        d->backoff_on = edm_xcalloc(d->nbackoff_on + 1, sizeof *d->backoff_on);
        for (size_t i = 0; i < d->nbackoff_on; i++) {
            size_t o3 = config_enter_index(c, i);
            json_t *s = json_array_get(on, i);
            if (!json_is_string(s))
                config_error(c, "expected a string");
            else if (config_check_code_prefix(c, json_string_value(s)))
                d->backoff_on[i] = edm_xstrdup(json_string_value(s));
            config_leave(c, o3);
        }
        config_leave(c, o2);
    }
    get_int(c, b, "pause", 1, DAY, &d->backoff_pause);
    config_leave(c, old);
}

static void parse_domains(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {
        "match",          "max_connections", "max_messages_per_connection",
        "max_per_minute", "max_per_hour",    "burst",
        "total",          "backoff",         NULL};
    static const char *const tkeys[] = {"max_connections", "max_per_minute", NULL};
    size_t old, o2, o3;
    json_t *arr = get_arr(c, root, "domains", false, &old);
    if (arr == NULL)
        return;
    size_t n = json_array_size(arr);
    struct edm_config_domain *ds = edm_xcalloc(n + 1, sizeof *ds);
    bool has_any = false;
    for (size_t i = 0; i < n; i++) {
        struct edm_config_domain *d = &ds[i];
        config_domain_defaults(d, "");
        edm_free(d->match);
        d->match = NULL;
        json_t *dj = item_obj(c, arr, i, keys, &o2);
        if (dj == NULL)
            continue;
        get_str(c, dj, "match", REQUIRED | LOWER, config_check_rule_pattern, &d->match);
        has_any |= d->match && strcmp(d->match, "*") == 0;
        d->on_mx = d->match && strncmp(d->match, "mx:", 3) == 0;
        check_dup_match(c, "domains", d->match, &ds[0].match, sizeof *ds, i);
        get_int(c, dj, "max_connections", 1, 10000, &d->max_connections);
        get_int(c, dj, "max_messages_per_connection", 1, 1000000, &d->max_messages_per_connection);
        get_int(c, dj, "max_per_minute", 0, 100000000, &d->max_per_minute);
        get_int(c, dj, "max_per_hour", 0, 1000000000, &d->max_per_hour);
        get_int(c, dj, "burst", 0, 1000000, &d->burst);
        json_t *t = get_obj(c, dj, "total", NULLABLE, tkeys, &o3);
        if (t != NULL) {
            get_int(c, t, "max_connections", 0, 1000000, &d->total_max_connections);
            get_int(c, t, "max_per_minute", 0, 100000000, &d->total_max_per_minute);
            config_leave(c, o3);
        }
        parse_backoff(c, dj, d);
        config_leave(c, o2);
    }
    if (!has_any)
        config_domain_defaults(&ds[n++], "*");
    /* Replace the defaults (one "*" entry and the provider rules), then add
     * back the provider rules the config does not name. */
    config_free_domains(cfg->domains, cfg->ndomains);
    cfg->domains = ds;
    cfg->ndomains = n;
    config_add_builtin_domains(cfg);
    config_leave(c, old);
}

static void parse_routes(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"match", "relay", "tls", "max_connections", "auth", NULL};
    static const char *const akeys[] = {"username", "password_env", NULL};
    size_t old, o2, o3;
    json_t *arr = get_arr(c, root, "routes", false, &old);
    if (arr == NULL)
        return;
    cfg->nroutes = json_array_size(arr);
    cfg->routes = edm_xcalloc(cfg->nroutes + 1, sizeof *cfg->routes);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        struct edm_config_route *r = &cfg->routes[i];
        json_t *rj = item_obj(c, arr, i, keys, &o2);
        if (rj == NULL)
            continue;
        get_str(c, rj, "match", REQUIRED | LOWER, config_check_pattern, &r->match);
        check_dup_match(c, "routes", r->match, &cfg->routes[0].match, sizeof *r, i);
        json_t *v = enter(c, rj, "relay", REQUIRED, &o3);
        if (v != NULL) {
            if (!json_is_string(v))
                config_error(c, "expected a string");
            else if (config_check_hostport(c, json_string_value(v), false, false, &r->relay_host,
                                           &r->relay_port))
                r->relay = config_lower(edm_xstrdup(json_string_value(v)));
            config_leave(c, o3);
        }
        json_t *a = get_obj(c, rj, "auth", NULLABLE, akeys, &o3);
        if (a != NULL) {
            get_str(c, a, "username", REQUIRED, NULL, &r->auth_username);
            get_str(c, a, "password_env", REQUIRED, config_check_env_name, &r->auth_password_env);
            config_leave(c, o3);
        }
        int tls = -1;
        bool set = get_enum(c, rj, "tls", TLS_NAMES, TLS_LIST, &tls);
        if (!set)
            tls = a != NULL ? EDM_TLS_REQUIRED : (int)cfg->smtp.tls;
        else if (a != NULL && tls != EDM_TLS_REQUIRED) {
            o3 = config_enter_key(c, "tls");
            config_error(c, "must be \"required\" with auth (credentials only over TLS)");
            config_leave(c, o3);
        }
        r->tls = (enum edm_tls_mode)tls;
        r->max_connections = 50;
        get_int(c, rj, "max_connections", 1, 100000, &r->max_connections);
        config_leave(c, o2);
    }
    config_leave(c, old);
}

static void parse_dkim(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"domain", "selector", "key", "algorithm", NULL};
    static const char *const algs[] = {"rsa-sha256", "ed25519-sha256", NULL};
    size_t old, o2, o3;
    json_t *arr = get_arr(c, root, "dkim", false, &old);
    if (arr == NULL)
        return;
    cfg->ndkim = json_array_size(arr);
    cfg->dkim = edm_xcalloc(cfg->ndkim + 1, sizeof *cfg->dkim);
    for (size_t i = 0; i < cfg->ndkim; i++) {
        struct edm_config_dkim *d = &cfg->dkim[i];
        json_t *dj = item_obj(c, arr, i, keys, &o2);
        if (dj == NULL)
            continue;
        get_str(c, dj, "domain", REQUIRED | LOWER, config_check_domain, &d->domain);
        get_str(c, dj, "selector", REQUIRED, check_selector, &d->selector);
        for (size_t k = 0; d->domain && d->selector && k < i; k++)
            if (cfg->dkim[k].domain && cfg->dkim[k].selector &&
                strcmp(cfg->dkim[k].domain, d->domain) == 0 &&
                strcmp(cfg->dkim[k].selector, d->selector) == 0) {
                o3 = config_enter_key(c, "selector");
                config_error(c, "%s._domainkey.%s is already dkim[%zu]", d->selector, d->domain, k);
                config_leave(c, o3);
                break;
            }
        int alg = EDM_DKIM_RSA_SHA256;
        bool alg_ok = get_enum(c, dj, "algorithm", algs, "rsa-sha256, ed25519-sha256", &alg) ||
                      json_object_get(dj, "algorithm") == NULL;
        d->algorithm = (enum edm_dkim_alg)alg;
        char *key = NULL;
        get_str(c, dj, "key", REQUIRED, NULL, &key);
        if (key != NULL) {
            d->key = config_resolve_path(c->base_dir, key);
            edm_free(key);
            if (alg_ok) {
                o3 = config_enter_key(c, "key");
                config_check_dkim_key(c, d->key, d->algorithm);
                config_leave(c, o3);
            }
        }
        config_leave(c, o2);
    }
    config_leave(c, old);
}

static void parse_retry(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"schedule", "max_age", NULL};
    size_t old, o2;
    json_t *r = get_obj(c, root, "retry", OPTIONAL, keys, &old);
    if (r == NULL)
        return;
    json_t *arr = get_arr(c, r, "schedule", true, &o2);
    if (arr != NULL) {
        size_t n = json_array_size(arr);
        if (n > 100) {
            config_error(c, "more than 100 steps");
        } else {
            edm_free(cfg->retry.schedule);
            cfg->retry.nschedule = n;
            cfg->retry.schedule = edm_xcalloc(n, sizeof *cfg->retry.schedule);
            for (size_t i = 0; i < n; i++) {
                size_t o3 = config_enter_index(c, i);
                int64_t s = 60;
                int_value(c, json_array_get(arr, i), 1, 7 * DAY, &s);
                cfg->retry.schedule[i] = (int)s;
                config_leave(c, o3);
            }
        }
        config_leave(c, o2);
    }
    get_i64(c, r, "max_age", 60, 30 * DAY, &cfg->retry.max_age);
    config_leave(c, old);
}

static void parse_log(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"level", NULL};
    static const char *const levels[] = {"debug", "info", "warn", "error", "off", NULL};
    size_t old;
    json_t *log = get_obj(c, root, "log", OPTIONAL, keys, &old);
    if (log != NULL) {
        int level = (int)cfg->log_level;
        get_enum(c, log, "level", levels, "debug, info, warn, error, off", &level);
        cfg->log_level = (enum edm_log_level)level;
        config_leave(c, old);
    }
}

static void parse_unsubscribe(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"url", "secret_env", NULL};
    size_t old;
    json_t *u = get_obj(c, root, "unsubscribe", OPTIONAL, keys, &old);
    if (u != NULL) {
        get_str(c, u, "url", NULLABLE, config_check_https_url, &cfg->unsubscribe.url);
        get_str(c, u, "secret_env", OPTIONAL, config_check_env_name, &cfg->unsubscribe.secret_env);
        config_leave(c, old);
    }
}

static void parse_public(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"listen", "base_url", "machine_ips", "machine_open_seconds",
                                       NULL};
    size_t old, o2;
    json_t *p = get_obj(c, root, "public", OPTIONAL, keys, &old);
    if (p == NULL)
        return;
    json_t *v = enter(c, p, "listen", OPTIONAL, &o2);
    if (v != NULL) {
        char *host;
        int port;
        if (json_is_null(v)) {
            edm_free(cfg->public.listen);
            cfg->public.listen = NULL;
        } else if (!json_is_string(v)) {
            config_error(c, "expected a string");
        } else if (config_check_hostport(c, json_string_value(v), true, false, &host, &port)) {
            edm_free(host);
            edm_free(cfg->public.listen);
            cfg->public.listen = edm_xstrdup(json_string_value(v));
        }
        config_leave(c, o2);
    }
    get_str(c, p, "base_url", NULLABLE, config_check_https_url, &cfg->public.base_url);
    if (cfg->public.base_url) { /* "<base_url>/u/<token>": no trailing slash */
        size_t n = strlen(cfg->public.base_url);
        while (n > 8 && cfg->public.base_url[n - 1] == '/')
            cfg->public.base_url[--n] = '\0';
    }
    config_get_networks(c, p, "machine_ips", &cfg->public.machine_ips, &cfg->public.nmachine_ips);
    get_i64(c, p, "machine_open_seconds", 0, 86400, &cfg->public.machine_open_seconds);
    config_leave(c, old);
}

static void parse_webhooks(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"retry_min", "max_age", "ca_file", NULL};
    size_t old;
    json_t *w = get_obj(c, root, "webhooks", OPTIONAL, keys, &old);
    if (w == NULL)
        return;
    get_i64(c, w, "retry_min", 1, 3600, &cfg->webhooks.retry_min);
    get_i64(c, w, "max_age", 60, 30 * 86400, &cfg->webhooks.max_age);
    char *ca = NULL;
    get_str(c, w, "ca_file", OPTIONAL | NULLABLE, NULL, &ca);
    if (ca != NULL)
        config_set_ca_file(c, ca, &cfg->webhooks.ca_file);
    config_leave(c, old);
}

static void parse_pipeline(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {"window", NULL};
    size_t old;
    json_t *p = get_obj(c, root, "pipeline", OPTIONAL, keys, &old);
    if (p != NULL) {
        get_i64(c, p, "window", 1, 1000000, &cfg->pipeline.window);
        config_leave(c, old);
    }
}

void config_parse(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const keys[] = {
        "db",    "log",         "bounce_domain", "message_id_domain", "api",    "dns",
        "smtp",  "pools",       "domains",       "webhooks",          "routes", "dkim",
        "retry", "unsubscribe", "pipeline",      "submission",        "public", "inbound",
        "node",  NULL};
    if (!json_is_object(root)) {
        config_error(c, "expected a JSON object");
        return;
    }
    check_keys(c, root, keys);
    char *db = NULL;
    get_str(c, root, "db", OPTIONAL, NULL, &db);
    if (db != NULL) {
        edm_free(cfg->db);
        /* a path is relative to the config file; a PostgreSQL URI is kept */
        int keep = strcmp(db, ":memory:") == 0 || strncmp(db, "postgresql://", 13) == 0 ||
                   strncmp(db, "postgres://", 11) == 0;
        cfg->db = keep ? edm_xstrdup(db) : config_resolve_path(c->base_dir, db);
        edm_free(db);
    }
    parse_log(c, root, cfg);
    get_str(c, root, "bounce_domain", NULLABLE | LOWER, config_check_domain, &cfg->bounce_domain);
    get_str(c, root, "message_id_domain", NULLABLE | LOWER, config_check_domain,
            &cfg->message_id_domain);
    parse_api(c, root, cfg);
    parse_dns(c, root, cfg);
    parse_smtp(c, root, cfg);
    parse_pools(c, root, cfg);
    parse_domains(c, root, cfg);
    parse_routes(c, root, cfg);
    parse_dkim(c, root, cfg);
    parse_retry(c, root, cfg);
    parse_unsubscribe(c, root, cfg);
    parse_public(c, root, cfg);
    parse_pipeline(c, root, cfg);
    parse_webhooks(c, root, cfg);
    config_parse_submission(c, root, cfg);
    config_parse_node(c, root, cfg);
    config_parse_inbound(c, root, cfg);
}
