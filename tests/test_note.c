/*
 * Tests of ql_note: signed notes, checkpoints and cosignatures.
 *
 * Known answers: the public signed-note examples (tests/data/signed-note.txt,
 * with a published seed for one of them), the C2SP spec's own checkpoint and
 * cosignature examples, and qingling's worked examples from
 * docs/formats.md (tests/data/note-examples.txt), which must be reproduced
 * byte for byte. Then forgeries: every single-byte change of a published
 * note, every truncation, a table of hostile notes and checkpoints, and
 * random mutations of a cosigned checkpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_keys.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_test.h"

#define EM_DASH "\xe2\x80\x94"
/* 2026-01-01T00:00:00Z, the cosignature time of the worked examples. */
#define EXAMPLE_TIME UINT64_C(1767225600)

/* ---- helpers ---- */

/* Concatenates NUL-terminated strings up to a NULL; caller frees. */
static char *
cat(const char *first, ...)
{
    va_list ap;
    const char *s;
    size_t n = 0;
    char *out;

    va_start(ap, first);
    for (s = first; s != NULL; s = va_arg(ap, const char *))
        n += strlen(s);
    va_end(ap);
    out = malloc(n + 1);
    assert_non_null(out);
    n = 0;
    va_start(ap, first);
    for (s = first; s != NULL; s = va_arg(ap, const char *)) {
        memcpy(out + n, s, strlen(s));
        n += strlen(s);
    }
    va_end(ap);
    out[n] = '\0';
    return out;
}

static char *
xstrdup(const char *s)
{
    return cat(s, (const char *)NULL);
}

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard padded base64 of p; caller frees. */
static char *
b64_encode(const uint8_t *p, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1);
    size_t i, o = 0;
    uint32_t v;

    assert_non_null(out);
    for (i = 0; i < n; i += 3) {
        v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* Decodes padded base64 into out; returns the byte count. */
static size_t
b64_decode(const char *s, uint8_t *out, size_t cap)
{
    uint32_t v = 0;
    size_t bits = 0, n = 0;
    const char *c;

    for (; *s != '\0' && *s != '='; s++) {
        c = strchr(B64, *s);
        assert_non_null(c);
        v = v << 6 | (uint32_t)(c - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            assert_true(n < cap);
            out[n++] = (uint8_t)(v >> bits);
        }
    }
    return n;
}

/* "— name base64(be32(id) || payload)\n"; caller frees. */
static char *
make_line(const char *name, uint32_t id, const uint8_t *payload, size_t plen)
{
    uint8_t raw[4096];
    char *b, *line;

    assert_true(plen + 4 <= sizeof raw);
    raw[0] = (uint8_t)(id >> 24);
    raw[1] = (uint8_t)(id >> 16);
    raw[2] = (uint8_t)(id >> 8);
    raw[3] = (uint8_t)id;
    memcpy(raw + 4, payload, plen);
    b = b64_encode(raw, plen + 4);
    line = cat(EM_DASH " ", name, " ", b, "\n", (const char *)NULL);
    free(b);
    return line;
}

/* Replaces "\n" escapes by newlines, in place. */
static char *
unescape(char *s)
{
    char *r = s, *w = s;

    while (*r != '\0') {
        if (r[0] == '\\' && r[1] == 'n') {
            *w++ = '\n';
            r += 2;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return s;
}

/* A key pair from a seed of 32 copies of byte b. */
static struct ql_key *
seeded_key(const char *name, uint8_t b)
{
    uint8_t seed[32];
    struct ql_key *k = NULL;
    struct ql_diag d = {0};

    memset(seed, b, sizeof seed);
    if (ql_key_from_seed(ql_profile_default(), name, seed, &k, &d) != QL_OK)
        fail_msg("ql_key_from_seed(%s): %s", name, d.msg);
    return k;
}

static struct ql_key *
public_of(const struct ql_key *k)
{
    struct ql_key *p = NULL;
    struct ql_diag d = {0};

    if (ql_key_public_copy(k, &p, &d) != QL_OK)
        fail_msg("ql_key_public_copy: %s", d.msg);
    return p;
}

/* Signs text (NUL-terminated) with the keys; caller frees. */
static char *
sign_with(const char *text, const struct ql_key *const *keys, size_t n,
          size_t *len)
{
    char *note = NULL;
    size_t nlen = 0;
    struct ql_diag d = {0};

    if (ql_note_sign(text, strlen(text), keys, n, &note, &nlen, &d) != QL_OK)
        fail_msg("ql_note_sign: %s", d.msg);
    if (len != NULL)
        *len = nlen;
    return note;
}

/* Verifies note against one ordinary key. */
static ql_err
verify1(const char *note, size_t len, const struct ql_key *k, struct ql_diag *d)
{
    struct ql_note_key nk = {k, 0, false, 0};

    return ql_note_verify(note, len, &nk, 1, NULL, d);
}

/* Asserts rc and that the message holds want (when want is not NULL). */
static void
expect(const char *what, ql_err rc, const struct ql_diag *d, ql_err want_rc,
       const char *want)
{
    if (rc != want_rc)
        fail_msg("%s: got %s (%s), want %s", what, ql_errname(rc),
                 rc == QL_OK ? "" : d->msg, ql_errname(want_rc));
    if (want_rc != QL_OK && want != NULL && strstr(d->msg, want) == NULL)
        fail_msg("%s: message '%s' lacks '%s'", what, d->msg, want);
    if (want_rc != QL_OK && d->msg[0] == '\0')
        fail_msg("%s: empty message", what);
}

/* ---- the published examples ---- */

struct example {
    char *vkey, *skey, *text, *sig;
};

#define MAX_EXAMPLES 8

/* Reads tests/data/signed-note.txt; returns the number of examples. */
static size_t
load_examples(struct example *ex)
{
    char *path = qlt_data_path("signed-note.txt");
    char *buf = qlt_read_file(path, NULL);
    char *line, *save = NULL;
    size_t n = 0;

    free(path);
    memset(ex, 0, MAX_EXAMPLES * sizeof *ex);
    for (line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        if (strncmp(line, "vkey ", 5) == 0) {
            assert_true(n < MAX_EXAMPLES);
            ex[n++].vkey = xstrdup(line + 5);
        } else if (n > 0 && strncmp(line, "skey ", 5) == 0) {
            ex[n - 1].skey = xstrdup(line + 5);
        } else if (n > 0 && strncmp(line, "text ", 5) == 0) {
            ex[n - 1].text = unescape(xstrdup(line + 5));
        } else if (n > 0 && strncmp(line, "sig  ", 5) == 0) {
            ex[n - 1].sig = xstrdup(line + 5);
        }
    }
    free(buf);
    for (size_t i = 0; i < n; i++)
        assert_true(ex[i].vkey && ex[i].text && ex[i].sig);
    assert_true(n >= 2);
    return n;
}

static void
free_examples(struct example *ex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ex[i].vkey);
        free(ex[i].skey);
        free(ex[i].text);
        free(ex[i].sig);
    }
}

static struct ql_key *
parse_vkey(const char *vkey, bool cosig)
{
    struct ql_key *k = NULL;
    struct ql_diag d = {0};

    if (ql_key_parse_vkey(vkey, cosig, &k, &d) != QL_OK)
        fail_msg("ql_key_parse_vkey(%s): %s", vkey, d.msg);
    return k;
}

static void
test_published_vectors(void **state)
{
    struct example ex[MAX_EXAMPLES];
    size_t n = load_examples(ex), with_seed = 0;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        struct ql_key *pub = parse_vkey(ex[i].vkey, false);
        char *note = cat(ex[i].text, "\n", ex[i].sig, "\n", (const char *)NULL);
        struct ql_note_key nk = {pub, 0, false, 0};
        struct ql_diag d = {0};
        struct ql_note *parsed = NULL;
        const struct ql_note_sig *s;
        size_t tlen = 0;

        print_message("published example %zu: %s\n", i, ql_key_name(pub));
        expect("verify", ql_note_verify(note, strlen(note), &nk, 1, &tlen, &d),
               &d, QL_OK, NULL);
        assert_int_equal(tlen, strlen(ex[i].text));
        assert_true(nk.verified);
        assert_int_equal(nk.timestamp, 0);

        expect("parse", ql_note_parse(note, strlen(note), &parsed, &d), &d,
               QL_OK, NULL);
        assert_string_equal(ql_note_text(parsed, NULL), ex[i].text);
        assert_int_equal(ql_note_sig_count(parsed), 1);
        s = ql_note_sig(parsed, 0);
        assert_string_equal(s->name, ql_key_name(pub));
        assert_int_equal(s->id, ql_key_id(pub, 0));
        assert_int_equal(s->sig_len, 64);
        assert_null(ql_note_sig(parsed, 1));
        ql_note_free(parsed);

        if (ex[i].skey != NULL) {
            /* PRIVATE+KEY+<name>+<id>+base64(0x01 || seed) */
            char *sk = xstrdup(ex[i].skey), *name, *id, *b64, *save = NULL;
            uint8_t raw[64];
            struct ql_key *k = NULL;
            char *vkey = NULL, *signed_note = NULL, *line = NULL;
            size_t len = 0, llen = 0;
            char idhex[9];

            assert_non_null(strtok_r(sk, "+", &save));
            assert_non_null(strtok_r(NULL, "+", &save));
            name = strtok_r(NULL, "+", &save);
            id = strtok_r(NULL, "+", &save);
            b64 = strtok_r(NULL, "", &save);
            assert_true(name && id && b64);
            assert_int_equal(b64_decode(b64, raw, sizeof raw), 33);
            assert_int_equal(raw[0], 0x01);
            expect(
                "from seed",
                ql_key_from_seed(ql_profile_default(), name, raw + 1, &k, &d),
                &d, QL_OK, NULL);
            snprintf(idhex, sizeof idhex, "%08" PRIx32, ql_key_id(k, 0));
            assert_string_equal(idhex, id);
            expect("vkey", ql_key_vkey(k, 0, &vkey, &d), &d, QL_OK, NULL);
            assert_string_equal(vkey, ex[i].vkey);
            /* Ed25519 is deterministic: the published bytes come back. */
            expect("sign",
                   ql_note_sign(ex[i].text, strlen(ex[i].text),
                                (const struct ql_key *const *)&k, 1,
                                &signed_note, &len, &d),
                   &d, QL_OK, NULL);
            assert_int_equal(len, strlen(note));
            assert_memory_equal(signed_note, note, len);
            expect("sign line",
                   ql_note_sign_line(k, ex[i].text, strlen(ex[i].text), &line,
                                     &llen, &d),
                   &d, QL_OK, NULL);
            assert_int_equal(llen, strlen(ex[i].sig) + 1);
            assert_memory_equal(line, ex[i].sig, llen - 1);
            assert_int_equal(line[llen - 1], '\n');
            with_seed++;
            free(line);
            free(signed_note);
            free(vkey);
            ql_key_free(k);
            free(sk);
        }
        free(note);
        ql_key_free(pub);
    }
    assert_true(with_seed >= 1);
    free_examples(ex, n);
}

