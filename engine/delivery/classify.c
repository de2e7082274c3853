/*
 * engine/delivery/classify.c: facts -> status + bounce category (see
 * classify.h). Entry points classify_reply() and classify_failure(), pure
 * functions of their arguments, and classify_outcome()/classify_expire()
 * on an outcome; classify_dsn() for a delivery status notification.
 *
 * Order of evidence (like Postfix smtp_trouble.c and the usual ESP
 * taxonomies): the reply class decides the status (2 delivered, 4 deferred,
 * 5 bounced; before a transaction always deferred; a rate limit always
 * deferred, whatever its class: QQ and NetEase answer 550 to a sender
 * over its quota, and a retry later delivers); the category comes first
 * from a provider's own code (NetEase's "MI:STC", "DT:SPM": the table
 * below), then from wording where it is unambiguous (TLS required, a
 * sender rate limited, spam/blocklist/content refused), then the step (a
 * refusal at AUTH is about our credentials), then the enhanced status
 * code (RFC 3463), then the basic code and the SMTP step. Every row of
 * tests/engine/delivery/classify_replies.h (real replies, each with its
 * source) must come out as listed there. Limits: wording is matched in
 * English only (Chinese providers put their codes and English words in
 * their replies).
 */
#include "engine/delivery/classify.h"
#include "engine/base/err.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

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

/* NetEase (163.com, 126.com, yeah.net) puts a code of its own in each
 * refusal ("550 MI:STC", "451 RP:CEL"); its help page lists them
 * (help.163.com, "退信代码说明"). What each one means: */
static const struct {
    const char *code;
    enum edm_category cat;
} provider_codes[] = {
    {"HL:REP", EDM_CATEGORY_SPAM_BLOCK},   /* IP sends to many unknown recipients: banned */
    {"HL:ICC", EDM_CATEGORY_RATE_LIMITED}, /* too many concurrent connections */
    {"HL:IFC", EDM_CATEGORY_RATE_LIMITED}, /* too much mail in a short time */
    {"HL:MEP", EDM_CATEGORY_SPAM_BLOCK},   /* many forged sender domains */
    {"HL:IHU", EDM_CATEGORY_SPAM_BLOCK},   /* IP suspended for spam */
    {"HL:IPB", EDM_CATEGORY_SPAM_BLOCK},   /* IP blocked */
    {"MI:CEL", EDM_CATEGORY_PROTOCOL},     /* too many erroneous commands */
    {"MI:CCL", EDM_CATEGORY_PROTOCOL},     /* too many commands */
    {"RP:CEL", EDM_CATEGORY_PROTOCOL},     {"RP:CCL", EDM_CATEGORY_PROTOCOL},
    {"MI:NHD", EDM_CATEGORY_PROTOCOL},     /* empty HELO */
    {"MI:DMC", EDM_CATEGORY_RATE_LIMITED}, /* too many messages on one connection */
    {"RP:DRC", EDM_CATEGORY_RATE_LIMITED}, /* too many recipients on one connection */
    {"MI:SFQ", EDM_CATEGORY_RATE_LIMITED}, /* sender over its 15-minute quota */
    {"RP:QRC", EDM_CATEGORY_RATE_LIMITED}, /* recipients over the short-term quota */
    {"MI:STC", EDM_CATEGORY_RATE_LIMITED}, /* sender over its daily quota */
    {"RP:RCL", EDM_CATEGORY_RATE_LIMITED}, /* too many recipients for one message */
    {"RP:TRC", EDM_CATEGORY_RATE_LIMITED}, /* recipients over the daily quota */
    {"DT:RBL", EDM_CATEGORY_SPAM_BLOCK},   /* IP on an RBL */
    {"DT:SPM", EDM_CATEGORY_SPAM_BLOCK},   /* content looks like spam */
    {"WM:BLI", EDM_CATEGORY_POLICY},       /* IP not on the allowed list */
    {"WM:BLU", EDM_CATEGORY_POLICY},       /* sender not on the allowed list */
    {"MI:IMF", EDM_CATEGORY_POLICY},       /* malformed sender address */
    {"MI:SPF", EDM_CATEGORY_POLICY},       /* SPF does not permit the IP */
    {"RP:FRL", EDM_CATEGORY_POLICY},       /* no relaying */
    {"DT:SUM", EDM_CATEGORY_POLICY},       /* envelope and header sender differ */
    {"MI:SPB", EDM_CATEGORY_POLICY},       /* sender not on the user's allow list */
};

