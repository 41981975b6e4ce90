/* Tests of engine/ql_store: schema, append-only log tables, locking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ql_store.h"
#include "ql_test.h"

struct fx {
    char *dir;
    char *path;
    struct ql_store *s;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct ql_diag d;

    f->dir = qlt_tempdir();
    f->path = qlt_join(f->dir, "county.db");
    assert_int_equal(ql_store_open(f->path, QL_STORE_CREATE, &f->s, &d),
                     QL_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    ql_store_close(f->s);
    free(f->path);
    qlt_rmtree(f->dir);
    free(f);
    return 0;
}

static void
leaf_of(uint64_t i, uint8_t h[32])
{
    memset(h, (int)(i & 0xff), 32);
}

static void
append_n(struct ql_store *s, uint64_t n)
{
    struct ql_diag d;
    uint8_t h[32];
    uint64_t size, i;
    char note[64];

    assert_int_equal(ql_store_log_size(s, &size, &d), QL_OK);
    assert_int_equal(ql_store_begin(s, &d), QL_OK);
    for (i = size; i < size + n; i++) {
        snprintf(note, sizeof note, "entry %llu\n", (unsigned long long)i);
        leaf_of(i, h);
        assert_int_equal(
            ql_store_entry_append(s, i, note, strlen(note), h, &d), QL_OK);
    }
    assert_int_equal(ql_store_commit(s, &d), QL_OK);
}

/* Runs one SQL statement on the file directly, as an intruder would. */
static int
raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static void
test_create_twice_refused(void **state)
{
    struct fx *f = *state;
    struct ql_store *s2 = NULL;
    struct ql_diag d;

    assert_int_equal(ql_store_open(f->path, QL_STORE_CREATE, &s2, &d),
                     QL_EEXIST);
    assert_non_null(strstr(d.msg, "already exists"));
    assert_null(s2);
}

static void
test_open_missing(void **state)
{
    struct fx *f = *state;
    struct ql_store *s2 = NULL;
    struct ql_diag d;
    char *p = qlt_join(f->dir, "nope.db");

    assert_int_equal(ql_store_open(p, 0, &s2, &d), QL_ENOTFOUND);
    assert_non_null(strstr(d.msg, "nope.db"));
    assert_int_equal(access(p, F_OK), -1); /* nothing was created */
    assert_int_equal(ql_store_open("", 0, &s2, &d), QL_EUSAGE);
    free(p);
}

static void
test_not_a_store(void **state)
{
    struct fx *f = *state;
    struct ql_store *s2 = NULL;
    struct ql_diag d;
    char *junk = qlt_join(f->dir, "junk.db");
    char *other = qlt_join(f->dir, "other.db");

    qlt_write_file(junk, "this is not a database at all, just text\n", 41);
    assert_int_equal(ql_store_open(junk, 0, &s2, &d), QL_ESTORE);
    assert_non_null(strstr(d.msg, "junk.db"));
    /* A valid SQLite file of someone else's is not ours either. */
    assert_int_equal(raw_exec(other, "CREATE TABLE t(x)"), SQLITE_OK);
    assert_int_equal(ql_store_open(other, 0, &s2, &d), QL_ESTORE);
    assert_non_null(strstr(d.msg, "not a qingling store"));
    free(junk);
    free(other);
}

static void
test_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    struct ql_store *s2 = NULL;
    struct ql_diag d;

    ql_store_close(f->s);
    f->s = NULL;
    assert_int_equal(raw_exec(f->path, "PRAGMA user_version = 99"),
                     SQLITE_OK);
    assert_int_equal(ql_store_open(f->path, 0, &s2, &d), QL_EUNSUPPORTED);
    assert_non_null(strstr(d.msg, "newer"));
}

static void
test_append_dense_and_read(void **state)
{
    struct fx *f = *state;
    struct ql_diag d;
    uint64_t size;
    char *note = NULL;
    size_t len;
    uint8_t h[32];

    append_n(f->s, 10);
    assert_int_equal(ql_store_log_size(f->s, &size, &d), QL_OK);
    assert_int_equal(size, 10);
    assert_int_equal(ql_store_entry_get(f->s, 7, &note, &len, &d), QL_OK);
    assert_string_equal(note, "entry 7\n");
    assert_int_equal(len, 8);
    free(note);
    assert_int_equal(ql_store_entry_get(f->s, 10, &note, &len, &d),
                     QL_ENOTFOUND);

    /* A gap or a repeat is refused by the store itself. */
    leaf_of(0, h);
    assert_int_equal(ql_store_begin(f->s, &d), QL_OK);
    assert_int_equal(ql_store_entry_append(f->s, 12, "x\n", 2, h, &d),
                     QL_EINTEGRITY);
    assert_non_null(strstr(d.msg, "not the next one"));
    assert_int_equal(ql_store_entry_append(f->s, 3, "x\n", 2, h, &d),
                     QL_EINTEGRITY);
    ql_store_rollback(f->s);
    /* Outside a transaction nothing is appended. */
    assert_int_equal(ql_store_entry_append(f->s, 10, "x\n", 2, h, &d),
                     QL_EUSAGE);
    assert_int_equal(ql_store_log_size(f->s, &size, &d), QL_OK);
    assert_int_equal(size, 10);
}

