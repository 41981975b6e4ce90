/*
 * ql_status: what the supervision office reads: per unit, is it fully
 * cleared (全面清零) for a cycle, and if not, why; and the county's
 * figures (DESIGN.md section 7, docs/commitments.md, which defines every
 * verdict and figure exactly).
 *
 * Everything here is computed from clear metadata alone: the leads' states,
 * units, registration dates and due dates, their clear fields, which
 * transitions they took, and the commitment entries. No key is needed and
 * nothing is decrypted, so an auditor holding only the log gets the same
 * verdicts and figures as the office. The clock is the county's
 * (ql_county_now) and dates are local dates in the county's zone; a
 * deadline "by D" is met up to ql_zone_day_last(D).
 *
 * The figures read these clear fields and transitions of the default
 * workflow (workflows/gang_lead.lua); a workflow that names them otherwise
 * gets empty figures, never wrong ones.
 */
#ifndef QL_STATUS_H
#define QL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

struct ql_county;
struct ql_entry;

/* Clear fields the figures and the sample rule read. */
#define QL_FIELD_FINDING "finding"           /* 核查结论 */
#define QL_FIELD_FEEDBACK "feedback_opinion" /* 反馈意见 */
#define QL_FIELD_NAMED "named"               /* 举报方式 */
#define QL_FIELD_PRIORITY "priority"         /* 督办级别 */
#define QL_FIELD_INDUSTRY "industry"         /* 涉及行业 */
#define QL_FIELD_SOURCE "source"             /* 线索来源 */
#define QL_FIELD_DUE_AT "due_at"             /* 核查期限 */
#define QL_FIELD_EXTENDED_DUE "extended_due" /* 延期至 */
#define QL_FIELD_REDO_DUE "redo_due"         /* 重查期限 */
#define QL_FIELD_MASTER "master_lead"        /* 主线索编号 (merged into) */

/* Their values that count. */
#define QL_FINDING_CONFIRMED "查实"
#define QL_FINDING_PARTLY "部分查实"
#define QL_FINDING_NEGATIVE "查否"
#define QL_NAMED_REAL "实名"
#define QL_FEEDBACK_SATISFIED "满意"
#define QL_FEEDBACK_MOSTLY "基本满意"
#define QL_FEEDBACK_UNSATISFIED "不满意"

/* Transitions the figures count (besides the spot-checks of ql_commit.h). */
#define QL_T_REPORT "report"       /* 报送核查报告 */
#define QL_T_RETURN "return"       /* 退回补查 */
#define QL_T_URGE "urge"           /* 催办 */
#define QL_T_SUPERVISE "supervise" /* 督办 */

/* A unit's verdict for a cycle. */
enum ql_verdict {
    QL_VERDICT_CLEARED,     /* declared, verified, nothing changed since */
    QL_VERDICT_DECLARED,    /* declared, verification pending */
    QL_VERDICT_ON_TRACK,    /* signed, leads still open, none at risk */
    QL_VERDICT_AT_RISK,     /* a lead overdue, due late, or open near it */
    QL_VERDICT_FAILED,      /* deadline missed, or the declaration breached */
    QL_VERDICT_UNCOMMITTED, /* no commitment for the cycle */
    QL_VERDICT_NONE,        /* a supervision unit: it makes no commitment */
};

/* "cleared", "declared", "on-track", "at-risk", "failed", "uncommitted",
   "-"; and the Chinese labels. */
const char *ql_verdict_name(enum ql_verdict v);
const char *ql_verdict_label(enum ql_verdict v);

/* The unit's latest declaration for the cycle. */
enum ql_declaration {
    QL_DECL_NONE,     /* never declared */
    QL_DECL_HOLDS,    /* every in-scope lead cleared, no spot-check return */
    QL_DECL_BREACHED, /* a spot-check sent an in-scope lead back after it */
    QL_DECL_LAPSED,   /* an in-scope lead is open again (not by spot-check) */
};

/* "none", "holds", "breached", "lapsed". */
const char *ql_declaration_name(enum ql_declaration s);

/* Why a lead stands behind its unit's verdict (ql_status_lead.why). */
#define QL_WHY_OPEN 0x001u     /* in scope, not in a cleared state */
#define QL_WHY_OVERDUE 0x002u  /* open and past its due date */
#define QL_WHY_DUE_LATE 0x004u /* open and due after the deadline */
#define QL_WHY_NEAR 0x008u     /* open within 10 days of the deadline */
#define QL_WHY_RETURNED                                                        \
    0x010u                         /* sent back by a spot-check after the      \
                                      declaration: the breach */
