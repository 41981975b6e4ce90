/*
 * Tests of `qingling lead import` (cli/lead_import.c): encodings (UTF-8
 * with and without a byte order mark, GB18030), CSV and JSON, matching
 * columns to fields, row checks, likely duplicates, all-or-nothing,
 * usage errors and refusals.
 *
 * lead_import() runs in a child process the way the binary runs a
 * command -- its own struct cli, stdout and stderr in files (or stderr on
 * a pseudo-terminal), the exit code it returns -- so each case checks the
 * exit code, the exact message and that the store is unchanged. The store
 * is set up and read back through the engine.
 */
#define _XOPEN_SOURCE 700 /* posix_openpt, for the progress test */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_test.h"

/* 2025-09-15T02:00:00Z, a Monday morning in Asia/Shanghai. */
#define NOW 1757901600

/* LLY2 is registered only by the test that needs it. */
enum who { ADMIN, REG, LLY, VER, QLLY, LLY2, NKEYS };

static const struct {
    const char *name, *unit, *roles;
} PEOPLE[NKEYS] = {
    {"admin", NULL, NULL},
    {"sh-dengji-01", "SH", "registrar"},
    {"LT-lly-01", "LT", "liaison"},
    {"LT-hc-01", "LT", "verifier"},
    {"QY-lly-01", "QY", "liaison"},
    {"LT-lly-02", "LT", "liaison"},
};

struct fx {
    char *dir, *path;
    struct ql_key *k[NKEYS];
    char *files[64];
    size_t nfiles;
};

static struct fx *F;

/* The header and a good row of the gang_lead workflow, field names. */
#define HDR                                                                    \
    "ext_ref,source,received_at,channel,named,subjects,locality,industry,"     \
    "summary\n"
#define ROW(ext, summary)                                                      \
    ext ",群众举报,2025-09-01,来信,匿名,张某,鹭汀镇,其他," summary "\n"

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct ql_county *c = NULL;
    struct ql_diag d;
    char *wf_path, *src;
    size_t len, i;

    F = f;
    assert_int_equal(ql_crypto_init(&d), QL_OK);
    f->dir = qlt_tempdir();
    f->path = qlt_join(f->dir, "county.db");
    for (i = 0; i < NKEYS; i++)
        assert_int_equal(ql_key_generate(ql_profile_default(), PEOPLE[i].name,
                                         &f->k[i], &d),
                         QL_OK);
    assert_int_equal(ql_county_create(f->path, "qinghe.test/leads",
                                      f->k[ADMIN], NULL, NOW, &d),
                     QL_OK);
    assert_int_equal(ql_county_open(f->path, 0, &c, &d), QL_OK);
    ql_county_set_now(c, NOW);
    ql_county_set_actor(c, f->k[ADMIN]);
    assert_int_equal(ql_county_unit_add(c, "SH", "青禾县扫黑办",
                                        QL_KIND_SUPERVISION, &d),
                     QL_OK);
    assert_int_equal(ql_county_unit_add(c, "LT", "青禾县鹭汀镇人民政府",
                                        QL_KIND_TOWNSHIP, &d),
                     QL_OK);
    assert_int_equal(ql_county_unit_add(c, "QY", "青禾县栖云乡人民政府",
                                        QL_KIND_TOWNSHIP, &d),
                     QL_OK);
    assert_int_equal(
        ql_county_unit_add(c, "AU", "青禾县纪委监委", QL_KIND_AUDIT, &d),
        QL_OK);
    for (i = 1; i < LLY2; i++)
        assert_int_equal(ql_county_principal_add(c, f->k[i], PEOPLE[i].unit,
                                                 PEOPLE[i].roles, &d),
                         QL_OK);
    wf_path = qlt_data_path("../../workflows/gang_lead.lua");
    src = qlt_read_file(wf_path, &len);
    assert_int_equal(
        ql_county_workflow_add(c, "gang_lead.lua", src, len, NULL, &d),
        QL_OK);
    free(src);
    free(wf_path);
    ql_county_close(c);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    size_t i;

    for (i = 0; i < NKEYS; i++)
        ql_key_free(f->k[i]);
    for (i = 0; i < f->nfiles; i++)
        free(f->files[i]);
    free(f->path);
    qlt_rmtree(f->dir);
    free(f);
    return 0;
}

/* Writes a file in the test's folder; the name lives until teardown. */
static const char *
put(const char *name, const void *buf, size_t len)
{
    char *path = qlt_join(F->dir, name);

    qlt_write_file(path, buf, len);
    assert_true(F->nfiles < sizeof F->files / sizeof F->files[0]);
    F->files[F->nfiles++] = path;
    return path;
}

static const char *
put_text(const char *name, const char *text)
{
    return put(name, text, strlen(text));
}

/* A data file's path; lives until teardown. */
static const char *
data(const char *name)
{
    char *path = qlt_data_path(name);

    assert_true(F->nfiles < sizeof F->files / sizeof F->files[0]);
    F->files[F->nfiles++] = path;
    return path;
}

static uint64_t
log_size(void)
{
    struct ql_county *c = NULL;
    struct ql_diag d;
    uint64_t n = 0;

    assert_int_equal(ql_county_open(F->path, QL_COUNTY_READONLY, &c, &d),
                     QL_OK);
    assert_int_equal(ql_log_size(ql_county_log(c), &n, &d), QL_OK);
    ql_county_close(c);
    return n;
}

/* A field of a stored lead as w reads it (caller frees), or NULL. */
static char *
lead_field(enum who w, const char *id, const char *name)
{
    struct ql_county *c = NULL;
    struct ql_lead *l = NULL;
    struct ql_diag d;
    const char *v;
    char *out = NULL;

    assert_int_equal(ql_county_open(F->path, QL_COUNTY_READONLY, &c, &d),
                     QL_OK);
    ql_county_set_now(c, NOW);
    ql_county_set_actor(c, F->k[w]);
    if (ql_lead_load(c, id, &l, &d) != QL_OK)
        fail_msg("cannot load %s: %s", id, d.msg);
    if ((v = ql_lead_get(l, name)) != NULL)
        out = strdup(v);
    ql_lead_free(l);
    ql_county_close(c);
    return out;
}

static void
expect_field(enum who w, const char *id, const char *name, const char *want)
{
    char *got = lead_field(w, id, name);

    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s %s is '%s', want '%s'", id, name, got ? got : "(none)",
                 want);
    free(got);
}

/* ---- running lead_import() as the binary would ---- */

static void
child(enum who w, const char *in, const char *out, const char *err,
      const char *tty, char **argv, int argc)
{
    struct cli cli;
    int fd, ex;

    if (in != NULL && (fd = open(in, O_RDONLY)) >= 0)
        dup2(fd, 0);
    if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0)
        dup2(fd, 1);
    fd = tty != NULL ? open(tty, O_RDWR | O_NOCTTY)
                     : open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0)
        dup2(fd, 2);
    memset(&cli, 0, sizeof cli);
    cli.db = F->path;
    cli.key = F->k[w];
    cli.now_set = true;
    cli.now = NOW;
    ex = lead_import(argc, argv, &cli);
    ql_county_close(cli.county);
    if (fflush(stdout) != 0 || ferror(stdout))
        ex = EXIT_ENV;
    fflush(stderr);
    _exit(ex);
}

