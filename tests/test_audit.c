/*
 * The auditor's tools (engine/ql_audit*, engine/ql_export, cli/cmd_audit):
 * proofs against the RFC 6962 vectors and an independent recursive
 * implementation of RFC 9162, the rules the verifier applies (each broken
 * once by a signed entry an insider could write), the state file, the
 * export and its incremental updates, an export's own defects, and
 * cosigning. The 10,000-entry tamper suite is tests/test_tamper.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ql_audit.h"
#include "ql_audit_leads.h"
#include "ql_codec.h"
#include "ql_commit.h"
#include "ql_county.h"
#include "ql_export.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_status.h"
#include "ql_store.h"
#include "ql_test.h"

#define NOW 1757901600
#define NOW_ENV "QINGLING_NOW=2025-09-15T02:00:00Z"

enum who {
    ADMIN,
    REG,
    TRI,
    DIR,
    BOTH,
    LT_LLY,
    LT_HC,
    DUAL,
    QY_LLY,
    AUD,
    AUD2,
    INSP,
    HEAD,
    ADM2,
    MALLORY,
    NKEYS
};

static const struct {
    const char *name, *unit, *roles;
} PEOPLE[NKEYS] = {
    {"admin", NULL, NULL},
    {"sh-dengji-01", "SH", "registrar"},
    {"sh-yanpan-01", "SH", "triage"},
    {"sh-zhuren-01", "SH", "director"},
    {"sh-both-01", "SH", "triage,director"},
    {"LT-lly-01", "LT", "liaison"},
    {"LT-hc-01", "LT", "verifier"},
    {"LT-dual-01", "LT", "verifier,director"},
    {"QY-lly-01", "QY", "liaison"},
    {"sj-01", "AU", "auditor"},
    {"sj-02", "AU", "auditor"},
    {"dd-pc-01", "SH", "inspector"},
    {"LT-head-01", "LT", "head"},
    {"it-admin-01", "SH", "admin"},
    {"mallory", NULL, NULL},
};

/* The base county, made once; each test works on a copy. */
static struct {
    char *dir, *base, *admin_pub;
    struct ql_key *k[NKEYS];
    char wf_hash[65];
    char verifying[QL_ENTRY_WORD_MAX + 1]; /* L1: VERIFYING in LT */
    char pending[QL_ENTRY_WORD_MAX + 1];   /* L2: assign proposed by BOTH */
    char reported[QL_ENTRY_WORD_MAX + 1];  /* L3: REPORTED by DUAL */
    char triaged[QL_ENTRY_WORD_MAX + 1];   /* L4: TRIAGE in SH */
    uint64_t pending_idx;
    uint64_t n;
} B;

static void
ok(ql_err rc, const struct ql_diag *d, const char *what)
{
    if (rc != QL_OK)
        fail_msg("%s: %s", what, d->msg);
}

static void
as(struct ql_county *c, enum who w)
{
    ql_county_set_actor(c, B.k[w]);
}

static struct ql_county *
open_county(const char *path)
{
    struct ql_county *c = NULL;
    struct ql_diag d;

    ok(ql_county_open(path, 0, &c, &d), &d, "open");
    ql_county_set_now(c, NOW);
    return c;
}

static uint64_t
size_of(struct ql_county *c)
{
    struct ql_diag d;
    uint64_t n = 0;

    ok(ql_log_size(ql_county_log(c), &n, &d), &d, "size");
    return n;
}

/* Registers a lead in SH and takes it to ASSIGNED in LT (4 entries). */
static void
assigned_lead(struct ql_county *c, char *id)
{
    struct ql_wf_kv add[2] = {{"source", "群众举报"}, {"summary", "测试"}};
    struct ql_wf_kv asg[2] = {{"handling_unit", "LT"},
                              {"due_at", "2025-10-30"}};
    struct ql_diag d;

    as(c, REG);
    ok(ql_lead_add(c, "test_flow", "SH", add, 2, id, &d), &d, "add");
    as(c, TRI);
    ok(ql_lead_move(c, id, "triage", NULL, 0, NULL, NULL, &d), &d, "triage");
    ok(ql_lead_move(c, id, "assign", asg, 2, NULL, NULL, &d), &d, "assign");
    as(c, DIR);
    ok(ql_lead_approve(c, id, &d), &d, "approve");
}

static int
group_setup(void **state)
{
    struct ql_wf_kv add[2] = {{"source", "群众举报"}, {"summary", "测试"}};
    struct ql_wf_kv asg[2] = {{"handling_unit", "LT"},
                              {"due_at", "2025-10-30"}};
    struct ql_wf_kv rep[2] = {{"finding", "查否"}, {"detail", "不属实"}};
    struct ql_county *c;
    struct ql_diag d;
    char *wf_path, *wf;
    size_t wf_len, i;

    (void)state;
    memset(&B, 0, sizeof B);
    assert_int_equal(ql_crypto_init(&d), QL_OK);
    B.dir = qlt_tempdir();
    B.base = qlt_join(B.dir, "base.db");
    B.admin_pub = qlt_join(B.dir, "admin.pub");
    for (i = 0; i < NKEYS; i++)
        ok(ql_key_generate(ql_profile_default(), PEOPLE[i].name, &B.k[i], &d),
           &d, "key");
    ok(ql_keyfile_write_public(B.admin_pub, B.k[ADMIN], &d), &d, "pub");
    ok(ql_county_create(B.base, "qinghe.test/leads", B.k[ADMIN], NULL, NOW,
                        &d),
       &d, "create");
    c = open_county(B.base);
    as(c, ADMIN);
    ok(ql_county_batch_begin(c, &d), &d, "batch");
    ok(ql_county_unit_add(c, "SH", "扫黑办", QL_KIND_SUPERVISION, &d), &d,
       "unit");
    ok(ql_county_unit_add(c, "LT", "鹭汀镇", QL_KIND_TOWNSHIP, &d), &d, "unit");
    ok(ql_county_unit_add(c, "QY", "栖云乡", QL_KIND_TOWNSHIP, &d), &d, "unit");
    ok(ql_county_unit_add(c, "AU", "纪委监委", QL_KIND_AUDIT, &d), &d, "unit");
    for (i = 1; i < MALLORY; i++)
        ok(ql_county_principal_add(c, B.k[i], PEOPLE[i].unit,
                                   PEOPLE[i].roles, &d),
           &d, "principal");
    wf_path = qlt_data_path("wf_test.lua");
    wf = qlt_read_file(wf_path, &wf_len);
    ok(ql_county_workflow_add(c, "wf_test.lua", wf, wf_len, B.wf_hash, &d),
       &d, "workflow");
    free(wf);
    free(wf_path);
    /* L1: accepted in LT. */
    assigned_lead(c, B.verifying);
    as(c, LT_LLY);
    ok(ql_lead_move(c, B.verifying, "accept", NULL, 0, NULL, NULL, &d), &d,
       "accept");
    /* L2: an assignment proposed by someone who is also a director. */
    as(c, REG);
    ok(ql_lead_add(c, "test_flow", "SH", add, 2, B.pending, &d), &d, "add");
    as(c, BOTH);
    ok(ql_lead_move(c, B.pending, "triage", NULL, 0, NULL, NULL, &d), &d,
       "triage");
    B.pending_idx = size_of(c);
    ok(ql_lead_move(c, B.pending, "assign", asg, 2, NULL, NULL, &d), &d,
       "propose");
    /* L3: reported by a verifier who is also a director. */
    assigned_lead(c, B.reported);
    as(c, LT_LLY);
    ok(ql_lead_move(c, B.reported, "accept", NULL, 0, NULL, NULL, &d), &d,
       "accept");
    as(c, DUAL);
    ok(ql_lead_move(c, B.reported, "report", rep, 2, NULL, NULL, &d), &d,
       "report");
    /* L4: triaged, nothing pending. */
    as(c, REG);
    ok(ql_lead_add(c, "test_flow", "SH", add, 2, B.triaged, &d), &d, "add");
    as(c, TRI);
    ok(ql_lead_move(c, B.triaged, "triage", NULL, 0, NULL, NULL, &d), &d,
       "triage");
    ok(ql_county_batch_commit(c, &d), &d, "commit");
    B.n = size_of(c);
    ql_county_close(c);
    return 0;
}

static int
group_teardown(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NKEYS; i++)
        ql_key_free(B.k[i]);
    free(B.base);
    free(B.admin_pub);
    qlt_rmtree(B.dir);
    return 0;
}

static void
copy_file(const char *from, const char *to)
{
    size_t len;
    char *buf = qlt_read_file(from, &len);

    qlt_write_file(to, buf, len);
    free(buf);
}

/* A copy of the base store (and its log key) as dir/name. */
static char *
copy_base(const char *name)
{
    char *p = qlt_join(B.dir, name);
    char a[600], b[600];

    snprintf(a, sizeof a, "%s-wal", p);
    unlink(a);
    snprintf(a, sizeof a, "%s-shm", p);
    unlink(a);
    copy_file(B.base, p);
    snprintf(a, sizeof a, "%s.logkey", B.base);
    snprintf(b, sizeof b, "%s.logkey", p);
    copy_file(a, b);
    return p;
}

/* Runs the binary with argv (NULL-terminated) and the fixed clock. */
static void
qx(struct qlt_run *r, const char *const *argv)
{
    const char *env[] = {NOW_ENV, NULL};

    qlt_exec(r, argv, env, NULL);
}

static void
expect_exit(struct qlt_run *r, int status, const char *fragment)
{
    if (r->status != status)
        fail_msg("exit %d, want %d; stderr: %s; stdout: %s", r->status,
                 status, r->err, r->out);
    if (fragment != NULL && strstr(r->err, fragment) == NULL &&
        strstr(r->out, fragment) == NULL)
        fail_msg("output lacks '%s'; stderr: %s stdout: %s", fragment,
                 r->err, r->out);
    if (status != 0 && status != 2) {
        assert_true(strncmp(r->err, "qingling: ", 10) == 0);
        assert_int_equal(strchr(r->err, '\n')[1], '\0');
    }
    qlt_run_free(r);
}

/* ---- RFC 9162, independently: recursive PATH and PROOF, and checks ---- */

static const struct ql_profile *P;

/* MTH(D[lo:hi]) over leaf hashes. */
static void
mth(const uint8_t (*leaf)[32], uint64_t lo, uint64_t hi, uint8_t out[32])
{
    uint8_t l[32], r[32];
    uint64_t k = 1;

    if (hi - lo == 1) {
        memcpy(out, leaf[lo], 32);
        return;
    }
    while (k * 2 < hi - lo)
        k *= 2;
    mth(leaf, lo, lo + k, l);
    mth(leaf, lo + k, hi, r);
    ql_merkle_node_hash(P, out, l, r);
}

/* PATH(m, D[lo:hi]) of RFC 9162 2.1.3.1, appended to out. */
static void
path(const uint8_t (*leaf)[32], uint64_t m, uint64_t lo, uint64_t hi,
     struct ql_merkle_proof *out)
{
    uint64_t k = 1;

    if (hi - lo <= 1)
        return;
    while (k * 2 < hi - lo)
        k *= 2;
    if (m < k) {
        path(leaf, m, lo, lo + k, out);
        mth(leaf, lo + k, hi, out->hash[out->len++]);
    } else {
        path(leaf, m - k, lo + k, hi, out);
        mth(leaf, lo, lo + k, out->hash[out->len++]);
    }
}

/* SUBPROOF(m, D[lo:hi], b) of RFC 9162 2.1.4.1. */
static void
subproof(const uint8_t (*leaf)[32], uint64_t m, uint64_t lo, uint64_t hi,
         bool b, struct ql_merkle_proof *out)
{
    uint64_t n = hi - lo, k = 1;

    if (m == n) {
        if (!b)
            mth(leaf, lo, hi, out->hash[out->len++]);
        return;
    }
    while (k * 2 < n)
        k *= 2;
    if (m <= k) {
        subproof(leaf, m, lo, lo + k, b, out);
        mth(leaf, lo + k, hi, out->hash[out->len++]);
    } else {
        subproof(leaf, m - k, lo + k, hi, false, out);
        mth(leaf, lo, lo + k, out->hash[out->len++]);
    }
}

/* The verification algorithm of RFC 9162 2.1.3.2, written out again. */
static bool
check_inclusion(const uint8_t leaf[32], uint64_t index, uint64_t size,
                const struct ql_merkle_proof *p, const uint8_t root[32])
{
    uint64_t fn = index, sn = size - 1;
    uint8_t r[32];
    size_t i;

    if (index >= size)
        return false;
    memcpy(r, leaf, 32);
    for (i = 0; i < p->len; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            ql_merkle_node_hash(P, r, p->hash[i], r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            ql_merkle_node_hash(P, r, r, p->hash[i]);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, 32) == 0;
}

/* RFC 9162 2.1.4.2, written out again. */
static bool
check_consistency(uint64_t m, uint64_t n, const struct ql_merkle_proof *p,
                  const uint8_t old_root[32], const uint8_t new_root[32])
{
    struct ql_merkle_proof q;
    uint64_t fn, sn;
    uint8_t fr[32], sr[32];
    size_t i;

    if (m == 0 || m > n)
        return false;
    if (m == n)
        return p->len == 0 && memcmp(old_root, new_root, 32) == 0;
    if (p->len == 0)
        return false;
    q.len = 0;
    if ((m & (m - 1)) == 0)
        memcpy(q.hash[q.len++], old_root, 32);
    for (i = 0; i < p->len; i++)
        memcpy(q.hash[q.len++], p->hash[i], 32);
    fn = m - 1;
    sn = n - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    memcpy(fr, q.hash[0], 32);
    memcpy(sr, q.hash[0], 32);
    for (i = 1; i < q.len; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            ql_merkle_node_hash(P, fr, q.hash[i], fr);
            ql_merkle_node_hash(P, sr, q.hash[i], sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            ql_merkle_node_hash(P, sr, sr, q.hash[i]);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(fr, old_root, 32) == 0 &&
           memcmp(sr, new_root, 32) == 0;
}

/* ---- proofs ---- */

static void
b64(char out[64], const uint8_t h[32])
{
    ql_base64_encode(out, h, 32);
}

/* Writes a proof file in the form `audit prove` prints. */
static void
write_proof(const char *file, const char *type, uint64_t a, uint64_t b,
            const uint8_t h1[32], const uint8_t root[32],
            const struct ql_merkle_proof *p)
{
    char text[8192], s[64];
    size_t n = 0, i;

    n += (size_t)snprintf(text + n, sizeof text - n, "%s %llu %llu\n", type,
                          (unsigned long long)a, (unsigned long long)b);
    b64(s, h1);
    n += (size_t)snprintf(text + n, sizeof text - n, "%s %s\n",
                          strcmp(type, "inclusion") == 0 ? "leaf"
                                                         : "old-root",
                          s);
    b64(s, root);
    n += (size_t)snprintf(text + n, sizeof text - n, "root %s\n", s);
    for (i = 0; i < p->len; i++) {
        b64(s, p->hash[i]);
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\n", s);
    }
    qlt_write_file(file, text, n);
}

static void
verify_proof_file(const char *file, int status, const char *fragment)
{
    const char *argv[] = {"audit", "verify-proof", file, NULL};
    struct qlt_run r;

    qx(&r, argv);
    expect_exit(&r, status, fragment);
}

static ql_err mem_get(void *ctx, unsigned level, uint64_t index,
                      uint8_t out[32], struct ql_diag *d);
static ql_err mem_put(void *ctx, unsigned level, uint64_t index,
                      const uint8_t h[32], struct ql_diag *d);

/* An in-memory tree for ql_merkle, for trees without a store. */
struct memtree {
    uint8_t (*h)[64][32]; /* h[index][level] */
    uint64_t cap;
};

/*
 * The RFC 6962 vectors (8 leaves): qingling makes exactly the published
 * proofs, and `qingling audit verify-proof` accepts each of them and
 * refuses every third one, changed.
 */
static void
test_rfc_vectors_cli(void **state)
{
    char *vpath = qlt_data_path("rfc6962-8.txt");
    char *text = qlt_read_file(vpath, NULL), *line, *save = NULL;
    char *file = qlt_join(B.dir, "vector.proof");
    uint8_t leaves[8][32], roots[9][32];
    int nproofs = 0, nbad = 0;

    (void)state;
    P = ql_profile_default();
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        struct ql_merkle_proof p;
        unsigned long long a, b;
        char kind[16], *tok, *s2 = NULL;
        int used = 0;

        if (line[0] == '#')
            continue;
        if (sscanf(line, "leaf %llu %n", &a, &used) == 1) {
            uint8_t raw[64];
            size_t n = strcmp(line + used, "<empty>") == 0
                           ? 0
                           : qlt_unhex(line + used, raw, sizeof raw);

            ql_merkle_leaf_hash(P, leaves[a], raw, n);
            continue;
        }
        if (sscanf(line, "root %llu %n", &a, &used) == 1) {
            qlt_unhex(line + used, roots[a], 32);
            continue;
        }
        if (sscanf(line, "%15s %llu %llu %n", kind, &a, &b, &used) != 3)
            fail_msg("vector line '%s'", line);
        p.len = 0;
        for (tok = strtok_r(line + used, " ", &s2); tok != NULL;
             tok = strtok_r(NULL, " ", &s2))
            qlt_unhex(tok, p.hash[p.len++], 32);
        {
            /* qingling's own proof of the same, from the 8 leaves. */
            struct memtree t = {calloc(8, sizeof *t.h), 8};
            struct ql_merkle_store ms = {&t, mem_get, mem_put};
            struct ql_merkle_proof mine;
            struct ql_diag d;
            uint64_t i;

            for (i = 0; i < 8; i++)
                ok(ql_merkle_append(P, &ms, i, leaves[i], &d), &d, "append");
            if (strcmp(kind, "inclusion") == 0)
                ok(ql_merkle_prove_inclusion(P, &ms, a, b, &mine, &d), &d,
                   "prove");
            else
                ok(ql_merkle_prove_consistency(P, &ms, a, b, &mine, &d), &d,
                   "prove");
            assert_int_equal(mine.len, p.len);
            if (p.len > 0)
                assert_memory_equal(mine.hash, p.hash, 32 * p.len);
            free(t.h);
        }
        if (strcmp(kind, "inclusion") == 0) {
            assert_true(check_inclusion(leaves[a], a, b, &p, roots[b]));
            write_proof(file, kind, a, b, leaves[a], roots[b], &p);
        } else {
            assert_true(check_consistency(a, b, &p, roots[a], roots[b]));
            write_proof(file, kind, a, b, roots[a], roots[b], &p);
        }
        verify_proof_file(file, 0, "proof verified");
        nproofs++;
        if (nproofs % 3 == 0) {
            /* Changed: a proof hash, or the claimed position. */
            if (p.len > 0)
                p.hash[p.len / 2][7] ^= 0x01;
            if (strcmp(kind, "inclusion") == 0)
                write_proof(file, kind, p.len > 0 ? a : (a + 1) % 8, b,
                            leaves[a], roots[b], &p);
            else
                write_proof(file, kind, a, b, roots[a],
                            p.len > 0 ? roots[b] : roots[(b % 8) + 1], &p);
            verify_proof_file(file, 5, "proof does not verify");
            nbad++;
        }
    }
    assert_int_equal(nproofs, 64);
    assert_true(nbad >= 20);
    free(file);
    free(text);
    free(vpath);
}

static void
test_proof_file_errors(void **state)
{
    static const struct {
        const char *text, *fragment;
    } CASES[] = {
        {"", ":1: not 'inclusion INDEX SIZE'"},
        {"inclusion 1\n", ":1: not"},
        {"exclusion 1 2\n", ":1: not"},
        {"inclusion 01 2\n", ":1: not"},
        {"inclusion 1 2\nroot x\n", ":2: not 'leaf BASE64'"},
        {"consistency 1 2\nleaf "
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
         ":2: not 'old-root BASE64'"},
        {"inclusion 1 2\nleaf AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
         "roots AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
         ":3: not 'root BASE64'"},
        {"inclusion 1 2\nleaf AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
         "root AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nAAAA\n",
         ":4: not one base64 hash"},
        {"inclusion 1 2\nleaf AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
         "root AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
         ":4: not one base64 hash"},
    };
    char *file = qlt_join(B.dir, "bad.proof");
    const char *none[] = {"audit", "verify-proof", NULL};
    const char *missing[] = {"audit", "verify-proof", "/nonexistent/p", NULL};
    struct qlt_run r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        print_message("proof file %zu\n", i);
        qlt_write_file(file, CASES[i].text, strlen(CASES[i].text));
        verify_proof_file(file, 4, CASES[i].fragment);
    }
    /* Well formed, but index past the size: a proof that fails. */
    {
        const char *t = "inclusion 2 2\nleaf "
                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nroot "
                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

        qlt_write_file(file, t, strlen(t));
        verify_proof_file(file, 5, "does not verify");
    }
    qx(&r, none);
    expect_exit(&r, 2, "give the proof FILE");
    qx(&r, missing);
    expect_exit(&r, 4, "cannot open");
    free(file);
}

/* The leaf hashes of a store's first n entries, caller-owned. */
static uint8_t (*leaf_hashes(const char *db, uint64_t n))[32]
{
    uint8_t (*leaf)[32] = calloc(n, 32);
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    uint64_t i = 0;

    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT note FROM entries ORDER "
                                           "BY idx",
                                       -1, &st, NULL),
                     SQLITE_OK);
    while (i < n && sqlite3_step(st) == SQLITE_ROW) {
        ql_merkle_leaf_hash(P, leaf[i], sqlite3_column_blob(st, 0),
                            (size_t)sqlite3_column_bytes(st, 0));
        i++;
    }
    assert_int_equal(i, n);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return leaf;
}

