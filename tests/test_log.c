/*
 * Tests of engine/ql_log over a real store: a batch's sync stores the same
 * entries and tree hashes as single writes, keeps the tree's right edge
 * across syncs, and leaves the store intact when it fails and is rolled
 * back, whoever wrote in between.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_keys.h"
#include "ql_log.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_store.h"
#include "ql_test.h"

#define ORIGIN "county.test"

/* Keys shared by every test: made once, read only. */
static struct ql_key *alice, *logkey;

struct fx {
    char *dir;
};

static void
ok(ql_err rc, const struct ql_diag *d, const char *what)
{
    if (rc != QL_OK)
        fail_msg("%s: %s (%s)", what, d->msg, ql_errname(rc));
}

static int
group_setup(void **state)
{
    struct ql_diag d;

    (void)state;
    if (ql_crypto_init(&d) != QL_OK ||
        ql_key_generate(ql_profile_default(), "alice", &alice, &d) != QL_OK ||
        ql_key_generate(ql_profile_default(), ORIGIN, &logkey, &d) != QL_OK)
        return -1;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    ql_key_free(alice);
    ql_key_free(logkey);
    return 0;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    f->dir = qlt_tempdir();
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    qlt_rmtree(f->dir);
    free(f);
    return 0;
}

/* A new store holding an empty log, open; *path is caller-owned. */
static void
new_log(struct fx *f, const char *name, char **path, struct ql_store **s,
        struct ql_log **l)
{
    struct ql_diag d;

    *path = qlt_join(f->dir, name);
    ok(ql_store_open(*path, QL_STORE_CREATE, s, &d), &d, "create");
    ok(ql_store_begin(*s, &d), &d, "begin");
    ok(ql_log_init(*s, ORIGIN, ql_profile_default(), &d), &d, "init");
    ok(ql_store_commit(*s, &d), &d, "commit");
    ok(ql_log_open(*s, l, &d), &d, "open");
}

/*
 * Entry i, the same text in every store: its payload makes the entry
 * about payload_len * 4 / 3 bytes longer.
 */
static void
entry_of(uint64_t i, size_t payload_len, struct ql_entry *e)
{
    struct ql_diag d;
    uint8_t *p;
    size_t k;

    ql_entry_init(e);
    snprintf(e->time, sizeof e->time, "2025-09-15T02:00:00Z");
    ok(ql_entry_set_actor(e, "alice", &d), &d, "actor");
    snprintf(e->action, sizeof e->action, "note");
    snprintf(e->lead, sizeof e->lead, "L-%llu", (unsigned long long)i);
    if (payload_len > 0) {
        if ((p = malloc(payload_len)) == NULL)
            fail_msg("out of memory");
        for (k = 0; k < payload_len; k++)
            p[k] = (uint8_t)(k * 7 + i);
        ok(ql_entry_set_payload(e, p, payload_len, &d), &d, "payload");
        free(p);
    }
}

static ql_err
append(struct ql_log *l, uint64_t i, size_t payload_len, char **note,
       size_t *note_len, struct ql_diag *d)
{
    const struct ql_key *signers[1] = {alice};
    struct ql_entry e;
    uint64_t idx = UINT64_MAX;
    ql_err rc;

    entry_of(i, payload_len, &e);
    rc = ql_log_append(l, &e, signers, 1, &idx, note, note_len, d);
    ql_entry_release(&e);
    if (rc == QL_OK)
        assert_int_equal(idx, i);
    return rc;
}

/* Entries [from, to) one transaction each, with a checkpoint each. */
static void
append_single(struct ql_store *s, struct ql_log *l, uint64_t from, uint64_t to)
{
    struct ql_diag d;
    uint64_t i;

    for (i = from; i < to; i++) {
        ok(ql_store_begin(s, &d), &d, "begin");
        ok(append(l, i, 0, NULL, NULL, &d), &d, "append");
        ok(ql_log_checkpoint(l, logkey, NULL, &d), &d, "checkpoint");
        ok(ql_store_commit(s, &d), &d, "commit");
    }
}

