/*
 * engine/message/mime.c: the message composer (see mime.h).
 *
 * Owns the message structure: header order, MIME tree (single text part,
 * multipart/alternative, multipart/mixed with base64 attachments,
 * multipart/related for inline parts), boundaries and Message-IDs.
 * Header field syntax and safety live in mime_hdr.c, body encodings in
 * mime_enc.c.
 *
 * Entry points: edm_mime_new/free, edm_mime_compose, edm_mime_error,
 * edm_mime_message_id. compose returns 0 or a negative EDM_E* code with
 * edm_mime_error() naming the offending input; the output buffer is left
 * as it was on failure.
 *
 * Boundaries are "=_" followed by random hex: "=_" can never occur in
 * quoted-printable or base64 output, and 64 random bits make a clash with
 * 7bit or 8bit text negligible. Message-IDs are time.counter.random@domain.
 * The tree (docs/messages.md, "Structure"): the body is one text
 * part or multipart/alternative(text, html); attachments with a
 * content_id are inline parts (Content-ID, disposition inline) that go
 * with the body in multipart/related(body, inline...), which needs an
 * HTML body; regular attachments make multipart/mixed(body or related,
 * attachments...). Without regular attachments there is no
 * multipart/mixed.
 * Known limits: ASCII addresses only (no SMTPUTF8); no Cc/Bcc.
 */
#include "engine/message/mime.h"
#include "engine/base/alloc.h"
#include "engine/base/base64.h"
#include "engine/base/err.h"
#include "engine/base/header.h"
#include "engine/message/mime_int.h"
#include "engine/base/timeutil.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct edm_mime {
    edm_buf scratch; /* header sanitising */
    edm_buf tmp;     /* small formatted pieces */
    uint64_t counter;
    uint64_t rng;         /* splitmix64 state, seeded from RAND_bytes */
    char boundary[3][40]; /* mixed, alternative, related */
    char msgid[320];
    char error[200];
    int eight_bit; /* the last message has an 8bit part */
};

edm_mime *edm_mime_new(void)
{
    edm_mime *m = edm_calloc(1, sizeof *m);
    if (m != NULL && RAND_bytes((unsigned char *)&m->rng, sizeof m->rng) != 1)
        EDM_PANIC("RAND_bytes failed");
    return m;
}

void edm_mime_free(edm_mime *m)
{
    if (m == NULL)
        return;
    edm_buf_free(&m->scratch);
    edm_buf_free(&m->tmp);
    edm_free(m);
}

const char *edm_mime_error(const edm_mime *m)
{
    return m->error;
}

const char *edm_mime_message_id(const edm_mime *m)
{
    return m->msgid;
}

int edm_mime_is_8bit(const edm_mime *m)
{
    return m->eight_bit;
}

int edm_mime_addr_ok(const char *addr)
{
    return mime_addr_valid(addr);
}

int edm_mime_header_name_ok(const char *name)
{
    return edm_header_name_check(name) == EDM_HEADER_NAME_OK;
}

static int fail(edm_mime *m, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(edm_mime *m, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof m->error, fmt, ap);
    va_end(ap);
    return rc;
}

static void hex(char *dst, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[p[i] >> 4];
        dst[2 * i + 1] = digits[p[i] & 15];
    }
    dst[2 * n] = '\0';
}

/* splitmix64: a bijection of a counter, so a composer never repeats a
 * value; the seed makes composers (threads, processes) differ. Unique
 * and unpredictable enough for boundaries and Message-IDs, not a secret. */
