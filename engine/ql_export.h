/*
 * ql_export: a county's log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles),
 * a folder any static web server or object store can serve, and that
 * `qingling audit verify --export` reads on its own (ql_audit.h).
 *
 *   checkpoint                  the latest signed checkpoint, with every
 *                               stored cosignature of it appended
 *   tile/<L>/<N>[.p/<W>]        hash tiles: the stored hashes (8L, 256N+i)
 *   tile/entries/<N>[.p/<W>]    entry bundles: 256 entries (W when
 *                               partial), each a 2-byte big-endian length
 *                               and the entry's signed note
 *   qingling/cosignatures       every stored cosignature, one per line:
 *                               "<size> <cosignature line>"
 *
 * <N> is written in 3-digit groups, all but the last prefixed with "x"
 * (1234067 is x001/x234/067). The layout and its guarantees are in
 * docs/auditing.md.
 *
 * Writing is incremental: full tiles and full bundles never change, so an
 * existing one is not written again; partial ones for the new size are.
 * Partial files of earlier sizes are left (the spec allows serving them).
 * Every file is written to a temporary name and renamed, so a reader never
 * sees half a file; files are mode 0644 and folders 0755. Exporting only
 * reads the store.
 */
#ifndef QL_EXPORT_H
#define QL_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

struct ql_county;

/* The level that names entry bundles in ql_export_tile_path. */
#define QL_EXPORT_ENTRIES (-1)
/* Longest path ql_export_tile_path writes, with its NUL. */
#define QL_EXPORT_PATH_MAX 128

/*
 * The tile path of tile n at level (QL_EXPORT_ENTRIES for a bundle),
 * width width (256 for a full tile, else 1..255): "tile/0/x001/x234/067",
 * "tile/entries/000.p/17". buf holds QL_EXPORT_PATH_MAX bytes. QL_EUSAGE
 * for a level outside -1..63 or a width outside 1..256.
 */
ql_err ql_export_tile_path(int level, uint64_t n, unsigned width, char *buf,
                           size_t size, struct ql_diag *d) QL_MUST_CHECK;

struct ql_export_result {
    uint64_t size;        /* the exported tree size */
    uint64_t written;     /* files written */
    uint64_t kept;        /* full tiles and bundles already there */
};

/*
 * Exports the store's log, as of its latest checkpoint, into dir (created
 * if missing). When dir already holds an export it must be of this log and
 * of a tree this one extends: QL_EEXIST for another origin, QL_EINTEGRITY
 * when its checkpoint is larger than or not a prefix of this log's.
 * progress (NULL allowed) is called with entries done and the total.
 * Errors: QL_EIO, QL_EFULL while writing; the store's own.
 */
ql_err ql_export_write(struct ql_county *c, const char *dir,
                       void (*progress)(void *ctx, uint64_t done,
                                        uint64_t total),
                       void *progress_ctx, struct ql_export_result *res,
                       struct ql_diag *d) QL_MUST_CHECK;

#endif
