/*
 * Many processes on one store, and processes killed mid-write.
 *
 * Concurrency: several children register and move leads in one store at
 * once; afterwards the indexes are dense, nothing reported as committed is
 * missing, the tables equal a replay of the log, and the log verifies.
 *
 * Crashes: rounds of three kinds on one store, each ending in SIGKILL
 * unless the child finished first, and each leaving its damage, if any,
 * to the rounds after it:
 *
 *   add     a child registers leads (and triages them every other round),
 *           reporting each commit the moment it returns;
 *   move    a child moves existing leads along the workflow -- triage, an
 *           assignment proposed by one person and approved (the lead is
 *           then re-sealed under the other unit's key) or rejected by
 *           another, accept, progress, report, return, close -- reporting
 *           each commit; one round in four it first replaces a second
 *           liaison of the township, so the next write there opens a new
 *           key epoch and re-seals what it moves;
 *   import  the real binary runs `qingling lead import` on a CSV or JSON
 *           file of 50 to 200 rows (mostly near 50).
 *
 * Kill moments come from the child's own progress, never from a clock:
 * after a random number of reports and then a random number of further
 * write calls (the child's syscw in /proc/PID/io); for an import, when
 * its write calls or its CPU time (/proc/PID/schedstat) reach a random
 * mark, or never. The parent only polls. (Where /proc cannot be read,
 * the kill comes at once.)
 *
 * After every round the store opens (read-only half the time, as an
 * auditor's command would open it first), SQLite's integrity check
 * passes, replay matches, the log verifies, the entry, tree, checkpoint
 * and lead id indexes are dense, every commit reported in any round so far
 * is there, and the round's import is there whole or not at all -- whole
 * when the command exited 0. An import killed after its commit is run
 * again, as its user would, and must be refused as duplicates.
 *
 * QL_CRASH_ROUNDS: rounds of each kind (default 12). QL_CRASH_SEED: the
 * seed of every random choice (default fixed; `make crashtest` draws
 * one). The kill moments also depend on the scheduler, so a seed replays
 * the choices, not always the exact kill. A failure names the seed, the
 * round and its kill, and keeps the store. QL_CRASH_VERBOSE=1 prints a
 * line per round.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ql_audit.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_store.h"
#include "ql_test.h"

/* 2025-09-15T02:00:00Z, a Monday morning in Asia/Shanghai. */
#define NOW 1757901600
#define NOW_TEXT "2025-09-15T02:00:00Z"

enum who { ADMIN, REG, TRI, DIR, LT_LLY, LT_HC, QY_LLY, QY_HC, NKEYS };

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
    {"QY-hc-01", "QY", "verifier"},
};

/* Second liaisons of LT, LT-lly-02 onwards, one per replacement. */
#define NSPARE 40

struct fx {
    char *dir, *path, *regkey;
    struct ql_key *k[NKEYS];
    struct ql_key *spare[NSPARE];
    bool keep; /* a failed round keeps the store for a look */
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct ql_county *c = NULL;
    struct ql_diag d;
    char *wf_path, *src, name[32];
    size_t len, i;

    assert_int_equal(ql_crypto_init(&d), QL_OK);
    f->dir = qlt_tempdir();
    f->path = qlt_join(f->dir, "county.db");
    f->regkey = qlt_join(f->dir, "reg.key");
    for (i = 0; i < NKEYS; i++)
        assert_int_equal(
            ql_key_generate(ql_profile_default(), PEOPLE[i].name, &f->k[i], &d),
            QL_OK);
    for (i = 0; i < NSPARE; i++) {
        snprintf(name, sizeof name, "LT-lly-%02zu", i + 2);
        assert_int_equal(
            ql_key_generate(ql_profile_default(), name, &f->spare[i], &d),
            QL_OK);
    }
    assert_int_equal(ql_keyfile_write(f->regkey, f->k[REG], NULL, 0,
                                      QL_KEYFILE_PLAINTEXT, &d),
                     QL_OK);
    assert_int_equal(ql_county_create(f->path, "qinghe.test/leads", f->k[ADMIN],
                                      NULL, NOW, &d),
                     QL_OK);
    assert_int_equal(ql_county_open(f->path, 0, &c, &d), QL_OK);
    ql_county_set_now(c, NOW);
    ql_county_set_actor(c, f->k[ADMIN]);
    assert_int_equal(
        ql_county_unit_add(c, "SH", "青禾县扫黑办", QL_KIND_SUPERVISION, &d),
        QL_OK);
    assert_int_equal(ql_county_unit_add(c, "LT", "青禾县鹭汀镇人民政府",
                                        QL_KIND_TOWNSHIP, &d),
                     QL_OK);
    assert_int_equal(ql_county_unit_add(c, "QY", "青禾县栖云乡人民政府",
                                        QL_KIND_TOWNSHIP, &d),
                     QL_OK);
    for (i = 1; i < NKEYS; i++)
        assert_int_equal(ql_county_principal_add(c, f->k[i], PEOPLE[i].unit,
                                                 PEOPLE[i].roles, &d),
                         QL_OK);
    wf_path = qlt_data_path("wf_test.lua");
    src = qlt_read_file(wf_path, &len);
    assert_int_equal(
        ql_county_workflow_add(c, "wf_test.lua", src, len, NULL, &d), QL_OK);
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
    for (i = 0; i < NSPARE; i++)
        ql_key_free(f->spare[i]);
    if (f->keep) {
        fprintf(stderr, "the store is kept in %s\n", f->dir);
        free(f->dir);
    } else {
        qlt_rmtree(f->dir);
    }
    free(f->path);
    free(f->regkey);
    free(f);
    return 0;
}

/* ---- the children's side ---- */

/* A child's failure: its message on stderr, exit 1, which fails the round. */
static void
child_die(const char *what, const struct ql_diag *d)
{
    fprintf(stderr, "child: %s: %s\n", what, d != NULL ? d->msg : "");
    _exit(1);
}

static uint64_t
child_size(struct ql_county *c)
{
    struct ql_diag d;
    uint64_t n = 0;

    if (ql_log_size(ql_county_log(c), &n, &d) != QL_OK)
        child_die("log size", &d);
    return n;
}

/*
 * Reports a commit that has returned: "KIND SUBJECT ACTION TRANSITION B A",
 * the log's size before and after, so the entry lies in [B, A).
 */
static void
child_report(int fd, const char *kind, const char *subject, const char *action,
             const char *transition, uint64_t b, uint64_t a)
{
    char line[256];
    int n = snprintf(line, sizeof line, "%s %s %s %s %" PRIu64 " %" PRIu64 "\n",
                     kind, subject, action, transition, b, a);

    if (n < 0 || (size_t)n >= sizeof line ||
        write(fd, line, (size_t)n) != (ssize_t)n)
        _exit(1);
}

/*
 * Registers n leads (and triages each), reporting each commit on fd as
 * soon as it has returned. Exits 0, or 1 on a failure.
 */