/* Parses what `audit prove` printed into its parts. */
static void
parse_proof(const char *out, char *type, uint64_t *a, uint64_t *b,
            uint8_t h1[32], uint8_t root[32], struct ql_merkle_proof *p)
{
    char *copy = strdup(out), *line, *save = NULL;
    unsigned long long x, y;
    size_t n = 0;
    int ln = 0;

    p->len = 0;
    for (line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), ln++) {
        const char *v = strchr(line, ' ') ? strchr(line, ' ') + 1 : line;
        uint8_t *dst = ln == 1 ? h1 : ln == 2 ? root : p->hash[p->len];
        struct ql_diag d;

        if (ln == 0) {
            assert_int_equal(sscanf(line, "%15s %llu %llu", type, &x, &y), 3);
            *a = x;
            *b = y;
            continue;
        }
        ok(ql_base64_decode(dst, 32, &n, v, strlen(v), &d), &d, "b64");
        if (ln > 2)
            p->len++;
    }
    free(copy);
}

static void
prove(const char *db, const char *const *args, struct qlt_run *r)
{
    const char *argv[12];
    size_t n = 0;

    argv[n++] = "--db";
    argv[n++] = db;
    argv[n++] = "audit";
    argv[n++] = "prove";
    while (*args != NULL)
        argv[n++] = *args++;
    argv[n] = NULL;
    qx(r, argv);
}

/*
 * Proofs from a real store, printed by `qingling audit prove`, equal the
 * RFC 9162 definitions computed recursively from the entries, verify by
 * ql_merkle and by the RFC's algorithm written out above, and round-trip
 * through `audit verify-proof`.
 */
static void
test_prove_real_store(void **state)
{
    char *db = copy_base("prove.db"), *file = qlt_join(B.dir, "p.proof");
    struct ql_county *c = open_county(db);
    uint8_t (*leaf)[32];
    uint64_t seed = 42, n;
    struct ql_diag d;
    char id[QL_ENTRY_WORD_MAX + 1];
    int round;

    (void)state;
    P = ql_profile_default();
    as(c, REG);
    ok(ql_county_batch_begin(c, &d), &d, "batch");
    while (size_of(c) < 300)
        assigned_lead(c, id);
    ok(ql_county_batch_commit(c, &d), &d, "commit");
    n = size_of(c);
    ql_county_close(c);
    leaf = leaf_hashes(db, n);
    for (round = 0; round < 24; round++) {
        struct ql_merkle_proof got, want;
        uint8_t h1[32], root[32], r2[32];
        uint64_t a, b, size = 1 + qlt_rand(&seed) % n;
        char sz[24], ix[24], type[16];
        struct qlt_run r;
        bool inclusion = round % 2 == 0;

        if (round == 0)
            size = n; /* the default: the latest checkpoint */
        snprintf(sz, sizeof sz, "%llu", (unsigned long long)size);
        if (inclusion) {
            uint64_t i = qlt_rand(&seed) % size;
            const char *args[] = {"inclusion", ix, "--size", sz, NULL};
            const char *deflt[] = {"inclusion", ix, NULL};

            snprintf(ix, sizeof ix, "%llu", (unsigned long long)i);
            prove(db, round == 0 ? deflt : args, &r);
            assert_int_equal(r.status, 0);
            parse_proof(r.out, type, &a, &b, h1, root, &got);
            assert_string_equal(type, "inclusion");
            assert_int_equal(a, i);
            assert_int_equal(b, size);
            want.len = 0;
            path((const uint8_t(*)[32])leaf, i, 0, size, &want);
            assert_memory_equal(h1, leaf[i], 32);
            assert_true(check_inclusion(h1, i, size, &got, root));
            ok(ql_merkle_verify_inclusion(P, h1, i, size, &got, root, &d),
               &d, "verify");
        } else {
            uint64_t m = 1 + qlt_rand(&seed) % size;
            const char *args[] = {"consistency", ix, sz, NULL};

            snprintf(ix, sizeof ix, "%llu", (unsigned long long)m);
            prove(db, args, &r);
            assert_int_equal(r.status, 0);
            parse_proof(r.out, type, &a, &b, h1, root, &got);
            assert_string_equal(type, "consistency");
            want.len = 0;
            if (m < size)
                subproof((const uint8_t(*)[32])leaf, m, 0, size, true,
                         &want);
            mth((const uint8_t(*)[32])leaf, 0, m, r2);
            assert_memory_equal(h1, r2, 32);
            assert_true(check_consistency(m, size, &got, h1, root));
            ok(ql_merkle_verify_consistency(P, m, size, &got, h1, root, &d),
               &d, "verify");
        }
        mth((const uint8_t(*)[32])leaf, 0, size, r2);
        assert_memory_equal(root, r2, 32);
        assert_int_equal(got.len, want.len);
        if (want.len > 0)
            assert_memory_equal(got.hash, want.hash, 32 * want.len);
        qlt_write_file(file, r.out, r.out_len);
        qlt_run_free(&r);
        verify_proof_file(file, 0, "proof verified");
    }
    /* JSON, and the refusals. */
    {
        const char *json[] = {"inclusion", "3", "--size", "10", "--json",
                              NULL};
        const char *past[] = {"inclusion", "10", "--size", "10", NULL};
        const char *big[] = {"inclusion", "1", "--size", "99999", NULL};
        const char *zero[] = {"consistency", "0", "10", NULL};
        const char *back[] = {"consistency", "10", "9", NULL};
        const char *word[] = {"inclusion", "three", NULL};
        const char *what[] = {"exclusion", "3", NULL};
        const char *opt[] = {"consistency", "1", "2", "--size", "3", NULL};
        struct qlt_run r;

        prove(db, json, &r);
        expect_exit(&r, 0, "\"proof\":[");
        prove(db, past, &r);
        expect_exit(&r, 4, "entry 10 is not in a tree of size 10");
        prove(db, big, &r);
        expect_exit(&r, 4, "the log has");
        prove(db, zero, &r);
        expect_exit(&r, 4, "no consistency proof from size 0");
        prove(db, back, &r);
        expect_exit(&r, 4, "no consistency proof from size 10 to 9");
        prove(db, word, &r);
        expect_exit(&r, 2, "decimal numbers");
        prove(db, what, &r);
        expect_exit(&r, 2, "say what to prove");
        prove(db, opt, &r);
        expect_exit(&r, 2, "unknown option");
    }
    free(leaf);
    free(file);
    free(db);
}

static ql_err
mem_get(void *ctx, unsigned level, uint64_t index, uint8_t out[32],
        struct ql_diag *d)
{
    struct memtree *t = ctx;

    if (index >= t->cap)
        return ql_fail(d, QL_ENOTFOUND, "no hash");
    memcpy(out, t->h[index][level], 32);
    return QL_OK;
}

static ql_err
mem_put(void *ctx, unsigned level, uint64_t index, const uint8_t h[32],
        struct ql_diag *d)
{
    struct memtree *t = ctx;

    if (index >= t->cap)
        return ql_fail(d, QL_ENOTFOUND, "no room");
    memcpy(t->h[index][level], h, 32);
    return QL_OK;
}

/* Random trees: qingling's proofs equal the recursive definitions. */
static void
test_random_trees(void **state)
{
    uint64_t seed = 7;
    int round;

    (void)state;
    P = ql_profile_default();
    for (round = 0; round < 40; round++) {
        uint64_t n = 1 + qlt_rand(&seed) % 300, i;
        struct memtree t = {calloc(n, sizeof *t.h), n};
        struct ql_merkle_store ms = {&t, mem_get, mem_put};
        uint8_t (*leaf)[32] = calloc(n, 32), root[32], old[32];
        struct ql_merkle_proof got, want;
        struct ql_diag d;

        for (i = 0; i < n; i++) {
            uint64_t v = qlt_rand(&seed);

            ql_merkle_leaf_hash(P, leaf[i], &v, sizeof v);
            ok(ql_merkle_append(P, &ms, i, leaf[i], &d), &d, "append");
        }
        for (i = 0; i < 8; i++) {
            uint64_t size = 1 + qlt_rand(&seed) % n;
            uint64_t k = qlt_rand(&seed) % size, m = 1 + k;

            ok(ql_merkle_root(P, &ms, size, root, &d), &d, "root");
            mth((const uint8_t(*)[32])leaf, 0, size, old);
            assert_memory_equal(root, old, 32);
            ok(ql_merkle_prove_inclusion(P, &ms, k, size, &got, &d), &d,
               "inclusion");
            want.len = 0;
            path((const uint8_t(*)[32])leaf, k, 0, size, &want);
            assert_int_equal(got.len, want.len);
            if (want.len)
                assert_memory_equal(got.hash, want.hash, 32 * want.len);
            assert_true(check_inclusion(leaf[k], k, size, &got, root));
            ok(ql_merkle_prove_consistency(P, &ms, m, size, &got, &d), &d,
               "consistency");
            want.len = 0;
            if (m < size)
                subproof((const uint8_t(*)[32])leaf, m, 0, size, true,
                         &want);
            assert_int_equal(got.len, want.len);
            if (want.len)
                assert_memory_equal(got.hash, want.hash, 32 * want.len);
            mth((const uint8_t(*)[32])leaf, 0, m, old);
            assert_true(check_consistency(m, size, &got, old, root));
        }
        free(leaf);
        free(t.h);
    }
}

/* ---- the rules, each broken by one signed entry ---- */

/* What a forged entry says. */
struct spec {
    enum who who;
    const char *action, *unit, *lead, *from, *to, *transition;
    const char *workflow; /* the workflow line, or NULL */
    const char *clear[8][2]; /* sorted by name */
    const char *payload;
    size_t plen;               /* 0: strlen(payload) */
};

/*
 * Appends e, signed by its actor, to the store at path as its next entry,
 * with its tree hashes and (when cp) a checkpoint: a log that is whole
 * but for the rule the entry breaks.
 */
static void
append_as(const char *path, const struct spec *s, bool cp,
          const struct ql_key *key)
{
    const struct ql_key *signers[1] = {key ? key : B.k[s->who]};
    struct ql_store *st = NULL;
    struct ql_log *log = NULL;
    struct ql_key *lk = NULL;
    struct ql_entry e;
    struct ql_diag d;
    char kp[600];
    size_t i;

    snprintf(kp, sizeof kp, "%s.logkey", path);
    ql_entry_init(&e);
    ok(ql_store_open(path, 0, &st, &d), &d, "store");
    ok(ql_log_open(st, &log, &d), &d, "log");
    ok(ql_store_begin(st, &d), &d, "begin");
    snprintf(e.time, sizeof e.time, "2025-09-15T02:00:00Z");
    ok(ql_entry_set_actor(&e, key ? ql_key_name(key) : PEOPLE[s->who].name,
                          &d),
       &d, "actor");
    snprintf(e.action, sizeof e.action, "%s", s->action);
    snprintf(e.unit, sizeof e.unit, "%s", s->unit ? s->unit : "");
    snprintf(e.lead, sizeof e.lead, "%s", s->lead ? s->lead : "");
    snprintf(e.from, sizeof e.from, "%s", s->from ? s->from : "");
    snprintf(e.to, sizeof e.to, "%s", s->to ? s->to : "");
    snprintf(e.transition, sizeof e.transition, "%s",
             s->transition ? s->transition : "");
    snprintf(e.workflow, sizeof e.workflow, "%s",
             s->workflow ? s->workflow : "");
    for (i = 0; i < 8 && s->clear[i][0] != NULL; i++)
        ok(ql_entry_add_clear(&e, s->clear[i][0], s->clear[i][1], &d), &d,
           "clear");
    if (s->payload != NULL)
        ok(ql_entry_set_payload(&e, (const uint8_t *)s->payload,
                                s->plen ? s->plen : strlen(s->payload), &d),
           &d, "payload");
    ok(ql_log_append(log, &e, signers, 1, NULL, NULL, NULL, &d), &d,
       "append");
    if (cp) {
        ok(ql_keyfile_read(kp, NULL, 0, &lk, &d), &d, "log key");
        ok(ql_log_checkpoint(log, lk, NULL, &d), &d, "checkpoint");
    }
    ok(ql_store_commit(st, &d), &d, "commit");
    ql_key_free(lk);
    ql_entry_release(&e);
    ql_log_free(log);
    ql_store_close(st);
}

/* The same, signed by the entry's actor's key. */
static void
append(const char *path, const struct spec *s, bool cp)
{
    append_as(path, s, cp, NULL);
}

/* The library's verdict on the store at path. */
static ql_err
verify(const char *path, struct ql_audit_result *res, struct ql_diag *d)
{
    struct ql_county *c = NULL;
    ql_err rc;

    ok(ql_county_open(path, QL_COUNTY_READONLY, &c, d), d, "open");
    rc = ql_audit_verify(c, B.k[ADMIN], res, d);
    ql_county_close(c);
    return rc;
}

static void
expect_bad(const char *path, uint64_t index, const char *reason)
{
    struct ql_audit_result res;
    struct ql_diag d;
    ql_err rc = verify(path, &res, &d);

    print_message("  -> %s\n", d.msg);
    if (rc == QL_OK)
        fail_msg("the log verified; want '%s'", reason);
    assert_true(rc == QL_EINTEGRITY || rc == QL_EVERIFY);
    assert_int_equal(res.bad_index, index);
    if (strstr(d.msg, reason) == NULL)
        fail_msg("want '%s'; got '%s'", reason, d.msg);
}

static void
expect_good(const char *path, struct ql_audit_result *res)
{
    struct ql_diag d;

    ok(verify(path, res, &d), &d, "verify");
}

