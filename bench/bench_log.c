/*
 * Rows 3 to 7: what a large log costs to verify, prove, report, keep and
 * grow, on the stores bench_stores makes (10^4, 10^5 and 10^6 entries,
 * and 10^6 leads in 100 units; with QUICK 10^4 and 10^5 entries and 10^4
 * leads).
 *
 * 3  `qingling audit verify` (the real binary, --jobs 1 and 2) on the
 *    largest store, and from a tlog-tiles export of the smallest: entries
 *    per second. Limit: raw Ed25519 verifications of texts of the store's
 *    mean entry size, on 1 and on 2 threads, measured in pauses of
 *    qingling's run.
 * 4  Inclusion and consistency proofs from the store (the engine's
 *    ql_log_prove_*, the root, then ql_merkle_verify_*), at each size: time
 *    per proof. Limit: one read transaction on the same file with raw
 *    SQLite reads of the ceil(log2 n) + 1 stored hashes a proof needs, and
 *    the SHA-256 node hashes that verify it.
 * 5  `qingling status` (the real binary) with 100 units and every lead:
 *    wall time. Limit: the raw SQLite aggregate of the leads table by unit
 *    and state, over the same rows.
 * 6  Store bytes per entry; the tlog-tiles export's bytes per entry; peak
 *    memory (ru_maxrss from wait4) of `qingling audit verify` at the
 *    smallest and the largest store.
 * 7  Per-entry append time (row 1's workload, 1,000 leads a transaction)
 *    on a copy of the largest store against a copy of the smallest.
 *    Limit: the same ratio for the raw operations of row 1 appended to
 *    plain SQLite tables of those sizes.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "bench.h"
#include "fixture.h"
#include "ql_county.h"
#include "ql_log.h"
#include "ql_merkle.h"
#include "ql_profile.h"
#include "ql_store.h"

#define NOW_TEXT "QINGLING_NOW=2025-09-15T02:00:00Z"

static bool quick;

/* ---- helpers ---- */

static double
mib(const struct bench_proc *p)
{
    return (double)p->ru.ru_maxrss / 1024.0;
}

