#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_keys.h"
#include "ql_profile.h"
#include "ql_seal.h"
#include "ql_test.h"

/* Overhead of a payload and of a grant under the default profile. */
#define PAYLOAD_OVER (1 + 24 + 16)
#define GRANT_OVER 48
#define GRANT_MIN (GRANT_OVER + 3 + 32)

static const uint8_t AD[] = "CG-2026-000017\n42";
#define ADLEN (sizeof AD - 1)

static const char CTX[] = "county.example/log\nXZ01\n3";
#define CTXLEN (sizeof CTX - 1)

/* Costly immutable state, made once for the whole group. */
struct fixture {
    const struct ql_profile *p;
    struct ql_key *head;   /* a principal with its secret half */
    struct ql_key *pub;    /* the same principal's public half only */
    struct ql_key *other;  /* another principal */
    struct ql_datakey *dk; /* the unit's data key */
};

static struct fixture fx;

static int
group_setup(void **state)
{
    struct ql_diag d;

    (void)state;
    if (ql_crypto_init(&d) != QL_OK)
        return -1;
    fx.p = ql_profile_default();
    if (ql_key_generate(fx.p, "head.xz01", &fx.head, &d) != QL_OK ||
        ql_key_public_copy(fx.head, &fx.pub, &d) != QL_OK ||
        ql_key_generate(fx.p, "verifier.xz02", &fx.other, &d) != QL_OK ||
        ql_datakey_new(fx.p, &fx.dk, &d) != QL_OK)
        return -1;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    ql_key_free(fx.head);
    ql_key_free(fx.pub);
    ql_key_free(fx.other);
    ql_datakey_free(fx.dk);
    return 0;
}

/* Encrypts m under the fixture's key and AD, failing the test on error. */
static uint8_t *
encrypt_or_fail(const struct ql_datakey *k, const uint8_t *m, size_t mlen,
                size_t *clen)
{
    struct ql_diag d;
    uint8_t *c = NULL;

    if (ql_datakey_encrypt(k, m, mlen, AD, ADLEN, &c, clen, &d) != QL_OK)
        fail_msg("encrypt: %s", d.msg);
    return c;
}

static uint8_t *
seal_or_fail(const struct ql_datakey *k, const struct ql_key *to, size_t *glen)
{
    struct ql_diag d;
    uint8_t *g = NULL;

    if (ql_datakey_seal(k, to, CTX, CTXLEN, &g, glen, &d) != QL_OK)
        fail_msg("seal: %s", d.msg);
    return g;
}

static void
fingerprint_or_fail(const struct ql_datakey *k, uint8_t out[32])
{
    struct ql_diag d;

    if (ql_datakey_fingerprint(k, out, &d) != QL_OK)
        fail_msg("fingerprint: %s", d.msg);
}

/* Asserts that decrypting c fails with code and a message holding want. */
static void
expect_decrypt_error(const struct ql_datakey *k, const uint8_t *c, size_t clen,
                     const uint8_t *ad, size_t adlen, ql_err code,
                     const char *want)
{
    struct ql_diag d;
    uint8_t *m = (uint8_t *)&d; /* sentinel: must stay untouched */
    size_t mlen = 12345;

    ql_diag_clear(&d);
    assert_int_equal(ql_datakey_decrypt(k, c, clen, ad, adlen, &m, &mlen, &d),
                     code);
    assert_int_equal(d.code, code);
    if (strstr(d.msg, want) == NULL)
        fail_msg("message '%s' lacks '%s'", d.msg, want);
    assert_ptr_equal(m, (uint8_t *)&d);
    assert_int_equal(mlen, 12345);
}

static void
expect_unseal_error(const struct ql_key *r, const uint8_t *g, size_t glen,
                    const void *ctx, size_t ctxlen, ql_err code,
                    const char *want)
{
    struct ql_diag d;
    struct ql_datakey *k = (struct ql_datakey *)&d; /* sentinel */

    ql_diag_clear(&d);
    assert_int_equal(ql_datakey_unseal(r, g, glen, ctx, ctxlen, &k, &d), code);
    assert_int_equal(d.code, code);
    if (strstr(d.msg, want) == NULL)
        fail_msg("message '%s' lacks '%s'", d.msg, want);
    assert_ptr_equal(k, (struct ql_datakey *)&d);
}

/* ---- payloads ---- */

