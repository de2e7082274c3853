/*
 * engine/cmd/cmd_status.c: `edm status [-c edm.json] [CAMPAIGN]`: asks the
 * running `edm serve` (its API at api.listen, with the first key of the
 * api.keys_env variable) for campaigns and prints them with their
 * progress; with a campaign id, that campaign's counts per state and per
 * bounce category and its send rate. Responses are parsed with
 * libhttp-parser and jansson. Exit 1 if the API cannot be reached or
 * answers an error (its message is printed).
 */
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/cmd/cmd.h"
#include "engine/base/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: edm status [-c edm.json] [CAMPAIGN]\n"
    "Shows the campaigns of a running edm serve (through its API) and their\n"
    "progress; with a campaign id, its counts per state and bounce category.\n"
    "The API key is the first one in the variable named by api.keys_env\n"
    "(default EDM_API_KEYS).\n"
    "  -c, --config FILE   the configuration (for api.listen and api.keys_env)\n";

struct resp {
    int status;
    edm_buf body;
    int done;
};

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct resp *r = p->data;
    return edm_buf_append(&r->body, at, len) == 0 ? 0 : -1;
}

static int on_complete(http_parser *p)
{
    struct resp *r = p->data;
    r->status = (int)p->status_code;
    r->done = 1;
    return 0;
}

/* GET path from host:port; returns the parsed JSON body or NULL (message
 * printed). */
