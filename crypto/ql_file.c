/*
 * ql_file (ql_file.h): files written whole before they take their name,
 * under a working name or with none. renameat2 with RENAME_NOREPLACE,
 * O_TMPFILE and flock are Linux's.
 */
#define _GNU_SOURCE
#include "ql_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens the folder that holds path with flags, or returns -1. */
static int
open_parent_as(const char *path, int flags, mode_t mode)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    size_t n;
    int fd;

    if (slash == NULL)
        return open(".", flags | O_CLOEXEC, mode);
    n = slash == path ? 1 : (size_t)(slash - path);
    if ((dir = strndup(path, n)) == NULL)
        return -1;
    fd = open(dir, flags | O_CLOEXEC, mode);
    free(dir);
    return fd;
}

/* Opens the folder that holds path (read-only), or returns -1. */
static int
open_parent(const char *path)
{
    return open_parent_as(path, O_RDONLY | O_DIRECTORY, 0);
}

int
ql_file_open_unnamed(const char *path, mode_t mode)
{
#ifdef O_TMPFILE
    return open_parent_as(path, O_TMPFILE | O_WRONLY, mode);
#else
    (void)path;
    (void)mode;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

ql_err
ql_file_name_unnamed(int fd, const char *path, struct ql_diag *d)
{
    char proc[64];

    /* linkat through /proc needs no privilege, where AT_EMPTY_PATH does. */
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0) {
        if (errno == EEXIST)
            return ql_fail(d, QL_EEXIST, "'%s' already exists", path);
        return ql_fail(d, QL_EUNSUPPORTED, "cannot name '%s': %s", path,
                       strerror(errno));
    }
    ql_file_sync_parent(path);
    return QL_OK;
}

bool
ql_file_same(const char *a, const char *b)
{
    struct stat sa, sb;

    return lstat(a, &sa) == 0 && lstat(b, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void
ql_file_sync_parent(const char *path)
{
    int fd = open_parent(path);

    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Whether errno e says that the file system has no such operation. */
static bool
unsupported(int e)
{
    return e == EINVAL || e == ENOSYS || e == EPERM || e == ENOTSUP ||
           e == EOPNOTSUPP;
}

ql_err
ql_file_publish(const char *tmp, const char *dest, bool keep,
                 struct ql_diag *d)
{
    struct stat sb;
    int e;

#ifdef RENAME_NOREPLACE
    /* The working name goes at the very moment dest appears. */
    if (!keep) {
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) == 0)
            goto named;
        if (errno == EEXIST)
            return ql_fail(d, QL_EEXIST, "'%s' already exists", dest);
        if (!unsupported(errno))
            return ql_fail(d, QL_EIO, "cannot rename '%s' to '%s': %s", tmp,
                           dest, strerror(errno));
    }
#endif
    if (link(tmp, dest) == 0) {
        if (!keep)
            unlink(tmp);
        goto named;
    }
    e = errno;
    if (e == EEXIST || lstat(dest, &sb) == 0)
        return ql_fail(d, QL_EEXIST, "'%s' already exists", dest);
    if (!unsupported(e))
        return ql_fail(d, QL_EIO, "cannot link '%s' to '%s': %s", tmp, dest,
                       strerror(e));
    /* A file system without hard links (a FAT medium) renames. */
    if (rename(tmp, dest) != 0)
        return ql_fail(d, QL_EIO, "cannot rename '%s' to '%s': %s", tmp, dest,
                       strerror(errno));
named:
    ql_file_sync_parent(dest);
    return QL_OK;
}

ql_err
ql_file_dir_lock(const char *path, int *fd, struct ql_diag *d)
{
    /*
     * A folder this account cannot read, or a file system without flock on
     * folders (NFS answers EBADF), goes without the lock.
     */
    if ((*fd = open_parent(path)) < 0)
        return QL_OK;
    if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
        return QL_OK;
    if (errno == EWOULDBLOCK) {
        close(*fd);
        *fd = -1;
        return ql_fail(d, QL_EBUSY,
                       "another init or backup is writing in the folder of "
                       "'%s'; try again when it is done",
                       path);
    }
    close(*fd);
    *fd = -1;
    return QL_OK;
}

