/*
 * api/reply.c: answers and request helpers shared by the resource files:
 * JSON answers, the error shape {"error":{"code","message","field"}},
 * store errors to statuses, list pages, query strings, paging, and field
 * validation that names the field (422).
 *
 * Entry points: api_reply, api_error, api_store_error, api_list, api_list_page,
 * api_error_body, api_query, api_paging, api_field_*, api_fields_known,
 * api_check_text. See api_int.h for their contracts.
 */
#include "api/api_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/hex.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_reply(api_call *c, int status, json_t *v)
{
    EDM_ASSERT(!c->answered);
    char *body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (body == NULL)
        EDM_PANIC("out of memory");
    c->answered = 1;
    api_idem_end(c, status, body);
    /* 503: the store is held by another process or refuses writes for now
     * (docs/api.md, "Errors"): the client retries after a second. */
    const char *extra = status == 401   ? "WWW-Authenticate: Bearer realm=\"edm\"\r\n"
                        : status == 503 ? "Retry-After: 1\r\n"
                                        : NULL;
    http_respond(c->req, status, "application/json", extra, body, strlen(body));
    free(body);
}

void api_reply_empty(api_call *c, int status)
{
    EDM_ASSERT(!c->answered);
    c->answered = 1;
    api_idem_end(c, status, "");
    http_respond(c->req, status, NULL, NULL, "", 0);
}

char *api_error_body(const char *code, const char *field, const char *message, size_t *len)
{
    json_t *e =
        json_pack("{s:{s:s,s:s,s:s?}}", "error", "code", code, "message", message, "field", field);
    if (e == NULL)
        EDM_PANIC("out of memory");
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    if (s == NULL)
        EDM_PANIC("out of memory");
    *len = strlen(s);
    return s;
}

void api_error(api_call *c, int status, const char *code, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* the message may quote user input: keep it valid UTF-8 for jansson */
    json_t *m = json_string(msg);
    if (m == NULL) {
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        m = json_string(msg);
    }
    json_t *e =
        json_pack("{s:{s:s,s:o,s:s?}}", "error", "code", code, "message", m, "field", field);
    if (e == NULL)
        EDM_PANIC("out of memory");
    api_reply(c, status, e);
}

void api_store_error(api_call *c, int rc, const char *what)
{
    switch (rc) {
    case EDM_ENOTFOUND: api_error(c, 404, "not_found", NULL, "no such %s", what); break;
    case EDM_ESTATE:
        api_error(c, 409, "wrong_state", NULL, "the %s is in a state that does not allow this",
                  what);
        break;
    case EDM_EEXIST: api_error(c, 409, "exists", NULL, "the %s already exists", what); break;
    case EDM_EINVAL: api_error(c, 422, "invalid", NULL, "invalid %s", what); break;
    case EDM_EBUSY:
        api_error(c, 503, "busy", NULL,
                  "the database is locked by another process; nothing was changed, retry later");
        break;
    default:
        edm_log(EDM_LOG_ERROR, "api", "req=%llu store=\"%s\" rc=%d", (unsigned long long)c->req->id,
                edm_store_errmsg(c->api->store), rc);
        api_error(c, 500, "internal", NULL, "storage failure (%s)", edm_strerror(rc));
        break;
    }
}

json_t *api_list(json_t *items, int64_t next)
{
    json_t *n = json_null();
    if (next > 0) {
        char s[24];
        snprintf(s, sizeof s, "%" PRId64, next);
        n = json_string(s);
    }
    json_t *v = json_pack("{s:o,s:o}", "items", items, "next", n);
    if (v == NULL)
        EDM_PANIC("out of memory");
    return v;
}

json_t *api_list_page(json_t *all, int64_t after, int limit, int by_id)
{
    json_t *items = json_array();
    size_t n = json_array_size(all), i = 0;
    if (by_id) {
        while (i < n && json_integer_value(json_object_get(json_array_get(all, i), "id")) <= after)
            i++;
    } else {
        i = (uint64_t)after < n ? (size_t)after : n;
    }
    for (; i < n && json_array_size(items) < (size_t)limit; i++)
        json_array_append(items, json_array_get(all, i));
    int64_t next = 0;
    if (i < n && json_array_size(items) > 0)
        next = by_id ? json_integer_value(json_object_get(json_array_get(all, i - 1), "id"))
                     : (int64_t)i;
    json_decref(all);
    return api_list(items, next);
}

