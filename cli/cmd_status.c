/*
 * qingling status: the supervision office's one answer per unit — is it
 * fully cleared (全面清零) for the cycle, and if not, why — and the
 * county's figures. Everything comes from ql_status, which reads clear
 * metadata only, so no key is needed: an auditor gets the same answer.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ql_calendar.h"
#include "ql_county.h"
#include "ql_status.h"

/* ---- words for the reasons behind a verdict ---- */

static const struct {
    unsigned flag;
    const char *word;
} WHY_WORDS[] = {
    {QL_WHY_OPEN, "open"},
    {QL_WHY_OVERDUE, "overdue"},
    {QL_WHY_DUE_LATE, "due-after-deadline"},
    {QL_WHY_NEAR, "open-near-deadline"},
    {QL_WHY_RETURNED, "returned-after-declaration"},
    {QL_WHY_SAMPLED, "sampled"},
    {QL_WHY_PENDING, "spot-check-pending"},
    {QL_WHY_CHANGED, "changed-since-verification"},
    {QL_WHY_BLOCKING, "proposal-waiting"},
    {QL_WHY_OUT_OF_SCOPE, "out-of-scope"},
};

#define NWHY (sizeof WHY_WORDS / sizeof WHY_WORDS[0])

/* The flags that explain each verdict (status --why). */
static unsigned
why_mask(const struct ql_status_unit *u)
{
    switch (u->verdict) {
    case QL_VERDICT_FAILED:
        return u->declaration == QL_DECL_BREACHED ? QL_WHY_RETURNED
                                                  : QL_WHY_OPEN;
    case QL_VERDICT_AT_RISK:
        return QL_WHY_AT_RISK;
    case QL_VERDICT_DECLARED:
        return QL_WHY_SAMPLED | QL_WHY_PENDING | QL_WHY_CHANGED;
    case QL_VERDICT_CLEARED:
        return QL_WHY_SAMPLED;
    case QL_VERDICT_ON_TRACK:
    case QL_VERDICT_UNCOMMITTED:
    case QL_VERDICT_NONE:
        break;
    }
    return QL_WHY_OPEN | QL_WHY_BLOCKING;
}

static void
why_text(FILE *f, unsigned why, const char *spot)
{
    bool first = true;
    size_t i;

    for (i = 0; i < NWHY; i++) {
        if (!(why & WHY_WORDS[i].flag))
            continue;
        fprintf(f, "%s%s", first ? "" : ", ", WHY_WORDS[i].word);
        if (WHY_WORDS[i].flag == QL_WHY_SAMPLED && spot != NULL &&
            strcmp(spot, "pending") != 0)
            fprintf(f, " (%s)", spot);
        first = false;
    }
}

static void
why_json(FILE *f, unsigned why)
{
    bool first = true;
    size_t i;

    fputc('[', f);
    for (i = 0; i < NWHY; i++) {
        if (!(why & WHY_WORDS[i].flag))
            continue;
        if (!first)
            fputc(',', f);
        cli_json_str(f, WHY_WORDS[i].word);
        first = false;
    }
    fputc(']', f);
}

/* ---- JSON, shared with qingling report ---- */

static void
json_rate(FILE *f, bool *first, const char *key, struct ql_status_rate r)
{
    bool inner = true;

    if (!*first)
        fputc(',', f);
    *first = false;
    cli_json_str(f, key);
    fputs(":{", f);
    cli_json_ki(f, &inner, "num", (long long)r.num);
    cli_json_ki(f, &inner, "den", (long long)r.den);
    fputs(",\"percent\":", f);
    if (r.den == 0)
        fputs("null", f);
    else
        fprintf(f, "%.1f", 100.0 * (double)r.num / (double)r.den);
    fputc('}', f);
}

static void
json_lead(FILE *f, const struct ql_status_lead *l)
{
    bool first = true;

    fputc('{', f);
    cli_json_kv(f, &first, "id", l->id);
    cli_json_kv(f, &first, "unit", l->unit);
    cli_json_kv(f, &first, "state", l->state);
    cli_json_kv(f, &first, "state_label", l->state_label);
    cli_json_kv(f, &first, "registered", l->registered);
    cli_json_kv(f, &first, "due", *l->due ? l->due : NULL);
    cli_json_kv(f, &first, "priority", *l->priority ? l->priority : NULL);
    cli_json_kb(f, &first, "in_scope", l->in_scope);
    cli_json_kv(f, &first, "spot", l->spot);
    fputs(",\"why\":", f);
    why_json(f, l->why);
    fputc('}', f);
}

