/*
 * Grants and payloads (crypto/ql_seal.c): the sealed data keys of grant
 * entries and the encrypted parts of lead entries, as a log from someone
 * else carries them. Each input is opened as a grant with the worked
 * example's recipient and context, and decrypted as a payload with the
 * example's data key and additional data (docs/formats.md, "Data keys,
 * payloads and grants"); then it is itself encrypted and sealed.
 *
 * Invariants: only the example's grant opens, to the key with the
 * example's fingerprint, and only the example's payload decrypts, to its
 * text (a mutation that still opens would mean the AEAD misses a byte);
 * whatever qingling encrypts or seals opens again, and not once a bit of it
 * or of its context is changed.
 */
#include "qlf.h"

#include <stdlib.h>
#include <string.h>

#include "ql_keys.h"
#include "ql_profile.h"
#include "ql_seal.h"

static const uint8_t seal_grant[108] = {
    0x96, 0xc9, 0xc7, 0x38, 0x85, 0x16, 0xc0, 0xa4, 0x46, 0x7c, 0x44, 0x32,
    0x46, 0x48, 0xb3, 0x2b, 0xbb, 0x27, 0x5e, 0x49, 0xb8, 0xbe, 0xc6, 0x94,
    0x70, 0x47, 0xd6, 0xaa, 0xe7, 0x14, 0xcb, 0x65, 0x88, 0x14, 0xb3, 0x4a,
    0xdf, 0x47, 0x8e, 0xca, 0x7b, 0x6b, 0xa9, 0xda, 0x82, 0xbe, 0x4d, 0x96,
    0x7c, 0x3c, 0x10, 0xe0, 0x65, 0x8b, 0xf3, 0xcc, 0x0a, 0x35, 0x76, 0xcc,
    0xff, 0x60, 0x4e, 0x08, 0x49, 0x4a, 0x38, 0x2a, 0x54, 0x93, 0x12, 0x98,
    0xcc, 0x44, 0x0f, 0x61, 0x18, 0x1b, 0xc6, 0xa5, 0xce, 0x9a, 0xe3, 0xb8,
    0x16, 0x90, 0xf5, 0xa7, 0x0e, 0xcd, 0x52, 0x3a, 0x27, 0x4c, 0x13, 0x01,
    0xa5, 0x2d, 0x9d, 0x89, 0xcc, 0x9d, 0xad, 0xe4, 0x55, 0x68, 0x63, 0x92};

static const uint8_t seal_payload[64] = {
    0x01, 0x8d, 0x5b, 0x44, 0x57, 0x71, 0x3e, 0x69, 0x4e, 0xdc, 0x20,
    0x11, 0x81, 0x64, 0xf3, 0xa5, 0xfa, 0x7d, 0x77, 0x0b, 0xb9, 0x9a,
    0x38, 0x3e, 0x29, 0x58, 0x84, 0xb8, 0x92, 0x15, 0x43, 0xab, 0x79,
    0x79, 0xc8, 0x24, 0x32, 0xb1, 0xe4, 0x43, 0xf9, 0xc2, 0xac, 0x9f,
    0xbe, 0x45, 0x52, 0xab, 0xfe, 0x82, 0xd1, 0x2a, 0x11, 0xf2, 0x94,
    0x1e, 0xeb, 0x8c, 0xba, 0xd9, 0xfe, 0xb0, 0xea, 0x52};

static const uint8_t seal_fingerprint[32] = {
    0x0b, 0xb4, 0x61, 0x97, 0x84, 0x43, 0x92, 0xda, 0x83, 0x94, 0x29,
    0x43, 0x43, 0x8f, 0xde, 0x7c, 0x9b, 0x57, 0xfd, 0x7f, 0x7a, 0x0d,
    0x0c, 0xe5, 0xfb, 0x2e, 0xa2, 0x4b, 0x47, 0xde, 0xc3, 0xc3};

static const char seal_ctx[] = "county.example/log\nXZ01\n3";
static const char seal_ad[] = "CG-2026-000017\n42";
static const char seal_plain[] =
    "{\"conclusion\":\"\xe6\x9f\xa5\xe5\x90\xa6\"}";

/* The example's recipient and data key, made once. */
static void
seal_keys(struct ql_key **recipient, struct ql_datakey **key)
{
    static struct ql_key *r;
    static struct ql_datakey *k;
    uint8_t seed[32], fp[QL_DATAKEY_MAC_LEN];
    size_t i;

    if (r == NULL) {
        for (i = 0; i < sizeof seed; i++)
            seed[i] = (uint8_t)i;
        if (ql_key_from_seed(ql_profile_default(), "head.xz01", seed, &r,
                             NULL) != QL_OK ||
            ql_datakey_unseal(r, seal_grant, sizeof seal_grant, seal_ctx,
                              sizeof seal_ctx - 1, &k, NULL) != QL_OK ||
            ql_datakey_fingerprint(k, fp, NULL) != QL_OK ||
            memcmp(fp, seal_fingerprint, sizeof fp) != 0)
            qlf_fail(__FILE__, __LINE__, "the worked example does not open");
    }
    *recipient = r;
    *key = k;
}

