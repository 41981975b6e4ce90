/*
 * Secret key files (crypto/ql_keyfile.c): ql_keyfile_decode,
 * ql_keyfile_is_encrypted and, through a file, ql_keyfile_read.
 *
 * A key file ends in a SHA-256 checksum of the rest, which a mutated input
 * almost never matches; so each input is also tried with its "check" line
 * recomputed, which lets the fuzzer reach the lines behind it. The
 * passphrase function runs only for files that ask for a tiny cost: the
 * reader allows up to 1 GiB and 16 passes (seconds per try), which is its
 * business, not a fuzzer's, so the harness reads the "kdf" line itself
 * and skips dearer ones before any work.
 *
 * Invariants: a file whose checksum does not match never decodes; a
 * plaintext file that decodes is written back by ql_keyfile_encode to
 * exactly its bytes; ql_keyfile_is_encrypted, ql_keyfile_decode and
 * ql_keyfile_read agree; a file decoded with a passphrase gives a key whose
 * public half matches its secret half (the key signs and verifies).
 */
#include "qlf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_codec.h"
#include "ql_keys.h"
#include "ql_profile.h"

/* Cheapest passphrase cost the harness lets through: a few ms at most. */
#define KF_OPS_MAX 3ULL
#define KF_MEM_MAX (64ULL * 1024)
#define KF_PASS "test only"

/*
 * A copy of the input whose last line, when it is a "check" line, holds
 * the right checksum. Caller frees; *len gets its length. NULL when the
 * input has no such line.
 */
static char *
kf_repair(const char *in, size_t size, size_t *len)
{
    uint8_t sum[QL_HASH_LEN];
    size_t start, b64 = ql_base64_len(sizeof sum);
    char *out;

    if (size < 2 || in[size - 1] != '\n')
        return NULL;
    for (start = size - 1; start > 0 && in[start - 1] != '\n'; start--)
        ;
    if (size - start < 6 || memcmp(in + start, "check ", 6) != 0)
        return NULL;
    if ((out = malloc(start + 6 + b64 + 2)) == NULL)
        return NULL;
    memcpy(out, in, start + 6);
    ql_hash(ql_profile_default(), sum, in, start);
    ql_base64_encode(out + start + 6, sum, sizeof sum);
    out[start + 6 + b64] = '\n';
    out[start + 7 + b64] = '\0';
    *len = start + 7 + b64;
    return out;
}

/* True when the text's "kdf" line asks for a cost the harness will pay. */
static bool
kf_cheap(const char *text, size_t len)
{
    const char *p = text, *end = text + len, *nl;
    unsigned long long ops, mem;
    char line[128];

    for (; p < end; p = nl + 1) {
        if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
            return false;
        if (nl - p < 4 || memcmp(p, "kdf ", 4) != 0)
            continue;
        if ((size_t)(nl - p) >= sizeof line)
            return false;
        memcpy(line, p, (size_t)(nl - p));
        line[nl - p] = '\0';
        if (sscanf(line, "kdf argon2id13 ops=%llu mem=%llu", &ops, &mem) != 2)
            return false;
        return ops <= KF_OPS_MAX && mem <= KF_MEM_MAX;
    }
    return false;
}

/* The key signs, and its public half verifies what it signed. */
static void
kf_key_works(const struct ql_key *k)
{
    uint8_t sig[QL_SIG_MAX];
    size_t sig_len = 0;

    QLF_CHECK(ql_key_has_secret(k));
    QLF_CHECK(ql_key_name_valid(ql_key_name(k)));
    QLF_CHECK(ql_key_sign(k, "m", 1, sig, &sig_len, NULL) == QL_OK);
    QLF_CHECK(ql_key_verify(k, "m", 1, sig, sig_len) == QL_OK);
}

/* One text through every reader; returns what decoding without a
 * passphrase gave. */
static ql_err
kf_try(const char *text, size_t len)
{
    struct ql_key *k = NULL, *f = NULL, *p = NULL;
    char *again = NULL, path[4200];
    size_t again_len = 0;
    bool enc = false;
    ql_err rc, erc, frc;

    rc = ql_keyfile_decode(text, len, NULL, 0, &k, NULL);
    erc = ql_keyfile_is_encrypted(text, len, &enc, NULL);
    if (rc == QL_OK) {
        QLF_CHECK(erc == QL_OK && !enc);
        kf_key_works(k);
        QLF_CHECK(ql_keyfile_encode(k, NULL, 0, QL_KEYFILE_PLAINTEXT, &again,
                                    &again_len, NULL) == QL_OK);
        QLF_CHECK(again_len == len && memcmp(again, text, len) == 0);
        ql_keyfile_buf_free(again);
    } else if (erc == QL_OK && enc) {
        QLF_CHECK(rc == QL_EPASS);
    } else if (erc == QL_OK) {
        /* Parsed as plaintext, yet the key itself is bad. */
        QLF_CHECK(rc == QL_EDAMAGED || rc == QL_EUNSUPPORTED);
    } else {
        QLF_CHECK(rc == erc);
    }
    if (erc == QL_OK && enc && kf_cheap(text, len)) {
        ql_err prc =
            ql_keyfile_decode(text, len, KF_PASS, strlen(KF_PASS), &p, NULL);

        if (prc == QL_OK)
            kf_key_works(p);
        else
            QLF_CHECK(prc == QL_EPASS || prc == QL_EDAMAGED ||
                      prc == QL_ENOMEM);
    }
    /* The same bytes from a file: the same verdict (mode 0600). */
    snprintf(path, sizeof path, "%s/key", qlf_scratch());
    QLF_CHECK(qlf_write_file(path, text, len));
    frc = ql_keyfile_read(path, NULL, 0, &f, NULL);
    if (len == 0)
        QLF_CHECK(frc == QL_EFORMAT);
    else
        QLF_CHECK(frc == rc);
    if (frc == QL_OK)
        QLF_CHECK(ql_key_same_public(f, k));
    ql_key_free(k);
    ql_key_free(f);
    ql_key_free(p);
    return rc;
}

int
qlf_keyfile(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t fixed_len = 0;
    char *fixed;
    ql_err rc;

    qlf_setup();
    rc = kf_try(in, size);
    qlf_last = rc;
    fixed = kf_repair(in, size, &fixed_len);
    if (fixed != NULL) {
        if (fixed_len != size || memcmp(fixed, in, size) != 0)
            QLF_CHECK(rc != QL_OK && rc != QL_EPASS);
        qlf_last = kf_try(fixed, fixed_len);
        free(fixed);
    }
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_keyfile(data, size);
}
#endif
