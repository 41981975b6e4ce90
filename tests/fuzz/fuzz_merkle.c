/*
 * Merkle proofs (crypto/ql_merkle.c), the arithmetic behind `qingling
 * audit verify-proof`, checkpoints and the auditor's consistency check.
 *
 * The input is binary. Its first byte picks a mode:
 *   even: raw numbers and hashes (sizes up to 2^64 - 1) for
 *         ql_merkle_verify_inclusion or _consistency;
 *   odd:  a real tree of up to 512 leaves built with ql_merkle_append, a
 *         proof made by ql_merkle_prove_inclusion or _consistency, then
 *         perhaps one mutation of the proof, the index, a size or a hash.
 *
 * Invariant: every verdict equals that of an independent implementation
 * written here from RFC 6962's recursive definitions (PATH and SUBPROOF
 * read backwards), and a proof the library makes for its own tree always
 * verifies.
 */
#include "qlf.h"

#include <string.h>

#include "ql_merkle.h"
#include "ql_profile.h"

#define MK_LEAVES 512
#define MK_LEVELS 10

/* Largest power of two below n (n >= 2). */
static uint64_t
mk_split(uint64_t n)
{
    uint64_t k = 1;

    while (k < n - k)
        k <<= 1;
    return k;
}

/* The root that PATH(index, D[n]) = proof[0..plen) and the leaf give. */
static bool
mk_ref_incl(uint64_t index, uint64_t n, const uint8_t leaf[QL_HASH_LEN],
            const struct ql_merkle_proof *proof, size_t plen,
            uint8_t out[QL_HASH_LEN])
{
    const struct ql_profile *p = ql_profile_default();
    uint8_t sub[QL_HASH_LEN];
    uint64_t k;

    if (n == 1) {
        if (plen != 0)
            return false;
        memcpy(out, leaf, QL_HASH_LEN);
        return true;
    }
    if (plen == 0)
        return false;
    k = mk_split(n);
    if (index < k) {
        if (!mk_ref_incl(index, k, leaf, proof, plen - 1, sub))
            return false;
        ql_merkle_node_hash(p, out, sub, proof->hash[plen - 1]);
    } else {
        if (!mk_ref_incl(index - k, n - k, leaf, proof, plen - 1, sub))
            return false;
        ql_merkle_node_hash(p, out, proof->hash[plen - 1], sub);
    }
    return true;
}

static bool
mk_ref_verify_incl(const uint8_t leaf[QL_HASH_LEN], uint64_t index, uint64_t n,
                   const struct ql_merkle_proof *proof,
                   const uint8_t root[QL_HASH_LEN])
{
    uint8_t got[QL_HASH_LEN];

    if (n == 0 || n > QL_MERKLE_SIZE_MAX || index >= n ||
        proof->len > QL_MERKLE_PROOF_MAX)
        return false;
    return mk_ref_incl(index, n, leaf, proof, proof->len, got) &&
           memcmp(got, root, QL_HASH_LEN) == 0;
}

/*
 * The old and new roots that SUBPROOF(m, D[n], b) = proof[0..plen) gives,
 * where a complete old subtree (b) is the verifier's own old root.
 */
static bool
mk_ref_cons(uint64_t m, uint64_t n, const struct ql_merkle_proof *proof,
            size_t plen, bool b, const uint8_t old_root[QL_HASH_LEN],
            uint8_t o[QL_HASH_LEN], uint8_t nw[QL_HASH_LEN])
{
    const struct ql_profile *p = ql_profile_default();
    uint8_t so[QL_HASH_LEN], sn[QL_HASH_LEN];
    const uint8_t *x;
    uint64_t k;

    if (m == n) {
        if (b) {
            if (plen != 0)
                return false;
            memcpy(o, old_root, QL_HASH_LEN);
        } else {
            if (plen != 1)
                return false;
            memcpy(o, proof->hash[0], QL_HASH_LEN);
        }
        memcpy(nw, o, QL_HASH_LEN);
        return true;
    }
    if (plen == 0)
        return false;
    k = mk_split(n);
    x = proof->hash[plen - 1];
    if (m <= k) {
        if (!mk_ref_cons(m, k, proof, plen - 1, b, old_root, so, sn))
            return false;
        memcpy(o, so, QL_HASH_LEN);
        ql_merkle_node_hash(p, nw, sn, x);
    } else {
        if (!mk_ref_cons(m - k, n - k, proof, plen - 1, false, old_root, so,
                         sn))
            return false;
        ql_merkle_node_hash(p, o, x, so);
        ql_merkle_node_hash(p, nw, x, sn);
    }
    return true;
}

