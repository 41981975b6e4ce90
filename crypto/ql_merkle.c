#include "ql_merkle.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

/* Domain-separation prefixes of RFC 6962 section 2.1. */
static const uint8_t LEAF_PREFIX = 0x00;
static const uint8_t NODE_PREFIX = 0x01;

void
ql_merkle_leaf_hash(const struct ql_profile *p, uint8_t out[QL_HASH_LEN],
                    const void *data, size_t len)
{
    struct ql_bytes parts[2];

    parts[0].p = &LEAF_PREFIX;
    parts[0].len = 1;
    parts[1].p = data;
    parts[1].len = len;
    ql_hash_parts(p, out, parts, len > 0 ? 2 : 1);
}

void
ql_merkle_node_hash(const struct ql_profile *p, uint8_t out[QL_HASH_LEN],
                    const uint8_t left[QL_HASH_LEN],
                    const uint8_t right[QL_HASH_LEN])
{
    struct ql_bytes parts[3];
    uint8_t h[QL_HASH_LEN];

    parts[0].p = &NODE_PREFIX;
    parts[0].len = 1;
    parts[1].p = left;
    parts[1].len = QL_HASH_LEN;
    parts[2].p = right;
    parts[2].len = QL_HASH_LEN;
    /* Hash into h first: the header lets out alias an input. */
    ql_hash_parts(p, h, parts, 3);
    memcpy(out, h, QL_HASH_LEN);
}

void
ql_merkle_empty_root(const struct ql_profile *p, uint8_t out[QL_HASH_LEN])
{
    ql_hash(p, out, "", 0);
}

void
ql_merkle_root_of_leaves(const struct ql_profile *p, uint8_t out[QL_HASH_LEN],
                         const uint8_t *leaves, size_t n)
{
    /*
     * pending[l] holds the newest complete subtree of level l. After the
     * last leaf, the set bits of n name exactly the subtrees still pending,
     * and folding them from the right gives the root.
     */
    uint8_t pending[64][QL_HASH_LEN];
    uint8_t cur[QL_HASH_LEN];
    uint64_t i, count = n;
    unsigned level;
    bool have = false;

    if (n == 0) {
        ql_merkle_empty_root(p, out);
        return;
    }
    for (i = 0; i < count; i++) {
        memcpy(cur, leaves + i * QL_HASH_LEN, QL_HASH_LEN);
        for (level = 0; (i >> level) & 1; level++)
            ql_merkle_node_hash(p, cur, pending[level], cur);
        memcpy(pending[level], cur, QL_HASH_LEN);
    }
    for (level = 0; level < 64; level++) {
        if (((count >> level) & 1) == 0)
            continue;
        if (have) {
            ql_merkle_node_hash(p, cur, pending[level], cur);
        } else {
            memcpy(cur, pending[level], QL_HASH_LEN);
            have = true;
        }
    }
    memcpy(out, cur, QL_HASH_LEN);
}

/* The number of bits needed to write x (0 for 0). */
static unsigned
bit_len(uint64_t x)
{
    unsigned n = 0;

    while (x != 0) {
        x >>= 1;
        n++;
    }
    return n;
}

/* The largest power of two below size, for size >= 2 (RFC 9162's k). */
static uint64_t
split_point(uint64_t size)
{
    return (uint64_t)1 << (bit_len(size - 1) - 1);
}

static ql_err
check_store(const struct ql_merkle_store *s, bool need_put, struct ql_diag *d)
{
    if (s->get == NULL)
        return ql_fail(d, QL_EUSAGE, "merkle store has no 'get' callback");
    if (need_put && s->put == NULL)
        return ql_fail(d, QL_EUSAGE, "merkle store has no 'put' callback");
    return QL_OK;
}

static ql_err
check_size(uint64_t n, struct ql_diag *d)
{
    if (n > QL_MERKLE_SIZE_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "tree size %" PRIu64 " exceeds the largest tree "
                       "(2^63 leaves)",
                       n);
    return QL_OK;
}

