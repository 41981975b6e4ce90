/*
 * The verifier's rules (ql_audit_impl.h): who may do what, checked against
 * the registry and the leads as the log itself builds them. Nothing here
 * reads the store's derived tables: an auditor trusts only the entries.
 */
#include "ql_audit_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_audit_leads.h"
#include "ql_calendar.h"
#include "ql_codec.h"
#include "ql_commit.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_status.h"
#include "ql_workflow.h"

/* The key scope of the sealed envelope of secret fields (ql_county). */
#define SECRET_SCOPE "SECRET"
#define NO_ONE UINT32_MAX

/* ---- a string map: name -> index into a record array ---- */

/* Keys are borrowed from the records, which keep them at a fixed address. */
struct smap {
    const char **keys;
    uint32_t *vals;
    size_t cap, n;
};

static uint64_t
str_hash(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static bool
smap_get(const struct smap *m, const char *k, uint32_t *v)
{
    size_t i;

    if (m->cap == 0)
        return false;
    for (i = str_hash(k) & (m->cap - 1); m->keys[i] != NULL;
         i = (i + 1) & (m->cap - 1))
        if (strcmp(m->keys[i], k) == 0) {
            *v = m->vals[i];
            return true;
        }
    return false;
}

static void
smap_insert(struct smap *m, const char *k, uint32_t v)
{
    size_t i;

    for (i = str_hash(k) & (m->cap - 1); m->keys[i] != NULL;
         i = (i + 1) & (m->cap - 1))
        ;
    m->keys[i] = k;
    m->vals[i] = v;
    m->n++;
}

/* Adds k (not present yet); the table stays at most half full. */
static ql_err
smap_put(struct smap *m, const char *k, uint32_t v, struct ql_diag *d)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct smap bigger;
        size_t i;

        bigger.cap = m->cap ? m->cap * 2 : 64;
        bigger.n = 0;
        bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
        bigger.vals = calloc(bigger.cap, sizeof *bigger.vals);
        if (bigger.keys == NULL || bigger.vals == NULL) {
            free(bigger.keys);
            free(bigger.vals);
            return ql_fail(d, QL_ENOMEM, NULL);
        }
        for (i = 0; i < m->cap; i++)
            if (m->keys[i] != NULL)
                smap_insert(&bigger, m->keys[i], m->vals[i]);
        free(m->keys);
        free(m->vals);
        *m = bigger;
    }
    smap_insert(m, k, v);
    return QL_OK;
}

