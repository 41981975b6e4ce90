#include "ql_note.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_codec.h"

/* U+2014 EM DASH and a space: how every signature line starts. */
static const char SIG_PREFIX[] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN 4

/* The signed-note type byte of Ed25519, the only cosignature/v1 scheme. */
#define NOTE_TYPE_ED25519 0x01
/* A cosignature payload: key ID, timestamp, Ed25519 signature. */
#define COSIG_SIG_LEN 64
#define COSIG_RAW_LEN (4 + 8 + COSIG_SIG_LEN)
/* The longest payload any known key's signature line can have. */
#define RAW_MAX (4 + 8 + QL_SIG_MAX)
/* Tree sizes and cosignature times both stop at 2^63 - 1. */
#define U63_MAX QL_COSIG_TIME_MAX
/* Base64 characters of a root hash: 44 with padding. */
#define ROOT_B64_LEN 44

/* One signature line, located in the note it came from. */
struct sigline {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const char *b64;
    size_t b64_len;
    size_t raw_len; /* decoded bytes, key ID included */
    uint32_t id;
};

struct ql_note {
    char *text;
    size_t text_len;
    size_t nsigs;
    struct ql_note_sig sigs[]; /* then text, names and signature bytes */
};

static void
store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t
load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static void
store_be64(uint8_t *p, uint64_t v)
{
    store_be32(p, (uint32_t)(v >> 32));
    store_be32(p + 4, (uint32_t)v);
}

static uint64_t
load_be64(const uint8_t *p)
{
    return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

/*
 * Decodes the UTF-8 sequence at s (n >= 1 bytes available) into *cp and
 * returns its length, or 0 when it is ill-formed: a stray continuation
 * byte, an overlong form, a surrogate, a code point past U+10FFFF, or a
 * sequence cut short.
 */
static size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c, min;
    size_t len, i;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        c = s[0] & 0x1Fu;
        min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        c = s[0] & 0x0Fu;
        min = 0x800;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        c = s[0] & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Control characters other than newline: C0, DEL and C1. */
static bool
is_control(uint32_t c)
{
    return (c < 0x20 && c != '\n') || (c >= 0x7F && c <= 0x9F);
}

/* Unicode White_Space, which key names may not hold. */
static bool
is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/*
 * True when the 8 bytes at p are all printable ASCII (0x20 to 0x7E): a
 * byte below 0x20 sets its top bit in the first term, one of 0x7F or
 * above in the second. Most of a note is base64 and words, so whole
 * words pass at once.
 */
static bool
printable8(const unsigned char *p)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    const uint64_t tops = UINT64_C(0x8080808080808080);
    uint64_t x;

    memcpy(&x, p, sizeof x);
    return ((((x - ones * 0x20) & ~x) | (x + ones) | x) & tops) == 0;
}

/*
 * Checks that s holds valid UTF-8 with no control character but '\n'.
 * what names s in the message ("note", "checkpoint", ...).
 */
static ql_err
check_chars(const char *s, size_t n, const char *what, struct ql_diag *d)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, step;
    uint32_t c;

    while (i < n) {
        if (n - i >= 8 && printable8(u + i)) {
            i += 8;
            continue;
        }
        if ((u[i] >= 0x20 && u[i] < 0x7F) || u[i] == '\n') {
            i++;
            continue;
        }
        step = utf8_decode(u + i, n - i, &c);
        if (step == 0)
            return ql_fail(d, QL_EFORMAT, "%s is not valid UTF-8 at byte %zu",
                           what, i);
        if (is_control(c))
            return ql_fail(d, QL_EFORMAT,
                           "%s has control character U+%04" PRIX32
                           " at byte %zu",
                           what, c, i);
        i += step;
    }
    return QL_OK;
}

/*
 * The rules every note text (and checkpoint text) follows: bounded, valid
 * characters, ending in a newline, and not only newlines.
 */
static ql_err
check_text(const char *text, size_t len, const char *what, struct ql_diag *d)
{
    size_t i;

    if (text == NULL)
        return ql_fail(d, QL_EUSAGE, "%s is NULL", what);
    if (len > QL_NOTE_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "%s is %zu bytes, more than the limit of %d", what, len,
                       QL_NOTE_MAX);
    for (i = 0; i < len && text[i] == '\n'; i++)
        ;
    if (i == len)
        return ql_fail(d, QL_EFORMAT, "%s is empty", what);
    if (text[len - 1] != '\n')
        return ql_fail(d, QL_EFORMAT, "%s does not end with a newline", what);
    return check_chars(text, len, what, d);
}

/* A signed-note key name: non-empty UTF-8, no space, '+' or control. */
static bool
name_ok(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, step;
    uint32_t c;

    if (n == 0)
        return false;
    while (i < n) {
        step = utf8_decode(u + i, n - i, &c);
        if (step == 0 || c == '+' || is_space(c) || is_control(c))
            return false;
        i += step;
    }
    return true;
}

