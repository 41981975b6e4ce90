/*
 * Guards inside a batch (engine/ql_lua_conv.c keeps a call's argument
 * tables for the next call; engine/ql_workflow.c builds the lead and ctx
 * trees on the stack): every guard of a batch sees its own lead and
 * nothing of the one before, a guard that fails or refuses rolls the
 * batch back, and the next batch's guards still see their own leads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_test.h"

/* 2025-09-15T02:00:00Z */
#define NOW 1757901600

/*
 * The guard answers true only when the lead it sees is the one the test
 * wrote: tags is a list of `want` lines, each "<summary>-<n>", and nothing
 * but the fields written is there. It fails on "boom" and refuses a
 * summary starting with "refuse". Any value left from an earlier call
 * (another lead's tags, a field it did not have) makes it refuse with
 * what it saw.
 */
static const char WF[] =
    "local function check(lead, ctx)\n"
    "  local f = lead.fields\n"
    "  if f.summary == 'probe' then\n"
    "    return false, 'earlier lead had tags: ' .. tostring((pcall(next, f, "
    "'tags')))\n"
    "  end\n"
    "  if f.summary == 'boom' then error('boom in guard') end\n"
    "  if f.summary:sub(1, 6) == 'refuse' then\n"
    "    return false, 'refused ' .. f.summary\n"
    "  end\n"
    "  local want = tonumber(f.want)\n"
    "  local n, seen = 0, 0\n"
    "  if f.tags ~= nil then\n"
    "    for i, v in ipairs(f.tags) do\n"
    "      if v ~= f.summary .. '-' .. i then\n"
    "        return false, 'tag ' .. i .. ' is ' .. v\n"
    "      end\n"
    "      n = i\n"
    "    end\n"
    "    for k in pairs(f.tags) do seen = seen + 1 end\n"
    "  end\n"
    "  if n ~= want or seen ~= want or #(f.tags or {}) ~= want then\n"
    "    return false, 'saw ' .. n .. '/' .. seen .. ' tags, want ' .. want\n"
    "  end\n"
    "  for k in pairs(f) do\n"
    "    if k ~= 'summary' and k ~= 'want' and k ~= 'tags' and\n"
    "       k ~= 'source' then\n"
    "      return false, 'stray field ' .. k\n"
    "    end\n"
    "  end\n"
    "  if ctx.transition ~= 'triage' or ctx.roles[1] ~= 'triage' or\n"
    "     ctx.roles[2] ~= nil or lead.state ~= 'NEW' or\n"
    "     ctx.to ~= 'TRIAGE' then\n"
    "    return false, 'bad ctx'\n"
    "  end\n"
    "  return true\n"
    "end\n"
    "return {\n"
    "  name = 'pool_flow', title = 'pool', initial = 'NEW',\n"
    "  id_format = 'P-{year}-{seq:4}',\n"
    "  create = {'registrar'},\n"
    "  roles = {{name = 'registrar', label = 'r'},\n"
    "           {name = 'triage', label = 't'}},\n"
    "  fields = {\n"
    "    {name = 'source', label = 's', type = 'enum',\n"
    "     values = {'a', 'b'}, clear = true, required = true},\n"
    "    {name = 'summary', label = 'm', type = 'text', required = true},\n"
    "    {name = 'want', label = 'w', type = 'number', clear = true},\n"
    "    {name = 'tags', label = 'g', type = 'list'},\n"
    "  },\n"
    "  states = {\n"
    "    {name = 'NEW', label = 'n'},\n"
    "    {name = 'TRIAGE', label = 't', terminal = true},\n"
    "  },\n"
    "  transitions = {\n"
    "    {name = 'triage', label = 't', from = 'NEW', to = 'TRIAGE',\n"
    "     roles = {'triage'}, guard = check},\n"
    "  },\n"
    "}\n";

enum who { ADMIN, REG, TRI, NKEYS };

static const struct {
    const char *name, *roles;
} PEOPLE[NKEYS] = {
    {"admin", NULL},
    {"sh-reg-01", "registrar"},
    {"sh-tri-01", "triage"},
};

struct fx {
    char *dir, *path;
    struct ql_key *k[NKEYS];
    struct ql_county *c;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct ql_diag d;
    size_t i;

