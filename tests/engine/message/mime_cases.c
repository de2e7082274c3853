/*
 * tests/engine/message/mime_cases.c: messages for test_mime and test_dkim (see
 * mime_cases.h): plain and non-ASCII headers, long lines, trailing
 * whitespace, empty bodies, 7bit, 8bit (allowed or not), attachments and
 * every header-injection attempt we could think of, each with the values
 * that must come back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/engine/message/mime_cases.h"
#include "engine/base/base64.h"
#include "tests/support/testlib.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATE 1795784761 /* Fri, 27 Nov 2026 13:06:01 +0000 */

static const edm_mime_header hdr_campaign[] = {
    {"X-Campaign-ID", "42"},
    {"X-Mailer-Tag", "spring sale"},
    {"X-A-Long-Custom-Header-Name-That-Takes-Much-Of-The-Line-0123",
     "value \xc3\xa9t\xc3\xa9 and more words to fold"}};
static const edm_mime_header hdr_inject[] = {{"X-Note", "v\r\nX-Injected: 1"},
                                             {"X-Body", "a\r\n\r\n<html>body</html>"},
                                             {"X-Empty", ""},
                                             {"X-Encoded", "=?utf-8?q?=0d=0aBcc:_x@y.z?="}};
static const edm_mime_header hdr_long[] = {{"X-Long-Word", NULL}, {"X-Utf8", NULL}};

static unsigned char bin256[256];
static char long_word[2001], long_utf8[1201], long_text[5200], long_html[3100], long_subject[400];
static char backslashes[501];
static char long_name[101], long_file[151], long_8bit[1300];

static edm_mime_attachment att_mixed[] = {
    {"report.pdf", "application/pdf", bin256, sizeof bin256, NULL},
    {"Grüße & Co \"2026\".txt", "text/plain", "hello\n", 6, NULL},
    {long_file, "application/octet-stream", "0123456789", 10, NULL},
    {"evil\r\nContent-Type: text/html\r\n.txt", "multipart/mixed", "x", 1, NULL}};
static edm_mime_attachment att_odd[] = {{NULL, NULL, "", 0, NULL},
                                        {"bad type.bin", "text/html; x=\"y\"", "abc", 3, NULL}};
/* Inline parts (content_id): multipart/related with the HTML body. */
static edm_mime_attachment att_inline_mixed[] = {
    {"report.pdf", "application/pdf", "%PDF-1.4\n", 9, NULL},
    {"logo.png", "image/png", bin256, sizeof bin256, "logo@x"}};
static edm_mime_attachment att_inline_only[] = {
    {"Grüße Logo – groß.png", "image/png", bin256, sizeof bin256, "logo.1@shop.example.com"},
    {"dot.gif", "image/gif", "GIF89a", 6, "dot"}};

/* A newsletter as campaigns send it: attributes with '=' (=3D in
 * quoted-printable), German and Chinese text, a line starting with '.'. */
#define NEWS_HTML                                                                                        \
    "<table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"font-family:Arial\">\n"           \
    "<tr><td class=\"hero\"><h1>春季新品上市，全场八折！</h1></td></tr>\n"                   \
    "<tr><td><p>Liebe Kundin, lieber Kunde: Grüße aus Köln – größer, schöner, günstiger.</p>\n" \
    "<a href=\"https://shop.example.com/?utm_source=edm&amp;utm_medium=email\">立即购买</a>"         \
    "</td></tr>\n</table>\n"
#define NEWS_TEXT                                                                                   \
    "春季新品上市，全场八折！\nGrüße aus Köln – größer, schöner, günstiger.\n" \
    ".a line starting with a dot\n立即购买: https://shop.example.com/?utm_source=edm\n"

