/*
 * tests/engine/cmd/test_render_raw.c: `edm render --raw` end to end: the
 * binary renders a template, composes and signs with the config's keys
 * for the From domain (RSA and Ed25519; a key of another domain is not
 * used), and the bytes it prints pass dkimpy and mailauth@4, parse back
 * with Python's email package to the rendered values, and carry
 * List-Unsubscribe tokens signed with the engine's secret. Usage and
 * input errors give their exit status and a message. Plain `edm render`:
 * {"subject","html","text"} for data of any JSON type, and a template
 * error's part and position with exit 1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/message/verp.h"
#include "tests/engine/message/mime_cases.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "render-raw-test-secret-0123456789"

static char *dir;

static void put(const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(edm_test_write_file(path, text, strlen(text)), 0);
}

static int run_with(const char *secret, const char *args, char **out)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s%s %s render %s", dir,
             secret ? "EDM_UNSUBSCRIBE_SECRET=" : "unset EDM_UNSUBSCRIBE_SECRET;",
             secret ? secret : "", edm_test_bin(), args);
    return edm_test_run(cmd, out);
}

static int run(const char *args, char **out)
{
    return run_with(SECRET, args, out);
}

/* The unsubscribe token of the https URL in a message file of dir. */
static char *url_token(const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *msg = edm_test_read_file(path, NULL);
    assert_non_null(msg);
    const char *u = strstr(msg, "/unsubscribe?t=");
    assert_non_null(u);
    char *tok = calloc(1, 64);
    assert_int_equal(sscanf(u + 15, "%63[^>]", tok), 1);
    free(msg);
    return tok;
}

static int setup(void **state)
{
    (void)state;
    dir = edm_test_tmpdir("renderraw");
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "cd %s && mkdir msgs && openssl genpkey -algorithm RSA -pkeyopt "
             "rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null && openssl genpkey -algorithm "
             "ED25519 -out ed.pem",
             dir);
    if (edm_test_run(cmd, NULL) != 0)
        return -1;
    put("edm.json",
        "{\"db\": \"none.db\",\n"
        " \"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s1\", \"key\": \"rsa.pem\",\n"
        "            \"algorithm\": \"rsa-sha256\"},\n"
        "           {\"domain\": \"example.com\", \"selector\": \"ed1\", \"key\": \"ed.pem\",\n"
        "            \"algorithm\": \"ed25519-sha256\"},\n"
        "           {\"domain\": \"other.org\", \"selector\": \"x\", \"key\": \"ed.pem\",\n"
        "            \"algorithm\": \"ed25519-sha256\"}],\n"
        " \"unsubscribe\": {\"url\": \"https://mail.example.com/unsubscribe\"}}\n");
    put("t.json", "{\"subject\": \"Hello {{name}} \xe2\x80\x94 {{offer}}\",\n"
                  " \"html\": \"<p>Hi {{name}},</p>\\n<p>{{offer}}</p>\\n\",\n"
                  " \"text\": \"Hi {{name}},\\n{{offer}}   \\n\"}\n");
    put("d.json", "{\"name\": \"Zo\xc3\xab\", \"offer\": \"20 % off\"}\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    edm_test_rmtree(dir);
    free(dir);
    return 0;
}

/* The value of the first header field called name (unfolded), malloc'd. */
static char *field(const char *msg, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\r\n%s:", name);
    const char *p = strstr(msg, key);
    if (p == NULL)
        return NULL;
    p += strlen(key);
    char *v = malloc(strlen(p) + 1);
    size_t n = 0;
    for (; *p && !(p[0] == '\r' && p[1] == '\n' && p[2] != ' ' && p[2] != '\t'); p++)
        if (*p != '\r' && *p != '\n')
            v[n++] = *p;
    v[n] = '\0';
    return v;
}

