/*
 * Tests of the commitment cycle (engine/ql_commit.c): signing, declaring,
 * drawing the sample, spot-checks and verifying, each refusal with its
 * error, its message and a log left as it was; what the entries bind (the
 * checkpoint, the scope hash, the seed) and that anyone can recompute it;
 * replay, and forged entries that replay refuses.
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
#include "ql_calendar.h"
#include "ql_codec.h"
#include "ql_commit.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_status.h"
#include "ql_store.h"
#include "ql_test.h"

#include "qlt_cycle.h"

/* ---- evidence ---- */

static uint64_t
log_size(void)
{
    struct ql_diag d;
    uint64_t n = 0;

    ok(ql_log_size(ql_county_log(F->c), &n, &d), &d);
    return n;
}

/* A refusal: the code, a fragment of the message, and no new entry. */
static void
refused(ql_err got, ql_err want, const struct ql_diag *d, const char *fragment,
        uint64_t size_before)
{
    if (got != want)
        fail_msg("got %s (%s), want %s", ql_errname(got), d->msg,
                 ql_errname(want));
    if (strstr(d->msg, fragment) == NULL)
        fail_msg("message '%s' lacks '%s'", d->msg, fragment);
    assert_int_equal(log_size(), size_before);
}

/* Entry idx, parsed (release with ql_entry_release). */
static void
read_entry(uint64_t idx, struct ql_entry *e)
{
    struct ql_diag d;

    ql_entry_init(e);
    ok(ql_log_read(ql_county_log(F->c), idx, NULL, NULL, e, &d), &d);
}

static const char *
clear_of(const struct ql_entry *e, const char *name)
{
    const char *v = ql_entry_get_clear(e, name);

    if (v == NULL)
        fail_msg("entry %llu has no clear line '%s'",
                 (unsigned long long)e->index, name);
    return v;
}

static const struct ql_status_unit *
unit_status(struct ql_status **st, const char *unit)
{
    struct ql_diag d;

    ok(ql_status_compute(F->c, NULL, unit, st, &d), &d);
    return ql_status_unit(*st, unit);
}

static char A[72], B[72], C[72], D[72];

/* ---- signing ---- */

struct sign_case {
    const char *name;
    enum who w;
    const char *now, *unit, *cycle, *cutoff, *deadline, *text;
    ql_err want;
    const char *msg;
};

