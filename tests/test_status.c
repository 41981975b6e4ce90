/*
 * Tests of the verdicts and figures (engine/ql_status.c) on a scripted
 * county built through the engine: one case per verdict and per rule of
 * docs/commitments.md, the deadline at local midnight in Asia/Shanghai,
 * working-day limits across a public holiday and an adjusted working
 * weekend, leads registered after the cut-off, and every county figure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ql_calendar.h"
#include "ql_commit.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_status.h"
#include "ql_store.h"
#include "ql_test.h"

#include "qlt_cycle.h"

/* ---- the summary against the lead-by-lead definition ---- */

static void
same_text(const char *what, const char *unit, const char *a, const char *b)
{
    if (a == NULL && b == NULL)
        return;
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        fail_msg("unit %s: %s is '%s' lead by lead, '%s' from the counts", unit,
                 what, a ? a : "(null)", b ? b : "(null)");
}

#define SAME_N(what, a, b)                                                     \
    do {                                                                       \
        if ((a) != (b))                                                        \
            fail_msg("%s: %s is %zu lead by lead, %zu from the counts", where, \
                     what, (size_t)(a), (size_t)(b));                          \
    } while (0)

static void
same_rate(const char *where, const char *what, struct ql_status_rate a,
          struct ql_status_rate b)
{
    SAME_N(what, a.num, b.num);
    SAME_N(what, a.den, b.den);
}

/*
 * Fails unless ql_status_summary answers what ql_status_compute answers
 * (cycle, unit as they take them) at the county's clock: every unit's
 * verdict, declaration, reason, counts and state counts, the scope hash of
 * every verified unit, and every figure.
 */
static void
assert_same_status(const char *cycle, const char *unit)
{
    struct ql_status *a = NULL, *b = NULL;
    const struct ql_status_figures *fa, *fb;
    const char *where = "figures";
    struct ql_diag d;
    size_t i, j;

    ok(ql_status_compute(F->c, cycle, unit, &a, &d), &d);
    ok(ql_status_summary(F->c, cycle, unit, &b, &d), &d);
    same_text("cycle", "-", ql_status_cycle(a), ql_status_cycle(b));
    assert_int_equal(ql_status_log_size(a), ql_status_log_size(b));
    assert_int_equal(ql_status_unit_count(a), ql_status_unit_count(b));
    for (i = 0; i < ql_status_unit_count(a); i++) {
        const struct ql_status_unit *x = ql_status_unit_at(a, i);
        const struct ql_status_unit *y = ql_status_unit_at(b, i);

        where = x->code;
        same_text("code", where, x->code, y->code);
        same_text("verdict", where, ql_verdict_name(x->verdict),
                  ql_verdict_name(y->verdict));
        same_text("declaration", where, ql_declaration_name(x->declaration),
                  ql_declaration_name(y->declaration));
        same_text("reason", where, x->reason, y->reason);
        same_text("cutoff", where, x->cutoff, y->cutoff);
        same_text("deadline", where, x->deadline, y->deadline);
        SAME_N("leads", x->leads, y->leads);
        SAME_N("in scope", x->in_scope, y->in_scope);
        SAME_N("open", x->open, y->open);
        SAME_N("cleared", x->cleared, y->cleared);
        SAME_N("overdue", x->overdue, y->overdue);
        SAME_N("at risk", x->at_risk, y->at_risk);
        SAME_N("out of scope", x->out_of_scope, y->out_of_scope);
        SAME_N("spot-checks pending", x->spot_pending, y->spot_pending);
        SAME_N("sample size", x->sample_size, y->sample_size);
        SAME_N("sampled", x->sampled, y->sampled);
        SAME_N("verified", x->verified, y->verified);
        SAME_N("states", x->nstates, y->nstates);
        for (j = 0; j < x->nstates; j++) {
            same_text("state", where, x->states[j].state, y->states[j].state);
            same_text("label", where, x->states[j].label, y->states[j].label);
            SAME_N(x->states[j].state, x->states[j].n, y->states[j].n);
            SAME_N("cleared state", x->states[j].cleared, y->states[j].cleared);
        }
        if (x->verified)
            same_text("scope hash", where, x->scope_hash, y->scope_hash);
        /* The summary lends no leads. */
        assert_null(y->lead);
        assert_int_equal(y->nlead, 0);
    }
    where = "figures";
    fa = ql_status_figures(a);
    fb = ql_status_figures(b);
    SAME_N("leads", fa->leads, fb->leads);
    SAME_N("merged", fa->merged, fb->merged);
    SAME_N("open", fa->open, fb->open);
    SAME_N("closed", fa->closed, fb->closed);
    SAME_N("overdue", fa->overdue, fb->overdue);
    SAME_N("urged", fa->urged, fb->urged);
    same_rate(where, "completion", fa->completion, fb->completion);
    same_rate(where, "on time", fa->on_time, fb->on_time);
    same_rate(where, "substantiated", fa->substantiated, fb->substantiated);
    same_rate(where, "fed back", fa->feedback, fb->feedback);
    same_rate(where, "satisfied", fa->satisfied, fb->satisfied);
    same_rate(where, "returned", fa->returned, fb->returned);
    same_rate(where, "spot-checks returned", fa->spot_returned,
              fb->spot_returned);
    assert_int_equal(ql_status_all_cleared(a), ql_status_all_cleared(b));
    ql_status_free(a);
    ql_status_free(b);
}

/* Instants around the cycle's cut-off (08-31) and deadline (09-30). */
static const char *const CLOCKS[] = {
    "2025-07-15T02:00:00Z", "2025-09-05T02:00:00Z", "2025-09-19T15:59:59Z",
    "2025-09-19T16:00:00Z", "2025-09-30T15:59:59Z", "2025-09-30T16:00:00Z",
    "2025-10-20T02:00:00Z", "2026-01-10T02:00:00Z",
};

/*
 * The summary equals the definition for every unit, for LT alone, for the
 * cycle signed and for one nobody signed, at every instant of CLOCKS.
 */
static void
assert_same_everywhere(void)
{
    static const char *const cycles[] = {NULL, "2025Q4"};
    static const char *const units[] = {NULL, "LT", "QY", "SH"};
    size_t i, j, k;

    ql_county_set_actor(F->c, NULL);
    for (i = 0; i < sizeof CLOCKS / sizeof CLOCKS[0]; i++) {
        at(CLOCKS[i]);
        for (j = 0; j < sizeof cycles / sizeof cycles[0]; j++)
            for (k = 0; k < sizeof units / sizeof units[0]; k++)
                assert_same_status(cycles[j], units[k]);
    }
}

/* The status of LT at the instant given. */
static struct ql_status *
status_at(const char *rfc3339)
{
    struct ql_status *st = NULL;
    struct ql_diag d;

    at(rfc3339);
    ql_county_set_actor(F->c, NULL);
    assert_same_status(NULL, "LT");
    ok(ql_status_compute(F->c, NULL, "LT", &st, &d), &d);
    return st;
}