/* A workflow hash no version has. */
#define NEW_HASH                                                               \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

#define NOCLEAR                                                                \
    {                                                                          \
        {NULL, NULL}                                                           \
    }

static void
test_base_verifies(void **state)
{
    struct ql_audit_result res;

    (void)state;
    expect_good(B.base, &res);
    assert_int_equal(res.entries, B.n);
    assert_int_equal(res.leads, 4);
}

/* A table of signed entries that break a rule, each on a fresh copy. */
static void
test_rules(void **state)
{
    const struct {
        const char *name;
        struct spec s;
        const char *reason;
    } CASES[] = {
        {"registry by a non-administrator",
         {REG, "unit.add", "XX", NULL, NULL, NULL, NULL, NULL,
          {{"kind", "township"}, {"name", "某镇"}},
          NULL, 0},
         "a registry entry (unit.add) not signed by the administrator"},
        {"a second genesis",
         {ADMIN, "genesis", NULL, NULL, NULL, NULL, NULL, NULL, NOCLEAR,
          NULL, 0},
         "a second genesis entry"},
        {"an unknown action",
         {REG, "frobnicate", NULL, NULL, NULL, NULL, NULL, NULL, NOCLEAR,
          NULL, 0},
         "unknown action 'frobnicate'"},
        {"a unit added twice",
         {ADMIN, "unit.add", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"kind", "township"}, {"name", "某镇"}},
          NULL, 0},
         "adds unit LT a second time"},
        {"a unit of a bad kind",
         {ADMIN, "unit.add", "ZZ", NULL, NULL, NULL, NULL, NULL,
          {{"kind", "castle"}, {"name", "某镇"}},
          NULL, 0},
         "without a valid kind"},
        {"a revocation of nobody",
         {ADMIN, "principal.revoke", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"principal", "nobody"}},
          NULL, 0},
         "revokes 'nobody', who is not an active principal"},
        {"a workflow that does not load",
         {ADMIN, "workflow.add", NULL, NULL, NULL, NULL, NULL, NEW_HASH,
          {{"file", "x.lua"}, {"name", "test_flow"}},
          "return {}", 0},
         "registers a workflow that does not load"},
        {"a calendar that does not parse",
         {ADMIN, "calendar.set", NULL, NULL, NULL, NULL, NULL, NULL,
          {{"name", "x.cal"}},
          "this is not a calendar\n", 0},
         "sets a calendar that does not parse"},
        {"approval by the proposer",
         {BOTH, "lead.approve", "LT", B.pending, "TRIAGE", "ASSIGNED",
          "assign", B.wf_hash, {{"_proposal", NULL}},
          NULL, 0},
         "proposed 'assign' and may not also approve it"},
        {"distinct_from",
         {DUAL, "lead.move", "LT", B.reported, "REPORTED", "CLOSED",
          "approve_report", B.wf_hash, NOCLEAR, NULL, 0},
         "took 'report' on lead"},
        {"a transition from another state",
         {LT_HC, "lead.move", "LT", B.verifying, "ASSIGNED", "VERIFYING",
          "progress", B.wf_hash, NOCLEAR, NULL, 0},
         "says lead"},
        {"a transition to another state",
         {LT_HC, "lead.move", "LT", B.verifying, "VERIFYING", "CLOSED",
          "progress", B.wf_hash, NOCLEAR, NULL, 0},
         "but 'progress' leads to VERIFYING"},
        {"a transition the workflow lacks",
         {LT_HC, "lead.move", "LT", B.verifying, "VERIFYING", "CLOSED",
          "teleport", B.wf_hash, NOCLEAR, NULL, 0},
         "has no transition 'teleport'"},
        {"a transition that leaves no such state",
         {LT_LLY, "lead.move", "LT", B.verifying, "VERIFYING", "VERIFYING",
          "accept", B.wf_hash, NOCLEAR, NULL, 0},
         "does not leave state VERIFYING"},
        {"a move while a proposal waits",
         {TRI, "lead.move", "SH", B.pending, "TRIAGE", "MERGED", "merge",
          B.wf_hash, NOCLEAR, NULL, 0},
         "while proposal"},
        {"a transition from a state it does not leave",
         {TRI, "lead.move", "LT", B.reported, "REPORTED", "ASSIGNED",
          "assign", B.wf_hash, NOCLEAR, NULL, 0},
         "does not leave state REPORTED"},
        {"an approval-needing transition taken directly",
         {TRI, "lead.move", "LT", B.triaged, "TRIAGE", "ASSIGNED", "assign",
          B.wf_hash, NOCLEAR, NULL, 0},
         "takes 'assign' without the approval of a director"},
        {"a lead registered in an audit unit",
         {REG, "lead.add", "AU", "T-2025-9999", NULL, "NEW", NULL, B.wf_hash,
          NOCLEAR, NULL, 0},
         "which holds no leads"},
        {"a lead registered by a role that may not",
         {LT_HC, "lead.add", "LT", "T-2025-9998", NULL, "NEW", NULL, B.wf_hash,
          NOCLEAR, NULL, 0},
         "'LT-hc-01' holds no role that may register leads"},
        {"a lead registered outside the initial state",
         {REG, "lead.add", "SH", "T-2025-9997", NULL, "CLOSED", NULL, B.wf_hash,
          NOCLEAR, NULL, 0},
         "not in the workflow's initial state NEW"},
        {"a lead registered twice",
         {REG, "lead.add", "SH", B.verifying, NULL, "NEW", NULL, B.wf_hash,
          NOCLEAR, NULL, 0},
         "a second time"},
        {"a lead on an unregistered workflow",
         {REG, "lead.add", "SH", "T-2025-9996", NULL, "NEW", NULL, NULL,
          NOCLEAR, NULL, 0},
         "which is not registered"},
        {"a lead never registered",
         {LT_HC, "lead.move", "LT", "T-2025-0777", "VERIFYING", "VERIFYING",
          "progress", B.wf_hash, NOCLEAR, NULL, 0},
         "which was never registered"},
        {"the administrator handling a lead",
         {ADMIN, "lead.move", "LT", B.verifying, "VERIFYING", "VERIFYING",
          "progress", B.wf_hash, NOCLEAR, NULL, 0},
         "the administrator does not handle leads"},
        {"a migration by a principal",
         {DIR, "lead.migrate", "LT", B.verifying, "VERIFYING", "VERIFYING",
          NULL, B.wf_hash, NOCLEAR, NULL, 0},
         "only the administrator migrates leads"},
        {"a migration to no other version",
         {ADMIN, "lead.migrate", "LT", B.verifying, "VERIFYING", "VERIFYING",
          NULL, B.wf_hash, {{"_from_workflow", NULL}},
          NULL, 0},
         "which is not another registered version"},
        {"a rejection by a third person",
         {QY_LLY, "lead.reject", "SH", B.pending, "TRIAGE", "TRIAGE",
          "assign", B.wf_hash, {{"_proposal", NULL}},
          NULL, 0},
         "may not decline 'assign'"},
        {"an approval with fields its proposal did not make",
         {DIR, "lead.approve", "LT", B.pending, "TRIAGE", "ASSIGNED",
          "assign", B.wf_hash,
          {{"_proposal", NULL}, {"due_at", "2026-06-30"},
           {"handling_unit", "LT"}},
          NULL, 0},
         "with clear fields its proposal (entry"},
        {"an approval to a unit its field does not name",
         {DIR, "lead.approve", "QY", B.pending, "TRIAGE", "ASSIGNED",
          "assign", B.wf_hash,
          {{"_proposal", NULL}, {"due_at", "2025-10-30"},
           {"handling_unit", "LT"}},
          NULL, 0},
         "moves lead T-2025-0002 to unit QY, but its field 'handling_unit' "
         "names LT"},
        {"a sealed field written in clear",
         {LT_HC, "lead.move", "LT", B.verifying, "VERIFYING", "VERIFYING",
          "progress", B.wf_hash, {{"detail", "举报人所述不属实"}}, NULL, 0},
         "writes field 'detail' of lead T-2025-0001 in clear, which "
         "workflow 'test_flow' seals"},
        {"a field the workflow does not have",
         {LT_HC, "lead.move", "LT", B.verifying, "VERIFYING", "VERIFYING",
          "progress", B.wf_hash, {{"zzz", "x"}}, NULL, 0},
         "which workflow 'test_flow' does not have"},
        {"a finding off the workflow's list",
         {LT_HC, "lead.move", "LT", B.verifying, "VERIFYING", "REPORTED",
          "report", B.wf_hash, {{"finding", "查否 "}}, NULL, 0},
         "field 'finding' of lead T-2025-0001:"},
        {"a registration with a source off the list",
         {REG, "lead.add", "SH", "T-2025-9996", NULL, "NEW", NULL, B.wf_hash,
          {{"source", "其他"}}, NULL, 0},
         "field 'source' of lead T-2025-9996:"},
        {"a merge into a lead never registered",
         {TRI, "lead.move", "SH", B.triaged, "TRIAGE", "MERGED", "merge",
          B.wf_hash, {{"master_lead", "T-2099-9999"}}, NULL, 0},
         "into 'T-2099-9999', which is no other registered lead"},
        {"a merge into itself",
         {TRI, "lead.move", "SH", B.triaged, "TRIAGE", "MERGED", "merge",
          B.wf_hash, {{"master_lead", B.triaged}}, NULL, 0},
         "which is no other registered lead"},
        {"an approval of another proposal",
         {DIR, "lead.approve", "LT", B.pending, "TRIAGE", "ASSIGNED",
          "assign", B.wf_hash, {{"_proposal", "3"}},
          NULL, 0},
         "but the waiting one is"},
        {"a grant to someone who may not read the unit",
         {LT_HC, "grant", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"epoch", "1"},
           {"fingerprint",
            "0000000000000000000000000000000000000000000000000000000000000000"},
           {"recipients", "QY-lly-01"}},
          "\x00\x01x", 3},
         "who may not read it"},
        {"a grant by the administrator",
         {ADMIN, "grant", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"epoch", "1"},
           {"fingerprint",
            "0000000000000000000000000000000000000000000000000000000000000000"},
           {"recipients", "LT-hc-01"}},
          "\x00\x01x", 3},
         "a grant by the administrator"},
        {"a grant of another key for an epoch",
         {LT_HC, "grant", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"epoch", "1"},
           {"fingerprint",
            "1111111111111111111111111111111111111111111111111111111111111111"},
           {"recipients", "LT-hc-01"}},
          "\x00\x01x", 3},
         "grants another key for unit LT epoch 1"},
        {"a grant of an epoch too far",
         {LT_HC, "grant", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"epoch", "9"},
           {"fingerprint",
            "1111111111111111111111111111111111111111111111111111111111111111"},
           {"recipients", "LT-hc-01"}},
          "\x00\x01x", 3},
         "neither its current epoch"},
        {"grants that do not match their recipients",
         {LT_HC, "grant", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"epoch", "1"},
           {"fingerprint",
            "1111111111111111111111111111111111111111111111111111111111111111"},
           {"recipients", "LT-hc-01 LT-lly-01"}},
          "\x00\x01x", 3},
         "grants do not match their recipients"},
        {"a commitment signed by another unit's head",
         {HEAD, "commit.sign", "QY", NULL, NULL, NULL, NULL, NULL,
          {{"cycle", "2025"}},
          NULL, 0},
         "'LT-head-01' is not the head of unit QY"},
        {"a declaration by a non-head",
         {LT_HC, "commit.declare", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"checkpoint_root", "x"}, {"checkpoint_size", "1"}},
          NULL, 0},
         "is not the head of unit LT"},
        {"a commitment without a cut-off",
         {HEAD, "commit.sign", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"cycle", "2025Q3"}, {"deadline", "2025-09-30"}},
          NULL, 0},
         "a commitment without a valid cycle and cut-off"},
        {"a commitment whose deadline is before its cut-off",
         {HEAD, "commit.sign", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"cutoff", "2025-09-30"}, {"cycle", "2025Q3"},
           {"deadline", "2025-09-29"}, {"text", "承诺"}},
          NULL, 0},
         "a commitment without a valid deadline on or after its cut-off"},
        {"a commitment without a deadline",
         {HEAD, "commit.sign", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"cutoff", "2025-09-30"}, {"cycle", "2025Q3"}, {"text", "承诺"}},
          NULL, 0},
         "a commitment without a valid deadline on or after its cut-off"},
        {"a commitment without its text",
         {HEAD, "commit.sign", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"cutoff", "2025-09-01"}, {"cycle", "2025Q3"},
           {"deadline", "2025-09-30"}},
          NULL, 0},
         "a commitment without its text"},
        {"a commitment signed after its deadline",
         {HEAD, "commit.sign", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"cutoff", "2025-08-01"}, {"cycle", "2025Q3"},
           {"deadline", "2025-09-14"}, {"text", "承诺"}},
          NULL, 0},
         "a commitment signed after its deadline 2025-09-14"},
        {"an action of no commitment step",
         {HEAD, "commit.frob", "LT", NULL, NULL, NULL, NULL, NULL, NOCLEAR,
          NULL, 0},
         "unknown action 'commit.frob'"},
        {"a verification of a commitment never signed",
         {INSP, "commit.verify", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"cycle", "2025Q3"}, {"declaration", "3"}},
          NULL, 0},
         "a commit.verify for the commitment of unit LT for 2025Q3, which "
         "was never signed"},
        {"a declaration of a commitment never signed",
         {HEAD, "commit.declare", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"cycle", "2025"}},
          NULL, 0},
         "a commit.declare for the commitment of unit LT for 2025, which "
         "was never signed"},
        {"a unit without a code",
         {ADMIN, "unit.add", NULL, NULL, NULL, NULL, NULL, NULL,
          {{"kind", "township"}, {"name", "某镇"}},
          NULL, 0},
         "adds a unit without a valid code"},
        {"a principal without a key",
         {ADMIN, "principal.add", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"roles", "liaison"}},
          NULL, 0},
         "registers a principal without a key and roles"},
        {"a principal with an empty role",
         {ADMIN, "principal.add", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"key", "x"}, {"roles", "liaison,,verifier"}},
          NULL, 0},
         "with roles the registry refuses: empty role in "
         "'liaison,,verifier'"},
        {"a principal with a role that is no name",
         {ADMIN, "principal.add", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"key", "x"}, {"roles", "Liaison"}},
          NULL, 0},
         "with roles the registry refuses: invalid role 'Liaison'"},
        {"a principal with a malformed key",
         {ADMIN, "principal.add", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"key", "x+00000000+AAAA"}, {"roles", "liaison"}},
          NULL, 0},
         "registers a malformed key"},
        {"a principal in no unit",
         {ADMIN, "principal.add", "ZZ", NULL, NULL, NULL, NULL, NULL,
          {{"key", NULL}, {"roles", "liaison"}},
          NULL, 0},
         "in unknown unit 'ZZ'"},
        {"a principal registered twice",
         {ADMIN, "principal.add", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"key", "LT-hc-01"}, {"roles", "liaison"}},
          NULL, 0},
         "registers the name 'LT-hc-01' a second time"},
        {"a revocation under another unit",
         {ADMIN, "principal.revoke", "QY", NULL, NULL, NULL, NULL, NULL,
          {{"principal", "LT-hc-01"}},
          NULL, 0},
         "revokes 'LT-hc-01' of unit LT under unit QY"},
        {"a workflow without its source",
         {ADMIN, "workflow.add", NULL, NULL, NULL, NULL, NULL, NEW_HASH,
          {{"name", "test_flow"}},
          NULL, 0},
         "registers a workflow without its source and hash"},
        {"a workflow registered twice",
         {ADMIN, "workflow.add", NULL, NULL, NULL, NULL, NULL, B.wf_hash,
          {{"name", "test_flow"}},
          "return {}", 0},
         "a second time"},
        {"a calendar without its text",
         {ADMIN, "calendar.set", NULL, NULL, NULL, NULL, NULL, NULL,
          {{"name", "x.cal"}},
          NULL, 0},
         "sets a calendar without its text"},
        {"a grant of an unknown unit",
         {LT_HC, "grant", "ZZ", NULL, NULL, NULL, NULL, NULL,
          {{"epoch", "1"}},
          "\x00\x01x", 3},
         "grants a key of unknown unit 'ZZ'"},
        {"a grant without an epoch",
         {LT_HC, "grant", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"recipients", "LT-hc-01"}},
          "\x00\x01x", 3},
         "a grant without a valid epoch"},
        {"a grant to a revoked or unknown principal",
         {LT_HC, "grant", "LT", NULL, NULL, NULL, NULL, NULL,
          {{"epoch", "1"},
           {"fingerprint",
            "1111111111111111111111111111111111111111111111111111111111111111"},
           {"recipients", "nobody"}},
          "\x00\x01x", 3},
         "who is not an active principal"},
        {"a grant by someone who does not hold the key",
         {LT_LLY, "grant", "SH", NULL, NULL, NULL, NULL, NULL,
          {{"epoch", "2"},
           {"fingerprint",
            "1111111111111111111111111111111111111111111111111111111111111111"},
           {"recipients", "sh-dengji-01"}},
          "\x00\x01x", 3},
         "'LT-lly-01' grants unit SH's key, which they do not hold"},
        {"a move to another unit without assigning",
         {LT_HC, "lead.move", "QY", B.verifying, "VERIFYING", "VERIFYING",
          "progress", B.wf_hash, NOCLEAR, NULL, 0},
         "but 'progress' does not assign"},
        {"an assignment to a unit that handles no leads",
         {DIR, "lead.approve", "AU", B.pending, "TRIAGE", "ASSIGNED",
          "assign", B.wf_hash, {{"_proposal", NULL}, {"due_at", "2025-10-30"},
           {"handling_unit", "LT"}},
          NULL, 0},
         "assigns lead T-2025-0002 to unit AU, which handles no leads"},
        {"a proposal for the wrong approving role",
         {TRI, "lead.propose", "SH", B.triaged, "TRIAGE", "ASSIGNED",
          "assign", B.wf_hash, {{"_approval", "triage"}},
          NULL, 0},
         "proposes 'assign' for approval by 'triage'"},
        {"a proposal that moves the lead",
         {TRI, "lead.propose", "LT", B.triaged, "TRIAGE", "ASSIGNED",
          "assign", B.wf_hash, {{"_approval", "director"}},
          NULL, 0},
         "a proposal moves lead"},
        {"an approval with nothing waiting",
         {DIR, "lead.approve", "LT", B.triaged, "TRIAGE", "ASSIGNED",
          "assign", B.wf_hash, {{"_proposal", "1"}},
          NULL, 0},
         "which has none waiting"},
        {"an approval without the approving role",
         {TRI, "lead.approve", "LT", B.pending, "TRIAGE", "ASSIGNED",
          "assign", B.wf_hash, {{"_proposal", NULL}},
          NULL, 0},
         "does not hold role 'director' that approves 'assign'"},
        {"an approval from another state",
         {DIR, "lead.approve", "LT", B.pending, "NEW", "ASSIGNED", "assign",
          B.wf_hash, {{"_proposal", NULL}},
          NULL, 0},
         "approves 'assign' from state NEW"},
        {"an approval to another state",
         {DIR, "lead.approve", "LT", B.pending, "TRIAGE", "CLOSED", "assign",
          B.wf_hash, {{"_proposal", NULL}},
          NULL, 0},
         "but 'assign' leads to ASSIGNED"},
        {"a rejection that moves the lead",
         {BOTH, "lead.reject", "SH", B.pending, "TRIAGE", "CLOSED", "assign",
          B.wf_hash, {{"_proposal", NULL}},
          NULL, 0},
         "a rejection changes lead"},
        {"a migration while a proposal waits",
         {ADMIN, "lead.migrate", "SH", B.pending, "TRIAGE", "TRIAGE", NULL,
          NEW_HASH, {{"_from_workflow", NULL}},
          NULL, 0},
         "while a proposal waits"},
        {"a migration from another version",
         {ADMIN, "lead.migrate", "LT", B.verifying, "VERIFYING", "VERIFYING",
          NULL, NEW_HASH, {{"_from_workflow", NEW_HASH}},
          NULL, 0},
         "migrates lead T-2025-0001 from workflow"},
        {"a lead entry without a lead",
         {LT_HC, "lead.move", "LT", NULL, "VERIFYING", "VERIFYING",
          "progress", B.wf_hash, NOCLEAR, NULL, 0},
         "a lead.move entry that names no lead"},
        {"an entry on another workflow version",
         {LT_HC, "lead.move", "LT", B.verifying, "VERIFYING", "VERIFYING",
          "progress", NEW_HASH, NOCLEAR, NULL, 0},
         "names workflow aaaa"},
        {"a commitment by the administrator",
         {ADMIN, "commit.sign", "LT", NULL, NULL, NULL, NULL, NULL, NOCLEAR,
          NULL, 0},
         "the administrator makes no commitments"},
        {"a sample by a non-inspector",
         {LT_HC, "commit.sample", "LT", NULL, NULL, NULL, NULL, NULL,
          NOCLEAR, NULL, 0},
         "may not draw a spot-check sample"},
        {"a verification by a non-inspector",
         {DIR, "commit.verify", "LT", NULL, NULL, NULL, NULL, NULL,
          NOCLEAR, NULL, 0},
         "is not an inspector of a supervision unit"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char *db = copy_base("rule.db");
        struct spec s = CASES[i].s;
        char num[24], *vkey = NULL;
        size_t j;

        print_message("%s\n", CASES[i].name);
        /* Fill in what only the base knows. */
        for (j = 0; j < 8 && s.clear[j][0] != NULL; j++) {
            if (strcmp(s.clear[j][0], "_proposal") == 0 &&
                s.clear[j][1] == NULL) {
                snprintf(num, sizeof num, "%llu",
                         (unsigned long long)B.pending_idx);
                s.clear[j][1] = num;
            }
            if (strcmp(s.clear[j][0], "_from_workflow") == 0 &&
                s.clear[j][1] == NULL)
                s.clear[j][1] = B.wf_hash;
            if (strcmp(s.clear[j][0], "key") == 0 &&
                (s.clear[j][1] == NULL ||
                 strcmp(s.clear[j][1], "LT-hc-01") == 0)) {
                struct ql_diag d;

                free(vkey);
                vkey = NULL;
                ok(ql_key_vkey(B.k[s.clear[j][1] ? LT_HC : MALLORY], 0, &vkey,
                               &d),
                   &d, "vkey");
                s.clear[j][1] = vkey;
            }
        }
        append(db, &s, true);
        expect_bad(db, B.n, CASES[i].reason);
        free(vkey);
        free(db);
    }
}