static void
test_sign(void **state)
{
    static char long_text[QL_COMMIT_TEXT_MAX + 2];
    const struct sign_case cases[] = {
        {"bad cycle", LT_HEAD, "2025-06-30", "LT", "bad cycle", "2025-08-31",
         "2025-09-30", NULL, QL_EUSAGE, "invalid cycle name 'bad cycle'"},
        {"empty cycle", LT_HEAD, "2025-06-30", "LT", "", "2025-08-31",
         "2025-09-30", NULL, QL_EUSAGE, "invalid cycle name ''"},
        {"long cycle", LT_HEAD, "2025-06-30", "LT",
         "c23456789012345678901234567890123", "2025-08-31", "2025-09-30", NULL,
         QL_EUSAGE, "at most 32"},
        {"bad cut-off", LT_HEAD, "2025-06-30", "LT", "2025Q3", "2025-02-30",
         "2025-09-30", NULL, QL_EUSAGE, "invalid cut-off date '2025-02-30'"},
        {"bad deadline", LT_HEAD, "2025-06-30", "LT", "2025Q3", "2025-08-31",
         "30/09/2025", NULL, QL_EUSAGE, "invalid deadline '30/09/2025'"},
        {"cut-off after the deadline", LT_HEAD, "2025-06-30", "LT", "2025Q3",
         "2025-10-01", "2025-09-30", NULL, QL_EUSAGE,
         "the cut-off 2025-10-01 is after the deadline 2025-09-30"},
        {"two-line text", LT_HEAD, "2025-06-30", "LT", "2025Q3", "2025-08-31",
         "2025-09-30", "承诺\n第二行", QL_EUSAGE, "one line"},
        {"empty text", LT_HEAD, "2025-06-30", "LT", "2025Q3", "2025-08-31",
         "2025-09-30", "", QL_EUSAGE, "1 to 2000 bytes"},
        {"long text", LT_HEAD, "2025-06-30", "LT", "2025Q3", "2025-08-31",
         "2025-09-30", long_text, QL_EUSAGE, "1 to 2000 bytes"},
        {"bad unit", LT_HEAD, "2025-06-30", "L T", "2025Q3", "2025-08-31",
         "2025-09-30", NULL, QL_EUSAGE, "invalid unit code 'L T'"},
        {"not the head", LT_HC, "2025-06-30", "LT", "2025Q3", "2025-08-31",
         "2025-09-30", NULL, QL_EDENIED, "needs role 'head'"},
        {"another unit's head", QY_HEAD, "2025-06-30", "LT", "2025Q3",
         "2025-08-31", "2025-09-30", NULL, QL_EDENIED,
         "only unit LT's head may sign its commitment"},
        {"the administrator", ADMIN, "2025-06-30", "LT", "2025Q3", "2025-08-31",
         "2025-09-30", NULL, QL_EDENIED, "only unit LT's head"},
        {"an unknown unit", LT_HEAD, "2025-06-30", "XX", "2025Q3", "2025-08-31",
         "2025-09-30", NULL, QL_EDENIED, "only unit XX's head"},
        {"the deadline passed", LT_HEAD, "2025-10-01", "LT", "2025Q3",
         "2025-08-31", "2025-09-30", NULL, QL_ERULE,
         "the deadline 2025-09-30 has already passed"},
    };
    struct ql_entry e;
    struct ql_diag d;
    uint64_t idx = 0, n;
    size_t i;

    (void)state;
    memset(long_text, 'x', sizeof long_text - 1);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct sign_case *k = &cases[i];

        print_message("sign: %s\n", k->name);
        on(k->now);
        as(k->w);
        n = log_size();
        refused(ql_commit_sign(F->c, k->unit, k->cycle, k->cutoff, k->deadline,
                               k->text, NULL, &d),
                k->want, &d, k->msg, n);
    }
    /* No actor at all. */
    ql_county_set_actor(F->c, NULL);
    n = log_size();
    refused(ql_commit_sign(F->c, "LT", "2025Q3", "2025-08-31", "2025-09-30",
                           NULL, NULL, &d),
            QL_EDENIED, &d, "no acting key", n);

    /* The deadline's last second, local time, still takes a signature. */
    at("2025-09-30T15:59:59Z");
    as(LT_HEAD);
    ok(ql_commit_sign(F->c, "LT", "2025Q3", "2025-08-31", "2025-09-30", NULL,
                      &idx, &d),
       &d);
    read_entry(idx, &e);
    assert_string_equal(e.action, "commit.sign");
    assert_string_equal(e.unit, "LT");
    assert_string_equal(e.actor, "LT-fzr-01");
    assert_string_equal(e.lead, "");
    assert_int_equal(e.payload_len, 0);
    assert_string_equal(clear_of(&e, "cycle"), "2025Q3");
    assert_string_equal(clear_of(&e, "cutoff"), "2025-08-31");
    assert_string_equal(clear_of(&e, "deadline"), "2025-09-30");
    assert_non_null(strstr(clear_of(&e, "text"),
                           "本单位承诺于2025年9月30日前实现线索摸排清仓见底、"
                           "线索核查全面清零"));
    ql_entry_release(&e);

    n = log_size();
    refused(ql_commit_sign(F->c, "LT", "2025Q3", "2025-08-01", "2025-09-30",
                           NULL, NULL, &d),
            QL_EEXIST, &d, "signed its commitment for 2025Q3 already", n);
    /* Another cycle, with its own words. */
    ok(ql_commit_sign(F->c, "LT", "2025Q4", "2025-11-30", "2025-12-31",
                      "本单位承诺年底前清零", NULL, &d),
       &d);
    {
        char cycle[QL_CYCLE_MAX + 1];

        ok(ql_commit_latest_cycle(F->c, "LT", cycle, &d), &d);
        assert_string_equal(cycle, "2025Q4");
        assert_int_equal(ql_commit_latest_cycle(F->c, "QY", cycle, &d),
                         QL_ENOTFOUND);
    }
    /* A supervision unit makes no commitment. */
    {
        struct ql_diag d2;
        uint64_t m = log_size();

        as(INSP);
        refused(ql_commit_sign(F->c, "SH", "2025Q3", "2025-08-31", "2025-12-31",
                               NULL, NULL, &d2),
                QL_EDENIED, &d2, "needs role 'head'", m);
    }
    ok(ql_county_replay_check(F->c, &d), &d);
}

/* ---- declaring ---- */

