#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_test.h"

/* The shipped calendar, found from the test data folder. */
#define SHIPPED_CAL "../../workflows/calendars/cn.cal"

/* The day number of an ISO date written in a test; fails the test if bad. */
static int32_t
day_of(const char *s)
{
    struct ql_diag d = {0};
    int32_t day = 0;

    if (ql_date_parse(s, strlen(s), &day, &d) != QL_OK)
        fail_msg("bad date in test '%s': %s", s, d.msg);
    return day;
}

static int64_t
time_of(const char *s)
{
    struct ql_diag d = {0};
    int64_t t = 0;

    if (ql_time_parse(s, strlen(s), &t, &d) != QL_OK)
        fail_msg("bad time in test '%s': %s", s, d.msg);
    return t;
}

/* Checks a failure: its code, and a message holding every fragment given. */
static void
expect_fail(ql_err rc, const struct ql_diag *d, ql_err want, const char *prefix,
            const char *fragment)
{
    if (rc != want)
        fail_msg("got %s (%s), want %s", ql_errname(rc), d->msg,
                 ql_errname(want));
    assert_int_equal(d->code, want);
    if (prefix != NULL && strncmp(d->msg, prefix, strlen(prefix)) != 0)
        fail_msg("message '%s' does not start with '%s'", d->msg, prefix);
    if (fragment != NULL && strstr(d->msg, fragment) == NULL)
        fail_msg("message '%s' does not contain '%s'", d->msg, fragment);
}

/* The date after y-m-md, computed the slow, obvious way. */
static void
next_civil(int *y, int *m, int *md)
{
    static const int len[13] = {0,  31, 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
    int leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
    int last = len[*m] + (*m == 2 && leap);

    if (++*md <= last)
        return;
    *md = 1;
    if (++*m <= 12)
        return;
    *m = 1;
    ++*y;
}

static struct ql_calendar *
parse_ok(const char *text)
{
    struct ql_calendar *c = NULL;
    struct ql_diag d = {0};

    if (ql_calendar_parse("t.cal", text, strlen(text), &c, &d) != QL_OK)
        fail_msg("calendar should parse: %s", d.msg);
    return c;
}

static struct ql_calendar *
load_shipped(void)
{
    char *path = qlt_data_path(SHIPPED_CAL);
    struct ql_calendar *c = NULL;
    struct ql_diag d = {0};

    if (ql_calendar_load(path, &c, &d) != QL_OK)
        fail_msg("shipped calendar does not load: %s", d.msg);
    free(path);
    return c;
}

/* ---- Dates ---- */

static void
test_known_days(void **state)
{
    static const struct {
        const char *date;
        int32_t day;
        int weekday;
    } cases[] = {
        {"1970-01-01", 0, QL_THURSDAY},
        {"1969-12-31", -1, QL_WEDNESDAY},
        {"2000-01-01", 10957, QL_SATURDAY},
        {"2000-03-01", 11017, QL_WEDNESDAY},
        {"2025-09-15", 20346, QL_MONDAY}, /* the demo's "today" */
        {"2025-09-30", 20361, QL_TUESDAY},
        {"2025-10-01", 20362, QL_WEDNESDAY},
        {"2026-02-14", 20498, QL_SATURDAY},
        {"0001-01-01", -719162, QL_MONDAY},
        /* Year 0 is leap: 366 days before 0001-01-01, a Monday. */
        {"0000-01-01", QL_DAY_MIN, QL_SATURDAY},
        {"9999-12-31", QL_DAY_MAX, QL_FRIDAY},
    };
    struct ql_diag d = {0};
    int y, m, md;
    int32_t day;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s\n", cases[i].date);
        day = day_of(cases[i].date);
        assert_int_equal(day, cases[i].day);
        assert_int_equal(ql_date_weekday(day), cases[i].weekday);
        ql_date_to_civil(day, &y, &m, &md);
        assert_int_equal(ql_date_from_civil(y, m, md, &day, &d), QL_OK);
        assert_int_equal(day, cases[i].day);
    }
}

/* Every day from 1970 to 2100: civil -> day -> civil, days consecutive. */
static void
test_round_trip_1970_2100(void **state)
{
    struct ql_diag d = {0};
    int y = 1970, m = 1, md = 1, yy, mm, dd;
    int32_t day, expect = 0;

    (void)state;
    while (y <= 2100) {
        assert_int_equal(ql_date_from_civil(y, m, md, &day, &d), QL_OK);
        assert_int_equal(day, expect);
        ql_date_to_civil(day, &yy, &mm, &dd);
        if (yy != y || mm != m || dd != md)
            fail_msg("%04d-%02d-%02d came back as %04d-%02d-%02d", y, m, md, yy,
                     mm, dd);
        /* Weekdays cycle 4, 5, 6, 7, 1, ... from the Thursday of day 0. */
        assert_int_equal(ql_date_weekday(day), (expect + 3) % 7 + 1);
        next_civil(&y, &m, &md);
        expect++;
    }
    assert_int_equal(expect, 47847); /* 131 years, 32 of them leap */
}

/* The whole supported range, and past it, day by day. */
static void
test_round_trip_full_range(void **state)
{
    struct ql_diag d = {0};
    int y, m, md, py, pm, pmd;
    int32_t back;

    (void)state;
    ql_date_to_civil(QL_DAY_MIN, &py, &pm, &pmd);
    assert_int_equal(py, 0);
    assert_int_equal(pm, 1);
    assert_int_equal(pmd, 1);
    for (int32_t day = QL_DAY_MIN + 1; day <= QL_DAY_MAX; day++) {
        ql_date_to_civil(day, &y, &m, &md);
        next_civil(&py, &pm, &pmd);
        if (y != py || m != pm || md != pmd)
            fail_msg("day %d is %04d-%02d-%02d, want %04d-%02d-%02d", day, y, m,
                     md, py, pm, pmd);
        if (ql_date_from_civil(y, m, md, &back, &d) != QL_OK || back != day)
            fail_msg("day %d did not come back", day);
    }
    assert_int_equal(py, 9999);
    assert_int_equal(pm, 12);
    assert_int_equal(pmd, 31);

    /* Beyond the range the arithmetic still holds, down to INT32_MIN. */
    ql_date_to_civil(QL_DAY_MAX + 1, &y, &m, &md);
    assert_true(y == 10000 && m == 1 && md == 1);
    ql_date_to_civil(QL_DAY_MIN - 1, &y, &m, &md);
    assert_true(y == -1 && m == 12 && md == 31);
    ql_date_to_civil(INT32_MAX - 1, &py, &pm, &pmd);
    next_civil(&py, &pm, &pmd);
    ql_date_to_civil(INT32_MAX, &y, &m, &md);
    assert_true(y == py && m == pm && md == pmd && y > 5000000);
    ql_date_to_civil(INT32_MIN, &py, &pm, &pmd);
    next_civil(&py, &pm, &pmd);
    ql_date_to_civil(INT32_MIN + 1, &y, &m, &md);
    assert_true(y == py && m == pm && md == pmd && y < -5000000);
    assert_int_equal(ql_date_weekday(INT32_MIN),
                     (int)((INT32_MIN % 7 + 7 + 3) % 7) + 1);
    assert_true(ql_date_weekday(INT32_MAX) >= 1 &&
                ql_date_weekday(INT32_MAX) <= 7);
}

static void
test_date_valid(void **state)
{
    static const struct {
        int y, m, md;
        bool ok;
    } cases[] = {
        {2025, 2, 28, true},  {2025, 2, 29, false}, {2024, 2, 29, true},
        {2000, 2, 29, true},  {1900, 2, 29, false}, {2025, 4, 30, true},
        {2025, 4, 31, false}, {2025, 12, 31, true}, {2025, 13, 1, false},
        {2025, 0, 1, false},  {2025, 1, 0, false},  {2025, 1, 32, false},
        {0, 1, 1, true},      {9999, 12, 31, true}, {10000, 1, 1, false},
        {-1, 12, 31, false},
    };
    struct ql_diag d = {0};
    int32_t day = 12345;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%d-%d-%d\n", cases[i].y, cases[i].m, cases[i].md);
        assert_int_equal(ql_date_valid(cases[i].y, cases[i].m, cases[i].md),
                         cases[i].ok);
        if (cases[i].ok)
            continue;
        expect_fail(
            ql_date_from_civil(cases[i].y, cases[i].m, cases[i].md, &day, &d),
            &d, QL_EUSAGE, "invalid date ", NULL);
        assert_int_equal(day, 12345); /* untouched on failure */
    }
    expect_fail(ql_date_from_civil(2025, 2, 29, &day, &d), &d, QL_EUSAGE,
                "invalid date 2025-02-29", NULL);

    assert_true(ql_date_is_leap(2024) && ql_date_is_leap(2000) &&
                ql_date_is_leap(0) && ql_date_is_leap(-4) &&
                ql_date_is_leap(-400));
    assert_false(ql_date_is_leap(2025) || ql_date_is_leap(1900) ||
                 ql_date_is_leap(2100) || ql_date_is_leap(-100) ||
                 ql_date_is_leap(-1));
}

