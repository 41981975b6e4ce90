/*
 * Lead imports (cli/lead_import.c): a CSV or JSON file's bytes through the
 * importer's own reading and checking code, against the default workflow
 * (workflows/gang_lead.lua): decode (UTF-8, BOM, GB18030), read_csv or
 * read_json, resolve_columns, check_row for every row, the search for
 * likely duplicates within the file, and the report of bad rows.
 *
 * Those functions are private to the command, so the command's file is
 * compiled into this harness (its lead_import() is then never called);
 * nothing runs that needs a store or a key.
 *
 * Invariants: every row the importer would register holds only fields of
 * the workflow, each value one the engine accepts for its field, every
 * required field, and an entry of at most QL_ENTRY_MAX bytes; rows carry
 * the line of the file they start on (ascending, from 1).
 */
#include "../../cli/lead_import.c"

#include "qlf.h"

static const struct ql_workflow *
imp_workflow(void)
{
    static struct ql_workflow *wf;
    const char *src;
    size_t len = 0;

    if (wf != NULL)
        return wf;
    if ((src = qlf_tree_file("workflows/gang_lead.lua", &len)) == NULL ||
        ql_workflow_load("gang_lead.lua", src, len, &wf, NULL) != QL_OK)
        qlf_fail(__FILE__, __LINE__, "cannot load workflows/gang_lead.lua");
    return wf;
}

/* The part of find_duplicates that needs no store: rows against rows. */
static void
imp_dups(struct imp *im)
{
    const struct ql_wf_field *ext = ql_workflow_field(im->wf, "ext_ref");
    const struct ql_wf_field *sum = ql_workflow_field(im->wf, "summary");
    const struct ql_wf_field *subj = ql_workflow_field(im->wf, "subjects");
    struct dkeys ek = {NULL, 0, 0}, ck = {NULL, 0, 0};
    size_t i;

    for (i = 0; i < im->nrows && im->fail == FAIL_NONE; i++) {
        const struct row *r = &im->rows[i];

        add_keys(im, &ek, &ck, i, 0, NULL,
                 ext != NULL ? row_get(im, r, ext->name) : NULL,
                 sum != NULL ? row_get(im, r, sum->name) : NULL,
                 subj != NULL ? row_get(im, r, subj->name) : NULL);
    }
    report_dups(im, &ek, ext, NULL);
    report_dups(im, &ck, NULL, "subjects and summary");
    dkeys_free(&ek);
    dkeys_free(&ck);
}

/* What the importer would write is what the engine accepts. */
static void
imp_check_rows(struct imp *im)
{
    size_t i, j, k;

    for (i = 0; i < im->nrows; i++) {
        const struct row *r = &im->rows[i];

        QLF_CHECK(r->line >= 1);
        if (!im->json && i > 0)
            QLF_CHECK(r->line > im->rows[i - 1].line);
        if (im->json && i > 0)
            QLF_CHECK(r->line >= im->rows[i - 1].line);
        if (r->bad)
            continue;
        for (j = 0; j < r->nkv; j++) {
            const struct ql_wf_kv *kv = &im->kvs[r->kv0 + j];
            const struct ql_wf_field *f = ql_workflow_field(im->wf, kv->name);

            QLF_CHECK(f != NULL);
            QLF_CHECK(ql_workflow_check_value(im->wf, f, kv->value, NULL) ==
                      QL_OK);
            for (k = 0; k < j; k++)
                QLF_CHECK(strcmp(im->kvs[r->kv0 + k].name, kv->name) != 0);
        }
        for (j = 0; j < ql_workflow_field_count(im->wf); j++) {
            const struct ql_wf_field *f = ql_workflow_field_at(im->wf, j);

            if (f->required)
                QLF_CHECK(row_get(im, r, f->name) != NULL);
        }
        QLF_CHECK(entry_size(im, r) <= QL_ENTRY_MAX);
    }
}

int
qlf_import(const uint8_t *data, size_t size)
{
    struct cli cli;
    struct imp im;
    const char *p;
    size_t i;
    int ex;

    qlf_setup();
    memset(&cli, 0, sizeof cli);
    memset(&im, 0, sizeof im);
    im.cli = &cli;
    im.path = im.label = "fuzz.csv";
    im.unit = "LT";
    im.wfname = "gang_lead";
    im.wf = imp_workflow();
    /* As cli_read_file hands it over: a copy with a NUL after it. */
    QLF_CHECK((im.raw = malloc(size + 1)) != NULL);
    memcpy(im.raw, data, size);
    im.raw[size] = '\0';
    im.rawlen = size;
    qlf_quiet(true);
    if ((ex = decode(&im)) != EXIT_OK)
        goto out;
    for (p = im.text; p < im.text + im.textlen && space_at(p) > 0;
         p += space_at(p))
        ;
    if (p >= im.text + im.textlen) {
        ex = EXIT_BADINPUT;
        goto out;
    }
    im.json = *p == '[' || *p == '{';
    if ((ex = im.json ? read_json(&im) : read_csv(&im)) != EXIT_OK ||
        (!im.json && (ex = resolve_columns(&im)) != EXIT_OK))
        goto out;
    if (im.nrows == 0) {
        ex = EXIT_BADINPUT;
        goto out;
    }
    for (i = 0; i < im.nrows && im.fail == FAIL_NONE; i++)
        check_row(&im, i);
    if (im.fail == FAIL_NONE)
        imp_dups(&im);
    if (im.fail == FAIL_NONE)
        imp_check_rows(&im);
    if (im.fail != FAIL_NONE)
        ex = EXIT_ENV;
    else if (im.nbad > 0)
        ex = report(&im);
out:
    qlf_quiet(false);
    qlf_last = ex;
    QLF_CHECK(ex == EXIT_OK || ex == EXIT_BADINPUT);
    release(&im);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_import(data, size);
}
#endif