static void
test_declare(void **state)
{
    struct ql_status *st = NULL;
    const struct ql_status_unit *u;
    struct ql_entry e;
    struct ql_diag d;
    uint8_t root[QL_HASH_LEN], h[QL_HASH_LEN];
    char b64[64], hex[65], line[160];
    uint64_t idx = 0, n, before;

    (void)state;
    add(A, "LT", "2025-07-01", NULL);
    on("2025-07-02");
    as(LT_HEAD);
    n = log_size();
    refused(ql_commit_declare(F->c, "LT", NULL, NULL, &d), QL_ENOTFOUND, &d,
            "unit LT has signed no commitment", n);
    sign(LT_HEAD, "LT");
    move(TRI, "2025-07-02", A, "accept", "due_at", "2025-08-01");
    on("2025-07-03");
    as(LT_HEAD);
    n = log_size();
    refused(ql_commit_declare(F->c, "LT", "2025Q4", NULL, &d), QL_ENOTFOUND, &d,
            "unit LT has no commitment for cycle 2025Q4", n);
    refused(ql_commit_declare(F->c, "LT", NULL, NULL, &d), QL_ERULE, &d,
            "unit LT cannot declare: 1 in-scope lead is not cleared: ", n);
    assert_non_null(strstr(d.msg, "VERIFYING"));
    as(LT_HC);
    refused(ql_commit_declare(F->c, "LT", NULL, NULL, &d), QL_EDENIED, &d,
            "needs role 'head'", n);
    as(QY_HEAD);
    refused(ql_commit_declare(F->c, "LT", NULL, NULL, &d), QL_EDENIED, &d,
            "only unit LT's head may declare it cleared", n);

    /* Closed; a lead registered after the cut-off stays open. */
    move(LT_HC, "2025-07-05", A, "report", "finding", "查否");
    move(DIR, "2025-07-06", A, "close", NULL, NULL);
    add(B, "LT", "2025-09-01", NULL);
    on("2025-09-02");
    as(LT_HEAD);
    before = log_size();
    ok(ql_commit_declare(F->c, "LT", NULL, &idx, &d), &d);
    assert_int_equal(idx, before);
    read_entry(idx, &e);
    assert_string_equal(e.action, "commit.declare");
    assert_string_equal(e.unit, "LT");
    assert_string_equal(clear_of(&e, "cycle"), "2025Q3");
    /* The checkpoint it binds: the latest signed one, of every entry
       before it. */
    snprintf(line, sizeof line, "%llu", (unsigned long long)before);
    assert_string_equal(clear_of(&e, "checkpoint_size"), line);
    ok(ql_log_root(ql_county_log(F->c), before, root, &d), &d);
    ql_base64_encode(b64, root, sizeof root);
    assert_string_equal(clear_of(&e, "checkpoint_root"), b64);
    /* The scope: A alone, with the index of its last entry. */
    st = NULL;
    u = unit_status(&st, "LT");
    snprintf(line, sizeof line, "%s %llu\n", A,
             (unsigned long long)u->lead[0].last_idx);
    assert_string_equal(u->lead[0].id, A);
    ql_hash(ql_profile_default(), h, line, strlen(line));
    ql_hex_encode(hex, h, sizeof h);
    assert_string_equal(clear_of(&e, "scope_hash"), hex);
    assert_string_equal(clear_of(&e, "scope_leads"), "1");
    assert_string_equal(u->scope_hash, hex);
    assert_int_equal(u->declaration, QL_DECL_HOLDS);
    ql_status_free(st);
    ql_entry_release(&e);

    n = log_size();
    refused(ql_commit_declare(F->c, "LT", NULL, NULL, &d), QL_EEXIST, &d,
            "unit LT has declared already", n);
    ok(ql_county_replay_check(F->c, &d), &d);
}

static void
test_declare_blocked_by_proposal(void **state)
{
    struct ql_diag d;
    uint64_t n;

    (void)state;
    sign(LT_HEAD, "LT");
    add(A, "LT", "2025-07-01", NULL);
    close_lead(A, "2025-07-05", "2025-08-01", "查否", NULL);
    spot_return("2025-09-01", A, "2025-09-20");
    on("2025-09-02");
    as(LT_HEAD);
    n = log_size();
    refused(ql_commit_declare(F->c, "LT", NULL, NULL, &d), QL_ERULE, &d,
            "lead C-001 has a proposal ('spot_return') waiting that would "
            "reopen it",
            n);
    /* Declined, the lead is closed again for good. */
    on("2025-09-02");
    as(DIR);
    ok(ql_lead_reject(F->c, A, "理由不足", &d), &d);
    declare("2025-09-03");
}

static void
test_redeclare_after_breach(void **state)
{
    struct ql_status *st = NULL;
    const struct ql_status_unit *u;
    struct ql_diag d;
    uint64_t first = 0, second = 0, n;

    (void)state;
    sign(LT_HEAD, "LT");
    add(A, "LT", "2025-07-01", NULL);
    close_lead(A, "2025-07-05", "2025-08-01", "查否", NULL);
    on("2025-09-01");
    as(LT_HEAD);
    ok(ql_commit_declare(F->c, "LT", NULL, &first, &d), &d);
    spot_return("2025-09-02", A, "2025-09-20");
    approve(DIR, "2025-09-02", A);
    u = unit_status(&st, "LT");
    assert_int_equal(u->declaration, QL_DECL_BREACHED);
    assert_int_equal(u->verdict, QL_VERDICT_FAILED);
    ql_status_free(st);
    /* Breached: no sample, no verification, no declaration while open. */
    on("2025-09-03");
    as(INSP);
    n = log_size();
    refused(ql_commit_sample(F->c, "LT", NULL, NULL, &d), QL_ERULE, &d,
            "declaration (entry", n);
    assert_non_null(strstr(d.msg, "was breached: C-001 RETURNED"));
    refused(ql_commit_verify(F->c, "LT", NULL, NULL, &d), QL_ERULE, &d,
            "was breached", n);
    as(LT_HEAD);
    refused(ql_commit_declare(F->c, "LT", NULL, NULL, &d), QL_ERULE, &d,
            "cannot declare", n);
    /* Rectified and declared again (整改后重新申报). */
    move(LT_HC, "2025-09-10", A, "report", "finding", "查实");
    move(DIR, "2025-09-11", A, "close", NULL, NULL);
    on("2025-09-12");
    as(LT_HEAD);
    ok(ql_commit_declare(F->c, "LT", NULL, &second, &d), &d);
    assert_true(second > first);
    u = unit_status(&st, "LT");
    assert_int_equal(u->declaration, QL_DECL_HOLDS);
    assert_int_equal(u->declare_idx, second);
    assert_int_equal(u->verdict, QL_VERDICT_DECLARED);
    ql_status_free(st);
}

