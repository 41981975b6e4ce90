/*
 * Secrets stay secret: passphrases, key files, core dumps, and what every
 * message, report, export and file on disk may hold.
 *
 *   - No option takes a passphrase; the refusal repeats nothing typed.
 *   - Key files are created 0600 whatever the umask, never overwritten
 *     (not through a symbolic link either), and refused when another
 *     account owns them or others may read or write them; a passphrase
 *     file is held to the same rule.
 *   - The binary turns core dumps off and makes itself undumpable before
 *     it reads any secret: seen from /proc while it waits at a passphrase
 *     prompt, which does not echo what is typed.
 *   - A whole county's flow with one known passphrase and leads whose
 *     fields carry unique markers: no output shows a marker to a principal
 *     not entitled to it, no report or export holds one, no output at all
 *     holds the passphrase, and neither reaches the store, its write-ahead
 *     log or a backup in the clear. Errors about a secret field's value,
 *     and the wrong-passphrase error, repeat no secret.
 *   - The log key may be shared with the store's group (DESIGN.md section
 *     11) and only so; a key put in its place signs nothing; the store and
 *     its backups are never open to the world. As root, two accounts of a
 *     group write one store.
 */
#define _DEFAULT_SOURCE /* setgroups */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ql_keys.h"
#include "ql_profile.h"
#include "ql_store.h"
#include "ql_test.h"
#include "qlt_pty.h"

#define NOW_ENV "QINGLING_NOW=2025-09-15T02:00:00Z"
/* The account and group tests run others as when they run as root. */
#define NOBODY 65534
#define NOGROUP 65534
#define OTHER_GROUP 1

static char *DIR_; /* the test's folder */

static int
setup(void **state)
{
    struct ql_diag d;

    (void)state;
    if (ql_crypto_init(&d) != QL_OK)
        return -1;
    DIR_ = qlt_tempdir();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    qlt_rmtree(DIR_);
    DIR_ = NULL;
    return 0;
}

static char *
here(const char *name)
{
    return qlt_join(DIR_, name);
}

/*
 * Runs qingling with args (NULL-terminated) and up to two extra
 * environment entries (NULL allowed), the clock fixed.
 */
static void
run(struct qlt_run *r, const char *env1, const char *env2,
    const char *const *args)
{
    const char *env[4];
    size_t n = 0;

    env[n++] = NOW_ENV;
    if (env1 != NULL)
        env[n++] = env1;
    if (env2 != NULL)
        env[n++] = env2;
    env[n] = NULL;
    qlt_exec(r, args, env, NULL);
}

#define RUN(r, e1, e2, ...)                                                    \
    do {                                                                       \
        const char *const a_[] = {__VA_ARGS__, NULL};                          \
        run((r), (e1), (e2), a_);                                              \
    } while (0)

static void
expect_exit(const struct qlt_run *r, int status, const char *fragment)
{
    if (r->status != status)
        fail_msg("exit %d, want %d; stderr: %s", r->status, status, r->err);
    if (fragment != NULL && strstr(r->err, fragment) == NULL &&
        strstr(r->out, fragment) == NULL)
        fail_msg("output lacks '%s'; stderr: %s", fragment, r->err);
}

static mode_t
mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static bool
exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* Whether len bytes at buf hold needle. */
static bool
holds(const char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle), i;

    for (i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0)
            return true;
    return false;
}

/* ---- no passphrase on the command line ---- */

static void
test_no_option_takes_a_passphrase(void **state)
{
    static const char *const forms[][2] = {
        {"--passphrase=S3CRET-ARG", NULL},
        {"--passphrase", "S3CRET-ARG"},
        {"--password=S3CRET-ARG", NULL},
        {"--pass", "S3CRET-ARG"},
    };
    struct qlt_run r;
    char *key = here("k.key"), *line, *p;
    size_t i, ncmd = 0;
    char cmds[32][16];

    (void)state;
    /* Every command's usage: the only passphrase option says "no". */
    RUN(&r, NULL, NULL, "--help");
    assert_int_equal(r.status, 0);
    for (line = strtok_r(r.out, "\n", &p); line != NULL;
         line = strtok_r(NULL, "\n", &p)) {
        char name[16];

        if (strncmp(line, "  ", 2) == 0 &&
            sscanf(line + 2, "%15s", name) == 1 && ncmd < 32)
            snprintf(cmds[ncmd++], sizeof cmds[0], "%s", name);
    }
    qlt_run_free(&r);
    assert_true(ncmd >= 12);
    for (i = 0; i < ncmd; i++) {
        const char *at;

        RUN(&r, NULL, NULL, cmds[i], "--help");
        assert_int_equal(r.status, 0);
        /* Options are "--word"; the one naming a passphrase says no. */
        for (at = r.out; (at = strstr(at, "--")) != NULL; at += 2) {
            size_t n = strspn(at + 2, "abcdefghijklmnopqrstuvwxyz-");

            if (holds(at, n + 2, "pass") &&
                strncmp(at, "--no-passphrase", n + 2) != 0)
                fail_msg("'%s' has a passphrase option:\n%s", cmds[i], r.out);
        }
        qlt_run_free(&r);
    }
    /* Given anyway, anywhere, to any command: a usage error that repeats
       nothing typed, and nothing done. */
    for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        const char *a[8];
        size_t n = 0, c;

        for (c = 0; c < 3; c++) {
            n = 0;
            if (c == 0) {
                a[n++] = "key";
                a[n++] = "new";
                a[n++] = key;
            } else if (c == 1) {
                a[n++] = "lead";
                a[n++] = "list";
            } else {
                a[n++] = forms[i][0];
                if (forms[i][1] != NULL)
                    a[n++] = forms[i][1];
                a[n++] = "status";
            }
            if (c < 2) {
                a[n++] = forms[i][0];
                if (forms[i][1] != NULL)
                    a[n++] = forms[i][1];
            }
            a[n] = NULL;
            run(&r, NULL, NULL, a);
            expect_exit(&r, 2, "no option takes a passphrase");
            assert_false(holds(r.err, r.err_len, "S3CRET-ARG"));
            assert_int_equal(r.out_len, 0);
            assert_false(exists(key));
            qlt_run_free(&r);
        }
    }
    free(key);
}