/*
 * The verifier's table of leads on its own: more leads than any growth
 * step, each found again with its values, absent ids not found, a bound
 * on the bytes a lead costs, and side records that come, go and are
 * reused without carrying anything over.
 */
static void
test_lead_table(void **state)
{
    const uint32_t n = 100000;
    struct audit_leads *t = NULL;
    struct audit_lead rec;
    const struct audit_lead *l;
    struct audit_lead_side *x = NULL;
    struct ql_wf_transition tr;
    struct ql_diag d;
    char id[32];
    uint32_t i, at = 0;
    uint64_t bytes;

    (void)state;
    memset(&tr, 0, sizeof tr);
    ok(audit_leads_new(&t, &d), &d, "new");
    assert_false(audit_leads_find(t, "T-0", &at));
    for (i = 0; i < n; i++) {
        memset(&rec, 0, sizeof rec);
        rec.unit = i % 101;
        rec.wf = (uint16_t)(i % 3);
        rec.state = (uint16_t)(i % 7);
        rec.side = 99; /* ignored: a new lead has no side record */
        snprintf(id, sizeof id, "T-%u", i);
        ok(audit_leads_add(t, id, &rec, &at, &d), &d, "add");
        assert_int_equal(at, i);
    }
    assert_int_equal(audit_leads_count(t), n);
    for (i = 0; i < n; i++) {
        snprintf(id, sizeof id, "T-%u", i);
        assert_true(audit_leads_find(t, id, &at));
        assert_int_equal(at, i);
        assert_string_equal(audit_leads_id(t, at), id);
        l = audit_leads_at(t, at);
        assert_int_equal(l->unit, i % 101);
        assert_int_equal(l->wf, i % 3);
        assert_int_equal(l->state, i % 7);
        assert_null(audit_leads_side(t, at));
        snprintf(id, sizeof id, "U-%u", i);
        assert_false(audit_leads_find(t, id, &at));
    }
    /* What docs/auditing.md promises: under 64 bytes a lead, the
       doubling's slack included. */
    bytes = audit_leads_bytes(t);
    print_message("  %u leads: %llu bytes, %.1f a lead\n", n,
                  (unsigned long long)bytes, (double)bytes / n);
    assert_true(bytes <= (uint64_t)n * 64);
    assert_int_equal(sizeof(struct audit_lead), 28);

    /* A last index past 32 bits survives its two halves. */
    audit_lead_set_last(audit_leads_at(t, 3), UINT64_C(0x123456789a));
    assert_true(audit_lead_last(audit_leads_at(t, 3)) ==
                UINT64_C(0x123456789a));
    assert_int_equal(audit_leads_at(t, 3)->unit, 3);
    assert_int_equal(audit_leads_at(t, 4)->unit, 4);

    /* Sorted by id in byte order: "T-10" before "T-9", and so on. */
    {
        uint32_t some[6] = {9, 10, 0, 99999, 1, 100};
        static const char *const WANT[6] = {"T-0",  "T-1",     "T-10",
                                            "T-100", "T-9", "T-99999"};

        audit_leads_sort(t, some, 6);
        for (i = 0; i < 6; i++)
            assert_string_equal(audit_leads_id(t, some[i]), WANT[i]);
        audit_leads_sort(t, some, 0);
    }

    /* A proposal makes a side record; distinct_from actors another. */
    ok(audit_leads_side_get(t, 5, &x, &d), &d, "side");
    x->pending_t = &tr;
    x->pending_idx = 77;
    x->proposer = 3;
    ok(audit_leads_took_add(t, 7, "report", 3, &d), &d, "took");
    ok(audit_leads_took_add(t, 7, "report", 3, &d), &d, "took again");
    ok(audit_leads_took_add(t, 7, "report", 4, &d), &d, "took by another");
    assert_int_equal(audit_leads_side(t, 7)->ntook, 2);
    assert_int_equal(audit_leads_sides(t), 2);
    /* A waiting proposal keeps its record; a settled one lets it go. */
    audit_leads_side_trim(t, 5);
    assert_non_null(audit_leads_side(t, 5));
    assert_int_equal(audit_leads_side(t, 5)->pending_idx, 77);
    audit_leads_side(t, 5)->pending_t = NULL;
    audit_leads_side_trim(t, 5);
    assert_null(audit_leads_side(t, 5));
    assert_int_equal(audit_leads_sides(t), 1);
    /* The next lead to need one takes the slot, empty. */
    ok(audit_leads_side_get(t, 9, &x, &d), &d, "side again");
    assert_null(x->pending_t);
    assert_int_equal(x->pending_idx, 0);
    assert_int_equal(x->ntook, 0);
    assert_int_equal(audit_leads_sides(t), 2);
    assert_null(audit_leads_side(t, 5));
    /* Who took what is kept for good. */
    audit_leads_side_trim(t, 7);
    assert_non_null(audit_leads_side(t, 7));
    audit_leads_side_trim(t, 9);
    assert_null(audit_leads_side(t, 9));
    audit_leads_free(t);
    audit_leads_free(NULL);
}

/*
 * The verdict of ql_audit_run on the store at path with this many jobs,
 * trusting trust's key.
 */
static ql_err
verify_trust(const char *path, const struct ql_key *trust, unsigned jobs,
             struct ql_audit_result *res, struct ql_diag *d)
{
    struct ql_audit_source *src = NULL;
    struct ql_audit_opts o;
    ql_err rc;

    ok(ql_audit_source_open(path, &src, d), d, "source");
    memset(&o, 0, sizeof o);
    o.trust = trust;
    o.jobs = jobs;
    rc = ql_audit_run(src, NULL, &o, res, d);
    ql_audit_source_free(src);
    return rc;
}

/* The same, trusting the base county's administrator. */
static ql_err
verify_jobs(const char *path, unsigned jobs, struct ql_audit_result *res,
            struct ql_diag *d)
{
    return verify_trust(path, B.k[ADMIN], jobs, res, d);
}

/* A copy of the store at from (and its log key) as dir/name. */
static char *
copy_store(const char *from, const char *name)
{
    char *p = qlt_join(B.dir, name);
    char a[600], b[600];

    copy_file(from, p);
    snprintf(a, sizeof a, "%s.logkey", from);
    snprintf(b, sizeof b, "%s.logkey", p);
    copy_file(a, b);
    return p;
}

/*
 * Replaces a byte of entry k's lead id in the store at path and stores
 * the matching leaf hash: an entry whose signature alone can tell.
 */
static void
forge_entry(const char *path, uint64_t k, const char *lead)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    uint8_t leaf[32];
    char *note, *at;
    int len;

    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "DROP TRIGGER entries_no_update", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT note FROM entries WHERE "
                                        "idx = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)k);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    len = sqlite3_column_bytes(st, 0);
    note = malloc((size_t)len + 1);
    assert_non_null(note);
    memcpy(note, sqlite3_column_blob(st, 0), (size_t)len);
    note[len] = '\0';
    sqlite3_finalize(st);
    at = strstr(note, lead);
    assert_non_null(at);
    at[strlen(lead) - 1] = at[strlen(lead) - 1] == '9' ? '8' : '9';
    ql_merkle_leaf_hash(ql_profile_default(), leaf, note, (size_t)len);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "UPDATE entries SET note = ?1, "
                                        "leaf_hash = ?2 WHERE idx = ?3",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, note, len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, leaf, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)k);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(h);
    free(note);
}

/*
 * A log with more leads than the verifier's table holds before it grows
 * (several times over), where late leads go through a proposal that is
 * approved (its side record comes and goes) and one that waits in the
 * freed slot: it verifies with one job and two; a forged or changed entry
 * on a late or early lead fails at its own index, with the same reason
 * either way.
 */
static void
test_many_leads(void **state)
{
    struct ql_wf_kv add[2] = {{"source", "群众举报"}, {"summary", "测试"}};
    struct ql_wf_kv asg[2] = {{"handling_unit", "LT"},
                              {"due_at", "2025-10-30"}};
    char first[QL_ENTRY_WORD_MAX + 1], settled[QL_ENTRY_WORD_MAX + 1];
    char waiting[QL_ENTRY_WORD_MAX + 1], last[QL_ENTRY_WORD_MAX + 1];
    char *db = copy_base("many.db"), num[24];
    struct ql_audit_result res;
    struct ql_county *c = open_county(db);
    uint64_t n, waiting_idx, last_idx, first_idx = 0;
    struct ql_diag d;
    unsigned jobs;
    size_t i, k;

    (void)state;
    as(c, REG);
    ok(ql_county_batch_begin(c, &d), &d, "batch");
    for (i = 0; i < 2500; i++) {
        if (i == 0)
            first_idx = size_of(c);
        ok(ql_lead_add(c, "test_flow", "SH", add, 2, i == 0 ? first : last,
                       &d),
           &d, "add");
    }
    assigned_lead(c, settled);
    as(c, REG);
    ok(ql_lead_add(c, "test_flow", "SH", add, 2, waiting, &d), &d, "add");
    as(c, TRI);
    ok(ql_lead_move(c, waiting, "triage", NULL, 0, NULL, NULL, &d), &d,
       "triage");
    waiting_idx = size_of(c);
    ok(ql_lead_move(c, waiting, "assign", asg, 2, NULL, NULL, &d), &d,
       "propose");
    as(c, REG);
    last_idx = size_of(c);
    ok(ql_lead_add(c, "test_flow", "SH", add, 2, last, &d), &d, "add");
    ok(ql_county_batch_commit(c, &d), &d, "commit");
    n = size_of(c);
    ql_county_close(c);
    snprintf(num, sizeof num, "%llu", (unsigned long long)waiting_idx);
    for (jobs = 1; jobs <= 2; jobs++) {
        ok(verify_jobs(db, jobs, &res, &d), &d, "verify");
        assert_int_equal(res.entries, n);
        assert_int_equal(res.leads, 4 + 2500 + 3);
    }
    {
        const struct {
            const char *name;
            struct spec s;
            bool good;
            const char *reason;
        } CASES[] = {
            {"the waiting proposal approved",
             {DIR, "lead.approve", "LT", waiting, "TRIAGE", "ASSIGNED",
              "assign", B.wf_hash,
              {{"_proposal", num}, {"due_at", "2025-10-30"},
               {"handling_unit", "LT"}},
              NULL, 0},
             true, NULL},
            {"an approval of a settled proposal, in its freed slot",
             {DIR, "lead.approve", "LT", settled, "TRIAGE", "ASSIGNED",
              "assign", B.wf_hash, {{"_proposal", num}}, NULL, 0},
             false, "which has none waiting"},
            {"the last lead moved from a state it is not in",
             {TRI, "lead.move", "SH", last, "TRIAGE", "TRIAGE", "triage",
              B.wf_hash, NOCLEAR, NULL, 0},
             false, "was in state TRIAGE, but it was in NEW"},
            {"the first lead registered again",
             {REG, "lead.add", "SH", first, NULL, "NEW", NULL, B.wf_hash,
              NOCLEAR, NULL, 0},
             false, "a second time"},
        };

        for (k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
            char *bad = copy_store(db, "many-bad.db");

            print_message("%s\n", CASES[k].name);
            append(bad, &CASES[k].s, true);
            for (jobs = 1; jobs <= 2; jobs++) {
                ql_err rc = verify_jobs(bad, jobs, &res, &d);

                if (CASES[k].good) {
                    ok(rc, &d, "verify");
                    assert_int_equal(res.entries, n + 1);
                    continue;
                }
                print_message("  -> %s\n", d.msg);
                assert_int_equal(rc, QL_EINTEGRITY);
                assert_int_equal(res.bad_index, n);
                if (strstr(d.msg, CASES[k].reason) == NULL)
                    fail_msg("want '%s'; got '%s'", CASES[k].reason, d.msg);
            }
            free(bad);
        }
    }
    /* A changed entry, its leaf hash made to match: only its signature
       tells, at its own index, early or late in the log. */
    for (k = 0; k < 2; k++) {
        char *bad = copy_store(db, "many-bad.db");
        uint64_t at = k == 0 ? last_idx : first_idx;
        char want[64];

        forge_entry(bad, at, k == 0 ? last : first);
        snprintf(want, sizeof want, "entry %llu: bad signature by '%s'",
                 (unsigned long long)at, PEOPLE[REG].name);
        for (jobs = 1; jobs <= 2; jobs++) {
            assert_int_equal(verify_jobs(bad, jobs, &res, &d), QL_EVERIFY);
            print_message("  -> %s\n", d.msg);
            assert_int_equal(res.bad_index, at);
            if (strstr(d.msg, want) == NULL)
                fail_msg("want '%s'; got '%s'", want, d.msg);
        }
        free(bad);
    }
    free(db);
}

