#include "ql_calendar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECS_PER_DAY 86400
/* Days from 0001-01-01 to 1970-01-01: the epoch of the civil algorithms. */
#define DAYS_0001_TO_1970 719162
/* A Gregorian cycle repeats every 400 years, which hold 146097 days. */
#define DAYS_PER_400Y 146097
#define DAYS_PER_100Y 36524 /* a century whose last year is not leap */
#define DAYS_PER_4Y 1461    /* four years, the last one leap */

/* Limits of calendar files; see docs/calendar.md. */
#define CAL_FILE_MAX (1024 * 1024)
#define HOLIDAY_DAYS_MAX 31
#define LABEL_MAX 120
/* Longest piece of bad input quoted back in a message. */
#define QUOTE_MAX 40

struct cal_entry {
    int32_t first, last;
    unsigned line;
    bool workday;
    const char *label; /* points into ql_calendar.labels */
};

struct cal_year {
    int year;
    unsigned line;
};

struct ql_calendar {
    char *name;
    char zone_name[16];
    int32_t offset;
    unsigned weekend;       /* bit w set: ISO weekday w is a weekend day */
    struct cal_year *years; /* sorted by year once parsed */
    size_t nyears, years_cap;
    struct cal_entry *entries; /* sorted by first day once parsed */
    size_t nentries, entries_cap;
    char *labels; /* one buffer for every label, NUL-separated */
    size_t labels_used, labels_cap;
};

/* Days before the first of each month in a common year. */
static const int before_month[12] = {0,   31,  59,  90,  120, 151,
                                     181, 212, 243, 273, 304, 334};

static const char *const weekday_names[8] = {"",          "Monday",   "Tuesday",
                                             "Wednesday", "Thursday", "Friday",
                                             "Saturday",  "Sunday"};

/* Division that rounds towards minus infinity; b > 0. */
static int64_t
floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;

    if (a % b < 0)
        q--;
    return q;
}

bool
ql_date_is_leap(int year)
{
    /* The remainders are only compared with zero, so negative years work. */
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

static int
month_days(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};

    return days[month - 1] + (month == 2 && ql_date_is_leap(year));
}

/*
 * Day number of a date whose month is 1..12 and whose year fits an int;
 * mday may run past the month (it simply counts on). Whole years before
 * `year` are counted from 0001-01-01 with the Gregorian leap rule, which
 * floordiv keeps right for year 0 and before.
 */
static int64_t
civil_to_days(int year, int month, int mday)
{
    int64_t p = (int64_t)year - 1;
    int64_t days =
        365 * p + floordiv(p, 4) - floordiv(p, 100) + floordiv(p, 400);

    days += before_month[month - 1] + (month > 2 && ql_date_is_leap(year));
    days += mday - 1;
    return days - DAYS_0001_TO_1970;
}

bool
ql_date_valid(int year, int month, int mday)
{
    return year >= 0 && year <= 9999 && month >= 1 && month <= 12 &&
           mday >= 1 && mday <= month_days(year, month);
}

ql_err
ql_date_from_civil(int year, int month, int mday, int32_t *day,
                   struct ql_diag *d)
{
    if (!ql_date_valid(year, month, mday))
        return ql_fail(d, QL_EUSAGE, "invalid date %04d-%02d-%02d", year, month,
                       mday);
    *day = (int32_t)civil_to_days(year, month, mday);
    return QL_OK;
}

void
ql_date_to_civil(int32_t day, int *year, int *month, int *mday)
{
    /*
     * Split the days since 0001-01-01 into 400-year cycles, then centuries,
     * four-year blocks and years. The last day of a cycle (or of a block)
     * belongs to its leap year, which is why a quotient of 4 is pulled
     * back to 3.
     */
    int64_t z = (int64_t)day + DAYS_0001_TO_1970;
    int64_t cycles = floordiv(z, DAYS_PER_400Y);
    int64_t r = z - cycles * DAYS_PER_400Y;
    int64_t centuries, blocks, years, y;
    int m;
    bool leap;

    centuries = r / DAYS_PER_100Y;
    if (centuries == 4)
        centuries = 3;
    r -= centuries * DAYS_PER_100Y;
    blocks = r / DAYS_PER_4Y;
    r -= blocks * DAYS_PER_4Y;
    years = r / 365;
    if (years == 4)
        years = 3;
    r -= years * 365;
    y = 400 * cycles + 100 * centuries + 4 * blocks + years + 1;
    leap = ql_date_is_leap((int)y);
    for (m = 12; m > 1; m--)
        if (r >= before_month[m - 1] + (m > 2 && leap))
            break;
    *year = (int)y;
    *month = m;
    *mday = (int)(r - before_month[m - 1] - (m > 2 && leap)) + 1;
}

int
ql_date_weekday(int32_t day)
{
    /* 1970-01-01 was a Thursday (ISO weekday 4). */
    return (int)(((int64_t)day + 3) - 7 * floordiv((int64_t)day + 3, 7)) + 1;
}

