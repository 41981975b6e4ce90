/*
 * The fault-injection suite: the record must survive failing allocations,
 * failing writes and syncs, and a full disk, without losing or corrupting
 * anything, and without calling any of it tampering. docs/faults.md is
 * the long version.
 *
 * Each operation -- registering a lead (in a unit that has its data key,
 * and in one that needs a new key epoch), a move, a proposal and its
 * approval by a second person, a move whose guard runs Lua, reading a
 * lead, a CSV and a JSON import, an export and three verifications
 * through the command's own functions -- runs on a fresh copy of one
 * small county, once cleanly to count what it does, then with the Nth of
 * those failing:
 *
 *   - qingling's own allocations (malloc, calloc, realloc, strdup,
 *     strndup, sodium_malloc, and through them Lua's, libcsv's and
 *     jansson's), by the linker's --wrap (Makefile); guarded ones and
 *     those inside jansson's parser also on their own;
 *   - SQLite's allocations (SQLITE_CONFIG_MALLOC);
 *   - writes, syncs and truncations: SQLite's through a VFS over the unix
 *     one (SQLITE_IOERR_WRITE, _FSYNC, _TRUNCATE), the engine's own files
 *     through a wrapped write and fsync;
 *   - a disk that is full after a budget of bytes (SQLITE_FULL, ENOSPC).
 *
 * Every run must end in success or in a clean error of the fault's class
 * (QL_ENOMEM, QL_EIO, QL_EFULL; exit code 6 and one line for a command);
 * the handle that failed holds no transaction; the store, reopened
 * without the fault, holds exactly what it held (check_unchanged) or all
 * of the operation (check_done: log size, every lead and its content, a
 * replay, the auditor's verification, SQLite's integrity check); and the
 * operation then succeeds on that same handle. Under ASan a leak on any
 * of these paths fails the program.
 *
 * Small N are covered densely, larger ones at a stride (fault_op);
 * QL_FAULT_SAMPLES=k runs k times as many (ASan builds spread half as
 * many, each run costing about three times as much).
 *
 * Then the real binary runs with a small RLIMIT_FSIZE, as on a full
 * disk, for lead add, move and approve, import and audit export: exit 6
 * with one line on stderr, the store intact, and success once there is
 * room again.
 *
 * Last, init, a backup and writing a key file are each ended in a child
 * at each point where they write, sync, truncate, name or remove a file
 * (QLF_EXIT, as a kill there would leave it): afterwards what they make is
 * not there and making it again works, or it is there whole
 * (test_init_killed, test_backup_killed, test_keyfile_killed). init also
 * meets an I/O error at each of its points (test_init_io_faults), and a
 * key file is written where unnamed files cannot be made
 * (test_keyfile_in_place).
 */
#define _GNU_SOURCE /* O_TMPFILE */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "cli.h"
#include "ql_audit.h"
#include "ql_county.h"
#include "ql_export.h"
#include "ql_fault.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_store.h"
#include "ql_test.h"

/* 2025-09-15T02:00:00Z. */
#define NOW 1757901600

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define NOW_TEXT "QINGLING_NOW=2025-09-15T02:00:00Z"
#define REPORTER "举报人甲，电话 13800000000"

/*
 * The county's calendar: two holidays right after NOW, so that a due date
 * counted without it (three workdays from Monday the 15th: the 18th) is
 * not the one counted with it (the 22nd).
 */
static const char CALENDAR[] = "zone Asia/Shanghai\n"
                               "weekend sat sun\n"
                               "year 2025\n"
                               "holiday 2025-09-16 2025-09-17 测试假日\n";

/* ---- qingling's own allocations, through the linker's --wrap ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_sodium_malloc(size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_fsync(int fd);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_sodium_malloc(size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_fsync(int fd);
int __real_link(const char *from, const char *to);
int __real_linkat(int fd1, const char *from, int fd2, const char *to,
                  int flags);
int __real_rename(const char *from, const char *to);
int __real_renameat2(int fd1, const char *from, int fd2, const char *to,
                     unsigned flags);
int __real_unlink(const char *path);
int __wrap_link(const char *from, const char *to);
int __wrap_linkat(int fd1, const char *from, int fd2, const char *to,
                  int flags);
int __wrap_rename(const char *from, const char *to);
int __wrap_renameat2(int fd1, const char *from, int fd2, const char *to,
                     unsigned flags);
int __wrap_unlink(const char *path);
int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);

void *
__wrap_malloc(size_t n)
{
    if (qlf_own_alloc()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
    if (qlf_own_alloc()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
    if (qlf_own_alloc()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
    if (qlf_own_alloc()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strdup(s);
}

char *
__wrap_strndup(const char *s, size_t n)
{
    if (qlf_own_alloc()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strndup(s, n);
}

void *
__wrap_sodium_malloc(size_t n)
{
    if (qlf_secret_alloc()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_sodium_malloc(n);
}

/* The engine's own files: export tiles, the auditor's state, key files. */
ssize_t
__wrap_write(int fd, const void *buf, size_t n)
{
    long long k = qlf_own_write(n);

    if (k < 0)
        return -1;
    return __real_write(fd, buf, (size_t)k);
}

int
__wrap_fsync(int fd)
{
    int r = qlf_own_sync();

    return r < 0 ? -1 : r > 0 ? 0 : __real_fsync(fd);
}

/*
 * With no_tmpfile, opening a file with no name (O_TMPFILE) fails as on a
 * kernel or file system without them, counted in tmpfile_refused.
 */
static bool no_tmpfile;
static unsigned tmpfile_refused;

int
__wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    va_list ap;

    if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) {
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (no_tmpfile && (flags & O_TMPFILE) == O_TMPFILE) {
        tmpfile_refused++;
        errno = EOPNOTSUPP;
        return -1;
    }
    return __real_open(path, flags, mode);
}

/* Where the engine names and removes files: points for QLF_EXIT. */
int
__wrap_link(const char *from, const char *to)
{
    qlf_point();
    return __real_link(from, to);
}

int
__wrap_linkat(int fd1, const char *from, int fd2, const char *to, int flags)
{
    qlf_point();
    return __real_linkat(fd1, from, fd2, to, flags);
}

int
__wrap_rename(const char *from, const char *to)
{
    qlf_point();
    return __real_rename(from, to);
}

int
__wrap_renameat2(int fd1, const char *from, int fd2, const char *to,
                 unsigned flags)
{
    qlf_point();
    return __real_renameat2(fd1, from, fd2, to, flags);
}

int
__wrap_unlink(const char *path)
{
    qlf_point();
    return __real_unlink(path);
}

/* The JSON parser's own allocations, for QLF_PARSER_ALLOC. */
json_t *__real_json_loadb(const char *buf, size_t n, size_t flags,
                          json_error_t *err);
json_t *__wrap_json_loadb(const char *buf, size_t n, size_t flags,
                          json_error_t *err);

json_t *
__wrap_json_loadb(const char *buf, size_t n, size_t flags, json_error_t *err)
{
    json_t *v;

    qlf_parser_enter();
    v = __real_json_loadb(buf, n, flags, err);
    qlf_parser_leave();
    return v;
}

/* ---- the county ---- */

enum who { ADMIN, REG, TRI, HEAD, LLY, VER, QLLY, NKEYS };

static const struct {
    const char *name, *unit, *roles;
} PEOPLE[NKEYS] = {
    {"admin", NULL, NULL},
    {"sh-dengji-01", "SH", "registrar"},
    {"sh-yanpan-01", "SH", "triage"},
    {"sh-zhuren-01", "SH", "director"},
    {"LT-lly-01", "LT", "liaison"},
    {"LT-hc-01", "LT", "verifier"},
    {"QY-lly-01", "QY", "liaison"},
};

enum op {
    OP_ADD,         /* lead add, the unit's key exists */
    OP_ADD_EPOCH,   /* lead add in a unit without a key: grants first */
    OP_MOVE,        /* a plain transition */
    OP_PROPOSE,     /* a transition that needs approval */
    OP_APPROVE,     /* its approval: the lead moves to another unit */
    OP_GUARD,       /* a transition whose Lua guard runs */
    OP_LOAD,        /* reading a lead with its secret field */
    OP_IMPORT_CSV,  /* qingling lead import FILE.csv */
    OP_IMPORT_JSON, /* qingling lead import FILE.json */
    OP_IMPORT_TEXT, /* the same with long texts, failing inside jansson */
    OP_EXPORT,      /* qingling audit export DIR */
    OP_VERIFY,      /* qingling audit verify --trust --state */
    OP_VERIFY_JOBS, /* the same on two threads */
    OP_VERIFY_TILES /* qingling audit verify --export DIR --trust */
};

static const char *const OP_NAME[] = {
    "lead add",
    "lead add (new key epoch)",
    "lead move",
    "lead move (proposal)",
    "lead approve",
    "lead move (Lua guard)",
    "lead show",
    "lead import CSV",
    "lead import JSON",
    "lead import JSON (long texts)",
    "audit export",
    "audit verify",
    "audit verify --jobs 2",
    "audit verify --export",
};

