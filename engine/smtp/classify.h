/*
 * engine/smtp/classify.h: the one place that turns a remote outcome (an SMTP
 * reply, or a network, TLS, DNS or protocol failure) into a delivery
 * status (delivered, deferred, bounced) and a bounce category (PRODUCT.md:
 * bad_mailbox, bad_domain, mailbox_full, policy, spam_block, rate_limited,
 * dns, network, tls, protocol, expired, other).
 */
#ifndef EDM_CLASSIFY_H
#define EDM_CLASSIFY_H

enum classify_status { CLASSIFY_DELIVERED, CLASSIFY_DEFERRED, CLASSIFY_BOUNCED };

enum classify_category {
    CLASSIFY_NONE, /* delivered: no category */
    CLASSIFY_BAD_MAILBOX,
    CLASSIFY_BAD_DOMAIN,
    CLASSIFY_MAILBOX_FULL,
    CLASSIFY_POLICY,
    CLASSIFY_SPAM_BLOCK,
    CLASSIFY_RATE_LIMITED,
    CLASSIFY_DNS,
    CLASSIFY_NETWORK,
    CLASSIFY_TLS,
    CLASSIFY_PROTOCOL,
    CLASSIFY_EXPIRED,
    CLASSIFY_OTHER
};

/* The SMTP step a reply answers: some codes mean more at some steps (a
 * bare 550 to RCPT TO is an unknown mailbox; at MAIL FROM it is not). */
enum classify_stage {
    CLASSIFY_AT_GREETING,
    CLASSIFY_AT_HELO,
    CLASSIFY_AT_TLS,
    CLASSIFY_AT_AUTH,
    CLASSIFY_AT_MAIL,
    CLASSIFY_AT_RCPT,
    CLASSIFY_AT_DATA,
    CLASSIFY_AT_DATA_END
};

/* Failures without an SMTP reply. */
enum classify_failure {
    CLASSIFY_FAIL_NETWORK,    /* connect refused, reset, lost connection */
    CLASSIFY_FAIL_TIMEOUT,    /* a step timed out */
    CLASSIFY_FAIL_TLS,        /* handshake failed, or TLS required and not offered */
    CLASSIFY_FAIL_PROTOCOL,   /* malformed or over-long reply, unexpected reply */
    CLASSIFY_FAIL_DNS_TEMP,   /* SERVFAIL, DNS timeout */
    CLASSIFY_FAIL_NXDOMAIN,   /* the domain does not exist */
    CLASSIFY_FAIL_NULL_MX,    /* RFC 7505: the domain accepts no mail */
    CLASSIFY_FAIL_NO_ADDRESS, /* no MX host has an address */
    CLASSIFY_FAIL_EXPIRED,    /* deferred past retry.max_age */
    CLASSIFY_FAIL_LOCAL       /* refused before sending: too big, needs SMTPUTF8 */
};

typedef struct classify_result {
    enum classify_status status;
    enum classify_category category;
} classify_result;

classify_result classify_reply(enum classify_stage stage, int code, const char *enhanced,
                               const char *text);
classify_result classify_failure(enum classify_failure kind);

const char *classify_status_name(enum classify_status s);
/* "bad_mailbox" ...; "" for CLASSIFY_NONE. */
const char *classify_category_name(enum classify_category c);

#endif
