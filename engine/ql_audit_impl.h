/*
 * Private to the verifier (ql_audit.c, ql_audit_rules.c,
 * ql_audit_source.c): how a failure is recorded, the order of the checks
 * at one index, and the registry and lead state machine (the rules).
 */
#ifndef QL_AUDIT_IMPL_H
#define QL_AUDIT_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "ql_audit.h"
#include "ql_log.h"

/*
 * The checks made at one index, in the order a single-threaded verifier
 * makes them. A failure is (index, phase); the first in that order is the
 * one reported, whichever thread found it.
 */
enum audit_phase {
    PH_ENTRY = 0,     /* reading, parsing, index, leaf hash, the signer */
    PH_SIG = 1,       /* the entry's signature (on the worker threads) */
    PH_RULES = 2,     /* who may do what: registry, workflow, grants */
    PH_HASH = 3,      /* stored hashes completed by this entry */
    PH_CP_FORMAT = 4, /* a checkpoint at size index + 1: its format */
    PH_CP_SIG = 5,    /* its signature by the log key (worker threads) */
    PH_CP_ROOT = 6,   /* its origin, size and root */
    PH_COSIG = 7,     /* cosignatures at that size */
    PH_STATE = 8,     /* the auditor's state at that size */
    PH_END = 9        /* checks after the last entry */
};

/* The first failure found so far; set only once. */
struct audit_fail {
    bool set;
    uint64_t index;
    int phase;
    ql_err code;
    char msg[QL_DIAG_MSG];
};

/*
 * Records a failure at (index, phase) unless one is recorded already, and
 * returns code. The message becomes "entry <index>: <fmt...>".
 */
ql_err audit_failf(struct audit_fail *f, uint64_t index, int phase,
                   ql_err code, const char *fmt, ...) QL_PRINTF(5, 6);

/* ---- The rules: the registry and the leads, as the log builds them ---- */

struct audit_rules;

/*
 * Computes the root of the first n entries from the source's stored
 * hashes (for declarations, which bind an earlier checkpoint).
 */
typedef ql_err (*audit_root_fn)(void *ctx, uint64_t n,
                                uint8_t out[QL_HASH_LEN], struct ql_diag *d);

/*
 * trust (borrowed, NULL allowed) is the administrator's key the genesis
 * entry must name; origin (NULL allowed) the origin the source expects;
 * state (NULL allowed) the auditor's state, whose origin must be the log's.
 */
ql_err audit_rules_new(const struct ql_profile *p, const struct ql_key *trust,
                       const char *origin, const struct ql_audit_state *state,
                       audit_root_fn root, void *root_ctx,
                       struct audit_rules **out, struct ql_diag *d);
void audit_rules_free(struct audit_rules *r);

/*
 * Phase PH_ENTRY: the key that must have signed e (entry index e->index),
 * as registered at this point, and its signed-note key ID (computed once
 * per key, not per entry); the genesis entry sets up the log. A log
 * failure is recorded in f and returned as QL_EINTEGRITY or QL_EVERIFY
 * with f->set; any other error (QL_ENOMEM, QL_EUSAGE for a state of
 * another log) is returned with d filled and f untouched.
 */
ql_err audit_rules_signer(struct audit_rules *r, const struct ql_entry *e,
                          const struct ql_key **key, uint32_t *key_id,
                          struct audit_fail *f, struct ql_diag *d);

/*
 * Phase PH_RULES: checks that the signer was allowed to do what e says
 * and applies it to the registry and the leads. Failures as above.
 */
ql_err audit_rules_apply(struct audit_rules *r, const struct ql_entry *e,
                         struct audit_fail *f, struct ql_diag *d);

/* After the genesis entry: the log key and the origin (borrowed). */
const struct ql_key *audit_rules_log_key(const struct audit_rules *r);
const char *audit_rules_origin(const struct audit_rules *r);

/*
 * The key of name when it is, at this point of the log, an active
 * principal with role auditor in an audit unit; NULL otherwise, with the
 * reason in why (size bytes).
 */
const struct ql_key *audit_rules_auditor(const struct audit_rules *r,
                                         const char *name, char *why,
                                         size_t size);

/* Leads seen and declarations checked so far. */
uint64_t audit_rules_leads(const struct audit_rules *r);
uint64_t audit_rules_declarations(const struct audit_rules *r);

#endif
