/*
 * Private to the verifier (ql_audit_rules.c): the leads it follows, in as
 * little memory as a lead can take.
 *
 * The verifier must remember every lead the log has registered, and for
 * each its state, unit and workflow version, because any later entry may
 * act on any lead, and its registration date and last entry, because any
 * later declaration may have it in scope. That is the one part of its
 * memory that grows with the log, so a lead costs one fixed record of 28
 * bytes in a flat array, its id once in a shared arena of ids (the id and
 * its NUL, no allocation of its own), and one or two 4-byte slots of an
 * open-addressing index. What
 * few leads need at a time, a waiting proposal, the actors of the
 * transitions a distinct_from rule names and the lead a merged one names
 * as its master, lives in a side record that exists only while a lead
 * has one of them.
 *
 * Records are addressed by their number (0, 1, ... in the order leads were
 * added). Pointers returned here are borrowed and stay valid until the
 * next audit_leads_add or audit_leads_side_get on the table.
 */
#ifndef QL_AUDIT_LEADS_H
#define QL_AUDIT_LEADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"
#include "ql_workflow.h"

/* Workflow versions and states of one version are numbered in 16 bits. */
#define QL_AUDIT_LEADS_SMALL_MAX 0xffffu

/*
 * One lead: 28 bytes, whatever its id. The index of its last entry is
 * kept as two 32-bit halves so that the record needs no 8-byte alignment
 * and no padding.
 */
struct audit_lead {
    uint32_t id;      /* offset of its NUL-terminated id in the arena */
    uint32_t unit;    /* the unit's number in the rules */
    uint32_t side;    /* 0, or 1 + the number of its side record */
    uint16_t wf;      /* the workflow version's number in the rules */
    uint16_t state;   /* the state's position in that version */
    uint32_t last_lo; /* its last lead.add, move, approve, reject or */
    uint32_t last_hi; /* migrate entry (docs/commitments.md 2.2); the top
                         byte holds the AUDIT_LEAD_ flags */
    int32_t day;      /* the local date of its lead.add (ql_calendar) */
};

/*
 * The last entry's index has 56 bits (no log comes near), so the flags
 * the sample rule reads (docs/commitments.md 2.3) fit in the same record.
 */
#define AUDIT_LEAD_LAST_MAX ((UINT64_C(1) << 56) - 1)
#define AUDIT_LEAD_NEGATIVE 0x1u    /* its clear finding is 查否 */
#define AUDIT_LEAD_UNSATISFIED 0x2u /* its clear feedback is 不满意 */

/* The index of lead l's last entry that counts for the scope hash. */
uint64_t audit_lead_last(const struct audit_lead *l);

/* Sets it; index is at most AUDIT_LEAD_LAST_MAX. */
void audit_lead_set_last(struct audit_lead *l, uint64_t index);

/* Lead l's AUDIT_LEAD_ flags. */
unsigned audit_lead_flags(const struct audit_lead *l);

/* Sets (on) or clears one of lead l's AUDIT_LEAD_ flags. */
void audit_lead_set_flag(struct audit_lead *l, unsigned flag, bool on);

/* Who took a transition that some distinct_from rule names. */
struct audit_took {
    const char *transition; /* borrowed from a workflow, which outlives it */
    uint32_t who;           /* the principal's number in the rules */
};

/* What a lead needs only now and then. */
struct audit_lead_side {
    const struct ql_wf_transition *pending_t; /* NULL: no proposal waits */
    uint64_t pending_idx;                     /* the proposal's entry */
    uint32_t proposer;
    uint32_t ntook;
    struct audit_took *took; /* ntook, allocated exactly */
    uint32_t master; /* 0, or 1 + the verifier's number of the lead id its
                        clear master_lead names */
    uint8_t proposed[32]; /* while a proposal waits: the hash of its clear
                             fields, which the approval must carry */
};

struct audit_leads;

ql_err audit_leads_new(struct audit_leads **out,
                       struct ql_diag *d) QL_MUST_CHECK;
void audit_leads_free(struct audit_leads *t);

/* The number of leads added. */
uint64_t audit_leads_count(const struct audit_leads *t);

/* True, with its number in *at, when lead id has been added. */
bool audit_leads_find(const struct audit_leads *t, const char *id,
                      uint32_t *at);

/*
 * Adds lead id (not present yet; at most QL_ENTRY_WORD_MAX bytes) with the
 * values of rec (its id and side fields are ignored) and returns its
 * number. QL_ENOMEM, or QL_ETOOBIG past 2^32 - 2 leads or 4 GiB of ids.
 */
ql_err audit_leads_add(struct audit_leads *t, const char *id,
                       const struct audit_lead *rec, uint32_t *at,
                       struct ql_diag *d) QL_MUST_CHECK;

/* Lead at (less than the count); borrowed. */
struct audit_lead *audit_leads_at(struct audit_leads *t, uint32_t at);

/* Lead at's id; borrowed. */
const char *audit_leads_id(const struct audit_leads *t, uint32_t at);

/* Lead at's side record, or NULL when it has none; borrowed. */
struct audit_lead_side *audit_leads_side(struct audit_leads *t, uint32_t at);

/* Lead at's side record, made (zeroed) when it has none. */
ql_err audit_leads_side_get(struct audit_leads *t, uint32_t at,
                            struct audit_lead_side **out,
                            struct ql_diag *d) QL_MUST_CHECK;

/*
 * Adds (transition, who) to lead at's record of who took what, unless it
 * is there already.
 */
ql_err audit_leads_took_add(struct audit_leads *t, uint32_t at,
                            const char *transition, uint32_t who,
                            struct ql_diag *d) QL_MUST_CHECK;

/*
 * Drops lead at's side record when it holds nothing any more (no proposal
 * waits, nobody took anything, it names no master); its slot is reused by the next lead that
 * needs one.
 */
void audit_leads_side_trim(struct audit_leads *t, uint32_t at);

/*
 * Sorts the n lead numbers at by their ids in byte order (as SQLite's
 * BINARY collation and strcmp order them), in place and without memory
 * of its own.
 */
void audit_leads_sort(const struct audit_leads *t, uint32_t *at, size_t n);

/* The number of side records in use (for tests and the docs' figures). */
uint64_t audit_leads_sides(const struct audit_leads *t);

/* Bytes the table holds (allocated), for tests and the docs' figures. */
uint64_t audit_leads_bytes(const struct audit_leads *t);

#endif
