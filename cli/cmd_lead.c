/*
 * qingling lead: register leads, move them along their workflow, approve
 * and reject proposals, and read them (list, show, pending, history).
 *
 * The engine (ql_lead) checks every write — the actor's role and unit, the
 * workflow's rules, the field values — and changes nothing when it
 * refuses; this file turns arguments into those calls and answers into
 * text, tables and JSON. Fields may be named by their label as well as
 * their name (线索来源=群众举报), and values read from files (NAME=@FILE),
 * so that long reports need no shell quoting.
 */
#include "cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_store.h"
#include "ql_workflow.h"

/* The workflow a lead is registered on when --workflow is not given. */
#define DEFAULT_WORKFLOW "gang_lead"

/* Largest field value read from a file: an entry is at most 64 KiB. */
#define FIELD_FILE_MAX (60 * 1024)

static int lead_add(int argc, char **argv, struct cli *cli);
static int lead_list(int argc, char **argv, struct cli *cli);
static int lead_show(int argc, char **argv, struct cli *cli);
static int lead_move(int argc, char **argv, struct cli *cli);
static int lead_pending(int argc, char **argv, struct cli *cli);
static int lead_approve(int argc, char **argv, struct cli *cli);
static int lead_reject(int argc, char **argv, struct cli *cli);
static int lead_assign(int argc, char **argv, struct cli *cli);
static int lead_merge(int argc, char **argv, struct cli *cli);
static int lead_history(int argc, char **argv, struct cli *cli);

/*
 * The subcommands, in the order the synopsis lists them. Each usage line is
 * word for word its line of the `lead` synopsis in main.c.
 */
static const struct cli_cmd lead_subs[] = {
    {"add", lead_add,
     "qingling lead add [--unit CODE] [--workflow NAME] "
     "[--field NAME=VALUE | --field NAME=@FILE]...",
     "register a lead", 0},
    {"list", lead_list,
     "qingling lead list [--unit CODE] [--state STATE] [--overdue] [--json]",
     "list leads", 0},
    {"show", lead_show, "qingling lead show ID [--json]",
     "show a lead and every field this key may read", 0},
    {"move", lead_move,
     "qingling lead move ID TRANSITION "
     "[--field NAME=VALUE | --field NAME=@FILE]... "
     "[--note TEXT | --note @FILE]",
     "take a transition", 0},
    {"pending", lead_pending, "qingling lead pending [--json]",
     "list proposals waiting for approval", 0},
    {"approve", lead_approve, "qingling lead approve ID",
     "approve the proposal waiting on a lead", 0},
    {"reject", lead_reject,
     "qingling lead reject ID [--note TEXT | --note @FILE]",
     "decline or withdraw the proposal waiting on a lead", 0},
    {"assign", lead_assign,
     "qingling lead assign ID UNIT [--due DATE] "
     "[--field NAME=VALUE | --field NAME=@FILE]... "
     "[--note TEXT | --note @FILE]",
     "assign a lead to a unit", 0},
    {"merge", lead_merge,
     "qingling lead merge ID INTO [--note TEXT | --note @FILE]",
     "merge a lead into another one", 0},
    {"history", lead_history, "qingling lead history ID [--json]",
     "every entry of a lead, as far as this key may read it", 0},
    /* cmd_commit.c */
    {"spotcheck", lead_spotcheck,
     "qingling lead spotcheck ID pass|return "
     "[--field NAME=VALUE | --field NAME=@FILE]... "
     "[--note TEXT | --note @FILE]",
     "record a spot-check of a closed lead (inspector)", 0},
    /* lead_import.c */
    {"import", lead_import,
     "qingling lead import FILE --unit CODE [--workflow NAME] [--dry-run] "
     "[--encoding auto|utf-8|gb18030] [--map HEADER=FIELD]... "
     "[--allow-duplicates] [--json]",
     "register leads from a CSV or JSON file, all or none", 0},
};

static const struct cli_cmd *
find_sub(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof lead_subs / sizeof lead_subs[0]; i++)
        if (strcmp(lead_subs[i].name, name) == 0)
            return &lead_subs[i];
    return NULL;
}

static bool
asks_help(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

int
cmd_lead(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *self = cli_find("lead");
    const struct cli_cmd *sub;

    if (argc < 2)
        return cli_usage(self, "say what to do: add, list, show, move, "
                               "pending, approve, reject, assign, merge, "
                               "history or import");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("usage: %s\n", self->usage);
        return EXIT_OK;
    }
    if ((sub = find_sub(argv[1])) == NULL)
        return cli_usage(self, "unknown lead command '%s'", argv[1]);
    if (asks_help(argc - 1, argv + 1)) {
        printf("usage: %s\n", sub->usage);
        return EXIT_OK;
    }
    return sub->run(argc - 1, argv + 1, cli);
}

/* ---- small helpers ---- */

static int
no_memory(void)
{
    return cli_error(EXIT_ENV, "out of memory");
}

/* A formatted string in malloc'd memory, or NULL when out of memory. */
static char *xprintf(const char *fmt, ...) QL_PRINTF(1, 2);

static char *
xprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* "NAME (label)", or NAME alone when there is no label worth showing. */
static char *
named(const char *name, const char *label)
{
    if (label == NULL || *label == '\0' || strcmp(label, name) == 0)
        return xprintf("%s", name);
    return xprintf("%s (%s)", name, label);
}

static void
put_named(FILE *f, const char *name, const char *label)
{
    if (label == NULL || *label == '\0' || strcmp(label, name) == 0)
        fputs(name, f);
    else
        fprintf(f, "%s (%s)", name, label);
}

static const char *
state_label(const struct ql_workflow *wf, const char *state)
{
    const struct ql_wf_state *s =
        wf != NULL && state != NULL ? ql_workflow_state(wf, state) : NULL;

    return s != NULL ? s->label : NULL;
}

static const char *
transition_label(const struct ql_workflow *wf, const char *name)
{
    const struct ql_wf_transition *t =
        wf != NULL && name != NULL ? ql_workflow_transition(wf, name) : NULL;

    return t != NULL ? t->label : NULL;
}

static const char *
role_label(const struct ql_workflow *wf, const char *role)
{
    size_t i;

    for (i = 0; wf != NULL && role != NULL && i < ql_workflow_role_count(wf);
         i++)
        if (strcmp(ql_workflow_role_name(wf, i), role) == 0)
            return ql_workflow_role_label(wf, i);
    return NULL;
}

/* The label of field name, or NULL when wf has no such field. */
static const char *
field_label(const struct ql_workflow *wf, const char *name)
{
    const struct ql_wf_field *f =
        wf != NULL ? ql_workflow_field(wf, name) : NULL;

    return f != NULL ? f->label : NULL;
}

/*
 * Writes a value and a newline, indenting its later lines by indent columns
 * so that they line up under its first.
 */
static void
put_value(FILE *f, size_t indent, const char *value)
{
    const char *p;
    size_t i;

    for (p = value; *p != '\0'; p++) {
        fputc(*p, f);
        if (*p == '\n')
            for (i = 0; i < indent; i++)
                fputc(' ', f);
    }
    fputc('\n', f);
}

/* Writes "key": "NAME" and "key_label": "label" (null when none). */
static void
json_named(FILE *f, bool *first, const char *key, const char *name,
           const char *label)
{
    char lkey[48];

    cli_json_kv(f, first, key, name != NULL && *name != '\0' ? name : NULL);
    snprintf(lkey, sizeof lkey, "%s_label", key);
    cli_json_kv(f, first, lkey, label);
}

/* Opens the store for reading, with the key when one is given. */
static int
open_read(struct cli *cli)
{
    int ex;

    if (cli->key_path != NULL && *cli->key_path != '\0' &&
        (ex = cli_load_key(cli)) != EXIT_OK)
        return ex;
    return cli_open_county(cli, true);
}

