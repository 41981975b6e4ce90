#include "ql_fault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <execinfo.h>
#endif

#include <sqlite3.h>

/* What is armed; kind QLF_NONE counts nothing. */
static _Atomic int armed_kind = QLF_NONE;
static _Atomic uint64_t armed_n;
static _Atomic bool armed_sticky;
static _Atomic uint64_t counted;
static _Atomic bool fired;
static _Atomic bool real_syncs = true;
static _Atomic int in_parser;

/*
 * With QL_FAULT_TRACE naming a file, where each fault strikes is appended
 * to it (addresses for addr2line), for finding the code behind a failure.
 */
static void
trace(void)
{
#ifdef __GLIBC__
    const char *path = getenv("QL_FAULT_TRACE");
    void *frames[32];
    int n, fd;

    if (path == NULL || *path == '\0')
        return;
    if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600)) < 0)
        return;
    n = backtrace(frames, 32);
    backtrace_symbols_fd(frames, n, fd);
    /* Not write(): in the suite that is the faulting wrapper. */
    dprintf(fd, "--\n");
    close(fd);
#endif
}

/* Counts one call of kind (amount for QLF_FULL); true when it must fail. */
static bool
strike(enum qlf_kind kind, uint64_t amount)
{
    uint64_t before;

    if (atomic_load(&armed_kind) != (int)kind)
        return false;
    before = atomic_fetch_add(&counted, amount);
    if (kind == QLF_FULL) {
        /* A write that does not fit the budget fails whole. */
        if (before + amount <= atomic_load(&armed_n) &&
            !(atomic_load(&fired) && atomic_load(&armed_sticky)))
            return false;
        atomic_fetch_sub(&counted, amount);
        atomic_store(&fired, true);
        trace();
        return true;
    }
    if (before + 1 == atomic_load(&armed_n) ||
        (before + 1 > atomic_load(&armed_n) && atomic_load(&armed_sticky))) {
        atomic_store(&fired, true);
        trace();
        return true;
    }
    return false;
}

void
qlf_point(void)
{
    if (strike(QLF_EXIT, 1))
        _exit(QLF_EXIT_STATUS);
}

void
qlf_arm(enum qlf_kind kind, uint64_t n, bool sticky)
{
    atomic_store(&armed_kind, QLF_NONE);
    atomic_store(&counted, 0);
    atomic_store(&fired, false);
    atomic_store(&armed_n, n);
    atomic_store(&armed_sticky, sticky);
    atomic_store(&armed_kind, (int)kind);
}

uint64_t
qlf_disarm(void)
{
    atomic_store(&armed_kind, QLF_NONE);
    return atomic_load(&counted);
}

bool
qlf_fired(void)
{
    return atomic_load(&fired);
}

const char *
qlf_name(enum qlf_kind kind)
{
    switch (kind) {
    case QLF_OWN_ALLOC:
        return "allocation";
    case QLF_SQLITE_ALLOC:
        return "SQLite allocation";
    case QLF_IO:
        return "write or sync";
    case QLF_FULL:
        return "disk full after bytes";
    case QLF_PARSER_ALLOC:
        return "allocation inside the JSON parser";
    case QLF_SECRET_ALLOC:
        return "guarded allocation";
    case QLF_EXIT:
        return "kill at a write, sync or name";
    case QLF_NONE:
        break;
    }
    return "none";
}

bool
qlf_own_alloc(void)
{
    if (atomic_load(&in_parser) > 0 && strike(QLF_PARSER_ALLOC, 1))
        return true;
    return strike(QLF_OWN_ALLOC, 1);
}

bool
qlf_secret_alloc(void)
{
    if (strike(QLF_SECRET_ALLOC, 1))
        return true;
    return qlf_own_alloc();
}

void
qlf_parser_enter(void)
{
    atomic_fetch_add(&in_parser, 1);
}

void
qlf_parser_leave(void)
{
    atomic_fetch_sub(&in_parser, 1);
}

void
qlf_real_syncs(bool on)
{
    atomic_store(&real_syncs, on);
}

long long
qlf_own_write(size_t n)
{
    uint64_t before, budget;

    qlf_point();
    if (strike(QLF_IO, 1)) {
        errno = EIO;
        return -1;
    }
    if (atomic_load(&armed_kind) != QLF_FULL || !strike(QLF_FULL, n))
        return (long long)n;
    /* What still fits is written, as a disk does before it is full. */
    before = atomic_load(&counted);
    budget = atomic_load(&armed_n);
    if (n > 0 && before < budget && budget - before < n) {
        atomic_fetch_add(&counted, budget - before);
        return (long long)(budget - before);
    }
    errno = ENOSPC;
    return -1;
}

int
qlf_own_sync(void)
{
    qlf_point();
    if (strike(QLF_IO, 1)) {
        errno = EIO;
        return -1;
    }
    return atomic_load(&real_syncs) ? 0 : 1;
}

/* ---- SQLite's memory ---- */

static sqlite3_mem_methods real_mem;

static void *
mem_malloc(int n)
{
    return strike(QLF_SQLITE_ALLOC, 1) ? NULL : real_mem.xMalloc(n);
}

static void *
mem_realloc(void *p, int n)
{
    return strike(QLF_SQLITE_ALLOC, 1) ? NULL : real_mem.xRealloc(p, n);
}

static void
mem_free(void *p)
{
    real_mem.xFree(p);
}

static int
mem_size(void *p)
{
    return real_mem.xSize(p);
}