/* A workflow version whose source is not the one its hash names. */
static void
test_workflow_hash(void **state)
{
    char *db = copy_base("wf.db"), *wf_path = qlt_data_path("wf_test.lua");
    size_t len;
    char *src = qlt_read_file(wf_path, &len), *changed = malloc(len + 32);
    struct spec s = {ADMIN, "workflow.add", NULL, NULL, NULL, NULL, NULL,
                     NEW_HASH, {{"file", "x.lua"}, {"name", "test_flow"}},
                     NULL, 0};

    (void)state;
    memcpy(changed, src, len);
    memcpy(changed + len, "\n-- changed\n", 13);
    s.payload = changed;
    s.plen = len + 12;
    append(db, &s, true);
    expect_bad(db, B.n, "but its source hashes to");
    free(changed);
    free(src);
    free(wf_path);
    free(db);
}

/* The lowercase hex SHA-256 of the len bytes at m. */
static void
sha_hex(const void *m, size_t len, char hex[65])
{
    uint8_t h[32];

    ql_hash(ql_profile_default(), h, m, len);
    ql_hex_encode(hex, h, sizeof h);
}

/*
 * The scope of unit u as the commitment module states it, from the
 * status of the county at c (cycle 2025Q3), checked against its own
 * lines: "<id> <last entry>\n" of the in-scope leads, sorted by id.
 * With omit, the hash leaves out the in-scope lead numbered omit.
 */
static void
unit_scope(struct ql_county *c, const char *u, size_t omit, char hash[65],
           size_t *count)
{
    struct ql_status *st = NULL;
    const struct ql_status_unit *su;
    char buf[8192];
    size_t i, at = 0, k = 0;
    struct ql_diag d;

    ok(ql_status_compute(c, "2025Q3", u, &st, &d), &d, "status");
    su = ql_status_unit(st, u);
    for (i = 0; i < su->nlead; i++) {
        if (!su->lead[i].in_scope)
            continue;
        if (k++ == omit)
            continue;
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s %llu\n",
                               su->lead[i].id,
                               (unsigned long long)su->lead[i].last_idx);
    }
    assert_true(at < sizeof buf);
    sha_hex(buf, at, hash);
    if (omit == SIZE_MAX) {
        /* The writer's own hash agrees when nothing is left out. */
        if (*su->scope_hash != '\0')
            assert_string_equal(su->scope_hash, hash);
        assert_int_equal(su->in_scope, k);
    }
    *count = k;
    ql_status_free(st);
}

/* Unit LT's commitment for 2025Q3 with this cut-off, appended to db. */
static void
sign_lt(const char *db, const char *cutoff)
{
    struct spec s = {HEAD, "commit.sign", "LT", NULL, NULL, NULL, NULL, NULL,
                     {{"cutoff", cutoff},
                      {"cycle", "2025Q3"},
                      {"deadline", "2025-09-30"},
                      {"text", "承诺"}},
                     NULL, 0};

    append(db, &s, true);
}

/* Sets s's clear lines from a NULL-terminated list of names and values. */
static void
set_clear(struct spec *s, const char *const *kv)
{
    size_t i;

    memset(s->clear, 0, sizeof s->clear);
    for (i = 0; kv[2 * i] != NULL; i++) {
        assert_true(i < sizeof s->clear / sizeof s->clear[0]);
        s->clear[i][0] = kv[2 * i];
        s->clear[i][1] = kv[2 * i + 1];
    }
}

/* The root of db's first n entries, in base64. */
static void
root_at(const char *db, uint64_t n, char out[64])
{
    struct ql_county *c = open_county(db);
    struct ql_diag d;
    uint8_t root[32];

    ok(ql_log_root(ql_county_log(c), n, root, &d), &d, "root");
    b64(out, root);
    ql_county_close(c);
}

/*
 * Unit LT's commitment (cut-off cutoff) appended to a fresh copy of the
 * base, and the declaration s binding the root the log has then (the
 * commitment included); returns the copy.
 */
static char *
declared(const char *cutoff, struct spec *s, char r64[64], char size_s[24])
{
    char *db = copy_base("declare.db");

    sign_lt(db, cutoff);
    root_at(db, B.n + 1, r64);
    snprintf(size_s, 24, "%llu", (unsigned long long)(B.n + 1));
    s->clear[0][1] = r64;
    s->clear[1][1] = size_s;
    return db;
}

/*
 * The declaration's bound checkpoint (the log's root at that size, which
 * must hold its commitment) and its scope; a sample's seed the same way
 * (a checkpoint past the declaration), its population and its draw; a
 * verification's sample.
 */
static void
test_declarations(void **state)
{
    char *db = copy_base("declare.db");
    struct ql_audit_result res;
    char r64[64], wrong[64], size_s[24], beyond[24], decl_s[24];
    char seed64[64], seed_s[24], early64[64], early_s[24], smp_s[24];
    char hash[65], count_s[24], empty[65];
    struct ql_county *c = open_county(db);
    size_t count = 0;
    struct spec s = {HEAD, "commit.declare", "LT", NULL, NULL, NULL, NULL,
                     NULL, {{NULL, NULL}}, NULL, 0};
    struct spec smp = {INSP, "commit.sample", "LT", NULL, NULL, NULL, NULL,
                       NULL, {{NULL, NULL}}, NULL, 0};
    struct spec ver = {INSP, "commit.verify", "LT", NULL, NULL, NULL, NULL,
                       NULL, {{NULL, NULL}}, NULL, 0};

    (void)state;
    /* LT holds L1 and L3; nothing of the commitment changes them. */
    unit_scope(c, "LT", SIZE_MAX, hash, &count);
    assert_int_equal(count, 2);
    ql_county_close(c);
    free(db);
    sha_hex("", 0, empty);
    snprintf(beyond, sizeof beyond, "%llu", (unsigned long long)(B.n + 2));
    snprintf(count_s, sizeof count_s, "%zu", count);
    snprintf(decl_s, sizeof decl_s, "%llu", (unsigned long long)(B.n + 1));
    snprintf(smp_s, sizeof smp_s, "%llu", (unsigned long long)(B.n + 2));
    {
        const char *const declare_lines[] = {
            "checkpoint_root", "", "checkpoint_size", "", "cycle", "2025Q3",
            "scope_hash", hash, "scope_leads", count_s, NULL};

        set_clear(&s, declare_lines);
    }
    db = declared("2025-09-30", &s, r64, size_s);
    append(db, &s, true);
    expect_good(db, &res);
    assert_int_equal(res.declarations, 1);
    /* A sample of it, seeded by the root the log has after the
       declaration: no state of test_flow is one a spot_pass leaves, so
       its population is empty. */
    root_at(db, B.n + 2, seed64);
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)(B.n + 2));
    root_at(db, B.n + 1, early64);
    snprintf(early_s, sizeof early_s, "%llu", (unsigned long long)(B.n + 1));
    memcpy(wrong, seed64, sizeof wrong);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    {
        const char *const sample_lines[] = {
            "cycle",      "2025Q3", "declaration",     decl_s,
            "leads",      "",       "mandatory",       "",
            "population", "0",      "population_hash", empty,
            "seed_root",  seed64,   "seed_size",       seed_s,
            NULL};
        const char *const verify_lines[] = {
            "cycle",       "2025Q3", "declaration", decl_s,
            "sample",      smp_s,    "scope_hash",  hash,
            "scope_leads", count_s,  NULL};

        set_clear(&smp, sample_lines);
        set_clear(&ver, verify_lines);
    }
    {
        char *two = qlt_join(B.dir, "declare-2.db");
        char *three = qlt_join(B.dir, "declare-3.db");
        char a[700], b[700];

        /* Copies of the declared store for the verifications below. */
        copy_file(db, two);
        copy_file(db, three);
        snprintf(a, sizeof a, "%s.logkey", db);
        snprintf(b, sizeof b, "%s.logkey", two);
        copy_file(a, b);
        snprintf(b, sizeof b, "%s.logkey", three);
        copy_file(a, b);
        /* A verification before any sample stands on nothing. */
        append(two, &ver, true);
        expect_bad(two, B.n + 2, "verifies declaration");
        expect_bad(two, B.n + 2, "which has no sample");
        /* A seed from the log as it was before the declaration would let
           the inspector choose among old roots. */
        smp.clear[6][1] = early64;
        smp.clear[7][1] = early_s;
        append(three, &smp, true);
        expect_bad(three, B.n + 2, "from before entry");
        smp.clear[6][1] = seed64;
        smp.clear[7][1] = seed_s;
        free(two);
        free(three);
    }
    append(db, &smp, true);
    expect_good(db, &res);
    /* A verification must name that sample. */
    ver.clear[2][1] = decl_s;
    append(db, &ver, true);
    expect_bad(db, B.n + 3, "but its sample is");
    free(db);
    db = declared("2025-09-30", &s, r64, size_s);
    append(db, &s, true);
    root_at(db, B.n + 2, seed64);
    append(db, &smp, true);
    ver.clear[2][1] = smp_s;
    append(db, &ver, true);
    expect_good(db, &res);
    /* One sample per declaration. */
    append(db, &smp, true);
    expect_bad(db, B.n + 4, "a second sample of declaration");
    free(db);

    db = declared("2025-09-30", &s, r64, size_s);
    memcpy(wrong, r64, sizeof wrong);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    s.clear[0][1] = wrong;
    append(db, &s, true);
    expect_bad(db, B.n + 1, "binds a root at size");
    free(db);
    db = declared("2025-09-30", &s, r64, size_s);
    s.clear[1][1] = beyond;
    append(db, &s, true);
    expect_bad(db, B.n + 1, "beyond the entries before it");
    free(db);
    /* The checkpoint must hold the commitment it declares for. */
    db = declared("2025-09-30", &s, r64, size_s);
    root_at(db, B.n, early64);
    snprintf(early_s, sizeof early_s, "%llu", (unsigned long long)B.n);
    s.clear[0][1] = early64;
    s.clear[1][1] = early_s;
    append(db, &s, true);
    expect_bad(db, B.n + 1, "from before entry");
    free(db);
    db = declared("2025-09-30", &s, r64, size_s);
    s.clear[0][1] = "not-base64";
    append(db, &s, true);
    expect_bad(db, B.n + 1, "binds no valid checkpoint");
    free(db);
    /* A declaration with no commitment has no scope to state. */
    db = copy_base("declare.db");
    append(db, &s, true);
    expect_bad(db, B.n, "which was never signed");
    free(db);
    /* Leads registered after the cut-off (here, all) are out of scope. */
    db = declared("2025-09-14", &s, r64, size_s);
    append(db, &s, true);
    expect_bad(db, B.n + 1,
               "the declaration's scope_leads is 2, but unit LT has 0 "
               "in-scope leads");
    free(db);
    s.clear[3][1] = empty;
    s.clear[4][1] = "0";
    db = declared("2025-09-14", &s, r64, size_s);
    append(db, &s, true);
    expect_good(db, &res);
    free(db);
    /* The cut-off day itself is in scope (registered 2025-09-15). */
    db = declared("2025-09-15", &s, r64, size_s);
    append(db, &s, true);
    expect_bad(db, B.n + 1, "the declaration's scope_leads is 0");
    free(db);
    s.clear[3][1] = hash;
    s.clear[4][1] = count_s;

    /* The sample's seed is a checkpoint's root; its population counts. */
    db = declared("2025-09-30", &s, r64, size_s);
    append(db, &s, true);
    root_at(db, B.n + 2, seed64);
    memcpy(wrong, seed64, sizeof wrong);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    smp.clear[6][1] = wrong;
    append(db, &smp, true);
    expect_bad(db, B.n + 2, "the sample's seed binds a root at size");
    free(db);
    db = declared("2025-09-30", &s, r64, size_s);
    append(db, &s, true);
    root_at(db, B.n + 2, seed64);
    smp.clear[6][1] = seed64;
    smp.clear[4][1] = "1";
    append(db, &smp, true);
    expect_bad(db, B.n + 2, "the sample's population is 1, but unit LT has 0");
    free(db);
    smp.clear[4][1] = "0";
    db = declared("2025-09-30", &s, r64, size_s);
    append(db, &s, true);
    root_at(db, B.n + 2, seed64);
    smp.clear[3][1] = B.verifying;
    append(db, &smp, true);
    expect_bad(db, B.n + 2,
               "the sample's mandatory leads are not the ones the rule");
    free(db);
    smp.clear[3][1] = "";
    db = declared("2025-09-30", &s, r64, size_s);
    append(db, &s, true);
    root_at(db, B.n + 2, seed64);
    /* Entry B.n is the commitment, not a declaration. */
    snprintf(early_s, sizeof early_s, "%llu", (unsigned long long)B.n);
    smp.clear[1][1] = early_s;
    append(db, &smp, true);
    expect_bad(db, B.n + 2, "which is no declaration of unit LT for 2025Q3");
    free(db);
}

/* ---- commitments of the demo county (scripts/demo.sh) ---- */

/* A copy of the store at from, its write-ahead log and its log key. */
static char *
copy_db(const char *from, const char *name)
{
    char *p = copy_store(from, name);
    char a[600], b[600];

    snprintf(a, sizeof a, "%s-wal", from);
    snprintf(b, sizeof b, "%s-wal", p);
    unlink(b);
    if (access(a, F_OK) == 0)
        copy_file(a, b);
    snprintf(b, sizeof b, "%s-shm", p);
    unlink(b);
    return p;
}

/* The demo county's key file of name. */
static struct ql_key *
demo_key(const char *dir, const char *name)
{
    struct ql_key *k = NULL;
    struct ql_diag d;
    char path[600];

    snprintf(path, sizeof path, "%s/keys/%s.key", dir, name);
    ok(ql_keyfile_read(path, NULL, 0, &k, &d), &d, "demo key");
    return k;
}

/*
 * The sample the commitment rule draws for unit u from the status of the
 * county at c and the seed: its population's size and hash, and the drawn
 * and mandatory ids (buffers of size bytes).
 */
static void
demo_sample(struct ql_county *c, const char *u, const uint8_t seed[32],
            char *pop, char pop_hash[65], char *leads, char *must,
            size_t size)
{
    struct ql_status *st = NULL;
    const struct ql_status_unit *su;
    struct ql_sample_candidate cand[64];
    char lines[4096];
    size_t i, n = 0, at = 0, la = 0, ma = 0;
    struct ql_diag d;

    ok(ql_status_compute(c, "2025Q3", u, &st, &d), &d, "status");
    su = ql_status_unit(st, u);
    for (i = 0; i < su->nlead && n < 64; i++) {
        const struct ql_status_lead *l = &su->lead[i];

        if (!l->in_scope || !l->spotable)
            continue;
        cand[n].id = l->id;
        cand[n].mandatory = strcmp(l->finding, "查否") == 0 &&
                            (l->duplicates > 0 ||
                             strcmp(l->feedback, "不满意") == 0);
        at += (size_t)snprintf(lines + at, sizeof lines - at, "%s\n", l->id);
        n++;
    }
    ok(ql_commit_draw(ql_profile_default(), seed, u, "2025Q3", cand, n, NULL,
                      &d),
       &d, "draw");
    sha_hex(lines, at, pop_hash);
    snprintf(pop, 24, "%zu", n);
    leads[0] = must[0] = '\0';
    for (i = 0; i < n; i++) {
        if (!cand[i].chosen)
            continue;
        la += (size_t)snprintf(leads + la, size - la, "%s%s", la ? " " : "",
                               cand[i].id);
        if (cand[i].mandatory)
            ma += (size_t)snprintf(must + ma, size - ma, "%s%s",
                                   ma ? " " : "", cand[i].id);
    }
    ql_status_free(st);
}

/* Runs `audit verify` on the store or export; expects the verdict. */
static void
demo_cli(const char *db, const char *export_dir, const char *admin_pub,
         uint64_t index, const char *reason)
{
    const char *js[2] = {"1", "2"};
    char want[300];
    size_t j;

    snprintf(want, sizeof want, "entry %llu: %s", (unsigned long long)index,
             reason ? reason : "");
    for (j = 0; j < 2; j++) {
        const char *from_db[] = {"--db",      db,         "audit", "verify",
                                 "--trust",   admin_pub,  "--jobs", js[j],
                                 NULL};
        const char *from_export[] = {"audit",   "verify",  "--export",
                                     export_dir, "--trust", admin_pub,
                                     "--jobs",  js[j],     NULL};
        struct qlt_run r;

        qx(&r, from_db);
        expect_exit(&r, reason ? 5 : 0, reason ? want : "log verified");
        qx(&r, from_export);
        expect_exit(&r, reason ? 5 : 0, reason ? want : "log verified");
    }
}

/*
 * The demo county has declarations, a sample and a verification made by
 * the commitment module; entries signed with the right keys but false
 * scopes or draws, appended to it, fail at their index with the reason,
 * from the library, the store and an export, with one job and two.
 */