/*
 * Every single-byte change (xor 0x01) of every published note must fail:
 * in the text as a bad signature, in the signature line as a malformed
 * line, a bad signature, or a signature by a key nobody knows.
 */
static void
test_published_every_byte(void **state)
{
    struct example ex[MAX_EXAMPLES];
    size_t n = load_examples(ex);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        struct ql_key *pub = parse_vkey(ex[i].vkey, false);
        char *note = cat(ex[i].text, "\n", ex[i].sig, "\n", (const char *)NULL);
        size_t len = strlen(note), tlen = strlen(ex[i].text);
        size_t name_at = tlen + 1 + 4;
        size_t name_end = name_at + strlen(ql_key_name(pub));
        size_t bad_sig = 0, bad_format = 0, unknown = 0;

        for (size_t at = 0; at < len; at++) {
            struct ql_diag d = {0};
            ql_err rc;

            note[at] ^= 0x01;
            rc = verify1(note, len, pub, &d);
            note[at] ^= 0x01;
            if (rc == QL_OK)
                fail_msg("example %zu: flipping byte %zu still verifies", i,
                         at);
            assert_true(d.msg[0] != '\0');
            if (at < tlen && note[at] != '\n') {
                /* A changed text: the signature no longer covers it. */
                expect("text flip", rc, &d, QL_EVERIFY, "does not verify");
            } else if (at >= name_at && at < name_end) {
                /* A changed name: now an unknown key, so none is known. */
                if (rc == QL_EVERIFY)
                    expect("name flip", rc, &d, QL_EVERIFY,
                           "no signature by a known key");
                else
                    expect("name flip", rc, &d, QL_EFORMAT, NULL);
            } else if (rc != QL_EFORMAT && rc != QL_EVERIFY) {
                fail_msg("example %zu byte %zu: unexpected %s (%s)", i, at,
                         ql_errname(rc), d.msg);
            }
            if (rc == QL_EFORMAT)
                bad_format++;
            else if (strstr(d.msg, "no signature by a known key") != NULL)
                unknown++;
            else
                bad_sig++;
        }
        print_message("example %zu: %zu flips: %zu bad signature, %zu "
                      "malformed, %zu unknown key\n",
                      i, len, bad_sig, bad_format, unknown);
        assert_int_equal(bad_sig + bad_format + unknown, len);
        assert_true(bad_sig > 0 && bad_format > 0 && unknown > 0);
        free(note);
        ql_key_free(pub);
    }
    free_examples(ex, n);
}

/* The examples in the C2SP specs themselves, parsed without keys. */
static void
test_spec_examples(void **state)
{
    static const char checkpoint[] =
        "example.com/behind-the-sofa\n"
        "20852163\n"
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        "\n" EM_DASH " example.com/behind-the-sofa "
        "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzG"
        "ku9nTo+zyWE+xeMcTOAYQ8=\n" EM_DASH " witness.example.com/w1 "
        "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2o"
        "yin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
    static const char poem[] =
        "Ognuno sta solo sul cuor della terra\n"
        "trafitto da un raggio di sole:\n"
        "\n"
        "ed \xc3\xa8 subito sera.\n"
        "\n" EM_DASH " quasimodo.example/salvatore "
        "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcX"
        "xj99ihAQwaqP3ZekRwNtIc=\n";
    struct ql_note *n = NULL;
    struct ql_checkpoint cp;
    struct ql_diag d = {0};
    const struct ql_note_sig *s;
    const char *text;
    char *again = NULL;
    size_t tlen = 0, alen = 0;
    uint64_t t = 0;

    (void)state;
    expect("parse checkpoint",
           ql_note_parse(checkpoint, strlen(checkpoint), &n, &d), &d, QL_OK,
           NULL);
    assert_int_equal(ql_note_sig_count(n), 2);
    s = ql_note_sig(n, 0);
    assert_string_equal(s->name, "example.com/behind-the-sofa");
    assert_int_equal(s->sig_len, 64);
    s = ql_note_sig(n, 1);
    assert_string_equal(s->name, "witness.example.com/w1");
    assert_int_equal(s->id, 0x8d66cf3f);
    assert_int_equal(s->sig_len, 8 + 64);
    for (int i = 0; i < 8; i++)
        t = t << 8 | s->sig[i];
    /* The spec's signed-message example shows the same time. */
    assert_int_equal(t, 1679315147);
    text = ql_note_text(n, &tlen);
    expect("checkpoint body", ql_checkpoint_parse(text, tlen, &cp, &d), &d,
           QL_OK, NULL);
    assert_string_equal(cp.origin, "example.com/behind-the-sofa");
    assert_int_equal(cp.size, 20852163);
    assert_null(cp.ext);
    assert_int_equal(cp.ext_len, 0);
    /* Formatting it again gives the same text, root hash included. */
    expect("format", ql_checkpoint_format(&cp, &again, &alen, &d), &d, QL_OK,
           NULL);
    assert_int_equal(alen, tlen);
    assert_memory_equal(again, text, tlen);
    free(again);
    ql_note_free(n);

    /* The text holds a blank line: the split is at the last one. */
    expect("parse poem", ql_note_parse(poem, strlen(poem), &n, &d), &d, QL_OK,
           NULL);
    text = ql_note_text(n, &tlen);
    assert_int_equal(tlen, strstr(poem, "sera.\n") + 6 - poem);
    assert_memory_equal(text, poem, tlen);
    assert_int_equal(ql_note_sig_count(n), 1);
    assert_string_equal(ql_note_sig(n, 0)->name, "quasimodo.example/salvatore");
    ql_note_free(n);
}

/* ---- our own notes ---- */

struct keyset {
    struct ql_key *alice, *bob, *log, *auditor, *mallory;
};

static int
setup_keys(void **state)
{
    struct keyset *ks = calloc(1, sizeof *ks);

    if (ks == NULL)
        return -1;
    ks->alice = seeded_key("qingling.example/alice", 0x01);
    ks->bob = seeded_key("qingling.example/bob", 0x02);
    ks->log = seeded_key("qingling.example/county-a", 0x03);
    ks->auditor = seeded_key("qingling.example/auditor-1", 0x04);
    ks->mallory = seeded_key("qingling.example/mallory", 0x05);
    *state = ks;
    return 0;
}

static int
teardown_keys(void **state)
{
    struct keyset *ks = *state;

    ql_key_free(ks->alice);
    ql_key_free(ks->bob);
    ql_key_free(ks->log);
    ql_key_free(ks->auditor);
    ql_key_free(ks->mallory);
    free(ks);
    return 0;
}

static const char TWO_TEXT[] = "An example note signed by two keys.\n"
                               "\xe7\xa4\xba\xe4\xbe\x8b\xef\xbc\x9a"
                               "\xe7\x94\xb1\xe4\xb8\xa4\xe6\x8a\x8a"
                               "\xe5\xaf\x86\xe9\x92\xa5\xe7\xad\xbe"
                               "\xe5\x90\x8d\xe3\x80\x82\n";

static void
test_two_signers(void **state)
{
    struct keyset *ks = *state;
    const struct ql_key *both[2] = {ks->alice, ks->bob};
    struct ql_key *alice_pub = public_of(ks->alice);
    struct ql_key *bob_pub = public_of(ks->bob);
    struct ql_note_key nk[2] = {{alice_pub, 0, false, 9},
                                {bob_pub, 0, false, 9}};
    struct ql_diag d = {0};
    char *note, *again, *first, *line = NULL, *joined = NULL, *twice = NULL;
    size_t len, alen, flen, llen = 0, jlen = 0, tlen = 0, tw = 0;

    (void)state;
    note = sign_with(TWO_TEXT, both, 2, &len);
    again = sign_with(TWO_TEXT, both, 2, &alen);
    assert_int_equal(len, alen);
    assert_memory_equal(note, again, len); /* deterministic */
    assert_int_equal(note[len], '\0');

    expect("both known", ql_note_verify(note, len, nk, 2, &tlen, &d), &d, QL_OK,
           NULL);
    assert_int_equal(tlen, strlen(TWO_TEXT));
    assert_true(nk[0].verified && nk[1].verified);
    assert_int_equal(nk[0].timestamp, 0);
    assert_int_equal(nk[1].timestamp, 0);

    /* Only bob known: alice's line is ignored, bob's counts. */
    nk[1].verified = false;
    expect("bob known", ql_note_verify(note, len, &nk[1], 1, NULL, &d), &d,
           QL_OK, NULL);
    assert_true(nk[1].verified);

    /* Nobody known. */
    expect("unknown signers", verify1(note, len, ks->mallory, &d), &d,
           QL_EVERIFY, "no signature by a known key (2 by unknown keys)");

    /* The approval flow: alice signs, bob's line is added later. */
    first = sign_with(TWO_TEXT, both, 1, &flen);
    nk[0].verified = nk[1].verified = true;
    expect("pending", ql_note_verify(first, flen, nk, 2, NULL, &d), &d, QL_OK,
           NULL);
    assert_true(nk[0].verified);
    assert_false(nk[1].verified); /* the engine sees the approval missing */
    expect("bob's line",
           ql_note_sign_line(ks->bob, TWO_TEXT, strlen(TWO_TEXT), &line, &llen,
                             &d),
           &d, QL_OK, NULL);
    expect("append",
           ql_note_append(first, flen, line, llen, &joined, &jlen, &d), &d,
           QL_OK, NULL);
    assert_int_equal(jlen, len);
    assert_memory_equal(joined, note, len);
    expect("append again",
           ql_note_append(joined, jlen, line, llen, &twice, &tw, &d), &d,
           QL_EEXIST, "already has a signature by key 'qingling.example/bob'");
    assert_null(twice);

    free(line);
    free(joined);
    free(first);
    free(again);
    free(note);
    ql_key_free(alice_pub);
    ql_key_free(bob_pub);
}

