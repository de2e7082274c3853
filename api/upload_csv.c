/*
 * api/upload_csv.c: streaming RFC 4180 CSV recipient parser (behind
 * edm_upload_parser, see upload.h).
 *
 * Owns: the CSV state machine (quoted fields with "" escapes, embedded
 * commas and line breaks, CRLF / LF / CR line ends, a leading UTF-8 BOM),
 * the header row (must name an `email` column, case-insensitive; other
 * named columns become string variables), and per-row checks (field count,
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
#include "api/upload_int.h"
#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/err.h"

#include <stdio.h>
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
    size_t *ends;  /* end offset of each field in rec */
    size_t nfields, capfields;
    int overflow;    /* record past EDM_UPLOAD_MAX_ROW */
    const char *bad; /* reason the record is rejected, if any */
    /* header */
    int have_header;
    char **names; /* column names (NULL for unnamed columns) */
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

static int take_header(upload_csv *p)
{
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
        if (!found && n == 5 && strncasecmp(f, "email", 5) == 0) {
            p->email_col = i;
            found = 1;
            continue;
        }
        if (n == 0)
            continue;
        p->names[i] = edm_strndup(f, n);
        if (p->names[i] == NULL)
            return EDM_ENOMEM;
    }
    if (!found) {
        snprintf(p->err, p->errlen,
                 "line %ld: the header row has no \"email\" column (CSV needs a header row "
                 "naming email and the variables)",
                 p->rec_line);
        return EDM_EINVAL;
    }
    p->have_header = 1;
    return 0;
}

static int emit_row(upload_csv *p)
{
    size_t elen = 0;
    const char *email = p->ncols == p->nfields ? field(p, p->email_col, &elen) : NULL;
    char reason[96];
    if (p->nfields != p->ncols) {
        snprintf(reason, sizeof reason, "row has %zu fields, the header has %zu", p->nfields,
                 p->ncols);
        return p->sink.reject(p->sink.ctx, p->rec_line, NULL, reason);
    }
    json_t *vars = json_object();
    if (vars == NULL)
        return EDM_ENOMEM;
    /* email as a C string for the sink (rec is NUL-terminated only at its end) */
    char ebuf[1024];
    const char *e = ebuf;
    char *eheap = NULL;
    if (elen < sizeof ebuf) {
        memcpy(ebuf, email, elen);
        ebuf[elen] = '\0';
    } else {
        eheap = edm_strndup(email, elen);
        if (eheap == NULL) {
            json_decref(vars);
            return EDM_ENOMEM;
        }
        e = eheap;
    }
    int rc = 0;
    for (size_t i = 0; i < p->nfields && rc == 0; i++) {
        if (i == p->email_col || p->names[i] == NULL)
            continue;
        size_t n;
        const char *f = field(p, i, &n);
        json_t *s = json_stringn(f, n);
        if (s == NULL) {
            snprintf(reason, sizeof reason, "invalid UTF-8 in column %.40s", p->names[i]);
            rc = p->sink.reject(p->sink.ctx, p->rec_line, memchr(e, 0, elen) ? NULL : e, reason);
            json_decref(vars);
            edm_free(eheap);
            return rc;
        }
        if (json_object_set_new(vars, p->names[i], s) != 0)
            rc = EDM_ENOMEM;
    }
    if (rc == 0)
        rc = p->sink.row(p->sink.ctx, p->rec_line, e, elen, vars);
    json_decref(vars);
    edm_free(eheap);
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
    if (p->overflow) {
        rc = p->sink.reject(p->sink.ctx, p->rec_line, NULL,
                            "row longer than 1 MiB (an unterminated quote?)");
    } else if (p->nfields == 1 && p->ends[0] == 0) {
        rc = 0; /* blank line */
    } else if (p->bad) {
        rc = p->sink.reject(p->sink.ctx, p->rec_line, NULL, p->bad);
    } else if (!p->have_header) {
        rc = take_header(p);
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