static enum edm_category from_provider_code(const char *text)
{
    if (text == NULL)
        return EDM_CATEGORY_NONE;
    for (size_t i = 0; i < sizeof provider_codes / sizeof provider_codes[0]; i++)
        if (strstr(text, provider_codes[i].code) != NULL)
            return provider_codes[i].cat;
    return EDM_CATEGORY_NONE;
}

/* The receiver wants TLS we did not use. */
static const char *const tls_words[] = {"tls required",        "must issue a starttls",
                                        "requires tls",        "starttls required",
                                        "encryption required", NULL};
/* Wording that says the sender is being limited, which wins over spam
 * words in the same reply ("...from spam, mail sent from your IP address
 * has been temporarily rate limited"). */
static const char *const rate_strong_words[] = {
    "rate limited",      "rate-limited",         "ratelimited",         "rate limit",
    "frequency limit",   "too many connections", "too many concurrent", "too many messages",
    "too much mail",     "too quickly",          "too much email",      "at a rate that",
    "excessive volume",  "unexpected volume",    "sending quota",       "per hour",
    "maximum threshold", "exceeded the rate",    "limit exceeded",      NULL};
static const char *const spam_words[] = {"spam",
                                         "blacklist",
                                         "blocklist",
                                         "block list",
                                         "black list",
                                         "listed at",
                                         "listed on",
                                         "listed in",
                                         "rbl",
                                         "dnsbl",
                                         "spamhaus",
                                         "spamcop",
                                         "barracuda",
                                         "reputation",
                                         "junk",
                                         "unsolicited",
                                         "bulk mail",
                                         "phish",
                                         "virus",
                                         "malware",
                                         "blocked using",
                                         "banned",
                                         "black ip",
                                         "ipcheck.proofpoint",
                                         "content denied",
                                         "content rejected",
                                         "content reject",
                                         "traffic not accepted",
                                         NULL};
/* Our side of the protocol went wrong (too many commands, pipelining). */
static const char *const protocol_words[] = {"nonmail commands", "synchronization error",
                                             "protocol violation", NULL};
/* The message is too big for the receiver (not its mailbox). */
static const char *const size_words[] = {"message is too long",
                                         "size exceeds",
                                         "exceeds size limit",
                                         "mailsize limit",
                                         "message too big",
                                         "exceeded google's message size",
                                         NULL};
/* A 421 that is about who we are, not how fast we send. */
static const char *const policy_words[] = {"whitelist", "allow list", "not authorized",
                                           "not permitted", NULL};
static const char *const rate_words[] = {"rate limit",        "deferred due to",
                                         "rate-limit",        "ratelimit",
                                         "too many",          "throttl",
                                         "slow down",         "try again later",
                                         "exceeded the rate", "temporarily deferred",
                                         "unusual rate",      "sending rate",
                                         "connection limit",  NULL};
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
                                            "unrouteable address",
                                            "invalid user",
                                            "user suspended",
                                            "no such user",
                                            "addressee unknown",
                                            "recipientnotfound",
                                            "recipnotfound",
                                            "account is unavailable",
                                            "doesn't have a",
                                            "mailbox not found",
                                            NULL};
static const char *const domain_words[] = {"domain not found",      "unknown domain",
                                           "no such domain",        "host not found",
                                           "domain does not exist", "relay access denied",
                                           "relaying denied",       "relay not permitted",
                                           "local user only",       NULL};

/* Category from an enhanced code "c.s.d"; EDM_CATEGORY_NONE when it says
 * nothing specific. */
