/*
 * The auditor's state file (engine/ql_audit.c, ql_audit_state_read),
 * which `qingling audit verify --state FILE` reads back on every run.
 *
 * Invariant: a state that reads is written by ql_audit_state_write to
 * exactly the same bytes (one spelling per state), which read back to the
 * same state.
 */
#include "qlf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_audit.h"

int
qlf_state(const uint8_t *data, size_t size)
{
    struct ql_audit_state st, again;
    char path[4200], out[4200], *back;
    FILE *f;
    size_t n;
    ql_err rc;

    qlf_setup();
    snprintf(path, sizeof path, "%s/state", qlf_scratch());
    snprintf(out, sizeof out, "%s/state.out", qlf_scratch());
    QLF_CHECK(qlf_write_file(path, data, size));
    rc = ql_audit_state_read(path, &st, NULL);
    qlf_last = rc;
    if (rc != QL_OK) {
        QLF_CHECK(rc == QL_EFORMAT);
        return 0;
    }
    QLF_CHECK(st.origin[0] != '\0' && st.size <= INT64_MAX);
    QLF_CHECK(ql_audit_state_write(out, &st, NULL) == QL_OK);
    QLF_CHECK((f = fopen(out, "rb")) != NULL);
    QLF_CHECK((back = malloc(size + 2)) != NULL);
    n = fread(back, 1, size + 1, f);
    fclose(f);
    QLF_CHECK(n == size && memcmp(back, data, size) == 0);
    free(back);
    QLF_CHECK(ql_audit_state_read(out, &again, NULL) == QL_OK);
    QLF_CHECK(strcmp(again.origin, st.origin) == 0 && again.size == st.size &&
              memcmp(again.root, st.root, sizeof st.root) == 0);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_state(data, size);
}
#endif
