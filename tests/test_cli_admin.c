/*
 * End to end, through the real binary: the administrator's and auditor's
 * commands (key, init, unit, principal, workflow, calendar, backup, audit)
 * and every error a user can hit with them. Each error is checked for its
 * exit code, its one-line message, and a store left exactly as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ql_test.h"

static char *DIR_PATH;

/* Runs qingling in DIR_PATH with the store and fixed clock set. */
static void
q(struct qlt_run *r, const char *key, const char *stdin_text, ...)
{
    const char *argv[32], *env[8];
    char db[512], k[512], cd[600];
    size_t n = 0, e = 0;
    va_list ap;

    snprintf(db, sizeof db, "QINGLING_DB=%s/county.db", DIR_PATH);
    env[e++] = db;
    env[e++] = "QINGLING_NOW=2025-09-15T02:00:00Z";
    if (key != NULL) {
        snprintf(k, sizeof k, "QINGLING_KEY=%s/%s", DIR_PATH, key);
        env[e++] = k;
    }
    env[e] = NULL;
    va_start(ap, stdin_text);
    while ((argv[n] = va_arg(ap, const char *)) != NULL && n < 30) {
        /* Relative file arguments are the test folder's. */
        n++;
    }
    va_end(ap);
    snprintf(cd, sizeof cd, "%s", DIR_PATH);
    if (chdir(cd) != 0)
        fail_msg("chdir");
    qlt_exec(r, argv, env, stdin_text);
}

/* The store's state as a reader sees it: log size and latest checkpoint. */
static char *
store_state(void)
{
    struct qlt_run r;
    char *s;

    q(&r, NULL, NULL, "audit", "checkpoint", NULL);
    assert_int_equal(r.status, 0);
    s = strdup(r.out);
    qlt_run_free(&r);
    return s;
}

static void
expect(struct qlt_run *r, int status, const char *fragment)
{
    if (r->status != status)
        fail_msg("exit %d, want %d; stderr: %s", r->status, status, r->err);
    if (fragment != NULL && strstr(r->err, fragment) == NULL &&
        strstr(r->out, fragment) == NULL)
        fail_msg("output lacks '%s'; stderr: %s stdout: %s", fragment,
                 r->err, r->out);
    if (status != 0) {
        /* One line, prefixed, on stderr; usage errors add the synopsis. */
        assert_true(strncmp(r->err, "qingling: ", 10) == 0);
        if (status != 2)
            assert_non_null(strchr(r->err, '\n'));
        if (status != 2)
            assert_int_equal(strchr(r->err, '\n')[1], '\0');
    }
}

static void
ok(struct qlt_run *r)
{
    expect(r, 0, NULL);
    qlt_run_free(r);
}

static char CWD[512];

/* Paths of the tree's files, from the folder the tests run in. */
static char *
tree(const char *rel)
{
    return qlt_join(CWD, rel);
}

static int
setup(void **state)
{
    struct qlt_run r;
    char *wf, *cal;

    (void)state;
    assert_non_null(getcwd(CWD, sizeof CWD));
    DIR_PATH = qlt_tempdir();
    wf = tree("workflows/gang_lead.lua");
    cal = tree("workflows/calendars/cn.cal");
    q(&r, NULL, NULL, "key", "new", "admin.key", "--no-passphrase", NULL);
    ok(&r);
    q(&r, NULL, NULL, "key", "new", "reg.key", "--name", "sh-dengji-01",
      "--no-passphrase", NULL);
    ok(&r);
    q(&r, NULL, NULL, "init", "--origin", "qinghe.test/leads", "--admin-key",
      "admin.key", NULL);
    ok(&r);
    q(&r, "admin.key", NULL, "unit", "add", "SH", "--name", "青禾县扫黑办",
      "--kind", "supervision", NULL);
    ok(&r);
    q(&r, "admin.key", NULL, "principal", "add", "reg.key.pub", "--unit",
      "SH", "--role", "registrar", NULL);
    ok(&r);
    q(&r, "admin.key", NULL, "workflow", "add", wf, NULL);
    ok(&r);
    q(&r, "admin.key", NULL, "calendar", "set", cal, NULL);
    ok(&r);
    free(wf);
    free(cal);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    assert_int_equal(chdir(CWD), 0);
    qlt_rmtree(DIR_PATH);
    return 0;
}


