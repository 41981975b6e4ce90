/* Verdicts and figures from clear metadata (ql_status.h). */
#include "ql_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_codec.h"
#include "ql_commit.h"
#include "ql_county.h"
#include "ql_county_impl.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_store.h"
#include "ql_workflow.h"

/* ---- names ---- */

const char *
ql_verdict_name(enum ql_verdict v)
{
    switch (v) {
    case QL_VERDICT_CLEARED:
        return "cleared";
    case QL_VERDICT_DECLARED:
        return "declared";
    case QL_VERDICT_ON_TRACK:
        return "on-track";
    case QL_VERDICT_AT_RISK:
        return "at-risk";
    case QL_VERDICT_FAILED:
        return "failed";
    case QL_VERDICT_UNCOMMITTED:
        return "uncommitted";
    case QL_VERDICT_NONE:
        break;
    }
    return "-";
}

const char *
ql_verdict_label(enum ql_verdict v)
{
    switch (v) {
    case QL_VERDICT_CLEARED:
        return "全面清零";
    case QL_VERDICT_DECLARED:
        return "已申报待核验";
    case QL_VERDICT_ON_TRACK:
        return "正常推进";
    case QL_VERDICT_AT_RISK:
        return "有风险";
    case QL_VERDICT_FAILED:
        return "未兑现";
    case QL_VERDICT_UNCOMMITTED:
        return "未承诺";
    case QL_VERDICT_NONE:
        break;
    }
    return "扫黑办在办";
}

const char *
ql_declaration_name(enum ql_declaration s)
{
    switch (s) {
    case QL_DECL_HOLDS:
        return "holds";
    case QL_DECL_BREACHED:
        return "breached";
    case QL_DECL_LAPSED:
        return "lapsed";
    case QL_DECL_NONE:
        break;
    }
    return "none";
}

/* ---- an arena for the strings a status lends ---- */

#define ARENA_BLOCK 65536

struct arena {
    char **blocks;
    size_t n;
    char *cur;
    size_t left;
};

static void
arena_free(struct arena *a)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        free(a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

/* A copy of s in the arena, or NULL when out of memory. */
static const char *
arena_dup(struct arena *a, const char *s)
{
    size_t len = strlen(s) + 1;
    char **grown, *p;

    if (len > a->left) {
        size_t size = len > ARENA_BLOCK ? len : ARENA_BLOCK;

        grown = realloc(a->blocks, (a->n + 1) * sizeof *grown);
        if (grown == NULL)
            return NULL;
        a->blocks = grown;
        if ((p = malloc(size)) == NULL)
            return NULL;
        a->blocks[a->n++] = p;
        a->cur = p;
        a->left = size;
    }
    p = a->cur;
    memcpy(p, s, len);
    a->cur += len;
    a->left -= len;
    return p;
}

/* ---- the result ---- */

/* What status knows of a lead beyond what it lends. */
struct lx {
    const struct ql_workflow *wf;
    const char *state_since, *deadline; /* deadline: latest of the three */
    bool reported, returned, urged;
    int64_t spot_idx, spot_return_idx; /* last effective ones, or -1 */
    size_t order;                      /* the state's place in its workflow */
};

struct urow {
    struct ql_status_unit pub;
    bool office; /* a supervision unit: no commitment */
    char reason[320];
    struct ql_status_count *counts;
    size_t *count_order; /* each count's state's place in its workflow */
    size_t ncounts;
    /* The latest declaration and its sample and verification. */
    bool has_decl;
    int64_t decl_time;
    const char **sample;
    bool *sample_mandatory;
    size_t nsample;
    int64_t verified_leads; /* scope_leads of the verification */
    /* summarize: the workflows and states of its open in-scope leads */
    const char **open_wf, **open_state;
    size_t nopen;
};

struct ql_status {
    struct arena a;
    const char *cycle;
    const char *cycle_cutoff; /* the latest cut-off of the cycle, or NULL */
    int64_t now;
    int32_t zone;
    int32_t today;
    char today_s[16];
    uint64_t log_size;
    struct urow *rows;
    size_t nrows;
    struct ql_status_lead *leads;
    struct lx *lx;
    size_t nleads, cap;
    struct ql_status_figures fig;
};

static void
urow_release(struct urow *r)
{
    free(r->counts);
    free(r->count_order);
    free(r->sample);
    free(r->sample_mandatory);
    free(r->open_wf);
    free(r->open_state);
}

void
ql_status_free(struct ql_status *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->nrows; i++)
        urow_release(&s->rows[i]);
    free(s->rows);
    free(s->leads);
    free(s->lx);
    arena_free(&s->a);
    free(s);
}

const char *
ql_status_cycle(const struct ql_status *s)
{
    return s->cycle;
}

int64_t
ql_status_now(const struct ql_status *s)
{
    return s->now;
}

int32_t
ql_status_zone(const struct ql_status *s)
{
    return s->zone;
}

const char *
ql_status_today(const struct ql_status *s)
{
    return s->today_s;
}

uint64_t
ql_status_log_size(const struct ql_status *s)
{
    return s->log_size;
}

size_t
ql_status_unit_count(const struct ql_status *s)
{
    return s->nrows;
}

const struct ql_status_unit *
ql_status_unit_at(const struct ql_status *s, size_t i)
{
    return i < s->nrows ? &s->rows[i].pub : NULL;
}

const struct ql_status_unit *
ql_status_unit(const struct ql_status *s, const char *code)
{
    size_t i;

    for (i = 0; i < s->nrows; i++)
        if (strcmp(s->rows[i].pub.code, code) == 0)
            return &s->rows[i].pub;
    return NULL;
}

const struct ql_status_figures *
ql_status_figures(const struct ql_status *s)
{
    return &s->fig;
}

bool
ql_status_all_cleared(const struct ql_status *s)
{
    size_t i;

    for (i = 0; i < s->nrows; i++)
        if (!s->rows[i].office && s->rows[i].pub.verdict != QL_VERDICT_CLEARED)
            return false;
    return true;
}

/* ---- gathering ---- */

struct gather {
    struct ql_status *s;
    const char *only; /* the unit asked for, or NULL */
};

static struct urow *
find_row(struct ql_status *s, const char *code)
{
    size_t i;

    for (i = 0; i < s->nrows; i++)
        if (strcmp(s->rows[i].pub.code, code) == 0)
            return &s->rows[i];
    return NULL;
}

/* Copies v into the status's arena, or fails with QL_ENOMEM. */
#define DUP(dst, v)                                                            \
    do {                                                                       \
        if (((dst) = arena_dup(&s->a, (v))) == NULL)                           \
            return ql_fail(d, QL_ENOMEM, NULL);                                \
    } while (0)

static bool
handling(const char *kind)
{
    return strcmp(kind, QL_KIND_TOWNSHIP) == 0 ||
           strcmp(kind, QL_KIND_MEMBER) == 0;
}

