/* Tests of crypto/ql_codec: canonical base64 and hex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "ql_codec.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_known),
        cmocka_unit_test(test_base64_rejects),
        cmocka_unit_test(test_hex),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
