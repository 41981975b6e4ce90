/*
 * ql_profile: the one interface through which qingling uses cryptographic
 * algorithms.
 *
 * A profile names a suite: a signature scheme, a 32-byte hash, an AEAD and a
 * way to seal a short secret to a signer's public key. The default profile
 * "intl" is Ed25519, SHA-256, XChaCha20-Poly1305 and crypto_box_seal to the
 * X25519 form of the Ed25519 key, all from libsodium. A national-algorithm
 * profile (SM2, SM3, SM4) is added by writing one more table in
 * ql_profile.c; nothing above crypto/ names an algorithm.
 *
 * Profiles are immutable and static: pointers to them never need freeing and
 * may be shared between threads.
 */
#ifndef QL_PROFILE_H
#define QL_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

/* Every profile's hash is 32 bytes (SHA-256 and SM3 both are). */
#define QL_HASH_LEN 32
/* Upper bounds over every profile, for callers' fixed buffers. */
#define QL_PK_MAX 65
#define QL_SIG_MAX 72
#define QL_AEAD_KEY_LEN 32
#define QL_AEAD_NONCE_MAX 24
#define QL_AEAD_TAG_MAX 32
#define QL_SEAL_OVERHEAD_MAX 97

struct ql_profile;

/* One piece of a message hashed in parts, without copying the parts. */
struct ql_bytes {
    const void *p;
    size_t len;
};

/* The default profile ("intl"). Never NULL. */
const struct ql_profile *ql_profile_default(void);

/* The profile called name, or NULL when there is none. */
const struct ql_profile *ql_profile_find(const char *name);

/* The profile's name, as written into key files and the log's genesis. */
const char *ql_profile_name(const struct ql_profile *p);

/* Lengths of the profile's public keys, signatures, nonces and tags. */
size_t ql_profile_pk_len(const struct ql_profile *p);
size_t ql_profile_sk_len(const struct ql_profile *p);
size_t ql_profile_sig_len(const struct ql_profile *p);
size_t ql_profile_nonce_len(const struct ql_profile *p);
size_t ql_profile_tag_len(const struct ql_profile *p);
size_t ql_profile_seal_overhead(const struct ql_profile *p);

/*
 * The signed-note signature type byte of the profile's signature scheme
 * (0x01 for Ed25519, as C2SP signed-note assigns it).
 */
uint8_t ql_profile_note_type(const struct ql_profile *p);

/* out = H(m). */
void ql_hash(const struct ql_profile *p, uint8_t out[QL_HASH_LEN],
             const void *m, size_t len);

/* out = H(parts[0] || parts[1] || ... || parts[n-1]). */
void ql_hash_parts(const struct ql_profile *p, uint8_t out[QL_HASH_LEN],
                   const struct ql_bytes *parts, size_t n);

/*
 * A hash fed piece by piece, for input too large to hold at once:
 * ql_hash_stream_new, ql_hash_stream_add as often as needed, then
 * ql_hash_stream_end, which gives H of everything added and frees the
 * stream. ql_hash_stream_free drops one unfinished (NULL is fine).
 */
struct ql_hash_stream;
ql_err ql_hash_stream_new(const struct ql_profile *p,
                          struct ql_hash_stream **out,
                          struct ql_diag *d) QL_MUST_CHECK;
void ql_hash_stream_add(struct ql_hash_stream *s, const void *m, size_t len);
void ql_hash_stream_end(struct ql_hash_stream *s, uint8_t out[QL_HASH_LEN]);
void ql_hash_stream_free(struct ql_hash_stream *s);

/*
 * Fills buf with len bytes from the system's secure random source. Never
 * fails once libsodium is initialised (ql_crypto_init).
 */
void ql_random(void *buf, size_t len);

/*
 * Guarded memory for secrets held above crypto/ (passphrases): zeroed,
 * surrounded by guard pages and kept out of swap where the system allows.
 * ql_secret_free wipes and releases; NULL is fine. NULL when out of memory.
 */
void *ql_secret_alloc(size_t n);
void ql_secret_free(void *p);

/*
 * Initialises the crypto library. Call once before anything else in
 * crypto/; calling again is harmless. QL_ECRYPTO when the library cannot
 * start (no entropy source).
 */
ql_err ql_crypto_init(struct ql_diag *d) QL_MUST_CHECK;

/*
 * Raw operations, for crypto/'s own modules. Secret keys are byte strings of
 * ql_profile_sk_len() bytes that the caller keeps in guarded memory.
 */
ql_err ql_profile_keypair(const struct ql_profile *p, uint8_t *pk,
                          uint8_t *sk, struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_profile_keypair_seed(const struct ql_profile *p, uint8_t *pk,
                               uint8_t *sk, const uint8_t seed[32],
                               struct ql_diag *d) QL_MUST_CHECK;
/* The public key that belongs to a secret key. */
ql_err ql_profile_sk_to_pk(const struct ql_profile *p, uint8_t *pk,
                           const uint8_t *sk, struct ql_diag *d) QL_MUST_CHECK;
/* sig must hold ql_profile_sig_len(p) bytes; *sig_len gets the length. */
ql_err ql_profile_sign(const struct ql_profile *p, uint8_t *sig,
                       size_t *sig_len, const void *m, size_t mlen,
                       const uint8_t *sk, struct ql_diag *d) QL_MUST_CHECK;
/* QL_OK for a good signature, QL_EVERIFY for any other. */
ql_err ql_profile_verify(const struct ql_profile *p, const uint8_t *sig,
                         size_t sig_len, const void *m, size_t mlen,
                         const uint8_t *pk) QL_MUST_CHECK;

/*
 * AEAD with additional data. c receives mlen + tag bytes. The nonce is
 * ql_profile_nonce_len(p) bytes and must never repeat under one key: callers
 * draw it with ql_random.
 */
ql_err ql_profile_aead_encrypt(const struct ql_profile *p, uint8_t *c,
                               const uint8_t *m, size_t mlen,
                               const uint8_t *ad, size_t adlen,
                               const uint8_t *nonce,
                               const uint8_t key[QL_AEAD_KEY_LEN],
                               struct ql_diag *d) QL_MUST_CHECK;
/* QL_EVERIFY when the ciphertext, nonce, key or additional data is wrong. */
ql_err ql_profile_aead_decrypt(const struct ql_profile *p, uint8_t *m,
                               const uint8_t *c, size_t clen,
                               const uint8_t *ad, size_t adlen,
                               const uint8_t *nonce,
                               const uint8_t key[QL_AEAD_KEY_LEN],
                               struct ql_diag *d) QL_MUST_CHECK;

/*
 * Anonymous sealing to the owner of a signing key pair: anyone with the
 * public key seals, only the secret key opens. c receives
 * mlen + ql_profile_seal_overhead(p) bytes.
 */
ql_err ql_profile_seal(const struct ql_profile *p, uint8_t *c, const uint8_t *m,
                       size_t mlen, const uint8_t *pk,
                       struct ql_diag *d) QL_MUST_CHECK;
/* QL_EVERIFY when c was not sealed to this key pair or was changed. */
ql_err ql_profile_seal_open(const struct ql_profile *p, uint8_t *m,
                            const uint8_t *c, size_t clen, const uint8_t *pk,
                            const uint8_t *sk, struct ql_diag *d) QL_MUST_CHECK;

#endif
