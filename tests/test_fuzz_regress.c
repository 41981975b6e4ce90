/*
 * The fuzz harnesses without libFuzzer (docs/fuzzing.md): every file of
 * tests/fuzz/corpus/<target>/ and tests/fuzz/regress/<target>/ goes
 * through the same qlf_<target>() that `make fuzz` runs, built here with
 * the project's compiler, so `make test` and `make asan` replay them all.
 *
 * A broken invariant fails the test; a crash, a leak or undefined
 * behaviour fails it under `make asan`. Every regression input (a crash,
 * leak, timeout or broken invariant the fuzzer once found) is listed in
 * the table below with the result it must give now, and each seed that
 * must verify says so too, so that a harness that silently stops reaching
 * its code is noticed.
 *
 * Set QLF_VERBOSE=1 to see what the command-line harnesses print, and
 * QLF_ONLY=<file> to run one input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_test.h"

/* The harnesses, compiled into this program. */
#include "fuzz/qlf.c"
#include "fuzz/fuzz_audit.c"
#include "fuzz/fuzz_calendar.c"
#include "fuzz/fuzz_checkpoint.c"
#include "fuzz/fuzz_codec.c"
#include "fuzz/fuzz_cosig.c"
#include "fuzz/fuzz_entry.c"
#include "fuzz/fuzz_export.c"
#include "fuzz/fuzz_import.c"
#include "fuzz/fuzz_keyfile.c"
#include "fuzz/fuzz_merkle.c"
#include "fuzz/fuzz_note.c"
#include "fuzz/fuzz_proof.c"
#include "fuzz/fuzz_seal.c"
#include "fuzz/fuzz_state.c"
#include "fuzz/fuzz_vkey.c"
#include "fuzz/fuzz_workflow.c"

void
qlf_fail(const char *file, int line, const char *what)
{
    qlf_quiet(false);
    fail_msg("%s:%d: invariant broken: %s", file, line, what);
}

struct target {
    const char *name;
    int (*run)(const uint8_t *data, size_t size);
};

static const struct target targets[] = {
    {"audit", qlf_audit},
    {"calendar", qlf_calendar},
    {"checkpoint", qlf_checkpoint},
    {"codec", qlf_codec},
    {"cosig", qlf_cosig},
    {"entry", qlf_entry},
    {"export", qlf_export},
    {"import", qlf_import},
    {"keyfile", qlf_keyfile},
    {"merkle", qlf_merkle},
    {"note", qlf_note},
    {"proof", qlf_proof},
    {"seal", qlf_seal},
    {"state", qlf_state},
    {"vkey", qlf_vkey},
    {"workflow", qlf_workflow},
};

#define NTARGETS (sizeof targets / sizeof targets[0])

/*
 * What an input must give (qlf_last: a ql_err, or an exit code for
 * the command harnesses). Every file under tests/fuzz/regress/ is listed;
 * corpus files are listed when they must reach the end of their code.
 */
struct expect {
    const char *target, *dir, *file;
    int result;
};

static const struct expect expects[] = {
    /* Regressions. */
    {"codec", "regress", "base64-cap-one-short", QL_OK},
    {"export", "regress", "cosignature-size-negative", QL_EINTEGRITY},
    {"export", "regress", "cosignature-size-plus", QL_EINTEGRITY},
    {"proof", "regress", "first-line-form-feed", 4},
    {"proof", "regress", "first-line-trailing-words", 4},
    /* Seeds that must be accepted whole. */
    {"audit", "corpus", "gen-county", QL_OK},
    {"audit", "corpus", "gen-registry", QL_OK},
    {"audit", "corpus", "gen-genesis", QL_OK},
    {"export", "corpus", "gen-county", QL_OK},
    {"export", "corpus", "gen-small", QL_OK},
    {"note", "corpus", "example-two-signers", QL_OK},
    {"note", "corpus", "example-cosigned", QL_OK},
    {"note", "corpus", "c2sp-peterneumann", QL_OK},
    {"checkpoint", "corpus", "example-cosigned", QL_OK},
    {"cosig", "corpus", "example-cosigned", QL_OK},
    {"keyfile", "corpus", "gen-plain", QL_OK},
    {"keyfile", "corpus", "example-plain", QL_OK},
    {"keyfile", "corpus", "gen-encrypted", QL_EPASS},
    {"proof", "corpus", "gen-inclusion", 0},
    {"proof", "corpus", "gen-consistency", 0},
    {"state", "corpus", "gen-state", QL_OK},
    {"calendar", "corpus", "cn.cal", QL_OK},
    {"workflow", "corpus", "gang_lead.lua", QL_OK},
    {"import", "corpus", "leads_utf8_bom.csv", 0},
    {"import", "corpus", "leads.json", 0},
    {"entry", "corpus", "gen-17-lead.add", QL_OK},
    {"seal", "corpus", "example-grant", QL_OK},
    {"seal", "corpus", "example-payload", QL_OK},
};

#define NEXPECTS (sizeof expects / sizeof expects[0])