/* Opens a write transaction and a batch of deferred signing on it. */
static void
batch_begin(struct ql_store *s, struct ql_log *l)
{
    struct ql_diag d;

    ok(ql_store_begin(s, &d), &d, "begin");
    ok(ql_log_defer_begin(l, &d), &d, "defer");
}

/* Signs the batch's checkpoint, commits and ends the batch. */
static void
batch_commit(struct ql_store *s, struct ql_log *l)
{
    struct ql_diag d;

    ok(ql_log_checkpoint(l, logkey, NULL, &d), &d, "checkpoint");
    ok(ql_store_commit(s, &d), &d, "commit");
    ql_log_defer_end(l);
}

/* One scalar answer of a query with no parameters. */
static int64_t
query_int(struct ql_store *s, const char *sql)
{
    struct ql_stmt *st = NULL;
    struct ql_diag d;
    bool row = false;
    int64_t v;

    ok(ql_store_prepare(s, sql, &st, &d), &d, "prepare");
    ok(ql_stmt_step(st, &row, &d), &d, "step");
    assert_true(row);
    v = ql_stmt_int(st, 0);
    ql_stmt_done(st);
    return v;
}

struct leaves {
    uint8_t *h;
    uint64_t n;
    const struct ql_profile *p;
};

/* Collects each entry's stored leaf hash, checking it against its note. */
static ql_err
collect(void *ctx, uint64_t idx, const void *note, size_t len,
        const uint8_t leaf_hash[32], struct ql_diag *d)
{
    struct leaves *lv = ctx;
    uint8_t want[QL_HASH_LEN];

    (void)d;
    assert_int_equal(idx, lv->n);
    ql_merkle_leaf_hash(lv->p, want, note, len);
    assert_memory_equal(leaf_hash, want, QL_HASH_LEN);
    memcpy(lv->h + idx * QL_HASH_LEN, leaf_hash, QL_HASH_LEN);
    lv->n++;
    return QL_OK;
}

/*
 * Checks everything a reader of the tree relies on: the store holds, at
 * every level, exactly the complete subtrees of its size and each is the
 * root of its leaves; the log's root, every checkpoint's root and a few
 * proofs agree with the leaves.
 */
static void
check_tree(struct ql_store *s, struct ql_log *l, uint64_t want_size)
{
    const struct ql_profile *p = ql_profile_default();
    struct ql_merkle_proof pr;
    struct ql_checkpoint cp;
    struct leaves lv = {NULL, 0, p};
    uint8_t got[QL_HASH_LEN], want[QL_HASH_LEN];
    struct ql_diag d;
    uint64_t size, i, count = 0, cps;
    unsigned level;
    char *note = NULL;

    ok(ql_store_log_size(s, &size, &d), &d, "size");
    assert_int_equal(size, want_size);
    if ((lv.h = malloc((size + 1) * QL_HASH_LEN)) == NULL)
        fail_msg("out of memory");
    ok(ql_store_entry_walk(s, 0, size, collect, &lv, &d), &d, "walk");
    assert_int_equal(lv.n, size);
    for (level = 0; level < 64 && (size >> level) != 0; level++) {
        for (i = 0; i < size >> level; i++) {
            ok(ql_store_tree_get(s, level, i, got, &d), &d, "tree get");
            ql_merkle_root_of_leaves(p, want, lv.h + (i << level) * QL_HASH_LEN,
                                     (size_t)1 << level);
            if (memcmp(got, want, QL_HASH_LEN) != 0)
                fail_msg("tree hash %u/%llu is wrong", level,
                         (unsigned long long)i);
        }
        count += size >> level;
    }
    assert_int_equal(query_int(s, "SELECT count(*) FROM tree"), count);
    ok(ql_log_root(l, size, got, &d), &d, "root");
    ql_merkle_root_of_leaves(p, want, lv.h, size);
    assert_memory_equal(got, want, QL_HASH_LEN);
    /* Every checkpoint signs the root of its size. */
    cps = (uint64_t)query_int(s, "SELECT count(*) FROM checkpoints");
    for (i = 0; i <= size && cps > 0; i++) {
        uint64_t at;

        if (ql_store_checkpoint_get(s, i, &at, &note, &d) != QL_OK)
            continue;
        cps--;
        ok(ql_checkpoint_open(note, strlen(note), logkey, NULL, 0, &cp, &d), &d,
           "checkpoint");
        assert_int_equal(cp.size, i);
        ql_merkle_root_of_leaves(p, want, lv.h, i);
        assert_memory_equal(cp.root, want, QL_HASH_LEN);
        free(note);
        note = NULL;
    }
    assert_int_equal(cps, 0);
    for (i = 0; i < size; i += 1 + size / 7) {
        ok(ql_log_prove_inclusion(l, i, size, &pr, &d), &d, "prove");
        ok(ql_merkle_verify_inclusion(p, lv.h + i * QL_HASH_LEN, i, size, &pr,
                                      want, &d),
           &d, "verify");
    }
    free(lv.h);
}

