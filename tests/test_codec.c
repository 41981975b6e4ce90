/* Tests of crypto/ql_codec: canonical base64 and hex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "ql_codec.h"
#include "ql_test.h"

static void
test_base64_known(void **state)
{
    /* RFC 4648 section 10 test vectors. */
    static const char *const vec[][2] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
        {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    char enc[16];
    uint8_t dec[16];
    size_t i, n;
    struct ql_diag d;

    (void)state;
    for (i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        ql_base64_encode(enc, (const uint8_t *)vec[i][0], strlen(vec[i][0]));
        assert_string_equal(enc, vec[i][1]);
        assert_int_equal(ql_base64_len(strlen(vec[i][0])), strlen(vec[i][1]));
        assert_int_equal(ql_base64_decode(dec, sizeof dec, &n, vec[i][1],
                                          strlen(vec[i][1]), &d),
                         QL_OK);
        assert_int_equal(n, strlen(vec[i][0]));
        assert_memory_equal(dec, vec[i][0], n);
    }
}

static void
test_base64_rejects(void **state)
{
    static const char *const bad[] = {
        "Zg",    "Zg=",  "Zh==", "Zm9=", "Zm9v\n", " Zm9v", "Zm-v",
        "Zm_v",  "====", "Z===", "Zg==Zg==", "Zm\xafv", "Z=9v", "Zm=v",
        "Zm9v\x80\x80\x80\x80",
    };
    uint8_t dec[16];
    size_t i, n;
    struct ql_diag d;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        print_message("rejects '%s'\n", bad[i]);
        assert_int_equal(
            ql_base64_decode(dec, sizeof dec, &n, bad[i], strlen(bad[i]), &d),
            QL_EFORMAT);
        assert_int_equal(ql_base64_decode_secret(dec, sizeof dec, &n, bad[i],
                                                 strlen(bad[i]), &d),
                         QL_EFORMAT);
    }
    assert_int_equal(ql_base64_decode(dec, 2, &n, "Zm9vYmFy", 8, &d),
                     QL_ETOOBIG);
}

static void
test_hex(void **state)
{
    uint8_t in[3] = {0x00, 0xab, 0xff}, out[3];
    char enc[7];
    struct ql_diag d;

    (void)state;
    ql_hex_encode(enc, in, 3);
    assert_string_equal(enc, "00abff");
    assert_int_equal(ql_hex_decode(out, 3, "00ABff", &d), QL_OK);
    assert_memory_equal(out, in, 3);
    assert_int_equal(ql_hex_decode(out, 3, "00abf", &d), QL_EFORMAT);
    assert_int_equal(ql_hex_decode(out, 3, "00abfff", &d), QL_EFORMAT);
    assert_int_equal(ql_hex_decode(out, 3, "00abgg", &d), QL_EFORMAT);
    assert_int_equal(ql_hex_decode(out, 3, "00 bff", &d), QL_EFORMAT);
}

/*
 * The reference, written the obvious way from RFC 4648: padding only at
 * the end, every other character from the alphabet, six bits each; and
 * canonical means that encoding the result gives the text back.
 */
static bool
reference_decode(const char *s, size_t slen, uint8_t *out, size_t cap,
                 size_t *n)
{
    static const char ALPHABET[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char again[100];
    size_t i, body = slen, bits = 0;
    uint32_t acc = 0;

    if (slen % 4 != 0 || slen >= sizeof again)
        return false;
    while (body > 0 && slen - body < 2 && s[body - 1] == '=')
        body--;
    *n = 0;
    for (i = 0; i < body; i++) {
        const char *at = s[i] != '\0' ? strchr(ALPHABET, s[i]) : NULL;

        if (at == NULL)
            return false;
        acc = acc << 6 | (uint32_t)(at - ALPHABET);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (*n == cap)
                return false;
            out[(*n)++] = (uint8_t)(acc >> bits);
        }
    }
    ql_base64_encode(again, out, *n);
    return strlen(again) == slen && memcmp(again, s, slen) == 0;
}

/* Random texts, near-valid ones most of all: same answer, same bytes. */
static void
test_base64_differential(void **state)
{
    static const char ALPHA[] = "AQgw+/z09=\x80-";
    uint8_t want[64], got[64], raw[40];
    char text[80];
    uint64_t rng = 0x9e3779b97f4a7c15u;
    size_t wn, gn, len, i;
    int round, accepted = 0;
    struct ql_diag d;

    (void)state;
    for (round = 0; round < 20000; round++) {
        if (round % 2 == 0) {
            /* A valid encoding, then perhaps one byte changed. */
            len = qlt_rand(&rng) % 40;
            for (i = 0; i < len; i++)
                raw[i] = (uint8_t)qlt_rand(&rng);
            ql_base64_encode(text, raw, len);
            len = strlen(text);
            if (len > 0 && qlt_rand(&rng) % 2)
                text[qlt_rand(&rng) % len] =
                    ALPHA[qlt_rand(&rng) % (sizeof ALPHA - 1)];
        } else {
            len = qlt_rand(&rng) % 13;
            for (i = 0; i < len; i++)
                text[i] = ALPHA[qlt_rand(&rng) % (sizeof ALPHA - 1)];
            text[len] = '\0';
        }
        bool ref = reference_decode(text, len, want, sizeof want, &wn);
        bool ours = ql_base64_decode(got, sizeof got, &gn, text, len, &d) ==
                    QL_OK;

        if (ref != ours)
            fail_msg("'%s': reference %d, ours %d", text, ref, ours);
        if (ref) {
            accepted++;
            assert_int_equal(wn, gn);
            assert_memory_equal(want, got, wn);
        }
        /* The constant-time decoder for secrets is as strict. */
        gn = 0;
        ours = ql_base64_decode_secret(got, sizeof got, &gn, text, len, &d) ==
               QL_OK;
        if (ref != ours)
            fail_msg("'%s': reference %d, secret decoder %d", text, ref, ours);
        if (ref) {
            assert_int_equal(wn, gn);
            assert_memory_equal(want, got, wn);
        }
    }
    assert_true(accepted > 5000);
}

/*
 * The table encoder writes what the constant-time one writes, for every
 * length's remainder and every byte value in each position.
 */
static void
test_base64_encoders_agree(void **state)
{
    uint8_t raw[200];
    char fast[280], secret[280];
    uint64_t rng = 0x243f6a8885a308d3u;
    size_t len, i;
    int round;

    (void)state;
    for (round = 0; round < 3000; round++) {
        len = round < 256 ? (size_t)round % 7 : qlt_rand(&rng) % sizeof raw;
        for (i = 0; i < len; i++)
            raw[i] = round < 256 ? (uint8_t)(round + i * 85)
                                 : (uint8_t)qlt_rand(&rng);
        memset(fast, 'x', sizeof fast);
        ql_base64_encode(fast, raw, len);
        ql_base64_encode_secret(secret, raw, len);
        assert_int_equal(strlen(fast), ql_base64_len(len));
        assert_string_equal(fast, secret);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_known),
        cmocka_unit_test(test_base64_rejects),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base64_differential),
        cmocka_unit_test(test_base64_encoders_agree),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