static int
mem_roundup(int n)
{
    return real_mem.xRoundup(n);
}

static int
mem_init(void *app)
{
    (void)app;
    return real_mem.xInit(real_mem.pAppData);
}

static void
mem_shutdown(void *app)
{
    (void)app;
    real_mem.xShutdown(real_mem.pAppData);
}

/* ---- the VFS: the unix one, with writes that fail ---- */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;

struct fault_file {
    sqlite3_file base;
    sqlite3_file *real; /* the unix VFS's file, right after this struct */
};

#define REAL(f) (((struct fault_file *)(f))->real)

static int
f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}

static int
f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int
f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    qlf_point();
    /* errno as the system leaves it: SQLite reads it for the message. */
    if (strike(QLF_IO, 1)) {
        errno = EIO;
        return SQLITE_IOERR_WRITE;
    }
    if (strike(QLF_FULL, (uint64_t)n)) {
        errno = ENOSPC;
        return SQLITE_FULL;
    }
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int
f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    qlf_point();
    if (strike(QLF_IO, 1)) {
        errno = EIO;
        return SQLITE_IOERR_TRUNCATE;
    }
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
f_sync(sqlite3_file *f, int flags)
{
    qlf_point();
    if (strike(QLF_IO, 1)) {
        errno = EIO;
        return SQLITE_IOERR_FSYNC;
    }
    if (!atomic_load(&real_syncs))
        return SQLITE_OK;
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
f_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
f_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int
f_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int
f_check_lock(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
f_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
f_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
f_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
f_shm_map(sqlite3_file *f, int region, int size, int extend,
          void volatile **out)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, out);
}

static int
f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void
f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, out);
}

static int
f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

/* For files whose real methods are version 3 (the unix VFS's). */
static const sqlite3_io_methods FAULT_IO3 = {
    3,           f_close,      f_read,         f_write,
    f_truncate,  f_sync,       f_file_size,    f_lock,
    f_unlock,    f_check_lock, f_file_control, f_sector_size,
    f_device,    f_shm_map,    f_shm_lock,     f_shm_barrier,
    f_shm_unmap, f_fetch,      f_unfetch,
};

/* For any older method table: no shared memory, no mapping. */
static const sqlite3_io_methods FAULT_IO1 = {
    1,           f_close, f_read,   f_write,      f_truncate,     f_sync,
    f_file_size, f_lock,  f_unlock, f_check_lock, f_file_control, f_sector_size,
    f_device,    NULL,    NULL,     NULL,         NULL,           NULL,
    NULL,
};

static int
v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
       int *out_flags)
{
    struct fault_file *ff = (struct fault_file *)file;
    int rc;

    (void)vfs;
    ff->real = (sqlite3_file *)(ff + 1);
    memset(ff->real, 0, (size_t)real_vfs->szOsFile);
    rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    /* SQLite calls xClose after a failed xOpen that set pMethods. */
    if (ff->real->pMethods == NULL)
        ff->base.pMethods = NULL;
    else
        ff->base.pMethods =
            ff->real->pMethods->iVersion >= 3 ? &FAULT_IO3 : &FAULT_IO1;
    return rc;
}

static int
v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    qlf_point();
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int
v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int
v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *
v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void
v_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void
v_dlclose(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, h);
}

static int
v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int
v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int
v_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int
v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int
v_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static int
v_set_syscall(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr p)
{
    (void)vfs;
    return real_vfs->xSetSystemCall(real_vfs, name, p);
}

static sqlite3_syscall_ptr
v_get_syscall(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xGetSystemCall(real_vfs, name);
}

static const char *
v_next_syscall(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xNextSystemCall(real_vfs, name);
}

void
qlf_install(void)
{
    static sqlite3_mem_methods mine;

    if (real_vfs != NULL)
        return;
    sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem);
    mine.xMalloc = mem_malloc;
    mine.xFree = mem_free;
    mine.xRealloc = mem_realloc;
    mine.xSize = mem_size;
    mine.xRoundup = mem_roundup;
    mine.xInit = mem_init;
    mine.xShutdown = mem_shutdown;
    sqlite3_config(SQLITE_CONFIG_MALLOC, &mine);
    sqlite3_initialize();
    real_vfs = sqlite3_vfs_find("unix");
    fault_vfs.iVersion = real_vfs->iVersion < 3 ? real_vfs->iVersion : 3;
    fault_vfs.szOsFile = (int)sizeof(struct fault_file) + real_vfs->szOsFile;
    fault_vfs.mxPathname = real_vfs->mxPathname;
    fault_vfs.zName = "qlfault";
    fault_vfs.xOpen = v_open;
    fault_vfs.xDelete = v_delete;
    fault_vfs.xAccess = v_access;
    fault_vfs.xFullPathname = v_full_pathname;
    fault_vfs.xDlOpen = v_dlopen;
    fault_vfs.xDlError = v_dlerror;
    fault_vfs.xDlSym = v_dlsym;
    fault_vfs.xDlClose = v_dlclose;
    fault_vfs.xRandomness = v_randomness;
    fault_vfs.xSleep = v_sleep;
    fault_vfs.xCurrentTime = v_current_time;
    fault_vfs.xGetLastError = v_last_error;
    fault_vfs.xCurrentTimeInt64 = v_current_time64;
    fault_vfs.xSetSystemCall = v_set_syscall;
    fault_vfs.xGetSystemCall = v_get_syscall;
    fault_vfs.xNextSystemCall = v_next_syscall;
    sqlite3_vfs_register(&fault_vfs, 1);
}
