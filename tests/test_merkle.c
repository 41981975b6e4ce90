#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ql_test.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_merkle.h"

#define HL QL_HASH_LEN
#define LEAF(leaves, i) ((leaves) + (size_t)(i)*HL)

/* The profile every test uses; set once by the group setup. */
static const struct ql_profile *prof;

/* ------------------------------------------------------------------ */
/* An in-memory store that checks how the module uses it. */

/*
 * Level l holds count[l] hashes, indexes 0 .. count[l] - 1. A put must be
 * the next index of its level and a subtree that the leaf being appended
 * completes; anything else fails the test, which is how the tests check
 * that only complete subtrees are stored and none is ever rewritten. A get
 * of a hash not stored answers QL_ENOTFOUND. Calls are counted, and the
 * Nth get or put can be made to fail.
 */
struct mem_store {
    struct ql_merkle_store st;
    uint8_t *level[64];
    uint64_t count[64];
    uint64_t cap[64];
    uint64_t size;
    unsigned long gets, puts;
    unsigned long fail_get_at, fail_put_at;
};

static ql_err
mem_get(void *ctx, unsigned level, uint64_t index, uint8_t out[HL],
        struct ql_diag *d)
{
    struct mem_store *m = ctx;

    m->gets++;
    if (m->fail_get_at != 0 && m->gets == m->fail_get_at)
        return ql_fail(d, QL_ESTORE, "injected get failure %lu", m->gets);
    if (level >= 64 || index >= m->count[level])
        return ql_fail(d, QL_ENOTFOUND, "no stored hash (%u, %" PRIu64 ")",
                       level, index);
    memcpy(out, m->level[level] + index * HL, HL);
    return QL_OK;
}

static ql_err
mem_put(void *ctx, unsigned level, uint64_t index, const uint8_t h[HL],
        struct ql_diag *d)
{
    struct mem_store *m = ctx;

    m->puts++;
    if (m->fail_put_at != 0 && m->puts == m->fail_put_at)
        return ql_fail(d, QL_EFULL, "injected put failure %lu", m->puts);
    if (level >= 64)
        fail_msg("put at level %u", level);
    if (index != m->count[level])
        fail_msg("put (%u, %" PRIu64 ") out of order or rewritten: level "
                 "holds %" PRIu64,
                 level, index, m->count[level]);
    if (((index + 1) << level) > m->size + 1)
        fail_msg("put (%u, %" PRIu64 ") of an incomplete subtree at size "
                 "%" PRIu64,
                 level, index, m->size + 1);
    if (m->count[level] == m->cap[level]) {
        m->cap[level] = m->cap[level] ? 2 * m->cap[level] : 16;
        m->level[level] = realloc(m->level[level], m->cap[level] * HL);
        if (m->level[level] == NULL)
            fail_msg("out of memory");
    }
    memcpy(m->level[level] + index * HL, h, HL);
    m->count[level]++;
    return QL_OK;
}

static void
mem_init(struct mem_store *m)
{
    memset(m, 0, sizeof *m);
    m->st.ctx = m;
    m->st.get = mem_get;
    m->st.put = mem_put;
}

static void
mem_release(struct mem_store *m)
{
    unsigned l;

    for (l = 0; l < 64; l++)
        free(m->level[l]);
}

static unsigned
trailing_ones(uint64_t n)
{
    unsigned t = 0;

    while (n & 1) {
        n >>= 1;
        t++;
    }
    return t;
}

static unsigned
popcount(uint64_t n)
{
    unsigned c = 0;

    for (; n != 0; n &= n - 1)
        c++;
    return c;
}

/* ceil(log2 n) for n >= 1. */
static unsigned
ceil_log2(uint64_t n)
{
    unsigned l = 0;

    while (l < 64 && ((uint64_t)1 << l) < n)
        l++;
    return l;
}

/* Appends one leaf hash, checking the call counts the header promises. */
static void
mem_append(struct mem_store *m, const uint8_t leaf[HL])
{
    struct ql_diag d = {0};
    unsigned long gets = m->gets, puts = m->puts;
    unsigned t = trailing_ones(m->size);

    if (ql_merkle_append(prof, &m->st, m->size, leaf, &d) != QL_OK)
        fail_msg("append at %" PRIu64 ": %s", m->size, d.msg);
    assert_int_equal(m->gets - gets, t);
    assert_int_equal(m->puts - puts, t + 1);
    m->size++;
}

/* ------------------------------------------------------------------ */
/* The RFC's definitions, written as plainly as possible. */

static uint64_t
naive_split(uint64_t size)
{
    uint64_t k = 1;

    while (2 * k < size)
        k *= 2;
    return k;
}

/* MTH(D[lo:hi]) by the recursive definition of RFC 9162 section 2.1.1. */
static void
naive_mth(const uint8_t *leaves, uint64_t lo, uint64_t hi, uint8_t out[HL])
{
    uint8_t l[HL], r[HL];
    uint64_t k;

    if (hi == lo) {
        ql_merkle_empty_root(prof, out);
        return;
    }
    if (hi - lo == 1) {
        memcpy(out, LEAF(leaves, lo), HL);
        return;
    }
    k = naive_split(hi - lo);
    naive_mth(leaves, lo, lo + k, l);
    naive_mth(leaves, lo + k, hi, r);
    ql_merkle_node_hash(prof, out, l, r);
}

/*
 * A proof by the RFC's recursive definitions, plus its shape: one letter per
 * step the verifier takes. 'L' and 'R' are a proof hash joined on the left
 * or the right; for consistency proofs 'S' starts from a proof hash and 'P'
 * from the old root itself. With leaves NULL only the shape is computed. Two
 * (index, size) or (m, n) pairs with the same shape make the verifier do the
 * same hashing, so a proof checked under the other pair must pass exactly
 * when the shapes agree.
 */
struct naive_proof {
    struct ql_merkle_proof pr;
    char shape[72];
    size_t slen;
};

static void
np_add(struct naive_proof *np, const uint8_t *leaves, uint64_t lo, uint64_t hi,
       char step)
{
    np->shape[np->slen++] = step;
    np->shape[np->slen] = '\0';
    if (step == 'P')
        return;
    if (leaves != NULL)
        naive_mth(leaves, lo, hi, np->pr.hash[np->pr.len]);
    np->pr.len++;
}

/* PATH(m, D[lo:hi]) of RFC 9162 section 2.1.3.1. */
static void
naive_path(const uint8_t *leaves, uint64_t m, uint64_t lo, uint64_t hi,
           struct naive_proof *np)
{
    uint64_t k;

    if (hi - lo <= 1)
        return;
    k = naive_split(hi - lo);
    if (m < k) {
        naive_path(leaves, m, lo, lo + k, np);
        np_add(np, leaves, lo + k, hi, 'R');
    } else {
        naive_path(leaves, m - k, lo + k, hi, np);
        np_add(np, leaves, lo, lo + k, 'L');
    }
}

/* SUBPROOF(m, D[lo:hi], b) of RFC 9162 section 2.1.4.1. */
static void
naive_subproof(const uint8_t *leaves, uint64_t m, uint64_t lo, uint64_t hi,
               bool b, struct naive_proof *np)
{
    uint64_t k;

    if (m == hi - lo) {
        np_add(np, leaves, lo, hi, b ? 'P' : 'S');
        return;
    }
    k = naive_split(hi - lo);
    if (m <= k) {
        naive_subproof(leaves, m, lo, lo + k, b, np);
        np_add(np, leaves, lo + k, hi, 'R');
    } else {
        naive_subproof(leaves, m - k, lo + k, hi, false, np);
        np_add(np, leaves, lo, lo + k, 'L');
    }
}

static void
naive_inclusion(const uint8_t *leaves, uint64_t index, uint64_t n,
                struct naive_proof *np)
{
    memset(np, 0, sizeof *np);
    naive_path(leaves, index, 0, n, np);
}

static void
naive_consistency(const uint8_t *leaves, uint64_t m, uint64_t n,
                  struct naive_proof *np)
{
    memset(np, 0, sizeof *np);
    naive_subproof(leaves, m, 0, n, true, np);
}