/* What qingling encrypts and seals opens again, and only unchanged. */
static void
seal_roundtrip(struct ql_key *r, struct ql_datakey *k, const uint8_t *data,
               size_t size)
{
    size_t mlen = size < QL_PAYLOAD_MAX ? size : QL_PAYLOAD_MAX;
    size_t adlen = size < 64 ? size : 64, clen = 0, plen = 0, glen = 0;
    size_t ctxlen = size < QL_GRANT_CONTEXT_MAX ? size : QL_GRANT_CONTEXT_MAX;
    uint8_t *c = NULL, *p = NULL, *g = NULL;
    uint8_t fa[QL_DATAKEY_MAC_LEN], fb[QL_DATAKEY_MAC_LEN];
    struct ql_datakey *back = NULL;

    QLF_CHECK(ql_datakey_encrypt(k, data, mlen, data, adlen, &c, &clen, NULL) ==
              QL_OK);
    QLF_CHECK(clen == mlen + ql_datakey_overhead(k));
    QLF_CHECK(ql_datakey_decrypt(k, c, clen, data, adlen, &p, &plen, NULL) ==
              QL_OK);
    QLF_CHECK(plen == mlen && memcmp(p, data, mlen) == 0 && p[plen] == '\0');
    ql_datakey_plain_free(p, plen);
    p = NULL;
    c[size % clen] ^= (uint8_t)(1u << (size % 8));
    QLF_CHECK(ql_datakey_decrypt(k, c, clen, data, adlen, &p, &plen, NULL) !=
              QL_OK);

    QLF_CHECK(ql_datakey_seal(k, r, data, ctxlen, &g, &glen, NULL) == QL_OK);
    QLF_CHECK(ql_datakey_unseal(r, g, glen, data, ctxlen, &back, NULL) ==
              QL_OK);
    QLF_CHECK(ql_datakey_fingerprint(k, fa, NULL) == QL_OK &&
              ql_datakey_fingerprint(back, fb, NULL) == QL_OK &&
              memcmp(fa, fb, sizeof fa) == 0);
    ql_datakey_free(back);
    back = NULL;
    if (ctxlen > 0) {
        /* The same grant for another context does not open. */
        uint8_t *other = malloc(ctxlen);

        QLF_CHECK(other != NULL);
        memcpy(other, data, ctxlen);
        other[0] ^= 1;
        QLF_CHECK(ql_datakey_unseal(r, g, glen, other, ctxlen, &back, NULL) ==
                  QL_EVERIFY);
        free(other);
    }
    free(c);
    free(g);
}

int
qlf_seal(const uint8_t *data, size_t size)
{
    struct ql_key *r;
    struct ql_datakey *k, *opened = NULL;
    uint8_t fp[QL_DATAKEY_MAC_LEN], *m = NULL;
    size_t mlen = 0;
    ql_err grc, prc;

    qlf_setup();
    seal_keys(&r, &k);
    grc = ql_datakey_unseal(r, data, size, seal_ctx, sizeof seal_ctx - 1,
                            &opened, NULL);
    if (grc == QL_OK) {
        QLF_CHECK(size == sizeof seal_grant &&
                  memcmp(data, seal_grant, size) == 0);
        QLF_CHECK(ql_datakey_fingerprint(opened, fp, NULL) == QL_OK &&
                  memcmp(fp, seal_fingerprint, sizeof fp) == 0);
    } else {
        QLF_CHECK(grc == QL_EFORMAT || grc == QL_ETOOBIG || grc == QL_EVERIFY);
    }
    ql_datakey_free(opened);
    prc = ql_datakey_decrypt(k, data, size, (const uint8_t *)seal_ad,
                             sizeof seal_ad - 1, &m, &mlen, NULL);
    if (prc == QL_OK) {
        QLF_CHECK(size == sizeof seal_payload &&
                  memcmp(data, seal_payload, size) == 0);
        QLF_CHECK(mlen == sizeof seal_plain - 1 &&
                  memcmp(m, seal_plain, mlen) == 0);
        ql_datakey_plain_free(m, mlen);
    } else {
        QLF_CHECK(prc == QL_EFORMAT || prc == QL_ETOOBIG || prc == QL_EVERIFY);
    }
    qlf_last = grc == QL_OK ? grc : prc;
    seal_roundtrip(r, k, data, size);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_seal(data, size);
}
#endif
