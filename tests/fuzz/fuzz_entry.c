/*
 * Log entries (engine/ql_log_entry.c): ql_entry_parse on any text, and on
 * the text of any signed note.
 *
 * Invariants: an entry that parses formats back (ql_entry_format) to
 * exactly its bytes, and what it parsed into is what the format promises
 * (valid words, sorted clear names, a payload only when there is one).
 */
#include "qlf.h"

#include <stdlib.h>
#include <string.h>

#include "ql_keys.h"
#include "ql_log.h"
#include "ql_note.h"

static void
ent_check(const char *in, size_t len)
{
    struct ql_entry e, again;
    char *text = NULL;
    size_t tlen = 0, i;
    ql_err rc;

    ql_entry_init(&e);
    ql_entry_init(&again);
    rc = ql_entry_parse(in, len, &e, NULL);
    qlf_last = rc;
    if (rc != QL_OK)
        return;
    QLF_CHECK(e.actor != NULL && ql_key_name_valid(e.actor));
    QLF_CHECK(ql_entry_word_valid(e.action));
    QLF_CHECK(e.unit[0] == '\0' || ql_entry_word_valid(e.unit));
    QLF_CHECK(e.lead[0] == '\0' || ql_entry_word_valid(e.lead));
    QLF_CHECK(e.nclear <= QL_ENTRY_CLEAR_MAX);
    for (i = 0; i + 1 < e.nclear; i++)
        QLF_CHECK(strcmp(e.clear[i].name, e.clear[i + 1].name) < 0);
    for (i = 0; i < e.nclear; i++)
        QLF_CHECK(ql_entry_get_clear(&e, e.clear[i].name) == e.clear[i].value);
    QLF_CHECK((e.payload == NULL) == (e.payload_len == 0));
    QLF_CHECK(ql_entry_format(&e, &text, &tlen, NULL) == QL_OK);
    QLF_CHECK(tlen == len && memcmp(text, in, len) == 0);
    QLF_CHECK(ql_entry_parse(text, tlen, &again, NULL) == QL_OK);
    QLF_CHECK(again.index == e.index && again.nclear == e.nclear &&
              again.payload_len == e.payload_len);
    free(text);
    ql_entry_release(&again);
    ql_entry_release(&e);
}

int
qlf_entry(const uint8_t *data, size_t size)
{
    struct ql_note *n = NULL;
    const char *text;
    size_t tlen = 0;
    int first;

    qlf_setup();
    if (ql_note_parse((const char *)data, size, &n, NULL) == QL_OK) {
        text = ql_note_text(n, &tlen);
        ent_check(text, tlen);
        first = qlf_last;
        ql_note_free(n);
        ent_check((const char *)data, size);
        qlf_last = first;
        return 0;
    }
    ent_check((const char *)data, size);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_entry(data, size);
}
#endif