static bool
proof_equal(const struct ql_merkle_proof *a, const struct ql_merkle_proof *b)
{
    size_t i;

    if (a->len != b->len)
        return false;
    for (i = 0; i < a->len; i++)
        if (memcmp(a->hash[i], b->hash[i], HL) != 0)
            return false;
    return true;
}

static void
rand_hash(uint64_t *rs, uint8_t out[HL])
{
    size_t i;
    uint64_t x;

    for (i = 0; i < HL; i += 8) {
        x = qlt_rand(rs);
        memcpy(out + i, &x, 8);
    }
}

static void
flip_bit(uint64_t *rs, uint8_t h[HL])
{
    unsigned bit = (unsigned)(qlt_rand(rs) % (HL * 8));

    h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* ------------------------------------------------------------------ */
/* A tree under test: its leaves, a store built by appending, its roots. */

struct tree {
    struct mem_store ms;
    uint8_t *leaves;
    uint8_t *roots;  /* roots[k] for k = 0 .. n, read from the store */
    bool *have_root; /* roots are read when first needed */
    uint64_t n;
};

static void
tree_build(struct tree *t, uint64_t n, uint64_t *rs)
{
    uint64_t i;
    unsigned l;

    mem_init(&t->ms);
    t->n = n;
    t->leaves = malloc((size_t)(n ? n : 1) * HL);
    t->roots = malloc((size_t)(n + 1) * HL);
    t->have_root = calloc((size_t)(n + 1), sizeof *t->have_root);
    if (t->leaves == NULL || t->roots == NULL || t->have_root == NULL)
        fail_msg("out of memory");
    for (i = 0; i < n; i++) {
        rand_hash(rs, LEAF(t->leaves, i));
        mem_append(&t->ms, LEAF(t->leaves, i));
    }
    /* Exactly the complete subtrees are stored. */
    for (l = 0; l < 64; l++)
        assert_int_equal(t->ms.count[l], n >> l);
}

static void
tree_free(struct tree *t)
{
    mem_release(&t->ms);
    free(t->leaves);
    free(t->roots);
    free(t->have_root);
}

/* The root of size k from the store, which reads popcount(k) hashes. */
static const uint8_t *
tree_root(struct tree *t, uint64_t k)
{
    struct ql_diag d = {0};
    unsigned long gets = t->ms.gets;

    if (!t->have_root[k]) {
        if (ql_merkle_root(prof, &t->ms.st, k, t->roots + k * HL, &d) != QL_OK)
            fail_msg("root of %" PRIu64 ": %s", k, d.msg);
        assert_int_equal(t->ms.gets - gets, popcount(k));
        t->have_root[k] = true;
    }
    return t->roots + k * HL;
}

/* Checks the store's root of size k against the definition. */
static void
check_root(struct tree *t, uint64_t k)
{
    uint8_t want[HL], got[HL];

    naive_mth(t->leaves, 0, k, want);
    assert_memory_equal(tree_root(t, k), want, HL);
    ql_merkle_root_of_leaves(prof, got, t->leaves, (size_t)k);
    assert_memory_equal(got, want, HL);
}

static void
prove_incl(struct tree *t, uint64_t index, uint64_t n,
           struct ql_merkle_proof *pr)
{
    struct ql_diag d = {0};
    unsigned long gets = t->ms.gets;

    if (ql_merkle_prove_inclusion(prof, &t->ms.st, index, n, pr, &d) != QL_OK)
        fail_msg("prove inclusion %" PRIu64 " %" PRIu64 ": %s", index, n,
                 d.msg);
    assert_true(t->ms.gets - gets <= 2 * ceil_log2(n));
    assert_true(pr->len <= ceil_log2(n));
}

static void
prove_cons(struct tree *t, uint64_t m, uint64_t n, struct ql_merkle_proof *pr)
{
    struct ql_diag d = {0};
    unsigned long gets = t->ms.gets;

    if (ql_merkle_prove_consistency(prof, &t->ms.st, m, n, pr, &d) != QL_OK)
        fail_msg("prove consistency %" PRIu64 " %" PRIu64 ": %s", m, n, d.msg);
    assert_true(t->ms.gets - gets <= 2 * ceil_log2(n) + 1);
    assert_true(pr->len <= ceil_log2(n) + 1);
}

static ql_err
vincl(const uint8_t leaf[HL], uint64_t index, uint64_t n,
      const struct ql_merkle_proof *pr, const uint8_t root[HL])
{
    struct ql_diag d = {0};
    ql_err rc = ql_merkle_verify_inclusion(prof, leaf, index, n, pr, root, &d);

    if (rc != QL_OK) {
        assert_int_equal(rc, QL_EVERIFY);
        assert_int_equal(d.code, QL_EVERIFY);
        assert_true(d.msg[0] != '\0');
    }
    return rc;
}

static ql_err
vcons(uint64_t m, uint64_t n, const struct ql_merkle_proof *pr,
      const uint8_t old_root[HL], const uint8_t new_root[HL])
{
    struct ql_diag d = {0};
    ql_err rc =
        ql_merkle_verify_consistency(prof, m, n, pr, old_root, new_root, &d);

    if (rc != QL_OK) {
        assert_int_equal(rc, QL_EVERIFY);
        assert_int_equal(d.code, QL_EVERIFY);
        assert_true(d.msg[0] != '\0');
    }
    return rc;
}

/*
 * Generates the inclusion proof of (index, n), checks it against the
 * definition (when naive) and the verifier, then checks that every
 * corruption of it fails.
 */
static void
check_inclusion(struct tree *t, uint64_t index, uint64_t n, bool naive,
                uint64_t *rs)
{
    struct ql_merkle_proof pr, bad, other;
    struct naive_proof np, np2;
    const uint8_t *leaf = LEAF(t->leaves, index);
    const uint8_t *root = tree_root(t, n);
    uint8_t h[HL];
    uint64_t cand[6], w;
    size_t i, j;

    prove_incl(t, index, n, &pr);
    naive_inclusion(naive ? t->leaves : NULL, index, n, &np);
    assert_int_equal(pr.len, np.pr.len);
    if (naive)
        assert_true(proof_equal(&pr, &np.pr));
    assert_int_equal(vincl(leaf, index, n, &pr, root), QL_OK);

    /* One bit flipped in each hash, in the leaf, in the root. */
    for (i = 0; i < pr.len; i++) {
        bad = pr;
        flip_bit(rs, bad.hash[i]);
        assert_int_equal(vincl(leaf, index, n, &bad, root), QL_EVERIFY);
    }
    memcpy(h, leaf, HL);
    flip_bit(rs, h);
    assert_int_equal(vincl(h, index, n, &pr, root), QL_EVERIFY);
    memcpy(h, root, HL);
    flip_bit(rs, h);
    assert_int_equal(vincl(leaf, index, n, &pr, h), QL_EVERIFY);

    /* Truncated at either end, extended by a random hash or the root. */
    if (pr.len > 0) {
        bad = pr;
        bad.len--;
        assert_int_equal(vincl(leaf, index, n, &bad, root), QL_EVERIFY);
        bad = pr;
        memmove(bad.hash[0], bad.hash[1], (bad.len - 1) * HL);
        bad.len--;
        assert_int_equal(vincl(leaf, index, n, &bad, root), QL_EVERIFY);
    }
    bad = pr;
    rand_hash(rs, bad.hash[bad.len++]);
    assert_int_equal(vincl(leaf, index, n, &bad, root), QL_EVERIFY);
    bad = pr;
    memcpy(bad.hash[bad.len++], root, HL);
    assert_int_equal(vincl(leaf, index, n, &bad, root), QL_EVERIFY);

    /* Another index: no other leaf position shares this path. */
    cand[0] = index + 1;
    cand[1] = index - 1;
    cand[2] = index ^ 1;
    cand[3] = qlt_rand(rs) % n;
    cand[4] = n;
    cand[5] = UINT64_MAX;
    for (j = 0; j < 6; j++) {
        w = cand[j];
        if (w == index)
            continue;
        assert_int_equal(vincl(leaf, w, n, &pr, root), QL_EVERIFY);
        if (w < n)
            assert_int_equal(vincl(LEAF(t->leaves, w), w, n, &pr, root),
                             QL_EVERIFY);
    }

    /* Another size, with this root and with that size's own root. */
    cand[0] = n + 1;
    cand[1] = n - 1;
    cand[2] = 1 + qlt_rand(rs) % t->n;
    cand[3] = 2 * n;
    cand[4] = index;
    cand[5] = 0;
    for (j = 0; j < 6; j++) {
        w = cand[j];
        if (w == n || w > t->n)
            continue;
        if (w <= index) {
            assert_int_equal(vincl(leaf, index, w, &pr, root), QL_EVERIFY);
            continue;
        }
        naive_inclusion(NULL, index, w, &np2);
        assert_int_equal(vincl(leaf, index, w, &pr, root),
                         strcmp(np2.shape, np.shape) == 0 ? QL_OK : QL_EVERIFY);
        prove_incl(t, index, w, &other);
        assert_int_equal(vincl(leaf, index, w, &pr, tree_root(t, w)),
                         proof_equal(&pr, &other) ? QL_OK : QL_EVERIFY);
        /* The right size with another size's root. */
        assert_int_equal(vincl(leaf, index, n, &pr, tree_root(t, w)),
                         QL_EVERIFY);
    }
}

static void
check_consistency(struct tree *t, uint64_t m, uint64_t n, bool naive,
                  uint64_t *rs)
{
    struct ql_merkle_proof pr, bad, other;
    struct naive_proof np, np2;
    const uint8_t *ro = tree_root(t, m), *rn = tree_root(t, n);
    uint8_t h[HL];
    uint64_t cm[4], cn[4], wm, wn;
    size_t i, a, b;

    prove_cons(t, m, n, &pr);
    naive_consistency(naive ? t->leaves : NULL, m, n, &np);
    assert_int_equal(pr.len, np.pr.len);
    if (naive)
        assert_true(proof_equal(&pr, &np.pr));
    assert_int_equal(vcons(m, n, &pr, ro, rn), QL_OK);

    for (i = 0; i < pr.len; i++) {
        bad = pr;
        flip_bit(rs, bad.hash[i]);
        assert_int_equal(vcons(m, n, &bad, ro, rn), QL_EVERIFY);
    }
    memcpy(h, ro, HL);
    flip_bit(rs, h);
    assert_int_equal(vcons(m, n, &pr, h, rn), QL_EVERIFY);
    memcpy(h, rn, HL);
    flip_bit(rs, h);
    assert_int_equal(vcons(m, n, &pr, ro, h), QL_EVERIFY);
    if (m < n)
        assert_int_equal(vcons(m, n, &pr, rn, ro), QL_EVERIFY);

    if (pr.len > 0) {
        bad = pr;
        bad.len--;
        assert_int_equal(vcons(m, n, &bad, ro, rn), QL_EVERIFY);
        bad = pr;
        memmove(bad.hash[0], bad.hash[1], (bad.len - 1) * HL);
        bad.len--;
        assert_int_equal(vcons(m, n, &bad, ro, rn), QL_EVERIFY);
    }
    bad = pr;
    rand_hash(rs, bad.hash[bad.len++]);
    assert_int_equal(vcons(m, n, &bad, ro, rn), QL_EVERIFY);
    bad = pr;
    memcpy(bad.hash[bad.len++], ro, HL);
    assert_int_equal(vcons(m, n, &bad, ro, rn), QL_EVERIFY);

    /* Other sizes: shapes decide with these roots, bytes with theirs. */
    cm[0] = m + 1;
    cm[1] = m - 1;
    cm[2] = 1 + qlt_rand(rs) % t->n;
    cm[3] = m;
    cn[0] = n + 1;
    cn[1] = n - 1;
    cn[2] = 1 + qlt_rand(rs) % t->n;
    cn[3] = n;
    for (a = 0; a < 4; a++) {
        for (b = 0; b < 4; b++) {
            wm = cm[a];
            wn = cn[b];
            if ((wm == m && wn == n) || wn > t->n || wm > t->n + 1)
                continue;
            if (wm == 0 || wm > wn) {
                assert_int_equal(vcons(wm, wn, &pr, ro, rn), QL_EVERIFY);
                continue;
            }
            naive_consistency(NULL, wm, wn, &np2);
            assert_int_equal(vcons(wm, wn, &pr, ro, rn),
                             strcmp(np2.shape, np.shape) == 0 ? QL_OK
                                                              : QL_EVERIFY);
            prove_cons(t, wm, wn, &other);
            assert_int_equal(
                vcons(wm, wn, &pr, tree_root(t, wm), tree_root(t, wn)),
                proof_equal(&pr, &other) ? QL_OK : QL_EVERIFY);
        }
    }
}

/* ------------------------------------------------------------------ */
/* The RFC 6962 vectors. */

#define VEC_MAX 128

struct vec_proof {
    uint64_t a, b;
    struct ql_merkle_proof pr;
};

struct vectors {
    uint8_t data[8][64];
    size_t data_len[8];
    uint8_t roots[9][HL];
    bool have_root[9];
    struct vec_proof incl[VEC_MAX], cons[VEC_MAX];
    size_t n_incl, n_cons;
};

static uint64_t
parse_u64(const char *s)
{
    char *end;
    unsigned long long v;

    if (s == NULL)
        fail_msg("missing number in vectors");
    v = strtoull(s, &end, 10);
    if (*end != '\0' || end == s)
        fail_msg("bad number '%s' in vectors", s);
    return (uint64_t)v;
}

static void
parse_hash(const char *s, uint8_t out[HL])
{
    if (strlen(s) != 2 * HL || qlt_unhex(s, out, HL) != HL)
        fail_msg("bad hash '%s' in vectors", s);
}

static void
parse_proof(char **save, struct vec_proof *vp)
{
    char *tok;

    vp->a = parse_u64(strtok_r(NULL, " ", save));
    vp->b = parse_u64(strtok_r(NULL, " ", save));
    vp->pr.len = 0;
    while ((tok = strtok_r(NULL, " ", save)) != NULL) {
        if (vp->pr.len == QL_MERKLE_PROOF_MAX)
            fail_msg("proof too long in vectors");
        parse_hash(tok, vp->pr.hash[vp->pr.len++]);
    }
}

static void
load_vectors(struct vectors *v)
{
    char *path = qlt_data_path("rfc6962-8.txt");
    char *text = qlt_read_file(path, NULL);
    char *line, *save_line, *save, *kind, *tok;
    uint64_t i;

    memset(v, 0, sizeof *v);
    for (line = strtok_r(text, "\n", &save_line); line != NULL;
         line = strtok_r(NULL, "\n", &save_line)) {
        if (line[0] == '#')
            continue;
        kind = strtok_r(line, " ", &save);
        if (kind == NULL)
            continue;
        if (strcmp(kind, "leaf") == 0) {
            i = parse_u64(strtok_r(NULL, " ", &save));
            tok = strtok_r(NULL, " ", &save);
            if (i >= 8 || tok == NULL)
                fail_msg("bad leaf line");
            if (strcmp(tok, "<empty>") != 0)
                v->data_len[i] = qlt_unhex(tok, v->data[i], 64);
        } else if (strcmp(kind, "root") == 0) {
            i = parse_u64(strtok_r(NULL, " ", &save));
            if (i > 8)
                fail_msg("bad root line");
            parse_hash(strtok_r(NULL, " ", &save), v->roots[i]);
            v->have_root[i] = true;
        } else if (strcmp(kind, "inclusion") == 0) {
            if (v->n_incl == VEC_MAX)
                fail_msg("too many inclusion vectors");
            parse_proof(&save, &v->incl[v->n_incl++]);
        } else if (strcmp(kind, "consistency") == 0) {
            if (v->n_cons == VEC_MAX)
                fail_msg("too many consistency vectors");
            parse_proof(&save, &v->cons[v->n_cons++]);
        } else {
            fail_msg("unknown line kind '%s' in vectors", kind);
        }
    }
    for (i = 0; i <= 8; i++)
        assert_true(v->have_root[i]);
    free(text);
    free(path);
}

/* Builds a store of the 8 vector leaves; the leaf hashes go to leaves. */
static void
vector_store(const struct vectors *v, struct mem_store *m,
             uint8_t leaves[8][HL])
{
    size_t i;

    mem_init(m);
    for (i = 0; i < 8; i++) {
        ql_merkle_leaf_hash(prof, leaves[i], v->data[i], v->data_len[i]);
        mem_append(m, leaves[i]);
    }
}

static void
test_vectors_roots(void **state)
{
    static struct vectors v;
    struct mem_store m;
    uint8_t leaves[8][HL], h[HL];
    struct ql_diag d = {0};
    uint64_t n;

    (void)state;
    load_vectors(&v);
    vector_store(&v, &m, leaves);
    for (n = 0; n <= 8; n++) {
        print_message("root of size %" PRIu64 "\n", n);
        ql_merkle_root_of_leaves(prof, h, n ? &leaves[0][0] : NULL, (size_t)n);
        assert_memory_equal(h, v.roots[n], HL);
        assert_int_equal(ql_merkle_root(prof, &m.st, n, h, &d), QL_OK);
        assert_memory_equal(h, v.roots[n], HL);
    }
    mem_release(&m);
}

static void
test_vectors_inclusion(void **state)
{
    static struct vectors v;
    struct mem_store m;
    struct ql_merkle_proof pr;
    uint8_t leaves[8][HL];
    struct ql_diag d = {0};
    const struct vec_proof *vp;
    size_t i;

    (void)state;
    load_vectors(&v);
    vector_store(&v, &m, leaves);
    /* Every (index, size) with 0 <= index < size <= 8. */
    assert_int_equal(v.n_incl, 36);
    for (i = 0; i < v.n_incl; i++) {
        vp = &v.incl[i];
        print_message("inclusion %" PRIu64 " %" PRIu64 "\n", vp->a, vp->b);
        assert_int_equal(
            ql_merkle_prove_inclusion(prof, &m.st, vp->a, vp->b, &pr, &d),
            QL_OK);
        assert_true(proof_equal(&pr, &vp->pr));
        assert_int_equal(ql_merkle_verify_inclusion(prof, leaves[vp->a], vp->a,
                                                    vp->b, &vp->pr,
                                                    v.roots[vp->b], &d),
                         QL_OK);
    }
    mem_release(&m);
}

static void
test_vectors_consistency(void **state)
{
    static struct vectors v;
    struct mem_store m;
    struct ql_merkle_proof pr;
    uint8_t leaves[8][HL];
    struct ql_diag d = {0};
    const struct vec_proof *vp;
    size_t i;

    (void)state;
    load_vectors(&v);
    vector_store(&v, &m, leaves);
    /* Every (m, n) with 1 <= m < n <= 8. */
    assert_int_equal(v.n_cons, 28);
    for (i = 0; i < v.n_cons; i++) {
        vp = &v.cons[i];
        print_message("consistency %" PRIu64 " %" PRIu64 "\n", vp->a, vp->b);
        assert_int_equal(
            ql_merkle_prove_consistency(prof, &m.st, vp->a, vp->b, &pr, &d),
            QL_OK);
        assert_true(proof_equal(&pr, &vp->pr));
        assert_int_equal(ql_merkle_verify_consistency(prof, vp->a, vp->b,
                                                      &vp->pr, v.roots[vp->a],
                                                      v.roots[vp->b], &d),
                         QL_OK);
    }
    mem_release(&m);
}

static void
test_hash_primitives(void **state)
{
    static struct vectors v;
    uint8_t l0[HL], l1[HL], h[HL], a[HL], buf[1 + 2 * HL];

    (void)state;
    load_vectors(&v);
    ql_merkle_empty_root(prof, h);
    assert_memory_equal(h, v.roots[0], HL);
    /* The root of one leaf is its leaf hash, here H(0x00). */
    ql_merkle_leaf_hash(prof, l0, NULL, 0);
    assert_memory_equal(l0, v.roots[1], HL);
    ql_merkle_leaf_hash(prof, l1, v.data[1], v.data_len[1]);
    ql_merkle_node_hash(prof, h, l0, l1);
    assert_memory_equal(h, v.roots[2], HL);
    /* The same hashes spelled out as one buffer each. */
    buf[0] = 0x00;
    memcpy(buf + 1, v.data[7], v.data_len[7]);
    ql_hash(prof, a, buf, 1 + v.data_len[7]);
    ql_merkle_leaf_hash(prof, h, v.data[7], v.data_len[7]);
    assert_memory_equal(h, a, HL);
    buf[0] = 0x01;
    memcpy(buf + 1, l0, HL);
    memcpy(buf + 1 + HL, l1, HL);
    ql_hash(prof, a, buf, sizeof buf);
    assert_memory_equal(a, v.roots[2], HL);
    /* Fed piece by piece, in pieces of every size, the hash is the same;
       an unfinished stream is dropped. */
    {
        struct ql_hash_stream *hs = NULL;
        struct ql_diag d;
        size_t step, at;

        for (step = 1; step <= sizeof buf; step++) {
            assert_int_equal(ql_hash_stream_new(prof, &hs, &d), QL_OK);
            ql_hash_stream_add(hs, buf, 0);
            for (at = 0; at < sizeof buf; at += step)
                ql_hash_stream_add(hs, buf + at, at + step <= sizeof buf
                                                     ? step
                                                     : sizeof buf - at);
            ql_hash_stream_end(hs, h);
            assert_memory_equal(h, v.roots[2], HL);
        }
        assert_int_equal(ql_hash_stream_new(prof, &hs, &d), QL_OK);
        ql_hash_stream_add(hs, buf, 3);
        ql_hash_stream_free(hs);
        ql_hash_stream_free(NULL);
    }
    /* Leaf and node hashes are separated: H(0x00 || l0 || l1) differs. */
    ql_merkle_leaf_hash(prof, a, buf + 1, 2 * HL);
    assert_memory_not_equal(a, v.roots[2], HL);
    /* The node hash may write over either input. */
    memcpy(a, l0, HL);
    ql_merkle_node_hash(prof, a, a, l1);
    assert_memory_equal(a, v.roots[2], HL);
    memcpy(a, l1, HL);
    ql_merkle_node_hash(prof, a, l0, a);
    assert_memory_equal(a, v.roots[2], HL);
}

/* ------------------------------------------------------------------ */
/* Property tests. */

/* Every proof of every pair of sizes up to 40, against the definitions. */
static void
test_exhaustive_small(void **state)
{
    struct tree t;
    uint64_t rs = 0x5eed0001, n, i;

    (void)state;
    tree_build(&t, 40, &rs);
    for (n = 0; n <= 40; n++)
        check_root(&t, n);
    for (n = 1; n <= 40; n++) {
        for (i = 0; i < n; i++) {
            check_inclusion(&t, i, n, true, &rs);
            check_consistency(&t, i + 1, n, true, &rs);
        }
    }
    tree_free(&t);
}

static void
random_trees(uint64_t seed, int trees, uint64_t min, uint64_t max, int proofs,
             int naive_every)
{
    struct tree t;
    uint64_t rs = seed, n, a, b, k;
    int i, j;

    for (i = 0; i < trees; i++) {
        n = min + qlt_rand(&rs) % (max - min + 1);
        tree_build(&t, n, &rs);
        check_root(&t, n);
        check_root(&t, qlt_rand(&rs) % (n + 1));
        for (j = 0; j < proofs; j++) {
            b = 1 + qlt_rand(&rs) % n;
            a = qlt_rand(&rs) % b;
            check_inclusion(&t, a, b, j % naive_every == 0, &rs);
            a = 1 + qlt_rand(&rs) % b;
            check_consistency(&t, a, b, j % naive_every == 0, &rs);
        }
        /* The edges: first and last leaf, sizes next to powers of two. */
        k = naive_split(n + 1);
        check_inclusion(&t, n - 1, n, false, &rs);
        check_inclusion(&t, 0, n, false, &rs);
        check_consistency(&t, k < n ? k : n, n, false, &rs);
        check_consistency(&t, n, n, false, &rs);
        tree_free(&t);
    }
}

static void
test_random_trees(void **state)
{
    (void)state;
    random_trees(0xC0FFEE, 2000, 1, 256, 2, 2);
}

static void
test_random_large_trees(void **state)
{
    (void)state;
    random_trees(0xBADC0DE, 6, 1000, 5000, 20, 4);
}

/* ------------------------------------------------------------------ */
/*
 * A sparse tree of up to 2^63 leaves: every leaf hash is U except a few
 * "special" leaves, so the hash of a subtree without a special leaf is a
 * per-level constant and any stored hash takes O(63 * specials) work. This
 * reaches the sizes and proof lengths at the module's limits.
 */

#define SPECIALS 8

struct sparse {
    struct ql_merkle_store st;
    uint64_t size;
    uint64_t special[SPECIALS];
    uint8_t special_leaf[SPECIALS][HL];
    size_t n_special;
    uint8_t uniform[64][HL];
    unsigned long gets, puts;
    uint64_t appending; /* the size during an append, else 0 */
};

static bool
sparse_has(const struct sparse *s, unsigned level, uint64_t index)
{
    size_t i;

    for (i = 0; i < s->n_special; i++)
        if ((s->special[i] >> level) == index)
            return true;
    return false;
}

static void
sparse_subtree(const struct sparse *s, unsigned level, uint64_t index,
               uint8_t out[HL])
{
    uint8_t l[HL], r[HL];
    size_t i;

    if (!sparse_has(s, level, index)) {
        memcpy(out, s->uniform[level], HL);
        return;
    }
    if (level == 0) {
        for (i = 0; i < s->n_special; i++)
            if (s->special[i] == index)
                memcpy(out, s->special_leaf[i], HL);
        return;
    }
    sparse_subtree(s, level - 1, 2 * index, l);
    sparse_subtree(s, level - 1, 2 * index + 1, r);
    ql_merkle_node_hash(prof, out, l, r);
}

/* MTH(D[lo:hi]) by the definition, using the cheap complete subtrees. */
static void
sparse_mth(const struct sparse *s, uint64_t lo, uint64_t hi, uint8_t out[HL])
{
    uint8_t l[HL], r[HL];
    uint64_t size = hi - lo, k;
    unsigned level;

    if (size == 0) {
        ql_merkle_empty_root(prof, out);
        return;
    }
    if ((size & (size - 1)) == 0 && lo % size == 0) {
        level = ceil_log2(size);
        sparse_subtree(s, level, lo >> level, out);
        return;
    }
    k = naive_split(size);
    sparse_mth(s, lo, lo + k, l);
    sparse_mth(s, lo + k, hi, r);
    ql_merkle_node_hash(prof, out, l, r);
}

static ql_err
sparse_get(void *ctx, unsigned level, uint64_t index, uint8_t out[HL],
           struct ql_diag *d)
{
    struct sparse *s = ctx;

    (void)d;
    s->gets++;
    if (level >= 64 || index >= (s->size >> level))
        fail_msg("get of (%u, %" PRIu64 ") beyond size %" PRIu64, level, index,
                 s->size);
    sparse_subtree(s, level, index, out);
    return QL_OK;
}

static ql_err
sparse_put(void *ctx, unsigned level, uint64_t index, const uint8_t h[HL],
           struct ql_diag *d)
{
    struct sparse *s = ctx;
    uint8_t want[HL];

    (void)d;
    s->puts++;
    if (level >= 64 || index >= ((s->appending + 1) >> level))
        fail_msg("put of (%u, %" PRIu64 ") beyond size %" PRIu64, level, index,
                 s->appending + 1);
    sparse_subtree(s, level, index, want);
    assert_memory_equal(h, want, HL);
    return QL_OK;
}

static void
sparse_init(struct sparse *s, uint64_t size, const uint64_t *special,
            size_t n_special)
{
    unsigned l;
    size_t i;

    memset(s, 0, sizeof *s);
    s->st.ctx = s;
    s->st.get = sparse_get;
    s->st.put = sparse_put;
    s->size = size;
    ql_merkle_leaf_hash(prof, s->uniform[0], "u", 1);
    for (l = 1; l < 64; l++)
        ql_merkle_node_hash(prof, s->uniform[l], s->uniform[l - 1],
                            s->uniform[l - 1]);
    for (i = 0; i < n_special && i < SPECIALS; i++) {
        s->special[i] = special[i];
        ql_merkle_leaf_hash(prof, s->special_leaf[i], &special[i],
                            sizeof special[i]);
    }
    s->n_special = i;
}

static void
sparse_leaf(const struct sparse *s, uint64_t index, uint8_t out[HL])
{
    sparse_subtree(s, 0, index, out);
}

static void
test_huge_trees(void **state)
{
    static const uint64_t max = QL_MERKLE_SIZE_MAX;
    static const uint64_t sizes[] = {
        QL_MERKLE_SIZE_MAX,      QL_MERKLE_SIZE_MAX - 1,
        ((uint64_t)1 << 62) + 3, QL_MERKLE_SIZE_MAX - ((uint64_t)1 << 32) + 5,
        ((uint64_t)3 << 61) + 1, 0x5555555555555555ull,
    };
    struct sparse s;
    struct ql_merkle_proof pr, bad;
    struct naive_proof np;
    struct ql_diag d = {0};
    uint8_t root[HL], want[HL], leaf[HL], old_root[HL];
    uint64_t rs = 0x1234, n, sp[SPECIALS], olds[8], m;
    unsigned long gets;
    size_t i, j, k;
    bool saw64 = false;

    (void)state;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        n = sizes[i];
        print_message("size %" PRIu64 "\n", n);
        sp[0] = 0;
        sp[1] = n - 1;
        sp[2] = n / 2;
        sp[3] = n / 2 - 1;
        sp[4] = qlt_rand(&rs) % n;
        sp[5] = qlt_rand(&rs) % n;
        sp[6] = (uint64_t)1 << 40;
        sp[7] = n - 2;
        sparse_init(&s, n, sp, SPECIALS);

        gets = s.gets;
        assert_int_equal(ql_merkle_root(prof, &s.st, n, root, &d), QL_OK);
        assert_int_equal(s.gets - gets, popcount(n));
        sparse_mth(&s, 0, n, want);
        assert_memory_equal(root, want, HL);

        /* Inclusion of every special leaf and some plain ones. */
        for (j = 0; j < SPECIALS + 2; j++) {
            uint64_t idx = j < SPECIALS ? sp[j] : qlt_rand(&rs) % n;

            gets = s.gets;
            assert_int_equal(
                ql_merkle_prove_inclusion(prof, &s.st, idx, n, &pr, &d), QL_OK);
            assert_true(s.gets - gets <= 2 * ceil_log2(n));
            naive_inclusion(NULL, idx, n, &np);
            assert_int_equal(pr.len, np.pr.len);
            assert_true(pr.len <= 63);
            sparse_leaf(&s, idx, leaf);
            assert_int_equal(vincl(leaf, idx, n, &pr, root), QL_OK);
            for (k = 0; k < pr.len; k++) {
                bad = pr;
                flip_bit(&rs, bad.hash[k]);
                assert_int_equal(vincl(leaf, idx, n, &bad, root), QL_EVERIFY);
            }
            bad = pr;
            bad.len--;
            assert_int_equal(vincl(leaf, idx, n, &bad, root), QL_EVERIFY);
        }

        /* Consistency from small, middle and nearly full old trees. */
        olds[0] = 1;
        olds[1] = 2;
        olds[2] = n - 1;
        olds[3] = n / 2 + 1;
        olds[4] = (uint64_t)1 << 62;
        olds[5] = 1 + qlt_rand(&rs) % n;
        olds[6] = n;
        olds[7] = ((uint64_t)1 << 62) - 1;
        for (j = 0; j < 8; j++) {
            m = olds[j];
            if (m == 0 || m > n)
                continue;
            gets = s.gets;
            assert_int_equal(
                ql_merkle_prove_consistency(prof, &s.st, m, n, &pr, &d), QL_OK);
            assert_true(s.gets - gets <= 2 * ceil_log2(n) + 1);
            naive_consistency(NULL, m, n, &np);
            assert_int_equal(pr.len, np.pr.len);
            assert_true(pr.len <= QL_MERKLE_PROOF_MAX);
            if (pr.len == QL_MERKLE_PROOF_MAX)
                saw64 = true;
            sparse_mth(&s, 0, m, old_root);
            assert_int_equal(vcons(m, n, &pr, old_root, root), QL_OK);
            for (k = 0; k < pr.len; k++) {
                bad = pr;
                flip_bit(&rs, bad.hash[k]);
                assert_int_equal(vcons(m, n, &bad, old_root, root), QL_EVERIFY);
            }
        }
    }
    /* 2^63 - 1 to 2^63 is the longest consistency proof there is. */
    assert_true(saw64);

    /* Appending the last leaf a tree may have: 63 gets, 64 puts. */
    sp[0] = max - 1;
    sp[1] = max - 2;
    sp[2] = 5;
    sparse_init(&s, max - 1, sp, 3);
    sparse_leaf(&s, max - 1, leaf);
    s.appending = max - 1;
    assert_int_equal(ql_merkle_append(prof, &s.st, max - 1, leaf, &d), QL_OK);
    assert_int_equal(s.gets, 63);
    assert_int_equal(s.puts, 64);

    /* And no further. */
    ql_diag_clear(&d);
    assert_int_equal(ql_merkle_append(prof, &s.st, max, leaf, &d), QL_ETOOBIG);
    assert_string_equal(d.msg, "tree of size 9223372036854775808 is full (2^63 "
                               "leaves)");
    assert_int_equal(s.puts, 64);
}