static ql_err
walk_count(void *ctx, uint64_t idx, const void *note, size_t len,
           const uint8_t leaf[32], struct ql_diag *d)
{
    uint64_t *n = ctx;
    uint8_t h[32];
    char want[64];

    (void)d;
    snprintf(want, sizeof want, "entry %llu\n", (unsigned long long)idx);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(note, want, len);
    leaf_of(idx, h);
    assert_memory_equal(leaf, h, 32);
    (*n)++;
    return idx == 15 ? QL_EVERIFY : QL_OK;
}

static void
test_walk(void **state)
{
    struct fx *f = *state;
    struct ql_diag d;
    uint64_t n = 0;

    append_n(f->s, 20);
    assert_int_equal(ql_store_entry_walk(f->s, 2, 12, walk_count, &n, &d),
                     QL_OK);
    assert_int_equal(n, 10);
    n = 0;
    /* The callback's error stops the walk and comes back. */
    assert_int_equal(ql_store_entry_walk(f->s, 10, 20, walk_count, &n, &d),
                     QL_EVERIFY);
    assert_int_equal(n, 6);
}

static void
test_append_only_triggers(void **state)
{
    struct fx *f = *state;
    static const char *const attacks[] = {
        "UPDATE entries SET note = x'00' WHERE idx = 1",
        "DELETE FROM entries WHERE idx = 4",
        "DELETE FROM entries",
        "UPDATE tree SET hash = zeroblob(32)",
        "DELETE FROM tree",
        "UPDATE checkpoints SET note = 'x'",
        "DELETE FROM checkpoints",
        "UPDATE cosignatures SET line = 'x'",
        "DELETE FROM cosignatures",
        "INSERT INTO entries(idx, note, leaf_hash) VALUES (9, 'x', "
        "zeroblob(32))",
    };
    struct ql_diag d;
    uint8_t h[32] = {0};
    uint64_t size;
    size_t i;

    append_n(f->s, 5);
    assert_int_equal(ql_store_begin(f->s, &d), QL_OK);
    assert_int_equal(ql_store_tree_put(f->s, 0, 0, h, &d), QL_OK);
    assert_int_equal(ql_store_checkpoint_put(f->s, 5, "cp\n", &d), QL_OK);
    assert_int_equal(
        ql_store_cosignature_put(f->s, 5, "auditor", "— a x\n", 1, &d), QL_OK);
    assert_int_equal(ql_store_commit(f->s, &d), QL_OK);
    for (i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        print_message("attack: %s\n", attacks[i]);
        assert_int_not_equal(raw_exec(f->path, attacks[i]), SQLITE_OK);
    }
    assert_int_equal(ql_store_log_size(f->s, &size, &d), QL_OK);
    assert_int_equal(size, 5);
}

static void
test_tree_and_checkpoints(void **state)
{
    struct fx *f = *state;
    struct ql_diag d;
    uint8_t h[32], got[32];
    uint64_t size = 0;
    char *note = NULL;

    memset(h, 0xab, 32);
    assert_int_equal(ql_store_tree_get(f->s, 0, 0, got, &d), QL_EINTEGRITY);
    assert_int_equal(ql_store_checkpoint_get(f->s, UINT64_MAX, &size, &note,
                                             &d),
                     QL_ENOTFOUND);
    assert_int_equal(ql_store_begin(f->s, &d), QL_OK);
    assert_int_equal(ql_store_tree_put(f->s, 3, 7, h, &d), QL_OK);
    assert_int_equal(ql_store_tree_put(f->s, 3, 7, h, &d), QL_EINTEGRITY);
    assert_int_equal(ql_store_tree_put(f->s, 64, 0, h, &d), QL_EUSAGE);
    assert_int_equal(ql_store_checkpoint_put(f->s, 1, "one\n", &d), QL_OK);
    assert_int_equal(ql_store_checkpoint_put(f->s, 3, "three\n", &d), QL_OK);
    assert_int_equal(ql_store_commit(f->s, &d), QL_OK);
    assert_int_equal(ql_store_tree_get(f->s, 3, 7, got, &d), QL_OK);
    assert_memory_equal(got, h, 32);
    assert_int_equal(ql_store_checkpoint_get(f->s, UINT64_MAX, &size, &note,
                                             &d),
                     QL_OK);
    assert_int_equal(size, 3);
    assert_string_equal(note, "three\n");
    free(note);
    assert_int_equal(ql_store_checkpoint_get(f->s, 1, &size, &note, &d),
                     QL_OK);
    assert_string_equal(note, "one\n");
    free(note);
    assert_int_equal(ql_store_checkpoint_get(f->s, 2, &size, &note, &d),
                     QL_ENOTFOUND);
}

