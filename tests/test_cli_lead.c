/*
 * End-to-end tests of `qingling lead`: every subcommand's output, and every
 * error a user can hit, with its exit code, its one-line message, and a
 * store left exactly as it was. Each test runs the real binary
 * ($QINGLING_BIN) on its own copy of a county built once, by the binary,
 * for the whole program.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "ql_county.h"
#include "ql_keys.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_store.h"
#include "ql_test.h"
#include "qlt_pty.h"

#define NOW_ENV "QINGLING_NOW=2025-09-15T02:00:00Z"

enum who { ADMIN, REG, TRI, DIRECTOR, BOTH, LLY, HC, QYL, ENC, NOKEY };

static const struct {
    const char *name, *unit, *roles;
} PEOPLE[NOKEY] = {
    {"admin", NULL, NULL},
    {"sh-dengji-01", "SH", "registrar"},
    {"sh-yanpan-01", "SH", "triage"},
    {"sh-zhuren-01", "SH", "director"},
    {"sh-both-01", "SH", "triage,director"},
    {"LT-lly-01", "LT", "liaison"},
    {"LT-hc-01", "LT", "verifier"},
    {"QY-lly-01", "QY", "liaison"},
    {"sh-enc-01", "SH", "registrar"}, /* the one key with a passphrase */
};

/* The county every test starts from (built once), and the test's copy. */
static char *TEMPLATE;

struct fx {
    char *dir, *db;
};

static struct fx *F;

/* ---- running the binary ---- */

static char *
key_path(const char *dir, enum who w)
{
    char name[64];

    snprintf(name, sizeof name, "%s.key", PEOPLE[w].name);
    return qlt_join(dir, name);
}

/*
 * Runs qingling in directory dir's store as w (NOKEY: no --key), with the
 * extra environment entries env (NULL-terminated, may be NULL), stdin_text
 * on standard input, and the arguments that follow (NULL-terminated).
 */
static void
run_in(struct qlt_run *r, const char *dir, enum who w, const char *const *env,
       const char *stdin_text, const char *const *args)
{
    const char *argv[48], *envp[16];
    char *db = qlt_join(dir, "county.db"), *key = NULL;
    size_t n = 0, ne = 0, i;

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
    /* The first of two entries wins, so env may set another clock. */
    for (i = 0; env != NULL && env[i] != NULL && ne < 14; i++)
        envp[ne++] = env[i];
    envp[ne++] = NOW_ENV;
    envp[ne] = NULL;
    qlt_exec(r, argv, envp, stdin_text);
    free(db);
    free(key);
}

#define QL(r, w, ...)                                                          \
    do {                                                                       \
        const char *const args_[] = {__VA_ARGS__, NULL};                       \
        run_in((r), F->dir, (w), NULL, NULL, args_);                           \
    } while (0)

#define QL_ENV(r, w, env, ...)                                                 \
    do {                                                                       \
        const char *const args_[] = {__VA_ARGS__, NULL};                       \
        run_in((r), F->dir, (w), (env), NULL, args_);                          \
    } while (0)

/* Fails the test unless the run succeeded and said nothing on stderr. */
static void
expect_ok(struct qlt_run *r)
{
    if (r->status != 0)
        fail_msg("exit %d, stderr: %s", r->status, r->err);
    assert_int_equal(r->err_len, 0);
}

/*
 * Fails the test unless the run exited with status, said nothing on
 * stdout, and its error is one line "qingling: ..." holding fragment (a
 * usage error adds the usage lines after it).
 */
static void
expect_fail(struct qlt_run *r, int status, const char *fragment)
{
    const char *nl = strchr(r->err, '\n');

    if (r->status != status)
        fail_msg("exit %d, want %d; stderr: %s", r->status, status, r->err);
    assert_int_equal(r->out_len, 0);
    assert_non_null(nl);
    assert_int_equal(strncmp(r->err, "qingling: ", 10), 0);
    if (status != 2)
        assert_int_equal(nl[1], '\0');
    else if (nl[1] != '\0')
        assert_int_equal(strncmp(nl + 1, "usage: qingling lead", 20), 0);
    if (strstr(r->err, fragment) == NULL ||
        (size_t)(strstr(r->err, fragment) - r->err) > (size_t)(nl - r->err))
        fail_msg("error '%s' lacks '%s'", r->err, fragment);
}

static void
expect_out(const struct qlt_run *r, const char *fragment)
{
    if (strstr(r->out, fragment) == NULL)
        fail_msg("output lacks '%s':\n%s", fragment, r->out);
}

static void
expect_no_out(const struct qlt_run *r, const char *fragment)
{
    if (strstr(r->out, fragment) != NULL)
        fail_msg("output has '%s':\n%s", fragment, r->out);
}

/*
 * Parses every line of out as one JSON object into objs (at most cap
 * lines); returns the line count.
 */
static size_t
json_lines(const char *out, json_t **objs, size_t cap)
{
    const char *p = out;
    size_t n = 0;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        json_error_t err;
        json_t *j;

        assert_non_null(nl);
        if (n == cap)
            fail_msg("more than %zu lines:\n%s", cap, out);
        j = json_loadb(p, (size_t)(nl - p), 0, &err);
        if (j == NULL || !json_is_object(j))
            fail_msg("line %zu is not a JSON object (%s): %.*s", n + 1,
                     err.text, (int)(nl - p), p);
        objs[n++] = j;
        p = nl + 1;
    }
    return n;
}

static const char *
jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        fail_msg("'%s' is not a string", key);
    return json_string_value(v);
}

static void
json_free_all(json_t **objs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        json_decref(objs[i]);
}

/* ---- store evidence ---- */

struct snap {
    uint64_t size, hash;
};

/*
 * The log size and the hash of the store file. `lead move` leaves its
 * commit in the -wal file, which the next command to close the store
 * folds in: a close here folds it first, so that the file's hash changes
 * only with what is committed.
 */
static void
snap(struct snap *s)
{
    struct ql_county *c = NULL;
    struct ql_store *st = NULL;
    struct ql_diag d;

    assert_int_equal(ql_store_open(F->db, 0, &st, &d), QL_OK);
    ql_store_close(st);
    assert_int_equal(ql_county_open(F->db, QL_COUNTY_READONLY, &c, &d), QL_OK);
    assert_int_equal(ql_log_size(ql_county_log(c), &s->size, &d), QL_OK);
    ql_county_close(c);
    s->hash = qlt_file_hash(F->db);
}

/* A refusal leaves the log and the file as they were. */
static void
expect_unchanged(const struct snap *before)
{
    struct snap now;

    snap(&now);
    assert_int_equal(now.size, before->size);
    assert_int_equal(now.hash, before->hash);
}

/* ---- the county ---- */

/* Setup steps: other commands may talk on stderr (`key new` does). */
static void
must(struct qlt_run *r)
{
    if (r->status != 0)
        fail_msg("exit %d, stderr: %s", r->status, r->err);
    qlt_run_free(r);
}

/*
 * A second workflow whose assigning transition sets no due date and which
 * cannot merge: what `lead assign --due` and `lead merge` refuse.
 */
static const char MINI_WF[] =
    "return {\n"
    "  name = \"mini\", title = \"简易流程\", initial = \"NEW\",\n"
    "  id_format = \"M-{year}-{seq:3}\",\n"
    "  roles = { { name = \"registrar\", label = \"登记员\" } },\n"
    "  fields = {\n"
    "    { name = \"summary\", label = \"摘要\", type = \"text\",\n"
    "      required = true },\n"
    "    { name = \"unit_code\", label = \"承办单位\", type = \"text\",\n"
    "      clear = true },\n"
    "  },\n"
    "  states = {\n"
    "    { name = \"NEW\", label = \"新登记\" },\n"
    "    { name = \"SENT\", label = \"已分送\", terminal = true,\n"
    "      cleared = true },\n"
    "  },\n"
    "  transitions = {\n"
    "    { name = \"send\", label = \"分送\", from = \"NEW\", to = "
    "\"SENT\",\n"
    "      roles = { \"registrar\" }, require = { \"unit_code\" },\n"
    "      assign = \"unit_code\" },\n"
    "  },\n"
    "}\n";

