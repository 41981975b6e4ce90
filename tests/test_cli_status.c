/*
 * End-to-end tests of `qingling commit`, `status` and `report` on the demo
 * county (scripts/demo.sh, played once into a temporary folder): the
 * verdicts the office reads on 2025-09-15 and after the deadline, --why,
 * --check and --json, the commitment cycle at the command line with every
 * refusal leaving the store as it was, and the reports: HTML without
 * external references that headless Chromium renders to a PNG, CSV and
 * JSON with the same data, and no secret in any of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "ql_county.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_test.h"

#define NOW_ENV "QINGLING_NOW=2025-09-15T02:00:00Z"

/* The demo county, played once; each test works on its own copy. */
static char *DEMO;

struct fx {
    char *dir, *db;
};

static struct fx *F;

static const char *
bin(void)
{
    const char *b = getenv("QINGLING_BIN");

    return b != NULL && *b != '\0' ? b : "build/qingling";
}

/* Runs a shell command; returns its exit status (or -1). */
static int
sh(const char *cmd)
{
    int st = system(cmd);

    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static void
copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *buf = qlt_read_file(from, &len);

    qlt_write_file(to, buf, len);
    free(buf);
}

static int
group_setup(void **state)
{
    struct ql_diag d;
    char cmd[4096], *dir;
    int rc;

    (void)state;
    assert_int_equal(ql_crypto_init(&d), QL_OK);
    dir = qlt_tempdir();
    DEMO = qlt_join(dir, "demo");
    snprintf(cmd, sizeof cmd,
             "QINGLING_BIN='%s' DEMO_DIR='%s' bash scripts/demo.sh "
             ">'%s/demo.out' 2>'%s/demo.err'",
             bin(), DEMO, dir, dir);
    rc = sh(cmd);
    if (rc != 0) {
        char *p = qlt_join(dir, "demo.err");
        char *err = qlt_read_file(p, NULL);

        fprintf(stderr, "demo.sh failed (%d): %s\n", rc, err);
        free(err);
        free(p);
        return -1;
    }
    free(dir);
    return 0;
}

