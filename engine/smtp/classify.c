/*
 * engine/smtp/classify.c: remote outcome -> status + bounce category (see
 * classify.h). Entry points classify_reply() and classify_failure(); both
 * are pure functions of their arguments.
 *
 * Order of evidence (like Postfix smtp_trouble.c and the usual ESP
 * taxonomies): the reply class decides the status (2 delivered, 4 deferred,
 * 5 bounced); the category comes from the wording first where it is
 * unambiguous (spam/blocklist, rate), then the enhanced status code
 * (RFC 3463), then the basic code and the SMTP step. Limits: wording is
 * matched in English only.
 */
#include "engine/smtp/classify.h"
#include "engine/base/err.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

static const char *const status_names[] = {"delivered", "deferred", "bounced"};
static const char *const category_names[] = {
    "",    "bad_mailbox", "bad_domain", "mailbox_full", "policy",  "spam_block", "rate_limited",
    "dns", "network",     "tls",        "protocol",     "expired", "other"};

const char *classify_status_name(enum classify_status s)
{
    EDM_ASSERT((unsigned)s < sizeof status_names / sizeof status_names[0]);
    return status_names[s];
}

const char *classify_category_name(enum classify_category c)
{
    EDM_ASSERT((unsigned)c < sizeof category_names / sizeof category_names[0]);
    return category_names[c];
}

/* Case-insensitive search of any of the words (NULL-terminated list). */
static int mentions(const char *text, const char *const *words)
{
    if (text == NULL)
        return 0;
    for (; *words; words++) {
        size_t wl = strlen(*words);
        for (const char *p = text; *p; p++) {
            size_t i = 0;
            while (i < wl && p[i] && tolower((unsigned char)p[i]) == (*words)[i])
                i++;
            if (i == wl)
                return 1;
        }
    }
    return 0;
}

static const char *const spam_words[] = {
    "spam",      "blacklist",   "blocklist", "block list", "black list", "listed at", "listed on",
    "listed in", "rbl",         "dnsbl",     "spamhaus",   "spamcop",    "barracuda", "reputation",
    "junk",      "unsolicited", "bulk mail", "phish",      "virus",      "malware",   NULL};
static const char *const rate_words[] = {"rate limit",
                                         "rate-limit",
                                         "ratelimit",
                                         "too many",
                                         "throttl",
                                         "slow down",
                                         "try again later",
                                         "exceeded the rate",
                                         "temporarily deferred",
                                         "unusual rate",
                                         "sending rate",
                                         "connection limit",
                                         NULL};
static const char *const full_words[] = {"mailbox full",         "mailbox is full",
                                         "over quota",           "overquota",
                                         "quota exceeded",       "exceeded storage",
                                         "insufficient storage", "out of storage",
                                         "mailbox size limit",   NULL};
static const char *const mailbox_words[] = {"user unknown",
                                            "unknown user",
                                            "no such user",
                                            "no such mailbox",
                                            "mailbox unavailable",
                                            "does not exist",
                                            "doesn't exist",
                                            "not exist",
                                            "invalid recipient",
                                            "recipient unknown",
                                            "unknown recipient",
                                            "no mailbox",
                                            "address rejected",
                                            "mailbox not found",
                                            "user not found",
                                            "disabled",
                                            "inactive",
                                            NULL};
static const char *const domain_words[] = {
    "domain not found",      "unknown domain",      "no such domain",  "host not found",
    "domain does not exist", "relay access denied", "relaying denied", NULL};

/* Category from an enhanced code "c.s.d"; CLASSIFY_NONE when it says
 * nothing specific. */
static enum classify_category from_enhanced(const char *e, const char *text)
{
    if (e == NULL || e[0] == '\0')
        return CLASSIFY_NONE;
    const char *p = strchr(e, '.');
    if (p == NULL)
        return CLASSIFY_NONE;
    int subject = 0, detail = 0;
    const char *q = p + 1;
    while (isdigit((unsigned char)*q))
        subject = subject * 10 + (*q++ - '0');
    if (*q == '.')
        q++;
    while (isdigit((unsigned char)*q))
        detail = detail * 10 + (*q++ - '0');
    switch (subject) {
    case 1: /* addressing */
        switch (detail) {
        case 1:
        case 3:
        case 6: return CLASSIFY_BAD_MAILBOX;
        case 2:
        case 10: return CLASSIFY_BAD_DOMAIN;
        case 7:
        case 8: return CLASSIFY_BAD_DOMAIN; /* bad sender address: our side */
        default: return CLASSIFY_BAD_MAILBOX;
        }
    case 2: /* mailbox status */
        switch (detail) {
        case 2: return CLASSIFY_MAILBOX_FULL;
        case 1: return CLASSIFY_BAD_MAILBOX;
        case 3: return CLASSIFY_POLICY; /* message too long for the mailbox */
        default: return CLASSIFY_OTHER;
        }
    case 3: /* mail system */ return detail == 4 ? CLASSIFY_POLICY : CLASSIFY_OTHER;
    case 4: /* network and routing */
        switch (detail) {
        case 3: return CLASSIFY_DNS;
        case 4: return CLASSIFY_BAD_DOMAIN;
        default: return CLASSIFY_NETWORK;
        }
    case 5: return CLASSIFY_PROTOCOL;
    case 6: return CLASSIFY_POLICY; /* content conversion */
    case 7:                         /* security or policy */
        if (mentions(text, spam_words))
            return CLASSIFY_SPAM_BLOCK;
        if (mentions(text, rate_words))
            return CLASSIFY_RATE_LIMITED;
        return detail == 1 && e[0] == '5' && mentions(text, mailbox_words) ? CLASSIFY_BAD_MAILBOX
                                                                           : CLASSIFY_POLICY;
    default: return CLASSIFY_NONE;
    }
}

