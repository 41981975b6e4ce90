/*
 * Workflow files (engine/ql_workflow*.c, engine/ql_lua*.c): any bytes as
 * the Lua source of a workflow, loaded in the sandbox and validated, then
 * its accessors, graphs, value checks, due dates and guards.
 *
 * A script may legitimately spend its whole budget (ten million steps, 2 s
 * and 32 MiB per load, a million steps per guard). So that the fuzzer
 * spends its time on many inputs instead, each input is first loaded in a
 * sandbox of its own with small limits, and only one that fits them is
 * loaded as a workflow; guards are run for eight transitions at most.
 * The real limits are exercised by tests/test_lua.c and the hostile
 * scripts in tests/data/hostile/.
 *
 * Invariants: a workflow that loads is named by the SHA-256 of its bytes;
 * every state a transition names exists, as does the initial state; each
 * field accepts a value of its own type (its first choice, a date); a
 * guard answers yes, or no with a reason, or fails as a script.
 */
#include "qlf.h"

#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_codec.h"
#include "ql_lua.h"
#include "ql_profile.h"
#include "ql_workflow.h"

#define WF_GUARDS_RUN 8

/* True when src fits the harness's small limits (or fails for another
 * reason, which the real load reports the same way). */
static bool
wf_cheap(const char *src, size_t len)
{
    static const char *const limits[] = {
        "budget exhausted", "time limit",          "memory limit",
        "string too large", "pattern too complex", "not enough memory"};
    struct ql_lua_limits lim;
    struct ql_lua *lua = NULL;
    struct ql_lval *v = NULL;
    struct ql_diag d;
    bool ok = true;
    size_t i;

    memset(&lim, 0, sizeof lim);
    lim.memory = (size_t)8 << 20;
    lim.max_string = (size_t)1 << 20;
    lim.load_steps = 200000;
    lim.call_steps = 100000;
    lim.load_ms = 1000;
    lim.call_ms = 500;
    ql_diag_clear(&d);
    if (ql_lua_new(&lim, &lua, &d) != QL_OK)
        return false;
    if (ql_lua_load(lua, "fuzz.lua", src, len, &v, &d) != QL_OK)
        for (i = 0; i < sizeof limits / sizeof limits[0]; i++)
            if (strstr(d.msg, limits[i]) != NULL)
                ok = false;
    ql_lval_free(v);
    ql_lua_free(lua);
    return ok;
}

static const struct ql_calendar *
wf_calendar(void)
{
    static struct ql_calendar *cal;
    const char *text;
    size_t len = 0;

    if (cal == NULL &&
        ((text = qlf_tree_file("workflows/calendars/cn.cal", &len)) == NULL ||
         ql_calendar_parse("cn.cal", text, len, &cal, NULL) != QL_OK))
        qlf_fail(__FILE__, __LINE__, "cannot load the shipped calendar");
    return cal;
}

/* A value field f accepts, or NULL when the harness has none to offer. */
static const char *
wf_sample(const struct ql_wf_field *f)
{
    switch (f->type) {
    case QL_FIELD_ENUM:
        return f->nvalues > 0 ? f->values[0] : NULL;
    case QL_FIELD_DATE:
        return "2025-09-15";
    case QL_FIELD_NUMBER:
        return "12";
    case QL_FIELD_TEXT:
    case QL_FIELD_LIST:
        return "x";
    }
    return NULL;
}

static void
wf_fields(const struct ql_workflow *wf, struct ql_wf_kv *kv, size_t *nkv)
{
    static const char *const probes[] = {"",       "x",    "2025-02-29",
                                         "-1.5e3", "a\nb", "\xe2\x80\x94"};
    size_t i, j, n = ql_workflow_field_count(wf);

    *nkv = 0;
    for (i = 0; i < n; i++) {
        const struct ql_wf_field *f = ql_workflow_field_at(wf, i);
        const char *s = wf_sample(f);
        ql_err rc;

        QLF_CHECK(f->name != NULL && f->label != NULL);
        QLF_CHECK(ql_workflow_field(wf, f->name) == f);
        QLF_CHECK(ql_workflow_field_by_label(wf, f->name) != NULL);
        for (j = 0; j < sizeof probes / sizeof probes[0]; j++) {
            rc = ql_workflow_check_value(wf, f, probes[j], NULL);
            QLF_CHECK(rc == QL_OK || rc == QL_EFORMAT);
        }
        if (s == NULL)
            continue;
        /*
         * A choice of its own and a real date always pass; text and
         * numbers may have limits of the file's own that "x" and "12"
         * break.
         */
        if (f->type == QL_FIELD_ENUM || f->type == QL_FIELD_DATE)
            QLF_CHECK(ql_workflow_check_value(wf, f, s, NULL) == QL_OK);
        if (*nkv < 64) {
            kv[*nkv].name = f->name;
            kv[*nkv].value = s;
            (*nkv)++;
        }
    }
}

