/*
 * qingling audit: verify the log (from the store or an export), print its
 * checkpoint, prove and check inclusion and consistency, export it as
 * tlog-tiles, cosign it. docs/auditing.md is the user's guide.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ql_audit.h"
#include "ql_codec.h"
#include "ql_county.h"
#include "ql_export.h"
#include "ql_keys.h"
#include "ql_log.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_store.h"

/* The largest proof file verify-proof reads. */
#define PROOF_FILE_MAX 16384

/* ---- shared ---- */

/* Progress on a terminal, nothing when stderr is not one. */
struct progress {
    const char *what;
    bool shown;
};

static void
show_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;

    fprintf(stderr, "\r%s: %llu/%llu entries", p->what,
            (unsigned long long)done, (unsigned long long)total);
    fflush(stderr);
    p->shown = true;
}

static void
end_progress(struct progress *p)
{
    if (p->shown)
        fputs("\r\033[K", stderr);
}

static bool
stderr_tty(void)
{
    return isatty(STDERR_FILENO) == 1;
}

/* A decimal number without sign, spaces or leading zeros. */
static bool
parse_num(const char *s, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end = NULL;

    if (s == NULL || *s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

static void
b64(char out[64], const uint8_t h[QL_HASH_LEN])
{
    ql_base64_encode(out, h, QL_HASH_LEN);
}

/* ---- verify and cosign ---- */

struct verify_args {
    const char *trust, *export_dir, *state;
    unsigned jobs;
    bool tables; /* also replay the log against the store's tables */
};

/* Parses the options verify and cosign share. Returns an exit code. */
static int
verify_options(int argc, char **argv, const struct cli_cmd *self,
               bool allow_export, struct verify_args *a)
{
    static const struct option opts[] = {
        {"trust", required_argument, NULL, 't'},
        {"export", required_argument, NULL, 'e'},
        {"state", required_argument, NULL, 's'},
        {"jobs", required_argument, NULL, 'j'},
        {"tables", no_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    uint64_t jobs = 1;
    int opt;

    memset(a, 0, sizeof *a);
    a->jobs = 1;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (opt) {
        case 't':
            a->trust = optarg;
            break;
        case 'e':
            if (!allow_export)
                return cli_usage(self, "audit %s reads the store, not an "
                                       "export",
                                 argv[0]);
            a->export_dir = optarg;
            break;
        case 's':
            a->state = optarg;
            break;
        case 'j':
            if (!parse_num(optarg, QL_AUDIT_JOBS_MAX, &jobs) || jobs == 0)
                return cli_usage(self, "--jobs takes a number from 1 to %d",
                                 QL_AUDIT_JOBS_MAX);
            a->jobs = (unsigned)jobs;
            break;
        case 'T':
            a->tables = true;
            break;
        default:
            return cli_option_error(self, opt, argc, argv);
        }
    }
    if (optind != argc)
        return cli_usage(self, "unexpected argument '%s'", argv[optind]);
    if (a->trust == NULL)
        return cli_usage(self, "give the administrator's public key, "
                               "obtained out of band, with --trust "
                               "ADMIN.pub");
    if (a->tables && a->export_dir != NULL)
        return cli_usage(self, "--tables checks a store's tables; an "
                               "export has none");
    return EXIT_OK;
}

/*
 * Verifies the store or the export, with the state file if given, and
 * writes the new state after a successful run. res gets the result.
 */
static int
run_verify(struct cli *cli, const struct verify_args *a,
           const struct ql_key *cosigner, bool keep_open_rw, bool report,
           struct ql_audit_result *res)
{
    struct ql_audit_source *src = NULL;
    struct ql_audit_state state;
    struct ql_audit_opts o;
    struct ql_key *trust = NULL;
    struct progress prog = {"verifying", false};
    struct ql_diag d;
    bool have_state = false, tables_checked = false;
    ql_err rc;
    int ex;

    ql_diag_clear(&d);
    memset(res, 0, sizeof *res);
    res->bad_index = QL_AUDIT_NO_INDEX;
    if (ql_keyfile_read_public(a->trust, &trust, &d) != QL_OK)
        return cli_fail(&d);
    if (a->state != NULL) {
        rc = ql_audit_state_read(a->state, &state, &d);
        if (rc == QL_OK)
            have_state = true;
        else if (rc != QL_ENOTFOUND) {
            ql_key_free(trust);
            return cli_fail(&d);
        }
    }
    if (a->export_dir != NULL) {
        rc = ql_audit_source_export(a->export_dir, &src, &d);
    } else if (!keep_open_rw) {
        /* The auditor opens the store without the county, whose opening
           checks the genesis entry: that is the verifier's entry 0. */
        if (cli->db == NULL || *cli->db == '\0') {
            ql_key_free(trust);
            return cli_error(EXIT_USAGE, "no store given: use --db PATH, "
                                         "QINGLING_DB or --export DIR");
        }
        rc = ql_audit_source_open(cli->db, &src, &d);
    } else {
        if ((ex = cli_open_county(cli, false)) != EXIT_OK) {
            ql_key_free(trust);
            return ex;
        }
        rc = ql_audit_source_store(cli->county, &src, &d);
    }
    if (rc != QL_OK) {
        ql_key_free(trust);
        return cli_fail(&d);
    }
    memset(&o, 0, sizeof o);
    o.trust = trust;
    o.state = have_state ? &state : NULL;
    o.jobs = a->jobs;
    o.cosigner = cosigner;
    if (stderr_tty()) {
        o.progress = show_progress;
        o.progress_ctx = &prog;
    }
    rc = ql_audit_run(src, NULL, &o, res, &d);
    end_progress(&prog);
    ql_audit_source_free(src);
    ql_key_free(trust);
    /* What status and reports read, rebuilt from the log just verified
       and compared: an edit of the tables behind the log's back shows. */
    if (rc == QL_OK && a->tables) {
        if (cli->county == NULL && (ex = cli_open_county(cli, true)) != EXIT_OK)
            return ex;
        rc = ql_county_replay_check(cli->county, &d);
        tables_checked = true;
    }
    if (report && cli->json) {
        bool first = true;
        char root[64];

        fputc('{', stdout);
        cli_json_kb(stdout, &first, "ok", rc == QL_OK);
        cli_json_ki(stdout, &first, "entries", (long long)res->entries);
        cli_json_ki(stdout, &first, "checkpoints",
                    (long long)res->checkpoints);
        cli_json_ki(stdout, &first, "cosignatures",
                    (long long)res->cosignatures);
        cli_json_ki(stdout, &first, "declarations",
                    (long long)res->declarations);
        cli_json_ki(stdout, &first, "leads", (long long)res->leads);
        /* Only a replay that ran says whether the tables agree. */
        if (tables_checked)
            cli_json_kb(stdout, &first, "tables", rc == QL_OK);
        if (rc == QL_OK) {
            b64(root, res->latest.root);
            cli_json_kv(stdout, &first, "origin", res->latest.origin);
            cli_json_ki(stdout, &first, "size", (long long)res->latest.size);
            cli_json_kv(stdout, &first, "root", root);
        } else {
            if (res->bad_index != QL_AUDIT_NO_INDEX)
                cli_json_ki(stdout, &first, "entry",
                            (long long)res->bad_index);
            cli_json_kv(stdout, &first, "reason", d.msg);
        }
        fputs("}\n", stdout);
    }
    if (rc != QL_OK)
        return cli_fail(&d);
    /* A refused cosigner changes nothing and reports nothing but why. */
    if (cosigner != NULL && !res->cosigner_ok)
        return cli_error(EXIT_REFUSED, "'%s' is not an active auditor of an "
                                       "audit unit registered in this log",
                         ql_key_name(cosigner));
    /* Only a verified checkpoint is remembered, and only after it is. */
    if (a->state != NULL &&
        ql_audit_state_write(a->state, &res->latest, &d) != QL_OK)
        return cli_fail(&d);
    if (report && !cli->json) {
        printf("log verified: %llu entries, %llu checkpoints, %llu "
               "cosignatures, %llu declarations, %llu leads; every "
               "signature, rule and root correct, rooted in the trusted "
               "administrator key\n",
               (unsigned long long)res->entries,
               (unsigned long long)res->checkpoints,
               (unsigned long long)res->cosignatures,
               (unsigned long long)res->declarations,
               (unsigned long long)res->leads);
        if (a->tables)
            printf("the store's tables agree with a replay of the log\n");
        if (have_state)
            printf("consistent with the checkpoint of size %llu verified "
                   "before\n",
                   (unsigned long long)state.size);
        if (a->state != NULL)
            printf("remembered the checkpoint of size %llu in %s\n",
                   (unsigned long long)res->latest.size, a->state);
    }
    return EXIT_OK;
}

static int
audit_verify(int argc, char **argv, struct cli *cli,
             const struct cli_cmd *self)
{
    struct ql_audit_result res;
    struct verify_args a;
    int ex;

    if ((ex = verify_options(argc, argv, self, true, &a)) != EXIT_OK)
        return ex;
    return run_verify(cli, &a, NULL, false, true, &res);
}

static int
audit_cosign(int argc, char **argv, struct cli *cli,
             const struct cli_cmd *self)
{
    struct ql_audit_result res;
    struct verify_args a;
    struct ql_diag d;
    char *line = NULL;
    bool already = false;
    int64_t now;
    int ex;

    if ((ex = verify_options(argc, argv, self, false, &a)) != EXIT_OK)
        return ex;
    if ((ex = cli_load_key(cli)) != EXIT_OK)
        return ex;
    /* In JSON the cosigning's one object says it all. */
    ex = run_verify(cli, &a, cli->key, true, !cli->json, &res);
    if (ex != EXIT_OK)
        return ex;
    now = cli->now_set ? cli->now : (int64_t)time(NULL);
    ql_diag_clear(&d);
    if (ql_audit_cosign(cli->county, cli->key, &res, now, &line, &already,
                        &d) != QL_OK)
        return cli_fail(&d);
    if (cli->json) {
        bool first = true;

        fputc('{', stdout);
        cli_json_kb(stdout, &first, "ok", true);
        cli_json_ki(stdout, &first, "size", (long long)res.latest.size);
        cli_json_kv(stdout, &first, "cosigner", ql_key_name(cli->key));
        cli_json_kb(stdout, &first, "already", already);
        cli_json_kv(stdout, &first, "line", line);
        fputs("}\n", stdout);
    } else {
        printf("%s the checkpoint of size %llu as %s\n",
               already ? "had already cosigned" : "cosigned",
               (unsigned long long)res.latest.size, ql_key_name(cli->key));
    }
    free(line);
    return EXIT_OK;
}

/* ---- checkpoint ---- */

static int
audit_checkpoint(int argc, char **argv, struct cli *cli,
                 const struct cli_cmd *self)
{
    struct ql_note *n = NULL;
    struct ql_checkpoint cp;
    struct ql_diag d;
    char *note = NULL, root[64];
    const char *text;
    size_t len = 0, tlen;
    uint64_t size = 0;
    int ex;

    (void)argv;
    if (argc != 1)
        return cli_usage(self, "audit checkpoint takes no arguments");
    if ((ex = cli_open_county(cli, true)) != EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    if (ql_audit_checkpoint(cli->county, &note, &len, &size, &d) != QL_OK)
        return cli_fail(&d);
    if (!cli->json) {
        fputs(note, stdout);
        free(note);
        return EXIT_OK;
    }
    if (ql_note_parse(note, len, &n, &d) != QL_OK ||
        (text = ql_note_text(n, &tlen),
         ql_checkpoint_parse(text, tlen, &cp, &d) != QL_OK)) {
        free(note);
        ql_note_free(n);
        return cli_fail(&d);
    }
    {
        bool first = true;

        b64(root, cp.root);
        fputc('{', stdout);
        cli_json_kv(stdout, &first, "origin", cp.origin);
        cli_json_ki(stdout, &first, "size", (long long)cp.size);
        cli_json_kv(stdout, &first, "root", root);
        cli_json_kv(stdout, &first, "note", note);
        fputs("}\n", stdout);
    }
    ql_note_free(n);
    free(note);
    return EXIT_OK;
}

/* ---- proofs ---- */

/* Prints a proof in the text form verify-proof reads, or as JSON. */
static void
print_proof(const struct cli *cli, const char *type, uint64_t a, uint64_t b,
            const char *k1, const uint8_t h1[QL_HASH_LEN],
            const uint8_t root[QL_HASH_LEN],
            const struct ql_merkle_proof *proof)
{
    char s[64];
    size_t i;

    if (cli->json) {
        bool first = true;

        fputc('{', stdout);
        cli_json_kv(stdout, &first, "type", type);
        cli_json_ki(stdout, &first,
                    strcmp(type, "inclusion") == 0 ? "index" : "old_size",
                    (long long)a);
        cli_json_ki(stdout, &first, "size", (long long)b);
        b64(s, h1);
        cli_json_kv(stdout, &first,
                    strcmp(k1, "leaf") == 0 ? "leaf" : "old_root", s);
        b64(s, root);
        cli_json_kv(stdout, &first, "root", s);
        fputs(",\"proof\":[", stdout);
        for (i = 0; i < proof->len; i++) {
            b64(s, proof->hash[i]);
            if (i > 0)
                fputc(',', stdout);
            cli_json_str(stdout, s);
        }
        fputs("]}\n", stdout);
        return;
    }
    printf("%s %llu %llu\n", type, (unsigned long long)a,
           (unsigned long long)b);
    b64(s, h1);
    printf("%s %s\n", k1, s);
    b64(s, root);
    printf("root %s\n", s);
    for (i = 0; i < proof->len; i++) {
        b64(s, proof->hash[i]);
        printf("%s\n", s);
    }
}

static int
audit_prove(int argc, char **argv, struct cli *cli,
            const struct cli_cmd *self)
{
    static const struct option opts[] = {
        {"size", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    struct ql_merkle_proof proof;
    uint8_t h1[QL_HASH_LEN], root[QL_HASH_LEN];
    const char *size_arg = NULL;
    struct ql_store *s;
    struct ql_log *log;
    struct ql_diag d;
    uint64_t a = 0, b = 0, log_size = 0;
    bool inclusion;
    char *note = NULL;
    int opt, ex;

    if (argc < 2 || (strcmp(argv[1], "inclusion") != 0 &&
                     strcmp(argv[1], "consistency") != 0))
        return cli_usage(self, "say what to prove: inclusion INDEX or "
                               "consistency OLD NEW");
    inclusion = strcmp(argv[1], "inclusion") == 0;
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == 'n' && inclusion)
            size_arg = optarg;
        else
            return cli_option_error(self, opt, argc, argv);
    }
    if (inclusion ? optind + 1 != argc : optind + 2 != argc)
        return cli_usage(self, inclusion ? "give exactly one INDEX"
                                         : "give the sizes OLD and NEW");
    if (!parse_num(argv[optind], INT64_MAX, &a) ||
        (!inclusion && !parse_num(argv[optind + 1], INT64_MAX, &b)) ||
        (size_arg != NULL && !parse_num(size_arg, INT64_MAX, &b)))
        return cli_usage(self, "indexes and sizes are decimal numbers");
    if ((ex = cli_open_county(cli, true)) != EXIT_OK)
        return ex;
    s = ql_county_store(cli->county);
    log = ql_county_log(cli->county);
    ql_diag_clear(&d);
    if (ql_store_begin_read(s, &d) != QL_OK)
        return cli_fail(&d);
    if (ql_store_log_size(s, &log_size, &d) != QL_OK)
        goto fail;
    if (inclusion && size_arg == NULL) {
        /* By default, the tree of the latest checkpoint. */
        if (ql_store_checkpoint_get(s, UINT64_MAX, &b, &note, &d) != QL_OK)
            goto fail;
        free(note);
    }
    if (b > log_size) {
        ql_fail(&d, QL_ENOTFOUND, "the log has %llu entries, not %llu",
                (unsigned long long)log_size, (unsigned long long)b);
        goto fail;
    }
    if (inclusion && a >= b) {
        ql_fail(&d, QL_ENOTFOUND, "entry %llu is not in a tree of size %llu",
                (unsigned long long)a, (unsigned long long)b);
        goto fail;
    }
    if (!inclusion && (a == 0 || a > b)) {
        ql_fail(&d, QL_ENOTFOUND, "no consistency proof from size %llu to "
                                  "%llu: the old size must be 1 to the new "
                                  "one",
                (unsigned long long)a, (unsigned long long)b);
        goto fail;
    }
    if (inclusion) {
        if (ql_store_tree_get(s, 0, a, h1, &d) != QL_OK ||
            ql_log_prove_inclusion(log, a, b, &proof, &d) != QL_OK)
            goto fail;
    } else if (ql_log_root(log, a, h1, &d) != QL_OK ||
               ql_log_prove_consistency(log, a, b, &proof, &d) != QL_OK) {
        goto fail;
    }
    if (ql_log_root(log, b, root, &d) != QL_OK)
        goto fail;
    ql_store_rollback(s);
    print_proof(cli, inclusion ? "inclusion" : "consistency", a, b,
                inclusion ? "leaf" : "old-root", h1, root, &proof);
    return EXIT_OK;
fail:
    ql_store_rollback(s);
    return cli_fail(&d);
}

/* Reads "<key> <base64 hash>\n" at *p. */
static bool
hash_line(const char **p, const char *key, uint8_t out[QL_HASH_LEN])
{
    size_t k = strlen(key), n = 0;
    const char *nl;

    if (strncmp(*p, key, k) != 0 || (*p)[k] != ' ' ||
        (nl = strchr(*p, '\n')) == NULL)
        return false;
    if (ql_base64_decode(out, QL_HASH_LEN, &n, *p + k + 1,
                         (size_t)(nl - *p - (ptrdiff_t)k - 1), NULL) != QL_OK ||
        n != QL_HASH_LEN)
        return false;
    *p = nl + 1;
    return true;
}

static int
audit_verify_proof(int argc, char **argv, struct cli *cli,
                   const struct cli_cmd *self)
{
    const struct ql_profile *prof = ql_profile_default();
    struct ql_merkle_proof proof;
    uint8_t h1[QL_HASH_LEN], root[QL_HASH_LEN];
    char type[16], num1[24], num2[24], s[64], line1[64];
    const char *p, *nl;
    struct ql_diag d;
    uint64_t a = 0, b = 0;
    bool inclusion;
    char *buf = NULL;
    size_t len = 0, line = 4;
    int ex;
    ql_err rc;

    if (argc != 2)
        return cli_usage(self, "give the proof FILE (or - for stdin)");
    if ((ex = cli_read_file(argv[1], PROOF_FILE_MAX, &buf, &len)) != EXIT_OK)
        return ex;
    p = buf;
    /*
     * Line 1: "inclusion INDEX SIZE" or "consistency OLD NEW". sscanf's
     * spaces match any white space, across lines too, and it ignores what
     * follows: the line written back from what it read must be the line.
     */
    if (strlen(buf) != len || (nl = strchr(p, '\n')) == NULL ||
        nl - p >= 64 ||
        sscanf(p, "%15s %23s %23s", type, num1, num2) != 3 ||
        snprintf(line1, sizeof line1, "%s %s %s", type, num1, num2) !=
            nl - p ||
        memcmp(line1, p, (size_t)(nl - p)) != 0 ||
        (strcmp(type, "inclusion") != 0 &&
         strcmp(type, "consistency") != 0) ||
        !parse_num(num1, INT64_MAX, &a) || !parse_num(num2, INT64_MAX, &b)) {
        free(buf);
        return cli_error(EXIT_BADINPUT, "%s:1: not 'inclusion INDEX SIZE' "
                                        "or 'consistency OLD NEW'",
                         argv[1]);
    }
    inclusion = strcmp(type, "inclusion") == 0;
    p = nl + 1;
    if (!hash_line(&p, inclusion ? "leaf" : "old-root", h1)) {
        free(buf);
        return cli_error(EXIT_BADINPUT, "%s:2: not '%s BASE64'", argv[1],
                         inclusion ? "leaf" : "old-root");
    }
    if (!hash_line(&p, "root", root)) {
        free(buf);
        return cli_error(EXIT_BADINPUT, "%s:3: not 'root BASE64'", argv[1]);
    }
    proof.len = 0;
    for (; *p != '\0'; line++) {
        size_t n = 0;

        if ((nl = strchr(p, '\n')) == NULL || proof.len == QL_MERKLE_PROOF_MAX ||
            ql_base64_decode(proof.hash[proof.len], QL_HASH_LEN, &n, p,
                             (size_t)(nl - p), NULL) != QL_OK ||
            n != QL_HASH_LEN) {
            free(buf);
            return cli_error(EXIT_BADINPUT, "%s:%zu: not one base64 hash of "
                                            "%d bytes",
                             argv[1], line, QL_HASH_LEN);
        }
        proof.len++;
        p = nl + 1;
    }
    free(buf);
    ql_diag_clear(&d);
    rc = inclusion
             ? ql_merkle_verify_inclusion(prof, h1, a, b, &proof, root, &d)
             : ql_merkle_verify_consistency(prof, a, b, &proof, h1, root, &d);
    if (cli->json) {
        bool first = true;

        fputc('{', stdout);
        cli_json_kb(stdout, &first, "ok", rc == QL_OK);
        cli_json_kv(stdout, &first, "type", type);
        if (rc != QL_OK)
            cli_json_kv(stdout, &first, "reason", d.msg);
        fputs("}\n", stdout);
    }
    if (rc != QL_OK)
        return cli_error(cli_exit_code(rc), "the %s proof does not verify: %s",
                         type, d.msg);
    b64(s, root);
    if (!cli->json) {
        if (inclusion)
            printf("inclusion proof verified: entry %llu is in the tree of "
                   "size %llu with root %s\n",
                   (unsigned long long)a, (unsigned long long)b, s);
        else
            printf("consistency proof verified: the tree of size %llu is a "
                   "prefix of the tree of size %llu with root %s\n",
                   (unsigned long long)a, (unsigned long long)b, s);
    }
    return EXIT_OK;
}

/* ---- export ---- */

static int
audit_export(int argc, char **argv, struct cli *cli,
             const struct cli_cmd *self)
{
    struct ql_export_result res;
    struct progress prog = {"exporting", false};
    struct ql_diag d;
    ql_err rc;
    int ex;

    if (argc != 2 || argv[1][0] == '-')
        return cli_usage(self, "give exactly one folder DIR");
    if ((ex = cli_open_county(cli, true)) != EXIT_OK)
        return ex;
    ql_diag_clear(&d);
    rc = ql_export_write(cli->county, argv[1],
                         stderr_tty() ? show_progress : NULL, &prog, &res,
                         &d);
    end_progress(&prog);
    if (rc != QL_OK)
        return cli_fail(&d);
    if (cli->json) {
        bool first = true;

        fputc('{', stdout);
        cli_json_kv(stdout, &first, "dir", argv[1]);
        cli_json_ki(stdout, &first, "size", (long long)res.size);
        cli_json_ki(stdout, &first, "written", (long long)res.written);
        cli_json_ki(stdout, &first, "kept", (long long)res.kept);
        fputs("}\n", stdout);
    } else {
        printf("exported the log of %llu entries to %s: %llu files written, "
               "%llu kept\n",
               (unsigned long long)res.size, argv[1],
               (unsigned long long)res.written,
               (unsigned long long)res.kept);
    }
    return EXIT_OK;
}

int
cmd_audit(int argc, char **argv, struct cli *cli)
{
    const struct cli_cmd *self = cli_find("audit");
    const char *sub;

    if (argc < 2)
        return cli_usage(self, "say what to do: verify, checkpoint, prove, "
                               "verify-proof, export or cosign");
    sub = argv[1];
    argc--;
    argv++;
    if (strcmp(sub, "verify") == 0)
        return audit_verify(argc, argv, cli, self);
    if (strcmp(sub, "checkpoint") == 0)
        return audit_checkpoint(argc, argv, cli, self);
    if (strcmp(sub, "prove") == 0)
        return audit_prove(argc, argv, cli, self);
    if (strcmp(sub, "verify-proof") == 0)
        return audit_verify_proof(argc, argv, cli, self);
    if (strcmp(sub, "export") == 0)
        return audit_export(argc, argv, cli, self);
    if (strcmp(sub, "cosign") == 0)
        return audit_cosign(argc, argv, cli, self);
    return cli_usage(self, "unknown audit command '%s'", sub);
}