static void
json_unit(FILE *f, const struct ql_status_unit *u)
{
    bool first = true;
    size_t i;

    fputc('{', f);
    cli_json_kv(f, &first, "unit", u->code);
    cli_json_kv(f, &first, "name", u->name);
    cli_json_kv(f, &first, "kind", u->kind);
    cli_json_kv(f, &first, "verdict", ql_verdict_name(u->verdict));
    cli_json_kv(f, &first, "verdict_label", ql_verdict_label(u->verdict));
    cli_json_kv(f, &first, "reason", u->reason);
    cli_json_kb(f, &first, "committed", u->committed);
    cli_json_kv(f, &first, "cutoff", u->cutoff);
    cli_json_kv(f, &first, "deadline", u->deadline);
    cli_json_kv(f, &first, "signed_by", u->signer);
    cli_json_kv(f, &first, "signed_at", u->signed_at);
    if (u->committed)
        cli_json_ki(f, &first, "sign_entry", (long long)u->sign_idx);
    cli_json_kv(f, &first, "declaration", ql_declaration_name(u->declaration));
    if (u->declaration != QL_DECL_NONE) {
        cli_json_ki(f, &first, "declare_entry", (long long)u->declare_idx);
        cli_json_kv(f, &first, "declared_at", u->declared_at);
        cli_json_kv(f, &first, "declared_by", u->declared_by);
        cli_json_kv(f, &first, "declared_scope_hash", u->declared_hash);
    }
    cli_json_kb(f, &first, "sampled", u->sampled);
    if (u->sampled) {
        cli_json_ki(f, &first, "sample_entry", (long long)u->sample_idx);
        cli_json_ki(f, &first, "sample_size", (long long)u->sample_size);
    }
    cli_json_ki(f, &first, "spot_pending", (long long)u->spot_pending);
    cli_json_kb(f, &first, "verified", u->verified);
    if (u->verified) {
        cli_json_ki(f, &first, "verify_entry", (long long)u->verify_idx);
        cli_json_kv(f, &first, "verified_at", u->verified_at);
        cli_json_kv(f, &first, "verified_by", u->verified_by);
    }
    cli_json_ki(f, &first, "leads", (long long)u->leads);
    cli_json_ki(f, &first, "in_scope", (long long)u->in_scope);
    cli_json_ki(f, &first, "open", (long long)u->open);
    cli_json_ki(f, &first, "cleared", (long long)u->cleared);
    cli_json_ki(f, &first, "overdue", (long long)u->overdue);
    cli_json_ki(f, &first, "at_risk", (long long)u->at_risk);
    cli_json_ki(f, &first, "out_of_scope", (long long)u->out_of_scope);
    cli_json_kv(f, &first, "scope_hash", u->scope_hash);
    fputs(",\"states\":{", f);
    for (i = 0; i < u->nstates; i++) {
        bool inner = i == 0;

        cli_json_ki(f, &inner, u->states[i].state, (long long)u->states[i].n);
    }
    fputs("}}", f);
}

void
cli_status_json(FILE *f, const struct ql_status *st)
{
    const struct ql_status_figures *fg = ql_status_figures(st);
    struct ql_diag d;
    char asof[QL_TIME_BUF];
    bool first = true, any = false;
    size_t i, j;

    if (ql_time_format_local(ql_status_now(st), ql_status_zone(st), asof,
                             sizeof asof, &d) != QL_OK)
        asof[0] = '\0';
    fputc('{', f);
    cli_json_kv(f, &first, "cycle", ql_status_cycle(st));
    cli_json_kv(f, &first, "today", ql_status_today(st));
    cli_json_kv(f, &first, "as_of", asof);
    cli_json_ki(f, &first, "log_size", (long long)ql_status_log_size(st));
    cli_json_kb(f, &first, "all_cleared", ql_status_all_cleared(st));
    fputs(",\"units\":[", f);
    for (i = 0; i < ql_status_unit_count(st); i++) {
        if (i > 0)
            fputc(',', f);
        json_unit(f, ql_status_unit_at(st, i));
    }
    fputs("],\"county\":{", f);
    first = true;
    cli_json_ki(f, &first, "leads", (long long)fg->leads);
    cli_json_ki(f, &first, "merged", (long long)fg->merged);
    cli_json_ki(f, &first, "open", (long long)fg->open);
    cli_json_ki(f, &first, "closed", (long long)fg->closed);
    json_rate(f, &first, "completion", fg->completion);
    json_rate(f, &first, "on_time", fg->on_time);
    json_rate(f, &first, "substantiated", fg->substantiated);
    json_rate(f, &first, "feedback", fg->feedback);
    json_rate(f, &first, "satisfied", fg->satisfied);
    json_rate(f, &first, "returned", fg->returned);
    json_rate(f, &first, "spot_returned", fg->spot_returned);
    cli_json_ki(f, &first, "overdue", (long long)fg->overdue);
    cli_json_ki(f, &first, "urged", (long long)fg->urged);
    fputs("},\"attention\":[", f);
    for (i = 0; i < ql_status_unit_count(st); i++) {
        const struct ql_status_unit *u = ql_status_unit_at(st, i);

        for (j = 0; j < u->nlead; j++) {
            if (!(u->lead[j].why & QL_WHY_AT_RISK))
                continue;
            if (any)
                fputc(',', f);
            json_lead(f, &u->lead[j]);
            any = true;
        }
    }
    fputs("]}\n", f);
}