static void
test_date_text(void **state)
{
    static const struct {
        const char *in;
        const char *why; /* NULL: valid */
    } cases[] = {
        {"2025-09-15", NULL},
        {"0000-01-01", NULL},
        {"9999-12-31", NULL},
        {"2024-02-29", NULL},
        {"2025-02-29", "no such day in that month"},
        {"2025-04-31", "no such day in that month"},
        {"2025-13-01", "month must be 01 to 12"},
        {"2025-00-01", "month must be 01 to 12"},
        {"2025-01-00", "no such day in that month"},
        {"2025-9-15", "not in the form YYYY-MM-DD"},
        {"25-09-15", "not in the form YYYY-MM-DD"},
        {"2025/09/15", "not in the form YYYY-MM-DD"},
        {"2025-09-15 ", "not in the form YYYY-MM-DD"},
        {" 2025-09-1", "not in the form YYYY-MM-DD"},
        {"+025-09-15", "not in the form YYYY-MM-DD"},
        {"2025-09-1a", "not in the form YYYY-MM-DD"},
        {"", "not in the form YYYY-MM-DD"},
    };
    char buf[QL_DATE_BUF];
    struct ql_diag d = {0};
    int32_t day;
    ql_err rc;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("'%s'\n", cases[i].in);
        day = 777;
        rc = ql_date_parse(cases[i].in, strlen(cases[i].in), &day, &d);
        if (cases[i].why != NULL) {
            expect_fail(rc, &d, QL_EFORMAT, "invalid date '", cases[i].why);
            assert_int_equal(day, 777);
            continue;
        }
        assert_int_equal(rc, QL_OK);
        assert_int_equal(ql_date_format(day, buf, sizeof buf, &d), QL_OK);
        assert_string_equal(buf, cases[i].in);
    }
    /* The length is what counts: a NUL inside, or a longer string cut. */
    expect_fail(ql_date_parse("2025-09-1\0", 10, &day, &d), &d, QL_EFORMAT,
                NULL, "not in the form");
    assert_int_equal(ql_date_parse("2025-09-15T00", 10, &day, &d), QL_OK);
    assert_int_equal(day, 20346);
    expect_fail(ql_date_parse(NULL, 0, &day, &d), &d, QL_EFORMAT,
                "missing date", NULL);

    expect_fail(ql_date_format(QL_DAY_MAX + 1, buf, sizeof buf, &d), &d,
                QL_EUSAGE, NULL, "outside the supported dates");
    expect_fail(ql_date_format(QL_DAY_MIN - 1, buf, sizeof buf, &d), &d,
                QL_EUSAGE, NULL, "outside the supported dates");
    expect_fail(ql_date_format(0, buf, QL_DATE_BUF - 1, &d), &d, QL_EUSAGE,
                "date buffer is smaller", NULL);
    expect_fail(ql_date_format(0, NULL, 0, &d), &d, QL_EUSAGE,
                "date buffer is smaller", NULL);
}

static void
test_add_days(void **state)
{
    struct ql_diag d = {0};
    int32_t out = 5;

    (void)state;
    assert_int_equal(ql_date_add_days(day_of("2025-09-15"), 15, &out, &d),
                     QL_OK);
    assert_int_equal(out, day_of("2025-09-30"));
    assert_int_equal(ql_date_add_days(day_of("2024-02-28"), 1, &out, &d),
                     QL_OK);
    assert_int_equal(out, day_of("2024-02-29"));
    assert_int_equal(ql_date_add_days(day_of("2025-03-01"), -1, &out, &d),
                     QL_OK);
    assert_int_equal(out, day_of("2025-02-28"));
    assert_int_equal(
        ql_date_add_days(QL_DAY_MIN, QL_DAY_MAX - QL_DAY_MIN, &out, &d), QL_OK);
    assert_int_equal(out, QL_DAY_MAX);

    out = 5;
    expect_fail(ql_date_add_days(QL_DAY_MAX, 1, &out, &d), &d, QL_EUSAGE,
                "adding 1 days leaves the supported dates", NULL);
    expect_fail(ql_date_add_days(QL_DAY_MIN, -1, &out, &d), &d, QL_EUSAGE, NULL,
                "leaves the supported dates");
    expect_fail(ql_date_add_days(0, INT64_MAX, &out, &d), &d, QL_EUSAGE, NULL,
                "leaves the supported dates");
    expect_fail(ql_date_add_days(0, INT64_MIN, &out, &d), &d, QL_EUSAGE, NULL,
                "leaves the supported dates");
    expect_fail(ql_date_add_days(QL_DAY_MAX + 1, -1, &out, &d), &d, QL_EUSAGE,
                NULL, "outside the supported dates");
    assert_int_equal(out, 5);
}

/* ---- Instants ---- */

static void
test_time_parse_valid(void **state)
{
    static const struct {
        const char *in;
        int64_t t;
        const char *utc; /* how ql_time_format writes it back */
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0, "1970-01-01T00:00:00Z"},
        {"1969-12-31T23:59:59Z", -1, "1969-12-31T23:59:59Z"},
        {"2025-09-15T02:00:00Z", 1757901600, "2025-09-15T02:00:00Z"},
        {"2025-09-15T10:00:00+08:00", 1757901600, "2025-09-15T02:00:00Z"},
        {"2025-09-14T21:00:00-05:00", 1757901600, "2025-09-15T02:00:00Z"},
        {"2025-09-15T02:00:00-00:00", 1757901600, "2025-09-15T02:00:00Z"},
        {"2025-09-15T02:00:00+00:00", 1757901600, "2025-09-15T02:00:00Z"},
        /* A fraction is dropped: the instant rounds towards the past. */
        {"2025-09-15T02:00:00.5Z", 1757901600, "2025-09-15T02:00:00Z"},
        {"2025-09-30T15:59:59.999999999Z", 1759247999, "2025-09-30T15:59:59Z"},
        {"2025-01-01T07:59:59+08:00", 1735689599, "2024-12-31T23:59:59Z"},
        {"2024-02-29T12:00:00Z", 1709208000, "2024-02-29T12:00:00Z"},
        {"2000-02-29T00:00:00Z", 951782400, "2000-02-29T00:00:00Z"},
        {"0000-01-01T00:00:00Z", QL_TIME_MIN, "0000-01-01T00:00:00Z"},
        {"0000-01-01T00:00:00-23:59", QL_TIME_MIN + 86340,
         "0000-01-01T23:59:00Z"},
        {"9999-12-31T23:59:59Z", QL_TIME_MAX, "9999-12-31T23:59:59Z"},
        {"9999-12-31T23:59:59+23:59", QL_TIME_MAX - 86340,
         "9999-12-31T00:00:59Z"},
    };
    char buf[QL_TIME_BUF];
    struct ql_diag d = {0};
    int64_t t;

    (void)state;
    assert_int_equal(QL_TIME_MAX, 253402300799);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s\n", cases[i].in);
        assert_int_equal(
            ql_time_parse(cases[i].in, strlen(cases[i].in), &t, &d), QL_OK);
        assert_int_equal(t, cases[i].t);
        assert_int_equal(ql_time_format(t, buf, sizeof buf, &d), QL_OK);
        assert_string_equal(buf, cases[i].utc);
    }
}