static void
child_add(const struct fx *f, int fd, int n, bool triage)
{
    struct ql_wf_kv fields[] = {{"source", "群众举报"},
                                {"summary", "并发测试"}};
    struct ql_county *c = NULL;
    struct ql_diag d;
    char id[QL_ENTRY_WORD_MAX + 1];
    uint64_t b;
    int i;

    if (ql_county_open(f->path, 0, &c, &d) != QL_OK)
        child_die("open", &d);
    ql_county_set_now(c, NOW);
    for (i = 0; i < n; i++) {
        ql_county_set_actor(c, f->k[REG]);
        b = child_size(c);
        if (ql_lead_add(c, "test_flow", NULL, fields, 2, id, &d) != QL_OK)
            child_die("add", &d);
        child_report(fd, "lead", id, "lead.add", "-", b, child_size(c));
        if (!triage)
            continue;
        ql_county_set_actor(c, f->k[TRI]);
        b = child_size(c);
        if (ql_lead_move(c, id, "triage", NULL, 0, NULL, NULL, &d) != QL_OK)
            child_die("triage", &d);
        child_report(fd, "lead", id, "lead.move", "triage", b, child_size(c));
    }
    ql_county_close(c);
    _exit(0);
}

/* A lead the mover may take a step on. */
struct pick {
    char id[QL_ENTRY_WORD_MAX + 1], state[16], unit[16];
    bool pending;
};

/*
 * Picks a lead: one on its way (past NEW, not closed) at random, or one
 * still NEW when few are on their way or one time in four.
 */
static bool
pick_lead(struct ql_county *c, uint64_t *rng, struct pick *p)
{
    static const char ACTIVE[] =
        "SELECT l.id, l.state, l.unit, p.lead IS NOT NULL FROM leads l "
        "LEFT JOIN pending p ON p.lead = l.id WHERE l.state IN "
        "('TRIAGE', 'ASSIGNED', 'VERIFYING', 'REPORTED') "
        "ORDER BY l.created_idx LIMIT 64";
    static const char FRESH[] = "SELECT id FROM leads WHERE state = 'NEW' "
                                "ORDER BY created_idx LIMIT 1 OFFSET ?1";
    struct pick all[64];
    struct ql_stmt *st = NULL;
    struct ql_diag d;
    size_t n = 0;
    bool row = false;

    if (ql_store_prepare(ql_county_store(c), ACTIVE, &st, &d) != QL_OK)
        child_die("listing leads", &d);
    while (ql_stmt_step(st, &row, &d) == QL_OK && row && n < 64) {
        snprintf(all[n].id, sizeof all[n].id, "%s", ql_stmt_text(st, 0));
        snprintf(all[n].state, sizeof all[n].state, "%s", ql_stmt_text(st, 1));
        snprintf(all[n].unit, sizeof all[n].unit, "%s", ql_stmt_text(st, 2));
        all[n].pending = ql_stmt_int(st, 3) != 0;
        n++;
    }
    ql_stmt_done(st);
    if (n < 8 || qlt_rand(rng) % 4 == 0) {
        if (ql_store_prepare(ql_county_store(c), FRESH, &st, &d) != QL_OK ||
            ql_stmt_bind_int(st, 1, (int64_t)(qlt_rand(rng) % 4), &d) !=
                QL_OK ||
            ql_stmt_step(st, &row, &d) != QL_OK)
            child_die("listing new leads", &d);
        if (row) {
            snprintf(p->id, sizeof p->id, "%s", ql_stmt_text(st, 0));
            snprintf(p->state, sizeof p->state, "NEW");
            p->unit[0] = '\0';
            p->pending = false;
        }
        ql_stmt_done(st);
        if (row)
            return true;
    }
    if (n == 0)
        return false;
    *p = all[qlt_rand(rng) % n];
    return true;
}

/*
 * Replaces LT's second liaison: registers the next spare, then revokes
 * every earlier spare still active (a killed replacement may leave two),
 * each a commit of its own. A revocation makes LT's data key stale, so
 * the next write in LT starts a new epoch and re-seals the lead it moves.
 *
 * The people who move leads are never replaced: a principal who joins
 * after a key epoch has ended can never read the leads last sealed in
 * it, so a replaced verifier would strand the leads in VERIFYING.
 */
static void
child_rotate(const struct fx *f, struct ql_county *c, int fd)
{
    static const char KNOWN[] = "SELECT count(*) FROM principals "
                                "WHERE name = ?1";
    static const char OTHERS[] =
        "SELECT name FROM principals WHERE unit = 'LT' AND "
        "name LIKE 'LT-lly-%' AND name NOT IN ('LT-lly-01', ?1) AND "
        "revoked_idx IS NULL";
    char old[8][64];
    struct ql_stmt *st = NULL;
    struct ql_diag d;
    const char *name = NULL;
    size_t i, n = 0, at = 0;
    bool row = false;
    uint64_t b;

    for (i = 0; i < NSPARE && name == NULL; i++) {
        if (ql_store_prepare(ql_county_store(c), KNOWN, &st, &d) != QL_OK ||
            ql_stmt_bind_text(st, 1, ql_key_name(f->spare[i]), &d) != QL_OK ||
            ql_stmt_step(st, &row, &d) != QL_OK)
            child_die("looking up a spare", &d);
        if (ql_stmt_int(st, 0) == 0) {
            name = ql_key_name(f->spare[i]);
            at = i;
        }
        ql_stmt_done(st);
    }
    if (name == NULL)
        return; /* every spare served already */
    ql_county_set_actor(c, f->k[ADMIN]);
    b = child_size(c);
    if (ql_county_principal_add(c, f->spare[at], "LT", "liaison", &d) != QL_OK)
        child_die("adding a liaison", &d);
    child_report(fd, "principal", name, "add", "-", b, child_size(c));
    if (ql_store_prepare(ql_county_store(c), OTHERS, &st, &d) != QL_OK ||
        ql_stmt_bind_text(st, 1, name, &d) != QL_OK)
        child_die("listing liaisons", &d);
    while (ql_stmt_step(st, &row, &d) == QL_OK && row && n < 8)
        snprintf(old[n++], sizeof old[0], "%s", ql_stmt_text(st, 0));
    ql_stmt_done(st);
    for (i = 0; i < n; i++) {
        b = child_size(c);
        if (ql_county_principal_revoke(c, old[i], &d) != QL_OK)
            child_die("revoking a liaison", &d);
        child_report(fd, "principal", old[i], "revoke", "-", b, child_size(c));
    }
}

/*
 * Takes up to n steps on existing leads, each the next one its state
 * allows, as the person whose step it is, reporting each commit on fd.
 * Exits 0 when done or out of leads, 1 on a failure.
 */
