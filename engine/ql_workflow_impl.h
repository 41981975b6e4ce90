/*
 * The inside of ql_workflow, shared by engine/ql_workflow*.c and nothing
 * else: the text checks that both loading (labels, enum values) and
 * ql_workflow_check_value (field values) need, and a diagnostic helper that
 * never cuts a UTF-8 character in half.
 */
#ifndef QL_WORKFLOW_IMPL_H
#define QL_WORKFLOW_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"
#include "ql_workflow.h"

/* Longest identifier (field, role, state, transition or workflow name). */
#define WF_NAME_MAX 64
/* Longest label or enum value, in bytes. */
#define WF_LABEL_MAX 200
/* Default and largest byte length of text and list values. */
#define WF_TEXT_DEFAULT 4000
#define WF_TEXT_LIMIT 32768
/* Default and largest byte length of clear (one-line) values. */
#define WF_CLEAR_MAX 500
/* Longest number value, in characters. */
#define WF_NUMBER_MAX 30

/* What wf_text_scan found first, in order of the bytes. */
enum wf_text {
    WF_TEXT_OK,
    WF_TEXT_BAD_UTF8, /* ill-formed UTF-8 */
    WF_TEXT_CONTROL,  /* a control character other than a newline */
    WF_TEXT_NEWLINE   /* a newline where none is allowed */
};

/*
 * Scans len bytes at s: well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF) without C0 or C1 control characters or DEL;
 * a newline is allowed only when newline is true. *at (NULL allowed) gets
 * the byte offset of the first problem.
 */
enum wf_text wf_text_scan(const char *s, size_t len, bool newline, size_t *at);

/*
 * Writes s (len bytes) into buf (size bytes, at least 8) for quoting in a
 * message: at most about max bytes, cut at a character boundary with "..."
 * added, every control character or ill-formed byte shown as '?'. Returns
 * buf.
 */
char *wf_quote(char *buf, size_t size, const char *s, size_t len, size_t max);

/*
 * ql_fail with a message formatted first into a buffer of QL_DIAG_MSG
 * bytes, so a cut message ends at a character boundary, not inside a
 * Chinese label.
 */
ql_err wf_fail(struct ql_diag *d, ql_err code, const char *fmt, ...)
    QL_PRINTF(3, 4);

#endif
