/*
 * engine/ingest/import.c: the recipient import (see import.h): the parser's
 * rows are checked (address by edm_addr_normalize, variables without NUL
 * characters, which the pipeline could not read back), collected in a
 * batch arena, and written batch by batch through the store's upload.
 * Variables go to the store as they come: JSON text, or the compact parts
 * (engine/store/vars.h) of CSV rows and all-string JSON rows.
 *
 * Entry points: edm_import_new, _feed, _finish, _error, _get_counts,
 * _rejected, _waiting, _free. Returns: see import.h.
 *
 * A batch is written in the sink callback of the row that filled it, that
 * is inside the edm_import_feed call that brought its last byte, so the
 * store transaction opens and commits within one call.
 */
#include "engine/ingest/import.h"
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A checked row waiting for its batch: offsets into the batch arena. */
typedef struct waiting_row {
    size_t email;          /* normalised address, NUL-terminated */
    size_t domain_off;     /* of the domain inside the address */
    size_t vars;           /* JSON object text, NUL-terminated; SIZE_MAX if none */
    size_t names;          /* compact: the names text, NUL-terminated; SIZE_MAX if not */
    size_t vals, vals_len; /* compact: the values part */
} waiting_row;

struct edm_import {
    edm_store *st;
    int64_t campaign_id;
    edm_import_opts o;
    edm_upload_parser *parser;
    edm_import_counts counts;
    waiting_row *batch;
    edm_recipient *sorted;          /* the batch as the store takes it, in write order */
    enum edm_add_outcome *outcomes; /* the store's answer for each row of sorted */
    size_t nbatch;
    edm_buf arena; /* the strings of the batch, back to back */
    edm_import_reject *rejected;
    size_t nrejected;
    int stop_rc;
    char error[640];
};

static int stop(edm_import *im, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int stop(edm_import *im, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(im->error, sizeof im->error, fmt, ap);
    va_end(ap);
    im->stop_rc = rc;
    return rc;
}

/* Stops with why and, when batches were written before, how many are
 * kept (a store failure rolls back the failing batch only). */
static int stop_kept(edm_import *im, int rc, const char *why)
{
    if (im->counts.batches == 0)
        return stop(im, rc, "nothing was written: %s", why);
    return stop(im, rc,
                "%lld batches written before are kept (%lld rows, %lld new recipients); "
                "the rest was not written: %s",
                (long long)im->counts.batches, (long long)im->counts.rows,
                (long long)im->counts.accepted, why);
}

/* Batch order for the store: by domain, then address. Neighbouring rows
 * then land in neighbouring pages of the domain and address indexes, which
 * keeps inserts fast with many domains (row ids still grow in that order,
 * so receipts list a batch grouped by domain). */
static int recipient_cmp(const void *a, const void *b)
{
    const edm_recipient *x = a, *y = b;
    int c = strcmp(x->domain, y->domain);
    return c ? c : strcmp(x->email, y->email);
}

/* Writes the waiting batch: check, sort, one store upload. Returns 0 or
 * the code that stops the import (with the reason in im->error). */
static int flush(edm_import *im)
{
    if (im->nbatch == 0)
        return 0;
    edm_store *st = im->st;
    size_t n = im->nbatch;
    int rc = im->o.check ? im->o.check(im->o.ctx, st, im->campaign_id) : 0;
    im->nbatch = 0;
    if (rc == EDM_ESTATE)
        return stop(im, rc,
                    "the campaign changed state during the upload and takes no more recipients "
                    "(%lld rows were added before)",
                    (long long)im->counts.accepted);
    if (rc != 0)
        return stop_kept(
            im, rc, rc == EDM_EDB || rc == EDM_EBUSY ? edm_store_errmsg(st) : edm_strerror(rc));
    const char *a = im->arena.data;
    for (size_t i = 0; i < n; i++) {
        const waiting_row *r = &im->batch[i];
        im->sorted[i] = (edm_recipient){
            a + r->email,
            a + r->email + r->domain_off,
            r->vars == SIZE_MAX ? NULL : a + r->vars,
            r->names == SIZE_MAX ? NULL : a + r->names,
            r->names == SIZE_MAX ? NULL : (const unsigned char *)a + r->vals,
            r->vals_len,
        };
    }
    qsort(im->sorted, n, sizeof im->sorted[0], recipient_cmp);
    edm_import_counts c = im->counts;
    edm_upload *up = NULL;
    rc = st->ops->upload_begin(st, im->campaign_id, &up);
    if (rc == 0)
        rc = st->ops->upload_add(up, im->sorted, n, im->outcomes);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        switch (im->outcomes[i]) {
        case EDM_ADD_ACCEPTED: c.accepted++; break;
        case EDM_ADD_DUPLICATE: c.duplicates++; break;
        case EDM_ADD_SUPPRESSED: c.suppressed++; break;
        default: EDM_PANIC("bad upload outcome %d", (int)im->outcomes[i]);
        }
    }
    if (up) {
        int erc = st->ops->upload_end(up, rc == 0);
        if (rc == 0)
            rc = erc;
    }
    edm_buf_reset(&im->arena);
    if (rc != 0)
        return stop_kept(
            im, rc, rc == EDM_EDB || rc == EDM_EBUSY ? edm_store_errmsg(st) : edm_strerror(rc));
    c.rows += (int64_t)n;
    c.batches++;
    im->counts = c;
    return 0;
}

