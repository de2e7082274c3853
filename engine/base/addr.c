/*
 * engine/base/addr.c: the address validator (see addr.h).
 *
 * Entry points: edm_addr_normalize, edm_addr_normalize_domain,
 * edm_addr_mailbox (0 or EDM_EINVAL with a constant reason), and
 * edm_addr_sendable, edm_addr_domain_sendable (1 or 0).
 *
 * Rules (RFC 5321 section 4.1.2 and 4.5.3.1): local part a dot-string of
 * ASCII atext, at most 64 octets; domain at least two labels, each 1..63
 * octets of letters, digits and inner hyphens, a top-level label that is
 * not all digits; the whole address at most 254 octets. Internationalised
 * labels are converted to A-labels with Punycode (RFC 3492). The edges and
 * the composer share local_check and ldh_label_check, so what the edges
 * return always passes edm_addr_sendable.
 *
 * Refused on purpose (edm cannot send them: docs/messages.md): quoted local
 * parts, non-ASCII local parts (SMTPUTF8) and address literals.
 *
 * Known limits: no full Unicode case folding or NFC (no tables): ASCII
 * letters are lower-cased everywhere, and Latin-1, Latin Extended-A, Greek
 * and Cyrillic capitals inside U-labels before conversion; no IDNA 2008 code
 * point table either (any printable non-ASCII code point passes).
 */
#include "engine/base/addr.h"
#include "engine/base/err.h"
#include "engine/base/utf8.h"

#include <stdint.h>
#include <string.h>

/* RFC 5322 atext (ASCII only). */
static int is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int is_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Lower-cases the common alphabetic blocks (Latin-1, Latin Extended-A,
 * Greek, Cyrillic): enough to fold the usual capitals in IDN labels without
 * Unicode tables. */
static uint32_t lower_cp(uint32_t c)
{
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3AB && c != 0x3A2) ||
        (c >= 0x410 && c <= 0x42F))
        return c + 0x20;
    if (c >= 0x400 && c <= 0x40F)
        return c + 0x50;
    if (c >= 0x100 && c <= 0x137 && c % 2 == 0)
        return c + 1;
    if (c >= 0x139 && c <= 0x148 && c % 2 == 1)
        return c + 1;
    if (c >= 0x14A && c <= 0x177 && c % 2 == 0)
        return c + 1;
    if (c == 0x178)
        return 0xFF;
    if (c >= 0x179 && c <= 0x17E && c % 2 == 1)
        return c + 1;
    return c;
}

/* RFC 3492 Punycode encoding of cps[0..n) after "xn--" into out[0..cap).
 * Returns the length written or 0 if it does not fit. */
static size_t punycode(const uint32_t *cps, size_t n, char *out, size_t cap)
{
    enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700 };
    size_t o = 0, h, b = 0;
    for (size_t j = 0; j < n; j++)
        if (cps[j] < 0x80) {
            if (o >= cap)
                return 0;
            out[o++] = (char)cps[j];
            b++;
        }
    h = b;
    if (b > 0) {
        if (o >= cap)
            return 0;
        out[o++] = '-';
    }
    uint32_t cpn = 0x80, delta = 0, bias = 72;
    while (h < n) {
        uint32_t m = UINT32_MAX;
        for (size_t j = 0; j < n; j++)
            if (cps[j] >= cpn && cps[j] < m)
                m = cps[j];
        if ((uint64_t)(m - cpn) * (h + 1) + delta > UINT32_MAX)
            return 0;
        delta += (m - cpn) * (uint32_t)(h + 1);
        cpn = m;
        for (size_t j = 0; j < n; j++) {
            if (cps[j] < cpn)
                delta++;
            if (cps[j] == cpn) {
                uint32_t q = delta;
                for (uint32_t k = BASE;; k += BASE) {
                    uint32_t t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
                    if (q < t)
                        break;
                    uint32_t d = t + (q - t) % (BASE - t);
                    if (o >= cap)
                        return 0;
                    out[o++] = (char)(d < 26 ? 'a' + d : '0' + d - 26);
                    q = (q - t) / (BASE - t);
                }
                if (o >= cap)
                    return 0;
                out[o++] = (char)(q < 26 ? 'a' + q : '0' + q - 26);
                /* adapt the bias */
                uint32_t dl = h == b ? delta / DAMP : delta / 2;
                dl += dl / (uint32_t)(h + 1);
                uint32_t k = 0;
                while (dl > ((BASE - TMIN) * TMAX) / 2) {
                    dl /= BASE - TMIN;
                    k += BASE;
                }
                bias = k + (BASE - TMIN + 1) * dl / (dl + SKEW);
                delta = 0;
                h++;
            }
        }
        delta++;
        cpn++;
    }
    return o;
}