static void
child_move(const struct fx *f, int fd, int n, bool rotate, uint64_t seed)
{
    static const char *const FINDINGS[] = {"查否", "部分查实"};
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_wf_kv report[] = {{"finding", ""}, {"detail", "走访核实"}};
    struct ql_county *c = NULL;
    struct ql_diag d;
    struct pick p;
    uint64_t rng = seed, b;
    bool lt, pending;
    int i;

    if (ql_county_open(f->path, 0, &c, &d) != QL_OK)
        child_die("open", &d);
    ql_county_set_now(c, NOW);
    if (rotate)
        child_rotate(f, c, fd);
    for (i = 0; i < n && pick_lead(c, &rng, &p); i++) {
        const char *action = "lead.move", *tr;
        ql_err rc;

        lt = strcmp(p.unit, "LT") == 0;
        b = child_size(c);
        if (strcmp(p.state, "NEW") == 0) {
            ql_county_set_actor(c, f->k[TRI]);
            tr = "triage";
            rc = ql_lead_move(c, p.id, tr, NULL, 0, NULL, NULL, &d);
        } else if (strcmp(p.state, "TRIAGE") == 0 && !p.pending) {
            /* The proposal waits for the director's word. */
            ql_county_set_actor(c, f->k[TRI]);
            assign[0].value = qlt_rand(&rng) % 2 ? "LT" : "QY";
            pending = false;
            tr = "assign";
            rc = ql_lead_move(c, p.id, tr, assign, 2, "交办", &pending, &d);
            if (rc == QL_OK && !pending)
                child_die("assign did not wait for approval", NULL);
            action = "lead.propose";
        } else if (strcmp(p.state, "TRIAGE") == 0) {
            ql_county_set_actor(c, f->k[DIR]);
            tr = "assign";
            if (qlt_rand(&rng) % 4 == 0) {
                action = "lead.reject";
                rc = ql_lead_reject(c, p.id, "退回重新研判", &d);
            } else {
                action = "lead.approve";
                rc = ql_lead_approve(c, p.id, &d);
            }
        } else if (strcmp(p.state, "ASSIGNED") == 0) {
            ql_county_set_actor(c, f->k[lt ? LT_LLY : QY_LLY]);
            tr = "accept";
            rc = ql_lead_move(c, p.id, tr, NULL, 0, NULL, NULL, &d);
        } else if (strcmp(p.state, "VERIFYING") == 0) {
            ql_county_set_actor(c, f->k[lt ? LT_HC : QY_HC]);
            if (qlt_rand(&rng) % 3 == 0) {
                tr = "progress";
                rc = ql_lead_move(c, p.id, tr, NULL, 0, "首次回告", NULL, &d);
            } else {
                tr = "report";
                report[0].value = FINDINGS[qlt_rand(&rng) % 2];
                rc = ql_lead_move(c, p.id, tr, report, 2, NULL, NULL, &d);
            }
        } else {
            ql_county_set_actor(c, f->k[DIR]);
            tr = qlt_rand(&rng) % 3 == 0 ? "return_report" : "approve_report";
            rc = ql_lead_move(c, p.id, tr, NULL, 0, NULL, NULL, &d);
        }
        if (rc != QL_OK) {
            fprintf(stderr, "child: %s of %s in state %s: %s\n", tr, p.id,
                    p.state, d.msg);
            _exit(1);
        }
        child_report(fd, "lead", p.id, action, tr, b, child_size(c));
    }
    ql_county_close(c);
    _exit(0);
}

/* ---- the parent's side ---- */

enum kind { ADD, MOVE, IMPORT, NKINDS };
static const char *const KIND_NAME[NKINDS] = {"add", "move", "import"};

/* What the round's import wrote, to check it whole or absent. */
struct import {
    int round, rows;
    bool json, exited; /* exited: the command ran to its end */
    int status;        /* its exit code, when exited */
    uint64_t before;   /* the log's size before it ran */
    char *out, *err;   /* what it printed */
    char *file;        /* the file it read */
};

/* An import found whole: its entries lie in [b, a). */
struct batch {
    uint64_t b, a;
    int rows, round;
};

struct crash {
    uint64_t seed, rng;
    int round;                /* -1: not a crash loop */
    char what[160];           /* the round and its kill, for failure messages */
    char *acks;               /* every commit reported so far, one per line */
    size_t nacks, round_acks; /* acks + round_acks: this round's reports */
    struct import imp;        /* rows == 0: no import this round */
    struct batch *batches;
    size_t nbatches;
    uint64_t cpu_per_row;       /* an import's CPU time per row, in ns */
    struct ql_audit_state seen; /* the checkpoint the last audit verified */
    bool have_seen;
    struct fx *f;
    struct {
        int rounds, killed, finished;
    } stats[NKINDS];
    int whole, absent, killed_whole;
};

/* Fails the test naming the seed and round, and keeps the store. */
static _Noreturn void crash_fail(struct crash *cr, const char *fmt, ...)
    QL_PRINTF(2, 3);

static _Noreturn void
crash_fail(struct crash *cr, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cr->f->keep = true;
    if (cr->round < 0)
        fail_msg("%s\n  %s", msg, cr->what);
    fail_msg("%s\n  QL_CRASH_SEED=0x%" PRIx64 ", %s", msg, cr->seed, cr->what);
    abort(); /* fail_msg does not return */
}

/* One query parameter: text, or an integer when s is NULL. */
struct qarg {
    const char *s;
    int64_t i;
};

/* The first column of the first row of sql (a literal), as an integer. */
static int64_t
q_int(struct crash *cr, struct ql_county *c, const char *sql,
      const struct qarg *args, int n)
{
    struct ql_stmt *st = NULL;
    struct ql_diag d;
    bool row = false;
    int64_t v;
    int i;

    if (ql_store_prepare(ql_county_store(c), sql, &st, &d) != QL_OK)
        crash_fail(cr, "%s", d.msg);
    for (i = 0; i < n; i++)
        if ((args[i].s != NULL
                 ? ql_stmt_bind_text(st, i + 1, args[i].s, &d)
                 : ql_stmt_bind_int(st, i + 1, args[i].i, &d)) != QL_OK)
            crash_fail(cr, "%s", d.msg);
    if (ql_stmt_step(st, &row, &d) != QL_OK || !row)
        crash_fail(cr, "no answer to '%s': %s", sql, d.msg);
    v = ql_stmt_int(st, 0);
    ql_stmt_done(st);
    return v;
}

/*
 * Dense indexes: entries 0..n-1, each tree level complete, a checkpoint
 * of the whole log, and every lead id counter naming exactly the leads
 * 1..value under its prefix.
 */
