/*
 * ql_note: C2SP signed notes (signed-note v1.0.0), transparency log
 * checkpoints (tlog-checkpoint v1.0.0) and Ed25519 cosignatures
 * (tlog-cosignature v1.0.1, "cosignature/v1").
 *
 * A signed note is a text, a blank line, then one or more signature lines
 *
 *     — <key name> <base64(4-byte key ID, big-endian || signature)>
 *
 * where the dash is U+2014 and the separators are single spaces. Every log
 * entry, every checkpoint and every cosignature in qingling is one; the
 * layout is in docs/formats.md.
 *
 * What this module accepts, everywhere (signing and verifying alike):
 * - at most QL_NOTE_MAX bytes and QL_NOTE_MAX_SIGS signature lines
 *   (QL_ETOOBIG beyond);
 * - valid UTF-8 (no overlong forms, surrogates or code points past
 *   U+10FFFF) with no control character but '\n': C0 controls, DEL and the
 *   C1 controls U+0080..U+009F are refused (the spec names only C0; we
 *   refuse DEL and C1 as well, which no honest signer writes);
 * - a text that ends in '\n' and holds more than newlines;
 * - signature lines exactly as above: canonical padded base64 of at least
 *   five bytes, a key name that is non-empty UTF-8 with no Unicode space
 *   and no '+'.
 * Anything else is QL_EFORMAT, with a message naming the byte or line.
 *
 * Verification (ql_note_verify) follows the spec: the text ends at the
 * LAST blank line; signatures whose (key name, key ID) pair is not a
 * known key's are ignored; a known key's signature that does not verify
 * rejects the whole note (QL_EVERIFY); so does a known key signing twice
 * (qingling counts signers for two-person rules, and no honest signer
 * writes two lines); and at least one known key must have signed
 * (QL_EVERIFY). Format errors are reported before any signature is
 * checked.
 *
 * Cosignatures are signatures of key type QL_KEYTYPE_COSIG (0x04) by an
 * Ed25519 key: the key ID is computed with type 0x04, the signed message is
 * "cosignature/v1\ntime <unix seconds>\n" followed by the note text, and
 * the line's payload is key ID || 8-byte big-endian timestamp || 64-byte
 * signature. ql_note_verify checks them next to ordinary signatures when
 * the caller lists a key with that type.
 *
 * Unless a comment says otherwise: pointer arguments must not be NULL;
 * strings this module returns through char ** are caller-owned (free()),
 * NUL-terminated, with their length (not counting the NUL) in the size_t
 * beside them; out-parameters are written only on success. Every function
 * is reentrant; ql_crypto_init must have been called first.
 */
#ifndef QL_NOTE_H
#define QL_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"
#include "ql_keys.h"
#include "ql_profile.h"

/* Largest signed note accepted or produced, in bytes (1 MiB). */
#define QL_NOTE_MAX (1024 * 1024)
/* Most signature lines one note may carry (the spec asks for >= 16). */
#define QL_NOTE_MAX_SIGS 100
/* Most known keys one verification may be given. */
#define QL_NOTE_MAX_KEYS 64
/* Longest checkpoint origin, in bytes (the longest key name). */
#define QL_ORIGIN_MAX QL_KEY_NAME_MAX
/* Latest cosignature timestamp the spec allows: 2^63 - 1. */
#define QL_COSIG_TIME_MAX UINT64_C(0x7fffffffffffffff)

/* ---- Signed notes ---- */

/*
 * One key a verifier trusts, and what verification found for it (in the
 * manner of struct pollfd: the caller fills key and type, ql_note_verify
 * fills the rest on success).
 */
struct ql_note_key {
    const struct ql_key *key; /* borrowed; the public half is enough */
    uint8_t type;       /* 0: an ordinary signer (the key's own note type);
                           QL_KEYTYPE_COSIG: an Ed25519 cosigner */
    bool verified;      /* out: a good signature by this key was found */
    uint64_t timestamp; /* out: a cosigner's timestamp, 0 for others */
};

/*
 * Checks that text (len bytes) can be the text of a signed note: at most
 * QL_NOTE_MAX bytes (QL_ETOOBIG), valid UTF-8 without control characters
 * but '\n', ending in '\n', not only newlines (QL_EFORMAT). Callers that
 * build texts from user data check them with this before signing.
 */