static void
test_meta(void **state)
{
    struct fx *f = *state;
    struct ql_diag d;
    char *v = NULL;

    assert_int_equal(ql_store_meta_get(f->s, "origin", &v, &d), QL_ENOTFOUND);
    assert_int_equal(ql_store_meta_put(f->s, "origin", "青禾县", &d), QL_OK);
    assert_int_equal(ql_store_meta_put(f->s, "origin", "青禾县", &d), QL_OK);
    assert_int_equal(ql_store_meta_put(f->s, "origin", "other", &d),
                     QL_EEXIST);
    assert_int_equal(ql_store_meta_get(f->s, "origin", &v, &d), QL_OK);
    assert_string_equal(v, "青禾县");
    free(v);
}

static void
test_busy_writer(void **state)
{
    struct fx *f = *state;
    struct ql_store *s2 = NULL;
    struct ql_diag d;
    uint64_t size;

    assert_int_equal(ql_store_open(f->path, 0, &s2, &d), QL_OK);
    ql_store_set_busy_timeout(s2, 50);
    assert_int_equal(ql_store_begin(f->s, &d), QL_OK);
    assert_int_equal(ql_store_begin(s2, &d), QL_EBUSY);
    assert_non_null(strstr(d.msg, "busy"));
    /* Readers still see the last committed state. */
    assert_int_equal(ql_store_log_size(s2, &size, &d), QL_OK);
    ql_store_rollback(f->s);
    assert_int_equal(ql_store_begin(s2, &d), QL_OK);
    ql_store_rollback(s2);
    ql_store_close(s2);
}

static void
test_readonly(void **state)
{
    struct fx *f = *state;
    struct ql_store *s2 = NULL;
    struct ql_diag d;

    append_n(f->s, 2);
    assert_int_equal(ql_store_open(f->path, QL_STORE_READONLY, &s2, &d),
                     QL_OK);
    assert_int_equal(ql_store_begin(s2, &d), QL_EDENIED);
    assert_int_equal(ql_store_begin_read(s2, &d), QL_OK);
    ql_store_rollback(s2);
    assert_int_equal(ql_store_check(s2, &d), QL_OK);
    ql_store_close(s2);
}

/*
 * More distinct statements than the cache holds: idle ones are evicted and
 * prepared again when asked for; only when every slot is held does a new
 * statement fail, cleanly.
 */
static void
test_statement_cache_eviction(void **state)
{
    static char sql[200][32];
    struct ql_stmt *held[200];
    struct fx *f = *state;
    struct ql_diag d;
    bool row = false;
    size_t i, n = 0;

    for (i = 0; i < 200; i++)
        snprintf(sql[i], sizeof sql[i], "SELECT %zu", i);
    for (int round = 0; round < 2; round++) {
        for (i = 0; i < 200; i++) {
            struct ql_stmt *st = NULL;

            assert_int_equal(ql_store_prepare(f->s, sql[i], &st, &d), QL_OK);
            assert_int_equal(ql_stmt_step(st, &row, &d), QL_OK);
            assert_true(row);
            assert_int_equal(ql_stmt_int(st, 0), (int64_t)i);
            ql_stmt_done(st);
        }
    }
    /* Hold statements until none is free; the next one is refused. */
    for (i = 0; i < 200; i++) {
        ql_err rc = ql_store_prepare(f->s, sql[i], &held[n], &d);

        if (rc != QL_OK) {
            assert_int_equal(rc, QL_EUSAGE);
            assert_non_null(strstr(d.msg, "in use"));
            break;
        }
        n++;
    }
    assert_true(n > 0 && n < 200);
    for (i = 0; i < n; i++)
        ql_stmt_done(held[i]);
    /* The log functions share the cache and still work. */
    append_n(f->s, 3);
}

