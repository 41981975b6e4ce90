/*
 * Many processes on one store, and processes killed mid-write.
 *
 * Concurrency: several children register and move leads in one store at
 * once; afterwards the indexes are dense, nothing reported as committed is
 * missing, the tables equal a replay of the log, and the log verifies.
 *
 * Crashes: a child registers leads and reports each one the moment its
 * commit returns; the parent kills it with SIGKILL after a random number
 * of reports, wherever it then is (inside SQLite, signing, appending).
 * Each time the store must open, replay must match, the log must verify
 * and every reported lead must be there. QL_CRASH_ROUNDS sets the rounds
 * (default 25; `make crashtest` runs hundreds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ql_audit.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_test.h"

#define NOW 1757901600

struct fx {
    char *dir, *path;
    struct ql_key *admin, *reg, *tri;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct ql_county *c = NULL;
    struct ql_diag d;
    char *wf_path, *src;
    size_t len;

    assert_int_equal(ql_crypto_init(&d), QL_OK);
    f->dir = qlt_tempdir();
    f->path = qlt_join(f->dir, "county.db");
    assert_int_equal(ql_key_generate(ql_profile_default(), "admin", &f->admin,
                                     &d),
                     QL_OK);
    assert_int_equal(ql_key_generate(ql_profile_default(), "sh-dengji-01",
                                     &f->reg, &d),
                     QL_OK);
    assert_int_equal(ql_key_generate(ql_profile_default(), "sh-yanpan-01",
                                     &f->tri, &d),
                     QL_OK);
    assert_int_equal(ql_county_create(f->path, "qinghe.test/leads", f->admin,
                                      NULL, NOW, &d),
                     QL_OK);
    assert_int_equal(ql_county_open(f->path, 0, &c, &d), QL_OK);
    ql_county_set_now(c, NOW);
    ql_county_set_actor(c, f->admin);
    assert_int_equal(ql_county_unit_add(c, "SH", "青禾县扫黑办",
                                        QL_KIND_SUPERVISION, &d),
                     QL_OK);
    assert_int_equal(ql_county_principal_add(c, f->reg, "SH", "registrar",
                                             &d),
                     QL_OK);
    assert_int_equal(ql_county_principal_add(c, f->tri, "SH", "triage", &d),
                     QL_OK);
    wf_path = qlt_data_path("wf_test.lua");
    src = qlt_read_file(wf_path, &len);
    assert_int_equal(ql_county_workflow_add(c, "wf_test.lua", src, len, NULL,
                                            &d),
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

    ql_key_free(f->admin);
    ql_key_free(f->reg);
    ql_key_free(f->tri);
    free(f->path);
    qlt_rmtree(f->dir);
    free(f);
    return 0;
}

/*
 * The child's work: register n leads (and triage each), writing each id to
 * fd as soon as its commit has returned. Exits 0, or 1 on a failure.
 */
static void
child_work(const struct fx *f, int fd, int n, bool triage)
{
    struct ql_wf_kv fields[] = {{"source", "群众举报"},
                                {"summary", "并发测试"}};
    struct ql_county *c = NULL;
    struct ql_diag d;
    char id[80], line[96];
    int i;

    if (ql_county_open(f->path, 0, &c, &d) != QL_OK)
        _exit(1);
    ql_county_set_now(c, NOW);
    for (i = 0; i < n; i++) {
        ql_county_set_actor(c, f->reg);
        if (ql_lead_add(c, "test_flow", NULL, fields, 2, id, &d) != QL_OK) {
            fprintf(stderr, "child: %s\n", d.msg);
            _exit(1);
        }
        snprintf(line, sizeof line, "add %s\n", id);
        if (write(fd, line, strlen(line)) < 0)
            _exit(1);
        if (!triage)
            continue;
        ql_county_set_actor(c, f->tri);
        if (ql_lead_move(c, id, "triage", NULL, 0, NULL, NULL, &d) != QL_OK) {
            fprintf(stderr, "child: %s\n", d.msg);
            _exit(1);
        }
        snprintf(line, sizeof line, "move %s\n", id);
        if (write(fd, line, strlen(line)) < 0)
            _exit(1);
    }
    ql_county_close(c);
    _exit(0);
}

