/*
 * ql_store: the SQLite file that holds one county's log, and the only code
 * that speaks SQL.
 *
 * The store is one SQLite database in WAL mode with synchronous=FULL and
 * foreign keys on. The log tables (entries, tree, checkpoints,
 * cosignatures) are append-only: triggers refuse UPDATE and DELETE, and a
 * trigger refuses an entry whose index is not the next one, so indexes are
 * dense from 0 whatever the caller does. Every other table is an index over
 * the entries and can be rebuilt from them.
 *
 * Many processes may open one store at once. Writers hold the write lock
 * for the whole of their work (ql_store_begin takes BEGIN IMMEDIATE), and
 * wait up to the busy timeout for it; past that they get QL_EBUSY and have
 * changed nothing.
 *
 * A struct ql_store is used by one thread at a time.
 */
#ifndef QL_STORE_H
#define QL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

/* The schema this code writes; older stores are migrated forward on open. */
#define QL_STORE_SCHEMA 2

/* Flags for ql_store_open. */
#define QL_STORE_CREATE 0x1u   /* create the file; QL_EEXIST if it exists */
#define QL_STORE_READONLY 0x2u /* open without write access */

struct ql_store;

/*
 * Process-wide SQLite settings for a program that opens its stores from
 * one main function and exits: SQLite keeps no memory statistics, which
 * it otherwise counts under a global lock on every allocation (about a
 * twentieth of the instructions of a one-command process). Nothing in
 * qingling reads them. Call it from main before any store is opened; once
 * SQLite has started it changes nothing and returns false. It changes the
 * whole process, so library code never calls it.
 */
bool ql_store_init_process(void);

/*
 * Opens (or with QL_STORE_CREATE creates) the store at path. A store whose
 * schema is newer than this code is refused (QL_EUNSUPPORTED); an older one
 * is migrated forward inside one transaction. A file that is not a qingling
 * store, or is damaged, is QL_ESTORE with the path in the message. *out is
 * caller-owned (ql_store_close).
 */
ql_err ql_store_open(const char *path, unsigned flags, struct ql_store **out,
                     struct ql_diag *d) QL_MUST_CHECK;

/* Closes the store; NULL is fine. An open transaction is rolled back. */
void ql_store_close(struct ql_store *s);

/* How long a writer waits for the lock before QL_EBUSY (default 10 s). */
void ql_store_set_busy_timeout(struct ql_store *s, int ms);

/*
 * Whether closing s may fold the write-ahead log into the store file
 * (default true). The last connection to close a store normally copies
 * the -wal file's pages into the .db file, syncs it and deletes the -wal
 * file. With false, s leaves the -wal file as it is when it closes, unless
 * the file has grown past 256 KiB (every process that opens the store
 * reads all of it): every commit was already durable in it, SQLite folds
 * it in at the commit that takes it past wal_autocheckpoint pages, and the
 * next connection closed with true folds it in. Until then the .db file
 * alone lacks the latest commits: copies are made with ql_store_backup,
 * never of the file alone (docs/guide-admin.md section 5). Meant for
 * processes that make one small write and exit.
 */
void ql_store_set_checkpoint_on_close(struct ql_store *s, bool on);

/*
 * Transactions. ql_store_begin takes the write lock (BEGIN IMMEDIATE);
 * ql_store_begin_read opens a read snapshot. Nothing is durable before
 * ql_store_commit returns QL_OK. ql_store_rollback never fails and is
 * harmless without a transaction.
 */