/* ---- Closing without a checkpoint ---- */

/* The size of path, or -1 when it does not exist. */
static long long
file_size(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/*
 * The log size of the store at path, opened read-only; UINT64_MAX when it
 * does not open (a copy that lacks the commit that made its schema).
 */
static uint64_t
size_of(const char *path)
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

/* Copies the .db file alone, as a careless hand copy would. */
static char *
copy_db_only(struct fx *f, const char *name)
{
    char *to = qlt_join(f->dir, name), *buf;
    size_t len;

    buf = qlt_read_file(f->path, &len);
    qlt_write_file(to, buf, len);
    free(buf);
    return to;
}

/*
 * A store closed without a checkpoint keeps its commits in the -wal file:
 * readers and backups see them, a copy of the .db file alone does not,
 * and the next close with a checkpoint folds them into the .db file.
 */
static void
test_lazy_close_keeps_commits_in_wal(void **state)
{
    struct fx *f = *state;
    struct ql_store *s = NULL;
    struct ql_diag d;
    char *wal = qlt_join(f->dir, "county.db-wal");
    char *bak = qlt_join(f->dir, "backup.db"), *lost, *whole;

    append_n(f->s, 3);
    ql_store_set_checkpoint_on_close(f->s, false);
    ql_store_close(f->s);
    f->s = NULL;
    assert_true(file_size(wal) > 0);
    /* Read-only openings, as an auditor's, read through the -wal file. */
    assert_int_equal(size_of(f->path), 3);
    lost = copy_db_only(f, "lost.db");
    assert_true(size_of(lost) != 3);
    /* The online backup copies what is committed, -wal file included. */
    assert_int_equal(ql_store_open(f->path, 0, &s, &d), QL_OK);
    ql_store_set_checkpoint_on_close(s, false);
    assert_int_equal(ql_store_backup(s, bak, &d), QL_OK);
    ql_store_close(s);
    assert_int_equal(size_of(bak), 3);
    assert_true(file_size(wal) > 0);
    /* A close with the default folds the -wal file in and removes it. */
    assert_int_equal(ql_store_open(f->path, 0, &s, &d), QL_OK);
    append_n(s, 1);
    ql_store_close(s);
    assert_int_equal(file_size(wal), -1);
    whole = copy_db_only(f, "whole.db");
    assert_int_equal(size_of(whole), 4);
    assert_int_equal(ql_store_open(f->path, 0, &f->s, &d), QL_OK);
    free(whole);
    free(lost);
    free(bak);
    free(wal);
}

/*
 * Every new process rebuilds the -shm index from the whole -wal file, so
 * a lazy close still checkpoints once the file is large.
 */
static void
test_lazy_close_folds_a_large_wal(void **state)
{
    static const struct {
        const char *name;
        uint64_t entries; /* of 4 KiB each */
        bool folded;
    } t[] = {
        {"small -wal file stays", 4, false},
        {"large -wal file is folded in", 100, true},
    };
    struct fx *f = *state;
    struct ql_diag d;
    char *wal = qlt_join(f->dir, "county.db-wal"), *copy;
    char note[4096];
    uint8_t h[32];
    uint64_t size, i, total = 0;
    size_t k;

    memset(note, 'x', sizeof note);
    for (k = 0; k < sizeof t / sizeof t[0]; k++) {
        print_message("%s\n", t[k].name);
        assert_int_equal(ql_store_log_size(f->s, &size, &d), QL_OK);
        assert_int_equal(ql_store_begin(f->s, &d), QL_OK);
        for (i = size; i < size + t[k].entries; i++) {
            leaf_of(i, h);
            assert_int_equal(
                ql_store_entry_append(f->s, i, note, sizeof note, h, &d),
                QL_OK);
        }
        assert_int_equal(ql_store_commit(f->s, &d), QL_OK);
        total += t[k].entries;
        ql_store_set_checkpoint_on_close(f->s, false);
        ql_store_close(f->s);
        f->s = NULL;
        assert_int_equal(file_size(wal) < 0, t[k].folded);
        copy = copy_db_only(f, "copy.db");
        if (t[k].folded)
            assert_int_equal(size_of(copy), total);
        else
            assert_true(size_of(copy) != total);
        unlink(copy);
        free(copy);
        assert_int_equal(size_of(f->path), total);
        assert_int_equal(ql_store_open(f->path, 0, &f->s, &d), QL_OK);
    }
    free(wal);
}

/* A new store is at the current schema, status counts included. */
static void
test_schema_version(void **state)
{
    struct fx *f = *state;
    struct ql_stmt *st = NULL;
    struct ql_diag d;
    bool row = false;

    assert_int_equal(ql_store_prepare(f->s, "PRAGMA user_version", &st, &d),
                     QL_OK);
    assert_int_equal(ql_stmt_step(st, &row, &d), QL_OK);
    assert_true(row);
    assert_int_equal(ql_stmt_int(st, 0), 2);
    ql_stmt_done(st);
    assert_int_equal(ql_store_prepare(f->s,
                                      "SELECT count(*) FROM sqlite_schema "
                                      "WHERE name IN ('status_counts', "
                                      "'leads_unit_last')",
                                      &st, &d),
                     QL_OK);
    assert_int_equal(ql_stmt_step(st, &row, &d), QL_OK);
    assert_int_equal(ql_stmt_int(st, 0), 2);
    ql_stmt_done(st);
}

/*
 * Upgrading a version 1 store fills the status counts from its derived
 * tables: the facts bits of what the lead took (proposals do not count),
 * its clear fields, the waiting proposal, and whether it closed on time,
 * which needs the local date in the county's zone from the genesis entry.
 */
static void
test_upgrade_fills_status_counts(void **state)
{
    static const struct {
        const char *zone_line; /* in the genesis entry, or "" */
        int64_t on_time;       /* 0x20 when closed on time */
    } cases[] = {
        {"clear zone UTC\n", 0x20},        /* 08-01 20:00 */
        {"clear zone Asia/Shanghai\n", 0}, /* 08-02 04:00 */
        {"clear zone -05:00\n", 0x20},     /* 08-01 15:00 */
        {"clear zone +04:00\n", 0},        /* 08-02 00:00 */
        {"", 0},                           /* Asia/Shanghai */
    };
    static const char ROWS[] =
        "INSERT INTO leads VALUES ('X-1', 'LT', 'wfhash', 'CLOSED', 1, 1, 9,"
        "  1, '2025-07-01', '2025-08-01T20:00:00Z', NULL);"
        "INSERT INTO leads VALUES ('X-2', 'LT', 'wfhash', 'NEW', 1, 2, 2,"
        "  2, '2025-07-02', '2025-07-02T02:00:00Z', '2025-07-20');"
        "INSERT INTO lead_clear VALUES ('X-1', 'finding', '部分查实'),"
        "  ('X-1', 'named', '实名'), ('X-1', 'feedback_opinion', '基本满意'),"
        "  ('X-1', 'due_at', '2025-07-25'), ('X-1', 'redo_due', '2025-08-01'),"
        "  ('X-2', 'finding', '查否');"
        "INSERT INTO lead_entries VALUES ('X-1', 3, 'lead.move', 'report',"
        "  'a', 'LT', 1, 0), ('X-1', 4, 'lead.approve', 'return', 'a', 'LT',"
        "  1, 0), ('X-1', 5, 'lead.propose', 'urge', 'a', 'LT', 1, 0),"
        "  ('X-1', 6, 'lead.move', 'spot_return', 'a', 'LT', 1, 0),"
        "  ('X-2', 7, 'lead.move', 'supervise', 'a', 'LT', 1, 0);"
        "INSERT INTO pending VALUES ('X-2', 8, 'park', 'a', '');"
        "DROP TABLE status_counts; DROP INDEX leads_unit_last;"
        "PRAGMA user_version = 1;";
    struct fx *f = *state;
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ql_store *s = NULL;
        struct ql_stmt *st = NULL;
        struct ql_diag d;
        bool row = false;
        char note[256];
        uint8_t h[32];
        char *dir = qlt_tempdir(), *path = qlt_join(dir, "v1.db");

        print_message("upgrade with '%.*s'\n",
                      (int)strcspn(cases[i].zone_line, "\n"),
                      cases[i].zone_line);
        snprintf(note, sizeof note,
                 "qingling-entry/1\nindex 0\naction genesis\n%s"
                 "clear zoo x\n\n— admin sig\n",
                 cases[i].zone_line);
        leaf_of(0, h);
        assert_int_equal(ql_store_open(path, QL_STORE_CREATE, &s, &d), QL_OK);
        assert_int_equal(ql_store_begin(s, &d), QL_OK);
        assert_int_equal(ql_store_entry_append(s, 0, note, strlen(note), h, &d),
                         QL_OK);
        assert_int_equal(ql_store_commit(s, &d), QL_OK);
        ql_store_close(s);
        assert_int_equal(raw_exec(path, ROWS), SQLITE_OK);
        assert_int_equal(ql_store_open(path, 0, &s, &d), QL_OK);
        assert_int_equal(
            ql_store_prepare(s,
                             "SELECT unit, workflow, state, registered, due, "
                             "pending, facts, n FROM status_counts "
                             "ORDER BY state",
                             &st, &d),
            QL_OK);
        assert_int_equal(ql_stmt_step(st, &row, &d), QL_OK);
        assert_true(row);
        assert_string_equal(ql_stmt_text(st, 2), "CLOSED");
        assert_string_equal(ql_stmt_text(st, 3), "2025-07-01");
        assert_string_equal(ql_stmt_text(st, 4), "");
        assert_string_equal(ql_stmt_text(st, 5), "");
        /* report, return, spot-check, spot_return; finding, substantiated,
           named, feedback, satisfied; the proposed urge does not count. */
        assert_int_equal(ql_stmt_int(st, 6), 0x7de | cases[i].on_time);
        assert_int_equal(ql_stmt_int(st, 7), 1);
        assert_int_equal(ql_stmt_step(st, &row, &d), QL_OK);
        assert_true(row);
        assert_string_equal(ql_stmt_text(st, 2), "NEW");
        assert_string_equal(ql_stmt_text(st, 4), "2025-07-20");
        assert_string_equal(ql_stmt_text(st, 5), "park");
        /* supervised; 查否 is a finding, not a substantiated one; no due
           field, so on time. */
        assert_int_equal(ql_stmt_int(st, 6), 0x001 | 0x020 | 0x040);
        assert_int_equal(ql_stmt_step(st, &row, &d), QL_OK);
        assert_false(row);
        ql_stmt_done(st);
        ql_store_close(s);
        free(path);
        qlt_rmtree(dir);
    }
    (void)f;
}

