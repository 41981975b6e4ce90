/* qingling key: make and show key pairs. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ql_county.h"
#include "ql_keys.h"
#include "ql_log.h"
#include "ql_profile.h"

/* The default key name: the file's base name without its extension. */
static void
default_name(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    char *dot;

    snprintf(out, size, "%s", base ? base + 1 : path);
    if ((dot = strrchr(out, '.')) != NULL && dot != out)
        *dot = '\0';
}

static int
key_new(int argc, char **argv, const struct cli_cmd *self)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"no-passphrase", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    char name[QL_KEY_NAME_MAX + 1], *pub = NULL, *pass = NULL, *vkey = NULL;
    const char *given = NULL;
    struct ql_key *k = NULL;
    struct ql_diag d;
    bool plain = false;
    size_t plen = 0, n;
    int opt, ex = EXIT_OK;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == 'n')
            given = optarg;
        else if (opt == 'P')
            plain = true;
        else
            return cli_option_error(self, opt, argc, argv);
    }
    if (optind + 1 != argc)
        return cli_usage(self, "give exactly one FILE");
    if (given != NULL)
        snprintf(name, sizeof name, "%s", given);
    else
        default_name(argv[optind], name, sizeof name);
    ql_diag_clear(&d);
    if (ql_key_generate(ql_profile_default(), name, &k, &d) != QL_OK)
        return cli_fail(&d);
    n = strlen(argv[optind]) + 5;
    if ((pub = malloc(n)) == NULL) {
        ex = cli_error(EXIT_ENV, "out of memory");
        goto out;
    }
    snprintf(pub, n, "%s.pub", argv[optind]);
    if (!plain && (ex = cli_passphrase("New passphrase: ", true, &pass,
                                       &plen)) != EXIT_OK)
        goto out;
    if (ql_keyfile_write(argv[optind], k, pass, plen,
                         plain ? QL_KEYFILE_PLAINTEXT : 0, &d) != QL_OK) {
        ex = cli_fail(&d);
        goto out;
    }
    if (ql_keyfile_write_public(pub, k, &d) != QL_OK ||
        ql_key_vkey(k, 0, &vkey, &d) != QL_OK) {
        ex = cli_fail(&d);
        remove(argv[optind]);
        goto out;
    }
    printf("%s\n", vkey);
    fprintf(stderr, "qingling: wrote %s (secret, mode 0600) and %s\n",
            argv[optind], pub);
out:
    cli_passphrase_free(pass);
    free(vkey);
    free(pub);
    ql_key_free(k);
    return ex;
}

static int
key_show(int argc, char **argv, const struct cli_cmd *self)
{
    struct ql_key *k = NULL;
    struct ql_diag d;
    char *vkey = NULL;

    if (argc != 2)
        return cli_usage(self, "give exactly one public key FILE");
    ql_diag_clear(&d);
    if (ql_keyfile_read_public(argv[1], &k, &d) != QL_OK)
        return cli_fail(&d);
    if (ql_key_vkey(k, 0, &vkey, &d) != QL_OK) {
        ql_key_free(k);
        return cli_fail(&d);
    }
    printf("%s\n", vkey);
    free(vkey);
    ql_key_free(k);
    return EXIT_OK;
}

/*
 * Passes a unit's data keys on, as any write in the unit does, for a unit
 * where a member who joined after a revocation cannot read the leads
 * sealed before it and nobody who can has a step to take.
 */
static int
key_share(int argc, char **argv, struct cli *cli, const struct cli_cmd *self)
{
    struct ql_diag d;
    uint64_t before = 0, after = 0;
    int ex;

    if (argc != 2)
        return cli_usage(self, "give exactly one unit CODE");
    if ((ex = cli_load_key(cli)) != EXIT_OK ||
        (ex = cli_open_county(cli, false)) != EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    if (ql_log_size(ql_county_log(cli->county), &before, &d) != QL_OK ||
        ql_county_key_share(cli->county, argv[1], &d) != QL_OK ||
        ql_log_size(ql_county_log(cli->county), &after, &d) != QL_OK)
        return cli_fail(&d);
    if (cli->json) {
        bool first = true;

        fputc('{', stdout);
        cli_json_kv(stdout, &first, "unit", argv[1]);
        cli_json_ki(stdout, &first, "grants", (long long)(after - before));
        fputs("}\n", stdout);
    } else if (after == before) {
        printf("every holder of unit %s's keys has them already\n", argv[1]);
    } else {
        printf("passed unit %s's keys on in %llu grant entr%s\n", argv[1],
               (unsigned long long)(after - before),
               after - before == 1 ? "y" : "ies");
    }
    return EXIT_OK;
}

int
cmd_key(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *self = cli_find("key");

    if (argc < 2)
        return cli_usage(self, "say what to do: new, show or share");
    if (strcmp(argv[1], "new") == 0)
        return key_new(argc - 1, argv + 1, self);
    if (strcmp(argv[1], "show") == 0)
        return key_show(argc - 1, argv + 1, self);
    if (strcmp(argv[1], "share") == 0)
        return key_share(argc - 1, argv + 1, cli, self);
    return cli_usage(self, "unknown key command '%s'", argv[1]);
}
