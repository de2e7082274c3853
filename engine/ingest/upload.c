/*
 * engine/ingest/upload.c: the recipient-list parser front end (see upload.h): picks
 * the format (from the Content-Type or by sniffing the first byte that is
 * not blank or a UTF-8 BOM) and forwards bytes to upload_csv.c or
 * upload_ndjson.c. Also turns a JSON row into email + variables for both
 * JSON formats.
 *
 * Entry points: edm_upload_format_from_type, edm_upload_parser_*.
 * Returns: see upload.h.
 */
#include "engine/ingest/upload_int.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/store/vars.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct edm_upload_parser {
    enum edm_upload_format fmt;
    edm_upload_sink sink;
    upload_csv *csv;
    upload_json *json;
    /* sniffing: bytes held back until the first significant byte shows */
    char held[64];
    size_t nheld;
    char err[256];
};

enum edm_upload_format edm_upload_format_from_type(const char *ct)
{
    if (ct == NULL)
        return EDM_UPLOAD_SNIFF;
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, "; ");
    static const struct {
        const char *type;
        enum edm_upload_format fmt;
    } types[] = {
        {"text/csv", EDM_UPLOAD_CSV},
        {"application/csv", EDM_UPLOAD_CSV},
        {"application/x-ndjson", EDM_UPLOAD_NDJSON},
        {"application/ndjson", EDM_UPLOAD_NDJSON},
        {"application/jsonl", EDM_UPLOAD_NDJSON},
        {"application/x-jsonlines", EDM_UPLOAD_NDJSON},
        {"application/json", EDM_UPLOAD_SNIFF}, /* an array, or NDJSON objects */
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].type) == n && strncasecmp(ct, types[i].type, n) == 0)
            return types[i].fmt;
    return EDM_UPLOAD_SNIFF;
}

int edm_upload_parser_new(enum edm_upload_format fmt, const edm_upload_sink *sink,
                          edm_upload_parser **out)
{
    edm_upload_parser *p = edm_calloc(1, sizeof *p);
    if (p == NULL)
        return EDM_ENOMEM;
    p->fmt = fmt;
    p->sink = *sink;
    *out = p;
    return 0;
}

static int start(edm_upload_parser *p)
{
    if (p->fmt == EDM_UPLOAD_CSV)
        p->csv = upload_csv_new(&p->sink, p->err, sizeof p->err);
    else
        p->json = upload_json_new(&p->sink, p->fmt == EDM_UPLOAD_JSON, p->err, sizeof p->err);
    return p->csv || p->json ? 0 : EDM_ENOMEM;
}

static int forward(edm_upload_parser *p, const char *data, size_t len)
{
    if (p->csv)
        return upload_csv_feed(p->csv, data, len);
    return upload_json_feed(p->json, data, len);
}

/* Decides the format once a significant byte is held; 1 if decided. */
static int sniff(edm_upload_parser *p)
{
    size_t i = 0;
    while (i < p->nheld) {
        unsigned char c = (unsigned char)p->held[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
        } else if (c == 0xEF && i + 3 <= p->nheld && memcmp(p->held + i, "\xEF\xBB\xBF", 3) == 0) {
            i += 3;
        } else if (c == 0xEF && i + 3 > p->nheld) {
            return 0; /* maybe a BOM: wait for more */
        } else {
            p->fmt = c == '[' ? EDM_UPLOAD_JSON : c == '{' ? EDM_UPLOAD_NDJSON : EDM_UPLOAD_CSV;
            return 1;
        }
    }
    return p->nheld == sizeof p->held; /* all blank so far: CSV decides */
}

int edm_upload_parser_feed(edm_upload_parser *p, const char *data, size_t len)
{
    if (p->csv == NULL && p->json == NULL) {
        if (p->fmt == EDM_UPLOAD_SNIFF) {
            while (len > 0 && p->nheld < sizeof p->held) {
                p->held[p->nheld++] = *data++;
                len--;
                if (sniff(p))
                    break;
            }
            if (p->fmt == EDM_UPLOAD_SNIFF) {
                if (p->nheld < sizeof p->held)
                    return 0;
                p->fmt = EDM_UPLOAD_CSV;
            }
        }
        int rc = start(p);
        if (rc != 0)
            return rc;
        if (p->nheld > 0) {
            rc = forward(p, p->held, p->nheld);
            p->nheld = 0;
            if (rc != 0)
                return rc;
        }
    }
    return len ? forward(p, data, len) : 0;
}