static void
smap_release(struct smap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* Makes room for one more element in *arr (n used, *cap allocated). */
static ql_err
grow(void **arr, size_t *cap, size_t n, size_t elem, struct ql_diag *d)
{
    void *p;
    size_t c;

    if (n < *cap)
        return QL_OK;
    c = *cap ? *cap * 2 : 16;
    if ((p = realloc(*arr, c * elem)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    *arr = p;
    *cap = c;
    return QL_OK;
}

/* ---- records ---- */

struct unit_rec {
    char *code;
    char kind[16];
};

struct principal_rec {
    char *name;
    struct ql_key *key;
    uint32_t key_id; /* its signed-note key ID, computed once */
    uint32_t unit;
    char *roles; /* comma-separated, as registered */
    bool revoked;
};

struct wf_rec {
    char hash[65];
    struct ql_workflow *wf;
};

/*
 * A unit's commitment for a cycle (commit.sign): the cut-off that decides
 * which of the unit's leads its declarations, samples and verifications
 * are about.
 */
struct commit_rec {
    uint32_t unit;
    char cycle[QL_CYCLE_MAX + 1];
    int32_t cutoff; /* a local date (ql_calendar's day number) */
    uint64_t idx;   /* its commit.sign entry */
};

/* A declaration: the entry that samples and verifications name. */
struct decl_rec {
    uint64_t idx;
    uint32_t commit;     /* its commitment's number */
    bool sampled;        /* one sample per declaration (commitments.md 2.3) */
    uint64_t sample_idx; /* its sample's entry, when sampled */
};

/*
 * A lead id that some lead's clear master_lead names (a merge), and how
 * many leads name it now: the sample rule makes a lead named at least
 * once mandatory when its finding is negative (docs/commitments.md 2.3).
 */
struct master_rec {
    char *id;
    uint32_t named;
};

/* One epoch of a scope's data key: its fingerprint and who holds it. */
struct epoch_rec {
    char fp[65];
    uint8_t *holders; /* one bit per principal index */
    size_t nbytes;
    uint32_t starter; /* who started it, with its first grant */
};

/*
 * A data key scope (a unit, or SECRET): every epoch so far, epoch i + 1 at
 * eps[i], so neps is the latest. Older epochs are kept because their
 * holders may grant them to newcomers (decisions.md section 8).
 */
struct scope_rec {
    char *name;
    struct epoch_rec *eps;
    size_t neps, capeps;
    bool stale; /* a revocation since its latest epoch began */
};

struct audit_rules {
    const struct ql_profile *p;
    const struct ql_key *trust;
    char *expect_origin;
    const struct ql_audit_state *state;
    audit_root_fn root;
    void *root_ctx;

    struct ql_key *admin, *log_key;
    uint32_t admin_id; /* the administrator's signed-note key ID */
    char origin[QL_ORIGIN_MAX + 1];

    struct unit_rec *units;
    size_t nunits, capunits;
    struct smap unit_map;
    struct principal_rec *prs;
    size_t nprs, capprs;
    struct smap pr_map;
    struct wf_rec *wfs;
    size_t nwfs, capwfs;
    struct audit_leads *leads;
    struct scope_rec *scopes;
    size_t nscopes, capscopes;
    uint64_t declarations;
    int32_t zone; /* the county's, from the genesis entry */
    struct commit_rec *commits;
    size_t ncommits, capcommits;
    struct decl_rec *decls;
    size_t ndecls, capdecls;
    uint32_t *scope; /* lead numbers of one scope, reused */
    size_t capscope;
    char *lines; /* the scope's hashed lines, reused */
    size_t caplines;
    struct master_rec *masters;
    size_t nmasters, capmasters;
    struct smap master_map;

    /* The signer of the entry being checked (set by audit_rules_signer). */
    bool who_admin;   /* the genesis administrator */
    uint32_t who;     /* else a principal's index */
};

ql_err
audit_rules_new(const struct ql_profile *p, const struct ql_key *trust,
                const char *origin, const struct ql_audit_state *state,
                audit_root_fn root, void *root_ctx, struct audit_rules **out,
                struct ql_diag *d)
{
    struct audit_rules *r = calloc(1, sizeof *r);
    ql_err rc;

    if (r == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    if ((rc = audit_leads_new(&r->leads, d)) != QL_OK) {
        free(r);
        return rc;
    }
    if (origin != NULL && (r->expect_origin = strdup(origin)) == NULL) {
        audit_leads_free(r->leads);
        free(r);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    r->p = p;
    r->trust = trust;
    r->state = state;
    r->root = root;
    r->root_ctx = root_ctx;
    r->who = NO_ONE;
    *out = r;
    return QL_OK;
}

void
audit_rules_free(struct audit_rules *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->nunits; i++)
        free(r->units[i].code);
    for (i = 0; i < r->nprs; i++) {
        free(r->prs[i].name);
        free(r->prs[i].roles);
        ql_key_free(r->prs[i].key);
    }
    for (i = 0; i < r->nwfs; i++)
        ql_workflow_free(r->wfs[i].wf);
    for (i = 0; i < r->nscopes; i++) {
        size_t j;

        for (j = 0; j < r->scopes[i].neps; j++)
            free(r->scopes[i].eps[j].holders);
        free(r->scopes[i].eps);
        free(r->scopes[i].name);
    }
    for (i = 0; i < r->nmasters; i++)
        free(r->masters[i].id);
    free(r->masters);
    smap_release(&r->master_map);
    free(r->units);
    free(r->prs);
    free(r->wfs);
    audit_leads_free(r->leads);
    free(r->scopes);
    free(r->commits);
    free(r->decls);
    free(r->scope);
    free(r->lines);
    smap_release(&r->unit_map);
    smap_release(&r->pr_map);
    ql_key_free(r->admin);
    ql_key_free(r->log_key);
    free(r->expect_origin);
    free(r);
}

const struct ql_key *
audit_rules_log_key(const struct audit_rules *r)
{
    return r->log_key;
}

const char *
audit_rules_origin(const struct audit_rules *r)
{
    return r->origin;
}

uint64_t
audit_rules_leads(const struct audit_rules *r)
{
    return audit_leads_count(r->leads);
}

uint64_t
audit_rules_declarations(const struct audit_rules *r)
{
    return r->declarations;
}

/* ---- small helpers ---- */

/* True when roles (comma-separated) holds role. */
static bool
has_role(const char *roles, const char *role)
{
    size_t n = strlen(role);
    const char *p = roles;

    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (len == n && memcmp(p, role, n) == 0)
            return true;
        if (comma == NULL)
            return false;
        p = comma + 1;
    }
}

static bool
roles_allow(const char *roles, const char *const *allowed, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (has_role(roles, allowed[i]))
            return true;
    return false;
}

static const char *
unit_code(const struct audit_rules *r, uint32_t u)
{
    return r->units[u].code;
}

static const char *
unit_kind(const struct audit_rules *r, uint32_t u)
{
    return r->units[u].kind;
}

static bool
find_unit(const struct audit_rules *r, const char *code, uint32_t *u)
{
    return smap_get(&r->unit_map, code, u);
}

static struct wf_rec *
find_wf(struct audit_rules *r, const char *hash)
{
    size_t i;

    for (i = 0; i < r->nwfs; i++)
        if (strcmp(r->wfs[i].hash, hash) == 0)
            return &r->wfs[i];
    return NULL;
}

/* True when roles holds a role some registered workflow lets read secrets. */
static bool
secret_reader(const struct audit_rules *r, const char *roles)
{
    const char *p = roles;
    char role[128];
    size_t i;

    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (len < sizeof role) {
            memcpy(role, p, len);
            role[len] = '\0';
            for (i = 0; i < r->nwfs; i++)
                if (ql_workflow_secret_reader(r->wfs[i].wf, role))
                    return true;
        }
        if (comma == NULL)
            return false;
        p = comma + 1;
    }
}

/* The admin: the genesis key, or an active principal with role admin. */
static bool
is_admin(const struct audit_rules *r)
{
    return r->who_admin ||
           (r->who != NO_ONE && has_role(r->prs[r->who].roles, "admin"));
}

/* A strict decimal of at most 18 digits, no sign or leading zero. */
static bool
parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t i, n = strlen(s);

    if (n == 0 || n > 18 || (n > 1 && s[0] == '0'))
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

#define FAIL(code, ...) audit_failf(f, e->index, PH_RULES, code, __VA_ARGS__)

/* ---- the signer (PH_ENTRY) ---- */

static ql_err
genesis(struct audit_rules *r, const struct ql_entry *e,
        const struct ql_key **key, uint32_t *key_id, struct audit_fail *f,
        struct ql_diag *d)
{
    const char *admin = ql_entry_get_clear(e, "admin_key");
    const char *logk = ql_entry_get_clear(e, "log_key");
    const char *origin = ql_entry_get_clear(e, "origin");
    const char *profile = ql_entry_get_clear(e, "profile");
    const char *zone = ql_entry_get_clear(e, "zone");
    struct ql_diag dd;
    ql_err rc;

    if (strcmp(e->action, "genesis") != 0 || admin == NULL || logk == NULL ||
        origin == NULL)
        return audit_failf(f, 0, PH_ENTRY, QL_EINTEGRITY,
                           "the log does not start with a genesis entry");
    if ((rc = ql_key_parse_vkey(admin, false, &r->admin, &dd)) != QL_OK ||
        (rc = ql_key_parse_vkey(logk, false, &r->log_key, &dd)) != QL_OK) {
        if (rc == QL_ENOMEM)
            return ql_fail(d, rc, NULL);
        return audit_failf(f, 0, PH_ENTRY, QL_EINTEGRITY,
                           "the genesis entry names a malformed key: %s",
                           dd.msg);
    }
    if (strcmp(e->actor, ql_key_name(r->admin)) != 0)
        return audit_failf(f, 0, PH_ENTRY, QL_EINTEGRITY,
                           "the genesis entry is not signed by the "
                           "administrator it names");
    if (r->trust != NULL && !ql_key_same_public(r->trust, r->admin))
        return audit_failf(f, 0, PH_ENTRY, QL_EVERIFY,
                           "the genesis entry names another administrator "
                           "than the trusted key");
    if (strlen(origin) > QL_ORIGIN_MAX ||
        strcmp(ql_key_name(r->log_key), origin) != 0)
        return audit_failf(f, 0, PH_ENTRY, QL_EINTEGRITY,
                           "the log key is not named after the log '%s'",
                           origin);
    if (r->expect_origin != NULL && strcmp(r->expect_origin, origin) != 0)
        return audit_failf(f, 0, PH_ENTRY, QL_EINTEGRITY,
                           "the log is '%s' but its source says '%s'", origin,
                           r->expect_origin);
    if (profile == NULL || strcmp(profile, ql_profile_name(r->p)) != 0)
        return audit_failf(f, 0, PH_ENTRY, QL_EINTEGRITY,
                           "the log's profile '%s' is not '%s'",
                           profile ? profile : "-", ql_profile_name(r->p));
    /* Leads' registration dates, and so the scope of commitments, are
       local dates in the county's zone. */
    if (ql_zone_parse(zone != NULL ? zone : QL_ZONE_DEFAULT, &r->zone,
                      &dd) != QL_OK)
        return audit_failf(f, 0, PH_ENTRY, QL_EINTEGRITY,
                           "the genesis entry names an unknown zone '%s'",
                           zone);
    if (r->state != NULL && strcmp(r->state->origin, origin) != 0)
        return ql_fail(d, QL_EUSAGE, "the state file is for log '%s', not "
                                     "'%s'",
                       r->state->origin, origin);
    snprintf(r->origin, sizeof r->origin, "%s", origin);
    r->admin_id = ql_key_id(r->admin, 0);
    r->who_admin = true;
    *key = r->admin;
    *key_id = r->admin_id;
    return QL_OK;
}

ql_err
audit_rules_signer(struct audit_rules *r, const struct ql_entry *e,
                   const struct ql_key **key, uint32_t *key_id,
                   struct audit_fail *f, struct ql_diag *d)
{
    uint32_t i;

    r->who_admin = false;
    r->who = NO_ONE;
    if (e->index == 0)
        return genesis(r, e, key, key_id, f, d);
    if (r->admin == NULL)
        return audit_failf(f, e->index, PH_ENTRY, QL_EINTEGRITY,
                           "the log does not start with a genesis entry");
    if (strcmp(e->action, "genesis") == 0)
        return audit_failf(f, e->index, PH_ENTRY, QL_EINTEGRITY,
                           "a second genesis entry");
    if (strcmp(e->actor, ql_key_name(r->admin)) == 0) {
        r->who_admin = true;
        *key = r->admin;
        *key_id = r->admin_id;
        return QL_OK;
    }
    if (!smap_get(&r->pr_map, e->actor, &i))
        return audit_failf(f, e->index, PH_ENTRY, QL_EVERIFY,
                           "signed by an unregistered key '%s'", e->actor);
    if (r->prs[i].revoked)
        return audit_failf(f, e->index, PH_ENTRY, QL_EVERIFY,
                           "signed by the revoked key '%s'", e->actor);
    r->who = i;
    *key = r->prs[i].key;
    *key_id = r->prs[i].key_id;
    return QL_OK;
}

/* ---- registry entries ---- */

static bool
kind_valid(const char *kind)
{
    return strcmp(kind, QL_KIND_TOWNSHIP) == 0 ||
           strcmp(kind, QL_KIND_MEMBER) == 0 ||
           strcmp(kind, QL_KIND_SUPERVISION) == 0 ||
           strcmp(kind, QL_KIND_AUDIT) == 0;
}

static ql_err
unit_add(struct audit_rules *r, const struct ql_entry *e, struct audit_fail *f,
         struct ql_diag *d)
{
    const char *kind = ql_entry_get_clear(e, "kind");
    const char *name = ql_entry_get_clear(e, "name");
    struct unit_rec *u;
    uint32_t at;
    ql_err rc;

    if (e->unit[0] == '\0' || strcmp(e->unit, SECRET_SCOPE) == 0)
        return FAIL(QL_EINTEGRITY, "adds a unit without a valid code");
    if (find_unit(r, e->unit, &at))
        return FAIL(QL_EINTEGRITY, "adds unit %s a second time", e->unit);
    if (kind == NULL || !kind_valid(kind) || name == NULL || *name == '\0')
        return FAIL(QL_EINTEGRITY, "adds unit %s without a valid kind and "
                                   "name",
                    e->unit);
    if ((rc = grow((void **)&r->units, &r->capunits, r->nunits, sizeof *u,
                   d)) != QL_OK)
        return rc;
    u = &r->units[r->nunits];
    if ((u->code = strdup(e->unit)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    snprintf(u->kind, sizeof u->kind, "%s", kind);
    if ((rc = smap_put(&r->unit_map, u->code, (uint32_t)r->nunits, d)) !=
        QL_OK) {
        free(u->code);
        return rc;
    }
    r->nunits++;
    return QL_OK;
}

static ql_err
principal_add(struct audit_rules *r, const struct ql_entry *e,
              struct audit_fail *f, struct ql_diag *d)
{
    const char *vkey = ql_entry_get_clear(e, "key");
    const char *roles = ql_entry_get_clear(e, "roles");
    struct principal_rec *p;
    struct ql_key *k = NULL;
    struct ql_diag dd;
    uint32_t unit, at;
    ql_err rc;

    if (vkey == NULL || roles == NULL || *roles == '\0' ||
        strlen(roles) > 255)
        return FAIL(QL_EINTEGRITY, "registers a principal without a key "
                                   "and roles");
    if (ql_county_roles_valid(roles, &dd) != QL_OK)
        return FAIL(QL_EINTEGRITY, "registers a principal with roles the "
                                   "registry refuses: %s",
                    dd.msg);
    if ((rc = ql_key_parse_vkey(vkey, false, &k, &dd)) == QL_ENOMEM)
        return ql_fail(d, rc, NULL);
    if (rc != QL_OK)
        return FAIL(QL_EINTEGRITY, "registers a malformed key: %s", dd.msg);
    if (strcmp(ql_key_name(k), ql_key_name(r->admin)) == 0 ||
        smap_get(&r->pr_map, ql_key_name(k), &at)) {
        rc = FAIL(QL_EINTEGRITY, "registers the name '%s' a second time",
                  ql_key_name(k));
        goto out;
    }
    if (!find_unit(r, e->unit, &unit)) {
        rc = FAIL(QL_EINTEGRITY, "registers '%s' in unknown unit '%s'",
                  ql_key_name(k), e->unit);
        goto out;
    }
    if ((rc = grow((void **)&r->prs, &r->capprs, r->nprs, sizeof *p, d)) !=
        QL_OK)
        goto out;
    p = &r->prs[r->nprs];
    memset(p, 0, sizeof *p);
    if ((p->name = strdup(ql_key_name(k))) == NULL ||
        (p->roles = strdup(roles)) == NULL) {
        free(p->name);
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    if ((rc = smap_put(&r->pr_map, p->name, (uint32_t)r->nprs, d)) != QL_OK) {
        free(p->name);
        free(p->roles);
        goto out;
    }
    p->key = k;
    p->key_id = ql_key_id(k, 0);
    k = NULL;
    p->unit = unit;
    r->nprs++;
out:
    ql_key_free(k);
    return rc;
}

static ql_err
principal_revoke(struct audit_rules *r, const struct ql_entry *e,
                 struct audit_fail *f)
{
    const char *name = ql_entry_get_clear(e, "principal");
    uint32_t i;

    if (name == NULL || !smap_get(&r->pr_map, name, &i) ||
        r->prs[i].revoked)
        return FAIL(QL_EINTEGRITY, "revokes '%s', who is not an active "
                                   "principal",
                    name ? name : "-");
    if (strcmp(e->unit, unit_code(r, r->prs[i].unit)) != 0)
        return FAIL(QL_EINTEGRITY, "revokes '%s' of unit %s under unit %s",
                    name, unit_code(r, r->prs[i].unit), e->unit);
    r->prs[i].revoked = true;
    /* As the engine marks them: every key the principal could hold, its
       own unit's and, from a supervision unit, every one; the next
       writer of each starts a new epoch, and only then may one start. */
    {
        bool all = strcmp(unit_kind(r, r->prs[i].unit),
                          QL_KIND_SUPERVISION) == 0;
        size_t k;

        for (k = 0; k < r->nscopes; k++)
            if (all || strcmp(r->scopes[k].name, e->unit) == 0)
                r->scopes[k].stale = true;
    }
    return QL_OK;
}

static ql_err
workflow_add(struct audit_rules *r, const struct ql_entry *e,
             struct audit_fail *f, struct ql_diag *d)
{
    const char *name = ql_entry_get_clear(e, "name");
    const char *file = ql_entry_get_clear(e, "file");
    struct ql_workflow *wf = NULL;
    struct ql_diag dd;
    ql_err rc;

    if (e->payload == NULL || strlen(e->workflow) != 64)
        return FAIL(QL_EINTEGRITY, "registers a workflow without its source "
                                   "and hash");
    if (find_wf(r, e->workflow) != NULL)
        return FAIL(QL_EINTEGRITY, "registers workflow %s a second time",
                    e->workflow);
    rc = ql_workflow_load(file ? file : "workflow",
                          (const char *)e->payload, e->payload_len, &wf, &dd);
    if (rc == QL_ENOMEM)
        return ql_fail(d, rc, "%s", dd.msg);
    if (rc != QL_OK)
        return FAIL(QL_EINTEGRITY, "registers a workflow that does not "
                                   "load: %s",
                    dd.msg);
    if (strcmp(ql_workflow_hash(wf), e->workflow) != 0) {
        rc = FAIL(QL_EINTEGRITY, "registers workflow %s, but its source "
                                 "hashes to %s",
                  e->workflow, ql_workflow_hash(wf));
        goto out;
    }
    if (name == NULL || strcmp(name, ql_workflow_name(wf)) != 0) {
        rc = FAIL(QL_EINTEGRITY, "registers workflow '%s' under the name "
                                 "'%s'",
                  ql_workflow_name(wf), name ? name : "-");
        goto out;
    }
    /* A lead's record numbers versions and states in 16 bits. */
    if (r->nwfs >= QL_AUDIT_LEADS_SMALL_MAX ||
        ql_workflow_state_count(wf) >= QL_AUDIT_LEADS_SMALL_MAX) {
        rc = ql_fail(d, QL_ETOOBIG, "the verifier follows at most %u "
                                    "workflow versions of at most %u states",
                     QL_AUDIT_LEADS_SMALL_MAX - 1,
                     QL_AUDIT_LEADS_SMALL_MAX - 1);
        goto out;
    }
    if ((rc = grow((void **)&r->wfs, &r->capwfs, r->nwfs, sizeof *r->wfs,
                   d)) != QL_OK)
        goto out;
    snprintf(r->wfs[r->nwfs].hash, sizeof r->wfs[r->nwfs].hash, "%s",
             e->workflow);
    r->wfs[r->nwfs].wf = wf;
    wf = NULL;
    r->nwfs++;
out:
    ql_workflow_free(wf);
    return rc;
}

static ql_err
calendar_set(const struct ql_entry *e, struct audit_fail *f,
             struct ql_diag *d)
{
    const char *name = ql_entry_get_clear(e, "name");
    struct ql_calendar *cal = NULL;
    struct ql_diag dd;
    ql_err rc;

    if (e->payload == NULL)
        return FAIL(QL_EINTEGRITY, "sets a calendar without its text");
    rc = ql_calendar_parse(name ? name : "calendar", (const char *)e->payload,
                           e->payload_len, &cal, &dd);
    ql_calendar_free(cal);
    if (rc == QL_ENOMEM)
        return ql_fail(d, rc, "%s", dd.msg);
    if (rc != QL_OK)
        return FAIL(QL_EINTEGRITY, "sets a calendar that does not parse: %s",
                    dd.msg);
    return QL_OK;
}

/* ---- grants ---- */

static struct scope_rec *
find_scope(struct audit_rules *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nscopes; i++)
        if (strcmp(r->scopes[i].name, name) == 0)
            return &r->scopes[i];
    return NULL;
}

static bool
holds(const struct epoch_rec *s, uint32_t who)
{
    return (size_t)who / 8 < s->nbytes &&
           (s->holders[who / 8] & (1u << (who % 8))) != 0;
}

static ql_err
set_holder(struct epoch_rec *s, uint32_t who, struct ql_diag *d)
{
    if ((size_t)who / 8 >= s->nbytes) {
        size_t n = (size_t)who / 8 + 16;
        uint8_t *p = realloc(s->holders, n);

        if (p == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        memset(p + s->nbytes, 0, n - s->nbytes);
        s->holders = p;
        s->nbytes = n;
    }
    s->holders[who / 8] |= (uint8_t)(1u << (who % 8));
    return QL_OK;
}

/*
 * May principal i hold the key of scope (a unit code, or SECRET)? The
 * engine's own roles (admin, auditor) read no content; the secret
 * envelope, one key for every unit, is held in supervision units only.
 */
static bool
may_hold(const struct audit_rules *r, const char *scope, uint32_t i)
{
    const struct principal_rec *p = &r->prs[i];
    bool supervision =
        strcmp(unit_kind(r, p->unit), QL_KIND_SUPERVISION) == 0;

    if (has_role(p->roles, "admin") || has_role(p->roles, "auditor"))
        return false;
    if (strcmp(scope, SECRET_SCOPE) == 0)
        return supervision && secret_reader(r, p->roles);
    return strcmp(unit_code(r, p->unit), scope) == 0 || supervision;
}

/*
 * A grant seals one epoch of a scope's data key to recipients, each an
 * active principal allowed to read the scope; the key of one epoch never
 * changes (its fingerprint). Its signer starts the next epoch and may hold
 * it, or holds the epoch granted. For the current epoch, the principal who
 * started it also passes: a new epoch's first grants may take several
 * entries, and the starter's own grant need not be in the first; anyone
 * else must hold it (naming oneself among the recipients is not enough).
 * An older epoch goes to a newcomer only from a principal who holds it, so
 * a lead sealed before a revocation stays movable (decisions.md section 8).
 */
static ql_err
grant(struct audit_rules *r, const struct ql_entry *e, struct audit_fail *f,
      struct ql_diag *d)
{
    const char *epoch_s = ql_entry_get_clear(e, "epoch");
    const char *fp = ql_entry_get_clear(e, "fingerprint");
    const char *recipients = ql_entry_get_clear(e, "recipients");
    struct scope_rec *s;
    struct epoch_rec *ep;
    uint32_t list[256];
    size_t nlist = 0, at = 0, i;
    uint64_t epoch = 0;
    uint32_t u;
    const char *p;
    ql_err rc;

    if (r->who == NO_ONE)
        return FAIL(QL_EINTEGRITY, "a grant by the administrator, who holds "
                                   "no data key");
    if (strcmp(e->unit, SECRET_SCOPE) != 0 && !find_unit(r, e->unit, &u))
        return FAIL(QL_EINTEGRITY, "grants a key of unknown unit '%s'",
                    e->unit);
    if (epoch_s == NULL || !parse_u64(epoch_s, &epoch) || epoch == 0 ||
        fp == NULL || strlen(fp) != 64 || recipients == NULL)
        return FAIL(QL_EINTEGRITY, "a grant without a valid epoch, "
                                   "fingerprint and recipients");
    for (p = recipients; *p != '\0';) {
        const char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);
        char name[QL_KEY_NAME_MAX + 1];
        size_t len;
        uint32_t who;

        if (n == 0 || n > QL_KEY_NAME_MAX || nlist == 256 ||
            at + 2 > e->payload_len)
            return FAIL(QL_EINTEGRITY, "grants do not match their "
                                       "recipients");
        memcpy(name, p, n);
        name[n] = '\0';
        len = (size_t)e->payload[at] << 8 | e->payload[at + 1];
        if (at + 2 + len > e->payload_len)
            return FAIL(QL_EINTEGRITY, "grants do not match their "
                                       "recipients");
        at += 2 + len;
        if (!smap_get(&r->pr_map, name, &who) || r->prs[who].revoked)
            return FAIL(QL_EINTEGRITY, "grants unit %s's key to '%s', who is "
                                       "not an active principal",
                        e->unit, name);
        if (!may_hold(r, e->unit, who))
            return FAIL(QL_EINTEGRITY, "grants unit %s's key to '%s', who may "
                                       "not read it",
                        e->unit, name);
        list[nlist++] = who;
        p += n;
        if (*p == ' ')
            p++;
    }
    if (at != e->payload_len || nlist == 0)
        return FAIL(QL_EINTEGRITY, "grants do not match their recipients");
    if ((s = find_scope(r, e->unit)) == NULL) {
        if ((rc = grow((void **)&r->scopes, &r->capscopes, r->nscopes,
                       sizeof *s, d)) != QL_OK)
            return rc;
        s = &r->scopes[r->nscopes];
        memset(s, 0, sizeof *s);
        if ((s->name = strdup(e->unit)) == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        r->nscopes++;
    }
    if (epoch > (uint64_t)s->neps + 1)
        return FAIL(QL_EINTEGRITY, "grants epoch %llu of unit %s's key, "
                                   "which is neither its current epoch %zu "
                                   "nor the next nor an earlier one",
                    (unsigned long long)epoch, e->unit, s->neps);
    if (epoch == (uint64_t)s->neps + 1) {
        if (!may_hold(r, e->unit, r->who))
            return FAIL(QL_EINTEGRITY, "'%s' grants unit %s's key, which "
                                       "they do not hold",
                        r->prs[r->who].name, e->unit);
        /* A new key only where there is none, or a revocation made the
           latest one stale: starting one at will would lock out every
           holder left off its grants. */
        if (s->neps > 0 && !s->stale)
            return FAIL(QL_EINTEGRITY, "starts epoch %llu of unit %s's key, "
                                       "but epoch %zu is not stale",
                        (unsigned long long)epoch, e->unit, s->neps);
        s->stale = false;
        if ((rc = grow((void **)&s->eps, &s->capeps, s->neps, sizeof *ep,
                       d)) != QL_OK)
            return rc;
        ep = &s->eps[s->neps++];
        memset(ep, 0, sizeof *ep);
        snprintf(ep->fp, sizeof ep->fp, "%s", fp);
        ep->starter = r->who;
    } else {
        ep = &s->eps[epoch - 1];
        if (strcmp(ep->fp, fp) != 0)
            return FAIL(QL_EINTEGRITY, "grants another key for unit %s "
                                       "epoch %llu",
                        e->unit, (unsigned long long)epoch);
        if (epoch == (uint64_t)s->neps && !holds(ep, r->who) &&
            ep->starter != r->who)
            return FAIL(QL_EINTEGRITY, "'%s' grants unit %s's key, which "
                                       "they do not hold",
                        r->prs[r->who].name, e->unit);
        if (epoch < (uint64_t)s->neps && !holds(ep, r->who))
            return FAIL(QL_EINTEGRITY, "'%s' grants epoch %llu of unit %s's "
                                       "key, which they never held",
                        r->prs[r->who].name, (unsigned long long)epoch,
                        e->unit);
    }
    for (i = 0; i < nlist; i++)
        if ((rc = set_holder(ep, list[i], d)) != QL_OK)
            return rc;
    return QL_OK;
}

/* ---- leads ---- */

/*
 * A lead as the rules see it: its record in the table (ql_audit_leads.h)
 * and its number there. The record pointer stays valid while no lead is
 * added; side records are looked up again after anything that may move
 * them.
 */
struct lead_ref {
    uint32_t at;
    struct audit_lead *l;
};

static const struct ql_workflow *
lead_wf(const struct audit_rules *r, const struct lead_ref *lr)
{
    return r->wfs[lr->l->wf].wf;
}

/* The lead's state as its workflow spells it (borrowed from it). */
static const char *
lead_state(const struct audit_rules *r, const struct lead_ref *lr)
{
    return ql_workflow_state_at(lead_wf(r, lr), lr->l->state)->name;
}

/* The position of state name in wf, which the workflow loader checked. */
static bool
state_pos(const struct ql_workflow *wf, const char *name, uint16_t *pos)
{
    const struct ql_wf_state *s = ql_workflow_state(wf, name);
    size_t i, n = ql_workflow_state_count(wf);

    for (i = 0; s != NULL && i < n && i < QL_AUDIT_LEADS_SMALL_MAX; i++)
        if (ql_workflow_state_at(wf, i) == s) {
            *pos = (uint16_t)i;
            return true;
        }
    return false;
}

static const struct audit_lead_side *
lead_side(const struct audit_rules *r, const struct lead_ref *lr)
{
    return audit_leads_side(r->leads, lr->at);
}

static bool
lead_pending(const struct audit_rules *r, const struct lead_ref *lr)
{
    const struct audit_lead_side *x = lead_side(r, lr);

    return x != NULL && x->pending_t != NULL;
}

static bool
took(const struct audit_rules *r, const struct lead_ref *lr,
     const char *transition, uint32_t who)
{
    const struct audit_lead_side *x = lead_side(r, lr);
    uint32_t i;

    for (i = 0; x != NULL && i < x->ntook; i++)
        if (x->took[i].who == who &&
            strcmp(x->took[i].transition, transition) == 0)
            return true;
    return false;
}

/* True when a distinct_from rule of wf names transition. */
static bool
referenced(const struct ql_workflow *wf, const char *transition)
{
    size_t i, j, n = ql_workflow_transition_count(wf);

    for (i = 0; i < n; i++) {
        const struct ql_wf_transition *t = ql_workflow_transition_at(wf, i);

        for (j = 0; j < t->ndistinct; j++)
            if (strcmp(t->distinct_from[j], transition) == 0)
                return true;
    }
    return false;
}

/* Remembers who took t on the lead, when a distinct_from rule may ask. */
static ql_err
remember(struct audit_rules *r, const struct lead_ref *lr,
         const struct ql_wf_transition *t, struct ql_diag *d)
{
    if (!referenced(lead_wf(r, lr), t->name))
        return QL_OK;
    return audit_leads_took_add(r->leads, lr->at, t->name, r->who, d);
}

/* The actor must sit in the lead's unit or in a supervision unit. */
static ql_err
check_unit(struct audit_rules *r, const struct ql_entry *e, uint32_t unit,
           struct audit_fail *f)
{
    const struct principal_rec *p = &r->prs[r->who];

    if (p->unit == unit ||
        strcmp(unit_kind(r, p->unit), QL_KIND_SUPERVISION) == 0)
        return QL_OK;
    return FAIL(QL_EINTEGRITY, "'%s' of unit %s may not act on lead %s of "
                               "unit %s",
                p->name, unit_code(r, p->unit), e->lead, unit_code(r, unit));
}

/*
 * The unit a transition leaves the lead in: the one the entry names when
 * the transition assigns (its field may be sealed, so the entry's unit
 * line is what the auditor has), which must handle leads; else the lead's.
 */
static ql_err
unit_after(struct audit_rules *r, const struct ql_entry *e,
           const struct lead_ref *lr, const struct ql_wf_transition *t,
           uint32_t *out, struct audit_fail *f)
{
    uint32_t u;

    if (t->assign_field == NULL) {
        if (strcmp(e->unit, unit_code(r, lr->l->unit)) != 0)
            return FAIL(QL_EINTEGRITY, "moves lead %s to unit %s, but '%s' "
                                       "does not assign",
                        e->lead, e->unit, t->name);
        *out = lr->l->unit;
        return QL_OK;
    }
    if (!find_unit(r, e->unit, &u) ||
        (strcmp(unit_kind(r, u), QL_KIND_TOWNSHIP) != 0 &&
         strcmp(unit_kind(r, u), QL_KIND_MEMBER) != 0))
        return FAIL(QL_EINTEGRITY, "assigns lead %s to unit %s, which "
                                   "handles no leads",
                    e->lead, e->unit);
    *out = u;
    return QL_OK;
}

/* Moves the lead to state t->to of its workflow, in unit, at entry e. */
static void
lead_set(struct audit_rules *r, const struct ql_entry *e,
         const struct lead_ref *lr, const struct ql_wf_transition *t,
         uint32_t unit)
{
    uint16_t pos = 0;

    audit_lead_set_last(lr->l, e->index);

    /* The workflow loader refuses a transition to an unknown state. */
    if (state_pos(lead_wf(r, lr), t->to, &pos))
        lr->l->state = pos;
    lr->l->unit = unit;
}

/*
 * The clear fields of a lead entry (not the engine's own, which start with
 * '_') must be fields its workflow writes in clear, with values the
 * workflow allows, as the engine checks them: a sealed field in clear
 * would leak, and a value off the list would mislead every figure and
 * the sample rule.
 */
static ql_err
check_clear(const struct ql_workflow *wf, const struct ql_entry *e,
            struct audit_fail *f)
{
    struct ql_diag dd;
    size_t i;

    for (i = 0; i < e->nclear; i++) {
        const char *name = e->clear[i].name;
        const struct ql_wf_field *fd;

        if (name[0] == '_')
            continue;
        fd = ql_workflow_field(wf, name);
        if (fd == NULL || fd->vis != QL_VIS_CLEAR)
            return FAIL(QL_EINTEGRITY, "writes field '%s' of lead %s in "
                                       "clear, which workflow '%s' %s",
                        name, e->lead, ql_workflow_name(wf),
                        fd == NULL ? "does not have" : "seals");
        if (ql_workflow_check_value(wf, fd, e->clear[i].value, &dd) != QL_OK)
            return FAIL(QL_EINTEGRITY, "field '%s' of lead %s: %s", name,
                        e->lead, dd.msg);
    }
    return QL_OK;
}

/* The hash of an entry's clear fields, the engine's own left out. */
static ql_err
clear_hash(const struct audit_rules *r, const struct ql_entry *e,
           uint8_t out[QL_HASH_LEN], struct ql_diag *d)
{
    struct ql_hash_stream *hs = NULL;
    size_t i;
    ql_err rc;

    if ((rc = ql_hash_stream_new(r->p, &hs, d)) != QL_OK)
        return rc;
    for (i = 0; i < e->nclear; i++) {
        if (e->clear[i].name[0] == '_')
            continue;
        /* Names and one-line values, each ended by a newline. */
        ql_hash_stream_add(hs, e->clear[i].name, strlen(e->clear[i].name));
        ql_hash_stream_add(hs, "\n", 1);
        ql_hash_stream_add(hs, e->clear[i].value, strlen(e->clear[i].value));
        ql_hash_stream_add(hs, "\n", 1);
    }
    ql_hash_stream_end(hs, out);
    return QL_OK;
}

/*
 * What the engine checks of the leads and units a transition's fields
 * name, where the verifier can see them: the unit an assigning move or
 * approval leaves the lead in is the one its clear field names, and a
 * merge names another registered lead that is not merged itself. A field
 * the workflow seals, or one set by an earlier entry the verifier does
 * not follow, the auditor cannot check.
 */
static ql_err
check_named(struct audit_rules *r, const struct ql_entry *e,
            const struct lead_ref *lr, const struct ql_wf_transition *t,
            bool propose, struct audit_fail *f)
{
    const struct audit_lead_side *x;
    const char *v;
    uint32_t at;

    if (!propose && t->assign_field != NULL &&
        (v = ql_entry_get_clear(e, t->assign_field)) != NULL &&
        strcmp(v, e->unit) != 0)
        return FAIL(QL_EINTEGRITY, "moves lead %s to unit %s, but its "
                                   "field '%s' names %s",
                    e->lead, e->unit, t->assign_field, v);
    if (t->merge_field == NULL)
        return QL_OK;
    v = ql_entry_get_clear(e, t->merge_field);
    if (v == NULL && strcmp(t->merge_field, QL_FIELD_MASTER) == 0 &&
        (x = lead_side(r, lr)) != NULL && x->master != 0)
        v = r->masters[x->master - 1].id;
    if (v == NULL)
        return QL_OK;
    if (strcmp(v, e->lead) == 0 || !audit_leads_find(r->leads, v, &at))
        return FAIL(QL_EINTEGRITY, "merges lead %s into '%s', which is no "
                                   "other registered lead",
                    e->lead, v);
    {
        const struct lead_ref m = {at, audit_leads_at(r->leads, at)};

        if (strcmp(lead_state(r, &m), t->to) == 0)
            return FAIL(QL_EINTEGRITY, "merges lead %s into lead %s, which "
                                       "is itself merged",
                        e->lead, v);
    }
    return QL_OK;
}

static ql_err
lead_add(struct audit_rules *r, const struct ql_entry *e, struct audit_fail *f,
         struct ql_diag *d)
{
    const struct principal_rec *p = &r->prs[r->who];
    struct wf_rec *w = find_wf(r, e->workflow);
    struct audit_lead rec;
    struct ql_diag dd;
    uint32_t unit, at;
    uint16_t pos = 0;
    int32_t day = 0;
    int64_t t = 0;
    ql_err rc;

    if (audit_leads_find(r->leads, e->lead, &at))
        return FAIL(QL_EINTEGRITY, "registers lead %s a second time",
                    e->lead);
    if (w == NULL)
        return FAIL(QL_EINTEGRITY, "registers lead %s on workflow %s, which "
                                   "is not registered",
                    e->lead, e->workflow[0] ? e->workflow : "-");
    if (!find_unit(r, e->unit, &unit) ||
        strcmp(unit_kind(r, unit), QL_KIND_AUDIT) == 0)
        return FAIL(QL_EINTEGRITY, "registers lead %s in unit %s, which "
                                   "holds no leads",
                    e->lead, e->unit);
    if ((rc = check_unit(r, e, unit, f)) != QL_OK)
        return rc;
    if (!ql_workflow_may_create(w->wf, p->roles))
        return FAIL(QL_EINTEGRITY, "'%s' holds no role that may register "
                                   "leads",
                    p->name);
    if (strcmp(e->to, ql_workflow_initial(w->wf)) != 0 ||
        e->from[0] != '\0' || e->transition[0] != '\0' ||
        !state_pos(w->wf, e->to, &pos))
        return FAIL(QL_EINTEGRITY, "registers lead %s in state %s, not in "
                                   "the workflow's initial state %s",
                    e->lead, e->to[0] ? e->to : "-",
                    ql_workflow_initial(w->wf));
    if (ql_time_parse(e->time, strlen(e->time), &t, &dd) != QL_OK ||
        ql_zone_local_date(t, r->zone, &day, &dd) != QL_OK)
        return FAIL(QL_EINTEGRITY, "registers lead %s at a time that has "
                                   "no local date",
                    e->lead);
    if ((rc = check_clear(w->wf, e, f)) != QL_OK)
        return rc;
    memset(&rec, 0, sizeof rec);
    rec.unit = unit;
    rec.wf = (uint16_t)(w - r->wfs);
    rec.state = pos;
    rec.day = day;
    audit_lead_set_last(&rec, e->index);
    return audit_leads_add(r->leads, e->lead, &rec, &at, d);
}

/* lead.move and lead.propose: a transition the actor takes or proposes. */
static ql_err
lead_move(struct audit_rules *r, const struct ql_entry *e,
          const struct lead_ref *lr, bool propose, struct audit_fail *f,
          struct ql_diag *d)
{
    const struct principal_rec *p = &r->prs[r->who];
    const struct ql_workflow *wf = lead_wf(r, lr);
    const char *state = lead_state(r, lr);
    const struct audit_lead_side *x = lead_side(r, lr);
    const struct ql_wf_transition *t;
    const char *approval = ql_entry_get_clear(e, "_approval");
    struct audit_lead_side *w;
    uint32_t unit = lr->l->unit;
    size_t i;
    ql_err rc;

    if (x != NULL && x->pending_t != NULL)
        return FAIL(QL_EINTEGRITY, "moves lead %s while proposal %llu waits "
                                   "for approval",
                    e->lead, (unsigned long long)x->pending_idx);
    if ((t = ql_workflow_transition(wf, e->transition)) == NULL)
        return FAIL(QL_EINTEGRITY, "workflow '%s' of lead %s has no "
                                   "transition '%s'",
                    ql_workflow_name(wf), e->lead,
                    e->transition[0] ? e->transition : "-");
    if (!roles_allow(p->roles, t->roles, t->nroles))
        return FAIL(QL_EINTEGRITY, "'%s' holds no role that may take '%s' "
                                   "(roles: %s)",
                    p->name, t->name, p->roles);
    if ((rc = check_unit(r, e, lr->l->unit, f)) != QL_OK)
        return rc;
    if (strcmp(e->from, state) != 0)
        return FAIL(QL_EINTEGRITY, "says lead %s was in state %s, but it was "
                                   "in %s",
                    e->lead, e->from[0] ? e->from : "-", state);
    if (!ql_wf_transition_from(t, state))
        return FAIL(QL_EINTEGRITY, "transition '%s' does not leave state %s",
                    t->name, state);
    for (i = 0; i < t->ndistinct; i++)
        if (took(r, lr, t->distinct_from[i], r->who))
            return FAIL(QL_EINTEGRITY, "'%s' took '%s' on lead %s and may "
                                       "not take '%s'",
                        p->name, t->distinct_from[i], e->lead, t->name);
    if (strcmp(e->to, t->to) != 0)
        return FAIL(QL_EINTEGRITY, "moves lead %s to state %s, but '%s' "
                                   "leads to %s",
                    e->lead, e->to[0] ? e->to : "-", t->name, t->to);
    if (propose) {
        if (t->approval == NULL || approval == NULL ||
            strcmp(approval, t->approval) != 0)
            return FAIL(QL_EINTEGRITY, "proposes '%s' for approval by '%s', "
                                       "but it needs %s%s",
                        t->name, approval ? approval : "-",
                        t->approval ? "role " : "no approval",
                        t->approval ? t->approval : "");
        if (strcmp(e->unit, unit_code(r, lr->l->unit)) != 0)
            return FAIL(QL_EINTEGRITY, "a proposal moves lead %s to unit %s",
                        e->lead, e->unit);
    } else {
        if (t->approval != NULL)
            return FAIL(QL_EINTEGRITY, "takes '%s' without the approval of a "
                                       "%s",
                        t->name, t->approval);
        if ((rc = unit_after(r, e, lr, t, &unit, f)) != QL_OK)
            return rc;
    }
    if ((rc = check_clear(wf, e, f)) != QL_OK ||
        (rc = check_named(r, e, lr, t, propose, f)) != QL_OK ||
        (rc = remember(r, lr, t, d)) != QL_OK)
        return rc;
    if (!propose) {
        lead_set(r, e, lr, t, unit);
        return QL_OK;
    }
    if ((rc = audit_leads_side_get(r->leads, lr->at, &w, d)) != QL_OK)
        return rc;
    w->pending_t = t;
    w->pending_idx = e->index;
    w->proposer = r->who;
    return clear_hash(r, e, w->proposed, d);
}

/* The proposal an approval or rejection names must be the waiting one. */
static ql_err
check_proposal(const struct audit_rules *r, const struct ql_entry *e,
               const struct lead_ref *lr, struct audit_fail *f)
{
    const struct audit_lead_side *x = lead_side(r, lr);
    const char *num = ql_entry_get_clear(e, "_proposal");
    uint64_t idx = 0;

    if (x == NULL || x->pending_t == NULL)
        return FAIL(QL_EINTEGRITY, "settles a proposal on lead %s, which "
                                   "has none waiting",
                    e->lead);
    if (num == NULL || !parse_u64(num, &idx) || idx != x->pending_idx ||
        strcmp(e->transition, x->pending_t->name) != 0)
        return FAIL(QL_EINTEGRITY, "settles proposal %s ('%s') of lead %s, "
                                   "but the waiting one is %llu ('%s')",
                    num ? num : "-", e->transition, e->lead,
                    (unsigned long long)x->pending_idx,
                    x->pending_t->name);
    return QL_OK;
}

/* Ends the lead's waiting proposal; its side record may go with it. */
static void
settle_proposal(struct audit_rules *r, const struct lead_ref *lr)
{
    struct audit_lead_side *x = audit_leads_side(r->leads, lr->at);

    if (x != NULL)
        x->pending_t = NULL;
    audit_leads_side_trim(r->leads, lr->at);
}

static ql_err
lead_approve(struct audit_rules *r, const struct ql_entry *e,
             const struct lead_ref *lr, struct audit_fail *f,
             struct ql_diag *d)
{
    const struct principal_rec *p = &r->prs[r->who];
    const char *state = lead_state(r, lr);
    const struct ql_wf_transition *t;
    uint8_t mine[QL_HASH_LEN];
    uint32_t unit;
    ql_err rc;

    if ((rc = check_proposal(r, e, lr, f)) != QL_OK)
        return rc;
    t = lead_side(r, lr)->pending_t;
    if (!has_role(p->roles, t->approval))
        return FAIL(QL_EINTEGRITY, "'%s' does not hold role '%s' that "
                                   "approves '%s'",
                    p->name, t->approval, t->name);
    if (r->who == lead_side(r, lr)->proposer)
        return FAIL(QL_EINTEGRITY, "'%s' proposed '%s' and may not also "
                                   "approve it",
                    p->name, t->name);
    if ((rc = check_unit(r, e, lr->l->unit, f)) != QL_OK)
        return rc;
    if (strcmp(e->from, state) != 0 || !ql_wf_transition_from(t, state))
        return FAIL(QL_EINTEGRITY, "approves '%s' from state %s, but lead %s "
                                   "is in %s",
                    t->name, e->from[0] ? e->from : "-", e->lead, state);
    if (strcmp(e->to, t->to) != 0)
        return FAIL(QL_EINTEGRITY, "moves lead %s to state %s, but '%s' "
                                   "leads to %s",
                    e->lead, e->to[0] ? e->to : "-", t->name, t->to);
    /* Two people agree on one change: the approval carries out the
       proposal's fields, not others of the approver's choosing. */
    if ((rc = clear_hash(r, e, mine, d)) != QL_OK)
        return rc;
    if (memcmp(mine, lead_side(r, lr)->proposed, QL_HASH_LEN) != 0)
        return FAIL(QL_EINTEGRITY, "approves '%s' on lead %s with clear "
                                   "fields its proposal (entry %llu) did "
                                   "not make",
                    t->name, e->lead,
                    (unsigned long long)lead_side(r, lr)->pending_idx);
    if ((rc = unit_after(r, e, lr, t, &unit, f)) != QL_OK ||
        (rc = check_named(r, e, lr, t, false, f)) != QL_OK ||
        (rc = remember(r, lr, t, d)) != QL_OK)
        return rc;
    lead_set(r, e, lr, t, unit);
    settle_proposal(r, lr);
    return QL_OK;
}

static ql_err
lead_reject(struct audit_rules *r, const struct ql_entry *e,
            const struct lead_ref *lr, struct audit_fail *f)
{
    const struct principal_rec *p = &r->prs[r->who];
    const char *state = lead_state(r, lr);
    const struct ql_wf_transition *t;
    ql_err rc;

    if ((rc = check_proposal(r, e, lr, f)) != QL_OK)
        return rc;
    t = lead_side(r, lr)->pending_t;
    if (r->who != lead_side(r, lr)->proposer &&
        !has_role(p->roles, t->approval))
        return FAIL(QL_EINTEGRITY, "'%s' may not decline '%s': only its "
                                   "proposer or a %s may",
                    p->name, t->name, t->approval);
    if ((rc = check_unit(r, e, lr->l->unit, f)) != QL_OK)
        return rc;
    if (strcmp(e->from, state) != 0 || strcmp(e->to, state) != 0 ||
        strcmp(e->unit, unit_code(r, lr->l->unit)) != 0)
        return FAIL(QL_EINTEGRITY, "a rejection changes lead %s's state or "
                                   "unit",
                    e->lead);
    /* A declined proposal counts as the lead's last entry, as the
       store's last_idx counts it. */
    audit_lead_set_last(lr->l, e->index);
    settle_proposal(r, lr);
    return QL_OK;
}

static ql_err
lead_migrate(struct audit_rules *r, const struct ql_entry *e,
             const struct lead_ref *lr, struct audit_fail *f)
{
    const char *from_wf = ql_entry_get_clear(e, "_from_workflow");
    struct wf_rec *old = &r->wfs[lr->l->wf], *w = find_wf(r, e->workflow);
    const char *state = lead_state(r, lr);
    uint16_t pos = 0;

    if (lead_pending(r, lr))
        return FAIL(QL_EINTEGRITY, "migrates lead %s while a proposal waits",
                    e->lead);
    if (from_wf == NULL || strcmp(from_wf, old->hash) != 0)
        return FAIL(QL_EINTEGRITY, "migrates lead %s from workflow %s, but "
                                   "it follows %s",
                    e->lead, from_wf ? from_wf : "-", old->hash);
    if (w == NULL || w == old ||
        strcmp(ql_workflow_name(w->wf), ql_workflow_name(old->wf)) != 0)
        return FAIL(QL_EINTEGRITY, "migrates lead %s to workflow %s, which "
                                   "is not another registered version of "
                                   "'%s'",
                    e->lead, e->workflow[0] ? e->workflow : "-",
                    ql_workflow_name(old->wf));
    if (strcmp(e->from, state) != 0 ||
        strcmp(e->unit, unit_code(r, lr->l->unit)) != 0 ||
        !state_pos(w->wf, e->to, &pos))
        return FAIL(QL_EINTEGRITY, "migrates lead %s from state %s to %s, "
                                   "but it is in %s and the new version "
                                   "must have the state",
                    e->lead, e->from[0] ? e->from : "-",
                    e->to[0] ? e->to : "-", state);
    lr->l->wf = (uint16_t)(w - r->wfs);
    lr->l->state = pos;
    audit_lead_set_last(lr->l, e->index);
    return QL_OK;
}

/* The number of the master record for lead id master, made if new. */
static ql_err
master_find(struct audit_rules *r, const char *master, uint32_t *out,
            struct ql_diag *d)
{
    struct master_rec *m;
    ql_err rc;

    if (smap_get(&r->master_map, master, out))
        return QL_OK;
    if (r->nmasters >= UINT32_MAX - 1)
        return ql_fail(d, QL_ETOOBIG, "too many merged leads");
    if ((rc = grow((void **)&r->masters, &r->capmasters, r->nmasters,
                   sizeof *r->masters, d)) != QL_OK)
        return rc;
    m = &r->masters[r->nmasters];
    if ((m->id = strdup(master)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    m->named = 0;
    if ((rc = smap_put(&r->master_map, m->id, (uint32_t)r->nmasters, d)) !=
        QL_OK) {
        free(m->id);
        return rc;
    }
    *out = (uint32_t)r->nmasters++;
    return QL_OK;
}

/* Lead at's clear master_lead is now master. */
static ql_err
name_master(struct audit_rules *r, uint32_t at, const char *master,
            struct ql_diag *d)
{
    const struct audit_lead_side *x = audit_leads_side(r->leads, at);
    struct audit_lead_side *w;
    uint32_t m;
    ql_err rc;

    if ((rc = master_find(r, master, &m, d)) != QL_OK)
        return rc;
    if (x != NULL && x->master == m + 1)
        return QL_OK;
    if ((rc = audit_leads_side_get(r->leads, at, &w, d)) != QL_OK)
        return rc;
    if (w->master != 0)
        r->masters[w->master - 1].named--;
    r->masters[m].named++;
    w->master = m + 1;
    return QL_OK;
}

/*
 * The clear fields the sample rule reads, as the store's lead_clear keeps
 * them: the last value a lead.add, lead.move or lead.approve entry of the
 * lead gave each.
 */
static ql_err
follow_clear(struct audit_rules *r, const struct ql_entry *e,
             struct ql_diag *d)
{
    const char *finding = ql_entry_get_clear(e, QL_FIELD_FINDING);
    const char *feedback = ql_entry_get_clear(e, QL_FIELD_FEEDBACK);
    const char *master = ql_entry_get_clear(e, QL_FIELD_MASTER);
    struct audit_lead *l;
    uint32_t at;

    if (finding == NULL && feedback == NULL && master == NULL)
        return QL_OK;
    if (!audit_leads_find(r->leads, e->lead, &at))
        return ql_fail(d, QL_EINTEGRITY, "lead %s is not followed", e->lead);
    l = audit_leads_at(r->leads, at);
    if (finding != NULL)
        audit_lead_set_flag(l, AUDIT_LEAD_NEGATIVE,
                            strcmp(finding, QL_FINDING_NEGATIVE) == 0);
    if (feedback != NULL)
        audit_lead_set_flag(l, AUDIT_LEAD_UNSATISFIED,
                            strcmp(feedback, QL_FEEDBACK_UNSATISFIED) == 0);
    return master != NULL ? name_master(r, at, master, d) : QL_OK;
}

/* The sample rule's must: a negative finding, and a duplicate merged into
   the lead or a reporter not satisfied. */
static bool
lead_mandatory(const struct audit_rules *r, uint32_t at)
{
    const struct audit_lead *l = audit_leads_at(r->leads, at);
    unsigned flags = audit_lead_flags(l);
    uint32_t m;

    if (!(flags & AUDIT_LEAD_NEGATIVE))
        return false;
    if (flags & AUDIT_LEAD_UNSATISFIED)
        return true;
    return smap_get(&r->master_map, audit_leads_id(r->leads, at), &m) &&
           r->masters[m].named > 0;
}

static ql_err
lead_entry(struct audit_rules *r, const struct ql_entry *e,
           struct audit_fail *f, struct ql_diag *d)
{
    struct lead_ref lr;
    ql_err rc;

    if (!ql_entry_word_valid(e->lead))
        return FAIL(QL_EINTEGRITY, "a %s entry that names no lead",
                    e->action);
    if (strcmp(e->action, "lead.migrate") == 0) {
        if (!is_admin(r))
            return FAIL(QL_EINTEGRITY, "only the administrator migrates "
                                       "leads");
    } else if (r->who == NO_ONE) {
        return FAIL(QL_EINTEGRITY, "the administrator does not handle "
                                   "leads");
    }
    if (e->index > AUDIT_LEAD_LAST_MAX)
        return ql_fail(d, QL_ETOOBIG, "entry %llu is past the entries the "
                                      "verifier follows",
                       (unsigned long long)e->index);
    if (strcmp(e->action, "lead.add") == 0)
        return (rc = lead_add(r, e, f, d)) != QL_OK ? rc
                                                    : follow_clear(r, e, d);
    if (!audit_leads_find(r->leads, e->lead, &lr.at))
        return FAIL(QL_EINTEGRITY, "acts on lead %s, which was never "
                                   "registered",
                    e->lead);
    lr.l = audit_leads_at(r->leads, lr.at);
    if (strcmp(e->action, "lead.migrate") == 0)
        return lead_migrate(r, e, &lr, f);
    if (strcmp(e->workflow, r->wfs[lr.l->wf].hash) != 0)
        return FAIL(QL_EINTEGRITY, "names workflow %s, but lead %s follows "
                                   "%s",
                    e->workflow[0] ? e->workflow : "-", e->lead,
                    r->wfs[lr.l->wf].hash);
    if (strcmp(e->action, "lead.move") == 0)
        return (rc = lead_move(r, e, &lr, false, f, d)) != QL_OK
                   ? rc
                   : follow_clear(r, e, d);
    if (strcmp(e->action, "lead.propose") == 0)
        return lead_move(r, e, &lr, true, f, d);
    if (strcmp(e->action, "lead.approve") == 0)
        return (rc = lead_approve(r, e, &lr, f, d)) != QL_OK
                   ? rc
                   : follow_clear(r, e, d);
    if (strcmp(e->action, "lead.reject") == 0)
        return lead_reject(r, e, &lr, f);
    return FAIL(QL_EINTEGRITY, "unknown action '%s'", e->action);
}

/* ---- commitments ---- */

/*
 * A declaration binds a checkpoint: the root of the log's first n entries,
 * n no larger than its own index and past its commitment's entry (after);
 * a spot-check sample takes its seed from one the same way, past its
 * declaration, so that nobody can pick a convenient seed among the roots
 * the log had before. The root is recomputed from the source's stored
 * hashes, which the verifier has compared with the entries up to here.
 * what names the pair for messages ("declaration", "sample's seed").
 */
static ql_err
bound_root(struct audit_rules *r, const struct ql_entry *e,
           const char *size_key, const char *root_key, uint64_t after,
           const char *what, struct audit_fail *f, struct ql_diag *d)
{
    const char *size_s = ql_entry_get_clear(e, size_key);
    const char *root_s = ql_entry_get_clear(e, root_key);
    uint8_t root[QL_HASH_LEN], mine[QL_HASH_LEN];
    struct ql_diag dd;
    uint64_t n = 0;
    size_t len = 0;
    ql_err rc;

    if (size_s == NULL || root_s == NULL || !parse_u64(size_s, &n) ||
        ql_base64_decode(root, sizeof root, &len, root_s, strlen(root_s),
                         &dd) != QL_OK ||
        len != QL_HASH_LEN)
        return FAIL(QL_EINTEGRITY, "a %s that binds no valid checkpoint",
                    what);
    if (n == 0 || n > e->index)
        return FAIL(QL_EINTEGRITY, "a %s binds a checkpoint of size %llu, "
                                   "beyond the entries before it",
                    what, (unsigned long long)n);
    if (n <= after)
        return FAIL(QL_EINTEGRITY, "a %s binds a checkpoint of size %llu, "
                                   "from before entry %llu it must follow",
                    what, (unsigned long long)n, (unsigned long long)after);
    rc = r->root(r->root_ctx, n, mine, &dd);
    if (rc == QL_EINTEGRITY)
        return FAIL(QL_EINTEGRITY, "the %s's checkpoint cannot be "
                                   "recomputed: %s",
                    what, dd.msg);
    if (rc != QL_OK)
        return ql_fail(d, rc, "%s", dd.msg);
    if (memcmp(mine, root, QL_HASH_LEN) != 0)
        return FAIL(QL_EINTEGRITY, "the %s binds a root at size %llu that "
                                   "is not the log's",
                    what, (unsigned long long)n);
    return QL_OK;
}

/* commit.sign: remembers the cut-off of the unit's commitment. */
static ql_err
commit_sign(struct audit_rules *r, const struct ql_entry *e, uint32_t unit,
            struct audit_fail *f, struct ql_diag *d)
{
    const char *cycle = ql_entry_get_clear(e, "cycle");
    const char *cutoff = ql_entry_get_clear(e, "cutoff");
    const char *deadline = ql_entry_get_clear(e, "deadline");
    const char *text = ql_entry_get_clear(e, "text");
    const char *kind = unit_kind(r, unit);
    struct commit_rec *c;
    struct ql_diag dd;
    int32_t day = 0, dl = 0, today = 0;
    int64_t t = 0;
    size_t i;
    ql_err rc;

    if (cycle == NULL || !ql_entry_word_valid(cycle) ||
        strlen(cycle) > QL_CYCLE_MAX || cutoff == NULL ||
        ql_date_parse(cutoff, strlen(cutoff), &day, &dd) != QL_OK)
        return FAIL(QL_EINTEGRITY, "a commitment without a valid cycle and "
                                   "cut-off");
    if (deadline == NULL ||
        ql_date_parse(deadline, strlen(deadline), &dl, &dd) != QL_OK ||
        dl < day)
        return FAIL(QL_EINTEGRITY, "a commitment without a valid deadline "
                                   "on or after its cut-off");
    if (text == NULL || *text == '\0' || strlen(text) > QL_COMMIT_TEXT_MAX)
        return FAIL(QL_EINTEGRITY, "a commitment without its text");
    if (strcmp(kind, QL_KIND_TOWNSHIP) != 0 &&
        strcmp(kind, QL_KIND_MEMBER) != 0)
        return FAIL(QL_EINTEGRITY, "a commitment of unit %s, a %s unit, "
                                   "which makes none",
                    e->unit, kind);
    /* Signed while the deadline was still ahead, in the county's time. */
    if (ql_time_parse(e->time, strlen(e->time), &t, &dd) != QL_OK ||
        ql_zone_local_date(t, r->zone, &today, &dd) != QL_OK || today > dl)
        return FAIL(QL_EINTEGRITY, "a commitment signed after its "
                                   "deadline %s",
                    deadline);
    for (i = 0; i < r->ncommits; i++)
        if (r->commits[i].unit == unit &&
            strcmp(r->commits[i].cycle, cycle) == 0)
            return FAIL(QL_EINTEGRITY, "signs a second commitment of unit "
                                       "%s for %s",
                        e->unit, cycle);
    if ((rc = grow((void **)&r->commits, &r->capcommits, r->ncommits,
                   sizeof *r->commits, d)) != QL_OK)
        return rc;
    c = &r->commits[r->ncommits++];
    c->unit = unit;
    snprintf(c->cycle, sizeof c->cycle, "%s", cycle);
    c->cutoff = day;
    c->idx = e->index;
    return QL_OK;
}

/* The commitment of the entry's unit for the cycle it names. */
static ql_err
find_commit(struct audit_rules *r, const struct ql_entry *e, uint32_t *out,
            struct audit_fail *f)
{
    const char *cycle = ql_entry_get_clear(e, "cycle");
    uint32_t u;
    size_t i;

    if (cycle == NULL || !find_unit(r, e->unit, &u))
        return FAIL(QL_EINTEGRITY, "a %s that names no unit and cycle",
                    e->action);
    for (i = 0; i < r->ncommits; i++)
        if (r->commits[i].unit == u &&
            strcmp(r->commits[i].cycle, cycle) == 0) {
            *out = (uint32_t)i;
            return QL_OK;
        }
    return FAIL(QL_EINTEGRITY, "a %s for the commitment of unit %s for %s, "
                               "which was never signed",
                e->action, e->unit, cycle);
}

/* A sample or verification names a declaration of its commitment. */
static ql_err
check_declaration(const struct audit_rules *r, const struct ql_entry *e,
                  uint32_t ci, struct decl_rec **out, struct audit_fail *f)
{
    const char *num = ql_entry_get_clear(e, "declaration");
    uint64_t idx = 0;
    size_t i;

    if (num != NULL && parse_u64(num, &idx))
        for (i = 0; i < r->ndecls; i++)
            if (r->decls[i].idx == idx && r->decls[i].commit == ci) {
                *out = &r->decls[i];
                return QL_OK;
            }
    return FAIL(QL_EINTEGRITY, "a %s that names entry %s, which is no "
                               "declaration of unit %s for %s",
                e->action, num ? num : "-", e->unit, r->commits[ci].cycle);
}

/*
 * Gathers into r->scope, sorted by id, the leads of commitment c's unit
 * registered on or before its cut-off (docs/commitments.md section 3);
 * with spot, only those in a state a spot_pass leaves (the sample's
 * population, section 2.3). A scan of every lead: declarations are a few
 * per unit and cycle, and the table keeps no per-unit list to spare the
 * memory of one.
 */
static ql_err
gather(struct audit_rules *r, const struct commit_rec *c, bool spot,
       size_t *n, struct ql_diag *d)
{
    uint64_t i, total = audit_leads_count(r->leads);
    size_t k = 0;
    ql_err rc;

    for (i = 0; i < total; i++) {
        const struct audit_lead *l = audit_leads_at(r->leads, (uint32_t)i);

        if (l->unit != c->unit || l->day > c->cutoff)
            continue;
        if (spot) {
            const struct ql_workflow *wf = r->wfs[l->wf].wf;
            const struct ql_wf_transition *t =
                ql_workflow_transition(wf, QL_SPOT_PASS);

            if (t == NULL ||
                !ql_wf_transition_from(t,
                                       ql_workflow_state_at(wf, l->state)
                                           ->name))
                continue;
        }
        if ((rc = grow((void **)&r->scope, &r->capscope, k, sizeof *r->scope,
                       d)) != QL_OK)
            return rc;
        r->scope[k++] = (uint32_t)i;
    }
    audit_leads_sort(r->leads, r->scope, k);
    *n = k;
    return QL_OK;
}

/* The lines are hashed through a buffer of this many bytes. */
#define LINES_CHUNK 65536

/*
 * The hex hash of the n gathered leads' lines: "<id> <last entry>\n" for
 * a scope hash (with_last), "<id>\n" for a population hash. They go
 * through a fixed buffer into the hash, so a unit of a million leads costs
 * no more memory than one of ten.
 */
static ql_err
hash_lines(struct audit_rules *r, size_t n, bool with_last, char hex[65],
           struct ql_diag *d)
{
    struct ql_hash_stream *hs = NULL;
    uint8_t h[QL_HASH_LEN];
    size_t i, at = 0;
    char *p;
    ql_err rc;

    if (r->caplines < LINES_CHUNK) {
        if ((p = realloc(r->lines, LINES_CHUNK)) == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        r->lines = p;
        r->caplines = LINES_CHUNK;
    }
    if ((rc = ql_hash_stream_new(r->p, &hs, d)) != QL_OK)
        return rc;
    for (i = 0; i < n; i++) {
        const char *id = audit_leads_id(r->leads, r->scope[i]);

        /* An id has at most QL_ENTRY_WORD_MAX bytes, an index 20 digits. */
        if (r->caplines - at < QL_ENTRY_WORD_MAX + 23) {
            ql_hash_stream_add(hs, r->lines, at);
            at = 0;
        }
        if (with_last)
            at += (size_t)snprintf(
                r->lines + at, r->caplines - at, "%s %llu\n", id,
                (unsigned long long)audit_lead_last(
                    audit_leads_at(r->leads, r->scope[i])));
        else
            at += (size_t)snprintf(r->lines + at, r->caplines - at, "%s\n",
                                   id);
    }
    ql_hash_stream_add(hs, r->lines, at);
    ql_hash_stream_end(hs, h);
    ql_hex_encode(hex, h, sizeof h);
    return QL_OK;
}

/*
 * A declaration or verification states the unit's scope as the log has
 * it before the entry: scope_leads its in-scope leads, scope_hash their
 * lines (docs/commitments.md 2.2). A false scope would let a verification
 * stand for leads that changed, or a declaration leave leads out.
 */
static ql_err
check_scope(struct audit_rules *r, const struct ql_entry *e, uint32_t ci,
            const char *what, struct audit_fail *f, struct ql_diag *d)
{
    const struct commit_rec *c = &r->commits[ci];
    const char *hash = ql_entry_get_clear(e, "scope_hash");
    const char *count = ql_entry_get_clear(e, "scope_leads");
    char hex[2 * QL_HASH_LEN + 1];
    uint64_t claimed = 0;
    size_t n = 0;
    ql_err rc;

    if (hash == NULL || count == NULL || !parse_u64(count, &claimed))
        return FAIL(QL_EINTEGRITY, "a %s without a valid scope_hash and "
                                   "scope_leads",
                    what);
    if ((rc = gather(r, c, false, &n, d)) != QL_OK)
        return rc;
    if (claimed != n)
        return FAIL(QL_EINTEGRITY, "the %s's scope_leads is %llu, but unit "
                                   "%s has %llu in-scope leads",
                    what, (unsigned long long)claimed, e->unit,
                    (unsigned long long)n);
    if ((rc = hash_lines(r, n, true, hex, d)) != QL_OK)
        return rc;
    if (strcmp(hex, hash) != 0)
        return FAIL(QL_EINTEGRITY, "the %s's scope_hash is not the hash of "
                                   "unit %s's in-scope leads",
                    what, e->unit);
    return QL_OK;
}

/*
 * A spot-check sample (docs/commitments.md 2.3): its population and
 * population_hash are the unit's in-scope leads a spot_pass may leave, as
 * the log has them before the entry; its mandatory leads are those of the
 * population the rule makes mandatory, from the clear fields the log gave
 * them; and its leads are the mandatory ones plus those the seed draws.
 */
static ql_err
check_sample(struct audit_rules *r, const struct ql_entry *e, uint32_t ci,
             struct audit_fail *f, struct ql_diag *d)
{
    const struct commit_rec *c = &r->commits[ci];
    const char *pop = ql_entry_get_clear(e, "population");
    const char *pop_hash = ql_entry_get_clear(e, "population_hash");
    const char *leads = ql_entry_get_clear(e, "leads");
    const char *mandatory = ql_entry_get_clear(e, "mandatory");
    const char *seed_s = ql_entry_get_clear(e, "seed_root");
    struct ql_sample_candidate *cand = NULL;
    char hex[2 * QL_HASH_LEN + 1], *all = NULL, *must = NULL;
    uint8_t seed[QL_HASH_LEN];
    struct ql_diag dd;
    uint64_t claimed = 0;
    size_t i, n = 0, len = 0;
    ql_err rc;

    if (pop == NULL || pop_hash == NULL || leads == NULL ||
        mandatory == NULL || !parse_u64(pop, &claimed))
        return FAIL(QL_EINTEGRITY, "a sample without a valid population, "
                                   "population_hash, leads and mandatory");
    /* bound_root has checked the seed already. */
    if (seed_s == NULL ||
        ql_base64_decode(seed, sizeof seed, &len, seed_s, strlen(seed_s),
                         &dd) != QL_OK ||
        len != QL_HASH_LEN)
        return FAIL(QL_EINTEGRITY, "a sample's seed that binds no valid "
                                   "checkpoint");
    if ((rc = gather(r, c, true, &n, d)) != QL_OK)
        return rc;
    if (claimed != n)
        return FAIL(QL_EINTEGRITY, "the sample's population is %llu, but "
                                   "unit %s has %llu in-scope leads to "
                                   "spot-check",
                    (unsigned long long)claimed, e->unit,
                    (unsigned long long)n);
    if ((rc = hash_lines(r, n, false, hex, d)) != QL_OK)
        return rc;
    if (strcmp(hex, pop_hash) != 0)
        return FAIL(QL_EINTEGRITY, "the sample's population_hash is not the "
                                   "hash of unit %s's in-scope leads to "
                                   "spot-check",
                    e->unit);
    if ((cand = calloc(n + 1, sizeof *cand)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    for (i = 0; i < n; i++) {
        cand[i].id = audit_leads_id(r->leads, r->scope[i]);
        cand[i].mandatory = lead_mandatory(r, r->scope[i]);
    }
    if ((rc = ql_commit_draw(r->p, seed, e->unit, c->cycle, cand, n, NULL,
                             d)) != QL_OK)
        goto out;
    if ((all = ql_commit_join_chosen(cand, n, false)) == NULL ||
        (must = ql_commit_join_chosen(cand, n, true)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    if (strcmp(must, mandatory) != 0)
        rc = FAIL(QL_EINTEGRITY, "the sample's mandatory leads are not "
                                 "the ones the rule makes mandatory in its "
                                 "population, in order");
    else if (strcmp(all, leads) != 0)
        rc = FAIL(QL_EINTEGRITY, "the sample's leads are not the ones its "
                                 "seed draws from its population");
out:
    free(all);
    free(must);
    free(cand);
    return rc;
}

static ql_err
commit_entry(struct audit_rules *r, const struct ql_entry *e,
             struct audit_fail *f, struct ql_diag *d)
{
    const struct principal_rec *p;
    bool sample = strcmp(e->action, "commit.sample") == 0;
    struct decl_rec *decl = NULL;
    uint32_t ci = 0;
    ql_err rc;

    if (r->who == NO_ONE)
        return FAIL(QL_EINTEGRITY, "the administrator makes no "
                                   "commitments");
    p = &r->prs[r->who];
    if (strcmp(e->action, "commit.sign") == 0 ||
        strcmp(e->action, "commit.declare") == 0) {
        if (!has_role(p->roles, "head") ||
            strcmp(unit_code(r, p->unit), e->unit) != 0)
            return FAIL(QL_EINTEGRITY, "'%s' is not the head of unit %s and "
                                       "may not %s its commitment",
                        p->name, e->unit[0] ? e->unit : "-",
                        strcmp(e->action, "commit.sign") == 0 ? "sign"
                                                              : "declare");
        if (strcmp(e->action, "commit.sign") == 0)
            return commit_sign(r, e, p->unit, f, d);
        if ((rc = find_commit(r, e, &ci, f)) != QL_OK ||
            (rc = bound_root(r, e, "checkpoint_size", "checkpoint_root",
                             r->commits[ci].idx, "declaration", f, d)) !=
                QL_OK ||
            (rc = check_scope(r, e, ci, "declaration", f, d)) != QL_OK ||
            (rc = grow((void **)&r->decls, &r->capdecls, r->ndecls,
                       sizeof *r->decls, d)) != QL_OK)
            return rc;
        r->decls[r->ndecls].idx = e->index;
        r->decls[r->ndecls].commit = ci;
        r->decls[r->ndecls].sampled = false;
        r->decls[r->ndecls].sample_idx = 0;
        r->ndecls++;
        r->declarations++;
        return QL_OK;
    }
    if (strcmp(e->action, "commit.verify") != 0 && !sample)
        return FAIL(QL_EINTEGRITY, "unknown action '%s'", e->action);
    if (!has_role(p->roles, "inspector") ||
        strcmp(unit_kind(r, p->unit), QL_KIND_SUPERVISION) != 0)
        return FAIL(QL_EINTEGRITY, "'%s' is not an inspector of a "
                                   "supervision unit and may not %s",
                    p->name,
                    sample ? "draw a spot-check sample"
                           : "verify a declaration");
    if ((rc = find_commit(r, e, &ci, f)) != QL_OK ||
        (rc = check_declaration(r, e, ci, &decl, f)) != QL_OK)
        return rc;
    if (sample) {
        /* Drawing again until a convenient sample comes up is what one
           sample per declaration forbids; a seed from a checkpoint before
           the declaration, what bound_root forbids. */
        if (decl->sampled)
            return FAIL(QL_EINTEGRITY, "a second sample of declaration "
                                       "%llu",
                        (unsigned long long)decl->idx);
        if ((rc = bound_root(r, e, "seed_size", "seed_root", decl->idx,
                             "sample's seed", f, d)) != QL_OK ||
            (rc = check_sample(r, e, ci, f, d)) != QL_OK)
            return rc;
        decl->sampled = true;
        decl->sample_idx = e->index;
        return QL_OK;
    }
    /* A verification stands on the declaration's sample. */
    {
        const char *num = ql_entry_get_clear(e, "sample");
        uint64_t idx = 0;

        if (!decl->sampled)
            return FAIL(QL_EINTEGRITY, "verifies declaration %llu, which "
                                       "has no sample",
                        (unsigned long long)decl->idx);
        if (num == NULL || !parse_u64(num, &idx) || idx != decl->sample_idx)
            return FAIL(QL_EINTEGRITY, "verifies declaration %llu with "
                                       "sample %s, but its sample is %llu",
                        (unsigned long long)decl->idx, num ? num : "-",
                        (unsigned long long)decl->sample_idx);
    }
    return check_scope(r, e, ci, "verification", f, d);
}

/* ---- dispatch ---- */

ql_err
audit_rules_apply(struct audit_rules *r, const struct ql_entry *e,
                  struct audit_fail *f, struct ql_diag *d)
{
    const char *a = e->action;
    bool registry = strcmp(a, "unit.add") == 0 ||
                    strcmp(a, "principal.add") == 0 ||
                    strcmp(a, "principal.revoke") == 0 ||
                    strcmp(a, "workflow.add") == 0 ||
                    strcmp(a, "calendar.set") == 0;

    if (e->index == 0)
        return QL_OK; /* the genesis entry, set up by the signer check */
    if (registry && !is_admin(r))
        return FAIL(QL_EINTEGRITY, "a registry entry (%s) not signed by the "
                                   "administrator",
                    a);
    if (strcmp(a, "unit.add") == 0)
        return unit_add(r, e, f, d);
    if (strcmp(a, "principal.add") == 0)
        return principal_add(r, e, f, d);
    if (strcmp(a, "principal.revoke") == 0)
        return principal_revoke(r, e, f);
    if (strcmp(a, "workflow.add") == 0)
        return workflow_add(r, e, f, d);
    if (strcmp(a, "calendar.set") == 0)
        return calendar_set(e, f, d);
    if (strcmp(a, "grant") == 0)
        return grant(r, e, f, d);
    if (strncmp(a, "lead.", 5) == 0)
        return lead_entry(r, e, f, d);
    if (strncmp(a, "commit.", 7) == 0)
        return commit_entry(r, e, f, d);
    return FAIL(QL_EINTEGRITY, "unknown action '%s'", a);
}

/* ---- auditors ---- */

const struct ql_key *
audit_rules_auditor(const struct audit_rules *r, const char *name, char *why,
                    size_t size)
{
    const struct principal_rec *p;
    uint32_t i;

    if (!smap_get(&r->pr_map, name, &i)) {
        snprintf(why, size, "'%s' is not a registered principal", name);
        return NULL;
    }
    p = &r->prs[i];
    if (p->revoked) {
        snprintf(why, size, "'%s' has been revoked", name);
        return NULL;
    }
    if (!has_role(p->roles, "auditor") ||
        strcmp(unit_kind(r, p->unit), QL_KIND_AUDIT) != 0) {
        snprintf(why, size, "'%s' is not an auditor of an audit unit", name);
        return NULL;
    }
    return p->key;
}
