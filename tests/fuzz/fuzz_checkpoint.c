/*
 * Checkpoints (crypto/ql_note.c): ql_checkpoint_parse on any text and
 * ql_checkpoint_open on any note.
 *
 * Invariants: a text that parses formats back to exactly its bytes (the
 * parser is strict: one spelling per checkpoint); a note opens under the
 * worked example's log key only when it is that example's checkpoint, and
 * then says what the example says (size 1, its root, and the auditor's
 * cosignature time when that line is present).
 */
#include "qlf.h"

#include <stdlib.h>
#include <string.h>

#include "ql_codec.h"
#include "ql_keys.h"
#include "ql_note.h"

static const char cp_text[] = "qingling.example/county-a\n1\n"
                              "klZ/LNWWBrBLbIh2rcD6XGswj908qq5BLBKexX0Qzbg=\n";

#define CP_COSIG_TIME UINT64_C(1767225600)

static void
cp_roundtrip(const char *in, size_t len, const struct ql_checkpoint *cp)
{
    struct ql_checkpoint again;
    char *text = NULL;
    size_t tlen = 0;

    QLF_CHECK(cp->origin[0] != '\0' && strlen(cp->origin) <= QL_ORIGIN_MAX);
    QLF_CHECK(cp->size <= INT64_MAX);
    QLF_CHECK((cp->ext == NULL) == (cp->ext_len == 0));
    if (cp->ext != NULL)
        QLF_CHECK(cp->ext >= in && cp->ext + cp->ext_len == in + len);
    QLF_CHECK(ql_checkpoint_format(cp, &text, &tlen, NULL) == QL_OK);
    QLF_CHECK(tlen == len && memcmp(text, in, len) == 0);
    QLF_CHECK(ql_checkpoint_parse(text, tlen, &again, NULL) == QL_OK);
    QLF_CHECK(again.size == cp->size && strcmp(again.origin, cp->origin) == 0 &&
              memcmp(again.root, cp->root, QL_HASH_LEN) == 0);
    free(text);
}

int
qlf_checkpoint(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct ql_note_key cosigner;
    struct ql_checkpoint cp;
    uint8_t root[QL_HASH_LEN];
    size_t got = 0;
    ql_err rc;

    qlf_setup();
    if (ql_checkpoint_parse(in, size, &cp, NULL) == QL_OK)
        cp_roundtrip(in, size, &cp);

    memset(&cosigner, 0, sizeof cosigner);
    cosigner.key = qlf_seed_key("qingling.example/auditor-1", 4);
    cosigner.type = QL_KEYTYPE_COSIG;
    rc = ql_checkpoint_open(in, size,
                            qlf_seed_key("qingling.example/county-a", 3),
                            &cosigner, 1, &cp, NULL);
    qlf_last = rc;
    if (rc == QL_OK) {
        QLF_CHECK(size > sizeof cp_text - 1 &&
                  memcmp(in, cp_text, sizeof cp_text - 1) == 0 &&
                  in[sizeof cp_text - 1] == '\n');
        QLF_CHECK(ql_base64_decode(root, sizeof root, &got, cp_text + 28, 44,
                                   NULL) == QL_OK);
        QLF_CHECK(strcmp(cp.origin, "qingling.example/county-a") == 0 &&
                  cp.size == 1 && memcmp(cp.root, root, sizeof root) == 0 &&
                  cp.ext == NULL);
        if (cosigner.verified)
            QLF_CHECK(cosigner.timestamp == CP_COSIG_TIME);
    }
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_checkpoint(data, size);
}
#endif
