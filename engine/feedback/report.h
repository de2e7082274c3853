/*
 * engine/feedback/report.h: what comes back after a message was sent, as
 * data: parses one inbound message (the bytes an MTA delivered to the
 * bounce address) into a report: a DSN (RFC 3464 multipart/report;
 * report-type=delivery-status), one of the common non-standard bounces
 * (Exim, qmail, Exchange, Gmail plain-text forms), or an ARF complaint
 * report (RFC 5965). A pure function of its input: no store, no secret
 * (docs/feedback.md).
 *
 * What identifies the message the report is about is collected, not
 * checked: candidate VERP tokens ("bounces+TOKEN@" and "unsubscribe+TOKEN@"
 * anywhere in the report or the message it returns) and the returned
 * message's Message-ID. engine/feedback/feedback.c checks tokens with the
 * HMAC secret and looks the Message-ID up.
 *
 * Limits: at most FB_MAX_RCPTS recipients and FB_MAX_TOKENS tokens of each
 * kind; MIME nesting at most 6 levels and 64 parts; fields longer than
 * their buffers are cut. Input of any bytes is safe (fuzzed:
 * tests/fuzz/fuzz_feedback.c).
 */
#ifndef EDM_FEEDBACK_REPORT_H
#define EDM_FEEDBACK_REPORT_H

#include "engine/message/verp.h"
#include "engine/store/outcome.h"

#include <stddef.h>

enum fb_kind { FB_KIND_NONE = 0, FB_KIND_DSN, FB_KIND_ARF };

/* RFC 3464 2.3.3 Action (delayed and failed are the ones that matter). */
enum fb_action {
    FB_ACTION_NONE = 0,
    FB_ACTION_FAILED,
    FB_ACTION_DELAYED,
    FB_ACTION_DELIVERED,
    FB_ACTION_RELAYED,
    FB_ACTION_EXPANDED,
};
const char *fb_action_name(enum fb_action a);

#define FB_MAX_RCPTS  8
#define FB_MAX_TOKENS 4

typedef struct fb_rcpt {
    enum fb_action action;
    char status[16];                       /* RFC 3463 "5.1.1", or "" */
    int code;                              /* the SMTP reply code in the diagnostic, or 0 */
    char diagnostic[EDM_OUTCOME_TEXT_MAX]; /* "550 5.1.1 <a@b>: user unknown", or "" */
    char final_rcpt[256];                  /* the address, without "rfc822;" */
    char original_rcpt[256];
    char remote_mta[256];
} fb_rcpt;

typedef struct fb_report {
    enum fb_kind kind;
    const char *form; /* "rfc3464", "exim", "qmail", "exchange", "gmail", "arf", or "" */
    fb_rcpt rcpts[FB_MAX_RCPTS];
    size_t nrcpts;
    /* ARF: Feedback-Type ("abuse", "fraud", ...), Original-Rcpt-To,
     * Original-Mail-From. */
    char feedback_type[32];
    char arf_rcpt[256];
    char arf_mail_from[256];
    /* The returned message, for matching. */
    char message_id[256]; /* without <> */
    char bounce_tokens[FB_MAX_TOKENS][EDM_VERP_TOKEN_MAX];
    size_t nbounce;
    char unsub_tokens[FB_MAX_TOKENS][EDM_VERP_TOKEN_MAX];
    size_t nunsub;
} fb_report;

/* Parses msg[0..len) (a whole message, headers and body, CRLF or LF).
 * Returns 0 with out filled (out->kind FB_KIND_NONE when it is neither a
 * bounce nor a complaint report; tokens and message_id are still
 * collected), or EDM_ENOMEM. */
int fb_parse(const char *msg, size_t len, fb_report *out);

#endif