static int
group_teardown(void **state)
{
    char *dir;

    (void)state;
    /* DEMO is <tempdir>/demo. */
    dir = strdup(DEMO);
    *strrchr(dir, '/') = '\0';
    qlt_rmtree(dir);
    free(DEMO);
    return 0;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char *from, *to;

    F = f;
    f->dir = qlt_tempdir();
    f->db = qlt_join(f->dir, "qinghe.db");
    from = qlt_join(DEMO, "qinghe.db");
    copy_file(from, f->db);
    free(from);
    from = qlt_join(DEMO, "qinghe.db.logkey");
    to = qlt_join(f->dir, "qinghe.db.logkey");
    copy_file(from, to);
    free(from);
    free(to);
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

/* ---- running the binary ---- */

/*
 * Runs qingling on the test's store as principal who (NULL: no key) at the
 * clock now (NULL: the demo's today), with the arguments that follow.
 */
static void
run_as(struct qlt_run *r, const char *who, const char *now,
       const char *const *args)
{
    const char *argv[40], *envp[4];
    char key[512], clock[64];
    size_t n = 0, i;

    argv[n++] = "--db";
    argv[n++] = F->db;
    if (who != NULL) {
        snprintf(key, sizeof key, "%s/keys/%s.key", DEMO, who);
        argv[n++] = "--key";
        argv[n++] = key;
    }
    for (i = 0; args[i] != NULL && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (now != NULL) {
        snprintf(clock, sizeof clock, "QINGLING_NOW=%s", now);
        envp[0] = clock;
    } else {
        envp[0] = NOW_ENV;
    }
    envp[1] = NULL;
    qlt_exec(r, argv, envp, NULL);
}

#define QL(r, who, ...)                                                        \
    do {                                                                       \
        const char *const args_[] = {__VA_ARGS__, NULL};                       \
        run_as((r), (who), NULL, args_);                                       \
    } while (0)

#define QL_AT(r, who, now, ...)                                                \
    do {                                                                       \
        const char *const args_[] = {__VA_ARGS__, NULL};                       \
        run_as((r), (who), (now), args_);                                      \
    } while (0)

static void
expect_ok(struct qlt_run *r)
{
    if (r->status != 0)
        fail_msg("exit %d, stderr: %s", r->status, r->err);
    assert_int_equal(r->err_len, 0);
}

/*
 * The run exited with status, printed nothing on stdout, and its error is
 * one line "qingling: ..." holding fragment (a usage error adds usage).
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
        assert_int_equal(strncmp(nl + 1, "usage: qingling ", 16), 0);
    if (strstr(r->err, fragment) == NULL || strstr(r->err, fragment) > nl)
        fail_msg("error '%s' lacks '%s'", r->err, fragment);
}

static void
expect_out(const struct qlt_run *r, const char *fragment)
{
    if (strstr(r->out, fragment) == NULL)
        fail_msg("output lacks '%s':\n%s", fragment, r->out);
}

/* The line of out that starts with prefix, which must hold fragment. */
static void
expect_line(const char *out, const char *prefix, const char *fragment)
{
    const char *p = out;
    size_t n = strlen(prefix);

    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        if (len >= n && memcmp(p, prefix, n) == 0) {
            char *line = strndup(p, len);
            bool has = strstr(line, fragment) != NULL;

            free(line);
            if (!has)
                fail_msg("line '%.*s' lacks '%s'", (int)len, p, fragment);
            return;
        }
        p = nl ? nl + 1 : NULL;
    }
    fail_msg("no line starts with '%s' in:\n%s", prefix, out);
}

/*
 * The table row of out that starts with prefix: its columns after the
 * name, spaces squeezed, must read want.
 */
static void
expect_row(const char *out, const char *prefix, const char *want)
{
    const char *p = out;
    size_t n = strlen(prefix);

    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        if (len >= n && memcmp(p, prefix, n) == 0) {
            char got[512];
            const char *q = p + n, *end = p + len;
            size_t at = 0;

            while (q < end && *q == ' ')
                q++;
            while (q < end && *q != ' ')
                q++; /* the name */
            while (q < end && *q == ' ')
                q++;
            for (; q < end && at + 1 < sizeof got; q++)
                if (*q != ' ' || (at > 0 && got[at - 1] != ' '))
                    got[at++] = *q;
            got[at] = '\0';
            /* Reasons never hold two spaces in a row. */
            if (strcmp(got, want) != 0)
                fail_msg("row '%s':\n  table '%s'\n  json  '%s'", prefix, got,
                         want);
            return;
        }
        p = nl ? nl + 1 : NULL;
    }
    fail_msg("no line starts with '%s' in:\n%s", prefix, out);
}

/* ---- store evidence ---- */

struct snap {
    uint64_t size, hash;
};

static void
snap(struct snap *s)
{
    struct ql_county *c = NULL;
    struct ql_diag d;

    assert_int_equal(ql_county_open(F->db, QL_COUNTY_READONLY, &c, &d), QL_OK);
    assert_int_equal(ql_log_size(ql_county_log(c), &s->size, &d), QL_OK);
    ql_county_close(c);
    s->hash = qlt_file_hash(F->db);
}

static void
expect_unchanged(const struct snap *before)
{
    struct snap now;

    snap(&now);
    assert_int_equal(now.size, before->size);
    assert_int_equal(now.hash, before->hash);
}

/* ---- JSON ---- */

static json_t *
parse_json(const char *out)
{
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);

    if (j == NULL)
        fail_msg("not JSON (%s): %s", err.text, out);
    return j;
}

static json_t *
unit_json(json_t *status, const char *code)
{
    json_t *units = json_object_get(status, "units"), *u;
    size_t i;

    json_array_foreach(units, i, u)
    {
        if (strcmp(json_string_value(json_object_get(u, "unit")), code) == 0)
            return u;
    }
    fail_msg("no unit %s", code);
    return NULL;
}

static const char *
jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        fail_msg("'%s' is not a string", key);
    return json_string_value(v);
}

static long long
jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("'%s' is not an integer", key);
    return json_integer_value(v);
}

/* ---- the demo county's status ---- */

