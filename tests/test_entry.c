/* Tests of the entry text format (engine/ql_log_entry.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_log.h"
#include "ql_test.h"

static const char GOOD[] =
    "qingling-entry/1\n"
    "index 17\n"
    "time 2025-09-15T02:00:00Z\n"
    "actor sh-yanpan-01\n"
    "unit GA\n"
    "lead QH-SH-2025-008\n"
    "action move\n"
    "from UNDER_TRIAGE\n"
    "to ASSIGNED\n"
    "transition assign\n"
    "workflow 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
    "clear due_at 2025-08-10\n"
    "clear priority 重点督办\n"
    "payload AQID\n";

static void
build_good(struct ql_entry *e)
{
    struct ql_diag d;
    const uint8_t payload[] = {1, 2, 3};

    ql_entry_init(e);
    e->index = 17;
    strcpy(e->time, "2025-09-15T02:00:00Z");
    assert_int_equal(ql_entry_set_actor(e, "sh-yanpan-01", &d), QL_OK);
    strcpy(e->unit, "GA");
    strcpy(e->lead, "QH-SH-2025-008");
    strcpy(e->action, "move");
    strcpy(e->from, "UNDER_TRIAGE");
    strcpy(e->to, "ASSIGNED");
    strcpy(e->transition, "assign");
    strcpy(e->workflow, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15"
                        "d6c15b0f00a08");
    /* Added out of order: the entry keeps them sorted. */
    assert_int_equal(ql_entry_add_clear(e, "priority", "重点督办", &d), QL_OK);
    assert_int_equal(ql_entry_add_clear(e, "due_at", "2025-08-10", &d), QL_OK);
    assert_int_equal(ql_entry_set_payload(e, payload, 3, &d), QL_OK);
}

static void
test_format_known(void **state)
{
    struct ql_entry e;
    struct ql_diag d;
    char *text = NULL;
    size_t len;

    (void)state;
    build_good(&e);
    assert_int_equal(ql_entry_format(&e, &text, &len, &d), QL_OK);
    assert_string_equal(text, GOOD);
    assert_int_equal(len, strlen(GOOD));
    free(text);
    ql_entry_release(&e);
}

static void
test_parse_round_trip(void **state)
{
    struct ql_entry e;
    struct ql_diag d;
    char *text = NULL;
    size_t len;

    (void)state;
    assert_int_equal(ql_entry_parse(GOOD, strlen(GOOD), &e, &d), QL_OK);
    assert_int_equal(e.index, 17);
    assert_string_equal(e.actor, "sh-yanpan-01");
    assert_string_equal(e.lead, "QH-SH-2025-008");
    assert_string_equal(ql_entry_get_clear(&e, "priority"), "重点督办");
    assert_null(ql_entry_get_clear(&e, "finding"));
    assert_int_equal(e.payload_len, 3);
    assert_int_equal(e.payload[2], 3);
    assert_int_equal(ql_entry_format(&e, &text, &len, &d), QL_OK);
    assert_string_equal(text, GOOD);
    free(text);
    ql_entry_release(&e);
}

static void
test_empty_values(void **state)
{
    static const char MIN[] = "qingling-entry/1\nindex 0\n"
                              "time 2025-01-01T00:00:00Z\nactor admin\n"
                              "unit -\nlead -\naction genesis\nfrom -\nto -\n"
                              "transition -\nworkflow -\npayload -\n";
    struct ql_entry e;
    struct ql_diag d;
    char *text = NULL;
    size_t len;

    (void)state;
    assert_int_equal(ql_entry_parse(MIN, strlen(MIN), &e, &d), QL_OK);
    assert_string_equal(e.unit, "");
    assert_null(e.payload);
    assert_int_equal(ql_entry_format(&e, &text, &len, &d), QL_OK);
    assert_string_equal(text, MIN);
    free(text);
    ql_entry_release(&e);
}

/* Replaces the first occurrence of from in GOOD with to. */
static char *
mutate(const char *from, const char *to)
{
    const char *at = strstr(GOOD, from);
    size_t n = strlen(GOOD) - strlen(from) + strlen(to) + 1;
    char *s = malloc(n);

    assert_non_null(at);
    snprintf(s, n, "%.*s%s%s", (int)(at - GOOD), GOOD, to, at + strlen(from));
    return s;
}

