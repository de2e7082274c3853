/*
 * engine/ingest/upload_csv.c: streaming RFC 4180 CSV recipient parser (behind
 * edm_upload_parser, see upload.h).
 *
 * Owns: the CSV state machine (quoted fields with "" escapes, embedded
 * commas and line breaks, CRLF / LF / CR line ends, a leading UTF-8 BOM),
 * the header row (must name an `email` column, case-insensitive; other
 * named columns become string variables; names unique; an oversized or
 * malformed header row ends the upload with an error rather than making
 * the next line the header), and per-row checks (field count,
 * quoting, NUL bytes, UTF-8, length).
 *
 * Memory: one record at a time (at most EDM_UPLOAD_MAX_ROW bytes plus its
 * field offsets). A record that grows past the limit is rejected; if that
 * happens inside a quoted field (an unterminated quote), parsing resumes at
 * the next line break so the rest of the file is not lost.
 *
 * Known limits: blank lines are skipped; a quote inside an unquoted field is
 * kept literally (lenient, as most producers expect).
 */
#include "engine/ingest/upload_int.h"
#include "engine/base/utf8.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/store/vars.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum csv_state { CSV_FIELD_START, CSV_UNQUOTED, CSV_QUOTED, CSV_QUOTE_IN_QUOTED };

struct upload_csv {
    edm_upload_sink sink;
    char *err;
    size_t errlen;
    enum csv_state state;
    int bom_checked;
    char bom_held[3];
    size_t nbom;
    int skip_lf;   /* the previous byte was a CR ending a record */
    long line;     /* current physical line */
    long rec_line; /* line where the current record started */
    edm_buf rec;   /* the current record's field bytes, back to back */
    edm_buf vars;  /* the row's values, compact (engine/store/vars.h; reused) */
    size_t *ends;  /* end offset of each field in rec */
    size_t nfields, capfields;
    int overflow;    /* record past EDM_UPLOAD_MAX_ROW */
    const char *bad; /* reason the record is rejected, if any */
    /* header */
    int have_header;
    char **names;       /* column names as JSON keys ("\"name\":"), NULL if unnamed */
    edm_buf names_text; /* the variables' names as a JSON array text, "" if none */
    size_t ncols;
    size_t email_col;
};

upload_csv *upload_csv_new(const edm_upload_sink *sink, char *err, size_t errlen)
{
    upload_csv *p = edm_calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->sink = *sink;
    p->err = err;
    p->errlen = errlen;
    p->line = 1;
    p->rec_line = 1;
    return p;
}

void upload_csv_free(upload_csv *p)
{
    if (p == NULL)
        return;
    edm_buf_free(&p->rec);
    edm_buf_free(&p->vars);
    edm_buf_free(&p->names_text);
    edm_free(p->ends);
    for (size_t i = 0; i < p->ncols; i++)
        edm_free(p->names[i]);
    edm_free(p->names);
    edm_free(p);
}

static int end_field(upload_csv *p)
{
    if (p->nfields == p->capfields) {
        size_t cap = p->capfields ? p->capfields * 2 : 16;
        if (cap > EDM_UPLOAD_MAX_ROW)
            return EDM_ETOOBIG;
        size_t *e = edm_realloc(p->ends, cap * sizeof *e);
        if (e == NULL)
            return EDM_ENOMEM;
        p->ends = e;
        p->capfields = cap;
    }
    p->ends[p->nfields++] = p->rec.len;
    return 0;
}

static const char *field(upload_csv *p, size_t i, size_t *len)
{
    size_t start = i == 0 ? 0 : p->ends[i - 1];
    *len = p->ends[i] - start;
    return p->rec.data ? p->rec.data + start : "";
}