/* ------------------------------------------------------------------ */
/* Errors. */

static void
test_store_errors_propagate(void **state)
{
    struct tree t;
    struct ql_merkle_proof pr, sentinel;
    struct ql_diag d;
    uint8_t h[HL], hs[HL];
    uint64_t rs = 77;
    unsigned long n, before;
    char want[64];
    ql_err rc;
    int op;
    static const uint64_t args[][2] = {{37, 37}, {0, 37}, {36, 37},
                                       {21, 37}, {5, 32}, {13, 37}};
    size_t a;

    (void)state;
    tree_build(&t, 37, &rs);
    memset(&sentinel, 0xA5, sizeof sentinel);
    memset(hs, 0xA5, HL);
    /*
     * For each operation, fail the 1st, 2nd, ... get until the operation
     * no longer reaches the failing call: each time the store's code and
     * message come back and the output is untouched.
     */
    for (op = 0; op < 3; op++) {
        for (a = 0; a < sizeof args / sizeof args[0]; a++) {
            for (n = 1;; n++) {
                ql_diag_clear(&d);
                pr = sentinel;
                memcpy(h, hs, HL);
                t.ms.fail_get_at = t.ms.gets + n;
                before = t.ms.gets;
                if (op == 0)
                    rc = ql_merkle_root(prof, &t.ms.st, args[a][1], h, &d);
                else if (op == 1)
                    rc = ql_merkle_prove_inclusion(prof, &t.ms.st,
                                                   args[a][0] % args[a][1],
                                                   args[a][1], &pr, &d);
                else
                    rc = ql_merkle_prove_consistency(
                        prof, &t.ms.st, args[a][0] ? args[a][0] : 1, args[a][1],
                        &pr, &d);
                if (t.ms.gets - before < n) {
                    assert_int_equal(rc, QL_OK);
                    break;
                }
                print_message("op %d args %zu: get %lu fails\n", op, a, n);
                assert_int_equal(rc, QL_ESTORE);
                assert_int_equal(d.code, QL_ESTORE);
                snprintf(want, sizeof want, "injected get failure %lu",
                         t.ms.gets);
                assert_string_equal(d.msg, want);
                assert_memory_equal(h, hs, HL);
                assert_memory_equal(&pr, &sentinel, sizeof pr);
                /* The failing get is the last one made. */
                assert_int_equal(t.ms.gets - before, n);
            }
        }
    }
    t.ms.fail_get_at = 0;
    tree_free(&t);
}