/* ---- key files ---- */

/* Writes a passphrase file (mode 0600) and returns its environment entry. */
static char *
pass_env(const char *name, const char *pass)
{
    char *p = here(name), *env;
    size_t n;

    qlt_write_file(p, pass, strlen(pass));
    assert_int_equal(chmod(p, 0600), 0);
    n = strlen(p) + 32;
    env = malloc(n);
    snprintf(env, n, "QINGLING_PASSPHRASE_FILE=%s", p);
    free(p);
    return env;
}

static void
test_key_files_created_0600(void **state)
{
    char *plain = here("plain.key"), *enc = here("enc.key");
    char *env = pass_env("pass", "a long passphrase 1\n"), *pub;
    struct qlt_run r;
    mode_t old;

    (void)state;
    /* Whatever the umask says, even nothing at all. */
    old = umask(0);
    RUN(&r, NULL, NULL, "key", "new", plain, "--no-passphrase");
    expect_exit(&r, 0, "mode 0600");
    qlt_run_free(&r);
    RUN(&r, env, NULL, "key", "new", enc);
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    umask(old);
    assert_int_equal(mode_of(plain), 0600);
    assert_int_equal(mode_of(enc), 0600);
    pub = here("enc.key.pub");
    assert_int_equal(mode_of(pub), 0644);
    free(pub);
    free(plain);
    free(enc);
    free(env);
}

/* Runs `key new path` and checks it refused, leaving everything as it was. */
static void
key_new_refused(const char *path, const char *fragment)
{
    struct qlt_run r;

    RUN(&r, NULL, NULL, "key", "new", path, "--no-passphrase");
    expect_exit(&r, 4, fragment);
    assert_int_equal(r.out_len, 0);
    qlt_run_free(&r);
}

static void
test_key_files_never_overwritten(void **state)
{
    char *k = here("k.key"), *target = here("target"), *link = here("l.key");
    char *dangling = here("d.key"), *nowhere = here("nowhere");
    char *pubonly = here("p.key"), *pub = here("p.key.pub");
    char *db = here("c.db"), *logkey = here("c.db.logkey");
    char *backup = here("backup.db"), *admin = here("admin.key");
    char *before;
    size_t len;
    struct qlt_run r;

    (void)state;
    /* An existing file. */
    qlt_write_file(k, "old bytes\n", 10);
    key_new_refused(k, "already exists; it is never overwritten");
    before = qlt_read_file(k, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(before, "old bytes\n", 10);
    free(before);
    /* A symbolic link to a file, and one to nowhere. */
    qlt_write_file(target, "target bytes\n", 13);
    assert_int_equal(symlink(target, link), 0);
    key_new_refused(link, "already exists");
    before = qlt_read_file(target, &len);
    assert_int_equal(len, 13);
    free(before);
    assert_int_equal(symlink(nowhere, dangling), 0);
    key_new_refused(dangling, "already exists");
    assert_false(exists(nowhere));
    /* The public half's name taken: the secret half is not left behind. */
    qlt_write_file(pub, "not a key\n", 10);
    RUN(&r, NULL, NULL, "key", "new", pubonly, "--no-passphrase");
    expect_exit(&r, 4, "already exists");
    qlt_run_free(&r);
    assert_false(exists(pubonly));
    before = qlt_read_file(pub, &len);
    assert_int_equal(len, 10);
    free(before);
    /* The log key of a new store, planted as a link: refused, and the
       store is not created either. */
    RUN(&r, NULL, NULL, "key", "new", admin, "--no-passphrase");
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    assert_int_equal(symlink(nowhere, logkey), 0);
    RUN(&r, NULL, NULL, "--db", db, "init", "--origin", "x.test/l",
        "--admin-key", admin);
    expect_exit(&r, 4, "already exists");
    qlt_run_free(&r);
    assert_false(exists(nowhere));
    assert_false(exists(db));
    /* A backup never replaces a file either. */
    assert_int_equal(unlink(logkey), 0);
    RUN(&r, NULL, NULL, "--db", db, "init", "--origin", "x.test/l",
        "--admin-key", admin);
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    /* Nor is the store open to the world, nor any backup of it. */
    assert_int_equal(mode_of(db) & 0007, 0);
    {
        char *b2 = here("b2.db");

        RUN(&r, NULL, NULL, "--db", db, "backup", b2);
        expect_exit(&r, 0, NULL);
        qlt_run_free(&r);
        assert_int_equal(mode_of(b2) & 0007, 0);
        free(b2);
    }
    assert_int_equal(symlink(target, backup), 0);
    RUN(&r, NULL, NULL, "--db", db, "backup", backup);
    expect_exit(&r, 4, "already exists");
    qlt_run_free(&r);
    before = qlt_read_file(target, &len);
    assert_int_equal(len, 13);
    assert_memory_equal(before, "target bytes\n", 13);
    free(before);
    free(k);
    free(target);
    free(link);
    free(dangling);
    free(nowhere);
    free(pubonly);
    free(pub);
    free(db);
    free(logkey);
    free(backup);
    free(admin);
}

/* Runs a command that loads key (lead list with --key) and returns it. */
static void
load_key(struct qlt_run *r, const char *key, const char *env)
{
    char *db = here("c.db");

    RUN(r, env, NULL, "--db", db, "--key", key, "lead", "list");
    free(db);
}

/* A store with an administrator, for commands that load a key. */
static void
make_store(void)
{
    char *admin = here("admin.key"), *db = here("c.db");
    struct qlt_run r;

    RUN(&r, NULL, NULL, "key", "new", admin, "--no-passphrase");
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    RUN(&r, NULL, NULL, "--db", db, "init", "--origin", "qinghe.test/leads",
        "--admin-key", admin);
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    free(admin);
    free(db);
}

static void
test_key_files_refused_when_not_private(void **state)
{
    static const struct {
        mode_t mode;
        const char *why;
    } modes[] = {
        {0640, "readable by others"}, {0604, "readable by others"},
        {0644, "readable by others"}, {0620, "writable by others"},
        {0602, "writable by others"}, {0660, "readable by others"},
    };
    char *key = here("admin.key");
    struct qlt_run r;
    size_t i;

    (void)state;
    make_store();
    load_key(&r, key, NULL);
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(key, modes[i].mode), 0);
        load_key(&r, key, NULL);
        expect_exit(&r, 3, modes[i].why);
        qlt_run_free(&r);
    }
    assert_int_equal(chmod(key, 0600), 0);
    /* Another account's key, even one this account can read. */
    if (geteuid() == 0) {
        assert_int_equal(chown(key, NOBODY, NOGROUP), 0);
        load_key(&r, key, NULL);
        expect_exit(&r, 3, "belongs to another account");
        qlt_run_free(&r);
        assert_int_equal(chown(key, 0, 0), 0);
    }
    load_key(&r, key, NULL);
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    free(key);
}

