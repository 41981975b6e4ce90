/*
 * ql_workflow: loading and validating a workflow definition, the lookups
 * the engine makes on every transition, and guard calls.
 *
 * The workflow file runs once, in its own sandboxed state (ql_lua); what it
 * returns comes back as a value tree that this module keeps for the life of
 * the workflow. Every name and label the accessors hand out points into that
 * tree, so nothing is copied twice; only the arrays of the public structs
 * are allocated here. The state stays open because guards live in it.
 */
#include "ql_workflow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_codec.h"
#include "ql_lua.h"
#include "ql_profile.h"
#include "ql_workflow_impl.h"

/* Most entries of each list a workflow declares. */
#define WF_ROLES_MAX 64
#define WF_FIELDS_MAX 256
#define WF_STATES_MAX 128
#define WF_TRANSITIONS_MAX 512
#define WF_VALUES_MAX 256
/* Time limits: a day count between 0 and ten years. */
#define WF_LIMIT_MAX 3660
/* The longest id_format, and the widest {seq:N}. */
#define WF_ID_FORMAT_MAX 64
#define WF_SEQ_DIGITS_MAX 12

static const char DEFAULT_ID_FORMAT[] = "{unit}-{year}-{seq:6}";

struct wf_role {
    const char *name;
    const char *label;
};

struct ql_workflow {
    struct ql_lua *lua;
    struct ql_lval *def; /* what the file returned; owns every string */
    char *chunk;         /* the chunk name, for guard errors */
    char hash[2 * QL_HASH_LEN + 1];
    const char *name, *title, *initial, *id_format;
    struct wf_role *roles;
    size_t nroles;
    const char **secret;
    size_t nsecret;
    const char **create; /* roles that register leads; NULL: derived */
    size_t ncreate;
    struct ql_wf_field *fields;
    size_t nfields;
    /* fields by name, bytewise: every write looks its fields up by name */
    const struct ql_wf_field **byname;
    /* the list fields' names, bytewise: every guard call marks its lists */
    const char **lists;
    size_t nlists;
    struct ql_wf_state *states;
    size_t nstates;
    struct ql_wf_transition *trans;
    size_t ntrans;
    const struct ql_lval **guards; /* per transition, NULL when none */
};

/* One load in progress. */
struct loader {
    struct ql_workflow *wf;
    const char *chunk;
    struct ql_diag *d;
};

static const char *const TOP_KEYS[] = {
    "name",         "title",  "initial", "id_format",   "roles",
    "secret_roles", "create", "fields",  "states",      "transitions",
    NULL};
static const char *const ROLE_KEYS[] = {"name", "label", NULL};
static const char *const FIELD_KEYS[] = {"name",   "label",  "type",
                                         "values", "max",    "required",
                                         "clear",  "secret", NULL};
static const char *const STATE_KEYS[] = {"name",    "label", "terminal",
                                         "cleared", "limit", NULL};
static const char *const LIMIT_KEYS[] = {"days", "workdays", NULL};
static const char *const TRANS_KEYS[] = {
    "name",          "label",  "from",  "to",  "roles", "approval", "require",
    "distinct_from", "assign", "merge", "due", "guard", NULL};

/* Roles the engine keeps for itself (DESIGN.md section 1). */
static const char *const ENGINE_ROLES[] = {"admin", "auditor", NULL};

static const char *const TYPE_NAMES[] = {"text", "enum", "date", "number",
                                         "list"};

/* ---- Messages ------------------------------------------------------- */

/*
 * The "where" and "what" of error messages ("fields[3]", "field 'x'",
 * "'label'") are written for every item of every load but read only when
 * something is wrong; snprintf made them a quarter of what validation
 * costs. These write the same text, cut short like snprintf's.
 */
static void
join(char *buf, size_t size, const char *a, const char *b, const char *c,
     const char *e)
{
    const char *const parts[4] = {a, b, c, e};
    size_t at = 0, i;
    const char *p;

    if (size == 0)
        return;
    for (i = 0; i < 4; i++)
        for (p = parts[i]; p != NULL && *p != '\0' && at + 1 < size; p++)
            buf[at++] = *p;
    buf[at] = '\0';
}

/* list[n], e.g. "fields[3]". */
static void
where_index(char *buf, size_t size, const char *list, size_t n)
{
    char num[24];
    size_t k = sizeof num;

    num[--k] = '\0';
    num[--k] = ']';
    do {
        num[--k] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0 && k > 1);
    num[--k] = '[';
    join(buf, size, list, num + k, NULL, NULL);
}

/* kind 'name', e.g. "field 'x'"; kind "" gives "'name'". */
static void
where_name(char *buf, size_t size, const char *kind, const char *name)
{
    join(buf, size, kind, *kind != '\0' ? " '" : "'", name, "'");
}

/* A QL_EFORMAT naming the file first. */
static ql_err bad(struct loader *L, const char *fmt, ...) QL_PRINTF(2, 3);

static ql_err
bad(struct loader *L, const char *fmt, ...)
{
    char msg[QL_DIAG_MSG];
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        msg[0] = '\0';
    va_end(ap);
    return wf_fail(L->d, QL_EFORMAT, "%s: %s", L->chunk, msg);
}

static ql_err
nomem(struct loader *L)
{
    return ql_fail(L->d, QL_ENOMEM, NULL);
}

/* A string node, quoted safely for a message. */
static const char *
quote(char *buf, size_t size, const struct ql_lval *s)
{
    return wf_quote(buf, size, s->u.string.bytes, s->u.string.len, 48);
}

/* The type of v with its article, for "must be a string, not an integer". */
static const char *
type_of(const struct ql_lval *v)
{
    switch (v->type) {
    case QL_LVAL_NIL:
        return "nil";
    case QL_LVAL_BOOLEAN:
        return "a boolean";
    case QL_LVAL_INTEGER:
        return "an integer";
    case QL_LVAL_NUMBER:
        return "a fractional number";
    case QL_LVAL_STRING:
        return "a string";
    case QL_LVAL_TABLE:
        return "a table";
    case QL_LVAL_FUNCTION:
        return "a function";
    }
    return "an unknown value";
}

/* Optimal string alignment distance, for "did you mean" (short keys). */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j, best;
    size_t row[3][33];

    if (la > 32 || lb > 32)
        return 99;
    for (j = 0; j <= lb; j++)
        row[0][j] = j;
    for (i = 1; i <= la; i++) {
        size_t *cur = row[i % 3], *prev = row[(i - 1) % 3],
               *pp = row[(i + 1) % 3];

        cur[0] = i;
        for (j = 1; j <= lb; j++) {
            best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1;
            cur[j] = best;
        }
    }
    return row[la % 3][lb];
}

/* ---- Reading the value tree ------------------------------------------ */

static bool
is_string(const struct ql_lval *v)
{
    return v != NULL && v->type == QL_LVAL_STRING;
}

