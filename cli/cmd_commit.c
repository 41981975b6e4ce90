/*
 * qingling commit: a unit's commitment for a cycle (承诺) — signed and
 * declared by the unit head, sampled, spot-checked and verified by an
 * inspector — and showing where each commitment stands. The engine
 * (ql_commit) checks every step and changes nothing when it refuses.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_commit.h"
#include "ql_county.h"
#include "ql_lead.h"
#include "ql_workflow.h"

/* Largest field value or note read from a file (an entry is 64 KiB). */
#define FILE_MAX (60 * 1024)
/* Most --field options one spot-check takes. */
#define FIELDS_MAX 16

static int commit_sign(int argc, char **argv, struct cli *cli);
static int commit_declare(int argc, char **argv, struct cli *cli);
static int commit_sample(int argc, char **argv, struct cli *cli);
static int commit_verify(int argc, char **argv, struct cli *cli);
static int commit_show(int argc, char **argv, struct cli *cli);
static int commit_spotcheck(int argc, char **argv, struct cli *cli);

/* Each usage is word for word its line of the `commit` synopsis. */
static const struct cli_cmd commit_subs[] = {
    {"sign", commit_sign,
     "qingling commit sign --unit CODE --cycle NAME --cutoff DATE "
     "--deadline DATE [--text TEXT]",
     "sign the unit's commitment (unit head)", 0},
    {"declare", commit_declare,
     "qingling commit declare --unit CODE [--cycle NAME]",
     "declare the unit fully cleared (unit head)", 0},
    {"sample", commit_sample,
     "qingling commit sample --unit CODE [--cycle NAME]",
     "draw the spot-check sample of a declaration (inspector)", 0},
    {"verify", commit_verify,
     "qingling commit verify --unit CODE [--cycle NAME]",
     "verify a declaration once its sample is checked (inspector)", 0},
    {"show", commit_show,
     "qingling commit show [--unit CODE] [--cycle NAME] [--json]",
     "show commitments and their declarations, samples and verifications", 0},
    {"spotcheck", commit_spotcheck,
     "qingling commit spotcheck ID pass|return "
     "[--field NAME=VALUE | --field NAME=@FILE]... "
     "[--note TEXT | --note @FILE]",
     "record a spot-check of a closed lead (inspector)", 0},
};

#define NSUBS (sizeof commit_subs / sizeof commit_subs[0])

static const struct cli_cmd *
find_sub(const char *name)
{
    size_t i;

    for (i = 0; i < NSUBS; i++)
        if (strcmp(commit_subs[i].name, name) == 0)
            return &commit_subs[i];
    return NULL;
}

int
cmd_commit(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *self = cli_find("commit");
    const struct cli_cmd *sub;
    int i;

    if (argc < 2)
        return cli_usage(self, "say what to do: sign, declare, sample, "
                               "verify, show or spotcheck");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("usage: %s\n", self->usage);
        return EXIT_OK;
    }
    if ((sub = find_sub(argv[1])) == NULL)
        return cli_usage(self, "unknown commit command '%s'", argv[1]);
    for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: %s\n", sub->usage);
            return EXIT_OK;
        }
    }
    return sub->run(argc - 1, argv + 1, cli);
}

/* ---- options ---- */

enum {
    OPT_UNIT = 1u << 0,
    OPT_CYCLE = 1u << 1,
    OPT_CUTOFF = 1u << 2,
    OPT_DEADLINE = 1u << 3,
    OPT_TEXT = 1u << 4,
    OPT_FIELD = 1u << 5,
    OPT_NOTE = 1u << 6,
};

struct opts {
    const char *unit, *cycle, *cutoff, *deadline, *text, *note;
    const char *field[FIELDS_MAX];
    size_t nfield;
    char **pos;
    int npos;
};

static int
set_once(const struct cli_cmd *sub, const char **slot, const char *name,
         const char *value)
{
    if (*slot != NULL)
        return cli_usage(sub, "--%s given twice", name);
    *slot = value;
    return EXIT_OK;
}

/*
 * Parses a subcommand's options (argv[0] is its name): only those in
 * allowed, and exactly npos positional arguments.
 */