static bool
lead_is_sampled(const struct ql_status_unit *u, const char *id)
{
    size_t i;

    for (i = 0; i < u->nlead; i++)
        if (strcmp(u->lead[i].id, id) == 0)
            return (u->lead[i].why & QL_WHY_SAMPLED) != 0;
    return false;
}

/* ---- sampling ---- */

/* Closed leads enough for a real draw; which are mandatory, and why. */
static void
sample_county(void)
{
    static const struct {
        const char *finding, *feedback;
    } closed[] = {
        {"查否", "不满意"}, /* mandatory: the reporter was not satisfied */
        {"查否", NULL},     /* mandatory: re-reported (a merged duplicate) */
        {"查否", "满意"},   {"查实", "不满意"}, {"部分查实", NULL},
        {"查否", NULL},     {"查实", "满意"},   {"查否", "基本满意"},
        {"查实", NULL},     {"查否", "未表态"}, {"部分查实", "满意"},
        {"查实", "满意"},
    };
    char id[72], dup[72];
    size_t i;

    sign(LT_HEAD, "LT");
    for (i = 0; i < sizeof closed / sizeof closed[0]; i++) {
        add(id, "LT", "2025-07-01", NULL);
        close_lead(id, "2025-07-05", "2025-08-01", closed[i].finding,
                   closed[i].feedback);
        if (i == 0)
            snprintf(A, sizeof A, "%s", id);
        if (i == 1) {
            snprintf(B, sizeof B, "%s", id);
            add(dup, "LT", "2025-07-02", NULL);
            move(TRI, "2025-07-02", dup, "merge", "master_lead", id);
        }
    }
    /* Parked: cleared, but no spot-check leaves from it. */
    add(C, "LT", "2025-07-01", NULL);
    move(TRI, "2025-07-02", C, "park", NULL, NULL);
}

static void
test_sample(void **state)
{
    struct ql_sample_candidate cand[16];
    struct ql_status *st = NULL;
    const struct ql_status_unit *u;
    struct ql_entry e;
    struct ql_diag d;
    uint8_t seed[QL_HASH_LEN];
    char drawn[1024], must[256];
    size_t i, n = 0, seedlen = 0, count = 0, at = 0, mat = 0;
    uint64_t idx = 0, before;
    const char *root;

    (void)state;
    sample_county();
    on("2025-09-01");
    as(INSP);
    before = log_size();
    refused(ql_commit_sample(F->c, "LT", NULL, NULL, &d), QL_ERULE, &d,
            "unit LT has not declared for cycle 2025Q3", before);
    declare("2025-09-01");
    before = log_size();
    as(DIR);
    refused(ql_commit_sample(F->c, "LT", NULL, NULL, &d), QL_EDENIED, &d,
            "drawing a spot-check sample needs role 'inspector'", before);
    as(LT_HEAD);
    refused(ql_commit_sample(F->c, "LT", NULL, NULL, &d), QL_EDENIED, &d,
            "needs role 'inspector' in a supervision unit", before);
    as(INSP);
    refused(ql_commit_sample(F->c, "QY", NULL, NULL, &d), QL_ENOTFOUND, &d,
            "unit QY has signed no commitment", before);
    on("2025-09-02");
    ok(ql_commit_sample(F->c, "LT", NULL, &idx, &d), &d);
    assert_int_equal(idx, before);
    read_entry(idx, &e);
    assert_string_equal(e.action, "commit.sample");
    assert_string_equal(clear_of(&e, "population"), "12");
    /* 12 closed leads: 2 mandatory, and max(2, ceil(12 * 10%)) = 2 more. */
    u = unit_status(&st, "LT");
    assert_int_equal(u->sample_size, 4);
    assert_int_equal(u->spot_pending, 4);
    snprintf(must, sizeof must, "%s %s", A, B);
    assert_string_equal(clear_of(&e, "mandatory"), must);
    /* Anyone can draw it again from the entry: the seed is the root of
       the checkpoint it names. */
    snprintf(drawn, sizeof drawn, "%llu", (unsigned long long)before);
    assert_string_equal(clear_of(&e, "seed_size"), drawn);
    root = clear_of(&e, "seed_root");
    ok(ql_base64_decode(seed, sizeof seed, &seedlen, root, strlen(root), &d),
       &d);
    assert_int_equal(seedlen, QL_HASH_LEN);
    {
        uint8_t want[QL_HASH_LEN];

        ok(ql_log_root(ql_county_log(F->c), before, want, &d), &d);
        assert_memory_equal(seed, want, QL_HASH_LEN);
    }
    for (i = 0; i < u->nlead; i++) {
        const struct ql_status_lead *l = &u->lead[i];

        if (!l->in_scope || !l->spotable)
            continue;
        assert_true(n < 16);
        cand[n].id = l->id;
        cand[n].mandatory = strcmp(l->id, A) == 0 || strcmp(l->id, B) == 0;
        n++;
    }
    assert_int_equal(n, 12);
    ok(ql_commit_draw(ql_profile_default(), seed, "LT", "2025Q3", cand, n,
                      &count, &d),
       &d);
    assert_int_equal(count, 4);
    drawn[0] = '\0';
    for (i = 0; i < n; i++) {
        if (!cand[i].chosen)
            continue;
        at += (size_t)snprintf(drawn + at, sizeof drawn - at, "%s%s",
                               at ? " " : "", cand[i].id);
        assert_true(lead_is_sampled(u, cand[i].id));
        mat++;
    }
    assert_int_equal(mat, 4);
    assert_string_equal(clear_of(&e, "leads"), drawn);
    ql_entry_release(&e);
    ql_status_free(st);

    before = log_size();
    refused(ql_commit_sample(F->c, "LT", NULL, NULL, &d), QL_EEXIST, &d,
            "has its sample already", before);
    ok(ql_county_replay_check(F->c, &d), &d);
}

