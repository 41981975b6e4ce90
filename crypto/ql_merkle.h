/*
 * ql_merkle: the log's Merkle tree (RFC 6962, RFC 9162 section 2.1) over the
 * profile's 32-byte hash H.
 *
 *   leaf hash        H(0x00 || entry bytes)
 *   node hash        H(0x01 || left || right)
 *   root of size 0   H("")
 *   root of size n   MTH(D[0:n]): with k the largest power of two below n,
 *                    node(MTH(D[0:k]), MTH(D[k:n])); a single leaf's root
 *                    is its leaf hash.
 *
 * The module keeps no tree of its own. The caller owns the storage (the
 * engine keeps hashes in SQLite; the export writes them as tlog-tiles) and
 * lends it through struct ql_merkle_store. A stored hash is named by
 * (level, index): the root of the complete subtree over leaves
 * [index * 2^level, (index + 1) * 2^level). Level 0 holds the leaf hashes.
 * This is the numbering of C2SP tlog-tiles: the tile at tile level L and
 * tile index N, of width W (256 when full), lists the stored hashes
 * (8L, 256N + i) for i < W, so the export reads its tiles straight out of
 * the store. Only complete subtrees
 * are stored, and a stored hash never changes once written: a tree of size n
 * holds, at each level l, exactly the hashes (l, i) with i < n >> l.
 *
 * Sizes and indexes are uint64_t; a tree holds at most QL_MERKLE_SIZE_MAX
 * (2^63) leaves, which keeps every proof within QL_MERKLE_PROOF_MAX hashes.
 *
 * Costs, counted in calls to the store, for a tree of size n and
 * L = ceil(log2 n):
 *   ql_merkle_append               t + 1 puts and t gets, t being the number
 *                                  of trailing one bits of the old size
 *                                  (at most 63; on average 1)
 *   ql_merkle_edge_load            popcount(n) gets, at most 63
 *   ql_merkle_edge_append          t + 1 puts and no gets
 *   ql_merkle_root                 popcount(n) gets, at most 63
 *   ql_merkle_prove_inclusion      at most 2L gets
 *   ql_merkle_prove_consistency    at most 2L + 1 gets
 * so every operation reads O(log n) hashes. Verification reads no store.
 *
 * NULL rules: the profile, the store, and every hash and proof argument
 * must not be NULL; a function that needs a callback the store lacks
 * returns QL_EUSAGE; every struct ql_diag *d may be NULL. Nothing here
 * allocates; every function is reentrant, and may run in parallel on the
 * same store if the store's callbacks allow it.
 */
#ifndef QL_MERKLE_H
#define QL_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"
#include "ql_profile.h"

/* The largest tree size accepted anywhere in this module: 2^63 leaves. */
#define QL_MERKLE_SIZE_MAX ((uint64_t)1 << 63)

/*
 * The longest proof of a tree of at most QL_MERKLE_SIZE_MAX leaves: an
 * inclusion proof has at most 63 hashes, a consistency proof at most 64.
 */
#define QL_MERKLE_PROOF_MAX 64

/*
 * The caller's storage of stored hashes (see the numbering above). Both
 * callbacks report failure by returning a ql_err other than QL_OK, with
 * their message in d; the ql_merkle function that called them returns that
 * code unchanged and leaves d as the callback wrote it.
 *
 * get: writes the stored hash (level, index) into out. This module only asks
 *      for hashes that a tree of the size it was given must hold; a store
 *      that lacks one should answer QL_ENOTFOUND (or QL_EDAMAGED) naming it.
 * put: stores the hash (level, index). It is called only for a subtree that
 *      has just become complete, once per subtree. If the store already holds
 *      a different hash there, the tree has been forked and put should fail.
 */
struct ql_merkle_store {
    void *ctx;
    ql_err (*get)(void *ctx, unsigned level, uint64_t index,
                  uint8_t out[QL_HASH_LEN], struct ql_diag *d);
    ql_err (*put)(void *ctx, unsigned level, uint64_t index,
                  const uint8_t h[QL_HASH_LEN], struct ql_diag *d);
};