/* The same rows in the tree tables of two stores. */
static void
same_tree(struct ql_store *a, struct ql_store *b)
{
    int64_t na = query_int(a, "SELECT count(*) FROM tree");
    uint8_t ha[QL_HASH_LEN], hb[QL_HASH_LEN];
    struct ql_diag d;
    uint64_t size, i;
    unsigned level;
    char *x, *y;
    size_t xl, yl;

    assert_int_equal(na, query_int(b, "SELECT count(*) FROM tree"));
    ok(ql_store_log_size(a, &size, &d), &d, "size");
    for (i = 0; i < size; i++) {
        ok(ql_store_entry_get(a, i, &x, &xl, &d), &d, "entry");
        ok(ql_store_entry_get(b, i, &y, &yl, &d), &d, "entry");
        assert_int_equal(xl, yl);
        assert_memory_equal(x, y, xl);
        free(x);
        free(y);
        for (level = 0; level < 64 && ((i + 1) >> level) != 0; level++) {
            if (((i + 1) & (((uint64_t)1 << level) - 1)) != 0)
                break;
            ok(ql_store_tree_get(a, level, i >> level, ha, &d), &d, "get");
            ok(ql_store_tree_get(b, level, i >> level, hb, &d), &d, "get");
            assert_memory_equal(ha, hb, QL_HASH_LEN);
        }
    }
}

/*
 * A batch with every kind of append the log offers in it (queued ones, a
 * sync for a root, one that wants its note now, a copied note, a sync for
 * a proof) stores, byte for byte, the entries and tree hashes that one
 * write a transaction stores; a second batch continues from the first.
 */
static void
test_batch_matches_single(void **state)
{
    struct fx *f = *state;
    struct ql_store *a = NULL, *b = NULL;
    struct ql_log *la = NULL, *lb = NULL;
    struct ql_merkle_proof pr;
    uint8_t root[QL_HASH_LEN];
    struct ql_diag d;
    char *pa, *pb, *note = NULL, *copy = NULL;
    size_t note_len = 0, copy_len = 0;
    uint64_t i;

    new_log(f, "single.db", &pa, &a, &la);
    new_log(f, "batch.db", &pb, &b, &lb);
    append_single(a, la, 0, 300);
    append_single(b, lb, 0, 37);
    ok(ql_store_entry_get(a, 150, &copy, &copy_len, &d), &d, "copy");
    /* First batch: 37 .. 200. */
    batch_begin(b, lb);
    for (i = 37; i < 200; i++) {
        if (i == 90) {
            ok(ql_log_root(lb, 90, root, &d), &d, "root mid-batch");
        } else if (i == 120) {
            ok(append(lb, i, 0, &note, &note_len, &d), &d, "append now");
            free(note);
            note = NULL;
            continue;
        } else if (i == 150) {
            ok(ql_log_append_note(lb, copy, copy_len, &d), &d, "copy");
            continue;
        } else if (i == 170) {
            ok(ql_log_prove_inclusion(lb, 3, 170, &pr, &d), &d, "proof");
        }
        ok(append(lb, i, 0, NULL, NULL, &d), &d, "append");
    }
    batch_commit(b, lb);
    /* Second batch: 200 .. 300, one sync at its checkpoint. */
    batch_begin(b, lb);
    for (i = 200; i < 300; i++)
        ok(append(lb, i, 0, NULL, NULL, &d), &d, "append");
    batch_commit(b, lb);
    same_tree(a, b);
    check_tree(b, lb, 300);
    ok(ql_log_root(la, 300, root, &d), &d, "root");
    free(copy);
    ql_log_free(la);
    ql_log_free(lb);
    ql_store_close(a);
    ql_store_close(b);
    free(pa);
    free(pb);
}