ql_err ql_note_check_text(const char *text, size_t len,
                          struct ql_diag *d) QL_MUST_CHECK;

/*
 * Signs text with k (which needs its secret half) and makes one signature
 * line, "— name base64(id || sig)\n", in *line. The text is checked as
 * ql_note_check_text does. QL_EUSAGE when k has no secret half or a name
 * that cannot appear in a note.
 */
ql_err ql_note_sign_line(const struct ql_key *k, const char *text, size_t len,
                         char **line, size_t *line_len,
                         struct ql_diag *d) QL_MUST_CHECK;

/*
 * Signs text with each of keys[0..nkeys) in that order and returns the
 * signed note (text, blank line, one signature line per key) in *note.
 * Ed25519 is deterministic, so the same text and keys give the same bytes.
 * QL_EUSAGE for nkeys of 0 or more than QL_NOTE_MAX_SIGS, a NULL key, a key
 * without its secret half, or two keys with the same name and ID;
 * QL_ETOOBIG when the note would pass QL_NOTE_MAX.
 */
ql_err ql_note_sign(const char *text, size_t len,
                    const struct ql_key *const *keys, size_t nkeys, char **note,
                    size_t *note_len, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Adds one signature line (as ql_note_sign_line or ql_cosig_sign make it,
 * ending in '\n') to a signed note: the approver's signature on a pending
 * entry, an auditor's cosignature on a checkpoint. Nothing is verified
 * here; both are checked for format (QL_EFORMAT). QL_EEXIST when the note
 * already has a line with the same key name and ID; QL_ETOOBIG past
 * QL_NOTE_MAX or QL_NOTE_MAX_SIGS.
 */
ql_err ql_note_append(const char *note, size_t len, const char *line,
                      size_t line_len, char **out, size_t *out_len,
                      struct ql_diag *d) QL_MUST_CHECK;

/*
 * Verifies a signed note against the known keys keys[0..nkeys), under the
 * rules at the top of this file. On success *text_len (NULL allowed) gets
 * the length of the text, which is the first *text_len bytes of note
 * (borrowed: nothing is copied), and each keys[i].verified says whether
 * keys[i] signed (keys[i].timestamp gets a cosigner's time). Callers that
 * need a particular signer (the actor, the approver, the log) check its
 * flag: success only means at least one known key signed.
 *
 * Errors: QL_EUSAGE for nkeys of 0 or above QL_NOTE_MAX_KEYS, a NULL key,
 * an unsupported type, or two keys with the same name and ID; QL_ETOOBIG
 * and QL_EFORMAT for a note that breaks the format; QL_EVERIFY when a
 * known key's signature is bad (wrong length, cosignature time past
 * QL_COSIG_TIME_MAX, or not verifying), when a known key signed twice, or
 * when no known key signed. The message names the key.
 */
ql_err ql_note_verify(const char *note, size_t len, struct ql_note_key *keys,
                      size_t nkeys, size_t *text_len,
                      struct ql_diag *d) QL_MUST_CHECK;

/* A parsed, unverified note (ql_note_parse), for tools that show notes. */
struct ql_note;

/* One signature line of a parsed note; every pointer is borrowed. */
struct ql_note_sig {
    const char *name;   /* the key name, NUL-terminated */
    uint32_t id;        /* the key ID */
    const uint8_t *sig; /* the bytes after the key ID (for a cosignature:
                           timestamp || signature) */
    size_t sig_len;     /* at least 1 */
};

/*
 * Parses a signed note without verifying anything: the same format checks
 * as ql_note_verify, duplicates allowed. *out is caller-owned
 * (ql_note_free) and holds its own copies of everything.
 */
ql_err ql_note_parse(const char *note, size_t len, struct ql_note **out,
                     struct ql_diag *d) QL_MUST_CHECK;

/* The note's text (NUL-terminated copy); *len (NULL allowed) its length. */
const char *ql_note_text(const struct ql_note *n, size_t *len);

/* The number of signature lines, in the note's order. */
size_t ql_note_sig_count(const struct ql_note *n);

/* Signature line i, or NULL when i >= ql_note_sig_count(n). */
const struct ql_note_sig *ql_note_sig(const struct ql_note *n, size_t i);

/* Frees n; NULL is fine. */
void ql_note_free(struct ql_note *n);

/* ---- Checkpoints ---- */

/*
 * The note text of a checkpoint: origin, tree size, root hash, and
 * optional extension lines.
 */
struct ql_checkpoint {
    char origin[QL_ORIGIN_MAX + 1]; /* non-empty, NUL-terminated */
    uint64_t size;                  /* at most 2^63 - 1 */
    uint8_t root[QL_HASH_LEN];      /* RFC 6962 root hash */
    const char *ext;                /* extension lines, each non-empty and
                                       ending in '\n'; NULL when none */
    size_t ext_len;                 /* bytes at ext; 0 when none */
};

/*
 * The checkpoint text "<origin>\n<size>\n<base64 root>\n<ext>". QL_EFORMAT
 * when cp could not be parsed back: an empty or over-long origin, one with
 * a newline or control character, a size past 2^63 - 1, an extension line
 * that is empty or does not end in '\n'.
 */
ql_err ql_checkpoint_format(const struct ql_checkpoint *cp, char **text,
                            size_t *len, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Parses a checkpoint text (a note's text, ending in '\n'). Strict: three
 * or more non-empty lines, the size in decimal without sign, spaces or
 * leading zeros ("0" alone is zero) and below 2^63, the root hash the
 * canonical base64 of exactly QL_HASH_LEN bytes, every extension line
 * non-empty. cp->ext points into text (borrowed). QL_EFORMAT otherwise.
 */
ql_err ql_checkpoint_parse(const char *text, size_t len,
                           struct ql_checkpoint *cp,
                           struct ql_diag *d) QL_MUST_CHECK;

/*
 * Formats cp and signs it with the log key: *note is the signed
 * checkpoint. The spec wants the log key's name to match the origin; that
 * is the caller's choice and is not enforced here.
 */
ql_err ql_checkpoint_sign(const struct ql_key *log_key,
                          const struct ql_checkpoint *cp, char **note,
                          size_t *note_len, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Verifies a signed checkpoint and parses its text. The log key's
 * signature is required (QL_EVERIFY without it); cosigners[0..ncosigners)
 * (NULL when ncosigners is 0) are further known keys, usually of type
 * QL_KEYTYPE_COSIG, whose flags are filled as ql_note_verify does.
 * cp->ext points into note. Errors as ql_note_verify and
 * ql_checkpoint_parse; QL_EUSAGE past QL_NOTE_MAX_KEYS - 1 cosigners.
 */
ql_err ql_checkpoint_open(const char *note, size_t len,
                          const struct ql_key *log_key,
                          struct ql_note_key *cosigners, size_t ncosigners,
                          struct ql_checkpoint *cp,
                          struct ql_diag *d) QL_MUST_CHECK;

/* ---- Cosignatures (tlog-cosignature, Ed25519, type 0x04) ---- */

/*
 * Cosigns the checkpoint text text (the note text, without signature
 * lines) as of timestamp (Unix seconds) with cosigner's Ed25519 key and
 * returns the signature line, ending in '\n', for ql_note_append.
 * QL_EFORMAT when text is not a checkpoint; QL_EUSAGE for a timestamp
 * past QL_COSIG_TIME_MAX or a key without its secret half;
 * QL_EUNSUPPORTED for a key that is not Ed25519.
 */
ql_err ql_cosig_sign(const struct ql_key *cosigner, const char *text,
                     size_t len, uint64_t timestamp, char **line,
                     size_t *line_len, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Verifies one cosignature line (ending in '\n') on the note text text
 * against cosigner's public key, and sets *timestamp to its time.
 * QL_EFORMAT for a malformed text or line; QL_EVERIFY when the line is by
 * another key (name or type-0x04 key ID differ), has the wrong length or
 * a time past QL_COSIG_TIME_MAX, or does not verify; QL_EUNSUPPORTED for
 * a key that is not Ed25519.
 */
ql_err ql_cosig_verify(const struct ql_key *cosigner, const char *text,
                       size_t len, const char *line, size_t line_len,
                       uint64_t *timestamp, struct ql_diag *d) QL_MUST_CHECK;

#endif
