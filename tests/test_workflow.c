#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_codec.h"
#include "ql_profile.h"
#include "ql_test.h"
#include "ql_workflow.h"

/* The shipped files, found from the test data folder. */
#define GANG_LEAD "../../workflows/gang_lead.lua"
#define SHIPPED_CAL "../../workflows/calendars/cn.cal"
#define PROBE "workflows/good_probe.lua"

/* Loaded once: the default workflow, the probe and the calendar. */
struct fixture {
    struct ql_workflow *gang;
    struct ql_workflow *probe;
    struct ql_calendar *cal;
    char *gang_src;
    size_t gang_len;
};

/* Loads a workflow of tests/data; lazy seals it at its first guard. */
static struct ql_workflow *
load_file(const char *name, bool lazy, char **src_out, size_t *len_out)
{
    struct ql_diag d = {0};
    struct ql_workflow *wf = NULL;
    char *path = qlt_data_path(name), *src;
    size_t len;
    ql_err rc;

    src = qlt_read_file(path, &len);
    rc = lazy ? ql_workflow_load_lazy(name, src, len, &wf, &d)
              : ql_workflow_load(name, src, len, &wf, &d);
    if (rc != QL_OK)
        fail_msg("cannot load %s: %s", path, d.msg);
    free(path);
    if (src_out != NULL) {
        *src_out = src;
        *len_out = len;
    } else {
        free(src);
    }
    return wf;
}

static int
setup(void **state, bool lazy)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    struct ql_diag d = {0};
    char *path;

    if (fx == NULL || ql_crypto_init(&d) != QL_OK)
        return -1;
    fx->gang = load_file(GANG_LEAD, lazy, &fx->gang_src, &fx->gang_len);
    fx->probe = load_file(PROBE, lazy, NULL, NULL);
    path = qlt_data_path(SHIPPED_CAL);
    if (ql_calendar_load(path, &fx->cal, &d) != QL_OK) {
        free(path);
        return -1;
    }
    free(path);
    *state = fx;
    return 0;
}

static int
group_setup(void **state)
{
    return setup(state, false);
}

/* The same tests on workflows whose Lua states seal at their first guard. */
static int
group_setup_lazy(void **state)
{
    return setup(state, true);
}

static int
group_teardown(void **state)
{
    struct fixture *fx = *state;

    ql_workflow_free(fx->gang);
    ql_workflow_free(fx->probe);
    ql_calendar_free(fx->cal);
    free(fx->gang_src);
    free(fx);
    return 0;
}

static int32_t
day_of(const char *s)
{
    struct ql_diag d = {0};
    int32_t day = 0;

    if (ql_date_parse(s, strlen(s), &day, &d) != QL_OK)
        fail_msg("bad date in test '%s': %s", s, d.msg);
    return day;
}

static void
expect_fail(ql_err rc, const struct ql_diag *d, ql_err want,
            const char *fragment)
{
    if (rc != want)
        fail_msg("got %s (%s), want %s", ql_errname(rc), d->msg,
                 ql_errname(want));
    assert_int_equal(d->code, want);
    if (fragment != NULL && strstr(d->msg, fragment) == NULL)
        fail_msg("message '%s' does not contain '%s'", d->msg, fragment);
}

/* True when s is well-formed UTF-8 (a cut message must stay readable). */
static bool
utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n, i;

    while (*p != '\0') {
        n = *p < 0x80             ? 1
            : (*p & 0xE0) == 0xC0 ? 2
            : (*p & 0xF0) == 0xE0 ? 3
            : (*p & 0xF8) == 0xF0 ? 4
                                  : 0;
        if (n == 0)
            return false;
        for (i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += n;
    }
    return true;
}

static bool
has(const char *const *list, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* ---- The default workflow ------------------------------------------- */

static void
test_gang_loads(void **state)
{
    struct fixture *fx = *state;
    const struct ql_workflow *wf = fx->gang;
    uint8_t h[QL_HASH_LEN];
    char hex[2 * QL_HASH_LEN + 1];
    static const char *const roles[][2] = {
        {"registrar", "登记员"},       {"triage", "研判员"},
        {"director", "扫黑办主任"},    {"liaison", "承办单位联络员"},
        {"verifier", "核查人"},        {"head", "承办单位主要负责人"},
        {"inspector", "督导员/评查员"}};
    size_t i;

    assert_string_equal(ql_workflow_name(wf), "gang_lead");
    assert_string_equal(ql_workflow_title(wf), "涉黑涉恶线索核查");
    assert_string_equal(ql_workflow_initial(wf), "REGISTERED");
    assert_string_equal(ql_workflow_id_format(wf), "QH-SH-{year}-{seq:3}");
    /* The version is the SHA-256 of the file's bytes. */
    ql_hash(ql_profile_default(), h, fx->gang_src, fx->gang_len);
    ql_hex_encode(hex, h, sizeof h);
    assert_string_equal(ql_workflow_hash(wf), hex);
    assert_true(fx->gang_len < 40 * 1024);
    assert_int_equal(ql_workflow_role_count(wf), 7);
    for (i = 0; i < 7; i++) {
        assert_string_equal(ql_workflow_role_name(wf, i), roles[i][0]);
        assert_string_equal(ql_workflow_role_label(wf, i), roles[i][1]);
    }
    assert_null(ql_workflow_role_name(wf, 7));
    assert_null(ql_workflow_role_label(wf, 7));
    assert_true(ql_workflow_secret_reader(wf, "registrar"));
    assert_true(ql_workflow_secret_reader(wf, "director"));
    assert_false(ql_workflow_secret_reader(wf, "verifier"));
    assert_false(ql_workflow_secret_reader(wf, "admin"));
    assert_false(ql_workflow_secret_reader(wf, NULL));
    assert_int_equal(ql_workflow_field(wf, "reporter")->vis, QL_VIS_SECRET);
    assert_int_equal(ql_workflow_field(wf, "finding")->vis, QL_VIS_CLEAR);
    assert_int_equal(ql_workflow_field(wf, "summary")->vis, QL_VIS_SEALED);
}

static void
test_gang_states(void **state)
{
    struct fixture *fx = *state;
    const struct ql_workflow *wf = fx->gang;
    static const struct {
        const char *name, *label;
        bool terminal, cleared;
        enum ql_limit_kind kind;
        int n;
    } want[] = {
        {"REGISTERED", "已登记(待研判)", false, false, QL_LIMIT_WORKDAYS, 1},
        {"UNDER_TRIAGE", "研判中", false, false, QL_LIMIT_WORKDAYS, 3},
        {"ASSIGNED", "已交办(待签收)", false, false, QL_LIMIT_WORKDAYS, 2},
        {"VERIFYING", "核查中", false, false, QL_LIMIT_NONE, 0},
        {"REPORT_SUBMITTED", "核查报告已报(待审核)", false, false,
         QL_LIMIT_WORKDAYS, 5},
        {"RETURNED", "退回补查/重查", false, false, QL_LIMIT_WORKDAYS, 10},
        {"FEEDBACK_PENDING", "待反馈", false, false, QL_LIMIT_WORKDAYS, 7},
        {"TRANSFERRED_OUT", "已移送(待回执)", false, false, QL_LIMIT_WORKDAYS,
         5},
        {"CLOSED", "已办结", true, true, QL_LIMIT_NONE, 0},
        {"PARKED", "暂存待查", false, true, QL_LIMIT_NONE, 0},
        {"MERGED", "已合并", true, true, QL_LIMIT_NONE, 0},
    };
    const struct ql_wf_state *s;
    size_t i;

    assert_int_equal(ql_workflow_state_count(wf), 11);
    for (i = 0; i < sizeof want / sizeof want[0]; i++) {
        s = ql_workflow_state_at(wf, i);
        assert_non_null(s);
        assert_string_equal(s->name, want[i].name);
        assert_string_equal(s->label, want[i].label);
        assert_int_equal(s->terminal, want[i].terminal);
        assert_int_equal(s->cleared, want[i].cleared);
        assert_int_equal(s->limit.kind, want[i].kind);
        assert_int_equal(s->limit.n, want[i].n);
        assert_ptr_equal(ql_workflow_state(wf, want[i].name), s);
    }
    assert_null(ql_workflow_state_at(wf, 11));
    assert_null(ql_workflow_state(wf, "OPEN"));
    assert_null(ql_workflow_state(wf, NULL));
}

/*
 * Every state is reachable from REGISTERED, reaches a terminal state, and
 * every reference in a transition resolves: checked here independently
 * of the loader's own check.
 */
static void
test_gang_graph_sound(void **state)
{
    struct fixture *fx = *state;
    const struct ql_workflow *wf = fx->gang;
    const struct ql_wf_transition *t;
    const struct ql_wf_state *s;
    size_t ns = ql_workflow_state_count(wf), i, j, k;
    bool seen[32] = {false}, live[32] = {false}, changed;

    assert_true(ns < 32);
    for (i = 0; i < ns; i++) {
        s = ql_workflow_state_at(wf, i);
        seen[i] = strcmp(s->name, ql_workflow_initial(wf)) == 0;
        live[i] = s->terminal;
    }
    do {
        changed = false;
        for (i = 0; i < ql_workflow_transition_count(wf); i++) {
            t = ql_workflow_transition_at(wf, i);
            size_t to = (size_t)(ql_workflow_state(wf, t->to) -
                                 ql_workflow_state_at(wf, 0));
            for (j = 0; j < t->nfrom; j++) {
                size_t from = (size_t)(ql_workflow_state(wf, t->from[j]) -
                                       ql_workflow_state_at(wf, 0));
                if (seen[from] && !seen[to])
                    seen[to] = changed = true;
                if (live[to] && !live[from])
                    live[from] = changed = true;
            }
        }
    } while (changed);
    for (i = 0; i < ns; i++) {
        if (!seen[i] || !live[i])
            fail_msg("state %s: reachable %d, finishes %d",
                     ql_workflow_state_at(wf, i)->name, seen[i], live[i]);
    }
    for (i = 0; i < ql_workflow_transition_count(wf); i++) {
        t = ql_workflow_transition_at(wf, i);
        assert_non_null(ql_workflow_state(wf, t->to));
        assert_true(t->nroles > 0);
        for (j = 0; j < t->nroles; j++) {
            for (k = 0; k < ql_workflow_role_count(wf); k++)
                if (strcmp(ql_workflow_role_name(wf, k), t->roles[j]) == 0)
                    break;
            assert_true(k < ql_workflow_role_count(wf));
        }
        for (j = 0; j < t->nrequire; j++)
            assert_non_null(ql_workflow_field(wf, t->require[j]));
        for (j = 0; j < t->ndistinct; j++)
            assert_non_null(ql_workflow_transition(wf, t->distinct_from[j]));
    }
}

static void
test_gang_transitions(void **state)
{
    struct fixture *fx = *state;
    const struct ql_workflow *wf = fx->gang;
    const struct ql_wf_transition *t;
    /* T2-T22 of the procedure, with T7, T13 and T18 split in two. */
    static const char *const names[] = {
        "triage",  "assign",        "transfer",  "park",       "merge",
        "decline", "decline_close", "sign",      "reassign",   "progress",
        "contact", "extend",        "urge",      "supervise",  "report",
        "approve", "approve_close", "return",    "feedback",   "no_feedback",
        "receipt", "reactivate",    "spot_pass", "spot_return"};
    size_t i;

    assert_int_equal(ql_workflow_transition_count(wf),
                     sizeof names / sizeof names[0]);
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        t = ql_workflow_transition_at(wf, i);
        assert_string_equal(t->name, names[i]);
        assert_ptr_equal(ql_workflow_transition(wf, names[i]), t);
    }
    assert_null(ql_workflow_transition_at(wf, i));
    assert_null(ql_workflow_transition(wf, "close"));
    assert_null(ql_workflow_transition(wf, NULL));

    /* T3: two signatures, moves the lead, requires what the office fills. */
    t = ql_workflow_transition(wf, "assign");
    assert_string_equal(t->label, "交办");
    assert_true(ql_wf_transition_from(t, "UNDER_TRIAGE"));
    assert_false(ql_wf_transition_from(t, "REGISTERED"));
    assert_string_equal(t->to, "ASSIGNED");
    assert_string_equal(t->approval, "director");
    assert_string_equal(t->assign_field, "handling_unit");
    assert_null(t->merge_field);
    assert_null(t->due_field);
    assert_true(t->has_guard);
    assert_true(has(t->require, t->nrequire, "handling_unit"));
    assert_true(has(t->require, t->nrequire, "due_at"));
    assert_true(has(t->require, t->nrequire, "priority"));

    /* T14 from two states; T15-T17 refuse the report's verifiers. */
    t = ql_workflow_transition(wf, "report");
    assert_int_equal(t->nfrom, 2);
    assert_true(ql_wf_transition_from(t, "VERIFYING"));
    assert_true(ql_wf_transition_from(t, "RETURNED"));
    assert_false(ql_wf_transition_from(t, "CLOSED"));
    assert_false(ql_wf_transition_from(t, NULL));
    assert_false(ql_wf_transition_from(NULL, "VERIFYING"));
    assert_string_equal(t->approval, "head");
    assert_true(has(t->require, t->nrequire, "finding"));
    assert_true(has(t->require, t->nrequire, "assets"));
    assert_true(has(t->require, t->nrequire, "umbrella_flag"));
    t = ql_workflow_transition(wf, "approve");
    assert_int_equal(t->ndistinct, 1);
    assert_string_equal(t->distinct_from[0], "report");

    /* The due fields: verification, extension, parking, re-investigation. */
    assert_string_equal(ql_workflow_transition(wf, "sign")->due_field,
                        "due_at");
    assert_string_equal(ql_workflow_transition(wf, "extend")->due_field,
                        "extended_due");
    assert_string_equal(ql_workflow_transition(wf, "park")->due_field,
                        "review_date");
    t = ql_workflow_transition(wf, "spot_return");
    assert_string_equal(t->due_field, "redo_due");
    assert_string_equal(t->assign_field, "handling_unit");
    /* assign and due fields are required even when require omits them. */
    assert_true(has(t->require, t->nrequire, "handling_unit"));
    assert_true(has(t->require, t->nrequire, "redo_due"));
    t = ql_workflow_transition(wf, "merge");
    assert_string_equal(t->merge_field, "master_lead");
    assert_true(has(t->require, t->nrequire, "master_lead"));

    /* Self-loops while verifying (T10-T13) and the spot-check pass (T21). */
    assert_string_equal(ql_workflow_transition(wf, "urge")->to, "VERIFYING");
    assert_string_equal(ql_workflow_transition(wf, "spot_pass")->to, "CLOSED");
    /* T19 is the only way out of an open transfer. */
    for (i = 0; i < ql_workflow_transition_count(wf); i++) {
        t = ql_workflow_transition_at(wf, i);
        if (ql_wf_transition_from(t, "TRANSFERRED_OUT"))
            assert_string_equal(t->name, "receipt");
    }
    assert_null(ql_workflow_transition(wf, "triage")->approval);
    assert_false(ql_workflow_transition(wf, "triage")->has_guard);
}

