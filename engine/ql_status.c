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

void
ql_status_free(struct ql_status *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->nrows; i++) {
        free(s->rows[i].counts);
        free(s->rows[i].count_order);
        free(s->rows[i].sample);
        free(s->rows[i].sample_mandatory);
    }
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
    int64_t t;
    int32_t day;
    ql_err rc;

    out[0] = '\0';
    if (*time == '\0')
        return QL_OK;
    if ((rc = ql_time_parse(time, strlen(time), &t, d)) != QL_OK ||
        (rc = ql_zone_local_date(t, zone, &day, d)) != QL_OK)
        return rc;
    return ql_date_format(day, out, 16, d);
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

static ql_err
count_state(struct urow *r, const struct ql_status_lead *l, size_t order,
            struct ql_diag *d)
{
    struct ql_status_count *grown;
    size_t *ogrown, i;

    for (i = 0; i < r->ncounts; i++) {
        if (strcmp(r->counts[i].state, l->state) == 0) {
            r->counts[i].n++;
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
    r->counts[r->ncounts].state = l->state;
    r->counts[r->ncounts].label = l->state_label;
    r->counts[r->ncounts].cleared = l->cleared;
    r->counts[r->ncounts].n = 1;
    r->count_order[r->ncounts] = order;
    r->ncounts++;
    return QL_OK;
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
 * The verdict of one unit, in the order of docs/commitments.md: breach,
 * missed deadline, a declaration that holds, then risk.
 */
static ql_err
judge(struct ql_county *c, struct ql_status *s, struct urow *r,
      struct ql_status_lead *leads, struct lx *lx, size_t n, struct ql_diag *d)
{
    struct ql_status_unit *u = &r->pub;
    int64_t deadline_t = 0;
    int32_t deadline_day = 0;
    bool past = false, changed = false;
    size_t i, returned = 0, blocking = 0, changed_n = 0;
    size_t n_overdue = 0, n_late = 0, n_near = 0;
    const char *first_returned = NULL, *first_open = NULL;
    char day1[16], day2[16];
    ql_err rc;

    if (!u->committed)
        u->cutoff = s->cycle_cutoff;
    if (u->committed && (rc = day_last(u->deadline, s->zone, &deadline_t,
                                       &deadline_day, d)) != QL_OK)
        return rc;
    past = u->committed && s->now > deadline_t;
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
        if ((rc = count_state(r, l, x->order, d)) != QL_OK)
            return rc;
        if (l->cleared) {
            u->cleared++;
        } else {
            u->open++;
            l->why |= QL_WHY_OPEN;
            if (first_open == NULL)
                first_open = l->id;
            if (*l->due != '\0') {
                if ((rc = day_last(l->due, s->zone, &due_t, &due_day, d)) !=
                    QL_OK)
                    return rc;
                if (s->now > due_t)
                    l->why |= QL_WHY_OVERDUE;
                if (u->committed && due_day > deadline_day)
                    l->why |= QL_WHY_DUE_LATE;
            }
            if (u->committed && !past &&
                s->today >= deadline_day - QL_COMMIT_NEAR_DAYS)
                l->why |= QL_WHY_NEAR;
            if (l->why & QL_WHY_OVERDUE) {
                u->overdue++;
                n_overdue++;
            }
            if (l->why & QL_WHY_DUE_LATE)
                n_late++;
            if (l->why & QL_WHY_NEAR)
                n_near++;
            if (u->committed && (l->why & QL_WHY_AT_RISK))
                u->at_risk++;
        }
        if (l->cleared && l->pending != NULL) {
            const struct ql_wf_transition *t =
                ql_workflow_transition(x->wf, l->pending);
            const struct ql_wf_state *to =
                t ? ql_workflow_state(x->wf, t->to) : NULL;

            if (to == NULL || !to->cleared) {
                l->why |= QL_WHY_BLOCKING;
                blocking++;
            }
        }
        if (l->pending != NULL && strcmp(l->pending, QL_SPOT_RETURN) == 0)
            l->why |= QL_WHY_PENDING;
        if (r->has_decl && x->spot_return_idx >= 0 &&
            (uint64_t)x->spot_return_idx > u->declare_idx) {
            l->why |= QL_WHY_RETURNED;
            if (first_returned == NULL)
                first_returned = l->id;
            returned++;
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
        changed = true;
        for (i = 0; i < n; i++)
            if (leads[i].why & QL_WHY_CHANGED)
                changed_n++;
    }
    if (!changed)
        for (i = 0; i < n; i++)
            leads[i].why &= ~QL_WHY_CHANGED;
    if (!r->has_decl)
        u->declaration = QL_DECL_NONE;
    else if (returned > 0)
        u->declaration = QL_DECL_BREACHED;
    else if (u->open > 0)
        u->declaration = QL_DECL_LAPSED;
    else
        u->declaration = QL_DECL_HOLDS;

    r->reason[0] = '\0';
    if (r->office) {
        u->verdict = QL_VERDICT_NONE;
        reason_add(r, "held by the supervision office: %zu open", u->open);
        return QL_OK;
    }
    if (!u->committed) {
        u->verdict = QL_VERDICT_UNCOMMITTED;
        reason_add(r, "no commitment signed for cycle %s",
                   s->cycle ? s->cycle : "-");
        return QL_OK;
    }
    if (u->declaration == QL_DECL_BREACHED) {
        u->verdict = QL_VERDICT_FAILED;
        reason_add(r,
                   "declaration of %s (entry %llu) breached: a "
                   "spot-check sent %s back",
                   date_part(u->declared_at, day1, s->zone),
                   (unsigned long long)u->declare_idx, first_returned);
        if (returned > 1)
            reason_add(r, "%zu leads in all", returned);
        return QL_OK;
    }
    if (past &&
        !(u->declaration == QL_DECL_HOLDS && r->decl_time <= deadline_t)) {
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
        return QL_OK;
    }
    if (u->declaration == QL_DECL_HOLDS) {
        date_part(u->declared_at, day1, s->zone);
        if (u->verified && !changed && u->spot_pending == 0) {
            u->verdict = QL_VERDICT_CLEARED;
            reason_add(r, "declared %s, verified %s by %s", day1,
                       date_part(u->verified_at, day2, s->zone),
                       u->verified_by);
            return QL_OK;
        }
        u->verdict = QL_VERDICT_DECLARED;
        if (u->spot_pending > 0)
            reason_add(r, "declared %s; %zu spot-check%s pending", day1,
                       u->spot_pending, u->spot_pending == 1 ? "" : "s");
        else if (u->verified)
            reason_add(r,
                       "declared %s; %zu lead%s changed since the "
                       "verification of %s: verify again",
                       day1, changed_n, changed_n == 1 ? "" : "s",
                       date_part(u->verified_at, day2, s->zone));
        else if (!u->sampled)
            reason_add(r, "declared %s; no sample drawn yet", day1);
        else
            reason_add(r,
                       "declared %s; sample checked, verification "
                       "pending",
                       day1);
        return QL_OK;
    }
    if (u->declaration == QL_DECL_LAPSED)
        reason_add(r, "declaration of %s lapsed (%s is open)",
                   date_part(u->declared_at, day1, s->zone), first_open);
    if (u->at_risk > 0) {
        u->verdict = QL_VERDICT_AT_RISK;
        if (n_overdue > 0)
            reason_add(r, "%zu overdue", n_overdue);
        if (n_late > 0)
            reason_add(r, "%zu due after the deadline", n_late);
        if (n_near > 0)
            reason_add(r, "%zu open within %d days of the deadline", n_near,
                       QL_COMMIT_NEAR_DAYS);
        return QL_OK;
    }
    u->verdict = QL_VERDICT_ON_TRACK;
    if (u->open > 0)
        reason_add(r, "%zu open, none at risk", u->open);
    else if (blocking > 0)
        reason_add(r, "nothing open; %zu proposal%s waiting", blocking,
                   blocking == 1 ? "" : "s");
    else
        reason_add(r, "nothing open; not yet declared");
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

/* ---- computing ---- */

static ql_err
compute(struct ql_county *c, struct ql_status *s, const char *cycle,
        const char *unit, struct ql_diag *d)
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
    if ((rc = load_leads(c, s, unit, d)) != QL_OK)
        return rc;
    /* Leads come sorted by unit, rows by code: walk both. */
    for (i = 0, at = 0; i < s->nrows; i++) {
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
        if (s->rows[i].office && s->rows[i].pub.nlead == 0 && unit == NULL) {
            free(s->rows[i].counts);
            free(s->rows[i].count_order);
            free(s->rows[i].sample);
            free(s->rows[i].sample_mandatory);
            continue;
        }
        s->rows[keep++] = s->rows[i];
    }
    s->nrows = keep;
    for (i = 0; i < s->nrows; i++) {
        s->rows[i].pub.states = s->rows[i].counts;
        s->rows[i].pub.reason = s->rows[i].reason;
    }
    figures(s);
    return QL_OK;
}

ql_err
ql_status_compute(struct ql_county *c, const char *cycle, const char *unit,
                  struct ql_status **out, struct ql_diag *d)
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
    /* One snapshot for everything, unless a write already holds one. */
    if (!ql_store_in_transaction(store)) {
        if ((rc = ql_store_begin_read(store, d)) != QL_OK)
            goto out;
        began = true;
    }
    rc = compute(c, s, cycle, unit, d);
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
