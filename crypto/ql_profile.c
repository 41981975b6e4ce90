#include "ql_profile.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/*
 * A profile is a table of the algorithms one suite uses. Only this file
 * knows which library implements them.
 */
struct ql_profile {
    const char *name;
    uint8_t note_type;
    size_t pk_len, sk_len, sig_len, nonce_len, tag_len, seal_overhead;
    void (*hash_parts)(uint8_t out[QL_HASH_LEN], const struct ql_bytes *parts,
                       size_t n);
    /* The same hash as a stream: its state's size and steps. */
    size_t hash_state_len;
    void (*hash_init)(void *state);
    void (*hash_update)(void *state, const uint8_t *m, size_t len);
    void (*hash_final)(void *state, uint8_t out[QL_HASH_LEN]);
    int (*keypair)(uint8_t *pk, uint8_t *sk);
    int (*keypair_seed)(uint8_t *pk, uint8_t *sk, const uint8_t *seed);
    int (*sk_to_pk)(uint8_t *pk, const uint8_t *sk);
    int (*sign)(uint8_t *sig, size_t *sig_len, const uint8_t *m, size_t mlen,
                const uint8_t *sk);
    int (*verify)(const uint8_t *sig, size_t sig_len, const uint8_t *m,
                  size_t mlen, const uint8_t *pk);
    int (*aead_encrypt)(uint8_t *c, const uint8_t *m, size_t mlen,
                        const uint8_t *ad, size_t adlen, const uint8_t *nonce,
                        const uint8_t *key);
    int (*aead_decrypt)(uint8_t *m, const uint8_t *c, size_t clen,
                        const uint8_t *ad, size_t adlen, const uint8_t *nonce,
                        const uint8_t *key);
    int (*seal)(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *pk);
    /* 0; SEAL_NOT_OPENED; SEAL_NO_MEMORY for its guarded scratch key. */
    int (*seal_open)(uint8_t *m, const uint8_t *c, size_t clen,
                     const uint8_t *pk, const uint8_t *sk);
};

#define SEAL_NOT_OPENED (-1)
#define SEAL_NO_MEMORY (-2)

/* ---- "intl": Ed25519, SHA-256, XChaCha20-Poly1305, crypto_box_seal ---- */

static void
intl_hash_parts(uint8_t out[QL_HASH_LEN], const struct ql_bytes *parts,
                size_t n)
{
    crypto_hash_sha256_state st;
    size_t i;

    crypto_hash_sha256_init(&st);
    for (i = 0; i < n; i++)
        crypto_hash_sha256_update(&st, parts[i].p, parts[i].len);
    crypto_hash_sha256_final(&st, out);
}

static void
intl_hash_init(void *state)
{
    crypto_hash_sha256_init(state);
}

static void
intl_hash_update(void *state, const uint8_t *m, size_t len)
{
    crypto_hash_sha256_update(state, m, len);
}

static void
intl_hash_final(void *state, uint8_t out[QL_HASH_LEN])
{
    crypto_hash_sha256_final(state, out);
}

static int
intl_keypair(uint8_t *pk, uint8_t *sk)
{
    return crypto_sign_ed25519_keypair(pk, sk);
}

static int
intl_keypair_seed(uint8_t *pk, uint8_t *sk, const uint8_t *seed)
{
    return crypto_sign_ed25519_seed_keypair(pk, sk, seed);
}

static int
intl_sk_to_pk(uint8_t *pk, const uint8_t *sk)
{
    return crypto_sign_ed25519_sk_to_pk(pk, sk);
}

static int
intl_sign(uint8_t *sig, size_t *sig_len, const uint8_t *m, size_t mlen,
          const uint8_t *sk)
{
    unsigned long long len = 0;

    if (crypto_sign_ed25519_detached(sig, &len, m, mlen, sk) != 0)
        return -1;
    *sig_len = (size_t)len;
    return 0;
}

static int
intl_verify(const uint8_t *sig, size_t sig_len, const uint8_t *m, size_t mlen,
            const uint8_t *pk)
{
    if (sig_len != crypto_sign_ed25519_BYTES)
        return -1;
    return crypto_sign_ed25519_verify_detached(sig, m, mlen, pk);
}

static int
intl_aead_encrypt(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad,
                  size_t adlen, const uint8_t *nonce, const uint8_t *key)
{
    return crypto_aead_xchacha20poly1305_ietf_encrypt(c, NULL, m, mlen, ad,
                                                      adlen, NULL, nonce, key);
}

static int
intl_aead_decrypt(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad,
                  size_t adlen, const uint8_t *nonce, const uint8_t *key)
{
    return crypto_aead_xchacha20poly1305_ietf_decrypt(m, NULL, NULL, c, clen,
                                                      ad, adlen, nonce, key);
}