/*
 * A batch that synced and was rolled back leaves no trace; another
 * connection (another process) then appends, and the next batch of the
 * first connection takes the tree's edge from the store anew instead of
 * from what it kept before the rollback.
 */
static void
test_rollback_and_other_writer(void **state)
{
    struct fx *f = *state;
    struct ql_store *s = NULL, *other = NULL;
    struct ql_log *l = NULL, *lo = NULL;
    struct ql_diag d;
    char *path;
    uint64_t i, size;

    new_log(f, "county.db", &path, &s, &l);
    append_single(s, l, 0, 21);
    ok(ql_store_open(path, 0, &other, &d), &d, "second connection");
    ok(ql_log_open(other, &lo, &d), &d, "second log");
    batch_begin(s, l);
    for (i = 21; i < 60; i++) {
        if (i == 40)
            ok(ql_log_sync(l, &d), &d, "sync");
        /* Other entries than the other writer's, to tell them apart. */
        ok(append(l, i, 40, NULL, NULL, &d), &d, "append");
    }
    ok(ql_log_sync(l, &d), &d, "sync");
    ql_log_defer_end(l);
    ql_store_rollback(s);
    ok(ql_log_size(l, &size, &d), &d, "size");
    assert_int_equal(size, 21);
    append_single(other, lo, 21, 26);
    batch_begin(s, l);
    for (i = 26; i < 90; i++) {
        if (i == 50)
            ok(ql_log_sync(l, &d), &d, "sync");
        ok(append(l, i, 0, NULL, NULL, &d), &d, "append");
    }
    batch_commit(s, l);
    check_tree(s, l, 90);
    /* And the other writer, appending after the batch, keeps it right. */
    append_single(other, lo, 90, 97);
    check_tree(other, lo, 97);
    ql_log_free(lo);
    ql_store_close(other);
    ql_log_free(l);
    ql_store_close(s);
    free(path);
}

/* The payload length whose entry's text is as long as the format allows. */
static size_t
largest_payload(void)
{
    struct ql_entry e;
    struct ql_diag d;
    size_t lo = 40000, hi = 60000, mid, len;
    char *text;

    while (hi - lo > 1) {
        mid = (lo + hi) / 2;
        entry_of(1, mid, &e);
        e.index = 99;
        if (ql_entry_format(&e, &text, &len, &d) == QL_OK) {
            free(text);
            lo = mid;
        } else {
            hi = mid;
        }
        ql_entry_release(&e);
    }
    return lo;
}

/*
 * A sync fails in the middle of its queue three ways: an entry whose
 * signature takes it past the largest signed entry, a tree position
 * already taken, and an entry row already taken. Each fails with its
 * error, and after the rollback the store holds what it held before; the
 * same batch then succeeds.
 */