static void
test_passphrase_file_rules(void **state)
{
    char *key = here("enc.key"), *pp = here("pass"), *env, *link;
    struct qlt_run r;

    (void)state;
    make_store();
    env = pass_env("pass", "the right passphrase\n");
    RUN(&r, env, NULL, "key", "new", key);
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    load_key(&r, key, env);
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    assert_int_equal(chmod(pp, 0640), 0);
    load_key(&r, key, env);
    expect_exit(&r, 3, "passphrase file");
    assert_non_null(strstr(r.err, "readable by others"));
    qlt_run_free(&r);
    assert_int_equal(chmod(pp, 0620), 0);
    load_key(&r, key, env);
    expect_exit(&r, 3, "writable by others");
    qlt_run_free(&r);
    assert_int_equal(chmod(pp, 0600), 0);
    if (geteuid() == 0) {
        assert_int_equal(chown(pp, NOBODY, NOGROUP), 0);
        load_key(&r, key, env);
        expect_exit(&r, 3, "belongs to another account");
        qlt_run_free(&r);
        assert_int_equal(chown(pp, 0, 0), 0);
    }
    /* Not through a link, and never a FIFO (which would hang). */
    free(env);
    link = here("pass-link");
    assert_int_equal(symlink(pp, link), 0);
    {
        size_t n = strlen(link) + 32;

        env = malloc(n);
        snprintf(env, n, "QINGLING_PASSPHRASE_FILE=%s", link);
    }
    load_key(&r, key, env);
    expect_exit(&r, 4, "cannot open QINGLING_PASSPHRASE_FILE");
    qlt_run_free(&r);
    assert_int_equal(unlink(link), 0);
    assert_int_equal(mkfifo(link, 0600), 0);
    load_key(&r, key, env);
    expect_exit(&r, 4, "not a regular file");
    qlt_run_free(&r);
    free(link);
    free(env);
    free(pp);
    free(key);
}

/* ---- at the prompt: no core, no echo ---- */

/* The value of line name in /proc/pid/limits ("soft hard"). */
static void
core_limit(pid_t pid, char *out, size_t size)
{
    char path[64], *text, *line;
    size_t len;

    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    text = qlt_read_file(path, &len);
    line = strstr(text, "Max core file size");
    assert_non_null(line);
    line += strlen("Max core file size");
    while (*line == ' ')
        line++;
    snprintf(out, size, "%.*s", (int)strcspn(line, "\n"), line);
    free(text);
}

/* Drops to the ordinary account the prompt test runs as (as root). */
static bool
become_nobody(void)
{
    return geteuid() != 0 || (setgroups(0, NULL) == 0 && setgid(NOGROUP) == 0 &&
                              setuid(NOBODY) == 0);
}

