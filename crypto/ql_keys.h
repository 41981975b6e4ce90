/*
 * ql_keys: key pairs, the names and IDs C2SP signed notes give them, and the
 * files that hold them.
 *
 * A struct ql_key is one principal's (or the log's) key pair under one
 * profile, or just its public half. The secret half lives in sodium_malloc
 * memory (guard pages, never swapped where the system allows, wiped on
 * free) and never leaves this module except sealed in a key file.
 *
 * Key names follow C2SP signed-note: non-empty UTF-8 with no Unicode space
 * and no '+'. The key ID is the first four bytes of
 * SHA-256(name || 0x0A || type || public key), read big-endian; the type is
 * the profile's note type (0x01 for Ed25519) unless a format says otherwise
 * (tlog-cosignature uses 0x04 with the same Ed25519 key).
 */
#ifndef QL_KEYS_H
#define QL_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ql_err.h"
#include "ql_profile.h"

/* Longest key name accepted, in bytes. */
#define QL_KEY_NAME_MAX 256
/* Signed-note key type of C2SP tlog-cosignature/v1 (Ed25519 cosigners). */
#define QL_KEYTYPE_COSIG 0x04

struct ql_key;

/* True when name is a valid signed-note key name of at most QL_KEY_NAME_MAX. */
bool ql_key_name_valid(const char *name);

/*
 * Creates a fresh key pair named name under profile p. *out is
 * caller-owned (ql_key_free). QL_EUSAGE for an invalid name.
 */
