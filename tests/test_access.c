/*
 * Who may read and do what, end to end through the real binary.
 *
 * One county is built once by the binary: the supervision office (SH), two
 * handling units (LT, QY) and an audit unit (JW), a principal of every
 * role the default workflow and the engine know, and leads of each unit in
 * the states the commands need. Then every command that reads or changes
 * anything runs as every role, on a lead or unit of the role's own and of
 * another unit. An allowed cell must exit 0 and have its effect; a refused
 * one must exit with the class DESIGN.md section 9 gives, print one line
 * naming the refusal, and leave the store exactly as it was (log size,
 * latest checkpoint, file bytes). Whatever a run prints, it never holds the
 * sealed content of a unit the role may not read, nor a reporter's
 * identity unless the role opens the secret envelope.
 *
 * The matrix is printed as a table: one row per command, one column per
 * role, each cell "own/other" with A (allowed), r (refused) or - (there is
 * no such target: supervision units hold no lead past triage and have no
 * commitments; the administrator, the auditor and keys outside the county
 * have no unit of leads).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_store.h"
#include "ql_test.h"

#define NOW_ENV "QINGLING_NOW=2025-09-15T02:00:00Z"

/* The roles of the matrix, then principals that only build the county. */
enum role {
    ADMIN, /* the administrator whose key the genesis entry names */
    ADM2,  /* SH, role admin: a second administrator, reads nothing */
    REG,   /* SH registrar: registers leads, reads secret fields */
    TRI,   /* SH triage officer */
    DRC,   /* SH director: approves, reads secret fields */
    INSP,  /* SH inspector: spot-checks, samples, verifies */
    LLY,   /* LT liaison */
    HC,    /* LT verifier */
    HEAD,  /* LT unit head */
    AUD,   /* JW auditor */
    REV,   /* LT verifier, revoked */
    OUT,   /* a key the county never registered */
    FAKE,  /* another key bearing LT verifier's name */
    NOKEY, /* no key at all */
    NROLES,
    QLLY = NROLES,
    QHC,
    QHEAD,
    NPEOPLE
};

static const struct {
    const char *tag, *name, *unit, *roles;
} P[NPEOPLE] = {
    {"ADMIN", "admin", NULL, NULL},
    {"ADM2", "sh-it", "SH", "admin"},
    {"REG", "sh-dengji", "SH", "registrar"},
    {"TRI", "sh-yanpan", "SH", "triage"},
    {"DIR", "sh-zhuren", "SH", "director"},
    {"INSP", "sh-pingcha", "SH", "inspector"},
    {"LLY", "lt-lly", "LT", "liaison"},
    {"HC", "lt-hc", "LT", "verifier"},
    {"HEAD", "lt-fzr", "LT", "head"},
    {"AUD", "jw-sj", "JW", "auditor"},
    {"REV", "lt-hc-old", "LT", "verifier"},
    {"OUT", "outsider", NULL, NULL},
    {"FAKE", "lt-hc", NULL, NULL},
    {"NOKEY", NULL, NULL, NULL},
    {"QLLY", "qy-lly", "QY", "liaison"},
    {"QHC", "qy-hc", "QY", "verifier"},
    {"QHEAD", "qy-fzr", "QY", "head"},
};

enum unit { U_SH, U_LT, U_QY, NUNITS };
static const char *const UNIT[NUNITS] = {"SH", "LT", "QY"};

/* The fixture leads: one of each kind per unit where it can exist. */
enum kind {
    K_REGD,  /* REGISTERED */
    K_TRIA,  /* UNDER_TRIAGE */
    K_ASGN,  /* ASSIGNED */
    K_VERI,  /* VERIFYING */
    K_PHEAD, /* VERIFYING, a progress report waiting for the head */
    K_PDIR,  /* a proposal waiting for the director */
    K_CLOS,  /* CLOSED */
    NKINDS,
    K_UNIT = NKINDS, /* the row targets a unit, not a lead */
    K_NONE           /* the row targets neither */
};
static const char *const KIND[NKINDS] = {"REGD",  "TRIA", "ASGN", "VERI",
                                         "PHEAD", "PDIR", "CLOS"};

/* The county built once, its leads, and the test's copy. */
static char *TEMPLATE;
static char LEAD[NKINDS][NUNITS][32];
static char V2[65]; /* the second registered version of gang_lead */
/* Cells run two at a time, each in a folder of its own. */
#define SLOTS 2
static char *WORK[SLOTS];
static struct snap {
    uint64_t size, hash;
    char *checkpoint;
} BASE; /* the template's store, as every cell starts from it */
static unsigned SEQ;

/* ---- running the binary ---- */

static char *
key_path(const char *dir, enum role w)
{
    char name[64];

    snprintf(name, sizeof name, "%s.key", P[w].tag);
    return qlt_join(dir, name);
}

/* Appends what fd gives to *buf (*len bytes so far); false at its end. */
static bool
drain_some(int fd, char **buf, size_t *len)
{
    char chunk[8192];
    ssize_t n = read(fd, chunk, sizeof chunk);
    char *grown;

    if (n <= 0)
        return false;
    if ((grown = realloc(*buf, *len + (size_t)n + 1)) == NULL)
        fail_msg("out of memory");
    memcpy(grown + *len, chunk, (size_t)n);
    *len += (size_t)n;
    grown[*len] = '\0';
    *buf = grown;
    return true;
}

/* One run of the binary under way. */
struct job {
    pid_t pid;
    int fo, fe; /* its stdout and stderr; -1 once drained */
    struct qlt_run run;
};

/*
 * Starts the binary as qlt_exec does (a clean environment, stdin from
 * /dev/null), but through pipes and posix_spawn: the matrix runs it about
 * a thousand times, two at a time, and temporary files and a fork of this
 * (possibly sanitized, large) process per run would take most of its time.
 */
static void
job_start(struct job *j, const char *const *argv, const char *const *env)
{
    static const char *const keep[] = {"PATH", "HOME", "TMPDIR", "LANG",
                                       "LC_ALL"};
    const char *bin = getenv("QINGLING_BIN");
    posix_spawn_file_actions_t fa;
    char *envp[32];
    const char *args[64];
    size_t ne = 0, na = 0, i, nkept;
    int po[2], pe[2];

    if (bin == NULL || *bin == '\0')
        bin = "build/qingling";
    memset(j, 0, sizeof *j);
    j->run.out = calloc(1, 1);
    j->run.err = calloc(1, 1);
    for (i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const char *v = getenv(keep[i]);

        if (v != NULL) {
            size_t n = strlen(keep[i]) + strlen(v) + 2;

            envp[ne] = malloc(n);
            snprintf(envp[ne++], n, "%s=%s", keep[i], v);
        }
    }
    nkept = ne;
    for (i = 0; env != NULL && env[i] != NULL && ne < 30; i++)
        envp[ne++] = (char *)env[i];
    envp[ne] = NULL;
    args[na++] = bin;
    for (i = 0; argv[i] != NULL && na < 62; i++)
        args[na++] = argv[i];
    args[na] = NULL;
    if (pipe(po) != 0 || pipe(pe) != 0)
        fail_msg("pipe failed");
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addclose(&fa, po[0]);
    posix_spawn_file_actions_addclose(&fa, pe[0]);
    posix_spawn_file_actions_addclose(&fa, po[1]);
    posix_spawn_file_actions_addclose(&fa, pe[1]);
    if (posix_spawn(&j->pid, bin, &fa, NULL, (char *const *)args, envp) != 0)
        fail_msg("cannot run %s", bin);
    posix_spawn_file_actions_destroy(&fa);
    for (i = 0; i < nkept; i++)
        free(envp[i]);
    close(po[1]);
    close(pe[1]);
    /* The read ends must not leak into the next job's child. */
    fcntl(po[0], F_SETFD, FD_CLOEXEC);
    fcntl(pe[0], F_SETFD, FD_CLOEXEC);
    j->fo = po[0];
    j->fe = pe[0];
}