/*
 * MTH(D[lo:hi]) for hi > lo, read from the store. Every range that the
 * RFC's recursions produce starts at a multiple of the largest power of two
 * not above its size, so it splits into the complete subtrees named by the
 * set bits of hi - lo, largest first, each one stored hash. They are read
 * smallest (rightmost) first so the fold needs no buffer: popcount(hi - lo)
 * gets.
 */
static ql_err
range_hash(const struct ql_profile *p, const struct ql_merkle_store *s,
           uint64_t lo, uint64_t hi, uint8_t out[QL_HASH_LEN],
           struct ql_diag *d)
{
    uint64_t size = hi - lo, pos, above;
    uint8_t acc[QL_HASH_LEN], h[QL_HASH_LEN];
    unsigned level;
    bool have = false;
    ql_err rc;

    for (level = 0; level < 64; level++) {
        if (((size >> level) & 1) == 0)
            continue;
        /* The bits of size above this one are the subtrees to its left. */
        above = size & ~(((uint64_t)2 << level) - 1);
        pos = lo + above;
        if ((rc = s->get(s->ctx, level, pos >> level, h, d)) != QL_OK)
            return rc;
        if (have) {
            ql_merkle_node_hash(p, acc, h, acc);
        } else {
            memcpy(acc, h, QL_HASH_LEN);
            have = true;
        }
    }
    memcpy(out, acc, QL_HASH_LEN);
    return QL_OK;
}

ql_err
ql_merkle_append(const struct ql_profile *p, const struct ql_merkle_store *s,
                 uint64_t n, const uint8_t leaf[QL_HASH_LEN], struct ql_diag *d)
{
    uint8_t cur[QL_HASH_LEN], left[QL_HASH_LEN];
    unsigned level;
    ql_err rc;

    if ((rc = check_store(s, true, d)) != QL_OK)
        return rc;
    if (n >= QL_MERKLE_SIZE_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "tree of size %" PRIu64 " is full (2^63 leaves)", n);
    memcpy(cur, leaf, QL_HASH_LEN);
    if ((rc = s->put(s->ctx, 0, n, cur, d)) != QL_OK)
        return rc;
    /*
     * Each trailing one bit of n is a complete left sibling at that level:
     * the new leaf completes its parent, and so on up.
     */
    for (level = 0; (n >> level) & 1; level++) {
        if ((rc = s->get(s->ctx, level, (n >> level) - 1, left, d)) != QL_OK)
            return rc;
        ql_merkle_node_hash(p, cur, left, cur);
        if ((rc = s->put(s->ctx, level + 1, n >> (level + 1), cur, d)) != QL_OK)
            return rc;
    }
    return QL_OK;
}

ql_err
ql_merkle_edge_load(const struct ql_profile *p,
                    const struct ql_merkle_store *s, uint64_t n,
                    struct ql_merkle_edge *out, struct ql_diag *d)
{
    struct ql_merkle_edge e;
    uint64_t above;
    unsigned level;
    ql_err rc;

    (void)p;
    if ((rc = check_store(s, false, d)) != QL_OK ||
        (rc = check_size(n, d)) != QL_OK)
        return rc;
    /*
     * The subtree of a set bit l starts where the larger subtrees to its
     * left end: at the bits of n above l.
     */
    for (level = 0; level < 64; level++) {
        if (((n >> level) & 1) == 0)
            continue;
        above = n & ~(((uint64_t)2 << level) - 1);
        if ((rc = s->get(s->ctx, level, above >> level, e.hash[level], d)) !=
            QL_OK)
            return rc;
    }
    e.size = n;
    memcpy(out, &e, sizeof e);
    return QL_OK;
}

