#include "ql_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ql_file.h"

/* Prepared statements kept per store, keyed by their SQL's address. */
#define STMT_CACHE 64

/*
 * Where a statement was last found, by a hash of its SQL's address: a hint
 * checked against the slot (an evicted or moved statement just misses it
 * and is searched for), so eviction needs no bookkeeping. The write path
 * takes a dozen statements an entry from a full cache; a linear search
 * cost up to 64 compares each.
 */
#define STMT_HINTS 256

struct ql_stmt {
    struct ql_store *store;
    sqlite3_stmt *st;
    const char *sql;
    bool busy; /* lent out by ql_store_prepare */
};

struct ql_store {
    sqlite3 *db;
    char *path;
    bool readonly;
    struct ql_stmt cache[STMT_CACHE];
    size_t ncache;
    size_t evict; /* where the next eviction starts looking */
    unsigned char hint[STMT_HINTS]; /* slot numbers, see STMT_HINTS */
    sqlite3_stmt *rollback; /* prepared at open, see ql_store_rollback */
    bool lazy_close; /* ql_store_set_checkpoint_on_close(s, false) */
};

/*
 * A store closed without a checkpoint keeps its -wal file, and the next
 * process to open it reads and checksums every frame to rebuild the
 * -shm index (about 1.3 instructions a byte): past this size a close
 * checkpoints after all. Interactive writes add about 30 KiB each, so one
 * in eight or so folds the file in; this balances the checkpoint's cost
 * (about a million instructions and two syncs) against the reading.
 */
#define LAZY_CLOSE_WAL_MAX (256 * 1024)

/*
 * Schema version 1. The log tables refuse UPDATE and DELETE; the index
 * trigger makes entry numbers dense from 0 even for a caller that gets
 * them wrong. Hashes and notes are BLOBs so no text conversion touches the
 * bytes that are signed.
 */