static ql_err
on_unit(void *ctx, const struct ql_unit_info *u, struct ql_diag *d)
{
    struct gather *g = ctx;
    struct ql_status *s = g->s;
    struct urow *grown, *r;
    bool office = strcmp(u->kind, QL_KIND_SUPERVISION) == 0;

    if (g->only != NULL ? strcmp(u->code, g->only) != 0
                        : !handling(u->kind) && !office)
        return QL_OK;
    grown = realloc(s->rows, (s->nrows + 1) * sizeof *grown);
    if (grown == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    s->rows = grown;
    r = &s->rows[s->nrows++];
    memset(r, 0, sizeof *r);
    r->office = office;
    DUP(r->pub.code, u->code);
    DUP(r->pub.name, u->name);
    DUP(r->pub.kind, u->kind);
    return QL_OK;
}

static ql_err
on_commitment(void *ctx, const struct ql_commit_info *ci, struct ql_diag *d)
{
    struct gather *g = ctx;
    struct ql_status *s = g->s;
    struct urow *r = find_row(s, ci->unit);

    if (s->cycle_cutoff == NULL || strcmp(ci->cutoff, s->cycle_cutoff) > 0)
        DUP(s->cycle_cutoff, ci->cutoff);
    if (r == NULL || r->office)
        return QL_OK;
    r->pub.committed = true;
    DUP(r->pub.cutoff, ci->cutoff);
    DUP(r->pub.deadline, ci->deadline);
    DUP(r->pub.text, ci->text);
    DUP(r->pub.signer, ci->signer);
    DUP(r->pub.signed_at, ci->time);
    r->pub.sign_idx = ci->idx;
    return QL_OK;
}

/*
 * Events arrive in log order: a declaration starts over, and a sample or
 * verification counts only for the declaration it names.
 */
static ql_err
on_event(void *ctx, const struct ql_commit_event *ev, struct ql_diag *d)
{
    struct gather *g = ctx;
    struct ql_status *s = g->s;
    struct urow *r = find_row(s, ev->unit);
    ql_err rc;

    if (r == NULL || !r->pub.committed)
        return QL_OK;
    if (strcmp(ev->kind, "declare") == 0) {
        r->has_decl = true;
        r->pub.declare_idx = ev->idx;
        DUP(r->pub.declared_at, ev->time);
        DUP(r->pub.declared_by, ev->actor);
        DUP(r->pub.declared_hash, ev->scope_hash ? ev->scope_hash : "");
        if ((rc = ql_time_parse(ev->time, strlen(ev->time), &r->decl_time,
                                d)) != QL_OK)
            return rc;
        r->pub.sampled = false;
        r->pub.verified = false;
        return QL_OK;
    }
    if (!r->has_decl || !ev->has_ref || ev->ref != r->pub.declare_idx)
        return QL_OK;
    if (strcmp(ev->kind, "sample") == 0) {
        r->pub.sampled = true;
        r->pub.sample_idx = ev->idx;
    } else if (strcmp(ev->kind, "verify") == 0) {
        r->pub.verified = true;
        r->pub.verify_idx = ev->idx;
        r->verified_leads = ev->scope_leads;
        DUP(r->pub.verified_at, ev->time);
        DUP(r->pub.verified_by, ev->actor);
        DUP(r->pub.verified_hash, ev->scope_hash ? ev->scope_hash : "");
    }
    return QL_OK;
}

struct sample_ctx {
    struct ql_status *s;
    struct urow *r;
};

static ql_err
on_sample_lead(void *ctx, const char *lead, bool mandatory, struct ql_diag *d)
{
    struct sample_ctx *sc = ctx;
    struct ql_status *s = sc->s;
    struct urow *r = sc->r;
    const char **grown;
    bool *mgrown;

    grown = realloc(r->sample, (r->nsample + 1) * sizeof *grown);
    if (grown == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    r->sample = grown;
    mgrown = realloc(r->sample_mandatory, (r->nsample + 1) * sizeof *mgrown);
    if (mgrown == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    r->sample_mandatory = mgrown;
    DUP(r->sample[r->nsample], lead);
    r->sample_mandatory[r->nsample] = mandatory;
    r->nsample++;
    return QL_OK;
}

static bool
in_sample(const struct urow *r, const char *id)
{
    size_t i;

    for (i = 0; i < r->nsample; i++)
        if (strcmp(r->sample[i], id) == 0)
            return true;
    return false;
}

/* The effective entries of a lead: moves and approvals, not proposals. */
#define EFFECTIVE "action IN ('lead.move', 'lead.approve')"
#define CLEAR_FIELD(name)                                                      \
    "COALESCE((SELECT value FROM lead_clear WHERE lead = l.id AND name = "     \
    "'" name "'), '')"
#define TOOK(cond)                                                             \
    "EXISTS (SELECT 1 FROM lead_entries WHERE lead = l.id AND " EFFECTIVE      \
    " AND " cond ")"
#define LAST(cond)                                                             \
    "COALESCE((SELECT max(idx) FROM lead_entries WHERE lead = l.id "           \
    "AND " EFFECTIVE " AND " cond "), -1)"

/* clang-format off */
static const char LEADS_SQL[] =
    "SELECT l.id, l.unit, l.state, l.workflow, l.registered, "
    "COALESCE(l.due, ''), l.state_since, l.last_idx, "
    CLEAR_FIELD(QL_FIELD_FINDING) ", "
    CLEAR_FIELD(QL_FIELD_FEEDBACK) ", "
    CLEAR_FIELD(QL_FIELD_NAMED) ", "
    CLEAR_FIELD(QL_FIELD_PRIORITY) ", "
    CLEAR_FIELD(QL_FIELD_INDUSTRY) ", "
    CLEAR_FIELD(QL_FIELD_SOURCE) ", "
    CLEAR_FIELD(QL_FIELD_DUE_AT) ", "
    CLEAR_FIELD(QL_FIELD_EXTENDED_DUE) ", "
    CLEAR_FIELD(QL_FIELD_REDO_DUE) ", "
    "COALESCE(m.n, 0), "
    TOOK("transition = '" QL_T_REPORT "'") ", "
    TOOK("transition = '" QL_T_RETURN "'") ", "
    TOOK("transition IN ('" QL_T_URGE "', '" QL_T_SUPERVISE "')") ", "
    LAST("transition IN ('" QL_SPOT_PASS "', '" QL_SPOT_RETURN "')") ", "
    LAST("transition = '" QL_SPOT_RETURN "'") ", "
    "p.transition "
    "FROM leads l "
    "LEFT JOIN (SELECT value AS master, count(*) AS n FROM lead_clear "
    "  WHERE name = '" QL_FIELD_MASTER "' GROUP BY value) m "
    "  ON m.master = l.id "
    "LEFT JOIN pending p ON p.lead = l.id "
    "WHERE ?1 IS NULL OR l.unit = ?1 "
    "ORDER BY l.unit, l.id";
/* clang-format on */

/* The local date of an RFC 3339 instant, "" when there is none. */
static ql_err
local_date_of(const char *time, int32_t zone, char out[16], struct ql_diag *d)
{
    out[0] = '\0';
    if (*time == '\0')
        return QL_OK;
    return ql_zone_local_date_text(time, zone, out, 16, d);
}

static bool
merge_target(const struct ql_workflow *wf, const char *state)
{
    size_t i;

    for (i = 0; i < ql_workflow_transition_count(wf); i++) {
        const struct ql_wf_transition *t = ql_workflow_transition_at(wf, i);

        if (t->merge_field != NULL && strcmp(t->to, state) == 0)
            return true;
    }
    return false;
}

static size_t
state_order(const struct ql_workflow *wf, const char *state)
{
    size_t i;

    for (i = 0; i < ql_workflow_state_count(wf); i++)
        if (strcmp(ql_workflow_state_at(wf, i)->name, state) == 0)
            return i;
    return i;
}

static const char *
later_date(const char *a, const char *b)
{
    return strcmp(a, b) >= 0 ? a : b;
}

/* Reads every lead (of the unit asked for) into s, by unit and id. */
static ql_err
load_leads(struct ql_county *c, struct ql_status *s, const char *only,
           struct ql_diag *d)
{
    struct ql_stmt *st = NULL;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(ql_county_store(c), LEADS_SQL, &st, d)) !=
            QL_OK ||
        (rc = only ? ql_stmt_bind_text(st, 1, only, d)
                   : ql_stmt_bind_null(st, 1, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        struct ql_status_lead *l;
        struct lx *x;
        const struct ql_wf_state *ws;
        char closed_on[16];

        if (find_row(s, ql_stmt_text(st, 1)) == NULL)
            continue; /* a unit not shown */
        if (s->nleads == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 64;
            struct ql_status_lead *gl = realloc(s->leads, cap * sizeof *gl);
            struct lx *gx;

            if (gl == NULL) {
                rc = ql_fail(d, QL_ENOMEM, NULL);
                goto out;
            }
            s->leads = gl;
            if ((gx = realloc(s->lx, cap * sizeof *gx)) == NULL) {
                rc = ql_fail(d, QL_ENOMEM, NULL);
                goto out;
            }
            s->lx = gx;
            s->cap = cap;
        }
        l = &s->leads[s->nleads];
        x = &s->lx[s->nleads];
        memset(l, 0, sizeof *l);
        memset(x, 0, sizeof *x);
        if ((rc = ql_county_workflow(c, NULL, ql_stmt_text(st, 3), &x->wf,
                                     d)) != QL_OK)
            goto out;
        if ((ws = ql_workflow_state(x->wf, ql_stmt_text(st, 2))) == NULL) {
            rc = ql_fail(d, QL_EINTEGRITY,
                         "lead %s is in state '%s', which "
                         "its workflow does not have",
                         ql_stmt_text(st, 0), ql_stmt_text(st, 2));
            goto out;
        }
        if ((l->id = arena_dup(&s->a, ql_stmt_text(st, 0))) == NULL ||
            (l->unit = arena_dup(&s->a, ql_stmt_text(st, 1))) == NULL ||
            (l->state = arena_dup(&s->a, ql_stmt_text(st, 2))) == NULL ||
            (l->state_label = arena_dup(&s->a, ws->label)) == NULL ||
            (l->registered = arena_dup(&s->a, ql_stmt_text(st, 4))) == NULL ||
            (l->due = arena_dup(&s->a, ql_stmt_text(st, 5))) == NULL ||
            (x->state_since = arena_dup(&s->a, ql_stmt_text(st, 6))) == NULL ||
            (l->finding = arena_dup(&s->a, ql_stmt_text(st, 8))) == NULL ||
            (l->feedback = arena_dup(&s->a, ql_stmt_text(st, 9))) == NULL ||
            (l->named = arena_dup(&s->a, ql_stmt_text(st, 10))) == NULL ||
            (l->priority = arena_dup(&s->a, ql_stmt_text(st, 11))) == NULL ||
            (l->industry = arena_dup(&s->a, ql_stmt_text(st, 12))) == NULL ||
            (l->source = arena_dup(&s->a, ql_stmt_text(st, 13))) == NULL ||
            (x->deadline =
                 arena_dup(&s->a, later_date(later_date(ql_stmt_text(st, 14),
                                                        ql_stmt_text(st, 15)),
                                             ql_stmt_text(st, 16)))) == NULL ||
            (!ql_stmt_null(st, 23) &&
             (l->pending = arena_dup(&s->a, ql_stmt_text(st, 23))) == NULL)) {
            rc = ql_fail(d, QL_ENOMEM, NULL);
            goto out;
        }
        l->last_idx = (uint64_t)ql_stmt_int(st, 7);
        l->duplicates = (size_t)ql_stmt_int(st, 17);
        x->reported = ql_stmt_int(st, 18) != 0;
        x->returned = ql_stmt_int(st, 19) != 0;
        x->urged = ql_stmt_int(st, 20) != 0;
        x->spot_idx = ql_stmt_int(st, 21);
        x->spot_return_idx = ql_stmt_int(st, 22);
        x->order = state_order(x->wf, l->state);
        l->cleared = ws->cleared;
        l->merged = merge_target(x->wf, l->state);
        l->closed = ws->terminal && ws->cleared && !l->merged;
        {
            const struct ql_wf_transition *sp =
                ql_workflow_transition(x->wf, QL_SPOT_PASS);

            l->spotable = sp != NULL && ql_wf_transition_from(sp, l->state);
        }
        if ((rc = local_date_of(l->closed ? x->state_since : "", s->zone,
                                closed_on, d)) != QL_OK)
            goto out;
        if ((l->closed_on = arena_dup(&s->a, closed_on)) == NULL) {
            rc = ql_fail(d, QL_ENOMEM, NULL);
            goto out;
        }
        s->nleads++;
    }
out:
    ql_stmt_done(st);
    return rc;
}

/* ---- judging one unit ---- */

/* The last second of local date date (YYYY-MM-DD). */
static ql_err
day_last(const char *date, int32_t zone, int64_t *t, int32_t *day,
         struct ql_diag *d)
{
    int32_t dd;
    ql_err rc;

    if ((rc = ql_date_parse(date, strlen(date), &dd, d)) != QL_OK)
        return rc;
    *t = ql_zone_day_last(dd, zone);
    if (day != NULL)
        *day = dd;
    return QL_OK;
}

/* H of the sorted "leadid idx\n" lines of the unit's in-scope leads. */
static ql_err
scope_hash(struct ql_county *c, const struct ql_status_lead *leads, size_t n,
           char hex[65], struct ql_diag *d)
{
    uint8_t h[QL_HASH_LEN];
    size_t cap = 1, at = 0, i;
    char *buf;

    for (i = 0; i < n; i++)
        if (leads[i].in_scope)
            cap += strlen(leads[i].id) + 22;
    if ((buf = malloc(cap)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    /* The leads come sorted by id (bytes), as the hash wants them. */
    for (i = 0; i < n; i++)
        if (leads[i].in_scope)
            at += (size_t)snprintf(buf + at, cap - at, "%s %llu\n", leads[i].id,
                                   (unsigned long long)leads[i].last_idx);
    ql_hash(ql_log_profile(ql_county_log(c)), h, buf, at);
    free(buf);
    ql_hex_encode(hex, h, sizeof h);
    return QL_OK;
}

/*
 * Adds n in-scope leads in state to the unit's state counts. A state name
 * that several workflows share takes its earliest place among them (and
 * that workflow's label), so that neither depends on which lead is read
 * first.
 */
static ql_err
count_state(struct urow *r, const char *state, const char *label, bool cleared,
            size_t order, size_t n, struct ql_diag *d)
{
    struct ql_status_count *grown;
    size_t *ogrown, i;

    for (i = 0; i < r->ncounts; i++) {
        if (strcmp(r->counts[i].state, state) == 0) {
            r->counts[i].n += n;
            if (order < r->count_order[i] ||
                (order == r->count_order[i] &&
                 strcmp(label, r->counts[i].label) < 0)) {
                r->count_order[i] = order;
                r->counts[i].label = label;
                r->counts[i].cleared = cleared;
            }
            return QL_OK;
        }
    }
    grown = realloc(r->counts, (r->ncounts + 1) * sizeof *grown);
    if (grown == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    r->counts = grown;
    ogrown = realloc(r->count_order, (r->ncounts + 1) * sizeof *ogrown);
    if (ogrown == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    r->count_order = ogrown;
    r->counts[r->ncounts].state = state;
    r->counts[r->ncounts].label = label;
    r->counts[r->ncounts].cleared = cleared;
    r->counts[r->ncounts].n = n;
    r->count_order[r->ncounts] = order;
    r->ncounts++;
    return QL_OK;
}

/*
 * True when taking transition name would move a lead out of the cleared
 * states (or the workflow does not know it): a proposal that blocks a
 * declaration.
 */
static bool
reopens(const struct ql_workflow *wf, const char *name)
{
    const struct ql_wf_transition *t = ql_workflow_transition(wf, name);
    const struct ql_wf_state *to = t ? ql_workflow_state(wf, t->to) : NULL;

    return to == NULL || !to->cleared;
}

/* Appends ", " and text to the reason. */
static void reason_add(struct urow *r, const char *fmt, ...) QL_PRINTF(2, 3);

static void
reason_add(struct urow *r, const char *fmt, ...)
{
    size_t at = strlen(r->reason);
    va_list ap;

    if (at > 0 && at + 2 < sizeof r->reason) {
        memcpy(r->reason + at, ", ", 3);
        at += 2;
    }
    va_start(ap, fmt);
    vsnprintf(r->reason + at, sizeof r->reason - at, fmt, ap);
    va_end(ap);
}

static const char *
date_part(const char *time, char buf[16], int32_t zone)
{
    struct ql_diag ignore;

    if (local_date_of(time, zone, buf, &ignore) != QL_OK)
        snprintf(buf, 16, "?");
    return buf;
}

/*
 * What a unit's verdict reads beyond the counts in its ql_status_unit,
 * gathered lead by lead (judge) or from the status counts (summarize).
 */
struct tally {
    int64_t deadline_t;
    int32_t deadline_day;
    bool past, changed;
    size_t returned, blocking, changed_n, n_overdue, n_late, n_near;
    const char *first_returned, *first_open;
};

/* The unit's scope (cut-off) and deadline, before its leads are counted. */
static ql_err
unit_begin(struct ql_status *s, struct urow *r, struct tally *t,
           struct ql_diag *d)
{
    struct ql_status_unit *u = &r->pub;
    ql_err rc;

    memset(t, 0, sizeof *t);
    if (!u->committed)
        u->cutoff = s->cycle_cutoff;
    if (u->committed && (rc = day_last(u->deadline, s->zone, &t->deadline_t,
                                       &t->deadline_day, d)) != QL_OK)
        return rc;
    t->past = u->committed && s->now > t->deadline_t;
    return QL_OK;
}

/*
 * The declaration, verdict and reason of a unit whose counts and tally are
 * complete, in the order of docs/commitments.md: breach, missed deadline,
 * a declaration that holds, then risk.
 */
static void
verdict(struct ql_status *s, struct urow *r, const struct tally *t)
{
    struct ql_status_unit *u = &r->pub;
    char day1[16], day2[16];

    if (!r->has_decl)
        u->declaration = QL_DECL_NONE;
    else if (t->returned > 0)
        u->declaration = QL_DECL_BREACHED;
    else if (u->open > 0)
        u->declaration = QL_DECL_LAPSED;
    else
        u->declaration = QL_DECL_HOLDS;

    r->reason[0] = '\0';
    if (r->office) {
        u->verdict = QL_VERDICT_NONE;
        reason_add(r, "held by the supervision office: %zu open", u->open);
        return;
    }
    if (!u->committed) {
        u->verdict = QL_VERDICT_UNCOMMITTED;
        reason_add(r, "no commitment signed for cycle %s",
                   s->cycle ? s->cycle : "-");
        return;
    }
    if (u->declaration == QL_DECL_BREACHED) {
        u->verdict = QL_VERDICT_FAILED;
        reason_add(r,
                   "declaration of %s (entry %llu) breached: a "
                   "spot-check sent %s back",
                   date_part(u->declared_at, day1, s->zone),
                   (unsigned long long)u->declare_idx, t->first_returned);
        if (t->returned > 1)
            reason_add(r, "%zu leads in all", t->returned);
        return;
    }
    if (t->past &&
        !(u->declaration == QL_DECL_HOLDS && r->decl_time <= t->deadline_t)) {
        u->verdict = QL_VERDICT_FAILED;
        if (u->open > 0)
            reason_add(r, "deadline %s passed with %zu in-scope lead%s open",
                       u->deadline, u->open, u->open == 1 ? "" : "s");
        else if (u->declaration == QL_DECL_HOLDS)
            reason_add(r, "declared on %s, after the deadline %s",
                       date_part(u->declared_at, day1, s->zone), u->deadline);
        else
            reason_add(r, "deadline %s passed without a declaration",
                       u->deadline);
        return;
    }
    if (u->declaration == QL_DECL_HOLDS) {
        date_part(u->declared_at, day1, s->zone);
        if (u->verified && !t->changed && u->spot_pending == 0) {
            u->verdict = QL_VERDICT_CLEARED;
            reason_add(r, "declared %s, verified %s by %s", day1,
                       date_part(u->verified_at, day2, s->zone),
                       u->verified_by);
            return;
        }
        u->verdict = QL_VERDICT_DECLARED;
        if (u->spot_pending > 0)
            reason_add(r, "declared %s; %zu spot-check%s pending", day1,
                       u->spot_pending, u->spot_pending == 1 ? "" : "s");
        else if (u->verified)
            reason_add(r,
                       "declared %s; %zu lead%s changed since the "
                       "verification of %s: verify again",
                       day1, t->changed_n, t->changed_n == 1 ? "" : "s",
                       date_part(u->verified_at, day2, s->zone));
        else if (!u->sampled)
            reason_add(r, "declared %s; no sample drawn yet", day1);
        else
            reason_add(r,
                       "declared %s; sample checked, verification "
                       "pending",
                       day1);
        return;
    }
    if (u->declaration == QL_DECL_LAPSED)
        reason_add(r, "declaration of %s lapsed (%s is open)",
                   date_part(u->declared_at, day1, s->zone), t->first_open);
    if (u->at_risk > 0) {
        u->verdict = QL_VERDICT_AT_RISK;
        if (t->n_overdue > 0)
            reason_add(r, "%zu overdue", t->n_overdue);
        if (t->n_late > 0)
            reason_add(r, "%zu due after the deadline", t->n_late);
        if (t->n_near > 0)
            reason_add(r, "%zu open within %d days of the deadline", t->n_near,
                       QL_COMMIT_NEAR_DAYS);
        return;
    }
    u->verdict = QL_VERDICT_ON_TRACK;
    if (u->open > 0)
        reason_add(r, "%zu open, none at risk", u->open);
    else if (t->blocking > 0)
        reason_add(r, "nothing open; %zu proposal%s waiting", t->blocking,
                   t->blocking == 1 ? "" : "s");
    else
        reason_add(r, "nothing open; not yet declared");
}

/*
 * The verdict of one unit from every one of its leads: the definition that
 * summarize() must agree with (tests/test_status.c compares them).
 */
static ql_err
judge(struct ql_county *c, struct ql_status *s, struct urow *r,
      struct ql_status_lead *leads, struct lx *lx, size_t n, struct ql_diag *d)
{
    struct ql_status_unit *u = &r->pub;
    struct tally t;
    size_t i;
    ql_err rc;

    if ((rc = unit_begin(s, r, &t, d)) != QL_OK)
        return rc;
    for (i = 0; i < n; i++) {
        struct ql_status_lead *l = &leads[i];
        struct lx *x = &lx[i];
        int64_t due_t;
        int32_t due_day;

        u->leads++;
        l->in_scope =
            u->cutoff == NULL || strcmp(l->registered, u->cutoff) <= 0;
        if (!l->in_scope) {
            l->why |= QL_WHY_OUT_OF_SCOPE;
            u->out_of_scope++;
            continue;
        }
        u->in_scope++;
        if ((rc = count_state(r, l->state, l->state_label, l->cleared, x->order,
                              1, d)) != QL_OK)
            return rc;
        if (l->cleared) {
            u->cleared++;
        } else {
            u->open++;
            l->why |= QL_WHY_OPEN;
            if (t.first_open == NULL)
                t.first_open = l->id;
            if (*l->due != '\0') {
                if ((rc = day_last(l->due, s->zone, &due_t, &due_day, d)) !=
                    QL_OK)
                    return rc;
                if (s->now > due_t)
                    l->why |= QL_WHY_OVERDUE;
                if (u->committed && due_day > t.deadline_day)
                    l->why |= QL_WHY_DUE_LATE;
            }
            if (u->committed && !t.past &&
                s->today >= t.deadline_day - QL_COMMIT_NEAR_DAYS)
                l->why |= QL_WHY_NEAR;
            if (l->why & QL_WHY_OVERDUE) {
                u->overdue++;
                t.n_overdue++;
            }
            if (l->why & QL_WHY_DUE_LATE)
                t.n_late++;
            if (l->why & QL_WHY_NEAR)
                t.n_near++;
            if (u->committed && (l->why & QL_WHY_AT_RISK))
                u->at_risk++;
        }
        if (l->cleared && l->pending != NULL && reopens(x->wf, l->pending)) {
            l->why |= QL_WHY_BLOCKING;
            t.blocking++;
        }
        if (l->pending != NULL && strcmp(l->pending, QL_SPOT_RETURN) == 0)
            l->why |= QL_WHY_PENDING;
        if (r->has_decl && x->spot_return_idx >= 0 &&
            (uint64_t)x->spot_return_idx > u->declare_idx) {
            l->why |= QL_WHY_RETURNED;
            if (t.first_returned == NULL)
                t.first_returned = l->id;
            t.returned++;
        }
        if (u->sampled && in_sample(r, l->id)) {
            l->why |= QL_WHY_SAMPLED;
            if (x->spot_idx >= 0 && (uint64_t)x->spot_idx > u->sample_idx) {
                l->spot =
                    x->spot_idx == x->spot_return_idx ? "returned" : "passed";
            } else {
                l->spot = "pending";
                l->why |= QL_WHY_PENDING;
            }
        }
        if (l->why & QL_WHY_PENDING)
            u->spot_pending++;
        if (u->verified && l->last_idx > u->verify_idx)
            l->why |= QL_WHY_CHANGED;
    }
    u->sample_size = u->sampled ? r->nsample : 0;
    if ((rc = scope_hash(c, leads, n, u->scope_hash, d)) != QL_OK)
        return rc;
    if (u->verified && strcmp(u->scope_hash, u->verified_hash) != 0) {
        t.changed = true;
        for (i = 0; i < n; i++)
            if (leads[i].why & QL_WHY_CHANGED)
                t.changed_n++;
    }
    if (!t.changed)
        for (i = 0; i < n; i++)
            leads[i].why &= ~QL_WHY_CHANGED;
    verdict(s, r, &t);
    return QL_OK;
}

/* Sorts a unit's state counts into workflow order, then by name. */
static void
sort_counts(struct urow *r)
{
    size_t i, j;

    for (i = 1; i < r->ncounts; i++) {
        struct ql_status_count v = r->counts[i];
        size_t ov = r->count_order[i];

        for (j = i; j > 0; j--) {
            size_t oj = r->count_order[j - 1];

            if (oj < ov ||
                (oj == ov && strcmp(r->counts[j - 1].state, v.state) <= 0))
                break;
            r->counts[j] = r->counts[j - 1];
            r->count_order[j] = oj;
        }
        r->counts[j] = v;
        r->count_order[j] = ov;
    }
}

/* ---- the county's figures ---- */

static bool
is(const char *v, const char *want)
{
    return strcmp(v, want) == 0;
}

static void
figures(struct ql_status *s)
{
    struct ql_status_figures *f = &s->fig;
    size_t i;

    memset(f, 0, sizeof *f);
    for (i = 0; i < s->nleads; i++) {
        const struct ql_status_lead *l = &s->leads[i];
        const struct lx *x = &s->lx[i];

        if (!l->in_scope)
            continue;
        if (l->merged) {
            f->merged++;
            continue;
        }
        f->leads++;
        if (!l->cleared)
            f->open++;
        if (l->why & QL_WHY_OVERDUE)
            f->overdue++;
        if (x->urged)
            f->urged++;
        if (x->reported) {
            f->returned.den++;
            if (x->returned)
                f->returned.num++;
        }
        if (x->spot_idx >= 0) {
            f->spot_returned.den++;
            if (x->spot_return_idx >= 0)
                f->spot_returned.num++;
        }
        if (!l->closed)
            continue;
        f->closed++;
        f->on_time.den++;
        if (*x->deadline == '\0' || strcmp(l->closed_on, x->deadline) <= 0)
            f->on_time.num++;
        if (*l->finding != '\0') {
            f->substantiated.den++;
            if (is(l->finding, QL_FINDING_CONFIRMED) ||
                is(l->finding, QL_FINDING_PARTLY))
                f->substantiated.num++;
        }
        if (is(l->named, QL_NAMED_REAL)) {
            f->feedback.den++;
            if (*l->feedback != '\0')
                f->feedback.num++;
        }
        if (*l->feedback != '\0') {
            f->satisfied.den++;
            if (is(l->feedback, QL_FEEDBACK_SATISFIED) ||
                is(l->feedback, QL_FEEDBACK_MOSTLY))
                f->satisfied.num++;
        }
    }
    f->completion.num = f->closed;
    f->completion.den = f->leads;
}

/* ---- the status counts (schema version 2, engine/ql_store.c) ---- */

/* The facts bits of status_counts; ql_store.c's upgrade writes the same. */
#define F_URGED 0x001u
#define F_REPORTED 0x002u
#define F_RETURNED 0x004u
#define F_SPOT 0x008u
#define F_SPOT_RETURNED 0x010u
#define F_ON_TIME 0x020u
#define F_FINDING 0x040u
#define F_SUBSTANTIATED 0x080u
#define F_NAMED 0x100u
#define F_FEEDBACK 0x200u
#define F_SATISFIED 0x400u

/* clang-format off */
/*
 * One lead's row of the status counts: its key columns here, its facts
 * from its clear fields and its effective entries. Three plain ranges by
 * primary key, filtered here: aggregates, or an IN list, make SQLite build
 * and drop a scratch table on every call, which costs several times more.
 */
static const char FACTS_SQL[] =
    "SELECT l.unit, l.workflow, l.state, l.registered, COALESCE(l.due, ''), "
    "COALESCE(p.transition, ''), l.state_since "
    "FROM leads l LEFT JOIN pending p ON p.lead = l.id WHERE l.id = ?1";
static const char FACT_FIELDS_SQL[] =
    "SELECT name, value FROM lead_clear WHERE lead = ?1";
static const char FACT_TOOK_SQL[] =
    "SELECT action, transition FROM lead_entries WHERE lead = ?1";
/* clang-format on */

#define KEY_WHERE                                                              \
    "unit = ?1 AND workflow = ?2 AND state = ?3 AND registered = ?4 AND "      \
    "due = ?5 AND pending = ?6 AND facts = ?7"

/*
 * What a lead's facts bits are made of, kept so that the next entry can
 * change them without the lead's clear fields and entries being read
 * again: every bit but F_ON_TIME, and each deadline field as cut to fit.
 */
#define DEADLINES 3
#define DEADLINE_MAX 128

struct facts {
    unsigned bits;
    char deadline[DEADLINES][DEADLINE_MAX];
};

static const char *const deadline_field[DEADLINES] = {
    QL_FIELD_DUE_AT, QL_FIELD_EXTENDED_DUE, QL_FIELD_REDO_DUE};

/*
 * Sets bit set when v is not empty and bit good when v is one of the two
 * good answers, clearing both first: a later value replaces an earlier.
 */
static void
facts_answer(struct facts *f, const char *v, unsigned set, unsigned good,
             const char *good1, const char *good2)
{
    f->bits &= ~(set | good);
    if (*v != '\0')
        f->bits |= set;
    if (is(v, good1) || is(v, good2))
        f->bits |= good;
}

/* Sets the part of f that the clear field name, now v, decides. */
static void
facts_field(struct facts *f, const char *name, const char *v)
{
    size_t i;

    if (is(name, QL_FIELD_FINDING)) {
        facts_answer(f, v, F_FINDING, F_SUBSTANTIATED, QL_FINDING_CONFIRMED,
                     QL_FINDING_PARTLY);
    } else if (is(name, QL_FIELD_FEEDBACK)) {
        facts_answer(f, v, F_FEEDBACK, F_SATISFIED, QL_FEEDBACK_SATISFIED,
                     QL_FEEDBACK_MOSTLY);
    } else if (is(name, QL_FIELD_NAMED)) {
        facts_answer(f, v, 0, F_NAMED, QL_NAMED_REAL, QL_NAMED_REAL);
    } else {
        /* A date cut after 127 bytes compares with a 10-byte date as the
           whole would. */
        for (i = 0; i < DEADLINES; i++)
            if (is(name, deadline_field[i]))
                snprintf(f->deadline[i], DEADLINE_MAX, "%s", v);
    }
}

/* Adds what a lead's entry of action a on transition t says it took. */
static void
facts_took(struct facts *f, const char *a, const char *t)
{
    if (!is(a, "lead.move") && !is(a, "lead.approve"))
        return; /* only effective entries are "took" */
    if (is(t, QL_T_URGE) || is(t, QL_T_SUPERVISE))
        f->bits |= F_URGED;
    else if (is(t, QL_T_REPORT))
        f->bits |= F_REPORTED;
    else if (is(t, QL_T_RETURN))
        f->bits |= F_RETURNED;
    else if (is(t, QL_SPOT_PASS))
        f->bits |= F_SPOT;
    else if (is(t, QL_SPOT_RETURN))
        f->bits |= F_SPOT | F_SPOT_RETURNED;
}

/* The facts bits of f for a lead in its state since the instant since. */
static ql_err
facts_bits(struct ql_county *c, const struct facts *f, const char *since,
           int64_t *out, struct ql_diag *d)
{
    const char *deadline = "";
    char day[16];
    unsigned bits = f->bits;
    size_t i;
    ql_err rc;

    for (i = 0; i < DEADLINES; i++)
        if (strcmp(f->deadline[i], deadline) > 0)
            deadline = f->deadline[i];
    /* Whether it is closed depends on the workflow; the date does not. */
    if (*deadline == '\0') {
        bits |= F_ON_TIME;
    } else {
        if ((rc = local_date_of(since, ql_county_zone(c), day, d)) != QL_OK)
            return rc;
        if (strcmp(day, deadline) <= 0)
            bits |= F_ON_TIME;
    }
    *out = (int64_t)bits;
    return QL_OK;
}

/* The facts of lead id, from its clear fields and its entries. */
static ql_err
lead_facts(struct ql_county *c, const char *id, struct facts *out,
           struct ql_diag *d)
{
    struct ql_store *store = ql_county_store(c);
    struct ql_stmt *st = NULL;
    bool row = false;
    ql_err rc;

    memset(out, 0, sizeof *out);
    if ((rc = ql_store_prepare(store, FACT_FIELDS_SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, id, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row)
        facts_field(out, ql_stmt_text(st, 0), ql_stmt_text(st, 1));
    ql_stmt_done(st);
    st = NULL;
    if (rc != QL_OK ||
        (rc = ql_store_prepare(store, FACT_TOOK_SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, id, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row)
        facts_took(out, ql_stmt_text(st, 0), ql_stmt_text(st, 1));
out:
    ql_stmt_done(st);
    return rc;
}

/* A lead's row of the status counts: the key columns and the facts bits. */
#define KEY_TEXTS 6

/*
 * The row a lead was last counted into inside a batch, with what its
 * facts bits were made of and the instant its state began: enough for
 * the lead's next entry to work out its next row without reading it.
 */
struct status_row {
    char *id;
    char *text[KEY_TEXTS]; /* unit, workflow, state, registered, due,
                              pending; all in one allocation with id */
    char *since;
    struct facts facts;
    int64_t bits;
    /*
     * The batch's change to the count of that row, v[delta], or -1: the
     * lead's next entry leaves the row without a lookup. Writing the
     * changes empties v; gen tells (the next entry of the same lead comes
     * before any other change is kept, so delta >= n tells as well).
     */
    int delta;
    uint64_t gen;
};

/* A batch's change to the count of one row, not yet written. */
struct delta {
    char *key; /* the KEY_TEXTS texts, each with its NUL, back to back */
    size_t len;
    int64_t bits, n;
    uint32_t hash;
    int next; /* the next delta in the same bucket, or -1 */
};

#define DELTA_BUCKETS 1024

/*
 * What a batch keeps of the status counts: the row of the lead counted
 * last, and the changes to the counts, written once when the batch
 * commits (or a summary reads the counts inside it). A batch moves many
 * leads through the same few rows, so most changes cancel or add up
 * before they reach the table.
 */
struct ql_status_memo {
    struct status_row *row;
    /*
     * The block of the row before, kept for the next memo_keep (whose
     * strings may point into row, so it cannot reuse row itself): one
     * malloc and free an entry less. Sizes are what each block holds.
     */
    struct status_row *spare;
    size_t row_size, spare_size;
    uint64_t gen; /* changes when v is emptied */
    struct delta *v;
    size_t n, cap;
    int bucket[DELTA_BUCKETS];
};

void
ql_status_memo_drop(struct ql_county *c)
{
    struct ql_status_memo *m = c->status_memo;

    if (m == NULL || m->row == NULL)
        return;
    if (m->spare == NULL || m->spare_size < m->row_size) {
        free(m->spare);
        m->spare = m->row;
        m->spare_size = m->row_size;
    } else {
        free(m->row);
    }
    m->row = NULL;
    m->row_size = 0;
}

void
ql_status_counts_drop(struct ql_county *c)
{
    struct ql_status_memo *m = c->status_memo;
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->n; i++)
        free(m->v[i].key);
    free(m->v);
    free(m->row);
    free(m->spare);
    free(m);
    c->status_memo = NULL;
}

/* The batch's memo, made on first use; NULL when out of memory. */
static struct ql_status_memo *
memo_of(struct ql_county *c)
{
    struct ql_status_memo *m = c->status_memo;
    size_t i;

    if (m == NULL && (m = calloc(1, sizeof *m)) != NULL) {
        for (i = 0; i < DELTA_BUCKETS; i++)
            m->bucket[i] = -1;
        c->status_memo = m;
    }
    return m;
}

/* The row remembered for lead id, or NULL. */
static const struct status_row *
row_of(const struct ql_county *c, const char *id)
{
    const struct ql_status_memo *m = c->status_memo;

    if (m == NULL || m->row == NULL || !is(m->row->id, id))
        return NULL;
    return m->row;
}

/*
 * Remembers the row the lead was just counted into (a batch only). The
 * strings may point into the row it replaces.
 */
static void
memo_keep(struct ql_county *c, const char *id, const char *const *text,
          const char *since, const struct facts *f, int64_t bits, int delta)
{
    struct ql_status_memo *m = memo_of(c);
    struct status_row *r;
    size_t len[KEY_TEXTS], idlen = strlen(id) + 1, i, size = 0;
    size_t sincelen = strlen(since) + 1, total = idlen + sincelen;
    char *at;

    if (m == NULL)
        return; /* without memory the next entry reads the lead again */
    for (i = 0; i < KEY_TEXTS; i++) {
        len[i] = strlen(text[i]) + 1;
        total += len[i];
    }
    total += sizeof *r;
    if (m->spare != NULL && m->spare_size >= total) {
        r = m->spare;
        size = m->spare_size;
    } else {
        free(m->spare);
        /* Rounded up, so that the next rows fit as well. */
        size = (total + 255) & ~(size_t)255;
        r = malloc(size);
    }
    m->spare = NULL;
    m->spare_size = 0;
    if (r != NULL) {
        at = (char *)(r + 1);
        r->id = memcpy(at, id, idlen);
        at += idlen;
        for (i = 0; i < KEY_TEXTS; i++) {
            r->text[i] = memcpy(at, text[i], len[i]);
            at += len[i];
        }
        r->since = memcpy(at, since, sincelen);
        r->facts = *f;
        r->bits = bits;
        r->delta = delta;
        r->gen = m->gen;
    }
    m->spare = m->row; /* no longer read: the strings are in r */
    m->spare_size = m->row_size;
    m->row = r;
    m->row_size = r != NULL ? size : 0;
}

/* Adds n to the batch's change to the row of key text and bits. */
static ql_err
delta_add(struct ql_county *c, const char *const *text, int64_t bits, int64_t n,
          int *slot, struct ql_diag *d)
{
    struct ql_status_memo *m = memo_of(c);
    struct delta *v;
    size_t len = 0, k[KEY_TEXTS], at, i, b;
    uint32_t h = 2166136261u ^ (uint32_t)bits;
    char *key = NULL;
    int j;
    ql_err rc = QL_OK;

    if (m == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    /*
     * Hashed and compared from the texts where they are: most calls find
     * their row, and only a new row needs its key copied.
     */
    for (i = 0; i < KEY_TEXTS; i++) {
        k[i] = strlen(text[i]) + 1;
        len += k[i];
        for (b = 0; b < k[i]; b++)
            h = (h ^ (unsigned char)text[i][b]) * 16777619u;
    }
    for (j = m->bucket[h % DELTA_BUCKETS]; j >= 0; j = m->v[j].next) {
        v = &m->v[j];
        if (v->hash != h || v->bits != bits || v->len != len)
            continue;
        for (i = 0, at = 0; i < KEY_TEXTS; at += k[i], i++)
            if (memcmp(v->key + at, text[i], k[i]) != 0)
                break;
        if (i == KEY_TEXTS) {
            v->n += n;
            *slot = j;
            return QL_OK;
        }
    }
    if ((key = malloc(len)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    for (i = 0, at = 0; i < KEY_TEXTS; at += k[i], i++)
        memcpy(key + at, text[i], k[i]);
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;

        if ((v = realloc(m->v, cap * sizeof *v)) == NULL) {
            rc = ql_fail(d, QL_ENOMEM, NULL);
            goto out;
        }
        m->v = v;
        m->cap = cap;
    }
    v = &m->v[m->n];
    v->key = key;
    key = NULL; /* the delta's now */
    v->len = len;
    v->bits = bits;
    v->n = n;
    v->hash = h;
    v->next = m->bucket[h % DELTA_BUCKETS];
    *slot = (int)m->n;
    m->bucket[h % DELTA_BUCKETS] = (int)m->n++;
out:
    free(key);
    return rc;
}

/* Runs sql with a row's key and a count bound. */
static ql_err
run_key(struct ql_store *store, const char *sql, const char *const *text,
        int64_t bits, int64_t n, struct ql_diag *d)
{
    struct ql_stmt *st = NULL;
    ql_err rc = QL_OK;
    int i;

    if ((rc = ql_store_prepare(store, sql, &st, d)) != QL_OK)
        return rc;
    for (i = 0; i < KEY_TEXTS && rc == QL_OK; i++)
        rc = ql_stmt_bind_text(st, i + 1, text[i], d);
    if (rc == QL_OK)
        rc = ql_stmt_bind_int(st, 7, bits, d);
    if (rc == QL_OK)
        rc = ql_stmt_bind_int(st, 8, n, d);
    if (rc == QL_OK)
        rc = ql_stmt_run(st, d);
    ql_stmt_done(st);
    return rc;
}

/*
 * Changes the count of the row of key text and bits by n. who names what
 * the message blames when a row to take leads out of is not there (a
 * lead's id, or the batch's). A row at zero is deleted, so that replay
 * and upgrade agree. (An UPDATE ... RETURNING would say which in one
 * statement, but SQLite keeps the returned rows in a scratch table, which
 * costs more than the second statement.)
 */
static ql_err
count_by(struct ql_store *store, const char *who, const char *const *text,
         int64_t bits, int64_t n, struct ql_diag *d)
{
    static const char ADD[] =
        "INSERT INTO status_counts(unit, workflow, state, registered, due, "
        "pending, facts, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
        "ON CONFLICT(unit, workflow, state, registered, due, pending, facts) "
        "DO UPDATE SET n = n + excluded.n";
    static const char DROP[] =
        "DELETE FROM status_counts WHERE " KEY_WHERE " AND n = -?8";
    static const char LESS[] =
        "UPDATE status_counts SET n = n + ?8 WHERE " KEY_WHERE " AND n > -?8";
    ql_err rc;

    if (n == 0)
        return QL_OK;
    if (n > 0)
        return run_key(store, ADD, text, bits, n, d);
    if ((rc = run_key(store, DROP, text, bits, n, d)) != QL_OK ||
        ql_store_changes(store) == 1 ||
        (rc = run_key(store, LESS, text, bits, n, d)) != QL_OK)
        return rc;
    if (ql_store_changes(store) != 1)
        return ql_fail(d, QL_EINTEGRITY,
                       "the status counts lack %s: the table "
                       "'status_counts' differs from the log",
                       who);
    return QL_OK;
}

/* The slot in the memo's changes of the row r was counted into, or -1. */
static int
row_delta(const struct ql_county *c, const struct status_row *r)
{
    const struct ql_status_memo *m = c->status_memo;

    if (!c->batch || m == NULL || r->delta < 0 || r->gen != m->gen ||
        (size_t)r->delta >= m->n)
        return -1;
    return r->delta;
}

/*
 * Counts a lead in or out of a row: at once, or at the batch's end (then
 * *slot says where the change is kept; else -1).
 */
static ql_err
count_lead(struct ql_county *c, const char *id, const char *const *text,
           int64_t bits, int64_t n, int *slot, struct ql_diag *d)
{
    char who[QL_ENTRY_WORD_MAX + 8];

    *slot = -1;
    if (c->batch)
        return delta_add(c, text, bits, n, slot, d);
    snprintf(who, sizeof who, "lead %s", id);
    return count_by(ql_county_store(c), who, text, bits, n, d);
}

ql_err
ql_status_counts_flush(struct ql_county *c, struct ql_diag *d)
{
    struct ql_status_memo *m = c->status_memo;
    const char *text[KEY_TEXTS];
    size_t i, k;
    ql_err rc = QL_OK;

    if (m == NULL)
        return QL_OK;
    for (i = 0; i < m->n && rc == QL_OK; i++) {
        struct delta *v = &m->v[i];
        const char *at = v->key;

        for (k = 0; k < KEY_TEXTS; k++) {
            text[k] = at;
            at += strlen(at) + 1;
        }
        rc = count_by(ql_county_store(c), "a row the batch's leads leave",
                      text, v->bits, v->n, d);
        if (rc == QL_OK)
            v->n = 0; /* written: a second flush must not write it again */
    }
    if (rc != QL_OK)
        return rc;
    for (i = 0; i < m->n; i++)
        free(m->v[i].key);
    m->n = 0;
    m->gen++; /* the rows' slots in v mean nothing now */
    for (i = 0; i < DELTA_BUCKETS; i++)
        m->bucket[i] = -1;
    return QL_OK;
}

ql_err
ql_status_count_lead(struct ql_county *c, const char *id, int delta,
                     struct ql_diag *d)
{
    struct ql_store *store = ql_county_store(c);
    const struct status_row *r = row_of(c, id);
    struct ql_stmt *st = NULL;
    const char *text[KEY_TEXTS];
    struct facts f;
    bool row = false;
    int64_t bits;
    int i, slot;
    ql_err rc;

    /*
     * The lead's row was last written by this batch's own previous entry
     * on it: take it out under the key remembered then.
     */
    if (delta < 0 && c->batch && r != NULL) {
        for (i = 0; i < KEY_TEXTS; i++)
            text[i] = r->text[i];
        bits = r->bits;
    } else {
        if ((rc = ql_store_prepare(store, FACTS_SQL, &st, d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 1, id, d)) != QL_OK ||
            (rc = ql_stmt_step(st, &row, d)) != QL_OK || !row ||
            (rc = lead_facts(c, id, &f, d)) != QL_OK ||
            (rc = facts_bits(c, &f, ql_stmt_text(st, 6), &bits, d)) != QL_OK)
            goto out;
        for (i = 0; i < KEY_TEXTS; i++)
            text[i] = ql_stmt_text(st, i);
    }
    if ((rc = count_lead(c, id, text, bits, delta, &slot, d)) == QL_OK &&
        delta > 0 && c->batch)
        memo_keep(c, id, text, ql_stmt_text(st, 6), &f, bits, slot);
out:
    /* Whatever happened, the remembered row is the lead's no longer. */
    if (delta < 0)
        ql_status_memo_drop(c);
    ql_stmt_done(st);
    return rc;
}

/* Whether e is an action whose change to the lead's row follows from it. */
static bool
entry_quick(const struct ql_entry *e)
{
    return is(e->action, "lead.move") || is(e->action, "lead.approve") ||
           is(e->action, "lead.propose") || is(e->action, "lead.reject");
}

bool
ql_status_count_quick(const struct ql_county *c, const struct ql_entry *e)
{
    if (!c->batch)
        return false;
    if (is(e->action, "lead.add"))
        return true;
    return row_of(c, e->lead) != NULL && entry_quick(e);
}

ql_err
ql_status_count_entry(struct ql_county *c, const struct ql_entry *e,
                      struct ql_diag *d)
{
    const struct status_row *m = row_of(c, e->lead);
    const char *text[KEY_TEXTS], *since, *due = ql_entry_get_clear(e, "_due");
    char registered[16];
    bool add = is(e->action, "lead.add"), same;
    struct facts f;
    int64_t bits;
    size_t i;
    int slot;
    ql_err rc;

    if (!ql_status_count_quick(c, e)) {
        rc = ql_fail(d, QL_EUSAGE,
                     "entry %llu of lead %s cannot be counted "
                     "without reading the lead",
                     (unsigned long long)e->index, e->lead);
        goto out;
    }
    if (due == NULL)
        due = "";
    /* The row as apply_rows (ql_lead.c) leaves the lead's columns. */
    if (add) {
        if ((rc = local_date_of(e->time, ql_county_zone(c), registered, d)) !=
            QL_OK)
            goto out;
        memset(&f, 0, sizeof f);
        text[0] = e->unit;
        text[1] = e->workflow;
        text[2] = e->to;
        text[3] = registered;
        text[4] = due;
        text[5] = "";
        since = e->time;
    } else {
        for (i = 0; i < KEY_TEXTS; i++)
            text[i] = m->text[i];
        f = m->facts;
        since = m->since;
    }
    if (is(e->action, "lead.move") || is(e->action, "lead.approve")) {
        if (!is(text[2], e->to))
            since = e->time;
        text[0] = e->unit;
        text[2] = e->to;
        text[4] = due;
        if (is(e->action, "lead.approve"))
            text[5] = "";
    } else if (is(e->action, "lead.propose")) {
        text[5] = e->transition;
    } else if (is(e->action, "lead.reject")) {
        text[5] = "";
    }
    /* The clear fields the entry sets, as lead_clear keeps them. */
    if (add || is(e->action, "lead.move") || is(e->action, "lead.approve"))
        for (i = 0; i < e->nclear; i++)
            if (e->clear[i].name[0] != '_')
                facts_field(&f, e->clear[i].name, e->clear[i].value);
    facts_took(&f, e->action, e->transition);
    if ((rc = facts_bits(c, &f, since, &bits, d)) != QL_OK)
        goto out;
    same = !add && bits == m->bits;
    for (i = 0; same && i < KEY_TEXTS; i++)
        same = is(text[i], m->text[i]);
    /* A lead that stays in its row leaves the count as it is. */
    slot = add ? -1 : row_delta(c, m);
    if (!same && !add) {
        /* Out of its row: through the slot the last entry found it in. */
        if (slot >= 0)
            c->status_memo->v[slot].n--;
        else if ((rc = count_lead(c, e->lead, (const char *const *)m->text,
                                  m->bits, -1, &slot, d)) != QL_OK)
            goto out;
    }
    if (!same &&
        (rc = count_lead(c, e->lead, text, bits, 1, &slot, d)) != QL_OK)
        goto out;
    memo_keep(c, e->lead, text, since, &f, bits, slot);
    return QL_OK;
out:
    ql_status_memo_drop(c);
    return rc;
}

/* ---- the summary: verdicts from the status counts ---- */

/* A unit's leads by id whose state is one of its open states. */
static const char FIRST_OPEN_SQL[] =
    "SELECT min(id) FROM leads WHERE unit = ?1 AND state = ?2 "
    "AND workflow = ?3 AND (?4 IS NULL OR registered <= ?4)";

/*
 * In-scope leads of a unit that a spot_return sent back after entry ?2.
 * Such a lead's last entry is that one or later, so the index on (unit,
 * last_idx) narrows the search to the leads touched since.
 */
static const char RETURNED_SQL[] =
    "SELECT l.id FROM leads l WHERE l.unit = ?1 AND l.last_idx > ?2 "
    "AND (?3 IS NULL OR l.registered <= ?3) AND EXISTS (SELECT 1 FROM "
    "lead_entries e WHERE e.lead = l.id AND e.idx > ?2 AND " EFFECTIVE
    " AND e.transition = '" QL_SPOT_RETURN "') ORDER BY l.id";

/* A sampled lead: its unit, registration, proposal and last spot-check. */
static const char SAMPLED_SQL[] =
    "SELECT l.unit, l.registered, COALESCE(p.transition, ''), "
    "COALESCE((SELECT max(idx) FROM lead_entries WHERE lead = l.id "
    "AND " EFFECTIVE " AND transition IN ('" QL_SPOT_PASS "', '" QL_SPOT_RETURN
    "')), -1) FROM leads l LEFT JOIN pending p ON p.lead = l.id "
    "WHERE l.id = ?1";

static const char SCOPE_SQL[] =
    "SELECT id, last_idx FROM leads WHERE unit = ?1 "
    "AND (?2 IS NULL OR registered <= ?2) ORDER BY id";

static const char CHANGED_SQL[] =
    "SELECT count(*) FROM leads WHERE unit = ?1 AND last_idx > ?2 "
    "AND (?3 IS NULL OR registered <= ?3)";

static const char COUNTS_SQL[] =
    "SELECT unit, workflow, state, registered, due, pending, facts, n "
    "FROM status_counts WHERE ?1 IS NULL OR unit = ?1";

static ql_err
bind_cutoff(struct ql_stmt *st, int i, const char *cutoff, struct ql_diag *d)
{
    return cutoff ? ql_stmt_bind_text(st, i, cutoff, d)
                  : ql_stmt_bind_null(st, i, d);
}

/* Remembers an open state of the unit (strings in the arena). */
static ql_err
note_open(struct urow *r, const char *wf, const char *state, struct ql_diag *d)
{
    const char **gw, **gs;
    size_t i;

    for (i = 0; i < r->nopen; i++)
        if (strcmp(r->open_wf[i], wf) == 0 &&
            strcmp(r->open_state[i], state) == 0)
            return QL_OK;
    if ((gw = realloc(r->open_wf, (r->nopen + 1) * sizeof *gw)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    r->open_wf = gw;
    if ((gs = realloc(r->open_state, (r->nopen + 1) * sizeof *gs)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    r->open_state = gs;
    r->open_wf[r->nopen] = wf;
    r->open_state[r->nopen] = state;
    r->nopen++;
    return QL_OK;
}

/* The status counts' current row, read. */
struct group {
    const struct ql_workflow *wf;
    const struct ql_wf_state *ws;
    const char *wf_hash, *state, *label;    /* in the arena */
    const char *registered, *due, *pending; /* borrowed from the row */
    unsigned facts;
    size_t n;
};

/*
 * Adds n leads of one group of the status counts to unit r, to its tally
 * and to the county's figures: judge() and figures() for n alike leads.
 */
static ql_err
tally_group(struct ql_status *s, struct urow *r, struct tally *t,
            const struct group *g, struct ql_diag *d)
{
    struct ql_status_unit *u = &r->pub;
    struct ql_status_figures *f = &s->fig;
    bool merged, closed, overdue = false, late = false, near = false;
    int64_t due_t;
    int32_t due_day;
    size_t n = g->n;
    ql_err rc;

    u->leads += n;
    if (u->cutoff != NULL && strcmp(g->registered, u->cutoff) > 0) {
        u->out_of_scope += n;
        return QL_OK;
    }
    u->in_scope += n;
    if ((rc = count_state(r, g->state, g->label, g->ws->cleared,
                          state_order(g->wf, g->state), n, d)) != QL_OK)
        return rc;
    merged = merge_target(g->wf, g->state);
    closed = g->ws->terminal && g->ws->cleared && !merged;
    if (g->ws->cleared) {
        u->cleared += n;
    } else {
        u->open += n;
        if ((rc = note_open(r, g->wf_hash, g->state, d)) != QL_OK)
            return rc;
        if (*g->due != '\0') {
            if ((rc = day_last(g->due, s->zone, &due_t, &due_day, d)) != QL_OK)
                return rc;
            overdue = s->now > due_t;
            late = u->committed && due_day > t->deadline_day;
        }
        near = u->committed && !t->past &&
               s->today >= t->deadline_day - QL_COMMIT_NEAR_DAYS;
        if (overdue) {
            u->overdue += n;
            t->n_overdue += n;
        }
        if (late)
            t->n_late += n;
        if (near)
            t->n_near += n;
        if (u->committed && (overdue || late || near))
            u->at_risk += n;
    }
    if (g->ws->cleared && *g->pending != '\0' && reopens(g->wf, g->pending))
        t->blocking += n;
    if (is(g->pending, QL_SPOT_RETURN))
        u->spot_pending += n;

    if (merged) {
        f->merged += n;
        return QL_OK;
    }
    f->leads += n;
    if (!g->ws->cleared)
        f->open += n;
    if (overdue)
        f->overdue += n;
    if (g->facts & F_URGED)
        f->urged += n;
    if (g->facts & F_REPORTED) {
        f->returned.den += n;
        if (g->facts & F_RETURNED)
            f->returned.num += n;
    }
    if (g->facts & F_SPOT) {
        f->spot_returned.den += n;
        if (g->facts & F_SPOT_RETURNED)
            f->spot_returned.num += n;
    }
    if (!closed)
        return QL_OK;
    f->closed += n;
    f->on_time.den += n;
    if (g->facts & F_ON_TIME)
        f->on_time.num += n;
    if (g->facts & F_FINDING) {
        f->substantiated.den += n;
        if (g->facts & F_SUBSTANTIATED)
            f->substantiated.num += n;
    }
    if (g->facts & F_NAMED) {
        f->feedback.den += n;
        if (g->facts & F_FEEDBACK)
            f->feedback.num += n;
    }
    if (g->facts & F_FEEDBACK) {
        f->satisfied.den += n;
        if (g->facts & F_SATISFIED)
            f->satisfied.num += n;
    }
    return QL_OK;
}

/* Reads the status counts of the units shown into their rows. */
static ql_err
read_counts(struct ql_county *c, struct ql_status *s, struct tally *tl,
            const char *only, struct ql_diag *d)
{
    struct ql_stmt *st = NULL;
    struct urow *r = NULL;
    struct group g;
    bool row = false;
    ql_err rc;

    memset(&g, 0, sizeof g);
    /* Inside a batch the counts are written when read. */
    if ((rc = ql_status_counts_flush(c, d)) != QL_OK ||
        (rc = ql_store_prepare(ql_county_store(c), COUNTS_SQL, &st, d)) !=
            QL_OK ||
        (rc = only ? ql_stmt_bind_text(st, 1, only, d)
                   : ql_stmt_bind_null(st, 1, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        const char *unit = ql_stmt_text(st, 0), *wf = ql_stmt_text(st, 1);
        const char *state = ql_stmt_text(st, 2);

        if (r == NULL || strcmp(r->pub.code, unit) != 0)
            r = find_row(s, unit);
        if (r == NULL)
            continue; /* a unit not shown */
        if (g.wf_hash == NULL || strcmp(g.wf_hash, wf) != 0) {
            if ((rc = ql_county_workflow(c, NULL, wf, &g.wf, d)) != QL_OK)
                goto out;
            if ((g.wf_hash = arena_dup(&s->a, wf)) == NULL) {
                rc = ql_fail(d, QL_ENOMEM, NULL);
                goto out;
            }
        }
        if ((g.ws = ql_workflow_state(g.wf, state)) == NULL) {
            rc = ql_fail(d, QL_EINTEGRITY,
                         "unit %s holds leads in state '%s', which "
                         "their workflow does not have",
                         unit, state);
            goto out;
        }
        if ((g.state = arena_dup(&s->a, g.ws->name)) == NULL ||
            (g.label = arena_dup(&s->a, g.ws->label)) == NULL) {
            rc = ql_fail(d, QL_ENOMEM, NULL);
            goto out;
        }
        g.registered = ql_stmt_text(st, 3);
        g.due = ql_stmt_text(st, 4);
        g.pending = ql_stmt_text(st, 5);
        g.facts = (unsigned)ql_stmt_int(st, 6);
        g.n = (size_t)ql_stmt_int(st, 7);
        if ((rc = tally_group(s, r, &tl[r - s->rows], &g, d)) != QL_OK)
            goto out;
    }
out:
    ql_stmt_done(st);
    return rc;
}
/*
 * Whether a verified unit's scope hash still equals the verified one. The
 * hash covers the in-scope leads' ids and last entries. When no in-scope
 * lead the unit holds has an entry after the verification, every one of
 * them was in scope there already, with the same last entry (moving in is
 * an entry on the lead); when their number is also the one verified, none
 * left either: the hash is the one the verification recorded, which was
 * the unit's hash at that entry. Otherwise it is computed from the unit's
 * leads, a cost in proportion to the unit's leads. Entries on leads out
 * of scope, which keep coming after a verification, cost only their
 * number (the index on leads(unit, last_idx)).
 */
static ql_err
verified_scope(struct ql_county *c, struct urow *r, struct tally *t,
               struct ql_diag *d)
{
    struct ql_store *store = ql_county_store(c);
    struct ql_status_unit *u = &r->pub;
    struct ql_stmt *st = NULL;
    uint8_t h[QL_HASH_LEN];
    char *buf = NULL, *grown;
    size_t cap = 0, at = 0, touched;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(store, CHANGED_SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, u->code, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 2, (int64_t)u->verify_idx, d)) != QL_OK ||
        (rc = bind_cutoff(st, 3, u->cutoff, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    touched = row ? (size_t)ql_stmt_int(st, 0) : 0;
    ql_stmt_done(st);
    st = NULL;
    if (touched == 0 && r->verified_leads == (int64_t)u->in_scope &&
        strlen(u->verified_hash) == 2 * QL_HASH_LEN) {
        memcpy(u->scope_hash, u->verified_hash, 2 * QL_HASH_LEN + 1);
        goto out;
    }
    if ((rc = ql_store_prepare(store, SCOPE_SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, u->code, d)) != QL_OK ||
        (rc = bind_cutoff(st, 2, u->cutoff, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        const char *id = ql_stmt_text(st, 0);
        size_t need = strlen(id) + 24;
        int w;

        if (cap - at < need) {
            size_t ncap = cap ? 2 * cap : 4096;

            while (ncap - at < need)
                ncap *= 2;
            if ((grown = realloc(buf, ncap)) == NULL) {
                rc = ql_fail(d, QL_ENOMEM, NULL);
                goto out;
            }
            buf = grown;
            cap = ncap;
        }
        w = snprintf(buf + at, cap - at, "%s %llu\n", id,
                     (unsigned long long)ql_stmt_int(st, 1));
        at += (size_t)w;
    }
    if (rc != QL_OK)
        goto out;
    ql_hash(ql_log_profile(ql_county_log(c)), h, buf ? buf : "", at);
    ql_hex_encode(u->scope_hash, h, sizeof h);
    if (strcmp(u->scope_hash, u->verified_hash) != 0) {
        t->changed = true;
        t->changed_n = touched;
    }
out:
    ql_stmt_done(st);
    free(buf);
    return rc;
}

/* The first (by id) open in-scope lead of the unit: a lapse names it. */
static ql_err
first_open(struct ql_county *c, struct ql_status *s, struct urow *r,
           struct tally *t, struct ql_diag *d)
{
    struct ql_stmt *st = NULL;
    const char *best = NULL;
    bool row = false;
    size_t k;
    ql_err rc = QL_OK;

    for (k = 0; k < r->nopen && rc == QL_OK; k++) {
        if ((rc = ql_store_prepare(ql_county_store(c), FIRST_OPEN_SQL, &st,
                                   d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 1, r->pub.code, d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 2, r->open_state[k], d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 3, r->open_wf[k], d)) != QL_OK ||
            (rc = bind_cutoff(st, 4, r->pub.cutoff, d)) != QL_OK ||
            (rc = ql_stmt_step(st, &row, d)) != QL_OK)
            break;
        if (row && !ql_stmt_null(st, 0) &&
            (best == NULL || strcmp(ql_stmt_text(st, 0), best) < 0) &&
            (best = arena_dup(&s->a, ql_stmt_text(st, 0))) == NULL)
            rc = ql_fail(d, QL_ENOMEM, NULL);
        ql_stmt_done(st);
        st = NULL;
    }
    ql_stmt_done(st);
    t->first_open = best;
    return rc;
}

/*
 * The parts of unit r's verdict that name leads, each from a few indexed
 * rows: the leads behind a breach, the pending spot-checks of the sample,
 * whether a verification still stands, the first open lead of a lapse.
 */
static ql_err
finish_unit(struct ql_county *c, struct ql_status *s, struct urow *r,
            struct tally *t, struct ql_diag *d)
{
    struct ql_store *store = ql_county_store(c);
    struct ql_status_unit *u = &r->pub;
    struct ql_stmt *st = NULL;
    bool row = false;
    size_t i, j;
    ql_err rc = QL_OK;

    if (r->has_decl) {
        if ((rc = ql_store_prepare(store, RETURNED_SQL, &st, d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 1, u->code, d)) != QL_OK ||
            (rc = ql_stmt_bind_int(st, 2, (int64_t)u->declare_idx, d)) !=
                QL_OK ||
            (rc = bind_cutoff(st, 3, u->cutoff, d)) != QL_OK)
            goto out;
        while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
            if (t->returned++ == 0 &&
                (t->first_returned = arena_dup(&s->a, ql_stmt_text(st, 0))) ==
                    NULL) {
                rc = ql_fail(d, QL_ENOMEM, NULL);
                goto out;
            }
        }
        if (rc != QL_OK)
            goto out;
        ql_stmt_done(st);
        st = NULL;
    }
    for (i = 0; u->sampled && i < r->nsample; i++) {
        for (j = 0; j < i; j++)
            if (strcmp(r->sample[j], r->sample[i]) == 0)
                break;
        if (j < i)
            continue; /* named twice, counted once */
        if ((rc = ql_store_prepare(store, SAMPLED_SQL, &st, d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 1, r->sample[i], d)) != QL_OK ||
            (rc = ql_stmt_step(st, &row, d)) != QL_OK)
            goto out;
        /* Pending by the sample, and not already counted as a proposal. */
        if (row && is(ql_stmt_text(st, 0), u->code) &&
            (u->cutoff == NULL ||
             strcmp(ql_stmt_text(st, 1), u->cutoff) <= 0) &&
            !is(ql_stmt_text(st, 2), QL_SPOT_RETURN) &&
            !(ql_stmt_int(st, 3) >= 0 &&
              (uint64_t)ql_stmt_int(st, 3) > u->sample_idx))
            u->spot_pending++;
        ql_stmt_done(st);
        st = NULL;
    }
    u->sample_size = u->sampled ? r->nsample : 0;
    if (u->verified && (rc = verified_scope(c, r, t, d)) != QL_OK)
        goto out;
    if (r->has_decl && t->returned == 0 && u->open > 0 &&
        (rc = first_open(c, s, r, t, d)) != QL_OK)
        goto out;
    verdict(s, r, t);
out:
    ql_stmt_done(st);
    return rc;
}

/* Every unit's verdict from the status counts, and the figures. */
static ql_err
summarize(struct ql_county *c, struct ql_status *s, const char *only,
          struct ql_diag *d)
{
    struct tally *tl;
    size_t i;
    ql_err rc = QL_OK;

    if ((tl = calloc(s->nrows ? s->nrows : 1, sizeof *tl)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    memset(&s->fig, 0, sizeof s->fig);
    for (i = 0; i < s->nrows && rc == QL_OK; i++)
        rc = unit_begin(s, &s->rows[i], &tl[i], d);
    if (rc == QL_OK)
        rc = read_counts(c, s, tl, only, d);
    for (i = 0; i < s->nrows && rc == QL_OK; i++) {
        struct urow *r = &s->rows[i];

        if ((rc = finish_unit(c, s, r, &tl[i], d)) != QL_OK)
            break;
        sort_counts(r);
        r->pub.states = r->counts;
        r->pub.nstates = r->ncounts;
        r->pub.reason = r->reason;
    }
    s->fig.completion.num = s->fig.closed;
    s->fig.completion.den = s->fig.leads;
    free(tl);
    return rc;
}

/* ---- computing ---- */

static ql_err
compute(struct ql_county *c, struct ql_status *s, const char *cycle,
        const char *unit, bool detail, struct ql_diag *d)
{
    struct gather g = {s, unit};
    char latest[QL_CYCLE_MAX + 1];
    size_t i, at, keep;
    ql_err rc;

    if (cycle == NULL) {
        rc = ql_commit_latest_cycle(c, NULL, latest, d);
        if (rc == QL_OK)
            cycle = latest;
        else if (rc != QL_ENOTFOUND)
            return rc;
    }
    if (cycle != NULL && (s->cycle = arena_dup(&s->a, cycle)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    if ((rc = ql_log_size(ql_county_log(c), &s->log_size, d)) != QL_OK ||
        (rc = ql_county_units(c, on_unit, &g, d)) != QL_OK)
        return rc;
    if (unit != NULL && s->nrows == 0)
        return ql_fail(d, QL_ENOTFOUND, "unknown unit '%s'", unit);
    if (unit != NULL && !handling(s->rows[0].pub.kind) && !s->rows[0].office)
        return ql_fail(d, QL_EUSAGE,
                       "unit '%s' is an %s unit and holds no "
                       "leads",
                       unit, s->rows[0].pub.kind);
    if (s->cycle != NULL &&
        ((rc = ql_commit_list(c, NULL, s->cycle, on_commitment, &g, d)) !=
             QL_OK ||
         (rc = ql_commit_events(c, unit, s->cycle, on_event, &g, d)) != QL_OK))
        return rc;
    for (i = 0; i < s->nrows; i++) {
        struct sample_ctx sc = {s, &s->rows[i]};

        if (s->rows[i].pub.sampled &&
            (rc = ql_commit_sample_leads(c, s->rows[i].pub.sample_idx,
                                         on_sample_lead, &sc, d)) != QL_OK)
            return rc;
    }
    if (!detail) {
        if ((rc = summarize(c, s, unit, d)) != QL_OK)
            return rc;
    } else if ((rc = load_leads(c, s, unit, d)) != QL_OK) {
        return rc;
    }
    /* Leads come sorted by unit, rows by code: walk both. */
    for (i = 0, at = 0; detail && i < s->nrows; i++) {
        struct urow *r = &s->rows[i];
        size_t first;

        while (at < s->nleads && strcmp(s->leads[at].unit, r->pub.code) < 0)
            at++;
        first = at;
        while (at < s->nleads && strcmp(s->leads[at].unit, r->pub.code) == 0)
            at++;
        if ((rc = judge(c, s, r, s->leads + first, s->lx + first, at - first,
                        d)) != QL_OK)
            return rc;
        sort_counts(r);
        r->pub.lead = s->leads + first;
        r->pub.nlead = at - first;
        r->pub.states = r->counts;
        r->pub.nstates = r->ncounts;
        r->pub.reason = r->reason;
    }
    /* The office shows only when it holds leads, or is asked about. */
    for (i = 0, keep = 0; i < s->nrows; i++) {
        if (s->rows[i].office && s->rows[i].pub.leads == 0 && unit == NULL) {
            urow_release(&s->rows[i]);
            continue;
        }
        s->rows[keep++] = s->rows[i];
    }
    s->nrows = keep;
    for (i = 0; i < s->nrows; i++) {
        s->rows[i].pub.states = s->rows[i].counts;
        s->rows[i].pub.reason = s->rows[i].reason;
    }
    if (detail)
        figures(s);
    return QL_OK;
}

static ql_err
status_run(struct ql_county *c, const char *cycle, const char *unit,
           bool detail, struct ql_status **out, struct ql_diag *d)
{
    struct ql_store *store = ql_county_store(c);
    struct ql_status *s;
    bool began = false;
    ql_err rc;

    if (cycle != NULL &&
        (!ql_entry_word_valid(cycle) || strlen(cycle) > QL_CYCLE_MAX))
        return ql_fail(d, QL_EUSAGE,
                       "invalid cycle name '%s': use letters, "
                       "digits, '-', '_' or '.', at most %d",
                       cycle, QL_CYCLE_MAX);
    if ((s = calloc(1, sizeof *s)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    s->now = ql_county_now(c);
    s->zone = ql_county_zone(c);
    if ((rc = ql_zone_local_date(s->now, s->zone, &s->today, d)) != QL_OK ||
        (rc = ql_date_format(s->today, s->today_s, sizeof s->today_s, d)) !=
            QL_OK)
        goto out;
    /* A batch's lead rows wait in memory until something reads them. */
    if ((rc = ql_lead_batch_flush(c, d)) != QL_OK)
        goto out;
    /* One snapshot for everything, unless a write already holds one. */
    if (!ql_store_in_transaction(store)) {
        if ((rc = ql_store_begin_read(store, d)) != QL_OK)
            goto out;
        began = true;
    }
    rc = compute(c, s, cycle, unit, detail, d);
out:
    if (began)
        ql_store_rollback(store);
    if (rc != QL_OK) {
        ql_status_free(s);
        return rc;
    }
    *out = s;
    return QL_OK;
}

ql_err
ql_status_compute(struct ql_county *c, const char *cycle, const char *unit,
                  struct ql_status **out, struct ql_diag *d)
{
    return status_run(c, cycle, unit, true, out, d);
}

ql_err
ql_status_summary(struct ql_county *c, const char *cycle, const char *unit,
                  struct ql_status **out, struct ql_diag *d)
{
    return status_run(c, cycle, unit, false, out, d);
}
