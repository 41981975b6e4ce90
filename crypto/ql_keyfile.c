#include "ql_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ql_codec.h"
#include "ql_file.h"
#include "ql_keys_impl.h"

/*
 * Key files (docs/formats.md has the whole format). A secret key file is
 * a few lines of text:
 *
 *     qingling-secret-key/1
 *     key-name <name>
 *     profile <profile>
 *     kdf argon2id13 ops=<n> mem=<bytes>      or: kdf none
 *     salt <base64>                           (encrypted files only)
 *     nonce <base64>                          (encrypted files only)
 *     key <base64>
 *     check <base64>
 *
 * "check" is an unkeyed SHA-256 of every byte before its line. It is what
 * tells a damaged file (the checksum fails) from a wrong passphrase (the
 * checksum holds but the AEAD does not open). It is no defence against
 * someone who edits the file on purpose: the AEAD is, because every line
 * before "key" is its additional data.
 */

#define MAGIC_PREFIX "qingling-secret-key/"
#define MAGIC_LINE MAGIC_PREFIX "1"

/* Larger than any key file this code writes (under 700 bytes). */
#define KEYFILE_MAX 4096
/* A public key file is one verifier key string and a newline. */
#define PUBFILE_MAX 1024

#define KDF_NAME "argon2id13"
#define KDF_SALT_LEN crypto_pwhash_argon2id_SALTBYTES
#define CHECK_LEN crypto_hash_sha256_BYTES

/*
 * Writing uses the INTERACTIVE cost (about 0.1 s and 64 MiB), fit for a
 * command-line tool that unlocks the key on every run.
 */
#define KDF_OPS_DEFAULT crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE
#define KDF_MEM_DEFAULT crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE

/*
 * Reading accepts at most the SENSITIVE cost (1 GiB, 4 passes, a few
 * seconds), so that a planted key file cannot make the tool allocate
 * without bound or spin for hours before asking for a passphrase.
 */
#define KDF_OPS_MIN crypto_pwhash_argon2id_OPSLIMIT_MIN
#define KDF_OPS_MAX 16ULL
#define KDF_MEM_MIN crypto_pwhash_argon2id_MEMLIMIT_MIN
#define KDF_MEM_MAX crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE
/* Bound on passes times memory, in passes of 1 MiB. */
#define KDF_WORK_MAX (4ULL * 1024)

/* What a secret key file's lines say, once parsed and checked. */
struct keyfile {
    char name[QL_KEY_NAME_MAX + 1];
    const struct ql_profile *profile;
    bool encrypted;
    unsigned long long ops;
    size_t mem;
    uint8_t salt[KDF_SALT_LEN];
    uint8_t nonce[QL_AEAD_NONCE_MAX];
    const char *key_b64; /* points into the text being parsed */
    size_t key_b64_len;
    size_t ad_len; /* bytes before the "key" line: the AEAD's additional data */
};

/* ---- Building the text ---- */

/* A bounded text buffer in guarded memory: a plaintext file holds a secret. */
struct text {
    char *p;
    size_t len, cap;
    bool overflow;
};

static void text_add(struct text *t, const char *fmt, ...) QL_PRINTF(2, 3);

static void
text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len) {
        t->overflow = true;
        return;
    }
    t->len += (size_t)n;
}

/*
 * Appends base64(bin) and a newline, encoding straight into t; secret
 * bytes (a plain key) are encoded in constant time.
 */
static void
text_add_b64(struct text *t, const uint8_t *bin, size_t n, bool secret)
{
    size_t need = ql_base64_len(n);

    if (t->overflow || t->cap - t->len < need + 2) {
        t->overflow = true;
        return;
    }
    if (secret)
        ql_base64_encode_secret(t->p + t->len, bin, n);
    else
        ql_base64_encode(t->p + t->len, bin, n);
    t->len += need;
    t->p[t->len++] = '\n';
    t->p[t->len] = '\0';
}

static void
checksum(uint8_t out[CHECK_LEN], const char *buf, size_t len)
{
    crypto_hash_sha256(out, (const unsigned char *)buf, len);
}

