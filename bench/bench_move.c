/*
 * Row 2: one interactive write as a whole process.
 *
 * qingling: `qingling lead move ID contact --field contact_log=...` run
 * by fork/exec of the real binary, from fork to the end of wait4: a
 * verifier's key file without passphrase, a lead in VERIFYING (contact
 * keeps it there), a durable commit. The runs go round LEADS such leads,
 * so that each gathers a handful of entries as a lead under verification
 * does, not hundreds.
 *
 * Limit: bench/limit_move, a process that starts, reads a signing seed,
 * opens an SQLite file, signs one entry-sized text and commits it
 * durably. The two alternate, so that both meet the same disk and load.
 * Median and 99th percentile over 200 runs of each (50 with QUICK).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "bench.h"
#include "fixture.h"
#include "ql_keys.h"

/* Runs before timing, of each. */
#define WARMUP 5
/* Leads in VERIFYING that the runs take in turn. */
#define LEADS 20

/* The mean size of the entries from index from on, in bytes. */
static long
mean_entry(const char *path, long from)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    double mean = 0;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT avg(length(note)) FROM entries "
                           "WHERE idx >= ?1",
                           -1, &st, NULL) != SQLITE_OK)
        bench_die("%s: %s", path, sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, from);
    if (sqlite3_step(st) == SQLITE_ROW)
        mean = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return (long)mean;
}

/* The limit's own database and seed file. */
static void
limit_setup(const char *db_path, const char *seed_path)
{
    unsigned char seed[32];
    sqlite3 *db;
    FILE *f;

    bench_unlink_store(db_path);
    if (sqlite3_open(db_path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL;"
                     "CREATE TABLE e(idx INTEGER PRIMARY KEY, note BLOB, "
                     "sig BLOB)",
                     NULL, NULL, NULL) != SQLITE_OK)
        bench_die("%s: %s", db_path, sqlite3_errmsg(db));
    sqlite3_close(db);
    randombytes_buf(seed, sizeof seed);
    bench_unlink(seed_path);
    f = fopen(seed_path, "wb");
    if (f == NULL || fwrite(seed, 1, sizeof seed, f) != sizeof seed ||
        fclose(f) != 0)
        bench_die("cannot write '%s'", seed_path);
    chmod(seed_path, 0600);
}

int
main(int argc, char **argv)
{
    struct bench_county k;
    struct bench_proc p;
    struct ql_diag d;
    char dir[600], db[700], keyf[700], ldb[700], seed[700], size[32];
    char env_db[800], env_key[800], lim_path[700], lead[LEADS][80];
    const char *bin;
    size_t runs = bench_quick() ? 50 : 200, i;
    double *tq, *tl, *cq, *cl, qmed, lmed, q99, l99;
    uint64_t before;
    long mean;

    bench_init(argc, argv);
    bin = bench_bin();
    bench_fmt(dir, sizeof dir, "%s/move", bench_dir());
    mkdir(dir, 0755);
    bench_fmt(db, sizeof db, "%s/county.db", dir);
    bench_fmt(keyf, sizeof keyf, "%s/hc.key", dir);
    bench_fmt(ldb, sizeof ldb, "%s/limit.db", dir);
    bench_fmt(seed, sizeof seed, "%s/limit.seed", dir);
    bench_fmt(lim_path, sizeof lim_path, "%s/limit_move", bench_dir());
    if (access(lim_path, X_OK) != 0)
        bench_die("no '%s' (run through make bench)", lim_path);

    /* A county with one lead in VERIFYING, and its verifier's key file. */
    bench_county_create(&k, db, 1, false);
    bench_batch_begin(&k);
    for (i = 0; i < LEADS; i++)
        bench_lead_full(&k, 0, lead[i]);
    bench_batch_commit(&k);
    before = bench_log_size(&k);
    bench_unlink(keyf);
    bench_ok(ql_keyfile_write(keyf, k.unit[0].hc, NULL, 0,
                              QL_KEYFILE_PLAINTEXT, &d),
             &d, "key file");
    bench_county_free(&k);

    bench_fmt(env_db, sizeof env_db, "QINGLING_DB=%s", db);
    bench_fmt(env_key, sizeof env_key, "QINGLING_KEY=%s", keyf);
    {
        const char *const env[] = {env_db, env_key, NULL};
        const char *qargv[] = {"qingling", "lead", "move", NULL, "contact",
                               "--field",
                               "contact_log=电话联系举报人，已告知受理",
                               NULL};

        for (i = 0; i < WARMUP; i++) {
            qargv[3] = lead[i % LEADS];
            bench_spawn_ok(bin, qargv, env, &p);
        }
        /* The limit signs texts of the size these moves write. */
        mean = mean_entry(db, (long)before);
        bench_fmt(size, sizeof size, "%ld", mean);
        limit_setup(ldb, seed);
        {
            const char *const largv[] = {"limit_move", ldb, seed, size,
                                         NULL};
            const char *const lenv[] = {NULL};

            for (i = 0; i < WARMUP; i++)
                bench_spawn_ok(lim_path, largv, lenv, &p);
            tq = calloc(runs, sizeof *tq);
            tl = calloc(runs, sizeof *tl);
            cq = calloc(runs, sizeof *cq);
            cl = calloc(runs, sizeof *cl);
            if (tq == NULL || tl == NULL || cq == NULL || cl == NULL)
                bench_die("out of memory");
            for (i = 0; i < runs; i++) {
                qargv[3] = lead[(i + WARMUP) % LEADS];
                bench_spawn_ok(bin, qargv, env, &p);
                tq[i] = p.wall * 1e3;
                cq[i] = bench_cpu_of(&p.ru) * 1e3;
                bench_spawn_ok(lim_path, largv, lenv, &p);
                tl[i] = p.wall * 1e3;
                cl[i] = bench_cpu_of(&p.ru) * 1e3;
            }
        }
    }
    qmed = bench_quantile(tq, runs, 0.5);
    q99 = bench_quantile(tq, runs, 0.99);
    lmed = bench_quantile(tl, runs, 0.5);
    l99 = bench_quantile(tl, runs, 0.99);
    bench_row(&(struct bench_row){"2", "lead move, whole process, median",
                                  qmed, lmed, "ms", BENCH_LOWER, "<10 ms",
                                  qmed < 10});
    bench_row(&(struct bench_row){"2b", "  the same, 99th percentile", q99,
                                  l99, "ms", BENCH_LOWER, NULL, -1});
    bench_note("row 2: %zu runs of each, alternating, over %d leads; "
               "entries of %ld bytes",
               runs, LEADS, mean);
    bench_note("row 2 in CPU time: median %.2f ms for qingling, %.2f ms "
               "for the limit; the rest of the wall time is waiting (disk, "
               "other load)",
               bench_quantile(cq, runs, 0.5), bench_quantile(cl, runs, 0.5));
    free(tq);
    free(tl);
    free(cq);
    free(cl);
    return 0;
}
