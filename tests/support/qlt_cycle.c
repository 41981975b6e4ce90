/* The scripted county of the commitment and status tests (qlt_cycle.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * A small workflow with the names the figures and spot-checks read:
 * registration, acceptance with a due date, extension, urging, report,
 * return, closure with feedback, parking, merging, and spot-checks with a
 * director's approval for sending a lead back.
 */
static const char WF[] =
    "return {\n"
    "  name = 'commit_flow', title = '承诺测试', initial = 'NEW',\n"
    "  id_format = 'C-{seq:3}',\n"
    "  create = {'registrar'},\n"
    "  roles = {{name='registrar'}, {name='triage'}, {name='director'},\n"
    "    {name='liaison'}, {name='verifier'}, {name='head'},\n"
    "    {name='inspector'}},\n"
    "  secret_roles = {'registrar', 'director'},\n"
    "  fields = {\n"
    "    {name='source', type='enum', clear=true, required=true,\n"
    "     values={'群众举报', '自行发现(摸排)'}},\n"
    "    {name='named', type='enum', clear=true, values={'实名', '匿名'}},\n"
    "    {name='summary', type='text', required=true},\n"
    "    {name='reporter', type='text', secret=true},\n"
    "    {name='due_at', type='date', clear=true},\n"
    "    {name='extended_due', type='date', clear=true},\n"
    "    {name='redo_due', type='date', clear=true},\n"
    "    {name='finding', type='enum', clear=true,\n"
    "     values={'查实', '部分查实', '查否', '不属于涉黑涉恶'}},\n"
    "    {name='feedback_opinion', type='enum', clear=true,\n"
    "     values={'满意', '基本满意', '不满意', '未表态'}},\n"
    "    {name='priority', type='enum', clear=true,\n"
    "     values={'一般', '重点督办'}},\n"
    "    {name='master_lead', type='text', clear=true},\n"
    "    {name='spot_opinion_no', type='text'},\n"
    "  },\n"
    "  states = {\n"
    "    {name='NEW', label='已登记'},\n"
    "    {name='VERIFYING', label='核查中'},\n"
    "    {name='REPORTED', label='已报告', limit={workdays=5}},\n"
    "    {name='RETURNED', label='退回', limit={workdays=10}},\n"
    "    {name='CLOSED', label='已办结', terminal=true, cleared=true},\n"
    "    {name='PARKED', label='暂存', cleared=true},\n"
    "    {name='MERGED', label='已合并', terminal=true, cleared=true},\n"
    "  },\n"
    "  transitions = {\n"
    "    {name='accept', from='NEW', to='VERIFYING', roles={'triage'},\n"
    "     require={'due_at'}, due='due_at'},\n"
    "    {name='extend', from='VERIFYING', to='VERIFYING',\n"
    "     roles={'triage'}, require={'extended_due'}, due='extended_due'},\n"
    "    {name='urge', from='VERIFYING', to='VERIFYING',\n"
    "     roles={'director'}},\n"
    "    {name='report', from={'VERIFYING', 'RETURNED'}, to='REPORTED',\n"
    "     roles={'verifier'}, require={'finding'}},\n"
    "    {name='return', from='REPORTED', to='RETURNED',\n"
    "     roles={'director'}},\n"
    "    {name='close', from='REPORTED', to='CLOSED', roles={'director'}},\n"
    "    {name='park', from='NEW', to='PARKED', roles={'triage'}},\n"
    "    {name='reactivate', from='PARKED', to='NEW', roles={'triage'}},\n"
    "    {name='merge', from='NEW', to='MERGED', roles={'triage'},\n"
    "     require={'master_lead'}, merge='master_lead'},\n"
    "    {name='spot_pass', from='CLOSED', to='CLOSED',\n"
    "     roles={'inspector'}, require={'spot_opinion_no'}},\n"
    "    {name='spot_return', from='CLOSED', to='RETURNED',\n"
    "     roles={'inspector'}, approval='director',\n"
    "     require={'spot_opinion_no', 'redo_due'}, due='redo_due'},\n"
    "  },\n"
    "}\n";


const struct qlt_person PEOPLE[NKEYS] = {
    {"admin", NULL, NULL},
    {"sh-dengji-01", "SH", "registrar"},
    {"sh-yanpan-01", "SH", "triage"},
    {"sh-zhuren-01", "SH", "director"},
    {"dd-pc-01", "SH", "inspector"},
    {"LT-hc-01", "LT", "verifier"},
    {"LT-fzr-01", "LT", "head"},
    {"QY-fzr-01", "QY", "head"},
};


struct group *G;


struct fx *F;

void
at(const char *rfc3339)
{
    struct ql_diag d;
    int64_t t;

    assert_int_equal(ql_time_parse(rfc3339, strlen(rfc3339), &t, &d), QL_OK);
    ql_county_set_now(F->c, t);
}

/* 10:00 local time on a date. */
void
on(const char *date)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%sT02:00:00Z", date);
    at(buf);
}

void
as(enum who w)
{
    ql_county_set_actor(F->c, G->k[w]);
}

void
ok(ql_err rc, const struct ql_diag *d)
{
    if (rc != QL_OK)
        fail_msg("%s: %s", ql_errname(rc), d->msg);
}

void
copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *buf = qlt_read_file(from, &len);

    qlt_write_file(to, buf, len);
    free(buf);
}