static bool
day_in_range(int64_t day)
{
    return day >= QL_DAY_MIN && day <= QL_DAY_MAX;
}

ql_err
ql_date_add_days(int32_t day, int64_t n, int32_t *out, struct ql_diag *d)
{
    if (!day_in_range(day))
        return ql_fail(d, QL_EUSAGE, "day %ld is outside the supported dates",
                       (long)day);
    /* Checked before adding, so a huge n cannot overflow. */
    if (n > (int64_t)QL_DAY_MAX - day || n < (int64_t)QL_DAY_MIN - day)
        return ql_fail(d, QL_EUSAGE,
                       "adding %lld days leaves the supported dates",
                       (long long)n);
    *out = (int32_t)(day + n);
    return QL_OK;
}

/* ---- Text ---- */

/* The value of n ASCII digits at s, or -1 if any is not a digit. */
static int
digits(const char *s, size_t n)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/*
 * Reads "YYYY-MM-DD" from the first 10 bytes of s (the caller checked
 * there are 10). Returns NULL and sets *day, or the reason it is not a date.
 */
static const char *
scan_date(const char *s, int32_t *day)
{
    int y = digits(s, 4), m = digits(s + 5, 2), md = digits(s + 8, 2);

    if (y < 0 || s[4] != '-' || m < 0 || s[7] != '-' || md < 0)
        return "not in the form YYYY-MM-DD";
    if (m < 1 || m > 12)
        return "month must be 01 to 12";
    if (md < 1 || md > month_days(y, m))
        return "no such day in that month";
    *day = (int32_t)civil_to_days(y, m, md);
    return NULL;
}

/* How much of s (n bytes) to quote back in a message. */
static int
quote_len(size_t n)
{
    return n > QUOTE_MAX ? QUOTE_MAX : (int)n;
}

ql_err
ql_date_parse(const char *s, size_t len, int32_t *day, struct ql_diag *d)
{
    const char *why;
    int32_t v;

    if (s == NULL)
        return ql_fail(d, QL_EFORMAT, "missing date");
    if (len != 10)
        why = "not in the form YYYY-MM-DD";
    else
        why = scan_date(s, &v);
    if (why != NULL)
        return ql_fail(d, QL_EFORMAT, "invalid date '%.*s': %s", quote_len(len),
                       s, why);
    *day = v;
    return QL_OK;
}