static const char SCHEMA_V1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE entries("
    "  idx INTEGER PRIMARY KEY CHECK (idx >= 0),"
    "  note BLOB NOT NULL,"
    "  leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32));"
    "CREATE TABLE tree("
    "  level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),"
    "  idx INTEGER NOT NULL CHECK (idx >= 0),"
    "  hash BLOB NOT NULL CHECK (length(hash) = 32),"
    "  PRIMARY KEY (level, idx)) WITHOUT ROWID;"
    "CREATE TABLE checkpoints("
    "  size INTEGER PRIMARY KEY CHECK (size >= 0),"
    "  note BLOB NOT NULL);"
    "CREATE TABLE cosignatures("
    "  id INTEGER PRIMARY KEY,"
    "  size INTEGER NOT NULL REFERENCES checkpoints(size),"
    "  cosigner TEXT NOT NULL,"
    "  line TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  UNIQUE (size, cosigner));"
    "CREATE TRIGGER entries_dense BEFORE INSERT ON entries"
    "  WHEN NEW.idx IS NOT COALESCE((SELECT max(idx) FROM entries), -1) + 1"
    "  BEGIN SELECT RAISE(ABORT, 'entry index is not the next one'); END;"
    "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries"
    "  BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;"
    "CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries"
    "  BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;"
    "CREATE TRIGGER tree_no_update BEFORE UPDATE ON tree"
    "  BEGIN SELECT RAISE(ABORT, 'tree hashes are append-only'); END;"
    "CREATE TRIGGER tree_no_delete BEFORE DELETE ON tree"
    "  BEGIN SELECT RAISE(ABORT, 'tree hashes are append-only'); END;"
    "CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER cosignatures_no_update BEFORE UPDATE ON cosignatures"
    "  BEGIN SELECT RAISE(ABORT, 'cosignatures are append-only'); END;"
    "CREATE TRIGGER cosignatures_no_delete BEFORE DELETE ON cosignatures"
    "  BEGIN SELECT RAISE(ABORT, 'cosignatures are append-only'); END;";

/*
 * The derived tables: an index over the entries, rebuilt by replaying them
 * (ql_county_replay). idx columns name the entry that set a row. (A second
 * string: ISO C caps one string literal at 4095 characters.)
 */
static const char SCHEMA_V1_DERIVED[] =
    "CREATE TABLE units("
    "  code TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,"
    "  idx INTEGER NOT NULL);"
    "CREATE TABLE principals("
    "  name TEXT PRIMARY KEY, vkey TEXT NOT NULL UNIQUE,"
    "  unit TEXT NOT NULL REFERENCES units(code), roles TEXT NOT NULL,"
    "  idx INTEGER NOT NULL, revoked_idx INTEGER);"
    "CREATE TABLE workflows("
    "  hash TEXT PRIMARY KEY, name TEXT NOT NULL, idx INTEGER NOT NULL);"
    "CREATE TABLE calendars(idx INTEGER PRIMARY KEY);"
    "CREATE TABLE datakeys("
    "  unit TEXT NOT NULL, epoch INTEGER NOT NULL,"
    "  fingerprint TEXT NOT NULL, idx INTEGER NOT NULL, stale_idx INTEGER,"
    "  PRIMARY KEY (unit, epoch));"
    "CREATE TABLE grants("
    "  unit TEXT NOT NULL, epoch INTEGER NOT NULL, principal TEXT NOT NULL,"
    "  sealed BLOB NOT NULL, idx INTEGER NOT NULL,"
    "  PRIMARY KEY (unit, epoch, principal));"
    "CREATE TABLE leads("
    "  id TEXT PRIMARY KEY, unit TEXT NOT NULL, workflow TEXT NOT NULL,"
    "  state TEXT NOT NULL, epoch INTEGER NOT NULL,"
    "  created_idx INTEGER NOT NULL, last_idx INTEGER NOT NULL,"
    "  snapshot_idx INTEGER NOT NULL,"
    "  registered TEXT NOT NULL, state_since TEXT NOT NULL, due TEXT);"
    "CREATE INDEX leads_unit_state ON leads(unit, state);"
    "CREATE TABLE lead_clear("
    "  lead TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (lead, name)) WITHOUT ROWID;"
    "CREATE TABLE lead_entries("
    "  lead TEXT NOT NULL, idx INTEGER NOT NULL, action TEXT NOT NULL,"
    "  transition TEXT NOT NULL, actor TEXT NOT NULL, unit TEXT NOT NULL,"
    "  epoch INTEGER NOT NULL, snapshot INTEGER NOT NULL,"
    "  PRIMARY KEY (lead, idx)) WITHOUT ROWID;"
    "CREATE TABLE pending("
    "  lead TEXT PRIMARY KEY, idx INTEGER NOT NULL,"
    "  transition TEXT NOT NULL, proposer TEXT NOT NULL,"
    "  approval TEXT NOT NULL);"
    "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    /*
     * Commitments (ql_commit): one row per signed commitment, one per
     * declaration, sample or verification (a sample's checkpoint is its
     * seed, and leads and mandatory list what it drew).
     */
    "CREATE TABLE commitments(unit TEXT,cycle TEXT,cutoff TEXT,deadline TEXT,"
    "text TEXT,signer TEXT,idx INTEGER,time TEXT,"
    "PRIMARY KEY(unit,cycle))WITHOUT ROWID;"
    "CREATE TABLE commit_events(idx INTEGER PRIMARY KEY,unit TEXT,cycle TEXT,"
    "kind TEXT,actor TEXT,time TEXT,ref INTEGER,scope_hash TEXT,"
    "scope_leads INTEGER,checkpoint_size INTEGER,checkpoint_root TEXT,"
    "population INTEGER,population_hash TEXT,leads TEXT,mandatory TEXT);";

/*
 * Migrations: MIGRATIONS[v] lists the SQL texts, run in order, that take a
 * store from version v to v + 1.
 */
static const char *const MIGRATION_1[] = {SCHEMA_V1, SCHEMA_V1_DERIVED,
                                          NULL};

/*
 * Schema version 2: the status counts (ql_status), so that `qingling
 * status` reads a few aggregated rows per unit instead of every lead. One
 * row per unit, workflow, state, registration date, due date (or ''),
 * waiting proposal (or '') and facts, with n > 0 leads; rows whose count
 * drops to zero are deleted, so a replay and an upgrade make the same rows.
 * facts is a bit set of what the figures read, fixed for the life of the
 * schema (ql_status.c writes the same bits):
 *   0x001 took urge or supervise      0x040 finding set
 *   0x002 took report                 0x080 finding 查实 or 部分查实
 *   0x004 took return                 0x100 named 实名
 *   0x008 took spot_pass/spot_return  0x200 feedback_opinion set
 *   0x010 took spot_return            0x400 feedback 满意 or 基本满意
 *   0x020 on time: no due_at, extended_due or redo_due, or the local date
 *         of state_since on or before the latest of them
 * "Took" counts lead.move and lead.approve entries. The index on leads
 * (unit, last_idx) finds a unit's leads touched since an entry: the leads
 * behind a breach, and whether a verification still stands.
 */
static const char SCHEMA_V2_STATUS[] =
    "CREATE TABLE status_counts("
    "  unit TEXT NOT NULL, workflow TEXT NOT NULL, state TEXT NOT NULL,"
    "  registered TEXT NOT NULL, due TEXT NOT NULL, pending TEXT NOT NULL,"
    "  facts INTEGER NOT NULL, n INTEGER NOT NULL CHECK (n > 0),"
    "  PRIMARY KEY (unit, workflow, state, registered, due, pending, facts))"
    "  WITHOUT ROWID;"
    "CREATE INDEX leads_unit_last ON leads(unit, last_idx);";

/*
 * Fills the status counts of a version 1 store from its derived tables.
 * The local date of state_since needs the county's zone, which only the
 * genesis entry holds ("clear zone NAME"): Asia/Shanghai, UTC or an
 * explicit offset (ql_zone_parse), which SQLite's date() takes as a
 * modifier. The log stores instants only as YYYY-MM-DDTHH:MM:SSZ, which
 * date() reads.
 */
static const char FILL_V2_STATUS[] =
    "WITH g(t) AS (SELECT CAST(note AS TEXT) FROM entries WHERE idx = 0),"
    "zl(t, at) AS (SELECT t, instr(t, char(10) || 'clear zone ') FROM g),"
    "z(name) AS (SELECT CASE WHEN at = 0 THEN 'Asia/Shanghai' ELSE "
    "  substr(t, at + 12, instr(substr(t, at + 12), char(10)) - 1) END "
    "  FROM zl),"
    "o(off) AS (SELECT CASE name WHEN 'Asia/Shanghai' THEN '+08:00' "
    "  WHEN 'UTC' THEN '+00:00' ELSE name END FROM z),"
    "e(lead, urg, rep, ret, spot, sret) AS (SELECT lead,"
    "  max(transition IN ('urge', 'supervise')), max(transition = 'report'),"
    "  max(transition = 'return'),"
    "  max(transition IN ('spot_pass', 'spot_return')),"
    "  max(transition = 'spot_return') FROM lead_entries"
    "  WHERE action IN ('lead.move', 'lead.approve') GROUP BY lead),"
    "c(lead, fi, fb, nm, dl) AS (SELECT lead,"
    "  max(CASE name WHEN 'finding' THEN value ELSE '' END),"
    "  max(CASE name WHEN 'feedback_opinion' THEN value ELSE '' END),"
    "  max(CASE name WHEN 'named' THEN value ELSE '' END),"
    "  max(CASE WHEN name IN ('due_at', 'extended_due', 'redo_due') "
    "    THEN value ELSE '' END) FROM lead_clear GROUP BY lead),"
    "f(unit, workflow, state, registered, due, pending, facts) AS ("
    "  SELECT l.unit, l.workflow, l.state, l.registered, COALESCE(l.due, ''),"
    "  COALESCE(p.transition, ''),"
    "  COALESCE(e.urg, 0) + (COALESCE(e.rep, 0) << 1)"
    "  + (COALESCE(e.ret, 0) << 2) + (COALESCE(e.spot, 0) << 3)"
    "  + (COALESCE(e.sret, 0) << 4)"
    "  + ((COALESCE(c.dl, '') = '' OR date(l.state_since, o.off) <= c.dl)"
    "    << 5)"
    "  + ((COALESCE(c.fi, '') <> '') << 6)"
    "  + ((COALESCE(c.fi, '') IN ('查实', '部分查实')) << 7)"
    "  + ((COALESCE(c.nm, '') = '实名') << 8)"
    "  + ((COALESCE(c.fb, '') <> '') << 9)"
    "  + ((COALESCE(c.fb, '') IN ('满意', '基本满意')) << 10)"
    "  FROM leads l CROSS JOIN o LEFT JOIN pending p ON p.lead = l.id"
    "  LEFT JOIN e ON e.lead = l.id LEFT JOIN c ON c.lead = l.id)"
    "INSERT INTO status_counts SELECT unit, workflow, state, registered, due,"
    "  pending, facts, count(*) FROM f"
    "  GROUP BY unit, workflow, state, registered, due, pending, facts;";

static const char *const MIGRATION_2[] = {SCHEMA_V2_STATUS, FILL_V2_STATUS,
                                          NULL};
static const char *const *const MIGRATIONS[] = {MIGRATION_1, MIGRATION_2};

/* The schema this code writes: one past the last migration. */
#define SCHEMA_NOW ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))
_Static_assert(SCHEMA_NOW == QL_STORE_SCHEMA,
               "QL_STORE_SCHEMA must name the schema the migrations reach");

/* The application_id marks the file as ours ("QLNG"). */
#define QL_APPLICATION_ID 0x514C4E47

/*
 * Maps a SQLite result to our codes: busy and locked are QL_EBUSY (another
 * writer holds the store), full disk is QL_EFULL, constraint and trigger
 * failures are QL_EINTEGRITY, the rest QL_ESTORE.
 */
static ql_err
sql_fail(struct ql_store *s, int rc, struct ql_diag *d, const char *what)
{
    const char *msg = s->db != NULL ? sqlite3_errmsg(s->db) : "no database";

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return ql_fail(d, QL_EBUSY, "store '%s' is busy: another process "
                                    "holds it (%s)",
                       s->path, what);
    case SQLITE_FULL:
        return ql_fail(d, QL_EFULL, "store '%s': disk full while %s", s->path,
                       what);
    case SQLITE_NOMEM:
        return ql_fail(d, QL_ENOMEM, "out of memory while %s", what);
    case SQLITE_CONSTRAINT:
        return ql_fail(d, QL_EINTEGRITY, "store '%s': %s refused: %s",
                       s->path, what, msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return ql_fail(d, QL_ESTORE, "store '%s' is damaged or not a "
                                     "qingling store: %s",
                       s->path, msg);
    case SQLITE_READONLY:
        return ql_fail(d, QL_EDENIED, "store '%s' is read-only (%s)", s->path,
                       what);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        /*
         * A failed sync comes after the data was handed to the system: a
         * commit's frames may be on the disk, and a later open may find
         * the change. The user must not take it as not done.
         */
        if (rc == SQLITE_IOERR_FSYNC)
            return ql_fail(d, QL_EIO, "store '%s': the disk did not confirm "
                                      "a write while %s: the change may or "
                                      "may not have been recorded; check "
                                      "before repeating it",
                           s->path, what);
        /*
         * SQLite calls only a short write full; where it kept the system's
         * error, a file size limit or a quota is a full disk too.
         */
        if (s->db != NULL && (sqlite3_system_errno(s->db) == ENOSPC ||
                              sqlite3_system_errno(s->db) == EDQUOT ||
                              sqlite3_system_errno(s->db) == EFBIG))
            return ql_fail(d, QL_EFULL, "store '%s': disk full while %s: "
                                        "%s",
                           s->path, what,
                           strerror(sqlite3_system_errno(s->db)));
        return ql_fail(d, QL_EIO, "store '%s': input/output error while %s: "
                                  "%s",
                       s->path, what, msg);
    default:
        return ql_fail(d, QL_ESTORE, "store '%s': %s failed: %s", s->path,
                       what, msg);
    }
}

static ql_err
exec(struct ql_store *s, const char *sql, struct ql_diag *d, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? QL_OK : sql_fail(s, rc, d, what);
}

static ql_err
prepare(struct ql_store *s, sqlite3_stmt **st, const char *sql,
        struct ql_diag *d)
{
    int rc = sqlite3_prepare_v3(s->db, sql, -1, 0, st, NULL);

    return rc == SQLITE_OK ? QL_OK : sql_fail(s, rc, d, "preparing a query");
}

/*
 * The log functions below run on every write: they take their statements
 * from the same cache as ql_store_prepare (sql is a literal, so its address
 * names it) and give them back with release().
 */
static ql_err
cached(struct ql_store *s, sqlite3_stmt **st, const char *sql,
       struct ql_diag *d)
{
    struct ql_stmt *h = NULL;
    ql_err rc = ql_store_prepare(s, sql, &h, d);

    if (rc == QL_OK)
        *st = h->st;
    return rc;
}

static void
release(struct ql_store *s, sqlite3_stmt *st)
{
    size_t i;

    if (st == NULL)
        return;
    for (i = 0; i < s->ncache; i++)
        if (s->cache[i].st == st) {
            ql_stmt_done(&s->cache[i]);
            return;
        }
}

static size_t
hint_of(const char *sql)
{
    uint64_t a = (uint64_t)(uintptr_t)sql;

    /* Literals are a few bytes apart: mix the low bits upwards. */
    return (size_t)((a * UINT64_C(0x9E3779B97F4A7C15)) >> 56) % STMT_HINTS;
}

static ql_err
pragma_int(struct ql_store *s, const char *sql, int64_t *out,
           struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    ql_err rc;
    int r;

    if ((rc = prepare(s, &st, sql, d)) != QL_OK)
        return rc;
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = sql_fail(s, r, d, "reading the schema version");
    sqlite3_finalize(st);
    return rc;
}

/*
 * Brings the schema to SCHEMA_NOW inside one write transaction, so a
 * crash during a migration leaves the old schema intact.
 */
static ql_err
migrate(struct ql_store *s, bool created, struct ql_diag *d)
{
    int64_t version = 0, appid = 0;
    char sql[64];
    ql_err rc;

    if ((rc = pragma_int(s, "PRAGMA application_id", &appid, d)) != QL_OK ||
        (rc = pragma_int(s, "PRAGMA user_version", &version, d)) != QL_OK)
        return rc;
    if (!created && appid != QL_APPLICATION_ID)
        return ql_fail(d, QL_ESTORE, "'%s' is not a qingling store", s->path);
    if (version > SCHEMA_NOW)
        return ql_fail(d, QL_EUNSUPPORTED,
                       "store '%s' has schema %lld, newer than this "
                       "qingling (%d): upgrade qingling",
                       s->path, (long long)version, SCHEMA_NOW);
    if (version == SCHEMA_NOW)
        return QL_OK;
    if (s->readonly)
        return ql_fail(d, QL_EDENIED, "store '%s' needs a schema upgrade; "
                                      "open it for writing once",
                       s->path);
    if ((rc = exec(s, "BEGIN IMMEDIATE", d, "starting a migration")) != QL_OK)
        return rc;
    /* Re-read under the lock: another process may have migrated first. */
    if ((rc = pragma_int(s, "PRAGMA user_version", &version, d)) != QL_OK)
        goto fail;
    for (; version < SCHEMA_NOW; version++) {
        const char *const *step;

        for (step = MIGRATIONS[version]; *step != NULL; step++)
            if ((rc = exec(s, *step, d, "migrating the schema")) != QL_OK)
                goto fail;
    }
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_NOW);
    if ((rc = exec(s, sql, d, "migrating the schema")) != QL_OK)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d", QL_APPLICATION_ID);
    if ((rc = exec(s, sql, d, "migrating the schema")) != QL_OK ||
        (rc = exec(s, "COMMIT", d, "committing the migration")) != QL_OK)
        goto fail;
    return QL_OK;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

bool
ql_store_init_process(void)
{
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
}

/* Whether the -wal file has grown past LAZY_CLOSE_WAL_MAX. */
static bool
wal_is_large(struct ql_store *s)
{
    sqlite3_filename db = sqlite3_db_filename(s->db, "main");
    const char *wal = db != NULL ? sqlite3_filename_wal(db) : NULL;
    struct stat sb;

    return wal != NULL && stat(wal, &sb) == 0 &&
           sb.st_size > LAZY_CLOSE_WAL_MAX;
}

ql_err
ql_store_open(const char *path, unsigned flags, struct ql_store **out,
              struct ql_diag *d)
{
    struct ql_store *s = NULL;
    struct stat sb;
    bool create = (flags & QL_STORE_CREATE) != 0;
    int oflags, r;
    ql_err rc;

    if (path == NULL || *path == '\0')
        return ql_fail(d, QL_EUSAGE, "no store given: use --db or QINGLING_DB");
    if (create && lstat(path, &sb) == 0)
        return ql_fail(d, QL_EEXIST, "store '%s' already exists", path);
    if (!create && stat(path, &sb) != 0)
        return ql_fail(d, errno == ENOENT ? QL_ENOTFOUND : QL_EIO,
                       "cannot open store '%s': %s", path, strerror(errno));
    s = calloc(1, sizeof *s);
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    s->readonly = (flags & QL_STORE_READONLY) != 0;
    oflags = SQLITE_OPEN_NOMUTEX |
             (s->readonly ? SQLITE_OPEN_READONLY
                          : SQLITE_OPEN_READWRITE |
                                (create ? SQLITE_OPEN_CREATE : 0));
    r = sqlite3_open_v2(path, &s->db, oflags, NULL);
    if (r != SQLITE_OK) {
        rc = sql_fail(s, r, d, "opening");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 10000);
    /*
     * WAL lets readers run beside the one writer; synchronous=FULL makes a
     * commit durable before it returns (DESIGN.md section 4).
     */
    if ((!s->readonly &&
         (rc = exec(s, "PRAGMA journal_mode=WAL", d, "setting WAL mode")) !=
             QL_OK) ||
        (rc = exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", d,
                   "setting up")) != QL_OK ||
        (rc = migrate(s, create, d)) != QL_OK ||
        (rc = prepare(s, &s->rollback, "ROLLBACK", d)) != QL_OK)
        goto fail;
    *out = s;
    return QL_OK;
fail:
    ql_store_close(s);
    if (create)
        unlink(path);
    return rc;
}