/* Keeps a copy of at most max bytes of s, cut on a UTF-8 boundary. */
static char *dup_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return edm_strndup(s, n);
}

static int on_reject(void *ctx, long line, const char *email, const char *error)
{
    edm_import *im = ctx;
    im->counts.rows++;
    im->counts.rejected++;
    if (im->nrejected >= im->o.rejected_max)
        return 0;
    edm_import_reject *r = &im->rejected[im->nrejected];
    r->line = line;
    r->email = email ? dup_cut(email, EDM_IMPORT_REJECTED_EMAIL_MAX) : NULL;
    r->error = edm_strndup(error, strlen(error));
    if ((email && r->email == NULL) || r->error == NULL) {
        edm_free(r->email);
        edm_free(r->error);
        return stop(im, EDM_ENOMEM, "out of memory");
    }
    im->nrejected++;
    return 0;
}

/* 1 if the JSON text v[0..n) holds the escape \u0000 in a string (the
 * store keeps the text and the pipeline reads it back without NULs). */
static int json_has_nul(const char *v, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (v[i] == '\\') {
            if (v[i + 1] == 'u' && i + 5 < n && memcmp(v + i + 2, "0000", 4) == 0)
                return 1;
            i++; /* skip the escaped character */
        }
    return 0;
}

static int on_row(void *ctx, long line, const char *email, size_t len, const edm_upload_vars *uv)
{
    const char *vars = uv ? uv->json : NULL;
    size_t vars_len = uv ? uv->json_len : 0;
    int compact = uv && uv->json == NULL;
    edm_import *im = ctx;
    char addr[EDM_ADDR_MAX];
    size_t doff;
    const char *why;
    if (edm_addr_normalize(email, len, addr, &doff, &why) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "invalid address: %s", why);
        return on_reject(ctx, line, memchr(email, '\0', len) ? NULL : email, msg);
    }
    if (vars && json_has_nul(vars, vars_len))
        return on_reject(ctx, line, email, "variables must not contain NUL characters");
    waiting_row *r = &im->batch[im->nbatch];
    size_t alen = strlen(addr);
    r->email = im->arena.len;
    r->domain_off = doff;
    r->vars = vars ? im->arena.len + alen + 1 : SIZE_MAX;
    r->names = compact ? im->arena.len + alen + 1 : SIZE_MAX;
    r->vals = compact ? r->names + uv->names_len + 1 : 0;
    r->vals_len = compact ? uv->vals_len : 0;
    if (edm_buf_append(&im->arena, addr, alen + 1) != 0 ||
        (vars && (edm_buf_append(&im->arena, vars, vars_len) != 0 ||
                  edm_buf_append_char(&im->arena, '\0') != 0)) ||
        (compact && (edm_buf_append(&im->arena, uv->names, uv->names_len) != 0 ||
                     edm_buf_append_char(&im->arena, '\0') != 0 ||
                     edm_buf_append(&im->arena, uv->vals, uv->vals_len) != 0)))
        return stop(im, EDM_ENOMEM, "out of memory");
    im->nbatch++;
    if (im->nbatch == im->o.batch_rows || im->arena.len >= im->o.batch_bytes)
        return flush(im);
    return 0;
}

