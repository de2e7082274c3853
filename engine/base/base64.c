/*
 * engine/base/base64.c: base64 (see base64.h). A table-driven encoder that
 * writes straight into the reserved buffer; the decoder ignores
 * whitespace and accepts only canonical padding at the end.
 */
#include "engine/base/base64.h"
#include "engine/base/err.h"

#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void edm_base64_encode_raw(char *dst, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        *dst++ = b64[v >> 18];
        *dst++ = b64[(v >> 12) & 63];
        *dst++ = b64[(v >> 6) & 63];
        *dst++ = b64[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
        *dst++ = b64[v >> 18];
        *dst++ = b64[(v >> 12) & 63];
        *dst++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *dst++ = '=';
    }
}

int edm_base64_encode(edm_buf *out, const void *p, size_t n, size_t line_cols)
{
    size_t enc = EDM_BASE64_LEN(n);
    size_t lines = line_cols ? (enc + line_cols - 1) / line_cols : 0;
    int rc = edm_buf_reserve(out, enc + 2 * lines);
    if (rc != 0)
        return rc;
    if (line_cols == 0) {
        edm_base64_encode_raw(out->data + out->len, p, n);
        out->len += enc;
    } else {
        size_t chunk = line_cols / 4 * 3;
        const unsigned char *s = p;
        for (size_t off = 0; off < n; off += chunk) {
            size_t k = n - off < chunk ? n - off : chunk;
            edm_base64_encode_raw(out->data + out->len, s + off, k);
            out->len += EDM_BASE64_LEN(k);
            out->data[out->len++] = '\r';
            out->data[out->len++] = '\n';
        }
    }
    out->data[out->len] = '\0';
    return 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int edm_base64_decode(edm_buf *out, const char *s, size_t n)
{
    unsigned v = 0;
    int bits = 0, pad = 0;
    size_t start = out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int d = b64_value(c);
        if (d < 0 || pad) {
            out->len = start;
            if (out->data)
                out->data[start] = '\0';
            return EDM_EINVAL;
        }
        v = (v << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            int rc = edm_buf_append_char(out, (char)((v >> bits) & 0xff));
            if (rc != 0) {
                out->len = start;
                return rc;
            }
        }
    }
    /* Leftover bits must be padding zeros, and '=' must complete a quad. */
    if (pad > 2 || (bits == 0 && pad) || (bits == 4 && pad != 2) || (bits == 2 && pad != 1) ||
        bits == 6 || (v & ((1u << bits) - 1)) != 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return EDM_EINVAL;
    }
    return 0;
}
