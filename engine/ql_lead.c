/* Leads: registration, transitions, approvals, reading (ql_lead.h). */
#include "ql_lead.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_codec.h"
#include "ql_county_impl.h"
#include "ql_keys.h"
#include "ql_log.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_seal.h"
#include "ql_status.h"
#include "ql_store.h"
#include "ql_workflow.h"

/* The key scope of sealed envelopes (secret fields); no unit may take it. */
#define SECRET_SCOPE QL_SECRET_SCOPE

/* ---- a small owned list of name/value pairs ---- */

/*
 * Each pair is one allocation: the value, its terminator, then the name,
 * so that the value pointer owns both. A write sets and frees more than
 * a dozen pairs, and a second allocation for each name was a tenth of
 * that work.
 */
struct kvs {
    struct ql_wf_kv *v;
    size_t n;
    size_t cap; /* entries v has room for */
};

static void
kvs_free(struct kvs *l)
{
    size_t i;

    /*
     * Values are lead content: wiped in a way no compiler removes. The
     * value's block holds the name too.
     */
    for (i = 0; i < l->n; i++)
        if (l->v[i].value != NULL)
            ql_datakey_plain_free((uint8_t *)l->v[i].value,
                                  strlen(l->v[i].value));
    free(l->v);
    l->v = NULL;
    l->n = 0;
    l->cap = 0;
}

static const char *
kvs_get(const struct kvs *l, const char *name)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return l->v[i].value;
    return NULL;
}

/* Sets name to value (copied), replacing an earlier value. */
static ql_err
kvs_set(struct kvs *l, const char *name, const char *value, size_t vlen,
        struct ql_diag *d)
{
    struct ql_wf_kv *grown;
    size_t nlen = strlen(name), i;
    char *v = malloc(vlen + 1 + nlen + 1), *old;

    if (v == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    memcpy(v, value, vlen);
    v[vlen] = '\0';
    memcpy(v + vlen + 1, name, nlen + 1);
    for (i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].name, name) == 0) {
            /* The value replaced is lead content too: wiped. */
            old = (char *)l->v[i].value;
            l->v[i].name = v + vlen + 1;
            l->v[i].value = v;
            ql_datakey_plain_free((uint8_t *)old, strlen(old));
            return QL_OK;
        }
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;

        if ((grown = realloc(l->v, cap * sizeof *grown)) == NULL) {
            ql_datakey_plain_free((uint8_t *)v, vlen);
            return ql_fail(d, QL_ENOMEM, NULL);
        }
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n].name = v + vlen + 1;
    l->v[l->n].value = v;
    l->n++;
    return QL_OK;
}

/* Bytes kvs_encode_into writes for l. */
static size_t
kvs_encoded_len(const struct kvs *l)
{
    size_t n = 0, i;
    const char *p;

    for (i = 0; i < l->n; i++) {
        n += strlen(l->v[i].name) + 2;
        for (p = l->v[i].value; *p != '\0'; p++)
            n += *p == '\\' || *p == '\n' ? 2 : 1;
    }
    return n;
}

/* Writes l's encoding into buf, which has kvs_encoded_len(l) bytes. */
static size_t
kvs_encode_into(const struct kvs *l, uint8_t *buf)
{
    size_t i, at = 0;
    const char *p;

    for (i = 0; i < l->n; i++) {
        size_t n = strlen(l->v[i].name);

        memcpy(buf + at, l->v[i].name, n);
        at += n;
        buf[at++] = '=';
        for (p = l->v[i].value; *p != '\0'; p++) {
            if (*p == '\\' || *p == '\n') {
                buf[at++] = '\\';
                buf[at++] = *p == '\n' ? 'n' : '\\';
            } else {
                buf[at++] = (uint8_t)*p;
            }
        }
        buf[at++] = '\n';
    }
    return at;
}

/*
 * The plaintext of a sealed payload: "name=value\n" lines, with '\\' and
 * newline in values escaped as "\\\\" and "\\n". Names starting with '_'
 * are the engine's (the note is "_note").
 */