static void
check_dense(struct crash *cr, struct ql_county *c, uint64_t size)
{
    static const char TREE[] =
        "SELECT level, count(*), max(idx) FROM tree GROUP BY level "
        "ORDER BY level";
    static const char COUNTERS[] = "SELECT name, value FROM counters";
    struct ql_stmt *st = NULL;
    struct ql_diag d;
    int64_t total = 0, counted = 0;
    unsigned level = 0;
    bool row = false;

    if (q_int(cr, c, "SELECT count(*) FROM entries", NULL, 0) !=
            (int64_t)size ||
        q_int(cr, c, "SELECT COALESCE(max(idx), -1) FROM entries", NULL, 0) !=
            (int64_t)size - 1)
        crash_fail(cr, "entry indexes are not 0..%" PRIu64, size - 1);
    if (q_int(cr, c, "SELECT COALESCE(max(size), 0) FROM checkpoints", NULL,
              0) != (int64_t)size)
        crash_fail(cr, "no checkpoint covers all %" PRIu64 " entries", size);
    if (ql_store_prepare(ql_county_store(c), TREE, &st, &d) != QL_OK)
        crash_fail(cr, "%s", d.msg);
    while (ql_stmt_step(st, &row, &d) == QL_OK && row) {
        int64_t want = (int64_t)(size >> level);

        if (ql_stmt_int(st, 0) != level || ql_stmt_int(st, 1) != want ||
            ql_stmt_int(st, 2) != want - 1)
            crash_fail(cr,
                       "tree level %u holds %lld hashes up to %lld, "
                       "not %lld",
                       level, (long long)ql_stmt_int(st, 1),
                       (long long)ql_stmt_int(st, 2), (long long)want);
        level++;
    }
    ql_stmt_done(st);
    if ((size >> level) != 0)
        crash_fail(cr, "tree level %u is missing", level);
    if (ql_store_prepare(ql_county_store(c), COUNTERS, &st, &d) != QL_OK)
        crash_fail(cr, "%s", d.msg);
    while (ql_stmt_step(st, &row, &d) == QL_OK && row) {
        const char *prefix = ql_stmt_text(st, 0);
        int64_t value = ql_stmt_int(st, 1), len = (int64_t)strlen(prefix);
        struct qarg a[] = {{prefix, 0}, {NULL, len}};

        if (q_int(cr, c,
                  "SELECT count(*) FROM leads WHERE substr(id, 1, ?2) = ?1", a,
                  2) != value ||
            q_int(cr, c,
                  "SELECT COALESCE(max(CAST(substr(id, ?2 + 1) AS INTEGER)), "
                  "0) FROM leads WHERE substr(id, 1, ?2) = ?1",
                  a, 2) != value)
            crash_fail(cr, "lead ids under '%s' are not 1..%lld", prefix,
                       (long long)value);
        counted += value;
    }
    ql_stmt_done(st);
    total = q_int(cr, c, "SELECT count(*) FROM leads", NULL, 0);
    if (total != counted)
        crash_fail(cr, "%lld leads, but the counters count %lld",
                   (long long)total, (long long)counted);
}

/* Every reported commit is in the store, in the log range it gave. */
static void
check_acks(struct crash *cr, struct ql_county *c)
{
    const char *p = cr->acks, *end = cr->acks + cr->nacks;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        char kind[16], subj[80], action[32], tr[32];
        unsigned long long b, a;
        int64_t n;

        if (nl == NULL)
            break;
        if (sscanf(p, "%15s %79s %31s %31s %llu %llu", kind, subj, action, tr,
                   &b, &a) != 6)
            crash_fail(cr, "bad report '%.*s'", (int)(nl - p), p);
        if (strcmp(kind, "lead") == 0) {
            struct qarg q[] = {{subj, 0},
                               {action, 0},
                               {tr, 0},
                               {NULL, (int64_t)b},
                               {NULL, (int64_t)a}};

            n = q_int(cr, c,
                      "SELECT count(*) FROM lead_entries WHERE lead = ?1 AND "
                      "action = ?2 AND (?3 = '-' OR transition = ?3) AND "
                      "idx >= ?4 AND idx < ?5",
                      q, 5);
        } else {
            struct qarg q[] = {
                {subj, 0}, {NULL, (int64_t)b}, {NULL, (int64_t)a}};

            n = strcmp(action, "add") == 0
                    ? q_int(cr, c,
                            "SELECT count(*) FROM principals WHERE name = ?1 "
                            "AND idx >= ?2 AND idx < ?3",
                            q, 3)
                    : q_int(cr, c,
                            "SELECT count(*) FROM principals WHERE name = ?1 "
                            "AND revoked_idx >= ?2 AND revoked_idx < ?3",
                            q, 3);
        }
        if (n != 1)
            crash_fail(cr, "reported commit '%.*s' is missing", (int)(nl - p),
                       p);
        p = nl + 1;
    }
}

/*
 * Each lead this round's reports name can be read by a member of the
 * unit it is now in: an approval re-sealed it under that unit's key, a
 * new epoch re-sealed it under the new key, and the grants that hand those
 * keys out were committed with it.
 */
static void
check_readable(struct crash *cr, struct ql_county *c)
{
    const char *p = cr->acks + cr->round_acks, *end = cr->acks + cr->nacks;
    struct ql_lead *l = NULL;
    struct ql_diag d;
    const char *v;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        char kind[16], id[80];
        enum who member;

        if (nl == NULL)
            break;
        if (sscanf(p, "%15s %79s", kind, id) == 2 &&
            strcmp(kind, "lead") == 0) {
            ql_county_set_actor(c, cr->f->k[DIR]);
            if (ql_lead_load(c, id, &l, &d) != QL_OK)
                crash_fail(cr, "lead %s: %s", id, d.msg);
            v = ql_lead_unit(l);
            member = strcmp(v, "LT") == 0   ? LT_LLY
                     : strcmp(v, "QY") == 0 ? QY_LLY
                                            : REG;
            ql_lead_free(l);
            ql_county_set_actor(c, cr->f->k[member]);
            if (ql_lead_load(c, id, &l, &d) != QL_OK)
                crash_fail(cr, "lead %s: %s", id, d.msg);
            if (!ql_lead_readable(l) ||
                (v = ql_lead_get(l, "summary")) == NULL || *v == '\0')
                crash_fail(cr, "%s cannot read lead %s in its unit %s",
                           PEOPLE[member].name, id, ql_lead_unit(l));
            ql_lead_free(l);
        }
        p = nl + 1;
    }
}

/* The values of row i of round r's import (summary[256], amount[16]...). */
static void
import_row(int r, int i, const char **source, char *summary, char *amount,
           char *reporter)
{
    static const char *const WHAT[] = {
        "某某在鹭汀镇农贸市场强迫交易",
        "纠集多人收取\"保护费\", 殴打不从的商户",
        "夜间非法采砂\n威胁举报群众",
    };

    *source = i % 2 ? "群众举报" : "部门移送";
    snprintf(summary, 256, "第%d批第%d条：%s", r, i + 1, WHAT[i % 3]);
    amount[0] = reporter[0] = '\0';
    if (i % 3 == 0)
        snprintf(amount, 16, "%d", 1000 + i);
    if (i % 4 == 1)
        snprintf(reporter, 96, "举报人%d-%d, 000-0000-0000", r, i + 1);
}

/* Appends v as a CSV cell (quoted when it must be) or a JSON string. */
static void
put_value(FILE *fp, const char *v, bool json)
{
    const char *s;

    if (!json && strpbrk(v, ",\"\n") == NULL) {
        fputs(v, fp);
        return;
    }
    fputc('"', fp);
    for (s = v; *s != '\0'; s++) {
        if (*s == '"')
            fputs(json ? "\\\"" : "\"\"", fp);
        else if (*s == '\n' && json)
            fputs("\\n", fp);
        else
            fputc(*s, fp);
    }
    fputc('"', fp);
}