int edm_upload_parser_finish(edm_upload_parser *p)
{
    if (p->csv == NULL && p->json == NULL) {
        if (p->fmt == EDM_UPLOAD_SNIFF)
            p->fmt = EDM_UPLOAD_CSV;
        int rc = start(p);
        if (rc == 0 && p->nheld > 0)
            rc = forward(p, p->held, p->nheld);
        if (rc != 0)
            return rc;
    }
    if (p->csv)
        return upload_csv_finish(p->csv);
    return upload_json_finish(p->json);
}

const char *edm_upload_parser_error(const edm_upload_parser *p)
{
    return p->err;
}

enum edm_upload_format edm_upload_parser_format(const edm_upload_parser *p)
{
    return p->fmt;
}

void edm_upload_parser_free(edm_upload_parser *p)
{
    if (p == NULL)
        return;
    upload_csv_free(p->csv);
    upload_json_free(p->json);
    edm_free(p);
}

int upload_row_from_json(const edm_upload_sink *sink, long line, json_t *row)
{
    if (json_is_string(row))
        return sink->row(sink->ctx, line, json_string_value(row), json_string_length(row), NULL);
    if (!json_is_object(row))
        return sink->reject(sink->ctx, line, NULL, "row is not an object or an address string");
    json_t *email = json_object_get(row, "email");
    if (email == NULL)
        return sink->reject(sink->ctx, line, NULL, "missing email");
    if (!json_is_string(email))
        return sink->reject(sink->ctx, line, NULL, "email is not a string");
    json_t *inner = json_object_get(row, "vars");
    if (inner != NULL && !json_is_object(inner))
        return sink->reject(sink->ctx, line, json_string_value(email), "vars is not an object");
    /* the row minus email and vars, plus the members of vars (they win) */
    json_t *vars = json_object();
    if (vars == NULL)
        return EDM_ENOMEM;
    const char *k;
    json_t *v;
    json_object_foreach(row, k, v)
    {
        if (strcmp(k, "email") != 0 && strcmp(k, "vars") != 0 && json_object_set(vars, k, v) != 0) {
            json_decref(vars);
            return EDM_ENOMEM;
        }
    }
    if (inner != NULL && json_object_update(vars, inner) != 0) {
        json_decref(vars);
        return EDM_ENOMEM;
    }
    /* all strings: the compact form (engine/store/vars.h); else JSON text */
    edm_buf names = EDM_BUF_INIT, vals = EDM_BUF_INIT;
    int compact = edm_vars_from_object(vars, &names, &vals);
    char *text = NULL;
    if (compact < 0 || (compact == 0 && json_object_size(vars) > 0 &&
                        (text = json_dumps(vars, JSON_COMPACT)) == NULL)) {
        json_decref(vars);
        edm_buf_free(&names);
        edm_buf_free(&vals);
        return EDM_ENOMEM;
    }
    json_decref(vars);
    edm_upload_vars uv = {text,      text ? strlen(text) : 0,          names.data,
                          names.len, (const unsigned char *)vals.data, vals.len};
    int rc = sink->row(sink->ctx, line, json_string_value(email), json_string_length(email),
                       text || compact ? &uv : NULL);
    free(text);
    edm_buf_free(&names);
    edm_buf_free(&vals);
    return rc;
}

int edm_upload_vars_json(const edm_upload_vars *v, json_t **out, char *err, size_t errlen)
{
    if (v == NULL) {
        *out = json_object();
        return *out ? 0 : EDM_ENOMEM;
    }
    if (v->json == NULL)
        return edm_vars_parts_to_json(v->names, v->names_len, v->vals, v->vals_len, out, err,
                                      errlen);
    json_error_t jerr;
    *out = json_loadb(v->json, v->json_len, 0, &jerr);
    if (*out == NULL || !json_is_object(*out)) {
        json_decref(*out);
        snprintf(err, errlen, "not a JSON object: %s", jerr.text);
        return EDM_EINVAL;
    }
    return 0;
}