static void
test_key_errors(void **state)
{
    struct qlt_run r;
    struct stat sb;
    char *pass;

    (void)state;
    /* A key file is never overwritten. */
    q(&r, NULL, NULL, "key", "new", "admin.key", "--no-passphrase", NULL);
    expect(&r, 4, "already exists");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "key", "new", "bad.key", "--name", "a b",
      "--no-passphrase", NULL);
    expect(&r, 2, "invalid key name");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "key", "new", NULL);
    expect(&r, 2, "exactly one FILE");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "key", "frob", NULL);
    expect(&r, 2, "unknown key command");
    qlt_run_free(&r);
    /* Without a terminal or passphrase file there is no passphrase. */
    q(&r, NULL, NULL, "key", "new", "nopass.key", NULL);
    expect(&r, 2, "QINGLING_PASSPHRASE_FILE");
    qlt_run_free(&r);
    assert_int_equal(stat("nopass.key", &sb), -1);
    /* Secret key files are 0600, public ones world-readable. */
    assert_int_equal(stat("admin.key", &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    q(&r, NULL, NULL, "key", "show", "admin.key.pub", NULL);
    ok(&r);
    q(&r, NULL, NULL, "key", "show", "admin.key", NULL);
    expect(&r, 4, NULL);
    qlt_run_free(&r);
    /* An encrypted key: right and wrong passphrases. */
    pass = qlt_join(DIR_PATH, "pass.txt");
    qlt_write_file(pass, "correct horse\n", 14);
    {
        const char *argv[] = {"key", "new", "enc.key", NULL};
        char env1[600];
        const char *env[] = {env1, NULL};
        struct qlt_run w;

        snprintf(env1, sizeof env1, "QINGLING_PASSPHRASE_FILE=%s", pass);
        qlt_exec(&w, argv, env, NULL);
        ok(&w);
        qlt_write_file(pass, "wrong horse\n", 12);
        {
            const char *argv2[] = {"--key", "enc.key", "--db", "county.db",
                                   "unit", "add", "TD", "--name", "x",
                                   "--kind", "township", NULL};

            qlt_exec(&w, argv2, env, NULL);
            expect(&w, 4, "wrong passphrase");
            qlt_run_free(&w);
        }
    }
    free(pass);
}

static void
test_init_errors(void **state)
{
    struct qlt_run r;

    (void)state;
    q(&r, NULL, NULL, "init", "--origin", "qinghe.test/leads", "--admin-key",
      "admin.key", NULL);
    expect(&r, 4, "already exists");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "init", "--admin-key", "admin.key", NULL);
    expect(&r, 2, "--origin is required");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "--db", "other.db", "init", "--origin", "a b",
      "--admin-key", "admin.key", NULL);
    expect(&r, 2, "invalid origin");
    qlt_run_free(&r);
    assert_int_equal(access("other.db", F_OK), -1);
    assert_int_equal(access("other.db.logkey", F_OK), -1);
    q(&r, NULL, NULL, "--db", "other.db", "init", "--origin", "x",
      "--admin-key", "admin.key", "--zone", "Europe/Paris", NULL);
    expect(&r, 4, "Europe/Paris");
    qlt_run_free(&r);
    assert_int_equal(access("other.db", F_OK), -1);
    q(&r, NULL, NULL, "--db", "other.db", "init", "--origin", "x",
      "--admin-key", "missing.key", NULL);
    expect(&r, 4, "missing.key");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "--db", "", "unit", "list", NULL);
    expect(&r, 2, "no store given");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "--db", "nowhere.db", "unit", "list", NULL);
    expect(&r, 4, "nowhere.db");
    qlt_run_free(&r);
}