classify_result classify_reply(enum classify_stage stage, int code, const char *enhanced,
                               const char *text)
{
    classify_result r = {CLASSIFY_DEFERRED, CLASSIFY_OTHER};
    if (code >= 200 && code < 300) {
        r.status = CLASSIFY_DELIVERED;
        r.category = CLASSIFY_NONE;
        return r;
    }
    if (code >= 500 && code < 600)
        r.status = CLASSIFY_BOUNCED;
    /* Before a transaction, a 5xx condemns the server, not the message:
     * Postfix skips to the next MX and defers (smtp_skip_5xx_greeting). */
    if (stage <= CLASSIFY_AT_AUTH)
        r.status = CLASSIFY_DEFERRED;
    if (code < 200 || code >= 600) {
        r.status = CLASSIFY_DEFERRED;
        r.category = CLASSIFY_PROTOCOL;
        return r;
    }

    if (mentions(text, spam_words)) {
        r.category = CLASSIFY_SPAM_BLOCK;
        return r;
    }
    if (code == 421 || code == 450 || code == 451 ||
        (enhanced && strncmp(enhanced, "4.7.", 4) == 0)) {
        if (mentions(text, rate_words) || code == 421) {
            r.category = CLASSIFY_RATE_LIMITED;
            return r;
        }
    }
    /* A 5xx before any transaction refuses us, not an address. */
    if (stage == CLASSIFY_AT_GREETING && code >= 500) {
        r.category = CLASSIFY_POLICY;
        return r;
    }
    enum classify_category c = from_enhanced(enhanced, text);
    if (c != CLASSIFY_NONE) {
        r.category = c;
        return r;
    }
    if (mentions(text, full_words)) {
        r.category = CLASSIFY_MAILBOX_FULL;
        return r;
    }
    if (mentions(text, rate_words)) {
        r.category = CLASSIFY_RATE_LIMITED;
        return r;
    }
    if (mentions(text, domain_words)) {
        r.category = CLASSIFY_BAD_DOMAIN;
        return r;
    }
    if (mentions(text, mailbox_words)) {
        r.category = CLASSIFY_BAD_MAILBOX;
        return r;
    }
    switch (code) {
    case 552: r.category = CLASSIFY_MAILBOX_FULL; break; /* exceeded storage allocation */
    case 452:
        r.category = stage == CLASSIFY_AT_RCPT ? CLASSIFY_RATE_LIMITED : CLASSIFY_MAILBOX_FULL;
        break;
    case 550:
    case 551:
    case 553:
        r.category = stage == CLASSIFY_AT_RCPT ? CLASSIFY_BAD_MAILBOX : CLASSIFY_POLICY;
        break;
    case 554:
        r.category = stage == CLASSIFY_AT_RCPT ? CLASSIFY_BAD_MAILBOX : CLASSIFY_POLICY;
        break;
    case 500:
    case 501:
    case 502:
    case 503:
    case 504: r.category = CLASSIFY_PROTOCOL; break;
    default: r.category = CLASSIFY_OTHER; break;
    }
    return r;
}

classify_result classify_failure(enum classify_failure kind)
{
    classify_result r = {CLASSIFY_DEFERRED, CLASSIFY_OTHER};
    switch (kind) {
    case CLASSIFY_FAIL_NETWORK:
    case CLASSIFY_FAIL_TIMEOUT: r.category = CLASSIFY_NETWORK; break;
    case CLASSIFY_FAIL_TLS: r.category = CLASSIFY_TLS; break;
    case CLASSIFY_FAIL_PROTOCOL: r.category = CLASSIFY_PROTOCOL; break;
    case CLASSIFY_FAIL_DNS_TEMP: r.category = CLASSIFY_DNS; break;
    case CLASSIFY_FAIL_NXDOMAIN:
    case CLASSIFY_FAIL_NULL_MX:
        r.status = CLASSIFY_BOUNCED;
        r.category = CLASSIFY_BAD_DOMAIN;
        break;
    case CLASSIFY_FAIL_NO_ADDRESS: r.category = CLASSIFY_DNS; break;
    case CLASSIFY_FAIL_EXPIRED:
        r.status = CLASSIFY_BOUNCED;
        r.category = CLASSIFY_EXPIRED;
        break;
    case CLASSIFY_FAIL_LOCAL:
        r.status = CLASSIFY_BOUNCED;
        r.category = CLASSIFY_POLICY;
        break;
    default: EDM_PANIC("classify_failure: bad kind %d", (int)kind);
    }
    return r;
}