static void
test_new_and_accessors(void **state)
{
    struct ql_datakey *a = NULL;
    struct ql_diag d;
    uint8_t fa[32], fb[32];

    (void)state;
    assert_int_equal(ql_datakey_new(fx.p, &a, &d), QL_OK);
    assert_ptr_equal(ql_datakey_profile(a), fx.p);
    assert_int_equal(ql_datakey_overhead(a), PAYLOAD_OVER);
    fingerprint_or_fail(a, fa);
    fingerprint_or_fail(fx.dk, fb);
    assert_memory_not_equal(fa, fb, 32); /* fresh keys are random */
    ql_datakey_free(a);
    ql_datakey_free(NULL);
    ql_datakey_plain_free(NULL, 10);
}

static void
test_roundtrip_sizes(void **state)
{
    static const size_t sizes[] = {0, 1, 2, 23, 1000, 4096, QL_PAYLOAD_MAX};
    uint64_t rnd = 0x9E3779B97F4A7C15u;
    size_t i, j, clen = 0, mlen = 0;
    uint8_t *m, *c, *back = NULL;
    struct ql_diag d;

    (void)state;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        print_message("payload of %zu bytes\n", sizes[i]);
        m = malloc(sizes[i] + 1);
        assert_non_null(m);
        for (j = 0; j < sizes[i]; j++)
            m[j] = (uint8_t)qlt_rand(&rnd);
        c = encrypt_or_fail(fx.dk, m, sizes[i], &clen);
        assert_int_equal(clen, sizes[i] + PAYLOAD_OVER);
        assert_int_equal(c[0], QL_PAYLOAD_VERSION);
        assert_int_equal(
            ql_datakey_decrypt(fx.dk, c, clen, AD, ADLEN, &back, &mlen, &d),
            QL_OK);
        assert_int_equal(mlen, sizes[i]);
        if (mlen > 0)
            assert_memory_equal(back, m, mlen);
        assert_int_equal(back[mlen], '\0'); /* readable as text in place */
        ql_datakey_plain_free(back, mlen);
        free(c);
        free(m);
    }
}

static void
test_no_ad_and_null_empty(void **state)
{
    struct ql_diag d;
    uint8_t *c = NULL, *back = NULL;
    size_t clen = 0, mlen = 1;

    (void)state;
    /* NULL with length 0 is the empty string, for text and for AD. */
    assert_int_equal(ql_datakey_encrypt(fx.dk, NULL, 0, NULL, 0, &c, &clen, &d),
                     QL_OK);
    assert_int_equal(clen, PAYLOAD_OVER);
    assert_int_equal(ql_datakey_decrypt(fx.dk, c, clen, (const uint8_t *)"", 0,
                                        &back, &mlen, &d),
                     QL_OK);
    assert_int_equal(mlen, 0);
    ql_datakey_plain_free(back, mlen);
    /* Empty AD is still AD: a payload made with some does not open. */
    expect_decrypt_error(fx.dk, c, clen, AD, ADLEN, QL_EVERIFY,
                         "wrong key or altered data");
    free(c);
}

static void
test_nonces_differ(void **state)
{
    static const uint8_t text[] = "same text";
    uint8_t *a, *b;
    size_t alen = 0, blen = 0;

    (void)state;
    a = encrypt_or_fail(fx.dk, text, sizeof text, &alen);
    b = encrypt_or_fail(fx.dk, text, sizeof text, &blen);
    assert_int_equal(alen, blen);
    assert_memory_not_equal(a + 1, b + 1, 24);
    assert_memory_not_equal(a + 25, b + 25, alen - 25);
    free(a);
    free(b);
}

static void
test_wrong_key(void **state)
{
    struct ql_datakey *k2 = NULL;
    struct ql_diag d;
    uint8_t *c;
    size_t clen = 0;

    (void)state;
    assert_int_equal(ql_datakey_new(fx.p, &k2, &d), QL_OK);
    c = encrypt_or_fail(fx.dk, (const uint8_t *)"secret", 6, &clen);
    expect_decrypt_error(k2, c, clen, AD, ADLEN, QL_EVERIFY,
                         "cannot decrypt payload: wrong key or altered data");
    free(c);
    ql_datakey_free(k2);
}

