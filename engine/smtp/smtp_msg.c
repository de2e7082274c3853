/*
 * engine/smtp/smtp_msg.c: the messages of an SMTP session (see
 * smtp_session_int.h): slots taken from the caller, per-recipient and
 * per-message outcomes (facts only: engine/store/outcome.h), the report to
 * the caller, local refusals (SIZE, SMTPUTF8, 8BITMIME), the MAIL/RCPT/DATA
 * group and the dot-stuffed content.
 *
 * Content is written in slices of SMTP_BODY_SLICE bytes (the next slice
 * when the previous one has drained), so a message is never copied whole;
 * a bare LF becomes CRLF and a missing final CRLF is added. Outcomes hold
 * their own copies of reply texts (inline, cut at EDM_OUTCOME_TEXT_MAX).
 */
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/smtp/smtp_session_int.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <string.h>

void smtp_msg_clear(struct slot *sl)
{
    edm_free(sl->rs);
    edm_free(sl->ro);
    memset(sl, 0, sizeof *sl);
}

/* 1 if s (may be NULL) is plain ASCII: RFC 6531 addresses need SMTPUTF8. */
static int ascii(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

void smtp_msg_take(struct slot *sl, const smtp_message *m)
{
    memset(sl, 0, sizeof *sl);
    sl->m = m;
    sl->nrcpts = m->nrcpts;
    sl->utf8 = (m->flags & SMTP_MSG_SMTPUTF8) || !ascii(m->sender);
    for (size_t i = 0; i < m->nrcpts && !sl->utf8; i++)
        sl->utf8 = !ascii(m->rcpts[i]);
    sl->rs = edm_xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof *sl->rs);
    sl->ro = edm_xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof *sl->ro);
    sl->body_bol = 1;
    sl->t0 = edm_time_mono_ms();
}

void smtp_msg_facts(edm_outcome *o, enum edm_failure f, enum edm_smtp_step step, int code,
                    const char *enh, const char *text)
{
    o->failure = f;
    o->step = step;
    o->code = code;
    EDM_OUTCOME_PUT(o->enhanced, enh);
    EDM_OUTCOME_PUT(o->text, text);
}

/* Where and how the message went: the connection's part of an outcome. */
static void where(const smtp_session *s, edm_outcome *o, uint64_t ms)
{
    EDM_OUTCOME_PUT(o->mx_host, s->mx_host);
    EDM_OUTCOME_PUT(o->mx_ip, s->mx_ip);
    EDM_OUTCOME_PUT(o->source_ip, s->source_ip);
    if (s->tls_protocol[0])
        snprintf(o->tls, sizeof o->tls, "%s %s", s->tls_protocol, s->tls_cipher);
    else
        o->tls[0] = '\0';
    o->duration_ms = (int64_t)ms;
}

/* Reports a message (every recipient must have an outcome) and frees the
 * slot. */
void smtp_msg_report(smtp_session *s, struct slot *sl)
{
    const smtp_message *m = sl->m;
    uint64_t ms = edm_time_mono_ms() - sl->t0;
    for (size_t i = 0; i < m->nrcpts; i++) {
        EDM_ASSERT(sl->rs[i].final);
        where(s, &sl->ro[i], ms);
    }
    where(s, &sl->out, ms);
    const edm_outcome *o = &sl->out;
    char q[200];
    if (edm_log_get_level() <= EDM_LOG_INFO)
        edm_log(EDM_LOG_INFO, "smtp",
                "session=%u mx=%s ip=%s src=%s tls=%s rcpts=%zu failure=%s code=%d enhanced=%s "
                "ms=%llu text=%s",
                s->o.id, s->mx_host, s->mx_ip, s->source_ip,
                s->tls_protocol[0] ? s->tls_protocol : "none", m->nrcpts,
                edm_failure_name(o->failure), o->code, o->enhanced[0] ? o->enhanced : "-",
                (unsigned long long)ms, edm_log_quote(q, sizeof q, o->text));
    s->count++;
    /* Empty the slot before the callback (which may abort the session, or
     * look for work), and free its data after it. */
    struct slot gone = *sl;
    memset(sl, 0, sizeof *sl);
    smtp_result r = {.msg = m, .rcpts = gone.ro, .outcome = &gone.out};
    s->cb.done(s, &r, s->arg);
    smtp_msg_clear(&gone);
}

/* Gives every recipient without an outcome the session's failure. */
void smtp_msg_defer(smtp_session *s, struct slot *sl)
{
    for (size_t i = 0; i < sl->m->nrcpts; i++)
        if (!sl->rs[i].final) {
            sl->rs[i].final = 1;
            sl->ro[i] = s->fail;
        }
    sl->out = s->fail;
    smtp_msg_report(s, sl);
}