/* Reads every job's output to its end and waits for them all. */
static void
jobs_finish(struct job *jobs, size_t n)
{
    struct pollfd fds[8];
    size_t i, open_n;
    int status;

    assert_true(n <= 4);
    for (;;) {
        open_n = 0;
        for (i = 0; i < n; i++) {
            fds[2 * i].fd = jobs[i].fo;
            fds[2 * i + 1].fd = jobs[i].fe;
            fds[2 * i].events = fds[2 * i + 1].events = POLLIN;
            fds[2 * i].revents = fds[2 * i + 1].revents = 0;
            open_n += (jobs[i].fo >= 0) + (jobs[i].fe >= 0);
        }
        if (open_n == 0)
            break;
        if (poll(fds, 2 * n, -1) < 0)
            continue;
        for (i = 0; i < n; i++) {
            struct job *j = &jobs[i];

            if (j->fo >= 0 && (fds[2 * i].revents & (POLLIN | POLLHUP)) &&
                !drain_some(j->fo, &j->run.out, &j->run.out_len)) {
                close(j->fo);
                j->fo = -1;
            }
            if (j->fe >= 0 && (fds[2 * i + 1].revents & (POLLIN | POLLHUP)) &&
                !drain_some(j->fe, &j->run.err, &j->run.err_len)) {
                close(j->fe);
                j->fe = -1;
            }
        }
    }
    for (i = 0; i < n; i++) {
        waitpid(jobs[i].pid, &status, 0);
        jobs[i].run.status =
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
}

/*
 * Starts qingling on dir's store as w (NOKEY: without --key) with args,
 * NULL-terminated.
 */
static void
start_in(struct job *j, const char *dir, enum role w, const char *const *args)
{
    const char *argv[48], *envp[4];
    char *db = qlt_join(dir, "county.db"), *key = NULL;
    size_t n = 0, i;

    argv[n++] = "--db";
    argv[n++] = db;
    if (w != NOKEY) {
        key = key_path(dir, w);
        argv[n++] = "--key";
        argv[n++] = key;
    }
    for (i = 0; args[i] != NULL && n < 47; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    envp[0] = NOW_ENV;
    envp[1] = NULL;
    job_start(j, argv, envp);
    free(db);
    free(key);
}

/* Runs qingling on dir's store as w with args, and waits for it. */
static void
run_in(struct qlt_run *r, const char *dir, enum role w, const char *const *args)
{
    struct job j;

    start_in(&j, dir, w, args);
    jobs_finish(&j, 1);
    *r = j.run;
}

/* A setup step that must succeed; returns its stdout (caller frees). */
static char *
step_out(const char *dir, enum role w, const char *const *args)
{
    struct qlt_run r;
    char *out;

    run_in(&r, dir, w, args);
    if (r.status != 0) {
        size_t i;

        fprintf(stderr, "step as %s:", P[w].tag);
        for (i = 0; args[i] != NULL; i++)
            fprintf(stderr, " %s", args[i]);
        fail_msg("\nexit %d, stderr: %s", r.status, r.err);
    }
    out = r.out;
    r.out = NULL;
    qlt_run_free(&r);
    return out;
}

#define STEP(w, ...)                                                           \
    do {                                                                       \
        const char *const a_[] = {__VA_ARGS__, NULL};                          \
        free(step_out(TEMPLATE, (w), a_));                                     \
    } while (0)

/* ---- building the county ---- */

/*
 * Registers a lead in unit u as w, with a sealed marker in the summary
 * and, when by the registrar, a secret one in the reporter's identity.
 * Markers name the unit whose key seals them, so that a leak is told by
 * its name: MKS-<unit>- for sealed fields and notes, MKX-<unit>- for the
 * secret envelope.
 */
static void
add_lead(enum role w, enum unit u, enum kind k, const char *named)
{
    char summary[96], reporter[96], unit[8], named_f[64];
    char *out;

    snprintf(summary, sizeof summary, "summary=MKS-%s-%s 强迫交易", UNIT[u],
             KIND[k]);
    snprintf(reporter, sizeof reporter, "reporter=MKX-%s-%s 举报人", UNIT[u],
             KIND[k]);
    snprintf(unit, sizeof unit, "%s", UNIT[u]);
    snprintf(named_f, sizeof named_f, "named=%s", named);
    {
        const char *const a[] = {"lead",
                                 "add",
                                 "--unit",
                                 unit,
                                 "--field",
                                 "source=群众举报",
                                 "--field",
                                 "received_at=2025-09-15",
                                 "--field",
                                 "channel=来信",
                                 "--field",
                                 named_f,
                                 "--field",
                                 "subjects=某甲",
                                 "--field",
                                 "locality=某村",
                                 "--field",
                                 "industry=其他",
                                 "--field",
                                 summary,
                                 w == REG ? "--field" : NULL,
                                 reporter,
                                 NULL};

        out = step_out(TEMPLATE, w, a);
    }
    assert_true(strlen(out) > 1 && strlen(out) < sizeof LEAD[k][u]);
    out[strlen(out) - 1] = '\0';
    snprintf(LEAD[k][u], sizeof LEAD[k][u], "%s", out);
    free(out);
}

/* The handling unit's liaison, verifier and head. */
static enum role
liaison(enum unit u)
{
    return u == U_LT ? LLY : QLLY;
}

static enum role
verifier(enum unit u)
{
    return u == U_LT ? HC : QHC;
}

static enum role
head(enum unit u)
{
    return u == U_LT ? HEAD : QHEAD;
}

/* Takes lead (k, u) from REGISTERED as far as kind k asks. */
static void
build_lead(enum kind k, enum unit u)
{
    const char *id = LEAD[k][u];
    char note[64], hu[32];

    snprintf(note, sizeof note, "MKS-%s-%s 领取", UNIT[u], KIND[k]);
    /* Leads of the office are assigned to LT. */
    snprintf(hu, sizeof hu, "handling_unit=%s", u == U_SH ? "LT" : UNIT[u]);
    if (k == K_REGD)
        return;
    STEP(TRI, "lead", "move", id, "triage", "--note", note);
    if (k == K_TRIA)
        return;
    STEP(TRI, "lead", "move", id, "assign", "--field", hu, "--field",
         "due_at=2025-10-15", "--field", "priority=一般", "--field",
         "assign_no=青扫交〔2025〕1号", "--field", "offence_types=强迫交易",
         "--field", "umbrella_flag=否");
    if (u == U_SH)
        return; /* K_PDIR of the office: the assignment waits */
    STEP(DRC, "lead", "approve", id);
    if (k == K_ASGN)
        return;
    STEP(liaison(u), "lead", "move", id, "sign", "--field",
         "verifiers=核查人甲\n核查人乙");
    if (k == K_VERI)
        return;
    if (k == K_PHEAD) {
        snprintf(note, sizeof note, "progress_note=MKS-%s-%s 进展", UNIT[u],
                 KIND[k]);
        STEP(verifier(u), "lead", "move", id, "progress", "--field",
             "progress_kind=首次回告", "--field", note);
        return;
    }
    if (k == K_PDIR) {
        STEP(liaison(u), "lead", "move", id, "extend", "--field",
             "extension_reason=MKS-延期", "--field", "extended_due=2025-10-30");
        return;
    }
    snprintf(note, sizeof note, "findings_detail=MKS-%s-%s 核查情况", UNIT[u],
             KIND[k]);
    STEP(verifier(u), "lead", "move", id, "report", "--field", "finding=查否",
         "--field", note, "--field", "umbrella_flag=否", "--field", "assets=无",
         "--field", "results=不予处理");
    STEP(head(u), "lead", "approve", id);
    STEP(DRC, "lead", "move", id, "approve_close", "--field",
         "review_opinion=同意");
}

/* Writes a file into the template folder. */
static void
put(const char *name, const char *text)
{
    char *p = qlt_join(TEMPLATE, name);

    qlt_write_file(p, text, strlen(text));
    free(p);
}

static void snap(const char *dir, struct snap *s);
static void snap_free(struct snap *s);

static int
group_setup(void **state)
{
    static const char *const units[][3] = {
        {"SH", "青禾县扫黑办", "supervision"},
        {"LT", "青禾县鹭汀镇人民政府", "township"},
        {"QY", "青禾县栖云乡人民政府", "township"},
        {"JW", "青禾县纪委监委", "audit"},
    };
    struct ql_diag d;
    char *wf, *src, *wf2, *cal, *out;
    size_t i, len;
    int k, u;

    (void)state;
    if (ql_crypto_init(&d) != QL_OK)
        return -1;
    TEMPLATE = qlt_tempdir();
    for (i = 0; i < NPEOPLE; i++) {
        char *kp;

        if (i == NOKEY)
            continue;
        kp = key_path(TEMPLATE, (enum role)i);
        {
            const char *const a[] = {
                "key", "new", kp, "--name", P[i].name, "--no-passphrase", NULL};

            free(step_out(TEMPLATE, NOKEY, a));
        }
        free(kp);
    }
    {
        char *kp = key_path(TEMPLATE, ADMIN);
        const char *const a[] = {"init",        "--origin", "qinghe.test/leads",
                                 "--admin-key", kp,         NULL};

        free(step_out(TEMPLATE, NOKEY, a));
        free(kp);
    }
    for (i = 0; i < sizeof units / sizeof units[0]; i++)
        STEP(ADMIN, "unit", "add", units[i][0], "--name", units[i][1], "--kind",
             units[i][2]);
    for (i = 0; i < NPEOPLE; i++) {
        char *kp, *pub;

        if (P[i].unit == NULL)
            continue;
        kp = key_path(TEMPLATE, (enum role)i);
        pub = malloc(strlen(kp) + 5);
        snprintf(pub, strlen(kp) + 5, "%s.pub", kp);
        STEP(ADMIN, "principal", "add", pub, "--unit", P[i].unit, "--role",
             P[i].roles);
        free(pub);
        free(kp);
    }
    wf = qlt_data_path("../../workflows/gang_lead.lua");
    cal = qlt_data_path("../../workflows/calendars/cn.cal");
    STEP(ADMIN, "workflow", "add", wf);
    STEP(ADMIN, "calendar", "set", cal);
    src = qlt_read_file(cal, NULL);
    put("cn.cal", src);
    free(src);
    /* Leads: the office's own first, then each handling unit's. */
    for (k = 0; k < NKINDS; k++) {
        for (u = 0; u < NUNITS; u++) {
            if (u == U_SH && k != K_REGD && k != K_TRIA && k != K_PDIR)
                continue;
            /* A liaison registers its own unit's first lead (摸排). */
            if (k == K_REGD && u != U_SH)
                add_lead(liaison((enum unit)u), (enum unit)u, (enum kind)k,
                         "匿名");
            else
                add_lead(REG, (enum unit)u, (enum kind)k, "匿名");
            build_lead((enum kind)k, (enum unit)u);
        }
    }
    /* Commitments whose scope ends before these leads: each cycle waits
       at one step (C1 sampled, C2 declared, C3 signed; C4 is new). */
    for (u = U_LT; u <= U_QY; u++) {
        const char *cyc[] = {"C1", "C2", "C3"};

        for (i = 0; i < 3; i++)
            STEP(head((enum unit)u), "commit", "sign", "--unit", UNIT[u],
                 "--cycle", cyc[i], "--cutoff", "2025-09-01", "--deadline",
                 "2025-09-30");
        for (i = 0; i < 2; i++)
            STEP(head((enum unit)u), "commit", "declare", "--unit", UNIT[u],
                 "--cycle", cyc[i]);
        STEP(INSP, "commit", "sample", "--unit", UNIT[u], "--cycle", "C1");
    }
    /* A second version of the workflow, for migrations, and a third one
       that is not registered, for `workflow add`. */
    src = qlt_read_file(wf, &len);
    wf2 = malloc(len + 64);
    snprintf(wf2, len + 64, "-- version 2\n%s", src);
    put("gang_lead_v2.lua", wf2);
    snprintf(wf2, len + 64, "-- version 3\n%s", src);
    put("gang_lead_v3.lua", wf2);
    {
        char *p = qlt_join(TEMPLATE, "gang_lead_v2.lua");
        const char *const a[] = {"workflow", "add", p, NULL};
        const char *h;

        out = step_out(TEMPLATE, ADMIN, a);
        h = strstr(out, "version ");
        assert_non_null(h);
        snprintf(V2, sizeof V2, "%.64s", h + 8);
        free(out);
        free(p);
    }
    free(wf2);
    free(src);
    free(wf);
    free(cal);
    /* Files the commands read. */
    put("leads.csv",
        "source,received_at,channel,named,subjects,locality,industry,"
        "summary\n"
        "群众举报,2025-09-15,来信,匿名,某乙,某镇,其他,MKS-IMPORT 导入线索\n");
    {
        const char *const a[] = {"audit", "prove", "inclusion", "3", NULL};

        out = step_out(TEMPLATE, NOKEY, a);
        put("proof.txt", out);
        free(out);
    }
    {
        char *kp = qlt_join(TEMPLATE, "newcomer.key");
        const char *const a[] = {"key", "new", kp, "--no-passphrase", NULL};

        free(step_out(TEMPLATE, NOKEY, a));
        free(kp);
    }
    /* The last step: a verifier of LT who held its key is revoked. */
    STEP(ADMIN, "principal", "revoke", P[REV].name);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    qlt_rmtree(TEMPLATE);
    return 0;
}

/* Copies every file of folder from into folder to (flat). */
static void
copy_folder(const char *from, const char *to)
{
    struct dirent *de;
    DIR *dp = opendir(from);

    assert_non_null(dp);
    while ((de = readdir(dp)) != NULL) {
        char *a, *b, *buf;
        size_t len;
        struct stat st;

        if (de->d_name[0] == '.')
            continue;
        a = qlt_join(from, de->d_name);
        b = qlt_join(to, de->d_name);
        if (stat(a, &st) == 0 && S_ISREG(st.st_mode)) {
            buf = qlt_read_file(a, &len);
            qlt_write_file(b, buf, len);
            free(buf);
        }
        free(a);
        free(b);
    }
    closedir(dp);
}

/* Puts the template's store back into dir, removing any -wal or -shm. */
static void
reset_store(const char *dir)
{
    static const char *const files[] = {"county.db", "county.db-wal",
                                        "county.db-shm"};
    size_t i;

    for (i = 0; i < 3; i++) {
        char *a = qlt_join(TEMPLATE, files[i]), *b = qlt_join(dir, files[i]);
        char *buf;
        size_t len;

        unlink(b);
        if (access(a, F_OK) == 0) {
            buf = qlt_read_file(a, &len);
            qlt_write_file(b, buf, len);
            free(buf);
        }
        free(a);
        free(b);
    }
}

static int
setup(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < SLOTS; i++) {
        WORK[i] = qlt_tempdir();
        copy_folder(TEMPLATE, WORK[i]);
    }
    snap(WORK[0], &BASE);
    return 0;
}

static int
teardown(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < SLOTS; i++) {
        qlt_rmtree(WORK[i]);
        WORK[i] = NULL;
    }
    snap_free(&BASE);
    return 0;
}