static ql_err
kvs_encode(const struct kvs *l, uint8_t **out, size_t *len, struct ql_diag *d)
{
    uint8_t *buf;

    /* One byte more, so that an empty list is not a zero-byte malloc. */
    if ((buf = malloc(kvs_encoded_len(l) + 1)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    *len = kvs_encode_into(l, buf);
    *out = buf;
    return QL_OK;
}

static ql_err
kvs_decode(const uint8_t *buf, size_t len, struct kvs *l, struct ql_diag *d)
{
    const char *s = (const char *)buf, *end = s + len;
    char name[QL_ENTRY_WORD_MAX + 1];
    ql_err rc = QL_OK;

    while (s < end && rc == QL_OK) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *eq = nl ? memchr(s, '=', (size_t)(nl - s)) : NULL;
        char *v;
        size_t vn = 0;
        const char *p;

        if (nl == NULL || eq == NULL || eq == s ||
            (size_t)(eq - s) > QL_ENTRY_WORD_MAX)
            return ql_fail(d, QL_EINTEGRITY, "sealed fields are malformed");
        memcpy(name, s, (size_t)(eq - s));
        name[eq - s] = '\0';
        if ((v = malloc((size_t)(nl - eq))) == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        for (p = eq + 1; p < nl; p++) {
            if (*p == '\\' && p + 1 < nl) {
                p++;
                v[vn++] = *p == 'n' ? '\n' : *p;
            } else {
                v[vn++] = *p;
            }
        }
        rc = kvs_set(l, name, v, vn, d);
        ql_datakey_plain_free((uint8_t *)v, (size_t)(nl - eq));
        s = nl + 1;
    }
    return rc;
}

/* Removes the engine's own names ("_note") from a field list. */
static void
drop_engine_names(struct kvs *l)
{
    size_t i, j = 0;

    for (i = 0; i < l->n; i++) {
        if (l->v[i].name[0] == '_') {
            /* A note is sealed content like any field: wiped (and its
               name, which shares the value's block, freed with it). */
            ql_datakey_plain_free((uint8_t *)l->v[i].value,
                                  strlen(l->v[i].value));
            continue;
        }
        l->v[j++] = l->v[i];
    }
    l->n = j;
}

/* ---- the lead's clear metadata ---- */

struct meta {
    char id[QL_ENTRY_WORD_MAX + 1];
    char unit[QL_ENTRY_WORD_MAX + 1];
    char workflow[65];
    char state[QL_ENTRY_WORD_MAX + 1];
    char registered[16];
    char due[16];
    int64_t epoch;
    uint64_t snapshot_idx;
    uint64_t last_idx; /* the lead's last entry but proposals */
    bool pending;
    uint64_t pending_idx;
    char pending_transition[QL_ENTRY_WORD_MAX + 1];
    char proposer[QL_KEY_NAME_MAX + 1];
};

/*
 * Writes v in decimal into buf of size bytes, at least width digits
 * (zero-padded), and returns its length, or 0 when it does not fit. The
 * write path formats a handful of numbers an entry; snprintf's format
 * parsing cost more than the rest of the work on them.
 */
static size_t
put_u64(char *buf, size_t size, uint64_t v, int width)
{
    char tmp[24];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n < sizeof tmp && width > 0 && n < (size_t)width)
        tmp[n++] = '0';
    if (n >= size)
        return 0;
    for (i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

/* put_u64 for a signed number. */
static size_t
put_i64(char *buf, size_t size, int64_t v)
{
    size_t n;

    if (v >= 0)
        return put_u64(buf, size, (uint64_t)v, 0);
    if (size < 2)
        return 0;
    buf[0] = '-';
    /* -(v + 1) + 1 stays in range for INT64_MIN. */
    n = put_u64(buf + 1, size - 1, (uint64_t)(-(v + 1)) + 1, 0);
    return n == 0 ? 0 : n + 1;
}

/* Appends src at *at in buf of size bytes, cut short if it must be. */
static void
put_text(char *buf, size_t size, size_t *at, const char *src)
{
    size_t n = strlen(src);

    if (*at >= size)
        return;
    if (n >= size - *at)
        n = size - *at - 1;
    memcpy(buf + *at, src, n);
    *at += n;
    buf[*at] = '\0';
}

static bool meta_cached(struct ql_county *c, const char *id, struct meta *m);
static void meta_keep(struct ql_county *c, const struct meta *m);
static ql_err flush_lead(struct ql_county *c, const char *id,
                         struct ql_diag *d);
static ql_err flush_entries(struct ql_county *c, struct ql_diag *d);
static ql_err flush_for_read(struct ql_county *c, const char *id,
                             struct ql_diag *d);
static bool counter_kept(struct ql_county *c, const char *prefix,
                         int64_t *value);
static void counter_learn(struct ql_county *c, const char *prefix,
                          int64_t value);
static bool counter_bump(struct ql_county *c, const char *prefix,
                         int64_t value);

/* The lead's row in leads and pending, as the store has it. */
static ql_err
meta_read(struct ql_county *c, const char *id, struct meta *m,
          struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT l.unit, l.workflow, l.state, l.registered, "
        "COALESCE(l.due, ''), l.epoch, l.snapshot_idx, p.idx, p.transition, "
        "p.proposer, l.last_idx FROM leads l "
        "LEFT JOIN pending p ON p.lead = l.id "
        "WHERE l.id = ?1";
    struct ql_stmt *st = NULL;
    bool row = false;
    ql_err rc;

    memset(m, 0, sizeof *m);
    if (!ql_entry_word_valid(id))
        return ql_fail(d, QL_ENOTFOUND, "no lead '%s'", id);
    if ((rc = flush_for_read(c, id, d)) != QL_OK ||
        (rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, id, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (!row) {
        rc = ql_fail(d, QL_ENOTFOUND, "no lead '%s'", id);
        goto out;
    }
    county_copy_text(m->id, sizeof m->id, id);
    county_copy_text(m->unit, sizeof m->unit, ql_stmt_text(st, 0));
    county_copy_text(m->workflow, sizeof m->workflow, ql_stmt_text(st, 1));
    county_copy_text(m->state, sizeof m->state, ql_stmt_text(st, 2));
    county_copy_text(m->registered, sizeof m->registered, ql_stmt_text(st, 3));
    county_copy_text(m->due, sizeof m->due, ql_stmt_text(st, 4));
    m->epoch = ql_stmt_int(st, 5);
    m->snapshot_idx = (uint64_t)ql_stmt_int(st, 6);
    m->last_idx = (uint64_t)ql_stmt_int(st, 10);
    m->pending = !ql_stmt_null(st, 7);
    if (m->pending) {
        m->pending_idx = (uint64_t)ql_stmt_int(st, 7);
        county_copy_text(m->pending_transition, sizeof m->pending_transition,
                         ql_stmt_text(st, 8));
        county_copy_text(m->proposer, sizeof m->proposer, ql_stmt_text(st, 9));
    }
out:
    ql_stmt_done(st);
    return rc;
}

/*
 * The lead's row in leads and pending. Inside a batch, once read or
 * written, it is kept with the lead's memo and kept current by every entry
 * applied to the lead (meta_apply), so later writes skip the query.
 */
static ql_err
load_meta(struct ql_county *c, const char *id, struct meta *m,
          struct ql_diag *d)
{
    ql_err rc;

    if (meta_cached(c, id, m))
        return QL_OK;
    if ((rc = meta_read(c, id, m, d)) == QL_OK)
        meta_keep(c, m);
    return rc;
}

/* The lead's current clear field values. */
static ql_err
load_clear(struct ql_county *c, const char *id, struct kvs *out,
           struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT name, value FROM lead_clear WHERE lead = ?1 ORDER BY name";
    struct ql_stmt *st = NULL;
    bool row = false;
    ql_err rc;

    if ((rc = flush_for_read(c, id, d)) != QL_OK ||
        (rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, id, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        const char *v = ql_stmt_text(st, 1);

        if ((rc = kvs_set(out, ql_stmt_text(st, 0), v, strlen(v), d)) !=
            QL_OK)
            break;
    }
out:
    ql_stmt_done(st);
    return rc;
}

/* ---- payloads ---- */

/* Additional data binding a payload part to its log, lead and index. */
static void
payload_ad(struct ql_county *c, const char *lead, uint64_t idx,
           const char *part, char *buf, size_t size)
{
    char num[24];
    size_t at = 0;

    /* "qingling-payload/1\n<origin>\n<lead>\n<idx>\n<part>" */
    buf[0] = '\0';
    put_u64(num, sizeof num, idx, 0);
    put_text(buf, size, &at, "qingling-payload/1\n");
    put_text(buf, size, &at, ql_county_origin(c));
    put_text(buf, size, &at, "\n");
    put_text(buf, size, &at, lead);
    put_text(buf, size, &at, "\n");
    put_text(buf, size, &at, num);
    put_text(buf, size, &at, "\n");
    put_text(buf, size, &at, part);
}

/*
 * A lead payload holds up to two ciphertexts: the sealed fields under the
 * unit's key, and the secret fields under the envelope key. Each is
 * preceded by its length (4 bytes, big-endian); an absent part has length
 * zero.
 */
static ql_err
payload_pack(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
             uint8_t **out, size_t *len, struct ql_diag *d)
{
    uint8_t *p = malloc(8 + alen + blen);
    size_t at = 0;

    if (p == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    p[at++] = (uint8_t)(alen >> 24);
    p[at++] = (uint8_t)(alen >> 16);
    p[at++] = (uint8_t)(alen >> 8);
    p[at++] = (uint8_t)alen;
    if (alen)
        memcpy(p + at, a, alen);
    at += alen;
    p[at++] = (uint8_t)(blen >> 24);
    p[at++] = (uint8_t)(blen >> 16);
    p[at++] = (uint8_t)(blen >> 8);
    p[at++] = (uint8_t)blen;
    if (blen)
        memcpy(p + at, b, blen);
    at += blen;
    *out = p;
    *len = at;
    return QL_OK;
}

static ql_err
payload_part(const uint8_t *p, size_t len, int which, const uint8_t **part,
             size_t *plen, struct ql_diag *d)
{
    size_t at = 0, n = 0;
    int i;

    for (i = 0; i <= which; i++) {
        if (at + 4 > len)
            return ql_fail(d, QL_EINTEGRITY, "lead payload is malformed");
        n = (size_t)p[at] << 24 | (size_t)p[at + 1] << 16 |
            (size_t)p[at + 2] << 8 | p[at + 3];
        at += 4;
        if (n > len - at)
            return ql_fail(d, QL_EINTEGRITY, "lead payload is malformed");
        if (i < which)
            at += n;
    }
    *part = p + at;
    *plen = n;
    return QL_OK;
}

/* Decrypts one part of entry e's payload into l (merging). */
static ql_err
open_part(struct ql_county *c, const struct ql_entry *e, int which,
          const char *scope, int64_t epoch, struct kvs *l, struct ql_diag *d)
{
    const struct ql_datakey *k = NULL;
    const uint8_t *ct = NULL;
    uint8_t *plain = NULL;
    size_t ctlen = 0, plen = 0;
    char ad[512];
    ql_err rc;

    if (e->payload_len == 0)
        return QL_OK;
    if ((rc = payload_part(e->payload, e->payload_len, which, &ct, &ctlen,
                           d)) != QL_OK)
        return rc;
    if (ctlen == 0)
        return QL_OK;
    if ((rc = county_read_key(c, scope, epoch, &k, d)) != QL_OK)
        return rc;
    payload_ad(c, e->lead, e->index, which == 0 ? "sealed" : "secret", ad,
               sizeof ad);
    if ((rc = ql_datakey_decrypt(k, ct, ctlen, (const uint8_t *)ad,
                                 strlen(ad), &plain, &plen, d)) != QL_OK)
        return rc;
    rc = kvs_decode(plain, plen, l, d);
    ql_datakey_plain_free(plain, plen);
    return rc;
}

static int64_t
clear_int(const struct ql_entry *e, const char *name)
{
    const char *v = ql_entry_get_clear(e, name);

    return v != NULL ? strtoll(v, NULL, 10) : 0;
}

/* Envelope epochs a lead's entries were sealed under, in log order. */
struct epochs {
    int64_t *v;
    size_t n;
};

/* Adds epoch to l unless it is there. */
static ql_err
epochs_add(struct epochs *l, int64_t epoch, struct ql_diag *d)
{
    int64_t *grown;
    size_t i;

    for (i = 0; i < l->n; i++)
        if (l->v[i] == epoch)
            return QL_OK;
    if ((grown = realloc(l->v, (l->n + 1) * sizeof *grown)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    l->v = grown;
    l->v[l->n++] = epoch;
    return QL_OK;
}

/*
 * The lead's sealed (and, for secret readers, secret) fields: the last
 * snapshot, then every later change, in log order. *readable is false when
 * the actor holds no key for them; the content is then left empty. When
 * secret_all is not NULL it says whether secret holds the whole envelope,
 * and sepochs gets the envelope epochs of the lead's entries.
 */
static ql_err
load_content(struct ql_county *c, const struct meta *m, bool want_secret,
             struct kvs *sealed, struct kvs *secret, bool *readable,
             size_t *since, bool *secret_all, struct epochs *sepochs,
             struct ql_diag *d)
{
    /*
     * Sealed fields restart at the last snapshot; the envelope has a key
     * of its own that no unit change touches, so it is read from the
     * start.
     */
    static const char SQL[] =
        "SELECT idx FROM lead_entries WHERE lead = ?1 AND (idx >= ?2 OR ?3) "
        "AND action IN ('lead.add', 'lead.move', 'lead.approve') "
        "ORDER BY idx";
    struct ql_stmt *st = NULL;
    uint64_t *idxs = NULL, *grown;
    size_t n = 0, i;
    bool row = false;
    ql_err rc;

    *readable = true;
    if ((rc = flush_for_read(c, NULL, d)) != QL_OK ||
        (rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, m->id, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 2, (int64_t)m->snapshot_idx, d)) !=
            QL_OK ||
        (rc = ql_stmt_bind_int(st, 3, want_secret, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        if ((grown = realloc(idxs, (n + 1) * sizeof *grown)) == NULL) {
            rc = ql_fail(d, QL_ENOMEM, NULL);
            goto out;
        }
        idxs = grown;
        idxs[n++] = (uint64_t)ql_stmt_int(st, 0);
    }
    ql_stmt_done(st);
    st = NULL;
    if (rc != QL_OK)
        goto out;
    if (since != NULL)
        for (*since = 0, i = 0; i < n; i++)
            *since += idxs[i] >= m->snapshot_idx;
    for (i = 0; i < n; i++) {
        struct ql_entry e;

        ql_entry_init(&e);
        if ((rc = ql_log_read(ql_county_log(c), idxs[i], NULL, NULL, &e,
                              d)) != QL_OK) {
            ql_entry_release(&e);
            goto out;
        }
        if (idxs[i] >= m->snapshot_idx && *readable)
            rc = open_part(c, &e, 0, e.unit, clear_int(&e, "_epoch"), sealed,
                           d);
        if (rc == QL_EDENIED) {
            /* No key to this unit's content: show the clear part only. */
            *readable = false;
            kvs_free(sealed);
            rc = QL_OK;
            if (!want_secret) {
                ql_entry_release(&e);
                goto out;
            }
        }
        drop_engine_names(sealed);
        if (rc == QL_OK && want_secret && sepochs != NULL &&
            ql_entry_get_clear(&e, "_secret_epoch") != NULL)
            rc = epochs_add(sepochs, clear_int(&e, "_secret_epoch"), d);
        if (rc == QL_OK && want_secret) {
            rc = open_part(c, &e, 1, SECRET_SCOPE,
                           clear_int(&e, "_secret_epoch"), secret, d);
            /* An envelope sealed after this reader lost access stays shut. */
            if (rc == QL_EDENIED) {
                kvs_free(secret);
                want_secret = false;
                rc = QL_OK;
            }
        }
        ql_entry_release(&e);
        if (rc != QL_OK)
            goto out;
    }
out:
    if (secret_all != NULL)
        *secret_all = rc == QL_OK && want_secret;
    ql_stmt_done(st);
    free(idxs);
    return rc;
}

/* ---- checks ---- */

static bool
roles_allow(const char *roles, const char *const *allowed, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (county_has_role(roles, allowed[i]))
            return true;
    return false;
}

static bool
secret_reader(const struct ql_workflow *wf, const char *roles)
{
    char buf[256], *save = NULL, *r;

    county_copy_text(buf, sizeof buf, roles);
    for (r = strtok_r(buf, ",", &save); r != NULL;
         r = strtok_r(NULL, ",", &save))
        if (ql_workflow_secret_reader(wf, r))
            return true;
    return false;
}

static bool
secret_eligible(void *ctx, const char *roles)
{
    return secret_reader(ctx, roles);
}

/*
 * Whether who opens the secret envelope: a secret role in a supervision
 * unit (the envelope key serves every unit, so no handling unit's member
 * holds it), and no engine role, which reads no content.
 */
static bool
secret_holder(const struct ql_workflow *wf, const struct county_actor *who)
{
    return strcmp(who->kind, QL_KIND_SUPERVISION) == 0 &&
           !county_has_role(who->roles, "admin") &&
           !county_has_role(who->roles, "auditor") &&
           secret_reader(wf, who->roles);
}

/* The actor must sit in the lead's unit or in a supervision unit. */
static ql_err
check_unit(const struct county_actor *who, const char *unit,
           struct ql_diag *d)
{
    if (strcmp(who->unit, unit) == 0 ||
        strcmp(who->kind, QL_KIND_SUPERVISION) == 0)
        return QL_OK;
    return ql_fail(d, QL_EDENIED, "'%s' of unit %s may not act on unit %s's "
                                  "leads",
                   who->name, who->unit, unit);
}

static ql_err
check_principal(const struct county_actor *who, struct ql_diag *d)
{
    if (who->unit[0] == '\0')
        return ql_fail(d, QL_EDENIED, "the administrator does not handle "
                                      "leads; use a unit member's key");
    return QL_OK;
}

/* Has actor taken transition t on this lead before (as actor or approver)? */
static ql_err
took_before(struct ql_county *c, const char *lead, const char *t,
            const char *actor, bool *yes, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT 1 FROM lead_entries WHERE lead = ?1 AND transition = ?2 AND "
        "actor = ?3 AND action IN ('lead.move', 'lead.approve', "
        "'lead.propose') LIMIT 1";
    struct ql_stmt *st = NULL;
    ql_err rc;

    *yes = false;
    if ((rc = flush_for_read(c, NULL, d)) == QL_OK &&
        (rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 1, lead, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 2, t, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 3, actor, d)) == QL_OK)
        rc = ql_stmt_step(st, yes, d);
    ql_stmt_done(st);
    return rc;
}

/*
 * Validates the given fields against wf and sorts them into clear, sealed
 * and secret changes. Unknown fields and bad values are QL_EFORMAT. With
 * required, also counts the required fields given a value.
 */
static ql_err
split_fields(struct ql_workflow *wf, const struct ql_wf_kv *fields, size_t n,
             struct kvs *clear, struct kvs *sealed, struct kvs *secret,
             size_t *required, struct ql_diag *d)
{
    size_t i;
    ql_err rc;

    for (i = 0; i < n; i++) {
        const struct ql_wf_field *f = ql_workflow_field(wf, fields[i].name);
        struct kvs *to;

        if (f == NULL)
            return ql_fail(d, QL_EFORMAT, "workflow '%s' has no field '%s'",
                           ql_workflow_name(wf), fields[i].name);
        if ((rc = ql_workflow_check_value(wf, f, fields[i].value, d)) !=
            QL_OK)
            return rc;
        to = f->vis == QL_VIS_CLEAR    ? clear
             : f->vis == QL_VIS_SECRET ? secret
                                       : sealed;
        if (kvs_get(to, fields[i].name) != NULL)
            return ql_fail(d, QL_EUSAGE, "field '%s' given twice",
                           fields[i].name);
        if ((rc = kvs_set(to, fields[i].name, fields[i].value,
                          strlen(fields[i].value), d)) != QL_OK)
            return rc;
        /* A name given twice was refused above: each counts once. */
        if (required != NULL && f->required && fields[i].value[0] != '\0')
            (*required)++;
    }
    return QL_OK;
}

static ql_err
merge_into(struct kvs *dst, const struct kvs *src, struct ql_diag *d)
{
    size_t i;
    ql_err rc;

    for (i = 0; i < src->n; i++)
        if ((rc = kvs_set(dst, src->v[i].name, src->v[i].value,
                          strlen(src->v[i].value), d)) != QL_OK)
            return rc;
    return QL_OK;
}

/* The county's local date today, "YYYY-MM-DD". */
static ql_err
today(struct ql_county *c, int32_t *day, char buf[16], struct ql_diag *d)
{
    ql_err rc;

    if ((rc = ql_zone_local_date(ql_county_now(c), ql_county_zone(c), day,
                                 d)) != QL_OK)
        return rc;
    return ql_date_format(*day, buf, 16, d);
}

/*
 * Everything one transition (or registration) needs, gathered and checked
 * before any entry is written.
 */
struct plan {
    struct meta m;
    struct ql_workflow *wf;
    const struct ql_wf_transition *t; /* NULL for registration */
    const char *to;
    char unit[QL_ENTRY_WORD_MAX + 1]; /* the unit after the change */
    struct kvs clear, sealed, secret; /* the changes */
    struct kvs all_sealed, all_secret, all_clear; /* the lead after */
    bool readable;
    size_t since_snapshot; /* sealed parts a reader folds now */
    char due[16];
    const char *note;
    /* What the batch's lead cache needs (see struct lead_memo). */
    bool memo_hit;         /* the content came from the cache */
    bool secret_all;       /* all_secret is the whole envelope */
    struct epochs sepochs; /* with secret_all: the envelope's epochs */
    bool snapshot;         /* the entry written is a snapshot */
    int64_t sepoch;        /* the envelope epoch it was sealed under, or 0 */
};

static void
plan_release(struct plan *p)
{
    free(p->sepochs.v);
    p->sepochs.v = NULL;
    p->sepochs.n = 0;
    kvs_free(&p->clear);
    kvs_free(&p->sealed);
    kvs_free(&p->secret);
    kvs_free(&p->all_sealed);
    kvs_free(&p->all_secret);
    kvs_free(&p->all_clear);
}

/* Runs the guard with the lead as it will be after the change. */
static ql_err
run_guard(struct ql_county *c, struct plan *p, const struct county_actor *who,
          struct ql_diag *d)
{
    struct ql_wf_guard_input in;
    struct ql_wf_kv *all = NULL;
    const struct kvs *parts[3] = {&p->all_clear, &p->all_sealed,
                                  &p->all_secret};
    const char *roles[QL_ROLES_MAX];
    char buf[256], *save = NULL, *r, now[QL_TIME_BUF], day_s[16];
    char reason[256];
    int32_t day;
    bool ok = false;
    size_t nroles = 0, nall = 0, i, k;
    ql_err rc;

    if (!p->t->has_guard)
        return QL_OK;
    /*
     * The fields side by side, borrowed: a name has one visibility, and
     * were one in two lists the guard's table would still keep the later
     * value, as a merged copy did.
     */
    if ((all = malloc((p->all_clear.n + p->all_sealed.n + p->all_secret.n +
                       1) * sizeof *all)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    for (k = 0; k < 3; k++)
        for (i = 0; i < parts[k]->n; i++)
            all[nall++] = parts[k]->v[i];
    if ((rc = ql_time_format(ql_county_now(c), now, sizeof now, d)) != QL_OK ||
        (rc = today(c, &day, day_s, d)) != QL_OK)
        goto out;
    county_copy_text(buf, sizeof buf, who->roles);
    for (r = strtok_r(buf, ",", &save); r != NULL && nroles < QL_ROLES_MAX;
         r = strtok_r(NULL, ",", &save))
        roles[nroles++] = r;
    memset(&in, 0, sizeof in);
    in.lead_id = p->m.id;
    in.state = p->m.state;
    in.unit = p->m.unit;
    in.fields = all;
    in.nfields = nall;
    in.actor = who->name;
    in.actor_unit = who->unit;
    in.roles = roles;
    in.nroles = nroles;
    in.now = now;
    in.today = day_s;
    reason[0] = '\0';
    if ((rc = ql_workflow_guard(p->wf, p->t, &in, &ok, reason, sizeof reason,
                                d)) != QL_OK)
        goto out;
    if (!ok)
        rc = ql_fail(d, QL_ERULE, "transition '%s' refused by its guard: %s",
                     p->t->name, reason[0] ? reason : "no reason given");
out:
    free(all); /* the values are the plan's */
    return rc;
}

/*
 * Checks and completes a transition plan: roles, unit, state, fields,
 * required fields, assignment, merge, guard, due date. approving is true
 * when the approver re-checks a proposal.
 */
static ql_err
plan_transition(struct ql_county *c, struct plan *p,
                const struct county_actor *who, bool approving,
                struct ql_diag *d)
{
    const struct ql_calendar *cal = NULL;
    const struct ql_wf_state *s;
    const char *v;
    char kind[16];
    int32_t day, due;
    bool has = false, yes = false;
    size_t i;
    ql_err rc;

    if (approving) {
        if (!county_has_role(who->roles, p->t->approval))
            return ql_fail(d, QL_EDENIED, "approving '%s' needs role '%s'",
                           p->t->name, p->t->approval);
        if (strcmp(who->name, p->m.proposer) == 0)
            return ql_fail(d, QL_ERULE, "'%s' proposed '%s' and may not also "
                                        "approve it",
                           who->name, p->t->name);
    } else if (!roles_allow(who->roles, p->t->roles, p->t->nroles)) {
        return ql_fail(d, QL_EDENIED, "'%s' has no role that may take '%s'",
                       who->name, p->t->name);
    }
    if ((rc = check_unit(who, p->m.unit, d)) != QL_OK)
        return rc;
    if (!ql_wf_transition_from(p->t, p->m.state))
        return ql_fail(d, QL_ERULE, "transition '%s' does not leave state '%s'",
                       p->t->name, p->m.state);
    for (i = 0; i < p->t->ndistinct && !approving; i++) {
        if ((rc = took_before(c, p->m.id, p->t->distinct_from[i], who->name,
                              &yes, d)) != QL_OK)
            return rc;
        if (yes)
            return ql_fail(d, QL_ERULE, "'%s' took '%s' on this lead and may "
                                        "not take '%s'",
                           who->name, p->t->distinct_from[i], p->t->name);
    }
    if ((rc = merge_into(&p->all_clear, &p->clear, d)) != QL_OK ||
        (rc = merge_into(&p->all_sealed, &p->sealed, d)) != QL_OK ||
        (rc = merge_into(&p->all_secret, &p->secret, d)) != QL_OK)
        return rc;
    for (i = 0; i < p->t->nrequire; i++) {
        const char *f = p->t->require[i];
        const struct ql_wf_field *fd = ql_workflow_field(p->wf, f);

        v = kvs_get(&p->all_clear, f);
        if (v == NULL)
            v = kvs_get(&p->all_sealed, f);
        if (v == NULL)
            v = kvs_get(&p->all_secret, f);
        if (v == NULL && fd != NULL && fd->vis == QL_VIS_SECRET &&
            !secret_holder(p->wf, who) && kvs_get(&p->secret, f))
            v = kvs_get(&p->secret, f);
        if (v == NULL || *v == '\0')
            return ql_fail(d, QL_EFORMAT, "transition '%s' needs field %s "
                                          "(%s)",
                           p->t->name, fd ? fd->label : f, f);
    }
    county_copy_text(p->unit, sizeof p->unit, p->m.unit);
    if (p->t->assign_field != NULL) {
        v = kvs_get(&p->all_clear, p->t->assign_field);
        if (v == NULL)
            v = kvs_get(&p->all_sealed, p->t->assign_field);
        if (v == NULL || !ql_entry_word_valid(v))
            return ql_fail(d, QL_EFORMAT, "transition '%s' needs a unit in "
                                          "field '%s'",
                           p->t->name, p->t->assign_field);
        if ((rc = county_unit_kind(c, v, kind, sizeof kind, d)) != QL_OK)
            return rc == QL_ENOTFOUND ? ql_fail(d, QL_EFORMAT,
                                                "no unit '%s' to assign to", v)
                                      : rc;
        if (strcmp(kind, QL_KIND_TOWNSHIP) != 0 &&
            strcmp(kind, QL_KIND_MEMBER) != 0)
            return ql_fail(d, QL_ERULE, "unit '%s' is a %s unit and handles "
                                        "no leads",
                           v, kind);
        county_copy_text(p->unit, sizeof p->unit, v);
    }
    if (p->t->merge_field != NULL) {
        struct meta master;

        v = kvs_get(&p->all_clear, p->t->merge_field);
        if (v == NULL)
            v = kvs_get(&p->all_sealed, p->t->merge_field);
        if (v == NULL || strcmp(v, p->m.id) == 0)
            return ql_fail(d, QL_EFORMAT, "merging needs another lead in "
                                          "field '%s'",
                           p->t->merge_field);
        if ((rc = load_meta(c, v, &master, d)) != QL_OK)
            return rc == QL_ENOTFOUND
                       ? ql_fail(d, QL_EFORMAT, "no lead '%s' to merge into",
                                 v)
                       : rc;
        if (ql_workflow_state(p->wf, master.state) != NULL &&
            strcmp(master.state, p->t->to) == 0)
            return ql_fail(d, QL_ERULE, "lead '%s' is itself merged", v);
    }
    if ((rc = run_guard(c, p, who, d)) != QL_OK)
        return rc;
    /* The due date: a date field the transition names, else the limit. */
    p->due[0] = '\0';
    p->to = p->t->to;
    s = ql_workflow_state(p->wf, p->to);
    if (p->t->due_field != NULL &&
        ((v = kvs_get(&p->all_clear, p->t->due_field)) != NULL ||
         (v = kvs_get(&p->all_sealed, p->t->due_field)) != NULL) &&
        *v != '\0') {
        county_copy_text(p->due, sizeof p->due, v);
    } else if (strcmp(p->to, p->m.state) == 0) {
        county_copy_text(p->due, sizeof p->due, p->m.due);
    } else if (s != NULL) {
        /* Only a county without a calendar counts plain weekdays. */
        if ((rc = ql_county_calendar(c, &cal, d)) == QL_ENOTFOUND)
            cal = NULL;
        else if (rc != QL_OK)
            return rc;
        if ((rc = today(c, &day, p->due, d)) != QL_OK ||
            (rc = ql_workflow_due(p->wf, s, cal, day, &due, &has, NULL, d)) !=
                QL_OK)
            return rc;
        p->due[0] = '\0';
        if (has && (rc = ql_date_format(due, p->due, sizeof p->due, d)) !=
                       QL_OK)
            return rc;
    }
    return QL_OK;
}

/* Sealed parts after which a writer who can read the lead snapshots it. */
#define SNAPSHOT_EVERY 16

/*
 * Seals the plan's changes (or, on a unit or epoch change, the whole lead)
 * into an entry payload for the entry about to be appended.
 */
static ql_err
seal_payload(struct ql_county *c, struct plan *p, const char *lead,
             struct ql_entry *e, bool force_snapshot, struct ql_diag *d)
{
    const struct ql_datakey *k = NULL, *sk = NULL;
    uint8_t *plain = NULL, *ct = NULL, *sct = NULL, *packed = NULL;
    size_t plen = 0, ctlen = 0, sctlen = 0, packlen = 0;
    int64_t epoch = 0, sepoch = 0;
    struct kvs *fields, *sfields;
    struct ql_wf_kv note_kv;
    struct kvs with_note = {NULL, 0, 0}; /* borrowed: never freed */
    bool snapshot;
    uint64_t idx;
    char ad[512], num[24];
    ql_err rc;

    if ((rc = county_write_key(c, p->unit, &k, &epoch, d)) != QL_OK)
        return rc;
    if ((p->secret.n > 0 || (force_snapshot && p->all_secret.n > 0)) &&
        (rc = county_write_key_for(c, SECRET_SCOPE, secret_eligible, p->wf,
                                   &sk, &sepoch, d)) != QL_OK)
        return rc;
    /*
     * A fresh snapshot now and then keeps what every later read must
     * decrypt short, however long a lead's history grows.
     */
    snapshot = force_snapshot || strcmp(p->unit, p->m.unit) != 0 ||
               epoch != p->m.epoch ||
               (p->readable && p->since_snapshot >= SNAPSHOT_EVERY);
    /* e->actor is set when the entry is appended, after this. */
    if (snapshot && !p->readable)
        return ql_fail(d, QL_EDENIED, "moving this lead re-encrypts it, and "
                                      "'%s' cannot read it: its older key "
                                      "reaches them with the next step in "
                                      "unit %s by someone who holds it, or "
                                      "with `qingling key share %s`",
                       ql_key_name(c->actor), p->m.unit, p->m.unit);
    fields = snapshot ? &p->all_sealed : &p->sealed;
    sfields = force_snapshot ? &p->all_secret : &p->secret;
    p->snapshot = snapshot;
    p->sepoch = 0;
    /* The index this entry will get: the write lock holds it still. */
    if ((rc = ql_log_size(ql_county_log(c), &idx, d)) != QL_OK)
        goto out;
    payload_ad(c, lead, idx, "sealed", ad, sizeof ad);
    /*
     * The note follows the fields, encoded from where they lie: field
     * names never start with '_', so "_note" is new to the list.
     */
    if (p->note != NULL && *p->note != '\0') {
        note_kv.name = "_note";
        note_kv.value = p->note;
        with_note.v = &note_kv;
        with_note.n = 1;
    }
    if ((plain = malloc(kvs_encoded_len(fields) +
                        kvs_encoded_len(&with_note) + 1)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    plen = kvs_encode_into(fields, plain);
    plen += kvs_encode_into(&with_note, plain + plen);
    if ((rc = ql_datakey_encrypt(k, plain, plen, (const uint8_t *)ad,
                                 strlen(ad), &ct, &ctlen, d)) != QL_OK)
        goto out;
    ql_datakey_plain_free(plain, plen);
    plain = NULL;
    if (sk != NULL && sfields->n > 0) {
        payload_ad(c, lead, idx, "secret", ad, sizeof ad);
        if ((rc = kvs_encode(sfields, &plain, &plen, d)) != QL_OK ||
            (rc = ql_datakey_encrypt(sk, plain, plen, (const uint8_t *)ad,
                                     strlen(ad), &sct, &sctlen, d)) != QL_OK)
            goto out;
        put_i64(num, sizeof num, sepoch);
        if ((rc = ql_entry_add_clear(e, "_secret_epoch", num, d)) != QL_OK)
            goto out;
        p->sepoch = sepoch;
    }
    put_i64(num, sizeof num, epoch);
    if ((rc = ql_entry_add_clear(e, "_epoch", num, d)) != QL_OK ||
        (snapshot && (rc = ql_entry_add_clear(e, "_snapshot", "1", d)) !=
                         QL_OK) ||
        (rc = payload_pack(ct, ctlen, sct, sctlen, &packed, &packlen, d)) !=
            QL_OK ||
        (rc = ql_entry_set_payload(e, packed, packlen, d)) != QL_OK)
        goto out;
out:
    ql_datakey_plain_free(plain, plen);
    free(ct);
    free(sct);
    free(packed);
    return rc;
}

/* Adds the clear changes and the due date to an entry. */
static ql_err
add_clear(struct ql_entry *e, const struct plan *p, struct ql_diag *d)
{
    size_t i;
    ql_err rc;

    for (i = 0; i < p->clear.n; i++)
        if ((rc = ql_entry_add_clear(e, p->clear.v[i].name,
                                     p->clear.v[i].value, d)) != QL_OK)
            return rc;
    return ql_entry_add_clear(e, "_due", p->due, d);
}

/* ---- the batch's lead cache ---- */

/*
 * Inside a batch a lead is often moved right after it was written: an
 * import registers it and takes it through its first transitions. Reading
 * it back would query lead_entries and decrypt every part since the last
 * snapshot, so the batch keeps what it wrote, folded as a reader folds it.
 *
 * A memo is current while the lead's last_idx is the entry it was made
 * from. Every entry that changes a lead's content moves last_idx (a
 * proposal changes neither), so a write that does not update the memo (a
 * rejection, a migration) makes it stale by itself. Who may read the
 * content is still asked on each use (county_read_key), as the read-back
 * asks it. Sealed and secret values are kept encoded in guarded memory,
 * wiped when replaced or dropped; the cache lives until the batch commits
 * or rolls back (ql_lead_cache_drop).
 *
 * The guarded memory is one block for the batch, a slot per memo, and a
 * block of its own only for a lead too large for its slot: a guarded
 * block per lead (mmap, mprotect, mlock and their undoing) cost the store
 * generator more system time than the read-backs it saved.
 */
struct lead_memo {
    char id[QL_ENTRY_WORD_MAX + 1];
    bool valid;        /* false: the slot names the lead, holds nothing */
    uint64_t last_idx; /* the entry the content is as of */
    char workflow[65];
    struct ql_workflow *wf; /* borrowed from the county, alive till close */
    struct kvs clear;       /* lead_clear's rows, ordered by name */
    size_t since_snapshot;
    bool secret_ok;         /* the whole envelope is known */
    struct epochs sepochs;  /* its epochs, with secret_ok */
    uint8_t *slot;          /* its part of the batch's guarded block */
    uint8_t *buf;           /* the slot, or a guarded block of its own */
    size_t cap, sealed_len, secret_len; /* buf: the sealed, then secret */
    int next; /* the next memo in its bucket, or -1 */
    bool meta_ok;     /* meta is the lead's row as the store has it now */
    struct meta meta; /* see load_meta */
};

/* Leads a batch keeps; past that the oldest memo makes room. */
#define MEMO_MAX 1024
#define MEMO_BUCKETS 2048
/* Bytes of a memo's slot: a lead's encoded fields mostly fit. */
#define MEMO_SLOT 1024

struct lead_cache {
    struct lead_memo memo[MEMO_MAX];
    int bucket[MEMO_BUCKETS];
    size_t n, oldest;
    uint8_t *arena;      /* guarded, MEMO_MAX slots */
    struct defer *defer; /* rows not written yet (see struct defer) */
};

static void defer_free(struct defer *df);

static size_t
memo_hash(const char *id)
{
    uint32_t h = 2166136261u;

    while (*id != '\0')
        h = (h ^ (uint8_t)*id++) * 16777619u;
    return h % MEMO_BUCKETS;
}

/* Empties a memo's content, wiping what was sealed. */
static void
memo_clear(struct lead_memo *m)
{
    kvs_free(&m->clear);
    free(m->sepochs.v);
    m->sepochs.v = NULL;
    m->sepochs.n = 0;
    if (m->buf != m->slot)
        ql_secret_free(m->buf); /* wipes */
    else if (m->buf != NULL)
        memset(m->buf, 0, m->sealed_len + m->secret_len);
    m->buf = m->slot;
    m->cap = m->slot != NULL ? MEMO_SLOT : 0;
    m->sealed_len = m->secret_len = 0;
    m->valid = false;
    m->meta_ok = false;
}

void
ql_lead_cache_drop(struct ql_county *c)
{
    size_t i;

    if (c == NULL)
        return;
    ql_status_counts_drop(c);
    if (c->leads == NULL)
        return;
    for (i = 0; i < c->leads->n; i++)
        memo_clear(&c->leads->memo[i]);
    ql_secret_free(c->leads->arena); /* wipes */
    defer_free(c->leads->defer);     /* a rollback drops what was kept */
    free(c->leads);
    c->leads = NULL;
}

/* The batch's lead cache, made empty if there is none; NULL without memory. */
static struct lead_cache *
cache_get(struct ql_county *c)
{
    size_t i;

    if (c->leads != NULL)
        return c->leads;
    if ((c->leads = calloc(1, sizeof *c->leads)) == NULL)
        return NULL;
    for (i = 0; i < MEMO_BUCKETS; i++)
        c->leads->bucket[i] = -1;
    return c->leads;
}

static struct lead_memo *
memo_find(struct ql_county *c, const char *id)
{
    int i;

    if (!c->batch || c->leads == NULL)
        return NULL;
    for (i = c->leads->bucket[memo_hash(id)]; i >= 0;
         i = c->leads->memo[i].next)
        if (strcmp(c->leads->memo[i].id, id) == 0)
            return &c->leads->memo[i];
    return NULL;
}

/* The memo of lead id, made (empty) when there is none; NULL without memory. */
static struct lead_memo *
memo_get(struct ql_county *c, const char *id)
{
    struct lead_cache *lc;
    struct lead_memo *m = memo_find(c, id);
    size_t i, h;
    int *at;

    if (m != NULL)
        return m;
    if ((lc = cache_get(c)) == NULL)
        return NULL;
    if (lc->arena == NULL &&
        (lc->arena = ql_secret_alloc(MEMO_MAX * MEMO_SLOT)) == NULL)
        return NULL;
    if (lc->n < MEMO_MAX) {
        i = lc->n++;
    } else {
        i = lc->oldest;
        lc->oldest = (lc->oldest + 1) % MEMO_MAX;
        for (at = &lc->bucket[memo_hash(lc->memo[i].id)]; *at != (int)i;
             at = &lc->memo[*at].next)
            ;
        *at = lc->memo[i].next;
        memo_clear(&lc->memo[i]);
    }
    m = &lc->memo[i];
    m->slot = m->buf = lc->arena + i * MEMO_SLOT;
    m->cap = MEMO_SLOT;
    county_copy_text(m->id, sizeof m->id, id);
    h = memo_hash(id);
    m->next = lc->bucket[h];
    lc->bucket[h] = (int)i;
    return m;
}

/* Copies the kept row of lead id to m; false when none is kept. */
static bool
meta_cached(struct ql_county *c, const char *id, struct meta *m)
{
    const struct lead_memo *lm = memo_find(c, id);

    if (lm == NULL || !lm->meta_ok)
        return false;
    *m = lm->meta;
    return true;
}

/* Keeps m, just read from the store, inside a batch (load_meta). */
static void
meta_keep(struct ql_county *c, const struct meta *m)
{
    struct lead_memo *lm;

    if (!c->batch || (lm = memo_get(c, m->id)) == NULL)
        return; /* the next write reads the store again */
    lm->meta = *m;
    lm->meta_ok = true;
}

/*
 * Brings the kept row of e's lead up to entry e, just applied, as
 * apply_rows changed leads and pending (registered: the date it worked
 * out for a registration). An entry of any other kind, or a failure to
 * apply one, forgets the row (ok false).
 */
static void
meta_apply(struct ql_county *c, const struct ql_entry *e,
           const char *registered, bool ok)
{
    const char *due = ql_entry_get_clear(e, "_due");
    int64_t epoch = clear_int(e, "_epoch");
    bool add = strcmp(e->action, "lead.add") == 0, settle = false;
    struct lead_memo *lm;
    struct meta *m;

    if (!c->batch)
        return;
    lm = ok && add ? memo_get(c, e->lead) : memo_find(c, e->lead);
    if (lm == NULL || (!add && !lm->meta_ok))
        return;
    m = &lm->meta;
    lm->meta_ok = false;
    if (!ok)
        return;
    if (due == NULL)
        due = "";
    if (add) {
        memset(m, 0, sizeof *m);
        county_copy_text(m->id, sizeof m->id, e->lead);
        county_copy_text(m->workflow, sizeof m->workflow, e->workflow);
        county_copy_text(m->registered, sizeof m->registered, registered);
        m->snapshot_idx = e->index;
    }
    if (add || strcmp(e->action, "lead.move") == 0 ||
        strcmp(e->action, "lead.approve") == 0) {
        county_copy_text(m->unit, sizeof m->unit, e->unit);
        county_copy_text(m->state, sizeof m->state, e->to);
        county_copy_text(m->due, sizeof m->due, due);
        if (add || epoch > 0)
            m->epoch = epoch;
        if (ql_entry_get_clear(e, "_snapshot") != NULL)
            m->snapshot_idx = e->index;
        m->last_idx = e->index;
        settle = strcmp(e->action, "lead.approve") == 0;
    } else if (strcmp(e->action, "lead.propose") == 0) {
        m->pending = true;
        m->pending_idx = e->index;
        county_copy_text(m->pending_transition, sizeof m->pending_transition,
                         e->transition);
        county_copy_text(m->proposer, sizeof m->proposer, e->actor);
    } else if (strcmp(e->action, "lead.reject") == 0) {
        m->last_idx = e->index;
        settle = true;
    } else {
        return; /* a migration: read the store again */
    }
    if (settle) {
        m->pending = false;
        m->pending_idx = 0;
        m->pending_transition[0] = '\0';
        m->proposer[0] = '\0';
    }
    lm->meta_ok = true;
}

ql_err
ql_lead_cache_check(struct ql_county *c, const char *id, bool *kept,
                    struct ql_diag *d)
{
    struct meta k, m;
    const char *what = NULL;
    ql_err rc;

    if (kept != NULL)
        *kept = false;
    if (!meta_cached(c, id, &k))
        return QL_OK;
    if (kept != NULL)
        *kept = true;
    if ((rc = meta_read(c, id, &m, d)) != QL_OK)
        return rc;
    if (strcmp(k.unit, m.unit) != 0)
        what = "unit";
    else if (strcmp(k.workflow, m.workflow) != 0)
        what = "workflow";
    else if (strcmp(k.state, m.state) != 0)
        what = "state";
    else if (strcmp(k.registered, m.registered) != 0)
        what = "registered";
    else if (strcmp(k.due, m.due) != 0)
        what = "due";
    else if (k.epoch != m.epoch)
        what = "epoch";
    else if (k.snapshot_idx != m.snapshot_idx)
        what = "snapshot_idx";
    else if (k.last_idx != m.last_idx)
        what = "last_idx";
    else if (k.pending != m.pending || k.pending_idx != m.pending_idx ||
             strcmp(k.pending_transition, m.pending_transition) != 0 ||
             strcmp(k.proposer, m.proposer) != 0)
        what = "pending";
    if (what != NULL)
        return ql_fail(d, QL_EINTEGRITY,
                       "the batch keeps lead %s with another %s than the "
                       "store",
                       id, what);
    return QL_OK;
}

/*
 * Fills p's content from its lead's memo when the memo is current: what
 * load_clear and load_content would give who. *hit is false when there is
 * none; the caller then reads the store.
 */
static ql_err
memo_open(struct ql_county *c, struct plan *p,
          const struct county_actor *who, bool *hit, struct ql_diag *d)
{
    struct lead_memo *m = memo_find(c, p->m.id);
    const struct ql_datakey *k = NULL;
    bool readable = true, want_secret;
    size_t i;
    ql_err rc;

    *hit = false;
    if (m == NULL || !m->valid || m->last_idx != p->m.last_idx ||
        strcmp(m->workflow, p->m.workflow) != 0)
        return QL_OK;
    want_secret = secret_holder(m->wf, who);
    if (want_secret && !m->secret_ok)
        return QL_OK;
    /*
     * The read-back opens each sealed part since the snapshot, and they
     * all share the lead's unit and epoch (a change of either starts a
     * snapshot); the envelope's parts are opened epoch by epoch, and one
     * refusal shuts all of it.
     */
    if ((rc = county_read_key(c, p->m.unit, p->m.epoch, &k, d)) ==
        QL_EDENIED)
        readable = false;
    else if (rc != QL_OK)
        return rc;
    for (i = 0; want_secret && i < m->sepochs.n; i++) {
        if ((rc = county_read_key(c, SECRET_SCOPE, m->sepochs.v[i], &k, d)) ==
            QL_EDENIED)
            want_secret = false;
        else if (rc != QL_OK)
            return rc;
    }
    p->wf = m->wf;
    if ((rc = merge_into(&p->all_clear, &m->clear, d)) != QL_OK ||
        (readable &&
         (rc = kvs_decode(m->buf, m->sealed_len, &p->all_sealed, d)) !=
             QL_OK) ||
        (want_secret &&
         (rc = kvs_decode(m->buf + m->sealed_len, m->secret_len,
                          &p->all_secret, d)) != QL_OK))
        return rc;
    for (i = 0; want_secret && i < m->sepochs.n; i++)
        if ((rc = epochs_add(&p->sepochs, m->sepochs.v[i], d)) != QL_OK)
            return rc;
    p->readable = readable;
    p->since_snapshot = m->since_snapshot;
    p->secret_all = want_secret;
    p->memo_hit = true;
    *hit = true;
    return QL_OK;
}

/* Orders a field list by name, as lead_clear's query returns it. */
static void
kvs_sort(struct kvs *l)
{
    size_t i, j;

    for (i = 1; i < l->n; i++) {
        struct ql_wf_kv v = l->v[i];

        for (j = i; j > 0 && strcmp(l->v[j - 1].name, v.name) > 0; j--)
            l->v[j] = l->v[j - 1];
        l->v[j] = v;
    }
}

/*
 * Records the lead as entry idx, just written from p, left it: clear is
 * its clear fields after the entry, taken from the plan (which is about
 * to be released). Only entries that change content (lead.add, lead.move,
 * lead.approve) come here. The cache only saves work, so whatever goes
 * wrong here drops the memo instead of failing.
 */
static void
memo_update(struct ql_county *c, const struct plan *p, struct kvs *clear,
            uint64_t idx)
{
    struct lead_memo *m;
    struct kvs secret = {NULL, 0, 0};
    struct epochs ep = {NULL, 0};
    const struct kvs *sp = &secret;
    bool current, secret_ok = false;
    size_t slen, xlen, used, i;
    struct ql_diag d;
    ql_err rc = QL_OK;

    if (!c->batch || (m = memo_get(c, p->m.id)) == NULL)
        return;
    current = m->valid && m->last_idx == p->m.last_idx;
    if (!p->readable) {
        memo_clear(m); /* the plan never saw the sealed fields */
        return;
    }
    /* The envelope: what the plan read, or the memo's plus the changes. */
    if (p->secret_all) {
        sp = &p->all_secret;
        secret_ok = true;
        for (i = 0; i < p->sepochs.n && rc == QL_OK; i++)
            rc = epochs_add(&ep, p->sepochs.v[i], &d);
    } else if (current && m->secret_ok) {
        secret_ok = true;
        rc = kvs_decode(m->buf + m->sealed_len, m->secret_len, &secret, &d);
        if (rc == QL_OK)
            rc = merge_into(&secret, &p->secret, &d);
        for (i = 0; i < m->sepochs.n && rc == QL_OK; i++)
            rc = epochs_add(&ep, m->sepochs.v[i], &d);
    }
    if (secret_ok && p->sepoch > 0 && rc == QL_OK)
        rc = epochs_add(&ep, p->sepoch, &d);
    slen = kvs_encoded_len(&p->all_sealed);
    xlen = kvs_encoded_len(sp);
    used = m->sealed_len + m->secret_len;
    if (rc == QL_OK && slen + xlen > m->cap) {
        uint8_t *buf = ql_secret_alloc(2 * (slen + xlen));

        if (buf == NULL) {
            rc = QL_ENOMEM;
        } else {
            if (m->buf != m->slot)
                ql_secret_free(m->buf); /* wipes */
            else
                memset(m->buf, 0, used);
            m->buf = buf;
            m->cap = 2 * (slen + xlen);
            used = 0;
        }
    }
    kvs_free(&m->clear);
    free(m->sepochs.v);
    m->sepochs = ep;
    ep.v = NULL;
    if (rc != QL_OK) {
        memo_clear(m);
        goto out;
    }
    m->clear = *clear;
    clear->v = NULL;
    clear->n = 0;
    clear->cap = 0;
    kvs_sort(&m->clear);
    m->sealed_len = kvs_encode_into(&p->all_sealed, m->buf);
    m->secret_len = kvs_encode_into(sp, m->buf + m->sealed_len);
    /* Nothing of the content before may stay behind the new one. */
    if (used > m->sealed_len + m->secret_len)
        memset(m->buf + m->sealed_len + m->secret_len, 0,
               used - m->sealed_len - m->secret_len);
    m->secret_ok = secret_ok;
    m->last_idx = idx;
    m->since_snapshot = p->snapshot ? 1 : p->since_snapshot + 1;
    county_copy_text(m->workflow, sizeof m->workflow, ql_workflow_hash(p->wf));
    m->wf = p->wf;
    m->valid = true;
out:
    free(ep.v);
    kvs_free(&secret);
}

/* ---- registration ---- */

/* Builds the next id from the workflow's pattern and the counters. */
static ql_err
next_id(struct ql_county *c, struct ql_workflow *wf, const char *unit,
        char *id, struct ql_diag *d)
{
    static const char SQL[] = "SELECT value FROM counters WHERE name = ?1";
    const char *fmt = ql_workflow_id_format(wf), *p;
    char prefix[QL_ENTRY_WORD_MAX + 1], day_s[16];
    struct ql_stmt *st = NULL;
    size_t at = 0;
    int digits = 0, year, mo, da;
    int32_t day;
    int64_t seq = 0;
    bool row = false;
    ql_err rc;

    if ((rc = today(c, &day, day_s, d)) != QL_OK)
        return rc;
    ql_date_to_civil(day, &year, &mo, &da);
    for (p = fmt; *p != '\0';) {
        char piece[16];
        const char *add = NULL;

        if (strncmp(p, "{year}", 6) == 0) {
            if (year < 0)
                snprintf(piece, sizeof piece, "%04d", year);
            else
                put_u64(piece, sizeof piece, (uint64_t)year, 4);
            add = piece;
            p += 6;
        } else if (strncmp(p, "{unit}", 6) == 0) {
            add = unit;
            p += 6;
        } else if (strncmp(p, "{seq:", 5) == 0 && p[5] >= '0' && p[5] <= '9') {
            /* N has one or two digits, as the workflow's check takes it. */
            size_t k = p[6] >= '0' && p[6] <= '9' ? 7 : 6;

            if (p[k] != '}' || p[k + 1] != '\0')
                return ql_fail(d, QL_EFORMAT,
                               "lead id pattern '%s' must end with {seq:N}",
                               fmt);
            digits = p[5] - '0';
            if (k == 7)
                digits = digits * 10 + (p[6] - '0');
            p += k + 1;
            continue;
        } else {
            piece[0] = *p++;
            piece[1] = '\0';
            add = piece;
        }
        if (at + strlen(add) >= sizeof prefix)
            return ql_fail(d, QL_EFORMAT, "lead id pattern '%s' is too long",
                           fmt);
        memcpy(prefix + at, add, strlen(add));
        at += strlen(add);
    }
    prefix[at] = '\0';
    if (digits == 0 || at == 0 || (prefix[at - 1] >= '0' &&
                                   prefix[at - 1] <= '9'))
        return ql_fail(d, QL_EFORMAT,
                       "lead id pattern '%s' must end with {seq:N} after a "
                       "non-digit",
                       fmt);
    /* A batch keeps the counters it read and bumped (counter_learn). */
    if (!counter_kept(c, prefix, &seq)) {
        if ((rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) !=
                QL_OK ||
            (rc = ql_stmt_bind_text(st, 1, prefix, d)) != QL_OK ||
            (rc = ql_stmt_step(st, &row, d)) != QL_OK)
            goto out;
        seq = row ? ql_stmt_int(st, 0) : 0;
        counter_learn(c, prefix, seq);
    }
    /* The prefix left room for at least the terminator. */
    memcpy(id, prefix, at + 1);
    if (seq < 0 || put_u64(id + at, QL_ENTRY_WORD_MAX + 1 - at,
                           (uint64_t)seq + 1, digits) == 0 ||
        !ql_entry_word_valid(id))
        rc = ql_fail(d, QL_EFORMAT, "lead id '%s' is not a valid id", id);
out:
    ql_stmt_done(st);
    return rc;
}

ql_err
ql_lead_add(struct ql_county *c, const char *workflow, const char *unit,
            const struct ql_wf_kv *fields, size_t n, char *id,
            struct ql_diag *d)
{
    const struct ql_workflow *cwf = NULL;
    const struct ql_wf_state *s;
    const struct ql_calendar *cal = NULL;
    const struct ql_key *signers[1];
    struct county_actor who;
    struct plan p;
    struct ql_entry e;
    char kind[16];
    int32_t day, due;
    bool has = false;
    size_t i, given = 0, need = 0;
    uint64_t idx = 0;
    ql_err rc;

    memset(&p, 0, sizeof p);
    ql_entry_init(&e);
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if ((rc = check_principal(&who, d)) != QL_OK ||
        (rc = ql_county_workflow(c, workflow ? workflow : "gang_lead", NULL,
                                 &cwf, d)) != QL_OK)
        goto fail;
    p.wf = (struct ql_workflow *)cwf;
    p.readable = true;
    if (unit == NULL)
        unit = who.unit;
    if ((rc = county_unit_kind(c, unit, kind, sizeof kind, d)) != QL_OK ||
        (rc = check_unit(&who, unit, d)) != QL_OK)
        goto fail;
    if (strcmp(kind, QL_KIND_AUDIT) == 0) {
        rc = ql_fail(d, QL_ERULE, "unit '%s' is an audit unit and holds no "
                                  "leads",
                     unit);
        goto fail;
    }
    if (!ql_workflow_may_create(p.wf, who.roles)) {
        rc = ql_fail(d, QL_EDENIED, "'%s' has no role that may register "
                                    "leads",
                     who.name);
        goto fail;
    }
    if ((rc = split_fields(p.wf, fields, n, &p.clear, &p.sealed, &p.secret,
                           &given, d)) != QL_OK)
        goto fail;
    for (i = 0; i < ql_workflow_field_count(p.wf); i++)
        need += ql_workflow_field_at(p.wf, i)->required;
    /* Only when one is missing: look for it, to name it. */
    for (i = 0; given != need && i < ql_workflow_field_count(p.wf); i++) {
        const struct ql_wf_field *f = ql_workflow_field_at(p.wf, i);
        const char *v = kvs_get(f->vis == QL_VIS_CLEAR    ? &p.clear
                                : f->vis == QL_VIS_SECRET ? &p.secret
                                                          : &p.sealed,
                                f->name);

        if (f->required && (v == NULL || *v == '\0')) {
            rc = ql_fail(d, QL_EFORMAT, "field %s (%s) is required",
                         f->label, f->name);
            goto fail;
        }
    }
    county_copy_text(p.unit, sizeof p.unit, unit);
    county_copy_text(p.m.unit, sizeof p.m.unit, unit);
    p.m.epoch = -1; /* a new lead starts with a snapshot */
    if ((rc = merge_into(&p.all_sealed, &p.sealed, d)) != QL_OK ||
        (rc = merge_into(&p.all_secret, &p.secret, d)) != QL_OK ||
        (rc = next_id(c, p.wf, unit, p.m.id, d)) != QL_OK)
        goto fail;
    p.to = ql_workflow_initial(p.wf);
    s = ql_workflow_state(p.wf, p.to);
    if ((rc = ql_county_calendar(c, &cal, d)) == QL_ENOTFOUND)
        cal = NULL;
    else if (rc != QL_OK)
        goto fail;
    if ((rc = today(c, &day, p.due, d)) != QL_OK ||
        (rc = ql_workflow_due(p.wf, s, cal, day, &due, &has, NULL, d)) !=
            QL_OK)
        goto fail;
    p.due[0] = '\0';
    if (has && (rc = ql_date_format(due, p.due, sizeof p.due, d)) != QL_OK)
        goto fail;
    county_copy_text(e.action, sizeof e.action, "lead.add");
    county_copy_text(e.unit, sizeof e.unit, unit);
    county_copy_text(e.lead, sizeof e.lead, p.m.id);
    county_copy_text(e.to, sizeof e.to, p.to);
    county_copy_text(e.workflow, sizeof e.workflow, ql_workflow_hash(p.wf));
    signers[0] = c->actor;
    /* A new lead's envelope is the fields given, all of it. */
    p.secret_all = true;
    if ((rc = add_clear(&e, &p, d)) != QL_OK ||
        (rc = seal_payload(c, &p, p.m.id, &e, true, d)) != QL_OK ||
        (rc = county_append(c, &e, signers, 1, &idx, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK)
        goto fail;
    memo_update(c, &p, &p.clear, idx);
    county_copy_text(id, QL_ENTRY_WORD_MAX + 1, p.m.id);
    plan_release(&p);
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    plan_release(&p);
    ql_entry_release(&e);
    return rc;
}

/* ---- transitions ---- */

/* Loads a lead's state for a write: meta, workflow, content. */
static ql_err
plan_open(struct ql_county *c, const char *id, const struct county_actor *who,
          struct plan *p, struct ql_diag *d)
{
    const struct ql_workflow *cwf = NULL;
    bool hit = false;
    ql_err rc;

    if ((rc = load_meta(c, id, &p->m, d)) != QL_OK ||
        (rc = memo_open(c, p, who, &hit, d)) != QL_OK || hit)
        return rc;
    if ((rc = ql_county_workflow(c, NULL, p->m.workflow, &cwf, d)) != QL_OK)
        return rc;
    p->wf = (struct ql_workflow *)cwf;
    if ((rc = load_clear(c, id, &p->all_clear, d)) != QL_OK)
        return rc;
    return load_content(c, &p->m, secret_holder(p->wf, who), &p->all_sealed,
                        &p->all_secret, &p->readable, &p->since_snapshot,
                        &p->secret_all, &p->sepochs, d);
}

/* The clear fields every move, proposal and approval of lead id names. */
static void
move_fields(struct ql_entry *e, const struct plan *p, const char *id)
{
    county_copy_text(e->unit, sizeof e->unit, p->unit);
    county_copy_text(e->lead, sizeof e->lead, id);
    county_copy_text(e->from, sizeof e->from, p->m.state);
    county_copy_text(e->to, sizeof e->to, p->t->to);
    county_copy_text(e->transition, sizeof e->transition, p->t->name);
    county_copy_text(e->workflow, sizeof e->workflow, p->m.workflow);
}

ql_err
ql_lead_move(struct ql_county *c, const char *id, const char *transition,
             const struct ql_wf_kv *fields, size_t n, const char *note,
             bool *pending, struct ql_diag *d)
{
    const struct ql_key *signers[1];
    struct county_actor who;
    struct plan p;
    struct ql_entry e;
    bool propose;
    uint64_t idx = 0;
    ql_err rc;

    memset(&p, 0, sizeof p);
    ql_entry_init(&e);
    if (note != NULL && strlen(note) > QL_NOTE_TEXT_MAX)
        return ql_fail(d, QL_ETOOBIG, "a note has at most %d bytes",
                       QL_NOTE_TEXT_MAX);
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if ((rc = check_principal(&who, d)) != QL_OK ||
        (rc = plan_open(c, id, &who, &p, d)) != QL_OK)
        goto fail;
    p.note = note;
    if ((p.t = ql_workflow_transition(p.wf, transition)) == NULL) {
        rc = ql_fail(d, QL_ERULE, "workflow '%s' has no transition '%s'",
                     ql_workflow_name(p.wf), transition);
        goto fail;
    }
    if (p.m.pending) {
        rc = ql_fail(d, QL_ERULE, "lead %s has a proposal ('%s') waiting for "
                                  "approval",
                     id, p.m.pending_transition);
        goto fail;
    }
    if ((rc = split_fields(p.wf, fields, n, &p.clear, &p.sealed, &p.secret,
                           NULL, d)) != QL_OK)
        goto fail;
    if (!p.readable && p.sealed.n > 0) {
        rc = ql_fail(d, QL_EDENIED, "'%s' cannot read lead %s", who.name, id);
        goto fail;
    }
    if ((rc = plan_transition(c, &p, &who, false, d)) != QL_OK)
        goto fail;
    propose = p.t->approval != NULL;
    county_copy_text(e.action, sizeof e.action,
                     propose ? "lead.propose" : "lead.move");
    /* A proposal changes nothing yet: it stays in the lead's unit. */
    if (propose)
        county_copy_text(p.unit, sizeof p.unit, p.m.unit);
    move_fields(&e, &p, id);
    signers[0] = c->actor;
    if ((rc = add_clear(&e, &p, d)) != QL_OK ||
        (propose &&
         (rc = ql_entry_add_clear(&e, "_approval", p.t->approval, d)) !=
             QL_OK) ||
        (rc = seal_payload(c, &p, id, &e, false, d)) != QL_OK ||
        (rc = county_append(c, &e, signers, 1, &idx, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK)
        goto fail;
    /* A proposal changes no content: the memo stays as it is. */
    if (!propose)
        memo_update(c, &p, &p.all_clear, idx);
    if (pending != NULL)
        *pending = propose;
    plan_release(&p);
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    plan_release(&p);
    ql_entry_release(&e);
    return rc;
}

ql_err
ql_lead_approve(struct ql_county *c, const char *id, struct ql_diag *d)
{
    const struct ql_key *signers[1];
    struct county_actor who;
    struct ql_entry prop, e;
    struct plan p;
    size_t i;
    char num[24];
    uint64_t idx = 0;
    ql_err rc;

    memset(&p, 0, sizeof p);
    ql_entry_init(&prop);
    ql_entry_init(&e);
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if ((rc = check_principal(&who, d)) != QL_OK ||
        (rc = plan_open(c, id, &who, &p, d)) != QL_OK)
        goto fail;
    if (!p.m.pending) {
        rc = ql_fail(d, QL_ENOTFOUND, "lead %s has no proposal waiting", id);
        goto fail;
    }
    p.t = ql_workflow_transition(p.wf, p.m.pending_transition);
    if (p.t == NULL || p.t->approval == NULL) {
        rc = ql_fail(d, QL_EINTEGRITY, "the proposal on %s names no "
                                       "approvable transition",
                     id);
        goto fail;
    }
    /* The proposal's changes: clear ones from its lines, sealed from its
       payload, which the approver (who supervises) can read. */
    if ((rc = ql_log_read(ql_county_log(c), p.m.pending_idx, NULL, NULL,
                          &prop, d)) != QL_OK)
        goto fail;
    for (i = 0; i < prop.nclear; i++)
        if (prop.clear[i].name[0] != '_' &&
            (rc = kvs_set(&p.clear, prop.clear[i].name, prop.clear[i].value,
                          strlen(prop.clear[i].value), d)) != QL_OK)
            goto fail;
    if ((rc = open_part(c, &prop, 0, prop.unit, clear_int(&prop, "_epoch"),
                        &p.sealed, d)) != QL_OK ||
        (rc = open_part(c, &prop, 1, SECRET_SCOPE,
                        clear_int(&prop, "_secret_epoch"), &p.secret, d)) !=
            QL_OK)
        goto fail;
    {
        const char *note = kvs_get(&p.sealed, "_note");

        /* The proposer's note stays with the proposal entry. */
        if (note != NULL) {
            struct kvs rest = {NULL, 0, 0};

            for (i = 0; i < p.sealed.n; i++)
                if (strcmp(p.sealed.v[i].name, "_note") != 0 &&
                    (rc = kvs_set(&rest, p.sealed.v[i].name,
                                  p.sealed.v[i].value,
                                  strlen(p.sealed.v[i].value), d)) != QL_OK)
                    break;
            kvs_free(&p.sealed);
            p.sealed = rest;
            if (rc != QL_OK)
                goto fail;
        }
    }
    if ((rc = plan_transition(c, &p, &who, true, d)) != QL_OK)
        goto fail;
    county_copy_text(e.action, sizeof e.action, "lead.approve");
    move_fields(&e, &p, id);
    put_u64(num, sizeof num, p.m.pending_idx, 0);
    signers[0] = c->actor;
    if ((rc = add_clear(&e, &p, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "_proposal", num, d)) != QL_OK ||
        (rc = seal_payload(c, &p, id, &e, false, d)) != QL_OK ||
        (rc = county_append(c, &e, signers, 1, &idx, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK)
        goto fail;
    memo_update(c, &p, &p.all_clear, idx);
    plan_release(&p);
    ql_entry_release(&prop);
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    plan_release(&p);
    ql_entry_release(&prop);
    ql_entry_release(&e);
    return rc;
}

ql_err
ql_lead_reject(struct ql_county *c, const char *id, const char *note,
               struct ql_diag *d)
{
    const struct ql_key *signers[1];
    struct county_actor who;
    const struct ql_wf_transition *t;
    struct ql_entry e;
    struct plan p;
    char num[24];
    ql_err rc;

    memset(&p, 0, sizeof p);
    ql_entry_init(&e);
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if ((rc = check_principal(&who, d)) != QL_OK ||
        (rc = load_meta(c, id, &p.m, d)) != QL_OK)
        goto fail;
    if (!p.m.pending) {
        rc = ql_fail(d, QL_ENOTFOUND, "lead %s has no proposal waiting", id);
        goto fail;
    }
    {
        const struct ql_workflow *cwf = NULL;

        if ((rc = ql_county_workflow(c, NULL, p.m.workflow, &cwf, d)) !=
            QL_OK)
            goto fail;
        p.wf = (struct ql_workflow *)cwf;
    }
    t = ql_workflow_transition(p.wf, p.m.pending_transition);
    if (strcmp(who.name, p.m.proposer) != 0 &&
        (t == NULL || t->approval == NULL ||
         !county_has_role(who.roles, t->approval))) {
        rc = ql_fail(d, QL_EDENIED, "only the proposer or an approver may "
                                    "decline this proposal");
        goto fail;
    }
    if ((rc = check_unit(&who, p.m.unit, d)) != QL_OK)
        goto fail;
    county_copy_text(e.action, sizeof e.action, "lead.reject");
    county_copy_text(e.unit, sizeof e.unit, p.m.unit);
    county_copy_text(e.lead, sizeof e.lead, id);
    county_copy_text(e.from, sizeof e.from, p.m.state);
    county_copy_text(e.to, sizeof e.to, p.m.state);
    county_copy_text(e.transition, sizeof e.transition, p.m.pending_transition);
    county_copy_text(e.workflow, sizeof e.workflow, p.m.workflow);
    put_u64(num, sizeof num, p.m.pending_idx, 0);
    county_copy_text(p.unit, sizeof p.unit, p.m.unit);
    p.note = note;
    p.readable = true;
    signers[0] = c->actor;
    if ((rc = ql_entry_add_clear(&e, "_proposal", num, d)) != QL_OK ||
        (note != NULL && *note != '\0' &&
         (rc = seal_payload(c, &p, id, &e, false, d)) != QL_OK) ||
        (rc = county_append(c, &e, signers, 1, NULL, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK)
        goto fail;
    plan_release(&p);
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    plan_release(&p);
    ql_entry_release(&e);
    return rc;
}

/* ---- migration ---- */

/* Finds old's image in map "A=B,C=D"; the state itself when absent. */
static ql_err
map_state(const char *map, const char *old, char *out, size_t size,
          struct ql_diag *d)
{
    const char *p = map != NULL ? map : "";
    size_t n = strlen(old);

    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        const char *eq = strchr(p, '=');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (eq == NULL || eq >= p + len || eq == p)
            return ql_fail(d, QL_EUSAGE, "bad state map '%s': use OLD=NEW,...",
                           map);
        if ((size_t)(eq - p) == n && memcmp(p, old, n) == 0) {
            size_t vn = len - n - 1;

            if (vn == 0 || vn >= size)
                return ql_fail(d, QL_EUSAGE, "bad state map '%s'", map);
            memcpy(out, eq + 1, vn);
            out[vn] = '\0';
            return QL_OK;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    snprintf(out, size, "%s", old);
    return QL_OK;
}

ql_err
ql_lead_migrate(struct ql_county *c, const char *id, const char *hash,
                const char *map, struct ql_diag *d)
{
    const struct ql_workflow *old_wf = NULL, *new_wf = NULL;
    const struct ql_key *signers[1];
    struct county_actor who;
    struct ql_entry e;
    struct meta m;
    char to[QL_ENTRY_WORD_MAX + 1];
    ql_err rc;

    ql_entry_init(&e);
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if (!who.admin) {
        rc = ql_fail(d, QL_EDENIED, "only the administrator migrates leads");
        goto fail;
    }
    if ((rc = load_meta(c, id, &m, d)) != QL_OK ||
        (rc = ql_county_workflow(c, NULL, m.workflow, &old_wf, d)) != QL_OK ||
        (rc = ql_county_workflow(c, NULL, hash, &new_wf, d)) != QL_OK)
        goto fail;
    if (m.pending) {
        rc = ql_fail(d, QL_ERULE, "lead %s has a proposal waiting; settle it "
                                  "before migrating",
                     id);
        goto fail;
    }
    if (strcmp(m.workflow, hash) == 0) {
        rc = ql_fail(d, QL_EEXIST, "lead %s is already on that version", id);
        goto fail;
    }
    if (strcmp(ql_workflow_name(old_wf), ql_workflow_name(new_wf)) != 0) {
        rc = ql_fail(d, QL_ERULE, "lead %s follows '%s', not '%s'", id,
                     ql_workflow_name(old_wf), ql_workflow_name(new_wf));
        goto fail;
    }
    if ((rc = map_state(map, m.state, to, sizeof to, d)) != QL_OK)
        goto fail;
    if (ql_workflow_state(new_wf, to) == NULL) {
        rc = ql_fail(d, QL_ERULE, "the new version has no state '%s'; map it "
                                  "with OLD=NEW",
                     to);
        goto fail;
    }
    county_copy_text(e.action, sizeof e.action, "lead.migrate");
    county_copy_text(e.unit, sizeof e.unit, m.unit);
    county_copy_text(e.lead, sizeof e.lead, id);
    county_copy_text(e.from, sizeof e.from, m.state);
    county_copy_text(e.to, sizeof e.to, to);
    county_copy_text(e.workflow, sizeof e.workflow, hash);
    signers[0] = c->actor;
    if ((rc = ql_entry_add_clear(&e, "_from_workflow", m.workflow, d)) !=
            QL_OK ||
        (rc = ql_entry_add_clear(&e, "_due", m.due, d)) != QL_OK ||
        (rc = county_append(c, &e, signers, 1, NULL, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK)
        goto fail;
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    ql_entry_release(&e);
    return rc;
}

/* ---- reading ---- */

struct ql_lead {
    struct meta m;
    struct kvs fields; /* clear, then sealed and secret as readable */
    bool readable;
};

/* Loads a lead, with the content the actor can read when content. */
static ql_err
load_lead(struct ql_county *c, const char *id, bool content,
          struct ql_lead **out, struct ql_diag *d)
{
    struct ql_lead *l = calloc(1, sizeof *l);
    struct kvs sealed = {NULL, 0, 0}, secret = {NULL, 0, 0};
    const struct ql_workflow *wf = NULL;
    struct county_actor who;
    bool want_secret = false, began = false;
    ql_err rc;

    if (l == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    if ((rc = ql_store_begin_read(ql_county_store(c), d)) != QL_OK)
        goto out;
    began = true;
    if ((rc = load_meta(c, id, &l->m, d)) != QL_OK ||
        (rc = ql_county_workflow(c, NULL, l->m.workflow, &wf, d)) != QL_OK ||
        (rc = load_clear(c, id, &l->fields, d)) != QL_OK)
        goto out;
    l->readable = false;
    if (content && c->actor != NULL && ql_key_has_secret(c->actor)) {
        /* A failed lookup must not pass for "no secret role". */
        rc = county_principal(c, ql_key_name(c->actor), &who, NULL, d);
        if (rc == QL_OK)
            want_secret = secret_holder(wf, &who);
        else if (rc != QL_ENOTFOUND)
            goto out;
        if ((rc = load_content(c, &l->m, want_secret, &sealed, &secret,
                               &l->readable, NULL, NULL, NULL, d)) != QL_OK)
            goto out;
    }
    if ((rc = merge_into(&l->fields, &sealed, d)) != QL_OK ||
        (rc = merge_into(&l->fields, &secret, d)) != QL_OK)
        goto out;
    *out = l;
    l = NULL;
out:
    if (began)
        ql_store_rollback(ql_county_store(c));
    kvs_free(&sealed);
    kvs_free(&secret);
    ql_lead_free(l);
    return rc;
}

ql_err
ql_lead_load(struct ql_county *c, const char *id, struct ql_lead **out,
             struct ql_diag *d)
{
    return load_lead(c, id, true, out, d);
}

ql_err
ql_lead_load_clear(struct ql_county *c, const char *id, struct ql_lead **out,
                   struct ql_diag *d)
{
    return load_lead(c, id, false, out, d);
}

void
ql_lead_free(struct ql_lead *l)
{
    if (l == NULL)
        return;
    kvs_free(&l->fields);
    free(l);
}

const char *
ql_lead_id(const struct ql_lead *l)
{
    return l->m.id;
}

const char *
ql_lead_unit(const struct ql_lead *l)
{
    return l->m.unit;
}

const char *
ql_lead_state(const struct ql_lead *l)
{
    return l->m.state;
}

const char *
ql_lead_workflow(const struct ql_lead *l)
{
    return l->m.workflow;
}

const char *
ql_lead_registered(const struct ql_lead *l)
{
    return l->m.registered;
}

const char *
ql_lead_due(const struct ql_lead *l)
{
    return l->m.due;
}

bool
ql_lead_readable(const struct ql_lead *l)
{
    return l->readable;
}

const char *
ql_lead_pending(const struct ql_lead *l)
{
    return l->m.pending ? l->m.pending_transition : NULL;
}

size_t
ql_lead_field_count(const struct ql_lead *l)
{
    return l->fields.n;
}

const struct ql_wf_kv *
ql_lead_field_at(const struct ql_lead *l, size_t i)
{
    return i < l->fields.n ? &l->fields.v[i] : NULL;
}

const char *
ql_lead_get(const struct ql_lead *l, const char *name)
{
    return kvs_get(&l->fields, name);
}

ql_err
ql_lead_list(struct ql_county *c, const char *unit, const char *state,
             bool overdue_only, ql_lead_row_fn fn, void *ctx,
             struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT l.id, l.unit, l.state, l.workflow, l.registered, "
        "COALESCE(l.due, ''), p.transition, "
        "l.due IS NOT NULL AND l.due < ?3 FROM leads l "
        "LEFT JOIN pending p ON p.lead = l.id "
        "WHERE (?1 IS NULL OR l.unit = ?1) AND (?2 IS NULL OR l.state = ?2) "
        "ORDER BY l.created_idx";
    struct ql_stmt *st = NULL;
    struct ql_lead_row r;
    char day_s[16];
    int32_t day;
    bool row = false;
    ql_err rc;

    if ((rc = ql_lead_batch_flush(c, d)) != QL_OK ||
        (rc = today(c, &day, day_s, d)) != QL_OK ||
        (rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) != QL_OK ||
        (rc = unit ? ql_stmt_bind_text(st, 1, unit, d)
                   : ql_stmt_bind_null(st, 1, d)) != QL_OK ||
        (rc = state ? ql_stmt_bind_text(st, 2, state, d)
                    : ql_stmt_bind_null(st, 2, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 3, day_s, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        const struct ql_workflow *wf = NULL;
        const struct ql_wf_state *s;

        r.id = ql_stmt_text(st, 0);
        r.unit = ql_stmt_text(st, 1);
        r.state = ql_stmt_text(st, 2);
        r.workflow = ql_stmt_text(st, 3);
        r.registered = ql_stmt_text(st, 4);
        r.due = ql_stmt_text(st, 5);
        r.pending = ql_stmt_null(st, 6) ? NULL : ql_stmt_text(st, 6);
        r.overdue = ql_stmt_int(st, 7) != 0;
        /* Terminal states are never overdue. */
        if (r.overdue && ql_county_workflow(c, NULL, r.workflow, &wf, d) ==
                             QL_OK &&
            (s = ql_workflow_state(wf, r.state)) != NULL && s->terminal)
            r.overdue = false;
        if (overdue_only && !r.overdue)
            continue;
        if ((rc = fn(ctx, &r, d)) != QL_OK)
            break;
    }
out:
    ql_stmt_done(st);
    return rc;
}

ql_err
ql_lead_history(struct ql_county *c, const char *id, ql_lead_event_fn fn,
                void *ctx, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT idx FROM lead_entries WHERE lead = ?1 ORDER BY idx";
    const struct ql_workflow *wf = NULL;
    struct ql_stmt *st = NULL;
    struct county_actor who;
    struct meta m;
    uint64_t *idxs = NULL, *grown;
    size_t n = 0, i;
    bool row = false, want_secret = false;
    ql_err rc;

    if ((rc = ql_lead_batch_flush(c, d)) != QL_OK ||
        (rc = load_meta(c, id, &m, d)) != QL_OK ||
        (rc = ql_county_workflow(c, NULL, m.workflow, &wf, d)) != QL_OK)
        return rc;
    if (c->actor != NULL &&
        county_principal(c, ql_key_name(c->actor), &who, NULL, d) == QL_OK)
        want_secret = secret_holder(wf, &who);
    if ((rc = ql_store_prepare(ql_county_store(c), SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, id, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        if ((grown = realloc(idxs, (n + 1) * sizeof *grown)) == NULL) {
            rc = ql_fail(d, QL_ENOMEM, NULL);
            goto out;
        }
        idxs = grown;
        idxs[n++] = (uint64_t)ql_stmt_int(st, 0);
    }
    ql_stmt_done(st);
    st = NULL;
    for (i = 0; i < n && rc == QL_OK; i++) {
        struct kvs sealed = {NULL, 0, 0};
        struct ql_lead_event ev;
        struct ql_entry e;
        ql_err orc = QL_OK;

        ql_entry_init(&e);
        if ((rc = ql_log_read(ql_county_log(c), idxs[i], NULL, NULL, &e,
                              d)) != QL_OK) {
            ql_entry_release(&e);
            break;
        }
        memset(&ev, 0, sizeof ev);
        ev.idx = e.index;
        ev.time = e.time;
        ev.actor = e.actor;
        ev.action = e.action;
        ev.transition = e.transition;
        ev.from = e.from;
        ev.to = e.to;
        ev.unit = e.unit;
        ev.clear = e.clear;
        ev.nclear = e.nclear;
        if (c->actor != NULL && ql_key_has_secret(c->actor)) {
            orc = open_part(c, &e, 0, e.unit, clear_int(&e, "_epoch"),
                            &sealed, d);
            if (orc == QL_OK && want_secret)
                orc = open_part(c, &e, 1, SECRET_SCOPE,
                                clear_int(&e, "_secret_epoch"), &sealed, d);
        } else {
            orc = QL_EDENIED;
        }
        if (orc == QL_OK) {
            ev.readable = true;
            ev.sealed = sealed.v;
            ev.nsealed = sealed.n;
            ev.note = kvs_get(&sealed, "_note");
        } else if (orc != QL_EDENIED) {
            rc = orc;
        }
        if (rc == QL_OK)
            rc = fn(ctx, &ev, d);
        kvs_free(&sealed);
        ql_entry_release(&e);
    }
out:
    ql_stmt_done(st);
    free(idxs);
    return rc;
}

/* ---- applying lead entries to the derived tables ---- */

/*
 * Statements a single write and a batch's flush both run: one text each,
 * so the statement cache (keyed by the text's address) holds one of each.
 */
static const char TOUCH[] = "UPDATE leads SET last_idx = ?2 WHERE id = ?1";
static const char PROPOSE[] =
    "INSERT INTO pending(lead, transition, proposer, approval, idx) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SETTLE[] = "DELETE FROM pending WHERE lead = ?1";

static ql_err
run1(struct ql_county *c, const char *sql, const char *const *text,
     size_t ntext, const int64_t *ints, size_t nints, struct ql_diag *d)
{
    struct ql_stmt *st = NULL;
    size_t i;
    ql_err rc;

    if ((rc = ql_store_prepare(ql_county_store(c), sql, &st, d)) != QL_OK)
        return rc;
    /*
     * The caller's text (a batch's kept rows among it) outlives the
     * statement, given back below, so it is bound without a copy.
     */
    for (i = 0; i < ntext && rc == QL_OK; i++)
        rc = ql_stmt_bind_text_static(st, (int)i + 1, text[i], d);
    for (i = 0; i < nints && rc == QL_OK; i++)
        rc = ql_stmt_bind_int(st, (int)(ntext + i) + 1, ints[i], d);
    if (rc == QL_OK)
        rc = ql_stmt_run(st, d);
    ql_stmt_done(st);
    return rc;
}

/* Keeps the id counters: the id's trailing digits under its prefix. */
static const char COUNTER_SQL[] =
    "INSERT INTO counters(name, value) VALUES (?1, ?2) "
    "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)";

static ql_err
bump_counter(struct ql_county *c, const char *id, struct ql_diag *d)
{
    char prefix[QL_ENTRY_WORD_MAX + 1];
    size_t n = strlen(id), k = n;
    const char *t[1];
    int64_t v[1];

    while (k > 0 && id[k - 1] >= '0' && id[k - 1] <= '9')
        k--;
    if (k == n || n - k > 18)
        return QL_OK; /* an id without a sequence number counts nothing */
    memcpy(prefix, id, k);
    prefix[k] = '\0';
    t[0] = prefix;
    v[0] = strtoll(id + k, NULL, 10);
    /* Inside a batch the counter waits in memory when there is room. */
    if (c->batch && counter_bump(c, prefix, v[0]))
        return QL_OK;
    return run1(c, COUNTER_SQL, t, 1, v, 1, d);
}

/*
 * A lead's clear fields go in as upserts, up to CLEAR_ROWS in one
 * statement: a statement's own cost (reset, step, the index search to
 * start) is most of a one-row upsert's. Upserts even for a lead just
 * registered: a plain insert saved nothing measurable, and would fail
 * where a stray row (a tampered store) lets the upsert pass. One table
 * serves a write and a batch's flush alike, so each row count is one
 * statement in the store's cache.
 */
#define CLEAR_ROWS 8
#define CLEAR_INSERT "INSERT INTO lead_clear(lead, name, value) VALUES "
#define CLEAR_UPSERT                                                           \
    " ON CONFLICT(lead, name) DO UPDATE SET value = excluded.value"
#define CLEAR_V1 "(?1, ?2, ?3)"
#define CLEAR_V2 CLEAR_V1 ", (?1, ?4, ?5)"
#define CLEAR_V3 CLEAR_V2 ", (?1, ?6, ?7)"
#define CLEAR_V4 CLEAR_V3 ", (?1, ?8, ?9)"
#define CLEAR_V5 CLEAR_V4 ", (?1, ?10, ?11)"
#define CLEAR_V6 CLEAR_V5 ", (?1, ?12, ?13)"
#define CLEAR_V7 CLEAR_V6 ", (?1, ?14, ?15)"
#define CLEAR_V8 CLEAR_V7 ", (?1, ?16, ?17)"

static const char *const CLEAR_SQL[CLEAR_ROWS] = {
    CLEAR_INSERT CLEAR_V1 CLEAR_UPSERT, CLEAR_INSERT CLEAR_V2 CLEAR_UPSERT,
    CLEAR_INSERT CLEAR_V3 CLEAR_UPSERT, CLEAR_INSERT CLEAR_V4 CLEAR_UPSERT,
    CLEAR_INSERT CLEAR_V5 CLEAR_UPSERT, CLEAR_INSERT CLEAR_V6 CLEAR_UPSERT,
    CLEAR_INSERT CLEAR_V7 CLEAR_UPSERT, CLEAR_INSERT CLEAR_V8 CLEAR_UPSERT};

static ql_err
set_clear_fields(struct ql_county *c, const struct ql_entry *e,
                 struct ql_diag *d)
{
    const char *t[1 + 2 * CLEAR_ROWS];
    size_t i, n = 0;
    ql_err rc;

    t[0] = e->lead;
    for (i = 0; i <= e->nclear; i++) {
        if (n == CLEAR_ROWS || (i == e->nclear && n > 0)) {
            if ((rc = run1(c, CLEAR_SQL[n - 1], t, 1 + 2 * n, NULL, 0, d)) !=
                QL_OK)
                return rc;
            n = 0;
        }
        if (i == e->nclear || e->clear[i].name[0] == '_')
            continue;
        t[1 + 2 * n] = e->clear[i].name;
        t[2 + 2 * n] = e->clear[i].value;
        n++;
    }
    return QL_OK;
}

/*
 * The local date of registration e, "YYYY-MM-DD" into registered (size
 * bytes): the county's date at the entry's time.
 */
static ql_err
registration_date(struct ql_county *c, const struct ql_entry *e,
                  char *registered, size_t size, struct ql_diag *d)
{
    return ql_zone_local_date_text(e->time, ql_county_zone(c), registered, size,
                                   d);
}

/*
 * Applies lead entry e to leads, lead_entries, lead_clear, pending and
 * counters; for a registration, registered (size bytes) gets the local
 * date it worked out for the lead.
 */
static ql_err
apply_rows(struct ql_county *c, const struct ql_entry *e, char *registered,
           size_t size, struct ql_diag *d)
{
    static const char ADD[] =
        "INSERT INTO leads(id, unit, workflow, state, due, registered, "
        "state_since, epoch, created_idx, last_idx, snapshot_idx) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9)";
    static const char MOVE[] =
        "UPDATE leads SET unit = ?2, state = ?3, due = ?4, "
        "state_since = CASE WHEN state = ?3 THEN state_since ELSE ?5 END, "
        "epoch = CASE WHEN ?6 > 0 THEN ?6 ELSE epoch END, last_idx = ?7, "
        "snapshot_idx = CASE WHEN ?8 THEN ?7 ELSE snapshot_idx END "
        "WHERE id = ?1";
    static const char MIGRATE[] =
        "UPDATE leads SET workflow = ?2, state = ?3, last_idx = ?4 "
        "WHERE id = ?1";
    static const char ENTRY[] =
        "INSERT INTO lead_entries(lead, action, transition, actor, unit, idx, "
        "epoch, snapshot) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    const char *due = ql_entry_get_clear(e, "_due");
    int64_t epoch = clear_int(e, "_epoch");
    bool snapshot = ql_entry_get_clear(e, "_snapshot") != NULL;
    ql_err rc;

    if (!ql_entry_word_valid(e->lead))
        return ql_fail(d, QL_EINTEGRITY, "entry %llu (%s) names no lead",
                       (unsigned long long)e->index, e->action);
    if (due != NULL && *due == '\0')
        due = NULL;
    {
        const char *tx[5] = {e->lead, e->action, e->transition, e->actor,
                             e->unit};
        int64_t in[3] = {(int64_t)e->index, epoch, snapshot};

        if ((rc = run1(c, ENTRY, tx, 5, in, 3, d)) != QL_OK)
            return rc;
    }
    if (strcmp(e->action, "lead.add") == 0) {
        const char *tx[7];
        int64_t in[2] = {epoch, (int64_t)e->index};

        if ((rc = registration_date(c, e, registered, size, d)) != QL_OK)
            return rc;
        tx[0] = e->lead;
        tx[1] = e->unit;
        tx[2] = e->workflow;
        tx[3] = e->to;
        tx[4] = due;
        tx[5] = registered;
        tx[6] = e->time;
        if ((rc = run1(c, ADD, tx, 7, in, 2, d)) != QL_OK ||
            (rc = bump_counter(c, e->lead, d)) != QL_OK)
            return rc;
        return set_clear_fields(c, e, d);
    }
    if (strcmp(e->action, "lead.move") == 0 ||
        strcmp(e->action, "lead.approve") == 0) {
        const char *tx[5] = {e->lead, e->unit, e->to, due, e->time};
        int64_t in[3] = {epoch, (int64_t)e->index, snapshot};

        if ((rc = run1(c, MOVE, tx, 5, in, 3, d)) != QL_OK)
            return rc;
        if (ql_store_changes(ql_county_store(c)) != 1)
            return ql_fail(d, QL_EINTEGRITY, "entry %llu moves unknown lead "
                                             "%s",
                           (unsigned long long)e->index, e->lead);
        if (strcmp(e->action, "lead.approve") == 0) {
            const char *tx1[1] = {e->lead};

            if ((rc = run1(c, SETTLE, tx1, 1, NULL, 0, d)) != QL_OK)
                return rc;
        }
        return set_clear_fields(c, e, d);
    }
    if (strcmp(e->action, "lead.propose") == 0) {
        const char *approval = ql_entry_get_clear(e, "_approval");
        const char *tx[4] = {e->lead, e->transition, e->actor,
                             approval ? approval : ""};
        int64_t in[1] = {(int64_t)e->index};

        return run1(c, PROPOSE, tx, 4, in, 1, d);
    }
    if (strcmp(e->action, "lead.reject") == 0) {
        const char *tx[1] = {e->lead};
        int64_t in[1] = {(int64_t)e->index};

        if ((rc = run1(c, SETTLE, tx, 1, NULL, 0, d)) != QL_OK)
            return rc;
        return run1(c, TOUCH, tx, 1, in, 1, d);
    }
    if (strcmp(e->action, "lead.migrate") == 0) {
        const char *tx[3] = {e->lead, e->workflow, e->to};
        int64_t in[1] = {(int64_t)e->index};

        return run1(c, MIGRATE, tx, 3, in, 1, d);
    }
    return ql_fail(d, QL_EINTEGRITY, "entry %llu has unknown action '%s'",
                   (unsigned long long)e->index, e->action);
}

/* ---- rows a batch writes once ---- */

/*
 * Inside a batch a lead's entries mostly follow each other (an import or
 * a bulk tool registers a lead and takes it through its first steps), and
 * each of them rewrote the lead's row in leads, inserted or deleted its
 * row in pending and set clear fields that a later entry set again.
 * Nothing but the batch's own writes reads those rows while it is open,
 * so the batch keeps what its entries make of each lead's rows and
 * writes them once: when it commits (before the status counts), when
 * anything is about to read them (flush_lead, ql_lead_batch_flush), and
 * when DEFER_MAX leads are kept. Its lead_entries rows wait too and go in
 * ENTRY_ROWS a statement. A rollback drops all of it with the rest of the
 * batch's cache. The rows written are those writing each entry at once
 * would leave; only a pending row's SQLite rowid, which nothing reads,
 * may differ.
 *
 * Only entries whose rows follow from the entry alone wait: a
 * registration, and a move, approval, proposal or rejection of a lead
 * the batch knows exists (its metadata is kept) on the quick path of the
 * status counts (nothing reads the lead for them). Any other entry on a
 * lead writes what waits for the lead first and is applied at once.
 */
#define DEFER_MAX 1024
#define DEFER_BUCKETS 2048
#define DEFER_ENTRIES 1024
#define ENTRY_ROWS 8

/* How a deferred update works out the lead's state_since. */
enum since_mode {
    SINCE_KEEP,  /* no move yet: as the store has it */
    SINCE_FIRST, /* one move: to first_to at first_time, as MOVE does */
    SINCE_SET    /* a later move changed the state: since */
};

struct defer_lead {
    char id[QL_ENTRY_WORD_MAX + 1];
    int next;     /* the next lead in its bucket, or -1 */
    bool insert;  /* the batch registered it: its leads row is new */
    bool moved;   /* unit, state and due changed */
    bool touched; /* last_idx changed */
    char unit[QL_ENTRY_WORD_MAX + 1];
    char workflow[65];
    char state[QL_ENTRY_WORD_MAX + 1]; /* after the last move waiting */
    char due[QL_ENTRY_WORD_MAX + 1];   /* "" for none */
    char registered[16];
    enum since_mode since_mode; /* for an insert: always SINCE_SET */
    char since[32];
    char first_to[QL_ENTRY_WORD_MAX + 1];
    char first_time[32];
    int64_t epoch;        /* an update: 0 keeps the store's */
    int64_t created_idx;  /* an insert's */
    int64_t last_idx;
    int64_t snapshot_idx; /* an update: -1 keeps the store's */
    /* pending: whether the store holds a row, and the lead's now */
    bool pend_touched, pend_stored, pending;
    int64_t pend_idx;
    char pend_transition[QL_ENTRY_WORD_MAX + 1];
    char proposer[QL_KEY_NAME_MAX + 1];
    char approval[QL_ENTRY_WORD_MAX + 1];
    struct kvs clear; /* lead_clear values to write */
};

/* A lead_entries row not written yet. */
struct defer_entry {
    char lead[QL_ENTRY_WORD_MAX + 1];
    char action[QL_ENTRY_WORD_MAX + 1];
    char transition[QL_ENTRY_WORD_MAX + 1];
    char unit[QL_ENTRY_WORD_MAX + 1];
    char actor[QL_KEY_NAME_MAX + 1];
    int64_t idx, epoch, snapshot;
};

/*
 * An id counter (next_id, bump_counter): a batch registering leads reads
 * and bumps the same one or two, so it keeps them and writes each once.
 */
#define DEFER_COUNTERS 16

struct defer_counter {
    char prefix[QL_ENTRY_WORD_MAX + 1];
    int64_t value;
    bool stored; /* value takes in the store's: next_id may use it */
    bool dirty;  /* value is to be written */
};

struct defer {
    struct defer_lead lead[DEFER_MAX]; /* in the order first kept */
    int bucket[DEFER_BUCKETS];
    size_t n;
    struct defer_entry entry[DEFER_ENTRIES];
    size_t nentries;
    struct defer_counter counter[DEFER_COUNTERS];
    size_t ncounters;
};

static void
defer_reset(struct defer *df)
{
    size_t i;

    for (i = 0; i < df->n; i++)
        kvs_free(&df->lead[i].clear);
    df->n = 0;
    for (i = 0; i < DEFER_BUCKETS; i++)
        df->bucket[i] = -1;
}

static void
defer_free(struct defer *df)
{
    if (df == NULL)
        return;
    defer_reset(df);
    free(df);
}

static struct defer *
defer_of(const struct ql_county *c)
{
    return c->leads != NULL ? c->leads->defer : NULL;
}

/* The batch's deferred rows, made empty when there are none; NULL without
   memory. */
static struct defer *
defer_get(struct ql_county *c)
{
    struct lead_cache *lc = cache_get(c);
    size_t i;

    if (lc == NULL)
        return NULL;
    if (lc->defer == NULL) {
        if ((lc->defer = calloc(1, sizeof *lc->defer)) == NULL)
            return NULL;
        for (i = 0; i < DEFER_BUCKETS; i++)
            lc->defer->bucket[i] = -1;
    }
    return lc->defer;
}

/* The counter kept for prefix, made when make and there is room. */
static struct defer_counter *
counter_of(struct ql_county *c, const char *prefix, bool make)
{
    struct defer *df = make ? defer_get(c) : defer_of(c);
    struct defer_counter *k;
    size_t i;

    if (!c->batch || df == NULL || strlen(prefix) > QL_ENTRY_WORD_MAX)
        return NULL;
    for (i = 0; i < df->ncounters; i++)
        if (strcmp(df->counter[i].prefix, prefix) == 0)
            return &df->counter[i];
    if (!make || df->ncounters == DEFER_COUNTERS)
        return NULL;
    k = &df->counter[df->ncounters++];
    memset(k, 0, sizeof *k);
    county_copy_text(k->prefix, sizeof k->prefix, prefix);
    return k;
}

/* The counter of prefix as the store will have it, when the batch knows. */
static bool
counter_kept(struct ql_county *c, const char *prefix, int64_t *value)
{
    const struct defer_counter *k = counter_of(c, prefix, false);

    if (k == NULL || !k->stored)
        return false;
    *value = k->value;
    return true;
}

/* Remembers value of prefix's counter as the store has it. */
static void
counter_learn(struct ql_county *c, const char *prefix, int64_t value)
{
    struct defer_counter *k = counter_of(c, prefix, true);

    if (k == NULL)
        return; /* next_id reads the store again */
    if (value > k->value)
        k->value = value;
    k->stored = true;
}

/* Raises prefix's counter to value in memory; false: write it at once. */
static bool
counter_bump(struct ql_county *c, const char *prefix, int64_t value)
{
    struct defer_counter *k = counter_of(c, prefix, true);

    if (k == NULL)
        return false;
    if (value > k->value)
        k->value = value;
    k->dirty = true;
    return true;
}

static struct defer_lead *
defer_find(const struct ql_county *c, const char *id)
{
    const struct defer *df = defer_of(c);
    int i;

    if (df == NULL)
        return NULL;
    for (i = df->bucket[memo_hash(id) % DEFER_BUCKETS]; i >= 0;
         i = df->lead[i].next)
        if (strcmp(df->lead[i].id, id) == 0)
            return (struct defer_lead *)&df->lead[i];
    return NULL;
}

/* True when s has something to write. */
static bool
defer_dirty(const struct defer_lead *s)
{
    return s->insert || s->moved || s->touched || s->pend_touched ||
           s->clear.n > 0;
}

/* Forgets what s had waiting, once written: the store has it now. */
static void
defer_clean(struct defer_lead *s)
{
    s->insert = s->moved = s->touched = false;
    s->since_mode = SINCE_KEEP;
    s->epoch = 0;
    s->snapshot_idx = -1;
    s->pend_stored = s->pending;
    s->pend_touched = false;
    kvs_free(&s->clear);
}

/* Up to ENTRY_ROWS lead_entries rows in one statement. */
#define ENTRY_INSERT                                                           \
    "INSERT INTO lead_entries(lead, action, transition, actor, unit, idx, "  \
    "epoch, snapshot) VALUES "
#define ER "(?, ?, ?, ?, ?, ?, ?, ?)"
#define ER2 ER ", " ER
#define ER4 ER2 ", " ER2

static const char *const ENTRIES_SQL[ENTRY_ROWS] = {
    ENTRY_INSERT ER,
    ENTRY_INSERT ER2,
    ENTRY_INSERT ER2 ", " ER,
    ENTRY_INSERT ER4,
    ENTRY_INSERT ER4 ", " ER,
    ENTRY_INSERT ER4 ", " ER2,
    ENTRY_INSERT ER4 ", " ER2 ", " ER,
    ENTRY_INSERT ER4 ", " ER4,
};

/* Writes the lead_entries rows waiting, ENTRY_ROWS a statement. */
static ql_err
flush_entries(struct ql_county *c, struct ql_diag *d)
{
    struct defer *df = defer_of(c);
    struct ql_stmt *st = NULL;
    size_t at = 0, n, i;
    ql_err rc = QL_OK;

    if (df == NULL)
        return QL_OK;
    while (at < df->nentries && rc == QL_OK) {
        n = df->nentries - at < ENTRY_ROWS ? df->nentries - at : ENTRY_ROWS;
        if ((rc = ql_store_prepare(ql_county_store(c), ENTRIES_SQL[n - 1],
                                   &st, d)) != QL_OK)
            break;
        for (i = 0; i < n && rc == QL_OK; i++) {
            const struct defer_entry *x = &df->entry[at + i];
            const char *t[5] = {x->lead, x->action, x->transition, x->actor,
                                x->unit};
            int k = (int)(8 * i), j;

            for (j = 0; j < 5 && rc == QL_OK; j++)
                rc = ql_stmt_bind_text_static(st, k + 1 + j, t[j], d);
            if (rc != QL_OK ||
                (rc = ql_stmt_bind_int(st, k + 6, x->idx, d)) != QL_OK ||
                (rc = ql_stmt_bind_int(st, k + 7, x->epoch, d)) != QL_OK)
                break;
            rc = ql_stmt_bind_int(st, k + 8, x->snapshot, d);
        }
        if (rc == QL_OK)
            rc = ql_stmt_run(st, d);
        ql_stmt_done(st);
        st = NULL;
        at += n;
    }
    /* Written or not, they are gone: a failure fails the whole batch. */
    df->nentries = 0;
    return rc;
}

/*
 * Sets lead's clear fields in v (n of them), CLEAR_ROWS at a time: what a
 * batch writes of them at once, the values its entries left.
 */
static ql_err
clear_rows(struct ql_county *c, const char *lead, const struct ql_wf_kv *v,
           size_t n, struct ql_diag *d)
{
    const char *t[1 + 2 * CLEAR_ROWS];
    size_t i, k;
    ql_err rc;

    t[0] = lead;
    for (i = 0; i < n; i += k) {
        for (k = 0; k < CLEAR_ROWS && i + k < n; k++) {
            t[1 + 2 * k] = v[i + k].name;
            t[2 + 2 * k] = v[i + k].value;
        }
        if ((rc = run1(c, CLEAR_SQL[k - 1], t, 1 + 2 * k, NULL, 0, d)) != QL_OK)
            return rc;
    }
    return QL_OK;
}

/* Writes what waits for one lead: its leads, pending and lead_clear rows. */
static ql_err
flush_one(struct ql_county *c, struct defer_lead *s, struct ql_diag *d)
{
    static const char ADD[] =
        "INSERT INTO leads(id, unit, workflow, state, due, registered, "
        "state_since, epoch, created_idx, last_idx, snapshot_idx) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
    /* Several moves as one: see enum since_mode. */
    static const char MOVE[] =
        "UPDATE leads SET unit = ?2, state = ?3, due = ?4, "
        "state_since = CASE WHEN ?8 = 2 THEN ?5 WHEN state = ?6 "
        "THEN state_since ELSE ?7 END, "
        "epoch = CASE WHEN ?9 > 0 THEN ?9 ELSE epoch END, last_idx = ?10, "
        "snapshot_idx = CASE WHEN ?11 >= 0 THEN ?11 ELSE snapshot_idx END "
        "WHERE id = ?1";
    const char *due = s->due[0] != '\0' ? s->due : NULL;
    const char *tx1[1] = {s->id};
    ql_err rc = QL_OK;

    if (s->insert) {
        const char *tx[7] = {s->id,  s->unit,       s->workflow, s->state,
                             due,    s->registered, s->since};
        int64_t in[4] = {s->epoch, s->created_idx, s->last_idx,
                         s->snapshot_idx};

        rc = run1(c, ADD, tx, 7, in, 4, d);
    } else if (s->moved) {
        const char *tx[7] = {s->id,       s->unit,     s->state,
                             due,         s->since,    s->first_to,
                             s->first_time};
        int64_t in[4] = {s->since_mode, s->epoch, s->last_idx,
                         s->snapshot_idx};

        if ((rc = run1(c, MOVE, tx, 7, in, 4, d)) == QL_OK &&
            ql_store_changes(ql_county_store(c)) != 1)
            rc = ql_fail(d, QL_EINTEGRITY, "entry %llu moves unknown lead "
                                           "%s",
                         (unsigned long long)s->last_idx, s->id);
    } else if (s->touched) {
        int64_t in[1] = {s->last_idx};

        rc = run1(c, TOUCH, tx1, 1, in, 1, d);
    }
    if (rc == QL_OK && s->pend_touched && s->pend_stored)
        rc = run1(c, SETTLE, tx1, 1, NULL, 0, d);
    if (rc == QL_OK && s->pend_touched && s->pending) {
        const char *tx[4] = {s->id, s->pend_transition, s->proposer,
                             s->approval};
        int64_t in[1] = {s->pend_idx};

        rc = run1(c, PROPOSE, tx, 4, in, 1, d);
    }
    if (rc == QL_OK)
        rc = clear_rows(c, s->id, s->clear.v, s->clear.n, d);
    defer_clean(s);
    return rc;
}

/* Writes everything the batch keeps back, in the order it was kept. */
static ql_err
flush_all(struct ql_county *c, struct ql_diag *d)
{
    struct defer *df = defer_of(c);
    size_t i;
    ql_err rc;

    if (df == NULL)
        return QL_OK;
    rc = flush_entries(c, d);
    for (i = 0; i < df->ncounters && rc == QL_OK; i++) {
        struct defer_counter *k = &df->counter[i];
        const char *t[1] = {k->prefix};

        if (k->dirty)
            rc = run1(c, COUNTER_SQL, t, 1, &k->value, 1, d);
        k->dirty = false;
    }
    /* Leads are never deleted, so the order of their inserts is their
       rowids' order, which stays the order of registration. */
    for (i = 0; i < df->n && rc == QL_OK; i++)
        if (defer_dirty(&df->lead[i]))
            rc = flush_one(c, &df->lead[i], d);
    defer_reset(df);
    return rc;
}

/*
 * Writes what waits for lead id, before something reads its rows; its
 * lead_entries rows with all the others. A lead the batch registered
 * takes every lead kept with it, so that leads keep the order of their
 * registration.
 */
static ql_err
flush_lead(struct ql_county *c, const char *id, struct ql_diag *d)
{
    struct defer_lead *s = defer_find(c, id);
    ql_err rc;

    if (s != NULL && s->insert)
        return flush_all(c, d);
    if ((rc = flush_entries(c, d)) != QL_OK)
        return rc;
    if (s != NULL && defer_dirty(s))
        return flush_one(c, s, d);
    return QL_OK;
}

/*
 * Before a read of lead id's rows (or, id NULL, of lead_entries): writes
 * what waits for them. A failure may leave some written and others not,
 * so it fails the batch at once, whoever the reader.
 */
static ql_err
flush_for_read(struct ql_county *c, const char *id, struct ql_diag *d)
{
    ql_err rc;

    if (!c->batch)
        return QL_OK;
    rc = id != NULL ? flush_lead(c, id, d) : flush_entries(c, d);
    if (rc != QL_OK)
        county_abort(c);
    return rc;
}

ql_err
ql_lead_batch_flush(struct ql_county *c, struct ql_diag *d)
{
    ql_err rc;

    if (c == NULL || !c->batch)
        return QL_OK;
    if ((rc = flush_all(c, d)) != QL_OK)
        county_abort(c); /* some rows may be written, others not */
    return rc;
}

static bool
fits(const char *s, size_t size)
{
    return s != NULL && strlen(s) < size;
}

/*
 * Whether entry e may wait (see above). quick says the status counts
 * take it without reading the lead.
 */
static bool
defer_ok(struct ql_county *c, const struct ql_entry *e, bool quick)
{
    const struct lead_memo *lm;
    const char *due = ql_entry_get_clear(e, "_due");
    const char *approval = ql_entry_get_clear(e, "_approval");
    bool add = strcmp(e->action, "lead.add") == 0;
    bool propose = strcmp(e->action, "lead.propose") == 0;

    if (!c->batch || !quick)
        return false;
    if (!add && !propose && strcmp(e->action, "lead.move") != 0 &&
        strcmp(e->action, "lead.approve") != 0 &&
        strcmp(e->action, "lead.reject") != 0)
        return false;
    if (add) {
        /* A lead kept already cannot be new: its insert must fail now. */
        if (defer_find(c, e->lead) != NULL)
            return false;
    } else if ((lm = memo_find(c, e->lead)) == NULL || !lm->meta_ok ||
               (propose && lm->meta.pending)) {
        /* Unknown, or a second proposal, fail as the statements do. */
        return false;
    }
    return fits(e->actor, QL_KEY_NAME_MAX + 1) &&
           (due == NULL || fits(due, QL_ENTRY_WORD_MAX + 1)) &&
           (approval == NULL || fits(approval, QL_ENTRY_WORD_MAX + 1));
}

/* The slot of lead id, made when there is none (writing all when full). */
static ql_err
defer_slot(struct ql_county *c, const char *id, struct defer_lead **out,
           struct ql_diag *d)
{
    struct defer *df;
    struct defer_lead *s;
    size_t h;
    ql_err rc;

    if ((s = defer_find(c, id)) != NULL) {
        *out = s;
        return QL_OK;
    }
    if ((df = defer_get(c)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    if (df->n == DEFER_MAX && (rc = flush_all(c, d)) != QL_OK)
        return rc;
    s = &df->lead[df->n];
    memset(s, 0, sizeof *s);
    county_copy_text(s->id, sizeof s->id, id);
    s->snapshot_idx = -1;
    h = memo_hash(id) % DEFER_BUCKETS;
    s->next = df->bucket[h];
    df->bucket[h] = (int)df->n++;
    *out = s;
    return QL_OK;
}

/* Keeps the clear fields e sets, as set_clear_fields would write them. */
static ql_err
defer_clear(struct defer_lead *s, const struct ql_entry *e, struct ql_diag *d)
{
    size_t i;
    ql_err rc;

    for (i = 0; i < e->nclear; i++)
        if (e->clear[i].name[0] != '_' &&
            (rc = kvs_set(&s->clear, e->clear[i].name, e->clear[i].value,
                          strlen(e->clear[i].value), d)) != QL_OK)
            return rc;
    return QL_OK;
}

/* The pending row of s settled, as SETTLE deletes it. */
static void
defer_settle(struct defer_lead *s)
{
    if (!s->pend_touched) {
        s->pend_touched = true;
        s->pend_stored = true; /* the store's row, if any, goes */
    }
    s->pending = false;
}

/*
 * Keeps entry e, which defer_ok let wait, instead of applying it:
 * apply_rows's changes, worked out in memory. registered as apply_rows.
 */
static ql_err
defer_apply(struct ql_county *c, const struct ql_entry *e, char *registered,
            size_t size, struct ql_diag *d)
{
    const char *due = ql_entry_get_clear(e, "_due");
    int64_t epoch = clear_int(e, "_epoch");
    bool snapshot = ql_entry_get_clear(e, "_snapshot") != NULL;
    struct defer_lead *s = NULL;
    struct defer_entry *x;
    struct defer *df;
    ql_err rc;

    if (due == NULL)
        due = "";
    if ((rc = defer_slot(c, e->lead, &s, d)) != QL_OK)
        return rc;
    df = defer_of(c);
    if (df->nentries == DEFER_ENTRIES && (rc = flush_entries(c, d)) != QL_OK)
        return rc;
    x = &df->entry[df->nentries++];
    county_copy_text(x->lead, sizeof x->lead, e->lead);
    county_copy_text(x->action, sizeof x->action, e->action);
    county_copy_text(x->transition, sizeof x->transition, e->transition);
    county_copy_text(x->unit, sizeof x->unit, e->unit);
    county_copy_text(x->actor, sizeof x->actor, e->actor);
    x->idx = (int64_t)e->index;
    x->epoch = epoch;
    x->snapshot = snapshot;
    if (strcmp(e->action, "lead.add") == 0) {
        if ((rc = registration_date(c, e, registered, size, d)) != QL_OK)
            return rc;
        s->insert = true;
        county_copy_text(s->unit, sizeof s->unit, e->unit);
        county_copy_text(s->workflow, sizeof s->workflow, e->workflow);
        county_copy_text(s->state, sizeof s->state, e->to);
        county_copy_text(s->due, sizeof s->due, due);
        county_copy_text(s->registered, sizeof s->registered, registered);
        s->since_mode = SINCE_SET;
        county_copy_text(s->since, sizeof s->since, e->time);
        s->epoch = epoch;
        s->created_idx = s->last_idx = s->snapshot_idx = (int64_t)e->index;
        if ((rc = bump_counter(c, e->lead, d)) != QL_OK)
            return rc;
        return defer_clear(s, e, d);
    }
    if (strcmp(e->action, "lead.move") == 0 ||
        strcmp(e->action, "lead.approve") == 0) {
        if (!s->insert && !s->moved) {
            s->since_mode = SINCE_FIRST;
            county_copy_text(s->first_to, sizeof s->first_to, e->to);
            county_copy_text(s->first_time, sizeof s->first_time, e->time);
        } else if (strcmp(s->state, e->to) != 0) {
            s->since_mode = SINCE_SET;
            county_copy_text(s->since, sizeof s->since, e->time);
        }
        s->moved = true;
        county_copy_text(s->unit, sizeof s->unit, e->unit);
        county_copy_text(s->state, sizeof s->state, e->to);
        county_copy_text(s->due, sizeof s->due, due);
        if (epoch > 0)
            s->epoch = epoch;
        if (snapshot)
            s->snapshot_idx = (int64_t)e->index;
        s->last_idx = (int64_t)e->index;
        if (strcmp(e->action, "lead.approve") == 0)
            defer_settle(s);
        return defer_clear(s, e, d);
    }
    if (strcmp(e->action, "lead.propose") == 0) {
        const char *approval = ql_entry_get_clear(e, "_approval");

        if (!s->pend_touched) {
            s->pend_touched = true;
            s->pend_stored = false;
        }
        s->pending = true;
        s->pend_idx = (int64_t)e->index;
        county_copy_text(s->pend_transition, sizeof s->pend_transition,
                         e->transition);
        county_copy_text(s->proposer, sizeof s->proposer, e->actor);
        county_copy_text(s->approval, sizeof s->approval,
                         approval ? approval : "");
        return QL_OK;
    }
    /* lead.reject */
    defer_settle(s);
    s->touched = true;
    s->last_idx = (int64_t)e->index;
    return QL_OK;
}

/*
 * The lead's row of the status counts leaves before the entry changes the
 * lead and comes back after, on the same path for writing and replaying.
 * Inside a batch, when the lead's previous entry was the batch's last
 * write, its new row is worked out from the row that entry left (a
 * replay, outside any batch, reads the lead and so checks that path).
 */
ql_err
ql_lead_apply(struct ql_county *c, const struct ql_entry *e,
              struct ql_diag *d)
{
    char registered[16] = "";
    bool quick, defer;
    ql_err rc;

    if (!ql_entry_word_valid(e->lead))
        return ql_fail(d, QL_EINTEGRITY, "entry %llu (%s) names no lead",
                       (unsigned long long)e->index, e->action);
    quick = ql_status_count_quick(c, e);
    defer = defer_ok(c, e, quick);
    /* Applied at once: what waits for the lead goes first. */
    if (!defer && c->batch && (rc = flush_lead(c, e->lead, d)) != QL_OK)
        return rc;
    if (!quick && strcmp(e->action, "lead.add") != 0 &&
        (rc = ql_status_count_lead(c, e->lead, -1, d)) != QL_OK)
        return rc;
    rc = defer ? defer_apply(c, e, registered, sizeof registered, d)
               : apply_rows(c, e, registered, sizeof registered, d);
    meta_apply(c, e, registered, rc == QL_OK);
    if (rc != QL_OK) {
        ql_status_memo_drop(c);
        return rc;
    }
    if (quick)
        return ql_status_count_entry(c, e, d);
    return ql_status_count_lead(c, e->lead, 1, d);
}