/* Writes round r's import file of rows rows; CSV headers are labels. */
static void
write_import(const char *path, int r, int rows, bool json)
{
    FILE *fp = fopen(path, "w");
    char summary[256], amount[16], reporter[96];
    const char *source;
    int i;

    assert_non_null(fp);
    fputs(json ? "[\n" : "线索来源,主要问题,涉案金额,举报人信息\n", fp);
    for (i = 0; i < rows; i++) {
        import_row(r, i, &source, summary, amount, reporter);
        if (json) {
            fprintf(fp, "  {\"source\": \"%s\", \"summary\": ", source);
            put_value(fp, summary, true);
            if (amount[0] != '\0')
                fprintf(fp, ", \"amount\": %s", amount);
            if (reporter[0] != '\0') {
                fputs(", \"reporter\": ", fp);
                put_value(fp, reporter, true);
            }
            fputs(i + 1 < rows ? "},\n" : "}\n", fp);
        } else {
            fprintf(fp, "%s,", source);
            put_value(fp, summary, false);
            fprintf(fp, ",%s,", amount);
            put_value(fp, reporter, false);
            fputc('\n', fp);
        }
    }
    if (json)
        fputs("]\n", fp);
    assert_int_equal(fclose(fp), 0);
}

/*
 * The child of an import round: the real binary, with a clean environment,
 * importing likely duplicates too when allow_dups (so that rows need not
 * be compared with every lead: the duplicate check reads them all).
 */
static void
exec_import(const struct fx *f, const char *file, const char *out,
            const char *err, bool allow_dups)
{
    const char *bin = getenv("QINGLING_BIN");
    const char *argv[] = {bin != NULL ? bin : "build/qingling",
                          "--db",
                          f->path,
                          "--key",
                          f->regkey,
                          "lead",
                          "import",
                          file,
                          "--unit",
                          "SH",
                          "--workflow",
                          "test_flow",
                          allow_dups ? "--allow-duplicates" : NULL,
                          NULL};
    const char *envp[] = {"QINGLING_NOW=" NOW_TEXT, NULL};
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fi = open("/dev/null", O_RDONLY);

    if (fo < 0 || fe < 0 || fi < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 ||
        dup2(fe, 2) < 0)
        _exit(127);
    execve(argv[0], (char *const *)argv, (char *const *)envp);
    _exit(127);
}

/*
 * An import killed after its commit looks failed to whoever ran it, who
 * runs it again: that retry must be refused as likely duplicates, row by
 * row, and write nothing.
 */
static void
retry_import(struct crash *cr, struct ql_county *c, uint64_t size)
{
    const struct import *im = &cr->imp;
    char *out = qlt_join(cr->f->dir, "retry.out");
    char *err = qlt_join(cr->f->dir, "retry.err");
    char want[96], *text;
    struct ql_diag d;
    uint64_t n = 0;
    int status = 0;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        exec_import(cr->f, im->file, out, err, false);
    waitpid(pid, &status, 0);
    text = qlt_read_file(err, NULL);
    snprintf(want, sizeof want, "%d of %d rows are bad; nothing was imported",
             im->rows, im->rows);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 4 ||
        strstr(text, want) == NULL)
        crash_fail(cr,
                   "retrying the import: status 0x%x, not exit 4 and "
                   "'%s': %s",
                   (unsigned)status, want, text);
    if (ql_log_size(ql_county_log(c), &n, &d) != QL_OK || n != size)
        crash_fail(cr, "the refused retry of the import wrote");
    free(text);
    free(out);
    free(err);
}

/*
 * The round's import is whole or absent: whole when the command exited
 * (it must have exited 0), every row's values as written, in order.
 */
static void
check_import(struct crash *cr, struct ql_county *c, uint64_t size)
{
    static const char NEWER[] = "SELECT id FROM leads WHERE created_idx >= ?1 "
                                "ORDER BY created_idx";
    struct import *im = &cr->imp;
    struct qarg a[] = {{NULL, (int64_t)im->before}};
    char summary[256], amount[16], reporter[96], first[80] = "", last[80] = "";
    struct ql_stmt *st = NULL;
    struct ql_lead *l = NULL;
    struct ql_diag d;
    const char *source, *v;
    int64_t n;
    int i = 0;
    bool row = false;
    char **ids;

    n = q_int(cr, c, "SELECT count(*) FROM leads WHERE created_idx >= ?1", a,
              1);
    if (im->exited && im->status != 0)
        crash_fail(cr, "the import exited %d: %s", im->status, im->err);
    if (n != 0 && n != im->rows)
        crash_fail(cr, "an import of %d rows left %lld leads", im->rows,
                   (long long)n);
    if (im->exited && n != im->rows)
        crash_fail(cr, "the import exited 0 but its %d rows are missing",
                   im->rows);
    if (n == 0) {
        cr->absent++;
        return;
    }
    cr->whole++;
    cr->killed_whole += !im->exited;
    ids = calloc((size_t)n, sizeof *ids);
    if (ql_store_prepare(ql_county_store(c), NEWER, &st, &d) != QL_OK ||
        ql_stmt_bind_int(st, 1, (int64_t)im->before, &d) != QL_OK)
        crash_fail(cr, "%s", d.msg);
    while (i < n && ql_stmt_step(st, &row, &d) == QL_OK && row)
        ids[i++] = strdup(ql_stmt_text(st, 0));
    ql_stmt_done(st);
    ql_county_set_actor(c, cr->f->k[REG]);
    for (i = 0; i < n; i++) {
        if (ql_lead_load(c, ids[i], &l, &d) != QL_OK)
            crash_fail(cr, "imported lead %s: %s", ids[i], d.msg);
        import_row(im->round, i, &source, summary, amount, reporter);
        if ((v = ql_lead_get(l, "source")) == NULL || strcmp(v, source) != 0 ||
            (v = ql_lead_get(l, "summary")) == NULL ||
            strcmp(v, summary) != 0 ||
            strcmp((v = ql_lead_get(l, "amount")) ? v : "", amount) != 0 ||
            strcmp((v = ql_lead_get(l, "reporter")) ? v : "", reporter) != 0 ||
            strcmp(ql_lead_state(l), "NEW") != 0)
            crash_fail(cr, "imported lead %s is not row %d as written", ids[i],
                       i + 1);
        ql_lead_free(l);
    }
    snprintf(first, sizeof first, "%s", ids[0]);
    snprintf(last, sizeof last, "%s", ids[n - 1]);
    for (i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    if (im->exited) {
        char want[256];

        snprintf(want, sizeof want, "imported %d leads: %s .. %s", im->rows,
                 first, last);
        if (strcmp(im->out, want) != 0)
            crash_fail(cr, "the import printed '%s', not '%s'", im->out, want);
    }
    if (!im->exited)
        retry_import(cr, c, size);
    cr->batches =
        realloc(cr->batches, (cr->nbatches + 1) * sizeof *cr->batches);
    cr->batches[cr->nbatches].b = im->before;
    cr->batches[cr->nbatches].a = size;
    cr->batches[cr->nbatches].rows = im->rows;
    cr->batches[cr->nbatches].round = im->round;
    cr->nbatches++;
}

/*
 * Every import found whole in an earlier round still is: one pass over
 * the leads, counting those each batch's entry range registered.
 */
static void
check_batches(struct crash *cr, struct ql_county *c)
{
    static const char SQL[] = "SELECT created_idx FROM leads";
    struct ql_stmt *st = NULL;
    struct ql_diag d;
    int *seen = calloc(cr->nbatches + 1, sizeof *seen);
    bool row = false;
    size_t i;

    if (ql_store_prepare(ql_county_store(c), SQL, &st, &d) != QL_OK)
        crash_fail(cr, "%s", d.msg);
    while (ql_stmt_step(st, &row, &d) == QL_OK && row) {
        uint64_t idx = (uint64_t)ql_stmt_int(st, 0);
        size_t lo = 0, hi = cr->nbatches;

        /* Batches are in log order and never overlap. */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;

            if (idx < cr->batches[mid].b)
                hi = mid;
            else if (idx >= cr->batches[mid].a)
                lo = mid + 1;
            else {
                seen[mid]++;
                break;
            }
        }
    }
    ql_stmt_done(st);
    for (i = 0; i < cr->nbatches; i++)
        if (seen[i] != cr->batches[i].rows)
            crash_fail(cr,
                       "the import in entries %" PRIu64 "..%" PRIu64
                       " of round %d is no longer whole",
                       cr->batches[i].b, cr->batches[i].a,
                       cr->batches[i].round);
    free(seen);
}