void
ql_store_close(struct ql_store *s)
{
    if (s == NULL)
        return;
    ql_store_rollback(s);
    /*
     * SQLite checkpoints only when this is the last connection, and the
     * checkpoint is passive: with readers about it folds in what it can.
     */
    if (s->lazy_close && s->db != NULL && wal_is_large(s))
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
    sqlite3_finalize(s->rollback);
    for (size_t i = 0; i < s->ncache; i++)
        sqlite3_finalize(s->cache[i].st);
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

void
ql_store_set_busy_timeout(struct ql_store *s, int ms)
{
    sqlite3_busy_timeout(s->db, ms);
}

/*
 * SQLite checkpoints when the last connection closes: a sync of the -wal
 * file, a copy of its pages into the .db file, a sync of that, and the
 * deletion of the -wal file, which makes the next writer create it again
 * and sync the folder. For a process that appends one entry this was more
 * disk work than its commit. Durability is the commit's (synchronous=FULL
 * syncs the -wal file before COMMIT returns), not the checkpoint's.
 */
void
ql_store_set_checkpoint_on_close(struct ql_store *s, bool on)
{
    if (s == NULL || s->db == NULL)
        return;
    s->lazy_close = !on;
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on ? 0 : 1,
                      NULL);
}


ql_err
ql_store_begin(struct ql_store *s, struct ql_diag *d)
{
    if (s->readonly)
        return ql_fail(d, QL_EDENIED, "store '%s' is open read-only",
                       s->path);
    return exec(s, "BEGIN IMMEDIATE", d, "taking the write lock");
}

