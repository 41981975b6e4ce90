/*
 * Row 1: bulk write throughput, beside the limit measured in the same run.
 *
 * qingling: leads registered and moved through four transitions (triage,
 * assign proposed, approved, sign) on the default workflow, with the full
 * audit path (signed entry, sealed payload, Merkle hashes, derived tables,
 * a signed checkpoint per batch), 1,000 leads per transaction. Each lead
 * is five entries; the figure counts its four transitions, the time
 * counts all five entries.
 *
 * Limit: per entry, the work no design can skip: one Ed25519 signature of
 * an entry-sized text (the mean size of the entries just written), one
 * SHA-256 leaf hash and one node hash, one AEAD encryption of a
 * payload-sized text, and one SQLite row insert of the entry, in
 * transactions of the same size with one durable commit and one
 * checkpoint signature each. Measured twice: on one thread, and with the
 * per-entry crypto spread over every core while one thread inserts (the
 * best this machine can do; the target is judged against it).
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "bench.h"
#include "fixture.h"

/* Leads per transaction, and transitions per lead. */
#define BATCH 1000
#define TRANSITIONS 4
/* A payload's size: the sealed fields of a registration, roughly. */
#define PAYLOAD 240

/* The raw operations, with their buffers. */
struct lim {
    size_t n, batch, elen; /* entries, entries per transaction, entry size */
    unsigned threads;      /* 0: everything on the calling thread */
    unsigned char pk[32], sk[64], key[32];
    unsigned char payload[PAYLOAD];
    unsigned char *tmpl;
    /* Two batches in flight: workers fill one while the inserter drains
       the other. */
    struct slot {
        unsigned char *entry, *ct, *sig, *leaf;
    } slot[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned done[2]; /* workers finished with the batch in the slot */
    size_t inserted;  /* batches committed */
};

struct worker {
    struct lim *l;
    unsigned t;
};

static size_t
batch_len(const struct lim *l, size_t k)
{
    size_t left = l->n - k * l->batch;

    return left < l->batch ? left : l->batch;
}

/* The crypto of entry j of batch k: encrypt, sign, hash. */
static void
crypt_one(struct lim *l, struct slot *s, size_t k, size_t j)
{
    unsigned char *e = s->entry + j * l->elen, nonce[24], buf[65];
    uint64_t idx = k * l->batch + j;

    memcpy(e, l->tmpl, l->elen);
    memcpy(e, &idx, sizeof idx);
    randombytes_buf(nonce, sizeof nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        s->ct + j * (PAYLOAD + 16), NULL, l->payload, PAYLOAD, e, 32, NULL,
        nonce, l->key);
    crypto_sign_detached(s->sig + j * 64, NULL, e, l->elen, l->sk);
    crypto_hash_sha256(s->leaf + j * 32, e, l->elen);
    buf[0] = 1;
    memcpy(buf + 1, s->leaf + j * 32, 32);
    memcpy(buf + 33, s->leaf + j * 32, 32);
    crypto_hash_sha256(buf + 1, buf, sizeof buf);
}

static void *
work(void *arg)
{
    struct worker *w = arg;
    struct lim *l = w->l;
    size_t nb = (l->n + l->batch - 1) / l->batch, k, j;

    for (k = 0; k < nb; k++) {
        struct slot *s = &l->slot[k % 2];

        pthread_mutex_lock(&l->mu);
        while (l->inserted + 2 <= k)
            pthread_cond_wait(&l->cv, &l->mu);
        pthread_mutex_unlock(&l->mu);
        for (j = w->t; j < batch_len(l, k); j += l->threads)
            crypt_one(l, s, k, j);
        pthread_mutex_lock(&l->mu);
        l->done[k % 2]++;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
    return NULL;
}

/* Inserts batch k and commits it durably, with a checkpoint signature. */
static void
insert(struct lim *l, sqlite3 *db, sqlite3_stmt *st, size_t k)
{
    struct slot *s = &l->slot[k % 2];
    unsigned char cp[64], sig[64];
    size_t j;

    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        bench_die("limit: begin: %s", sqlite3_errmsg(db));
    for (j = 0; j < batch_len(l, k); j++) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)(k * l->batch + j));
        sqlite3_bind_blob(st, 2, s->entry + j * l->elen, (int)l->elen,
                          SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, s->sig + j * 64, 64, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, s->ct + j * (PAYLOAD + 16), PAYLOAD + 16,
                          SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, s->leaf + j * 32, 32, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            bench_die("limit: insert: %s", sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    memcpy(cp, s->leaf, 32);
    crypto_sign_detached(sig, NULL, cp, sizeof cp, l->sk);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        bench_die("limit: commit: %s", sqlite3_errmsg(db));
}

/*
 * The raw cost of the unavoidable work for n entries of elen bytes, batch
 * to a transaction, in entries/s; threads workers (0: none).
 */
static double
limit_rate(size_t n, size_t batch, size_t elen, unsigned threads)
{
    struct lim l;
    struct worker w[16];
    pthread_t tid[16];
    sqlite3 *db;
    sqlite3_stmt *st;
    char path[600];
    size_t nb = (n + batch - 1) / batch, k, j, i;
    double t0, t1;

    memset(&l, 0, sizeof l);
    l.n = n;
    l.batch = batch;
    l.elen = elen;
    l.threads = threads > 16 ? 16 : threads;
    crypto_sign_keypair(l.pk, l.sk);
    randombytes_buf(l.key, sizeof l.key);
    randombytes_buf(l.payload, sizeof l.payload);
    l.tmpl = malloc(elen);
    for (i = 0; i < 2; i++) {
        l.slot[i].entry = malloc(batch * elen);
        l.slot[i].ct = malloc(batch * (PAYLOAD + 16));
        l.slot[i].sig = malloc(batch * 64);
        l.slot[i].leaf = malloc(batch * 32);
        if (l.slot[i].entry == NULL || l.slot[i].ct == NULL ||
            l.slot[i].sig == NULL || l.slot[i].leaf == NULL)
            bench_die("out of memory");
    }
    if (l.tmpl == NULL)
        bench_die("out of memory");
    randombytes_buf(l.tmpl, elen);
    pthread_mutex_init(&l.mu, NULL);
    pthread_cond_init(&l.cv, NULL);
    bench_fmt(path, sizeof path, "%s/limit-write.db", bench_dir());
    bench_unlink_store(path);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE e(idx INTEGER PRIMARY KEY, note BLOB, "
                     "sig BLOB, payload BLOB, leaf BLOB)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO e VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &st, NULL) != SQLITE_OK)
        bench_die("limit: %s", sqlite3_errmsg(db));
    t0 = bench_now();
    if (l.threads == 0) {
        for (k = 0; k < nb; k++) {
            for (j = 0; j < batch_len(&l, k); j++)
                crypt_one(&l, &l.slot[k % 2], k, j);
            insert(&l, db, st, k);
        }
    } else {
        for (i = 0; i < l.threads; i++) {
            w[i].l = &l;
            w[i].t = (unsigned)i;
            if (pthread_create(&tid[i], NULL, work, &w[i]) != 0)
                bench_die("limit: cannot start a thread");
        }
        for (k = 0; k < nb; k++) {
            pthread_mutex_lock(&l.mu);
            while (l.done[k % 2] < l.threads)
                pthread_cond_wait(&l.cv, &l.mu);
            l.done[k % 2] = 0;
            pthread_mutex_unlock(&l.mu);
            insert(&l, db, st, k);
            pthread_mutex_lock(&l.mu);
            l.inserted = k + 1;
            pthread_cond_broadcast(&l.cv);
            pthread_mutex_unlock(&l.mu);
        }
        for (i = 0; i < l.threads; i++)
            pthread_join(tid[i], NULL);
    }
    t1 = bench_now();
    sqlite3_finalize(st);
    sqlite3_close(db);
    bench_unlink_store(path);
    for (i = 0; i < 2; i++) {
        free(l.slot[i].entry);
        free(l.slot[i].ct);
        free(l.slot[i].sig);
        free(l.slot[i].leaf);
    }
    free(l.tmpl);
    pthread_mutex_destroy(&l.mu);
    pthread_cond_destroy(&l.cv);
    return (double)n / (t1 - t0);
}

/*
 * CPU seconds of the calling thread alone: against the process's, what the
 * writing thread spent and what the signing thread did beside it.
 */
static double
cpu_thread(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return -1;
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The mean size of the entries in the store at path, in bytes. */
static size_t
mean_entry(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    double mean = 0;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT avg(length(note)) FROM entries", -1,
                           &st, NULL) != SQLITE_OK)
        bench_die("%s: %s", path, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        mean = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (mean < 64)
        bench_die("%s: no entries to measure", path);
    return (size_t)mean;
}

/*
 * Rounds of qingling's run and its two limits, one after the other: the
 * machine's speed drifts by a fifth within a minute, so each figure is
 * the median of its rounds, and each round sets qingling beside limits
 * measured seconds from it.
 */
#define ROUNDS 3

/* One round's figures, per entry or per second. */
struct round {
    double rate, limn, lim1;                 /* transitions/s */
    double cpu, cpu_writer, cpu_limit, wall; /* seconds an entry */
};

/* qingling's run and the limits beside it; returns the mean entry size. */
static size_t
run_round(size_t leads, long cores, const char *path, struct round *r)
{
    struct bench_county k;
    size_t i, elen, entries = leads * BENCH_FULL_ENTRIES;
    double t0, t1, c0, w0;

    bench_county_create(&k, path, 1, false);
    c0 = bench_cpu_self();
    w0 = cpu_thread();
    t0 = bench_now();
    for (i = 0; i < leads; i++) {
        if (i % BATCH == 0)
            bench_batch_begin(&k);
        bench_lead_full(&k, 0, NULL);
        if (i % BATCH == BATCH - 1 || i == leads - 1)
            bench_batch_commit(&k);
    }
    t1 = bench_now();
    r->cpu = (bench_cpu_self() - c0) / (double)entries;
    /* -1 where the thread's clock cannot be read. */
    r->cpu_writer = w0 >= 0 ? (cpu_thread() - w0) / (double)entries : -1;
    r->wall = (t1 - t0) / (double)entries;
    bench_county_free(&k);
    r->rate = (double)(leads * TRANSITIONS) / (t1 - t0);
    elen = mean_entry(path);
    /* The limits in transitions/s: the same entries per transition. */
    r->limn =
        limit_rate(entries, BATCH * BENCH_FULL_ENTRIES, elen, (unsigned)cores) *
        TRANSITIONS / BENCH_FULL_ENTRIES;
    c0 = bench_cpu_self();
    r->lim1 = limit_rate(entries, BATCH * BENCH_FULL_ENTRIES, elen, 0) *
              TRANSITIONS / BENCH_FULL_ENTRIES;
    r->cpu_limit = (bench_cpu_self() - c0) / (double)entries;
    bench_unlink_store(path); /* mean_entry's read leaves -wal, -shm */
    bench_unlink(bench_path(bench_dir(), "write.db.logkey"));
    return elen;
}

/* The median over the rounds of the field at offset off of struct round. */
static double
median_of(const struct round *r, size_t off)
{
    double v[ROUNDS];
    size_t i;

    for (i = 0; i < ROUNDS; i++)
        memcpy(&v[i], (const char *)&r[i] + off, sizeof v[i]);
    return bench_median(v, ROUNDS);
}

int
main(int argc, char **argv)
{
    struct round r[ROUNDS];
    size_t leads = bench_quick() ? 400 : 4000, i, elen = 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char path[600], what[64], target[64];
    double rate, limn, lim1, ratio[ROUNDS], lo, hi;

    bench_init(argc, argv);
    bench_load_note();
    if (cores < 1)
        cores = 1;
    bench_fmt(path, sizeof path, "%s/write.db", bench_dir());
    for (i = 0; i < ROUNDS; i++) {
        elen = run_round(leads, cores, path, &r[i]);
        ratio[i] = r[i].rate / r[i].limn;
    }
    rate = median_of(r, offsetof(struct round, rate));
    limn = median_of(r, offsetof(struct round, limn));
    lim1 = median_of(r, offsetof(struct round, lim1));
    lo = hi = ratio[0];
    for (i = 1; i < ROUNDS; i++) {
        lo = ratio[i] < lo ? ratio[i] : lo;
        hi = ratio[i] > hi ? ratio[i] : hi;
    }
    bench_fmt(what, sizeof what, "bulk, 1000 leads/txn, raw ops on %ld cores",
             cores);
    bench_fmt(target, sizeof target, ">=0.50, >30000");
    bench_row(&(struct bench_row){"1", what, rate, limn, "trans/s",
                                  BENCH_HIGHER, target,
                                  rate >= 0.5 * limn && rate > 30000});
    bench_row(&(struct bench_row){"1b", "  the same, raw ops on 1 thread",
                                  rate, lim1, "trans/s", BENCH_HIGHER, NULL,
                                  -1});
    bench_note("row 1: %zu leads, 5 entries each (%.0f entries/s), mean "
               "entry %zu bytes; medians of %d rounds, each beside its "
               "limits; ratios by round %.2f-%.2f",
               leads, rate * BENCH_FULL_ENTRIES / TRANSITIONS, elen, ROUNDS, lo,
               hi);
    bench_note("row 1 in CPU time: qingling %.0f us an entry (all threads), "
               "raw ops %.0f us: %.2f of the limit",
               median_of(r, offsetof(struct round, cpu)) * 1e6,
               median_of(r, offsetof(struct round, cpu_limit)) * 1e6,
               median_of(r, offsetof(struct round, cpu_limit)) /
                   median_of(r, offsetof(struct round, cpu)));
    if (r[0].cpu_writer >= 0)
        bench_note("row 1 by thread: writing %.0f us an entry, signing "
                   "beside it %.0f us, wall %.0f us",
                   median_of(r, offsetof(struct round, cpu_writer)) * 1e6,
                   (median_of(r, offsetof(struct round, cpu)) -
                    median_of(r, offsetof(struct round, cpu_writer))) *
                       1e6,
                   median_of(r, offsetof(struct round, wall)) * 1e6);

    return 0;
}
