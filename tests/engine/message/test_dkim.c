/*
 * tests/engine/message/test_dkim.c: DKIM signing against two independent
 * verifiers. Throwaway keys come from `openssl genpkey` in a temp dir;
 * every message of mime_cases.c is signed with RSA (1024, 2048, 4096),
 * Ed25519 and both, then verified by dkimpy (python3-dkim) and by
 * mailauth@4 on Node (installed with npm into the build dir; if that
 * fails the test fails) with the keys served from a file, and parsed
 * back by Python's email package. Tampered copies must fail both
 * verifiers. Also: relaxed canonicalisation (RFC 6376 3.4.5), key
 * loading errors, the DNS TXT record, and the signature's own format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/base64.h"
#include "engine/message/dkim.h"
#include "engine/message/dkim_int.h"
#include "engine/base/err.h"
#include "tests/engine/message/mime_cases.h"
#include "tests/support/testlib.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *keydir;

static const struct {
    const char *file, *genpkey;
} keyfiles[] = {
    {"rsa1024.pem", "-algorithm RSA -pkeyopt rsa_keygen_bits:1024"},
    {"rsa2048.pem", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048"},
    {"rsa4096.pem", "-algorithm RSA -pkeyopt rsa_keygen_bits:4096"},
    {"rsa512.pem", "-algorithm RSA -pkeyopt rsa_keygen_bits:512"},
    {"ed25519.pem", "-algorithm ED25519"},
    {"enc.pem", "-algorithm ED25519 -aes256 -pass pass:secret"},
};

static const char *keypath(const char *file)
{
    static char path[8][4096];
    static int i;
    i = (i + 1) % 8;
    snprintf(path[i], sizeof path[i], "%s/%s", keydir, file);
    return path[i];
}

static int setup_keys(void **state)
{
    (void)state;
    keydir = edm_test_tmpdir("dkimkeys");
    for (size_t i = 0; i < sizeof keyfiles / sizeof keyfiles[0]; i++) {
        char cmd[8192], *out = NULL;
        snprintf(cmd, sizeof cmd, "openssl genpkey %s -out %s", keyfiles[i].genpkey,
                 keypath(keyfiles[i].file));
        if (edm_test_run(cmd, &out) != 0) {
            fprintf(stderr, "%s failed:\n%s\n", cmd, out ? out : "");
            free(out);
            return -1;
        }
        free(out);
    }
    return edm_test_write_file(keypath("garbage.pem"), "not a key\n", 10);
}

static int teardown_keys(void **state)
{
    (void)state;
    edm_test_rmtree(keydir);
    free(keydir);
    return 0;
}

static edm_dkim_key *load(const char *file, const char *domain, const char *sel,
                          enum edm_dkim_alg alg)
{
    edm_dkim_key *k = NULL;
    char err[256] = "";
    int rc = edm_dkim_key_load(&k, keypath(file), domain, sel, alg, err, sizeof err);
    if (rc != 0)
        fail_msg("load %s: %d %s", file, rc, err);
    return k;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int len;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static void canonicalisation(void **state)
{
    (void)state;
    /* RFC 6376 3.4.5 and edge cases. */
    static const char msg[] = "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n";
    dkim_field *f = NULL;
    size_t cap = 0, n, body;
    assert_int_equal(dkim_canon_split(msg, sizeof msg - 1, &f, &cap, &n, &body), 0);
    assert_int_equal(n, 2);
    edm_buf b = EDM_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dkim_canon_header(&b, f[i].p, f[i].len, 1), 0);
    assert_string_equal(b.data, "a:X\r\nb:Y Z\r\n");
    static const struct {
        const char *in, *out;
    } t[] = {
        {" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n"},
        {"", ""},
        {"\r\n\r\n", ""},
        {"abc", "abc\r\n"},
        {" \t \r\n", ""},
        {"a\r\n \r\nb", "a\r\n\r\nb\r\n"},
        {"a  \r\n\r\n  \r\nb \r\n \r\n", "a\r\n\r\n\r\nb\r\n"},
        {"x\ry\nz", "x\ry\nz\r\n"},
    };
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        unsigned char md[32];
        unsigned int len;
        char got[65] = "", want[65];
        assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        assert_int_equal(dkim_canon_body(ctx, &b, t[i].in, strlen(t[i].in)), 0);
        assert_int_equal(EVP_DigestFinal_ex(ctx, md, &len), 1);
        for (int k = 0; k < 32; k++)
            sprintf(got + 2 * k, "%02x", md[k]);
        sha256_hex(t[i].out, strlen(t[i].out), want);
        if (strcmp(got, want) != 0)
            fail_msg("body case %zu: canonical form differs", i);
    }
    /* A body far larger than the canonicaliser's buffer. */
    size_t big = 100000;
    char *in = malloc(big * 2), *out = malloc(big * 2);
    size_t on = 0;
    for (size_t i = 0; i < big; i++) {
        in[i] = i % 50 == 48 ? '\r' : i % 50 == 49 ? '\n' : i % 7 == 0 ? ' ' : 'x';
    }
    /* Expected: single spaces stay, except right before a CRLF. */
    for (size_t i = 0; i < big; i++)
        if (!(in[i] == ' ' && i + 1 < big && in[i + 1] == '\r'))
            out[on++] = in[i];
    assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    assert_int_equal(dkim_canon_body(ctx, &b, in, big), 0);
    unsigned char md[32];
    unsigned int len;
    assert_int_equal(EVP_DigestFinal_ex(ctx, md, &len), 1);
    char got[65], want[65];
    for (int k = 0; k < 32; k++)
        sprintf(got + 2 * k, "%02x", md[k]);
    sha256_hex(out, on, want);
    assert_string_equal(got, want);
    free(in);
    free(out);
    EVP_MD_CTX_free(ctx);
    /* Lines that are neither fields nor continuations are refused. */
    assert_int_equal(dkim_canon_split(" x\r\n\r\n", 6, &f, &cap, &n, &body), EDM_EINVAL);
    assert_int_equal(dkim_canon_split("nocolon\r\n\r\n", 11, &f, &cap, &n, &body), EDM_EINVAL);
    free(f);
    edm_buf_free(&b);
}

