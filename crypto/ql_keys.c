#include "ql_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ql_codec.h"
#include "ql_keys_impl.h"

/*
 * Decodes one UTF-8 sequence at s (n bytes available). Returns its length
 * and the code point in *cp, or 0 for an ill-formed sequence (overlong,
 * surrogate, beyond U+10FFFF, or cut short).
 */
static size_t
utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c;
    size_t len, i;

    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        c = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        c = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
        (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Unicode White_Space, which signed-note forbids in key names. */
static bool
is_unicode_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 ||
           c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

bool
ql_key_name_valid(const char *name)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t n, i = 0, step;
    uint32_t cp;

    if (name == NULL)
        return false;
    n = strlen(name);
    if (n == 0 || n > QL_KEY_NAME_MAX)
        return false;
    while (i < n) {
        step = utf8_next(s + i, n - i, &cp);
        /* C0, DEL and C1 controls too: a note could not carry the name. */
        if (step == 0 || cp == '+' || cp < 0x20 ||
            (cp >= 0x7F && cp <= 0x9F) || is_unicode_space(cp))
            return false;
        i += step;
    }
    return true;
}

static uint32_t
compute_id(const char *name, uint8_t type, const uint8_t *pk, size_t pk_len)
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];
    const uint8_t nl = 0x0A;

    /* The key ID is SHA-256 whatever the profile: it is the note format's. */
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, &nl, 1);
    crypto_hash_sha256_update(&st, &type, 1);
    crypto_hash_sha256_update(&st, pk, pk_len);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 |
           (uint32_t)h[3];
}

/*
 * Every signature line carries the signer's key ID, so it is worked out
 * once, when the public half is known, not for each entry signed.
 */
static void
key_settle(struct ql_key *k)
{
    k->id =
        compute_id(k->name, ql_profile_note_type(k->profile), k->pk, k->pk_len);
}

static ql_err
key_alloc(const struct ql_profile *p, const char *name, bool secret,
          struct ql_key **out, struct ql_diag *d)
{
    struct ql_key *k;

    if (!ql_key_name_valid(name))
        return ql_fail(d, QL_EUSAGE,
                       "invalid key name: it must be 1 to %d bytes of UTF-8 "
                       "with no spaces, control characters or '+'",
                       QL_KEY_NAME_MAX);
    k = calloc(1, sizeof *k);
    if (k == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    k->profile = p;
    memcpy(k->name, name, strlen(name) + 1);
    k->pk_len = ql_profile_pk_len(p);
    if (secret) {
        k->sk = sodium_malloc(ql_profile_sk_len(p));
        if (k->sk == NULL) {
            free(k);
            return ql_fail(d, QL_ENOMEM, "cannot allocate guarded memory");
        }
    }
    *out = k;
    return QL_OK;
}

ql_err
ql_key_generate(const struct ql_profile *p, const char *name,
                struct ql_key **out, struct ql_diag *d)
{
    struct ql_key *k = NULL;
    ql_err rc;

    if ((rc = key_alloc(p, name, true, &k, d)) != QL_OK)
        return rc;
    if ((rc = ql_profile_keypair(p, k->pk, k->sk, d)) != QL_OK) {
        ql_key_free(k);
        return rc;
    }
    key_settle(k);
    *out = k;
    return QL_OK;
}

ql_err
ql_key_from_seed(const struct ql_profile *p, const char *name,
                 const uint8_t seed[32], struct ql_key **out,
                 struct ql_diag *d)
{
    struct ql_key *k = NULL;
    ql_err rc;

    if ((rc = key_alloc(p, name, true, &k, d)) != QL_OK)
        return rc;
    if ((rc = ql_profile_keypair_seed(p, k->pk, k->sk, seed, d)) != QL_OK) {
        ql_key_free(k);
        return rc;
    }
    key_settle(k);
    *out = k;
    return QL_OK;
}

ql_err
ql_key_from_secret(const struct ql_profile *p, const char *name,
                   const uint8_t *sk, size_t sk_len, struct ql_key **out,
                   struct ql_diag *d)
{
    struct ql_key *k = NULL;
    uint8_t pk[QL_PK_MAX];
    ql_err rc;

