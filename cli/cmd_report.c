/*
 * qingling report: the status of a cycle as a document. --html writes one
 * self-contained page (inline style and SVG, no scripts, nothing fetched)
 * that prints on A4; --csv and --json give the same data for other tools.
 *
 * A report holds clear metadata only — states, dates, verdicts, figures,
 * the clear fields a figure needs — never a lead's sealed or secret
 * fields, whatever keys the reader holds: a printed page travels further
 * than a key.
 */
#include "cli.h"

#include <csv.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ql_calendar.h"
#include "ql_county.h"
#include "ql_status.h"

/* ---- writing a file whole, or not at all ---- */

struct out {
    FILE *f;
    char *tmp;
    const char *path;
};

static int
out_open(struct out *o, const char *path)
{
    size_t n = strlen(path) + 8;
    int fd;

    memset(o, 0, sizeof *o);
    o->path = path;
    if ((o->tmp = malloc(n)) == NULL)
        return cli_error(EXIT_ENV, "out of memory");
    snprintf(o->tmp, n, "%s.XXXXXX", path);
    /* Written beside the target and renamed, so no half report remains. */
    if ((fd = mkstemp(o->tmp)) < 0) {
        int e = errno;

        free(o->tmp);
        o->tmp = NULL;
        return cli_error(EXIT_ENV, "cannot write '%s': %s", path, strerror(e));
    }
    {
        mode_t mask = umask(0);

        /* mkstemp makes 0600; a report gets the usual mode. */
        umask(mask);
        (void)fchmod(fd, 0666 & ~mask);
    }
    if ((o->f = fdopen(fd, "w")) == NULL) {
        int e = errno;

        close(fd);
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
        return cli_error(EXIT_ENV, "cannot write '%s': %s", path, strerror(e));
    }
    return EXIT_OK;
}

static int
out_close(struct out *o, bool keep)
{
    int ex = EXIT_OK;

    if (o->f == NULL)
        return EXIT_OK;
    if (fflush(o->f) != 0 || ferror(o->f)) {
        ex = cli_error(EXIT_ENV, "cannot write '%s': %s", o->path,
                       strerror(errno));
        keep = false;
    }
    if (fclose(o->f) != 0 && ex == EXIT_OK) {
        ex = cli_error(EXIT_ENV, "cannot write '%s': %s", o->path,
                       strerror(errno));
        keep = false;
    }
    o->f = NULL;
    if (keep && rename(o->tmp, o->path) != 0) {
        ex = cli_error(EXIT_ENV, "cannot write '%s': %s", o->path,
                       strerror(errno));
        keep = false;
    }
    if (!keep)
        unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
    return ex;
}

/* ---- HTML ---- */

