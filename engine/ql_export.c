/* The log as C2SP tlog-tiles in a folder (ql_export.h). */
#include "ql_export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ql_audit.h"
#include "ql_county.h"
#include "ql_log.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_store.h"

ql_err
ql_export_tile_path(int level, uint64_t n, unsigned width, char *buf,
                    size_t size, struct ql_diag *d)
{
    unsigned groups[8];
    size_t ng = 0, i, at;
    int w;

    if (level < QL_EXPORT_ENTRIES || level > 63 || width < 1 || width > 256)
        return ql_fail(d, QL_EUSAGE, "no tile at level %d of width %u", level,
                       width);
    /* 3-digit groups, most significant first; all but the last get "x". */
    do {
        groups[ng++] = (unsigned)(n % 1000);
        n /= 1000;
    } while (n > 0);
    if (level == QL_EXPORT_ENTRIES)
        w = snprintf(buf, size, "tile/entries/");
    else
        w = snprintf(buf, size, "tile/%d/", level);
    if (w < 0 || (size_t)w >= size)
        return ql_fail(d, QL_ETOOBIG, "tile path too long");
    at = (size_t)w;
    for (i = ng; i-- > 0;) {
        w = snprintf(buf + at, size - at, i > 0 ? "x%03u/" : "%03u",
                     groups[i]);
        if (w < 0 || (size_t)w >= size - at)
            return ql_fail(d, QL_ETOOBIG, "tile path too long");
        at += (size_t)w;
    }
    if (width < 256) {
        w = snprintf(buf + at, size - at, ".p/%u", width);
        if (w < 0 || (size_t)w >= size - at)
            return ql_fail(d, QL_ETOOBIG, "tile path too long");
    }
    return QL_OK;
}

/* ---- files ---- */

struct exporter {
    struct ql_county *c;
    struct ql_store *s;
    const char *dir;
    char *path; /* scratch: dir/rel */
    size_t path_cap;
    struct ql_export_result *res;
};