static json_t *api_get(const char *host, int port, const char *key, const char *path, int *status)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL) {
        fprintf(stderr, "edm status: cannot resolve %s\n", host);
        return NULL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        fprintf(stderr, "edm status: cannot reach the API at %s:%d (%s): is edm serve running?\n",
                host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return NULL;
    }
    freeaddrinfo(ai);
    edm_buf req = EDM_BUF_INIT;
    edm_buf_appendf(&req,
                    "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: application/json\r\n"
                    "Connection: close\r\n",
                    path, host, port);
    if (key && *key)
        edm_buf_appendf(&req, "Authorization: Bearer %s\r\n", key);
    edm_buf_append_str(&req, "\r\n");
    size_t off = 0;
    while (off < req.len) {
        ssize_t n = write(fd, req.data + off, req.len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    edm_buf_free(&req);
    struct resp r = {0};
    http_parser parser;
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_body = on_body;
    s.on_message_complete = on_complete;
    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = &r;
    char buf[8192];
    ssize_t n;
    while (!r.done && (n = read(fd, buf, sizeof buf)) > 0)
        if (http_parser_execute(&parser, &s, buf, (size_t)n) != (size_t)n)
            break;
    if (!r.done)
        http_parser_execute(&parser, &s, NULL, 0); /* EOF ends a body without length */
    close(fd);
    if (!r.done) {
        fprintf(stderr, "edm status: no complete answer from the API\n");
        edm_buf_free(&r.body);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(edm_buf_cstr(&r.body), r.body.len, 0, &e);
    edm_buf_free(&r.body);
    *status = r.status;
    if (j == NULL)
        fprintf(stderr, "edm status: the API answered %d with invalid JSON\n", r.status);
    return j;
}

static int api_error(const char *what, int status, json_t *j)
{
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    fprintf(stderr, "edm status: %s: HTTP %d: %s\n", what, status, msg ? msg : "error");
    if (status == 401)
        fprintf(stderr, "edm status: set the API key in the variable named by api.keys_env\n");
    json_decref(j);
    return 1;
}

static long long num(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static int show_one(const char *host, int port, const char *key, const char *id)
{
    char path[256];
    int st = 0;
    snprintf(path, sizeof path, "/v1/campaigns/%s", id);
    json_t *c = api_get(host, port, key, path, &st);
    if (c == NULL)
        return 1;
    if (st != 200)
        return api_error(path, st, c);
    snprintf(path, sizeof path, "/v1/campaigns/%s/stats", id);
    json_t *s = api_get(host, port, key, path, &st);
    if (s == NULL || st != 200) {
        json_decref(c);
        return s ? api_error(path, st, s) : 1;
    }
    printf("campaign %lld  %s\n", num(c, "id"), json_string_value(json_object_get(c, "name")));
    printf("  status      %s\n", json_string_value(json_object_get(c, "status")));
    printf("  from        %s\n", json_string_value(json_object_get(c, "from")));
    const char *sa = json_string_value(json_object_get(c, "send_at"));
    printf("  send_at     %s\n", sa ? sa : "-");
    printf("  progress    %lld/%lld (%.1f%%)\n", num(s, "done"), num(s, "total"),
           100.0 * json_real_value(json_object_get(s, "progress")));
    json_t *rate = json_object_get(s, "rate");
    if (rate)
        printf("  rate        %.1f/s\n", json_number_value(rate));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(s, "counts"), k, v)
    {
        printf("  %-11s %lld\n", k, (long long)json_integer_value(v));
    }
    json_object_foreach(json_object_get(s, "bounce_categories"), k, v)
    {
        printf("  bounced as %-12s %lld\n", k, (long long)json_integer_value(v));
    }
    json_decref(c);
    json_decref(s);
    return 0;
}

static int show_all(const char *host, int port, const char *key)
{
    char path[256] = "/v1/campaigns?limit=1000";
    int st = 0, first = 1;
    for (;;) {
        json_t *page = api_get(host, port, key, path, &st);
        if (page == NULL)
            return 1;
        if (st != 200)
            return api_error("/v1/campaigns", st, page);
        size_t i;
        json_t *c;
        if (first)
            printf("%-6s %-28s %-10s %s\n", "ID", "NAME", "STATUS", "PROGRESS");
        first = 0;
        json_array_foreach(json_object_get(page, "items"), i, c)
        {
            char sp[64];
            snprintf(sp, sizeof sp, "/v1/campaigns/%lld/stats", num(c, "id"));
            int sst = 0;
            json_t *s = api_get(host, port, key, sp, &sst);
            char prog[96] = "-";
            if (s && sst == 200) {
                json_t *cn = json_object_get(s, "counts");
                snprintf(prog, sizeof prog, "%lld/%lld  delivered %lld  bounced %lld",
                         num(s, "done"), num(s, "total"), num(cn, "delivered"), num(cn, "bounced"));
            }
            json_decref(s);
            printf("%-6lld %-28.28s %-10s %s\n", num(c, "id"),
                   json_string_value(json_object_get(c, "name")),
                   json_string_value(json_object_get(c, "status")), prog);
        }
        json_t *next = json_object_get(page, "next");
        if (!json_is_string(next) && !json_is_integer(next)) {
            json_decref(page);
            return 0;
        }
        if (json_is_string(next))
            snprintf(path, sizeof path, "/v1/campaigns?limit=1000&after=%s",
                     json_string_value(next));
        else
            snprintf(path, sizeof path, "/v1/campaigns?limit=1000&after=%lld",
                     (long long)json_integer_value(next));
        json_decref(page);
    }
}

int edm_cmd_status(int argc, char **argv)
{
    const char *path = NULL, *id = NULL;
    for (int i = 1; i < argc; i++) {
        if (edm_cmd_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (edm_cmd_config_opt(argc, argv, &i, &path))
            continue;
        if (id == NULL && argv[i][0] != '-' && strspn(argv[i], "0123456789") == strlen(argv[i])) {
            id = argv[i];
            continue;
        }
        fprintf(stderr, "edm status: unexpected argument '%s'\n%s", argv[i], usage_text);
        return 2;
    }
    edm_config cfg;
    if (edm_cmd_load_config("status", path, &cfg) != 0)
        return 1;
    char key[512] = "";
    const char *keys = getenv(cfg.api.keys_env);
    if (keys) {
        size_t n = strcspn(keys, ",");
        if (n >= sizeof key)
            n = sizeof key - 1;
        memcpy(key, keys, n);
        key[n] = '\0';
    }
    char host[300];
    snprintf(host, sizeof host, "%s", cfg.api.listen_host);
    if (strcmp(host, "0.0.0.0") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(host, sizeof host, "::1");
    int rc = id ? show_one(host, cfg.api.listen_port, key, id)
                : show_all(host, cfg.api.listen_port, key);
    edm_config_free(&cfg);
    return rc;
}
