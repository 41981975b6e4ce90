/*
 * Verifier keys (crypto/ql_keys.c, ql_key_parse_vkey) as genesis entries,
 * principal registrations and public key files carry them, and public key
 * files themselves (crypto/ql_keyfile.c, ql_keyfile_read_public).
 *
 * Invariants: a vkey that parses is written back by ql_key_vkey to exactly
 * the same string (one spelling per key); a public key file is accepted
 * only when its content, less one final newline, is such a vkey.
 */
#include "qlf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_keys.h"

/* Checks that k writes back as s, under one of the two note types. */
static void
vk_roundtrip(const struct ql_key *k, const char *s)
{
    char *a = NULL, *b = NULL;

    QLF_CHECK(ql_key_vkey(k, 0, &a, NULL) == QL_OK);
    QLF_CHECK(ql_key_vkey(k, QL_KEYTYPE_COSIG, &b, NULL) == QL_OK);
    QLF_CHECK(strcmp(a, s) == 0 || strcmp(b, s) == 0);
    QLF_CHECK(ql_key_name_valid(ql_key_name(k)));
    QLF_CHECK(!ql_key_has_secret(k));
    free(a);
    free(b);
}

int
qlf_vkey(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), path[4200];
    struct ql_key *k = NULL, *c = NULL, *f = NULL, *g = NULL;
    size_t n = size;
    ql_err rc, crc, frc;

    qlf_setup();
    QLF_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    rc = ql_key_parse_vkey(s, false, &k, NULL);
    crc = ql_key_parse_vkey(s, true, &c, NULL);
    qlf_last = crc;
    /* Allowing cosigners only adds keys: never refuses one. */
    if (rc == QL_OK)
        QLF_CHECK(crc == QL_OK && ql_key_same_public(k, c));
    if (rc == QL_OK)
        vk_roundtrip(k, s);
    if (crc == QL_OK)
        vk_roundtrip(c, s);

    snprintf(path, sizeof path, "%s/vkey.pub", qlf_scratch());
    QLF_CHECK(qlf_write_file(path, data, size));
    frc = ql_keyfile_read_public(path, &f, NULL);
    if (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
    if (frc == QL_OK) {
        /* The file's content less one newline is an ordinary vkey. */
        QLF_CHECK(strlen(s) == n && memchr(s, '\n', n) == NULL);
        QLF_CHECK(ql_key_parse_vkey(s, false, &g, NULL) == QL_OK);
        QLF_CHECK(ql_key_same_public(f, g));
        vk_roundtrip(f, s);
    }
    ql_key_free(g);
    ql_key_free(k);
    ql_key_free(c);
    ql_key_free(f);
    free(s);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_vkey(data, size);
}
#endif