/* ---- text ---- */

/* "11/18  61.1%", or "-" without a denominator. */
void
cli_status_rate(char *buf, size_t size, size_t num, size_t den)
{
    if (den == 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%zu/%zu  %.1f%%", num, den,
                 100.0 * (double)num / (double)den);
}

static void
print_units(const struct ql_status *st)
{
    static const char *const head[] = {"UNIT",     "NAME",  "VERDICT",
                                       "DEADLINE", "SCOPE", "OPEN",
                                       "OVERDUE",  "OUT",   "WHY"};
    size_t w[9], i, k, n = ql_status_unit_count(st);
    char num[4][24];

    for (k = 0; k < 9; k++)
        w[k] = strlen(head[k]);
    for (i = 0; i < n; i++) {
        const struct ql_status_unit *u = ql_status_unit_at(st, i);

        if (cli_width(u->code) > w[0])
            w[0] = cli_width(u->code);
        if (cli_width(u->name) > w[1])
            w[1] = cli_width(u->name);
        if (strlen(ql_verdict_name(u->verdict)) > w[2])
            w[2] = strlen(ql_verdict_name(u->verdict));
        if (10 > w[3])
            w[3] = 10;
    }
    for (k = 0; k < 8; k++) {
        cli_pad(stdout, head[k], w[k] + 2);
    }
    fputs(head[8], stdout);
    fputc('\n', stdout);
    for (i = 0; i < n; i++) {
        const struct ql_status_unit *u = ql_status_unit_at(st, i);

        snprintf(num[0], sizeof num[0], "%zu", u->in_scope);
        snprintf(num[1], sizeof num[1], "%zu", u->open);
        snprintf(num[2], sizeof num[2], "%zu", u->overdue);
        snprintf(num[3], sizeof num[3], "%zu", u->out_of_scope);
        cli_pad(stdout, u->code, w[0] + 2);
        cli_pad(stdout, u->name, w[1] + 2);
        cli_pad(stdout, ql_verdict_name(u->verdict), w[2] + 2);
        cli_pad(stdout, u->deadline ? u->deadline : "-", w[3] + 2);
        for (k = 0; k < 4; k++)
            cli_pad(stdout, num[k], w[4 + k] + 2);
        fputs(u->reason, stdout);
        fputc('\n', stdout);
    }
}

static void
print_states(const struct ql_status *st)
{
    size_t i, j, w = 0, n = ql_status_unit_count(st);

    for (i = 0; i < n; i++)
        if (cli_width(ql_status_unit_at(st, i)->code) > w)
            w = cli_width(ql_status_unit_at(st, i)->code);
    fputs("\nin-scope leads by state:\n", stdout);
    for (i = 0; i < n; i++) {
        const struct ql_status_unit *u = ql_status_unit_at(st, i);

        fputs("  ", stdout);
        cli_pad(stdout, u->code, w + 2);
        if (u->nstates == 0)
            fputs("none", stdout);
        for (j = 0; j < u->nstates; j++)
            printf("%s%s %zu", j ? ", " : "", u->states[j].state,
                   u->states[j].n);
        fputc('\n', stdout);
    }
}

