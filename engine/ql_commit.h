/*
 * ql_commit: a unit's completion commitment (承诺) for one cycle, and the
 * spot-checks that verify it (DESIGN.md section 7, docs/commitments.md).
 *
 * Each step is one entry signed by the person who takes it, with every
 * value in clear lines, so that an auditor without keys can follow the
 * cycle and recompute every verdict:
 *
 *   commit.sign     the unit head signs: cycle, cut-off, deadline, text
 *   commit.declare  the unit head declares the unit cleared; binds the
 *                   log's latest signed checkpoint (checkpoint_size,
 *                   checkpoint_root) and scope_hash, the hash of the
 *                   sorted in-scope "leadid idx\n" lines
 *   commit.sample   an inspector draws the spot-check sample, by a rule
 *                   seeded from the checkpoint root (ql_commit_draw)
 *   commit.verify   an inspector signs that the declaration holds
 *
 * Spot-checks themselves are the workflow's transitions QL_SPOT_PASS and
 * QL_SPOT_RETURN on a lead (ql_commit_spotcheck is a shorthand).
 *
 * Every write checks before anything is written, and a refusal changes
 * nothing: QL_EDENIED for an actor without the role or the unit,
 * QL_ENOTFOUND for a unit or commitment that does not exist, QL_ERULE
 * when the cycle's rules forbid the step (a lead still open, a spot-check
 * pending, no sample yet, a deadline passed), QL_EEXIST for a step already
 * taken, QL_EUSAGE for malformed arguments.
 *
 * Strings the reading functions lend are borrowed for the callback only.
 */
#ifndef QL_COMMIT_H
#define QL_COMMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"
#include "ql_profile.h"
#include "ql_workflow.h"

struct ql_county;

/* The role that signs and declares a unit's commitment (主要负责人). */
#define QL_COMMIT_HEAD_ROLE "head"
/* The role that draws samples, spot-checks and verifies (督导/评查). */
#define QL_COMMIT_INSPECTOR_ROLE "inspector"
/* The workflow transitions a spot-check takes: pass, and send back. */
#define QL_SPOT_PASS "spot_pass"
#define QL_SPOT_RETURN "spot_return"

/* Longest cycle name ("2025Q3"), in bytes; a word as lead ids are. */
#define QL_CYCLE_MAX 32
/* Longest commitment text, in bytes (one line). */
#define QL_COMMIT_TEXT_MAX 2000
/* Days before the deadline from which an open lead puts a unit at risk. */
#define QL_COMMIT_NEAR_DAYS 10
/* The sample's random part: this share (in percent), at least this many. */
#define QL_SAMPLE_PERCENT 10
#define QL_SAMPLE_MIN 2

/*
 * The unit head of unit signs its commitment for cycle: leads registered
 * on or before cutoff (YYYY-MM-DD, local) are in scope, and are to be
 * cleared by deadline (YYYY-MM-DD, local, cutoff <= deadline, not yet
 * passed). text (NULL: the standard wording with the deadline) is the
 * commitment as signed, one line. QL_EEXIST when the unit already signed
 * for cycle. *idx (NULL allowed) gets the entry.
 */
ql_err ql_commit_sign(struct ql_county *c, const char *unit, const char *cycle,
                      const char *cutoff, const char *deadline,
                      const char *text, uint64_t *idx,
                      struct ql_diag *d) QL_MUST_CHECK;

/*
 * The unit head declares unit cleared for cycle (NULL: the unit's latest
 * commitment). Refused (QL_ERULE) while any in-scope lead is in a state
 * that does not count as cleared, or has a proposal waiting that would
 * take it out of one; QL_EEXIST when the current declaration holds and
 * nothing in scope changed since. *idx (NULL allowed) gets the entry.
 */
ql_err ql_commit_declare(struct ql_county *c, const char *unit,
                         const char *cycle, uint64_t *idx,
                         struct ql_diag *d) QL_MUST_CHECK;

/*
 * An inspector draws the spot-check sample for the unit's current
 * declaration (by the rule of ql_commit_draw) and logs it. Refused
 * without a declaration that holds; QL_EEXIST when this declaration
 * already has its sample.
 */
ql_err ql_commit_sample(struct ql_county *c, const char *unit,
                        const char *cycle, uint64_t *idx,
                        struct ql_diag *d) QL_MUST_CHECK;

/*
 * An inspector verifies the unit's current declaration. Refused
 * (QL_ERULE) when it does not hold, before its sample is drawn, and while
 * a spot-check is pending: a sampled lead without a spot_pass or
 * spot_return since the sample, or a spot_return awaiting approval.
 * QL_EEXIST when it is verified already and nothing in scope changed.
 */
ql_err ql_commit_verify(struct ql_county *c, const char *unit,
                        const char *cycle, uint64_t *idx,
                        struct ql_diag *d) QL_MUST_CHECK;

