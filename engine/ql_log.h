/*
 * ql_log: the county's audit log. Entries, their text format, appending
 * them with the Merkle tree and signed checkpoints, and reading them back.
 *
 * An entry is a C2SP signed note whose text is `key value` lines in a fixed
 * order (docs/formats.md, "Entries"):
 *
 *   qingling-entry/1
 *   index 17
 *   time 2025-09-15T02:00:00Z
 *   actor sh-yanpan-01
 *   unit GA
 *   lead QH-SH-2025-008
 *   action move
 *   from UNDER_TRIAGE
 *   to ASSIGNED
 *   transition assign
 *   workflow 9f86d081884c7d65...
 *   clear due_at 2025-08-10
 *   clear priority 重点督办
 *   payload AbCd...
 *
 * Everything but the payload is clear, so an auditor with no key can check
 * that the workflow was followed and recompute every figure the
 * supervision office reads; the payload is the unit's encrypted content.
 * Absent values are written "-". `clear` lines (zero or more) come sorted by
 * name, each name once.
 */
#ifndef QL_LOG_H
#define QL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

/* The first line of every entry's text. */
#define QL_ENTRY_FORMAT "qingling-entry/1"
/* An entry's signed note is at most 64 KiB (tile bundles carry 16 bits). */
#define QL_ENTRY_MAX 65535
/* Longest unit code, lead id, action, state or transition name. */
#define QL_ENTRY_WORD_MAX 64
/* Most clear fields one entry carries. */
#define QL_ENTRY_CLEAR_MAX 64

struct ql_entry_field {
    char *name;  /* [a-z_][a-z0-9_]*; '_' first: the engine's own */
    char *value; /* one line of UTF-8, no control characters, may be "" */
};

/*
 * One entry's text, parsed. Strings are NUL-terminated and owned by the
 * entry (ql_entry_release); absent values are empty strings, written "-".
 */
struct ql_entry {
    uint64_t index;
    char time[32];        /* RFC 3339 UTC, "2025-09-15T02:00:00Z" */
    char *actor;          /* key name of the acting principal */
    char unit[QL_ENTRY_WORD_MAX + 1];
    char lead[QL_ENTRY_WORD_MAX + 1];
    char action[QL_ENTRY_WORD_MAX + 1];
    char from[QL_ENTRY_WORD_MAX + 1];
    char to[QL_ENTRY_WORD_MAX + 1];
    char transition[QL_ENTRY_WORD_MAX + 1];
    char workflow[65]; /* lowercase hex SHA-256, or "" */
    struct ql_entry_field *clear;
    size_t nclear;
    uint8_t *payload; /* raw bytes (base64 in the text), or NULL */
    size_t payload_len;
};

/* Zeroes e for use. */
void ql_entry_init(struct ql_entry *e);

/* Frees what e owns and zeroes it; NULL is fine. */
void ql_entry_release(struct ql_entry *e);

/* Copies actor into e (validated as a key name). */
ql_err ql_entry_set_actor(struct ql_entry *e, const char *actor,
                          struct ql_diag *d) QL_MUST_CHECK;

/*
 * Adds a clear field (kept sorted by name). QL_EUSAGE for a bad name, a
 * repeated name or too many fields; QL_EFORMAT for a value that is not one
 * line of UTF-8.
 */
ql_err ql_entry_add_clear(struct ql_entry *e, const char *name,
                          const char *value, struct ql_diag *d) QL_MUST_CHECK;

/* The value of clear field name, borrowed; NULL when absent. */
const char *ql_entry_get_clear(const struct ql_entry *e, const char *name);

/* Copies payload bytes into e, replacing any. */
ql_err ql_entry_set_payload(struct ql_entry *e, const uint8_t *p, size_t len,
                            struct ql_diag *d) QL_MUST_CHECK;

/*
 * Formats e as entry text. *out is caller-owned (free()), NUL-terminated,
 * *len its length. Validates every field as ql_entry_parse would, so what
 * is formatted always parses back to the same entry. QL_ETOOBIG past
 * QL_ENTRY_MAX.
 */
ql_err ql_entry_format(const struct ql_entry *e, char **out, size_t *len,
                       struct ql_diag *d) QL_MUST_CHECK;

/*
 * Parses entry text strictly (every line, in order, nothing extra; the
 * format line first; no leading zeros in the index; a valid time). On
 * success e owns the parsed values (ql_entry_release). QL_EFORMAT names the
 * line that is wrong; QL_EUNSUPPORTED for another format version.
 */
ql_err ql_entry_parse(const char *text, size_t len, struct ql_entry *e,
                      struct ql_diag *d) QL_MUST_CHECK;

/* True for a valid word: unit code, lead id, action, state, transition. */
bool ql_entry_word_valid(const char *s);

/* ---- The log over a store (ql_log.c) ---- */

struct ql_store;
struct ql_key;
struct ql_profile;
struct ql_merkle_proof;