static uint64_t next_random(edm_mime *m)
{
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Message-ID and boundaries for one message. */
static int new_ids(edm_mime *m, const edm_mime_msg *msg)
{
    unsigned char rnd[16];
    uint64_t r0 = next_random(m), r1 = next_random(m);
    memcpy(rnd, &r0, 8);
    memcpy(rnd + 8, &r1, 8);
    char h[33];
    hex(h, rnd, 8);
    snprintf(m->boundary[0], sizeof m->boundary[0], "=_m%s%llx", h, (unsigned long long)m->counter);
    snprintf(m->boundary[1], sizeof m->boundary[1], "=_a%s%llx", h, (unsigned long long)m->counter);
    snprintf(m->boundary[2], sizeof m->boundary[2], "=_r%s%llx", h, (unsigned long long)m->counter);
    m->counter++;
    if (msg->message_id) {
        if (strlen(msg->message_id) >= sizeof m->msgid || !mime_addr_valid(msg->message_id))
            return fail(m, EDM_EINVAL, "message_id: not local@domain");
        strcpy(m->msgid, msg->message_id);
        return 0;
    }
    const char *domain = msg->msgid_domain ? msg->msgid_domain : strrchr(msg->from_addr, '@') + 1;
    if (!mime_domain_valid(domain, strlen(domain)))
        return fail(m, EDM_EINVAL, "msgid_domain: not a domain name");
    hex(h, rnd + 8, 8);
    snprintf(m->msgid, sizeof m->msgid, "%llx.%llx.%s@%s", (unsigned long long)edm_time_now_ms(),
             (unsigned long long)m->counter, h, domain);
    return 0;
}

/* A field value within EDM_MIME_MAX_FIELD bytes (NULL is empty). */
static int field_fits(edm_mime *m, const char *what, const char *v)
{
    size_t n = v ? strnlen(v, EDM_MIME_MAX_FIELD + 1) : 0;
    if (n <= EDM_MIME_MAX_FIELD)
        return 0;
    return fail(m, EDM_EINVAL, "%s: %zu bytes, over the limit of %d for a header field", what,
                strlen(v), EDM_MIME_MAX_FIELD);
}

/* Checks every address, URL, header name and field length before writing
 * anything. */
static int validate(edm_mime *m, const edm_mime_msg *msg)
{
    int rc;
    if ((rc = field_fits(m, "subject", msg->subject)) != 0 ||
        (rc = field_fits(m, "from name", msg->from_name)) != 0 ||
        (rc = field_fits(m, "to name", msg->to_name)) != 0 ||
        (rc = field_fits(m, "reply_to name", msg->reply_to_name)) != 0 ||
        (rc = field_fits(m, "feedback_id", msg->feedback_id)) != 0)
        return rc;
    for (size_t i = 0; i < msg->n_headers; i++) {
        char what[32];
        snprintf(what, sizeof what, "headers[%zu]", i);
        if ((rc = field_fits(m, what, msg->headers[i].value)) != 0)
            return rc;
    }
    if (!mime_addr_valid(msg->from_addr))
        return fail(m, EDM_EINVAL, "from: not a valid address");
    if (!mime_addr_valid(msg->to_addr))
        return fail(m, EDM_EINVAL, "to: not a valid address");
    if (msg->reply_to && !mime_addr_valid(msg->reply_to))
        return fail(m, EDM_EINVAL, "reply_to: not a valid address");
    if (msg->unsub_mailto && !mime_addr_valid(msg->unsub_mailto))
        return fail(m, EDM_EINVAL, "unsubscribe mailto: not a valid address");
    if (msg->unsub_url &&
        (!mime_url_valid(msg->unsub_url) || (strncasecmp(msg->unsub_url, "https://", 8) != 0 &&
                                             strncasecmp(msg->unsub_url, "http://", 7) != 0)))
        return fail(m, EDM_EINVAL, "unsubscribe url: not an http(s) URL without spaces");
    for (size_t i = 0; i < msg->n_headers; i++)
        if (!edm_mime_header_name_ok(msg->headers[i].name))
            return fail(m, EDM_EINVAL, "headers[%zu]: name not allowed", i);
    for (size_t i = 0; i < msg->n_attachments; i++) {
        const char *cid = msg->attachments[i].content_id;
        if (cid == NULL || *cid == '\0')
            continue;
        if (!edm_mime_content_id_ok(cid))
            return fail(m, EDM_EINVAL, "attachments[%zu].content_id: not a Content-ID", i);
        if (msg->html == NULL)
            return fail(m, EDM_EINVAL,
                        "attachments[%zu].content_id: inline parts need an html body", i);
        for (size_t j = 0; j < i; j++)
            if (msg->attachments[j].content_id && strcmp(msg->attachments[j].content_id, cid) == 0)
                return fail(m, EDM_EINVAL, "attachments[%zu].content_id: used twice", i);
    }
    return 0;
}

static int list_unsubscribe(edm_mime *m, const edm_mime_msg *msg, edm_buf *out)
{
    if (!msg->unsub_mailto && !msg->unsub_url)
        return 0;
    mime_fold f;
    mime_fold_begin(&f, out, "List-Unsubscribe");
    if (msg->unsub_mailto) {
        edm_buf_reset(&m->tmp);
        int rc =
            edm_buf_appendf(&m->tmp, "<mailto:%s>%s", msg->unsub_mailto, msg->unsub_url ? "," : "");
        if (rc != 0)
            return rc;
        mime_fold_atom(&f, m->tmp.data, m->tmp.len);
    }
    if (msg->unsub_url) {
        edm_buf_reset(&m->tmp);
        int rc = edm_buf_appendf(&m->tmp, "<%s>", msg->unsub_url);
        if (rc != 0)
            return rc;
        mime_fold_atom(&f, m->tmp.data, m->tmp.len);
    }
    int rc = mime_fold_end(&f);
    if (rc == 0 && msg->unsub_url && strncasecmp(msg->unsub_url, "https://", 8) == 0)
        rc = edm_buf_append_str(out, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
    return rc;
}

static int top_headers(edm_mime *m, const edm_mime_msg *msg, edm_buf *out)
{
    int rc;
    char date[40];
    if ((rc = mime_hdr_address(out, &m->scratch, "From", msg->from_name, msg->from_addr)) != 0 ||
        (rc = mime_hdr_address(out, &m->scratch, "To", msg->to_name, msg->to_addr)) != 0)
        return rc;
    if (msg->reply_to && (rc = mime_hdr_address(out, &m->scratch, "Reply-To", msg->reply_to_name,
                                                msg->reply_to)) != 0)
        return rc;
    const char *subject = msg->subject ? msg->subject : "";
    if ((rc = mime_hdr_unstructured(out, &m->scratch, "Subject", subject, strlen(subject))) != 0 ||
        (rc = edm_buf_appendf(out, "Date: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n",
                              edm_time_rfc5322(msg->date, date, sizeof date), m->msgid)) != 0 ||
        (rc = list_unsubscribe(m, msg, out)) != 0)
        return rc;
    if (msg->feedback_id &&
        (rc = mime_hdr_unstructured(out, &m->scratch, "Feedback-ID", msg->feedback_id,
                                    strlen(msg->feedback_id))) != 0)
        return rc;
    for (size_t i = 0; i < msg->n_headers; i++) {
        const char *v = msg->headers[i].value ? msg->headers[i].value : "";
        if ((rc = mime_hdr_unstructured(out, &m->scratch, msg->headers[i].name, v, strlen(v))) != 0)
            return rc;
    }
    return 0;
}

/* One text entity: its Content-Type and CTE header fields, a blank line
 * and the encoded body (no CRLF added after it). */
static int text_entity(edm_mime *m, edm_buf *out, const char *subtype, const char *s, size_t n,
                       int allow_8bit)
{
    enum mime_cte cte = mime_enc_choose(s, n, allow_8bit);
    if (cte == MIME_CTE_8BIT)
        m->eight_bit = 1;
    int rc = edm_buf_appendf(out,
                             "Content-Type: text/%s; charset=utf-8\r\n"
                             "Content-Transfer-Encoding: %s\r\n\r\n",
                             subtype, mime_cte_name(cte));
    return rc ? rc : mime_enc_text(out, cte, s, n);
}

static int multipart_open(edm_buf *out, const char *subtype, const char *boundary)
{
    return edm_buf_appendf(out, "Content-Type: multipart/%s;\r\n boundary=\"%s\"\r\n\r\n--%s\r\n",
                           subtype, boundary, boundary);
}

/* The message text: one text part or multipart/alternative. */
static int body_entity(edm_mime *m, const edm_mime_msg *msg, edm_buf *out)
{
    const char *text = msg->text, *html = msg->html;
    if (text == NULL && html == NULL)
        return text_entity(m, out, "plain", "", 0, msg->allow_8bit);
    if (text == NULL || html == NULL)
        return text ? text_entity(m, out, "plain", text, msg->text_len, msg->allow_8bit)
                    : text_entity(m, out, "html", html, msg->html_len, msg->allow_8bit);
    const char *b = m->boundary[1];
    int rc;
    if ((rc = multipart_open(out, "alternative", b)) != 0 ||
        (rc = text_entity(m, out, "plain", text, msg->text_len, msg->allow_8bit)) != 0 ||
        (rc = edm_buf_appendf(out, "\r\n--%s\r\n", b)) != 0 ||
        (rc = text_entity(m, out, "html", html, msg->html_len, msg->allow_8bit)) != 0)
        return rc;
    return edm_buf_appendf(out, "\r\n--%s--", b);
}

/* RFC 2045 token characters. */
static int is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?=", c))
            return 0;
    }
    return 1;
}