/* Derives the file key from the passphrase into guarded memory *dk. */
static ql_err
derive_key(const char *pass, size_t passlen, const uint8_t *salt,
           unsigned long long ops, size_t mem, uint8_t **dk, struct ql_diag *d)
{
    uint8_t *k = sodium_malloc(QL_AEAD_KEY_LEN);

    if (k == NULL)
        return ql_fail(d, QL_ENOMEM, "cannot allocate guarded memory");
    /* Argon2id fails only when it cannot get its memory. */
    if (crypto_pwhash(k, QL_AEAD_KEY_LEN, pass, passlen, salt, ops, mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_free(k);
        return ql_fail(d, QL_ENOMEM,
                       "not enough memory for the passphrase function "
                       "(%zu bytes)",
                       mem);
    }
    *dk = k;
    return QL_OK;
}

/* Unreachable while KEYFILE_MAX exceeds the file of the longest name. */
static ql_err
too_long(const struct ql_key *k, struct ql_diag *d)
{
    return ql_fail(d, QL_ETOOBIG, "key file for '%s' would exceed %d bytes",
                   k->name, KEYFILE_MAX);
}

ql_err
ql_keyfile_encode(const struct ql_key *k, const char *pass, size_t passlen,
                  unsigned flags, char **out, size_t *outlen, struct ql_diag *d)
{
    const struct ql_profile *p = k->profile;
    bool plain = (flags & QL_KEYFILE_PLAINTEXT) != 0;
    size_t sk_len = ql_profile_sk_len(p), nonce_len, ct_len = 0;
    uint8_t salt[KDF_SALT_LEN], nonce[QL_AEAD_NONCE_MAX];
    uint8_t sum[CHECK_LEN];
    struct text t = {NULL, 0, KEYFILE_MAX + 1, false};
    uint8_t *dk = NULL, *ct = NULL;
    ql_err rc = QL_OK;

    if ((flags & ~QL_KEYFILE_PLAINTEXT) != 0)
        return ql_fail(d, QL_EUSAGE, "unknown key file flags 0x%x", flags);
    if (k->sk == NULL)
        return ql_fail(d, QL_EUSAGE, "key '%s' has no secret half", k->name);
    if (plain && pass != NULL)
        return ql_fail(d, QL_EUSAGE,
                       "a plaintext key file takes no passphrase");
    if (!plain && (pass == NULL || passlen == 0))
        return ql_fail(d, QL_EUSAGE,
                       "an encrypted key file needs a non-empty passphrase");
    if (!plain && passlen > QL_PASSPHRASE_MAX)
        return ql_fail(d, QL_EUSAGE, "passphrase longer than %d bytes",
                       QL_PASSPHRASE_MAX);

    t.p = sodium_malloc(t.cap);
    if (t.p == NULL)
        return ql_fail(d, QL_ENOMEM, "cannot allocate guarded memory");
    t.p[0] = '\0';
    text_add(&t, MAGIC_LINE "\nkey-name %s\nprofile %s\n", k->name,
             ql_profile_name(p));
    if (plain) {
        text_add(&t, "kdf none\nkey ");
        text_add_b64(&t, k->sk, sk_len, true);
    } else {
        nonce_len = ql_profile_nonce_len(p);
        ct_len = sk_len + ql_profile_tag_len(p);
        ql_random(salt, sizeof salt);
        ql_random(nonce, nonce_len);
        text_add(&t, "kdf " KDF_NAME " ops=%llu mem=%zu\nsalt ",
                 (unsigned long long)KDF_OPS_DEFAULT, (size_t)KDF_MEM_DEFAULT);
        text_add_b64(&t, salt, sizeof salt, false);
        text_add(&t, "nonce ");
        text_add_b64(&t, nonce, nonce_len, false);
        if (t.overflow) { /* the additional data must be whole */
            rc = too_long(k, d);
            goto out;
        }
        ct = malloc(ct_len);
        if (ct == NULL) {
            rc = ql_fail(d, QL_ENOMEM, NULL);
            goto out;
        }
        if ((rc = derive_key(pass, passlen, salt, KDF_OPS_DEFAULT,
                             KDF_MEM_DEFAULT, &dk, d)) != QL_OK)
            goto out;
        /* Every line so far is additional data: no header edit survives. */
        if ((rc = ql_profile_aead_encrypt(p, ct, k->sk, sk_len,
                                          (const uint8_t *)t.p, t.len, nonce,
                                          dk, d)) != QL_OK)
            goto out;
        text_add(&t, "key ");
        text_add_b64(&t, ct, ct_len, false);
    }
    checksum(sum, t.p, t.len);
    text_add(&t, "check ");
    text_add_b64(&t, sum, sizeof sum, false);
    if (t.overflow) {
        rc = too_long(k, d);
        goto out;
    }
    *out = t.p;
    *outlen = t.len;
    t.p = NULL; /* ownership moved to the caller */
out:
    sodium_free(t.p);
    sodium_free(dk);
    free(ct);
    return rc;
}

void
ql_keyfile_buf_free(char *buf)
{
    sodium_free(buf); /* wipes; NULL is fine */
}

/* ---- Parsing ---- */

/*
 * Reads a canonical decimal (digits only, no leading zero) of n bytes,
 * saturating at ULLONG_MAX so that absurd values reach the range checks
 * rather than being mistaken for syntax errors. False for bad syntax.
 */
static bool
parse_decimal(const char *s, size_t n, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t i;

    if (n == 0 || (s[0] == '0' && n > 1))
        return false;
    for (i = 0; i < n; i++) {
        unsigned digit;

        if (s[i] < '0' || s[i] > '9')
            return false;
        digit = (unsigned)(s[i] - '0');
        v = v > (ULLONG_MAX - digit) / 10 ? ULLONG_MAX : v * 10 + digit;
    }
    *out = v;
    return true;
}

/* True when s[0..n) is a short word of [a-z0-9_-], safe to quote back. */
static bool
is_word(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 32)
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

/* The lines of the text up to its "check" line. */
struct cursor {
    const char *buf;
    size_t end, pos;
    const char *label;
};

/*
 * Takes the next line, which must read "<keyword> <value>"; *val and *vlen
 * get the value. Every line of the region ends in a newline, because the
 * region ends where the "check" line starts.
 */
static ql_err
take_line(struct cursor *c, const char *keyword, const char **val, size_t *vlen,
          struct ql_diag *d)
{
    const char *line = c->buf + c->pos;
    size_t kw = strlen(keyword), n;
    const char *nl;

    nl = c->pos < c->end ? memchr(line, '\n', c->end - c->pos) : NULL;
    if (nl == NULL)
        return ql_fail(d, QL_EDAMAGED,
                       "%s is damaged: its '%s' line is missing", c->label,
                       keyword);
    n = (size_t)(nl - line);
    if (n <= kw + 1 || memcmp(line, keyword, kw) != 0 || line[kw] != ' ')
        return ql_fail(d, QL_EDAMAGED, "%s is damaged: expected its '%s' line",
                       c->label, keyword);
    *val = line + kw + 1;
    *vlen = n - kw - 1;
    c->pos += n + 1;
    return QL_OK;
}

/* Decodes a base64 value that must hold exactly n bytes. */
static ql_err
take_b64(struct cursor *c, const char *keyword, uint8_t *bin, size_t n,
         struct ql_diag *d)
{
    const char *val;
    size_t vlen, got = 0;
    ql_err rc;

    if ((rc = take_line(c, keyword, &val, &vlen, d)) != QL_OK)
        return rc;
    if (vlen != ql_base64_len(n) ||
        ql_base64_decode(bin, n, &got, val, vlen, NULL) != QL_OK || got != n)
        return ql_fail(d, QL_EDAMAGED,
                       "%s is damaged: its '%s' line is not "
                       "%zu bytes of base64",
                       c->label, keyword, n);
    return QL_OK;
}

static ql_err
parse_kdf(struct cursor *c, struct keyfile *f, struct ql_diag *d)
{
    static const char ops_tag[] = " ops=", mem_tag[] = " mem=";
    const char *val, *sp, *mem_at, *end;
    unsigned long long ops, mem;
    size_t vlen;
    ql_err rc;

    if ((rc = take_line(c, "kdf", &val, &vlen, d)) != QL_OK)
        return rc;
    if (vlen == 4 && memcmp(val, "none", 4) == 0) {
        f->encrypted = false;
        return QL_OK;
    }
    end = val + vlen;
    sp = memchr(val, ' ', vlen);
    if (sp == NULL)
        sp = end;
    if ((size_t)(sp - val) == 4 && memcmp(val, "none", 4) == 0)
        return ql_fail(d, QL_EDAMAGED, "%s is damaged: bad 'kdf' line",
                       c->label);
    if ((size_t)(sp - val) != strlen(KDF_NAME) ||
        memcmp(val, KDF_NAME, strlen(KDF_NAME)) != 0) {
        if (is_word(val, (size_t)(sp - val)))
            return ql_fail(d, QL_EUNSUPPORTED,
                           "%s uses the passphrase function '%.*s', which "
                           "this version does not know",
                           c->label, (int)(sp - val), val);
        return ql_fail(d, QL_EDAMAGED, "%s is damaged: bad 'kdf' line",
                       c->label);
    }
    /* Exactly " ops=<n> mem=<n>" follows the name. */
    if ((size_t)(end - sp) < sizeof ops_tag - 1 ||
        memcmp(sp, ops_tag, sizeof ops_tag - 1) != 0 ||
        (mem_at = memchr(sp + 1, ' ', (size_t)(end - sp - 1))) == NULL ||
        (size_t)(end - mem_at) < sizeof mem_tag - 1 ||
        memcmp(mem_at, mem_tag, sizeof mem_tag - 1) != 0 ||
        !parse_decimal(sp + sizeof ops_tag - 1,
                       (size_t)(mem_at - sp) - (sizeof ops_tag - 1), &ops) ||
        !parse_decimal(mem_at + sizeof mem_tag - 1,
                       (size_t)(end - mem_at) - (sizeof mem_tag - 1), &mem))
        return ql_fail(d, QL_EDAMAGED, "%s is damaged: bad 'kdf' line",
                       c->label);
    if (ops < KDF_OPS_MIN || ops > KDF_OPS_MAX || mem < KDF_MEM_MIN ||
        mem > KDF_MEM_MAX || ops * (mem >> 20) > KDF_WORK_MAX)
        return ql_fail(d, QL_EUNSUPPORTED,
                       "%s asks for a passphrase cost of ops=%llu mem=%llu, "
                       "outside what this version accepts (ops %llu to %llu, "
                       "mem %llu to %llu bytes)",
                       c->label, ops, mem, (unsigned long long)KDF_OPS_MIN,
                       KDF_OPS_MAX, (unsigned long long)KDF_MEM_MIN,
                       (unsigned long long)KDF_MEM_MAX);
    f->encrypted = true;
    f->ops = ops;
    f->mem = (size_t)mem;
    return QL_OK;
}

/*
 * Checks the magic line and the checksum, then parses every other line in
 * order. Anything that does not start with the magic is QL_EFORMAT; an
 * unknown version, profile or KDF, or KDF costs out of bounds, are
 * QL_EUNSUPPORTED; everything else that fails is QL_EDAMAGED.
 */
static ql_err
keyfile_parse(const char *buf, size_t len, const char *label, struct keyfile *f,
              struct ql_diag *d)
{
    const size_t plen = sizeof MAGIC_PREFIX - 1;
    const char *nl, *ver, *val, *check_at;
    uint8_t sum[CHECK_LEN];
    char want[64];
    struct cursor c = {buf, 0, 0, label};
    size_t vlen, i, check_start;
    ql_err rc;

    if (buf == NULL || len == 0)
        return ql_fail(d, QL_EFORMAT, "%s is empty", label);
    if (len > KEYFILE_MAX)
        return ql_fail(d, QL_EFORMAT, "%s is larger than any key file", label);
    if (len < plen || memcmp(buf, MAGIC_PREFIX, plen) != 0) {
        /* What a crash leaves of a key file is a damaged key file. */
        if (len < plen && memcmp(buf, MAGIC_PREFIX, len) == 0)
            return ql_fail(d, QL_EDAMAGED, "%s is cut short", label);
        return ql_fail(d, QL_EFORMAT, "%s is not a qingling secret key file",
                       label);
    }
    if (memchr(buf, '\0', len) != NULL)
        return ql_fail(d, QL_EDAMAGED, "%s is damaged: it contains a NUL byte",
                       label);
    nl = memchr(buf, '\n', len);
    if (nl == NULL)
        return ql_fail(d, QL_EDAMAGED, "%s is cut short", label);
    ver = buf + plen;
    if ((size_t)(nl - buf) != sizeof MAGIC_LINE - 1 ||
        memcmp(buf, MAGIC_LINE, sizeof MAGIC_LINE - 1) != 0) {
        for (i = 0; ver + i < nl && ver[i] >= '0' && ver[i] <= '9'; i++)
            ;
        if (ver + i == nl && i >= 1 && i <= 9)
            return ql_fail(d, QL_EUNSUPPORTED,
                           "%s has format version %.*s; this version of "
                           "qingling reads version 1",
                           label, (int)i, ver);
        return ql_fail(d, QL_EDAMAGED, "%s is damaged: bad version line",
                       label);
    }

    /* The checksum comes first, so damage is never taken for a passphrase. */
    if (buf[len - 1] != '\n')
        return ql_fail(d, QL_EDAMAGED, "%s is cut short", label);
    for (check_start = len - 1; check_start > 0 && buf[check_start - 1] != '\n';
         check_start--)
        ;
    check_at = buf + check_start;
    vlen = len - 1 - check_start;
    if (vlen < 6 || memcmp(check_at, "check ", 6) != 0)
        return ql_fail(d, QL_EDAMAGED,
                       "%s is cut short or damaged: its last line is not its "
                       "checksum",
                       label);
    /*
     * Compared as text, not decoded: one checksum has one spelling, and no
     * decoder's leniency can let a changed byte through.
     */
    checksum(sum, buf, check_start);
    ql_base64_encode(want, sum, sizeof sum);
    if (vlen - 6 != strlen(want) || memcmp(check_at + 6, want, vlen - 6) != 0)
        return ql_fail(d, QL_EDAMAGED,
                       "%s is damaged: its checksum does not match", label);

    c.pos = (size_t)(nl - buf) + 1;
    c.end = check_start;
    if ((rc = take_line(&c, "key-name", &val, &vlen, d)) != QL_OK)
        return rc;
    if (vlen > QL_KEY_NAME_MAX)
        return ql_fail(d, QL_EDAMAGED, "%s is damaged: key name too long",
                       label);
    memcpy(f->name, val, vlen);
    f->name[vlen] = '\0';
    if (!ql_key_name_valid(f->name))
        return ql_fail(d, QL_EDAMAGED, "%s is damaged: invalid key name",
                       label);
    if ((rc = take_line(&c, "profile", &val, &vlen, d)) != QL_OK)
        return rc;
    if (!is_word(val, vlen))
        return ql_fail(d, QL_EDAMAGED, "%s is damaged: bad 'profile' line",
                       label);
    {
        char pname[33];

        memcpy(pname, val, vlen);
        pname[vlen] = '\0';
        f->profile = ql_profile_find(pname);
        if (f->profile == NULL)
            return ql_fail(d, QL_EUNSUPPORTED,
                           "%s uses profile '%s', which this version does "
                           "not have",
                           label, pname);
    }
    if ((rc = parse_kdf(&c, f, d)) != QL_OK)
        return rc;
    if (f->encrypted) {
        if ((rc = take_b64(&c, "salt", f->salt, sizeof f->salt, d)) != QL_OK ||
            (rc = take_b64(&c, "nonce", f->nonce,
                           ql_profile_nonce_len(f->profile), d)) != QL_OK)
            return rc;
    }
    f->ad_len = c.pos;
    if ((rc = take_line(&c, "key", &f->key_b64, &f->key_b64_len, d)) != QL_OK)
        return rc;
    if (f->key_b64_len !=
        ql_base64_len(ql_profile_sk_len(f->profile) +
                      (f->encrypted ? ql_profile_tag_len(f->profile) : 0)))
        return ql_fail(d, QL_EDAMAGED,
                       "%s is damaged: its 'key' line has the wrong length",
                       label);
    if (c.pos != check_start)
        return ql_fail(d, QL_EDAMAGED,
                       "%s is damaged: unexpected line after 'key'", label);
    return QL_OK;
}

/*
 * Decodes the "key" value, which parse checked only for length, into bin,
 * in constant time: in a plain key file it is the secret key itself.
 */
static ql_err
decode_key_b64(const struct keyfile *f, uint8_t *bin, size_t n,
               const char *label, struct ql_diag *d)
{
    size_t got = 0;

    if (ql_base64_decode_secret(bin, n, &got, f->key_b64, f->key_b64_len,
                                NULL) != QL_OK ||
        got != n)
        return ql_fail(d, QL_EDAMAGED,
                       "%s is damaged: its 'key' line is not base64", label);
    return QL_OK;
}

static ql_err
keyfile_decode(const char *buf, size_t len, const char *pass, size_t passlen,
               const char *label, struct ql_key **out, struct ql_diag *d)
{
    struct keyfile f;
    const struct ql_profile *p;
    uint8_t *sk = NULL, *dk = NULL, *ct = NULL;
    size_t sk_len, ct_len;
    struct ql_diag inner;
    ql_err rc;

    if (pass != NULL && passlen > QL_PASSPHRASE_MAX)
        return ql_fail(d, QL_EUSAGE, "passphrase longer than %d bytes",
                       QL_PASSPHRASE_MAX);
    if ((rc = keyfile_parse(buf, len, label, &f, d)) != QL_OK)
        return rc;
    p = f.profile;
    sk_len = ql_profile_sk_len(p);
    if (f.encrypted && pass == NULL)
        return ql_fail(d, QL_EPASS, "%s is encrypted: a passphrase is needed",
                       label);
    sk = sodium_malloc(sk_len);
    if (sk == NULL)
        return ql_fail(d, QL_ENOMEM, "cannot allocate guarded memory");
    if (!f.encrypted) {
        if ((rc = decode_key_b64(&f, sk, sk_len, label, d)) != QL_OK)
            goto out;
    } else {
        ct_len = sk_len + ql_profile_tag_len(p);
        ct = malloc(ct_len);
        if (ct == NULL) {
            rc = ql_fail(d, QL_ENOMEM, NULL);
            goto out;
        }
        if ((rc = decode_key_b64(&f, ct, ct_len, label, d)) != QL_OK ||
            (rc = derive_key(pass, passlen, f.salt, f.ops, f.mem, &dk, d)) !=
                QL_OK)
            goto out;
        /* The checksum held, so a failure here is the passphrase's. */
        if (ql_profile_aead_decrypt(p, sk, ct, ct_len, (const uint8_t *)buf,
                                    f.ad_len, f.nonce, dk, NULL) != QL_OK) {
            rc = ql_fail(d, QL_EPASS, "wrong passphrase for %s", label);
            goto out;
        }
    }
    if ((rc = ql_key_from_secret(p, f.name, sk, sk_len, out, &inner)) != QL_OK)
        rc = ql_fail(d, rc, "%s: %s", label, inner.msg);
out:
    sodium_free(sk);
    sodium_free(dk);
    free(ct);
    return rc;
}

ql_err
ql_keyfile_decode(const char *buf, size_t len, const char *pass, size_t passlen,
                  struct ql_key **out, struct ql_diag *d)
{
    return keyfile_decode(buf, len, pass, passlen, "key file", out, d);
}

ql_err
ql_keyfile_is_encrypted(const char *buf, size_t len, bool *encrypted,
                        struct ql_diag *d)
{
    struct keyfile f;
    ql_err rc;

    if ((rc = keyfile_parse(buf, len, "key file", &f, d)) != QL_OK)
        return rc;
    *encrypted = f.encrypted;
    return QL_OK;
}

/* ---- Files ---- */

/* The error class of a failed open, write or read. */
static ql_err
errno_code(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return QL_ENOTFOUND;
    case EACCES:
    case EPERM:
    case EROFS:
    case ELOOP:
        return QL_EDENIED;
    case EEXIST:
        return QL_EEXIST;
    case ENOSPC:
    case EDQUOT:
        return QL_EFULL;
    case ENOMEM:
        return QL_ENOMEM;
    default:
        return QL_EIO;
    }
}