/* One number from one SQL query on the store at path (read-only). */
static double
query(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    double v = 0;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        bench_die("%s: %s", path, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static const char *
count(uint64_t n)
{
    static char buf[4][32];
    static int i;

    i = (i + 1) % 4;
    return bench_count(n, buf[i], sizeof buf[i]);
}

/* Runs `qingling audit verify` on s (or on an export folder). */
static void
verify(const struct bench_store *s, const char *export_dir, unsigned jobs,
       struct bench_pause *pause, struct bench_proc *p)
{
    char env_db[700], j[16];
    const char *const env[] = {env_db, NULL};
    const char *argv[10];
    size_t n = 0;

    bench_fmt(env_db, sizeof env_db, "QINGLING_DB=%s", s->path);
    bench_fmt(j, sizeof j, "%u", jobs);
    argv[n++] = "qingling";
    argv[n++] = "audit";
    argv[n++] = "verify";
    argv[n++] = "--trust";
    argv[n++] = s->admin_pub;
    argv[n++] = "--jobs";
    argv[n++] = j;
    if (export_dir != NULL) {
        argv[n++] = "--export";
        argv[n++] = export_dir;
    }
    argv[n] = NULL;
    bench_spawn_paused(bench_bin(), argv, env, pause, p);
}

/* ---- Ed25519 verifications, on threads ---- */

/*
 * The signatures the limit verifies: VER_POOL of them, each by its own key
 * over its own text, taken in turn, as a log has them. Verification runs
 * in variable time, and one signature checked over and over lets the
 * processor learn its branches and keep its text in cache; the table's
 * note prints that rate too.
 */
#define VER_POOL 1024

struct ver_pool {
    size_t len;
    unsigned char *m; /* VER_POOL texts of len bytes */
    unsigned char pk[VER_POOL][32];
    unsigned char sig[VER_POOL][64];
};

static struct ver_pool pool;

/* Makes the pool for texts of len bytes, once. */
static void
pool_make(size_t len)
{
    unsigned char sk[64];
    size_t k;

    if (pool.m != NULL && pool.len == len)
        return;
    free(pool.m);
    if ((pool.m = malloc(VER_POOL * len)) == NULL)
        bench_die("out of memory");
    pool.len = len;
    randombytes_buf(pool.m, VER_POOL * len);
    for (k = 0; k < VER_POOL; k++) {
        crypto_sign_keypair(pool.pk[k], sk);
        crypto_sign_detached(pool.sig[k], NULL, pool.m + k * len, len, sk);
    }
    sodium_memzero(sk, sizeof sk);
}

struct ver {
    size_t len;
    size_t first; /* the pool's signature to start at */
    bool same;    /* verify that one only, over and over */
    double seconds;
    unsigned long long done;
    double cpu; /* the thread's CPU seconds */
    pthread_barrier_t *start;
};

static double
thread_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
ver_run(void *arg)
{
    struct ver *v = arg;
    double t0, stop;
    unsigned long long n = 0;
    size_t k = v->first;
    int i;

    /* Warm: the keys, texts and tables back in cache after qingling's
       run, and the pool's first use, are not the operation's cost. */
    for (i = 0; i < 64; i++, k = (k + 1) % VER_POOL)
        if (crypto_sign_verify_detached(pool.sig[k], pool.m + k * pool.len,
                                        pool.len, pool.pk[k]) != 0)
            bench_die("a good Ed25519 signature does not verify");
    k = v->first;
    pthread_barrier_wait(v->start);
    v->cpu = thread_cpu();
    t0 = bench_now();
    stop = t0 + v->seconds;
    do {
        for (i = 0; i < 32; i++, n++) {
            if (crypto_sign_verify_detached(pool.sig[k], pool.m + k * pool.len,
                                            pool.len, pool.pk[k]) != 0)
                bench_die("a good Ed25519 signature does not verify");
            if (!v->same)
                k = (k + 1) % VER_POOL;
        }
    } while (bench_now() < stop);
    v->done = n;
    v->seconds = bench_now() - t0;
    v->cpu = thread_cpu() - v->cpu;
    return NULL;
}

/* Verifications per CPU second, from the last ed25519_rate. */
static double ed25519_per_cpu;

/*
 * Verifications per second of len-byte texts on threads threads: the
 * pool's signatures in turn, or with same the first over and over.
 */
static double
ed25519_rate(size_t len, unsigned threads, double seconds, bool same)
{
    unsigned long long all = 0;
    double cpu = 0;
    pthread_t tid[8];
    struct ver v[8];
    pthread_barrier_t start;
    double rate = 0;
    unsigned i;

    pool_make(len);
    pthread_barrier_init(&start, NULL, threads);
    for (i = 0; i < threads; i++) {
        v[i].len = len;
        v[i].first = same ? 0 : i * (VER_POOL / threads);
        v[i].same = same;
        v[i].seconds = seconds;
        v[i].start = &start;
        if (pthread_create(&tid[i], NULL, ver_run, &v[i]) != 0)
            bench_die("cannot start a thread");
    }
    for (i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        rate += (double)v[i].done / v[i].seconds;
        all += v[i].done;
        cpu += v[i].cpu;
    }
    ed25519_per_cpu = cpu > 0 ? (double)all / cpu : 0;
    pthread_barrier_destroy(&start);
    return rate;
}

/* ---- Row 3 ---- */

/*
 * The limit, measured in slices while qingling's verification stands
 * stopped (bench_spawn_paused): this machine's speed drifts by 10-30%
 * within a minute, and a limit measured before or after a run of a minute
 * or more was held against other spells than the run itself. Slices
 * spread evenly over the run, so their mean rate is the limit's rate over
 * the same spells.
 */
struct slices {
    size_t len;       /* the texts' length */
    unsigned threads; /* threads verifying at once */
    double seconds;   /* each slice */
    unsigned n;
    double sum, sum_cpu, lo, hi; /* rates, and verifications a CPU second */
};

static void
slice_run(void *arg)
{
    struct slices *sl = arg;
    double r = ed25519_rate(sl->len, sl->threads, sl->seconds, false);

    sl->lo = sl->n == 0 || r < sl->lo ? r : sl->lo;
    sl->hi = sl->n == 0 || r > sl->hi ? r : sl->hi;
    sl->sum += r;
    sl->sum_cpu += ed25519_per_cpu;
    sl->n++;
}

/*
 * Runs `audit verify --jobs jobs` on s with the limit on as many threads
 * measured in its pauses, every `every` seconds of its run; one slice
 * more after it if it ended before the first pause.
 */
static void
verify_sliced(const struct bench_store *s, unsigned jobs, size_t len,
              double every, double seconds, struct slices *sl,
              struct bench_proc *p)
{
    struct bench_pause pause = {every, slice_run, sl, 0, 0};

    memset(sl, 0, sizeof *sl);
    sl->len = len;
    sl->threads = jobs;
    sl->seconds = seconds;
    verify(s, NULL, jobs, &pause, p);
    if (sl->n == 0)
        slice_run(sl);
}

static double
slices_mean(const struct slices *sl)
{
    return sl->n ? sl->sum / sl->n : 0;
}

/* Sums the sizes of the files under a folder. */
static int64_t tree_bytes;

static int
add_size(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)path;
    (void)f;
    if (flag == FTW_F)
        tree_bytes += (int64_t)st->st_size;
    return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

static void
rm_tree(const char *dir)
{
    struct stat st;

    if (stat(dir, &st) == 0 && nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS))
        bench_die("cannot remove '%s'", dir);
}

/* Exports s as tlog-tiles into dir; returns the bytes written. */
static int64_t
export(const struct bench_store *s, const char *dir)
{
    char env_db[700];
    const char *const env[] = {env_db, NULL};
    const char *const argv[] = {"qingling", "audit", "export", dir, NULL};
    struct bench_proc p;

    rm_tree(dir);
    bench_fmt(env_db, sizeof env_db, "QINGLING_DB=%s", s->path);
    bench_spawn_ok(bench_bin(), argv, env, &p);
    tree_bytes = 0;
    if (nftw(dir, add_size, 16, FTW_PHYS) != 0)
        bench_die("cannot walk '%s'", dir);
    return tree_bytes;
}

struct verify_out {
    struct bench_proc large1, small1; /* --jobs 1 */
    struct bench_proc large2;         /* --jobs 2, when run */
    bool have_large1, have_small1, have_large2;
    int64_t export_bytes;
};

/*
 * Row 3 on store s (the largest: 10^5 entries with QUICK, a run of about
 * ten seconds), and from an export of the smallest. The --jobs 1 run's
 * peak memory serves row 6.
 */
static void
row3(const struct bench_store *small, const struct bench_store *s,
     struct verify_out *o)
{
    double mean = query(s->path, "SELECT avg(length(note)) FROM entries");
    /* A pause every 2 s of a run of a minute or more, every second of
       QUICK's run of about ten; slices of a quarter of that. */
    double every = quick ? 1.0 : 2.0, lim1, lim2, r1, r2, rx, per_cpu;
    double same[2];
    char what[80], target[48], dir[600];
    struct bench_proc p1, p2, px;
    struct slices sl1, sl2;

    verify_sliced(s, 1, (size_t)mean, every, every / 4, &sl1, &p1);
    verify_sliced(s, 2, (size_t)mean, every, every / 4, &sl2, &p2);
    lim1 = slices_mean(&sl1);
    lim2 = slices_mean(&sl2);
    per_cpu = sl1.sum_cpu / sl1.n;
    same[0] = ed25519_rate((size_t)mean, 1, every / 4, true);
    same[1] = ed25519_rate((size_t)mean, 1, every / 4, true);
    if (s == small) {
        o->small1 = p1;
        o->have_small1 = true;
    } else {
        o->large1 = p1;
        o->large2 = p2;
        o->have_large1 = o->have_large2 = true;
    }
    r1 = (double)s->entries / p1.wall;
    r2 = (double)s->entries / p2.wall;
    bench_fmt(what, sizeof what, "audit verify --jobs 1, %s entries",
              count(s->entries));
    bench_row(&(struct bench_row){"3", what, r1, lim1, "entries/s",
                                  BENCH_HIGHER, ">=0.80", r1 >= 0.8 * lim1});
    bench_fmt(what, sizeof what, "audit verify --jobs 2, %s entries",
              count(s->entries));
    bench_fmt(target, sizeof target, ">=1.7x jobs 1 (%.2fx)", r2 / r1);
    bench_row(&(struct bench_row){"3b", what, r2, lim2, "entries/s",
                                  BENCH_HIGHER, target, r2 >= 1.7 * r1});
    /* From the tlog-tiles a province's auditors would fetch. */
    bench_fmt(dir, sizeof dir, "%s/export", bench_dir());
    o->export_bytes = export(small, dir);
    verify(small, dir, 2, NULL, &px);
    rx = (double)small->entries / px.wall;
    bench_fmt(what, sizeof what, "audit verify --export, --jobs 2, %s",
              count(small->entries));
    bench_row(&(struct bench_row){"3c", what, rx, lim2, "entries/s",
                                  BENCH_HIGHER, NULL, -1});
    bench_note("row 3: Ed25519 limits over texts of %.0f bytes, the mean "
               "entry, %d signatures by their own keys in turn; %.0f and "
               "%.0f verifications/s on 1 and 2 threads, measured while "
               "qingling stood stopped: %u and %u slices of %.2f s, one "
               "every %.1f s of its runs (one thread ranged %.0f-%.0f)",
               mean, VER_POOL, lim1, lim2, sl1.n, sl2.n, every / 4, every,
               sl1.lo, sl1.hi);
    bench_note("row 3: one signature verified over and over runs %.0f/s on "
               "one thread (%.2f of that), the limit's old way",
               bench_median(same, 2), lim1 / bench_median(same, 2));
    bench_note("row 3 in CPU time: %.0f entries a CPU second with --jobs "
               "1 (%.2f of Ed25519's %.0f), %.0f with --jobs 2",
               (double)s->entries / bench_cpu_of(&p1.ru),
               (double)s->entries / bench_cpu_of(&p1.ru) / per_cpu, per_cpu,
               (double)s->entries / bench_cpu_of(&p2.ru));
    rm_tree(dir);
}

/* ---- Row 4 ---- */

/* Raw reads of stored hashes, one prepared statement. */
struct raw {
    sqlite3 *db;
    sqlite3_stmt *get;
};

static void
raw_open(struct raw *r, const char *path)
{
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(r->db,
                           "SELECT hash FROM tree WHERE level = ?1 AND "
                           "idx = ?2",
                           -1, &r->get, NULL) != SQLITE_OK)
        bench_die("%s: %s", path, sqlite3_errmsg(r->db));
}

