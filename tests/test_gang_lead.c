/*
 * The default workflow end to end, through the engine: leads taken through
 * every transition of workflows/gang_lead.lua, with approvals, returns,
 * transfer and receipt, parking and reactivation, merging, declining,
 * reassignment, reopening after a spot-check, and migration to a new
 * version. After each lead the tables must equal a replay of the log and
 * the log must verify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_audit.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_test.h"
#include "ql_workflow.h"

/* 2025-09-15T02:00:00Z: Monday 10:00 in Asia/Shanghai, the demo's today. */
#define NOW 1757901600

enum who {
    ADMIN, REG, TRI, DIR, DIR2, INSP, LLY, HC1, HC2, HEAD, ZR_LLY, NKEYS
};

static const struct {
    const char *name, *unit, *roles;
} CAST[NKEYS] = {
    {"admin", NULL, NULL},
    {"sh-dengji-01", "SH", "registrar"},
    {"sh-yanpan-01", "SH", "triage"},
    {"sh-zhuren-01", "SH", "director"},
    {"sh-zhuren-02", "SH", "director"},
    {"dd-pc-01", "SH", "inspector"},
    {"LT-lly-01", "LT", "liaison"},
    {"LT-hc-01", "LT", "verifier"},
    {"LT-hc-02", "LT", "verifier"},
    {"LT-fzr-01", "LT", "head"},
    {"ZR-lly-01", "ZR", "liaison"},
};

static struct ql_key *K[NKEYS];
static struct ql_county *C;
static char *DIR_PATH, *DB;
static char *SRC;
static size_t SRC_LEN;
/* Which transitions some lead has taken, to check none was left out. */
static char TAKEN[64][32];
static size_t NTAKEN;

static void
note_taken(const char *t)
{
    size_t i;

    for (i = 0; i < NTAKEN; i++)
        if (strcmp(TAKEN[i], t) == 0)
            return;
    snprintf(TAKEN[NTAKEN++], sizeof TAKEN[0], "%s", t);
}

/* Splits "name=value" strings into a field list (borrowing the strings). */
static size_t
fields_of(const char *const *kv, struct ql_wf_kv *out, char bufs[][512])
{
    size_t n = 0;

    for (; kv != NULL && kv[n] != NULL; n++) {
        char *eq;

        snprintf(bufs[n], 512, "%s", kv[n]);
        eq = strchr(bufs[n], '=');
        assert_non_null(eq);
        *eq = '\0';
        out[n].name = bufs[n];
        out[n].value = eq + 1;
    }
    return n;
}

/* Takes transition t as who; approver (or -1) approves when it is proposed. */
static void
take(enum who who, const char *id, const char *t, int approver,
     const char *const *kv)
{
    struct ql_wf_kv f[16];
    char bufs[16][512];
    size_t n = fields_of(kv, f, bufs);
    struct ql_diag d;
    bool pending = false;

    ql_county_set_actor(C, K[who]);
    if (ql_lead_move(C, id, t, f, n, "note", &pending, &d) != QL_OK)
        fail_msg("%s on %s by %s: %s", t, id, CAST[who].name, d.msg);
    assert_int_equal(pending, approver >= 0);
    if (approver >= 0) {
        ql_county_set_actor(C, K[approver]);
        if (ql_lead_approve(C, id, &d) != QL_OK)
            fail_msg("approving %s on %s: %s", t, id, d.msg);
    }
    note_taken(t);
}

static void
expect_state(const char *id, const char *state, const char *unit)
{
    struct ql_lead *l = NULL;
    struct ql_diag d;

    ql_county_set_actor(C, K[DIR]);
    assert_int_equal(ql_lead_load(C, id, &l, &d), QL_OK);
    if (strcmp(ql_lead_state(l), state) != 0)
        fail_msg("%s is %s, want %s", id, ql_lead_state(l), state);
    if (unit != NULL)
        assert_string_equal(ql_lead_unit(l), unit);
    ql_lead_free(l);
}

static void
register_lead(const char *named, const char *source, char *id)
{
    const char *kv[] = {"source=", "received_at=2025-09-10", "channel=来电",
                        "named=", "subjects=张某某\n“河滩砂场”团伙",
                        "locality=桐渡镇", "industry=自然资源",
                        "summary=非法采砂，强迫村民购买", NULL, NULL};
    char s[128], nm[128], rep[128];
    struct ql_wf_kv f[16];
    char bufs[16][512];
    struct ql_diag d;
    size_t n;

    snprintf(s, sizeof s, "source=%s", source);
    snprintf(nm, sizeof nm, "named=%s", named);
    kv[0] = s;
    kv[3] = nm;
    if (strcmp(named, "实名") == 0) {
        snprintf(rep, sizeof rep, "reporter=举报人甲, 000-0000-0000");
        kv[8] = rep;
    }
    n = fields_of(kv, f, bufs);
    ql_county_set_actor(C, K[REG]);
    if (ql_lead_add(C, NULL, NULL, f, n, id, &d) != QL_OK)
        fail_msg("register: %s", d.msg);
}