static bool
mk_ref_verify_cons(uint64_t m, uint64_t n, const struct ql_merkle_proof *proof,
                   const uint8_t old_root[QL_HASH_LEN],
                   const uint8_t new_root[QL_HASH_LEN])
{
    uint8_t o[QL_HASH_LEN], nw[QL_HASH_LEN];

    if (m == 0 || m > n || n > QL_MERKLE_SIZE_MAX ||
        proof->len > QL_MERKLE_PROOF_MAX)
        return false;
    if (m == n)
        return proof->len == 0 && memcmp(old_root, new_root, QL_HASH_LEN) == 0;
    return mk_ref_cons(m, n, proof, proof->len, true, old_root, o, nw) &&
           memcmp(o, old_root, QL_HASH_LEN) == 0 &&
           memcmp(nw, new_root, QL_HASH_LEN) == 0;
}

/* ---- a tree in memory ---- */

struct mk_tree {
    uint8_t h[MK_LEVELS][MK_LEAVES][QL_HASH_LEN];
    bool have[MK_LEVELS][MK_LEAVES];
};

static ql_err
mk_get(void *ctx, unsigned level, uint64_t index, uint8_t out[QL_HASH_LEN],
       struct ql_diag *d)
{
    struct mk_tree *t = ctx;

    if (level >= MK_LEVELS || index >= MK_LEAVES || !t->have[level][index])
        return ql_fail(d, QL_ENOTFOUND, "no hash %u/%llu", level,
                       (unsigned long long)index);
    memcpy(out, t->h[level][index], QL_HASH_LEN);
    return QL_OK;
}

static ql_err
mk_put(void *ctx, unsigned level, uint64_t index, const uint8_t h[QL_HASH_LEN],
       struct ql_diag *d)
{
    struct mk_tree *t = ctx;

    QLF_CHECK(level < MK_LEVELS && index < MK_LEAVES);
    /* Stored hashes are written once and never change. */
    QLF_CHECK(!t->have[level][index]);
    (void)d;
    memcpy(t->h[level][index], h, QL_HASH_LEN);
    t->have[level][index] = true;
    return QL_OK;
}

static uint64_t
mk_u64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Mode 0: numbers and hashes as given. */
static void
mk_raw(const uint8_t *data, size_t size)
{
    const struct ql_profile *p = ql_profile_default();
    struct ql_merkle_proof proof;
    uint64_t a, n;
    const uint8_t *h1, *h2;
    bool lib, ref;
    size_t i;

    if (size < 1 + 16 + 64)
        return;
    a = mk_u64(data + 1);
    n = mk_u64(data + 9);
    h1 = data + 17;
    h2 = data + 49;
    proof.len = (size - 81) / QL_HASH_LEN;
    if (proof.len > QL_MERKLE_PROOF_MAX)
        proof.len = QL_MERKLE_PROOF_MAX;
    for (i = 0; i < proof.len; i++)
        memcpy(proof.hash[i], data + 81 + i * QL_HASH_LEN, QL_HASH_LEN);
    if (data[0] & 2) {
        lib = ql_merkle_verify_consistency(p, a, n, &proof, h1, h2, NULL) ==
              QL_OK;
        ref = mk_ref_verify_cons(a, n, &proof, h1, h2);
    } else {
        lib =
            ql_merkle_verify_inclusion(p, h1, a, n, &proof, h2, NULL) == QL_OK;
        ref = mk_ref_verify_incl(h1, a, n, &proof, h2);
    }
    qlf_last = lib ? QL_OK : QL_EVERIFY;
    QLF_CHECK(lib == ref);
}