/* ---- evidence from the store ---- */

static uint64_t
hash_if(const char *dir, const char *name)
{
    char *p = qlt_join(dir, name);
    struct stat st;
    uint64_t h = 0;

    if (stat(p, &st) == 0 && st.st_size > 0)
        h = qlt_file_hash(p);
    free(p);
    return h;
}

/*
 * The store's evidence: its bytes (the file and its write-ahead log), the
 * log's size and the latest checkpoint. Bytes equal to the base's mean
 * the rest is equal too, which spares opening the store on most cells.
 */
static void
snap(const char *dir, struct snap *s)
{
    struct ql_county *c = NULL;
    struct ql_diag d;
    char *db;
    uint64_t got = 0;

    s->hash = hash_if(dir, "county.db") * 31 + hash_if(dir, "county.db-wal");
    if (BASE.checkpoint != NULL && s->hash == BASE.hash) {
        s->size = BASE.size;
        s->checkpoint = strdup(BASE.checkpoint);
        return;
    }
    db = qlt_join(dir, "county.db");
    if (ql_county_open(db, QL_COUNTY_READONLY, &c, &d) != QL_OK)
        fail_msg("cannot open %s: %s", db, d.msg);
    assert_int_equal(ql_log_size(ql_county_log(c), &s->size, &d), QL_OK);
    assert_int_equal(ql_store_checkpoint_get(ql_county_store(c), UINT64_MAX,
                                             &got, &s->checkpoint, &d),
                     QL_OK);
    assert_int_equal(got, s->size);
    ql_county_close(c);
    free(db);
}