int smtp_msg_refusal(smtp_session *s, struct slot *sl)
{
    const smtp_message *m = sl->m;
    char text[400];
    if ((s->caps & SMTP_CAP_SIZE) && s->size_max && m->len > s->size_max) {
        snprintf(text, sizeof text, "message size %zu exceeds the limit %lu of %s", m->len,
                 s->size_max, s->mx_host);
        smtp_msg_facts(&sl->out, EDM_FAIL_LOCAL, EDM_STEP_MAIL, 0, "5.3.4", text);
    } else if (sl->utf8 && !(s->caps & SMTP_CAP_SMTPUTF8)) {
        snprintf(text, sizeof text, "%s does not support SMTPUTF8", s->mx_host);
        smtp_msg_facts(&sl->out, EDM_FAIL_LOCAL, EDM_STEP_MAIL, 0, "5.6.7", text);
    } else if ((m->flags & SMTP_MSG_8BITMIME) && !(s->caps & SMTP_CAP_8BITMIME)) {
        /* RFC 6152: 8bit content only to a server that offers 8BITMIME.
         * Nothing of it is sent; the caller composes it again without 8bit
         * (classified a deferral for a caller that cannot). */
        snprintf(text, sizeof text, "%s does not offer 8BITMIME: message not sent as 8bit",
                 s->mx_host);
        smtp_msg_facts(&sl->out, EDM_FAIL_NEEDS_7BIT, EDM_STEP_MAIL, 0, "4.6.3", text);
    } else if (m->nrcpts == 0) {
        smtp_msg_facts(&sl->out, EDM_FAIL_LOCAL, EDM_STEP_MAIL, 0, "5.1.3", "no recipients");
    } else {
        return 0;
    }
    for (size_t i = 0; i < m->nrcpts; i++) {
        sl->rs[i].final = 1;
        sl->ro[i] = sl->out;
    }
    return 1;
}

void smtp_msg_stage_transaction(smtp_session *s, struct slot *sl)
{
    const smtp_message *m = sl->m;
    char size[24];
    snprintf(size, sizeof size, "%zu", m->len);
    int has_size = (s->caps & SMTP_CAP_SIZE) != 0;
    int body8 = (m->flags & SMTP_MSG_8BITMIME) && (s->caps & SMTP_CAP_8BITMIME);
    int utf8 = sl->utf8 && (s->caps & SMTP_CAP_SMTPUTF8);
    smtp_session_put(s, "MAIL FROM:<", m->sender ? m->sender : "", ">", has_size ? " SIZE=" : "",
                     has_size ? size : "", body8 ? " BODY=8BITMIME" : "", utf8 ? " SMTPUTF8" : "",
                     "\r\n", NULL);
    sl->mail_sent = 1;
    s->conn_msgs++;
    if (!(s->caps & SMTP_CAP_PIPELINING))
        return;
    for (; sl->rcpt_sent < m->nrcpts; sl->rcpt_sent++)
        smtp_session_put(s, "RCPT TO:<", m->rcpts[sl->rcpt_sent], ">\r\n", NULL);
    smtp_session_put(s, "DATA\r\n", NULL);
    sl->data_sent = 1;
}

/* Out of memory while staging is fatal (a half-staged message must never
 * go out). */
static void put(edm_buf *b, const void *p, size_t n)
{
    if (edm_buf_append(b, p, n) != 0)
        EDM_PANIC("out of memory");
}

/* Stages up to SMTP_BODY_SLICE bytes of dot-stuffed content (bare LF becomes
 * CRLF); at the end, the final "." line. */
void smtp_msg_stage_body(smtp_session *s, struct slot *sl)
{
    const smtp_message *m = sl->m;
    const char *p = m->data + sl->body_off, *end = m->data + m->len;
    const char *stop = (size_t)(end - p) > SMTP_BODY_SLICE ? p + SMTP_BODY_SLICE : end;
    if (edm_buf_reserve(&s->stage, (size_t)(stop - p) + (size_t)(stop - p) / 8 + 16) != 0)
        EDM_PANIC("out of memory");
    while (p < stop) {
        if (sl->body_bol && *p == '.')
            put(&s->stage, ".", 1);
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            put(&s->stage, p, (size_t)(end - p));
            sl->body_bol = 0;
            p = end;
            break;
        }
        if (nl > p && nl[-1] == '\r') { /* whole lines: p is always a line start */
            put(&s->stage, p, (size_t)(nl + 1 - p));
        } else {
            put(&s->stage, p, (size_t)(nl - p));
            put(&s->stage, "\r\n", 2);
        }
        sl->body_bol = 1;
        p = nl + 1;
    }
    sl->body_off = (size_t)(p - m->data);
    if (p == end) {
        smtp_session_put(s, sl->body_bol ? ".\r\n" : "\r\n.\r\n", NULL);
        sl->body_done = 1;
    }
}

/* No recipient was accepted: the message's outcome is the first one's. */
void smtp_msg_outcome_from_rcpt(struct slot *c)
{
    c->out = c->ro[0];
}