/* A note cut anywhere short of its end is refused. */
static void
test_truncations(void **state)
{
    struct keyset *ks = *state;
    const struct ql_key *both[2] = {ks->alice, ks->bob};
    struct ql_note_key nk[2] = {{ks->alice, 0, false, 0},
                                {ks->bob, 0, false, 0}};
    size_t len, len2, ok = 0, first_end;
    char *one = sign_with("hello\n", both, 1, &len);
    char *two = sign_with("hello\n", both, 2, &len2);

    for (size_t cut = 0; cut < len; cut++) {
        struct ql_diag d = {0};
        ql_err rc = verify1(one, cut, ks->alice, &d);

        if (rc != QL_EFORMAT && rc != QL_EVERIFY)
            fail_msg("cut at %zu: got %s (%s)", cut, ql_errname(rc), d.msg);
    }
    /*
     * With two signers exactly one cut verifies: after the first line.
     * Dropping a whole signature line is allowed by the format, which is
     * why callers check each signer's flag.
     */
    first_end = len;
    for (size_t cut = 0; cut < len2; cut++) {
        struct ql_diag d = {0};
        ql_err rc = ql_note_verify(two, cut, nk, 2, NULL, &d);

        if (rc == QL_OK) {
            ok++;
            assert_int_equal(cut, first_end);
            assert_true(nk[0].verified);
            assert_false(nk[1].verified);
        } else if (rc != QL_EFORMAT && rc != QL_EVERIFY) {
            fail_msg("cut at %zu: got %s (%s)", cut, ql_errname(rc), d.msg);
        }
    }
    assert_int_equal(ok, 1);
    free(one);
    free(two);
}

struct bad_note {
    const char *name;
    char *note;
    size_t len; /* 0: strlen */
    ql_err rc;
    const char *msg;
};

static void
run_bad_notes(struct bad_note *t, size_t n, struct ql_note_key *keys,
              size_t nkeys)
{
    for (size_t i = 0; i < n; i++) {
        struct ql_diag d = {0};
        struct ql_note *parsed = NULL;
        size_t len = t[i].len ? t[i].len : strlen(t[i].note);
        size_t tlen = 12345;
        ql_err rc;

        print_message("hostile note: %s\n", t[i].name);
        for (size_t k = 0; k < nkeys; k++)
            keys[k].verified = false;
        rc = ql_note_verify(t[i].note, len, keys, nkeys, &tlen, &d);
        expect(t[i].name, rc, &d, t[i].rc, t[i].msg);
        assert_int_equal(tlen, 12345); /* untouched on failure */
        for (size_t k = 0; k < nkeys; k++)
            assert_false(keys[k].verified);
        /* The parser agrees on every format error. */
        if (t[i].rc == QL_EFORMAT || t[i].rc == QL_ETOOBIG) {
            rc = ql_note_parse(t[i].note, len, &parsed, &d);
            expect(t[i].name, rc, &d, t[i].rc, t[i].msg);
            assert_null(parsed);
        }
        free(t[i].note);
    }
}

