/*
 * engine/base/err.c: texts of EDM_E* codes and the fatal path for broken
 * invariants (edm_panic logs one line and aborts).
 */
#include "engine/base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *edm_strerror(int code)
{
    switch (code) {
    case EDM_OK: return "ok";
    case EDM_ENOMEM: return "out of memory";
    case EDM_EINVAL: return "invalid argument";
    case EDM_EIO: return "i/o error";
    case EDM_ENOTFOUND: return "not found";
    case EDM_ESTATE: return "wrong state";
    case EDM_ETOOBIG: return "too big";
    case EDM_EPROTO: return "protocol error";
    case EDM_ETIMEOUT: return "timed out";
    case EDM_ETLS: return "tls error";
    case EDM_EDNS: return "dns error";
    case EDM_EEXIST: return "already exists";
    case EDM_EDB: return "storage error";
    case EDM_ECANCELED: return "cancelled";
    case EDM_EBUSY: return "busy, try again";
    default: return "unknown error";
    }
}

void edm_panic(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "level=fatal at=%s:%d msg=\"", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\"\n", stderr);
    fflush(stderr);
    abort();
}