static void key_loading(void **state)
{
    (void)state;
    static const struct {
        const char *file, *domain, *sel;
        enum edm_dkim_alg alg;
        int rc;
        const char *err;
    } t[] = {
        {"rsa1024.pem", "example.com", "s1", EDM_DKIM_RSA_SHA256, 0, ""},
        {"rsa4096.pem", "example.com", "s1", EDM_DKIM_RSA_SHA256, 0, ""},
        {"ed25519.pem", "example.com", "ed", EDM_DKIM_ED25519_SHA256, 0, ""},
        {"rsa512.pem", "example.com", "s1", EDM_DKIM_RSA_SHA256, EDM_EINVAL, "512 bits"},
        {"ed25519.pem", "example.com", "s1", EDM_DKIM_RSA_SHA256, EDM_EINVAL, "not an RSA"},
        {"rsa2048.pem", "example.com", "s1", EDM_DKIM_ED25519_SHA256, EDM_EINVAL, "not an Ed25519"},
        {"missing.pem", "example.com", "s1", EDM_DKIM_RSA_SHA256, EDM_EIO, "cannot open"},
        {"garbage.pem", "example.com", "s1", EDM_DKIM_RSA_SHA256, EDM_EINVAL, "PEM"},
        {"enc.pem", "example.com", "s1", EDM_DKIM_ED25519_SHA256, EDM_EINVAL, "unencrypted"},
        {"rsa2048.pem", "exa mple.com", "s1", EDM_DKIM_RSA_SHA256, EDM_EINVAL, "domain"},
        {"rsa2048.pem", "example.com", "s;1", EDM_DKIM_RSA_SHA256, EDM_EINVAL, "selector"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        edm_dkim_key *k = NULL;
        char err[256] = "";
        int rc = edm_dkim_key_load(&k, keypath(t[i].file), t[i].domain, t[i].sel, t[i].alg, err,
                                   sizeof err);
        if (rc != t[i].rc || strstr(err, t[i].err) == NULL)
            fail_msg("case %zu (%s): rc %d err \"%s\"", i, t[i].file, rc, err);
        assert_true((rc == 0) == (k != NULL));
        edm_dkim_key_free(k);
    }
    assert_int_equal(edm_dkim_alg_parse("rsa-sha256"), EDM_DKIM_RSA_SHA256);
    assert_int_equal(edm_dkim_alg_parse("ed25519-sha256"), EDM_DKIM_ED25519_SHA256);
    assert_int_equal(edm_dkim_alg_parse("rsa-sha1"), EDM_EINVAL);
}

static void dns_records(void **state)
{
    (void)state;
    edm_dkim_key *rsa = load("rsa2048.pem", "example.com", "s1", EDM_DKIM_RSA_SHA256);
    edm_dkim_key *ed = load("ed25519.pem", "example.com", "ed", EDM_DKIM_ED25519_SHA256);
    edm_buf txt = EDM_BUF_INIT;
    char cmd[8192], *out = NULL;
    /* RSA: p= is the SubjectPublicKeyInfo, as openssl writes it. */
    snprintf(cmd, sizeof cmd, "openssl pkey -in %s -pubout -outform DER | base64 -w0",
             keypath("rsa2048.pem"));
    assert_int_equal(edm_dkim_key_dns_txt(rsa, &txt), 0);
    assert_int_equal(edm_test_run(cmd, &out), 0);
    assert_int_equal(strncmp(txt.data, "v=DKIM1; k=rsa; p=", 18), 0);
    assert_string_equal(txt.data + 18, out);
    free(out);
    /* Ed25519: p= is the raw 32-byte key (RFC 8463 4), the tail of the SPKI. */
    edm_buf_reset(&txt);
    assert_int_equal(edm_dkim_key_dns_txt(ed, &txt), 0);
    snprintf(cmd, sizeof cmd, "openssl pkey -in %s -pubout -outform DER | tail -c 32 | base64 -w0",
             keypath("ed25519.pem"));
    assert_int_equal(edm_test_run(cmd, &out), 0);
    assert_int_equal(strncmp(txt.data, "v=DKIM1; k=ed25519; p=", 22), 0);
    assert_string_equal(txt.data + 22, out);
    assert_int_equal(strlen(out), 44);
    free(out);
    edm_buf_free(&txt);
    edm_dkim_key_free(rsa);
    edm_dkim_key_free(ed);
}

/* The key sets every message is signed with. */
static const struct {
    const char *name;
    const char *files[2];
    enum edm_dkim_alg algs[2];
    const char *sels[2];
    size_t n;
} keysets[] = {
    {"rsa2048", {"rsa2048.pem"}, {EDM_DKIM_RSA_SHA256}, {"rsa2048"}, 1},
    {"ed25519", {"ed25519.pem"}, {EDM_DKIM_ED25519_SHA256}, {"ed"}, 1},
    {"dual",
     {"rsa2048.pem", "ed25519.pem"},
     {EDM_DKIM_RSA_SHA256, EDM_DKIM_ED25519_SHA256},
     {"rsa2048", "ed"},
     2},
    {"rsa1024", {"rsa1024.pem"}, {EDM_DKIM_RSA_SHA256}, {"rsa1024"}, 1},
    {"rsa4096", {"rsa4096.pem"}, {EDM_DKIM_RSA_SHA256}, {"rsa4096"}, 1},
};

/* Writes "<sel>._domainkey.example.com TXT" lines for every key used. */
static void write_dns(const char *dir, edm_dkim_key *const *keys, size_t n)
{
    edm_buf b = EDM_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(edm_buf_appendf(&b, "%s._domainkey.%s ", edm_dkim_key_selector(keys[i]),
                                         edm_dkim_key_domain(keys[i])),
                         0);
        assert_int_equal(edm_dkim_key_dns_txt(keys[i], &b), 0);
        assert_int_equal(edm_buf_append_char(&b, '\n'), 0);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/dns.txt", dir);
    assert_int_equal(edm_test_write_file(path, b.data, b.len), 0);
    edm_buf_free(&b);
}

/* Three tampered copies of a signed message: body, Subject, added From. */
static void write_tampered(const char *dir, const char *name, const edm_buf *signed_msg)
{
    char path[4096];
    edm_buf t = EDM_BUF_INIT;
    assert_int_equal(edm_buf_append(&t, signed_msg->data, signed_msg->len), 0);
    assert_int_equal(edm_buf_append_str(&t, "\r\nappended line\r\n"), 0);
    snprintf(path, sizeof path, "%s/body_%s.eml", dir, name);
    assert_int_equal(edm_test_write_file(path, t.data, t.len), 0);

    edm_buf_reset(&t);
    const char *subj = strstr(signed_msg->data, "\r\nSubject:");
    assert_non_null(subj);
    size_t at = (size_t)(subj - signed_msg->data) + 10;
    assert_int_equal(edm_buf_append(&t, signed_msg->data, at), 0);
    assert_int_equal(edm_buf_append_str(&t, " Re:"), 0);
    assert_int_equal(edm_buf_append(&t, signed_msg->data + at, signed_msg->len - at), 0);
    snprintf(path, sizeof path, "%s/subject_%s.eml", dir, name);
    assert_int_equal(edm_test_write_file(path, t.data, t.len), 0);

    edm_buf_reset(&t);
    const char *from = strstr(signed_msg->data, "\r\nFrom:");
    assert_non_null(from);
    at = (size_t)(from - signed_msg->data) + 2;
    assert_int_equal(edm_buf_append(&t, signed_msg->data, at), 0);
    assert_int_equal(edm_buf_append_str(&t, "From: ceo@attacker.example\r\n"), 0);
    assert_int_equal(edm_buf_append(&t, signed_msg->data + at, signed_msg->len - at), 0);
    snprintf(path, sizeof path, "%s/from_%s.eml", dir, name);
    assert_int_equal(edm_test_write_file(path, t.data, t.len), 0);
    edm_buf_free(&t);
}

/* Our own reading of a signature field: tags, no l=, lines within 78. */
static void check_signature_fields(const char *name, const char *p, size_t nsigs)
{
    size_t seen = 0;
    for (const char *s = p; (s = strstr(s, "DKIM-Signature:")) != NULL; s++) {
        const char *end = strstr(s, "\r\n");
        while (end && (end[2] == ' ' || end[2] == '\t'))
            end = strstr(end + 2, "\r\n");
        assert_non_null(end);
        char *field = strndup(s, (size_t)(end - s));
        for (const char *l = field; l;) {
            const char *nl = strstr(l, "\r\n");
            size_t len = nl ? (size_t)(nl - l) : strlen(l);
            if (len > 78)
                fail_msg("%s: signature line of %zu columns", name, len);
            l = nl ? nl + 2 : NULL;
        }
        /* Unfold (our folds are CRLF SP) before looking at the tags. */
        char *w = field;
        for (const char *r = field; *r; r++) {
            if (r[0] == '\r' && r[1] == '\n' && r[2] == ' ')
                r += 2;
            else
                *w++ = *r;
        }
        *w = '\0';
        if (strstr(field, " l=") || strstr(field, ";l=") || !strstr(field, "c=relaxed/relaxed;") ||
            !strstr(field, "h=From:To:") || !strstr(field, ":From;") ||
            (!strstr(field, " t=") && !strstr(field, ";t=")))
            fail_msg("%s: unexpected signature field:\n%s", name, field);
        free(field);
        seen++;
    }
    if (seen != nsigs)
        fail_msg("%s: %zu signatures, want %zu", name, seen, nsigs);
}

static void expect_fail_lines(const char *out, const char *prefix, const char *name)
{
    char want[512];
    snprintf(want, sizeof want, "%s_%s", prefix, name);
    mime_expect_line(out, want, "fail");
}

static void signed_cases_verify(void **state)
{
    (void)state;
    size_t n;
    const mime_case *cases = mime_cases(&n);
    char *dir = edm_test_tmpdir("dkim");
    char *bad = edm_test_tmpdir("dkimbad");
    edm_dkim_key *all[16];
    size_t nall = 0;
    edm_mime *m = edm_mime_new();
    edm_dkim_signer *s = edm_dkim_signer_new();
    edm_buf out = EDM_BUF_INIT;
    for (size_t k = 0; k < sizeof keysets / sizeof keysets[0]; k++) {
        edm_dkim_key *keys[2];
        for (size_t j = 0; j < keysets[k].n; j++) {
            keys[j] =
                load(keysets[k].files[j], "example.com", keysets[k].sels[j], keysets[k].algs[j]);
            all[nall++] = keys[j];
        }
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s_", keysets[k].name);
        for (size_t i = 0; i < n; i++) {
            mime_case_build(&cases[i], m, s, keys, keysets[k].n, &out);
            char fname[256];
            snprintf(fname, sizeof fname, "%s%s", prefix, cases[i].name);
            check_signature_fields(fname, out.data, keysets[k].n);
            mime_case_write(dir, prefix, &cases[i], out.data, out.len, keysets[k].n);
            if (i % 5 == k % 5 || strcmp(cases[i].name, "plain_ascii") == 0)
                write_tampered(bad, fname, &out);
        }
    }
    write_dns(dir, all, nall);
    write_dns(bad, all, nall);
    char *dkimpy, *mailauth, *bad_dkimpy, *bad_mailauth;
    dkimpy = mime_check_dkimpy(dir);
    mailauth = mime_check_mailauth(dir);
    bad_dkimpy = mime_check_dkimpy(bad);
    bad_mailauth = mime_check_mailauth(bad);
    char *parsed = mime_check_parse(dir);
    size_t tampered = 0;
    for (size_t k = 0; k < sizeof keysets / sizeof keysets[0]; k++) {
        char pass[16];
        snprintf(pass, sizeof pass, "pass %zu", keysets[k].n);
        for (size_t i = 0; i < n; i++) {
            char name[256];
            snprintf(name, sizeof name, "%s_%s", keysets[k].name, cases[i].name);
            char eml[300];
            snprintf(eml, sizeof eml, "%s.eml", name);
            mime_expect_line(dkimpy, eml, pass);
            mime_expect_line(mailauth, eml, pass);
            mime_expect_line(parsed, name, "ok");
            if (i % 5 == k % 5 || strcmp(cases[i].name, "plain_ascii") == 0) {
                static const char *const kinds[] = {"body", "subject", "from"};
                for (size_t t = 0; t < 3; t++) {
                    expect_fail_lines(bad_dkimpy, kinds[t], eml);
                    expect_fail_lines(bad_mailauth, kinds[t], eml);
                    tampered++;
                }
            }
        }
    }
    assert_true(tampered >= 3 * 5);
    free(dkimpy);
    free(mailauth);
    free(bad_dkimpy);
    free(bad_mailauth);
    free(parsed);
    for (size_t i = 0; i < nall; i++)
        edm_dkim_key_free(all[i]);
    edm_buf_free(&out);
    edm_dkim_signer_free(s);
    edm_mime_free(m);
    edm_test_rmtree(dir);
    edm_test_rmtree(bad);
    free(dir);
    free(bad);
}

static void sign_errors(void **state)
{
    (void)state;
    edm_dkim_key *k = load("ed25519.pem", "example.com", "ed", EDM_DKIM_ED25519_SHA256);
    edm_dkim_signer *s = edm_dkim_signer_new();
    edm_buf out = EDM_BUF_INIT;
    static const char *const bad[] = {
        "To: a@example.com\r\nSubject: no from\r\n\r\nbody\r\n",
        " continuation first\r\nFrom: a@example.com\r\n\r\n",
        "From: a@example.com\r\nnot a header line\r\n\r\nbody",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        edm_buf_reset(&out);
        assert_int_equal(edm_buf_append_str(&out, "keep"), 0);
        assert_int_equal(edm_dkim_sign(s, &k, 1, bad[i], strlen(bad[i]), 0, &out), EDM_EINVAL);
        assert_string_equal(out.data, "keep");
    }
    /* A message with no body at all still signs (empty body hash). */
    static const char nobody[] = "From: a@example.com\r\nTo: b@example.com\r\n";
    edm_buf_reset(&out);
    assert_int_equal(edm_dkim_sign(s, &k, 1, nobody, strlen(nobody), 0, &out), 0);
    assert_non_null(strstr(out.data, "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"));
    edm_buf_free(&out);
    edm_dkim_signer_free(s);
    edm_dkim_key_free(k);
}

/* Injected allocation failures leave out as it was; a warm signer
 * allocates nothing of ours. */
static void sign_alloc_failures(void **state)
{
    (void)state;
    edm_dkim_key *keys[2] = {load("rsa1024.pem", "example.com", "r", EDM_DKIM_RSA_SHA256),
                             load("ed25519.pem", "example.com", "ed", EDM_DKIM_ED25519_SHA256)};
    size_t n;
    const mime_case *cases = mime_cases(&n);
    edm_mime *m = edm_mime_new();
    edm_buf msg = EDM_BUF_INIT, out = EDM_BUF_INIT;
    assert_int_equal(edm_mime_compose(m, &cases[0].msg, &msg), 0);
    int done = 0;
    for (long k = 0; k < 100 && !done; k++) {
        edm_dkim_signer *s = edm_dkim_signer_new();
        assert_non_null(s);
        edm_buf_reset(&out);
        assert_int_equal(edm_buf_append_str(&out, "pre"), 0);
        edm_alloc_fail_after(k);
        int rc = edm_dkim_sign(s, keys, 2, msg.data, msg.len, 0, &out);
        edm_alloc_fail_after(-1);
        if (rc == 0) {
            done = 1;
        } else {
            assert_int_equal(rc, EDM_ENOMEM);
            assert_string_equal(out.data, "pre");
        }
        edm_dkim_signer_free(s);
    }
    assert_true(done);
    edm_dkim_signer *s = edm_dkim_signer_new();
    for (size_t i = 0; i < n; i++) {
        edm_buf_reset(&msg);
        assert_int_equal(edm_mime_compose(m, &cases[i].msg, &msg), 0);
        edm_buf_reset(&out);
        assert_int_equal(edm_dkim_sign(s, keys, 2, msg.data, msg.len, 0, &out), 0);
    }
    assert_int_equal(edm_buf_reserve(&out, 1 << 16), 0);
    for (size_t i = 0; i < n; i++) {
        edm_buf_reset(&msg);
        assert_int_equal(edm_mime_compose(m, &cases[i].msg, &msg), 0);
        edm_buf_reset(&out);
        edm_alloc_fail_after(0);
        int rc = edm_dkim_sign(s, keys, 2, msg.data, msg.len, 0, &out);
        long injected = edm_alloc_injected_failures();
        edm_alloc_fail_after(-1);
        if (rc != 0 || injected != 0)
            fail_msg("%s: a warm signer allocated (rc %d)", cases[i].name, rc);
    }
    edm_dkim_signer_free(s);
    edm_buf_free(&msg);
    edm_buf_free(&out);
    edm_mime_free(m);
    edm_dkim_key_free(keys[0]);
    edm_dkim_key_free(keys[1]);
}

/* One signer, more keys than its cache slots, used round and round: every
 * signature equals the one a fresh signer makes (RSA PKCS#1 v1.5 and
 * Ed25519 are deterministic), so no slot ever signs with a stale key. */
static void signer_slots_cycle(void **state)
{
    (void)state;
    enum { K = 11 };
    edm_dkim_key *keys[K];
    for (int i = 0; i < K; i++) {
        char sel[16];
        snprintf(sel, sizeof sel, "k%d", i);
        keys[i] = i % 3 == 0 ? load("rsa1024.pem", "example.com", sel, EDM_DKIM_RSA_SHA256)
                             : load("ed25519.pem", "example.com", sel, EDM_DKIM_ED25519_SHA256);
    }
    static const char msg[] =
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\n\r\nhi\r\n";
    edm_buf want[K], got = EDM_BUF_INIT;
    for (int i = 0; i < K; i++) {
        edm_dkim_signer *fresh = edm_dkim_signer_new();
        edm_buf_init(&want[i]);
        assert_int_equal(edm_dkim_sign(fresh, &keys[i], 1, msg, sizeof msg - 1, 7, &want[i]), 0);
        edm_dkim_signer_free(fresh);
    }
    edm_dkim_signer *s = edm_dkim_signer_new();
    for (int round = 0; round < 3; round++) {
        for (int j = 0; j < K; j++) {
            int i = (j * 7 + round) % K;
            edm_buf_reset(&got);
            assert_int_equal(edm_dkim_sign(s, &keys[i], 1, msg, sizeof msg - 1, 7, &got), 0);
            assert_string_equal(got.data, want[i].data);
        }
    }
    edm_dkim_signer_free(s);
    edm_buf_free(&got);
    for (int i = 0; i < K; i++) {
        edm_buf_free(&want[i]);
        edm_dkim_key_free(keys[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(canonicalisation),    cmocka_unit_test(key_loading),
        cmocka_unit_test(dns_records),         cmocka_unit_test(sign_errors),
        cmocka_unit_test(sign_alloc_failures), cmocka_unit_test(signer_slots_cycle),
        cmocka_unit_test(signed_cases_verify),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