/*
 * Registers workflow file wf (and frees the path), through the engine when
 * the `workflow` command is not there.
 */
static void
add_workflow(const char *dir, char *wf)
{
    struct qlt_run r;
    const char *const args[] = {"workflow", "add", wf, NULL};

    run_in(&r, dir, ADMIN, NULL, NULL, args);
    if (r.status == 2 && strstr(r.err, "unknown command") != NULL) {
        struct ql_county *c = NULL;
        struct ql_key *admin = NULL;
        struct ql_diag d;
        char *db = qlt_join(dir, "county.db"), *kp = key_path(dir, ADMIN);
        char *src;
        size_t len;

        src = qlt_read_file(wf, &len);
        assert_int_equal(ql_keyfile_read(kp, NULL, 0, &admin, &d), QL_OK);
        assert_int_equal(ql_county_open(db, 0, &c, &d), QL_OK);
        ql_county_set_actor(c, admin);
        assert_int_equal(ql_county_workflow_add(c, wf, src, len, NULL, &d),
                         QL_OK);
        ql_county_close(c);
        ql_key_free(admin);
        free(src);
        free(db);
        free(kp);
    } else {
        expect_ok(&r);
    }
    qlt_run_free(&r);
    free(wf);
}

static int
group_setup(void **state)
{
    static const char *const units[][3] = {
        {"SH", "青禾县扫黑办", "supervision"},
        {"LT", "青禾县鹭汀镇人民政府", "township"},
        {"QY", "青禾县栖云乡人民政府", "township"},
    };
    struct ql_diag d;
    struct qlt_run r;
    char *dir, *pp, *pw, *env_pp, *cal;
    size_t i;

    (void)state;
    if (ql_crypto_init(&d) != QL_OK)
        return -1;
    TEMPLATE = dir = qlt_tempdir();
    pp = qlt_join(dir, "pass-right");
    qlt_write_file(pp, "right horse battery\n", 20);
    env_pp = malloc(strlen(pp) + 32);
    snprintf(env_pp, strlen(pp) + 32, "QINGLING_PASSPHRASE_FILE=%s", pp);
    pw = qlt_join(dir, "pass-wrong");
    qlt_write_file(pw, "wrong staple\n", 13);
    free(pw);
    for (i = 0; i < NOKEY; i++) {
        char *kp = key_path(dir, (enum who)i);
        /* Every key but ENC's is stored without a passphrase. */
        const char *const args[] = {
            "key",    "new",          kp,
            "--name", PEOPLE[i].name, i == ENC ? NULL : "--no-passphrase",
            NULL};
        const char *const env[] = {env_pp, NULL};

        run_in(&r, dir, NOKEY, i == ENC ? env : NULL, NULL, args);
        must(&r);
        free(kp);
    }
    {
        char *kp = key_path(dir, ADMIN);
        const char *const args[] = {
            "init", "--origin", "qinghe.test/leads", "--admin-key", kp, NULL};

        run_in(&r, dir, NOKEY, NULL, NULL, args);
        must(&r);
        free(kp);
    }
    for (i = 0; i < sizeof units / sizeof units[0]; i++) {
        const char *const args[] = {"unit",      "add",       units[i][0],
                                    "--name",    units[i][1], "--kind",
                                    units[i][2], NULL};

        run_in(&r, dir, ADMIN, NULL, NULL, args);
        must(&r);
    }
    for (i = 1; i < NOKEY; i++) {
        char *kp = key_path(dir, (enum who)i), *pub;
        const char *args[8];

        pub = malloc(strlen(kp) + 5);
        snprintf(pub, strlen(kp) + 5, "%s.pub", kp);
        args[0] = "principal";
        args[1] = "add";
        args[2] = pub;
        args[3] = "--unit";
        args[4] = PEOPLE[i].unit;
        args[5] = "--role";
        args[6] = PEOPLE[i].roles;
        args[7] = NULL;
        run_in(&r, dir, ADMIN, NULL, NULL, args);
        must(&r);
        free(pub);
        free(kp);
    }
    add_workflow(dir, qlt_data_path("wf_test.lua"));
    pw = qlt_join(dir, "mini.lua");
    qlt_write_file(pw, MINI_WF, strlen(MINI_WF));
    add_workflow(dir, pw);
    cal = qlt_data_path("../../workflows/calendars/cn.cal");
    {
        const char *const args[] = {"calendar", "set", cal, NULL};

        run_in(&r, dir, ADMIN, NULL, NULL, args);
        must(&r);
    }
    free(cal);
    free(env_pp);
    free(pp);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    qlt_rmtree(TEMPLATE);
    return 0;
}

/* Copies the template county into a fresh folder for one test. */
static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct dirent *de;
    DIR *dp;

    f->dir = qlt_tempdir();
    f->db = qlt_join(f->dir, "county.db");
    dp = opendir(TEMPLATE);
    assert_non_null(dp);
    while ((de = readdir(dp)) != NULL) {
        char *from, *to, *buf;
        size_t len;

        if (de->d_name[0] == '.')
            continue;
        from = qlt_join(TEMPLATE, de->d_name);
        to = qlt_join(f->dir, de->d_name);
        buf = qlt_read_file(from, &len);
        qlt_write_file(to, buf, len);
        free(buf);
        free(from);
        free(to);
    }
    closedir(dp);
    F = f;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    free(f->db);
    qlt_rmtree(f->dir);
    free(f);
    return 0;
}

/* Writes a file in the test's folder; caller frees the path. */
static char *
write_here(const char *name, const char *text)
{
    char *p = qlt_join(F->dir, name);

    qlt_write_file(p, text, strlen(text));
    return p;
}

/* Registers a lead as the registrar and checks its id. */
static void
add_lead(const char *want_id, const char *summary)
{
    struct qlt_run r;
    char field[256];

    snprintf(field, sizeof field, "summary=%s", summary);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field",
       "source=群众举报", "--field", field, "--field", "reporter=举报人甲");
    expect_ok(&r);
    if (strncmp(r.out, want_id, strlen(want_id)) != 0 ||
        strcmp(r.out + strlen(want_id), "\n") != 0)
        fail_msg("got id '%s', want '%s'", r.out, want_id);
    qlt_run_free(&r);
}

/* Takes a step that must succeed, as w. */
#define STEP(w, ...)                                                           \
    do {                                                                       \
        struct qlt_run r_;                                                     \
        QL(&r_, (w), __VA_ARGS__);                                             \
        must(&r_);                                                             \
    } while (0)

/* A lead assigned to LT (approved), the director's second signature. */
static void
assigned_lead(const char *id)
{
    STEP(TRI, "lead", "move", id, "triage");
    STEP(TRI, "lead", "assign", id, "LT", "--due", "2025-10-15");
    STEP(DIRECTOR, "lead", "approve", id);
}

/* ---- help and usage ---- */

/* True when a usage text has line (len bytes) as one of its lines. */
static bool
synopsis_has(const char *usage, const char *line, size_t len)
{
    const char *p = usage, *nl;

    if (strncmp(p, "usage: ", 7) == 0)
        p += 7;
    for (; *p != '\0'; p = nl + 1) {
        while (*p == ' ')
            p++;
        if ((nl = strchr(p, '\n')) == NULL)
            nl = p + strlen(p);
        if ((size_t)(nl - p) == len && memcmp(p, line, len) == 0)
            return true;
        if (*nl == '\0')
            break;
    }
    return false;
}

