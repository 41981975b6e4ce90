/*
 * Field values and due dates: ql_workflow_check_value, ql_workflow_due, and
 * the text checks that loading shares (ql_workflow_impl.h).
 */
#include "ql_workflow.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_workflow_impl.h"

/*
 * Decodes one UTF-8 sequence at s (n > 0 bytes available). Returns its
 * length and the code point in *cp, or 0 for an ill-formed sequence.
 */
static size_t
utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c;
    size_t len, i;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        c = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        c = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
        (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* C0 and C1 controls and DEL: they can rewrite a terminal or a log line. */
static bool
is_control(uint32_t c)
{
    return c < 0x20 || (c >= 0x7F && c <= 0x9F);
}

enum wf_text
wf_text_scan(const char *s, size_t len, bool newline, size_t *at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, step;
    uint32_t cp;

    while (i < len) {
        step = utf8_next(p + i, len - i, &cp);
        if (step == 0) {
            if (at != NULL)
                *at = i;
            return WF_TEXT_BAD_UTF8;
        }
        if (cp == '\n' && !newline) {
            if (at != NULL)
                *at = i;
            return WF_TEXT_NEWLINE;
        }
        if (cp != '\n' && is_control(cp)) {
            if (at != NULL)
                *at = i;
            return WF_TEXT_CONTROL;
        }
        i += step;
    }
    return WF_TEXT_OK;
}

char *
wf_quote(char *buf, size_t size, const char *s, size_t len, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0, step;
    uint32_t cp;

    if (size < 8) {
        if (size > 0)
            buf[0] = '\0';
        return buf;
    }
    if (max > size - 4)
        max = size - 4;
    while (i < len) {
        step = utf8_next(p + i, len - i, &cp);
        if (step == 0 || is_control(cp)) {
            /* Show one '?' per bad byte or control character. */
            if (step == 0)
                step = 1;
            if (o + 1 > max)
                break;
            buf[o++] = '?';
        } else {
            if (o + step > max)
                break;
            memcpy(buf + o, p + i, step);
            o += step;
        }
        i += step;
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* Length of the longest prefix of s (len bytes) that ends on a character
 * boundary: s itself when it is whole, shorter when its tail was cut. */
static size_t
whole_prefix(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = len, need;

    while (i > 0 && (p[i - 1] & 0xC0) == 0x80 && len - i < 3)
        i--;
    if (i == 0)
        return len;
    /* p[i - 1] starts the last sequence (or is ASCII). */
    if (p[i - 1] < 0x80)
        return len;
    need = (p[i - 1] & 0xE0) == 0xC0   ? 2
           : (p[i - 1] & 0xF0) == 0xE0 ? 3
           : (p[i - 1] & 0xF8) == 0xF0 ? 4
                                       : 1;
    return len - (i - 1) >= need ? len : i - 1;
}

ql_err
wf_fail(struct ql_diag *d, ql_err code, const char *fmt, ...)
{
    char buf[QL_DIAG_MSG];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ql_fail(d, code, NULL);
    if ((size_t)n >= sizeof buf)
        buf[whole_prefix(buf, sizeof buf - 1)] = '\0';
    return ql_fail(d, code, "%s", buf);
}

/* ---- Field values ---------------------------------------------------- */

/* The byte limit of a text or list field. */
static size_t
field_max(const struct ql_wf_field *f)
{
    if (f->max != 0)
        return f->max;
    return f->vis == QL_VIS_CLEAR ? WF_CLEAR_MAX : WF_TEXT_DEFAULT;
}

/*
 * Checks one line or a whole text value: UTF-8, controls, newlines. item
 * is 0 for a whole value, else the 1-based list item (for the message).
 */
static ql_err
check_text(const struct ql_wf_field *f, const char *s, size_t len, bool newline,
           size_t item, struct ql_diag *d)
{
    char where[32] = "";
    size_t at = 0;

    if (item > 0)
        snprintf(where, sizeof where, "item %zu ", item);
    switch (wf_text_scan(s, len, newline, &at)) {
    case WF_TEXT_OK:
        return QL_OK;
    case WF_TEXT_BAD_UTF8:
        return wf_fail(d, QL_EFORMAT,
                       "%s (%s): %sis not valid UTF-8 (byte %zu)", f->label,
                       f->name, where, at + 1);
    case WF_TEXT_CONTROL:
        return wf_fail(d, QL_EFORMAT,
                       "%s (%s): %shas a control character 0x%02x (byte %zu)",
                       f->label, f->name, where, (unsigned char)s[at], at + 1);
    case WF_TEXT_NEWLINE:
        break;
    }
    return wf_fail(d, QL_EFORMAT,
                   "%s (%s): %shas a line break; a clear field is one line",
                   f->label, f->name, where);
}

static ql_err
check_enum(const struct ql_wf_field *f, const char *value, size_t len,
           struct ql_diag *d)
{
    char list[160], q[64];
    size_t i, o = 0, vl;

    for (i = 0; i < f->nvalues; i++) {
        vl = strlen(f->values[i]);
        if (vl == len && memcmp(f->values[i], value, len) == 0)
            return QL_OK;
    }
    /* List the choices, whole values only, as many as fit. */
    list[0] = '\0';
    for (i = 0; i < f->nvalues; i++) {
        vl = strlen(f->values[i]);
        if (o + vl + 2 + 5 >= sizeof list) {
            memcpy(list + o, i > 0 ? ", ..." : "...", i > 0 ? 6 : 4);
            break;
        }
        if (i > 0) {
            memcpy(list + o, ", ", 2);
            o += 2;
        }
        memcpy(list + o, f->values[i], vl + 1);
        o += vl;
    }
    /* A secret field's value never appears in a message, not even its
       own writer's: messages end up in terminals' scrollback and logs. */
    if (f->vis == QL_VIS_SECRET)
        return wf_fail(d, QL_EFORMAT,
                       "%s (%s): the value given is not one "
                       "of: %s",
                       f->label, f->name, list);
    return wf_fail(d, QL_EFORMAT, "%s (%s): '%s' is not one of: %s", f->label,
                   f->name, wf_quote(q, sizeof q, value, len, 40), list);
}

/* -?[0-9]+(\.[0-9]+)?, at most WF_NUMBER_MAX characters. */
static bool
number_ok(const char *s, size_t len)
{
    size_t i = 0, digits = 0, frac = 0;

    if (len == 0 || len > WF_NUMBER_MAX)
        return false;
    if (s[i] == '-')
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (digits == 0)
        return false;
    if (i == len)
        return true;
    if (s[i++] != '.')
        return false;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        frac++;
    }
    return frac > 0 && i == len;
}

ql_err
ql_workflow_check_value(const struct ql_workflow *wf,
                        const struct ql_wf_field *f, const char *value,
                        struct ql_diag *d)
{
    struct ql_diag sub;
    char q[64];
    size_t len, max, start, end, item;
    int32_t day;
    ql_err rc;

    if (wf == NULL || f == NULL || value == NULL)
        return ql_fail(d, QL_EUSAGE, "no workflow, field or value to check");
    len = strlen(value);
    switch (f->type) {
    case QL_FIELD_ENUM:
        return check_enum(f, value, len, d);
    case QL_FIELD_DATE:
        if (ql_date_parse(value, len, &day, &sub) != QL_OK)
            return wf_fail(d, QL_EFORMAT, "%s (%s): %s", f->label, f->name,
                           f->vis == QL_VIS_SECRET
                               ? "the value given is not a date (YYYY-MM-DD)"
                               : sub.msg);
        return QL_OK;
    case QL_FIELD_NUMBER:
        if (!number_ok(value, len))
            return wf_fail(
                d, QL_EFORMAT,
                "%s (%s): %s%s%s is not a number (digits, an "
                "optional '-' and decimal point, at most %d "
                "characters)",
                f->label, f->name, f->vis == QL_VIS_SECRET ? "" : "'",
                f->vis == QL_VIS_SECRET ? "the value given"
                                        : wf_quote(q, sizeof q, value, len, 40),
                f->vis == QL_VIS_SECRET ? "" : "'", WF_NUMBER_MAX);
        return QL_OK;
    case QL_FIELD_TEXT:
    case QL_FIELD_LIST:
        break;
    }
    max = field_max(f);
    if (len > max)
        return wf_fail(d, QL_EFORMAT, "%s (%s): %zu bytes, the limit is %zu",
                       f->label, f->name, len, max);
    if (f->type == QL_FIELD_TEXT)
        return check_text(f, value, len, f->vis != QL_VIS_CLEAR, 0, d);
    /* A list: one item per line, none of them empty; "" has no items. */
    if (len == 0)
        return QL_OK;
    for (start = 0, item = 1; start <= len; start = end + 1, item++) {
        end = start;
        while (end < len && value[end] != '\n')
            end++;
        if (end == start)
            return wf_fail(d, QL_EFORMAT, "%s (%s): item %zu is empty",
                           f->label, f->name, item);
        if ((rc = check_text(f, value + start, end - start, false, item, d)) !=
            QL_OK)
            return rc;
    }
    return QL_OK;
}

/* ---- Due dates --------------------------------------------------------- */

/* n weekdays (Monday to Friday) after from, from not counted. */
static ql_err
add_weekdays(int32_t from, int n, int32_t *out, struct ql_diag *d)
{
    int32_t day = from;

    while (n > 0) {
        if (day >= QL_DAY_MAX)
            return ql_fail(d, QL_EUSAGE,
                           "due date is past the supported dates");
        day++;
        if (ql_date_weekday(day) <= QL_FRIDAY)
            n--;
    }
    *out = day;
    return QL_OK;
}

ql_err
ql_workflow_due(const struct ql_workflow *wf, const struct ql_wf_state *s,
                const struct ql_calendar *cal, int32_t day, int32_t *due,
                bool *has, bool *covered, struct ql_diag *d)
{
    int32_t v = day;
    bool cov = true;
    ql_err rc;

    if (wf == NULL || s == NULL || due == NULL || has == NULL)
        return ql_fail(d, QL_EUSAGE, "no workflow, state or result");
    if (day < QL_DAY_MIN || day > QL_DAY_MAX)
        return ql_fail(d, QL_EUSAGE, "day %ld is outside the supported dates",
                       (long)day);
    switch (s->limit.kind) {
    case QL_LIMIT_NONE:
        *has = false;
        if (covered != NULL)
            *covered = true;
        return QL_OK;
    case QL_LIMIT_DAYS:
        rc = ql_date_add_days(day, s->limit.n, &v, d);
        break;
    case QL_LIMIT_WORKDAYS:
        if (cal != NULL) {
            rc = ql_calendar_add_workdays(cal, day, s->limit.n, &v, &cov, d);
        } else {
            /* Without a calendar only weekends are known: say so. */
            rc = add_weekdays(day, s->limit.n, &v, d);
            cov = false;
        }
        break;
    default:
        return ql_fail(d, QL_EUSAGE, "state '%s' has a bad limit kind",
                       s->name);
    }
    if (rc != QL_OK)
        return rc;
    *due = v;
    *has = true;
    if (covered != NULL)
        *covered = cov;
    return QL_OK;
}