/* Whether path is gone (no file of any kind has the name). */
static bool
gone(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) != 0 && errno == ENOENT;
}

/*
 * What an init stopped midway left (docs/decisions.md section 38): the
 * working names are the init's own, so the next init clears them and
 * runs; a log key that is not a second name of its working file is
 * someone else's, and is refused with nothing removed.
 */
static void
test_init_after_interrupted(void **state)
{
    static const char *const left[] = {"late.db.part", "late.db.part-wal",
                                       "late.db.logkey.part"};
    struct qlt_run r;
    size_t i, len;
    char *text;

    (void)state;
    /* Stopped after the log key took its name, before the store did. */
    qlt_write_file("late.db.part", "half a store", 12);
    qlt_write_file("late.db.part-wal", "x", 1);
    qlt_write_file("late.db.logkey.part", "a key", 5);
    assert_int_equal(link("late.db.logkey.part", "late.db.logkey"), 0);
    q(&r, NULL, NULL, "--db", "late.db", "init", "--origin", "qinghe.test/late",
      "--admin-key", "admin.key", NULL);
    ok(&r);
    qlt_run_free(&r);
    for (i = 0; i < sizeof left / sizeof left[0]; i++)
        assert_true(gone(left[i]));
    q(&r, "admin.key", NULL, "--db", "late.db", "unit", "add", "TD", "--name",
      "桐渡镇", "--kind", "township", NULL);
    ok(&r);
    qlt_run_free(&r);
    /* A log key that no working name shares is refused, and kept. */
    qlt_write_file("kept.db.logkey", "someone's key", 13);
    qlt_write_file("kept.db.logkey.part", "a key", 5);
    q(&r, NULL, NULL, "--db", "kept.db", "init", "--origin", "qinghe.test/kept",
      "--admin-key", "admin.key", NULL);
    expect(&r, 4, "log key 'kept.db.logkey' already exists");
    qlt_run_free(&r);
    text = qlt_read_file("kept.db.logkey", &len);
    assert_int_equal(len, 13);
    assert_memory_equal(text, "someone's key", 13);
    free(text);
    assert_false(gone("kept.db.logkey.part"));
    assert_true(gone("kept.db"));
}

/* Whether the file at path holds exactly text. */
static bool
holds(const char *path, const char *text)
{
    size_t len;
    char *buf = qlt_read_file(path, &len);
    bool same = len == strlen(text) && memcmp(buf, text, len) == 0;

    free(buf);
    return same;
}

/*
 * What no interrupted init left is never removed (docs/decisions.md
 * section 38): a log key sharing its working name after its store took its
 * name and was moved aside; a store's write-ahead log without its store,
 * which would be read into the new one; something other than a regular
 * file at a working name; and an init already running in the folder.
 */