ql_err
ql_store_begin_read(struct ql_store *s, struct ql_diag *d)
{
    ql_err rc;
    uint64_t n;

    /* A deferred transaction takes its snapshot at the first read. */
    if ((rc = exec(s, "BEGIN", d, "starting a read")) != QL_OK)
        return rc;
    if ((rc = ql_store_log_size(s, &n, d)) != QL_OK)
        ql_store_rollback(s);
    return rc;
}

ql_err
ql_store_commit(struct ql_store *s, struct ql_diag *d)
{
    ql_err rc = exec(s, "COMMIT", d, "committing");

    if (rc != QL_OK)
        ql_store_rollback(s);
    return rc;
}

/*
 * The statement is prepared when the store opens: preparing it here could
 * fail for want of memory, which is when a rollback is needed most, and
 * would leave the handle inside the failed transaction.
 */
void
ql_store_rollback(struct ql_store *s)
{
    if (s == NULL || s->db == NULL || sqlite3_get_autocommit(s->db))
        return;
    if (s->rollback != NULL) {
        sqlite3_step(s->rollback);
        sqlite3_reset(s->rollback);
    }
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

bool
ql_store_in_transaction(const struct ql_store *s)
{
    return !sqlite3_get_autocommit(s->db);
}

/* Copies column col of the current row as a NUL-terminated buffer. */
static ql_err
column_dup(sqlite3_stmt *st, int col, char **out, size_t *len,
           struct ql_diag *d)
{
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    char *buf = malloc((size_t)n + 1);

    if (buf == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    if (n > 0)
        memcpy(buf, p, (size_t)n);
    buf[n] = '\0';
    *out = buf;
    if (len != NULL)
        *len = (size_t)n;
    return QL_OK;
}

ql_err
ql_store_meta_get(struct ql_store *s, const char *key, char **out,
                  struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    ql_err rc;
    int r;

    if ((rc = cached(s, &st, "SELECT value FROM meta WHERE key = ?1", d)) !=
        QL_OK)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        rc = column_dup(st, 0, out, NULL, d);
    else if (r == SQLITE_DONE)
        rc = ql_fail(d, QL_ENOTFOUND, "store setting '%s' is not set", key);
    else
        rc = sql_fail(s, r, d, "reading a setting");
    release(s, st);
    return rc;
}

ql_err
ql_store_meta_put(struct ql_store *s, const char *key, const char *value,
                  struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    char *old = NULL;
    ql_err rc;
    int r;

    rc = ql_store_meta_get(s, key, &old, d);
    if (rc == QL_OK) {
        rc = strcmp(old, value) == 0
                 ? QL_OK
                 : ql_fail(d, QL_EEXIST, "store setting '%s' is already set",
                           key);
        free(old);
        return rc;
    }
    if (rc != QL_ENOTFOUND)
        return rc;
    if ((rc = cached(s, &st, "INSERT INTO meta(key, value) VALUES (?1, ?2)",
                      d)) != QL_OK)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    rc = r == SQLITE_DONE ? QL_OK : sql_fail(s, r, d, "writing a setting");
    release(s, st);
    return rc;
}

ql_err
ql_store_log_size(struct ql_store *s, uint64_t *size, struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    ql_err rc;
    int r;

    /* max(idx) is one B-tree descent; indexes are dense, so it gives size. */
    if ((rc = cached(s, &st, "SELECT COALESCE(max(idx), -1) + 1 FROM entries",
                      d)) != QL_OK)
        return rc;
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *size = (uint64_t)sqlite3_column_int64(st, 0);
    else
        rc = sql_fail(s, r, d, "reading the log size");
    release(s, st);
    return rc;
}

/*
 * Multi-row inserts of tree hashes: one statement runs the per-statement
 * work (reset, the VDBE's start and end, the table's opening) once for
 * its rows, which saves about a quarter of a row's cost at 16 rows and a
 * little more at 64. A run of rows takes groups of 64, then of 16, then
 * single rows.
 */
#define ROW3 "(?,?,?)"
#define ROW3x4 ROW3 "," ROW3 "," ROW3 "," ROW3
#define ROW3x16 ROW3x4 "," ROW3x4 "," ROW3x4 "," ROW3x4
#define ROW3x64 ROW3x16 "," ROW3x16 "," ROW3x16 "," ROW3x16

static const char SQL_ENTRY_ONE[] =
    "INSERT INTO entries(idx, note, leaf_hash) VALUES (?1, ?2, ?3)";
static const char SQL_TREE_ONE[] =
    "INSERT INTO tree(level, idx, hash) VALUES (?1, ?2, ?3)";
static const char SQL_TREE_16[] =
    "INSERT INTO tree(level, idx, hash) VALUES " ROW3x16;
static const char SQL_TREE_64[] =
    "INSERT INTO tree(level, idx, hash) VALUES " ROW3x64;

ql_err
ql_store_entry_append(struct ql_store *s, uint64_t idx, const void *note,
                      size_t len, const uint8_t leaf_hash[32],
                      struct ql_diag *d)
{
    const struct ql_store_entry_row row = {note, len, leaf_hash};

    return ql_store_entries_append(s, idx, &row, 1, d);
}

ql_err
ql_store_entries_append(struct ql_store *s, uint64_t first,
                        const struct ql_store_entry_row *rows, size_t n,
                        struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    ql_err rc = QL_OK;
    size_t i;
    int r;

    if (n == 0)
        return QL_OK;
    if (!ql_store_in_transaction(s))
        return ql_fail(d, QL_EUSAGE, "appending outside a transaction");
    if (first > INT64_MAX || n - 1 > INT64_MAX - first)
        return ql_fail(d, QL_ETOOBIG, "entry %llu is out of range",
                       (unsigned long long)first);
    for (i = 0; i < n; i++)
        if (rows[i].len > INT32_MAX)
            return ql_fail(d, QL_ETOOBIG, "entry %llu is out of range",
                           (unsigned long long)(first + i));
    /*
     * One row a statement, the statement held for all of them: a
     * multi-row insert into a table with a trigger (entries_dense) goes
     * through a temporary table and costs more than it saves.
     */
    if ((rc = cached(s, &st, SQL_ENTRY_ONE, d)) != QL_OK)
        return rc;
    for (i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)(first + i));
        sqlite3_bind_blob(st, 2, rows[i].note, (int)rows[i].len,
                          SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, rows[i].leaf_hash, 32, SQLITE_STATIC);
        if ((r = sqlite3_step(st)) != SQLITE_DONE) {
            rc = sql_fail(s, r, d, "appending an entry");
            goto out;
        }
        sqlite3_reset(st);
    }
out:
    release(s, st);
    return rc;
}

