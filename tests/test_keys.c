#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ql_keys.h"
#include "ql_test.h"

#define PETER_VKEY                                                             \
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define PETER_SKEY_PREFIX "PRIVATE+KEY+PeterNeumann+c74f20a3+"
#define NAME_ZH "鹭汀镇联络员"
#define PASS "correct horse battery staple"
#define MAGIC "qingling-secret-key/1\n"

/* AddressSanitizer cannot run under a small address-space limit. */
#if defined(__SANITIZE_ADDRESS__)
#define QLT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QLT_ASAN 1
#endif
#endif

/* ---- Helpers: base64, checksums and text surgery for crafted files ---- */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Padded base64 of bin into out (4 * ceil(n / 3) + 1 bytes). */
static void
b64enc(const uint8_t *bin, size_t n, char *out)
{
    size_t i, o = 0;

    for (i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)bin[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)bin[i + 1] << 8;
        if (i + 2 < n)
            v |= bin[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
    }
    out[o] = '\0';
}

/* Decodes padded base64; returns the byte count. Test inputs are valid. */
static size_t
b64dec(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0, len = strlen(s), i;

    assert_int_equal(len % 4, 0);
    for (i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int j, pad = 0;

        for (j = 0; j < 4; j++) {
            const char *c = strchr(b64chars, s[i + j]);

            if (s[i + j] == '=') {
                pad++;
                c = b64chars;
            }
            assert_non_null(c);
            v = v << 6 | (uint32_t)(c - b64chars);
        }
        assert_true(n + 3 - (size_t)pad <= cap);
        out[n++] = (uint8_t)(v >> 16);
        if (pad < 2)
            out[n++] = (uint8_t)(v >> 8);
        if (pad < 1)
            out[n++] = (uint8_t)v;
    }
    return n;
}

/* Returns a copy of s with the first `from` replaced by `to`; caller frees. */
static char *
replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    size_t n;
    char *r;

    if (at == NULL)
        fail_msg("'%s' not found in the text", from);
    n = strlen(s) - strlen(from) + strlen(to) + 1;
    r = malloc(n);
    assert_non_null(r);
    snprintf(r, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return r;
}

/*
 * Appends the "check" line a key file ends with (the default profile's
 * hash is SHA-256, the checksum the format uses), so that a crafted body
 * reaches the parser behind the checksum. Caller frees.
 */
static char *
reseal(const char *body, size_t len)
{
    uint8_t sum[QL_HASH_LEN];
    char b64[64];
    char *r = malloc(len + 6 + sizeof b64 + 1);

    assert_non_null(r);
    ql_hash(ql_profile_default(), sum, body, len);
    b64enc(sum, sizeof sum, b64);
    memcpy(r, body, len);
    snprintf(r + len, 6 + sizeof b64 + 1, "check %s\n", b64);
    return r;
}

/* The text before the "check" line of a key file; caller frees. */
static char *
body_of(const char *text)
{
    const char *at = strstr(text, "\ncheck ");
    char *r;

    assert_non_null(at);
    r = strndup(text, (size_t)(at - text) + 1);
    assert_non_null(r);
    return r;
}

/* The value of the line starting "<keyword> " in text; caller frees. */
static char *
line_value(const char *text, const char *keyword)
{
    char pat[32];
    const char *at, *nl;
    char *r;

    snprintf(pat, sizeof pat, "\n%s ", keyword);
    at = strstr(text, pat);
    assert_non_null(at);
    at += strlen(pat);
    nl = strchr(at, '\n');
    assert_non_null(nl);
    r = strndup(at, (size_t)(nl - at));
    assert_non_null(r);
    return r;
}

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define assert_msg_has(d, s)                                                   \
    do {                                                                       \
        if (strstr((d).msg, (s)) == NULL)                                      \
            fail_msg("message '%s' lacks '%s'", (d).msg, (s));                 \
    } while (0)

/* ---- Fixture: one key pair and its two key files, made once ---- */

struct fixture {
    struct ql_key *key;
    char *plain, *enc; /* key file texts, from ql_keyfile_encode */
    size_t plain_len, enc_len;
};

static int
group_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    struct ql_diag d;

    if (fx == NULL || ql_crypto_init(&d) != QL_OK ||
        ql_key_generate(ql_profile_default(), NAME_ZH, &fx->key, &d) != QL_OK ||
        ql_keyfile_encode(fx->key, NULL, 0, QL_KEYFILE_PLAINTEXT, &fx->plain,
                          &fx->plain_len, &d) != QL_OK ||
        ql_keyfile_encode(fx->key, PASS, strlen(PASS), 0, &fx->enc,
                          &fx->enc_len, &d) != QL_OK)
        return -1;
    *state = fx;
    return 0;
}

static int
group_teardown(void **state)
{
    struct fixture *fx = *state;

    ql_key_free(fx->key);
    ql_keyfile_buf_free(fx->plain);
    ql_keyfile_buf_free(fx->enc);
    free(fx);
    return 0;
}

/* ---- ql_keys.c ---- */

static void
test_name_valid(void **state)
{
    static const struct {
        const char *what, *name;
        bool valid;
    } cases[] = {
        {"ascii", "PeterNeumann", true},
        {"url-like", "example.com/foo", true},
        {"one byte", "a", true},
        {"chinese", NAME_ZH, true},
        {"mixed", "county-07/" NAME_ZH "-2", true},
        {"astral plane", "\xf0\x9f\x94\x91key", true},
        {"empty", "", false},
        {"plus", "a+b", false},
        {"space", "a b", false},
        {"tab", "a\tb", false},
        {"newline", "a\nb", false},
        {"carriage return", "a\r", false},
        {"delete", "a\x7f", false},
        {"ideographic space U+3000", "鹭汀\xe3\x80\x80镇", false},
        {"no-break space U+00A0", "a\u00a0b", false},
        {"next line U+0085", "a\xc2\x85", false},
        {"C1 control U+0080", "a\xc2\x80", false},
        {"DEL", "a\x7f", false},
        {"line separator U+2028", "a\xe2\x80\xa8", false},
        {"en quad U+2000", "\xe2\x80\x80", false},
        {"stray continuation byte", "a\x80", false},
        {"0xff byte", "\xff", false},
        {"cut sequence", "\xe9\xb9", false},
        {"overlong slash, 2 bytes", "\xc0\xaf", false},
        {"overlong slash, 3 bytes", "\xe0\x80\xaf", false},
        {"overlong nul, 2 bytes", "a\xc0\x80", false},
        {"surrogate", "\xed\xa0\x80", false},
        {"beyond U+10FFFF", "\xf4\x90\x80\x80", false},
    };
    char name[300];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("name: %s\n", cases[i].what);
        assert_int_equal(ql_key_name_valid(cases[i].name), cases[i].valid);
    }
    assert_false(ql_key_name_valid(NULL));
    memset(name, 'a', QL_KEY_NAME_MAX);
    name[QL_KEY_NAME_MAX] = '\0';
    assert_true(ql_key_name_valid(name));
    name[QL_KEY_NAME_MAX] = 'a';
    name[QL_KEY_NAME_MAX + 1] = '\0';
    assert_false(ql_key_name_valid(name));
    /* 85 three-byte characters are 255 bytes; one more is too many. */
    name[0] = '\0';
    for (i = 0; i < 86; i++)
        memcpy(name + 3 * i, "镇", 4);
    assert_int_equal(strlen(name), 258);
    assert_false(ql_key_name_valid(name));
    name[255] = '\0';
    assert_true(ql_key_name_valid(name));
}

static void
test_generate_rejects_bad_name(void **state)
{
    struct ql_key *k = NULL;
    struct ql_diag d;

    (void)state;
    assert_int_equal(ql_key_generate(ql_profile_default(), "a b", &k, &d),
                     QL_EUSAGE);
    assert_null(k);
    assert_msg_has(d, "invalid key name");
}

