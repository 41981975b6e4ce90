/*
 * ql_seal: unit data keys, the payloads they encrypt and the grants that
 * hand them to principals (DESIGN.md section 5, "Data keys"; formats in
 * docs/formats.md).
 *
 * A struct ql_datakey is one unit's 32-byte key for one epoch, tied to the
 * profile whose AEAD it feeds. The key bytes live in sodium_malloc memory
 * (guard pages, not swapped where the system allows), are made read-only
 * once written, and are wiped when the key is freed. They never leave this
 * module except sealed to a principal in a grant.
 *
 * Three things are built on a data key:
 *
 *   - Payloads: version || nonce || AEAD ciphertext and tag of the bytes,
 *     with caller-chosen additional data (the engine binds the lead id and
 *     the entry index there, so a payload cannot be moved to another lead
 *     or entry). The nonce is random for every encryption.
 *
 *   - Grants: the key sealed anonymously to a principal's public key
 *     (ql_key_seal_to), together with a caller-chosen context (the log, the
 *     unit and the epoch). Opening checks the context, so a grant for one
 *     unit or epoch cannot be passed off as another's.
 *
 *   - Keyed hashes: HMAC over the profile's hash, domain-separated by a
 *     label, for derived subkeys, blind indexes (such as a reporter's
 *     identity, matched without being revealed) and the key's fingerprint.
 *
 * Sealing is anonymous: anyone holding a principal's public key can make a
 * grant that opens, carrying a key of their choosing. A grant proves only
 * that it was made for its context, not who made it. Callers check the key
 * it yields against a fingerprint (ql_datakey_fingerprint) recorded in an
 * entry signed by someone entitled to issue the key, before encrypting
 * anything under it.
 *
 * Unless a function says otherwise, pointers must not be NULL, except that
 * a byte string of length 0 may be NULL. Outputs are written only on
 * success.
 */
#ifndef QL_SEAL_H
#define QL_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"
#include "ql_keys.h"
#include "ql_profile.h"

/* A data key is 32 bytes in every profile (DESIGN.md section 5). */
#define QL_DATAKEY_LEN QL_AEAD_KEY_LEN

/* The first byte of every payload of the current format. */
#define QL_PAYLOAD_VERSION 0x01

/*
 * Largest plaintext a payload holds, in bytes. An entry is at most 64 KiB
 * of text and carries its payload in base64 (4 bytes for 3): 44 KiB of
 * plaintext seals to at most 45,113 bytes, 60,152 in base64, which leaves
 * over 5 KiB for the entry's clear lines and signatures.
 */
#define QL_PAYLOAD_MAX 45056

/* Largest sealed payload in any profile: version, nonce, text, tag. */
#define QL_PAYLOAD_SEALED_MAX                                                  \
    (1 + QL_AEAD_NONCE_MAX + QL_PAYLOAD_MAX + QL_AEAD_TAG_MAX)

/* Largest additional data: nothing longer fits in an entry. */
#define QL_PAYLOAD_AD_MAX 65536

/* The first byte of the sealed content of every grant. */
#define QL_GRANT_VERSION 0x01

/* Longest grant context, in bytes. */
#define QL_GRANT_CONTEXT_MAX 1024

/* Largest grant in any profile. */
#define QL_GRANT_MAX                                                           \
    (QL_SEAL_OVERHEAD_MAX + 3 + QL_GRANT_CONTEXT_MAX + QL_DATAKEY_LEN)

/* Length of keyed hashes and fingerprints (the profile's hash length). */
#define QL_DATAKEY_MAC_LEN QL_HASH_LEN

/* Longest label of a keyed hash or derived key, in bytes. */
#define QL_DATAKEY_LABEL_MAX 255

struct ql_datakey;

/*
 * Creates a fresh random data key for profile p. *out is caller-owned
 * (ql_datakey_free). QL_ENOMEM when guarded memory runs out.
 */
ql_err ql_datakey_new(const struct ql_profile *p, struct ql_datakey **out,
                      struct ql_diag *d) QL_MUST_CHECK;

/* Wipes and frees k; NULL is fine. */
void ql_datakey_free(struct ql_datakey *k);

/* The profile whose AEAD k is for. */
const struct ql_profile *ql_datakey_profile(const struct ql_datakey *k);

/*
 * Bytes a payload adds to its plaintext under k's profile: 1 + nonce +
 * tag (41 for "intl").
 */
size_t ql_datakey_overhead(const struct ql_datakey *k);

/*
 * Encrypts the mlen bytes at m under k, binding the adlen bytes at ad
 * (which are not stored: the decrypting side supplies them again). *out
 * gets mlen + ql_datakey_overhead(k) bytes of caller-owned memory (free()).
 * Two encryptions of the same bytes differ (random nonce).
 * QL_ETOOBIG when mlen > QL_PAYLOAD_MAX or adlen > QL_PAYLOAD_AD_MAX;
 * QL_EUSAGE for a NULL pointer with a non-zero length.
 */
