/*
 * Tests of the county and its leads (engine/ql_county.c, ql_lead.c): the
 * registry, data keys, transitions with approval, refusals that change
 * nothing, reading as different principals, replay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ql_calendar.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_audit.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_status.h"
#include "ql_store.h"
#include "ql_test.h"

/* 2025-09-15T02:00:00Z, a Monday morning in Asia/Shanghai. */
#define NOW 1757901600

enum who { ADMIN, REG, TRI, DIR, DIR2, LT_LLY, LT_HC, QY_LLY, AUD, INSP, NKEYS };

static const struct {
    const char *name, *unit, *roles;
} PEOPLE[NKEYS] = {
    {"admin", NULL, NULL},
    {"sh-dengji-01", "SH", "registrar"},
    {"sh-yanpan-01", "SH", "triage"},
    {"sh-zhuren-01", "SH", "director"},
    {"sh-zhuren-02", "SH", "director"},
    {"LT-lly-01", "LT", "liaison"},
    {"LT-hc-01", "LT", "verifier"},
    {"QY-lly-01", "QY", "liaison"},
    {"sj-01", "AU", "auditor"},
    {"dd-pc-01", "SH", "inspector"},
};

struct fx {
    char *dir, *path;
    struct ql_key *k[NKEYS];
    struct ql_county *c;
    char *wf_src;
    size_t wf_len;
};

static struct fx *F;

static void
as(enum who w)
{
    ql_county_set_actor(F->c, F->k[w]);
}

static uint64_t
log_size(void)
{
    struct ql_diag d;
    uint64_t n = 0;

    assert_int_equal(ql_log_size(ql_county_log(F->c), &n, &d), QL_OK);
    return n;
}

static int
setup(void **state)
{
    struct ql_diag d;
    struct fx *f = calloc(1, sizeof *f);
    char *wf_path, *cal_path, *cal;
    size_t cal_len, i;

    F = f;
    assert_int_equal(ql_crypto_init(&d), QL_OK);
    f->dir = qlt_tempdir();
    f->path = qlt_join(f->dir, "county.db");
    for (i = 0; i < NKEYS; i++)
        assert_int_equal(ql_key_generate(ql_profile_default(), PEOPLE[i].name,
                                         &f->k[i], &d),
                         QL_OK);
    assert_int_equal(ql_county_create(f->path, "qinghe.test/leads",
                                      f->k[ADMIN], NULL, NOW, &d),
                     QL_OK);
    assert_int_equal(ql_county_open(f->path, 0, &f->c, &d), QL_OK);
    ql_county_set_now(f->c, NOW);
    as(ADMIN);
    assert_int_equal(ql_county_unit_add(f->c, "SH", "青禾县扫黑办",
                                        QL_KIND_SUPERVISION, &d),
                     QL_OK);
    assert_int_equal(ql_county_unit_add(f->c, "LT", "青禾县鹭汀镇人民政府",
                                        QL_KIND_TOWNSHIP, &d),
                     QL_OK);
    assert_int_equal(ql_county_unit_add(f->c, "QY", "青禾县栖云乡人民政府",
                                        QL_KIND_TOWNSHIP, &d),
                     QL_OK);
    assert_int_equal(
        ql_county_unit_add(f->c, "AU", "青禾县纪委监委", QL_KIND_AUDIT, &d),
        QL_OK);
    for (i = 1; i < NKEYS; i++)
        assert_int_equal(ql_county_principal_add(f->c, f->k[i],
                                                 PEOPLE[i].unit,
                                                 PEOPLE[i].roles, &d),
                         QL_OK);
    wf_path = qlt_data_path("wf_test.lua");
    f->wf_src = qlt_read_file(wf_path, &f->wf_len);
    free(wf_path);
    assert_int_equal(ql_county_workflow_add(f->c, "wf_test.lua", f->wf_src,
                                            f->wf_len, NULL, &d),
                     QL_OK);
    cal_path = qlt_data_path("../../workflows/calendars/cn.cal");
    cal = qlt_read_file(cal_path, &cal_len);
    assert_int_equal(ql_county_calendar_set(f->c, "cn.cal", cal, cal_len, &d),
                     QL_OK);
    free(cal);
    free(cal_path);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    size_t i;

    ql_county_close(f->c);
    for (i = 0; i < NKEYS; i++)
        ql_key_free(f->k[i]);
    free(f->wf_src);
    free(f->path);
    qlt_rmtree(f->dir);
    free(f);
    return 0;
}

/* Registers a lead as the registrar, in SH, and returns its id. */
static void
add_lead(char *id, const char *summary)
{
    struct ql_wf_kv fields[] = {
        {"source", "群众举报"},
        {"summary", summary},
        {"reporter", "举报人甲, 000-0000-0000"},
    };
    struct ql_diag d;

    as(REG);
    assert_int_equal(ql_lead_add(F->c, "test_flow", NULL, fields, 3, id, &d),
                     QL_OK);
}

static void
expect_refused(ql_err got, ql_err want, const struct ql_diag *d,
               const char *fragment, uint64_t size_before)
{
    if (got != want)
        fail_msg("got %s (%s), want %s", ql_errname(got), d->msg,
                 ql_errname(want));
    if (fragment != NULL && strstr(d->msg, fragment) == NULL)
        fail_msg("message '%s' lacks '%s'", d->msg, fragment);
    /* A refusal leaves the log exactly as it was. */
    assert_int_equal(log_size(), size_before);
}

static void
test_genesis_and_reopen(void **state)
{
    struct fx *f = *state;
    struct ql_county *c2 = NULL;
    struct ql_diag d;

    (void)f;
    assert_string_equal(ql_county_origin(F->c), "qinghe.test/leads");
    assert_int_equal(ql_county_zone(F->c), 8 * 3600);
    assert_int_equal(ql_county_open(F->path, QL_COUNTY_READONLY, &c2, &d),
                     QL_OK);
    ql_county_close(c2);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
    /* A second county in the same place is refused, and leaves no trace. */
    assert_int_equal(ql_county_create(F->path, "x", F->k[ADMIN], NULL, NOW,
                                      &d),
                     QL_EEXIST);
}

static void
test_registry_refusals(void **state)
{
    struct ql_diag d;
    uint64_t n;

    (void)state;
    n = log_size();
    as(REG);
    expect_refused(ql_county_unit_add(F->c, "TD", "桐渡镇", "township", &d),
                   QL_EDENIED, &d, "administrator", n);
    as(ADMIN);
    expect_refused(ql_county_unit_add(F->c, "LT", "again", "township", &d),
                   QL_EEXIST, &d, "already exists", n);
    expect_refused(ql_county_unit_add(F->c, "TD", "桐渡镇", "village", &d),
                   QL_EUSAGE, &d, "kind", n);
    expect_refused(ql_county_unit_add(F->c, "T D", "桐渡镇", "township", &d),
                   QL_EUSAGE, &d, "unit code", n);
    expect_refused(ql_county_unit_add(F->c, "SECRET", "x", "township", &d),
                   QL_EUSAGE, &d, "reserved", n);
    expect_refused(ql_county_principal_add(F->c, F->k[REG], "SH", "registrar",
                                           &d),
                   QL_EEXIST, &d, "already exists", n);
    expect_refused(ql_county_principal_add(F->c, F->k[ADMIN], "SH", "x", &d),
                   QL_EEXIST, &d, "administrator", n);
    expect_refused(ql_county_principal_revoke(F->c, "nobody", &d),
                   QL_ENOTFOUND, &d, "nobody", n);
    ql_county_set_actor(F->c, NULL);
    expect_refused(ql_county_unit_add(F->c, "TD", "桐渡镇", "township", &d),
                   QL_EDENIED, &d, "acting key", n);
}

static ql_err
count_principal(void *ctx, const struct ql_principal_info *p,
                struct ql_diag *d)
{
    (void)d;
    (void)p;
    (*(int *)ctx)++;
    return QL_OK;
}

static void
test_registry_lists(void **state)
{
    struct ql_diag d;
    int n = 0;

    (void)state;
    assert_int_equal(ql_county_principals(F->c, "SH", count_principal, &n, &d),
                     QL_OK);
    assert_int_equal(n, 5);
    n = 0;
    assert_int_equal(ql_county_principals(F->c, NULL, count_principal, &n, &d),
                     QL_OK);
    assert_int_equal(n, NKEYS - 1);
}

