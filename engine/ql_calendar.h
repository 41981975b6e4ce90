/*
 * ql_calendar: dates, instants, time zones and working days, for deadlines.
 *
 * Three kinds of value, all plain integers so they can be compared and
 * stored without ceremony:
 *
 *  - an instant is an int64_t count of seconds since 1970-01-01T00:00:00Z
 *    (Unix time: no leap seconds). The log stores instants as RFC 3339 UTC
 *    text, "2025-09-15T02:00:00Z".
 *  - a day is an int32_t count of days since 1970-01-01 in the proleptic
 *    Gregorian calendar (1970-01-01 is day 0, 1969-12-31 is day -1). It
 *    names a calendar date, not a span of time: which instants fall on it
 *    depends on the time zone. Written as "YYYY-MM-DD".
 *  - a zone is an int32_t offset in seconds east of UTC. A fixed offset is
 *    all that China needs: Asia/Shanghai has been UTC+08:00 all year since
 *    1992 (summer time was last kept in 1991), and the whole country keeps
 *    Beijing time. Deadlines are local dates in the county's zone.
 *
 * Supported dates run from 0000-01-01 (QL_DAY_MIN) to 9999-12-31
 * (QL_DAY_MAX), the dates four-digit years can write; supported instants are
 * those on the same dates in UTC (QL_TIME_MIN to QL_TIME_MAX). Functions
 * that could leave that range check and return QL_EUSAGE; pure functions
 * document what they do instead.
 *
 * A struct ql_calendar is a county's holiday calendar file (format in
 * docs/calendar.md): the public holidays and the adjusted working weekends
 * (调休) the State Council publishes each year, the weekend days and the
 * zone. It answers whether a day is a working day and does working-day
 * arithmetic. A loaded calendar is immutable, so one may be shared between
 * threads. Every function here is reentrant: nothing reads the TZ variable
 * or the C library's time-zone state.
 *
 * Pointer arguments must not be NULL unless a comment says otherwise; the
 * struct ql_diag may always be NULL. Out-parameters are written only on
 * success.
 */
#ifndef QL_CALENDAR_H
#define QL_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

/* Day numbers of 0000-01-01 and 9999-12-31. */
#define QL_DAY_MIN (-719528)
#define QL_DAY_MAX 2932896
/* First and last second of the supported dates, in UTC. */
#define QL_TIME_MIN ((int64_t)QL_DAY_MIN * 86400)
#define QL_TIME_MAX ((int64_t)QL_DAY_MAX * 86400 + 86399)

/* Buffer sizes, counting the NUL: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS+HH:MM". */
#define QL_DATE_BUF 11
#define QL_TIME_BUF 26

/* The default zone of a county, and its offset (UTC+08:00). */
#define QL_ZONE_DEFAULT "Asia/Shanghai"
#define QL_ZONE_SHANGHAI (8 * 3600)

/* ISO 8601 weekday numbers, as ql_date_weekday returns them. */
enum {
    QL_MONDAY = 1,
    QL_TUESDAY,
    QL_WEDNESDAY,
    QL_THURSDAY,
    QL_FRIDAY,
    QL_SATURDAY,
    QL_SUNDAY
};

/* Most working days ql_calendar_add_workdays moves in one call, either way. */
#define QL_WORKDAYS_MAX 100000

/* ---- Dates ---- */

/* True when year-month-mday is a real date between 0000-01-01 and 9999-12-31.
 */
bool ql_date_valid(int year, int month, int mday);

/*
 * The day number of year-month-mday. QL_EUSAGE, naming the date, when it is
 * not a real date in range (2025-02-29, month 13, day 0).
 */
ql_err ql_date_from_civil(int year, int month, int mday, int32_t *day,
                          struct ql_diag *d) QL_MUST_CHECK;

/*
 * The civil date of day number day. Defined for every int32_t: days outside
 * QL_DAY_MIN..QL_DAY_MAX give years outside 0..9999 (negative years count
 * astronomically: year 0 is 1 BC), which ql_date_format refuses.
 */
void ql_date_to_civil(int32_t day, int *year, int *month, int *mday);

/* The ISO weekday of day, QL_MONDAY (1) to QL_SUNDAY (7); any int32_t. */
int ql_date_weekday(int32_t day);

/* True for leap years of the proleptic Gregorian calendar; any int. */
bool ql_date_is_leap(int year);

/*
 * day + n calendar days. QL_EUSAGE when the result leaves
 * QL_DAY_MIN..QL_DAY_MAX (or day itself is outside it).
 */
