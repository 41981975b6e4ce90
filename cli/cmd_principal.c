/* qingling principal: register, list and revoke principals. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

#include "ql_county.h"
#include "ql_keys.h"

static ql_err
print_principal(void *ctx, const struct ql_principal_info *p,
                struct ql_diag *d)
{
    struct cli *cli = ctx;
    bool first = true;

    (void)d;
    if (cli->json) {
        fputc('{', stdout);
        cli_json_kv(stdout, &first, "name", p->name);
        cli_json_kv(stdout, &first, "unit", p->unit);
        cli_json_kv(stdout, &first, "roles", p->roles);
        cli_json_kv(stdout, &first, "key", p->vkey);
        cli_json_kb(stdout, &first, "revoked", p->revoked);
        fputs("}\n", stdout);
    } else {
        cli_pad(stdout, p->name, 22);
        cli_pad(stdout, p->unit, 8);
        cli_pad(stdout, p->roles, 24);
        printf("%s\n", p->revoked ? "revoked" : "active");
    }
    return QL_OK;
}

int
cmd_principal(int argc, char **argv, struct cli *cli)
{
    static const struct option opts[] = {
        {"unit", required_argument, NULL, 'u'},
        {"role", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const struct cli_cmd *self = cli_find("principal");
    const char *unit = NULL, *roles = NULL;
    struct ql_key *pub = NULL;
    struct ql_diag d;
    int opt, ex;

    ql_diag_clear(&d);
    if (argc < 2)
        return cli_usage(self, "say what to do: add, list or revoke");
    optind = 1;
    argc--;
    argv++;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == 'u')
            unit = optarg;
        else if (opt == 'r')
            roles = optarg;
        else
            return cli_option_error(self, opt, argc, argv);
    }
    if (strcmp(argv[0], "list") == 0) {
        if (optind != argc || roles != NULL)
            return cli_usage(self, "principal list takes only --unit");
        if ((ex = cli_open_county(cli, true)) != EXIT_OK)
            return ex;
        if (!cli->json)
            printf("NAME                  UNIT    ROLES                   "
                   "STATE\n");
        if (ql_county_principals(cli->county, unit, print_principal, cli,
                                 &d) != QL_OK)
            return cli_fail(&d);
        return EXIT_OK;
    }
    if (strcmp(argv[0], "revoke") == 0) {
        if (optind + 1 != argc)
            return cli_usage(self, "give exactly one principal NAME");
        if ((ex = cli_load_key(cli)) != EXIT_OK ||
            (ex = cli_open_county(cli, false)) != EXIT_OK)
            return ex;
        if (ql_county_principal_revoke(cli->county, argv[optind], &d) !=
            QL_OK)
            return cli_fail(&d);
        if (!cli->json)
            printf("revoked %s; its units' keys will be renewed on their "
                   "next write\n",
                   argv[optind]);
        return EXIT_OK;
    }
    if (strcmp(argv[0], "add") != 0)
        return cli_usage(self, "unknown principal command '%s'", argv[0]);
    if (optind + 1 != argc)
        return cli_usage(self, "give exactly one public key FILE.pub");
    if (unit == NULL || roles == NULL)
        return cli_usage(self, "--unit and --role are required");
    if (ql_keyfile_read_public(argv[optind], &pub, &d) != QL_OK)
        return cli_fail(&d);
    if ((ex = cli_load_key(cli)) != EXIT_OK ||
        (ex = cli_open_county(cli, false)) != EXIT_OK) {
        ql_key_free(pub);
        return ex;
    }
    if (ql_county_principal_add(cli->county, pub, unit, roles, &d) != QL_OK) {
        ql_key_free(pub);
        return cli_fail(&d);
    }
    if (!cli->json)
        printf("added %s to %s as %s\n", ql_key_name(pub), unit, roles);
    ql_key_free(pub);
    return EXIT_OK;
}