static void
test_lead_full_path(void **state)
{
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_wf_kv report_bad[] = {{"finding", "查实"},
                                    {"detail", "经走访核实"}};
    struct ql_wf_kv report_ok[] = {{"amount", "120000"}};
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[80];
    bool pending = false;
    uint64_t n;

    (void)state;
    add_lead(id, "张某某非法采砂，强迫村民购买");
    assert_string_equal(id, "T-2025-0001");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "assign", assign, 2, "交办",
                                  &pending, &d),
                     QL_OK);
    assert_true(pending);
    /* While the proposal waits, nothing else moves. */
    n = log_size();
    expect_refused(ql_lead_move(F->c, id, "merge", NULL, 0, NULL, NULL, &d),
                   QL_ERULE, &d, "waiting for approval", n);
    /* The proposer may not approve, even holding the role elsewhere. */
    expect_refused(ql_lead_approve(F->c, id, &d), QL_EDENIED, &d, "director",
                   n);
    as(DIR);
    assert_int_equal(ql_lead_approve(F->c, id, &d), QL_OK);
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_string_equal(ql_lead_state(l), "ASSIGNED");
    assert_string_equal(ql_lead_unit(l), "LT");
    assert_string_equal(ql_lead_due(l), "2025-10-15");
    assert_null(ql_lead_pending(l));
    ql_lead_free(l);

    /* The township now reads the lead: it was re-sealed under its key. */
    as(LT_LLY);
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_true(ql_lead_readable(l));
    assert_string_equal(ql_lead_get(l, "summary"),
                        "张某某非法采砂，强迫村民购买");
    /* ...but never the reporter's envelope. */
    assert_null(ql_lead_get(l, "reporter"));
    ql_lead_free(l);
    assert_int_equal(ql_lead_move(F->c, id, "accept", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    as(LT_HC);
    assert_int_equal(ql_lead_move(F->c, id, "progress", NULL, 0, "首次回告",
                                  NULL, &d),
                     QL_OK);
    n = log_size();
    expect_refused(ql_lead_move(F->c, id, "report", report_bad, 2, NULL, NULL,
                                &d),
                   QL_ERULE, &d, "查实 needs 涉案金额", n);
    expect_refused(ql_lead_move(F->c, id, "report", report_bad, 1, NULL, NULL,
                                &d),
                   QL_EFORMAT, &d, "核查情况", n);
    {
        struct ql_wf_kv all[] = {{"finding", "查实"},
                                 {"detail", "经走访核实"},
                                 {"amount", "120000"}};

        (void)report_ok;
        assert_int_equal(
            ql_lead_move(F->c, id, "report", all, 3, NULL, NULL, &d), QL_OK);
    }
    as(DIR);
    assert_int_equal(ql_lead_move(F->c, id, "return_report", NULL, 0,
                                  "证据不足", NULL, &d),
                     QL_OK);
    as(LT_HC);
    {
        struct ql_wf_kv again[] = {{"detail", "补充询问两名证人"}};

        assert_int_equal(
            ql_lead_move(F->c, id, "report", again, 1, NULL, NULL, &d), QL_OK);
    }
    as(DIR);
    assert_int_equal(ql_lead_move(F->c, id, "approve_report", NULL, 0, NULL,
                                  NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_string_equal(ql_lead_state(l), "CLOSED");
    assert_string_equal(ql_lead_get(l, "detail"), "补充询问两名证人");
    assert_string_equal(ql_lead_get(l, "finding"), "查实");
    /* Notes belong to the history, not to the lead's fields. */
    assert_null(ql_lead_get(l, "_note"));
    /* The director is a secret reader. */
    assert_string_equal(ql_lead_get(l, "reporter"),
                        "举报人甲, 000-0000-0000");
    assert_string_equal(ql_lead_due(l), "");
    ql_lead_free(l);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

static void
test_lead_refusals(void **state)
{
    struct ql_wf_kv bad_enum[] = {{"source", "乱写"}, {"summary", "x"}};
    struct ql_wf_kv unknown[] = {{"source", "群众举报"},
                                 {"summary", "x"},
                                 {"colour", "red"}};
    struct ql_wf_kv missing[] = {{"source", "群众举报"}};
    struct ql_wf_kv bad_date[] = {{"handling_unit", "LT"},
                                  {"due_at", "2025-02-29"}};
    struct ql_wf_kv to_audit[] = {{"handling_unit", "AU"},
                                  {"due_at", "2025-10-15"}};
    struct ql_diag d;
    char id[80], id2[80];
    uint64_t n;

    (void)state;
    add_lead(id, "李某某把持村务");
    n = log_size();
    as(REG);
    expect_refused(ql_lead_add(F->c, "test_flow", NULL, bad_enum, 2, id2, &d),
                   QL_EFORMAT, &d, "线索来源", n);
    expect_refused(ql_lead_add(F->c, "test_flow", NULL, unknown, 3, id2, &d),
                   QL_EFORMAT, &d, "colour", n);
    expect_refused(ql_lead_add(F->c, "test_flow", NULL, missing, 1, id2, &d),
                   QL_EFORMAT, &d, "主要问题", n);
    expect_refused(ql_lead_add(F->c, "nope", NULL, missing, 1, id2, &d),
                   QL_ENOTFOUND, &d, "nope", n);
    as(LT_HC);
    expect_refused(ql_lead_add(F->c, "test_flow", NULL, bad_enum, 2, id2, &d),
                   QL_EDENIED, &d, "register", n);
    as(ADMIN);
    expect_refused(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                   QL_EDENIED, &d, "administrator", n);
    as(REG);
    expect_refused(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                   QL_EDENIED, &d, "no role", n);
    as(TRI);
    expect_refused(ql_lead_move(F->c, "T-2025-9999", "triage", NULL, 0, NULL,
                                NULL, &d),
                   QL_ENOTFOUND, &d, "T-2025-9999", n);
    expect_refused(ql_lead_move(F->c, id, "fly", NULL, 0, NULL, NULL, &d),
                   QL_ERULE, &d, "no transition 'fly'", n);
    expect_refused(ql_lead_move(F->c, id, "assign", NULL, 0, NULL, NULL, &d),
                   QL_ERULE, &d, "does not leave state 'NEW'", n);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    n = log_size();
    expect_refused(ql_lead_move(F->c, id, "assign", bad_date, 2, NULL, NULL,
                                &d),
                   QL_EFORMAT, &d, "核查期限", n);
    expect_refused(ql_lead_move(F->c, id, "assign", to_audit, 2, NULL, NULL,
                                &d),
                   QL_ERULE, &d, "handles no leads", n);
    /* Another unit's principal cannot touch the lead once it is LT's. */
    {
        struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                    {"due_at", "2025-10-15"}};

        assert_int_equal(ql_lead_move(F->c, id, "assign", assign, 2, NULL,
                                      NULL, &d),
                         QL_OK);
        as(DIR);
        assert_int_equal(ql_lead_approve(F->c, id, &d), QL_OK);
    }
    n = log_size();
    as(QY_LLY);
    expect_refused(ql_lead_move(F->c, id, "accept", NULL, 0, NULL, NULL, &d),
                   QL_EDENIED, &d, "unit LT", n);
    as(DIR);
    expect_refused(ql_lead_approve(F->c, id, &d), QL_ENOTFOUND, &d,
                   "no proposal", n);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

/* A guard that never returns is stopped and the lead stays as it was. */
static void
test_runaway_guard_changes_nothing(void **state)
{
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[80];
    uint64_t n;

    (void)state;
    add_lead(id, "守卫测试");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    n = log_size();
    expect_refused(ql_lead_move(F->c, id, "stall", NULL, 0, NULL, NULL, &d),
                   QL_ESCRIPT, &d, "wf_test.lua", n);
    assert_non_null(strstr(d.msg, "budget"));
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_string_equal(ql_lead_state(l), "TRIAGE");
    ql_lead_free(l);
    /* The county goes on working after the runaway script. */
    assert_int_equal(ql_lead_move(F->c, id, "merge",
                                  (struct ql_wf_kv[]){{"master_lead",
                                                       "T-2025-0001"}},
                                  1, NULL, NULL, &d),
                     QL_EFORMAT);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

static void
test_distinct_and_reject(void **state)
{
    struct ql_wf_kv assign[] = {{"handling_unit", "QY"},
                                {"due_at", "2025-10-20"}};
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[80];

    (void)state;
    add_lead(id, "冯某某霸占鱼塘");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "assign", assign, 2, NULL, NULL,
                                  &d),
                     QL_OK);
    as(DIR);
    assert_int_equal(ql_lead_reject(F->c, id, "期限过短", &d), QL_OK);
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_string_equal(ql_lead_state(l), "TRIAGE");
    assert_null(ql_lead_pending(l));
    ql_lead_free(l);
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "assign", assign, 2, NULL, NULL,
                                  &d),
                     QL_OK);
    as(DIR2);
    assert_int_equal(ql_lead_approve(F->c, id, &d), QL_OK);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

static void
test_merge(void **state)
{
    struct ql_wf_kv to_self[] = {{"master_lead", "T-2025-0002"}};
    struct ql_wf_kv missing[] = {{"master_lead", "T-2025-0099"}};
    struct ql_wf_kv good[] = {{"master_lead", "T-2025-0001"}};
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char a[80], b[80];
    uint64_t n;

    (void)state;
    add_lead(a, "陈某某侵占集体资产");
    add_lead(b, "陈某某 (同一事实)");
    assert_string_equal(b, "T-2025-0002");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, b, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    n = log_size();
    expect_refused(ql_lead_move(F->c, b, "merge", to_self, 1, NULL, NULL, &d),
                   QL_EFORMAT, &d, "another lead", n);
    expect_refused(ql_lead_move(F->c, b, "merge", missing, 1, NULL, NULL, &d),
                   QL_EFORMAT, &d, "T-2025-0099", n);
    assert_int_equal(ql_lead_move(F->c, b, "merge", good, 1, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_load(F->c, b, &l, &d), QL_OK);
    assert_string_equal(ql_lead_state(l), "MERGED");
    assert_string_equal(ql_lead_get(l, "master_lead"), "T-2025-0001");
    ql_lead_free(l);
}

static void
test_readers(void **state)
{
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[80];

    (void)state;
    add_lead(id, "赵某某套路贷");
    /* A township that was never assigned the lead reads its clear part. */
    as(LT_LLY);
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_false(ql_lead_readable(l));
    assert_string_equal(ql_lead_get(l, "source"), "群众举报");
    assert_null(ql_lead_get(l, "summary"));
    ql_lead_free(l);
    /* The auditor holds no key at all. */
    as(AUD);
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_false(ql_lead_readable(l));
    assert_null(ql_lead_get(l, "summary"));
    assert_null(ql_lead_get(l, "reporter"));
    ql_lead_free(l);
    /* The inspector supervises: content yes, envelope no. */
    as(INSP);
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_true(ql_lead_readable(l));
    assert_string_equal(ql_lead_get(l, "summary"), "赵某某套路贷");
    assert_null(ql_lead_get(l, "reporter"));
    ql_lead_free(l);
}

struct hist {
    int events, readable, notes;
};

static ql_err
count_events(void *ctx, const struct ql_lead_event *ev, struct ql_diag *d)
{
    struct hist *h = ctx;

    (void)d;
    h->events++;
    h->readable += ev->readable;
    h->notes += ev->note != NULL;
    return QL_OK;
}

static void
test_history(void **state)
{
    struct ql_diag d;
    struct hist h = {0, 0, 0};
    char id[80];

    (void)state;
    add_lead(id, "孙某某收过路费");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, "已领取", NULL,
                                  &d),
                     QL_OK);
    assert_int_equal(ql_lead_history(F->c, id, count_events, &h, &d), QL_OK);
    assert_int_equal(h.events, 2);
    assert_int_equal(h.readable, 2);
    assert_int_equal(h.notes, 1);
    memset(&h, 0, sizeof h);
    as(AUD);
    assert_int_equal(ql_lead_history(F->c, id, count_events, &h, &d), QL_OK);
    assert_int_equal(h.events, 2);
    assert_int_equal(h.readable, 0);
    assert_int_equal(h.notes, 0);
}

static void
test_revocation_rotates_keys(void **state)
{
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char a[80], b[80];
    uint64_t n;

    (void)state;
    add_lead(a, "第一条");
    as(ADMIN);
    assert_int_equal(ql_county_principal_revoke(F->c, "sh-zhuren-02", &d),
                     QL_OK);
    n = log_size();
    expect_refused(ql_county_principal_revoke(F->c, "sh-zhuren-02", &d),
                   QL_EEXIST, &d, "already revoked", n);
    /* The revoked director can no longer sign anything. */
    as(DIR2);
    expect_refused(ql_lead_move(F->c, a, "triage", NULL, 0, NULL, NULL, &d),
                   QL_EDENIED, &d, "revoked", n);
    /* The next write starts a new epoch that the revoked key never got. */
    add_lead(b, "第二条");
    as(DIR2);
    assert_int_equal(ql_lead_load(F->c, b, &l, &d), QL_OK);
    assert_false(ql_lead_readable(l));
    ql_lead_free(l);
    /* The one it already held still opens the older lead. */
    assert_int_equal(ql_lead_load(F->c, a, &l, &d), QL_OK);
    assert_true(ql_lead_readable(l));
    ql_lead_free(l);
    as(DIR);
    assert_int_equal(ql_lead_load(F->c, b, &l, &d), QL_OK);
    assert_true(ql_lead_readable(l));
    ql_lead_free(l);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

static void
test_new_member_reads_old_leads(void **state)
{
    struct ql_key *newcomer = NULL;
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[80];

    (void)state;
    add_lead(id, "旧线索");
    assert_int_equal(ql_key_generate(ql_profile_default(), "sh-yanpan-02",
                                     &newcomer, &d),
                     QL_OK);
    as(ADMIN);
    assert_int_equal(
        ql_county_principal_add(F->c, newcomer, "SH", "triage", &d), QL_OK);
    /* Any holder's next write grants the newcomer the unit's keys. */
    add_lead(id, "新线索");
    ql_county_set_actor(F->c, newcomer);
    assert_int_equal(ql_lead_load(F->c, "T-2025-0001", &l, &d), QL_OK);
    assert_true(ql_lead_readable(l));
    ql_lead_free(l);
    ql_key_free(newcomer);
}

static void
test_migrate(void **state)
{
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[80], hash[65], *src;
    size_t len;
    uint64_t n;

    (void)state;
    add_lead(id, "待迁移");
    /* Version 2 renames NEW to REGISTERED. */
    len = F->wf_len + 64;
    src = malloc(len);
    snprintf(src, len, "%s", F->wf_src);
    {
        char *p;

        while ((p = strstr(src, "\"NEW\"")) != NULL)
            memcpy(p, "\"REG\"", 5);
    }
    as(ADMIN);
    assert_int_equal(ql_county_workflow_add(F->c, "wf_test.lua", src,
                                            strlen(src), hash, &d),
                     QL_OK);
    n = log_size();
    expect_refused(ql_lead_migrate(F->c, id, hash, NULL, &d), QL_ERULE, &d,
                   "no state 'NEW'", n);
    expect_refused(ql_lead_migrate(F->c, id, hash, "NEW", &d), QL_EUSAGE, &d,
                   "state map", n);
    as(TRI);
    expect_refused(ql_lead_migrate(F->c, id, hash, "NEW=REG", &d), QL_EDENIED,
                   &d, "administrator", n);
    as(ADMIN);
    assert_int_equal(ql_lead_migrate(F->c, id, hash, "NEW=REG", &d), QL_OK);
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_string_equal(ql_lead_state(l), "REG");
    assert_string_equal(ql_lead_workflow(l), hash);
    ql_lead_free(l);
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    free(src);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

static void
test_replay_detects_tampered_tables(void **state)
{
    struct ql_diag d;
    sqlite3 *db = NULL;
    char id[80];

    (void)state;
    add_lead(id, "篡改测试");
    assert_int_equal(sqlite3_open(F->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE leads SET state = 'CLOSED'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_EINTEGRITY);
    assert_non_null(strstr(d.msg, "leads"));
}

static void
test_batch_all_or_nothing(void **state)
{
    struct ql_wf_kv good[] = {{"source", "部门移送"}, {"summary", "批量"}};
    struct ql_wf_kv bad[] = {{"source", "乱写"}, {"summary", "批量"}};
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[80];
    uint64_t n;
    int i;

    (void)state;
    as(REG);
    n = log_size();
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    for (i = 0; i < 3; i++)
        assert_int_equal(
            ql_lead_add(F->c, "test_flow", NULL, good, 2, id, &d), QL_OK);
    assert_int_equal(ql_lead_add(F->c, "test_flow", NULL, bad, 2, id, &d),
                     QL_EFORMAT);
    /* The failure took the whole batch with it. */
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_EUSAGE);
    ql_county_batch_abort(F->c);
    assert_int_equal(log_size(), n);
    assert_int_equal(ql_lead_load(F->c, "T-2025-0001", &l, &d), QL_ENOTFOUND);
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    for (i = 0; i < 3; i++)
        assert_int_equal(
            ql_lead_add(F->c, "test_flow", NULL, good, 2, id, &d), QL_OK);
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_OK);
    assert_string_equal(id, "T-2025-0003");
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    ql_lead_free(l);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}


/*
 * Inside a batch entries are signed on a second thread: they count and
 * read back at once, a caller asking for a signed note gets one that
 * verifies, a registry change mid-batch takes effect at once, and what
 * commits verifies entry by entry; a rollback leaves nothing behind.
 */
static void
test_batch_signs_aside(void **state)
{
    struct ql_audit_result res;
    struct ql_note_key nk;
    struct ql_entry e;
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[80], first[80], *note = NULL;
    size_t len = 0, nok = 0;
    uint64_t n, at;
    int i;

    (void)state;
    n = log_size();
    as(REG);
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    for (i = 0; i < 150; i++) {
        add_lead(id, "批量登记");
        if (i == 0)
            snprintf(first, sizeof first, "%s", id);
        as(TRI);
        assert_int_equal(
            ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d), QL_OK);
    }
    /* 300 entries and the grants of the keys the batch created. */
    at = log_size();
    assert_true(at >= n + 300 && at <= n + 310);
    /* A queued entry reads back as written, before any signature. */
    ql_entry_init(&e);
    assert_int_equal(ql_log_read(ql_county_log(F->c), at - 1, NULL, NULL,
                                 &e, &d),
                     QL_OK);
    assert_int_equal(e.index, at - 1);
    assert_string_equal(e.actor, PEOPLE[TRI].name);
    assert_string_equal(e.lead, id);
    ql_entry_release(&e);
    /* Asking for the note signs what is queued: it verifies. */
    assert_int_equal(ql_log_read(ql_county_log(F->c), at - 1, &note, &len,
                                 NULL, &d),
                     QL_OK);
    memset(&nk, 0, sizeof nk);
    nk.key = F->k[TRI];
    assert_int_equal(ql_note_verify(note, len, &nk, 1, &nok, &d), QL_OK);
    assert_true(nk.verified);
    free(note);
    /* Revoked mid-batch: the next write by that key is refused. */
    as(ADMIN);
    assert_int_equal(ql_county_principal_revoke(F->c, PEOPLE[REG].name, &d),
                     QL_OK);
    assert_int_equal(log_size(), at + 1);
    as(REG);
    assert_int_equal(ql_lead_add(F->c, "test_flow", NULL, NULL, 0, id, &d),
                     QL_EDENIED);
    /* The refusal rolled the whole batch back and stopped its signing. */
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_EUSAGE);
    ql_county_batch_abort(F->c);
    assert_int_equal(log_size(), n);
    assert_int_equal(ql_lead_load(F->c, first, &l, &d), QL_ENOTFOUND);
    /* A fresh batch signs and commits; every entry verifies. */
    as(REG);
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    for (i = 0; i < 150; i++) {
        add_lead(id, "批量登记");
        as(TRI);
        assert_int_equal(
            ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d), QL_OK);
    }
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_OK);
    assert_int_equal(log_size(), at);
    assert_int_equal(ql_lead_load(F->c, first, &l, &d), QL_OK);
    assert_true(ql_lead_readable(l));
    assert_string_equal(ql_lead_get(l, "summary"), "批量登记");
    assert_string_equal(ql_lead_state(l), "TRIAGE");
    ql_lead_free(l);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
    if (ql_audit_verify(F->c, F->k[ADMIN], &res, &d) != QL_OK)
        fail_msg("audit: %s", d.msg);
}

