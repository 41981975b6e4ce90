/*
 * Value trees: the C side of what a workflow script returns or receives.
 * Nothing here touches Lua; ql_lua_conv.c converts in both directions.
 */
#include "ql_lua.h"

#include <stdlib.h>
#include <string.h>

#include "ql_lua_impl.h"

void
ql_lval_clear(struct ql_lval *v)
{
    size_t i;

    if (v == NULL)
        return;
    switch (v->type) {
    case QL_LVAL_STRING:
        free(v->u.string.bytes);
        break;
    case QL_LVAL_TABLE:
        for (i = 0; i < v->u.table.count; i++) {
            ql_lval_clear(&v->u.table.entries[i].key);
            ql_lval_clear(&v->u.table.entries[i].value);
        }
        free(v->u.table.entries);
        break;
    default:
        break;
    }
    memset(v, 0, sizeof *v);
    v->type = QL_LVAL_NIL;
}

void
ql_lval_free(struct ql_lval *v)
{
    if (v == NULL)
        return;
    ql_lval_clear(v);
    free(v);
}

const char *
ql_lval_type_name(enum ql_lval_type t)
{
    switch (t) {
    case QL_LVAL_NIL:
        return "nil";
    case QL_LVAL_BOOLEAN:
        return "boolean";
    case QL_LVAL_INTEGER:
        return "integer";
    case QL_LVAL_NUMBER:
        return "number";
    case QL_LVAL_STRING:
        return "string";
    case QL_LVAL_TABLE:
        return "table";
    case QL_LVAL_FUNCTION:
        return "function";
    }
    return "unknown";
}

/* Bytewise order with a proper prefix first, as memcmp cannot say alone. */
static int
bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

int
ql_lval_key_cmp(const struct ql_lval *a, const struct ql_lval *b)
{
    if (a->type != b->type)
        return a->type == QL_LVAL_INTEGER ? -1 : 1;
    if (a->type == QL_LVAL_INTEGER)
        return a->u.integer < b->u.integer ? -1 : a->u.integer > b->u.integer;
    return bytes_cmp(a->u.string.bytes, a->u.string.len, b->u.string.bytes,
                     b->u.string.len);
}

static int
entry_cmp(const void *a, const void *b)
{
    return ql_lval_key_cmp(&((const struct ql_lval_entry *)a)->key,
                           &((const struct ql_lval_entry *)b)->key);
}

/* Rotates e[0..n) left by k places (the array run to the front). */
static void
rotate_left(struct ql_lval_entry *e, size_t n, size_t k)
{
    struct ql_lval_entry tmp;
    size_t i, j;

    /* Three reversals: no extra memory, and n is bounded by the caller. */
    for (i = 0, j = k; j-- > i; i++) {
        tmp = e[i];
        e[i] = e[j];
        e[j] = tmp;
    }
    for (i = k, j = n; j-- > i; i++) {
        tmp = e[i];
        e[i] = e[j];
        e[j] = tmp;
    }
    for (i = 0, j = n; j-- > i; i++) {
        tmp = e[i];
        e[i] = e[j];
        e[j] = tmp;
    }
}

void
ql_lval_sort(struct ql_lval *t)
{
    struct ql_lval_entry *e = t->u.table.entries;
    size_t n = t->u.table.count, first, run;

    if (n > 1)
        qsort(e, n, sizeof *e, entry_cmp);
    /* Sorted, the keys 1, 2, ... form one run that starts at key 1. */
    for (first = 0; first < n && e[first].key.type == QL_LVAL_INTEGER &&
                    e[first].key.u.integer < 1;
         first++)
        ;
    for (run = 0;
         first + run < n && e[first + run].key.type == QL_LVAL_INTEGER &&
         e[first + run].key.u.integer == (int64_t)run + 1;
         run++)
        ;
    if (first > 0 && run > 0)
        rotate_left(e, first + run, first);
    t->u.table.array_len = run;
}

size_t
ql_lval_len(const struct ql_lval *t)
{
    if (t == NULL || t->type != QL_LVAL_TABLE)
        return 0;
    return t->u.table.array_len;
}

const struct ql_lval *
ql_lval_at(const struct ql_lval *t, size_t i)
{
    if (i == 0 || i > ql_lval_len(t))
        return NULL;
    return &t->u.table.entries[i - 1].value;
}

/*
 * Index of the first entry after the array part whose key is not below
 * key; *found says whether it is equal. The entries past the array part
 * are sorted, so this is a binary search.
 */