static const struct {
    const char *unit, *verdict, *reason;
} DEMO_VERDICTS[] = {
    {"GA", "at-risk", "1 overdue"},
    {"LQ", "declared", "no sample drawn yet"},
    {"LT", "on-track", "2 open, none at risk"},
    {"QY", "declared", "1 spot-check pending"},
    {"TD", "at-risk", "1 due after the deadline"},
    {"ZR", "cleared", "verified 2025-09-04 by dd-pc-01"},
};

static void
test_demo_ends_with_status(void **state)
{
    char *out_path, *out, *html, line[64];
    struct stat sb;
    size_t i;

    (void)state;
    out_path = qlt_join(DEMO, "../demo.out");
    out = qlt_read_file(out_path, NULL);
    expect_line(out, "UNIT  NAME", "VERDICT");
    for (i = 0; i < sizeof DEMO_VERDICTS / sizeof DEMO_VERDICTS[0]; i++) {
        snprintf(line, sizeof line, "%-4s  ", DEMO_VERDICTS[i].unit);
        expect_line(out, line, DEMO_VERDICTS[i].verdict);
        expect_line(out, line, DEMO_VERDICTS[i].reason);
    }
    assert_non_null(strstr(out, "county figures: 16 in-scope leads"));
    html = qlt_join(DEMO, "report.html");
    assert_int_equal(stat(html, &sb), 0);
    assert_true(sb.st_size > 2000);
    free(html);
    free(out);
    free(out_path);
}

static void
test_status_text_and_json(void **state)
{
    struct qlt_run r;
    json_t *j, *c, *u;
    size_t i;

    (void)state;
    QL(&r, NULL, "status");
    expect_ok(&r);
    expect_out(&r, "cycle 2025Q3, as of 2025-09-15T10:00:00+08:00");
    for (i = 0; i < sizeof DEMO_VERDICTS / sizeof DEMO_VERDICTS[0]; i++) {
        char prefix[16];

        snprintf(prefix, sizeof prefix, "%-4s  ", DEMO_VERDICTS[i].unit);
        expect_line(r.out, prefix, DEMO_VERDICTS[i].verdict);
    }
    expect_line(r.out, "  办结率", "9/16  56.2%");
    expect_line(r.out, "  按期办结率", "5/9  55.6%");
    expect_line(r.out, "  查实率", "5/9  55.6%");
    expect_line(r.out, "  反馈率", "5/5  100.0%");
    expect_line(r.out, "  满意率", "5/7  71.4%");
    expect_line(r.out, "  退回率", "1/13  7.7%");
    expect_line(r.out, "  评查退回率", "1/5  20.0%");
    expect_line(r.out, "  逾期数", "1");
    expect_line(r.out, "  催办督办数", "1");
    expect_line(r.out, "  TD  ", "VERIFYING 1, REPORT_SUBMITTED 1, RETURNED 1");
    qlt_run_free(&r);

    QL(&r, NULL, "status", "--json");
    expect_ok(&r);
    j = parse_json(r.out);
    assert_string_equal(jstr(j, "cycle"), "2025Q3");
    assert_false(json_is_true(json_object_get(j, "all_cleared")));
    for (i = 0; i < sizeof DEMO_VERDICTS / sizeof DEMO_VERDICTS[0]; i++) {
        u = unit_json(j, DEMO_VERDICTS[i].unit);
        assert_string_equal(jstr(u, "verdict"), DEMO_VERDICTS[i].verdict);
    }
    u = unit_json(j, "ZR");
    assert_int_equal(jint(u, "in_scope"), 1);
    assert_int_equal(jint(u, "out_of_scope"), 1);
    assert_string_equal(jstr(u, "declaration"), "holds");
    u = unit_json(j, "QY");
    assert_int_equal(jint(u, "spot_pending"), 1);
    assert_int_equal(jint(u, "sample_size"), 3);
    c = json_object_get(j, "county");
    assert_int_equal(jint(c, "leads"), 16);
    assert_int_equal(jint(json_object_get(c, "completion"), "num"), 9);
    assert_int_equal(jint(json_object_get(c, "completion"), "den"), 16);
    assert_true(json_is_real(
        json_object_get(json_object_get(c, "spot_returned"), "percent")));
    assert_int_equal(json_array_size(json_object_get(j, "attention")), 2);
    json_decref(j);
    qlt_run_free(&r);
}