/*
 * A lead with a long history is snapshotted now and then, so a read
 * decrypts a bounded number of parts; its content stays whole.
 */
static void
test_long_history_snapshots(void **state)
{
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_lead *l = NULL;
    struct ql_entry e;
    struct ql_diag d;
    char id[80], note[32];
    uint64_t from, to, i;
    int k, since = 0, longest = 0, snapshots = 0;

    (void)state;
    add_lead(id, "长期核查");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "assign", assign, 2, NULL, NULL,
                                  &d),
                     QL_OK);
    as(DIR);
    assert_int_equal(ql_lead_approve(F->c, id, &d), QL_OK);
    as(LT_LLY);
    assert_int_equal(ql_lead_move(F->c, id, "accept", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    as(LT_HC);
    from = log_size();
    for (k = 0; k < 40; k++) {
        snprintf(note, sizeof note, "回告%d", k);
        assert_int_equal(
            ql_lead_move(F->c, id, "progress", NULL, 0, note, NULL, &d),
            QL_OK);
    }
    to = log_size();
    for (i = from; i < to; i++) {
        ql_entry_init(&e);
        assert_int_equal(ql_log_read(ql_county_log(F->c), i, NULL, NULL, &e,
                                     &d),
                         QL_OK);
        if (strcmp(e.lead, id) == 0) {
            if (ql_entry_get_clear(&e, "_snapshot") != NULL) {
                snapshots++;
                since = 0;
            }
            since++;
            if (since > longest)
                longest = since;
        }
        ql_entry_release(&e);
    }
    assert_true(snapshots >= 2);
    assert_true(longest <= 17);
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_true(ql_lead_readable(l));
    assert_string_equal(ql_lead_get(l, "summary"), "长期核查");
    assert_string_equal(ql_lead_state(l), "VERIFYING");
    ql_lead_free(l);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

/* ---- the batch's caches: the same entries as one write at a time ---- */

/*
 * Whatever a batch keeps of lead id's clear metadata is what the store
 * has; kept counts the writes after which it kept some.
 */
static size_t kept;

static void
kept_same(const char *id)
{
    struct ql_diag d;
    bool k = false;

    assert_int_equal(ql_lead_cache_check(F->c, id, &k, &d), QL_OK);
    kept += k;
}

/* One lead's walk through the workflow, touching every kind of write. */
static void
walk_lead(struct ql_key *tmp, char *id)
{
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_wf_kv report[] = {{"finding", "查实"},
                                {"detail", "经走访核实\n另见附件"},
                                {"amount", "120000"}};
    struct ql_wf_kv secret[] = {{"reporter", "举报人乙, 111-1111-1111"},
                                {"detail", "退回: 补充\\证据"}};
    struct ql_wf_kv report2[] = {{"finding", "部分查实"}};
    struct ql_diag d;
    char note[32];
    int k;

    add_lead(id, "缓存比对");
    kept_same(id);
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    kept_same(id);
    assert_int_equal(ql_lead_move(F->c, id, "assign", assign, 2, "交办",
                                  NULL, &d),
                     QL_OK);
    kept_same(id);
    as(DIR);
    assert_int_equal(ql_lead_approve(F->c, id, &d), QL_OK);
    kept_same(id);
    as(LT_LLY);
    assert_int_equal(ql_lead_move(F->c, id, "accept", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    kept_same(id);
    /* Past SNAPSHOT_EVERY parts: the writer snapshots the lead. */
    as(LT_HC);
    for (k = 0; k < 18; k++) {
        snprintf(note, sizeof note, "回告%d", k);
        assert_int_equal(
            ql_lead_move(F->c, id, "progress", NULL, 0, note, NULL, &d),
            QL_OK);
        kept_same(id);
    }
    /* A new member is granted the key; once revoked, the key renews. */
    as(ADMIN);
    assert_int_equal(ql_county_principal_add(F->c, tmp, "LT", "verifier", &d),
                     QL_OK);
    as(LT_HC);
    assert_int_equal(
        ql_lead_move(F->c, id, "progress", NULL, 0, "新成员", NULL, &d),
        QL_OK);
    kept_same(id);
    as(ADMIN);
    assert_int_equal(ql_county_principal_revoke(F->c, ql_key_name(tmp), &d),
                     QL_OK);
    as(LT_HC);
    assert_int_equal(
        ql_lead_move(F->c, id, "progress", NULL, 0, "换钥后", NULL, &d),
        QL_OK);
    kept_same(id);
    assert_int_equal(ql_lead_move(F->c, id, "report", report, 3, NULL, NULL,
                                  &d),
                     QL_OK);
    kept_same(id);
    /* The envelope changes by a secret reader, and a sealed change. */
    as(DIR);
    assert_int_equal(ql_lead_move(F->c, id, "return_report", secret, 2,
                                  "退回", NULL, &d),
                     QL_OK);
    kept_same(id);
    as(LT_HC);
    assert_int_equal(ql_lead_move(F->c, id, "report", report2, 1, NULL, NULL,
                                  &d),
                     QL_OK);
    kept_same(id);
}

/* Appends one line per history event: what a reader folds. */
static ql_err
history_line(void *ctx, const struct ql_lead_event *ev, struct ql_diag *d)
{
    char **out = ctx, *grown;
    size_t i, len = *out ? strlen(*out) : 0, add = 256;

    (void)d;
    for (i = 0; i < ev->nsealed; i++)
        add += strlen(ev->sealed[i].name) + strlen(ev->sealed[i].value) + 4;
    for (i = 0; i < ev->nclear; i++)
        add += strlen(ev->clear[i].name) + strlen(ev->clear[i].value) + 4;
    add += ev->note ? strlen(ev->note) : 0;
    grown = realloc(*out, len + add);
    assert_non_null(grown);
    *out = grown;
    len += (size_t)snprintf(grown + len, add, "%s %s %s>%s %s r%d [%s]",
                            ev->actor, ev->action, ev->from, ev->to, ev->unit,
                            ev->readable, ev->note ? ev->note : "-");
    for (i = 0; i < ev->nclear; i++)
        if (strcmp(ev->clear[i].name, "_proposal") != 0 &&
            strcmp(ev->clear[i].name, "_epoch") != 0 &&
            strcmp(ev->clear[i].name, "_secret_epoch") != 0)
            len += (size_t)snprintf(grown + len, add, " %s=%s",
                                    ev->clear[i].name, ev->clear[i].value);
    for (i = 0; i < ev->nsealed; i++)
        len += (size_t)snprintf(grown + len, add, " {%s=%s}",
                                ev->sealed[i].name, ev->sealed[i].value);
    snprintf(grown + len, add, "\n");
    return QL_OK;
}

static char *
history_of(const char *id)
{
    struct ql_diag d;
    char *out = NULL;

    assert_int_equal(ql_lead_history(F->c, id, history_line, &out, &d),
                     QL_OK);
    return out;
}

/* The lead's fields as a reader sees them, in order, one string. */
static char *
fields_of(const char *id, char *buf, size_t size)
{
    struct ql_lead *l = NULL;
    struct ql_diag d;
    size_t i, at = 0;

    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    at += (size_t)snprintf(buf, size, "%s %s %s %s r%d", ql_lead_state(l),
                           ql_lead_unit(l), ql_lead_due(l),
                           ql_lead_registered(l), ql_lead_readable(l));
    for (i = 0; i < ql_lead_field_count(l) && at < size; i++) {
        const struct ql_wf_kv *f = ql_lead_field_at(l, i);

        at += (size_t)snprintf(buf + at, size - at, " %s=%s", f->name,
                               f->value);
    }
    assert_true(at < size);
    ql_lead_free(l);
    return buf;
}

static long long sql_int(const char *sql);

/*
 * Whether entry k grants an epoch older than its unit's latest: the
 * number of those grows with the unit's history, not with the walk.
 */
static bool
grants_older_epoch(const struct ql_entry *e, uint64_t k)
{
    const char *epoch = ql_entry_get_clear(e, "epoch");
    char sql[256];

    if (strcmp(e->action, "grant") != 0 || epoch == NULL)
        return false;
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM datakeys WHERE unit = '%s' "
             "AND epoch > %s AND idx < %llu",
             e->unit, epoch, (unsigned long long)k);
    return sql_int(sql) > 0;
}

/*
 * The shape of entries [from, to): the lead-independent lines of each,
 * but for grants of older epochs.
 */
static char *
entries_of(uint64_t from, uint64_t to)
{
    struct ql_entry e;
    struct ql_diag d;
    char *out = NULL, *grown;
    size_t len = 0, i;
    uint64_t k;

    for (k = from; k < to; k++) {
        size_t add = 512;

        ql_entry_init(&e);
        assert_int_equal(ql_log_read(ql_county_log(F->c), k, NULL, NULL, &e,
                                     &d),
                         QL_OK);
        if (grants_older_epoch(&e, k)) {
            ql_entry_release(&e);
            continue;
        }
        for (i = 0; i < e.nclear; i++)
            add += strlen(e.clear[i].name) + strlen(e.clear[i].value) + 4;
        grown = realloc(out, len + add);
        assert_non_null(grown);
        out = grown;
        len += (size_t)snprintf(out + len, add, "%s %s %s %s>%s %s p%d",
                                e.actor, e.action, e.transition, e.from, e.to,
                                e.unit, e.payload_len > 0);
        for (i = 0; i < e.nclear; i++) {
            const char *n = e.clear[i].name;

            /* Indexes, epochs and names differ from run to run. */
            if (strcmp(n, "_proposal") == 0 || strcmp(n, "_epoch") == 0 ||
                strcmp(n, "_secret_epoch") == 0 ||
                strcmp(n, "recipients") == 0 || strcmp(n, "epoch") == 0 ||
                strcmp(n, "fingerprint") == 0 || strcmp(n, "key") == 0 ||
                strcmp(n, "principal") == 0)
                len += (size_t)snprintf(out + len, add, " %s", n);
            else
                len += (size_t)snprintf(out + len, add, " %s=%s", n,
                                        e.clear[i].value);
        }
        len += (size_t)snprintf(out + len, add, "\n");
        ql_entry_release(&e);
    }
    return out;
}

/*
 * A batch keeps the leads it wrote, the holders it settled and the keys it
 * opened; none of that may change a single entry. The same walk, once a
 * write at a time and once in one batch, gives the same entries (snapshots,
 * grants, key renewals included), the same history and the same lead.
 */
static void
test_batch_caches_change_nothing(void **state)
{
    static const char *const names[3] = {"LT-tmp-01", "LT-tmp-02",
                                         "LT-tmp-03"};
    struct ql_key *tmp[3];
    struct ql_diag d;
    char id[3][80], f0[2048], f1[2048], *h0, *h1, *e0, *e1;
    uint64_t at[4];
    int run;

    (void)state;
    for (run = 0; run < 3; run++)
        assert_int_equal(ql_key_generate(ql_profile_default(), names[run],
                                         &tmp[run], &d),
                         QL_OK);
    /*
     * The first walk makes the keys the others find (LT's, the envelope's),
     * so the second (a write at a time) and the third (one batch) start
     * alike.
     */
    at[0] = log_size();
    for (run = 0; run < 3; run++) {
        size_t kept0 = kept;

        if (run == 2)
            assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
        walk_lead(tmp[run], id[run]);
        if (run == 2)
            assert_int_equal(ql_county_batch_commit(F->c, &d), QL_OK);
        at[run + 1] = log_size();
        /* Only a batch keeps the metadata, after most of its writes. */
        if (run < 2)
            assert_int_equal(kept, kept0);
        else
            assert_true(kept - kept0 >= 25);
    }
    e0 = entries_of(at[1], at[2]);
    e1 = entries_of(at[2], at[3]);
    assert_string_equal(e0, e1);
    as(DIR);
    h0 = history_of(id[1]);
    h1 = history_of(id[2]);
    assert_string_equal(h0, h1);
    assert_string_equal(fields_of(id[1], f0, sizeof f0),
                        fields_of(id[2], f1, sizeof f1));
    assert_non_null(strstr(f1, "reporter=举报人乙"));
    as(LT_HC);
    assert_string_equal(fields_of(id[1], f0, sizeof f0),
                        fields_of(id[2], f1, sizeof f1));
    assert_null(strstr(f1, "reporter="));
    free(e0);
    free(e1);
    free(h0);
    free(h1);
    for (run = 0; run < 3; run++)
        ql_key_free(tmp[run]);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

/*
 * Inside a batch a lead read back after a rollback is read from the store:
 * the cache went with the rollback. And a lead moved outside the cache's
 * path (a rejection) is read back whole.
 */
static void
test_batch_cache_rollback_and_reject(void **state)
{
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_wf_kv bad[] = {{"handling_unit", "NOPE"},
                             {"due_at", "2025-10-15"}};
    struct ql_diag d;
    char id[80], f0[2048];

    (void)state;
    add_lead(id, "回滚");
    as(TRI);
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "assign", bad, 2, NULL, NULL, &d),
                     QL_EFORMAT);
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_EUSAGE);
    ql_county_batch_abort(F->c);
    /* The triage is gone, and so is what the batch knew of the lead. */
    as(TRI);
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "assign", assign, 2, NULL, NULL,
                                  &d),
                     QL_ERULE);
    ql_county_batch_abort(F->c);
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "assign", assign, 2, NULL, NULL,
                                  &d),
                     QL_OK);
    kept_same(id);
    assert_int_equal(ql_lead_reject(F->c, id, "重新研判", &d), QL_OK);
    kept_same(id);
    assert_int_equal(ql_lead_move(F->c, id, "assign", assign, 2, "再交办",
                                  NULL, &d),
                     QL_OK);
    kept_same(id);
    as(DIR);
    assert_int_equal(ql_lead_approve(F->c, id, &d), QL_OK);
    kept_same(id);
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_OK);
    fields_of(id, f0, sizeof f0);
    assert_non_null(strstr(f0, "ASSIGNED LT 2025-10-15"));
    assert_non_null(strstr(f0, "summary=回滚"));
    assert_non_null(strstr(f0, "reporter=举报人甲"));
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