static mime_case cases[] = {
    {.name = "plain_ascii",
     .msg = {.from_addr = "alice@example.com",
             .from_name = "Alice Example",
             .to_addr = "bob@example.net",
             .reply_to = "support@example.com",
             .subject = "Hello world",
             .text = "Hi Bob,\nThis is a test.\n",
             .html = "<p>Hi Bob,</p>\n<p>This is a test.</p>\n",
             .headers = hdr_campaign,
             .n_headers = 3,
             .unsub_mailto = "unsub+1f-abcdefghijklmnop@bounce.example.com",
             .unsub_url = "https://mail.example.com/unsubscribe?t=1f-abcdefghijklmnop",
             .feedback_id = "c42:spring:edm"},
     .subject = "Hello world",
     .from_name = "Alice Example",
     .text = "Hi Bob,\nThis is a test.\n",
     .html = "<p>Hi Bob,</p>\n<p>This is a test.</p>\n",
     .content_type = "multipart/alternative",
     .cte = "7bit",
     .header_values = {"42", "spring sale", "value \xc3\xa9t\xc3\xa9 and more words to fold"}},
    {.name = "utf8_headers",
     .msg = {.from_addr = "news@example.com",
             .from_name = "Jörg \"JJ\" Müller, Esq.",
             .to_addr = "li@example.cn",
             .to_name = "李小龙",
             .subject = "Grüße aus Köln — 50% Rabatt 🎉 heute",
             .text = "Grüße!\nÜber 50 % Rabatt — nur heute. 🎉\n",
             .unsub_url = "http://mail.example.com/u?t=x"},
     .subject = "Grüße aus Köln — 50% Rabatt 🎉 heute",
     .from_name = "Jörg \"JJ\" Müller, Esq.",
     .to_name = "李小龙",
     .text = "Grüße!\nÜber 50 % Rabatt — nur heute. 🎉\n",
     .content_type = "text/plain",
     .cte = "quoted-printable"},
    {.name = "long_headers",
     .msg = {.from_addr = "a@example.com",
             .from_name = long_name,
             .to_addr = "b@example.com",
             .to_name = "\"Quoted\" <evil@x.com>, other@y.com",
             .subject = long_subject,
             .headers = hdr_long,
             .n_headers = 2,
             .html = "<b>x</b>"},
     .subject = long_subject,
     .from_name = long_name,
     .to_name = "\"Quoted\" <evil@x.com>, other@y.com",
     .html = "<b>x</b>",
     .content_type = "text/html",
     .header_values = {long_word, long_utf8}},
    {.name = "long_utf8_name",
     .msg = {.from_addr = "service@example.de",
             .from_name = "Kundenservice der Müller & Söhne Großhandel GmbH — Abteilung Rückfragen",
             .to_addr = "b@example.com",
             .to_name = "Zoë",
             .subject = "Name",
             .text = "x"},
     .subject = "Name",
     .from_name = "Kundenservice der Müller & Söhne Großhandel GmbH — Abteilung Rückfragen",
     .to_name = "Zoë",
     .text = "x",
     .content_type = "text/plain"},
    {.name = "escaped_names",
     .msg = {.from_addr = "a@example.com",
             .from_name = backslashes,
             .to_addr = "b@example.com",
             .to_name = "Ann \"The \\ Boss\" (CEO); <x>",
             .subject = "names",
             .text = "x"},
     .subject = "names",
     .from_name = backslashes,
     .to_name = "Ann \"The \\ Boss\" (CEO); <x>",
     .text = "x",
     .content_type = "text/plain"},
    {.name = "long_lines",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "long lines",
             .text = long_text,
             .html = long_html},
     .subject = "long lines",
     .text = long_text,
     .html = long_html,
     .content_type = "multipart/alternative",
     .cte = "quoted-printable"},
    {.name = "whitespace_and_specials",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "  lots   of\t\tspace  ",
             .text = "trailing spaces   \nand tabs\t\t\n  leading\n\nFrom here\n.\n..\na=b\n=\n"
                     "mixed\r\nline\rends\n\n\n\n"},
     .subject = "lots of space",
     .text = "trailing spaces   \nand tabs\t\t\n  leading\n\nFrom here\n.\n..\na=b\n=\n"
             "mixed\nline\nends\n\n\n\n",
     .content_type = "text/plain",
     .cte = "quoted-printable"}, /* "From " starts a line */
    {.name = "empty_parts",
     .msg = {.from_addr = "a@example.com", .to_addr = "b@example.com", .text = "", .html = ""},
     .subject = "",
     .text = "",
     .html = "",
     .content_type = "multipart/alternative",
     .cte = "7bit"},
    {.name = "no_parts",
     .msg = {.from_addr = "a@example.com", .to_addr = "b@example.com", .subject = "nothing"},
     .subject = "nothing",
     .text = "",
     .content_type = "text/plain"},
    {.name = "controls_in_body",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "controls",
             .text = "nul\0byte\x01\x1b[31m red\x7f",
             .text_len = 19},
     .subject = "controls",
     .text = "nul\0byte\x01\x1b[31m red\x7f",
     .text_len = 19,
     .content_type = "text/plain",
     .cte = "quoted-printable"},
    {.name = "inject_subject",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "Hello\r\nBcc: victim@example.org\r\n\r\nbody\n.\r\nQUIT\r\n",
             .text = "t"},
     .subject = "Hello Bcc: victim@example.org body . QUIT",
     .text = "t",
     .content_type = "text/plain"},
    {.name = "inject_subject_bytes",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "\xff\xfe"
                        "Bad\xc0\xaf"
                        "UTF8\xc2\x85"
                        "NEL\xe2\x80\xa8"
                        "LS A\x0b"
                        "B\x0c"
                        "C\x7f"
                        "D\tE\xed\xa0\x80"
                        "F\xf4\x90\x80\x80"
                        "G",
             .text = "t"},
     .subject = "\xef\xbf\xbd\xef\xbf\xbd"
                "Bad\xef\xbf\xbd\xef\xbf\xbd"
                "UTF8 NEL LS A B C D E\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                "F\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                "G",
     .text = "t",
     .content_type = "text/plain"},
    {.name = "inject_names_and_headers",
     .msg = {.from_addr = "a@example.com",
             .from_name = "Eve\r\nBcc: x@y.z",
             .to_addr = "b@example.com",
             .to_name = "Bob\nTo: c@example.com\r\n\r\n",
             .subject = "=?utf-8?q?=0d=0aBcc:_x@y.z?=",
             .headers = hdr_inject,
             .n_headers = 4,
             .feedback_id = "a\r\nb:c",
             .text = "t"},
     .subject = "=?utf-8?q?=0d=0aBcc:_x@y.z?=",
     .from_name = "Eve Bcc: x@y.z",
     .to_name = "Bob To: c@example.com",
     .text = "t",
     .content_type = "text/plain",
     .header_values = {"v X-Injected: 1", "a <html>body</html>", "",
                       "=?utf-8?q?=0d=0aBcc:_x@y.z?="}},
    {.name = "eightbit",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "8bit",
             .text = "Grüße   \ntrailing\t\nend",
             .allow_8bit = 1},
     .subject = "8bit",
     .text = "Grüße   \ntrailing\t\nend",
     .content_type = "text/plain",
     .cte = "8bit",
     .eight_bit = 1},
    {.name = "eightbit_newsletter",
     .msg = {.from_addr = "news@example.com",
             .from_name = "Müller & Söhne",
             .to_addr = "li@example.cn",
             .subject = "春季促销 — Frühjahrsangebote",
             .text = NEWS_TEXT,
             .html = NEWS_HTML,
             .unsub_mailto = "unsub+2a-abcdefghijklmnop@bounce.example.com",
             .unsub_url = "https://mail.example.com/u/2a-abcdefghijklmnop",
             .allow_8bit = 1},
     .subject = "春季促销 — Frühjahrsangebote",
     .from_name = "Müller & Söhne",
     .text = NEWS_TEXT,
     .html = NEWS_HTML,
     .content_type = "multipart/alternative",
     .cte = "8bit",
     .eight_bit = 1},
    {.name = "eightbit_html_only_part",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "ascii text, utf-8 html",
             .text = "Plain ASCII text.\r\n.\r\n..dots\r\n",
             .html = "<p style=\"color:#333\">Bientôt l'été</p>\n",
             .allow_8bit = 1},
     .subject = "ascii text, utf-8 html",
     .text = "Plain ASCII text.\n.\n..dots\n",
     .html = "<p style=\"color:#333\">Bientôt l'été</p>\n",
     .content_type = "multipart/alternative",
     .cte = "7bit",
     .html_cte = "8bit",
     .eight_bit = 1},
    {.name = "utf8_not_allowed",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "no 8BITMIME",
             .text = "Plain ASCII text.\n",
             .html = NEWS_HTML},
     .subject = "no 8BITMIME",
     .text = "Plain ASCII text.\n",
     .html = NEWS_HTML,
     .content_type = "multipart/alternative",
     .cte = "7bit",
     .html_cte = "quoted-printable"},
    {.name = "eightbit_from_line",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "From line",
             .text = "Grüße\nFrom Köln with love\n",
             .allow_8bit = 1},
     .subject = "From line",
     .text = "Grüße\nFrom Köln with love\n",
     .content_type = "text/plain",
     .cte = "quoted-printable"},
    {.name = "eightbit_attachments",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "8bit files",
             .text = "見積書を添付します。\n",
             .html = "<p>見積書を添付します。</p>",
             .attachments = att_odd,
             .n_attachments = 2,
             .allow_8bit = 1},
     .subject = "8bit files",
     .text = "見積書を添付します。\n",
     .html = "<p>見積書を添付します。</p>",
     .content_type = "multipart/mixed",
     .cte = "8bit",
     .eight_bit = 1,
     .att_names = {"attachment", "bad type.bin"},
     .att_types = {"application/octet-stream", "application/octet-stream"}},
    {.name = "sevenbit",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "7bit",
             .html = "<p>ascii only</p>\n",
             .allow_8bit = 1},
     .subject = "7bit",
     .html = "<p>ascii only</p>\n",
     .content_type = "text/html",
     .cte = "7bit"},
    {.name = "eightbit_long_line",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "8bit long",
             .text = long_8bit,
             .allow_8bit = 1},
     .subject = "8bit long",
     .text = long_8bit,
     .content_type = "text/plain",
     .cte = "quoted-printable"},
    {.name = "attachments",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "files",
             .text = "see attached\n",
             .html = "<p>see attached</p>",
             .attachments = att_mixed,
             .n_attachments = 4},
     .subject = "files",
     .text = "see attached\n",
     .html = "<p>see attached</p>",
     .content_type = "multipart/mixed",
     .att_names = {"report.pdf", "Grüße & Co \"2026\".txt", long_file,
                   "evil Content-Type: text/html .txt"},
     .att_types = {"application/pdf", "text/plain", "application/octet-stream",
                   "application/octet-stream"}},
    {.name = "attachments_odd",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "odd files",
             .text = "x",
             .attachments = att_odd,
             .n_attachments = 2},
     .subject = "odd files",
     .text = "x",
     .content_type = "multipart/mixed",
     .att_names = {"attachment", "bad type.bin"},
     .att_types = {"application/octet-stream", "application/octet-stream"}},
    {.name = "inline_and_attachment",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "receipt",
             .text = "your receipt\n",
             .html = "<img src=\"cid:logo@x\"><p>your receipt</p>",
             .attachments = att_inline_mixed,
             .n_attachments = 2},
     .subject = "receipt",
     .text = "your receipt\n",
     .html = "<img src=\"cid:logo@x\"><p>your receipt</p>",
     .content_type = "multipart/mixed",
     .att_names = {"report.pdf", "logo.png"},
     .att_types = {"application/pdf", "image/png"},
     .tree = "multipart/mixed(multipart/related(multipart/alternative(text/plain,text/html),"
             "image/png),application/pdf)"},
    {.name = "inline_only_html",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "logo",
             .html = "<img src=\"cid:logo.1@shop.example.com\"><img src=\"cid:dot\">",
             .attachments = att_inline_only,
             .n_attachments = 2},
     .subject = "logo",
     .html = "<img src=\"cid:logo.1@shop.example.com\"><img src=\"cid:dot\">",
     .content_type = "multipart/related",
     .att_names = {"Grüße Logo – groß.png", "dot.gif"},
     .att_types = {"image/png", "image/gif"},
     .tree = "multipart/related(text/html,image/png,image/gif)"},
    {.name = "inline_only_alternative",
     .msg = {.from_addr = "a@example.com",
             .to_addr = "b@example.com",
             .subject = "logo",
             .text = "Grüße\n",
             .html = "<img src=\"cid:logo@x\"><p>Grüße</p>",
             .attachments = att_inline_mixed + 1,
             .n_attachments = 1},
     .subject = "logo",
     .text = "Grüße\n",
     .html = "<img src=\"cid:logo@x\"><p>Grüße</p>",
     .content_type = "multipart/related",
     .att_names = {"logo.png"},
     .att_types = {"image/png"},
     .tree = "multipart/related(multipart/alternative(text/plain,text/html),image/png)"},
};

