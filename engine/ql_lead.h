/*
 * ql_lead: leads and their transitions (DESIGN.md section 3).
 *
 * A lead is registered in a unit on the latest version of a workflow and
 * moves along that version's transitions. Each change is one entry:
 *
 *   lead.add      registration, in the workflow's initial state
 *   lead.move     a transition taken by the actor
 *   lead.propose  a transition that needs approval, waiting for it
 *   lead.approve  the approver's entry that takes a proposed transition;
 *                 it names the proposal, so the log holds both signatures
 *   lead.reject   a proposal declined by the approver or withdrawn
 *   lead.migrate  the lead moved to another version of its workflow
 *
 * Field values are checked against the workflow. Clear fields go into the
 * entry's clear lines; the others are encrypted under the lead's unit's
 * data key, bound to the lead id and entry index. An entry that moves a
 * lead to another unit, or into a new key epoch, carries a full snapshot
 * of its sealed fields under the new key, so the new holders read the lead
 * from that entry on.
 *
 * Every write checks, before anything is written: the actor is an active
 * principal; it holds a role the transition allows; the lead is in its
 * unit or it sits in a supervision unit; the transition leaves from the
 * lead's state; no proposal is pending; required fields are present and
 * valid; distinct_from; the guard. A refusal changes nothing.
 */
#ifndef QL_LEAD_H
#define QL_LEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"
#include "ql_log.h"
#include "ql_workflow.h"

struct ql_county;

/* Longest note a transition may carry, in bytes. */
#define QL_NOTE_TEXT_MAX 8000

/*
 * Registers a lead with fields[0..n) in unit (NULL: the actor's own unit)
 * on the latest version of workflow (NULL: "gang_lead"). The actor needs
 * one of the workflow's create roles, and must sit in unit or supervise.
 * id (QL_ENTRY_WORD_MAX + 1 bytes) gets the new lead's id.
 */
ql_err ql_lead_add(struct ql_county *c, const char *workflow,
                   const char *unit, const struct ql_wf_kv *fields, size_t n,
                   char *id, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Takes transition on lead id, setting fields[0..n) and recording note
 * (NULL allowed). When the transition needs approval, records a proposal
 * instead and sets *pending (NULL allowed) to true.
 */
ql_err ql_lead_move(struct ql_county *c, const char *id,
                    const char *transition, const struct ql_wf_kv *fields,
                    size_t n, const char *note, bool *pending,
                    struct ql_diag *d) QL_MUST_CHECK;

/* Approves the pending proposal on id: the transition takes effect. */
ql_err ql_lead_approve(struct ql_county *c, const char *id,
                       struct ql_diag *d) QL_MUST_CHECK;

/* Declines (approver) or withdraws (proposer) the proposal on id. */
ql_err ql_lead_reject(struct ql_county *c, const char *id, const char *note,
                      struct ql_diag *d) QL_MUST_CHECK;

/*
 * Moves lead id to workflow version hash, mapping its state through
 * map ("OLD=NEW,OLD2=NEW2"; a state absent from the map keeps its name,
 * which must exist in the new version). The administrator's action.
 */
ql_err ql_lead_migrate(struct ql_county *c, const char *id, const char *hash,
                       const char *map, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Inside a batch the lead's clear metadata (its row in leads and pending)
 * is kept from one write to the next and brought up to date by each entry
 * applied to the lead, instead of being read again. This compares what
 * the batch keeps for lead id with the store: QL_OK when they agree or
 * nothing is kept (*kept, when not NULL, says which); QL_EINTEGRITY naming
 * the first column that differs; store errors as ql_lead_load. A
 * self-check for tests: it writes the lead's rows the batch holds back
 * (all of them when the batch registered this lead), as any reader of the
 * lead does, and changes nothing else.
 */
ql_err ql_lead_cache_check(struct ql_county *c, const char *id, bool *kept,
                           struct ql_diag *d) QL_MUST_CHECK;

/*
 * Inside a batch the rows a lead's entries leave in leads, pending,
 * lead_clear and lead_entries wait in memory and are written once
 * (docs/decisions.md section 34). This writes every row waiting: the
 * readers in this module and ql_status call it before they read those
 * tables, and the batch's commit before its checkpoint. Outside a batch
 * it does nothing. A failure rolls the batch back (ql_county_batch_commit
 * then says so); store errors as ql_lead_load.
 */
ql_err ql_lead_batch_flush(struct ql_county *c,
                           struct ql_diag *d) QL_MUST_CHECK;

/* ---- reading ---- */

struct ql_lead;

/*
 * Loads lead id with every field the actor can read (clear fields always;
 * sealed fields with the unit's key; secret fields with a secret role).
 * An actor without keys (an auditor) gets the clear part only.
 */
ql_err ql_lead_load(struct ql_county *c, const char *id, struct ql_lead **out,
                    struct ql_diag *d) QL_MUST_CHECK;
/*
 * The clear part only (metadata and clear fields), as an auditor sees it,
 * whoever the actor: for callers that need a lead's state, unit and
 * workflow and should not pay for opening its content.
 */
ql_err ql_lead_load_clear(struct ql_county *c, const char *id,
                          struct ql_lead **out,
                          struct ql_diag *d) QL_MUST_CHECK;
void ql_lead_free(struct ql_lead *l);

const char *ql_lead_id(const struct ql_lead *l);
const char *ql_lead_unit(const struct ql_lead *l);
const char *ql_lead_state(const struct ql_lead *l);
const char *ql_lead_workflow(const struct ql_lead *l);
/* Local date it was registered and its due date ("" when none). */
const char *ql_lead_registered(const struct ql_lead *l);
const char *ql_lead_due(const struct ql_lead *l);
/* True when the sealed fields were readable with the actor's keys. */
bool ql_lead_readable(const struct ql_lead *l);
/* The pending proposal's transition, or NULL. */
const char *ql_lead_pending(const struct ql_lead *l);
size_t ql_lead_field_count(const struct ql_lead *l);
const struct ql_wf_kv *ql_lead_field_at(const struct ql_lead *l, size_t i);
const char *ql_lead_get(const struct ql_lead *l, const char *name);

/* One lead in a listing (clear metadata only). */
struct ql_lead_row {
    const char *id, *unit, *state, *workflow, *registered, *due;
    const char *pending; /* transition awaiting approval, or NULL */
    bool overdue;        /* due before today and not in a terminal state */
};

typedef ql_err (*ql_lead_row_fn)(void *ctx, const struct ql_lead_row *r,
                                 struct ql_diag *d);

/* Leads filtered by unit and state (NULL: any), or only overdue ones. */
ql_err ql_lead_list(struct ql_county *c, const char *unit, const char *state,
                    bool overdue_only, ql_lead_row_fn fn, void *ctx,
                    struct ql_diag *d) QL_MUST_CHECK;

/* One entry of a lead's history, with what the reader may see of it. */
struct ql_lead_event {
    uint64_t idx;
    const char *time, *actor, *action, *transition, *from, *to, *unit;
    const struct ql_entry_field *clear; /* clear field changes */
    size_t nclear;
    const struct ql_wf_kv *sealed; /* sealed changes, when readable */
    size_t nsealed;
    bool readable;    /* false: the reader holds no key for them */
    const char *note; /* the note, when readable, or NULL */
};

typedef ql_err (*ql_lead_event_fn)(void *ctx, const struct ql_lead_event *ev,
                                   struct ql_diag *d);

ql_err ql_lead_history(struct ql_county *c, const char *id,
                       ql_lead_event_fn fn, void *ctx,
                       struct ql_diag *d) QL_MUST_CHECK;

#endif