static void
test_gang_fields(void **state)
{
    struct fixture *fx = *state;
    const struct ql_workflow *wf = fx->gang;
    const struct ql_wf_field *f;

    f = ql_workflow_field(wf, "source");
    assert_non_null(f);
    assert_string_equal(f->label, "线索来源");
    assert_int_equal(f->type, QL_FIELD_ENUM);
    assert_true(f->required);
    assert_true(f->nvalues >= 10);
    assert_string_equal(f->values[0], "群众举报");
    assert_string_equal(f->values[1], "12337平台下发");
    assert_ptr_equal(ql_workflow_field_by_label(wf, "线索来源"), f);
    assert_ptr_equal(ql_workflow_field_by_label(wf, "source"), f);
    assert_null(ql_workflow_field_by_label(wf, "不存在"));
    assert_null(ql_workflow_field_by_label(wf, NULL));
    assert_null(ql_workflow_field(wf, "nope"));
    assert_null(ql_workflow_field(wf, NULL));
    assert_ptr_equal(ql_workflow_field_at(wf, 0),
                     ql_workflow_field(wf, "ext_ref"));
    assert_null(ql_workflow_field_at(wf, ql_workflow_field_count(wf)));
    f = ql_workflow_field(wf, "finding");
    assert_int_equal(f->nvalues, 4);
    assert_string_equal(f->values[3], "不属于涉黑涉恶");
    assert_int_equal(ql_workflow_field(wf, "subjects")->type, QL_FIELD_LIST);
    assert_int_equal(ql_workflow_field(wf, "due_at")->type, QL_FIELD_DATE);
    assert_int_equal(ql_workflow_field(wf, "summary")->max, 4000);
    assert_int_equal(ql_workflow_field(wf, "note")->max, 0);
}

/* ---- Field values ------------------------------------------------------- */

struct value_case {
    const char *field;
    const char *value;
    ql_err want;
    const char *fragment;
};

static void
run_values(const struct ql_workflow *wf, const struct value_case *c, size_t n)
{
    struct ql_diag d;
    const struct ql_wf_field *f;
    ql_err rc;
    size_t i;

    for (i = 0; i < n; i++) {
        memset(&d, 0, sizeof d);
        f = ql_workflow_field(wf, c[i].field);
        if (f == NULL)
            fail_msg("no field %s", c[i].field);
        rc = ql_workflow_check_value(wf, f, c[i].value, &d);
        print_message("  %s case %zu: %s %s\n", c[i].field, i, ql_errname(rc),
                      d.msg);
        if (c[i].want == QL_OK) {
            if (rc != QL_OK)
                fail_msg("case %zu: %s", i, d.msg);
        } else {
            expect_fail(rc, &d, c[i].want, c[i].fragment);
            assert_true(utf8_ok(d.msg));
        }
    }
}

static void
test_values_gang(void **state)
{
    struct fixture *fx = *state;
    char long_text[4100], long_id[70];
    static const struct value_case cases[] = {
        {"source", "群众举报", QL_OK, NULL},
        {"source", "第二战场(监所检举揭发)", QL_OK, NULL},
        {"source", "乱写", QL_EFORMAT,
         "线索来源 (source): '乱写' is not one of: 群众举报, 12337平台下发"},
        {"source", "", QL_EFORMAT, "'' is not one of"},
        {"source", "群众举报 ", QL_EFORMAT, "is not one of"},
        {"named", "匿名(有查询码)", QL_OK, NULL},
        {"finding", "查实", QL_OK, NULL},
        {"finding", "查实了", QL_EFORMAT, "核查结论 (finding)"},
        {"received_at", "2025-09-15", QL_OK, NULL},
        {"received_at", "2024-02-29", QL_OK, NULL},
        {"received_at", "2025-02-29", QL_EFORMAT, "接收时间 (received_at)"},
        {"received_at", "2025-13-01", QL_EFORMAT, "invalid date"},
        {"received_at", "2025-9-15", QL_EFORMAT, "YYYY-MM-DD"},
        {"received_at", "2025-09-15T10:00:00Z", QL_EFORMAT, "invalid date"},
        {"received_at", "", QL_EFORMAT, "接收时间"},
        {"summary", "某某在河道非法采砂。\n强迫村民购买。", QL_OK, NULL},
        {"summary", "", QL_OK, NULL},
        {"summary", "a\tb", QL_EFORMAT,
         "主要问题 (summary): has a control character 0x09"},
        {"summary", "\x1b[31m红色", QL_EFORMAT, "control character 0x1b"},
        {"summary", "回车\r\n", QL_EFORMAT, "control character 0x0d"},
        {"summary", "\xc2\x85", QL_EFORMAT, "control character"},
        {"summary", "\xc3\x28", QL_EFORMAT, "not valid UTF-8 (byte 1)"},
        {"summary", "ok\xed\xa0\x80", QL_EFORMAT, "not valid UTF-8 (byte 3)"},
        {"summary", "\xc0\xaf", QL_EFORMAT, "not valid UTF-8"},
        {"handling_unit", "LT", QL_OK, NULL},
        {"handling_unit", "L\nT", QL_EFORMAT,
         "承办单位 (handling_unit): has a line break; a clear field is one "
         "line"},
        {"subjects", "张某某\n李某某(绰号\"李二\")", QL_OK, NULL},
        {"subjects", "张某某", QL_OK, NULL},
        {"subjects", "", QL_OK, NULL},
        {"subjects", "张某某\n\n李某某", QL_EFORMAT, "item 2 is empty"},
        {"subjects", "张某某\n", QL_EFORMAT, "item 2 is empty"},
        {"subjects", "张某某\n李\t某某", QL_EFORMAT,
         "item 2 has a control character 0x09"},
    };
    static const struct value_case cut = {"industry", "不存在的行业",
                                          QL_EFORMAT, ", ..."};
    struct value_case big[2] = {
        {"summary", long_text, QL_EFORMAT,
         "主要问题 (summary): 4001 bytes, the limit is 4000"},
        {"master_lead", long_id, QL_EFORMAT, "65 bytes, the limit is 64"},
    };

    run_values(fx->gang, cases, sizeof cases / sizeof cases[0]);
    /* A long list of choices is cut between two values, never inside one. */
    run_values(fx->gang, &cut, 1);
    memset(long_text, 'a', 4001);
    long_text[4001] = '\0';
    memset(long_id, 'Q', 65);
    long_id[65] = '\0';
    run_values(fx->gang, big, 2);
    long_text[4000] = '\0';
    big[0].want = QL_OK;
    run_values(fx->gang, big, 1);
}

