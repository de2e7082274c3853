/*
 * engine/config/config_int.h: shared by engine/config/config*.c only: the loading
 * context (current key path, collected errors) and the value checkers.
 */
#ifndef EDM_CONFIG_INT_H
#define EDM_CONFIG_INT_H

#include "engine/config/config.h"

#include <jansson.h>
#include <stdbool.h>

/* More errors than this are summed up in one last line. */
#define CONFIG_MAX_ERRORS 100

struct config_ctx {
    edm_config_errors *errs;
    const char *base_dir; /* NULL: relative paths stay relative */
    char path[512];       /* "pools[0].ips[1].addr" */
    size_t plen;
    size_t dropped; /* errors past CONFIG_MAX_ERRORS */
};

/* Appends one message to errs (no path prefix). */
void config_errors_add(edm_config_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds "PATH: message" for the current path. */
void config_error(struct config_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Path stack: enter returns the length to restore with config_leave. */
size_t config_enter_key(struct config_ctx *c, const char *key);
size_t config_enter_index(struct config_ctx *c, size_t i);
void config_leave(struct config_ctx *c, size_t old);

/* Parses the checked JSON tree into cfg (which holds the defaults). */
void config_parse(struct config_ctx *c, json_t *root, edm_config *cfg);
/* The "submission" object (config_submission.c); defaults and free. */
void config_parse_submission(struct config_ctx *c, json_t *root, edm_config *cfg);
/* An array of networks ("ip" or "ip/len"), each checked; replaces *out. */
void config_get_networks(struct config_ctx *c, json_t *obj, const char *key, char ***out,
                         size_t *n);
void config_submission_defaults(struct edm_config_submission *s);
void config_submission_free(struct edm_config_submission *s);
/* The "node" object (config_node.c). */
void config_parse_node(struct config_ctx *c, json_t *root, edm_config *cfg);
/* The "inbound" object (config_submission.c, beside it); defaults and free. */
void config_parse_inbound(struct config_ctx *c, json_t *root, edm_config *cfg);
void config_inbound_defaults(struct edm_config_inbound *in);
void config_inbound_free(struct edm_config_inbound *in);

/* Value checkers: true when valid; false after reporting an error at the
 * current path. Outputs are written only on success. */
/* An IPv4 or IPv6 address; *canon gets its inet_ntop form (malloc'd). */
bool config_check_ip(struct config_ctx *c, const char *s, char **canon, int *family);
/* "host:port" / "[v6]:port" (host an IP when ip_only, else an IP or a
 * domain name); *host is malloc'd, without brackets, lower case. When
 * port_optional, "ip" and a bare IPv6 address are accepted (port 0). */
bool config_check_hostport(struct config_ctx *c, const char *s, bool ip_only, bool port_optional,
                           char **host, int *port);
/* A DNS name (letters, digits, '-', '_' in labels of 1-63 bytes, 253 at most). */
bool config_is_domain(const char *s);
/* A domain name whose last label is not all digits (not an IP lookalike). */
bool config_is_hostname(const char *s);
bool config_check_domain(struct config_ctx *c, const char *s);
/* "example.com", "*.example.com" or "*"; with mx_ok also "mx:" and a
 * pattern on MX host names other than "*". */
bool config_check_pattern(struct config_ctx *c, const char *s);
bool config_check_rule_pattern(struct config_ctx *c, const char *s);
/* An environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
bool config_check_env_name(struct config_ctx *c, const char *s);
/* "https://host[:port][/path]". */
bool config_check_https_url(struct config_ctx *c, const char *s);
/* A reply code prefix: "421", "45", "4.7.", "5.7.1". */
bool config_check_code_prefix(struct config_ctx *c, const char *s);
/* A readable, unencrypted PEM private key of alg's type (RSA >= 1024 bits). */
bool config_check_dkim_key(struct config_ctx *c, const char *path, enum edm_dkim_alg alg);
/* webhooks.ca_file: rel (taken) resolved against the config's directory
 * into *out, which must be a readable file holding at least one PEM
 * certificate (an error under the key "ca_file" otherwise). */
void config_set_ca_file(struct config_ctx *c, char *rel, char **out);

/* The built-in settings of a domains[] entry. */
void config_domain_defaults(struct edm_config_domain *d, const char *match);
/* Appends edm's provider rules (config_builtin.c) whose match the config
 * does not name itself. */
void config_add_builtin_domains(edm_config *cfg);
void config_free_pools(struct edm_config_pool *pools, size_t n);
void config_free_domains(struct edm_config_domain *domains, size_t n);
void config_free_strv(char **v, size_t n);

/* base_dir/rel when rel is relative and base_dir is set; else a copy. */
char *config_resolve_path(const char *base_dir, const char *rel);
/* Lower-cases s in place; returns s. */
char *config_lower(char *s);

#endif
