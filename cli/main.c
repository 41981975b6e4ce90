/*
 * qingling: the command line. main() finds the command, does the setup its
 * flags ask for, runs it, and checks that everything it printed reached
 * stdout.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "ql_calendar.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_profile.h"
#include "ql_store.h"

/* Sorted by name; a test keeps it, --help and the man page in agreement. */
const struct cli_cmd cli_commands[] = {
    {"audit", cmd_audit,
     "qingling audit verify [--db PATH | --export DIR] --trust ADMIN.pub "
     "[--state FILE] [--jobs N] [--tables] [--json]\n"
     "       qingling audit checkpoint [--json]\n"
     "       qingling audit prove inclusion INDEX [--size N] [--json]\n"
     "       qingling audit prove consistency OLD NEW [--json]\n"
     "       qingling audit verify-proof FILE\n"
     "       qingling audit export DIR\n"
     "       qingling audit cosign --key FILE --trust ADMIN.pub "
     "[--state FILE] [--jobs N] [--tables]",
     "verify, prove, export and cosign the signed log", 0},
    {"backup", cmd_backup, "qingling backup FILE",
     "write a consistent, checked copy of the store", CMD_NEEDS_STORE |
     CMD_READONLY},
    {"calendar", cmd_calendar,
     "qingling calendar set FILE\n"
     "       qingling calendar show",
     "set or show the holiday calendar", 0},
    {"commit", cmd_commit,
     "qingling commit sign --unit CODE --cycle NAME --cutoff DATE "
     "--deadline DATE [--text TEXT]\n"
     "       qingling commit declare --unit CODE [--cycle NAME]\n"
     "       qingling commit sample --unit CODE [--cycle NAME]\n"
     "       qingling commit verify --unit CODE [--cycle NAME]\n"
     "       qingling commit show [--unit CODE] [--cycle NAME] [--json]\n"
     "       qingling commit spotcheck ID pass|return "
     "[--field NAME=VALUE | --field NAME=@FILE]... "
     "[--note TEXT | --note @FILE]",
     "sign, declare, sample, spot-check and verify commitments",
     CMD_OWN_HELP},
    {"init", cmd_init,
     "qingling init --origin NAME --admin-key FILE [--zone ZONE]",
     "create a county store and its log", 0},
    {"key", cmd_key,
     "qingling key new FILE [--name NAME] [--no-passphrase]\n"
     "       qingling key show FILE.pub\n"
     "       qingling key share UNIT",
     "make a key pair (FILE and FILE.pub); pass a unit's data keys on", 0},
    {"lead", cmd_lead,
     "qingling lead add [--unit CODE] [--workflow NAME] "
     "[--field NAME=VALUE | --field NAME=@FILE]...\n"
     "       qingling lead list [--unit CODE] [--state STATE] [--overdue] "
     "[--json]\n"
     "       qingling lead show ID [--json]\n"
     "       qingling lead move ID TRANSITION "
     "[--field NAME=VALUE | --field NAME=@FILE]... "
     "[--note TEXT | --note @FILE]\n"
     "       qingling lead pending [--json]\n"
     "       qingling lead approve ID\n"
     "       qingling lead reject ID [--note TEXT | --note @FILE]\n"
     "       qingling lead assign ID UNIT [--due DATE] "
     "[--field NAME=VALUE | --field NAME=@FILE]... "
     "[--note TEXT | --note @FILE]\n"
     "       qingling lead merge ID INTO [--note TEXT | --note @FILE]\n"
     "       qingling lead history ID [--json]\n"
     "       qingling lead spotcheck ID pass|return "
     "[--field NAME=VALUE | --field NAME=@FILE]... "
     "[--note TEXT | --note @FILE]\n"
     "       qingling lead import FILE --unit CODE [--workflow NAME] "
     "[--dry-run] [--encoding auto|utf-8|gb18030] [--map HEADER=FIELD]... "
     "[--allow-duplicates] [--json]",
     "register, import, move, approve, list and read leads", CMD_OWN_HELP},
    {"principal", cmd_principal,
     "qingling principal add FILE.pub --unit CODE --role ROLE[,ROLE...]\n"
     "       qingling principal list [--unit CODE]\n"
     "       qingling principal revoke NAME",
     "register, list and revoke principals", 0},
    {"report", cmd_report,
     "qingling report [--html FILE] [--csv FILE] [--unit CODE] "
     "[--cycle NAME] [--json]",
     "write the status as an HTML page, CSV or JSON",
     CMD_NEEDS_STORE | CMD_READONLY},
    {"status", cmd_status,
     "qingling status [--unit CODE] [--cycle NAME] [--why CODE] [--check] "
     "[--json]",
     "is each unit fully cleared, and why not; the county's figures",
     CMD_NEEDS_STORE | CMD_READONLY},
    {"unit", cmd_unit,
     "qingling unit add CODE --name NAME --kind "
     "township|member|supervision|audit\n"
     "       qingling unit list",
     "register and list units", 0},
    {"workflow", cmd_workflow,
     "qingling workflow check FILE\n"
     "       qingling workflow add FILE\n"
     "       qingling workflow list\n"
     "       qingling workflow show NAME|VERSION\n"
     "       qingling workflow graph NAME|VERSION [--format dot|mermaid]\n"
     "       qingling workflow migrate ID --to VERSION [--map OLD=NEW,...]",
     "check, register, show and migrate workflows", 0},
};
const size_t cli_ncommands = sizeof cli_commands / sizeof cli_commands[0];

const struct cli_cmd *
cli_find(const char *name)
{
    size_t i;

    for (i = 0; i < cli_ncommands; i++)
        if (strcmp(cli_commands[i].name, name) == 0)
            return &cli_commands[i];
    return NULL;
}

