/*
 * The table, clocks, statistics and processes every benchmark shares
 * (bench.h).
 */
/* wait4, which reports a child's peak memory, is a BSD call. */
#define _DEFAULT_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ql_err.h"
#include "ql_profile.h"
#include "ql_store.h"

/* Column widths of the table. */
#define W_ID 4
#define W_WHAT 46
#define W_NUM 11
#define W_UNIT 9
#define W_RATIO 6
#define W_TARGET 24

static void
header(void)
{
    printf("%-*s %-*s %*s %*s %-*s %*s  %-*s %s\n", W_ID, "row", W_WHAT,
           "measure", W_NUM, "qingling", W_NUM, "limit", W_UNIT, "unit",
           W_RATIO, "ratio", W_TARGET, "target", "met");
}

void
bench_init(int argc, char **argv)
{
    struct ql_diag d;

    if (argc > 1 && strcmp(argv[1], "--header") == 0) {
        header();
        exit(0);
    }
    if (argc > 1)
        bench_die("usage: %s [--header]", argv[0]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /*
     * Set SQLite up as the qingling binary does (its main), so that what
     * runs in process here, an import's batches or a proof, costs what it
     * costs there; the limits in the same process get the same.
     */
    if (!ql_store_init_process())
        bench_die("SQLite does not take its process settings");
    if (sodium_init() < 0)
        bench_die("libsodium does not initialise");
    bench_ok(ql_crypto_init(&d), &d, "crypto");
}

bool
bench_quick(void)
{
    const char *q = getenv("QUICK");

    return q != NULL && *q != '\0' && strcmp(q, "0") != 0;
}

const char *
bench_dir(void)
{
    const char *dir = getenv("BENCH_DIR");

    if (dir == NULL || *dir == '\0')
        dir = "build/bench";
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        bench_die("cannot make '%s': %s", dir, strerror(errno));
    return dir;
}

const char *
bench_bin(void)
{
    const char *bin = getenv("QINGLING_BIN");

    if (bin == NULL || *bin == '\0')
        bin = "build/qingling";
    if (access(bin, X_OK) != 0)
        bench_die("no qingling binary at '%s' (set QINGLING_BIN)", bin);
    return bin;
}

/* A figure with three or four significant digits. */
static void
num(char *buf, size_t len, double v)
{
    double a = v < 0 ? -v : v;

    if (a >= 1000 || a == 0)
        snprintf(buf, len, "%.0f", v);
    else if (a >= 100)
        snprintf(buf, len, "%.1f", v);
    else if (a >= 1)
        snprintf(buf, len, "%.2f", v);
    else
        snprintf(buf, len, "%.3f", v);
}

void
bench_row(const struct bench_row *r)
{
    char v[32], l[32], ratio[16];

    num(v, sizeof v, r->value);
    if (r->limit > 0) {
        num(l, sizeof l, r->limit);
        snprintf(ratio, sizeof ratio, "%.2f",
                 r->dir == BENCH_HIGHER ? r->value / r->limit
                                        : r->limit / r->value);
    } else {
        snprintf(l, sizeof l, "-");
        snprintf(ratio, sizeof ratio, "-");
    }
    printf("%-*s %-*s %*s %*s %-*s %*s  %-*s %s\n", W_ID, r->id, W_WHAT,
           r->what, W_NUM, v, W_NUM, l, W_UNIT, r->unit, W_RATIO, ratio,
           W_TARGET, r->target ? r->target : "-",
           r->met < 0 ? "-" : r->met ? "yes" : "NO");
}

void
bench_note(const char *fmt, ...)
{
    va_list ap;

    printf("%-*s ", W_ID, "*");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

void
bench_load_note(void)
{
    double l1 = 0, l5 = 0, l15 = 0;
    FILE *f = fopen("/proc/loadavg", "r");

    if (f == NULL || fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) != 3) {
        if (f != NULL)
            fclose(f);
        return;
    }
    fclose(f);
    bench_note("load average %.2f %.2f %.2f on %ld cores", l1, l5, l15,
               sysconf(_SC_NPROCESSORS_ONLN));
}

void
bench_die(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void
bench_ok(int rc, const struct ql_diag *d, const char *what)
{
    if (rc != QL_OK)
        bench_die("%s: %s", what, d != NULL ? d->msg : ql_strerror(rc));
}

double
bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
bench_cpu_of(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

double
bench_cpu_self(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return bench_cpu_of(&ru);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double
bench_quantile(double *v, size_t n, double p)
{
    size_t rank;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    /* Nearest rank: the smallest value with at least p of them at or
       below it. */
    rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

/*
 * Waits for the child pid and reaps it into p. With pause, stops it every
 * pause->every seconds of its running for pause->fn, and counts the time
 * it stood stopped. The child's exit is watched through a pidfd, so the
 * wait ends when it does, not at a polling tick.
 */
static void
spawn_wait(pid_t pid, struct bench_pause *pause, int *status,
           struct bench_proc *p)
{
    double next;
    int fd;

    if (pause == NULL) {
        while (wait4(pid, status, 0, &p->ru) != pid)
            if (errno != EINTR)
                bench_die("wait4: %s", strerror(errno));
        return;
    }
    pause->count = 0;
    pause->stopped = 0;
    if ((fd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
        bench_die("pidfd_open: %s", strerror(errno));
    next = bench_now() + pause->every;
    for (;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        double t, left;
        pid_t r;

        left = next - bench_now();
        if (left > 0) {
            if (poll(&pf, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
                bench_die("poll: %s", strerror(errno));
            if ((r = wait4(pid, status, WNOHANG, &p->ru)) == pid)
                break;
            if (r < 0 && errno != EINTR)
                bench_die("wait4: %s", strerror(errno));
            continue;
        }
        /* Its time is up: stop every thread of it, and wait until it
           stands still (or has exited meanwhile). */
        t = bench_now();
        if (kill(pid, SIGSTOP) != 0)
            bench_die("cannot stop the child: %s", strerror(errno));
        while ((r = wait4(pid, status, WUNTRACED, &p->ru)) < 0 &&
               errno == EINTR)
            ;
        if (r != pid)
            bench_die("wait4: %s", strerror(errno));
        if (!WIFSTOPPED(*status))
            break;
        pause->fn(pause->arg);
        pause->count++;
        if (kill(pid, SIGCONT) != 0)
            bench_die("cannot continue the child: %s", strerror(errno));
        pause->stopped += bench_now() - t;
        next = bench_now() + pause->every;
    }
    close(fd);
}

static void
spawn(const char *path, const char *const *argv, const char *const *env,
      const char *out, const char *err, struct bench_pause *pause,
      struct bench_proc *p)
{
    int fi, fo, fe, status = 0;
    double t0;
    pid_t pid;

    /* Files are opened before the clock starts: the child only execs. */
    fi = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fo = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
              0644);
    fe = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
              0644);
    if (fi < 0 || fo < 0 || fe < 0)
        bench_die("cannot open the files for '%s': %s", path,
                  strerror(errno));
    fflush(NULL);
    t0 = bench_now();
    pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        if (dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(127);
        execve(path, (char *const *)argv, (char *const *)env);
        _exit(127);
    }
    memset(&p->ru, 0, sizeof p->ru);
    spawn_wait(pid, pause, &status, p);
    p->wall = bench_now() - t0 - (pause ? pause->stopped : 0);
    p->status = WIFEXITED(status) ? WEXITSTATUS(status)
                                  : 128 + WTERMSIG(status);
    close(fi);
    close(fo);
    close(fe);
}

void
bench_spawn(const char *path, const char *const *argv, const char *const *env,
            const char *out, const char *err, struct bench_proc *p)
{
    spawn(path, argv, env, out, err, NULL, p);
}

void
bench_spawn_paused(const char *path, const char *const *argv,
                   const char *const *env, struct bench_pause *pause,
                   struct bench_proc *p)
{
    char err[600];

    snprintf(err, sizeof err, "%s/last.stderr", bench_dir());
    spawn(path, argv, env, NULL, err, pause, p);
    if (p->status != 0) {
        char *text = bench_read_file(err, NULL);

        bench_die("'%s %s' exited %d: %s", path, argv[1] ? argv[1] : "",
                  p->status, text);
    }
}

void
bench_spawn_ok(const char *path, const char *const *argv,
               const char *const *env, struct bench_proc *p)
{
    bench_spawn_paused(path, argv, env, NULL, p);
}

void
bench_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len)
        bench_die("text too long for its buffer: %.40s...", buf);
}

const char *
bench_path(const char *a, const char *b)
{
    static char buf[1024];

    if ((size_t)snprintf(buf, sizeof buf, "%s/%s", a, b) >= sizeof buf)
        bench_die("path too long: %s/%s", a, b);
    return buf;
}

int64_t
bench_file_size(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return -1;
    return (int64_t)st.st_size;
}

char *
bench_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap + 1);

    if (f == NULL || buf == NULL)
        bench_die("cannot read '%s': %s", path, strerror(errno));
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, cap * 2 + 1);

            if (b == NULL)
                bench_die("out of memory reading '%s'", path);
            buf = b;
            cap *= 2;
        }
    }
    if (ferror(f))
        bench_die("cannot read '%s': %s", path, strerror(errno));
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

void
bench_copy_file(const char *from, const char *to)
{
    static char buf[1 << 20];
    int in, out;
    ssize_t n;

    in = open(from, O_RDONLY | O_CLOEXEC);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0)
        bench_die("cannot copy '%s' to '%s': %s", from, to, strerror(errno));
    while ((n = read(in, buf, sizeof buf)) > 0) {
        char *p = buf;

        while (n > 0) {
            ssize_t w = write(out, p, (size_t)n);

            if (w < 0)
                bench_die("cannot write '%s': %s", to, strerror(errno));
            p += w;
            n -= w;
        }
    }
    /* On disk before anything is timed: a copy's pages written back
       during a measurement would be charged to it. */
    if (n < 0 || fsync(out) != 0 || close(out) != 0)
        bench_die("cannot copy '%s': %s", from, strerror(errno));
    close(in);
}

void
bench_unlink(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        bench_die("cannot remove '%s': %s", path, strerror(errno));
}

void
bench_unlink_store(const char *path)
{
    static const char *const side[] = {"", "-wal", "-shm", "-journal"};
    char p[1024];
    size_t i;

    for (i = 0; i < sizeof side / sizeof side[0]; i++) {
        bench_fmt(p, sizeof p, "%s%s", path, side[i]);
        bench_unlink(p);
    }
}

const char *
bench_count(uint64_t n, char *buf, size_t len)
{
    uint64_t p = 10;
    int k = 1;

    for (; p <= n && k < 19; p *= 10, k++) {
        if (p == n) {
            snprintf(buf, len, "10^%d", k);
            return buf;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)n);
    return buf;
}

double
bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    bench_quantile(v, n, 0.5);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
