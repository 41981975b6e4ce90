/*
 * The tamper suite: a log of more than 10,000 entries, made once through
 * the engine, then changed the ways an intruder holding the file (or the
 * export folder) could change it: a byte of an entry's metadata, payload
 * or signature; a removed, swapped or inserted entry; entries signed by an
 * unregistered key, a revoked key, another unit's key or a role the
 * transition does not allow; a truncated tail; an older copy of the store;
 * a fork; a forged checkpoint or cosignature; corrupted tiles and bundles;
 * random byte flips. Each change must make `qingling audit verify` exit 5
 * with the right entry index and reason, the same with --jobs 1 and 2, and
 * the library must report the same index.
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
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ql_audit.h"
#include "ql_county.h"
#include "ql_export.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_store.h"
#include "ql_test.h"

/* 2025-09-15T02:00:00Z. */
#define NOW 1757901600
/* Leads and leads per batch: 8 entries a lead, one checkpoint a batch. */
#define LEADS 1265
#define CHUNK 120

enum who {
    ADMIN,
    REG,
    TRI,
    DIR,
    DIR2,
    LT_LLY,
    LT_HC,
    LT_HC2,
    QY_LLY,
    AUD,
    INSP,
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
    {"sh-zhuren-02", "SH", "director"},
    {"LT-lly-01", "LT", "liaison"},
    {"LT-hc-01", "LT", "verifier"},
    {"LT-hc-02", "LT", "verifier"},
    {"QY-lly-01", "QY", "liaison"},
    {"sj-01", "AU", "auditor"},
    {"dd-pc-01", "SH", "inspector"},
    {"mallory", NULL, NULL}, /* never registered */
};

static struct {
    char *dir;
    char *pristine, *older, *fork, *export_dir, *admin_pub, *state;
    struct ql_key *k[NKEYS];
    uint64_t n, older_n, revoke_idx, cosig_size;
    uint8_t root[QL_HASH_LEN];
    char assigned[4][QL_ENTRY_WORD_MAX + 1]; /* leads left in ASSIGNED */
    char wf_hash[65];
    uint64_t cps[256];
    size_t ncps;
    double gen_seconds;
} W;

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
ok(ql_err rc, const struct ql_diag *d, const char *what)
{
    if (rc != QL_OK)
        fail_msg("%s: %s", what, d->msg);
}

/* ---- making the log ---- */

static void
as(struct ql_county *c, enum who w)
{
    ql_county_set_actor(c, W.k[w]);
}

/*
 * One lead through the whole workflow: registered at the supervision
 * office, triaged, assignment proposed and approved (to LT), accepted,
 * progress reported, report filed, report approved by the second
 * director (distinct_from the reporter). Eight entries; some carry a
 * secret reporter field, which brings the SECRET key scope in.
 */
static void
one_lead(struct ql_county *c, int i, enum who verifier, bool finish,
         char *id_out)
{
    struct ql_wf_kv add[3] = {{"source", "群众举报"},
                              {"summary", "某村霸占集体土地（测试）"},
                              {"reporter", "举报人甲，电话 13800000000"}};
    struct ql_wf_kv asg[2] = {{"handling_unit", "LT"},
                              {"due_at", "2025-10-30"}};
    struct ql_wf_kv rep[2] = {{"finding", "查否"},
                              {"detail", "经核查，反映问题不属实"}};
    char id[QL_ENTRY_WORD_MAX + 1];
    struct ql_diag d;
    bool pending = false;

    as(c, REG);
    ok(ql_lead_add(c, "test_flow", "SH", add, i % 10 == 0 ? 3 : 2, id, &d),
       &d, "add");
    as(c, TRI);
    ok(ql_lead_move(c, id, "triage", NULL, 0, NULL, NULL, &d), &d,
       "triage");
    ok(ql_lead_move(c, id, "assign", asg, 2, NULL, &pending, &d), &d,
       "assign");
    assert_true(pending);
    as(c, DIR);
    ok(ql_lead_approve(c, id, &d), &d, "approve");
    if (id_out != NULL)
        snprintf(id_out, QL_ENTRY_WORD_MAX + 1, "%s", id);
    if (!finish)
        return;
    as(c, LT_LLY);
    ok(ql_lead_move(c, id, "accept", NULL, 0, NULL, NULL, &d), &d, "accept");
    as(c, verifier);
    ok(ql_lead_move(c, id, "progress", NULL, 0, "进展", NULL, &d), &d,
       "progress");
    ok(ql_lead_move(c, id, "report", rep, 2, NULL, NULL, &d), &d, "report");
    as(c, DIR2);
    ok(ql_lead_move(c, id, "approve_report", NULL, 0, NULL, NULL, &d), &d,
       "approve_report");
}

static void
copy_file(const char *from, const char *to)
{
    size_t len;
    char *buf = qlt_read_file(from, &len);

    qlt_write_file(to, buf, len);
    free(buf);
}