static void
raw_close(struct raw *r)
{
    sqlite3_finalize(r->get);
    sqlite3_close(r->db);
}

static void
raw_get(struct raw *r, unsigned level, uint64_t idx, unsigned char out[32])
{
    const void *h;

    sqlite3_bind_int(r->get, 1, (int)level);
    sqlite3_bind_int64(r->get, 2, (sqlite3_int64)idx);
    if (sqlite3_step(r->get) != SQLITE_ROW ||
        sqlite3_column_bytes(r->get, 0) != 32 ||
        (h = sqlite3_column_blob(r->get, 0)) == NULL)
        bench_die("no stored hash (%u, %llu)", level,
                  (unsigned long long)idx);
    memcpy(out, h, 32);
    sqlite3_reset(r->get);
}

/* ceil(log2 n). */
static unsigned
levels(uint64_t n)
{
    unsigned l = 0;

    while (((uint64_t)1 << l) < n)
        l++;
    return l;
}

/*
 * The raw cost of one proof at index a of a tree of size n: a read
 * transaction, the leaf and the stored hash beside the path at each level
 * (where that level has one), and nhash node hashes per level.
 */
static void
raw_proof(struct raw *r, uint64_t a, uint64_t n, unsigned nhash)
{
    unsigned char h[32], buf[65];
    unsigned l, L = levels(n), i;

    if (sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        bench_die("begin: %s", sqlite3_errmsg(r->db));
    raw_get(r, 0, a, buf + 1);
    for (l = 0; l < L; l++) {
        uint64_t width = n >> l, j = (a >> l) ^ 1;

        if (width == 0)
            break;
        raw_get(r, l, j < width ? j : width - 1, h);
        for (i = 0; i < nhash; i++) {
            buf[0] = 1;
            memcpy(buf + 33, h, 32);
            crypto_hash_sha256(buf + 1, buf, sizeof buf);
        }
    }
    if (sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        bench_die("commit: %s", sqlite3_errmsg(r->db));
    if (buf[1] == 0 && buf[2] == 0 && buf[3] == 0 && buf[4] == 0 &&
        buf[5] == 0 && buf[6] == 0)
        bench_note("(an unlikely hash)");
}

static void
row4(const struct bench_store *s, size_t n_st)
{
    const struct ql_profile *prof = ql_profile_default();
    size_t proofs = quick ? 300 : 2000, i, j;

    for (j = 0; j < n_st; j++) {
        struct ql_county *c = NULL;
        struct ql_store *st;
        struct ql_log *log;
        struct ql_merkle_proof proof;
        struct ql_diag d;
        struct raw r;
        uint8_t leaf[32], root[32], old[32];
        uint64_t n = s[j].entries, a;
        double t0, tin, tco, lin, lco;
        char what[80];
        bool big = n >= 1000000;

        bench_ok(ql_county_open(s[j].path, QL_COUNTY_READONLY, &c, &d), &d,
                 "open");
        st = ql_county_store(c);
        log = ql_county_log(c);
        t0 = bench_now();
        for (i = 0; i < proofs; i++) {
            a = randombytes_uniform((uint32_t)n);
            bench_ok(ql_store_begin_read(st, &d), &d, "read");
            bench_ok(ql_store_tree_get(st, 0, a, leaf, &d), &d, "leaf");
            bench_ok(ql_log_prove_inclusion(log, a, n, &proof, &d), &d,
                     "prove");
            bench_ok(ql_log_root(log, n, root, &d), &d, "root");
            ql_store_rollback(st);
            bench_ok(ql_merkle_verify_inclusion(prof, leaf, a, n, &proof,
                                                root, &d),
                     &d, "verify inclusion");
        }
        tin = (bench_now() - t0) / (double)proofs;
        t0 = bench_now();
        for (i = 0; i < proofs; i++) {
            a = 1 + randombytes_uniform((uint32_t)(n - 1));
            bench_ok(ql_store_begin_read(st, &d), &d, "read");
            bench_ok(ql_log_root(log, a, old, &d), &d, "old root");
            bench_ok(ql_log_prove_consistency(log, a, n, &proof, &d), &d,
                     "prove");
            bench_ok(ql_log_root(log, n, root, &d), &d, "root");
            ql_store_rollback(st);
            bench_ok(ql_merkle_verify_consistency(prof, a, n, &proof, old,
                                                  root, &d),
                     &d, "verify consistency");
        }
        tco = (bench_now() - t0) / (double)proofs;
        ql_county_close(c);
        raw_open(&r, s[j].path);
        t0 = bench_now();
        for (i = 0; i < proofs; i++)
            raw_proof(&r, randombytes_uniform((uint32_t)n), n, 1);
        lin = (bench_now() - t0) / (double)proofs;
        t0 = bench_now();
        for (i = 0; i < proofs; i++)
            raw_proof(&r, randombytes_uniform((uint32_t)n), n, 2);
        lco = (bench_now() - t0) / (double)proofs;
        raw_close(&r);
        bench_fmt(what, sizeof what, "inclusion proof + verify, %s entries",
                  count(n));
        bench_row(&(struct bench_row){"4", what, tin * 1e6,
                                      lin * 1e6, "us", BENCH_LOWER,
                                      big ? "<1000 us" : NULL,
                                      big ? tin < 1e-3 : -1});
        bench_fmt(what, sizeof what, "consistency proof + verify, %s",
                  count(n));
        bench_row(&(struct bench_row){"4b", what, tco * 1e6, lco * 1e6, "us",
                                      BENCH_LOWER, big ? "<1000 us" : NULL,
                                      big ? tco < 1e-3 : -1});
    }
}

/* ---- Row 5 ---- */

static void
row5(const struct bench_store *s)
{
    char env_db[700], what[80];
    const char *const env[] = {env_db, NOW_TEXT, NULL};
    const char *const argv[] = {"qingling", "status", NULL};
    double tq[3], tl[3], q, l;
    struct bench_proc p;
    size_t i;

    bench_fmt(env_db, sizeof env_db, "QINGLING_DB=%s", s->path);
    /* One run to bring the file into the page cache for both. */
    bench_spawn_ok(bench_bin(), argv, env, &p);
    for (i = 0; i < 3; i++) {
        sqlite3 *db;
        sqlite3_stmt *st;
        double t0, sum = 0;

        bench_spawn_ok(bench_bin(), argv, env, &p);
        tq[i] = p.wall;
        t0 = bench_now();
        if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READONLY, NULL) !=
                SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "SELECT unit, state, count(*) FROM leads "
                               "GROUP BY unit, state",
                               -1, &st, NULL) != SQLITE_OK)
            bench_die("%s: %s", s->path, sqlite3_errmsg(db));
        while (sqlite3_step(st) == SQLITE_ROW)
            sum += sqlite3_column_double(st, 2);
        sqlite3_finalize(st);
        sqlite3_close(db);
        tl[i] = bench_now() - t0;
        if ((uint64_t)sum != s->leads)
            bench_die("the leads table has %.0f leads, not %llu", sum,
                      (unsigned long long)s->leads);
    }
    q = bench_quantile(tq, 3, 0.5);
    l = bench_quantile(tl, 3, 0.5);
    bench_fmt(what, sizeof what, "status, %d units, %s leads", BENCH_UNITS,
              count(s->leads));
    bench_row(&(struct bench_row){"5", what, q * 1e3, l * 1e3, "ms",
                                  BENCH_LOWER, "<200 ms", q < 0.2});
    bench_note("row 5: the store has %llu entries; median of 3; status "
               "used %.2f s of CPU and peaked at %.0f MiB",
               (unsigned long long)s->entries, bench_cpu_of(&p.ru), mib(&p));
}

