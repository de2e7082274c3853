/*
 * engine/config/config_submission.c: the objects of edm's two SMTP
 * servers in the config (docs/config.md): "submission" (listen addresses,
 * certificate and key, trusted networks and limits) and "inbound" (the
 * bounce domain's listener: listen addresses, feedback addresses,
 * certificate and key, limits and timeouts), with defaults. Errors name
 * the key path (submission.trusted_networks[1]: ...).
 *
 * The keys the two share (listen, cert, key, sizes, connection caps,
 * timeouts) are read by one routine, parse_server; each section adds its
 * own keys at fixed points of it, so errors come in the same order.
 */
#include "engine/config/config_int.h"
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

void config_submission_defaults(struct edm_config_submission *s)
{
    memset(s, 0, sizeof *s);
    s->max_message_bytes = 26214400;
    s->max_recipients = 1000;
    s->max_connections_per_ip = 20;
    s->max_connections = 1000;
    s->auth_failure_delay_ms = 1000;
    s->auth_max_failures = 5;
    s->auth_lockout = 300;
    s->command_timeout = 300;
    s->data_timeout = 180;
    /* An application on this host submits without AUTH (as Postfix's
     * mynetworks trusts the host): AUTH is only offered under TLS, so a
     * listener without a certificate would otherwise take nobody's mail.
     * An explicit list, [] included, replaces it. */
    s->trusted_networks = edm_xcalloc(3, sizeof *s->trusted_networks);
    s->trusted_networks[0] = edm_xstrdup("127.0.0.0/8");
    s->trusted_networks[1] = edm_xstrdup("::1/128");
    s->ntrusted = 2;
}

void config_submission_free(struct edm_config_submission *s)
{
    config_free_strv(s->listen, s->nlisten);
    config_free_strv(s->tls_listen, s->ntls_listen);
    config_free_strv(s->trusted_networks, s->ntrusted);
    edm_free(s->cert);
    edm_free(s->key);
    memset(s, 0, sizeof *s);
}

/* "ip" or "ip/len" with len within the family's width (engine/base/cidr.h,
 * the parser the servers use). */
static bool check_network(struct config_ctx *c, const char *s)
{
    edm_cidr n;
    if (edm_cidr_parse(s, &n) != 0) {
        config_error(c, "not a network (ip or ip/len, len within 32 or 128)");
        return false;
    }
    return true;
}

/* An array of strings, each checked (hostport: "ip:port"; else network). */
static void get_list(struct config_ctx *c, json_t *obj, const char *key, int hostport, char ***out,
                     size_t *n)
{
    json_t *a = json_object_get(obj, key);
    if (a == NULL)
        return;
    size_t old = config_enter_key(c, key);
    if (!json_is_array(a)) {
        config_error(c, "expected an array");
        config_leave(c, old);
        return;
    }
    config_free_strv(*out, *n);
    *n = 0;
    *out = edm_xcalloc(json_array_size(a) + 1, sizeof **out);
    for (size_t i = 0; i < json_array_size(a); i++) {
        size_t o2 = config_enter_index(c, i);
        json_t *v = json_array_get(a, i);
        char *host;
        int port;
        if (!json_is_string(v)) {
            config_error(c, "expected a string");
        } else if (hostport) {
            if (config_check_hostport(c, json_string_value(v), true, false, &host, &port)) {
                edm_free(host);
                (*out)[(*n)++] = edm_xstrdup(json_string_value(v));
            }
        } else if (check_network(c, json_string_value(v))) {
            (*out)[(*n)++] = edm_xstrdup(json_string_value(v));
        }
        config_leave(c, o2);
    }
    config_leave(c, old);
}

static void get_num(struct config_ctx *c, json_t *obj, const char *key, int64_t min, int64_t max,
                    int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return;
    size_t old = config_enter_key(c, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        config_error(c, "expected an integer from %lld to %lld", (long long)min, (long long)max);
    else
        *out = json_integer_value(v);
    config_leave(c, old);
}

static void get_path(struct config_ctx *c, json_t *obj, const char *key, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return;
    size_t old = config_enter_key(c, key);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        config_error(c, "expected a file path");
    } else {
        edm_free(*out);
        *out = config_resolve_path(c->base_dir, json_string_value(v));
    }
    config_leave(c, old);
}