static void fill(void)
{
    for (int i = 0; i < 256; i++)
        bin256[i] = (unsigned char)i;
    memset(long_word, 'w', sizeof long_word - 1);
    memset(backslashes, '\\', sizeof backslashes - 1);
    /* 400 x "é" (2 bytes) + 400 x "€"? keep to 1200 bytes: 600 x "é". */
    for (int i = 0; i < 600; i++)
        memcpy(long_utf8 + 2 * i, "\xc3\xa9", 2);
    size_t n = 0;
    for (int i = 0; n + 12 < sizeof long_text - 1; i++)
        n += (size_t)snprintf(long_text + n, sizeof long_text - n, "word%d ", i);
    long_text[n - 1] = '\n';
    for (size_t i = 0; i < sizeof long_html - 1; i++)
        long_html[i] = "<a href=x>"[i % 10];
    n = 0;
    for (int i = 0; n + 12 < 300; i++)
        n += (size_t)snprintf(long_subject + n, sizeof long_subject - n, "subject%d ", i);
    memset(long_subject + n, 'S', 95); /* one 95-char word at the end */
    for (size_t i = 0; i < sizeof long_name - 1; i++)
        long_name[i] = i % 7 == 6 ? ' ' : (char)('a' + i % 26);
    long_name[99] = 'z';
    for (size_t i = 0; i < sizeof long_file - 1; i++)
        long_file[i] = i % 11 == 10 ? '-' : (char)('A' + i % 26);
    for (size_t i = 0; i < 1200; i++)
        long_8bit[i] = (char)('a' + i % 26);
    memcpy(long_8bit + 1200, "\xc3\xa9\n", 3);
}

