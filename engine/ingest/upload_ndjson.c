/*
 * engine/ingest/upload_ndjson.c: streaming NDJSON and JSON-array recipient parsers
 * (behind edm_upload_parser, see upload.h).
 *
 * NDJSON: one JSON value per line; blank lines skipped; each line parsed by
 * jansson on its own, so a bad line is rejected with its column and the
 * next one is read.
 *
 * JSON array: a small scanner (not a JSON parser: it only tracks strings,
 * escapes and bracket depth) cuts the top-level array into items as bytes
 * arrive; jansson parses each item. A malformed item is rejected on its
 * own; a body that does not start with '[' stops the parse.
 *
 * Memory: one line / item at a time, at most EDM_UPLOAD_MAX_ROW bytes; a
 * longer one is skipped to its end and rejected.
 */
#include "engine/ingest/upload_int.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>

enum arr_state { ARR_BEFORE, ARR_ITEM_OR_END, ARR_ITEM, ARR_DONE, ARR_TRAILING };

struct upload_json {
    edm_upload_sink sink;
    int array;
    char *err;
    size_t errlen;
    edm_buf item;
    int overflow;
    long line;     /* NDJSON: current line; array: items seen */
    long long pos; /* bytes consumed (for error positions) */
    /* array scanner */
    enum arr_state st;
    int depth, in_str, esc;
    int bom; /* bytes of a leading BOM matched so far */
};

upload_json *upload_json_new(const edm_upload_sink *sink, int array, char *err, size_t errlen)
{
    upload_json *p = edm_calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->sink = *sink;
    p->array = array;
    p->err = err;
    p->errlen = errlen;
    p->line = array ? 0 : 1;
    return p;
}

void upload_json_free(upload_json *p)
{
    if (p == NULL)
        return;
    edm_buf_free(&p->item);
    edm_free(p);
}

static inline void put(upload_json *p, char c)
{
    if (p->overflow)
        return;
    if (p->item.len >= EDM_UPLOAD_MAX_ROW || edm_buf_append_char(&p->item, c) != 0)
        p->overflow = 1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parses the collected line / item and hands it on. */
static int take(upload_json *p, long line)
{
    int rc;
    if (p->overflow) {
        rc = p->sink.reject(p->sink.ctx, line, NULL, "row longer than 1 MiB");
    } else {
        size_t n = p->item.len;
        const char *s = edm_buf_cstr(&p->item);
        while (n > 0 && is_blank(s[n - 1]))
            n--;
        while (n > 0 && is_blank(*s))
            s++, n--;
        if (n == 0 && !p->array) {
            rc = 0;
        } else {
            json_error_t je;
            json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            if (v == NULL) {
                char why[200];
                snprintf(why, sizeof why, "malformed JSON at column %d: %s", je.column, je.text);
                rc = p->sink.reject(p->sink.ctx, line, NULL, why);
            } else {
                rc = upload_row_from_json(&p->sink, line, v);
                json_decref(v);
            }
        }
    }
    edm_buf_reset(&p->item);
    p->overflow = 0;
    return rc;
}

static int ndjson_feed(upload_json *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - data) : len;
        if (!p->overflow) {
            if (p->item.len + (end - i) > EDM_UPLOAD_MAX_ROW)
                p->overflow = 1;
            else if (edm_buf_append(&p->item, data + i, end - i) != 0)
                return EDM_ENOMEM;
        }
        i = end;
        if (nl) {
            int rc = take(p, p->line);
            p->line++;
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int fatal(upload_json *p, const char *what)
{
    snprintf(p->err, p->errlen, "%s at byte %lld", what, p->pos);
    return EDM_EINVAL;
}

static int array_feed(upload_json *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++, p->pos++) {
        char c = data[i];
        int rc = 0;
        switch (p->st) {
        case ARR_BEFORE:
            if (p->pos == p->bom && p->bom < 3 &&
                (unsigned char)c == (unsigned char)"\xEF\xBB\xBF"[p->bom]) {
                p->bom++;
                break;
            }
            if (is_blank(c))
                break;
            if (c != '[')
                return fatal(p, "expected a JSON array of recipients ('[')");
            p->st = ARR_ITEM_OR_END;
            break;
        case ARR_ITEM_OR_END:
            if (is_blank(c))
                break;
            if (c == ']') {
                p->st = ARR_DONE;
                break;
            }
            p->st = ARR_ITEM;
            p->line++;
            /* fall through */
        case ARR_ITEM:
            if (p->in_str) {
                if (p->esc)
                    p->esc = 0;
                else if (c == '\\')
                    p->esc = 1;
                else if (c == '"')
                    p->in_str = 0;
            } else if (c == '"') {
                p->in_str = 1;
            } else if (c == '{' || c == '[') {
                p->depth++;
            } else if ((c == '}' || c == ']') && p->depth > 0) {
                p->depth--;
            } else if (p->depth == 0 && (c == ',' || c == ']')) {
                rc = take(p, p->line);
                p->st = c == ',' ? ARR_ITEM_OR_END : ARR_DONE;
                break;
            }
            put(p, c);
            break;
        case ARR_DONE:
            if (!is_blank(c)) {
                rc = p->sink.reject(p->sink.ctx, p->line + 1, NULL,
                                    "data after the end of the array (ignored)");
                p->st = ARR_TRAILING;
            }
            break;
        case ARR_TRAILING: break;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int upload_json_feed(upload_json *p, const char *data, size_t len)
{
    return p->array ? array_feed(p, data, len) : ndjson_feed(p, data, len);
}

int upload_json_finish(upload_json *p)
{
    if (!p->array)
        return p->item.len > 0 || p->overflow ? take(p, p->line) : 0;
    if (p->st == ARR_BEFORE)
        return fatal(p, "expected a JSON array of recipients, got an empty body");
    if (p->st == ARR_DONE || p->st == ARR_TRAILING)
        return 0;
    /* the body ended inside the array: the rows before are kept */
    int rc = p->sink.reject(p->sink.ctx, p->line + (p->st == ARR_ITEM_OR_END), NULL,
                            "the body ended before the array was closed (no ']')");
    edm_buf_reset(&p->item);
    return rc;
}