/*
 * Writes buf to the open file fd (what, at path, for messages), synced;
 * with exact, its mode is mode whatever the umask says.
 */
static ql_err
fill_file(int fd, const char *what, const char *path, const char *buf,
          size_t len, mode_t mode, bool exact, struct ql_diag *d)
{
    size_t done = 0;
    ssize_t n;
    int e;

    if (exact && fchmod(fd, mode) != 0) {
        e = errno;
        return ql_fail(d, errno_code(e), "cannot set the mode of %s '%s': %s",
                       what, path, strerror(e));
    }
    while (done < len) {
        n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            return ql_fail(d, errno_code(e), "cannot write %s '%s': %s", what,
                           path, strerror(e));
        }
        done += (size_t)n;
    }
    if (fsync(fd) != 0) {
        e = errno;
        return ql_fail(d, errno_code(e), "cannot sync %s '%s': %s", what, path,
                       strerror(e));
    }
    return QL_OK;
}

/* The answer when a key file's name is taken: it is never replaced. */
static ql_err
taken(const char *what, const char *path, struct ql_diag *d)
{
    return ql_fail(d, QL_EEXIST,
                   "%s '%s' already exists; it is never overwritten", what,
                   path);
}

/*
 * Creates path with O_EXCL (never through a symbolic link) and writes buf
 * to it: where files cannot be made unnamed first. On failure nothing is
 * left at path; a kill midway can leave it half written.
 */
