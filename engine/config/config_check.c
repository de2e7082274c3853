/*
 * engine/config/config_check.c: the configuration's error collection, key paths
 * and value checkers (addresses, host:port, domain names and patterns,
 * URLs, environment variable names, reply code prefixes, DKIM key files,
 * the webhooks CA file).
 *
 * Entry points: config_error, config_enter_key/index, config_leave,
 * config_check_* (see config_int.h). Checkers return true when the value
 * is valid, else report "PATH: reason" and return false.
 * Limits: key files are read only when regular and at most 64 KiB.
 */
#include "engine/base/alloc.h"
#include "engine/base/log.h"
#include "engine/base/buf.h"
#include "engine/config/config_int.h"
#include "engine/base/err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX 65536

static void errors_vadd(edm_config_errors *errs, const char *fmt, va_list ap)
{
    edm_buf b = EDM_BUF_INIT;
    if (edm_buf_vappendf(&b, fmt, ap) != 0)
        EDM_PANIC("out of memory");
    errs->msg = edm_xrealloc(errs->msg, (errs->count + 1) * sizeof *errs->msg);
    errs->msg[errs->count++] = edm_buf_detach(&b, NULL);
}

void config_errors_add(edm_config_errors *errs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errors_vadd(errs, fmt, ap);
    va_end(ap);
}

void config_error(struct config_ctx *c, const char *fmt, ...)
{
    if (c->errs->count >= CONFIG_MAX_ERRORS) {
        c->dropped++;
        return;
    }
    edm_buf b = EDM_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = edm_buf_appendf(&b, "%s: ", c->plen ? c->path : "top level");
    rc |= edm_buf_vappendf(&b, fmt, ap);
    va_end(ap);
    if (rc != 0)
        EDM_PANIC("out of memory");
    config_errors_add(c->errs, "%s", edm_buf_cstr(&b));
    edm_buf_free(&b);
}

size_t config_enter_key(struct config_ctx *c, const char *key)
{
    size_t old = c->plen;
    size_t room = sizeof c->path - 1;
    if (c->plen > 0 && c->plen < room)
        c->path[c->plen++] = '.';
    /* Keys come from the user: keep control characters out of messages. */
    for (const char *k = key; *k && c->plen < room; k++)
        c->path[c->plen++] = (unsigned char)*k < 0x20 || *k == 0x7f ? '?' : *k;
    c->path[c->plen] = '\0';
    return old;
}

size_t config_enter_index(struct config_ctx *c, size_t i)
{
    size_t old = c->plen;
    int n = snprintf(c->path + c->plen, sizeof c->path - c->plen, "[%zu]", i);
    if (n > 0)
        c->plen += (size_t)n < sizeof c->path - c->plen ? (size_t)n : sizeof c->path - c->plen - 1;
    return old;
}