static void
test_hostile_notes(void **state)
{
    struct keyset *ks = *state;
    const struct ql_key *a[1] = {ks->alice};
    const struct ql_key *ab[2] = {ks->alice, ks->bob};
    struct ql_note_key known[2] = {{ks->alice, 0, false, 0},
                                   {ks->bob, 0, false, 0}};
    uint32_t aid = ql_key_id(ks->alice, 0);
    size_t glen;
    char *good = sign_with("hello\n", a, 1, &glen);
    const char *line = good + 7; /* "hello\n\n" */
    char *sigonly, *nonl, *big, *many, *tmp, *b64;
    uint8_t payload[80], raw[200];
    size_t rawlen;
    struct bad_note t[64];
    size_t n = 0;

    (void)state;
    memset(payload, 0xAB, sizeof payload);
    /* The line without its final newline, and its base64 alone. */
    nonl = xstrdup(line);
    nonl[strlen(nonl) - 1] = '\0';
    sigonly = xstrdup(strrchr(nonl, ' ') + 1);

#define ROW(nm, s, l, r, m) t[n++] = (struct bad_note){nm, s, l, r, m}
    ROW("empty", xstrdup(""), 0, QL_EFORMAT, "note is empty");
    ROW("text only", xstrdup("hello\n"), 0, QL_EFORMAT, "no blank line");
    ROW("no blank line", cat("hello\n", line, (const char *)NULL), 0,
        QL_EFORMAT, "no blank line");
    ROW("empty text", cat("\n\n", line, (const char *)NULL), 0, QL_EFORMAT,
        "note text is empty");
    ROW("newlines only", cat("\n\n\n\n", line, (const char *)NULL), 0,
        QL_EFORMAT, "note text is empty");
    ROW("no signatures", xstrdup("hello\n\n"), 0, QL_EFORMAT,
        "no signature lines");
    ROW("last line unterminated", cat("hello\n\n", nonl, (const char *)NULL), 0,
        QL_EFORMAT, "does not end with a newline");
    ROW("overlong slash", cat("he\xc0\xafllo\n\n", line, (const char *)NULL), 0,
        QL_EFORMAT, "not valid UTF-8 at byte 2");
    ROW("overlong NUL", cat("he\xc0\x80llo\n\n", line, (const char *)NULL), 0,
        QL_EFORMAT, "not valid UTF-8 at byte 2");
    ROW("overlong 3-byte", cat("\xe0\x80\xaf\n\n", line, (const char *)NULL), 0,
        QL_EFORMAT, "not valid UTF-8 at byte 0");
    ROW("surrogate", cat("a\xed\xa0\x80\n\n", line, (const char *)NULL), 0,
        QL_EFORMAT, "not valid UTF-8 at byte 1");
    ROW("lone continuation", cat("a\x80z\n\n", line, (const char *)NULL), 0,
        QL_EFORMAT, "not valid UTF-8 at byte 1");
    ROW("cut sequence", cat("a\xe4\xb8\n\n", line, (const char *)NULL), 0,
        QL_EFORMAT, "not valid UTF-8 at byte 1");
    ROW("past U+10FFFF", cat("a\xf4\x90\x80\x80\n\n", line, (const char *)NULL),
        0, QL_EFORMAT, "not valid UTF-8 at byte 1");
    ROW("byte 0xff", cat("a\xff\n\n", line, (const char *)NULL), 0, QL_EFORMAT,
        "not valid UTF-8 at byte 1");
    ROW("CR", cat("hello\r\n\n", line, (const char *)NULL), 0, QL_EFORMAT,
        "control character U+000D at byte 5");
    ROW("tab", cat("a\tb\n\n", line, (const char *)NULL), 0, QL_EFORMAT,
        "control character U+0009 at byte 1");
    tmp = cat("a#b\n\n", line, (const char *)NULL);
    tmp[1] = '\0';
    ROW("NUL", tmp, strlen(line) + 5, QL_EFORMAT,
        "control character U+0000 at byte 1");
    ROW("DEL", cat("a\x7f\n\n", line, (const char *)NULL), 0, QL_EFORMAT,
        "control character U+007F at byte 1");
    ROW("C1 NEL", cat("a\xc2\x85\n\n", line, (const char *)NULL), 0, QL_EFORMAT,
        "control character U+0085 at byte 1");
    ROW("tab in signature line",
        cat("hello\n\n" EM_DASH " qingling.example/alice\t", sigonly, "\n",
            (const char *)NULL),
        0, QL_EFORMAT, "control character U+0009");
    big = malloc(QL_NOTE_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', QL_NOTE_MAX + 1);
    big[QL_NOTE_MAX - 200] = '\n';
    big[QL_NOTE_MAX - 199] = '\n';
    memcpy(big + QL_NOTE_MAX - 198, line, strlen(line));
    big[QL_NOTE_MAX + 1] = '\0';
    ROW("one byte too big", big, QL_NOTE_MAX + 1, QL_ETOOBIG,
        "more than the limit of 1048576");
    many = cat("hello\n\n", (const char *)NULL);
    for (int i = 0; i < 101; i++) {
        tmp = make_line("x.example/other", (uint32_t)i, payload, 64);
        char *grown = cat(many, tmp, (const char *)NULL);
        free(many);
        free(tmp);
        many = grown;
    }
    ROW("101 signatures", many, 0, QL_ETOOBIG,
        "has 101 signature lines, more than the limit of 100");
    ROW("not base64", cat("hello\n\n" EM_DASH " k !!!!\n", (const char *)NULL),
        0, QL_EFORMAT, "signature line 1 is not canonical padded base64");
    ROW("base64 length",
        cat("hello\n\n" EM_DASH " k AAAAA\n", (const char *)NULL), 0,
        QL_EFORMAT, "not canonical padded base64");
    ROW("base64 stray bits",
        cat("hello\n\n" EM_DASH " k AAAAAAB=\n", (const char *)NULL), 0,
        QL_EFORMAT, "not canonical padded base64");
    ROW("base64 inner padding",
        cat("hello\n\n" EM_DASH " k AAAAAA==AAAA\n", (const char *)NULL), 0,
        QL_EFORMAT, "not canonical padded base64");
    {
        /*
         * Long lines are decoded in 128-character pieces: padding that
         * ends the first piece must not pass as the end of the string.
         */
        char pad[133];

        memset(pad, 'A', 132);
        pad[126] = pad[127] = '=';
        pad[132] = '\0';
        ROW("base64 padding between pieces",
            cat("hello\n\n" EM_DASH " k ", pad, "\n", (const char *)NULL), 0,
            QL_EFORMAT, "not canonical padded base64");
    }
    tmp = cat(good, (const char *)NULL);
    tmp[strlen(tmp) - 2] = '\n'; /* drop the '=' padding */
    tmp[strlen(tmp) - 1] = '\0';
    ROW("base64 missing padding", tmp, 0, QL_EFORMAT,
        "not canonical padded base64");
    ROW("hyphen",
        cat("hello\n\n- qingling.example/alice ", sigonly, "\n",
            (const char *)NULL),
        0, QL_EFORMAT, "does not start with an em dash");
    ROW("en dash",
        cat("hello\n\n\xe2\x80\x93 qingling.example/alice ", sigonly, "\n",
            (const char *)NULL),
        0, QL_EFORMAT, "does not start with an em dash");
    ROW("no space after dash",
        cat("hello\n\n" EM_DASH "qingling.example/alice ", sigonly, "\n",
            (const char *)NULL),
        0, QL_EFORMAT, "does not start with an em dash");
    ROW("second line no dash", cat(good, "x\n", (const char *)NULL), 0,
        QL_EFORMAT, "signature line 2 does not start with an em dash");
    ROW("no space before signature",
        cat("hello\n\n" EM_DASH " qingling.example/alice", sigonly, "\n",
            (const char *)NULL),
        0, QL_EFORMAT, "no space between key name and signature");
    ROW("no key name",
        cat("hello\n\n" EM_DASH "  ", sigonly, "\n", (const char *)NULL), 0,
        QL_EFORMAT, "has no key name");
    ROW("plus in name",
        cat("hello\n\n" EM_DASH " a+b ", sigonly, "\n", (const char *)NULL), 0,
        QL_EFORMAT, "invalid key name");
    ROW("ideographic space in name",
        cat("hello\n\n" EM_DASH " a\xe3\x80\x80"
            "b ",
            sigonly, "\n", (const char *)NULL),
        0, QL_EFORMAT, "invalid key name");
    ROW("two spaces",
        cat("hello\n\n" EM_DASH " qingling.example/alice  ", sigonly, "\n",
            (const char *)NULL),
        0, QL_EFORMAT, "not canonical padded base64");
    ROW("trailing space",
        cat("hello\n\n" EM_DASH " qingling.example/alice ", sigonly, " \n",
            (const char *)NULL),
        0, QL_EFORMAT, "not canonical padded base64");
    ROW("empty signature",
        cat("hello\n\n" EM_DASH " qingling.example/alice \n",
            (const char *)NULL),
        0, QL_EFORMAT, "has no signature");
    tmp = make_line("qingling.example/alice", aid, payload, 0);
    ROW("key ID only", cat("hello\n\n", tmp, (const char *)NULL), 0, QL_EFORMAT,
        "holds 4 bytes");
    free(tmp);
    tmp = make_line("qingling.example/alice", aid, payload, 63);
    ROW("signature one byte short", cat("hello\n\n", tmp, (const char *)NULL),
        0, QL_EVERIFY,
        "signature by key 'qingling.example/alice' is 67 bytes, not 68");
    free(tmp);
    tmp = make_line("qingling.example/alice", aid, payload, 65);
    ROW("signature one byte long", cat("hello\n\n", tmp, (const char *)NULL), 0,
        QL_EVERIFY, "is 69 bytes, not 68");
    free(tmp);
    tmp = make_line("qingling.example/alice", aid, payload, 64);
    ROW("garbage signature", cat("hello\n\n", tmp, (const char *)NULL), 0,
        QL_EVERIFY,
        "signature by key 'qingling.example/alice' does not verify");
    free(tmp);
    ROW("unknown key only",
        sign_with("hello\n", (const struct ql_key *const *)&ks->mallory, 1,
                  NULL),
        0, QL_EVERIFY, "no signature by a known key (1 by unknown keys)");
    /* Name or ID alone matching a known key is still an unknown key. */
    rawlen = b64_decode(sigonly, raw, sizeof raw);
    tmp = make_line("qingling.example/alicf", aid, raw + 4, rawlen - 4);
    ROW("known ID, other name", cat("hello\n\n", tmp, (const char *)NULL), 0,
        QL_EVERIFY, "no signature by a known key");
    free(tmp);
    tmp = make_line("qingling.example/alice", aid ^ 1, raw + 4, rawlen - 4);
    ROW("known name, other ID", cat("hello\n\n", tmp, (const char *)NULL), 0,
        QL_EVERIFY, "no signature by a known key");
    free(tmp);
    /* bob's signature broken, alice's good: the whole note is refused. */
    tmp = sign_with("hello\n", ab, 2, NULL);
    b64 = strrchr(tmp, ' ') + 1;
    rawlen = b64_decode(b64, raw, sizeof raw);
    raw[10] ^= 0x04;
    {
        char *bad = make_line("qingling.example/bob", ql_key_id(ks->bob, 0),
                              raw + 4, rawlen - 4);
        ROW("known bad signature next to a good one",
            cat("hello\n\n", line, bad, (const char *)NULL), 0, QL_EVERIFY,
            "signature by key 'qingling.example/bob' does not verify");
        ROW("known bad signature first",
            cat("hello\n\n", bad, line, (const char *)NULL), 0, QL_EVERIFY,
            "signature by key 'qingling.example/bob' does not verify");
        free(bad);
    }
    free(tmp);
    ROW("signed twice by one key", cat(good, line, (const char *)NULL), 0,
        QL_EVERIFY, "two signatures by key 'qingling.example/alice'");
    tmp = make_line("qingling.example/alice", aid, payload, 64);
    ROW("second signature by one key bad", cat(good, tmp, (const char *)NULL),
        0, QL_EVERIFY, "two signatures by key 'qingling.example/alice'");
    free(tmp);
#undef ROW
    assert_true(n <= sizeof t / sizeof t[0]);
    run_bad_notes(t, n, known, 2);

    free(sigonly);
    free(nonl);
    free(good);
}

/* The limits: 100 signature lines and QL_NOTE_MAX bytes still pass. */
static void
test_limits(void **state)
{
    struct keyset *ks = *state;
    const struct ql_key *a[1] = {ks->alice};
    uint8_t payload[64];
    size_t glen, len;
    char *good = sign_with("hello\n", a, 1, &glen), *note, *tmp, *text;
    char *full = NULL;
    struct ql_diag d = {0};

    (void)state;
    memset(payload, 0x5A, sizeof payload);
    note = xstrdup(good);
    for (int i = 0; i < 99; i++) {
        tmp = make_line("x.example/other", (uint32_t)i, payload, 64);
        char *grown = cat(note, tmp, (const char *)NULL);
        free(note);
        free(tmp);
        note = grown;
    }
    expect("100 signatures", verify1(note, strlen(note), ks->alice, &d), &d,
           QL_OK, NULL);
    free(note);

    /* An unknown signer's long line (decoded in pieces) is ignored. */
    {
        uint8_t big[3000];
        struct ql_note *parsed = NULL;
        const struct ql_note_sig *s;

        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (uint8_t)(i * 7);
        tmp = make_line("pq.example/long", 0xdeadbeef, big, sizeof big);
        note = cat(good, tmp, (const char *)NULL);
        expect("long unknown line", verify1(note, strlen(note), ks->alice, &d),
               &d, QL_OK, NULL);
        expect("parse long line",
               ql_note_parse(note, strlen(note), &parsed, &d), &d, QL_OK, NULL);
        s = ql_note_sig(parsed, 1);
        assert_int_equal(s->id, 0xdeadbeef);
        assert_int_equal(s->sig_len, sizeof big);
        assert_memory_equal(s->sig, big, sizeof big);
        ql_note_free(parsed);
        free(note);
        free(tmp);
    }

    /* A note of exactly QL_NOTE_MAX bytes. */
    len = QL_NOTE_MAX - (glen - 6);
    text = malloc(len + 1);
    assert_non_null(text);
    memset(text, 'z', len);
    text[len - 1] = '\n';
    text[len] = '\0';
    full = sign_with(text, a, 1, &glen);
    assert_int_equal(glen, QL_NOTE_MAX);
    expect("largest note", verify1(full, glen, ks->alice, &d), &d, QL_OK, NULL);
    free(full);
    /* One more byte of text and the signed note no longer fits. */
    text = realloc(text, len + 2);
    assert_non_null(text);
    text[len - 1] = 'z';
    text[len] = '\n';
    text[len + 1] = '\0';
    full = NULL;
    expect("note past the limit",
           ql_note_sign(text, len + 1, a, 1, &full, &glen, &d), &d, QL_ETOOBIG,
           "signed note would be 1048577 bytes");
    assert_null(full);
    free(text);
    free(good);
}

/* Misuse of the known-key list. */
static void
test_key_lists(void **state)
{
    struct keyset *ks = *state;
    const struct ql_key *a[1] = {ks->alice};
    struct ql_note_key many[QL_NOTE_MAX_KEYS + 1];
    struct ql_note_key nk[2];
    struct ql_diag d = {0};
    size_t len;
    char *good = sign_with("hello\n", a, 1, &len);

    (void)state;
    expect("no keys", ql_note_verify(good, len, NULL, 0, NULL, &d), &d,
           QL_EUSAGE, "1 to 64 known keys");
    memset(nk, 0, sizeof nk);
    expect("zero keys", ql_note_verify(good, len, nk, 0, NULL, &d), &d,
           QL_EUSAGE, "1 to 64 known keys, not 0");
    expect("NULL key", ql_note_verify(good, len, nk, 1, NULL, &d), &d,
           QL_EUSAGE, "known key 0 is NULL");
    nk[0] = (struct ql_note_key){ks->alice, 0, false, 0};
    nk[1] = (struct ql_note_key){ks->alice, 0x01, false, 0};
    expect("listed twice", ql_note_verify(good, len, nk, 2, NULL, &d), &d,
           QL_EUSAGE, "key 'qingling.example/alice' (ID ");
    nk[1].type = 0x02;
    expect("unsupported type", ql_note_verify(good, len, nk, 2, NULL, &d), &d,
           QL_EUSAGE, "unsupported key type 0x02");
    /* The same key as signer and as cosigner has two IDs: both fine. */
    nk[1].type = QL_KEYTYPE_COSIG;
    expect("signer and cosigner", ql_note_verify(good, len, nk, 2, NULL, &d),
           &d, QL_OK, NULL);
    assert_true(nk[0].verified);
    assert_false(nk[1].verified);
    for (size_t i = 0; i <= QL_NOTE_MAX_KEYS; i++)
        many[i] = (struct ql_note_key){ks->alice, 0, false, 0};
    expect("too many keys",
           ql_note_verify(good, len, many, QL_NOTE_MAX_KEYS + 1, NULL, &d), &d,
           QL_EUSAGE, "not 65");
    expect("NULL note", ql_note_verify(NULL, 0, nk, 1, NULL, &d), &d, QL_EUSAGE,
           "note is NULL");
    free(good);
}

/* What ql_note_sign, ql_note_sign_line and ql_note_append refuse. */
static void
test_sign_refusals(void **state)
{
    struct keyset *ks = *state;
    const struct ql_key *a[1] = {ks->alice};
    const struct ql_key *aa[2] = {ks->alice, ks->alice};
    const struct ql_key *an[2] = {ks->alice, NULL};
    struct ql_key *pub = public_of(ks->alice), *odd = NULL;
    const struct ql_key *p[1] = {pub};
    const struct ql_key *many[QL_NOTE_MAX_SIGS + 1];
    static const struct {
        const char *name, *text;
        ql_err rc;
        const char *msg;
    } texts[] = {
        {"no final newline", "hello", QL_EFORMAT,
         "does not end with a newline"},
        {"empty", "", QL_EFORMAT, "note text is empty"},
        {"newline only", "\n", QL_EFORMAT, "note text is empty"},
        {"blank lines only", "\n\n\n", QL_EFORMAT, "note text is empty"},
        {"CR", "a\r\n", QL_EFORMAT, "control character U+000D"},
        {"overlong", "\xc1\xbf\n", QL_EFORMAT, "not valid UTF-8 at byte 0"},
        {"C1", "\xc2\x9b\n", QL_EFORMAT, "control character U+009B"},
    };
    struct ql_diag d = {0};
    char *note = NULL, *line = NULL, *out = NULL, *big;
    size_t len = 0, glen;
    char *good = sign_with("hello\n", a, 1, &glen);
    uint8_t seed[32];

    (void)state;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        print_message("refused text: %s\n", texts[i].name);
        expect(texts[i].name,
               ql_note_sign(texts[i].text, strlen(texts[i].text), a, 1, &note,
                            &len, &d),
               &d, texts[i].rc, texts[i].msg);
        expect(texts[i].name,
               ql_note_sign_line(ks->alice, texts[i].text,
                                 strlen(texts[i].text), &line, &len, &d),
               &d, texts[i].rc, texts[i].msg);
        expect(texts[i].name,
               ql_note_check_text(texts[i].text, strlen(texts[i].text), &d), &d,
               texts[i].rc, texts[i].msg);
    }
    expect("check ok", ql_note_check_text("ok\n\nstill text\n", 15, &d), &d,
           QL_OK, NULL);
    big = malloc(QL_NOTE_MAX + 1);
    assert_non_null(big);
    memset(big, 'b', QL_NOTE_MAX + 1);
    big[QL_NOTE_MAX] = '\n';
    expect("text too big",
           ql_note_sign(big, QL_NOTE_MAX + 1, a, 1, &note, &len, &d), &d,
           QL_ETOOBIG, "note text is 1048577 bytes");
    free(big);
    expect("no keys", ql_note_sign("x\n", 2, a, 0, &note, &len, &d), &d,
           QL_EUSAGE, "1 to 100 signing keys");
    expect("NULL keys", ql_note_sign("x\n", 2, NULL, 1, &note, &len, &d), &d,
           QL_EUSAGE, "1 to 100 signing keys");
    for (size_t i = 0; i <= QL_NOTE_MAX_SIGS; i++)
        many[i] = ks->alice;
    expect("101 keys",
           ql_note_sign("x\n", 2, many, QL_NOTE_MAX_SIGS + 1, &note, &len, &d),
           &d, QL_EUSAGE, "1 to 100 signing keys");
    expect("NULL key", ql_note_sign("x\n", 2, an, 2, &note, &len, &d), &d,
           QL_EUSAGE, "signing key 1 is NULL");
    expect("same key twice", ql_note_sign("x\n", 2, aa, 2, &note, &len, &d), &d,
           QL_EUSAGE, "key 'qingling.example/alice' is given twice");
    expect("public key", ql_note_sign("x\n", 2, p, 1, &note, &len, &d), &d,
           QL_EUSAGE, "has no secret half");
    assert_null(note);
    assert_null(line);
    /*
     * ql_keys accepts C1 controls in names; a note cannot carry them, so
     * such a key may not sign (if ql_keys ever refuses the name, nothing
     * is left to test here).
     */
    memset(seed, 7, sizeof seed);
    if (ql_key_from_seed(ql_profile_default(), "odd\xc2\x80name", seed, &odd,
                         &d) == QL_OK) {
        expect("C1 in key name",
               ql_note_sign_line(odd, "x\n", 2, &line, &len, &d), &d, QL_EUSAGE,
               "cannot appear in a signed note");
        ql_key_free(odd);
    }

    /* ql_note_append. */
    expect("append to bad note",
           ql_note_append("hello\n", 6, good + 7, glen - 7, &out, &len, &d), &d,
           QL_EFORMAT, "no blank line");
    expect("append unterminated line",
           ql_note_append(good, glen, good + 7, glen - 8, &out, &len, &d), &d,
           QL_EFORMAT, "signature line does not end with a newline");
    {
        char *two = cat(good + 7, good + 7, (const char *)NULL);
        expect("append two lines",
               ql_note_append(good, glen, two, strlen(two), &out, &len, &d), &d,
               QL_EFORMAT, "holds more than one line");
        free(two);
    }
    expect("append malformed line",
           ql_note_append(good, glen, "- k AAAAAAAA\n", 13, &out, &len, &d), &d,
           QL_EFORMAT, "does not start with an em dash");
    expect("append NULL line",
           ql_note_append(good, glen, NULL, 0, &out, &len, &d), &d, QL_EUSAGE,
           "signature line is NULL");
    assert_null(out);
    {
        /* A note already at 100 lines takes no more. */
        uint8_t payload[64] = {0};
        char *note100 = xstrdup(good), *tmp, *extra;

        for (int i = 0; i < 99; i++) {
            tmp = make_line("x.example/other", (uint32_t)i, payload, 64);
            char *grown = cat(note100, tmp, (const char *)NULL);
            free(note100);
            free(tmp);
            note100 = grown;
        }
        extra = make_line("x.example/more", 1, payload, 64);
        expect("append 101st line",
               ql_note_append(note100, strlen(note100), extra, strlen(extra),
                              &out, &len, &d),
               &d, QL_ETOOBIG, "already has 100 signature lines");
        free(extra);
        free(note100);
    }
    {
        /* A note a few bytes short of the limit takes no further line. */
        size_t tl = QL_NOTE_MAX - (glen - 6) - 10;
        char *text = malloc(tl + 1), *near;

        assert_non_null(text);
        memset(text, 'q', tl);
        text[tl - 1] = '\n';
        text[tl] = '\0';
        near = sign_with(text, a, 1, &len);
        expect("append past the limit",
               ql_note_append(near, len, EM_DASH " k AAAAAAAA\n", 15, &out,
                              &len, &d),
               &d, QL_ETOOBIG, "signed note would be");
        free(near);
        free(text);
    }
    assert_null(out);
    ql_key_free(pub);
    free(good);
}

