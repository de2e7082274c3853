/*
 * engine/feedback/report_text.c: the common non-standard bounces, in plain
 * text (see report_int.h fb_text_bounce): qmail's "This is the qmail-send
 * program", Exim's "created automatically by mail delivery software"
 * (failures and delay warnings), Exchange's "Delivery has failed to these
 * recipients or groups" (with "Remote Server returned '550 ...'" or
 * "#550 5.1.1 ... ##"), Gmail's "Delivery to the following recipient
 * failed permanently" and "Your message wasn't delivered to", Yahoo's
 * "Sorry, we were unable to deliver your message to the following
 * address", Sendmail's "The following addresses had permanent fatal
 * errors" (and its delay warnings), and Postfix's text notice ("This is
 * the mail system at host", when it comes without its delivery-status
 * part).
 *
 * Each form is recognised by a phrase; the recipient is the first address
 * after the form's marker phrase, the diagnostic the first line carrying
 * an SMTP reply code (with its continuation lines) before the copy of the
 * message, the status the RFC 3463 code in it (else 5.0.0 or 4.0.0 from
 * the reply class or the wording); with no reply code, the rest of the
 * recipient's line, else the line after it. English wording only.
 */
#include "engine/feedback/report_int.h"

#include <stdio.h>
#include <string.h>

struct form {
    const char *name;
    const char *signs[4];   /* any of them recognises the form */
    const char *markers[4]; /* the recipient follows the first one found */
    const char *delays[3];  /* wording of a delay notice */
};

static const struct form forms[] = {
    {"qmail", {"this is the qmail-send program"}, {"following address", "addresses:"}, {NULL}},
    {"exchange",
     {"delivery has failed to these recipients", "did not reach some or all of the intended",
      "delivery is delayed to these recipients"},
     {"recipients or groups:", "intended recipients"},
     {"delivery is delayed"}},
    {"gmail",
     {"delivery to the following recipient", "message wasn't delivered to"},
     {"following recipient", "wasn't delivered to"},
     {"has been delayed", "delivery incomplete"}},
    {"exim",
     {"created automatically by mail delivery software", "mail delivery failed"},
     {"address(es) failed:", "has not yet been delivered is:", "not yet been delivered are:",
      "recipients."},
     {"has not yet been delivered", "delay reason"}},
    {"yahoo",
     {"unable to deliver your message to the following address"},
     {"following address"},
     {NULL}},
    {"sendmail",
     {"following addresses had permanent fatal errors",
      "following addresses had transient non-fatal errors", "this is a warning message only",
      "could not send message for past"},
     {"permanent fatal errors -----", "transient non-fatal errors -----",
      "transcript of session follows -----"},
     {"transient non-fatal errors", "this is a warning message only",
      "could not send message for past"}},
    {"postfix",
     {"this is the mail system at host"},
     {"the mail system\n"},
     {"this is a warning only", "delayed mail"}},
};

/* Where the copy of the returned message starts (the region ends there). */
static const char *const copy_markers[] = {"--- below this line is a copy of the message",
                                           "------ this is a copy of the message",
                                           "----- original message -----",
                                           "original message headers:",
                                           "----- original message follows",
                                           NULL};

static size_t line_len(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? (size_t)(nl - p) : (size_t)(end - p);
}

/* The diagnostic: the line where the reply code is, from the code on, and
 * the lines after it that start with the same code (multi-line replies). */
static void diagnostic(const char *region, const char *end, fb_rcpt *x)
{
    const char *at;
    int code = fb_code_in(region, (size_t)(end - region), &at);
    if (code == 0)
        return;
    x->code = code;
    char buf[EDM_OUTCOME_TEXT_MAX];
    size_t o = 0;
    const char *p = at;
    for (;;) {
        size_t ll = line_len(p, end);
        while (ll && (p[ll - 1] == '#' || p[ll - 1] == '\'' || p[ll - 1] == ' '))
            ll--; /* Exchange's " ##" and quotes */
        if (o && o + 1 < sizeof buf)
            buf[o++] = ' ';
        for (size_t i = 0; i < ll && o + 1 < sizeof buf; i++)
            buf[o++] = p[i];
        const char *next = p + line_len(p, end) + 1;
        if (next >= end || (size_t)(end - next) < 4 || memcmp(next, at, 3) != 0 ||
            (next[3] != '-' && next[3] != ' '))
            break;
        p = next;
    }
    fb_copy(x->diagnostic, sizeof x->diagnostic, buf, o);
}

int fb_text_bounce(const char *text, size_t n, fb_report *r)
{
    const struct form *f = NULL;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0] && f == NULL; i++)
        for (int k = 0; k < 4 && forms[i].signs[k] && f == NULL; k++)
            if (fb_find(text, n, forms[i].signs[k]))
                f = &forms[i];
    if (f == NULL)
        return 0;
    const char *mark = NULL;
    for (int k = 0; k < 4 && f->markers[k] && mark == NULL; k++)
        if ((mark = fb_find(text, n, f->markers[k])) != NULL)
            mark += strlen(f->markers[k]);
    if (mark == NULL)
        return 0;
    const char *end = text + n;
    for (int k = 0; copy_markers[k]; k++) {
        const char *c = fb_find(mark, (size_t)(end - mark), copy_markers[k]);
        if (c && c < end)
            end = c;
    }
    fb_rcpt *x = &r->rcpts[0];
    memset(x, 0, sizeof *x);
    if (!fb_addr_in(mark, (size_t)(end - mark), x->final_rcpt, sizeof x->final_rcpt))
        return 0;
    r->kind = FB_KIND_DSN;
    r->form = f->name;
    r->nrcpts = 1;
    x->action = FB_ACTION_FAILED;
    for (int k = 0; k < 3 && f->delays[k]; k++)
        if (fb_find(text, n, f->delays[k]))
            x->action = FB_ACTION_DELAYED;
    diagnostic(mark, end, x);
    if (x->diagnostic[0] == '\0') {
        /* No remote reply: the rest of the recipient's line (Sendmail's
         * "<a@b>... Deferred: Connection timed out"), else the line after
         * it (qmail's). */
        const char *a = fb_find(mark, (size_t)(end - mark), x->final_rcpt);
        if (a) {
            const char *rest = a + strlen(x->final_rcpt), *eol = a + line_len(a, end);
            while (rest < eol && strchr(">.: \t", *rest))
                rest++;
            if (eol - rest >= 3) {
                fb_copy(x->diagnostic, sizeof x->diagnostic, rest, (size_t)(eol - rest));
            } else {
                const char *p = eol + 1;
                while (p < end && *p == '\n')
                    p++;
                if (p < end)
                    fb_copy(x->diagnostic, sizeof x->diagnostic, p, line_len(p, end));
            }
        }
    }
    if (!fb_enhanced_in(x->diagnostic, strlen(x->diagnostic), x->status)) {
        int cls = x->code ? x->code / 100 : x->action == FB_ACTION_DELAYED ? 4 : 5;
        snprintf(x->status, sizeof x->status, "%d.0.0", cls);
    }
    return 1;
}
