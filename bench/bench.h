/*
 * bench: what every benchmark program shares. The table they print
 * together, clocks, statistics, running the real qingling binary as a
 * whole process, and small file helpers.
 *
 * Every program prints rows of one table; any of them run with --header
 * prints the table's header instead (the Makefile's bench rule does that
 * once, then runs each program). A row is
 * qingling's figure, the limit measured in the same run from the raw
 * operations the figure cannot avoid (libsodium and SQLite calls alone),
 * the share of the limit reached, the target and whether it is met.
 *
 * The environment, set by the Makefile: QUICK (non-empty and not "0": the
 * short run), BENCH_DIR (the scratch folder, $(BUILD)/bench), QINGLING_BIN
 * (the binary under test), BENCH_INPUTS (files whose contents decide
 * whether a generated store can be reused).
 *
 * Benchmarks are programs, not library code: they print, and they stop
 * the whole run on the first error (bench_die), since a table with a
 * missing row would hide it.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

struct ql_diag;

/* Whether a figure is better higher (a rate) or lower (a time, bytes). */
enum bench_dir { BENCH_HIGHER, BENCH_LOWER };

/* One row of the table. */
struct bench_row {
    const char *id;      /* "1", "3a", ... */
    const char *what;    /* what is measured, one short line */
    double value;        /* qingling's figure */
    double limit;        /* the limit measured in this run, or < 0: none */
    const char *unit;    /* "trans/s", "ms", ... */
    enum bench_dir dir;  /* how value and limit compare */
    const char *target;  /* the target as text, or NULL */
    int met;             /* 1 met, 0 missed, -1 not judged here */
};

/*
 * Every program's first call: with --header, prints the header and exits;
 * otherwise sets stdout line-buffered (rows appear as they are measured)
 * and initialises libsodium and the engine's crypto.
 */
void bench_init(int argc, char **argv);

/* True for QUICK=1 (any value but empty and "0"). */
bool bench_quick(void);

/* The scratch folder (BENCH_DIR, default build/bench), created. */
const char *bench_dir(void);

/* The qingling binary under test (QINGLING_BIN, default build/qingling). */
const char *bench_bin(void);

/*
 * Prints one row. The ratio column is the share of the limit reached:
 * value / limit for a figure that is better higher, limit / value for one
 * that is better lower; 1.00 is as good as the raw operations.
 */
void bench_row(const struct bench_row *r);

/* Prints a note as a row of the table (id "*"), e.g. how a store was made. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A note with the machine's load average: other work skews every row. */
void bench_load_note(void);

/* Stops the run: "bench: <message>" on stderr, exit status 1. */
void bench_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Stops the run when rc is not QL_OK, with d's message. */
void bench_ok(int rc, const struct ql_diag *d, const char *what);

/* Monotonic seconds. */
double bench_now(void);

/*
 * CPU seconds (user and system) used so far by this process, its threads
 * included; and those a finished child used (from its rusage). On a
 * shared machine CPU time moves far less with the other load than wall
 * time, so the notes give it beside the table's wall-clock figures.
 */
double bench_cpu_self(void);
double bench_cpu_of(const struct rusage *ru);

/* The p-quantile (0..1, nearest rank) of v[0..n); sorts v. */
double bench_quantile(double *v, size_t n, double p);

/* The median of the n values at v (0 for none), which it sorts. */
double bench_median(double *v, size_t n);

/* A process's wall time, its exit status and its resource use. */
struct bench_proc {
    double wall;       /* seconds from fork to the end of wait4 */
    int status;        /* exit status, or 128 + signal */
    struct rusage ru;  /* ru_maxrss in KiB: the process's peak memory */
};

/*
 * Runs path with argv (argv[0] is the program's name) and exactly the
 * environment env (NULL-terminated "NAME=value" strings; nothing
 * inherited), stdin from /dev/null, stdout to out (NULL: /dev/null),
 * stderr to the file err (NULL: /dev/null). Times it from fork to
 * wait4.
 */
void bench_spawn(const char *path, const char *const *argv,
                 const char *const *env, const char *out, const char *err,
                 struct bench_proc *p);

/* Like bench_spawn, but stops the run unless the process exits 0. */
void bench_spawn_ok(const char *path, const char *const *argv,
                    const char *const *env, struct bench_proc *p);

/*
 * Pauses in a child's run, so that a limit can be measured in the same
 * spells of the machine as the child: every `every` seconds of its running
 * the child is stopped (SIGSTOP, every thread at once), fn(arg) runs, and
 * the child continues. The time it stood stopped is left out of its wall
 * time.
 */
struct bench_pause {
    double every;
    void (*fn)(void *arg);
    void *arg;
    unsigned count; /* pauses made (set by the run) */
    double stopped; /* seconds the child stood stopped (set by the run) */
};

/* Like bench_spawn_ok, pausing the child for pause->fn (NULL: never). */
void bench_spawn_paused(const char *path, const char *const *argv,
                        const char *const *env, struct bench_pause *pause,
                        struct bench_proc *p);

/* snprintf that stops the run rather than truncate. */
void bench_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Joins a and b with '/', into static storage that the next call reuses. */
const char *bench_path(const char *a, const char *b);

/* A file's size in bytes; -1 when it does not exist. */
int64_t bench_file_size(const char *path);

/* Reads a whole file (malloc'd, NUL-terminated); stops the run on error. */
char *bench_read_file(const char *path, size_t *len);

/* Copies a file (replacing to); stops the run on error. */
void bench_copy_file(const char *from, const char *to);

/* Removes a file if it exists. */
void bench_unlink(const char *path);

/*
 * Removes an SQLite file and what SQLite keeps beside it (-wal, -shm,
 * -journal): a write-ahead log left beside a store's name would be read
 * into the next store made there, and qingling refuses to make one. Call
 * it only when no connection is open on path: removing the -wal under an
 * open connection loses what it committed.
 */
void bench_unlink_store(const char *path);

/* Formats a count as 10^k when it is a power of ten ("10^6"), else %llu. */
const char *bench_count(uint64_t n, char *buf, size_t len);

#endif
