/*
 * ql_file: giving a finished file its name. A file that must never be seen
 * half written is written whole first, under a working name beside its own
 * (a store made by init, a backup's copy) or with no name at all (a key
 * file), and takes its name only then, without ever replacing what has
 * that name; the folder is then synced so that the name survives a power
 * cut. A lock on the folder keeps two writers of working names apart.
 */
#ifndef QL_FILE_H
#define QL_FILE_H

#include <stdbool.h>
#include <sys/types.h>

#include "ql_err.h"

/*
 * Gives the finished file at tmp the name dest, only if nothing has that
 * name (QL_EEXIST): nothing is ever overwritten. With keep, dest becomes a
 * second name of tmp (link), and tmp stays for the caller to remove
 * (except where it is renamed, below); without, tmp's name goes at the
 * moment dest appears (renameat2 with RENAME_NOREPLACE; a link and an
 * unlink where that is not supported).
 * On a file system without hard links (a FAT medium) tmp is renamed,
 * which a process taking the name at that very moment could lose. The
 * folder is then synced, where it can be.
 */
ql_err ql_file_publish(const char *tmp, const char *dest, bool keep,
                       struct ql_diag *d) QL_MUST_CHECK;

/*
 * A file with no name yet, in the folder that holds path (O_TMPFILE),
 * open for writing with mode: it vanishes if the process stops before
 * ql_file_name_unnamed. -1 with errno where the kernel or the file system
 * has no such files (EOPNOTSUPP, EISDIR, EINVAL).
 */
int ql_file_open_unnamed(const char *path, mode_t mode);

/*
 * Gives the unnamed file fd (ql_file_open_unnamed), written whole, the
 * name path, only if nothing has that name (QL_EEXIST: nothing is ever
 * replaced), and syncs the folder where it can. QL_EUNSUPPORTED where it
 * cannot be named (no /proc); the caller then writes path another way.
 */
ql_err ql_file_name_unnamed(int fd, const char *path,
                            struct ql_diag *d) QL_MUST_CHECK;

/*
 * Whether a and b are two names of one file (a symbolic link is a file of
 * its own, not a name of what it points to).
 */
bool ql_file_same(const char *a, const char *b);

/*
 * Syncs the folder that holds path, where it can: a folder that cannot be
 * read or synced (EINVAL on some file systems) is left as is, as SQLite
 * leaves it.
 */
void ql_file_sync_parent(const char *path);

/*
 * Takes an exclusive lock on the folder that holds path, for writing
 * there under working names (init, backup): QL_EBUSY while another
 * process holds it. *fd is the lock; -1 where there is none to take (a
 * folder this account cannot read, a file system without flock on
 * folders, such as NFS), and the caller goes on without. Closing it (or
 * the process ending) lets it go.
 */
ql_err ql_file_dir_lock(const char *path, int *fd,
                        struct ql_diag *d) QL_MUST_CHECK;

#endif