static void
esc(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static const char STYLE[] =
    "@page{size:A4;margin:14mm 12mm}"
    "*{box-sizing:border-box}"
    "body{font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\","
    "\"WenQuanYi Zen Hei\",\"WenQuanYi Micro Hei\",\"Microsoft YaHei\","
    "sans-serif;font-size:10pt;line-height:1.35;color:#111;margin:0 auto;"
    "padding:8mm 6mm;max-width:210mm;background:#fff}"
    "h1{font-size:16pt;margin:0 0 2mm}"
    "h2{font-size:12pt;margin:6mm 0 2mm;border-bottom:1px solid #888;"
    "break-after:avoid}"
    ".meta{color:#444;font-size:9pt;margin:0 0 3mm}"
    ".banner{border:1px solid #999;padding:1mm 2mm;font-size:9pt;"
    "display:inline-block}"
    "table{border-collapse:collapse;width:100%;font-size:9pt}"
    "thead{display:table-header-group}"
    "tr{break-inside:avoid}"
    "th,td{border:1px solid #aaa;padding:1mm 1.5mm;text-align:left;"
    "vertical-align:top}"
    "th{background:#eee}"
    "td.n{text-align:right;white-space:nowrap}td.d{white-space:nowrap}"
    ".v{font-weight:bold;white-space:nowrap;padding:0 1mm}"
    ".v-cleared{background:#cdeccd}.v-declared{background:#d6e6fa}"
    ".v-on-track{background:#eef2cf}.v-at-risk{background:#fde2b8}"
    ".v-failed{background:#f7c4c4}.v-uncommitted{background:#e4e4e4}"
    ".v-none{background:#f4f4f4}"
    ".chart{break-inside:avoid;margin:2mm 0}"
    "svg{width:100%;height:auto}"
    "footer{margin-top:6mm;font-size:8pt;color:#555}"
    "@media print{body{padding:0;max-width:none}}";

/* Colours for open states (warm) and cleared states (greens), in turn. */
static const char *const OPEN_COLOURS[] = {
    "#d7301f", "#fc8d59", "#fdbb84", "#e6ab02", "#8c6bb1",
    "#6baed6", "#3182bd", "#f768a1", "#969696",
};
static const char *const CLEARED_COLOURS[] = {"#1a9850", "#91cf60", "#d9ef8b",
                                              "#66bd63"};

struct legend {
    const char *state[32], *label[32], *colour[32];
    bool cleared[32];
    size_t n;
};

static const char *
colour_of(struct legend *lg, const struct ql_status_count *sc)
{
    size_t i, open = 0, cleared = 0;

    for (i = 0; i < lg->n; i++) {
        if (strcmp(lg->state[i], sc->state) == 0)
            return lg->colour[i];
        if (lg->cleared[i])
            cleared++;
        else
            open++;
    }
    if (lg->n == 32)
        return "#999999";
    lg->state[lg->n] = sc->state;
    lg->label[lg->n] = sc->label;
    lg->cleared[lg->n] = sc->cleared;
    lg->colour[lg->n] =
        sc->cleared ? CLEARED_COLOURS[cleared % (sizeof CLEARED_COLOURS /
                                                 sizeof CLEARED_COLOURS[0])]
                    : OPEN_COLOURS[open % (sizeof OPEN_COLOURS /
                                           sizeof OPEN_COLOURS[0])];
    return lg->colour[lg->n++];
}

/*
 * Leads by state per unit, as stacked horizontal bars: open states first
 * (left), cleared states after, so the green share reads as progress.
 */
static void
svg_chart(FILE *f, const struct ql_status *st)
{
    const int width = 720, left = 170, right = 40, row = 24, bar = 16;
    size_t n = ql_status_unit_count(st), i, j, max = 1, rows;
    struct legend lg;
    int height, y, pass;

    memset(&lg, 0, sizeof lg);
    for (i = 0; i < n; i++)
        if (ql_status_unit_at(st, i)->in_scope > max)
            max = ql_status_unit_at(st, i)->in_scope;
    /* Colours first, so the legend follows the order of the bars. */
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < n; i++)
            for (j = 0; j < ql_status_unit_at(st, i)->nstates; j++) {
                const struct ql_status_count *sc =
                    &ql_status_unit_at(st, i)->states[j];

                if (sc->cleared == (pass == 1))
                    colour_of(&lg, sc);
            }
    rows = (lg.n + 2) / 3;
    height = (int)(n * (size_t)row) + 28 + (int)rows * 20 + 8;
    fprintf(f,
            "<svg viewBox=\"0 0 %d %d\" role=\"img\" "
            "aria-labelledby=\"chart-title\">"
            "<title id=\"chart-title\">各单位范围内线索状态分布</title>",
            width, height);
    for (i = 0; i < n; i++) {
        const struct ql_status_unit *u = ql_status_unit_at(st, i);
        double x = left;

        y = (int)i * row + 4;
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" font-size=\"12\" "
                "text-anchor=\"end\">",
                left - 6, y + bar - 3);
        esc(f, u->code);
        fputc(' ', f);
        esc(f, u->name);
        fputs("</text>", f);
        for (pass = 0; pass < 2; pass++) {
            for (j = 0; j < u->nstates; j++) {
                const struct ql_status_count *sc = &u->states[j];
                double w = (double)(width - left - right) * (double)sc->n /
                           (double)max;

                if (sc->cleared != (pass == 1))
                    continue;
                fprintf(f,
                        "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                        "height=\"%d\" fill=\"%s\" stroke=\"#fff\" "
                        "stroke-width=\"0.5\"><title>",
                        x, y, w, bar, colour_of(&lg, sc));
                esc(f, sc->state);
                fprintf(f, " %zu</title></rect>", sc->n);
                if (w >= 14)
                    fprintf(f,
                            "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" "
                            "text-anchor=\"middle\" fill=\"#000\">%zu"
                            "</text>",
                            x + w / 2, y + bar - 4, sc->n);
                x += w;
            }
        }
        fprintf(f,
                "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" "
                "fill=\"#333\">%zu</text>",
                x + 4, y + bar - 3, u->in_scope);
    }
    y = (int)n * row + 20;
    for (i = 0; i < lg.n; i++) {
        int lx = 10 + (int)(i % 3) * 236, ly = y + (int)(i / 3) * 20;

        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" "
                "fill=\"%s\"/><text x=\"%d\" y=\"%d\" font-size=\"11\">",
                lx, ly, lg.colour[i], lx + 16, ly + 10);
        esc(f, lg.state[i]);
        fputs(" ", f);
        esc(f, lg.label[i]);
        fprintf(f, "%s</text>", lg.cleared[i] ? " ✓" : "");
    }
    fputs("</svg>", f);
}