/*
 * A lead larger than a memo's slot keeps its own guarded block, and past
 * the cache's 1,024 leads the oldest make room: either way a move in the
 * batch reads the lead it would have read back.
 */
static void
test_batch_cache_large_and_many(void **state)
{
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_wf_kv detail[] = {{"detail", NULL}};
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char first[80], id[80], *big;
    size_t i;

    (void)state;
    big = malloc(3001);
    assert_non_null(big);
    for (i = 0; i < 3000; i++)
        big[i] = (char)('a' + i % 26);
    big[3000] = '\0';
    detail[0].value = big;
    as(REG);
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    add_lead(first, big);
    for (i = 0; i < 1030; i++)
        add_lead(id, "填满缓存");
    as(TRI);
    /* The first lead's memo made room long ago; the last one's is kept. */
    assert_int_equal(
        ql_lead_move(F->c, first, "triage", NULL, 0, NULL, NULL, &d), QL_OK);
    assert_int_equal(ql_lead_move(F->c, first, "assign", assign, 2, NULL,
                                  NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    as(DIR);
    assert_int_equal(ql_lead_approve(F->c, first, &d), QL_OK);
    as(LT_LLY);
    assert_int_equal(
        ql_lead_move(F->c, first, "accept", NULL, 0, NULL, NULL, &d), QL_OK);
    as(LT_HC);
    big[0] = 'Z';
    assert_int_equal(ql_lead_move(F->c, first, "progress", detail, 1, "长",
                                  NULL, &d),
                     QL_OK);
    assert_int_equal(
        ql_lead_move(F->c, first, "progress", NULL, 0, "再", NULL, &d), QL_OK);
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_OK);
    as(DIR);
    assert_int_equal(ql_lead_load(F->c, first, &l, &d), QL_OK);
    assert_string_equal(ql_lead_state(l), "VERIFYING");
    assert_string_equal(ql_lead_get(l, "detail"), big);
    big[0] = 'a';
    assert_string_equal(ql_lead_get(l, "summary"), big);
    assert_string_equal(ql_lead_get(l, "reporter"),
                        "举报人甲, 000-0000-0000");
    ql_lead_free(l);
    assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
    assert_string_equal(ql_lead_state(l), "TRIAGE");
    assert_string_equal(ql_lead_get(l, "summary"), "填满缓存");
    ql_lead_free(l);
    free(big);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

/* ---- many principals: who holds each key ---- */

#define HU 12 /* townships */
#define HM 6  /* members each */
#define HS 8  /* supervision registrars */

/* The one integer query's answer, on a connection of its own. */
static long long
sql_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    assert_int_equal(sqlite3_open_v2(F->path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/*
 * Grants of each key's latest epoch that should not be there, plus holders
 * without one: zero when every key went to exactly its holders (active
 * members of the unit and of supervision, engine roles aside; for the
 * envelope, supervision's secret readers).
 */
static long long
misgranted(void)
{
    static const char SQL[] =
        "WITH latest AS (SELECT unit, max(epoch) AS epoch FROM datakeys "
        "  GROUP BY unit), "
        "holder AS (SELECT l.unit, l.epoch, p.name FROM latest l "
        "  JOIN principals p JOIN units u ON u.code = p.unit "
        "  WHERE p.revoked_idx IS NULL "
        "  AND ',' || p.roles || ',' NOT LIKE '%,admin,%' "
        "  AND ',' || p.roles || ',' NOT LIKE '%,auditor,%' "
        "  AND ((l.unit <> 'SECRET' AND (p.unit = l.unit "
        "        OR u.kind = 'supervision')) "
        "    OR (l.unit = 'SECRET' AND u.kind = 'supervision' "
        "        AND (',' || p.roles || ',' LIKE '%,registrar,%' "
        "          OR ',' || p.roles || ',' LIKE '%,director,%')))), "
        "granted AS (SELECT g.unit, g.epoch, g.principal AS name "
        "  FROM grants g JOIN latest l ON l.unit = g.unit "
        "  AND l.epoch = g.epoch) "
        "SELECT (SELECT count(*) FROM (SELECT * FROM holder EXCEPT "
        "  SELECT * FROM granted)) + (SELECT count(*) FROM (SELECT * FROM "
        "  granted EXCEPT SELECT * FROM holder))";

    return sql_int(SQL);
}

/*
 * With many principals a batch settles each key's holders once and skips
 * the query over all of them afterwards; a registry entry mid-batch (a new
 * member, a new supervisor, a revocation) must still reach exactly the
 * right holders, and a revocation must still renew the unit's key.
 */
static void
test_many_principals_holders(void **state)
{
    struct ql_wf_kv reg[] = {{"source", "群众举报"},
                             {"summary", "多单位"},
                             {"reporter", "甲"}};
    struct ql_wf_kv own[] = {{"source", "部门移送"}, {"summary", "本单位"}};
    struct ql_key *mem[HU][HM], *sup[HS], *late = NULL, *boss = NULL;
    struct ql_diag d;
    char name[64], unit[16], id[80];
    int u, m, round;

    (void)state;
    as(ADMIN);
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    for (u = 0; u < HU; u++) {
        snprintf(unit, sizeof unit, "U%02d", u);
        assert_int_equal(ql_county_unit_add(F->c, unit, "乡镇",
                                            QL_KIND_TOWNSHIP, &d),
                         QL_OK);
        for (m = 0; m < HM; m++) {
            snprintf(name, sizeof name, "%s-m%02d", unit, m);
            assert_int_equal(ql_key_generate(ql_profile_default(), name,
                                             &mem[u][m], &d),
                             QL_OK);
            assert_int_equal(ql_county_principal_add(
                                 F->c, mem[u][m], unit,
                                 m == HM - 1 ? "liaison,auditor"
                                             : "liaison,verifier",
                                 &d),
                             QL_OK);
        }
    }
    for (m = 0; m < HS; m++) {
        snprintf(name, sizeof name, "sh-reg-%02d", m);
        assert_int_equal(ql_key_generate(ql_profile_default(), name, &sup[m],
                                         &d),
                         QL_OK);
        assert_int_equal(ql_county_principal_add(F->c, sup[m], "SH",
                                                 m % 2 ? "registrar,triage"
                                                       : "registrar",
                                                 &d),
                         QL_OK);
    }
    assert_int_equal(ql_key_generate(ql_profile_default(), "U03-late", &late,
                                     &d),
                     QL_OK);
    assert_int_equal(ql_key_generate(ql_profile_default(), "sh-boss", &boss,
                                     &d),
                     QL_OK);
    /* Leads go to the units in turn, each written by someone else. */
    for (round = 0; round < 3; round++) {
        if (round == 2) {
            /* Mid-batch: a member joins, a supervisor joins, one leaves. */
            as(ADMIN);
            assert_int_equal(ql_county_principal_add(F->c, late, "U03",
                                                     "liaison", &d),
                             QL_OK);
            assert_int_equal(ql_county_principal_add(F->c, boss, "SH",
                                                     "director", &d),
                             QL_OK);
            assert_int_equal(
                ql_county_principal_revoke(F->c, "U05-m01", &d), QL_OK);
        }
        for (u = 0; u < HU; u++) {
            snprintf(unit, sizeof unit, "U%02d", u);
            ql_county_set_actor(F->c, sup[(u + round) % HS]);
            assert_int_equal(ql_lead_add(F->c, "test_flow", unit, reg, 3, id,
                                         &d),
                             QL_OK);
            ql_county_set_actor(F->c, mem[u][(u + round) % (HM - 1)]);
            assert_int_equal(ql_lead_add(F->c, "test_flow", NULL, own, 2, id,
                                         &d),
                             QL_OK);
        }
    }
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_OK);
    assert_int_equal(misgranted(), 0);
    /* The revocation renewed U05's key and no other township's. */
    assert_int_equal(sql_int("SELECT count(*) FROM datakeys WHERE unit = "
                             "'U05'"),
                     2);
    assert_int_equal(sql_int("SELECT count(*) FROM datakeys WHERE unit "
                             "LIKE 'U%'"),
                     HU + 1);
    assert_int_equal(sql_int("SELECT count(*) FROM grants WHERE principal = "
                             "'U05-m01' AND unit = 'U05' AND epoch = 2"),
                     0);
    /* Who joined mid-batch holds what is theirs, and nothing else. */
    assert_int_equal(sql_int("SELECT count(*) FROM grants WHERE principal = "
                             "'U03-late'"),
                     1);
    /* And U05's first key too, from its first writer after the
       revocation, who held it. */
    assert_int_equal(sql_int("SELECT count(*) FROM grants WHERE principal = "
                             "'sh-boss'"),
                     HU + 2);
    /* The engine's roles hold no content key. */
    assert_int_equal(sql_int("SELECT count(*) FROM grants WHERE principal "
                             "LIKE 'U%-m05'"),
                     0);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
    for (u = 0; u < HU; u++)
        for (m = 0; m < HM; m++)
            ql_key_free(mem[u][m]);
    for (m = 0; m < HS; m++)
        ql_key_free(sup[m]);
    ql_key_free(late);
    ql_key_free(boss);
}

/* ---- rows a batch writes once: the same tables as a write at a time ---- */

static const char *const LEAD_TABLES[] = {
    "leads",    "lead_clear", "lead_entries",
    "pending",  "counters",   "status_counts",
};

static int
cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Table t of the store at path, one sorted line a row, every column. */
static char *
table_dump(const char *path, const char *t)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[128], **lines = NULL, *out, *at;
    size_t n = 0, total = 1, i;
    int col;

    snprintf(sql, sizeof sql, "SELECT * FROM %s", t);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t len = 2;
        char *line;

        for (col = 0; col < sqlite3_column_count(st); col++)
            len += (size_t)sqlite3_column_bytes(st, col) + 4;
        line = malloc(len);
        lines = realloc(lines, (n + 1) * sizeof *lines);
        assert_non_null(line);
        assert_non_null(lines);
        line[0] = '\0';
        for (col = 0; col < sqlite3_column_count(st); col++) {
            const unsigned char *v = sqlite3_column_text(st, col);

            snprintf(line + strlen(line), len - strlen(line), "%s%s",
                     col ? "|" : "", v != NULL ? (const char *)v : "\\N");
        }
        lines[n++] = line;
        total += strlen(line) + 1;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (n > 0) /* an empty table has no array to sort */
        qsort(lines, n, sizeof *lines, cmp_line);
    out = malloc(total);
    assert_non_null(out);
    at = out;
    *at = '\0';
    for (i = 0; i < n; i++) {
        size_t len = strlen(lines[i]);

        memcpy(at, lines[i], len);
        at[len] = '\n';
        at += len + 1;
        *at = '\0';
        free(lines[i]);
    }
    free(lines);
    return out;
}

/* Every lead table of the store at path, one string. */
static char *
tables_dump(const char *path)
{
    char *out = NULL;
    size_t len = 0, i;

    for (i = 0; i < sizeof LEAD_TABLES / sizeof LEAD_TABLES[0]; i++) {
        char *t = table_dump(path, LEAD_TABLES[i]);
        size_t add = strlen(LEAD_TABLES[i]) + strlen(t) + 8;

        out = realloc(out, len + add);
        assert_non_null(out);
        len += (size_t)snprintf(out + len, add, "## %s\n%s", LEAD_TABLES[i],
                                t);
        free(t);
    }
    return out;
}

/*
 * A copy of the fixture's store (file name in the test folder), open with
 * the county's log key and clock; *path is caller-owned.
 */
static struct ql_county *
copy_open(const char *name, char **path)
{
    struct ql_county *c2 = NULL;
    struct ql_diag d;
    char *key = qlt_join(F->dir, "county.db.logkey");

    *path = qlt_join(F->dir, name);
    assert_int_equal(ql_store_backup(ql_county_store(F->c), *path, &d), QL_OK);
    assert_int_equal(ql_county_open(*path, 0, &c2, &d), QL_OK);
    assert_int_equal(ql_county_set_log_key_path(c2, key, &d), QL_OK);
    free(key);
    ql_county_set_now(c2, NOW);
    return c2;
}

/*
 * The copy's tables must be the fixture's, row for row, and its log must
 * replay to them (what names the case in a failure). Closes the copy and
 * frees path; returns the copy's dump, caller-owned, for more checks.
 */
static char *
copy_compare(struct ql_county *c2, char *path, const char *what)
{
    struct ql_diag d;
    char *t1 = tables_dump(F->path), *t2 = tables_dump(path);

    if (strcmp(t1, t2) != 0)
        fail_msg("%s: the batch left other tables", what);
    assert_int_equal(ql_county_replay_check(c2, &d), QL_OK);
    free(t1);
    ql_county_close(c2);
    free(path);
    return t2;
}

/* Runs q (a read inside or outside a batch) and checks it went through. */
static void
status_read(struct ql_county *c)
{
    struct ql_status *st = NULL;
    struct ql_diag d;

    assert_int_equal(ql_status_summary(c, NULL, NULL, &st, &d), QL_OK);
    ql_status_free(st);
}

static ql_err
count_row(void *ctx, const struct ql_lead_row *r, struct ql_diag *d)
{
    (void)r;
    (void)d;
    ++*(size_t *)ctx;
    return QL_OK;
}

/*
 * Writes on c that take every path of a batch's deferred rows: leads it
 * registers and walks at once (the quick path), a proposal rejected and
 * proposed again and left waiting, leads moved in turns (each applied at
 * once after the rows waiting for it), a merge reading its master, a
 * distinct_from check reading lead_entries, a migration, a status summary
 * and a lead list in between. ids get the five leads' ids.
 */
static int64_t walk_now; /* 0: the clock stays */

static void
step(struct ql_county *c)
{
    if (walk_now != 0) {
        walk_now += 40000;
        ql_county_set_now(c, walk_now);
    }
}

static void
defer_walk(struct ql_county *c, char ids[5][80])
{
    struct ql_wf_kv fields[] = {{"source", "群众举报"},
                                {"summary", "批量延写"},
                                {"reporter", "举报人甲, 000-0000-0000"}};
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_wf_kv assign2[] = {{"handling_unit", "QY"},
                                 {"due_at", "2025-10-20"}};
    struct ql_wf_kv report[] = {{"finding", "查实"},
                                {"detail", "经走访核实"},
                                {"amount", "120000"}};
    struct ql_wf_kv merge[] = {{"master_lead", NULL}};
    struct ql_diag d;
    char hash[65], *src, *p;
    size_t i, listed = 0;

    ql_county_set_actor(c, F->k[REG]);
    for (i = 0; i < 5; i++) {
        step(c);
        assert_int_equal(ql_lead_add(c, "test_flow", NULL, fields, 3, ids[i],
                                     &d),
                         QL_OK);
    }
    /* One lead all the way through, each entry right after the last. */
    ql_county_set_actor(c, F->k[TRI]);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[0], "triage", NULL, 0, NULL, NULL,
                                  &d),
                     QL_OK);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[0], "assign", assign, 2, "交办",
                                  NULL, &d),
                     QL_OK);
    ql_county_set_actor(c, F->k[DIR]);
    step(c);
    assert_int_equal(ql_lead_approve(c, ids[0], &d), QL_OK);
    ql_county_set_actor(c, F->k[LT_LLY]);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[0], "accept", NULL, 0, NULL, NULL,
                                  &d),
                     QL_OK);
    ql_county_set_actor(c, F->k[LT_HC]);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[0], "progress", NULL, 0, "回告",
                                  NULL, &d),
                     QL_OK);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[0], "report", report, 3, NULL, NULL,
                                  &d),
                     QL_OK);
    ql_county_set_actor(c, F->k[DIR]);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[0], "approve_report", NULL, 0, NULL,
                                  NULL, &d),
                     QL_OK);
    /* A proposal declined, proposed again and left waiting. */
    ql_county_set_actor(c, F->k[TRI]);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[1], "triage", NULL, 0, NULL, NULL,
                                  &d),
                     QL_OK);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[1], "assign", assign, 2, NULL, NULL,
                                  &d),
                     QL_OK);
    ql_county_set_actor(c, F->k[DIR]);
    step(c);
    assert_int_equal(ql_lead_reject(c, ids[1], "期限过短", &d), QL_OK);
    ql_county_set_actor(c, F->k[TRI]);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[1], "assign", assign2, 2, NULL,
                                  NULL, &d),
                     QL_OK);
    /* Two leads in turns: each move follows a write on the other. */
    step(c);
    assert_int_equal(ql_lead_move(c, ids[2], "triage", NULL, 0, NULL, NULL,
                                  &d),
                     QL_OK);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[3], "triage", NULL, 0, NULL, NULL,
                                  &d),
                     QL_OK);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[2], "assign", assign, 2, NULL, NULL,
                                  &d),
                     QL_OK);
    status_read(c);
    ql_county_set_actor(c, F->k[DIR]);
    step(c);
    assert_int_equal(ql_lead_approve(c, ids[2], &d), QL_OK);
    /* A merge reads its master's row. */
    ql_county_set_actor(c, F->k[TRI]);
    merge[0].value = ids[1];
    step(c);
    assert_int_equal(ql_lead_move(c, ids[3], "merge", merge, 1, NULL, NULL,
                                  &d),
                     QL_OK);
    /* A migration is applied at once, after what waits for its lead. */
    src = malloc(F->wf_len + 1);
    assert_non_null(src);
    memcpy(src, F->wf_src, F->wf_len);
    src[F->wf_len] = '\0';
    while ((p = strstr(src, "\"NEW\"")) != NULL)
        memcpy(p, "\"REG\"", 5);
    ql_county_set_actor(c, F->k[ADMIN]);
    assert_int_equal(ql_county_workflow_add(c, "wf_test.lua", src,
                                            strlen(src), hash, &d),
                     QL_OK);
    free(src);
    step(c);
    assert_int_equal(ql_lead_migrate(c, ids[4], hash, "NEW=REG", &d), QL_OK);
    ql_county_set_actor(c, F->k[TRI]);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[4], "triage", NULL, 0, NULL, NULL,
                                  &d),
                     QL_OK);
    step(c);
    assert_int_equal(ql_lead_list(c, NULL, NULL, false, count_row, &listed,
                                  &d),
                     QL_OK);
    assert_int_equal(listed, 5);
    ql_county_set_actor(c, F->k[LT_LLY]);
    step(c);
    assert_int_equal(ql_lead_move(c, ids[2], "accept", NULL, 0, NULL, NULL,
                                  &d),
                     QL_OK);
}

