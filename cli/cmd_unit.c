/* qingling unit: register and list units. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

#include "ql_county.h"

static ql_err
print_unit(void *ctx, const struct ql_unit_info *u, struct ql_diag *d)
{
    struct cli *cli = ctx;
    bool first = true;

    (void)d;
    if (cli->json) {
        fputc('{', stdout);
        cli_json_kv(stdout, &first, "code", u->code);
        cli_json_kv(stdout, &first, "name", u->name);
        cli_json_kv(stdout, &first, "kind", u->kind);
        cli_json_ki(stdout, &first, "entry", (long long)u->idx);
        fputs("}\n", stdout);
    } else {
        cli_pad(stdout, u->code, 8);
        cli_pad(stdout, u->kind, 13);
        printf("%s\n", u->name);
    }
    return QL_OK;
}

int
cmd_unit(int argc, char **argv, struct cli *cli)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"kind", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const struct cli_cmd *self = cli_find("unit");
    const char *name = NULL, *kind = NULL;
    struct ql_diag d;
    int opt, ex;

    ql_diag_clear(&d);
    if (argc < 2)
        return cli_usage(self, "say what to do: add or list");
    if (strcmp(argv[1], "list") == 0) {
        if (argc != 2)
            return cli_usage(self, "unit list takes no arguments");
        if ((ex = cli_open_county(cli, true)) != EXIT_OK)
            return ex;
        if (!cli->json)
            printf("CODE    KIND         NAME\n");
        if (ql_county_units(cli->county, print_unit, cli, &d) != QL_OK)
            return cli_fail(&d);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "add") != 0)
        return cli_usage(self, "unknown unit command '%s'", argv[1]);
    optind = 1;
    argc--;
    argv++;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == 'n')
            name = optarg;
        else if (opt == 'k')
            kind = optarg;
        else
            return cli_option_error(self, opt, argc, argv);
    }
    if (optind + 1 != argc)
        return cli_usage(self, "give exactly one unit CODE");
    if (name == NULL || kind == NULL)
        return cli_usage(self, "--name and --kind are required");
    if ((ex = cli_load_key(cli)) != EXIT_OK ||
        (ex = cli_open_county(cli, false)) != EXIT_OK)
        return ex;
    if (ql_county_unit_add(cli->county, argv[optind], name, kind, &d) !=
        QL_OK)
        return cli_fail(&d);
    if (!cli->json)
        printf("added unit %s (%s, %s)\n", argv[optind], name, kind);
    return EXIT_OK;
}