ql_err ql_date_add_days(int32_t day, int64_t n, int32_t *out,
                        struct ql_diag *d) QL_MUST_CHECK;

/*
 * Parses exactly "YYYY-MM-DD" from the len bytes at s (no NUL needed, none
 * allowed inside): four-digit year, two-digit month and day, a real date.
 * QL_EFORMAT with the reason otherwise.
 */
ql_err ql_date_parse(const char *s, size_t len, int32_t *day,
                     struct ql_diag *d) QL_MUST_CHECK;

/*
 * Writes "YYYY-MM-DD" and a NUL into buf (size bytes, at least QL_DATE_BUF).
 * QL_EUSAGE when day is out of range or buf is too small.
 */
ql_err ql_date_format(int32_t day, char *buf, size_t size,
                      struct ql_diag *d) QL_MUST_CHECK;

/* ---- Instants (RFC 3339) ---- */

/*
 * Parses an RFC 3339 date-time from the len bytes at s and converts it to
 * UTC: "YYYY-MM-DDTHH:MM:SS", optionally "." and 1 to 9 digits of fraction,
 * then "Z" or "+HH:MM" / "-HH:MM" ("-00:00" reads as UTC). Stricter than
 * the RFC on purpose: only the upper-case 'T' and 'Z', no space instead of
 * 'T', no leap second (second 60: Unix time cannot hold one). A fraction is
 * dropped, which rounds towards the past: 15:59:59.999 is still before
 * 16:00:00, as a deadline check needs. QL_EFORMAT with the reason for
 * anything else, including dates that do not exist (2025-02-29), hour 24
 * and instants outside QL_TIME_MIN..QL_TIME_MAX once converted.
 */
ql_err ql_time_parse(const char *s, size_t len, int64_t *t,
                     struct ql_diag *d) QL_MUST_CHECK;

/*
 * Writes t as "YYYY-MM-DDTHH:MM:SSZ" and a NUL into buf (size bytes, at
 * least 21; QL_TIME_BUF always fits). This is the only form the log
 * stores. QL_EUSAGE when t is out of range or buf is too small.
 */
ql_err ql_time_format(int64_t t, char *buf, size_t size,
                      struct ql_diag *d) QL_MUST_CHECK;

/*
 * Writes t as local time in zone offset: "2025-09-15T10:00:00+08:00", or
 * with "Z" when offset is 0, so ql_time_format(t) is the offset-0 case.
 * For display; ql_time_parse reads it back to t. QL_EUSAGE when the offset
 * is not a whole number of minutes within +-23:59, when the local time is
 * outside the supported dates or when buf (size bytes) is too small.
 */
ql_err ql_time_format_local(int64_t t, int32_t offset, char *buf, size_t size,
                            struct ql_diag *d) QL_MUST_CHECK;

/* ---- Zones ---- */

/*
 * The offset of the zone called name (NUL-terminated): "Asia/Shanghai"
 * (+08:00), "UTC" (0), or an explicit "+HH:MM" / "-HH:MM" with HH 00..23
 * and MM 00..59. Names are case-sensitive. QL_EFORMAT for anything else:
 * other Olson names are refused rather than guessed, because a fixed offset
 * would be wrong for zones with summer time.
 */
ql_err ql_zone_parse(const char *name, int32_t *offset,
                     struct ql_diag *d) QL_MUST_CHECK;

/*
 * The local date of instant t in zone offset. QL_EUSAGE when t is outside
 * QL_TIME_MIN..QL_TIME_MAX or the local date outside QL_DAY_MIN..QL_DAY_MAX
 * (only the first and last hours of the range can do that).
 */
ql_err ql_zone_local_date(int64_t t, int32_t offset, int32_t *day,
                          struct ql_diag *d) QL_MUST_CHECK;

/*
 * The local date, "YYYY-MM-DD" into buf (size bytes, at least
 * QL_DATE_BUF), of the RFC 3339 instant time in zone offset:
 * ql_time_parse, ql_zone_local_date and ql_date_format, with their
 * errors.
 */
ql_err ql_zone_local_date_text(const char *time, int32_t offset, char *buf,
                               size_t size, struct ql_diag *d) QL_MUST_CHECK;

/*
 * The first and the last second of local date day in zone offset, as UTC
 * instants; defined for every int32_t day and |offset| < 86400. A deadline
 * "by day D" is met by any instant t <= ql_zone_day_last(D, offset): the
 * deadline passes at local midnight, and ql_zone_day_last(D) + 1, which is
 * ql_zone_day_first(D + 1), is the first late second.
 */