    if (sk_len != ql_profile_sk_len(p))
        return ql_fail(d, QL_EDAMAGED, "secret key has the wrong length");
    if ((rc = key_alloc(p, name, true, &k, d)) != QL_OK)
        return rc;
    memcpy(k->sk, sk, sk_len);
    if ((rc = ql_profile_sk_to_pk(p, k->pk, k->sk, d)) != QL_OK)
        goto fail;
    /*
     * Ed25519 secret keys carry their public half; deriving it again from
     * the seed catches a secret key that was changed on its way here.
     */
    if (sk_len == 64) {
        uint8_t seed[32];

        memcpy(seed, k->sk, 32);
        rc = ql_profile_keypair_seed(p, pk, k->sk, seed, d);
        sodium_memzero(seed, sizeof seed);
        if (rc != QL_OK)
            goto fail;
        if (sodium_memcmp(pk, k->pk, k->pk_len) != 0 ||
            sodium_memcmp(sk + 32, pk, k->pk_len) != 0) {
            rc = ql_fail(d, QL_EDAMAGED, "secret key is inconsistent");
            goto fail;
        }
    }
    key_settle(k);
    *out = k;
    return QL_OK;
fail:
    ql_key_free(k);
    return rc;
}

ql_err
ql_key_parse_vkey(const char *vkey, bool allow_cosig, struct ql_key **out,
                  struct ql_diag *d)
{
    char name[QL_KEY_NAME_MAX + 1];
    const char *plus1, *plus2, *b64;
    uint8_t raw[1 + QL_PK_MAX + 1];
    size_t raw_len = 0, nlen;
    const struct ql_profile *p = ql_profile_default();
    struct ql_key *k = NULL;
    unsigned long id;
    char *idend = NULL;
    ql_err rc;

    if (vkey == NULL)
        return ql_fail(d, QL_EFORMAT, "empty verifier key");
    /* The name may not hold '+', so the first two '+' end name and ID. */
    plus1 = strchr(vkey, '+');
    if (plus1 == NULL || (plus2 = strchr(plus1 + 1, '+')) == NULL)
        return ql_fail(d, QL_EFORMAT, "verifier key is not name+id+key");
    nlen = (size_t)(plus1 - vkey);
    if (nlen == 0 || nlen > QL_KEY_NAME_MAX)
        return ql_fail(d, QL_EFORMAT, "verifier key has a bad name length");
    memcpy(name, vkey, nlen);
    name[nlen] = '\0';
    if (!ql_key_name_valid(name))
        return ql_fail(d, QL_EFORMAT, "verifier key has an invalid name");
    if (plus2 - plus1 - 1 != 8)
        return ql_fail(d, QL_EFORMAT, "verifier key ID is not 8 hex digits");
    for (const char *c = plus1 + 1; c < plus2; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return ql_fail(d, QL_EFORMAT,
                           "verifier key ID is not lowercase hex");
    id = strtoul(plus1 + 1, &idend, 16);
    b64 = plus2 + 1;
    /* The shared codec: one strict base64 for every format. */
    rc = ql_base64_decode(raw, sizeof raw, &raw_len, b64, strlen(b64), NULL);
    if (rc == QL_ETOOBIG)
        return ql_fail(d, QL_EFORMAT, "verifier key has the wrong length");
    if (rc != QL_OK)
        return ql_fail(d, QL_EFORMAT, "verifier key is not valid base64");
    if (raw_len < 1)
        return ql_fail(d, QL_EFORMAT, "verifier key has no key type");
    if (raw[0] == QL_KEYTYPE_COSIG && allow_cosig) {
        p = ql_profile_default(); /* cosignatures are Ed25519 */
    } else if (raw[0] != ql_profile_note_type(p)) {
        return ql_fail(d, QL_EUNSUPPORTED,
                       "verifier key has unknown key type 0x%02x", raw[0]);
    }
    if (raw_len - 1 != ql_profile_pk_len(p))
        return ql_fail(d, QL_EFORMAT, "verifier key has the wrong length");
    if (compute_id(name, raw[0], raw + 1, raw_len - 1) != (uint32_t)id)
        return ql_fail(d, QL_EFORMAT,
                       "verifier key ID does not match its name and key");
    if ((rc = key_alloc(p, name, false, &k, d)) != QL_OK)
        return rc;
    memcpy(k->pk, raw + 1, k->pk_len);
    key_settle(k);
    *out = k;
    return QL_OK;
}

ql_err
ql_key_vkey(const struct ql_key *k, uint8_t type, char **out,
            struct ql_diag *d)
{
    uint8_t raw[1 + QL_PK_MAX];
    char b64[2 * (1 + QL_PK_MAX) + 4];
    size_t need;
    char *s;