static void
check_log(void)
{
    struct ql_audit_result res;
    struct ql_diag d;

    if (ql_county_replay_check(C, &d) != QL_OK)
        fail_msg("replay: %s", d.msg);
    if (ql_audit_verify(C, K[ADMIN], &res, &d) != QL_OK)
        fail_msg("audit: %s", d.msg);
}

static int
setup(void **state)
{
    struct ql_diag d;
    char *path, *cal;
    size_t len, i;

    (void)state;
    assert_int_equal(ql_crypto_init(&d), QL_OK);
    DIR_PATH = qlt_tempdir();
    DB = qlt_join(DIR_PATH, "county.db");
    for (i = 0; i < NKEYS; i++)
        assert_int_equal(ql_key_generate(ql_profile_default(), CAST[i].name,
                                         &K[i], &d),
                         QL_OK);
    assert_int_equal(ql_county_create(DB, "qinghe.test/leads", K[ADMIN], NULL,
                                      NOW, &d),
                     QL_OK);
    assert_int_equal(ql_county_open(DB, 0, &C, &d), QL_OK);
    ql_county_set_now(C, NOW);
    ql_county_set_actor(C, K[ADMIN]);
    assert_int_equal(
        ql_county_unit_add(C, "SH", "青禾县扫黑办", "supervision", &d), QL_OK);
    assert_int_equal(
        ql_county_unit_add(C, "LT", "青禾县鹭汀镇人民政府", "township", &d),
        QL_OK);
    assert_int_equal(
        ql_county_unit_add(C, "ZR", "青禾县自然资源局", "member", &d), QL_OK);
    for (i = 1; i < NKEYS; i++)
        assert_int_equal(ql_county_principal_add(C, K[i], CAST[i].unit,
                                                 CAST[i].roles, &d),
                         QL_OK);
    path = qlt_data_path("../../workflows/gang_lead.lua");
    SRC = qlt_read_file(path, &SRC_LEN);
    free(path);
    assert_int_equal(
        ql_county_workflow_add(C, "gang_lead.lua", SRC, SRC_LEN, NULL, &d),
        QL_OK);
    path = qlt_data_path("../../workflows/calendars/cn.cal");
    cal = qlt_read_file(path, &len);
    free(path);
    assert_int_equal(ql_county_calendar_set(C, "cn.cal", cal, len, &d), QL_OK);
    free(cal);
    return 0;
}

static int
teardown(void **state)
{
    size_t i;

    (void)state;
    ql_county_close(C);
    for (i = 0; i < NKEYS; i++)
        ql_key_free(K[i]);
    free(SRC);
    free(DB);
    qlt_rmtree(DIR_PATH);
    return 0;
}

static const char *const ASSIGN_LT[] = {
    "handling_unit=LT", "priority=重点督办", "due_at=2025-10-15",
    "assign_no=青扫交〔2025〕17号", "offence_types=强迫交易\n非法采矿",
    "umbrella_flag=否", NULL};
static const char *const REPORT[] = {
    "finding=部分查实", "findings_detail=采砂属实，殴打村民未查实",
    "umbrella_flag=否", "assets=已查封采砂船2艘",
    "results=行政处罚\n移交县公安局", NULL};