/* "type/subtype" with token parts, not a multipart or message type (an
 * attachment is a leaf: declaring it multipart would let its bytes shape
 * the structure). */
int edm_mime_attachment_type_ok(const char *t)
{
    const char *slash = t ? strchr(t, '/') : NULL;
    if (slash == NULL || strlen(t) > 100 || !is_token(t, (size_t)(slash - t)) ||
        !is_token(slash + 1, strlen(slash + 1)))
        return 0;
    return strncasecmp(t, "multipart/", 10) != 0 && strncasecmp(t, "message/", 8) != 0;
}

/* 1 if a has a content_id: an inline part. */
static int is_inline(const edm_mime_attachment *a)
{
    return a->content_id != NULL && a->content_id[0] != '\0';
}

/* 1-250 visible ASCII bytes without '<' or '>', at most one '@' and not
 * at either end: a plain token or RFC 5322's id-left@id-right, written
 * as Content-ID: <id> (RFC 2045 section 7, RFC 2392). */
int edm_mime_content_id_ok(const char *id)
{
    size_t n = id ? strnlen(id, EDM_MIME_MAX_CONTENT_ID + 1) : 0;
    if (n == 0 || n > EDM_MIME_MAX_CONTENT_ID)
        return 0;
    size_t ats = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= 32 || c >= 127 || c == '<' || c == '>')
            return 0;
        ats += c == '@';
    }
    return ats == 0 || (ats == 1 && id[0] != '@' && id[n - 1] != '@');
}