static void
test_help_and_usage(void **state)
{
    static const char *const subs[] = {
        "add",    "list",   "show",  "move",    "pending", "approve",
        "reject", "assign", "merge", "history", "import",
    };
    struct qlt_run r, sub;
    char want[64];
    size_t i;

    (void)state;
    QL(&r, NOKEY, "lead", "--help");
    expect_ok(&r);
    assert_int_equal(strncmp(r.out, "usage: qingling lead add ", 25), 0);
    for (i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        const char *p, *nl;

        /* Each subcommand's usage is its line of the whole synopsis. */
        snprintf(want, sizeof want, "qingling lead %s ", subs[i]);
        QL(&sub, NOKEY, "lead", subs[i], "--help");
        expect_ok(&sub);
        expect_out(&sub, want);
        assert_int_equal(strncmp(sub.out, "usage: ", 7), 0);
        for (p = sub.out + 7; *p != '\0'; p = nl + 1) {
            while (*p == ' ')
                p++;
            nl = strchr(p, '\n');
            assert_non_null(nl);
            if (!synopsis_has(r.out, p, (size_t)(nl - p)))
                fail_msg("'lead %s --help' says '%.*s'", subs[i], (int)(nl - p),
                         p);
        }
        qlt_run_free(&sub);
    }
    qlt_run_free(&r);
    QL(&r, NOKEY, "lead");
    expect_fail(&r, 2, "say what to do");
    qlt_run_free(&r);
    QL(&r, NOKEY, "lead", "fly");
    expect_fail(&r, 2, "unknown lead command 'fly'");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "list", "--colour");
    expect_fail(&r, 2, "unknown option '--colour'");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "list", "-x");
    expect_fail(&r, 2, "unknown option '-x'");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "list", "--note", "x");
    expect_fail(&r, 2, "'lead list' takes no --note");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "show");
    expect_fail(&r, 2, "give one lead ID");
    qlt_run_free(&r);
    QL(&r, TRI, "lead", "move", "T-2025-0001");
    expect_fail(&r, 2, "give the lead ID and the TRANSITION");
    qlt_run_free(&r);
}

/* ---- lead add ---- */

static void
test_add(void **state)
{
    struct qlt_run r;
    json_t *o[4];
    char *rep = write_here("reporter.txt", "举报人乙\n电话 000-0000-0000\n\n");
    char *arg = malloc(strlen(rep) + 32);

    (void)state;
    add_lead("T-2025-0001", "张某某非法采砂");
    /* Labels name fields as well as names do; @FILE reads a value. */
    snprintf(arg, strlen(rep) + 32, "举报人信息=@%s", rep);
    QL(&r, REG, "--json", "lead", "add", "--workflow", "test_flow", "--field",
       "线索来源=部门移送", "--field", "主要问题=李某某把持村务", "--field",
       arg);
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 4), 1);
    assert_string_equal(jstr(o[0], "id"), "T-2025-0002");
    json_free_all(o, 1);
    qlt_run_free(&r);
    /* The registrar reads it back whole, the file without its last breaks. */
    QL(&r, REG, "--json", "lead", "show", "T-2025-0002");
    expect_ok(&r);
    expect_out(&r, "{\"name\":\"reporter\",\"label\":\"举报人信息\","
                   "\"value\":\"举报人乙\\n电话 000-0000-0000\"}");
    expect_out(&r, "\"value\":\"部门移送\"");
    qlt_run_free(&r);
    /* "@@" is a literal '@'. */
    STEP(REG, "lead", "add", "--workflow", "test_flow", "--field",
         "source=群众举报", "--field", "summary=@@某人");
    QL(&r, REG, "lead", "show", "T-2025-0003");
    expect_ok(&r);
    expect_out(&r, "主要问题 (summary):");
    expect_out(&r, " @某人\n");
    qlt_run_free(&r);
    free(arg);
    free(rep);
}

static void
test_add_missing_required(void **state)
{
    struct qlt_run r;
    struct snap s;

    (void)state;
    snap(&s);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field",
       "source=群众举报");
    expect_fail(&r, 4, "missing required field 主要问题 (summary)");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow");
    expect_fail(&r, 4,
                "missing required fields 线索来源 (source), 主要问题 "
                "(summary)");
    qlt_run_free(&r);
    /* An empty value is missing too. */
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field",
       "source=群众举报", "--field", "summary=");
    expect_fail(&r, 4, "主要问题 (summary)");
    qlt_run_free(&r);
    expect_unchanged(&s);
}

static void
test_add_bad_values(void **state)
{
    struct qlt_run r;
    struct snap s;

    (void)state;
    snap(&s);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field",
       "source=乱写", "--field", "summary=x");
    expect_fail(&r, 4,
                "线索来源 (source): '乱写' is not one of: 群众举报, "
                "部门移送");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field",
       "source=群众举报", "--field", "summary=x", "--field", "colour=red");
    expect_fail(&r, 4, "workflow 'test_flow' has no field 'colour'");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field",
       "source=群众举报", "--field", "summary=x", "--field", "amount=很多");
    expect_fail(&r, 4, "涉案金额 (amount)");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field",
       "source=群众举报", "--field", "summary=@/nonexistent/file");
    expect_fail(&r, 4, "/nonexistent/file");
    qlt_run_free(&r);
    {
        char *big = qlt_join(F->dir, "big.txt"), *nul, arg[600];
        char *buf = malloc(70 * 1024);

        memset(buf, 'x', 70 * 1024);
        qlt_write_file(big, buf, 70 * 1024);
        snprintf(arg, sizeof arg, "summary=@%s", big);
        QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field",
           "source=群众举报", "--field", arg);
        expect_fail(&r, 4, "is larger than");
        qlt_run_free(&r);
        nul = qlt_join(F->dir, "nul.txt");
        qlt_write_file(nul, "a\0b", 3);
        snprintf(arg, sizeof arg, "summary=@%s", nul);
        QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field",
           "source=群众举报", "--field", arg);
        expect_fail(&r, 4, "summary: ");
        assert_non_null(strstr(r.err, "holds a NUL byte"));
        qlt_run_free(&r);
        free(buf);
        free(big);
        free(nul);
    }
    QL(&r, REG, "lead", "add", "--workflow", "nope", "--field", "source=x");
    expect_fail(&r, 4, "nope");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "add", "--field", "source=x");
    expect_fail(&r, 4, "--workflow NAME");
    qlt_run_free(&r);
    /* A verifier may not register leads. */
    QL(&r, HC, "lead", "add", "--workflow", "test_flow", "--field",
       "source=群众举报", "--field", "summary=x");
    expect_fail(&r, 3, "register");
    qlt_run_free(&r);
    expect_unchanged(&s);
}

static void
test_bad_field_syntax(void **state)
{
    struct qlt_run r;
    struct snap s;

    (void)state;
    snap(&s);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field", "source");
    expect_fail(&r, 2, "bad --field 'source': write NAME=VALUE");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field", "=x");
    expect_fail(&r, 2, "bad --field '=x'");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field");
    expect_fail(&r, 2, "option '--field' needs a value");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "add", "--workflow", "test_flow", "--field",
       "source=群众举报", "--field", "线索来源=部门移送", "--field",
       "summary=x");
    expect_fail(&r, 2, "field 线索来源 (source) given twice");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "add", "--workflow", "a", "--workflow", "b");
    expect_fail(&r, 2, "--workflow given twice");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "add", "stray");
    expect_fail(&r, 2, "lead add takes no arguments");
    qlt_run_free(&r);
    expect_unchanged(&s);
}

