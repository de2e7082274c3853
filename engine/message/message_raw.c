/*
 * engine/message/message_raw.c: messages that arrive whole (SMTP
 * submission, docs/smtp.md "Submission"): made ready once when they are
 * accepted (edm_message_raw_prepare: Date and Message-ID, on the
 * message_id_domain or the From domain, added when missing, Bcc and
 * Return-Path removed; the From value and the Subject, decoded by
 * rfc2047.c, handed back to be recorded) and built per recipient by the
 * pipeline (edm_message_build_raw: VERP envelope sender, DKIM signatures
 * of the From domain's keys in front, the bytes otherwise as received; for
 * a server without 8BITMIME, a message with 8-bit body bytes converted to
 * 7bit first by mime_downgrade.c, and signed as converted).
 *
 * The header section is read as RFC 5322 fields (name, colon, value with
 * folded continuation lines); a message without one (no blank line, or a
 * first line that is not a field) is refused.
 */
#include "engine/message/message.h"
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/message/mime_downgrade.h"
#include "engine/message/rfc2047.h"
#include "engine/message/verp.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

/* Length of the header section of raw (up to and including the CRLF of
 * its last field, without the blank line), or -1 if there is none. */
static long header_len(const char *raw, size_t len)
{
    if (len >= 2 && raw[0] == '\r' && raw[1] == '\n')
        return 0;
    for (size_t i = 0; i + 3 < len; i++)
        if (raw[i] == '\r' && raw[i + 1] == '\n' && raw[i + 2] == '\r' && raw[i + 3] == '\n')
            return (long)(i + 2);
    return -1;
}

/* Calls fn for each field of the header section hdr[0..hlen): start and
 * length of the whole field (with its CRLFs) and of its name. Returns -1 if
 * a line is neither a field nor a continuation. */
typedef int (*field_fn)(void *ctx, const char *f, size_t flen, const char *name, size_t nlen);

static int each_field(const char *hdr, size_t hlen, field_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < hlen) {
        size_t start = i;
        const char *colon = memchr(hdr + i, ':', hlen - i);
        const char *eol = memchr(hdr + i, '\n', hlen - i);
        if (colon == NULL || eol == NULL || colon > eol || colon == hdr + i)
            return -1;
        size_t nlen = (size_t)(colon - (hdr + i));
        for (size_t k = 0; k < nlen; k++)
            if (hdr[i + k] <= ' ' || hdr[i + k] > '~')
                return -1;
        i = (size_t)(eol - hdr) + 1;
        while (i < hlen && (hdr[i] == ' ' || hdr[i] == '\t')) {
            eol = memchr(hdr + i, '\n', hlen - i);
            if (eol == NULL)
                return -1;
            i = (size_t)(eol - hdr) + 1;
        }
        if (fn(ctx, hdr + start, i - start, hdr + start, nlen) != 0)
            return -1;
    }
    return 0;
}

static int name_is(const char *name, size_t nlen, const char *want)
{
    return strlen(want) == nlen && strncasecmp(name, want, nlen) == 0;
}

typedef struct prep {
    edm_buf *out;
    int has_date, has_msgid, has_from;
    char *from;    /* the From field's value, unfolded */
    char *subject; /* the first Subject field's text (rfc2047.c), or NULL */
} prep;

/* The value of field f[0..flen) after its colon, unfolded, trimmed. */
static char *field_value(const char *f, size_t flen, size_t nlen)
{
    char *v = edm_xmalloc(flen + 1);
    size_t o = 0;
    for (size_t i = nlen + 1; i < flen; i++)
        if (f[i] != '\r' && f[i] != '\n')
            v[o++] = f[i];
    while (o && (v[o - 1] == ' ' || v[o - 1] == '\t'))
        o--;
    v[o] = '\0';
    size_t lead = strspn(v, " \t");
    memmove(v, v + lead, o - lead + 1);
    return v;
}

static int prep_field(void *ctx, const char *f, size_t flen, const char *name, size_t nlen)
{
    prep *p = ctx;
    if (name_is(name, nlen, "Bcc") || name_is(name, nlen, "Return-Path"))
        return 0;
    p->has_date |= name_is(name, nlen, "Date");
    p->has_msgid |= name_is(name, nlen, "Message-ID");
    if (name_is(name, nlen, "From")) {
        if (p->has_from)
            return -1; /* two From fields */
        p->has_from = 1;
        p->from = field_value(f, flen, nlen);
    }
    if (name_is(name, nlen, "Subject") && p->subject == NULL)
        p->subject = edm_rfc2047_decode(f + nlen + 1, flen - nlen - 1);
    return edm_buf_append(p->out, f, flen);
}