/*
 * An open log: the store, its origin and profile. Borrowing the store: the
 * caller keeps it open while the log is in use and runs every write inside
 * its own ql_store_begin / ql_store_commit, so an entry, its tree hashes
 * and the checkpoint that covers it are durable together or not at all.
 */
struct ql_log;

/*
 * Makes an empty store a log: records the origin (the log's name, which is
 * also the log key's name, so a valid key name) and the profile. Inside a
 * write transaction. QL_EUSAGE for a bad origin; QL_EEXIST when the store
 * already is a log.
 */
ql_err ql_log_init(struct ql_store *s, const char *origin,
                   const struct ql_profile *p, struct ql_diag *d) QL_MUST_CHECK;

/* Opens the log of an initialised store. *out is caller-owned. */
ql_err ql_log_open(struct ql_store *s, struct ql_log **out,
                   struct ql_diag *d) QL_MUST_CHECK;

/* Frees l (not the store); NULL is fine. */
void ql_log_free(struct ql_log *l);

/* The origin and profile, borrowed for the log's lifetime. */
const char *ql_log_origin(const struct ql_log *l);
const struct ql_profile *ql_log_profile(const struct ql_log *l);

/* The number of entries. */
ql_err ql_log_size(struct ql_log *l, uint64_t *size,
                   struct ql_diag *d) QL_MUST_CHECK;

/*
 * Appends e as the next entry: sets e->index to the log's size, formats
 * it, signs it with signers[0..nsigners) (each needs its secret half), and
 * stores the note, its leaf hash and the tree hashes it completes. Inside a
 * write transaction. *idx (NULL allowed) gets the index; *note (NULL
 * allowed) the signed note, caller-owned. Nothing is stored on failure
 * once the caller rolls back.
 */
ql_err ql_log_append(struct ql_log *l, struct ql_entry *e,
                     const struct ql_key *const *signers, size_t nsigners,
                     uint64_t *idx, char **note, size_t *note_len,
                     struct ql_diag *d) QL_MUST_CHECK;

/*
 * Deferred signing, for batches: after ql_log_defer_begin (inside a write
 * transaction), ql_log_append numbers and formats each entry and hands it
 * to a second thread to sign, so signing runs beside the caller's other
 * work on another core. Queued entries count in ql_log_size and read back
 * through ql_log_read at once; they reach the store, signed, in order,
 * with their tree hashes: runs of them as soon as they are signed, stored
 * by a later ql_log_append, and the rest at ql_log_sync, which the
 * checkpoint, root, proofs and any request for a signed note run first.
 * Every entry is still signed by its own actors: only the moment changes.
 * The keys given to ql_log_append must stay alive until the sync. A
 * transaction is committed only after a sync (the checkpoint's), and
 * rolled back after any failure of ql_log_append or ql_log_sync, which
 * may have stored some of the queue. ql_log_defer_end drops what the
 * queue holds and stops the thread.
 */
ql_err ql_log_defer_begin(struct ql_log *l, struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_log_sync(struct ql_log *l, struct ql_diag *d) QL_MUST_CHECK;
void ql_log_defer_end(struct ql_log *l);

/*
 * Appends an already signed entry note whose text has the next index (for
 * tools that copy logs, and for tests that forge entries). Checks only the
 * note's format and index; signatures are the verifier's business.
 */
ql_err ql_log_append_note(struct ql_log *l, const char *note, size_t len,
                          struct ql_diag *d) QL_MUST_CHECK;

/*
 * Signs, with the log key, the checkpoint of the log's current size and
 * stores it (once per size: a second call at the same size is a no-op).
 * Inside a write transaction. The log key's name must be the origin.
 * *note (NULL allowed) gets the signed checkpoint, caller-owned.
 */
ql_err ql_log_checkpoint(struct ql_log *l, const struct ql_key *log_key,
                         char **note, struct ql_diag *d) QL_MUST_CHECK;

/* The root hash of the tree of the first size entries. */
ql_err ql_log_root(struct ql_log *l, uint64_t size, uint8_t root[32],
                   struct ql_diag *d) QL_MUST_CHECK;

/* RFC 9162 proofs from the stored tree (see ql_merkle.h). */
ql_err ql_log_prove_inclusion(struct ql_log *l, uint64_t index, uint64_t size,
                              struct ql_merkle_proof *out,
                              struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_log_prove_consistency(struct ql_log *l, uint64_t m, uint64_t n,
                                struct ql_merkle_proof *out,
                                struct ql_diag *d) QL_MUST_CHECK;

/*
 * Reads entry idx: *note (caller-owned, NULL allowed) gets the signed note
 * and e (NULL allowed) its parsed text. QL_ENOTFOUND past the end;
 * QL_EINTEGRITY when the stored bytes do not parse as an entry of that
 * index.
 */
ql_err ql_log_read(struct ql_log *l, uint64_t idx, char **note,
                   size_t *note_len, struct ql_entry *e,
                   struct ql_diag *d) QL_MUST_CHECK;

#endif