int api_query(const api_call *c, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *q = c->req->query;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t plen = amp ? (size_t)(amp - q) : strlen(q);
        if (plen > nlen && strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
            size_t o = 0;
            for (size_t i = nlen + 1; i < plen; i++) {
                char ch = q[i];
                if (ch == '+') {
                    ch = ' ';
                } else if (ch == '%') {
                    int hi = i + 2 < plen ? edm_hex_value(q[i + 1]) : -1;
                    int lo = i + 2 < plen ? edm_hex_value(q[i + 2]) : -1;
                    if (hi < 0 || lo < 0)
                        return -1;
                    ch = (char)(hi * 16 + lo);
                    i += 2;
                }
                if (ch == '\0' || o + 1 >= outlen)
                    return -1;
                out[o++] = ch;
            }
            out[o] = '\0';
            return 1;
        }
        if (plen == nlen && strncmp(q, name, nlen) == 0) {
            out[0] = '\0';
            return 1;
        }
        q += plen;
        if (*q == '&')
            q++;
    }
    return 0;
}

static int parse_i64(const char *s, int64_t *v)
{
    if (*s == '\0')
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end != '\0' || errno != 0 || s[0] == ' ' || s[0] == '+')
        return -1;
    *v = x;
    return 0;
}

int api_paging(api_call *c, int *limit, int64_t *after)
{
    char buf[64];
    int64_t v;
    *limit = 100;
    *after = 0;
    int r = api_query(c, "limit", buf, sizeof buf);
    if (r != 0) {
        if (r < 0 || parse_i64(buf, &v) != 0 || v < 1 || v > 1000) {
            api_error(c, 422, "invalid", "limit", "limit must be an integer from 1 to 1000");
            return -1;
        }
        *limit = (int)v;
    }
    r = api_query(c, "after", buf, sizeof buf);
    if (r != 0) {
        if (r < 0 || parse_i64(buf, &v) != 0 || v < 0) {
            api_error(c, 422, "invalid", "after",
                      "after must be a cursor from the previous page's next");
            return -1;
        }
        *after = v;
    }
    return 0;
}

int api_check_text(api_call *c, const char *field, json_t *s, int single_line)
{
    const char *v = json_string_value(s);
    size_t n = json_string_length(s);
    if (memchr(v, '\0', n)) {
        api_error(c, 422, "invalid", field, "%s must not contain NUL bytes", field);
        return -1;
    }
    if (single_line && strpbrk(v, "\r\n")) {
        api_error(c, 422, "invalid", field, "%s must not contain line breaks", field);
        return -1;
    }
    return 0;
}

int api_field_string(api_call *c, json_t *obj, const char *name, int required, size_t maxlen,
                     const char **out)
{
    json_t *v = json_object_get(obj, name);
    if (v == NULL || (json_is_null(v) && !required)) {
        if (required) {
            api_error(c, 422, "required", name, "%s is required", name);
            return -1;
        }
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v)) {
        api_error(c, 422, "invalid_type", name, "%s must be a string", name);
        return -1;
    }
    if (api_check_text(c, name, v, 0) != 0)
        return -1;
    if (maxlen && json_string_length(v) > maxlen) {
        api_error(c, 422, "too_long", name, "%s is longer than %zu bytes", name, maxlen);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

int api_field_int(api_call *c, json_t *obj, const char *name, int required, int64_t min,
                  int64_t max, int64_t *out)
{
    json_t *v = json_object_get(obj, name);
    if (v == NULL || (json_is_null(v) && !required)) {
        if (required) {
            api_error(c, 422, "required", name, "%s is required", name);
            return -1;
        }
        return 0;
    }
    if (!json_is_integer(v)) {
        api_error(c, 422, "invalid_type", name, "%s must be an integer", name);
        return -1;
    }
    int64_t x = json_integer_value(v);
    if (x < min || x > max) {
        api_error(c, 422, "out_of_range", name, "%s must be from %" PRId64 " to %" PRId64, name,
                  min, max);
        return -1;
    }
    *out = x;
    return 1;
}

int api_field_time(api_call *c, json_t *obj, const char *name, int required, int64_t *out)
{
    json_t *v = json_object_get(obj, name);
    *out = -1;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            api_error(c, 422, "required", name, "%s is required (RFC 3339 time)", name);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v) || edm_time_parse_rfc3339(json_string_value(v), out) != 0 ||
        memchr(json_string_value(v), '\0', json_string_length(v))) {
        api_error(c, 422, "invalid_time", name,
                  "%s must be an RFC 3339 time such as 2026-11-27T13:00:00Z", name);
        return -1;
    }
    return 1;
}

int api_fields_known(api_call *c, json_t *obj, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(k, allowed[i]) == 0)
                ok = 1;
        if (!ok) {
            api_error(c, 422, "unknown_field", k, "unknown field %.100s", k);
            return -1;
        }
    }
    return 0;
}