/*
 * The process setting takes effect only before SQLite starts, and a store
 * opened under it reads and writes as before while SQLite counts no
 * memory.
 */
static void
test_init_process(void **state)
{
    struct ql_store *s = NULL;
    struct ql_diag d;
    char *dir = qlt_tempdir(), *path = qlt_join(dir, "county.db");
    char *note = NULL;
    size_t len = 0;
    sqlite3_int64 before;

    (void)state;
    /* Every store of the earlier tests is closed: start SQLite afresh. */
    assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
    assert_true(ql_store_init_process());
    before = sqlite3_memory_used();
    assert_int_equal(ql_store_open(path, QL_STORE_CREATE, &s, &d), QL_OK);
    append_n(s, 3);
    assert_int_equal(ql_store_entry_get(s, 2, &note, &len, &d), QL_OK);
    assert_string_equal(note, "entry 2\n");
    assert_int_equal(len, strlen("entry 2\n"));
    assert_int_equal(sqlite3_memory_used(), before);
    /* Too late once SQLite runs: nothing changes, and it says so. */
    assert_false(ql_store_init_process());
    ql_store_close(s);
    assert_int_equal(ql_store_open(path, 0, &s, &d), QL_OK);
    append_n(s, 1);
    ql_store_close(s);
    assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 1), SQLITE_OK);
    free(note);
    free(path);
    qlt_rmtree(dir);
}