static void
test_demo_commitments(void **state)
{
    char *dir = qlt_join(B.dir, "demo"), *script, *db, *pub;
    struct ql_key *head = NULL, *insp = NULL, *admin = NULL;
    struct ql_county *c = NULL;
    struct ql_diag d;
    uint8_t root[32];
    char cmd[2048], r64[64], size_s[24], qy_decl[24], qy_sample[24];
    char lq_decl[24], qy_hash[65], qy_short[65], qy_n[24], qy_fewer[24];
    char qy_stale[65];
    char lq_hash[65], lq_wrong[65], lq_n[24], lq_more[24];
    char pop[24], pop_hash[65], pop_wrong[65], leads[512], must[512];
    const char *fewer_leads;
    size_t qy_count = 0, lq_count = 0, i, j;
    uint64_t n = 0;

    (void)state;
    script = qlt_data_path("../../scripts/demo.sh");
    snprintf(cmd, sizeof cmd, "DEMO_DIR='%s' bash '%s' >/dev/null 2>&1", dir,
             script);
    /* The demo ends with `audit verify`: its own log verifies. */
    assert_int_equal(system(cmd), 0);
    free(script);
    db = qlt_join(dir, "qinghe.db");
    pub = qlt_join(dir, "keys/admin.key.pub");
    head = demo_key(dir, "LQ-fzr-01");
    insp = demo_key(dir, "dd-pc-01");
    ok(ql_keyfile_read_public(pub, &admin, &d), &d, "admin key");

    ok(ql_county_open(db, QL_COUNTY_READONLY, &c, &d), &d, "open demo");
    ql_county_set_now(c, NOW);
    ok(ql_log_size(ql_county_log(c), &n, &d), &d, "size");
    ok(ql_log_root(ql_county_log(c), n, root, &d), &d, "root");
    b64(r64, root);
    snprintf(size_s, sizeof size_s, "%llu", (unsigned long long)n);
    {
        struct ql_status *st = NULL;
        const struct ql_status_unit *u;

        ok(ql_status_compute(c, "2025Q3", NULL, &st, &d), &d, "status");
        u = ql_status_unit(st, "QY");
        assert_true(u->sampled);
        snprintf(qy_decl, sizeof qy_decl, "%llu",
                 (unsigned long long)u->declare_idx);
        snprintf(qy_sample, sizeof qy_sample, "%llu",
                 (unsigned long long)u->sample_idx);
        snprintf(qy_stale, sizeof qy_stale, "%s", u->declared_hash);
        u = ql_status_unit(st, "LQ");
        assert_false(u->sampled);
        snprintf(lq_decl, sizeof lq_decl, "%llu",
                 (unsigned long long)u->declare_idx);
        ql_status_free(st);
    }
    unit_scope(c, "QY", SIZE_MAX, qy_hash, &qy_count);
    unit_scope(c, "QY", 0, qy_short, &i);
    unit_scope(c, "LQ", SIZE_MAX, lq_hash, &lq_count);
    demo_sample(c, "LQ", root, pop, pop_hash, leads, must, sizeof leads);
    ql_county_close(c);
    assert_true(qy_count >= 2 && lq_count >= 1);
    /* QY's leads were spot-checked after its declaration. */
    assert_string_not_equal(qy_stale, qy_hash);
    snprintf(qy_n, sizeof qy_n, "%zu", qy_count);
    snprintf(qy_fewer, sizeof qy_fewer, "%zu", qy_count - 1);
    snprintf(lq_n, sizeof lq_n, "%zu", lq_count);
    snprintf(lq_more, sizeof lq_more, "%zu", lq_count + 1);
    memcpy(lq_wrong, lq_hash, sizeof lq_wrong);
    lq_wrong[63] = lq_wrong[63] == '0' ? '1' : '0';
    memcpy(pop_wrong, pop_hash, sizeof pop_wrong);
    pop_wrong[0] = pop_wrong[0] == '0' ? '1' : '0';
    /* The sample without its first drawn lead. */
    fewer_leads = strchr(leads, ' ') ? strchr(leads, ' ') + 1 : "";
    assert_true(*leads != '\0');

    {
        const struct {
            const char *name;
            bool by_head; /* LQ's head, else the inspector */
            const char *action, *unit;
            const char *clear[8][2];
            const char *reason; /* NULL: the log verifies */
        } CASES[] = {
            {"QY's declaration verified with its scope",
             false, "commit.verify", "QY",
             {{"cycle", "2025Q3"}, {"declaration", qy_decl},
              {"sample", qy_sample}, {"scope_hash", qy_hash},
              {"scope_leads", qy_n}},
             NULL},
            {"a verification whose hash leaves out a lead",
             false, "commit.verify", "QY",
             {{"cycle", "2025Q3"}, {"declaration", qy_decl},
              {"sample", qy_sample}, {"scope_hash", qy_short},
              {"scope_leads", qy_n}},
             "the verification's scope_hash is not the hash of unit QY's "
             "in-scope leads"},
            {"a verification with the scope of the declaration, before "
             "its spot-checks",
             false, "commit.verify", "QY",
             {{"cycle", "2025Q3"}, {"declaration", qy_decl},
              {"sample", qy_sample}, {"scope_hash", qy_stale},
              {"scope_leads", qy_n}},
             "the verification's scope_hash is not the hash of unit QY's "
             "in-scope leads"},
            {"a verification that counts a lead fewer",
             false, "commit.verify", "QY",
             {{"cycle", "2025Q3"}, {"declaration", qy_decl},
              {"sample", qy_sample}, {"scope_hash", qy_short},
              {"scope_leads", qy_fewer}},
             "the verification's scope_leads is"},
            {"LQ declares again with its scope",
             true, "commit.declare", "LQ",
             {{"checkpoint_root", r64}, {"checkpoint_size", size_s},
              {"cycle", "2025Q3"}, {"scope_hash", lq_hash},
              {"scope_leads", lq_n}},
             NULL},
            {"a declaration with a wrong scope_hash",
             true, "commit.declare", "LQ",
             {{"checkpoint_root", r64}, {"checkpoint_size", size_s},
              {"cycle", "2025Q3"}, {"scope_hash", lq_wrong},
              {"scope_leads", lq_n}},
             "the declaration's scope_hash is not the hash of unit LQ's "
             "in-scope leads"},
            {"a declaration with a wrong scope_leads",
             true, "commit.declare", "LQ",
             {{"checkpoint_root", r64}, {"checkpoint_size", size_s},
              {"cycle", "2025Q3"}, {"scope_hash", lq_hash},
              {"scope_leads", lq_more}},
             "the declaration's scope_leads is"},
            {"LQ's sample as its seed draws it",
             false, "commit.sample", "LQ",
             {{"cycle", "2025Q3"}, {"declaration", lq_decl},
              {"leads", leads}, {"mandatory", must},
              {"population", pop}, {"population_hash", pop_hash},
              {"seed_root", r64}, {"seed_size", size_s}},
             NULL},
            {"a sample that leaves out a drawn lead",
             false, "commit.sample", "LQ",
             {{"cycle", "2025Q3"}, {"declaration", lq_decl},
              {"leads", fewer_leads}, {"mandatory", must},
              {"population", pop}, {"population_hash", pop_hash},
              {"seed_root", r64}, {"seed_size", size_s}},
             "the sample's leads are not the ones its seed draws"},
            {"a sample with a wrong population_hash",
             false, "commit.sample", "LQ",
             {{"cycle", "2025Q3"}, {"declaration", lq_decl},
              {"leads", leads}, {"mandatory", must},
              {"population", pop}, {"population_hash", pop_wrong},
              {"seed_root", r64}, {"seed_size", size_s}},
             "the sample's population_hash is not the hash"},
            {"a second sample of QY's declaration",
             false, "commit.sample", "QY",
             {{"cycle", "2025Q3"}, {"declaration", qy_decl},
              {"leads", leads}, {"mandatory", must},
              {"population", pop}, {"population_hash", pop_hash},
              {"seed_root", r64}, {"seed_size", size_s}},
             "a second sample of declaration"},
        };

        for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
            struct spec s = {HEAD, CASES[i].action, CASES[i].unit, NULL,
                             NULL, NULL, NULL, NULL, {{NULL, NULL}}, NULL,
                             0};
            char *copy = copy_db(db, "demo-case.db");
            char *exp = qlt_join(B.dir, "demo-export");
            struct ql_audit_result res;
            struct ql_export_result er;
            unsigned jobs;

            print_message("%s\n", CASES[i].name);
            memcpy(s.clear, CASES[i].clear, sizeof s.clear);
            append_as(copy, &s, true, CASES[i].by_head ? head : insp);
            for (jobs = 1; jobs <= 2; jobs++) {
                ql_err rc = verify_trust(copy, admin, jobs, &res, &d);

                if (CASES[i].reason == NULL) {
                    ok(rc, &d, "verify");
                    assert_int_equal(res.entries, n + 1);
                    continue;
                }
                print_message("  -> %s\n", d.msg);
                assert_int_equal(rc, QL_EINTEGRITY);
                assert_int_equal(res.bad_index, n);
                if (strstr(d.msg, CASES[i].reason) == NULL)
                    fail_msg("want '%s'; got '%s'", CASES[i].reason, d.msg);
            }
            qlt_rmtree(qlt_join(B.dir, "demo-export"));
            ok(ql_county_open(copy, QL_COUNTY_READONLY, &c, &d), &d, "open");
            ok(ql_export_write(c, exp, NULL, NULL, &er, &d), &d, "export");
            ql_county_close(c);
            demo_cli(copy, exp, pub, n, CASES[i].reason);
            for (j = 0; j < 3; j++) {
                static const char *const SUFFIX[3] = {"", "-wal", "-shm"};

                snprintf(cmd, sizeof cmd, "%s%s", copy, SUFFIX[j]);
                unlink(cmd);
            }
            free(exp);
            free(copy);
        }
    }
    ql_key_free(head);
    ql_key_free(insp);
    ql_key_free(admin);
    free(db);
    free(pub);
    qlt_rmtree(dir);
}

/* A principal with role admin may do the administrator's work. */
static void
test_admin_role_and_uncovered_entries(void **state)
{
    char *db = copy_base("admin2.db");
    struct ql_audit_result res;
    struct ql_county *c = open_county(db);
    struct ql_diag d;
    struct spec s = {LT_HC, "lead.move", "LT", B.verifying, "VERIFYING",
                     "VERIFYING", "progress", B.wf_hash, {{NULL, NULL}}, NULL, 0};

    (void)state;
    as(c, ADM2);
    ok(ql_county_unit_add(c, "XH", "新河镇", QL_KIND_TOWNSHIP, &d), &d,
       "unit by an admin principal");
    ql_county_close(c);
    expect_good(db, &res);
    assert_int_equal(res.entries, B.n + 1);
    /* A valid entry that no checkpoint covers. */
    append(db, &s, false);
    expect_bad(db, B.n + 1, "covered by no checkpoint");
    free(db);
}

/* ---- sources of one's own ---- */

struct fake {
    int step;
};

static ql_err
fake_none(void *ctx, struct ql_audit_entry *e, struct ql_diag *d)
{
    (void)ctx;
    (void)e;
    return ql_fail(d, QL_ENOTFOUND, "end");
}

static ql_err
fake_cp0(void *ctx, uint64_t *size, const char **note, size_t *len,
         struct ql_diag *d)
{
    struct fake *f = ctx;

    if (f->step++ > 0)
        return ql_fail(d, QL_ENOTFOUND, "end");
    *size = 0;
    *note = "x";
    *len = 1;
    return QL_OK;
}

static ql_err
fake_broken(void *ctx, struct ql_audit_entry *e, struct ql_diag *d)
{
    (void)ctx;
    (void)e;
    return ql_fail(d, QL_EIO, "disk on fire");
}

static void
test_custom_sources(void **state)
{
    struct fake f = {0};
    struct ql_audit_source src;
    struct ql_audit_result res;
    struct ql_diag d;

    (void)state;
    memset(&src, 0, sizeof src);
    src.ctx = &f;
    src.next_entry = fake_none;
    assert_int_equal(ql_audit_run(&src, NULL, NULL, &res, &d),
                     QL_EINTEGRITY);
    assert_string_equal(d.msg, "entry 0: the log is empty");
    src.next_checkpoint = fake_cp0;
    assert_int_equal(ql_audit_run(&src, NULL, NULL, &res, &d),
                     QL_EINTEGRITY);
    assert_non_null(strstr(d.msg, "a checkpoint of the empty log"));
    src.next_entry = fake_broken;
    src.next_checkpoint = NULL;
    assert_int_equal(ql_audit_run(&src, NULL, NULL, &res, &d), QL_EIO);
    assert_string_equal(d.msg, "disk on fire");
    assert_int_equal(res.bad_index, QL_AUDIT_NO_INDEX);
    src.next_entry = NULL;
    assert_int_equal(ql_audit_run(&src, NULL, NULL, &res, &d), QL_EUSAGE);
}

/* Defects of the store's own tables, each found at the right entry. */
static void
test_store_defects(void **state)
{
    static const struct {
        const char *name, *sql;
        int index; /* -1: the last entry */
        const char *reason;
    } CASES[] = {
        {"a tree hash gone", "DELETE FROM tree WHERE level = 2 AND idx = 3",
         15, "stored hash 2/3: tree hash 2/3 is missing"},
        {"a checkpoint that is not a note",
         "UPDATE checkpoints SET note = CAST('x' AS BLOB) WHERE size = "
         "(SELECT max(size) FROM checkpoints)",
         -1, "is malformed"},
        {"a leaf hash of the wrong length",
         "PRAGMA ignore_check_constraints = ON;"
         "UPDATE entries SET leaf_hash = x'00' WHERE idx = 7",
         7, "entry 7: its stored leaf hash is malformed"},
        {"no checkpoint at all", "DELETE FROM checkpoints", 0,
         "no checkpoint signed by the log key covers the log"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char *db = copy_base("defect.db");
        sqlite3 *h = NULL;
        char *err = NULL;

        print_message("%s\n", CASES[i].name);
        assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
        if (sqlite3_exec(h,
                         "DROP TRIGGER tree_no_delete;"
                         "DROP TRIGGER checkpoints_no_update;"
                         "DROP TRIGGER checkpoints_no_delete;"
                         "DROP TRIGGER entries_no_update;",
                         NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(h, CASES[i].sql, NULL, NULL, &err) != SQLITE_OK)
            fail_msg("%s", err);
        sqlite3_close(h);
        expect_bad(db,
                   CASES[i].index < 0 ? B.n - 1 : (uint64_t)CASES[i].index,
                   CASES[i].reason);
        free(db);
    }
}

/*
 * A bad signature is found before what only the end of the log shows,
 * whatever index that names (here: no checkpoint at all, entry 0).
 */
static void
test_signature_before_end_checks(void **state)
{
    char *db = copy_base("order.db");
    uint8_t leaf[32];
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    char *note;
    int n;

    (void)state;
    P = ql_profile_default();
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "DROP TRIGGER entries_no_update;"
                                  "DROP TRIGGER checkpoints_no_delete;"
                                  "DELETE FROM checkpoints;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT note FROM entries WHERE "
                                           "idx = 5",
                                       -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_bytes(st, 0);
    note = malloc((size_t)n);
    memcpy(note, sqlite3_column_blob(st, 0), (size_t)n);
    sqlite3_finalize(st);
    note[n - 20] = note[n - 20] == 'A' ? 'B' : 'A';
    ql_merkle_leaf_hash(P, leaf, note, (size_t)n);
    assert_int_equal(sqlite3_prepare_v2(h, "UPDATE entries SET note = ?1, "
                                           "leaf_hash = ?2 WHERE idx = 5",
                                       -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, note, n, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, leaf, 32, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(h);
    expect_bad(db, 5, "bad signature by 'admin'");
    free(note);
    free(db);
}

/* A checkpoint the log key signed over another root. */
static void
test_checkpoint_wrong_root(void **state)
{
    char *db = copy_base("cproot.db"), kp[600];
    struct ql_checkpoint cp;
    struct ql_key *lk = NULL;
    struct ql_diag d;
    char *note = NULL;
    size_t len = 0;
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;

    (void)state;
    snprintf(kp, sizeof kp, "%s.logkey", db);
    ok(ql_keyfile_read(kp, NULL, 0, &lk, &d), &d, "log key");
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "qinghe.test/leads");
    cp.size = B.n;
    cp.root[0] = 1;
    ok(ql_checkpoint_sign(lk, &cp, &note, &len, &d), &d, "sign");
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "DROP TRIGGER checkpoints_no_update",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "UPDATE checkpoints SET note = ?1 "
                                           "WHERE size = ?2",
                                       -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, note, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)B.n);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(h);
    expect_bad(db, B.n - 1, "does not state the log's origin, size and root");
    ql_key_free(lk);
    free(note);
    free(db);
}

/* A source that misbehaves around a real one. */
struct wrap {
    struct ql_audit_source *inner;
    int mode, step;
    uint8_t big[70000];
    struct ql_audit_entry first;
};

static ql_err
wrap_entry(void *ctx, struct ql_audit_entry *e, struct ql_diag *d)
{
    struct wrap *w = ctx;
    ql_err rc;

    if (w->mode == 1 && w->step++ == 1) {
        *e = w->first; /* entry 0 again; its bytes are still the store's */
        return QL_OK;
    }
    if (w->mode == 2) {
        memset(e, 0, sizeof *e);
        e->note = w->big;
        e->len = sizeof w->big;
        return QL_OK;
    }
    rc = w->inner->next_entry(w->inner->ctx, e, d);
    if (rc == QL_OK && e->index == 0) {
        /* Keep entry 0 for mode 1: copy it, the store's row moves on. */
        static char copy[4096];

        assert_true(e->len < sizeof copy);
        memcpy(copy, e->note, e->len);
        w->first = *e;
        w->first.note = copy;
        w->first.leaf = NULL;
    }
    return rc;
}

static ql_err
wrap_cp(void *ctx, uint64_t *size, const char **note, size_t *len,
        struct ql_diag *d)
{
    static char first[4096];
    static size_t first_len;
    struct wrap *w = ctx;
    ql_err rc = w->inner->next_checkpoint(w->inner->ctx, size, note, len, d);

    if (w->mode != 3)
        return rc;
    /* The real ones, then the first again: sizes that go back. */
    if (rc == QL_OK && *size == 1) {
        assert_true(*len < sizeof first);
        memcpy(first, *note, *len);
        first_len = *len;
    }
    if (rc == QL_ENOTFOUND && w->step++ == 0) {
        *size = 1;
        *note = first;
        *len = first_len;
        return QL_OK;
    }
    return rc;
}

static ql_err
wrap_cs(void *ctx, uint64_t *size, const char **cosigner, const char **line,
        struct ql_diag *d)
{
    static char name[64], text[512];
    struct wrap *w = ctx;
    ql_err rc;

    if (w->mode != 4)
        return w->inner->next_cosignature(w->inner->ctx, size, cosigner, line,
                                          d);
    /* The real cosignature, then the same at size 1. */
    if (w->step++ == 0) {
        rc = w->inner->next_cosignature(w->inner->ctx, size, cosigner, line,
                                        d);
        if (rc == QL_OK) {
            snprintf(name, sizeof name, "%s", *cosigner);
            snprintf(text, sizeof text, "%s", *line);
        }
        return rc;
    }
    if (w->step > 2)
        return ql_fail(d, QL_ENOTFOUND, "end");
    *size = 1;
    *cosigner = name;
    *line = text;
    return QL_OK;
}

static ql_err
wrap_hash(void *ctx, unsigned level, uint64_t index, uint8_t out[32],
          struct ql_diag *d)
{
    struct wrap *w = ctx;

    return w->inner->hash(w->inner->ctx, level, index, out, d);
}

static void
test_misbehaving_sources(void **state)
{
    static const struct {
        int mode;
        long long index; /* -1: the last entry */
        const char *reason;
    } CASES[] = {
        {1, 1, "entry 1: is out of order (entry 0 comes again)"},
        {2, 0, "entry 0: is 70000 bytes, more than an entry may be"},
        {3, -1, "the checkpoints are out of order at size 1"},
        {4, -1, "the cosignatures are out of order at size 1"},
    };
    char *cosigned = copy_base("cosigned.db");
    struct wrap *w = calloc(1, sizeof *w);
    size_t i;

    (void)state;
    {
        /* A store with one real cosignature, at its last size. */
        struct ql_county *c = open_county(cosigned);
        struct ql_audit_source *src = NULL;
        struct ql_audit_result res;
        struct ql_audit_opts o;
        struct ql_diag d;

        memset(&o, 0, sizeof o);
        o.trust = B.k[ADMIN];
        o.cosigner = B.k[AUD];
        ok(ql_audit_source_store(c, &src, &d), &d, "source");
        ok(ql_audit_run(src, NULL, &o, &res, &d), &d, "run");
        ql_audit_source_free(src);
        ok(ql_audit_cosign(c, B.k[AUD], &res, NOW, NULL, NULL, &d), &d,
           "cosign");
        ql_county_close(c);
    }
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        struct ql_audit_source src;
        struct ql_audit_result res;
        struct ql_audit_opts o;
        struct ql_diag d;

        memset(w, 0, sizeof *w);
        ok(ql_audit_source_open(CASES[i].mode == 4 ? cosigned : B.base,
                                &w->inner, &d),
           &d, "open");
        w->mode = CASES[i].mode;
        src = *w->inner;
        src.ctx = w;
        src.next_entry = wrap_entry;
        src.next_checkpoint = wrap_cp;
        src.next_cosignature = wrap_cs;
        src.hash = wrap_hash;
        src.close = NULL;
        memset(&o, 0, sizeof o);
        o.trust = B.k[ADMIN];
        assert_int_not_equal(ql_audit_run(&src, NULL, &o, &res, &d), QL_OK);
        print_message("  %s\n", d.msg);
        assert_int_equal(res.bad_index, CASES[i].index < 0
                                            ? B.n - 1
                                            : (uint64_t)CASES[i].index);
        if (strstr(d.msg, CASES[i].reason) == NULL)
            fail_msg("want '%s'; got '%s'", CASES[i].reason, d.msg);
        ql_audit_source_free(w->inner);
    }
    free(w);
    free(cosigned);
}