static uint64_t store_fingerprint(const char *path, const char *what);

/*
 * The suite writes a store a few thousand times: in memory when there is
 * room for it (/dev/shm) and no TMPDIR says otherwise, else in TMPDIR.
 */
static char *
scratch_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir;

    if ((tmp == NULL || *tmp == '\0') && access("/dev/shm", W_OK | X_OK) == 0) {
        if ((dir = strdup("/dev/shm/qingling-fault-XXXXXX")) == NULL)
            fail_msg("out of memory");
        if (mkdtemp(dir) != NULL)
            return dir;
        free(dir);
    }
    return qlt_tempdir();
}

/* Leads of the fixture, by the state each operation needs. */
enum lead { L_NEW, L_TRIAGE, L_PROPOSED, L_VERIFYING, NLEADS };

static struct {
    char *dir;
    char *base;       /* the fixture store, with entries in its WAL */
    char *work;       /* the copy an operation runs on */
    char *work_key;   /* its log key */
    char *export_dir; /* an export of the fixture, for verify --export */
    char *old_export; /* an export of an earlier size, to extend */
    char *out_dir;    /* where an operation exports */
    char *state;      /* an auditor's state file */
    char *csv, *json; /* import files */
    char *json_text;  /* a JSON import of long texts */
    char *cli_out, *cli_err;
    char *key_path[NKEYS], *admin_pub;
    struct ql_key *k[NKEYS];
    char id[NLEADS][QL_ENTRY_WORD_MAX + 1];
    char *summary;        /* the leads of the fixture, as lead_summary says */
    uint64_t size;        /* its log size */
    uint64_t old_size;    /* the log size of old_export */
    uint64_t fingerprint; /* store_fingerprint of the fixture */
    unsigned scale;       /* percent of the default runs (QL_FAULT_SAMPLES) */
} F;

static void
ok(ql_err rc, const struct ql_diag *d, const char *what)
{
    if (rc != QL_OK)
        fail_msg("%s: %s", what, d->msg);
}

static void
copy_file(const char *from, const char *to)
{
    size_t len;
    char *buf = qlt_read_file(from, &len);

    qlt_write_file(to, buf, len);
    free(buf);
}

/* cp -R from to. */
static void
copy_tree(const char *from, const char *to)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        execlp("cp", "cp", "-R", "--", from, to, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
        fail_msg("cannot copy %s", from);
}

static void
remove_store(const char *path)
{
    /* With the working names of an init and a backup. */
    static const char *const suffix[] = {
        "",          "-wal",          "-shm",  "-journal",
        ".logkey",   ".logkey.part",  ".part", ".part-wal",
        ".part-shm", ".part-journal",
    };
    char p[1024];
    size_t i;

    for (i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

/*
 * A fresh copy of the fixture store (its WAL and log key too) at F.work,
 * no state file, and in F.out_dir nothing, or for an export the earlier
 * export it extends.
 */
static void
reset_work(enum op op)
{
    char from[1024], to[1024];
    struct stat sb;

    remove_store(F.work);
    copy_file(F.base, F.work);
    snprintf(from, sizeof from, "%s.logkey", F.base);
    copy_file(from, F.work_key);
    snprintf(from, sizeof from, "%s-wal", F.base);
    snprintf(to, sizeof to, "%s-wal", F.work);
    copy_file(from, to);
    if (stat(F.out_dir, &sb) == 0)
        qlt_rmtree(qlt_join(F.dir, "out"));
    unlink(F.state);
    if (op == OP_EXPORT)
        copy_tree(F.old_export, F.out_dir);
}

struct sum {
    char *s;
    size_t len, cap;
    char ids[64][QL_ENTRY_WORD_MAX + 1];
    size_t nids;
};

static void
sum_add(struct sum *b, const char *text)
{
    size_t n = strlen(text);

    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        if ((b->s = realloc(b->s, b->cap)) == NULL)
            fail_msg("out of memory");
    }
    memcpy(b->s + b->len, text, n + 1);
    b->len += n;
}

static ql_err
sum_row(void *ctx, const struct ql_lead_row *r, struct ql_diag *d)
{
    struct sum *b = ctx;
    char line[512];

    (void)d;
    snprintf(line, sizeof line, "%s %s %s %s %s:", r->id, r->unit, r->state,
             r->due, r->pending ? r->pending : "-");
    sum_add(b, line);
    if (b->nids == sizeof b->ids / sizeof b->ids[0])
        fail_msg("too many leads");
    snprintf(b->ids[b->nids++], sizeof b->ids[0], "%s", r->id);
    return QL_OK;
}

/*
 * Every lead's id, unit, state, due date and pending proposal, then every
 * field of each as the registrar of the supervision office reads it (all
 * of them: that office holds every unit's key and the secret fields');
 * freed by the caller. Two stores with the same summary hold the same
 * leads with the same content.
 */
static char *
lead_summary(struct ql_county *c)
{
    struct sum b;
    struct ql_diag d;
    size_t i, j;

    memset(&b, 0, sizeof b);
    ql_county_set_actor(c, F.k[REG]);
    ok(ql_lead_list(c, NULL, NULL, false, sum_row, &b, &d), &d, "list");
    sum_add(&b, "|");
    for (i = 0; i < b.nids; i++) {
        struct ql_lead *l = NULL;

        ok(ql_lead_load(c, b.ids[i], &l, &d), &d, "load");
        sum_add(&b, b.ids[i]);
        for (j = 0; j < ql_lead_field_count(l); j++) {
            const struct ql_wf_kv *kv = ql_lead_field_at(l, j);

            sum_add(&b, " ");
            sum_add(&b, kv->name);
            sum_add(&b, "=");
            sum_add(&b, kv->value);
        }
        sum_add(&b, ql_lead_readable(l) ? ";" : " (unreadable);");
        ql_lead_free(l);
    }
    return b.s;
}

static void
as(struct ql_county *c, enum who w)
{
    ql_county_set_actor(c, F.k[w]);
}

static int
setup(void **state)
{
    struct ql_wf_kv add[3] = {{"source", "群众举报"},
                              {"summary", "某村霸占集体土地（测试）"},
                              {"reporter", REPORTER}};
    struct ql_wf_kv asg[2] = {{"handling_unit", "LT"},
                              {"due_at", "2025-10-30"}};
    struct ql_county *c = NULL, *hold = NULL;
    struct ql_diag d;
    char *wf_path, *src, name[64], *build;
    const char *env;
    bool pending = false;
    size_t len, i;
    int l;

    (void)state;
    env = getenv("QL_FAULT_SAMPLES");
    F.dir = scratch_dir();
    /* Under ASan each run costs about three times as much: half the runs. */
    F.scale = SANITIZED ? 50 : 100;
    if (env != NULL && strtol(env, NULL, 10) > 0 && strtol(env, NULL, 10) < 100)
        F.scale *= (unsigned)strtol(env, NULL, 10);
    F.base = qlt_join(F.dir, "base.db");
    build = qlt_join(F.dir, "build.db");
    F.work = qlt_join(F.dir, "work.db");
    F.work_key = qlt_join(F.dir, "work.db.logkey");
    F.export_dir = qlt_join(F.dir, "export");
    F.old_export = qlt_join(F.dir, "old-export");
    F.out_dir = qlt_join(F.dir, "out");
    F.state = qlt_join(F.dir, "audit.state");
    F.csv = qlt_join(F.dir, "leads.csv");
    F.json = qlt_join(F.dir, "leads.json");
    F.json_text = qlt_join(F.dir, "long.json");
    F.cli_out = qlt_join(F.dir, "cli.out");
    F.cli_err = qlt_join(F.dir, "cli.err");
    F.admin_pub = qlt_join(F.dir, "admin.key.pub");
    for (i = 0; i < NKEYS; i++) {
        ok(ql_key_generate(ql_profile_default(), PEOPLE[i].name, &F.k[i], &d),
           &d, "key");
        snprintf(name, sizeof name, "%s.key", PEOPLE[i].name);
        F.key_path[i] = qlt_join(F.dir, name);
        ok(ql_keyfile_write(F.key_path[i], F.k[i], NULL, 0,
                            QL_KEYFILE_PLAINTEXT, &d),
           &d, "key file");
    }
    ok(ql_keyfile_write_public(F.admin_pub, F.k[ADMIN], &d), &d, "pub");
    ok(ql_county_create(build, "qinghe.test/leads", F.k[ADMIN], NULL, NOW, &d),
       &d, "create");
    ok(ql_county_open(build, 0, &c, &d), &d, "open");
    ql_county_set_now(c, NOW);
    as(c, ADMIN);
    /*
     * Batches, as an import writes them: few checkpoints, so the
     * auditor's verification after each of some thousand runs is quick.
     */
    ok(ql_county_batch_begin(c, &d), &d, "batch");
    ok(ql_county_unit_add(c, "SH", "青禾县扫黑办", QL_KIND_SUPERVISION, &d), &d,
       "unit");
    ok(ql_county_unit_add(c, "LT", "鹭汀镇", QL_KIND_TOWNSHIP, &d), &d, "unit");
    ok(ql_county_unit_add(c, "QY", "青云镇", QL_KIND_TOWNSHIP, &d), &d, "unit");
    for (i = 1; i < NKEYS; i++)
        ok(ql_county_principal_add(c, F.k[i], PEOPLE[i].unit, PEOPLE[i].roles,
                                   &d),
           &d, "principal");
    wf_path = qlt_data_path("wf_test.lua");
    src = qlt_read_file(wf_path, &len);
    ok(ql_county_workflow_add(c, "wf_test.lua", src, len, NULL, &d), &d,
       "workflow");
    free(src);
    free(wf_path);
    ok(ql_county_calendar_set(c, "test.cal", CALENDAR, strlen(CALENDAR), &d),
       &d, "calendar");
    ok(ql_county_batch_commit(c, &d), &d, "batch");
    ok(ql_county_batch_begin(c, &d), &d, "batch");
    for (l = 0; l < NLEADS; l++) {
        as(c, REG);
        ok(ql_lead_add(c, "test_flow", "SH", add, 3, F.id[l], &d), &d, "add");
        if (l == L_NEW)
            continue;
        as(c, TRI);
        ok(ql_lead_move(c, F.id[l], "triage", NULL, 0, NULL, NULL, &d), &d,
           "triage");
        if (l == L_TRIAGE)
            continue;
        ok(ql_lead_move(c, F.id[l], "assign", asg, 2, NULL, &pending, &d), &d,
           "assign");
        assert_true(pending);
        if (l == L_PROPOSED)
            continue;
        ok(ql_county_batch_commit(c, &d), &d, "batch");
        /* The export an incremental export extends: a prefix of the log. */
        ok(ql_export_write(c, F.old_export, NULL, NULL, NULL, &d), &d,
           "export");
        ok(ql_log_size(ql_county_log(c), &F.old_size, &d), &d, "size");
        /*
         * A reader from here on keeps the last entries in the WAL, as in
         * a store in use: a write then appends to a WAL of some size, and
         * a full disk can strike in it.
         */
        ok(ql_store_exec(ql_county_store(c), "PRAGMA wal_checkpoint(TRUNCATE)",
                         &d),
           &d, "checkpoint");
        ok(ql_county_open(build, QL_COUNTY_READONLY, &hold, &d), &d, "open");
        ok(ql_store_begin_read(ql_county_store(hold), &d), &d, "read");
        as(c, HEAD);
        ok(ql_lead_approve(c, F.id[l], &d), &d, "approve");
        as(c, LLY);
        ok(ql_lead_move(c, F.id[l], "accept", NULL, 0, NULL, NULL, &d), &d,
           "accept");
    }
    ok(ql_log_size(ql_county_log(c), &F.size, &d), &d, "size");
    F.summary = lead_summary(c);
    if (getenv("QL_FAULT_VERBOSE") != NULL)
        print_message("the fixture's leads: %s\n", F.summary);
    ok(ql_export_write(c, F.export_dir, NULL, NULL, NULL, &d), &d, "export");
    ql_county_close(c);
    for (i = 0; i < 3; i++) {
        static const char *const SUFFIX[] = {"", "-wal", ".logkey"};
        char from[1024], to[1024];

        snprintf(from, sizeof from, "%s%s", build, SUFFIX[i]);
        snprintf(to, sizeof to, "%s%s", F.base, SUFFIX[i]);
        copy_file(from, to);
    }
    ql_store_rollback(ql_county_store(hold));
    ql_county_close(hold);
    free(build);
    reset_work(OP_ADD);
    F.fingerprint = store_fingerprint(F.work, "the fixture");
    {
        static const char CSV[] = "source,summary,reporter\n"
                                  "群众举报,\"某公司强揽工程，威胁竞标人\","
                                  "举报人乙\n"
                                  "部门移送,某村干部把持选举,\n"
                                  "群众举报,\"某市场欺行霸市, 强收摊位费\","
                                  "举报人丙\n";
        static const char J[] = "[{\"source\": \"群众举报\","
                                " \"summary\": \"某砂场非法采砂\"},\n"
                                " {\"source\": \"部门移送\","
                                " \"summary\": \"某娱乐场所涉黄赌\","
                                " \"reporter\": \"匿名\"}]\n";

        qlt_write_file(F.csv, CSV, strlen(CSV));
        qlt_write_file(F.json, J, strlen(J));
    }
    {
        /*
         * Texts long enough that jansson's lexer grows its buffer several
         * times while it reads each (it starts at 16 bytes).
         */
        char text[4096];
        size_t at;

        at = (size_t)snprintf(text, sizeof text,
                              "[{\"source\": \"群众举报\", \"summary\": \"");
        for (i = 0; i < 40; i++)
            at += (size_t)snprintf(text + at, sizeof text - at,
                                   "第%zu段: 某村恶势力强占土地. ", i);
        at += (size_t)snprintf(text + at, sizeof text - at,
                               "\", \"reporter\": \"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "abcdefghijklmnopqrstuvwxyz0123456789\"}]\n");
        qlt_write_file(F.json_text, text, at);
    }
    return 0;
}

static int
teardown(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NKEYS; i++) {
        ql_key_free(F.k[i]);
        free(F.key_path[i]);
    }
    free(F.base);
    free(F.work);
    free(F.work_key);
    free(F.export_dir);
    free(F.old_export);
    free(F.out_dir);
    free(F.state);
    free(F.csv);
    free(F.json);
    free(F.json_text);
    free(F.cli_out);
    free(F.cli_err);
    free(F.admin_pub);
    free(F.summary);
    qlt_rmtree(F.dir);
    return 0;
}