static void
snap_free(struct snap *s)
{
    free(s->checkpoint);
    s->checkpoint = NULL;
}

static bool
snap_same(const struct snap *a, const struct snap *b)
{
    return a->size == b->size && a->hash == b->hash &&
           strcmp(a->checkpoint, b->checkpoint) == 0;
}

/* The state of lead id and its waiting proposal ("" when none). */
static void
lead_state(const char *dir, const char *id, char *state, size_t ssize,
           char *pending, size_t psize)
{
    struct ql_county *c = NULL;
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char *db = qlt_join(dir, "county.db");

    assert_int_equal(ql_county_open(db, QL_COUNTY_READONLY, &c, &d), QL_OK);
    if (ql_lead_load(c, id, &l, &d) != QL_OK)
        fail_msg("cannot load %s: %s", id, d.msg);
    snprintf(state, ssize, "%s", ql_lead_state(l));
    snprintf(pending, psize, "%s",
             ql_lead_pending(l) ? ql_lead_pending(l) : "");
    ql_lead_free(l);
    ql_county_close(c);
    free(db);
}

/* ---- the matrix ---- */

/* What an allowed run does to the store. */
enum effect {
    E_READ,  /* nothing: the store stays exactly as it was */
    E_LOG,   /* appends entries */
    E_COSIG, /* adds a cosignature beside the log */
};

#define M(r) (1u << (r))
#define SH_ROLES (M(REG) | M(TRI) | M(DRC) | M(INSP))
#define LT_ROLES (M(LLY) | M(HC) | M(HEAD) | M(REV))
#define KEYED (((1u << NROLES) - 1) & ~M(NOKEY))
#define EVERYONE ((1u << NROLES) - 1)

/* Refusals shared by rows. */
#define W_LEAD "administrator does not handle leads"
#define W_MOVE "has no role that may take", "cannot read lead", W_LEAD
#define W_ADMIN "only the administrator may"

struct row {
    const char *name;
    enum kind target; /* K_UNIT: a handling unit or, for the office, SH */
    bool handling;    /* the target must be a handling unit (not SH) */
    const char *args[24];
    unsigned own, other; /* the roles allowed on their own / another unit */
    enum effect effect;
    const char *out;    /* a fragment of stdout when allowed, or NULL */
    const char *state;  /* the lead's state (and " pending T") after */
    const char *why[4]; /* a refusal names one of these */
    int refused;        /* its exit code when not 3 */
};

/*
 * Placeholders: {ID} the row's lead in the column's unit, {INTO} the
 * registered lead of that unit, {U} the unit, {HU} the unit or, for the
 * office, LT (a handling unit), {F:name} a file of the test folder,
 * {NEW} a path no file has, {KEY} the role's key, {V2} the second
 * workflow version.
 */