const mime_case *mime_cases(size_t *n)
{
    static int done;
    if (!done) {
        fill();
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            mime_case *c = &cases[i];
            if (c->msg.text && !c->msg.text_len)
                c->msg.text_len = strlen(c->msg.text);
            if (c->msg.html && !c->msg.html_len)
                c->msg.html_len = strlen(c->msg.html);
            c->msg.date = DATE;
            if (c->msg.headers == hdr_long) {
                static edm_mime_header h[2];
                h[0] = (edm_mime_header){"X-Long-Word", long_word};
                h[1] = (edm_mime_header){"X-Utf8", long_utf8};
                c->msg.headers = h;
            }
        }
        done = 1;
    }
    *n = sizeof cases / sizeof cases[0];
    return cases;
}

void mime_case_build(const mime_case *c, edm_mime *m, edm_dkim_signer *s, edm_dkim_key *const *keys,
                     size_t nkeys, edm_buf *out)
{
    edm_buf msg = EDM_BUF_INIT;
    int rc = edm_mime_compose(m, &c->msg, &msg);
    if (rc != 0)
        fail_msg("%s: compose: %d %s", c->name, rc, edm_mime_error(m));
    edm_buf_reset(out);
    if (nkeys > 0) {
        rc = edm_dkim_sign(s, keys, nkeys, msg.data, msg.len, DATE + 5, out);
        if (rc != 0)
            fail_msg("%s: sign: %d", c->name, rc);
    }
    assert_int_equal(edm_buf_append(out, msg.data, msg.len), 0);
    edm_buf_free(&msg);
}

