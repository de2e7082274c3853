/*
 * api/routes/suppressions_csv.c: the suppression list as CSV (docs/api.md):
 *  - GET /v1/suppressions.csv: every entry, "email,reason" then one row
 *    each (a domain entry's value in the email column), RFC 4180 quoting;
 *  - POST /v1/suppressions with Content-Type text/csv: a header row naming
 *    an "email" (or "value" or "domain") column and optionally "reason",
 *    then one entry a row; answers 200 {accepted, rejected[{line, email,
 *    error}]}: a bad row is reported and the others are still added.
 * Limits: the export is built in memory (fine for millions of rows of a
 * few dozen bytes); quoted fields may not span lines in the import.
 */
#include "api/api_int.h"
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"

#include <string.h>
#include <strings.h>

static void csv_field(edm_buf *b, const char *v)
{
    if (strpbrk(v, ",\"\r\n") == NULL) {
        edm_buf_append_str(b, v);
        return;
    }
    edm_buf_append_char(b, '"');
    for (; *v; v++) {
        if (*v == '"')
            edm_buf_append_char(b, '"');
        edm_buf_append_char(b, *v);
    }
    edm_buf_append_char(b, '"');
}

void api_suppressions_csv(api_call *c)
{
    edm_store *st = c->api->store;
    edm_buf b = EDM_BUF_INIT;
    edm_buf_append_str(&b, "email,reason\r\n");
    int64_t after = 0;
    do {
        edm_page page = {0};
        int rc = st->ops->suppression_list(st, after, 1000, &page);
        if (rc != 0) {
            edm_buf_free(&b);
            api_store_error(c, rc, "suppression");
            return;
        }
        size_t i;
        json_t *it;
        json_array_foreach(page.items, i, it)
        {
            csv_field(&b, json_string_value(json_object_get(it, "value")));
            edm_buf_append_char(&b, ',');
            csv_field(&b, json_string_value(json_object_get(it, "reason")));
            edm_buf_append_str(&b, "\r\n");
        }
        after = page.next;
        edm_page_free(&page);
    } while (after);
    c->answered = 1;
    http_respond(c->req, 200, "text/csv; charset=utf-8", NULL, edm_buf_cstr(&b), b.len);
    edm_buf_free(&b);
}

#define MAX_COLS 16

/* Splits one line (no CR/LF) into fields, unquoting; returns the count. */
static int split_line(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return n;
        if (*p == '"') {
            char *o = ++p;
            f[n++] = o;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"')
                    p++;
                *o++ = *p++;
            }
            if (*p == '"')
                p++;
            *o = '\0';
            while (*p && *p != ',')
                p++;
        } else {
            f[n++] = p;
            while (*p && *p != ',')
                p++;
        }
        if (*p != ',') {
            *p = '\0';
            return n;
        }
        *p++ = '\0';
    }
}

void api_suppressions_import(api_call *c)
{
    edm_store *st = c->api->store;
    char *text = edm_buf_detach(&c->req->body, NULL);
    if (text == NULL) {
        api_error(c, 422, "invalid", "email", "the CSV has no header row");
        return;
    }
    json_t *rejected = json_array();
    int64_t accepted = 0;
    int email_col = -1, reason_col = -1, line_no = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r')
            line[--ll] = '\0';
        char *f[MAX_COLS];
        int n = split_line(line, f, MAX_COLS);
        if (email_col < 0) {
            for (int i = 0; i < n; i++) {
                if (strcasecmp(f[i], "email") == 0 || strcasecmp(f[i], "value") == 0 ||
                    strcasecmp(f[i], "domain") == 0)
                    email_col = i;
                else if (strcasecmp(f[i], "reason") == 0)
                    reason_col = i;
            }
            if (email_col < 0) {
                edm_free(text);
                json_decref(rejected);
                api_error(c, 422, "invalid", "email",
                          "the CSV header row must name an email column");
                return;
            }
            continue;
        }
        if (ll == 0)
            continue;
        const char *v = email_col < n ? f[email_col] : "";
        const char *reason = reason_col >= 0 && reason_col < n ? f[reason_col] : "";
        char norm[EDM_ADDR_MAX];
        const char *why = NULL;
        size_t doff;
        int rc = strchr(v, '@') ? edm_addr_normalize(v, strlen(v), norm, &doff, &why)
                                : edm_addr_normalize_domain(v, strlen(v), norm, &why);
        if (rc == 0 && strlen(reason) > 1000) {
            rc = EDM_EINVAL;
            why = "reason is longer than 1000 bytes";
        }
        if (rc == 0) /* no reason: "manual", as for a JSON POST */
            rc = st->ops->suppression_add(st, norm, reason[0] ? reason : "manual", NULL);
        if (rc == 0) {
            accepted++;
        } else {
            json_array_append_new(rejected, json_pack("{s:i, s:s, s:s}", "line", line_no, "email",
                                                      v, "error", why ? why : edm_strerror(rc)));
        }
    }
    edm_free(text);
    api_reply(c, 200,
              json_pack("{s:I, s:o}", "accepted", (json_int_t)accepted, "rejected", rejected));
}