static void
test_time_parse_invalid(void **state)
{
    static const struct {
        const char *in;
        const char *why;
    } cases[] = {
        {"2025-02-29T00:00:00Z", "no such day in that month"},
        {"1900-02-29T00:00:00Z", "no such day in that month"},
        {"2025-04-31T00:00:00Z", "no such day in that month"},
        {"2025-13-01T00:00:00Z", "month must be 01 to 12"},
        {"2025-00-10T00:00:00Z", "month must be 01 to 12"},
        {"2025-01-00T00:00:00Z", "no such day in that month"},
        {"2025-09-15T24:00:00Z", "hour must be 00 to 23"},
        {"2025-09-15T23:60:00Z", "minute must be 00 to 59"},
        {"2016-12-31T23:59:60Z", "leap seconds are not supported"},
        {"2025-09-15T02:00:61Z", "second must be 00 to 59"},
        {"2025-09-15t02:00:00Z", "not in the form"},
        {"2025-09-15 02:00:00Z", "not in the form"},
        {"2025-09-15T02:00Z", "not in the form"},
        {"2025-09-15T2:00:00Z", "not in the form"},
        {"2025-09-15T0a:00:00Z", "not in the form"},
        {"2025-09-15T02-00-00Z", "not in the form"},
        {"2025-09-15", "not in the form"},
        {"2025-09", "not in the form"},
        {"", "not in the form"},
        {"25-09-15T02:00:00Z", "not in the form"},
        {"+2025-09-15T02:00:00Z", "not in the form"},
        {" 2025-09-15T02:00:00Z", "not in the form"},
        {"2025-9-15T02:00:00Z", "not in the form"},
        {"2025-09-15T02:00:00", "missing 'Z' or UTC offset"},
        {"2025-09-15T02:00:00.5", "missing 'Z' or UTC offset"},
        {"2025-09-15T02:00:00z", "expected 'Z' or a UTC offset"},
        {"2025-09-15T02:00:00 Z", "expected 'Z' or a UTC offset"},
        {"2025-09-15T02:00:00+0800", "UTC offset must be"},
        {"2025-09-15T02:00:00+08", "UTC offset must be"},
        {"2025-09-15T02:00:00+8:00", "UTC offset must be"},
        {"2025-09-15T02:00:00+24:00", "UTC offset must be"},
        {"2025-09-15T02:00:00+08:60", "UTC offset must be"},
        {"2025-09-15T02:00:00.Z", "no digits after the decimal point"},
        {"2025-09-15T02:00:00.1234567890Z", "more than 9 digits"},
        {"2025-09-15T02:00:00ZZ", "unexpected characters after the time"},
        {"2025-09-15T02:00:00Z ", "unexpected characters after the time"},
        {"2025-09-15T02:00:00+08:00x", "unexpected characters"},
        {"9999-12-31T23:59:59-00:01", "outside the supported range"},
        {"0000-01-01T00:00:00+00:01", "outside the supported range"},
    };
    struct ql_diag d = {0};
    int64_t t = 42;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("'%s'\n", cases[i].in);
        expect_fail(ql_time_parse(cases[i].in, strlen(cases[i].in), &t, &d), &d,
                    QL_EFORMAT, "invalid timestamp '", cases[i].why);
        assert_int_equal(t, 42);
    }
    /* A NUL inside the given length is just a wrong character. */
    expect_fail(ql_time_parse("2025-09-15T02:00:00Z\0", 21, &t, &d), &d,
                QL_EFORMAT, NULL, "unexpected characters");
    expect_fail(ql_time_parse(NULL, 0, &t, &d), &d, QL_EFORMAT,
                "missing timestamp", NULL);
    /* Long input is quoted only in part, so the message stays readable. */
    expect_fail(ql_time_parse("2025-09-15T02:00:00Zxxxxxxxxxxxxxxxxxxxxxxxx"
                              "xxxxxxxxxxxxxxxxxxxxxx",
                              66, &t, &d),
                &d, QL_EFORMAT,
                "invalid timestamp '2025-09-15T02:00:00Zxxxxxxxxxxxxxxxxxxxx': "
                "unexpected",
                NULL);
    assert_int_equal(t, 42);
}

static void
test_time_format(void **state)
{
    static const struct {
        int64_t t;
        int32_t offset;
        const char *out;
    } cases[] = {
        {1757901600, 0, "2025-09-15T02:00:00Z"},
        {1757901600, QL_ZONE_SHANGHAI, "2025-09-15T10:00:00+08:00"},
        {1757901600, -(5 * 3600 + 30 * 60), "2025-09-14T20:30:00-05:30"},
        {1757901600, 23 * 3600 + 59 * 60, "2025-09-16T01:59:00+23:59"},
        {1759247999, QL_ZONE_SHANGHAI, "2025-09-30T23:59:59+08:00"},
        {1759248000, QL_ZONE_SHANGHAI, "2025-10-01T00:00:00+08:00"},
        {-1, 0, "1969-12-31T23:59:59Z"},
        {QL_TIME_MIN, 0, "0000-01-01T00:00:00Z"},
        {QL_TIME_MAX, -3600, "9999-12-31T22:59:59-01:00"},
    };
    char buf[QL_TIME_BUF];
    struct ql_diag d = {0};
    int64_t back;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s\n", cases[i].out);
        assert_int_equal(ql_time_format_local(cases[i].t, cases[i].offset, buf,
                                              sizeof buf, &d),
                         QL_OK);
        assert_string_equal(buf, cases[i].out);
        assert_int_equal(ql_time_parse(buf, strlen(buf), &back, &d), QL_OK);
        assert_int_equal(back, cases[i].t);
    }
    /* "Z" needs 21 bytes, an offset 26. */
    assert_int_equal(ql_time_format(0, buf, 21, &d), QL_OK);
    expect_fail(ql_time_format(0, buf, 20, &d), &d, QL_EUSAGE,
                "time buffer is smaller than 21 bytes", NULL);
    expect_fail(ql_time_format_local(0, 3600, buf, 25, &d), &d, QL_EUSAGE,
                "time buffer is smaller than 26 bytes", NULL);
    expect_fail(ql_time_format(0, NULL, 0, &d), &d, QL_EUSAGE,
                "time buffer is smaller", NULL);
    expect_fail(ql_time_format(QL_TIME_MAX + 1, buf, sizeof buf, &d), &d,
                QL_EUSAGE, NULL, "outside the supported dates");
    expect_fail(ql_time_format(QL_TIME_MIN - 1, buf, sizeof buf, &d), &d,
                QL_EUSAGE, NULL, "outside the supported dates");
    expect_fail(ql_time_format_local(QL_TIME_MAX, QL_ZONE_SHANGHAI, buf,
                                     sizeof buf, &d),
                &d, QL_EUSAGE, "local time of", NULL);
    expect_fail(ql_time_format_local(0, 30, buf, sizeof buf, &d), &d, QL_EUSAGE,
                NULL, "not whole minutes");
    expect_fail(ql_time_format_local(0, 86400, buf, sizeof buf, &d), &d,
                QL_EUSAGE, NULL, "not whole minutes");
    expect_fail(ql_time_format_local(0, -86400, buf, sizeof buf, &d), &d,
                QL_EUSAGE, NULL, "not whole minutes");
}

/* Random instants and offsets: format, parse back, same instant. */
static void
test_time_round_trip_random(void **state)
{
    uint64_t seed = 20250915;
    char buf[QL_TIME_BUF];
    struct ql_diag d = {0};
    int64_t t, back, span = QL_TIME_MAX - QL_TIME_MIN + 1;
    int32_t offset;

    (void)state;
    for (int i = 0; i < 100000; i++) {
        t = QL_TIME_MIN + (int64_t)(qlt_rand(&seed) % (uint64_t)span);
        offset = (int32_t)(qlt_rand(&seed) % (2 * 1439 + 1)) * 60 - 1439 * 60;
        if (ql_time_format_local(t, offset, buf, sizeof buf, &d) != QL_OK)
            continue; /* local time past 9999 or before 0000 */
        assert_int_equal(ql_time_parse(buf, strlen(buf), &back, &d), QL_OK);
        assert_int_equal(back, t);
        assert_int_equal(ql_time_format(t, buf, sizeof buf, &d), QL_OK);
        assert_int_equal(ql_time_parse(buf, strlen(buf), &back, &d), QL_OK);
        assert_int_equal(back, t);
    }
}

/* ---- Zones ---- */

static void
test_zone_parse(void **state)
{
    static const struct {
        const char *name;
        bool ok;
        int32_t offset;
    } cases[] = {
        {"Asia/Shanghai", true, 28800},
        {"UTC", true, 0},
        {"+08:00", true, 28800},
        {"+00:00", true, 0},
        {"-00:00", true, 0},
        {"-05:30", true, -19800},
        {"+23:59", true, 86340},
        {"asia/shanghai", false, 0},
        {"Asia/Urumqi", false, 0},
        {"Asia/Shanghai ", false, 0},
        {"PRC", false, 0},
        {"GMT", false, 0},
        {"utc", false, 0},
        {"UTC+8", false, 0},
        {"+8:00", false, 0},
        {"+0800", false, 0},
        {"+24:00", false, 0},
        {"+08:60", false, 0},
        {"08:00", false, 0},
        {"", false, 0},
    };
    struct ql_diag d = {0};
    int32_t off;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("'%s'\n", cases[i].name);
        off = 99;
        if (cases[i].ok) {
            assert_int_equal(ql_zone_parse(cases[i].name, &off, &d), QL_OK);
            assert_int_equal(off, cases[i].offset);
        } else {
            expect_fail(ql_zone_parse(cases[i].name, &off, &d), &d, QL_EFORMAT,
                        "unknown time zone '", "Asia/Shanghai");
            assert_int_equal(off, 99);
        }
    }
    expect_fail(ql_zone_parse(NULL, &off, &d), &d, QL_EFORMAT,
                "missing time zone", NULL);
}

