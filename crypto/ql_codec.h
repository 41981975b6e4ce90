/*
 * ql_codec: the text encodings of bytes that qingling's formats use:
 * standard base64 with padding (RFC 4648 section 4, as C2SP notes and
 * checkpoints write it) and lowercase hex. Decoding is strict: no
 * whitespace, no missing or extra padding, no other alphabet.
 */
#ifndef QL_CODEC_H
#define QL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

/* Characters ql_base64_encode writes for len bytes, without the NUL. */
size_t ql_base64_len(size_t len);

/*
 * Encodes len bytes into out, which must hold ql_base64_len(len) + 1 bytes;
 * NUL-terminates.
 */
void ql_base64_encode(char *out, const uint8_t *in, size_t len);

/*
 * The same for secret bytes (a key file's plain key), in constant time:
 * no branch or table index depends on the bytes.
 */
void ql_base64_encode_secret(char *out, const uint8_t *in, size_t len);

/*
 * Decodes exactly slen characters of s into out (capacity cap); *outlen
 * gets the byte count. QL_EFORMAT for anything that is not canonical base64;
 * QL_ETOOBIG when the result would not fit.
 */
ql_err ql_base64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *s,
                        size_t slen, struct ql_diag *d) QL_MUST_CHECK;

/*
 * ql_base64_decode for secret text, in constant time, with the same
 * strictness; on failure out is wiped. It cannot tell QL_ETOOBIG from
 * QL_EFORMAT: both are QL_EFORMAT.
 */
ql_err ql_base64_decode_secret(uint8_t *out, size_t cap, size_t *outlen,
                               const char *s, size_t slen,
                               struct ql_diag *d) QL_MUST_CHECK;

/* Writes 2 * len lowercase hex digits and a NUL into out. */
void ql_hex_encode(char *out, const uint8_t *in, size_t len);

/*
 * Decodes exactly 2 * len hex digits (either case) of s into out.
 * QL_EFORMAT when s is not that.
 */
ql_err ql_hex_decode(uint8_t *out, size_t len, const char *s,
                     struct ql_diag *d) QL_MUST_CHECK;

#endif