ql_err
ql_merkle_edge_append(const struct ql_profile *p, struct ql_merkle_edge *e,
                      const struct ql_merkle_store *s,
                      const uint8_t leaf[QL_HASH_LEN], struct ql_diag *d)
{
    uint8_t cur[QL_HASH_LEN];
    uint64_t n = e->size;
    unsigned level;
    ql_err rc;

    if (s->put == NULL)
        return ql_fail(d, QL_EUSAGE, "merkle store has no 'put' callback");
    if (n >= QL_MERKLE_SIZE_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "tree of size %" PRIu64 " is full (2^63 leaves)", n);
    memcpy(cur, leaf, QL_HASH_LEN);
    if ((rc = s->put(s->ctx, 0, n, cur, d)) != QL_OK)
        return rc;
    /*
     * As in ql_merkle_append, each trailing one bit of n is a complete left
     * sibling; the edge holds it, so nothing is read back. The edge changes
     * only once every put succeeded.
     */
    for (level = 0; (n >> level) & 1; level++) {
        ql_merkle_node_hash(p, cur, e->hash[level], cur);
        if ((rc = s->put(s->ctx, level + 1, n >> (level + 1), cur, d)) != QL_OK)
            return rc;
    }
    memcpy(e->hash[level], cur, QL_HASH_LEN);
    e->size = n + 1;
    return QL_OK;
}

void
ql_merkle_edge_root(const struct ql_profile *p, const struct ql_merkle_edge *e,
                    uint8_t out[QL_HASH_LEN])
{
    uint8_t acc[QL_HASH_LEN];
    unsigned level;
    bool have = false;

    if (e->size == 0) {
        ql_merkle_empty_root(p, out);
        return;
    }
    /* Fold from the right, as range_hash does over stored hashes. */
    for (level = 0; level < 64; level++) {
        if (((e->size >> level) & 1) == 0)
            continue;
        if (have) {
            ql_merkle_node_hash(p, acc, e->hash[level], acc);
        } else {
            memcpy(acc, e->hash[level], QL_HASH_LEN);
            have = true;
        }
    }
    memcpy(out, acc, QL_HASH_LEN);
}

ql_err
ql_merkle_root(const struct ql_profile *p, const struct ql_merkle_store *s,
               uint64_t n, uint8_t out[QL_HASH_LEN], struct ql_diag *d)
{
    uint8_t h[QL_HASH_LEN];
    ql_err rc;

    if ((rc = check_store(s, false, d)) != QL_OK ||
        (rc = check_size(n, d)) != QL_OK)
        return rc;
    if (n == 0) {
        ql_merkle_empty_root(p, out);
        return QL_OK;
    }
    if ((rc = range_hash(p, s, 0, n, h, d)) != QL_OK)
        return rc;
    memcpy(out, h, QL_HASH_LEN);
    return QL_OK;
}

/* The RFC lists proofs leaf end first; the loops below find them root first. */
static void
reverse_proof(struct ql_merkle_proof *pr)
{
    uint8_t t[QL_HASH_LEN];
    size_t i, j;

    for (i = 0, j = pr->len; i + 1 < j; i++, j--) {
        memcpy(t, pr->hash[i], QL_HASH_LEN);
        memcpy(pr->hash[i], pr->hash[j - 1], QL_HASH_LEN);
        memcpy(pr->hash[j - 1], t, QL_HASH_LEN);
    }
}

/*
 * PATH(index, D[0:n]) unrolled: each step keeps the half holding the leaf
 * and records the other half's hash. Only the first right-hand half can be
 * an incomplete subtree (every later range lies inside a complete one), so
 * the reads stay within 2 ceil(log2 n). Each step shrinks ceil(log2 size),
 * so there are at most 63 steps and the proof always fits.
 */
ql_err
ql_merkle_prove_inclusion(const struct ql_profile *p,
                          const struct ql_merkle_store *s, uint64_t index,
                          uint64_t n, struct ql_merkle_proof *out,
                          struct ql_diag *d)
{
    struct ql_merkle_proof pr;
    uint64_t lo = 0, hi = n, k;
    ql_err rc;

    if ((rc = check_store(s, false, d)) != QL_OK ||
        (rc = check_size(n, d)) != QL_OK)
        return rc;
    if (index >= n)
        return ql_fail(d, QL_EUSAGE,
                       "leaf index %" PRIu64 " is not below tree size %" PRIu64,
                       index, n);
    pr.len = 0;
    while (hi - lo > 1) {
        k = split_point(hi - lo);
        if (index < lo + k) {
            rc = range_hash(p, s, lo + k, hi, pr.hash[pr.len], d);
            hi = lo + k;
        } else {
            rc = range_hash(p, s, lo, lo + k, pr.hash[pr.len], d);
            lo += k;
        }
        if (rc != QL_OK)
            return rc;
        pr.len++;
    }
    reverse_proof(&pr);
    out->len = pr.len;
    memcpy(out->hash, pr.hash, pr.len * QL_HASH_LEN);
    return QL_OK;
}

