/*
 * ql_audit: verifying a county's log without reading a single lead.
 *
 * One streaming verifier (ql_audit_run) reads a log from a *source* — the
 * store itself, or an export folder in C2SP tlog-tiles form (ql_export.h)
 * — and checks, in index order, everything docs/auditing.md lists:
 *
 *   - each entry parses, carries its own index, and indexes are dense;
 *   - each entry is signed by the key its actor had registered at that
 *     point of the log (the administrator's key from the genesis entry, or
 *     a principal's key that was not revoked by then);
 *   - the actor was allowed to do it: registry entries by the
 *     administrator; a lead's transitions by a role the pinned workflow
 *     version allows, from the lead's current state, to the state the
 *     transition names, by someone in the lead's unit or a supervision
 *     unit; approvals by the approving role and not by the proposer;
 *     distinct_from; grants by a holder of the key, to principals allowed
 *     to read it; commitments by a unit head, verifications by an
 *     inspector; declarations bind a checkpoint whose root is the log's;
 *     declarations and verifications state the unit's scope (scope_leads,
 *     scope_hash) as the log has it, samples their population and the
 *     leads their seed draws (docs/commitments.md 2.2, 2.3);
 *   - the leaf hash and every stored hash (tree table or hash tiles) is the
 *     hash of the entries;
 *   - every checkpoint is signed by the log key the genesis entry names
 *     and states the root of the entries up to its size; entries past the
 *     latest checkpoint, or checkpoints past the last entry, fail;
 *   - every cosignature is a registered auditor's, over the log's root;
 *   - with the auditor's state (the last checkpoint it verified), that the
 *     log still extends it: a shorter log is a rollback, another root at
 *     that size a fork, and a consistency proof from it to the latest
 *     checkpoint must verify.
 *
 * It reports the first failure in log order: its entry index (in the
 * message, "entry N: ...", and in res->bad_index) and the reason.
 *
 * Memory is O(registered principals + units x principals / 8 + workflows
 * + leads): the registry, the compiled workflow versions, and per lead its
 * state, unit, version, registration date, last entry, pending proposal
 * and the actors of transitions that a distinct_from rule names; while a
 * commitment entry is checked, its unit's in-scope leads and their lines.
 * It never holds more than one batch of entries (at most QL_AUDIT_BATCH
 * of them, or 4 MiB) nor O(entries) hashes.
 *
 * With opts->jobs > 1 the signatures of each batch are checked on that many
 * threads, each with its own data; the results are then taken in log
 * order, so the verdict, the index and the message are the same for every
 * number of jobs.
 *
 * Errors: QL_EVERIFY (a signature, or a signer that was not registered,
 * was revoked or is not an auditor) and QL_EINTEGRITY (everything else
 * the log gets wrong) for a log that does not verify; QL_EUSAGE for a state
 * file of another log; a source's own errors (QL_ESTORE, QL_EIO, QL_ENOMEM,
 * ...) unchanged. Every struct ql_diag *d may be NULL.
 */
#ifndef QL_AUDIT_H
#define QL_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"
#include "ql_note.h"

struct ql_county;
struct ql_key;
struct ql_profile;

/* Most entries the verifier holds at once (one batch). */
#define QL_AUDIT_BATCH 512
/* Most threads opts->jobs may ask for. */
#define QL_AUDIT_JOBS_MAX 64
/* bad_index when a failure names no entry. */
#define QL_AUDIT_NO_INDEX UINT64_MAX

/* ---- Sources ---- */

/* One entry as a source hands it over; bytes borrowed until the next call. */
struct ql_audit_entry {
    uint64_t index;      /* the index the source holds it under */
    const void *note;    /* the signed entry note */
    size_t len;
    const uint8_t *leaf; /* the leaf hash stored beside it, or NULL */
};

/*
 * Where a log is read from. ql_audit_source_store, ql_audit_source_open
 * and ql_audit_source_export make qingling's own (a store, an export); a
 * caller may fill one of its own. Callbacks return QL_ENOTFOUND at the end
 * of their sequence; QL_EINTEGRITY (message without an entry number) for
 * data that is missing or malformed where the log should be, which the
 * verifier reports at the index it reached; anything else stops the run
 * with that error. next_entry is required; a NULL next_checkpoint or
 * next_cosignature holds none; a NULL hash holds no stored hashes: none is
 * compared, the state's consistency proof is skipped (its root is still
 * compared), and a declaration cannot be checked (QL_EUSAGE).
 */
struct ql_audit_source {
    void *ctx;
    const char *origin; /* the log's origin as the source knows it, or NULL */
    const struct ql_profile *profile; /* the log's profile, or NULL */
    uint64_t size;      /* entries it expects to hand over (for progress) */
    unsigned stride;    /* stored hashes are compared at levels that are
                           multiples of stride: 1 (a tree table) or 8
                           (hash tiles); 0: none */
    /* The next entry in index order. */
    ql_err (*next_entry)(void *ctx, struct ql_audit_entry *e,
                         struct ql_diag *d);
    /* The next checkpoint note, by ascending size; borrowed. */
    ql_err (*next_checkpoint)(void *ctx, uint64_t *size, const char **note,
                              size_t *len, struct ql_diag *d);
    /* The next stored cosignature line, by ascending size; borrowed. */
    ql_err (*next_cosignature)(void *ctx, uint64_t *size,
                               const char **cosigner, const char **line,
                               struct ql_diag *d);
    /* The stored hash (level, index), numbered as in ql_merkle.h. */
    ql_err (*hash)(void *ctx, unsigned level, uint64_t index,
                   uint8_t out[QL_HASH_LEN], struct ql_diag *d);
    /* Frees ctx (ql_audit_source_free); NULL when there is nothing to. */
    void (*close)(void *ctx);
};