static void raw_message_verifies(void **state)
{
    (void)state;
    char *out = NULL;
    int st = run("--raw -c edm.json --from 'Example Shop <news@example.com>' --to "
                 "bob@example.net t.json d.json > msgs/raw.eml",
                 &out);
    if (st != 0)
        fail_msg("edm render --raw exited %d: %s", st, out);
    free(out);
    char path[4096];
    snprintf(path, sizeof path, "%s/msgs/raw.eml", dir);
    size_t len;
    char *msg = edm_test_read_file(path, &len);
    assert_non_null(msg);
    assert_int_equal(strncmp(msg, "DKIM-Signature:", 15), 0);
    assert_null(strstr(msg, "d=other.org"));

    /* Expectations for mime_check.py and the keys for the verifiers. */
    mime_case c = {.name = "raw",
                   .msg = {.from_addr = "news@example.com",
                           .to_addr = "bob@example.net",
                           .unsub_mailto = "x@example.com",
                           .unsub_url = "https://mail.example.com/unsubscribe"},
                   .subject = "Hello Zo\xc3\xab \xe2\x80\x94 20 % off",
                   .from_name = "Example Shop",
                   .text = "Hi Zo\xc3\xab,\n20 % off   \n",
                   .html = "<p>Hi Zo\xc3\xab,</p>\n<p>20 % off</p>\n",
                   .content_type = "multipart/alternative",
                   .cte = "quoted-printable"};
    char msgs[4200];
    snprintf(msgs, sizeof msgs, "%s/msgs", dir);
    mime_case_write(msgs, "", &c, msg, len, 2);
    char cmd[12000];
    snprintf(cmd, sizeof cmd,
             "cd %s && (echo \"s1._domainkey.example.com v=DKIM1; k=rsa; p=$(openssl pkey -in "
             "rsa.pem -pubout -outform DER | base64 -w0)\"; echo \"ed1._domainkey.example.com "
             "v=DKIM1; k=ed25519; p=$(openssl pkey -in ed.pem -pubout -outform DER | tail -c 32 "
             "| base64 -w0)\") > msgs/dns.txt",
             dir);
    assert_int_equal(edm_test_run(cmd, NULL), 0);
    char *dkimpy = mime_check_dkimpy(msgs);
    mime_expect_line(dkimpy, "raw.eml", "pass 2");
    char *mailauth = mime_check_mailauth(msgs);
    mime_expect_line(mailauth, "raw.eml", "pass 2");
    char *parsed = mime_check_parse(msgs);
    mime_expect_line(parsed, "raw", "ok");

    /* Both unsubscribe targets carry a token made with the engine's secret. */
    char *lu = field(msg, "List-Unsubscribe");
    assert_non_null(lu);
    const char *m = strstr(lu, "<mailto:"), *u = strstr(lu, "<https://mail.example.com/"
                                                            "unsubscribe?t=");
    assert_non_null(m);
    assert_non_null(u);
    char addr[256];
    assert_int_equal(sscanf(m + 8, "%255[^>]", addr), 1);
    uint64_t id = 99;
    assert_int_equal(
        edm_verp_address_parse(addr, EDM_VERP_UNSUB, "unsubscribe", SECRET, strlen(SECRET), &id),
        0);
    assert_true(id == 0);
    char tok[64];
    assert_int_equal(sscanf(strchr(u, '=') + 1, "%63[^>]", tok), 1);
    assert_int_equal(
        edm_verp_token_check(tok, strlen(tok), EDM_VERP_UNSUB, SECRET, strlen(SECRET), &id), 0);
    char *mid = field(msg, "Message-ID");
    assert_non_null(strstr(mid, "@example.com>"));
    free(mid);
    free(lu);
    free(dkimpy);
    free(mailauth);
    free(parsed);
    free(msg);
}