/*
 * SUBPROOF(m, D[0:n], true) unrolled, in absolute leaf numbers: the old
 * tree is leaves [0, m), and [lo, hi) is the range being split. While m lies
 * inside it, a step keeps the half holding the old tree's last leaf and
 * records the other. When the range ends exactly at m it is a complete
 * subtree of both trees, recorded unless it is the old tree itself (the
 * verifier has that root already). That makes at most ceil(log2 n) + 1 <= 64
 * hashes.
 */
ql_err
ql_merkle_prove_consistency(const struct ql_profile *p,
                            const struct ql_merkle_store *s, uint64_t m,
                            uint64_t n, struct ql_merkle_proof *out,
                            struct ql_diag *d)
{
    struct ql_merkle_proof pr;
    uint64_t lo = 0, hi = n, k;
    bool whole = true;
    ql_err rc;

    if ((rc = check_store(s, false, d)) != QL_OK ||
        (rc = check_size(n, d)) != QL_OK)
        return rc;
    if (m == 0)
        return ql_fail(d, QL_EUSAGE,
                       "no consistency proof from the empty tree: every "
                       "tree extends it");
    if (m > n)
        return ql_fail(d, QL_EUSAGE,
                       "old tree size %" PRIu64
                       " is larger than new tree size %" PRIu64,
                       m, n);
    pr.len = 0;
    while (m != hi) {
        k = split_point(hi - lo);
        if (m - lo <= k) {
            rc = range_hash(p, s, lo + k, hi, pr.hash[pr.len], d);
            hi = lo + k;
        } else {
            rc = range_hash(p, s, lo, lo + k, pr.hash[pr.len], d);
            lo += k;
            whole = false;
        }
        if (rc != QL_OK)
            return rc;
        pr.len++;
    }
    if (!whole) {
        if ((rc = range_hash(p, s, lo, hi, pr.hash[pr.len], d)) != QL_OK)
            return rc;
        pr.len++;
    }
    reverse_proof(&pr);
    out->len = pr.len;
    memcpy(out->hash, pr.hash, pr.len * QL_HASH_LEN);
    return QL_OK;
}