void config_leave(struct config_ctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

char *config_lower(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = edm_strndup(s, n);
    if (d == NULL)
        EDM_PANIC("out of memory");
    return d;
}

static bool parse_ip(const char *s, char **canon, int *family)
{
    unsigned char bin[sizeof(struct in6_addr)];
    char out[INET6_ADDRSTRLEN];
    int fam = strchr(s, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(fam, s, bin) != 1 || inet_ntop(fam, bin, out, sizeof out) == NULL)
        return false;
    if (canon)
        *canon = edm_xstrdup(out);
    if (family)
        *family = fam;
    return true;
}

bool config_check_ip(struct config_ctx *c, const char *s, char **canon, int *family)
{
    if (parse_ip(s, canon, family))
        return true;
    config_error(c, "not an IP address");
    return false;
}

bool config_is_domain(const char *s)
{
    size_t len = strlen(s), label = 0;
    if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (label == 0 || p[-1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
        if (*p == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    return s[len - 1] != '-';
}

bool config_is_hostname(const char *s)
{
    if (!config_is_domain(s))
        return false;
    const char *last = strrchr(s, '.');
    last = last ? last + 1 : s;
    return strspn(last, "0123456789") < strlen(last); /* 1.2.3.999 is no name */
}

bool config_check_domain(struct config_ctx *c, const char *s)
{
    if (config_is_hostname(s))
        return true;
    config_error(c, "not a domain name");
    return false;
}

bool config_check_pattern(struct config_ctx *c, const char *s)
{
    if (strcmp(s, "*") == 0 || config_is_hostname(strncmp(s, "*.", 2) == 0 ? s + 2 : s))
        return true;
    config_error(c, "not a domain pattern (example.com, *.example.com or *)");
    return false;
}

bool config_check_rule_pattern(struct config_ctx *c, const char *s)
{
    if (strncmp(s, "mx:", 3) != 0)
        return config_check_pattern(c, s);
    const char *p = s + 3;
    if (strcmp(p, "*") != 0 && config_is_hostname(strncmp(p, "*.", 2) == 0 ? p + 2 : p))
        return true;
    config_error(c, "not an MX host pattern (mx:mx.example.com or mx:*.example.com)");
    return false;
}

static bool parse_port(const char *s, int *port)
{
    int v = 0;
    if (*s == '\0' || strlen(s) > 5)
        return false;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return false;
        v = v * 10 + (*s - '0');
    }
    if (v < 1 || v > 65535)
        return false;
    *port = v;
    return true;
}

static bool parse_hostport(const char *s, bool ip_only, bool port_optional, char **host, int *port)
{
    char *h = NULL;
    const char *ps = NULL;
    int p = 0;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':'))
            return false;
        h = xstrndup(s + 1, (size_t)(end - s - 1));
        if (!strchr(h, ':') || !parse_ip(h, NULL, NULL))
            goto bad;
        ps = end[1] == ':' ? end + 2 : NULL;
    } else if (port_optional && strchr(s, ':') != strrchr(s, ':')) {
        h = edm_xstrdup(s); /* a bare IPv6 address */
        if (!parse_ip(h, NULL, NULL))
            goto bad;
    } else {
        const char *colon = strchr(s, ':');
        h = colon ? xstrndup(s, (size_t)(colon - s)) : edm_xstrdup(s);
        ps = colon ? colon + 1 : NULL;
        if (!(parse_ip(h, NULL, NULL) || (!ip_only && config_is_hostname(h))))
            goto bad;
    }
    if (ps == NULL ? !port_optional : !parse_port(ps, &p))
        goto bad;
    *host = config_lower(h);
    *port = p;
    return true;
bad:
    edm_free(h);
    return false;
}

bool config_check_hostport(struct config_ctx *c, const char *s, bool ip_only, bool port_optional,
                           char **host, int *port)
{
    if (parse_hostport(s, ip_only, port_optional, host, port))
        return true;
    if (ip_only)
        config_error(c, port_optional ? "expected an IP address with an optional :port"
                                      : "expected IP:port (or [IPv6]:port)");
    else
        config_error(c, "expected host:port (or [IPv6]:port)");
    return false;
}

bool config_check_env_name(struct config_ctx *c, const char *s)
{
    bool ok = *s && !isdigit((unsigned char)*s);
    for (const char *p = s; *p && ok; p++)
        ok = isalnum((unsigned char)*p) || *p == '_';
    if (!ok)
        config_error(c, "not an environment variable name");
    return ok;
}

bool config_check_https_url(struct config_ctx *c, const char *s)
{
    bool ok = strncmp(s, "https://", 8) == 0;
    if (ok) {
        size_t n = strcspn(s + 8, "/?#");
        char *hp = xstrndup(s + 8, n), *host = NULL;
        int port;
        ok = parse_hostport(hp, false, true, &host, &port);
        edm_free(hp);
        edm_free(host);
    }
    for (const char *p = s; *p && ok; p++)
        ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f;
    if (!ok)
        config_error(c, "not an https:// URL");
    return ok;
}