static void
test_failed_sync_rolls_back(void **state)
{
    static const char *const cases[] = {"entry too large", "tree row taken",
                                        "entry row taken"};
    struct fx *f = *state;
    struct ql_store *s = NULL;
    struct ql_log *l = NULL;
    uint8_t before[QL_HASH_LEN], after[QL_HASH_LEN], h[QL_HASH_LEN];
    struct ql_diag d;
    size_t big = largest_payload(), c;
    int64_t rows;
    uint64_t i, size;
    char *path;
    ql_err rc;

    new_log(f, "county.db", &path, &s, &l);
    append_single(s, l, 0, 13);
    ok(ql_log_root(l, 13, before, &d), &d, "root");
    rows = query_int(s, "SELECT count(*) FROM tree");
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        print_message("%s\n", cases[c]);
        batch_begin(s, l);
        /*
         * Planted before the appends, which may store runs of the queue
         * as soon as they are signed: the failure comes from an append
         * or from the checkpoint's sync.
         */
        memset(h, 0x11, sizeof h);
        if (c == 1)
            ok(ql_store_tree_put(s, 0, 13 + 100, h, &d), &d, "plant");
        if (c == 2)
            ok(ql_store_entry_append(s, 13, "x", 1, h, &d), &d, "plant");
        rc = QL_OK;
        for (i = 13; i < 13 + 120 && rc == QL_OK; i++)
            rc = append(l, i, c == 0 && i == 13 + 70 ? big : 0, NULL, NULL, &d);
        if (rc == QL_OK) {
            ql_diag_clear(&d);
            rc = ql_log_checkpoint(l, logkey, NULL, &d);
        }
        if (c == 0) {
            assert_int_equal(rc, QL_ETOOBIG);
            assert_non_null(strstr(d.msg, "signed entry 83 is"));
            assert_non_null(strstr(d.msg, "more than 65535"));
        } else {
            assert_int_equal(rc, QL_EINTEGRITY);
            assert_non_null(
                strstr(d.msg, c == 1 ? "tree hash" : "not the next"));
        }
        ql_log_defer_end(l);
        ql_store_rollback(s);
        ok(ql_log_size(l, &size, &d), &d, "size");
        assert_int_equal(size, 13);
        assert_int_equal(query_int(s, "SELECT count(*) FROM tree"), rows);
        assert_int_equal(query_int(s, "SELECT count(*) FROM checkpoints"), 13);
        ok(ql_log_root(l, 13, after, &d), &d, "root");
        assert_memory_equal(before, after, QL_HASH_LEN);
    }
    batch_begin(s, l);
    for (i = 13; i < 13 + 120; i++)
        ok(append(l, i, 0, NULL, NULL, &d), &d, "append");
    batch_commit(s, l);
    check_tree(s, l, 133);
    ql_log_free(l);
    ql_store_close(s);
    free(path);
}

/*
 * Appends store runs of the queue once they are signed, before any sync:
 * an entry stored so is read back as the queue has it, a rollback takes
 * them away with the rest of the batch, and a batch that commits stores
 * what single writes store.
 */