static void
wf_structure(const struct ql_workflow *wf)
{
    size_t i, j, n = ql_workflow_state_count(wf);
    int32_t due = 0;
    bool has = false, covered = false;
    ql_err rc;

    QLF_CHECK(ql_workflow_name(wf) != NULL && ql_workflow_title(wf) != NULL);
    QLF_CHECK(ql_workflow_id_format(wf) != NULL);
    QLF_CHECK(ql_workflow_state(wf, ql_workflow_initial(wf)) != NULL);
    for (i = 0; i < n; i++) {
        const struct ql_wf_state *s = ql_workflow_state_at(wf, i);

        QLF_CHECK(ql_workflow_state(wf, s->name) == s);
        rc = ql_workflow_due(wf, s, wf_calendar(), 20345, &due, &has, &covered,
                             NULL);
        QLF_CHECK(rc == QL_OK || rc == QL_EUSAGE);
        if (rc == QL_OK && has)
            QLF_CHECK(due >= 20345);
    }
    for (i = 0; i < ql_workflow_transition_count(wf); i++) {
        const struct ql_wf_transition *t = ql_workflow_transition_at(wf, i);

        QLF_CHECK(ql_workflow_transition(wf, t->name) == t);
        QLF_CHECK(ql_workflow_state(wf, t->to) != NULL);
        QLF_CHECK(t->nfrom > 0);
        for (j = 0; j < t->nfrom; j++) {
            QLF_CHECK(ql_workflow_state(wf, t->from[j]) != NULL);
            QLF_CHECK(ql_wf_transition_from(t, t->from[j]));
        }
    }
    for (i = 0; i < ql_workflow_role_count(wf); i++) {
        QLF_CHECK(ql_workflow_role_name(wf, i) != NULL);
        (void)ql_workflow_may_create(wf, ql_workflow_role_name(wf, i));
        (void)ql_workflow_secret_reader(wf, ql_workflow_role_name(wf, i));
    }
}

static void
wf_guards(struct ql_workflow *wf, const struct ql_wf_kv *kv, size_t nkv)
{
    const char *roles[2];
    struct ql_wf_guard_input in;
    char reason[256];
    size_t i, ran = 0;

    roles[0] = ql_workflow_role_count(wf) > 0 ? ql_workflow_role_name(wf, 0)
                                              : "registrar";
    roles[1] = "head";
    memset(&in, 0, sizeof in);
    in.lead_id = "QH-SH-2025-001";
    in.unit = "LT";
    in.fields = kv;
    in.nfields = nkv;
    in.actor = "LT-hc-01";
    in.actor_unit = "LT";
    in.roles = roles;
    in.nroles = 2;
    in.now = "2025-09-15T02:00:00Z";
    in.today = "2025-09-15";
    for (i = 0; i < ql_workflow_transition_count(wf) && ran < WF_GUARDS_RUN;
         i++) {
        const struct ql_wf_transition *t = ql_workflow_transition_at(wf, i);
        bool ok = false;
        ql_err rc;

        if (!t->has_guard)
            continue;
        ran++;
        in.state = t->to;
        reason[0] = '\0';
        rc = ql_workflow_guard(wf, t, &in, &ok, reason, sizeof reason, NULL);
        QLF_CHECK(rc == QL_OK || rc == QL_ESCRIPT);
        QLF_CHECK(memchr(reason, '\0', sizeof reason) != NULL);
    }
}

int
qlf_workflow(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    struct ql_workflow *wf = NULL;
    struct ql_wf_kv kv[64];
    uint8_t h[QL_HASH_LEN];
    char hex[2 * QL_HASH_LEN + 1], *out = NULL;
    size_t nkv = 0;
    ql_err rc;

    qlf_setup();
    if (size > QL_WORKFLOW_SOURCE_MAX || !wf_cheap(src, size)) {
        qlf_last = QL_ETOOBIG;
        return 0;
    }
    rc = ql_workflow_load("fuzz.lua", src, size, &wf, NULL);
    qlf_last = rc;
    if (rc != QL_OK) {
        QLF_CHECK(rc == QL_ESCRIPT || rc == QL_EFORMAT);
        return 0;
    }
    ql_hash(ql_profile_default(), h, src, size);
    ql_hex_encode(hex, h, sizeof h);
    QLF_CHECK(strcmp(ql_workflow_hash(wf), hex) == 0);
    wf_structure(wf);
    wf_fields(wf, kv, &nkv);
    QLF_CHECK(ql_workflow_graph(wf, QL_GRAPH_DOT, &out, NULL) == QL_OK);
    free(out);
    out = NULL;
    QLF_CHECK(ql_workflow_graph(wf, QL_GRAPH_MERMAID, &out, NULL) == QL_OK);
    free(out);
    wf_guards(wf, kv, nkv);
    ql_workflow_free(wf);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_workflow(data, size);
}
#endif