static void
test_wrong_ad(void **state)
{
    uint8_t ad[ADLEN + 1];
    uint8_t *c;
    size_t clen = 0, i;
    int bit;

    (void)state;
    c = encrypt_or_fail(fx.dk, (const uint8_t *)"conclusion", 10, &clen);
    memcpy(ad, AD, ADLEN);
    /* Every single-bit change of the lead id or index. */
    for (i = 0; i < ADLEN; i++)
        for (bit = 0; bit < 8; bit++) {
            ad[i] ^= (uint8_t)(1u << bit);
            expect_decrypt_error(fx.dk, c, clen, ad, ADLEN, QL_EVERIFY,
                                 "wrong key or altered data");
            ad[i] ^= (uint8_t)(1u << bit);
        }
    /* Shorter, longer, and none at all. */
    expect_decrypt_error(fx.dk, c, clen, ad, ADLEN - 1, QL_EVERIFY,
                         "altered data");
    ad[ADLEN] = '\n';
    expect_decrypt_error(fx.dk, c, clen, ad, ADLEN + 1, QL_EVERIFY,
                         "altered data");
    expect_decrypt_error(fx.dk, c, clen, NULL, 0, QL_EVERIFY, "altered data");
    free(c);
}

static void
test_flip_every_bit(void **state)
{
    uint8_t *c;
    size_t clen = 0, i;
    int bit;

    (void)state;
    c = encrypt_or_fail(fx.dk, (const uint8_t *)"short", 5, &clen);
    assert_int_equal(clen, 5 + PAYLOAD_OVER);
    for (i = 0; i < clen; i++)
        for (bit = 0; bit < 8; bit++) {
            c[i] ^= (uint8_t)(1u << bit);
            if (i == 0)
                expect_decrypt_error(fx.dk, c, clen, AD, ADLEN, QL_EFORMAT,
                                     "unknown version");
            else
                expect_decrypt_error(fx.dk, c, clen, AD, ADLEN, QL_EVERIFY,
                                     "wrong key or altered data");
            c[i] ^= (uint8_t)(1u << bit);
        }
    free(c);
}

static void
test_truncated_every_length(void **state)
{
    uint8_t *c;
    size_t clen = 0, n;

    (void)state;
    c = encrypt_or_fail(fx.dk, (const uint8_t *)"truncate me", 11, &clen);
    expect_decrypt_error(fx.dk, c, 0, AD, ADLEN, QL_EFORMAT,
                         "payload is empty");
    for (n = 1; n < clen; n++)
        if (n < PAYLOAD_OVER)
            expect_decrypt_error(fx.dk, c, n, AD, ADLEN, QL_EFORMAT,
                                 "payload is too short");
        else
            expect_decrypt_error(fx.dk, c, n, AD, ADLEN, QL_EVERIFY,
                                 "wrong key or altered data");
    free(c);
}

static void
test_unknown_version(void **state)
{
    char want[64];
    uint8_t *c;
    size_t clen = 0;
    unsigned v;

    (void)state;
    c = encrypt_or_fail(fx.dk, (const uint8_t *)"v", 1, &clen);
    for (v = 0; v < 256; v++) {
        if (v == QL_PAYLOAD_VERSION)
            continue;
        c[0] = (uint8_t)v;
        snprintf(want, sizeof want, "unknown version 0x%02x", v);
        expect_decrypt_error(fx.dk, c, clen, AD, ADLEN, QL_EFORMAT, want);
    }
    free(c);
}