/* ---- the operations ---- */

static bool
op_is_cli(enum op op)
{
    return op >= OP_IMPORT_CSV;
}

/*
 * Runs an engine operation on *cp, opening it first when it is NULL (as
 * a command would). Returns what the engine returned.
 */
static ql_err
run_engine(enum op op, struct ql_county **cp, struct ql_diag *d)
{
    struct ql_wf_kv add[3] = {{"source", "群众举报"},
                              {"summary", "某村恶势力团伙（测试）"},
                              {"reporter", "举报人丁"}};
    struct ql_wf_kv asg[2] = {{"handling_unit", "LT"},
                              {"due_at", "2025-10-30"}};
    struct ql_wf_kv rep[2] = {{"finding", "查否"},
                              {"detail", "经核查，反映问题不属实"}};
    char id[QL_ENTRY_WORD_MAX + 1];
    struct ql_county *c;
    bool pending = false;
    ql_err rc;

    ql_diag_clear(d);
    if (*cp == NULL) {
        if ((rc = ql_county_open(F.work, 0, cp, d)) != QL_OK)
            return rc;
        ql_county_set_now(*cp, NOW);
    }
    c = *cp;
    switch (op) {
    case OP_ADD:
        as(c, REG);
        return ql_lead_add(c, "test_flow", "SH", add, 3, id, d);
    case OP_ADD_EPOCH:
        as(c, QLLY);
        return ql_lead_add(c, "test_flow", "QY", add, 2, id, d);
    case OP_MOVE:
        as(c, TRI);
        return ql_lead_move(c, F.id[L_NEW], "triage", NULL, 0, "领取", NULL, d);
    case OP_PROPOSE:
        as(c, TRI);
        rc = ql_lead_move(c, F.id[L_TRIAGE], "assign", asg, 2, NULL, &pending,
                          d);
        /* Not fail_msg: the fault is still armed here. */
        if (rc == QL_OK && !pending)
            rc = ql_fail(d, QL_EINTEGRITY,
                         "the proposal took effect "
                         "without approval");
        return rc;
    case OP_APPROVE:
        as(c, HEAD);
        return ql_lead_approve(c, F.id[L_PROPOSED], d);
    case OP_GUARD:
        as(c, VER);
        return ql_lead_move(c, F.id[L_VERIFYING], "report", rep, 2, NULL, NULL,
                            d);
    case OP_LOAD: {
        struct ql_lead *l = NULL;
        const char *v;

        /* A read answers with all the reader may see, or fails. */
        as(c, REG);
        if ((rc = ql_lead_load(c, F.id[L_NEW], &l, d)) == QL_OK &&
            (!ql_lead_readable(l) || (v = ql_lead_get(l, "reporter")) == NULL ||
             strcmp(v, REPORTER) != 0))
            rc = ql_fail(d, QL_EINTEGRITY,
                         "the lead was read without its "
                         "secret field");
        ql_lead_free(l);
        return rc;
    }
    default:
        break;
    }
    fail_msg("not an engine operation");
    return QL_EUSAGE;
}

/*
 * The command table lives in main.c, outside libqlcli; the commands this
 * suite calls look themselves up for their usage text.
 */