#define QL_WHY_SAMPLED 0x020u      /* drawn in the declaration's sample */
#define QL_WHY_PENDING 0x040u      /* its spot-check is pending */
#define QL_WHY_CHANGED 0x080u      /* changed since the verification */
#define QL_WHY_BLOCKING 0x100u     /* a proposal waits that would reopen it */
#define QL_WHY_OUT_OF_SCOPE 0x200u /* registered after the cut-off */
/* The reasons that make a unit at risk. */
#define QL_WHY_AT_RISK (QL_WHY_OVERDUE | QL_WHY_DUE_LATE | QL_WHY_NEAR)

/* One lead as status sees it: clear metadata only. */
struct ql_status_lead {
    const char *id, *unit, *state, *state_label;
    const char *registered; /* local date of registration */
    const char *due;        /* its due date, or "" */
    const char *closed_on;  /* local date it reached its closed state, or
                               "" when it is not closed */
    const char *priority, *industry, *source, *finding, *feedback, *named;
    const char *pending; /* transition awaiting approval, or NULL */
    uint64_t last_idx;   /* its last entry (move, approve, reject) */
    bool in_scope;       /* registered on or before the cut-off */
    bool cleared;        /* its state counts as cleared */
    bool closed;         /* terminal, cleared and not merged */
    bool merged;
    bool spotable;     /* a spot-check may be taken on it: its state
                          is one QL_SPOT_PASS leaves from */
    size_t duplicates; /* leads merged into it (re-reports) */
    unsigned why;      /* QL_WHY_* */
    const char *spot;  /* sampled: "pending", "passed", "returned";
                          else NULL */
};

/* In-scope leads of a unit in one state. */
struct ql_status_count {
    const char *state, *label;
    bool cleared;
    size_t n;
};

struct ql_status_unit {
    const char *code, *name, *kind;
    enum ql_verdict verdict;
    const char *reason; /* one line: why this verdict */

    /* The commitment (committed false: the rest of this block is NULL/0). */
    bool committed;
    const char *cutoff; /* the cut-off that defines scope, or NULL when
                           every lead is in scope */
    const char *deadline, *text, *signer, *signed_at;
    uint64_t sign_idx;

    enum ql_declaration declaration;
    uint64_t declare_idx;
    const char *declared_at, *declared_by, *declared_hash;
    bool verified; /* verified after the current declaration */
    uint64_t verify_idx;
    const char *verified_at, *verified_by, *verified_hash;
    bool sampled; /* the current declaration's sample is drawn */
    uint64_t sample_idx;
    size_t sample_size, spot_pending;

    /* Counts of the unit's leads. */
    size_t leads; /* every lead it holds */
    size_t in_scope, open, cleared, overdue, at_risk, out_of_scope;
    char scope_hash[65]; /* of its in-scope leads now (hex); from
                            ql_status_summary only for a verified unit,
                            else "" */

    /* In scope, by their state's place in the workflow (a state several
       workflows share: its earliest place), then by name. */
    const struct ql_status_count *states;
    size_t nstates;
    const struct ql_status_lead *lead; /* every lead it holds, by id;
                                          NULL from ql_status_summary */
    size_t nlead;
};

/* A rate: num of den (den 0: no figure). */
struct ql_status_rate {
    size_t num, den;
};

/* The county's figures over the in-scope leads of every unit shown. */
struct ql_status_figures {
    size_t leads;  /* in scope, merged leads excluded */
    size_t merged; /* in scope and merged into another lead */
    size_t open, closed;
    struct ql_status_rate completion;    /* 办结率 */
    struct ql_status_rate on_time;       /* 按期办结率 */
    struct ql_status_rate substantiated; /* 查实率 */
    struct ql_status_rate feedback;      /* 反馈率 */
    struct ql_status_rate satisfied;     /* 满意率 */
    struct ql_status_rate returned;      /* 退回率 */
    struct ql_status_rate spot_returned; /* 评查退回率 */
    size_t overdue;                      /* 逾期数 */
    size_t urged;                        /* 催办/督办数 */
};

struct ql_status;

/*
 * Computes the status of cycle (NULL: the cycle of the county's most
 * recently signed commitment; with none anywhere, every unit is
 * uncommitted) for unit (NULL: every handling unit, and the supervision
 * units that hold leads; a supervision unit asked for shows with verdict
 * QL_VERDICT_NONE). Reads one consistent snapshot. QL_ENOTFOUND for an
 * unknown unit; QL_EUSAGE for an audit unit (it holds no leads) or a
 * malformed cycle name. *out is caller-owned (ql_status_free).
 */
ql_err ql_status_compute(struct ql_county *c, const char *cycle,
                         const char *unit, struct ql_status **out,
                         struct ql_diag *d) QL_MUST_CHECK;