/*
 * The table comes from the status counts, --json from every lead: at
 * clocks before, at and after the deadline, and for another cycle, each
 * unit's row (verdict, deadline, counts, reason) and the county's
 * completion say what the JSON says.
 */
static void
test_table_matches_json(void **state)
{
    static const char *const clocks[] = {
        "2025-09-15T02:00:00Z", "2025-09-20T02:00:00Z", "2025-09-30T16:00:00Z",
        "2026-01-05T02:00:00Z"};
    static const char *const cycles[] = {"2025Q3", "2025Q4"};
    size_t i, k, n;

    (void)state;
    for (i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        for (k = 0; k < sizeof cycles / sizeof cycles[0]; k++) {
            struct qlt_run t, r;
            json_t *j, *units, *c;
            char want[64];

            print_message("table and json at %s, cycle %s\n", clocks[i],
                          cycles[k]);
            QL_AT(&t, NULL, clocks[i], "status", "--cycle", cycles[k]);
            expect_ok(&t);
            QL_AT(&r, NULL, clocks[i], "status", "--cycle", cycles[k],
                  "--json");
            expect_ok(&r);
            j = parse_json(r.out);
            units = json_object_get(j, "units");
            assert_true(json_array_size(units) > 5);
            for (n = 0; n < json_array_size(units); n++) {
                json_t *u = json_array_get(units, n);
                const char *dl = json_is_string(json_object_get(u, "deadline"))
                                     ? jstr(u, "deadline")
                                     : "-";
                char prefix[16], row[512];

                snprintf(prefix, sizeof prefix, "%s  ", jstr(u, "unit"));
                snprintf(row, sizeof row, "%s %s %lld %lld %lld %lld %s",
                         jstr(u, "verdict"), dl, jint(u, "in_scope"),
                         jint(u, "open"), jint(u, "overdue"),
                         jint(u, "out_of_scope"), jstr(u, "reason"));
                expect_row(t.out, prefix, row);
            }
            c = json_object_get(j, "county");
            snprintf(want, sizeof want, "%lld/%lld",
                     jint(json_object_get(c, "completion"), "num"),
                     jint(json_object_get(c, "completion"), "den"));
            expect_line(t.out, "  办结率", want);
            json_decref(j);
            qlt_run_free(&t);
            qlt_run_free(&r);
        }
    }
}

static void
test_check(void **state)
{
    struct qlt_run r;

    (void)state;
    QL(&r, NULL, "status", "--check");
    assert_int_equal(r.status, 1);
    expect_out(&r, "cleared");
    assert_int_equal(r.err_len, 0);
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--check", "--unit", "ZR");
    expect_ok(&r);
    expect_line(r.out, "ZR  ", "cleared");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--check", "--unit", "QY");
    assert_int_equal(r.status, 1);
    qlt_run_free(&r);
    /* A cycle nobody committed to: everyone uncommitted. */
    QL(&r, NULL, "status", "--cycle", "2025Q4", "--check");
    assert_int_equal(r.status, 1);
    expect_line(r.out, "GA  ", "uncommitted");
    expect_line(r.out, "ZR  ", "no commitment signed for cycle 2025Q4");
    qlt_run_free(&r);
}

static void
test_why(void **state)
{
    struct qlt_run r;
    json_t *j;

    (void)state;
    QL(&r, NULL, "status", "--why", "QY");
    expect_ok(&r);
    expect_out(&r, "unit QY 青禾县栖云乡人民政府: declared (已申报待核验)");
    expect_line(r.out, "QH-SH-2025-009", "spot-check-pending");
    expect_line(r.out, "QH-SH-2025-002", "sampled (passed)");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--why", "ZR");
    expect_ok(&r);
    expect_out(&r, "out of scope (registered after the cut-off 2025-08-31)");
    expect_line(r.out, "QH-SH-2025-018", "out-of-scope");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--why", "GA");
    expect_ok(&r);
    expect_line(r.out, "QH-SH-2025-011", "overdue");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--why", "TD", "--json");
    expect_ok(&r);
    j = parse_json(r.out);
    assert_string_equal(jstr(j, "verdict"), "at-risk");
    assert_int_equal(json_array_size(json_object_get(j, "leads")), 1);
    assert_string_equal(
        jstr(json_array_get(json_object_get(j, "leads"), 0), "id"),
        "QH-SH-2025-005");
    json_decref(j);
    qlt_run_free(&r);
}

