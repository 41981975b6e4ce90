/*
 * The verifier's table of leads (ql_audit_leads.h): a flat array of
 * 28-byte records, an arena of ids, an open-addressing index over the ids
 * and a few side records. Nothing is allocated per lead, so the memory of
 * n leads is about n * (28 + id + 1 + 4..8) bytes plus the slack of the
 * arrays' doubling, which the kernel does not back until it is touched.
 */
#include "ql_audit_leads.h"

#include <stdlib.h>
#include <string.h>

/* The index starts at this many slots and doubles past half full. */
#define INDEX_MIN 1024u
#define NO_LEAD 0u /* an empty index slot; slots hold 1 + a lead's number */

/* The high half of the last entry's index below its top byte of flags. */
#define FLAGS_SHIFT 24
#define LAST_HI_MASK ((UINT32_C(1) << FLAGS_SHIFT) - 1)

struct audit_leads {
    struct audit_lead *recs;
    size_t n, cap;

    char *ids; /* NUL-terminated ids, back to back */
    size_t ids_len, ids_cap;

    uint32_t *index; /* 1 + a lead's number, or NO_LEAD */
    size_t index_cap;

    struct audit_lead_side *sides;
    size_t nsides, capsides;
    uint32_t *spare; /* side records free for reuse */
    size_t nspare, capspare;
};

