/*
 * api/api.c: starting and stopping the JSON API (see api.h): the listen
 * address, the keys and the loopback rule, defaults for the limits.
 *
 * Entry points: edm_api_start, edm_api_port, edm_api_stop.
 * Returns 0 or a negative EDM_E* code with a message in err.
 */
#include "api/api_int.h"
#include "api/router.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "127.0.0.1:8025", "[::1]:8025", "localhost:8025" into ss (api_int.h). */
int api_parse_listen(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen,
                     const char *what)
{
    char host[64];
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host)
            goto bad;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof host)
            goto bad;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535)
        goto bad;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
bad:
    snprintf(err, errlen, "%s: not an address:port: %s", what, s);
    return EDM_EINVAL;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a))
        return 1;
    return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

int edm_api_start(uv_loop_t *loop, const edm_api_config *cfg, edm_store *store,
                  const edm_api_engine *engine, edm_api **out, char *err, size_t errlen)
{
    const char *listen = cfg->listen ? cfg->listen : "127.0.0.1:8025";
    const char *keys_env = cfg->keys_env ? cfg->keys_env : "EDM_API_KEYS";
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int rc = api_parse_listen(listen, &ss, err, errlen, "api.listen");
    if (rc != 0)
        return rc;
    edm_api *api = edm_xcalloc(1, sizeof *api);
    api->loop = loop;
    api->store = store;
    if (engine)
        api->engine = *engine;
    int nkeys = api_auth_load(&api->auth, keys_env);
    if (nkeys == 0 && !is_loopback(&ss)) {
        snprintf(err, errlen,
                 "refusing to listen on %s without an API key: set %s=<key>[,<key>...] in "
                 "the environment",
                 listen, keys_env);
        api_auth_free(api->auth);
        edm_free(api);
        return EDM_EINVAL;
    }
    api->idem = api_idem_new();
    /* api.max_body_bytes bounds every body: a JSON body is also buffered
     * whole, so it has a lower cap of its own (16 MiB), never a higher one */
    size_t max_body = cfg->max_body ? cfg->max_body : (size_t)1 << 30;
    size_t max_json = cfg->max_json_body ? cfg->max_json_body : 16 * 1024 * 1024;
    if (max_json > max_body)
        max_json = max_body;
    http_limits lim = {
        .max_header = cfg->max_header ? cfg->max_header : 32 * 1024,
        .max_body = max_body,
        .max_buffered_body = max_json,
        .header_timeout_ms = cfg->header_timeout_ms ? cfg->header_timeout_ms : 10000,
        .idle_timeout_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : 60000,
        .min_body_rate = cfg->min_body_rate ? cfg->min_body_rate : 1024,
        .body_window_ms = cfg->body_window_ms ? cfg->body_window_ms : 10000,
        .max_connections = cfg->max_connections ? cfg->max_connections : 1024,
        .max_per_ip = cfg->max_per_ip ? cfg->max_per_ip : 64,
    };
    http_app app = api_router_app(api);
    rc = http_server_start(loop, (struct sockaddr *)&ss, &lim, &app, &api->http, err, errlen);
    if (rc != 0) {
        api_idem_free(api->idem);
        api_auth_free(api->auth);
        edm_free(api);
        return rc;
    }
    edm_log(EDM_LOG_INFO, "api",
            "listen=%s port=%d keys=%d max_body=%llu header_timeout_ms=%u min_body_rate=%u "
            "max_connections=%u max_per_ip=%u",
            listen, http_server_port(api->http), nkeys, (unsigned long long)lim.max_body,
            lim.header_timeout_ms, lim.min_body_rate, lim.max_connections, lim.max_per_ip);
    if (nkeys == 0)
        edm_log(EDM_LOG_WARN, "api",
                "msg=\"no API key configured: every route but /v1/health answers 401; set "
                "%s=<key>[,<key>...] in the environment of edm serve\"",
                keys_env);
    *out = api;
    return 0;
}

int edm_api_port(const edm_api *api)
{
    return http_server_port(api->http);
}

static void on_http_stopped(void *arg)
{
    edm_api *api = arg;
    void (*done)(void *) = api->done;
    void *done_arg = api->done_arg;
    api_idem_free(api->idem);
    api_auth_free(api->auth);
    edm_free(api);
    if (done)
        done(done_arg);
}

void edm_api_stop(edm_api *api, void (*done)(void *arg), void *arg)
{
    api->done = done;
    api->done_arg = arg;
    http_server_stop(api->http, on_http_stopped, api);
}