static enum edm_category from_enhanced(const char *e, const char *text)
{
    if (e == NULL || e[0] == '\0')
        return EDM_CATEGORY_NONE;
    const char *p = strchr(e, '.');
    if (p == NULL)
        return EDM_CATEGORY_NONE;
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
        case 6: return EDM_CATEGORY_BAD_MAILBOX;
        case 2: return EDM_CATEGORY_BAD_DOMAIN;
        case 10: /* null MX (RFC 7505); Microsoft's "RecipientNotFound" too */
            return mentions(text, mailbox_words) ? EDM_CATEGORY_BAD_MAILBOX
                                                 : EDM_CATEGORY_BAD_DOMAIN;
        case 7:
        case 8: return EDM_CATEGORY_BAD_DOMAIN; /* bad sender address: our side */
        default: return EDM_CATEGORY_BAD_MAILBOX;
        }
    case 2: /* mailbox status */
        switch (detail) {
        case 2: return EDM_CATEGORY_MAILBOX_FULL;
        case 1: return EDM_CATEGORY_BAD_MAILBOX;
        case 3: return EDM_CATEGORY_POLICY; /* message too long for the mailbox */
        default: return EDM_CATEGORY_OTHER;
        }
    case 3: /* mail system */ return detail == 4 ? EDM_CATEGORY_POLICY : EDM_CATEGORY_OTHER;
    case 4: /* network and routing */
        /* Exchange Online's directory-based edge blocking: an unknown
         * recipient ("5.4.1 Recipient address rejected: Access denied") */
        if (detail == 1 && strstr(text ? text : "", "Recipient address rejected"))
            return EDM_CATEGORY_BAD_MAILBOX;
        switch (detail) {
        case 3: return EDM_CATEGORY_DNS;
        case 4: return EDM_CATEGORY_BAD_DOMAIN;
        default: return EDM_CATEGORY_NETWORK;
        }
    case 5: /* protocol; but Microsoft says 5.5.0 "mailbox unavailable" of an unknown address */
        return e[0] == '5' && mentions(text, mailbox_words) ? EDM_CATEGORY_BAD_MAILBOX
                                                            : EDM_CATEGORY_PROTOCOL;
    case 6: return EDM_CATEGORY_POLICY; /* content conversion */
    case 7:                             /* security or policy */
        if (mentions(text, spam_words))
            return EDM_CATEGORY_SPAM_BLOCK;
        if (mentions(text, rate_words))
            return EDM_CATEGORY_RATE_LIMITED;
        return detail == 1 && e[0] == '5' && mentions(text, mailbox_words)
                   ? EDM_CATEGORY_BAD_MAILBOX
                   : EDM_CATEGORY_POLICY;
    default: return EDM_CATEGORY_NONE;
    }
}

/* A rate limit is never final: a retry later delivers. */
static classify_result rate_deferred(classify_result r)
{
    if (r.category == EDM_CATEGORY_RATE_LIMITED)
        r.status = EDM_DSTATE_DEFERRED;
    return r;
}

static classify_result judge(enum edm_smtp_step step, int code, const char *enhanced,
                             const char *text)
{
    classify_result r = {EDM_DSTATE_DEFERRED, EDM_CATEGORY_OTHER};
    if (code >= 200 && code < 300) {
        r.status = EDM_DSTATE_DELIVERED;
        r.category = EDM_CATEGORY_NONE;
        return r;
    }
    if (code >= 500 && code < 600)
        r.status = EDM_DSTATE_BOUNCED;
    /* Before a transaction, a 5xx condemns the server, not the message:
     * Postfix skips to the next MX and defers (smtp_skip_5xx_greeting). */
    if (step <= EDM_STEP_AUTH)
        r.status = EDM_DSTATE_DEFERRED;
    if (code < 200 || code >= 600) {
        r.status = EDM_DSTATE_DEFERRED;
        r.category = EDM_CATEGORY_PROTOCOL;
        return r;
    }

    enum edm_category pc = from_provider_code(text);
    if (pc != EDM_CATEGORY_NONE) {
        r.category = pc;
        return rate_deferred(r);
    }
    if (mentions(text, tls_words)) {
        r.category = EDM_CATEGORY_TLS;
        return r;
    }
    if (mentions(text, protocol_words)) {
        r.category = EDM_CATEGORY_PROTOCOL;
        return r;
    }
    if (mentions(text, size_words)) {
        r.category = EDM_CATEGORY_POLICY;
        return r;
    }
    if (mentions(text, rate_strong_words)) {
        r.category = EDM_CATEGORY_RATE_LIMITED;
        return rate_deferred(r);
    }
    if (mentions(text, spam_words)) {
        r.category = EDM_CATEGORY_SPAM_BLOCK;
        return r;
    }
    if (code == 421 && mentions(text, policy_words)) {
        r.category = EDM_CATEGORY_POLICY;
        return r;
    }
    if (code == 421 || code == 450 || code == 451 ||
        (enhanced && strncmp(enhanced, "4.7.", 4) == 0)) {
        if (mentions(text, rate_words) || code == 421) {
            r.category = EDM_CATEGORY_RATE_LIMITED;
            return r;
        }
    }
    /* A refusal at AUTH is about our credentials (a relay route's). */
    if (step == EDM_STEP_AUTH && code >= 400) {
        r.category = EDM_CATEGORY_AUTH;
        return r;
    }
    /* A 5xx before any transaction refuses us, not an address. */
    if (step == EDM_STEP_GREETING && code >= 500) {
        r.category = EDM_CATEGORY_POLICY;
        return r;
    }
    enum edm_category c = from_enhanced(enhanced, text);
    if (c != EDM_CATEGORY_NONE) {
        r.category = c;
        return r;
    }
    if (mentions(text, full_words)) {
        r.category = EDM_CATEGORY_MAILBOX_FULL;
        return r;
    }
    if (mentions(text, rate_words)) {
        r.category = EDM_CATEGORY_RATE_LIMITED;
        return r;
    }
    if (mentions(text, domain_words)) {
        r.category = EDM_CATEGORY_BAD_DOMAIN;
        return r;
    }
    if (mentions(text, mailbox_words)) {
        r.category = EDM_CATEGORY_BAD_MAILBOX;
        return r;
    }
    switch (code) {
    case 552: r.category = EDM_CATEGORY_MAILBOX_FULL; break; /* exceeded storage allocation */
    case 452:
        r.category = step == EDM_STEP_RCPT ? EDM_CATEGORY_RATE_LIMITED : EDM_CATEGORY_MAILBOX_FULL;
        break;
    case 550:
    case 551:
    case 553:
        r.category = step == EDM_STEP_RCPT ? EDM_CATEGORY_BAD_MAILBOX : EDM_CATEGORY_POLICY;
        break;
    case 554:
        r.category = step == EDM_STEP_RCPT ? EDM_CATEGORY_BAD_MAILBOX : EDM_CATEGORY_POLICY;
        break;
    case 500:
    case 501:
    case 502:
    case 503:
    case 504: r.category = EDM_CATEGORY_PROTOCOL; break;
    default: r.category = EDM_CATEGORY_OTHER; break;
    }
    return r;
}