ql_err
ql_store_entry_get(struct ql_store *s, uint64_t idx, char **note, size_t *len,
                   struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    ql_err rc;
    int r;

    if (idx > INT64_MAX)
        return ql_fail(d, QL_ENOTFOUND, "no entry %llu",
                       (unsigned long long)idx);
    if ((rc = cached(s, &st, "SELECT note FROM entries WHERE idx = ?1", d)) !=
        QL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        rc = column_dup(st, 0, note, len, d);
    else if (r == SQLITE_DONE)
        rc = ql_fail(d, QL_ENOTFOUND, "no entry %llu",
                     (unsigned long long)idx);
    else
        rc = sql_fail(s, r, d, "reading an entry");
    release(s, st);
    return rc;
}

ql_err
ql_store_entry_walk(struct ql_store *s, uint64_t from, uint64_t to,
                    ql_store_entry_fn fn, void *ctx, struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    uint64_t expect = from;
    ql_err rc;
    int r;

    if (from > INT64_MAX || to > INT64_MAX)
        return ql_fail(d, QL_EUSAGE, "entry range out of bounds");
    if ((rc = cached(s, &st,
                      "SELECT idx, note, leaf_hash FROM entries "
                      "WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
                      d)) != QL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)to);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t idx = (uint64_t)sqlite3_column_int64(st, 0);
        const void *note = sqlite3_column_blob(st, 1);
        int len = sqlite3_column_bytes(st, 1);
        const void *leaf = sqlite3_column_blob(st, 2);

        /* A gap means rows were removed behind the triggers' back. */
        if (idx != expect) {
            rc = ql_fail(d, QL_EINTEGRITY, "entry %llu is missing",
                         (unsigned long long)expect);
            goto out;
        }
        if (sqlite3_column_bytes(st, 2) != 32 || leaf == NULL) {
            rc = ql_fail(d, QL_EINTEGRITY, "entry %llu has a bad leaf hash",
                         (unsigned long long)idx);
            goto out;
        }
        if ((rc = fn(ctx, idx, note != NULL ? note : "", (size_t)len, leaf,
                     d)) != QL_OK)
            goto out;
        expect++;
    }
    if (r != SQLITE_DONE)
        rc = sql_fail(s, r, d, "reading entries");