/* The deadline passes at local midnight, 2025-09-30T16:00:00Z. */
static void
test_deadline_passes(void **state)
{
    struct qlt_run r;

    (void)state;
    QL_AT(&r, NULL, "2025-09-30T15:59:59Z", "status");
    expect_ok(&r);
    expect_line(r.out, "LT  ", "at-risk");
    expect_line(r.out, "GA  ", "at-risk");
    qlt_run_free(&r);
    QL_AT(&r, NULL, "2025-09-30T16:00:00Z", "status");
    expect_ok(&r);
    expect_line(r.out, "LT  ", "failed");
    expect_line(r.out, "LT  ",
                "deadline 2025-09-30 passed with 2 in-scope "
                "leads open");
    expect_line(r.out, "GA  ", "failed");
    expect_line(r.out, "TD  ", "failed");
    expect_line(r.out, "ZR  ", "cleared");
    expect_line(r.out, "QY  ", "declared");
    qlt_run_free(&r);
}

static void
test_usage_errors(void **state)
{
    struct qlt_run r;
    struct snap s;

    (void)state;
    snap(&s);
    QL(&r, NULL, "status", "--bogus");
    expect_fail(&r, 2, "unknown option '--bogus'");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "extra");
    expect_fail(&r, 2, "unexpected argument 'extra'");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--unit");
    expect_fail(&r, 2, "--unit needs a value");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--why", "QY", "--unit", "GA");
    expect_fail(&r, 2, "name different units");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--why", "XX");
    expect_fail(&r, 4, "unknown unit 'XX'");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--unit", "JW");
    expect_fail(&r, 2, "'JW' is an audit unit");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--cycle", "bad cycle");
    expect_fail(&r, 2, "invalid cycle name 'bad cycle'");
    qlt_run_free(&r);
    QL(&r, NULL, "commit");
    expect_fail(&r, 2, "say what to do");
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "frob");
    expect_fail(&r, 2, "unknown commit command 'frob'");
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "declare");
    expect_fail(&r, 2, "--unit is required");
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "sign", "--unit", "LT");
    expect_fail(&r, 2, "--cycle, --cutoff and --deadline are required");
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "declare", "--unit", "LT", "--unit", "QY");
    expect_fail(&r, 2, "--unit given twice");
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "verify", "--unit", "LT", "--text", "x");
    expect_fail(&r, 2, "unknown option '--text'");
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "spotcheck", "QH-SH-2025-009", "maybe");
    expect_fail(&r, 2, "say pass or return, not 'maybe'");
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "spotcheck", "QH-SH-2025-009");
    expect_fail(&r, 2, "missing argument");
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "declare", "--unit", "LT");
    expect_fail(&r, 2, "no key given");
    qlt_run_free(&r);
    QL(&r, NULL, "report");
    expect_fail(&r, 2, "say what to write");
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "sign", "--help");
    expect_ok(&r);
    assert_string_equal(r.out, "usage: qingling commit sign --unit CODE "
                               "--cycle NAME --cutoff DATE --deadline DATE "
                               "[--text TEXT]\n");
    qlt_run_free(&r);
    expect_unchanged(&s);
}

/* ---- the cycle at the command line ---- */

