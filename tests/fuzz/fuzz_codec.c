/*
 * The byte codecs (crypto/ql_codec.c): strict base64 and hex, which every
 * format's signatures, hashes, keys and payloads go through.
 *
 * Invariants: decoding accepts exactly one spelling (what encoding the
 * result writes back; hex in either case); encoding then decoding gives
 * back the bytes; a decode that does not fit says so and writes nothing
 * past its buffer.
 */
#include "qlf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ql_codec.h"

static void
codec_base64(const char *in, size_t len)
{
    size_t cap = len / 4 * 3 + 3, got = 0, small = 0;
    uint8_t *out = malloc(cap), *tiny;
    char *back;
    ql_err rc;

    QLF_CHECK(out != NULL);
    rc = ql_base64_decode(out, cap, &got, in, len, NULL);
    qlf_last = rc;
    if (rc == QL_OK) {
        QLF_CHECK(got <= cap && ql_base64_len(got) == len);
        back = malloc(len + 1);
        QLF_CHECK(back != NULL);
        ql_base64_encode(back, out, got);
        QLF_CHECK(memcmp(back, in, len) == 0 && back[len] == '\0');
        free(back);
        if (got > 0) {
            /* One byte short: refused as too big, nothing written past. */
            tiny = malloc(got - 1 > 0 ? got - 1 : 1);
            QLF_CHECK(tiny != NULL);
            QLF_CHECK(ql_base64_decode(tiny, got - 1, &small, in, len, NULL) ==
                      QL_ETOOBIG);
            free(tiny);
        }
    } else {
        QLF_CHECK(rc == QL_EFORMAT);
    }
    free(out);
}

static void
codec_hex(const char *in, size_t len)
{
    size_t n = len / 2, i;
    uint8_t *out;
    char *s, *back;

    if (len % 2 != 0)
        return;
    out = malloc(n + 1);
    s = malloc(len + 1);
    back = malloc(len + 1);
    QLF_CHECK(out != NULL && s != NULL && back != NULL);
    memcpy(s, in, len);
    s[len] = '\0';
    if (ql_hex_decode(out, n, s, NULL) == QL_OK) {
        ql_hex_encode(back, out, n);
        for (i = 0; i < len; i++)
            QLF_CHECK(back[i] == tolower((unsigned char)s[i]));
    }
    free(out);
    free(s);
    free(back);
}

int
qlf_codec(const uint8_t *data, size_t size)
{
    size_t blen = ql_base64_len(size), got = 0;
    char *enc = malloc(blen + 1), *hex = malloc(2 * size + 1);
    uint8_t *dec = malloc(size + 3);

    qlf_setup();
    QLF_CHECK(enc != NULL && hex != NULL && dec != NULL);
    codec_base64((const char *)data, size);
    codec_hex((const char *)data, size);
    /* Any bytes survive both encodings. */
    ql_base64_encode(enc, data, size);
    QLF_CHECK(strlen(enc) == blen);
    QLF_CHECK(ql_base64_decode(dec, size + 3, &got, enc, blen, NULL) == QL_OK);
    QLF_CHECK(got == size && memcmp(dec, data, size) == 0);
    ql_hex_encode(hex, data, size);
    QLF_CHECK(ql_hex_decode(dec, size, hex, NULL) == QL_OK);
    QLF_CHECK(memcmp(dec, data, size) == 0);
    free(enc);
    free(hex);
    free(dec);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_codec(data, size);
}
#endif