/* Changes one thing, as the input's byte k says. */
static void
mk_mutate(uint8_t k, uint8_t pos, struct ql_merkle_proof *proof, uint64_t *a,
          uint64_t *n, uint8_t *h1, uint8_t *h2)
{
    switch (k % 9) {
    case 1:
        if (proof->len > 0)
            proof->hash[pos % proof->len][pos / 8 % QL_HASH_LEN] ^=
                (uint8_t)(1u << (pos % 8));
        break;
    case 2:
        *a += 1;
        break;
    case 3:
        *a -= 1;
        break;
    case 4:
        *n += pos % 2 == 0 ? 1 : (uint64_t)-1;
        break;
    case 5:
        if (proof->len > 0)
            proof->len--;
        break;
    case 6:
        if (proof->len < QL_MERKLE_PROOF_MAX) {
            memcpy(proof->hash[proof->len], h1, QL_HASH_LEN);
            proof->len++;
        }
        break;
    case 7:
        if (proof->len > 1) {
            uint8_t tmp[QL_HASH_LEN];

            memcpy(tmp, proof->hash[0], QL_HASH_LEN);
            memcpy(proof->hash[0], proof->hash[proof->len - 1], QL_HASH_LEN);
            memcpy(proof->hash[proof->len - 1], tmp, QL_HASH_LEN);
        }
        break;
    case 8:
        (pos % 2 == 0 ? h1 : h2)[pos / 2 % QL_HASH_LEN] ^= 1;
        break;
    default:
        break;
    }
}

/* Mode 1: a real tree. */
static void
mk_tree(const uint8_t *data, size_t size)
{
    static struct mk_tree t;
    const struct ql_profile *p = ql_profile_default();
    struct ql_merkle_store s = {&t, mk_get, mk_put};
    struct ql_merkle_proof proof;
    uint8_t leaf[QL_HASH_LEN], root[QL_HASH_LEN], old[QL_HASH_LEN];
    uint8_t buf[2 + 64];
    uint64_t n, i, idx, m;
    const uint8_t *rest;
    size_t rlen;
    bool lib, ref, mutated;

    if (size < 9)
        return;
    memset(&t, 0, sizeof t);
    n = ((uint64_t)data[1] << 8 | data[2]) % MK_LEAVES + 1;
    idx = ((uint64_t)data[3] << 8 | data[4]) % n;
    m = ((uint64_t)data[5] << 8 | data[6]) % n + 1;
    rest = data + 9;
    rlen = size - 9 < 64 ? size - 9 : 64;
    memcpy(buf + 2, rest, rlen);
    for (i = 0; i < n; i++) {
        buf[0] = (uint8_t)(i >> 8);
        buf[1] = (uint8_t)i;
        ql_merkle_leaf_hash(p, leaf, buf, 2 + rlen);
        QLF_CHECK(ql_merkle_append(p, &s, i, leaf, NULL) == QL_OK);
    }
    QLF_CHECK(ql_merkle_root(p, &s, n, root, NULL) == QL_OK);
    {
        /* The root from the stored hashes is that of the leaves. */
        uint8_t again[QL_HASH_LEN];

        ql_merkle_root_of_leaves(p, again, &t.h[0][0][0], (size_t)n);
        QLF_CHECK(memcmp(again, root, QL_HASH_LEN) == 0);
    }
    mutated = data[7] % 9 != 0;
    if (data[0] & 2) {
        QLF_CHECK(ql_merkle_root(p, &s, m, old, NULL) == QL_OK);
        QLF_CHECK(ql_merkle_prove_consistency(p, &s, m, n, &proof, NULL) ==
                  QL_OK);
        mk_mutate(data[7], data[8], &proof, &m, &n, old, root);
        lib = ql_merkle_verify_consistency(p, m, n, &proof, old, root, NULL) ==
              QL_OK;
        ref = mk_ref_verify_cons(m, n, &proof, old, root);
    } else {
        memcpy(leaf, t.h[0][idx], QL_HASH_LEN);
        QLF_CHECK(ql_merkle_prove_inclusion(p, &s, idx, n, &proof, NULL) ==
                  QL_OK);
        mk_mutate(data[7], data[8], &proof, &idx, &n, leaf, root);
        lib = ql_merkle_verify_inclusion(p, leaf, idx, n, &proof, root, NULL) ==
              QL_OK;
        ref = mk_ref_verify_incl(leaf, idx, n, &proof, root);
    }
    qlf_last = lib ? QL_OK : QL_EVERIFY;
    QLF_CHECK(lib == ref);
    if (!mutated)
        QLF_CHECK(lib);
}

int
qlf_merkle(const uint8_t *data, size_t size)
{
    qlf_setup();
    qlf_last = QL_EFORMAT;
    if (size == 0)
        return 0;
    if (data[0] & 1)
        mk_tree(data, size);
    else
        mk_raw(data, size);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_merkle(data, size);
}
#endif
