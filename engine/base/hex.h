/*
 * engine/base/hex.h: the value of one hexadecimal digit, for the decoders
 * that read "=XX" (quoted-printable, RFC 2047 Q words) and PostgreSQL's
 * hex bytea, and the API's %XX query decoding.
 */
#ifndef EDM_HEX_H
#define EDM_HEX_H

/* 0-15 for 0-9, a-f, A-F; -1 for anything else. */
static inline int edm_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
