/* The county: registry, data keys, applying and replaying entries. */
#include "ql_county.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ql_calendar.h"
#include "ql_codec.h"
#include "ql_county_impl.h"
#include "ql_file.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_seal.h"
#include "ql_status.h"
#include "ql_store.h"
#include "ql_workflow.h"

/* Most recipients one grant entry seals a key to (keeps it under 64 KiB). */
#define GRANT_BATCH 150

static char *
dup_cat(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s%s", a, b);
    return s;
}

bool
county_has_role(const char *roles, const char *role)
{
    size_t n = strlen(role);
    const char *p = roles;

    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (len == n && memcmp(p, role, n) == 0)
            return true;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return false;
}

/* ---- opening ---- */

/*
 * Reads the genesis entry: the administrator's key and the county's zone.
 * Its signature is not checked here: it is signed by the key it names, so
 * whoever could rewrite it could sign it again, and the check proved
 * nothing that `audit verify --trust` (which holds the administrator's key
 * from outside the store) does not prove, for a twentieth of a `lead move`.
 */
static ql_err
load_genesis(struct ql_county *c, struct ql_diag *d)
{
    struct ql_entry e;
    char *note = NULL;
    size_t len = 0;
    const char *v;
    ql_err rc;

    ql_entry_init(&e);
    if ((rc = ql_log_read(c->log, 0, &note, &len, &e, d)) != QL_OK) {
        if (rc == QL_ENOTFOUND)
            rc = ql_fail(d, QL_ESTORE, "store '%s' has no genesis entry",
                         c->path);
        goto out;
    }
    if (strcmp(e.action, "genesis") != 0 ||
        (v = ql_entry_get_clear(&e, "admin_key")) == NULL) {
        rc = ql_fail(d, QL_EINTEGRITY, "entry 0 is not a genesis entry");
        goto out;
    }
    if ((rc = ql_key_parse_vkey(v, false, &c->admin, d)) != QL_OK)
        goto out;
    /* The log key it names: writes check the key file against it. */
    if ((v = ql_entry_get_clear(&e, "log_key")) != NULL &&
        (rc = ql_key_parse_vkey(v, false, &c->log_pub, d)) != QL_OK)
        goto out;
    v = ql_entry_get_clear(&e, "zone");
    if ((rc = ql_zone_parse(v != NULL ? v : QL_ZONE_DEFAULT, &c->zone, d)) !=
        QL_OK)
        goto out;
out:
    ql_entry_release(&e);
    free(note);
    return rc;
}

ql_err
ql_county_open(const char *path, unsigned flags, struct ql_county **out,
               struct ql_diag *d)
{
    struct ql_county *c;
    ql_err rc;

    if ((c = calloc(1, sizeof *c)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    c->readonly = (flags & QL_COUNTY_READONLY) != 0;
    c->now = (int64_t)time(NULL);
    if ((c->path = strdup(path)) == NULL ||
        (c->log_key_path = dup_cat(path, ".logkey")) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto fail;
    }
    if ((rc = ql_store_open(path, c->readonly ? QL_STORE_READONLY : 0,
                            &c->store, d)) != QL_OK ||
        (rc = ql_log_open(c->store, &c->log, d)) != QL_OK ||
        (rc = load_genesis(c, d)) != QL_OK)
        goto fail;
    *out = c;
    return QL_OK;
fail:
    ql_county_close(c);
    return rc;
}

void
ql_county_close(struct ql_county *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->nwfs; i++)
        ql_workflow_free(c->wfs[i].wf);
    free(c->wfs);
    for (i = 0; i < c->ndks; i++) {
        ql_datakey_free(c->dks[i].key);
        ql_key_free(c->dks[i].opener);
    }
    free(c->dks);
    free(c->whos);
    free(c->wkeys);
    free(c->settled);
    ql_lead_cache_drop(c);
    ql_calendar_free(c->calendar);
    ql_key_free(c->log_key);
    ql_key_free(c->log_pub);
    ql_key_free(c->admin);
    ql_log_free(c->log);
    ql_store_close(c->store);
    free(c->log_key_path);
    free(c->path);
    free(c);
}

void
ql_county_set_now(struct ql_county *c, int64_t now)
{
    c->now = now;
}

int64_t
ql_county_now(const struct ql_county *c)
{
    return c->now;
}

void
ql_county_set_actor(struct ql_county *c, const struct ql_key *k)
{
    /* Cached keys remember whose grant opened them (cached_key). */
    c->actor = k;
}

ql_err
ql_county_set_log_key_path(struct ql_county *c, const char *path,
                           struct ql_diag *d)
{
    char *p = strdup(path);

