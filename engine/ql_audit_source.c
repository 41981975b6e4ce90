/*
 * The verifier's two sources (ql_audit.h): the store, read in one
 * snapshot, and an export folder in tlog-tiles form.
 */
#include "ql_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ql_county.h"
#include "ql_export.h"
#include "ql_log.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_store.h"

void
ql_audit_source_free(struct ql_audit_source *src)
{
    if (src == NULL)
        return;
    if (src->close != NULL)
        src->close(src->ctx);
    free(src);
}

/* ---- the store ---- */

/*
 * The verifier asks for the stored hashes of each level in index order,
 * one or two an entry. Looking each up anew (bind, step, reset) cost more
 * than parsing the entry, so the lowest levels, which are most of the
 * asking, are read by one cursor each, in order, beside the entries.
 */
#define STREAM_LEVELS 4

static const char TREE_L0[] =
    "SELECT idx, hash FROM tree WHERE level = 0 ORDER BY idx";
static const char TREE_L1[] =
    "SELECT idx, hash FROM tree WHERE level = 1 ORDER BY idx";
static const char TREE_L2[] =
    "SELECT idx, hash FROM tree WHERE level = 2 ORDER BY idx";
static const char TREE_L3[] =
    "SELECT idx, hash FROM tree WHERE level = 3 ORDER BY idx";
static const char *const TREE_LEVEL_SQL[STREAM_LEVELS] = {TREE_L0, TREE_L1,
                                                          TREE_L2, TREE_L3};

/* A level's cursor and the row it holds, if any. */
struct tree_cursor {
    struct ql_stmt *st;
    uint64_t expect; /* the index that, asked for next, the cursor serves */
    bool row, end;
    int64_t idx;
    bool ok; /* the held row's hash has 32 bytes */
    uint8_t hash[QL_HASH_LEN];
};

struct store_src {
    struct ql_store *s;
    struct ql_stmt *entries, *cps, *cosigs, *tree;
    struct tree_cursor cur[STREAM_LEVELS];
    struct ql_log *log;   /* when the source opened the store itself */
    bool own;
};

static ql_err
store_next_entry(void *ctx, struct ql_audit_entry *e, struct ql_diag *d)
{
    struct store_src *ss = ctx;
    const void *leaf;
    size_t llen = 0;
    bool row = false;
    ql_err rc;

    if ((rc = ql_stmt_step(ss->entries, &row, d)) != QL_OK)
        return rc;
    if (!row)
        return ql_fail(d, QL_ENOTFOUND, "no more entries");
    e->index = (uint64_t)ql_stmt_int(ss->entries, 0);
    e->note = ql_stmt_blob(ss->entries, 1, &e->len);
    if (e->note == NULL)
        e->note = "";
    leaf = ql_stmt_blob(ss->entries, 2, &llen);
    if (leaf == NULL || llen != QL_HASH_LEN)
        return ql_fail(d, QL_EINTEGRITY, "its stored leaf hash is "
                                         "malformed");
    e->leaf = leaf;
    return QL_OK;
}

static ql_err
store_next_checkpoint(void *ctx, uint64_t *size, const char **note,
                      size_t *len, struct ql_diag *d)
{
    struct store_src *ss = ctx;
    bool row = false;
    ql_err rc;

    if ((rc = ql_stmt_step(ss->cps, &row, d)) != QL_OK)
        return rc;
    if (!row)
        return ql_fail(d, QL_ENOTFOUND, "no more checkpoints");
    *size = (uint64_t)ql_stmt_int(ss->cps, 0);
    *note = ql_stmt_blob(ss->cps, 1, len);
    if (*note == NULL)
        *note = "";
    return QL_OK;
}

static ql_err
store_next_cosignature(void *ctx, uint64_t *size, const char **cosigner,
                       const char **line, struct ql_diag *d)
{
    struct store_src *ss = ctx;
    bool row = false;
    ql_err rc;

    if ((rc = ql_stmt_step(ss->cosigs, &row, d)) != QL_OK)
        return rc;
    if (!row)
        return ql_fail(d, QL_ENOTFOUND, "no more cosignatures");
    *size = (uint64_t)ql_stmt_int(ss->cosigs, 0);
    *cosigner = ql_stmt_text(ss->cosigs, 1);
    *line = ql_stmt_text(ss->cosigs, 2);
    return QL_OK;
}

