/*
 * qingling lead import: registers leads from a CSV or JSON file, every
 * one of them or none.
 *
 * The file is read whole and decoded to UTF-8: UTF-8 with or without a
 * byte order mark, or GB18030 as Excel in China saves "CSV" (the ANSI code
 * page, no mark). A file whose first character is '[' or '{' is JSON (an
 * array of objects, jansson); anything else is CSV (libcsv, strict). Its
 * columns (or keys) are matched to the workflow's fields by name or label,
 * or as --map says, and every row is checked before anything is written:
 * each value against its field, required fields, the size of the log entry
 * the row becomes, and likely duplicates. A dry run stops there and
 * reports; a real import with a bad row reports the same and writes
 * nothing.
 *
 * What counts as a row, a value and a duplicate (docs/decisions.md):
 *   - A row's line is the physical line its record starts on (a quoted
 *     value may span lines); for JSON, the line of the object's '{'.
 *   - CSV rows whose cells are all empty are skipped and counted (Excel
 *     writes them for rows that once held formatting); blank lines too.
 *   - Values are trimmed (ASCII white space and U+3000), CR LF inside a
 *     value becomes LF, and an empty value is a field not given. List
 *     items are trimmed and empty items dropped. Dates may be written
 *     2025/9/1, 2025-9-1, 2025.9.1 or 2025年9月1日. An enum value matches
 *     a choice that differs only in full-width forms (（） for ()).
 *   - Likely duplicates, refused unless --allow-duplicates: the same
 *     ext_ref (when the workflow has that field) as another row or as a
 *     lead now in the unit that the importer can read; or the same
 *     subjects (as a set of items) and summary, white space collapsed.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <csv.h>
#include <jansson.h>

#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_workflow.h"

/*
 * Limits. The whole file is held in memory with a few copies of its
 * values, so it is bounded; a larger batch is split into several files.
 * No value longer than an entry can ever be registered.
 */
#define IMPORT_FILE_MAX ((size_t)32 * 1024 * 1024)
#define IMPORT_ROWS_MAX 100000
#define IMPORT_COLUMNS_MAX 1024
#define IMPORT_CELL_MAX ((size_t)QL_ENTRY_MAX)
/* What an entry holds besides its fields, generously: the header lines,
 * the clear metadata the engine adds, the signature line. */
#define ENTRY_OVERHEAD 1024
/* XChaCha20-Poly1305 nonce and tag, and the payload's two length words. */
#define SEAL_OVERHEAD 40
#define PAYLOAD_OVERHEAD 8

static const struct cli_cmd import_cmd = {
    "lead", NULL,
    "qingling lead import FILE --unit CODE [--workflow NAME] [--dry-run] "
    "[--encoding auto|utf-8|gb18030] [--map HEADER=FIELD]... "
    "[--allow-duplicates] [--json]",
    "register leads from a CSV or JSON file, all or none", 0};

enum encoding { ENC_AUTO, ENC_UTF8, ENC_GB18030 };

/* Why reading stopped early. */
enum fail { FAIL_NONE, FAIL_NOMEM, FAIL_ROWS, FAIL_COLUMNS };

/* --map HEADER=FIELD; FIELD "-" skips the column. */
struct mapping {
    char *header;
    const char *field;
    const struct ql_wf_field *f; /* NULL for "-" */
    bool used;
};

struct column {
    char *name;                  /* the header or key, trimmed */
    const struct ql_wf_field *f; /* NULL: skipped, or no header */
    bool skip;                   /* --map HEADER=- */
};

/* A non-empty value, in the arena. */
struct cell {
    size_t col, off, len;
    bool bad; /* a JSON value of the wrong kind, already reported */
};

struct row {
    size_t line;
    size_t cell0, ncell;     /* its values in imp.cells */
    size_t nvalues;          /* CSV: the values the record had */
    size_t extra;            /* CSV: non-empty values past the header */
    size_t big_col, big_len; /* CSV: a value over IMPORT_CELL_MAX (col+1) */
    size_t kv0, nkv;         /* its fields in imp.kvs */
    bool bad;
    bool no_fields; /* JSON: not an object, reported already */
    char id[QL_ENTRY_WORD_MAX + 1];
};

struct problem {
    size_t row, seq;
    bool dup;
    char *msg;
};

/* A growing string, for messages with lists. */
struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
};

struct imp {
    struct cli *cli;
    const char *path, *label;
    const char *unit, *wfname;
    enum encoding enc;
    bool dry_run, allow_dups, tty;
    struct mapping *maps;
    size_t nmaps, capmaps;
    const struct ql_workflow *wf;

    char *raw, *conv, *text; /* the file; GB18030 as UTF-8; what is read */
    size_t rawlen, textlen;
    bool json;

    struct column *cols;
    size_t ncols, capcols, header_line;
    size_t *order; /* JSON: columns sorted by name, for lookups */
    struct row *rows;
    size_t nrows, caprows;
    struct cell *cells;
    size_t ncells, capcells;
    char *arena;
    size_t alen, acap;
    struct ql_wf_kv *kvs;
    size_t nkvs, capkvs;
    char **owned;
    size_t nowned, capowned;
    struct problem *probs;
    size_t nprobs, capprobs;
    size_t skipped, nbad;
    enum fail fail;

    /* While libcsv runs. */
    bool header_done, in_record;
    size_t start_line, col_i;
    struct row cur;

    struct timespec shown;
};

/* ---- small helpers ---- */

/* Room for element n of arr (size bytes each): arr itself or a larger
 * copy; NULL when memory runs out (arr is then untouched). */
static void *
grow(void *arr, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return arr;
    ncap = *cap ? *cap * 2 : 16;
    if (ncap < n + 1 || ncap > SIZE_MAX / size)
        return NULL;
    if ((p = realloc(arr, ncap * size)) == NULL)
        return NULL;
    *cap = ncap;
    return p;
}

static void sb_add(struct sbuf *b, const char *fmt, ...) QL_PRINTF(2, 3);

static void
sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    if (b->oom)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n > SIZE_MAX / 2 - b->n) {
        b->oom = true;
        return;
    }
    if (b->n + (size_t)n + 1 > b->cap) {
        size_t cap = (b->n + (size_t)n + 1) * 2;

        if ((p = realloc(b->s, cap)) == NULL) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

static const char *
sb_str(const struct sbuf *b)
{
    return b->s != NULL ? b->s : "";
}

/* Length of the UTF-8 sequence that starts with byte c (1 for others). */
static size_t
seq_len(unsigned char c)
{
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    return 1;
}

/*
 * s made fit for a one-line message in buf: whole characters, at most
 * about 60 bytes, control characters shown as '?'. The file's text is
 * valid UTF-8 by the time anything is shown.
 */
static const char *
show(char *buf, size_t size, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, n, max = size > 64 ? 60 : size - 4;

    while (*p != '\0') {
        n = seq_len(*p);
        if ((n > 1 && p[1] == '\0') || (n > 2 && p[2] == '\0') ||
            (n > 3 && p[3] == '\0'))
            n = 1; /* cut short: shown as '?' below */
        if (o + n > max) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (*p < 0x20 || *p == 0x7F || (n == 1 && *p >= 0x80)) {
            buf[o++] = '?';
            p++;
            continue;
        }
        memcpy(buf + o, p, n);
        o += n;
        p += n;
    }
    buf[o] = '\0';
    return buf;
}

/* The 1-based line of byte off: lines end at LF, CR LF or a lone CR. */
static size_t
line_at(const char *s, size_t off)
{
    size_t i, line = 1;

    for (i = 0; i < off; i++)
        if (s[i] == '\n' ||
            (s[i] == '\r' && (i + 1 >= off || s[i + 1] != '\n')))
            line++;
    return line;
}

/*
 * The length of the white space character at s, or 0: ASCII white space
 * and U+3000. s is NUL-terminated, so looking ahead stops at the end.
 */
static size_t
space_at(const char *s)
{
    if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        return 1;
    if ((unsigned char)s[0] == 0xE3 && (unsigned char)s[1] == 0x80 &&
        (unsigned char)s[2] == 0x80)
        return 3;
    return 0;
}

/* Trims s (len bytes) in place; returns the start, *len the new length. */
static char *
trim(char *s, size_t *len)
{
    size_t n = *len, k;

    while (n > 0 && (k = space_at(s)) > 0 && k <= n) {
        s += k;
        n -= k;
    }
    for (;;) {
        if (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                      s[n - 1] == '\r'))
            n--;
        else if (n >= 3 && space_at(s + n - 3) == 3)
            n -= 3;
        else
            break;
    }
    *len = n;
    return s;
}

/* True when s (len bytes) is empty or only white space. */
static bool
blank(const char *s, size_t len)
{
    size_t i = 0, k;

    while (i < len) {
        if ((k = space_at(s + i)) == 0)
            return false;
        i += k;
    }
    return true;
}