ql_err
ql_merkle_verify_inclusion(const struct ql_profile *p,
                           const uint8_t leaf[QL_HASH_LEN], uint64_t index,
                           uint64_t n, const struct ql_merkle_proof *proof,
                           const uint8_t root[QL_HASH_LEN], struct ql_diag *d)
{
    uint8_t r[QL_HASH_LEN];
    uint64_t fn, sn;
    size_t i;

    if (proof->len > QL_MERKLE_PROOF_MAX)
        return ql_fail(d, QL_EVERIFY,
                       "inclusion proof has %zu hashes, more than %d",
                       proof->len, QL_MERKLE_PROOF_MAX);
    if (n > QL_MERKLE_SIZE_MAX)
        return ql_fail(d, QL_EVERIFY,
                       "tree size %" PRIu64 " exceeds the largest tree "
                       "(2^63 leaves)",
                       n);
    if (index >= n)
        return ql_fail(d, QL_EVERIFY,
                       "leaf index %" PRIu64 " is not below tree size %" PRIu64,
                       index, n);
    /* RFC 9162 section 2.1.3.2, step by step. */
    fn = index;
    sn = n - 1;
    memcpy(r, leaf, QL_HASH_LEN);
    for (i = 0; i < proof->len; i++) {
        if (sn == 0)
            return ql_fail(d, QL_EVERIFY,
                           "inclusion proof for leaf %" PRIu64
                           " of tree size %" PRIu64 " is too long (%zu hashes)",
                           index, n, proof->len);
        if ((fn & 1) || fn == sn) {
            ql_merkle_node_hash(p, r, proof->hash[i], r);
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            ql_merkle_node_hash(p, r, r, proof->hash[i]);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return ql_fail(d, QL_EVERIFY,
                       "inclusion proof for leaf %" PRIu64
                       " of tree size %" PRIu64 " is too short (%zu hashes)",
                       index, n, proof->len);
    if (memcmp(r, root, QL_HASH_LEN) != 0)
        return ql_fail(d, QL_EVERIFY,
                       "inclusion proof for leaf %" PRIu64
                       " of tree size %" PRIu64 " does not lead to the root",
                       index, n);
    return QL_OK;
}

ql_err
ql_merkle_verify_consistency(const struct ql_profile *p, uint64_t m, uint64_t n,
                             const struct ql_merkle_proof *proof,
                             const uint8_t old_root[QL_HASH_LEN],
                             const uint8_t new_root[QL_HASH_LEN],
                             struct ql_diag *d)
{
    uint8_t fr[QL_HASH_LEN], sr[QL_HASH_LEN];
    uint64_t fn, sn;
    size_t i;

    if (proof->len > QL_MERKLE_PROOF_MAX)
        return ql_fail(d, QL_EVERIFY,
                       "consistency proof has %zu hashes, more than %d",
                       proof->len, QL_MERKLE_PROOF_MAX);
    if (n > QL_MERKLE_SIZE_MAX)
        return ql_fail(d, QL_EVERIFY,
                       "tree size %" PRIu64 " exceeds the largest tree "
                       "(2^63 leaves)",
                       n);
    if (m == 0)
        return ql_fail(d, QL_EVERIFY,
                       "no consistency proof from the empty tree: every "
                       "tree extends it");
    if (m > n)
        return ql_fail(d, QL_EVERIFY,
                       "old tree size %" PRIu64
                       " is larger than new tree size %" PRIu64,
                       m, n);
    if (m == n) {
        /* SUBPROOF(m, D[m], true) is empty: only the roots can differ. */
        if (proof->len != 0)
            return ql_fail(d, QL_EVERIFY,
                           "consistency proof between equal sizes %" PRIu64
                           " is not empty",
                           m);
        if (memcmp(old_root, new_root, QL_HASH_LEN) != 0)
            return ql_fail(d, QL_EVERIFY,
                           "two roots of tree size %" PRIu64 " differ", m);
        return QL_OK;
    }
    /* RFC 9162 section 2.1.4.2, step by step. */
    if (proof->len == 0)
        return ql_fail(d, QL_EVERIFY,
                       "consistency proof from size %" PRIu64 " to %" PRIu64
                       " is empty",
                       m, n);
    fn = m - 1;
    sn = n - 1;
    /*
     * An old tree of a power-of-two size is itself a complete subtree of
     * the new one: the proof leaves it out and old_root takes its place.
     */
    if ((m & (m - 1)) == 0) {
        memcpy(fr, old_root, QL_HASH_LEN);
        i = 0;
    } else {
        memcpy(fr, proof->hash[0], QL_HASH_LEN);
        i = 1;
    }
    memcpy(sr, fr, QL_HASH_LEN);
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < proof->len; i++) {
        if (sn == 0)
            return ql_fail(d, QL_EVERIFY,
                           "consistency proof from size %" PRIu64 " to %" PRIu64
                           " is too long (%zu hashes)",
                           m, n, proof->len);
        if ((fn & 1) || fn == sn) {
            ql_merkle_node_hash(p, fr, proof->hash[i], fr);
            ql_merkle_node_hash(p, sr, proof->hash[i], sr);
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            ql_merkle_node_hash(p, sr, sr, proof->hash[i]);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return ql_fail(d, QL_EVERIFY,
                       "consistency proof from size %" PRIu64 " to %" PRIu64
                       " is too short (%zu hashes)",
                       m, n, proof->len);
    if (memcmp(fr, old_root, QL_HASH_LEN) != 0)
        return ql_fail(d, QL_EVERIFY,
                       "consistency proof from size %" PRIu64 " to %" PRIu64
                       " does not lead to the old root",
                       m, n);
    if (memcmp(sr, new_root, QL_HASH_LEN) != 0)
        return ql_fail(d, QL_EVERIFY,
                       "consistency proof from size %" PRIu64 " to %" PRIu64
                       " does not lead to the new root",
                       m, n);
    return QL_OK;
}