ql_err ql_datakey_encrypt(const struct ql_datakey *k, const uint8_t *m,
                          size_t mlen, const uint8_t *ad, size_t adlen,
                          uint8_t **out, size_t *outlen,
                          struct ql_diag *d) QL_MUST_CHECK;

/*
 * Decrypts a payload made by ql_datakey_encrypt with the same key and
 * additional data. *out gets the plaintext, caller-owned, with a NUL after
 * its *outlen bytes (not counted) so text can be read in place; release it
 * with ql_datakey_plain_free, which wipes it. Errors:
 *   QL_EFORMAT  empty, unknown version byte, or shorter than the overhead;
 *   QL_ETOOBIG  longer than any payload of QL_PAYLOAD_MAX bytes, or adlen
 *               > QL_PAYLOAD_AD_MAX;
 *   QL_EVERIFY  wrong key, wrong additional data, or altered bytes;
 *   QL_EUSAGE   a NULL pointer with a non-zero length.
 */
ql_err ql_datakey_decrypt(const struct ql_datakey *k, const uint8_t *c,
                          size_t clen, const uint8_t *ad, size_t adlen,
                          uint8_t **out, size_t *outlen,
                          struct ql_diag *d) QL_MUST_CHECK;

/*
 * Wipes the len bytes at m and frees m (from ql_datakey_decrypt); NULL is
 * fine.
 */
void ql_datakey_plain_free(uint8_t *m, size_t len);

/*
 * Seals k to recipient (only its public half is needed) for the context
 * ctx: the bytes that name what the key is for. Callers put in everything
 * a grant must not be reused for: the log's origin, the unit and the
 * epoch. *out gets a caller-owned grant (free()) of
 * ql_profile_seal_overhead + 3 + ctxlen + QL_DATAKEY_LEN bytes.
 * QL_ETOOBIG when ctxlen > QL_GRANT_CONTEXT_MAX; QL_EUSAGE when k and
 * recipient belong to different profiles, or for a NULL ctx with a
 * non-zero length.
 */
ql_err ql_datakey_seal(const struct ql_datakey *k,
                       const struct ql_key *recipient, const void *ctx,
                       size_t ctxlen, uint8_t **out, size_t *outlen,
                       struct ql_diag *d) QL_MUST_CHECK;

/*
 * Opens a grant with recipient's secret half and checks that it was made
 * for exactly the context ctx. The key goes straight into guarded memory;
 * *out is caller-owned (ql_datakey_free) and has recipient's profile.
 * Errors:
 *   QL_EUSAGE   recipient has no secret half, or a NULL ctx with a
 *               non-zero length;
 *   QL_EFORMAT  shorter than any grant, or its sealed content has an
 *               unknown version or a context length that does not add up;
 *   QL_ETOOBIG  longer than any grant, or ctxlen > QL_GRANT_CONTEXT_MAX;
 *   QL_EVERIFY  not sealed to recipient, altered, or made for another
 *               context.
 * A grant that opens may still carry a key its maker had no right to
 * issue: see the note at the top of this file.
 */
ql_err ql_datakey_unseal(const struct ql_key *recipient, const uint8_t *c,
                         size_t clen, const void *ctx, size_t ctxlen,
                         struct ql_datakey **out,
                         struct ql_diag *d) QL_MUST_CHECK;

/*
 * out = a keyed hash of the mlen bytes at m under k, for the purpose named
 * by label (1 to QL_DATAKEY_LABEL_MAX bytes, NUL-terminated): the same
 * (key, label, m) always gives the same out, and nothing about m or the
 * key can be learnt from out without the key. Different labels give
 * unrelated results. QL_EUSAGE for a bad label or a NULL m with a non-zero
 * length.
 */
ql_err ql_datakey_mac(const struct ql_datakey *k, const char *label,
                      const void *m, size_t mlen,
                      uint8_t out[QL_DATAKEY_MAC_LEN],
                      struct ql_diag *d) QL_MUST_CHECK;

/*
 * Derives a subkey of k for the purpose named by label, for uses that must
 * not share k's key space (for example encrypting attachments). The same
 * (key, label) gives the same subkey, with k's profile. *out is
 * caller-owned (ql_datakey_free). QL_EUSAGE for a bad label.
 */
ql_err ql_datakey_derive(const struct ql_datakey *k, const char *label,
                         struct ql_datakey **out,
                         struct ql_diag *d) QL_MUST_CHECK;

/*
 * out = k's fingerprint: a keyed hash of k under its own key, safe to
 * publish. An entry that issues a key (a new unit or epoch) records its
 * fingerprint; whoever opens a grant compares before trusting the key.
 */
ql_err ql_datakey_fingerprint(const struct ql_datakey *k,
                              uint8_t out[QL_DATAKEY_MAC_LEN],
                              struct ql_diag *d) QL_MUST_CHECK;

#endif