/* ql_note_parse keeps every line, unknown and repeated ones too. */
static void
test_parse_only(void **state)
{
    struct keyset *ks = *state;
    const struct ql_key *ab[2] = {ks->alice, ks->bob};
    size_t len, tlen = 0;
    char *note = sign_with("hello\n", ab, 2, &len);
    char *dup = cat(note, strchr(note, '\n') + 2, (const char *)NULL);
    struct ql_note *n = NULL;
    struct ql_diag d = {0};
    const struct ql_note_sig *s;
    const char *text;

    (void)state;
    expect("parse", ql_note_parse(dup, strlen(dup), &n, &d), &d, QL_OK, NULL);
    text = ql_note_text(n, &tlen);
    assert_string_equal(text, "hello\n");
    assert_int_equal(tlen, 6);
    assert_int_equal(ql_note_sig_count(n), 4);
    s = ql_note_sig(n, 0);
    assert_string_equal(s->name, "qingling.example/alice");
    assert_int_equal(s->id, ql_key_id(ks->alice, 0));
    assert_int_equal(s->sig_len, 64);
    /* The bytes are the signature: they verify on their own. */
    assert_int_equal(ql_key_verify(ks->alice, "hello\n", 6, s->sig, 64), QL_OK);
    s = ql_note_sig(n, 3);
    assert_string_equal(s->name, "qingling.example/bob");
    assert_int_equal(ql_key_verify(ks->bob, "hello\n", 6, s->sig, 64), QL_OK);
    assert_null(ql_note_sig(n, 4));
    ql_note_free(n);
    ql_note_free(NULL);
    free(dup);
    free(note);
}

/* ---- checkpoints and cosignatures ---- */

static void
fill_root(uint8_t *root)
{
    for (int i = 0; i < QL_HASH_LEN; i++)
        root[i] = (uint8_t)i;
}

static void
test_checkpoint_roundtrip(void **state)
{
    struct keyset *ks = *state;
    struct ql_checkpoint cp, back;
    struct ql_diag d = {0};
    char *text = NULL, *note = NULL;
    size_t tlen = 0, nlen = 0;
    static const char want[] = "qingling.example/county-a\n"
                               "42\n"
                               "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";

    (void)state;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", "qingling.example/county-a");
    cp.size = 42;
    fill_root(cp.root);
    expect("format", ql_checkpoint_format(&cp, &text, &tlen, &d), &d, QL_OK,
           NULL);
    assert_string_equal(text, want);
    assert_int_equal(tlen, strlen(want));
    expect("parse", ql_checkpoint_parse(text, tlen, &back, &d), &d, QL_OK,
           NULL);
    assert_string_equal(back.origin, cp.origin);
    assert_int_equal(back.size, 42);
    assert_memory_equal(back.root, cp.root, QL_HASH_LEN);
    assert_null(back.ext);

    expect("sign", ql_checkpoint_sign(ks->log, &cp, &note, &nlen, &d), &d,
           QL_OK, NULL);
    assert_memory_equal(note, want, tlen);
    memset(&back, 0, sizeof back);
    expect("open", ql_checkpoint_open(note, nlen, ks->log, NULL, 0, &back, &d),
           &d, QL_OK, NULL);
    assert_int_equal(back.size, 42);
    assert_string_equal(back.origin, "qingling.example/county-a");
    expect("open with another log key",
           ql_checkpoint_open(note, nlen, ks->alice, NULL, 0, &back, &d), &d,
           QL_EVERIFY, "no signature by a known key");
    free(note);
    free(text);

    /* The two edges of the size range and extension lines. */
    cp.size = 0;
    cp.ext = "ext one\nmore \xe6\x89\xa9\xe5\xb1\x95\n";
    cp.ext_len = strlen(cp.ext);
    expect("format ext", ql_checkpoint_format(&cp, &text, &tlen, &d), &d, QL_OK,
           NULL);
    expect("parse ext", ql_checkpoint_parse(text, tlen, &back, &d), &d, QL_OK,
           NULL);
    assert_int_equal(back.size, 0);
    assert_int_equal(back.ext_len, cp.ext_len);
    assert_memory_equal(back.ext, cp.ext, cp.ext_len);
    assert_true(back.ext >= text && back.ext < text + tlen); /* borrowed */
    free(text);
    cp.size = UINT64_C(9223372036854775807);
    cp.ext = NULL;
    cp.ext_len = 0;
    expect("format max", ql_checkpoint_format(&cp, &text, &tlen, &d), &d, QL_OK,
           NULL);
    assert_non_null(strstr(text, "\n9223372036854775807\n"));
    free(text);
}