static void
test_commit_refusals(void **state)
{
    struct qlt_run r;
    struct snap s;

    (void)state;
    snap(&s);
    /* A commitment declared while a lead is open is refused. */
    QL(&r, "LT-fzr-01", "commit", "declare", "--unit", "LT");
    expect_fail(&r, 3,
                "unit LT cannot declare: 2 in-scope leads are not "
                "cleared: QH-SH-2025-013 FEEDBACK_PENDING, "
                "QH-SH-2025-015 RETURNED");
    qlt_run_free(&r);
    /* A pending spot-check blocks verification. */
    QL(&r, "dd-pc-01", "commit", "verify", "--unit", "QY");
    expect_fail(&r, 3,
                "unit QY cannot be verified while 1 spot-check is "
                "pending: QH-SH-2025-009 CLOSED");
    qlt_run_free(&r);
    QL(&r, "dd-pc-01", "commit", "verify", "--unit", "LQ");
    expect_fail(&r, 3, "has no sample yet");
    qlt_run_free(&r);
    QL(&r, "dd-pc-01", "commit", "sample", "--unit", "QY");
    expect_fail(&r, 4, "has its sample already");
    qlt_run_free(&r);
    QL(&r, "dd-pc-01", "commit", "sample", "--unit", "GA");
    expect_fail(&r, 3, "unit GA has not declared for cycle 2025Q3");
    qlt_run_free(&r);
    QL(&r, "sh-zhuren-01", "commit", "verify", "--unit", "QY");
    expect_fail(&r, 3, "needs role 'inspector'");
    qlt_run_free(&r);
    QL(&r, "LT-fzr-01", "commit", "sign", "--unit", "LT", "--cycle", "2025Q3",
       "--cutoff", "2025-08-31", "--deadline", "2025-09-30");
    expect_fail(&r, 4, "signed its commitment for 2025Q3 already");
    qlt_run_free(&r);
    QL(&r, "LT-hc-01", "commit", "sign", "--unit", "LT", "--cycle", "2025Q4",
       "--cutoff", "2025-11-30", "--deadline", "2025-12-31");
    expect_fail(&r, 3, "needs role 'head'");
    qlt_run_free(&r);
    QL(&r, "LT-fzr-01", "commit", "sign", "--unit", "LT", "--cycle", "2025Q4",
       "--cutoff", "2025-11-31", "--deadline", "2025-12-31");
    expect_fail(&r, 2, "invalid cut-off date '2025-11-31'");
    qlt_run_free(&r);
    QL(&r, "ZR-fzr-01", "commit", "declare", "--unit", "ZR");
    expect_fail(&r, 4, "unit ZR has declared already");
    qlt_run_free(&r);
    QL(&r, "ZR-fzr-01", "commit", "declare", "--unit", "ZR", "--cycle",
       "2024Q4");
    expect_fail(&r, 4, "unit ZR has no commitment for cycle 2024Q4");
    qlt_run_free(&r);
    QL(&r, "dd-pc-01", "commit", "spotcheck", "QH-SH-2025-011", "pass",
       "--field", "spot_opinion_no=评");
    expect_fail(&r, 3, "does not leave state 'VERIFYING'");
    qlt_run_free(&r);
    QL(&r, "dd-pc-01", "commit", "spotcheck", "QH-SH-2025-009", "pass",
       "--field", "nosuch=1");
    expect_fail(&r, 4, "workflow 'gang_lead' has no field 'nosuch'");
    qlt_run_free(&r);
    QL(&r, "dd-pc-01", "commit", "spotcheck", "QH-SH-2025-009", "pass");
    expect_fail(&r, 4, "needs field 评查意见书号 (spot_opinion_no)");
    qlt_run_free(&r);
    expect_unchanged(&s);
}

