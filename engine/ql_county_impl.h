/*
 * Private to the engine's county modules (ql_county.c, ql_lead*.c): the
 * body of struct ql_county and the helpers every write shares. Nothing
 * outside engine/ includes this.
 */
#ifndef QL_COUNTY_IMPL_H
#define QL_COUNTY_IMPL_H

#include <string.h>

#include "ql_county.h"
#include "ql_keys.h"
#include "ql_log.h"
#include "ql_seal.h"

struct county_wf {
    char hash[65];
    struct ql_workflow *wf;
};

struct county_dk {
    char unit[QL_ENTRY_WORD_MAX + 1];
    int64_t epoch;
    struct ql_key *opener; /* public copy of the key whose grant opened it */
    struct ql_datakey *key;
};

/* Unit kinds a batch keeps, by a hash of the code (county_unit_kind). */
#define COUNTY_KINDS 64
struct county_kind {
    char code[QL_ENTRY_WORD_MAX + 1]; /* "" when empty */
    char kind[16];
};

struct ql_county {
    struct ql_store *store;
    struct ql_log *log;
    char *path;
    char *log_key_path;
    struct ql_key *log_key;   /* read on the first write */
    struct ql_key *log_pub;   /* the log key the genesis entry names */
    struct ql_key *admin;     /* public half, from the genesis entry */
    const struct ql_key *actor; /* borrowed */
    int64_t now;
    int32_t zone;
    bool readonly;
    bool batch;        /* inside ql_county_batch_begin */
    bool batch_failed; /* a write in the batch failed: all rolled back */
    struct county_wf *wfs;
    size_t nwfs;
    struct ql_calendar *calendar;
    uint64_t calendar_idx; /* entry the cached calendar came from */
    struct county_dk *dks;
    size_t ndks;
    /*
     * Inside a batch the registry cannot change under us but through
     * apply(), which empties this; so actors resolved once are reused.
     */
    struct county_who *whos;
    size_t nwhos;
    /* Write keys settled in this batch (emptied with whos). */
    struct county_wkey *wkeys;
    size_t nwkeys;
    /*
     * Key scopes whose holders all hold the current epoch's grant, learned
     * in this batch whoever the actor was (emptied with whos): a write by
     * another actor then skips the query over every principal.
     */
    struct county_settled *settled;
    size_t nsettled, csettled;
    /* The content of leads written in this batch (ql_lead.c). */
    struct lead_cache *leads;
    /* The status counts key the last lead applied in this batch was left
       with (ql_status.c; dropped with leads). */
    struct ql_status_memo *status_memo;
    /* The latest workflow of a name, found in this batch (emptied with
       whos: only a registry entry registers a workflow). */
    const struct ql_workflow *named_wf;
    char named_wf_name[64];
    /* Unit kinds found in this batch (emptied with whos: only a registry
       entry adds a unit). */
    struct county_kind kinds[COUNTY_KINDS];
    /* calendar is the latest one set, checked in this batch (emptied with
       whos: only a registry entry sets a calendar). */
    bool calendar_settled;
};

/*
 * Copies src into dst of size bytes, cut short if it must be; nothing
 * when size is 0. Inline: a lead entry's write copies a dozen strings.
 */