const struct cli_cmd *
cli_find(const char *name)
{
    static const struct cli_cmd AUDIT = {"audit", cmd_audit,
                                         "qingling audit ...", "audit", 0};

    return strcmp(name, "audit") == 0 ? &AUDIT : NULL;
}

struct cli_result {
    int exit;
    char err[2048];
};

static void
cli_args(enum op op, char **argv, int *argc)
{
    static char import[] = "import", unit_opt[] = "--unit", sh[] = "SH",
                wf_opt[] = "--workflow", wf[] = "test_flow", audit[] = "audit",
                export_sub[] = "export", verify[] = "verify",
                trust[] = "--trust", state_opt[] = "--state",
                export_opt[] = "--export", jobs_opt[] = "--jobs", two[] = "2";
    int n = 0;

    switch (op) {
    case OP_IMPORT_CSV:
    case OP_IMPORT_JSON:
    case OP_IMPORT_TEXT:
        argv[n++] = import;
        argv[n++] = op == OP_IMPORT_CSV    ? F.csv
                    : op == OP_IMPORT_JSON ? F.json
                                           : F.json_text;
        argv[n++] = unit_opt;
        argv[n++] = sh;
        argv[n++] = wf_opt;
        argv[n++] = wf;
        break;
    case OP_EXPORT:
        argv[n++] = audit;
        argv[n++] = export_sub;
        argv[n++] = F.out_dir;
        break;
    case OP_VERIFY:
    case OP_VERIFY_JOBS:
        argv[n++] = audit;
        argv[n++] = verify;
        argv[n++] = trust;
        argv[n++] = F.admin_pub;
        argv[n++] = state_opt;
        argv[n++] = F.state;
        if (op == OP_VERIFY_JOBS) {
            argv[n++] = jobs_opt;
            argv[n++] = two;
        }
        break;
    case OP_VERIFY_TILES:
        argv[n++] = audit;
        argv[n++] = verify;
        argv[n++] = export_opt;
        argv[n++] = F.export_dir;
        argv[n++] = trust;
        argv[n++] = F.admin_pub;
        break;
    default:
        fail_msg("not a command");
    }
    argv[n] = NULL;
    *argc = n;
}

/* A fault to arm around an operation. */
struct fault {
    enum qlf_kind kind;
    uint64_t n;
    bool sticky;
};

/*
 * Runs a command's function in this process the way main() does: its own
 * struct cli, the county and key closed after, stdout checked; stdout and
 * stderr go to files. f (NULL: none) is armed around the command alone.
 */
static void
run_cli(enum op op, const struct fault *f, struct cli_result *res)
{
    struct cli cli;
    char *argv[16];
    int argc, saved_out, saved_err, fd, ex;
    char *err;
    size_t len;

    cli_args(op, argv, &argc);
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    if ((fd = open(F.cli_out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
        fail_msg("cannot open %s", F.cli_out);
    dup2(fd, 1);
    close(fd);
    if ((fd = open(F.cli_err, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
        fail_msg("cannot open %s", F.cli_err);
    dup2(fd, 2);
    close(fd);
    memset(&cli, 0, sizeof cli);
    cli.db = F.work;
    cli.now_set = true;
    cli.now = NOW;
    cli.key_path = F.key_path[REG];
    if (f != NULL)
        qlf_arm(f->kind, f->n, f->sticky);
    if (op == OP_IMPORT_CSV || op == OP_IMPORT_JSON || op == OP_IMPORT_TEXT)
        ex = lead_import(argc, argv, &cli);
    else
        ex = cmd_audit(argc, argv, &cli);
    ql_county_close(cli.county);
    ql_key_free(cli.key);
    if (fflush(stdout) != 0 || ferror(stdout))
        ex = cli_error(EXIT_ENV, "cannot write output");
    fflush(stderr);
    if (f != NULL)
        qlf_disarm();
    clearerr(stdout);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    res->exit = ex;
    err = qlt_read_file(F.cli_err, &len);
    snprintf(res->err, sizeof res->err, "%s", err);
    free(err);
}

/* ---- what must hold after every run ---- */

static void
fnv(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 1099511628211ull;
    }
}

/*
 * A fingerprint of everything a store holds, table by table and row by
 * row in a defined order, read with SQLite alone (no engine code), and
 * SQLite's integrity check. Two stores with one fingerprint hold the same
 * log, checkpoints, cosignatures, settings and derived tables.
 */
static uint64_t
store_fingerprint(const char *path, const char *what)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *tables = NULL, *cols = NULL, *rows = NULL;
    uint64_t h = 1469598103934665603ull;
    char sql[2048];
    int i, n;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &rows, NULL) !=
            SQLITE_OK ||
        sqlite3_step(rows) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(rows, 0), "ok") != 0)
        fail_msg("%s: the store is not sound: %s", what, sqlite3_errmsg(db));
    sqlite3_finalize(rows);
    rows = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT name FROM sqlite_schema WHERE type = "
                           "'table' ORDER BY name",
                           -1, &tables, NULL) != SQLITE_OK)
        fail_msg("%s: %s", what, sqlite3_errmsg(db));
    while (sqlite3_step(tables) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(tables, 0);
        size_t at;

        fnv(&h, t, strlen(t) + 1);
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM pragma_table_info"
                 "('%s')",
                 t);
        if (sqlite3_prepare_v2(db, sql, -1, &cols, NULL) != SQLITE_OK ||
            sqlite3_step(cols) != SQLITE_ROW)
            fail_msg("%s: %s", what, sqlite3_errmsg(db));
        n = sqlite3_column_int(cols, 0);
        sqlite3_finalize(cols);
        cols = NULL;
        /* Every column, quoted, ordered by all of them. */
        at = (size_t)snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" ORDER BY",
                              t);
        for (i = 1; i <= n && at < sizeof sql; i++)
            at += (size_t)snprintf(sql + at, sizeof sql - at, "%s %d",
                                   i > 1 ? "," : "", i);
        if (sqlite3_prepare_v2(db, sql, -1, &rows, NULL) != SQLITE_OK)
            fail_msg("%s: %s: %s", what, sql, sqlite3_errmsg(db));
        while (sqlite3_step(rows) == SQLITE_ROW) {
            for (i = 0; i < n; i++) {
                int type = sqlite3_column_type(rows, i);
                const void *v = sqlite3_column_blob(rows, i);
                int len = sqlite3_column_bytes(rows, i);

                fnv(&h, &type, sizeof type);
                if (v != NULL)
                    fnv(&h, v, (size_t)len);
                fnv(&h, &len, sizeof len);
            }
        }
        sqlite3_finalize(rows);
        rows = NULL;
    }
    sqlite3_finalize(tables);
    sqlite3_close(db);
    return h;
}

/*
 * After a failure: the store opens with the engine, without any fault,
 * and holds exactly what it held before, to the last row of every table.
 */
static void
check_unchanged(const char *what)
{
    struct ql_county *c = NULL;
    struct ql_diag d;

    if (ql_county_open(F.work, 0, &c, &d) != QL_OK)
        fail_msg("%s: the store does not open: %s", what, d.msg);
    ql_county_close(c);
    if (store_fingerprint(F.work, what) != F.fingerprint)
        fail_msg("%s: the failed operation changed the store", what);
}

/*
 * After a success (or a retry): the log holds all of the operation
 * (grows more entries, and the leads and their content as `after` lists
 * them); the tables equal a replay; the log verifies from the trusted
 * administrator key; SQLite finds the file sound.
 */
static void
check_done(uint64_t grows, const char *after, const char *what)
{
    struct ql_audit_result res;
    struct ql_county *c = NULL;
    struct ql_diag d;
    uint64_t size = 0;
    char *sum;

    if (ql_county_open(F.work, 0, &c, &d) != QL_OK)
        fail_msg("%s: the store does not open: %s", what, d.msg);
    ql_county_set_now(c, NOW);
    ok(ql_log_size(ql_county_log(c), &size, &d), &d, what);
    if (size != F.size + grows)
        fail_msg("%s: log size %llu, expected %llu", what,
                 (unsigned long long)size,
                 (unsigned long long)(F.size + grows));
    sum = lead_summary(c);
    if (strcmp(sum, after) != 0)
        fail_msg("%s: the leads are\n  %s\nexpected\n  %s", what, sum, after);
    free(sum);
    if (ql_county_replay_check(c, &d) != QL_OK)
        fail_msg("%s: replay: %s", what, d.msg);
    if (ql_audit_verify(c, F.k[ADMIN], &res, &d) != QL_OK)
        fail_msg("%s: audit: %s", what, d.msg);
    if (res.entries != size)
        fail_msg("%s: the audit saw %llu entries", what,
                 (unsigned long long)res.entries);
    if (ql_store_check(ql_county_store(c), &d) != QL_OK)
        fail_msg("%s: integrity: %s", what, d.msg);
    ql_county_close(c);
}

