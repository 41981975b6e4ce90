/*
 * ql_workflow: a lead workflow, loaded from its Lua source under the
 * sandbox (ql_lua), validated, and held as plain C data plus the guards
 * that stay in its Lua state.
 *
 * The file format is docs/workflows.md; workflows/gang_lead.lua is the
 * default. A workflow version is named by the SHA-256 of its source (hex),
 * and a lead stays on the version it started with.
 *
 * Every string and array the accessors return is borrowed for the
 * workflow's lifetime. A struct ql_workflow is used by one thread at a
 * time (guards run in its Lua state).
 */
#ifndef QL_WORKFLOW_H
#define QL_WORKFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

struct ql_workflow;
struct ql_calendar;

/* Largest workflow source accepted, in bytes (it is logged in one entry). */
#define QL_WORKFLOW_SOURCE_MAX (44 * 1024)

enum ql_field_type {
    QL_FIELD_TEXT,   /* one or more lines of UTF-8, at most max bytes */
    QL_FIELD_ENUM,   /* one of values[] */
    QL_FIELD_DATE,   /* YYYY-MM-DD */
    QL_FIELD_NUMBER, /* a decimal number */
    QL_FIELD_LIST,   /* items, one per line */
};

enum ql_field_vis {
    QL_VIS_SEALED, /* default: encrypted under the unit's data key */
    QL_VIS_CLEAR,  /* written in the entry's clear lines: auditors see it */
    QL_VIS_SECRET, /* sealed envelope: only secret_roles read it */
};

struct ql_wf_field {
    const char *name;  /* ASCII identifier [a-z][a-z0-9_]* */
    const char *label; /* display label, may be Chinese */
    enum ql_field_type type;
    enum ql_field_vis vis;
    const char *const *values; /* enum choices (labels as written) */
    size_t nvalues;
    size_t max; /* text and list: most bytes; 0 for the default */
    bool required; /* needed when a lead is registered */
};

enum ql_limit_kind { QL_LIMIT_NONE, QL_LIMIT_DAYS, QL_LIMIT_WORKDAYS };

struct ql_wf_limit {
    enum ql_limit_kind kind;
    int n;
};

struct ql_wf_state {
    const char *name; /* ASCII identifier, upper case by convention */
    const char *label;
    bool terminal;
    bool cleared; /* counts as cleared (清零) for commitments */
    struct ql_wf_limit limit; /* time allowed in this state */
};

struct ql_wf_transition {
    const char *name;
    const char *label;
    const char *const *from; /* states it leaves from (one or several) */
    size_t nfrom;
    const char *to;
    const char *const *roles; /* roles that may take (or propose) it */
    size_t nroles;
    const char *approval; /* role that must approve it, or NULL */
    const char *const *require; /* fields that must be set after it */
    size_t nrequire;
    const char *const *distinct_from; /* earlier transitions whose actors
                                         may not take this one */
    size_t ndistinct;
    const char *assign_field; /* moves the lead to the unit this field
                                 names, or NULL */
    const char *merge_field;  /* the field naming the master lead, or NULL */
    const char *due_field;    /* a date field that sets the due date */
    bool has_guard;
};

/*
 * Loads and validates a workflow from its source. chunkname (e.g. the file
 * name) names the file in every error. Errors are QL_ESCRIPT for Lua that
 * fails or breaks the sandbox's limits and QL_EFORMAT for a definition
 * that is wrong — unknown or unreachable states, a state with no path to a
 * terminal state, duplicate names, bad field types or roles — each naming
 * the file and what is wrong. QL_ETOOBIG past QL_WORKFLOW_SOURCE_MAX.
 * *out is caller-owned.
 */
ql_err ql_workflow_load(const char *chunkname, const char *src, size_t len,
                        struct ql_workflow **out,
                        struct ql_diag *d) QL_MUST_CHECK;

/*
 * The same for a source that ql_workflow_load accepted before (a version
 * registered in the store): the sandbox seals the workflow's Lua state at
 * its first guard call instead of now (ql_lua_load_lazy), which a command
 * that runs no guard never pays for. A source that breaks the sandbox's
 * sealing rules loads, and every guard call fails with the message
 * ql_workflow_load would have given; a guard call that failed for want of
 * memory leaves the workflow as it was, and the next one may succeed.
 */
ql_err ql_workflow_load_lazy(const char *chunkname, const char *src, size_t len,
                             struct ql_workflow **out,
                             struct ql_diag *d) QL_MUST_CHECK;

/*
 * ql_workflow_load_lazy for the version a store registered under hash (its
 * lowercase hex, as ql_workflow_hash gives it). The source must hash to
 * it, and that is checked before any of it is compiled or run: a source
 * changed in the store is refused as a change (QL_EINTEGRITY) whatever it
 * holds, and never reaches the sandbox.
 */
ql_err ql_workflow_load_registered(const char *chunkname, const char *src,
                                   size_t len, const char *hash,
                                   struct ql_workflow **out,
                                   struct ql_diag *d) QL_MUST_CHECK;

/* Frees wf and its Lua state; NULL is fine. */
void ql_workflow_free(struct ql_workflow *wf);