static void
test_no_core_dumps_and_no_echo_at_the_prompt(void **state)
{
    static const char PASS[] = "pty-S3CRET-passphrase-271828";
    char *key = here("prompted.key"), limits[128], path[64];
    uid_t as = geteuid() == 0 ? NOBODY : geteuid();
    struct stat st;
    struct qlt_pty t;
    int status;

    (void)state;
    /* Run as an ordinary account, one that the undumpable process's /proc
       files stop belonging to; as root, nobody, in a folder of its own. */
    if (geteuid() == 0)
        assert_int_equal(chown(DIR_, NOBODY, NOGROUP), 0);
    {
        const char *argv[] = {"key", "new", key, NULL};
        const char *envp[] = {"PATH=/usr/bin:/bin", NULL};

        qlt_pty_start(&t, argv, envp, become_nobody);
    }
    qlt_pty_expect(&t, "New passphrase: ");
    /* At the prompt, before any secret is typed: no core, not dumpable. */
    core_limit(t.pid, limits, sizeof limits);
    if (strncmp(limits, "0", 1) != 0 || strstr(limits, " 0 ") == NULL)
        fail_msg("core size limit at the prompt: '%s'", limits);
    snprintf(path, sizeof path, "/proc/%d/status", (int)t.pid);
    assert_int_equal(stat(path, &st), 0);
    if (st.st_uid != 0 || (as == 0 && st.st_uid == 0))
        fail_msg("/proc/%d belongs to uid %lu: the process is dumpable",
                 (int)t.pid, (unsigned long)st.st_uid);
    /* What is typed is not echoed, the first time or the second. */
    qlt_pty_say(&t, PASS);
    qlt_pty_say(&t, "\n");
    qlt_pty_expect(&t, "Repeat passphrase: ");
    qlt_pty_say(&t, PASS);
    qlt_pty_say(&t, "\n");
    qlt_pty_expect(&t, "prompted.key");
    core_limit(t.pid, limits, sizeof limits);
    qlt_pty_drain(&t);
    status = qlt_pty_wait(&t);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(t.fd);
    if (strstr(t.buf, PASS) != NULL)
        fail_msg("the terminal showed the passphrase:\n%s", t.buf);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_uid, as);
    assert_int_equal(st.st_mode & 07777, 0600);
    free(key);
}

/*
 * Ctrl-C at the prompt ends the command as SIGINT does, and gives the
 * terminal its echo back: a shell left without echo would show the next
 * thing typed, or nothing at all. No key file is left behind.
 */
static void
test_interrupted_prompt_restores_echo(void **state)
{
    char *key = here("interrupted.key");
    const char *argv[] = {"key", "new", key, NULL};
    const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct termios tio;
    struct qlt_pty t;
    int status;

    (void)state;
    qlt_pty_start(&t, argv, envp, NULL);
    qlt_pty_expect(&t, "New passphrase: ");
    assert_int_equal(tcgetattr(t.fd, &tio), 0);
    assert_int_equal(tio.c_lflag & ECHO, 0); /* off at the prompt */
    qlt_pty_say(&t, "half-typed");
    qlt_pty_say(&t, "\x03"); /* the terminal's interrupt character */
    qlt_pty_drain(&t);
    status = qlt_pty_wait(&t);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGINT)
        fail_msg("the command did not end by SIGINT (status %#x)", status);
    assert_int_equal(tcgetattr(t.fd, &tio), 0);
    if ((tio.c_lflag & ECHO) == 0)
        fail_msg("the terminal was left without echo");
    close(t.fd);
    assert_int_equal(access(key, F_OK), -1);
    free(key);
}

/* ---- a whole flow with markers ---- */

/*
 * The flow's principals. The keys of the administrator, the registrar, a
 * liaison and the auditor are encrypted with one passphrase (each run
 * that unlocks one spends Argon2id's time); the others have none.
 */
enum who { ADMIN, REG, DRC, TRI, LLY, HC, HEAD, QLLY, AUD, NOKEY, NWHO };

static const struct {
    const char *name, *unit, *roles;
} W[NWHO] = {
    {"admin", NULL, NULL},           {"sh-dengji", "SH", "registrar"},
    {"sh-zhuren", "SH", "director"}, {"sh-yanpan", "SH", "triage"},
    {"lt-lly", "LT", "liaison"},     {"lt-hc", "LT", "verifier"},
    {"lt-fzr", "LT", "head"},        {"qy-lly", "QY", "liaison"},
    {"jw-sj", "JW", "auditor"},      {NULL, NULL, NULL},
};

#define FLOW_PASS "flow-S3CRET-pass-phrase-9Zq"

static char *PASS_ENV;
/* Every output of the flow, checked as it comes. */
static unsigned RUNS;

static bool
reads_unit(enum who w, const char *unit)
{
    if (w == REG || w == DRC || w == TRI)
        return true;
    if (w == LLY || w == HC || w == HEAD)
        return strcmp(unit, "LT") == 0;
    if (w == QLLY)
        return strcmp(unit, "QY") == 0;
    return false;
}

/* Checks one run's output: the passphrase never, markers as entitled. */
static void
check_output(enum who w, const char *what, const struct qlt_run *r)
{
    static const char *const units[] = {"LT", "QY"};
    size_t i;

    RUNS++;
    if (holds(r->out, r->out_len, FLOW_PASS) ||
        holds(r->err, r->err_len, FLOW_PASS))
        fail_msg("%s: the passphrase is in the output", what);
    for (i = 0; i < 2; i++) {
        char mark[16];

        snprintf(mark, sizeof mark, "MKS-%s-", units[i]);
        if (!reads_unit(w, units[i]) && (holds(r->out, r->out_len, mark) ||
                                         holds(r->err, r->err_len, mark)))
            fail_msg("%s: %s content shown:\n%s%s", what, units[i], r->out,
                     r->err);
        snprintf(mark, sizeof mark, "MKX-%s-", units[i]);
        if (!(w == REG || w == DRC) && (holds(r->out, r->out_len, mark) ||
                                        holds(r->err, r->err_len, mark)))
            fail_msg("%s: a reporter's identity shown:\n%s%s", what, r->out,
                     r->err);
    }
}

