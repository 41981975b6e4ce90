/*
 * Signed notes (crypto/ql_note.c): ql_note_parse and ql_note_verify on
 * any bytes.
 *
 * Invariants: a note that parses is written back, from its parts, to
 * exactly its bytes (one spelling per note); parse and verify agree on the
 * format and on where the text ends; and verification succeeds only on a
 * text that one of the known keys really signed (the worked examples of
 * docs/formats.md and the C2SP examples), so no mutation of a signed note
 * ever verifies.
 */
#include "qlf.h"

#include <stdlib.h>
#include <string.h>

#include "ql_codec.h"
#include "ql_keys.h"
#include "ql_note.h"

/* Every text the known keys have signed, as far as the corpus goes. */
static const char *const note_signed[] = {
    "An example note signed by two keys.\n"
    "\xe7\xa4\xba\xe4\xbe\x8b\xef\xbc\x9a\xe7\x94\xb1\xe4\xb8\xa4\xe6\x8a\x8a"
    "\xe5\xaf\x86\xe9\x92\xa5\xe7\xad\xbe\xe5\x90\x8d\xe3\x80\x82\n",
    "qingling.example/county-a\n1\n"
    "klZ/LNWWBrBLbIh2rcD6XGswj908qq5BLBKexX0Qzbg=\n",
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n",
    "This is an example message.\n",
};

#define NOTE_KEYS 6

/* The known keys: four worked-example keys and two C2SP ones. */
static size_t
note_keys(struct ql_note_key *keys)
{
    static struct ql_key *peter, *foo;

    if (peter == NULL &&
        (ql_key_parse_vkey("PeterNeumann+c74f20a3+"
                           "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                           false, &peter, NULL) != QL_OK ||
         ql_key_parse_vkey("example.com/foo+530d903a+"
                           "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                           false, &foo, NULL) != QL_OK))
        qlf_fail(__FILE__, __LINE__, "known vkeys do not parse");
    memset(keys, 0, NOTE_KEYS * sizeof *keys);
    keys[0].key = qlf_seed_key("qingling.example/alice", 1);
    keys[1].key = qlf_seed_key("qingling.example/bob", 2);
    keys[2].key = qlf_seed_key("qingling.example/county-a", 3);
    keys[3].key = qlf_seed_key("qingling.example/auditor-1", 4);
    keys[3].type = QL_KEYTYPE_COSIG;
    keys[4].key = peter;
    keys[5].key = foo;
    return NOTE_KEYS;
}

static bool
note_is_signed_text(const char *text, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof note_signed / sizeof note_signed[0]; i++)
        if (strlen(note_signed[i]) == len &&
            memcmp(note_signed[i], text, len) == 0)
            return true;
    return false;
}

/* Writes the parsed note back and compares it with the input. */
static void
note_roundtrip(const struct ql_note *n, const char *in, size_t len)
{
    size_t tlen = 0, pos, i;
    const char *text = ql_note_text(n, &tlen);

    QLF_CHECK(tlen > 0 && tlen + 1 <= len && text[tlen - 1] == '\n');
    QLF_CHECK(memcmp(text, in, tlen) == 0 && in[tlen] == '\n');
    QLF_CHECK(ql_note_check_text(text, tlen, NULL) == QL_OK);
    pos = tlen + 1;
    QLF_CHECK(ql_note_sig_count(n) >= 1 &&
              ql_note_sig_count(n) <= QL_NOTE_MAX_SIGS);
    for (i = 0; i < ql_note_sig_count(n); i++) {
        const struct ql_note_sig *s = ql_note_sig(n, i);
        size_t nlen = strlen(s->name), blen = ql_base64_len(4 + s->sig_len);
        uint8_t *raw = malloc(4 + s->sig_len);
        char *b64 = malloc(blen + 1);

        QLF_CHECK(raw != NULL && b64 != NULL);
        QLF_CHECK(ql_key_name_valid(s->name) || nlen > QL_KEY_NAME_MAX);
        raw[0] = (uint8_t)(s->id >> 24);
        raw[1] = (uint8_t)(s->id >> 16);
        raw[2] = (uint8_t)(s->id >> 8);
        raw[3] = (uint8_t)s->id;
        memcpy(raw + 4, s->sig, s->sig_len);
        ql_base64_encode(b64, raw, 4 + s->sig_len);
        /* "— " name " " base64 "\n" */
        QLF_CHECK(len - pos >= 4 + nlen + 1 + blen + 1);
        QLF_CHECK(memcmp(in + pos, "\xe2\x80\x94 ", 4) == 0);
        pos += 4;
        QLF_CHECK(memcmp(in + pos, s->name, nlen) == 0 &&
                  in[pos + nlen] == ' ');
        pos += nlen + 1;
        QLF_CHECK(memcmp(in + pos, b64, blen) == 0 && in[pos + blen] == '\n');
        pos += blen + 1;
        free(raw);
        free(b64);
    }
    QLF_CHECK(pos == len);
    QLF_CHECK(ql_note_sig(n, ql_note_sig_count(n)) == NULL);
}

int
qlf_note(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct ql_note_key keys[NOTE_KEYS];
    struct ql_note *n = NULL;
    size_t nkeys, text_len = 0, i;
    ql_err prc, vrc;

    qlf_setup();
    nkeys = note_keys(keys);
    prc = ql_note_parse(in, size, &n, NULL);
    if (prc == QL_OK)
        note_roundtrip(n, in, size);
    vrc = ql_note_verify(in, size, keys, nkeys, &text_len, NULL);
    qlf_last = vrc;
    /* Format errors come before signatures: both judge the format alike. */
    QLF_CHECK((prc == QL_OK) == (vrc == QL_OK || vrc == QL_EVERIFY));
    if (prc != QL_OK)
        QLF_CHECK(vrc == prc);
    if (vrc == QL_OK) {
        size_t tlen = 0;
        bool any = false;

        (void)ql_note_text(n, &tlen);
        QLF_CHECK(text_len == tlen);
        QLF_CHECK(note_is_signed_text(in, text_len));
        for (i = 0; i < nkeys; i++)
            any = any || keys[i].verified;
        QLF_CHECK(any);
    }
    ql_note_free(n);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_note(data, size);
}
#endif
