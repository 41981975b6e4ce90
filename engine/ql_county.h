/*
 * ql_county: one county's log as the engine sees it. The store, the log,
 * the registry of units, principals, workflows and calendars, the unit
 * data keys, and the clock and acting principal of one command.
 *
 * Every change is an entry. A write runs in one transaction: check what is
 * asked against the current state, append the signed entry, apply it to
 * the derived tables (the same code replay uses), sign a checkpoint, and
 * commit. Either all of it is durable or none.
 *
 * The registry entries are signed by the administrator, whose key the
 * genesis entry names; trust in the whole log starts from that key:
 *
 *   genesis            origin, profile, zone, admin key, log key
 *   unit.add           unit code, name, kind
 *   principal.add      key, unit, roles
 *   principal.revoke   name
 *   workflow.add       name, hash; the Lua source as (clear) payload
 *   calendar.set       name; the calendar text as (clear) payload
 *   grant              a unit data key sealed to its holders (by a holder)
 *
 * A struct ql_county is used by one thread at a time.
 */
#ifndef QL_COUNTY_H
#define QL_COUNTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

struct ql_key;
struct ql_store;
struct ql_log;
struct ql_calendar;
struct ql_workflow;

struct ql_county;

/* Unit kinds. Handling units hold leads; supervision reads every unit. */
#define QL_KIND_TOWNSHIP "township"
#define QL_KIND_MEMBER "member"
#define QL_KIND_SUPERVISION "supervision"
#define QL_KIND_AUDIT "audit"

/* Longest display name of a unit, in bytes. */
#define QL_UNIT_NAME_MAX 200
/* Most roles one principal holds. */
#define QL_ROLES_MAX 16

/*
 * Checks a comma-separated role list as the registry takes it: role names
 * ([a-z][a-z0-9_]*), none empty or given twice, at most QL_ROLES_MAX, in
 * fewer than 256 bytes. QL_EUSAGE naming what is wrong.
 */
ql_err ql_county_roles_valid(const char *roles,
                             struct ql_diag *d) QL_MUST_CHECK;

/*
 * Creates the store at path and its log: writes the log key beside it
 * (path + ".logkey", mode 0600, never overwritten) and the genesis entry
 * signed by admin (which needs its secret half), then the first
 * checkpoint. zone is the county's time zone (NULL: Asia/Shanghai). On
 * failure nothing is left behind.
 */
ql_err ql_county_create(const char *path, const char *origin,
                        const struct ql_key *admin, const char *zone,
                        int64_t now, struct ql_diag *d) QL_MUST_CHECK;

/* Flags for ql_county_open. */
#define QL_COUNTY_READONLY 0x1u

/*
 * Opens the county store at path. Writes need the log key file beside the
 * store; it is read on the first write. *out is caller-owned.
 */
ql_err ql_county_open(const char *path, unsigned flags,
                      struct ql_county **out, struct ql_diag *d) QL_MUST_CHECK;

/* Closes the county and its store; NULL is fine. */
void ql_county_close(struct ql_county *c);

/* The clock for this command (Unix seconds, UTC). Default: time(NULL). */
void ql_county_set_now(struct ql_county *c, int64_t now);
int64_t ql_county_now(const struct ql_county *c);

/*
 * The acting principal: the key that signs this command's entries and
 * opens its unit's data keys (borrowed; the caller keeps it alive).
 * Writes fail with QL_EDENIED until one is set.
 */
void ql_county_set_actor(struct ql_county *c, const struct ql_key *k);

/* Overrides the log key file's path (default: store path + ".logkey"). */
ql_err ql_county_set_log_key_path(struct ql_county *c, const char *path,
                                  struct ql_diag *d) QL_MUST_CHECK;

/*
 * Batches: between ql_county_batch_begin and ql_county_batch_commit every
 * write joins one transaction, with one checkpoint at the end, so an import
 * is all-or-nothing and bulk work pays for one durable commit. A write that
 * fails inside a batch rolls the whole batch back (the caller still calls
 * ql_county_batch_abort, which is then harmless). Inside a batch, entries
 * are signed on a second thread while the caller goes on (ql_log.h,
 * deferred signing), so every key set with ql_county_set_actor during the
 * batch must stay alive until the batch commits or aborts.
 */
