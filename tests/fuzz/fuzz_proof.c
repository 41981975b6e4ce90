/*
 * Proof files (cli/cmd_audit.c): `qingling audit verify-proof FILE` on any
 * file, through the command's own code, as text and with --json.
 *
 * Invariant: the command answers with one of its documented exit codes
 * for a proof file (0 verified, 4 malformed, 5 does not verify), and the
 * same one with --json. The Merkle arithmetic behind it has its own
 * harness, fuzz_merkle.
 */
#include "qlf.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

/*
 * The command table lives in cli/main.c, which is not linked here:
 * cmd_audit only asks it for its own usage line.
 */
const struct cli_cmd *
cli_find(const char *name)
{
    static const struct cli_cmd audit = {
        "audit", cmd_audit, "qingling audit verify-proof FILE", "", 0};

    return strcmp(name, "audit") == 0 ? &audit : NULL;
}

static int
pf_run(const char *path, bool json)
{
    char a0[] = "audit", a1[] = "verify-proof", a2[4200];
    char *argv[] = {a0, a1, a2, NULL};
    struct cli cli;
    int ex;

    snprintf(a2, sizeof a2, "%s", path);
    memset(&cli, 0, sizeof cli);
    cli.json = json;
    qlf_quiet(true);
    ex = cmd_audit(3, argv, &cli);
    qlf_quiet(false);
    return ex;
}

int
qlf_proof(const uint8_t *data, size_t size)
{
    char path[4200];
    int ex;

    qlf_setup();
    snprintf(path, sizeof path, "%s/proof", qlf_scratch());
    QLF_CHECK(qlf_write_file(path, data, size));
    ex = pf_run(path, false);
    qlf_last = ex;
    QLF_CHECK(ex == EXIT_OK || ex == EXIT_BADINPUT || ex == EXIT_INTEGRITY);
    QLF_CHECK(pf_run(path, true) == ex);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_proof(data, size);
}
#endif