static void
test_append_errors_propagate(void **state)
{
    static const uint64_t sizes[] = {0, 1, 6, 7, 15, 31};
    struct mem_store m;
    struct ql_diag d;
    uint8_t leaf[HL];
    uint64_t rs = 99, i;
    unsigned long n, base;
    size_t s;
    ql_err rc;
    char want[64];
    int kind;

    (void)state;
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (kind = 0; kind < 2; kind++) {
            for (n = 1;; n++) {
                mem_init(&m);
                for (i = 0; i < sizes[s]; i++) {
                    rand_hash(&rs, leaf);
                    mem_append(&m, leaf);
                }
                rand_hash(&rs, leaf);
                base = kind == 0 ? m.gets : m.puts;
                if (kind == 0)
                    m.fail_get_at = base + n;
                else
                    m.fail_put_at = base + n;
                ql_diag_clear(&d);
                rc = ql_merkle_append(prof, &m.st, m.size, leaf, &d);
                if ((kind == 0 ? m.gets : m.puts) - base < n) {
                    assert_int_equal(rc, QL_OK);
                    mem_release(&m);
                    break;
                }
                print_message("append at %" PRIu64 ": %s %lu fails\n", sizes[s],
                              kind == 0 ? "get" : "put", n);
                assert_int_equal(rc, kind == 0 ? QL_ESTORE : QL_EFULL);
                snprintf(want, sizeof want, "injected %s failure %lu",
                         kind == 0 ? "get" : "put",
                         kind == 0 ? m.gets : m.puts);
                assert_string_equal(d.msg, want);
                mem_release(&m);
            }
        }
    }
}