int64_t ql_zone_day_first(int32_t day, int32_t offset);
int64_t ql_zone_day_last(int32_t day, int32_t offset);

/* ---- Holiday calendars ---- */

struct ql_calendar;

/* One holiday range or adjusted working day, as the file gave it. */
struct ql_calendar_entry {
    int32_t first;     /* first day (a workday entry is one day long) */
    int32_t last;      /* last day, inclusive */
    bool workday;      /* true: an adjusted working day (调休上班) */
    const char *label; /* "春节"; borrowed for the calendar's lifetime */
    unsigned line;     /* line of the file it came from */
};

/*
 * Parses the calendar text in buf (len bytes, UTF-8, no NUL needed). name
 * (NUL-terminated, copied) prefixes every error: QL_EFORMAT with
 * "name:line: message" for a malformed line, an entry before any 'year'
 * line or outside its year, overlapping or duplicate entries, a workday
 * that is not a weekend day, a holiday that ends before it starts or lasts
 * more than 31 days. QL_ETOOBIG for more than 1 MiB. *out is
 * caller-owned (ql_calendar_free).
 */
ql_err ql_calendar_parse(const char *name, const char *buf, size_t len,
                         struct ql_calendar **out,
                         struct ql_diag *d) QL_MUST_CHECK;

/*
 * Reads and parses the calendar file at path; errors name the path. QL_EIO
 * when it cannot be opened or read or is not a regular file, QL_ETOOBIG
 * beyond 1 MiB, otherwise as ql_calendar_parse.
 */
ql_err ql_calendar_load(const char *path, struct ql_calendar **out,
                        struct ql_diag *d) QL_MUST_CHECK;

/* Frees c; NULL is fine. Labels and names it lent become invalid. */
void ql_calendar_free(struct ql_calendar *c);

/* The name given to ql_calendar_parse (the path for ql_calendar_load). */
const char *ql_calendar_name(const struct ql_calendar *c);

/* The zone's offset, and its name as the file wrote it (QL_ZONE_DEFAULT). */
int32_t ql_calendar_zone(const struct ql_calendar *c);
const char *ql_calendar_zone_name(const struct ql_calendar *c);

/*
 * True when the file declares year ('year 2025') and so lists that year's
 * holidays and adjusted working days. For other years working days are
 * plain weekdays: the engine should warn that the calendar needs updating.
 */
bool ql_calendar_covers(const struct ql_calendar *c, int year);

/*
 * True when day is a working day: an adjusted working day, or else a day
 * that is neither a holiday nor a weekend day. Any int32_t.
 */
bool ql_calendar_is_workday(const struct ql_calendar *c, int32_t day);

/* The label of the holiday or adjusted working day on day, or NULL. */
const char *ql_calendar_label(const struct ql_calendar *c, int32_t day);

/*
 * The day n working days after from, from itself not counted: "within 3
 * working days after 09-29" is due on the third working day after 09-29.
 * For n < 0 the |n|th working day before from; n == 0 gives from. When
 * covered is not NULL it says whether every day stepped over (after from,
 * up to the result) lies in a year the calendar covers. QL_EUSAGE when
 * |n| > QL_WORKDAYS_MAX or the result would leave the supported dates.
 */
ql_err ql_calendar_add_workdays(const struct ql_calendar *c, int32_t from,
                                int64_t n, int32_t *out, bool *covered,
                                struct ql_diag *d) QL_MUST_CHECK;

/*
 * The number of working days w with from < w <= to, so that
 * count(from, add_workdays(from, n)) == n for n >= 0; when to < from, minus
 * the number with to < w <= from. covered as for ql_calendar_add_workdays,
 * over the days counted. QL_EUSAGE when from or to is outside the
 * supported dates.
 */
ql_err ql_calendar_count_workdays(const struct ql_calendar *c, int32_t from,
                                  int32_t to, int64_t *count, bool *covered,
                                  struct ql_diag *d) QL_MUST_CHECK;

/*
 * The entries, sorted by date: ql_calendar_entry fills *e with entry i and
 * returns true, or returns false once i reaches the count.
 */
size_t ql_calendar_entry_count(const struct ql_calendar *c);
bool ql_calendar_entry(const struct ql_calendar *c, size_t i,
                       struct ql_calendar_entry *e);

#endif