/* ---- verifying ---- */

static void
test_verify(void **state)
{
    struct ql_status *st = NULL;
    const struct ql_status_unit *u;
    struct ql_diag d;
    uint64_t before, idx = 0;
    size_t i;

    (void)state;
    sample_county();
    declare("2025-09-01");
    on("2025-09-02");
    as(INSP);
    before = log_size();
    refused(ql_commit_verify(F->c, "LT", NULL, NULL, &d), QL_ERULE, &d,
            "has no sample yet", before);
    as(DIR);
    refused(ql_commit_verify(F->c, "LT", NULL, NULL, &d), QL_EDENIED, &d,
            "verifying a declaration needs role 'inspector'", before);
    sample("2025-09-02");
    on("2025-09-03");
    as(INSP);
    before = log_size();
    refused(
        ql_commit_verify(F->c, "LT", NULL, NULL, &d), QL_ERULE, &d,
        "unit LT cannot be verified while 4 spot-checks are pending: ", before);
    /* Pass every sampled lead but one, whose return waits for approval. */
    u = unit_status(&st, "LT");
    snprintf(D, sizeof D, "%s", "");
    for (i = 0; i < u->nlead; i++) {
        if (!(u->lead[i].why & QL_WHY_SAMPLED))
            continue;
        if (D[0] == '\0')
            snprintf(D, sizeof D, "%s", u->lead[i].id);
        else
            spot_pass("2025-09-03", u->lead[i].id);
    }
    ql_status_free(st);
    spot_return("2025-09-04", D, "2025-09-25");
    on("2025-09-04");
    as(INSP);
    before = log_size();
    refused(ql_commit_verify(F->c, "LT", NULL, NULL, &d), QL_ERULE, &d,
            "while 1 spot-check is pending: ", before);
    assert_non_null(strstr(d.msg, D));
    /* The director declines the return; the lead still waits for its
       check. */
    on("2025-09-05");
    as(DIR);
    ok(ql_lead_reject(F->c, D, NULL, &d), &d);
    on("2025-09-05");
    as(INSP);
    before = log_size();
    refused(ql_commit_verify(F->c, "LT", NULL, NULL, &d), QL_ERULE, &d,
            "while 1 spot-check is pending", before);
    spot_pass("2025-09-05", D);
    on("2025-09-06");
    as(INSP);
    ok(ql_commit_verify(F->c, "LT", NULL, &idx, &d), &d);
    {
        struct ql_entry e;

        read_entry(idx, &e);
        assert_string_equal(e.action, "commit.verify");
        u = unit_status(&st, "LT");
        assert_string_equal(clear_of(&e, "scope_hash"), u->scope_hash);
        assert_int_equal(u->verdict, QL_VERDICT_CLEARED);
        assert_int_equal(u->verify_idx, idx);
        ql_status_free(st);
        ql_entry_release(&e);
    }
    before = log_size();
    refused(ql_commit_verify(F->c, "LT", NULL, NULL, &d), QL_EEXIST, &d,
            "is verified already", before);
    /* A later check changes the scope: verify again. */
    spot_pass("2025-09-07", D);
    u = unit_status(&st, "LT");
    assert_int_equal(u->verdict, QL_VERDICT_DECLARED);
    ql_status_free(st);
    verify("2025-09-08");
    u = unit_status(&st, "LT");
    assert_int_equal(u->verdict, QL_VERDICT_CLEARED);
    ql_status_free(st);
    ok(ql_county_replay_check(F->c, &d), &d);
}

