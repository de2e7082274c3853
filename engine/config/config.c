/*
 * engine/config/config.c: loading edm's configuration: the defaults, reading the
 * file, JSON syntax errors with their position, freeing, and the lookups
 * the engine uses (domain patterns, routes, pools).
 *
 * Entry points: edm_config_defaults, edm_config_load, edm_config_load_string,
 * edm_config_free, edm_config_errors_free, edm_config_*_for/find (a
 * recipient domain's rule, an MX host's "mx:" rule, a route, a pool).
 * Loading returns 0 or a negative EDM_E* code with every error collected
 * (see config.h); the schema itself lives in config_parse.c.
 * Limits: a config file is at most 16 MiB and must be a regular file.
 */
#include "engine/config/config.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/config/config_int.h"
#include "engine/base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (16 << 20)

const char *edm_dkim_alg_name(enum edm_dkim_alg alg)
{
    switch (alg) {
    case EDM_DKIM_RSA_SHA256: return "rsa-sha256";
    case EDM_DKIM_ED25519_SHA256: return "ed25519-sha256";
    default: EDM_PANIC("bad dkim algorithm %d", (int)alg);
    }
}

int edm_dkim_alg_parse(const char *name)
{
    if (name && strcmp(name, "rsa-sha256") == 0)
        return EDM_DKIM_RSA_SHA256;
    if (name && strcmp(name, "ed25519-sha256") == 0)
        return EDM_DKIM_ED25519_SHA256;
    return EDM_EINVAL;
}

const char *edm_tls_mode_name(enum edm_tls_mode mode)
{
    static const char *const names[] = {"none", "opportunistic", "required"};
    return (unsigned)mode <= EDM_TLS_REQUIRED ? names[mode] : "?";
}

/* The host name as EHLO name, or "localhost" if it is not a valid one. */
static char *default_helo(void)
{
    char name[256] = "";
    if (gethostname(name, sizeof name - 1) != 0 || !config_is_hostname(name))
        return edm_xstrdup("localhost");
    return config_lower(edm_xstrdup(name));
}

void edm_config_defaults(edm_config *cfg)
{
    static const int schedule[] = {60, 300, 900, 1800, 3600, 7200, 14400};
    memset(cfg, 0, sizeof *cfg);
    cfg->db = edm_xstrdup("edm.db");
    cfg->log_level = EDM_LOG_INFO;
    cfg->api.listen = edm_xstrdup("127.0.0.1:8025");
    cfg->api.listen_host = edm_xstrdup("127.0.0.1");
    cfg->api.listen_port = 8025;
    cfg->api.keys_env = edm_xstrdup("EDM_API_KEYS");
    config_submission_defaults(&cfg->submission);
    cfg->public.machine_open_seconds = 2;
    cfg->webhooks.retry_min = 10;
    cfg->webhooks.max_age = 86400;
    config_inbound_defaults(&cfg->inbound);
    cfg->api.max_body_bytes = 512LL << 20;
    cfg->api.idle_timeout = 60;
    cfg->api.header_timeout = 10;
    cfg->api.min_body_rate = 1024;
    cfg->api.max_connections = 1024;
    cfg->api.max_connections_per_ip = 64;
    cfg->dns.cache_max_ttl = 3600;
    cfg->smtp.port = 25;
    cfg->smtp.helo = default_helo();
    cfg->smtp.tls = EDM_TLS_OPPORTUNISTIC;
    cfg->smtp.timeouts = (struct edm_config_timeouts){.connect = 30,
                                                      .greeting = 300,
                                                      .mail = 300,
                                                      .rcpt = 300,
                                                      .data = 120,
                                                      .data_block = 180,
                                                      .data_end = 600};
    cfg->npools = 1;
    cfg->pools = edm_xcalloc(1, sizeof *cfg->pools);
    cfg->pools[0].name = edm_xstrdup("default");
    cfg->ndomains = 1;
    cfg->domains = edm_xcalloc(1, sizeof *cfg->domains);
    config_domain_defaults(&cfg->domains[0], "*");
    config_add_builtin_domains(cfg);
    cfg->retry.nschedule = sizeof schedule / sizeof schedule[0];
    cfg->retry.schedule = edm_xcalloc(cfg->retry.nschedule, sizeof *cfg->retry.schedule);
    memcpy(cfg->retry.schedule, schedule, sizeof schedule);
    cfg->retry.max_age = 3 * 86400;
    cfg->pipeline.window = 4000;
    cfg->node.lease = 15;
    cfg->unsubscribe.secret_env = edm_xstrdup("EDM_UNSUBSCRIBE_SECRET");
}