static void
td_num(FILE *f, size_t n)
{
    fprintf(f, "<td class=\"n\">%zu</td>", n);
}

static void
td_rate(FILE *f, const char *label, const char *name, struct ql_status_rate r)
{
    fputs("<tr><td>", f);
    esc(f, label);
    fputs("</td><td>", f);
    esc(f, name);
    if (r.den == 0)
        fputs("</td><td class=\"n\">-</td><td class=\"n\">-</td></tr>", f);
    else
        fprintf(f,
                "</td><td class=\"n\">%zu / %zu</td>"
                "<td class=\"n\">%.1f%%</td></tr>",
                r.num, r.den, 100.0 * (double)r.num / (double)r.den);
}

static void
why_words(FILE *f, unsigned why)
{
    const char *sep = "";

    if (why & QL_WHY_OVERDUE) {
        fprintf(f, "%s已逾期", sep);
        sep = "；";
    }
    if (why & QL_WHY_DUE_LATE) {
        fprintf(f, "%s期限晚于承诺时限", sep);
        sep = "；";
    }
    if (why & QL_WHY_NEAR)
        fprintf(f, "%s临近承诺时限仍未办结", sep);
}

static void
html(FILE *f, struct cli *cli, const struct ql_status *st)
{
    const struct ql_status_figures *fg = ql_status_figures(st);
    const char *cycle = ql_status_cycle(st);
    struct ql_diag d;
    char asof[QL_TIME_BUF];
    size_t i, j, nattn = 0;

    if (ql_time_format_local(ql_status_now(st), ql_status_zone(st), asof,
                             sizeof asof, &d) != QL_OK)
        snprintf(asof, sizeof asof, "%s", ql_status_today(st));
    fputs("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n"
          "<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width\">\n"
          "<title>线索核查清零情况 ",
          f);
    esc(f, cycle ? cycle : "");
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", STYLE);
    fputs("<h1>涉黑涉恶线索核查清零情况</h1>\n<p class=\"meta\">", f);
    esc(f, ql_county_origin(cli->county));
    fputs(" · 承诺周期 ", f);
    esc(f, cycle ? cycle : "（无承诺）");
    fputs(" · 截至 ", f);
    esc(f, asof);
    fprintf(f, " · 日志 %llu 条</p>\n",
            (unsigned long long)ql_status_log_size(st));
    fputs("<p class=\"banner\">本报告仅含明文元数据（状态、日期、结论类别），"
          "不含线索内容与举报人信息。</p>\n",
          f);

    fputs("<h2>全县指标 County figures</h2>\n<table><thead><tr>"
          "<th>指标</th><th>figure</th><th>数量</th><th>比率</th>"
          "</tr></thead><tbody>\n",
          f);
    td_rate(f, "线索核查办结率", "completion", fg->completion);
    td_rate(f, "按期办结率", "closed on time", fg->on_time);
    td_rate(f, "查实率", "substantiated", fg->substantiated);
    td_rate(f, "反馈率", "fed back (named reporters)", fg->feedback);
    td_rate(f, "满意率", "satisfied", fg->satisfied);
    td_rate(f, "退回率", "reports returned", fg->returned);
    td_rate(f, "评查退回率", "spot-checks returned", fg->spot_returned);
    fprintf(f,
            "<tr><td>逾期数</td><td>overdue</td><td class=\"n\">%zu</td>"
            "<td></td></tr>\n"
            "<tr><td>催办督办数</td><td>urged or supervised</td>"
            "<td class=\"n\">%zu</td><td></td></tr>\n"
            "<tr><td>范围内线索</td><td>in-scope leads (merged not "
            "counted)</td><td class=\"n\">%zu</td><td>已合并 %zu</td></tr>\n"
            "</tbody></table>\n",
            fg->overdue, fg->urged, fg->leads, fg->merged);

    fputs("<h2>各单位清零情况 Units</h2>\n<table><thead><tr>"
          "<th>单位</th><th>结论</th><th>承诺时限</th><th>范围内</th>"
          "<th>未办结</th><th>逾期</th><th>范围外</th><th>说明</th>"
          "</tr></thead><tbody>\n",
          f);
    for (i = 0; i < ql_status_unit_count(st); i++) {
        const struct ql_status_unit *u = ql_status_unit_at(st, i);

        fputs("<tr><td>", f);
        esc(f, u->code);
        fputs(" ", f);
        esc(f, u->name);
        fprintf(f, "</td><td><span class=\"v v-%s\">",
                u->verdict == QL_VERDICT_NONE ? "none"
                                              : ql_verdict_name(u->verdict));
        esc(f, ql_verdict_label(u->verdict));
        fputs("</span><br>", f);
        esc(f, ql_verdict_name(u->verdict));
        fputs("</td><td class=\"d\">", f);
        esc(f, u->deadline ? u->deadline : "-");
        fputs("</td>", f);
        td_num(f, u->in_scope);
        td_num(f, u->open);
        td_num(f, u->overdue);
        td_num(f, u->out_of_scope);
        fputs("<td>", f);
        esc(f, u->reason);
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table>\n", f);

    fputs("<h2>范围内线索状态分布 Leads by state</h2>\n<div class=\"chart\">",
          f);
    svg_chart(f, st);
    fputs("</div>\n", f);

    for (i = 0; i < ql_status_unit_count(st); i++) {
        const struct ql_status_unit *u = ql_status_unit_at(st, i);

        for (j = 0; j < u->nlead; j++)
            if (u->lead[j].why & QL_WHY_AT_RISK)
                nattn++;
    }
    fputs("<h2>逾期及有风险线索 Overdue and at-risk leads</h2>\n", f);
    if (nattn == 0) {
        fputs("<p>无。</p>\n", f);
    } else {
        fputs("<table><thead><tr><th>线索编号</th><th>单位</th>"
              "<th>状态</th><th>登记</th><th>期限</th><th>督办级别</th>"
              "<th>风险</th></tr></thead><tbody>\n",
              f);
        for (i = 0; i < ql_status_unit_count(st); i++) {
            const struct ql_status_unit *u = ql_status_unit_at(st, i);

            for (j = 0; j < u->nlead; j++) {
                const struct ql_status_lead *l = &u->lead[j];

                if (!(l->why & QL_WHY_AT_RISK))
                    continue;
                fputs("<tr><td>", f);
                esc(f, l->id);
                fputs("</td><td>", f);
                esc(f, l->unit);
                fputs("</td><td>", f);
                esc(f, l->state_label);
                fputs("</td><td class=\"d\">", f);
                esc(f, l->registered);
                fputs("</td><td class=\"d\">", f);
                esc(f, *l->due ? l->due : "-");
                fputs("</td><td>", f);
                esc(f, *l->priority ? l->priority : "-");
                fputs("</td><td>", f);
                why_words(f, l->why);
                fputs("</td></tr>\n", f);
            }
        }
        fputs("</tbody></table>\n", f);
    }
    fputs("<footer>结论与指标的定义见 docs/commitments.md；"
          "均由日志中的明文元数据计算，审计人员无需密钥即可复算。"
          "Verdicts and figures are computed from the log's clear metadata "
          "alone.</footer>\n</body>\n</html>\n",
          f);
}

/* ---- CSV ---- */

static void
cell(FILE *f, const char *s, bool last)
{
    csv_fwrite(f, s, strlen(s));
    fputs(last ? "\r\n" : ",", f);
}

static void
cell_num(FILE *f, size_t n, bool last)
{
    fprintf(f, "%zu%s", n, last ? "\r\n" : ",");
}

static void
csv_rate(FILE *f, const char *name, const char *label, struct ql_status_rate r)
{
    char pct[32];

    cell(f, name, false);
    cell(f, label, false);
    cell_num(f, r.num, false);
    cell_num(f, r.den, false);
    if (r.den == 0)
        snprintf(pct, sizeof pct, "%s", "");
    else
        snprintf(pct, sizeof pct, "%.1f",
                 100.0 * (double)r.num / (double)r.den);
    cell(f, pct, true);
}

static void
csv(FILE *f, const struct ql_status *st)
{
    const struct ql_status_figures *fg = ql_status_figures(st);
    static const char *const unit_head[] = {
        "unit",     "name",         "kind",         "verdict",  "verdict_label",
        "reason",   "cycle",        "cutoff",       "deadline", "declaration",
        "verified", "in_scope",     "open",         "cleared",  "overdue",
        "at_risk",  "out_of_scope", "spot_pending", "by_state"};
    static const char *const lead_head[] = {
        "lead",       "unit", "state",    "state_label",
        "registered", "due",  "priority", "why"};
    size_t i, j, k;
    char buf[1024];

    /* A byte-order mark, so that spreadsheets read the Chinese right. */
    fputs("\xEF\xBB\xBF", f);
    for (k = 0; k < sizeof unit_head / sizeof unit_head[0]; k++)
        cell(f, unit_head[k], k + 1 == sizeof unit_head / sizeof unit_head[0]);
    for (i = 0; i < ql_status_unit_count(st); i++) {
        const struct ql_status_unit *u = ql_status_unit_at(st, i);
        size_t at = 0;

        cell(f, u->code, false);
        cell(f, u->name, false);
        cell(f, u->kind, false);
        cell(f, ql_verdict_name(u->verdict), false);
        cell(f, ql_verdict_label(u->verdict), false);
        cell(f, u->reason, false);
        cell(f, ql_status_cycle(st) ? ql_status_cycle(st) : "", false);
        cell(f, u->cutoff ? u->cutoff : "", false);
        cell(f, u->deadline ? u->deadline : "", false);
        cell(f, ql_declaration_name(u->declaration), false);
        cell(f, u->verified ? "yes" : "no", false);
        cell_num(f, u->in_scope, false);
        cell_num(f, u->open, false);
        cell_num(f, u->cleared, false);
        cell_num(f, u->overdue, false);
        cell_num(f, u->at_risk, false);
        cell_num(f, u->out_of_scope, false);
        cell_num(f, u->spot_pending, false);
        buf[0] = '\0';
        for (j = 0; j < u->nstates && at < sizeof buf; j++)
            at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s %zu",
                                   j ? "; " : "", u->states[j].state,
                                   u->states[j].n);
        cell(f, buf, true);
    }
    fputs("\r\n", f);
    cell(f, "figure", false);
    cell(f, "label", false);
    cell(f, "numerator", false);
    cell(f, "denominator", false);
    cell(f, "percent", true);
    csv_rate(f, "completion", "线索核查办结率", fg->completion);
    csv_rate(f, "on_time", "按期办结率", fg->on_time);
    csv_rate(f, "substantiated", "查实率", fg->substantiated);
    csv_rate(f, "feedback", "反馈率", fg->feedback);
    csv_rate(f, "satisfied", "满意率", fg->satisfied);
    csv_rate(f, "returned", "退回率", fg->returned);
    csv_rate(f, "spot_returned", "评查退回率", fg->spot_returned);
    cell(f, "overdue", false);
    cell(f, "逾期数", false);
    cell_num(f, fg->overdue, false);
    cell(f, "", false);
    cell(f, "", true);
    cell(f, "urged", false);
    cell(f, "催办督办数", false);
    cell_num(f, fg->urged, false);
    cell(f, "", false);
    cell(f, "", true);
    cell(f, "leads", false);
    cell(f, "范围内线索", false);
    cell_num(f, fg->leads, false);
    cell(f, "", false);
    cell(f, "", true);
    fputs("\r\n", f);
    for (k = 0; k < sizeof lead_head / sizeof lead_head[0]; k++)
        cell(f, lead_head[k], k + 1 == sizeof lead_head / sizeof lead_head[0]);
    for (i = 0; i < ql_status_unit_count(st); i++) {
        const struct ql_status_unit *u = ql_status_unit_at(st, i);

        for (j = 0; j < u->nlead; j++) {
            const struct ql_status_lead *l = &u->lead[j];
            size_t at = 0;

            if (!(l->why & QL_WHY_AT_RISK))
                continue;
            cell(f, l->id, false);
            cell(f, l->unit, false);
            cell(f, l->state, false);
            cell(f, l->state_label, false);
            cell(f, l->registered, false);
            cell(f, l->due, false);
            cell(f, l->priority, false);
            buf[0] = '\0';
            if (l->why & QL_WHY_OVERDUE)
                at += (size_t)snprintf(buf + at, sizeof buf - at, "overdue");
            if (l->why & QL_WHY_DUE_LATE)
                at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s",
                                       at ? "; " : "", "due-after-deadline");
            if (l->why & QL_WHY_NEAR)
                snprintf(buf + at, sizeof buf - at, "%s%s", at ? "; " : "",
                         "open-near-deadline");
            cell(f, buf, true);
        }
    }
}

