#include "ql_err.h"

#include <stdarg.h>
#include <stdio.h>

const char *
ql_strerror(ql_err code)
{
    switch (code) {
#define QL_ERR_TEXT(name, num, text)                                           \
    case name:                                                                 \
        return text;
        QL_ERR_MAP(QL_ERR_TEXT)
#undef QL_ERR_TEXT
    }
    return "unknown error";
}

const char *
ql_errname(ql_err code)
{
    switch (code) {
#define QL_ERR_NAME(name, num, text)                                           \
    case name:                                                                 \
        return #name;
        QL_ERR_MAP(QL_ERR_NAME)
#undef QL_ERR_NAME
    }
    return "QL_UNKNOWN";
}

ql_err
ql_fail(struct ql_diag *d, ql_err code, const char *fmt, ...)
{
    va_list ap;

    if (d == NULL)
        return code;
    d->code = code;
    if (fmt == NULL) {
        snprintf(d->msg, sizeof d->msg, "%s", ql_strerror(code));
        return code;
    }
    va_start(ap, fmt);
    /* A message cut at QL_DIAG_MSG is still useful; truncation is fine. */
    if (vsnprintf(d->msg, sizeof d->msg, fmt, ap) < 0)
        snprintf(d->msg, sizeof d->msg, "%s", ql_strerror(code));
    va_end(ap);
    return code;
}

void
ql_diag_clear(struct ql_diag *d)
{
    if (d == NULL)
        return;
    d->code = QL_OK;
    d->msg[0] = '\0';
}