ql_err ql_key_generate(const struct ql_profile *p, const char *name,
                       struct ql_key **out, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Derives the key pair from a 32-byte seed (known-answer tests, and the
 * signed-note examples that publish their seeds). Same ownership as
 * ql_key_generate.
 */
ql_err ql_key_from_seed(const struct ql_profile *p, const char *name,
                        const uint8_t seed[32], struct ql_key **out,
                        struct ql_diag *d) QL_MUST_CHECK;

/*
 * Parses a verifier key string "name+hex(id)+base64(type || public key)"
 * into a public-only key. The type byte selects the profile (0x01: intl);
 * with allow_cosig, type 0x04 (an Ed25519 cosigner) is accepted too. The ID
 * must match the name, type and key. QL_EFORMAT names what is wrong.
 */
ql_err ql_key_parse_vkey(const char *vkey, bool allow_cosig,
                         struct ql_key **out, struct ql_diag *d) QL_MUST_CHECK;

/*
 * The verifier key string of k for note type type (0 means the profile's
 * own). *out is caller-owned (free()).
 */
ql_err ql_key_vkey(const struct ql_key *k, uint8_t type, char **out,
                   struct ql_diag *d) QL_MUST_CHECK;

/* A public-only copy of k, caller-owned. */
ql_err ql_key_public_copy(const struct ql_key *k, struct ql_key **out,
                          struct ql_diag *d) QL_MUST_CHECK;

/* The key's name, borrowed for the key's lifetime. */
const char *ql_key_name(const struct ql_key *k);

/* The key's profile. */
const struct ql_profile *ql_key_profile(const struct ql_key *k);

/* The key ID for note type type (0 means the profile's own). */
uint32_t ql_key_id(const struct ql_key *k, uint8_t type);

/* The raw public key, borrowed; *len gets its length. */
const uint8_t *ql_key_public(const struct ql_key *k, size_t *len);

/* True when k holds a secret half and can sign and unseal. */
bool ql_key_has_secret(const struct ql_key *k);

/* True when a and b have the same profile and public key. */
bool ql_key_same_public(const struct ql_key *a, const struct ql_key *b);

/*
 * Signs m. sig must hold QL_SIG_MAX bytes; *sig_len gets the length.
 * QL_EUSAGE when k has no secret half.
 */
ql_err ql_key_sign(const struct ql_key *k, const void *m, size_t mlen,
                   uint8_t *sig, size_t *sig_len,
                   struct ql_diag *d) QL_MUST_CHECK;

/* QL_OK when sig is k's signature of m, QL_EVERIFY otherwise. */
ql_err ql_key_verify(const struct ql_key *k, const void *m, size_t mlen,
                     const uint8_t *sig, size_t sig_len) QL_MUST_CHECK;

/*
 * Seals m (at most 4096 bytes) so that only k's secret half opens it.
 * c must hold mlen + ql_profile_seal_overhead() bytes.
 */
ql_err ql_key_seal_to(const struct ql_key *k, const uint8_t *m, size_t mlen,
                      uint8_t *c, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Opens what ql_key_seal_to sealed to k. m must hold
 * clen - ql_profile_seal_overhead() bytes; callers opening secrets pass
 * guarded memory. QL_EVERIFY when c is not for k or was changed.
 */
ql_err ql_key_unseal(const struct ql_key *k, const uint8_t *c, size_t clen,
                     uint8_t *m, struct ql_diag *d) QL_MUST_CHECK;

/* Wipes and frees k; NULL is fine. */
void ql_key_free(struct ql_key *k);

/* ---- Key files (ql_keyfile.c; format in docs/formats.md) ---- */

/* Flags for ql_keyfile_encode and ql_keyfile_write. */
#define QL_KEYFILE_PLAINTEXT 0x1u /* no passphrase: automation and tests */

/* Upper bound of a passphrase, in bytes. */
#define QL_PASSPHRASE_MAX 1024

/*
 * Encodes k's secret half as key-file text, encrypted under pass unless
 * flags has QL_KEYFILE_PLAINTEXT (then pass must be NULL). *out is
 * caller-owned sodium_malloc memory: release it with ql_keyfile_buf_free.
 */
ql_err ql_keyfile_encode(const struct ql_key *k, const char *pass,
                         size_t passlen, unsigned flags, char **out,
                         size_t *outlen, struct ql_diag *d) QL_MUST_CHECK;

/* Wipes and frees a buffer from ql_keyfile_encode; NULL is fine. */
void ql_keyfile_buf_free(char *buf);

/*
 * Decodes key-file text. pass may be NULL for a plaintext file. QL_EPASS
 * for a wrong (or missing) passphrase on an intact file, QL_EDAMAGED for a
 * file that was cut short or changed, QL_EFORMAT for something that is not
 * a qingling key file, QL_EUNSUPPORTED for an unknown version or profile.
 */
ql_err ql_keyfile_decode(const char *buf, size_t len, const char *pass,
                         size_t passlen, struct ql_key **out,
                         struct ql_diag *d) QL_MUST_CHECK;

/* Sets *encrypted to whether the key file text needs a passphrase. */
ql_err ql_keyfile_is_encrypted(const char *buf, size_t len, bool *encrypted,
                               struct ql_diag *d) QL_MUST_CHECK;

/*
 * Writes a secret key file at path: created with O_EXCL|O_NOFOLLOW, mode
 * 0600, synced; never overwrites (QL_EEXIST). Removes a half-written file.
 */
ql_err ql_keyfile_write(const char *path, const struct ql_key *k,
                        const char *pass, size_t passlen, unsigned flags,
                        struct ql_diag *d) QL_MUST_CHECK;

/*
 * Reads a secret key file. Refuses files that others can read or write,
 * and files another account owns (QL_EDENIED), and files larger than any
 * key file (QL_EFORMAT). Errors as ql_keyfile_decode, naming the path.
 */
ql_err ql_keyfile_read(const char *path, const char *pass, size_t passlen,
                       struct ql_key **out, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Reads the log key file beside a store (no passphrase), which the
 * accounts of a deployment share through the store's group (DESIGN.md
 * section 11): besides what ql_keyfile_read accepts, a file that group
 * may read (mode 0640 at most) and whose owner is this account, root or
 * owner (the store file's owner). Refuses (QL_EDENIED) a file any group
 * may write, that another group or the world may read, or that someone
 * else owns; QL_EUNSUPPORTED for an encrypted file.
 */
ql_err ql_keyfile_read_shared(const char *path, uid_t owner, gid_t group,
                              struct ql_key **out,
                              struct ql_diag *d) QL_MUST_CHECK;

/*
 * Writes the public key file at path (the verifier key string and a
 * newline; mode 0644, O_EXCL|O_NOFOLLOW) and reads one back.
 */
ql_err ql_keyfile_write_public(const char *path, const struct ql_key *k,
                               struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_keyfile_read_public(const char *path, struct ql_key **out,
                              struct ql_diag *d) QL_MUST_CHECK;

#endif