static void
test_values_probe(void **state)
{
    struct fixture *fx = *state;
    char clear[502], digits[32];
    static const struct value_case cases[] = {
        {"amount", "12", QL_OK, NULL},
        {"amount", "-3.50", QL_OK, NULL},
        {"amount", "0", QL_OK, NULL},
        {"amount", "1e5", QL_EFORMAT, "金额 (amount): '1e5' is not a number"},
        {"amount", "1.", QL_EFORMAT, "is not a number"},
        {"amount", ".5", QL_EFORMAT, "is not a number"},
        {"amount", "--1", QL_EFORMAT, "is not a number"},
        {"amount", "+1", QL_EFORMAT, "is not a number"},
        {"amount", "-", QL_EFORMAT, "is not a number"},
        {"amount", "1,000", QL_EFORMAT, "is not a number"},
        {"amount", "", QL_EFORMAT, "is not a number"},
        {"amount", "１２", QL_EFORMAT, "is not a number"},
        {"code", "ABC 123", QL_OK, NULL},
        {"when", "2025-10-01", QL_OK, NULL},
    };
    struct value_case more[] = {
        {"code", clear, QL_EFORMAT, "代码 (code): 501 bytes, the limit is 500"},
        {"amount", digits, QL_EFORMAT, "at most 30 characters"},
    };
    struct ql_diag d = {0};

    run_values(fx->probe, cases, sizeof cases / sizeof cases[0]);
    memset(clear, 'c', 501);
    clear[501] = '\0';
    memset(digits, '7', 31);
    digits[31] = '\0';
    run_values(fx->probe, more, 2);
    clear[500] = '\0';
    digits[30] = '\0';
    more[0].want = more[1].want = QL_OK;
    run_values(fx->probe, more, 2);

    /* The quoted value is cut and cleaned; a long message is cut whole. */
    expect_fail(ql_workflow_check_value(fx->probe,
                                        ql_workflow_field(fx->probe, "kind"),
                                        "\xff\x01"
                                        "abcdefghijklmnopqrstuvwxyz"
                                        "0123456789ABCDEFGH",
                                        &d),
                &d, QL_EFORMAT,
                "'??abcdefghijklmnopqrstuvwxyz0123456789AB...' is not one of: "
                "甲甲甲");
    assert_true(utf8_ok(d.msg));
    assert_true(strlen(d.msg) >= QL_DIAG_MSG - 4);
    assert_true(strlen(d.msg) < QL_DIAG_MSG);
    /* A first choice too long to list is left out whole. */
    expect_fail(ql_workflow_check_value(
                    fx->probe, ql_workflow_field(fx->probe, "huge"), "丁", &d),
                &d, QL_EFORMAT, "巨 (huge): '丁' is not one of: ...");
    /* Four-byte UTF-8 is text like any other. */
    assert_int_equal(ql_workflow_check_value(fx->probe,
                                             ql_workflow_field(fx->probe, "x"),
                                             "\xf0\x9f\x98\x80 ok", &d),
                     QL_OK);
    expect_fail(ql_workflow_check_value(fx->probe,
                                        ql_workflow_field(fx->probe, "x"),
                                        "\xf8\x88\x80\x80\x80", &d),
                &d, QL_EFORMAT, "not valid UTF-8 (byte 1)");
    expect_fail(ql_workflow_check_value(fx->probe,
                                        ql_workflow_field(fx->probe, "x"),
                                        "\xf4\x90\x80\x80", &d),
                &d, QL_EFORMAT, "not valid UTF-8 (byte 1)");
    expect_fail(ql_workflow_check_value(
                    fx->probe, ql_workflow_field(fx->probe, "x"), NULL, &d),
                &d, QL_EUSAGE, NULL);
    expect_fail(ql_workflow_check_value(fx->probe, NULL, "x", &d), &d,
                QL_EUSAGE, NULL);
}

/* ---- Due dates --------------------------------------------------------------
 */

static void
check_due(const struct ql_workflow *wf, const char *state_name,
          const struct ql_calendar *cal, const char *from, const char *want,
          bool want_covered)
{
    const struct ql_wf_state *s = ql_workflow_state(wf, state_name);
    struct ql_diag d = {0};
    char buf[QL_DATE_BUF];
    int32_t due = -1;
    bool hasdue = false, covered = !want_covered;

    assert_non_null(s);
    if (ql_workflow_due(wf, s, cal, day_of(from), &due, &hasdue, &covered,
                        &d) != QL_OK)
        fail_msg("%s from %s: %s", state_name, from, d.msg);
    if (want == NULL) {
        assert_false(hasdue);
        return;
    }
    assert_true(hasdue);
    assert_int_equal(ql_date_format(due, buf, sizeof buf, &d), QL_OK);
    print_message("  %s from %s: due %s%s\n", state_name, from, buf,
                  covered ? "" : " (calendar does not cover)");
    assert_string_equal(buf, want);
    assert_int_equal(covered, want_covered);
}

static void
test_due(void **state)
{
    struct fixture *fx = *state;
    const struct ql_workflow *wf = fx->gang;
    struct ql_diag d = {0};
    int32_t due = 0;
    bool hasdue;

    /* 2025 National Day and Mid-Autumn: 10-01 to 10-08 off, 09-28 and
     * 10-11 worked. */
    check_due(wf, "REGISTERED", fx->cal, "2025-09-30", "2025-10-09", true);
    check_due(wf, "UNDER_TRIAGE", fx->cal, "2025-09-29", "2025-10-10", true);
    check_due(wf, "ASSIGNED", fx->cal, "2025-10-09", "2025-10-11", true);
    check_due(wf, "REPORT_SUBMITTED", fx->cal, "2025-09-26", "2025-10-10",
              true);
    check_due(wf, "RETURNED", fx->cal, "2025-09-19", "2025-10-10", true);
    check_due(wf, "VERIFYING", fx->cal, "2025-09-19", NULL, true);
    check_due(wf, "CLOSED", fx->cal, "2025-09-19", NULL, true);
    /* Without a calendar only weekends count, and it says so. */
    check_due(wf, "REPORT_SUBMITTED", NULL, "2025-09-26", "2025-10-03", false);
    check_due(wf, "REGISTERED", NULL, "2025-10-03", "2025-10-06", false);
    /* A year the calendar does not declare. */
    check_due(wf, "UNDER_TRIAGE", fx->cal, "2027-03-01", "2027-03-04", false);
    /* Calendar days. */
    check_due(fx->probe, "OPEN", fx->cal, "2025-09-28", "2025-10-05", true);
    check_due(fx->probe, "OPEN", NULL, "2025-12-30", "2026-01-06", true);

    {
        struct ql_wf_state odd = *ql_workflow_state(wf, "REGISTERED");

        odd.limit.kind = (enum ql_limit_kind)9;
        expect_fail(
            ql_workflow_due(wf, &odd, fx->cal, 0, &due, &hasdue, NULL, &d), &d,
            QL_EUSAGE, "bad limit kind");
    }
    assert_int_equal(ql_workflow_due(wf, ql_workflow_state(wf, "VERIFYING"),
                                     NULL, 0, &due, &hasdue, NULL, &d),
                     QL_OK);
    assert_false(hasdue);
    expect_fail(ql_workflow_due(wf, NULL, NULL, 0, &due, &hasdue, NULL, &d), &d,
                QL_EUSAGE, NULL);
    expect_fail(ql_workflow_due(wf, ql_workflow_state(wf, "REGISTERED"), NULL,
                                QL_DAY_MAX, &due, &hasdue, NULL, &d),
                &d, QL_EUSAGE, "supported dates");
    expect_fail(ql_workflow_due(wf, ql_workflow_state(wf, "REGISTERED"),
                                fx->cal, QL_DAY_MAX + 1, &due, &hasdue, NULL,
                                &d),
                &d, QL_EUSAGE, "supported dates");
    expect_fail(ql_workflow_due(fx->probe, ql_workflow_state(fx->probe, "OPEN"),
                                NULL, QL_DAY_MAX - 3, &due, &hasdue, NULL, &d),
                &d, QL_EUSAGE, NULL);
}

/* ---- Guards
 * ------------------------------------------------------------------- */

static const char *const DIRECTOR[] = {"director"};

/* A guard call on the default workflow with the fields given. */
static ql_err
gang_guard(struct fixture *fx, const char *tname, const struct ql_wf_kv *kv,
           size_t n, const char *actor_unit, bool *ok, char *reason,
           size_t size, struct ql_diag *d)
{
    struct ql_wf_guard_input in;

    memset(&in, 0, sizeof in);
    in.lead_id = "QH-SH-2025-003";
    in.state = "UNDER_TRIAGE";
    in.unit = "TD";
    in.fields = kv;
    in.nfields = n;
    in.actor = "sh-yanpan-01";
    in.actor_unit = actor_unit;
    in.roles = DIRECTOR;
    in.nroles = 1;
    in.now = "2025-09-15T02:00:00Z";
    in.today = "2025-09-15";
    return ql_workflow_guard(fx->gang, ql_workflow_transition(fx->gang, tname),
                             &in, ok, reason, size, d);
}