/* Loads the acting key and opens the store for writing. */
static int
open_write(struct cli *cli)
{
    int ex;

    if ((ex = cli_load_key(cli)) != EXIT_OK)
        return ex;
    return cli_open_county(cli, false);
}

/* The county's local date today, "YYYY-MM-DD". */
static int
today(struct cli *cli, char *buf, size_t size)
{
    struct ql_diag d;
    int32_t day;

    ql_diag_clear(&d);
    if (ql_zone_local_date(ql_county_now(cli->county),
                           ql_county_zone(cli->county), &day, &d) != QL_OK ||
        ql_date_format(day, buf, size, &d) != QL_OK)
        return cli_fail(&d);
    return EXIT_OK;
}

/* ---- options ---- */

enum {
    OPT_UNIT = 1u << 0,
    OPT_WORKFLOW = 1u << 1,
    OPT_FIELD = 1u << 2,
    OPT_NOTE = 1u << 3,
    OPT_STATE = 1u << 4,
    OPT_OVERDUE = 1u << 5,
    OPT_DUE = 1u << 6,
};

struct opts {
    const char *unit, *workflow, *note, *state, *due;
    bool overdue;
    const char **field; /* the --field arguments as given (borrowed) */
    size_t nfield;
    char **pos; /* positional arguments (borrowed from argv) */
};

static void
opts_release(struct opts *o)
{
    free(o->field);
    o->field = NULL;
    o->nfield = 0;
}

/* Sets a single-valued option, refusing it twice. */
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
 * Parses a subcommand's options (argv[0] is the subcommand's name): only
 * those in allowed, and exactly npos positional arguments, which what
 * describes for the error. A --field must be NAME=VALUE with a NAME; its
 * meaning is checked once the workflow is known. Returns an exit code;
 * opts_release frees o either way.
 */
static int
parse_opts(int argc, char **argv, const struct cli_cmd *sub, unsigned allowed,
           int npos, const char *what, struct opts *o)
{
    static const struct option longopts[] = {
        {"unit", required_argument, NULL, 'u'},
        {"workflow", required_argument, NULL, 'w'},
        {"field", required_argument, NULL, 'f'},
        {"note", required_argument, NULL, 'n'},
        {"state", required_argument, NULL, 's'},
        {"overdue", no_argument, NULL, 'o'},
        {"due", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        int ch;
        unsigned bit;
        const char *name;
    } known[] = {
        {'u', OPT_UNIT, "unit"},   {'w', OPT_WORKFLOW, "workflow"},
        {'f', OPT_FIELD, "field"}, {'n', OPT_NOTE, "note"},
        {'s', OPT_STATE, "state"}, {'o', OPT_OVERDUE, "overdue"},
        {'d', OPT_DUE, "due"},
    };
    const char **grown;
    size_t i;
    int ch, ex = EXIT_OK;

    memset(o, 0, sizeof *o);
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (ch == '?') {
            if (optopt != 0)
                return cli_usage(sub, "unknown option '-%c'", optopt);
            return cli_usage(sub, "unknown option '%s'", argv[optind - 1]);
        }
        if (ch == ':')
            return cli_usage(sub, "option '%s' needs a value",
                             argv[optind - 1]);
        for (i = 0; i < sizeof known / sizeof known[0]; i++)
            if (known[i].ch == ch)
                break;
        if (i == sizeof known / sizeof known[0])
            return cli_usage(sub, "bad option");
        if (!(allowed & known[i].bit))
            return cli_usage(sub, "'lead %s' takes no --%s", sub->name,
                             known[i].name);
        switch (ch) {
        case 'u':
            ex = set_once(sub, &o->unit, "unit", optarg);
            break;
        case 'w':
            ex = set_once(sub, &o->workflow, "workflow", optarg);
            break;
        case 'n':
            ex = set_once(sub, &o->note, "note", optarg);
            break;
        case 's':
            ex = set_once(sub, &o->state, "state", optarg);
            break;
        case 'd':
            ex = set_once(sub, &o->due, "due", optarg);
            break;
        case 'o':
            o->overdue = true;
            break;
        case 'f':
            if (optarg[0] == '=' || strchr(optarg, '=') == NULL)
                return cli_usage(sub,
                                 "bad --field '%s': write NAME=VALUE or "
                                 "NAME=@FILE",
                                 optarg);
            grown = realloc(o->field, (o->nfield + 1) * sizeof *grown);
            if (grown == NULL)
                return no_memory();
            o->field = grown;
            o->field[o->nfield++] = optarg;
            break;
        }
        if (ex != EXIT_OK)
            return ex;
    }
    if (argc - optind != npos)
        return cli_usage(sub, "%s", what);
    o->pos = argv + optind;
    return EXIT_OK;
}

/*
 * The value an argument stands for, in malloc'd memory: "@FILE" is the
 * file's contents (at most max bytes, "-" for standard input) without its
 * final line breaks, "@@text" is "@text", anything else itself. what names
 * the argument in errors. Returns an exit code.
 */