/*
 * A batch writes each lead's rows once, at its end or before anything
 * reads them; the store it leaves must be, table by table, the one the
 * same writes leave a write at a time. Two copies of one store take the
 * same walk, one without a batch and one in a single batch.
 */
/*
 * Runs the walk one write at a time on the store and in one batch on a
 * copy, and compares the two; clock 0 keeps the time fixed, otherwise it
 * starts there and moves between writes.
 */
static void
defer_compare(int64_t clock)
{
    struct ql_county *c2 = NULL;
    struct ql_diag d;
    char ids[5][80], ids2[5][80], *path2, *t2;
    uint64_t n1, n2;
    size_t i;

    c2 = copy_open("copy.db", &path2);
    walk_now = clock;
    defer_walk(F->c, ids);
    walk_now = clock;
    ql_county_set_actor(c2, F->k[REG]);
    assert_int_equal(ql_county_batch_begin(c2, &d), QL_OK);
    defer_walk(c2, ids2);
    assert_int_equal(ql_county_batch_commit(c2, &d), QL_OK);
    walk_now = 0;
    for (i = 0; i < 5; i++)
        assert_string_equal(ids[i], ids2[i]);
    assert_int_equal(ql_log_size(ql_county_log(F->c), &n1, &d), QL_OK);
    assert_int_equal(ql_log_size(ql_county_log(c2), &n2, &d), QL_OK);
    assert_int_equal(n1, n2);
    t2 = copy_compare(c2, path2, "the walk");
    /* The walk left something in every table it could. */
    assert_non_null(strstr(t2, "## pending\nT-"));
    assert_non_null(strstr(t2, "|MERGED|"));
    assert_non_null(strstr(t2, "|lead.migrate|"));
    free(t2);
}

