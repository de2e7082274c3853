/*
 * engine/base/header.c: custom header field checks (see header.h).
 *
 * Entry points: edm_header_name_check (a verdict), edm_header_value_check
 * (0 or EDM_EINVAL with a constant reason). The reserved names are the
 * fields the composer and the signer write (engine/message/mime.c), those
 * that trace or authenticate a message on its way (Received, ARC-*,
 * Authentication-Results, Resent-*), and the threading fields of replies.
 */
#include "engine/base/header.h"
#include "engine/base/err.h"
#include "engine/base/utf8.h"

#include <string.h>
#include <strings.h>

static const char *const reserved[] = {"from",
                                       "to",
                                       "cc",
                                       "bcc",
                                       "sender",
                                       "reply-to",
                                       "subject",
                                       "date",
                                       "message-id",
                                       "mime-version",
                                       "return-path",
                                       "received",
                                       "dkim-signature",
                                       "list-unsubscribe",
                                       "list-unsubscribe-post",
                                       "feedback-id",
                                       "authentication-results",
                                       "in-reply-to",
                                       "references"};
static const char *const reserved_prefix[] = {"content-", "resent-", "arc-"};

enum edm_header_name_verdict edm_header_name_check(const char *name)
{
    size_t n = 0;
    if (name == NULL)
        return EDM_HEADER_NAME_INVALID;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++, n++)
        if (*p < 33 || *p > 126 || *p == ':')
            return EDM_HEADER_NAME_INVALID;
    if (n < 1 || n > 76)
        return EDM_HEADER_NAME_INVALID;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return EDM_HEADER_NAME_RESERVED;
    for (size_t i = 0; i < sizeof reserved_prefix / sizeof reserved_prefix[0]; i++)
        if (strncasecmp(name, reserved_prefix[i], strlen(reserved_prefix[i])) == 0)
            return EDM_HEADER_NAME_RESERVED;
    return EDM_HEADER_NAME_OK;
}

int edm_header_value_check(const char *v, size_t n, const char **why)
{
    if (memchr(v, '\0', n)) {
        *why = "must not contain NUL bytes";
        return EDM_EINVAL;
    }
    if (memchr(v, '\r', n) || memchr(v, '\n', n)) {
        *why = "must not contain line breaks";
        return EDM_EINVAL;
    }
    if (!edm_utf8_valid(v, n)) {
        *why = "is not valid UTF-8";
        return EDM_EINVAL;
    }
    return 0;
}