/* Either of the above. */
static void
check_store(bool done, uint64_t grows, const char *after, const char *what)
{
    if (done)
        check_done(grows, after, what);
    else
        check_unchanged(what);
}

/* The export in F.out_dir verifies, or holds no checkpoint at all. */
static void
check_export(bool done, const char *what)
{
    struct ql_audit_source *src = NULL;
    struct ql_audit_result res;
    struct ql_audit_opts o;
    struct ql_diag d;
    struct stat sb;
    char *cp = qlt_join(F.out_dir, "checkpoint");
    ql_err rc;

    if (stat(cp, &sb) != 0) {
        if (done)
            fail_msg("%s: the export has no checkpoint", what);
        free(cp);
        return;
    }
    free(cp);
    memset(&o, 0, sizeof o);
    o.trust = F.k[ADMIN];
    if ((rc = ql_audit_source_export(F.out_dir, &src, &d)) == QL_OK)
        rc = ql_audit_run(src, NULL, &o, &res, &d);
    ql_audit_source_free(src);
    if (rc != QL_OK)
        fail_msg("%s: the export does not verify: %s", what, d.msg);
    /* Until the new checkpoint is in place, the old export stands. */
    if (res.entries != F.size && (done || res.entries != F.old_size))
        fail_msg("%s: the export holds %llu entries", what,
                 (unsigned long long)res.entries);
}

/* The state file is absent (a failure) or names the fixture's size. */
static void
check_state(bool done, const char *what)
{
    struct ql_audit_state st;
    struct ql_diag d;
    ql_err rc = ql_audit_state_read(F.state, &st, &d);

    if (!done && rc == QL_ENOTFOUND)
        return;
    if (rc != QL_OK)
        fail_msg("%s: state file: %s", what, d.msg);
    if (st.size != F.size)
        fail_msg("%s: state file names size %llu", what,
                 (unsigned long long)st.size);
}

/* True when a name under dir (recursively) has ".tmp" in it. */
static bool
has_temp(const char *dir, char *found, size_t size)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    bool hit = false;

    if (dp == NULL)
        return false;
    while (!hit && (de = readdir(dp)) != NULL) {
        char *path;
        struct stat sb;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        path = qlt_join(dir, de->d_name);
        if (strstr(de->d_name, ".tmp") != NULL ||
            strstr(de->d_name, ".part") != NULL) {
            snprintf(found, size, "%s", path);
            hit = true;
        } else if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            hit = has_temp(path, found, size);
        }
        free(path);
    }
    closedir(dp);
    return hit;
}

/* No temporary file is left beside the outputs. */
static void
check_no_leftovers(const char *what)
{
    char found[1024];

    if (has_temp(F.dir, found, sizeof found))
        fail_msg("%s: '%s' was left behind", what, found);
}

/* The codes a fault of kind may surface as. */
static bool
right_class(enum qlf_kind kind, ql_err rc)
{
    switch (kind) {
    case QLF_OWN_ALLOC:
    case QLF_SQLITE_ALLOC:
    case QLF_PARSER_ALLOC:
    case QLF_SECRET_ALLOC:
        return rc == QL_ENOMEM;
    case QLF_IO:
        return rc == QL_EIO;
    case QLF_FULL:
        return rc == QL_EFULL;
    case QLF_EXIT: /* ends the process: no code to judge */
    case QLF_NONE:
        break;
    }
    return false;
}

/* A command's error: exit 6 and one line "qingling: ...". */
static void
check_cli_error(const struct cli_result *r, const char *what)
{
    const char *nl = strchr(r->err, '\n');

    if (r->exit != EXIT_ENV)
        fail_msg("%s: exit %d, expected 6: %s", what, r->exit, r->err);
    if (strncmp(r->err, "qingling: ", 10) != 0 || nl == NULL || nl[1] != '\0' ||
        nl - r->err < 12)
        fail_msg("%s: not one line of error: '%s'", what, r->err);
}

struct measure {
    uint64_t grows; /* log entries a success appends */
    char *after;    /* the leads after a success */
};

/* Runs op once without a fault; returns what it counted of kind. */
static uint64_t
clean_run(enum op op, enum qlf_kind kind, struct measure *m)
{
    struct ql_county *c = NULL;
    struct cli_result r;
    struct ql_diag d;
    uint64_t n, size = 0;

    reset_work(op);
    if (op_is_cli(op)) {
        struct fault f = {kind, UINT64_MAX, false};

        run_cli(op, &f, &r);
        n = qlf_disarm();
        if (r.exit != EXIT_OK)
            fail_msg("%s: exit %d: %s", OP_NAME[op], r.exit, r.err);
    } else {
        ql_err rc;

        qlf_arm(kind, UINT64_MAX, false);
        rc = run_engine(op, &c, &d);
        n = qlf_disarm();
        ql_county_close(c);
        ok(rc, &d, OP_NAME[op]);
    }
    c = NULL;
    if (m != NULL) {
        ok(ql_county_open(F.work, QL_COUNTY_READONLY, &c, &d), &d, "open");
        ok(ql_log_size(ql_county_log(c), &size, &d), &d, "size");
        m->grows = size - F.size;
        m->after = lead_summary(c);
        ql_county_close(c);
        /* The fingerprint must see a change, or check_unchanged is blind. */
        if (m->grows > 0 &&
            store_fingerprint(F.work, OP_NAME[op]) == F.fingerprint)
            fail_msg("%s: the fingerprint missed a change", OP_NAME[op]);
    }
    return n;
}

/* Failed runs whose operation was found whole in the log afterwards. */
static unsigned landed;

/* One run with the fault armed at n, and every check after it. */
static void
fault_run(enum op op, enum qlf_kind kind, uint64_t n, bool sticky,
          const struct measure *m)
{
    struct ql_county *c = NULL;
    struct cli_result r;
    struct ql_diag d;
    char what[256];
    bool done;
    ql_err rc = QL_OK;

    snprintf(what, sizeof what, "%s, %s %llu%s", OP_NAME[op], qlf_name(kind),
             (unsigned long long)n, sticky ? " and after" : "");
    reset_work(op);
    if (op_is_cli(op)) {
        struct fault f = {kind, n, sticky};

        run_cli(op, &f, &r);
        done = r.exit == EXIT_OK;
    } else {
        qlf_arm(kind, n, sticky);
        rc = run_engine(op, &c, &d);
        done = rc == QL_OK;
        qlf_disarm();
    }
    if (!done) {
        if (!qlf_fired())
            fail_msg("%s: failed without the fault: %s", what,
                     op_is_cli(op) ? r.err : d.msg);
        if (getenv("QL_FAULT_VERBOSE") != NULL)
            print_message("%s: %s%s", what, op_is_cli(op) ? r.err : d.msg,
                          op_is_cli(op) ? "" : "\n");
        if (op_is_cli(op)) {
            check_cli_error(&r, what);
            if (strstr(r.err, "committing") != NULL &&
                strstr(r.err, ": line ") != NULL)
                fail_msg("%s: a failed commit blamed on a line: %s", what,
                         r.err);
        } else {
            if (!right_class(kind, rc))
                fail_msg("%s: %s (%s), expected the fault's class", what,
                         ql_errname(rc), d.msg);
            if (d.msg[0] == '\0' || strchr(d.msg, '\n') != NULL)
                fail_msg("%s: bad message '%s'", what, d.msg);
            if (c != NULL && ql_store_in_transaction(ql_county_store(c)))
                fail_msg("%s: the failed handle holds a transaction", what);
        }
    }
    /*
     * Nothing of the operation, to the row, or all of it. A write or sync
     * that failed after the commit's last frame was written leaves the
     * outcome open: once the process is gone, SQLite's recovery may find
     * the whole transaction in the WAL. That is the one way a failed
     * operation may still be in the log, whole.
     */
    if (!done && kind == QLF_IO &&
        store_fingerprint(F.work, what) != F.fingerprint) {
        /* ... and the user must have been told so. */
        if (strstr(op_is_cli(op) ? r.err : d.msg, "may or may not") == NULL ||
            strstr(op_is_cli(op) ? r.err : d.msg, "nothing was") != NULL)
            fail_msg("%s: the operation failed, is in the log, and the "
                     "message does not say it may be: %s",
                     what, op_is_cli(op) ? r.err : d.msg);
        check_done(m->grows, m->after, what);
        landed++;
        ql_county_close(c);
        return;
    }
    check_store(done, m->grows, m->after, what);
    if (op == OP_EXPORT)
        check_export(done, what);
    if (op == OP_VERIFY || op == OP_VERIFY_JOBS)
        check_state(done, what);
    check_no_leftovers(what);
    if (!done) {
        /* The same handle (a fresh process for a command) succeeds. */
        if (op_is_cli(op)) {
            run_cli(op, NULL, &r);
            if (r.exit != EXIT_OK)
                fail_msg("%s: the retry failed: exit %d: %s", what, r.exit,
                         r.err);
        } else {
            rc = run_engine(op, &c, &d);
            if (rc != QL_OK)
                fail_msg("%s: the retry failed: %s", what, d.msg);
        }
    }
    ql_county_close(c);
    if (!done) {
        snprintf(what + strlen(what), sizeof what - strlen(what), ", retried");
        check_store(true, m->grows, m->after, what);
        if (op == OP_EXPORT)
            check_export(true, what);
        if (op == OP_VERIFY || op == OP_VERIFY_JOBS)
            check_state(true, what);
    }
}