/* tests/fuzz, from $QL_TEST_DATA (tests/data). */
static char *
fuzz_dir(void)
{
    char *data = qlt_data_path(".");
    size_t n = strlen(data) + 16;
    char *dir = malloc(n);

    assert_non_null(dir);
    snprintf(dir, n, "%s/../fuzz", data);
    free(data);
    return dir;
}

static const struct expect *
find_expect(const char *target, const char *dir, const char *file)
{
    size_t i;

    for (i = 0; i < NEXPECTS; i++)
        if (strcmp(expects[i].target, target) == 0 &&
            strcmp(expects[i].dir, dir) == 0 &&
            strcmp(expects[i].file, file) == 0)
            return &expects[i];
    return NULL;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file names in dir, sorted; *n gets their number. */
static char **
list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    if (d == NULL)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            names = realloc(names, cap * sizeof *names);
            assert_non_null(names);
        }
        names[*n] = strdup(de->d_name);
        assert_non_null(names[*n]);
        (*n)++;
    }
    closedir(d);
    if (*n > 0)
        qsort(names, *n, sizeof *names, cmp_names);
    return names;
}

/* Runs every file of tests/fuzz/<kind>/<target>/; returns their number. */
static size_t
replay(const struct target *t, const char *kind)
{
    const char *only = getenv("QLF_ONLY");
    char *base = fuzz_dir(), *dir, *path, **names;
    size_t n = 0, i, len;
    char *data;
    const struct expect *e;

    len = strlen(base) + strlen(kind) + strlen(t->name) + 3;
    dir = malloc(len);
    assert_non_null(dir);
    snprintf(dir, len, "%s/%s/%s", base, kind, t->name);
    names = list_dir(dir, &n);
    for (i = 0; i < n; i++) {
        if (only != NULL && strcmp(only, names[i]) != 0)
            continue;
        path = qlt_join(dir, names[i]);
        data = qlt_read_file(path, &len);
        e = find_expect(t->name, kind, names[i]);
        if (strcmp(kind, "regress") == 0 && e == NULL)
            fail_msg("%s: a regression input needs its expected result in "
                     "tests/test_fuzz_regress.c",
                     path);
        qlf_last = -1;
        t->run((const uint8_t *)data, len);
        if (e != NULL && qlf_last != e->result)
            fail_msg("%s: gave %d (%s), expected %d (%s)", path, qlf_last,
                     ql_errname((ql_err)qlf_last), e->result,
                     ql_errname((ql_err)e->result));
        free(data);
        free(path);
        free(names[i]);
    }
    free(names);
    free(dir);
    free(base);
    return n;
}

static void
test_target(void **state)
{
    const struct target *t = *state;
    size_t seeds;

    seeds = replay(t, "corpus");
    replay(t, "regress");
    if (getenv("QLF_ONLY") == NULL && seeds == 0)
        fail_msg("tests/fuzz/corpus/%s is empty", t->name);
}

/* Every fuzz_<name>.c is a target here, and every expectation a file. */
static void
test_tables(void **state)
{
    char *base = fuzz_dir(), **names, *path;
    size_t n = 0, i, j;
    bool found;
    FILE *f;

    (void)state;
    names = list_dir(base, &n);
    for (i = 0; i < n; i++) {
        size_t len = strlen(names[i]);

        if (strncmp(names[i], "fuzz_", 5) != 0 || len < 8 ||
            strcmp(names[i] + len - 2, ".c") != 0)
            continue;
        found = false;
        for (j = 0; j < NTARGETS; j++)
            found =
                found || (strlen(targets[j].name) == len - 7 &&
                          strncmp(targets[j].name, names[i] + 5, len - 7) == 0);
        if (!found)
            fail_msg("tests/fuzz/%s has no entry in the targets table",
                     names[i]);
    }
    for (i = 0; i < NEXPECTS; i++) {
        size_t len = strlen(base) + 64 + strlen(expects[i].file);

        path = malloc(len);
        assert_non_null(path);
        snprintf(path, len, "%s/%s/%s/%s", base, expects[i].dir,
                 expects[i].target, expects[i].file);
        if ((f = fopen(path, "rb")) == NULL)
            fail_msg("%s is listed but missing", path);
        fclose(f);
        free(path);
    }
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(base);
}

int
main(void)
{
    struct CMUnitTest tests[NTARGETS + 1];
    char *root = qlt_data_path("../..");
    size_t i;

    /* The harnesses read the default workflow and calendar from here. */
    if (getenv("QLF_ROOT") == NULL)
        setenv("QLF_ROOT", root, 1);
    free(root);
    memset(tests, 0, sizeof tests);
    tests[0].name = "tables";
    tests[0].test_func = test_tables;
    for (i = 0; i < NTARGETS; i++) {
        tests[i + 1].name = targets[i].name;
        tests[i + 1].test_func = test_target;
        tests[i + 1].initial_state = (void *)&targets[i];
    }
    return _cmocka_run_group_tests("fuzz_regress", tests, NTARGETS + 1, NULL,
                                   NULL);
}