ql_err ql_county_batch_begin(struct ql_county *c,
                             struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_county_batch_commit(struct ql_county *c,
                              struct ql_diag *d) QL_MUST_CHECK;
void ql_county_batch_abort(struct ql_county *c);

/* Borrowed handles, for the engine's other modules and for tests. */
struct ql_store *ql_county_store(struct ql_county *c);
struct ql_log *ql_county_log(struct ql_county *c);
const char *ql_county_origin(const struct ql_county *c);

/* The county's time zone offset from UTC, in seconds. */
int32_t ql_county_zone(const struct ql_county *c);

/* ---- Registry (administrator) ---- */

ql_err ql_county_unit_add(struct ql_county *c, const char *code,
                          const char *name, const char *kind,
                          struct ql_diag *d) QL_MUST_CHECK;

/*
 * Registers the principal whose public key is pub, in unit, with roles
 * (comma-separated role names, at most QL_ROLES_MAX). The principal's name
 * is its key name and must be new.
 */
ql_err ql_county_principal_add(struct ql_county *c, const struct ql_key *pub,
                               const char *unit, const char *roles,
                               struct ql_diag *d) QL_MUST_CHECK;

/*
 * Revokes a principal: it can no longer sign, and every data key it held
 * becomes stale, so the next writer of each such unit starts a new epoch.
 */
ql_err ql_county_principal_revoke(struct ql_county *c, const char *name,
                                  struct ql_diag *d) QL_MUST_CHECK;

/*
 * Registers a workflow version from its Lua source, after loading and
 * validating it. name is the file's name: it is logged with the source and
 * names the file in every later error from the workflow's guards. *hash (65 bytes, NULL allowed) gets its SHA-256 in hex.
 * QL_EEXIST when that exact source is registered already.
 */
ql_err ql_county_workflow_add(struct ql_county *c, const char *name,
                              const char *source, size_t len, char *hash,
                              struct ql_diag *d) QL_MUST_CHECK;

/* Sets the holiday calendar from its text, after parsing it. */
ql_err ql_county_calendar_set(struct ql_county *c, const char *name,
                              const char *text, size_t len,
                              struct ql_diag *d) QL_MUST_CHECK;

/* ---- Reading the registry ---- */

struct ql_unit_info {
    const char *code, *name, *kind;
    uint64_t idx; /* the entry that registered it */
};

struct ql_principal_info {
    const char *name, *unit, *roles, *vkey;
    uint64_t idx;
    bool revoked;
    uint64_t revoked_idx;
};

struct ql_workflow_info {
    const char *name, *hash;
    uint64_t idx;
};

/* Callbacks see borrowed strings, valid during the call only. */
typedef ql_err (*ql_unit_fn)(void *ctx, const struct ql_unit_info *u,
                             struct ql_diag *d);
typedef ql_err (*ql_principal_fn)(void *ctx, const struct ql_principal_info *p,
                                  struct ql_diag *d);
typedef ql_err (*ql_workflow_fn)(void *ctx, const struct ql_workflow_info *w,
                                 struct ql_diag *d);

ql_err ql_county_units(struct ql_county *c, ql_unit_fn fn, void *ctx,
                       struct ql_diag *d) QL_MUST_CHECK;
/* Principals of unit (NULL: all), by name. */
ql_err ql_county_principals(struct ql_county *c, const char *unit,
                            ql_principal_fn fn, void *ctx,
                            struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_county_workflows(struct ql_county *c, ql_workflow_fn fn, void *ctx,
                           struct ql_diag *d) QL_MUST_CHECK;

/*
 * The compiled workflow registered under hash (hex), or with name the
 * latest version of that name (pass the other NULL). Borrowed: cached in
 * the county until it closes. QL_ENOTFOUND when there is none.
 */
ql_err ql_county_workflow(struct ql_county *c, const char *name,
                          const char *hash, const struct ql_workflow **out,
                          struct ql_diag *d) QL_MUST_CHECK;

/* The county's calendar (borrowed); QL_ENOTFOUND when none is set. */
ql_err ql_county_calendar(struct ql_county *c, const struct ql_calendar **out,
                          struct ql_diag *d) QL_MUST_CHECK;

/* ---- Replay ---- */

/*
 * Rebuilds every derived table from the entries alone, in a scratch copy,
 * and compares it with the tables in the store. QL_OK when they agree;
 * QL_EINTEGRITY naming the first table and row that differ. Changes
 * nothing.
 */
ql_err ql_county_replay_check(struct ql_county *c,
                              struct ql_diag *d) QL_MUST_CHECK;

/* ---- Data keys ---- */

/*
 * Hands on unit's data key as any write in the unit does, without a lead
 * entry: the current epoch (a new one when a revocation made it stale) to
 * the unit's holders who lack it, and every older epoch the actor holds to
 * those who lack it, so that members who joined after a revocation can
 * read, and move, the leads sealed before it. Appends grant entries only,
 * none when nobody lacks anything. QL_ENOTFOUND for an unknown unit;
 * QL_EDENIED when the actor may not hold the unit's key or has not been
 * granted its current epoch.
 */
ql_err ql_county_key_share(struct ql_county *c, const char *unit,
                           struct ql_diag *d) QL_MUST_CHECK;

#endif