static int
parse_opts(int argc, char **argv, const struct cli_cmd *sub, unsigned allowed,
           int npos, struct opts *o)
{
    static const struct option longopts[] = {
        {"unit", required_argument, NULL, 'u'},
        {"cycle", required_argument, NULL, 'c'},
        {"cutoff", required_argument, NULL, 'o'},
        {"deadline", required_argument, NULL, 'd'},
        {"text", required_argument, NULL, 't'},
        {"field", required_argument, NULL, 'f'},
        {"note", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        int opt;
        unsigned bit;
    } bits[] = {
        {'u', OPT_UNIT},     {'c', OPT_CYCLE}, {'o', OPT_CUTOFF},
        {'d', OPT_DEADLINE}, {'t', OPT_TEXT},  {'f', OPT_FIELD},
        {'n', OPT_NOTE},
    };
    int opt, li, ex = EXIT_OK;
    size_t i;

    memset(o, 0, sizeof *o);
    optind = 1;
    opterr = 0;
    while (ex == EXIT_OK &&
           (li = -1, opt = getopt_long(argc, argv, ":", longopts, &li)) != -1) {
        if (opt == ':')
            return cli_usage(sub, "%s needs a value", argv[optind - 1]);
        for (i = 0; i < sizeof bits / sizeof bits[0]; i++)
            if (bits[i].opt == opt)
                break;
        if (opt == '?' || i == sizeof bits / sizeof bits[0])
            return cli_usage(sub, "unknown option '%s'", argv[optind - 1]);
        if (!(allowed & bits[i].bit))
            return cli_usage(sub, "unknown option '--%s'",
                             li >= 0 ? longopts[li].name : "?");
        switch (opt) {
        case 'u':
            ex = set_once(sub, &o->unit, "unit", optarg);
            break;
        case 'c':
            ex = set_once(sub, &o->cycle, "cycle", optarg);
            break;
        case 'o':
            ex = set_once(sub, &o->cutoff, "cutoff", optarg);
            break;
        case 'd':
            ex = set_once(sub, &o->deadline, "deadline", optarg);
            break;
        case 't':
            ex = set_once(sub, &o->text, "text", optarg);
            break;
        case 'n':
            ex = set_once(sub, &o->note, "note", optarg);
            break;
        case 'f':
            if (o->nfield == FIELDS_MAX)
                return cli_usage(sub, "at most %d --field options", FIELDS_MAX);
            o->field[o->nfield++] = optarg;
            break;
        }
    }
    if (ex != EXIT_OK)
        return ex;
    if (argc - optind != npos)
        return argc - optind > npos ? cli_usage(sub, "unexpected argument '%s'",
                                                argv[optind + npos])
                                    : cli_usage(sub, "missing argument");
    o->pos = argv + optind;
    o->npos = npos;
    if ((allowed & OPT_UNIT) && o->unit == NULL && npos == 0 &&
        strcmp(sub->name, "show") != 0)
        return cli_usage(sub, "--unit is required");
    return EXIT_OK;
}

static int
open_write(struct cli *cli)
{
    int ex;

    if ((ex = cli_load_key(cli)) != EXIT_OK)
        return ex;
    return cli_open_county(cli, false);
}

/* Local date of an RFC 3339 time, for display; the time itself on error. */
static const char *
local_day(struct cli *cli, const char *time, char buf[16])
{
    struct ql_diag d;
    int64_t t;
    int32_t day;

    if (ql_time_parse(time, strlen(time), &t, &d) != QL_OK ||
        ql_zone_local_date(t, ql_county_zone(cli->county), &day, &d) != QL_OK ||
        ql_date_format(day, buf, 16, &d) != QL_OK)
        return time;
    return buf;
}

/* ---- show ---- */

struct event_list {
    struct ql_commit_event *v;
    char **strs; /* copies of the strings the events point to */
    size_t n, nstrs;
};

static const char *
keep(struct event_list *l, const char *s, bool *oom)
{
    char **grown, *c;

    if (s == NULL || *oom)
        return NULL;
    grown = realloc(l->strs, (l->nstrs + 1) * sizeof *grown);
    if (grown == NULL || (c = strdup(s)) == NULL) {
        if (grown != NULL)
            l->strs = grown;
        *oom = true;
        return NULL;
    }
    l->strs = grown;
    l->strs[l->nstrs++] = c;
    return c;
}

static ql_err
collect_event(void *ctx, const struct ql_commit_event *ev, struct ql_diag *d)
{
    struct event_list *l = ctx;
    struct ql_commit_event *grown, *e;
    bool oom = false;

    grown = realloc(l->v, (l->n + 1) * sizeof *grown);
    if (grown == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    l->v = grown;
    e = &l->v[l->n];
    *e = *ev;
    e->unit = keep(l, ev->unit, &oom);
    e->cycle = keep(l, ev->cycle, &oom);
    e->kind = keep(l, ev->kind, &oom);
    e->actor = keep(l, ev->actor, &oom);
    e->time = keep(l, ev->time, &oom);
    e->scope_hash = keep(l, ev->scope_hash, &oom);
    e->checkpoint_root = keep(l, ev->checkpoint_root, &oom);
    e->population_hash = keep(l, ev->population_hash, &oom);
    if (oom)
        return ql_fail(d, QL_ENOMEM, NULL);
    l->n++;
    return QL_OK;
}

static void
events_release(struct event_list *l)
{
    size_t i;

    for (i = 0; i < l->nstrs; i++)
        free(l->strs[i]);
    free(l->strs);
    free(l->v);
    memset(l, 0, sizeof *l);
}

struct sample_print {
    bool json, first;
};

static ql_err
print_sample_lead(void *ctx, const char *lead, bool mandatory,
                  struct ql_diag *d)
{
    struct sample_print *sp = ctx;

    (void)d;
    if (sp->json) {
        bool first = true;

        if (!sp->first)
            fputc(',', stdout);
        fputc('{', stdout);
        cli_json_kv(stdout, &first, "lead", lead);
        cli_json_kb(stdout, &first, "mandatory", mandatory);
        fputc('}', stdout);
    } else {
        printf("      %s%s\n", lead,
               mandatory ? "  (mandatory: 查否, "
                           "re-reported or 不满意)"
                         : "");
    }
    sp->first = false;
    return QL_OK;
}

static int
print_event_text(struct cli *cli, const struct ql_commit_event *ev)
{
    struct sample_print sp = {false, true};
    struct ql_diag d;
    char day[16];

    local_day(cli, ev->time, day);
    if (strcmp(ev->kind, "declare") == 0) {
        printf("  declared cleared %s by %s (entry %llu): %lld in-scope "
               "lead%s\n    bound to checkpoint %llu %s\n    scope hash %s\n",
               day, ev->actor, (unsigned long long)ev->idx,
               (long long)ev->scope_leads, ev->scope_leads == 1 ? "" : "s",
               (unsigned long long)ev->checkpoint_size,
               ev->checkpoint_root ? ev->checkpoint_root : "-",
               ev->scope_hash ? ev->scope_hash : "-");
    } else if (strcmp(ev->kind, "sample") == 0) {
        printf("  sample drawn %s by %s (entry %llu) for the declaration "
               "of entry %llu, from %lld closed lead%s, seeded by "
               "checkpoint %llu:\n",
               day, ev->actor, (unsigned long long)ev->idx,
               (unsigned long long)ev->ref, (long long)ev->population,
               ev->population == 1 ? "" : "s",
               (unsigned long long)ev->checkpoint_size);
        ql_diag_clear(&d);
        if (ql_commit_sample_leads(cli->county, ev->idx, print_sample_lead, &sp,
                                   &d) != QL_OK)
            return cli_fail(&d);
        if (sp.first)
            puts("      (none)");
    } else {
        printf("  verified %s by %s (entry %llu) for the declaration of "
               "entry %llu\n",
               day, ev->actor, (unsigned long long)ev->idx,
               (unsigned long long)ev->ref);
    }
    return EXIT_OK;
}

static int
print_event_json(struct cli *cli, const struct ql_commit_event *ev)
{
    struct sample_print sp = {true, true};
    struct ql_diag d;
    bool first = true;

    fputc('{', stdout);
    cli_json_ki(stdout, &first, "entry", (long long)ev->idx);
    cli_json_kv(stdout, &first, "kind", ev->kind);
    cli_json_kv(stdout, &first, "by", ev->actor);
    cli_json_kv(stdout, &first, "time", ev->time);
    if (ev->has_ref)
        cli_json_ki(stdout, &first, "declaration", (long long)ev->ref);
    if (ev->scope_hash != NULL) {
        cli_json_kv(stdout, &first, "scope_hash", ev->scope_hash);
        cli_json_ki(stdout, &first, "scope_leads", ev->scope_leads);
    }
    if (ev->checkpoint_root != NULL) {
        cli_json_ki(stdout, &first, "checkpoint_size",
                    (long long)ev->checkpoint_size);
        cli_json_kv(stdout, &first, "checkpoint_root", ev->checkpoint_root);
    }
    if (strcmp(ev->kind, "sample") == 0) {
        cli_json_ki(stdout, &first, "population", ev->population);
        cli_json_kv(stdout, &first, "population_hash", ev->population_hash);
        fputs(",\"leads\":[", stdout);
        ql_diag_clear(&d);
        if (ql_commit_sample_leads(cli->county, ev->idx, print_sample_lead, &sp,
                                   &d) != QL_OK) {
            fputs("]}", stdout);
            return cli_fail(&d);
        }
        fputc(']', stdout);
    }
    fputc('}', stdout);
    return EXIT_OK;
}

struct commit_list {
    struct ql_commit_info *v;
    struct event_list strs; /* reuses the string keeper */
    size_t n;
};

static ql_err
collect_commit(void *ctx, const struct ql_commit_info *ci, struct ql_diag *d)
{
    struct commit_list *l = ctx;
    struct ql_commit_info *grown, *c;
    bool oom = false;

    grown = realloc(l->v, (l->n + 1) * sizeof *grown);
    if (grown == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    l->v = grown;
    c = &l->v[l->n];
    *c = *ci;
    c->unit = keep(&l->strs, ci->unit, &oom);
    c->cycle = keep(&l->strs, ci->cycle, &oom);
    c->cutoff = keep(&l->strs, ci->cutoff, &oom);
    c->deadline = keep(&l->strs, ci->deadline, &oom);
    c->text = keep(&l->strs, ci->text, &oom);
    c->signer = keep(&l->strs, ci->signer, &oom);
    c->time = keep(&l->strs, ci->time, &oom);
    if (oom)
        return ql_fail(d, QL_ENOMEM, NULL);
    l->n++;
    return QL_OK;
}

/* Prints commitments of unit and cycle (NULL: all) with their events. */
static int
show(struct cli *cli, const char *unit, const char *cycle)
{
    struct commit_list cl;
    struct event_list ev;
    struct ql_diag d;
    char day[16];
    size_t i, j;
    int ex = EXIT_OK;

    memset(&cl, 0, sizeof cl);
    memset(&ev, 0, sizeof ev);
    ql_diag_clear(&d);
    if (ql_commit_list(cli->county, unit, cycle, collect_commit, &cl, &d) !=
        QL_OK) {
        ex = cli_fail(&d);
        goto out;
    }
    for (i = 0; i < cl.n && ex == EXIT_OK; i++) {
        const struct ql_commit_info *c = &cl.v[i];
        bool first = true;

        events_release(&ev);
        if (ql_commit_events(cli->county, c->unit, c->cycle, collect_event, &ev,
                             &d) != QL_OK) {
            ex = cli_fail(&d);
            break;
        }
        if (cli->json) {
            fputc('{', stdout);
            cli_json_kv(stdout, &first, "unit", c->unit);
            cli_json_kv(stdout, &first, "cycle", c->cycle);
            cli_json_kv(stdout, &first, "cutoff", c->cutoff);
            cli_json_kv(stdout, &first, "deadline", c->deadline);
            cli_json_kv(stdout, &first, "text", c->text);
            cli_json_kv(stdout, &first, "signed_by", c->signer);
            cli_json_kv(stdout, &first, "signed_at", c->time);
            cli_json_ki(stdout, &first, "entry", (long long)c->idx);
            fputs(",\"events\":[", stdout);
            for (j = 0; j < ev.n && ex == EXIT_OK; j++) {
                if (j > 0)
                    fputc(',', stdout);
                ex = print_event_json(cli, &ev.v[j]);
            }
            fputs("]}\n", stdout);
            continue;
        }
        printf("%s%s %s: signed %s by %s (entry %llu)\n", i ? "\n" : "",
               c->unit, c->cycle, local_day(cli, c->time, day), c->signer,
               (unsigned long long)c->idx);
        printf("  leads registered up to %s, to be cleared by %s\n", c->cutoff,
               c->deadline);
        printf("  %s\n", c->text);
        for (j = 0; j < ev.n && ex == EXIT_OK; j++)
            ex = print_event_text(cli, &ev.v[j]);
    }
    if (ex == EXIT_OK && cl.n == 0 && !cli->json)
        puts("no commitment");
out:
    events_release(&ev);
    events_release(&cl.strs);
    free(cl.v);
    return ex;
}

static int
commit_show(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("show");
    struct opts o;
    int ex;

    if ((ex = parse_opts(argc, argv, sub, OPT_UNIT | OPT_CYCLE, 0, &o)) !=
        EXIT_OK)
        return ex;
    if ((ex = cli_open_county(cli, true)) != EXIT_OK)
        return ex;
    return show(cli, o.unit, o.cycle);
}

/* ---- the writes ---- */

static int
commit_sign(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("sign");
    struct ql_diag d;
    struct opts o;
    uint64_t idx = 0;
    int ex;

    if ((ex = parse_opts(argc, argv, sub,
                         OPT_UNIT | OPT_CYCLE | OPT_CUTOFF | OPT_DEADLINE |
                             OPT_TEXT,
                         0, &o)) != EXIT_OK)
        return ex;
    if (o.cycle == NULL || o.cutoff == NULL || o.deadline == NULL)
        return cli_usage(sub, "--cycle, --cutoff and --deadline are "
                              "required");
    if ((ex = open_write(cli)) != EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    if (ql_commit_sign(cli->county, o.unit, o.cycle, o.cutoff, o.deadline,
                       o.text, &idx, &d) != QL_OK)
        return cli_fail(&d);
    if (cli->json)
        return show(cli, o.unit, o.cycle);
    printf("unit %s signed its commitment for %s (entry %llu): leads "
           "registered up to %s, to be cleared by %s\n",
           o.unit, o.cycle, (unsigned long long)idx, o.cutoff, o.deadline);
    return EXIT_OK;
}

/* The cycle a write acted on: the one given, else the unit's latest. */
static const char *
acted_cycle(struct cli *cli, const char *unit, const char *cycle,
            char buf[QL_CYCLE_MAX + 1])
{
    struct ql_diag d;

    if (cycle != NULL)
        return cycle;
    if (ql_commit_latest_cycle(cli->county, unit, buf, &d) != QL_OK)
        return NULL;
    return buf;
}

/* Prints the event a write made, and returns EXIT_OK. */
static int
print_made(struct cli *cli, const char *unit, const char *cycle, uint64_t idx)
{
    struct event_list ev;
    struct ql_diag d;
    char buf[QL_CYCLE_MAX + 1];
    size_t i;
    int ex = EXIT_OK;

    memset(&ev, 0, sizeof ev);
    cycle = acted_cycle(cli, unit, cycle, buf);
    ql_diag_clear(&d);
    if (ql_commit_events(cli->county, unit, cycle, collect_event, &ev, &d) !=
        QL_OK) {
        events_release(&ev);
        return cli_fail(&d);
    }
    for (i = 0; i < ev.n; i++) {
        if (ev.v[i].idx != idx)
            continue;
        if (cli->json) {
            ex = print_event_json(cli, &ev.v[i]);
            fputc('\n', stdout);
        } else {
            printf("unit %s, cycle %s:\n", unit, cycle ? cycle : "-");
            ex = print_event_text(cli, &ev.v[i]);
        }
    }
    events_release(&ev);
    return ex;
}

typedef ql_err (*write_fn)(struct ql_county *c, const char *unit,
                           const char *cycle, uint64_t *idx, struct ql_diag *d);

static int
unit_write(int argc, char **argv, struct cli *cli, const char *name,
           write_fn fn)
{
    const struct cli_cmd *sub = find_sub(name);
    struct ql_diag d;
    struct opts o;
    uint64_t idx = 0;
    int ex;

    if ((ex = parse_opts(argc, argv, sub, OPT_UNIT | OPT_CYCLE, 0, &o)) !=
            EXIT_OK ||
        (ex = open_write(cli)) != EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    if (fn(cli->county, o.unit, o.cycle, &idx, &d) != QL_OK)
        return cli_fail(&d);
    return print_made(cli, o.unit, o.cycle, idx);
}

static int
commit_declare(int argc, char **argv, struct cli *cli)
{
    return unit_write(argc, argv, cli, "declare", ql_commit_declare);
}

static int
commit_sample(int argc, char **argv, struct cli *cli)
{
    return unit_write(argc, argv, cli, "sample", ql_commit_sample);
}

static int
commit_verify(int argc, char **argv, struct cli *cli)
{
    return unit_write(argc, argv, cli, "verify", ql_commit_verify);
}

/* ---- spot-checks ---- */

/*
 * Turns NAME=VALUE (or NAME=@FILE) into a field of wf, accepting the
 * field's label for its name. *value is caller-owned.
 */
static int
parse_field(const struct cli_cmd *sub, const struct ql_workflow *wf,
            const char *arg, const char **name, char **value)
{
    const char *eq = strchr(arg, '=');
    const struct ql_wf_field *f;
    char label[256];
    size_t len;
    int ex;

    if (eq == NULL || eq == arg || (size_t)(eq - arg) >= sizeof label)
        return cli_usage(sub, "--field wants NAME=VALUE, not '%s'", arg);
    memcpy(label, arg, (size_t)(eq - arg));
    label[eq - arg] = '\0';
    if ((f = ql_workflow_field_by_label(wf, label)) == NULL)
        return cli_error(EXIT_BADINPUT, "workflow '%s' has no field '%s'",
                         ql_workflow_name(wf), label);
    *name = f->name;
    if (eq[1] == '@') {
        if ((ex = cli_read_file(eq + 2, FILE_MAX, value, &len)) != EXIT_OK)
            return ex;
        /* A file's final newline is not part of the value. */
        while (len > 0 &&
               ((*value)[len - 1] == '\n' || (*value)[len - 1] == '\r'))
            (*value)[--len] = '\0';
        return EXIT_OK;
    }
    if ((*value = strdup(eq + 1)) == NULL)
        return cli_error(EXIT_ENV, "out of memory");
    return EXIT_OK;
}

static int
do_spotcheck(int argc, char **argv, struct cli *cli, const struct cli_cmd *sub)
{
    const struct ql_workflow *wf = NULL;
    struct ql_wf_kv fields[FIELDS_MAX];
    struct ql_lead *lead = NULL;
    char *values[FIELDS_MAX], *note = NULL;
    const char *id;
    struct ql_diag d;
    struct opts o;
    bool pass, pending = false;
    size_t i, n = 0, len;
    int ex;

    if ((ex = parse_opts(argc, argv, sub, OPT_FIELD | OPT_NOTE, 2, &o)) !=
        EXIT_OK)
        return ex;
    id = o.pos[0];
    if (strcmp(o.pos[1], "pass") == 0)
        pass = true;
    else if (strcmp(o.pos[1], "return") == 0)
        pass = false;
    else
        return cli_usage(sub, "say pass or return, not '%s'", o.pos[1]);
    if ((ex = open_write(cli)) != EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    if (ql_lead_load(cli->county, id, &lead, &d) != QL_OK ||
        ql_county_workflow(cli->county, NULL, ql_lead_workflow(lead), &wf,
                           &d) != QL_OK) {
        ql_lead_free(lead);
        return cli_fail(&d);
    }
    ql_lead_free(lead);
    for (i = 0; i < o.nfield && ex == EXIT_OK; i++) {
        if ((ex = parse_field(sub, wf, o.field[i], &fields[n].name,
                              &values[n])) == EXIT_OK) {
            fields[n].value = values[n];
            n++;
        }
    }
    if (ex == EXIT_OK && o.note != NULL) {
        if (o.note[0] == '@')
            ex = cli_read_file(o.note + 1, FILE_MAX, &note, &len);
        else if ((note = strdup(o.note)) == NULL)
            ex = cli_error(EXIT_ENV, "out of memory");
    }
    if (ex == EXIT_OK) {
        if (ql_commit_spotcheck(cli->county, id, pass, fields, n, note,
                                &pending, &d) != QL_OK)
            ex = cli_fail(&d);
        else if (cli->json) {
            bool first = true;

            fputc('{', stdout);
            cli_json_kv(stdout, &first, "lead", id);
            cli_json_kv(stdout, &first, "transition",
                        pass ? QL_SPOT_PASS : QL_SPOT_RETURN);
            cli_json_kb(stdout, &first, "pending", pending);
            fputs("}\n", stdout);
        } else if (pending) {
            printf("lead %s: %s proposed, waiting for approval\n", id,
                   pass ? QL_SPOT_PASS : QL_SPOT_RETURN);
        } else {
            printf("lead %s: %s\n", id, pass ? QL_SPOT_PASS : QL_SPOT_RETURN);
        }
    }
    for (i = 0; i < n; i++)
        free(values[i]);
    free(note);
    return ex;
}

static int
commit_spotcheck(int argc, char **argv, struct cli *cli)
{
    return do_spotcheck(argc, argv, cli, find_sub("spotcheck"));
}

/* `qingling lead spotcheck`: the same, named from the lead's side. */
int
lead_spotcheck(int argc, char **argv, struct cli *cli)
{
    static const struct cli_cmd self = {
        "spotcheck", lead_spotcheck,
        "qingling lead spotcheck ID pass|return "
        "[--field NAME=VALUE | --field NAME=@FILE]... "
        "[--note TEXT | --note @FILE]",
        "record a spot-check of a closed lead (inspector)", 0};

    return do_spotcheck(argc, argv, cli, &self);
}