out:
    release(s, st);
    return rc;
}

ql_err
ql_store_tree_get(struct ql_store *s, unsigned level, uint64_t idx,
                  uint8_t out[32], struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    ql_err rc;
    int r;

    if (idx > INT64_MAX)
        return ql_fail(d, QL_ENOTFOUND, "no tree hash");
    if ((rc = cached(s, &st,
                      "SELECT hash FROM tree WHERE level = ?1 AND idx = ?2",
                      d)) != QL_OK)
        return rc;
    sqlite3_bind_int(st, 1, (int)level);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32)
        memcpy(out, sqlite3_column_blob(st, 0), 32);
    else if (r == SQLITE_ROW || r == SQLITE_DONE)
        rc = ql_fail(d, QL_EINTEGRITY, "tree hash %u/%llu is missing", level,
                     (unsigned long long)idx);
    else
        rc = sql_fail(s, r, d, "reading a tree hash");
    release(s, st);
    return rc;
}

/* Stores rows[*at ..] in groups of size rows while enough are left. */
static ql_err
tree_groups(struct ql_store *s, const struct ql_store_tree_row *rows,
            size_t n, size_t *at, size_t size, const char *sql,
            struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    size_t i = *at, j;
    ql_err rc = QL_OK;
    int r;

    if (n - i < size)
        return QL_OK;
    if ((rc = cached(s, &st, sql, d)) != QL_OK)
        return rc;
    for (; n - i >= size; i += size) {
        for (j = 0; j < size; j++) {
            const struct ql_store_tree_row *w = &rows[i + j];
            int k = (int)(3 * j);

            sqlite3_bind_int(st, k + 1, (int)w->level);
            sqlite3_bind_int64(st, k + 2, (sqlite3_int64)w->idx);
            sqlite3_bind_blob(st, k + 3, w->hash, 32, SQLITE_STATIC);
        }
        if ((r = sqlite3_step(st)) != SQLITE_DONE) {
            rc = sql_fail(s, r, d, "storing a tree hash");
            goto out;
        }
        sqlite3_reset(st);
    }
    *at = i;
out:
    release(s, st);
    return rc;
}

ql_err
ql_store_tree_put_many(struct ql_store *s, const struct ql_store_tree_row *rows,
                       size_t n, struct ql_diag *d)
{
    size_t i = 0;
    ql_err rc;

    for (i = 0; i < n; i++)
        if (rows[i].idx > INT64_MAX || rows[i].level > 63)
            return ql_fail(d, QL_EUSAGE, "tree position out of range");
    i = 0;
    if ((rc = tree_groups(s, rows, n, &i, 64, SQL_TREE_64, d)) != QL_OK ||
        (rc = tree_groups(s, rows, n, &i, 16, SQL_TREE_16, d)) != QL_OK ||
        (rc = tree_groups(s, rows, n, &i, 1, SQL_TREE_ONE, d)) != QL_OK)
        return rc;
    return QL_OK;
}

ql_err
ql_store_tree_put(struct ql_store *s, unsigned level, uint64_t idx,
                  const uint8_t h[32], struct ql_diag *d)
{
    struct ql_store_tree_row row;

    row.level = level;
    row.idx = idx;
    memcpy(row.hash, h, sizeof row.hash);
    return ql_store_tree_put_many(s, &row, 1, d);
}