/* Checks the store after the children: replay, audit, reported leads. */
static void
check_store(const struct fx *f, const char *reports, size_t len)
{
    struct ql_audit_result res;
    struct ql_county *c = NULL;
    struct ql_lead *l = NULL;
    struct ql_diag d;
    const char *p = reports, *end = reports + len;

    assert_int_equal(ql_county_open(f->path, 0, &c, &d), QL_OK);
    if (ql_county_replay_check(c, &d) != QL_OK)
        fail_msg("replay: %s", d.msg);
    if (ql_audit_verify(c, f->admin, &res, &d) != QL_OK)
        fail_msg("audit: %s", d.msg);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        char what[8], id[80];

        if (nl == NULL)
            break; /* a report cut by the kill is not a report */
        if (sscanf(p, "%7s %79s", what, id) == 2) {
            ql_county_set_actor(c, f->reg);
            if (ql_lead_load(c, id, &l, &d) != QL_OK)
                fail_msg("reported lead %s is missing: %s", id, d.msg);
            if (strcmp(what, "move") == 0 &&
                strcmp(ql_lead_state(l), "TRIAGE") != 0)
                fail_msg("reported move of %s is missing", id);
            ql_lead_free(l);
        }
        p = nl + 1;
    }
    ql_county_close(c);
}

/* Reads everything from fd until EOF. */
static char *
slurp(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ssize_t r;

    while ((r = read(fd, buf + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    *len = n;
    return buf;
}

static void
test_concurrent_writers(void **state)
{
    struct fx *f = *state;
    enum { KIDS = 4, EACH = 15 };
    int fds[2], status, i, ok = 0;
    pid_t pids[KIDS];
    size_t len;
    char *all;

    assert_int_equal(pipe(fds), 0);
    for (i = 0; i < KIDS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(fds[0]);
            child_work(f, fds[1], EACH, true);
        }
    }
    close(fds[1]);
    all = slurp(fds[0], &len);
    close(fds[0]);
    for (i = 0; i < KIDS; i++) {
        waitpid(pids[i], &status, 0);
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    assert_int_equal(ok, KIDS);
    check_store(f, all, len);
    {
        /* Every lead got a distinct id: KIDS * EACH of them. */
        struct ql_county *c = NULL;
        struct ql_diag d;
        struct ql_lead *l = NULL;
        char id[32];

        assert_int_equal(ql_county_open(f->path, 0, &c, &d), QL_OK);
        ql_county_set_actor(c, f->reg);
        snprintf(id, sizeof id, "T-2025-%04d", KIDS * EACH);
        assert_int_equal(ql_lead_load(c, id, &l, &d), QL_OK);
        ql_lead_free(l);
        snprintf(id, sizeof id, "T-2025-%04d", KIDS * EACH + 1);
        assert_int_equal(ql_lead_load(c, id, &l, &d), QL_ENOTFOUND);
        ql_county_close(c);
    }
    free(all);
}

static void
test_killed_mid_write(void **state)
{
    struct fx *f = *state;
    const char *env = getenv("QL_CRASH_ROUNDS");
    int rounds = env ? atoi(env) : 25;
    uint64_t seed = 0x5eed;
    char *reports = NULL;
    size_t total = 0;
    int r;

    for (r = 0; r < rounds; r++) {
        int fds[2], status, want = 1 + (int)(qlt_rand(&seed) % 4), got = 0;
        char buf[4096];
        size_t n = 0;
        ssize_t k;
        pid_t pid;

        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_work(f, fds[1], 1000, (r & 1) != 0);
        }
        close(fds[1]);
        /* Kill it right after its want-th report, mid-way through the next
           write: where exactly depends on the scheduler, not on a clock. */
        while (got < want && (k = read(fds[0], buf + n,
                                       sizeof buf - n - 1)) > 0) {
            n += (size_t)k;
            buf[n] = '\0';
            got = 0;
            for (char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
                got++;
        }
        kill(pid, SIGKILL);
        while ((k = read(fds[0], buf + n, sizeof buf - n - 1)) > 0)
            n += (size_t)k;
        close(fds[0]);
        waitpid(pid, &status, 0);
        /* Keep whole lines only: the kill may cut the last one. */
        while (n > 0 && buf[n - 1] != '\n')
            n--;
        reports = realloc(reports, total + n + 1);
        memcpy(reports + total, buf, n);
        total += n;
        /* A line cut by the kill is dropped by check_store. */
        check_store(f, reports, total);
    }
    free(reports);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_killed_mid_write, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