static void
print_figures(const struct ql_status *st)
{
    const struct ql_status_figures *f = ql_status_figures(st);
    const struct {
        const char *label, *name;
        const struct ql_status_rate *r;
    } rates[] = {
        {"办结率", "completion", &f->completion},
        {"按期办结率", "closed on time", &f->on_time},
        {"查实率", "substantiated", &f->substantiated},
        {"反馈率", "fed back (named reporters)", &f->feedback},
        {"满意率", "satisfied", &f->satisfied},
        {"退回率", "reports returned", &f->returned},
        {"评查退回率", "spot-checks returned", &f->spot_returned},
    };
    char buf[64];
    size_t i;

    printf("\ncounty figures: %zu in-scope leads (%zu merged not counted), "
           "%zu open, %zu closed\n",
           f->leads, f->merged, f->open, f->closed);
    for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        cli_status_rate(buf, sizeof buf, rates[i].r->num, rates[i].r->den);
        fputs("  ", stdout);
        cli_pad(stdout, rates[i].label, 12);
        cli_pad(stdout, rates[i].name, 28);
        puts(buf);
    }
    fputs("  ", stdout);
    cli_pad(stdout, "逾期数", 12);
    cli_pad(stdout, "overdue", 28);
    printf("%zu\n", f->overdue);
    fputs("  ", stdout);
    cli_pad(stdout, "催办督办数", 12);
    cli_pad(stdout, "urged or supervised", 28);
    printf("%zu\n", f->urged);
}

static void
print_status(const struct ql_status *st)
{
    struct ql_diag d;
    char asof[QL_TIME_BUF];

    if (ql_time_format_local(ql_status_now(st), ql_status_zone(st), asof,
                             sizeof asof, &d) != QL_OK)
        snprintf(asof, sizeof asof, "%s", ql_status_today(st));
    printf("cycle %s, as of %s (log size %llu)\n",
           ql_status_cycle(st) ? ql_status_cycle(st) : "- (no commitment)",
           asof, (unsigned long long)ql_status_log_size(st));
    print_units(st);
    print_states(st);
    print_figures(st);
}

static void
print_lead_rows(const struct ql_status_unit *u, unsigned mask)
{
    static const char *const head[] = {"ID", "STATE", "REGISTERED", "DUE"};
    size_t w[4], i;

    w[0] = 2;
    w[1] = 5;
    w[2] = 10;
    w[3] = 10;
    for (i = 0; i < u->nlead; i++) {
        const struct ql_status_lead *l = &u->lead[i];
        size_t sw = cli_width(l->state) + cli_width(l->state_label) + 3;

        if (!(l->why & mask))
            continue;
        if (cli_width(l->id) > w[0])
            w[0] = cli_width(l->id);
        if (sw > w[1])
            w[1] = sw;
    }
    for (i = 0; i < 4; i++)
        cli_pad(stdout, head[i], w[i] + 2);
    puts("WHY");
    for (i = 0; i < u->nlead; i++) {
        const struct ql_status_lead *l = &u->lead[i];
        char state[256];

        if (!(l->why & mask))
            continue;
        snprintf(state, sizeof state, "%s (%s)", l->state, l->state_label);
        cli_pad(stdout, l->id, w[0] + 2);
        cli_pad(stdout, state, w[1] + 2);
        cli_pad(stdout, l->registered, w[2] + 2);
        cli_pad(stdout, *l->due ? l->due : "-", w[3] + 2);
        why_text(stdout, l->why & (mask | QL_WHY_OPEN | QL_WHY_AT_RISK),
                 l->spot);
        fputc('\n', stdout);
    }
}

static size_t
count_flag(const struct ql_status_unit *u, unsigned mask)
{
    size_t i, n = 0;

    for (i = 0; i < u->nlead; i++)
        if (u->lead[i].why & mask)
            n++;
    return n;
}

/* An RFC 3339 UTC time as local time in the status's zone. */
static const char *
local_time(const struct ql_status *st, const char *time, char *buf, size_t size)
{
    struct ql_diag d;
    int64_t t;

    if (time == NULL || ql_time_parse(time, strlen(time), &t, &d) != QL_OK ||
        ql_time_format_local(t, ql_status_zone(st), buf, size, &d) != QL_OK)
        return time ? time : "-";
    return buf;
}