static void
test_oversize(void **state)
{
    uint8_t *big, *c = (uint8_t *)&fx, *m = NULL;
    size_t clen = 7, mlen = 0;
    struct ql_diag d;

    (void)state;
    big = calloc(1, QL_PAYLOAD_AD_MAX + 1);
    assert_non_null(big);
    assert_int_equal(ql_datakey_encrypt(fx.dk, big, QL_PAYLOAD_MAX + 1, AD,
                                        ADLEN, &c, &clen, &d),
                     QL_ETOOBIG);
    assert_non_null(strstr(d.msg, "payload of 45057 bytes is larger"));
    assert_ptr_equal(c, (uint8_t *)&fx);
    assert_int_equal(clen, 7);
    assert_int_equal(ql_datakey_encrypt(fx.dk, big, 1, big,
                                        QL_PAYLOAD_AD_MAX + 1, &c, &clen, &d),
                     QL_ETOOBIG);
    assert_non_null(strstr(d.msg, "additional data of 65537 bytes"));
    /* The largest payload's sealed length passes the size check. */
    big[0] = QL_PAYLOAD_VERSION;
    expect_decrypt_error(fx.dk, big, QL_PAYLOAD_MAX + PAYLOAD_OVER, AD, ADLEN,
                         QL_EVERIFY, "wrong key or altered data");
    expect_decrypt_error(fx.dk, big, QL_PAYLOAD_MAX + PAYLOAD_OVER + 1, AD,
                         ADLEN, QL_ETOOBIG, "larger than any sealed payload");
    expect_decrypt_error(fx.dk, big, PAYLOAD_OVER, big, QL_PAYLOAD_AD_MAX + 1,
                         QL_ETOOBIG, "additional data of 65537 bytes");
    /* The largest additional data is fine. */
    assert_int_equal(ql_datakey_encrypt(fx.dk, big, 3, big, QL_PAYLOAD_AD_MAX,
                                        &c, &clen, &d),
                     QL_OK);
    assert_int_equal(ql_datakey_decrypt(fx.dk, c, clen, big, QL_PAYLOAD_AD_MAX,
                                        &m, &mlen, &d),
                     QL_OK);
    assert_int_equal(mlen, 3);
    ql_datakey_plain_free(m, mlen);
    free(c);
    free(big);
}

static void
test_null_with_length(void **state)
{
    struct ql_diag d;
    uint8_t *c = NULL;
    size_t clen = 0;

    (void)state;
    assert_int_equal(
        ql_datakey_encrypt(fx.dk, NULL, 3, AD, ADLEN, &c, &clen, &d),
        QL_EUSAGE);
    assert_string_equal(d.msg, "payload is NULL but has 3 bytes");
    assert_int_equal(
        ql_datakey_encrypt(fx.dk, AD, ADLEN, NULL, 2, &c, &clen, &d),
        QL_EUSAGE);
    assert_string_equal(d.msg, "additional data is NULL but has 2 bytes");
    expect_decrypt_error(fx.dk, NULL, 50, AD, ADLEN, QL_EUSAGE,
                         "payload is NULL but has 50 bytes");
    expect_decrypt_error(fx.dk, AD, ADLEN, NULL, 1, QL_EUSAGE,
                         "additional data is NULL but has 1 bytes");
}

/* ---- grants ---- */

static void
test_grant_roundtrip(void **state)
{
    struct ql_datakey *k = NULL;
    struct ql_diag d;
    uint8_t fa[32], fb[32], *g, *c, *m = NULL;
    size_t glen = 0, clen = 0, mlen = 0;

    (void)state;
    /* Sealing needs only the public half. */
    g = seal_or_fail(fx.dk, fx.pub, &glen);
    assert_int_equal(glen, GRANT_MIN + CTXLEN);
    assert_int_equal(ql_datakey_unseal(fx.head, g, glen, CTX, CTXLEN, &k, &d),
                     QL_OK);
    assert_ptr_equal(ql_datakey_profile(k), fx.p);
    fingerprint_or_fail(fx.dk, fa);
    fingerprint_or_fail(k, fb);
    assert_memory_equal(fa, fb, 32);
    /* The opened key reads what the original wrote. */
    c = encrypt_or_fail(fx.dk, (const uint8_t *)"hello", 5, &clen);
    assert_int_equal(ql_datakey_decrypt(k, c, clen, AD, ADLEN, &m, &mlen, &d),
                     QL_OK);
    assert_memory_equal(m, "hello", 5);
    ql_datakey_plain_free(m, mlen);
    free(c);
    ql_datakey_free(k);
    free(g);
}

static void
test_grant_context_sizes(void **state)
{
    static const size_t sizes[] = {0, 1, QL_GRANT_CONTEXT_MAX};
    struct ql_datakey *k = NULL;
    struct ql_diag d;
    uint8_t ctx[QL_GRANT_CONTEXT_MAX], *g = NULL;
    size_t i, glen = 0;

    (void)state;
    memset(ctx, 'x', sizeof ctx);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        print_message("context of %zu bytes\n", sizes[i]);
        assert_int_equal(ql_datakey_seal(fx.dk, fx.head, sizes[i] ? ctx : NULL,
                                         sizes[i], &g, &glen, &d),
                         QL_OK);
        assert_int_equal(glen, GRANT_MIN + sizes[i]);
        assert_int_equal(
            ql_datakey_unseal(fx.head, g, glen, ctx, sizes[i], &k, &d), QL_OK);
        ql_datakey_free(k);
        free(g);
    }
}

