/* Entry text: formatting and strict parsing (ql_log.h). */
#include "ql_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_codec.h"
#include "ql_keys.h"

/* The keys of the fixed lines, in their order after the format line. */
enum line_key {
    L_INDEX,
    L_TIME,
    L_ACTOR,
    L_UNIT,
    L_LEAD,
    L_ACTION,
    L_FROM,
    L_TO,
    L_TRANSITION,
    L_WORKFLOW,
    L_FIXED
};

static const char *const line_keys[L_FIXED] = {
    "index", "time",       "actor",   "unit",     "lead",
    "action", "from",      "to",      "transition", "workflow"};

void
ql_entry_init(struct ql_entry *e)
{
    memset(e, 0, sizeof *e);
}

void
ql_entry_release(struct ql_entry *e)
{
    size_t i;

    if (e == NULL)
        return;
    free(e->actor);
    /* A field's value shares its name's block (field_new). */
    for (i = 0; i < e->nclear; i++)
        free(e->clear[i].name);
    free(e->clear);
    free(e->payload);
    memset(e, 0, sizeof *e);
}

bool
ql_entry_word_valid(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > QL_ENTRY_WORD_MAX)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9');

        if (!alnum && (i == 0 || (c != '_' && c != '-' && c != '.')))
            return false;
    }
    return true;
}

/*
 * Clear field names: [a-z_][a-z0-9_]*. Names that start with '_' are the
 * engine's own bookkeeping (due dates, key epochs, proposals); workflow
 * field names never start with '_', so the two cannot collide.
 */
static bool
field_name_valid(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > QL_ENTRY_WORD_MAX ||
        !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return false;
    return true;
}

/*
 * One line of well-formed UTF-8 with no control characters: what a note's
 * text allows, minus the newline that ends the line.
 */