/* ---- the environment: keys and the store ---- */

static void
test_missing_key_and_db(void **state)
{
    struct qlt_run r;
    struct snap s;
    const char *const args[] = {"lead",      "add",       "--workflow",
                                "test_flow", "--field",   "source=群众举报",
                                "--field",   "summary=x", NULL};
    char *key = key_path(F->dir, REG);
    const char *const nodb[] = {"--key", key, "lead", "list", NULL};

    (void)state;
    snap(&s);
    run_in(&r, F->dir, NOKEY, NULL, NULL, args);
    expect_fail(&r, 2, "no key given");
    qlt_run_free(&r);
    {
        const char *const env[] = {NOW_ENV, NULL};

        qlt_exec(&r, nodb, env, NULL);
    }
    expect_fail(&r, 2, "no store given");
    qlt_run_free(&r);
    expect_unchanged(&s);
    free(key);
}

static void
test_passphrase(void **state)
{
    struct qlt_run r;
    struct snap s;
    char *wrong = qlt_join(F->dir, "pass-wrong");
    char *right = qlt_join(F->dir, "pass-right");
    char ew[512], er[512];
    const char *const env_wrong[] = {ew, NULL};
    const char *const env_right[] = {er, NULL};

    (void)state;
    snprintf(ew, sizeof ew, "QINGLING_PASSPHRASE_FILE=%s", wrong);
    snprintf(er, sizeof er, "QINGLING_PASSPHRASE_FILE=%s", right);
    snap(&s);
    QL_ENV(&r, ENC, env_wrong, "lead", "add", "--workflow", "test_flow",
           "--field", "source=群众举报", "--field", "summary=x");
    expect_fail(&r, 4, "wrong passphrase");
    qlt_run_free(&r);
    /* Reading with a key given loads it too. */
    QL_ENV(&r, ENC, env_wrong, "lead", "list");
    expect_fail(&r, 4, "wrong passphrase");
    qlt_run_free(&r);
    expect_unchanged(&s);
    QL_ENV(&r, ENC, env_right, "lead", "add", "--workflow", "test_flow",
           "--field", "source=群众举报", "--field", "summary=x");
    expect_ok(&r);
    assert_string_equal(r.out, "T-2025-0001\n");
    qlt_run_free(&r);
    free(wrong);
    free(right);
}

static void
test_store_busy(void **state)
{
    struct ql_store *s = NULL;
    struct qlt_run r;
    struct ql_diag d;
    struct snap before;
    const char *const env[] = {"QINGLING_BUSY_TIMEOUT=300", NULL};

    (void)state;
    snap(&before);
    assert_int_equal(ql_store_open(F->db, 0, &s, &d), QL_OK);
    assert_int_equal(ql_store_begin(s, &d), QL_OK);
    QL_ENV(&r, REG, env, "lead", "add", "--workflow", "test_flow", "--field",
           "source=群众举报", "--field", "summary=x");
    ql_store_rollback(s);
    ql_store_close(s);
    expect_fail(&r, 6, "busy");
    qlt_run_free(&r);
    expect_unchanged(&before);
}

/* ---- lead move ---- */

static void
test_move(void **state)
{
    struct qlt_run r;
    json_t *o[2];
    char *note = write_here("note.txt", "已领取，\n今日研判\n");
    char *arg = malloc(strlen(note) + 2);

    (void)state;
    snprintf(arg, strlen(note) + 2, "@%s", note);
    add_lead("T-2025-0001", "张某某非法采砂");
    add_lead("T-2025-0002", "王某某");
    QL(&r, TRI, "lead", "move", "T-2025-0001", "triage", "--note", arg);
    expect_ok(&r);
    assert_string_equal(r.out, "T-2025-0001: triage (领取研判): NEW (已登记) "
                               "-> TRIAGE (研判中)\n");
    qlt_run_free(&r);
    /* A transition by its label, and JSON. */
    QL(&r, TRI, "--json", "lead", "move", "T-2025-0002", "领取研判");
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 2), 1);
    assert_string_equal(jstr(o[0], "id"), "T-2025-0002");
    assert_string_equal(jstr(o[0], "from"), "NEW");
    assert_string_equal(jstr(o[0], "to"), "TRIAGE");
    assert_string_equal(jstr(o[0], "to_label"), "研判中");
    assert_true(json_is_false(json_object_get(o[0], "pending")));
    json_free_all(o, 1);
    qlt_run_free(&r);
    /* The note is in the history, read from its file whole. */
    QL(&r, TRI, "lead", "history", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "note: 已领取，\n          今日研判\n");
    qlt_run_free(&r);
    free(arg);
    free(note);
}

static void
test_move_refusals(void **state)
{
    struct qlt_run r;
    struct snap s;

    (void)state;
    add_lead("T-2025-0001", "张某某非法采砂");
    add_lead("T-2025-0002", "李某某");
    assigned_lead("T-2025-0002");
    snap(&s);
    QL(&r, TRI, "lead", "move", "T-2025-9999", "triage");
    expect_fail(&r, 4, "no lead 'T-2025-9999'");
    qlt_run_free(&r);
    QL(&r, TRI, "lead", "show", "T-2025-9999");
    expect_fail(&r, 4, "no lead 'T-2025-9999'");
    qlt_run_free(&r);
    QL(&r, TRI, "lead", "history", "T-2025-9999");
    expect_fail(&r, 4, "no lead 'T-2025-9999'");
    qlt_run_free(&r);
    /* Illegal transition: it does not leave the lead's state. */
    QL(&r, TRI, "lead", "move", "T-2025-0001", "assign");
    expect_fail(&r, 3, "does not leave state 'NEW'");
    qlt_run_free(&r);
    QL(&r, TRI, "lead", "move", "T-2025-0001", "fly");
    expect_fail(&r, 3, "workflow 'test_flow' has no transition 'fly'");
    qlt_run_free(&r);
    /* Wrong role. */
    QL(&r, REG, "lead", "move", "T-2025-0001", "triage");
    expect_fail(&r, 3, "no role that may take 'triage'");
    qlt_run_free(&r);
    /* Another unit's lead. */
    QL(&r, QYL, "lead", "move", "T-2025-0002", "accept");
    expect_fail(&r, 3, "unit LT");
    qlt_run_free(&r);
    /* A bad value on a move. */
    QL(&r, TRI, "lead", "move", "T-2025-0001", "triage", "--field",
       "finding=也许");
    expect_fail(&r, 4,
                "核查结论 (finding): '也许' is not one of: 查实, "
                "部分查实, 查否");
    qlt_run_free(&r);
    QL(&r, TRI, "lead", "move", "T-2025-0001", "triage", "--field",
       "colour=red");
    expect_fail(&r, 4, "no field 'colour'");
    qlt_run_free(&r);
    expect_unchanged(&s);
}

/* ---- proposals: assign, pending, approve, reject ---- */

