/*
 * engine/config/config.h: edm's configuration (edm.json): a plain C struct tree
 * that the engine modules read, every key with a default.
 *
 *   edm_config cfg;
 *   edm_config_errors errs;
 *   if (edm_config_load(path_or_NULL, &cfg, &errs) != 0) {
 *       for (size_t i = 0; i < errs.count; i++) fprintf(stderr, "%s\n", errs.msg[i]);
 *       edm_config_errors_free(&errs);
 *   }
 *   ... cfg.smtp.port ...
 *   edm_config_free(&cfg);
 *
 * Loading checks every key and value and collects all the errors, each
 * naming the key's path ("pools[0].ips[1].addr: not an IP address").
 * Relative paths in the file (db, dkim[].key) are resolved against the
 * directory of the config file. docs/config.md documents every key.
 * Out of memory is fatal here (configuration is read at start-up).
 */
#ifndef EDM_CONFIG_H
#define EDM_CONFIG_H

#include "engine/base/log.h"

#include <stddef.h>
#include <stdint.h>

enum edm_tls_mode { EDM_TLS_NONE, EDM_TLS_OPPORTUNISTIC, EDM_TLS_REQUIRED };

/* "none", "opportunistic", "required". */
const char *edm_tls_mode_name(enum edm_tls_mode mode);

/* DKIM signing algorithms (engine/message/dkim.h signs with them). */
enum edm_dkim_alg { EDM_DKIM_RSA_SHA256, EDM_DKIM_ED25519_SHA256 };

/* "rsa-sha256", "ed25519-sha256". */
const char *edm_dkim_alg_name(enum edm_dkim_alg alg);
/* Parses an algorithm name; returns the enum value or EDM_EINVAL. */
int edm_dkim_alg_parse(const char *name);

struct edm_config_api {
    char *listen;      /* "127.0.0.1:8025" or "[::1]:8025" */
    char *listen_host; /* the address without brackets: "127.0.0.1", "::1" */
    int listen_port;
    char *keys_env;             /* name of the environment variable holding the API keys */
    int64_t max_body_bytes;     /* request body limit (413 past it) */
    int idle_timeout;           /* seconds a connection may stay idle */
    int header_timeout;         /* seconds from accept to the end of a request head */
    int min_body_rate;          /* bytes/s a request body must keep up */
    int max_connections;        /* client connections in all */
    int max_connections_per_ip; /* client connections from one address */
};

/* The SMTP submission server (docs/config.md "submission"); off when
 * listen and tls_listen are both empty. */
struct edm_config_submission {
    char **listen; /* "ip:port": plain, STARTTLS offered when cert is set */
    size_t nlisten;
    char **tls_listen; /* "ip:port": TLS from the first byte (465) */
    size_t ntls_listen;
    char *cert, *key;        /* PEM paths (resolved); NULL: no TLS, no AUTH */
    char **trusted_networks; /* "ip/len" or "ip": may submit without AUTH */
    size_t ntrusted;
    int64_t max_message_bytes;  /* 552 past it; SIZE advertises it */
    int max_recipients;         /* 452 past it */
    int max_connections_per_ip; /* 421 past it */
    int max_connections;        /* in all */
    int auth_failure_delay_ms;  /* a failed AUTH is answered after this */
    int auth_max_failures;      /* failures from one IP before it is locked out */
    int auth_lockout;           /* seconds an IP stays locked out */
    int command_timeout;        /* seconds idle waiting for a command (RFC 5321 4.5.3.2) */
    int data_timeout;           /* seconds between DATA blocks */
};

/* The inbound SMTP listener for the bounce domain (docs/config.md
 * "inbound", docs/feedback.md); off when listen is empty. */
struct edm_config_inbound {
    char **listen; /* "ip:port": STARTTLS offered when cert is set */
    size_t nlisten;
    char **feedback_addresses; /* normalised (lower case): FBL report addresses */
    size_t nfeedback;
    char *cert, *key;           /* PEM paths (resolved); NULL: no STARTTLS */
    int64_t max_message_bytes;  /* 552 past it; SIZE advertises it */
    int max_recipients;         /* 452 past it */
    int max_connections_per_ip; /* 421 past it */
    int max_connections;        /* in all */
    int command_timeout;        /* seconds a client may take per command */
    int data_timeout;           /* seconds between blocks of DATA */
};