/* Offset of the first byte that is not well-formed UTF-8, or len. */
static size_t
utf8_bad(const unsigned char *s, size_t len)
{
    size_t i = 0, n, k;
    uint32_t cp, min;

    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        n = seq_len(s[i]);
        if (n == 1 || len - i < n)
            return i;
        cp = s[i] & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
        min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n;
    }
    return len;
}

static bool
oom(struct imp *im)
{
    im->fail = FAIL_NOMEM;
    return false;
}

/* Keeps a string the kvs point to until the import ends. */
static const char *
own(struct imp *im, const char *s)
{
    size_t n = strlen(s);
    char *copy, **p;

    if ((p = grow(im->owned, &im->capowned, im->nowned, sizeof *p)) == NULL) {
        oom(im);
        return NULL;
    }
    im->owned = p;
    if ((copy = malloc(n + 1)) == NULL) {
        oom(im);
        return NULL;
    }
    memcpy(copy, s, n + 1);
    im->owned[im->nowned++] = copy;
    return copy;
}

static void problem(struct imp *im, size_t row, bool dup, const char *fmt, ...)
    QL_PRINTF(4, 5);

/* Records what is wrong with row (an index into im->rows). */
static void
problem(struct imp *im, size_t row, bool dup, const char *fmt, ...)
{
    struct problem *p;
    va_list ap;
    char *msg;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (msg = malloc((size_t)n + 1)) == NULL) {
        oom(im);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if ((p = grow(im->probs, &im->capprobs, im->nprobs, sizeof *p)) == NULL) {
        free(msg);
        oom(im);
        return;
    }
    im->probs = p;
    p[im->nprobs].row = row;
    p[im->nprobs].seq = im->nprobs;
    p[im->nprobs].dup = dup;
    p[im->nprobs].msg = msg;
    im->nprobs++;
    if (!im->rows[row].bad) {
        im->rows[row].bad = true;
        im->nbad++;
    }
}

/* Shows "\r<what> done/total" on a terminal, at most ten times a second. */
static void
progress(struct imp *im, const char *what, size_t done, size_t total)
{
    struct timespec now;
    long long ms;

    if (!im->tty)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)(now.tv_sec - im->shown.tv_sec) * 1000 +
         (now.tv_nsec - im->shown.tv_nsec) / 1000000;
    if (done < total && ms < 100)
        return;
    fprintf(stderr, "\r%s %zu/%zu", what, done, total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
    im->shown = now;
}

/* ---- columns and values ---- */

/* Adds a column; a CSV header is trimmed, a JSON key taken as it is. */
static bool
add_column(struct imp *im, const char *name, size_t len, bool trimmed)
{
    struct column *p;
    char *copy, *t;

    if (im->ncols >= IMPORT_COLUMNS_MAX) {
        im->fail = FAIL_COLUMNS;
        return false;
    }
    if ((p = grow(im->cols, &im->capcols, im->ncols, sizeof *p)) == NULL)
        return oom(im);
    im->cols = p;
    if ((copy = malloc(len + 1)) == NULL)
        return oom(im);
    memcpy(copy, name, len);
    copy[len] = '\0'; /* trim() may look two bytes ahead */
    if (trimmed) {
        t = trim(copy, &len);
        memmove(copy, t, len);
    }
    copy[len] = '\0';
    memset(&im->cols[im->ncols], 0, sizeof im->cols[im->ncols]);
    im->cols[im->ncols++].name = copy;
    return true;
}

/* Stores a non-empty value of the row being read. */
static bool
add_cell(struct imp *im, size_t col, const char *s, size_t len, bool bad)
{
    struct cell *c;
    char *a;
    size_t need;

    if ((c = grow(im->cells, &im->capcells, im->ncells, sizeof *c)) == NULL)
        return oom(im);
    im->cells = c;
    need = im->alen + len + 1;
    if (need > im->acap) {
        size_t cap = im->acap ? im->acap : 4096;

        while (cap < need)
            cap *= 2;
        if ((a = realloc(im->arena, cap)) == NULL)
            return oom(im);
        im->arena = a;
        im->acap = cap;
    }
    memcpy(im->arena + im->alen, s, len);
    im->arena[im->alen + len] = '\0';
    c[im->ncells].col = col;
    c[im->ncells].off = im->alen;
    c[im->ncells].len = len;
    c[im->ncells].bad = bad;
    im->ncells++;
    im->alen += len + 1;
    return true;
}

static bool
add_row(struct imp *im)
{
    struct row *p;

    if (im->nrows >= IMPORT_ROWS_MAX) {
        im->fail = FAIL_ROWS;
        return false;
    }
    if ((p = grow(im->rows, &im->caprows, im->nrows, sizeof *p)) == NULL)
        return oom(im);
    im->rows = p;
    p[im->nrows++] = im->cur;
    return true;
}

/* Starts the next row: its values follow those stored so far. */
static void
next_row(struct imp *im, size_t line)
{
    memset(&im->cur, 0, sizeof im->cur);
    im->cur.cell0 = im->ncells;
    im->cur.line = line;
}

/*
 * Normalises a value in place: CR LF and lone CR become LF, white space
 * at both ends goes, and for a list every item is trimmed and empty items
 * dropped. Returns the start of the value.
 */
