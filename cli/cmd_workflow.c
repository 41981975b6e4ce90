/* qingling workflow: check, register, list, show, graph and migrate. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ql_county.h"
#include "ql_lead.h"
#include "ql_workflow.h"

static const char *
base_name(const char *path)
{
    const char *b = strrchr(path, '/');

    return b ? b + 1 : path;
}

/* Loads FILE as a workflow: the check is the loader's validation. */
static int
load_file(const char *path, struct ql_workflow **wf, char **src, size_t *len)
{
    struct ql_diag d;
    int ex;

    if ((ex = cli_read_file(path, QL_WORKFLOW_SOURCE_MAX + 1, src, len)) !=
        EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    if (ql_workflow_load(base_name(path), *src, *len, wf, &d) != QL_OK) {
        free(*src);
        *src = NULL;
        return cli_fail(&d);
    }
    return EXIT_OK;
}

static ql_err
print_wf(void *ctx, const struct ql_workflow_info *w, struct ql_diag *d)
{
    struct cli *cli = ctx;
    bool first = true;

    (void)d;
    if (cli->json) {
        fputc('{', stdout);
        cli_json_kv(stdout, &first, "name", w->name);
        cli_json_kv(stdout, &first, "hash", w->hash);
        cli_json_ki(stdout, &first, "entry", (long long)w->idx);
        fputs("}\n", stdout);
    } else {
        printf("%-12s %s  (entry %llu)\n", w->name, w->hash,
               (unsigned long long)w->idx);
    }
    return QL_OK;
}

static const char *
limit_text(const struct ql_wf_limit *l, char *buf, size_t size)
{
    if (l->kind == QL_LIMIT_NONE)
        return "";
    snprintf(buf, size, "%d %s", l->n,
             l->kind == QL_LIMIT_DAYS ? "days" : "working days");
    return buf;
}

static void
show(const struct ql_workflow *wf, struct cli *cli)
{
    char lim[48];
    size_t i, j;

    if (cli->json) {
        bool first = true;

        fputc('{', stdout);
        cli_json_kv(stdout, &first, "name", ql_workflow_name(wf));
        cli_json_kv(stdout, &first, "title", ql_workflow_title(wf));
        cli_json_kv(stdout, &first, "hash", ql_workflow_hash(wf));
        cli_json_kv(stdout, &first, "initial", ql_workflow_initial(wf));
        fputs(",\"states\":[", stdout);
        for (i = 0; i < ql_workflow_state_count(wf); i++) {
            const struct ql_wf_state *s = ql_workflow_state_at(wf, i);
            bool f2 = true;

            fputs(i ? ",{" : "{", stdout);
            cli_json_kv(stdout, &f2, "name", s->name);
            cli_json_kv(stdout, &f2, "label", s->label);
            cli_json_kb(stdout, &f2, "terminal", s->terminal);
            cli_json_kb(stdout, &f2, "cleared", s->cleared);
            fputc('}', stdout);
        }
        fputs("],\"transitions\":[", stdout);
        for (i = 0; i < ql_workflow_transition_count(wf); i++) {
            const struct ql_wf_transition *t =
                ql_workflow_transition_at(wf, i);
            bool f2 = true;

            fputs(i ? ",{" : "{", stdout);
            cli_json_kv(stdout, &f2, "name", t->name);
            cli_json_kv(stdout, &f2, "label", t->label);
            cli_json_kv(stdout, &f2, "to", t->to);
            cli_json_kv(stdout, &f2, "approval", t->approval);
            fputc('}', stdout);
        }
        fputs("]}\n", stdout);
        return;
    }
    printf("%s  %s\nversion %s\ninitial state %s\n\nstates:\n",
           ql_workflow_name(wf), ql_workflow_title(wf), ql_workflow_hash(wf),
           ql_workflow_initial(wf));
    for (i = 0; i < ql_workflow_state_count(wf); i++) {
        const struct ql_wf_state *s = ql_workflow_state_at(wf, i);

        printf("  ");
        cli_pad(stdout, s->name, 18);
        cli_pad(stdout, s->label, 22);
        printf("%s%s%s\n", limit_text(&s->limit, lim, sizeof lim),
               s->terminal ? " terminal" : "", s->cleared ? " cleared" : "");
    }
    printf("\ntransitions:\n");
    for (i = 0; i < ql_workflow_transition_count(wf); i++) {
        const struct ql_wf_transition *t = ql_workflow_transition_at(wf, i);

        printf("  ");
        cli_pad(stdout, t->name, 20);
        cli_pad(stdout, t->label, 18);
        for (j = 0; j < t->nfrom; j++)
            printf("%s%s", j ? "," : "", t->from[j]);
        printf(" -> %s  by ", t->to);
        for (j = 0; j < t->nroles; j++)
            printf("%s%s", j ? "," : "", t->roles[j]);
        if (t->approval != NULL)
            printf(", approved by %s", t->approval);
        printf("\n");
    }
    printf("\nfields:\n");
    for (i = 0; i < ql_workflow_field_count(wf); i++) {
        const struct ql_wf_field *f = ql_workflow_field_at(wf, i);
        static const char *const types[] = {"text", "enum", "date", "number",
                                            "list"};
        static const char *const vis[] = {"sealed", "clear", "secret"};

        printf("  ");
        cli_pad(stdout, f->name, 20);
        cli_pad(stdout, f->label, 20);
        printf("%s, %s%s\n", types[f->type], vis[f->vis],
               f->required ? ", required" : "");
    }
}

int
cmd_workflow(int argc, char **argv, struct cli *cli)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"map", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    const struct cli_cmd *self = cli_find("workflow");
    const struct ql_workflow *cwf = NULL;
    struct ql_workflow *wf = NULL;
    const char *format = "dot", *to = NULL, *map = NULL, *sub;
    char *src = NULL, *graph = NULL, hash[65];
    struct ql_diag d;
    size_t len = 0;
    int opt, ex = EXIT_OK;

    ql_diag_clear(&d);
    if (argc < 2)
        return cli_usage(self, "say what to do: check, add, list, show, "
                               "graph or migrate");
    sub = argv[1];
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == 'f')
            format = optarg;
        else if (opt == 't')
            to = optarg;
        else if (opt == 'm')
            map = optarg;
        else
            return cli_option_error(self, opt, argc, argv);
    }
    if (strcmp(sub, "check") == 0 || strcmp(sub, "add") == 0) {
        if (optind + 1 != argc)
            return cli_usage(self, "give exactly one workflow FILE");
        if ((ex = load_file(argv[optind], &wf, &src, &len)) != EXIT_OK)
            return ex;
        if (strcmp(sub, "check") == 0) {
            printf("%s: workflow '%s' is valid (%zu states, %zu "
                   "transitions), version %s\n",
                   argv[optind], ql_workflow_name(wf),
                   ql_workflow_state_count(wf),
                   ql_workflow_transition_count(wf), ql_workflow_hash(wf));
            goto out;
        }
        if ((ex = cli_load_key(cli)) != EXIT_OK ||
            (ex = cli_open_county(cli, false)) != EXIT_OK)
            goto out;
        if (ql_county_workflow_add(cli->county, base_name(argv[optind]), src,
                                   len, hash, &d) != QL_OK) {
            ex = cli_fail(&d);
            goto out;
        }
        printf("registered workflow '%s' version %s\n", ql_workflow_name(wf),
               hash);
        goto out;
    }
    if (strcmp(sub, "list") == 0) {
        if ((ex = cli_open_county(cli, true)) != EXIT_OK)
            return ex;
        if (ql_county_workflows(cli->county, print_wf, cli, &d) != QL_OK)
            return cli_fail(&d);
        return EXIT_OK;
    }
    if (strcmp(sub, "show") == 0 || strcmp(sub, "graph") == 0) {
        const char *what;

        if (optind + 1 != argc)
            return cli_usage(self, "give exactly one workflow NAME or "
                                   "version hash");
        what = argv[optind];
        if ((ex = cli_open_county(cli, true)) != EXIT_OK)
            return ex;
        if (ql_county_workflow(cli->county,
                               strlen(what) == 64 ? NULL : what,
                               strlen(what) == 64 ? what : NULL, &cwf,
                               &d) != QL_OK)
            return cli_fail(&d);
        if (strcmp(sub, "show") == 0) {
            show(cwf, cli);
            return EXIT_OK;
        }
        if (strcmp(format, "dot") != 0 && strcmp(format, "mermaid") != 0)
            return cli_usage(self, "--format is dot or mermaid");
        if (ql_workflow_graph(cwf,
                              strcmp(format, "dot") == 0 ? QL_GRAPH_DOT
                                                         : QL_GRAPH_MERMAID,
                              &graph, &d) != QL_OK)
            return cli_fail(&d);
        fputs(graph, stdout);
        free(graph);
        return EXIT_OK;
    }
    if (strcmp(sub, "migrate") == 0) {
        if (optind + 1 != argc || to == NULL)
            return cli_usage(self, "give a lead ID and --to VERSION");
        if ((ex = cli_load_key(cli)) != EXIT_OK ||
            (ex = cli_open_county(cli, false)) != EXIT_OK)
            return ex;
        if (ql_lead_migrate(cli->county, argv[optind], to, map, &d) != QL_OK)
            return cli_fail(&d);
        printf("migrated %s to version %s\n", argv[optind], to);
        return EXIT_OK;
    }
    return cli_usage(self, "unknown workflow command '%s'", sub);
out:
    ql_workflow_free(wf);
    free(src);
    return ex;
}