ql_err
ql_store_checkpoint_put(struct ql_store *s, uint64_t size, const char *note,
                        struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    ql_err rc;
    int r;

    if (size > INT64_MAX)
        return ql_fail(d, QL_EUSAGE, "checkpoint size out of range");
    if ((rc = cached(s, &st,
                      "INSERT INTO checkpoints(size, note) VALUES (?1, ?2)",
                      d)) != QL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    sqlite3_bind_blob(st, 2, note, (int)strlen(note), SQLITE_STATIC);
    r = sqlite3_step(st);
    rc = r == SQLITE_DONE ? QL_OK
                          : sql_fail(s, r, d, "storing a checkpoint");
    release(s, st);
    return rc;
}

ql_err
ql_store_checkpoint_get(struct ql_store *s, uint64_t size, uint64_t *got_size,
                        char **note, struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    bool latest = size == UINT64_MAX;
    ql_err rc;
    int r;

    if (!latest && size > INT64_MAX)
        return ql_fail(d, QL_ENOTFOUND, "no checkpoint of that size");
    if ((rc = cached(s, &st,
                      latest ? "SELECT size, note FROM checkpoints "
                               "ORDER BY size DESC LIMIT 1"
                             : "SELECT size, note FROM checkpoints "
                               "WHERE size = ?1",
                      d)) != QL_OK)
        return rc;
    if (!latest)
        sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        if (got_size != NULL)
            *got_size = (uint64_t)sqlite3_column_int64(st, 0);
        rc = column_dup(st, 1, note, NULL, d);
    } else if (r == SQLITE_DONE) {
        rc = ql_fail(d, QL_ENOTFOUND, latest ? "the log has no checkpoint"
                                             : "no checkpoint of size %llu",
                     (unsigned long long)size);
    } else {
        rc = sql_fail(s, r, d, "reading a checkpoint");
    }
    release(s, st);
    return rc;
}

ql_err
ql_store_cosignature_put(struct ql_store *s, uint64_t size,
                         const char *cosigner, const char *line, int64_t time,
                         struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    ql_err rc;
    int r;

    if ((rc = cached(s, &st,
                      "INSERT INTO cosignatures(size, cosigner, line, time) "
                      "VALUES (?1, ?2, ?3, ?4)",
                      d)) != QL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    sqlite3_bind_text(st, 2, cosigner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, line, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, time);
    r = sqlite3_step(st);
    rc = r == SQLITE_DONE ? QL_OK
                          : sql_fail(s, r, d, "storing a cosignature");
    release(s, st);
    return rc;
}

ql_err
ql_store_check(struct ql_store *s, struct ql_diag *d)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *txt;
    ql_err rc;
    int r;

    if ((rc = prepare(s, &st, "PRAGMA integrity_check(1)", d)) != QL_OK)
        return rc;
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        txt = sqlite3_column_text(st, 0);
        if (txt == NULL || strcmp((const char *)txt, "ok") != 0)
            rc = ql_fail(d, QL_ESTORE, "store '%s' is damaged: %s", s->path,
                         txt != NULL ? (const char *)txt : "?");
    } else {
        rc = sql_fail(s, r, d, "checking the store");
    }
    sqlite3_finalize(st);
    return rc;
}

ql_err
ql_store_prepare(struct ql_store *s, const char *sql, struct ql_stmt **out,
                 struct ql_diag *d)
{
    size_t h = hint_of(sql);
    struct ql_stmt *c = &s->cache[s->hint[h]];
    size_t i;
    int r;

    if (c->sql != sql || c->st == NULL) {
        c = NULL;
        for (i = 0; i < s->ncache && c == NULL; i++)
            if (s->cache[i].sql == sql)
                c = &s->cache[i];
    }
    if (c != NULL) {
        if (c->busy)
            return ql_fail(d, QL_EUSAGE, "statement already in use");
        /*
         * Not busy means new or given back through ql_stmt_done, which
         * reset it and cleared its bindings: nothing to do again.
         */
        s->hint[h] = (unsigned char)(c - s->cache);
        c->busy = true;
        *out = c;
        return QL_OK;
    }
    if (s->ncache < STMT_CACHE) {
        c = &s->cache[s->ncache++];
    } else {
        /*
         * Full: give up the slot of a statement nobody holds. The cache is
         * a speed-up, so a long-running process never runs out of it.
         */
        c = NULL;
        for (i = 0; i < STMT_CACHE && c == NULL; i++) {
            size_t at = (s->evict + i) % STMT_CACHE;

            if (!s->cache[at].busy)
                c = &s->cache[at];
        }
        if (c == NULL)
            return ql_fail(d, QL_EUSAGE, "every cached statement is in use");
        s->evict = (size_t)(c - s->cache + 1) % STMT_CACHE;
        sqlite3_finalize(c->st);
    }
    r = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st,
                           NULL);
    if (r != SQLITE_OK) {
        /* Leave the slot empty but usable: sql NULL matches no caller. */
        c->st = NULL;
        c->sql = NULL;
        c->busy = false;
        return sql_fail(s, r, d, "preparing a query");
    }
    c->store = s;
    c->sql = sql;
    c->busy = true;
    s->hint[h] = (unsigned char)(c - s->cache);
    *out = c;
    return QL_OK;
}

static ql_err
bind_result(struct ql_stmt *st, int r, struct ql_diag *d)
{
    return r == SQLITE_OK ? QL_OK : sql_fail(st->store, r, d, "binding");
}

ql_err
ql_stmt_bind_text(struct ql_stmt *st, int i, const char *v, struct ql_diag *d)
{
    return bind_result(
        st, sqlite3_bind_text(st->st, i, v, -1, SQLITE_TRANSIENT), d);
}

ql_err
ql_stmt_bind_text_static(struct ql_stmt *st, int i, const char *v,
                         struct ql_diag *d)
{
    return bind_result(
        st, sqlite3_bind_text(st->st, i, v, -1, SQLITE_STATIC), d);
}

ql_err
ql_stmt_bind_int(struct ql_stmt *st, int i, int64_t v, struct ql_diag *d)
{
    return bind_result(st, sqlite3_bind_int64(st->st, i, v), d);
}