/*
 * The bulk appends of a batch's checkpoint store the same rows as one call
 * a row: 101 tree rows make a group of 64, two of 16 and five single rows,
 * all read back one by one.
 * A row the store refuses (a broken index, a repeated tree position) fails
 * the call, and rolling back leaves the store as it was.
 */
static void
test_bulk_append(void **state)
{
    struct fx *f = *state;
    struct ql_store_entry_row rows[101];
    struct ql_store_tree_row nodes[101];
    char notes[101][32];
    uint8_t leaves[101][32], got[32];
    struct ql_diag d;
    uint64_t size;
    char *note;
    size_t len, i;

    append_n(f->s, 3);
    for (i = 0; i < 101; i++) {
        snprintf(notes[i], sizeof notes[i], "bulk entry %zu\n", i + 3);
        leaf_of(i + 3, leaves[i]);
        rows[i].note = notes[i];
        rows[i].len = strlen(notes[i]);
        rows[i].leaf_hash = leaves[i];
        nodes[i].level = (unsigned)(i % 3);
        nodes[i].idx = i;
        memset(nodes[i].hash, (int)(0x40 + i), 32);
    }
    /* Outside a transaction, and an index that is not the next one. */
    assert_int_equal(ql_store_entries_append(f->s, 3, rows, 101, &d),
                     QL_EUSAGE);
    assert_int_equal(ql_store_begin(f->s, &d), QL_OK);
    assert_int_equal(ql_store_entries_append(f->s, 4, rows, 101, &d),
                     QL_EINTEGRITY);
    assert_non_null(strstr(d.msg, "not the next one"));
    ql_store_rollback(f->s);
    /* A repeated position in a group of 64, one of 16, a single row. */
    for (i = 0; i < 3; i++) {
        static const size_t at[] = {20, 70, 99};
        struct ql_store_tree_row keep = nodes[at[i]];

        print_message("repeated tree row %zu\n", at[i]);
        assert_int_equal(ql_store_begin(f->s, &d), QL_OK);
        nodes[at[i]] = nodes[at[i] - 3];
        assert_int_equal(ql_store_tree_put_many(f->s, nodes, 101, &d),
                         QL_EINTEGRITY);
        assert_non_null(strstr(d.msg, "tree hash"));
        ql_store_rollback(f->s);
        assert_int_equal(ql_store_tree_get(f->s, 0, 0, got, &d),
                         QL_EINTEGRITY);
        nodes[at[i]] = keep;
    }
    /* Out of range: refused before anything is written. */
    assert_int_equal(ql_store_begin(f->s, &d), QL_OK);
    nodes[100].level = 64;
    assert_int_equal(ql_store_tree_put_many(f->s, nodes, 101, &d), QL_EUSAGE);
    assert_int_equal(ql_store_tree_get(f->s, 0, 0, got, &d), QL_EINTEGRITY);
    nodes[100].level = 100 % 3;
    /* Nothing to do is no error. */
    assert_int_equal(ql_store_entries_append(f->s, 3, rows, 0, &d), QL_OK);
    assert_int_equal(ql_store_tree_put_many(f->s, nodes, 0, &d), QL_OK);
    assert_int_equal(ql_store_entries_append(f->s, 3, rows, 101, &d), QL_OK);
    assert_int_equal(ql_store_tree_put_many(f->s, nodes, 101, &d), QL_OK);
    assert_int_equal(ql_store_commit(f->s, &d), QL_OK);
    assert_int_equal(ql_store_log_size(f->s, &size, &d), QL_OK);
    assert_int_equal(size, 104);
    for (i = 0; i < 101; i++) {
        assert_int_equal(ql_store_entry_get(f->s, i + 3, &note, &len, &d),
                         QL_OK);
        assert_int_equal(len, strlen(notes[i]));
        assert_memory_equal(note, notes[i], len);
        free(note);
        assert_int_equal(ql_store_tree_get(f->s, nodes[i].level, nodes[i].idx,
                                           got, &d),
                         QL_OK);
        assert_memory_equal(got, nodes[i].hash, 32);
    }
    /* The appended leaf hashes are the ones given. */
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT idx, leaf_hash FROM "
                                            "entries WHERE idx >= 3 "
                                            "ORDER BY idx",
                                            -1, &st, NULL),
                         SQLITE_OK);
        for (i = 0; i < 101; i++) {
            assert_int_equal(sqlite3_step(st), SQLITE_ROW);
            assert_int_equal(sqlite3_column_int64(st, 0), (int64_t)i + 3);
            assert_int_equal(sqlite3_column_bytes(st, 1), 32);
            assert_memory_equal(sqlite3_column_blob(st, 1), leaves[i], 32);
        }
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
}