/* Appends s[0..n) as a JSON string (valid UTF-8 already checked). */
static int json_quote(edm_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = edm_buf_reserve(b, n + 2);
    if (rc != 0)
        return rc;
    b->data[b->len++] = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((rc = edm_buf_append(b, s + run, i - run)) != 0)
            return rc;
        run = i + 1;
        char esc[7] = {'\\', (char)c, 0};
        if (c == '\n')
            esc[1] = 'n';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c == '\t')
            esc[1] = 't';
        else if (c < 0x20)
            esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
        if ((rc = edm_buf_append_str(b, esc)) != 0)
            return rc;
    }
    if ((rc = edm_buf_append(b, s + run, n - run)) != 0)
        return rc;
    return edm_buf_append_char(b, '"');
}

typedef struct named_col {
    const char *name;
    size_t col;
} named_col;

static int name_cmp(const void *a, const void *b)
{
    const named_col *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->col > y->col) - (x->col < y->col); /* equal names: column order */
}

/* Column names must be unique (they become the keys of one JSON object).
 * Sorted, so that a header of many thousand columns costs n log n; the
 * error names the first column that repeats a name. */
static int unique_names(upload_csv *p)
{
    size_t n = 0;
    named_col *sorted = edm_calloc(p->ncols ? p->ncols : 1, sizeof *sorted);
    if (sorted == NULL)
        return EDM_ENOMEM;
    for (size_t i = 0; i < p->ncols; i++)
        if (p->names[i])
            sorted[n++] = (named_col){p->names[i], i};
    qsort(sorted, n, sizeof *sorted, name_cmp);
    size_t first = 0, dup = SIZE_MAX;
    for (size_t k = 1; k < n; k++) {
        /* the second of a run of equal names, the earliest such column */
        if (strcmp(sorted[k - 1].name, sorted[k].name) == 0 &&
            (k < 2 || strcmp(sorted[k - 2].name, sorted[k].name) != 0) && sorted[k].col < dup) {
            dup = sorted[k].col;
            first = sorted[k - 1].col;
        }
    }
    edm_free(sorted);
    if (dup == SIZE_MAX)
        return 0;
    int len = (int)strlen(p->names[dup]) - 1; /* the quoted name without its ':' */
    snprintf(p->err, p->errlen,
             "line %ld: column %zu repeats the name %.*s of column %zu (column names must be "
             "unique)",
             p->rec_line, dup + 1, len > 120 ? 120 : len, p->names[dup], first + 1);
    return EDM_EINVAL;
}

static int take_header(upload_csv *p)
{
    if (p->overflow) {
        snprintf(p->err, p->errlen, "line %ld: the header row is longer than 1 MiB", p->rec_line);
        return EDM_EINVAL;
    }
    if (p->bad) {
        snprintf(p->err, p->errlen, "line %ld: the header row is malformed: %s", p->rec_line,
                 p->bad);
        return EDM_EINVAL;
    }
    p->names = edm_calloc(p->nfields, sizeof *p->names);
    if (p->names == NULL)
        return EDM_ENOMEM;
    p->ncols = p->nfields;
    int found = 0;
    for (size_t i = 0; i < p->nfields; i++) {
        size_t n;
        const char *f = field(p, i, &n);
        while (n > 0 && (*f == ' ' || *f == '\t'))
            f++, n--;
        while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\t'))
            n--;
        if (memchr(f, '\0', n)) {
            snprintf(p->err, p->errlen, "line %ld: NUL byte in the header row", p->rec_line);
            return EDM_EINVAL;
        }
        if (n == 5 && strncasecmp(f, "email", 5) == 0) {
            if (found) {
                snprintf(p->err, p->errlen,
                         "line %ld: column %zu repeats the name \"email\" of column %zu "
                         "(column names must be unique)",
                         p->rec_line, i + 1, p->email_col + 1);
                return EDM_EINVAL;
            }
            p->email_col = i;
            found = 1;
            continue;
        }
        if (n == 0)
            continue;
        if (!edm_utf8_valid(f, n)) {
            snprintf(p->err, p->errlen, "line %ld: invalid UTF-8 in the header row", p->rec_line);
            return EDM_EINVAL;
        }
        edm_buf key = EDM_BUF_INIT;
        if (json_quote(&key, f, n) != 0 || edm_buf_append_char(&key, ':') != 0) {
            edm_buf_free(&key);
            return EDM_ENOMEM;
        }
        p->names[i] = edm_buf_detach(&key, NULL);
        if (p->names[i] == NULL)
            return EDM_ENOMEM;
        edm_buf *t = &p->names_text;
        if (edm_buf_append_char(t, t->len ? ',' : '[') != 0 || json_quote(t, f, n) != 0)
            return EDM_ENOMEM;
    }
    if (p->names_text.len && edm_buf_append_char(&p->names_text, ']') != 0)
        return EDM_ENOMEM;
    if (!found) {
        snprintf(p->err, p->errlen,
                 "line %ld: the header row has no \"email\" column (CSV needs a header row "
                 "naming email and the variables)",
                 p->rec_line);
        return EDM_EINVAL;
    }
    int rc = unique_names(p);
    if (rc != 0)
        return rc;
    p->have_header = 1;
    return 0;
}