/* One row per command: clang-format would spread it over a line per word. */
/* clang-format off */
static const struct row ROWS[] = {
    /* ---- leads ---- */
    {"lead add", K_UNIT, false,
     {"lead", "add", "--unit", "{U}", "--field", "source=群众举报", "--field",
      "received_at=2025-09-15", "--field", "channel=来信", "--field",
      "named=匿名", "--field", "subjects=某丙", "--field", "locality=某地",
      "--field", "industry=其他", "--field", "summary=MKS-{U}-NEW"},
     M(REG) | M(LLY), M(REG), E_LOG, "QH-SH-2025-", NULL,
     {"has no role that may register leads", "may not act on unit", W_LEAD},
     0},
    {"lead import", K_UNIT, false,
     {"lead", "import", "{F:leads.csv}", "--unit", "{U}"}, M(REG) | M(LLY),
     M(REG), E_LOG, "imported", NULL,
     {"has no role that may register leads", "may not register leads in unit",
      "belongs to no registered principal"},
     0},
    {"lead import --dry-run", K_UNIT, false,
     {"lead", "import", "{F:leads.csv}", "--unit", "{U}", "--dry-run"},
     M(REG) | M(LLY), M(REG), E_READ, "dry run", NULL,
     {"has no role that may register leads", "may not register leads in unit",
      "belongs to no registered principal"},
     0},
    {"lead list", K_UNIT, false, {"lead", "list", "--unit", "{U}"}, EVERYONE,
     EVERYONE, E_READ, "QH-SH-2025-", NULL, {NULL}, 0},
    {"lead list --json", K_UNIT, false,
     {"lead", "list", "--unit", "{U}", "--json"}, EVERYONE, EVERYONE, E_READ,
     "\"unit\":\"{U}\"", NULL, {NULL}, 0},
    {"lead show", K_VERI, false, {"lead", "show", "{ID}"}, EVERYONE, EVERYONE,
     E_READ, "VERIFYING", NULL, {NULL}, 0},
    {"lead show --json", K_VERI, false, {"lead", "show", "{ID}", "--json"},
     EVERYONE, EVERYONE, E_READ, "VERIFYING", NULL, {NULL}, 0},
    {"lead history", K_VERI, false, {"lead", "history", "{ID}"}, EVERYONE,
     EVERYONE, E_READ, "sign", NULL, {NULL}, 0},
    {"lead history --json", K_VERI, false,
     {"lead", "history", "{ID}", "--json"}, EVERYONE, EVERYONE, E_READ,
     "sign", NULL, {NULL}, 0},
    {"lead pending", K_NONE, false, {"lead", "pending"}, EVERYONE, 0, E_READ,
     "progress", NULL, {NULL}, 0},
    {"lead move triage", K_REGD, false,
     {"lead", "move", "{ID}", "triage", "--note", "MKS-{U}-note"}, M(TRI),
     M(TRI), E_LOG, "-> UNDER_TRIAGE", "UNDER_TRIAGE", {W_MOVE}, 0},
    {"lead move sign", K_ASGN, false,
     {"lead", "move", "{ID}", "sign", "--field", "verifiers=甲\n乙"}, M(LLY),
     0, E_LOG, "-> VERIFYING", "VERIFYING", {W_MOVE}, 0},
    {"lead move contact", K_VERI, false,
     {"lead", "move", "{ID}", "contact", "--field", "contact_log=MKS-{U}-c"},
     M(HC), 0, E_LOG, "-> VERIFYING", "VERIFYING", {W_MOVE}, 0},
    {"lead move progress", K_VERI, false,
     {"lead", "move", "{ID}", "progress", "--field", "progress_kind=进展回告",
      "--field", "progress_note=MKS-{U}-p"},
     M(HC), 0, E_LOG, "proposed", "VERIFYING pending progress", {W_MOVE}, 0},
    {"lead move extend", K_VERI, false,
     {"lead", "move", "{ID}", "extend", "--field",
      "extension_reason=MKS-{U}-e", "--field", "extended_due=2025-10-30"},
     M(LLY), 0, E_LOG, "proposed", "VERIFYING pending extend", {W_MOVE}, 0},
    {"lead move urge", K_VERI, false,
     {"lead", "move", "{ID}", "urge", "--field", "urge_no=催〔2025〕1号"},
     M(DRC), M(DRC), E_LOG, "-> VERIFYING", "VERIFYING", {W_MOVE}, 0},
    {"lead move spot_pass", K_CLOS, false,
     {"lead", "move", "{ID}", "spot_pass", "--field", "spot_opinion_no=评1"},
     M(INSP), M(INSP), E_LOG, "-> CLOSED", "CLOSED", {W_MOVE}, 0},
    {"lead assign", K_TRIA, false,
     {"lead", "assign", "{ID}", "{HU}", "--due", "2025-10-15", "--field",
      "priority=一般", "--field", "assign_no=交2", "--field",
      "offence_types=强迫交易", "--field", "umbrella_flag=否"},
     M(TRI), M(TRI), E_LOG, "proposed", "UNDER_TRIAGE pending assign",
     {W_MOVE}, 0},
    {"lead merge", K_TRIA, false, {"lead", "merge", "{ID}", "{INTO}"}, M(TRI),
     M(TRI), E_LOG, "proposed", "UNDER_TRIAGE pending merge", {W_MOVE}, 0},
    {"lead approve (head)", K_PHEAD, false, {"lead", "approve", "{ID}"},
     M(HEAD), 0, E_LOG, "approved", "VERIFYING",
     {"approving 'progress' needs role 'head'", "holds no key to unit",
      W_LEAD},
     0},
    {"lead approve (director)", K_PDIR, false, {"lead", "approve", "{ID}"},
     M(DRC), M(DRC), E_LOG, "approved", NULL,
     {"needs role 'director'", "holds no key to unit", W_LEAD}, 0},
    {"lead reject", K_PHEAD, false,
     {"lead", "reject", "{ID}", "--note", "MKS-{U}-r"}, M(HC) | M(HEAD), 0,
     E_LOG, "rejected", "VERIFYING",
     {"only the proposer or an approver may decline", "may not act on unit",
      W_LEAD},
     0},
    {"lead spotcheck", K_CLOS, false,
     {"lead", "spotcheck", "{ID}", "pass", "--field", "spot_opinion_no=评2"},
     M(INSP), M(INSP), E_LOG, "spot_pass", "CLOSED", {W_MOVE}, 0},
    /* ---- commitments (handling units only) ---- */
    {"commit sign", K_UNIT, true,
     {"commit", "sign", "--unit", "{U}", "--cycle", "C4", "--cutoff",
      "2025-09-01", "--deadline", "2025-09-30"},
     M(HEAD), 0, E_LOG, "signed its commitment", NULL,
     {"sign its commitment needs role 'head'", "head may sign"}, 0},
    {"commit declare", K_UNIT, true,
     {"commit", "declare", "--unit", "{U}", "--cycle", "C3"}, M(HEAD), 0,
     E_LOG, "declared cleared", NULL,
     {"declare it cleared needs role 'head'", "head may declare"}, 0},
    {"commit sample", K_UNIT, true,
     {"commit", "sample", "--unit", "{U}", "--cycle", "C2"}, 0, M(INSP),
     E_LOG, "sample drawn", NULL,
     {"needs role 'inspector' in a supervision unit"}, 0},
    {"commit verify", K_UNIT, true,
     {"commit", "verify", "--unit", "{U}", "--cycle", "C1"}, 0, M(INSP),
     E_LOG, "verified", NULL, {"needs role 'inspector' in a supervision unit"},
     0},
    {"commit spotcheck", K_CLOS, false,
     {"commit", "spotcheck", "{ID}", "pass", "--field",
      "spot_opinion_no=评3"},
     M(INSP), M(INSP), E_LOG, "spot_pass", "CLOSED", {W_MOVE}, 0},
    {"commit show", K_UNIT, true, {"commit", "show", "--unit", "{U}"},
     EVERYONE, EVERYONE, E_READ, "C1", NULL, {NULL}, 0},
    /* ---- status and reports ---- */
    {"status", K_NONE, false, {"status"}, EVERYONE, 0, E_READ, "LT", NULL,
     {NULL}, 0},
    {"status --why", K_UNIT, true, {"status", "--why", "{U}"}, EVERYONE,
     EVERYONE, E_READ, "unit {U}", NULL, {NULL}, 0},
    {"report --json", K_NONE, false, {"report", "--json"}, EVERYONE, 0,
     E_READ, "\"LT\"", NULL, {NULL}, 0},
    {"report --csv", K_NONE, false, {"report", "--csv", "{NEW}"}, EVERYONE, 0,
     E_READ, NULL, NULL, {NULL}, 0},
    {"report --html", K_NONE, false, {"report", "--html", "{NEW}"}, EVERYONE,
     0, E_READ, NULL, NULL, {NULL}, 0},
    /* ---- the registry ---- */
    {"unit add", K_NONE, false,
     {"unit", "add", "XN", "--name", "新河镇", "--kind", "township"},
     M(ADMIN) | M(ADM2), 0, E_LOG, "added unit XN", NULL,
     {W_ADMIN " add units"}, 0},
    {"unit list", K_NONE, false, {"unit", "list"}, EVERYONE, 0, E_READ, "JW",
     NULL, {NULL}, 0},
    {"principal add", K_NONE, false,
     {"principal", "add", "{F:newcomer.key.pub}", "--unit", "LT", "--role",
      "verifier"},
     M(ADMIN) | M(ADM2), 0, E_LOG, "added newcomer", NULL,
     {W_ADMIN " add principals"}, 0},
    {"principal list", K_NONE, false, {"principal", "list"}, EVERYONE, 0,
     E_READ, "lt-hc", NULL, {NULL}, 0},
    {"principal revoke", K_NONE, false, {"principal", "revoke", "qy-hc"},
     M(ADMIN) | M(ADM2), 0, E_LOG, "revoked qy-hc", NULL,
     {W_ADMIN " revoke principals"}, 0},
    {"workflow check", K_NONE, false,
     {"workflow", "check", "{F:gang_lead_v3.lua}"}, EVERYONE, 0, E_READ,
     "is valid", NULL, {NULL}, 0},
    {"workflow add", K_NONE, false, {"workflow", "add", "{F:gang_lead_v3.lua}"},
     M(ADMIN) | M(ADM2), 0, E_LOG, "registered workflow", NULL,
     {W_ADMIN " register workflows"}, 0},
    {"workflow list", K_NONE, false, {"workflow", "list"}, EVERYONE, 0,
     E_READ, "gang_lead", NULL, {NULL}, 0},
    {"workflow show", K_NONE, false, {"workflow", "show", "gang_lead"},
     EVERYONE, 0, E_READ, "VERIFYING", NULL, {NULL}, 0},
    {"workflow graph", K_NONE, false, {"workflow", "graph", "gang_lead"},
     EVERYONE, 0, E_READ, "VERIFYING", NULL, {NULL}, 0},
    {"workflow migrate", K_VERI, false,
     {"workflow", "migrate", "{ID}", "--to", "{V2}"}, 0, M(ADMIN) | M(ADM2),
     E_LOG,
     "migrated", "VERIFYING", {"only the administrator migrates leads"}, 0},
    {"calendar set", K_NONE, false, {"calendar", "set", "{F:cn.cal}"},
     M(ADMIN) | M(ADM2), 0, E_LOG, "calendar set", NULL,
     {W_ADMIN " set the calendar"}, 0},
    {"calendar show", K_NONE, false, {"calendar", "show"}, EVERYONE, 0,
     E_READ, "holiday", NULL, {NULL}, 0},
    {"backup", K_NONE, false, {"backup", "{NEW}"}, EVERYONE, 0, E_READ,
     "wrote", NULL, {NULL}, 0},
    /* ---- auditing ---- */
    {"audit verify", K_NONE, false,
     {"audit", "verify", "--trust", "{F:ADMIN.key.pub}"}, EVERYONE, 0,
     E_READ, "log verified", NULL, {NULL}, 0},
    {"audit checkpoint", K_NONE, false, {"audit", "checkpoint"}, EVERYONE, 0,
     E_READ, "qinghe.test/leads", NULL, {NULL}, 0},
    {"audit prove inclusion", K_NONE, false,
     {"audit", "prove", "inclusion", "3"}, EVERYONE, 0, E_READ, "inclusion 3",
     NULL, {NULL}, 0},
    {"audit prove consistency", K_NONE, false,
     {"audit", "prove", "consistency", "3", "10"}, EVERYONE, 0, E_READ,
     "consistency 3 10", NULL, {NULL}, 0},
    {"audit verify-proof", K_NONE, false,
     {"audit", "verify-proof", "{F:proof.txt}"}, EVERYONE, 0, E_READ, NULL,
     NULL, {NULL}, 0},
    {"audit export", K_NONE, false, {"audit", "export", "{NEW}"}, EVERYONE, 0,
     E_READ, NULL, NULL, {NULL}, 0},
    {"audit cosign", K_NONE, false,
     {"audit", "cosign", "--trust", "{F:ADMIN.key.pub}"}, M(AUD), 0, E_COSIG,
     "cosigned", NULL, {"is not an active auditor"}, 0},
    /* ---- keys and new stores ---- */
    {"init (this store)", K_NONE, false,
     {"init", "--origin", "x.test/leads", "--admin-key", "{KEY}"}, 0, 0,
     E_READ, NULL, NULL, {"already exists"}, 4},
    {"init (new store)", K_NONE, false,
     {"init", "--origin", "x.test/leads", "--admin-key", "{KEY}", "--db",
      "{NEW}"},
     KEYED, 0, E_READ, "created", NULL, {NULL}, 0},
    {"key new", K_NONE, false, {"key", "new", "{NEW}", "--no-passphrase"},
     EVERYONE, 0, E_READ, "+", NULL, {NULL}, 0},
    {"key show", K_NONE, false, {"key", "show", "{F:ADMIN.key.pub}"},
     EVERYONE, 0, E_READ, "admin+", NULL, {NULL}, 0},
};