static void
test_assign_and_approve(void **state)
{
    struct qlt_run r;
    json_t *o[4];

    (void)state;
    add_lead("T-2025-0001", "张某某非法采砂");
    STEP(TRI, "lead", "move", "T-2025-0001", "triage");
    QL(&r, TRI, "lead", "assign", "T-2025-0001", "LT", "--due", "2025-10-15",
       "--note", "请尽快核查");
    expect_ok(&r);
    assert_string_equal(r.out, "T-2025-0001: assign (交办) proposed; waiting "
                               "for approval by role 'director' (主任)\n");
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "pending");
    expect_ok(&r);
    expect_out(&r, "ID           UNIT  STATE            TRANSITION     "
                   "APPROVER\n");
    expect_out(&r, "T-2025-0001  SH    TRIAGE (研判中)  assign (交办)  "
                   "director (主任)\n");
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "pending", "--json");
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 4), 1);
    assert_string_equal(jstr(o[0], "pending"), "assign");
    assert_string_equal(jstr(o[0], "pending_label"), "交办");
    assert_string_equal(jstr(o[0], "approval"), "director");
    assert_string_equal(jstr(o[0], "approval_label"), "主任");
    json_free_all(o, 1);
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "approve", "T-2025-0001");
    expect_ok(&r);
    assert_string_equal(r.out, "T-2025-0001: assign (交办) approved: TRIAGE "
                               "(研判中) -> ASSIGNED (已交办), now with unit "
                               "LT\n");
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "pending");
    expect_ok(&r);
    expect_no_out(&r, "T-2025-0001");
    qlt_run_free(&r);
    QL(&r, LLY, "--json", "lead", "list");
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 4), 1);
    assert_string_equal(jstr(o[0], "unit"), "LT");
    assert_string_equal(jstr(o[0], "state"), "ASSIGNED");
    assert_string_equal(jstr(o[0], "due"), "2025-10-15");
    json_free_all(o, 1);
    qlt_run_free(&r);
}

static void
test_approve_refusals(void **state)
{
    struct qlt_run r;
    struct snap s;

    (void)state;
    add_lead("T-2025-0001", "张某某非法采砂");
    add_lead("T-2025-0002", "李某某");
    STEP(BOTH, "lead", "move", "T-2025-0001", "triage");
    STEP(BOTH, "lead", "assign", "T-2025-0001", "QY", "--due", "2025-10-20");
    snap(&s);
    /* The proposer may not approve, even holding the approving role. */
    QL(&r, BOTH, "lead", "approve", "T-2025-0001");
    expect_fail(&r, 3,
                "'sh-both-01' proposed 'assign' and may not also "
                "approve it");
    qlt_run_free(&r);
    QL(&r, TRI, "lead", "approve", "T-2025-0001");
    expect_fail(&r, 3, "approving 'assign' needs role 'director'");
    qlt_run_free(&r);
    /* Nothing else moves while the proposal waits. */
    QL(&r, BOTH, "lead", "merge", "T-2025-0001", "T-2025-0002");
    expect_fail(&r, 3, "waiting for approval");
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "approve", "T-2025-0002");
    expect_fail(&r, 4, "lead T-2025-0002 has no proposal waiting");
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "reject", "T-2025-0002");
    expect_fail(&r, 4, "lead T-2025-0002 has no proposal waiting");
    qlt_run_free(&r);
    QL(&r, LLY, "lead", "reject", "T-2025-0001");
    expect_fail(&r, 3, "only the proposer or an approver");
    qlt_run_free(&r);
    expect_unchanged(&s);
}

static void
test_reject(void **state)
{
    struct qlt_run r;

    (void)state;
    add_lead("T-2025-0001", "冯某某霸占鱼塘");
    STEP(TRI, "lead", "move", "T-2025-0001", "triage");
    STEP(TRI, "lead", "assign", "T-2025-0001", "QY", "--due", "2025-10-20");
    QL(&r, DIRECTOR, "lead", "reject", "T-2025-0001", "--note", "期限过短");
    expect_ok(&r);
    assert_string_equal(r.out, "T-2025-0001: proposal assign (交办) "
                               "rejected; the lead stays in TRIAGE "
                               "(研判中)\n");
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "history", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "sh-zhuren-01  reject  assign (交办)  TRIAGE (研判中) -> "
                   "TRIAGE (研判中)\n    rejects proposal #");
    expect_out(&r, "note: 期限过短\n");
    qlt_run_free(&r);
    /* A new proposal may follow, and another director approves it. */
    STEP(TRI, "lead", "assign", "T-2025-0001", "QY", "--due", "2025-10-30");
    STEP(DIRECTOR, "lead", "approve", "T-2025-0001");
    QL(&r, QYL, "lead", "show", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "state       ASSIGNED (已交办)\n");
    expect_out(&r, "due         2025-10-30\n");
    expect_out(&r, "主要问题 (summary):");
    expect_out(&r, "冯某某霸占鱼塘\n");
    qlt_run_free(&r);
}

static void
test_assign_without_transition(void **state)
{
    struct qlt_run r;
    struct snap s;

    (void)state;
    add_lead("T-2025-0001", "张某某非法采砂");
    snap(&s);
    QL(&r, TRI, "lead", "assign", "T-2025-0001", "LT");
    expect_fail(&r, 3,
                "lead T-2025-0001 is in state NEW (已登记); no assign "
                "transition leaves it (only from TRIAGE)");
    qlt_run_free(&r);
    QL(&r, TRI, "lead", "merge", "T-2025-0001", "T-2025-0002");
    expect_fail(&r, 3, "no merge transition leaves it");
    qlt_run_free(&r);
    STEP(TRI, "lead", "move", "T-2025-0001", "triage");
    snap(&s);
    /* The engine checks the unit the field names. */
    QL(&r, TRI, "lead", "assign", "T-2025-0001", "NOWHERE", "--due",
       "2025-10-15");
    expect_fail(&r, 4, "NOWHERE");
    qlt_run_free(&r);
    QL(&r, TRI, "lead", "assign", "T-2025-0001", "LT", "--due", "2025-02-29");
    expect_fail(&r, 4, "核查期限 (due_at)");
    qlt_run_free(&r);
    expect_unchanged(&s);
}

static void
test_assign_other_workflow(void **state)
{
    struct qlt_run r;
    struct snap s;

    (void)state;
    STEP(REG, "lead", "add", "--workflow", "mini", "--field", "摘要=一件事");
    snap(&s);
    QL(&r, REG, "lead", "assign", "M-2025-001", "LT", "--due", "2025-10-01");
    expect_fail(&r, 2, "transition 'send' has no single due date field");
    qlt_run_free(&r);
    QL(&r, REG, "lead", "merge", "M-2025-001", "M-2025-002");
    expect_fail(&r, 3,
                "workflow 'mini' has no transition that can merge a "
                "lead");
    qlt_run_free(&r);
    expect_unchanged(&s);
    QL(&r, REG, "lead", "assign", "M-2025-001", "LT");
    expect_ok(&r);
    assert_string_equal(r.out, "M-2025-001: send (分送): NEW (新登记) -> SENT "
                               "(已分送), now with unit LT\n");
    qlt_run_free(&r);
}

static void
test_merge(void **state)
{
    struct qlt_run r;
    json_t *o[2];

    (void)state;
    add_lead("T-2025-0001", "陈某某侵占集体资产");
    add_lead("T-2025-0002", "陈某某 (同一事实)");
    STEP(TRI, "lead", "move", "T-2025-0002", "triage");
    QL(&r, TRI, "--json", "lead", "merge", "T-2025-0002", "T-2025-0001");
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 2), 1);
    assert_string_equal(jstr(o[0], "transition"), "merge");
    assert_string_equal(jstr(o[0], "to"), "MERGED");
    assert_string_equal(jstr(o[0], "to_label"), "已合并");
    json_free_all(o, 1);
    qlt_run_free(&r);
    QL(&r, TRI, "lead", "show", "T-2025-0002");
    expect_ok(&r);
    expect_out(&r, "state       MERGED (已合并)\n");
    expect_out(&r, "主线索 (master_lead):");
    expect_out(&r, " T-2025-0001\n");
    qlt_run_free(&r);
}

/* ---- reading ---- */