static ql_err
write_at_name(const char *path, const char *what, const char *buf,
              size_t len, mode_t mode, bool exact, struct ql_diag *d)
{
    int fd, e;
    ql_err rc;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        e = errno;
        if (e == EEXIST)
            return taken(what, path, d);
        return ql_fail(d, errno_code(e), "cannot create %s '%s': %s", what,
                       path, strerror(e));
    }
    rc = fill_file(fd, what, path, buf, len, mode, exact, d);
    if (close(fd) != 0 && rc == QL_OK) {
        e = errno;
        rc = ql_fail(d, errno_code(e), "cannot write %s '%s': %s", what, path,
                     strerror(e));
    }
    if (rc != QL_OK)
        unlink(path); /* we created it with O_EXCL: it is ours to remove */
    else
        ql_file_sync_parent(path);
    return rc;
}

/*
 * Creates path (never replacing anything, never through a symbolic link)
 * holding buf. It is written whole and synced as a file with no name in
 * path's folder (O_TMPFILE), and only then named (linkat, which never
 * replaces anything): a write stopped midway (a kill, a power cut) leaves
 * nothing at all, and two writers of one name cannot mix their files.
 * Where the folder cannot hold unnamed files, path is created with O_EXCL
 * and written in place, as before. On failure nothing is left at path.
 */