/* Local midnight in Asia/Shanghai is 16:00 UTC the day before. */
static void
test_local_date(void **state)
{
    static const struct {
        const char *utc;
        int32_t offset;
        const char *local;
    } cases[] = {
        {"2025-09-30T15:59:59Z", QL_ZONE_SHANGHAI, "2025-09-30"},
        {"2025-09-30T16:00:00Z", QL_ZONE_SHANGHAI, "2025-10-01"},
        {"2025-09-30T00:00:00Z", QL_ZONE_SHANGHAI, "2025-09-30"},
        {"2025-09-29T16:00:00Z", QL_ZONE_SHANGHAI, "2025-09-30"},
        {"2025-09-29T15:59:59Z", QL_ZONE_SHANGHAI, "2025-09-29"},
        {"2025-12-31T16:00:00Z", QL_ZONE_SHANGHAI, "2026-01-01"},
        {"2025-09-30T23:59:59Z", 0, "2025-09-30"},
        {"2025-10-01T00:00:00Z", 0, "2025-10-01"},
        {"2025-10-01T04:59:59Z", -5 * 3600, "2025-09-30"},
        {"2025-10-01T05:00:00Z", -5 * 3600, "2025-10-01"},
        {"1969-12-31T23:59:59Z", 0, "1969-12-31"},
        {"1969-12-31T16:00:00Z", QL_ZONE_SHANGHAI, "1970-01-01"},
        {"9999-12-31T15:59:59Z", QL_ZONE_SHANGHAI, "9999-12-31"},
        {"0000-01-01T00:00:00Z", 0, "0000-01-01"},
    };
    struct ql_diag d = {0};
    int32_t day = 7;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s at %d\n", cases[i].utc, cases[i].offset);
        assert_int_equal(ql_zone_local_date(time_of(cases[i].utc),
                                            cases[i].offset, &day, &d),
                         QL_OK);
        assert_int_equal(day, day_of(cases[i].local));
    }
    day = 7;
    expect_fail(ql_zone_local_date(QL_TIME_MAX, QL_ZONE_SHANGHAI, &day, &d), &d,
                QL_EUSAGE, "local date of", NULL);
    expect_fail(ql_zone_local_date(QL_TIME_MIN, -3600, &day, &d), &d, QL_EUSAGE,
                "local date of", NULL);
    expect_fail(ql_zone_local_date(QL_TIME_MAX + 1, 0, &day, &d), &d, QL_EUSAGE,
                NULL, "outside the supported dates");
    expect_fail(ql_zone_local_date(QL_TIME_MIN - 1, 0, &day, &d), &d, QL_EUSAGE,
                NULL, "outside the supported dates");
    expect_fail(ql_zone_local_date(INT64_MAX, 0, &day, &d), &d, QL_EUSAGE, NULL,
                "outside the supported dates");
    assert_int_equal(day, 7);
}

/*
 * The local date of an RFC 3339 instant as text: each step's answer, and
 * each step's refusal (the instant's text, the date's range, the buffer).
 */
static void
test_zone_local_date_text(void **state)
{
    static const struct {
        const char *time;
        int32_t offset;
        const char *local;
    } cases[] = {
        {"2025-09-30T15:59:59Z", QL_ZONE_SHANGHAI, "2025-09-30"},
        {"2025-09-30T16:00:00Z", QL_ZONE_SHANGHAI, "2025-10-01"},
        {"2025-10-01T00:30:00+08:00", QL_ZONE_SHANGHAI, "2025-10-01"},
        {"2025-10-01T04:59:59Z", -5 * 3600, "2025-09-30"},
    };
    struct ql_diag d = {0};
    char buf[QL_DATE_BUF];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ql_zone_local_date_text(cases[i].time, cases[i].offset,
                                                 buf, sizeof buf, &d),
                         QL_OK);
        assert_string_equal(buf, cases[i].local);
    }
    expect_fail(
        ql_zone_local_date_text("2025-02-29T00:00:00Z", 0, buf, sizeof buf, &d),
        &d, QL_EFORMAT, NULL, NULL);
    expect_fail(ql_zone_local_date_text("", 0, buf, sizeof buf, &d), &d,
                QL_EFORMAT, NULL, NULL);
    expect_fail(ql_zone_local_date_text("9999-12-31T23:00:00Z",
                                        QL_ZONE_SHANGHAI, buf, sizeof buf, &d),
                &d, QL_EUSAGE, "local date of", NULL);
    expect_fail(ql_zone_local_date_text("2025-09-30T16:00:00Z",
                                        QL_ZONE_SHANGHAI, buf, 10, &d),
                &d, QL_EUSAGE, NULL, NULL);
}

static void
test_day_first_last(void **state)
{
    uint64_t seed = 7;
    struct ql_diag d = {0};
    int32_t day, got, offset;

    (void)state;
    /* The commitment deadline 2025-09-30 in Asia/Shanghai. */
    day = day_of("2025-09-30");
    assert_int_equal(ql_zone_day_first(day, QL_ZONE_SHANGHAI),
                     time_of("2025-09-29T16:00:00Z"));
    assert_int_equal(ql_zone_day_last(day, QL_ZONE_SHANGHAI),
                     time_of("2025-09-30T15:59:59Z"));
    assert_int_equal(ql_zone_day_first(day + 1, QL_ZONE_SHANGHAI),
                     time_of("2025-09-30T16:00:00Z"));
    assert_int_equal(ql_zone_day_last(day, QL_ZONE_SHANGHAI) + 1,
                     ql_zone_day_first(day + 1, QL_ZONE_SHANGHAI));
    assert_int_equal(ql_zone_day_first(day, 0),
                     time_of("2025-09-30T00:00:00Z"));
    assert_int_equal(ql_zone_day_last(day, 0), time_of("2025-09-30T23:59:59Z"));
    assert_int_equal(ql_zone_day_first(day, -5 * 3600),
                     time_of("2025-09-30T05:00:00Z"));
    assert_int_equal(ql_zone_day_first(QL_DAY_MIN, 0), QL_TIME_MIN);
    assert_int_equal(ql_zone_day_last(QL_DAY_MAX, 0), QL_TIME_MAX);

    /* Property: the first and last second are on the day, their neighbours not.
     */
    for (int i = 0; i < 20000; i++) {
        day = QL_DAY_MIN + 1 +
              (int32_t)(qlt_rand(&seed) %
                        (uint64_t)(QL_DAY_MAX - QL_DAY_MIN - 1));
        offset = (int32_t)(qlt_rand(&seed) % (2 * 86399 + 1)) - 86399;
        assert_int_equal(ql_zone_local_date(ql_zone_day_first(day, offset),
                                            offset, &got, &d),
                         QL_OK);
        assert_int_equal(got, day);
        assert_int_equal(
            ql_zone_local_date(ql_zone_day_last(day, offset), offset, &got, &d),
            QL_OK);
        assert_int_equal(got, day);
        assert_int_equal(ql_zone_local_date(ql_zone_day_first(day, offset) - 1,
                                            offset, &got, &d),
                         QL_OK);
        assert_int_equal(got, day - 1);
        assert_int_equal(ql_zone_local_date(ql_zone_day_last(day, offset) + 1,
                                            offset, &got, &d),
                         QL_OK);
        assert_int_equal(got, day + 1);
    }
}

/* ---- The shipped calendar ---- */

/*
 * The 2025 and 2026 arrangements as the State Council published them,
 * written out again here so a slip in cn.cal shows up as a difference.
 */
static const char *const cn_holidays[][2] = {
    {"2025-01-01", "2025-01-01"}, {"2025-01-28", "2025-02-04"},
    {"2025-04-04", "2025-04-06"}, {"2025-05-01", "2025-05-05"},
    {"2025-05-31", "2025-06-02"}, {"2025-10-01", "2025-10-08"},
    {"2026-01-01", "2026-01-03"}, {"2026-02-15", "2026-02-23"},
    {"2026-04-04", "2026-04-06"}, {"2026-05-01", "2026-05-05"},
    {"2026-06-19", "2026-06-21"}, {"2026-09-25", "2026-09-27"},
    {"2026-10-01", "2026-10-07"},
};
static const char *const cn_workdays[] = {
    "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28",
    "2025-10-11", "2026-01-04", "2026-02-14", "2026-02-28",
    "2026-05-09", "2026-09-20", "2026-10-10",
};
#define N_HOLIDAYS (sizeof cn_holidays / sizeof cn_holidays[0])
#define N_WORKDAYS (sizeof cn_workdays / sizeof cn_workdays[0])

static bool
expected_workday(int32_t day)
{
    for (size_t i = 0; i < N_WORKDAYS; i++)
        if (day == day_of(cn_workdays[i]))
            return true;
    for (size_t i = 0; i < N_HOLIDAYS; i++)
        if (day >= day_of(cn_holidays[i][0]) &&
            day <= day_of(cn_holidays[i][1]))
            return false;
    return ql_date_weekday(day) < QL_SATURDAY;
}

