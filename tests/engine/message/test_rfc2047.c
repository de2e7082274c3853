/*
 * tests/engine/message/test_rfc2047.c: the Subject a submitted message is
 * recorded with (engine/message/rfc2047.c). A table of field values as
 * they come after the colon (plain, folded, B and Q words in UTF-8 and in
 * charsets iconv converts, adjacent words, words inside text, malformed
 * words, an unknown charset, bytes that are not UTF-8, control
 * characters) against the text edm stores; the cut at EDM_RFC2047_MAX on
 * a character boundary (a huge field too); every result valid UTF-8
 * without control characters; and edm_message_raw_prepare handing the
 * Subject back (NULL without one, "" for an empty one) while the bytes
 * stay as received.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/utf8.h"
#include "engine/message/message.h"
#include "engine/message/rfc2047.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dcase {
    const char *name, *in, *want;
} dcase;

static const dcase cases[] = {
    {"plain ASCII", " Your order #1234 has shipped\r\n", "Your order #1234 has shipped"},
    {"no space after the colon", "Hi", "Hi"},
    {"empty", "", ""},
    {"only white space", " \t \r\n", ""},
    {"folded", " Your order\r\n has\r\n\tshipped\r\n", "Your order has shipped"},
    {"folded on a bare LF", " a\n b", "a b"},
    {"B, UTF-8", " =?UTF-8?B?w6lsw6h2ZQ==?=", "\xc3\xa9l\xc3\xa8ve"},
    {"Q, UTF-8", " =?UTF-8?Q?Caf=C3=A9_au_lait?=", "Caf\xc3\xa9 au lait"},
    {"case-insensitive",
     " =?utf-8?b?R3LDvMOfZQ==?= =?Utf-8?q?_caf=c3=a9?=", "Gr\xc3\xbc\xc3\237e caf\xc3\xa9"},
    {"Q, ISO-8859-1", " =?ISO-8859-1?Q?Andr=E9_Gide?=", "Andr\xc3\xa9 Gide"},
    {"Q, windows-1252", " =?windows-1252?Q?=80_5?=", "\xe2\x82\xac 5"},
    {"B, KOI8-R", " =?KOI8-R?B?98HbINrBy8Ha?=",
     "\xd0\x92\xd0\xb0\xd1\x88 \xd0\xb7\xd0\xb0\xd0\xba\xd0\xb0\xd0\xb7"},
    {"B, ISO-2022-JP (stateful)",
     " =?ISO-2022-JP?B?GyRCJEYkOSRIGyhC?=", "\xe3\x81\xa6\xe3\x81\x99\xe3\x81\xa8"},
    {"us-ascii", " =?us-ascii?Q?plain_text?=", "plain text"},
    {"a language tag", " =?UTF-8*en?Q?hi?=", "hi"},
    {"two adjacent words", " =?UTF-8?Q?Caf=C3=A9?= =?UTF-8?Q?_au_lait?=", "Caf\xc3\xa9 au lait"},
    {"adjacent words across a fold", " =?UTF-8?B?w6k=?=\r\n =?UTF-8?B?w6g=?=", "\xc3\xa9\xc3\xa8"},
    {"adjacent words without space", " =?UTF-8?Q?a?==?UTF-8?Q?b?=", "ab"},
    {"words apart by text", " =?UTF-8?Q?a?= and =?UTF-8?Q?b?=", "a and b"},
    {"a word inside text", " Hello =?UTF-8?Q?W=C3=B6rld?=, again", "Hello W\xc3\xb6rld, again"},
    {"text, then a word", " Re: =?UTF-8?B?w6lsw6h2ZQ==?=", "Re: \xc3\xa9l\xc3\xa8ve"},
    {"a word glued to text", " x=?UTF-8?Q?=C3=A9?=y", "x\xc3\xa9y"},
    {"unknown encoding", " =?UTF-8?X?abc?=", "=?UTF-8?X?abc?="},
    {"bad base64", " =?UTF-8?B?w6#s?=", "=?UTF-8?B?w6#s?="},
    {"base64 with bad padding", " =?UTF-8?B?SGk?=", "=?UTF-8?B?SGk?="},
    {"bad =XX", " =?UTF-8?Q?a=ZZ?=", "=?UTF-8?Q?a=ZZ?="},
    {"=X at the end", " =?UTF-8?Q?a=C?=", "=?UTF-8?Q?a=C?="},
    {"no end", " =?UTF-8?Q?abc", "=?UTF-8?Q?abc"},
    {"empty charset", " =?\?Q?abc?=", "=?\?Q?abc?="},
    {"empty text", " =?UTF-8?Q?\?=", "=?UTF-8?Q?\?="},
    {"space inside", " =?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?="},
    {"charset not a token", " =?UTF/8?Q?abc?=", "=?UTF/8?Q?abc?="},
    {"just =?", " a =? b ?= c", "a =? b ?= c"},
    {"a good word, then a bad one", " =?UTF-8?Q?a?= =?UTF-8?B?%%?=", "a =?UTF-8?B?%%?="},
    {"a bad word between good ones",
     " =?UTF-8?Q?a?= =?UTF-8?Z?x?= =?UTF-8?Q?b?=", "a =?UTF-8?Z?x?= b"},
    {"unknown charset", " =?x-no-such-charset?Q?abc?=", "=?x-no-such-charset?Q?abc?="},
    {"bytes the charset lacks", " =?ISO-2022-JP?B?GyRC/w==?=", "=?ISO-2022-JP?B?GyRC/w==?="},
    {"not UTF-8 after decoding", " =?UTF-8?Q?=FF=FE?=", "=?UTF-8?Q?=FF=FE?="},
    {"us-ascii that is not UTF-8", " =?us-ascii?Q?=E9?=", "=?us-ascii?Q?=E9?="},
    {"raw UTF-8 kept", " Gr\xc3\xbc\xc3\237e", "Gr\xc3\xbc\xc3\237e"},
    {"raw bytes not UTF-8", " caf\xe9!", "caf\xef\xbf\xbd!"},
    {"controls in text", " a\tb\001c\177d", "a b\xef\xbf\275c\xef\xbf\275d"},
    {"controls in a word", " =?UTF-8?Q?a=0D=0Ab=00c=C2=85d?=", "a  b\xef\xbf\275c\xef\xbf\275d"},
};

/* 1 if s is valid UTF-8 without C0, DEL or C1 control characters. */
static int clean(const char *s)
{
    size_t n = strlen(s);
    if (!edm_utf8_valid(s, n))
        return 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = edm_utf8_decode(u + i, n - i, &cp);
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return 0;
        i += l;
    }
    return 1;
}