static void
test_guards_gang(void **state)
{
    struct fixture *fx = *state;
    struct ql_diag d = {0};
    char reason[256];
    bool ok;
    static const struct {
        const char *transition;
        struct ql_wf_kv kv[4];
        const char *actor_unit;
        bool want;
        const char *fragment;
    } cases[] = {
        {"assign",
         {{"umbrella_flag", "否"}, {"due_at", "2025-10-15"}},
         "SH",
         true,
         NULL},
        {"assign",
         {{"umbrella_flag", "是"}, {"due_at", "2025-10-15"}},
         "SH",
         false,
         "移送函号"},
        {"assign",
         {{"umbrella_flag", "是"},
          {"due_at", "2025-10-15"},
          {"letter_no", "青纪移〔2025〕1号"}},
         "SH",
         true,
         NULL},
        {"assign",
         {{"umbrella_flag", "否"}, {"due_at", "2025-09-15"}},
         "SH",
         false,
         "核查期限须晚于今天"},
        {"assign",
         {{"umbrella_flag", "否"}, {"due_at", "2026-01-01"}},
         "SH",
         false,
         "90日"},
        {"park", {{"review_date", "2025-12-14"}}, "SH", true, NULL},
        {"park", {{"review_date", "2025-12-15"}}, "SH", false, "90日"},
        {"merge", {{"master_lead", "QH-SH-2025-006"}}, "SH", true, NULL},
        {"merge", {{"master_lead", "QH-SH-2025-003"}}, "SH", false, "线索本身"},
        {"decline",
         {{"named", "实名"}, {"source", "群众举报"}},
         "SH",
         true,
         NULL},
        {"decline",
         {{"named", "匿名"}, {"source", "群众举报"}},
         "SH",
         false,
         "不予受理(办结)"},
        {"decline_close",
         {{"named", "匿名"}, {"source", "群众举报"}},
         "SH",
         true,
         NULL},
        {"decline_close", {{"named", "匿名"}}, "SH", true, NULL},
        {"decline_close",
         {{"named", "匿名"}, {"source", "上级交办"}},
         "SH",
         false,
         "须反馈"},
        {"sign", {{"verifiers", "王某\n李某"}}, "TD", true, NULL},
        {"sign", {{"verifiers", "王某"}}, "TD", false, "不得少于2人"},
        {"sign", {{"verifiers", NULL}}, "TD", false, "不得少于2人"},
        {"extend",
         {{"due_at", "2025-08-21"}, {"extended_due", "2025-09-20"}},
         "TD",
         true,
         NULL},
        {"extend",
         {{"due_at", "2025-08-21"}, {"extended_due", "2025-09-21"}},
         "TD",
         false,
         "30日"},
        {"extend",
         {{"due_at", "2025-08-21"}, {"extended_due", "2025-08-21"}},
         "TD",
         false,
         "晚于原核查期限"},
        {"report",
         {{"named", "实名"}, {"contact_log", "2025-08-01 电话"}},
         "TD",
         true,
         NULL},
        {"report", {{"named", "实名"}}, "TD", false, "联系举报人"},
        {"report", {{"named", "匿名"}}, "TD", true, NULL},
        {"approve",
         {{"named", "匿名(有查询码)"}, {"source", "12337平台下发"}},
         "SH",
         true,
         NULL},
        {"approve_close",
         {{"named", "匿名"}, {"source", "部门移送"}},
         "SH",
         false,
         "须反馈"},
        {"spot_pass", {{"handling_unit", "TD"}}, "DD", true, NULL},
        {"spot_pass", {{"handling_unit", "TD"}}, "TD", false, "回避"},
        {"spot_return",
         {{"handling_unit", "TD"}, {"redo_due", "2025-10-03"}},
         "DD",
         true,
         NULL},
        {"spot_return",
         {{"handling_unit", "TD"}, {"redo_due", "2025-10-16"}},
         "DD",
         false,
         "30日"},
        {"spot_return",
         {{"handling_unit", "LT"}, {"redo_due", "2025-10-03"}},
         "TD",
         false,
         "回避"},
        /* Transitions without a guard allow. */
        {"triage", {{NULL, NULL}}, "SH", true, NULL},
    };
    size_t i, n;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (n = 0; n < 4 && cases[i].kv[n].name != NULL; n++)
            ;
        ok = !cases[i].want;
        snprintf(reason, sizeof reason, "untouched");
        if (gang_guard(fx, cases[i].transition, cases[i].kv, n,
                       cases[i].actor_unit, &ok, reason, sizeof reason,
                       &d) != QL_OK)
            fail_msg("case %zu (%s): %s", i, cases[i].transition, d.msg);
        print_message("  %s: %s %s\n", cases[i].transition,
                      ok ? "allowed" : "refused", reason);
        assert_int_equal(ok, cases[i].want);
        if (ok)
            assert_string_equal(reason, "");
        else if (strstr(reason, cases[i].fragment) == NULL)
            fail_msg("reason '%s' lacks '%s'", reason, cases[i].fragment);
    }
}

/* A guard call on the probe workflow. */
static ql_err
probe_guard(struct fixture *fx, const char *tname, bool *ok, char *reason,
            size_t size, struct ql_diag *d)
{
    /* A NULL role is skipped: the guard sees two. */
    static const char *const roles[] = {"clerk", NULL, "chief"};
    static const struct ql_wf_kv kv[] = {{"x", "甲值"},
                                         {"items", "一\n二\n\n三"},
                                         {"undeclared", "u"},
                                         {"when", NULL}};
    struct ql_wf_guard_input in;

    memset(&in, 0, sizeof in);
    in.lead_id = "P-1";
    in.state = "OPEN";
    in.unit = "LT";
    in.fields = kv;
    in.nfields = sizeof kv / sizeof kv[0];
    in.actor = "lt-lly-01";
    in.actor_unit = "LT";
    in.roles = roles;
    in.nroles = 3;
    in.now = "2025-09-15T02:00:00Z";
    in.today = "2025-09-15";
    return ql_workflow_guard(fx->probe,
                             ql_workflow_transition(fx->probe, tname), &in, ok,
                             reason, size, d);
}

static void
test_guard_sees_input(void **state)
{
    struct fixture *fx = *state;
    struct ql_diag d = {0};
    char reason[256], small[12];
    bool ok = true;

    assert_int_equal(probe_guard(fx, "echo", &ok, reason, sizeof reason, &d),
                     QL_OK);
    assert_false(ok);
    /* Lists arrive as arrays of their non-empty lines. */
    assert_string_equal(reason, "P-1|OPEN|LT|甲值|3|二|lt-lly-01|LT|clerk|2|"
                                "2025-09-15T02:00:00Z|2025-09-15|echo|DONE|"
                                "nil");
    /* A reason that does not fit is cut at a character boundary. */
    assert_int_equal(probe_guard(fx, "echo", &ok, small, sizeof small, &d),
                     QL_OK);
    assert_false(ok);
    assert_string_equal(small, "P-1|OPEN...");
    /* No reason given: a default one. Control characters never pass. */
    assert_int_equal(probe_guard(fx, "silent", &ok, reason, sizeof reason, &d),
                     QL_OK);
    assert_false(ok);
    assert_string_equal(reason, "refused by the guard of 'silent'");
    assert_int_equal(probe_guard(fx, "noisy", &ok, reason, sizeof reason, &d),
                     QL_OK);
    assert_false(ok);
    assert_string_equal(reason, "第一行??[31m红");
    /* A buffer too small for any reason gets an empty one. */
    assert_int_equal(probe_guard(fx, "echo", &ok, small, 4, &d), QL_OK);
    assert_false(ok);
    assert_string_equal(small, "");
    /* A guard returning false, allowed, no reason buffer. */
    assert_int_equal(probe_guard(fx, "allow", &ok, NULL, 0, &d), QL_OK);
    assert_false(ok);
    assert_int_equal(probe_guard(fx, "plain", &ok, reason, sizeof reason, &d),
                     QL_OK);
    assert_true(ok);
    assert_string_equal(reason, "");
}

static void
test_guard_errors(void **state)
{
    struct fixture *fx = *state;
    struct ql_diag d = {0};
    struct ql_wf_guard_input in;
    char reason[64];
    bool ok = true;
    static const struct {
        const char *transition;
        const char *fragment;
    } cases[] = {
        {"boom", "boom"},
        {"number", "number"},
        {"scribble", "read-only"},
        /* The budget, or the clock on a slow machine (valgrind). */
        {"spin", "good_probe.lua:44: "},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&d, 0, sizeof d);
        ok = true;
        expect_fail(probe_guard(fx, cases[i].transition, &ok, reason,
                                sizeof reason, &d),
                    &d, QL_ESCRIPT, cases[i].fragment);
        print_message("  %s: %s\n", cases[i].transition, d.msg);
        /* The message names the file and the transition. */
        assert_non_null(strstr(d.msg, "good_probe.lua"));
        assert_non_null(strstr(d.msg, cases[i].transition));
        assert_true(ok);
    }
    /* The state stays usable after failed calls. */
    assert_int_equal(probe_guard(fx, "plain", &ok, reason, sizeof reason, &d),
                     QL_OK);
    assert_true(ok);

    memset(&in, 0, sizeof in);
    expect_fail(ql_workflow_guard(fx->probe,
                                  ql_workflow_transition(fx->gang, "assign"),
                                  &in, &ok, reason, sizeof reason, &d),
                &d, QL_EUSAGE, "not one of workflow 'probe'");
    expect_fail(
        ql_workflow_guard(fx->probe, NULL, &in, &ok, reason, sizeof reason, &d),
        &d, QL_EUSAGE, NULL);
    expect_fail(ql_workflow_guard(fx->probe,
                                  ql_workflow_transition(fx->probe, "echo"),
                                  NULL, &ok, reason, sizeof reason, &d),
                &d, QL_EUSAGE, NULL);
    {
        static const struct ql_wf_kv bad[] = {{NULL, "v"}};

        in.fields = bad;
        in.nfields = 1;
        expect_fail(ql_workflow_guard(fx->probe,
                                      ql_workflow_transition(fx->probe, "echo"),
                                      &in, &ok, reason, sizeof reason, &d),
                    &d, QL_EUSAGE, "has no name");
    }
}

/* ---- Graphs
 * --------------------------------------------------------------------- */

static void
test_graph_gang(void **state)
{
    struct fixture *fx = *state;
    const struct ql_workflow *wf = fx->gang;
    const struct ql_wf_transition *t;
    const struct ql_wf_state *s;
    struct ql_workflow *again;
    struct ql_diag d = {0};
    char *dot = NULL, *mmd = NULL, *dot2 = NULL, *mmd2 = NULL, want[256];
    size_t i, j;

    assert_int_equal(ql_workflow_graph(wf, QL_GRAPH_DOT, &dot, &d), QL_OK);
    assert_int_equal(ql_workflow_graph(wf, QL_GRAPH_MERMAID, &mmd, &d), QL_OK);
    assert_true(strncmp(dot, "digraph \"gang_lead\" {\n", 22) == 0);
    assert_true(strncmp(mmd, "stateDiagram-v2\n", 16) == 0);
    assert_non_null(strstr(dot, "label=\"涉黑涉恶线索核查\""));
    assert_non_null(strstr(mmd, "[*] --> REGISTERED\n"));
    assert_non_null(strstr(dot, "\"__start\" -> \"REGISTERED\";"));
    for (i = 0; i < ql_workflow_state_count(wf); i++) {
        s = ql_workflow_state_at(wf, i);
        snprintf(want, sizeof want, "\"%s\" [label=\"%s\\n%s\"%s];\n", s->name,
                 s->name, s->label, s->terminal ? ", shape=doublecircle" : "");
        if (strstr(dot, want) == NULL)
            fail_msg("DOT lacks %s", want);
        snprintf(want, sizeof want, "    %s : %s %s\n", s->name, s->name,
                 s->label);
        if (strstr(mmd, want) == NULL)
            fail_msg("Mermaid lacks %s", want);
        snprintf(want, sizeof want, "    %s --> [*]\n", s->name);
        assert_int_equal(strstr(mmd, want) != NULL, s->terminal);
    }
    for (i = 0; i < ql_workflow_transition_count(wf); i++) {
        t = ql_workflow_transition_at(wf, i);
        for (j = 0; j < t->nfrom; j++) {
            snprintf(want, sizeof want, "\"%s\" -> \"%s\" [label=\"%s\"];\n",
                     t->from[j], t->to, t->label);
            if (strstr(dot, want) == NULL)
                fail_msg("DOT lacks %s", want);
            snprintf(want, sizeof want, "    %s --> %s : %s\n", t->from[j],
                     t->to, t->label);
            if (strstr(mmd, want) == NULL)
                fail_msg("Mermaid lacks %s", want);
        }
    }
    /* Deterministic: the same bytes again, and from a second load. */
    again = load_file(GANG_LEAD, false, NULL, NULL);
    assert_int_equal(ql_workflow_graph(again, QL_GRAPH_DOT, &dot2, &d), QL_OK);
    assert_int_equal(ql_workflow_graph(again, QL_GRAPH_MERMAID, &mmd2, &d),
                     QL_OK);
    assert_string_equal(dot, dot2);
    assert_string_equal(mmd, mmd2);
    assert_string_equal(ql_workflow_hash(again), ql_workflow_hash(wf));
    expect_fail(ql_workflow_graph(wf, (enum ql_graph_format)7, &dot2, &d), &d,
                QL_EUSAGE, "graph format");
    expect_fail(ql_workflow_graph(wf, QL_GRAPH_DOT, NULL, &d), &d, QL_EUSAGE,
                NULL);
    ql_workflow_free(again);
    free(dot);
    free(mmd);
    free(dot2);
    free(mmd2);
}