static void
print_why(const struct ql_status *st, const struct ql_status_unit *u)
{
    unsigned mask = why_mask(u);
    char t[QL_TIME_BUF];

    printf("unit %s %s: %s (%s): %s\n", u->code, u->name,
           ql_verdict_name(u->verdict), ql_verdict_label(u->verdict),
           u->reason);
    if (u->committed) {
        printf("commitment %s signed %s by %s (entry %llu): leads "
               "registered up to %s, cleared by %s\n",
               ql_status_cycle(st), local_time(st, u->signed_at, t, sizeof t),
               u->signer, (unsigned long long)u->sign_idx, u->cutoff,
               u->deadline);
        printf("  %s\n", u->text);
    } else if (u->verdict == QL_VERDICT_UNCOMMITTED) {
        printf("no commitment for cycle %s\n",
               ql_status_cycle(st) ? ql_status_cycle(st) : "-");
    }
    if (u->declaration != QL_DECL_NONE) {
        printf("declaration: %s, by %s at %s (entry %llu)\n",
               ql_declaration_name(u->declaration), u->declared_by,
               local_time(st, u->declared_at, t, sizeof t),
               (unsigned long long)u->declare_idx);
        if (u->sampled)
            printf("sample: entry %llu, %zu lead%s, %zu pending\n",
                   (unsigned long long)u->sample_idx, u->sample_size,
                   u->sample_size == 1 ? "" : "s", u->spot_pending);
        if (u->verified)
            printf("verified by %s at %s (entry %llu)\n", u->verified_by,
                   local_time(st, u->verified_at, t, sizeof t),
                   (unsigned long long)u->verify_idx);
    } else if (u->committed) {
        puts("declaration: none");
    }
    printf("in scope: %zu (%zu open, %zu cleared), out of scope: %zu\n",
           u->in_scope, u->open, u->cleared, u->out_of_scope);
    if (count_flag(u, mask) > 0) {
        fputc('\n', stdout);
        print_lead_rows(u, mask);
    }
    if (u->out_of_scope > 0) {
        printf("\nout of scope (registered after the cut-off %s):\n",
               u->cutoff ? u->cutoff : "-");
        print_lead_rows(u, QL_WHY_OUT_OF_SCOPE);
    }
}

static void
json_why(const struct ql_status *st, const struct ql_status_unit *u)
{
    unsigned mask = why_mask(u) | QL_WHY_OUT_OF_SCOPE;
    bool first = true, any = false;
    size_t i;

    fputc('{', stdout);
    cli_json_kv(stdout, &first, "cycle", ql_status_cycle(st));
    cli_json_kv(stdout, &first, "unit", u->code);
    cli_json_kv(stdout, &first, "verdict", ql_verdict_name(u->verdict));
    cli_json_kv(stdout, &first, "reason", u->reason);
    cli_json_kv(stdout, &first, "declaration",
                ql_declaration_name(u->declaration));
    fputs(",\"leads\":[", stdout);
    for (i = 0; i < u->nlead; i++) {
        if (!(u->lead[i].why & mask))
            continue;
        if (any)
            fputc(',', stdout);
        json_lead(stdout, &u->lead[i]);
        any = true;
    }
    fputs("]}\n", stdout);
}

int
cmd_status(int argc, char **argv, struct cli *cli)
{
    static const struct option opts[] = {
        {"unit", required_argument, NULL, 'u'},
        {"cycle", required_argument, NULL, 'c'},
        {"why", required_argument, NULL, 'w'},
        {"check", no_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const struct cli_cmd *self = cli_find("status");
    const char *unit = NULL, *cycle = NULL, *why = NULL;
    struct ql_status *st = NULL;
    struct ql_diag d;
    bool check = false;
    int opt, ex;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            unit = optarg;
            break;
        case 'c':
            cycle = optarg;
            break;
        case 'w':
            why = optarg;
            break;
        case 'k':
            check = true;
            break;
        case ':':
            return cli_usage(self, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage(self, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage(self, "unexpected argument '%s'", argv[optind]);
    if (why != NULL && unit != NULL && strcmp(why, unit) != 0)
        return cli_usage(self, "--why %s and --unit %s name different units",
                         why, unit);
    if ((ex = cli_open_county(cli, true)) != EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    /*
     * The table and --check need no lead one by one: the summary's cost
     * does not grow with the county. --why and --json list leads.
     */
    if ((why != NULL || cli->json
             ? ql_status_compute(cli->county, cycle, why ? why : unit, &st, &d)
             : ql_status_summary(cli->county, cycle, unit, &st, &d)) != QL_OK)
        return cli_fail(&d);
    if (why != NULL) {
        const struct ql_status_unit *u = ql_status_unit(st, why);

        if (cli->json)
            json_why(st, u);
        else
            print_why(st, u);
    } else if (cli->json) {
        cli_status_json(stdout, st);
    } else {
        print_status(st);
    }
    ex = check && !ql_status_all_cleared(st) ? EXIT_NO : EXIT_OK;
    ql_status_free(st);
    return ex;
}