    if (p == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    free(c->log_key_path);
    c->log_key_path = p;
    return QL_OK;
}

struct ql_store *
ql_county_store(struct ql_county *c)
{
    return c->store;
}

struct ql_log *
ql_county_log(struct ql_county *c)
{
    return c->log;
}

const char *
ql_county_origin(const struct ql_county *c)
{
    return ql_log_origin(c->log);
}

int32_t
ql_county_zone(const struct ql_county *c)
{
    return c->zone;
}

/* ---- principals and units ---- */

ql_err
county_unit_kind(struct ql_county *c, const char *code, char *kind,
                 size_t size, struct ql_diag *d)
{
    static const char SQL[] = "SELECT kind FROM units WHERE code = ?1";
    struct ql_stmt *st = NULL;
    struct county_kind *k = NULL;
    const char *found;
    size_t h = 5381, n;
    const char *p;
    bool row = false;
    ql_err rc;

    /*
     * Every registration and every assignment asks for a unit's kind; in
     * a batch only a registry entry adds a unit (and a unit's kind never
     * changes), so the answers found are kept till one comes.
     */
    if (c->batch) {
        for (p = code; *p != '\0'; p++)
            h = h * 33 + (unsigned char)*p;
        k = &c->kinds[h % COUNTY_KINDS];
        if (strcmp(k->code, code) == 0 && k->code[0] != '\0') {
            county_copy_text(kind, size, k->kind);
            return QL_OK;
        }
    }
    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, code, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (!row) {
        rc = ql_fail(d, QL_ENOTFOUND, "unknown unit '%s'", code);
        goto out;
    }
    found = ql_stmt_text(st, 0);
    county_copy_text(kind, size, found);
    n = strlen(code);
    if (k != NULL && n < sizeof k->code && strlen(found) < sizeof k->kind) {
        memcpy(k->code, code, n + 1);
        memcpy(k->kind, found, strlen(found) + 1);
    }
out:
    ql_stmt_done(st);
    return rc;
}

/*
 * The registry row of principal name; with vkey, also its registered
 * verifier key (caller-owned), from the same row, so resolving an actor
 * prepares one statement.
 */
static ql_err
principal_row(struct ql_county *c, const char *name, struct county_actor *who,
              bool *revoked, char **vkey, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT p.unit, p.roles, u.kind, p.revoked_idx IS NOT NULL, p.vkey "
        "FROM principals p JOIN units u ON u.code = p.unit WHERE p.name = ?1";
    struct ql_stmt *st = NULL;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, name, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (!row) {
        rc = ql_fail(d, QL_ENOTFOUND, "unknown principal '%s'", name);
        goto out;
    }
    if (vkey != NULL && (*vkey = strdup(ql_stmt_text(st, 4))) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    memset(who, 0, sizeof *who);
    snprintf(who->name, sizeof who->name, "%s", name);
    snprintf(who->unit, sizeof who->unit, "%s", ql_stmt_text(st, 0));
    snprintf(who->roles, sizeof who->roles, "%s", ql_stmt_text(st, 1));
    snprintf(who->kind, sizeof who->kind, "%s", ql_stmt_text(st, 2));
    who->admin = county_has_role(who->roles, "admin");
    if (revoked != NULL)
        *revoked = ql_stmt_int(st, 3) != 0;
out:
    ql_stmt_done(st);
    return rc;
}

ql_err
county_principal(struct ql_county *c, const char *name,
                 struct county_actor *who, bool *revoked, struct ql_diag *d)
{
    return principal_row(c, name, who, revoked, NULL, d);
}

/* The registered verifier key of principal name, caller-owned. */
static ql_err
principal_vkey(struct ql_county *c, const char *name, char **vkey,
               struct ql_diag *d)
{
    struct county_actor who;

    return principal_row(c, name, &who, NULL, vkey, d);
}

/*
 * Resolves the acting key: the genesis administrator, or an active
 * principal whose registered key is exactly this one.
 */
static ql_err
resolve_actor(struct ql_county *c, struct county_actor *who,
              struct ql_diag *d)
{
    const char *name = ql_key_name(c->actor);
    char *mine = NULL, *theirs = NULL;
    bool revoked = false;
    ql_err rc;

    if (strcmp(name, ql_key_name(c->admin)) == 0 &&
        ql_key_same_public(c->actor, c->admin)) {
        memset(who, 0, sizeof *who);
        who->admin = true;
        snprintf(who->name, sizeof who->name, "%s", name);
        return QL_OK;
    }
    rc = principal_row(c, name, who, &revoked, &theirs, d);
    if (rc == QL_ENOTFOUND)
        return ql_fail(d, QL_EDENIED, "key '%s' is not registered in this "
                                      "county",
                       name);
    if (rc != QL_OK)
        return rc;
    if ((rc = ql_key_vkey(c->actor, 0, &mine, d)) != QL_OK)
        goto out;
    if (strcmp(mine, theirs) != 0)
        rc = ql_fail(d, QL_EDENIED, "key '%s' is not the key registered "
                                    "under that name",
                     name);
    else if (revoked)
        rc = ql_fail(d, QL_EDENIED, "principal '%s' has been revoked", name);
out:
    free(mine);
    free(theirs);
    return rc;
}

/* ---- the write path ---- */

/* Resolves the actor inside a batch, once per key and registry state. */
static ql_err
batch_actor(struct ql_county *c, struct county_actor *who, struct ql_diag *d)
{
    size_t i;
    ql_err rc;

    for (i = 0; i < c->nwhos; i++) {
        if (c->whos[i].key == c->actor) {
            *who = c->whos[i].who;
            return QL_OK;
        }
    }
    if ((rc = resolve_actor(c, who, d)) != QL_OK) {
        county_abort(c);
        return rc;
    }
    if (c->whos == NULL &&
        (c->whos = calloc(COUNTY_WHOS, sizeof *c->whos)) == NULL)
        return QL_OK; /* only the shortcut is lost */
    i = c->nwhos < COUNTY_WHOS ? c->nwhos++ : c->nwhos - 1;
    c->whos[i].key = c->actor;
    c->whos[i].who = *who;
    return QL_OK;
}

/*
 * Reads the log key beside the store. In a deployment where several
 * accounts share the store through its group (DESIGN.md section 11), the
 * key file may be readable by that group: the store file's owner and
 * group say which. The key must be the one the genesis entry names, so a
 * key file put in its place signs nothing.
 */
static ql_err
read_log_key(struct ql_county *c, struct ql_diag *d)
{
    struct stat sb;
    char why[QL_DIAG_MSG];
    ql_err rc;

    if (stat(c->path, &sb) != 0)
        return ql_fail(d, QL_EIO, "cannot stat store '%s': %s", c->path,
                       strerror(errno));
    rc = ql_keyfile_read_shared(c->log_key_path, sb.st_uid, sb.st_gid,
                                &c->log_key, d);
    if (rc != QL_OK) {
        snprintf(why, sizeof why, "%s", d != NULL ? d->msg : "");
        return ql_fail(d, rc == QL_EDENIED || rc == QL_ENOMEM ? rc : QL_EIO,
                       "cannot read the log key: %s", why);
    }
    if (c->log_pub == NULL)
        rc = ql_fail(d, QL_EINTEGRITY, "the genesis entry names no log key");
    else if (strcmp(ql_key_name(c->log_key), ql_county_origin(c)) != 0 ||
             !ql_key_same_public(c->log_key, c->log_pub))
        rc = ql_fail(d, QL_EINTEGRITY, "log key '%s' is not the key this "
                                       "log's genesis entry names",
                     c->log_key_path);
    if (rc != QL_OK) {
        ql_key_free(c->log_key);
        c->log_key = NULL;
    }
    return rc;
}

/*
 * Forgets what the batch learned from the registry: resolved actors,
 * settled write keys and settled holders. Any registry entry and any
 * rollback can change all three.
 */
static void
forget_registry(struct ql_county *c)
{
    size_t i;

    c->nwhos = 0;
    c->nwkeys = 0;
    c->nsettled = 0;
    c->named_wf = NULL;
    for (i = 0; i < COUNTY_KINDS; i++)
        c->kinds[i].code[0] = '\0';
    c->calendar_settled = false;
}

ql_err
county_begin(struct ql_county *c, struct county_actor *who, struct ql_diag *d)
{
    ql_err rc;

    if (c->readonly)
        return ql_fail(d, QL_EDENIED, "the store is open read-only");
    if (c->actor == NULL || !ql_key_has_secret(c->actor))
        return ql_fail(d, QL_EDENIED, "no acting key: give --key or "
                                      "QINGLING_KEY");
    if (c->log_key == NULL && (rc = read_log_key(c, d)) != QL_OK)
        return rc;
    if (c->batch) {
        if (c->batch_failed)
            return ql_fail(d, QL_EUSAGE, "the batch failed and was rolled "
                                         "back");
        /* A refusal inside a batch must not undo the batch's earlier
           writes, so resolve before anything is written. */
        return batch_actor(c, who, d);
    }
    if ((rc = ql_store_begin(c->store, d)) != QL_OK)
        return rc;
    if ((rc = resolve_actor(c, who, d)) != QL_OK)
        ql_store_rollback(c->store);
    return rc;
}

ql_err
ql_county_batch_begin(struct ql_county *c, struct ql_diag *d)
{
    struct county_actor who;
    ql_err rc;

    if (c->batch)
        return ql_fail(d, QL_EUSAGE, "a batch is already open");
    forget_registry(c);
    ql_lead_cache_drop(c);
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if ((rc = ql_log_defer_begin(c->log, d)) != QL_OK) {
        county_abort(c);
        return rc;
    }
    c->batch = true;
    c->batch_failed = false;
    return QL_OK;
}

ql_err
ql_county_batch_commit(struct ql_county *c, struct ql_diag *d)
{
    ql_err rc;

    if (!c->batch)
        return ql_fail(d, QL_EUSAGE, "no batch is open");
    if (c->batch_failed) {
        c->batch = false;
        return ql_fail(d, QL_EUSAGE, "the batch failed and was rolled back");
    }
    /*
     * The lead rows the batch held back, then the status counts it
     * changed, before its checkpoint. A failed flush rolled it back.
     */
    if ((rc = ql_lead_batch_flush(c, d)) != QL_OK) {
        c->batch = false;
        c->batch_failed = false;
        return rc;
    }
    c->batch = false;
    if ((rc = ql_status_counts_flush(c, d)) != QL_OK) {
        county_abort(c);
        return rc;
    }
    rc = county_finish(c, d);
    ql_log_defer_end(c->log);
    forget_registry(c);
    ql_lead_cache_drop(c);
    return rc;
}

void
ql_county_batch_abort(struct ql_county *c)
{
    bool open = c->batch && !c->batch_failed;

    c->batch = false;
    c->batch_failed = false;
    if (open)
        county_abort(c);
}

/* Forgets keys opened in a write that did not commit. */
static void
drop_key_cache(struct ql_county *c)
{
    size_t i;

    for (i = 0; i < c->ndks; i++) {
        ql_datakey_free(c->dks[i].key);
        ql_key_free(c->dks[i].opener);
    }
    c->ndks = 0;
}

ql_err
county_finish(struct ql_county *c, struct ql_diag *d)
{
    ql_err rc;

    if (c->batch)
        return QL_OK; /* the batch commits once, at its end */
    if ((rc = ql_log_checkpoint(c->log, c->log_key, NULL, d)) != QL_OK ||
        (rc = ql_store_commit(c->store, d)) != QL_OK) {
        county_abort(c);
        return rc;
    }
    return QL_OK;
}

void
county_abort(struct ql_county *c)
{
    if (c->batch)
        c->batch_failed = true;
    ql_log_defer_end(c->log);
    ql_store_rollback(c->store);
    drop_key_cache(c);
    forget_registry(c);
    ql_lead_cache_drop(c);
    /*
     * The calendar is kept by the index of the entry that set it, and a
     * calendar set in what was rolled back would share its index with the
     * next one set for real.
     */
    ql_calendar_free(c->calendar);
    c->calendar = NULL;
}

static ql_err apply(struct ql_county *c, const struct ql_entry *e,
                    struct ql_diag *d);

ql_err
county_append(struct ql_county *c, struct ql_entry *e,
              const struct ql_key *const *signers, size_t nsigners,
              uint64_t *idx, struct ql_diag *d)
{
    uint64_t at;
    ql_err rc;

    if ((rc = ql_time_format(c->now, e->time, sizeof e->time, d)) != QL_OK ||
        (rc = ql_entry_set_actor(e, ql_key_name(signers[0]), d)) != QL_OK ||
        (rc = ql_log_append(c->log, e, signers, nsigners, &at, NULL, NULL,
                            d)) != QL_OK ||
        (rc = apply(c, e, d)) != QL_OK)
        return rc;
    if (idx != NULL)
        *idx = at;
    return QL_OK;
}

/* Appends an administrator's registry entry with the actor's signature. */
static ql_err
append_by_actor(struct ql_county *c, struct ql_entry *e, struct ql_diag *d)
{
    const struct ql_key *signers[1] = {c->actor};

    return county_append(c, e, signers, 1, NULL, d);
}

/* ---- creating ---- */

/*
 * Takes the world's access away from a new store and its side files: the
 * store is its account's and its group's (DESIGN.md section 11), and
 * SQLite gives the -wal and -shm files it creates later the store's mode.
 */
static void
no_world(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    struct stat sb;
    size_t i;

    for (i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char *p = dup_cat(path, suffix[i]);

        if (p != NULL && stat(p, &sb) == 0)
            (void)chmod(p, sb.st_mode & 0660);
        free(p);
    }
}

static void
remove_store_files(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    size_t i;

    for (i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char *p = dup_cat(path, suffix[i]);

        if (p != NULL)
            unlink(p);
        free(p);
    }
}

/*
 * Whether base + suffix is free for an init: nothing there, or, at one of
 * its working names (ours), a regular file of this account, which is an
 * earlier init's own. Anything else is refused (QL_EEXIST) and never
 * removed: in the way at a working name, or, beside a store that is not
 * there, that store's log or journal, which SQLite would read into the new
 * store of the same name.
 */
static ql_err
name_free(const char *base, const char *suffix, bool ours, struct ql_diag *d)
{
    struct stat sb;
    char *p = dup_cat(base, suffix);
    ql_err rc = QL_OK;

    if (p == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    if (lstat(p, &sb) != 0)
        rc = QL_OK;
    else if (!ours)
        rc = ql_fail(d, QL_EEXIST,
                     "'%s' is left from a store that is not there; move it "
                     "aside",
                     p);
    else if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid())
        rc = ql_fail(d, QL_EEXIST, "'%s' is in the way; move it aside", p);
    free(p);
    return rc;
}

/*
 * Before an init, under its lock: what an init stopped midway (a kill, a
 * power cut) left is cleared away, and anything else is refused. The
 * store and its log key are made under working names (PATH.part,
 * PATH.logkey.part) and take their own names only once complete: the key
 * as a second name of its working file, then the store, whose working
 * name goes at the moment it takes its own; the key's working name goes
 * last (docs/decisions.md section 38). So a working name is an earlier
 * init's (or backup's) own, and a log key is one an init named just before
 * it stopped only when its working name is its one other name and the
 * store's working file is still there, with no second name. Nothing else
 * is ever removed.
 */
static ql_err
init_clear(const char *path, const char *key_path, const char *tmp,
           const char *key_tmp, struct ql_diag *d)
{
    struct stat sb, kb;
    ql_err rc;

    if (lstat(path, &sb) == 0) {
        /* A finished init stopped before removing its working names. */
        if (ql_file_same(key_tmp, key_path))
            unlink(key_tmp);
        if (ql_file_same(tmp, path))
            unlink(tmp);
        return ql_fail(d, QL_EEXIST, "store '%s' already exists", path);
    }
    if ((rc = name_free(tmp, "", true, d)) != QL_OK ||
        (rc = name_free(tmp, "-wal", true, d)) != QL_OK ||
        (rc = name_free(tmp, "-shm", true, d)) != QL_OK ||
        (rc = name_free(tmp, "-journal", true, d)) != QL_OK ||
        (rc = name_free(key_tmp, "", true, d)) != QL_OK ||
        (rc = name_free(path, "-wal", false, d)) != QL_OK ||
        (rc = name_free(path, "-journal", false, d)) != QL_OK)
        return rc;
    if (lstat(key_path, &kb) == 0) {
        if (!ql_file_same(key_tmp, key_path) || kb.st_nlink != 2 ||
            lstat(tmp, &sb) != 0 || sb.st_nlink != 1)
            return ql_fail(d, QL_EEXIST,
                           "log key '%s' already exists; if no store uses "
                           "it, move it aside",
                           key_path);
        unlink(key_path);
    }
    remove_store_files(tmp);
    unlink(key_tmp);
    return QL_OK;
}

/*
 * Writes the genesis entry and its checkpoint into the new store s, signed
 * by admin and the log key.
 */
static ql_err
init_genesis(struct ql_store *s, const char *origin, const struct ql_key *admin,
             const struct ql_key *log_key, const char *zone, int64_t now,
             struct ql_diag *d)
{
    const struct ql_key *signers[1] = {admin};
    struct ql_log *log = NULL;
    struct ql_entry e;
    char *admin_vkey = NULL, *log_vkey = NULL;
    ql_err rc;

    ql_entry_init(&e);
    snprintf(e.action, sizeof e.action, "genesis");
    if ((rc = ql_key_vkey(admin, 0, &admin_vkey, d)) != QL_OK ||
        (rc = ql_key_vkey(log_key, 0, &log_vkey, d)) != QL_OK ||
        (rc = ql_store_begin(s, d)) != QL_OK ||
        (rc = ql_log_init(s, origin, ql_key_profile(admin), d)) != QL_OK ||
        (rc = ql_log_open(s, &log, d)) != QL_OK ||
        (rc = ql_time_format(now, e.time, sizeof e.time, d)) != QL_OK ||
        (rc = ql_entry_set_actor(&e, ql_key_name(admin), d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "admin_key", admin_vkey, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "log_key", log_vkey, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "origin", origin, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "profile",
                                 ql_profile_name(ql_key_profile(admin)), d)) !=
            QL_OK ||
        (rc = ql_entry_add_clear(&e, "zone", zone, d)) != QL_OK ||
        (rc = ql_log_append(log, &e, signers, 1, NULL, NULL, NULL, d)) !=
            QL_OK ||
        (rc = ql_log_checkpoint(log, log_key, NULL, d)) != QL_OK)
        goto out;
    rc = ql_store_commit(s, d);
out:
    ql_entry_release(&e);
    ql_log_free(log);
    free(admin_vkey);
    free(log_vkey);
    return rc;
}

ql_err
ql_county_create(const char *path, const char *origin,
                 const struct ql_key *admin, const char *zone, int64_t now,
                 struct ql_diag *d)
{
    const struct ql_profile *p = ql_key_profile(admin);
    struct ql_store *s = NULL;
    struct ql_key *log_key = NULL;
    char *key_path = NULL, *tmp = NULL, *key_tmp = NULL, *wal = NULL;
    bool files = false, key_file = false, key_named = false;
    struct stat sb;
    int32_t offset;
    int lock = -1;
    ql_err rc;

    if (zone == NULL)
        zone = QL_ZONE_DEFAULT;
    if ((rc = ql_zone_parse(zone, &offset, d)) != QL_OK)
        return rc;
    if (!ql_key_name_valid(origin))
        return ql_fail(d, QL_EUSAGE,
                       "invalid origin '%s': use a name without spaces or "
                       "'+', such as qinghe.county/leads",
                       origin);
    if (!ql_key_has_secret(admin))
        return ql_fail(d, QL_EUSAGE, "the administrator's secret key is "
                                     "needed to sign the genesis entry");
    if (path == NULL || *path == '\0')
        return ql_fail(d, QL_EUSAGE, "no store given: use --db or QINGLING_DB");
    if ((key_path = dup_cat(path, ".logkey")) == NULL ||
        (tmp = dup_cat(path, ".part")) == NULL ||
        (key_tmp = dup_cat(key_path, ".part")) == NULL ||
        (wal = dup_cat(tmp, "-wal")) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    /* One init at a time in a folder: each clears the working names. */
    if ((rc = ql_file_dir_lock(path, &lock, d)) != QL_OK ||
        (rc = init_clear(path, key_path, tmp, key_tmp, d)) != QL_OK)
        goto out;
    if ((rc = ql_store_open(tmp, QL_STORE_CREATE, &s, d)) != QL_OK)
        goto out;
    files = true;
    no_world(tmp);
    if ((rc = ql_key_generate(p, origin, &log_key, d)) != QL_OK ||
        (rc = ql_keyfile_write(key_tmp, log_key, NULL, 0, QL_KEYFILE_PLAINTEXT,
                               d)) != QL_OK)
        goto out;
    key_file = true;
    if ((rc = init_genesis(s, origin, admin, log_key, zone, now, d)) != QL_OK)
        goto out;
    /* Closing folds the write-ahead log into the file, which is then whole. */
    ql_store_close(s);
    s = NULL;
    if (lstat(wal, &sb) == 0 && sb.st_size > 0) {
        rc = ql_fail(d, QL_EIO,
                     "cannot fold the write-ahead log into store '%s'", path);
        goto out;
    }
    /*
     * The key keeps its working name as a second name until the store has
     * its own, which takes the store's working name away at that moment:
     * a key that shares its working name beside the store's working file
     * was named by an init that stopped before the store was (init_clear).
     */
    if ((rc = ql_file_publish(key_tmp, key_path, true, d)) != QL_OK)
        goto out;
    key_named = true;
    if ((rc = ql_file_publish(tmp, path, false, d)) != QL_OK)
        goto out;
    unlink(key_tmp);
    remove_store_files(tmp);
out:
    ql_store_close(s);
    ql_key_free(log_key);
    if (rc != QL_OK) {
        if (files)
            remove_store_files(tmp);
        if (key_named)
            unlink(key_path);
        if (key_file)
            unlink(key_tmp);
    }
    /* Cleared under the lock: another init waits for all of it. */
    if (lock >= 0)
        close(lock);
    free(key_path);
    free(tmp);
    free(key_tmp);
    free(wal);
    return rc;
}

/* ---- registry writes ---- */

static bool
kind_valid(const char *kind)
{
    return strcmp(kind, QL_KIND_TOWNSHIP) == 0 ||
           strcmp(kind, QL_KIND_MEMBER) == 0 ||
           strcmp(kind, QL_KIND_SUPERVISION) == 0 ||
           strcmp(kind, QL_KIND_AUDIT) == 0;
}

static ql_err
need_admin(const struct county_actor *who, const char *what,
           struct ql_diag *d)
{
    if (who->admin)
        return QL_OK;
    return ql_fail(d, QL_EDENIED, "only the administrator may %s; '%s' is "
                                  "not one",
                   what, who->name);
}

ql_err
ql_county_unit_add(struct ql_county *c, const char *code, const char *name,
                   const char *kind, struct ql_diag *d)
{
    struct county_actor who;
    struct ql_entry e;
    char k[16];
    ql_err rc;

    ql_entry_init(&e);
    if (!ql_entry_word_valid(code))
        return ql_fail(d, QL_EUSAGE, "invalid unit code '%s': use letters, "
                                     "digits, '-', '_' or '.'",
                       code);
    if (strcmp(code, QL_SECRET_SCOPE) == 0)
        return ql_fail(d, QL_EUSAGE, "unit code '%s' is reserved", code);
    if (!kind_valid(kind))
        return ql_fail(d, QL_EUSAGE, "invalid unit kind '%s': use township, "
                                     "member, supervision or audit",
                       kind);
    if (*name == '\0' || strlen(name) > QL_UNIT_NAME_MAX)
        return ql_fail(d, QL_EUSAGE, "a unit name has 1 to %d bytes",
                       QL_UNIT_NAME_MAX);
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if ((rc = need_admin(&who, "add units", d)) != QL_OK)
        goto fail;
    rc = county_unit_kind(c, code, k, sizeof k, d);
    if (rc == QL_OK) {
        rc = ql_fail(d, QL_EEXIST, "unit '%s' already exists", code);
        goto fail;
    }
    if (rc != QL_ENOTFOUND)
        goto fail;
    snprintf(e.action, sizeof e.action, "unit.add");
    snprintf(e.unit, sizeof e.unit, "%s", code);
    if ((rc = ql_entry_add_clear(&e, "name", name, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "kind", kind, d)) != QL_OK ||
        (rc = append_by_actor(c, &e, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK)
        goto fail;
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    ql_entry_release(&e);
    return rc;
}

ql_err
ql_county_roles_valid(const char *roles, struct ql_diag *d)
{
    char buf[256], *save = NULL, *r;
    const char *seen[QL_ROLES_MAX];
    size_t n = 0, i, j;

    if (*roles == '\0' || strlen(roles) >= sizeof buf)
        return ql_fail(d, QL_EUSAGE, "give one or more roles, such as "
                                     "liaison,verifier");
    snprintf(buf, sizeof buf, "%s", roles);
    for (r = strtok_r(buf, ",", &save); r != NULL;
         r = strtok_r(NULL, ",", &save)) {
        if (!(r[0] >= 'a' && r[0] <= 'z'))
            return ql_fail(d, QL_EUSAGE, "invalid role '%s'", r);
        for (j = 1; r[j] != '\0'; j++)
            if (!((r[j] >= 'a' && r[j] <= 'z') ||
                  (r[j] >= '0' && r[j] <= '9') || r[j] == '_'))
                return ql_fail(d, QL_EUSAGE, "invalid role '%s'", r);
        for (i = 0; i < n; i++)
            if (strcmp(seen[i], r) == 0)
                return ql_fail(d, QL_EUSAGE, "role '%s' given twice", r);
        if (n == QL_ROLES_MAX)
            return ql_fail(d, QL_EUSAGE, "more than %d roles", QL_ROLES_MAX);
        seen[n++] = r;
    }
    /* strtok_r skips empty fields; refuse them rather than hide them. */
    if (roles[0] == ',' || roles[strlen(roles) - 1] == ',' ||
        strstr(roles, ",,") != NULL)
        return ql_fail(d, QL_EUSAGE, "empty role in '%s'", roles);
    return QL_OK;
}

ql_err
ql_county_principal_add(struct ql_county *c, const struct ql_key *pub,
                        const char *unit, const char *roles,
                        struct ql_diag *d)
{
    struct county_actor who, other;
    struct ql_entry e;
    char kind[16], *vkey = NULL;
    ql_err rc;

    ql_entry_init(&e);
    if ((rc = ql_county_roles_valid(roles, d)) != QL_OK)
        return rc;
    if (strcmp(ql_key_name(pub), ql_key_name(c->admin)) == 0)
        return ql_fail(d, QL_EEXIST, "'%s' is the administrator's name",
                       ql_key_name(pub));
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if ((rc = need_admin(&who, "add principals", d)) != QL_OK ||
        (rc = county_unit_kind(c, unit, kind, sizeof kind, d)) != QL_OK)
        goto fail;
    rc = county_principal(c, ql_key_name(pub), &other, NULL, d);
    if (rc == QL_OK) {
        rc = ql_fail(d, QL_EEXIST, "principal '%s' already exists",
                     ql_key_name(pub));
        goto fail;
    }
    if (rc != QL_ENOTFOUND)
        goto fail;
    snprintf(e.action, sizeof e.action, "principal.add");
    snprintf(e.unit, sizeof e.unit, "%s", unit);
    if ((rc = ql_key_vkey(pub, 0, &vkey, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "key", vkey, d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "roles", roles, d)) != QL_OK ||
        (rc = append_by_actor(c, &e, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK)
        goto fail;
    free(vkey);
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    free(vkey);
    ql_entry_release(&e);
    return rc;
}

ql_err
ql_county_principal_revoke(struct ql_county *c, const char *name,
                           struct ql_diag *d)
{
    struct county_actor who, p;
    struct ql_entry e;
    bool revoked = false;
    ql_err rc;

    ql_entry_init(&e);
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if ((rc = need_admin(&who, "revoke principals", d)) != QL_OK ||
        (rc = county_principal(c, name, &p, &revoked, d)) != QL_OK)
        goto fail;
    if (revoked) {
        rc = ql_fail(d, QL_EEXIST, "principal '%s' is already revoked", name);
        goto fail;
    }
    snprintf(e.action, sizeof e.action, "principal.revoke");
    snprintf(e.unit, sizeof e.unit, "%s", p.unit);
    if ((rc = ql_entry_add_clear(&e, "principal", name, d)) != QL_OK ||
        (rc = append_by_actor(c, &e, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK)
        goto fail;
    ql_entry_release(&e);
    return QL_OK;
fail:
    county_abort(c);
    ql_entry_release(&e);
    return rc;
}

ql_err
ql_county_workflow_add(struct ql_county *c, const char *name,
                       const char *source, size_t len, char *hash,
                       struct ql_diag *d)
{
    static const char SQL[] = "SELECT 1 FROM workflows WHERE hash = ?1";
    struct ql_workflow *wf = NULL;
    struct ql_stmt *st = NULL;
    struct county_actor who;
    struct ql_entry e;
    bool row = false;
    ql_err rc;

    ql_entry_init(&e);
    if ((rc = ql_workflow_load(name, source, len, &wf, d)) != QL_OK)
        return rc;
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        goto out;
    if ((rc = need_admin(&who, "register workflows", d)) != QL_OK ||
        (rc = ql_store_prepare(c->store, SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, ql_workflow_hash(wf), d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto fail;
    ql_stmt_done(st);
    st = NULL;
    if (row) {
        rc = ql_fail(d, QL_EEXIST, "workflow %s is already registered",
                     ql_workflow_hash(wf));
        goto fail;
    }
    snprintf(e.action, sizeof e.action, "workflow.add");
    snprintf(e.workflow, sizeof e.workflow, "%s", ql_workflow_hash(wf));
    if ((rc = ql_entry_add_clear(&e, "name", ql_workflow_name(wf), d)) !=
            QL_OK ||
        (rc = ql_entry_add_clear(&e, "file", name, d)) != QL_OK ||
        (rc = ql_entry_set_payload(&e, (const uint8_t *)source, len, d)) !=
            QL_OK ||
        (rc = append_by_actor(c, &e, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK)
        goto fail;
    if (hash != NULL)
        snprintf(hash, 65, "%s", ql_workflow_hash(wf));
    goto out;
fail:
    ql_stmt_done(st);
    county_abort(c);
out:
    ql_workflow_free(wf);
    ql_entry_release(&e);
    return rc;
}

ql_err
ql_county_calendar_set(struct ql_county *c, const char *name,
                       const char *text, size_t len, struct ql_diag *d)
{
    struct ql_calendar *cal = NULL;
    struct county_actor who;
    struct ql_entry e;
    ql_err rc;

    ql_entry_init(&e);
    if ((rc = ql_calendar_parse(name, text, len, &cal, d)) != QL_OK)
        return rc;
    ql_calendar_free(cal);
    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    snprintf(e.action, sizeof e.action, "calendar.set");
    if ((rc = need_admin(&who, "set the calendar", d)) != QL_OK ||
        (rc = ql_entry_add_clear(&e, "name", name, d)) != QL_OK ||
        (rc = ql_entry_set_payload(&e, (const uint8_t *)text, len, d)) !=
            QL_OK ||
        (rc = append_by_actor(c, &e, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK) {
        county_abort(c);
        ql_entry_release(&e);
        return rc;
    }
    ql_entry_release(&e);
    return QL_OK;
}

/* ---- reading the registry ---- */

ql_err
ql_county_units(struct ql_county *c, ql_unit_fn fn, void *ctx,
                struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT code, name, kind, idx FROM units ORDER BY code";
    struct ql_stmt *st = NULL;
    struct ql_unit_info u;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) != QL_OK)
        return rc;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        u.code = ql_stmt_text(st, 0);
        u.name = ql_stmt_text(st, 1);
        u.kind = ql_stmt_text(st, 2);
        u.idx = (uint64_t)ql_stmt_int(st, 3);
        if ((rc = fn(ctx, &u, d)) != QL_OK)
            break;
    }
    ql_stmt_done(st);
    return rc;
}

ql_err
ql_county_principals(struct ql_county *c, const char *unit,
                     ql_principal_fn fn, void *ctx, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT name, unit, roles, vkey, idx, revoked_idx FROM principals "
        "WHERE ?1 IS NULL OR unit = ?1 ORDER BY name";
    struct ql_stmt *st = NULL;
    struct ql_principal_info p;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) != QL_OK)
        return rc;
    rc = unit != NULL ? ql_stmt_bind_text(st, 1, unit, d)
                      : ql_stmt_bind_null(st, 1, d);
    while (rc == QL_OK && (rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        p.name = ql_stmt_text(st, 0);
        p.unit = ql_stmt_text(st, 1);
        p.roles = ql_stmt_text(st, 2);
        p.vkey = ql_stmt_text(st, 3);
        p.idx = (uint64_t)ql_stmt_int(st, 4);
        p.revoked = !ql_stmt_null(st, 5);
        p.revoked_idx = p.revoked ? (uint64_t)ql_stmt_int(st, 5) : 0;
        rc = fn(ctx, &p, d);
    }
    ql_stmt_done(st);
    return rc;
}

ql_err
ql_county_workflows(struct ql_county *c, ql_workflow_fn fn, void *ctx,
                    struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT name, hash, idx FROM workflows ORDER BY name, idx";
    struct ql_stmt *st = NULL;
    struct ql_workflow_info w;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) != QL_OK)
        return rc;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        w.name = ql_stmt_text(st, 0);
        w.hash = ql_stmt_text(st, 1);
        w.idx = (uint64_t)ql_stmt_int(st, 2);
        if ((rc = fn(ctx, &w, d)) != QL_OK)
            break;
    }
    ql_stmt_done(st);
    return rc;
}

/* Reads the payload of entry idx as text (a workflow or calendar source). */
static ql_err
entry_payload(struct ql_county *c, uint64_t idx, struct ql_entry *e,
              struct ql_diag *d)
{
    return ql_log_read(c->log, idx, NULL, NULL, e, d);
}

/* Remembers, for the rest of the batch, what name found. */
static void
remember_named(struct ql_county *c, const char *name, const char *hash,
               const struct ql_workflow *wf)
{
    if (!c->batch || hash != NULL || name == NULL ||
        strlen(name) >= sizeof c->named_wf_name)
        return;
    memcpy(c->named_wf_name, name, strlen(name) + 1);
    c->named_wf = wf;
}

ql_err
ql_county_workflow(struct ql_county *c, const char *name, const char *hash,
                   const struct ql_workflow **out, struct ql_diag *d)
{
    static const char BY_HASH[] =
        "SELECT hash, idx, name FROM workflows WHERE hash = ?1";
    static const char BY_NAME[] =
        "SELECT hash, idx, name FROM workflows WHERE name = ?1 "
        "ORDER BY idx DESC LIMIT 1";
    struct ql_stmt *st = NULL;
    struct ql_workflow *wf = NULL;
    struct county_wf *grown;
    struct ql_entry e;
    char h[65], wname[256];
    uint64_t idx;
    bool row = false;
    size_t i;
    ql_err rc;

    ql_entry_init(&e);
    /*
     * A batch registering leads asks for the same name each time; the
     * answer only changes with a workflow entry, a registry entry that
     * forgets it.
     */
    if (c->batch && hash == NULL && name != NULL && c->named_wf != NULL &&
        strcmp(c->named_wf_name, name) == 0) {
        *out = c->named_wf;
        return QL_OK;
    }
    if ((rc = ql_store_prepare(c->store, hash ? BY_HASH : BY_NAME, &st, d)) !=
            QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, hash ? hash : name, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (!row) {
        rc = ql_fail(d, QL_ENOTFOUND, "no workflow %s '%s' is registered",
                     hash ? "version" : "named", hash ? hash : name);
        goto out;
    }
    snprintf(h, sizeof h, "%s", ql_stmt_text(st, 0));
    idx = (uint64_t)ql_stmt_int(st, 1);
    snprintf(wname, sizeof wname, "%s", ql_stmt_text(st, 2));
    ql_stmt_done(st);
    st = NULL;
    for (i = 0; i < c->nwfs; i++) {
        if (strcmp(c->wfs[i].hash, h) == 0) {
            *out = c->wfs[i].wf;
            remember_named(c, name, hash, *out);
            goto out;
        }
    }
    if ((rc = entry_payload(c, idx, &e, d)) != QL_OK)
        goto out;
    /* Errors from the workflow's guards name the file it came from. */
    if (ql_entry_get_clear(&e, "file") != NULL)
        snprintf(wname, sizeof wname, "%s", ql_entry_get_clear(&e, "file"));
    /*
     * Registering it checked it in full (ql_county_workflow_add seals
     * eagerly); sealing waits for a guard, which many commands never run.
     * The source must hash to the version before it is compiled.
     */
    rc = ql_workflow_load_registered(wname, (const char *)e.payload,
                                     e.payload_len, h, &wf, d);
    if (rc == QL_EINTEGRITY)
        rc = ql_fail(d, QL_EINTEGRITY, "workflow entry %llu does not hash "
                                       "to %s",
                     (unsigned long long)idx, h);
    if (rc != QL_OK)
        goto out;
    grown = realloc(c->wfs, (c->nwfs + 1) * sizeof *grown);
    if (grown == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    c->wfs = grown;
    snprintf(c->wfs[c->nwfs].hash, sizeof c->wfs[c->nwfs].hash, "%s", h);
    c->wfs[c->nwfs].wf = wf;
    c->nwfs++;
    remember_named(c, name, hash, wf);
    *out = wf;
    wf = NULL;
out:
    ql_stmt_done(st);
    ql_workflow_free(wf);
    ql_entry_release(&e);
    return rc;
}

ql_err
ql_county_calendar(struct ql_county *c, const struct ql_calendar **out,
                   struct ql_diag *d)
{
    static const char SQL[] = "SELECT max(idx) FROM calendars";
    struct ql_stmt *st = NULL;
    struct ql_calendar *cal = NULL;
    struct ql_entry e;
    const char *name;
    uint64_t idx;
    bool row = false;
    ql_err rc;

    ql_entry_init(&e);
    /*
     * Every registration and due date asks; in a batch only a registry
     * entry sets a calendar, so once found to be the latest it stays so
     * till one comes. A county without a calendar asks the store each
     * time, as before.
     */
    if (c->batch && c->calendar_settled && c->calendar != NULL) {
        *out = c->calendar;
        return QL_OK;
    }
    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (!row || ql_stmt_null(st, 0)) {
        rc = ql_fail(d, QL_ENOTFOUND, "no holiday calendar is set: run "
                                      "'qingling calendar set'");
        goto out;
    }
    idx = (uint64_t)ql_stmt_int(st, 0);
    ql_stmt_done(st);
    st = NULL;
    if (c->calendar != NULL && c->calendar_idx == idx) {
        c->calendar_settled = c->batch;
        *out = c->calendar;
        goto out;
    }
    if ((rc = entry_payload(c, idx, &e, d)) != QL_OK)
        goto out;
    name = ql_entry_get_clear(&e, "name");
    if ((rc = ql_calendar_parse(name ? name : "calendar",
                                (const char *)e.payload, e.payload_len, &cal,
                                d)) != QL_OK)
        goto out;
    ql_calendar_free(c->calendar);
    c->calendar = cal;
    c->calendar_idx = idx;
    c->calendar_settled = c->batch;
    *out = cal;
out:
    ql_stmt_done(st);
    ql_entry_release(&e);
    return rc;
}

/* ---- data keys and grants ---- */

static void
grant_context(const struct ql_county *c, const char *unit, int64_t epoch,
              char *buf, size_t size)
{
    snprintf(buf, size, "qingling-grant/1\n%s\n%s\n%lld", ql_county_origin(c),
             unit, (long long)epoch);
}

/*
 * A key opened earlier in this process, by the current actor's grant: keys
 * opened with one principal's grants are never handed to another.
 */
static struct county_dk *
cached_key(struct ql_county *c, const char *unit, int64_t epoch)
{
    size_t i;

    if (c->actor == NULL)
        return NULL;
    for (i = 0; i < c->ndks; i++)
        if (c->dks[i].epoch == epoch && strcmp(c->dks[i].unit, unit) == 0 &&
            strcmp(ql_key_name(c->dks[i].opener), ql_key_name(c->actor)) ==
                0 &&
            ql_key_same_public(c->dks[i].opener, c->actor))
            return &c->dks[i];
    return NULL;
}

static ql_err
cache_key(struct ql_county *c, const char *unit, int64_t epoch,
          struct ql_datakey *key, struct ql_diag *d)
{
    struct county_dk *grown = realloc(c->dks, (c->ndks + 1) * sizeof *grown);
    struct ql_key *opener = NULL;
    ql_err rc;

    if (grown == NULL) {
        ql_datakey_free(key);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    c->dks = grown;
    if ((rc = ql_key_public_copy(c->actor, &opener, d)) != QL_OK) {
        ql_datakey_free(key);
        return rc;
    }
    snprintf(grown[c->ndks].unit, sizeof grown[c->ndks].unit, "%s", unit);
    grown[c->ndks].epoch = epoch;
    grown[c->ndks].key = key;
    grown[c->ndks].opener = opener;
    c->ndks++;
    return QL_OK;
}

/* QL_EDENIED unless the actor's key is the one registered under its name. */
static ql_err
actor_is_registered(struct ql_county *c, struct ql_diag *d)
{
    char *mine = NULL, *theirs = NULL;
    ql_err rc;

    if ((rc = principal_vkey(c, ql_key_name(c->actor), &theirs, d)) ==
            QL_OK &&
        (rc = ql_key_vkey(c->actor, 0, &mine, d)) == QL_OK &&
        strcmp(mine, theirs) != 0)
        rc = ql_fail(d, QL_EDENIED, "key '%s' is not the key registered "
                                    "under that name",
                     ql_key_name(c->actor));
    if (rc == QL_ENOTFOUND)
        rc = ql_fail(d, QL_EDENIED, "key '%s' is not registered in this "
                                    "county",
                     ql_key_name(c->actor));
    free(mine);
    free(theirs);
    return rc;
}

ql_err
county_read_key(struct ql_county *c, const char *unit, int64_t epoch,
                const struct ql_datakey **key, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT g.sealed, k.fingerprint FROM grants g JOIN datakeys k "
        "ON k.unit = g.unit AND k.epoch = g.epoch "
        "WHERE g.unit = ?1 AND g.epoch = ?2 AND g.principal = ?3";
    struct county_dk *hit = cached_key(c, unit, epoch);
    struct ql_datakey *k = NULL;
    struct ql_stmt *st = NULL;
    uint8_t fp[QL_DATAKEY_MAC_LEN];
    char ctx[512], hex[2 * QL_DATAKEY_MAC_LEN + 1];
    const void *sealed;
    size_t len;
    bool row = false;
    ql_err rc;

    if (hit != NULL) {
        *key = hit->key;
        return QL_OK;
    }
    if (c->actor == NULL || !ql_key_has_secret(c->actor))
        return ql_fail(d, QL_EDENIED, "no acting key: give --key or "
                                      "QINGLING_KEY to read content");
    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, unit, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 2, epoch, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 3, ql_key_name(c->actor), d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (!row) {
        rc = ql_fail(d, QL_EDENIED, "'%s' holds no key to unit %s's content",
                     ql_key_name(c->actor), unit);
        goto out;
    }
    /* A key that merely bears a principal's name holds none of its
       grants: that is a refusal, not a damaged grant. */
    if ((rc = actor_is_registered(c, d)) != QL_OK)
        goto out;
    grant_context(c, unit, epoch, ctx, sizeof ctx);
    sealed = ql_stmt_blob(st, 0, &len);
    if ((rc = ql_datakey_unseal(c->actor, sealed, len, ctx, strlen(ctx), &k,
                                d)) != QL_OK ||
        (rc = ql_datakey_fingerprint(k, fp, d)) != QL_OK)
        goto out;
    ql_hex_encode(hex, fp, sizeof fp);
    if (strcmp(hex, ql_stmt_text(st, 1)) != 0) {
        rc = ql_fail(d, QL_EINTEGRITY, "the key granted for unit %s epoch "
                                       "%lld is not the key the log recorded",
                     unit, (long long)epoch);
        goto out;
    }
    if ((rc = cache_key(c, unit, epoch, k, d)) != QL_OK) {
        k = NULL; /* freed by cache_key */
        goto out;
    }
    *key = k;
    k = NULL;
out:
    ql_stmt_done(st);
    ql_datakey_free(k);
    return rc;
}

/*
 * Appends grant entries sealing key (of unit, epoch) to the holders in
 * names/vkeys, GRANT_BATCH at a time.
 */
static ql_err
append_grants(struct ql_county *c, const char *unit, int64_t epoch,
              const struct ql_datakey *key, char **names, char **vkeys,
              size_t n, struct ql_diag *d)
{
    const struct ql_key *signers[1] = {c->actor};
    uint8_t fp[QL_DATAKEY_MAC_LEN];
    char ctx[512], hex[2 * QL_DATAKEY_MAC_LEN + 1], num[24];
    size_t at = 0, i;
    ql_err rc = QL_OK;

    grant_context(c, unit, epoch, ctx, sizeof ctx);
    if ((rc = ql_datakey_fingerprint(key, fp, d)) != QL_OK)
        return rc;
    ql_hex_encode(hex, fp, sizeof fp);
    snprintf(num, sizeof num, "%lld", (long long)epoch);
    while (at < n && rc == QL_OK) {
        size_t end = at + GRANT_BATCH < n ? at + GRANT_BATCH : n;
        uint8_t *payload = NULL;
        size_t plen = 0, rlen = 0;
        char *recipients = NULL;
        struct ql_entry e;

        ql_entry_init(&e);
        for (i = at; i < end && rc == QL_OK; i++) {
            struct ql_key *pub = NULL;
            uint8_t *sealed = NULL, *grown;
            size_t slen = 0, nlen = strlen(names[i]);
            char *r;

            if ((rc = ql_key_parse_vkey(vkeys[i], false, &pub, d)) != QL_OK ||
                (rc = ql_datakey_seal(key, pub, ctx, strlen(ctx), &sealed,
                                      &slen, d)) != QL_OK) {
                ql_key_free(pub);
                break;
            }
            ql_key_free(pub);
            grown = realloc(payload, plen + 2 + slen);
            r = realloc(recipients, rlen + nlen + 2);
            if (grown != NULL)
                payload = grown;
            if (r != NULL)
                recipients = r;
            if (grown == NULL || r == NULL) {
                free(sealed);
                rc = ql_fail(d, QL_ENOMEM, NULL);
                break;
            }
            payload[plen] = (uint8_t)(slen >> 8);
            payload[plen + 1] = (uint8_t)slen;
            memcpy(payload + plen + 2, sealed, slen);
            plen += 2 + slen;
            free(sealed);
            if (rlen > 0)
                recipients[rlen++] = ' ';
            memcpy(recipients + rlen, names[i], nlen + 1);
            rlen += nlen;
        }
        snprintf(e.action, sizeof e.action, "grant");
        snprintf(e.unit, sizeof e.unit, "%s", unit);
        if (rc == QL_OK &&
            (rc = ql_entry_add_clear(&e, "epoch", num, d)) == QL_OK &&
            (rc = ql_entry_add_clear(&e, "fingerprint", hex, d)) == QL_OK &&
            (rc = ql_entry_add_clear(&e, "recipients", recipients, d)) ==
                QL_OK &&
            (rc = ql_entry_set_payload(&e, payload, plen, d)) == QL_OK)
            rc = county_append(c, &e, signers, 1, NULL, d);
        ql_entry_release(&e);
        free(payload);
        free(recipients);
        at = end;
    }
    return rc;
}

/* Principals from holders(): parallel arrays, each row's epoch with it. */
struct holder_list {
    char **names, **vkeys;
    int64_t *epochs;
    size_t n;
};

static void
holder_list_free(struct holder_list *h)
{
    size_t i;

    for (i = 0; i < h->n; i++) {
        free(h->names[i]);
        free(h->vkeys[i]);
    }
    free(h->names);
    free(h->vkeys);
    free(h->epochs);
    memset(h, 0, sizeof *h);
}

static ql_err
holder_list_add(struct holder_list *h, const char *name, const char *vkey,
                int64_t epoch, struct ql_diag *d)
{
    char **a = realloc(h->names, (h->n + 1) * sizeof *a);
    char **b = a ? realloc(h->vkeys, (h->n + 1) * sizeof *b) : NULL;
    int64_t *e = b ? realloc(h->epochs, (h->n + 1) * sizeof *e) : NULL;
    char *nm, *vk;

    if (a != NULL)
        h->names = a;
    if (b != NULL)
        h->vkeys = b;
    if (e != NULL)
        h->epochs = e;
    if (e == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    nm = strdup(name);
    vk = strdup(vkey);
    if (nm == NULL || vk == NULL) {
        free(nm);
        free(vk);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    h->names[h->n] = nm;
    h->vkeys[h->n] = vk;
    h->epochs[h->n] = epoch;
    h->n++;
    return QL_OK;
}

/*
 * The pieces of the holder queries. A holder is an active principal of
 * the unit or of a supervision unit (of a supervision unit only, for a
 * scope with its own eligible()), lacking a grant for the epoch asked.
 * The old-epoch form pairs such principals with every epoch older than
 * ?2 of which ?3 (the actor) holds a grant. For a unit it probes only
 * principals registered after the epoch began, since whoever was a
 * holder then received it with its first grants, and the probe for a
 * grant is what costs. The envelope gets no such shortcut: a later
 * workflow may give an older principal's role the right to read it.
 */
#define HOLDER_SELECT "SELECT p.name, p.vkey, p.roles, "
#define HOLDER_FROM "FROM principals p JOIN units u ON u.code = p.unit "
#define HOLDER_OLD_FROM                                                       \
    "FROM datakeys k CROSS JOIN principals p JOIN units u "                   \
    "  ON u.code = p.unit "
#define HOLDER_WHERE "WHERE p.revoked_idx IS NULL "
#define HOLDER_OLD                                                            \
    "AND k.unit = ?1 AND k.epoch < ?2 AND EXISTS (SELECT 1 FROM grants o "    \
    "  WHERE o.unit = ?1 AND o.epoch = k.epoch AND o.principal = ?3) "
#define HOLDER_SINCE "AND p.idx > k.idx "
#define HOLDER_UNIT "AND (p.unit = ?1 OR u.kind = 'supervision') "
#define HOLDER_OFFICE "AND u.kind = 'supervision' "
#define HOLDER_LACKS(ep)                                                      \
    "AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.unit = ?1 "               \
    "  AND g.epoch = " ep " AND g.principal = p.name) "

/* [old][eligible != NULL] */
static const char *const HOLDER_SQL[2][2] = {
    {HOLDER_SELECT "?2 " HOLDER_FROM HOLDER_WHERE HOLDER_UNIT
         HOLDER_LACKS("?2") "ORDER BY p.name",
     HOLDER_SELECT "?2 " HOLDER_FROM HOLDER_WHERE HOLDER_OFFICE
         HOLDER_LACKS("?2") "ORDER BY p.name"},
    {HOLDER_SELECT "k.epoch " HOLDER_OLD_FROM HOLDER_WHERE HOLDER_OLD
         HOLDER_SINCE HOLDER_UNIT HOLDER_LACKS("k.epoch")
             "ORDER BY k.epoch, +p.name",
     HOLDER_SELECT "k.epoch " HOLDER_OLD_FROM HOLDER_WHERE HOLDER_OLD
         HOLDER_OFFICE HOLDER_LACKS("k.epoch") "ORDER BY k.epoch, +p.name"},
};

/*
 * The principals who should hold unit's key: its active members and every
 * active supervision principal; for a scope with eligible (the secret
 * envelope), the active supervision principals eligible() accepts. With
 * old_of NULL: those without a grant for epoch (all of them for epoch 0),
 * sorted by name. With old_of a principal's name: for every epoch older
 * than epoch that old_of holds, those without a grant for it, sorted by
 * epoch and name. The engine's own roles read no content: a principal
 * holding `admin` or `auditor` holds no data key, whatever else it holds.
 */
static ql_err
holders(struct ql_county *c, const char *unit, int64_t epoch,
        const char *old_of, county_holder_fn eligible, void *ectx,
        struct holder_list *out, struct ql_diag *d)
{
    const char *SQL = HOLDER_SQL[old_of != NULL][eligible != NULL];
    struct holder_list h = {NULL, NULL, NULL, 0};
    struct ql_stmt *st = NULL;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, unit, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 2, epoch, d)) != QL_OK ||
        (old_of != NULL &&
         (rc = ql_stmt_bind_text(st, 3, old_of, d)) != QL_OK))
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        const char *roles = ql_stmt_text(st, 2);

        if ((eligible != NULL && !eligible(ectx, roles)) ||
            county_has_role(roles, "admin") ||
            county_has_role(roles, "auditor"))
            continue;
        if ((rc = holder_list_add(&h, ql_stmt_text(st, 0),
                                  ql_stmt_text(st, 1), ql_stmt_int(st, 3),
                                  d)) != QL_OK)
            break;
    }
out:
    ql_stmt_done(st);
    if (rc != QL_OK) {
        holder_list_free(&h);
        return rc;
    }
    *out = h;
    return QL_OK;
}

/*
 * Grants every epoch of scope's key older than current that the actor
 * holds to the principals who may hold the key now and lack it, one grant
 * entry (or more, GRANT_BATCH recipients each) per epoch. A lead is
 * re-sealed in the current epoch only by a writer who can read it, so
 * without this a member who joined after a revocation could never move a
 * lead last sealed before it (decisions.md section 8). Revoked principals
 * are not holders, so they receive nothing.
 */
static ql_err
share_old_epochs(struct ql_county *c, const char *scope, int64_t current,
                 county_holder_fn eligible, void *ectx, struct ql_diag *d)
{
    struct holder_list h = {NULL, NULL, NULL, 0};
    size_t at = 0, end;
    ql_err rc;

    if ((rc = holders(c, scope, current, ql_key_name(c->actor), eligible,
                      ectx, &h, d)) != QL_OK)
        return rc;
    while (at < h.n && rc == QL_OK) {
        const struct ql_datakey *k = NULL;

        for (end = at + 1; end < h.n && h.epochs[end] == h.epochs[at]; end++)
            continue;
        if ((rc = county_read_key(c, scope, h.epochs[at], &k, d)) == QL_OK)
            rc = append_grants(c, scope, h.epochs[at], k, h.names + at,
                               h.vkeys + at, end - at, d);
        at = end;
    }
    holder_list_free(&h);
    return rc;
}

ql_err
county_write_key(struct ql_county *c, const char *unit,
                 const struct ql_datakey **key, int64_t *epoch,
                 struct ql_diag *d)
{
    return county_write_key_for(c, unit, NULL, NULL, key, epoch, d);
}

/* Remembers a settled write key for the rest of the batch. */
static void
remember_wkey(struct ql_county *c, const char *scope, county_holder_fn eligible,
              void *ectx, const struct ql_datakey *k, int64_t epoch)
{
    struct county_wkey *w;

    if (c->wkeys == NULL &&
        (c->wkeys = calloc(COUNTY_WKEYS, sizeof *c->wkeys)) == NULL)
        return; /* only the shortcut is lost */
    w = &c->wkeys[c->nwkeys < COUNTY_WKEYS ? c->nwkeys++ : c->nwkeys - 1];
    w->actor = c->actor;
    snprintf(w->scope, sizeof w->scope, "%s", scope);
    w->eligible = eligible;
    w->ectx = ectx;
    w->key = k;
    w->epoch = epoch;
}

/*
 * A key scope whose holders, as the registry stands in this batch, all hold
 * a grant for epoch. eligible and ectx are part of the scope: the envelope's
 * holders depend on the workflow that asks.
 */
struct county_settled {
    char scope[QL_ENTRY_WORD_MAX + 1];
    county_holder_fn eligible;
    void *ectx;
    int64_t epoch;
};

static bool
is_settled(const struct ql_county *c, const char *scope,
           county_holder_fn eligible, void *ectx, int64_t epoch)
{
    size_t i;

    for (i = 0; i < c->nsettled; i++)
        if (c->settled[i].epoch == epoch &&
            c->settled[i].eligible == eligible &&
            c->settled[i].ectx == ectx &&
            strcmp(c->settled[i].scope, scope) == 0)
            return true;
    return false;
}

/*
 * Remembers that every holder of scope holds epoch's grant. Failing to
 * remember only costs the query next time, so it reports nothing.
 */
static void
remember_settled(struct ql_county *c, const char *scope,
                 county_holder_fn eligible, void *ectx, int64_t epoch)
{
    struct county_settled *s;

    if (strlen(scope) >= sizeof s->scope ||
        is_settled(c, scope, eligible, ectx, epoch))
        return;
    if (c->nsettled == c->csettled) {
        size_t cap = c->csettled ? 2 * c->csettled : 16;

        if ((s = realloc(c->settled, cap * sizeof *s)) == NULL)
            return;
        c->settled = s;
        c->csettled = cap;
    }
    s = &c->settled[c->nsettled++];
    snprintf(s->scope, sizeof s->scope, "%s", scope);
    s->eligible = eligible;
    s->ectx = ectx;
    s->epoch = epoch;
}

ql_err
county_write_key_for(struct ql_county *c, const char *unit,
                     county_holder_fn eligible, void *ectx,
                     const struct ql_datakey **key, int64_t *epoch,
                     struct ql_diag *d)
{
    static const char LATEST[] =
        "SELECT epoch, stale_idx IS NOT NULL FROM datakeys WHERE unit = ?1 "
        "ORDER BY epoch DESC LIMIT 1";
    struct ql_datakey *fresh = NULL;
    const struct ql_datakey *k = NULL;
    struct ql_stmt *st = NULL;
    struct holder_list h = {NULL, NULL, NULL, 0};
    size_t i;
    int64_t ep = 0;
    bool row = false, stale = false, mine = false;
    ql_err rc;

    if (c->batch) {
        for (i = 0; i < c->nwkeys; i++) {
            struct county_wkey *w = &c->wkeys[i];

            if (w->actor == c->actor && w->eligible == eligible &&
                w->ectx == ectx && strcmp(w->scope, unit) == 0) {
                *key = w->key;
                *epoch = w->epoch;
                return QL_OK;
            }
        }
    }
    if ((rc = ql_store_prepare(c->store, LATEST, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, unit, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (row) {
        ep = ql_stmt_int(st, 0);
        stale = ql_stmt_int(st, 1) != 0;
    }
    ql_stmt_done(st);
    st = NULL;
    if (row && !stale) {
        /*
         * The current epoch: open it, and hand it to holders that lack it.
         * Once a write in this batch found none lacking, none can until a
         * registry entry, which forgets that; so the query over every
         * principal runs once per scope and epoch, not once per actor.
         */
        if ((rc = county_read_key(c, unit, ep, &k, d)) != QL_OK ||
            (!(c->batch && is_settled(c, unit, eligible, ectx, ep)) &&
             (rc = holders(c, unit, ep, NULL, eligible, ectx, &h, d)) !=
                 QL_OK))
            goto out;
        if (h.n > 0 && (rc = append_grants(c, unit, ep, k, h.names, h.vkeys,
                                           h.n, d)) != QL_OK)
            goto out;
    } else {
        /* No key yet, or a revocation made it stale: start a new epoch. */
        ep = row ? ep + 1 : 1;
        if ((rc = holders(c, unit, 0, NULL, eligible, ectx, &h, d)) != QL_OK)
            goto out;
        for (i = 0; i < h.n; i++)
            if (strcmp(h.names[i], ql_key_name(c->actor)) == 0)
                mine = true;
        if (!mine) {
            rc = ql_fail(d, QL_EDENIED, "'%s' may not hold unit %s's key",
                         ql_key_name(c->actor), unit);
            goto out;
        }
        if ((rc = ql_datakey_new(ql_key_profile(c->actor), &fresh, d)) !=
                QL_OK ||
            (rc = append_grants(c, unit, ep, fresh, h.names, h.vkeys, h.n,
                                d)) != QL_OK)
            goto out;
        if ((rc = cache_key(c, unit, ep, fresh, d)) != QL_OK) {
            fresh = NULL;
            goto out;
        }
        k = fresh;
        fresh = NULL;
    }
    /*
     * Older epochs the actor holds go to holders who lack them. Per write
     * (per actor and scope in a batch, through the write key remembered
     * below), since a holder of an old epoch may write long after the
     * newcomer was granted the current one; a unit that never saw a
     * revocation has no older epoch and skips the query.
     */
    if (ep > 1 &&
        (rc = share_old_epochs(c, unit, ep, eligible, ectx, d)) != QL_OK)
        goto out;
    *key = k;
    *epoch = ep;
    if (c->batch && strlen(unit) < sizeof c->wkeys[0].scope)
        remember_wkey(c, unit, eligible, ectx, k, ep);
    /* The grants just appended emptied the list; this write settled it. */
    if (c->batch)
        remember_settled(c, unit, eligible, ectx, ep);
out:
    ql_stmt_done(st);
    ql_datakey_free(fresh);
    holder_list_free(&h);
    return rc;
}

ql_err
ql_county_key_share(struct ql_county *c, const char *unit, struct ql_diag *d)
{
    struct county_actor who;
    const struct ql_datakey *k = NULL;
    char kind[16];
    int64_t epoch = 0;
    ql_err rc;

    if ((rc = county_begin(c, &who, d)) != QL_OK)
        return rc;
    if ((rc = county_unit_kind(c, unit, kind, sizeof kind, d)) != QL_OK ||
        (rc = county_write_key(c, unit, &k, &epoch, d)) != QL_OK ||
        (rc = county_finish(c, d)) != QL_OK) {
        county_abort(c);
        return rc;
    }
    return QL_OK;
}

/* ---- applying entries to the derived tables ---- */

static ql_err
need_clear(const struct ql_entry *e, const char *name, const char **v,
           struct ql_diag *d)
{
    *v = ql_entry_get_clear(e, name);
    if (*v == NULL)
        return ql_fail(d, QL_EINTEGRITY, "entry %llu (%s) lacks '%s'",
                       (unsigned long long)e->index, e->action, name);
    return QL_OK;
}

static ql_err
apply_unit(struct ql_county *c, const struct ql_entry *e, struct ql_diag *d)
{
    static const char SQL[] =
        "INSERT INTO units(code, name, kind, idx) VALUES (?1, ?2, ?3, ?4)";
    struct ql_stmt *st = NULL;
    const char *name, *kind;
    ql_err rc;

    if ((rc = need_clear(e, "name", &name, d)) != QL_OK ||
        (rc = need_clear(e, "kind", &kind, d)) != QL_OK)
        return rc;
    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 1, e->unit, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 2, name, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 3, kind, d)) == QL_OK &&
        (rc = ql_stmt_bind_int(st, 4, (int64_t)e->index, d)) == QL_OK)
        rc = ql_stmt_run(st, d);
    ql_stmt_done(st);
    return rc;
}

static ql_err
apply_principal(struct ql_county *c, const struct ql_entry *e,
                struct ql_diag *d)
{
    static const char SQL[] =
        "INSERT INTO principals(name, vkey, unit, roles, idx) "
        "VALUES (?1, ?2, ?3, ?4, ?5)";
    struct ql_stmt *st = NULL;
    struct ql_key *k = NULL;
    const char *vkey, *roles;
    ql_err rc;

    if ((rc = need_clear(e, "key", &vkey, d)) != QL_OK ||
        (rc = need_clear(e, "roles", &roles, d)) != QL_OK ||
        (rc = ql_key_parse_vkey(vkey, false, &k, d)) != QL_OK)
        return rc;
    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 1, ql_key_name(k), d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 2, vkey, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 3, e->unit, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 4, roles, d)) == QL_OK &&
        (rc = ql_stmt_bind_int(st, 5, (int64_t)e->index, d)) == QL_OK)
        rc = ql_stmt_run(st, d);
    ql_stmt_done(st);
    ql_key_free(k);
    return rc;
}

/*
 * A revoked principal keeps the keys it already opened, so every key it
 * could hold becomes stale: its own unit's, and every unit's when it sat
 * in a supervision unit. The next writer of each starts a new epoch.
 */
static ql_err
apply_revoke(struct ql_county *c, const struct ql_entry *e, struct ql_diag *d)
{
    static const char REVOKE[] =
        "UPDATE principals SET revoked_idx = ?2 "
        "WHERE name = ?1 AND revoked_idx IS NULL";
    static const char STALE[] =
        "UPDATE datakeys SET stale_idx = ?2 WHERE stale_idx IS NULL AND "
        "(unit = ?1 OR (SELECT kind FROM units WHERE code = ?1) = "
        "'supervision')";
    struct ql_stmt *st = NULL;
    const char *name;
    ql_err rc;

    if ((rc = need_clear(e, "principal", &name, d)) != QL_OK)
        return rc;
    if ((rc = ql_store_prepare(c->store, REVOKE, &st, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 1, name, d)) == QL_OK &&
        (rc = ql_stmt_bind_int(st, 2, (int64_t)e->index, d)) == QL_OK &&
        (rc = ql_stmt_run(st, d)) == QL_OK &&
        ql_store_changes(c->store) != 1)
        rc = ql_fail(d, QL_EINTEGRITY, "entry %llu revokes '%s', who is not "
                                       "an active principal",
                     (unsigned long long)e->index, name);
    ql_stmt_done(st);
    st = NULL;
    if (rc != QL_OK)
        return rc;
    if ((rc = ql_store_prepare(c->store, STALE, &st, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 1, e->unit, d)) == QL_OK &&
        (rc = ql_stmt_bind_int(st, 2, (int64_t)e->index, d)) == QL_OK)
        rc = ql_stmt_run(st, d);
    ql_stmt_done(st);
    return rc;
}

static ql_err
apply_workflow(struct ql_county *c, const struct ql_entry *e,
               struct ql_diag *d)
{
    static const char SQL[] =
        "INSERT INTO workflows(hash, name, idx) VALUES (?1, ?2, ?3)";
    struct ql_stmt *st = NULL;
    const char *name;
    ql_err rc;

    if ((rc = need_clear(e, "name", &name, d)) != QL_OK)
        return rc;
    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 1, e->workflow, d)) == QL_OK &&
        (rc = ql_stmt_bind_text(st, 2, name, d)) == QL_OK &&
        (rc = ql_stmt_bind_int(st, 3, (int64_t)e->index, d)) == QL_OK)
        rc = ql_stmt_run(st, d);
    ql_stmt_done(st);
    return rc;
}

static ql_err
apply_calendar(struct ql_county *c, const struct ql_entry *e,
               struct ql_diag *d)
{
    static const char SQL[] = "INSERT INTO calendars(idx) VALUES (?1)";
    struct ql_stmt *st = NULL;
    ql_err rc;

    if ((rc = ql_store_prepare(c->store, SQL, &st, d)) == QL_OK &&
        (rc = ql_stmt_bind_int(st, 1, (int64_t)e->index, d)) == QL_OK)
        rc = ql_stmt_run(st, d);
    ql_stmt_done(st);
    return rc;
}

/* Records a data key's epoch (once) and each recipient's sealed grant. */
static ql_err
apply_grant(struct ql_county *c, const struct ql_entry *e, struct ql_diag *d)
{
    static const char KEY_GET[] =
        "SELECT fingerprint FROM datakeys WHERE unit = ?1 AND epoch = ?2";
    static const char KEY_PUT[] =
        "INSERT INTO datakeys(unit, epoch, fingerprint, idx) "
        "VALUES (?1, ?2, ?3, ?4)";
    static const char GRANT_PUT[] =
        "INSERT INTO grants(unit, epoch, principal, sealed, idx) "
        "VALUES (?1, ?2, ?3, ?4, ?5)";
    struct ql_stmt *st = NULL;
    const char *epoch_s, *fp, *recipients, *p;
    char name[QL_KEY_NAME_MAX + 1];
    size_t at = 0, len;
    int64_t epoch;
    char *end = NULL;
    bool row = false;
    ql_err rc;

    if ((rc = need_clear(e, "epoch", &epoch_s, d)) != QL_OK ||
        (rc = need_clear(e, "fingerprint", &fp, d)) != QL_OK ||
        (rc = need_clear(e, "recipients", &recipients, d)) != QL_OK)
        return rc;
    epoch = strtoll(epoch_s, &end, 10);
    if (end == epoch_s || *end != '\0' || epoch < 1)
        return ql_fail(d, QL_EINTEGRITY, "entry %llu: bad epoch",
                       (unsigned long long)e->index);
    if ((rc = ql_store_prepare(c->store, KEY_GET, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 1, e->unit, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 2, epoch, d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (row && strcmp(ql_stmt_text(st, 0), fp) != 0) {
        rc = ql_fail(d, QL_EINTEGRITY, "entry %llu grants another key for "
                                       "unit %s epoch %lld",
                     (unsigned long long)e->index, e->unit, (long long)epoch);
        goto out;
    }
    ql_stmt_done(st);
    st = NULL;
    if (!row) {
        if ((rc = ql_store_prepare(c->store, KEY_PUT, &st, d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 1, e->unit, d)) != QL_OK ||
            (rc = ql_stmt_bind_int(st, 2, epoch, d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 3, fp, d)) != QL_OK ||
            (rc = ql_stmt_bind_int(st, 4, (int64_t)e->index, d)) != QL_OK ||
            (rc = ql_stmt_run(st, d)) != QL_OK)
            goto out;
        ql_stmt_done(st);
        st = NULL;
    }
    for (p = recipients; *p != '\0';) {
        const char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);

        if (n == 0 || n > QL_KEY_NAME_MAX || at + 2 > e->payload_len) {
            rc = ql_fail(d, QL_EINTEGRITY, "entry %llu: grants do not match "
                                           "their recipients",
                         (unsigned long long)e->index);
            goto out;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        len = (size_t)e->payload[at] << 8 | e->payload[at + 1];
        if (at + 2 + len > e->payload_len) {
            rc = ql_fail(d, QL_EINTEGRITY, "entry %llu: grant cut short",
                         (unsigned long long)e->index);
            goto out;
        }
        if ((rc = ql_store_prepare(c->store, GRANT_PUT, &st, d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 1, e->unit, d)) != QL_OK ||
            (rc = ql_stmt_bind_int(st, 2, epoch, d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 3, name, d)) != QL_OK ||
            (rc = ql_stmt_bind_blob(st, 4, e->payload + at + 2, len, d)) !=
                QL_OK ||
            (rc = ql_stmt_bind_int(st, 5, (int64_t)e->index, d)) != QL_OK ||
            (rc = ql_stmt_run(st, d)) != QL_OK)
            goto out;
        ql_stmt_done(st);
        st = NULL;
        at += 2 + len;
        p += n;
        if (*p == ' ')
            p++;
    }
    if (at != e->payload_len)
        rc = ql_fail(d, QL_EINTEGRITY, "entry %llu: grants do not match "
                                       "their recipients",
                     (unsigned long long)e->index);
out:
    ql_stmt_done(st);
    return rc;
}

/*
 * Applies one entry to the derived tables. The write path and replay both
 * come here, so the tables are by construction the fold of the entries.
 */
static ql_err
apply(struct ql_county *c, const struct ql_entry *e, struct ql_diag *d)
{
    if (strncmp(e->action, "lead.", 5) != 0 &&
        strncmp(e->action, "commit.", 7) != 0)
    {
        /* The registry may change: resolve actors and keys anew. */
        forget_registry(c);
    }
    /* The remembered status row holds only from one entry of a lead to
       the next entry on the same lead. */
    if (strncmp(e->action, "lead.", 5) != 0)
        ql_status_memo_drop(c);
    if (strcmp(e->action, "genesis") == 0)
        return e->index == 0
                   ? QL_OK
                   : ql_fail(d, QL_EINTEGRITY, "entry %llu: a second genesis",
                             (unsigned long long)e->index);
    if (strcmp(e->action, "unit.add") == 0)
        return apply_unit(c, e, d);
    if (strcmp(e->action, "principal.add") == 0)
        return apply_principal(c, e, d);
    if (strcmp(e->action, "principal.revoke") == 0)
        return apply_revoke(c, e, d);
    if (strcmp(e->action, "workflow.add") == 0)
        return apply_workflow(c, e, d);
    if (strcmp(e->action, "calendar.set") == 0)
        return apply_calendar(c, e, d);
    if (strcmp(e->action, "grant") == 0)
        return apply_grant(c, e, d);
    if (strncmp(e->action, "lead.", 5) == 0)
        return ql_lead_apply(c, e, d);
    if (strncmp(e->action, "commit.", 7) == 0)
        return ql_commit_apply(c, e, d);
    return ql_fail(d, QL_EINTEGRITY, "entry %llu has unknown action '%s'",
                   (unsigned long long)e->index, e->action);
}

/* ---- replay ---- */

/*
 * The derived tables, and for each the query that finds rows on one side
 * only. Unqualified names resolve to the temp schema first, so while the
 * scratch copies exist, apply() writes into them and not into the store.
 */
static const char *const DERIVED[] = {
    "units",    "principals", "workflows",    "calendars", "datakeys",
    "grants",   "leads",      "lead_clear",   "lead_entries", "pending",
    "counters", "commitments", "commit_events", "status_counts",
};

#define DIFF_SQL(t)                                                            \
    "SELECT count(*) FROM (SELECT * FROM main." t " EXCEPT SELECT * FROM "   \
    "temp." t ") UNION ALL SELECT count(*) FROM (SELECT * FROM temp." t      \
    " EXCEPT SELECT * FROM main." t ")"

static const char *const DIFF[] = {
    DIFF_SQL("units"),    DIFF_SQL("principals"), DIFF_SQL("workflows"),
    DIFF_SQL("calendars"), DIFF_SQL("datakeys"),  DIFF_SQL("grants"),
    DIFF_SQL("leads"),    DIFF_SQL("lead_clear"), DIFF_SQL("lead_entries"),
    DIFF_SQL("pending"),  DIFF_SQL("counters"),
    DIFF_SQL("commitments"), DIFF_SQL("commit_events"),
    DIFF_SQL("status_counts"),
};

static ql_err
replay_entry(void *ctx, uint64_t idx, const void *note, size_t len,
             const uint8_t leaf[32], struct ql_diag *d)
{
    struct ql_county *c = ctx;
    struct ql_note *n = NULL;
    struct ql_entry e;
    const char *text;
    size_t text_len;
    ql_err rc;

    (void)leaf;
    ql_entry_init(&e);
    if ((rc = ql_note_parse(note, len, &n, d)) != QL_OK)
        goto out;
    text = ql_note_text(n, &text_len);
    if ((rc = ql_entry_parse(text, text_len, &e, d)) != QL_OK)
        goto out;
    if (e.index != idx) {
        rc = ql_fail(d, QL_EINTEGRITY, "entry %llu carries index %llu",
                     (unsigned long long)idx, (unsigned long long)e.index);
        goto out;
    }
    rc = apply(c, &e, d);
out:
    ql_entry_release(&e);
    ql_note_free(n);
    return rc;
}

static ql_err
scratch_tables(struct ql_county *c, bool create, struct ql_diag *d)
{
    static const char SCHEMA[] =
        "SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND "
        "name = ?1";
    struct ql_stmt *st = NULL;
    char sql[1024];
    bool row = false;
    size_t i;
    ql_err rc = QL_OK;

    for (i = 0; i < sizeof DERIVED / sizeof DERIVED[0] && rc == QL_OK; i++) {
        if (!create) {
            snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS temp.%s",
                     DERIVED[i]);
            rc = ql_store_exec(c->store, sql, d);
            continue;
        }
        if ((rc = ql_store_prepare(c->store, SCHEMA, &st, d)) != QL_OK ||
            (rc = ql_stmt_bind_text(st, 1, DERIVED[i], d)) != QL_OK ||
            (rc = ql_stmt_step(st, &row, d)) != QL_OK)
            break;
        if (!row || strncmp(ql_stmt_text(st, 0), "CREATE TABLE ", 13) != 0) {
            rc = ql_fail(d, QL_ESTORE, "table '%s' is missing", DERIVED[i]);
            break;
        }
        /* The same definition, constraints and all, in the temp schema. */
        snprintf(sql, sizeof sql, "CREATE TEMP TABLE %s",
                 ql_stmt_text(st, 0) + 13);
        ql_stmt_done(st);
        st = NULL;
        rc = ql_store_exec(c->store, sql, d);
    }
    ql_stmt_done(st);
    return rc;
}

ql_err
ql_county_replay_check(struct ql_county *c, struct ql_diag *d)
{
    struct ql_stmt *st = NULL;
    uint64_t size;
    bool row = false;
    size_t i;
    int64_t only_main, only_replay;
    ql_err rc;

    if ((rc = ql_store_begin_read(c->store, d)) != QL_OK)
        return rc;
    if ((rc = scratch_tables(c, true, d)) != QL_OK ||
        (rc = ql_log_size(c->log, &size, d)) != QL_OK ||
        (rc = ql_store_entry_walk(c->store, 0, size, replay_entry, c, d)) !=
            QL_OK)
        goto out;
    for (i = 0; i < sizeof DIFF / sizeof DIFF[0]; i++) {
        if ((rc = ql_store_prepare(c->store, DIFF[i], &st, d)) != QL_OK ||
            (rc = ql_stmt_step(st, &row, d)) != QL_OK)
            goto out;
        only_main = ql_stmt_int(st, 0);
        if ((rc = ql_stmt_step(st, &row, d)) != QL_OK)
            goto out;
        only_replay = ql_stmt_int(st, 0);
        ql_stmt_done(st);
        st = NULL;
        if (only_main != 0 || only_replay != 0) {
            rc = ql_fail(d, QL_EINTEGRITY,
                         "table '%s' differs from a replay of the log: %lld "
                         "row(s) only in the store, %lld only in the replay",
                         DERIVED[i], (long long)only_main,
                         (long long)only_replay);
            goto out;
        }
    }
out:
    ql_stmt_done(st);
    {
        struct ql_diag ignore;

        /* Dropping the copies can only fail if the store is gone. */
        (void)scratch_tables(c, false, &ignore);
    }
    ql_store_rollback(c->store);
    drop_key_cache(c);
    return rc;
}