/* Display columns of the first n bytes of s (CJK characters take two). */
static size_t
columns(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0, i = 0;

    while (i < n) {
        if (p[i] >= 0xE3 && p[i] <= 0xE9) { /* U+3000..U+9FFF */
            w += 2;
            i += 3;
        } else if (p[i] >= 0xC0) {
            w += 1;
            i += p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : 2;
        } else {
            w += 1;
            i++;
        }
    }
    return w;
}

/* The display column where word starts on line (which must hold it). */
static size_t
column_of(const char *line, const char *word)
{
    const char *at = strstr(line, word);

    if (at == NULL)
        fail_msg("'%s' not in '%s'", word, line);
    return columns(line, (size_t)(at - line));
}

static void
test_list(void **state)
{
    const char *const later[] = {"QINGLING_NOW=2025-09-25T02:00:00Z", NULL};
    struct qlt_run r;
    json_t *o[8];
    char *lines[8], *p;
    size_t n, i;

    (void)state;
    add_lead("T-2025-0001", "一");
    add_lead("T-2025-0002", "二");
    add_lead("T-2025-0003", "三");
    STEP(TRI, "lead", "move", "T-2025-0002", "triage");
    assigned_lead("T-2025-0003");
    QL(&r, DIRECTOR, "lead", "list");
    expect_ok(&r);
    /* Columns line up whatever the width of the labels. */
    for (n = 0, p = r.out; n < 8 && *p != '\0'; n++) {
        lines[n] = p;
        p = strchr(p, '\n');
        assert_non_null(p);
        *p++ = '\0';
    }
    assert_int_equal(n, 4);
    assert_int_equal(strncmp(lines[0], "ID", 2), 0);
    for (i = 1; i < n; i++) {
        assert_int_equal(column_of(lines[i], "2025-09-15"),
                         column_of(lines[0], "REGISTERED"));
        assert_int_equal(column_of(lines[i], "2025-09-15") + 12,
                         column_of(lines[0], "DUE"));
    }
    assert_non_null(strstr(lines[1], "NEW (已登记)"));
    assert_non_null(strstr(lines[2], "TRIAGE (研判中)"));
    assert_non_null(strstr(lines[3], "ASSIGNED (已交办)"));
    assert_non_null(strstr(lines[3], "LT"));
    qlt_run_free(&r);
    /* Filters: a state by name or label, a unit. */
    QL(&r, DIRECTOR, "--json", "lead", "list", "--state", "研判中");
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 8), 1);
    assert_string_equal(jstr(o[0], "id"), "T-2025-0002");
    assert_string_equal(jstr(o[0], "state_label"), "研判中");
    json_free_all(o, 1);
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "list", "--state", "TRIAGE", "--json");
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 8), 1);
    json_free_all(o, 1);
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "list", "--unit", "LT", "--json");
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 8), 1);
    assert_string_equal(jstr(o[0], "id"), "T-2025-0003");
    json_free_all(o, 1);
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "list", "--state", "FLYING");
    expect_fail(&r, 4, "no workflow has a state 'FLYING'");
    qlt_run_free(&r);
    /* Ten days on, the leads in NEW and TRIAGE are overdue. */
    QL_ENV(&r, DIRECTOR, later, "lead", "list", "--overdue");
    expect_ok(&r);
    expect_out(&r, "T-2025-0001");
    expect_out(&r, "T-2025-0002");
    expect_no_out(&r, "T-2025-0003");
    expect_out(&r, "overdue");
    qlt_run_free(&r);
    QL_ENV(&r, NOKEY, later, "--json", "lead", "list");
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 8), 3);
    assert_true(json_is_true(json_object_get(o[0], "overdue")));
    assert_true(json_is_false(json_object_get(o[2], "overdue")));
    json_free_all(o, 3);
    qlt_run_free(&r);
}

static void
test_show(void **state)
{
    struct qlt_run r;
    json_t *o[2];

    (void)state;
    add_lead("T-2025-0001", "张某某非法采砂，强迫村民购买");
    assigned_lead("T-2025-0001");
    /* The director reads everything, the reporter too. */
    QL(&r, DIRECTOR, "lead", "show", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "lead        T-2025-0001\n");
    expect_out(&r, "workflow    test_flow (测试流程), version ");
    expect_out(&r, "unit        LT (青禾县鹭汀镇人民政府)\n");
    expect_out(&r, "state       ASSIGNED (已交办)\n");
    expect_out(&r, "registered  2025-09-15\n");
    expect_out(&r, "due         2025-10-15\n");
    expect_out(&r, "线索来源 (source):        群众举报\n");
    expect_out(&r, "主要问题 (summary):       张某某非法采砂，强迫村民购买\n");
    expect_out(&r, "举报人信息 (reporter):    举报人甲\n");
    expect_out(&r, "承办单位 (handling_unit): LT\n");
    expect_no_out(&r, "sealed");
    qlt_run_free(&r);
    /* The township reads the content, not the reporter's envelope. */
    QL(&r, LLY, "lead", "show", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "张某某非法采砂，强迫村民购买");
    expect_out(&r, "举报人信息 (reporter):    (sealed: only roles registrar, "
                   "director read it)\n");
    expect_no_out(&r, "举报人甲");
    qlt_run_free(&r);
    /* Another township reads the clear part only, and is told why. */
    QL(&r, QYL, "lead", "show", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "线索来源 (source):");
    expect_no_out(&r, "张某某");
    expect_out(&r, "content sealed: this key holds no grant for unit LT\n");
    qlt_run_free(&r);
    QL(&r, NOKEY, "lead", "show", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "content sealed: no key given");
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "lead", "show", "T-2025-0001", "--json");
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 2), 1);
    assert_string_equal(jstr(o[0], "state_label"), "已交办");
    assert_string_equal(jstr(o[0], "unit_name"), "青禾县鹭汀镇人民政府");
    assert_true(json_is_true(json_object_get(o[0], "readable")));
    assert_true(json_is_array(json_object_get(o[0], "fields")));
    assert_true(json_array_size(json_object_get(o[0], "fields")) >= 5);
    json_free_all(o, 1);
    qlt_run_free(&r);
    QL(&r, QYL, "--json", "lead", "show", "T-2025-0001");
    expect_ok(&r);
    assert_int_equal(json_lines(r.out, o, 2), 1);
    assert_true(json_is_false(json_object_get(o[0], "readable")));
    assert_string_equal(jstr(o[0], "sealed"), "content sealed: this key holds "
                                              "no grant for unit LT");
    json_free_all(o, 1);
    qlt_run_free(&r);
}