static void
test_spotcheck(void **state)
{
    struct ql_wf_kv f[1] = {{"spot_opinion_no", "评〔2025〕9号"}};
    struct ql_diag d;
    bool pending = true;
    uint64_t n;

    (void)state;
    add(A, "LT", "2025-07-01", NULL);
    on("2025-07-02");
    as(INSP);
    n = log_size();
    refused(ql_commit_spotcheck(F->c, A, true, f, 1, NULL, &pending, &d),
            QL_ERULE, &d, "transition 'spot_pass' does not leave state 'NEW'",
            n);
    close_lead(A, "2025-07-05", "2025-08-01", "查否", NULL);
    on("2025-07-06");
    as(LT_HC);
    n = log_size();
    refused(ql_commit_spotcheck(F->c, A, true, f, 1, NULL, &pending, &d),
            QL_EDENIED, &d, "has no role that may take 'spot_pass'", n);
    as(INSP);
    refused(ql_commit_spotcheck(F->c, A, true, NULL, 0, NULL, &pending, &d),
            QL_EFORMAT, &d, "needs field", n);
    ok(ql_commit_spotcheck(F->c, A, true, f, 1, "抽查通过", &pending, &d), &d);
    assert_false(pending);
}

/* ---- the sample rule, as a pure function ---- */

static void
test_draw(void **state)
{
    static const struct {
        size_t n, mandatory, want;
    } cases[] = {
        {0, 0, 0},    {1, 0, 1},    {2, 0, 2},    {3, 0, 2},
        {3, 3, 3},    {20, 0, 2},   {21, 0, 3},   {25, 2, 5},
        {100, 5, 15}, {100, 0, 10}, {101, 0, 11}, {5, 4, 5},
    };
    struct ql_sample_candidate cand[128], again[128];
    char ids[128][16];
    uint8_t seed[QL_HASH_LEN], other[QL_HASH_LEN];
    struct ql_diag d;
    size_t i, j, count = 0, differ = 0;

    (void)state;
    memset(seed, 0x5a, sizeof seed);
    memset(other, 0xa5, sizeof other);
    for (i = 0; i < 128; i++)
        snprintf(ids[i], sizeof ids[i], "C-%03zu", i + 1);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t chosen = 0;

        print_message("draw: %zu leads, %zu mandatory\n", cases[i].n,
                      cases[i].mandatory);
        for (j = 0; j < cases[i].n; j++) {
            cand[j].id = ids[j];
            cand[j].mandatory = j < cases[i].mandatory;
            cand[j].chosen = false;
        }
        ok(ql_commit_draw(ql_profile_default(), seed, "LT", "2025Q3", cand,
                          cases[i].n, &count, &d),
           &d);
        assert_int_equal(count, cases[i].want);
        for (j = 0; j < cases[i].n; j++) {
            if (cand[j].mandatory)
                assert_true(cand[j].chosen);
            chosen += cand[j].chosen;
        }
        assert_int_equal(chosen, cases[i].want);
        /* The same seed draws the same leads, in any order of input. */
        for (j = 0; j < cases[i].n; j++)
            again[j] = cand[cases[i].n - 1 - j];
        ok(ql_commit_draw(ql_profile_default(), seed, "LT", "2025Q3", again,
                          cases[i].n, NULL, &d),
           &d);
        for (j = 0; j < cases[i].n; j++)
            assert_int_equal(again[j].chosen, cand[cases[i].n - 1 - j].chosen);
    }
    /* Another seed, another unit or cycle: another draw. */
    for (j = 0; j < 100; j++) {
        cand[j].id = ids[j];
        cand[j].mandatory = false;
        again[j] = cand[j];
    }
    ok(ql_commit_draw(ql_profile_default(), seed, "LT", "2025Q3", cand, 100,
                      NULL, &d),
       &d);
    ok(ql_commit_draw(ql_profile_default(), other, "LT", "2025Q3", again, 100,
                      NULL, &d),
       &d);
    for (j = 0; j < 100; j++)
        differ += cand[j].chosen != again[j].chosen;
    assert_true(differ > 0);
    for (j = 0; j < 100; j++)
        again[j].chosen = false;
    ok(ql_commit_draw(ql_profile_default(), seed, "QY", "2025Q3", again, 100,
                      NULL, &d),
       &d);
    for (j = 0, differ = 0; j < 100; j++)
        differ += cand[j].chosen != again[j].chosen;
    assert_true(differ > 0);
}

/* ---- reading ---- */

struct seen {
    size_t commitments, events;
    char kinds[64];
};

static ql_err
count_commitment(void *ctx, const struct ql_commit_info *ci, struct ql_diag *d)
{
    struct seen *s = ctx;

    (void)d;
    assert_string_equal(ci->unit, "LT");
    assert_string_equal(ci->signer, "LT-fzr-01");
    assert_string_equal(ci->time, "2025-06-30T02:00:00Z");
    s->commitments++;
    return QL_OK;
}

static ql_err
count_event(void *ctx, const struct ql_commit_event *ev, struct ql_diag *d)
{
    struct seen *s = ctx;
    size_t at = strlen(s->kinds);

    (void)d;
    snprintf(s->kinds + at, sizeof s->kinds - at, "%s%s", at ? "," : "",
             ev->kind);
    if (strcmp(ev->kind, "declare") != 0)
        assert_true(ev->has_ref);
    s->events++;
    return QL_OK;
}

