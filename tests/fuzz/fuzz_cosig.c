/*
 * Cosignatures (crypto/ql_note.c, tlog-cosignature): ql_cosig_verify on
 * each signature line of any note, and on any last line of any bytes;
 * ql_cosig_sign and ql_note_append on what parses.
 *
 * Invariants: a cosignature by the worked example's auditor verifies only
 * on the example's checkpoint text and with the example's time; one that
 * qingling makes itself verifies with the time it was made at, and
 * appended to a note it is one more line that parses.
 */
#include "qlf.h"

#include <stdlib.h>
#include <string.h>

#include "ql_codec.h"
#include "ql_keys.h"
#include "ql_note.h"

static const char cs_text[] = "qingling.example/county-a\n1\n"
                              "klZ/LNWWBrBLbIh2rcD6XGswj908qq5BLBKexX0Qzbg=\n";

static void
cs_verified(const char *text, size_t tlen, uint64_t t)
{
    QLF_CHECK(tlen == sizeof cs_text - 1 && memcmp(text, cs_text, tlen) == 0);
    QLF_CHECK(t == UINT64_C(1767225600));
}

/* "— name base64(id || sig)\n" of a parsed line, caller frees. */
static char *
cs_line(const struct ql_note_sig *s, size_t *len)
{
    size_t nlen = strlen(s->name), blen = ql_base64_len(4 + s->sig_len);
    uint8_t *raw = malloc(4 + s->sig_len);
    char *line = malloc(4 + nlen + 1 + blen + 2);

    QLF_CHECK(raw != NULL && line != NULL);
    raw[0] = (uint8_t)(s->id >> 24);
    raw[1] = (uint8_t)(s->id >> 16);
    raw[2] = (uint8_t)(s->id >> 8);
    raw[3] = (uint8_t)s->id;
    memcpy(raw + 4, s->sig, s->sig_len);
    memcpy(line, "\xe2\x80\x94 ", 4);
    memcpy(line + 4, s->name, nlen);
    line[4 + nlen] = ' ';
    ql_base64_encode(line + 5 + nlen, raw, 4 + s->sig_len);
    line[5 + nlen + blen] = '\n';
    line[6 + nlen + blen] = '\0';
    *len = 6 + nlen + blen;
    free(raw);
    return line;
}

/* Cosigns text with our own auditor and checks the line round trips. */
static void
cs_sign(const char *note, size_t note_len, const char *text, size_t tlen,
        uint64_t t)
{
    const struct ql_key *k = qlf_seed_key("qingling.example/auditor-1", 4);
    struct ql_note *n = NULL, *m = NULL;
    char *line = NULL, *out = NULL;
    size_t line_len = 0, out_len = 0;
    uint64_t got = 0;
    ql_err rc;

    if (ql_cosig_sign(k, text, tlen, t, &line, &line_len, NULL) != QL_OK)
        return;
    QLF_CHECK(ql_cosig_verify(k, text, tlen, line, line_len, &got, NULL) ==
              QL_OK);
    QLF_CHECK(got == t);
    QLF_CHECK(ql_note_parse(note, note_len, &n, NULL) == QL_OK);
    rc = ql_note_append(note, note_len, line, line_len, &out, &out_len, NULL);
    if (rc == QL_OK) {
        QLF_CHECK(ql_note_parse(out, out_len, &m, NULL) == QL_OK);
        QLF_CHECK(ql_note_sig_count(m) == ql_note_sig_count(n) + 1);
        QLF_CHECK(out_len == note_len + line_len &&
                  memcmp(out, note, note_len) == 0);
    } else {
        QLF_CHECK(rc == QL_EEXIST || rc == QL_ETOOBIG);
    }
    ql_note_free(n);
    ql_note_free(m);
    free(line);
    free(out);
}

int
qlf_cosig(const uint8_t *data, size_t size)
{
    const struct ql_key *k;
    const char *in = (const char *)data, *text;
    struct ql_checkpoint cp;
    struct ql_note *n = NULL;
    size_t tlen = 0, i, last;
    uint64_t t = 0;
    ql_err rc = QL_EFORMAT;

    qlf_setup();
    k = qlf_seed_key("qingling.example/auditor-1", 4);
    if (ql_note_parse(in, size, &n, NULL) == QL_OK) {
        text = ql_note_text(n, &tlen);
        for (i = 0; i < ql_note_sig_count(n); i++) {
            size_t line_len = 0;
            char *line = cs_line(ql_note_sig(n, i), &line_len);
            ql_err r = ql_cosig_verify(k, text, tlen, line, line_len, &t, NULL);

            if (r == QL_OK)
                cs_verified(text, tlen, t);
            if (rc != QL_OK)
                rc = r;
            free(line);
        }
        /* A time from the input, within what the format allows. */
        t = tlen > 0 ? (uint64_t)(unsigned char)text[0] * 1000003u : 0;
        if (ql_checkpoint_parse(text, tlen, &cp, NULL) == QL_OK)
            cs_sign(in, size, text, tlen, t);
        ql_note_free(n);
    }
    qlf_last = rc;
    /* The raw bytes: everything before the last line, and that line. */
    if (size >= 2 && in[size - 1] == '\n') {
        for (last = size - 1; last > 0 && in[last - 1] != '\n'; last--)
            ;
        if (ql_cosig_verify(k, in, last, in + last, size - last, &t, NULL) ==
            QL_OK)
            cs_verified(in, last, t);
    }
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_cosig(data, size);
}
#endif