/*
 * A proof, in caller storage: len hashes in RFC 9162 order (for inclusion,
 * the leaf's sibling first and the root's child last). Entries at len and
 * beyond are unused.
 */
struct ql_merkle_proof {
    size_t len;
    uint8_t hash[QL_MERKLE_PROOF_MAX][QL_HASH_LEN];
};

/* out = H(0x00 || data): the leaf hash of one log entry's bytes. */
void ql_merkle_leaf_hash(const struct ql_profile *p, uint8_t out[QL_HASH_LEN],
                         const void *data, size_t len);

/* out = H(0x01 || left || right). out may alias left or right. */
void ql_merkle_node_hash(const struct ql_profile *p, uint8_t out[QL_HASH_LEN],
                         const uint8_t left[QL_HASH_LEN],
                         const uint8_t right[QL_HASH_LEN]);

/* out = H(""), the root of the empty tree. */
void ql_merkle_empty_root(const struct ql_profile *p, uint8_t out[QL_HASH_LEN]);

/*
 * The root of the tree whose leaf hashes are leaves[0 .. n-1] (n * 32 bytes,
 * leaf i at leaves + 32 i), computed in memory with no store: n - 1 node
 * hashes and no allocation. leaves may be NULL when n is 0.
 */
void ql_merkle_root_of_leaves(const struct ql_profile *p,
                              uint8_t out[QL_HASH_LEN], const uint8_t *leaves,
                              size_t n);

/*
 * Appends the leaf hash leaf to the tree of size n held in s, making it a
 * tree of size n + 1: puts (0, n) and every subtree that the new leaf
 * completes. n must be the store's current size; the store cannot tell, so
 * the caller (the engine, from its entry count) keeps them in step.
 *
 * On failure some of the new hashes may already have been put: run the
 * append inside the transaction that adds the entry, so that a failure
 * rolls both back. QL_ETOOBIG when n + 1 exceeds QL_MERKLE_SIZE_MAX; QL_EUSAGE
 * for a missing callback; any error of get or put.
 */
ql_err ql_merkle_append(const struct ql_profile *p,
                        const struct ql_merkle_store *s, uint64_t n,
                        const uint8_t leaf[QL_HASH_LEN],
                        struct ql_diag *d) QL_MUST_CHECK;

/*
 * The right edge of a tree of size n, in caller storage: for each set bit l
 * of size, hash[l] is the root of the complete subtree of level l that the
 * tree splits into there (the subtrees of ql_merkle_root, largest on the
 * left). Entries for the clear bits are unused. It is everything an append
 * reads, so a writer that keeps it appends with puts only, and folds the
 * root from it with no store at all.
 */
struct ql_merkle_edge {
    uint64_t size;
    uint8_t hash[64][QL_HASH_LEN];
};

/*
 * Reads the right edge of the tree of size n from s: popcount(n) gets.
 * *out is written only on success. QL_ETOOBIG when n exceeds
 * QL_MERKLE_SIZE_MAX; QL_EUSAGE for a missing callback; any error of get.
 */
ql_err ql_merkle_edge_load(const struct ql_profile *p,
                           const struct ql_merkle_store *s, uint64_t n,
                           struct ql_merkle_edge *out,
                           struct ql_diag *d) QL_MUST_CHECK;

/*
 * ql_merkle_append from a kept edge: puts (0, e->size) and every subtree
 * the new leaf completes, as ql_merkle_append does, but reads nothing (s
 * needs only put). On success e describes the tree one leaf larger; on
 * failure e is unchanged, though some hashes may have been put (roll back
 * as for ql_merkle_append). e must describe the tree held in s; the caller
 * keeps them in step, as it keeps the size. QL_ETOOBIG when the tree is
 * full; QL_EUSAGE for a missing put; any error of put.
 */
ql_err ql_merkle_edge_append(const struct ql_profile *p,
                             struct ql_merkle_edge *e,
                             const struct ql_merkle_store *s,
                             const uint8_t leaf[QL_HASH_LEN],
                             struct ql_diag *d) QL_MUST_CHECK;