void config_free_strv(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        edm_free(v[i]);
    edm_free(v);
}

void config_free_pools(struct edm_config_pool *pools, size_t n)
{
    for (size_t i = 0; pools != NULL && i < n; i++) {
        for (size_t k = 0; k < pools[i].nips; k++) {
            edm_free(pools[i].ips[k].addr);
            edm_free(pools[i].ips[k].helo);
            edm_free(pools[i].ips[k].warmup);
        }
        edm_free(pools[i].ips);
        edm_free(pools[i].name);
    }
    edm_free(pools);
}

void config_free_domains(struct edm_config_domain *domains, size_t n)
{
    for (size_t i = 0; domains != NULL && i < n; i++) {
        config_free_strv(domains[i].backoff_on, domains[i].nbackoff_on);
        edm_free(domains[i].match);
    }
    edm_free(domains);
}

void edm_config_free(edm_config *cfg)
{
    edm_free(cfg->path);
    edm_free(cfg->db);
    edm_free(cfg->node.id);
    edm_free(cfg->bounce_domain);
    edm_free(cfg->message_id_domain);
    config_submission_free(&cfg->submission);
    config_inbound_free(&cfg->inbound);
    edm_free(cfg->api.listen);
    edm_free(cfg->api.listen_host);
    edm_free(cfg->api.keys_env);
    config_free_strv(cfg->dns.servers, cfg->dns.nservers);
    edm_free(cfg->smtp.helo);
    config_free_pools(cfg->pools, cfg->npools);
    config_free_domains(cfg->domains, cfg->ndomains);
    for (size_t i = 0; cfg->routes != NULL && i < cfg->nroutes; i++) {
        struct edm_config_route *r = &cfg->routes[i];
        edm_free(r->match);
        edm_free(r->relay);
        edm_free(r->relay_host);
        edm_free(r->auth_username);
        edm_free(r->auth_password_env);
    }
    edm_free(cfg->routes);
    for (size_t i = 0; cfg->dkim != NULL && i < cfg->ndkim; i++) {
        edm_free(cfg->dkim[i].domain);
        edm_free(cfg->dkim[i].selector);
        edm_free(cfg->dkim[i].key);
    }
    edm_free(cfg->dkim);
    edm_free(cfg->retry.schedule);
    edm_free(cfg->unsubscribe.url);
    edm_free(cfg->unsubscribe.secret_env);
    edm_free(cfg->public.listen);
    edm_free(cfg->public.base_url);
    config_free_strv(cfg->public.machine_ips, cfg->public.nmachine_ips);
    edm_free(cfg->webhooks.ca_file);
    memset(cfg, 0, sizeof *cfg);
}

void edm_config_errors_free(edm_config_errors *errs)
{
    config_free_strv(errs->msg, errs->count);
    errs->msg = NULL;
    errs->count = 0;
}

int edm_config_load_string(const char *text, size_t len, const char *name, const char *base_dir,
                           edm_config *cfg, edm_config_errors *errs)
{
    errs->msg = NULL;
    errs->count = 0;
    memset(cfg, 0, sizeof *cfg);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        config_errors_add(errs, "%s:%d:%d: %s", name ? name : "<config>", je.line, je.column,
                          je.text);
        return EDM_EINVAL;
    }
    edm_config_defaults(cfg);
    struct config_ctx c = {.errs = errs, .base_dir = base_dir};
    config_parse(&c, root, cfg);
    json_decref(root);
    if (c.dropped > 0)
        config_errors_add(errs, "(%zu more errors not shown)", c.dropped);
    if (errs->count > 0) {
        edm_config_free(cfg);
        return EDM_EINVAL;
    }
    return 0;
}

/* Reads a regular file of at most CONFIG_FILE_MAX bytes into b. */
static int read_file(const char *path, edm_buf *b, edm_config_errors *errs)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        config_errors_add(errs, "%s: cannot read: %s", path, strerror(e));
        if (fd >= 0)
            close(fd);
        return e == ENOENT ? EDM_ENOTFOUND : EDM_EIO;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
        config_errors_add(errs, "%s: not a regular file of at most %d bytes", path,
                          CONFIG_FILE_MAX);
        close(fd);
        return EDM_EIO;
    }
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        if (edm_buf_append(b, chunk, (size_t)n) != 0)
            EDM_PANIC("out of memory");
    int e = errno;
    close(fd);
    if (n < 0) {
        config_errors_add(errs, "%s: cannot read: %s", path, strerror(e));
        return EDM_EIO;
    }
    return 0;
}