/* The status of every unit at the instant given. */
static struct ql_status *
county_at(const char *rfc3339)
{
    struct ql_status *st = NULL;
    struct ql_diag d;

    at(rfc3339);
    ql_county_set_actor(F->c, NULL);
    assert_same_status(NULL, NULL);
    ok(ql_status_compute(F->c, NULL, NULL, &st, &d), &d);
    return st;
}

/* ---- the verdicts, one scripted case each ---- */

struct vcase {
    const char *name;
    void (*script)(void);
    const char *now; /* RFC 3339 */
    enum ql_verdict want;
    enum ql_declaration decl;
    const char *reason; /* a fragment of the reason */
    size_t open, out_of_scope;
};

static char A[72], B[72], C[72];

static void
s_uncommitted(void)
{
    add(A, "LT", "2025-07-01", NULL);
}

static void
s_open_in_time(void)
{
    sign(LT_HEAD, "LT");
    add(A, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", A, "accept", "due_at", "2025-09-25");
}

static void
s_nothing_open(void)
{
    sign(LT_HEAD, "LT");
    add(A, "LT", "2025-07-01", NULL);
    close_lead(A, "2025-07-05", "2025-08-01", "查否", NULL);
}

static void
s_overdue(void)
{
    sign(LT_HEAD, "LT");
    add(A, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", A, "accept", "due_at", "2025-09-10");
}

static void
s_due_late(void)
{
    sign(LT_HEAD, "LT");
    add(A, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", A, "accept", "due_at", "2025-10-05");
}

static void
s_declared(void)
{
    s_nothing_open();
    declare("2025-09-01");
}

static void
s_sampled(void)
{
    s_declared();
    sample("2025-09-02");
}

static void
s_sample_passed(void)
{
    s_sampled();
    spot_pass("2025-09-03", A);
}

static void
s_verified(void)
{
    s_sample_passed();
    verify("2025-09-04");
}

static void
s_changed_after_verification(void)
{
    s_verified();
    spot_pass("2025-09-05", A);
}

static void
s_breached(void)
{
    s_verified();
    spot_return("2025-09-06", A, "2025-09-20");
    approve(DIR, "2025-09-06", A);
}

static void
s_return_proposed(void)
{
    s_verified();
    spot_return("2025-09-06", A, "2025-09-20");
}

static void
s_after_cutoff(void)
{
    s_verified();
    /* Registered after the cut-off, open and overdue: out of scope. */
    add(B, "LT", "2025-09-02", NULL);
    move(TRI, "2025-09-02", B, "accept", "due_at", "2025-09-05");
}

static void
s_declared_late(void)
{
    s_nothing_open();
    declare("2025-10-01");
}

static void
s_lapsed(void)
{
    sign(LT_HEAD, "LT");
    add(A, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", A, "park", NULL, NULL);
    declare("2025-09-01");
    move(TRI, "2025-09-03", A, "reactivate", NULL, NULL);
}

static void
s_return_before_declaration(void)
{
    s_nothing_open();
    spot_return("2025-08-01", A, "2025-08-20");
    approve(DIR, "2025-08-01", A);
    move(LT_HC, "2025-08-05", A, "report", "finding", "查否");
    move(DIR, "2025-08-06", A, "close", NULL, NULL);
    declare("2025-09-01");
}

static void
s_other_unit_open(void)
{
    s_verified();
    /* QY has an open lead and no commitment; LT's verdict does not care. */
    add(C, "QY", "2025-07-01", NULL);
}

static const struct vcase VCASES[] = {
    {"no commitment", s_uncommitted, "2025-09-15T02:00:00Z",
     QL_VERDICT_UNCOMMITTED, QL_DECL_NONE, "no commitment", 1, 0},
    {"open lead due before the deadline", s_open_in_time,
     "2025-09-15T02:00:00Z", QL_VERDICT_ON_TRACK, QL_DECL_NONE,
     "1 open, none at risk", 1, 0},
    {"nothing open, not declared", s_nothing_open, "2025-09-15T02:00:00Z",
     QL_VERDICT_ON_TRACK, QL_DECL_NONE, "not yet declared", 0, 0},
    {"overdue lead", s_overdue, "2025-09-15T02:00:00Z", QL_VERDICT_AT_RISK,
     QL_DECL_NONE, "1 overdue", 1, 0},
    {"lead due after the deadline", s_due_late, "2025-09-15T02:00:00Z",
     QL_VERDICT_AT_RISK, QL_DECL_NONE, "1 due after the deadline", 1, 0},
    /* 2025-09-20 is 10 days before 2025-09-30: local midnight. */
    {"11 days before the deadline", s_open_in_time, "2025-09-19T15:59:59Z",
     QL_VERDICT_ON_TRACK, QL_DECL_NONE, "none at risk", 1, 0},
    {"10 days before the deadline", s_open_in_time, "2025-09-19T16:00:00Z",
     QL_VERDICT_AT_RISK, QL_DECL_NONE, "1 open within 10 days", 1, 0},
    {"the deadline's last second", s_open_in_time, "2025-09-30T15:59:59Z",
     QL_VERDICT_AT_RISK, QL_DECL_NONE, "within 10 days", 1, 0},
    {"the first second after the deadline", s_open_in_time,
     "2025-09-30T16:00:00Z", QL_VERDICT_FAILED, QL_DECL_NONE,
     "deadline 2025-09-30 passed with 1 in-scope lead open", 1, 0},
    {"deadline passed without a declaration", s_nothing_open,
     "2025-10-01T02:00:00Z", QL_VERDICT_FAILED, QL_DECL_NONE,
     "passed without a declaration", 0, 0},
    {"declared after the deadline", s_declared_late, "2025-10-02T02:00:00Z",
     QL_VERDICT_FAILED, QL_DECL_HOLDS, "after the deadline", 0, 0},
    {"declared, no sample", s_declared, "2025-09-15T02:00:00Z",
     QL_VERDICT_DECLARED, QL_DECL_HOLDS, "no sample drawn yet", 0, 0},
    {"declared, spot-check pending", s_sampled, "2025-09-15T02:00:00Z",
     QL_VERDICT_DECLARED, QL_DECL_HOLDS, "1 spot-check pending", 0, 0},
    {"declared, sample checked", s_sample_passed, "2025-09-15T02:00:00Z",
     QL_VERDICT_DECLARED, QL_DECL_HOLDS, "verification pending", 0, 0},
    {"declared and verified", s_verified, "2025-09-15T02:00:00Z",
     QL_VERDICT_CLEARED, QL_DECL_HOLDS, "verified 2025-09-04 by dd-pc-01", 0,
     0},
    {"cleared stays cleared past the deadline", s_verified,
     "2025-12-01T02:00:00Z", QL_VERDICT_CLEARED, QL_DECL_HOLDS, "verified", 0,
     0},
    {"scope changed after verification", s_changed_after_verification,
     "2025-09-15T02:00:00Z", QL_VERDICT_DECLARED, QL_DECL_HOLDS,
     "1 lead changed since the verification", 0, 0},
    {"spot-check return after the declaration", s_breached,
     "2025-09-15T02:00:00Z", QL_VERDICT_FAILED, QL_DECL_BREACHED,
     "breached: a spot-check sent", 1, 0},
    {"spot-check return awaiting approval", s_return_proposed,
     "2025-09-15T02:00:00Z", QL_VERDICT_DECLARED, QL_DECL_HOLDS,
     "1 spot-check pending", 0, 0},
    {"lead registered after the cut-off", s_after_cutoff,
     "2025-09-15T02:00:00Z", QL_VERDICT_CLEARED, QL_DECL_HOLDS, "verified", 0,
     1},
    {"declaration lapsed", s_lapsed, "2025-09-15T02:00:00Z",
     QL_VERDICT_ON_TRACK, QL_DECL_LAPSED, "lapsed", 1, 0},
    {"spot-check return before the declaration", s_return_before_declaration,
     "2025-09-15T02:00:00Z", QL_VERDICT_DECLARED, QL_DECL_HOLDS,
     "no sample drawn yet", 0, 0},
    {"another unit's open lead", s_other_unit_open, "2025-09-15T02:00:00Z",
     QL_VERDICT_CLEARED, QL_DECL_HOLDS, "verified", 0, 0},
};

static void
test_verdicts(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof VCASES / sizeof VCASES[0]; i++) {
        const struct vcase *k = &VCASES[i];
        const struct ql_status_unit *u;
        struct ql_status *st;
        struct ql_diag d;
        void *fx = NULL;

        print_message("verdict: %s\n", k->name);
        setup(&fx);
        k->script();
        st = status_at(k->now);
        u = ql_status_unit(st, "LT");
        assert_non_null(u);
        if (u->verdict != k->want || u->declaration != k->decl)
            fail_msg("%s: got %s/%s (%s), want %s/%s", k->name,
                     ql_verdict_name(u->verdict),
                     ql_declaration_name(u->declaration), u->reason,
                     ql_verdict_name(k->want), ql_declaration_name(k->decl));
        if (strstr(u->reason, k->reason) == NULL)
            fail_msg("%s: reason '%s' lacks '%s'", k->name, u->reason,
                     k->reason);
        assert_int_equal(u->open, k->open);
        assert_int_equal(u->out_of_scope, k->out_of_scope);
        assert_int_equal(ql_status_all_cleared(st),
                         k->want == QL_VERDICT_CLEARED);
        /* The log replays into the same tables, commitments included. */
        ok(ql_county_replay_check(F->c, &d), &d);
        assert_same_everywhere();
        ql_status_free(st);
        teardown(&fx);
    }
}

/* ---- what --why reads: the leads behind a verdict ---- */

static const struct ql_status_lead *
lead_of(const struct ql_status_unit *u, const char *id)
{
    size_t i;

    for (i = 0; i < u->nlead; i++)
        if (strcmp(u->lead[i].id, id) == 0)
            return &u->lead[i];
    fail_msg("no lead %s in unit %s", id, u->code);
    return NULL;
}

static void
test_leads_behind_verdicts(void **state)
{
    const struct ql_status_unit *u;
    const struct ql_status_lead *l;
    struct ql_status *st;

    (void)state;
    s_breached();
    st = status_at("2025-09-15T02:00:00Z");
    u = ql_status_unit(st, "LT");
    l = lead_of(u, A);
    assert_true(l->why & QL_WHY_RETURNED);
    assert_true(l->why & QL_WHY_OPEN);
    assert_string_equal(l->spot, "returned");
    assert_string_equal(l->due, "2025-09-20");
    ql_status_free(st);

    /* After the cut-off: flagged, and not in the scope hash. */
    add(B, "LT", "2025-09-02", NULL);
    st = status_at("2025-09-15T02:00:00Z");
    u = ql_status_unit(st, "LT");
    l = lead_of(u, B);
    assert_false(l->in_scope);
    assert_int_equal(l->why, QL_WHY_OUT_OF_SCOPE);
    assert_int_equal(u->in_scope, 1);
    assert_int_equal(u->out_of_scope, 1);
    ql_status_free(st);
}

static void
test_pending_flags(void **state)
{
    const struct ql_status_unit *u;
    struct ql_status *st;

    (void)state;
    s_sampled();
    st = status_at("2025-09-15T02:00:00Z");
    u = ql_status_unit(st, "LT");
    assert_true(u->sampled);
    assert_int_equal(u->sample_size, 1);
    assert_int_equal(u->spot_pending, 1);
    assert_string_equal(lead_of(u, A)->spot, "pending");
    assert_true(lead_of(u, A)->why & QL_WHY_PENDING);
    ql_status_free(st);
}

/* ---- time: working days across 国庆 and the adjusted weekend ---- */

static void
test_working_day_limits(void **state)
{
    static const struct {
        const char *now;
        bool overdue;
    } reported[] = {
        {"2025-10-10T15:59:59Z", false}, /* 23:59:59 local, due day */
        {"2025-10-10T16:00:00Z", true},  /* 00:00:00 local, next day */
    };
    const struct ql_status_unit *u;
    struct ql_status *st;
    size_t i;

    (void)state;
    /*
     * Reported on Friday 2025-09-26; REPORTED allows 5 working days. The
     * Sunday 09-28 is an adjusted working day (调休), 10-01..10-08 the
     * National Day holiday: 09-28, 09-29, 09-30, 10-09, 10-10. Without the
     * calendar it would be 10-03.
     */
    add(A, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", A, "accept", "due_at", "2025-09-25");
    move(LT_HC, "2025-09-26", A, "report", "finding", "查否");
    /*
     * Returned the same day: RETURNED allows 10 working days, the sixth
     * of which is the adjusted Saturday 10-11.
     */
    add(B, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", B, "accept", "due_at", "2025-09-25");
    move(LT_HC, "2025-09-26", B, "report", "finding", "查否");
    move(DIR, "2025-09-26", B, "return", NULL, NULL);
    for (i = 0; i < sizeof reported / sizeof reported[0]; i++) {
        print_message("working days: %s\n", reported[i].now);
        st = status_at(reported[i].now);
        u = ql_status_unit(st, "LT");
        assert_string_equal(lead_of(u, A)->due, "2025-10-10");
        assert_string_equal(lead_of(u, B)->due, "2025-10-16");
        assert_int_equal((lead_of(u, A)->why & QL_WHY_OVERDUE) != 0,
                         reported[i].overdue);
        assert_false(lead_of(u, B)->why & QL_WHY_OVERDUE);
        assert_int_equal(u->overdue, reported[i].overdue ? 1 : 0);
        ql_status_free(st);
    }
}

/* ---- the county's figures ---- */

static void
test_figures(void **state)
{
    char D[72], E[72], M[72], P[72], L[72];
    const struct ql_status_figures *f;
    struct ql_status *st;

    (void)state;
    sign(LT_HEAD, "LT");
    /* A: 查实, named, fed back 满意, closed on time. */
    add(A, "LT", "2025-07-01", "实名");
    close_lead(A, "2025-07-10", "2025-08-01", "查实", "满意");
    /* B: 查否, named, no feedback, closed after its due date. */
    add(B, "LT", "2025-07-01", "实名");
    close_lead(B, "2025-08-05", "2025-08-01", "查否", NULL);
    /* C: 部分查实, anonymous, fed back 不满意; its extension makes it on
       time. */
    add(C, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", C, "accept", "due_at", "2025-07-20");
    move(TRI, "2025-07-15", C, "extend", "extended_due", "2025-08-15");
    move(LT_HC, "2025-08-10", C, "report", "finding", "部分查实");
    move(DIR, "2025-08-10", C, "return", NULL, NULL);
    move(LT_HC, "2025-08-12", C, "report", "finding", "部分查实");
    {
        struct ql_wf_kv fb[1] = {{"feedback_opinion", "不满意"}};
        struct ql_diag d;

        on("2025-08-12");
        as(DIR);
        ok(ql_lead_move(F->c, C, "close", fb, 1, NULL, NULL, &d), &d);
    }
    spot_pass("2025-08-20", C);
    spot_return("2025-08-21", A, "2025-09-20");
    approve(DIR, "2025-08-21", A);
    /* D: open, overdue, urged. */
    add(D, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", D, "accept", "due_at", "2025-09-01");
    move(DIR, "2025-09-02", D, "urge", NULL, NULL);
    /* E: merged into D: out of every denominator. */
    add(E, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", E, "merge", "master_lead", D);
    /* P: parked, cleared but not closed. */
    add(P, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", P, "park", NULL, NULL);
    /* L: registered after the cut-off: not counted. */
    add(L, "LT", "2025-09-05", "实名");
    /* M: in QY, which has no commitment: counted, up to the cycle's
       cut-off. */
    add(M, "QY", "2025-07-01", NULL);

    st = county_at("2025-09-15T02:00:00Z");
    f = ql_status_figures(st);
    assert_int_equal(f->leads, 6); /* A B C D P M */
    assert_int_equal(f->merged, 1);
    assert_int_equal(f->closed, 2); /* B C; A is back in RETURNED */
    assert_int_equal(f->open, 3);   /* A D M */
    assert_int_equal(f->completion.num, 2);
    assert_int_equal(f->completion.den, 6);
    assert_int_equal(f->on_time.num, 1); /* C, by its extension */
    assert_int_equal(f->on_time.den, 2);
    assert_int_equal(f->substantiated.num, 1); /* C */
    assert_int_equal(f->substantiated.den, 2);
    assert_int_equal(f->feedback.num, 0); /* B is named, not fed back */
    assert_int_equal(f->feedback.den, 1);
    assert_int_equal(f->satisfied.num, 0); /* C: 不满意 */
    assert_int_equal(f->satisfied.den, 1);
    assert_int_equal(f->returned.num, 1);      /* C */
    assert_int_equal(f->returned.den, 3);      /* A B C reported */
    assert_int_equal(f->spot_returned.num, 1); /* A */
    assert_int_equal(f->spot_returned.den, 2); /* A C */
    assert_int_equal(f->overdue, 1);           /* D */
    assert_int_equal(f->urged, 1);             /* D */
    ql_status_free(st);
}

/* ---- the whole county, and bad questions ---- */

static void
test_county_rows(void **state)
{
    struct ql_status *st = NULL;
    struct ql_diag d;
    char id[72];

    (void)state;
    sign(LT_HEAD, "LT");
    add(id, "SH", "2025-07-01", NULL); /* held by the office */
    at("2025-09-15T02:00:00Z");
    ok(ql_status_compute(F->c, NULL, NULL, &st, &d), &d);
    assert_string_equal(ql_status_cycle(st), "2025Q3");
    assert_string_equal(ql_status_today(st), "2025-09-15");
    assert_int_equal(ql_status_unit_count(st), 3); /* LT QY SH */
    assert_string_equal(ql_status_unit_at(st, 0)->code, "LT");
    assert_int_equal(ql_status_unit(st, "QY")->verdict, QL_VERDICT_UNCOMMITTED);
    assert_int_equal(ql_status_unit(st, "SH")->verdict, QL_VERDICT_NONE);
    assert_string_equal(ql_status_unit(st, "SH")->cutoff, "2025-08-31");
    assert_null(ql_status_unit(st, "AU"));
    /* The office does not count against --check. */
    assert_false(ql_status_all_cleared(st));
    ql_status_free(st);

    /* Another cycle: nobody committed to it. */
    ok(ql_status_compute(F->c, "2025Q4", NULL, &st, &d), &d);
    assert_int_equal(ql_status_unit(st, "LT")->verdict, QL_VERDICT_UNCOMMITTED);
    assert_null(ql_status_unit(st, "LT")->cutoff);
    ql_status_free(st);

    st = NULL;
    assert_int_equal(ql_status_compute(F->c, NULL, "XX", &st, &d),
                     QL_ENOTFOUND);
    assert_non_null(strstr(d.msg, "unknown unit 'XX'"));
    assert_int_equal(ql_status_compute(F->c, NULL, "AU", &st, &d), QL_EUSAGE);
    assert_non_null(strstr(d.msg, "'AU' is an audit unit"));
    assert_int_equal(ql_status_compute(F->c, "bad cycle", NULL, &st, &d),
                     QL_EUSAGE);
    assert_non_null(strstr(d.msg, "invalid cycle name 'bad cycle'"));
    assert_null(st);
}

static void
test_no_commitment_anywhere(void **state)
{
    struct ql_status *st = NULL;
    struct ql_diag d;

    (void)state;
    add(A, "LT", "2025-07-01", NULL);
    at("2025-09-15T02:00:00Z");
    ok(ql_status_compute(F->c, NULL, NULL, &st, &d), &d);
    assert_null(ql_status_cycle(st));
    assert_int_equal(ql_status_unit(st, "LT")->verdict, QL_VERDICT_UNCOMMITTED);
    assert_int_equal(ql_status_figures(st)->leads, 1);
    ql_status_free(st);
}

/* An auditor without keys gets the same answer as the office. */
static void
test_no_key_needed(void **state)
{
    struct ql_status *a = NULL, *b = NULL;
    struct ql_county *ro = NULL;
    struct ql_diag d;

    (void)state;
    s_verified();
    at("2025-09-15T02:00:00Z");
    as(DIR);
    ok(ql_status_compute(F->c, NULL, "LT", &a, &d), &d);
    ok(ql_county_open(F->db, QL_COUNTY_READONLY, &ro, &d), &d);
    ql_county_set_now(ro, ql_county_now(F->c));
    ok(ql_status_compute(ro, NULL, "LT", &b, &d), &d);
    assert_int_equal(ql_status_unit(a, "LT")->verdict,
                     ql_status_unit(b, "LT")->verdict);
    assert_string_equal(ql_status_unit(a, "LT")->scope_hash,
                        ql_status_unit(b, "LT")->scope_hash);
    assert_string_equal(ql_status_unit(a, "LT")->reason,
                        ql_status_unit(b, "LT")->reason);
    ql_status_free(a);
    ql_status_free(b);
    ql_county_close(ro);
}

/* ---- a varied county: the summary against the definition ---- */

/*
 * A second workflow whose transitions move a lead between units (assign),
 * so that leads leave and enter a unit's scope; its states are named like
 * commit_flow's so that the figures read them too.
 */
static const char MOVE_WF[] =
    "return {\n"
    "  name = 'move_flow', title = '改派测试', initial = 'NEW',\n"
    "  id_format = 'M-{seq:3}',\n"
    "  create = {'registrar'},\n"
    "  roles = {{name='registrar'}, {name='triage'}, {name='director'}},\n"
    "  fields = {\n"
    "    {name='source', type='enum', clear=true, required=true,\n"
    "     values={'群众举报'}},\n"
    "    {name='summary', type='text', required=true},\n"
    "    {name='handling_unit', type='text', clear=true},\n"
    "    {name='due_at', type='date', clear=true},\n"
    "    {name='finding', type='enum', clear=true, values={'查实', '查否'}},\n"
    "  },\n"
    "  states = {\n"
    "    {name='NEW', label='已登记'},\n"
    "    {name='VERIFYING', label='核查中'},\n"
    "    {name='CLOSED', label='已办结', terminal=true, cleared=true},\n"
    "  },\n"
    "  transitions = {\n"
    "    {name='assign', from='NEW', to='VERIFYING', roles={'triage'},\n"
    "     require={'handling_unit', 'due_at'}, assign='handling_unit',\n"
    "     due='due_at'},\n"
    "    {name='reassign', from='VERIFYING', to='VERIFYING',\n"
    "     roles={'triage'}, require={'handling_unit'},\n"
    "     assign='handling_unit'},\n"
    "    {name='urge', from='VERIFYING', to='VERIFYING',\n"
    "     roles={'director'}},\n"
    "    {name='close', from='VERIFYING', to='CLOSED', roles={'director'},\n"
    "     require={'finding'}},\n"
    "    {name='reopen', from='CLOSED', to='VERIFYING', roles={'director'}},\n"
    "    {name='transfer', from='CLOSED', to='CLOSED', roles={'triage'},\n"
    "     require={'handling_unit'}, assign='handling_unit'},\n"
    "  },\n"
    "}\n";

/* Registers a move_flow lead at the office on date. */
static void
add_moving(char *id, const char *date)
{
    struct ql_wf_kv f[] = {{"source", "群众举报"}, {"summary", "改派（测试）"}};
    struct ql_diag d;

    on(date);
    as(REG);
    ok(ql_lead_add(F->c, "move_flow", "SH", f, 2, id, &d), &d);
}

static void
assign_to(const char *date, const char *id, const char *t, const char *unit,
          const char *due)
{
    struct ql_wf_kv f[2] = {{"handling_unit", unit}, {"due_at", due}};
    struct ql_diag d;

    on(date);
    as(TRI);
    ok(ql_lead_move(F->c, id, t, f, due ? 2 : 1, NULL, NULL, &d), &d);
}

/* Leads of the varied county, by what happened to them. */
struct varied {
    char a[12][72], m[6][72], q[4][72];
};

/*
 * LT signed, with leads in every state, registration and due dates spread
 * around the cut-off, merges, returns, urges, extensions, spot-checks
 * passed and returned; QY without a commitment; the office holding a
 * parked lead; leads of a second workflow moved between units.
 */
static void
varied_county(struct varied *v)
{
    char(*a)[72] = v->a, (*m)[72] = v->m, (*q)[72] = v->q;
    struct ql_diag d;

    on("2025-06-30");
    as(ADMIN);
    ok(ql_county_workflow_add(F->c, "move_flow.lua", MOVE_WF, strlen(MOVE_WF),
                              NULL, &d),
       &d);
    sign(LT_HEAD, "LT");
    /* LT: every state, registration and due dates spread out. */
    add(a[0], "LT", "2025-07-01", "实名");
    close_lead(a[0], "2025-07-10", "2025-08-01", "查实", "满意");
    add(a[1], "LT", "2025-07-02", "实名");
    close_lead(a[1], "2025-08-05", "2025-08-01", "查否", NULL);
    add(a[2], "LT", "2025-07-03", NULL);
    move(TRI, "2025-07-04", a[2], "park", NULL, NULL);
    add(a[3], "LT", "2025-07-03", NULL);
    move(TRI, "2025-07-05", a[3], "merge", "master_lead", a[0]);
    add(a[4], "LT", "2025-07-20", NULL);
    move(TRI, "2025-07-21", a[4], "accept", "due_at", "2025-09-12");
    move(LT_HC, "2025-09-01", a[4], "report", "finding", "部分查实");
    add(a[5], "LT", "2025-08-01", "实名");
    move(TRI, "2025-08-02", a[5], "accept", "due_at", "2025-08-20");
    move(LT_HC, "2025-08-15", a[5], "report", "finding", "查否");
    move(DIR, "2025-08-16", a[5], "return", NULL, NULL);
    add(a[6], "LT", "2025-08-10", NULL);
    move(TRI, "2025-08-11", a[6], "accept", "due_at", "2025-10-20");
    move(DIR, "2025-08-20", a[6], "urge", NULL, NULL);
    move(TRI, "2025-08-21", a[6], "extend", "extended_due", "2025-11-01");
    add(a[7], "LT", "2025-08-31", NULL);
    add(a[8], "LT", "2025-09-01", NULL); /* after the cut-off */
    move(TRI, "2025-09-02", a[8], "accept", "due_at", "2025-09-08");
    add(a[9], "LT", "2025-07-05", NULL);
    close_lead(a[9], "2025-07-06", "2025-07-30", "查否", "基本满意");
    spot_pass("2025-07-20", a[9]);
    add(a[10], "LT", "2025-07-05", NULL);
    close_lead(a[10], "2025-07-07", "2025-07-30", "查实", "不满意");
    spot_return("2025-07-25", a[10], "2025-08-30");
    /* QY: no commitment; SH: the office holds a few. */
    add(q[0], "QY", "2025-07-01", "实名");
    move(TRI, "2025-07-02", q[0], "accept", "due_at", "2025-09-01");
    add(q[1], "QY", "2025-09-10", NULL);
    add(q[2], "SH", "2025-07-01", NULL);
    move(TRI, "2025-07-02", q[2], "park", NULL, NULL);
    /* Leads moving between units, in and out of LT's scope. */
    add_moving(m[0], "2025-07-01");
    assign_to("2025-07-02", m[0], "assign", "QY", "2025-09-25");
    assign_to("2025-08-01", m[0], "reassign", "LT", NULL);
    add_moving(m[1], "2025-07-01");
    assign_to("2025-07-02", m[1], "assign", "LT", "2025-09-10");
    assign_to("2025-08-03", m[1], "reassign", "QY", NULL);
    add_moving(m[2], "2025-09-03");
    assign_to("2025-09-04", m[2], "assign", "LT", "2025-10-08");
    add_moving(m[3], "2025-07-01"); /* stays at the office */
}

static void
test_summary_matches_definition(void **state)
{
    struct varied v;
    char(*a)[72] = v.a, (*m)[72] = v.m, sampled[12][72];
    const struct ql_status_unit *u;
    struct ql_status *st = NULL;
    struct ql_diag d;
    size_t i, n;

    (void)state;
    varied_county(&v);
    print_message("a county with every state\n");
    assert_same_everywhere();
    ok(ql_county_replay_check(F->c, &d), &d);

    /* LT clears its scope and declares; a spot-check return waits. */
    close_lead(a[7], "2025-09-01", "2025-09-20", "查否", NULL);
    move(LT_HC, "2025-09-01", a[6], "report", "finding", "查实");
    move(DIR, "2025-09-01", a[6], "close", NULL, NULL);
    move(DIR, "2025-09-01", a[4], "close", NULL, NULL);
    move(LT_HC, "2025-09-01", a[5], "report", "finding", "查否");
    move(DIR, "2025-09-01", a[5], "close", NULL, NULL);
    approve(DIR, "2025-09-01", a[10]);
    move(LT_HC, "2025-09-01", a[10], "report", "finding", "查实");
    move(DIR, "2025-09-01", a[10], "close", NULL, NULL);
    {
        struct ql_wf_kv f[1] = {{"finding", "查实"}};

        on("2025-09-01");
        as(DIR);
        ok(ql_lead_move(F->c, m[0], "close", f, 1, NULL, NULL, &d), &d);
    }
    declare("2025-09-02");
    print_message("declared\n");
    assert_same_everywhere();
    sample("2025-09-03");
    print_message("sampled\n");
    assert_same_everywhere();
    /* Every sampled lead but the last passes; then the last; verify. */
    ql_county_set_actor(F->c, NULL);
    at("2025-09-04T02:00:00Z");
    ok(ql_status_compute(F->c, NULL, "LT", &st, &d), &d);
    u = ql_status_unit(st, "LT");
    for (i = 0, n = 0; i < u->nlead; i++)
        if (u->lead[i].why & QL_WHY_SAMPLED)
            snprintf(sampled[n++], sizeof sampled[0], "%s", u->lead[i].id);
    ql_status_free(st);
    assert_true(n >= 2);
    for (i = 0; i + 1 < n; i++)
        spot_pass("2025-09-04", sampled[i]);
    print_message("one spot-check pending\n");
    assert_same_everywhere();
    spot_pass("2025-09-05", sampled[n - 1]);
    verify("2025-09-06");
    print_message("verified\n");
    assert_same_everywhere();
    /* A closed lead leaves LT: no lead LT holds changed, its scope did. */
    assign_to("2025-09-07", m[0], "transfer", "QY", NULL);
    print_message("a closed lead moved out\n");
    assert_same_everywhere();
    assign_to("2025-09-07", m[0], "transfer", "LT", NULL);
    print_message("and back\n");
    assert_same_everywhere();
    verify("2025-09-07");
    /* Entries on leads out of scope leave the verification standing. */
    move(DIR, "2025-09-07", a[8], "urge", NULL, NULL);
    assign_to("2025-09-07", m[2], "reassign", "LT", NULL);
    print_message("out-of-scope leads touched\n");
    assert_same_everywhere();
    /* A parked lead reactivated: lapsed; parked again: verify again. */
    move(TRI, "2025-09-08", a[2], "reactivate", NULL, NULL);
    print_message("lapsed\n");
    assert_same_everywhere();
    move(TRI, "2025-09-09", a[2], "park", NULL, NULL);
    print_message("changed since the verification\n");
    assert_same_everywhere();
    /* A lead moved into LT's scope, then out again. */
    assign_to("2025-09-10", m[1], "reassign", "LT", NULL);
    print_message("a lead moved in\n");
    assert_same_everywhere();
    assign_to("2025-09-11", m[1], "reassign", "QY", NULL);
    print_message("and out\n");
    assert_same_everywhere();
    /* A spot-check return waits for approval, then breaches. */
    spot_return("2025-09-12", sampled[0], "2025-09-25");
    print_message("a return awaits approval\n");
    assert_same_everywhere();
    approve(DIR, "2025-09-13", sampled[0]);
    print_message("breached\n");
    assert_same_everywhere();
    ok(ql_county_replay_check(F->c, &d), &d);
}

/* ---- the status counts as stored: upgrade and tampering ---- */

/* Runs SQL on the store's file directly, as an upgrade script or an
   intruder would. */
static void
raw_sql(const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;

    assert_int_equal(sqlite3_open(F->db, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
    sqlite3_close(db);
}

/* Every row of status_counts, in key order, as one caller-owned string. */
static char *
counts_dump(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out;

    assert_int_equal(sqlite3_open(F->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT group_concat(unit || ' ' || workflow || ' "
                           "' || state || ' ' || registered || ' ' || due || "
                           "' ' || pending || ' ' || facts || ' ' || n, "
                           "char(10)) FROM (SELECT * FROM status_counts "
                           "ORDER BY unit, workflow, state, registered, due, "
                           "pending, facts)",
                           -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    out = strdup((const char *)sqlite3_column_text(st, 0));
    assert_non_null(out);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* Writes on two leads, interleaved: a new one (its id to id) and other. */
static void
batch_writes(char *id, const char *other)
{
    add(id, "LT", "2025-09-02", NULL);
    move(TRI, "2025-09-03", id, "accept", "due_at", "2025-09-20");
    move(TRI, "2025-09-03", other, "accept", "due_at", "2025-09-22");
    move(TRI, "2025-09-04", id, "extend", "extended_due", "2025-10-01");
}

/*
 * Inside a batch a lead's row of the status counts is taken out under the
 * key its previous entry in the batch left: the varied county written as
 * one batch counts exactly what it counts written entry by entry, and a
 * batch rolled back leaves the counts as they were.
 */
static void
test_counts_in_one_batch(void **state)
{
    struct varied v;
    char id[72];
    struct ql_diag d;
    char *before, *after;

    (void)state;
    on("2025-06-30");
    as(ADMIN); /* a batch starts with an actor */
    ok(ql_county_batch_begin(F->c, &d), &d);
    varied_county(&v);
    ok(ql_county_batch_commit(F->c, &d), &d);
    assert_same_everywhere();
    ok(ql_county_replay_check(F->c, &d), &d);

    before = counts_dump();
    as(REG);
    ok(ql_county_batch_begin(F->c, &d), &d);
    batch_writes(id, v.a[7]);
    ql_county_batch_abort(F->c);
    after = counts_dump();
    assert_string_equal(before, after);
    free(after);
    ok(ql_county_replay_check(F->c, &d), &d);

    /* The same writes, committed, count as written one by one would. */
    as(REG);
    ok(ql_county_batch_begin(F->c, &d), &d);
    batch_writes(id, v.a[7]);
    ok(ql_county_batch_commit(F->c, &d), &d);
    after = counts_dump();
    assert_string_not_equal(before, after);
    free(before);
    free(after);
    assert_same_everywhere();
    ok(ql_county_replay_check(F->c, &d), &d);
}

/*
 * A store written before the status counts existed (schema version 1)
 * gets them on its first writable open, the same rows the writes made,
 * and the same verdicts and figures; read-only, it asks for that open.
 */
static void
test_upgrade_fills_counts(void **state)
{
    struct varied v;
    struct ql_county *ro = NULL;
    struct ql_diag d;
    char *before, *after;

    (void)state;
    varied_county(&v);
    before = counts_dump();
    assert_non_null(strstr(before, "LT "));
    ql_county_close(F->c);
    F->c = NULL;
    raw_sql("DROP TABLE status_counts; DROP INDEX leads_unit_last; "
            "PRAGMA user_version = 1");
    assert_int_equal(ql_county_open(F->db, QL_COUNTY_READONLY, &ro, &d),
                     QL_EDENIED);
    assert_non_null(strstr(d.msg, "needs a schema upgrade"));
    ok(ql_county_open(F->db, 0, &F->c, &d), &d);
    after = counts_dump();
    assert_string_equal(before, after);
    assert_same_everywhere();
    ok(ql_county_replay_check(F->c, &d), &d);
    free(before);
    free(after);
}

/*
 * The replay check rebuilds the status counts and names the table when
 * the stored rows differ; a write that would take a lead out of a row that
 * is not there refuses instead of counting below zero.
 */
static void
test_tampered_counts(void **state)
{
    struct varied v;
    struct ql_diag d;

    (void)state;
    varied_county(&v);
    ok(ql_county_replay_check(F->c, &d), &d);
    raw_sql("UPDATE status_counts SET n = n + 1 WHERE unit = 'LT' AND "
            "state = 'CLOSED'");
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_EINTEGRITY);
    assert_non_null(strstr(d.msg, "table 'status_counts' differs"));
    raw_sql("UPDATE status_counts SET n = n - 1 WHERE unit = 'LT' AND "
            "state = 'CLOSED'");
    ok(ql_county_replay_check(F->c, &d), &d);
    raw_sql("DELETE FROM status_counts WHERE unit = 'LT' AND "
            "state = 'VERIFYING'");
    assert_int_equal(ql_county_replay_check(F->c, &d), QL_EINTEGRITY);
    on("2025-09-03");
    as(DIR);
    assert_int_equal(
        ql_lead_move(F->c, v.a[6], "urge", NULL, 0, NULL, NULL, &d),
        QL_EINTEGRITY);
    assert_non_null(strstr(d.msg, "the status counts lack lead"));
    assert_non_null(strstr(d.msg, v.a[6]));
}

static void
test_names(void **state)
{
    (void)state;
    assert_string_equal(ql_verdict_name(QL_VERDICT_CLEARED), "cleared");
    assert_string_equal(ql_verdict_name(QL_VERDICT_DECLARED), "declared");
    assert_string_equal(ql_verdict_name(QL_VERDICT_ON_TRACK), "on-track");
    assert_string_equal(ql_verdict_name(QL_VERDICT_AT_RISK), "at-risk");
    assert_string_equal(ql_verdict_name(QL_VERDICT_FAILED), "failed");
    assert_string_equal(ql_verdict_name(QL_VERDICT_UNCOMMITTED), "uncommitted");
    assert_string_equal(ql_verdict_name(QL_VERDICT_NONE), "-");
    assert_string_equal(ql_verdict_label(QL_VERDICT_CLEARED), "全面清零");
    assert_string_equal(ql_declaration_name(QL_DECL_BREACHED), "breached");
}

/* Every row of status_counts as the county's own connection sees it,
   with the changes of an open batch written; caller-owned. */
static char *
counts_seen(void)
{
    static const char SQL[] =
        "SELECT group_concat(unit || ' ' || state || ' ' || registered || ' ' "
        "|| due || ' ' || pending || ' ' || facts || ' ' || n, ';') FROM "
        "(SELECT * FROM status_counts ORDER BY unit, workflow, state, "
        "registered, due, pending, facts)";
    struct ql_stmt *st = NULL;
    struct ql_diag d;
    bool row = false;
    char *out;

    ok(ql_status_counts_flush(F->c, &d), &d);
    ok(ql_store_prepare(ql_county_store(F->c), SQL, &st, &d), &d);
    ok(ql_stmt_step(st, &row, &d), &d);
    assert_true(row);
    out = strdup(ql_stmt_text(st, 0) ? ql_stmt_text(st, 0) : "");
    assert_non_null(out);
    ql_stmt_done(st);
    return out;
}

/* The writes of test_counts_worked_out_in_batch, by kind. */
enum step_kind { S_ADD, S_MOVE, S_SPOT_RETURN, S_APPROVE, S_REJECT, S_PASS };

static const struct step {
    enum step_kind kind;
    enum who w;
    const char *date;
    int lead; /* 0 or 1 */
    const char *t, *name, *value;
} STEPS[] = {
    {S_ADD, REG, "2025-07-01", 0, NULL, NULL, "实名"},
    {S_MOVE, TRI, "2025-07-02", 0, "accept", "due_at", "2025-08-20"},
    {S_MOVE, DIR, "2025-07-03", 0, "urge", NULL, NULL},
    {S_MOVE, DIR, "2025-07-04", 0, "urge", NULL, NULL}, /* the same row */
    {S_MOVE, TRI, "2025-07-05", 0, "extend", "extended_due", "2025-08-01"},
    {S_ADD, REG, "2025-07-01", 1, NULL, NULL, NULL},
    {S_MOVE, TRI, "2025-07-02", 1, "accept", "due_at", "2025-07-10"},
    {S_MOVE, DIR, "2025-07-15", 1, "urge", NULL, NULL}, /* same since */
    {S_MOVE, LT_HC, "2025-07-21", 1, "report", "finding", "查实"},
    {S_MOVE, LT_HC, "2025-07-20", 0, "report", "finding", "部分查实"},
    {S_MOVE, DIR, "2025-07-22", 0, "return", NULL, NULL},
    {S_MOVE, LT_HC, "2025-08-25", 0, "report", "finding", "查否"},
    {S_MOVE, DIR, "2025-08-26", 0, "close", "feedback_opinion", "满意"},
    {S_SPOT_RETURN, INSP, "2025-08-27", 0, NULL, NULL, "2025-09-20"},
    {S_REJECT, DIR, "2025-08-28", 0, NULL, NULL, NULL},
    {S_SPOT_RETURN, INSP, "2025-08-29", 0, NULL, NULL, "2025-09-25"},
    {S_APPROVE, DIR, "2025-08-30", 0, NULL, NULL, NULL},
    {S_MOVE, LT_HC, "2025-09-10", 0, "report", "finding", "查实"},
    {S_MOVE, DIR, "2025-09-11", 0, "close", "feedback_opinion", "基本满意"},
    {S_MOVE, DIR, "2025-08-26", 1, "close", "feedback_opinion", "不满意"},
    {S_PASS, INSP, "2025-08-30", 1, NULL, NULL, NULL},
};
#define NSTEPS (sizeof STEPS / sizeof STEPS[0])

/*
 * Runs STEPS on a signed LT, one at a time or in a batch; seen[i] gets
 * the counts after write i when bit i of seen_at is set (NULL otherwise):
 * seeing them writes the batch's changes to the counts first.
 */
static void
run_steps(bool batch, unsigned long seen_at, char **seen)
{
    char id[2][72];
    struct ql_diag d;
    size_t i;

    sign(LT_HEAD, "LT");
    if (batch)
        ok(ql_county_batch_begin(F->c, &d), &d);
    for (i = 0; i < NSTEPS; i++) {
        const struct step *s = &STEPS[i];
        char *lead = id[s->lead];

        switch (s->kind) {
        case S_ADD:
            add(lead, "LT", s->date, s->value);
            break;
        case S_MOVE:
            move(s->w, s->date, lead, s->t, s->name, s->value);
            break;
        case S_SPOT_RETURN:
            spot_return(s->date, lead, s->value);
            break;
        case S_APPROVE:
            approve(s->w, s->date, lead);
            break;
        case S_REJECT:
            on(s->date);
            as(s->w);
            ok(ql_lead_reject(F->c, lead, "不予批准", &d), &d);
            break;
        case S_PASS:
            spot_pass(s->date, lead);
            break;
        }
        seen[i] = (seen_at >> i) & 1 ? counts_seen() : NULL;
    }
    if (batch)
        ok(ql_county_batch_commit(F->c, &d), &d);
}

/*
 * Inside a batch a lead's next row is worked out from its previous one
 * and the entry, without reading the lead: every kind of entry that takes
 * that path (registration, move, proposal, approval, rejection), fields
 * that change a fact back (a second finding, an earlier extension), moves
 * that leave the row or the start of the state as they were, and two
 * leads taking turns. Written in one batch, the counts after every write
 * are those the same writes make one at a time (which read each lead
 * back), and at the end those of the replay and of the definition.
 */
static void
test_counts_worked_out_in_batch(void **state)
{
    char *single[NSTEPS], *batch[NSTEPS];
    struct ql_diag d;
    size_t i;

    run_steps(false, ~0UL, single);
    assert_int_equal(teardown(state), 0);
    assert_int_equal(setup(state), 0);
    run_steps(true, ~0UL, batch);
    for (i = 0; i < NSTEPS; i++) {
        print_message("after write %zu\n", i);
        assert_string_equal(single[i], batch[i]);
        free(single[i]);
        free(batch[i]);
    }
    assert_same_everywhere();
    ok(ql_county_replay_check(F->c, &d), &d);
}

/*
 * Inside a batch the counts' changes are written at its end: a batch that
 * takes a lead out of a row an intruder deleted fails there, with the
 * table named, and leaves the store as it was.
 */
static void
test_tampered_counts_in_batch(void **state)
{
    struct varied v;
    struct ql_lead *lead = NULL;
    struct ql_status *st = NULL;
    struct ql_diag d;
    uint64_t before, after;
    char *counts, *now;

    (void)state;
    varied_county(&v);
    raw_sql("DELETE FROM status_counts WHERE unit = 'LT' AND "
            "state = 'VERIFYING'");
    counts = counts_dump();
    ok(ql_log_size(ql_county_log(F->c), &before, &d), &d);
    as(REG);
    ok(ql_county_batch_begin(F->c, &d), &d);
    move(LT_HC, "2025-09-03", v.a[6], "report", "finding", "查实");
    /* A summary inside the batch writes the changes first, and fails. */
    assert_int_equal(ql_status_summary(F->c, NULL, NULL, &st, &d),
                     QL_EINTEGRITY);
    assert_null(st);
    assert_non_null(strstr(d.msg, "table 'status_counts' differs"));
    assert_int_equal(ql_county_batch_commit(F->c, &d), QL_EINTEGRITY);
    assert_non_null(strstr(d.msg, "table 'status_counts' differs"));
    ok(ql_log_size(ql_county_log(F->c), &after, &d), &d);
    assert_int_equal(after, before);
    ok(ql_lead_load_clear(F->c, v.a[6], &lead, &d), &d);
    assert_string_equal(ql_lead_state(lead), "VERIFYING");
    ql_lead_free(lead);
    now = counts_dump();
    assert_string_equal(now, counts);
    free(now);
    free(counts);
}

/*
 * Inside a batch the leads' rows wait in memory until something reads them
 * (docs/decisions.md section 32). The lead-by-lead definition reads them
 * from the store, so computed inside the batch, after writes no read came
 * between, it must see them: it agrees with the counts, and with what the
 * store says once the batch is committed.
 */
static void
test_definition_sees_batch_rows(void **state)
{
    struct ql_status *in = NULL, *out = NULL;
    struct varied v;
    char id[72], m[72];
    struct ql_diag d;

    (void)state;
    on("2025-06-30");
    varied_county(&v);
    as(REG);
    ok(ql_county_batch_begin(F->c, &d), &d);
    batch_writes(id, v.a[7]);
    /* The last lead's entries follow each other: its rows wait. */
    add_moving(m, "2025-09-05");
    assign_to("2025-09-05", m, "assign", "LT", "2025-10-08");
    assign_to("2025-09-08", m, "reassign", "QY", NULL);
    assign_to("2025-09-09", m, "reassign", "LT", NULL);
    assert_same_status(NULL, "LT");
    assert_same_status("2025Q4", NULL);
    ok(ql_status_compute(F->c, NULL, "LT", &in, &d), &d);
    as(REG);
    ok(ql_county_batch_commit(F->c, &d), &d);
    ok(ql_status_compute(F->c, NULL, "LT", &out, &d), &d);
    assert_int_equal(ql_status_unit(in, "LT")->leads,
                     ql_status_unit(out, "LT")->leads);
    assert_int_equal(ql_status_unit(in, "LT")->open,
                     ql_status_unit(out, "LT")->open);
    ql_status_free(in);
    ql_status_free(out);
    assert_same_everywhere();
    ok(ql_county_replay_check(F->c, &d), &d);
}

/*
 * The same writes in one batch, with the counts' changes written after a
 * few writes or only at the commit: a lead leaves its row through the
 * change its previous entry made while that change is kept, and looks
 * the row up again once the changes were written in between. The counts
 * end as one write at a time leaves them, as the replay and the
 * definition have them.
 */
static void
test_counts_in_batch_written_late(void **state)
{
    static const struct {
        const char *name;
        unsigned long seen_at;
    } cases[] = {
        {"never", 0},
        {"every other", 0x55555UL},
        {"every third", 0x49249UL},
        {"after write 4", 1UL << 4},
        {"after writes 4 and 12", (1UL << 4) | (1UL << 12)},
    };
    char *single[NSTEPS], *batch[NSTEPS], *want, *got;
    struct ql_diag d;
    size_t i, k;

    run_steps(false, ~0UL, single);
    want = counts_seen();
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        print_message("counts written %s\n", cases[k].name);
        assert_int_equal(teardown(state), 0);
        assert_int_equal(setup(state), 0);
        run_steps(true, cases[k].seen_at, batch);
        for (i = 0; i < NSTEPS; i++) {
            if (batch[i] != NULL)
                assert_string_equal(single[i], batch[i]);
            free(batch[i]);
        }
        got = counts_seen();
        assert_string_equal(got, want);
        free(got);
        assert_same_everywhere();
        ok(ql_county_replay_check(F->c, &d), &d);
    }
    for (i = 0; i < NSTEPS; i++)
        free(single[i]);
    free(want);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test_setup_teardown(test_leads_behind_verdicts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pending_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_working_day_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_figures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_county_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_commitment_anywhere, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_key_needed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_matches_definition, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_fills_counts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tampered_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_in_one_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_counts_worked_out_in_batch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_counts_in_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_definition_sees_batch_rows,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_in_batch_written_late,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
