/*
 * ql_audit: verifying a county's log from its entries alone.
 *
 * ql_audit_verify streams the log and checks, for every entry: that it
 * parses and carries its own index; that it is signed by the key its actor
 * had registered at that point of the log (the administrator's key from
 * the genesis entry for registry entries; a principal's key, not yet
 * revoked, for the rest); that the Merkle root at every stored checkpoint
 * equals the root recomputed from the entries, and that the checkpoint is
 * signed by the log key the genesis entry names. It needs no data key and
 * reads no content.
 *
 * It holds one key per registered principal and O(log n) hashes, so its
 * memory does not grow with the number of entries.
 */
#ifndef QL_AUDIT_H
#define QL_AUDIT_H

#include <stdint.h>

#include "ql_err.h"

struct ql_county;
struct ql_key;

struct ql_audit_result {
    uint64_t entries;     /* entries verified */
    uint64_t checkpoints; /* checkpoints verified */
    uint64_t bad_index;   /* the first failing entry (valid on failure) */
};

/*
 * Verifies the county's log. trust (NULL: the genesis entry's own key) is
 * the administrator's public key the auditor was given out of band; the
 * genesis entry must name exactly that key. QL_EINTEGRITY (or QL_EVERIFY)
 * on the first failure, with its entry index in the message and in
 * res->bad_index.
 */
ql_err ql_audit_verify(struct ql_county *c, const struct ql_key *trust,
                       struct ql_audit_result *res,
                       struct ql_diag *d) QL_MUST_CHECK;

#endif