static ql_err
set_path(struct exporter *x, const char *rel, struct ql_diag *d)
{
    size_t n = strlen(x->dir) + strlen(rel) + 2;

    if (n > x->path_cap) {
        char *p = realloc(x->path, n + 64);

        if (p == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        x->path = p;
        x->path_cap = n + 64;
    }
    snprintf(x->path, x->path_cap, "%s/%s", x->dir, rel);
    return QL_OK;
}

/* Makes every folder above dir/rel (mode 0755). */
static ql_err
make_parents(struct exporter *x, const char *rel, struct ql_diag *d)
{
    size_t base = strlen(x->dir) + 1;
    char *slash;
    ql_err rc;

    if ((rc = set_path(x, rel, d)) != QL_OK)
        return rc;
    for (slash = strchr(x->path + base, '/'); slash != NULL;
         slash = strchr(slash + 1, '/')) {
        struct stat sb;

        *slash = '\0';
        if (mkdir(x->path, 0755) == 0) {
            /* Whatever the umask: the folder is for a web server. */
            chmod(x->path, 0755);
        } else if (errno != EEXIST || stat(x->path, &sb) != 0 ||
                   !S_ISDIR(sb.st_mode)) {
            rc = ql_fail(d, QL_EIO, "cannot make folder '%s': %s", x->path,
                         errno == EEXIST ? "a file is in the way"
                                         : strerror(errno));
            *slash = '/';
            return rc;
        }
        *slash = '/';
    }
    return QL_OK;
}

/* True when dir/rel is a regular file of exactly len bytes. */
static bool
have_file(struct exporter *x, const char *rel, size_t len)
{
    struct stat sb;

    if (set_path(x, rel, NULL) != QL_OK || lstat(x->path, &sb) != 0)
        return false;
    return S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == len;
}

/*
 * Writes dir/rel atomically: a temporary file in the same folder, synced,
 * mode 0644, renamed over the name.
 */
static ql_err
write_file(struct exporter *x, const char *rel, const void *buf, size_t len,
           struct ql_diag *d)
{
    char *tmp = NULL;
    size_t n, off = 0;
    int fd = -1;
    ql_err rc;

    if ((rc = make_parents(x, rel, d)) != QL_OK)
        return rc;
    n = strlen(x->path) + 32;
    if ((tmp = malloc(n)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    snprintf(tmp, n, "%s.tmp.%ld", x->path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0644);
    if (fd < 0) {
        rc = ql_fail(d, QL_EIO, "cannot write '%s': %s", tmp,
                     strerror(errno));
        goto out;
    }
    while (off < len) {
        ssize_t w = write(fd, (const uint8_t *)buf + off, len - off);

        if (w < 0) {
            rc = ql_fail(d, errno == ENOSPC ? QL_EFULL : QL_EIO,
                         "cannot write '%s': %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        rc = ql_fail(d, errno == ENOSPC ? QL_EFULL : QL_EIO,
                     "cannot write '%s': %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, x->path) != 0) {
        rc = ql_fail(d, QL_EIO, "cannot rename '%s' into place: %s", tmp,
                     strerror(errno));
        goto out;
    }
    x->res->written++;
out:
    if (fd >= 0)
        close(fd);
    if (rc != QL_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* ---- tiles and bundles ---- */

/* The W stored hashes (8L, 256N + i), i < W, concatenated. */
static ql_err
tile_bytes(struct exporter *x, unsigned L, uint64_t n, unsigned w,
           uint8_t *out, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT idx, hash FROM tree WHERE level = ?1 AND idx >= ?2 AND "
        "idx < ?3 ORDER BY idx";
    struct ql_stmt *st = NULL;
    uint64_t first = n * 256, expect = first;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(x->s, SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 1, (int64_t)(8 * L), d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 2, (int64_t)first, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 3, (int64_t)(first + w), d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        size_t len = 0;
        const void *h = ql_stmt_blob(st, 1, &len);

        if ((uint64_t)ql_stmt_int(st, 0) != expect || h == NULL ||
            len != QL_HASH_LEN)
            break;
        memcpy(out + (expect - first) * QL_HASH_LEN, h, QL_HASH_LEN);
        expect++;
    }
    if (rc == QL_OK && expect != first + w)
        rc = ql_fail(d, QL_EINTEGRITY, "the store lacks tree hash %u/%llu",
                     8 * L, (unsigned long long)expect);
out:
    ql_stmt_done(st);
    return rc;
}

struct bundle {
    uint8_t *buf;
    size_t len, cap;
};

static ql_err
add_entry(void *ctx, uint64_t idx, const void *note, size_t len,
          const uint8_t leaf[32], struct ql_diag *d)
{
    struct bundle *b = ctx;

    (void)leaf;
    if (len > 65535)
        return ql_fail(d, QL_EINTEGRITY, "entry %llu is %zu bytes, more "
                                         "than a bundle can carry",
                       (unsigned long long)idx, len);
    if (b->len + 2 + len > b->cap) {
        size_t cap = (b->len + 2 + len) * 2;
        uint8_t *p = realloc(b->buf, cap);

        if (p == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        b->buf = p;
        b->cap = cap;
    }
    b->buf[b->len] = (uint8_t)(len >> 8);
    b->buf[b->len + 1] = (uint8_t)len;
    memcpy(b->buf + b->len + 2, note, len);
    b->len += 2 + len;
    return QL_OK;
}

/* Writes tile n of level L (QL_EXPORT_ENTRIES: a bundle), width w. */
static ql_err
put_tile(struct exporter *x, int L, uint64_t n, unsigned w, struct bundle *b,
         struct ql_diag *d)
{
    uint8_t hashes[256 * QL_HASH_LEN];
    char rel[QL_EXPORT_PATH_MAX];
    ql_err rc;

    if ((rc = ql_export_tile_path(L, n, w, rel, sizeof rel, d)) != QL_OK)
        return rc;
    if (L == QL_EXPORT_ENTRIES) {
        /* A bundle's length is known only once read: any existing one
           is kept (its name fixes what it holds; audit verify checks). */
        struct stat sb;

        if ((rc = set_path(x, rel, d)) != QL_OK)
            return rc;
        if (lstat(x->path, &sb) == 0 && S_ISREG(sb.st_mode) &&
            sb.st_size > 0) {
            x->res->kept++;
            return QL_OK;
        }
        b->len = 0;
        if ((rc = ql_store_entry_walk(x->s, n * 256, n * 256 + w, add_entry,
                                      b, d)) != QL_OK)
            return rc;
        return write_file(x, rel, b->buf, b->len, d);
    }
    if (have_file(x, rel, (size_t)w * QL_HASH_LEN)) {
        x->res->kept++;
        return QL_OK;
    }
    if ((rc = tile_bytes(x, (unsigned)L, n, w, hashes, d)) != QL_OK)
        return rc;
    return write_file(x, rel, hashes, (size_t)w * QL_HASH_LEN, d);
}

/*
 * An export already in dir must be this log's, and a prefix of it: an
 * export is never rolled back or forked by a later one.
 */
static ql_err
check_previous(struct exporter *x, const struct ql_checkpoint *now,
               struct ql_diag *d)
{
    struct ql_note *n = NULL;
    struct ql_checkpoint old;
    uint8_t root[QL_HASH_LEN];
    char *buf = NULL;
    const char *text;
    size_t len = 0, tlen;
    struct stat sb;
    FILE *f = NULL;
    ql_err rc = QL_OK;

    if ((rc = set_path(x, "checkpoint", d)) != QL_OK)
        return rc;
    if (lstat(x->path, &sb) != 0)
        return errno == ENOENT ? QL_OK
                               : ql_fail(d, QL_EIO, "cannot read '%s': %s",
                                         x->path, strerror(errno));
    if (!S_ISREG(sb.st_mode) || sb.st_size > QL_NOTE_MAX ||
        (f = fopen(x->path, "rb")) == NULL)
        return ql_fail(d, QL_EIO, "cannot read '%s'", x->path);
    if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    len = fread(buf, 1, (size_t)sb.st_size, f);
    buf[len] = '\0';
    if (len != (size_t)sb.st_size || strlen(buf) != len)
        rc = QL_EFORMAT;
    else if ((rc = ql_note_parse(buf, len, &n, d)) == QL_OK)
        rc = (text = ql_note_text(n, &tlen),
              ql_checkpoint_parse(text, tlen, &old, d));
    if (rc == QL_ENOMEM)
        goto out;
    if (rc != QL_OK) {
        rc = ql_fail(d, QL_EFORMAT, "'%s' is not a checkpoint: is '%s' "
                                    "another program's folder?",
                     x->path, x->dir);
        goto out;
    }
    if (strcmp(old.origin, now->origin) != 0) {
        rc = ql_fail(d, QL_EEXIST, "'%s' holds the export of another log, "
                                   "'%s'",
                     x->dir, old.origin);
        goto out;
    }
    if (old.size > now->size) {
        rc = ql_fail(d, QL_EINTEGRITY, "'%s' holds a larger tree (%llu "
                                       "entries) than this store (%llu): is "
                                       "the store an older copy?",
                     x->dir, (unsigned long long)old.size,
                     (unsigned long long)now->size);
        goto out;
    }
    if ((rc = ql_log_root(ql_county_log(x->c), old.size, root, d)) !=
        QL_OK)
        goto out;
    if (memcmp(root, old.root, QL_HASH_LEN) != 0)
        rc = ql_fail(d, QL_EINTEGRITY, "the export in '%s' (%llu entries) is "
                                       "not a prefix of this log: the logs "
                                       "have forked",
                     x->dir, (unsigned long long)old.size);
out:
    if (f != NULL)
        fclose(f);
    ql_note_free(n);
    free(buf);
    return rc;
}

/* Every stored cosignature: "<size> <line>" per line, by size. */
static ql_err
cosignatures(struct exporter *x, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT size, line FROM cosignatures ORDER BY size, id";
    struct ql_stmt *st = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(x->s, SQL, &st, d)) != QL_OK)
        return rc;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        const char *line = ql_stmt_text(st, 1);
        size_t need = len + strlen(line) + 32;

        if (need > cap) {
            char *p = realloc(buf, need * 2);

            if (p == NULL) {
                rc = ql_fail(d, QL_ENOMEM, NULL);
                break;
            }
            buf = p;
            cap = need * 2;
        }
        len += (size_t)snprintf(buf + len, cap - len, "%lld %s",
                                (long long)ql_stmt_int(st, 0), line);
    }
    ql_stmt_done(st);
    if (rc == QL_OK && len > 0)
        rc = write_file(x, "qingling/cosignatures", buf, len, d);
    free(buf);
    return rc;
}

ql_err
ql_export_write(struct ql_county *c, const char *dir,
                void (*progress)(void *ctx, uint64_t done, uint64_t total),
                void *progress_ctx, struct ql_export_result *res,
                struct ql_diag *d)
{
    struct ql_export_result local;
    struct exporter x;
    struct bundle b = {NULL, 0, 0};
    struct ql_note *n = NULL;
    struct ql_checkpoint cp;
    char *note = NULL;
    const char *text;
    size_t len = 0, tlen;
    uint64_t size = 0, t;
    unsigned L;
    ql_err rc;

    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    memset(&x, 0, sizeof x);
    x.c = c;
    x.s = ql_county_store(c);
    x.dir = dir;
    x.res = res;
    if (mkdir(dir, 0755) == 0)
        chmod(dir, 0755);
    else if (errno != EEXIST)
        return ql_fail(d, QL_EIO, "cannot make folder '%s': %s", dir,
                       strerror(errno));
    if ((rc = ql_store_begin_read(x.s, d)) != QL_OK)
        return rc;
    if ((rc = ql_audit_checkpoint(c, &note, &len, &size, d)) != QL_OK ||
        (rc = ql_note_parse(note, len, &n, d)) != QL_OK)
        goto out;
    text = ql_note_text(n, &tlen);
    if ((rc = ql_checkpoint_parse(text, tlen, &cp, d)) != QL_OK ||
        (rc = check_previous(&x, &cp, d)) != QL_OK)
        goto out;
    res->size = size;
    /* Entries first, then the tiles over them, the checkpoint last: a
       reader that sees the new checkpoint finds everything it names. */
    for (t = 0; t * 256 < size; t++) {
        unsigned w = (t + 1) * 256 <= size ? 256 : (unsigned)(size % 256);

        if ((rc = put_tile(&x, QL_EXPORT_ENTRIES, t, w, &b, d)) != QL_OK)
            goto out;
        if (progress != NULL && (t % 16 == 15 || (t + 1) * 256 >= size))
            progress(progress_ctx,
                     (t + 1) * 256 < size ? (t + 1) * 256 : size, size);
    }
    for (L = 0; L < 8 && (size >> (8 * L)) > 0; L++) {
        uint64_t count = size >> (8 * L);

        for (t = 0; t < count / 256; t++)
            if ((rc = put_tile(&x, (int)L, t, 256, &b, d)) != QL_OK)
                goto out;
        if (count % 256 != 0 &&
            (rc = put_tile(&x, (int)L, count / 256, (unsigned)(count % 256),
                           &b, d)) != QL_OK)
            goto out;
    }
    if ((rc = cosignatures(&x, d)) != QL_OK ||
        (rc = write_file(&x, "checkpoint", note, len, d)) != QL_OK)
        goto out;
out:
    ql_store_rollback(x.s);
    ql_note_free(n);
    free(note);
    free(b.buf);
    free(x.path);
    return rc;
}