/* A named lead: the long road, with a spot-check that reopens it. */
static void
test_named_lead_long_road(void **state)
{
    const char *const sign[] = {"verifiers=LT-hc-01\nLT-hc-02", NULL};
    const char *const progress[] = {"progress_kind=首次回告",
                                    "progress_note=核查方案已定", NULL};
    const char *const contact[] = {"contact_log=09-16 电话联系举报人", NULL};
    const char *const extend[] = {"extension_reason=涉案人员外出务工",
                                  "extended_due=2025-11-10", NULL};
    const char *const urge[] = {"urge_no=催〔2025〕3号", NULL};
    const char *const supervise[] = {"supervise_no=QH-DB-2025-03",
                                     "priority=挂牌督办", NULL};
    const char *const ret[] = {"return_reason=证据不足",
                               "return_request=补充询问两名目击证人", NULL};
    const char *const approve[] = {"review_opinion=同意", NULL};
    const char *const feedback[] = {"feedback_target=举报人",
                                    "feedback_method=电话",
                                    "feedback_opinion=满意", NULL};
    const char *const pass[] = {"spot_opinion_no=评〔2025〕1号", NULL};
    const char *const spot_ret[] = {"spot_opinion_no=评〔2025〕2号",
                                    "spot_reason=殴打情节未查清",
                                    "redo_due=2025-10-10", NULL};
    char id[80];

    (void)state;
    register_lead("实名", "12337平台下发", id);
    assert_string_equal(id, "QH-SH-2025-001");
    take(TRI, id, "triage", -1, NULL);
    take(TRI, id, "assign", DIR, ASSIGN_LT);
    expect_state(id, "ASSIGNED", "LT");
    take(LLY, id, "sign", -1, sign);
    take(HC1, id, "progress", HEAD, progress);
    take(HC1, id, "contact", -1, contact);
    take(LLY, id, "extend", DIR, extend);
    take(DIR, id, "urge", -1, urge);
    take(DIR, id, "supervise", -1, supervise);
    take(HC1, id, "report", HEAD, REPORT);
    take(DIR, id, "return", -1, ret);
    expect_state(id, "RETURNED", "LT");
    take(HC2, id, "report", HEAD, REPORT);
    take(DIR, id, "approve", -1, approve);
    take(LLY, id, "feedback", -1, feedback);
    expect_state(id, "CLOSED", "LT");
    take(INSP, id, "spot_pass", -1, pass);
    take(INSP, id, "spot_return", DIR2, spot_ret);
    expect_state(id, "RETURNED", "LT");
    take(HC1, id, "report", HEAD, REPORT);
    take(DIR2, id, "approve", -1, approve);
    take(LLY, id, "feedback", -1, feedback);
    expect_state(id, "CLOSED", "LT");
    check_log();
}

static void
test_exits(void **state)
{
    const char *const transfer[] = {"transfer_receiver=县纪委监委",
                                    "transfer_reason=涉伞或涉公职人员(移送纪委监委)",
                                    "letter_no=青扫移〔2025〕5号", NULL};
    const char *const receipt[] = {"receipt_at=2025-09-15",
                                   "receipt_by=县纪委监委案管室", NULL};
    const char *const park[] = {"park_reason=无具体对象",
                                "review_date=2025-11-18", NULL};
    const char *const react[] = {"review_note=新线索关联", NULL};
    const char *const decline[] = {"decline_reason=属民事纠纷",
                                   "decline_channel=诉讼", NULL};
    const char *const merge_into[] = {"master_lead=QH-SH-2025-001", NULL};
    const char *const reassign[] = {"reassign_reason=非本单位管辖", NULL};
    const char *const no_fb[] = {"no_feedback_reason=无法联系(已联系3次以上)", NULL};
    const char *const approve[] = {"review_opinion=同意", NULL};
    const char *const sign[] = {"verifiers=LT-hc-01\nLT-hc-02", NULL};
    char a[80], b[80], c[80], e[80], f[80], first[80];

    (void)state;
    register_lead("实名", "12337平台下发", first);
    /* Transfer out, closed by the receipt. */
    register_lead("实名", "部门移送", a);
    take(TRI, a, "triage", -1, NULL);
    take(TRI, a, "transfer", DIR, transfer);
    expect_state(a, "TRANSFERRED_OUT", "SH");
    take(REG, a, "receipt", -1, receipt);
    expect_state(a, "CLOSED", NULL);
    /* Parked, reactivated, declined for good (anonymous: no feedback). */
    register_lead("匿名", "群众举报", b);
    take(TRI, b, "triage", -1, NULL);
    take(TRI, b, "park", DIR, park);
    expect_state(b, "PARKED", NULL);
    take(TRI, b, "reactivate", -1, react);
    take(DIR, b, "decline_close", -1, decline);
    expect_state(b, "CLOSED", NULL);
    /* A duplicate merged into the first lead. */
    register_lead("匿名", "群众举报", c);
    take(TRI, c, "triage", -1, NULL);
    take(TRI, c, "merge", DIR, merge_into);
    expect_state(c, "MERGED", NULL);
    /* Assigned, sent back for reassignment, declined with feedback owed. */
    register_lead("实名", "12337平台下发", e);
    take(TRI, e, "triage", -1, NULL);
    take(TRI, e, "assign", DIR, ASSIGN_LT);
    take(LLY, e, "reassign", DIR2, reassign);
    expect_state(e, "UNDER_TRIAGE", "LT");
    take(DIR, e, "decline", -1, decline);
    take(REG, e, "no_feedback", DIR, no_fb);
    expect_state(e, "CLOSED", NULL);
    /* Anonymous, verified, closed without feedback. */
    register_lead("匿名", "群众举报", f);
    take(TRI, f, "triage", -1, NULL);
    take(TRI, f, "assign", DIR, ASSIGN_LT);
    take(LLY, f, "sign", -1, sign);
    take(HC1, f, "report", HEAD, REPORT);
    take(DIR, f, "approve_close", -1, approve);
    expect_state(f, "CLOSED", "LT");
    check_log();
}