static void
test_hostile(void **state)
{
    static const struct {
        const char *from, *to;
        ql_err code;
        const char *msg;
    } cases[] = {
        {"qingling-entry/1", "qingling-entry/2", QL_EUNSUPPORTED, "version"},
        {"qingling-entry/1", "qingling-note/1", QL_EFORMAT, "not a qingling"},
        {"index 17", "index 017", QL_EFORMAT, "line 2: bad index"},
        {"index 17", "index -1", QL_EFORMAT, "bad index"},
        {"index 17", "index 99999999999999999999", QL_EFORMAT, "bad index"},
        {"index 17", "index 9223372036854775808", QL_EFORMAT, "bad index"},
        {"index 17", "index ", QL_EFORMAT, "bad index"},
        {"index 17\n", "", QL_EFORMAT, "expected 'index'"},
        {"time 2025-09-15T02:00:00Z", "time 2025-02-29T02:00:00Z", QL_EFORMAT,
         "bad time"},
        {"time 2025-09-15T02:00:00Z", "time 2025-09-15T24:00:00Z", QL_EFORMAT,
         "bad time"},
        {"time 2025-09-15T02:00:00Z", "time 2025-09-15T02:00:00+08:00",
         QL_EFORMAT, "bad time"},
        {"actor sh-yanpan-01", "actor sh yanpan", QL_EFORMAT, "bad actor"},
        {"actor sh-yanpan-01", "actor a+b", QL_EFORMAT, "bad actor"},
        {"unit GA", "unit G A", QL_EFORMAT, "line 5: bad 'unit'"},
        {"unit GA", "unit ", QL_EFORMAT, "bad 'unit'"},
        {"action move", "action -", QL_EFORMAT, "may not be empty"},
        {"from UNDER_TRIAGE", "from 研判中", QL_EFORMAT, "bad 'from'"},
        {"to ASSIGNED\n", "", QL_EFORMAT, "expected 'to'"},
        {"workflow 9f86", "workflow 9F86", QL_EFORMAT, "workflow hash"},
        {"clear due_at", "clear Due_at", QL_EFORMAT, "clear field"},
        {"clear due_at", "clear 1due_at", QL_EFORMAT, "clear field"},
        {"clear due_at 2025-08-10\n", "", QL_OK, NULL},
        {"clear due_at 2025-08-10\nclear priority 重点督办\n",
         "clear priority 重点督办\nclear due_at 2025-08-10\n", QL_EFORMAT,
         "out of order"},
        {"clear due_at 2025-08-10\n",
         "clear due_at 2025-08-10\nclear due_at 2025-08-11\n", QL_EFORMAT,
         "out of order"},
        {"重点督办", "\xe9\x87\x8d\xe7\x82", QL_EFORMAT, "clear field"},
        {"重点督办", "a\tb", QL_EFORMAT, "clear field"},
        {"重点督办", "\xc0\xaf", QL_EFORMAT, "clear field"},
        {"payload AQID", "payload AQI", QL_EFORMAT, "bad payload"},
        {"payload AQID", "payload AQJ=", QL_EFORMAT, "bad payload"},
        {"payload AQID", "payload AQI=", QL_OK, NULL},
        {"payload AQID", "payload ", QL_EFORMAT, "bad payload"},
        {"payload AQID\n", "payload AQID", QL_EFORMAT, "missing"},
        {"payload AQID\n", "payload AQID\nextra\n", QL_EFORMAT, "after the"},
        {"payload AQID\n", "", QL_EFORMAT, "missing 'payload'"},
    };
    struct ql_entry e;
    struct ql_diag d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = mutate(cases[i].from, cases[i].to);

        print_message("case %zu: %s -> %s\n", i, cases[i].from, cases[i].to);
        ql_diag_clear(&d);
        assert_int_equal(ql_entry_parse(s, strlen(s), &e, &d), cases[i].code);
        if (cases[i].msg != NULL)
            assert_non_null(strstr(d.msg, cases[i].msg));
        if (cases[i].code == QL_OK)
            ql_entry_release(&e);
        free(s);
    }
}

static void
test_truncated_everywhere(void **state)
{
    struct ql_entry e;
    struct ql_diag d;
    size_t n;

    (void)state;
    for (n = 0; n < strlen(GOOD); n++)
        assert_int_not_equal(ql_entry_parse(GOOD, n, &e, &d), QL_OK);
    /* A NUL byte inside is refused, not read as an end. */
    {
        char buf[sizeof GOOD];

        memcpy(buf, GOOD, sizeof GOOD);
        buf[30] = '\0';
        assert_int_equal(ql_entry_parse(buf, sizeof GOOD - 1, &e, &d),
                         QL_EFORMAT);
    }
}