static void
test_init_refuses_others(void **state)
{
    struct qlt_run r;
    char *key;
    size_t len;
    int fd;

    (void)state;
    /*
     * A finished init stopped before removing the key's working name,
     * then its store was moved aside (or copied and removed).
     */
    q(&r, NULL, NULL, "--db", "done.db", "init", "--origin", "qinghe.test/done",
      "--admin-key", "admin.key", NULL);
    ok(&r);
    assert_int_equal(link("done.db.logkey", "done.db.logkey.part"), 0);
    assert_int_equal(rename("done.db", "aside.db"), 0);
    key = qlt_read_file("done.db.logkey", &len);
    q(&r, NULL, NULL, "--db", "done.db", "init", "--origin", "qinghe.test/done",
      "--admin-key", "admin.key", NULL);
    expect(&r, 4, "log key 'done.db.logkey' already exists");
    qlt_run_free(&r);
    assert_true(holds("done.db.logkey", key));
    free(key);
    /* A store's log whose store is gone. */
    qlt_write_file("gone.db-wal", "frames", 6);
    q(&r, NULL, NULL, "--db", "gone.db", "init", "--origin", "qinghe.test/gone",
      "--admin-key", "admin.key", NULL);
    expect(&r, 4, "'gone.db-wal' is left from a store that is not there");
    qlt_run_free(&r);
    assert_true(holds("gone.db-wal", "frames"));
    assert_true(gone("gone.db") && gone("gone.db.logkey"));
    /* A folder at a working name. */
    assert_int_equal(mkdir("dir.db.part", 0700), 0);
    q(&r, NULL, NULL, "--db", "dir.db", "init", "--origin", "qinghe.test/dir",
      "--admin-key", "admin.key", NULL);
    expect(&r, 4, "'dir.db.part' is in the way");
    qlt_run_free(&r);
    assert_int_equal(rmdir("dir.db.part"), 0);
    /* Another init holds the folder. */
    assert_true((fd = open(".", O_RDONLY | O_DIRECTORY)) >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    q(&r, NULL, NULL, "--db", "busy.db", "init", "--origin", "qinghe.test/busy",
      "--admin-key", "admin.key", NULL);
    expect(&r, 6, "another init or backup is writing in the folder");
    qlt_run_free(&r);
    assert_true(gone("busy.db") && gone("busy.db.part"));
    close(fd);
    q(&r, NULL, NULL, "--db", "busy.db", "init", "--origin", "qinghe.test/busy",
      "--admin-key", "admin.key", NULL);
    ok(&r);
}

static void
test_registry_errors_change_nothing(void **state)
{
    char *before = store_state(), *after;
    struct qlt_run r;

    (void)state;
    q(&r, "reg.key", NULL, "unit", "add", "TD", "--name", "桐渡镇", "--kind",
      "township", NULL);
    expect(&r, 3, "only the administrator");
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "unit", "add", "SH", "--name", "x", "--kind",
      "supervision", NULL);
    expect(&r, 4, "already exists");
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "unit", "add", "TD", "--name", "x", "--kind",
      "village", NULL);
    expect(&r, 2, "invalid unit kind");
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "unit", "add", "TD", "--kind", "township", NULL);
    expect(&r, 2, "--name and --kind");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "unit", "add", "TD", "--name", "x", "--kind",
      "township", NULL);
    expect(&r, 2, "no key given");
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "principal", "add", "reg.key.pub", "--unit",
      "SH", "--role", "registrar", NULL);
    expect(&r, 4, "already exists");
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "principal", "add", "admin.key.pub", "--unit",
      "ZZ", "--role", "registrar", NULL);
    expect(&r, 4, NULL);
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "principal", "add", "nothere.pub", "--unit",
      "SH", "--role", "registrar", NULL);
    expect(&r, 4, "nothere.pub");
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "principal", "add", "reg.key.pub", "--unit",
      "SH", "--role", "Bad Role", NULL);
    expect(&r, 2, "invalid role");
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "principal", "revoke", "nobody", NULL);
    expect(&r, 4, "nobody");
    qlt_run_free(&r);
    after = store_state();
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void
test_lists_and_json(void **state)
{
    struct qlt_run r;

    (void)state;
    q(&r, NULL, NULL, "unit", "list", NULL);
    expect(&r, 0, "青禾县扫黑办");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "--json", "unit", "list", NULL);
    expect(&r, 0, "{\"code\":\"SH\",\"name\":\"青禾县扫黑办\","
                  "\"kind\":\"supervision\"");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "principal", "list", "--json", NULL);
    expect(&r, 0, "\"name\":\"sh-dengji-01\"");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "workflow", "list", NULL);
    expect(&r, 0, "gang_lead");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "workflow", "show", "gang_lead", NULL);
    expect(&r, 0, "已登记(待研判)");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "workflow", "graph", "gang_lead", NULL);
    expect(&r, 0, "digraph");
    assert_non_null(strstr(r.out, "交办"));
    qlt_run_free(&r);
    q(&r, NULL, NULL, "workflow", "graph", "gang_lead", "--format",
      "mermaid", NULL);
    expect(&r, 0, "stateDiagram-v2");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "calendar", "show", NULL);
    expect(&r, 0, "春节");
    qlt_run_free(&r);
}