static size_t
find_key(const struct ql_lval *t, const struct ql_lval *key, bool *found)
{
    size_t lo = t->u.table.array_len, hi = t->u.table.count, mid;
    int c;

    *found = false;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = ql_lval_key_cmp(&t->u.table.entries[mid].key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct ql_lval *
ql_lval_get(const struct ql_lval *t, const char *key)
{
    struct ql_lval k;
    size_t i;
    bool found;

    if (t == NULL || t->type != QL_LVAL_TABLE || key == NULL)
        return NULL;
    memset(&k, 0, sizeof k);
    k.type = QL_LVAL_STRING;
    k.u.string.bytes = (char *)key; /* only read */
    k.u.string.len = strlen(key);
    i = find_key(t, &k, &found);
    return found ? &t->u.table.entries[i].value : NULL;
}

static ql_err
new_node(enum ql_lval_type type, struct ql_lval **out, struct ql_diag *d)
{
    struct ql_lval *v = calloc(1, sizeof *v);

    if (v == NULL)
        return ql_fail(d, QL_ENOMEM, "out of memory building a value");
    v->type = type;
    *out = v;
    return QL_OK;
}

ql_err
ql_lval_new_nil(struct ql_lval **out, struct ql_diag *d)
{
    return new_node(QL_LVAL_NIL, out, d);
}

ql_err
ql_lval_new_boolean(bool b, struct ql_lval **out, struct ql_diag *d)
{
    ql_err rc = new_node(QL_LVAL_BOOLEAN, out, d);

    if (rc == QL_OK)
        (*out)->u.boolean = b;
    return rc;
}

ql_err
ql_lval_new_integer(int64_t i, struct ql_lval **out, struct ql_diag *d)
{
    ql_err rc = new_node(QL_LVAL_INTEGER, out, d);

    if (rc == QL_OK)
        (*out)->u.integer = i;
    return rc;
}

ql_err
ql_lval_new_number(double n, struct ql_lval **out, struct ql_diag *d)
{
    ql_err rc = new_node(QL_LVAL_NUMBER, out, d);

    if (rc == QL_OK)
        (*out)->u.number = n;
    return rc;
}

ql_err
ql_lval_new_string(const char *s, size_t len, struct ql_lval **out,
                   struct ql_diag *d)
{
    struct ql_lval *v = NULL;
    char *bytes;
    ql_err rc;

    if (s == NULL && len > 0)
        return ql_fail(d, QL_EUSAGE, "string value without bytes");
    if (len == SIZE_MAX || (bytes = malloc(len + 1)) == NULL)
        return ql_fail(d, QL_ENOMEM, "out of memory building a value");
    if (len > 0)
        memcpy(bytes, s, len);
    bytes[len] = '\0';
    if ((rc = new_node(QL_LVAL_STRING, &v, d)) != QL_OK) {
        free(bytes);
        return rc;
    }
    v->u.string.bytes = bytes;
    v->u.string.len = len;
    *out = v;
    return QL_OK;
}

ql_err
ql_lval_new_table(struct ql_lval **out, struct ql_diag *d)
{
    return new_node(QL_LVAL_TABLE, out, d);
}

/* Room for one more entry in t. */
static ql_err
reserve(struct ql_lval *t, struct ql_diag *d)
{
    struct ql_lval_entry *e;
    size_t cap;

    if (t->u.table.count < t->u.table.cap)
        return QL_OK;
    cap = t->u.table.cap ? t->u.table.cap * 2 : 8;
    if (cap > SIZE_MAX / sizeof *e)
        return ql_fail(d, QL_ENOMEM, "out of memory building a table");
    e = realloc(t->u.table.entries, cap * sizeof *e);
    if (e == NULL)
        return ql_fail(d, QL_ENOMEM, "out of memory building a table");
    t->u.table.entries = e;
    t->u.table.cap = cap;
    return QL_OK;
}

/* Moves key and the node v into slot at (room was reserved); frees v. */
static void
insert_at(struct ql_lval *t, size_t at, struct ql_lval *key, struct ql_lval *v)
{
    struct ql_lval_entry *e = t->u.table.entries;

    memmove(&e[at + 1], &e[at], (t->u.table.count - at) * sizeof *e);
    e[at].key = *key;
    e[at].value = *v;
    t->u.table.count++;
    free(v);
}

ql_err
ql_lval_set(struct ql_lval *t, const char *key, struct ql_lval *v,
            struct ql_diag *d)
{
    struct ql_lval k;
    char *copy = NULL;
    size_t at, len;
    bool found;
    ql_err rc;

    if (t == NULL || t->type != QL_LVAL_TABLE || key == NULL || v == NULL) {
        rc = ql_fail(d, QL_EUSAGE,
                     "setting a field needs a table, a key "
                     "and a value");
        goto out;
    }
    memset(&k, 0, sizeof k);
    k.type = QL_LVAL_STRING;
    k.u.string.bytes = (char *)key; /* only read until copied */
    k.u.string.len = len = strlen(key);
    at = find_key(t, &k, &found);
    if (found) {
        ql_lval_clear(&t->u.table.entries[at].value);
        t->u.table.entries[at].value = *v;
        free(v);
        return QL_OK;
    }
    if ((rc = reserve(t, d)) != QL_OK)
        goto out;
    if ((copy = malloc(len + 1)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, "out of memory building a table");
        goto out;
    }
    memcpy(copy, key, len + 1);
    k.u.string.bytes = copy;
    insert_at(t, at, &k, v);
    return QL_OK;
out:
    ql_lval_free(v);
    return rc;
}

ql_err
ql_lval_append(struct ql_lval *t, struct ql_lval *v, struct ql_diag *d)
{
    struct ql_lval k;
    size_t n, at;
    bool found;
    ql_err rc;

    if (t == NULL || t->type != QL_LVAL_TABLE || v == NULL) {
        rc = ql_fail(d, QL_EUSAGE, "appending needs a table and a value");
        goto out;
    }
    n = t->u.table.array_len;
    if (n >= (size_t)INT64_MAX) {
        rc = ql_fail(d, QL_ETOOBIG, "table too long to append to");
        goto out;
    }
    if ((rc = reserve(t, d)) != QL_OK)
        goto out;
    memset(&k, 0, sizeof k);
    k.type = QL_LVAL_INTEGER;
    k.u.integer = (int64_t)n + 1;
    insert_at(t, n, &k, v);
    t->u.table.array_len = ++n;
    /*
     * A key n + 1 that sat past the array part now continues it: move
     * each such entry to the end of the run so the order stays defined.
     */
    for (;;) {
        struct ql_lval_entry tmp;

        k.u.integer = (int64_t)n + 1;
        at = find_key(t, &k, &found);
        if (!found)
            break;
        tmp = t->u.table.entries[at];
        memmove(&t->u.table.entries[n + 1], &t->u.table.entries[n],
                (at - n) * sizeof tmp);
        t->u.table.entries[n] = tmp;
        t->u.table.array_len = ++n;
    }
    return QL_OK;
out:
    ql_lval_free(v);
    return rc;
}

/*
 * True for a scalar, or a string within max with its bytes: what nearly
 * every entry of an argument is, checked without a call per node.
 */
static bool
plain_ok(const struct ql_lval *v, size_t max)
{
    switch (v->type) {
    case QL_LVAL_NIL:
    case QL_LVAL_BOOLEAN:
    case QL_LVAL_INTEGER:
    case QL_LVAL_NUMBER:
        return true;
    case QL_LVAL_STRING:
        return v->u.string.len <= max &&
               (v->u.string.bytes != NULL || v->u.string.len == 0);
    default:
        return false;
    }
}

/* Walks v for ql_lval_check_arg; path names the place for messages. */
static ql_err
check_arg(const struct ql_lval *v, const struct ql_lua *lua, size_t max,
          const char *name, int depth, struct ql_diag *d)
{
    const struct ql_lval_entry *e;
    size_t i;
    ql_err rc;

    if (plain_ok(v, max))
        return QL_OK;
    switch (v->type) {
    case QL_LVAL_NIL:
    case QL_LVAL_BOOLEAN:
    case QL_LVAL_INTEGER:
    case QL_LVAL_NUMBER:
        return QL_OK; /* plain_ok took them */
    case QL_LVAL_STRING:
        if (v->u.string.len > max)
            return ql_fail(d, QL_EUSAGE,
                           "argument '%s' holds a string of %zu bytes, more "
                           "than the limit of %zu",
                           name, v->u.string.len, max);
        if (v->u.string.bytes == NULL && v->u.string.len > 0)
            return ql_fail(d, QL_EUSAGE,
                           "argument '%s' holds a string without bytes", name);
        return QL_OK;
    case QL_LVAL_FUNCTION:
        if (v->u.function.owner != lua)
            return ql_fail(d, QL_EUSAGE,
                           "argument '%s' holds a function of another "
                           "script state",
                           name);
        return QL_OK;
    case QL_LVAL_TABLE:
        if (depth >= QL_LVAL_MAX_DEPTH)
            return ql_fail(d, QL_EUSAGE,
                           "argument '%s' is nested deeper than %d tables",
                           name, QL_LVAL_MAX_DEPTH);
        if (v->u.table.count > 0 && v->u.table.entries == NULL)
            return ql_fail(d, QL_EUSAGE,
                           "argument '%s' holds a table without entries", name);
        for (i = 0; i < v->u.table.count; i++) {
            e = &v->u.table.entries[i];
            /* The usual entry passes here; the rest say what is wrong. */
            if ((e->key.type == QL_LVAL_INTEGER ||
                 (e->key.type == QL_LVAL_STRING && plain_ok(&e->key, max))) &&
                plain_ok(&e->value, max))
                continue;
            if (e->key.type != QL_LVAL_INTEGER && e->key.type != QL_LVAL_STRING)
                return ql_fail(d, QL_EUSAGE,
                               "argument '%s' holds a key of type %s; keys "
                               "must be strings or integers",
                               name, ql_lval_type_name(e->key.type));
            if ((rc = check_arg(&e->key, lua, max, name, depth + 1, d)) !=
                    QL_OK ||
                (rc = check_arg(&e->value, lua, max, name, depth + 1, d)) !=
                    QL_OK)
                return rc;
        }
        return QL_OK;
    }
    return ql_fail(d, QL_EUSAGE, "argument '%s' has an unknown type %d", name,
                   (int)v->type);
}

ql_err
ql_lval_check_arg(const struct ql_lval *v, const struct ql_lua *lua,
                  size_t max_string, const char *name, struct ql_diag *d)
{
    if (v == NULL)
        return ql_fail(d, QL_EUSAGE, "argument '%s' is missing", name);
    return check_arg(v, lua, max_string, name, 0, d);
}