static void
test_builder_refusals(void **state)
{
    struct ql_entry e;
    struct ql_diag d;
    char *text = NULL;
    size_t len, i;
    char name[16];
    uint8_t *big;

    (void)state;
    build_good(&e);
    assert_int_equal(ql_entry_add_clear(&e, "due_at", "x", &d), QL_EUSAGE);
    assert_int_equal(ql_entry_add_clear(&e, "Bad", "x", &d), QL_EUSAGE);
    assert_int_equal(ql_entry_add_clear(&e, "note", "two\nlines", &d),
                     QL_EFORMAT);
    assert_int_equal(ql_entry_set_actor(&e, "", &d), QL_EUSAGE);
    for (i = e.nclear; i < QL_ENTRY_CLEAR_MAX; i++) {
        snprintf(name, sizeof name, "f%zu", i);
        assert_int_equal(ql_entry_add_clear(&e, name, "v", &d), QL_OK);
    }
    assert_int_equal(ql_entry_add_clear(&e, "zz", "v", &d), QL_EUSAGE);
    strcpy(e.unit, "bad unit");
    assert_int_equal(ql_entry_format(&e, &text, &len, &d), QL_EUSAGE);
    strcpy(e.unit, "GA");
    strcpy(e.time, "yesterday");
    assert_int_equal(ql_entry_format(&e, &text, &len, &d), QL_EUSAGE);
    strcpy(e.time, "2025-09-15T02:00:00Z");
    /* A payload that cannot fit in 64 KiB once encoded. */
    big = calloc(1, 50000);
    assert_int_equal(ql_entry_set_payload(&e, big, 50000, &d), QL_OK);
    assert_int_equal(ql_entry_format(&e, &text, &len, &d), QL_ETOOBIG);
    free(big);
    ql_entry_release(&e);
}

/*
 * A clear field's name and value share one block: values of every
 * length (empty, one byte, long, multi-byte) read back whole beside
 * their neighbours, added out of order and parsed back, and an entry
 * whose fields were added, parsed or refused releases cleanly (ASan).
 */
static void
test_clear_fields_in_one_block(void **state)
{
    static const struct {
        const char *name, *value;
    } fields[] = {
        {"zz_last", ""},
        {"a", "x"},
        {"extended_due", "2025-08-20"},
        {"note", "重点督办 第二批 线索核查"},
        {"_epoch", "7"},
        {"m_empty", ""},
    };
    struct ql_entry e, back;
    struct ql_diag d;
    char *text = NULL, *text2 = NULL, big[3001];
    size_t len, len2, i;

    (void)state;
    build_good(&e);
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        print_message("%s\n", fields[i].name);
        assert_int_equal(
            ql_entry_add_clear(&e, fields[i].name, fields[i].value, &d),
            QL_OK);
    }
    assert_int_equal(ql_entry_add_clear(&e, "long", big, &d), QL_OK);
    /* Refused: the fields before stay as they were. */
    assert_int_equal(ql_entry_add_clear(&e, "a", "again", &d), QL_EUSAGE);
    for (i = 0; i + 1 < e.nclear; i++)
        assert_true(strcmp(e.clear[i].name, e.clear[i + 1].name) < 0);
    assert_int_equal(ql_entry_format(&e, &text, &len, &d), QL_OK);
    assert_int_equal(ql_entry_parse(text, len, &back, &d), QL_OK);
    assert_int_equal(back.nclear, e.nclear);
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_string_equal(ql_entry_get_clear(&back, fields[i].name),
                            fields[i].value);
    assert_string_equal(ql_entry_get_clear(&back, "long"), big);
    assert_string_equal(ql_entry_get_clear(&back, "priority"), "重点督办");
    assert_int_equal(ql_entry_format(&back, &text2, &len2, &d), QL_OK);
    assert_int_equal(len2, len);
    assert_string_equal(text2, text);
    free(text);
    free(text2);
    ql_entry_release(&back);
    ql_entry_release(&e);
    assert_int_equal(e.nclear, 0);
    assert_null(e.clear);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known),
        cmocka_unit_test(test_parse_round_trip),
        cmocka_unit_test(test_empty_values),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_builder_refusals),
        cmocka_unit_test(test_clear_fields_in_one_block),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