/* The root of the tree e describes (H("") for size 0), with no store. */
void ql_merkle_edge_root(const struct ql_profile *p,
                         const struct ql_merkle_edge *e,
                         uint8_t out[QL_HASH_LEN]);

/*
 * The root of the tree of size n, from the stored hashes of s: the complete
 * subtrees that size n splits into (one per set bit of n), folded from the
 * right. The store may hold more leaves than n: stored hashes never change,
 * so any smaller tree's root can still be read. *out is written only on
 * success. QL_ETOOBIG when n exceeds QL_MERKLE_SIZE_MAX; QL_EUSAGE for a
 * missing callback; any error of get.
 */
ql_err ql_merkle_root(const struct ql_profile *p,
                      const struct ql_merkle_store *s, uint64_t n,
                      uint8_t out[QL_HASH_LEN],
                      struct ql_diag *d) QL_MUST_CHECK;

/*
 * The inclusion proof (RFC 9162 section 2.1.3.1, PATH(index, D_n)) of leaf
 * index in the tree of size n. *out is written only on success. QL_EUSAGE
 * when index >= n or a callback is missing; QL_ETOOBIG when n exceeds
 * QL_MERKLE_SIZE_MAX; any error of get. A tree of one leaf gives an empty
 * proof.
 */
ql_err ql_merkle_prove_inclusion(const struct ql_profile *p,
                                 const struct ql_merkle_store *s,
                                 uint64_t index, uint64_t n,
                                 struct ql_merkle_proof *out,
                                 struct ql_diag *d) QL_MUST_CHECK;

/*
 * The consistency proof (RFC 9162 section 2.1.4.1, PROOF(m, D_n)) that the
 * tree of size m is a prefix of the tree of size n. m == n gives an empty
 * proof. RFC 9162 defines no proof from the empty tree, and none is needed
 * (the empty tree is a prefix of every tree): m == 0 is QL_EUSAGE, as is
 * m > n or a missing callback. QL_ETOOBIG when n exceeds QL_MERKLE_SIZE_MAX;
 * any error of get. *out is written only on success.
 */
ql_err ql_merkle_prove_consistency(const struct ql_profile *p,
                                   const struct ql_merkle_store *s, uint64_t m,
                                   uint64_t n, struct ql_merkle_proof *out,
                                   struct ql_diag *d) QL_MUST_CHECK;

/*
 * Checks that leaf (a leaf hash) is leaf index of the tree of size n whose
 * root is root, by the algorithm of RFC 9162 section 2.1.3.2. QL_OK when it
 * is; QL_EVERIFY for every other answer: index >= n, n beyond
 * QL_MERKLE_SIZE_MAX, a proof longer or shorter than a tree of size n
 * calls for, or a computed root that differs. The message in d says which.
 */
ql_err ql_merkle_verify_inclusion(const struct ql_profile *p,
                                  const uint8_t leaf[QL_HASH_LEN],
                                  uint64_t index, uint64_t n,
                                  const struct ql_merkle_proof *proof,
                                  const uint8_t root[QL_HASH_LEN],
                                  struct ql_diag *d) QL_MUST_CHECK;

/*
 * Checks that the tree of size m and root old_root is a prefix of the tree
 * of size n and root new_root, by the algorithm of RFC 9162 section 2.1.4.2.
 * QL_OK when it is. When m == n the proof must be empty and the roots equal.
 * QL_EVERIFY for every other answer, including m == 0 (the RFC's algorithm
 * is defined for 0 < m only; a caller with no earlier tree has nothing to
 * check), m > n, n beyond QL_MERKLE_SIZE_MAX, an empty proof when m < n, a
 * proof of the wrong length, or either computed root differing.
 */
ql_err ql_merkle_verify_consistency(const struct ql_profile *p, uint64_t m,
                                    uint64_t n,
                                    const struct ql_merkle_proof *proof,
                                    const uint8_t old_root[QL_HASH_LEN],
                                    const uint8_t new_root[QL_HASH_LEN],
                                    struct ql_diag *d) QL_MUST_CHECK;

#endif
