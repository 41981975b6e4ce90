/*
 * Holiday calendars and the date and time texts around them
 * (engine/ql_calendar.c): ql_calendar_parse on any file, and
 * ql_date_parse, ql_time_parse and ql_zone_parse on any short text.
 *
 * Invariants: a calendar that loads is what docs/calendar.md promises
 * (entries sorted, never overlapping, holidays of 1 to 31 days, each day
 * answering as its entry says) and its working-day arithmetic is
 * consistent (counting from X to "N working days after X" gives N); a
 * date that parses formats back to the same text; an instant that parses
 * formats to a text that parses to the same instant.
 */
#include "qlf.h"

#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"

static void
cal_arith(const struct ql_calendar *c, int32_t from)
{
    static const int64_t steps[] = {0, 1, 2, 3, 7, 20, -1, -3, -10};
    size_t i;

    for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int32_t to = 0;
        int64_t count = 0;
        bool cov_a = false, cov_b = false;

        if (ql_calendar_add_workdays(c, from, steps[i], &to, &cov_a, NULL) !=
            QL_OK)
            continue;
        QLF_CHECK(steps[i] >= 0 ? to >= from : to <= from);
        if (steps[i] != 0)
            QLF_CHECK(ql_calendar_is_workday(c, to));
        if (steps[i] >= 0) {
            /* Counting the days after from up to to gives n back. */
            QLF_CHECK(ql_calendar_count_workdays(c, from, to, &count, &cov_b,
                                                 NULL) == QL_OK);
            QLF_CHECK(count == steps[i]);
        } else if (to > QL_DAY_MIN) {
            /* Backwards, from itself is not counted but to is. */
            QLF_CHECK(ql_calendar_count_workdays(c, to - 1, from - 1, &count,
                                                 &cov_b, NULL) == QL_OK);
            QLF_CHECK(count == -steps[i]);
        }
    }
}

static void
cal_check(const struct ql_calendar *c)
{
    struct ql_calendar_entry e, prev;
    size_t i, n = ql_calendar_entry_count(c);
    int32_t off = ql_calendar_zone(c);

    QLF_CHECK(off > -86400 && off < 86400 && off % 60 == 0);
    QLF_CHECK(ql_calendar_zone_name(c) != NULL);
    QLF_CHECK(strcmp(ql_calendar_name(c), "fuzz.cal") == 0);
    for (i = 0; i < n; i++) {
        QLF_CHECK(ql_calendar_entry(c, i, &e));
        QLF_CHECK(e.first <= e.last && e.last - e.first < 31);
        QLF_CHECK(e.first >= QL_DAY_MIN && e.last <= QL_DAY_MAX);
        QLF_CHECK(!e.workday || e.first == e.last);
        QLF_CHECK(e.label != NULL && e.label[0] != '\0' &&
                  strlen(e.label) <= 120);
        if (i > 0)
            QLF_CHECK(prev.last < e.first);
        QLF_CHECK(ql_calendar_is_workday(c, e.first) == e.workday);
        QLF_CHECK(ql_calendar_is_workday(c, e.last) == e.workday);
        QLF_CHECK(ql_calendar_label(c, e.first) != NULL &&
                  strcmp(ql_calendar_label(c, e.first), e.label) == 0);
        if (i < 8)
            cal_arith(c, e.first - 2);
        prev = e;
    }
    QLF_CHECK(!ql_calendar_entry(c, n, &e));
    cal_arith(c, 20345); /* 2025-09-13, a Saturday */
}

static void
cal_texts(const char *in, size_t len)
{
    char buf[QL_TIME_BUF], *s;
    int32_t day = 0, off = 0;
    int64_t t = 0, t2 = 0;

    if (ql_date_parse(in, len, &day, NULL) == QL_OK) {
        QLF_CHECK(ql_date_format(day, buf, sizeof buf, NULL) == QL_OK);
        QLF_CHECK(strlen(buf) == len && memcmp(buf, in, len) == 0);
    }
    if (ql_time_parse(in, len, &t, NULL) == QL_OK) {
        QLF_CHECK(t >= QL_TIME_MIN && t <= QL_TIME_MAX);
        QLF_CHECK(ql_time_format(t, buf, sizeof buf, NULL) == QL_OK);
        QLF_CHECK(ql_time_parse(buf, strlen(buf), &t2, NULL) == QL_OK);
        QLF_CHECK(t2 == t);
        if (len == 20)
            QLF_CHECK(memcmp(buf, in, len) == 0);
    }
    if ((s = malloc(len + 1)) == NULL)
        return;
    memcpy(s, in, len);
    s[len] = '\0';
    if (ql_zone_parse(s, &off, NULL) == QL_OK) {
        QLF_CHECK(off > -86400 && off < 86400 && off % 60 == 0);
        QLF_CHECK(ql_time_format_local(0, off, buf, sizeof buf, NULL) == QL_OK);
        QLF_CHECK(ql_time_parse(buf, strlen(buf), &t2, NULL) == QL_OK &&
                  t2 == 0);
    }
    free(s);
}

int
qlf_calendar(const uint8_t *data, size_t size)
{
    struct ql_calendar *c = NULL;
    ql_err rc;

    qlf_setup();
    rc = ql_calendar_parse("fuzz.cal", (const char *)data, size, &c, NULL);
    qlf_last = rc;
    if (rc == QL_OK)
        cal_check(c);
    ql_calendar_free(c);
    if (size <= 64)
        cal_texts((const char *)data, size);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_calendar(data, size);
}
#endif