/* Identifiers: [a-z][a-z0-9_]* (upper: [A-Z][A-Z0-9_]*), 64 at most. */
static bool
ident_ok(const struct ql_lval *v, bool upper)
{
    const char *s;
    size_t i, n;
    char lo = upper ? 'A' : 'a', hi = upper ? 'Z' : 'z';

    if (!is_string(v))
        return false;
    s = v->u.string.bytes;
    n = v->u.string.len;
    if (n == 0 || n > WF_NAME_MAX || s[0] < lo || s[0] > hi)
        return false;
    for (i = 1; i < n; i++) {
        if (!((s[i] >= lo && s[i] <= hi) || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return false;
    }
    return true;
}

/*
 * Refuses keys of a record table that are not in keys: a typo such as
 * `rolse` must not pass silently as an absent key.
 */
static ql_err
check_keys(struct loader *L, const struct ql_lval *t, const char *const *keys,
           const char *where)
{
    const struct ql_lval *k;
    const char *near;
    char q[64];
    size_t i, j, dist, best;

    for (i = 0; i < t->u.table.count; i++) {
        k = &t->u.table.entries[i].key;
        if (k->type != QL_LVAL_STRING)
            return bad(L,
                       "%s: unexpected value at position %lld; write "
                       "key = value",
                       where, (long long)k->u.integer);
        for (j = 0; keys[j] != NULL; j++) {
            if (strlen(keys[j]) == k->u.string.len &&
                memcmp(keys[j], k->u.string.bytes, k->u.string.len) == 0)
                break;
        }
        if (keys[j] != NULL)
            continue;
        near = NULL;
        best = 3;
        for (j = 0; keys[j] != NULL; j++) {
            if (strlen(k->u.string.bytes) != k->u.string.len)
                break;
            dist = edit_distance(k->u.string.bytes, keys[j]);
            if (dist < best) {
                best = dist;
                near = keys[j];
            }
        }
        if (near != NULL)
            return bad(L, "%s: unknown key '%s' (did you mean '%s'?)", where,
                       quote(q, sizeof q, k), near);
        return bad(L, "%s: unknown key '%s'", where, quote(q, sizeof q, k));
    }
    return QL_OK;
}

/* A record: a table of named keys only. */
static ql_err
check_record(struct loader *L, const struct ql_lval *t, const char *const *keys,
             const char *where)
{
    if (t->type != QL_LVAL_TABLE)
        return bad(L, "%s must be a table, not %s", where, type_of(t));
    return check_keys(L, t, keys, where);
}

/*
 * Checks a label, title or enum value: non-empty, one line of UTF-8
 * without control characters, at most WF_LABEL_MAX bytes.
 */
static ql_err
check_line(struct loader *L, const struct ql_lval *v, const char *where,
           const char *what)
{
    switch (wf_text_scan(v->u.string.bytes, v->u.string.len, false, NULL)) {
    case WF_TEXT_OK:
        break;
    case WF_TEXT_BAD_UTF8:
        return bad(L, "%s: %s is not valid UTF-8", where, what);
    case WF_TEXT_CONTROL:
    case WF_TEXT_NEWLINE:
        return bad(L, "%s: %s must be one line without control characters",
                   where, what);
    }
    if (v->u.string.len == 0)
        return bad(L, "%s: %s is empty", where, what);
    if (v->u.string.len > WF_LABEL_MAX)
        return bad(L, "%s: %s is longer than %d bytes", where, what,
                   WF_LABEL_MAX);
    return QL_OK;
}

/* t[key] as a string node, or NULL when absent and not needed. */
static ql_err
get_string(struct loader *L, const struct ql_lval *t, const char *key,
           const char *where, bool need, const struct ql_lval **out)
{
    const struct ql_lval *v = ql_lval_get(t, key);

    *out = NULL;
    if (v == NULL || v->type == QL_LVAL_NIL) {
        if (need)
            return bad(L, "%s: missing '%s'", where, key);
        return QL_OK;
    }
    if (v->type != QL_LVAL_STRING)
        return bad(L, "%s: '%s' must be a string, not %s", where, key,
                   type_of(v));
    *out = v;
    return QL_OK;
}

/* An optional label (defaults to fallback). */
static ql_err
get_label(struct loader *L, const struct ql_lval *t, const char *key,
          const char *where, const char *fallback, const char **out)
{
    const struct ql_lval *v;
    char what[32];
    ql_err rc;

    if ((rc = get_string(L, t, key, where, false, &v)) != QL_OK)
        return rc;
    if (v == NULL) {
        *out = fallback;
        return QL_OK;
    }
    where_name(what, sizeof what, "", key);
    if ((rc = check_line(L, v, where, what)) != QL_OK)
        return rc;
    *out = v->u.string.bytes;
    return QL_OK;
}

static ql_err
get_bool(struct loader *L, const struct ql_lval *t, const char *key,
         const char *where, bool *out)
{
    const struct ql_lval *v = ql_lval_get(t, key);

    *out = false;
    if (v == NULL || v->type == QL_LVAL_NIL)
        return QL_OK;
    if (v->type != QL_LVAL_BOOLEAN)
        return bad(L, "%s: '%s' must be true or false, not %s", where, key,
                   type_of(v));
    *out = v->u.boolean;
    return QL_OK;
}

/* A whole number in lo..hi; *present false when absent. */
static ql_err
get_int(struct loader *L, const struct ql_lval *t, const char *key,
        const char *where, int64_t lo, int64_t hi, bool *present, int64_t *out)
{
    const struct ql_lval *v = ql_lval_get(t, key);

    *present = false;
    if (v == NULL || v->type == QL_LVAL_NIL)
        return QL_OK;
    if (v->type != QL_LVAL_INTEGER)
        return bad(L, "%s: '%s' must be a whole number, not %s", where, key,
                   type_of(v));
    if (v->u.integer < lo || v->u.integer > hi)
        return bad(L, "%s: '%s' is %lld, it must be between %lld and %lld",
                   where, key, (long long)v->u.integer, (long long)lo,
                   (long long)hi);
    *present = true;
    *out = v->u.integer;
    return QL_OK;
}

/* t[key] as an array (a table with keys 1..n only), or NULL when absent. */
static ql_err
get_array(struct loader *L, const struct ql_lval *t, const char *key,
          const char *where, bool need, const struct ql_lval **out)
{
    const struct ql_lval *v = ql_lval_get(t, key);

    *out = NULL;
    if (v == NULL || v->type == QL_LVAL_NIL) {
        if (need)
            return bad(L, "%s: missing '%s'", where, key);
        return QL_OK;
    }
    if (v->type != QL_LVAL_TABLE)
        return bad(L, "%s: '%s' must be an array ({...}), not %s", where, key,
                   type_of(v));
    if (v->u.table.count != v->u.table.array_len)
        return bad(L,
                   "%s: '%s' must be an array ({a, b, ...}) without keys or "
                   "gaps",
                   where, key);
    *out = v;
    return QL_OK;
}

/* ---- Lookups ---------------------------------------------------------- */

/* a (NULL for an entry not filled yet) equals the string node s. */
static bool
eq(const char *a, const struct ql_lval *s)
{
    return a != NULL && strlen(a) == s->u.string.len &&
           memcmp(a, s->u.string.bytes, s->u.string.len) == 0;
}

static const char *
find_role(const struct ql_workflow *wf, const struct ql_lval *s)
{
    size_t i;

    for (i = 0; i < wf->nroles; i++)
        if (eq(wf->roles[i].name, s))
            return wf->roles[i].name;
    return NULL;
}

static const struct ql_wf_field *
find_field(const struct ql_workflow *wf, const struct ql_lval *s)
{
    size_t i;

    for (i = 0; i < wf->nfields; i++)
        if (eq(wf->fields[i].name, s))
            return &wf->fields[i];
    return NULL;
}

static long
state_index(const struct ql_workflow *wf, const char *name)
{
    size_t i;

    for (i = 0; i < wf->nstates; i++)
        if (strcmp(wf->states[i].name, name) == 0)
            return (long)i;
    return -1;
}

static const char *
find_state(const struct ql_workflow *wf, const struct ql_lval *s)
{
    size_t i;

    for (i = 0; i < wf->nstates; i++)
        if (eq(wf->states[i].name, s))
            return wf->states[i].name;
    return NULL;
}

/* ---- Roles ------------------------------------------------------------- */

static ql_err
load_roles(struct loader *L, const struct ql_lval *top)
{
    struct ql_workflow *wf = L->wf;
    const struct ql_lval *arr, *item, *name;
    char where[96], q[64];
    size_t i, j, n;
    ql_err rc;

    if ((rc = get_array(L, top, "roles", "workflow", true, &arr)) != QL_OK)
        return rc;
    n = ql_lval_len(arr);
    if (n > WF_ROLES_MAX)
        return bad(L, "too many roles (%zu, the limit is %d)", n, WF_ROLES_MAX);
    if (n > 0 && (wf->roles = calloc(n, sizeof *wf->roles)) == NULL)
        return nomem(L);
    for (i = 0; i < n; i++) {
        item = ql_lval_at(arr, i + 1);
        where_index(where, sizeof where, "roles", i + 1);
        if ((rc = check_record(L, item, ROLE_KEYS, where)) != QL_OK ||
            (rc = get_string(L, item, "name", where, true, &name)) != QL_OK)
            return rc;
        if (!ident_ok(name, false))
            return bad(L,
                       "%s: bad role name '%s': use [a-z][a-z0-9_]*, at most "
                       "%d characters",
                       where, quote(q, sizeof q, name), WF_NAME_MAX);
        where_name(where, sizeof where, "role", name->u.string.bytes);
        for (j = 0; ENGINE_ROLES[j] != NULL; j++)
            if (eq(ENGINE_ROLES[j], name))
                return bad(L, "%s: '%s' is the engine's own role", where,
                           ENGINE_ROLES[j]);
        if (find_role(wf, name) != NULL)
            return bad(L, "duplicate role '%s'", name->u.string.bytes);
        wf->roles[i].name = name->u.string.bytes;
        if ((rc = get_label(L, item, "label", where, wf->roles[i].name,
                            &wf->roles[i].label)) != QL_OK)
            return rc;
        wf->nroles = i + 1;
    }
    return QL_OK;
}

/*
 * An array of declared role names (roles, secret_roles): no duplicates;
 * nonempty when need says so.
 */
static ql_err
role_list(struct loader *L, const struct ql_lval *t, const char *key,
          const char *where, bool need, const char ***out, size_t *nout)
{
    const struct ql_lval *arr, *v;
    const char **list = NULL, *r;
    char q[64];
    size_t i, j, n;
    ql_err rc;

    *out = NULL;
    *nout = 0;
    if ((rc = get_array(L, t, key, where, need, &arr)) != QL_OK)
        return rc;
    n = ql_lval_len(arr);
    if (n == 0) {
        if (need)
            return bad(L, "%s: '%s' is empty; name at least one role", where,
                       key);
        return QL_OK;
    }
    if ((list = calloc(n, sizeof *list)) == NULL)
        return nomem(L);
    for (i = 0; i < n; i++) {
        v = ql_lval_at(arr, i + 1);
        if (!is_string(v)) {
            rc = bad(L, "%s: '%s' must hold role names, not %s", where, key,
                     type_of(v));
            goto out;
        }
        if ((r = find_role(L->wf, v)) == NULL) {
            rc = bad(L, "%s: unknown role '%s' in '%s'", where,
                     quote(q, sizeof q, v), key);
            goto out;
        }
        for (j = 0; j < i; j++) {
            if (list[j] == r) {
                rc = bad(L, "%s: role '%s' appears twice in '%s'", where, r,
                         key);
                goto out;
            }
        }
        list[i] = r;
    }
    *out = list;
    *nout = n;
    list = NULL;
    rc = QL_OK;
out:
    free(list);
    return rc;
}

/* ---- Fields ------------------------------------------------------------ */

static ql_err
load_values(struct loader *L, const struct ql_lval *item, const char *where,
            struct ql_wf_field *f)
{
    const struct ql_lval *arr, *v;
    const char **vals;
    char q[64], what[32];
    size_t i, j, n;
    ql_err rc;

    if ((rc = get_array(L, item, "values", where, true, &arr)) != QL_OK)
        return rc;
    n = ql_lval_len(arr);
    if (n == 0)
        return bad(L, "%s: an enum needs at least one value in 'values'",
                   where);
    if (n > WF_VALUES_MAX)
        return bad(L, "%s: too many values (%zu, the limit is %d)", where, n,
                   WF_VALUES_MAX);
    if ((vals = calloc(n, sizeof *vals)) == NULL)
        return nomem(L);
    f->values = vals; /* freed with the workflow from here on */
    for (i = 0; i < n; i++) {
        v = ql_lval_at(arr, i + 1);
        where_index(what, sizeof what, "values", i + 1);
        if (!is_string(v))
            return bad(L, "%s: %s must be a string, not %s", where, what,
                       type_of(v));
        if ((rc = check_line(L, v, where, what)) != QL_OK)
            return rc;
        if (v->u.string.bytes[0] == ' ' ||
            v->u.string.bytes[v->u.string.len - 1] == ' ')
            return bad(L, "%s: %s '%s' starts or ends with a space", where,
                       what, quote(q, sizeof q, v));
        for (j = 0; j < i; j++)
            if (eq(vals[j], v))
                return bad(L, "%s: value '%s' appears twice", where,
                           quote(q, sizeof q, v));
        vals[i] = v->u.string.bytes;
        f->nvalues = i + 1;
    }
    return QL_OK;
}

static ql_err
load_field(struct loader *L, const struct ql_lval *item, size_t idx,
           struct ql_wf_field *f)
{
    const struct ql_lval *name, *type;
    char where[96], q[64];
    bool clear, secret, has_max;
    int64_t max = 0;
    size_t i;
    ql_err rc;

    where_index(where, sizeof where, "fields", idx + 1);
    if (item->type == QL_LVAL_TABLE) {
        name = ql_lval_get(item, "name");
        if (ident_ok(name, false))
            where_name(where, sizeof where, "field", name->u.string.bytes);
    }
    if ((rc = check_record(L, item, FIELD_KEYS, where)) != QL_OK ||
        (rc = get_string(L, item, "name", where, true, &name)) != QL_OK)
        return rc;
    if (!ident_ok(name, false))
        return bad(L,
                   "%s: bad field name '%s': use [a-z][a-z0-9_]*, at most %d "
                   "characters",
                   where, quote(q, sizeof q, name), WF_NAME_MAX);
    if (find_field(L->wf, name) != NULL)
        return bad(L, "duplicate field '%s'", name->u.string.bytes);
    f->name = name->u.string.bytes;
    if ((rc = get_label(L, item, "label", where, f->name, &f->label)) !=
            QL_OK ||
        (rc = get_string(L, item, "type", where, false, &type)) != QL_OK)
        return rc;
    f->type = QL_FIELD_TEXT;
    if (type != NULL) {
        for (i = 0; i < sizeof TYPE_NAMES / sizeof TYPE_NAMES[0]; i++)
            if (eq(TYPE_NAMES[i], type))
                break;
        if (i == sizeof TYPE_NAMES / sizeof TYPE_NAMES[0])
            return bad(L,
                       "%s: unknown type '%s' (use text, enum, date, number "
                       "or list)",
                       where, quote(q, sizeof q, type));
        f->type = (enum ql_field_type)i;
    }
    if (f->type == QL_FIELD_ENUM) {
        if ((rc = load_values(L, item, where, f)) != QL_OK)
            return rc;
    } else if (ql_lval_get(item, "values") != NULL) {
        return bad(L, "%s: 'values' is only for enum fields", where);
    }
    if ((rc = get_bool(L, item, "required", where, &f->required)) != QL_OK ||
        (rc = get_bool(L, item, "clear", where, &clear)) != QL_OK ||
        (rc = get_bool(L, item, "secret", where, &secret)) != QL_OK)
        return rc;
    if (clear && secret)
        return bad(L, "%s: a field cannot be both clear and secret", where);
    f->vis = clear ? QL_VIS_CLEAR : secret ? QL_VIS_SECRET : QL_VIS_SEALED;
    if (clear && f->type == QL_FIELD_LIST)
        return bad(L, "%s: a list cannot be clear (clear values are one line)",
                   where);
    if ((rc = get_int(L, item, "max", where, 1,
                      clear ? WF_CLEAR_MAX : WF_TEXT_LIMIT, &has_max, &max)) !=
        QL_OK)
        return rc;
    if (has_max && f->type != QL_FIELD_TEXT && f->type != QL_FIELD_LIST)
        return bad(L, "%s: 'max' is only for text and list fields", where);
    f->max = has_max ? (size_t)max : 0;
    return QL_OK;
}

/*
 * Builds wf->byname, the fields sorted by name for ql_workflow_field's
 * binary search, and wf->lists, the list fields' names in the same order
 * for the guard's lead table. Names are unique (load_field refuses a
 * duplicate), so the order is total. Insertion sort: at most
 * WF_FIELDS_MAX fields, once a load.
 */
static ql_err
index_fields(struct loader *L)
{
    struct ql_workflow *wf = L->wf;
    const struct ql_wf_field **by;
    size_t i, j, n = 0;

    if (wf->nfields == 0)
        return QL_OK;
    if ((by = calloc(wf->nfields, sizeof *by)) == NULL)
        return nomem(L);
    wf->byname = by;
    for (i = 0; i < wf->nfields; i++) {
        for (j = i; j > 0 && strcmp(by[j - 1]->name, wf->fields[i].name) > 0;
             j--)
            by[j] = by[j - 1];
        by[j] = &wf->fields[i];
        n += wf->fields[i].type == QL_FIELD_LIST;
    }
    if (n == 0)
        return QL_OK;
    if ((wf->lists = calloc(n, sizeof *wf->lists)) == NULL)
        return nomem(L);
    for (i = 0; i < wf->nfields; i++)
        if (by[i]->type == QL_FIELD_LIST)
            wf->lists[wf->nlists++] = by[i]->name;
    return QL_OK;
}

static ql_err
load_fields(struct loader *L, const struct ql_lval *top)
{
    struct ql_workflow *wf = L->wf;
    const struct ql_lval *arr;
    size_t i, n;
    ql_err rc;

    if ((rc = get_array(L, top, "fields", "workflow", false, &arr)) != QL_OK)
        return rc;
    n = ql_lval_len(arr);
    if (n > WF_FIELDS_MAX)
        return bad(L, "too many fields (%zu, the limit is %d)", n,
                   WF_FIELDS_MAX);
    if (n > 0 && (wf->fields = calloc(n, sizeof *wf->fields)) == NULL)
        return nomem(L);
    for (i = 0; i < n; i++) {
        /* Count it first so that its values array is freed on error. */
        wf->nfields = i + 1;
        if ((rc = load_field(L, ql_lval_at(arr, i + 1), i, &wf->fields[i])) !=
            QL_OK) {
            return rc;
        }
    }
    return index_fields(L);
}

/* ---- States ------------------------------------------------------------ */

static ql_err
load_limit(struct loader *L, const struct ql_lval *item, const char *where,
           struct ql_wf_state *s)
{
    const struct ql_lval *lim = ql_lval_get(item, "limit");
    char lwhere[112];
    bool has_days, has_work;
    int64_t days = 0, work = 0;
    ql_err rc;

    s->limit.kind = QL_LIMIT_NONE;
    s->limit.n = 0;
    if (lim == NULL || lim->type == QL_LVAL_NIL)
        return QL_OK;
    join(lwhere, sizeof lwhere, where, ": limit", NULL, NULL);
    if ((rc = check_record(L, lim, LIMIT_KEYS, lwhere)) != QL_OK ||
        (rc = get_int(L, lim, "days", lwhere, 0, WF_LIMIT_MAX, &has_days,
                      &days)) != QL_OK ||
        (rc = get_int(L, lim, "workdays", lwhere, 0, WF_LIMIT_MAX, &has_work,
                      &work)) != QL_OK)
        return rc;
    if (has_days == has_work)
        return bad(L, "%s: give either days = N or workdays = N", lwhere);
    if (s->terminal)
        return bad(L, "%s: a terminal state has no time limit", where);
    s->limit.kind = has_days ? QL_LIMIT_DAYS : QL_LIMIT_WORKDAYS;
    s->limit.n = (int)(has_days ? days : work);
    return QL_OK;
}

static ql_err
load_states(struct loader *L, const struct ql_lval *top)
{
    struct ql_workflow *wf = L->wf;
    const struct ql_lval *arr, *item, *name;
    struct ql_wf_state *s;
    char where[96], q[64];
    size_t i, n;
    ql_err rc;

    if ((rc = get_array(L, top, "states", "workflow", true, &arr)) != QL_OK)
        return rc;
    n = ql_lval_len(arr);
    if (n == 0)
        return bad(L, "'states' is empty");
    if (n > WF_STATES_MAX)
        return bad(L, "too many states (%zu, the limit is %d)", n,
                   WF_STATES_MAX);
    if ((wf->states = calloc(n, sizeof *wf->states)) == NULL)
        return nomem(L);
    for (i = 0; i < n; i++) {
        item = ql_lval_at(arr, i + 1);
        s = &wf->states[i];
        where_index(where, sizeof where, "states", i + 1);
        if (item->type == QL_LVAL_TABLE) {
            name = ql_lval_get(item, "name");
            if (ident_ok(name, true))
                where_name(where, sizeof where, "state", name->u.string.bytes);
        }
        if ((rc = check_record(L, item, STATE_KEYS, where)) != QL_OK ||
            (rc = get_string(L, item, "name", where, true, &name)) != QL_OK)
            return rc;
        if (!ident_ok(name, true))
            return bad(L,
                       "%s: bad state name '%s': use [A-Z][A-Z0-9_]*, at "
                       "most %d characters",
                       where, quote(q, sizeof q, name), WF_NAME_MAX);
        if (find_state(wf, name) != NULL)
            return bad(L, "duplicate state '%s'", name->u.string.bytes);
        s->name = name->u.string.bytes;
        if ((rc = get_label(L, item, "label", where, s->name, &s->label)) !=
                QL_OK ||
            (rc = get_bool(L, item, "terminal", where, &s->terminal)) !=
                QL_OK ||
            (rc = get_bool(L, item, "cleared", where, &s->cleared)) != QL_OK ||
            (rc = load_limit(L, item, where, s)) != QL_OK)
            return rc;
        wf->nstates = i + 1;
    }
    return QL_OK;
}

/* ---- Transitions --------------------------------------------------------- */

/* from: one state name, or an array of them. */
static ql_err
load_from(struct loader *L, const struct ql_lval *item, const char *where,
          struct ql_wf_transition *t)
{
    const struct ql_lval *v = ql_lval_get(item, "from"), *s;
    const char **list, *name;
    char q[64];
    size_t i, j, n;

    if (v == NULL || v->type == QL_LVAL_NIL)
        return bad(L, "%s: missing 'from'", where);
    if (v->type == QL_LVAL_STRING) {
        n = 1;
    } else if (v->type == QL_LVAL_TABLE &&
               v->u.table.count == v->u.table.array_len) {
        n = v->u.table.count;
        if (n == 0)
            return bad(L, "%s: 'from' is empty", where);
    } else {
        return bad(L,
                   "%s: 'from' must be a state name or an array of them, not "
                   "%s",
                   where,
                   v->type == QL_LVAL_TABLE ? "a table with keys" : type_of(v));
    }
    if ((list = calloc(n, sizeof *list)) == NULL)
        return nomem(L);
    t->from = list; /* freed with the workflow from here on */
    for (i = 0; i < n; i++) {
        s = v->type == QL_LVAL_STRING ? v : ql_lval_at(v, i + 1);
        if (!is_string(s))
            return bad(L, "%s: 'from' must hold state names, not %s", where,
                       type_of(s));
        if ((name = find_state(L->wf, s)) == NULL)
            return bad(L, "%s: unknown state '%s' in 'from'", where,
                       quote(q, sizeof q, s));
        for (j = 0; j < i; j++)
            if (list[j] == name)
                return bad(L, "%s: state '%s' appears twice in 'from'", where,
                           name);
        list[i] = name;
        t->nfrom = i + 1;
    }
    return QL_OK;
}

/* A field reference (assign, merge, due). */
static ql_err
field_ref(struct loader *L, const struct ql_lval *item, const char *key,
          const char *where, const struct ql_wf_field **out)
{
    const struct ql_lval *v;
    char q[64];
    ql_err rc;

    *out = NULL;
    if ((rc = get_string(L, item, key, where, false, &v)) != QL_OK || v == NULL)
        return rc;
    if ((*out = find_field(L->wf, v)) == NULL)
        return bad(L, "%s: unknown field '%s' in '%s'", where,
                   quote(q, sizeof q, v), key);
    return QL_OK;
}

/*
 * require: declared fields, no duplicates; the fields named by assign,
 * merge and due are added when missing, because the engine cannot act on
 * a transition without them.
 */
static ql_err
load_require(struct loader *L, const struct ql_lval *item, const char *where,
             struct ql_wf_transition *t, const char *const extra[3])
{
    const struct ql_lval *arr, *v;
    const struct ql_wf_field *f;
    const char **list;
    char q[64];
    size_t i, j, n, k;
    ql_err rc;

    if ((rc = get_array(L, item, "require", where, false, &arr)) != QL_OK)
        return rc;
    n = ql_lval_len(arr);
    if (n > WF_FIELDS_MAX)
        return bad(L, "%s: 'require' is too long", where);
    if ((list = calloc(n + 3, sizeof *list)) == NULL)
        return nomem(L);
    t->require = list; /* freed with the workflow from here on */
    for (i = 0; i < n; i++) {
        v = ql_lval_at(arr, i + 1);
        if (!is_string(v))
            return bad(L, "%s: 'require' must hold field names, not %s", where,
                       type_of(v));
        if ((f = find_field(L->wf, v)) == NULL)
            return bad(L, "%s: unknown field '%s' in 'require'", where,
                       quote(q, sizeof q, v));
        for (j = 0; j < i; j++)
            if (list[j] == f->name)
                return bad(L, "%s: field '%s' appears twice in 'require'",
                           where, f->name);
        list[i] = f->name;
        t->nrequire = i + 1;
    }
    for (k = 0; k < 3; k++) {
        if (extra[k] == NULL)
            continue;
        for (j = 0; j < t->nrequire; j++)
            if (list[j] == extra[k])
                break;
        if (j == t->nrequire)
            list[t->nrequire++] = extra[k];
    }
    return QL_OK;
}

/*
 * distinct_from as strings for now: it may name transitions declared later,
 * so resolve_distinct checks the names once all are loaded.
 */
static ql_err
load_distinct(struct loader *L, const struct ql_lval *item, const char *where,
              struct ql_wf_transition *t)
{
    const struct ql_lval *arr, *v;
    const char **list;
    char q[64];
    size_t i, j, n;
    ql_err rc;

    if ((rc = get_array(L, item, "distinct_from", where, false, &arr)) != QL_OK)
        return rc;
    n = ql_lval_len(arr);
    if (n == 0)
        return QL_OK;
    if (n > WF_TRANSITIONS_MAX)
        return bad(L, "%s: 'distinct_from' is too long", where);
    if ((list = calloc(n, sizeof *list)) == NULL)
        return nomem(L);
    t->distinct_from = list; /* freed with the workflow from here on */
    for (i = 0; i < n; i++) {
        v = ql_lval_at(arr, i + 1);
        if (!is_string(v))
            return bad(L,
                       "%s: 'distinct_from' must hold transition names, not "
                       "%s",
                       where, type_of(v));
        if (!ident_ok(v, false))
            return bad(L, "%s: unknown transition '%s' in 'distinct_from'",
                       where, quote(q, sizeof q, v));
        for (j = 0; j < i; j++)
            if (eq(list[j], v))
                return bad(L,
                           "%s: transition '%s' appears twice in "
                           "'distinct_from'",
                           where, list[j]);
        list[i] = v->u.string.bytes;
        t->ndistinct = i + 1;
    }
    return QL_OK;
}

static ql_err
load_transition(struct loader *L, const struct ql_lval *item, size_t idx)
{
    struct ql_workflow *wf = L->wf;
    struct ql_wf_transition *t = &wf->trans[idx];
    const struct ql_lval *name, *v, *guard;
    const struct ql_wf_field *assign, *merge, *due;
    const char *extra[3];
    char where[96], q[64];
    size_t i;
    ql_err rc;

    where_index(where, sizeof where, "transitions", idx + 1);
    if (item->type == QL_LVAL_TABLE) {
        name = ql_lval_get(item, "name");
        if (ident_ok(name, false))
            where_name(where, sizeof where, "transition",
                       name->u.string.bytes);
    }
    if ((rc = check_record(L, item, TRANS_KEYS, where)) != QL_OK ||
        (rc = get_string(L, item, "name", where, true, &name)) != QL_OK)
        return rc;
    if (!ident_ok(name, false))
        return bad(L,
                   "%s: bad transition name '%s': use [a-z][a-z0-9_]*, at "
                   "most %d characters",
                   where, quote(q, sizeof q, name), WF_NAME_MAX);
    for (i = 0; i < idx; i++)
        if (eq(wf->trans[i].name, name))
            return bad(L,
                       "duplicate transition '%s' (transitions[%zu] and "
                       "[%zu]); one action from several states is one "
                       "transition with from = {...}",
                       wf->trans[i].name, i + 1, idx + 1);
    t->name = name->u.string.bytes;
    if ((rc = get_label(L, item, "label", where, t->name, &t->label)) !=
            QL_OK ||
        (rc = load_from(L, item, where, t)) != QL_OK ||
        (rc = get_string(L, item, "to", where, true, &v)) != QL_OK)
        return rc;
    if ((t->to = find_state(wf, v)) == NULL)
        return bad(L, "%s: unknown state '%s' in 'to'", where,
                   quote(q, sizeof q, v));
    if ((rc = role_list(L, item, "roles", where, true,
                        (const char ***)&t->roles, &t->nroles)) != QL_OK ||
        (rc = get_string(L, item, "approval", where, false, &v)) != QL_OK)
        return rc;
    if (v != NULL && (t->approval = find_role(wf, v)) == NULL)
        return bad(L, "%s: unknown role '%s' in 'approval'", where,
                   quote(q, sizeof q, v));
    if ((rc = field_ref(L, item, "assign", where, &assign)) != QL_OK ||
        (rc = field_ref(L, item, "merge", where, &merge)) != QL_OK ||
        (rc = field_ref(L, item, "due", where, &due)) != QL_OK)
        return rc;
    if (assign != NULL && assign->type != QL_FIELD_TEXT &&
        assign->type != QL_FIELD_ENUM)
        return bad(L,
                   "%s: 'assign' field '%s' must be text or enum (it names "
                   "a unit)",
                   where, assign->name);
    if (merge != NULL && merge->type != QL_FIELD_TEXT)
        return bad(L,
                   "%s: 'merge' field '%s' must be text (it names the "
                   "master lead)",
                   where, merge->name);
    if (due != NULL && due->type != QL_FIELD_DATE)
        return bad(L, "%s: 'due' field '%s' must be a date field", where,
                   due->name);
    if (assign != NULL && merge != NULL)
        return bad(L, "%s: a transition cannot both assign and merge", where);
    t->assign_field = assign != NULL ? assign->name : NULL;
    t->merge_field = merge != NULL ? merge->name : NULL;
    t->due_field = due != NULL ? due->name : NULL;
    extra[0] = t->assign_field;
    extra[1] = t->merge_field;
    extra[2] = t->due_field;
    if ((rc = load_require(L, item, where, t, extra)) != QL_OK ||
        (rc = load_distinct(L, item, where, t)) != QL_OK)
        return rc;
    guard = ql_lval_get(item, "guard");
    if (guard != NULL && guard->type != QL_LVAL_NIL) {
        if (guard->type != QL_LVAL_FUNCTION)
            return bad(L, "%s: 'guard' must be a function, not %s", where,
                       type_of(guard));
        wf->guards[idx] = guard;
        t->has_guard = true;
    }
    return QL_OK;
}

static ql_err
resolve_distinct(struct loader *L)
{
    struct ql_workflow *wf = L->wf;
    struct ql_wf_transition *t;
    size_t i, j, k;

    for (i = 0; i < wf->ntrans; i++) {
        t = &wf->trans[i];
        for (j = 0; j < t->ndistinct; j++) {
            for (k = 0; k < wf->ntrans; k++)
                if (strcmp(wf->trans[k].name, t->distinct_from[j]) == 0)
                    break;
            if (k == wf->ntrans)
                return bad(L,
                           "transition '%s': unknown transition '%s' in "
                           "'distinct_from'",
                           t->name, t->distinct_from[j]);
            /* Point at the declared name, like every other reference. */
            ((const char **)t->distinct_from)[j] = wf->trans[k].name;
        }
    }
    return QL_OK;
}

static ql_err
load_transitions(struct loader *L, const struct ql_lval *top)
{
    struct ql_workflow *wf = L->wf;
    const struct ql_lval *arr;
    size_t i, n;
    ql_err rc;

    if ((rc = get_array(L, top, "transitions", "workflow", true, &arr)) !=
        QL_OK)
        return rc;
    n = ql_lval_len(arr);
    if (n > WF_TRANSITIONS_MAX)
        return bad(L, "too many transitions (%zu, the limit is %d)", n,
                   WF_TRANSITIONS_MAX);
    if (n > 0) {
        wf->trans = calloc(n, sizeof *wf->trans);
        wf->guards = calloc(n, sizeof *wf->guards);
        if (wf->trans == NULL || wf->guards == NULL)
            return nomem(L);
    }
    for (i = 0; i < n; i++) {
        /* Counted before it is filled, so its arrays are freed on error. */
        wf->ntrans = i + 1;
        if ((rc = load_transition(L, ql_lval_at(arr, i + 1), i)) != QL_OK)
            return rc;
    }
    return resolve_distinct(L);
}

/* ---- The whole definition ----------------------------------------------- */

/*
 * id_format: letters, digits, '-', '_' and '.' around {year}, {unit} and
 * exactly one {seq:N}. Lead ids appear in clear log lines and on command
 * lines, so nothing that needs quoting is allowed.
 */
static ql_err
check_id_format(struct loader *L, const struct ql_lval *v)
{
    const char *s = v->u.string.bytes;
    size_t n = v->u.string.len, i, j, tl;
    int seq = 0, year = 0, unit = 0, digits;
    char q[64];

    if (n == 0 || n > WF_ID_FORMAT_MAX)
        return bad(L, "id_format must be 1 to %d characters", WF_ID_FORMAT_MAX);
    for (i = 0; i < n; i++) {
        if (s[i] == '{') {
            for (j = i + 1; j < n && s[j] != '}' && s[j] != '{'; j++)
                ;
            if (j == n || s[j] != '}')
                return bad(L, "id_format '%s': '{' without '}'",
                           quote(q, sizeof q, v));
            tl = j - i - 1;
            if (tl == 4 && memcmp(s + i + 1, "year", 4) == 0) {
                year++;
            } else if (tl == 4 && memcmp(s + i + 1, "unit", 4) == 0) {
                unit++;
            } else if (tl >= 5 && tl <= 6 &&
                       memcmp(s + i + 1, "seq:", 4) == 0 && s[i + 5] >= '0' &&
                       s[i + 5] <= '9' &&
                       (tl == 5 || (s[i + 6] >= '0' && s[i + 6] <= '9'))) {
                digits = s[i + 5] - '0';
                if (tl == 6)
                    digits = digits * 10 + (s[i + 6] - '0');
                if (digits < 1 || digits > WF_SEQ_DIGITS_MAX)
                    return bad(L, "id_format: {seq:N} takes N from 1 to %d",
                               WF_SEQ_DIGITS_MAX);
                seq++;
            } else {
                return bad(L,
                           "id_format '%s': unknown placeholder '{%.*s}' (use "
                           "{unit}, {year} or {seq:N})",
                           quote(q, sizeof q, v), (int)(tl > 20 ? 20 : tl),
                           s + i + 1);
            }
            i = j;
        } else if (!((s[i] >= 'A' && s[i] <= 'Z') ||
                     (s[i] >= 'a' && s[i] <= 'z') ||
                     (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
                     s[i] == '_' || s[i] == '.')) {
            return bad(L,
                       "id_format '%s': only letters, digits, '-', '_' and "
                       "'.' may surround the placeholders",
                       quote(q, sizeof q, v));
        }
    }
    if (seq != 1 || year > 1 || unit > 1)
        return bad(L,
                   "id_format '%s' needs exactly one {seq:N} and at most one "
                   "{year} and {unit}",
                   quote(q, sizeof q, v));
    return QL_OK;
}

/*
 * The state graph: every state reachable from the initial state, at least
 * one terminal state, and a path to one from every state. Transitions out
 * of terminal states are allowed (a spot-check reopens a closed lead).
 */
static ql_err
check_graph(struct loader *L)
{
    struct ql_workflow *wf = L->wf;
    const struct ql_wf_transition *t;
    bool *seen = NULL, *live = NULL, changed, any = false;
    size_t i, j;
    long from, to;
    ql_err rc = QL_OK;

    seen = calloc(wf->nstates, sizeof *seen);
    live = calloc(wf->nstates, sizeof *live);
    if (seen == NULL || live == NULL) {
        rc = nomem(L);
        goto out;
    }
    seen[state_index(wf, wf->initial)] = true;
    for (i = 0; i < wf->nstates; i++) {
        live[i] = wf->states[i].terminal;
        any = any || live[i];
    }
    if (!any) {
        rc = bad(L, "no state is terminal; mark the states where handling ends "
                    "with terminal = true");
        goto out;
    }
    /* Both closures to a fixed point; the graphs are small. */
    do {
        changed = false;
        for (i = 0; i < wf->ntrans; i++) {
            t = &wf->trans[i];
            to = state_index(wf, t->to);
            for (j = 0; j < t->nfrom; j++) {
                from = state_index(wf, t->from[j]);
                if (seen[from] && !seen[to]) {
                    seen[to] = true;
                    changed = true;
                }
                if (live[to] && !live[from]) {
                    live[from] = true;
                    changed = true;
                }
            }
        }
    } while (changed);
    for (i = 0; i < wf->nstates; i++) {
        if (!seen[i]) {
            rc = bad(L,
                     "state '%s' cannot be reached from the initial state "
                     "'%s'",
                     wf->states[i].name, wf->initial);
            goto out;
        }
    }
    for (i = 0; i < wf->nstates; i++) {
        if (!live[i]) {
            rc = bad(L,
                     "state '%s' has no path to a terminal state (a lead "
                     "there could never be finished)",
                     wf->states[i].name);
            goto out;
        }
    }
out:
    free(seen);
    free(live);
    return rc;
}

static ql_err
load_definition(struct loader *L)
{
    struct ql_workflow *wf = L->wf;
    const struct ql_lval *top = wf->def, *name, *initial, *idf;
    char q[64];
    ql_err rc;

    if (top->type != QL_LVAL_TABLE)
        return bad(L,
                   "the file returns %s; it must return the workflow table "
                   "({ name = ..., states = ..., transitions = ... })",
                   top->type == QL_LVAL_NIL ? "nothing" : type_of(top));
    if ((rc = check_keys(L, top, TOP_KEYS, "workflow")) != QL_OK ||
        (rc = get_string(L, top, "name", "workflow", true, &name)) != QL_OK)
        return rc;
    if (!ident_ok(name, false))
        return bad(L,
                   "bad workflow name '%s': use [a-z][a-z0-9_]*, at most %d "
                   "characters",
                   quote(q, sizeof q, name), WF_NAME_MAX);
    wf->name = name->u.string.bytes;
    if ((rc = get_label(L, top, "title", "workflow", wf->name, &wf->title)) !=
            QL_OK ||
        (rc = get_string(L, top, "initial", "workflow", true, &initial)) !=
            QL_OK ||
        (rc = get_string(L, top, "id_format", "workflow", false, &idf)) !=
            QL_OK)
        return rc;
    wf->id_format = DEFAULT_ID_FORMAT;
    if (idf != NULL) {
        if ((rc = check_id_format(L, idf)) != QL_OK)
            return rc;
        wf->id_format = idf->u.string.bytes;
    }
    if ((rc = load_roles(L, top)) != QL_OK ||
        (rc = role_list(L, top, "secret_roles", "workflow", false, &wf->secret,
                        &wf->nsecret)) != QL_OK ||
        (rc = role_list(L, top, "create", "workflow", false, &wf->create,
                        &wf->ncreate)) != QL_OK ||
        (rc = load_fields(L, top)) != QL_OK ||
        (rc = load_states(L, top)) != QL_OK)
        return rc;
    if ((wf->initial = find_state(wf, initial)) == NULL)
        return bad(L, "unknown initial state '%s'",
                   quote(q, sizeof q, initial));
    if ((rc = load_transitions(L, top)) != QL_OK)
        return rc;
    return check_graph(L);
}

/* Makes sure a script error names the file, as Lua nearly always does. */
static ql_err
script_error(const char *chunk, ql_err rc, struct ql_diag *d)
{
    char msg[QL_DIAG_MSG];

    if (d == NULL || rc != QL_ESCRIPT || strstr(d->msg, chunk) != NULL)
        return rc;
    snprintf(msg, sizeof msg, "%s", d->msg);
    return wf_fail(d, rc, "%s: %s", chunk, msg);
}

/* The hex SHA-256 of a source, as ql_workflow_hash gives it. */
static void
source_hash(const char *src, size_t len, char hex[2 * QL_HASH_LEN + 1])
{
    uint8_t h[QL_HASH_LEN];

    ql_hash(ql_profile_default(), h, src != NULL ? src : "", len);
    ql_hex_encode(hex, h, sizeof h);
}

/*
 * ql_workflow_load, ql_workflow_load_lazy and, with want (the registered
 * hash), ql_workflow_load_registered. The source is hashed once either way.
 */
static ql_err
load(const char *chunkname, const char *src, size_t len, bool lazy,
     const char *want, struct ql_workflow **out, struct ql_diag *d)
{
    struct ql_workflow *wf = NULL;
    struct loader L;
    char hex[2 * QL_HASH_LEN + 1];
    ql_err rc;

    if (chunkname == NULL || out == NULL || (src == NULL && len > 0))
        return ql_fail(d, QL_EUSAGE, "no workflow source or result");
    /*
     * A registered version is held to its hash first: what a changed
     * store holds is refused as a change, not compiled, run or judged.
     */
    source_hash(src, len, hex);
    if (want != NULL && strcmp(hex, want) != 0)
        return wf_fail(d, QL_EINTEGRITY,
                       "%s: workflow source does not hash to %s", chunkname,
                       want);
    if (len > QL_WORKFLOW_SOURCE_MAX)
        return wf_fail(d, QL_ETOOBIG,
                       "%s: workflow source is %zu bytes, the limit is %d",
                       chunkname, len, QL_WORKFLOW_SOURCE_MAX);
    if ((wf = calloc(1, sizeof *wf)) == NULL ||
        (wf->chunk = strdup(chunkname)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    memcpy(wf->hash, hex, sizeof wf->hash);
    if ((rc = ql_lua_new(NULL, &wf->lua, d)) != QL_OK)
        goto out;
    rc = lazy ? ql_lua_load_lazy(wf->lua, chunkname, src != NULL ? src : "",
                                 len, &wf->def, d)
              : ql_lua_load(wf->lua, chunkname, src != NULL ? src : "", len,
                            &wf->def, d);
    if (rc != QL_OK) {
        rc = script_error(chunkname, rc, d);
        goto out;
    }
    L.wf = wf;
    L.chunk = chunkname;
    L.d = d;
    if ((rc = load_definition(&L)) != QL_OK)
        goto out;
    *out = wf;
    wf = NULL; /* ownership moved to the caller */
out:
    ql_workflow_free(wf);
    return rc;
}

ql_err
ql_workflow_load(const char *chunkname, const char *src, size_t len,
                 struct ql_workflow **out, struct ql_diag *d)
{
    return load(chunkname, src, len, false, NULL, out, d);
}

ql_err
ql_workflow_load_lazy(const char *chunkname, const char *src, size_t len,
                      struct ql_workflow **out, struct ql_diag *d)
{
    return load(chunkname, src, len, true, NULL, out, d);
}

ql_err
ql_workflow_load_registered(const char *chunkname, const char *src,
                            size_t len, const char *hash,
                            struct ql_workflow **out, struct ql_diag *d)
{
    if (hash == NULL)
        return ql_fail(d, QL_EUSAGE, "no registered workflow hash");
    return load(chunkname, src, len, true, hash, out, d);
}

void
ql_workflow_free(struct ql_workflow *wf)
{
    size_t i;

    if (wf == NULL)
        return;
    for (i = 0; i < wf->nfields; i++)
        free((void *)wf->fields[i].values);
    for (i = 0; i < wf->ntrans; i++) {
        free((void *)wf->trans[i].from);
        free((void *)wf->trans[i].roles);
        free((void *)wf->trans[i].require);
        free((void *)wf->trans[i].distinct_from);
    }
    free(wf->fields);
    free(wf->byname);
    free(wf->lists);
    free(wf->trans);
    free(wf->guards);
    free(wf->roles);
    free(wf->secret);
    free(wf->create);
    /* The tree's function handles die with the state; free both. */
    ql_lval_free(wf->def);
    ql_lua_free(wf->lua);
    free(wf->chunk);
    free(wf->states);
    free(wf);
}

/* ---- Accessors ------------------------------------------------------------
 */

const char *
ql_workflow_name(const struct ql_workflow *wf)
{
    return wf->name;
}

const char *
ql_workflow_title(const struct ql_workflow *wf)
{
    return wf->title;
}

const char *
ql_workflow_hash(const struct ql_workflow *wf)
{
    return wf->hash;
}

const char *
ql_workflow_initial(const struct ql_workflow *wf)
{
    return wf->initial;
}

const char *
ql_workflow_id_format(const struct ql_workflow *wf)
{
    return wf->id_format;
}

size_t
ql_workflow_role_count(const struct ql_workflow *wf)
{
    return wf->nroles;
}

const char *
ql_workflow_role_name(const struct ql_workflow *wf, size_t i)
{
    return i < wf->nroles ? wf->roles[i].name : NULL;
}

const char *
ql_workflow_role_label(const struct ql_workflow *wf, size_t i)
{
    return i < wf->nroles ? wf->roles[i].label : NULL;
}

/* True when role r appears in the comma-separated list roles. */
static bool
role_in(const char *roles, const char *r)
{
    size_t n = strlen(r);
    const char *p = roles;

    while (p != NULL && *p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (len == n && memcmp(p, r, n) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

bool
ql_workflow_may_create(const struct ql_workflow *wf, const char *roles)
{
    size_t i, j;

    if (roles == NULL)
        return false;
    if (wf->ncreate > 0) {
        for (i = 0; i < wf->ncreate; i++)
            if (role_in(roles, wf->create[i]))
                return true;
        return false;
    }
    /* Without a list: whoever may take a transition out of the start. */
    for (i = 0; i < wf->ntrans; i++)
        if (ql_wf_transition_from(&wf->trans[i], wf->initial))
            for (j = 0; j < wf->trans[i].nroles; j++)
                if (role_in(roles, wf->trans[i].roles[j]))
                    return true;
    return false;
}

bool
ql_workflow_secret_reader(const struct ql_workflow *wf, const char *role)
{
    size_t i;

    if (role == NULL)
        return false;
    for (i = 0; i < wf->nsecret; i++)
        if (strcmp(wf->secret[i], role) == 0)
            return true;
    return false;
}

size_t
ql_workflow_field_count(const struct ql_workflow *wf)
{
    return wf->nfields;
}

const struct ql_wf_field *
ql_workflow_field_at(const struct ql_workflow *wf, size_t i)
{
    return i < wf->nfields ? &wf->fields[i] : NULL;
}

const struct ql_wf_field *
ql_workflow_field(const struct ql_workflow *wf, const char *name)
{
    size_t lo = 0, hi, mid;
    int c;

    if (name == NULL || wf->byname == NULL)
        return NULL;
    hi = wf->nfields;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = strcmp(name, wf->byname[mid]->name);
        if (c == 0)
            return wf->byname[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct ql_wf_field *
ql_workflow_field_by_label(const struct ql_workflow *wf,
                           const char *name_or_label)
{
    const struct ql_wf_field *f = ql_workflow_field(wf, name_or_label);
    size_t i;

    if (f != NULL || name_or_label == NULL)
        return f;
    for (i = 0; i < wf->nfields; i++)
        if (strcmp(wf->fields[i].label, name_or_label) == 0)
            return &wf->fields[i];
    return NULL;
}

size_t
ql_workflow_state_count(const struct ql_workflow *wf)
{
    return wf->nstates;
}

const struct ql_wf_state *
ql_workflow_state_at(const struct ql_workflow *wf, size_t i)
{
    return i < wf->nstates ? &wf->states[i] : NULL;
}

const struct ql_wf_state *
ql_workflow_state(const struct ql_workflow *wf, const char *name)
{
    long i = name != NULL ? state_index(wf, name) : -1;

    return i < 0 ? NULL : &wf->states[i];
}

size_t
ql_workflow_transition_count(const struct ql_workflow *wf)
{
    return wf->ntrans;
}

const struct ql_wf_transition *
ql_workflow_transition_at(const struct ql_workflow *wf, size_t i)
{
    return i < wf->ntrans ? &wf->trans[i] : NULL;
}

const struct ql_wf_transition *
ql_workflow_transition(const struct ql_workflow *wf, const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < wf->ntrans; i++)
        if (strcmp(wf->trans[i].name, name) == 0)
            return &wf->trans[i];
    return NULL;
}

bool
ql_wf_transition_from(const struct ql_wf_transition *t, const char *state)
{
    size_t i;

    if (t == NULL || state == NULL)
        return false;
    for (i = 0; i < t->nfrom; i++)
        if (strcmp(t->from[i], state) == 0)
            return true;
    return false;
}

/* ---- Guards ----------------------------------------------------------------
 */

/*
 * The lead and ctx tables a guard gets, made in one array of entries. The
 * guard reads them through argument tables filled on first use
 * (docs/lua-sandbox.md), so a node, an allocation and a sorted insert per
 * field cost more than most guards' own run. Keys and values point at the
 * caller's strings, which outlive the call (only ql_lua_guard reads the
 * trees, and only during the call), a list's lines included: ql_lua reads
 * an argument's strings by their length, so a line needs no NUL of its
 * own. The entries hold no text, only where it is, so they need no wipe
 * and a guard's usual tables fit on the stack. Each table keeps the
 * order struct ql_lval defines: the array part, then string keys
 * bytewise.
 */

/* Entries kept on the stack; a bigger lead (long lists) allocates. */
#define GUARD_STACK_ENTRIES 160
/* Fields sorted on the stack; more allocate. */
#define GUARD_STACK_FIELDS 64

/* v = the len bytes at s, borrowed. */
static void
tree_string(struct ql_lval *v, const char *s, size_t len)
{
    memset(v, 0, sizeof *v);
    v->type = QL_LVAL_STRING;
    v->u.string.bytes = (char *)s; /* only read, during the call */
    v->u.string.len = len;
}

/* v = a table of the n entries at e, the first array_len its array. */
static void
tree_table(struct ql_lval *v, struct ql_lval_entry *e, size_t n,
           size_t array_len)
{
    memset(v, 0, sizeof *v);
    v->type = QL_LVAL_TABLE;
    v->u.table.entries = e;
    v->u.table.count = v->u.table.cap = n;
    v->u.table.array_len = array_len;
}

/* The non-empty lines of s. */
static size_t
count_lines(const char *s)
{
    size_t n = 0, len;

    while (*s != '\0') {
        len = strcspn(s, "\n");
        n += len > 0;
        s += len + (s[len] == '\n');
    }
    return n;
}

/* What the lead table is made of, worked out before its entries exist. */
struct lead_plan {
    size_t *order;      /* in->fields indexes with a value, by name */
    unsigned char *list; /* per order[k]: a list field */
    size_t n, nlines;
    size_t order_s[GUARD_STACK_FIELDS];
    unsigned char list_s[GUARD_STACK_FIELDS];
};

static void
lead_plan_release(struct lead_plan *p)
{
    if (p->order != p->order_s)
        free(p->order);
    if (p->list != p->list_s)
        free(p->list);
}

/*
 * Sorts the fields with a value by name (of a name given twice, the
 * later), marks the list fields and counts their lines.
 */
static ql_err
lead_plan(const struct ql_workflow *wf, const struct ql_wf_guard_input *in,
          struct lead_plan *p, struct ql_diag *d)
{
    size_t i, j, k, m;
    int c;

    p->order = p->order_s;
    p->list = p->list_s;
    p->n = p->nlines = 0;
    for (i = 0; i < in->nfields; i++)
        if (in->fields[i].name == NULL)
            return ql_fail(d, QL_EUSAGE, "guard input field %zu has no name",
                           i + 1);
    if (in->nfields > GUARD_STACK_FIELDS &&
        ((p->order = malloc(in->nfields * sizeof *p->order)) == NULL ||
         (p->list = malloc(in->nfields)) == NULL)) {
        if (p->order == NULL)
            p->order = p->order_s;
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    /* Insertion: callers pass runs already in order, so this is short. */
    for (i = 0; i < in->nfields; i++) {
        const char *name = in->fields[i].name;

        if (in->fields[i].value == NULL)
            continue;
        c = 1;
        for (j = p->n; j > 0; j--)
            if ((c = strcmp(in->fields[p->order[j - 1]].name, name)) <= 0)
                break;
        if (j > 0 && c == 0) {
            p->order[j - 1] = i;
            continue;
        }
        memmove(&p->order[j + 1], &p->order[j],
                (p->n - j) * sizeof *p->order);
        p->order[j] = i;
        p->n++;
    }
    /* Both sorted: one merge finds the lists, instead of a search each. */
    for (k = 0, m = 0; k < p->n; k++) {
        const char *name = in->fields[p->order[k]].name;

        c = 1;
        while (m < wf->nlists && (c = strcmp(wf->lists[m], name)) < 0)
            m++;
        p->list[k] = m < wf->nlists && c == 0;
        if (p->list[k])
            p->nlines += count_lines(in->fields[p->order[k]].value);
    }
    return QL_OK;
}

/*
 * The lead table in e (4 + p->n + p->nlines entries): id, state, unit,
 * fields (lists as arrays of lines).
 */
static void
lead_table(const struct ql_wf_guard_input *in, const struct lead_plan *p,
           struct ql_lval_entry *e, struct ql_lval *out)
{
    struct ql_lval_entry *top = e, *fe = e + 4, *le = e + 4 + p->n;
    size_t j, k;

    for (k = 0; k < p->n; k++) {
        const char *name = in->fields[p->order[k]].name;
        const char *v = in->fields[p->order[k]].value;
        size_t len, m = 0;

        tree_string(&fe[k].key, name, strlen(name));
        if (!p->list[k]) {
            tree_string(&fe[k].value, v, strlen(v));
            continue;
        }
        while (*v != '\0') {
            len = strcspn(v, "\n");
            if (len > 0) {
                memset(&le[m].key, 0, sizeof le[m].key);
                le[m].key.type = QL_LVAL_INTEGER;
                le[m].key.u.integer = (int64_t)m + 1;
                tree_string(&le[m].value, v, len);
                m++;
            }
            v += len + (v[len] == '\n');
        }
        tree_table(&fe[k].value, le, m, m);
        le += m;
    }
    /* "fields" < "id" < "state" < "unit", bytewise; NULL ones are nil. */
    j = 0;
    tree_string(&top[j].key, "fields", 6);
    tree_table(&top[j++].value, fe, p->n, 0);
    if (in->lead_id != NULL) {
        tree_string(&top[j].key, "id", 2);
        tree_string(&top[j++].value, in->lead_id, strlen(in->lead_id));
    }
    if (in->state != NULL) {
        tree_string(&top[j].key, "state", 5);
        tree_string(&top[j++].value, in->state, strlen(in->state));
    }
    if (in->unit != NULL) {
        tree_string(&top[j].key, "unit", 4);
        tree_string(&top[j++].value, in->unit, strlen(in->unit));
    }
    tree_table(out, top, j, 0);
}

/*
 * The ctx table in e (7 + in->nroles entries): who acts, when, and which
 * transition.
 */
static void
ctx_table(const struct ql_wf_transition *t, const struct ql_wf_guard_input *in,
          struct ql_lval_entry *e, struct ql_lval *out)
{
    /* Bytewise order, a prefix first; a NULL value is nil. */
    static const char *const key[7] = {"actor", "actor_unit", "now",
                                       "roles", "to",         "today",
                                       "transition"};
    static const size_t klen[7] = {5, 10, 3, 5, 2, 5, 10};
    const char *const val[7] = {in->actor, in->actor_unit, in->now, NULL,
                                t->to,     in->today,      t->name};
    struct ql_lval_entry *top = e, *re = e + 7;
    size_t i, j = 0, m = 0;

    for (i = 0; i < in->nroles; i++) {
        if (in->roles[i] == NULL)
            continue;
        memset(&re[m].key, 0, sizeof re[m].key);
        re[m].key.type = QL_LVAL_INTEGER;
        re[m].key.u.integer = (int64_t)m + 1;
        tree_string(&re[m].value, in->roles[i], strlen(in->roles[i]));
        m++;
    }
    for (i = 0; i < 7; i++) {
        if (i == 3) {
            tree_string(&top[j].key, key[i], klen[i]);
            tree_table(&top[j++].value, re, m, m);
        } else if (val[i] != NULL) {
            tree_string(&top[j].key, key[i], klen[i]);
            tree_string(&top[j++].value, val[i], strlen(val[i]));
        }
    }
    tree_table(out, top, j, 0);
}

/* Copies a guard's reason for a person to read: one safe line. */
static void
copy_reason(char *reason, size_t size, const char *r, const char *tname)
{
    char dflt[WF_NAME_MAX + 40];

    if (reason == NULL || size == 0)
        return;
    if (r == NULL || r[0] == '\0') {
        snprintf(dflt, sizeof dflt, "refused by the guard of '%s'", tname);
        r = dflt;
    }
    if (size < 8) {
        reason[0] = '\0';
        return;
    }
    wf_quote(reason, size, r, strlen(r), size - 4);
}

ql_err
ql_workflow_guard(struct ql_workflow *wf, const struct ql_wf_transition *t,
                  const struct ql_wf_guard_input *in, bool *ok, char *reason,
                  size_t reason_size, struct ql_diag *d)
{
    static const char *const names[2] = {"lead", "ctx"};
    struct ql_lval_entry stack[GUARD_STACK_ENTRIES], *e = stack;
    struct ql_lval lead, ctx;
    struct lead_plan plan;
    const struct ql_lval *args[2];
    char *why = NULL, msg[QL_DIAG_MSG];
    bool allowed = false;
    size_t idx, nlead, nctx;
    ql_err rc;

    if (wf == NULL || t == NULL || in == NULL || ok == NULL)
        return ql_fail(d, QL_EUSAGE, "no workflow, transition or answer");
    for (idx = 0; idx < wf->ntrans; idx++)
        if (&wf->trans[idx] == t)
            break;
    if (idx == wf->ntrans)
        return ql_fail(d, QL_EUSAGE,
                       "transition '%s' is not one of workflow '%s'",
                       t->name != NULL ? t->name : "?", wf->name);
    if (wf->guards[idx] == NULL) {
        *ok = true;
        if (reason != NULL && reason_size > 0)
            reason[0] = '\0';
        return QL_OK;
    }
    if ((rc = lead_plan(wf, in, &plan, d)) != QL_OK)
        goto out;
    nlead = 4 + plan.n + plan.nlines;
    nctx = 7 + in->nroles;
    if (nlead + nctx > GUARD_STACK_ENTRIES &&
        (in->nroles > SIZE_MAX / sizeof *e - nlead - 7 ||
         (e = malloc((nlead + nctx) * sizeof *e)) == NULL)) {
        e = stack;
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    lead_table(in, &plan, e, &lead);
    ctx_table(t, in, e + nlead, &ctx);
    args[0] = &lead;
    args[1] = &ctx;
    rc = ql_lua_guard(wf->lua, wf->guards[idx], args, names, 2, &allowed, &why,
                      d);
    if (rc == QL_ESCRIPT && d != NULL) {
        /* Say which transition's guard failed, and make sure of the file. */
        snprintf(msg, sizeof msg, "%s", d->msg);
        if (strstr(msg, wf->chunk) != NULL)
            rc = wf_fail(d, rc, "%s (guard of '%s')", msg, t->name);
        else
            rc = wf_fail(d, rc, "%s: guard of '%s': %s", wf->chunk, t->name,
                         msg);
    }
    if (rc != QL_OK)
        goto out;
    *ok = allowed;
    if (allowed) {
        if (reason != NULL && reason_size > 0)
            reason[0] = '\0';
    } else {
        copy_reason(reason, reason_size, why, t->name);
    }
out:
    free(why);
    if (e != stack)
        free(e);
    lead_plan_release(&plan);
    return rc;
}