static void
test_batch_defer_same_tables(void **state)
{
    (void)state;
    defer_compare(0);
}

/* Runs one SQL statement on the store at path, on a connection of its own. */
static void
sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
    sqlite3_close(db);
}

/* Ends a failed batch and checks the store is as before it. */
static void
abort_and_check(const char *before, uint64_t n)
{
    char *after;

    ql_county_batch_abort(F->c);
    after = tables_dump(F->path);
    assert_string_equal(before, after);
    free(after);
    assert_int_equal(log_size(), n);
}

/*
 * What a batch holds back goes with it when it fails: a refused write, a
 * row that cannot be written when the batch commits, or when a reader
 * inside the batch makes it write them. Each time the store is left as
 * it was before the batch, and a later batch writes as usual.
 */
static void
test_batch_defer_failures(void **state)
{
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_wf_kv bad[] = {{"handling_unit", "NOPE"},
                             {"due_at", "2025-10-15"}};
    struct ql_status *st = NULL;
    struct ql_diag d;
    char id[80], *before;
    uint64_t n;
    ql_err rc;

    (void)state;
    before = tables_dump(F->path);
    n = log_size();
    /* A refused write in the batch. */
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    add_lead(id, "延写回滚");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "assign", bad, 2, NULL, NULL, &d),
                     QL_EFORMAT);
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_EUSAGE);
    abort_and_check(before, n);

    /*
     * A row in leads where the next registration's row must go: one at
     * a time the registration fails at once; in a batch its row waits,
     * and the commit fails and takes the whole batch back.
     */
    sql_exec(F->path, "INSERT INTO leads(id, unit, workflow, state, epoch, "
                      "created_idx, last_idx, snapshot_idx, registered, "
                      "state_since) VALUES ('T-2025-0001', 'SH', 'x', 'NEW', "
                      "1, 1, 1, 1, '2025-09-15', '2025-09-15T02:00:00Z')");
    free(before);
    before = tables_dump(F->path);
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    add_lead(id, "延写冲突");
    assert_string_equal(id, "T-2025-0001");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    rc = ql_county_batch_commit(F->c, &d);
    assert_int_not_equal(rc, QL_OK);
    assert_non_null(strstr(d.msg, "leads.id"));
    abort_and_check(before, n);

    /* The same, found by a status summary inside the batch. */
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    add_lead(id, "延写冲突");
    rc = ql_status_summary(F->c, NULL, NULL, &st, &d);
    assert_int_not_equal(rc, QL_OK);
    assert_null(st);
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_EUSAGE);
    assert_non_null(strstr(d.msg, "rolled back"));
    abort_and_check(before, n);

    /* And by a read of the lead itself. */
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    add_lead(id, "延写冲突");
    assert_int_not_equal(ql_lead_cache_check(F->c, id, NULL, &d), QL_OK);
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_EUSAGE);
    abort_and_check(before, n);

    /* Without the stray row, the same batch commits. */
    sql_exec(F->path, "DELETE FROM leads WHERE id = 'T-2025-0001'");
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    add_lead(id, "延写");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, id, "assign", assign, 2, NULL, NULL,
                                  &d),
                     QL_OK);
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_OK);
    /* Its three entries, and the grants of the keys they opened. */
    assert_true(log_size() >= n + 3);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
    free(before);
}