/* One attachment: a regular one (disposition attachment) or an inline
 * part (disposition inline, Content-ID). */
static int attachment_entity(edm_mime *m, const edm_mime_attachment *a, edm_buf *out)
{
    const char *type =
        edm_mime_attachment_type_ok(a->content_type) ? a->content_type : "application/octet-stream";
    const char *name = a->filename && *a->filename ? a->filename : "attachment";
    mime_fold f;
    mime_fold_begin(&f, out, "Content-Type");
    mime_fold_atom(&f, type, strlen(type));
    int rc = mime_hdr_param(&f, &m->scratch, "name", name, strlen(name));
    if (rc != 0 || (rc = mime_fold_end(&f)) != 0)
        return rc;
    const char *disposition = is_inline(a) ? "inline" : "attachment";
    mime_fold_begin(&f, out, "Content-Disposition");
    mime_fold_atom(&f, disposition, strlen(disposition));
    rc = mime_hdr_param(&f, &m->scratch, "filename", name, strlen(name));
    if (rc != 0 || (rc = mime_fold_end(&f)) != 0)
        return rc;
    if (is_inline(a) && (rc = edm_buf_appendf(out, "Content-ID: <%s>\r\n", a->content_id)) != 0)
        return rc;
    if ((rc = edm_buf_append_str(out, "Content-Transfer-Encoding: base64\r\n\r\n")) != 0 ||
        (rc = edm_base64_encode(out, a->data, a->len, 76)) != 0)
        return rc;
    if (a->len > 0)
        out->len -= 2; /* the boundary brings its own CRLF */
    return 0;
}