/* Refusals the workflow itself makes, through its guards. */
static void
test_guards_refuse(void **state)
{
    const char *const past[] = {
        "handling_unit=LT", "priority=一般", "due_at=2025-09-01",
        "assign_no=x", "offence_types=寻衅滋事", "umbrella_flag=否", NULL};
    const char *const one_verifier[] = {"verifiers=LT-hc-01", NULL};
    const char *const approve[] = {"review_opinion=同意", NULL};
    struct ql_wf_kv f[16];
    char bufs[16][512], id[80];
    struct ql_diag d;
    size_t n;

    (void)state;
    register_lead("实名", "12337平台下发", id);
    take(TRI, id, "triage", -1, NULL);
    n = fields_of(past, f, bufs);
    ql_county_set_actor(C, K[TRI]);
    assert_int_equal(ql_lead_move(C, id, "assign", f, n, NULL, NULL, &d),
                     QL_ERULE);
    assert_non_null(strstr(d.msg, "核查期限须晚于今天"));
    take(TRI, id, "assign", DIR, ASSIGN_LT);
    n = fields_of(one_verifier, f, bufs);
    ql_county_set_actor(C, K[LLY]);
    assert_int_equal(ql_lead_move(C, id, "sign", f, n, NULL, NULL, &d),
                     QL_ERULE);
    assert_non_null(strstr(d.msg, "核查人不得少于2人"));
    /* A named lead cannot be reported before the reporter was contacted. */
    take(LLY, id, "sign", -1, (const char *const[]){
                                  "verifiers=LT-hc-01\nLT-hc-02", NULL});
    n = fields_of(REPORT, f, bufs);
    ql_county_set_actor(C, K[HC1]);
    assert_int_equal(ql_lead_move(C, id, "report", f, n, NULL, NULL, &d),
                     QL_ERULE);
    assert_non_null(strstr(d.msg, "联系举报人"));
    /* A named lead is not closed without feedback. */
    take(HC1, id, "contact", -1,
         (const char *const[]){"contact_log=已联系", NULL});
    take(HC1, id, "report", HEAD, REPORT);
    n = fields_of(approve, f, bufs);
    ql_county_set_actor(C, K[DIR]);
    assert_int_equal(
        ql_lead_move(C, id, "approve_close", f, n, NULL, NULL, &d), QL_ERULE);
    assert_non_null(strstr(d.msg, "该线索须反馈"));
    check_log();
}

static void
test_every_transition_taken(void **state)
{
    const struct ql_workflow *wf = NULL;
    struct ql_diag d;
    size_t i, j;

    (void)state;
    assert_int_equal(ql_county_workflow(C, "gang_lead", NULL, &wf, &d),
                     QL_OK);
    for (i = 0; i < ql_workflow_transition_count(wf); i++) {
        const char *t = ql_workflow_transition_at(wf, i)->name;
        bool found = false;

        for (j = 0; j < NTAKEN; j++)
            found = found || strcmp(TAKEN[j], t) == 0;
        if (!found)
            fail_msg("no test takes transition '%s'", t);
    }
}

static void
test_migration(void **state)
{
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[80], hash[65], *v2, *at;
    size_t n;

    (void)state;
    register_lead("匿名", "群众举报", id);
    /* Version 2 renames a label: a new version, pinned by its hash. */
    n = SRC_LEN + 16;
    v2 = malloc(n);
    snprintf(v2, n, "%s", SRC);
    at = strstr(v2, "已登记(待研判)");
    assert_non_null(at);
    memcpy(at, "已登记(待分流)", strlen("已登记(待分流)"));
    ql_county_set_actor(C, K[ADMIN]);
    assert_int_equal(
        ql_county_workflow_add(C, "gang_lead.lua", v2, strlen(v2), hash, &d),
        QL_OK);
    /* New leads take the newest version; old ones stay until migrated. */
    assert_int_equal(ql_lead_migrate(C, id, hash, NULL, &d), QL_OK);
    ql_county_set_actor(C, K[DIR]);
    assert_int_equal(ql_lead_load(C, id, &l, &d), QL_OK);
    assert_string_equal(ql_lead_workflow(l), hash);
    assert_string_equal(ql_lead_state(l), "REGISTERED");
    ql_lead_free(l);
    take(TRI, id, "triage", -1, NULL);
    free(v2);
    check_log();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_lead_long_road),
        cmocka_unit_test(test_exits),
        cmocka_unit_test(test_guards_refuse),
        cmocka_unit_test(test_every_transition_taken),
        cmocka_unit_test(test_migration),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