static void usage_and_input_errors(void **state)
{
    (void)state;
    static const struct {
        const char *args;
        int status;
        const char *says;
    } t[] = {
        {"--raw -c edm.json --from 'not an address' --to b@example.net t.json d.json", 1, "from"},
        {"--raw -c edm.json --from news@example.com --to 'b@example.net, c@evil.example' t.json "
         "d.json",
         1, "to"},
        {"--raw -c missing.json --from news@example.com --to b@example.net t.json d.json", 1,
         "missing.json"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char *out = NULL;
        int st = run(t[i].args, &out);
        if (st != t[i].status || strstr(out, t[i].says) == NULL)
            fail_msg("render %s: exit %d, output: %s", t[i].args, st, out);
        free(out);
    }
}

/* --from and --to are optional (PRODUCT.md's synopsis): the sender is
 * preview@ the first DKIM key's domain, so the message is signed; the
 * recipient is the data's email, else recipient@example.com. */
static void raw_default_addresses(void **state)
{
    (void)state;
    put("e.json", "{\"name\": \"Ann\", \"offer\": \"x\", \"email\": \"ann@x.test\"}\n");
    char *out = NULL;
    int st = run("--raw -c edm.json t.json e.json", &out);
    if (st != 0)
        fail_msg("render --raw without --from/--to: exit %d: %s", st, out);
    char *from = field(out, "From"), *to = field(out, "To"), *sig = field(out, "DKIM-Signature");
    assert_non_null(from);
    assert_non_null(to);
    assert_non_null(sig);
    assert_non_null(strstr(from, "preview@example.com"));
    assert_non_null(strstr(to, "ann@x.test"));
    assert_non_null(strstr(sig, "d=example.com"));
    free(from);
    free(to);
    free(sig);
    free(out);
    out = NULL;
    st = run("--raw -c edm.json --from news@example.com t.json d.json", &out);
    if (st != 0)
        fail_msg("render --raw without --to: exit %d: %s", st, out);
    to = field(out, "To");
    assert_non_null(to);
    assert_non_null(strstr(to, "recipient@example.com"));
    free(to);
    free(out);
}

/* Without --raw: the three parts as JSON, for data of any JSON type (as
 * the Mustache spec's tests use); a template error gives its part, line
 * and column and exit 1; an unreadable file is named, with no position. */
static void plain_render(void **state)
{
    (void)state;
    put("dot.json", "{\"subject\": \"S {{.}}\", \"html\": \"{{#.}}<{{.}}>{{/.}}\","
                    " \"text\": \"T {{name}}\"}");
    put("str.json", "\"a&b\"");
    put("list.json", "[1, 2]");
    put("num.json", "42");
    put("null.json", "null");
    static const struct {
        const char *data, *want;
    } ok[] = {
        {"str.json",
         "{\n  \"subject\": \"S a&b\",\n  \"html\": \"<a&amp;b>\",\n  \"text\": \"T \"\n}\n"},
        {"list.json",
         "{\n  \"subject\": \"S \",\n  \"html\": \"<1><2>\",\n  \"text\": \"T \"\n}\n"},
        {"num.json", "{\n  \"subject\": \"S 42\",\n  \"html\": \"<42>\",\n  \"text\": \"T \"\n}\n"},
        {"null.json", "{\n  \"subject\": \"S \",\n  \"html\": \"\",\n  \"text\": \"T \"\n}\n"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char args[256], *out = NULL;
        snprintf(args, sizeof args, "dot.json %s 2>/dev/null", ok[i].data);
        int st = run(args, &out);
        if (st != 0 || strcmp(out, ok[i].want) != 0)
            fail_msg("render %s: exit %d, output: %s", args, st, out);
        free(out);
    }
    put("bad.json", "{\"subject\": \"S\", \"html\": \"<p>\\n  {{#items}}\", \"text\": \"t\"}");
    static const struct {
        const char *args;
        int status;
        const char *says;
    } bad[] = {
        {"bad.json d.json", 1, "edm render: html: line 2, col 3: unclosed section \"items\""},
        {"nope.json d.json", 1, "edm render: template nope.json: unable to open nope.json"},
        {"t.json nope.json", 1, "edm render: data nope.json: unable to open nope.json"},
        {"t.json bad-data.json", 1, "edm render: data bad-data.json: line 1, col "},
        {"t.json", 2, "expected TEMPLATE.json and DATA.json"},
        {"--bogus t.json d.json", 2, "unknown option '--bogus'"},
    };
    put("bad-data.json", "{\"name\": }");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        int st = run(bad[i].args, &out);
        if (st != bad[i].status || strstr(out, bad[i].says) == NULL || strstr(out, "-1") != NULL)
            fail_msg("render %s: exit %d, output: %s", bad[i].args, st, out);
        free(out);
    }
}

/* Without the environment variable: the secret of an existing database
 * (never a database created as a side effect), else a throwaway one. */
static void raw_secret_sources(void **state)
{
    (void)state;
    static const char args[] = "--raw -c edm.json --from news@example.com --to b@example.net "
                               "t.json d.json > %s";
    char a[512], path[4096], *out = NULL;
    uint64_t id;
    snprintf(a, sizeof a, args, "nodb.eml");
    assert_int_equal(run_with(NULL, a, &out), 0);
    free(out);
    snprintf(path, sizeof path, "%s/none.db", dir);
    assert_null(edm_test_read_file(path, NULL)); /* no database appeared */
    char *tok = url_token("nodb.eml");
    assert_int_equal(
        edm_verp_token_check(tok, strlen(tok), EDM_VERP_UNSUB, SECRET, strlen(SECRET), &id),
        EDM_EINVAL);
    free(tok);

    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s migrate -c edm.json", dir, edm_test_bin());
    assert_int_equal(edm_test_run(cmd, NULL), 0);
    snprintf(a, sizeof a, args, "db.eml");
    assert_int_equal(run_with(NULL, a, &out), 0);
    free(out);
    snprintf(cmd, sizeof cmd,
             "sqlite3 %s/none.db \"SELECT hex(value) FROM settings WHERE name = 'secret'\"", dir);
    assert_int_equal(edm_test_run(cmd, &out), 0);
    unsigned char secret[64];
    size_t n = 0;
    for (unsigned v; n < sizeof secret && sscanf(out + 2 * n, "%2x", &v) == 1; n++)
        secret[n] = (unsigned char)v;
    free(out);
    assert_true(n >= 16);
    tok = url_token("db.eml");
    assert_int_equal(edm_verp_token_check(tok, strlen(tok), EDM_VERP_UNSUB, secret, n, &id), 0);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raw_message_verifies),  cmocka_unit_test(usage_and_input_errors),
        cmocka_unit_test(raw_default_addresses), cmocka_unit_test(plain_render),
        cmocka_unit_test(raw_secret_sources),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