static int
arg_value(const char *arg, size_t max, const char *what, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    int ex;

    if (arg[0] != '@' || arg[1] == '@') {
        if ((*out = strdup(arg[0] == '@' ? arg + 1 : arg)) == NULL)
            return no_memory();
        return EXIT_OK;
    }
    if ((ex = cli_read_file(arg + 1, max, &buf, &len)) != EXIT_OK)
        return ex;
    if (memchr(buf, '\0', len) != NULL) {
        free(buf);
        return cli_error(EXIT_BADINPUT,
                         "%s: '%s' holds a NUL byte; give UTF-8 text", what,
                         arg + 1);
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    *out = buf;
    return EXIT_OK;
}

/* ---- field values ---- */

/* Field values for the engine: names borrowed from the workflow. */
struct fields {
    struct ql_wf_kv *kv; /* values malloc'd */
    size_t n;
};

static void
fields_release(struct fields *fs)
{
    size_t i;

    for (i = 0; i < fs->n; i++)
        free((char *)fs->kv[i].value);
    free(fs->kv);
    fs->kv = NULL;
    fs->n = 0;
}

static const char *
fields_get(const struct fields *fs, const char *name)
{
    size_t i;

    for (i = 0; i < fs->n; i++)
        if (strcmp(fs->kv[i].name, name) == 0)
            return fs->kv[i].value;
    return NULL;
}

/* Adds field f = value (taking value, freed on failure too). */
static int
fields_put(struct fields *fs, const struct ql_wf_field *f, char *value)
{
    struct ql_wf_kv *grown;

    if (fields_get(fs, f->name) != NULL) {
        free(value);
        return cli_error(EXIT_USAGE, "field %s (%s) given twice", f->label,
                         f->name);
    }
    if ((grown = realloc(fs->kv, (fs->n + 1) * sizeof *grown)) == NULL) {
        free(value);
        return no_memory();
    }
    fs->kv = grown;
    fs->kv[fs->n].name = f->name;
    fs->kv[fs->n].value = value;
    fs->n++;
    return EXIT_OK;
}

/* Adds field name = value (copied), for the fields a subcommand sets. */
static int
fields_put_copy(struct fields *fs, const struct ql_workflow *wf,
                const char *name, const char *value)
{
    const struct ql_wf_field *f = ql_workflow_field(wf, name);
    char *v;

    if (f == NULL)
        return cli_error(EXIT_BADINPUT, "workflow '%s' has no field '%s'",
                         ql_workflow_name(wf), name);
    if ((v = strdup(value)) == NULL)
        return no_memory();
    return fields_put(fs, f, v);
}

/*
 * Turns the --field arguments into field values of wf: NAME is a field's
 * name or its label, VALUE as arg_value reads it. The engine checks the
 * values themselves. Returns an exit code.
 */
static int
fields_from_opts(const struct ql_workflow *wf, const struct opts *o,
                 struct fields *fs)
{
    const struct ql_wf_field *f;
    char *name, *value;
    size_t i;
    int ex;

    for (i = 0; i < o->nfield; i++) {
        const char *arg = o->field[i], *eq = strchr(arg, '=');

        if ((name = strndup(arg, (size_t)(eq - arg))) == NULL)
            return no_memory();
        f = ql_workflow_field_by_label(wf, name);
        if (f == NULL) {
            ex = cli_error(EXIT_BADINPUT, "workflow '%s' has no field '%s'",
                           ql_workflow_name(wf), name);
            free(name);
            return ex;
        }
        free(name);
        if ((ex = arg_value(eq + 1, FIELD_FILE_MAX, f->name, &value)) !=
                EXIT_OK ||
            (ex = fields_put(fs, f, value)) != EXIT_OK)
            return ex;
    }
    return EXIT_OK;
}

/* ---- lead add ---- */

/*
 * Asks on the terminal for required field f until the answer is valid:
 * enum choices are numbered, and the number or the text is accepted.
 * *out gets the value (malloc'd). End of input gives up.
 */
static int
ask_field(const struct ql_workflow *wf, const struct ql_wf_field *f, char **out)
{
    struct ql_diag d;
    char *line = NULL;
    const char *value;
    size_t cap = 0, i;
    ssize_t n;
    int ex;

    for (;;) {
        put_named(stdout, f->label, f->name);
        if (f->type == QL_FIELD_ENUM) {
            fputs(":\n", stdout);
            for (i = 0; i < f->nvalues; i++)
                printf("  %zu) %s\n", i + 1, f->values[i]);
            printf("choose 1-%zu or type the value: ", f->nvalues);
        } else if (f->type == QL_FIELD_DATE) {
            fputs(" [YYYY-MM-DD]: ", stdout);
        } else {
            fputs(": ", stdout);
        }
        fflush(stdout);
        if ((n = getline(&line, &cap, stdin)) < 0) {
            fputc('\n', stdout);
            ex = cli_error(EXIT_BADINPUT, "no value given for %s (%s)",
                           f->label, f->name);
            goto out;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        value = line;
        if (f->type == QL_FIELD_ENUM && n > 0 &&
            strspn(line, "0123456789") == (size_t)n) {
            /* Digits only: too many of them give ULONG_MAX, no choice. */
            unsigned long k = strtoul(line, NULL, 10);

            if (k >= 1 && k <= f->nvalues)
                value = f->values[k - 1];
        }
        if (*value == '\0') {
            cli_error(EXIT_BADINPUT, "%s (%s) is required", f->label, f->name);
            continue;
        }
        ql_diag_clear(&d);
        if (ql_workflow_check_value(wf, f, value, &d) != QL_OK) {
            cli_fail(&d);
            continue;
        }
        if ((*out = strdup(value)) == NULL) {
            ex = no_memory();
            goto out;
        }
        ex = EXIT_OK;
        goto out;
    }
out:
    free(line);
    return ex;
}

/*
 * Fills in the required fields not given: asks for each on a terminal,
 * and without one refuses, naming every missing field.
 */
static int
complete_required(const struct ql_workflow *wf, struct fields *fs)
{
    char missing[512];
    size_t i, at = 0, nmissing = 0;
    bool ask = cli_stdin_tty() && cli_stdout_tty();
    char *value = NULL;
    int ex, n;

    for (i = 0; i < ql_workflow_field_count(wf); i++) {
        const struct ql_wf_field *f = ql_workflow_field_at(wf, i);
        const char *v = fields_get(fs, f->name);

        if (!f->required || (v != NULL && *v != '\0'))
            continue;
        if (ask && v == NULL) {
            if ((ex = ask_field(wf, f, &value)) != EXIT_OK ||
                (ex = fields_put(fs, f, value)) != EXIT_OK)
                return ex;
            continue;
        }
        nmissing++;
        if (at < sizeof missing) {
            n = snprintf(missing + at, sizeof missing - at, "%s%s (%s)",
                         at > 0 ? ", " : "", f->label, f->name);
            at = n < 0 ? sizeof missing : at + (size_t)n;
        }
    }
    if (nmissing == 0)
        return EXIT_OK;
    if (at >= sizeof missing)
        snprintf(missing + sizeof missing - 5, 5, "...");
    return cli_error(EXIT_BADINPUT,
                     "missing required field%s %s: give --field NAME=VALUE",
                     nmissing > 1 ? "s" : "", missing);
}

static int
lead_add(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("add");
    const struct ql_workflow *wf = NULL;
    struct fields fs = {NULL, 0};
    struct ql_diag d;
    struct opts o;
    char id[QL_ENTRY_WORD_MAX + 1];
    bool first = true;
    int ex;

    ql_diag_clear(&d);
    if ((ex =
             parse_opts(argc, argv, sub, OPT_UNIT | OPT_WORKFLOW | OPT_FIELD, 0,
                        "lead add takes no arguments; give fields with "
                        "--field NAME=VALUE",
                        &o)) != EXIT_OK ||
        (ex = open_write(cli)) != EXIT_OK)
        goto out;
    if (ql_county_workflow(cli->county,
                           o.workflow ? o.workflow : DEFAULT_WORKFLOW, NULL,
                           &wf, &d) != QL_OK) {
        if (d.code == QL_ENOTFOUND && o.workflow == NULL)
            ex = cli_error(EXIT_BADINPUT, "%s; name one with --workflow NAME",
                           d.msg);
        else
            ex = cli_fail(&d);
        goto out;
    }
    if ((ex = fields_from_opts(wf, &o, &fs)) != EXIT_OK ||
        (ex = complete_required(wf, &fs)) != EXIT_OK)
        goto out;
    if (ql_lead_add(cli->county, ql_workflow_name(wf), o.unit, fs.kv, fs.n, id,
                    &d) != QL_OK) {
        ex = cli_fail(&d);
        goto out;
    }
    if (cli->json) {
        fputc('{', stdout);
        cli_json_kv(stdout, &first, "id", id);
        fputs("}\n", stdout);
    } else {
        printf("%s\n", id);
    }
out:
    fields_release(&fs);
    opts_release(&o);
    return ex;
}

/* ---- transitions ---- */

/* Loads lead id (with its content when content) and its workflow version. */
static int
load_lead(struct cli *cli, const char *id, bool content,
          struct ql_lead **lead, const struct ql_workflow **wf)
{
    struct ql_diag d;

    ql_diag_clear(&d);
    if ((content ? ql_lead_load(cli->county, id, lead, &d)
                 : ql_lead_load_clear(cli->county, id, lead, &d)) != QL_OK)
        return cli_fail(&d);
    if (ql_county_workflow(cli->county, NULL, ql_lead_workflow(*lead), wf,
                           &d) != QL_OK) {
        ql_lead_free(*lead);
        *lead = NULL;
        return cli_fail(&d);
    }
    return EXIT_OK;
}

/* Reports a lead that moved from state from (and unit) to where it is. */
static int
report_moved(struct cli *cli, const struct ql_workflow *wf, const char *id,
             const char *verb, const char *transition, const char *from,
             const char *from_unit)
{
    struct ql_lead *after = NULL;
    struct ql_diag d;
    bool first = true;

    ql_diag_clear(&d);
    if (ql_lead_load_clear(cli->county, id, &after, &d) != QL_OK)
        return cli_fail(&d);
    if (cli->json) {
        fputc('{', stdout);
        cli_json_kv(stdout, &first, "id", id);
        json_named(stdout, &first, "transition", transition,
                   transition_label(wf, transition));
        json_named(stdout, &first, "from", from, state_label(wf, from));
        json_named(stdout, &first, "to", ql_lead_state(after),
                   state_label(wf, ql_lead_state(after)));
        cli_json_kv(stdout, &first, "unit", ql_lead_unit(after));
        cli_json_kb(stdout, &first, "pending", false);
        fputs("}\n", stdout);
    } else {
        printf("%s: ", id);
        put_named(stdout, transition, transition_label(wf, transition));
        if (verb != NULL)
            printf(" %s", verb);
        fputs(": ", stdout);
        put_named(stdout, from, state_label(wf, from));
        fputs(" -> ", stdout);
        put_named(stdout, ql_lead_state(after),
                  state_label(wf, ql_lead_state(after)));
        if (strcmp(from_unit, ql_lead_unit(after)) != 0)
            printf(", now with unit %s", ql_lead_unit(after));
        fputc('\n', stdout);
    }
    ql_lead_free(after);
    return EXIT_OK;
}

/*
 * Takes transition t on the loaded lead with fields and note, and reports
 * the new state, or the proposal when t needs approval.
 */
static int
take(struct cli *cli, struct ql_lead *lead, const struct ql_workflow *wf,
     const struct ql_wf_transition *t, const struct fields *fs,
     const char *note)
{
    struct ql_diag d;
    bool pending = false, first = true;
    const char *id = ql_lead_id(lead);

    ql_diag_clear(&d);
    if (ql_lead_move(cli->county, id, t->name, fs->kv, fs->n, note, &pending,
                     &d) != QL_OK)
        return cli_fail(&d);
    if (!pending)
        return report_moved(cli, wf, id, NULL, t->name, ql_lead_state(lead),
                            ql_lead_unit(lead));
    if (cli->json) {
        fputc('{', stdout);
        cli_json_kv(stdout, &first, "id", id);
        json_named(stdout, &first, "transition", t->name, t->label);
        json_named(stdout, &first, "from", ql_lead_state(lead),
                   state_label(wf, ql_lead_state(lead)));
        json_named(stdout, &first, "to", t->to, state_label(wf, t->to));
        cli_json_kv(stdout, &first, "unit", ql_lead_unit(lead));
        cli_json_kb(stdout, &first, "pending", true);
        json_named(stdout, &first, "approval", t->approval,
                   role_label(wf, t->approval));
        fputs("}\n", stdout);
    } else {
        printf("%s: ", id);
        put_named(stdout, t->name, t->label);
        printf(" proposed; waiting for approval by role '%s'", t->approval);
        if (role_label(wf, t->approval) != NULL)
            printf(" (%s)", role_label(wf, t->approval));
        fputc('\n', stdout);
    }
    return EXIT_OK;
}

/* A transition of wf by name, or else by label. */
static const struct ql_wf_transition *
find_transition(const struct ql_workflow *wf, const char *name)
{
    const struct ql_wf_transition *t = ql_workflow_transition(wf, name);
    size_t i;

    for (i = 0; t == NULL && i < ql_workflow_transition_count(wf); i++)
        if (strcmp(ql_workflow_transition_at(wf, i)->label, name) == 0)
            t = ql_workflow_transition_at(wf, i);
    return t;
}

static int
lead_move(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("move");
    const struct ql_workflow *wf = NULL;
    const struct ql_wf_transition *t;
    struct ql_lead *lead = NULL;
    struct fields fs = {NULL, 0};
    struct opts o;
    char *note = NULL;
    int ex;

    if ((ex = parse_opts(argc, argv, sub, OPT_FIELD | OPT_NOTE, 2,
                         "give the lead ID and the TRANSITION", &o)) !=
            EXIT_OK ||
        (o.note != NULL && (ex = arg_value(o.note, QL_NOTE_TEXT_MAX, "--note",
                                           &note)) != EXIT_OK) ||
        (ex = open_write(cli)) != EXIT_OK)
        goto out;
    /*
     * One entry and exit: the commit is durable in the -wal file, and
     * folding that into the store file is left to SQLite's automatic
     * checkpoint or the next command that closes with one (decisions.md
     * section 23).
     */
    ql_store_set_checkpoint_on_close(ql_county_store(cli->county), false);
    if ((ex = load_lead(cli, o.pos[0], false, &lead, &wf)) != EXIT_OK)
        goto out;
    if ((t = find_transition(wf, o.pos[1])) == NULL) {
        ex = cli_error(EXIT_REFUSED, "workflow '%s' has no transition '%s'",
                       ql_workflow_name(wf), o.pos[1]);
        goto out;
    }
    if ((ex = fields_from_opts(wf, &o, &fs)) != EXIT_OK)
        goto out;
    ex = take(cli, lead, wf, t, &fs, note);
out:
    free(note);
    ql_lead_free(lead);
    fields_release(&fs);
    opts_release(&o);
    return ex;
}

/*
 * The transition leaving the lead's state whose assign_field (assign) or
 * merge_field (merge) is set, in file order; a refusal naming the states
 * it could be taken from when there is none.
 */
static int
special_transition(const struct ql_workflow *wf, const struct ql_lead *lead,
                   bool assign, const struct ql_wf_transition **out)
{
    const char *state = ql_lead_state(lead);
    const char *what = assign ? "assign" : "merge";
    char from[256], *here;
    size_t i, j, at = 0;
    int n, ex;

    from[0] = '\0';
    for (i = 0; i < ql_workflow_transition_count(wf); i++) {
        const struct ql_wf_transition *t = ql_workflow_transition_at(wf, i);

        if ((assign ? t->assign_field : t->merge_field) == NULL)
            continue;
        if (ql_wf_transition_from(t, state)) {
            *out = t;
            return EXIT_OK;
        }
        for (j = 0; j < t->nfrom && at < sizeof from; j++) {
            n = snprintf(from + at, sizeof from - at, "%s%s",
                         at > 0 ? ", " : "", t->from[j]);
            at = n < 0 ? sizeof from : at + (size_t)n;
        }
    }
    if (from[0] == '\0')
        return cli_error(EXIT_REFUSED,
                         "workflow '%s' has no transition that can %s a lead",
                         ql_workflow_name(wf), what);
    if ((here = named(state, state_label(wf, state))) == NULL)
        return no_memory();
    ex = cli_error(EXIT_REFUSED,
                   "lead %s is in state %s; no %s transition leaves it "
                   "(only from %s)",
                   ql_lead_id(lead), here, what, from);
    free(here);
    return ex;
}

/*
 * The date field --due sets for transition t: its due field, else the one
 * date field it requires.
 */
static const char *
due_field(const struct ql_workflow *wf, const struct ql_wf_transition *t)
{
    const struct ql_wf_field *f;
    const char *found = NULL;
    size_t i;

    if (t->due_field != NULL)
        return t->due_field;
    for (i = 0; i < t->nrequire; i++) {
        f = ql_workflow_field(wf, t->require[i]);
        if (f != NULL && f->type == QL_FIELD_DATE) {
            if (found != NULL)
                return NULL;
            found = f->name;
        }
    }
    return found;
}

static int
lead_assign(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("assign");
    const struct ql_workflow *wf = NULL;
    const struct ql_wf_transition *t = NULL;
    struct ql_lead *lead = NULL;
    struct fields fs = {NULL, 0};
    struct opts o;
    const char *due_name;
    char *note = NULL;
    int ex;

    if ((ex = parse_opts(argc, argv, sub, OPT_DUE | OPT_FIELD | OPT_NOTE, 2,
                         "give the lead ID and the UNIT", &o)) != EXIT_OK ||
        (o.note != NULL && (ex = arg_value(o.note, QL_NOTE_TEXT_MAX, "--note",
                                           &note)) != EXIT_OK) ||
        (ex = open_write(cli)) != EXIT_OK ||
        (ex = load_lead(cli, o.pos[0], false, &lead, &wf)) != EXIT_OK ||
        (ex = special_transition(wf, lead, true, &t)) != EXIT_OK ||
        (ex = fields_from_opts(wf, &o, &fs)) != EXIT_OK ||
        (ex = fields_put_copy(&fs, wf, t->assign_field, o.pos[1])) != EXIT_OK)
        goto out;
    if (o.due != NULL) {
        if ((due_name = due_field(wf, t)) == NULL) {
            ex = cli_error(EXIT_USAGE,
                           "transition '%s' has no single due date field; "
                           "give it with --field NAME=DATE",
                           t->name);
            goto out;
        }
        if ((ex = fields_put_copy(&fs, wf, due_name, o.due)) != EXIT_OK)
            goto out;
    }
    ex = take(cli, lead, wf, t, &fs, note);
out:
    free(note);
    ql_lead_free(lead);
    fields_release(&fs);
    opts_release(&o);
    return ex;
}

static int
lead_merge(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("merge");
    const struct ql_workflow *wf = NULL;
    const struct ql_wf_transition *t = NULL;
    struct ql_lead *lead = NULL;
    struct fields fs = {NULL, 0};
    struct opts o;
    char *note = NULL;
    int ex;

    if ((ex = parse_opts(argc, argv, sub, OPT_NOTE, 2,
                         "give the lead ID and the lead it merges INTO", &o)) !=
            EXIT_OK ||
        (o.note != NULL && (ex = arg_value(o.note, QL_NOTE_TEXT_MAX, "--note",
                                           &note)) != EXIT_OK) ||
        (ex = open_write(cli)) != EXIT_OK ||
        (ex = load_lead(cli, o.pos[0], false, &lead, &wf)) != EXIT_OK ||
        (ex = special_transition(wf, lead, false, &t)) != EXIT_OK ||
        (ex = fields_put_copy(&fs, wf, t->merge_field, o.pos[1])) != EXIT_OK)
        goto out;
    ex = take(cli, lead, wf, t, &fs, note);
out:
    free(note);
    ql_lead_free(lead);
    fields_release(&fs);
    opts_release(&o);
    return ex;
}

static int
lead_approve(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("approve");
    const struct ql_workflow *wf = NULL;
    struct ql_lead *lead = NULL;
    struct ql_diag d;
    struct opts o;
    char *transition = NULL;
    int ex;

    ql_diag_clear(&d);
    if ((ex = parse_opts(argc, argv, sub, 0, 1, "give one lead ID", &o)) !=
            EXIT_OK ||
        (ex = open_write(cli)) != EXIT_OK ||
        (ex = load_lead(cli, o.pos[0], false, &lead, &wf)) != EXIT_OK)
        goto out;
    if (ql_lead_approve(cli->county, o.pos[0], &d) != QL_OK) {
        ex = cli_fail(&d);
        goto out;
    }
    /* The lead was loaded with a proposal, or the engine had refused. */
    if ((transition = strdup(ql_lead_pending(lead) ? ql_lead_pending(lead)
                                                   : "")) == NULL) {
        ex = no_memory();
        goto out;
    }
    ex = report_moved(cli, wf, o.pos[0], "approved", transition,
                      ql_lead_state(lead), ql_lead_unit(lead));
out:
    free(transition);
    ql_lead_free(lead);
    opts_release(&o);
    return ex;
}

static int
lead_reject(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("reject");
    const struct ql_workflow *wf = NULL;
    struct ql_lead *lead = NULL;
    struct ql_diag d;
    struct opts o;
    const char *transition;
    char *note = NULL;
    bool first = true;
    int ex;

    ql_diag_clear(&d);
    if ((ex = parse_opts(argc, argv, sub, OPT_NOTE, 1, "give one lead ID",
                         &o)) != EXIT_OK ||
        (o.note != NULL && (ex = arg_value(o.note, QL_NOTE_TEXT_MAX, "--note",
                                           &note)) != EXIT_OK) ||
        (ex = open_write(cli)) != EXIT_OK ||
        (ex = load_lead(cli, o.pos[0], false, &lead, &wf)) != EXIT_OK)
        goto out;
    if (ql_lead_reject(cli->county, o.pos[0], note, &d) != QL_OK) {
        ex = cli_fail(&d);
        goto out;
    }
    transition = ql_lead_pending(lead) ? ql_lead_pending(lead) : "";
    if (cli->json) {
        fputc('{', stdout);
        cli_json_kv(stdout, &first, "id", o.pos[0]);
        json_named(stdout, &first, "transition", transition,
                   transition_label(wf, transition));
        json_named(stdout, &first, "state", ql_lead_state(lead),
                   state_label(wf, ql_lead_state(lead)));
        cli_json_kb(stdout, &first, "rejected", true);
        fputs("}\n", stdout);
    } else {
        printf("%s: proposal ", o.pos[0]);
        put_named(stdout, transition, transition_label(wf, transition));
        fputs(" rejected; the lead stays in ", stdout);
        put_named(stdout, ql_lead_state(lead),
                  state_label(wf, ql_lead_state(lead)));
        fputc('\n', stdout);
    }
out:
    free(note);
    ql_lead_free(lead);
    opts_release(&o);
    return ex;
}

/* ---- tables ---- */

#define TABLE_COLS 6

/* Rows of owned cells, printed with columns as wide as their widest cell. */
struct table {
    size_t ncol;
    char **cell; /* n * ncol */
    size_t n;
};

static void
table_release(struct table *t)
{
    size_t i;

    for (i = 0; i < t->n * t->ncol; i++)
        free(t->cell[i]);
    free(t->cell);
    t->cell = NULL;
    t->n = 0;
}

/* Adds a row, taking the cells (malloc'd; NULL means out of memory). */
static ql_err
table_add(struct table *t, char **cells, struct ql_diag *d)
{
    char **grown;
    size_t i;
    bool ok = true;

    for (i = 0; i < t->ncol; i++)
        ok = ok && cells[i] != NULL;
    grown = ok ? realloc(t->cell, (t->n + 1) * t->ncol * sizeof *grown) : NULL;
    if (grown == NULL) {
        for (i = 0; i < t->ncol; i++)
            free(cells[i]);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    t->cell = grown;
    for (i = 0; i < t->ncol; i++)
        t->cell[t->n * t->ncol + i] = cells[i];
    t->n++;
    return QL_OK;
}

static void
table_print(const struct table *t, const char *const *head)
{
    size_t w[TABLE_COLS], i, j;

    for (j = 0; j < t->ncol; j++)
        w[j] = cli_width(head[j]);
    for (i = 0; i < t->n; i++)
        for (j = 0; j < t->ncol; j++)
            if (cli_width(t->cell[i * t->ncol + j]) > w[j])
                w[j] = cli_width(t->cell[i * t->ncol + j]);
    for (i = 0; i <= t->n; i++) {
        const char *const *row =
            i == 0 ? head : (const char *const *)t->cell + (i - 1) * t->ncol;
        size_t last = t->ncol;

        /* No padding after the last cell with something in it. */
        while (last > 1 && *row[last - 1] == '\0')
            last--;
        for (j = 0; j < last; j++) {
            const char *s = row[j];

            if (j + 1 == last) {
                fputs(s, stdout);
            } else {
                cli_pad(stdout, s, w[j]);
                fputs("  ", stdout);
            }
        }
        fputc('\n', stdout);
    }
}

/* ---- lead list, lead pending ---- */

struct listing {
    struct cli *cli;
    struct table t;
    bool pending_only;
};

static ql_err
list_row(void *ctx, const struct ql_lead_row *r, struct ql_diag *d)
{
    struct listing *ls = ctx;
    const struct ql_workflow *wf = NULL;
    const struct ql_wf_transition *t = NULL;
    const char *approval = NULL;
    char *cells[TABLE_COLS];
    bool first = true;
    ql_err rc;

    if (ls->pending_only && r->pending == NULL)
        return QL_OK;
    if ((rc = ql_county_workflow(ls->cli->county, NULL, r->workflow, &wf, d)) !=
        QL_OK)
        return rc;
    if (r->pending != NULL &&
        (t = ql_workflow_transition(wf, r->pending)) != NULL)
        approval = t->approval;
    if (ls->cli->json) {
        fputc('{', stdout);
        cli_json_kv(stdout, &first, "id", r->id);
        cli_json_kv(stdout, &first, "unit", r->unit);
        json_named(stdout, &first, "state", r->state,
                   state_label(wf, r->state));
        if (!ls->pending_only) {
            cli_json_kv(stdout, &first, "workflow", ql_workflow_name(wf));
            cli_json_kv(stdout, &first, "registered", r->registered);
            cli_json_kv(stdout, &first, "due", *r->due ? r->due : NULL);
            cli_json_kb(stdout, &first, "overdue", r->overdue);
        }
        json_named(stdout, &first, "pending", r->pending,
                   transition_label(wf, r->pending));
        json_named(stdout, &first, "approval", approval,
                   approval ? role_label(wf, approval) : NULL);
        fputs("}\n", stdout);
        return QL_OK;
    }
    cells[0] = xprintf("%s", r->id);
    cells[1] = xprintf("%s", r->unit);
    cells[2] = named(r->state, state_label(wf, r->state));
    if (ls->pending_only) {
        cells[3] = named(r->pending, transition_label(wf, r->pending));
        cells[4] =
            approval ? named(approval, role_label(wf, approval)) : xprintf("-");
    } else {
        const char *tl = transition_label(wf, r->pending);

        cells[3] = xprintf("%s", r->registered);
        cells[4] = xprintf("%s", *r->due ? r->due : "-");
        if (r->pending != NULL)
            cells[5] =
                xprintf("%s%spending %s%s%s%s", r->overdue ? "overdue" : "",
                        r->overdue ? ", " : "", r->pending, tl ? " (" : "",
                        tl ? tl : "", tl ? ")" : "");
        else
            cells[5] = xprintf("%s", r->overdue ? "overdue" : "");
    }
    return table_add(&ls->t, cells, d);
}

/* Names of every registered workflow version (hash), malloc'd. */
struct hashes {
    char **v;
    size_t n;
};

static ql_err
collect_hash(void *ctx, const struct ql_workflow_info *w, struct ql_diag *d)
{
    struct hashes *h = ctx;
    char **grown = realloc(h->v, (h->n + 1) * sizeof *grown);

    if (grown == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    h->v = grown;
    if ((h->v[h->n] = strdup(w->hash)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    h->n++;
    return QL_OK;
}

/*
 * The state name --state means: a state's name in some registered
 * workflow, or else its label. *out is borrowed from the county's
 * workflows, or is arg itself. A state no workflow knows is bad input.
 */
static int
state_filter(struct cli *cli, const char *arg, const char **out)
{
    const struct ql_workflow *wf = NULL;
    struct hashes h = {NULL, 0};
    struct ql_diag d;
    const char *by_label = NULL;
    size_t i, j;
    int ex = EXIT_OK;

    ql_diag_clear(&d);
    *out = arg;
    if (ql_county_workflows(cli->county, collect_hash, &h, &d) != QL_OK) {
        ex = cli_fail(&d);
        goto out;
    }
    for (i = 0; i < h.n; i++) {
        if (ql_county_workflow(cli->county, NULL, h.v[i], &wf, &d) != QL_OK) {
            ex = cli_fail(&d);
            goto out;
        }
        if (ql_workflow_state(wf, arg) != NULL)
            goto out;
        for (j = 0; by_label == NULL && j < ql_workflow_state_count(wf); j++)
            if (strcmp(ql_workflow_state_at(wf, j)->label, arg) == 0)
                by_label = ql_workflow_state_at(wf, j)->name;
    }
    if (by_label != NULL)
        *out = by_label;
    else if (h.n > 0)
        ex = cli_error(EXIT_BADINPUT, "no workflow has a state '%s'", arg);
out:
    for (i = 0; i < h.n; i++)
        free(h.v[i]);
    free(h.v);
    return ex;
}

static int
run_listing(struct cli *cli, const char *unit, const char *state, bool overdue,
            bool pending_only)
{
    static const char *const list_head[] = {"ID",         "UNIT", "STATE",
                                            "REGISTERED", "DUE",  "FLAGS"};
    static const char *const pending_head[] = {"ID", "UNIT", "STATE",
                                               "TRANSITION", "APPROVER"};
    struct listing ls;
    struct ql_diag d;
    int ex = EXIT_OK;

    ql_diag_clear(&d);
    memset(&ls, 0, sizeof ls);
    ls.cli = cli;
    ls.pending_only = pending_only;
    ls.t.ncol = pending_only ? 5 : 6;
    if (ql_lead_list(cli->county, unit, state, overdue, list_row, &ls, &d) !=
        QL_OK)
        ex = cli_fail(&d);
    else if (!cli->json)
        table_print(&ls.t, pending_only ? pending_head : list_head);
    table_release(&ls.t);
    return ex;
}

static int
lead_list(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("list");
    const char *state = NULL;
    struct opts o;
    int ex;

    if ((ex = parse_opts(argc, argv, sub, OPT_UNIT | OPT_STATE | OPT_OVERDUE, 0,
                         "lead list takes no arguments", &o)) == EXIT_OK &&
        (ex = open_read(cli)) == EXIT_OK &&
        (o.state == NULL ||
         (ex = state_filter(cli, o.state, &state)) == EXIT_OK))
        ex = run_listing(cli, o.unit, state, o.overdue, false);
    opts_release(&o);
    return ex;
}

static int
lead_pending(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("pending");
    struct opts o;
    int ex;

    if ((ex = parse_opts(argc, argv, sub, 0, 0,
                         "lead pending takes no arguments", &o)) == EXIT_OK &&
        (ex = open_read(cli)) == EXIT_OK)
        ex = run_listing(cli, NULL, NULL, false, true);
    opts_release(&o);
    return ex;
}

/* ---- lead show ---- */

struct lookup {
    const char *want;
    char *found; /* malloc'd */
};

static ql_err
find_unit(void *ctx, const struct ql_unit_info *u, struct ql_diag *d)
{
    struct lookup *lk = ctx;

    if (lk->found == NULL && strcmp(u->code, lk->want) == 0 &&
        (lk->found = strdup(u->name)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    return QL_OK;
}

static ql_err
find_roles(void *ctx, const struct ql_principal_info *p, struct ql_diag *d)
{
    struct lookup *lk = ctx;

    if (lk->found == NULL && !p->revoked && strcmp(p->name, lk->want) == 0 &&
        (lk->found = strdup(p->roles)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    return QL_OK;
}

/* True when the comma-separated roles hold one that reads secret fields. */
static bool
reads_secrets(const struct ql_workflow *wf, const char *roles)
{
    char role[QL_ENTRY_WORD_MAX + 1];
    const char *p = roles, *comma;
    size_t n;

    while (p != NULL && *p != '\0') {
        comma = strchr(p, ',');
        n = comma ? (size_t)(comma - p) : strlen(p);
        if (n < sizeof role) {
            memcpy(role, p, n);
            role[n] = '\0';
            if (ql_workflow_secret_reader(wf, role))
                return true;
        }
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

/* The roles that read secret fields, as "registrar, director". */
static void
secret_roles(const struct ql_workflow *wf, char *buf, size_t size)
{
    size_t i, at = 0;
    int n;

    buf[0] = '\0';
    for (i = 0; i < ql_workflow_role_count(wf) && at < size; i++) {
        if (!ql_workflow_secret_reader(wf, ql_workflow_role_name(wf, i)))
            continue;
        n = snprintf(buf + at, size - at, "%s%s", at > 0 ? ", " : "",
                     ql_workflow_role_name(wf, i));
        at = n < 0 ? size : at + (size_t)n;
    }
}

/* What a reader is told when the lead's content is closed to it. */
static char *
sealed_reason(struct cli *cli, const struct ql_lead *lead)
{
    if (ql_lead_readable(lead))
        return NULL;
    if (cli->key == NULL)
        return xprintf("content sealed: no key given; use --key FILE to "
                       "read it");
    return xprintf("content sealed: this key holds no grant for unit %s",
                   ql_lead_unit(lead));
}

static void
show_json(const struct ql_lead *lead, const struct ql_workflow *wf,
          const char *unit_name, bool overdue, const char *sealed)
{
    const char *pending = ql_lead_pending(lead), *approval = NULL;
    const struct ql_wf_transition *t;
    bool first = true, f2, any = false;
    size_t i;

    if (pending != NULL && (t = ql_workflow_transition(wf, pending)) != NULL)
        approval = t->approval;
    fputc('{', stdout);
    cli_json_kv(stdout, &first, "id", ql_lead_id(lead));
    cli_json_kv(stdout, &first, "workflow", ql_workflow_name(wf));
    cli_json_kv(stdout, &first, "workflow_title", ql_workflow_title(wf));
    cli_json_kv(stdout, &first, "workflow_hash", ql_workflow_hash(wf));
    cli_json_kv(stdout, &first, "unit", ql_lead_unit(lead));
    cli_json_kv(stdout, &first, "unit_name", unit_name);
    json_named(stdout, &first, "state", ql_lead_state(lead),
               state_label(wf, ql_lead_state(lead)));
    cli_json_kv(stdout, &first, "registered", ql_lead_registered(lead));
    cli_json_kv(stdout, &first, "due",
                *ql_lead_due(lead) ? ql_lead_due(lead) : NULL);
    cli_json_kb(stdout, &first, "overdue", overdue);
    json_named(stdout, &first, "pending", pending,
               transition_label(wf, pending));
    json_named(stdout, &first, "approval", approval,
               approval ? role_label(wf, approval) : NULL);
    cli_json_kb(stdout, &first, "readable", ql_lead_readable(lead));
    cli_json_kv(stdout, &first, "sealed", sealed);
    fputs(",\"fields\":[", stdout);
    for (i = 0; i < ql_workflow_field_count(wf); i++) {
        const struct ql_wf_field *f = ql_workflow_field_at(wf, i);
        const char *v = ql_lead_get(lead, f->name);

        if (v == NULL)
            continue;
        fputs(any ? ",{" : "{", stdout);
        any = true;
        f2 = true;
        cli_json_kv(stdout, &f2, "name", f->name);
        cli_json_kv(stdout, &f2, "label", f->label);
        cli_json_kv(stdout, &f2, "value", v);
        fputc('}', stdout);
    }
    fputs("]}\n", stdout);
}

static void
show_text(const struct ql_lead *lead, const struct ql_workflow *wf,
          const char *unit_name, bool overdue, const char *sealed,
          const char *actor_roles)
{
    const char *pending = ql_lead_pending(lead);
    const struct ql_wf_transition *t;
    char *head, roles[256];
    size_t i, w = 0;
    bool hidden_secret;

    printf("lead        %s\n", ql_lead_id(lead));
    printf("workflow    ");
    put_named(stdout, ql_workflow_name(wf), ql_workflow_title(wf));
    printf(", version %.12s\n", ql_workflow_hash(wf));
    printf("unit        ");
    put_named(stdout, ql_lead_unit(lead), unit_name);
    printf("\nstate       ");
    put_named(stdout, ql_lead_state(lead),
              state_label(wf, ql_lead_state(lead)));
    printf("\nregistered  %s\n", ql_lead_registered(lead));
    if (*ql_lead_due(lead) != '\0')
        printf("due         %s%s\n", ql_lead_due(lead),
               overdue ? " (overdue)" : "");
    if (pending != NULL) {
        printf("pending     ");
        put_named(stdout, pending, transition_label(wf, pending));
        if ((t = ql_workflow_transition(wf, pending)) != NULL &&
            t->approval != NULL) {
            printf(", waiting for approval by role '%s'", t->approval);
            if (role_label(wf, t->approval) != NULL)
                printf(" (%s)", role_label(wf, t->approval));
        }
        fputc('\n', stdout);
    }
    /* Secret fields the reader may not open are shown as such, not as
       absent: the reader cannot tell whether they are set. */
    hidden_secret = ql_lead_readable(lead) &&
                    (actor_roles == NULL || !reads_secrets(wf, actor_roles));
    secret_roles(wf, roles, sizeof roles);
    for (i = 0; i < ql_workflow_field_count(wf); i++) {
        const struct ql_wf_field *f = ql_workflow_field_at(wf, i);
        size_t fw = cli_width(f->label) + strlen(f->name) + 5;

        if ((ql_lead_get(lead, f->name) != NULL ||
             (hidden_secret && f->vis == QL_VIS_SECRET)) &&
            fw > w)
            w = fw;
    }
    fputc('\n', stdout);
    for (i = 0; i < ql_workflow_field_count(wf); i++) {
        const struct ql_wf_field *f = ql_workflow_field_at(wf, i);
        const char *v = ql_lead_get(lead, f->name);

        if (v == NULL && !(hidden_secret && f->vis == QL_VIS_SECRET))
            continue;
        head = xprintf("%s (%s):", f->label, f->name);
        cli_pad(stdout, head ? head : f->name, w);
        free(head);
        if (v != NULL)
            put_value(stdout, w, v);
        else
            printf("(sealed: only roles %s read it)\n", roles);
    }
    if (sealed != NULL)
        printf("%s\n", sealed);
}

static int
lead_show(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("show");
    const struct ql_workflow *wf = NULL;
    struct ql_lead *lead = NULL;
    struct lookup unit = {NULL, NULL}, roles = {NULL, NULL};
    struct ql_diag d;
    struct opts o;
    char day[QL_DATE_BUF], *sealed = NULL;
    const struct ql_wf_state *s;
    bool overdue;
    int ex;

    ql_diag_clear(&d);
    if ((ex = parse_opts(argc, argv, sub, 0, 1, "give one lead ID", &o)) !=
            EXIT_OK ||
        (ex = open_read(cli)) != EXIT_OK ||
        (ex = load_lead(cli, o.pos[0], true, &lead, &wf)) != EXIT_OK ||
        (ex = today(cli, day, sizeof day)) != EXIT_OK)
        goto out;
    unit.want = ql_lead_unit(lead);
    if (ql_county_units(cli->county, find_unit, &unit, &d) != QL_OK) {
        ex = cli_fail(&d);
        goto out;
    }
    if (cli->key != NULL) {
        roles.want = ql_key_name(cli->key);
        if (ql_county_principals(cli->county, NULL, find_roles, &roles, &d) !=
            QL_OK) {
            ex = cli_fail(&d);
            goto out;
        }
    }
    s = ql_workflow_state(wf, ql_lead_state(lead));
    overdue = *ql_lead_due(lead) != '\0' &&
              strcmp(ql_lead_due(lead), day) < 0 && !(s != NULL && s->terminal);
    if (!ql_lead_readable(lead) &&
        (sealed = sealed_reason(cli, lead)) == NULL) {
        ex = no_memory();
        goto out;
    }
    if (cli->json)
        show_json(lead, wf, unit.found, overdue, sealed);
    else
        show_text(lead, wf, unit.found, overdue, sealed, roles.found);
out:
    free(sealed);
    free(unit.found);
    free(roles.found);
    ql_lead_free(lead);
    opts_release(&o);
    return ex;
}

/* ---- lead history ---- */

struct history {
    struct cli *cli;
    const struct ql_workflow *wf;
    char due[QL_DATE_BUF + 1]; /* the due date as of the last entry */
    bool due_known;
};

/* The value of an entry's clear line name, or NULL. */
static const char *
engine_value(const struct ql_entry_field *cl, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(cl[i].name, name) == 0)
            return cl[i].value;
    return NULL;
}

static void
history_json(struct history *h, const struct ql_lead_event *ev,
             const char *local)
{
    const struct ql_workflow *wf = h->wf;
    const char *due = engine_value(ev->clear, ev->nclear, "_due");
    const char *proposal = engine_value(ev->clear, ev->nclear, "_proposal");
    const char *approval = engine_value(ev->clear, ev->nclear, "_approval");
    bool first = true, f2, any = false;
    size_t i;

    fputc('{', stdout);
    cli_json_ki(stdout, &first, "index", (long long)ev->idx);
    cli_json_kv(stdout, &first, "time", ev->time);
    cli_json_kv(stdout, &first, "local_time", local);
    cli_json_kv(stdout, &first, "actor", ev->actor);
    cli_json_kv(stdout, &first, "action", ev->action);
    json_named(stdout, &first, "transition", ev->transition,
               transition_label(wf, ev->transition));
    json_named(stdout, &first, "from", ev->from, state_label(wf, ev->from));
    json_named(stdout, &first, "to", ev->to, state_label(wf, ev->to));
    cli_json_kv(stdout, &first, "unit", ev->unit);
    cli_json_kv(stdout, &first, "due", due && *due ? due : NULL);
    if (proposal != NULL && *proposal != '\0' &&
        strspn(proposal, "0123456789") == strlen(proposal) &&
        strlen(proposal) < 19)
        cli_json_ki(stdout, &first, "proposal", strtoll(proposal, NULL, 10));
    if (approval != NULL)
        json_named(stdout, &first, "approval", approval,
                   role_label(wf, approval));
    cli_json_kb(stdout, &first, "snapshot",
                engine_value(ev->clear, ev->nclear, "_snapshot") != NULL);
    cli_json_kb(stdout, &first, "readable", ev->readable);
    fputs(",\"fields\":[", stdout);
    for (i = 0; i < ev->nclear + ev->nsealed; i++) {
        bool clear = i < ev->nclear;
        const char *name =
            clear ? ev->clear[i].name : ev->sealed[i - ev->nclear].name;
        const char *value =
            clear ? ev->clear[i].value : ev->sealed[i - ev->nclear].value;

        if (name[0] == '_')
            continue;
        fputs(any ? ",{" : "{", stdout);
        any = true;
        f2 = true;
        cli_json_kv(stdout, &f2, "name", name);
        cli_json_kv(stdout, &f2, "label", field_label(wf, name));
        cli_json_kv(stdout, &f2, "value", value);
        cli_json_kb(stdout, &f2, "sealed", !clear);
        fputc('}', stdout);
    }
    fputc(']', stdout);
    cli_json_kv(stdout, &first, "note", ev->note);
    fputs("}\n", stdout);
}

/* One field change, as "label (name): value". */
static void
history_field(const struct ql_workflow *wf, const char *name, const char *value)
{
    const char *label = field_label(wf, name);
    size_t w = 4;

    fputs("    ", stdout);
    if (label != NULL) {
        printf("%s (%s): ", label, name);
        w += cli_width(label) + strlen(name) + 5;
    } else {
        printf("%s: ", name);
        w += strlen(name) + 2;
    }
    put_value(stdout, w, value);
}

static void
history_text(struct history *h, const struct ql_lead_event *ev,
             const char *local)
{
    const struct ql_workflow *wf = h->wf;
    const char *action = ev->action, *due, *proposal, *approval;
    bool propose;
    size_t i;

    if (strncmp(action, "lead.", 5) == 0)
        action += 5;
    propose = strcmp(action, "propose") == 0;
    printf("#%llu  %s  %s  %s", (unsigned long long)ev->idx, local, ev->actor,
           action);
    if (*ev->transition != '\0') {
        fputs("  ", stdout);
        put_named(stdout, ev->transition, transition_label(wf, ev->transition));
    }
    fputs("  ", stdout);
    if (*ev->from != '\0') {
        put_named(stdout, ev->from, state_label(wf, ev->from));
        fputc(' ', stdout);
    }
    fputs("-> ", stdout);
    put_named(stdout, ev->to, state_label(wf, ev->to));
    fputc('\n', stdout);
    if ((proposal = engine_value(ev->clear, ev->nclear, "_proposal")) != NULL)
        printf("    %s proposal #%s\n",
               strcmp(action, "approve") == 0 ? "approves" : "rejects",
               proposal);
    if ((approval = engine_value(ev->clear, ev->nclear, "_approval")) != NULL) {
        printf("    needs approval by role '%s'", approval);
        if (role_label(wf, approval) != NULL)
            printf(" (%s)", role_label(wf, approval));
        fputc('\n', stdout);
    }
    due = engine_value(ev->clear, ev->nclear, "_due");
    if (due != NULL && (!h->due_known || strcmp(due, h->due) != 0)) {
        printf("    %s: %s\n", propose ? "due if approved" : "due",
               *due ? due : "none");
        /* A proposal's due date is only what approval would set. */
        if (!propose) {
            snprintf(h->due, sizeof h->due, "%s", due);
            h->due_known = true;
        }
    }
    for (i = 0; i < ev->nclear; i++)
        if (ev->clear[i].name[0] != '_')
            history_field(wf, ev->clear[i].name, ev->clear[i].value);
    if (!ev->readable) {
        puts("    (sealed)");
        return;
    }
    /* An entry that moves a lead to another unit (or key epoch) carries a
       full copy of its sealed fields, not only what changed. */
    if (strcmp(action, "add") != 0 &&
        engine_value(ev->clear, ev->nclear, "_snapshot") != NULL)
        printf("    sealed fields copied for unit %s:\n", ev->unit);
    for (i = 0; i < ev->nsealed; i++)
        if (ev->sealed[i].name[0] != '_')
            history_field(wf, ev->sealed[i].name, ev->sealed[i].value);
    if (ev->note != NULL) {
        fputs("    note: ", stdout);
        put_value(stdout, 10, ev->note);
    }
}

static ql_err
history_event(void *ctx, const struct ql_lead_event *ev, struct ql_diag *d)
{
    struct history *h = ctx;
    char local[QL_TIME_BUF];
    int64_t t;
    ql_err rc;

    if ((rc = ql_time_parse(ev->time, strlen(ev->time), &t, d)) != QL_OK ||
        (rc = ql_time_format_local(t, ql_county_zone(h->cli->county), local,
                                   sizeof local, d)) != QL_OK)
        return rc;
    if (h->cli->json)
        history_json(h, ev, local);
    else
        history_text(h, ev, local);
    return QL_OK;
}

static int
lead_history(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *sub = find_sub("history");
    struct ql_lead *lead = NULL;
    struct history h;
    struct ql_diag d;
    struct opts o;
    int ex;

    ql_diag_clear(&d);
    memset(&h, 0, sizeof h);
    h.cli = cli;
    if ((ex = parse_opts(argc, argv, sub, 0, 1, "give one lead ID", &o)) !=
            EXIT_OK ||
        (ex = open_read(cli)) != EXIT_OK ||
        (ex = load_lead(cli, o.pos[0], true, &lead, &h.wf)) != EXIT_OK)
        goto out;
    if (ql_lead_history(cli->county, o.pos[0], history_event, &h, &d) != QL_OK)
        ex = cli_fail(&d);
out:
    ql_lead_free(lead);
    opts_release(&o);
    return ex;
}
