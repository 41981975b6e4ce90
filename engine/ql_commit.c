/* Commitments: signing, declaring, sampling, verifying (ql_commit.h). */
#include "ql_commit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_codec.h"
#include "ql_county_impl.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_note.h"
#include "ql_status.h"
#include "ql_store.h"

/* The standard wording of a commitment (DESIGN.md section 7). */
/* clang-format off */
#define COMMIT_TEXT                                                            \
    "本单位承诺于%d年%d月%d日前实现线索摸排清仓见底、线索核查全面清零，"     \
    "对核查结果签字背书、终身负责"
/* clang-format on */

/* Most lead ids a refusal names before "...". */
#define NAME_MAX_IDS 3

/* ---- reading ---- */

ql_err
ql_commit_list(struct ql_county *c, const char *unit, const char *cycle,
               ql_commit_fn fn, void *ctx, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT unit, cycle, cutoff, deadline, text, signer, idx, time "
        "FROM commitments WHERE (?1 IS NULL OR unit = ?1) AND "
        "(?2 IS NULL OR cycle = ?2) ORDER BY unit, idx";
    struct ql_stmt *st = NULL;
    struct ql_commit_info ci;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) != QL_OK ||
        (rc = unit ? ql_stmt_bind_text(st, 1, unit, d)
                   : ql_stmt_bind_null(st, 1, d)) != QL_OK ||
        (rc = cycle ? ql_stmt_bind_text(st, 2, cycle, d)
                    : ql_stmt_bind_null(st, 2, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        ci.unit = ql_stmt_text(st, 0);
        ci.cycle = ql_stmt_text(st, 1);
        ci.cutoff = ql_stmt_text(st, 2);
        ci.deadline = ql_stmt_text(st, 3);
        ci.text = ql_stmt_text(st, 4);
        ci.signer = ql_stmt_text(st, 5);
        ci.idx = (uint64_t)ql_stmt_int(st, 6);
        ci.time = ql_stmt_text(st, 7);
        if ((rc = fn(ctx, &ci, d)) != QL_OK)
            break;
    }
out:
    ql_stmt_done(st);
    return rc;
}

static const char *
text_or_null(struct ql_stmt *st, int col)
{
    return ql_stmt_null(st, col) ? NULL : ql_stmt_text(st, col);
}

ql_err
ql_commit_events(struct ql_county *c, const char *unit, const char *cycle,
                 ql_commit_event_fn fn, void *ctx, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT idx, unit, cycle, kind, actor, time, ref, scope_hash, "
        "scope_leads, checkpoint_size, checkpoint_root, population, "
        "population_hash FROM commit_events "
        "WHERE (?1 IS NULL OR unit = ?1) AND (?2 IS NULL OR cycle = ?2) "
        "ORDER BY idx";
    struct ql_stmt *st = NULL;
    struct ql_commit_event ev;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) != QL_OK ||
        (rc = unit ? ql_stmt_bind_text(st, 1, unit, d)
                   : ql_stmt_bind_null(st, 1, d)) != QL_OK ||
        (rc = cycle ? ql_stmt_bind_text(st, 2, cycle, d)
                    : ql_stmt_bind_null(st, 2, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        memset(&ev, 0, sizeof ev);
        ev.idx = (uint64_t)ql_stmt_int(st, 0);
        ev.unit = ql_stmt_text(st, 1);
        ev.cycle = ql_stmt_text(st, 2);
        ev.kind = ql_stmt_text(st, 3);
        ev.actor = ql_stmt_text(st, 4);
        ev.time = ql_stmt_text(st, 5);
        ev.has_ref = !ql_stmt_null(st, 6);
        ev.ref = (uint64_t)ql_stmt_int(st, 6);
        ev.scope_hash = text_or_null(st, 7);
        ev.scope_leads = ql_stmt_int(st, 8);
        ev.checkpoint_size = (uint64_t)ql_stmt_int(st, 9);
        ev.checkpoint_root = text_or_null(st, 10);
        ev.population = ql_stmt_int(st, 11);
        ev.population_hash = text_or_null(st, 12);
        if ((rc = fn(ctx, &ev, d)) != QL_OK)
            break;
    }
out:
    ql_stmt_done(st);
    return rc;
}

bool
ql_commit_list_has(const char *list, const char *word, size_t n)
{
    const char *p = list;

    while (*p != '\0') {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);

        if (len == n && memcmp(p, word, n) == 0)
            return true;
        if (sp == NULL)
            break;
        p = sp + 1;
    }
    return false;
}

/*
 * Calls fn for each id of the space-separated list leads, with whether
 * mandatory lists it. QL_EINTEGRITY for a malformed list.
 */