static ql_err
write_new_file(const char *path, const char *what, const char *buf, size_t len,
               mode_t mode, bool exact, struct ql_diag *d)
{
    struct stat sb;
    int fd, e;
    ql_err rc;

    if (lstat(path, &sb) == 0)
        return taken(what, path, d);
    if ((fd = ql_file_open_unnamed(path, mode)) < 0) {
        e = errno;
        if (e != EOPNOTSUPP && e != EISDIR && e != EINVAL && e != ENOTSUP)
            return ql_fail(d, errno_code(e), "cannot create %s '%s': %s", what,
                           path, strerror(e));
        return write_at_name(path, what, buf, len, mode, exact, d);
    }
    if ((rc = fill_file(fd, what, path, buf, len, mode, exact, d)) == QL_OK &&
        (rc = ql_file_name_unnamed(fd, path, d)) == QL_EEXIST)
        rc = taken(what, path, d);
    close(fd);
    if (rc == QL_EUNSUPPORTED)
        return write_at_name(path, what, buf, len, mode, exact, d);
    return rc;
}

/*
 * Reads a small regular file without following a symbolic link, into
 * guarded memory when secret. *out is NUL-terminated, cap + 2 bytes; free
 * it with sodium_free (secret) or free. *sb gets the file's status, taken
 * from the open file so that it describes exactly what was read.
 */