/* ---- Row 6 ---- */

static void
row6(const struct bench_store *small, const struct bench_store *large,
     struct verify_out *o)
{
    double note, bytes, ebytes, lim;
    char what[80];

    note = query(large->path, "SELECT avg(length(note)) FROM entries");
    bytes = (double)bench_file_size(large->path) / (double)large->entries;
    /* What no layout can drop: the signed entry, its leaf hash and (on
       average) one interior node hash. */
    lim = note + 64;
    bench_fmt(what, sizeof what, "store bytes per entry, %s entries",
              count(large->entries));
    bench_row(&(struct bench_row){"6", what, bytes, lim, "bytes",
                                  BENCH_LOWER, NULL, -1});
    /* A bundle holds each note with a 2-byte length; hash tiles add 32
       bytes and a little per entry. */
    note = query(small->path, "SELECT avg(length(note)) FROM entries");
    ebytes = (double)o->export_bytes / (double)small->entries;
    bench_fmt(what, sizeof what, "tlog-tiles export bytes per entry, %s",
              count(small->entries));
    bench_row(&(struct bench_row){"6b", what, ebytes, note + 2 + 32 * 256.0 /
                                                                255.0,
                                  "bytes", BENCH_LOWER, NULL, -1});
    if (!o->have_small1)
        verify(small, NULL, 1, NULL, &o->small1);
    if (!o->have_large1)
        verify(large, NULL, 1, NULL, &o->large1);
    bench_fmt(what, sizeof what, "audit verify peak memory, %s entries",
              count(small->entries));
    bench_row(&(struct bench_row){"6c", what, mib(&o->small1), -1, "MiB",
                                  BENCH_LOWER, NULL, -1});
    bench_fmt(what, sizeof what, "audit verify peak memory, %s entries",
              count(large->entries));
    bench_row(&(struct bench_row){"6d", what, mib(&o->large1), -1, "MiB",
                                  BENCH_LOWER, "<64 MiB, flat",
                                  mib(&o->large1) < 64});
    bench_note("row 6: memory grows %.2fx for %.0fx the entries (%llu "
               "leads followed)",
               mib(&o->large1) / mib(&o->small1),
               (double)large->entries / (double)small->entries,
               (unsigned long long)large->leads);
    if (o->have_large2)
        bench_note("row 6: with --jobs 2 the largest peaks at %.1f MiB",
                   mib(&o->large2));
}