/*
 * Sealing converts the Ed25519 key to its X25519 form, so one key pair per
 * principal both signs and receives data keys (DESIGN.md section 5).
 */
static int
intl_seal(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *pk)
{
    uint8_t xpk[crypto_box_PUBLICKEYBYTES];

    if (crypto_sign_ed25519_pk_to_curve25519(xpk, pk) != 0)
        return -1;
    return crypto_box_seal(c, m, mlen, xpk);
}

static int
intl_seal_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *pk,
               const uint8_t *sk)
{
    uint8_t xpk[crypto_box_PUBLICKEYBYTES];
    uint8_t *xsk;
    int rc = SEAL_NOT_OPENED;

    xsk = sodium_malloc(crypto_box_SECRETKEYBYTES);
    if (xsk == NULL)
        return SEAL_NO_MEMORY;
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, pk) == 0 &&
        crypto_sign_ed25519_sk_to_curve25519(xsk, sk) == 0)
        rc = crypto_box_seal_open(m, c, clen, xpk, xsk);
    sodium_free(xsk); /* sodium_free wipes before releasing */
    return rc;
}

static const struct ql_profile intl = {
    .name = "intl",
    .note_type = 0x01,
    .pk_len = crypto_sign_ed25519_PUBLICKEYBYTES,
    .sk_len = crypto_sign_ed25519_SECRETKEYBYTES,
    .sig_len = crypto_sign_ed25519_BYTES,
    .nonce_len = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
    .tag_len = crypto_aead_xchacha20poly1305_ietf_ABYTES,
    .seal_overhead = crypto_box_SEALBYTES,
    .hash_parts = intl_hash_parts,
    .hash_state_len = sizeof(crypto_hash_sha256_state),
    .hash_init = intl_hash_init,
    .hash_update = intl_hash_update,
    .hash_final = intl_hash_final,
    .keypair = intl_keypair,
    .keypair_seed = intl_keypair_seed,
    .sk_to_pk = intl_sk_to_pk,
    .sign = intl_sign,
    .verify = intl_verify,
    .aead_encrypt = intl_aead_encrypt,
    .aead_decrypt = intl_aead_decrypt,
    .seal = intl_seal,
    .seal_open = intl_seal_open,
};

static const struct ql_profile *const profiles[] = {&intl};

const struct ql_profile *
ql_profile_default(void)
{
    return &intl;
}

const struct ql_profile *
ql_profile_find(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (strcmp(profiles[i]->name, name) == 0)
            return profiles[i];
    return NULL;
}

const char *
ql_profile_name(const struct ql_profile *p)
{
    return p->name;
}

size_t
ql_profile_pk_len(const struct ql_profile *p)
{
    return p->pk_len;
}

size_t
ql_profile_sk_len(const struct ql_profile *p)
{
    return p->sk_len;
}

size_t
ql_profile_sig_len(const struct ql_profile *p)
{
    return p->sig_len;
}

size_t
ql_profile_nonce_len(const struct ql_profile *p)
{
    return p->nonce_len;
}

size_t
ql_profile_tag_len(const struct ql_profile *p)
{
    return p->tag_len;
}

size_t
ql_profile_seal_overhead(const struct ql_profile *p)
{
    return p->seal_overhead;
}

uint8_t
ql_profile_note_type(const struct ql_profile *p)
{
    return p->note_type;
}

void
ql_hash(const struct ql_profile *p, uint8_t out[QL_HASH_LEN], const void *m,
        size_t len)
{
    struct ql_bytes part = {m, len};

    p->hash_parts(out, &part, 1);
}

void
ql_hash_parts(const struct ql_profile *p, uint8_t out[QL_HASH_LEN],
              const struct ql_bytes *parts, size_t n)
{
    p->hash_parts(out, parts, n);
}

/* The profile's hash state follows the header, aligned for any type. */
struct ql_hash_stream {
    const struct ql_profile *p;
    _Alignas(max_align_t) unsigned char state[];
};

ql_err
ql_hash_stream_new(const struct ql_profile *p, struct ql_hash_stream **out,
                   struct ql_diag *d)
{
    struct ql_hash_stream *s = malloc(sizeof *s + p->hash_state_len);