static int emit_row(upload_csv *p)
{
    char reason[96];
    if (p->nfields != p->ncols) {
        snprintf(reason, sizeof reason, "row has %zu fields, the header has %zu", p->nfields,
                 p->ncols);
        return p->sink.reject(p->sink.ctx, p->rec_line, NULL, reason);
    }
    if (p->rec.data == NULL && edm_buf_reserve(&p->rec, 1) != 0)
        return EDM_ENOMEM;
    size_t elen;
    const char *email = field(p, p->email_col, &elen);
    /* the values in the compact form, built here: no JSON per row (the
     * names were written once, with the header) */
    edm_buf *v = &p->vars;
    edm_buf_reset(v);
    int rc = 0;
    for (size_t i = 0; i < p->nfields && rc == 0; i++) {
        if (i == p->email_col || p->names[i] == NULL)
            continue;
        size_t n;
        const char *f = field(p, i, &n);
        if (!edm_utf8_valid(f, n)) {
            snprintf(reason, sizeof reason, "invalid UTF-8 in column %zu", i + 1);
            return p->sink.reject(p->sink.ctx, p->rec_line, NULL, reason);
        }
        rc = edm_vars_put_value(v, f, n);
    }
    if (rc != 0)
        return EDM_ENOMEM;
    edm_upload_vars uv = {
        NULL, 0, p->names_text.data, p->names_text.len, (const unsigned char *)v->data, v->len};
    /* the address as a C string: the record buffer is NUL-terminated only
     * at its end, so put one after the field while the sink looks */
    char *e = p->rec.data + (p->email_col == 0 ? 0 : p->ends[p->email_col - 1]);
    char saved = e[elen];
    e[elen] = '\0';
    rc = p->sink.row(p->sink.ctx, p->rec_line, email, elen, p->names_text.len ? &uv : NULL);
    e[elen] = saved;
    return rc;
}

/* A record ended (at a line break or the end of the body). */
static int end_record(upload_csv *p)
{
    int rc = end_field(p);
    if (rc == EDM_ENOMEM)
        return rc;
    if (rc == EDM_ETOOBIG)
        p->overflow = 1;
    if (!p->have_header && !p->overflow && p->nfields == 1 && p->ends[0] == 0) {
        rc = 0; /* blank line before the header */
    } else if (!p->have_header) {
        rc = take_header(p); /* refuses an oversized or malformed header */
    } else if (p->overflow) {
        rc = p->sink.reject(p->sink.ctx, p->rec_line, NULL,
                            "row longer than 1 MiB (an unterminated quote?)");
    } else if (p->nfields == 1 && p->ends[0] == 0) {
        rc = 0; /* blank line */
    } else if (p->bad) {
        rc = p->sink.reject(p->sink.ctx, p->rec_line, NULL, p->bad);
    } else if (memchr(p->rec.data, '\0', p->rec.len)) {
        rc = p->sink.reject(p->sink.ctx, p->rec_line, NULL, "NUL byte in row");
    } else {
        rc = emit_row(p);
    }
    edm_buf_reset(&p->rec);
    p->nfields = 0;
    p->overflow = 0;
    p->bad = NULL;
    p->state = CSV_FIELD_START;
    return rc;
}