static void
test_cosignature(void **state)
{
    struct keyset *ks = *state;
    struct ql_checkpoint cp, back;
    struct ql_diag d = {0};
    struct ql_key *cosig_pub = NULL;
    struct ql_note_key co[2];
    struct ql_note *parsed = NULL;
    const struct ql_note_sig *s;
    char *note = NULL, *line = NULL, *cosigned = NULL, *vkey = NULL, *msg;
    size_t nlen = 0, llen = 0, clen = 0, tlen;
    uint64_t t = 0;
    char tbuf[64];

    (void)state;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", "qingling.example/county-a");
    cp.size = 7;
    fill_root(cp.root);
    cp.ext = "note: extension lines are signed too\n";
    cp.ext_len = strlen(cp.ext);
    expect("sign", ql_checkpoint_sign(ks->log, &cp, &note, &nlen, &d), &d,
           QL_OK, NULL);
    tlen = strstr(note, "\n\n") + 1 - note;

    expect(
        "cosign",
        ql_cosig_sign(ks->auditor, note, tlen, EXAMPLE_TIME, &line, &llen, &d),
        &d, QL_OK, NULL);
    expect("cosig verify",
           ql_cosig_verify(ks->auditor, note, tlen, line, llen, &t, &d), &d,
           QL_OK, NULL);
    assert_int_equal(t, EXAMPLE_TIME);

    /* The cosigner as an auditor knows it: a vkey of type 0x04. */
    expect("cosigner vkey",
           ql_key_vkey(ks->auditor, QL_KEYTYPE_COSIG, &vkey, &d), &d, QL_OK,
           NULL);
    cosig_pub = parse_vkey(vkey, true);
    assert_int_equal(ql_key_id(cosig_pub, QL_KEYTYPE_COSIG),
                     ql_key_id(ks->auditor, QL_KEYTYPE_COSIG));
    assert_true(ql_key_id(ks->auditor, QL_KEYTYPE_COSIG) !=
                ql_key_id(ks->auditor, 0));

    expect("append",
           ql_note_append(note, nlen, line, llen, &cosigned, &clen, &d), &d,
           QL_OK, NULL);
    co[0] = (struct ql_note_key){cosig_pub, QL_KEYTYPE_COSIG, false, 0};
    co[1] = (struct ql_note_key){ks->bob, QL_KEYTYPE_COSIG, true, 5};
    expect("open cosigned",
           ql_checkpoint_open(cosigned, clen, ks->log, co, 2, &back, &d), &d,
           QL_OK, NULL);
    assert_true(co[0].verified);
    assert_int_equal(co[0].timestamp, EXAMPLE_TIME);
    assert_false(co[1].verified); /* bob did not cosign */
    assert_int_equal(co[1].timestamp, 0);
    assert_int_equal(back.size, 7);
    assert_int_equal(back.ext_len, cp.ext_len);
    assert_true(back.ext >= cosigned && back.ext < cosigned + clen);

    /* The cosigner's key as an ordinary signer: its line is not its. */
    co[0].type = 0;
    expect("cosigner as signer",
           ql_checkpoint_open(cosigned, clen, ks->log, co, 1, &back, &d), &d,
           QL_OK, NULL);
    assert_false(co[0].verified);
    co[0].type = QL_KEYTYPE_COSIG;

    /* The exact signed message, checked without this module. */
    expect("parse", ql_note_parse(cosigned, clen, &parsed, &d), &d, QL_OK,
           NULL);
    s = ql_note_sig(parsed, 1);
    assert_string_equal(s->name, "qingling.example/auditor-1");
    assert_int_equal(s->id, ql_key_id(ks->auditor, QL_KEYTYPE_COSIG));
    assert_int_equal(s->sig_len, 72);
    t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | s->sig[i];
    assert_int_equal(t, EXAMPLE_TIME);
    snprintf(tbuf, sizeof tbuf, "cosignature/v1\ntime %" PRIu64 "\n",
             EXAMPLE_TIME);
    msg = malloc(strlen(tbuf) + tlen);
    assert_non_null(msg);
    memcpy(msg, tbuf, strlen(tbuf));
    memcpy(msg + strlen(tbuf), note, tlen);
    assert_int_equal(
        ql_key_verify(cosig_pub, msg, strlen(tbuf) + tlen, s->sig + 8, 64),
        QL_OK);
    free(msg);
    ql_note_free(parsed);

    /* Changing an extension line breaks both signatures. */
    {
        char *bad = xstrdup(cosigned);
        char *at = strstr(bad, "extension");

        at[0] ^= 0x20;
        expect("ext changed, log",
               ql_checkpoint_open(bad, clen, ks->log, co, 1, &back, &d), &d,
               QL_EVERIFY,
               "signature by key 'qingling.example/county-a' "
               "does not verify");
        expect("ext changed, cosig",
               ql_cosig_verify(cosig_pub, bad, tlen, line, llen, &t, &d), &d,
               QL_EVERIFY,
               "cosignature by key 'qingling.example/auditor-1' "
               "does not verify");
        /* Only the cosigner known: its signature alone is checked. */
        co[0].verified = false;
        expect("ext changed, cosigner only",
               ql_note_verify(bad, clen, co, 1, NULL, &d), &d, QL_EVERIFY,
               "cosignature by key 'qingling.example/auditor-1' does not "
               "verify");
        free(bad);
    }
    /* A checkpoint with the cosignature but no log signature. */
    {
        char *only = malloc(tlen + 1 + llen + 1);

        assert_non_null(only);
        memcpy(only, note, tlen);
        only[tlen] = '\n';
        memcpy(only + tlen + 1, line, llen);
        only[tlen + 1 + llen] = '\0';
        expect("no log signature",
               ql_checkpoint_open(only, tlen + 1 + llen, ks->log, co, 1, &back,
                                  &d),
               &d, QL_EVERIFY,
               "checkpoint has no signature by log key "
               "'qingling.example/county-a'");
        free(only);
    }
    /* The edges of the time range. */
    {
        char *l0 = NULL, *lmax = NULL;
        size_t l0len = 0, lmaxlen = 0;

        expect("time 0",
               ql_cosig_sign(ks->auditor, note, tlen, 0, &l0, &l0len, &d), &d,
               QL_OK, NULL);
        expect("verify time 0",
               ql_cosig_verify(ks->auditor, note, tlen, l0, l0len, &t, &d), &d,
               QL_OK, NULL);
        assert_int_equal(t, 0);
        expect("time max",
               ql_cosig_sign(ks->auditor, note, tlen, QL_COSIG_TIME_MAX, &lmax,
                             &lmaxlen, &d),
               &d, QL_OK, NULL);
        expect("verify time max",
               ql_cosig_verify(ks->auditor, note, tlen, lmax, lmaxlen, &t, &d),
               &d, QL_OK, NULL);
        assert_int_equal(t, QL_COSIG_TIME_MAX);
        free(l0);
        free(lmax);
    }
    free(vkey);
    ql_key_free(cosig_pub);
    free(cosigned);
    free(line);
    free(note);
}