/* An ASCII LDH label s[0..n): 0 or EDM_EINVAL with *why. */
static int ldh_label_check(const char *s, size_t n, const char **why)
{
    if (n == 0) {
        *why = "empty domain label";
        return EDM_EINVAL;
    }
    if (n > 63) {
        *why = "domain label longer than 63 octets";
        return EDM_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (!is_ldh((unsigned char)s[i])) {
            *why = "invalid character in domain";
            return EDM_EINVAL;
        }
    if (s[0] == '-' || s[n - 1] == '-') {
        *why = "domain label starts or ends with a hyphen";
        return EDM_EINVAL;
    }
    return 0;
}

/* A local part s[0..n) edm can send: an ASCII dot-atom of 1..64 octets.
 * 0 or EDM_EINVAL with *why. */
static int local_check(const char *s, size_t n, const char **why)
{
    if (n == 0) {
        *why = "empty local part";
        return EDM_EINVAL;
    }
    if (s[0] == '"') {
        *why = "quoted local parts are not supported";
        return EDM_EINVAL;
    }
    if (n > 64) {
        *why = "local part longer than 64 octets";
        return EDM_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (i == 0 || i + 1 == n || s[i + 1] == '.') {
                *why = "misplaced dot in local part";
                return EDM_EINVAL;
            }
        } else if (c >= 0x80) {
            *why = edm_utf8_valid(s + i, n - i)
                       ? "non-ASCII local parts are not supported (SMTPUTF8)"
                       : "invalid UTF-8 in local part";
            return EDM_EINVAL;
        } else if (!is_atext(c)) {
            *why = "invalid character in local part";
            return EDM_EINVAL;
        }
    }
    return 0;
}

/* Appends one normalised label s[0..n) to out at *o. */
static int put_label(const char *s, size_t n, char *out, size_t *o, const char **why)
{
    int ascii = 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            ascii = 0;
    if (ascii) {
        int rc = ldh_label_check(s, n, why);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            out[(*o)++] = lower(s[i]);
        return 0;
    }
    uint32_t cps[256];
    size_t ncp = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = edm_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (l == 0) {
            *why = "invalid UTF-8 in domain";
            return EDM_EINVAL;
        }
        if (cp < 0x80) {
            if (!is_ldh((unsigned char)cp) || (cp == '-' && (i == 0 || i + 1 == n))) {
                *why = "invalid character in domain";
                return EDM_EINVAL;
            }
            cp = (uint32_t)lower((char)cp);
        } else if (cp < 0xA1 || (cp >= 0x2000 && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF) {
            *why = "invalid character in domain";
            return EDM_EINVAL;
        }
        cp = lower_cp(cp);
        if (ncp >= sizeof cps / sizeof cps[0]) {
            *why = "domain label longer than 63 octets";
            return EDM_EINVAL;
        }
        cps[ncp++] = cp;
        i += l;
    }
    char enc[64];
    size_t el = punycode(cps, ncp, enc, 59);
    if (el == 0) {
        *why = "domain label longer than 63 octets";
        return EDM_EINVAL;
    }
    memcpy(out + *o, "xn--", 4);
    memcpy(out + *o + 4, enc, el);
    *o += 4 + el;
    return 0;
}

/* Normalises domain d[0..n) into out at *o (out has EDM_ADDR_MAX bytes). */
static int put_domain(const char *d, size_t n, char *out, size_t *o, const char **why)
{
    if (n == 0) {
        *why = "missing domain";
        return EDM_EINVAL;
    }
    if (d[0] == '[') {
        *why = "address literals are not supported";
        return EDM_EINVAL;
    }
    if (n > 255 * 4) { /* UTF-8 at most 4 octets a character */
        *why = "domain longer than 255 octets";
        return EDM_EINVAL;
    }
    size_t start = *o, labels = 0, last = 0;
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && d[j] != '.')
            j++;
        if (j == n && i == n && labels > 0) {
            *why = "domain ends with a dot";
            return EDM_EINVAL;
        }
        if (*o - start > 255 || EDM_ADDR_MAX - *o < 64 + 2) {
            *why = "domain longer than 255 octets";
            return EDM_EINVAL;
        }
        if (labels > 0)
            out[(*o)++] = '.';
        last = *o;
        int rc = put_label(d + i, j - i, out, o, why);
        if (rc != 0)
            return rc;
        labels++;
        i = j + 1;
        if (j == n)
            break;
    }
    if (*o - start > 255) {
        *why = "domain longer than 255 octets";
        return EDM_EINVAL;
    }
    if (labels < 2) {
        *why = "domain needs at least two labels";
        return EDM_EINVAL;
    }
    int digits = 1;
    for (size_t i = last; i < *o; i++)
        if (out[i] < '0' || out[i] > '9')
            digits = 0;
    if (digits) {
        *why = "top-level domain is all digits";
        return EDM_EINVAL;
    }
    return 0;
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* The common path: keep_case 0 for recipients, 1 for From / Reply-To. */
static int normalize(const char *in, size_t len, int keep_case, char out[EDM_ADDR_MAX],
                     size_t *domain_off, const char **why)
{
    trim(&in, &len);
    if (len == 0) {
        *why = "empty address";
        return EDM_EINVAL;
    }
    if (memchr(in, '\0', len)) {
        *why = "NUL byte in address";
        return EDM_EINVAL;
    }
    size_t at = len;
    while (at > 0 && in[at - 1] != '@')
        at--;
    if (at == 0) {
        *why = "missing @";
        return EDM_EINVAL;
    }
    at--; /* index of the last '@' */
    int rc = local_check(in, at, why);
    if (rc != 0)
        return rc;
    size_t o = 0;
    for (size_t i = 0; i < at; i++)
        out[o++] = keep_case ? in[i] : lower(in[i]);
    out[o++] = '@';
    *domain_off = o;
    rc = put_domain(in + at + 1, len - at - 1, out, &o, why);
    if (rc != 0)
        return rc;
    if (o > 254) {
        *why = "address longer than 254 octets";
        return EDM_EINVAL;
    }
    out[o] = '\0';
    EDM_ASSERT(edm_addr_sendable(out));
    return 0;
}