static bool
value_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k, len;
    uint32_t cp;

    while (i < n) {
        if (u[i] < 0x80) {
            if (u[i] < 0x20 || u[i] == 0x7f)
                return false;
            i++;
            continue;
        }
        if ((u[i] & 0xE0) == 0xC0) {
            len = 2;
            cp = u[i] & 0x1F;
        } else if ((u[i] & 0xF0) == 0xE0) {
            len = 3;
            cp = u[i] & 0x0F;
        } else if ((u[i] & 0xF8) == 0xF0) {
            len = 4;
            cp = u[i] & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (k = 1; k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (u[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp < 0xA0))
            return false;
        i += len;
    }
    return true;
}

/* "YYYY-MM-DDTHH:MM:SSZ", a real date and time of day, UTC. */
static bool
time_valid(const char *s)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    int y, mo, da, h, mi, se;
    size_t i;

    if (strlen(s) != sizeof shape - 1)
        return false;
    for (i = 0; i < sizeof shape - 1; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return false;
#define NUM2(p) ((s[p] - '0') * 10 + (s[p + 1] - '0'))
    y = NUM2(0) * 100 + NUM2(2);
    mo = NUM2(5);
    da = NUM2(8);
    h = NUM2(11);
    mi = NUM2(14);
    se = NUM2(17);
#undef NUM2
    if (y < 1970 || mo < 1 || mo > 12 || da < 1 || da > mdays[mo - 1] ||
        h > 23 || mi > 59 || se > 59)
        return false;
    if (mo == 2 && da == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return false;
    return true;
}

static bool
workflow_valid(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0)
        return true;
    if (n != 64)
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

ql_err
ql_entry_set_actor(struct ql_entry *e, const char *actor, struct ql_diag *d)
{
    char *c;

    if (!ql_key_name_valid(actor))
        return ql_fail(d, QL_EUSAGE, "invalid actor name");
    if ((c = strdup(actor)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    free(e->actor);
    e->actor = c;
    return QL_OK;
}

/*
 * Fills f with copies of name and value in one block, value after name:
 * an entry's fields are made and freed together, and two allocations a
 * field were most of the cost of reading an entry back and releasing it.
 * False without memory (f then holds nothing).
 */
static bool
field_new(struct ql_entry_field *f, const char *name, size_t nlen,
          const char *value, size_t vlen)
{
    char *b = malloc(nlen + vlen + 2);

    f->name = f->value = NULL;
    if (b == NULL)
        return false;
    memcpy(b, name, nlen);
    b[nlen] = '\0';
    memcpy(b + nlen + 1, value, vlen);
    b[nlen + 1 + vlen] = '\0';
    f->name = b;
    f->value = b + nlen + 1;
    return true;
}

ql_err
ql_entry_add_clear(struct ql_entry *e, const char *name, const char *value,
                   struct ql_diag *d)
{
    struct ql_entry_field *f;
    size_t i, at;

    if (!field_name_valid(name))
        return ql_fail(d, QL_EUSAGE, "invalid clear field name '%s'", name);
    if (!value_valid(value, strlen(value)))
        return ql_fail(d, QL_EFORMAT,
                       "field '%s' must be one line of text without "
                       "control characters",
                       name);
    if (e->nclear >= QL_ENTRY_CLEAR_MAX)
        return ql_fail(d, QL_EUSAGE, "too many clear fields");
    for (at = 0; at < e->nclear; at++) {
        int c = strcmp(e->clear[at].name, name);

        if (c == 0)
            return ql_fail(d, QL_EUSAGE, "clear field '%s' given twice", name);
        if (c > 0)
            break;
    }
    f = realloc(e->clear, (e->nclear + 1) * sizeof *f);
    if (f == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    e->clear = f;
    for (i = e->nclear; i > at; i--)
        f[i] = f[i - 1];
    e->nclear++;
    if (!field_new(&f[at], name, strlen(name), value, strlen(value)))
        return ql_fail(d, QL_ENOMEM, NULL); /* released with the entry */
    return QL_OK;
}

const char *
ql_entry_get_clear(const struct ql_entry *e, const char *name)
{
    size_t i;

    for (i = 0; i < e->nclear; i++)
        if (strcmp(e->clear[i].name, name) == 0)
            return e->clear[i].value;
    return NULL;
}

ql_err
ql_entry_set_payload(struct ql_entry *e, const uint8_t *p, size_t len,
                     struct ql_diag *d)
{
    uint8_t *c = NULL;

    if (len > QL_ENTRY_MAX)
        return ql_fail(d, QL_ETOOBIG, "payload too large");
    if (len > 0) {
        if ((c = malloc(len)) == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        memcpy(c, p, len);
    }
    free(e->payload);
    e->payload = c;
    e->payload_len = len;
    return QL_OK;
}

/* A growing text buffer that fails once, cleanly, past QL_ENTRY_MAX. */
struct buf {
    char *p;
    size_t len, cap;
    ql_err err;
};

static void
put(struct buf *b, const char *s, size_t n)
{
    if (b->err != QL_OK)
        return;
    if (b->len + n + 1 > QL_ENTRY_MAX) {
        b->err = QL_ETOOBIG;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        char *np;

        while (cap < b->len + n + 1)
            cap *= 2;
        if ((np = realloc(b->p, cap)) == NULL) {
            b->err = QL_ENOMEM;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
put_line(struct buf *b, const char *key, const char *value)
{
    put(b, key, strlen(key));
    put(b, " ", 1);
    if (*value == '\0')
        put(b, "-", 1);
    else
        put(b, value, strlen(value));
    put(b, "\n", 1);
}

ql_err
ql_entry_format(const struct ql_entry *e, char **out, size_t *len,
                struct ql_diag *d)
{
    const char *words[] = {e->unit, e->lead, e->action, e->from, e->to,
                           e->transition};
    struct buf b = {NULL, 0, 0, QL_OK};
    char num[24];
    size_t i;

    if (!time_valid(e->time))
        return ql_fail(d, QL_EUSAGE, "entry time '%s' is not RFC 3339 UTC",
                       e->time);
    if (e->actor == NULL || !ql_key_name_valid(e->actor))
        return ql_fail(d, QL_EUSAGE, "entry has no valid actor");
    if (!ql_entry_word_valid(e->action))
        return ql_fail(d, QL_EUSAGE, "entry has no valid action");
    for (i = 0; i < sizeof words / sizeof words[0]; i++)
        if (*words[i] != '\0' && !ql_entry_word_valid(words[i]))
            return ql_fail(d, QL_EUSAGE, "invalid %s '%s'",
                           line_keys[L_UNIT + i], words[i]);
    if (!workflow_valid(e->workflow))
        return ql_fail(d, QL_EUSAGE, "invalid workflow hash");
    put(&b, QL_ENTRY_FORMAT "\n", sizeof QL_ENTRY_FORMAT);
    snprintf(num, sizeof num, "%llu", (unsigned long long)e->index);
    put_line(&b, "index", num);
    put_line(&b, "time", e->time);
    put_line(&b, "actor", e->actor);
    put_line(&b, "unit", e->unit);
    put_line(&b, "lead", e->lead);
    put_line(&b, "action", e->action);
    put_line(&b, "from", e->from);
    put_line(&b, "to", e->to);
    put_line(&b, "transition", e->transition);
    put_line(&b, "workflow", e->workflow);
    for (i = 0; i < e->nclear; i++) {
        put(&b, "clear ", 6);
        put(&b, e->clear[i].name, strlen(e->clear[i].name));
        put(&b, " ", 1);
        put(&b, e->clear[i].value, strlen(e->clear[i].value));
        put(&b, "\n", 1);
    }
    put(&b, "payload ", 8);
    if (e->payload_len == 0) {
        put(&b, "-", 1);
    } else if (b.err == QL_OK) {
        size_t n = ql_base64_len(e->payload_len);
        char *enc = malloc(n + 1);

        if (enc == NULL) {
            b.err = QL_ENOMEM;
        } else {
            ql_base64_encode(enc, e->payload, e->payload_len);
            put(&b, enc, n);
            free(enc);
        }
    }
    put(&b, "\n", 1);
    if (b.err != QL_OK) {
        free(b.p);
        return ql_fail(d, b.err, b.err == QL_ETOOBIG
                                     ? "entry larger than %d bytes"
                                     : "out of memory formatting entry %d",
                       QL_ENTRY_MAX);
    }
    *out = b.p;
    *len = b.len;
    return QL_OK;
}

/* Splits off the next line: [*s, nl) with the newline required. */
static bool
next_line(const char **s, const char *end, const char **line, size_t *n)
{
    const char *nl = memchr(*s, '\n', (size_t)(end - *s));

    if (nl == NULL)
        return false;
    *line = *s;
    *n = (size_t)(nl - *s);
    *s = nl + 1;
    return true;
}

/* Copies a "-"-or-word value into a fixed field. */
static ql_err
take_word(char *dst, const char *v, size_t n, bool allow_empty,
          unsigned lineno, const char *key, struct ql_diag *d)
{
    if (n == 1 && v[0] == '-') {
        if (!allow_empty)
            return ql_fail(d, QL_EFORMAT, "entry line %u: '%s' may not be "
                                          "empty",
                           lineno, key);
        dst[0] = '\0';
        return QL_OK;
    }
    if (n == 0 || n > QL_ENTRY_WORD_MAX)
        return ql_fail(d, QL_EFORMAT, "entry line %u: bad '%s' value", lineno,
                       key);
    memcpy(dst, v, n);
    dst[n] = '\0';
    if (!ql_entry_word_valid(dst))
        return ql_fail(d, QL_EFORMAT, "entry line %u: bad '%s' value", lineno,
                       key);
    return QL_OK;
}

static ql_err
parse_fixed(struct ql_entry *e, enum line_key k, const char *v, size_t n,
            unsigned lineno, struct ql_diag *d)
{
    char tmp[QL_KEY_NAME_MAX + 1];
    size_t i;
    ql_err rc;

    switch (k) {
    case L_INDEX:
        if (n == 0 || n > 19 || (n > 1 && v[0] == '0'))
            return ql_fail(d, QL_EFORMAT, "entry line %u: bad index", lineno);
        e->index = 0;
        for (i = 0; i < n; i++) {
            if (v[i] < '0' || v[i] > '9')
                return ql_fail(d, QL_EFORMAT, "entry line %u: bad index",
                               lineno);
            e->index = e->index * 10 + (uint64_t)(v[i] - '0');
        }
        if (e->index > INT64_MAX)
            return ql_fail(d, QL_EFORMAT, "entry line %u: bad index", lineno);
        return QL_OK;
    case L_TIME:
        if (n >= sizeof e->time)
            return ql_fail(d, QL_EFORMAT, "entry line %u: bad time", lineno);
        memcpy(e->time, v, n);
        e->time[n] = '\0';
        if (!time_valid(e->time))
            return ql_fail(d, QL_EFORMAT, "entry line %u: bad time", lineno);
        return QL_OK;
    case L_ACTOR:
        if (n == 0 || n > QL_KEY_NAME_MAX)
            return ql_fail(d, QL_EFORMAT, "entry line %u: bad actor", lineno);
        memcpy(tmp, v, n);
        tmp[n] = '\0';
        if ((rc = ql_entry_set_actor(e, tmp, d)) == QL_ENOMEM)
            return rc; /* a fact about this process, not the entry */
        if (rc != QL_OK)
            return ql_fail(d, QL_EFORMAT, "entry line %u: bad actor", lineno);
        return QL_OK;
    case L_UNIT:
        return take_word(e->unit, v, n, true, lineno, "unit", d);
    case L_LEAD:
        return take_word(e->lead, v, n, true, lineno, "lead", d);
    case L_ACTION:
        return take_word(e->action, v, n, false, lineno, "action", d);
    case L_FROM:
        return take_word(e->from, v, n, true, lineno, "from", d);
    case L_TO:
        return take_word(e->to, v, n, true, lineno, "to", d);
    case L_TRANSITION:
        return take_word(e->transition, v, n, true, lineno, "transition", d);
    case L_WORKFLOW:
        if (n == 1 && v[0] == '-') {
            e->workflow[0] = '\0';
            return QL_OK;
        }
        if (n != 64)
            return ql_fail(d, QL_EFORMAT, "entry line %u: bad workflow hash",
                           lineno);
        memcpy(e->workflow, v, 64);
        e->workflow[64] = '\0';
        if (!workflow_valid(e->workflow))
            return ql_fail(d, QL_EFORMAT, "entry line %u: bad workflow hash",
                           lineno);
        return QL_OK;
    default:
        return ql_fail(d, QL_EFORMAT, "entry line %u: unexpected", lineno);
    }
}

/*
 * Appends a clear field that parse_clear has checked: the array grows to
 * powers of two (ql_entry_add_clear's exact reallocs work on it too), and
 * name and value are copied once, into one block.
 */
static ql_err
append_clear(struct ql_entry *e, const char *name, size_t nlen,
             const char *value, size_t vlen, struct ql_diag *d)
{
    struct ql_entry_field *f;
    size_t n = e->nclear;

    if (n == 0 || (n & (n - 1)) == 0) {
        f = realloc(e->clear, (n ? 2 * n : 8) * sizeof *f);
        if (f == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        e->clear = f;
    }
    f = &e->clear[n];
    e->nclear++;
    if (!field_new(f, name, nlen, value, vlen))
        return ql_fail(d, QL_ENOMEM, NULL); /* released with the entry */
    return QL_OK;
}

static ql_err
parse_clear(struct ql_entry *e, const char *v, size_t n, unsigned lineno,
            struct ql_diag *d)
{
    const char *sp = memchr(v, ' ', n);
    char name[QL_ENTRY_WORD_MAX + 1];
    size_t nlen, vlen;

    if (sp == NULL || (nlen = (size_t)(sp - v)) == 0 ||
        nlen > QL_ENTRY_WORD_MAX)
        return ql_fail(d, QL_EFORMAT, "entry line %u: bad clear field",
                       lineno);
    memcpy(name, v, nlen);
    name[nlen] = '\0';
    /* Names must come strictly ascending: one text per entry. */
    if (e->nclear > 0 && strcmp(e->clear[e->nclear - 1].name, name) >= 0)
        return ql_fail(d, QL_EFORMAT,
                       "entry line %u: clear fields out of order", lineno);
    vlen = n - nlen - 1;
    if (memchr(sp + 1, '\0', vlen) != NULL)
        return ql_fail(d, QL_EFORMAT, "entry line %u: NUL byte", lineno);
    /* What ql_entry_add_clear checks; the order above rules out a name
       given twice. */
    if (!field_name_valid(name) || !value_valid(sp + 1, vlen) ||
        e->nclear >= QL_ENTRY_CLEAR_MAX)
        return ql_fail(d, QL_EFORMAT, "entry line %u: bad clear field",
                       lineno);
    return append_clear(e, name, nlen, sp + 1, vlen, d);
}

ql_err
ql_entry_parse(const char *text, size_t len, struct ql_entry *out,
               struct ql_diag *d)
{
    const char *s = text, *end = text + len, *line, *v;
    struct ql_entry e;
    unsigned lineno = 1;
    size_t n, klen;
    int k;
    ql_err rc = QL_OK;

    ql_entry_init(&e);
    if (len > QL_ENTRY_MAX)
        return ql_fail(d, QL_ETOOBIG, "entry larger than %d bytes",
                       QL_ENTRY_MAX);
    if (memchr(text, '\0', len) != NULL)
        return ql_fail(d, QL_EFORMAT, "entry contains a NUL byte");
    if (!next_line(&s, end, &line, &n))
        return ql_fail(d, QL_EFORMAT, "entry line 1: missing format line");
    if (n != strlen(QL_ENTRY_FORMAT) || memcmp(line, QL_ENTRY_FORMAT, n) != 0) {
        if (n > 15 && memcmp(line, "qingling-entry/", 15) == 0)
            return ql_fail(d, QL_EUNSUPPORTED,
                           "entry line 1: unsupported format version");
        return ql_fail(d, QL_EFORMAT, "entry line 1: not a qingling entry");
    }
    for (k = 0; k <= L_FIXED; k++) {
        const char *key = k < L_FIXED ? line_keys[k] : "clear";

        lineno++;
        if (!next_line(&s, end, &line, &n)) {
            rc = ql_fail(d, QL_EFORMAT, "entry line %u: missing '%s'", lineno,
                         k < L_FIXED ? key : "payload");
            goto fail;
        }
        klen = strlen(key);
        if (k == L_FIXED) {
            /* Zero or more clear lines, then the payload line. */
            while (n > 6 && memcmp(line, "clear ", 6) == 0) {
                if ((rc = parse_clear(&e, line + 6, n - 6, lineno, d)) !=
                    QL_OK)
                    goto fail;
                lineno++;
                if (!next_line(&s, end, &line, &n)) {
                    rc = ql_fail(d, QL_EFORMAT,
                                 "entry line %u: missing 'payload'", lineno);
                    goto fail;
                }
            }
            break;
        }
        if (n < klen + 1 || memcmp(line, key, klen) != 0 || line[klen] != ' ') {
            rc = ql_fail(d, QL_EFORMAT, "entry line %u: expected '%s'", lineno,
                         key);
            goto fail;
        }
        if ((rc = parse_fixed(&e, (enum line_key)k, line + klen + 1,
                              n - klen - 1, lineno, d)) != QL_OK)
            goto fail;
    }
    if (n < 8 || memcmp(line, "payload ", 8) != 0) {
        rc = ql_fail(d, QL_EFORMAT, "entry line %u: expected 'payload'",
                     lineno);
        goto fail;
    }
    v = line + 8;
    n -= 8;
    if (!(n == 1 && v[0] == '-')) {
        if (n == 0) {
            rc = ql_fail(d, QL_EFORMAT, "entry line %u: bad payload", lineno);
            goto fail;
        }
        if ((e.payload = malloc(n / 4 * 3 + 3)) == NULL) {
            rc = ql_fail(d, QL_ENOMEM, NULL);
            goto fail;
        }
        if (ql_base64_decode(e.payload, n / 4 * 3 + 3, &e.payload_len, v, n,
                             d) != QL_OK ||
            e.payload_len == 0) {
            rc = ql_fail(d, QL_EFORMAT, "entry line %u: bad payload", lineno);
            goto fail;
        }
    }
    if (s != end) {
        rc = ql_fail(d, QL_EFORMAT, "entry line %u: text after the payload",
                     lineno + 1);
        goto fail;
    }
    *out = e;
    return QL_OK;
fail:
    ql_entry_release(&e);
    return rc;
}