struct edm_config_dns {
    char **servers; /* "ip", "ip:port", "[v6]:port"; none = the system's (resolv.conf) */
    size_t nservers;
    int cache_max_ttl; /* seconds: cached answers live at most this long */
};

struct edm_config_timeouts { /* seconds, RFC 5321 4.5.3.2 */
    int connect, greeting, mail, rcpt, data, data_block, data_end;
};

struct edm_config_smtp {
    int port;   /* the MX port we deliver to (25; tests use others) */
    char *helo; /* EHLO name; default: the host name */
    enum edm_tls_mode tls;
    struct edm_config_timeouts timeouts;
};

struct edm_config_warmup_step {
    int day;         /* 1 = the first day an address sends */
    int64_t per_day; /* cap from this day until the next step's day */
};

struct edm_config_ip {
    char *addr;           /* canonical text form (inet_ntop) */
    int family;           /* AF_INET or AF_INET6 */
    char *helo;           /* EHLO name from this address (default smtp.helo) */
    int64_t max_per_hour; /* 0 = no hourly cap */
    int weight;           /* share of traffic relative to the pool's other addresses; 0: sends
                           * nothing (kept in the pool and in GET /v1/pools) */
    struct edm_config_warmup_step *warmup; /* days strictly increasing */
    size_t nwarmup;
};

struct edm_config_pool {
    char *name;
    struct edm_config_ip *ips; /* none: the OS chooses the source address */
    size_t nips;
};

/* A destination rule (docs/config.md, "domains"). Limits count per source
 * IP; total_* across all of them. */
struct edm_config_domain {
    char *match; /* "gmail.com", "*.example.com", "*" or "mx:*.google.com" (lower case) */
    int on_mx;   /* match starts with "mx:": a pattern on the MX host names (match + 3) */
    int builtin; /* one of edm's provider rules (engine/config/config_builtin.c) */
    int max_connections;
    int max_messages_per_connection;
    int max_per_minute;        /* 0 = no cap */
    int max_per_hour;          /* 0 = no cap */
    int burst;                 /* messages back to back; 0: one second's worth of max_per_minute */
    int total_max_connections; /* across all source IPs; 0 = no cap */
    int total_max_per_minute;  /* across all source IPs; 0 = no cap */
    char **backoff_on;         /* reply code prefixes: "421", "4.7." */
    size_t nbackoff_on;
    int backoff_pause; /* seconds */
};

struct edm_config_route {
    char *match;      /* as edm_config_domain.match */
    char *relay;      /* "host:port" as written (host lower case) */
    char *relay_host; /* host name or address without brackets */
    int relay_port;
    enum edm_tls_mode tls;
    int max_connections;     /* to the relay, across every domain it carries */
    char *auth_username;     /* NULL: no AUTH */
    char *auth_password_env; /* set exactly when auth_username is */
};

struct edm_config_dkim {
    char *domain; /* lower case */
    char *selector;
    char *key; /* PEM private key file, resolved path */
    enum edm_dkim_alg algorithm;
};

struct edm_config_retry {
    int *schedule; /* seconds before each retry; the last one repeats */
    size_t nschedule;
    int64_t max_age; /* seconds after queueing: then bounced, reason expired */
};

/* This engine among the sending nodes of one database (docs/postgresql.md). */
struct edm_config_node {
    char *id;      /* NULL: "<host name>:<API port>" */
    int64_t lease; /* seconds alive without a heartbeat */
};

struct edm_config_pipeline {
    int64_t window; /* recipients between claim and outcome, held in memory */
};

struct edm_config_unsubscribe {
    char *url;        /* https URL or NULL */
    char *secret_env; /* environment variable holding the token signing secret */
};

/* The public listener (docs/config.md "public"): one-click unsubscribe
 * without an API key. listen NULL: not started. */