static void add_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

void mime_case_write(const char *dir, const char *prefix, const mime_case *c, const char *raw,
                     size_t len, size_t nsigs)
{
    const edm_mime_msg *m = &c->msg;
    json_t *o = json_object(), *names = json_array(), *hv = json_object(), *atts = json_array();
    const char *fixed[] = {"From",       "To",           "Subject",     "Date",
                           "Message-ID", "MIME-Version", "Content-Type"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        json_array_append_new(names, json_string(fixed[i]));
    if (strncmp(c->content_type, "text/", 5) == 0)
        json_array_append_new(names, json_string("Content-Transfer-Encoding"));
    if (m->reply_to)
        json_array_append_new(names, json_string("Reply-To"));
    if (m->unsub_mailto || m->unsub_url)
        json_array_append_new(names, json_string("List-Unsubscribe"));
    if (m->unsub_url && strncmp(m->unsub_url, "https:", 6) == 0)
        json_array_append_new(names, json_string("List-Unsubscribe-Post"));
    if (m->feedback_id)
        json_array_append_new(names, json_string("Feedback-ID"));
    for (size_t i = 0; i < nsigs; i++)
        json_array_append_new(names, json_string("DKIM-Signature"));
    for (size_t i = 0; i < m->n_headers; i++) {
        json_array_append_new(names, json_string(m->headers[i].name));
        json_object_set_new(hv, m->headers[i].name, json_string(c->header_values[i]));
    }
    json_object_set_new(o, "header_names", names);
    json_object_set_new(o, "headers", hv);
    add_str(o, "subject", c->subject);
    add_str(o, "from_name", c->from_name);
    add_str(o, "from_addr", m->from_addr);
    add_str(o, "to_name", c->to_name);
    add_str(o, "to_addr", m->to_addr);
    add_str(o, "reply_to", m->reply_to);
    add_str(o, "content_type", c->content_type);
    add_str(o, "cte", c->cte);
    add_str(o, "html_cte", c->html_cte);
    if (c->text)
        json_object_set_new(o, "text",
                            json_stringn(c->text, c->text_len ? c->text_len : strlen(c->text)));
    add_str(o, "html", c->html);
    add_str(o, "tree", c->tree);
    json_t *inl = json_array();
    for (size_t i = 0; i < m->n_attachments; i++) {
        edm_buf b = EDM_BUF_INIT;
        assert_int_equal(edm_base64_encode(&b, m->attachments[i].data, m->attachments[i].len, 0),
                         0);
        json_t *a = json_object();
        add_str(a, "filename", c->att_names[i]);
        add_str(a, "content_type", c->att_types[i]);
        json_object_set_new(a, "data", json_string(edm_buf_cstr(&b)));
        const char *cid = m->attachments[i].content_id;
        if (cid && *cid)
            json_object_set_new(a, "content_id", json_string(cid));
        json_array_append_new(cid && *cid ? inl : atts, a);
        edm_buf_free(&b);
    }
    json_object_set_new(o, "attachments", atts);
    json_object_set_new(o, "inline", inl);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s.json", dir, prefix, c->name);
    assert_int_equal(json_dump_file(o, path, 0), 0);
    json_decref(o);
    snprintf(path, sizeof path, "%s/%s%s.eml", dir, prefix, c->name);
    assert_int_equal(edm_test_write_file(path, raw, len), 0);
}

char *mime_run_checker(const char *cmd)
{
    char *out = NULL;
    int st = edm_test_run(cmd, &out);
    if (st != 0)
        fail_msg("%s exited %d:\n%s", cmd, st, out ? out : "");
    if (getenv("EDM_TEST_VERBOSE"))
        fprintf(stderr, "$ %s\n%s", cmd, out);
    return out;
}

void mime_expect_line(const char *output, const char *name, const char *verdict)
{
    char want[512];
    snprintf(want, sizeof want, "%s %s", name, verdict);
    for (const char *p = output; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n >= strlen(want) && strncmp(p, want, strlen(want)) == 0 && (p[strlen(name)] == ' '))
            return;
        p = eol ? eol + 1 : NULL;
    }
    fail_msg("no line \"%s...\" in checker output:\n%s", want, output);
}

