/* qingling init: create a county store and its log. */
#include "cli.h"

#include <getopt.h>
#include <string.h>
#include <time.h>

#include "ql_county.h"
#include "ql_keys.h"

int
cmd_init(int argc, char **argv, struct cli *cli)
{
    static const struct option opts[] = {
        {"origin", required_argument, NULL, 'o'},
        {"admin-key", required_argument, NULL, 'a'},
        {"zone", required_argument, NULL, 'z'},
        {NULL, 0, NULL, 0},
    };
    const struct cli_cmd *self = cli_find("init");
    const char *origin = NULL, *zone = NULL;
    struct ql_diag d;
    int opt, ex;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == 'o')
            origin = optarg;
        else if (opt == 'a')
            cli->key_path = optarg;
        else if (opt == 'z')
            zone = optarg;
        else
            return cli_option_error(self, opt, argc, argv);
    }
    if (optind != argc)
        return cli_usage(self, "unexpected argument '%s'", argv[optind]);
    if (origin == NULL)
        return cli_usage(self, "--origin is required");
    if (cli->key_path == NULL)
        return cli_usage(self, "--admin-key is required");
    if (cli->db == NULL || *cli->db == '\0')
        return cli_usage(self, "no store given: use --db PATH or QINGLING_DB");
    if ((ex = cli_load_key(cli)) != EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    if (ql_county_create(cli->db, origin, cli->key, zone,
                         cli->now_set ? cli->now : (int64_t)time(NULL),
                         &d) != QL_OK)
        return cli_fail(&d);
    if (cli->json) {
        bool first = true;

        fputc('{', stdout);
        cli_json_kv(stdout, &first, "store", cli->db);
        cli_json_kv(stdout, &first, "origin", origin);
        cli_json_kv(stdout, &first, "admin", ql_key_name(cli->key));
        fputs("}\n", stdout);
    } else {
        printf("created %s: log '%s', administrator '%s'; the log key is "
               "%s.logkey (keep it with the store, readable only by the "
               "account that runs qingling)\n",
               cli->db, origin, ql_key_name(cli->key), cli->db);
    }
    return EXIT_OK;
}