/* FNV-1a: the ids are short, and only this process sees the table. */
static uint64_t
id_hash(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* Doubles *arr (of elem-byte elements) until it holds need of them. */
static ql_err
reserve(void **arr, size_t *cap, size_t need, size_t elem, size_t first,
        struct ql_diag *d)
{
    size_t c = *cap ? *cap : first;
    void *p;

    if (need <= *cap)
        return QL_OK;
    while (c < need)
        c *= 2;
    if (c > SIZE_MAX / elem || (p = realloc(*arr, c * elem)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    *arr = p;
    *cap = c;
    return QL_OK;
}

ql_err
audit_leads_new(struct audit_leads **out, struct ql_diag *d)
{
    struct audit_leads *t = calloc(1, sizeof *t);

    if (t == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    *out = t;
    return QL_OK;
}

void
audit_leads_free(struct audit_leads *t)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < t->nsides; i++)
        free(t->sides[i].took);
    free(t->recs);
    free(t->ids);
    free(t->index);
    free(t->sides);
    free(t->spare);
    free(t);
}

uint64_t
audit_leads_count(const struct audit_leads *t)
{
    return t->n;
}

const char *
audit_leads_id(const struct audit_leads *t, uint32_t at)
{
    return t->ids + t->recs[at].id;
}

struct audit_lead *
audit_leads_at(struct audit_leads *t, uint32_t at)
{
    return &t->recs[at];
}

bool
audit_leads_find(const struct audit_leads *t, const char *id, uint32_t *at)
{
    size_t mask, i;

    if (t->index_cap == 0)
        return false;
    mask = t->index_cap - 1;
    for (i = id_hash(id) & mask; t->index[i] != NO_LEAD; i = (i + 1) & mask)
        if (strcmp(t->ids + t->recs[t->index[i] - 1].id, id) == 0) {
            *at = t->index[i] - 1;
            return true;
        }
    return false;
}

/* Puts lead at into an index of cap slots (a power of two, with room). */
static void
index_put(uint32_t *index, size_t cap, const char *id, uint32_t at)
{
    size_t mask = cap - 1, i;

    for (i = id_hash(id) & mask; index[i] != NO_LEAD; i = (i + 1) & mask)
        ;
    index[i] = at + 1;
}

/* Keeps the index at most half full, so a probe ends soon. */
static ql_err
index_grow(struct audit_leads *t, struct ql_diag *d)
{
    size_t cap, i;
    uint32_t *p;

    if ((t->n + 1) * 2 <= t->index_cap)
        return QL_OK;
    cap = t->index_cap ? t->index_cap * 2 : INDEX_MIN;
    if (cap > SIZE_MAX / sizeof *p || (p = calloc(cap, sizeof *p)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    for (i = 0; i < t->n; i++)
        index_put(p, cap, t->ids + t->recs[i].id, (uint32_t)i);
    free(t->index);
    t->index = p;
    t->index_cap = cap;
    return QL_OK;
}

ql_err
audit_leads_add(struct audit_leads *t, const char *id,
                const struct audit_lead *rec, uint32_t *at, struct ql_diag *d)
{
    size_t len = strlen(id) + 1;
    struct audit_lead *l;
    ql_err rc;

    /* Numbers and offsets are 32 bits; index slots hold number + 1. */
    if (t->n >= UINT32_MAX - 1 || t->ids_len + len > UINT32_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "the verifier follows at most %lu "
                       "leads",
                       (unsigned long)t->n);
    if ((rc = reserve((void **)&t->recs, &t->cap, t->n + 1, sizeof *t->recs,
                      INDEX_MIN / 2, d)) != QL_OK ||
        (rc = reserve((void **)&t->ids, &t->ids_cap, t->ids_len + len, 1,
                      16 * (size_t)INDEX_MIN, d)) != QL_OK ||
        (rc = index_grow(t, d)) != QL_OK)
        return rc;
    memcpy(t->ids + t->ids_len, id, len);
    l = &t->recs[t->n];
    *l = *rec;
    l->id = (uint32_t)t->ids_len;
    l->side = 0;
    t->ids_len += len;
    index_put(t->index, t->index_cap, id, (uint32_t)t->n);
    *at = (uint32_t)t->n++;
    return QL_OK;
}

struct audit_lead_side *
audit_leads_side(struct audit_leads *t, uint32_t at)
{
    uint32_t s = t->recs[at].side;

    return s != 0 ? &t->sides[s - 1] : NULL;
}

ql_err
audit_leads_side_get(struct audit_leads *t, uint32_t at,
                     struct audit_lead_side **out, struct ql_diag *d)
{
    struct audit_lead *l = &t->recs[at];
    uint32_t s;
    ql_err rc;

    if (l->side == 0) {
        if (t->nspare > 0) {
            s = t->spare[--t->nspare];
        } else {
            if (t->nsides >= UINT32_MAX - 1)
                return ql_fail(d, QL_ETOOBIG,
                               "too many leads wait for "
                               "approval");
            if ((rc = reserve((void **)&t->sides, &t->capsides, t->nsides + 1,
                              sizeof *t->sides, 64, d)) != QL_OK)
                return rc;
            s = (uint32_t)t->nsides++;
        }
        memset(&t->sides[s], 0, sizeof t->sides[s]);
        l->side = s + 1;
    }
    *out = &t->sides[l->side - 1];
    return QL_OK;
}

ql_err
audit_leads_took_add(struct audit_leads *t, uint32_t at, const char *transition,
                     uint32_t who, struct ql_diag *d)
{
    struct audit_lead_side *x = audit_leads_side(t, at);
    struct audit_took *p;
    uint32_t i;
    ql_err rc;

    if (x != NULL)
        for (i = 0; i < x->ntook; i++)
            if (x->took[i].who == who &&
                strcmp(x->took[i].transition, transition) == 0)
                return QL_OK;
    if ((rc = audit_leads_side_get(t, at, &x, d)) != QL_OK)
        return rc;
    if ((p = realloc(x->took, ((size_t)x->ntook + 1) * sizeof *p)) == NULL) {
        audit_leads_side_trim(t, at);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    x->took = p;
    p[x->ntook].transition = transition;
    p[x->ntook].who = who;
    x->ntook++;
    return QL_OK;
}

void
audit_leads_side_trim(struct audit_leads *t, uint32_t at)
{
    struct audit_lead *l = &t->recs[at];
    struct audit_lead_side *x = audit_leads_side(t, at);
    uint32_t *p;

    if (x == NULL || x->pending_t != NULL || x->ntook > 0 || x->master != 0)
        return;
    /* The spare list never outgrows the side records, so keep the slot
       in use when even that small array cannot grow. */
    if (t->nspare == t->capspare) {
        size_t cap = t->capspare ? t->capspare * 2 : 64;

        if ((p = realloc(t->spare, cap * sizeof *p)) == NULL)
            return;
        t->spare = p;
        t->capspare = cap;
    }
    free(x->took);
    memset(x, 0, sizeof *x);
    t->spare[t->nspare++] = l->side - 1;
    l->side = 0;
}

uint64_t
audit_leads_sides(const struct audit_leads *t)
{
    return t->nsides - t->nspare;
}

uint64_t
audit_leads_bytes(const struct audit_leads *t)
{
    uint64_t b = sizeof *t;
    size_t i;

    b += t->cap * sizeof *t->recs + t->ids_cap +
         t->index_cap * sizeof *t->index + t->capsides * sizeof *t->sides +
         t->capspare * sizeof *t->spare;
    for (i = 0; i < t->nsides; i++)
        b += t->sides[i].ntook * sizeof(struct audit_took);
    return b;
}

uint64_t
audit_lead_last(const struct audit_lead *l)
{
    return (uint64_t)(l->last_hi & LAST_HI_MASK) << 32 | l->last_lo;
}

void
audit_lead_set_last(struct audit_lead *l, uint64_t index)
{
    l->last_lo = (uint32_t)index;
    l->last_hi = (l->last_hi & ~LAST_HI_MASK) |
                 ((uint32_t)(index >> 32) & LAST_HI_MASK);
}

unsigned
audit_lead_flags(const struct audit_lead *l)
{
    return l->last_hi >> FLAGS_SHIFT;
}

void
audit_lead_set_flag(struct audit_lead *l, unsigned flag, bool on)
{
    uint32_t bit = (uint32_t)(flag & 0xffu) << FLAGS_SHIFT;

    l->last_hi = on ? l->last_hi | bit : l->last_hi & ~bit;
}

static int
id_cmp(const struct audit_leads *t, uint32_t a, uint32_t b)
{
    return strcmp(t->ids + t->recs[a].id, t->ids + t->recs[b].id);
}

/* Moves at[i] down the heap of n until its children are not above it. */
static void
sift_down(const struct audit_leads *t, uint32_t *at, size_t i, size_t n)
{
    for (;;) {
        size_t big = i, l = 2 * i + 1, r = 2 * i + 2;
        uint32_t x;

        if (l < n && id_cmp(t, at[l], at[big]) > 0)
            big = l;
        if (r < n && id_cmp(t, at[r], at[big]) > 0)
            big = r;
        if (big == i)
            return;
        x = at[i];
        at[i] = at[big];
        at[big] = x;
        i = big;
    }
}

/*
 * A heap sort: qsort cannot reach the arena without a global, and a
 * scope may hold most of the county's leads, so no copy is made either.
 */
void
audit_leads_sort(const struct audit_leads *t, uint32_t *at, size_t n)
{
    size_t i;
    uint32_t x;

    if (n < 2)
        return;
    for (i = n / 2; i-- > 0;)
        sift_down(t, at, i, n);
    for (i = n - 1; i > 0; i--) {
        x = at[0];
        at[0] = at[i];
        at[i] = x;
        sift_down(t, at, 0, i);
    }
}