int
group_setup(void **state)
{
    struct group *g = calloc(1, sizeof *g);
    struct ql_county *c = NULL;
    struct ql_diag d;
    char *cal_path, *cal;
    size_t cal_len, i;

    (void)state;
    G = g;
    assert_int_equal(ql_crypto_init(&d), QL_OK);
    g->dir = qlt_tempdir();
    g->db = qlt_join(g->dir, "county.db");
    for (i = 0; i < NKEYS; i++)
        ok(ql_key_generate(ql_profile_default(), PEOPLE[i].name, &g->k[i], &d),
           &d);
    ok(ql_county_create(g->db, "qinghe.test/leads", g->k[ADMIN], NULL,
                        1751248800 /* 2025-06-30T02:00:00Z */, &d),
       &d);
    ok(ql_county_open(g->db, 0, &c, &d), &d);
    ql_county_set_now(c, 1751248800);
    ql_county_set_actor(c, g->k[ADMIN]);
    ok(ql_county_unit_add(c, "SH", "青禾县扫黑办", QL_KIND_SUPERVISION, &d),
       &d);
    ok(ql_county_unit_add(c, "LT", "青禾县鹭汀镇人民政府", QL_KIND_TOWNSHIP,
                          &d),
       &d);
    ok(ql_county_unit_add(c, "QY", "青禾县栖云乡人民政府", QL_KIND_TOWNSHIP,
                          &d),
       &d);
    ok(ql_county_unit_add(c, "AU", "青禾县纪委监委", QL_KIND_AUDIT, &d), &d);
    for (i = 1; i < NKEYS; i++)
        ok(ql_county_principal_add(c, g->k[i], PEOPLE[i].unit, PEOPLE[i].roles,
                                   &d),
           &d);
    ok(ql_county_workflow_add(c, "commit_flow.lua", WF, strlen(WF), NULL, &d),
       &d);
    cal_path = qlt_data_path("../../workflows/calendars/cn.cal");
    cal = qlt_read_file(cal_path, &cal_len);
    ok(ql_county_calendar_set(c, "cn.cal", cal, cal_len, &d), &d);
    free(cal);
    free(cal_path);
    ql_county_close(c);
    return 0;
}

int
group_teardown(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NKEYS; i++)
        ql_key_free(G->k[i]);
    free(G->db);
    qlt_rmtree(G->dir);
    free(G);
    return 0;
}

int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct ql_diag d;
    char *from, *to;

    F = f;
    f->dir = qlt_tempdir();
    f->db = qlt_join(f->dir, "county.db");
    copy_file(G->db, f->db);
    from = qlt_join(G->dir, "county.db.logkey");
    to = qlt_join(f->dir, "county.db.logkey");
    copy_file(from, to);
    free(from);
    free(to);
    ok(ql_county_open(f->db, 0, &f->c, &d), &d);
    *state = f;
    return 0;
}

int
teardown(void **state)
{
    struct fx *f = *state;

    ql_county_close(f->c);
    free(f->db);
    qlt_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- scripting leads ---- */

/* Registers a lead in unit on date (10:00 local); id gets its id. */
void
add(char *id, const char *unit, const char *date, const char *named)
{
    struct ql_wf_kv fields[] = {
        {"source", "群众举报"},
        {"summary", "主要问题（测试）"},
        {"reporter", "举报人甲，000-0000-0000"},
        {"named", named ? named : "匿名"},
    };
    struct ql_diag d;

    on(date);
    as(REG);
    ok(ql_lead_add(F->c, "commit_flow", unit, fields, 4, id, &d), &d);
}

void
move(enum who w, const char *date, const char *id, const char *t,
     const char *name, const char *value)
{
    struct ql_wf_kv f[1] = {{name, value}};
    struct ql_diag d;

    on(date);
    as(w);
    ok(ql_lead_move(F->c, id, t, f, name ? 1 : 0, NULL, NULL, &d), &d);
}

void
approve(enum who w, const char *date, const char *id)
{
    struct ql_diag d;

    on(date);
    as(w);
    ok(ql_lead_approve(F->c, id, &d), &d);
}

/* Accepted with due_at, reported with finding, closed with feedback. */
void
close_lead(const char *id, const char *day, const char *due,
           const char *finding, const char *feedback)
{
    struct ql_wf_kv fb[1] = {{"feedback_opinion", feedback}};
    struct ql_diag d;

    move(TRI, day, id, "accept", "due_at", due);
    move(LT_HC, day, id, "report", "finding", finding);
    on(day);
    as(DIR);
    ok(ql_lead_move(F->c, id, "close", fb, feedback ? 1 : 0, NULL, NULL, &d),
       &d);
}

void
sign(enum who head, const char *unit)
{
    struct ql_diag d;

    on("2025-06-30");
    as(head);
    ok(ql_commit_sign(F->c, unit, "2025Q3", "2025-08-31", "2025-09-30", NULL,
                      NULL, &d),
       &d);
}

void
declare(const char *date)
{
    struct ql_diag d;

    on(date);
    as(LT_HEAD);
    ok(ql_commit_declare(F->c, "LT", NULL, NULL, &d), &d);
}

void
sample(const char *date)
{
    struct ql_diag d;

    on(date);
    as(INSP);
    ok(ql_commit_sample(F->c, "LT", NULL, NULL, &d), &d);
}

void
verify(const char *date)
{
    struct ql_diag d;

    on(date);
    as(INSP);
    ok(ql_commit_verify(F->c, "LT", NULL, NULL, &d), &d);
}

void
spot_pass(const char *date, const char *id)
{
    move(INSP, date, id, "spot_pass", "spot_opinion_no", "评〔2025〕1号");
}

void
spot_return(const char *date, const char *id, const char *redo)
{
    struct ql_wf_kv f[2] = {{"spot_opinion_no", "评〔2025〕2号"},
                            {"redo_due", redo}};
    struct ql_diag d;
    bool pending = false;

    on(date);
    as(INSP);
    ok(ql_commit_spotcheck(F->c, id, false, f, 2, NULL, &pending, &d), &d);
    assert_true(pending);
}