    assert_non_null(f);
    assert_int_equal(ql_crypto_init(&d), QL_OK);
    f->dir = qlt_tempdir();
    f->path = qlt_join(f->dir, "county.db");
    for (i = 0; i < NKEYS; i++)
        assert_int_equal(ql_key_generate(ql_profile_default(), PEOPLE[i].name,
                                         &f->k[i], &d),
                         QL_OK);
    assert_int_equal(ql_county_create(f->path, "qinghe.test/pool", f->k[ADMIN],
                                      NULL, NOW, &d),
                     QL_OK);
    assert_int_equal(ql_county_open(f->path, 0, &f->c, &d), QL_OK);
    ql_county_set_now(f->c, NOW);
    ql_county_set_actor(f->c, f->k[ADMIN]);
    assert_int_equal(ql_county_unit_add(f->c, "SH", "青禾县扫黑办",
                                        QL_KIND_SUPERVISION, &d),
                     QL_OK);
    for (i = 1; i < NKEYS; i++)
        assert_int_equal(ql_county_principal_add(f->c, f->k[i], "SH",
                                                 PEOPLE[i].roles, &d),
                         QL_OK);
    assert_int_equal(ql_county_workflow_add(f->c, "pool_flow.lua", WF,
                                            strlen(WF), NULL, &d),
                     QL_OK);
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
    free(f->path);
    qlt_rmtree(f->dir);
    free(f);
    return 0;
}

static uint64_t
log_size(struct fx *f)
{
    struct ql_diag d;
    uint64_t n = 0;

    assert_int_equal(ql_log_size(ql_county_log(f->c), &n, &d), QL_OK);
    return n;
}

/*
 * One lead of a batch: its summary, how many tags, and whether the move
 * carries a fresh tag list (else the tags were set at registration).
 */
struct plan {
    char summary[32];
    int tags;
    bool at_move;
};

/* "<summary>-1\n<summary>-2...", n tags, in buf. */
static void
tag_text(char *buf, size_t cap, const char *summary, int n)
{
    size_t used = 0;
    int i, w;

    buf[0] = '\0';
    for (i = 1; i <= n; i++) {
        w = snprintf(buf + used, cap - used, "%s%s-%d", i > 1 ? "\n" : "",
                     summary, i);
        assert_true(w > 0 && (size_t)w < cap - used);
        used += (size_t)w;
    }
}

/*
 * Registers p's lead and moves it through the guarded transition; returns
 * the move's result, with the lead's id in id.
 */
static ql_err
add_and_move(struct fx *f, const struct plan *p, char *id, struct ql_diag *d)
{
    static char tags[8192];
    char want[16];
    struct ql_wf_kv add[4], mv[2];
    size_t nadd = 0, nmv = 0;
    ql_err rc;

    tag_text(tags, sizeof tags, p->summary, p->tags);
    snprintf(want, sizeof want, "%d", p->tags);
    add[nadd++] = (struct ql_wf_kv){"source", "a"};
    add[nadd++] = (struct ql_wf_kv){"summary", p->summary};
    if (p->at_move) {
        mv[nmv++] = (struct ql_wf_kv){"want", want};
        if (p->tags > 0)
            mv[nmv++] = (struct ql_wf_kv){"tags", tags};
    } else {
        add[nadd++] = (struct ql_wf_kv){"want", want};
        if (p->tags > 0)
            add[nadd++] = (struct ql_wf_kv){"tags", tags};
    }
    ql_county_set_actor(f->c, f->k[REG]);
    if ((rc = ql_lead_add(f->c, "pool_flow", NULL, add, nadd, id, d)) != QL_OK)
        return rc;
    ql_county_set_actor(f->c, f->k[TRI]);
    return ql_lead_move(f->c, id, "triage", mv, nmv, NULL, NULL, d);
}

/*
 * Leads with 0 to 70 tags, one after another in one batch: the argument
 * tables a guard gets are the ones the call before used, emptied (a kept
 * table that held more than 64 entries is dropped and made afresh).
 */
static void
fill_plans(struct plan *p, size_t n, const char *prefix)
{
    static const int sizes[] = {3, 0, 70, 1, 65, 2, 0, 40, 5};
    size_t i;

    for (i = 0; i < n; i++) {
        snprintf(p[i].summary, sizeof p[i].summary, "%s%zu", prefix, i);
        p[i].tags = sizes[i % (sizeof sizes / sizeof sizes[0])];
        p[i].at_move = i % 2 == 1;
    }
}

/* Every lead of plans is in TRIAGE with its own tags. */
static void
check_leads(struct fx *f, const struct plan *p, char ids[][64], size_t n)
{
    static char tags[8192];
    struct ql_lead *l;
    struct ql_diag d;
    size_t i;

    ql_county_set_actor(f->c, f->k[TRI]);
    for (i = 0; i < n; i++) {
        l = NULL;
        assert_int_equal(ql_lead_load(f->c, ids[i], &l, &d), QL_OK);
        assert_string_equal(ql_lead_state(l), "TRIAGE");
        assert_string_equal(ql_lead_get(l, "summary"), p[i].summary);
        if (p[i].tags > 0) {
            tag_text(tags, sizeof tags, p[i].summary, p[i].tags);
            assert_string_equal(ql_lead_get(l, "tags"), tags);
        } else {
            assert_null(ql_lead_get(l, "tags"));
        }
        ql_lead_free(l);
    }
}

#define NLEADS 27