ql_err
ql_stmt_bind_blob(struct ql_stmt *st, int i, const void *v, size_t len,
                  struct ql_diag *d)
{
    if (len > INT32_MAX)
        return ql_fail(d, QL_ETOOBIG, "value too large");
    return bind_result(
        st, sqlite3_bind_blob(st->st, i, len ? v : "", (int)len,
                              SQLITE_TRANSIENT),
        d);
}

ql_err
ql_stmt_bind_null(struct ql_stmt *st, int i, struct ql_diag *d)
{
    return bind_result(st, sqlite3_bind_null(st->st, i), d);
}

ql_err
ql_stmt_step(struct ql_stmt *st, bool *row, struct ql_diag *d)
{
    int r = sqlite3_step(st->st);

    if (r == SQLITE_ROW) {
        *row = true;
        return QL_OK;
    }
    if (r == SQLITE_DONE) {
        *row = false;
        return QL_OK;
    }
    if (r == SQLITE_CONSTRAINT_PRIMARYKEY || r == SQLITE_CONSTRAINT_UNIQUE)
        return ql_fail(d, QL_EEXIST, "already recorded: %s",
                       sqlite3_errmsg(st->store->db));
    return sql_fail(st->store, r, d, "running a query");
}

ql_err
ql_stmt_run(struct ql_stmt *st, struct ql_diag *d)
{
    bool row = false;
    ql_err rc = ql_stmt_step(st, &row, d);

    if (rc == QL_OK && row)
        return ql_fail(d, QL_EUSAGE, "statement returned rows");
    return rc;
}

const char *
ql_stmt_text(struct ql_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st->st, col);

    return t != NULL ? (const char *)t : "";
}

int64_t
ql_stmt_int(struct ql_stmt *st, int col)
{
    return sqlite3_column_int64(st->st, col);
}

const void *
ql_stmt_blob(struct ql_stmt *st, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(st->st, col);

    *len = (size_t)sqlite3_column_bytes(st->st, col);
    return p != NULL ? p : "";
}

bool
ql_stmt_null(struct ql_stmt *st, int col)
{
    return sqlite3_column_type(st->st, col) == SQLITE_NULL;
}

void
ql_stmt_done(struct ql_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st->st);
    sqlite3_clear_bindings(st->st);
    st->busy = false;
}

ql_err
ql_store_exec(struct ql_store *s, const char *sql, struct ql_diag *d)
{
    return exec(s, sql, d, "running a statement");
}

int64_t
ql_store_changes(struct ql_store *s)
{
    return sqlite3_changes64(s->db);
}

ql_err
ql_store_backup(struct ql_store *s, const char *dest, struct ql_diag *d)
{
    sqlite3 *out = NULL;
    sqlite3_backup *b = NULL;
    struct ql_store *copy = NULL;
    struct stat sb;
    char *tmp = NULL;
    size_t n;
    int r, lock = -1;
    ql_err rc = QL_OK;

    n = strlen(dest) + 8;
    if ((tmp = malloc(n)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    snprintf(tmp, n, "%s.part", dest);
    if (lstat(dest, &sb) == 0) {
        /* A backup stopped after linking its copy left this second name. */
        if (ql_file_same(tmp, dest))
            unlink(tmp);
        free(tmp);
        return ql_fail(d, QL_EEXIST, "'%s' already exists", dest);
    }
    /* An init or another backup to the same name works under it too. */
    if ((rc = ql_file_dir_lock(dest, &lock, d)) != QL_OK) {
        free(tmp);
        return rc;
    }
    unlink(tmp);
    r = sqlite3_open_v2(tmp, &out,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL);
    if (r != SQLITE_OK) {
        rc = ql_fail(d, QL_EIO, "cannot create '%s': %s", tmp,
                     out ? sqlite3_errmsg(out) : "out of memory");
        goto out;
    }
    if ((b = sqlite3_backup_init(out, "main", s->db, "main")) == NULL) {
        rc = ql_fail(d, QL_EIO, "cannot start the backup: %s",
                     sqlite3_errmsg(out));
        goto out;
    }
    /*
     * One step copies everything from one read snapshot, so writers that
     * commit meanwhile neither restart the copy nor appear half in it.
     */
    r = sqlite3_backup_step(b, -1);
    if (r != SQLITE_DONE) {
        rc = (r & 0xff) == SQLITE_FULL
                 ? ql_fail(d, QL_EFULL, "disk full writing '%s'", dest)
             : (r & 0xff) == SQLITE_BUSY || (r & 0xff) == SQLITE_LOCKED
                 ? ql_fail(d, QL_EBUSY, "the store is busy; try again")
                 : ql_fail(d, QL_EIO, "backup failed: %s",
                           sqlite3_errmsg(out));
        goto out;
    }
    sqlite3_backup_finish(b);
    b = NULL;
    if (sqlite3_close(out) != SQLITE_OK) {
        rc = ql_fail(d, QL_EIO, "cannot finish '%s'", tmp);
        out = NULL;
        goto out;
    }
    out = NULL;
    if ((rc = ql_store_open(tmp, 0, &copy, d)) != QL_OK ||
        (rc = ql_store_check(copy, d)) != QL_OK)
        goto out;
    ql_store_close(copy);
    copy = NULL;
    /*
     * The copy holds what the store holds: those who may read the store
     * may read it, and never the world. link() puts it in place only if
     * nothing took the name meanwhile; nothing is ever overwritten.
     */
    if (stat(s->path, &sb) == 0)
        (void)chmod(tmp, sb.st_mode & 0660);
    rc = ql_file_publish(tmp, dest, false, d);
out:
    if (b != NULL)
        sqlite3_backup_finish(b);
    sqlite3_close(out);
    ql_store_close(copy);
    if (rc != QL_OK) {
        unlink(tmp);
    } else {
        /* The copy was opened in WAL mode; fold it into the file. */
        char *side = malloc(n + 8);

        if (side != NULL) {
            snprintf(side, n + 8, "%s.part-wal", dest);
            unlink(side);
            snprintf(side, n + 8, "%s.part-shm", dest);
            unlink(side);
            free(side);
        }
    }
    if (lock >= 0)
        close(lock);
    free(tmp);
    return rc;
}