/* Copies a closed store and its log key. */
static void
copy_store(const char *from, const char *to)
{
    char a[600], b[600];

    copy_file(from, to);
    snprintf(a, sizeof a, "%s.logkey", from);
    snprintf(b, sizeof b, "%s.logkey", to);
    copy_file(a, b);
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

/* The auditor verifies the store and cosigns its latest checkpoint. */
static void
cosign(struct ql_county *c)
{
    struct ql_audit_source *src = NULL;
    struct ql_audit_result res;
    struct ql_audit_opts o;
    struct ql_diag d;

    memset(&o, 0, sizeof o);
    o.trust = W.k[ADMIN];
    o.cosigner = W.k[AUD];
    o.jobs = 2;
    ok(ql_audit_source_store(c, &src, &d), &d, "source");
    ok(ql_audit_run(src, NULL, &o, &res, &d), &d, "verify before cosign");
    ql_audit_source_free(src);
    assert_true(res.cosigner_ok);
    ok(ql_audit_cosign(c, W.k[AUD], &res, NOW, NULL, NULL, &d), &d,
       "cosign");
    W.cosig_size = res.latest.size;
}

static void
generate(void)
{
    struct ql_county *c;
    struct ql_diag d;
    char *wf_path, *wf;
    size_t wf_len, i;
    int lead = 0, chunk = 0;
    sqlite3 *db;
    sqlite3_stmt *st;

    W.pristine = qlt_join(W.dir, "pristine.db");
    W.older = qlt_join(W.dir, "older.db");
    W.fork = qlt_join(W.dir, "fork.db");
    ok(ql_county_create(W.pristine, "qinghe.test/leads", W.k[ADMIN], NULL, NOW,
                        &d),
       &d, "create");
    c = open_county(W.pristine);
    as(c, ADMIN);
    ok(ql_county_unit_add(c, "SH", "青禾县扫黑办", QL_KIND_SUPERVISION, &d),
       &d, "unit");
    ok(ql_county_unit_add(c, "LT", "鹭汀镇", QL_KIND_TOWNSHIP, &d), &d,
       "unit");
    ok(ql_county_unit_add(c, "QY", "栖云乡", QL_KIND_TOWNSHIP, &d), &d,
       "unit");
    ok(ql_county_unit_add(c, "AU", "县纪委监委", QL_KIND_AUDIT, &d), &d,
       "unit");
    for (i = 1; i < MALLORY; i++)
        ok(ql_county_principal_add(c, W.k[i], PEOPLE[i].unit,
                                   PEOPLE[i].roles, &d),
           &d, "principal");
    wf_path = qlt_data_path("wf_test.lua");
    wf = qlt_read_file(wf_path, &wf_len);
    ok(ql_county_workflow_add(c, "wf_test.lua", wf, wf_len, W.wf_hash, &d),
       &d, "workflow");
    free(wf);
    free(wf_path);
    while (lead < LEADS) {
        int end = lead + CHUNK < LEADS ? lead + CHUNK : LEADS;

        as(c, REG);
        ok(ql_county_batch_begin(c, &d), &d, "batch");
        for (; lead < end; lead++) {
            int left = LEADS - lead; /* the last few stay assigned */

            one_lead(c, lead, chunk < 4 ? LT_HC2 : LT_HC, left > 4,
                     left <= 4 ? W.assigned[4 - left] : NULL);
        }
        ok(ql_county_batch_commit(c, &d), &d, "commit");
        chunk++;
        if (chunk == 4) {
            /* The second verifier leaves: its key is revoked. */
            W.revoke_idx = size_of(c);
            as(c, ADMIN);
            ok(ql_county_principal_revoke(c, PEOPLE[LT_HC2].name, &d), &d,
               "revoke");
        }
        if (chunk == 6)
            cosign(c);
        if (chunk == 9) {
            /* An older copy, and the start of a fork. */
            ql_county_close(c);
            copy_store(W.pristine, W.older);
            copy_store(W.pristine, W.fork);
            c = open_county(W.pristine);
        }
    }
    W.n = size_of(c);
    ok(ql_log_root(ql_county_log(c), W.n, W.root, &d), &d, "root");
    ql_county_close(c);

    /* The fork: the older copy grows other entries past the original. */
    c = open_county(W.fork);
    W.older_n = size_of(c);
    as(c, REG);
    ok(ql_county_batch_begin(c, &d), &d, "fork batch");
    while (size_of(c) < W.n + 8)
        one_lead(c, lead++, LT_HC, true, NULL);
    ok(ql_county_batch_commit(c, &d), &d, "fork commit");
    ql_county_close(c);

    /* The checkpoint sizes, for the cases that pick one. */
    assert_int_equal(sqlite3_open(W.pristine, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT size FROM checkpoints "
                                            "ORDER BY size",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && W.ncps < 256)
        W.cps[W.ncps++] = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int
group_setup(void **state)
{
    struct ql_export_result er;
    struct ql_county *c;
    struct ql_diag d;
    double t0;
    size_t i;

    (void)state;
    memset(&W, 0, sizeof W);
    assert_int_equal(ql_crypto_init(&d), QL_OK);
    W.dir = qlt_tempdir();
    for (i = 0; i < NKEYS; i++)
        ok(ql_key_generate(ql_profile_default(), PEOPLE[i].name, &W.k[i], &d),
           &d, "key");
    W.admin_pub = qlt_join(W.dir, "admin.pub");
    ok(ql_keyfile_write_public(W.admin_pub, W.k[ADMIN], &d), &d, "pub");
    W.state = qlt_join(W.dir, "auditor.state");
    t0 = now_s();
    generate();
    W.gen_seconds = now_s() - t0;
    print_message("generated %llu entries in %.1f s (older copy %llu, "
                  "%zu checkpoints, cosigned at %llu)\n",
                  (unsigned long long)W.n, W.gen_seconds,
                  (unsigned long long)W.older_n, W.ncps,
                  (unsigned long long)W.cosig_size);
    assert_true(W.n >= 10000);
    W.export_dir = qlt_join(W.dir, "export");
    c = open_county(W.pristine);
    ok(ql_export_write(c, W.export_dir, NULL, NULL, &er, &d), &d, "export");
    ql_county_close(c);
    return 0;
}

static int
group_teardown(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NKEYS; i++)
        ql_key_free(W.k[i]);
    free(W.pristine);
    free(W.older);
    free(W.fork);
    free(W.export_dir);
    free(W.admin_pub);
    free(W.state);
    qlt_rmtree(W.dir);
    return 0;
}

/* ---- changing copies ---- */

/* A fresh copy of from as dir/name; the path is the caller's. */
static char *
fresh(const char *from, const char *name)
{
    char *p = qlt_join(W.dir, name);
    char side[600];

    snprintf(side, sizeof side, "%s-wal", p);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", p);
    unlink(side);
    copy_store(from, p);
    return p;
}

/* Runs SQL on a closed store with the append-only triggers dropped. */
static void
sql(const char *path, const char *text)
{
    sqlite3 *db = NULL;
    char *err = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db,
                     "DROP TRIGGER IF EXISTS entries_no_update;"
                     "DROP TRIGGER IF EXISTS entries_no_delete;"
                     "DROP TRIGGER IF EXISTS entries_dense;"
                     "DROP TRIGGER IF EXISTS tree_no_update;"
                     "DROP TRIGGER IF EXISTS tree_no_delete;"
                     "DROP TRIGGER IF EXISTS checkpoints_no_update;"
                     "DROP TRIGGER IF EXISTS checkpoints_no_delete;"
                     "DROP TRIGGER IF EXISTS cosignatures_no_update;"
                     "DROP TRIGGER IF EXISTS cosignatures_no_delete;",
                     NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(db, text, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("sql: %s", err ? err : "?");
    sqlite3_close(db);
}

/* Entry idx's stored note, caller-owned. */
static char *
note_of(const char *path, uint64_t idx, size_t *len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out;
    int n;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT note FROM entries WHERE "
                                            "idx = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_bytes(st, 0);
    out = malloc((size_t)n + 1);
    memcpy(out, sqlite3_column_blob(st, 0), (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/*
 * Writes note as entry idx (inserting it when insert), with its true leaf
 * hash unless keep_leaf: a careful intruder fixes the leaf hash too.
 */
static void
put_note(const char *path, uint64_t idx, const void *note, size_t len,
         bool insert, bool keep_leaf)
{
    uint8_t leaf[QL_HASH_LEN];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    sql(path, "SELECT 1");
    ql_merkle_leaf_hash(ql_profile_default(), leaf, note, len);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           insert ? "INSERT INTO entries(idx, note, "
                                    "leaf_hash) VALUES (?1, ?2, ?3)"
                           : keep_leaf
                               ? "UPDATE entries SET note = ?2 WHERE "
                                 "idx = ?1 AND ?3 IS NOT NULL"
                               : "UPDATE entries SET note = ?2, "
                                 "leaf_hash = ?3 WHERE idx = ?1",
                           -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
    sqlite3_bind_blob(st, 2, note, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, leaf, QL_HASH_LEN, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/*
 * A signed entry of index idx by who: a move of lead on the test
 * workflow, as an insider (or an outsider's key) would forge it.
 */
static char *
forge(uint64_t idx, enum who who, const char *unit, const char *lead,
      const char *from, const char *to, const char *transition,
      size_t *len)
{
    const struct ql_key *signers[1] = {W.k[who]};
    struct ql_entry e;
    struct ql_diag d;
    char *text = NULL, *note = NULL;
    size_t tlen = 0;

    ql_entry_init(&e);
    e.index = idx;
    snprintf(e.time, sizeof e.time, "2025-09-15T02:00:00Z");
    ok(ql_entry_set_actor(&e, PEOPLE[who].name, &d), &d, "actor");
    snprintf(e.unit, sizeof e.unit, "%s", unit);
    snprintf(e.lead, sizeof e.lead, "%s", lead);
    snprintf(e.action, sizeof e.action, "lead.move");
    snprintf(e.from, sizeof e.from, "%s", from);
    snprintf(e.to, sizeof e.to, "%s", to);
    snprintf(e.transition, sizeof e.transition, "%s", transition);
    snprintf(e.workflow, sizeof e.workflow, "%s", W.wf_hash);
    ok(ql_entry_format(&e, &text, &tlen, &d), &d, "format");
    ok(ql_note_sign(text, tlen, signers, 1, &note, len, &d), &d, "sign");
    free(text);
    ql_entry_release(&e);
    return note;
}

/* Moves entries idx.. one place on and puts note at idx. */
static void
insert_at(const char *path, uint64_t idx, const char *note, size_t len)
{
    char q[256];

    snprintf(q, sizeof q,
             "UPDATE entries SET idx = idx + 1000000001 WHERE idx >= %llu;"
             "UPDATE entries SET idx = idx - 1000000000 "
             "WHERE idx > 1000000000;",
             (unsigned long long)idx);
    sql(path, q);
    put_note(path, idx, note, len, true, false);
}

/* ---- running the verifier ---- */

struct target {
    const char *db;     /* a store, or */
    const char *export; /* an export folder */
    const char *state;  /* a state file, or NULL */
};

static struct qlt_run
run_bin(const struct target *t, const char *jobs)
{
    const char *argv[16];
    struct qlt_run r;
    size_t n = 0;

    if (t->db != NULL) {
        argv[n++] = "--db";
        argv[n++] = t->db;
    }
    argv[n++] = "audit";
    argv[n++] = "verify";
    if (t->export != NULL) {
        argv[n++] = "--export";
        argv[n++] = t->export;
    }
    argv[n++] = "--trust";
    argv[n++] = W.admin_pub;
    if (t->state != NULL) {
        argv[n++] = "--state";
        argv[n++] = t->state;
    }
    argv[n++] = "--jobs";
    argv[n++] = jobs;
    argv[n] = NULL;
    qlt_exec(&r, argv, NULL, NULL);
    return r;
}

/* The library's verdict: rc, and the index and message in res and d. */
static ql_err
run_lib(const struct target *t, unsigned jobs, struct ql_audit_result *res,
        struct ql_diag *d)
{
    struct ql_audit_source *src = NULL;
    struct ql_audit_state st;
    struct ql_audit_opts o;
    struct ql_county *c = NULL;
    ql_err rc;

    memset(&o, 0, sizeof o);
    o.trust = W.k[ADMIN];
    o.jobs = jobs;
    if (t->state != NULL) {
        ok(ql_audit_state_read(t->state, &st, d), d, "state");
        o.state = &st;
    }
    if (t->db != NULL) {
        ok(ql_county_open(t->db, QL_COUNTY_READONLY, &c, d), d, "open");
        ok(ql_audit_source_store(c, &src, d), d, "source");
    } else {
        ok(ql_audit_source_export(t->export, &src, d), d, "export source");
    }
    rc = ql_audit_run(src, NULL, &o, res, d);
    ql_audit_source_free(src);
    ql_county_close(c);
    return rc;
}

/*
 * The change must be found at entry index with reason in the message:
 * by the binary with --jobs 1 and 2 (exit 5, one identical line), and by
 * the library.
 */
static void
expect_found(const struct target *t, uint64_t index, const char *reason)
{
    struct qlt_run r1 = run_bin(t, "1"), r2 = run_bin(t, "2");
    struct ql_audit_result res;
    struct ql_diag d;
    char want[64];
    ql_err rc;

    print_message("  -> %s", r1.err);
    if (r1.status != 5)
        fail_msg("exit %d, want 5; stderr: %s", r1.status, r1.err);
    assert_int_equal(r2.status, 5);
    assert_string_equal(r1.err, r2.err);
    assert_string_equal(r1.out, r2.out);
    snprintf(want, sizeof want, "qingling: entry %llu: ",
             (unsigned long long)index);
    if (strncmp(r1.err, want, strlen(want)) != 0)
        fail_msg("want '%s...'; got %s", want, r1.err);
    if (strstr(r1.err, reason) == NULL)
        fail_msg("want a reason with '%s'; got %s", reason, r1.err);
    assert_non_null(strchr(r1.err, '\n'));
    assert_int_equal(strchr(r1.err, '\n')[1], '\0');
    qlt_run_free(&r1);
    qlt_run_free(&r2);
    rc = run_lib(t, 2, &res, &d);
    assert_true(rc == QL_EINTEGRITY || rc == QL_EVERIFY);
    assert_int_equal(res.bad_index, index);
    assert_non_null(strstr(d.msg, reason));
}

/* ---- the cases ---- */

static void
test_pristine_verifies(void **state)
{
    struct target t = {W.pristine, NULL, NULL};
    struct qlt_run r1, r2;
    struct ql_audit_result res;
    struct ql_diag d;
    double t0;

    (void)state;
    t0 = now_s();
    r1 = run_bin(&t, "1");
    print_message("verify --jobs 1: %.2f s\n", now_s() - t0);
    t0 = now_s();
    r2 = run_bin(&t, "2");
    print_message("verify --jobs 2: %.2f s\n", now_s() - t0);
    if (r1.status != 0)
        fail_msg("%s", r1.err);
    assert_int_equal(r2.status, 0);
    assert_string_equal(r1.out, r2.out);
    assert_non_null(strstr(r1.out, "log verified"));
    qlt_run_free(&r1);
    qlt_run_free(&r2);
    ok(run_lib(&t, 1, &res, &d), &d, "library");
    assert_int_equal(res.entries, W.n);
    assert_int_equal(res.latest.size, W.n);
    assert_memory_equal(res.latest.root, W.root, QL_HASH_LEN);
    assert_int_equal(res.cosignatures, 1);
    assert_true(res.leads >= LEADS);
    /* The export verifies on its own. */
    t.db = NULL;
    t.export = W.export_dir;
    t0 = now_s();
    r1 = run_bin(&t, "2");
    print_message("verify --export --jobs 2: %.2f s\n", now_s() - t0);
    if (r1.status != 0)
        fail_msg("%s", r1.err);
    qlt_run_free(&r1);
}

/* Replaces the first occurrence of from (in entry idx) with to. */
static void
edit_entry(const char *path, uint64_t idx, const char *from, const char *to,
           bool keep_leaf)
{
    size_t len, fl = strlen(from), tl = strlen(to);
    char *note = note_of(path, idx, &len), *at = strstr(note, from), *out;

    if (at == NULL)
        fail_msg("entry %llu lacks '%s'", (unsigned long long)idx, from);
    out = malloc(len - fl + tl + 1);
    memcpy(out, note, (size_t)(at - note));
    memcpy(out + (at - note), to, tl);
    memcpy(out + (at - note) + tl, at + fl, len - (size_t)(at - note) - fl);
    put_note(path, idx, out, len - fl + tl, false, keep_leaf);
    free(out);
    free(note);
}

/* Another base64 character at offset off of the note (not the padding). */
static void
flip_b64(char *note, size_t off)
{
    note[off] = note[off] == 'A' ? 'B' : 'A';
}

/* The entry index of the first line starting with key in entry idx. */
static size_t
line_at(const char *note, const char *key)
{
    const char *p = strstr(note, key);

    if (p == NULL)
        fail_msg("no '%s' line", key);
    return (size_t)(p - note);
}

static void
test_flipped_metadata(void **state)
{
    char *db = fresh(W.pristine, "meta.db");
    struct target t = {db, NULL, NULL};

    (void)state;
    /* The time of entry 5001, one digit changed. */
    edit_entry(db, 5001, "time 2025-09-15T02:00:00Z",
           "time 2025-09-15T03:00:00Z", false);
    expect_found(&t, 5001, "bad signature by '");
    free(db);
}

static void
test_flipped_payload(void **state)
{
    char *db = fresh(W.pristine, "payload.db");
    struct target t = {db, NULL, NULL};
    size_t len;
    char *note = note_of(db, 6002, &len);

    (void)state;
    flip_b64(note, line_at(note, "\npayload ") + 20);
    put_note(db, 6002, note, len, false, false);
    expect_found(&t, 6002, "bad signature by '");
    free(note);
    free(db);
}

static void
test_flipped_signature(void **state)
{
    char *db = fresh(W.pristine, "sig.db");
    struct target t = {db, NULL, NULL};
    size_t len;
    char *note = note_of(db, 7003, &len);

    (void)state;
    flip_b64(note, len - 30);
    put_note(db, 7003, note, len, false, false);
    expect_found(&t, 7003, "bad signature by '");
    free(note);
    free(db);
}

static void
test_flipped_byte_leaf_left(void **state)
{
    char *db = fresh(W.pristine, "leaf.db");
    struct target t = {db, NULL, NULL};

    (void)state;
    edit_entry(db, 4004, "time 2025", "time 2024", true);
    expect_found(&t, 4004, "stored leaf hash is not the entry's");
    free(db);
}

static void
test_removed_entry(void **state)
{
    char *db = fresh(W.pristine, "removed.db");
    struct target t = {db, NULL, NULL};

    (void)state;
    sql(db, "DELETE FROM entries WHERE idx = 3210");
    expect_found(&t, 3210, "is missing");
    free(db);
}

static void
test_swapped_entries(void **state)
{
    char *db = fresh(W.pristine, "swapped.db");
    struct target t = {db, NULL, NULL};

    (void)state;
    sql(db, "UPDATE entries SET idx = 1000000000 WHERE idx = 2500;"
            "UPDATE entries SET idx = 2500 WHERE idx = 2501;"
            "UPDATE entries SET idx = 2501 WHERE idx = 1000000000;");
    expect_found(&t, 2500, "carries index 2501");
    free(db);
}

static void
test_inserted_unregistered(void **state)
{
    char *db = fresh(W.pristine, "unregistered.db");
    struct target t = {db, NULL, NULL};
    size_t len;
    char *note = forge(8100, MALLORY, "LT", W.assigned[0], "ASSIGNED",
                       "VERIFYING", "accept", &len);

    (void)state;
    insert_at(db, 8100, note, len);
    expect_found(&t, 8100, "signed by an unregistered key 'mallory'");
    free(note);
    free(db);
}

static void
test_inserted_revoked(void **state)
{
    char *db = fresh(W.pristine, "revoked.db");
    struct target t = {db, NULL, NULL};
    uint64_t at = W.revoke_idx + 100;
    size_t len;
    char *note = forge(at, LT_HC2, "LT", W.assigned[0], "VERIFYING",
                       "VERIFYING", "progress", &len);

    (void)state;
    insert_at(db, at, note, len);
    expect_found(&t, at, "signed by the revoked key 'LT-hc-02'");
    free(note);
    free(db);
}

static void
test_inserted_other_unit(void **state)
{
    char *db = fresh(W.pristine, "unit.db");
    struct target t = {db, NULL, NULL};
    size_t len;
    /* A liaison of QY accepts a lead of LT: signed, but not theirs. */
    char *note = forge(W.n, QY_LLY, "LT", W.assigned[1], "ASSIGNED",
                       "VERIFYING", "accept", &len);

    (void)state;
    put_note(db, W.n, note, len, true, false);
    expect_found(&t, W.n, "'QY-lly-01' of unit QY may not act on lead");
    free(note);
    free(db);
}

static void
test_inserted_wrong_role(void **state)
{
    char *db = fresh(W.pristine, "role.db");
    struct target t = {db, NULL, NULL};
    size_t len;
    /* A verifier of LT accepts the lead: only a liaison may. */
    char *note = forge(W.n, LT_HC, "LT", W.assigned[2], "ASSIGNED",
                       "VERIFYING", "accept", &len);

    (void)state;
    put_note(db, W.n, note, len, true, false);
    expect_found(&t, W.n, "'LT-hc-01' holds no role that may take 'accept'");
    free(note);
    free(db);
}

static void
test_truncated_tail(void **state)
{
    char *db = fresh(W.pristine, "truncated.db");
    struct target t = {db, NULL, NULL};
    char q[128];

    (void)state;
    snprintf(q, sizeof q, "DELETE FROM entries WHERE idx >= %llu",
             (unsigned long long)(W.n - 3));
    sql(db, q);
    expect_found(&t, W.n - 3, "entries were removed from its end");
    free(db);
}

/* The auditor's state after verifying the pristine log. */
static void
remember_pristine(void)
{
    struct ql_audit_state st;
    struct ql_diag d;

    memset(&st, 0, sizeof st);
    snprintf(st.origin, sizeof st.origin, "qinghe.test/leads");
    st.size = W.n;
    memcpy(st.root, W.root, QL_HASH_LEN);
    ok(ql_audit_state_write(W.state, &st, &d), &d, "state");
}

static void
test_rollback_to_older_copy(void **state)
{
    char *db = fresh(W.older, "rollback.db");
    struct target t = {db, NULL, W.state};
    struct qlt_run r;
    char *before, *after;

    (void)state;
    remember_pristine();
    /* On its own the older copy is a valid log ... */
    t.state = NULL;
    r = run_bin(&t, "2");
    assert_int_equal(r.status, 0);
    qlt_run_free(&r);
    /* ... but the auditor remembers more, and the state stays. */
    t.state = W.state;
    before = qlt_read_file(W.state, NULL);
    expect_found(&t, W.older_n, "rollback: the log has");
    after = qlt_read_file(W.state, NULL);
    assert_string_equal(before, after);
    free(before);
    free(after);
    free(db);
}

static void
test_clean_truncation(void **state)
{
    char *db = fresh(W.pristine, "clean.db");
    struct target t = {db, NULL, W.state};
    uint64_t m = W.cps[W.ncps - 3];
    char q[512];

    (void)state;
    /* Cut back to an earlier checkpoint, tree and all: what remains is
       a complete, valid log that only the remembered state catches. */
    snprintf(q, sizeof q,
             "DELETE FROM entries WHERE idx >= %llu;"
             "DELETE FROM tree WHERE ((idx + 1) << level) > %llu;"
             "DELETE FROM cosignatures WHERE size > %llu;"
             "DELETE FROM checkpoints WHERE size > %llu;",
             (unsigned long long)m, (unsigned long long)m,
             (unsigned long long)m, (unsigned long long)m);
    sql(db, q);
    remember_pristine();
    expect_found(&t, m, "rollback");
    free(db);
}

static void
test_fork(void **state)
{
    char *db = fresh(W.fork, "fork.db");
    struct target t = {db, NULL, W.state};
    struct qlt_run r;

    (void)state;
    remember_pristine();
    t.state = NULL;
    r = run_bin(&t, "2");
    assert_int_equal(r.status, 0); /* a valid log of its own */
    qlt_run_free(&r);
    t.state = W.state;
    expect_found(&t, W.n - 1, "fork: the log's first");
    free(db);
}

static void
test_forged_checkpoint(void **state)
{
    char *db = fresh(W.pristine, "checkpoint.db");
    struct target t = {db, NULL, NULL};
    uint64_t s = 0;
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    char *note;
    int n;

    (void)state;
    /* The checkpoint nearest the middle of the log. */
    for (n = 0; (size_t)n < W.ncps; n++)
        if (W.cps[n] <= W.n / 2)
            s = W.cps[n];
    sql(db, "SELECT 1");
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT note FROM checkpoints "
                                           "WHERE size = ?1",
                                       -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)s);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_bytes(st, 0);
    note = malloc((size_t)n + 1);
    memcpy(note, sqlite3_column_blob(st, 0), (size_t)n);
    note[n] = '\0';
    sqlite3_finalize(st);
    flip_b64(note, (size_t)n - 20);
    assert_int_equal(sqlite3_prepare_v2(h, "UPDATE checkpoints SET note = ?2 "
                                           "WHERE size = ?1",
                                       -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)s);
    sqlite3_bind_blob(st, 2, note, n, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(h);
    expect_found(&t, s - 1, "is not signed by the log key");
    free(note);
    free(db);
}

static void
test_forged_cosignature(void **state)
{
    char *db = fresh(W.pristine, "cosig.db");
    struct target t = {db, NULL, NULL};

    (void)state;
    sql(db, "UPDATE cosignatures SET line = replace(line, 'A', 'B')");
    expect_found(&t, W.cosig_size - 1,
                 "the cosignature of size");
    free(db);
}

static void
test_cosignature_by_non_auditor(void **state)
{
    char *db = fresh(W.pristine, "cosig2.db");
    struct target t = {db, NULL, NULL};
    struct ql_checkpoint cp;
    struct ql_diag d;
    char *text = NULL, *line = NULL, q[1024];
    size_t tlen = 0, llen = 0;
    uint64_t s = W.cps[W.ncps - 2];
    struct ql_county *c = open_county(W.pristine);

    (void)state;
    /* The registrar cosigns a real checkpoint with a good signature. */
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "qinghe.test/leads");
    cp.size = s;
    ok(ql_log_root(ql_county_log(c), s, cp.root, &d), &d, "root");
    ql_county_close(c);
    ok(ql_checkpoint_format(&cp, &text, &tlen, &d), &d, "format");
    ok(ql_cosig_sign(W.k[REG], text, tlen, NOW, &line, &llen, &d), &d,
       "cosign");
    snprintf(q, sizeof q,
             "INSERT INTO cosignatures(size, cosigner, line, time) VALUES "
             "(%llu, 'sh-dengji-01', '%s', %d)",
             (unsigned long long)s, line, NOW);
    sql(db, q);
    expect_found(&t, s - 1, "'sh-dengji-01' is not an auditor");
    free(text);
    free(line);
    free(db);
}

/* Flips one byte of an export file at off, runs, and puts it back. */
static void
with_flipped(const char *rel, size_t off, uint64_t index, const char *reason)
{
    struct target t = {NULL, W.export_dir, NULL};
    char *path = qlt_join(W.export_dir, rel);
    size_t len;
    char *buf = qlt_read_file(path, &len);

    assert_true(off < len);
    buf[off] ^= 0x20;
    qlt_write_file(path, buf, len);
    expect_found(&t, index, reason);
    buf[off] ^= 0x20;
    qlt_write_file(path, buf, len);
    free(buf);
    free(path);
}

static void
test_corrupted_tiles(void **state)
{
    struct target t = {NULL, W.export_dir, NULL};
    char *path, *moved;
    size_t len, pos = 0, i;
    char *buf;

    (void)state;
    /* Leaf hash 17 of the fourth level-0 tile: entry 3 * 256 + 17. */
    with_flipped("tile/0/003", 17 * 32 + 5, 3 * 256 + 17,
                 "stored hash 0/785 is not the hash of the entries");
    /* Hash 2 of the (partial) level-1 tile covers entries 512..767: the
       stream completes it with entry 767. */
    {
        char rel[QL_EXPORT_PATH_MAX];
        struct ql_diag d;

        ok(ql_export_tile_path(1, 0, (unsigned)((W.n >> 8) % 256), rel,
                               sizeof rel, &d),
           &d, "path");
        with_flipped(rel, 2 * 32, 767,
                     "stored hash 8/2 is not the hash of the entries");
    }
    /* A byte of entry 5 * 256 + 10's signature inside its bundle. */
    path = qlt_join(W.export_dir, "tile/entries/005");
    buf = qlt_read_file(path, &len);
    for (i = 0; i < 10; i++)
        pos += 2 + ((size_t)(uint8_t)buf[pos] << 8 | (uint8_t)buf[pos + 1]);
    {
        size_t n = (size_t)(uint8_t)buf[pos] << 8 | (uint8_t)buf[pos + 1];
        char old = buf[pos + 2 + n - 30];

        flip_b64(buf + pos + 2, n - 30);
        qlt_write_file(path, buf, len);
        expect_found(&t, 5 * 256 + 10, "bad signature by '");
        buf[pos + 2 + n - 30] = old;
        qlt_write_file(path, buf, len);
    }
    free(buf);
    /* A whole bundle gone. */
    moved = qlt_join(W.export_dir, "bundle.saved");
    free(path);
    path = qlt_join(W.export_dir, "tile/entries/007");
    assert_int_equal(rename(path, moved), 0);
    expect_found(&t, 7 * 256, "'tile/entries/007' is missing");
    assert_int_equal(rename(moved, path), 0);
    free(moved);
    free(path);
}

static void
test_random_flips(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15u;
    struct ql_audit_result res;
    struct ql_diag d;
    int round;

    (void)state;
    /* Any byte of any entry, changed to any other value. */
    for (round = 0; round < 6; round++) {
        char *db = fresh(W.pristine, "random.db");
        struct target t = {db, NULL, NULL};
        uint64_t idx = 1 + qlt_rand(&seed) % (W.n - 1);
        size_t len, off;
        char *note = note_of(db, idx, &len);
        uint8_t x = (uint8_t)(1 + qlt_rand(&seed) % 255);

        off = (size_t)(qlt_rand(&seed) % len);
        note[off] = (char)((uint8_t)note[off] ^ x);
        put_note(db, idx, note, len, false, false);
        assert_int_not_equal(run_lib(&t, 2, &res, &d), QL_OK);
        print_message("  entry %llu byte %zu ^ 0x%02x -> %s\n",
                      (unsigned long long)idx, off, x, d.msg);
        assert_int_equal(res.bad_index, idx);
        free(note);
        free(db);
    }
    /* Any stored tree hash. */
    for (round = 0; round < 3; round++) {
        char *db = fresh(W.pristine, "random.db");
        struct target t = {db, NULL, NULL};
        unsigned level = (unsigned)(qlt_rand(&seed) % 12);
        uint64_t idx = qlt_rand(&seed) % (W.n >> level);
        char q[256];

        snprintf(q, sizeof q,
                 "UPDATE tree SET hash = zeroblob(32) WHERE level = %u AND "
                 "idx = %llu",
                 level, (unsigned long long)idx);
        sql(db, q);
        assert_int_not_equal(run_lib(&t, 2, &res, &d), QL_OK);
        print_message("  tree %u/%llu -> %s\n", level,
                      (unsigned long long)idx, d.msg);
        assert_int_equal(res.bad_index, ((idx + 1) << level) - 1);
        free(db);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pristine_verifies),
        cmocka_unit_test(test_flipped_metadata),
        cmocka_unit_test(test_flipped_payload),
        cmocka_unit_test(test_flipped_signature),
        cmocka_unit_test(test_flipped_byte_leaf_left),
        cmocka_unit_test(test_removed_entry),
        cmocka_unit_test(test_swapped_entries),
        cmocka_unit_test(test_inserted_unregistered),
        cmocka_unit_test(test_inserted_revoked),
        cmocka_unit_test(test_inserted_other_unit),
        cmocka_unit_test(test_inserted_wrong_role),
        cmocka_unit_test(test_truncated_tail),
        cmocka_unit_test(test_rollback_to_older_copy),
        cmocka_unit_test(test_clean_truncation),
        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_forged_checkpoint),
        cmocka_unit_test(test_forged_cosignature),
        cmocka_unit_test(test_cosignature_by_non_auditor),
        cmocka_unit_test(test_corrupted_tiles),
        cmocka_unit_test(test_random_flips),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