/* Reads the pseudo-terminal's master side until the child is done. */
static char *
drain_tty(int m, pid_t pid, int *status)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    bool done = false;

    assert_non_null(buf);
    for (;;) {
        struct pollfd p = {m, POLLIN, 0};
        ssize_t k;

        if (poll(&p, 1, done ? 0 : 50) > 0 &&
            (k = read(m, buf + len, cap - len - 1)) > 0) {
            len += (size_t)k;
            continue;
        }
        if (done)
            break;
        done = waitpid(pid, status, WNOHANG) == pid;
    }
    buf[len] = '\0';
    return buf;
}

/*
 * Runs `qingling lead import ARGS` as w: args is NULL-terminated; stdin
 * from in (NULL: none); stderr on a pseudo-terminal when tty.
 */
static void
run(struct qlt_run *r, enum who w, const char *in, bool tty,
    const char *const *args)
{
    char *out = qlt_join(F->dir, "run.out"), *err = qlt_join(F->dir, "run.err");
    char *argv[40];
    const char *tty_name = NULL;
    int argc = 0, status = 0, m = -1;
    pid_t pid;

    argv[argc++] = (char *)"import";
    while (*args != NULL && argc < 39)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    if (tty) {
        assert_true((m = posix_openpt(O_RDWR | O_NOCTTY)) >= 0);
        assert_int_equal(grantpt(m), 0);
        assert_int_equal(unlockpt(m), 0);
        assert_non_null(tty_name = ptsname(m));
    }
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child(w, in, out, err, tty_name, argv, argc);
    memset(r, 0, sizeof *r);
    if (tty) {
        r->err = drain_tty(m, pid, &status);
        close(m);
    } else {
        waitpid(pid, &status, 0);
        r->err = qlt_read_file(err, &r->err_len);
    }
    r->status = WIFEXITED(status) ? WEXITSTATUS(status)
                                  : 128 + WTERMSIG(status);
    r->out = qlt_read_file(out, &r->out_len);
    free(out);
    free(err);
}