int edm_message_raw_prepare(const char *raw, size_t len, const char *msgid_domain, int64_t now,
                            edm_buf *out, char **from, char **subject, char *err, size_t errlen)
{
    *from = NULL;
    *subject = NULL;
    long hl = header_len(raw, len);
    if (hl < 0) {
        snprintf(err, errlen, "the message has no header section");
        return EDM_EINVAL;
    }
    size_t start = out->len;
    prep p = {.out = out};
    if (each_field(raw, (size_t)hl, prep_field, &p) != 0) {
        out->len = start;
        edm_free(p.from);
        edm_free(p.subject);
        snprintf(err, errlen, "malformed header section (or two From fields)");
        return EDM_EINVAL;
    }
    if (!p.has_from) {
        out->len = start;
        edm_free(p.subject);
        snprintf(err, errlen, "the message has no From field");
        return EDM_EINVAL;
    }
    if (!p.has_date) {
        char d[64];
        time_t t = (time_t)now;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(d, sizeof d, "%a, %d %b %Y %H:%M:%S +0000", &tm);
        edm_buf_appendf(out, "Date: %s\r\n", d);
    }
    if (!p.has_msgid) {
        /* On msgid_domain, else the From domain, as the composer does
         * (docs/messages.md); a From that does not parse is refused by the
         * caller, the message never sent. */
        edm_mailbox mb;
        const char *why;
        if ((msgid_domain == NULL || *msgid_domain == '\0') &&
            edm_addr_mailbox(p.from, strlen(p.from), &mb, &why) == 0)
            msgid_domain = mb.addr + mb.domain_off;
        unsigned char r[12];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            memset(r, 0, sizeof r);
        edm_buf_appendf(out, "Message-ID: <%lld.", (long long)now);
        for (size_t i = 0; i < sizeof r; i++)
            edm_buf_appendf(out, "%02x", r[i]);
        edm_buf_appendf(out, "@%s>\r\n", msgid_domain && *msgid_domain ? msgid_domain : "edm");
    }
    if (edm_buf_append(out, raw + hl, len - (size_t)hl) != 0) {
        out->len = start;
        edm_free(p.from);
        edm_free(p.subject);
        return EDM_ENOMEM;
    }
    *from = p.from;
    *subject = p.subject;
    return 0;
}

typedef struct msgid_find {
    char *msgid;
} msgid_find;

static int find_msgid(void *ctx, const char *f, size_t flen, const char *name, size_t nlen)
{
    msgid_find *m = ctx;
    if (!name_is(name, nlen, "Message-ID") || m->msgid[0])
        return 0;
    const char *lt = memchr(f, '<', flen), *gt = lt ? memchr(lt, '>', flen - (size_t)(lt - f)) : 0;
    if (lt && gt && gt - lt - 1 < 255) {
        memcpy(m->msgid, lt + 1, (size_t)(gt - lt - 1));
        m->msgid[gt - lt - 1] = '\0';
    }
    return 0;
}

int edm_message_build_raw(edm_message_worker *w, const edm_message_ctx *c, int64_t delivery_id,
                          const char *raw, size_t len, int64_t now, int allow_8bit, edm_buf *out,
                          char **sender, char *msgid, int *is_8bit, char *err, size_t errlen)
{
    *sender = NULL;
    msgid[0] = '\0';
    long hl = header_len(raw, len);
    msgid_find mf = {.msgid = msgid};
    if (hl < 0 || each_field(raw, (size_t)hl, find_msgid, &mf) != 0) {
        snprintf(err, errlen, "malformed header section");
        return EDM_EINVAL;
    }
    int eight = 0;
    for (size_t i = 0; i < len && !eight; i++)
        eight = (unsigned char)raw[i] >= 0x80;
    /* For a server without 8BITMIME the 8-bit parts go quoted-printable or
     * base64 (docs/messages.md), and the signatures below are made over
     * the converted bytes, the ones sent. */
    edm_buf down = EDM_BUF_INIT;
    if (eight && !allow_8bit) {
        char why[160];
        int rc = edm_mime_downgrade(&down, raw, len, why, sizeof why);
        if (rc != 0) {
            edm_buf_free(&down);
            snprintf(err, errlen, "an 8bit message and a server without 8BITMIME: %s", why);
            return rc;
        }
        raw = down.data;
        len = down.len;
        eight = 0;
    }
    const char *from_domain = edm_message_addr_domain(c->from_addr);
    const char *bounce_domain = c->bounce_domain ? c->bounce_domain : from_domain;
    edm_buf_reset(&w->scratch);
    int rc = edm_verp_address(&w->scratch, EDM_VERP_BOUNCE, "bounces", bounce_domain, c->secret,
                              c->secret_len, (uint64_t)delivery_id);
    if (rc != 0) {
        edm_buf_free(&down);
        snprintf(err, errlen, "envelope sender: %s", edm_strerror(rc));
        return rc;
    }
    size_t start = out->len;
    if (c->nkeys && (rc = edm_dkim_sign(w->signer, c->keys, c->nkeys, raw, len, now, out)) != 0) {
        edm_buf_free(&down);
        snprintf(err, errlen, "dkim: %s", edm_strerror(rc));
        return rc;
    }
    rc = edm_buf_append(out, raw, len);
    edm_buf_free(&down);
    if (rc != 0) {
        out->len = start;
        return rc;
    }
    if (is_8bit)
        *is_8bit = eight;
    *sender = edm_strndup(w->scratch.data, w->scratch.len);
    if (*sender == NULL) {
        out->len = start;
        return EDM_ENOMEM;
    }
    return 0;
}