/* True when k's scheme is Ed25519, the one cosignature/v1 defines. */
static bool
is_ed25519(const struct ql_key *k)
{
    const struct ql_profile *p = ql_key_profile(k);

    return ql_profile_note_type(p) == NOTE_TYPE_ED25519 &&
           ql_profile_sig_len(p) == COSIG_SIG_LEN;
}

/* Strict decoding (ql_codec): canonical padded base64 that fits in cap. */
static bool
b64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *got)
{
    return ql_base64_decode(out, cap, got, s, n, NULL) == QL_OK;
}

/*
 * Checks that s (n characters) is canonical padded base64 and sets *total
 * to its decoded length and *id to its first four bytes (big-endian; 0
 * when there are fewer). It decodes in pieces so that a long line from an
 * unknown signer needs no buffer of its size.
 */
static bool
b64_scan(const char *s, size_t n, size_t *total, uint32_t *id)
{
    uint8_t buf[96], head[4] = {0, 0, 0, 0};
    size_t off = 0, chunk, got = 0, sum = 0, nhead = 0, i;

    if (n == 0 || n % 4 != 0)
        return false;
    /*
     * Each piece is decoded on its own, so padding in the middle of the
     * string would pass as the end of a piece: refuse it up front.
     */
    if (memchr(s, '=', n - 2) != NULL)
        return false;
    while (off < n) {
        chunk = n - off > 128 ? 128 : n - off;
        if (!b64_decode(s + off, chunk, buf, sizeof buf, &got))
            return false;
        for (i = 0; i < got && nhead < 4; i++)
            head[nhead++] = buf[i];
        sum += got;
        off += chunk;
    }
    *total = sum;
    *id = load_be32(head);
    return true;
}

/*
 * Parses the signature line s (n bytes, its newline excluded; characters
 * already checked) into *sl. lineno numbers it in messages, from 1.
 */
static ql_err
parse_line(const char *s, size_t n, size_t lineno, struct sigline *sl,
           struct ql_diag *d)
{
    const char *sp;
    struct sigline l;