/*
 * Checks the store after a round (see the top of this file). *size gets
 * the log's size.
 */
static void
check_store(struct crash *cr, bool readonly, uint64_t *size)
{
    struct ql_audit_source *src = NULL;
    struct ql_audit_result res;
    struct ql_audit_opts o;
    struct ql_county *c = NULL;
    struct ql_diag d;
    uint64_t n = 0;

    if (ql_county_open(cr->f->path, readonly ? QL_COUNTY_READONLY : 0, &c,
                       &d) != QL_OK)
        crash_fail(cr, "the store does not open%s: %s",
                   readonly ? " read-only" : "", d.msg);
    ql_county_set_now(c, NOW);
    if (ql_store_check(ql_county_store(c), &d) != QL_OK)
        crash_fail(cr, "integrity: %s", d.msg);
    if (ql_county_replay_check(c, &d) != QL_OK)
        crash_fail(cr, "replay: %s", d.msg);
    /* The log must also extend what the last round's audit verified. */
    memset(&o, 0, sizeof o);
    o.trust = cr->f->k[ADMIN];
    o.state = cr->have_seen ? &cr->seen : NULL;
    o.jobs = 2;
    if (ql_audit_source_store(c, &src, &d) != QL_OK ||
        ql_audit_run(src, ql_log_profile(ql_county_log(c)), &o, &res, &d) !=
            QL_OK)
        crash_fail(cr, "audit: %s", d.msg);
    ql_audit_source_free(src);
    cr->seen = res.latest;
    cr->have_seen = true;
    if (ql_log_size(ql_county_log(c), &n, &d) != QL_OK)
        crash_fail(cr, "log size: %s", d.msg);
    if (res.entries != n)
        crash_fail(cr, "the audit saw %" PRIu64 " of %" PRIu64 " entries",
                   res.entries, n);
    check_dense(cr, c, n);
    check_acks(cr, c);
    check_readable(cr, c);
    check_batches(cr, c);
    if (cr->imp.rows > 0)
        check_import(cr, c, n);
    ql_county_close(c);
    *size = n;
}

/* Keeps the whole lines of buf[0..n) as reports. */
static void
add_acks(struct crash *cr, const char *buf, size_t n)
{
    while (n > 0 && buf[n - 1] != '\n')
        n--; /* a line cut by the kill is not a report */
    cr->round_acks = cr->nacks;
    cr->acks = realloc(cr->acks, cr->nacks + n + 1);
    memcpy(cr->acks + cr->nacks, buf, n);
    cr->nacks += n;
}