static ql_err
read_small_file(const char *path, const char *what, size_t cap, bool secret,
                char **out, size_t *outlen, struct stat *sb, struct ql_diag *d)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    ssize_t n;
    int fd, e;
    ql_err rc = QL_OK;

    /* O_NONBLOCK: a FIFO planted at path must not hang the open. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        if (e == ELOOP)
            return ql_fail(d, QL_EDENIED,
                           "%s '%s' is a symbolic link; refusing to follow it",
                           what, path);
        return ql_fail(d, errno_code(e), "cannot open %s '%s': %s", what, path,
                       strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        e = errno;
        rc = ql_fail(d, errno_code(e), "cannot stat %s '%s': %s", what, path,
                     strerror(e));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc =
            ql_fail(d, QL_EFORMAT, "%s '%s' is not a regular file", what, path);
        goto out;
    }
    if (st.st_size < 0 || (unsigned long long)st.st_size > cap) {
        rc = ql_fail(d, QL_EFORMAT, "%s '%s' is too large to be one", what,
                     path);
        goto out;
    }
    buf = secret ? sodium_malloc(cap + 2) : malloc(cap + 2);
    if (buf == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    /* Read to the end, not to st_size: the file may change meanwhile. */
    while (len <= cap) {
        n = read(fd, buf + len, cap + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            rc = ql_fail(d, errno_code(e), "cannot read %s '%s': %s", what,
                         path, strerror(e));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > cap) {
        rc = ql_fail(d, QL_EFORMAT, "%s '%s' is too large to be one", what,
                     path);
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    *sb = st;
    buf = NULL; /* ownership moved to the caller */
out:
    if (secret)
        sodium_free(buf);
    else
        free(buf);
    close(fd);
    return rc;
}

/*
 * Who may have a hand on a secret key file. A person's key is theirs
 * alone: owned by the account that reads it, and no one else may read or
 * write it. The log key may in addition be shared with the group that
 * owns the store (DESIGN.md section 11, docs/decisions.md): readable, not
 * writable, by exactly that group, and owned by the reading account, by
 * root or by the store's owner. Nothing is ever open to the world.
 */
struct access_rule {
    bool shared; /* the log key rule */
    uid_t owner; /* the store file's owner */
    gid_t group; /* the store file's group */
};

/* Checks a key file's status against rule; label names it. */
static ql_err
check_access(const struct stat *sb, const struct access_rule *rule,
             const char *label, struct ql_diag *d)
{
    mode_t mode = sb->st_mode;
    uid_t me = geteuid();

    if ((mode & S_IROTH) != 0 || ((mode & S_IRGRP) != 0 && !rule->shared))
        return ql_fail(d, QL_EDENIED, "%s is readable by others; chmod 600 it",
                       label);
    if ((mode & (S_IWGRP | S_IWOTH)) != 0)
        return ql_fail(d, QL_EDENIED, "%s is writable by others; chmod 600 it",
                       label);
    if ((mode & S_IRGRP) != 0 && sb->st_gid != rule->group)
        return ql_fail(d, QL_EDENIED,
                       "%s is readable by group %lu, not by the store's "
                       "group %lu; chgrp it or chmod 600 it",
                       label, (unsigned long)sb->st_gid,
                       (unsigned long)rule->group);
    if (sb->st_uid == me)
        return QL_OK;
    if (rule->shared && (sb->st_uid == 0 || sb->st_uid == rule->owner))
        return QL_OK;
    return ql_fail(d, QL_EDENIED,
                   "%s belongs to another account (uid %lu); a key file must "
                   "be its user's own",
                   label, (unsigned long)sb->st_uid);
}

/*
 * Reads the secret key file at path, parses it (*f) and checks who may
 * read and write it (rule). label gets "key file '<path>'" for messages.
 * *text is guarded memory for sodium_free.
 */
static ql_err
load_secret_file(const char *path, const struct access_rule *rule, char *label,
                 size_t label_size, struct keyfile *f, char **text, size_t *len,
                 struct ql_diag *d)
{
    struct stat sb;
    char *buf = NULL;
    size_t n = 0;
    ql_err rc;

    if ((rc = read_small_file(path, "key file", KEYFILE_MAX, true, &buf, &n,
                              &sb, d)) != QL_OK)
        return rc;
    /* A long path is cut in the message, as every message may be. */
    snprintf(label, label_size, "key file '%s'", path);
    /*
     * Say what the file is before judging its mode: a public key passed by
     * mistake should be named as such, not chmod-ed.
     */
    if ((rc = keyfile_parse(buf, n, label, f, d)) != QL_OK ||
        (rc = check_access(&sb, rule, label, d)) != QL_OK)
        goto out;
    *text = buf;
    *len = n;
    buf = NULL; /* ownership moved to the caller */
out:
    sodium_free(buf);
    return rc;
}

ql_err
ql_keyfile_write(const char *path, const struct ql_key *k, const char *pass,
                 size_t passlen, unsigned flags, struct ql_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    ql_err rc;

    if ((rc = ql_keyfile_encode(k, pass, passlen, flags, &text, &len, d)) !=
        QL_OK)
        return rc;
    rc = write_new_file(path, "key file", text, len, 0600, true, d);
    ql_keyfile_buf_free(text);
    return rc;
}

ql_err
ql_keyfile_read(const char *path, const char *pass, size_t passlen,
                struct ql_key **out, struct ql_diag *d)
{
    static const struct access_rule own = {false, 0, 0};
    char label[QL_DIAG_MSG];
    struct keyfile f;
    char *text = NULL;
    size_t len = 0;
    ql_err rc;

    if ((rc = load_secret_file(path, &own, label, sizeof label, &f, &text, &len,
                               d)) != QL_OK)
        return rc;
    rc = keyfile_decode(text, len, pass, passlen, label, out, d);
    sodium_free(text);
    return rc;
}

ql_err
ql_keyfile_read_shared(const char *path, uid_t owner, gid_t group,
                       struct ql_key **out, struct ql_diag *d)
{
    const struct access_rule shared = {true, owner, group};
    char label[QL_DIAG_MSG];
    struct keyfile f;
    char *text = NULL;
    size_t len = 0;
    ql_err rc;

    if ((rc = load_secret_file(path, &shared, label, sizeof label, &f, &text,
                               &len, d)) != QL_OK)
        return rc;
    /* A key that several accounts read can keep no passphrase among them. */
    if (f.encrypted)
        rc = ql_fail(d, QL_EUNSUPPORTED,
                     "%s is encrypted; a shared key file has no passphrase",
                     label);
    else
        rc = keyfile_decode(text, len, NULL, 0, label, out, d);
    sodium_free(text);
    return rc;
}

ql_err
ql_keyfile_write_public(const char *path, const struct ql_key *k,
                        struct ql_diag *d)
{
    char *vkey = NULL, *line = NULL;
    size_t n;
    ql_err rc;

    if ((rc = ql_key_vkey(k, 0, &vkey, d)) != QL_OK)
        return rc;
    n = strlen(vkey);
    line = malloc(n + 2);
    if (line == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    memcpy(line, vkey, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    /* A public key is for sharing: 0644, less if the umask says so. */
    rc = write_new_file(path, "public key file", line, n + 1, 0644, false, d);
out:
    free(vkey);
    free(line);
    return rc;
}

ql_err
ql_keyfile_read_public(const char *path, struct ql_key **out, struct ql_diag *d)
{
    struct ql_diag inner;
    struct stat sb; /* anyone may read a public key */
    char *text = NULL;
    size_t len = 0;
    ql_err rc;

    if ((rc = read_small_file(path, "public key file", PUBFILE_MAX, false,
                              &text, &len, &sb, d)) != QL_OK)
        return rc;
    /* One verifier key and at most one newline: nothing else is allowed. */
    if (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    if (len == 0 || memchr(text, '\0', len) != NULL ||
        memchr(text, '\n', len) != NULL) {
        rc = ql_fail(d, QL_EFORMAT,
                     "public key file '%s' is not one verifier key line", path);
        goto out;
    }
    if ((rc = ql_key_parse_vkey(text, false, out, &inner)) != QL_OK)
        rc = ql_fail(d, rc, "public key file '%s': %s", path, inner.msg);
out:
    free(text);
    return rc;
}