static void
test_usage_errors(void **state)
{
    struct mem_store m;
    struct ql_merkle_store no_get, no_put;
    struct ql_merkle_proof pr, sentinel;
    struct ql_diag d;
    uint8_t h[HL], hs[HL], leaf[HL] = {0};
    uint64_t rs = 5, i;

    (void)state;
    mem_init(&m);
    for (i = 0; i < 10; i++) {
        rand_hash(&rs, leaf);
        mem_append(&m, leaf);
    }
    memset(&sentinel, 0xA5, sizeof sentinel);
    memset(hs, 0xA5, HL);
    no_get = m.st;
    no_get.get = NULL;
    no_put = m.st;
    no_put.put = NULL;

#define EXPECT(call, want_rc, want_msg)                                        \
    do {                                                                       \
        ql_diag_clear(&d);                                                     \
        pr = sentinel;                                                         \
        memcpy(h, hs, HL);                                                     \
        print_message("%s\n", #call);                                          \
        assert_int_equal((call), (want_rc));                                   \
        assert_int_equal(d.code, (want_rc));                                   \
        assert_string_equal(d.msg, (want_msg));                                \
        assert_memory_equal(&pr, &sentinel, sizeof pr);                        \
        assert_memory_equal(h, hs, HL);                                        \
    } while (0)

    EXPECT(ql_merkle_root(prof, &no_get, 3, h, &d), QL_EUSAGE,
           "merkle store has no 'get' callback");
    EXPECT(ql_merkle_prove_inclusion(prof, &no_get, 0, 3, &pr, &d), QL_EUSAGE,
           "merkle store has no 'get' callback");
    EXPECT(ql_merkle_prove_consistency(prof, &no_get, 1, 3, &pr, &d), QL_EUSAGE,
           "merkle store has no 'get' callback");
    EXPECT(ql_merkle_append(prof, &no_get, 10, leaf, &d), QL_EUSAGE,
           "merkle store has no 'get' callback");
    EXPECT(ql_merkle_append(prof, &no_put, 10, leaf, &d), QL_EUSAGE,
           "merkle store has no 'put' callback");
    EXPECT(ql_merkle_root(prof, &m.st, QL_MERKLE_SIZE_MAX + 1, h, &d),
           QL_ETOOBIG,
           "tree size 9223372036854775809 exceeds the largest tree (2^63 "
           "leaves)");
    EXPECT(ql_merkle_prove_inclusion(prof, &m.st, 0, UINT64_MAX, &pr, &d),
           QL_ETOOBIG,
           "tree size 18446744073709551615 exceeds the largest tree (2^63 "
           "leaves)");
    EXPECT(ql_merkle_prove_consistency(prof, &m.st, 1, UINT64_MAX, &pr, &d),
           QL_ETOOBIG,
           "tree size 18446744073709551615 exceeds the largest tree (2^63 "
           "leaves)");
    EXPECT(ql_merkle_prove_inclusion(prof, &m.st, 10, 10, &pr, &d), QL_EUSAGE,
           "leaf index 10 is not below tree size 10");
    EXPECT(ql_merkle_prove_inclusion(prof, &m.st, 0, 0, &pr, &d), QL_EUSAGE,
           "leaf index 0 is not below tree size 0");
    EXPECT(ql_merkle_prove_consistency(prof, &m.st, 0, 5, &pr, &d), QL_EUSAGE,
           "no consistency proof from the empty tree: every tree extends it");
    EXPECT(ql_merkle_prove_consistency(prof, &m.st, 6, 5, &pr, &d), QL_EUSAGE,
           "old tree size 6 is larger than new tree size 5");
    EXPECT(ql_merkle_append(prof, &m.st, UINT64_MAX, leaf, &d), QL_ETOOBIG,
           "tree of size 18446744073709551615 is full (2^63 leaves)");
#undef EXPECT

    /* A store that lacks a hash: its own error comes back. */
    ql_diag_clear(&d);
    assert_int_equal(ql_merkle_root(prof, &m.st, 11, h, &d), QL_ENOTFOUND);
    assert_string_equal(d.msg, "no stored hash (0, 10)");
    assert_int_equal(ql_merkle_prove_inclusion(prof, &m.st, 3, 12, &pr, &d),
                     QL_ENOTFOUND);
    assert_int_equal(ql_merkle_prove_consistency(prof, &m.st, 3, 16, &pr, &d),
                     QL_ENOTFOUND);

    /* The empty tree, and proofs of a one-leaf tree, need no reads. */
    m.gets = 0;
    assert_int_equal(ql_merkle_root(prof, &m.st, 0, h, &d), QL_OK);
    ql_merkle_empty_root(prof, hs);
    assert_memory_equal(h, hs, HL);
    assert_int_equal(ql_merkle_prove_inclusion(prof, &m.st, 0, 1, &pr, &d),
                     QL_OK);
    assert_int_equal(pr.len, 0);
    assert_int_equal(ql_merkle_prove_consistency(prof, &m.st, 7, 7, &pr, &d),
                     QL_OK);
    assert_int_equal(pr.len, 0);
    assert_int_equal(m.gets, 0);

    /* A NULL diagnostic is allowed. */
    assert_int_equal(ql_merkle_root(prof, &no_get, 3, h, NULL), QL_EUSAGE);
    mem_release(&m);
}

/* Every rejection of the verifiers, with the message it gives. */
struct verify_case {
    const char *name;
    int kind; /* 0 inclusion (x is the leaf), 1 consistency (x old root) */
    uint64_t a, b;
    const struct ql_merkle_proof *pr;
    const uint8_t *x, *root;
    const char *msg;
};

static void
test_verify_errors(void **state)
{
    struct tree t;
    struct ql_merkle_proof p47, c37, c77, c47, empty = {0}, big = {0};
    const uint8_t *r[11], *l4, *l5;
    uint8_t r0[HL];
    uint64_t rs = 11, k;
    struct ql_diag d;
    size_t i;
    ql_err rc;

    (void)state;
    tree_build(&t, 10, &rs);
    for (k = 0; k <= 10; k++)
        r[k] = tree_root(&t, k);
    l4 = LEAF(t.leaves, 4);
    l5 = LEAF(t.leaves, 5);
    ql_merkle_empty_root(prof, r0);
    prove_incl(&t, 4, 7, &p47);
    prove_cons(&t, 3, 7, &c37);
    prove_cons(&t, 7, 7, &c77);
    prove_cons(&t, 4, 7, &c47);
    big.len = QL_MERKLE_PROOF_MAX + 1;
    {
        const struct verify_case tab[] = {
            {"index equals size", 0, 7, 7, &p47, l4, r[7],
             "leaf index 7 is not below tree size 7"},
            {"size zero", 0, 0, 0, &empty, l4, r0,
             "leaf index 0 is not below tree size 0"},
            {"size too big", 0, 4, QL_MERKLE_SIZE_MAX + 1, &p47, l4, r[7],
             "tree size 9223372036854775809 exceeds the largest tree (2^63 "
             "leaves)"},
            {"proof over the cap", 0, 4, 7, &big, l4, r[7],
             "inclusion proof has 65 hashes, more than 64"},
            {"proof too long", 0, 4, 5, &p47, l4, r[5],
             "inclusion proof for leaf 4 of tree size 5 is too long (3 "
             "hashes)"},
            {"proof too short", 0, 4, 7, &empty, l4, r[7],
             "inclusion proof for leaf 4 of tree size 7 is too short (0 "
             "hashes)"},
            {"wrong leaf", 0, 4, 7, &p47, l5, r[7],
             "inclusion proof for leaf 4 of tree size 7 does not lead to the "
             "root"},
            {"wrong root", 0, 4, 7, &p47, l4, r[8],
             "inclusion proof for leaf 4 of tree size 7 does not lead to the "
             "root"},
            {"consistency proof over the cap", 1, 3, 7, &big, r[3], r[7],
             "consistency proof has 65 hashes, more than 64"},
            {"consistency size too big", 1, 3, UINT64_MAX, &c37, r[3], r[7],
             "tree size 18446744073709551615 exceeds the largest tree (2^63 "
             "leaves)"},
            {"from the empty tree", 1, 0, 7, &empty, r0, r[7],
             "no consistency proof from the empty tree: every tree extends "
             "it"},
            {"empty to empty", 1, 0, 0, &empty, r0, r0,
             "no consistency proof from the empty tree: every tree extends "
             "it"},
            {"old larger", 1, 8, 7, &c37, r[8], r[7],
             "old tree size 8 is larger than new tree size 7"},
            {"equal sizes, proof", 1, 7, 7, &c37, r[7], r[7],
             "consistency proof between equal sizes 7 is not empty"},
            {"equal sizes, roots differ", 1, 7, 7, &c77, r[7], r[6],
             "two roots of tree size 7 differ"},
            {"empty proof", 1, 4, 7, &empty, r[4], r[7],
             "consistency proof from size 4 to 7 is empty"},
            {"consistency too long", 1, 3, 4, &c37, r[3], r[4],
             "consistency proof from size 3 to 4 is too long (4 hashes)"},
            {"consistency too short", 1, 3, 9, &c37, r[3], r[9],
             "consistency proof from size 3 to 9 is too short (4 hashes)"},
            {"old root", 1, 3, 7, &c37, r[2], r[7],
             "consistency proof from size 3 to 7 does not lead to the old "
             "root"},
            {"new root", 1, 3, 7, &c37, r[3], r[8],
             "consistency proof from size 3 to 7 does not lead to the new "
             "root"},
            {"power of two, new root", 1, 4, 7, &c47, r[4], r[6],
             "consistency proof from size 4 to 7 does not lead to the new "
             "root"},
            /*
             * An old tree of size 4 is a complete subtree of the new one, so
             * a wrong old root shows up as a wrong new root.
             */
            {"power of two, old root", 1, 4, 7, &c47, r[5], r[7],
             "consistency proof from size 4 to 7 does not lead to the new "
             "root"},
        };

        for (i = 0; i < sizeof tab / sizeof tab[0]; i++) {
            print_message("%s\n", tab[i].name);
            ql_diag_clear(&d);
            if (tab[i].kind == 0)
                rc = ql_merkle_verify_inclusion(prof, tab[i].x, tab[i].a,
                                                tab[i].b, tab[i].pr,
                                                tab[i].root, &d);
            else
                rc = ql_merkle_verify_consistency(prof, tab[i].a, tab[i].b,
                                                  tab[i].pr, tab[i].x,
                                                  tab[i].root, &d);
            assert_int_equal(rc, QL_EVERIFY);
            assert_int_equal(d.code, QL_EVERIFY);
            assert_string_equal(d.msg, tab[i].msg);
        }
    }
    /* The accepted counterparts of the cases above, with a NULL diag. */
    assert_int_equal(
        ql_merkle_verify_consistency(prof, 7, 7, &c77, r[7], r[7], NULL),
        QL_OK);
    assert_int_equal(
        ql_merkle_verify_consistency(prof, 4, 7, &c47, r[4], r[7], NULL),
        QL_OK);
    assert_int_equal(
        ql_merkle_verify_consistency(prof, 3, 7, &c37, r[3], r[7], NULL),
        QL_OK);
    assert_int_equal(
        ql_merkle_verify_inclusion(prof, l4, 4, 7, &p47, r[7], NULL), QL_OK);
    assert_int_equal(
        ql_merkle_verify_inclusion(prof, l4, 4, 7, &empty, r[7], NULL),
        QL_EVERIFY);
    tree_free(&t);
}

/* ------------------------------------------------------------------ */
/* The kept right edge (ql_merkle_edge_*). */

/*
 * From every starting size up to 70 and a few larger ones, a tree loaded
 * into an edge and grown by ql_merkle_edge_append stores exactly what
 * ql_merkle_append stores, reads nothing while it grows, and folds the
 * same root as the store and the RFC's definition.
 */
static void
test_edge_matches_append(void **state)
{
    static const uint64_t big[] = {127, 128, 255, 256, 1000, 1023};
    uint8_t leaves[1100 * HL], root[HL], want[HL];
    struct mem_store a, b;
    struct ql_merkle_edge e;
    struct ql_diag d = {0};
    uint64_t rs = 77, start, i, n;
    unsigned long gets, puts;
    unsigned l;
    size_t c;

    (void)state;
    for (i = 0; i < 1100; i++)
        rand_hash(&rs, LEAF(leaves, i));
    for (c = 0; c < 71 + sizeof big / sizeof big[0]; c++) {
        start = c < 71 ? c : big[c - 71];
        mem_init(&a);
        mem_init(&b);
        for (i = 0; i < start; i++) {
            mem_append(&a, LEAF(leaves, i));
            mem_append(&b, LEAF(leaves, i));
        }
        memset(&e, 0xa5, sizeof e);
        gets = b.gets;
        assert_int_equal(ql_merkle_edge_load(prof, &b.st, start, &e, &d),
                         QL_OK);
        assert_int_equal(b.gets - gets, popcount(start));
        assert_int_equal(e.size, start);
        for (n = start; n < start + 40; n++) {
            gets = b.gets;
            puts = b.puts;
            mem_append(&a, LEAF(leaves, n));
            assert_int_equal(
                ql_merkle_edge_append(prof, &e, &b.st, LEAF(leaves, n), &d),
                QL_OK);
            b.size++;
            assert_int_equal(b.gets, gets);
            assert_int_equal(b.puts - puts, trailing_ones(n) + 1);
            assert_int_equal(e.size, n + 1);
            ql_merkle_edge_root(prof, &e, root);
            assert_int_equal(ql_merkle_root(prof, &a.st, n + 1, want, &d),
                             QL_OK);
            assert_memory_equal(root, want, HL);
            naive_mth(leaves, 0, n + 1, want);
            assert_memory_equal(root, want, HL);
        }
        for (l = 0; l < 64; l++) {
            assert_int_equal(a.count[l], b.count[l]);
            if (a.count[l] != 0)
                assert_memory_equal(a.level[l], b.level[l], a.count[l] * HL);
        }
        mem_release(&a);
        mem_release(&b);
    }
    e.size = 0;
    ql_merkle_edge_root(prof, &e, root);
    ql_merkle_empty_root(prof, want);
    assert_memory_equal(root, want, HL);
}

/*
 * A failed get leaves the edge unwritten; a failed put leaves it as it
 * was, so a caller that rolls back can take it again from the store.
 * Sizes out of range and missing callbacks are refused.
 */
static void
test_edge_errors(void **state)
{
    static const uint64_t sizes[] = {1, 6, 7, 15, 31, 32};
    struct ql_merkle_edge e, before;
    struct ql_merkle_store no_get, no_put;
    struct mem_store m;
    struct ql_diag d;
    uint8_t leaf[HL];
    uint64_t rs = 5, i;
    unsigned long n, base;
    size_t s;
    ql_err rc;

    (void)state;
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        /* Every get of a load can fail. */
        for (n = 1; n <= popcount(sizes[s]); n++) {
            mem_init(&m);
            for (i = 0; i < sizes[s]; i++) {
                rand_hash(&rs, leaf);
                mem_append(&m, leaf);
            }
            memset(&e, 0x5a, sizeof e);
            before = e;
            m.fail_get_at = m.gets + n;
            ql_diag_clear(&d);
            assert_int_equal(ql_merkle_edge_load(prof, &m.st, sizes[s], &e, &d),
                             QL_ESTORE);
            assert_non_null(strstr(d.msg, "injected get failure"));
            assert_memory_equal(&e, &before, sizeof e);
            mem_release(&m);
        }
        /* Every put of an append can fail. */
        for (n = 1;; n++) {
            mem_init(&m);
            for (i = 0; i < sizes[s]; i++) {
                rand_hash(&rs, leaf);
                mem_append(&m, leaf);
            }
            assert_int_equal(ql_merkle_edge_load(prof, &m.st, sizes[s], &e,
                                                 NULL),
                             QL_OK);
            before = e;
            base = m.puts;
            m.fail_put_at = base + n;
            rand_hash(&rs, leaf);
            ql_diag_clear(&d);
            rc = ql_merkle_edge_append(prof, &e, &m.st, leaf, &d);
            if (m.puts - base < n) {
                print_message("edge append at %" PRIu64 ": %lu puts\n",
                              sizes[s], n - 1);
                assert_int_equal(rc, QL_OK);
                assert_int_equal(n - 1, trailing_ones(sizes[s]) + 1);
                mem_release(&m);
                break;
            }
            assert_int_equal(rc, QL_EFULL);
            assert_non_null(strstr(d.msg, "injected put failure"));
            assert_memory_equal(&e, &before, sizeof e);
            mem_release(&m);
        }
    }
    mem_init(&m);
    no_get = m.st;
    no_get.get = NULL;
    no_put = m.st;
    no_put.put = NULL;
    assert_int_equal(ql_merkle_edge_load(prof, &no_get, 0, &e, &d), QL_EUSAGE);
    assert_int_equal(
        ql_merkle_edge_load(prof, &m.st, QL_MERKLE_SIZE_MAX + 1, &e, &d),
        QL_ETOOBIG);
    e.size = 0;
    assert_int_equal(ql_merkle_edge_append(prof, &e, &no_put, leaf, &d),
                     QL_EUSAGE);
    assert_int_equal(e.size, 0);
    e.size = QL_MERKLE_SIZE_MAX;
    assert_int_equal(ql_merkle_edge_append(prof, &e, &m.st, leaf, &d),
                     QL_ETOOBIG);
    assert_int_equal(e.size, QL_MERKLE_SIZE_MAX);
    assert_int_equal(m.puts, 0);
    mem_release(&m);
}

static int
group_setup(void **state)
{
    struct ql_diag d = {0};

    (void)state;
    if (ql_crypto_init(&d) != QL_OK)
        return -1;
    prof = ql_profile_default();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_primitives),
        cmocka_unit_test(test_vectors_roots),
        cmocka_unit_test(test_vectors_inclusion),
        cmocka_unit_test(test_vectors_consistency),
        cmocka_unit_test(test_exhaustive_small),
        cmocka_unit_test(test_random_trees),
        cmocka_unit_test(test_random_large_trees),
        cmocka_unit_test(test_huge_trees),
        cmocka_unit_test(test_store_errors_propagate),
        cmocka_unit_test(test_append_errors_propagate),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_verify_errors),
        cmocka_unit_test(test_edge_matches_append),
        cmocka_unit_test(test_edge_errors),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
