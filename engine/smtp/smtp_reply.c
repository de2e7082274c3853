/*
 * engine/smtp/smtp_reply.c: SMTP reply parser (see smtp_reply.h).
 *
 * Entry point smtp_reply_parse() is stateless: it rescans the front of the
 * receive buffer each time it is called, which is cheap because a reply is
 * bounded (SMTP_REPLY_LINE_MAX x SMTP_REPLY_LINES_MAX). It rejects a bad
 * line as soon as its first four bytes are in, so garbage does not wait
 * for a timeout. Limits: replies with a 1yz code are not SMTP and are
 * rejected; text bytes are kept as sent (callers quote them for logs).
 */
#include "engine/smtp/smtp_reply.h"
#include "engine/base/err.h"

#include <string.h>

void smtp_reply_init(smtp_reply *r)
{
    memset(r, 0, sizeof *r);
    edm_buf_init(&r->text);
}

void smtp_reply_free(smtp_reply *r)
{
    edm_buf_free(&r->text);
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Checks the first min(n, 4) bytes of a line: "ddd", then ' ', '-' or end. */
static int line_head_ok(const char *p, size_t n)
{
    if (n > 0 && !(p[0] >= '2' && p[0] <= '5'))
        return 0;
    if (n > 1 && !(p[1] >= '0' && p[1] <= '5'))
        return 0;
    if (n > 2 && !is_digit(p[2]))
        return 0;
    if (n > 3 && p[3] != ' ' && p[3] != '-')
        return 0;
    return 1;
}

size_t smtp_reply_enhanced(const char *s, size_t len, char *out)
{
    size_t i = 0;
    if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return 0;
    i = 2;
    for (int part = 0; part < 2; part++) {
        size_t start = i;
        while (i < len && is_digit(s[i]) && i - start < 3)
            i++;
        if (i == start || (i < len && is_digit(s[i])))
            return 0;
        if (part == 0) {
            if (i >= len || s[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < len && s[i] != ' ')
        return 0;
    memcpy(out, s, i);
    out[i] = '\0';
    return i;
}

long smtp_reply_parse(smtp_reply *r, const char *data, size_t len)
{
    size_t pos = 0;
    int nlines = 0, code = 0;
    edm_buf_reset(&r->text);
    r->enhanced[0] = '\0';
    for (;;) {
        const char *line = data + pos;
        size_t avail = len - pos;
        size_t scan = avail < SMTP_REPLY_LINE_MAX ? avail : SMTP_REPLY_LINE_MAX;
        const char *nl = memchr(line, '\n', scan);
        if (nl == NULL) {
            if (!line_head_ok(line, avail < 4 ? avail : 4) || memchr(line, '\0', scan))
                return EDM_EPROTO;
            return avail >= SMTP_REPLY_LINE_MAX ? EDM_ETOOBIG : 0;
        }
        size_t n = (size_t)(nl - line); /* without LF */
        size_t used = n + 1;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n < 3 || !line_head_ok(line, n < 4 ? n : 4) || memchr(line, '\0', n) ||
            memchr(line, '\r', n))
            return EDM_EPROTO;
        int c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (nlines > 0 && c != code)
            return EDM_EPROTO;
        code = c;
        if (++nlines > SMTP_REPLY_LINES_MAX)
            return EDM_ETOOBIG;
        const char *t = line + (n > 3 ? 4 : 3);
        size_t tn = n > 3 ? n - 4 : 0;
        char enh[16];
        size_t el = smtp_reply_enhanced(t, tn, enh);
        if (el > 0 && enh[0] == line[0]) {
            if (nlines == 1)
                memcpy(r->enhanced, enh, el + 1);
            t += el;
            tn -= el;
            while (tn > 0 && *t == ' ')
                t++, tn--;
        }
        if ((nlines > 1 && edm_buf_append_char(&r->text, '\n') != 0) ||
            edm_buf_append(&r->text, t, tn) != 0)
            return EDM_ENOMEM;
        pos += used;
        if (n == 3 || line[3] == ' ') {
            r->code = code;
            r->nlines = nlines;
            return (long)pos;
        }
    }
}

static int id_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '.' || c == '_';
}

static char *copy_id(const char *p, char *out, size_t n)
{
    size_t i = 0;
    while (id_char(p[i]) && i + 1 < n && i < 64) {
        out[i] = p[i];
        i++;
    }
    /* A trailing dot is sentence punctuation, not part of the id. */
    while (i > 0 && out[i - 1] == '.')
        i--;
    out[i] = '\0';
    return out;
}

/* The token that ends just before `at` (text..at), copied as an id. */
static char *token_before(const char *text, const char *at, char *out, size_t n)
{
    const char *q = at;
    while (q > text && q[-1] == ' ')
        q--;
    const char *end = q;
    while (q > text && q[-1] != ' ' && q[-1] != '\n')
        q--;
    char tmp[80];
    size_t len = (size_t)(end - q);
    if (len == 0 || len >= sizeof tmp)
        return out;
    memcpy(tmp, q, len);
    tmp[len] = '\0';
    if (strlen(copy_id(tmp, out, n)) != len ||
        (len == 2 && (tmp[0] | 0x20) == 'o' && (tmp[1] | 0x20) == 'k'))
        out[0] = '\0'; /* not an id (brackets, punctuation, "OK"): none */
    return out;
}

/* "<...>" at the start of text (Exchange names the message so when it
 * gives no InternalId): its content, at most 64 bytes. */
static char *bracketed(const char *text, char *out, size_t n)
{
    const char *end = text[0] == '<' ? strchr(text, '>') : NULL;
    size_t len = end ? (size_t)(end - text - 1) : 0;
    if (len == 0 || len > 64 || len >= n || memchr(text + 1, ' ', len))
        return out;
    memcpy(out, text + 1, len);
    out[len] = '\0';
    return out;
}

/* Where each MTA puts it (the reply to the end of DATA, enhanced code
 * already stripped):
 *   Postfix      "Ok: queued as 4Xk2Lm0zZ7z9sWq"                (smtpd.c)
 *   Exim         "OK id=1t2Xyz-000Abc-7Q"                        (smtp_in.c)
 *   OpenSMTPD    "6f86798f Message accepted for delivery"         (smtp_session.c)
 *   Sendmail     "3A1B2C3D004567 Message accepted for delivery"  (srvrsmtp.c)
 *   Exchange     "<id@host> [InternalId=123, Hostname=h] Queued mail for delivery",
 *                without InternalId the <message id> it gives
 *   Gmail        "OK  1700000000 a1b2c3si123.45 - gsmtp"
 *   qmail        "ok 1700000000 qp 12345"                        (qmail-smtpd.c) */
char *smtp_reply_queue_id(const char *text, char *out, size_t n)
{
    out[0] = '\0';
    if (n == 0)
        return out;
    const char *p;
    if ((p = strstr(text, "queued as ")) != NULL)
        return copy_id(p + 10, out, n);
    if ((p = strstr(text, "InternalId=")) != NULL)
        return copy_id(p + 11, out, n);
    if ((p = strstr(text, "id=")) != NULL)
        return copy_id(p + 3, out, n);
    if ((p = strstr(text, " - gsmtp")) != NULL)
        return token_before(text, p, out, n);
    if ((p = strstr(text, "Message accepted for delivery")) != NULL ||
        (p = strstr(text, "message accepted for delivery")) != NULL)
        return token_before(text, p, out, n);
    if (strstr(text, "Queued mail for delivery") != NULL)
        return bracketed(text, out, n);
    if ((p = strstr(text, " qp ")) != NULL)
        return copy_id(p + 4, out, n);
    return out;
}