static void
usage_all(FILE *f)
{
    size_t i;

    fputs("usage: qingling [--db PATH] [--key FILE] [--json] COMMAND "
          "[ARGS]\n\ncommands:\n",
          f);
    for (i = 0; i < cli_ncommands; i++)
        fprintf(f, "  %-10s %s\n", cli_commands[i].name,
                cli_commands[i].summary);
    fputs("\nenvironment: QINGLING_DB, QINGLING_KEY, "
          "QINGLING_PASSPHRASE_FILE, QINGLING_NOW\n"
          "exit codes: 0 ok, 1 no, 2 usage, 3 refused, 4 bad input, "
          "5 integrity, 6 environment\n"
          "'qingling COMMAND --help' shows a command's usage.\n",
          f);
}

/*
 * Takes the global options out of argv wherever they stand, so that
 * `qingling lead list --json` and `qingling --json lead list` agree.
 * Returns an exit code.
 */
static int
global_options(int *argc, char **argv, struct cli *cli)
{
    int i, out = 1;

    for (i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        const char *name = NULL;

        if (strcmp(a, "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strcmp(a, "--json") == 0) {
            cli->json = true;
            continue;
        }
        /* A passphrase on the command line shows in ps and the shell's
           history; no option takes one, and the refusal repeats nothing
           of what was typed. */
        if (strncmp(a, "--pass", 6) == 0)
            return cli_usage(NULL, "no option takes a passphrase: type it "
                                   "at the prompt, or name a file with "
                                   "QINGLING_PASSPHRASE_FILE");
        if (strncmp(a, "--db", 4) == 0 && (a[4] == '\0' || a[4] == '=')) {
            slot = &cli->db;
            name = "--db";
        } else if (strncmp(a, "--key", 5) == 0 &&
                   (a[5] == '\0' || a[5] == '=')) {
            slot = &cli->key_path;
            name = "--key";
        }
        if (slot == NULL) {
            argv[out++] = argv[i];
            continue;
        }
        if (strchr(a, '=') != NULL) {
            *slot = strchr(a, '=') + 1;
        } else {
            if (i + 1 >= *argc)
                return cli_usage(NULL, "%s needs a value", name);
            *slot = argv[++i];
        }
    }
    argv[out] = NULL;
    *argc = out;
    return EXIT_OK;
}

static int
read_env(struct cli *cli)
{
    const char *now = getenv("QINGLING_NOW");
    struct ql_diag d;

    if (cli->db == NULL)
        cli->db = getenv("QINGLING_DB");
    if (cli->key_path == NULL)
        cli->key_path = getenv("QINGLING_KEY");
    if (now != NULL && *now != '\0') {
        if (ql_time_parse(now, strlen(now), &cli->now, &d) != QL_OK)
            return cli_error(EXIT_USAGE, "QINGLING_NOW '%s' is not an RFC "
                                         "3339 time: %s",
                             now, d.msg);
        cli->now_set = true;
    }
    return EXIT_OK;
}

/*
 * Passphrases, secret keys and data keys live in this process's memory:
 * no core dump may carry them out. The core size limit goes to 0 for good
 * (the hard limit too, so nothing later raises it) and, on Linux, the
 * process is made undumpable, which also keeps other processes of the
 * same account from attaching to it or reading its memory through /proc.
 * This runs first, before any secret is read.
 */
static int
no_core_dumps(void)
{
    const struct rlimit none = {0, 0};

    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return cli_error(EXIT_ENV, "cannot turn core dumps off: %s",
                         strerror(errno));
#ifdef __linux__
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return cli_error(EXIT_ENV, "cannot make the process undumpable: %s",
                         strerror(errno));
#endif
    return EXIT_OK;
}

static bool
wants_help(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int
main(int argc, char **argv)
{
    struct cli cli;
    struct ql_diag d;
    const struct cli_cmd *cmd;
    int ex;

    memset(&cli, 0, sizeof cli);
    if ((ex = no_core_dumps()) != EXIT_OK ||
        (ex = global_options(&argc, argv, &cli)) != EXIT_OK)
        return ex;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        if (argc >= 3 && (cmd = cli_find(argv[2])) != NULL) {
            printf("usage: %s\n", cmd->usage);
            return EXIT_OK;
        }
        usage_all(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("qingling 0.1");
        return EXIT_OK;
    }
    if ((cmd = cli_find(argv[1])) == NULL)
        return cli_usage(NULL, "unknown command '%s'; see 'qingling --help'",
                         argv[1]);
    if (!(cmd->flags & CMD_OWN_HELP) && wants_help(argc - 1, argv + 1)) {
        printf("usage: %s\n", cmd->usage);
        return EXIT_OK;
    }
    if ((ex = read_env(&cli)) != EXIT_OK)
        return ex;
    if (ql_crypto_init(&d) != QL_OK)
        return cli_fail(&d);
    /* Settles SQLite for this one process; false only if it had started. */
    (void)ql_store_init_process();
    if ((cmd->flags & CMD_NEEDS_KEY) && (ex = cli_load_key(&cli)) != EXIT_OK)
        goto out;
    if ((cmd->flags & CMD_NEEDS_STORE) &&
        (ex = cli_open_county(&cli, (cmd->flags & CMD_READONLY) != 0)) !=
            EXIT_OK)
        goto out;
    ex = cmd->run(argc - 1, argv + 1, &cli);
out:
    ql_county_close(cli.county);
    ql_key_free(cli.key);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(EXIT_ENV, "cannot write output: %s", strerror(errno));
        return EXIT_ENV;
    }
    return ex;
}