int edm_config_load(const char *path, edm_config *cfg, edm_config_errors *errs)
{
    errs->msg = NULL;
    errs->count = 0;
    if (path == NULL) {
        edm_config_defaults(cfg);
        return 0;
    }
    memset(cfg, 0, sizeof *cfg);
    edm_buf text = EDM_BUF_INIT;
    int rc = read_file(path, &text, errs);
    if (rc == 0) {
        /* Relative paths in the file are relative to its directory. */
        const char *slash = strrchr(path, '/');
        char *dir = slash == NULL   ? NULL
                    : slash == path ? edm_xstrdup("/")
                                    : edm_strndup(path, (size_t)(slash - path));
        if (slash != NULL && dir == NULL)
            EDM_PANIC("out of memory");
        rc = edm_config_load_string(edm_buf_cstr(&text), text.len, path, dir, cfg, errs);
        edm_free(dir);
        if (rc == 0)
            cfg->path = edm_xstrdup(path);
    }
    edm_buf_free(&text);
    return rc;
}

/* How specifically pattern matches domain: 0 no match, 1 for "*", more
 * for longer suffixes, most for an exact match. */
int edm_config_pattern_matches(const char *pattern, const char *domain)
{
    if (strcmp(pattern, "*") == 0)
        return 1;
    size_t dl = strlen(domain);
    if (strncmp(pattern, "*.", 2) == 0) {
        size_t sl = strlen(pattern + 1); /* ".example.com" */
        return dl > sl && strcasecmp(domain + dl - sl, pattern + 1) == 0 ? 1 + (int)sl : 0;
    }
    return strcasecmp(pattern, domain) == 0 ? 1000 : 0;
}

/* The entry of an array (n items of stride bytes, each holding its
 * pattern at offset) that matches domain best, or NULL. */
static const void *best_match(const void *arr, size_t n, size_t stride, size_t offset,
                              const char *domain)
{
    const void *best = NULL;
    int best_score = 0;
    for (size_t i = 0; i < n; i++) {
        const char *item = (const char *)arr + i * stride;
        const char *pattern = *(char *const *)(item + offset);
        int score = pattern ? edm_config_pattern_matches(pattern, domain) : 0;
        if (score > best_score) {
            best = item;
            best_score = score;
        }
    }
    return best;
}

const struct edm_config_domain *edm_config_domain_for(const edm_config *cfg, const char *domain)
{
    return best_match(cfg->domains, cfg->ndomains, sizeof *cfg->domains,
                      offsetof(struct edm_config_domain, match), domain);
}

const struct edm_config_domain *edm_config_mx_rule_for(const edm_config *cfg,
                                                       const char *const *hosts, size_t n)
{
    for (size_t h = 0; h < n; h++) {
        const struct edm_config_domain *best = NULL;
        int best_score = 0;
        for (size_t i = 0; i < cfg->ndomains; i++) {
            const struct edm_config_domain *d = &cfg->domains[i];
            if (!d->on_mx)
                continue;
            int score = edm_config_pattern_matches(d->match + 3, hosts[h]);
            if (score > best_score) {
                best = d;
                best_score = score;
            }
        }
        if (best)
            return best;
    }
    return NULL;
}

int edm_config_domain_burst(const struct edm_config_domain *d)
{
    if (d->burst > 0)
        return d->burst;
    int b = d->max_per_minute / 60;
    return b > 0 ? b : 1;
}

const struct edm_config_route *edm_config_route_for(const edm_config *cfg, const char *domain)
{
    return best_match(cfg->routes, cfg->nroutes, sizeof *cfg->routes,
                      offsetof(struct edm_config_route, match), domain);
}

const struct edm_config_pool *edm_config_pool_find(const edm_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->npools; i++)
        if (strcmp(cfg->pools[i].name, name ? name : "default") == 0)
            return &cfg->pools[i];
    return name == NULL && cfg->npools > 0 ? &cfg->pools[0] : NULL;
}