/* imp(&r, who, arg, ..., NULL): runs with no stdin and no terminal. */
static void
imp(struct qlt_run *r, enum who w, ...)
{
    const char *args[40];
    va_list ap;
    size_t n = 0;

    va_start(ap, w);
    while (n < 39 && (args[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    args[n] = NULL;
    run(r, w, NULL, false, args);
}

static void
expect(const struct qlt_run *r, int status, const char *err_part,
       const char *out_part)
{
    if (r->status != status)
        fail_msg("exit %d, want %d\nstderr: %s\nstdout: %s", r->status,
                 status, r->err, r->out);
    if (err_part != NULL && strstr(r->err, err_part) == NULL)
        fail_msg("stderr lacks '%s':\n%s", err_part, r->err);
    if (out_part != NULL && strstr(r->out, out_part) == NULL)
        fail_msg("stdout lacks '%s':\n%s", out_part, r->out);
}

static size_t
count_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/*
 * One refused or failed run: the exit code, a message part, nothing on
 * stdout and every error on one line each, the store as it was.
 */
struct bad_case {
    const char *name;
    enum who who;
    const char *args[12];
    int status;
    const char *msg;
};

static void
run_bad_cases(const struct bad_case *cases, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        uint64_t before = log_size();
        struct qlt_run r;

        print_message("case: %s\n", cases[i].name);
        run(&r, cases[i].who, NULL, false, cases[i].args);
        expect(&r, cases[i].status, cases[i].msg, NULL);
        if (r.out_len != 0)
            fail_msg("%s: stdout is not empty: %s", cases[i].name, r.out);
        if (strncmp(r.err, "qingling: ", 10) != 0)
            fail_msg("%s: stderr does not start 'qingling: ': %s",
                     cases[i].name, r.err);
        assert_int_equal(log_size(), before);
        qlt_run_free(&r);
    }
}

/* utf8 as GB18030 bytes (caller frees). */
static char *
to_gb18030(const char *utf8, size_t *len)
{
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    size_t in = strlen(utf8), cap = 2 * in + 8, left = cap;
    char *buf = malloc(cap), *ip = (char *)utf8, *op = buf;

    assert_true(cd != (iconv_t)-1);
    assert_non_null(buf);
    assert_true(iconv(cd, &ip, &in, &op, &left) != (size_t)-1);
    iconv_close(cd);
    *len = cap - left;
    return buf;
}

/* buf with the first `from` replaced by `to` (caller frees). */
static char *
replace(const char *buf, size_t len, const char *from, size_t flen,
        const char *to, size_t tlen, size_t *outlen)
{
    const char *at = NULL;
    char *out;
    size_t i;

    for (i = 0; i + flen <= len && at == NULL; i++)
        if (memcmp(buf + i, from, flen) == 0)
            at = buf + i;
    assert_non_null(at);
    out = malloc(len - flen + tlen);
    assert_non_null(out);
    memcpy(out, buf, (size_t)(at - buf));
    memcpy(out + (at - buf), to, tlen);
    memcpy(out + (at - buf) + tlen, at + flen,
           len - (size_t)(at - buf) - flen);
    *outlen = len - flen + tlen;
    return out;
}

/* The GB18030 sample with its bad row fixed (乱写 -> 群众举报). */
static const char *
fixed_gb18030(void)
{
    char *raw, *from, *to, *fixed;
    size_t len, flen, tlen, n;
    const char *path;
    char *src = qlt_data_path("import/leads_gb18030.csv");

    raw = qlt_read_file(src, &len);
    from = to_gb18030("乱写", &flen);
    to = to_gb18030("群众举报", &tlen);
    fixed = replace(raw, len, from, flen, to, tlen, &n);
    path = put("fixed.csv", fixed, n);
    free(src);
    free(raw);
    free(from);
    free(to);
    free(fixed);
    return path;
}

/* ---- GB18030 from Excel ---- */

static void
test_gb18030_dry_run(void **state)
{
    const char *path = data("import/leads_gb18030.csv");
    uint64_t before = log_size();
    struct qlt_run r;

    (void)state;
    imp(&r, REG, path, "--unit", "SH", "--dry-run", NULL);
    /* The bad row is named by the line its record starts on: line 5,
     * after a record over lines 2-3. */
    expect(&r, EXIT_BADINPUT,
           "leads_gb18030.csv: line 5: 线索来源 (source): '乱写' is not "
           "one of: 群众举报, 12337平台下发, 上级交办",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "leads_gb18030.csv: 1 of 5 rows is bad; nothing was imported\n",
           NULL);
    assert_int_equal(count_lines(r.err), 2);
    assert_int_equal(r.out_len, 0);
    assert_int_equal(log_size(), before);
    qlt_run_free(&r);

    /* --json: one object per row, in file order, with its line. */
    imp(&r, REG, path, "--unit", "SH", "--dry-run", "--json", NULL);
    expect(&r, EXIT_BADINPUT, "1 of 5 rows is bad", NULL);
    expect(&r, EXIT_BADINPUT, NULL,
           "{\"line\":2,\"ok\":true}\n{\"line\":4,\"ok\":true}\n"
           "{\"line\":5,\"ok\":false,\"errors\":[\"线索来源 (source): "
           "'乱写' is not one of: ");
    expect(&r, EXIT_BADINPUT, NULL,
           "]}\n{\"line\":7,\"ok\":true}\n{\"line\":10,\"ok\":true}\n");
    assert_int_equal(count_lines(r.out), 5);
    assert_int_equal(log_size(), before);
    qlt_run_free(&r);
}

static void
test_gb18030_all_or_nothing(void **state)
{
    const char *path = data("import/leads_gb18030.csv"), *fixed;
    uint64_t before = log_size();
    struct qlt_run r;
    char want[512];

    (void)state;
    /* A real import with one bad row: the same report, nothing written. */
    imp(&r, REG, path, "--unit", "SH", NULL);
    expect(&r, EXIT_BADINPUT,
           "leads_gb18030.csv: line 5: 线索来源 (source): '乱写' is not "
           "one of: ",
           NULL);
    expect(&r, EXIT_BADINPUT, "1 of 5 rows is bad; nothing was imported",
           NULL);
    assert_int_equal(count_lines(r.err), 2);
    assert_int_equal(r.out_len, 0);
    assert_int_equal(log_size(), before);
    qlt_run_free(&r);

    /* Fixed, a dry run says what it would do and writes nothing. */
    fixed = fixed_gb18030();
    imp(&r, REG, fixed, "--unit", "SH", "--dry-run", NULL);
    expect(&r, EXIT_OK, NULL, NULL);
    snprintf(want, sizeof want,
             "dry run: 5 leads from %s would be imported into unit SH; "
             "nothing was written (1 empty row skipped)\n",
             fixed);
    assert_string_equal(r.out, want);
    assert_string_equal(r.err, "");
    assert_int_equal(log_size(), before);
    qlt_run_free(&r);

    /* The real import takes every row; --json maps lines to ids. */
    imp(&r, REG, fixed, "--unit", "SH", "--json", NULL);
    expect(&r, EXIT_OK, NULL, NULL);
    assert_string_equal(r.out, "{\"line\":2,\"id\":\"QH-SH-2025-001\"}\n"
                               "{\"line\":4,\"id\":\"QH-SH-2025-002\"}\n"
                               "{\"line\":5,\"id\":\"QH-SH-2025-003\"}\n"
                               "{\"line\":7,\"id\":\"QH-SH-2025-004\"}\n"
                               "{\"line\":10,\"id\":\"QH-SH-2025-005\"}\n");
    /* Piped: no progress on stderr. */
    assert_string_equal(r.err, "");
    assert_true(log_size() >= before + 5);
    qlt_run_free(&r);

    /* Quoted commas, doubled quotes and line breaks arrive intact. */
    expect_field(REG, "QH-SH-2025-001", "ext_ref", "12337-2025-0101");
    expect_field(REG, "QH-SH-2025-001", "summary",
                 "强揽村道硬化工程，威胁其他施工队退出, 并索要\"管理费\"");
    expect_field(REG, "QH-SH-2025-001", "subjects", "王某某\n王某某团伙");
    expect_field(REG, "QH-SH-2025-001", "received_at", "2025-09-01");
    expect_field(REG, "QH-SH-2025-001", "source", "12337平台下发");
    expect_field(REG, "QH-SH-2025-002", "reporter", "李四, 138-0000-0000");
    expect_field(REG, "QH-SH-2025-003", "source", "群众举报");
    expect_field(REG, "QH-SH-2025-003", "summary",
                 "垄断农贸市场摊位，\n欺行霸市");
    /* Full-width parentheses name the enum choice; Excel's dates. */
    expect_field(REG, "QH-SH-2025-004", "named", "匿名(有查询码)");
    expect_field(REG, "QH-SH-2025-004", "subjects", "孙某\n周某");
    expect_field(REG, "QH-SH-2025-004", "summary",
                 "操纵村委会选举,\n威胁村民");
    expect_field(REG, "QH-SH-2025-004", "received_at", "2025-09-04");
    expect_field(REG, "QH-SH-2025-005", "received_at", "2025-09-05");
}

/* ---- UTF-8 with a byte order mark; JSON; stdin ---- */

static void
test_utf8_bom(void **state)
{
    const char *path = data("import/leads_utf8_bom.csv");
    struct qlt_run r;

    (void)state;
    imp(&r, QLLY, path, "--unit", "QY", "--dry-run", "--json", NULL);
    expect(&r, EXIT_OK, NULL, NULL);
    assert_string_equal(r.out,
                        "{\"line\":2,\"ok\":true}\n{\"line\":3,\"ok\":true}\n");
    qlt_run_free(&r);
    imp(&r, QLLY, path, "--unit", "QY", NULL);
    expect(&r, EXIT_OK, NULL, NULL);
    assert_string_equal(r.out,
                        "imported 2 leads: QH-SH-2025-001 .. QH-SH-2025-002\n");
    qlt_run_free(&r);
    /* The first header is read without the mark; 备注 is a label. */
    expect_field(QLLY, "QH-SH-2025-001", "ext_ref", "QY-2025-01");
    expect_field(QLLY, "QH-SH-2025-001", "note", "摸排发现");
    expect_field(QLLY, "QH-SH-2025-002", "summary",
                 "在校园周边强迫学生\"借钱\"");
    expect_field(QLLY, "QH-SH-2025-002", "subjects", "陈某\n陈某某");
}

static void
test_json(void **state)
{
    const char *path = data("import/leads.json");
    struct qlt_run r;
    char *v;

    (void)state;
    imp(&r, REG, path, "--unit", "SH", "--json", NULL);
    expect(&r, EXIT_OK, NULL, NULL);
    /* Each object's line is where its '{' is. */
    assert_string_equal(r.out, "{\"line\":2,\"id\":\"QH-SH-2025-001\"}\n"
                               "{\"line\":14,\"id\":\"QH-SH-2025-002\"}\n");
    qlt_run_free(&r);
    expect_field(REG, "QH-SH-2025-001", "source", "信访/热线转办");
    expect_field(REG, "QH-SH-2025-001", "subjects", "郑某\n郑某某");
    expect_field(REG, "QH-SH-2025-001", "summary",
                 "纠集多人在夜市收取\"保护费\"");
    v = lead_field(REG, "QH-SH-2025-001", "note");
    assert_null(v);
    expect_field(REG, "QH-SH-2025-002", "ext_ref", "20250011");
    expect_field(REG, "QH-SH-2025-002", "subjects", "卫某");
    expect_field(REG, "QH-SH-2025-002", "reporter", "何某, 139-0000-0000");

    /* Numbers become their shortest decimal text, in lists too. */
    path = put_text("num.json",
                    "[{\"ext_ref\": 0.1, \"source\": \"群众举报\", "
                    "\"received_at\": \"2025-09-01\", \"channel\": \"来信\", "
                    "\"named\": \"匿名\", \"subjects\": [\"甲\", 7, 2.5], "
                    "\"locality\": \"鹭汀镇\", \"industry\": \"其他\", "
                    "\"summary\": \"强迫交易\", \"note\": 1e2}]");
    imp(&r, REG, path, "--unit", "SH", NULL);
    expect(&r, EXIT_OK, NULL, "imported 1 lead: QH-SH-2025-003\n");
    qlt_run_free(&r);
    expect_field(REG, "QH-SH-2025-003", "ext_ref", "0.1");
    expect_field(REG, "QH-SH-2025-003", "subjects", "甲\n7\n2.5");
    expect_field(REG, "QH-SH-2025-003", "note", "100");
}

static void
test_json_bad(void **state)
{
    /* Element 1 on line 2, 2 on lines 3-5, 3 (good) on lines 6-8. */
    const char *bad = put_text(
        "bad.json",
        "[\n"
        "  1,\n"
        "  {\"source\": true, \"subjects\": {\"a\": 1},\n"
        "   \"industry\": [\"其他\"], \"channel\": \"来信\",\n"
        "   \"named\": \"匿名\", \"locality\": \"鹭汀镇\", \"summary\": \"x\"},\n"
        "  {\"source\": \"群众举报\", \"received_at\": \"2025-09-01\",\n"
        "   \"channel\": \"来信\", \"named\": \"匿名\", \"subjects\": \"张某\",\n"
        "   \"locality\": \"鹭汀镇\", \"industry\": \"其他\", \"summary\": \"y\"}\n"
        "]\n");
    const char *notarray = put_text("obj.json", "{\"source\": \"群众举报\"}");
    const char *dupkey = put_text("dup.json", "[\n {\"source\": \"群众举报\",\n"
                                              "  \"source\": \"部门移送\"}\n]");
    const char *syntax = put_text("syntax.json", "[\n{\"source\": 1,}\n]\n");
    const char *empty = put_text("empty.json", " [ ] ");
    const char *unknown = put_text("unknown.json", "[{\"mystery\": 1}]");
    const struct bad_case cases[] = {
        {"not an array", REG, {notarray, "--unit", "SH", NULL},
         EXIT_BADINPUT, "obj.json: a JSON import is an array of objects"},
        {"duplicate key", REG, {dupkey, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "dup.json: line 3, column"},
        {"syntax", REG, {syntax, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "syntax.json: line 2, column"},
        {"empty array", REG, {empty, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "empty.json holds no leads (an empty array)"},
        {"unknown key", REG, {unknown, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "unknown.json: unknown key 'mystery'; workflow gang_lead has the "
         "fields 来源编号 (ext_ref), 线索来源 (source)"},
    };
    struct qlt_run r;

    (void)state;
    run_bad_cases(cases, sizeof cases / sizeof cases[0]);
    imp(&r, REG, bad, "--unit", "SH", NULL);
    expect(&r, EXIT_BADINPUT,
           "bad.json: line 2: element 1 of the array is a number, not an "
           "object\n",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "bad.json: line 3: 线索来源 (source): the value is true or "
           "false, not text or a number\n",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "bad.json: line 3: 被举报人/组织 (subjects): the value is an "
           "object; a list is text (one item a line) or an array of texts\n",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "bad.json: line 3: 涉及行业 (industry): the value is an array, "
           "not text or a number\n",
           NULL);
    expect(&r, EXIT_BADINPUT, "bad.json: line 3: 接收时间 (received_at) is "
                              "required\n",
           NULL);
    expect(&r, EXIT_BADINPUT, "2 of 3 rows are bad; nothing was imported",
           NULL);
    assert_null(strstr(r.err, "line 6:"));
    /* A value of the wrong kind was given: it is not also "required". */
    assert_null(strstr(r.err, "(source) is required"));
    assert_null(strstr(r.err, "(subjects) is required"));
    qlt_run_free(&r);
}

static void
test_stdin(void **state)
{
    const char *args[] = {"-", "--unit", "SH", "--dry-run", NULL};
    struct qlt_run r;
    char *path = qlt_data_path("import/leads_gb18030.csv");

    (void)state;
    run(&r, REG, path, false, args);
    expect(&r, EXIT_BADINPUT,
           "qingling: stdin: line 5: 线索来源 (source): '乱写'", NULL);
    qlt_run_free(&r);
    free(path);
    path = qlt_data_path("import/leads_utf8_bom.csv");
    run(&r, REG, path, false, args);
    expect(&r, EXIT_OK, NULL,
           "dry run: 2 leads from stdin would be imported into unit SH");
    qlt_run_free(&r);
    free(path);
}

/* ---- columns ---- */

static void
test_unknown_columns(void **state)
{
    const char *two = put_text(
        "two.csv",
        "ext_ref,source,received_at,channel,named,subjects,locality,"
        "industry,summary,备注x,foo\n" ROW("E1", "x,,"));
    const char *one = put_text("one.csv",
                               "ext_ref,source,received_at,channel,named,"
                               "subjects,locality,industry,summary,foo\n" ROW(
                                   "E1", "x,"));
    const char *semi = put_text("semi.csv", "source;summary\n群众举报;x\n");
    const char *prose = put_text("prose.txt",
                                 "This is a letter, not a table.\n"
                                 "Dear sir, nothing to see here.\n");
    const char *both = put_text("both.csv",
                                "source,线索来源,received_at,channel,named,"
                                "subjects,locality,industry,summary\n"
                                "群众举报,群众举报,2025-09-01,来信,匿名,张某,"
                                "鹭汀镇,其他,x\n");
    const char *missing = put_text("missing.csv",
                                   "ext_ref,received_at,channel,subjects,"
                                   "locality,industry,summary\n"
                                   "E1,2025-09-01,来信,张某,鹭汀镇,其他,x\n");
    const struct bad_case cases[] = {
        {"two unknown", REG, {two, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "two.csv: line 1: unknown columns '备注x', 'foo'; workflow "
         "gang_lead has the fields 来源编号 (ext_ref), 线索来源 (source), "},
        {"listing ends", REG, {two, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "备注 (note); match a column to a field with --map HEADER=FIELD, "
         "or skip it with --map HEADER=-\n"},
        {"one unknown", REG, {one, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "one.csv: line 1: unknown column 'foo'; "},
        {"semicolons", REG, {semi, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "semi.csv: line 1: the header is one column 'source;summary': are "
         "the values separated by semicolons or tabs?"},
        {"prose", REG, {prose, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "prose.txt: line 1: unknown columns 'This is a letter', 'not a "
         "table.'"},
        {"two columns, one field", REG, {both, "--unit", "SH", NULL},
         EXIT_BADINPUT,
         "both.csv: line 1: columns 'source' and '线索来源' both give the "
         "field 线索来源 (source)"},
        {"required column missing", REG, {missing, "--unit", "SH", NULL},
         EXIT_BADINPUT,
         "missing.csv: no column gives the required fields 线索来源 "
         "(source), 举报方式 (named)"},
    };

    (void)state;
    run_bad_cases(cases, sizeof cases / sizeof cases[0]);
}

static void
test_map(void **state)
{
    const char *path = put_text("map.csv",
                                "编号,source,received_at,channel,named,"
                                "subjects,locality,industry,说明,内部备注\n"
                                "M-1,群众举报,2025-09-01,来信,匿名,张某,"
                                "鹭汀镇,其他,强迫交易,不导入\n");
    const struct bad_case cases[] = {
        {"unknown field", REG,
         {path, "--unit", "SH", "--map", "编号=nosuch", NULL}, EXIT_USAGE,
         "--map '编号=nosuch': workflow gang_lead has no field 'nosuch'"},
        {"no such column", REG,
         {path, "--unit", "SH", "--map", "编号=ext_ref", "--map",
          "说明=summary", "--map", "内部备注=-", "--map", "nothere=note",
          NULL},
         EXIT_USAGE, "--map 'nothere=note': " },
        {"no '='", REG, {path, "--unit", "SH", "--map", "编号", NULL},
         EXIT_USAGE, "--map takes HEADER=FIELD, not '编号'\nusage: "
                     "qingling lead import FILE --unit CODE"},
        {"no header", REG, {path, "--unit", "SH", "--map", "=ext_ref", NULL},
         EXIT_USAGE, "--map takes HEADER=FIELD, not '=ext_ref'"},
        {"blank header", REG, {path, "--unit", "SH", "--map", " =ext_ref",
                               NULL},
         EXIT_USAGE, "--map ' =ext_ref' names no header"},
        {"twice", REG,
         {path, "--unit", "SH", "--map", "编号=ext_ref", "--map",
          "编号=note", NULL},
         EXIT_USAGE, "--map names '编号' twice"},
        {"unmapped", REG, {path, "--unit", "SH", "--map", "编号=ext_ref",
                           NULL},
         EXIT_BADINPUT, "map.csv: line 1: unknown columns '说明', '内部备注'"},
    };
    struct qlt_run r;
    char *v;

    (void)state;
    run_bad_cases(cases, sizeof cases / sizeof cases[0]);
    /* A field by name or by label; "-" skips a column. */
    imp(&r, REG, path, "--unit", "SH", "--map", "编号=ext_ref", "--map",
        "说明=主要问题", "--map", "内部备注=-", NULL);
    expect(&r, EXIT_OK, NULL, "imported 1 lead: QH-SH-2025-001\n");
    qlt_run_free(&r);
    expect_field(REG, "QH-SH-2025-001", "ext_ref", "M-1");
    expect_field(REG, "QH-SH-2025-001", "summary", "强迫交易");
    v = lead_field(REG, "QH-SH-2025-001", "note");
    assert_null(v);
}

/* ---- encodings and files that are not CSV ---- */

static void
test_encodings(void **state)
{
    /* ASCII but for one Latin-1 byte, which is neither encoding's. */
    static const char latin1[] = HDR "E1,a,b\nE2,Caf\xe9,x\n";
    static const char bom_bad[] = "\xef\xbb\xbf" HDR "E1,\xff\n";
    const char *gb = data("import/leads_gb18030.csv");
    const char *bom = data("import/leads_utf8_bom.csv");
    const char *lat = put("latin1.csv", latin1, sizeof latin1 - 1);
    const char *bb = put("bombad.csv", bom_bad, sizeof bom_bad - 1);
    const char *u16 = put("u16.csv", "\xff\xfes\0o\0", 6);
    char *gbhdr, *gbbad, *gbcut;
    const char *p80, *pcut;
    size_t n, at = (size_t)(strstr(latin1, "Caf\xe9") + 3 - latin1);
    size_t bat = sizeof "\xef\xbb\xbf" HDR "E1," - 1;
    char m1[200], m2[200], m3[200], m4[200];

    (void)state;
    gbhdr = to_gb18030(HDR "E1,群众举报,2025-09-01,来信,匿名,张某,鹭汀镇,"
                           "其他,x\n",
                       &n);
    gbbad = malloc(n + 1);
    assert_non_null(gbbad);
    memcpy(gbbad, gbhdr, n);
    gbbad[n] = '\x80'; /* on line 3 */
    p80 = put("gb80.csv", gbbad, n + 1);
    gbcut = malloc(n + 1);
    assert_non_null(gbcut);
    memcpy(gbcut, gbhdr, n);
    gbcut[n] = '\xc0'; /* a lead byte with nothing after it */
    pcut = put("gbcut.csv", gbcut, n + 1);
    snprintf(m1, sizeof m1,
             "latin1.csv: line 3: byte 0xe9 at offset %zu is not valid "
             "UTF-8 (saved by Excel in China? try --encoding gb18030)",
             at);
    snprintf(m2, sizeof m2,
             "latin1.csv is neither UTF-8 (line 3: byte 0xe9 at offset %zu) "
             "nor GB18030 (line 3: byte 0xe9 at offset %zu)",
             at, at);
    snprintf(m4, sizeof m4,
             "bombad.csv: line 2: byte 0xff at offset %zu is not valid "
             "UTF-8\n",
             bat);
    snprintf(m3, sizeof m3,
             "gb80.csv: line 3: byte 0x80 at offset %zu is not valid "
             "GB18030",
             n);
    {
        const struct bad_case cases[] = {
            {"utf-8, strict", REG,
             {lat, "--unit", "SH", "--encoding", "utf-8", NULL},
             EXIT_BADINPUT, m1},
            {"auto, neither", REG, {lat, "--unit", "SH", NULL},
             EXIT_BADINPUT, m2},
            {"gb18030 read as utf-8", REG,
             {gb, "--unit", "SH", "--encoding", "utf8", NULL},
             EXIT_BADINPUT,
             "leads_gb18030.csv: line 1: byte 0xc0 at offset 0 is not "
             "valid UTF-8"},
            {"mark, then not utf-8", REG, {bb, "--unit", "SH", NULL},
             EXIT_BADINPUT, m4},
            {"gb18030 with a mark", REG,
             {bom, "--unit", "SH", "--encoding", "gb18030", NULL},
             EXIT_BADINPUT,
             "leads_utf8_bom.csv starts with a UTF-8 byte order mark, but "
             "--encoding gb18030 was given"},
            {"gb18030, bad byte", REG,
             {p80, "--unit", "SH", "--encoding", "gb18030", NULL},
             EXIT_BADINPUT, m3},
            {"gb18030, cut short", REG,
             {pcut, "--unit", "SH", "--encoding", "gb18030", NULL},
             EXIT_BADINPUT,
             "gbcut.csv: line 3: the file ends inside a GB18030 character"},
            {"utf-16", REG, {u16, "--unit", "SH", NULL}, EXIT_BADINPUT,
             "u16.csv is UTF-16 text (it starts with a UTF-16 byte order "
             "mark): save it as \"CSV UTF-8\" or \"CSV\""},
        };

        run_bad_cases(cases, sizeof cases / sizeof cases[0]);
    }
    /* Explicit GB18030 reads the Excel file as auto does. */
    {
        struct qlt_run r;

        imp(&r, REG, gb, "--unit", "SH", "--encoding", "GB18030",
            "--dry-run", NULL);
        expect(&r, EXIT_BADINPUT, "leads_gb18030.csv: line 5: 线索来源",
               NULL);
        qlt_run_free(&r);
        /* A GB18030 file that ends in a whole character reads in auto. */
        imp(&r, REG, put("gbok.csv", gbhdr, n), "--unit", "SH", "--dry-run",
            NULL);
        expect(&r, EXIT_OK, NULL, "dry run: 1 lead from ");
        qlt_run_free(&r);
    }
    free(gbhdr);
    free(gbbad);
    free(gbcut);
}

static void
test_not_csv(void **state)
{
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const char *bin = put("image.csv", png, sizeof png - 1);
    const char *quote = put_text(
        "quote.csv", HDR ROW("E1", "ok") "E2,群众举报,2025-09-01,来信,匿名,"
                                         "张\"某,鹭汀镇,其他,x\n");
    const char *after = put_text("after.csv",
                                 HDR "E1,群众举报,2025-09-01,来信,匿名,"
                                     "\"张某\"x,鹭汀镇,其他,x\n");
    const char *open_q = put_text("open.csv",
                                  HDR ROW("E1", "ok") "E2,群众举报,2025-09-01,"
                                                      "来信,匿名,张某,鹭汀镇,"
                                                      "其他,\"never\nclosed\n");
    const char *empty = put_text("empty.csv", "");
    const char *bom_only = put_text("bom.csv", "\xef\xbb\xbf");
    const char *spaces = put_text("spaces.csv", " \n\n \t \r\n");
    const char *header = put_text("header.csv", HDR);
    const char *blanks = put_text("blanks.csv", HDR ",,,,,,,,\n\n  , ,\n");
    const char *none = put_text("x", "");
    char nosuch[512];
    const struct bad_case cases[] = {
        {"binary", REG, {bin, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "image.csv: line 2: byte 0x1a at offset 6 is a control character: "
         "this is not a CSV or JSON text file"},
        {"quote inside a value", REG, {quote, "--unit", "SH", NULL},
         EXIT_BADINPUT,
         "quote.csv: line 3: not valid CSV: a quote inside an unquoted "
         "value, or text after a closing quote"},
        {"text after a quote", REG, {after, "--unit", "SH", NULL},
         EXIT_BADINPUT, "after.csv: line 2: not valid CSV"},
        {"quote never closed", REG, {open_q, "--unit", "SH", NULL},
         EXIT_BADINPUT,
         "open.csv: line 3: a quoted value that starts in this row is "
         "never closed"},
        {"empty", REG, {empty, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "empty.csv is empty\n"},
        {"only a mark", REG, {bom_only, "--unit", "SH", NULL},
         EXIT_BADINPUT, "bom.csv is empty\n"},
        {"only white space", REG, {spaces, "--unit", "SH", NULL},
         EXIT_BADINPUT, "spaces.csv is empty\n"},
        {"only a header", REG, {header, "--unit", "SH", NULL},
         EXIT_BADINPUT, "header.csv holds no leads (only a header)"},
        {"only empty rows", REG, {blanks, "--unit", "SH", NULL},
         EXIT_BADINPUT, "blanks.csv holds no leads (only empty rows)"},
        {"no such file", REG, {nosuch, "--unit", "SH", NULL}, EXIT_BADINPUT,
         "cannot open '"},
    };

    (void)state;
    snprintf(nosuch, sizeof nosuch, "%s.missing", none);
    run_bad_cases(cases, sizeof cases / sizeof cases[0]);
}

/* The bounds on what one import reads. */
static void
test_limits(void **state)
{
    size_t cap = 40u * 1024 * 1024, i;
    char *buf = malloc(cap), *p;
    const char *cols, *keys, *rows, *jrows, *big;

    (void)state;
    assert_non_null(buf);
    p = buf;
    for (i = 0; i <= 1024; i++)
        p += snprintf(p, 16, "%sc%zu", i > 0 ? "," : "", i);
    *p++ = '\n';
    cols = put("cols.csv", buf, (size_t)(p - buf));
    p = buf;
    *p++ = '[';
    *p++ = '{';
    for (i = 0; i <= 1024; i++)
        p += snprintf(p, 24, "%s\"k%zu\":1", i > 0 ? "," : "", i);
    p += snprintf(p, 8, "}]");
    keys = put("keys.json", buf, (size_t)(p - buf));
    p = buf + snprintf(buf, 16, "summary\n");
    for (i = 0; i <= 100000; i++) {
        *p++ = 'x';
        *p++ = '\n';
    }
    rows = put("rows.csv", buf, (size_t)(p - buf));
    p = buf;
    *p++ = '[';
    for (i = 0; i <= 100000; i++) {
        *p++ = '1';
        *p++ = i < 100000 ? ',' : ']';
    }
    jrows = put("rows.json", buf, (size_t)(p - buf));
    memset(buf, ' ', 32u * 1024 * 1024 + 1);
    big = put("big.csv", buf, 32u * 1024 * 1024 + 1);
    free(buf);
    {
        const struct bad_case cases[] = {
            {"columns", REG, {cols, "--unit", "SH", NULL}, EXIT_BADINPUT,
             "cols.csv has more than 1024 columns\n"},
            {"keys", REG, {keys, "--unit", "SH", NULL}, EXIT_BADINPUT,
             "keys.json has more than 1024 keys\n"},
            {"rows", REG, {rows, "--unit", "SH", NULL}, EXIT_BADINPUT,
             "rows.csv has more than 100000 rows: split it into smaller "
             "files\n"},
            {"JSON rows", REG, {jrows, "--unit", "SH", NULL}, EXIT_BADINPUT,
             "rows.json has more than 100000 rows: split it into smaller "
             "files\n"},
            {"bytes", REG, {big, "--unit", "SH", NULL}, EXIT_BADINPUT,
             "big.csv' is larger than 33554432 bytes\n"},
        };

        run_bad_cases(cases, sizeof cases / sizeof cases[0]);
    }
}

/* ---- rows ---- */

static void
test_row_problems(void **state)
{
    static const char *const texts[] = {
        "summary",        "umbrella_detail", "review_note",
        "decline_reason", "progress_note",   "extension_reason",
        "assets",         "review_opinion",  "return_request",
        "spot_reason",    "note",            "findings_detail",
        "offence_types",  "contact_log",     "evidence",
        "results",
    };
    char *big = malloc(200000), *p;
    const char *huge, *shape, *req, *extra, *entry;
    size_t i, j;
    struct qlt_run r;
    uint64_t before;

    (void)state;
    assert_non_null(big);
    /* A summary over its field's limit, and one over any value's. */
    p = big;
    p += snprintf(p, 1000, "%s%s", HDR, "E1,群众举报,2025-09-01,来信,匿名,"
                                        "张某,鹭汀镇,其他,");
    memset(p, 'x', 5000);
    p += 5000;
    p += snprintf(p, 1000, "\nE2,群众举报,2025-09-01,来信,匿名,张某,鹭汀镇,"
                           "其他,");
    memset(p, 'y', 70000);
    p += 70000;
    *p++ = '\n';
    huge = put("huge.csv", big, (size_t)(p - big));
    /* Values past the header, too few values, a value under no header. */
    shape = put_text("shape.csv",
                     "ext_ref,source,received_at,channel,named,subjects,"
                     "locality,industry,summary,\n" ROW("E1", "ok,")
                         ROW("E2", "ok,,,") ROW("E3", "ok,,extra")
                             "E4,群众举报,2025-09-01\n" ROW("E5", "ok,oops"));
    /* Required fields, bad values, several problems in one row. */
    req = put_text("req.csv", HDR "E1,,2025/2/30,来信,匿名,张某,鹭汀镇,其他,x\n"
                                  "E2,群众举报,2025-09-01,飞鸽,匿名,张某,"
                                  "鹭汀镇,其他,\n");
    extra = put_text("ok_extra.csv", HDR ROW("E1", "ok,,"));
    /* Every text field full: more than one log entry holds. */
    p = big;
    p += snprintf(p, 1000, "source,received_at,channel,named,subjects,"
                           "locality,industry");
    for (i = 0; i < sizeof texts / sizeof texts[0]; i++)
        p += snprintf(p, 100, ",%s", texts[i]);
    p += snprintf(p, 1000, "\n群众举报,2025-09-01,来信,匿名,张某,鹭汀镇,其他");
    for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = strcmp(texts[i], "findings_detail") == 0 ? 8000 : 4000;

        *p++ = ',';
        for (j = 0; j < n; j++)
            *p++ = (char)('a' + j % 26);
    }
    *p++ = '\n';
    entry = put("entry.csv", big, (size_t)(p - big));
    free(big);

    before = log_size();
    imp(&r, REG, huge, "--unit", "SH", NULL);
    expect(&r, EXIT_BADINPUT,
           "huge.csv: line 2: 主要问题 (summary): 5000 bytes, the limit is "
           "4000\n",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "huge.csv: line 3: column 9 ('summary') holds 70000 bytes; no "
           "value may be longer than 65535\n",
           NULL);
    expect(&r, EXIT_BADINPUT, "huge.csv: 2 of 2 rows are bad", NULL);
    qlt_run_free(&r);

    /* (Their summaries are the same: that is not what this is about.) */
    imp(&r, REG, shape, "--unit", "SH", "--allow-duplicates", NULL);
    assert_null(strstr(r.err, "line 2:"));
    assert_null(strstr(r.err, "line 3:"));
    expect(&r, EXIT_BADINPUT,
           "shape.csv: line 4: 11 values, but the header has 10 columns\n",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "shape.csv: line 5: 3 values, but the header has 10 columns\n",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "shape.csv: line 6: column 10 has no header but holds 'oops'\n",
           NULL);
    expect(&r, EXIT_BADINPUT, "shape.csv: 3 of 5 rows are bad", NULL);
    qlt_run_free(&r);

    imp(&r, REG, req, "--unit", "SH", NULL);
    expect(&r, EXIT_BADINPUT, "req.csv: line 2: 接收时间 (received_at): ",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "req.csv: line 2: 线索来源 (source) is required\n", NULL);
    expect(&r, EXIT_BADINPUT,
           "req.csv: line 3: 接收方式 (channel): '飞鸽' is not one of: 来信",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "req.csv: line 3: 主要问题 (summary) is required\n", NULL);
    expect(&r, EXIT_BADINPUT, "req.csv: 2 of 2 rows are bad", NULL);
    /* Every problem of each row, in order: two for each. */
    assert_int_equal(count_lines(r.err), 5);
    qlt_run_free(&r);

    imp(&r, REG, entry, "--unit", "SH", NULL);
    expect(&r, EXIT_BADINPUT,
           "entry.csv: line 2: its fields make a log entry of about ", NULL);
    expect(&r, EXIT_BADINPUT,
           "bytes, and an entry holds at most 65535: shorten the longest "
           "texts\n",
           NULL);
    qlt_run_free(&r);
    assert_int_equal(log_size(), before);

    /* Empty values past the header are fine. */
    imp(&r, REG, extra, "--unit", "SH", NULL);
    expect(&r, EXIT_OK, NULL, "imported 1 lead: QH-SH-2025-001\n");
    qlt_run_free(&r);
}

/* ---- likely duplicates ---- */

static void
test_duplicates(void **state)
{
    const char *twice = put_text("twice.csv", HDR ROW("D-1", "放高利贷")
                                                  ROW("D-1", "暴力催收"));
    const char *same = put_text(
        "same.csv", HDR "C-1,群众举报,2025-09-01,来信,匿名,\"甲\n乙\",鹭汀镇,"
                        "其他,放  高利贷\n"
                        "C-2,部门移送,2025-09-02,来电,实名,\"乙\n 甲 \","
                        "栖云乡,金融放贷, 放 高利贷\n");
    const char *single = put_text("single.csv", HDR ROW("D-1", "放高利贷"));
    uint64_t before = log_size();
    struct qlt_run r;

    (void)state;
    /* The same ext_ref twice in the file: the second is refused. */
    imp(&r, REG, twice, "--unit", "SH", NULL);
    expect(&r, EXIT_BADINPUT,
           "twice.csv: line 3: likely duplicate: 来源编号 (ext_ref) 'D-1' is "
           "also on line 2\n",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "twice.csv: 1 of 2 rows is bad; nothing was imported "
           "(--allow-duplicates imports likely duplicates)\n",
           NULL);
    assert_int_equal(log_size(), before);
    qlt_run_free(&r);

    /* Same subjects (in any order) and summary, white space aside. */
    imp(&r, REG, same, "--unit", "SH", "--dry-run", NULL);
    expect(&r, EXIT_BADINPUT,
           "same.csv: line 4: likely duplicate: the same 被举报人/组织 "
           "(subjects) and 主要问题 (summary) as line 2\n",
           NULL);
    qlt_run_free(&r);

    imp(&r, REG, twice, "--unit", "SH", "--allow-duplicates", NULL);
    expect(&r, EXIT_OK, NULL,
           "imported 2 leads: QH-SH-2025-001 .. QH-SH-2025-002\n");
    qlt_run_free(&r);
    before = log_size();

    /* Against the leads in the unit. */
    imp(&r, REG, single, "--unit", "SH", NULL);
    expect(&r, EXIT_BADINPUT,
           "single.csv: line 2: likely duplicate: 来源编号 (ext_ref) 'D-1' "
           "is already lead QH-SH-2025-001\n",
           NULL);
    expect(&r, EXIT_BADINPUT,
           "single.csv: line 2: likely duplicate: the same 被举报人/组织 "
           "(subjects) and 主要问题 (summary) as lead QH-SH-2025-001\n",
           NULL);
    assert_int_equal(log_size(), before);
    qlt_run_free(&r);
    imp(&r, REG, single, "--unit", "SH", "--dry-run", "--allow-duplicates",
        NULL);
    expect(&r, EXIT_OK, NULL, "dry run: 1 lead from ");
    qlt_run_free(&r);
    imp(&r, REG, single, "--unit", "SH", "--allow-duplicates", NULL);
    expect(&r, EXIT_OK, NULL, "imported 1 lead: QH-SH-2025-003\n");
    qlt_run_free(&r);

    /* Only the unit's own leads count: LT has none of these. */
    imp(&r, LLY, single, "--unit", "LT", NULL);
    expect(&r, EXIT_OK, NULL, "imported 1 lead: QH-SH-2025-004\n");
    qlt_run_free(&r);
}

/*
 * A principal registered after the unit's leads holds no key to them
 * until a holder grants it: those leads cannot be compared, and the
 * importer is told so.
 */
static void
test_duplicates_unreadable(void **state)
{
    const char *one = put_text("one.csv", HDR ROW("U-1", "放高利贷"));
    const char *two = put_text("two.csv", HDR ROW("U-2", "强迫交易"));
    struct ql_county *c = NULL;
    struct ql_diag d;
    struct qlt_run r;
    uint64_t before;

    (void)state;
    imp(&r, LLY, one, "--unit", "LT", NULL);
    expect(&r, EXIT_OK, NULL, "imported 1 lead: QH-SH-2025-001\n");
    qlt_run_free(&r);
    assert_int_equal(ql_county_open(F->path, 0, &c, &d), QL_OK);
    ql_county_set_now(c, NOW);
    ql_county_set_actor(c, F->k[ADMIN]);
    assert_int_equal(ql_county_principal_add(c, F->k[LLY2], "LT", "liaison",
                                             &d),
                     QL_OK);
    ql_county_close(c);
    imp(&r, LLY2, two, "--unit", "LT", "--dry-run", NULL);
    expect(&r, EXIT_OK,
           "qingling: note: 1 lead in unit LT could not be read with this "
           "key and was not compared for duplicates\n",
           "dry run: 1 lead from ");
    qlt_run_free(&r);
    /* Registering needs that key too: the engine refuses the first row,
     * and nothing is written. */
    before = log_size();
    imp(&r, LLY2, two, "--unit", "LT", NULL);
    expect(&r, EXIT_REFUSED,
           "two.csv: line 2: 'LT-lly-02' holds no key to unit LT's content; "
           "nothing was imported\n",
           NULL);
    assert_int_equal(r.out_len, 0);
    assert_int_equal(log_size(), before);
    qlt_run_free(&r);
}

/* ---- the command line and who may import ---- */

static void
test_usage(void **state)
{
    const char *f = data("import/leads_utf8_bom.csv");
    const struct bad_case cases[] = {
        {"no unit", REG, {f, NULL}, EXIT_USAGE,
         "qingling: --unit CODE is required: the unit the leads are "
         "registered in\nusage: qingling lead import FILE --unit CODE "
         "[--workflow NAME] [--dry-run] [--encoding auto|utf-8|gb18030] "
         "[--map HEADER=FIELD]... [--allow-duplicates] [--json]\n"},
        {"no file", REG, {"--unit", "SH", NULL}, EXIT_USAGE,
         "give the FILE to import"},
        {"two files", REG, {f, f, "--unit", "SH", NULL}, EXIT_USAGE,
         "give one FILE to import"},
        {"no value", REG, {f, "--unit", NULL}, EXIT_USAGE,
         "--unit needs a value"},
        {"unknown option", REG, {f, "--unit", "SH", "--bogus", NULL},
         EXIT_USAGE, "unknown option '--bogus'"},
        {"bad encoding", REG,
         {f, "--unit", "SH", "--encoding", "latin1", NULL}, EXIT_USAGE,
         "--encoding is auto, utf-8 or gb18030, not 'latin1'"},
    };

    (void)state;
    run_bad_cases(cases, sizeof cases / sizeof cases[0]);
}

static void
test_refused(void **state)
{
    const char *f = data("import/leads_utf8_bom.csv");
    const struct bad_case cases[] = {
        {"no role to register", VER, {f, "--unit", "LT", NULL},
         EXIT_REFUSED,
         "'LT-hc-01' has no role that may register leads in workflow "
         "gang_lead"},
        {"no role, dry run too", VER, {f, "--unit", "LT", "--dry-run", NULL},
         EXIT_REFUSED, "has no role that may register leads"},
        {"another unit", LLY, {f, "--unit", "QY", NULL}, EXIT_REFUSED,
         "'LT-lly-01' of unit LT may not register leads in unit QY"},
        {"audit unit", REG, {f, "--unit", "AU", NULL}, EXIT_REFUSED,
         "unit 'AU' is an audit unit and holds no leads"},
        {"unknown unit", REG, {f, "--unit", "ZZ", NULL}, EXIT_BADINPUT,
         "unknown unit 'ZZ'"},
        {"the administrator", ADMIN, {f, "--unit", "SH", NULL},
         EXIT_REFUSED,
         "key 'admin' belongs to no registered principal: leads are "
         "registered "
         "with a unit member's key"},
        {"unknown workflow", REG,
         {f, "--unit", "SH", "--workflow", "nosuch", NULL}, EXIT_BADINPUT,
         "nosuch"},
    };
    struct ql_county *c = NULL;
    struct ql_diag d;
    struct qlt_run r;

    (void)state;
    run_bad_cases(cases, sizeof cases / sizeof cases[0]);
    /* A revoked principal. */
    assert_int_equal(ql_county_open(F->path, 0, &c, &d), QL_OK);
    ql_county_set_now(c, NOW);
    ql_county_set_actor(c, F->k[ADMIN]);
    assert_int_equal(ql_county_principal_revoke(c, "QY-lly-01", &d), QL_OK);
    ql_county_close(c);
    {
        const struct bad_case revoked[] = {
            {"revoked", QLLY, {f, "--unit", "QY", NULL}, EXIT_REFUSED,
             "principal 'QY-lly-01' is revoked"},
        };

        run_bad_cases(revoked, 1);
    }
    /* A township liaison registers in its own unit. */
    imp(&r, LLY, f, "--unit", "LT", NULL);
    expect(&r, EXIT_OK, NULL,
           "imported 2 leads: QH-SH-2025-001 .. QH-SH-2025-002\n");
    qlt_run_free(&r);
}

/* A write that fails in the environment: no log key beside the store. */
static void
test_write_fails(void **state)
{
    const char *f = data("import/leads_utf8_bom.csv");
    char *key = qlt_join(F->dir, "county.db.logkey");
    char *moved = qlt_join(F->dir, "logkey.away");
    uint64_t before = log_size();
    struct qlt_run r;

    (void)state;
    assert_int_equal(rename(key, moved), 0);
    imp(&r, REG, f, "--unit", "SH", NULL);
    if (r.status != EXIT_ENV && r.status != EXIT_BADINPUT &&
        r.status != EXIT_INTEGRITY)
        fail_msg("exit %d: %s", r.status, r.err);
    expect(&r, r.status, "leads_utf8_bom.csv: ", NULL);
    expect(&r, r.status, "; nothing was imported\n", NULL);
    assert_int_equal(count_lines(r.err), 1);
    assert_int_equal(r.out_len, 0);
    qlt_run_free(&r);
    assert_int_equal(rename(moved, key), 0);
    assert_int_equal(log_size(), before);
    free(key);
    free(moved);
}

/* Progress on a terminal; nothing but the result when piped. */
static void
test_progress(void **state)
{
    const char *args[] = {NULL, "--unit", "SH", NULL};
    struct qlt_run r;

    (void)state;
    args[0] = fixed_gb18030();
    run(&r, REG, NULL, true, args);
    expect(&r, EXIT_OK, "\rimported 5/5", NULL);
    assert_string_equal(r.out, "imported 5 leads: QH-SH-2025-001 .. "
                               "QH-SH-2025-005 (1 empty row skipped)\n");
    qlt_run_free(&r);
}

/*
 * The same through the binary, once `qingling lead import` is wired into
 * the command table; skipped until then.
 */
static void
test_binary(void **state)
{
    char *keyfile = qlt_join(F->dir, "reg.key");
    const char *f = data("import/leads_gb18030.csv");
    const char *env[] = {"QINGLING_NOW=2025-09-15T02:00:00Z", NULL};
    const char *argv[] = {"--db", F->path, "--key", keyfile, "lead", "import",
                          f, "--unit", "SH", NULL};
    const char *bin = getenv("QINGLING_BIN");
    uint64_t before = log_size();
    struct ql_diag d;
    struct qlt_run r;

    (void)state;
    if (access(bin != NULL ? bin : "build/qingling", X_OK) != 0) {
        free(keyfile);
        skip();
    }
    assert_int_equal(ql_keyfile_write(keyfile, F->k[REG], NULL, 0,
                                      QL_KEYFILE_PLAINTEXT, &d),
                     QL_OK);
    qlt_exec(&r, argv, env, NULL);
    if (r.status == EXIT_USAGE) {
        qlt_run_free(&r);
        free(keyfile);
        skip();
    }
    expect(&r, EXIT_BADINPUT,
           "leads_gb18030.csv: line 5: 线索来源 (source): '乱写'", NULL);
    assert_int_equal(log_size(), before);
    qlt_run_free(&r);
    argv[6] = fixed_gb18030();
    qlt_exec(&r, argv, env, NULL);
    expect(&r, EXIT_OK, NULL,
           "imported 5 leads: QH-SH-2025-001 .. QH-SH-2025-005");
    qlt_run_free(&r);
    free(keyfile);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_gb18030_dry_run),
        T(test_gb18030_all_or_nothing),
        T(test_utf8_bom),
        T(test_json),
        T(test_json_bad),
        T(test_stdin),
        T(test_unknown_columns),
        T(test_map),
        T(test_encodings),
        T(test_not_csv),
        T(test_limits),
        T(test_row_problems),
        T(test_duplicates),
        T(test_duplicates_unreadable),
        T(test_usage),
        T(test_refused),
        T(test_write_fails),
        T(test_progress),
        T(test_binary),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
