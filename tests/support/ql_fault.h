/*
 * Fault injection for the test programs: the Nth allocation, the Nth
 * write or sync, or a byte budget after which the disk is full.
 *
 * Nothing here does anything until qlf_install() is called (before the
 * first use of SQLite) and a fault is armed, so linking it into every test
 * program is harmless.
 *
 * Allocations: SQLite's go through a memory shim (SQLITE_CONFIG_MALLOC);
 * qingling's own (malloc, calloc, realloc, strdup, strndup, sodium_malloc)
 * reach qlf_own_alloc() through the linker's --wrap in the program that
 * asks for it (tests/test_fault.c). Writes: a VFS registered as SQLite's
 * default wraps the unix VFS and fails xWrite, xSync or xTruncate; the
 * engine's own files (export tiles, the auditor's state) fail through
 * --wrap=write and --wrap=fsync.
 *
 * Counters are atomic: the verifier's worker threads allocate too.
 */
#ifndef QL_FAULT_H
#define QL_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum qlf_kind {
    QLF_NONE,
    QLF_OWN_ALLOC,    /* qingling's own allocations (needs --wrap) */
    QLF_SQLITE_ALLOC, /* SQLite's allocations */
    QLF_IO,           /* xWrite, xSync, xTruncate: SQLITE_IOERR_* */
    QLF_FULL,         /* xWrite past a byte budget: SQLITE_FULL */
    QLF_PARSER_ALLOC, /* qingling's own, while a parser runs (below) */
    QLF_SECRET_ALLOC, /* guarded memory for secrets (sodium_malloc) */
    QLF_EXIT,         /* the process ends at the nth point (qlf_point) */
};

/*
 * The exit status of a process that QLF_EXIT ended: _exit() at the point,
 * with nothing flushed, closed or removed, as a kill there would leave it.
 */
#define QLF_EXIT_STATUS 86

/*
 * A point where a kill can fall for QLF_EXIT: every write, sync,
 * truncation and removal through the faulting VFS, the engine's own
 * writes and syncs (--wrap=write, fsync) and, for the wrappers of link,
 * linkat, rename, renameat2 and unlink, each of those. Counts one; with
 * QLF_EXIT armed, the nth ends the process.
 */
void qlf_point(void);

/*
 * Installs SQLite's memory shim and the faulting VFS as the default one.
 * Call once, before anything opens a database.
 */
void qlf_install(void);

/*
 * Arms a fault: with QLF_OWN_ALLOC, QLF_SQLITE_ALLOC and QLF_IO the nth
 * counted call (1-based) fails, with QLF_EXIT the process ends there; with
 * QLF_FULL, n is the byte budget. With sticky, every later call fails too (a
 * memory or disk that stays exhausted); else only the nth (a transient fault).
 */
void qlf_arm(enum qlf_kind kind, uint64_t n, bool sticky);

/* Disarms; returns how many calls (bytes for QLF_FULL) were counted. */
uint64_t qlf_disarm(void);

/* True once the armed fault has struck. */
bool qlf_fired(void);

/* The name of a kind, for messages. */
const char *qlf_name(enum qlf_kind kind);

/*
 * Whether syncs reach the disk (default true). The suite turns them off
 * for speed: a sync is still counted and may still fail, but durability
 * across a power cut is the crash test's subject, not this one's.
 */
void qlf_real_syncs(bool on);

/*
 * For the --wrap allocators: counts one allocation of qingling's own and
 * returns true when it must fail.
 */
bool qlf_own_alloc(void);

/* The same for an allocation of guarded memory (also one of our own). */
bool qlf_secret_alloc(void);

/*
 * Brackets a call into a third-party parser (a --wrap of its entry point):
 * QLF_PARSER_ALLOC counts only the allocations made in between.
 */
void qlf_parser_enter(void);
void qlf_parser_leave(void);

/*
 * For --wrap=write: how many of n bytes may be written (n, or fewer when
 * the budget of QLF_FULL runs out: a short write), or -1 with errno set
 * (EIO, ENOSPC) when the write must fail.
 */
long long qlf_own_write(size_t n);

/*
 * For --wrap=fsync: -1 with errno EIO when the sync must fail, 1 when it
 * is to be skipped (see qlf_real_syncs), 0 to carry it out.
 */
int qlf_own_sync(void);

#endif