const char *ql_workflow_name(const struct ql_workflow *wf);
const char *ql_workflow_title(const struct ql_workflow *wf);
/* SHA-256 of the source, 64 lowercase hex digits. */
const char *ql_workflow_hash(const struct ql_workflow *wf);
const char *ql_workflow_initial(const struct ql_workflow *wf);
/*
 * The lead id pattern: literal text with {year} and {seq:N} (N digits,
 * zero-padded) and {unit}; default "{unit}-{year}-{seq:6}".
 */
const char *ql_workflow_id_format(const struct ql_workflow *wf);

/* Roles the workflow declares: name and label, in file order. */
size_t ql_workflow_role_count(const struct ql_workflow *wf);
const char *ql_workflow_role_name(const struct ql_workflow *wf, size_t i);
const char *ql_workflow_role_label(const struct ql_workflow *wf, size_t i);
/*
 * True when roles (comma-separated) holds a role that may register leads:
 * one listed in the workflow's `create = {...}` (default: every role that
 * may take a transition out of the initial state).
 */
bool ql_workflow_may_create(const struct ql_workflow *wf, const char *roles);

/* Roles that may read secret (envelope) fields. */
bool ql_workflow_secret_reader(const struct ql_workflow *wf,
                               const char *role);

/* Fields, states and transitions in file order, and by name (NULL). */
size_t ql_workflow_field_count(const struct ql_workflow *wf);
const struct ql_wf_field *ql_workflow_field_at(const struct ql_workflow *wf,
                                               size_t i);
const struct ql_wf_field *ql_workflow_field(const struct ql_workflow *wf,
                                            const char *name);
/* A field by name or by label (for CSV headers in Chinese). */
const struct ql_wf_field *ql_workflow_field_by_label(
    const struct ql_workflow *wf, const char *name_or_label);

size_t ql_workflow_state_count(const struct ql_workflow *wf);
const struct ql_wf_state *ql_workflow_state_at(const struct ql_workflow *wf,
                                               size_t i);
const struct ql_wf_state *ql_workflow_state(const struct ql_workflow *wf,
                                            const char *name);

size_t ql_workflow_transition_count(const struct ql_workflow *wf);
const struct ql_wf_transition *
ql_workflow_transition_at(const struct ql_workflow *wf, size_t i);
const struct ql_wf_transition *
ql_workflow_transition(const struct ql_workflow *wf, const char *name);

/* True when t leaves from state. */
bool ql_wf_transition_from(const struct ql_wf_transition *t,
                           const char *state);

/*
 * Checks value against field f's type: enum membership, a real date,
 * a number, length and UTF-8 for text, no control characters but newline
 * (and none at all for clear fields, which are one line). QL_EFORMAT with
 * a message naming the field's label and the problem.
 */
ql_err ql_workflow_check_value(const struct ql_workflow *wf,
                               const struct ql_wf_field *f, const char *value,
                               struct ql_diag *d) QL_MUST_CHECK;

/*
 * The due date for a lead entering a state with a time limit: the limit
 * counted from day (calendar days, or working days on cal). *due gets
 * the day number (days since 1970-01-01); *has is false when the state has
 * no limit. *covered (NULL allowed) false when cal does not cover the
 * years stepped over.
 */
ql_err ql_workflow_due(const struct ql_workflow *wf,
                       const struct ql_wf_state *s,
                       const struct ql_calendar *cal, int32_t day,
                       int32_t *due, bool *has, bool *covered,
                       struct ql_diag *d) QL_MUST_CHECK;

/* A name and value, for the lead a guard sees. */
struct ql_wf_kv {
    const char *name;
    const char *value;
};

/* What a guard is shown: a read-only lead and the context of the call. */
struct ql_wf_guard_input {
    const char *lead_id, *state, *unit;
    const struct ql_wf_kv *fields; /* the lead's fields after the change */
    size_t nfields;
    const char *actor, *actor_unit;
    const char *const *roles;
    size_t nroles;
    const char *now;   /* RFC 3339 UTC */
    const char *today; /* the county's local date, YYYY-MM-DD */
};

/*
 * Runs t's guard. *ok is true when it allows the transition; when it
 * refuses, *ok is false and reason (reason_size bytes) gets its reason.
 * QL_ESCRIPT when the guard fails, loops, or breaks a sandbox limit, with a
 * message naming the file. Transitions without a guard allow.
 */
ql_err ql_workflow_guard(struct ql_workflow *wf,
                         const struct ql_wf_transition *t,
                         const struct ql_wf_guard_input *in, bool *ok,
                         char *reason, size_t reason_size,
                         struct ql_diag *d) QL_MUST_CHECK;

enum ql_graph_format { QL_GRAPH_DOT, QL_GRAPH_MERMAID };

/*
 * The state graph as Graphviz DOT or Mermaid text, labels intact (UTF-8,
 * quoted as each format needs). *out is caller-owned (free()).
 */
ql_err ql_workflow_graph(const struct ql_workflow *wf,
                         enum ql_graph_format fmt, char **out,
                         struct ql_diag *d) QL_MUST_CHECK;

#endif