static void
test_shipped_calendar(void **state)
{
    struct ql_calendar *c = load_shipped();
    struct ql_calendar_entry e;
    int32_t prev_last = QL_DAY_MIN;
    size_t i, nwork = 0, nhol = 0;
    int w;

    (void)state;
    assert_string_equal(ql_calendar_zone_name(c), "Asia/Shanghai");
    assert_int_equal(ql_calendar_zone(c), 8 * 3600);
    assert_true(ql_calendar_covers(c, 2025) && ql_calendar_covers(c, 2026));
    assert_false(ql_calendar_covers(c, 2024) || ql_calendar_covers(c, 2027));
    assert_non_null(strstr(ql_calendar_name(c), "cn.cal"));

    /* Every adjusted working day is a Saturday or Sunday. */
    for (i = 0; i < N_WORKDAYS; i++) {
        w = ql_date_weekday(day_of(cn_workdays[i]));
        print_message("%s is ISO weekday %d\n", cn_workdays[i], w);
        assert_true(w == QL_SATURDAY || w == QL_SUNDAY);
    }
    assert_int_equal(ql_calendar_entry_count(c), N_HOLIDAYS + N_WORKDAYS);
    for (i = 0; ql_calendar_entry(c, i, &e); i++) {
        assert_true(e.first > prev_last); /* sorted, no overlap */
        prev_last = e.last;
        assert_true(e.line > 0);
        assert_true(e.label != NULL && e.label[0] != '\0');
        if (e.workday) {
            nwork++;
            assert_int_equal(e.first, e.last);
            w = ql_date_weekday(e.first);
            assert_true(w == QL_SATURDAY || w == QL_SUNDAY);
            assert_true(ql_calendar_is_workday(c, e.first));
        } else {
            nhol++;
            for (int32_t day = e.first; day <= e.last; day++)
                assert_false(ql_calendar_is_workday(c, day));
        }
    }
    assert_int_equal(i, N_HOLIDAYS + N_WORKDAYS);
    assert_int_equal(nwork, N_WORKDAYS);
    assert_int_equal(nhol, N_HOLIDAYS);

    /* Day by day through both years, against the table above. */
    for (int32_t day = day_of("2025-01-01"); day <= day_of("2026-12-31"); day++)
        if (ql_calendar_is_workday(c, day) != expected_workday(day)) {
            char buf[QL_DATE_BUF];

            assert_int_equal(ql_date_format(day, buf, sizeof buf, NULL), QL_OK);
            fail_msg("cn.cal and the notice disagree on %s", buf);
        }

    assert_string_equal(ql_calendar_label(c, day_of("2025-10-03")),
                        "国庆节、中秋节");
    assert_string_equal(ql_calendar_label(c, day_of("2025-09-28")),
                        "国庆节调休上班");
    assert_string_equal(ql_calendar_label(c, day_of("2026-02-15")), "春节");
    assert_null(ql_calendar_label(c, day_of("2025-09-15")));
    ql_calendar_free(c);
}

/*
 * Working days in a year: 365 days, 104 of them Saturdays or Sundays (both
 * years have 52 weeks and one extra weekday), so 261 weekdays.
 *  2025: weekday holidays 元旦 1 (Wed) + 春节 6 (01-28..02-04 less Sat 02-01,
 *        Sun 02-02) + 清明 1 (Fri 04-04) + 劳动 3 (Thu, Fri, Mon) + 端午 1
 *        (Mon 06-02) + 国庆中秋 6 (10-01..10-08 less 10-04, 10-05) = 18;
 *        adjusted working weekends 5. 261 - 18 + 5 = 248.
 *  2026: 元旦 2 (Thu, Fri) + 春节 6 (02-16..02-20, 02-23) + 清明 1 (Mon) +
 *        劳动 3 (Fri, Mon, Tue) + 端午 1 (Fri) + 中秋 1 (Fri) + 国庆 5
 *        (Thu, Fri, Mon, Tue, Wed) = 19; working weekends 6.
 *        261 - 19 + 6 = 248.
 */
static void
test_shipped_year_totals(void **state)
{
    struct ql_calendar *c = load_shipped();
    struct ql_diag d = {0};
    int64_t n = 0;
    bool covered = false;

    (void)state;
    assert_int_equal(ql_calendar_count_workdays(c, day_of("2024-12-31"),
                                                day_of("2025-12-31"), &n,
                                                &covered, &d),
                     QL_OK);
    assert_int_equal(n, 248);
    assert_true(covered);
    assert_int_equal(ql_calendar_count_workdays(c, day_of("2025-12-31"),
                                                day_of("2026-12-31"), &n,
                                                &covered, &d),
                     QL_OK);
    assert_int_equal(n, 248);
    assert_true(covered);
    /* Counting 2024-12-31 itself reaches into 2024, which is not covered. */
    assert_int_equal(ql_calendar_count_workdays(c, day_of("2024-12-30"),
                                                day_of("2025-12-31"), &n,
                                                &covered, &d),
                     QL_OK);
    assert_int_equal(n, 249);
    assert_false(covered);
    ql_calendar_free(c);
}

static void
test_workdays_national_day_2025(void **state)
{
    /*
     * From Monday 2025-09-29: 09-30 (Tue) is working day 1; 10-01..10-08
     * are the National Day and Mid-Autumn holiday; 10-09 (Thu) is 2, 10-10
     * (Fri) is 3, Saturday 10-11 is an adjusted working day and so 4;
     * 10-12 is Sunday, 10-13 (Mon) is 5. Before it, Sunday 09-28 is an
     * adjusted working day too: 1 working day after Friday 09-26 is 09-28.
     */
    static const struct {
        const char *from;
        int n;
        const char *due;
    } cases[] = {
        {"2025-09-29", 0, "2025-09-29"},
        {"2025-09-29", 1, "2025-09-30"},
        {"2025-09-29", 2, "2025-10-09"},
        {"2025-09-29", 3, "2025-10-10"},
        {"2025-09-29", 4, "2025-10-11"},
        {"2025-09-29", 5, "2025-10-13"},
        {"2025-09-26", 1, "2025-09-28"},
        {"2025-09-30", 1, "2025-10-09"},
        {"2025-10-01", 1, "2025-10-09"},
        {"2025-10-05", 0, "2025-10-05"},
        /* Backwards: the nth working day before. */
        {"2025-10-09", -1, "2025-09-30"},
        {"2025-10-09", -2, "2025-09-29"},
        {"2025-10-13", -1, "2025-10-11"},
        {"2025-09-29", -1, "2025-09-28"},
        {"2025-09-29", -2, "2025-09-26"},
        /*
         * The demo's due dates: 签收 within 2 working days of 交办 on
         * Thursday 09-11 is due Monday 09-15 (09-12 Fri, then 09-15);
         * triage within 3 working days of Friday 09-12 is due Wednesday
         * 09-17; feedback within 7 working days of Monday 09-08 is due
         * 09-17 (09-09..09-12 are 1-4, 09-15..09-17 are 5-7).
         */
        {"2025-09-11", 2, "2025-09-15"},
        {"2025-09-12", 3, "2025-09-17"},
        {"2025-09-08", 7, "2025-09-17"},
        /* Spring Festival 2025: Sunday 01-26 is an adjusted working day. */
        {"2025-01-24", 1, "2025-01-26"},
        {"2025-01-26", 1, "2025-01-27"},
        {"2025-01-27", 1, "2025-02-05"},
        {"2025-02-07", 1, "2025-02-08"},
        /* Across the new year: 2026-01-01..03 off, Sunday 01-04 worked. */
        {"2025-12-31", 1, "2026-01-04"},
    };
    struct ql_calendar *c = load_shipped();
    struct ql_diag d = {0};
    int32_t due, from;
    int64_t n;
    bool covered;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%d working days from %s\n", cases[i].n, cases[i].from);
        from = day_of(cases[i].from);
        covered = false;
        assert_int_equal(
            ql_calendar_add_workdays(c, from, cases[i].n, &due, &covered, &d),
            QL_OK);
        assert_int_equal(due, day_of(cases[i].due));
        assert_true(covered);
        if (cases[i].n > 0) {
            assert_int_equal(
                ql_calendar_count_workdays(c, from, due, &n, NULL, &d), QL_OK);
            assert_int_equal(n, cases[i].n);
        }
    }
    assert_true(ql_calendar_is_workday(c, day_of("2025-10-11")));
    assert_false(ql_calendar_is_workday(c, day_of("2025-10-12")));
    assert_false(ql_calendar_is_workday(c, day_of("2025-10-08")));
    /* From 09-29 to 10-10 are 3 working days, and -3 the other way round. */
    assert_int_equal(ql_calendar_count_workdays(c, day_of("2025-09-29"),
                                                day_of("2025-10-10"), &n, NULL,
                                                &d),
                     QL_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ql_calendar_count_workdays(c, day_of("2025-10-10"),
                                                day_of("2025-09-29"), &n, NULL,
                                                &d),
                     QL_OK);
    assert_int_equal(n, -3);
    assert_int_equal(ql_calendar_count_workdays(c, day_of("2025-10-01"),
                                                day_of("2025-10-08"), &n, NULL,
                                                &d),
                     QL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ql_calendar_count_workdays(c, day_of("2025-10-10"),
                                                day_of("2025-10-10"), &n, NULL,
                                                &d),
                     QL_OK);
    assert_int_equal(n, 0);
    ql_calendar_free(c);
}