static void
test_graph_escaping(void **state)
{
    struct fixture *fx = *state;
    struct ql_diag d = {0};
    char *dot = NULL, *mmd = NULL;
    const char *line, *want;

    assert_int_equal(ql_workflow_graph(fx->probe, QL_GRAPH_DOT, &dot, &d),
                     QL_OK);
    assert_int_equal(ql_workflow_graph(fx->probe, QL_GRAPH_MERMAID, &mmd, &d),
                     QL_OK);
    assert_non_null(strstr(dot, "label=\"探针: \\\"流程\\\"\";"));
    assert_non_null(strstr(dot, "\"OPEN\" -> \"DONE\" [label=\"q\\\"uo\\\\te: "
                                "a;b#c%<>{}[]|\"];"));
    assert_non_null(strstr(dot, "\"DONE\" -> \"DONE\" [label=\"q\\\"uo\\\\te: "
                                "a;b#c%<>{}[]|\"];"));
    /* Unnamed labels fall back to the name. */
    assert_non_null(strstr(dot, "[label=\"boom\"]"));
    /* Mermaid: full-width forms, so the only ':' is the separator. */
    line = strstr(mmd, "    OPEN --> DONE : q");
    assert_non_null(line);
    want = "    OPEN --> DONE : q＂uo＼te： a；b＃c％＜＞｛｝［］｜\n";
    assert_true(strncmp(line, want, strlen(want)) == 0);
    assert_non_null(strstr(mmd, "%% probe 探针： ＂流程＂\n"));
    assert_null(strstr(mmd, "\""));
    free(dot);
    free(mmd);
}

/* ---- Loading: the probe and small cases
 * ----------------------------------------- */

static void
test_probe_defaults(void **state)
{
    struct fixture *fx = *state;
    const struct ql_workflow *wf = fx->probe;
    const struct ql_wf_transition *t;
    const struct ql_wf_field *f;

    assert_string_equal(ql_workflow_id_format(wf), "{unit}-{year}-{seq:6}");
    assert_string_equal(ql_workflow_role_label(wf, 1), "chief");
    assert_true(ql_workflow_secret_reader(wf, "chief"));
    f = ql_workflow_field(wf, "x");
    assert_int_equal(f->type, QL_FIELD_TEXT);
    assert_int_equal(f->vis, QL_VIS_SEALED);
    assert_false(f->required);
    assert_int_equal(f->max, 0);
    f = ql_workflow_field(wf, "who");
    assert_int_equal(f->vis, QL_VIS_SECRET);
    assert_true(f->required);
    t = ql_workflow_transition(wf, "allow");
    assert_string_equal(t->label, "allow");
    assert_int_equal(t->nrequire, 2);
    assert_string_equal(t->require[0], "x");
    assert_string_equal(t->require[1], "when");
    assert_int_equal(t->ndistinct, 2);
    assert_string_equal(t->distinct_from[1], "plain");
    /* Names point into the workflow: distinct_from resolves to them. */
    assert_ptr_equal(t->distinct_from[1],
                     ql_workflow_transition(wf, "plain")->name);
    assert_ptr_equal(ql_workflow_transition(wf, "plain")->from[1],
                     ql_workflow_state(wf, "DONE")->name);
}

