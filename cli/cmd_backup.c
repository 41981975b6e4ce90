/* qingling backup: a consistent copy of the store while others write. */
#include "cli.h"

#include "ql_county.h"
#include "ql_store.h"

int
cmd_backup(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *self = cli_find("backup");
    struct ql_diag d;
    int ex;

    if (argc != 2)
        return cli_usage(self, "give exactly one FILE to write");
    if ((ex = cli_open_county(cli, true)) != EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    if (ql_store_backup(ql_county_store(cli->county), argv[1], &d) != QL_OK)
        return cli_fail(&d);
    if (!cli->json)
        printf("wrote %s and checked it; copy the log key (%s.logkey) "
               "separately, it is not in the backup\n",
               argv[1], cli->db);
    return EXIT_OK;
}