static void
test_workdays_spring_festival_2026(void **state)
{
    /*
     * Friday 2026-02-13: Saturday 02-14 is an adjusted working day (1);
     * 02-15..02-23 are the Spring Festival; 02-24 (Tue) is 2, 02-25 3,
     * 02-26 4, 02-27 (Fri) 5, Saturday 02-28 is worked (6), 03-01 is
     * Sunday and 03-02 (Mon) is 7.
     */
    static const struct {
        const char *from;
        int n;
        const char *due;
    } cases[] = {
        {"2026-02-13", 1, "2026-02-14"},  {"2026-02-13", 2, "2026-02-24"},
        {"2026-02-13", 5, "2026-02-27"},  {"2026-02-13", 6, "2026-02-28"},
        {"2026-02-13", 7, "2026-03-02"},  {"2026-02-14", 1, "2026-02-24"},
        {"2026-02-20", 1, "2026-02-24"},  {"2026-02-27", 1, "2026-02-28"},
        {"2026-02-24", -1, "2026-02-14"}, {"2026-02-24", -2, "2026-02-13"},
        {"2026-03-02", -1, "2026-02-28"},
    };
    struct ql_calendar *c = load_shipped();
    struct ql_diag d = {0};
    int32_t due;
    bool covered;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%d working days from %s\n", cases[i].n, cases[i].from);
        assert_int_equal(ql_calendar_add_workdays(c, day_of(cases[i].from),
                                                  cases[i].n, &due, &covered,
                                                  &d),
                         QL_OK);
        assert_int_equal(due, day_of(cases[i].due));
        assert_true(covered);
    }
    assert_true(ql_calendar_is_workday(c, day_of("2026-02-14")));
    assert_true(ql_calendar_is_workday(c, day_of("2026-02-28")));
    assert_false(ql_calendar_is_workday(c, day_of("2026-02-21")));
    assert_false(ql_calendar_is_workday(c, day_of("2026-03-01")));
    ql_calendar_free(c);
}

static void
test_workdays_uncovered(void **state)
{
    struct ql_calendar *c = load_shipped();
    struct ql_diag d = {0};
    int32_t due;
    int64_t n;
    bool covered = true;

    (void)state;
    /* 2027 is not in the file: New Year's Day counts as a plain Friday. */
    assert_int_equal(ql_calendar_add_workdays(c, day_of("2026-12-31"), 1, &due,
                                              &covered, &d),
                     QL_OK);
    assert_int_equal(due, day_of("2027-01-01"));
    assert_false(covered);
    covered = false;
    assert_int_equal(ql_calendar_add_workdays(c, day_of("2026-12-30"), 1, &due,
                                              &covered, &d),
                     QL_OK);
    assert_int_equal(due, day_of("2026-12-31"));
    assert_true(covered);
    /* Backwards into 2024. */
    assert_int_equal(ql_calendar_add_workdays(c, day_of("2025-01-02"), -1, &due,
                                              &covered, &d),
                     QL_OK);
    assert_int_equal(due, day_of("2024-12-31"));
    assert_false(covered);
    /* Zero days steps over nothing, so nothing is uncovered. */
    assert_int_equal(ql_calendar_add_workdays(c, day_of("2030-01-01"), 0, &due,
                                              &covered, &d),
                     QL_OK);
    assert_true(covered);
    assert_int_equal(due, day_of("2030-01-01"));
    /* Plain weekends in 2030: Friday 2030-01-04 + 1 is Monday 01-07. */
    assert_int_equal(
        ql_calendar_add_workdays(c, day_of("2030-01-04"), 1, &due, NULL, &d),
        QL_OK);
    assert_int_equal(due, day_of("2030-01-07"));
    assert_int_equal(ql_calendar_count_workdays(c, day_of("2026-12-31"),
                                                day_of("2027-01-04"), &n,
                                                &covered, &d),
                     QL_OK);
    assert_int_equal(n, 2); /* Fri 01-01 and Mon 01-04, as plain weekdays */
    assert_false(covered);
    ql_calendar_free(c);
}

static void
test_workdays_errors(void **state)
{
    struct ql_calendar *c = parse_ok("");
    struct ql_diag d = {0};
    int32_t due = 3;
    int64_t n = 3;

    (void)state;
    expect_fail(
        ql_calendar_add_workdays(c, 0, QL_WORKDAYS_MAX + 1, &due, NULL, &d), &d,
        QL_EUSAGE, "cannot count 100001 working days", NULL);
    expect_fail(
        ql_calendar_add_workdays(c, 0, -QL_WORKDAYS_MAX - 1, &due, NULL, &d),
        &d, QL_EUSAGE, "cannot count -100001 working days", NULL);
    expect_fail(ql_calendar_add_workdays(c, QL_DAY_MAX + 1, 1, &due, NULL, &d),
                &d, QL_EUSAGE, NULL, "outside the supported dates");
    /* 9999-12-30 is a Thursday: Friday is 1, the second leaves the range. */
    expect_fail(ql_calendar_add_workdays(c, QL_DAY_MAX - 1, 2, &due, NULL, &d),
                &d, QL_EUSAGE,
                "2 working days from 9999-12-30 leave the supported dates",
                NULL);
    expect_fail(ql_calendar_add_workdays(c, QL_DAY_MIN + 1, -5, &due, NULL, &d),
                &d, QL_EUSAGE, NULL, "leave the supported dates");
    assert_int_equal(due, 3);
    assert_int_equal(
        ql_calendar_add_workdays(c, QL_DAY_MAX - 1, 1, &due, NULL, &d), QL_OK);
    assert_int_equal(due, QL_DAY_MAX);
    assert_int_equal(
        ql_calendar_add_workdays(c, 0, QL_WORKDAYS_MAX, &due, NULL, &d), QL_OK);
    /* 100000 weekdays are exactly 20000 weeks after Thursday 1970-01-01. */
    assert_int_equal(due, 140000);

    expect_fail(ql_calendar_count_workdays(c, QL_DAY_MIN - 1, 0, &n, NULL, &d),
                &d, QL_EUSAGE, NULL, "outside the supported dates");
    expect_fail(ql_calendar_count_workdays(c, 0, QL_DAY_MAX + 1, &n, NULL, &d),
                &d, QL_EUSAGE, "day 2932897 is outside", NULL);
    assert_int_equal(n, 3);
    ql_calendar_free(c);
}

/* add and count agree, and counts add up over adjacent ranges. */
static void
test_workdays_properties(void **state)
{
    struct ql_calendar *c = load_shipped();
    uint64_t seed = 99;
    struct ql_diag d = {0};
    int32_t a, b, m, due;
    int64_t n, k, k1, k2;

    (void)state;
    for (int i = 0; i < 2000; i++) {
        a = day_of("2024-06-01") + (int32_t)(qlt_rand(&seed) % 1000);
        n = (int64_t)(qlt_rand(&seed) % 200) - 100;
        assert_int_equal(ql_calendar_add_workdays(c, a, n, &due, NULL, &d),
                         QL_OK);
        if (n != 0)
            assert_true(ql_calendar_is_workday(c, due));
        if (n >= 0) {
            assert_int_equal(
                ql_calendar_count_workdays(c, a, due, &k, NULL, &d), QL_OK);
            assert_int_equal(k, n);
        }
        b = a + (int32_t)(qlt_rand(&seed) % 400) - 200;
        m = a + (int32_t)(qlt_rand(&seed) % 400) - 200;
        assert_int_equal(ql_calendar_count_workdays(c, a, b, &k, NULL, &d),
                         QL_OK);
        assert_int_equal(ql_calendar_count_workdays(c, a, m, &k1, NULL, &d),
                         QL_OK);
        assert_int_equal(ql_calendar_count_workdays(c, m, b, &k2, NULL, &d),
                         QL_OK);
        assert_int_equal(k, k1 + k2);
    }
    ql_calendar_free(c);
}

/* ---- Calendar files ---- */