static ql_err
each_lead(const char *leads, const char *mandatory, ql_commit_sample_fn fn,
          void *ctx, struct ql_diag *d)
{
    char id[QL_ENTRY_WORD_MAX + 1];
    const char *p = leads;
    ql_err rc;

    while (*p != '\0') {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);

        if (len == 0 || len > QL_ENTRY_WORD_MAX)
            return ql_fail(d, QL_EINTEGRITY,
                           "a sample's lead list is "
                           "malformed");
        memcpy(id, p, len);
        id[len] = '\0';
        if (!ql_entry_word_valid(id))
            return ql_fail(d, QL_EINTEGRITY,
                           "a sample's lead list is "
                           "malformed");
        if (fn != NULL &&
            (rc = fn(ctx, id, ql_commit_list_has(mandatory, id, len), d)) !=
                QL_OK)
            return rc;
        if (sp == NULL)
            break;
        p = sp + 1;
    }
    return QL_OK;
}

ql_err
ql_commit_sample_leads(struct ql_county *c, uint64_t idx,
                       ql_commit_sample_fn fn, void *ctx, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT COALESCE(leads, ''), COALESCE(mandatory, '') "
        "FROM commit_events WHERE idx = ?1 AND kind = 'sample'";
    struct ql_stmt *st = NULL;
    char *leads = NULL, *mandatory = NULL;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 1, (int64_t)idx, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (!row) {
        rc = ql_fail(d, QL_ENOTFOUND, "entry %llu is no sample",
                     (unsigned long long)idx);
        goto out;
    }
    /* Copied: fn may run queries of its own. */
    if ((leads = strdup(ql_stmt_text(st, 0))) == NULL ||
        (mandatory = strdup(ql_stmt_text(st, 1))) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    ql_stmt_done(st);
    st = NULL;
    rc = each_lead(leads, mandatory, fn, ctx, d);
out:
    ql_stmt_done(st);
    free(leads);
    free(mandatory);
    return rc;
}

ql_err
ql_commit_latest_cycle(struct ql_county *c, const char *unit, char *buf,
                       struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT cycle FROM commitments WHERE ?1 IS NULL OR unit = ?1 "
        "ORDER BY idx DESC LIMIT 1";
    struct ql_stmt *st = NULL;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) != QL_OK ||
        (rc = unit ? ql_stmt_bind_text(st, 1, unit, d)
                   : ql_stmt_bind_null(st, 1, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (!row)
        rc = ql_fail(d, QL_ENOTFOUND, "no commitment has been signed%s%s",
                     unit ? " by unit " : "", unit ? unit : "");
    else
        snprintf(buf, QL_CYCLE_MAX + 1, "%s", ql_stmt_text(st, 0));
out:
    ql_stmt_done(st);
    return rc;
}

/* ---- the sample rule ---- */

struct ticket {
    uint8_t h[QL_HASH_LEN];
    const char *id;
    size_t i;
};

static int
ticket_cmp(const void *a, const void *b)
{
    const struct ticket *x = a, *y = b;
    int r = memcmp(x->h, y->h, QL_HASH_LEN);

    return r != 0 ? r : strcmp(x->id, y->id);
}

ql_err
ql_commit_draw(const struct ql_profile *p, const uint8_t seed[32],
               const char *unit, const char *cycle,
               struct ql_sample_candidate *cand, size_t n, size_t *count,
               struct ql_diag *d)
{
    static const char TAG[] = "qingling-sample/1\n";
    struct ticket *t = NULL;
    size_t i, nt = 0, mandatory = 0, target, k;

    for (i = 0; i < n; i++) {
        cand[i].chosen = cand[i].mandatory;
        if (cand[i].mandatory)
            mandatory++;
    }
    target = (n * QL_SAMPLE_PERCENT + 99) / 100;
    if (target < QL_SAMPLE_MIN)
        target = QL_SAMPLE_MIN;
    k = n - mandatory < target ? n - mandatory : target;
    if (k > 0) {
        if ((t = calloc(n - mandatory, sizeof *t)) == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        for (i = 0; i < n; i++) {
            struct ql_bytes parts[7] = {
                {seed, QL_HASH_LEN},
                {TAG, sizeof TAG - 1},
                {unit, strlen(unit)},
                {"\n", 1},
                {cycle, strlen(cycle)},
                {"\n", 1},
                {cand[i].id, strlen(cand[i].id)},
            };

            if (cand[i].mandatory)
                continue;
            ql_hash_parts(p, t[nt].h, parts, 7);
            t[nt].id = cand[i].id;
            t[nt].i = i;
            nt++;
        }
        qsort(t, nt, sizeof *t, ticket_cmp);
        for (i = 0; i < k; i++)
            cand[t[i].i].chosen = true;
        free(t);
    }
    if (count != NULL)
        *count = mandatory + k;
    return QL_OK;
}

/* ---- checks shared by the writes ---- */

static bool
word_ok(const char *s, size_t max)
{
    return s != NULL && ql_entry_word_valid(s) && strlen(s) <= max;
}

static ql_err
check_unit_arg(const char *unit, struct ql_diag *d)
{
    if (!word_ok(unit, QL_ENTRY_WORD_MAX))
        return ql_fail(d, QL_EUSAGE, "invalid unit code '%s'",
                       unit ? unit : "");
    return QL_OK;
}

static ql_err
check_cycle_arg(const char *cycle, struct ql_diag *d)
{
    if (!word_ok(cycle, QL_CYCLE_MAX))
        return ql_fail(d, QL_EUSAGE,
                       "invalid cycle name '%s': use letters, "
                       "digits, '-', '_' or '.', at most %d",
                       cycle ? cycle : "", QL_CYCLE_MAX);
    return QL_OK;
}

/* The unit head of unit, acting for it. */
static ql_err
need_head(const struct county_actor *who, const char *unit, const char *what,
          struct ql_diag *d)
{
    if (who->unit[0] == '\0' || strcmp(who->unit, unit) != 0)
        return ql_fail(d, QL_EDENIED,
                       "only unit %s's head may %s; '%s' is "
                       "not in unit %s",
                       unit, what, who->name, unit);
    if (!county_has_role(who->roles, QL_COMMIT_HEAD_ROLE))
        return ql_fail(d, QL_EDENIED, "%s needs role '%s'; '%s' has %s", what,
                       QL_COMMIT_HEAD_ROLE, who->name, who->roles);
    return QL_OK;
}

/* An inspector of a supervision unit. */
static ql_err
need_inspector(const struct county_actor *who, const char *what,
               struct ql_diag *d)
{
    if (strcmp(who->kind, QL_KIND_SUPERVISION) != 0 ||
        !county_has_role(who->roles, QL_COMMIT_INSPECTOR_ROLE))
        return ql_fail(d, QL_EDENIED,
                       "%s needs role '%s' in a supervision "
                       "unit; '%s' has none",
                       what, QL_COMMIT_INSPECTOR_ROLE, who->name);
    return QL_OK;
}

struct commitment {
    char cycle[QL_CYCLE_MAX + 1];
    char cutoff[16], deadline[16];
    uint64_t idx;
};

/* The unit's commitment for cycle, or its latest when cycle is NULL. */
static ql_err
find_commitment(struct ql_county *c, const char *unit, const char *cycle,
                struct commitment *out, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT cycle, cutoff, deadline, idx FROM commitments "
        "WHERE unit = ?1 AND (?2 IS NULL OR cycle = ?2) "
        "ORDER BY idx DESC LIMIT 1";
    struct ql_stmt *st = NULL;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, unit, d)) != QL_OK ||
        (rc = cycle ? ql_stmt_bind_text(st, 2, cycle, d)
                    : ql_stmt_bind_null(st, 2, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (!row) {
        rc = cycle ? ql_fail(d, QL_ENOTFOUND,
                             "unit %s has no commitment for "
                             "cycle %s",
                             unit, cycle)
                   : ql_fail(d, QL_ENOTFOUND,
                             "unit %s has signed no "
                             "commitment",
                             unit);
        goto out;
    }
    snprintf(out->cycle, sizeof out->cycle, "%s", ql_stmt_text(st, 0));
    snprintf(out->cutoff, sizeof out->cutoff, "%s", ql_stmt_text(st, 1));
    snprintf(out->deadline, sizeof out->deadline, "%s", ql_stmt_text(st, 2));
    out->idx = (uint64_t)ql_stmt_int(st, 3);
out:
    ql_stmt_done(st);
    return rc;
}

/* The log's latest signed checkpoint: its size and root. */
static ql_err
latest_checkpoint(struct ql_county *c, uint64_t *size, uint8_t root[32],
                  struct ql_diag *d)
{
    struct ql_note *n = NULL;
    struct ql_checkpoint cp;
    const char *text;
    char *note = NULL;
    size_t len = 0;
    ql_err rc;

    if ((rc = ql_store_checkpoint_get(ql_county_store(c), UINT64_MAX, size,
                                      &note, d)) != QL_OK)
        return rc;
    if ((rc = ql_note_parse(note, strlen(note), &n, d)) != QL_OK)
        goto out;
    text = ql_note_text(n, &len);
    if ((rc = ql_checkpoint_parse(text, len, &cp, d)) != QL_OK)
        goto out;
    if (cp.size != *size) {
        rc = ql_fail(d, QL_EINTEGRITY,
                     "the checkpoint stored for size %llu "
                     "names size %llu",
                     (unsigned long long)*size, (unsigned long long)cp.size);
        goto out;
    }
    memcpy(root, cp.root, QL_HASH_LEN);
out:
    ql_note_free(n);
    free(note);
    return rc;
}

/* "A, B, C ..." of the leads of u with any of the flags in why. */
static void
name_leads(const struct ql_status_unit *u, unsigned why, char *buf, size_t size)
{
    size_t i, named = 0, at = 0;

    buf[0] = '\0';
    for (i = 0; i < u->nlead && at + 1 < size; i++) {
        if (!(u->lead[i].why & why))
            continue;
        if (named == NAME_MAX_IDS) {
            snprintf(buf + at, size - at, " ...");
            return;
        }
        at +=
            (size_t)snprintf(buf + at, size - at, "%s%s %s", named ? ", " : "",
                             u->lead[i].id, u->lead[i].state);
        named++;
    }
}

/* The declaration of u in words, for refusals. */
static ql_err
declaration_gone(const struct ql_status_unit *u, const char *cycle,
                 struct ql_diag *d)
{
    char ids[200];

    if (u->declaration == QL_DECL_NONE)
        return ql_fail(d, QL_ERULE, "unit %s has not declared for cycle %s",
                       u->code, cycle);
    name_leads(
        u, u->declaration == QL_DECL_BREACHED ? QL_WHY_RETURNED : QL_WHY_OPEN,
        ids, sizeof ids);
    return ql_fail(d, QL_ERULE,
                   "unit %s's declaration (entry %llu) %s: %s; "
                   "the unit must declare again",
                   u->code, (unsigned long long)u->declare_idx,
                   u->declaration == QL_DECL_BREACHED ? "was breached"
                                                      : "no longer holds",
                   ids);
}

/* Begins a write as the actor and loads the unit's commitment. */
static ql_err
begin(struct ql_county *c, const char *unit, const char *cycle,
      struct county_actor *who, struct ql_diag *d)
{
    ql_err rc;

    if ((rc = check_unit_arg(unit, d)) != QL_OK ||
        (cycle != NULL && (rc = check_cycle_arg(cycle, d)) != QL_OK))
        return rc;
    return county_begin(c, who, d);
}

static ql_err
append(struct ql_county *c, struct ql_entry *e, uint64_t *idx,
       struct ql_diag *d)
{
    const struct ql_key *signers[1];
    ql_err rc;

    signers[0] = c->actor;
    if ((rc = county_append(c, e, signers, 1, idx, d)) != QL_OK)
        return rc;
    return county_finish(c, d);
}

static ql_err
add_num(struct ql_entry *e, const char *name, uint64_t v, struct ql_diag *d)
{
    char num[24];

    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    return ql_entry_add_clear(e, name, num, d);
}

/* ---- signing ---- */

ql_err
ql_commit_sign(struct ql_county *c, const char *unit, const char *cycle,
               const char *cutoff, const char *deadline, const char *text,
               uint64_t *idx, struct ql_diag *d)
{
    struct county_actor who;
    struct commitment old;
    struct ql_entry e;
    int32_t cut_day, dl_day;
    char kind[16], std[512];
    int y, m, dd;
    ql_err rc;

    ql_entry_init(&e);
    if ((rc = check_unit_arg(unit, d)) != QL_OK ||
        (rc = check_cycle_arg(cycle, d)) != QL_OK)
        return rc;
    if (cutoff == NULL ||
        ql_date_parse(cutoff, strlen(cutoff), &cut_day, d) != QL_OK)
        return ql_fail(d, QL_EUSAGE,
                       "invalid cut-off date '%s': use "
                       "YYYY-MM-DD",
                       cutoff ? cutoff : "");
    if (deadline == NULL ||
        ql_date_parse(deadline, strlen(deadline), &dl_day, d) != QL_OK)
        return ql_fail(d, QL_EUSAGE, "invalid deadline '%s': use YYYY-MM-DD",
                       deadline ? deadline : "");
    if (cut_day > dl_day)
        return ql_fail(d, QL_EUSAGE, "the cut-off %s is after the deadline %s",
                       cutoff, deadline);
    if (text == NULL) {
        ql_date_to_civil(dl_day, &y, &m, &dd);
        snprintf(std, sizeof std, COMMIT_TEXT, y, m, dd);
        text = std;
    }
    if (*text == '\0' || strlen(text) > QL_COMMIT_TEXT_MAX)
        return ql_fail(d, QL_EUSAGE, "the commitment text has 1 to %d bytes",
                       QL_COMMIT_TEXT_MAX);
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if ((rc = need_head(&who, unit, "sign its commitment", d)) != QL_OK ||
        (rc = county_unit_kind(c, unit, kind, sizeof kind, d)) != QL_OK)
        goto fail;
    if (strcmp(kind, QL_KIND_TOWNSHIP) != 0 &&
        strcmp(kind, QL_KIND_MEMBER) != 0) {
        rc = ql_fail(d, QL_ERULE,
                     "unit %s is a %s unit and makes no "
                     "commitment",
                     unit, kind);
        goto fail;
    }
    if (ql_county_now(c) > ql_zone_day_last(dl_day, ql_county_zone(c))) {
        rc = ql_fail(d, QL_ERULE, "the deadline %s has already passed",
                     deadline);
        goto fail;
    }
    rc = find_commitment(c, unit, cycle, &old, d);
    if (rc == QL_OK) {
        rc = ql_fail(d, QL_EEXIST,
                     "unit %s signed its commitment for %s "
                     "already (entry %llu)",
                     unit, cycle, (unsigned long long)old.idx);
        goto fail;
    }
    if (rc != QL_ENOTFOUND)
        goto fail;
    snprintf(e.action, sizeof e.action, "commit.sign");
    snprintf(e.unit, sizeof e.unit, "%s", unit);
    if ((rc = ql_entry_add_clear(&e, "cutoff", cutoff, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "cycle", cycle, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "deadline", deadline, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "text", text, d)) != QL_OK) {
        /* A text that is not one line of UTF-8 is the caller's mistake. */
        if (rc == QL_EFORMAT)
            rc = ql_fail(d, QL_EUSAGE,
                         "the commitment text must be one "
                         "line of UTF-8 without control "
                         "characters");
        goto fail;
    }
    if ((rc = append(c, &e, idx, d)) != QL_OK)
        goto fail;
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    ql_entry_release(&e);
    return rc;
}

/* ---- declaring ---- */

ql_err
ql_commit_declare(struct ql_county *c, const char *unit, const char *cycle,
                  uint64_t *idx, struct ql_diag *d)
{
    struct ql_status *st = NULL;
    const struct ql_status_unit *u;
    struct county_actor who;
    struct commitment ci;
    struct ql_entry e;
    uint8_t root[QL_HASH_LEN];
    char root_b64[64], ids[200];
    uint64_t cp_size = 0;
    size_t i;
    ql_err rc;

    ql_entry_init(&e);
    if ((rc = begin(c, unit, cycle, &who, d)) != QL_OK)
        return rc;
    if ((rc = need_head(&who, unit, "declare it cleared", d)) != QL_OK ||
        (rc = find_commitment(c, unit, cycle, &ci, d)) != QL_OK ||
        (rc = ql_status_compute(c, ci.cycle, unit, &st, d)) != QL_OK)
        goto fail;
    u = ql_status_unit(st, unit);
    if (u->open > 0) {
        name_leads(u, QL_WHY_OPEN, ids, sizeof ids);
        rc = ql_fail(d, QL_ERULE,
                     "unit %s cannot declare: %zu in-scope "
                     "lead%s not cleared: %s",
                     unit, u->open, u->open == 1 ? " is" : "s are", ids);
        goto fail;
    }
    for (i = 0; i < u->nlead; i++) {
        if (u->lead[i].why & QL_WHY_BLOCKING) {
            rc = ql_fail(d, QL_ERULE,
                         "unit %s cannot declare: lead %s has "
                         "a proposal ('%s') waiting that would "
                         "reopen it",
                         unit, u->lead[i].id, u->lead[i].pending);
            goto fail;
        }
    }
    if (u->declaration == QL_DECL_HOLDS) {
        rc = ql_fail(d, QL_EEXIST,
                     "unit %s has declared already (entry "
                     "%llu) and the declaration holds",
                     unit, (unsigned long long)u->declare_idx);
        goto fail;
    }
    if ((rc = latest_checkpoint(c, &cp_size, root, d)) != QL_OK)
        goto fail;
    ql_base64_encode(root_b64, root, sizeof root);
    snprintf(e.action, sizeof e.action, "commit.declare");
    snprintf(e.unit, sizeof e.unit, "%s", unit);
    if ((rc = ql_entry_add_clear(&e, "checkpoint_root", root_b64, d)) !=
            QL_OK ||
        (rc = add_num(&e, "checkpoint_size", cp_size, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "cycle", ci.cycle, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "scope_hash", u->scope_hash, d)) !=
            QL_OK ||
        (rc = add_num(&e, "scope_leads", u->in_scope, d)) != QL_OK ||
        (rc = append(c, &e, idx, d)) != QL_OK)
        goto fail;
    ql_status_free(st);
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    ql_status_free(st);
    ql_entry_release(&e);
    return rc;
}

/* ---- sampling ---- */

char *
ql_commit_join_chosen(const struct ql_sample_candidate *cand, size_t n,
                      bool mandatory)
{
    size_t cap = 1, at = 0, i;
    char *s;

    for (i = 0; i < n; i++)
        cap += strlen(cand[i].id) + 1;
    if ((s = malloc(cap)) == NULL)
        return NULL;
    s[0] = '\0';
    for (i = 0; i < n; i++) {
        if (!cand[i].chosen || (mandatory && !cand[i].mandatory))
            continue;
        at += (size_t)snprintf(s + at, cap - at, "%s%s", at ? " " : "",
                               cand[i].id);
    }
    return s;
}

/* H of the population's sorted "leadid\n" lines, hex. */
static ql_err
population_hash(struct ql_county *c, const struct ql_sample_candidate *cand,
                size_t n, char hex[65], struct ql_diag *d)
{
    uint8_t h[QL_HASH_LEN];
    size_t cap = 1, at = 0, i;
    char *buf;

    for (i = 0; i < n; i++)
        cap += strlen(cand[i].id) + 1;
    if ((buf = malloc(cap)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    for (i = 0; i < n; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s\n", cand[i].id);
    ql_hash(ql_log_profile(ql_county_log(c)), h, buf, at);
    free(buf);
    ql_hex_encode(hex, h, sizeof h);
    return QL_OK;
}

ql_err
ql_commit_sample(struct ql_county *c, const char *unit, const char *cycle,
                 uint64_t *idx, struct ql_diag *d)
{
    struct ql_status *st = NULL;
    const struct ql_status_unit *u;
    struct ql_sample_candidate *cand = NULL;
    struct county_actor who;
    struct commitment ci;
    struct ql_entry e;
    uint8_t root[QL_HASH_LEN];
    char root_b64[64], pop_hex[65], *all = NULL, *must = NULL;
    uint64_t cp_size = 0;
    size_t i, n = 0;
    ql_err rc;

    ql_entry_init(&e);
    if ((rc = begin(c, unit, cycle, &who, d)) != QL_OK)
        return rc;
    if ((rc = need_inspector(&who, "drawing a spot-check sample", d)) !=
            QL_OK ||
        (rc = find_commitment(c, unit, cycle, &ci, d)) != QL_OK ||
        (rc = ql_status_compute(c, ci.cycle, unit, &st, d)) != QL_OK)
        goto fail;
    u = ql_status_unit(st, unit);
    if (u->declaration != QL_DECL_HOLDS) {
        rc = declaration_gone(u, ci.cycle, d);
        goto fail;
    }
    if (u->sampled) {
        rc = ql_fail(d, QL_EEXIST,
                     "unit %s's declaration (entry %llu) has "
                     "its sample already (entry %llu)",
                     unit, (unsigned long long)u->declare_idx,
                     (unsigned long long)u->sample_idx);
        goto fail;
    }
    if ((cand = calloc(u->nlead + 1, sizeof *cand)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto fail;
    }
    for (i = 0; i < u->nlead; i++) {
        const struct ql_status_lead *l = &u->lead[i];

        if (!l->in_scope || !l->spotable)
            continue;
        cand[n].id = l->id;
        cand[n].mandatory = strcmp(l->finding, QL_FINDING_NEGATIVE) == 0 &&
                            (l->duplicates > 0 ||
                             strcmp(l->feedback, QL_FEEDBACK_UNSATISFIED) == 0);
        n++;
    }
    if ((rc = latest_checkpoint(c, &cp_size, root, d)) != QL_OK ||
        (rc = ql_commit_draw(ql_log_profile(ql_county_log(c)), root, unit,
                             ci.cycle, cand, n, NULL, d)) != QL_OK ||
        (rc = population_hash(c, cand, n, pop_hex, d)) != QL_OK)
        goto fail;
    if ((all = ql_commit_join_chosen(cand, n, false)) == NULL ||
        (must = ql_commit_join_chosen(cand, n, true)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto fail;
    }
    ql_base64_encode(root_b64, root, sizeof root);
    snprintf(e.action, sizeof e.action, "commit.sample");
    snprintf(e.unit, sizeof e.unit, "%s", unit);
    if ((rc = ql_entry_add_clear(&e, "cycle", ci.cycle, d)) != QL_OK ||
        (rc = add_num(&e, "declaration", u->declare_idx, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "leads", all, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "mandatory", must, d)) != QL_OK ||
        (rc = add_num(&e, "population", n, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "population_hash", pop_hex, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "seed_root", root_b64, d)) != QL_OK ||
        (rc = add_num(&e, "seed_size", cp_size, d)) != QL_OK ||
        (rc = append(c, &e, idx, d)) != QL_OK)
        goto fail;
    rc = QL_OK;
    goto out;
fail:
    county_abort(c);
out:
    free(all);
    free(must);
    free(cand);
    ql_status_free(st);
    ql_entry_release(&e);
    return rc;
}

/* ---- verifying ---- */

ql_err
ql_commit_verify(struct ql_county *c, const char *unit, const char *cycle,
                 uint64_t *idx, struct ql_diag *d)
{
    struct ql_status *st = NULL;
    const struct ql_status_unit *u;
    struct county_actor who;
    struct commitment ci;
    struct ql_entry e;
    char ids[200];
    ql_err rc;

    ql_entry_init(&e);
    if ((rc = begin(c, unit, cycle, &who, d)) != QL_OK)
        return rc;
    if ((rc = need_inspector(&who, "verifying a declaration", d)) != QL_OK ||
        (rc = find_commitment(c, unit, cycle, &ci, d)) != QL_OK ||
        (rc = ql_status_compute(c, ci.cycle, unit, &st, d)) != QL_OK)
        goto fail;
    u = ql_status_unit(st, unit);
    if (u->declaration != QL_DECL_HOLDS) {
        rc = declaration_gone(u, ci.cycle, d);
        goto fail;
    }
    if (!u->sampled) {
        rc = ql_fail(d, QL_ERULE,
                     "unit %s's declaration (entry %llu) has no "
                     "sample yet: draw it and spot-check it "
                     "first",
                     unit, (unsigned long long)u->declare_idx);
        goto fail;
    }
    if (u->spot_pending > 0) {
        name_leads(u, QL_WHY_PENDING, ids, sizeof ids);
        rc = ql_fail(d, QL_ERULE,
                     "unit %s cannot be verified while %zu "
                     "spot-check%s pending: %s",
                     unit, u->spot_pending,
                     u->spot_pending == 1 ? " is" : "s are", ids);
        goto fail;
    }
    if (u->verified && strcmp(u->verified_hash, u->scope_hash) == 0) {
        rc = ql_fail(d, QL_EEXIST,
                     "unit %s's declaration is verified "
                     "already (entry %llu) and nothing in "
                     "scope changed since",
                     unit, (unsigned long long)u->verify_idx);
        goto fail;
    }
    snprintf(e.action, sizeof e.action, "commit.verify");
    snprintf(e.unit, sizeof e.unit, "%s", unit);
    if ((rc = ql_entry_add_clear(&e, "cycle", ci.cycle, d)) != QL_OK ||
        (rc = add_num(&e, "declaration", u->declare_idx, d)) != QL_OK ||
        (rc = add_num(&e, "sample", u->sample_idx, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "scope_hash", u->scope_hash, d)) !=
            QL_OK ||
        (rc = add_num(&e, "scope_leads", u->in_scope, d)) != QL_OK ||
        (rc = append(c, &e, idx, d)) != QL_OK)
        goto fail;
    ql_status_free(st);
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    ql_status_free(st);
    ql_entry_release(&e);
    return rc;
}

ql_err
ql_commit_spotcheck(struct ql_county *c, const char *id, bool pass,
                    const struct ql_wf_kv *fields, size_t n, const char *note,
                    bool *pending, struct ql_diag *d)
{
    return ql_lead_move(c, id, pass ? QL_SPOT_PASS : QL_SPOT_RETURN, fields, n,
                        note, pending, d);
}

/* ---- applying commitment entries to the derived tables ---- */

static ql_err
need(const struct ql_entry *e, const char *name, const char **v,
     struct ql_diag *d)
{
    *v = ql_entry_get_clear(e, name);
    if (*v == NULL)
        return ql_fail(d, QL_EINTEGRITY, "entry %llu (%s) lacks '%s'",
                       (unsigned long long)e->index, e->action, name);
    return QL_OK;
}

static ql_err
need_num(const struct ql_entry *e, const char *name, int64_t *v,
         struct ql_diag *d)
{
    const char *s;
    char *end = NULL;
    long long n;
    ql_err rc;

    if ((rc = need(e, name, &s, d)) != QL_OK)
        return rc;
    n = strtoll(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || n < 0 ||
        (s[0] == '0' && s[1] != '\0'))
        return ql_fail(d, QL_EINTEGRITY,
                       "entry %llu (%s): '%s' is not a "
                       "number",
                       (unsigned long long)e->index, e->action, name);
    *v = n;
    return QL_OK;
}

/* Runs one statement with text and integer parameters (NULL text: NULL). */
static ql_err
run(struct ql_county *c, const char *sql, const char *const *text, size_t ntext,
    const int64_t *ints, size_t nints, struct ql_diag *d)
{
    struct ql_stmt *st = NULL;
    size_t i;
    ql_err rc;

    if ((rc = ql_store_prepare(ql_county_store(c), sql, &st, d)) != QL_OK)
        return rc;
    for (i = 0; i < ntext && rc == QL_OK; i++)
        rc = text[i] != NULL ? ql_stmt_bind_text(st, (int)i + 1, text[i], d)
                             : ql_stmt_bind_null(st, (int)i + 1, d);
    for (i = 0; i < nints && rc == QL_OK; i++)
        rc = ql_stmt_bind_int(st, (int)(ntext + i) + 1, ints[i], d);
    if (rc == QL_OK)
        rc = ql_stmt_run(st, d);
    ql_stmt_done(st);
    return rc;
}

static ql_err
exists(struct ql_county *c, const char *sql, const char *unit,
       const char *cycle, int64_t ref, bool *yes, struct ql_diag *d)
{
    struct ql_stmt *st = NULL;
    ql_err rc;

    *yes = false;
    if ((rc = ql_store_prepare(ql_county_store(c), sql, &st, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 1, unit, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 2, cycle, d)) == QL_OK &&
        (rc = ql_stmt_bind_int(st, 3, ref, d)) == QL_OK)
        rc = ql_stmt_step(st, yes, d);
    ql_stmt_done(st);
    return rc;
}

ql_err
ql_commit_apply(struct ql_county *c, const struct ql_entry *e,
                struct ql_diag *d)
{
    static const char SIGN[] =
        "INSERT INTO commitments(unit, cycle, cutoff, deadline, text, signer, "
        "idx, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, ?7)";
    static const char EVENT[] =
        "INSERT INTO commit_events(unit, cycle, kind, actor, time, "
        "scope_hash, checkpoint_root, population_hash, leads, mandatory, "
        "idx, ref, scope_leads, checkpoint_size, population) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
        "?14, ?15)";
    static const char SIGNED[] =
        "SELECT 1 FROM commitments WHERE unit = ?1 AND cycle = ?2 AND ?3 >= 0";
    static const char DECLARED[] =
        "SELECT 1 FROM commit_events WHERE unit = ?1 AND cycle = ?2 AND "
        "idx = ?3 AND kind = 'declare'";
    const char *cycle, *kind, *hash = NULL, *root = NULL, *pop_hash = NULL;
    const char *leads = NULL, *mandatory = NULL;
    int64_t ref = -1, scope = -1, cp_size = -1, pop = -1;
    bool yes = false;
    ql_err rc;

    if (!ql_entry_word_valid(e->unit))
        return ql_fail(d, QL_EINTEGRITY, "entry %llu (%s) names no unit",
                       (unsigned long long)e->index, e->action);
    if ((rc = need(e, "cycle", &cycle, d)) != QL_OK)
        return rc;
    if (strcmp(e->action, "commit.sign") == 0) {
        const char *t[7];
        int64_t in[1] = {(int64_t)e->index};

        t[0] = e->unit;
        t[1] = cycle;
        t[5] = e->actor;
        t[6] = e->time;
        if ((rc = need(e, "cutoff", &t[2], d)) != QL_OK ||
            (rc = need(e, "deadline", &t[3], d)) != QL_OK ||
            (rc = need(e, "text", &t[4], d)) != QL_OK)
            return rc;
        rc = run(c, SIGN, t, 7, in, 1, d);
        if (rc == QL_EEXIST || rc == QL_EINTEGRITY)
            return ql_fail(d, QL_EINTEGRITY,
                           "entry %llu signs a second "
                           "commitment of unit %s for %s",
                           (unsigned long long)e->index, e->unit, cycle);
        return rc;
    }
    if ((rc = exists(c, SIGNED, e->unit, cycle, 0, &yes, d)) != QL_OK)
        return rc;
    if (!yes)
        return ql_fail(d, QL_EINTEGRITY,
                       "entry %llu (%s) names a "
                       "commitment of unit %s for %s that "
                       "was never signed",
                       (unsigned long long)e->index, e->action, e->unit, cycle);
    if (strcmp(e->action, "commit.declare") == 0) {
        kind = "declare";
        if ((rc = need(e, "scope_hash", &hash, d)) != QL_OK ||
            (rc = need_num(e, "scope_leads", &scope, d)) != QL_OK ||
            (rc = need(e, "checkpoint_root", &root, d)) != QL_OK ||
            (rc = need_num(e, "checkpoint_size", &cp_size, d)) != QL_OK)
            return rc;
    } else if (strcmp(e->action, "commit.sample") == 0) {
        kind = "sample";
        if ((rc = need_num(e, "declaration", &ref, d)) != QL_OK ||
            (rc = need(e, "leads", &leads, d)) != QL_OK ||
            (rc = need(e, "mandatory", &mandatory, d)) != QL_OK ||
            (rc = need_num(e, "population", &pop, d)) != QL_OK ||
            (rc = need(e, "population_hash", &pop_hash, d)) != QL_OK ||
            (rc = need(e, "seed_root", &root, d)) != QL_OK ||
            (rc = need_num(e, "seed_size", &cp_size, d)) != QL_OK)
            return rc;
    } else if (strcmp(e->action, "commit.verify") == 0) {
        kind = "verify";
        if ((rc = need_num(e, "declaration", &ref, d)) != QL_OK ||
            (rc = need(e, "scope_hash", &hash, d)) != QL_OK ||
            (rc = need_num(e, "scope_leads", &scope, d)) != QL_OK)
            return rc;
    } else {
        return ql_fail(d, QL_EINTEGRITY, "entry %llu has unknown action '%s'",
                       (unsigned long long)e->index, e->action);
    }
    if (ref >= 0) {
        if ((rc = exists(c, DECLARED, e->unit, cycle, ref, &yes, d)) != QL_OK)
            return rc;
        if (!yes)
            return ql_fail(d, QL_EINTEGRITY,
                           "entry %llu (%s) names entry "
                           "%lld, which is no declaration "
                           "of unit %s for %s",
                           (unsigned long long)e->index, e->action,
                           (long long)ref, e->unit, cycle);
    }
    if (leads != NULL && (each_lead(leads, mandatory, NULL, NULL, d) != QL_OK ||
                          each_lead(mandatory, "", NULL, NULL, d) != QL_OK))
        return ql_fail(d, QL_EINTEGRITY, "entry %llu: a malformed lead list",
                       (unsigned long long)e->index);
    {
        const char *t[10] = {e->unit, cycle, kind,     e->actor, e->time,
                             hash,    root,  pop_hash, leads,    mandatory};
        int64_t in[5] = {(int64_t)e->index, ref, scope, cp_size, pop};
        struct ql_stmt *st = NULL;
        size_t i;

        /* Absent numbers are NULL, not -1, in the table. */
        if ((rc = ql_store_prepare(ql_county_store(c), EVENT, &st, d)) != QL_OK)
            return rc;
        for (i = 0; i < 10 && rc == QL_OK; i++)
            rc = t[i] != NULL ? ql_stmt_bind_text(st, (int)i + 1, t[i], d)
                              : ql_stmt_bind_null(st, (int)i + 1, d);
        for (i = 0; i < 5 && rc == QL_OK; i++)
            rc = in[i] >= 0 ? ql_stmt_bind_int(st, (int)i + 11, in[i], d)
                            : ql_stmt_bind_null(st, (int)i + 11, d);
        if (rc == QL_OK)
            rc = ql_stmt_run(st, d);
        ql_stmt_done(st);
        return rc;
    }
}