static void
test_cosignature_refusals(void **state)
{
    struct keyset *ks = *state;
    struct ql_checkpoint cp;
    struct ql_diag d = {0};
    struct ql_key *pub = public_of(ks->auditor);
    struct ql_note_key co = {ks->auditor, QL_KEYTYPE_COSIG, false, 0};
    char *note = NULL, *line = NULL, *l2 = NULL, *tmp, *withline;
    size_t nlen = 0, llen = 0, l2len = 0, tlen;
    uint8_t raw[200], payload[80];
    size_t rawlen;
    uint64_t t = 99;
    uint32_t cid = ql_key_id(ks->auditor, QL_KEYTYPE_COSIG);

    (void)state;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", "qingling.example/county-a");
    cp.size = 3;
    fill_root(cp.root);
    expect("sign", ql_checkpoint_sign(ks->log, &cp, &note, &nlen, &d), &d,
           QL_OK, NULL);
    tlen = strstr(note, "\n\n") + 1 - note;
    expect(
        "cosign",
        ql_cosig_sign(ks->auditor, note, tlen, EXAMPLE_TIME, &line, &llen, &d),
        &d, QL_OK, NULL);

    expect("not a checkpoint",
           ql_cosig_sign(ks->auditor, "hello\n", 6, 1, &l2, &l2len, &d), &d,
           QL_EFORMAT, "checkpoint has no tree size line");
    expect("time past 2^63 - 1",
           ql_cosig_sign(ks->auditor, note, tlen, QL_COSIG_TIME_MAX + 1, &l2,
                         &l2len, &d),
           &d, QL_EUSAGE, "cosignature time 9223372036854775808 is past");
    expect("public key", ql_cosig_sign(pub, note, tlen, 1, &l2, &l2len, &d), &d,
           QL_EUSAGE, "has no secret half");
    expect("NULL cosigner", ql_cosig_sign(NULL, note, tlen, 1, &l2, &l2len, &d),
           &d, QL_EUSAGE, "cosigner key is NULL");
    assert_null(l2);

    expect("other cosigner",
           ql_cosig_verify(ks->bob, note, tlen, line, llen, &t, &d), &d,
           QL_EVERIFY, "is by key 'qingling.example/auditor-1' (ID ");
    /* The same key's ordinary signature is not a cosignature. */
    expect("ordinary line",
           ql_note_sign_line(ks->auditor, note, tlen, &l2, &l2len, &d), &d,
           QL_OK, NULL);
    expect("ordinary line as cosignature",
           ql_cosig_verify(ks->auditor, note, tlen, l2, l2len, &t, &d), &d,
           QL_EVERIFY, "not by cosigner 'qingling.example/auditor-1'");
    free(l2);
    expect("unterminated line",
           ql_cosig_verify(ks->auditor, note, tlen, line, llen - 1, &t, &d), &d,
           QL_EFORMAT, "does not end with a newline");
    expect("bad text", ql_cosig_verify(ks->auditor, "x", 1, line, llen, &t, &d),
           &d, QL_EFORMAT, "does not end with a newline");
    expect("another time",
           ql_cosig_verify(ks->auditor, "x\n", 2, line, llen, &t, &d), &d,
           QL_EVERIFY, "does not verify");

    /* A time past 2^63 - 1, in ql_cosig_verify and in a note. */
    rawlen = b64_decode(strrchr(line, ' ') + 1, raw, sizeof raw);
    assert_int_equal(rawlen, 76);
    raw[4] |= 0x80;
    tmp = make_line("qingling.example/auditor-1", cid, raw + 4, 72);
    expect("time high bit",
           ql_cosig_verify(ks->auditor, note, tlen, tmp, strlen(tmp), &t, &d),
           &d, QL_EVERIFY, "past 2^63 - 1");
    withline = cat(note, tmp, (const char *)NULL);
    expect("time high bit in note",
           ql_note_verify(withline, strlen(withline), &co, 1, NULL, &d), &d,
           QL_EVERIFY, "past 2^63 - 1");
    free(withline);
    free(tmp);
    /* Wrong lengths. */
    memset(payload, 0, sizeof payload);
    tmp = make_line("qingling.example/auditor-1", cid, payload, 71);
    expect("cosignature one byte short",
           ql_cosig_verify(ks->auditor, note, tlen, tmp, strlen(tmp), &t, &d),
           &d, QL_EVERIFY, "is 75 bytes, not 76");
    free(tmp);
    tmp = make_line("qingling.example/auditor-1", cid, payload, 64);
    withline = cat(note, tmp, (const char *)NULL);
    expect("ordinary length for a cosigner",
           ql_note_verify(withline, strlen(withline), &co, 1, NULL, &d), &d,
           QL_EVERIFY, "is 68 bytes, not 76");
    free(withline);
    free(tmp);
    assert_int_equal(t, 99); /* never written on failure */

    free(line);
    free(note);
    ql_key_free(pub);
}

struct bad_cp {
    const char *name;
    const char *text;
    const char *msg;
};