/*
 * What a batch keeps of a lead's row in leads and pending is checked
 * against the store, column by column: a row changed under the batch (by
 * anything but its own entries) is QL_EINTEGRITY naming the column, for a
 * lead the batch registered and for one it moved. The change goes with the
 * batch.
 */
static void
test_batch_cache_check_finds_drift(void **state)
{
    static const struct {
        const char *what; /* the column the message names */
        const char *sql;  /* ends where the lead's id, quoted, goes */
    } cases[] = {
        {"unit", "UPDATE leads SET unit = 'QY' WHERE id = "},
        {"workflow", "UPDATE leads SET workflow = 'other' WHERE id = "},
        {"state", "UPDATE leads SET state = 'CLOSED' WHERE id = "},
        {"registered",
         "UPDATE leads SET registered = '2000-01-01' WHERE id = "},
        {"due", "UPDATE leads SET due = '2030-01-01' WHERE id = "},
        {"epoch", "UPDATE leads SET epoch = epoch + 1 WHERE id = "},
        {"snapshot_idx",
         "UPDATE leads SET snapshot_idx = snapshot_idx + 1 WHERE id = "},
        {"last_idx", "UPDATE leads SET last_idx = last_idx + 1 WHERE id = "},
        {"pending", "INSERT INTO pending(lead, idx, transition, proposer, "
                    "approval) SELECT id, 1, 'assign', 'x', 'director' "
                    "FROM leads WHERE id = "},
    };
    struct ql_diag d;
    char id[80], sql[256], want[256], *before;
    bool k;
    uint64_t n;
    size_t i;
    int moved;

    (void)state;
    for (moved = 0; moved < 2; moved++) {
        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            if (moved)
                add_lead(id, "漂移");
            before = tables_dump(F->path);
            n = log_size();
            assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
            if (moved) {
                as(TRI);
                assert_int_equal(
                    ql_lead_move(F->c, id, "triage", NULL, 0, NULL, NULL, &d),
                    QL_OK);
            } else {
                add_lead(id, "漂移");
            }
            /* Writes what waits for the lead: the store agrees. */
            k = false;
            assert_int_equal(ql_lead_cache_check(F->c, id, &k, &d), QL_OK);
            assert_true(k);
            snprintf(sql, sizeof sql, "%s'%s'", cases[i].sql, id);
            assert_int_equal(ql_store_exec(ql_county_store(F->c), sql, &d),
                             QL_OK);
            k = false;
            assert_int_equal(ql_lead_cache_check(F->c, id, &k, &d),
                             QL_EINTEGRITY);
            assert_true(k);
            assert_int_equal(d.code, QL_EINTEGRITY);
            snprintf(want, sizeof want,
                     "the batch keeps lead %s with another %s than the store",
                     id, cases[i].what);
            assert_string_equal(d.msg, want);
            abort_and_check(before, n);
            free(before);
        }
    }
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

/*
 * Registration names a missing or empty required field and refuses a
 * field given twice, whichever list (clear, sealed) the fields go to:
 * the engine counts the required fields given and searches for the
 * missing one only to name it.
 */
static void
test_required_fields_counted(void **state)
{
    static const struct {
        const char *what;
        struct ql_wf_kv f[3];
        size_t n;
        ql_err want;
        const char *msg;
    } CASES[] = {
        {"none", {{NULL, NULL}}, 0, QL_EFORMAT, "线索来源"},
        {"no summary", {{"source", "群众举报"}}, 1, QL_EFORMAT, "主要问题"},
        {"no source", {{"summary", "x"}}, 1, QL_EFORMAT, "线索来源"},
        {"empty summary",
         {{"source", "群众举报"}, {"summary", ""}},
         2,
         QL_EFORMAT,
         "主要问题 (summary) is required"},
        {"empty source beside a secret",
         {{"reporter", "甲"}, {"summary", "x"}, {"source", ""}},
         3,
         QL_EFORMAT,
         "线索来源"},
        {"summary twice",
         {{"source", "群众举报"}, {"summary", "x"}, {"summary", "y"}},
         3,
         QL_EUSAGE,
         "given twice"},
        {"both", {{"summary", "x"}, {"source", "部门移送"}}, 2, QL_OK, NULL},
        {"both and optional",
         {{"amount", "5"}, {"source", "部门移送"}, {"summary", "x"}},
         3,
         QL_OK,
         NULL},
    };
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[80];
    size_t i;
    uint64_t n;

    (void)state;
    as(REG);
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        print_message("%s\n", CASES[i].what);
        n = log_size();
        if (CASES[i].want != QL_OK) {
            expect_refused(ql_lead_add(F->c, "test_flow", NULL, CASES[i].f,
                                       CASES[i].n, id, &d),
                           CASES[i].want, &d, CASES[i].msg, n);
            continue;
        }
        assert_int_equal(ql_lead_add(F->c, "test_flow", NULL, CASES[i].f,
                                     CASES[i].n, id, &d),
                         QL_OK);
        assert_true(log_size() > n);
        assert_int_equal(ql_lead_load(F->c, id, &l, &d), QL_OK);
        assert_string_equal(ql_lead_get(l, "summary"), "x");
        assert_string_equal(ql_lead_get(l, "source"), "部门移送");
        ql_lead_free(l);
    }
    /* Only the two that passed were registered, numbered in order. */
    assert_string_equal(id, "T-2025-0002");
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

/*
 * A batch keeps unit kinds and the calendar between its writes; a unit
 * added or a calendar set in the middle of the batch takes effect for
 * the writes after it, and a kind kept still refuses what it must.
 */
static void
test_batch_registry_kept(void **state)
{
    static const char cal[] = "zone Asia/Shanghai\n"
                              "weekend sat sun\n"
                              "year 2025\n"
                              "holiday 2025-09-16 2025-09-16 测试假日\n";
    struct ql_wf_kv to_xs[] = {{"handling_unit", "XS"},
                               {"due_at", "2025-10-20"}};
    struct ql_wf_kv to_lt[] = {{"handling_unit", "LT"},
                               {"due_at", "2025-10-20"}};
    struct ql_wf_kv to_au[] = {{"handling_unit", "AU"},
                               {"due_at", "2025-10-20"}};
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char a[80], b[80], c[80], e[80];
    uint64_t n;

    (void)state;
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    add_lead(a, "批内甲");
    as(ADMIN);
    assert_int_equal(ql_county_unit_add(F->c, "XS", "青禾县新设镇",
                                        QL_KIND_TOWNSHIP, &d),
                     QL_OK);
    assert_int_equal(
        ql_county_calendar_set(F->c, "test.cal", cal, strlen(cal), &d),
        QL_OK);
    add_lead(b, "批内乙");
    add_lead(c, "批内戊");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, b, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, b, "assign", to_xs, 2, NULL, NULL, &d),
                     QL_OK);
    as(DIR);
    assert_int_equal(ql_lead_approve(F->c, b, &d), QL_OK);
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_OK);
    /* Three workdays from Monday; the second calendar skips Tuesday. */
    assert_int_equal(ql_lead_load(F->c, a, &l, &d), QL_OK);
    assert_string_equal(ql_lead_due(l), "2025-09-18");
    ql_lead_free(l);
    assert_int_equal(ql_lead_load(F->c, b, &l, &d), QL_OK);
    assert_string_equal(ql_lead_unit(l), "XS");
    assert_string_equal(ql_lead_state(l), "ASSIGNED");
    ql_lead_free(l);
    assert_int_equal(ql_lead_load(F->c, c, &l, &d), QL_OK);
    assert_string_equal(ql_lead_due(l), "2025-09-19");
    ql_lead_free(l);
    add_lead(e, "批外");
    assert_int_equal(ql_lead_load(F->c, e, &l, &d), QL_OK);
    assert_string_equal(ql_lead_due(l), "2025-09-19");
    ql_lead_free(l);

    /* An audit unit's kind, kept from an earlier write, still refuses. */
    n = log_size();
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    add_lead(a, "批内丙");
    add_lead(b, "批内丁");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, a, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, a, "assign", to_au, 2, NULL, NULL, &d),
                     QL_ERULE);
    assert_non_null(strstr(d.msg, "handles no leads"));
    ql_county_batch_abort(F->c);
    assert_int_equal(log_size(), n);
    /* Again, with the kinds learned first by a good assignment. */
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    add_lead(a, "批内丙");
    add_lead(b, "批内丁");
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, a, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, b, "triage", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    assert_int_equal(ql_lead_move(F->c, a, "assign", to_lt, 2, NULL, NULL, &d),
                     QL_OK);
    as(DIR);
    assert_int_equal(ql_lead_approve(F->c, a, &d), QL_OK);
    as(TRI);
    assert_int_equal(ql_lead_move(F->c, b, "assign", to_au, 2, NULL, NULL, &d),
                     QL_ERULE);
    assert_non_null(strstr(d.msg, "handles no leads"));
    ql_county_batch_abort(F->c);
    assert_int_equal(log_size(), n);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

