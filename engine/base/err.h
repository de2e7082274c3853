/*
 * engine/base/err.h: edm's recoverable error codes.
 *
 * Functions that can fail for a reason the caller may handle return 0 (or a
 * non-negative count) on success and a negative EDM_E* code on failure.
 * Broken invariants are fatal (edm_panic), never a code. Delivery outcomes
 * (delivered, deferred, bounced) are data, never codes.
 */
#ifndef EDM_ERR_H
#define EDM_ERR_H

enum edm_err {
    EDM_OK = 0,
    EDM_ENOMEM = -1,     /* allocation failed */
    EDM_EINVAL = -2,     /* invalid argument or input */
    EDM_EIO = -3,        /* I/O or system call failed */
    EDM_ENOTFOUND = -4,  /* no such object */
    EDM_ESTATE = -5,     /* operation not allowed in the object's state */
    EDM_ETOOBIG = -6,    /* over a size or count limit */
    EDM_EPROTO = -7,     /* peer broke the protocol */
    EDM_ETIMEOUT = -8,   /* timed out */
    EDM_ETLS = -9,       /* TLS failure */
    EDM_EDNS = -10,      /* DNS failure */
    EDM_EEXIST = -11,    /* already exists */
    EDM_EDB = -12,       /* storage failure */
    EDM_ECANCELED = -13, /* operation cancelled */
    EDM_EBUSY = -14      /* a resource is held elsewhere for now: try again later */
};

/* Short constant text for an EDM_E* code ("out of memory"). */
const char *edm_strerror(int code);

/* Report a broken invariant and abort. Never returns. */
void edm_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define EDM_PANIC(...) edm_panic(__FILE__, __LINE__, __VA_ARGS__)
/* An assertion that fires in release builds too. */
#define EDM_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            edm_panic(__FILE__, __LINE__, "assertion failed: %s", #cond);                          \
    } while (0)

#endif