/* ---- Row 7 ---- */

/* Copies store s to path with its log key. */
static void
copy_store(const struct bench_store *s, const char *path)
{
    char a[700], b[700];

    bench_unlink_store(path);
    bench_copy_file(s->path, path);
    bench_fmt(a, sizeof a, "%s.logkey", s->path);
    bench_fmt(b, sizeof b, "%s.logkey", path);
    bench_copy_file(a, b);
}

/* Seconds per entry to append leads leads (one transaction) to k. */
static double
append(struct bench_county *k, size_t leads)
{
    double t0 = bench_now();
    size_t i;

    bench_batch_begin(k);
    for (i = 0; i < leads; i++)
        bench_lead_full(k, 0, NULL);
    bench_batch_commit(k);
    return (bench_now() - t0) / (double)(leads * BENCH_FULL_ENTRIES);
}

/* A plain table of rows entry-sized rows, for the raw appends. */
static sqlite3 *
raw_table(const char *path, uint64_t rows, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    unsigned char *blob = calloc(1, len);
    uint64_t i;

    bench_unlink_store(path);
    if (blob == NULL)
        bench_die("out of memory");
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
                     "CREATE TABLE e(idx INTEGER PRIMARY KEY, note BLOB, "
                     "payload BLOB, leaf BLOB); BEGIN",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO e VALUES (?1, ?2, ?3, ?4)", -1,
                           &st, NULL) != SQLITE_OK)
        bench_die("%s: %s", path, sqlite3_errmsg(db));
    /* Filled fast and without syncs: only the table's size matters. */
    for (i = 0; i < rows; i++) {
        memcpy(blob, &i, sizeof i);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
        sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, blob, 256, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, blob, 32, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            bench_die("%s: %s", path, sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    /* Into the database file and on disk, so that no appends pay for
       this fill's checkpoint or write-back (as the copied stores are). */
    if (sqlite3_exec(db,
                     "COMMIT; PRAGMA synchronous=FULL;"
                     "PRAGMA wal_checkpoint(TRUNCATE)",
                     NULL, NULL, NULL) != SQLITE_OK)
        bench_die("%s: %s", path, sqlite3_errmsg(db));
    free(blob);
    return db;
}

/*
 * Seconds per entry to append n raw entries (sign, hash, encrypt, insert)
 * to db in one durable transaction.
 */
static double
raw_append(sqlite3 *db, size_t n, size_t len)
{
    unsigned char pk[32], sk[64], sig[64], h[32], key[32], nonce[24];
    unsigned char payload[240], ct[256], *entry = malloc(len);
    sqlite3_stmt *st;
    sqlite3_int64 next;
    double t0;
    size_t i;

    if (entry == NULL)
        bench_die("out of memory");
    crypto_sign_keypair(pk, sk);
    randombytes_buf(key, sizeof key);
    randombytes_buf(payload, sizeof payload);
    randombytes_buf(entry, len);
    t0 = bench_now();
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT max(idx) + 1 FROM e", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        bench_die("raw append: %s", sqlite3_errmsg(db));
    next = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "INSERT INTO e VALUES (?1, ?2, ?3, ?4)", -1,
                           &st, NULL) != SQLITE_OK)
        bench_die("raw append: %s", sqlite3_errmsg(db));
    for (i = 0; i < n; i++) {
        memcpy(entry, &next, sizeof next);
        randombytes_buf(nonce, sizeof nonce);
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, payload,
                                                   sizeof payload, entry, 32,
                                                   NULL, nonce, key);
        crypto_sign_detached(sig, NULL, entry, len, sk);
        crypto_hash_sha256(h, entry, len);
        crypto_hash_sha256(h, h, sizeof h);
        sqlite3_bind_int64(st, 1, next++);
        sqlite3_bind_blob(st, 2, entry, (int)len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, ct, sizeof ct, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, h, 32, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            bench_die("raw append: %s", sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        bench_die("raw append: %s", sqlite3_errmsg(db));
    free(entry);
    return (bench_now() - t0) / (double)n;
}

static void
row7(const struct bench_store *small, const struct bench_store *large)
{
    const struct bench_store *both[2] = {small, large};
    struct bench_county k[2];
    char path[2][700], rawp[2][700], what[80];
    size_t leads = quick ? 500 : 1000, rounds = 2, i, r;
    double best[2] = {0, 0}, rbest[2] = {0, 0}, len, t;
    sqlite3 *db[2];

    len = query(large->path, "SELECT avg(length(note)) FROM entries");
    for (i = 0; i < 2; i++) {
        bench_fmt(path[i], sizeof path[i], "%s/stores/append-%zu.db",
                  bench_dir(), i);
        bench_fmt(rawp[i], sizeof rawp[i], "%s/stores/append-raw-%zu.db",
                  bench_dir(), i);
        copy_store(both[i], path[i]);
        /* The copy's keys are the original's: load them from there. */
        bench_county_load(&k[i], both[i]);
        bench_county_close(&k[i]);
        bench_county_open(&k[i], path[i]);
        db[i] = raw_table(rawp[i], both[i]->entries, (size_t)len);
    }
    /* Alternating rounds, the best of each: the machine's other load
       should not decide the ratio. */
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < 2; i++) {
            t = append(&k[i], leads);
            if (r == 0 || t < best[i])
                best[i] = t;
            t = raw_append(db[i], leads * BENCH_FULL_ENTRIES, (size_t)len);
            if (r == 0 || t < rbest[i])
                rbest[i] = t;
        }
    }
    for (i = 0; i < 2; i++) {
        char p[720];

        bench_county_free(&k[i]);
        sqlite3_close(db[i]);
        bench_unlink_store(path[i]);
        bench_fmt(p, sizeof p, "%s.logkey", path[i]);
        bench_unlink(p);
        bench_unlink_store(rawp[i]);
    }
    bench_fmt(what, sizeof what, "append cost, %s entries / %s entries",
              count(large->entries), count(small->entries));
    /* Both are ratios where lower is better; the limit's is what an
       append-only table itself costs as it grows. */
    bench_row(&(struct bench_row){"7", what, best[1] / best[0],
                                  rbest[1] / rbest[0], "ratio", BENCH_LOWER,
                                  "<=1.30", best[1] / best[0] <= 1.3});
    bench_note("row 7: %.1f and %.1f us per entry (best of %zu rounds of "
               "%zu leads); raw %.1f and %.1f us",
               best[0] * 1e6, best[1] * 1e6, rounds, leads, rbest[0] * 1e6,
               rbest[1] * 1e6);
}

int
main(int argc, char **argv)
{
    /* Entry counts first, in order, then the status store. */
    struct bench_store full[] = {{10000, false, "", "", "", 0, 0},
                                 {100000, false, "", "", "", 0, 0},
                                 {1000000, false, "", "", "", 0, 0},
                                 {1000000, true, "", "", "", 0, 0}};
    struct bench_store short_run[] = {{10000, false, "", "", "", 0, 0},
                                      {100000, false, "", "", "", 0, 0},
                                      {10000, true, "", "", "", 0, 0}};
    struct bench_store *st;
    struct verify_out vo;
    size_t nsizes;

    bench_init(argc, argv);
    quick = bench_quick();
    st = quick ? short_run : full;
    nsizes = quick ? 2 : 3;
    bench_stores(st, nsizes + 1);
    memset(&vo, 0, sizeof vo);
    row3(&st[0], &st[nsizes - 1], &vo);
    row4(st, nsizes);
    row5(&st[nsizes]);
    row6(&st[0], &st[nsizes - 1], &vo);
    row7(&st[0], &st[nsizes - 1]);
    bench_load_note();
    return 0;
}