static void
test_vkey_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct ql_key *pub = NULL;
    struct ql_diag d;
    char *vkey = NULL, want[16];
    size_t pk_len;

    assert_int_equal(ql_key_vkey(fx->key, 0, &vkey, &d), QL_OK);
    snprintf(want, sizeof want, "+%08x+", (unsigned)ql_key_id(fx->key, 0));
    assert_non_null(strstr(vkey, want));
    assert_int_equal(strncmp(vkey, NAME_ZH "+", strlen(NAME_ZH) + 1), 0);
    assert_int_equal(ql_key_parse_vkey(vkey, false, &pub, &d), QL_OK);
    assert_string_equal(ql_key_name(pub), NAME_ZH);
    assert_true(ql_key_same_public(pub, fx->key));
    assert_false(ql_key_has_secret(pub));
    assert_true(ql_key_has_secret(fx->key));
    assert_ptr_equal(ql_key_profile(pub), ql_profile_default());
    assert_int_equal(ql_key_id(pub, 0), ql_key_id(fx->key, 0));
    ql_key_public(pub, &pk_len);
    assert_int_equal(pk_len, ql_profile_pk_len(ql_profile_default()));
    free(vkey);
    ql_key_free(pub);
}

static void
test_parse_vkey_rejects(void **state)
{
    static const struct {
        const char *what, *vkey;
        ql_err code;
        const char *msg;
    } cases[] = {
        {"wrong ID",
         "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
         "LDE4izWy10TW",
         QL_EFORMAT, "does not match"},
        {"uppercase ID",
         "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmq"
         "q/LDE4izWy10TW",
         QL_EFORMAT, "lowercase hex"},
        {"short ID",
         "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
         "LDE4izWy10TW",
         QL_EFORMAT, "8 hex digits"},
        {"bad base64",
         "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
         "LDE4izWy10T!",
         QL_EFORMAT, "base64"},
        {"unpadded base64",
         "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsV"
         "kmqq/LDE4izWy10T",
         QL_EFORMAT, "base64"},
        {"trailing newline", PETER_VKEY "\n", QL_EFORMAT, "base64"},
        {"non-ASCII byte read as '/' by a lax decoder",
         "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq\xaf"
         "LDE4izWy10TW",
         QL_EFORMAT, "base64"},
        {"no ID", "PeterNeumann", QL_EFORMAT, "name+id+key"},
        {"empty name", "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
         QL_EFORMAT, "name length"},
        {"name with space",
         "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfs"
         "Vkmqq/LDE4izWy10TW",
         QL_EFORMAT, "invalid name"},
        {"empty key", "PeterNeumann+c74f20a3+", QL_EFORMAT, "no key type"},
        {"empty", "", QL_EFORMAT, "name+id+key"},
    };
    uint8_t raw[64];
    char b64[128], vkey[256];
    struct ql_key *k = NULL;
    struct ql_diag d;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("vkey: %s\n", cases[i].what);
        assert_int_equal(ql_key_parse_vkey(cases[i].vkey, true, &k, &d),
                         cases[i].code);
        assert_null(k);
        assert_msg_has(d, cases[i].msg);
    }
    assert_int_equal(ql_key_parse_vkey(NULL, false, &k, &d), QL_EFORMAT);

    /* The right ID over a key one byte short, and one byte long. */
    n = b64dec("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", raw, sizeof raw);
    assert_int_equal(n, 33);
    b64enc(raw, 32, b64);
    snprintf(vkey, sizeof vkey, "PeterNeumann+c74f20a3+%s", b64);
    assert_int_equal(ql_key_parse_vkey(vkey, false, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "wrong length");
    raw[33] = 0;
    b64enc(raw, 34, b64);
    snprintf(vkey, sizeof vkey, "PeterNeumann+c74f20a3+%s", b64);
    assert_int_equal(ql_key_parse_vkey(vkey, false, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "wrong length");

    memset(raw + 33, 0, 30);
    b64enc(raw, 63, b64);
    snprintf(vkey, sizeof vkey, "PeterNeumann+c74f20a3+%s", b64);
    assert_int_equal(ql_key_parse_vkey(vkey, false, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "wrong length");

    /* An unknown key type. */
    raw[0] = 0x02;
    b64enc(raw, 33, b64);
    snprintf(vkey, sizeof vkey, "PeterNeumann+c74f20a3+%s", b64);
    assert_int_equal(ql_key_parse_vkey(vkey, true, &k, &d), QL_EUNSUPPORTED);
    assert_msg_has(d, "0x02");
    assert_null(k);
}

/* A cosigner's vkey (type 0x04) parses only where cosigners are expected. */
static void
test_cosig_vkey(void **state)
{
    struct fixture *fx = *state;
    struct ql_key *k = NULL;
    struct ql_diag d;
    char *vkey = NULL, want[16];

    assert_int_not_equal(ql_key_id(fx->key, QL_KEYTYPE_COSIG),
                         ql_key_id(fx->key, 0));
    assert_int_equal(ql_key_vkey(fx->key, QL_KEYTYPE_COSIG, &vkey, &d), QL_OK);
    snprintf(want, sizeof want, "+%08x+",
             (unsigned)ql_key_id(fx->key, QL_KEYTYPE_COSIG));
    assert_non_null(strstr(vkey, want));
    assert_int_equal(ql_key_parse_vkey(vkey, false, &k, &d), QL_EUNSUPPORTED);
    assert_null(k);
    assert_msg_has(d, "0x04");
    assert_int_equal(ql_key_parse_vkey(vkey, true, &k, &d), QL_OK);
    assert_true(ql_key_same_public(k, fx->key));
    ql_key_free(k);
    free(vkey);
}

/* One example of tests/data/signed-note.txt. */
struct note_example {
    char vkey[256], skey[256], text[512], sig[256];
};

static size_t
load_note_examples(struct note_example *ex, size_t cap)
{
    char *path = qlt_data_path("signed-note.txt");
    char *data = qlt_read_file(path, NULL), *line, *save = NULL;
    size_t n = 0;

    for (line = strtok_r(data, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "vkey ", 5) == 0) {
            assert_true(n < cap);
            memset(&ex[n], 0, sizeof ex[n]);
            snprintf(ex[n++].vkey, sizeof ex->vkey, "%s", line + 5);
        } else if (n > 0 && strncmp(line, "skey ", 5) == 0) {
            snprintf(ex[n - 1].skey, sizeof ex->skey, "%s", line + 5);
        } else if (n > 0 && strncmp(line, "text ", 5) == 0) {
            char *t = ex[n - 1].text;
            const char *s;
            size_t o = 0;

            /* The file writes newlines as \n. */
            for (s = line + 5; *s != '\0' && o + 1 < sizeof ex->text; s++) {
                if (s[0] == '\\' && s[1] == 'n') {
                    t[o++] = '\n';
                    s++;
                } else {
                    t[o++] = *s;
                }
            }
            t[o] = '\0';
        } else if (n > 0 && strncmp(line, "sig ", 4) == 0) {
            snprintf(ex[n - 1].sig, sizeof ex->sig, "%s",
                     strrchr(line, ' ') + 1);
        }
    }
    free(data);
    free(path);
    return n;
}

/*
 * The published signed-note examples: the seed from the published skey
 * reproduces the vkey and (Ed25519 being deterministic) the signature byte
 * for byte; every example's signature verifies; any changed byte does not.
 */
static void
test_known_answers(void **state)
{
    struct note_example ex[4];
    struct ql_key *k = NULL, *pub = NULL;
    struct ql_diag d;
    uint8_t raw[64], sig[QL_SIG_MAX], pub_sig[72];
    char *vkey = NULL;
    size_t n, i, j, sig_len, pub_sig_len, tlen, skeys = 0;
    uint32_t id;

    (void)state;
    n = load_note_examples(ex, 4);
    assert_true(n >= 2);
    assert_string_equal(ex[0].vkey, PETER_VKEY);
    for (i = 0; i < n; i++) {
        print_message("example: %s\n", ex[i].vkey);
        assert_int_equal(ql_key_parse_vkey(ex[i].vkey, false, &pub, &d), QL_OK);
        /* base64(key ID || signature) */
        pub_sig_len = b64dec(ex[i].sig, pub_sig, sizeof pub_sig);
        assert_int_equal(pub_sig_len, 4 + 64);
        id = (uint32_t)pub_sig[0] << 24 | (uint32_t)pub_sig[1] << 16 |
             (uint32_t)pub_sig[2] << 8 | pub_sig[3];
        assert_int_equal(id, ql_key_id(pub, 0));
        tlen = strlen(ex[i].text);
        assert_int_equal(ql_key_verify(pub, ex[i].text, tlen, pub_sig + 4, 64),
                         QL_OK);
        for (j = 0; j < tlen; j++) {
            ex[i].text[j] ^= 0x01;
            assert_int_equal(
                ql_key_verify(pub, ex[i].text, tlen, pub_sig + 4, 64),
                QL_EVERIFY);
            ex[i].text[j] ^= 0x01;
        }
        for (j = 4; j < pub_sig_len; j++) {
            pub_sig[j] ^= 0x80;
            assert_int_equal(
                ql_key_verify(pub, ex[i].text, tlen, pub_sig + 4, 64),
                QL_EVERIFY);
            pub_sig[j] ^= 0x80;
        }
        if (ex[i].skey[0] != '\0') {
            skeys++;
            assert_int_equal(strncmp(ex[i].skey, PETER_SKEY_PREFIX,
                                     strlen(PETER_SKEY_PREFIX)),
                             0);
            /* The skey's base64 is the key type 0x01 and the seed. */
            assert_int_equal(
                b64dec(ex[i].skey + strlen(PETER_SKEY_PREFIX), raw, sizeof raw),
                33);
            assert_int_equal(raw[0], 0x01);
            assert_int_equal(ql_key_from_seed(ql_profile_default(),
                                              "PeterNeumann", raw + 1, &k, &d),
                             QL_OK);
            assert_int_equal(ql_key_vkey(k, 0, &vkey, &d), QL_OK);
            assert_string_equal(vkey, ex[i].vkey);
            assert_int_equal(ql_key_id(k, 0), 0xc74f20a3);
            assert_true(ql_key_same_public(k, pub));
            assert_int_equal(
                ql_key_sign(k, ex[i].text, tlen, sig, &sig_len, &d), QL_OK);
            assert_int_equal(sig_len, 64);
            assert_memory_equal(sig, pub_sig + 4, 64);
            free(vkey);
            vkey = NULL;
            ql_key_free(k);
            k = NULL;
        }
        ql_key_free(pub);
        pub = NULL;
    }
    assert_int_equal(skeys, 1);
}

static void
test_sign_verify(void **state)
{
    struct fixture *fx = *state;
    struct ql_key *other = NULL, *pub = NULL;
    struct ql_diag d;
    static const char m[] = "lead CG-2026-000017 moved to verify";
    uint8_t sig[QL_SIG_MAX];
    size_t sig_len = 0, i;

    assert_int_equal(ql_key_sign(fx->key, m, sizeof m - 1, sig, &sig_len, &d),
                     QL_OK);
    assert_int_equal(sig_len, ql_profile_sig_len(ql_profile_default()));
    assert_int_equal(ql_key_verify(fx->key, m, sizeof m - 1, sig, sig_len),
                     QL_OK);
    assert_int_equal(ql_key_public_copy(fx->key, &pub, &d), QL_OK);
    assert_false(ql_key_has_secret(pub));
    assert_string_equal(ql_key_name(pub), NAME_ZH);
    assert_int_equal(ql_key_verify(pub, m, sizeof m - 1, sig, sig_len), QL_OK);
    assert_int_equal(ql_key_verify(pub, m, sizeof m - 2, sig, sig_len),
                     QL_EVERIFY);
    assert_int_equal(ql_key_verify(pub, m, sizeof m - 1, sig, sig_len - 1),
                     QL_EVERIFY);
    for (i = 0; i < sig_len; i++) {
        sig[i] ^= 0x01;
        assert_int_equal(ql_key_verify(pub, m, sizeof m - 1, sig, sig_len),
                         QL_EVERIFY);
        sig[i] ^= 0x01;
    }
    assert_int_equal(ql_key_sign(pub, m, sizeof m - 1, sig, &sig_len, &d),
                     QL_EUSAGE);
    assert_msg_has(d, "no secret half");
    assert_int_equal(ql_key_generate(ql_profile_default(), "other", &other, &d),
                     QL_OK);
    assert_false(ql_key_same_public(other, fx->key));
    assert_int_equal(ql_key_verify(other, m, sizeof m - 1, sig, sig_len),
                     QL_EVERIFY);
    ql_key_free(other);
    ql_key_free(pub);
    ql_key_free(NULL);
}

static void
test_seal(void **state)
{
    struct fixture *fx = *state;
    const size_t over = ql_profile_seal_overhead(ql_profile_default());
    static const uint8_t secret[32] = "unit data key, epoch 1 .........";
    uint8_t c[32 + QL_SEAL_OVERHEAD_MAX], m[32], big[4097];
    struct ql_key *other = NULL, *pub = NULL;
    struct ql_diag d;
    size_t i;

    assert_int_equal(ql_key_public_copy(fx->key, &pub, &d), QL_OK);
    /* Anyone with the public key seals; only the secret half opens. */
    assert_int_equal(ql_key_seal_to(pub, secret, sizeof secret, c, &d), QL_OK);
    assert_int_equal(ql_key_unseal(fx->key, c, sizeof secret + over, m, &d),
                     QL_OK);
    assert_memory_equal(m, secret, sizeof secret);
    assert_int_equal(ql_key_unseal(pub, c, sizeof secret + over, m, &d),
                     QL_EUSAGE);
    assert_int_equal(ql_key_generate(ql_profile_default(), "other", &other, &d),
                     QL_OK);
    assert_int_equal(ql_key_unseal(other, c, sizeof secret + over, m, &d),
                     QL_EVERIFY);
    assert_msg_has(d, "sealed");
    for (i = 0; i < sizeof secret + over; i++) {
        c[i] ^= 0x20;
        assert_int_equal(ql_key_unseal(fx->key, c, sizeof secret + over, m, &d),
                         QL_EVERIFY);
        c[i] ^= 0x20;
    }
    assert_int_equal(ql_key_unseal(fx->key, c, over - 1, m, &d), QL_EVERIFY);
    memset(big, 0, sizeof big);
    assert_int_equal(ql_key_seal_to(pub, big, sizeof big, NULL, &d),
                     QL_ETOOBIG);
    ql_key_free(other);
    ql_key_free(pub);
}

/* ---- Key file texts ---- */

/* The decoded key is the original one: same name, key, and it signs. */
static void
assert_same_key(const struct ql_key *got, const struct ql_key *want)
{
    static const char m[] = "round trip";
    uint8_t sig[QL_SIG_MAX];
    size_t sig_len = 0;
    struct ql_diag d;

    assert_string_equal(ql_key_name(got), ql_key_name(want));
    assert_true(ql_key_same_public(got, want));
    assert_true(ql_key_has_secret(got));
    assert_int_equal(ql_key_sign(got, m, sizeof m, sig, &sig_len, &d), QL_OK);
    assert_int_equal(ql_key_verify(want, m, sizeof m, sig, sig_len), QL_OK);
}

static void
test_keyfile_plaintext(void **state)
{
    static const char head[] =
        MAGIC "key-name " NAME_ZH "\nprofile intl\nkdf none\nkey ";
    struct fixture *fx = *state;
    struct ql_key *k = NULL;
    struct ql_diag d;
    bool enc = true;

    assert_int_equal(strlen(fx->plain), fx->plain_len);
    assert_int_equal(strncmp(fx->plain, head, strlen(head)), 0);
    assert_int_equal(
        ql_keyfile_is_encrypted(fx->plain, fx->plain_len, &enc, &d), QL_OK);
    assert_false(enc);
    assert_int_equal(
        ql_keyfile_decode(fx->plain, fx->plain_len, NULL, 0, &k, &d), QL_OK);
    assert_same_key(k, fx->key);
    ql_key_free(k);
    k = NULL;
    /* A passphrase offered to a plaintext file is not an error. */
    assert_int_equal(
        ql_keyfile_decode(fx->plain, fx->plain_len, "x", 1, &k, &d), QL_OK);
    assert_same_key(k, fx->key);
    ql_key_free(k);
}

static void
test_keyfile_encrypted(void **state)
{
    static const char head[] = MAGIC "key-name " NAME_ZH "\nprofile intl\n"
                                     "kdf argon2id13 ops=2 mem=67108864\n"
                                     "salt ";
    struct fixture *fx = *state;
    struct ql_key *k = NULL;
    struct ql_diag d;
    char *key;
    bool enc = false;
    char longpass[QL_PASSPHRASE_MAX + 1];

    assert_int_equal(strlen(fx->enc), fx->enc_len);
    assert_int_equal(strncmp(fx->enc, head, strlen(head)), 0);
    /* The secret never appears in clear in the encrypted file. */
    key = line_value(fx->plain, "key");
    assert_null(strstr(fx->enc, key));
    free(key);
    assert_int_equal(ql_keyfile_is_encrypted(fx->enc, fx->enc_len, &enc, &d),
                     QL_OK);
    assert_true(enc);
    assert_int_equal(
        ql_keyfile_decode(fx->enc, fx->enc_len, PASS, strlen(PASS), &k, &d),
        QL_OK);
    assert_same_key(k, fx->key);
    ql_key_free(k);
    k = NULL;

    assert_int_equal(ql_keyfile_decode(fx->enc, fx->enc_len,
                                       "Correct horse battery staple",
                                       strlen(PASS), &k, &d),
                     QL_EPASS);
    assert_msg_has(d, "wrong passphrase for key file");
    assert_int_equal(ql_keyfile_decode(fx->enc, fx->enc_len, NULL, 0, &k, &d),
                     QL_EPASS);
    assert_msg_has(d, "a passphrase is needed");
    memset(longpass, 'p', sizeof longpass);
    assert_int_equal(ql_keyfile_decode(fx->enc, fx->enc_len, longpass,
                                       sizeof longpass, &k, &d),
                     QL_EUSAGE);
    assert_msg_has(d, "longer than 1024");
    assert_null(k);
}

static void
test_keyfile_encode_usage(void **state)
{
    struct fixture *fx = *state;
    struct ql_key *pub = NULL;
    struct ql_diag d;
    char *out = NULL;
    size_t len = 0;
    char longpass[QL_PASSPHRASE_MAX + 1];

    memset(longpass, 'p', sizeof longpass);
    assert_int_equal(ql_keyfile_encode(fx->key, "x", 1, QL_KEYFILE_PLAINTEXT,
                                       &out, &len, &d),
                     QL_EUSAGE);
    assert_msg_has(d, "takes no passphrase");
    assert_int_equal(ql_keyfile_encode(fx->key, NULL, 0, 0, &out, &len, &d),
                     QL_EUSAGE);
    assert_msg_has(d, "non-empty passphrase");
    assert_int_equal(ql_keyfile_encode(fx->key, "", 0, 0, &out, &len, &d),
                     QL_EUSAGE);
    assert_msg_has(d, "non-empty passphrase");
    assert_int_equal(ql_keyfile_encode(fx->key, longpass, sizeof longpass, 0,
                                       &out, &len, &d),
                     QL_EUSAGE);
    assert_msg_has(d, "longer than 1024");
    assert_int_equal(ql_keyfile_encode(fx->key, NULL, 0, 0x2, &out, &len, &d),
                     QL_EUSAGE);
    assert_msg_has(d, "unknown key file flags");
    assert_int_equal(ql_key_public_copy(fx->key, &pub, &d), QL_OK);
    assert_int_equal(
        ql_keyfile_encode(pub, NULL, 0, QL_KEYFILE_PLAINTEXT, &out, &len, &d),
        QL_EUSAGE);
    assert_msg_has(d, "no secret half");
    assert_null(out);
    ql_key_free(pub);
    ql_keyfile_buf_free(NULL);
}

/* Every prefix of a key file is refused, the empty one as not a key file. */
static void
check_every_cut(const char *text, size_t len, const char *pass)
{
    struct ql_key *k = NULL;
    struct ql_diag d;
    size_t cut;
    ql_err rc;
    bool enc;

    for (cut = 0; cut < len; cut++) {
        rc =
            ql_keyfile_decode(text, cut, pass, pass ? strlen(pass) : 0, &k, &d);
        if (cut == 0) {
            assert_int_equal(rc, QL_EFORMAT);
            assert_msg_has(d, "empty");
        } else {
            if (rc != QL_EDAMAGED)
                fail_msg("cut at %zu: %s (%s)", cut, ql_errname(rc), d.msg);
            assert_int_equal(ql_keyfile_is_encrypted(text, cut, &enc, &d),
                             QL_EDAMAGED);
        }
        assert_null(k);
    }
}

static void
test_keyfile_cut_short(void **state)
{
    struct fixture *fx = *state;

    check_every_cut(fx->plain, fx->plain_len, NULL);
    check_every_cut(fx->enc, fx->enc_len, PASS);
}

/*
 * Every single changed byte is refused, and after the first line always as
 * damage, never as a wrong passphrase: the checksum is checked before the
 * passphrase function runs (which also keeps this loop fast).
 */
static void
check_every_flip(const char *text, size_t len, const char *pass)
{
    static const uint8_t masks[] = {0x01, 0x20, 0x80, 0xff};
    char *buf = malloc(len);
    struct ql_key *k = NULL;
    struct ql_diag d;
    size_t i, m;
    ql_err rc;

    assert_non_null(buf);
    memcpy(buf, text, len);
    for (i = 0; i < len; i++) {
        for (m = 0; m < sizeof masks; m++) {
            buf[i] = (char)(buf[i] ^ masks[m]);
            rc = ql_keyfile_decode(buf, len, pass, pass ? strlen(pass) : 0, &k,
                                   &d);
            buf[i] = text[i];
            if (k != NULL)
                fail_msg("byte %zu ^ 0x%02x accepted", i, masks[m]);
            if (i >= strlen(MAGIC) ? rc != QL_EDAMAGED
                                   : rc != QL_EDAMAGED && rc != QL_EFORMAT &&
                                         rc != QL_EUNSUPPORTED)
                fail_msg("byte %zu ^ 0x%02x: %s (%s)", i, masks[m],
                         ql_errname(rc), d.msg);
        }
    }
    free(buf);
}

static void
test_keyfile_flipped_bytes(void **state)
{
    struct fixture *fx = *state;

    check_every_flip(fx->plain, fx->plain_len, NULL);
    check_every_flip(fx->enc, fx->enc_len, PASS);
}

/*
 * Known answers for the format, the examples of docs/formats.md: the
 * published PeterNeumann seed's plaintext key file is fixed byte for byte,
 * and an encrypted one made once must keep opening.
 */
#define PETER_PLAIN                                                            \
    MAGIC                                                                      \
    "key-name PeterNeumann\n"                                                  \
    "profile intl\n"                                                           \
    "kdf none\n"                                                               \
    "key gQoUAtUUbI2E8kQzMPVAgOv5juF9nHT2JS/F1ccoMXMaXNkHFDw4TEHoMMW84Sqo"     \
    "gX7FZJqqvywxOIs1stdE1g==\n"                                               \
    "check J/5X7BQTciZ1wplSC4iDBowim0q2ftHZEjwVS/ttnlI=\n"
#define PETER_ENC                                                              \
    MAGIC                                                                      \
    "key-name PeterNeumann\n"                                                  \
    "profile intl\n"                                                           \
    "kdf argon2id13 ops=2 mem=67108864\n"                                      \
    "salt Gq/224l5WwhdVbiVPmPm2A==\n"                                          \
    "nonce N8Jmxr5ALHGIxZpTh5qVus2qbpoT3Erc\n"                                 \
    "key nYFCjMHZ5m/HFbqCTJ//tEjsaOjB/AYhziWP9RPZyLBj7nTmYRXHyZeyfsjImXa+"     \
    "3Hh9kqsisvtjzjn/XL5LBfP2rhV6f6sOjFzDW43sykg=\n"                           \
    "check xCUq9u/zY+2kOSWKmlb8jnMPBCGGYwdabr183eZip98=\n"
#define PETER_PASS "test only"

static struct ql_key *
peter_key(void)
{
    static const char skey[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    uint8_t raw[40];
    struct ql_key *k = NULL;
    struct ql_diag d;

    assert_int_equal(b64dec(skey, raw, sizeof raw), 33);
    assert_int_equal(
        ql_key_from_seed(ql_profile_default(), "PeterNeumann", raw + 1, &k, &d),
        QL_OK);
    return k;
}

static void
test_keyfile_known_answers(void **state)
{
    struct ql_key *peter = peter_key(), *k = NULL;
    struct ql_diag d;
    char *text = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(ql_keyfile_encode(peter, NULL, 0, QL_KEYFILE_PLAINTEXT,
                                       &text, &len, &d),
                     QL_OK);
    assert_string_equal(text, PETER_PLAIN);
    assert_int_equal(len, strlen(PETER_PLAIN));
    ql_keyfile_buf_free(text);
    assert_int_equal(ql_keyfile_decode(PETER_ENC, strlen(PETER_ENC), PETER_PASS,
                                       strlen(PETER_PASS), &k, &d),
                     QL_OK);
    assert_same_key(k, peter);
    ql_key_free(k);
    /* Fixed texts, so the flips below hit the same '/' characters always. */
    check_every_flip(PETER_PLAIN, strlen(PETER_PLAIN), NULL);
    check_every_flip(PETER_ENC, strlen(PETER_ENC), PETER_PASS);
    ql_key_free(peter);
}

static void
test_keyfile_not_ours(void **state)
{
    static const struct {
        const char *what, *text;
        ql_err code;
        const char *msg;
    } cases[] = {
        {"a verifier key", PETER_VKEY "\n", QL_EFORMAT,
         "not a qingling secret key file"},
        {"prose", "hello world\n", QL_EFORMAT, "not a qingling"},
        {"another magic", "untrusted comment: minisign secret key\n",
         QL_EFORMAT, "not a qingling"},
        {"magic, cut", "qingling-sec", QL_EDAMAGED, "cut short"},
        {"upper case magic", "QINGLING-SECRET-KEY/1\n", QL_EFORMAT,
         "not a qingling"},
        {"magic only", MAGIC, QL_EDAMAGED, "last line is not its checksum"},
        {"no final newline", MAGIC "check x", QL_EDAMAGED, "cut short"},
        {"check line, bad base64", MAGIC "check x\n", QL_EDAMAGED,
         "checksum does not match"},
        {"blank last line", MAGIC "\n", QL_EDAMAGED, "checksum"},
    };
    struct ql_key *k = NULL;
    struct ql_diag d;
    char *big;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("not ours: %s\n", cases[i].what);
        assert_int_equal(ql_keyfile_decode(cases[i].text, strlen(cases[i].text),
                                           NULL, 0, &k, &d),
                         cases[i].code);
        assert_msg_has(d, cases[i].msg);
    }
    assert_int_equal(ql_keyfile_decode(NULL, 0, NULL, 0, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "empty");
    big = malloc(5000);
    assert_non_null(big);
    memset(big, 'a', 5000);
    memcpy(big, MAGIC, strlen(MAGIC));
    assert_int_equal(ql_keyfile_decode(big, 5000, NULL, 0, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "larger than any key file");
    free(big);
    assert_null(k);
}

/*
 * Files whose checksum holds but whose lines are wrong: only a hand-made
 * (or hostile) file looks like this. "@K@" stands for the real plaintext
 * secret key's base64, the other @-words for variants of it.
 */
static void
test_keyfile_crafted_plaintext(void **state)
{
#define HEAD MAGIC "key-name n\nprofile intl\n"
    static const struct {
        const char *what, *body;
        ql_err code;
        const char *msg;
    } cases[] = {
        {"renamed (plaintext has no AEAD)", HEAD "kdf none\nkey @K@\n", QL_OK,
         ""},
        {"version 2", "qingling-secret-key/2\nkey-name n\n", QL_EUNSUPPORTED,
         "format version 2"},
        {"version 1.0", "qingling-secret-key/1.0\nkey-name n\n", QL_EDAMAGED,
         "bad version line"},
        {"duplicate key-name",
         MAGIC "key-name n\nkey-name n\nprofile intl\nkdf none\nkey @K@\n",
         QL_EDAMAGED, "expected its 'profile' line"},
        {"missing profile", MAGIC "key-name n\nkdf none\nkey @K@\n",
         QL_EDAMAGED, "expected its 'profile' line"},
        {"out of order", MAGIC "profile intl\nkey-name n\nkdf none\nkey @K@\n",
         QL_EDAMAGED, "expected its 'key-name' line"},
        {"unknown profile",
         MAGIC "key-name n\nprofile sm2\nkdf none\nkey @K@\n", QL_EUNSUPPORTED,
         "profile 'sm2'"},
        {"bad profile", MAGIC "key-name n\nprofile Intl\nkdf none\nkey @K@\n",
         QL_EDAMAGED, "bad 'profile' line"},
        {"long profile",
         MAGIC "key-name n\nprofile intl-intl-intl-intl-intl-intl-intl\n"
               "kdf none\nkey @K@\n",
         QL_EDAMAGED, "bad 'profile' line"},
        {"unknown kdf", HEAD "kdf scrypt N=16384\nkey @K@\n", QL_EUNSUPPORTED,
         "'scrypt'"},
        {"none with more", HEAD "kdf none ops=1\nkey @K@\n", QL_EDAMAGED,
         "bad 'kdf' line"},
        {"bad kdf word", HEAD "kdf Argon2id13 ops=2 mem=65536\nkey @K@\n",
         QL_EDAMAGED, "bad 'kdf' line"},
        {"empty kdf", HEAD "kdf \nkey @K@\n", QL_EDAMAGED,
         "expected its 'kdf' line"},
        {"salt in a plaintext file",
         HEAD "kdf none\nsalt AAAAAAAAAAAAAAAAAAAAAA==\nkey @K@\n", QL_EDAMAGED,
         "expected its 'key' line"},
        {"line after key", HEAD "kdf none\nkey @K@\nnote hi\n", QL_EDAMAGED,
         "unexpected line after 'key'"},
        {"no key line", HEAD "kdf none\n", QL_EDAMAGED,
         "'key' line is missing"},
        {"key not base64", HEAD "kdf none\nkey @BADK@\n", QL_EDAMAGED,
         "'key' line is not base64"},
        {"key one byte short", HEAD "kdf none\nkey @SHORTK@\n", QL_EDAMAGED,
         "wrong length"},
        {"inconsistent secret key", HEAD "kdf none\nkey @INCONS@\n",
         QL_EDAMAGED, "inconsistent"},
        {"non-UTF-8 name",
         MAGIC "key-name \xff\xfe\nprofile intl\nkdf none\nkey @K@\n",
         QL_EDAMAGED, "invalid key name"},
        {"overlong UTF-8 name",
         MAGIC "key-name \xc0\xaf\nprofile intl\nkdf none\nkey @K@\n",
         QL_EDAMAGED, "invalid key name"},
        {"name with U+3000",
         MAGIC "key-name a\xe3\x80\x80z\nprofile intl\nkdf none\nkey @K@\n",
         QL_EDAMAGED, "invalid key name"},
        {"name with '+'",
         MAGIC "key-name a+z\nprofile intl\nkdf none\nkey @K@\n", QL_EDAMAGED,
         "invalid key name"},
        {"name too long",
         MAGIC "key-name @LONG@\nprofile intl\nkdf none\nkey @K@\n",
         QL_EDAMAGED, "key name too long"},
        {"CRLF line ends",
         MAGIC "key-name n\r\nprofile intl\r\nkdf none\r\nkey @K@\r\n",
         QL_EDAMAGED, "invalid key name"},
        {"empty key-name", MAGIC "key-name \nprofile intl\n", QL_EDAMAGED,
         "expected its 'key-name' line"},
        {"no space", MAGIC "key-namen\nprofile intl\n", QL_EDAMAGED,
         "expected its 'key-name' line"},
    };
#undef HEAD
    struct fixture *fx = *state;
    char *key = line_value(fx->plain, "key");
    char badk[128], shortk[128], incons[128], longname[301];
    uint8_t sk[80];
    struct ql_key *k = NULL;
    struct ql_diag d;
    size_t i, n;

    n = b64dec(key, sk, sizeof sk);
    assert_int_equal(n, 64);
    snprintf(badk, sizeof badk, "*%s", key + 1);
    b64enc(sk, 63, shortk);
    sk[40] ^= 0x01; /* in the public half the secret key carries */
    b64enc(sk, 64, incons);
    memset(longname, 'a', 300);
    longname[300] = '\0';
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b = strdup(cases[i].body), *t;
        static const char *const tokens[] = {"@K@", "@BADK@", "@SHORTK@",
                                             "@INCONS@", "@LONG@"};
        const char *values[] = {key, badk, shortk, incons, longname};
        size_t j;
        ql_err rc;

        print_message("crafted: %s\n", cases[i].what);
        assert_non_null(b);
        for (j = 0; j < 5; j++) {
            if (strstr(b, tokens[j]) != NULL) {
                t = replace(b, tokens[j], values[j]);
                free(b);
                b = t;
            }
        }
        t = reseal(b, strlen(b));
        rc = ql_keyfile_decode(t, strlen(t), NULL, 0, &k, &d);
        if (rc != cases[i].code)
            fail_msg("%s: %s (%s)", cases[i].what, ql_errname(rc), d.msg);
        if (rc == QL_OK) {
            assert_string_equal(ql_key_name(k), "n");
            assert_true(ql_key_same_public(k, fx->key));
            ql_key_free(k);
            k = NULL;
        } else {
            assert_msg_has(d, cases[i].msg);
            assert_null(k);
        }
        free(t);
        free(b);
    }

    /* A NUL byte, which a C string cannot carry into the table. */
    {
        char *b = replace(fx->plain, "key-name " NAME_ZH, "key-name n#z");
        char *body = body_of(b), *t;
        size_t blen = strlen(body);

        *strchr(body, '#') = '\0';
        t = reseal(body, blen);
        assert_int_equal(
            ql_keyfile_decode(t, blen + strlen(t + blen), NULL, 0, &k, &d),
            QL_EDAMAGED);
        assert_msg_has(d, "NUL byte");
        free(t);
        free(body);
        free(b);
    }
    free(key);
}

/*
 * An encrypted file edited with its checksum redone: header edits are
 * caught by the AEAD (as a wrong passphrase: the checksum holds), and
 * hostile passphrase-function costs are refused before any work is done.
 */
static void
test_keyfile_crafted_encrypted(void **state)
{
    static const struct {
        const char *what, *from, *to;
        ql_err code;
        const char *msg;
    } cases[] = {
        {"renamed", "key-name " NAME_ZH, "key-name other", QL_EPASS,
         "wrong passphrase"},
        {"cheaper kdf claimed", "ops=2 ", "ops=1 ", QL_EPASS,
         "wrong passphrase"},
        {"100 GB of memory", "mem=67108864", "mem=107374182400",
         QL_EUNSUPPORTED, "mem=107374182400"},
        {"2^32 + 1 passes", "ops=2 ", "ops=4294967297 ", QL_EUNSUPPORTED,
         "ops=4294967297"},
        {"absurd passes", "ops=2 ", "ops=99999999999999999999999999 ",
         QL_EUNSUPPORTED, "outside what this version accepts"},
        {"absurd memory", "mem=67108864", "mem=184467440737095516160",
         QL_EUNSUPPORTED, "outside what this version accepts"},
        {"zero passes", "ops=2 ", "ops=0 ", QL_EUNSUPPORTED, "ops=0"},
        {"too little memory", "mem=67108864", "mem=1024", QL_EUNSUPPORTED,
         "mem=1024"},
        {"too much work", "ops=2 mem=67108864", "ops=16 mem=1073741824",
         QL_EUNSUPPORTED, "outside"},
        {"leading zero", "ops=2 ", "ops=02 ", QL_EDAMAGED, "bad 'kdf' line"},
        {"sign", "ops=2 ", "ops=+2 ", QL_EDAMAGED, "bad 'kdf' line"},
        {"trailing word", "mem=67108864", "mem=67108864 x", QL_EDAMAGED,
         "bad 'kdf' line"},
        {"swapped params", "ops=2 mem=67108864", "mem=67108864 ops=2",
         QL_EDAMAGED, "bad 'kdf' line"},
        {"no params", "argon2id13 ops=2 mem=67108864", "argon2id13",
         QL_EDAMAGED, "bad 'kdf' line"},
        {"kdf none, salt left", "kdf argon2id13 ops=2 mem=67108864", "kdf none",
         QL_EDAMAGED, "expected its 'key' line"},
        {"salt short", "\nsalt ", "\nsalt AAAA", QL_EDAMAGED,
         "'salt' line is not 16 bytes of base64"},
        {"nonce renamed", "\nnonce ", "\nn0nce ", QL_EDAMAGED,
         "expected its 'nonce' line"},
    };
    struct fixture *fx = *state;
    char *body = body_of(fx->enc), *key = line_value(fx->enc, "key");
    struct ql_key *k = NULL;
    struct ql_diag d;
    char flipped[256];
    double t0;
    size_t i;
    ql_err rc;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b = replace(body, cases[i].from, cases[i].to);
        char *t = reseal(b, strlen(b));

        print_message("crafted encrypted: %s\n", cases[i].what);
        t0 = now();
        rc = ql_keyfile_decode(t, strlen(t), PASS, strlen(PASS), &k, &d);
        if (rc != cases[i].code)
            fail_msg("%s: %s (%s)", cases[i].what, ql_errname(rc), d.msg);
        assert_msg_has(d, cases[i].msg);
        assert_null(k);
        /* Refusals come before the passphrase function runs. */
        if (rc != QL_EPASS)
            assert_true(now() - t0 < 0.5);
        free(t);
        free(b);
    }

    /* One changed ciphertext byte, checksum redone. */
    snprintf(flipped, sizeof flipped, "%s", key);
    flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
    {
        char *b = replace(body, key, flipped);
        char *t = reseal(b, strlen(b));

        assert_int_equal(
            ql_keyfile_decode(t, strlen(t), PASS, strlen(PASS), &k, &d),
            QL_EPASS);
        free(t);
        free(b);
    }
    free(key);
    free(body);
}

/* ---- Files ---- */

static mode_t
file_mode(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static void
test_keyfile_files(void **state)
{
    struct fixture *fx = *state;
    char *dir = qlt_tempdir();
    char *k1 = qlt_join(dir, "k1.key"), *k2 = qlt_join(dir, "k2.key");
    char *k3 = qlt_join(dir, "k3.key"), *link = qlt_join(dir, "link.key");
    char *target = qlt_join(dir, "target.key");
    char *link2 = qlt_join(dir, "link2.key"), *big = qlt_join(dir, "big.key");
    char *cut = qlt_join(dir, "cut.key"), *fifo = qlt_join(dir, "fifo.key");
    char *nodir = qlt_join(dir, "no/such/k.key");
    char *missing = qlt_join(dir, "missing.key");
    char *pubfile = qlt_join(dir, "pub.key");
    char *bigbuf, *data;
    struct ql_key *k = NULL;
    struct ql_diag d;
    mode_t old = umask(0);
    size_t len;

    /* 0600 whatever the umask, exactly the encoded text. */
    assert_int_equal(
        ql_keyfile_write(k1, fx->key, NULL, 0, QL_KEYFILE_PLAINTEXT, &d),
        QL_OK);
    assert_int_equal(file_mode(k1), 0600);
    data = qlt_read_file(k1, &len);
    assert_int_equal(len, strlen(data));
    assert_int_equal(strncmp(data, MAGIC "key-name " NAME_ZH "\n",
                             strlen(MAGIC "key-name " NAME_ZH "\n")),
                     0);
    assert_non_null(strstr(data, "kdf none\n"));
    free(data);
    umask(0277);
    assert_int_equal(
        ql_keyfile_write(k2, fx->key, NULL, 0, QL_KEYFILE_PLAINTEXT, &d),
        QL_OK);
    assert_int_equal(file_mode(k2), 0600);
    umask(022);

    assert_int_equal(ql_keyfile_read(k1, NULL, 0, &k, &d), QL_OK);
    assert_same_key(k, fx->key);
    ql_key_free(k);
    k = NULL;

    /* Never overwritten, never written through a symbolic link. */
    assert_int_equal(
        ql_keyfile_write(k1, fx->key, NULL, 0, QL_KEYFILE_PLAINTEXT, &d),
        QL_EEXIST);
    assert_msg_has(d, k1);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(
        ql_keyfile_write(link, fx->key, NULL, 0, QL_KEYFILE_PLAINTEXT, &d),
        QL_EEXIST);
    assert_msg_has(d, link);
    assert_int_equal(access(target, F_OK), -1);
    assert_int_equal(errno, ENOENT);

    /* Never read through a symbolic link either. */
    assert_int_equal(symlink(k1, link2), 0);
    assert_int_equal(ql_keyfile_read(link2, NULL, 0, &k, &d), QL_EDENIED);
    assert_msg_has(d, "symbolic link");

    /* Open to others: refused, with the fix in the message. */
    assert_int_equal(chmod(k1, 0644), 0);
    assert_int_equal(ql_keyfile_read(k1, NULL, 0, &k, &d), QL_EDENIED);
    assert_msg_has(d, "readable by others; chmod 600 it");
    assert_msg_has(d, k1);
    assert_int_equal(chmod(k1, 0640), 0);
    assert_int_equal(ql_keyfile_read(k1, NULL, 0, &k, &d), QL_EDENIED);
    assert_int_equal(chmod(k1, 0620), 0);
    assert_int_equal(ql_keyfile_read(k1, NULL, 0, &k, &d), QL_EDENIED);
    assert_msg_has(d, "writable by others; chmod 600 it");
    assert_int_equal(chmod(k1, 0602), 0);
    assert_int_equal(ql_keyfile_read(k1, NULL, 0, &k, &d), QL_EDENIED);
    assert_int_equal(chmod(k1, 0400), 0);
    assert_int_equal(ql_keyfile_read(k1, NULL, 0, &k, &d), QL_OK);
    ql_key_free(k);
    k = NULL;

    /* Encrypted, through the files. */
    assert_int_equal(ql_keyfile_write(k3, fx->key, PASS, strlen(PASS), 0, &d),
                     QL_OK);
    assert_int_equal(file_mode(k3), 0600);
    assert_int_equal(ql_keyfile_read(k3, PASS, strlen(PASS), &k, &d), QL_OK);
    assert_same_key(k, fx->key);
    ql_key_free(k);
    k = NULL;
    /* Without a passphrase an encrypted file says so, and the command
       line asks for one only then. */
    assert_int_equal(ql_keyfile_read(k3, NULL, 0, &k, &d), QL_EPASS);
    assert_msg_has(d, k3);

    /* Damage is reported with the path. */
    qlt_write_file(cut, fx->enc, fx->enc_len - 10);
    assert_int_equal(ql_keyfile_read(cut, PASS, strlen(PASS), &k, &d),
                     QL_EDAMAGED);
    assert_msg_has(d, cut);
    /* Damage shows before any passphrase is asked for. */
    assert_int_equal(ql_keyfile_read(cut, NULL, 0, &k, &d), QL_EDAMAGED);
    assert_msg_has(d, cut);
    /* A public key file passed as a secret one is named for what it is. */
    assert_int_equal(ql_keyfile_write_public(pubfile, fx->key, &d), QL_OK);
    assert_int_equal(ql_keyfile_read(pubfile, NULL, 0, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "not a qingling secret key file");

    /* Not a regular file, too large, missing. */
    bigbuf = malloc(5000);
    assert_non_null(bigbuf);
    memset(bigbuf, 'a', 5000);
    memcpy(bigbuf, fx->plain, fx->plain_len);
    qlt_write_file(big, bigbuf, 5000);
    free(bigbuf);
    assert_int_equal(ql_keyfile_read(big, NULL, 0, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "too large");
    assert_int_equal(ql_keyfile_read(dir, NULL, 0, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "not a regular file");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(ql_keyfile_read(fifo, NULL, 0, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "not a regular file");
    assert_int_equal(ql_keyfile_read(missing, NULL, 0, &k, &d), QL_ENOTFOUND);
    assert_msg_has(d, missing);
    assert_int_equal(
        ql_keyfile_write(nodir, fx->key, NULL, 0, QL_KEYFILE_PLAINTEXT, &d),
        QL_ENOTFOUND);
    assert_msg_has(d, "cannot create key file");
    /* A bare file name is created in the current folder. */
    {
        int here = open(".", O_RDONLY | O_CLOEXEC);

        assert_true(here >= 0);
        assert_int_equal(chdir(dir), 0);
        assert_int_equal(ql_keyfile_write("rel.key", fx->key, NULL, 0,
                                          QL_KEYFILE_PLAINTEXT, &d),
                         QL_OK);
        assert_int_equal(file_mode("rel.key"), 0600);
        assert_int_equal(ql_keyfile_read("rel.key", NULL, 0, &k, &d), QL_OK);
        assert_same_key(k, fx->key);
        ql_key_free(k);
        k = NULL;
        assert_int_equal(fchdir(here), 0);
        close(here);
    }
    /* Encoding errors come before the file is made. */
    assert_int_equal(ql_keyfile_write(missing, fx->key, NULL, 0, 0, &d),
                     QL_EUSAGE);
    assert_int_equal(access(missing, F_OK), -1);
    assert_null(k);

    umask(old);
    free(k1), free(k2), free(k3), free(link), free(target), free(link2);
    free(big), free(cut), free(fifo), free(nodir), free(missing);
    free(pubfile);
    qlt_rmtree(dir);
}

/* A write that fails halfway (here: the file size limit) leaves nothing. */
static void
test_keyfile_write_fails(void **state)
{
    struct fixture *fx = *state;
    char *dir = qlt_tempdir(), *path = qlt_join(dir, "k.key");
    struct rlimit old, small;
    void (*old_handler)(int);
    struct ql_diag d;
    ql_err rc;

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 64;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    rc = ql_keyfile_write(path, fx->key, NULL, 0, QL_KEYFILE_PLAINTEXT, &d);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, QL_EIO);
    assert_msg_has(d, "cannot write key file");
    assert_msg_has(d, path);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    free(path);
    qlt_rmtree(dir);
}

/*
 * A machine short of memory for the passphrase function gets a clear
 * QL_ENOMEM, not a wrong-passphrase error: run in a child process under a
 * 512 MiB address-space limit, a file asking for 1 GiB (within the bounds
 * the format accepts) cannot be opened.
 */
static void
test_keyfile_kdf_out_of_memory(void **state)
{
    struct fixture *fx = *state;
    char *body, *b, *t;
    pid_t pid;
    int status = 0;

#ifdef QLT_ASAN
    skip();
#endif
    body = body_of(fx->enc);
    b = replace(body, "ops=2 mem=67108864", "ops=1 mem=1073741824");
    t = reseal(b, strlen(b));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit lim = {512UL << 20, 512UL << 20};
        struct ql_key *k = NULL;
        struct ql_diag d;
        ql_err rc;

        if (setrlimit(RLIMIT_AS, &lim) != 0)
            _exit(2);
        rc = ql_keyfile_decode(t, strlen(t), PASS, strlen(PASS), &k, &d);
        free(t);
        free(b);
        free(body);
        _exit(rc == QL_ENOMEM &&
                      strstr(d.msg, "not enough memory for the passphrase "
                                    "function (1073741824 bytes)") != NULL
                  ? 0
                  : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    free(t);
    free(b);
    free(body);
}

static void
test_public_files(void **state)
{
    static const struct {
        const char *what, *text;
        ql_err code;
        const char *msg;
    } cases[] = {
        {"no newline", PETER_VKEY, QL_OK, ""},
        {"one newline", PETER_VKEY "\n", QL_OK, ""},
        {"two newlines", PETER_VKEY "\n\n", QL_EFORMAT,
         "not one verifier key line"},
        {"two keys", PETER_VKEY "\n" PETER_VKEY "\n", QL_EFORMAT,
         "not one verifier key line"},
        {"CRLF", PETER_VKEY "\r\n", QL_EFORMAT, "base64"},
        {"leading space", " " PETER_VKEY "\n", QL_EFORMAT, "invalid name"},
        {"trailing space", PETER_VKEY " \n", QL_EFORMAT, "base64"},
        {"empty", "", QL_EFORMAT, "not one verifier key line"},
        {"newline only", "\n", QL_EFORMAT, "not one verifier key line"},
        {"wrong ID",
         "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
         "LDE4izWy10TW\n",
         QL_EFORMAT, "does not match"},
        {"secret key file", MAGIC, QL_EFORMAT, "name+id+key"},
    };
    struct fixture *fx = *state;
    char *dir = qlt_tempdir(), *pub = qlt_join(dir, "pub");
    char *pub2 = qlt_join(dir, "pub2"), *other = qlt_join(dir, "other");
    char *link = qlt_join(dir, "link"), *vkey = NULL, *data, *want;
    struct ql_key *k = NULL;
    struct ql_diag d;
    mode_t old = umask(022);
    char big[2000];
    size_t i, len;
    ql_err rc;

    assert_int_equal(ql_keyfile_write_public(pub, fx->key, &d), QL_OK);
    assert_int_equal(file_mode(pub), 0644);
    assert_int_equal(ql_key_vkey(fx->key, 0, &vkey, &d), QL_OK);
    data = qlt_read_file(pub, &len);
    want = replace("@\n", "@", vkey);
    assert_string_equal(data, want);
    free(want);
    free(data);
    assert_int_equal(ql_keyfile_read_public(pub, &k, &d), QL_OK);
    assert_true(ql_key_same_public(k, fx->key));
    assert_false(ql_key_has_secret(k));
    assert_string_equal(ql_key_name(k), NAME_ZH);
    ql_key_free(k);
    k = NULL;
    assert_int_equal(ql_keyfile_write_public(pub, fx->key, &d), QL_EEXIST);
    assert_msg_has(d, "public key file");
    assert_msg_has(d, pub);
    /* The umask may narrow a public key's mode; it is the user's call. */
    umask(077);
    assert_int_equal(ql_keyfile_write_public(pub2, fx->key, &d), QL_OK);
    assert_int_equal(file_mode(pub2), 0600);
    umask(022);
    assert_int_equal(symlink(pub, link), 0);
    assert_int_equal(ql_keyfile_read_public(link, &k, &d), QL_EDENIED);
    assert_msg_has(d, "symbolic link");
    assert_int_equal(ql_keyfile_write_public(link, fx->key, &d), QL_EEXIST);

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("public file: %s\n", cases[i].what);
        unlink(other);
        qlt_write_file(other, cases[i].text, strlen(cases[i].text));
        rc = ql_keyfile_read_public(other, &k, &d);
        if (rc != cases[i].code)
            fail_msg("%s: %s (%s)", cases[i].what, ql_errname(rc), d.msg);
        if (rc == QL_OK) {
            assert_string_equal(ql_key_name(k), "PeterNeumann");
            ql_key_free(k);
            k = NULL;
        } else {
            assert_msg_has(d, cases[i].msg);
            assert_msg_has(d, other);
        }
    }
    unlink(other);
    qlt_write_file(other, PETER_VKEY "\0\n", strlen(PETER_VKEY) + 2);
    assert_int_equal(ql_keyfile_read_public(other, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "not one verifier key line");
    unlink(other);
    memset(big, 'a', sizeof big);
    qlt_write_file(other, big, sizeof big);
    assert_int_equal(ql_keyfile_read_public(other, &k, &d), QL_EFORMAT);
    assert_msg_has(d, "too large");
    /* A cosigner's key is not a principal's public key. */
    free(vkey);
    assert_int_equal(ql_key_vkey(fx->key, QL_KEYTYPE_COSIG, &vkey, &d), QL_OK);
    unlink(other);
    qlt_write_file(other, vkey, strlen(vkey));
    assert_int_equal(ql_keyfile_read_public(other, &k, &d), QL_EUNSUPPORTED);
    assert_null(k);

    umask(old);
    free(vkey);
    free(pub), free(pub2), free(other), free(link);
    qlt_rmtree(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_generate_rejects_bad_name),
        cmocka_unit_test(test_vkey_round_trip),
        cmocka_unit_test(test_parse_vkey_rejects),
        cmocka_unit_test(test_cosig_vkey),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_seal),
        cmocka_unit_test(test_keyfile_plaintext),
        cmocka_unit_test(test_keyfile_encrypted),
        cmocka_unit_test(test_keyfile_encode_usage),
        cmocka_unit_test(test_keyfile_cut_short),
        cmocka_unit_test(test_keyfile_flipped_bytes),
        cmocka_unit_test(test_keyfile_known_answers),
        cmocka_unit_test(test_keyfile_not_ours),
        cmocka_unit_test(test_keyfile_crafted_plaintext),
        cmocka_unit_test(test_keyfile_crafted_encrypted),
        cmocka_unit_test(test_keyfile_files),
        cmocka_unit_test(test_keyfile_write_fails),
        cmocka_unit_test(test_keyfile_kdf_out_of_memory),
        cmocka_unit_test(test_public_files),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