/* The body with its inline parts: multipart/related(body, inline...)
 * (RFC 2387; its type parameter is the body's type), or the body alone
 * when there are none. *multipart is set when the entity written is a
 * multipart (it ends with a close delimiter). */
static int related_entity(edm_mime *m, const edm_mime_msg *msg, size_t n_inline, edm_buf *out,
                          int *multipart)
{
    *multipart = msg->text && msg->html;
    if (n_inline == 0)
        return body_entity(m, msg, out);
    const char *b = m->boundary[2];
    int rc = edm_buf_appendf(out,
                             "Content-Type: multipart/related; type=\"%s\";\r\n "
                             "boundary=\"%s\"\r\n\r\n--%s\r\n",
                             *multipart ? "multipart/alternative" : "text/html", b, b);
    if (rc != 0 || (rc = body_entity(m, msg, out)) != 0)
        return rc;
    for (size_t i = 0; i < msg->n_attachments; i++) {
        if (!is_inline(&msg->attachments[i]))
            continue;
        if ((rc = edm_buf_appendf(out, "\r\n--%s\r\n", b)) != 0 ||
            (rc = attachment_entity(m, &msg->attachments[i], out)) != 0)
            return rc;
    }
    *multipart = 1;
    return edm_buf_appendf(out, "\r\n--%s--", b);
}

static int compose(edm_mime *m, const edm_mime_msg *msg, edm_buf *out)
{
    int rc;
    if ((rc = validate(m, msg)) != 0 || (rc = new_ids(m, msg)) != 0)
        return rc;
    if ((rc = top_headers(m, msg, out)) != 0)
        return rc;
    size_t n_inline = 0;
    for (size_t i = 0; i < msg->n_attachments; i++)
        n_inline += (size_t)is_inline(&msg->attachments[i]);
    int multipart;
    if (n_inline == msg->n_attachments) {
        if ((rc = related_entity(m, msg, n_inline, out, &multipart)) != 0)
            return rc;
        return multipart ? edm_buf_append(out, "\r\n", 2) : 0;
    }
    const char *b = m->boundary[0];
    if ((rc = multipart_open(out, "mixed", b)) != 0 ||
        (rc = related_entity(m, msg, n_inline, out, &multipart)) != 0)
        return rc;
    for (size_t i = 0; i < msg->n_attachments; i++) {
        if (is_inline(&msg->attachments[i]))
            continue;
        if ((rc = edm_buf_appendf(out, "\r\n--%s\r\n", b)) != 0 ||
            (rc = attachment_entity(m, &msg->attachments[i], out)) != 0)
            return rc;
    }
    return edm_buf_appendf(out, "\r\n--%s--\r\n", b);
}

int edm_mime_compose(edm_mime *m, const edm_mime_msg *msg, edm_buf *out)
{
    size_t start = out->len;
    m->error[0] = '\0';
    m->eight_bit = 0;
    int rc = compose(m, msg, out);
    if (rc != 0) {
        if (m->error[0] == '\0')
            fail(m, rc, "composing: %s", edm_strerror(rc));
        out->len = start;
        m->eight_bit = 0;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}