/* The guards of one batch each see their own lead; the batch commits. */
static void
test_batch_guards_see_their_lead(void **state)
{
    struct fx *f = *state;
    struct plan p[NLEADS];
    char ids[NLEADS][64];
    struct ql_diag d;
    uint64_t n0 = log_size(f);
    size_t i;

    fill_plans(p, NLEADS, "lead");
    assert_int_equal(ql_county_batch_begin(f->c, &d), QL_OK);
    for (i = 0; i < NLEADS; i++) {
        print_message("%s: %d tags%s\n", p[i].summary, p[i].tags,
                      p[i].at_move ? " at the move" : "");
        if (add_and_move(f, &p[i], ids[i], &d) != QL_OK)
            fail_msg("%s: %s", p[i].summary, d.msg);
    }
    assert_int_equal(ql_county_batch_commit(f->c, &d), QL_OK);
    assert_true(log_size(f) >= n0 + 2 * NLEADS);
    check_leads(f, p, ids, NLEADS);
    assert_int_equal(ql_county_replay_check(f->c, &d), QL_OK);
}

/*
 * A guard that fails, or refuses, in the middle of a batch rolls the
 * whole batch back; the guards of the next batch, on the same state and
 * its kept tables, still see only their own leads.
 */
static void
test_batch_guard_failure_rolls_back(void **state)
{
    static const struct {
        const char *summary;
        ql_err code;
        const char *msg;
    } bad[] = {
        {"boom", QL_ESCRIPT, "boom in guard"},
        {"refuse-me", QL_ERULE, "refused refuse-me"},
    };
    struct fx *f = *state;
    struct plan p[NLEADS], odd;
    char ids[NLEADS][64], id[64];
    struct ql_lead *l;
    struct ql_diag d;
    uint64_t n0 = log_size(f);
    size_t i, k;

    for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        print_message("%s in a batch\n", bad[k].summary);
        fill_plans(p, NLEADS, k == 0 ? "first" : "second");
        assert_int_equal(ql_county_batch_begin(f->c, &d), QL_OK);
        for (i = 0; i < 10; i++)
            assert_int_equal(add_and_move(f, &p[i], ids[i], &d), QL_OK);
        memset(&odd, 0, sizeof odd);
        snprintf(odd.summary, sizeof odd.summary, "%s", bad[k].summary);
        odd.tags = 66;
        assert_int_equal(add_and_move(f, &odd, id, &d), bad[k].code);
        assert_non_null(strstr(d.msg, bad[k].msg));
        /* The failure rolled the batch back: nothing of it is left. */
        assert_int_equal(ql_county_batch_commit(f->c, &d), QL_EUSAGE);
        ql_county_batch_abort(f->c);
        assert_int_equal(log_size(f), n0);
        ql_county_set_actor(f->c, f->k[TRI]);
        l = NULL;
        assert_int_equal(ql_lead_load(f->c, ids[0], &l, &d), QL_ENOTFOUND);
        ql_lead_free(l);
        /* The same leads again, in a batch that commits. */
        assert_int_equal(ql_county_batch_begin(f->c, &d), QL_OK);
        for (i = 0; i < NLEADS; i++)
            if (add_and_move(f, &p[i], ids[i], &d) != QL_OK)
                fail_msg("%s: %s", p[i].summary, d.msg);
        assert_int_equal(ql_county_batch_commit(f->c, &d), QL_OK);
        check_leads(f, p, ids, NLEADS);
        n0 = log_size(f);
    }
    /* Outside a batch the refusal changes nothing either. */
    snprintf(odd.summary, sizeof odd.summary, "refuse-single");
    odd.tags = 2;
    odd.at_move = true;
    assert_int_equal(add_and_move(f, &odd, id, &d), QL_ERULE);
    assert_int_equal(log_size(f), n0 + 1); /* the registration only */
    ql_county_set_actor(f->c, f->k[TRI]);
    l = NULL;
    assert_int_equal(ql_lead_load(f->c, id, &l, &d), QL_OK);
    assert_string_equal(ql_lead_state(l), "NEW");
    ql_lead_free(l);
    assert_int_equal(ql_county_replay_check(f->c, &d), QL_OK);
}

/*
 * Two single writes on one county handle. The first lead has tags
 * (its guard reads every field); the second has none, and its guard asks
 * next() about a 'tags' key. Its table has never held one, so next must
 * raise: a table that answered would tell the guard the earlier lead had
 * tags.
 */
static void
test_guard_cannot_probe_earlier_lead(void **state)
{
    struct fx *f = *state;
    struct plan a = {"alpha", 3, false}, b = {"probe", 0, false};
    struct ql_diag d;
    char id[80];
    ql_err rc;

    assert_int_equal(add_and_move(f, &a, id, &d), QL_OK);
    rc = add_and_move(f, &b, id, &d);
    print_message("second guard: rc %d, %s\n", (int)rc, d.msg);
    assert_null(strstr(d.msg, "earlier lead had tags: true"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_guards_see_their_lead, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_guard_cannot_probe_earlier_lead,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_guard_failure_rolls_back,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
