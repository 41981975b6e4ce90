#include "ql_seal.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct ql_datakey {
    const struct ql_profile *profile;
    uint8_t *key; /* sodium_malloc, QL_DATAKEY_LEN bytes, read-only once set */
};

/*
 * The keyed hash is HMAC (RFC 2104) over the profile's hash, so a profile
 * that swaps SHA-256 for SM3 gets HMAC-SM3 with no change here. Both hashes
 * have 64-byte blocks; a profile hash with another block size would need
 * ql_profile to report it.
 */
#define HMAC_BLOCK 64

/* A derived key is one HMAC output, and HMAC pads rather than hashes it. */
_Static_assert(QL_HASH_LEN == QL_DATAKEY_LEN, "subkeys are one hash long");
_Static_assert(QL_DATAKEY_LEN <= HMAC_BLOCK, "data keys fit in one block");

/*
 * The first byte of every HMAC input names its use, so a derived key, a
 * keyed hash and a fingerprint can never be equal by construction.
 */
enum { DOMAIN_DERIVE = 0x01, DOMAIN_MAC = 0x02, DOMAIN_FINGERPRINT = 0x03 };

/* Grant content: version (1), context length (2, big-endian), context, key. */
#define GRANT_HEAD 3

/*
 * Allocates a key with writable, unset bytes: the caller fills them, then
 * locks them with key_lock.
 */
static ql_err
datakey_alloc(const struct ql_profile *p, struct ql_datakey **out,
              struct ql_diag *d)
{
    struct ql_datakey *k;

    k = calloc(1, sizeof *k);
    if (k == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    k->profile = p;
    k->key = sodium_malloc(QL_DATAKEY_LEN);
    if (k->key == NULL) {
        free(k);
        return ql_fail(d, QL_ENOMEM, "cannot allocate guarded memory");
    }
    *out = k;
    return QL_OK;
}

/*
 * Makes the key bytes read-only: a stray write then faults instead of
 * silently changing the key. They are not made inaccessible between uses
 * because that would mean changing page protection inside const functions,
 * which races when two threads share one key. Failure only loses the
 * hardening, so it is not an error.
 */
static void
key_lock(struct ql_datakey *k)
{
    (void)sodium_mprotect_readonly(k->key);
}

ql_err
ql_datakey_new(const struct ql_profile *p, struct ql_datakey **out,
               struct ql_diag *d)
{
    struct ql_datakey *k = NULL;
    ql_err rc;

    if ((rc = datakey_alloc(p, &k, d)) != QL_OK)
        return rc;
    ql_random(k->key, QL_DATAKEY_LEN);
    key_lock(k);
    *out = k;
    return QL_OK;
}

void
ql_datakey_free(struct ql_datakey *k)
{
    if (k == NULL)
        return;
    sodium_free(k->key); /* makes the pages writable again and wipes them */
    free(k);
}

const struct ql_profile *
ql_datakey_profile(const struct ql_datakey *k)
{
    return k->profile;
}

size_t
ql_datakey_overhead(const struct ql_datakey *k)
{
    return 1 + ql_profile_nonce_len(k->profile) +
           ql_profile_tag_len(k->profile);
}

/*
 * The AEAD's additional data is the payload's version byte followed by the
 * caller's: a payload relabelled with another version then fails its tag
 * instead of being read under another version's rules. *out is
 * caller-owned.
 */
static ql_err
payload_ad(const uint8_t *ad, size_t adlen, uint8_t **out, size_t *outlen,
           struct ql_diag *d)
{
    uint8_t *full;