int edm_import_new(edm_store *st, int64_t campaign_id, const edm_import_opts *o, edm_import **out)
{
    edm_import *im = edm_calloc(1, sizeof *im);
    if (im == NULL)
        return EDM_ENOMEM;
    im->st = st;
    im->campaign_id = campaign_id;
    im->o = *o;
    if (im->o.batch_rows == 0)
        im->o.batch_rows = EDM_IMPORT_BATCH_ROWS;
    if (im->o.batch_bytes == 0)
        im->o.batch_bytes = EDM_IMPORT_BATCH_BYTES;
    if (im->o.rejected_max == 0)
        im->o.rejected_max = EDM_IMPORT_REJECTED_MAX;
    im->batch = edm_calloc(im->o.batch_rows, sizeof *im->batch);
    im->sorted = edm_calloc(im->o.batch_rows, sizeof *im->sorted);
    im->outcomes = edm_calloc(im->o.batch_rows, sizeof *im->outcomes);
    im->rejected = edm_calloc(im->o.rejected_max, sizeof *im->rejected);
    edm_upload_sink sink = {im, on_row, on_reject};
    if (im->batch == NULL || im->sorted == NULL || im->outcomes == NULL || im->rejected == NULL ||
        edm_upload_parser_new(o->format, &sink, &im->parser) != 0) {
        edm_import_free(im);
        return EDM_ENOMEM;
    }
    *out = im;
    return 0;
}

/* The parser returned rc: keep the first reason for a stop. */
static int parsed(edm_import *im, int rc)
{
    if (rc == 0 || im->stop_rc != 0)
        return rc;
    if (rc == EDM_EINVAL)
        return stop(im, rc, "%s", edm_upload_parser_error(im->parser));
    return stop(im, rc, "%s", edm_strerror(rc));
}

int edm_import_feed(edm_import *im, const char *data, size_t len)
{
    if (im->stop_rc != 0)
        return im->stop_rc;
    return parsed(im, edm_upload_parser_feed(im->parser, data, len));
}

int edm_import_finish(edm_import *im)
{
    if (im->stop_rc != 0)
        return im->stop_rc;
    int rc = parsed(im, edm_upload_parser_finish(im->parser));
    return rc != 0 ? rc : flush(im);
}

const char *edm_import_error(const edm_import *im)
{
    return im->error;
}

const edm_import_counts *edm_import_get_counts(const edm_import *im)
{
    return &im->counts;
}

const edm_import_reject *edm_import_rejected(const edm_import *im, size_t *n)
{
    *n = im->nrejected;
    return im->rejected;
}

size_t edm_import_waiting(const edm_import *im)
{
    return im->nbatch;
}

void edm_import_free(edm_import *im)
{
    if (im == NULL)
        return;
    for (size_t i = 0; i < im->nrejected; i++) {
        edm_free(im->rejected[i].email);
        edm_free(im->rejected[i].error);
    }
    edm_free(im->rejected);
    edm_free(im->batch);
    edm_free(im->sorted);
    edm_free(im->outcomes);
    edm_buf_free(&im->arena);
    edm_upload_parser_free(im->parser);
    edm_free(im);
}