/* clang-format on */

#define NROWS (sizeof ROWS / sizeof ROWS[0])

static int
own_unit(enum role r)
{
    if (((SH_ROLES >> r) & 1u) || r == ADM2)
        return U_SH;
    if ((LT_ROLES >> r) & 1u)
        return U_LT;
    return -1;
}

static int
other_unit(enum role r)
{
    return ((LT_ROLES >> r) & 1u) ? U_QY : U_LT;
}

/* May r read sealed content of unit u (REV: what was sealed before)? */
static bool
reads_unit(enum role r, int u)
{
    return ((SH_ROLES >> r) & 1u) || (((LT_ROLES >> r) & 1u) && u == U_LT);
}

static bool
reads_secret(enum role r)
{
    return r == REG || r == DRC;
}

/* Failures are gathered so that one run shows every wrong cell. */
static unsigned FAILURES;

static void bad(const char *fmt, ...) QL_PRINTF(1, 2);

static void
bad(const char *fmt, ...)
{
    va_list ap;

    printf("FAIL: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    FAILURES++;
}

/* Whether text holds a marker that r may not see; says which. */
static bool
leaks(enum role r, const char *what, const char *text)
{
    char mark[16];
    int u;

    for (u = 0; u < NUNITS; u++) {
        snprintf(mark, sizeof mark, "MKS-%s-", UNIT[u]);
        if (!reads_unit(r, u) && strstr(text, mark) != NULL) {
            bad("%s: %s sees %s content:\n%s", what, P[r].tag, UNIT[u], text);
            return true;
        }
        snprintf(mark, sizeof mark, "MKX-%s-", UNIT[u]);
        if (!reads_secret(r) && strstr(text, mark) != NULL) {
            bad("%s: %s sees a secret field:\n%s", what, P[r].tag, text);
            return true;
        }
    }
    return false;
}

/*
 * Fails when any file under path (a file or a folder) holds a marker:
 * nothing written to disk ever holds sealed content in the clear.
 */
static void
no_marker_on_disk(const char *what, const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *dp = opendir(path);
        struct dirent *de;

        assert_non_null(dp);
        while ((de = readdir(dp)) != NULL) {
            char *sub;

            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            sub = qlt_join(path, de->d_name);
            no_marker_on_disk(what, sub);
            free(sub);
        }
        closedir(dp);
    } else if (S_ISREG(st.st_mode)) {
        size_t len, i;
        char *buf = qlt_read_file(path, &len);

        for (i = 0; i + 4 <= len; i++)
            if (buf[i] == 'M' && buf[i + 1] == 'K' &&
                (buf[i + 2] == 'S' || buf[i + 2] == 'X') && buf[i + 3] == '-') {
                bad("%s: %s holds a marker in the clear", what, path);
                break;
            }
        free(buf);
    }
}