static inline void
county_copy_text(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (size == 0)
        return;
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Who the actor is, resolved against the registry. */
struct county_actor {
    bool admin;            /* the genesis key, or a principal with role admin */
    char name[QL_KEY_NAME_MAX + 1];
    char unit[QL_ENTRY_WORD_MAX + 1];
    char kind[16];         /* the unit's kind */
    char roles[256];       /* comma-separated */
};

/* An actor's key (borrowed: alive for the batch) and who it resolved to. */
struct county_who {
    const struct ql_key *key;
    struct county_actor who;
};

/* Actors remembered per batch. */
#define COUNTY_WHOS 8

/*
 * A write key settled in a batch: the current epoch, opened by this actor,
 * its holders all granted. Only a registry entry or a rollback changes
 * that, and both empty the list.
 */
struct county_wkey {
    const struct ql_key *actor;
    char scope[QL_ENTRY_WORD_MAX + 1];
    bool (*eligible)(void *ctx, const char *roles); /* county_holder_fn */
    void *ectx;
    const struct ql_datakey *key;
    int64_t epoch;
};

#define COUNTY_WKEYS 16

/*
 * Starts a write: checks that an actor is set and resolves it (QL_EDENIED
 * for an unknown or revoked key), reads the log key, begins the
 * transaction. Every write path calls this first and county_finish (or
 * county_abort) last.
 */
ql_err county_begin(struct ql_county *c, struct county_actor *who,
                    struct ql_diag *d);

/* Signs the checkpoint and commits; rolls back on failure. */
ql_err county_finish(struct ql_county *c, struct ql_diag *d);

/* Rolls back the write. */
void county_abort(struct ql_county *c);

/*
 * Appends e signed by signers (the actor first) and applies it to the
 * derived tables. e->time is set from the clock.
 */
ql_err county_append(struct ql_county *c, struct ql_entry *e,
                     const struct ql_key *const *signers, size_t nsigners,
                     uint64_t *idx, struct ql_diag *d);

/* True when roles (comma-separated) contains role. */
bool county_has_role(const char *roles, const char *role);

/* Resolves principal name (active or not) into who; QL_ENOTFOUND. */
ql_err county_principal(struct ql_county *c, const char *name,
                        struct county_actor *who, bool *revoked,
                        struct ql_diag *d);

/* The kind of unit code; QL_ENOTFOUND for an unknown unit. */
ql_err county_unit_kind(struct ql_county *c, const char *code, char *kind,
                        size_t size, struct ql_diag *d);

/*
 * The unit's current data key for writing, opened with the actor's key,
 * starting a new epoch (and granting it to every holder) when there is
 * none or the last one is stale, and granting it to holders that lack it.
 * Inside a write. Borrowed: cached in the county. *epoch gets its epoch.
 */
ql_err county_write_key(struct ql_county *c, const char *unit,
                        const struct ql_datakey **key, int64_t *epoch,
                        struct ql_diag *d);

/*
 * Decides who holds a key scope that is not a unit (the sealed envelope of
 * secret fields): called with the roles of each active principal of a
 * supervision unit, the only ones that may hold such a scope (a handling
 * unit's member reads its own unit's leads, and one envelope key serves
 * every unit).
 */
typedef bool (*county_holder_fn)(void *ctx, const char *roles);

/*
 * The key scope "SECRET": like county_write_key, but its holders are the
 * active supervision principals for whom eligible() says yes.
 */
#define QL_SECRET_SCOPE "SECRET"
ql_err county_write_key_for(struct ql_county *c, const char *scope,
                            county_holder_fn eligible, void *ctx,
                            const struct ql_datakey **key, int64_t *epoch,
                            struct ql_diag *d);

/*
 * The unit's data key of epoch, opened with the actor's grant. QL_EDENIED
 * when the actor holds no grant for it (its content is not theirs).
 */
ql_err county_read_key(struct ql_county *c, const char *unit, int64_t epoch,
                       const struct ql_datakey **key, struct ql_diag *d);

/*
 * Forgets the content of leads kept for the batch (ql_lead.c), wiping it:
 * at the batch's start and end and on every rollback. NULL-safe.
 */
void ql_lead_cache_drop(struct ql_county *c);

/* Applies a lead entry (ql_lead.c); called by the county's apply. */
ql_err ql_lead_apply(struct ql_county *c, const struct ql_entry *e,
                     struct ql_diag *d);

/* Applies a commitment entry (ql_commit.c); called by the county's apply. */
ql_err ql_commit_apply(struct ql_county *c, const struct ql_entry *e,
                       struct ql_diag *d);

#endif