static void
test_grant_wrong_recipient(void **state)
{
    uint8_t *g;
    size_t glen = 0;

    (void)state;
    g = seal_or_fail(fx.dk, fx.head, &glen);
    expect_unseal_error(fx.other, g, glen, CTX, CTXLEN, QL_EVERIFY,
                        "cannot open grant: not sealed to key "
                        "'verifier.xz02', or altered");
    expect_unseal_error(fx.pub, g, glen, CTX, CTXLEN, QL_EUSAGE,
                        "key 'head.xz01' has no secret half");
    free(g);
}

static void
test_grant_context_mismatch(void **state)
{
    static const struct {
        const char *name, *ctx;
    } cases[] = {
        {"another epoch", "county.example/log\nXZ01\n4"},
        {"another unit", "county.example/log\nXZ02\n3"},
        {"another log", "county2.example/log\nXZ01\n3"},
        {"a prefix", "county.example/log\nXZ01\n"},
        {"an extension", "county.example/log\nXZ01\n31"},
        {"no context", ""},
    };
    uint8_t *g;
    size_t glen = 0, i;

    (void)state;
    g = seal_or_fail(fx.dk, fx.head, &glen);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s\n", cases[i].name);
        expect_unseal_error(fx.head, g, glen, cases[i].ctx,
                            strlen(cases[i].ctx), QL_EVERIFY,
                            "grant was made for another context");
    }
    free(g);
}

static void
test_grant_flip_every_bit(void **state)
{
    uint8_t *g;
    size_t glen = 0, i;
    int bit;

    (void)state;
    g = seal_or_fail(fx.dk, fx.head, &glen);
    for (i = 0; i < glen; i++)
        for (bit = 0; bit < 8; bit++) {
            g[i] ^= (uint8_t)(1u << bit);
            expect_unseal_error(fx.head, g, glen, CTX, CTXLEN, QL_EVERIFY,
                                "cannot open grant");
            g[i] ^= (uint8_t)(1u << bit);
        }
    free(g);
}

static void
test_grant_truncated_every_length(void **state)
{
    uint8_t *g;
    size_t glen = 0, n;

    (void)state;
    g = seal_or_fail(fx.dk, fx.head, &glen);
    for (n = 0; n < glen; n++)
        if (n < GRANT_MIN)
            expect_unseal_error(fx.head, g, n, CTX, CTXLEN, QL_EFORMAT,
                                "grant is too short");
        else
            expect_unseal_error(fx.head, g, n, CTX, CTXLEN, QL_EVERIFY,
                                "cannot open grant");
    free(g);
}

static void
test_grant_limits_and_nulls(void **state)
{
    uint8_t *big, *g = (uint8_t *)&fx;
    size_t glen = 9;
    struct ql_diag d;

    (void)state;
    big = calloc(1, QL_GRANT_MAX + 1);
    assert_non_null(big);
    assert_int_equal(ql_datakey_seal(fx.dk, fx.head, big,
                                     QL_GRANT_CONTEXT_MAX + 1, &g, &glen, &d),
                     QL_ETOOBIG);
    assert_non_null(strstr(d.msg, "grant context of 1025 bytes"));
    assert_ptr_equal(g, (uint8_t *)&fx);
    assert_int_equal(glen, 9);
    assert_int_equal(ql_datakey_seal(fx.dk, fx.head, NULL, 4, &g, &glen, &d),
                     QL_EUSAGE);
    assert_string_equal(d.msg, "grant context is NULL but has 4 bytes");
    expect_unseal_error(fx.head, big, GRANT_MIN, big, QL_GRANT_CONTEXT_MAX + 1,
                        QL_ETOOBIG, "grant context of 1025 bytes");
    expect_unseal_error(fx.head, big, GRANT_MIN, NULL, 4, QL_EUSAGE,
                        "grant context is NULL but has 4 bytes");
    expect_unseal_error(fx.head, NULL, GRANT_MIN, CTX, CTXLEN, QL_EUSAGE,
                        "grant is NULL but has 83 bytes");
    /* The largest grant passes the size check; one byte more does not. */
    expect_unseal_error(fx.head, big, GRANT_MIN + QL_GRANT_CONTEXT_MAX, CTX,
                        CTXLEN, QL_EVERIFY, "cannot open grant");
    expect_unseal_error(fx.head, big, GRANT_MIN + QL_GRANT_CONTEXT_MAX + 1, CTX,
                        CTXLEN, QL_ETOOBIG, "larger than any grant");
    free(big);
}