classify_result classify_reply(enum edm_smtp_step step, int code, const char *enhanced,
                               const char *text)
{
    return rate_deferred(judge(step, code, enhanced, text));
}

classify_result classify_failure(enum edm_failure kind)
{
    classify_result r = {EDM_DSTATE_DEFERRED, EDM_CATEGORY_OTHER};
    switch (kind) {
    case EDM_FAIL_NETWORK:
    case EDM_FAIL_TIMEOUT: r.category = EDM_CATEGORY_NETWORK; break;
    case EDM_FAIL_TLS: r.category = EDM_CATEGORY_TLS; break;
    case EDM_FAIL_PROTOCOL: r.category = EDM_CATEGORY_PROTOCOL; break;
    case EDM_FAIL_AUTH: r.category = EDM_CATEGORY_AUTH; break;
    case EDM_FAIL_DNS_TEMP:
    case EDM_FAIL_NO_ADDRESS: r.category = EDM_CATEGORY_DNS; break;
    case EDM_FAIL_NXDOMAIN:
    case EDM_FAIL_NULL_MX:
        r.status = EDM_DSTATE_BOUNCED;
        r.category = EDM_CATEGORY_BAD_DOMAIN;
        break;
    case EDM_FAIL_LOCAL: /* too big, needs SMTPUTF8: no retry will change it */
        r.status = EDM_DSTATE_BOUNCED;
        r.category = EDM_CATEGORY_POLICY;
        break;
    case EDM_FAIL_BACKOFF: r.category = EDM_CATEGORY_RATE_LIMITED; break;
    case EDM_FAIL_NO_POOL: r.category = EDM_CATEGORY_OTHER; break;
    case EDM_FAIL_NEEDS_7BIT: /* composed again without 8bit, it can go */
        r.category = EDM_CATEGORY_PROTOCOL;
        break;
    case EDM_FAIL_NONE:
    default: EDM_PANIC("classify_failure: bad kind %d", (int)kind);
    }
    return r;
}

void classify_outcome(edm_outcome *o)
{
    classify_result r = o->failure == EDM_FAIL_NONE
                            ? classify_reply(o->step, o->code, o->enhanced, o->text)
                            : classify_failure(o->failure);
    o->status = r.status;
    o->category = r.category;
}

void classify_expire(edm_outcome *o)
{
    o->status = EDM_DSTATE_BOUNCED;
    o->category = EDM_CATEGORY_EXPIRED;
}

classify_result classify_dsn(int failed, int code, const char *status, const char *text)
{
    int permanent = code ? code >= 500 : (status != NULL && status[0] == '5');
    if (code == 0)
        code = permanent ? 550 : 450;
    classify_result r = classify_reply(EDM_STEP_RCPT, code, status, text);
    if (!failed) {
        r.status = EDM_DSTATE_DEFERRED;
    } else if (r.status != EDM_DSTATE_BOUNCED) {
        r.status = EDM_DSTATE_BOUNCED;
        if (!permanent)
            r.category = EDM_CATEGORY_EXPIRED;
    }
    return r;
}