/*
 * The values of N to try for an operation that counted total calls:
 * every one up to dense, then about `more` spread over the rest (a stride
 * that is odd so it does not fall in step with SQLite's page-sized
 * patterns), and the last one.
 */
static size_t
sample(uint64_t total, uint64_t dense, uint64_t more, uint64_t *out, size_t cap)
{
    const char *only = getenv("QL_FAULT_N");
    size_t k = 0;
    uint64_t n, stride;

    /* QL_FAULT_N=n repeats one run, to reproduce a failure. */
    if (only != NULL && *only != '\0') {
        n = strtoull(only, NULL, 10);
        if (n >= 1 && n <= total && cap > 0)
            out[k++] = n;
        return k;
    }
    for (n = 1; n <= total && n <= dense && k < cap; n++)
        out[k++] = n;
    if (total > dense) {
        stride = (total - dense) / (more ? more : 1);
        stride |= 1;
        for (n = dense + stride; n < total && k < cap; n += stride)
            out[k++] = n;
        if (k < cap)
            out[k++] = total;
    }
    return k;
}

/*
 * Runs op under every kind of fault, N as sample() picks, transient and
 * (for allocations, more sparsely) sticky.
 */
static void
fault_op(enum op op)
{
    static const enum qlf_kind KINDS[] = {QLF_OWN_ALLOC, QLF_SECRET_ALLOC,
                                          QLF_SQLITE_ALLOC, QLF_IO, QLF_FULL};
    static const enum qlf_kind PARSER[] = {QLF_PARSER_ALLOC};
    const enum qlf_kind *kinds = op == OP_IMPORT_TEXT ? PARSER : KINDS;
    size_t nkinds = op == OP_IMPORT_TEXT ? 1 : sizeof KINDS / sizeof KINDS[0];
    struct measure m = {0, NULL};
    uint64_t ns[512];
    size_t i, k, kk;

    for (k = 0; k < nkinds; k++) {
        enum qlf_kind kind = kinds[k];
        uint64_t total = clean_run(op, kind, k == 0 ? &m : NULL);
        bool sticky;

        if (kind == QLF_FULL) {
            /* Budgets from nothing to one byte short of the whole. */
            size_t nb = 0;
            uint64_t step = total * 100 / (6 * F.scale) + 1;

            for (i = 0; i < total && nb < 512; i += step)
                ns[nb++] = i;
            if (total > 0 && nb < 512)
                ns[nb++] = total - 1;
            for (i = 0; i < nb; i++)
                fault_run(op, kind, ns[i], true, &m);
            print_message("%s: %s: %llu bytes, %zu budgets\n", OP_NAME[op],
                          qlf_name(kind), (unsigned long long)total, nb);
            continue;
        }
        for (sticky = false;; sticky = true) {
            /*
             * How many N: every one up to dense, then about more spread
             * over the rest. Every guarded allocation, every one inside
             * the parser, every write and sync (a disk that dies at each
             * step of a commit, too); SQLite's first allocations repeat
             * the same opening, so fewer of them dense.
             */
            static const struct {
                uint64_t dense, more, dense_sticky, more_sticky;
            } HOW[] = {
                [QLF_OWN_ALLOC] = {16, 10, 3, 3},
                [QLF_SECRET_ALLOC] = {512, 0, 3, 3},
                [QLF_PARSER_ALLOC] = {512, 0, 512, 0},
                [QLF_SQLITE_ALLOC] = {6, 10, 3, 3},
                [QLF_IO] = {48, 6, 48, 6},
            };
            uint64_t dense = sticky ? HOW[kind].dense_sticky : HOW[kind].dense;
            uint64_t more = sticky ? HOW[kind].more_sticky : HOW[kind].more;

            /* Small N stay dense under ASan: the opening paths are there. */
            kk = sample(total, F.scale < 100 ? dense : dense * F.scale / 100,
                        more * F.scale / 100 + 1, ns, 512);
            landed = 0;
            for (i = 0; i < kk; i++)
                fault_run(op, kind, ns[i], sticky, &m);
            print_message("%s: %s%s: %llu counted, %zu runs, %u of them "
                          "failed but whole in the log\n",
                          OP_NAME[op], qlf_name(kind),
                          sticky ? " (sticky)" : "", (unsigned long long)total,
                          kk, landed);
            if (sticky)
                break;
        }
    }
    free(m.after);
}

static void
test_add(void **state)
{
    (void)state;
    fault_op(OP_ADD);
}

static void
test_add_epoch(void **state)
{
    (void)state;
    fault_op(OP_ADD_EPOCH);
}

static void
test_move(void **state)
{
    (void)state;
    fault_op(OP_MOVE);
}

static void
test_propose(void **state)
{
    (void)state;
    fault_op(OP_PROPOSE);
}

static void
test_approve(void **state)
{
    (void)state;
    fault_op(OP_APPROVE);
}

static void
test_guard(void **state)
{
    (void)state;
    fault_op(OP_GUARD);
}

static void
test_load(void **state)
{
    (void)state;
    fault_op(OP_LOAD);
}

static void
test_import_csv(void **state)
{
    (void)state;
    fault_op(OP_IMPORT_CSV);
}

static void
test_import_json(void **state)
{
    (void)state;
    fault_op(OP_IMPORT_JSON);
}

static void
test_import_json_parser(void **state)
{
    (void)state;
    fault_op(OP_IMPORT_TEXT);
}

static void
test_export(void **state)
{
    (void)state;
    fault_op(OP_EXPORT);
}

static void
test_verify(void **state)
{
    (void)state;
    fault_op(OP_VERIFY);
}

static void
test_verify_jobs(void **state)
{
    (void)state;
    fault_op(OP_VERIFY_JOBS);
}

static void
test_verify_tiles(void **state)
{
    (void)state;
    fault_op(OP_VERIFY_TILES);
}

/* ---- the real binary on a full disk (RLIMIT_FSIZE) ---- */

enum bin_op { B_ADD, B_MOVE, B_APPROVE, B_IMPORT, B_EXPORT, NBIN };

static const char *const BIN_NAME[NBIN] = {
    "qingling lead add",    "qingling lead move",    "qingling lead approve",
    "qingling lead import", "qingling audit export",
};

/* Runs the binary for op with a file size limit (< 0: none). */
static void
run_bin(enum bin_op op, long long limit, struct qlt_run *r)
{
    const char *env[] = {NOW_TEXT, NULL};
    const char *argv[24];
    size_t n = 0;

    argv[n++] = "--db";
    argv[n++] = F.work;
    argv[n++] = "--key";
    switch (op) {
    case B_ADD:
        argv[n++] = F.key_path[REG];
        argv[n++] = "lead";
        argv[n++] = "add";
        argv[n++] = "--unit";
        argv[n++] = "SH";
        argv[n++] = "--workflow";
        argv[n++] = "test_flow";
        argv[n++] = "--field";
        argv[n++] = "source=群众举报";
        argv[n++] = "--field";
        argv[n++] = "summary=某村恶势力团伙（测试）";
        argv[n++] = "--field";
        argv[n++] = "reporter=举报人戊";
        break;
    case B_MOVE:
        argv[n++] = F.key_path[TRI];
        argv[n++] = "lead";
        argv[n++] = "move";
        argv[n++] = F.id[L_NEW];
        argv[n++] = "triage";
        argv[n++] = "--note";
        argv[n++] = "领取研判";
        break;
    case B_APPROVE:
        argv[n++] = F.key_path[HEAD];
        argv[n++] = "lead";
        argv[n++] = "approve";
        argv[n++] = F.id[L_PROPOSED];
        break;
    case B_IMPORT:
        argv[n++] = F.key_path[REG];
        argv[n++] = "lead";
        argv[n++] = "import";
        argv[n++] = F.csv;
        argv[n++] = "--unit";
        argv[n++] = "SH";
        argv[n++] = "--workflow";
        argv[n++] = "test_flow";
        break;
    case B_EXPORT:
        argv[n++] = F.key_path[REG];
        argv[n++] = "audit";
        argv[n++] = "export";
        argv[n++] = F.out_dir;
        break;
    case NBIN:
        break;
    }
    argv[n] = NULL;
    if (limit < 0)
        qlt_exec(r, argv, env, NULL);
    else
        qlt_exec_fsize(r, argv, env, NULL, limit);
}

/*
 * Runs a command of the binary under ever larger file size limits: from
 * none at all, past the shared-memory index SQLite needs (32 KiB), up to
 * the one where it succeeds, and a few beyond. Each run exits 0 or 6;
 * 6 with one line on stderr and nothing of the operation in the store;
 * the store verifies after each, and the command succeeds once the limit
 * is lifted.
 */