static void
test_commit_cycle(void **state)
{
    struct qlt_run r;
    json_t *j;

    (void)state;
    /* QY: the pending check passes, then the inspector verifies. */
    QL(&r, "dd-pc-01", "commit", "spotcheck", "QH-SH-2025-009", "pass",
       "--field", "评查意见书号=青扫评〔2025〕6号", "--note", "核查到位");
    expect_ok(&r);
    expect_out(&r, "lead QH-SH-2025-009: spot_pass");
    qlt_run_free(&r);
    QL(&r, "dd-pc-01", "commit", "verify", "--unit", "QY");
    expect_ok(&r);
    expect_out(&r, "verified 2025-09-15 by dd-pc-01");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--unit", "QY", "--check");
    expect_ok(&r);
    expect_line(r.out, "QY  ", "cleared");
    qlt_run_free(&r);

    /* LQ: the sample, then a spot-check sends a lead back: breached. */
    QL(&r, "dd-pc-01", "commit", "sample", "--unit", "LQ");
    expect_ok(&r);
    expect_out(&r, "QH-SH-2025-004");
    expect_out(&r, "QH-SH-2025-007");
    qlt_run_free(&r);
    QL(&r, "dd-pc-01", "commit", "spotcheck", "QH-SH-2025-007", "return",
       "--field", "spot_opinion_no=青扫评〔2025〕7号", "--field",
       "spot_reason=保护伞线索未移送", "--field", "redo_due=2025-10-10");
    expect_ok(&r);
    expect_out(&r, "spot_return proposed, waiting for approval");
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--why", "LQ");
    expect_ok(&r);
    expect_line(r.out, "QH-SH-2025-007", "spot-check-pending");
    qlt_run_free(&r);
    QL(&r, "sh-zhuren-01", "lead", "approve", "QH-SH-2025-007");
    expect_ok(&r);
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--unit", "LQ");
    expect_ok(&r);
    expect_line(r.out, "LQ  ", "failed");
    expect_line(r.out, "LQ  ",
                "breached: a spot-check sent QH-SH-2025-007 "
                "back");
    qlt_run_free(&r);

    /* show, as text and JSON. */
    QL(&r, NULL, "commit", "show", "--unit", "ZR");
    expect_ok(&r);
    expect_out(&r, "ZR 2025Q3: signed 2025-06-30 by ZR-fzr-01");
    expect_out(&r, "declared cleared 2025-09-01 by ZR-fzr-01");
    expect_out(&r, "sample drawn 2025-09-02 by dd-pc-01");
    expect_out(&r, "verified 2025-09-04 by dd-pc-01");
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "show", "--unit", "LQ", "--json");
    expect_ok(&r);
    j = parse_json(r.out);
    assert_string_equal(jstr(j, "cycle"), "2025Q3");
    assert_int_equal(json_array_size(json_object_get(j, "events")), 2);
    assert_string_equal(
        jstr(json_array_get(json_object_get(j, "events"), 0), "kind"),
        "declare");
    json_decref(j);
    qlt_run_free(&r);
    QL(&r, NULL, "commit", "show", "--cycle", "2024Q4");
    expect_ok(&r);
    assert_string_equal(r.out, "no commitment\n");
    qlt_run_free(&r);

    /* A new cycle signed at the command line. */
    QL(&r, "LT-fzr-01", "commit", "sign", "--unit", "LT", "--cycle", "2025Q4",
       "--cutoff", "2025-11-30", "--deadline", "2025-12-31");
    expect_ok(&r);
    expect_out(&r, "unit LT signed its commitment for 2025Q4");
    qlt_run_free(&r);

    /* The log still verifies, declarations and all. */
    {
        char *trust = qlt_join(DEMO, "keys/admin.key.pub");

        QL(&r, "sj-01", "audit", "verify", "--trust", trust);
        free(trust);
    }
    if (r.status != 0)
        fail_msg("audit verify: exit %d, %s", r.status, r.err);
    qlt_run_free(&r);
}

/* ---- reports ---- */

static bool
has(const char *text, const char *s)
{
    return strstr(text, s) != NULL;
}

/* Nothing in the page reaches outside it. */
static void
expect_self_contained(const char *page)
{
    static const char *const banned[] = {
        "http://", "https://", "<script", "@import", "url(",   "src=",
        "<link",   "<img",     "<iframe", "<object", "<embed", "href=",
    };
    size_t i;

    for (i = 0; i < sizeof banned / sizeof banned[0]; i++)
        if (has(page, banned[i]))
            fail_msg("the report holds '%s'", banned[i]);
}