static void
test_checkpoint_hostile(void **state)
{
    /* 31, 33 and 32 bytes, and 32 with a stray low bit. */
    static const char H31[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==";
    static const char H33[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g";
    static const char H32[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    static const struct bad_cp t[] = {
        {"empty", "", "checkpoint is empty"},
        {"no newline", "o\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
         "does not end with a newline"},
        {"origin only", "o\n", "no tree size line"},
        {"no root hash", "o\n5\n", "no root hash line"},
        {"empty origin", "\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "origin is empty"},
        {"size 01", "o\n01\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "tree size '01' has a leading zero"},
        {"size 00", "o\n00\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "leading zero"},
        {"size -1", "o\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "tree size '-1' is not a decimal number"},
        {"size +5", "o\n+5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "not a decimal number"},
        {"size 2^64",
         "o\n18446744073709551616\n"
         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "tree size '18446744073709551616' is 2^63 or more"},
        {"size 2^64 - 1",
         "o\n18446744073709551615\n"
         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "2^63 or more"},
        {"size 2^63",
         "o\n9223372036854775808\n"
         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "2^63 or more"},
        {"size leading space",
         "o\n 5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "not a decimal number"},
        {"size trailing space",
         "o\n5 \nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "not a decimal number"},
        {"size hex", "o\n0x10\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "not a decimal number"},
        {"size empty", "o\n\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "tree size line is empty"},
        {"hash 31 bytes", NULL, "root hash is not the base64 of 32 bytes"},
        {"hash 33 bytes", NULL, "root hash is not the base64 of 32 bytes"},
        {"hash unpadded", "o\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",
         "root hash is not the base64"},
        {"hash stray bits",
         "o\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n",
         "root hash is not the base64"},
        {"hash not base64",
         "o\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=\n",
         "root hash is not the base64"},
        {"hash with space",
         "o\n5\n AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "root hash is not the base64"},
        {"empty extension",
         "o\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n",
         "checkpoint line 4 (an extension line) is empty"},
        {"later empty extension",
         "o\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\next\n\n",
         "checkpoint line 5 (an extension line) is empty"},
        {"CR", "o\r\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "control character U+000D"},
        {"bad UTF-8",
         "o\xff\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
         "not valid UTF-8"},
    };
    struct ql_checkpoint cp, ok;
    struct ql_diag d = {0};
    char *long_origin, *text = NULL;
    size_t tlen = 0;

    (void)state;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char *s;

        if (t[i].text != NULL)
            s = xstrdup(t[i].text);
        else
            s = cat("o\n5\n",
                    strcmp(t[i].name, "hash 31 bytes") == 0 ? H31 : H33, "\n",
                    (const char *)NULL);
        print_message("hostile checkpoint: %s\n", t[i].name);
        memset(&cp, 0x55, sizeof cp);
        expect(t[i].name, ql_checkpoint_parse(s, strlen(s), &cp, &d), &d,
               QL_EFORMAT, t[i].msg);
        assert_int_equal(cp.size, UINT64_C(0x5555555555555555));
        free(s);
    }
    /* The good neighbours of the bad ones. */
    text = cat("o\n9223372036854775807\n", H32, "\n", (const char *)NULL);
    expect("size 2^63 - 1", ql_checkpoint_parse(text, strlen(text), &ok, &d),
           &d, QL_OK, NULL);
    assert_int_equal(ok.size, UINT64_C(9223372036854775807));
    free(text);
    text = cat("o\n0\n", H32, "\n", (const char *)NULL);
    expect("size 0", ql_checkpoint_parse(text, strlen(text), &ok, &d), &d,
           QL_OK, NULL);
    assert_int_equal(ok.size, 0);
    free(text);

    long_origin = malloc(QL_ORIGIN_MAX + 2);
    assert_non_null(long_origin);
    memset(long_origin, 'o', QL_ORIGIN_MAX + 1);
    long_origin[QL_ORIGIN_MAX + 1] = '\0';
    text = cat(long_origin, "\n5\n", H32, "\n", (const char *)NULL);
    expect("origin too long", ql_checkpoint_parse(text, strlen(text), &ok, &d),
           &d, QL_EFORMAT, "origin is 257 bytes, more than 256");
    free(text);
    long_origin[QL_ORIGIN_MAX] = '\0';
    text = cat(long_origin, "\n5\n", H32, "\n", (const char *)NULL);
    expect("longest origin", ql_checkpoint_parse(text, strlen(text), &ok, &d),
           &d, QL_OK, NULL);
    assert_int_equal(strlen(ok.origin), QL_ORIGIN_MAX);
    free(text);
    free(long_origin);

    /* Formatting refuses what parsing would. */
    text = NULL;
    memset(&cp, 0, sizeof cp);
    fill_root(cp.root);
    expect("format empty origin", ql_checkpoint_format(&cp, &text, &tlen, &d),
           &d, QL_EFORMAT, "origin is empty");
    snprintf(cp.origin, sizeof cp.origin, "a\nb");
    expect("format origin newline", ql_checkpoint_format(&cp, &text, &tlen, &d),
           &d, QL_EFORMAT, "origin holds a newline");
    snprintf(cp.origin, sizeof cp.origin, "a\tb");
    expect("format origin tab", ql_checkpoint_format(&cp, &text, &tlen, &d), &d,
           QL_EFORMAT, "control character U+0009");
    memset(cp.origin, 'o', sizeof cp.origin);
    expect("format origin unterminated",
           ql_checkpoint_format(&cp, &text, &tlen, &d), &d, QL_EFORMAT,
           "origin is more than 256 bytes");
    snprintf(cp.origin, sizeof cp.origin, "o");
    cp.size = UINT64_C(9223372036854775808);
    expect("format size 2^63", ql_checkpoint_format(&cp, &text, &tlen, &d), &d,
           QL_EFORMAT, "2^63 or more");
    cp.size = 1;
    cp.ext = "no newline";
    cp.ext_len = strlen(cp.ext);
    expect("format ext unterminated",
           ql_checkpoint_format(&cp, &text, &tlen, &d), &d, QL_EFORMAT,
           "does not end with a newline");
    cp.ext = "ok\n\n";
    cp.ext_len = 4;
    expect("format ext empty line", ql_checkpoint_format(&cp, &text, &tlen, &d),
           &d, QL_EFORMAT, "line 5 (an extension line) is empty");
    cp.ext = NULL;
    expect("format ext NULL", ql_checkpoint_format(&cp, &text, &tlen, &d), &d,
           QL_EUSAGE, "extension lines are NULL");
    assert_null(text);
    expect("format NULL", ql_checkpoint_format(NULL, &text, &tlen, &d), &d,
           QL_EUSAGE, "checkpoint is NULL");
}

/*
 * Random damage to a cosigned checkpoint: never a crash, never an error
 * outside the format and verification classes, and whatever still
 * verifies has exactly the original text (the log key covers every byte).
 */
static void
test_random_damage(void **state)
{
    struct keyset *ks = *state;
    struct ql_checkpoint cp, back;
    struct ql_note_key co;
    struct ql_diag d = {0};
    char *note = NULL, *line = NULL, *full = NULL, *buf;
    size_t nlen = 0, llen = 0, flen = 0, tlen, accepted = 0;
    uint64_t rs = 0x1234567890ABCDEFull;

    (void)state;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", "qingling.example/county-a");
    cp.size = 123456;
    fill_root(cp.root);
    expect("sign", ql_checkpoint_sign(ks->log, &cp, &note, &nlen, &d), &d,
           QL_OK, NULL);
    tlen = strstr(note, "\n\n") + 1 - note;
    expect(
        "cosign",
        ql_cosig_sign(ks->auditor, note, tlen, EXAMPLE_TIME, &line, &llen, &d),
        &d, QL_OK, NULL);
    expect("append", ql_note_append(note, nlen, line, llen, &full, &flen, &d),
           &d, QL_OK, NULL);
    buf = malloc(flen * 2 + 64);
    assert_non_null(buf);
    for (int iter = 0; iter < 4000; iter++) {
        size_t len = flen, at, k, edits = 1 + qlt_rand(&rs) % 3;
        ql_err rc;

        memcpy(buf, full, flen);
        for (size_t e = 0; e < edits; e++) {
            at = len ? qlt_rand(&rs) % len : 0;
            switch (qlt_rand(&rs) % 5) {
            case 0: /* flip one bit */
                if (len)
                    buf[at] ^= (char)(1u << (qlt_rand(&rs) % 8));
                break;
            case 1: /* replace a byte */
                if (len)
                    buf[at] = (char)qlt_rand(&rs);
                break;
            case 2: /* delete a run */
                k = qlt_rand(&rs) % 8 + 1;
                if (at + k > len)
                    k = len - at;
                memmove(buf + at, buf + at + k, len - at - k);
                len -= k;
                break;
            case 3: /* insert bytes */
                k = qlt_rand(&rs) % 4 + 1;
                memmove(buf + at + k, buf + at, len - at);
                for (size_t j = 0; j < k; j++)
                    buf[at + j] = (char)qlt_rand(&rs);
                len += k;
                break;
            default: /* truncate */
                len = at;
                break;
            }
        }
        co = (struct ql_note_key){ks->auditor, QL_KEYTYPE_COSIG, false, 0};
        rc = ql_checkpoint_open(buf, len, ks->log, &co, 1, &back, &d);
        if (rc == QL_OK) {
            accepted++;
            assert_true(len >= tlen);
            assert_memory_equal(buf, full, tlen);
            assert_int_equal(back.size, 123456);
            if (co.verified)
                assert_int_equal(co.timestamp, EXAMPLE_TIME);
        } else if (rc != QL_EFORMAT && rc != QL_EVERIFY) {
            fail_msg("iteration %d: %s (%s)", iter, ql_errname(rc), d.msg);
        }
    }
    print_message("random damage: %zu of 4000 still verified\n", accepted);
    free(buf);
    free(full);
    free(line);
    free(note);
}

/* Argument errors and the remaining refusals of each entry point. */
static void
test_argument_errors(void **state)
{
    struct keyset *ks = *state;
    const struct ql_key *a[1] = {ks->alice};
    struct ql_checkpoint cp, back;
    struct ql_note_key co[QL_NOTE_MAX_KEYS];
    struct ql_diag d = {0};
    char *out = NULL, *note, *cpnote = NULL, *longline;
    size_t len = 0, glen, cplen = 0;
    uint64_t t = 0;
    char *good = sign_with("hello\n", a, 1, &glen);

    (void)state;
    expect("NULL text", ql_note_check_text(NULL, 0, &d), &d, QL_EUSAGE,
           "note text is NULL");
    expect("NULL signing key",
           ql_note_sign_line(NULL, "x\n", 2, &out, &len, &d), &d, QL_EUSAGE,
           "signing key is NULL");
    expect("control character in appended line",
           ql_note_append(good, glen, EM_DASH " k\tAAAAAAAA\n", 15, &out, &len,
                          &d),
           &d, QL_EFORMAT, "signature line has control character U+0009");
    longline = malloc(QL_NOTE_MAX + 2);
    assert_non_null(longline);
    memset(longline, 'A', QL_NOTE_MAX + 1);
    longline[QL_NOTE_MAX] = '\n';
    longline[QL_NOTE_MAX + 1] = '\0';
    expect(
        "appended line too long",
        ql_note_append(good, glen, longline, QL_NOTE_MAX + 1, &out, &len, &d),
        &d, QL_ETOOBIG, "signature line is 1048577 bytes");
    free(longline);
    assert_null(out);

    memset(&cp, 0, sizeof cp);
    fill_root(cp.root);
    cp.size = 1;
    expect("sign without origin",
           ql_checkpoint_sign(ks->log, &cp, &cpnote, &cplen, &d), &d,
           QL_EFORMAT, "checkpoint origin is empty");
    snprintf(cp.origin, sizeof cp.origin, "%s", "qingling.example/county-a");
    expect("sign without log key",
           ql_checkpoint_sign(NULL, &cp, &cpnote, &cplen, &d), &d, QL_EUSAGE,
           "log key is NULL");
    cp.ext = "x\n";
    cp.ext_len = (size_t)QL_NOTE_MAX + 1;
    expect("extension lines too big", ql_checkpoint_format(&cp, &out, &len, &d),
           &d, QL_ETOOBIG, "extension lines are 1048577 bytes");
    cp.ext = NULL;
    cp.ext_len = 0;
    assert_null(cpnote);
    assert_null(out);

    expect("sign", ql_checkpoint_sign(ks->log, &cp, &cpnote, &cplen, &d), &d,
           QL_OK, NULL);
    expect("open without log key",
           ql_checkpoint_open(cpnote, cplen, NULL, NULL, 0, &back, &d), &d,
           QL_EUSAGE, "log key is NULL");
    expect("cosigners NULL",
           ql_checkpoint_open(cpnote, cplen, ks->log, NULL, 1, &back, &d), &d,
           QL_EUSAGE, "at most 63 cosigners");
    for (size_t i = 0; i < QL_NOTE_MAX_KEYS; i++)
        co[i] = (struct ql_note_key){ks->auditor, QL_KEYTYPE_COSIG, false, 0};
    expect("64 cosigners",
           ql_checkpoint_open(cpnote, cplen, ks->log, co, QL_NOTE_MAX_KEYS,
                              &back, &d),
           &d, QL_EUSAGE, "at most 63 cosigners");
    /* Signed by the log key, but not a checkpoint. */
    note =
        sign_with("hello\n", (const struct ql_key *const *)&ks->log, 1, &len);
    expect("log-signed non-checkpoint",
           ql_checkpoint_open(note, len, ks->log, NULL, 0, &back, &d), &d,
           QL_EFORMAT, "checkpoint has no tree size line");
    free(note);

    expect("NULL cosigner",
           ql_cosig_verify(NULL, cpnote, cplen, good + 7, glen - 7, &t, &d), &d,
           QL_EUSAGE, "cosigner key is NULL");
    free(cpnote);
    free(good);
}

/* ---- the worked examples of docs/formats.md ---- */

/* Value of "<label> <rest>" in tests/data/note-examples.txt, unescaped. */
static char *
example_field(const char *buf, const char *label)
{
    size_t n = strlen(label);
    const char *p = buf, *end;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, label, n) == 0 && p[n] == ' ') {
            char *v;

            end = strchr(p, '\n');
            if (end == NULL)
                end = p + strlen(p);
            v = malloc((size_t)(end - p - n));
            assert_non_null(v);
            memcpy(v, p + n + 1, (size_t)(end - p - n - 1));
            v[end - p - n - 1] = '\0';
            return unescape(v);
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    fail_msg("note-examples.txt has no '%s'", label);
    return NULL;
}

static void
check_vkey(const char *buf, const char *label, const struct ql_key *k,
           uint8_t type)
{
    char *want = example_field(buf, label), *got = NULL;
    struct ql_diag d = {0};

    expect(label, ql_key_vkey(k, type, &got, &d), &d, QL_OK, NULL);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void
test_worked_examples(void **state)
{
    struct keyset *ks = *state;
    const struct ql_key *both[2] = {ks->alice, ks->bob};
    char *path = qlt_data_path("note-examples.txt");
    char *buf = qlt_read_file(path, NULL);
    char *note, *want, *cpnote = NULL, *line = NULL, *cosigned = NULL;
    struct ql_checkpoint cp;
    struct ql_diag d = {0};
    struct ql_bytes parts[2];
    size_t len, cplen = 0, llen = 0, clen = 0, tlen;
    const uint8_t zero = 0x00;

    (void)state;
    free(path);
    check_vkey(buf, "vkey-alice", ks->alice, 0);
    check_vkey(buf, "vkey-bob", ks->bob, 0);
    check_vkey(buf, "vkey-log", ks->log, 0);
    check_vkey(buf, "vkey-auditor", ks->auditor, QL_KEYTYPE_COSIG);

    /* A note signed by two keys. */
    note = sign_with(TWO_TEXT, both, 2, &len);
    want = example_field(buf, "note");
    assert_string_equal(note, want);
    free(want);

    /* The checkpoint of a log whose only entry is that note. */
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", "qingling.example/county-a");
    cp.size = 1;
    parts[0] = (struct ql_bytes){&zero, 1};
    parts[1] = (struct ql_bytes){note, len};
    ql_hash_parts(ql_profile_default(), cp.root, parts, 2);
    expect("checkpoint", ql_checkpoint_sign(ks->log, &cp, &cpnote, &cplen, &d),
           &d, QL_OK, NULL);
    want = example_field(buf, "checkpoint");
    assert_string_equal(cpnote, want);
    free(want);

    /* The auditor's cosignature of it. */
    tlen = strstr(cpnote, "\n\n") + 1 - cpnote;
    expect("cosign",
           ql_cosig_sign(ks->auditor, cpnote, tlen, EXAMPLE_TIME, &line, &llen,
                         &d),
           &d, QL_OK, NULL);
    expect("append",
           ql_note_append(cpnote, cplen, line, llen, &cosigned, &clen, &d), &d,
           QL_OK, NULL);
    want = example_field(buf, "cosigned");
    assert_string_equal(cosigned, want);
    free(want);

    free(cosigned);
    free(line);
    free(cpnote);
    free(note);
    free(buf);
}

int
main(void)
{
    struct ql_diag d = {0};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_vectors),
        cmocka_unit_test(test_published_every_byte),
        cmocka_unit_test(test_spec_examples),
        cmocka_unit_test(test_two_signers),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_hostile_notes),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_key_lists),
        cmocka_unit_test(test_sign_refusals),
        cmocka_unit_test(test_parse_only),
        cmocka_unit_test(test_checkpoint_roundtrip),
        cmocka_unit_test(test_cosignature),
        cmocka_unit_test(test_cosignature_refusals),
        cmocka_unit_test(test_checkpoint_hostile),
        cmocka_unit_test(test_random_damage),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_worked_examples),
    };

    if (ql_crypto_init(&d) != QL_OK) {
        fprintf(stderr, "ql_crypto_init: %s\n", d.msg);
        return 1;
    }
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