static void
full_disk(enum bin_op op)
{
    struct measure m = {0, NULL};
    struct qlt_run r;
    struct ql_county *c = NULL;
    struct ql_diag d;
    enum op as_op = op == B_EXPORT ? OP_EXPORT : OP_ADD;
    char what[160], wal[1024];
    struct stat sb;
    long long limit;
    uint64_t size = 0;
    int runs = 0, ok_in_row = 0, failed = 0;

    reset_work(as_op);
    run_bin(op, -1, &r);
    if (r.status != 0)
        fail_msg("%s: exit %d: %s", BIN_NAME[op], r.status, r.err);
    qlt_run_free(&r);
    ok(ql_county_open(F.work, QL_COUNTY_READONLY, &c, &d), &d, "open");
    ok(ql_log_size(ql_county_log(c), &size, &d), &d, "size");
    m.grows = size - F.size;
    m.after = lead_summary(c);
    ql_county_close(c);
    snprintf(wal, sizeof wal, "%s-wal", F.base);
    if (stat(wal, &sb) != 0)
        fail_msg("the fixture has no WAL");
    for (limit = 0; ok_in_row < 2 && limit < 4 * 1024 * 1024; runs++) {
        bool done;

        snprintf(what, sizeof what, "%s with files limited to %lld bytes",
                 BIN_NAME[op], limit);
        reset_work(as_op);
        run_bin(op, limit, &r);
        done = r.status == 0;
        if (!done) {
            struct cli_result cr;

            failed++;
            cr.exit = r.status;
            snprintf(cr.err, sizeof cr.err, "%s", r.err);
            check_cli_error(&cr, what);
            /* Where SQLite keeps the system's error it is named. */
            if (limit == 0 && strstr(r.err, "disk full") == NULL)
                fail_msg("%s: the message does not say the disk is full: %s",
                         what, r.err);
            if (strstr(r.err, "committing") != NULL &&
                strstr(r.err, ": line ") != NULL)
                fail_msg("%s: a failed commit blamed on a line: %s", what,
                         r.err);
            if (getenv("QL_FAULT_VERBOSE") != NULL)
                print_message("%s: %s", what, r.err);
        }
        qlt_run_free(&r);
        check_store(done, m.grows, m.after, what);
        if (op == B_EXPORT)
            check_export(done, what);
        check_no_leftovers(what);
        if (!done) {
            run_bin(op, -1, &r);
            if (r.status != 0)
                fail_msg("%s: the retry failed: exit %d: %s", what, r.status,
                         r.err);
            qlt_run_free(&r);
            check_store(true, m.grows, m.after, what);
            if (op == B_EXPORT)
                check_export(true, what);
        }
        ok_in_row = done ? ok_in_row + 1 : 0;
        /*
         * Below SQLite's shared-memory index (32 KiB) nothing opens: a
         * few limits there, then from just below the WAL the fixture
         * leaves, where the operation's frames go, a step of one WAL
         * frame and a bit (a page and its header), so that each lands at
         * another offset of a frame (two under ASan).
         */
        if (limit < 16384)
            limit = limit == 0 ? 4096 : 16384;
        else if (limit == 16384)
            limit = (long long)sb.st_size - 4096 > 32768
                        ? (long long)sb.st_size - 4096
                        : 32768;
        else
            limit += (SANITIZED ? 2 : 1) * 4120 + 700;
    }
    print_message("%s: %d limits, %d failed cleanly\n", BIN_NAME[op], runs,
                  failed);
    if (failed == 0)
        fail_msg("%s: no limit made it fail", BIN_NAME[op]);
    free(m.after);
}

static void
test_full_disk_add(void **state)
{
    (void)state;
    full_disk(B_ADD);
}

static void
test_full_disk_move(void **state)
{
    (void)state;
    full_disk(B_MOVE);
}

static void
test_full_disk_approve(void **state)
{
    (void)state;
    full_disk(B_APPROVE);
}

static void
test_full_disk_import(void **state)
{
    (void)state;
    full_disk(B_IMPORT);
}

static void
test_full_disk_export(void **state)
{
    (void)state;
    full_disk(B_EXPORT);
}

/* ---- init, backup and key files, killed at every point ---- */

/* Whether path exists (any kind of file). */
static bool
exists(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) == 0;
}

/*
 * Runs op(arg) in a child with QLF_EXIT armed at its nth point of points:
 * it must end there, or, one run past the last point, finish with QL_OK.
 */