/*
 * Grants are sealed anonymously, so anyone with the public key can make
 * one: its content is checked like any input, and a well-formed forgery
 * is told apart only by the fingerprint.
 */
static void
test_grant_forged_content(void **state)
{
    static const struct {
        const char *name;
        uint8_t version, len_hi, len_lo;
        size_t ctxlen; /* context bytes actually present */
        ql_err code;
        const char *want;
    } cases[] = {
        {"unknown version", 0x02, 0, CTXLEN, CTXLEN, QL_EFORMAT,
         "grant has unknown version 0x02"},
        {"version zero", 0x00, 0, CTXLEN, CTXLEN, QL_EFORMAT,
         "unknown version 0x00"},
        {"length one too big", 0x01, 0, CTXLEN + 1, CTXLEN, QL_EFORMAT,
         "grant context length 26 does not match its size"},
        {"length one too small", 0x01, 0, CTXLEN - 1, CTXLEN, QL_EFORMAT,
         "grant context length 24 does not match"},
        {"length in high byte", 0x01, 1, CTXLEN, CTXLEN, QL_EFORMAT,
         "grant context length 281 does not match"},
        {"well formed, foreign key", 0x01, 0, CTXLEN, CTXLEN, QL_OK, ""},
    };
    uint8_t plain[3 + CTXLEN + 32], *g, fa[32], fb[32];
    struct ql_datakey *k = NULL;
    struct ql_diag d;
    size_t i, plen, glen;

    (void)state;
    g = malloc(sizeof plain + GRANT_OVER);
    assert_non_null(g);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s\n", cases[i].name);
        plain[0] = cases[i].version;
        plain[1] = cases[i].len_hi;
        plain[2] = cases[i].len_lo;
        memcpy(plain + 3, CTX, cases[i].ctxlen);
        memset(plain + 3 + cases[i].ctxlen, 0xAB, 32);
        plen = 3 + cases[i].ctxlen + 32;
        glen = plen + GRANT_OVER;
        assert_int_equal(ql_key_seal_to(fx.pub, plain, plen, g, &d), QL_OK);
        if (cases[i].code != QL_OK) {
            expect_unseal_error(fx.head, g, glen, CTX, CTXLEN, cases[i].code,
                                cases[i].want);
            continue;
        }
        assert_int_equal(
            ql_datakey_unseal(fx.head, g, glen, CTX, CTXLEN, &k, &d), QL_OK);
        fingerprint_or_fail(fx.dk, fa);
        fingerprint_or_fail(k, fb);
        assert_memory_not_equal(fa, fb, 32);
        ql_datakey_free(k);
    }
    free(g);
}

/* ---- keyed hashes and subkeys ---- */

static void
mac_or_fail(const struct ql_datakey *k, const char *label, const void *m,
            size_t mlen, uint8_t out[32])
{
    struct ql_diag d;

    if (ql_datakey_mac(k, label, m, mlen, out, &d) != QL_OK)
        fail_msg("mac: %s", d.msg);
}

static void
test_mac_separation(void **state)
{
    struct ql_datakey *k2 = NULL;
    struct ql_diag d;
    uint8_t a[32], b[32], fp[32];

    (void)state;
    mac_or_fail(fx.dk, "reporter", "13800138000", 11, a);
    mac_or_fail(fx.dk, "reporter", "13800138000", 11, b);
    assert_memory_equal(a, b, 32);
    mac_or_fail(fx.dk, "reporter", "13800138001", 11, b);
    assert_memory_not_equal(a, b, 32);
    mac_or_fail(fx.dk, "reporter-name", "13800138000", 11, b);
    assert_memory_not_equal(a, b, 32);
    /* The label's length is part of the input: "ab"+"c" is not "a"+"bc". */
    mac_or_fail(fx.dk, "ab", "c", 1, a);
    mac_or_fail(fx.dk, "a", "bc", 2, b);
    assert_memory_not_equal(a, b, 32);
    /* NULL and "" are the same empty message. */
    mac_or_fail(fx.dk, "x", NULL, 0, a);
    mac_or_fail(fx.dk, "x", "", 0, b);
    assert_memory_equal(a, b, 32);
    fingerprint_or_fail(fx.dk, fp);
    assert_memory_not_equal(a, fp, 32);
    /* Another key, another answer. */
    assert_int_equal(ql_datakey_new(fx.p, &k2, &d), QL_OK);
    mac_or_fail(k2, "x", NULL, 0, b);
    assert_memory_not_equal(a, b, 32);
    ql_datakey_free(k2);
}

