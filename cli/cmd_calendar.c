/* qingling calendar: set and show the holiday calendar. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_county.h"

int
cmd_calendar(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *self = cli_find("calendar");
    const struct ql_calendar *cal = NULL;
    struct ql_calendar_entry e;
    struct ql_diag d;
    char *text = NULL, first[16], last[16];
    const char *base;
    size_t len = 0, i;
    int ex;

    ql_diag_clear(&d);
    if (argc == 3 && strcmp(argv[1], "set") == 0) {
        if ((ex = cli_read_file(argv[2], 1024 * 1024, &text, &len)) !=
            EXIT_OK)
            return ex;
        base = strrchr(argv[2], '/');
        if ((ex = cli_load_key(cli)) != EXIT_OK ||
            (ex = cli_open_county(cli, false)) != EXIT_OK) {
            free(text);
            return ex;
        }
        if (ql_county_calendar_set(cli->county, base ? base + 1 : argv[2],
                                   text, len, &d) != QL_OK) {
            free(text);
            return cli_fail(&d);
        }
        free(text);
        if (!cli->json)
            printf("calendar set from %s\n", argv[2]);
        return EXIT_OK;
    }
    if (argc != 2 || strcmp(argv[1], "show") != 0)
        return cli_usage(self, "say what to do: set FILE or show");
    if ((ex = cli_open_county(cli, true)) != EXIT_OK)
        return ex;
    if (ql_county_calendar(cli->county, &cal, &d) != QL_OK)
        return cli_fail(&d);
    for (i = 0; ql_calendar_entry(cal, i, &e); i++) {
        if (ql_date_format(e.first, first, sizeof first, &d) != QL_OK ||
            ql_date_format(e.last, last, sizeof last, &d) != QL_OK)
            return cli_fail(&d);
        if (cli->json) {
            bool f1 = true;

            fputc('{', stdout);
            cli_json_kv(stdout, &f1, "kind", e.workday ? "workday" : "holiday");
            cli_json_kv(stdout, &f1, "first", first);
            cli_json_kv(stdout, &f1, "last", last);
            cli_json_kv(stdout, &f1, "label", e.label);
            fputs("}\n", stdout);
        } else {
            printf("%-8s %s %s %s\n", e.workday ? "workday" : "holiday",
                   first, last, e.label);
        }
    }
    return EXIT_OK;
}