static void
kill_at(uint64_t n, uint64_t points, ql_err (*op)(void *), void *arg,
        const char *what)
{
    int status;
    pid_t pid;

    fflush(NULL);
    if ((pid = fork()) == 0) {
        qlf_arm(QLF_EXIT, n, false);
        _exit(op(arg) == QL_OK ? 0 : 1);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        fail_msg("%s: the child did not exit", what);
    if (WEXITSTATUS(status) != (n <= points ? QLF_EXIT_STATUS : 0))
        fail_msg("%s: the child exited %d", what, WEXITSTATUS(status));
}

/* Counts the points of op(arg), which must succeed. */
static uint64_t
points_of(ql_err (*op)(void *), void *arg, const char *what)
{
    ql_err rc;

    qlf_arm(QLF_EXIT, UINT64_MAX, false);
    rc = op(arg);
    if (rc != QL_OK)
        fail_msg("%s: %s", what, ql_errname(rc));
    return qlf_disarm();
}

/*
 * What a kill test runs, and how it judges what is left: op makes the file
 * at path, reset clears path and its working names, whole fails unless
 * what is at path is whole; fewer than min_points points means the count
 * itself is broken.
 */
struct killed {
    const char *name; /* for messages: "init" */
    ql_err (*op)(void *path);
    void (*reset)(const char *path);
    void (*whole)(const char *path, const char *what);
    uint64_t min_points;
};

/*
 * Runs k->op at path once to count its points, then once for each point
 * with the process ended there, and once past the last. After each, either
 * nothing is at path and running op again makes it whole, or it is there
 * whole and running op again is refused (QL_EEXIST) without changing a
 * byte of it. Never is it there half made, and nothing a stopped run left
 * stands in the way of the next.
 */
static void
kill_each(const struct killed *k, char *path)
{
    char what[80], *before, *after;
    size_t blen, alen;
    uint64_t points, n;

    k->reset(path);
    points = points_of(k->op, path, k->name);
    snprintf(what, sizeof what, "a whole %s", k->name);
    k->whole(path, what);
    assert_true(points >= k->min_points);
    for (n = 1; n <= points + 1; n++) {
        snprintf(what, sizeof what, "%s killed at point %llu of %llu", k->name,
                 (unsigned long long)n, (unsigned long long)points);
        k->reset(path);
        kill_at(n, points, k->op, path, what);
        if (exists(path)) {
            before = qlt_read_file(path, &blen);
            if (k->op(path) != QL_EEXIST)
                fail_msg("%s: a second %s was not refused", what, k->name);
            after = qlt_read_file(path, &alen);
            if (alen != blen || memcmp(after, before, blen) != 0)
                fail_msg("%s: the refused %s changed what was there", what,
                         k->name);
            free(before);
            free(after);
        } else if (k->op(path) != QL_OK) {
            fail_msg("%s: %s again failed", what, k->name);
        }
        k->whole(path, what);
    }
    k->reset(path);
}

/*
 * The store an init made at path is whole: it opens for writing with its
 * log key, holds the genesis entry alone, verifies from the administrator's
 * key, and no working name is left beside it.
 */
static void
init_whole(const char *path, const char *what)
{
    struct ql_audit_result res;
    struct ql_county *c = NULL;
    struct ql_diag d;
    char name[1024];
    uint64_t size = 0;

    if (ql_county_open(path, 0, &c, &d) != QL_OK)
        fail_msg("%s: the store does not open: %s", what, d.msg);
    ok(ql_log_size(ql_county_log(c), &size, &d), &d, what);
    if (size != 1)
        fail_msg("%s: log size %llu", what, (unsigned long long)size);
    if (ql_audit_verify(c, F.k[ADMIN], &res, &d) != QL_OK)
        fail_msg("%s: audit: %s", what, d.msg);
    if (ql_store_check(ql_county_store(c), &d) != QL_OK)
        fail_msg("%s: integrity: %s", what, d.msg);
    ql_county_close(c);
    snprintf(name, sizeof name, "%s.part", path);
    if (exists(name))
        fail_msg("%s: %s is left", what, name);
    snprintf(name, sizeof name, "%s.logkey.part", path);
    if (exists(name))
        fail_msg("%s: %s is left", what, name);
}

/* Makes a county at path (a path), as `qingling init` does. */
static ql_err
init_op(void *path)
{
    struct ql_diag d;

    return ql_county_create(path, "qinghe.test/leads", F.k[ADMIN], NULL, NOW,
                            &d);
}

/*
 * `qingling init` killed at each point where it writes, syncs, names or
 * removes a file (docs/decisions.md section 38): no store, and an init run
 * again makes it whole; or the whole store, and a second init is refused.
 */
static void
test_init_killed(void **state)
{
    static const struct killed k = {"init", init_op, remove_store, init_whole,
                                    11};
    char *path = qlt_join(F.dir, "init.db");

    (void)state;
    kill_each(&k, path);
    free(path);
}

/*
 * `qingling init` with an I/O error at each of its writes, syncs and
 * truncations in turn: it fails with QL_EIO and leaves nothing at any of
 * its names, or the error fell where nothing depends on it (a folder's
 * sync) and the store is whole; either way an init run again works. Among
 * the points are those of the checkpoint with which closing folds the
 * write-ahead log into the store: a store whose log stayed beside it is
 * refused its name ("cannot fold").
 */
static void
test_init_io_faults(void **state)
{
    static const char *const names[] = {"", ".logkey", ".part", ".part-wal",
                                        ".logkey.part"};
    char *path = qlt_join(F.dir, "iofault.db"), what[64], name[1024];
    uint64_t points, n, folds = 0;
    struct ql_diag d;
    size_t i;
    ql_err rc;

    (void)state;
    remove_store(path);
    qlf_arm(QLF_IO, UINT64_MAX, false);
    rc = init_op(path);
    points = qlf_disarm();
    assert_int_equal(rc, QL_OK);
    init_whole(path, "a whole init");
    assert_true(points > 10);
    for (n = 1; n <= points; n++) {
        snprintf(what, sizeof what, "I/O error at point %llu of %llu",
                 (unsigned long long)n, (unsigned long long)points);
        remove_store(path);
        qlf_arm(QLF_IO, n, false);
        rc = ql_county_create(path, "qinghe.test/leads", F.k[ADMIN], NULL, NOW,
                              &d);
        qlf_disarm();
        if (rc != QL_OK) {
            if (!right_class(QLF_IO, rc))
                fail_msg("%s: %s: %s", what, ql_errname(rc), d.msg);
            if (strstr(d.msg, "cannot fold the write-ahead log") != NULL)
                folds++;
            for (i = 0; i < sizeof names / sizeof names[0]; i++) {
                snprintf(name, sizeof name, "%s%s", path, names[i]);
                if (exists(name))
                    fail_msg("%s: %s is left", what, name);
            }
            if (init_op(path) != QL_OK)
                fail_msg("%s: init again failed", what);
        }
        init_whole(path, what);
    }
    assert_true(folds > 0);
    remove_store(path);
    free(path);
}

/*
 * A backup's copy at path is whole: SQLite finds it sound, it holds what
 * the store holds to the last row, no working file is left beside it, and
 * the store itself is unchanged.
 */
static void
copy_whole(const char *path, const char *what)
{
    char name[1024];

    check_unchanged(what);
    if (store_fingerprint(path, what) != F.fingerprint)
        fail_msg("%s: the copy differs from the store", what);
    snprintf(name, sizeof name, "%s.part", path);
    if (exists(name))
        fail_msg("%s: %s is left", what, name);
}

/* Backs the fixture's store (F.work) up to dest (a path). */
static ql_err
backup_op(void *dest)
{
    struct ql_county *c = NULL;
    struct ql_diag d;
    ql_err rc;

    if ((rc = ql_county_open(F.work, QL_COUNTY_READONLY, &c, &d)) != QL_OK)
        return rc;
    rc = ql_store_backup(ql_county_store(c), dest, &d);
    ql_county_close(c);
    return rc;
}

/*
 * `qingling backup` killed at each point where it writes, syncs, names or
 * removes a file: the store is unchanged, and the copy is either not there
 * (a backup run again makes it whole) or whole (a second backup is
 * refused, and clears the working name a stop between naming the copy and
 * removing it left).
 */
static void
test_backup_killed(void **state)
{
    static const struct killed k = {"backup", backup_op, remove_store,
                                    copy_whole, 4};
    char *dest = qlt_join(F.dir, "copy.db");

    (void)state;
    reset_work(OP_LOAD);
    kill_each(&k, dest);
    free(dest);
}

/* Writes the administrator's key to a new key file at path (a path). */
static ql_err
keyfile_op(void *path)
{
    struct ql_diag d;

    return ql_keyfile_write(path, F.k[ADMIN], NULL, 0, QL_KEYFILE_PLAINTEXT,
                            &d);
}

/*
 * The key file at path is whole: it reads back as the administrator's
 * key, and no working name is left beside it.
 */
static void
keyfile_whole(const char *path, const char *what)
{
    struct ql_key *k = NULL;
    struct ql_diag d;
    char *got = NULL, *want = NULL, name[1024];

    if (ql_keyfile_read(path, NULL, 0, &k, &d) != QL_OK)
        fail_msg("%s: %s", what, d.msg);
    ok(ql_key_vkey(k, 0, &got, &d), &d, what);
    ok(ql_key_vkey(F.k[ADMIN], 0, &want, &d), &d, what);
    if (strcmp(got, want) != 0)
        fail_msg("%s: the key file holds another key", what);
    free(got);
    free(want);
    ql_key_free(k);
    snprintf(name, sizeof name, "%s.part", path);
    if (exists(name))
        fail_msg("%s: %s is there", what, name);
}

/* Removes a key file and the working name an older writer used. */
static void
keyfile_reset(const char *path)
{
    char part[1024];

    snprintf(part, sizeof part, "%s.part", path);
    unlink(path);
    unlink(part);
}

/*
 * Writing a key file killed at each point where it writes, syncs, names or
 * removes a file: no key file, and writing it again makes it whole, or
 * the whole key file (a second write is refused). A key file is never
 * there half written.
 */
static void
test_keyfile_killed(void **state)
{
    static const struct killed k = {"key file", keyfile_op, keyfile_reset,
                                    keyfile_whole, 3};
    char *path = qlt_join(F.dir, "killed.key");

    (void)state;
    kill_each(&k, path);
    free(path);
}

/*
 * Where the folder cannot hold unnamed files (O_TMPFILE refused, as by an
 * old kernel), a key file is created at its name with O_EXCL and written
 * in place: it reads back whole with mode 0600, a second write is refused
 * and changes nothing, and a write that fails leaves nothing at the name.
 */
static void
test_keyfile_in_place(void **state)
{
    char *path = qlt_join(F.dir, "inplace.key"), *before, *after;
    size_t blen, alen;
    struct stat sb;
    ql_err rc;

    (void)state;
    keyfile_reset(path);
    no_tmpfile = true;
    tmpfile_refused = 0;
    assert_int_equal(keyfile_op(path), QL_OK);
    assert_true(tmpfile_refused > 0);
    keyfile_whole(path, "a key file written in place");
    assert_int_equal(lstat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    before = qlt_read_file(path, &blen);
    assert_int_equal(keyfile_op(path), QL_EEXIST);
    after = qlt_read_file(path, &alen);
    assert_true(alen == blen && memcmp(after, before, blen) == 0);
    free(before);
    free(after);
    keyfile_reset(path);
    qlf_arm(QLF_IO, 1, false);
    rc = keyfile_op(path);
    qlf_disarm();
    no_tmpfile = false;
    assert_int_equal(rc, QL_EIO);
    assert_false(exists(path));
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_add_epoch),
        cmocka_unit_test(test_move),
        cmocka_unit_test(test_propose),
        cmocka_unit_test(test_approve),
        cmocka_unit_test(test_guard),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_import_csv),
        cmocka_unit_test(test_import_json),
        cmocka_unit_test(test_import_json_parser),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_verify_jobs),
        cmocka_unit_test(test_verify_tiles),
        cmocka_unit_test(test_full_disk_add),
        cmocka_unit_test(test_full_disk_move),
        cmocka_unit_test(test_full_disk_approve),
        cmocka_unit_test(test_full_disk_import),
        cmocka_unit_test(test_full_disk_export),
        cmocka_unit_test(test_init_killed),
        cmocka_unit_test(test_init_io_faults),
        cmocka_unit_test(test_backup_killed),
        cmocka_unit_test(test_keyfile_killed),
        cmocka_unit_test(test_keyfile_in_place),
    };
    struct ql_diag d;

    /*
     * A hang is a failure too: SIGALRM ends the program well after the
     * slowest build should be done (QL_FAULT_SAMPLES runs longer).
     */
    alarm(getenv("QL_FAULT_SAMPLES") == NULL ? (SANITIZED ? 1800 : 600) : 0);
    /* Before anything opens a database. */
    qlf_install();
    qlf_real_syncs(false);
    if (ql_crypto_init(&d) != QL_OK)
        return 1;
    if (getenv("QL_FAULT_FILTER") != NULL)
        cmocka_set_test_filter(getenv("QL_FAULT_FILTER"));
    if (getenv("QL_FAULT_SKIP") != NULL)
        cmocka_set_skip_filter(getenv("QL_FAULT_SKIP"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