/* Expands a row's arguments for role r on unit u (-1: none). */
static void
expand(const char *dir, const struct row *w, enum role r, int u, char **argv,
       size_t cap, char *made, size_t made_size)
{
    size_t i, n = 0;

    made[0] = '\0';
    for (i = 0; i < sizeof w->args / sizeof w->args[0] && w->args[i] != NULL;
         i++) {
        const char *a = w->args[i];
        char buf[1024];

        if (n + 1 >= cap)
            fail_msg("too many arguments");
        if (strcmp(a, "{ID}") == 0 && w->target < NKINDS && u >= 0) {
            snprintf(buf, sizeof buf, "%s", LEAD[w->target][u]);
        } else if (strcmp(a, "{INTO}") == 0 && u >= 0) {
            snprintf(buf, sizeof buf, "%s", LEAD[K_REGD][u]);
        } else if (strcmp(a, "{HU}") == 0) {
            snprintf(buf, sizeof buf, "%s", u == U_SH ? "LT" : UNIT[u]);
        } else if (strcmp(a, "{NEW}") == 0) {
            snprintf(buf, sizeof buf, "%s/new-%u", dir, ++SEQ);
            snprintf(made, made_size, "%s", buf);
        } else if (strcmp(a, "{KEY}") == 0) {
            char *k = r == NOKEY ? NULL : key_path(dir, r);

            snprintf(buf, sizeof buf, "%s", k ? k : "");
            free(k);
        } else if (strcmp(a, "{V2}") == 0) {
            snprintf(buf, sizeof buf, "%s", V2);
        } else if (strncmp(a, "{F:", 3) == 0) {
            snprintf(buf, sizeof buf, "%s/%.*s", dir, (int)(strlen(a) - 4),
                     a + 3);
        } else {
            /* {U} may stand inside an argument. */
            const char *at = strstr(a, "{U}");

            if (at != NULL)
                snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - a), a,
                         u >= 0 ? UNIT[u] : "", at + 3);
            else
                snprintf(buf, sizeof buf, "%s", a);
        }
        argv[n++] = strdup(buf);
    }
    argv[n] = NULL;
}

/* fragment with {U} replaced by unit u, in buf. */
static const char *
with_unit(const char *fragment, int u, char *buf, size_t size)
{
    const char *at = strstr(fragment, "{U}");

    if (at == NULL)
        return fragment;
    snprintf(buf, size, "%.*s%s%s", (int)(at - fragment), fragment,
             u >= 0 ? UNIT[u] : "", at + 3);
    return buf;
}

/* Checks a refused run: exit class, one line naming the refusal. */
static void
check_refusal(const struct row *w, enum role r, const char *name,
              const struct qlt_run *run)
{
    int want = r == NOKEY ? 2 : w->refused ? w->refused : 3;
    const char *nl = strchr(run->err, '\n');
    const char *id = NULL, *alt = NULL;
    size_t i;
    bool named = false;

    if (run->status != want)
        bad("%s: exit %d, want %d: %s", name, run->status, want, run->err);
    if (run->out_len != 0)
        bad("%s: a refusal printed on stdout: %s", name, run->out);
    if (strncmp(run->err, "qingling: ", 10) != 0 || nl == NULL ||
        nl[1] != '\0') {
        bad("%s: the refusal is not one line 'qingling: ...': %s", name,
            run->err);
        return;
    }
    /* Who is refused for being no one the county knows says so. */
    if (r == NOKEY)
        id = "no key given";
    else if (w->refused != 0)
        id = NULL; /* refused whoever asks */
    else if (r == OUT)
        id = "not registered in this county", alt = "no registered principal";
    else if (r == REV)
        id = "has been revoked", alt = "is revoked";
    else if (r == FAKE)
        id = "is not the key registered under that name";
    if (id != NULL) {
        named = strstr(run->err, id) != NULL ||
                (alt != NULL && strstr(run->err, alt) != NULL);
        /* Cosigning checks the log's auditors, not the registry. */
        if (!named && r != NOKEY && w->why[0] != NULL &&
            strstr(w->why[0], "active auditor") != NULL)
            named = strstr(run->err, w->why[0]) != NULL;
    } else {
        for (i = 0; i < 4 && w->why[i] != NULL && !named; i++)
            named = strstr(run->err, w->why[i]) != NULL;
    }
    if (!named)
        bad("%s: the refusal does not say why: %s", name, run->err);
}

/* Checks what an entitled reader must see, and a sealed one must not. */
static void
check_content(const struct row *w, enum role r, int u, const char *name,
              const struct qlt_run *run)
{
    char mark[32];

    if (w->target != K_VERI || w->effect != E_READ)
        return;
    snprintf(mark, sizeof mark, "MKS-%s-VERI", UNIT[u]);
    if (reads_unit(r, u) && strstr(run->out, mark) == NULL)
        bad("%s: an entitled reader does not see %s:\n%s", name, mark,
            run->out);
    if (!reads_unit(r, u) && strstr(run->out, "sealed") == NULL)
        bad("%s: a sealed lead is not said to be sealed:\n%s", name, run->out);
    snprintf(mark, sizeof mark, "MKX-%s-VERI", UNIT[u]);
    if (reads_secret(r) && strstr(run->out, mark) == NULL)
        bad("%s: a secret reader does not see %s:\n%s", name, mark, run->out);
}

/* The cell's outcome, for the table. */
enum cell { C_NA, C_ALLOWED, C_REFUSED, C_SKIPPED };

/*
 * Under AddressSanitizer every run of the binary costs tens of
 * milliseconds before it starts; commands that never read the acting key
 * take the same path whoever runs them, so there they run for two roles
 * only (with a key and without), and the table shows the others as '.'.
 * The ordinary build runs every cell.
 */
#if defined(__SANITIZE_ADDRESS__)
#define QLT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QLT_SANITIZED 1
#endif
#endif
#ifndef QLT_SANITIZED
#define QLT_SANITIZED 0
#endif

/* Whether row w's command never reads the acting key. */
static bool
keyless(const struct row *w)
{
    static const char *const names[] = {
        "status",
        "status --why",
        "report --json",
        "report --csv",
        "report --html",
        "unit list",
        "principal list",
        "workflow check",
        "workflow list",
        "workflow show",
        "workflow graph",
        "calendar show",
        "backup",
        "audit verify",
        "audit checkpoint",
        "audit prove inclusion",
        "audit prove consistency",
        "audit verify-proof",
        "audit export",
        "commit show",
        "key new",
        "key show",
    };
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(w->name, names[i]) == 0)
            return true;
    return false;
}

static bool VERBOSE;

/* One cell of the matrix and its run. */
struct cellrun {
    const struct row *w;
    enum role r;
    int u; /* the target unit, -1 for none */
    bool allowed;
    enum cell result;
    char made[1024]; /* a path the run was to create, or "" */
};