/*
 * Spot-checks lead id: QL_SPOT_PASS when pass, else QL_SPOT_RETURN (which
 * waits for approval: *pending, NULL allowed, says so), with fields and
 * note as ql_lead_move takes them.
 */
ql_err ql_commit_spotcheck(struct ql_county *c, const char *id, bool pass,
                           const struct ql_wf_kv *fields, size_t n,
                           const char *note, bool *pending,
                           struct ql_diag *d) QL_MUST_CHECK;

/* ---- reading ---- */

struct ql_commit_info {
    const char *unit, *cycle, *cutoff, *deadline, *text;
    const char *signer, *time; /* who signed it, and when (RFC 3339 UTC) */
    uint64_t idx;              /* the commit.sign entry */
};

/* What happened to a commitment after it was signed. */
struct ql_commit_event {
    uint64_t idx;
    const char *unit, *cycle;
    const char *kind; /* "declare", "sample" or "verify" */
    const char *actor, *time;
    bool has_ref;
    uint64_t ref;           /* sample, verify: the declaration's entry */
    const char *scope_hash; /* declare, verify; else NULL */
    int64_t scope_leads;
    /* declare: the bound checkpoint; sample: the seed checkpoint */
    uint64_t checkpoint_size;
    const char *checkpoint_root; /* base64, or NULL */
    int64_t population;          /* sample: leads it was drawn from */
    const char *population_hash; /* sample, hex; else NULL */
};

typedef ql_err (*ql_commit_fn)(void *ctx, const struct ql_commit_info *ci,
                               struct ql_diag *d);
typedef ql_err (*ql_commit_event_fn)(void *ctx,
                                     const struct ql_commit_event *ev,
                                     struct ql_diag *d);

/* Commitments of unit and cycle (NULL: any), by unit, then entry. */
ql_err ql_commit_list(struct ql_county *c, const char *unit, const char *cycle,
                      ql_commit_fn fn, void *ctx,
                      struct ql_diag *d) QL_MUST_CHECK;

/* Declarations, samples and verifications of unit and cycle, in order. */
ql_err ql_commit_events(struct ql_county *c, const char *unit,
                        const char *cycle, ql_commit_event_fn fn, void *ctx,
                        struct ql_diag *d) QL_MUST_CHECK;

/* One lead a sample drew. */
typedef ql_err (*ql_commit_sample_fn)(void *ctx, const char *lead,
                                      bool mandatory, struct ql_diag *d);

/* The leads the commit.sample entry idx drew, by id. */
ql_err ql_commit_sample_leads(struct ql_county *c, uint64_t idx,
                              ql_commit_sample_fn fn, void *ctx,
                              struct ql_diag *d) QL_MUST_CHECK;

/*
 * The cycle of the county's most recently signed commitment (or, with
 * unit, that unit's), into buf (QL_CYCLE_MAX + 1 bytes). QL_ENOTFOUND when
 * there is none.
 */
ql_err ql_commit_latest_cycle(struct ql_county *c, const char *unit, char *buf,
                              struct ql_diag *d) QL_MUST_CHECK;

/* ---- the sample rule ---- */

/* One lead the sample is drawn from. */
struct ql_sample_candidate {
    const char *id;
    bool mandatory; /* 查否 and re-reported or its reporter 不满意 */
    bool chosen;    /* set by ql_commit_draw */
};

/*
 * The sample rule, a pure function anyone can recompute from the log:
 * every mandatory candidate, plus k of the others, k = min(others,
 * max(QL_SAMPLE_MIN, ceil(n * QL_SAMPLE_PERCENT / 100))), n = every
 * candidate. The others are ranked by their ticket
 *   H(seed || "qingling-sample/1\n" || unit || "\n" || cycle || "\n" || id)
 * (H the profile's hash, SHA-256 by default; ties by id) and the k lowest
 * are chosen. seed is the root of the checkpoint the sample entry names.
 * Sets cand[i].chosen; *count (NULL allowed) gets the sample's size.
 * QL_ENOMEM is its only error.
 */
ql_err ql_commit_draw(const struct ql_profile *p, const uint8_t seed[32],
                      const char *unit, const char *cycle,
                      struct ql_sample_candidate *cand, size_t n, size_t *count,
                      struct ql_diag *d) QL_MUST_CHECK;

/*
 * True when a list of lead ids as a sample entry writes them (single
 * spaces between, "" for none) holds the n bytes at id.
 */
bool ql_commit_list_has(const char *list, const char *id, size_t n);

/*
 * The ids of the chosen candidates (only the mandatory ones when mandatory
 * is true) as a sample entry lists them: single spaces between, "" for
 * none. Caller frees; NULL when out of memory.
 */
char *ql_commit_join_chosen(const struct ql_sample_candidate *cand, size_t n,
                            bool mandatory);

#endif