ql_err ql_store_begin(struct ql_store *s, struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_store_begin_read(struct ql_store *s,
                           struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_store_commit(struct ql_store *s, struct ql_diag *d) QL_MUST_CHECK;
void ql_store_rollback(struct ql_store *s);
bool ql_store_in_transaction(const struct ql_store *s);

/* ---- meta: small named settings (origin, profile, ...) ---- */

/* *out is caller-owned; QL_ENOTFOUND when key is not set. */
ql_err ql_store_meta_get(struct ql_store *s, const char *key, char **out,
                         struct ql_diag *d) QL_MUST_CHECK;
/* Sets key once; QL_EEXIST if it is already set to another value. */
ql_err ql_store_meta_put(struct ql_store *s, const char *key,
                         const char *value, struct ql_diag *d) QL_MUST_CHECK;

/* ---- the log ---- */

/* Number of entries (the tree size). */
ql_err ql_store_log_size(struct ql_store *s, uint64_t *size,
                         struct ql_diag *d) QL_MUST_CHECK;

/*
 * Appends entry index idx (which must equal the current size) with its
 * bytes and leaf hash. Must be inside ql_store_begin.
 */
ql_err ql_store_entry_append(struct ql_store *s, uint64_t idx,
                             const void *note, size_t len,
                             const uint8_t leaf_hash[32],
                             struct ql_diag *d) QL_MUST_CHECK;

/* Entry idx; *note is caller-owned (free()). QL_ENOTFOUND past the end. */
ql_err ql_store_entry_get(struct ql_store *s, uint64_t idx, char **note,
                          size_t *len, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Calls fn for entries [from, to) in order, with bytes borrowed for the call
 * only. A non-QL_OK return from fn stops the walk and is returned.
 */
typedef ql_err (*ql_store_entry_fn)(void *ctx, uint64_t idx, const void *note,
                                    size_t len, const uint8_t leaf_hash[32],
                                    struct ql_diag *d);
ql_err ql_store_entry_walk(struct ql_store *s, uint64_t from, uint64_t to,
                           ql_store_entry_fn fn, void *ctx,
                           struct ql_diag *d) QL_MUST_CHECK;

/* Stored Merkle hashes of complete subtrees, numbered (level, index). */
ql_err ql_store_tree_get(struct ql_store *s, unsigned level, uint64_t idx,
                         uint8_t out[32], struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_store_tree_put(struct ql_store *s, unsigned level, uint64_t idx,
                         const uint8_t h[32], struct ql_diag *d) QL_MUST_CHECK;

/*
 * Many rows at once, for a sync of the signing queue (ql_log_sync);
 * ql_store_entry_append and ql_store_tree_put are these with one row
 * (entries first, first + 1, ...). Entries take one statement a
 * row, held for the whole call (the table's trigger makes a multi-row
 * insert slower); tree hashes go in groups of 64 and 16 rows a statement,
 * single rows for the rest. Pointers are borrowed for the call. Inside
 * ql_store_begin. An argument out of range (QL_ETOOBIG for entries,
 * QL_EUSAGE for tree positions) is refused before anything is written; on
 * any other failure some rows may be stored: the caller rolls back. n == 0
 * does nothing.
 */
struct ql_store_entry_row {
    const void *note;
    size_t len;
    const uint8_t *leaf_hash; /* 32 bytes */
};
ql_err ql_store_entries_append(struct ql_store *s, uint64_t first,
                               const struct ql_store_entry_row *rows,
                               size_t n, struct ql_diag *d) QL_MUST_CHECK;

struct ql_store_tree_row {
    unsigned level;
    uint64_t idx;
    uint8_t hash[32];
};
ql_err ql_store_tree_put_many(struct ql_store *s,
                              const struct ql_store_tree_row *rows, size_t n,
                              struct ql_diag *d) QL_MUST_CHECK;

/* Records the signed checkpoint for tree size size (once per size). */
ql_err ql_store_checkpoint_put(struct ql_store *s, uint64_t size,
                               const char *note,
                               struct ql_diag *d) QL_MUST_CHECK;
/*
 * The checkpoint for size, or with size UINT64_MAX the latest one.
 * *note is caller-owned. QL_ENOTFOUND when there is none.
 */
ql_err ql_store_checkpoint_get(struct ql_store *s, uint64_t size,
                               uint64_t *got_size, char **note,
                               struct ql_diag *d) QL_MUST_CHECK;

/* Records an auditor's cosignature line for checkpoint size. */
ql_err ql_store_cosignature_put(struct ql_store *s, uint64_t size,
                                const char *cosigner, const char *line,
                                int64_t time, struct ql_diag *d) QL_MUST_CHECK;

/* ---- Queries for the derived tables (the index over the entries) ---- */

/*
 * A prepared statement. The log tables above have their own functions; the
 * derived tables (units, principals, leads, ...) are queried by the engine
 * modules that own them through this thin interface, so that SQLite's
 * header stays in this module. Statements are cached per store by their
 * SQL text's address, so callers pass string literals.
 */
struct ql_stmt;

/*
 * Prepares sql (a string literal: its address keys the cache) or takes it
 * from the cache, reset and with its bindings cleared (ql_stmt_done left it
 * so). The statement is borrowed from the store until ql_stmt_done; take
 * one at a time per SQL text.
 */
ql_err ql_store_prepare(struct ql_store *s, const char *sql,
                        struct ql_stmt **out, struct ql_diag *d) QL_MUST_CHECK;

/* Binds parameter i (1-based). Text and blobs are copied. */
ql_err ql_stmt_bind_text(struct ql_stmt *st, int i, const char *v,
                         struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_stmt_bind_int(struct ql_stmt *st, int i, int64_t v,
                        struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_stmt_bind_blob(struct ql_stmt *st, int i, const void *v, size_t len,
                         struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_stmt_bind_null(struct ql_stmt *st, int i,
                         struct ql_diag *d) QL_MUST_CHECK;

/*
 * Binds text v to parameter i without copying it: SQLite reads v when the
 * statement is stepped, so v must stay alive and unchanged until
 * ql_stmt_done (which clears every binding). For text the caller keeps
 * for the whole use of the statement; a copy costs a malloc, a memcpy and
 * a free a parameter. v NULL binds NULL.
 */
ql_err ql_stmt_bind_text_static(struct ql_stmt *st, int i, const char *v,
                                struct ql_diag *d) QL_MUST_CHECK;

/*
 * Runs the statement to its next row: *row is true with a row to read,
 * false when done. Constraint failures are QL_EINTEGRITY (QL_EEXIST for a
 * duplicate key), busy QL_EBUSY, full disk QL_EFULL.
 */
ql_err ql_stmt_step(struct ql_stmt *st, bool *row,
                    struct ql_diag *d) QL_MUST_CHECK;

/* Steps a statement that returns no rows. */
ql_err ql_stmt_run(struct ql_stmt *st, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Column values of the current row, borrowed until the next step or done.
 * Text is "" for NULL; ql_stmt_null tells them apart.
 */
const char *ql_stmt_text(struct ql_stmt *st, int col);
int64_t ql_stmt_int(struct ql_stmt *st, int col);
const void *ql_stmt_blob(struct ql_stmt *st, int col, size_t *len);
bool ql_stmt_null(struct ql_stmt *st, int col);

/* Gives the statement back to the store's cache; NULL is fine. */
void ql_stmt_done(struct ql_stmt *st);

/* Runs SQL text with no parameters and no rows (schema work, tests). */
ql_err ql_store_exec(struct ql_store *s, const char *sql,
                     struct ql_diag *d) QL_MUST_CHECK;

/* Rows changed by the last statement. */
int64_t ql_store_changes(struct ql_store *s);

/*
 * Copies the store to a new file at dest with SQLite's online backup,
 * which reads a consistent snapshot while other processes keep writing.
 * The copy is written beside dest and renamed into place once complete;
 * dest must not exist (QL_EEXIST). The copy's integrity is checked. The
 * folder is locked meanwhile (ql_file_dir_lock: QL_EBUSY while an init
 * or another backup writes there).
 */
ql_err ql_store_backup(struct ql_store *s, const char *dest,
                       struct ql_diag *d) QL_MUST_CHECK;

/*
 * Runs SQLite's integrity check; QL_ESTORE with the first problem when the
 * file is damaged.
 */
ql_err ql_store_check(struct ql_store *s, struct ql_diag *d) QL_MUST_CHECK;

#endif