/*
 * Text bound without a copy is read when the statement runs; after
 * ql_stmt_done the statement holds no pointer to it: the caller may
 * change or free it, and the statement comes back from the cache with no
 * binding (NULL), not the old text.
 */
static void
test_bind_text_static(void **state)
{
    static const char SQL[] = "SELECT ?1, typeof(?1)";
    static const struct {
        const char *name, *text, *type;
    } cases[] = {
        {"plain", "lead-0001", "text"},
        {"empty", "", "text"},
        {"utf-8", "\xe6\xb8\x85\xe5\x87\x8c", "text"},
        {"null", NULL, "null"},
    };
    struct fx *f = *state;
    struct ql_stmt *st = NULL;
    struct ql_diag d;
    char buf[64], *got = NULL;
    bool row = false;
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s\n", cases[i].name);
        if (cases[i].text != NULL)
            snprintf(buf, sizeof buf, "%s", cases[i].text);
        assert_int_equal(ql_store_prepare(f->s, SQL, &st, &d), QL_OK);
        assert_int_equal(ql_stmt_bind_text_static(
                             st, 1, cases[i].text != NULL ? buf : NULL, &d),
                         QL_OK);
        assert_int_equal(ql_stmt_step(st, &row, &d), QL_OK);
        assert_true(row);
        assert_string_equal(ql_stmt_text(st, 1), cases[i].type);
        if (cases[i].text != NULL)
            assert_string_equal(ql_stmt_text(st, 0), cases[i].text);
        else
            assert_true(ql_stmt_null(st, 0));
        ql_stmt_done(st);
        memset(buf, 'x', sizeof buf - 1);
        buf[sizeof buf - 1] = '\0';
        /* Taken again unbound: the old text is gone with the binding. */
        assert_int_equal(ql_store_prepare(f->s, SQL, &st, &d), QL_OK);
        assert_int_equal(ql_stmt_step(st, &row, &d), QL_OK);
        assert_true(row);
        assert_true(ql_stmt_null(st, 0));
        ql_stmt_done(st);
    }
    /* A stored value is SQLite's copy, whatever the buffer holds later. */
    snprintf(buf, sizeof buf, "%s", "kept");
    assert_int_equal(ql_store_begin(f->s, &d), QL_OK);
    assert_int_equal(ql_store_prepare(
                         f->s, "INSERT INTO meta(key, value) VALUES (?1, ?2)",
                         &st, &d),
                     QL_OK);
    assert_int_equal(ql_stmt_bind_text_static(st, 1, "static-key", &d), QL_OK);
    assert_int_equal(ql_stmt_bind_text_static(st, 2, buf, &d), QL_OK);
    assert_int_equal(ql_stmt_run(st, &d), QL_OK);
    ql_stmt_done(st);
    assert_int_equal(ql_store_commit(f->s, &d), QL_OK);
    memset(buf, 0, sizeof buf);
    assert_int_equal(ql_store_meta_get(f->s, "static-key", &got, &d), QL_OK);
    assert_string_equal(got, "kept");
    free(got);
}

