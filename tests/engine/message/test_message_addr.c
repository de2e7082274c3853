/*
 * tests/engine/message/test_message_addr.c: what the edges accept, the
 * composer sends. From and Reply-To values that edm_addr_mailbox accepts
 * and recipients that edm_addr_normalize accepts (engine/base/addr.c)
 * compose through edm_message_build, with the address edm stores (domain
 * in A-labels) in the header fields; values the edges refuse the composer
 * refuses too; header names: the composer and the API share one verdict
 * (engine/base/header.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/header.h"
#include "engine/message/message.h"
#include "engine/message/verp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The header field `name` of msg, unfolded (static buffer), or NULL. */
static const char *field(const char *msg, const char *name)
{
    static char out[2048];
    char key[64];
    snprintf(key, sizeof key, "\r\n%s:", name);
    const char *p;
    if (strncmp(msg, key + 2, strlen(key + 2)) == 0)
        p = msg + strlen(key + 2);
    else if ((p = strstr(msg, key)) != NULL)
        p += strlen(key);
    else
        return NULL;
    size_t o = 0;
    while (*p && o + 1 < sizeof out) {
        if (p[0] == '\r' && p[1] == '\n') {
            if (p[2] != ' ' && p[2] != '\t')
                break;
            p += 2;
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
    return out;
}

static void accepted_addresses_compose(void **state)
{
    (void)state;
    static const struct {
        const char *from, *from_field, *reply_to, *reply_field, *rcpt, *to_field;
    } cases[] = {
        {"shop@example.com", " shop@example.com", NULL, NULL, "a@x.test", " a@x.test"},
        {"News <News@Example.COM>", " \"News\" <News@example.com>", "help@x.test", " help@x.test",
         "  User.Name+Tag@Example.COM ", " user.name+tag@example.com"},
        {"\"Doe, John\" <j@b\xc3\xbc"
         "cher.test>",
         " \"Doe, John\" <j@xn--bcher-kva.test>", "Help Desk <h@x.test>",
         " \"Help Desk\" <h@x.test>",
         "o'brien@b\xc3\xbc"
         "cher.test",
         " o'brien@xn--bcher-kva.test"},
        {"M\xc3\xbcller <m@x.test>", " =?UTF-8?B?TcO8bGxlcg==?= <m@x.test>", NULL, NULL,
         "a!#$%&'*/=?^_`{|}~-@x.test", " a!#$%&'*/=?^_`{|}~-@x.test"},
    };
    edm_tpl_set *set = NULL;
    edm_tpl_error terr;
    json_t *tpl = json_pack("{s:s,s:s}", "subject", "Hi", "text", "Hello");
    assert_int_equal(edm_tpl_set_compile(&set, tpl, &terr), 0);
    json_decref(tpl);
    static const unsigned char secret[32] = {1};
    edm_message_worker w;
    assert_int_equal(edm_message_worker_init(&w), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the edges accept them */
        edm_mailbox mb;
        const char *why;
        if (edm_addr_mailbox(cases[i].from, strlen(cases[i].from), &mb, &why) != 0)
            fail_msg("%s: refused at the edge: %s", cases[i].from, why);
        char rcpt[EDM_ADDR_MAX];
        size_t doff;
        if (edm_addr_normalize(cases[i].rcpt, strlen(cases[i].rcpt), rcpt, &doff, &why) != 0)
            fail_msg("%s: refused at the edge: %s", cases[i].rcpt, why);
        /* and the composer sends them as stored */
        char *from_addr, *from_name;
        assert_int_equal(edm_message_parse_from(cases[i].from, &from_addr, &from_name), 0);
        edm_message_ctx c = {.tpl = set,
                             .from_addr = from_addr,
                             .from_name = from_name,
                             .reply_to = cases[i].reply_to,
                             .secret = secret,
                             .secret_len = sizeof secret};
        edm_buf out = EDM_BUF_INIT;
        char *sender = NULL, msgid[256], err[256];
        int rc = edm_message_build(&w, &c, 7, rcpt, NULL, 1700000000, 0, &out, &sender, msgid, NULL,
                                   err, sizeof err);
        if (rc != 0)
            fail_msg("%s -> %s: not composed: %s", cases[i].from, rcpt, err);
        const char *msg = edm_buf_cstr(&out);
        const char *f = field(msg, "From");
        if (f == NULL || strcmp(f, cases[i].from_field) != 0)
            fail_msg("From:%s, expected From:%s", f ? f : "(none)", cases[i].from_field);
        f = field(msg, "To");
        if (f == NULL || strcmp(f, cases[i].to_field) != 0)
            fail_msg("To:%s, expected To:%s", f ? f : "(none)", cases[i].to_field);
        f = field(msg, "Reply-To");
        if (cases[i].reply_field == NULL)
            assert_null(f);
        else if (f == NULL || strcmp(f, cases[i].reply_field) != 0)
            fail_msg("Reply-To:%s, expected Reply-To:%s", f ? f : "(none)", cases[i].reply_field);
        edm_buf_free(&out);
        edm_free(sender);
        edm_free(from_addr);
        edm_free(from_name);
    }
    /* a Reply-To the edge refuses fails the message with its reason */
    edm_message_ctx c = {.tpl = set,
                         .from_addr = "a@x.test",
                         .reply_to = "a@x.test, b@x.test",
                         .secret = secret,
                         .secret_len = sizeof secret};
    edm_buf out = EDM_BUF_INIT;
    char *sender = NULL, msgid[256], err[256];
    assert_int_equal(edm_message_build(&w, &c, 7, "r@x.test", NULL, 1700000000, 0, &out, &sender,
                                       msgid, NULL, err, sizeof err),
                     EDM_EINVAL);
    assert_non_null(strstr(err, "reply_to: only one address"));
    edm_buf_free(&out);
    edm_message_worker_free(&w);
    edm_tpl_set_free(set);
}

/* List-Unsubscribe: the public listener's one-click URL when no other URL
 * is configured (docs/feedback.md); unsubscribe.url or the campaign's own
 * wins over it; none of them: mailto only, and no List-Unsubscribe-Post.
 * The body's {{unsubscribe_url}} (strict render) is that https URL, else
 * the mailto: (docs/templates.md). */
static void list_unsubscribe_urls(void **state)
{
    (void)state;
    static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
    json_t *tpl = json_pack("{s:s, s:s}", "subject", "s", "text", "stop: [{{unsubscribe_url}}]");
    edm_tpl_set *set;
    edm_tpl_error terr;
    assert_int_equal(edm_tpl_set_compile(&set, tpl, &terr), 0);
    json_decref(tpl);
    edm_message_worker w;
    assert_int_equal(edm_message_worker_init(&w), 0);
    char tok[EDM_VERP_TOKEN_MAX], want[512];
    assert_true(edm_verp_token(tok, EDM_VERP_UNSUB, secret, sizeof secret, 7) > 0);
    static const struct {
        const char *unsub, *pub, *url_fmt;
    } cases[] = {
        {NULL, "https://mail.example.com", "<https://mail.example.com/u/%s>"},
        {"https://lists.example.com/out", "https://mail.example.com",
         "<https://lists.example.com/out?t=%s>"},
        {NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        edm_message_ctx c = {.tpl = set,
                             .from_addr = "a@x.test",
                             .unsub_url = cases[i].unsub,
                             .public_url = cases[i].pub,
                             .bounce_domain = "b.x.test",
                             .secret = secret,
                             .secret_len = sizeof secret,
                             .strict = 1};
        edm_buf out = EDM_BUF_INIT;
        char *sender = NULL, msgid[256], err[256];
        assert_int_equal(edm_message_build(&w, &c, 7, "r@x.test", NULL, 1700000000, 0, &out,
                                           &sender, msgid, NULL, err, sizeof err),
                         0);
        const char *msg = edm_buf_cstr(&out);
        const char *lu = field(msg, "List-Unsubscribe");
        assert_non_null(lu);
        snprintf(want, sizeof want, "<mailto:unsubscribe+%s@b.x.test>", tok);
        assert_non_null(strstr(lu, want));
        char body[512];
        if (cases[i].url_fmt) {
            snprintf(want, sizeof want, cases[i].url_fmt, tok);
            assert_non_null(strstr(lu, want));
            assert_non_null(field(msg, "List-Unsubscribe-Post"));
            snprintf(body, sizeof body, "stop: [%.*s]", (int)strlen(want) - 2, want + 1);
        } else {
            assert_null(strstr(lu, "https://"));
            assert_null(field(msg, "List-Unsubscribe-Post"));
            snprintf(body, sizeof body, "stop: [mailto:unsubscribe+%s@b.x.test]", tok);
        }
        assert_non_null(strstr(msg, body));
        edm_buf_free(&out);
        edm_free(sender);
    }

    /* The data's own unsubscribe_url wins; transactional mail (no
     * List-Unsubscribe) has none, so a strict render misses it. */
    edm_message_ctx c = {.tpl = set,
                         .from_addr = "a@x.test",
                         .public_url = "https://mail.example.com",
                         .secret = secret,
                         .secret_len = sizeof secret,
                         .strict = 1};
    json_t *vars = json_pack("{s:s}", "unsubscribe_url", "https://prefs.example/x");
    edm_buf out = EDM_BUF_INIT;
    char *sender = NULL, msgid[256], err[256];
    assert_int_equal(edm_message_build(&w, &c, 7, "r@x.test", vars, 1700000000, 0, &out, &sender,
                                       msgid, NULL, err, sizeof err),
                     0);
    assert_non_null(strstr(edm_buf_cstr(&out), "stop: [https://prefs.example/x]"));
    assert_null(json_object_get(vars, "email")); /* the caller's object is left alone */
    assert_int_equal(json_object_size(vars), 1);
    json_decref(vars);
    edm_buf_free(&out);
    edm_free(sender);
    sender = NULL;
    c.no_unsubscribe = 1;
    assert_int_not_equal(edm_message_build(&w, &c, 7, "r@x.test", NULL, 1700000000, 0, &out,
                                           &sender, msgid, NULL, err, sizeof err),
                         0);
    assert_non_null(strstr(err, "unsubscribe_url"));
    edm_buf_free(&out);
    edm_free(sender);
    edm_message_worker_free(&w);
    edm_tpl_set_free(set);
}

/* The edges and the composer agree on what they refuse. */
static void refused_by_both(void **state)
{
    (void)state;
    static const char *const from[] = {
        "a@x.test, b@y.test",   "A <a@x.test>, B <b@y.test>",
        "\"a b\"@x.test",       "N <\"a\"@x.test>",
        "j\xc3\xb6rg@x.test",   "a@[127.0.0.1]",
        "a@x.test\r\nBcc: b@y", "",
    };
    for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
        edm_mailbox mb;
        const char *why;
        char *a = NULL, *n = NULL;
        if (edm_addr_mailbox(from[i], strlen(from[i]), &mb, &why) == 0)
            fail_msg("%s: accepted at the edge", from[i]);
        if (edm_message_parse_from(from[i], &a, &n) == 0)
            fail_msg("%s: accepted by the composer", from[i]);
    }
    static const char *const names[] = {"X-Campaign", "Precedence", "Received",  "received",
                                        "ARC-Seal",   "Content-X",  "Resent-To", "From",
                                        "X Bad",      "X:Bad",      "",          "X-\xc3\xa9"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_int_equal(edm_mime_header_name_ok(names[i]),
                         edm_header_name_check(names[i]) == EDM_HEADER_NAME_OK);
    assert_int_equal(edm_header_name_check("Received"), EDM_HEADER_NAME_RESERVED);
    assert_int_equal(edm_header_name_check("X Bad"), EDM_HEADER_NAME_INVALID);
    assert_int_equal(edm_header_name_check("X-Campaign"), EDM_HEADER_NAME_OK);
}

/* Transactional mail: POST /v1/messages' to[i].name, kept in the
 * recipient's variables, is the To display name: quoted when ASCII,
 * encoded words when not, never a line break; campaign mail ignores it. */
static void to_name_from_vars(void **state)
{
    (void)state;
    edm_tpl_set *set = NULL;
    edm_tpl_error terr;
    json_t *tpl = json_pack("{s:s,s:s}", "subject", "Hi", "text", "Hello");
    assert_int_equal(edm_tpl_set_compile(&set, tpl, &terr), 0);
    json_decref(tpl);
    static const unsigned char secret[32] = {1};
    edm_message_worker w;
    assert_int_equal(edm_message_worker_init(&w), 0);
    static const struct {
        const char *name;
        int flag;
        const char *to_field;
    } cases[] = {
        {"Ann Lee", 1, " \"Ann Lee\" <r@x.test>"},
        {"Zo\xc3\xab", 1, " =?UTF-8?B?Wm/Dqw==?= <r@x.test>"},
        {"Ann\r\nBcc: v@evil.test", 1, " \"Ann Bcc: v@evil.test\" <r@x.test>"},
        {"Ann\xe2\x80\xa8\xc2\x85X", 1, " \"Ann X\" <r@x.test>"}, /* U+2028, U+0085 */
        {"Ann Lee", 0, " r@x.test"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        edm_message_ctx c = {.tpl = set,
                             .from_addr = "a@x.test",
                             .secret = secret,
                             .secret_len = sizeof secret,
                             .no_unsubscribe = 1,
                             .to_name_from_vars = cases[i].flag};
        json_t *vars = json_pack("{s:s,s:s}", EDM_MESSAGE_TO_NAME_VAR, cases[i].name, "name", "n");
        edm_buf out = EDM_BUF_INIT;
        char *sender = NULL, msgid[256], err[256];
        if (edm_message_build(&w, &c, 7, "r@x.test", vars, 1700000000, 0, &out, &sender, msgid,
                              NULL, err, sizeof err) != 0)
            fail_msg("case %zu: not composed: %s", i, err);
        const char *msg = edm_buf_cstr(&out);
        const char *hend = strstr(msg, "\r\n\r\n");
        assert_non_null(hend);
        for (const char *p = msg; p < hend; p++) /* header: ASCII, CR only in CRLF */
            if ((unsigned char)*p >= 0x80 || (*p == '\r' && p[1] != '\n') ||
                (*p == '\n' && (p == msg || p[-1] != '\r')))
                fail_msg("case %zu: byte 0x%02x in the header", i, (unsigned char)*p);
        assert_null(strstr(msg, "\nBcc:"));
        const char *f = field(msg, "To");
        assert_non_null(f);
        if (strcmp(f, cases[i].to_field) != 0)
            fail_msg("case %zu: To:%s", i, f);
        json_decref(vars);
        edm_buf_free(&out);
        edm_free(sender);
    }
    edm_message_worker_free(&w);
    edm_tpl_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted_addresses_compose),
        cmocka_unit_test(refused_by_both),
        cmocka_unit_test(list_unsubscribe_urls),
        cmocka_unit_test(to_name_from_vars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