void config_get_networks(struct config_ctx *c, json_t *obj, const char *key, char ***out, size_t *n)
{
    get_list(c, obj, key, 0, out, n);
}

static void get_int(struct config_ctx *c, json_t *obj, const char *key, int min, int max, int *out)
{
    int64_t n = *out;
    get_num(c, obj, key, min, max, &n);
    *out = (int)n;
}

/* When a server section's own keys are read among the shared ones. */
enum server_phase {
    SERVER_LISTS,  /* after listen */
    SERVER_LIMITS, /* after max_connections */
    SERVER_CHECK,  /* at the end, when cert and key go together */
};

/* One SMTP server section ("submission", "inbound"): where its shared
 * keys land, the bounds that differ, and its own keys. */
struct server_section {
    const char *name;
    const char *const *own_keys; /* the keys besides the shared ones, NULL-terminated */
    char ***listen;
    size_t *nlisten;
    char **cert, **key;
    int64_t *max_message_bytes, max_message_bytes_max;
    int *max_recipients, max_recipients_max;
    int *max_connections_per_ip, *max_connections, *command_timeout, *data_timeout;
    void (*own)(struct config_ctx *c, json_t *obj, enum server_phase ph, void *sec);
    void *sec;
};

/* The fields of the shared keys in a section's struct (both name them
 * alike). */
#define SERVER_FIELDS(p)                                                                           \
    .listen = &(p)->listen, .nlisten = &(p)->nlisten, .cert = &(p)->cert, .key = &(p)->key,        \
    .max_message_bytes = &(p)->max_message_bytes, .max_recipients = &(p)->max_recipients,          \
    .max_connections_per_ip = &(p)->max_connections_per_ip,                                        \
    .max_connections = &(p)->max_connections, .command_timeout = &(p)->command_timeout,            \
    .data_timeout = &(p)->data_timeout, .sec = (p)

/* The keys both server sections have. */
static const char *const shared_keys[] = {"listen",
                                          "cert",
                                          "key",
                                          "max_message_bytes",
                                          "max_recipients",
                                          "max_connections_per_ip",
                                          "max_connections",
                                          "command_timeout",
                                          "data_timeout",
                                          NULL};

/* root's section d->name (nothing when absent or null): unknown keys
 * first, then listen, cert, key, the sizes, the connection caps, the
 * timeouts and the cert and key pairing, with d->own at each phase. */
static void parse_server(struct config_ctx *c, json_t *root, const struct server_section *d)
{
    json_t *s = json_object_get(root, d->name);
    if (s == NULL || json_is_null(s))
        return;
    size_t old = config_enter_key(c, d->name);
    if (!json_is_object(s)) {
        config_error(c, "expected an object or null");
        config_leave(c, old);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v)
    {
        int ok = 0;
        for (size_t i = 0; shared_keys[i]; i++)
            ok |= strcmp(k, shared_keys[i]) == 0;
        for (size_t i = 0; d->own_keys[i]; i++)
            ok |= strcmp(k, d->own_keys[i]) == 0;
        if (!ok) {
            size_t o2 = config_enter_key(c, k);
            config_error(c, "unknown key");
            config_leave(c, o2);
        }
    }
    get_list(c, s, "listen", 1, d->listen, d->nlisten);
    d->own(c, s, SERVER_LISTS, d->sec);
    get_path(c, s, "cert", d->cert);
    get_path(c, s, "key", d->key);
    get_num(c, s, "max_message_bytes", 1024, d->max_message_bytes_max, d->max_message_bytes);
    get_int(c, s, "max_recipients", 1, d->max_recipients_max, d->max_recipients);
    get_int(c, s, "max_connections_per_ip", 1, 65536, d->max_connections_per_ip);
    get_int(c, s, "max_connections", 1, 65536, d->max_connections);
    d->own(c, s, SERVER_LIMITS, d->sec);
    get_int(c, s, "command_timeout", 1, 3600, d->command_timeout);
    get_int(c, s, "data_timeout", 1, 3600, d->data_timeout);
    if ((*d->cert == NULL) != (*d->key == NULL))
        config_error(c, "cert and key go together");
    else
        d->own(c, s, SERVER_CHECK, d->sec);
    config_leave(c, old);
}