    if (type == 0)
        type = ql_profile_note_type(k->profile);
    raw[0] = type;
    memcpy(raw + 1, k->pk, k->pk_len);
    sodium_bin2base64(b64, sizeof b64, raw, 1 + k->pk_len,
                      sodium_base64_VARIANT_ORIGINAL);
    need = strlen(k->name) + 1 + 8 + 1 + strlen(b64) + 1;
    s = malloc(need);
    if (s == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    snprintf(s, need, "%s+%08x+%s", k->name,
             (unsigned)ql_key_id(k, type), b64);
    *out = s;
    return QL_OK;
}

ql_err
ql_key_public_copy(const struct ql_key *k, struct ql_key **out,
                   struct ql_diag *d)
{
    struct ql_key *c = NULL;
    ql_err rc;

    if ((rc = key_alloc(k->profile, k->name, false, &c, d)) != QL_OK)
        return rc;
    memcpy(c->pk, k->pk, k->pk_len);
    c->id = k->id;
    *out = c;
    return QL_OK;
}

const char *
ql_key_name(const struct ql_key *k)
{
    return k->name;
}

const struct ql_profile *
ql_key_profile(const struct ql_key *k)
{
    return k->profile;
}

uint32_t
ql_key_id(const struct ql_key *k, uint8_t type)
{
    if (type == 0 || type == ql_profile_note_type(k->profile))
        return k->id;
    return compute_id(k->name, type, k->pk, k->pk_len);
}

const uint8_t *
ql_key_public(const struct ql_key *k, size_t *len)
{
    if (len != NULL)
        *len = k->pk_len;
    return k->pk;
}

bool
ql_key_has_secret(const struct ql_key *k)
{
    return k != NULL && k->sk != NULL;
}

bool
ql_key_same_public(const struct ql_key *a, const struct ql_key *b)
{
    return a->profile == b->profile && a->pk_len == b->pk_len &&
           memcmp(a->pk, b->pk, a->pk_len) == 0;
}

ql_err
ql_key_sign(const struct ql_key *k, const void *m, size_t mlen, uint8_t *sig,
            size_t *sig_len, struct ql_diag *d)
{
    if (k->sk == NULL)
        return ql_fail(d, QL_EUSAGE, "key '%s' has no secret half", k->name);
    return ql_profile_sign(k->profile, sig, sig_len, m, mlen, k->sk, d);
}

ql_err
ql_key_verify(const struct ql_key *k, const void *m, size_t mlen,
              const uint8_t *sig, size_t sig_len)
{
    return ql_profile_verify(k->profile, sig, sig_len, m, mlen, k->pk);
}

ql_err
ql_key_seal_to(const struct ql_key *k, const uint8_t *m, size_t mlen,
               uint8_t *c, struct ql_diag *d)
{
    if (mlen > 4096)
        return ql_fail(d, QL_ETOOBIG, "sealed secret too large");
    return ql_profile_seal(k->profile, c, m, mlen, k->pk, d);
}

ql_err
ql_key_unseal(const struct ql_key *k, const uint8_t *c, size_t clen,
              uint8_t *m, struct ql_diag *d)
{
    if (k->sk == NULL)
        return ql_fail(d, QL_EUSAGE, "key '%s' has no secret half", k->name);
    return ql_profile_seal_open(k->profile, m, c, clen, k->pk, k->sk, d);
}

void
ql_key_free(struct ql_key *k)
{
    if (k == NULL)
        return;
    sodium_free(k->sk); /* wipes; NULL is fine */
    sodium_memzero(k, sizeof *k);
    free(k);
}