/*
 * A log whose first entry is made by hand: action, the actor's key, the
 * administrator and log keys it names, origin and profile lines; the
 * store's own origin is store_origin, the log key's name log_name.
 */
struct genesis_case {
    const char *name, *action;
    enum who signer;
    const char *admin_key; /* NULL: the administrator's vkey */
    const char *log_name, *origin, *store_origin, *profile;
    const struct ql_key *trust;
    const char *reason;
};

static void
genesis_case(const struct genesis_case *g)
{
    char *path = qlt_join(B.dir, "genesis-case.db");
    const struct ql_key *signers[1] = {B.k[g->signer]};
    struct ql_audit_source *src = NULL;
    struct ql_audit_result res;
    struct ql_audit_opts o;
    struct ql_store *st = NULL;
    struct ql_log *log = NULL;
    struct ql_key *lk = NULL;
    struct ql_entry e;
    struct ql_diag d;
    char *admin_vk = NULL, *log_vk = NULL, side[600];

    print_message("%s\n", g->name);
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    ql_entry_init(&e);
    ok(ql_key_generate(ql_profile_default(), g->log_name, &lk, &d), &d,
       "log key");
    ok(ql_key_vkey(B.k[ADMIN], 0, &admin_vk, &d), &d, "vkey");
    ok(ql_key_vkey(lk, 0, &log_vk, &d), &d, "vkey");
    ok(ql_store_open(path, QL_STORE_CREATE, &st, &d), &d, "store");
    ok(ql_store_begin(st, &d), &d, "begin");
    ok(ql_log_init(st, g->store_origin, ql_profile_default(), &d), &d,
       "init");
    ok(ql_log_open(st, &log, &d), &d, "log");
    snprintf(e.time, sizeof e.time, "2025-09-15T02:00:00Z");
    snprintf(e.action, sizeof e.action, "%s", g->action);
    ok(ql_entry_set_actor(&e, PEOPLE[g->signer].name, &d), &d, "actor");
    ok(ql_entry_add_clear(&e, "admin_key",
                          g->admin_key ? g->admin_key : admin_vk, &d),
       &d, "clear");
    ok(ql_entry_add_clear(&e, "log_key", log_vk, &d), &d, "clear");
    ok(ql_entry_add_clear(&e, "origin", g->origin, &d), &d, "clear");
    ok(ql_entry_add_clear(&e, "profile", g->profile, &d), &d, "clear");
    ok(ql_log_append(log, &e, signers, 1, NULL, NULL, NULL, &d), &d,
       "append");
    ok(ql_store_commit(st, &d), &d, "commit");
    ql_log_free(log);
    ql_store_close(st);
    ok(ql_audit_source_open(path, &src, &d), &d, "source");
    memset(&o, 0, sizeof o);
    o.trust = g->trust;
    assert_int_not_equal(ql_audit_run(src, NULL, &o, &res, &d), QL_OK);
    print_message("  -> %s\n", d.msg);
    assert_int_equal(res.bad_index, 0);
    if (strstr(d.msg, g->reason) == NULL)
        fail_msg("want '%s'; got '%s'", g->reason, d.msg);
    ql_audit_source_free(src);
    ql_entry_release(&e);
    ql_key_free(lk);
    free(admin_vk);
    free(log_vk);
    free(path);
}

static void
test_genesis_rules(void **state)
{
    const char *O = "qinghe.test/leads";
    const struct genesis_case CASES[] = {
        {"not a genesis entry", "unit.add", ADMIN, NULL, O, O, O, "intl",
         NULL, "the log does not start with a genesis entry"},
        {"a malformed administrator key", "genesis", ADMIN, "admin+1+AAAA", O,
         O, O, "intl", NULL, "the genesis entry names a malformed key"},
        {"signed by someone else", "genesis", REG, NULL, O, O, O, "intl",
         NULL, "is not signed by the administrator it names"},
        {"a log key of another name", "genesis", ADMIN, NULL, "other.test/x",
         O, O, "intl", NULL, "the log key is not named after the log"},
        {"a store of another origin", "genesis", ADMIN, NULL, O, O,
         "other.test/leads", "intl", NULL, "but its source says"},
        {"another profile", "genesis", ADMIN, NULL, O, O, O, "gm", NULL,
         "the log's profile 'gm' is not 'intl'"},
        {"another administrator than the trusted one", "genesis", ADMIN, NULL,
         O, O, O, "intl", B.k[REG],
         "names another administrator than the trusted key"},
        {"a good genesis with no checkpoint", "genesis", ADMIN, NULL, O, O, O,
         "intl", B.k[ADMIN],
         "no checkpoint signed by the log key covers the log"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        genesis_case(&CASES[i]);
}

/* ---- the state file ---- */

static void
test_state_file(void **state)
{
    static const struct {
        const char *text, *fragment;
    } BAD[] = {
        {"", "line 1"},
        {"qingling-audit-state/2\n", "line 1"},
        {"qingling-audit-state/1\nname x\n", "line 2"},
        {"qingling-audit-state/1\norigin x\nsize\n", "line 3"},
        {"qingling-audit-state/1\norigin x\nsize 1\nroot\n", "line 4"},
        {"qingling-audit-state/1\norigin x\nsize 01\nroot "
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
         "size"},
        {"qingling-audit-state/1\norigin x\nsize 1\nroot AAAA\n", "root"},
        {"qingling-audit-state/1\norigin x\nsize 1\nroot "
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nmore\n",
         "line 4"},
    };
    char *file = qlt_join(B.dir, "state"), *db = copy_base("state.db");
    struct ql_audit_state st, back;
    struct ql_diag d;
    struct qlt_run r;
    size_t i;

    (void)state;
    unlink(file);
    assert_int_equal(ql_audit_state_read(file, &st, &d), QL_ENOTFOUND);
    memset(&st, 0, sizeof st);
    snprintf(st.origin, sizeof st.origin, "qinghe.test/leads");
    st.size = 12;
    st.root[3] = 7;
    ok(ql_audit_state_write(file, &st, &d), &d, "write");
    ok(ql_audit_state_read(file, &back, &d), &d, "read");
    assert_memory_equal(&st, &back, sizeof st);
    for (i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        qlt_write_file(file, BAD[i].text, strlen(BAD[i].text));
        assert_int_equal(ql_audit_state_read(file, &back, &d), QL_EFORMAT);
        print_message("  %s\n", d.msg);
        assert_non_null(strstr(d.msg, BAD[i].fragment));
    }
    assert_int_equal(ql_audit_state_write("/nonexistent/dir/state", &st, &d),
                     QL_EIO);
    /* Through the binary: first run remembers, the next is consistent. */
    unlink(file);
    {
        const char *argv[] = {"--db", db, "audit", "verify", "--trust",
                              B.admin_pub, "--state", file, NULL};
        const char *other[] = {"--db", db, "audit", "verify", "--trust",
                               B.admin_pub, "--state", file, NULL};

        qx(&r, argv);
        expect_exit(&r, 0, "remembered the checkpoint of size");
        qx(&r, argv);
        expect_exit(&r, 0, "consistent with the checkpoint of size");
        snprintf(st.origin, sizeof st.origin, "other.test/leads");
        ok(ql_audit_state_write(file, &st, &d), &d, "write");
        qx(&r, other);
        expect_exit(&r, 2, "the state file is for log 'other.test/leads'");
        qlt_write_file(file, "junk\n", 5);
        qx(&r, other);
        expect_exit(&r, 4, "line 1");
    }
    free(file);
    free(db);
}

/* The genesis entry is entry 0 like any other, for the auditor. */
static void
test_genesis_tampered(void **state)
{
    char *db = copy_base("genesis.db");
    const char *argv[] = {"--db", db, "audit", "verify", "--trust",
                          B.admin_pub, NULL};
    struct qlt_run r;
    sqlite3 *h = NULL;

    (void)state;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h,
                     "DROP TRIGGER entries_no_update;"
                     "UPDATE entries SET note = replace(note, "
                     "'zone Asia/Shanghai', 'zone Asia/Chongqin') "
                     "WHERE idx = 0",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    qx(&r, argv);
    expect_exit(&r, 5, "qingling: entry 0: ");
    free(db);
}

/* Option errors of verify and cosign. */
/*
 * `audit verify --tables` rebuilds the tables status and reports read from
 * the verified log and compares them with the store's: an edit of them
 * behind the log's back, which the log alone cannot show, fails it.
 */
static void
test_verify_tables(void **state)
{
    char *db = copy_base("tables.db"), *exp = qlt_join(B.dir, "tables-exp");
    const char *tables[] = {"--db",    db,          "audit",    "verify",
                            "--trust", B.admin_pub, "--tables", NULL};
    const char *tables_json[] = {"--db",       db,       "audit",
                                 "verify",     "--trust", B.admin_pub,
                                 "--tables",   "--json",  NULL};
    const char *plain[] = {"--db",    db,          "audit", "verify",
                           "--trust", B.admin_pub, NULL};
    const char *export_tables[] = {"audit",   "verify",    "--export",
                                   exp,       "--trust",   B.admin_pub,
                                   "--tables", NULL};
    struct qlt_run r;
    sqlite3 *h = NULL;
    char sql[256];

    (void)state;
    qx(&r, tables);
    expect_exit(&r, 0, "the store's tables agree with a replay of the log");
    qx(&r, tables_json);
    expect_exit(&r, 0, "\"tables\":true");
    /* Lead L1 shown closed, with nothing in the log to say so. */
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "UPDATE leads SET state = 'CLOSED' WHERE id = '%s'",
             B.verifying);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    qx(&r, plain);
    expect_exit(&r, 0, "log verified");
    qx(&r, tables);
    expect_exit(&r, 5, "table 'leads' differs from a replay of the log: 1 "
                       "row(s) only in the store, 1 only in the replay");
    qx(&r, tables_json);
    expect_exit(&r, 5, "\"tables\":false");
    qx(&r, export_tables);
    expect_exit(&r, 2, "--tables checks a store's tables; an export has none");
    free(exp);
    free(db);
    /* A log that fails says nothing of tables it never compared. */
    db = copy_base("tables2.db");
    {
        const char *const bad_json[] = {"--db",     db,       "audit",
                                        "verify",   "--trust", B.admin_pub,
                                        "--tables", "--json",  NULL};
        struct spec bad = {ADMIN, "commit.sign", "LT", NULL, NULL, NULL, NULL,
                           NULL, {{NULL, NULL}}, NULL, 0};

        append(db, &bad, true);
        qx(&r, bad_json);
        assert_null(strstr(r.out, "\"tables\""));
        expect_exit(&r, 5, "the administrator makes no commitments");
    }
    free(db);
}

static void
test_verify_usage(void **state)
{
    const char *notrust[] = {"--db", B.base, "audit", "verify", NULL};
    const char *jobs0[] = {"--db",  B.base,      "audit", "verify", "--trust",
                           B.admin_pub, "--jobs", "0",     NULL};
    const char *jobsx[] = {"--db",  B.base,      "audit", "verify", "--trust",
                           B.admin_pub, "--jobs", "65",    NULL};
    const char *extra[] = {"--db", B.base,      "audit", "verify",
                           "--trust", B.admin_pub, "extra", NULL};
    const char *unknown[] = {"--db", B.base, "audit", "verify", "--frob",
                             NULL};
    const char *nokey[] = {"--db", B.base, "audit", "verify", "--trust",
                           "/nonexistent.pub", NULL};
    const char *nosub[] = {"audit", NULL};
    const char *badsub[] = {"audit", "frob", NULL};
    const char *json[] = {"--db",  B.base, "audit", "verify", "--trust",
                          B.admin_pub, "--json", NULL};
    const char *cp[] = {"--db", B.base, "audit", "checkpoint", "--json",
                        NULL};
    const char *cpx[] = {"--db", B.base, "audit", "checkpoint", "x", NULL};
    const char *cosexp[] = {"--db",       B.base,    "audit",
                            "cosign",     "--trust", B.admin_pub,
                            "--export",   "x",       NULL};
    struct qlt_run r;

    (void)state;
    qx(&r, notrust);
    expect_exit(&r, 2, "--trust ADMIN.pub");
    qx(&r, jobs0);
    expect_exit(&r, 2, "--jobs takes a number from 1 to 64");
    qx(&r, jobsx);
    expect_exit(&r, 2, "--jobs takes a number");
    qx(&r, extra);
    expect_exit(&r, 2, "unexpected argument 'extra'");
    qx(&r, unknown);
    expect_exit(&r, 2, "unknown option");
    qx(&r, nokey);
    assert_int_not_equal(r.status, 0);
    qlt_run_free(&r);
    qx(&r, nosub);
    expect_exit(&r, 2, "say what to do");
    qx(&r, badsub);
    expect_exit(&r, 2, "unknown audit command 'frob'");
    qx(&r, json);
    expect_exit(&r, 0, "\"ok\":true");
    qx(&r, cp);
    expect_exit(&r, 0, "\"origin\":\"qinghe.test/leads\"");
    qx(&r, cpx);
    expect_exit(&r, 2, "takes no arguments");
    qx(&r, cosexp);
    expect_exit(&r, 2, "reads the store, not an export");
    {
        const char *nodb[] = {"audit", "verify", "--trust", B.admin_pub,
                              NULL};

        qx(&r, nodb);
        expect_exit(&r, 2, "no store given");
    }
}

/* ---- the export ---- */

static void
test_tile_paths(void **state)
{
    static const struct {
        int level;
        uint64_t n;
        unsigned w;
        const char *path;
    } OK[] = {
        {0, 0, 256, "tile/0/000"},
        {0, 1234067, 256, "tile/0/x001/x234/067"},
        {QL_EXPORT_ENTRIES, 5, 17, "tile/entries/005.p/17"},
        {2, 1000, 256, "tile/2/x001/000"},
        {63, 999, 1, "tile/63/999.p/1"},
        {1, 0, 255, "tile/1/000.p/255"},
        {0, UINT64_MAX, 256, "tile/0/x018/x446/x744/x073/x709/x551/615"},
    };
    char buf[QL_EXPORT_PATH_MAX];
    struct ql_diag d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof OK / sizeof OK[0]; i++) {
        ok(ql_export_tile_path(OK[i].level, OK[i].n, OK[i].w, buf, sizeof buf,
                               &d),
           &d, "path");
        assert_string_equal(buf, OK[i].path);
    }
    assert_int_equal(ql_export_tile_path(64, 0, 256, buf, sizeof buf, &d),
                     QL_EUSAGE);
    assert_int_equal(ql_export_tile_path(-2, 0, 256, buf, sizeof buf, &d),
                     QL_EUSAGE);
    assert_int_equal(ql_export_tile_path(0, 0, 0, buf, sizeof buf, &d),
                     QL_EUSAGE);
    assert_int_equal(ql_export_tile_path(0, 0, 257, buf, sizeof buf, &d),
                     QL_EUSAGE);
    assert_int_equal(ql_export_tile_path(0, 1234067, 256, buf, 8, &d),
                     QL_ETOOBIG);
}