static void
test_history(void **state)
{
    struct qlt_run r;
    json_t *o[8];
    size_t n, i;

    (void)state;
    add_lead("T-2025-0001", "孙某某收过路费");
    STEP(TRI, "lead", "move", "T-2025-0001", "triage", "--note", "已领取");
    STEP(TRI, "lead", "assign", "T-2025-0001", "LT", "--due", "2025-10-15");
    STEP(DIRECTOR, "lead", "approve", "T-2025-0001");
    QL(&r, DIRECTOR, "lead", "history", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "  2025-09-15T10:00:00+08:00  sh-dengji-01  add  -> NEW "
                   "(已登记)\n    due: 2025-09-18\n    线索来源 (source): "
                   "群众举报\n");
    expect_out(&r, "    主要问题 (summary): 孙某某收过路费\n");
    expect_out(&r, "    举报人信息 (reporter): 举报人甲\n");
    expect_out(&r, "sh-yanpan-01  move  triage (领取研判)  NEW (已登记) -> "
                   "TRIAGE (研判中)\n    note: 已领取\n");
    expect_out(&r, "sh-yanpan-01  propose  assign (交办)  TRIAGE (研判中) -> "
                   "ASSIGNED (已交办)\n    needs approval by role 'director' "
                   "(主任)\n    due if approved: 2025-10-15\n");
    expect_out(&r, "    承办单位 (handling_unit): LT\n");
    expect_out(&r, "sh-zhuren-01  approve  assign (交办)  TRIAGE (研判中) -> "
                   "ASSIGNED (已交办)\n    approves proposal #");
    expect_out(&r, "    due: 2025-10-15\n");
    /* The engine's own lines stay hidden. */
    expect_no_out(&r, "_epoch");
    expect_no_out(&r, "_snapshot");
    expect_no_out(&r, "_proposal");
    expect_no_out(&r, "_due");
    expect_no_out(&r, "(sealed)");
    qlt_run_free(&r);
    /* Another unit sees metadata and clear fields only. */
    QL(&r, QYL, "lead", "history", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "    线索来源 (source): 群众举报\n    (sealed)\n");
    expect_no_out(&r, "孙某某");
    expect_no_out(&r, "已领取");
    qlt_run_free(&r);
    QL(&r, DIRECTOR, "--json", "lead", "history", "T-2025-0001");
    expect_ok(&r);
    n = json_lines(r.out, o, 8);
    assert_int_equal(n, 4);
    assert_string_equal(jstr(o[0], "action"), "lead.add");
    assert_string_equal(jstr(o[0], "local_time"), "2025-09-15T10:00:00+08:00");
    assert_string_equal(jstr(o[0], "time"), "2025-09-15T02:00:00Z");
    assert_string_equal(jstr(o[1], "note"), "已领取");
    assert_string_equal(jstr(o[1], "transition_label"), "领取研判");
    assert_string_equal(jstr(o[2], "approval"), "director");
    assert_string_equal(jstr(o[3], "to_label"), "已交办");
    assert_true(json_is_integer(json_object_get(o[3], "proposal")));
    assert_int_equal(json_integer_value(json_object_get(o[3], "proposal")),
                     json_integer_value(json_object_get(o[2], "index")));
    for (i = 1; i < n; i++)
        assert_true(json_integer_value(json_object_get(o[i], "index")) >
                    json_integer_value(json_object_get(o[i - 1], "index")));
    json_free_all(o, n);
    qlt_run_free(&r);
}

/* ---- the prompt on a terminal ---- */

static void
test_prompts_on_terminal(void **state)
{
    struct qlt_run r;
    struct qlt_pty t;
    char *key = key_path(F->dir, REG);
    int status;

    (void)state;
    {
        const char *argv[] = {"--db", F->db,        "--key",     key, "lead",
                              "add",  "--workflow", "test_flow", NULL};
        const char *envp[] = {NOW_ENV, "PATH=/usr/bin:/bin", NULL};

        qlt_pty_start(&t, argv, envp, NULL);
    }
    /* An enum is offered numbered; a wrong answer is explained and asked
       again, and the number picks the choice. */
    qlt_pty_expect(&t, "线索来源 (source):");
    qlt_pty_expect(&t, "1) 群众举报");
    qlt_pty_expect(&t, "2) 部门移送");
    qlt_pty_expect(&t, "choose 1-2 or type the value: ");
    qlt_pty_say(&t, "乱写\n");
    qlt_pty_expect(&t, "'乱写' is not one of: 群众举报, 部门移送");
    qlt_pty_expect(&t, "choose 1-2 or type the value: ");
    qlt_pty_say(&t, "2\n");
    qlt_pty_expect(&t, "主要问题 (summary): ");
    qlt_pty_say(&t, "\n");
    qlt_pty_expect(&t, "主要问题 (summary) is required");
    qlt_pty_expect(&t, "主要问题 (summary): ");
    qlt_pty_say(&t, "赵某某放贷\n");
    qlt_pty_expect(&t, "T-2025-0001");
    status = qlt_pty_wait(&t);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(t.fd);
    QL(&r, REG, "lead", "show", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "线索来源 (source):  部门移送\n");
    expect_out(&r, "主要问题 (summary): 赵某某放贷\n");
    qlt_run_free(&r);
    free(key);
}

static void
test_prompt_end_of_input(void **state)
{
    struct snap s;
    struct qlt_pty t;
    char *key = key_path(F->dir, REG);
    int status;

    (void)state;
    snap(&s);
    {
        const char *argv[] = {
            "--db", F->db,        "--key",     key,       "lead",
            "add",  "--workflow", "test_flow", "--field", "source=群众举报",
            NULL};
        const char *envp[] = {NOW_ENV, NULL};

        qlt_pty_start(&t, argv, envp, NULL);
    }
    qlt_pty_expect(&t, "主要问题 (summary): ");
    qlt_pty_say(&t, "\004"); /* end of input (VEOF) */
    qlt_pty_expect(&t, "qingling: no value given for 主要问题 (summary)");
    status = qlt_pty_wait(&t);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 4);
    close(t.fd);
    expect_unchanged(&s);
    free(key);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ---- the -wal file a move leaves ---- */

/* The log size of the store at path; UINT64_MAX when it does not open. */
static uint64_t
log_size_at(const char *path)
{
    struct ql_store *s = NULL;
    struct ql_diag d;
    uint64_t n = UINT64_MAX;

    if (ql_store_open(path, QL_STORE_READONLY, &s, &d) != QL_OK)
        return UINT64_MAX;
    assert_int_equal(ql_store_log_size(s, &n, &d), QL_OK);
    ql_store_close(s);
    return n;
}

/* Copies the store file alone into the test's folder as name. */
static char *
copy_db_alone(const char *name)
{
    char *to = qlt_join(F->dir, name), *buf;
    size_t len;

    buf = qlt_read_file(F->db, &len);
    qlt_write_file(to, buf, len);
    free(buf);
    return to;
}

/*
 * A move closes the store without a checkpoint: its entry stays in the
 * -wal file, where readers, `backup` and `audit verify` find it, and the
 * next command that closes with a checkpoint folds it into the store file.
 */
static void
test_move_keeps_the_wal(void **state)
{
    struct qlt_run r;
    struct stat sb;
    char *wal = qlt_join(F->dir, "county.db-wal"), *alone, *bak;
    uint64_t size;

    (void)state;
    add_lead("T-2025-0001", "张某某非法采砂");
    assert_int_equal(stat(wal, &sb), -1); /* lead add checkpointed */
    size = log_size_at(F->db);
    STEP(TRI, "lead", "move", "T-2025-0001", "triage");
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(sb.st_size > 0);
    assert_int_equal(log_size_at(F->db), size + 1);
    alone = copy_db_alone("alone.db");
    assert_true(log_size_at(alone) <= size);
    /* Read-only commands see the move. */
    QL(&r, TRI, "lead", "show", "T-2025-0001");
    expect_ok(&r);
    expect_out(&r, "TRIAGE");
    qlt_run_free(&r);
    /* So does the online backup. */
    bak = qlt_join(F->dir, "bak.db");
    QL(&r, ADMIN, "backup", bak);
    must(&r);
    assert_int_equal(log_size_at(bak), size + 1);
    /* A command that checkpoints folds it in; the file alone has it. */
    add_lead("T-2025-0002", "王某某");
    assert_int_equal(stat(wal, &sb), -1);
    unlink(alone);
    free(alone);
    alone = copy_db_alone("alone.db");
    assert_int_equal(log_size_at(alone), size + 2);
    free(alone);
    free(bak);
    free(wal);
}

