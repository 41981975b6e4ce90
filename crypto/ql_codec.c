#include "ql_codec.h"

#include <stdbool.h>
#include <string.h>

#include <sodium.h>

size_t
ql_base64_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

static const char ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Three bytes to four characters by table. Every entry's payload and
 * signature is encoded on the write path, where libsodium's constant-time
 * encoder cost about thirty instructions a character. The table lookups
 * depend on the bytes, so secrets go through ql_base64_encode_secret.
 */
void
ql_base64_encode(char *out, const uint8_t *in, size_t len)
{
    size_t i = 0;
    uint32_t v;

    for (; len - i >= 3; i += 3) {
        v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = ALPHABET[v >> 18];
        *out++ = ALPHABET[(v >> 12) & 63];
        *out++ = ALPHABET[(v >> 6) & 63];
        *out++ = ALPHABET[v & 63];
    }
    if (len - i == 1) {
        v = (uint32_t)in[i] << 16;
        *out++ = ALPHABET[v >> 18];
        *out++ = ALPHABET[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (len - i == 2) {
        v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = ALPHABET[v >> 18];
        *out++ = ALPHABET[(v >> 12) & 63];
        *out++ = ALPHABET[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = '\0';
}

void
ql_base64_encode_secret(char *out, const uint8_t *in, size_t len)
{
    sodium_bin2base64(out, ql_base64_len(len) + 1, in, len,
                      sodium_base64_VARIANT_ORIGINAL);
}

ql_err
ql_base64_decode_secret(uint8_t *out, size_t cap, size_t *outlen, const char *s,
                        size_t slen, struct ql_diag *d)
{
    const char *end = NULL;
    unsigned high = 0;
    size_t n = 0, i;

    /*
     * libsodium 1.0.18 decodes bytes above 0x7f as if they were base64
     * characters; it rejects bad padding and nonzero trailing bits itself.
     */
    for (i = 0; i < slen; i++)
        high |= (unsigned char)s[i];
    if (slen % 4 != 0 || (high & 0x80) != 0 ||
        sodium_base642bin(out, cap, s, slen, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + slen) {
        sodium_memzero(out, cap);
        return ql_fail(d, QL_EFORMAT, "invalid base64");
    }
    *outlen = n;
    return QL_OK;
}

/* The value of each base64 character (RFC 4648 section 4); 64: none. */
static uint8_t
b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return (uint8_t)(ch - 'A');
    if (ch >= 'a' && ch <= 'z')
        return (uint8_t)(ch - 'a' + 26);
    if (ch >= '0' && ch <= '9')
        return (uint8_t)(ch - '0' + 52);
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return 64;
}

/* b64_value as a table: 0..63, or 64 for a byte that is none. */
static const uint8_t B64[256] = {
#define X64 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64
    X64, X64, 64,  64,  64,  64,  64,  64,  64,  64, 64, 64, 64, 62, 64, 64,
    64,  63,  52,  53,  54,  55,  56,  57,  58,  59, 60, 61, 64, 64, 64, 64,
    64,  64,  64,  0,   1,   2,   3,   4,   5,   6,  7,  8,  9,  10, 11, 12,
    13,  14,  15,  16,  17,  18,  19,  20,  21,  22, 23, 24, 25, 64, 64, 64,
    64,  64,  64,  26,  27,  28,  29,  30,  31,  32, 33, 34, 35, 36, 37, 38,
    39,  40,  41,  42,  43,  44,  45,  46,  47,  48, 49, 50, 51, 64, 64, 64,
    64,  64,  X64, X64, X64, X64, X64, X64, X64, X64
#undef X64
};

/*
 * One pass: entries, notes and workflow payloads are decoded on every
 * read and audit, where libsodium's constant-time decoder (made for
 * secrets; nothing decoded here is secret) was a tenth of the work. Every
 * group but the last has no padding and is decoded by table; the last
 * goes through the checks of padding and canonical form.
 */
ql_err
ql_base64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *s,
                 size_t slen, struct ql_diag *d)
{
    size_t i, n = 0, pad = 0;

    if (slen % 4 != 0)
        return ql_fail(d, QL_EFORMAT,
                       "invalid base64: length is not a "
                       "multiple of 4");
    if (slen > 0 && s[slen - 1] == '=')
        pad = slen > 1 && s[slen - 2] == '=' ? 2 : 1;
    if (slen / 4 * 3 - pad > cap)
        return ql_fail(d, QL_ETOOBIG, "base64 value too long");
    for (i = 0; i + 4 < slen; i += 4) {
        const unsigned char *u = (const unsigned char *)s + i;
        uint32_t a = B64[u[0]], b = B64[u[1]], c = B64[u[2]], e = B64[u[3]];

        if ((a | b | c | e) & 64)
            return ql_fail(d, QL_EFORMAT, "invalid base64 character");
        out[n++] = (uint8_t)(a << 2 | b >> 4);
        out[n++] = (uint8_t)(b << 4 | c >> 2);
        out[n++] = (uint8_t)(c << 6 | e);
    }
    for (; i < slen; i += 4) {
        uint8_t v[4];
        size_t k, real = i + 4 == slen ? 4 - pad : 4;
        uint32_t w;

        for (k = 0; k < 4; k++) {
            v[k] = k < real ? b64_value((unsigned char)s[i + k]) : 0;
            if (v[k] == 64 || (k >= real && s[i + k] != '='))
                return ql_fail(d, QL_EFORMAT, "invalid base64 character");
        }
        if (real < 2)
            return ql_fail(d, QL_EFORMAT, "invalid base64");
        w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
            v[3];
        /* Bits past the last byte must be zero: one value, one text. */
        if ((real == 2 && (w & 0xffff) != 0) || (real == 3 && (w & 0xff) != 0))
            return ql_fail(d, QL_EFORMAT, "invalid base64: not canonical");
        out[n++] = (uint8_t)(w >> 16);
        if (real > 2)
            out[n++] = (uint8_t)(w >> 8);
        if (real > 3)
            out[n++] = (uint8_t)w;
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
        sodium_hex2bin(out, len, s, 2 * len, NULL, &n, &end) != 0 || n != len ||
        end != s + 2 * len)
        return ql_fail(d, QL_EFORMAT, "invalid hex: want %zu digits", 2 * len);
    return QL_OK;
}