static void
test_load_small(void **state)
{
    static const char mini[] =
        "return { name = \"mini\", initial = \"OPEN\", roles = { { name = "
        "\"clerk\" } }, states = { { name = \"OPEN\" }, { name = \"DONE\", "
        "terminal = true } }, transitions = { { name = \"go\", from = "
        "\"OPEN\", to = \"DONE\", roles = { \"clerk\" } } } }\n";
    struct ql_workflow *wf = NULL;
    struct ql_diag d = {0};
    char *big;

    (void)state;
    assert_int_equal(ql_workflow_load("mini.lua", mini, strlen(mini), &wf, &d),
                     QL_OK);
    /* sha256sum of the text above. */
    assert_string_equal(ql_workflow_hash(wf), "19b9219dd4be2a0c8fb9e6f93001a1"
                                              "91880c027bb2f8a607dd7178ea7fd8"
                                              "7c69");
    assert_string_equal(ql_workflow_title(wf), "mini");
    assert_int_equal(ql_workflow_field_count(wf), 0);
    assert_null(ql_workflow_field_at(wf, 0));
    ql_workflow_free(wf);
    ql_workflow_free(NULL);

    /* Too big, before any Lua runs. */
    big = calloc(1, QL_WORKFLOW_SOURCE_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', QL_WORKFLOW_SOURCE_MAX + 1);
    wf = NULL;
    expect_fail(
        ql_workflow_load("big.lua", big, QL_WORKFLOW_SOURCE_MAX + 1, &wf, &d),
        &d, QL_ETOOBIG, "big.lua: workflow source is 45057 bytes");
    assert_null(wf);
    free(big);
    expect_fail(ql_workflow_load("x.lua", NULL, 3, &wf, &d), &d, QL_EUSAGE,
                NULL);
    expect_fail(ql_workflow_load(NULL, mini, 3, &wf, &d), &d, QL_EUSAGE, NULL);
    expect_fail(ql_workflow_load("x.lua", mini, strlen(mini), NULL, &d), &d,
                QL_EUSAGE, NULL);
    /* Bytecode is refused. */
    expect_fail(ql_workflow_load("bin.lua", "\x1bLua", 4, &wf, &d), &d,
                QL_ESCRIPT, "bin.lua");
    /* An empty source returns nothing. */
    expect_fail(ql_workflow_load("empty.lua", NULL, 0, &wf, &d), &d, QL_EFORMAT,
                "empty.lua: the file returns nothing");
}

/*
 * A version registered in the store loads lazily: a source that breaks a
 * sealing rule (here a table with a metatable kept from loading) is
 * refused by ql_workflow_load, which registering uses, while a lazy load
 * takes it and its first guard fails with the same message, then every
 * guard after it.
 */
static void
test_lazy_seal_failure(void **state)
{
    static const char src[] =
        "local memo = setmetatable({}, {__index = function() return 0 end})\n"
        "return { name = \"mini\", initial = \"OPEN\", roles = { { name = "
        "\"clerk\" } }, states = { { name = \"OPEN\" }, { name = \"DONE\", "
        "terminal = true } }, transitions = { { name = \"go\", from = "
        "\"OPEN\", to = \"DONE\", roles = { \"clerk\" }, guard = "
        "function() return memo.x == 0 end }, { name = \"skip\", from = "
        "\"OPEN\", to = \"DONE\", roles = { \"clerk\" } } } }\n";
    static const char *const want =
        "kept.lua: a table with a metatable survives loading";
    struct ql_workflow *wf = NULL;
    struct ql_wf_guard_input in;
    struct ql_diag d = {0};
    char reason[64], first[QL_DIAG_MSG];
    bool ok = false;
    int i;

    (void)state;
    expect_fail(ql_workflow_load("kept.lua", src, strlen(src), &wf, &d), &d,
                QL_ESCRIPT, want);
    assert_null(wf);
    assert_int_equal(
        ql_workflow_load_lazy("kept.lua", src, strlen(src), &wf, &d), QL_OK);
    assert_int_equal(ql_workflow_transition_count(wf), 2);
    memset(&in, 0, sizeof in);
    in.lead_id = "X-1";
    in.state = "OPEN";
    in.unit = "TD";
    in.actor = "clerk-1";
    in.now = "2025-09-15T02:00:00Z";
    in.today = "2025-09-15";
    /* A transition without a guard runs no Lua and needs no seal. */
    assert_int_equal(ql_workflow_guard(wf, ql_workflow_transition(wf, "skip"),
                                       &in, &ok, reason, sizeof reason, &d),
                     QL_OK);
    assert_true(ok);
    for (i = 0; i < 2; i++) {
        ok = true;
        expect_fail(ql_workflow_guard(wf, ql_workflow_transition(wf, "go"), &in,
                                      &ok, reason, sizeof reason, &d),
                    &d, QL_ESCRIPT, want);
        assert_non_null(strstr(d.msg, "(guard of 'go')"));
        assert_true(ok);
        if (i == 0)
            snprintf(first, sizeof first, "%s", d.msg);
        else
            assert_string_equal(d.msg, first);
    }
    ql_workflow_free(wf);
}

/*
 * Lua shortens long chunk names ("...tail"); messages then name the file
 * in full as well, for load errors and for guard errors.
 */
static void
test_long_chunk_name(void **state)
{
    static const char bad[] = "return {\n  name = 'x'\n  initial = 'A' }";
    static const char *const roles[] = {"clerk"};
    char name[128], *path, *src;
    struct ql_wf_guard_input in;
    struct ql_workflow *wf = NULL;
    struct ql_diag d = {0};
    char reason[64];
    size_t len;
    bool ok = true;

    (void)state;
    memset(name, 'n', sizeof name);
    memcpy(name + 100, "/long_probe.lua", 16);
    expect_fail(ql_workflow_load(name, bad, sizeof bad - 1, &wf, &d), &d,
                QL_ESCRIPT, "long_probe.lua:3:");
    assert_true(strncmp(d.msg, name, strlen(name)) == 0);

    path = qlt_data_path(PROBE);
    src = qlt_read_file(path, &len);
    if (ql_workflow_load(name, src, len, &wf, &d) != QL_OK)
        fail_msg("%s", d.msg);
    memset(&in, 0, sizeof in);
    in.roles = roles;
    in.nroles = 1;
    expect_fail(ql_workflow_guard(wf, ql_workflow_transition(wf, "boom"), &in,
                                  &ok, reason, sizeof reason, &d),
                &d, QL_ESCRIPT, ": guard of 'boom': ");
    assert_true(strncmp(d.msg, name, strlen(name)) == 0);
    assert_non_null(strstr(d.msg, "long_probe.lua:"));
    ql_workflow_free(wf);
    free(src);
    free(path);
}

/* The example at the top of docs/workflows.md loads and behaves. */
static void
test_docs_example(void **state)
{
    static const char *const roles[] = {"handler"};
    static const struct ql_wf_kv short_answer[] = {{"answer", "已答复"}};
    static const struct ql_wf_kv long_answer[] = {
        {"answer", "已于九月十五日当面答复信访人"}};
    struct ql_wf_guard_input in;
    struct ql_workflow *wf = NULL;
    struct ql_diag d = {0};
    char *path = qlt_data_path("../../docs/workflows.md"), *doc, *start, *end;
    char reason[128];
    bool ok = true;

    (void)state;
    doc = qlt_read_file(path, NULL);
    start = strstr(doc, "```lua\n");
    assert_non_null(start);
    start += 7;
    end = strstr(start, "```");
    assert_non_null(end);
    if (ql_workflow_load("workflows.md", start, (size_t)(end - start), &wf,
                         &d) != QL_OK)
        fail_msg("docs example: %s", d.msg);
    assert_string_equal(ql_workflow_name(wf), "petition");
    assert_string_equal(ql_workflow_id_format(wf), "XF-{year}-{seq:4}");
    memset(&in, 0, sizeof in);
    in.lead_id = "XF-2025-0001";
    in.state = "HANDLING";
    in.roles = roles;
    in.nroles = 1;
    in.fields = short_answer;
    in.nfields = 1;
    assert_int_equal(ql_workflow_guard(wf, ql_workflow_transition(wf, "close"),
                                       &in, &ok, reason, sizeof reason, &d),
                     QL_OK);
    assert_false(ok);
    assert_string_equal(reason, "答复意见不得少于10个字");
    in.fields = long_answer;
    assert_int_equal(ql_workflow_guard(wf, ql_workflow_transition(wf, "close"),
                                       &in, &ok, reason, sizeof reason, &d),
                     QL_OK);
    assert_true(ok);
    ql_workflow_free(wf);
    free(doc);
    free(path);
}

/* ---- Bad workflow files
 * -------------------------------------------------------------- */

static const struct {
    const char *file;
    ql_err want;
    const char *fragment;
} BAD[] = {
    {"unknown_state_to", QL_EFORMAT,
     "transition 'go': unknown state 'NOWHERE' in 'to'"},
    {"unknown_state_from", QL_EFORMAT, "unknown state 'OPNE' in 'from'"},
    {"unknown_initial", QL_EFORMAT, "unknown initial state 'START'"},
    {"unreachable", QL_EFORMAT,
     "state 'ORPHAN' cannot be reached from the initial state 'OPEN'"},
    {"dead_end", QL_EFORMAT, "state 'STUCK' has no path to a terminal state"},
    {"no_terminal", QL_EFORMAT, "no state is terminal"},
    {"dup_transition", QL_EFORMAT, "duplicate transition 'go'"},
    {"dup_state", QL_EFORMAT, "duplicate state 'OPEN'"},
    {"dup_field", QL_EFORMAT, "duplicate field 'x'"},
    {"dup_role", QL_EFORMAT, "duplicate role 'clerk'"},
    {"bad_field_type", QL_EFORMAT, "field 'x': unknown type 'string'"},
    {"enum_no_values", QL_EFORMAT, "an enum needs at least one value"},
    {"enum_missing_values", QL_EFORMAT, "field 'x': missing 'values'"},
    {"enum_dup_value", QL_EFORMAT, "value '是' appears twice"},
    {"enum_value_space", QL_EFORMAT, "starts or ends with a space"},
    {"unknown_role", QL_EFORMAT, "unknown role 'clark' in 'roles'"},
    {"typo_rolse", QL_EFORMAT,
     "transition 'go': unknown key 'rolse' (did you mean 'roles'?)"},
    {"top_typo", QL_EFORMAT, "unknown key 'stats' (did you mean 'states'?)"},
    {"approval_undeclared", QL_EFORMAT, "unknown role 'boss' in 'approval'"},
    {"assign_undeclared", QL_EFORMAT, "unknown field 'unit' in 'assign'"},
    {"assign_bad_type", QL_EFORMAT,
     "'assign' field 'when' must be text or enum"},
    {"merge_bad_type", QL_EFORMAT, "'merge' field 'n' must be text"},
    {"due_not_date", QL_EFORMAT, "'due' field 'x' must be a date field"},
    {"require_unknown", QL_EFORMAT, "unknown field 'summry' in 'require'"},
    {"distinct_unknown", QL_EFORMAT,
     "unknown transition 'nope' in 'distinct_from'"},
    {"guard_not_function", QL_EFORMAT,
     "'guard' must be a function, not a string"},
    {"roles_empty", QL_EFORMAT, "'roles' is empty"},
    {"roles_not_array", QL_EFORMAT, "'roles' must be an array"},
    {"from_keyed", QL_EFORMAT, "'from' must be a state name or an array"},
    {"reserved_role", QL_EFORMAT, "'admin' is the engine's own role"},
    {"secret_role_unknown", QL_EFORMAT,
     "unknown role 'ghost' in 'secret_roles'"},
    {"missing_name", QL_EFORMAT, "missing 'name'"},
    {"missing_initial", QL_EFORMAT, "missing 'initial'"},
    {"missing_states", QL_EFORMAT, "missing 'states'"},
    {"missing_transitions", QL_EFORMAT, "missing 'transitions'"},
    {"name_not_string", QL_EFORMAT, "'name' must be a string, not an integer"},
    {"bad_state_name", QL_EFORMAT, "bad state name 'open'"},
    {"bad_field_name", QL_EFORMAT, "bad field name 'Source'"},
    {"clear_and_secret", QL_EFORMAT, "cannot be both clear and secret"},
    {"clear_list", QL_EFORMAT, "a list cannot be clear"},
    {"clear_max", QL_EFORMAT, "'max' is 600, it must be between 1 and 500"},
    {"max_on_date", QL_EFORMAT, "'max' is only for text and list fields"},
    {"values_on_text", QL_EFORMAT, "'values' is only for enum fields"},
    {"bool_as_string", QL_EFORMAT, "'terminal' must be true or false"},
    {"limit_unknown_unit", QL_EFORMAT, "limit: unknown key 'weeks'"},
    {"limit_both", QL_EFORMAT, "give either days = N or workdays = N"},
    {"limit_negative", QL_EFORMAT, "'days' is -1, it must be between 0"},
    {"limit_fraction", QL_EFORMAT, "'workdays' must be a whole number"},
    {"terminal_limit", QL_EFORMAT, "a terminal state has no time limit"},
    {"label_newline", QL_EFORMAT, "'label' must be one line"},
    {"label_bad_utf8", QL_EFORMAT, "'label' is not valid UTF-8"},
    {"label_empty", QL_EFORMAT, "role 'clerk': 'label' is empty"},
    {"id_format_placeholder", QL_EFORMAT, "unknown placeholder '{month}'"},
    {"id_format_no_seq", QL_EFORMAT, "needs exactly one {seq:N}"},
    {"id_format_chars", QL_EFORMAT, "only letters, digits"},
    {"positional_value", QL_EFORMAT, "unexpected value at position 1"},
    {"field_not_table", QL_EFORMAT, "fields[1] must be a table, not a string"},
    {"state_not_table", QL_EFORMAT, "states[1] must be a table, not a string"},
    {"transition_not_table", QL_EFORMAT,
     "transitions[1] must be a table, not a string"},
    {"roles_string", QL_EFORMAT,
     "'roles' must be an array ({...}), not a string"},
    {"roles_with_hole", QL_EFORMAT, "without keys or gaps"},
    {"name_table", QL_EFORMAT, "'name' must be a string, not a table"},
    {"title_function", QL_EFORMAT, "'title' must be a string, not a function"},
    {"label_boolean", QL_EFORMAT, "'label' must be a string, not a boolean"},
    {"label_too_long", QL_EFORMAT, "'label' is longer than 200 bytes"},
    {"key_very_long", QL_EFORMAT,
     "unknown key 'this_key_is_far_too_long_to_be_a_typo_of_anythin...'"},
    {"bad_role_name", QL_EFORMAT, "bad role name 'data-entry'"},
    {"name_too_long", QL_EFORMAT, "bad workflow name 'wwwww"},
    {"too_many_roles", QL_EFORMAT, "too many roles (65, the limit is 64)"},
    {"too_many_fields", QL_EFORMAT, "too many fields (257, the limit is 256)"},
    {"too_many_states", QL_EFORMAT, "too many states (129, the limit is 128)"},
    {"too_many_transitions", QL_EFORMAT,
     "too many transitions (513, the limit is 512)"},
    {"too_many_values", QL_EFORMAT, "too many values (257, the limit is 256)"},
    {"value_not_string", QL_EFORMAT,
     "values[2] must be a string, not an integer"},
    {"states_empty", QL_EFORMAT, "'states' is empty"},
    {"secret_role_twice", QL_EFORMAT,
     "role 'clerk' appears twice in 'secret_roles'"},
    {"secret_role_number", QL_EFORMAT,
     "'secret_roles' must hold role names, not an integer"},
    {"from_missing", QL_EFORMAT, "transition 'go': missing 'from'"},
    {"from_empty", QL_EFORMAT, "'from' is empty"},
    {"from_number", QL_EFORMAT, "'from' must hold state names, not an integer"},
    {"from_twice", QL_EFORMAT, "state 'OPEN' appears twice in 'from'"},
    {"from_boolean", QL_EFORMAT, "or an array of them, not a boolean"},
    {"require_too_long", QL_EFORMAT, "'require' is too long"},
    {"require_number", QL_EFORMAT,
     "'require' must hold field names, not an integer"},
    {"require_twice", QL_EFORMAT, "field 'x' appears twice in 'require'"},
    {"distinct_too_long", QL_EFORMAT, "'distinct_from' is too long"},
    {"distinct_number", QL_EFORMAT,
     "'distinct_from' must hold transition names, not an integer"},
    {"distinct_bad_name", QL_EFORMAT,
     "unknown transition 'Go Back' in 'distinct_from'"},
    {"distinct_twice", QL_EFORMAT,
     "transition 'go' appears twice in 'distinct_from'"},
    {"assign_and_merge", QL_EFORMAT, "cannot both assign and merge"},
    {"id_format_empty", QL_EFORMAT, "id_format must be 1 to 64 characters"},
    {"id_format_long", QL_EFORMAT, "id_format must be 1 to 64 characters"},
    {"id_format_unclosed", QL_EFORMAT, "'{' without '}'"},
    {"id_format_seq_zero", QL_EFORMAT, "{seq:N} takes N from 1 to 12"},
    {"id_format_seq_wide", QL_EFORMAT, "{seq:N} takes N from 1 to 12"},
    {"id_format_two_units", QL_EFORMAT, "at most one {year} and {unit}"},
    {"key_with_nul", QL_EFORMAT, "unknown key 'la?bel'"},
    {"roles_one_string", QL_EFORMAT,
     "transition 'go': 'roles' must be an array ({...}), not a string"},
    {"value_newline", QL_EFORMAT,
     "values[1] must be one line without control characters"},
    {"type_number", QL_EFORMAT, "'type' must be a string, not an integer"},
    {"required_string", QL_EFORMAT, "'required' must be true or false"},
    {"fields_string", QL_EFORMAT, "'fields' must be an array ({...})"},
    {"require_string", QL_EFORMAT, "'require' must be an array ({...})"},
    {"distinct_string", QL_EFORMAT, "'distinct_from' must be an array ({...})"},
    {"bad_transition_name", QL_EFORMAT, "bad transition name 'Go'"},
    {"returns_string", QL_EFORMAT,
     "the file returns a string; it must return the workflow table"},
    {"syntax_error", QL_ESCRIPT, "syntax_error.lua:5:"},
    {"runtime_error", QL_ESCRIPT, "runtime_error.lua:3:"},
    /* The budget or the clock, whichever ends first (valgrind is slow). */
    {"infinite_loop", QL_ESCRIPT, "infinite_loop.lua:2: "},
    {"memory_bomb", QL_ESCRIPT, "memory_bomb.lua:3: "},
    {"returns_nothing", QL_EFORMAT, "the file returns nothing"},
};

static void
test_bad_workflows(void **state)
{
    struct ql_workflow *wf;
    struct ql_diag d;
    char name[64], rel[96], *path, *src;
    size_t i, len;
    ql_err rc;

    (void)state;
    for (i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        snprintf(name, sizeof name, "%s.lua", BAD[i].file);
        snprintf(rel, sizeof rel, "workflows/%s", name);
        path = qlt_data_path(rel);
        src = qlt_read_file(path, &len);
        memset(&d, 0, sizeof d);
        wf = NULL;
        rc = ql_workflow_load(name, src, len, &wf, &d);
        print_message("  %-24s %s %s\n", name, ql_errname(rc), d.msg);
        expect_fail(rc, &d, BAD[i].want, BAD[i].fragment);
        /* Every message names the file first. */
        if (strncmp(d.msg, name, strlen(name)) != 0)
            fail_msg("message '%s' does not start with '%s'", d.msg, name);
        assert_null(wf);
        free(src);
        free(path);
    }
}

/*
 * The places errors name, for indexes of several digits and for names:
 * the loader writes them without snprintf, and they must read the same.
 */
static void
test_error_places(void **state)
{
    static const struct {
        const char *name;
        const char *values;      /* the enum's values */
        const char *field_label; /* the field's label */
        const char *fragment;
    } t[] = {
        {"value 12 of an enum", "\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\","
                                "\"h\",\"i\",\"j\",\"k\",12",
         "字段", "field 'x': values[12] must be a string, not an integer"},
        {"value 1", "1", "字段",
         "field 'x': values[1] must be a string, not an integer"},
        {"a label on two lines", "\"a\"", "两\\n行",
         "field 'x': 'label' must be one line without control characters"},
    };
    char src[1024], msg[QL_DIAG_MSG];
    struct ql_workflow *wf = NULL;
    struct ql_diag d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        print_message("%s\n", t[i].name);
        snprintf(src, sizeof src,
                 "return { name = \"mini\", initial = \"OPEN\","
                 " roles = { { name = \"clerk\", label = \"办事员\" } },"
                 " fields = { { name = \"x\", label = \"%s\","
                 " type = \"enum\", values = { %s } } },"
                 " states = { { name = \"OPEN\", label = \"开\" },"
                 " { name = \"DONE\", label = \"完\", terminal = true } },"
                 " transitions = { { name = \"go\", label = \"办结\","
                 " from = \"OPEN\", to = \"DONE\", roles = { \"clerk\" } } } }",
                 t[i].field_label, t[i].values);
        assert_int_equal(ql_workflow_load("mini.lua", src, strlen(src), &wf,
                                          &d),
                         QL_EFORMAT);
        snprintf(msg, sizeof msg, "%s", d.msg);
        if (strstr(msg, t[i].fragment) == NULL)
            fail_msg("'%s' lacks '%s'", msg, t[i].fragment);
        assert_null(wf);
    }
}