/*
 * The cache finds statements through hints by the SQL's address: in any
 * order, past eviction, with a statement held (refused, not handed out
 * twice), and a statement given back mid-way comes back from its start.
 */
static void
test_statement_cache_hints(void **state)
{
    static char sql[150][32];
    static const size_t strides[] = {1, 7, 37, 149};
    struct fx *f = *state;
    struct ql_stmt *st = NULL, *held = NULL, *again = NULL;
    struct ql_diag d;
    bool row = false;
    size_t i, k, at;

    for (i = 0; i < 150; i++)
        snprintf(sql[i], sizeof sql[i], "SELECT %zu", i);
    for (k = 0; k < sizeof strides / sizeof strides[0]; k++) {
        print_message("stride %zu\n", strides[k]);
        for (i = 0; i < 300; i++) {
            /* Short runs over few statements, then the whole range. */
            at = i < 150 ? (i * strides[k]) % 10 : (i * strides[k]) % 150;
            assert_int_equal(ql_store_prepare(f->s, sql[at], &st, &d), QL_OK);
            assert_int_equal(ql_stmt_step(st, &row, &d), QL_OK);
            assert_true(row);
            assert_int_equal(ql_stmt_int(st, 0), (int64_t)at);
            ql_stmt_done(st);
        }
    }
    /* Held: the hint leads to it, and it is refused. */
    assert_int_equal(ql_store_prepare(f->s, sql[3], &held, &d), QL_OK);
    assert_int_equal(ql_store_prepare(f->s, sql[3], &again, &d), QL_EUSAGE);
    assert_non_null(strstr(d.msg, "in use"));
    assert_null(again);
    ql_stmt_done(held);
    /* Given back after one row of three: the next use starts over. */
    for (i = 0; i < 2; i++) {
        static const char ROWS[] =
            "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3";

        assert_int_equal(ql_store_prepare(f->s, ROWS, &st, &d), QL_OK);
        assert_int_equal(ql_stmt_step(st, &row, &d), QL_OK);
        assert_true(row);
        assert_int_equal(ql_stmt_int(st, 0), 1);
        ql_stmt_done(st);
    }
    append_n(f->s, 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_twice_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_append_dense_and_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_only_triggers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tree_and_checkpoints, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_cache_eviction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lazy_close_keeps_commits_in_wal,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_close_folds_a_large_wal,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_fills_status_counts, setup,
                                        teardown),
        cmocka_unit_test(test_init_process),
        cmocka_unit_test_setup_teardown(test_bulk_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_text_static, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_statement_cache_hints, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