static void
test_workflow_errors(void **state)
{
    char *before = store_state(), *after, *bad, *wf;
    struct qlt_run r;

    (void)state;
    bad = qlt_join(DIR_PATH, "bad.lua");
    qlt_write_file(bad, "return { name = 'x', initial = 'NOPE' }\n", 40);
    q(&r, NULL, NULL, "workflow", "check", "bad.lua", NULL);
    expect(&r, 4, "bad.lua");
    qlt_run_free(&r);
    qlt_write_file(bad, "return {\n  name = \n", 20);
    q(&r, "admin.key", NULL, "workflow", "add", "bad.lua", NULL);
    expect(&r, 4, "bad.lua:");
    qlt_run_free(&r);
    wf = tree("workflows/gang_lead.lua");
    q(&r, NULL, NULL, "workflow", "check", wf, NULL);
    expect(&r, 0, "is valid");
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "workflow", "add", wf, NULL);
    expect(&r, 4, "already registered");
    qlt_run_free(&r);
    q(&r, "reg.key", NULL, "workflow", "add", "bad.lua", NULL);
    expect(&r, 4, NULL);
    qlt_run_free(&r);
    q(&r, NULL, NULL, "workflow", "show", "nope", NULL);
    expect(&r, 4, "nope");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "workflow", "graph", "gang_lead", "--format", "svg",
      NULL);
    expect(&r, 2, "dot or mermaid");
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "workflow", "migrate", "QH-SH-2025-001", NULL);
    expect(&r, 2, "--to");
    qlt_run_free(&r);
    q(&r, "admin.key", NULL, "workflow", "migrate", "QH-SH-2025-001", "--to",
      "0000000000000000000000000000000000000000000000000000000000000000",
      NULL);
    expect(&r, 4, NULL);
    qlt_run_free(&r);
    q(&r, NULL, NULL, "calendar", "set", "bad.lua", NULL);
    expect(&r, 2, "no key given");
    qlt_run_free(&r);
    qlt_write_file(bad, "year 2025\nholiday 2025-02-30 2025-03-01 x\n", 41);
    q(&r, "admin.key", NULL, "calendar", "set", "bad.lua", NULL);
    expect(&r, 4, "bad.lua:2:");
    qlt_run_free(&r);
    after = store_state();
    assert_string_equal(before, after);
    free(before);
    free(after);
    free(bad);
    free(wf);
}