/* ---- the lead table a guard sees ---- */

/* A workflow whose guard returns everything it sees of the lead. */
static const char TREE_WF[] =
    "local function dump(t)\n"
    "  local keys, out = {}, {}\n"
    "  for k in pairs(t) do keys[#keys + 1] = k end\n"
    "  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)\n"
    "  for _, k in ipairs(keys) do\n"
    "    local v = t[k]\n"
    "    if type(v) == 'table' then\n"
    "      out[#out + 1] = tostring(k) .. '={' .. dump(v) .. '}#' .. #v\n"
    "    else\n"
    "      out[#out + 1] = tostring(k) .. '=' .. v\n"
    "    end\n"
    "  end\n"
    "  return table.concat(out, ',')\n"
    "end\n"
    "return { name = 'tree', initial = 'OPEN',\n"
    "  roles = { { name = 'clerk', label = '办事员' } },\n"
    "  fields = { { name = 'x', label = '甲' }, { name = 'a', label = '乙' },\n"
    "    { name = 'ab', label = '丙' },\n"
    "    { name = 'items', label = '条目', type = 'list' } },\n"
    "  states = { { name = 'OPEN', label = '开' },\n"
    "    { name = 'DONE', label = '完', terminal = true } },\n"
    "  transitions = { { name = 'dump', label = '看', from = 'OPEN',\n"
    "    to = 'DONE', roles = { 'clerk' },\n"
    "    guard = function(lead) return false, dump(lead) end },\n"
    "    { name = 'ctx', label = '境', from = 'OPEN', to = 'DONE',\n"
    "      roles = { 'clerk' },\n"
    "      guard = function(lead, ctx) return false, dump(ctx) end } } }\n";

/*
 * The lead table a guard gets, whole, for inputs that test how it is
 * built: fields in any order and with shared prefixes, a name given twice
 * (the later value counts, unless it is NULL), lists with empty lines or
 * none, undeclared fields, missing id, state or unit; and the ctx table.
 */
static void
test_guard_lead_table(void **state)
{
    static const char *const roles[] = {"clerk"};
    static const char *const two[] = {"clerk", NULL, "chief"};
    static const struct ql_wf_kv all[] = {
        {"zz", "未声明"}, {"items", "一\n\n二\n"}, {"x", "甲值"},
        {"ab", "2"},      {"a", "1"},            {"b", NULL}};
    static const struct ql_wf_kv twice[] = {
        {"x", "先"}, {"a", "留"}, {"x", "后"}, {"a", NULL}, {"items", "\n\n"}};
    static const struct ql_wf_kv none[] = {{"x", NULL}};
    static const struct {
        const char *name;
        const struct ql_wf_kv *kv;
        size_t n;
        const char *id, *want;
    } t[] = {
        {"every kind", all, 6, "T-1",
         "fields={a=1,ab=2,items={1=一,2=二}#2,x=甲值,zz=未声明}#0,id=T-1,"
         "state=OPEN,unit=LT"},
        {"a name twice", twice, 5, "T-2",
         "fields={a=留,items={}#0,x=后}#0,id=T-2,state=OPEN,unit=LT"},
        {"no values", none, 1, NULL, "fields={}#0,state=OPEN,unit=LT"},
        {"no fields", NULL, 0, "T-4", "fields={}#0,id=T-4,state=OPEN,unit=LT"},
    };
    struct fixture *fx = *state;
    struct ql_workflow *wf = NULL;
    struct ql_wf_guard_input in;
    struct ql_wf_kv bad[2] = {{"x", "1"}, {NULL, "2"}};
    struct ql_diag d = {0};
    char reason[512];
    bool ok = true;
    size_t i;

    (void)fx;
    assert_int_equal(ql_workflow_load("tree.lua", TREE_WF, strlen(TREE_WF),
                                      &wf, &d),
                     QL_OK);
    memset(&in, 0, sizeof in);
    in.state = "OPEN";
    in.unit = "LT";
    in.actor = "lt-lly-01";
    in.actor_unit = "LT";
    in.roles = roles;
    in.nroles = 1;
    in.now = "2025-09-15T02:00:00Z";
    in.today = "2025-09-15";
    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        print_message("%s\n", t[i].name);
        in.lead_id = t[i].id;
        in.fields = t[i].kv;
        in.nfields = t[i].n;
        assert_int_equal(ql_workflow_guard(wf,
                                           ql_workflow_transition(wf, "dump"),
                                           &in, &ok, reason, sizeof reason,
                                           &d),
                         QL_OK);
        assert_false(ok);
        assert_string_equal(reason, t[i].want);
    }
    /* And the ctx table, a NULL role and a NULL unit left out. */
    in.roles = two;
    in.nroles = 3;
    in.actor_unit = NULL;
    assert_int_equal(ql_workflow_guard(wf, ql_workflow_transition(wf, "ctx"),
                                       &in, &ok, reason, sizeof reason, &d),
                     QL_OK);
    assert_string_equal(reason, "actor=lt-lly-01,now=2025-09-15T02:00:00Z,"
                                "roles={1=clerk,2=chief}#2,to=DONE,"
                                "today=2025-09-15,transition=ctx");
    in.fields = bad;
    in.nfields = 2;
    assert_int_equal(ql_workflow_guard(wf, ql_workflow_transition(wf, "dump"),
                                       &in, &ok, reason, sizeof reason, &d),
                     QL_EUSAGE);
    assert_non_null(strstr(d.msg, "guard input field 2 has no name"));
    ql_workflow_free(wf);
}

/*
 * A registered version is held to its hash before anything else: a source
 * that differs is refused as a change (QL_EINTEGRITY) whether or not it
 * would compile, run or fit, and never runs (the loop below would spend
 * the whole load budget); the right source loads as ql_workflow_load_lazy
 * loads it.
 */
static void
test_load_registered(void **state)
{
    static const char LOOP[] = "while true do end return {}";
    struct fixture *fx = *state;
    const char *want = ql_workflow_hash(fx->gang);
    struct ql_workflow *wf = NULL;
    struct ql_diag d = {0};
    char *big, *changed;
    size_t i;
    const struct {
        const char *what, *src;
        size_t len;
    } wrong[] = {
        {"a loop that never returns", LOOP, sizeof LOOP - 1},
        {"text that is not Lua", "return {", 8},
        {"nothing", "", 0},
    };

    for (i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        print_message("refused: %s\n", wrong[i].what);
        assert_int_equal(ql_workflow_load_registered("reg.lua", wrong[i].src,
                                                     wrong[i].len, want, &wf,
                                                     &d),
                         QL_EINTEGRITY);
        assert_null(wf);
        assert_non_null(strstr(d.msg, "reg.lua: workflow source does not "
                                      "hash to "));
        assert_non_null(strstr(d.msg, want));
    }
    /* One byte changed in the real file, and a file past the size limit. */
    changed = malloc(fx->gang_len);
    memcpy(changed, fx->gang_src, fx->gang_len);
    changed[fx->gang_len / 2] ^= 1;
    assert_int_equal(ql_workflow_load_registered("reg.lua", changed,
                                                 fx->gang_len, want, &wf, &d),
                     QL_EINTEGRITY);
    big = calloc(1, QL_WORKFLOW_SOURCE_MAX + 2);
    memset(big, ' ', QL_WORKFLOW_SOURCE_MAX + 1);
    assert_int_equal(ql_workflow_load_registered("reg.lua", big,
                                                 QL_WORKFLOW_SOURCE_MAX + 1,
                                                 want, &wf, &d),
                     QL_EINTEGRITY);
    assert_null(wf);
    assert_int_equal(ql_workflow_load_registered("reg.lua", fx->gang_src,
                                                 fx->gang_len, NULL, &wf, &d),
                     QL_EUSAGE);
    /* The right source: the same workflow, under the same version. */
    assert_int_equal(ql_workflow_load_registered("reg.lua", fx->gang_src,
                                                 fx->gang_len, want, &wf, &d),
                     QL_OK);
    assert_string_equal(ql_workflow_hash(wf), want);
    assert_string_equal(ql_workflow_name(wf), ql_workflow_name(fx->gang));
    assert_int_equal(ql_workflow_transition_count(wf),
                     ql_workflow_transition_count(fx->gang));
    assert_int_equal(ql_workflow_state_count(wf),
                     ql_workflow_state_count(fx->gang));
    ql_workflow_free(wf);
    free(changed);
    free(big);
}