/*
 * The same verdicts, reasons, counts, state counts and figures as
 * ql_status_compute, from the status counts the store keeps current on
 * every write (one row per unit, state, registration date, due date and
 * the few facts the figures read): it reads no lead one by one except the
 * few a verdict names (the leads behind a breach, the first open lead of a
 * lapsed declaration, the sample's leads, the leads of a verified unit
 * touched since its verification), so its time and memory do not grow
 * with the number of leads. What it leaves out: every unit's lead is NULL
 * and nlead 0, and scope_hash is "" except for a verified unit, whose hash
 * the verdict needs (proved equal to the verified one when none of the
 * unit's leads changed since and its in-scope count is the one verified,
 * computed from its leads otherwise). For `status --why`, `--json`, the
 * reports and the commitment steps, which list leads, use
 * ql_status_compute. Errors as ql_status_compute.
 */
ql_err ql_status_summary(struct ql_county *c, const char *cycle,
                         const char *unit, struct ql_status **out,
                         struct ql_diag *d) QL_MUST_CHECK;

/*
 * Keeps the status counts current for lead id: the count of the lead's row,
 * as the lead stands now, changes by delta (-1 or +1).
 * ql_lead_apply calls it with -1 before an entry changes a lead and with +1
 * after, so writing and replaying take the same path. A lead that does not
 * exist counts nothing. QL_EINTEGRITY when the counts lack the row a lead
 * is to leave (the table was tampered with); store errors as ql_store.
 */
ql_err ql_status_count_lead(struct ql_county *c, const char *id, int delta,
                            struct ql_diag *d) QL_MUST_CHECK;

/*
 * Inside a batch the row a lead's entry was counted into is remembered
 * with what its facts were made of, so the lead's next entry in the batch
 * works out its new row from the entry alone. ql_status_count_quick says
 * whether that holds for entry e: a batch, and either a registration or
 * a move, approval, proposal or rejection of the lead counted last.
 * Then ql_lead_apply, instead of the two calls of ql_status_count_lead,
 * applies e and calls ql_status_count_entry, which moves the lead's count
 * from its old row to its new one (and changes nothing when the two are
 * the same). QL_EUSAGE when ql_status_count_quick does not hold;
 * otherwise errors as ql_status_count_lead. On any error the remembered
 * row is forgotten.
 */
bool ql_status_count_quick(const struct ql_county *c, const struct ql_entry *e);
ql_err ql_status_count_entry(struct ql_county *c, const struct ql_entry *e,
                             struct ql_diag *d) QL_MUST_CHECK;

/*
 * Inside a batch the changes to the status counts add up in memory, one
 * per row, and reach the table in ql_status_counts_flush, which the
 * county calls before the batch commits and ql_status_summary before it
 * reads the counts; a batch moves many leads through the same few rows,
 * so most changes cancel or add up. A row the batch takes more leads out
 * of than it holds (the table was tampered with) fails the flush with
 * QL_EINTEGRITY naming the table; store errors as ql_store. After a
 * failure the changes not yet written are kept, for the rollback to drop
 * (or a second flush to try again).
 *
 * ql_status_memo_drop forgets the row remembered for the lead counted
 * last (the county does so at every entry that is not a lead's);
 * ql_status_counts_drop forgets that and every change not yet written
 * (a rollback, or the batch's end).
 */
ql_err ql_status_counts_flush(struct ql_county *c,
                              struct ql_diag *d) QL_MUST_CHECK;
void ql_status_memo_drop(struct ql_county *c);
void ql_status_counts_drop(struct ql_county *c);

/* Frees s; NULL is fine. Everything it lent becomes invalid. */
void ql_status_free(struct ql_status *s);

/* The cycle, or NULL when there is no commitment for any cycle. */
const char *ql_status_cycle(const struct ql_status *s);
/* The clock it was computed at, the county's zone, its local date. */
int64_t ql_status_now(const struct ql_status *s);
int32_t ql_status_zone(const struct ql_status *s);
const char *ql_status_today(const struct ql_status *s);
/* The log's size when it was computed. */
uint64_t ql_status_log_size(const struct ql_status *s);

size_t ql_status_unit_count(const struct ql_status *s);
const struct ql_status_unit *ql_status_unit_at(const struct ql_status *s,
                                               size_t i);
/* The unit called code, or NULL. */
const struct ql_status_unit *ql_status_unit(const struct ql_status *s,
                                            const char *code);
const struct ql_status_figures *ql_status_figures(const struct ql_status *s);

/* True when every committing unit shown is cleared (status --check). */
bool ql_status_all_cleared(const struct ql_status *s);

#endif