/* Writes v as exactly n decimal digits (v >= 0 and small enough). */
static void
put_digits(char *p, int v, size_t n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Writes "YYYY-MM-DD" (10 bytes, no NUL) for a day in range. */
static void
put_date(char *p, int32_t day)
{
    int y, m, md;

    ql_date_to_civil(day, &y, &m, &md);
    put_digits(p, y, 4);
    p[4] = '-';
    put_digits(p + 5, m, 2);
    p[7] = '-';
    put_digits(p + 8, md, 2);
}

ql_err
ql_date_format(int32_t day, char *buf, size_t size, struct ql_diag *d)
{
    if (!day_in_range(day))
        return ql_fail(d, QL_EUSAGE, "day %ld is outside the supported dates",
                       (long)day);
    if (buf == NULL || size < QL_DATE_BUF)
        return ql_fail(d, QL_EUSAGE, "date buffer is smaller than %d bytes",
                       QL_DATE_BUF);
    put_date(buf, day);
    buf[10] = '\0';
    return QL_OK;
}

/*
 * Reads "+HH:MM" or "-HH:MM" from the first 6 bytes of s into seconds east
 * of UTC. False when malformed.
 */
static bool
scan_offset(const char *s, int32_t *offset)
{
    int h = digits(s + 1, 2), m = digits(s + 4, 2);

    if ((s[0] != '+' && s[0] != '-') || h < 0 || s[3] != ':' || m < 0 ||
        h > 23 || m > 59)
        return false;
    *offset = (int32_t)((h * 60 + m) * 60 * (s[0] == '-' ? -1 : 1));
    return true;
}

/* The reason s (len bytes) is not an RFC 3339 date-time, or NULL. */
static const char *
scan_time(const char *s, size_t len, int64_t *t)
{
    int32_t day, offset = 0;
    int h, mi, sec;
    size_t p = 19, nfrac;
    const char *why;
    int64_t v;

    if (len < 10)
        return "not in the form YYYY-MM-DDTHH:MM:SSZ";
    if ((why = scan_date(s, &day)) != NULL)
        return why;
    if (len < 19 || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        (h = digits(s + 11, 2)) < 0 || (mi = digits(s + 14, 2)) < 0 ||
        (sec = digits(s + 17, 2)) < 0)
        return "not in the form YYYY-MM-DDTHH:MM:SSZ";
    if (h > 23)
        return "hour must be 00 to 23";
    if (mi > 59)
        return "minute must be 00 to 59";
    if (sec == 60)
        return "leap seconds are not supported";
    if (sec > 59)
        return "second must be 00 to 59";
    if (p < len && s[p] == '.') {
        for (nfrac = 0, p++; p < len && s[p] >= '0' && s[p] <= '9'; p++)
            nfrac++;
        if (nfrac == 0)
            return "no digits after the decimal point";
        if (nfrac > 9)
            return "more than 9 digits of fraction";
    }
    if (p == len)
        return "missing 'Z' or UTC offset";
    if (s[p] == 'Z') {
        p++;
    } else if (s[p] == '+' || s[p] == '-') {
        if (len - p < 6 || !scan_offset(s + p, &offset))
            return "UTC offset must be +HH:MM or -HH:MM";
        p += 6;
    } else {
        return "expected 'Z' or a UTC offset after the time";
    }
    if (p != len)
        return "unexpected characters after the time";
    v = (int64_t)day * SECS_PER_DAY + h * 3600 + mi * 60 + sec - offset;
    if (v < QL_TIME_MIN || v > QL_TIME_MAX)
        return "outside the supported range of years 0000 to 9999 in UTC";
    *t = v;
    return NULL;
}

ql_err
ql_time_parse(const char *s, size_t len, int64_t *t, struct ql_diag *d)
{
    const char *why;
    int64_t v = 0;

    if (s == NULL)
        return ql_fail(d, QL_EFORMAT, "missing timestamp");
    if ((why = scan_time(s, len, &v)) != NULL)
        return ql_fail(d, QL_EFORMAT, "invalid timestamp '%.*s': %s",
                       quote_len(len), s, why);
    *t = v;
    return QL_OK;
}

ql_err
ql_time_format_local(int64_t t, int32_t offset, char *buf, size_t size,
                     struct ql_diag *d)
{
    int64_t local, day, secs;
    int32_t a;
    size_t need = offset == 0 ? 21 : 26;

    if (offset % 60 != 0 || offset <= -SECS_PER_DAY || offset >= SECS_PER_DAY)
        return ql_fail(d, QL_EUSAGE,
                       "UTC offset %ld s is not whole minutes within 23:59",
                       (long)offset);
    if (t < QL_TIME_MIN || t > QL_TIME_MAX)
        return ql_fail(d, QL_EUSAGE,
                       "instant %lld is outside the supported dates",
                       (long long)t);
    local = t + offset;
    day = floordiv(local, SECS_PER_DAY);
    if (!day_in_range(day))
        return ql_fail(d, QL_EUSAGE,
                       "local time of %lld is outside the supported dates",
                       (long long)t);
    if (buf == NULL || size < need)
        return ql_fail(d, QL_EUSAGE, "time buffer is smaller than %zu bytes",
                       need);
    secs = local - day * SECS_PER_DAY;
    put_date(buf, (int32_t)day);
    buf[10] = 'T';
    put_digits(buf + 11, (int)(secs / 3600), 2);
    buf[13] = ':';
    put_digits(buf + 14, (int)(secs / 60 % 60), 2);
    buf[16] = ':';
    put_digits(buf + 17, (int)(secs % 60), 2);
    if (offset == 0) {
        buf[19] = 'Z';
        buf[20] = '\0';
        return QL_OK;
    }
    a = offset < 0 ? -offset : offset;
    buf[19] = offset < 0 ? '-' : '+';
    put_digits(buf + 20, (int)(a / 3600), 2);
    buf[22] = ':';
    put_digits(buf + 23, (int)(a / 60 % 60), 2);
    buf[25] = '\0';
    return QL_OK;
}

ql_err
ql_time_format(int64_t t, char *buf, size_t size, struct ql_diag *d)
{
    return ql_time_format_local(t, 0, buf, size, d);
}

/* ---- Zones ---- */

/* The offset of zone name (n bytes); false for names not supported. */
static bool
scan_zone(const char *s, size_t n, int32_t *offset)
{
    if (n == strlen(QL_ZONE_DEFAULT) && memcmp(s, QL_ZONE_DEFAULT, n) == 0) {
        *offset = QL_ZONE_SHANGHAI;
        return true;
    }
    if (n == 3 && memcmp(s, "UTC", 3) == 0) {
        *offset = 0;
        return true;
    }
    return n == 6 && scan_offset(s, offset);
}

ql_err
ql_zone_parse(const char *name, int32_t *offset, struct ql_diag *d)
{
    int32_t v;
    size_t n;

    if (name == NULL)
        return ql_fail(d, QL_EFORMAT, "missing time zone");
    n = strlen(name);
    if (!scan_zone(name, n, &v))
        return ql_fail(d, QL_EFORMAT,
                       "unknown time zone '%.*s' (use Asia/Shanghai, UTC, "
                       "+HH:MM or -HH:MM)",
                       quote_len(n), name);
    *offset = v;
    return QL_OK;
}

ql_err
ql_zone_local_date(int64_t t, int32_t offset, int32_t *day, struct ql_diag *d)
{
    int64_t v;

    if (t < QL_TIME_MIN || t > QL_TIME_MAX)
        return ql_fail(d, QL_EUSAGE,
                       "instant %lld is outside the supported dates",
                       (long long)t);
    v = floordiv(t + offset, SECS_PER_DAY);
    if (!day_in_range(v))
        return ql_fail(d, QL_EUSAGE,
                       "local date of %lld is outside the supported dates",
                       (long long)t);
    *day = (int32_t)v;
    return QL_OK;
}

ql_err
ql_zone_local_date_text(const char *time, int32_t offset, char *buf,
                        size_t size, struct ql_diag *d)
{
    int64_t t;
    int32_t day;
    ql_err rc;

    if ((rc = ql_time_parse(time, strlen(time), &t, d)) != QL_OK ||
        (rc = ql_zone_local_date(t, offset, &day, d)) != QL_OK)
        return rc;
    return ql_date_format(day, buf, size, d);
}

int64_t
ql_zone_day_first(int32_t day, int32_t offset)
{
    /* Local midnight is `offset` seconds earlier in UTC than UTC midnight. */
    return (int64_t)day * SECS_PER_DAY - offset;
}

int64_t
ql_zone_day_last(int32_t day, int32_t offset)
{
    return ql_zone_day_first(day, offset) + SECS_PER_DAY - 1;
}

/* ---- Calendar files ---- */

struct token {
    const char *s;
    size_t n;
};

struct parser {
    const char *name;
    unsigned line;
    struct ql_calendar *cal;
    struct ql_diag *d;
    unsigned zone_line, weekend_line; /* 0: not seen yet */
    bool in_years;                    /* a 'year' line has been read */
    int year;                         /* the current 'year' section */
};

/* Fails with "name:line: message", the form every calendar error takes. */
static ql_err parse_error(const struct parser *p, const char *fmt, ...)
    QL_PRINTF(2, 3);

static ql_err
parse_error(const struct parser *p, const char *fmt, ...)
{
    char msg[QL_DIAG_MSG];
    va_list ap;

    va_start(ap, fmt);
    /* A cut message still names the line, which is what matters most. */
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ql_fail(p->d, QL_EFORMAT, "%s:%u: %s", p->name, p->line, msg);
}

/*
 * Length of the well-formed UTF-8 sequence at s (n bytes left), or 0 when
 * it is ill-formed: overlong, a surrogate, beyond U+10FFFF or cut short.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
    size_t len, i;
    uint32_t c;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, c = s[0] & 0x1Fu;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, c = s[0] & 0x0Fu;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, c = s[0] & 0x07u;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3Fu);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10FFFF ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return len;
}

/* Checks that a line is UTF-8 text: no control characters but tab. */
static ql_err
check_text(const struct parser *p, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, step;

    while (i < n) {
        if (u[i] < 0x20 && u[i] != '\t')
            return parse_error(p, "control character 0x%02x in the line", u[i]);
        if (u[i] == 0x7F)
            return parse_error(p, "control character 0x7f in the line");
        step = utf8_len(u + i, n - i);
        if (step == 0)
            return parse_error(p, "invalid UTF-8 at byte %zu of the line",
                               i + 1);
        i += step;
    }
    return QL_OK;
}

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The next blank-separated token of [*cur, end); false at the end. */
static bool
next_token(const char **cur, const char *end, struct token *t)
{
    const char *s = *cur;

    while (s < end && is_blank(*s))
        s++;
    if (s == end)
        return false;
    t->s = s;
    while (s < end && !is_blank(*s))
        s++;
    t->n = (size_t)(s - t->s);
    *cur = s;
    return true;
}

static bool
token_is(const struct token *t, const char *word)
{
    return t->n == strlen(word) && memcmp(t->s, word, t->n) == 0;
}

/* True for tokens shaped like a date, so a second date is not a label. */
static bool
looks_like_date(const struct token *t)
{
    return t->n == 10 && t->s[0] >= '0' && t->s[0] <= '9' && t->s[4] == '-';
}

static ql_err
token_date(const struct parser *p, const struct token *t, int32_t *day)
{
    const char *why =
        t->n == 10 ? scan_date(t->s, day) : "not in the form YYYY-MM-DD";

    if (why != NULL)
        return parse_error(p, "invalid date '%.*s': %s", quote_len(t->n), t->s,
                           why);
    return QL_OK;
}

static ql_err
parse_zone(struct parser *p, const char *cur, const char *end)
{
    struct token t, extra;
    int32_t offset;

    if (p->zone_line != 0)
        return parse_error(p, "'zone' given twice (first on line %u)",
                           p->zone_line);
    if (p->in_years)
        return parse_error(p, "'zone' must come before the first 'year' line");
    if (!next_token(&cur, end, &t))
        return parse_error(p, "'zone' needs a time zone");
    if (next_token(&cur, end, &extra))
        return parse_error(p, "'zone' takes one time zone, not '%.*s' too",
                           quote_len(extra.n), extra.s);
    if (!scan_zone(t.s, t.n, &offset))
        return parse_error(p,
                           "unknown time zone '%.*s' (use Asia/Shanghai, "
                           "UTC, +HH:MM or -HH:MM)",
                           quote_len(t.n), t.s);
    /* Every accepted name is at most 13 bytes. */
    memcpy(p->cal->zone_name, t.s, t.n);
    p->cal->zone_name[t.n] = '\0';
    p->cal->offset = offset;
    p->zone_line = p->line;
    return QL_OK;
}

static ql_err
parse_weekend(struct parser *p, const char *cur, const char *end)
{
    static const char *const names[8] = {"",    "mon", "tue", "wed",
                                         "thu", "fri", "sat", "sun"};
    unsigned set = 0;
    struct token t;
    int w;

    if (p->weekend_line != 0)
        return parse_error(p, "'weekend' given twice (first on line %u)",
                           p->weekend_line);
    if (p->in_years)
        return parse_error(p,
                           "'weekend' must come before the first 'year' line");
    while (next_token(&cur, end, &t)) {
        for (w = 1; w <= 7 && !token_is(&t, names[w]); w++)
            ;
        if (w > 7)
            return parse_error(p,
                               "unknown day '%.*s' (use mon, tue, wed, thu, "
                               "fri, sat, sun)",
                               quote_len(t.n), t.s);
        if (set & (1u << w))
            return parse_error(p, "'%s' named twice", names[w]);
        set |= 1u << w;
    }
    if (set == 0)
        return parse_error(p, "'weekend' needs at least one day");
    if (set == 0xFEu)
        return parse_error(p, "a week needs at least one working day");
    p->cal->weekend = set;
    p->weekend_line = p->line;
    return QL_OK;
}

static ql_err
parse_year(struct parser *p, const char *cur, const char *end)
{
    struct ql_calendar *c = p->cal;
    struct token t, extra;
    struct cal_year *grown;
    size_t cap;
    int y;

    if (!next_token(&cur, end, &t))
        return parse_error(p, "'year' needs a year");
    if (next_token(&cur, end, &extra))
        return parse_error(p, "'year' takes one year, not '%.*s' too",
                           quote_len(extra.n), extra.s);
    if (t.n != 4 || (y = digits(t.s, 4)) < 0)
        return parse_error(p, "year must be four digits, not '%.*s'",
                           quote_len(t.n), t.s);
    for (size_t i = 0; i < c->nyears; i++)
        if (c->years[i].year == y)
            return parse_error(p, "year %04d declared twice (first on line %u)",
                               y, c->years[i].line);
    if (c->nyears == c->years_cap) {
        cap = c->years_cap ? 2 * c->years_cap : 8;
        grown = realloc(c->years, cap * sizeof *grown);
        if (grown == NULL)
            return ql_fail(p->d, QL_ENOMEM, NULL);
        c->years = grown;
        c->years_cap = cap;
    }
    c->years[c->nyears].year = y;
    c->years[c->nyears].line = p->line;
    c->nyears++;
    p->in_years = true;
    p->year = y;
    return QL_OK;
}

/*
 * Entries under 'year Y' fall in Y, or in the December before: a New Year
 * holiday and its adjusted working day may start there, and the State
 * Council publishes them in Y's notice.
 */
static ql_err
check_in_year(const struct parser *p, int32_t day, const struct token *t)
{
    int y, m, md;

    ql_date_to_civil(day, &y, &m, &md);
    if (y == p->year || (y == p->year - 1 && m == 12))
        return QL_OK;
    return parse_error(p,
                       "%.*s is outside year %04d (entries under 'year "
                       "%04d' must fall in it or in the December before)",
                       quote_len(t->n), t->s, p->year, p->year);
}

static ql_err
add_entry(struct parser *p, int32_t first, int32_t last, bool workday,
          const char *label, size_t label_len)
{
    struct ql_calendar *c = p->cal;
    struct cal_entry *grown, *e;
    size_t cap;

    if (c->nentries == c->entries_cap) {
        cap = c->entries_cap ? 2 * c->entries_cap : 32;
        grown = realloc(c->entries, cap * sizeof *grown);
        if (grown == NULL)
            return ql_fail(p->d, QL_ENOMEM, NULL);
        c->entries = grown;
        c->entries_cap = cap;
    }
    /*
     * The label buffer was sized from the whole input, and labels are
     * disjoint pieces of it each followed by a byte or the end, so this
     * check never fails; it keeps the copy safe regardless.
     */
    if (label_len + 1 > c->labels_cap - c->labels_used)
        return ql_fail(p->d, QL_ENOMEM, NULL);
    e = &c->entries[c->nentries++];
    e->first = first;
    e->last = last;
    e->workday = workday;
    e->line = p->line;
    e->label = c->labels + c->labels_used;
    memcpy(c->labels + c->labels_used, label, label_len);
    c->labels[c->labels_used + label_len] = '\0';
    c->labels_used += label_len + 1;
    return QL_OK;
}

/*
 * 'holiday FIRST [LAST] LABEL' and 'workday DAY LABEL'. The label is the
 * rest of the line (comment and trailing blanks already cut off).
 */
static ql_err
parse_entry(struct parser *p, bool workday, const char *cur, const char *end)
{
    const char *kw = workday ? "workday" : "holiday";
    struct token t1, t2;
    const char *after;
    int32_t first, last;
    int w;
    ql_err rc;

    if (!next_token(&cur, end, &t1))
        return parse_error(p, "'%s' needs a date and a label", kw);
    if ((rc = token_date(p, &t1, &first)) != QL_OK)
        return rc;
    last = first;
    after = cur;
    if (next_token(&after, end, &t2) && looks_like_date(&t2)) {
        if (workday)
            return parse_error(p, "'workday' takes one date; list each "
                                  "adjusted working day on its own line");
        if ((rc = token_date(p, &t2, &last)) != QL_OK)
            return rc;
        cur = after;
        if (last < first)
            return parse_error(p,
                               "holiday ends on %.*s, before it starts "
                               "on %.*s",
                               (int)t2.n, t2.s, (int)t1.n, t1.s);
        if (last - first + 1 > HOLIDAY_DAYS_MAX)
            return parse_error(p,
                               "holiday from %.*s to %.*s lasts %ld days; at "
                               "most %d are allowed",
                               (int)t1.n, t1.s, (int)t2.n, t2.s,
                               (long)(last - first + 1), HOLIDAY_DAYS_MAX);
    }
    while (cur < end && is_blank(*cur))
        cur++;
    if (cur == end)
        return parse_error(p, "%s %.*s needs a label", kw, (int)t1.n, t1.s);
    if ((size_t)(end - cur) > LABEL_MAX)
        return parse_error(p, "label is longer than %d bytes", LABEL_MAX);
    if (!p->in_years)
        return parse_error(p, "'%s' before any 'year' line", kw);
    if ((rc = check_in_year(p, first, &t1)) != QL_OK ||
        (last != first && (rc = check_in_year(p, last, &t2)) != QL_OK))
        return rc;
    w = ql_date_weekday(first);
    if (workday && !(p->cal->weekend & (1u << w)))
        return parse_error(p, "workday %.*s is a %s, not a weekend day",
                           (int)t1.n, t1.s, weekday_names[w]);
    return add_entry(p, first, last, workday, cur, (size_t)(end - cur));
}

/* Parses one line (without its line ending). */
static ql_err
parse_line(struct parser *p, const char *s, size_t n)
{
    const char *cur = s, *end = s + n;
    struct token kw;
    ql_err rc;

    if ((rc = check_text(p, s, n)) != QL_OK)
        return rc;
    /* A '#' at the start or after a blank starts a comment. */
    for (size_t i = 0; i < n; i++)
        if (s[i] == '#' && (i == 0 || is_blank(s[i - 1]))) {
            end = s + i;
            break;
        }
    while (end > cur && is_blank(end[-1]))
        end--;
    if (!next_token(&cur, end, &kw))
        return QL_OK;
    if (token_is(&kw, "zone"))
        return parse_zone(p, cur, end);
    if (token_is(&kw, "weekend"))
        return parse_weekend(p, cur, end);
    if (token_is(&kw, "year"))
        return parse_year(p, cur, end);
    if (token_is(&kw, "holiday"))
        return parse_entry(p, false, cur, end);
    if (token_is(&kw, "workday"))
        return parse_entry(p, true, cur, end);
    return parse_error(p,
                       "unknown keyword '%.*s' (expected zone, weekend, "
                       "year, holiday or workday)",
                       quote_len(kw.n), kw.s);
}

static int
entry_cmp(const void *a, const void *b)
{
    const struct cal_entry *x = a, *y = b;

    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int
year_cmp(const void *a, const void *b)
{
    const struct cal_year *x = a, *y = b;

    return x->year < y->year ? -1 : x->year > y->year;
}

/*
 * Sorts the entries and refuses overlaps. Sorted by first day, any two
 * overlapping entries imply an overlapping neighbour pair, so checking
 * neighbours finds every conflict; the later line of the pair is blamed.
 */
static ql_err
check_overlaps(struct parser *p)
{
    struct ql_calendar *c = p->cal;
    const struct cal_entry *a, *b, *late, *early;
    char day[QL_DATE_BUF];

    /* qsort wants a valid pointer even for no elements. */
    if (c->nentries > 1)
        qsort(c->entries, c->nentries, sizeof *c->entries, entry_cmp);
    for (size_t i = 1; i < c->nentries; i++) {
        a = &c->entries[i - 1];
        b = &c->entries[i];
        if (b->first > a->last)
            continue;
        late = a->line > b->line ? a : b;
        early = late == a ? b : a;
        p->line = late->line;
        put_date(day, late->first);
        day[10] = '\0';
        if (late->workday && early->workday)
            return parse_error(p,
                               "workday %s is listed twice (also on line "
                               "%u)",
                               day, early->line);
        if (late->workday || early->workday)
            return parse_error(p, "%s %s overlaps the %s on line %u",
                               late->workday ? "workday" : "holiday", day,
                               early->workday ? "workday" : "holiday",
                               early->line);
        return parse_error(p, "holiday %s overlaps the holiday on line %u", day,
                           early->line);
    }
    return QL_OK;
}

ql_err
ql_calendar_parse(const char *name, const char *buf, size_t len,
                  struct ql_calendar **out, struct ql_diag *d)
{
    struct ql_calendar *c = NULL;
    struct parser p;
    size_t pos = 0, end, next, nlen;
    const char *nl;
    ql_err rc;

    if (name == NULL)
        name = "calendar";
    if (out == NULL || (buf == NULL && len > 0))
        return ql_fail(d, QL_EUSAGE, "%s: no calendar text", name);
    if (len > CAL_FILE_MAX)
        return ql_fail(d, QL_ETOOBIG, "%s: calendar is larger than %d bytes",
                       name, CAL_FILE_MAX);
    nlen = strlen(name);
    if ((c = calloc(1, sizeof *c)) == NULL ||
        (c->name = malloc(nlen + 1)) == NULL ||
        (c->labels = malloc(len + 1)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    memcpy(c->name, name, nlen + 1);
    c->labels_cap = len + 1;
    memcpy(c->zone_name, QL_ZONE_DEFAULT, sizeof QL_ZONE_DEFAULT);
    c->offset = QL_ZONE_SHANGHAI;
    c->weekend = 1u << QL_SATURDAY | 1u << QL_SUNDAY;

    memset(&p, 0, sizeof p);
    p.name = c->name;
    p.cal = c;
    p.d = d;
    /* Editors on Windows write a byte-order mark and CR LF line ends. */
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    while (pos < len) {
        p.line++;
        nl = memchr(buf + pos, '\n', len - pos);
        end = nl != NULL ? (size_t)(nl - buf) : len;
        next = nl != NULL ? end + 1 : len;
        if (end > pos && buf[end - 1] == '\r')
            end--;
        if ((rc = parse_line(&p, buf + pos, end - pos)) != QL_OK)
            goto out;
        pos = next;
    }
    if ((rc = check_overlaps(&p)) != QL_OK)
        goto out;
    if (c->nyears > 1)
        qsort(c->years, c->nyears, sizeof *c->years, year_cmp);
    *out = c;
    c = NULL; /* ownership moved to the caller */
    rc = QL_OK;
out:
    ql_calendar_free(c);
    return rc;
}

/* strerror_r's text for e; the XSI form, as _POSIX_C_SOURCE selects. */
static void
errno_text(int e, char *buf, size_t size)
{
    if (strerror_r(e, buf, size) != 0)
        snprintf(buf, size, "error %d", e);
}

ql_err
ql_calendar_load(const char *path, struct ql_calendar **out, struct ql_diag *d)
{
    char *buf = NULL, *grown, why[128];
    size_t cap, n = 0;
    struct stat st;
    ssize_t got;
    int fd = -1;
    ql_err rc;

    if (path == NULL || out == NULL)
        return ql_fail(d, QL_EUSAGE, "no calendar path");
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        errno_text(errno, why, sizeof why);
        return ql_fail(d, QL_EIO, "cannot open '%s': %s", path, why);
    }
    if (fstat(fd, &st) != 0) {
        errno_text(errno, why, sizeof why);
        rc = ql_fail(d, QL_EIO, "cannot read '%s': %s", path, why);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = ql_fail(d, QL_EIO, "'%s' is not a regular file", path);
        goto out;
    }
    /*
     * The size is only a first guess: the file may change while it is
     * read, so read to the end and stop once past the limit.
     */
    cap = st.st_size > 0 && st.st_size <= CAL_FILE_MAX ? (size_t)st.st_size + 1
                                                       : 4096;
    if ((buf = malloc(cap)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    for (;;) {
        if (n == cap) {
            if (cap > CAL_FILE_MAX) {
                rc = ql_fail(d, QL_ETOOBIG, "'%s' is larger than %d bytes",
                             path, CAL_FILE_MAX);
                goto out;
            }
            cap = cap * 2 > CAL_FILE_MAX + 1 ? CAL_FILE_MAX + 1 : cap * 2;
            if ((grown = realloc(buf, cap)) == NULL) {
                rc = ql_fail(d, QL_ENOMEM, NULL);
                goto out;
            }
            buf = grown;
        }
        got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            errno_text(errno, why, sizeof why);
            rc = ql_fail(d, QL_EIO, "cannot read '%s': %s", path, why);
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    rc = ql_calendar_parse(path, buf, n, out, d);
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

void
ql_calendar_free(struct ql_calendar *c)
{
    if (c == NULL)
        return;
    free(c->name);
    free(c->years);
    free(c->entries);
    free(c->labels);
    free(c);
}

const char *
ql_calendar_name(const struct ql_calendar *c)
{
    return c->name;
}

int32_t
ql_calendar_zone(const struct ql_calendar *c)
{
    return c->offset;
}

const char *
ql_calendar_zone_name(const struct ql_calendar *c)
{
    return c->zone_name;
}

bool
ql_calendar_covers(const struct ql_calendar *c, int year)
{
    size_t lo = 0, hi = c->nyears, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (c->years[mid].year == year)
            return true;
        if (c->years[mid].year < year)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* The entry on day, or NULL: the last entry starting on or before day. */
static const struct cal_entry *
find_entry(const struct ql_calendar *c, int32_t day)
{
    size_t lo = 0, hi = c->nentries, mid;

    /* Invariant: entries before lo start on or before day, from hi after. */
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (c->entries[mid].first <= day)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || c->entries[lo - 1].last < day)
        return NULL;
    return &c->entries[lo - 1];
}

bool
ql_calendar_is_workday(const struct ql_calendar *c, int32_t day)
{
    const struct cal_entry *e = find_entry(c, day);

    if (e != NULL)
        return e->workday;
    return !(c->weekend & (1u << ql_date_weekday(day)));
}

const char *
ql_calendar_label(const struct ql_calendar *c, int32_t day)
{
    const struct cal_entry *e = find_entry(c, day);

    return e != NULL ? e->label : NULL;
}

static bool
day_covered(const struct ql_calendar *c, int32_t day)
{
    int y, m, md;

    ql_date_to_civil(day, &y, &m, &md);
    return ql_calendar_covers(c, y);
}

ql_err
ql_calendar_add_workdays(const struct ql_calendar *c, int32_t from, int64_t n,
                         int32_t *out, bool *covered, struct ql_diag *d)
{
    int64_t left = n < 0 ? -n : n, day = from;
    int step = n < 0 ? -1 : 1;
    bool cov = true;
    char date[QL_DATE_BUF];

    if (n > QL_WORKDAYS_MAX || n < -QL_WORKDAYS_MAX)
        return ql_fail(d, QL_EUSAGE,
                       "cannot count %lld working days; at most %d",
                       (long long)n, QL_WORKDAYS_MAX);
    if (!day_in_range(from))
        return ql_fail(d, QL_EUSAGE, "day %ld is outside the supported dates",
                       (long)from);
    while (left > 0) {
        day += step;
        if (!day_in_range(day)) {
            put_date(date, from);
            date[10] = '\0';
            return ql_fail(d, QL_EUSAGE,
                           "%lld working days from %s leave the supported "
                           "dates",
                           (long long)n, date);
        }
        if (cov && !day_covered(c, (int32_t)day))
            cov = false;
        if (ql_calendar_is_workday(c, (int32_t)day))
            left--;
    }
    *out = (int32_t)day;
    if (covered != NULL)
        *covered = cov;
    return QL_OK;
}

ql_err
ql_calendar_count_workdays(const struct ql_calendar *c, int32_t from,
                           int32_t to, int64_t *count, bool *covered,
                           struct ql_diag *d)
{
    int32_t lo = from < to ? from : to, hi = from < to ? to : from;
    int64_t k = 0;
    bool cov = true;

    if (!day_in_range(from) || !day_in_range(to))
        return ql_fail(d, QL_EUSAGE, "day %ld is outside the supported dates",
                       (long)(day_in_range(from) ? to : from));
    /* Count the days in (lo, hi]; the sign says which way round. */
    for (int32_t day = lo + 1; day <= hi; day++) {
        if (cov && !day_covered(c, day))
            cov = false;
        if (ql_calendar_is_workday(c, day))
            k++;
    }
    *count = to < from ? -k : k;
    if (covered != NULL)
        *covered = cov;
    return QL_OK;
}

size_t
ql_calendar_entry_count(const struct ql_calendar *c)
{
    return c->nentries;
}

bool
ql_calendar_entry(const struct ql_calendar *c, size_t i,
                  struct ql_calendar_entry *e)
{
    const struct cal_entry *x;

    if (i >= c->nentries)
        return false;
    x = &c->entries[i];
    e->first = x->first;
    e->last = x->last;
    e->workday = x->workday;
    e->label = x->label;
    e->line = x->line;
    return true;
}