/* A line break ends the record (CR, LF or CRLF: one line each). */
static int end_line(upload_csv *p, char c)
{
    p->skip_lf = c == '\r';
    if (c == '\r')
        p->line++;
    int rc = end_record(p);
    p->rec_line = p->line;
    return rc;
}

static inline void put(upload_csv *p, char c)
{
    if (p->overflow)
        return;
    if (p->rec.len >= EDM_UPLOAD_MAX_ROW || edm_buf_append_char(&p->rec, c) != 0)
        p->overflow = 1;
}

int upload_csv_feed(upload_csv *p, const char *data, size_t len)
{
    size_t i = 0;
    if (!p->bom_checked) {
        while (i < len && p->nbom < 3)
            p->bom_held[p->nbom++] = data[i++];
        if (p->nbom < 3)
            return 0;
        p->bom_checked = 1;
        if (memcmp(p->bom_held, "\xEF\xBB\xBF", 3) != 0) {
            int rc = upload_csv_feed(p, p->bom_held, 3);
            if (rc != 0)
                return rc;
        }
    }
    for (; i < len; i++) {
        char c = data[i];
        if (p->skip_lf) {
            p->skip_lf = 0;
            if (c == '\n')
                continue;
        }
        if (c == '\n')
            p->line++;
        int rc = 0;
        switch (p->state) {
        case CSV_FIELD_START:
            if (c == '"') {
                p->state = CSV_QUOTED;
                break;
            }
            p->state = CSV_UNQUOTED;
            /* fall through */
        case CSV_UNQUOTED:
            if (c == ',') {
                rc = end_field(p);
                if (rc == EDM_ETOOBIG)
                    p->overflow = 1, rc = 0;
                p->state = CSV_FIELD_START;
            } else if (c == '\r' || c == '\n') {
                rc = end_line(p, c);
            } else {
                put(p, c);
            }
            break;
        case CSV_QUOTED:
            if (c == '"') {
                p->state = CSV_QUOTE_IN_QUOTED;
            } else if (c == '\n' && p->overflow) {
                /* an unterminated quote swallowed the row: resync here */
                rc = end_record(p);
                p->rec_line = p->line;
            } else {
                put(p, c);
            }
            break;
        case CSV_QUOTE_IN_QUOTED:
            if (c == '"') {
                put(p, c);
                p->state = CSV_QUOTED;
            } else if (c == ',') {
                rc = end_field(p);
                if (rc == EDM_ETOOBIG)
                    p->overflow = 1, rc = 0;
                p->state = CSV_FIELD_START;
            } else if (c == '\r' || c == '\n') {
                rc = end_line(p, c);
            } else {
                if (!p->bad)
                    p->bad = "malformed quoting: a character after a closing quote";
                put(p, c);
                p->state = CSV_UNQUOTED;
            }
            break;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int upload_csv_finish(upload_csv *p)
{
    if (!p->bom_checked && p->nbom > 0) {
        p->bom_checked = 1;
        int rc = upload_csv_feed(p, p->bom_held, p->nbom);
        if (rc != 0)
            return rc;
    }
    int rc = 0;
    if (p->state == CSV_QUOTED) {
        rc = p->sink.reject(p->sink.ctx, p->rec_line, NULL, "unterminated quoted field");
    } else if (p->state != CSV_FIELD_START || p->nfields > 0) {
        rc = end_record(p);
    }
    if (rc == 0 && !p->have_header) {
        snprintf(p->err, p->errlen, "empty CSV: a header row naming \"email\" is needed");
        return EDM_EINVAL;
    }
    return rc;
}