static void decode_table(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = edm_rfc2047_decode(cases[i].in, strlen(cases[i].in));
        assert_non_null(got);
        if (strcmp(got, cases[i].want) != 0) {
            printf("%s: got \"%s\", want \"%s\"\n", cases[i].name, got, cases[i].want);
            bad++;
        }
        if (!clean(got)) {
            printf("%s: not clean UTF-8: \"%s\"\n", cases[i].name, got);
            bad++;
        }
        edm_free(got);
    }
    assert_int_equal(bad, 0);
}

/* Over-long text ends at EDM_RFC2047_MAX bytes, cut before a character
 * that does not fit whole, whether it came raw or from encoded words. */
static void over_long(void **state)
{
    (void)state;
    edm_buf in = EDM_BUF_INIT;
    /* "a" then 1,000 "é" (2 bytes each): 1 + 2 * 498 = 997 bytes fit. */
    assert_int_equal(edm_buf_append_str(&in, " a"), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(edm_buf_append_str(&in, "\xc3\xa9"), 0);
    char *got = edm_rfc2047_decode(in.data, in.len);
    assert_int_equal(strlen(got), 997);
    assert_true(clean(got));
    assert_memory_equal(got + 995, "\xc3\xa9", 2);
    edm_free(got);

    /* 400 encoded words of "€" (3 bytes), folded: 332 * 3 = 996 bytes. */
    edm_buf_reset(&in);
    for (int i = 0; i < 400; i++)
        assert_int_equal(edm_buf_append_str(&in, " =?UTF-8?B?4oKs?=\r\n"), 0);
    got = edm_rfc2047_decode(in.data, in.len);
    assert_int_equal(strlen(got), 996);
    assert_true(clean(got));
    for (size_t i = 0; i < 996; i += 3)
        assert_memory_equal(got + i, "\xe2\x82\xac", 3);
    edm_free(got);

    /* A huge field (200,000 words converted by iconv, or kept as text):
     * the result is its first EDM_RFC2047_MAX bytes' worth. */
    edm_buf_reset(&in);
    for (int i = 0; i < 200000; i++)
        assert_int_equal(edm_buf_append_str(&in, "=?ISO-8859-1?Q?=E9?=\r\n "), 0);
    got = edm_rfc2047_decode(in.data, in.len);
    assert_int_equal(strlen(got), 998);
    for (size_t i = 0; i < 998; i += 2)
        assert_memory_equal(got + i, "\xc3\xa9", 2);
    edm_free(got);
    edm_buf_reset(&in);
    for (int i = 0; i < 200000; i++)
        assert_int_equal(edm_buf_append_str(&in, "=?x-none?Q?a?= "), 0);
    got = edm_rfc2047_decode(in.data, in.len);
    assert_int_equal(strlen(got), EDM_RFC2047_MAX);
    assert_memory_equal(got, in.data, EDM_RFC2047_MAX);
    edm_free(got);

    /* Exactly the cap: kept whole. */
    edm_buf_reset(&in);
    for (int i = 0; i < EDM_RFC2047_MAX; i++)
        assert_int_equal(edm_buf_append_char(&in, 'x'), 0);
    got = edm_rfc2047_decode(in.data, in.len);
    assert_int_equal(strlen(got), EDM_RFC2047_MAX);
    edm_free(got);
    edm_buf_free(&in);
}

/* prepare hands the Subject back; the bytes it keeps are the received ones. */
static void prepare_subject(void **state)
{
    (void)state;
    static const struct {
        const char *msg, *want; /* want NULL: no Subject */
    } pc[] = {
        {"From: a@example.com\r\nSubject: =?UTF-8?B?w6lsw6h2ZQ==?=\r\n\r\nbody\r\n",
         "\xc3\xa9l\xc3\xa8ve"},
        {"From: a@example.com\r\nsubject: Order\r\n =?ISO-8859-1?Q?n=B0_5?=\r\n\r\nbody\r\n",
         "Order n\xc2\xb0 5"},
        {"From: a@example.com\r\nSubject:\r\n\r\nbody\r\n", ""},
        {"From: a@example.com\r\n\r\nbody\r\n", NULL},
        {"Subject: first\r\nFrom: a@example.com\r\nSubject: second\r\n\r\nbody\r\n", "first"},
    };
    for (size_t i = 0; i < sizeof pc / sizeof pc[0]; i++) {
        edm_buf out = EDM_BUF_INIT;
        char *from = NULL, *subject = NULL, err[128];
        const char *msg = pc[i].msg;
        assert_int_equal(edm_message_raw_prepare(msg, strlen(msg), "example.com", 1700000000, &out,
                                                 &from, &subject, err, sizeof err),
                         0);
        assert_string_equal(from, "a@example.com");
        if (pc[i].want == NULL)
            assert_null(subject);
        else
            assert_string_equal(subject, pc[i].want);
        /* The header fields as received come first, the body last. */
        const char *blank = strstr(msg, "\r\n\r\n");
        assert_memory_equal(out.data, msg, (size_t)(blank - msg) + 2);
        assert_string_equal(out.data + out.len - strlen(blank + 2), blank + 2);
        edm_free(from);
        edm_free(subject);
        edm_buf_free(&out);
    }
    /* Refused messages hand nothing back. */
    edm_buf out = EDM_BUF_INIT;
    char *from = NULL, *subject = (char *)"x", err[128];
    const char *msg = "Subject: s\r\nTo: b@example.com\r\n\r\nbody\r\n";
    assert_int_equal(edm_message_raw_prepare(msg, strlen(msg), NULL, 1700000000, &out, &from,
                                             &subject, err, sizeof err),
                     EDM_EINVAL);
    assert_null(from);
    assert_null(subject);
    edm_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_table),
        cmocka_unit_test(over_long),
        cmocka_unit_test(prepare_subject),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