int edm_addr_normalize(const char *in, size_t len, char out[EDM_ADDR_MAX], size_t *domain_off,
                       const char **why)
{
    return normalize(in, len, 0, out, domain_off, why);
}

int edm_addr_normalize_domain(const char *in, size_t len, char out[EDM_ADDR_MAX], const char **why)
{
    trim(&in, &len);
    if (memchr(in, '\0', len)) {
        *why = "NUL byte in domain";
        return EDM_EINVAL;
    }
    size_t o = 0;
    int rc = put_domain(in, len, out, &o, why);
    if (rc != 0)
        return rc;
    out[o] = '\0';
    return 0;
}

int edm_addr_mailbox(const char *in, size_t len, edm_mailbox *mb, const char **why)
{
    mb->name = NULL;
    mb->name_len = 0;
    if (memchr(in, '\0', len)) {
        *why = "NUL byte in address";
        return EDM_EINVAL;
    }
    if (memchr(in, '\r', len) || memchr(in, '\n', len)) {
        *why = "line break in address";
        return EDM_EINVAL;
    }
    /* Find '<' and '>' outside quoted strings; a ',' or ';' there starts a
     * second mailbox (or ends a group). */
    size_t lt = len, gt = len;
    int quoted = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (quoted) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '"')
                quoted = 0;
        } else if (c == '"') {
            quoted = 1;
        } else if (c == ',' || c == ';' || (c == '<' && lt < len)) {
            *why = "only one address is allowed (quote a display name holding , or ;)";
            return EDM_EINVAL;
        } else if (c == '<') {
            lt = i;
        } else if (c == '>') {
            if (lt == len || gt < len) {
                *why = "misplaced >";
                return EDM_EINVAL;
            }
            gt = i;
        }
    }
    if (quoted) {
        *why = "unterminated quoted string";
        return EDM_EINVAL;
    }
    if (lt == len)
        return normalize(in, len, 1, mb->addr, &mb->domain_off, why);
    if (gt == len) {
        *why = "expected \"Name <address>\"";
        return EDM_EINVAL;
    }
    const char *rest = in + gt + 1;
    size_t nrest = len - gt - 1;
    trim(&rest, &nrest);
    if (nrest > 0) {
        *why = "text after the address";
        return EDM_EINVAL;
    }
    int rc = normalize(in + lt + 1, gt - lt - 1, 1, mb->addr, &mb->domain_off, why);
    if (rc != 0)
        return rc;
    const char *name = in;
    size_t n = lt;
    trim(&name, &n);
    if (n >= 2 && name[0] == '"' && name[n - 1] == '"') {
        name++;
        n -= 2;
    }
    if (n > 0) {
        mb->name = name;
        mb->name_len = n;
    }
    return 0;
}

int edm_addr_domain_sendable(const char *d, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    const char *why;
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && d[j] != '.')
            j++;
        if (ldh_label_check(d + i, j - i, &why) != 0)
            return 0;
        i = j + 1;
    }
    return 1;
}

int edm_addr_sendable(const char *addr)
{
    if (addr == NULL)
        return 0;
    const char *at = strrchr(addr, '@');
    const char *why;
    if (at == NULL || local_check(addr, (size_t)(at - addr), &why) != 0)
        return 0;
    size_t dn = strlen(at + 1);
    return (size_t)(at - addr) + 1 + dn <= 254 && edm_addr_domain_sendable(at + 1, dn);
}
