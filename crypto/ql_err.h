/*
 * ql_err: the error codes and the diagnostic every qingling function reports
 * through.
 *
 * This module sits in crypto/, the lowest layer, because crypto/ itself
 * returns these codes and must not depend on engine/ (docs/decisions.md).
 * Every fallible function returns a ql_err, and writes a one-line message
 * into a caller-owned struct ql_diag when it fails. Numbers are stable and
 * never reused: cli/ maps each code's class to an exit code, and scripts may
 * read the names in --json output.
 */
#ifndef QL_ERR_H
#define QL_ERR_H

#include <stddef.h>

/*
 * X(NAME, number, text). The exit class (see ql_err_class) groups codes the
 * way DESIGN.md section 9 groups exit codes.
 */
#define QL_ERR_MAP(X)                                                          \
    X(QL_OK, 0, "success")                                                     \
    X(QL_EUSAGE, 1, "invalid argument")                                        \
    X(QL_ENOMEM, 2, "out of memory")                                           \
    X(QL_EIO, 3, "input/output error")                                         \
    X(QL_EFORMAT, 4, "malformed data")                                         \
    X(QL_ETOOBIG, 5, "data too large")                                         \
    X(QL_EVERIFY, 6, "verification failed")                                    \
    X(QL_EPASS, 7, "wrong passphrase")                                         \
    X(QL_EDAMAGED, 8, "damaged file")                                          \
    X(QL_EEXIST, 9, "already exists")                                          \
    X(QL_ENOTFOUND, 10, "not found")                                           \
    X(QL_EDENIED, 11, "not permitted")                                         \
    X(QL_ERULE, 12, "refused by the workflow")                                 \
    X(QL_ESCRIPT, 13, "workflow script error")                                 \
    X(QL_EBUSY, 14, "store busy")                                              \
    X(QL_ESTORE, 15, "store error")                                            \
    X(QL_ECRYPTO, 16, "cryptographic failure")                                 \
    X(QL_EUNSUPPORTED, 17, "not supported")                                    \
    X(QL_EINTEGRITY, 18, "integrity failure")                                  \
    X(QL_EFULL, 19, "disk full")

typedef enum {
#define QL_ERR_ENUM(name, num, text) name = num,
    QL_ERR_MAP(QL_ERR_ENUM)
#undef QL_ERR_ENUM
} ql_err;

/* Marks functions whose result must be looked at. */
#if defined(__GNUC__) || defined(__clang__)
#define QL_MUST_CHECK __attribute__((warn_unused_result))
#define QL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define QL_MUST_CHECK
#define QL_PRINTF(f, a)
#endif

/* Room for one message; longer messages are cut, never overflowed. */
#define QL_DIAG_MSG 256

struct ql_diag {
    ql_err code;
    char msg[QL_DIAG_MSG];
};

/* The text of a code ("wrong passphrase"); never NULL. */
const char *ql_strerror(ql_err code);

/* The name of a code ("QL_EPASS"); "QL_UNKNOWN" for numbers not in the map. */
const char *ql_errname(ql_err code);

/*
 * Records a failure in d (which may be NULL) and returns code, so callers can
 * write `return ql_fail(d, QL_EIO, "cannot open '%s'", path);`. The message
 * follows the house style: lowercase, no final period, the failing thing
 * first. When fmt is NULL the code's own text is used.
 */
ql_err ql_fail(struct ql_diag *d, ql_err code, const char *fmt, ...)
    QL_PRINTF(3, 4);

/* Clears d (which may be NULL) to QL_OK and an empty message. */
void ql_diag_clear(struct ql_diag *d);

#endif