/*
 * The stored hash (level, index) from the level's cursor, which moves
 * forward only: rows before index are passed over, a row after it is
 * kept for a later call. Same answers as the lookup by key.
 */
static ql_err
cursor_hash(struct store_src *ss, unsigned level, uint64_t index,
            uint8_t out[QL_HASH_LEN], struct ql_diag *d)
{
    struct tree_cursor *c = &ss->cur[level];
    const void *h;
    size_t len = 0;
    ql_err rc;

    if (c->st == NULL && !c->end &&
        (rc = ql_store_prepare(ss->s, TREE_LEVEL_SQL[level], &c->st, d)) !=
            QL_OK)
        return rc;
    c->expect = index + 1;
    for (;;) {
        if (!c->row) {
            if (!c->end && (rc = ql_stmt_step(c->st, &c->row, d)) != QL_OK)
                return rc;
            if (c->end || !c->row) {
                c->end = true;
                break;
            }
            c->idx = ql_stmt_int(c->st, 0);
            h = ql_stmt_blob(c->st, 1, &len);
            c->ok = h != NULL && len == QL_HASH_LEN;
            if (c->ok)
                memcpy(c->hash, h, QL_HASH_LEN);
        }
        if (c->idx < (int64_t)index) {
            c->row = false;
            continue;
        }
        if (c->idx > (int64_t)index || !c->ok)
            break;
        c->row = false;
        memcpy(out, c->hash, QL_HASH_LEN);
        return QL_OK;
    }
    if (c->row && c->idx == (int64_t)index)
        c->row = false; /* a malformed row, answered */
    return ql_fail(d, QL_EINTEGRITY, "tree hash %u/%llu is missing", level,
                   (unsigned long long)index);
}