/* Runs qingling as the holder of the key file at path (not in PEOPLE). */
static void
run_as_file(struct qlt_run *r, const char *path, const char *const *args)
{
    const char *argv[24];
    size_t n = 0, i;

    argv[n++] = "--key";
    argv[n++] = path;
    for (i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    run_in(r, F->dir, NOKEY, NULL, NULL, argv);
}

/*
 * A verifier who joins LT after a revocation cannot move a lead sealed
 * before it until someone holding LT's older key passes it on: the
 * refusal says how, `qingling key share` does it (once), and the log
 * still verifies.
 */
static void
test_key_share_unblocks_newcomer(void **state)
{
    char *nk = qlt_join(F->dir, "LT-hc-02.key");
    char *nk_pub = qlt_join(F->dir, "LT-hc-02.key.pub");
    char *admin_pub = qlt_join(F->dir, "admin.key.pub");
    const char *const progress[] = {"lead", "move", "T-2025-0001", "progress",
                                    "--note", "首次回告", NULL};
    struct qlt_run r;

    (void)state;
    add_lead("T-2025-0001", "张某某强揽工程");
    assigned_lead("T-2025-0001");
    STEP(LLY, "lead", "move", "T-2025-0001", "accept");
    STEP(NOKEY, "key", "new", nk, "--name", "LT-hc-02", "--no-passphrase");
    STEP(ADMIN, "principal", "add", nk_pub, "--unit", "LT", "--role",
         "verifier");
    STEP(ADMIN, "principal", "revoke", "LT-hc-01");
    run_as_file(&r, nk, progress);
    expect_fail(&r, 3,
                "'LT-hc-02' cannot read it: its older key reaches them with "
                "the next step in unit LT by someone who holds it, or with "
                "`qingling key share LT`");
    qlt_run_free(&r);
    QL(&r, LLY, "key", "share");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "qingling: give exactly one unit CODE\n"
                                  "usage: qingling key new"));
    qlt_run_free(&r);
    {
        /* Refusals first, then the share, then two that find nothing. */
        static const struct {
            enum who w;
            const char *json, *unit;
            int status;
            const char *says;
        } steps[] = {
            {LLY, NULL, "ZZ", 4, "unit 'ZZ'"},
            {ADMIN, NULL, "LT", 3, "'admin' may not hold unit LT's key"},
            {LLY, NULL, "LT", 0, "passed unit LT's keys on in "},
            {LLY, "--json", "LT", 0, "{\"unit\":\"LT\",\"grants\":0}"},
            {LLY, NULL, "LT", 0,
             "every holder of unit LT's keys has them already"},
        };
        size_t i;

        for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            const char *const a[] = {steps[i].json ? steps[i].json : "key",
                                     steps[i].json ? "key" : "share",
                                     steps[i].json ? "share" : steps[i].unit,
                                     steps[i].json ? steps[i].unit : NULL,
                                     NULL};

            run_in(&r, F->dir, steps[i].w, NULL, NULL, a);
            if (steps[i].status != 0) {
                expect_fail(&r, steps[i].status, steps[i].says);
            } else {
                expect_ok(&r);
                expect_out(&r, steps[i].says);
            }
            qlt_run_free(&r);
        }
    }
    run_as_file(&r, nk, progress);
    expect_ok(&r);
    qlt_run_free(&r);
    QL(&r, NOKEY, "audit", "verify", "--trust", admin_pub, "--tables");
    expect_ok(&r);
    expect_out(&r, "log verified");
    qlt_run_free(&r);
    free(nk);
    free(nk_pub);
    free(admin_pub);
}

/* ---- a store changed behind the engine's back ---- */

/*
 * Runs sql on the store file directly, as an intruder would, binding ?1
 * to the note of the entry that registered lead id's workflow with one
 * character of its payload changed (sql may leave ?1 unused).
 */
static void
raw_tamper(const char *id, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *note = NULL, *pay;
    int len;

    assert_int_equal(sqlite3_open(F->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT e.note FROM leads l JOIN workflows w ON "
                           "w.hash = l.workflow JOIN entries e ON e.idx = "
                           "w.idx WHERE l.id = ?1",
                           -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    len = sqlite3_column_bytes(st, 0);
    note = malloc((size_t)len + 1);
    memcpy(note, sqlite3_column_blob(st, 0), (size_t)len);
    note[len] = '\0';
    sqlite3_finalize(st);
    /* A character well inside the base64 payload: it still decodes. */
    pay = strstr(note, "\npayload ");
    assert_non_null(pay);
    pay += strlen("\npayload ") + 400;
    *pay = *pay == 'A' ? 'B' : 'A';
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TRIGGER entries_no_update; "
                                  "PRAGMA foreign_keys = OFF",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_bind_parameter_count(st) >= 1)
        sqlite3_bind_blob(st, 1, note, len, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(note);
}

/*
 * A move loads the lead's workflow version from the entry that registered
 * it, and checks that it hashes to the version the lead names before any
 * of it is compiled: a changed source, or a registry row pointing at
 * another entry, stops the move as a change to the store (exit 5), even
 * when the changed text no longer parses as Lua. A registry row whose
 * version was changed no longer names the lead's version (exit 4, as
 * before). Nothing is written.
 */
static void
test_move_tampered_workflow(void **state)
{
    static const struct {
        const char *what, *sql;
        int status;
        const char *msg;
    } cases[] = {
        {"the registered source",
         "UPDATE entries SET note = ?1 WHERE idx = (SELECT w.idx FROM "
         "leads l JOIN workflows w ON w.hash = l.workflow WHERE l.id = ?2)",
         5, "does not hash to"},
        {"the registry row's entry",
         "UPDATE workflows SET idx = 0 WHERE hash = (SELECT workflow FROM "
         "leads WHERE id = ?2) AND ?1 IS NOT NULL",
         5, "does not hash to"},
        {"the registry row's version",
         "UPDATE workflows SET hash = 'x' || hash WHERE hash = (SELECT "
         "workflow FROM leads WHERE id = ?2) AND ?1 IS NOT NULL",
         4, "is registered"},
    };
    struct qlt_run r;
    struct snap before;
    size_t i;

    (void)state;
    add_lead("T-2025-0001", "张某某非法采砂");
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *db = qlt_join(F->dir, "county.db");
        char *saved = qlt_join(F->dir, "saved.db");
        char *buf;
        size_t len;

        print_message("changed: %s\n", cases[i].what);
        /* Each case starts from the untouched store, its -wal folded in. */
        snap(&before);
        buf = qlt_read_file(db, &len);
        qlt_write_file(saved, buf, len);
        free(buf);
        raw_tamper("T-2025-0001", cases[i].sql);
        snap(&before);
        QL(&r, TRI, "lead", "move", "T-2025-0001", "triage");
        expect_fail(&r, cases[i].status, cases[i].msg);
        qlt_run_free(&r);
        expect_unchanged(&before);
        buf = qlt_read_file(saved, &len);
        unlink(db);
        qlt_write_file(db, buf, len);
        free(buf);
        unlink(saved);
        free(saved);
        free(db);
    }
    STEP(TRI, "lead", "move", "T-2025-0001", "triage");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_help_and_usage),
        T(test_add),
        T(test_add_missing_required),
        T(test_add_bad_values),
        T(test_bad_field_syntax),
        T(test_missing_key_and_db),
        T(test_passphrase),
        T(test_store_busy),
        T(test_move),
        T(test_move_refusals),
        T(test_assign_and_approve),
        T(test_approve_refusals),
        T(test_reject),
        T(test_assign_without_transition),
        T(test_assign_other_workflow),
        T(test_merge),
        T(test_list),
        T(test_show),
        T(test_history),
        T(test_prompts_on_terminal),
        T(test_prompt_end_of_input),
        T(test_move_keeps_the_wal),
        T(test_key_share_unblocks_newcomer),
        T(test_move_tampered_workflow),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
