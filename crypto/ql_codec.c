#include "ql_codec.h"

#include <stdbool.h>
#include <string.h>

#include <sodium.h>

size_t
ql_base64_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

void
ql_base64_encode(char *out, const uint8_t *in, size_t len)
{
    sodium_bin2base64(out, ql_base64_len(len) + 1, in, len,
                      sodium_base64_VARIANT_ORIGINAL);
}

ql_err
ql_base64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *s,
                 size_t slen, struct ql_diag *d)
{
    const char *end = NULL;
    size_t n = 0, want;

    if (slen % 4 != 0)
        return ql_fail(d, QL_EFORMAT, "invalid base64: length is not a "
                                      "multiple of 4");
    /*
     * libsodium 1.0.18 reads bytes from 0x80 up as '/', so check the
     * alphabet here: A-Z a-z 0-9 + /, and '=' only as the last one or two.
     */
    for (size_t i = 0; i < slen; i++) {
        char ch = s[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' ||
                  (ch == '=' && i + 2 >= slen &&
                   (i + 1 == slen || s[i + 1] == '='));

        if (!ok)
            return ql_fail(d, QL_EFORMAT, "invalid base64 character");
    }
    /*
     * The exact size, so that a value one or two bytes too long is not
     * called malformed: three bytes per four characters, less one per '='
     * (the loop above allowed two at most, at the end).
     */
    want = slen / 4 * 3;
    if (slen > 0 && s[slen - 1] == '=')
        want -= s[slen - 2] == '=' ? 2 : 1;
    if (want > cap)
        return ql_fail(d, QL_ETOOBIG, "base64 value too long");
    if (sodium_base642bin(out, cap, s, slen, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + slen)
        return ql_fail(d, QL_EFORMAT, "invalid base64");
    /*
     * libsodium accepts non-zero bits in the last character's unused part;
     * re-encoding and comparing refuses such non-canonical forms, so one
     * value has exactly one text.
     */
    if (n > 0) {
        char tail[5];
        bool ok;
        size_t last = (n - 1) / 3 * 3;

        ql_base64_encode(tail, out + last, n - last);
        ok = memcmp(tail, s + slen - 4, 4) == 0;
        sodium_memzero(tail, sizeof tail);
        if (!ok)
            return ql_fail(d, QL_EFORMAT, "invalid base64: not canonical");
    }
    *outlen = n;
    return QL_OK;
}

void
ql_hex_encode(char *out, const uint8_t *in, size_t len)
{
    sodium_bin2hex(out, 2 * len + 1, in, len);
}

ql_err
ql_hex_decode(uint8_t *out, size_t len, const char *s, struct ql_diag *d)
{
    const char *end = NULL;
    size_t n = 0;

    if (strlen(s) != 2 * len ||
        sodium_hex2bin(out, len, s, 2 * len, NULL, &n, &end) != 0 ||
        n != len || end != s + 2 * len)
        return ql_fail(d, QL_EFORMAT, "invalid hex: want %zu digits",
                       2 * len);
    return QL_OK;
}
