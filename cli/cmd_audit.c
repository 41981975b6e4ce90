/* qingling audit: verify the log, print its checkpoint. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ql_audit.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_store.h"

static int
audit_verify(int argc, char **argv, struct cli *cli,
             const struct cli_cmd *self)
{
    static const struct option opts[] = {
        {"trust", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    struct ql_audit_result res;
    struct ql_key *trust = NULL;
    const char *trust_path = NULL;
    struct ql_diag d;
    ql_err rc;
    int opt, ex;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 't')
            trust_path = optarg;
        else
            return cli_usage(self, "bad option");
    }
    if (optind != argc)
        return cli_usage(self, "unexpected argument '%s'", argv[optind]);
    ql_diag_clear(&d);
    if (trust_path != NULL &&
        ql_keyfile_read_public(trust_path, &trust, &d) != QL_OK)
        return cli_fail(&d);
    if ((ex = cli_open_county(cli, true)) != EXIT_OK) {
        ql_key_free(trust);
        return ex;
    }
    rc = ql_audit_verify(cli->county, trust, &res, &d);
    ql_key_free(trust);
    if (cli->json) {
        bool first = true;

        fputc('{', stdout);
        cli_json_kb(stdout, &first, "ok", rc == QL_OK);
        cli_json_ki(stdout, &first, "entries", (long long)res.entries);
        cli_json_ki(stdout, &first, "checkpoints",
                    (long long)res.checkpoints);
        if (rc != QL_OK) {
            cli_json_ki(stdout, &first, "entry", (long long)res.bad_index);
            cli_json_kv(stdout, &first, "reason", d.msg);
        }
        fputs("}\n", stdout);
    }
    if (rc != QL_OK)
        return cli_fail(&d);
    if (!cli->json)
        printf("log verified: %llu entries, %llu checkpoints, every "
               "signature and root correct%s\n",
               (unsigned long long)res.entries,
               (unsigned long long)res.checkpoints,
               trust_path ? ", rooted in the trusted administrator key" : "");
    return EXIT_OK;
}

int
cmd_audit(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *self = cli_find("audit");
    struct ql_diag d;
    char *note = NULL;
    int ex;

    if (argc < 2)
        return cli_usage(self, "say what to do: verify or checkpoint");
    if (strcmp(argv[1], "verify") == 0)
        return audit_verify(argc - 1, argv + 1, cli, self);
    if (strcmp(argv[1], "checkpoint") == 0) {
        if (argc != 2)
            return cli_usage(self, "audit checkpoint takes no arguments");
        if ((ex = cli_open_county(cli, true)) != EXIT_OK)
            return ex;
        ql_diag_clear(&d);
        if (ql_store_checkpoint_get(ql_county_store(cli->county), UINT64_MAX,
                                    NULL, &note, &d) != QL_OK)
            return cli_fail(&d);
        fputs(note, stdout);
        free(note);
        return EXIT_OK;
    }
    return cli_usage(self, "unknown audit command '%s'", argv[1]);
}