struct edm_config_public {
    char *listen;   /* "127.0.0.1:8080" */
    char *base_url; /* https URL the listener is reached at, or NULL */
    /* open tracking (docs/tracking.md): opens from these networks ("ip" or
     * "ip/len"), or within machine_open_seconds of delivery, are machine
     * opens */
    char **machine_ips;
    size_t nmachine_ips;
    int64_t machine_open_seconds; /* default 2; 0: off */
};

/* Webhook delivery (docs/tracking.md, "Webhooks"). */
struct edm_config_webhooks {
    int64_t retry_min; /* seconds before the first retry, doubling; default 10 */
    int64_t max_age;   /* seconds an event is retried; default 86400 */
    char *ca_file;     /* PEM CA certificates HTTPS receivers are verified
                        * against instead of the system's bundle; NULL: the
                        * system's */
};

typedef struct edm_config {
    char *path; /* the config file; NULL when running on defaults */
    char *db;
    enum edm_log_level log_level;
    char *bounce_domain;     /* NULL: the From address's domain */
    char *message_id_domain; /* NULL: the From address's domain */
    struct edm_config_api api;
    struct edm_config_dns dns;
    struct edm_config_smtp smtp;
    struct edm_config_pool *pools; /* at least one */
    size_t npools;
    struct edm_config_domain *domains; /* one of them matches "*" */
    size_t ndomains;
    struct edm_config_route *routes;
    size_t nroutes;
    struct edm_config_dkim *dkim;
    size_t ndkim;
    struct edm_config_retry retry;
    struct edm_config_unsubscribe unsubscribe;
    struct edm_config_public public;
    struct edm_config_webhooks webhooks;
    struct edm_config_submission submission;
    struct edm_config_inbound inbound;
    struct edm_config_pipeline pipeline;
    struct edm_config_node node;
} edm_config;

typedef struct edm_config_errors {
    char **msg; /* one line each, no newline */
    size_t count;
} edm_config_errors;

/* Fills cfg with every default (no file). Never fails. */
void edm_config_defaults(edm_config *cfg);

/* Loads path (NULL: defaults only). Returns 0, or on failure a negative
 * EDM_E* code with cfg zeroed and every problem in errs (always
 * initialised; free it with edm_config_errors_free):
 *   EDM_ENOTFOUND / EDM_EIO  the file cannot be read ("PATH: cannot read: ...")
 *   EDM_EINVAL               malformed JSON ("PATH:LINE:COLUMN: ...") or
 *                            invalid keys and values ("smtp.port: ...") */
int edm_config_load(const char *path, edm_config *cfg, edm_config_errors *errs);

/* Same from text in memory: name is used in JSON syntax errors, base_dir
 * (NULL: the working directory) for relative paths. */
int edm_config_load_string(const char *text, size_t len, const char *name, const char *base_dir,
                           edm_config *cfg, edm_config_errors *errs);

/* The effective config as pretty JSON (every key, defaults filled in),
 * which edm_config_load_string accepts back. Free with edm_free. */
char *edm_config_to_json(const edm_config *cfg);

void edm_config_free(edm_config *cfg);
void edm_config_errors_free(edm_config_errors *errs);

/* Lookups for the engine. A pattern matches a domain exactly, "*.suffix"
 * every subdomain of suffix (not suffix itself), "*" every domain; case
 * does not matter. The most specific pattern wins: exact, then the longest
 * suffix, then "*". */
int edm_config_pattern_matches(const char *pattern, const char *domain);
const struct edm_config_domain *edm_config_domain_for(const edm_config *cfg, const char *domain);
/* The "mx:" rule whose pattern best matches one of the MX host names (in
 * order of preference, the first host that matches any rule decides), or
 * NULL. */
const struct edm_config_domain *edm_config_mx_rule_for(const edm_config *cfg,
                                                       const char *const *hosts, size_t n);
/* The burst a rule allows: burst, else one second's worth of
 * max_per_minute, at least 1. */
int edm_config_domain_burst(const struct edm_config_domain *d);
/* The route for domain, or NULL: deliver to its MX. */
const struct edm_config_route *edm_config_route_for(const edm_config *cfg, const char *domain);
/* The pool called name; NULL name: "default" if there is one, else the
 * first pool. NULL if no pool has that name. */
const struct edm_config_pool *edm_config_pool_find(const edm_config *cfg, const char *name);

#endif