static void
test_backup(void **state)
{
    struct qlt_run r;
    const char *argv[] = {"--db", "copy.db", "audit", "verify", "--trust",
                          "admin.key.pub", NULL};
    char logkey[600];
    int fd;

    (void)state;
    q(&r, NULL, NULL, "backup", "copy.db", NULL);
    expect(&r, 0, "wrote copy.db");
    qlt_run_free(&r);
    q(&r, NULL, NULL, "backup", "copy.db", NULL);
    expect(&r, 4, "already exists");
    qlt_run_free(&r);
    /* The copy is a whole store: it verifies on its own. */
    qlt_exec(&r, argv, NULL, NULL);
    expect(&r, 0, "log verified");
    qlt_run_free(&r);
    snprintf(logkey, sizeof logkey, "%s/copy.db.logkey", DIR_PATH);
    assert_int_equal(access(logkey, F_OK), -1);
    /* An init or a backup writing in the folder: try again later. */
    assert_true((fd = open(".", O_RDONLY | O_DIRECTORY)) >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    q(&r, NULL, NULL, "backup", "later.db", NULL);
    expect(&r, 6, "another init or backup is writing in the folder");
    qlt_run_free(&r);
    assert_true(gone("later.db") && gone("later.db.part"));
    close(fd);
    q(&r, NULL, NULL, "backup", "later.db", NULL);
    expect(&r, 0, "wrote later.db");
    qlt_run_free(&r);
}

static void
test_audit_detects_tampering(void **state)
{
    struct qlt_run r;
    sqlite3 *db = NULL;
    char *path, *other;

    (void)state;
    q(&r, NULL, NULL, "audit", "verify", "--trust", "admin.key.pub", NULL);
    expect(&r, 0, "log verified");
    qlt_run_free(&r);
    /* Another administrator's key is not the one the log starts from. */
    q(&r, NULL, NULL, "key", "new", "mallory.key", "--name", "admin",
      "--no-passphrase", NULL);
    ok(&r);
    q(&r, NULL, NULL, "audit", "verify", "--trust", "mallory.key.pub", NULL);
    expect(&r, 5, "another administrator");
    qlt_run_free(&r);
    /* A byte changed behind SQLite's back: the triggers are dropped first,
       as an intruder with the file would. */
    path = qlt_join(DIR_PATH, "county.db");
    other = qlt_join(DIR_PATH, "tampered.db");
    {
        char *buf;
        size_t len;

        buf = qlt_read_file(path, &len);
        qlt_write_file(other, buf, len);
        free(buf);
    }
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "DROP TRIGGER entries_no_update;"
                     "UPDATE entries SET note = replace(note, '青禾县扫黑办', "
                     "'青禾县扫黑组') WHERE idx = 1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    {
        const char *argv[] = {"--db", "tampered.db", "audit", "verify",
                              "--trust", "admin.key.pub", NULL};

        qlt_exec(&r, argv, NULL, NULL);
        expect(&r, 5, "entry 1");
        qlt_run_free(&r);
    }
    free(path);
    free(other);
}

/*
 * A bad option is one usage error (exit 2, one "qingling:" line naming the
 * option) in every command, and a value given with it is never echoed.
 */
static void
test_bad_options(void **state)
{
    static const struct {
        const char *argv[6];
        const char *want;
    } cases[] = {
        {{"key", "new", "k.key", "--bogus=s3cret-value", NULL},
         "unknown option '--bogus'"},
        {{"init", "--origin", NULL}, "option '--origin' needs a value"},
        {{"init", "--origin=x", "--colour=s3cret-value", NULL},
         "unknown option '--colour'"},
        {{"unit", "add", "ZZ", "--zzz", NULL}, "unknown option '--zzz'"},
        {{"principal", "add", "p.pub", "-x", NULL}, "unknown option '-x'"},
        {{"principal", "list", "--unit", NULL},
         "option '--unit' needs a value"},
        {{"workflow", "add", "f.lua", "--nope=s3cret-value", NULL},
         "unknown option '--nope'"},
        {{"audit", "verify", "--jobs", NULL}, "option '--jobs' needs a value"},
        {{"audit", "verify", "--weird=s3cret-value", NULL},
         "unknown option '--weird'"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct qlt_run r;
        const char *line2;

        qlt_exec(&r, cases[i].argv, NULL, NULL);
        if (r.status != 2 || strstr(r.err, cases[i].want) == NULL)
            fail_msg("%s %s: exit %d, stderr '%s'", cases[i].argv[0],
                     cases[i].argv[1], r.status, r.err);
        /* One message: the first line is ours, the rest is the usage. */
        assert_true(strncmp(r.err, "qingling: ", 10) == 0);
        line2 = strchr(r.err, '\n');
        assert_non_null(line2);
        assert_null(strstr(line2, "qingling: "));
        assert_null(strstr(r.err, "s3cret"));
        assert_null(strstr(r.out, "s3cret"));
        qlt_run_free(&r);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_key_errors),
        T(test_bad_options),
        T(test_init_errors),
        T(test_init_after_interrupted),
        T(test_init_refuses_others),
        T(test_registry_errors_change_nothing),
        T(test_lists_and_json),
        T(test_workflow_errors),
        T(test_backup),
        T(test_audit_detects_tampering),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