/* ---- the command ---- */

int
cmd_report(int argc, char **argv, struct cli *cli)
{
    static const struct option opts[] = {
        {"html", required_argument, NULL, 'h'},
        {"csv", required_argument, NULL, 'c'},
        {"unit", required_argument, NULL, 'u'},
        {"cycle", required_argument, NULL, 'y'},
        {NULL, 0, NULL, 0},
    };
    const struct cli_cmd *self = cli_find("report");
    const char *html_path = NULL, *csv_path = NULL, *unit = NULL;
    const char *cycle = NULL;
    struct ql_status *st = NULL;
    struct out o;
    struct ql_diag d;
    int opt, ex;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            html_path = optarg;
            break;
        case 'c':
            csv_path = optarg;
            break;
        case 'u':
            unit = optarg;
            break;
        case 'y':
            cycle = optarg;
            break;
        case ':':
            return cli_usage(self, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage(self, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage(self, "unexpected argument '%s'", argv[optind]);
    if (html_path == NULL && csv_path == NULL && !cli->json)
        return cli_usage(self, "say what to write: --html FILE, --csv FILE "
                               "or --json");
    if ((ex = cli_open_county(cli, true)) != EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    if (ql_status_compute(cli->county, cycle, unit, &st, &d) != QL_OK)
        return cli_fail(&d);
    if (html_path != NULL && (ex = out_open(&o, html_path)) == EXIT_OK) {
        html(o.f, cli, st);
        ex = out_close(&o, true);
    }
    if (ex == EXIT_OK && csv_path != NULL &&
        (ex = out_open(&o, csv_path)) == EXIT_OK) {
        csv(o.f, st);
        ex = out_close(&o, true);
    }
    if (ex == EXIT_OK && cli->json)
        cli_status_json(stdout, st);
    if (ex == EXIT_OK && !cli->json) {
        if (html_path != NULL)
            printf("wrote %s\n", html_path);
        if (csv_path != NULL)
            printf("wrote %s\n", csv_path);
    }
    ql_status_free(st);
    return ex;
}