    full = malloc(1 + adlen);
    if (full == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    full[0] = QL_PAYLOAD_VERSION;
    if (adlen > 0)
        memcpy(full + 1, ad, adlen);
    *out = full;
    *outlen = 1 + adlen;
    return QL_OK;
}

static ql_err
check_bytes(const void *p, size_t len, const char *what, struct ql_diag *d)
{
    if (p == NULL && len > 0)
        return ql_fail(d, QL_EUSAGE, "%s is NULL but has %zu bytes", what, len);
    return QL_OK;
}

ql_err
ql_datakey_encrypt(const struct ql_datakey *k, const uint8_t *m, size_t mlen,
                   const uint8_t *ad, size_t adlen, uint8_t **out,
                   size_t *outlen, struct ql_diag *d)
{
    size_t nlen = ql_profile_nonce_len(k->profile);
    size_t clen, fulladlen = 0;
    uint8_t *c = NULL, *fullad = NULL;
    ql_err rc;

    if ((rc = check_bytes(m, mlen, "payload", d)) != QL_OK ||
        (rc = check_bytes(ad, adlen, "additional data", d)) != QL_OK)
        return rc;
    if (mlen > QL_PAYLOAD_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "payload of %zu bytes is larger than the limit of %d",
                       mlen, QL_PAYLOAD_MAX);
    if (adlen > QL_PAYLOAD_AD_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "additional data of %zu bytes is larger than the "
                       "limit of %d",
                       adlen, QL_PAYLOAD_AD_MAX);
    clen = mlen + ql_datakey_overhead(k);
    c = malloc(clen);
    if (c == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    c[0] = QL_PAYLOAD_VERSION;
    /*
     * A random nonce per payload: XChaCha20's 24 bytes make a collision
     * negligible however many payloads one key encrypts, and no counter
     * has to be kept consistent between processes sharing a store.
     */
    ql_random(c + 1, nlen);
    if ((rc = payload_ad(ad, adlen, &fullad, &fulladlen, d)) != QL_OK ||
        (rc = ql_profile_aead_encrypt(k->profile, c + 1 + nlen, m, mlen, fullad,
                                      fulladlen, c + 1, k->key, d)) != QL_OK)
        goto out;
    *out = c;
    *outlen = clen;
    c = NULL; /* ownership moved to the caller */
out:
    free(c);
    free(fullad);
    return rc;
}

ql_err
ql_datakey_decrypt(const struct ql_datakey *k, const uint8_t *c, size_t clen,
                   const uint8_t *ad, size_t adlen, uint8_t **out,
                   size_t *outlen, struct ql_diag *d)
{
    size_t nlen = ql_profile_nonce_len(k->profile);
    size_t over = ql_datakey_overhead(k);
    size_t mlen = 0, fulladlen = 0;
    uint8_t *m = NULL, *fullad = NULL;
    ql_err rc;

    if ((rc = check_bytes(c, clen, "payload", d)) != QL_OK ||
        (rc = check_bytes(ad, adlen, "additional data", d)) != QL_OK)
        return rc;
    if (clen > QL_PAYLOAD_MAX + over)
        return ql_fail(d, QL_ETOOBIG,
                       "payload of %zu bytes is larger than any sealed "
                       "payload (%zu)",
                       clen, QL_PAYLOAD_MAX + over);
    if (adlen > QL_PAYLOAD_AD_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "additional data of %zu bytes is larger than the "
                       "limit of %d",
                       adlen, QL_PAYLOAD_AD_MAX);
    if (clen == 0)
        return ql_fail(d, QL_EFORMAT, "payload is empty");
    if (c[0] != QL_PAYLOAD_VERSION)
        return ql_fail(d, QL_EFORMAT, "payload has unknown version 0x%02x",
                       c[0]);
    if (clen < over)
        return ql_fail(d, QL_EFORMAT,
                       "payload is too short: %zu bytes, at least %zu needed",
                       clen, over);
    mlen = clen - over;
    m = malloc(mlen + 1);
    if (m == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    if ((rc = payload_ad(ad, adlen, &fullad, &fulladlen, d)) != QL_OK)
        goto out;
    if (ql_profile_aead_decrypt(k->profile, m, c + 1 + nlen, clen - 1 - nlen,
                                fullad, fulladlen, c + 1, k->key,
                                NULL) != QL_OK) {
        rc = ql_fail(d, QL_EVERIFY,
                     "cannot decrypt payload: wrong key or altered data");
        goto out;
    }
    m[mlen] = '\0';
    *out = m;
    *outlen = mlen;
    m = NULL; /* ownership moved to the caller */
out:
    ql_datakey_plain_free(m, mlen);
    free(fullad);
    return rc;
}

void
ql_datakey_plain_free(uint8_t *m, size_t len)
{
    if (m == NULL)
        return;
    sodium_memzero(m, len);
    free(m);
}

ql_err
ql_datakey_seal(const struct ql_datakey *k, const struct ql_key *recipient,
                const void *ctx, size_t ctxlen, uint8_t **out, size_t *outlen,
                struct ql_diag *d)
{
    const struct ql_profile *p = ql_key_profile(recipient);
    size_t plen = GRANT_HEAD + ctxlen + QL_DATAKEY_LEN, clen;
    uint8_t *plain = NULL, *c = NULL;
    ql_err rc;

    if ((rc = check_bytes(ctx, ctxlen, "grant context", d)) != QL_OK)
        return rc;
    if (ctxlen > QL_GRANT_CONTEXT_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "grant context of %zu bytes is longer than %d", ctxlen,
                       QL_GRANT_CONTEXT_MAX);
    /*
     * The grant does not name a profile: the recipient's key does. A key of
     * another profile would come out of the grant labelled wrongly.
     */
    if (p != k->profile)
        return ql_fail(d, QL_EUSAGE,
                       "data key of profile '%s' cannot be granted to key "
                       "'%s' of profile '%s'",
                       ql_profile_name(k->profile), ql_key_name(recipient),
                       ql_profile_name(p));
    clen = plen + ql_profile_seal_overhead(p);
    plain = sodium_malloc(plen);
    c = malloc(clen);
    if (plain == NULL || c == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    plain[0] = QL_GRANT_VERSION;
    plain[1] = (uint8_t)(ctxlen >> 8);
    plain[2] = (uint8_t)(ctxlen & 0xFF);
    if (ctxlen > 0)
        memcpy(plain + GRANT_HEAD, ctx, ctxlen);
    memcpy(plain + GRANT_HEAD + ctxlen, k->key, QL_DATAKEY_LEN);
    if ((rc = ql_key_seal_to(recipient, plain, plen, c, d)) != QL_OK)
        goto out;
    *out = c;
    *outlen = clen;
    c = NULL; /* ownership moved to the caller */
out:
    sodium_free(plain); /* wipes the copy of the key; NULL is fine */
    free(c);
    return rc;
}

ql_err
ql_datakey_unseal(const struct ql_key *recipient, const uint8_t *c, size_t clen,
                  const void *ctx, size_t ctxlen, struct ql_datakey **out,
                  struct ql_diag *d)
{
    const struct ql_profile *p = ql_key_profile(recipient);
    size_t over = ql_profile_seal_overhead(p);
    size_t plen, glen;
    uint8_t *plain = NULL;
    struct ql_datakey *k = NULL;
    ql_err rc;

    if (!ql_key_has_secret(recipient))
        return ql_fail(d, QL_EUSAGE,
                       "key '%s' has no secret half to open a grant with",
                       ql_key_name(recipient));
    if ((rc = check_bytes(c, clen, "grant", d)) != QL_OK ||
        (rc = check_bytes(ctx, ctxlen, "grant context", d)) != QL_OK)
        return rc;
    if (ctxlen > QL_GRANT_CONTEXT_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "grant context of %zu bytes is longer than %d", ctxlen,
                       QL_GRANT_CONTEXT_MAX);
    if (clen > over + GRANT_HEAD + QL_GRANT_CONTEXT_MAX + QL_DATAKEY_LEN)
        return ql_fail(
            d, QL_ETOOBIG, "grant of %zu bytes is larger than any grant (%zu)",
            clen, over + GRANT_HEAD + QL_GRANT_CONTEXT_MAX + QL_DATAKEY_LEN);
    if (clen < over + GRANT_HEAD + QL_DATAKEY_LEN)
        return ql_fail(d, QL_EFORMAT,
                       "grant is too short: %zu bytes, at least %zu needed",
                       clen, over + GRANT_HEAD + QL_DATAKEY_LEN);
    plen = clen - over;
    plain = sodium_malloc(plen);
    if (plain == NULL) {
        rc = ql_fail(d, QL_ENOMEM, "cannot allocate guarded memory");
        goto out;
    }
    if ((rc = ql_key_unseal(recipient, c, clen, plain, d)) != QL_OK) {
        if (rc == QL_EVERIFY)
            rc = ql_fail(d, QL_EVERIFY,
                         "cannot open grant: not sealed to key '%s', or "
                         "altered",
                         ql_key_name(recipient));
        goto out;
    }
    /*
     * From here the content is authentic only in the sense that someone
     * with the recipient's public key sealed it; its layout is still
     * checked like any input.
     */
    if (plain[0] != QL_GRANT_VERSION) {
        rc = ql_fail(d, QL_EFORMAT, "grant has unknown version 0x%02x",
                     plain[0]);
        goto out;
    }
    glen = (size_t)plain[1] << 8 | plain[2];
    if (GRANT_HEAD + glen + QL_DATAKEY_LEN != plen) {
        rc = ql_fail(d, QL_EFORMAT,
                     "grant context length %zu does not match its size", glen);
        goto out;
    }
    if (glen != ctxlen ||
        (ctxlen > 0 && memcmp(plain + GRANT_HEAD, ctx, ctxlen) != 0)) {
        rc = ql_fail(d, QL_EVERIFY,
                     "grant was made for another context (unit or epoch)");
        goto out;
    }
    if ((rc = datakey_alloc(p, &k, d)) != QL_OK)
        goto out;
    memcpy(k->key, plain + GRANT_HEAD + glen, QL_DATAKEY_LEN);
    key_lock(k);
    *out = k;
    k = NULL; /* ownership moved to the caller */
out:
    sodium_free(plain); /* wipes the opened key; NULL is fine */
    ql_datakey_free(k);
    return rc;
}

/*
 * out = HMAC_H(key, parts[0] || ... || parts[n-1]) with H the profile's
 * hash. The padded keys are secrets, so they live in guarded memory.
 */
static ql_err
hmac(const struct ql_datakey *k, const struct ql_bytes *parts, size_t n,
     uint8_t out[QL_HASH_LEN], struct ql_diag *d)
{
    struct ql_bytes all[4]; /* the pad and at most 3 parts (callers below) */
    uint8_t inner[QL_HASH_LEN];
    uint8_t *pad;
    size_t i;

    pad = sodium_malloc(2 * HMAC_BLOCK);
    if (pad == NULL)
        return ql_fail(d, QL_ENOMEM, "cannot allocate guarded memory");
    /* The key is shorter than a block, so it is padded, never hashed. */
    memset(pad, 0, 2 * HMAC_BLOCK);
    memcpy(pad, k->key, QL_DATAKEY_LEN);
    memcpy(pad + HMAC_BLOCK, k->key, QL_DATAKEY_LEN);
    for (i = 0; i < HMAC_BLOCK; i++) {
        pad[i] ^= 0x36;
        pad[HMAC_BLOCK + i] ^= 0x5c;
    }
    all[0].p = pad;
    all[0].len = HMAC_BLOCK;
    for (i = 0; i < n; i++)
        all[i + 1] = parts[i];
    ql_hash_parts(k->profile, inner, all, n + 1);
    all[0].p = pad + HMAC_BLOCK;
    all[1].p = inner;
    all[1].len = sizeof inner;
    ql_hash_parts(k->profile, out, all, 2);
    sodium_memzero(inner, sizeof inner);
    sodium_free(pad);
    return QL_OK;
}

static ql_err
check_label(const char *label, size_t *len, struct ql_diag *d)
{
    size_t n;

    if (label == NULL || (n = strlen(label)) == 0 || n > QL_DATAKEY_LABEL_MAX)
        return ql_fail(d, QL_EUSAGE, "invalid label: it must be 1 to %d bytes",
                       QL_DATAKEY_LABEL_MAX);
    *len = n;
    return QL_OK;
}

/*
 * HMAC input: domain byte || label length (1 byte) || label || m. The
 * length prefix keeps (label, m) pairs apart: "ab" + "c" is not "a" + "bc".
 */
static ql_err
labelled_hmac(const struct ql_datakey *k, uint8_t domain, const char *label,
              const void *m, size_t mlen, uint8_t out[QL_HASH_LEN],
              struct ql_diag *d)
{
    struct ql_bytes parts[3];
    uint8_t head[2];
    size_t llen = 0;
    ql_err rc;

    if ((rc = check_label(label, &llen, d)) != QL_OK)
        return rc;
    head[0] = domain;
    head[1] = (uint8_t)llen;
    parts[0].p = head;
    parts[0].len = sizeof head;
    parts[1].p = label;
    parts[1].len = llen;
    parts[2].p = m;
    parts[2].len = mlen;
    return hmac(k, parts, mlen > 0 ? 3 : 2, out, d);
}

ql_err
ql_datakey_mac(const struct ql_datakey *k, const char *label, const void *m,
               size_t mlen, uint8_t out[QL_DATAKEY_MAC_LEN], struct ql_diag *d)
{
    ql_err rc;

    if ((rc = check_bytes(m, mlen, "message", d)) != QL_OK)
        return rc;
    return labelled_hmac(k, DOMAIN_MAC, label, m, mlen, out, d);
}

ql_err
ql_datakey_derive(const struct ql_datakey *k, const char *label,
                  struct ql_datakey **out, struct ql_diag *d)
{
    struct ql_datakey *sub = NULL;
    size_t llen = 0;
    ql_err rc;

    /* Checked before allocating so a bad label costs no guarded pages. */
    if ((rc = check_label(label, &llen, d)) != QL_OK)
        return rc;
    if ((rc = datakey_alloc(k->profile, &sub, d)) != QL_OK)
        return rc;
    /* The subkey is written straight into its own guarded memory. */
    if ((rc = labelled_hmac(k, DOMAIN_DERIVE, label, NULL, 0, sub->key, d)) !=
        QL_OK)
        goto out;
    key_lock(sub);
    *out = sub;
    sub = NULL; /* ownership moved to the caller */
out:
    ql_datakey_free(sub);
    return rc;
}

ql_err
ql_datakey_fingerprint(const struct ql_datakey *k,
                       uint8_t out[QL_DATAKEY_MAC_LEN], struct ql_diag *d)
{
    const uint8_t domain = DOMAIN_FINGERPRINT;
    struct ql_bytes part = {&domain, 1};

    return hmac(k, &part, 1, out, d);
}
