/*
 * Proof files (cli/cmd_audit.c): `qingling audit verify-proof FILE` on any
 * file, through the command's own code, as text and with --json.
 *
 * Invariants: the command answers with one of its documented exit codes
 * for a proof file (0 verified, 4 malformed, 5 does not verify), and the
 * same one with --json; a file it verifies starts with the line
 * "inclusion INDEX SIZE" or "consistency OLD NEW" exactly as
 * docs/auditing.md writes it (single spaces, decimals without sign or
 * leading zeros, nothing after). The Merkle arithmetic behind it has its
 * own harness, fuzz_merkle.
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

/* Reads a decimal without sign or leading zero at *p, up to stop. */
static bool
pf_number(const char **p, const char *end, char stop)
{
    const char *s = *p;

    if (s >= end || *s < '0' || *s > '9' ||
        (*s == '0' && s + 1 < end && s[1] != stop))
        return false;
    while (s < end && *s >= '0' && *s <= '9')
        s++;
    if (s >= end || *s != stop)
        return false;
    *p = s + 1;
    return true;
}

/* True when the first line is exactly "<type> <number> <number>". */
static bool
pf_first_line(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;

    if (size > 10 && memcmp(p, "inclusion ", 10) == 0)
        p += 10;
    else if (size > 12 && memcmp(p, "consistency ", 12) == 0)
        p += 12;
    else
        return false;
    return pf_number(&p, end, ' ') && pf_number(&p, end, '\n');
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
    if (ex == EXIT_OK)
        QLF_CHECK(pf_first_line(data, size));
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_proof(data, size);
}
#endif