const char *mime_mailauth_prefix(void)
{
    static char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s/node", getenv("EDM_BINARY_DIR"));
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "sh %s %s", edm_test_src("tests/engine/message/mailauth-install.sh"),
             prefix);
    int st = edm_test_run(cmd, &out);
    if (st != 0)
        fail_msg("cannot install mailauth@4 with npm (exit %d); these tests need it:\n%s", st,
                 out ? out : "");
    free(out);
    return prefix;
}

static char *checker(const char *fmt, const char *a, const char *b, const char *dir)
{
    char cmd[12000];
    snprintf(cmd, sizeof cmd, fmt, a, b, dir);
    return mime_run_checker(cmd);
}

char *mime_check_parse(const char *dir)
{
    return checker("%s%s %s", "/usr/bin/python3 ",
                   edm_test_src("tests/engine/message/mime_check.py"), dir);
}

char *mime_check_dkimpy(const char *dir)
{
    return checker("%s%s %s", "/usr/bin/python3 ",
                   edm_test_src("tests/engine/message/dkim_check.py"), dir);
}

char *mime_check_mailauth(const char *dir)
{
    return checker("NODE_PATH=%s/node_modules node %s %s", mime_mailauth_prefix(),
                   edm_test_src("tests/engine/message/dkim_check_mailauth.js"), dir);
}