bool config_check_code_prefix(struct config_ctx *c, const char *s)
{
    /* Basic: [45] then up to two digits. Enhanced: [45] "." subject "." detail,
     * each 1-3 digits, possibly cut short after any dot. */
    bool ok = s[0] == '4' || s[0] == '5';
    if (ok && strchr(s, '.') == NULL) {
        ok = strlen(s) <= 3 && strspn(s, "0123456789") == strlen(s);
    } else if (ok) {
        const char *p = s + 1;
        int parts = 0;
        while (ok && *p == '.' && parts < 2) {
            size_t d = strspn(++p, "0123456789");
            ok = d <= 3 && (d > 0 || *p == '\0');
            p += d;
            parts++;
        }
        ok = ok && *p == '\0';
    }
    if (!ok)
        config_error(c, "not a reply code prefix (like \"421\" or \"4.7.\")");
    return ok;
}

static int key_password_cb(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0; /* encrypted keys are refused, never prompted for */
}

bool config_check_dkim_key(struct config_ctx *c, const char *path, enum edm_dkim_alg alg)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 && errno == ENOENT) {
        /* A key that is not there yet is not a configuration mistake (the
         * example config names one): warn; the engine refuses to start
         * without it. A key that is there must be right. */
        edm_log(EDM_LOG_WARN, "config",
                "key=%s msg=\"cannot read %s: %s; edm serve and edm send need it\"",
                c->plen ? c->path : "dkim", path, strerror(errno));
        return true;
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        config_error(c, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
        config_error(c, "%s: not a key file (a regular file of at most %d bytes)", path,
                     KEY_FILE_MAX);
        close(fd);
        return false;
    }
    char *pem = edm_xmalloc((size_t)st.st_size + 1);
    ssize_t n = read(fd, pem, (size_t)st.st_size);
    int rerr = errno;
    close(fd);
    if (n < 0) {
        config_error(c, "cannot read %s: %s", path, strerror(rerr));
        edm_free(pem);
        return false;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, key_password_cb, NULL) : NULL;
    BIO_free(bio);
    edm_free(pem);
    bool ok = false;
    if (key == NULL)
        config_error(c, "%s: not an unencrypted PEM private key", path);
    else if (alg == EDM_DKIM_RSA_SHA256 && EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
        config_error(c, "%s: not an RSA key (algorithm rsa-sha256)", path);
    else if (alg == EDM_DKIM_RSA_SHA256 && EVP_PKEY_get_bits(key) < 1024)
        config_error(c, "%s: RSA key of %d bits (1024 at least, 2048 advised)", path,
                     EVP_PKEY_get_bits(key));
    else if (alg == EDM_DKIM_ED25519_SHA256 && EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519)
        config_error(c, "%s: not an Ed25519 key (algorithm ed25519-sha256)", path);
    else
        ok = true;
    EVP_PKEY_free(key);
    return ok;
}

char *config_resolve_path(const char *base_dir, const char *rel)
{
    if (base_dir == NULL || rel[0] == '/')
        return edm_xstrdup(rel);
    edm_buf b = EDM_BUF_INIT;
    size_t n = strlen(base_dir);
    if (edm_buf_appendf(&b, "%s%s%s", base_dir, n && base_dir[n - 1] == '/' ? "" : "/", rel) != 0)
        EDM_PANIC("out of memory");
    return edm_buf_detach(&b, NULL);
}

void config_set_ca_file(struct config_ctx *c, char *rel, char **out)
{
    edm_free(*out);
    *out = config_resolve_path(c->base_dir, rel);
    edm_free(rel);
    size_t old = config_enter_key(c, "ca_file");
    BIO *bio = BIO_new_file(*out, "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (bio == NULL)
        config_error(c, "cannot read %s: %s", *out, strerror(errno));
    else if (x == NULL)
        config_error(c, "%s: no PEM certificate in it", *out);
    X509_free(x);
    BIO_free(bio);
    config_leave(c, old);
}