static void
test_stored_while_signing(void **state)
{
    struct fx *f = *state;
    struct ql_store *a = NULL, *b = NULL;
    struct ql_log *la = NULL, *lb = NULL;
    struct ql_entry e;
    struct ql_diag d;
    char *pa, *pb, *note = NULL;
    size_t note_len = 0;
    int64_t rows = 0;
    uint64_t i, end = 0, size;
    int round;

    new_log(f, "single.db", &pa, &a, &la);
    new_log(f, "batch.db", &pb, &b, &lb);
    append_single(a, la, 0, 13);
    append_single(b, lb, 0, 13);
    rows = query_int(b, "SELECT count(*) FROM tree");
    /* Round 0 is rolled back, round 1 commits the same entries. */
    for (round = 0; round < 2; round++) {
        batch_begin(b, lb);
        /* Round 0 appends until a run is stored, round 1 as many. */
        for (i = 13; round == 0 && i < 13 + 20000 &&
                     query_int(b, "SELECT count(*) FROM entries") == 13;
             i++)
            ok(append(lb, i, 0, NULL, NULL, &d), &d, "append");
        if (round == 0) {
            assert_true(query_int(b, "SELECT count(*) FROM entries") > 13);
            end = i + 70;
        }
        for (; i < end; i++)
            ok(append(lb, i, 0, NULL, NULL, &d), &d, "append");
        /* The first stored entry, read back while it is queued. */
        ql_entry_init(&e);
        ok(ql_log_read(lb, 13, &note, &note_len, &e, &d), &d, "read");
        assert_int_equal(e.index, 13);
        assert_string_equal(e.lead, "L-13");
        ql_entry_release(&e);
        free(note);
        note = NULL;
        ok(ql_log_size(lb, &size, &d), &d, "size");
        assert_int_equal(size, end);
        if (round == 0) {
            ql_log_defer_end(lb);
            ql_store_rollback(b);
            assert_int_equal(query_int(b, "SELECT count(*) FROM entries"), 13);
            assert_int_equal(query_int(b, "SELECT count(*) FROM tree"), rows);
            continue;
        }
        batch_commit(b, lb);
    }
    append_single(a, la, 13, end);
    same_tree(a, b);
    check_tree(b, lb, end);
    ql_log_free(la);
    ql_log_free(lb);
    ql_store_close(a);
    ql_store_close(b);
    free(pa);
    free(pb);
}

/*
 * The signing queue keeps its entries' records from sync to sync and from
 * batch to batch: batches that grow and shrink the queue, syncs of one
 * entry, rolled-back batches with longer entries, and a log freed with
 * records kept (checked by ASan) store what writes one at a time store.
 */
static void
test_queue_reuse(void **state)
{
    static const struct {
        const char *name;
        uint64_t n;      /* entries */
        uint64_t every;  /* a sync after this many; 0: at the end only */
        size_t payload;  /* bytes, for batches rolled back */
        bool commit;
    } batches[] = {
        {"grow", 100, 0, 0, true},
        {"one a sync", 5, 1, 0, true},
        {"rolled back, long", 80, 30, 900, false},
        {"shrink", 3, 0, 0, true},
        {"past the first", 170, 64, 0, true},
        {"rolled back again", 200, 0, 300, false},
        {"after", 40, 7, 0, true},
    };
    struct fx *f = *state;
    struct ql_store *a = NULL, *b = NULL;
    struct ql_log *la = NULL, *lb = NULL;
    struct ql_diag d;
    char *pa, *pb;
    uint64_t at = 0, i, size;
    size_t k;

    new_log(f, "single.db", &pa, &a, &la);
    new_log(f, "batch.db", &pb, &b, &lb);
    for (k = 0; k < sizeof batches / sizeof batches[0]; k++) {
        print_message("%s\n", batches[k].name);
        batch_begin(b, lb);
        for (i = 0; i < batches[k].n; i++) {
            if (batches[k].every && i > 0 && i % batches[k].every == 0)
                ok(ql_log_sync(lb, &d), &d, "sync");
            ok(append(lb, at + i, batches[k].payload, NULL, NULL, &d), &d,
               "append");
        }
        if (batches[k].commit) {
            batch_commit(b, lb);
            append_single(a, la, at, at + batches[k].n);
            at += batches[k].n;
        } else {
            ok(ql_log_sync(lb, &d), &d, "sync");
            ql_log_defer_end(lb);
            ql_store_rollback(b);
        }
        ok(ql_log_size(lb, &size, &d), &d, "size");
        assert_int_equal(size, at);
    }
    same_tree(a, b);
    check_tree(b, lb, at);
    /* Freed with a queue kept and entries waiting in it. */
    batch_begin(b, lb);
    for (i = 0; i < 10; i++)
        ok(append(lb, at + i, 0, NULL, NULL, &d), &d, "append");
    ql_log_free(lb);
    ql_store_rollback(b);
    ql_log_free(la);
    ql_store_close(a);
    ql_store_close(b);
    free(pa);
    free(pb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_matches_single, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rollback_and_other_writer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_sync_rolls_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_while_signing, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