/*
 * Big leads and workflows with many list fields: the guard's trees leave
 * the stack for the heap past 64 fields or 160 entries, and list fields
 * are found by a merge up to 32 of them, by lookup beyond. Every way
 * gives the same lead table: fields sorted, the later of a name given
 * twice, a list's non-empty lines in order, undeclared fields as text.
 */
static const char BIG_DUMP[] =
    "local function dump(lead)\n"
    "  local f, keys, out = lead.fields, {}, {}\n"
    "  for k in pairs(f) do keys[#keys + 1] = k end\n"
    "  table.sort(keys)\n"
    "  for _, k in ipairs(keys) do\n"
    "    local v = f[k]\n"
    "    if type(v) == 'table' then\n"
    "      out[#out + 1] = k .. '=[' .. #v .. ':' .. table.concat(v, '+')\n"
    "        .. ']'\n"
    "    else\n"
    "      out[#out + 1] = k .. '=' .. v\n"
    "    end\n"
    "  end\n"
    "  return table.concat(out, ',')\n"
    "end\n";

/* Lines of list field i: a long one past the stack's entries. */
static int
big_lines(int i)
{
    return i == 3 ? 200 : i % 7;
}

/* A workflow with list fields l00..l<nlists-1>, text l<nlists>..l39 and
   t40..t69. */
static char *
big_workflow(int nlists)
{
    size_t cap = 16384, used;
    char *src = malloc(cap);
    int i;

    assert_non_null(src);
    used = (size_t)snprintf(src, cap,
                            "%sreturn { name = 'big', initial = 'OPEN',\n"
                            "  roles = { { name = 'clerk', label = 'c' } },\n"
                            "  fields = {\n",
                            BIG_DUMP);
    for (i = 0; i < 70; i++)
        used += (size_t)snprintf(src + used, cap - used,
                                 "    { name = '%c%02d', label = 'F%02d'%s },"
                                 "\n",
                                 i < 40 ? 'l' : 't', i, i,
                                 i < nlists ? ", type = 'list'" : "");
    snprintf(src + used, cap - used,
             "  },\n"
             "  states = { { name = 'OPEN', label = 'o' },\n"
             "    { name = 'DONE', label = 'd', terminal = true } },\n"
             "  transitions = { { name = 'dump', label = 'x', from = 'OPEN',\n"
             "    to = 'DONE', roles = { 'clerk' },\n"
             "    guard = function(lead) return false, dump(lead) end } } }\n");
    assert_true(strlen(src) < cap - 1);
    return src;
}

static void
test_guard_big_leads(void **state)
{
    static const int nlists[] = {40, 32, 3, 0};
    static const char *const roles[] = {"clerk"};
    static char reason[65536], want[65536], vals[72][2048];
    struct ql_wf_kv kv[75];
    struct ql_workflow *wf;
    struct ql_wf_guard_input in;
    struct ql_diag d = {0};
    size_t n, used, w, k;
    char *src;
    bool ok;
    int c, i, j, nf;

    (void)state;
    for (c = 0; c < (int)(sizeof nlists / sizeof nlists[0]); c++) {
        for (nf = 70; nf >= 10; nf -= 60) {
            print_message("%d list fields, %d fields given\n", nlists[c], nf);
            src = big_workflow(nlists[c]);
            wf = NULL;
            assert_int_equal(ql_workflow_load("big.lua", src, strlen(src),
                                              &wf, &d),
                             QL_OK);
            free(src);
            /* The fields backwards, l05 twice (the later wins), zz
               undeclared. */
            n = 0;
            for (i = nf - 1; i >= 0; i--) {
                char name[16];

                used = 0;
                if (i < nlists[c]) {
                    for (j = 1; j <= big_lines(i); j++)
                        used += (size_t)snprintf(
                            vals[i] + used, sizeof vals[i] - used, "%sx%d-%d",
                            j > 1 ? "\n\n" : "", i, j);
                    if (used == 0)
                        snprintf(vals[i], sizeof vals[i], "\n");
                } else {
                    snprintf(vals[i], sizeof vals[i], "v%d", i);
                }
                snprintf(name, sizeof name, "%c%02d", i < 40 ? 'l' : 't', i);
                kv[n].name = strdup(name);
                kv[n++].value = i == 5 ? "stale" : vals[i];
            }
            kv[n].name = strdup("zz");
            kv[n++].value = "undeclared";
            if (nf > 5) {
                kv[n].name = strdup("l05");
                kv[n++].value = vals[5];
            }
            /* What the guard should see. */
            used = 0;
            for (i = 0; i < nf; i++) {
                w = (size_t)snprintf(want + used, sizeof want - used,
                                     "%s%c%02d=", i > 0 ? "," : "",
                                     i < 40 ? 'l' : 't', i);
                used += w;
                if (i < nlists[c]) {
                    used += (size_t)snprintf(want + used, sizeof want - used,
                                             "[%d:", big_lines(i));
                    for (j = 1; j <= big_lines(i); j++)
                        used += (size_t)snprintf(want + used,
                                                 sizeof want - used, "%sx%d-%d",
                                                 j > 1 ? "+" : "", i, j);
                    used += (size_t)snprintf(want + used, sizeof want - used,
                                             "]");
                } else {
                    used += (size_t)snprintf(want + used, sizeof want - used,
                                             "v%d", i);
                }
            }
            snprintf(want + used, sizeof want - used, ",zz=undeclared");
            memset(&in, 0, sizeof in);
            in.state = "OPEN";
            in.fields = kv;
            in.nfields = n;
            in.actor = "clerk-01";
            in.roles = roles;
            in.nroles = 1;
            in.now = "2025-09-15T02:00:00Z";
            in.today = "2025-09-15";
            ok = true;
            assert_int_equal(ql_workflow_guard(wf,
                                               ql_workflow_transition(wf,
                                                                      "dump"),
                                               &in, &ok, reason, sizeof reason,
                                               &d),
                             QL_OK);
            assert_false(ok);
            assert_string_equal(reason, want);
            for (k = 0; k < n; k++)
                free((char *)kv[k].name);
            ql_workflow_free(wf);
        }
    }
}

/*
 * Fields are found by name through an index sorted at load: every field
 * of a workflow declared out of order, names that are prefixes of one
 * another, and names that sort before, between and after them all.
 */
static void
test_field_index(void **state)
{
    static const char src[] =
        "return { name = \"idx\", initial = \"OPEN\", roles = { { name = "
        "\"clerk\" } }, fields = { { name = \"mid\", type = \"text\" }, "
        "{ name = \"ab\", type = \"text\" }, { name = \"z9\", type = "
        "\"text\" }, { name = \"a\", type = \"text\", label = \"ay\" }, "
        "{ name = \"abc\", type = \"number\" }, { name = \"b\", type = "
        "\"text\" } }, states = { { name = \"OPEN\" }, { name = \"DONE\", "
        "terminal = true } }, transitions = { { name = \"go\", from = "
        "\"OPEN\", to = \"DONE\", roles = { \"clerk\" } } } }\n";
    static const char *const absent[] = {"", "0", "A", "aa", "abd", "ac",
                                         "bb", "m", "mi", "midd", "z",
                                         "z99", "zz", "\xe5\x90\x8d"};
    struct fixture *fx = *state;
    struct ql_workflow *wf = NULL;
    struct ql_diag d = {0};
    const struct ql_wf_field *f;
    size_t i;

    assert_int_equal(ql_workflow_load("idx.lua", src, strlen(src), &wf, &d),
                     QL_OK);
    assert_int_equal(ql_workflow_field_count(wf), 6);
    for (i = 0; i < ql_workflow_field_count(wf); i++) {
        f = ql_workflow_field_at(wf, i);
        print_message("field %s\n", f->name);
        /* The very field, not a copy: callers compare pointers. */
        assert_ptr_equal(ql_workflow_field(wf, f->name), f);
    }
    assert_string_equal(ql_workflow_field_at(wf, 0)->name, "mid");
    assert_int_equal(ql_workflow_field(wf, "abc")->type, QL_FIELD_NUMBER);
    for (i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        print_message("absent '%s'\n", absent[i]);
        assert_null(ql_workflow_field(wf, absent[i]));
    }
    assert_null(ql_workflow_field(wf, NULL));
    /* A label still finds its field when no name matches. */
    assert_string_equal(ql_workflow_field_by_label(wf, "ay")->name, "a");
    ql_workflow_free(wf);
    /* The shipped workflow: each of its fields by its own name. */
    for (i = 0; i < ql_workflow_field_count(fx->gang); i++) {
        f = ql_workflow_field_at(fx->gang, i);
        assert_ptr_equal(ql_workflow_field(fx->gang, f->name), f);
    }
}

int
main(void)
{
    int failed;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gang_loads),
        cmocka_unit_test(test_gang_states),
        cmocka_unit_test(test_gang_graph_sound),
        cmocka_unit_test(test_gang_transitions),
        cmocka_unit_test(test_gang_fields),
        cmocka_unit_test(test_values_gang),
        cmocka_unit_test(test_values_probe),
        cmocka_unit_test(test_due),
        cmocka_unit_test(test_guards_gang),
        cmocka_unit_test(test_guard_sees_input),
        cmocka_unit_test(test_guard_errors),
        cmocka_unit_test(test_graph_gang),
        cmocka_unit_test(test_graph_escaping),
        cmocka_unit_test(test_probe_defaults),
        cmocka_unit_test(test_load_small),
        cmocka_unit_test(test_lazy_seal_failure),
        cmocka_unit_test(test_docs_example),
        cmocka_unit_test(test_long_chunk_name),
        cmocka_unit_test(test_bad_workflows),
        cmocka_unit_test(test_error_places),
        cmocka_unit_test(test_guard_lead_table),
        cmocka_unit_test(test_load_registered),
        cmocka_unit_test(test_guard_big_leads),
        cmocka_unit_test(test_field_index),
    };

    failed = cmocka_run_group_tests_name("eager", tests, group_setup,
                                         group_teardown);
    failed += cmocka_run_group_tests_name("lazy", tests, group_setup_lazy,
                                          group_teardown);
    return failed;
}