static void
test_calendar_syntax(void **state)
{
    struct ql_calendar *c;
    struct ql_calendar_entry e;

    (void)state;
    /* An empty file: the defaults, no year covered. */
    c = parse_ok("");
    assert_string_equal(ql_calendar_zone_name(c), "Asia/Shanghai");
    assert_int_equal(ql_calendar_zone(c), QL_ZONE_SHANGHAI);
    assert_false(ql_calendar_covers(c, 2025));
    assert_int_equal(ql_calendar_entry_count(c), 0);
    assert_false(ql_calendar_entry(c, 0, &e));
    assert_true(ql_calendar_is_workday(c, day_of("2025-09-15")));
    assert_false(ql_calendar_is_workday(c, day_of("2025-09-13")));
    assert_string_equal(ql_calendar_name(c), "t.cal");
    ql_calendar_free(c);

    /*
     * A byte-order mark, CR LF line ends, tabs, trailing comments, a '#'
     * inside a label, no final newline, a 31-day holiday and a 120-byte
     * label (40 three-byte characters).
     */
    c = parse_ok("\xEF\xBB\xBF# comment\r\n"
                 "\tzone\t+05:30  # India, say\r\n"
                 "weekend fri sat\r\n"
                 "\r\n"
                 "   \r\n"
                 "year 2025\r\n"
                 "holiday\t2025-01-01\t元旦 # new year\r\n"
                 "holiday 2025-03-01 2025-03-31 March C#\r\n"
                 "workday 2025-01-03 Friday worked\r\n"
                 "holiday 2025-05-01 "
                 "一二三四五六七八九十一二三四五六七八九十"
                 "一二三四五六七八九十一二三四五六七八九十");
    assert_string_equal(ql_calendar_zone_name(c), "+05:30");
    assert_int_equal(ql_calendar_zone(c), 19800);
    assert_true(ql_calendar_covers(c, 2025));
    assert_int_equal(ql_calendar_entry_count(c), 4);
    assert_true(ql_calendar_entry(c, 0, &e));
    assert_int_equal(e.first, day_of("2025-01-01"));
    assert_int_equal(e.last, e.first);
    assert_false(e.workday);
    assert_string_equal(e.label, "元旦");
    assert_int_equal(e.line, 7);
    assert_true(ql_calendar_entry(c, 1, &e));
    assert_true(e.workday);
    assert_string_equal(e.label, "Friday worked");
    assert_int_equal(e.line, 9);
    assert_true(ql_calendar_entry(c, 2, &e));
    assert_int_equal(e.last - e.first + 1, 31);
    assert_string_equal(e.label, "March C#");
    assert_true(ql_calendar_entry(c, 3, &e));
    assert_int_equal(strlen(e.label), 120);
    assert_false(ql_calendar_entry(c, 4, &e));
    /* Friday and Saturday are the weekend here; Sunday is worked. */
    assert_true(ql_calendar_is_workday(c, day_of("2025-01-03")));
    assert_false(ql_calendar_is_workday(c, day_of("2025-01-10")));
    assert_false(ql_calendar_is_workday(c, day_of("2025-01-11")));
    assert_true(ql_calendar_is_workday(c, day_of("2025-01-12")));
    assert_false(ql_calendar_is_workday(c, day_of("2025-03-17")));
    ql_calendar_free(c);

    /*
     * A New Year holiday that starts in the December before, listed under
     * the new year as the State Council does (the 2019 arrangement).
     */
    c = parse_ok("zone UTC\n"
                 "year 2019\n"
                 "holiday 2018-12-30 2019-01-01 元旦\n"
                 "workday 2018-12-29 元旦调休上班\n");
    assert_int_equal(ql_calendar_zone(c), 0);
    assert_true(ql_calendar_is_workday(c, day_of("2018-12-29")));
    assert_false(ql_calendar_is_workday(c, day_of("2018-12-31")));
    assert_true(ql_calendar_covers(c, 2019));
    assert_false(ql_calendar_covers(c, 2018));
    ql_calendar_free(c);

    /* Years in any order; covers() still finds each. */
    c = parse_ok("year 2030\nyear 2026\nyear 2028\nyear 2027\n");
    for (int y = 2026; y <= 2028; y++)
        assert_true(ql_calendar_covers(c, y));
    assert_true(ql_calendar_covers(c, 2030));
    assert_false(ql_calendar_covers(c, 2029));
    assert_false(ql_calendar_covers(c, 2025));
    assert_false(ql_calendar_covers(c, 2031));
    ql_calendar_free(c);
}

/* The example in docs/calendar.md, annotations and all, is a valid file. */
static void
test_calendar_doc_example(void **state)
{
    struct ql_calendar *c = parse_ok(
        "# A comment: '#' at the start of a line, or after a space or tab.\n"
        "zone Asia/Shanghai                  # optional; this is the default\n"
        "weekend sat sun                     # optional; this is the default\n"
        "\n"
        "year 2025                           # 2025's complete arrangement "
        "follows\n"
        "holiday 2025-01-01 元旦             # one day off\n"
        "holiday 2025-01-28 2025-02-04 春节  # days off, first and last "
        "included\n"
        "workday 2025-01-26 春节调休上班     # a weekend day that is worked\n");

    (void)state;
    assert_int_equal(ql_calendar_entry_count(c), 3);
    assert_string_equal(ql_calendar_label(c, day_of("2025-01-01")), "元旦");
    assert_string_equal(ql_calendar_label(c, day_of("2025-02-04")), "春节");
    assert_string_equal(ql_calendar_label(c, day_of("2025-01-26")),
                        "春节调休上班");
    assert_true(ql_calendar_is_workday(c, day_of("2025-01-26")));
    ql_calendar_free(c);
}

static void
test_calendar_errors(void **state)
{
    static const struct {
        const char *text;
        size_t len; /* 0: strlen(text) */
        const char *prefix;
        const char *fragment;
    } cases[] = {
        {"year 2025\nholyday 2025-01-01 元旦\n", 0,
         "t.cal:2: ", "unknown keyword 'holyday'"},
        {"Year 2025\n", 0, "t.cal:1: ", "unknown keyword 'Year'"},
        {"year 2025\nholiday 2025-02-29 x\n", 0,
         "t.cal:2: ", "invalid date '2025-02-29': no such day in that month"},
        {"year 2025\nholiday 2025-1-1 x\n", 0,
         "t.cal:2: ", "invalid date '2025-1-1': not in the form YYYY-MM-DD"},
        {"year 2025\nholiday 2025-01-01 2025-13-01 x\n", 0,
         "t.cal:2: ", "invalid date '2025-13-01': month must be"},
        {"year 2025\nholiday 2025-02-04 2025-01-28 春节\n", 0, "t.cal:2: ",
         "holiday ends on 2025-01-28, before it starts on 2025-02-04"},
        {"year 2025\nholiday 2025-01-01 2025-02-01 x\n", 0,
         "t.cal:2: ", "lasts 32 days; at most 31 are allowed"},
        {"year 2025\nholiday 2025-01-01\n", 0,
         "t.cal:2: ", "holiday 2025-01-01 needs a label"},
        {"year 2025\nholiday 2025-01-01 2025-01-02   # c\n", 0,
         "t.cal:2: ", "holiday 2025-01-01 needs a label"},
        {"year 2025\nholiday\n", 0,
         "t.cal:2: ", "'holiday' needs a date and a label"},
        {"year 2025\nworkday\n", 0,
         "t.cal:2: ", "'workday' needs a date and a label"},
        {"year 2025\nworkday 2025-01-26\n", 0,
         "t.cal:2: ", "workday 2025-01-26 needs a label"},
        {"holiday 2025-01-01 元旦\n", 0,
         "t.cal:1: ", "'holiday' before any 'year' line"},
        {"# x\nworkday 2025-01-26 x\n", 0,
         "t.cal:2: ", "'workday' before any 'year' line"},
        {"year 2025\nholiday 2026-01-01 x\n", 0,
         "t.cal:2: ", "2026-01-01 is outside year 2025"},
        {"year 2025\nholiday 2025-12-31 2026-01-02 x\n", 0,
         "t.cal:2: ", "2026-01-02 is outside year 2025"},
        {"year 2019\nholiday 2018-11-30 x\n", 0,
         "t.cal:2: ", "2018-11-30 is outside year 2019"},
        {"year 2025\nholiday 2025-12-31 x\nyear 2026\nworkday 2025-11-30 x\n",
         0, "t.cal:4: ", "2025-11-30 is outside year 2026"},
        /* The December before is fine, the same day twice is not. */
        {"year 2025\nworkday 2025-12-27 x\nyear 2026\nworkday 2025-12-27 y\n",
         0, "t.cal:4: ", "workday 2025-12-27 is listed twice (also on line 2)"},
        {"year 2025\nworkday 2025-01-27 x\n", 0,
         "t.cal:2: ", "workday 2025-01-27 is a Monday, not a weekend day"},
        {"weekend fri sat\nyear 2025\nworkday 2025-01-26 x\n", 0,
         "t.cal:3: ", "workday 2025-01-26 is a Sunday, not a weekend day"},
        {"year 2025\nworkday 2025-01-26 2025-02-08 x\n", 0,
         "t.cal:2: ", "'workday' takes one date"},
        {"year 2025\nworkday 2025-01-26 a\nworkday 2025-01-26 b\n", 0,
         "t.cal:3: ", "workday 2025-01-26 is listed twice (also on line 2)"},
        {"year 2025\nholiday 2025-02-01 2025-02-04 a\nworkday 2025-02-02 b\n",
         0, "t.cal:3: ", "workday 2025-02-02 overlaps the holiday on line 2"},
        {"year 2025\nworkday 2025-02-02 b\nholiday 2025-02-01 2025-02-04 a\n",
         0, "t.cal:3: ", "holiday 2025-02-01 overlaps the workday on line 2"},
        {"year 2025\nholiday 2025-10-01 2025-10-08 a\n#\n"
         "holiday 2025-10-06 b\n",
         0, "t.cal:4: ", "holiday 2025-10-06 overlaps the holiday on line 2"},
        {"year 2025\nholiday 2025-10-06 b\nholiday 2025-10-01 2025-10-08 a\n",
         0, "t.cal:3: ", "holiday 2025-10-01 overlaps the holiday on line 2"},
        {"year 2025\nholiday 2025-05-01 x\nholiday 2025-05-01 x\n", 0,
         "t.cal:3: ", "holiday 2025-05-01 overlaps the holiday on line 2"},
        {"year 2025\nholiday 2025-05-01 2025-05-05 x\n"
         "holiday 2025-05-05 2025-05-06 y\n",
         0, "t.cal:3: ", "overlaps the holiday on line 2"},
        {"year 2025\nyear 2026\nyear 2025\n", 0,
         "t.cal:3: ", "year 2025 declared twice (first on line 1)"},
        {"year 25\n", 0, "t.cal:1: ", "year must be four digits, not '25'"},
        {"year 2O25\n", 0, "t.cal:1: ", "year must be four digits"},
        {"year\n", 0, "t.cal:1: ", "'year' needs a year"},
        {"year 2025 2026\n", 0,
         "t.cal:1: ", "'year' takes one year, not '2026' too"},
        {"zone Asia/Urumqi\n", 0,
         "t.cal:1: ", "unknown time zone 'Asia/Urumqi'"},
        {"zone UTC\nzone UTC\n", 0,
         "t.cal:2: ", "'zone' given twice (first on line 1)"},
        {"year 2025\nzone UTC\n", 0,
         "t.cal:2: ", "'zone' must come before the first 'year' line"},
        {"zone\n", 0, "t.cal:1: ", "'zone' needs a time zone"},
        {"zone UTC +08:00\n", 0,
         "t.cal:1: ", "'zone' takes one time zone, not '+08:00' too"},
        {"weekend sat sunday\n", 0, "t.cal:1: ", "unknown day 'sunday'"},
        {"weekend sat sat\n", 0, "t.cal:1: ", "'sat' named twice"},
        {"weekend\n", 0, "t.cal:1: ", "'weekend' needs at least one day"},
        {"weekend # none\n", 0,
         "t.cal:1: ", "'weekend' needs at least one day"},
        {"weekend mon tue wed thu fri sat sun\n", 0,
         "t.cal:1: ", "a week needs at least one working day"},
        {"weekend sun\nweekend sat\n", 0,
         "t.cal:2: ", "'weekend' given twice (first on line 1)"},
        {"year 2025\nweekend sat sun\n", 0,
         "t.cal:2: ", "'weekend' must come before the first 'year' line"},
        {"# ok\n# \xff\n", 0, "t.cal:2: ", "invalid UTF-8 at byte 3"},
        {"year 2025\nholiday 2025-01-01 \xc0\xaf\n", 0,
         "t.cal:2: ", "invalid UTF-8 at byte 20"},
        {"# \xe0\x80\xaf overlong\n", 0, "t.cal:1: ", "invalid UTF-8"},
        {"# \xed\xa0\x80 surrogate\n", 0, "t.cal:1: ", "invalid UTF-8"},
        {"# \xf4\x90\x80\x80 too high\n", 0, "t.cal:1: ", "invalid UTF-8"},
        {"# \xf0\x80\x80\x80 overlong\n", 0, "t.cal:1: ", "invalid UTF-8"},
        {"# \xe6\x98", 0, "t.cal:1: ", "invalid UTF-8"},
        {"# \xe6\x98x\n", 0, "t.cal:1: ", "invalid UTF-8"},
        {"# \x80\n", 0, "t.cal:1: ", "invalid UTF-8"},
        {"year 2025\x01\n", 0, "t.cal:1: ", "control character 0x01"},
        {"year 2025\n\x7f\n", 0, "t.cal:2: ", "control character 0x7f"},
        {"year 2025\rholiday 2025-01-01 x\n", 0,
         "t.cal:1: ", "control character 0x0d"},
        {"year 2025\n\0\n", 12, "t.cal:2: ", "control character 0x00"},
        {"\xEF\xBB\xBFyear 2025\r\nbad\r\n", 0,
         "t.cal:2: ", "unknown keyword 'bad'"},
        /* 121 bytes: 40 three-byte characters and one more byte. */
        {"year 2025\nholiday 2025-05-01 "
         "一二三四五六七八九十一二三四五六七八九十"
         "一二三四五六七八九十一二三四五六七八九十x\n",
         0, "t.cal:2: ", "label is longer than 120 bytes"},
    };
    struct ql_calendar *c;
    struct ql_diag d;
    size_t len;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("case %zu: expecting %s\n", i, cases[i].fragment);
        c = NULL;
        ql_diag_clear(&d);
        len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        expect_fail(ql_calendar_parse("t.cal", cases[i].text, len, &c, &d), &d,
                    QL_EFORMAT, cases[i].prefix, cases[i].fragment);
        assert_null(c);
    }
}