/* Runs a command as w in the flow's store; returns stdout (caller frees). */
static char *
flow(enum who w, int want, const char *const *args)
{
    const char *argv[40];
    char *db = here("c.db"), *key = NULL, *out, what[160];
    struct qlt_run r;
    size_t n = 0, i;

    argv[n++] = "--db";
    argv[n++] = db;
    if (w != NOKEY) {
        char name[64];

        snprintf(name, sizeof name, "%s.key", W[w].name);
        key = here(name);
        argv[n++] = "--key";
        argv[n++] = key;
    }
    for (i = 0; args[i] != NULL && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(what, sizeof what, "%s as %s", args[0] ? args[0] : "",
             w == NOKEY ? "no key" : W[w].name);
    for (i = 1; args[i] != NULL && strlen(what) < 120; i++) {
        strncat(what, " ", sizeof what - strlen(what) - 1);
        strncat(what, args[i], sizeof what - strlen(what) - 1);
    }
    run(&r, PASS_ENV, NULL, argv);
    if (r.status != want)
        fail_msg("%s: exit %d, want %d: %s", what, r.status, want, r.err);
    check_output(w, what, &r);
    out = r.out;
    r.out = NULL;
    qlt_run_free(&r);
    free(db);
    free(key);
    return out;
}

#define FLOW(w, ...)                                                           \
    do {                                                                       \
        const char *const a_[] = {__VA_ARGS__, NULL};                          \
        free(flow((w), 0, a_));                                                \
    } while (0)

/* Registers a lead with markers as the registrar; returns its id. */
static char *
flow_lead(const char *unit, const char *named)
{
    char summary[64], reporter[64], subjects[64], nm[32], *out;
    const char *const a[] = {"lead",    "add",
                             "--unit",  unit,
                             "--field", "source=群众举报",
                             "--field", "received_at=2025-09-15",
                             "--field", "channel=来信",
                             "--field", nm,
                             "--field", subjects,
                             "--field", "locality=某村",
                             "--field", "industry=其他",
                             "--field", summary,
                             "--field", reporter,
                             NULL};

    snprintf(summary, sizeof summary, "summary=MKS-%s-summary 强迫交易", unit);
    snprintf(reporter, sizeof reporter, "reporter=MKX-%s-reporter 张三", unit);
    snprintf(subjects, sizeof subjects, "subjects=MKS-%s-subject", unit);
    snprintf(nm, sizeof nm, "named=%s", named);
    out = flow(REG, 0, a);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

/* Fails when any file under path holds a marker or the passphrase. */
static void
nothing_in_clear(const char *what, const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        fail_msg("%s: '%s' is missing", what, path);
    if (S_ISDIR(st.st_mode)) {
        DIR *dp = opendir(path);
        struct dirent *de;

        assert_non_null(dp);
        while ((de = readdir(dp)) != NULL) {
            char *sub;

            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            sub = qlt_join(path, de->d_name);
            nothing_in_clear(what, sub);
            free(sub);
        }
        closedir(dp);
        return;
    }
    {
        size_t len;
        char *buf = qlt_read_file(path, &len);

        if (holds(buf, len, "MKS-") || holds(buf, len, "MKX-"))
            fail_msg("%s: '%s' holds a marker in the clear", what, path);
        if (holds(buf, len, FLOW_PASS))
            fail_msg("%s: '%s' holds the passphrase", what, path);
        free(buf);
    }
}

static void
test_secrets_never_leak(void **state)
{
    struct ql_store *held = NULL;
    struct ql_diag d;
    char *db = here("c.db"), *wal = here("c.db-wal"), *l1, *l2, *path;
    char *csv = here("r.csv"), *html = here("r.html"), *exp = here("export");
    char *backup = here("backup.db"), *wrong, *out;
    size_t i, w;
    struct qlt_run r;

    (void)state;
    RUNS = 0;
    PASS_ENV = pass_env("pass", FLOW_PASS "\n");
    for (i = 0; i < NOKEY; i++) {
        char name[64], *kp;

        snprintf(name, sizeof name, "%s.key", W[i].name);
        kp = here(name);
        if (i == ADMIN || i == REG || i == LLY || i == AUD)
            RUN(&r, PASS_ENV, NULL, "key", "new", kp, "--name", W[i].name);
        else
            RUN(&r, PASS_ENV, NULL, "key", "new", kp, "--name", W[i].name,
                "--no-passphrase");
        expect_exit(&r, 0, NULL);
        check_output(NOKEY, "key new", &r);
        qlt_run_free(&r);
        free(kp);
    }
    path = here("admin.key");
    RUN(&r, PASS_ENV, NULL, "--db", db, "init", "--origin", "qinghe.test/l",
        "--admin-key", path);
    expect_exit(&r, 0, NULL);
    check_output(ADMIN, "init", &r);
    qlt_run_free(&r);
    free(path);
    /* Hold the store open, so that writes stay in its write-ahead log for
       the scan below rather than being folded into the file at exit. */
    assert_int_equal(ql_store_open(db, QL_STORE_READONLY, &held, &d), QL_OK);
    FLOW(ADMIN, "unit", "add", "SH", "--name", "扫黑办", "--kind",
         "supervision");
    FLOW(ADMIN, "unit", "add", "LT", "--name", "鹭汀镇", "--kind", "township");
    FLOW(ADMIN, "unit", "add", "QY", "--name", "栖云乡", "--kind", "township");
    FLOW(ADMIN, "unit", "add", "JW", "--name", "纪委监委", "--kind", "audit");
    for (i = 1; i < NOKEY; i++) {
        char name[64], *pub;

        snprintf(name, sizeof name, "%s.key.pub", W[i].name);
        pub = here(name);
        FLOW(ADMIN, "principal", "add", pub, "--unit", W[i].unit, "--role",
             W[i].roles);
        free(pub);
    }
    path = qlt_data_path("../../workflows/gang_lead.lua");
    FLOW(ADMIN, "workflow", "add", path);
    free(path);
    /* LT's lead from registration to closure, every step with markers. */
    l1 = flow_lead("LT", "实名");
    FLOW(TRI, "lead", "move", l1, "triage", "--note", "MKS-LT-note-1");
    FLOW(TRI, "lead", "assign", l1, "LT", "--due", "2025-10-15", "--field",
         "priority=一般", "--field", "assign_no=交1", "--field",
         "offence_types=强迫交易", "--field", "umbrella_flag=否", "--note",
         "MKS-LT-note-2");
    FLOW(DRC, "lead", "approve", l1);
    FLOW(LLY, "lead", "move", l1, "sign", "--field",
         "verifiers=MKS-LT-v1\nMKS-LT-v2");
    FLOW(HC, "lead", "move", l1, "contact", "--field",
         "contact_log=MKS-LT-contact");
    FLOW(HC, "lead", "move", l1, "report", "--field", "finding=查实", "--field",
         "findings_detail=MKS-LT-findings", "--field", "umbrella_flag=否",
         "--field", "assets=MKS-LT-assets", "--field", "results=立案侦查",
         "--note", "MKS-LT-note-3");
    FLOW(HEAD, "lead", "approve", l1);
    FLOW(DRC, "lead", "move", l1, "approve", "--field",
         "review_opinion=MKS-LT-review");
    FLOW(LLY, "lead", "move", l1, "feedback", "--field",
         "feedback_target=举报人", "--field", "feedback_method=电话", "--field",
         "feedback_opinion=满意");
    /* QY's lead, to verification. */
    l2 = flow_lead("QY", "匿名");
    FLOW(TRI, "lead", "move", l2, "triage");
    FLOW(TRI, "lead", "assign", l2, "QY", "--due", "2025-10-15", "--field",
         "priority=一般", "--field", "assign_no=交2", "--field",
         "offence_types=强迫交易", "--field", "umbrella_flag=否");
    FLOW(DRC, "lead", "approve", l2);
    FLOW(QLLY, "lead", "move", l2, "sign", "--field", "verifiers=甲\n乙");
    FLOW(HEAD, "commit", "sign", "--unit", "LT", "--cycle", "2025Q3",
         "--cutoff", "2025-09-15", "--deadline", "2025-09-30");
    /* Secret values in errors: never repeated, whoever typed them. */
    {
        char *big = malloc(2200), *wf = here("secretwf.lua");
        static const char SECRET_WF[] =
            "return {\n"
            "  name = \"secretwf\", title = \"密\", initial = \"NEW\",\n"
            "  id_format = \"S-{year}-{seq:3}\",\n"
            "  roles = { { name = \"registrar\", label = \"登记员\" } },\n"
            "  secret_roles = { \"registrar\" },\n"
            "  create = { \"registrar\" },\n"
            "  fields = {\n"
            "    { name = \"kind\", label = \"类别\", type = \"enum\",\n"
            "      secret = true, values = { \"甲\", \"乙\" } },\n"
            "    { name = \"born\", label = \"生日\", type = \"date\",\n"
            "      secret = true },\n"
            "    { name = \"age\", label = \"年龄\", type = \"number\",\n"
            "      secret = true },\n"
            "  },\n"
            "  states = { { name = \"NEW\", label = \"新\",\n"
            "      terminal = true, cleared = true } },\n"
            "  transitions = {},\n"
            "}\n";
        const char *bad[5];

        memset(big, 'x', 2199);
        big[2199] = '\0';
        memcpy(big, "reporter=MKX-LT-big", 19);
        bad[0] = "reporter=MKX-LT-ctl\001";
        bad[1] = big;
        bad[2] = "kind=MKX-LT-enum";
        bad[3] = "born=MKX-LT-date";
        bad[4] = "age=MKX-LT-number";
        qlt_write_file(wf, SECRET_WF, strlen(SECRET_WF));
        FLOW(ADMIN, "workflow", "add", wf);
        for (i = 0; i < 5; i++) {
            char *kp = here("sh-dengji.key");

            RUN(&r, PASS_ENV, NULL, "--db", db, "--key", kp, "lead", "add",
                "--workflow", i < 2 ? "gang_lead" : "secretwf", "--unit", "LT",
                "--field", bad[i], "--field", "source=群众举报");
            if (r.status != 4 || holds(r.err, r.err_len, "MKX-") ||
                r.out_len != 0)
                fail_msg("a bad secret value: exit %d, stderr: %s", r.status,
                         r.err);
            check_output(REG, "a bad secret value", &r);
            qlt_run_free(&r);
            free(kp);
        }
        free(wf);
        free(big);
    }
    /* A liaison may not set the envelope: refused without repeating it. */
    {
        const char *const a[] = {"lead",    "add",
                                 "--unit",  "LT",
                                 "--field", "source=群众举报",
                                 "--field", "received_at=2025-09-15",
                                 "--field", "channel=来信",
                                 "--field", "named=实名",
                                 "--field", "subjects=某乙",
                                 "--field", "locality=某村",
                                 "--field", "industry=其他",
                                 "--field", "summary=x",
                                 "--field", "reporter=MKX-QY-by-liaison",
                                 NULL};

        free(flow(LLY, 3, a));
    }
    /* Everyone reads everything they can. */
    for (w = 0; w < NWHO; w++) {
        const char *ids[] = {l1, l2};

        FLOW((enum who)w, "lead", "show", ids[0], "--json");
        FLOW((enum who)w, "lead", "history", ids[1]);
    }
    /* What entitled readers see, to know the markers are really there. */
    out = flow(REG, 0, (const char *const[]){"lead", "show", l1, NULL});
    assert_non_null(strstr(out, "MKX-LT-reporter"));
    assert_non_null(strstr(out, "MKS-LT-findings"));
    free(out);
    out = flow(HC, 0, (const char *const[]){"lead", "history", l1, NULL});
    assert_non_null(strstr(out, "MKS-LT-note-3"));
    assert_null(strstr(out, "MKX-LT-reporter"));
    free(out);
    /* Reports, the export, the backup: nothing sealed, for anyone. */
    FLOW(NOKEY, "status");
    FLOW(NOKEY, "status", "--why", "LT", "--json");
    FLOW(NOKEY, "commit", "show");
    FLOW(DRC, "report", "--json");
    FLOW(DRC, "report", "--csv", csv);
    FLOW(DRC, "report", "--html", html);
    FLOW(AUD, "audit", "export", exp);
    path = here("admin.key.pub");
    FLOW(AUD, "audit", "verify", "--trust", path);
    FLOW(AUD, "audit", "cosign", "--trust", path);
    free(path);
    FLOW(ADMIN, "backup", backup);
    nothing_in_clear("report --csv", csv);
    nothing_in_clear("report --html", html);
    nothing_in_clear("audit export", exp);
    nothing_in_clear("backup", backup);
    /* The store and its write-ahead log, which holds the writes yet. */
    assert_true(exists(wal));
    {
        struct stat st;

        assert_int_equal(stat(wal, &st), 0);
        assert_true(st.st_size > 0);
    }
    nothing_in_clear("the store's write-ahead log", wal);
    nothing_in_clear("the store", db);
    ql_store_close(held);
    nothing_in_clear("the store, checkpointed", db);
    /* Key files hold keys, not the passphrase. */
    for (i = 0; i < NOKEY; i++) {
        char name[64], *kp;

        snprintf(name, sizeof name, "%s.key", W[i].name);
        kp = here(name);
        nothing_in_clear("a key file", kp);
        free(kp);
    }
    /* A wrong passphrase is named as such, and repeats neither. */
    wrong = pass_env("wrong", "WRONG-S3CRET-attempt\n");
    path = here("sh-dengji.key");
    RUN(&r, wrong, NULL, "--db", db, "--key", path, "lead", "list");
    expect_exit(&r, 4, "wrong passphrase for key file");
    assert_false(holds(r.err, r.err_len, "WRONG-S3CRET"));
    assert_false(holds(r.err, r.err_len, FLOW_PASS));
    qlt_run_free(&r);
    free(path);
    print_message("%u runs checked\n", RUNS);
    free(wrong);
    free(l1);
    free(l2);
    free(PASS_ENV);
    free(db);
    free(wal);
    free(csv);
    free(html);
    free(exp);
    free(backup);
}

/* ---- the log key and the store in a shared deployment ---- */

/* A write that needs the log key: an administrator's unit add. */
static void
write_as_admin(struct qlt_run *r, const char *code)
{
    char *db = here("c.db"), *key = here("admin.key");

    RUN(r, NULL, NULL, "--db", db, "--key", key, "unit", "add", code, "--name",
        "某单位", "--kind", "township");
    free(db);
    free(key);
}

static void
test_log_key_shared_with_the_store_group(void **state)
{
    char *db = here("c.db"), *lk = here("c.db.logkey");
    struct qlt_run r;
    struct stat st;

    (void)state;
    if (geteuid() != 0)
        skip(); /* groups and owners other than one's own need root */
    make_store();
    /* The store and its log key are never open to the world. */
    assert_int_equal(mode_of(db) & 0007, 0);
    assert_int_equal(mode_of(lk), 0600);
    write_as_admin(&r, "A1");
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    /* The deployment of section 11: store and log key of group G. */
    assert_int_equal(chown(db, 0, NOGROUP), 0);
    assert_int_equal(chmod(db, 0660), 0);
    assert_int_equal(chown(lk, 0, NOGROUP), 0);
    assert_int_equal(chmod(lk, 0640), 0);
    write_as_admin(&r, "A2");
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    /* Readable by another group than the store's: refused. */
    assert_int_equal(chown(lk, 0, OTHER_GROUP), 0);
    write_as_admin(&r, "A3");
    expect_exit(&r, 3, "not by the store's group");
    qlt_run_free(&r);
    assert_int_equal(chown(lk, 0, NOGROUP), 0);
    /* Writable by the group, or readable by the world: refused. */
    assert_int_equal(chmod(lk, 0660), 0);
    write_as_admin(&r, "A3");
    expect_exit(&r, 3, "writable by others");
    qlt_run_free(&r);
    assert_int_equal(chmod(lk, 0644), 0);
    write_as_admin(&r, "A3");
    expect_exit(&r, 3, "readable by others");
    qlt_run_free(&r);
    /* Owned by an account that owns neither this process nor the store. */
    assert_int_equal(chmod(lk, 0640), 0);
    assert_int_equal(chown(lk, NOBODY, NOGROUP), 0);
    write_as_admin(&r, "A3");
    expect_exit(&r, 3, "belongs to another account");
    qlt_run_free(&r);
    /* ... unless that account owns the store. */
    assert_int_equal(chown(db, NOBODY, NOGROUP), 0);
    write_as_admin(&r, "A3");
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    /* A person's key is never shared, group or not. */
    {
        char *key = here("admin.key");

        assert_int_equal(chown(key, 0, NOGROUP), 0);
        assert_int_equal(chmod(key, 0640), 0);
        write_as_admin(&r, "A4");
        expect_exit(&r, 3, "readable by others");
        qlt_run_free(&r);
        free(key);
    }
    assert_int_equal(stat(db, &st), 0);
    free(db);
    free(lk);
}

static void
test_log_key_must_be_the_genesis_key(void **state)
{
    char *db = here("c.db"), *lk = here("c.db.logkey"), *other = here("o");
    struct ql_key *k = NULL;
    struct ql_diag d;
    struct qlt_run r;
    uint64_t before;

    (void)state;
    make_store();
    /* A key of the right name, put in the log key's place. */
    assert_int_equal(
        ql_key_generate(ql_profile_default(), "qinghe.test/leads", &k, &d),
        QL_OK);
    assert_int_equal(
        ql_keyfile_write(other, k, NULL, 0, QL_KEYFILE_PLAINTEXT, &d), QL_OK);
    ql_key_free(k);
    assert_int_equal(rename(other, lk), 0);
    before = qlt_file_hash(db);
    write_as_admin(&r, "B1");
    expect_exit(&r, 5, "is not the key this log's genesis entry names");
    qlt_run_free(&r);
    assert_int_equal(qlt_file_hash(db), before);
    free(db);
    free(lk);
    free(other);
}

/*
 * Section 11 for real: a second account in the store's group writes the
 * store that the first created, with its own key, through the shared log
 * key. Root only: it takes two accounts.
 */
static void
test_two_accounts_share_a_store(void **state)
{
    const char *bin = getenv("QINGLING_BIN");
    char *db = here("c.db"), *key = here("nobody.key"), *pub, *admin;
    struct qlt_run r;
    struct stat st;
    pid_t pid;
    int status, out[2];
    char buf[512];
    ssize_t n;

    (void)state;
    if (geteuid() != 0)
        skip();
    if (bin == NULL || *bin == '\0')
        bin = "build/qingling";
    make_store();
    admin = here("admin.key");
    RUN(&r, NULL, NULL, "key", "new", key, "--name", "lt-lly",
        "--no-passphrase");
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    pub = here("nobody.key.pub");
    RUN(&r, NULL, NULL, "--db", db, "--key", admin, "unit", "add", "LT",
        "--name", "鹭汀镇", "--kind", "township");
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    RUN(&r, NULL, NULL, "--db", db, "--key", admin, "principal", "add", pub,
        "--unit", "LT", "--role", "liaison");
    expect_exit(&r, 0, NULL);
    qlt_run_free(&r);
    {
        char *wf = qlt_data_path("../../workflows/gang_lead.lua");

        RUN(&r, NULL, NULL, "--db", db, "--key", admin, "workflow", "add", wf);
        expect_exit(&r, 0, NULL);
        qlt_run_free(&r);
        free(wf);
    }
    /* The deployment: folder, store and log key of the group, the
       member's key its own. */
    assert_int_equal(chown(DIR_, 0, NOGROUP), 0);
    assert_int_equal(chmod(DIR_, 02770), 0);
    {
        static const char *const files[] = {"c.db", "c.db-wal", "c.db-shm"};
        size_t i;

        for (i = 0; i < 3; i++) {
            char *p = here(files[i]);

            if (exists(p)) {
                assert_int_equal(chown(p, 0, NOGROUP), 0);
                assert_int_equal(chmod(p, 0660), 0);
            }
            free(p);
        }
    }
    {
        char *lk = here("c.db.logkey");

        assert_int_equal(chown(lk, 0, NOGROUP), 0);
        assert_int_equal(chmod(lk, 0640), 0);
        free(lk);
    }
    assert_int_equal(chown(key, NOBODY, NOGROUP), 0);
    assert_int_equal(pipe(out), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[] = {bin,
                              "--db",
                              db,
                              "--key",
                              key,
                              "lead",
                              "add",
                              "--field",
                              "source=群众举报",
                              "--field",
                              "received_at=2025-09-15",
                              "--field",
                              "channel=来信",
                              "--field",
                              "named=匿名",
                              "--field",
                              "subjects=某甲",
                              "--field",
                              "locality=某村",
                              "--field",
                              "industry=其他",
                              "--field",
                              "summary=两个账户",
                              NULL};
        const char *envp[] = {NOW_ENV, "PATH=/usr/bin:/bin", NULL};
        gid_t g = NOGROUP;

        dup2(out[1], 1);
        dup2(out[1], 2);
        close(out[0]);
        if (setgroups(1, &g) != 0 || setgid(NOGROUP) != 0 ||
            setuid(NOBODY) != 0)
            _exit(126);
        execve(bin, (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    close(out[1]);
    n = read(out[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(out[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the group member's write failed: %s", buf);
    assert_non_null(strstr(buf, "QH-SH-2025-001"));
    /* The first account reads what the second wrote. */
    RUN(&r, NULL, NULL, "--db", db, "lead", "list");
    expect_exit(&r, 0, "QH-SH-2025-001");
    qlt_run_free(&r);
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_mode & 0007, 0);
    free(db);
    free(key);
    free(pub);
    free(admin);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_no_option_takes_a_passphrase),
        T(test_key_files_created_0600),
        T(test_key_files_never_overwritten),
        T(test_key_files_refused_when_not_private),
        T(test_passphrase_file_rules),
        T(test_no_core_dumps_and_no_echo_at_the_prompt),
        T(test_interrupted_prompt_restores_echo),
        T(test_secrets_never_leak),
        T(test_log_key_shared_with_the_store_group),
        T(test_log_key_must_be_the_genesis_key),
        T(test_two_accounts_share_a_store),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