/*
 * The county's store as a source: one read snapshot (entries, tree,
 * checkpoints, cosignatures) for the source's lifetime. The county must
 * stay open until ql_audit_source_free. *out is caller-owned.
 */
ql_err ql_audit_source_store(struct ql_county *c,
                             struct ql_audit_source **out,
                             struct ql_diag *d) QL_MUST_CHECK;

/*
 * The store at path as a source, opened read-only by the source itself
 * (closed by ql_audit_source_free). Unlike ql_county_open it judges
 * nothing, the genesis entry included: that is the verifier's work, and a
 * bad genesis entry is then reported as entry 0. Errors of ql_store_open
 * and ql_log_open. *out is caller-owned.
 */
ql_err ql_audit_source_open(const char *path, struct ql_audit_source **out,
                            struct ql_diag *d) QL_MUST_CHECK;

/*
 * An export folder (ql_export_write) as a source: `checkpoint`, the entry
 * bundles and hash tiles it needs, and `qingling/cosignatures`. It hands
 * over exactly the entries the checkpoint counts. QL_EIO when dir cannot
 * be read; QL_EINTEGRITY when it has no checkpoint or one that does not
 * parse. *out is caller-owned.
 */
ql_err ql_audit_source_export(const char *dir, struct ql_audit_source **out,
                              struct ql_diag *d) QL_MUST_CHECK;

/* Closes and frees a source made above; NULL is fine. */
void ql_audit_source_free(struct ql_audit_source *src);

/* ---- The auditor's state: the last checkpoint it verified ---- */

struct ql_audit_state {
    char origin[QL_ORIGIN_MAX + 1];
    uint64_t size;
    uint8_t root[QL_HASH_LEN];
};

/*
 * Reads a state file (docs/auditing.md). QL_ENOTFOUND when path does not
 * exist (a first run); QL_EFORMAT naming the line for anything malformed;
 * QL_EIO when it cannot be read.
 */
ql_err ql_audit_state_read(const char *path, struct ql_audit_state *st,
                           struct ql_diag *d) QL_MUST_CHECK;

/*
 * Writes st to path atomically: a temporary file beside it, synced, then
 * renamed over it. QL_EIO (QL_EFULL for a full disk) on failure, leaving
 * the old file as it was.
 */
ql_err ql_audit_state_write(const char *path, const struct ql_audit_state *st,
                            struct ql_diag *d) QL_MUST_CHECK;

/* ---- Verifying ---- */

struct ql_audit_opts {
    /* The administrator's public key, obtained out of band; the genesis
       entry must name exactly this key. NULL trusts the genesis entry's
       own key, which proves nothing about who made the log. */
    const struct ql_key *trust;
    /* The last checkpoint this auditor verified, or NULL. */
    const struct ql_audit_state *state;
    /* Threads for signatures; 0 and 1 both mean one. */
    unsigned jobs;
    /* A key whose registration as an active auditor res->cosigner_ok
       reports (for ql_audit_cosign), or NULL. */
    const struct ql_key *cosigner;
    /* Called after each batch with entries done and the source's size. */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
};

struct ql_audit_result {
    uint64_t entries;      /* entries verified */
    uint64_t checkpoints;  /* checkpoints verified */
    uint64_t cosignatures; /* cosignatures verified */
    uint64_t declarations; /* commitments' bound checkpoints verified */
    uint64_t leads;        /* leads followed */
    uint64_t bad_index;    /* the failing entry, or QL_AUDIT_NO_INDEX */
    struct ql_audit_state latest; /* the latest checkpoint, on success */
    bool cosigner_ok; /* opts->cosigner is an active registered auditor */
};

/*
 * Verifies the log src hands over (see the top of this file). profile is
 * the log's algorithm profile (NULL: the source's, else the default). res
 * (NULL allowed) is filled on success and failure alike.
 */
ql_err ql_audit_run(const struct ql_audit_source *src,
                    const struct ql_profile *profile,
                    const struct ql_audit_opts *opts,
                    struct ql_audit_result *res,
                    struct ql_diag *d) QL_MUST_CHECK;

/*
 * Verifies the county's own store: ql_audit_run on its store source with
 * trust and one job, no state.
 */
ql_err ql_audit_verify(struct ql_county *c, const struct ql_key *trust,
                       struct ql_audit_result *res,
                       struct ql_diag *d) QL_MUST_CHECK;

/*
 * Cosigns the checkpoint a successful run verified (res->latest) with the
 * auditor's key (secret half needed) as of now (Unix seconds), and stores
 * the line in the store's cosignatures table, in a write transaction of
 * its own; that table is not the log, so no entry is written. res must
 * come from ql_audit_run with opts->cosigner == auditor on this county's
 * store; QL_EDENIED unless res->cosigner_ok. *line (NULL allowed,
 * caller-owned) gets the cosignature line. *already (NULL allowed) is true
 * when this auditor had cosigned that size before: nothing is written.
 */
ql_err ql_audit_cosign(struct ql_county *c, const struct ql_key *auditor,
                       const struct ql_audit_result *res, int64_t now,
                       char **line, bool *already,
                       struct ql_diag *d) QL_MUST_CHECK;

/*
 * The latest signed checkpoint of the store with its stored cosignature
 * lines appended, as the export publishes it. *note caller-owned.
 * QL_ENOTFOUND without a checkpoint.
 */
ql_err ql_audit_checkpoint(struct ql_county *c, char **note, size_t *len,
                           uint64_t *size, struct ql_diag *d) QL_MUST_CHECK;

#endif