/* Reads everything from fd until EOF. */
static char *
slurp(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ssize_t r;

    while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (n + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* What the parent watches in /proc to time a kill. */
enum mark { WRITES, CPU_NS };

/* The child's write calls or CPU time so far; -1 when /proc cannot say. */
static long long
proc_count(int fd, enum mark m)
{
    char buf[512];
    const char *p;
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

    if (n <= 0)
        return -1;
    buf[n] = '\0';
    if (m == CPU_NS)
        return strtoll(buf, NULL, 10); /* schedstat: ns on a CPU first */
    p = strstr(buf, "syscw: ");
    return p != NULL ? strtoll(p + 7, NULL, 10) : -1;
}

/*
 * Polls until the child's count reaches mark (relative to the count when
 * called, when relative) or the child has exited; returns true, with
 * *status, when it exited. Never decides anything by the clock: the
 * short naps only keep the poll from taking a whole CPU.
 */
static bool
await_mark(pid_t pid, enum mark m, long long mark, bool relative, int *status)
{
    struct timespec nap = {0, 20000};
    char path[64];
    long long v, base = 0;
    bool gone = false;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid,
             m == CPU_NS ? "schedstat" : "io");
    if ((fd = open(path, O_RDONLY)) < 0)
        return false;
    if (relative && (base = proc_count(fd, m)) < 0)
        base = 0;
    while ((v = proc_count(fd, m)) >= 0 && v < base + mark) {
        if (waitpid(pid, status, WNOHANG) == pid) {
            gone = true;
            break;
        }
        nanosleep(&nap, NULL);
    }
    close(fd);
    return gone;
}

/* Kills pid (unless it is gone) and reaps it; true when it was killed. */
static bool
finish(pid_t pid, bool gone, int *status)
{
    if (!gone) {
        kill(pid, SIGKILL);
        waitpid(pid, status, 0);
    }
    return WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL;
}

/*
 * An add or move round: the child reports each commit on a pipe; after
 * `want` reports it runs on for `extra` more write calls, then dies.
 */
static void
round_child(struct crash *cr, enum kind kind)
{
    int want = 1 + (int)(qlt_rand(&cr->rng) % (kind == ADD ? 4 : 8));
    int extra =
        qlt_rand(&cr->rng) % 3 == 0 ? 0 : 1 + (int)(qlt_rand(&cr->rng) % 40);
    bool triage = qlt_rand(&cr->rng) % 2 == 0;
    bool rotate = kind == MOVE && qlt_rand(&cr->rng) % 4 == 0;
    uint64_t child_seed = qlt_rand(&cr->rng);
    int fds[2], status = 0, got = 0;
    bool gone = false, killed;
    char buf[65536];
    size_t n = 0;
    ssize_t k;
    pid_t pid;

    snprintf(cr->what, sizeof cr->what,
             "round %d (%s%s, killed after %d reports and %d more writes)",
             cr->round, KIND_NAME[kind],
             kind == MOVE && rotate  ? " with a new liaison"
             : kind == ADD && triage ? " and triage"
                                     : "",
             want, extra);
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (kind == ADD)
            child_add(cr->f, fds[1], 1000, triage);
        child_move(cr->f, fds[1], 1000, rotate, child_seed);
    }
    close(fds[1]);
    while (got < want && (k = read(fds[0], buf + n, sizeof buf - n - 1)) > 0) {
        n += (size_t)k;
        buf[n] = '\0';
        got = 0;
        for (char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
            got++;
    }
    if (got >= want && extra > 0)
        gone = await_mark(pid, WRITES, extra, true, &status);
    killed = finish(pid, gone, &status);
    while ((k = read(fds[0], buf + n, sizeof buf - n - 1)) > 0)
        n += (size_t)k;
    close(fds[0]);
    if (!killed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        crash_fail(cr, "the child failed (status 0x%x; its message is above)",
                   (unsigned)status);
    cr->stats[kind].killed += killed;
    cr->stats[kind].finished += !killed;
    add_acks(cr, buf, n);
}

/* CPU time of the reaped children so far, in ns. */
static uint64_t
children_cpu(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_CHILDREN, &ru) != 0)
        return 0;
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

/*
 * Rows of an import: 50 to 200, mostly near 50 (a mean of about 69), as
 * every whole import lengthens the log that each later round verifies.
 */
static int
import_rows(uint64_t *rng)
{
    uint64_t a = qlt_rand(rng) % 151, b = qlt_rand(rng) % 151,
             c = qlt_rand(rng) % 151;

    return 50 + (int)(a * b * c / (150 * 150));
}

/*
 * An import round: `qingling lead import` on a fresh file, killed when
 * its CPU time (3 in 8: anywhere, mostly before the commit) or its write
 * calls (4 in 8: mostly in the commit, the checkpoint, or the close)
 * reach a random mark, or left to finish (1 in 8). The ways take turns,
 * so that a short run meets each. Half the time the parent keeps the
 * store open meanwhile, so the command's close does not fold the WAL into
 * the store.
 */
static void
round_import(struct crash *cr, uint64_t size)
{
    struct import *im = &cr->imp;
    int rows = import_rows(&cr->rng);
    static const int WAYS[8] = {CPU_NS, WRITES, CPU_NS, WRITES,
                                -1,     WRITES, CPU_NS, WRITES};
    int how = WAYS[cr->round / NKINDS % 8], status = 0;
    enum mark m = how == CPU_NS ? CPU_NS : WRITES;
    bool json = qlt_rand(&cr->rng) % 2 == 0;
    bool hold = qlt_rand(&cr->rng) % 2 == 0;
    uint64_t budget = cr->cpu_per_row * (uint64_t)rows * 5 / 4;
    long long mark = m == CPU_NS
                         ? (long long)(qlt_rand(&cr->rng) % budget)
                         : 1 + (long long)(qlt_rand(&cr->rng) %
                                           (uint64_t)(rows * 3 / 2 + 20));
    char *file = qlt_join(cr->f->dir, json ? "import.json" : "import.csv");
    char *out = qlt_join(cr->f->dir, "import.out");
    char *err = qlt_join(cr->f->dir, "import.err");
    struct ql_county *held = NULL;
    struct ql_diag d;
    uint64_t cpu0;
    size_t len;
    bool gone = false, killed;
    pid_t pid;

    free(im->out);
    free(im->err);
    free(im->file);
    memset(im, 0, sizeof *im);
    im->file = file;
    im->round = cr->round;
    im->rows = rows;
    im->json = json;
    im->before = size;
    if (how < 0)
        snprintf(cr->what, sizeof cr->what,
                 "round %d (import of %d %s rows, not killed%s)", cr->round,
                 rows, json ? "JSON" : "CSV", hold ? ", store held" : "");
    else
        snprintf(cr->what, sizeof cr->what,
                 "round %d (import of %d %s rows, killed at %lld %s%s)",
                 cr->round, rows, json ? "JSON" : "CSV", mark,
                 m == CPU_NS ? "ns of CPU" : "write calls",
                 hold ? ", store held" : "");
    write_import(file, cr->round, rows, json);
    if (hold &&
        ql_county_open(cr->f->path, QL_COUNTY_READONLY, &held, &d) != QL_OK)
        crash_fail(cr, "holding the store: %s", d.msg);
    cpu0 = children_cpu();
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        exec_import(cr->f, file, out, err, true);
    if (how < 0) {
        waitpid(pid, &status, 0);
        gone = true;
    } else {
        gone = await_mark(pid, m, mark, false, &status);
    }
    killed = finish(pid, gone, &status);
    ql_county_close(held);
    im->exited = !killed;
    im->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    im->out = qlt_read_file(out, &len);
    while (len > 0 && im->out[len - 1] == '\n')
        im->out[--len] = '\0';
    im->err = qlt_read_file(err, NULL);
    if (im->exited && im->status == 0) {
        /* Learn what a whole import costs, for the next CPU marks. */
        uint64_t per = (children_cpu() - cpu0) / (uint64_t)rows;

        cr->cpu_per_row = (cr->cpu_per_row * 3 + per) / 4 + 1;
    }
    cr->stats[IMPORT].killed += killed;
    cr->stats[IMPORT].finished += !killed;
    free(out);
    free(err);
}

/* A non-negative number from the environment (decimal, 0x hex). */
static uint64_t
env_number(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    char *end;
    unsigned long long n;

    if (v == NULL || *v == '\0')
        return dflt;
    errno = 0;
    n = strtoull(v, &end, 0);
    if (errno != 0 || *end != '\0' || *v == '-')
        fail_msg("%s='%s' is not a number", name, v);
    return (uint64_t)n;
}

/* Milliseconds since t (for QL_CRASH_VERBOSE's lines only). */
static double
ms_since(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) * 1e3 +
           (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

static void
test_crash_loop(void **state)
{
    struct fx *f = *state;
    uint64_t rounds = env_number("QL_CRASH_ROUNDS", 12);
    bool verbose = env_number("QL_CRASH_VERBOSE", 0) != 0;
    struct timespec t0, t1;
    struct crash cr;
    uint64_t size = 0;
    int r, k;

    memset(&cr, 0, sizeof cr);
    cr.f = f;
    cr.seed = env_number("QL_CRASH_SEED", 0x5eed);
    cr.rng = cr.seed;
    cr.cpu_per_row = 400000;
    snprintf(cr.what, sizeof cr.what, "before the first round");
    print_message("crash loop: %" PRIu64
                  " rounds of each kind, QL_CRASH_SEED=0x%" PRIx64 "\n",
                  rounds, cr.seed);
    check_store(&cr, false, &size);
    for (r = 0; (uint64_t)r < NKINDS * rounds; r++) {
        enum kind kind = (enum kind)(r % NKINDS);

        cr.round = r;
        cr.imp.rows = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (kind == IMPORT)
            round_import(&cr, size);
        else
            round_child(&cr, kind);
        cr.stats[kind].rounds++;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        check_store(&cr, qlt_rand(&cr.rng) % 2 == 0, &size);
        if (verbose)
            print_message("%s: %.0f ms, checked %" PRIu64 " entries in "
                          "%.0f ms\n",
                          cr.what, ms_since(&t0) - ms_since(&t1), size,
                          ms_since(&t1));
    }
    for (k = 0; k < NKINDS; k++)
        print_message("  %-6s %d rounds: %d killed, %d ran to the end\n",
                      KIND_NAME[k], cr.stats[k].rounds, cr.stats[k].killed,
                      cr.stats[k].finished);
    print_message("  imports found whole %d (%d of them killed after the "
                  "commit, their retries refused), absent %d; a log of "
                  "%" PRIu64 " entries\n",
                  cr.whole, cr.killed_whole, cr.absent, size);
    free(cr.acks);
    free(cr.batches);
    free(cr.imp.out);
    free(cr.imp.err);
    free(cr.imp.file);
}

static void
test_concurrent_writers(void **state)
{
    struct fx *f = *state;
    enum { KIDS = 4, EACH = 15 };
    int fds[2], status, i, ok = 0;
    pid_t pids[KIDS];
    struct crash cr;
    uint64_t size = 0;
    size_t len;
    char *all;

    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    for (i = 0; i < KIDS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(fds[0]);
            child_add(f, fds[1], EACH, true);
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
    memset(&cr, 0, sizeof cr);
    cr.f = f;
    cr.round = -1;
    snprintf(cr.what, sizeof cr.what, "after %d concurrent writers", KIDS);
    add_acks(&cr, all, len);
    check_store(&cr, false, &size);
    {
        /* Every lead got a distinct id: KIDS * EACH of them. */
        struct ql_county *c = NULL;
        struct ql_diag d;
        struct ql_lead *l = NULL;
        char id[32];

        assert_int_equal(ql_county_open(f->path, 0, &c, &d), QL_OK);
        ql_county_set_actor(c, f->k[REG]);
        snprintf(id, sizeof id, "T-2025-%04d", KIDS * EACH);
        assert_int_equal(ql_lead_load(c, id, &l, &d), QL_OK);
        ql_lead_free(l);
        snprintf(id, sizeof id, "T-2025-%04d", KIDS * EACH + 1);
        assert_int_equal(ql_lead_load(c, id, &l, &d), QL_ENOTFOUND);
        ql_county_close(c);
    }
    free(all);
    free(cr.acks);
}

/*
 * A verifier who joins after a revocation and is the first to write in
 * the unit cannot re-seal a lead sealed under the old key: the write is
 * refused and changes nothing. The next write in the unit by anyone
 * holding the old key (here the liaison, accepting another lead) starts
 * the new epoch and grants the old one to the newcomer, who can then
 * read and move the lead; the log still verifies.
 */
static void
test_newcomer_first_write(void **state)
{
    struct fx *f = *state;
    struct ql_wf_kv add[] = {{"source", "群众举报"}, {"summary", "换人测试"}};
    struct ql_wf_kv assign[] = {{"handling_unit", "LT"},
                                {"due_at", "2025-10-15"}};
    struct ql_audit_result res;
    struct ql_county *c = NULL;
    struct ql_key *hc2 = NULL;
    struct ql_lead *l = NULL;
    struct ql_diag d;
    char id[QL_ENTRY_WORD_MAX + 1], other[QL_ENTRY_WORD_MAX + 1];
    char *ids[2] = {id, other};
    uint64_t before = 0, after = 0;
    size_t i;

    assert_int_equal(
        ql_key_generate(ql_profile_default(), "LT-hc-02", &hc2, &d), QL_OK);
    assert_int_equal(ql_county_open(f->path, 0, &c, &d), QL_OK);
    ql_county_set_now(c, NOW);
    for (i = 0; i < 2; i++) {
        char out[QL_ENTRY_WORD_MAX + 1];

        ql_county_set_actor(c, f->k[REG]);
        assert_int_equal(ql_lead_add(c, "test_flow", NULL, add, 2, out, &d),
                         QL_OK);
        snprintf(ids[i], QL_ENTRY_WORD_MAX + 1, "%s", out);
        ql_county_set_actor(c, f->k[TRI]);
        assert_int_equal(
            ql_lead_move(c, ids[i], "triage", NULL, 0, NULL, NULL, &d), QL_OK);
        assert_int_equal(
            ql_lead_move(c, ids[i], "assign", assign, 2, NULL, NULL, &d),
            QL_OK);
        ql_county_set_actor(c, f->k[DIR]);
        assert_int_equal(ql_lead_approve(c, ids[i], &d), QL_OK);
    }
    ql_county_set_actor(c, f->k[LT_LLY]);
    assert_int_equal(ql_lead_move(c, id, "accept", NULL, 0, NULL, NULL, &d),
                     QL_OK);
    ql_county_set_actor(c, f->k[ADMIN]);
    assert_int_equal(ql_county_principal_add(c, hc2, "LT", "verifier", &d),
                     QL_OK);
    assert_int_equal(ql_county_principal_revoke(c, "LT-hc-01", &d), QL_OK);

    /* Before any holder of the old key writes: refused, nothing written. */
    assert_int_equal(ql_log_size(ql_county_log(c), &before, &d), QL_OK);
    ql_county_set_actor(c, hc2);
    assert_int_equal(
        ql_lead_move(c, id, "progress", NULL, 0, "首次回告", NULL, &d),
        QL_EDENIED);
    assert_string_equal(d.msg, "moving this lead re-encrypts it, and "
                               "'LT-hc-02' cannot read it: its older key "
                               "reaches them with the next step in unit LT "
                               "by someone who holds it, or with `qingling "
                               "key share LT`");
    assert_int_equal(ql_log_size(ql_county_log(c), &after, &d), QL_OK);
    assert_int_equal(after, before);
    assert_int_equal(ql_lead_load(c, id, &l, &d), QL_OK);
    assert_false(ql_lead_readable(l));
    ql_lead_free(l);

    /* The liaison, who held the old key, writes in the unit. */
    ql_county_set_actor(c, f->k[LT_LLY]);
    assert_int_equal(
        ql_lead_move(c, other, "accept", NULL, 0, NULL, NULL, &d), QL_OK);
    ql_county_set_actor(c, hc2);
    assert_int_equal(ql_lead_load(c, id, &l, &d), QL_OK);
    assert_true(ql_lead_readable(l));
    assert_string_equal(ql_lead_get(l, "summary"), "换人测试");
    ql_lead_free(l);
    assert_int_equal(
        ql_lead_move(c, id, "progress", NULL, 0, "首次回告", NULL, &d), QL_OK);
    ql_county_set_actor(c, f->k[DIR]);
    assert_int_equal(ql_lead_load(c, id, &l, &d), QL_OK);
    assert_string_equal(ql_lead_state(l), "VERIFYING");
    assert_string_equal(ql_lead_get(l, "summary"), "换人测试");
    ql_lead_free(l);
    assert_int_equal(ql_county_replay_check(c, &d), QL_OK);
    assert_int_equal(ql_audit_verify(c, f->k[ADMIN], &res, &d), QL_OK);
    ql_county_close(c);
    ql_key_free(hc2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_newcomer_first_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crash_loop, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