    if (s == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    s->p = p;
    p->hash_init(s->state);
    *out = s;
    return QL_OK;
}

void
ql_hash_stream_add(struct ql_hash_stream *s, const void *m, size_t len)
{
    s->p->hash_update(s->state, m, len);
}

void
ql_hash_stream_end(struct ql_hash_stream *s, uint8_t out[QL_HASH_LEN])
{
    s->p->hash_final(s->state, out);
    free(s);
}

void
ql_hash_stream_free(struct ql_hash_stream *s)
{
    free(s);
}

void
ql_random(void *buf, size_t len)
{
    randombytes_buf(buf, len);
}

void *
ql_secret_alloc(size_t n)
{
    void *p = sodium_malloc(n);

    if (p != NULL)
        sodium_memzero(p, n);
    return p;
}

void
ql_secret_free(void *p)
{
    sodium_free(p);
}

ql_err
ql_crypto_init(struct ql_diag *d)
{
    if (sodium_init() < 0)
        return ql_fail(d, QL_ECRYPTO, "cannot initialise libsodium");
    return QL_OK;
}

ql_err
ql_profile_keypair(const struct ql_profile *p, uint8_t *pk, uint8_t *sk,
                   struct ql_diag *d)
{
    if (p->keypair(pk, sk) != 0)
        return ql_fail(d, QL_ECRYPTO, "key generation failed");
    return QL_OK;
}

ql_err
ql_profile_keypair_seed(const struct ql_profile *p, uint8_t *pk, uint8_t *sk,
                        const uint8_t seed[32], struct ql_diag *d)
{
    if (p->keypair_seed(pk, sk, seed) != 0)
        return ql_fail(d, QL_ECRYPTO, "key generation failed");
    return QL_OK;
}

ql_err
ql_profile_sk_to_pk(const struct ql_profile *p, uint8_t *pk, const uint8_t *sk,
                    struct ql_diag *d)
{
    if (p->sk_to_pk(pk, sk) != 0)
        return ql_fail(d, QL_ECRYPTO, "cannot derive the public key");
    return QL_OK;
}

ql_err
ql_profile_sign(const struct ql_profile *p, uint8_t *sig, size_t *sig_len,
                const void *m, size_t mlen, const uint8_t *sk,
                struct ql_diag *d)
{
    if (p->sign(sig, sig_len, m, mlen, sk) != 0)
        return ql_fail(d, QL_ECRYPTO, "signing failed");
    return QL_OK;
}

ql_err
ql_profile_verify(const struct ql_profile *p, const uint8_t *sig,
                  size_t sig_len, const void *m, size_t mlen, const uint8_t *pk)
{
    return p->verify(sig, sig_len, m, mlen, pk) == 0 ? QL_OK : QL_EVERIFY;
}

ql_err
ql_profile_aead_encrypt(const struct ql_profile *p, uint8_t *c,
                        const uint8_t *m, size_t mlen, const uint8_t *ad,
                        size_t adlen, const uint8_t *nonce,
                        const uint8_t key[QL_AEAD_KEY_LEN], struct ql_diag *d)
{
    if (p->aead_encrypt(c, m, mlen, ad, adlen, nonce, key) != 0)
        return ql_fail(d, QL_ECRYPTO, "encryption failed");
    return QL_OK;
}

ql_err
ql_profile_aead_decrypt(const struct ql_profile *p, uint8_t *m,
                        const uint8_t *c, size_t clen, const uint8_t *ad,
                        size_t adlen, const uint8_t *nonce,
                        const uint8_t key[QL_AEAD_KEY_LEN], struct ql_diag *d)
{
    if (clen < p->tag_len ||
        p->aead_decrypt(m, c, clen, ad, adlen, nonce, key) != 0)
        return ql_fail(d, QL_EVERIFY, "decryption failed: wrong key or "
                                      "altered data");
    return QL_OK;
}

ql_err
ql_profile_seal(const struct ql_profile *p, uint8_t *c, const uint8_t *m,
                size_t mlen, const uint8_t *pk, struct ql_diag *d)
{
    if (p->seal(c, m, mlen, pk) != 0)
        return ql_fail(d, QL_ECRYPTO, "sealing failed");
    return QL_OK;
}

ql_err
ql_profile_seal_open(const struct ql_profile *p, uint8_t *m, const uint8_t *c,
                     size_t clen, const uint8_t *pk, const uint8_t *sk,
                     struct ql_diag *d)
{
    int r = clen < p->seal_overhead ? SEAL_NOT_OPENED
                                    : p->seal_open(m, c, clen, pk, sk);

    /* Short of guarded memory, nothing is known about the data. */
    if (r == SEAL_NO_MEMORY)
        return ql_fail(d, QL_ENOMEM, "cannot allocate guarded memory");
    if (r != 0)
        return ql_fail(d, QL_EVERIFY, "cannot open sealed data: not sealed "
                                      "to this key or altered");
    return QL_OK;
}