    if (n < SIG_PREFIX_LEN || memcmp(s, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
        return ql_fail(d, QL_EFORMAT,
                       "signature line %zu does not start with an em dash "
                       "(U+2014) and a space",
                       lineno);
    s += SIG_PREFIX_LEN;
    n -= SIG_PREFIX_LEN;
    sp = memchr(s, ' ', n);
    if (sp == NULL)
        return ql_fail(d, QL_EFORMAT,
                       "signature line %zu has no space between key name "
                       "and signature",
                       lineno);
    l.name = s;
    l.name_len = (size_t)(sp - s);
    if (l.name_len == 0)
        return ql_fail(d, QL_EFORMAT, "signature line %zu has no key name",
                       lineno);
    if (!name_ok(l.name, l.name_len))
        return ql_fail(d, QL_EFORMAT,
                       "signature line %zu has an invalid key name (it holds "
                       "a space, a '+' or a control character)",
                       lineno);
    l.b64 = sp + 1;
    l.b64_len = n - l.name_len - 1;
    if (l.b64_len == 0)
        return ql_fail(d, QL_EFORMAT, "signature line %zu has no signature",
                       lineno);
    if (!b64_scan(l.b64, l.b64_len, &l.raw_len, &l.id))
        return ql_fail(d, QL_EFORMAT,
                       "signature line %zu is not canonical padded base64",
                       lineno);
    if (l.raw_len < 5)
        return ql_fail(d, QL_EFORMAT,
                       "signature line %zu holds %zu bytes; a key ID and a "
                       "signature need at least 5",
                       lineno, l.raw_len);
    *sl = l;
    return QL_OK;
}

/*
 * Checks a whole signed note's format and locates its parts: the text is
 * note[0..*text_len), the signature lines go to lines[0..*nlines). The
 * split is at the last blank line, as the spec says, so the text may hold
 * blank lines of its own.
 */
static ql_err
split_note(const char *note, size_t len, struct sigline *lines, size_t *nlines,
           size_t *text_len, struct ql_diag *d)
{
    const char *sigs, *nl;
    size_t i, slen, count = 0, tlen;
    ql_err rc;

    if (note == NULL)
        return ql_fail(d, QL_EUSAGE, "note is NULL");
    if (len > QL_NOTE_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "note is %zu bytes, more than the limit of %d", len,
                       QL_NOTE_MAX);
    if (len == 0)
        return ql_fail(d, QL_EFORMAT, "note is empty");
    if ((rc = check_chars(note, len, "note", d)) != QL_OK)
        return rc;
    for (i = len - 1; i > 0; i--)
        if (note[i] == '\n' && note[i - 1] == '\n')
            break;
    if (i == 0)
        return ql_fail(d, QL_EFORMAT,
                       "note has no blank line before its signatures");
    tlen = i; /* the text keeps its final newline, not the blank line */
    for (i = 0; i < tlen && note[i] == '\n'; i++)
        ;
    if (i == tlen)
        return ql_fail(d, QL_EFORMAT, "note text is empty");
    sigs = note + tlen + 1;
    slen = len - tlen - 1;
    if (slen == 0)
        return ql_fail(d, QL_EFORMAT, "note has no signature lines");
    if (sigs[slen - 1] != '\n')
        return ql_fail(d, QL_EFORMAT, "note does not end with a newline");
    for (i = 0; i < slen; i++)
        if (sigs[i] == '\n')
            count++;
    if (count > QL_NOTE_MAX_SIGS)
        return ql_fail(d, QL_ETOOBIG,
                       "note has %zu signature lines, more than the limit "
                       "of %d",
                       count, QL_NOTE_MAX_SIGS);
    /* No line is empty: an empty one would have made a later split. */
    for (i = 0; i < count; i++) {
        nl = memchr(sigs, '\n', slen);
        if ((rc = parse_line(sigs, (size_t)(nl - sigs), i + 1, &lines[i], d)) !=
            QL_OK)
            return rc;
        slen -= (size_t)(nl - sigs) + 1;
        sigs = nl + 1;
    }
    *nlines = count;
    *text_len = tlen;
    return QL_OK;
}

/* Parses line (line_len bytes) as exactly one signature line. */
static ql_err
parse_single_line(const char *line, size_t line_len, struct sigline *sl,
                  struct ql_diag *d)
{
    ql_err rc;

    if (line == NULL)
        return ql_fail(d, QL_EUSAGE, "signature line is NULL");
    if (line_len > QL_NOTE_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "signature line is %zu bytes, more than the limit of "
                       "%d",
                       line_len, QL_NOTE_MAX);
    if (line_len == 0 || line[line_len - 1] != '\n')
        return ql_fail(d, QL_EFORMAT,
                       "signature line does not end with a newline");
    if (memchr(line, '\n', line_len - 1) != NULL)
        return ql_fail(d, QL_EFORMAT,
                       "signature line holds more than one line");
    if ((rc = check_chars(line, line_len, "signature line", d)) != QL_OK)
        return rc;
    return parse_line(line, line_len - 1, 1, sl, d);
}

/* True when sl is by the key with this name and key ID. */
static bool
line_is_by(const struct sigline *sl, const char *name, uint32_t id)
{
    size_t n = strlen(name);

    return sl->id == id && sl->name_len == n && memcmp(sl->name, name, n) == 0;
}

/* "cosignature/v1\ntime <t>\n" || text, in caller-owned *msg. */
static ql_err
cosig_message(uint64_t t, const char *text, size_t tlen, uint8_t **msg,
              size_t *mlen, struct ql_diag *d)
{
    char head[64];
    uint8_t *m;
    int n;

    n = snprintf(head, sizeof head, "cosignature/v1\ntime %" PRIu64 "\n", t);
    if (n < 0 || (size_t)n >= sizeof head)
        return ql_fail(d, QL_ECRYPTO, "cannot build cosignature message");
    m = malloc((size_t)n + tlen);
    if (m == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    memcpy(m, head, (size_t)n);
    memcpy(m + n, text, tlen);
    *msg = m;
    *mlen = (size_t)n + tlen;
    return QL_OK;
}

/*
 * Checks the signature on line sl, which is by known key k of type type,
 * over text. *ts gets a cosignature's time (0 for other signatures).
 */
static ql_err
check_sig(const struct ql_key *k, uint8_t type, const char *text, size_t tlen,
          const struct sigline *sl, uint64_t *ts, struct ql_diag *d)
{
    uint8_t raw[RAW_MAX], *msg = NULL;
    const char *name = ql_key_name(k);
    size_t want, got = 0, mlen = 0;
    uint64_t t;
    ql_err rc;

    want = type == QL_KEYTYPE_COSIG ? COSIG_RAW_LEN
                                    : 4 + ql_profile_sig_len(ql_key_profile(k));
    if (sl->raw_len != want)
        return ql_fail(d, QL_EVERIFY,
                       "signature by key '%s' is %zu bytes, not %zu", name,
                       sl->raw_len, want);
    if (!b64_decode(sl->b64, sl->b64_len, raw, sizeof raw, &got) || got != want)
        return ql_fail(d, QL_EFORMAT, "signature by key '%s' cannot be read",
                       name);
    if (type != QL_KEYTYPE_COSIG) {
        if (ql_key_verify(k, text, tlen, raw + 4, want - 4) != QL_OK)
            return ql_fail(d, QL_EVERIFY,
                           "signature by key '%s' does not verify", name);
        *ts = 0;
        return QL_OK;
    }
    t = load_be64(raw + 4);
    if (t > U63_MAX)
        return ql_fail(d, QL_EVERIFY,
                       "cosignature by key '%s' has time %" PRIu64
                       ", past 2^63 - 1",
                       name, t);
    if ((rc = cosig_message(t, text, tlen, &msg, &mlen, d)) != QL_OK)
        return rc;
    rc = ql_key_verify(k, msg, mlen, raw + 12, COSIG_SIG_LEN);
    free(msg);
    if (rc != QL_OK)
        return ql_fail(d, QL_EVERIFY, "cosignature by key '%s' does not verify",
                       name);
    *ts = t;
    return QL_OK;
}

/*
 * Validates the known-key list and computes each key's ID for its type
 * into ids. Two keys with one name and ID would make a signature line
 * ambiguous, so they are refused.
 */
static ql_err
prepare_keys(const struct ql_note_key *keys, size_t nkeys, uint32_t *ids,
             struct ql_diag *d)
{
    const struct ql_key *k;
    size_t i, j;

    if (keys == NULL || nkeys == 0 || nkeys > QL_NOTE_MAX_KEYS)
        return ql_fail(d, QL_EUSAGE,
                       "verification needs 1 to %d known keys, not %zu",
                       QL_NOTE_MAX_KEYS, keys == NULL ? 0 : nkeys);
    for (i = 0; i < nkeys; i++) {
        k = keys[i].key;
        if (k == NULL)
            return ql_fail(d, QL_EUSAGE, "known key %zu is NULL", i);
        if (keys[i].type == QL_KEYTYPE_COSIG) {
            if (!is_ed25519(k))
                return ql_fail(d, QL_EUNSUPPORTED,
                               "key '%s' cannot be a cosigner: "
                               "cosignature/v1 needs an Ed25519 key",
                               ql_key_name(k));
            ids[i] = ql_key_id(k, QL_KEYTYPE_COSIG);
        } else if (keys[i].type == 0 ||
                   keys[i].type == ql_profile_note_type(ql_key_profile(k))) {
            ids[i] = ql_key_id(k, 0);
        } else {
            return ql_fail(d, QL_EUSAGE,
                           "key '%s' is given unsupported key type 0x%02x",
                           ql_key_name(k), keys[i].type);
        }
        for (j = 0; j < i; j++)
            if (ids[j] == ids[i] &&
                strcmp(ql_key_name(keys[j].key), ql_key_name(k)) == 0)
                return ql_fail(d, QL_EUSAGE,
                               "key '%s' (ID %08" PRIx32 ") is listed twice",
                               ql_key_name(k), ids[i]);
    }
    return QL_OK;
}

/* "— name base64(raw)\n" in caller-owned *line. */
static ql_err
make_line(const char *name, const uint8_t *raw, size_t raw_len, char **line,
          size_t *line_len, struct ql_diag *d)
{
    size_t nlen = strlen(name), blen, pos;
    char *s;

    blen = ql_base64_len(raw_len);
    s = malloc(SIG_PREFIX_LEN + nlen + 1 + blen + 2);
    if (s == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    memcpy(s, SIG_PREFIX, SIG_PREFIX_LEN);
    memcpy(s + SIG_PREFIX_LEN, name, nlen);
    pos = SIG_PREFIX_LEN + nlen;
    s[pos++] = ' ';
    ql_base64_encode(s + pos, raw, raw_len);
    pos += blen;
    s[pos++] = '\n';
    s[pos] = '\0';
    *line = s;
    *line_len = pos;
    return QL_OK;
}

/* A key whose name the verifier would refuse must not sign notes. */
static ql_err
check_signer_name(const struct ql_key *k, struct ql_diag *d)
{
    const char *name = ql_key_name(k);

    if (!name_ok(name, strlen(name)))
        return ql_fail(d, QL_EUSAGE,
                       "key name '%s' cannot appear in a signed note", name);
    return QL_OK;
}

ql_err
ql_note_check_text(const char *text, size_t len, struct ql_diag *d)
{
    return check_text(text, len, "note text", d);
}

ql_err
ql_note_sign_line(const struct ql_key *k, const char *text, size_t len,
                  char **line, size_t *line_len, struct ql_diag *d)
{
    uint8_t raw[4 + QL_SIG_MAX];
    size_t sig_len = 0;
    ql_err rc;

    if (k == NULL)
        return ql_fail(d, QL_EUSAGE, "signing key is NULL");
    if ((rc = check_signer_name(k, d)) != QL_OK ||
        (rc = check_text(text, len, "note text", d)) != QL_OK ||
        (rc = ql_key_sign(k, text, len, raw + 4, &sig_len, d)) != QL_OK)
        return rc;
    store_be32(raw, ql_key_id(k, 0));
    return make_line(ql_key_name(k), raw, 4 + sig_len, line, line_len, d);
}

ql_err
ql_note_sign(const char *text, size_t len, const struct ql_key *const *keys,
             size_t nkeys, char **note, size_t *note_len, struct ql_diag *d)
{
    char *lines[QL_NOTE_MAX_SIGS] = {NULL};
    size_t lens[QL_NOTE_MAX_SIGS];
    size_t i, j, total, pos;
    char *out = NULL;
    ql_err rc;

    if (keys == NULL || nkeys == 0 || nkeys > QL_NOTE_MAX_SIGS)
        return ql_fail(d, QL_EUSAGE, "a note needs 1 to %d signing keys",
                       QL_NOTE_MAX_SIGS);
    for (i = 0; i < nkeys; i++) {
        if (keys[i] == NULL)
            return ql_fail(d, QL_EUSAGE, "signing key %zu is NULL", i);
        for (j = 0; j < i; j++)
            if (ql_key_id(keys[i], 0) == ql_key_id(keys[j], 0) &&
                strcmp(ql_key_name(keys[i]), ql_key_name(keys[j])) == 0)
                return ql_fail(d, QL_EUSAGE,
                               "key '%s' is given twice to sign one note",
                               ql_key_name(keys[i]));
    }
    if ((rc = check_text(text, len, "note text", d)) != QL_OK)
        return rc;
    total = len + 1;
    for (i = 0; i < nkeys; i++) {
        rc = ql_note_sign_line(keys[i], text, len, &lines[i], &lens[i], d);
        if (rc != QL_OK)
            goto out;
        total += lens[i];
    }
    if (total > QL_NOTE_MAX) {
        rc = ql_fail(d, QL_ETOOBIG,
                     "signed note would be %zu bytes, more than the limit "
                     "of %d",
                     total, QL_NOTE_MAX);
        goto out;
    }
    out = malloc(total + 1);
    if (out == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    memcpy(out, text, len);
    out[len] = '\n';
    pos = len + 1;
    for (i = 0; i < nkeys; i++) {
        memcpy(out + pos, lines[i], lens[i]);
        pos += lens[i];
    }
    out[pos] = '\0';
    *note = out;
    *note_len = pos;
    rc = QL_OK;
out:
    for (i = 0; i < nkeys; i++)
        free(lines[i]);
    return rc;
}

ql_err
ql_note_append(const char *note, size_t len, const char *line, size_t line_len,
               char **out, size_t *out_len, struct ql_diag *d)
{
    struct sigline lines[QL_NOTE_MAX_SIGS], add;
    size_t nlines = 0, tlen = 0, i;
    char *s;
    ql_err rc;

    if ((rc = split_note(note, len, lines, &nlines, &tlen, d)) != QL_OK ||
        (rc = parse_single_line(line, line_len, &add, d)) != QL_OK)
        return rc;
    for (i = 0; i < nlines; i++)
        if (lines[i].id == add.id && lines[i].name_len == add.name_len &&
            memcmp(lines[i].name, add.name, add.name_len) == 0)
            return ql_fail(d, QL_EEXIST,
                           "note already has a signature by key '%.*s' (ID "
                           "%08" PRIx32 ")",
                           (int)add.name_len, add.name, add.id);
    if (nlines + 1 > QL_NOTE_MAX_SIGS)
        return ql_fail(d, QL_ETOOBIG,
                       "note already has %zu signature lines, the limit",
                       nlines);
    if (len + line_len > QL_NOTE_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "signed note would be %zu bytes, more than the limit "
                       "of %d",
                       len + line_len, QL_NOTE_MAX);
    s = malloc(len + line_len + 1);
    if (s == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    memcpy(s, note, len);
    memcpy(s + len, line, line_len);
    s[len + line_len] = '\0';
    *out = s;
    *out_len = len + line_len;
    return QL_OK;
}

ql_err
ql_note_verify(const char *note, size_t len, struct ql_note_key *keys,
               size_t nkeys, size_t *text_len, struct ql_diag *d)
{
    struct sigline lines[QL_NOTE_MAX_SIGS];
    uint32_t ids[QL_NOTE_MAX_KEYS];
    uint64_t times[QL_NOTE_MAX_KEYS];
    bool seen[QL_NOTE_MAX_KEYS];
    size_t nlines = 0, tlen = 0, i, j, good = 0;
    ql_err rc;

    if ((rc = prepare_keys(keys, nkeys, ids, d)) != QL_OK ||
        (rc = split_note(note, len, lines, &nlines, &tlen, d)) != QL_OK)
        return rc;
    memset(seen, 0, sizeof seen);
    memset(times, 0, sizeof times);
    for (i = 0; i < nlines; i++) {
        for (j = 0; j < nkeys; j++)
            if (line_is_by(&lines[i], ql_key_name(keys[j].key), ids[j]))
                break;
        if (j == nkeys)
            continue; /* an unknown key: ignored, as the spec requires */
        if (seen[j])
            return ql_fail(d, QL_EVERIFY, "note has two signatures by key '%s'",
                           ql_key_name(keys[j].key));
        seen[j] = true;
        rc = check_sig(keys[j].key, keys[j].type, note, tlen, &lines[i],
                       &times[j], d);
        if (rc != QL_OK)
            return rc;
        good++;
    }
    if (good == 0)
        return ql_fail(d, QL_EVERIFY,
                       "note has no signature by a known key (%zu by "
                       "unknown keys)",
                       nlines);
    for (j = 0; j < nkeys; j++) {
        keys[j].verified = seen[j];
        keys[j].timestamp = times[j];
    }
    if (text_len != NULL)
        *text_len = tlen;
    return QL_OK;
}

ql_err
ql_note_parse(const char *note, size_t len, struct ql_note **out,
              struct ql_diag *d)
{
    struct sigline lines[QL_NOTE_MAX_SIGS];
    size_t nlines = 0, tlen = 0, arena, i, got = 0;
    struct ql_note *n;
    char *p;
    ql_err rc;

    if ((rc = split_note(note, len, lines, &nlines, &tlen, d)) != QL_OK)
        return rc;
    /* One block: the struct, its signature table, then the bytes. */
    arena = tlen + 1;
    for (i = 0; i < nlines; i++)
        arena += lines[i].name_len + 1 + lines[i].raw_len;
    n = malloc(sizeof *n + nlines * sizeof n->sigs[0] + arena);
    if (n == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    p = (char *)(n->sigs + nlines);
    n->text = p;
    n->text_len = tlen;
    n->nsigs = nlines;
    memcpy(p, note, tlen);
    p[tlen] = '\0';
    p += tlen + 1;
    for (i = 0; i < nlines; i++) {
        memcpy(p, lines[i].name, lines[i].name_len);
        p[lines[i].name_len] = '\0';
        n->sigs[i].name = p;
        p += lines[i].name_len + 1;
        if (!b64_decode(lines[i].b64, lines[i].b64_len, (uint8_t *)p,
                        lines[i].raw_len, &got) ||
            got != lines[i].raw_len) {
            free(n);
            return ql_fail(d, QL_EFORMAT, "signature line %zu cannot be read",
                           i + 1);
        }
        n->sigs[i].id = lines[i].id;
        n->sigs[i].sig = (const uint8_t *)p + 4;
        n->sigs[i].sig_len = lines[i].raw_len - 4;
        p += lines[i].raw_len;
    }
    *out = n;
    return QL_OK;
}

const char *
ql_note_text(const struct ql_note *n, size_t *len)
{
    if (len != NULL)
        *len = n->text_len;
    return n->text;
}

size_t
ql_note_sig_count(const struct ql_note *n)
{
    return n->nsigs;
}

const struct ql_note_sig *
ql_note_sig(const struct ql_note *n, size_t i)
{
    return i < n->nsigs ? &n->sigs[i] : NULL;
}

void
ql_note_free(struct ql_note *n)
{
    free(n);
}

/*
 * Parses a tree size: ASCII digits, no sign or space, no leading zero but
 * in "0", below 2^63.
 */
static ql_err
parse_size(const char *s, size_t n, uint64_t *out, struct ql_diag *d)
{
    int shown = n > 32 ? 32 : (int)n;
    uint64_t v = 0;
    unsigned dig;
    size_t i;

    if (n == 0)
        return ql_fail(d, QL_EFORMAT, "checkpoint tree size line is empty");
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return ql_fail(d, QL_EFORMAT,
                           "checkpoint tree size '%.*s' is not a decimal "
                           "number",
                           shown, s);
    if (n > 1 && s[0] == '0')
        return ql_fail(d, QL_EFORMAT,
                       "checkpoint tree size '%.*s' has a leading zero", shown,
                       s);
    for (i = 0; i < n; i++) {
        dig = (unsigned)(s[i] - '0');
        if (v > (U63_MAX - dig) / 10)
            return ql_fail(d, QL_EFORMAT,
                           "checkpoint tree size '%.*s' is 2^63 or more", shown,
                           s);
        v = v * 10 + dig;
    }
    *out = v;
    return QL_OK;
}

ql_err
ql_checkpoint_parse(const char *text, size_t len, struct ql_checkpoint *cp,
                    struct ql_diag *d)
{
    struct ql_checkpoint c;
    const char *p, *end, *nl;
    size_t n, got = 0, lineno;
    ql_err rc;

    if ((rc = check_text(text, len, "checkpoint", d)) != QL_OK)
        return rc;
    memset(&c, 0, sizeof c);
    p = text;
    end = text + len;
    /* Every line ends in '\n': check_text saw the last one. */
    nl = memchr(p, '\n', (size_t)(end - p));
    n = (size_t)(nl - p);
    if (n == 0)
        return ql_fail(d, QL_EFORMAT, "checkpoint origin is empty");
    if (n > QL_ORIGIN_MAX)
        return ql_fail(d, QL_EFORMAT,
                       "checkpoint origin is %zu bytes, more than %d", n,
                       QL_ORIGIN_MAX);
    memcpy(c.origin, p, n);
    c.origin[n] = '\0';
    p = nl + 1;
    if (p == end)
        return ql_fail(d, QL_EFORMAT, "checkpoint has no tree size line");
    nl = memchr(p, '\n', (size_t)(end - p));
    if ((rc = parse_size(p, (size_t)(nl - p), &c.size, d)) != QL_OK)
        return rc;
    p = nl + 1;
    if (p == end)
        return ql_fail(d, QL_EFORMAT, "checkpoint has no root hash line");
    nl = memchr(p, '\n', (size_t)(end - p));
    n = (size_t)(nl - p);
    if (n != ROOT_B64_LEN || !b64_decode(p, n, c.root, sizeof c.root, &got) ||
        got != QL_HASH_LEN)
        return ql_fail(d, QL_EFORMAT,
                       "checkpoint root hash is not the base64 of %d bytes",
                       QL_HASH_LEN);
    p = nl + 1;
    if (p < end) {
        c.ext = p;
        c.ext_len = (size_t)(end - p);
        for (lineno = 4; p < end; lineno++) {
            if (*p == '\n')
                return ql_fail(d, QL_EFORMAT,
                               "checkpoint line %zu (an extension line) is "
                               "empty",
                               lineno);
            nl = memchr(p, '\n', (size_t)(end - p));
            p = nl + 1;
        }
    }
    *cp = c;
    return QL_OK;
}

ql_err
ql_checkpoint_format(const struct ql_checkpoint *cp, char **text, size_t *len,
                     struct ql_diag *d)
{
    char root[ROOT_B64_LEN + 1];
    char size[24];
    struct ql_checkpoint check;
    size_t olen, slen, need, pos;
    char *s;
    ql_err rc;

    if (cp == NULL)
        return ql_fail(d, QL_EUSAGE, "checkpoint is NULL");
    olen = strnlen(cp->origin, sizeof cp->origin);
    if (olen == sizeof cp->origin)
        return ql_fail(d, QL_EFORMAT, "checkpoint origin is more than %d bytes",
                       QL_ORIGIN_MAX);
    if (memchr(cp->origin, '\n', olen) != NULL)
        return ql_fail(d, QL_EFORMAT, "checkpoint origin holds a newline");
    if (cp->ext_len > 0 && cp->ext == NULL)
        return ql_fail(d, QL_EUSAGE, "checkpoint extension lines are NULL");
    if (cp->ext_len > QL_NOTE_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "checkpoint extension lines are %zu bytes, more than "
                       "the limit of %d",
                       cp->ext_len, QL_NOTE_MAX);
    snprintf(size, sizeof size, "%" PRIu64, cp->size);
    slen = strlen(size);
    ql_base64_encode(root, cp->root, QL_HASH_LEN);
    need = olen + 1 + slen + 1 + ROOT_B64_LEN + 1 + cp->ext_len;
    s = malloc(need + 1);
    if (s == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    memcpy(s, cp->origin, olen);
    pos = olen;
    s[pos++] = '\n';
    memcpy(s + pos, size, slen);
    pos += slen;
    s[pos++] = '\n';
    memcpy(s + pos, root, ROOT_B64_LEN);
    pos += ROOT_B64_LEN;
    s[pos++] = '\n';
    if (cp->ext_len > 0)
        memcpy(s + pos, cp->ext, cp->ext_len);
    pos += cp->ext_len;
    s[pos] = '\0';
    /*
     * Whatever the parser would refuse is refused here too, by the parser
     * itself, so that the two can never disagree.
     */
    if ((rc = ql_checkpoint_parse(s, pos, &check, d)) != QL_OK) {
        free(s);
        return rc;
    }
    *text = s;
    *len = pos;
    return QL_OK;
}

ql_err
ql_checkpoint_sign(const struct ql_key *log_key, const struct ql_checkpoint *cp,
                   char **note, size_t *note_len, struct ql_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    ql_err rc;

    if (log_key == NULL)
        return ql_fail(d, QL_EUSAGE, "log key is NULL");
    if ((rc = ql_checkpoint_format(cp, &text, &len, d)) != QL_OK)
        return rc;
    rc = ql_note_sign(text, len, &log_key, 1, note, note_len, d);
    free(text);
    return rc;
}

ql_err
ql_checkpoint_open(const char *note, size_t len, const struct ql_key *log_key,
                   struct ql_note_key *cosigners, size_t ncosigners,
                   struct ql_checkpoint *cp, struct ql_diag *d)
{
    struct ql_note_key keys[QL_NOTE_MAX_KEYS];
    struct ql_checkpoint c;
    size_t tlen = 0, i;
    ql_err rc;

    if (log_key == NULL)
        return ql_fail(d, QL_EUSAGE, "log key is NULL");
    if (ncosigners > QL_NOTE_MAX_KEYS - 1 ||
        (ncosigners > 0 && cosigners == NULL))
        return ql_fail(d, QL_EUSAGE,
                       "a checkpoint is checked against at most %d "
                       "cosigners",
                       QL_NOTE_MAX_KEYS - 1);
    memset(keys, 0, sizeof keys);
    keys[0].key = log_key;
    for (i = 0; i < ncosigners; i++)
        keys[i + 1] = cosigners[i];
    if ((rc = ql_note_verify(note, len, keys, ncosigners + 1, &tlen, d)) !=
        QL_OK)
        return rc;
    if (!keys[0].verified)
        return ql_fail(d, QL_EVERIFY,
                       "checkpoint has no signature by log key '%s'",
                       ql_key_name(log_key));
    if ((rc = ql_checkpoint_parse(note, tlen, &c, d)) != QL_OK)
        return rc;
    for (i = 0; i < ncosigners; i++) {
        cosigners[i].verified = keys[i + 1].verified;
        cosigners[i].timestamp = keys[i + 1].timestamp;
    }
    *cp = c;
    return QL_OK;
}

ql_err
ql_cosig_sign(const struct ql_key *cosigner, const char *text, size_t len,
              uint64_t timestamp, char **line, size_t *line_len,
              struct ql_diag *d)
{
    struct ql_checkpoint cp;
    uint8_t raw[4 + 8 + QL_SIG_MAX], *msg = NULL;
    size_t mlen = 0, sig_len = 0;
    ql_err rc;

    if (cosigner == NULL)
        return ql_fail(d, QL_EUSAGE, "cosigner key is NULL");
    if (!is_ed25519(cosigner))
        return ql_fail(d, QL_EUNSUPPORTED,
                       "key '%s' cannot cosign: cosignature/v1 needs an "
                       "Ed25519 key",
                       ql_key_name(cosigner));
    if (timestamp > U63_MAX)
        return ql_fail(d, QL_EUSAGE,
                       "cosignature time %" PRIu64 " is past 2^63 - 1",
                       timestamp);
    /* A cosigner vouches for a checkpoint, so it signs nothing else. */
    if ((rc = check_signer_name(cosigner, d)) != QL_OK ||
        (rc = ql_checkpoint_parse(text, len, &cp, d)) != QL_OK ||
        (rc = cosig_message(timestamp, text, len, &msg, &mlen, d)) != QL_OK)
        return rc;
    rc = ql_key_sign(cosigner, msg, mlen, raw + 12, &sig_len, d);
    free(msg);
    if (rc != QL_OK)
        return rc;
    store_be32(raw, ql_key_id(cosigner, QL_KEYTYPE_COSIG));
    store_be64(raw + 4, timestamp);
    return make_line(ql_key_name(cosigner), raw, 12 + sig_len, line, line_len,
                     d);
}

ql_err
ql_cosig_verify(const struct ql_key *cosigner, const char *text, size_t len,
                const char *line, size_t line_len, uint64_t *timestamp,
                struct ql_diag *d)
{
    struct sigline sl;
    uint32_t id;
    uint64_t t = 0;
    ql_err rc;

    if (cosigner == NULL)
        return ql_fail(d, QL_EUSAGE, "cosigner key is NULL");
    if (!is_ed25519(cosigner))
        return ql_fail(d, QL_EUNSUPPORTED,
                       "key '%s' cannot be a cosigner: cosignature/v1 needs "
                       "an Ed25519 key",
                       ql_key_name(cosigner));
    if ((rc = check_text(text, len, "note text", d)) != QL_OK ||
        (rc = parse_single_line(line, line_len, &sl, d)) != QL_OK)
        return rc;
    id = ql_key_id(cosigner, QL_KEYTYPE_COSIG);
    if (!line_is_by(&sl, ql_key_name(cosigner), id))
        return ql_fail(d, QL_EVERIFY,
                       "signature line is by key '%.*s' (ID %08" PRIx32
                       "), not by cosigner '%s' (ID %08" PRIx32 ")",
                       (int)sl.name_len, sl.name, sl.id, ql_key_name(cosigner),
                       id);
    if ((rc = check_sig(cosigner, QL_KEYTYPE_COSIG, text, len, &sl, &t, d)) !=
        QL_OK)
        return rc;
    *timestamp = t;
    return QL_OK;
}