/* Whether the cell has a target at all. */
static bool
cell_exists(const struct row *w, int u)
{
    if (w->target < NKINDS)
        return u >= 0 && LEAD[w->target][u][0] != '\0';
    if (w->target == K_UNIT)
        return u >= 0 && !(w->handling && u == U_SH);
    return true;
}

/* Starts cell c's run in dir. */
static void
cell_start(struct cellrun *c, const char *dir, struct job *j)
{
    char *argv[32];
    size_t i;

    expand(dir, c->w, c->r, c->u, argv, sizeof argv / sizeof argv[0], c->made,
           sizeof c->made);
    start_in(j, dir, c->r, (const char *const *)argv);
    for (i = 0; argv[i] != NULL; i++)
        free(argv[i]);
}

/*
 * Checks cell c's finished run in dir against what the row allows, and
 * puts the store back as it was when the run changed it.
 */
static void
cell_check(struct cellrun *c, const char *dir, struct qlt_run *run)
{
    const struct row *w = c->w;
    enum role r = c->r;
    int u = c->u;
    char name[128], frag[128];
    struct snap after;

    snprintf(name, sizeof name, "%s as %s on %s", w->name, P[r].tag,
             u >= 0 ? UNIT[u] : "-");
    snap(dir, &after);
    if (VERBOSE)
        printf("%-40s exit %d %s", name, run->status,
               run->status ? run->err : "\n");
    (void)(leaks(r, name, run->out) || leaks(r, name, run->err));
    if (c->made[0] != '\0')
        no_marker_on_disk(name, c->made);
    c->result = run->status == 0 ? C_ALLOWED : C_REFUSED;
    if (!c->allowed) {
        if (c->result == C_ALLOWED)
            bad("%s: allowed, but must be refused; stdout: %s", name, run->out);
        else
            check_refusal(w, r, name, run);
        if (!snap_same(&BASE, &after))
            bad("%s: the refusal changed the store", name);
    } else if (c->result == C_REFUSED) {
        bad("%s: refused, but must be allowed: %s", name, run->err);
    } else {
        const char *want =
            w->out != NULL ? with_unit(w->out, u, frag, sizeof frag) : NULL;

        if (want != NULL && strstr(run->out, want) == NULL)
            bad("%s: stdout lacks '%s': %s", name, want, run->out);
        if (run->err_len != 0 && strcmp(w->name, "key new") != 0)
            bad("%s: stderr is not empty: %s", name, run->err);
        if (w->effect == E_READ && !snap_same(&BASE, &after))
            bad("%s: a read changed the store", name);
        if (w->effect == E_LOG && after.size <= BASE.size)
            bad("%s: the log did not grow", name);
        if (w->effect == E_COSIG &&
            (after.size != BASE.size || after.hash == BASE.hash))
            bad("%s: no cosignature was added, or the log changed", name);
        if (w->state != NULL) {
            char st[64], pend[64], got[160];

            lead_state(dir, LEAD[w->target][u], st, sizeof st, pend,
                       sizeof pend);
            snprintf(got, sizeof got, "%s%s%s", st, *pend ? " pending " : "",
                     pend);
            if (strcmp(got, w->state) != 0)
                bad("%s: the lead is %s, want %s", name, got, w->state);
        }
        check_content(w, r, u, name, run);
        if (w->effect != E_READ) {
            char *db = qlt_join(dir, "county.db");
            char *wal = qlt_join(dir, "county.db-wal");

            no_marker_on_disk(name, db);
            no_marker_on_disk(name, wal);
            free(db);
            free(wal);
        }
    }
    if (!snap_same(&BASE, &after)) {
        reset_store(dir);
        snap_free(&after);
        snap(dir, &after);
        assert_true(snap_same(&BASE, &after));
    }
    snap_free(&after);
}

static void
test_matrix(void **state)
{
    static const char cellc[] = {'-', 'A', 'r', '.'};
    struct cellrun *cells;
    size_t i, j, n = 0, at;
    int r;

    (void)state;
    VERBOSE = getenv("QL_ACCESS_VERBOSE") != NULL;
    FAILURES = 0;
    {
        static const char *const files[] = {"county.db", "county.db-wal",
                                            "county.db-shm"};

        for (i = 0; i < 3; i++) {
            char *p = qlt_join(WORK[0], files[i]);

            no_marker_on_disk("the county as built", p);
            free(p);
        }
    }
    /* Every cell, in the table's order: own unit, then another unit. */
    cells = calloc(NROWS * NROLES * 2, sizeof *cells);
    assert_non_null(cells);
    for (i = 0; i < NROWS; i++) {
        for (r = 0; r < NROLES; r++) {
            const struct row *w = &ROWS[i];
            int col, u;

            for (col = 0; col < (w->target == K_NONE ? 1 : 2); col++) {
                struct cellrun *c = &cells[n++];

                u = w->target == K_NONE ? -1
                    : col == 0          ? own_unit((enum role)r)
                                        : other_unit((enum role)r);
                c->w = w;
                c->r = (enum role)r;
                c->u = u;
                c->allowed = ((col == 0 ? w->own : w->other) >> r) & 1u;
                c->result = C_NA;
            }
        }
    }
    /* Run them SLOTS at a time, each slot in its own folder. */
    for (i = 0; i < n;) {
        struct job jobs[SLOTS];
        struct cellrun *batch[SLOTS];
        size_t k = 0;

        for (; i < n && k < SLOTS; i++) {
            if (!cell_exists(cells[i].w, cells[i].u))
                continue;
            if (QLT_SANITIZED && keyless(cells[i].w) && cells[i].r != ADMIN &&
                cells[i].r != NOKEY) {
                cells[i].result = C_SKIPPED;
                continue;
            }
            batch[k] = &cells[i];
            cell_start(batch[k], WORK[k], &jobs[k]);
            k++;
        }
        jobs_finish(jobs, k);
        for (j = 0; j < k; j++) {
            cell_check(batch[j], WORK[j], &jobs[j].run);
            qlt_run_free(&jobs[j].run);
        }
    }
    printf("role x command: own unit/another unit; A allowed, r refused, - "
           "no such target\n");
    printf("(own: SH for the office, LT for LT's principals; other: LT for "
           "the office, QY for LT's)\n");
    printf("%-24s", "command");
    for (r = 0; r < NROLES; r++)
        printf(" %-5s", P[r].tag);
    printf("\n");
    for (i = 0, j = 0; i < NROWS; i++) {
        const struct row *w = &ROWS[i];
        char line[256];

        at = (size_t)snprintf(line, sizeof line, "%-24s", w->name);
        for (r = 0; r < NROLES; r++) {
            if (w->target == K_NONE) {
                at += (size_t)snprintf(line + at, sizeof line - at, " %c    ",
                                       cellc[cells[j].result]);
                j++;
                continue;
            }
            at += (size_t)snprintf(line + at, sizeof line - at, " %c/%c  ",
                                   cellc[cells[j].result],
                                   cellc[cells[j + 1].result]);
            j += 2;
        }
        while (at > 0 && line[at - 1] == ' ')
            line[--at] = '\0';
        printf("%s\n", line);
    }
    free(cells);
    assert_int_equal(FAILURES, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matrix, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