static void
test_bad_labels(void **state)
{
    char long_label[QL_DATAKEY_LABEL_MAX + 2];
    struct ql_datakey *sub = (struct ql_datakey *)&fx;
    const char *labels[3];
    struct ql_diag d;
    uint8_t out[32], keep[32];
    size_t i;

    (void)state;
    memset(long_label, 'l', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = '\0';
    labels[0] = NULL;
    labels[1] = "";
    labels[2] = long_label; /* 256 bytes */
    memset(out, 0x5A, sizeof out);
    memcpy(keep, out, sizeof out);
    for (i = 0; i < 3; i++) {
        print_message("label %zu\n", i);
        assert_int_equal(ql_datakey_mac(fx.dk, labels[i], "m", 1, out, &d),
                         QL_EUSAGE);
        assert_string_equal(d.msg, "invalid label: it must be 1 to 255 bytes");
        assert_memory_equal(out, keep, sizeof out);
        assert_int_equal(ql_datakey_derive(fx.dk, labels[i], &sub, &d),
                         QL_EUSAGE);
        assert_string_equal(d.msg, "invalid label: it must be 1 to 255 bytes");
        assert_ptr_equal(sub, (struct ql_datakey *)&fx);
    }
    assert_int_equal(ql_datakey_mac(fx.dk, "label", NULL, 1, out, &d),
                     QL_EUSAGE);
    assert_string_equal(d.msg, "message is NULL but has 1 bytes");
    /* 255 bytes is the longest label that works. */
    long_label[QL_DATAKEY_LABEL_MAX] = '\0';
    mac_or_fail(fx.dk, long_label, "m", 1, out);
    assert_int_equal(ql_datakey_derive(fx.dk, long_label, &sub, &d), QL_OK);
    ql_datakey_free(sub);
}

static void
test_derive(void **state)
{
    struct ql_datakey *a = NULL, *b = NULL, *c = NULL;
    struct ql_diag d;
    uint8_t fa[32], fb[32], fc[32], fp[32], *p, *m = NULL;
    size_t plen = 0, mlen = 0;

    (void)state;
    assert_int_equal(ql_datakey_derive(fx.dk, "attachment", &a, &d), QL_OK);
    assert_int_equal(ql_datakey_derive(fx.dk, "attachment", &b, &d), QL_OK);
    assert_int_equal(ql_datakey_derive(fx.dk, "attachments", &c, &d), QL_OK);
    assert_ptr_equal(ql_datakey_profile(a), fx.p);
    fingerprint_or_fail(a, fa);
    fingerprint_or_fail(b, fb);
    fingerprint_or_fail(c, fc);
    fingerprint_or_fail(fx.dk, fp);
    assert_memory_equal(fa, fb, 32);
    assert_memory_not_equal(fa, fc, 32);
    assert_memory_not_equal(fa, fp, 32);
    /* Same label, same key: one side's payload opens on the other. */
    p = encrypt_or_fail(a, (const uint8_t *)"file", 4, &plen);
    assert_int_equal(ql_datakey_decrypt(b, p, plen, AD, ADLEN, &m, &mlen, &d),
                     QL_OK);
    ql_datakey_plain_free(m, mlen);
    /* The parent and the sibling do not share its key space. */
    expect_decrypt_error(fx.dk, p, plen, AD, ADLEN, QL_EVERIFY,
                         "wrong key or altered data");
    expect_decrypt_error(c, p, plen, AD, ADLEN, QL_EVERIFY,
                         "wrong key or altered data");
    free(p);
    ql_datakey_free(a);
    ql_datakey_free(b);
    ql_datakey_free(c);
}

/*
 * Known answers (docs/formats.md): a grant to the key from seed 00..1f and
 * a payload under the key it holds. The key, fingerprint, keyed hash and
 * subkey fingerprint were checked with an independent HMAC-SHA-256 and by
 * opening the grant and payload with libsodium directly.
 */
static const char KAT_GRANT[] =
    "96c9c7388516c0a4467c44324648b32bbb275e49b8bec6947047d6aae714cb65"
    "8814b34adf478eca7b6ba9da82be4d967c3c10e0658bf3cc0a3576ccff604e08"
    "494a382a54931298cc440f61181bc6a5ce9ae3b81690f5a70ecd523a274c1301"
    "a52d9d89cc9dade455686392";
static const char KAT_PAYLOAD[] =
    "018d5b4457713e694edc20118164f3a5fa7d770bb99a383e295884b8921543ab"
    "7979c82432b1e443f9c2ac9fbe4552abfe82d12a11f2941eeb8cbad9feb0ea52";
static const char KAT_PLAIN[] = "{\"conclusion\":\"\xe6\x9f\xa5\xe5\x90\xa6\"}";
static const char KAT_FINGERPRINT[] =
    "0bb46197844392da83942943438fde7c9b57fd7f7a0d0ce5fb2ea24b47dec3c3";
static const char KAT_MAC_REPORTER[] =
    "7e4cf75395016997546cd962e902f2b25e7fec4de6ffdd37ccd8eb052e43e4ea";
static const char KAT_SUB_FINGERPRINT[] =
    "f72835598975fb0ded6c8b8bc5dcd187b157d1c86659c76cd30c0df01da1f005";

static void
test_known_answers(void **state)
{
    uint8_t seed[32], grant[128], payload[128], want[32], got[32];
    struct ql_datakey *k = NULL, *sub = NULL;
    struct ql_key *r = NULL;
    struct ql_diag d;
    uint8_t *m = NULL;
    size_t glen, plen, mlen = 0, i;

    (void)state;
    for (i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    assert_int_equal(ql_key_from_seed(fx.p, "head.xz01", seed, &r, &d), QL_OK);
    glen = qlt_unhex(KAT_GRANT, grant, sizeof grant);
    plen = qlt_unhex(KAT_PAYLOAD, payload, sizeof payload);
    assert_int_equal(glen, 108);
    assert_int_equal(plen, 64);
    assert_int_equal(ql_datakey_unseal(r, grant, glen, CTX, CTXLEN, &k, &d),
                     QL_OK);
    fingerprint_or_fail(k, got);
    qlt_unhex(KAT_FINGERPRINT, want, sizeof want);
    assert_memory_equal(got, want, 32);
    assert_int_equal(
        ql_datakey_decrypt(k, payload, plen, AD, ADLEN, &m, &mlen, &d), QL_OK);
    assert_int_equal(mlen, strlen(KAT_PLAIN));
    assert_string_equal((const char *)m, KAT_PLAIN);
    ql_datakey_plain_free(m, mlen);
    mac_or_fail(k, "reporter", "13800138000", 11, got);
    qlt_unhex(KAT_MAC_REPORTER, want, sizeof want);
    assert_memory_equal(got, want, 32);
    assert_int_equal(ql_datakey_derive(k, "attachment", &sub, &d), QL_OK);
    fingerprint_or_fail(sub, got);
    qlt_unhex(KAT_SUB_FINGERPRINT, want, sizeof want);
    assert_memory_equal(got, want, 32);
    /* The forgery that must fail: the last tag byte changed. */
    payload[plen - 1] ^= 0x80;
    expect_decrypt_error(k, payload, plen, AD, ADLEN, QL_EVERIFY,
                         "wrong key or altered data");
    ql_datakey_free(sub);
    ql_datakey_free(k);
    ql_key_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_accessors),
        cmocka_unit_test(test_roundtrip_sizes),
        cmocka_unit_test(test_no_ad_and_null_empty),
        cmocka_unit_test(test_nonces_differ),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_wrong_ad),
        cmocka_unit_test(test_flip_every_bit),
        cmocka_unit_test(test_truncated_every_length),
        cmocka_unit_test(test_unknown_version),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_null_with_length),
        cmocka_unit_test(test_grant_roundtrip),
        cmocka_unit_test(test_grant_context_sizes),
        cmocka_unit_test(test_grant_wrong_recipient),
        cmocka_unit_test(test_grant_context_mismatch),
        cmocka_unit_test(test_grant_flip_every_bit),
        cmocka_unit_test(test_grant_truncated_every_length),
        cmocka_unit_test(test_grant_limits_and_nulls),
        cmocka_unit_test(test_grant_forged_content),
        cmocka_unit_test(test_mac_separation),
        cmocka_unit_test(test_bad_labels),
        cmocka_unit_test(test_derive),
        cmocka_unit_test(test_known_answers),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