/* The same walk with the clock moving between writes. */
static void
test_batch_defer_same_tables_clock(void **state)
{
    (void)state;
    defer_compare(NOW);
}

/*
 * Past the bound of kept leads and kept entry rows, with the clock moving:
 * a batch still leaves what single writes leave.
 */
static void
big_walk(struct ql_county *c, size_t n)
{
    struct ql_wf_kv fields[] = {{"source", "群众举报"},
                                {"summary", "批量延写"},
                                {"reporter", "举报人甲, 000-0000-0000"}};
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_diag d;
    char id[80], first[80];
    size_t i;

    for (i = 0; i < n; i++) {
        ql_county_set_actor(c, F->k[REG]);
        step(c);
        assert_int_equal(ql_lead_add(c, "test_flow", NULL, fields, 3, id, &d),
                         QL_OK);
        if (i == 0)
            snprintf(first, sizeof first, "%s", id);
        ql_county_set_actor(c, F->k[TRI]);
        step(c);
        assert_int_equal(ql_lead_move(c, id, "triage", NULL, 0, NULL, NULL, &d),
                         QL_OK);
        if (i % 3 == 0) {
            step(c);
            assert_int_equal(
                ql_lead_move(c, id, "assign", assign, 2, NULL, NULL, &d),
                QL_OK);
        }
        if (i % 6 == 0) {
            ql_county_set_actor(c, F->k[DIR]);
            step(c);
            assert_int_equal(ql_lead_approve(c, id, &d), QL_OK);
        }
        if (i % 97 == 0)
            status_read(c);
    }
}

static void
test_batch_defer_many_leads(void **state)
{
    struct ql_county *c2 = NULL;
    struct ql_diag d;
    char *path2;

    (void)state;
    c2 = copy_open("copy.db", &path2);
    walk_now = NOW;
    big_walk(F->c, 1100);
    walk_now = NOW;
    ql_county_set_actor(c2, F->k[REG]);
    assert_int_equal(ql_county_batch_begin(c2, &d), QL_OK);
    big_walk(c2, 1100);
    assert_int_equal(ql_county_batch_commit(c2, &d), QL_OK);
    walk_now = 0;
    free(copy_compare(c2, path2, "1,100 leads"));
}

/*
 * Random interleavings of a few leads through the workflow, with status
 * reads and the clock moving: a batch must leave what single writes leave.
 */
static unsigned rw_seed;
static unsigned
rw_rand(void)
{
    rw_seed = rw_seed * 1103515245u + 12345u;
    return (rw_seed >> 16) & 0x7fff;
}

/* The moves of the random walk that take no choice, by state. */
static const struct walk_move {
    int actor;
    const char *transition, *note;
    bool report;
} WALK_MOVES[] = {
    {TRI, "triage", NULL, false},         /* state 0 */
    {LT_LLY, "accept", NULL, false},      /* state 3 */
    {LT_HC, "progress", "回告", false},   /* state 4 */
    {LT_HC, "report", NULL, true},        /* state 5 */
    {DIR, "approve_report", NULL, false}, /* state 6 */
};

static void
rand_walk(struct ql_county *c, unsigned seed, size_t nleads, size_t steps)
{
    struct ql_wf_kv fields[] = {
        {"source", "群众举报"}, {"summary", "随机"}, {"reporter", "举报人乙"}};
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_wf_kv assign2[] = {{"handling_unit", "LT"},
                                 {"due_at", "2025-10-20"}};
    struct ql_wf_kv report[] = {
        {"finding", "查实"}, {"detail", "经走访核实"}, {"amount", "120000"}};
    char ids[16][80];
    int st[16];
    struct ql_diag d;
    size_t i, s;

    rw_seed = seed;
    ql_county_set_actor(c, F->k[REG]);
    for (i = 0; i < nleads; i++) {
        step(c);
        assert_int_equal(
            ql_lead_add(c, "test_flow", NULL, fields, 3, ids[i], &d), QL_OK);
        st[i] = 0;
    }
    for (s = 0; s < steps; s++) {
        unsigned r = rw_rand();
        size_t k = r % nleads;
        ql_err rc = QL_OK;

        if (r % 23 == 0) {
            status_read(c);
            continue;
        }
        step(c);
        if (st[k] == 1) {
            ql_county_set_actor(c, F->k[TRI]);
            rc = ql_lead_move(c, ids[k], "assign", (r & 64) ? assign : assign2,
                              2, (r & 128) ? "交办" : NULL, NULL, &d);
            st[k] = 2;
        } else if (st[k] == 2) {
            ql_county_set_actor(c, F->k[DIR]);
            rc = (r & 32) ? ql_lead_reject(c, ids[k], "期限过短", &d)
                          : ql_lead_approve(c, ids[k], &d);
            st[k] = (r & 32) ? 1 : 3;
        } else if (st[k] < 7) {
            /* The plain moves: state 0 and 3 to 6. */
            const struct walk_move *m = &WALK_MOVES[st[k] == 0 ? 0 : st[k] - 2];

            ql_county_set_actor(c, F->k[m->actor]);
            rc = ql_lead_move(c, ids[k], m->transition,
                              m->report ? report : NULL, m->report ? 3 : 0,
                              m->note, NULL, &d);
            st[k] = st[k] == 0 ? 1 : st[k] + 1;
        } else {
            continue;
        }
        if (rc != QL_OK)
            fail_msg("seed %u step %zu lead %zu state %d: %s", seed, s, k,
                     st[k], d.msg);
    }
}

static void
test_batch_random_walks(void **state)
{
    unsigned seeds[] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t si;

    (void)state;
    for (si = 0; si < sizeof seeds / sizeof seeds[0]; si++) {
        struct ql_county *c2 = NULL;
        struct ql_diag d;
        char *path2, name[32];

        snprintf(name, sizeof name, "copy%zu.db", si);
        c2 = copy_open(name, &path2);
        walk_now = NOW;
        ql_county_set_now(F->c, NOW);
        rand_walk(F->c, seeds[si], 2 + si % 5, 120);
        walk_now = NOW;
        ql_county_set_actor(c2, F->k[REG]);
        assert_int_equal(ql_county_batch_begin(c2, &d), QL_OK);
        rand_walk(c2, seeds[si], 2 + si % 5, 120);
        assert_int_equal(ql_county_batch_commit(c2, &d), QL_OK);
        walk_now = 0;
        snprintf(name, sizeof name, "seed %u", seeds[si]);
        free(copy_compare(c2, path2, name));
    }
}

/*
 * A calendar set in a batch that is rolled back must not be used: the
 * next calendar set for real takes the same entry index.
 */
static void
test_calendar_of_rolled_back_batch(void **state)
{
    static const char cal_b[] = "zone Asia/Shanghai\n"
                                "weekend sat sun\n"
                                "year 2025\n"
                                "holiday 2025-09-16 2025-09-16 回滚假日\n";
    static const char cal_c[] = "zone Asia/Shanghai\n"
                                "weekend sat sun\n"
                                "year 2025\n"
                                "holiday 2025-12-31 2025-12-31 年末\n";
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char a[80], b[80];
    uint64_t n;

    (void)state;
    n = log_size();
    assert_int_equal(ql_county_batch_begin(F->c, &d), QL_OK);
    as(ADMIN);
    assert_int_equal(
        ql_county_calendar_set(F->c, "b.cal", cal_b, strlen(cal_b), &d), QL_OK);
    add_lead(a, "回滚前");
    ql_county_batch_abort(F->c);
    assert_int_equal(log_size(), n);
    /* A different calendar, set for real: it takes entry n as well. */
    as(ADMIN);
    assert_int_equal(
        ql_county_calendar_set(F->c, "c.cal", cal_c, strlen(cal_c), &d), QL_OK);
    add_lead(b, "回滚后");
    /* Three workdays from Monday 2025-09-15 under c.cal: 09-18. */
    assert_int_equal(ql_lead_load(F->c, b, &l, &d), QL_OK);
    assert_string_equal(ql_lead_due(l), "2025-09-18");
    ql_lead_free(l);
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

/*
 * Every width the workflow's check takes for {seq:N}, 1 to 12 and with a
 * leading zero, numbers leads: a registered pattern is never refused at
 * registration.
 */
static void
test_id_pattern_widths(void **state)
{
    static const struct {
        const char *pattern, *id;
    } cases[] = {
        {"W-{year}-{seq:10}", "W-2025-0000000001"},
        {"X-{year}-{seq:12}", "X-2025-000000000001"},
        {"Y-{year}-{seq:01}", "Y-2025-1"},
        {"Z-{seq:9}", "Z-000000001"},
    };
    struct ql_diag d;
    char id[80], hash[65], *src, *at;
    size_t i, len;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        len = F->wf_len + 64;
        src = malloc(len);
        assert_non_null(src);
        at = strstr(F->wf_src, "T-{year}-{seq:4}");
        assert_non_null(at);
        snprintf(src, len, "%.*s%s%s", (int)(at - F->wf_src), F->wf_src,
                 cases[i].pattern, at + strlen("T-{year}-{seq:4}"));
        as(ADMIN);
        assert_int_equal(ql_county_workflow_add(F->c, "wf_test.lua", src,
                                                strlen(src), hash, &d),
                         QL_OK);
        free(src);
        add_lead(id, "编号宽度");
        assert_string_equal(id, cases[i].id);
    }
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_OK);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_genesis_and_reopen),
        T(test_registry_refusals),
        T(test_registry_lists),
        T(test_lead_full_path),
        T(test_lead_refusals),
        T(test_distinct_and_reject),
        T(test_runaway_guard_changes_nothing),
        T(test_merge),
        T(test_readers),
        T(test_history),
        T(test_revocation_rotates_keys),
        T(test_new_member_reads_old_leads),
        T(test_migrate),
        T(test_replay_detects_tampered_tables),
        T(test_batch_all_or_nothing),
        T(test_batch_signs_aside),
        T(test_long_history_snapshots),
        T(test_batch_caches_change_nothing),
        T(test_batch_cache_rollback_and_reject),
        T(test_batch_cache_large_and_many),
        T(test_many_principals_holders),
        T(test_batch_defer_same_tables),
        T(test_batch_defer_failures),
        T(test_batch_cache_check_finds_drift),
        T(test_required_fields_counted),
        T(test_batch_registry_kept),
        T(test_batch_defer_same_tables_clock),
        T(test_batch_defer_many_leads),
        T(test_batch_random_walks),
        T(test_calendar_of_rolled_back_batch),
        T(test_id_pattern_widths),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