/* submission's own keys: tls_listen, trusted_networks, the AUTH limits. */
static void submission_own(struct config_ctx *c, json_t *s, enum server_phase ph, void *sec)
{
    struct edm_config_submission *sub = sec;
    switch (ph) {
    case SERVER_LISTS:
        get_list(c, s, "tls_listen", 1, &sub->tls_listen, &sub->ntls_listen);
        get_list(c, s, "trusted_networks", 0, &sub->trusted_networks, &sub->ntrusted);
        break;
    case SERVER_LIMITS:
        get_int(c, s, "auth_failure_delay_ms", 0, 60000, &sub->auth_failure_delay_ms);
        get_int(c, s, "auth_max_failures", 1, 1000, &sub->auth_max_failures);
        get_int(c, s, "auth_lockout", 0, 86400, &sub->auth_lockout);
        break;
    case SERVER_CHECK:
        if (sub->ntls_listen && sub->cert == NULL)
            config_error(c, "tls_listen needs cert and key");
        break;
    }
}

void config_parse_submission(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const own[] = {
        "tls_listen",        "trusted_networks", "auth_failure_delay_ms",
        "auth_max_failures", "auth_lockout",     NULL};
    struct server_section d = {.name = "submission",
                               .own_keys = own,
                               .max_message_bytes_max = 1LL << 32,
                               .max_recipients_max = 100000,
                               .own = submission_own,
                               SERVER_FIELDS(&cfg->submission)};
    parse_server(c, root, &d);
}

/* ---- inbound ---- */

void config_inbound_defaults(struct edm_config_inbound *in)
{
    memset(in, 0, sizeof *in);
    in->max_message_bytes = 10485760;
    in->max_recipients = 100;
    in->max_connections_per_ip = 10;
    in->max_connections = 1000;
    in->command_timeout = 300;
    in->data_timeout = 180;
}

void config_inbound_free(struct edm_config_inbound *in)
{
    config_free_strv(in->listen, in->nlisten);
    config_free_strv(in->feedback_addresses, in->nfeedback);
    edm_free(in->cert);
    edm_free(in->key);
    memset(in, 0, sizeof *in);
}

/* inbound.feedback_addresses: each a valid address, kept normalised. */
static void get_addresses(struct config_ctx *c, json_t *obj, struct edm_config_inbound *in)
{
    json_t *a = json_object_get(obj, "feedback_addresses");
    if (a == NULL)
        return;
    size_t old = config_enter_key(c, "feedback_addresses");
    if (!json_is_array(a)) {
        config_error(c, "expected an array");
        config_leave(c, old);
        return;
    }
    in->feedback_addresses = edm_xcalloc(json_array_size(a) + 1, sizeof *in->feedback_addresses);
    for (size_t i = 0; i < json_array_size(a); i++) {
        size_t o2 = config_enter_index(c, i);
        json_t *v = json_array_get(a, i);
        char norm[EDM_ADDR_MAX];
        size_t off;
        const char *why;
        if (!json_is_string(v))
            config_error(c, "expected a string");
        else if (edm_addr_normalize(json_string_value(v), json_string_length(v), norm, &off,
                                    &why) != 0)
            config_error(c, "not an address: %s", why);
        else
            in->feedback_addresses[in->nfeedback++] = edm_xstrdup(norm);
        config_leave(c, o2);
    }
    config_leave(c, old);
}

/* inbound's own key: feedback_addresses. */
static void inbound_own(struct config_ctx *c, json_t *s, enum server_phase ph, void *sec)
{
    if (ph == SERVER_LISTS)
        get_addresses(c, s, sec);
}

void config_parse_inbound(struct config_ctx *c, json_t *root, edm_config *cfg)
{
    static const char *const own[] = {"feedback_addresses", NULL};
    struct server_section d = {.name = "inbound",
                               .own_keys = own,
                               .max_message_bytes_max = 1LL << 30,
                               .max_recipients_max = 10000,
                               .own = inbound_own,
                               SERVER_FIELDS(&cfg->inbound)};
    parse_server(c, root, &d);
}