static ql_err
stop_here(void *ctx, const struct ql_commit_info *ci, struct ql_diag *d)
{
    (void)ctx;
    (void)ci;
    return ql_fail(d, QL_EUSAGE, "stopped");
}

static void
test_reading(void **state)
{
    struct seen s;
    struct ql_diag d;

    (void)state;
    memset(&s, 0, sizeof s);
    add(A, "LT", "2025-07-01", NULL);
    sign(LT_HEAD, "LT");
    close_lead(A, "2025-07-05", "2025-08-01", "查实", NULL);
    declare("2025-09-01");
    sample("2025-09-02");
    spot_pass("2025-09-03", A);
    verify("2025-09-04");
    ok(ql_commit_list(F->c, NULL, NULL, count_commitment, &s, &d), &d);
    ok(ql_commit_events(F->c, "LT", "2025Q3", count_event, &s, &d), &d);
    assert_int_equal(s.commitments, 1);
    assert_string_equal(s.kinds, "declare,sample,verify");
    assert_int_equal(ql_commit_list(F->c, "LT", NULL, stop_here, NULL, &d),
                     QL_EUSAGE);
    assert_string_equal(d.msg, "stopped");
    ok(ql_commit_list(F->c, "QY", NULL, stop_here, NULL, &d), &d);
}

/* ---- replay refuses forged commitment entries ---- */

/* Appends a commitment entry signed by w, without applying it. */
static void
forge(enum who w, const char *action, const char *unit,
      const char *const *clear)
{
    struct ql_store *s = ql_county_store(F->c);
    const struct ql_key *keys[1] = {G->k[w]};
    struct ql_entry e;
    struct ql_diag d;
    char *text = NULL, *note = NULL;
    size_t len = 0, nlen = 0, i;

    ql_entry_init(&e);
    e.index = log_size();
    snprintf(e.time, sizeof e.time, "2025-09-20T02:00:00Z");
    ok(ql_entry_set_actor(&e, PEOPLE[w].name, &d), &d);
    snprintf(e.unit, sizeof e.unit, "%s", unit);
    snprintf(e.action, sizeof e.action, "%s", action);
    for (i = 0; clear[i] != NULL; i += 2)
        ok(ql_entry_add_clear(&e, clear[i], clear[i + 1], &d), &d);
    ok(ql_entry_format(&e, &text, &len, &d), &d);
    ok(ql_note_sign(text, len, keys, 1, &note, &nlen, &d), &d);
    ok(ql_store_begin(s, &d), &d);
    ok(ql_log_append_note(ql_county_log(F->c), note, nlen, &d), &d);
    ok(ql_store_commit(s, &d), &d);
    free(text);
    free(note);
    ql_entry_release(&e);
}