static void
test_calendar_parse_limits(void **state)
{
    struct ql_calendar *c = NULL;
    struct ql_diag d = {0};
    size_t big = 1024 * 1024 + 1;
    char *buf;

    (void)state;
    buf = malloc(big);
    assert_non_null(buf);
    memset(buf, '\n', big);
    expect_fail(ql_calendar_parse("big.cal", buf, big, &c, &d), &d, QL_ETOOBIG,
                "big.cal: calendar is larger than 1048576 bytes", NULL);
    assert_null(c);
    /* Exactly 1 MiB of blank lines is fine. */
    assert_int_equal(ql_calendar_parse("big.cal", buf, big - 1, &c, &d), QL_OK);
    ql_calendar_free(c);
    free(buf);

    c = NULL;
    expect_fail(ql_calendar_parse("t.cal", NULL, 5, &c, &d), &d, QL_EUSAGE,
                "t.cal: no calendar text", NULL);
    expect_fail(ql_calendar_parse("t.cal", "", 0, NULL, &d), &d, QL_EUSAGE,
                NULL, "no calendar text");
    /* A NULL name is allowed and becomes "calendar". */
    expect_fail(ql_calendar_parse(NULL, "bad\n", 4, &c, &d), &d, QL_EFORMAT,
                "calendar:1: unknown keyword 'bad'", NULL);
    assert_int_equal(ql_calendar_parse(NULL, NULL, 0, &c, &d), QL_OK);
    assert_string_equal(ql_calendar_name(c), "calendar");
    ql_calendar_free(c);
    ql_calendar_free(NULL);
}

static void
test_calendar_load(void **state)
{
    char *dir = qlt_tempdir();
    char *bad = qlt_join(dir, "bad.cal");
    char *big = qlt_join(dir, "big.cal");
    char *max = qlt_join(dir, "max.cal");
    char *none = qlt_join(dir, "missing.cal");
    char prefix[512];
    struct ql_calendar *c = NULL;
    struct ql_diag d = {0};
    size_t n = 1024 * 1024;
    char *buf;
    const char *text = "year 2025\nholiday 2025-13-01 x\n";

    (void)state;
    qlt_write_file(bad, text, strlen(text));
    snprintf(prefix, sizeof prefix, "%s:2: invalid date '2025-13-01'", bad);
    expect_fail(ql_calendar_load(bad, &c, &d), &d, QL_EFORMAT, prefix, NULL);
    assert_null(c);

    snprintf(prefix, sizeof prefix, "cannot open '%s': ", none);
    expect_fail(ql_calendar_load(none, &c, &d), &d, QL_EIO, prefix,
                "No such file");
    snprintf(prefix, sizeof prefix, "'%s' is not a regular file", dir);
    expect_fail(ql_calendar_load(dir, &c, &d), &d, QL_EIO, prefix, NULL);
    expect_fail(ql_calendar_load(NULL, &c, &d), &d, QL_EUSAGE,
                "no calendar path", NULL);
    expect_fail(ql_calendar_load(bad, NULL, &d), &d, QL_EUSAGE,
                "no calendar path", NULL);
#ifdef __linux__
    /* A regular file whose first read fails (address 0 is never mapped). */
    expect_fail(ql_calendar_load("/proc/self/mem", &c, &d), &d, QL_EIO,
                "cannot read '/proc/self/mem': ", NULL);
#endif

    /* Exactly 1 MiB loads; one byte more is refused. */
    buf = malloc(n + 1);
    assert_non_null(buf);
    memset(buf, '#', n + 1);
    for (size_t i = 99; i < n + 1; i += 100)
        buf[i] = '\n';
    qlt_write_file(max, buf, n);
    assert_int_equal(ql_calendar_load(max, &c, &d), QL_OK);
    assert_string_equal(ql_calendar_name(c), max);
    ql_calendar_free(c);
    c = NULL;
    qlt_write_file(big, buf, n + 1);
    snprintf(prefix, sizeof prefix, "'%s' is larger than 1048576 bytes", big);
    expect_fail(ql_calendar_load(big, &c, &d), &d, QL_ETOOBIG, prefix, NULL);
    assert_null(c);
    free(buf);

    free(bad);
    free(big);
    free(max);
    free(none);
    qlt_rmtree(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_days),
        cmocka_unit_test(test_round_trip_1970_2100),
        cmocka_unit_test(test_round_trip_full_range),
        cmocka_unit_test(test_date_valid),
        cmocka_unit_test(test_date_text),
        cmocka_unit_test(test_add_days),
        cmocka_unit_test(test_time_parse_valid),
        cmocka_unit_test(test_time_parse_invalid),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_round_trip_random),
        cmocka_unit_test(test_zone_parse),
        cmocka_unit_test(test_local_date),
        cmocka_unit_test(test_zone_local_date_text),
        cmocka_unit_test(test_day_first_last),
        cmocka_unit_test(test_shipped_calendar),
        cmocka_unit_test(test_shipped_year_totals),
        cmocka_unit_test(test_workdays_national_day_2025),
        cmocka_unit_test(test_workdays_spring_festival_2026),
        cmocka_unit_test(test_workdays_uncovered),
        cmocka_unit_test(test_workdays_errors),
        cmocka_unit_test(test_workdays_properties),
        cmocka_unit_test(test_calendar_syntax),
        cmocka_unit_test(test_calendar_doc_example),
        cmocka_unit_test(test_calendar_errors),
        cmocka_unit_test(test_calendar_parse_limits),
        cmocka_unit_test(test_calendar_load),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