static void
run_export(const char *db, const char *dir, int status, const char *frag)
{
    const char *argv[] = {"--db", db, "audit", "export", dir, NULL};
    struct qlt_run r;

    qx(&r, argv);
    expect_exit(&r, status, frag);
}

static void
verify_export(const char *dir, int status, const char *frag)
{
    const char *argv[] = {"audit",       "verify", "--export", dir,
                          "--trust",     B.admin_pub, "--jobs", "2",
                          NULL};
    struct qlt_run r;

    qx(&r, argv);
    expect_exit(&r, status, frag);
}

static void
grow(const char *db, uint64_t to)
{
    struct ql_county *c = open_county(db);
    struct ql_diag d;
    char id[QL_ENTRY_WORD_MAX + 1];

    as(c, REG);
    ok(ql_county_batch_begin(c, &d), &d, "batch");
    while (size_of(c) < to)
        assigned_lead(c, id);
    ok(ql_county_batch_commit(c, &d), &d, "commit");
    ql_county_close(c);
}

static void
file_id(const char *path, ino_t *ino, struct timespec *mtime)
{
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    *ino = sb.st_ino;
    *mtime = sb.st_mtim;
}

/* No temporary file left, files 0644, folders 0755. */
static void
check_modes(const char *dir)
{
    char cmd[700];

    snprintf(cmd, sizeof cmd,
             "test -z \"$(find '%s' -name '*.tmp.*')\" && "
             "test -z \"$(find '%s' -type f ! -perm 0644)\" && "
             "test -z \"$(find '%s' -type d ! -perm 0755)\"",
             dir, dir, dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_export_incremental(void **state)
{
    char *db = copy_base("export.db"), *dir = qlt_join(B.dir, "exp");
    char *tile0, *bundle0, *partial, *checkpoint;
    const char *again[] = {"--db", NULL, "audit", "export", NULL, "--json",
                           NULL};
    struct timespec m1, m2;
    ino_t i1, i2;
    uint64_t before, n1, n2;
    struct qlt_run r;
    char rel[QL_EXPORT_PATH_MAX];
    struct ql_diag d;

    (void)state;
    qlt_rmtree(qlt_join(B.dir, "exp"));
    grow(db, 600);
    {
        struct ql_county *c = open_county(db);

        n1 = size_of(c);
        ql_county_close(c);
    }
    before = qlt_file_hash(db);
    run_export(db, dir, 0, "files written");
    /* Exporting only reads the store. */
    assert_true(qlt_file_hash(db) == before);
    check_modes(dir);
    verify_export(dir, 0, "log verified");
    tile0 = qlt_join(dir, "tile/0/000");
    bundle0 = qlt_join(dir, "tile/entries/000");
    ok(ql_export_tile_path(0, n1 / 256, (unsigned)(n1 % 256), rel,
                           sizeof rel, &d),
       &d, "path");
    partial = qlt_join(dir, rel);
    checkpoint = qlt_join(dir, "checkpoint");
    file_id(tile0, &i1, &m1);
    /* The same size again writes nothing but the checkpoint. */
    again[1] = db;
    again[4] = dir;
    qx(&r, again);
    expect_exit(&r, 0, "\"written\":1,");
    /* More entries: only what is new is written. */
    grow(db, 900);
    {
        struct ql_county *c = open_county(db);

        n2 = size_of(c);
        ql_county_close(c);
    }
    qx(&r, again);
    assert_int_equal(r.status, 0);
    print_message("  second export: %s", r.out);
    {
        /* New: bundles n1/256 .. n2/256 (the last partial), level-0
           tiles the same, the level-1 partial, the checkpoint. */
        unsigned long long written = 0, kept = 0;
        const char *w = strstr(r.out, "\"written\":");
        const char *k = strstr(r.out, "\"kept\":");

        assert_non_null(w);
        assert_non_null(k);
        written = strtoull(w + 10, NULL, 10);
        kept = strtoull(k + 7, NULL, 10);
        assert_int_equal(kept, 2 * (n1 / 256));
        assert_int_equal(written, 2 * (n2 / 256 - n1 / 256 +
                                       (n2 % 256 ? 1 : 0)) +
                                      1 + 1);
    }
    qlt_run_free(&r);
    file_id(tile0, &i2, &m2);
    assert_true(i1 == i2);
    assert_true(m1.tv_sec == m2.tv_sec && m1.tv_nsec == m2.tv_nsec);
    /* The old partial stays; the new checkpoint names the new size. */
    assert_int_equal(access(partial, F_OK), 0);
    {
        char *cp = qlt_read_file(checkpoint, NULL), want[32];

        snprintf(want, sizeof want, "\n%llu\n", (unsigned long long)n2);
        assert_non_null(strstr(cp, want));
        free(cp);
    }
    check_modes(dir);
    verify_export(dir, 0, "log verified");
    free(tile0);
    free(bundle0);
    free(partial);
    free(checkpoint);
    free(dir);
    free(db);
}

static void
test_export_refusals(void **state)
{
    char *db = copy_base("exr.db"), *older = copy_base("exr-old.db");
    char *forked = copy_base("exr-fork.db"), *dir = qlt_join(B.dir, "exr");
    char *other = qlt_join(B.dir, "other.db"), *in_way;
    struct ql_diag d;

    (void)state;
    qlt_rmtree(qlt_join(B.dir, "exr"));
    grow(db, B.n + 8);
    run_export(db, dir, 0, NULL);
    /* An older copy of the store: the export would roll back. */
    run_export(older, dir, 5, "holds a larger tree");
    /* A fork: same origin, other entries. */
    {
        struct ql_county *c = open_county(forked);

        as(c, ADMIN);
        ok(ql_county_unit_add(c, "FK", "分叉镇", QL_KIND_TOWNSHIP, &d), &d,
           "fork");
        ql_county_close(c);
    }
    grow(forked, B.n + 12);
    run_export(forked, dir, 5, "the logs have forked");
    /* Another log altogether. */
    unlink(other);
    ok(ql_county_create(other, "other.test/leads", B.k[ADMIN], NULL, NOW, &d),
       &d, "other");
    run_export(other, dir, 4, "holds the export of another log");
    /* A folder whose checkpoint is not one. */
    {
        char *d2 = qlt_join(B.dir, "exr-junk"), *cp;

        qlt_rmtree(qlt_join(B.dir, "exr-junk"));
        assert_int_equal(mkdir(d2, 0755), 0);
        cp = qlt_join(d2, "checkpoint");
        qlt_write_file(cp, "hello\n", 6);
        run_export(db, d2, 4, "is not a checkpoint");
        free(cp);
        free(d2);
    }
    /* A file where a folder must go. */
    in_way = qlt_join(B.dir, "exr-file");
    qlt_write_file(in_way, "x", 1);
    run_export(db, in_way, 6, NULL);
    verify_export(dir, 0, "log verified");
    free(in_way);
    free(other);
    free(dir);
    free(forked);
    free(older);
    free(db);
}

/* An export's own defects, each found by audit verify --export. */
static void
test_export_defects(void **state)
{
    char *db = copy_base("exd.db"), *dir = qlt_join(B.dir, "exd");
    char *cp = qlt_join(dir, "checkpoint"), *cs;
    char *bundle, *tile, *saved;
    size_t len;
    char *buf;

    (void)state;
    qlt_rmtree(qlt_join(B.dir, "exd"));
    run_export(db, dir, 0, NULL);
    verify_export("/nonexistent/export", 6, "cannot read export folder");
    /* Bundle with a byte more than its entries. */
    {
        char rel[QL_EXPORT_PATH_MAX];
        struct ql_diag d;

        ok(ql_export_tile_path(QL_EXPORT_ENTRIES, 0, (unsigned)B.n, rel,
                               sizeof rel, &d),
           &d, "path");
        bundle = qlt_join(dir, rel);
        ok(ql_export_tile_path(0, 0, (unsigned)B.n, rel, sizeof rel, &d), &d,
           "path");
        tile = qlt_join(dir, rel);
    }
    buf = qlt_read_file(bundle, &len);
    qlt_write_file(bundle, buf, len + 1);
    verify_export(dir, 5, "does not hold");
    qlt_write_file(bundle, buf, len);
    free(buf);
    /* A hash tile one byte short. */
    buf = qlt_read_file(tile, &len);
    qlt_write_file(tile, buf, len - 1);
    verify_export(dir, 5, "bytes, not");
    qlt_write_file(tile, buf, len);
    free(buf);
    /* A malformed cosignature list. */
    cs = qlt_join(dir, "qingling/cosignatures");
    {
        char *q = qlt_join(dir, "qingling");

        mkdir(q, 0755);
        free(q);
    }
    qlt_write_file(cs, "12 not a line\n", 14);
    verify_export(dir, 5, "qingling/cosignatures line 1 is malformed");
    {
        const char *t = "012 \xe2\x80\x94 sj-01 AAAA\n";

        qlt_write_file(cs, t, strlen(t));
        verify_export(dir, 5, "qingling/cosignatures line 1 has a bad size");
    }
    unlink(cs);
    /* A tile longer than any tile; a bundle that is a folder. */
    buf = qlt_read_file(tile, &len);
    {
        char *big = calloc(1, 8193);

        qlt_write_file(tile, big, 8193);
        verify_export(dir, 5, "is larger than it can be");
        free(big);
    }
    qlt_write_file(tile, buf, len);
    free(buf);
    saved = qlt_join(dir, "bundle.saved");
    assert_int_equal(rename(bundle, saved), 0);
    assert_int_equal(mkdir(bundle, 0755), 0);
    verify_export(dir, 5, "is not a regular file");
    assert_int_equal(rmdir(bundle), 0);
    assert_int_equal(rename(saved, bundle), 0);
    free(saved);
    /* The checkpoint: garbled, then gone. */
    buf = qlt_read_file(cp, &len);
    qlt_write_file(cp, "garbage\n", 8);
    verify_export(dir, 5, "is malformed");
    saved = qlt_join(dir, "cp.saved");
    qlt_write_file(cp, buf, len);
    assert_int_equal(rename(cp, saved), 0);
    verify_export(dir, 5, "has no checkpoint");
    assert_int_equal(rename(saved, cp), 0);
    verify_export(dir, 0, "log verified");
    free(buf);
    free(saved);
    free(cs);
    free(bundle);
    free(tile);
    free(cp);
    free(dir);
    free(db);
}

/* ---- cosigning ---- */

static void
cosign_as(const char *db, const char *key, int status, const char *frag)
{
    const char *argv[] = {"--db",   db,      "--key",     key,
                          "audit",  "cosign", "--trust", B.admin_pub,
                          NULL};
    struct qlt_run r;

    qx(&r, argv);
    expect_exit(&r, status, frag);
}

static char *
key_file(enum who w)
{
    char name[64], *p;
    struct ql_diag d;

    snprintf(name, sizeof name, "%s.key", PEOPLE[w].name);
    p = qlt_join(B.dir, name);
    if (access(p, F_OK) != 0)
        ok(ql_keyfile_write(p, B.k[w], NULL, 0, QL_KEYFILE_PLAINTEXT, &d), &d,
           "key file");
    return p;
}

static void
test_cosign(void **state)
{
    char *db = copy_base("cosign.db"), *dir = qlt_join(B.dir, "exc");
    char *aud = key_file(AUD), *aud2 = key_file(AUD2), *reg = key_file(REG);
    char *mal = key_file(MALLORY), *st = qlt_join(B.dir, "cosign.state");
    const char *show[] = {"--db", db, "audit", "checkpoint", NULL};
    const char *json[] = {"--db",   db,       "--key",   aud,
                          "audit",  "cosign", "--trust", B.admin_pub,
                          "--json", NULL};
    const char *withstate[] = {"--db",    db,         "--key",   aud,
                               "audit",   "cosign",   "--trust", B.admin_pub,
                               "--state", st,         NULL};
    struct ql_audit_result res;
    struct ql_county *c;
    struct ql_diag d;
    struct qlt_run r;
    char *before;

    (void)state;
    qlt_rmtree(qlt_join(B.dir, "exc"));
    unlink(st);
    qx(&r, show);
    assert_int_equal(r.status, 0);
    before = strdup(r.out);
    qlt_run_free(&r);
    /* Not auditors: refused, nothing stored. */
    cosign_as(db, reg, 3, "'sh-dengji-01' is not an active auditor");
    cosign_as(db, mal, 3, "'mallory' is not an active auditor");
    qx(&r, show);
    assert_string_equal(r.out, before);
    qlt_run_free(&r);
    /* The auditor. */
    cosign_as(db, aud, 0, "cosigned the checkpoint of size");
    cosign_as(db, aud, 0, "had already cosigned the checkpoint");
    qx(&r, show);
    assert_non_null(strstr(r.out, "\n\xe2\x80\x94 sj-01 "));
    qlt_run_free(&r);
    expect_good(db, &res);
    assert_int_equal(res.cosignatures, 1);
    /* The export carries it, in the checkpoint and in the list. */
    run_export(db, dir, 0, NULL);
    verify_export(dir, 0, "2 cosignatures");
    /* A revoked auditor may cosign no more. */
    c = open_county(db);
    as(c, ADMIN);
    ok(ql_county_principal_revoke(c, PEOPLE[AUD2].name, &d), &d, "revoke");
    ql_county_close(c);
    cosign_as(db, aud2, 3, "'sj-02' is not an active auditor");
    /* A cosignature's time is after 1970. */
    {
        const char *argv[] = {"--db",  db,       "--key",   aud,
                              "audit", "cosign", "--trust", B.admin_pub,
                              NULL};
        const char *env[] = {"QINGLING_NOW=1969-12-31T00:00:00Z", NULL};

        qlt_exec(&r, argv, env, NULL);
        expect_exit(&r, 2, "a cosignature needs a time after 1970");
    }
    /* JSON; the state is remembered. */
    qx(&r, json);
    expect_exit(&r, 0, "\"cosigner\":\"sj-01\"");
    qx(&r, withstate);
    expect_exit(&r, 0, "cosigned");
    assert_int_equal(access(st, F_OK), 0);
    /* A log that does not verify is not cosigned. */
    {
        sqlite3 *h = NULL;

        assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
        assert_int_equal(
            sqlite3_exec(h,
                         "DROP TRIGGER entries_no_update;"
                         "UPDATE entries SET note = replace(note, "
                         "'鹭汀镇', '鹭汀乡') WHERE idx = 2",
                         NULL, NULL, NULL),
            SQLITE_OK);
        sqlite3_close(h);
    }
    c = open_county(db);
    as(c, ADMIN);
    ok(ql_county_unit_add(c, "NEW", "新单位", QL_KIND_TOWNSHIP, &d), &d,
       "grow");
    ql_county_close(c);
    qx(&r, show);
    free(before);
    before = strdup(r.out);
    qlt_run_free(&r);
    cosign_as(db, aud, 5, "entry 2: ");
    qx(&r, show);
    assert_string_equal(r.out, before);
    qlt_run_free(&r);
    free(before);
    free(st);
    free(mal);
    free(reg);
    free(aud2);
    free(aud);
    free(dir);
    free(db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_vectors_cli),
        cmocka_unit_test(test_proof_file_errors),
        cmocka_unit_test(test_prove_real_store),
        cmocka_unit_test(test_random_trees),
        cmocka_unit_test(test_base_verifies),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_workflow_hash),
        cmocka_unit_test(test_lead_table),
        cmocka_unit_test(test_many_leads),
        cmocka_unit_test(test_declarations),
        cmocka_unit_test(test_demo_commitments),
        cmocka_unit_test(test_admin_role_and_uncovered_entries),
        cmocka_unit_test(test_custom_sources),
        cmocka_unit_test(test_store_defects),
        cmocka_unit_test(test_checkpoint_wrong_root),
        cmocka_unit_test(test_signature_before_end_checks),
        cmocka_unit_test(test_misbehaving_sources),
        cmocka_unit_test(test_genesis_rules),
        cmocka_unit_test(test_state_file),
        cmocka_unit_test(test_genesis_tampered),
        cmocka_unit_test(test_verify_tables),
        cmocka_unit_test(test_verify_usage),
        cmocka_unit_test(test_tile_paths),
        cmocka_unit_test(test_export_incremental),
        cmocka_unit_test(test_export_refusals),
        cmocka_unit_test(test_export_defects),
        cmocka_unit_test(test_cosign),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