static ql_err
store_hash(void *ctx, unsigned level, uint64_t index, uint8_t out[QL_HASH_LEN],
           struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT hash FROM tree WHERE level = ?1 AND idx = ?2";
    struct store_src *ss = ctx;
    const void *h;
    size_t len = 0;
    bool row = false;
    ql_err rc;

    if (index > INT64_MAX)
        return ql_fail(d, QL_EINTEGRITY, "tree hash %u/%llu is missing",
                       level, (unsigned long long)index);
    /* The next hash of a low level, in the verifier's order: by cursor.
       Anything else (proofs, the roots declarations bind) by key. */
    if (level < STREAM_LEVELS && index == ss->cur[level].expect)
        return cursor_hash(ss, level, index, out, d);
    if (ss->tree == NULL &&
        (rc = ql_store_prepare(ss->s, SQL, &ss->tree, d)) != QL_OK)
        return rc;
    /* The statement is kept for the source's lifetime; reset it here. */
    if ((rc = ql_stmt_bind_int(ss->tree, 1, level, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(ss->tree, 2, (int64_t)index, d)) != QL_OK ||
        (rc = ql_stmt_step(ss->tree, &row, d)) != QL_OK)
        return rc;
    h = row ? ql_stmt_blob(ss->tree, 0, &len) : NULL;
    if (h == NULL || len != QL_HASH_LEN) {
        rc = ql_fail(d, QL_EINTEGRITY, "tree hash %u/%llu is missing", level,
                     (unsigned long long)index);
    } else {
        memcpy(out, h, QL_HASH_LEN);
        rc = QL_OK;
    }
    /* Done with the row: give the statement back and take it anew, which
       resets it for the next lookup. */
    ql_stmt_done(ss->tree);
    ss->tree = NULL;
    return rc;
}

static void
store_close(void *ctx)
{
    struct store_src *ss = ctx;
    size_t i;

    if (ss == NULL)
        return;
    ql_stmt_done(ss->entries);
    ql_stmt_done(ss->cps);
    ql_stmt_done(ss->cosigs);
    ql_stmt_done(ss->tree);
    for (i = 0; i < STREAM_LEVELS; i++)
        ql_stmt_done(ss->cur[i].st);
    ql_store_rollback(ss->s);
    if (ss->own) {
        ql_log_free(ss->log);
        ql_store_close(ss->s);
    }
    free(ss);
}

/* Fills src for the store ss->s and starts its read snapshot. */
static ql_err
store_begin(struct ql_audit_source *src, struct store_src *ss,
            struct ql_diag *d)
{
    static const char ENTRIES[] =
        "SELECT idx, note, leaf_hash FROM entries ORDER BY idx";
    static const char CPS[] = "SELECT size, note FROM checkpoints ORDER BY "
                              "size";
    static const char COSIGS[] = "SELECT size, cosigner, line FROM "
                                 "cosignatures ORDER BY size, id";
    ql_err rc;

    src->ctx = ss;
    src->close = store_close;
    src->stride = 1;
    src->next_entry = store_next_entry;
    src->next_checkpoint = store_next_checkpoint;
    src->next_cosignature = store_next_cosignature;
    src->hash = store_hash;
    if ((rc = ql_store_begin_read(ss->s, d)) != QL_OK ||
        (rc = ql_store_log_size(ss->s, &src->size, d)) != QL_OK ||
        (rc = ql_store_prepare(ss->s, ENTRIES, &ss->entries, d)) != QL_OK ||
        (rc = ql_store_prepare(ss->s, CPS, &ss->cps, d)) != QL_OK ||
        (rc = ql_store_prepare(ss->s, COSIGS, &ss->cosigs, d)) != QL_OK)
        return rc;
    return QL_OK;
}

ql_err
ql_audit_source_open(const char *path, struct ql_audit_source **out,
                     struct ql_diag *d)
{
    struct ql_audit_source *src = calloc(1, sizeof *src);
    struct store_src *ss = calloc(1, sizeof *ss);
    ql_err rc;

    if (src == NULL || ss == NULL) {
        free(src);
        free(ss);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    ss->own = true;
    src->ctx = ss;
    src->close = store_close;
    if ((rc = ql_store_open(path, QL_STORE_READONLY, &ss->s, d)) != QL_OK ||
        (rc = ql_log_open(ss->s, &ss->log, d)) != QL_OK)
        goto fail;
    src->origin = ql_log_origin(ss->log);
    src->profile = ql_log_profile(ss->log);
    if ((rc = store_begin(src, ss, d)) != QL_OK)
        goto fail;
    *out = src;
    return QL_OK;
fail:
    ql_audit_source_free(src);
    return rc;
}

ql_err
ql_audit_source_store(struct ql_county *c, struct ql_audit_source **out,
                      struct ql_diag *d)
{
    struct ql_audit_source *src = calloc(1, sizeof *src);
    struct store_src *ss = calloc(1, sizeof *ss);
    ql_err rc;

    if (src == NULL || ss == NULL) {
        free(src);
        free(ss);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    ss->s = ql_county_store(c);
    src->origin = ql_county_origin(c);
    src->profile = ql_log_profile(ql_county_log(c));
    if ((rc = store_begin(src, ss, d)) != QL_OK) {
        ql_audit_source_free(src);
        return rc;
    }
    *out = src;
    return QL_OK;
}

/* ---- an export folder ---- */

/* Bytes of a full entry bundle at most: 256 entries of 2 + 65535. */
#define BUNDLE_MAX (256u * (2u + 65535u))
#define TILE_LEVELS 8 /* tile levels that can exist below 2^64 */

struct tile_cache {
    bool have;
    uint64_t n;
    unsigned width;
    uint8_t hashes[256][QL_HASH_LEN];
};

struct export_src {
    char *dir;
    const struct ql_profile *p;
    uint64_t size;
    char *cp_note;
    size_t cp_len;
    bool cp_given;
    char origin[QL_ORIGIN_MAX + 1];
    /* the entry bundle being read */
    uint64_t next;
    uint8_t *bundle;
    size_t bundle_len, bundle_pos;
    bool bundle_have;
    uint64_t bundle_n;
    struct tile_cache tiles[TILE_LEVELS];
    /* qingling/cosignatures */
    FILE *cosigs;
    bool cosigs_tried;
    char *line, *cosigner, *cosig_line;
    size_t line_cap;
    unsigned long lineno;
};

/* Reads dir/rel whole into a new buffer of at most max bytes. */
static ql_err
read_rel(const struct export_src *x, const char *rel, size_t max,
         uint8_t **out, size_t *len, struct ql_diag *d)
{
    size_t n = strlen(x->dir) + strlen(rel) + 2, got = 0;
    char *path = malloc(n);
    uint8_t *buf = NULL;
    struct stat sb;
    int fd = -1;
    ql_err rc = QL_OK;

    if (path == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    snprintf(path, n, "%s/%s", x->dir, rel);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = errno == ENOENT ? ql_fail(d, QL_EINTEGRITY, "'%s' is missing",
                                       rel)
                             : ql_fail(d, QL_EIO, "cannot open '%s': %s",
                                       path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = ql_fail(d, QL_EINTEGRITY, "'%s' is not a regular file", rel);
        goto out;
    }
    if ((uint64_t)sb.st_size > max) {
        rc = ql_fail(d, QL_EINTEGRITY, "'%s' is larger than it can be", rel);
        goto out;
    }
    if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);

        if (r <= 0) {
            rc = ql_fail(d, QL_EIO, "cannot read '%s'", path);
            goto out;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    *out = buf;
    buf = NULL;
    *len = got;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(path);
    return rc;
}

/* The width of tile n at tile level L (0 for bundles) of the tree. */
static unsigned
tile_width(uint64_t size, unsigned L, uint64_t n)
{
    uint64_t count = L < 8 ? size >> (8 * L) : 0;

    if (n < count / 256)
        return 256;
    if (n == count / 256)
        return (unsigned)(count % 256);
    return 0;
}

static ql_err
load_bundle(struct export_src *x, uint64_t n, struct ql_diag *d)
{
    unsigned w = tile_width(x->size, 0, n), count = 0;
    char rel[QL_EXPORT_PATH_MAX];
    size_t pos = 0;
    ql_err rc;

    free(x->bundle);
    x->bundle = NULL;
    x->bundle_have = false;
    if ((rc = ql_export_tile_path(QL_EXPORT_ENTRIES, n, w, rel, sizeof rel,
                                  d)) != QL_OK ||
        (rc = read_rel(x, rel, BUNDLE_MAX, &x->bundle, &x->bundle_len, d)) !=
            QL_OK)
        return rc;
    while (pos + 2 <= x->bundle_len) {
        pos += 2 + ((size_t)x->bundle[pos] << 8 | x->bundle[pos + 1]);
        count++;
    }
    if (pos != x->bundle_len || count != w)
        return ql_fail(d, QL_EINTEGRITY, "entry bundle '%s' does not hold "
                                         "%u whole entries",
                       rel, w);
    x->bundle_have = true;
    x->bundle_n = n;
    x->bundle_pos = 0;
    return QL_OK;
}

static ql_err
export_next_entry(void *ctx, struct ql_audit_entry *e, struct ql_diag *d)
{
    struct export_src *x = ctx;
    size_t len;
    ql_err rc;

    if (x->next >= x->size)
        return ql_fail(d, QL_ENOTFOUND, "no more entries");
    if ((!x->bundle_have || x->bundle_n != x->next / 256) &&
        (rc = load_bundle(x, x->next / 256, d)) != QL_OK)
        return rc;
    len = (size_t)x->bundle[x->bundle_pos] << 8 |
          x->bundle[x->bundle_pos + 1];
    e->index = x->next;
    e->note = x->bundle + x->bundle_pos + 2;
    e->len = len;
    e->leaf = NULL;
    x->bundle_pos += 2 + len;
    x->next++;
    return QL_OK;
}

static ql_err
export_next_checkpoint(void *ctx, uint64_t *size, const char **note,
                       size_t *len, struct ql_diag *d)
{
    struct export_src *x = ctx;

    if (x->cp_given)
        return ql_fail(d, QL_ENOTFOUND, "no more checkpoints");
    x->cp_given = true;
    *size = x->size;
    *note = x->cp_note;
    *len = x->cp_len;
    return QL_OK;
}

/* Lines "<size> <cosignature line>" of qingling/cosignatures. */
static ql_err
export_next_cosignature(void *ctx, uint64_t *size, const char **cosigner,
                        const char **line, struct ql_diag *d)
{
    static const char DASH[] = "\xe2\x80\x94 ";
    struct export_src *x = ctx;
    char *sp, *name_end, *end = NULL;
    ssize_t n;
    size_t path_len;
    unsigned long long v;

    if (!x->cosigs_tried) {
        char *path;

        x->cosigs_tried = true;
        path_len = strlen(x->dir) + 32;
        if ((path = malloc(path_len)) == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        snprintf(path, path_len, "%s/qingling/cosignatures", x->dir);
        x->cosigs = fopen(path, "r");
        free(path);
        if (x->cosigs == NULL && errno != ENOENT)
            return ql_fail(d, QL_EIO, "cannot open qingling/cosignatures: %s",
                           strerror(errno));
    }
    if (x->cosigs == NULL)
        return ql_fail(d, QL_ENOTFOUND, "no more cosignatures");
    errno = 0;
    if ((n = getline(&x->line, &x->line_cap, x->cosigs)) < 0) {
        if (errno != 0)
            return ql_fail(d, QL_EIO, "cannot read qingling/cosignatures");
        return ql_fail(d, QL_ENOTFOUND, "no more cosignatures");
    }
    x->lineno++;
    /* "<size> — <name> <base64>\n": the line keeps its newline. */
    sp = strchr(x->line, ' ');
    if (n < 2 || x->line[n - 1] != '\n' || sp == NULL ||
        strncmp(sp + 1, DASH, strlen(DASH)) != 0 ||
        (name_end = strchr(sp + 1 + strlen(DASH), ' ')) == NULL) {
        return ql_fail(d, QL_EINTEGRITY, "qingling/cosignatures line %lu is "
                                         "malformed",
                       x->lineno);
    }
    *sp = '\0';
    errno = 0;
    v = strtoull(x->line, &end, 10);
    /*
     * strtoull also takes white space and a sign ("-18446744073709551613"
     * is 3 to it): a size starts with a digit other than 0.
     */
    if (end == x->line || *end != '\0' || errno != 0 || x->line[0] < '1' ||
        x->line[0] > '9')
        return ql_fail(d, QL_EINTEGRITY, "qingling/cosignatures line %lu has "
                                         "a bad size",
                       x->lineno);
    free(x->cosigner);
    free(x->cosig_line);
    x->cosigner = NULL;
    x->cosig_line = strdup(sp + 1);
    {
        const char *nm = sp + 1 + strlen(DASH);
        size_t nl = (size_t)(name_end - nm);

        if ((x->cosigner = malloc(nl + 1)) != NULL) {
            memcpy(x->cosigner, nm, nl);
            x->cosigner[nl] = '\0';
        }
    }
    if (x->cosigner == NULL || x->cosig_line == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    *size = v;
    *cosigner = x->cosigner;
    *line = x->cosig_line;
    return QL_OK;
}

/*
 * The stored hash (level, index) from the hash tiles: levels 8L are read
 * from tile level L; the levels between are recomputed from the tile
 * below, as tlog-tiles intends.
 */
static ql_err
export_hash(void *ctx, unsigned level, uint64_t index,
            uint8_t out[QL_HASH_LEN], struct ql_diag *d)
{
    struct export_src *x = ctx;
    unsigned L = level / 8, sub = level % 8, w;
    uint64_t first, n;
    size_t off, count = (size_t)1 << sub;
    struct tile_cache *t;
    char rel[QL_EXPORT_PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    ql_err rc;

    if (L >= TILE_LEVELS || index > (UINT64_MAX >> sub))
        return ql_fail(d, QL_EINTEGRITY, "tree hash %u/%llu is beyond the "
                                         "tree",
                       level, (unsigned long long)index);
    first = index << sub;
    n = first / 256;
    off = (size_t)(first % 256);
    w = tile_width(x->size, L, n);
    if (off + count > w)
        return ql_fail(d, QL_EINTEGRITY, "tree hash %u/%llu is beyond the "
                                         "tree",
                       level, (unsigned long long)index);
    t = &x->tiles[L];
    if (!t->have || t->n != n || t->width != w) {
        t->have = false;
        if ((rc = ql_export_tile_path((int)L, n, w, rel, sizeof rel, d)) !=
                QL_OK ||
            (rc = read_rel(x, rel, 256 * QL_HASH_LEN, &buf, &len, d)) !=
                QL_OK)
            return rc;
        if (len != (size_t)w * QL_HASH_LEN) {
            free(buf);
            return ql_fail(d, QL_EINTEGRITY, "hash tile '%s' is %zu bytes, "
                                             "not %u",
                           rel, len, w * QL_HASH_LEN);
        }
        memcpy(t->hashes, buf, len);
        free(buf);
        t->have = true;
        t->n = n;
        t->width = w;
    }
    if (sub == 0)
        memcpy(out, t->hashes[off], QL_HASH_LEN);
    else
        ql_merkle_root_of_leaves(x->p, out, t->hashes[off], count);
    return QL_OK;
}

static void
export_close(void *ctx)
{
    struct export_src *x = ctx;

    if (x == NULL)
        return;
    if (x->cosigs != NULL)
        fclose(x->cosigs);
    free(x->line);
    free(x->cosigner);
    free(x->cosig_line);
    free(x->bundle);
    free(x->cp_note);
    free(x->dir);
    free(x);
}

ql_err
ql_audit_source_export(const char *dir, struct ql_audit_source **out,
                       struct ql_diag *d)
{
    struct ql_audit_source *src = calloc(1, sizeof *src);
    struct export_src *x = calloc(1, sizeof *x);
    struct ql_note *n = NULL;
    struct ql_checkpoint cp;
    uint8_t *buf = NULL;
    size_t len = 0, tlen;
    const char *text;
    struct stat sb;
    ql_err rc;

    if (src == NULL || x == NULL || (x->dir = strdup(dir)) == NULL) {
        free(src);
        free(x);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    src->ctx = x;
    src->close = export_close;
    x->p = ql_profile_default();
    src->profile = x->p;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        rc = ql_fail(d, QL_EIO, "cannot read export folder '%s'", dir);
        goto fail;
    }
    rc = read_rel(x, "checkpoint", QL_NOTE_MAX, &buf, &len, d);
    if (rc == QL_EINTEGRITY)
        rc = ql_fail(d, QL_EINTEGRITY, "export '%s' has no checkpoint",
                     dir);
    if (rc != QL_OK)
        goto fail;
    if (strlen((char *)buf) != len)
        rc = QL_EFORMAT;
    else if ((rc = ql_note_parse((char *)buf, len, &n, d)) == QL_OK)
        rc = (text = ql_note_text(n, &tlen),
              ql_checkpoint_parse(text, tlen, &cp, d));
    if (rc == QL_ENOMEM)
        goto fail;
    if (rc != QL_OK) {
        rc = ql_fail(d, QL_EINTEGRITY, "the checkpoint of export '%s' is "
                                       "malformed",
                     dir);
        goto fail;
    }
    ql_note_free(n);
    n = NULL;
    x->cp_note = (char *)buf;
    x->cp_len = len;
    buf = NULL;
    x->size = cp.size;
    snprintf(x->origin, sizeof x->origin, "%s", cp.origin);
    src->origin = x->origin;
    src->size = cp.size;
    src->stride = 8;
    src->next_entry = export_next_entry;
    src->next_checkpoint = export_next_checkpoint;
    src->next_cosignature = export_next_cosignature;
    src->hash = export_hash;
    *out = src;
    return QL_OK;
fail:
    ql_note_free(n);
    free(buf);
    ql_audit_source_free(src);
    return rc;
}