static char *
normalize(char *s, bool list)
{
    char *r, *w, *out;
    size_t n;

    for (r = w = s; *r != '\0'; r++) {
        if (*r == '\r') {
            *w++ = '\n';
            if (r[1] == '\n')
                r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    n = (size_t)(w - s);
    s = trim(s, &n);
    s[n] = '\0';
    if (!list)
        return s;
    out = w = s;
    for (r = s; *r != '\0';) {
        char *nl = strchr(r, '\n'), *item;
        size_t len = nl != NULL ? (size_t)(nl - r) : strlen(r);
        size_t step = len + (nl != NULL);

        item = trim(r, &len);
        if (len > 0) {
            if (w != out)
                *w++ = '\n';
            memmove(w, item, len);
            w += len;
        }
        r += step;
    }
    *w = '\0';
    return out;
}

/* Reads 1 or 2 digits at *p into *v. */
static bool
small_number(const char **p, int *v)
{
    int n = 0;

    *v = 0;
    while (**p >= '0' && **p <= '9' && n < 2) {
        *v = *v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n > 0 && !(**p >= '0' && **p <= '9');
}

/*
 * Rewrites the dates Excel writes in a Chinese locale -- 2025/9/1,
 * 2025-9-1, 2025.9.1, 2025年9月1日 -- as YYYY-MM-DD in out. False when s
 * has none of these shapes: it is then checked as it is.
 */
static bool
date_shape(const char *s, char out[24])
{
    static const char YEAR[] = "年", MONTH[] = "月", DAY[] = "日";
    const char *p = s;
    int y = 0, m, d, i;
    char sep = 0;

    for (i = 0; i < 4; i++, p++) {
        if (*p < '0' || *p > '9')
            return false;
        y = y * 10 + (*p - '0');
    }
    if (strncmp(p, YEAR, sizeof YEAR - 1) == 0)
        p += sizeof YEAR - 1;
    else if (*p == '-' || *p == '/' || *p == '.')
        sep = *p++;
    else
        return false;
    if (!small_number(&p, &m))
        return false;
    if (sep == 0 && strncmp(p, MONTH, sizeof MONTH - 1) == 0)
        p += sizeof MONTH - 1;
    else if (sep != 0 && *p == sep)
        p++;
    else
        return false;
    if (!small_number(&p, &d))
        return false;
    if (sep == 0 && strncmp(p, DAY, sizeof DAY - 1) == 0)
        p += sizeof DAY - 1;
    if (*p != '\0')
        return false;
    snprintf(out, 24, "%04d-%02d-%02d", y, m, d);
    return true;
}

/* s with full-width ASCII forms (U+FF01..U+FF5E) read as ASCII, in out. */
static bool
fold_width(const char *s, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;

    while (*p != '\0') {
        if (o + 4 >= size)
            return false;
        if (p[0] == 0xEF && (p[1] == 0xBC || p[1] == 0xBD) && p[2] >= 0x80) {
            unsigned cp = ((p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu)) + 0xF000u;

            if (cp >= 0xFF01 && cp <= 0xFF5E) {
                out[o++] = (char)(cp - 0xFEE0);
                p += 3;
                continue;
            }
        }
        out[o++] = (char)*p++;
    }
    out[o] = '\0';
    return true;
}

/* The enum choice of f that v names up to full-width forms, or NULL. */
static const char *
enum_choice(const struct ql_wf_field *f, const char *v)
{
    char a[512], b[512];
    size_t i;

    if (!fold_width(v, a, sizeof a))
        return NULL;
    for (i = 0; i < f->nvalues; i++)
        if (fold_width(f->values[i], b, sizeof b) && strcmp(a, b) == 0)
            return f->values[i];
    return NULL;
}

/* ---- decoding ---- */

/*
 * GB18030 to UTF-8. Returns EXIT_OK with *out (caller-owned), or
 * EXIT_BADINPUT with *bad the offset of the first byte that is not
 * GB18030, or EXIT_ENV when the system cannot convert.
 */
static int
gb18030_to_utf8(const char *in, size_t n, char **out, size_t *outlen,
                size_t *bad)
{
    /* One GB18030 byte never becomes more than two UTF-8 bytes. */
    size_t cap = 2 * n + 16, inleft = n, outleft = cap;
    char *buf, *ip = (char *)in, *op;
    iconv_t cd;

    if ((cd = iconv_open("UTF-8", "GB18030")) == (iconv_t)-1)
        return cli_error(EXIT_ENV, "this system cannot convert GB18030: %s",
                         strerror(errno));
    if ((buf = malloc(cap + 1)) == NULL) {
        iconv_close(cd);
        return cli_error(EXIT_ENV, "out of memory");
    }
    op = buf;
    /*
     * Every GB18030 sequence has its own code point, so nothing converts
     * inexactly; a failure is a byte that is not GB18030 (EILSEQ) or a
     * sequence cut off by the end of the file (EINVAL).
     */
    if (iconv(cd, &ip, &inleft, &op, &outleft) == (size_t)-1 ||
        iconv(cd, NULL, NULL, &op, &outleft) == (size_t)-1) {
        int e = errno;

        iconv_close(cd);
        free(buf);
        if (e == EILSEQ || e == EINVAL) {
            /* n itself says the file ends inside a character. */
            *bad = e == EINVAL ? n : (size_t)(ip - in);
            return EXIT_BADINPUT;
        }
        return cli_error(EXIT_ENV, "cannot convert from GB18030: %s",
                         strerror(e));
    }
    iconv_close(cd);
    *op = '\0';
    *out = buf;
    *outlen = (size_t)(op - buf);
    return EXIT_OK;
}

static int
not_utf8(struct imp *im, size_t bad, const char *hint)
{
    return cli_error(EXIT_BADINPUT,
                     "%s: line %zu: byte 0x%02x at offset %zu is not valid "
                     "UTF-8%s",
                     im->label, line_at(im->raw, bad),
                     (unsigned char)im->raw[bad], bad, hint);
}

static int
not_gb18030(struct imp *im, size_t bad)
{
    if (bad >= im->rawlen)
        return cli_error(EXIT_BADINPUT,
                         "%s: line %zu: the file ends inside a GB18030 "
                         "character",
                         im->label, line_at(im->raw, im->rawlen));
    return cli_error(EXIT_BADINPUT,
                     "%s: line %zu: byte 0x%02x at offset %zu is not valid "
                     "GB18030",
                     im->label, line_at(im->raw, bad),
                     (unsigned char)im->raw[bad], bad);
}

/*
 * Sets im->text to the file as UTF-8 without a byte order mark. Control
 * characters are looked for in the raw bytes: neither UTF-8 nor GB18030
 * uses a byte below 0x20 inside a character, so the offsets and lines
 * named are the file's own.
 */
static int
decode(struct imp *im)
{
    const unsigned char *s = (const unsigned char *)im->raw;
    size_t n = im->rawlen, i, bad, gbad = 0, clen = 0;
    char gb[80];
    bool bom = n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF;
    int ex;

    if (n >= 2 &&
        ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF)))
        return cli_error(EXIT_BADINPUT,
                         "%s is UTF-16 text (it starts with a UTF-16 byte "
                         "order mark): save it as \"CSV UTF-8\" or \"CSV\"",
                         im->label);
    for (i = 0; i < n; i++)
        if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return cli_error(EXIT_BADINPUT,
                             "%s: line %zu: byte 0x%02x at offset %zu is a "
                             "control character: this is not a CSV or JSON "
                             "text file",
                             im->label, line_at(im->raw, i), s[i], i);
    if (im->enc == ENC_GB18030) {
        if (bom)
            return cli_error(EXIT_BADINPUT,
                             "%s starts with a UTF-8 byte order mark, but "
                             "--encoding gb18030 was given",
                             im->label);
        if ((ex = gb18030_to_utf8(im->raw, n, &im->conv, &clen, &gbad)) ==
            EXIT_BADINPUT)
            return not_gb18030(im, gbad);
        if (ex != EXIT_OK)
            return ex;
        im->text = im->conv;
        im->textlen = clen;
        return EXIT_OK;
    }
    if (bom || im->enc == ENC_UTF8) {
        i = bom ? 3 : 0;
        if ((bad = i + utf8_bad(s + i, n - i)) < n)
            return not_utf8(im, bad,
                            im->enc == ENC_UTF8 && !bom
                                ? " (saved by Excel in China? try "
                                  "--encoding gb18030)"
                                : "");
        im->text = im->raw + i;
        im->textlen = n - i;
        return EXIT_OK;
    }
    /* auto, no mark: UTF-8 when it is valid UTF-8, else GB18030. */
    if ((bad = utf8_bad(s, n)) == n) {
        im->text = im->raw;
        im->textlen = n;
        return EXIT_OK;
    }
    ex = gb18030_to_utf8(im->raw, n, &im->conv, &clen, &gbad);
    if (ex == EXIT_OK) {
        im->text = im->conv;
        im->textlen = clen;
        return EXIT_OK;
    }
    if (ex != EXIT_BADINPUT)
        return ex;
    if (gbad >= n)
        snprintf(gb, sizeof gb, "it ends inside a character");
    else
        snprintf(gb, sizeof gb, "line %zu: byte 0x%02x at offset %zu",
                 line_at(im->raw, gbad), s[gbad], gbad);
    return cli_error(EXIT_BADINPUT,
                     "%s is neither UTF-8 (line %zu: byte 0x%02x at offset "
                     "%zu) nor GB18030 (%s)",
                     im->label, line_at(im->raw, bad), s[bad], bad, gb);
}

/* ---- CSV ---- */

static void
csv_value(void *v, size_t len, void *ctx)
{
    struct imp *im = ctx;
    const char *s = v;
    size_t col = im->col_i++;

    if (im->fail != FAIL_NONE)
        return;
    if (!im->header_done) {
        add_column(im, s, len, true);
        return;
    }
    im->cur.nvalues++;
    if (blank(s, len))
        return;
    if (col >= im->ncols) {
        im->cur.extra++;
        return;
    }
    if (len > IMPORT_CELL_MAX) {
        if (im->cur.big_col == 0) {
            im->cur.big_col = col + 1;
            im->cur.big_len = len;
        }
        /* Kept as a value given, so it is not also "required". */
        if (add_cell(im, col, "", 0, true))
            im->cur.ncell++;
        return;
    }
    if (add_cell(im, col, s, len, false))
        im->cur.ncell++;
}

static void
csv_record(int c, void *ctx)
{
    struct imp *im = ctx;

    (void)c;
    im->in_record = false;
    im->col_i = 0;
    if (im->fail != FAIL_NONE)
        return;
    if (!im->header_done) {
        im->header_done = true;
        im->header_line = im->start_line;
    } else if (im->cur.ncell == 0 && im->cur.extra == 0 &&
               im->cur.big_col == 0) {
        im->skipped++;
    } else {
        im->cur.line = im->start_line;
        add_row(im);
    }
    next_row(im, 0);
}

static int
read_fail(struct imp *im)
{
    switch (im->fail) {
    case FAIL_ROWS:
        return cli_error(EXIT_BADINPUT,
                         "%s has more than %d rows: split it into smaller "
                         "files",
                         im->label, IMPORT_ROWS_MAX);
    case FAIL_COLUMNS:
        return cli_error(EXIT_BADINPUT, "%s has more than %d %s",
                         im->label, IMPORT_COLUMNS_MAX,
                         im->json ? "keys" : "columns");
    case FAIL_NOMEM:
    case FAIL_NONE:
        break;
    }
    return cli_error(EXIT_ENV, "out of memory reading %s", im->label);
}

/*
 * Parses the CSV text. The text goes to libcsv one physical line at a
 * time so that the line each record starts on is known: a record can
 * only end at a line's end, and one starts on the first line with
 * something other than white space once the last has ended.
 */
static int
read_csv(struct imp *im)
{
    struct csv_parser p;
    const char *s = im->text;
    size_t n = im->textlen, i = 0, j, line = 1;
    int ex = EXIT_OK;

    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        return cli_error(EXIT_ENV, "cannot start the CSV parser");
    /* The same functions, named here so that the fault-injection suite's
       --wrap reaches the parser's allocations too. */
    csv_set_realloc_func(&p, realloc);
    csv_set_free_func(&p, free);
    next_row(im, 0);
    while (i < n) {
        bool content = false;

        for (j = i; j < n && s[j] != '\n' && s[j] != '\r'; j++)
            if (s[j] != ' ' && s[j] != '\t')
                content = true;
        if (j < n)
            j += s[j] == '\r' && j + 1 < n && s[j + 1] == '\n' ? 2 : 1;
        if (!im->in_record && content) {
            im->in_record = true;
            im->start_line = line;
        }
        if (csv_parse(&p, s + i, j - i, csv_value, csv_record, im) != j - i) {
            ex = csv_error(&p) == CSV_EPARSE
                     ? cli_error(EXIT_BADINPUT,
                                 "%s: line %zu: not valid CSV: a quote "
                                 "inside an unquoted value, or text after "
                                 "a closing quote (a quote inside a quoted "
                                 "value is written twice: \"\")",
                                 im->label, line)
                     : cli_error(EXIT_ENV, "out of memory reading %s",
                                 im->label);
            goto out;
        }
        if (im->fail != FAIL_NONE) {
            ex = read_fail(im);
            goto out;
        }
        i = j;
        line++;
    }
    if (csv_fini(&p, csv_value, csv_record, im) != 0) {
        ex = cli_error(EXIT_BADINPUT,
                       "%s: line %zu: a quoted value that starts in this "
                       "row is never closed",
                       im->label, im->start_line);
        goto out;
    }
    if (im->fail != FAIL_NONE)
        ex = read_fail(im);
out:
    csv_free(&p);
    return ex;
}

/* ---- matching columns to fields ---- */

static struct mapping *
find_map(struct imp *im, const char *header)
{
    size_t i;

    for (i = 0; i < im->nmaps; i++)
        if (strcmp(im->maps[i].header, header) == 0)
            return &im->maps[i];
    return NULL;
}

/* "name (label), ..." for the fields of wf (all, or the required ones
 * that no column gives). */
static void
field_list(struct imp *im, struct sbuf *b, bool missing_only)
{
    size_t i, j, n = 0;

    for (i = 0; i < ql_workflow_field_count(im->wf); i++) {
        const struct ql_wf_field *f = ql_workflow_field_at(im->wf, i);
        bool given = false;

        if (missing_only) {
            if (!f->required)
                continue;
            for (j = 0; j < im->ncols && !given; j++)
                given = im->cols[j].f == f;
            if (given)
                continue;
        }
        sb_add(b, "%s%s (%s)", n++ > 0 ? ", " : "", f->label, f->name);
    }
}

/*
 * Matches every column (CSV header or JSON key) to a field: --map first,
 * then a field's name or label. Unknown columns, --map entries that match
 * no column, two columns for one field and required fields that no column
 * gives are each an error about the whole file.
 */
static int
resolve_columns(struct imp *im)
{
    const char *what = im->json ? "key" : "column";
    struct sbuf b = {NULL, 0, 0, false};
    char s1[80], s2[80], where[48] = "";
    size_t i, j, nunknown = 0;
    int ex = EXIT_OK;

    if (!im->json)
        snprintf(where, sizeof where, " line %zu:", im->header_line);
    for (i = 0; i < im->ncols; i++) {
        struct column *c = &im->cols[i];
        struct mapping *m = find_map(im, c->name);

        if (m != NULL) {
            m->used = true;
            c->f = m->f;
            c->skip = m->f == NULL;
            continue;
        }
        if (c->name[0] == '\0' && !im->json)
            continue; /* a value under no header is a row's problem */
        if ((c->f = ql_workflow_field_by_label(im->wf, c->name)) == NULL) {
            sb_add(&b, "%s'%s'", nunknown > 0 ? ", " : "",
                   show(s1, sizeof s1, c->name));
            nunknown++;
        }
    }
    if (nunknown == 1 && im->ncols == 1 && !im->json &&
        (strchr(im->cols[0].name, ';') != NULL ||
         strchr(im->cols[0].name, '\t') != NULL)) {
        ex = cli_error(EXIT_BADINPUT,
                       "%s:%s the header is one column '%s': are the "
                       "values separated by semicolons or tabs? qingling "
                       "reads comma-separated values",
                       im->label, where, show(s1, sizeof s1, im->cols[0].name));
        goto out;
    }
    if (nunknown > 0) {
        struct sbuf known = {NULL, 0, 0, false};

        field_list(im, &known, false);
        ex = cli_error(EXIT_BADINPUT,
                       "%s:%s unknown %s%s %s; workflow %s has the fields "
                       "%s; match a %s to a field with --map HEADER=FIELD, "
                       "or skip it with --map HEADER=-",
                       im->label, where, what, nunknown > 1 ? "s" : "",
                       sb_str(&b), ql_workflow_name(im->wf), sb_str(&known),
                       what);
        free(known.s);
        goto out;
    }
    for (i = 0; i < im->nmaps; i++)
        if (!im->maps[i].used) {
            ex = cli_error(EXIT_USAGE, "--map '%s=%s': %s has no %s '%s'",
                           im->maps[i].header, im->maps[i].field, im->label,
                           what, im->maps[i].header);
            goto out;
        }
    for (i = 0; i < im->ncols; i++)
        for (j = i + 1; j < im->ncols; j++)
            if (im->cols[i].f != NULL && im->cols[i].f == im->cols[j].f) {
                ex = cli_error(EXIT_BADINPUT,
                               "%s:%s %ss '%s' and '%s' both give the field "
                               "%s (%s)",
                               im->label, where, what,
                               show(s1, sizeof s1, im->cols[i].name),
                               show(s2, sizeof s2, im->cols[j].name),
                               im->cols[i].f->label, im->cols[i].f->name);
                goto out;
            }
    field_list(im, &b, true); /* b is empty: no column was unknown */
    if (b.oom)
        ex = cli_error(EXIT_ENV, "out of memory");
    else if (b.n > 0)
        ex = cli_error(
            EXIT_BADINPUT, "%s: no %s gives the required %s %s", im->label,
            what, strchr(sb_str(&b), ',') ? "fields" : "field", sb_str(&b));
out:
    free(b.s);
    return ex;
}

/* ---- JSON ---- */

/*
 * The line each element of the top-level array starts on. jansson has
 * checked the text, so a scan that skips strings is enough.
 */
static size_t *
json_lines(const char *s, size_t len, size_t n)
{
    size_t *lines = calloc(n ? n : 1, sizeof *lines);
    size_t i, k = 0, line = 1;
    int depth = 0;
    bool expect = false;

    if (lines == NULL)
        return NULL;
    for (i = 0; i < len && k < n; i++) {
        char c = s[i];

        if (c == '\n') {
            line++;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r')
            continue;
        if (depth == 1 && expect && c != ']') {
            lines[k++] = line;
            expect = false;
        }
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
        } else if (c == '[' || c == '{') {
            if (++depth == 1)
                expect = true;
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect = true;
        }
    }
    return lines;
}

/* Where key is, or would go, in im->order; *found when it is there. */
static size_t
json_find(const struct imp *im, const char *key, bool *found)
{
    size_t lo = 0, hi = im->ncols, mid;
    int c;

    *found = false;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = strcmp(key, im->cols[im->order[mid]].name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Adds key as a column unless it is one already. */
static bool
json_key(struct imp *im, const char *key)
{
    size_t at, *p;
    bool found;

    at = json_find(im, key, &found);
    if (found)
        return true;
    if ((p = realloc(im->order, (im->ncols + 1) * sizeof *p)) == NULL)
        return oom(im);
    im->order = p;
    if (!add_column(im, key, strlen(key), false))
        return false;
    memmove(p + at + 1, p + at, (im->ncols - 1 - at) * sizeof *p);
    p[at] = im->ncols - 1;
    return true;
}

static const char *
json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "true or false";
    case JSON_NULL:
        break;
    }
    return "null";
}

/* A number as the shortest decimal that reads back as the same double. */
static void
real_text(struct sbuf *b, double x)
{
    char buf[40];
    int prec;

    for (prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    sb_add(b, "%s", buf);
}

/*
 * The text of JSON value v for field f, into b: a string as it is, a
 * number in decimal, and for a list field an array of those, one item a
 * line. Returns 1 for null (not given), 0 for text, and -1 for a value of
 * another kind.
 */
static int
json_text(struct sbuf *b, json_t *v, const struct ql_wf_field *f)
{
    json_t *item;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_NULL:
        return 1;
    case JSON_STRING:
        sb_add(b, "%s", json_string_value(v));
        return 0;
    case JSON_INTEGER:
        sb_add(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    case JSON_REAL:
        real_text(b, json_real_value(v));
        return 0;
    case JSON_ARRAY:
        if (f->type != QL_FIELD_LIST)
            return -1;
        json_array_foreach(v, i, item)
        {
            if (i > 0)
                sb_add(b, "\n");
            if (json_is_string(item))
                sb_add(b, "%s", json_string_value(item));
            else if (json_is_integer(item))
                sb_add(b, "%" JSON_INTEGER_FORMAT, json_integer_value(item));
            else if (json_is_real(item))
                real_text(b, json_real_value(item));
            else
                return -1;
        }
        return 0;
    case JSON_OBJECT:
    case JSON_TRUE:
    case JSON_FALSE:
        break;
    }
    return -1;
}

/* Reads one object of the array as row ri. */
static void
json_row(struct imp *im, size_t ri, json_t *obj, struct sbuf *b)
{
    const char *key;
    json_t *val;
    bool found;

    json_object_foreach(obj, key, val)
    {
        size_t col = im->order[json_find(im, key, &found)];
        const struct ql_wf_field *f = im->cols[col].f;
        int r;

        if (f == NULL || im->fail != FAIL_NONE)
            continue; /* skipped with --map KEY=- */
        b->n = 0;
        if (b->s != NULL)
            b->s[0] = '\0';
        if ((r = json_text(b, val, f)) == 1)
            continue;
        if (b->oom) {
            oom(im);
            return;
        }
        if (r < 0) {
            problem(im, ri, false, "%s (%s): the value is %s%s", f->label,
                    f->name, json_kind(val),
                    f->type == QL_FIELD_LIST
                        ? "; a list is text (one item a line) or an array "
                          "of texts"
                        : ", not text or a number");
            if (add_cell(im, col, "", 0, true))
                im->rows[ri].ncell++;
            continue;
        }
        if (!blank(sb_str(b), b->n) && add_cell(im, col, b->s, b->n, false))
            im->rows[ri].ncell++;
    }
}

/*
 * Jansson's lexer goes on when it cannot store a character (it ignores
 * strbuffer_append_byte's failure), so a load can succeed with text that
 * is not the file's. Its allocations come here while a file loads, and
 * any that fails fails the import.
 */
static bool json_short;

static void *
json_malloc(size_t n)
{
    void *p = malloc(n);

    if (p == NULL)
        json_short = true;
    return p;
}

static void
json_free(void *p)
{
    free(p);
}

/*
 * Parses a JSON array of objects, one lead each. Its keys are the columns;
 * they are matched to fields before the values are read, because a list
 * field also takes an array.
 */
static int
read_json(struct imp *im)
{
    struct sbuf b = {NULL, 0, 0, false};
    json_error_t err;
    json_t *root, *v, *val;
    const char *key;
    size_t i, n, *lines = NULL;
    int ex = EXIT_OK;

    json_short = false;
    json_set_alloc_funcs(json_malloc, json_free);
    root = json_loadb(im->text, im->textlen, JSON_REJECT_DUPLICATES, &err);
    /* Jansson says nothing at all when it runs out of memory early. */
    if (json_short ||
        (root == NULL && (json_error_code(&err) == json_error_out_of_memory ||
                          err.text[0] == '\0'))) {
        json_decref(root);
        return cli_error(EXIT_ENV, "out of memory reading %s", im->label);
    }
    if (root == NULL)
        return cli_error(EXIT_BADINPUT,
                         "%s: line %d, column %d: not valid JSON: %s",
                         im->label, err.line, err.column, err.text);
    if (!json_is_array(root)) {
        ex = cli_error(EXIT_BADINPUT,
                       "%s: a JSON import is an array of objects, one per "
                       "lead: [{...}, {...}]",
                       im->label);
        goto out;
    }
    n = json_array_size(root);
    if (n == 0) {
        ex = cli_error(EXIT_BADINPUT, "%s holds no leads (an empty array)",
                       im->label);
        goto out;
    }
    if (n > IMPORT_ROWS_MAX) {
        im->fail = FAIL_ROWS;
        ex = read_fail(im);
        goto out;
    }
    if ((lines = json_lines(im->text, im->textlen, n)) == NULL) {
        ex = cli_error(EXIT_ENV, "out of memory reading %s", im->label);
        goto out;
    }
    json_array_foreach(root, i, v)
    {
        if (!json_is_object(v))
            continue;
        json_object_foreach(v, key, val)
        {
            if (!json_key(im, key)) {
                ex = read_fail(im);
                goto out;
            }
        }
    }
    if ((ex = resolve_columns(im)) != EXIT_OK)
        goto out;
    json_array_foreach(root, i, v)
    {
        next_row(im, lines[i]);
        if (!add_row(im)) {
            ex = read_fail(im);
            goto out;
        }
        if (!json_is_object(v)) {
            im->rows[im->nrows - 1].no_fields = true;
            problem(im, im->nrows - 1, false,
                    "element %zu of the array is %s, not an object", i + 1,
                    json_kind(v));
        } else {
            json_row(im, im->nrows - 1, v, &b);
        }
        if (im->fail != FAIL_NONE) {
            ex = read_fail(im);
            goto out;
        }
    }
out:
    free(b.s);
    free(lines);
    json_decref(root);
    return ex;
}

/* ---- checking rows ---- */

static const char *
row_get(const struct imp *im, const struct row *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nkv; i++)
        if (strcmp(im->kvs[r->kv0 + i].name, name) == 0)
            return im->kvs[r->kv0 + i].value;
    return NULL;
}

static bool
push_kv(struct imp *im, struct row *r, const char *name, const char *value)
{
    struct ql_wf_kv *p;

    if ((p = grow(im->kvs, &im->capkvs, im->nkvs, sizeof *p)) == NULL)
        return oom(im);
    im->kvs = p;
    p[im->nkvs].name = name;
    p[im->nkvs].value = value;
    im->nkvs++;
    r->nkv++;
    return true;
}

/* Bytes of v in a sealed payload, where '\\' and newline are escaped. */
static size_t
escaped_len(const char *v)
{
    size_t n = 0;

    for (; *v != '\0'; v++)
        n += *v == '\\' || *v == '\n' ? 2 : 1;
    return n;
}

/*
 * About how large the row's registration entry will be, erring high:
 * clear fields as lines, sealed and secret fields encrypted and then
 * base64-encoded on the payload line.
 */
static size_t
entry_size(const struct imp *im, const struct row *r)
{
    size_t clear = 0, sealed = 0, secret = 0, i, payload;

    for (i = 0; i < r->nkv; i++) {
        const struct ql_wf_kv *kv = &im->kvs[r->kv0 + i];
        const struct ql_wf_field *f = ql_workflow_field(im->wf, kv->name);
        size_t n = strlen(kv->name) + 2;

        if (f->vis == QL_VIS_CLEAR)
            clear += n + strlen(kv->value);
        else if (f->vis == QL_VIS_SECRET)
            secret += n + escaped_len(kv->value);
        else
            sealed += n + escaped_len(kv->value);
    }
    payload = PAYLOAD_OVERHEAD + sealed + SEAL_OVERHEAD +
              (secret > 0 ? secret + SEAL_OVERHEAD : 0);
    return ENTRY_OVERHEAD + clear + 4 * ((payload + 2) / 3);
}

/*
 * Checks row ri as the engine will: every value against its field,
 * required fields, and the size of the entry it becomes. Problems are
 * recorded; the fields it would be registered with go to im->kvs.
 */
static void
check_row(struct imp *im, size_t ri)
{
    struct row *r = &im->rows[ri];
    struct ql_diag d;
    char s1[80], date[24];
    size_t i, size;

    r->kv0 = im->nkvs;
    r->nkv = 0;
    if (r->no_fields)
        return;
    if (r->big_col > 0)
        problem(im, ri, false,
                "column %zu ('%s') holds %zu bytes; no value may be longer "
                "than %zu",
                r->big_col, show(s1, sizeof s1, im->cols[r->big_col - 1].name),
                r->big_len, IMPORT_CELL_MAX);
    if (!im->json && (r->nvalues < im->ncols || r->extra > 0))
        problem(im, ri, false, "%zu values, but the header has %zu columns",
                r->nvalues, im->ncols);
    for (i = 0; i < r->ncell; i++) {
        struct cell *c = &im->cells[r->cell0 + i];
        const struct column *col = &im->cols[c->col];
        const struct ql_wf_field *f = col->f;
        const char *v, *alt;

        if (c->bad) {
            /* Reported already; it counts as given. */
            if (f != NULL)
                push_kv(im, r, f->name, "");
            continue;
        }
        if (f == NULL) {
            if (!col->skip)
                problem(im, ri, false,
                        "column %zu has no header but holds '%s'", c->col + 1,
                        show(s1, sizeof s1, im->arena + c->off));
            continue;
        }
        v = normalize(im->arena + c->off, f->type == QL_FIELD_LIST);
        if (*v == '\0')
            continue;
        if (f->type == QL_FIELD_DATE && date_shape(v, date) &&
            (v = own(im, date)) == NULL)
            return;
        if (ql_workflow_check_value(im->wf, f, v, &d) != QL_OK) {
            if (f->type == QL_FIELD_ENUM && (alt = enum_choice(f, v)) != NULL)
                v = alt;
            else
                problem(im, ri, false, "%s", d.msg);
        }
        if (!push_kv(im, r, f->name, v))
            return;
    }
    for (i = 0; i < ql_workflow_field_count(im->wf); i++) {
        const struct ql_wf_field *f = ql_workflow_field_at(im->wf, i);

        if (f->required && row_get(im, r, f->name) == NULL)
            problem(im, ri, false, "%s (%s) is required", f->label, f->name);
    }
    if (!r->bad && (size = entry_size(im, r)) > QL_ENTRY_MAX)
        problem(im, ri, false,
                "its fields make a log entry of about %zu bytes, and an "
                "entry holds at most %d: shorten the longest texts",
                size, QL_ENTRY_MAX);
}

/* ---- likely duplicates ---- */

struct dkey {
    char *key;
    size_t row;       /* index into rows; SIZE_MAX: a lead in the store */
    size_t ord;       /* that lead's place in the unit's listing */
    const char *lead; /* and its id */
};

struct dkeys {
    struct dkey *k;
    size_t n, cap;
};

static bool
dkey_add(struct imp *im, struct dkeys *ks, char *key, size_t row, size_t ord,
         const char *lead)
{
    struct dkey *p;

    if (key == NULL)
        return oom(im);
    if ((p = grow(ks->k, &ks->cap, ks->n, sizeof *p)) == NULL) {
        free(key);
        return oom(im);
    }
    ks->k = p;
    p[ks->n].key = key;
    p[ks->n].row = row;
    p[ks->n].ord = ord;
    p[ks->n].lead = lead;
    ks->n++;
    return true;
}

static void
dkeys_free(struct dkeys *ks)
{
    size_t i;

    for (i = 0; i < ks->n; i++)
        free(ks->k[i].key);
    free(ks->k);
}

/* s (len bytes) with runs of white space as one space, trimmed, into out
 * (len + 1 bytes); returns the length written. */
static size_t
collapse(const char *s, size_t len, char *out)
{
    size_t i = 0, o = 0, k;
    bool gap = false;

    while (i < len) {
        if ((k = space_at(s + i)) > 0 && i + k <= len) {
            gap = o > 0;
            i += k;
            continue;
        }
        if (gap)
            out[o++] = ' ';
        gap = false;
        out[o++] = s[i++];
    }
    out[o] = '\0';
    return o;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The form of v that duplicates are compared in: white space collapsed;
 * for a list, its items in sorted order. Caller frees; NULL when memory
 * runs out.
 */
static char *
key_text(const char *v, bool list)
{
    size_t len = strlen(v), n = 0, i, o = 0;
    char *out = malloc(len + 1), *copy = NULL, **items = NULL, *p, *nl;

    if (out == NULL)
        return NULL;
    if (!list) {
        collapse(v, len, out);
        return out;
    }
    if ((copy = malloc(len + 1)) == NULL ||
        (items = malloc((len + 1) * sizeof *items)) == NULL) {
        free(out);
        out = NULL;
        goto done;
    }
    memcpy(copy, v, len + 1);
    for (p = copy; p != NULL; p = nl) {
        if ((nl = strchr(p, '\n')) != NULL)
            *nl++ = '\0';
        if (collapse(p, strlen(p), p) > 0)
            items[n++] = p;
    }
    qsort(items, n, sizeof *items, cmp_str);
    for (i = 0; i < n; i++) {
        size_t k = strlen(items[i]);

        if (i > 0)
            out[o++] = '\n';
        memcpy(out + o, items[i], k);
        o += k;
    }
    out[o] = '\0';
done:
    free(copy);
    free(items);
    return out;
}

/* summary, and subjects when the workflow has them: one comparable key. */
static char *
content_key(const char *summary, const char *subjects)
{
    char *a = key_text(summary, false);
    char *b = key_text(subjects != NULL ? subjects : "", true);
    char *out = NULL;
    size_t na, nb;

    if (a != NULL && b != NULL) {
        na = strlen(a);
        nb = strlen(b);
        if ((out = malloc(na + nb + 2)) != NULL) {
            memcpy(out, a, na);
            out[na] = '\x1f';
            memcpy(out + na + 1, b, nb + 1);
        }
    }
    free(a);
    free(b);
    return out;
}

static int
cmp_dkey(const void *a, const void *b)
{
    const struct dkey *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    if (c != 0)
        return c;
    /* Leads in the store first, oldest first, then rows in file order:
     * the first of a group is the original, the others its duplicates. */
    if (x->row == SIZE_MAX && y->row == SIZE_MAX)
        return x->ord < y->ord ? -1 : x->ord > y->ord;
    if (x->row == y->row)
        return 0;
    if (x->row == SIZE_MAX)
        return -1;
    if (y->row == SIZE_MAX)
        return 1;
    return x->row < y->row ? -1 : 1;
}

/* Reports every row whose key another row or a stored lead has first. */
static void
report_dups(struct imp *im, struct dkeys *ks, const struct ql_wf_field *f,
            const char *what)
{
    char s1[80];
    size_t i, j;

    if (ks->n > 0)
        qsort(ks->k, ks->n, sizeof *ks->k, cmp_dkey);
    for (i = 0; i < ks->n; i = j) {
        const struct dkey *first = &ks->k[i];

        for (j = i + 1; j < ks->n && strcmp(ks->k[j].key, first->key) == 0;
             j++) {
            size_t row = ks->k[j].row;

            if (row == SIZE_MAX)
                continue;
            if (f != NULL && first->row == SIZE_MAX)
                problem(
                    im, row, true,
                    "likely duplicate: %s (%s) '%s' is already lead %s",
                    f->label, f->name,
                    show(s1, sizeof s1, row_get(im, &im->rows[row], f->name)),
                    first->lead);
            else if (f != NULL)
                problem(
                    im, row, true,
                    "likely duplicate: %s (%s) '%s' is also on line %zu",
                    f->label, f->name,
                    show(s1, sizeof s1, row_get(im, &im->rows[row], f->name)),
                    im->rows[first->row].line);
            else if (first->row == SIZE_MAX)
                problem(im, row, true,
                        "likely duplicate: the same %s as lead %s", what,
                        first->lead);
            else
                problem(im, row, true,
                        "likely duplicate: the same %s as line %zu", what,
                        im->rows[first->row].line);
        }
    }
}

struct idlist {
    char **ids;
    size_t n, cap;
};

static ql_err
collect_id(void *ctx, const struct ql_lead_row *r, struct ql_diag *d)
{
    struct idlist *l = ctx;
    size_t n = strlen(r->id);
    char **p, *copy;

    if ((p = grow(l->ids, &l->cap, l->n, sizeof *p)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    l->ids = p;
    if ((copy = malloc(n + 1)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    memcpy(copy, r->id, n + 1);
    p[l->n++] = copy;
    return QL_OK;
}

/* Adds the keys of one row, or of the stored lead ord of the listing. */
static void
add_keys(struct imp *im, struct dkeys *ek, struct dkeys *ck, size_t row,
         size_t ord, const char *lead, const char *ext, const char *summary,
         const char *subjects)
{
    if (ext != NULL && *ext != '\0')
        dkey_add(im, ek, key_text(ext, false), row, ord, lead);
    if (summary != NULL && *summary != '\0')
        dkey_add(im, ck, content_key(summary, subjects), row, ord, lead);
}

/*
 * Finds likely duplicates among the rows and against the leads now in
 * the unit that the importer can read (sealed fields need the unit's
 * key; a lead read with none is counted and left out).
 */
static int
find_duplicates(struct imp *im)
{
    const struct ql_wf_field *ext = ql_workflow_field(im->wf, "ext_ref");
    const struct ql_wf_field *sum = ql_workflow_field(im->wf, "summary");
    const struct ql_wf_field *subj = ql_workflow_field(im->wf, "subjects");
    struct dkeys ek = {NULL, 0, 0}, ck = {NULL, 0, 0};
    struct idlist ids = {NULL, 0, 0};
    struct ql_lead *l = NULL;
    struct ql_diag d;
    struct sbuf what = {NULL, 0, 0, false};
    size_t i, unreadable = 0;
    int ex = EXIT_OK;

    if (im->allow_dups || (ext == NULL && sum == NULL))
        return EXIT_OK;
    ql_diag_clear(&d);
    for (i = 0; i < im->nrows && im->fail == FAIL_NONE; i++) {
        const struct row *r = &im->rows[i];

        add_keys(im, &ek, &ck, i, 0, NULL,
                 ext != NULL ? row_get(im, r, ext->name) : NULL,
                 sum != NULL ? row_get(im, r, sum->name) : NULL,
                 subj != NULL ? row_get(im, r, subj->name) : NULL);
    }
    if (ql_lead_list(im->cli->county, im->unit, NULL, false, collect_id, &ids,
                     &d) != QL_OK) {
        ex = cli_fail(&d);
        goto out;
    }
    for (i = 0; i < ids.n && im->fail == FAIL_NONE; i++) {
        if (ql_lead_load(im->cli->county, ids.ids[i], &l, &d) != QL_OK) {
            ex = cli_fail(&d);
            goto out;
        }
        if (!ql_lead_readable(l))
            unreadable++;
        else
            add_keys(im, &ek, &ck, SIZE_MAX, i, ids.ids[i],
                     ext != NULL ? ql_lead_get(l, ext->name) : NULL,
                     sum != NULL ? ql_lead_get(l, sum->name) : NULL,
                     subj != NULL ? ql_lead_get(l, subj->name) : NULL);
        ql_lead_free(l);
        l = NULL;
        progress(im, "checked existing leads", i + 1, ids.n);
    }
    if (im->fail != FAIL_NONE) {
        ex = cli_error(EXIT_ENV, "out of memory");
        goto out;
    }
    if (subj != NULL)
        sb_add(&what, "%s (%s) and ", subj->label, subj->name);
    if (sum != NULL)
        sb_add(&what, "%s (%s)", sum->label, sum->name);
    report_dups(im, &ek, ext, NULL);
    report_dups(im, &ck, NULL, sb_str(&what));
    if (unreadable > 0)
        fprintf(stderr,
                "qingling: note: %zu lead%s in unit %s could not be read "
                "with this key and %s not compared for duplicates\n",
                unreadable, unreadable == 1 ? "" : "s", im->unit,
                unreadable == 1 ? "was" : "were");
out:
    for (i = 0; i < ids.n; i++)
        free(ids.ids[i]);
    free(ids.ids);
    free(what.s);
    dkeys_free(&ek);
    dkeys_free(&ck);
    return ex;
}

/* ---- who imports ---- */

struct actor {
    const char *name, *unit;
    const char *vkey; /* the importing key's, to tell it from a namesake */
    bool found, revoked, same_key;
    char home[QL_ENTRY_WORD_MAX + 1], roles[512];
    char unit_kind[16], home_kind[16];
};

static ql_err
find_actor(void *ctx, const struct ql_principal_info *p, struct ql_diag *d)
{
    struct actor *a = ctx;

    (void)d;
    if (strcmp(p->name, a->name) == 0) {
        a->found = true;
        a->revoked = p->revoked;
        a->same_key = strcmp(p->vkey, a->vkey) == 0;
        snprintf(a->home, sizeof a->home, "%s", p->unit);
        snprintf(a->roles, sizeof a->roles, "%s", p->roles);
    }
    return QL_OK;
}

static ql_err
find_kinds(void *ctx, const struct ql_unit_info *u, struct ql_diag *d)
{
    struct actor *a = ctx;

    (void)d;
    if (strcmp(u->code, a->unit) == 0)
        snprintf(a->unit_kind, sizeof a->unit_kind, "%s", u->kind);
    if (strcmp(u->code, a->home) == 0)
        snprintf(a->home_kind, sizeof a->home_kind, "%s", u->kind);
    return QL_OK;
}

/*
 * Refuses up front what the engine would refuse on the first lead, so a
 * dry run answers for the importer too: the unit exists and holds leads,
 * and the key is an active principal in it (or in a supervision unit)
 * with a role that may register leads.
 */
static int
check_actor(struct imp *im)
{
    struct ql_county *c = im->cli->county;
    struct actor a;
    struct ql_diag d;
    char *vkey = NULL;
    int ex;

    memset(&a, 0, sizeof a);
    ql_diag_clear(&d);
    a.name = ql_key_name(im->cli->key);
    a.unit = im->unit;
    if (ql_key_vkey(im->cli->key, 0, &vkey, &d) != QL_OK)
        return cli_fail(&d);
    a.vkey = vkey;
    if (ql_county_principals(c, NULL, find_actor, &a, &d) != QL_OK ||
        ql_county_units(c, find_kinds, &a, &d) != QL_OK) {
        ex = cli_fail(&d);
        free(vkey);
        return ex;
    }
    free(vkey);
    a.vkey = NULL;
    if (a.unit_kind[0] == '\0')
        return cli_error(EXIT_BADINPUT, "unknown unit '%s'", im->unit);
    if (strcmp(a.unit_kind, QL_KIND_AUDIT) == 0)
        return cli_error(EXIT_REFUSED,
                         "unit '%s' is an audit unit and holds no leads",
                         im->unit);
    if (!a.found)
        return cli_error(
            EXIT_REFUSED,
            "key '%s' belongs to no registered principal: leads are "
            "registered with a unit member's key",
            a.name);
    /* A dry run checks no signature: a namesake key is told here. */
    if (!a.same_key)
        return cli_error(EXIT_REFUSED,
                         "key '%s' is not the key registered under that name",
                         a.name);
    if (a.revoked)
        return cli_error(EXIT_REFUSED, "principal '%s' is revoked", a.name);
    if (strcmp(a.home, im->unit) != 0 &&
        strcmp(a.home_kind, QL_KIND_SUPERVISION) != 0)
        return cli_error(EXIT_REFUSED,
                         "'%s' of unit %s may not register leads in unit %s",
                         a.name, a.home, im->unit);
    if (!ql_workflow_may_create(im->wf, a.roles))
        return cli_error(EXIT_REFUSED,
                         "'%s' has no role that may register leads in "
                         "workflow %s",
                         a.name, ql_workflow_name(im->wf));
    return EXIT_OK;
}

/* ---- output ---- */

static int
cmp_problem(const void *a, const void *b)
{
    const struct problem *x = a, *y = b;

    if (x->row != y->row)
        return x->row < y->row ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* --json: one object per row, {"line":N,"ok":true|false,"errors":[...]}. */
static void
print_rows(struct imp *im)
{
    size_t i, p = 0, k;

    for (i = 0; i < im->nrows; i++) {
        bool first = true;

        fputc('{', stdout);
        cli_json_ki(stdout, &first, "line", (long long)im->rows[i].line);
        cli_json_kb(stdout, &first, "ok", !im->rows[i].bad);
        if (im->rows[i].bad) {
            fputs(",\"errors\":[", stdout);
            for (k = 0; p < im->nprobs && im->probs[p].row == i; p++, k++) {
                if (k > 0)
                    fputc(',', stdout);
                cli_json_str(stdout, im->probs[p].msg);
            }
            fputc(']', stdout);
        }
        fputs("}\n", stdout);
    }
}

/* Every problem of every bad row, then one line that sums them up. */
static int
report(struct imp *im)
{
    size_t i;
    bool dup = false;

    qsort(im->probs, im->nprobs, sizeof *im->probs, cmp_problem);
    if (im->cli->json)
        print_rows(im);
    for (i = 0; i < im->nprobs; i++) {
        if (!im->cli->json)
            cli_error(EXIT_BADINPUT, "%s: line %zu: %s", im->label,
                      im->rows[im->probs[i].row].line, im->probs[i].msg);
        dup = dup || im->probs[i].dup;
    }
    return cli_error(
        EXIT_BADINPUT, "%s: %zu of %zu row%s %s bad; nothing was imported%s",
        im->label, im->nbad, im->nrows, im->nrows == 1 ? "" : "s",
        im->nbad == 1 ? "is" : "are",
        dup ? " (--allow-duplicates imports likely duplicates)" : "");
}

static void
print_skipped(const struct imp *im)
{
    if (im->skipped > 0)
        printf(" (%zu empty row%s skipped)", im->skipped,
               im->skipped == 1 ? "" : "s");
    putchar('\n');
}

/*
 * Registers every row in one batch: one transaction and one checkpoint,
 * so the import is all-or-nothing. Each row has passed every check the
 * engine makes on the data and the importer's rights were checked, so what
 * can still fail is the environment (a full disk, a busy store) or a change
 * made meanwhile by someone else; then nothing is imported.
 */
static int
write_rows(struct imp *im)
{
    struct ql_county *c = im->cli->county;
    struct ql_diag d;
    size_t i, done = 0;
    ql_err rc;

    ql_diag_clear(&d);
    if ((rc = ql_county_batch_begin(c, &d)) != QL_OK)
        return cli_error(cli_exit_code(rc), "%s: %s; nothing was imported",
                         im->label, d.msg);
    for (i = 0; i < im->nrows; i++) {
        struct row *r = &im->rows[i];

        if ((rc = ql_lead_add(c, im->wfname, im->unit, im->kvs + r->kv0,
                              r->nkv, r->id, &d)) != QL_OK)
            break;
        done++;
        progress(im, "imported", done, im->nrows);
    }
    if (rc == QL_OK) {
        rc = ql_county_batch_commit(c, &d);
    } else {
        ql_county_batch_abort(c);
    }
    if (rc != QL_OK) {
        if (im->tty && done > 0)
            fputc('\n', stderr);
        /*
         * Every row went in and the commit failed: no line is to blame,
         * and after an I/O error the store alone knows what it kept.
         */
        if (done == im->nrows)
            return cli_error(cli_exit_code(rc), "%s: %s%s", im->label, d.msg,
                             rc == QL_EIO ? "" : "; nothing was imported");
        return cli_error(cli_exit_code(rc),
                         "%s: line %zu: %s; nothing was imported", im->label,
                         im->rows[done < im->nrows ? done : 0].line, d.msg);
    }
    if (im->cli->json) {
        for (i = 0; i < done; i++) {
            bool first = true;

            fputc('{', stdout);
            cli_json_ki(stdout, &first, "line", (long long)im->rows[i].line);
            cli_json_kv(stdout, &first, "id", im->rows[i].id);
            fputs("}\n", stdout);
        }
    } else {
        if (done == 1)
            printf("imported 1 lead: %s", im->rows[0].id);
        else
            printf("imported %zu leads: %s .. %s", done, im->rows[0].id,
                   im->rows[done - 1].id);
        print_skipped(im);
    }
    return EXIT_OK;
}

/* ---- the command ---- */

static int
add_map(struct imp *im, const char *arg)
{
    const char *eq = strrchr(arg, '=');
    struct mapping *p;
    size_t len;
    char *h, *t;

    if (eq == NULL || eq == arg || eq[1] == '\0')
        return cli_usage(&import_cmd, "--map takes HEADER=FIELD, not '%s'",
                         arg);
    if ((p = grow(im->maps, &im->capmaps, im->nmaps, sizeof *p)) == NULL)
        return cli_error(EXIT_ENV, "out of memory");
    im->maps = p;
    len = (size_t)(eq - arg);
    if ((h = malloc(len + 1)) == NULL)
        return cli_error(EXIT_ENV, "out of memory");
    memcpy(h, arg, len);
    h[len] = '\0'; /* trim() may look two bytes ahead */
    t = trim(h, &len);
    memmove(h, t, len);
    h[len] = '\0';
    memset(&p[im->nmaps], 0, sizeof p[im->nmaps]);
    p[im->nmaps].header = h;
    p[im->nmaps].field = eq + 1;
    im->nmaps++;
    if (len == 0)
        return cli_usage(&import_cmd, "--map '%s' names no header", arg);
    return EXIT_OK;
}

/* Resolves each --map FIELD in the workflow ("-" skips the column). */
static int
resolve_maps(struct imp *im)
{
    size_t i, j;

    for (i = 0; i < im->nmaps; i++) {
        struct mapping *m = &im->maps[i];

        for (j = 0; j < i; j++)
            if (strcmp(im->maps[j].header, m->header) == 0)
                return cli_error(EXIT_USAGE, "--map names '%s' twice",
                                 m->header);
        if (strcmp(m->field, "-") == 0)
            continue;
        if ((m->f = ql_workflow_field_by_label(im->wf, m->field)) == NULL)
            return cli_error(
                EXIT_USAGE, "--map '%s=%s': workflow %s has no field '%s'",
                m->header, m->field, ql_workflow_name(im->wf), m->field);
    }
    return EXIT_OK;
}

static int
run(struct imp *im)
{
    struct cli *cli = im->cli;
    struct ql_diag d;
    const char *p;
    size_t i;
    int ex;

    ql_diag_clear(&d);
    if ((ex = cli_load_key(cli)) != EXIT_OK ||
        (ex = cli_open_county(cli, im->dry_run)) != EXIT_OK)
        return ex;
    ql_county_set_actor(cli->county, cli->key);
    if (ql_county_workflow(cli->county, im->wfname, NULL, &im->wf, &d) != QL_OK)
        return cli_fail(&d);
    if ((ex = resolve_maps(im)) != EXIT_OK ||
        (ex = check_actor(im)) != EXIT_OK ||
        (ex = cli_read_file(im->path, IMPORT_FILE_MAX, &im->raw,
                            &im->rawlen)) != EXIT_OK ||
        (ex = decode(im)) != EXIT_OK)
        return ex;
    for (p = im->text; p < im->text + im->textlen && space_at(p) > 0;
         p += space_at(p))
        ;
    if (p >= im->text + im->textlen)
        return cli_error(EXIT_BADINPUT, "%s is empty", im->label);
    im->json = *p == '[' || *p == '{';
    if ((ex = im->json ? read_json(im) : read_csv(im)) != EXIT_OK ||
        (!im->json && (ex = resolve_columns(im)) != EXIT_OK))
        return ex;
    if (im->nrows == 0)
        return cli_error(EXIT_BADINPUT, "%s holds no leads (%s)", im->label,
                         im->skipped ? "only empty rows" : "only a header");
    for (i = 0; i < im->nrows && im->fail == FAIL_NONE; i++)
        check_row(im, i);
    if (im->fail == FAIL_NONE && (ex = find_duplicates(im)) != EXIT_OK)
        return ex;
    if (im->fail != FAIL_NONE)
        return cli_error(EXIT_ENV, "out of memory checking %s", im->label);
    if (im->nbad > 0)
        return report(im);
    if (!im->dry_run)
        return write_rows(im);
    if (cli->json) {
        print_rows(im);
    } else {
        printf("dry run: %zu lead%s from %s would be imported into unit %s; "
               "nothing was written",
               im->nrows, im->nrows == 1 ? "" : "s", im->label, im->unit);
        print_skipped(im);
    }
    return EXIT_OK;
}

static void
release(struct imp *im)
{
    size_t i;

    for (i = 0; i < im->ncols; i++)
        free(im->cols[i].name);
    for (i = 0; i < im->nmaps; i++)
        free(im->maps[i].header);
    for (i = 0; i < im->nowned; i++)
        free(im->owned[i]);
    for (i = 0; i < im->nprobs; i++)
        free(im->probs[i].msg);
    free(im->cols);
    free(im->maps);
    free(im->owned);
    free(im->probs);
    free(im->order);
    free(im->rows);
    free(im->cells);
    free(im->arena);
    free(im->kvs);
    free(im->raw);
    free(im->conv);
}

int
lead_import(int argc, char **argv, struct cli *cli)
{
    static const struct option opts[] = {
        {"unit", required_argument, NULL, 'u'},
        {"workflow", required_argument, NULL, 'w'},
        {"dry-run", no_argument, NULL, 'n'},
        {"encoding", required_argument, NULL, 'e'},
        {"map", required_argument, NULL, 'm'},
        {"allow-duplicates", no_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    struct imp im;
    int opt, ex = EXIT_OK;

    memset(&im, 0, sizeof im);
    im.cli = cli;
    im.wfname = "gang_lead";
    im.tty = isatty(STDERR_FILENO) == 1;
    optind = 1;
    opterr = 0;
    while (ex == EXIT_OK &&
           (opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            im.unit = optarg;
            break;
        case 'w':
            im.wfname = optarg;
            break;
        case 'n':
            im.dry_run = true;
            break;
        case 'a':
            im.allow_dups = true;
            break;
        case 'j':
            cli->json = true;
            break;
        case 'e':
            if (strcasecmp(optarg, "auto") == 0)
                im.enc = ENC_AUTO;
            else if (strcasecmp(optarg, "utf-8") == 0 ||
                     strcasecmp(optarg, "utf8") == 0)
                im.enc = ENC_UTF8;
            else if (strcasecmp(optarg, "gb18030") == 0)
                im.enc = ENC_GB18030;
            else
                ex = cli_usage(&import_cmd,
                               "--encoding is auto, utf-8 or gb18030, not "
                               "'%s'",
                               optarg);
            break;
        case 'm':
            ex = add_map(&im, optarg);
            break;
        case ':':
            ex = cli_usage(&import_cmd, "%s needs a value", argv[optind - 1]);
            break;
        default:
            ex =
                cli_usage(&import_cmd, "unknown option '%s'", argv[optind - 1]);
            break;
        }
    }
    if (ex == EXIT_OK && optind != argc - 1)
        ex = cli_usage(&import_cmd, optind >= argc ? "give the FILE to import"
                                                   : "give one FILE to import");
    if (ex == EXIT_OK && im.unit == NULL)
        ex = cli_usage(&import_cmd,
                       "--unit CODE is required: the unit the leads are "
                       "registered in");
    if (ex == EXIT_OK) {
        im.path = argv[optind];
        im.label = strcmp(im.path, "-") == 0 ? "stdin" : im.path;
        ex = run(&im);
    }
    release(&im);
    return ex;
}