static void
test_reports(void **state)
{
    char *html = qlt_join(F->dir, "r.html"), *csv = qlt_join(F->dir, "r.csv");
    char *page, *text, *bad;
    struct qlt_run r;
    json_t *j, *s;
    struct snap sn;

    (void)state;
    snap(&sn);
    /* As the director, who may read the reporter's envelope. */
    QL(&r, "sh-zhuren-01", "report", "--html", html, "--csv", csv, "--json");
    expect_ok(&r);
    j = parse_json(r.out);
    qlt_run_free(&r);
    QL(&r, NULL, "status", "--json");
    s = parse_json(r.out);
    qlt_run_free(&r);
    /* --json gives what status --json gives. */
    assert_true(json_equal(j, s));
    json_decref(s);
    json_decref(j);

    page = qlt_read_file(html, NULL);
    assert_int_equal(strncmp(page, "<!DOCTYPE html>", 15), 0);
    expect_self_contained(page);
    assert_true(has(page, "<svg"));
    assert_true(has(page, "@page{size:A4"));
    assert_true(has(page, "全面清零"));
    assert_true(has(page, "QH-SH-2025-011")); /* overdue */
    assert_true(has(page, "QH-SH-2025-005")); /* due after the deadline */
    assert_true(has(page, "9 / 16"));
    /* No sealed or secret field, whoever asks. */
    assert_false(has(page, "举报人甲"));
    assert_false(has(page, "000-0000-0000"));
    assert_false(has(page, "开设赌场"));
    assert_false(has(page, "周某某"));

    text = qlt_read_file(csv, NULL);
    assert_int_equal(strncmp(text, "\xEF\xBB\xBF\"unit\",\"name\"",
                             strlen("\xEF\xBB\xBF\"unit\",\"name\"")),
                     0);
    assert_true(
        has(text, "\"ZR\",\"青禾县自然资源局\",\"member\",\"cleared\""));
    assert_true(has(text, "\"completion\",\"线索核查办结率\",9,16,\"56.2\""));
    assert_true(has(text, "\"QH-SH-2025-011\",\"GA\",\"VERIFYING\""));
    assert_false(has(text, "举报人甲"));
    free(text);
    free(page);

    /* A report for one unit, in a folder that does not exist. */
    QL(&r, NULL, "report", "--unit", "ZR", "--html", html);
    expect_ok(&r);
    expect_out(&r, "wrote ");
    qlt_run_free(&r);
    page = qlt_read_file(html, NULL);
    assert_true(has(page, "ZR 青禾县自然资源局"));
    assert_false(has(page, "GA 青禾县公安局"));
    free(page);
    bad = qlt_join(F->dir, "no/such/dir/r.html");
    QL(&r, NULL, "report", "--html", bad);
    expect_fail(&r, 6, "cannot write");
    qlt_run_free(&r);
    free(bad);
    expect_unchanged(&sn);
    free(html);
    free(csv);
}

/*
 * Headless Chromium renders the page to a PNG. It is installed when it
 * is missing and we may (root, apt-get); otherwise the test is skipped.
 */
static void
test_chromium_renders(void **state)
{
    char *html = qlt_join(F->dir, "r.html"), *png = qlt_join(F->dir, "r.png");
    char *prof = qlt_join(F->dir, "profile"), cmd[4096];
    struct qlt_run r;
    unsigned char *bytes;
    size_t len = 0;

    (void)state;
    QL(&r, NULL, "report", "--html", html);
    expect_ok(&r);
    qlt_run_free(&r);
    if (sh("command -v chromium >/dev/null 2>&1") != 0 && geteuid() == 0) {
        fprintf(stderr, "installing chromium for the report test\n");
        sh("DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y "
           "--no-install-recommends chromium >/dev/null 2>&1 || "
           "(timeout 120 apt-get update >/dev/null 2>&1 && "
           "DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y "
           "--no-install-recommends chromium >/dev/null 2>&1)");
        /* A CJK font, so the PNG shows the Chinese; best effort. */
        sh("DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y "
           "--no-install-recommends fonts-wqy-zenhei >/dev/null 2>&1");
    }
    if (sh("command -v chromium >/dev/null 2>&1") != 0) {
        fprintf(stderr, "chromium is not installed and cannot be: the "
                        "rendering test is skipped\n");
        free(html);
        free(png);
        free(prof);
        skip();
    }
    snprintf(cmd, sizeof cmd,
             "timeout 60 chromium --headless --no-sandbox --disable-gpu "
             "--disable-background-networking --disable-component-update "
             "--disable-sync --no-first-run --user-data-dir='%s' "
             "--screenshot='%s' --window-size=1240,1754 'file://%s' "
             ">/dev/null 2>&1",
             prof, png, html);
    if (sh(cmd) != 0)
        fail_msg("chromium failed: %s", cmd);
    bytes = (unsigned char *)qlt_read_file(png, &len);
    assert_true(len > 20000);
    assert_memory_equal(bytes, "\x89PNG\r\n\x1a\n", 8);
    free(bytes);
    free(html);
    free(png);
    free(prof);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_ends_with_status),
        cmocka_unit_test_setup_teardown(test_status_text_and_json, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_table_matches_json, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_why, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chromium_renders, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