static void
test_forged_entries(void **state)
{
    static const char *const unsigned_decl[] = {
        "checkpoint_root", "AAAA", "checkpoint_size", "1", "cycle", "2025Q3",
        "scope_hash",      "00",   "scope_leads",     "0", NULL};
    static const char *const orphan_sample[] = {
        "cycle",      "2025Q3", "declaration",     "3",
        "leads",      "",       "mandatory",       "",
        "population", "0",      "population_hash", "00",
        "seed_root",  "AAAA",   "seed_size",       "1",
        NULL};
    /* clang-format off */
    static const char *const bad_list[] = {
        "cycle", "2025Q3", "declaration", "0", "leads", "C-001  C-002",
        "mandatory", "", "population", "0", "population_hash", "00",
        "seed_root", "AAAA", "seed_size", "1", NULL};
    /* clang-format on */
    static const char *const no_scope[] = {"cycle", "2025Q3", NULL};
    static const char *const unknown[] = {"cycle", "2025Q3", NULL};
    static const struct {
        const char *name, *action, *unit;
        const char *const *clear;
        const char *msg;
    } cases[] = {
        {"a declaration never signed for", "commit.declare", "QY",
         unsigned_decl, "that was never signed"},
        {"a sample of no declaration", "commit.sample", "LT", orphan_sample,
         "which is no declaration of unit LT"},
        {"a malformed lead list", "commit.sample", "LT", bad_list,
         "a malformed lead list"},
        {"a declaration without its scope", "commit.declare", "LT", no_scope,
         "lacks 'scope_hash'"},
        {"an unknown commitment action", "commit.retract", "LT", unknown,
         "unknown action 'commit.retract'"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ql_diag d;
        void *fx = NULL;
        uint64_t decl = 0;
        ql_err rc;

        print_message("forged: %s\n", cases[i].name);
        setup(&fx);
        sign(LT_HEAD, "LT");
        if (strcmp(cases[i].name, "a malformed lead list") == 0) {
            static const char *patched[17];
            char num[24];
            size_t j;

            on("2025-07-01");
            as(LT_HEAD);
            ok(ql_commit_declare(F->c, "LT", NULL, &decl, &d), &d);
            snprintf(num, sizeof num, "%llu", (unsigned long long)decl);
            for (j = 0; cases[i].clear[j] != NULL; j++)
                patched[j] = cases[i].clear[j];
            patched[j] = NULL;
            patched[3] = num;
            forge(LT_HEAD, cases[i].action, cases[i].unit, patched);
        } else {
            forge(LT_HEAD, cases[i].action, cases[i].unit, cases[i].clear);
        }
        rc = ql_county_replay_check(F->c, &d);
        if (rc != QL_EINTEGRITY || strstr(d.msg, cases[i].msg) == NULL)
            fail_msg("%s: got %s '%s', want '%s'", cases[i].name,
                     ql_errname(rc), d.msg, cases[i].msg);
        teardown(&fx);
    }
}

/*
 * The auditor draws the sample again with the mandatory leads it works out
 * from the log itself (a negative finding, and a merged duplicate or a
 * reporter not satisfied): a sample signed by a real inspector that leaves
 * one of them to the draw, or calls another lead mandatory, fails at its
 * entry.
 */
static void
test_sample_mandatory_audited(void **state)
{
    char *before = qlt_join(F->dir, "before.db"), *copy;
    const char *fields[2 * QL_ENTRY_CLEAR_MAX + 1];
    char only_a[80], only_b[80], extra[256], logkey[600], keycopy[600];
    struct ql_audit_result res;
    struct ql_entry e;
    struct ql_diag d;
    uint64_t idx = 0;
    size_t i, k;
    ql_err rc;

    (void)state;
    sample_county();
    declare("2025-09-01");
    /* The store just before the sample, to forge one in its place. */
    ql_county_close(F->c);
    copy_file(F->db, before);
    snprintf(logkey, sizeof logkey, "%s.logkey", F->db);
    snprintf(keycopy, sizeof keycopy, "%s.logkey", before);
    copy_file(logkey, keycopy);
    ok(ql_county_open(F->db, 0, &F->c, &d), &d);
    on("2025-09-02");
    as(INSP);
    ok(ql_commit_sample(F->c, "LT", NULL, &idx, &d), &d);
    ok(ql_audit_verify(F->c, G->k[ADMIN], &res, &d), &d);
    assert_int_equal(res.entries, idx + 1);
    read_entry(idx, &e);
    snprintf(extra, sizeof extra, "%s %s", A, B);
    assert_string_equal(clear_of(&e, "mandatory"), extra);
    /* A third lead of those drawn, which nothing makes mandatory. */
    {
        const char *drawn = clear_of(&e, "leads"), *p = drawn;

        while (p != NULL && (strncmp(p, A, strlen(A)) == 0 ||
                             strncmp(p, B, strlen(B)) == 0))
            p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
        assert_non_null(p);
        snprintf(extra, sizeof extra, "%s %s %.*s", A, B,
                 (int)(strchr(p, ' ') ? (size_t)(strchr(p, ' ') - p)
                                      : strlen(p)),
                 p);
    }
    snprintf(only_a, sizeof only_a, "%s", A);
    snprintf(only_b, sizeof only_b, "%s", B);
    ql_county_close(F->c);
    F->c = NULL;

    {
        const struct {
            const char *name, *mandatory;
        } cases[] = {
            {"the merged duplicate left to the draw", only_a},
            {"the unsatisfied reporter's lead left to the draw", only_b},
            {"no mandatory lead at all", ""},
            {"a lead that nothing makes mandatory", extra},
        };

        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            print_message("sample: %s\n", cases[i].name);
            copy = qlt_join(F->dir, "forged.db");
            copy_file(before, copy);
            snprintf(keycopy, sizeof keycopy, "%s.logkey", copy);
            copy_file(logkey, keycopy);
            ok(ql_county_open(copy, 0, &F->c, &d), &d);
            for (k = 0; k < e.nclear; k++) {
                fields[2 * k] = e.clear[k].name;
                fields[2 * k + 1] = strcmp(e.clear[k].name, "mandatory") == 0
                                        ? cases[i].mandatory
                                        : e.clear[k].value;
            }
            fields[2 * k] = NULL;
            forge(INSP, "commit.sample", "LT", fields);
            rc = ql_audit_verify(F->c, G->k[ADMIN], &res, &d);
            if (rc != QL_EINTEGRITY ||
                strstr(d.msg, "the sample's mandatory leads are not the "
                              "ones the rule makes mandatory") == NULL)
                fail_msg("%s: got %s '%s'", cases[i].name, ql_errname(rc),
                         d.msg);
            assert_int_equal(res.bad_index, idx);
            ql_county_close(F->c);
            F->c = NULL;
            free(copy);
        }
    }
    ql_entry_release(&e);
    ok(ql_county_open(F->db, 0, &F->c, &d), &d);
    free(before);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declare_blocked_by_proposal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redeclare_after_breach, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spotcheck, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reading, setup, teardown),
        cmocka_unit_test(test_draw),
        cmocka_unit_test(test_forged_entries),
        cmocka_unit_test_setup_teardown(test_sample_mandatory_audited, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
