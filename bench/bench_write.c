/*
 * Write throughput, beside the physical limit measured in the same run.
 *
 * qingling: leads registered and moved through four transitions (triage,
 * assign proposed and approved, sign) on the default workflow, with the
 * full audit path (signed entry, sealed payload, Merkle hashes, derived
 * tables), BATCH writes per transaction.
 *
 * Limit: per entry, the work no design can skip: one Ed25519 signature of
 * an entry-sized text, one SHA-256 leaf hash and one node hash, one AEAD
 * encryption of a payload-sized text, and one SQLite row insert of an
 * entry-sized blob, in transactions of the same size with one durable
 * commit each.
 *
 * Also: store bytes per entry, and the cost of appending at two log sizes.
 * QUICK=1 (environment) runs a smaller version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"

#define NOW 1757901600

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const struct ql_diag *d)
{
    fprintf(stderr, "bench: %s: %s\n", what, d ? d->msg : "");
    exit(1);
}

/* The raw cost of the unavoidable work for n entries, in entries/s. */
static double
limit_rate(const char *dir, int n, int batch)
{
    unsigned char pk[32], sk[64], sig[64], h[32], key[32], nonce[24];
    unsigned char entry[600], payload[240], ct[240 + 16];
    char path[512];
    sqlite3 *db;
    sqlite3_stmt *st;
    double t0, t1;
    int i;

    snprintf(path, sizeof path, "%s/limit.db", dir);
    unlink(path);
    crypto_sign_keypair(pk, sk);
    randombytes_buf(key, sizeof key);
    randombytes_buf(entry, sizeof entry);
    randombytes_buf(payload, sizeof payload);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        exit(1);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE e(idx INTEGER PRIMARY KEY, note BLOB, "
                     "leaf BLOB)",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO e VALUES (?1, ?2, ?3)", -1, &st,
                       NULL);
    t0 = now_s();
    for (i = 0; i < n; i++) {
        if (i % batch == 0)
            sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        entry[0] = (unsigned char)i;
        randombytes_buf(nonce, sizeof nonce);
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, payload,
                                                   sizeof payload, entry, 32,
                                                   NULL, nonce, key);
        crypto_sign_detached(sig, NULL, entry, sizeof entry, sk);
        crypto_hash_sha256(h, entry, sizeof entry);
        crypto_hash_sha256(h, h, sizeof h);
        sqlite3_bind_int(st, 1, i);
        sqlite3_bind_blob(st, 2, entry, sizeof entry, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, h, 32, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_reset(st);
        if (i % batch == batch - 1 || i == n - 1)
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    t1 = now_s();
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n / (t1 - t0);
}

struct county {
    struct ql_county *c;
    struct ql_key *admin, *reg, *tri, *dir, *lly;
};

static void
setup(struct county *k, const char *path)
{
    struct ql_diag d;
    char *src;
    long len;
    FILE *f;

    if (ql_key_generate(ql_profile_default(), "admin", &k->admin, &d) ||
        ql_key_generate(ql_profile_default(), "reg", &k->reg, &d) ||
        ql_key_generate(ql_profile_default(), "tri", &k->tri, &d) ||
        ql_key_generate(ql_profile_default(), "dir", &k->dir, &d) ||
        ql_key_generate(ql_profile_default(), "lly", &k->lly, &d))
        die("keys", &d);
    if (ql_county_create(path, "bench/leads", k->admin, NULL, NOW, &d) ||
        ql_county_open(path, 0, &k->c, &d))
        die("create", &d);
    ql_county_set_now(k->c, NOW);
    ql_county_set_actor(k->c, k->admin);
    f = fopen("workflows/gang_lead.lua", "rb");
    if (f == NULL)
        die("workflows/gang_lead.lua (run from the top of the tree)", NULL);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    src = malloc((size_t)len);
    if (fread(src, 1, (size_t)len, f) != (size_t)len)
        die("read workflow", NULL);
    fclose(f);
    if (ql_county_unit_add(k->c, "SH", "扫黑办", "supervision", &d) ||
        ql_county_unit_add(k->c, "LT", "鹭汀镇", "township", &d) ||
        ql_county_principal_add(k->c, k->reg, "SH", "registrar", &d) ||
        ql_county_principal_add(k->c, k->tri, "SH", "triage", &d) ||
        ql_county_principal_add(k->c, k->dir, "SH", "director", &d) ||
        ql_county_principal_add(k->c, k->lly, "LT", "liaison", &d) ||
        ql_county_workflow_add(k->c, "gang_lead.lua", src, (size_t)len, NULL,
                               &d))
        die("registry", &d);
    free(src);
}

/* Registers n leads and takes each through four transitions, batched. */
static int
run_leads(struct county *k, int n, int batch)
{
    static const struct ql_wf_kv reg[] = {
        {"source", "群众举报"},  {"received_at", "2025-09-10"},
        {"channel", "来电"},      {"named", "匿名"},
        {"subjects", "张某某"},   {"locality", "桐渡镇"},
        {"industry", "自然资源"}, {"summary", "非法采砂，强迫村民购买"}};
    static const struct ql_wf_kv assign[] = {
        {"handling_unit", "LT"},       {"priority", "一般"},
        {"due_at", "2025-10-15"},      {"assign_no", "青扫交〔2025〕1号"},
        {"offence_types", "非法采矿"}, {"umbrella_flag", "否"}};
    static const struct ql_wf_kv sign[] = {{"verifiers", "甲\n乙"}};
    struct ql_diag d;
    char id[80];
    int i, entries = 0;

    for (i = 0; i < n; i++) {
        ql_county_set_actor(k->c, k->reg);
        if (i % batch == 0 && ql_county_batch_begin(k->c, &d) != QL_OK)
            die("batch", &d);
        if (ql_lead_add(k->c, NULL, NULL, reg, 8, id, &d))
            die("add", &d);
        ql_county_set_actor(k->c, k->tri);
        if (ql_lead_move(k->c, id, "triage", NULL, 0, NULL, NULL, &d) ||
            ql_lead_move(k->c, id, "assign", assign, 6, NULL, NULL, &d))
            die("move", &d);
        ql_county_set_actor(k->c, k->dir);
        if (ql_lead_approve(k->c, id, &d))
            die("approve", &d);
        ql_county_set_actor(k->c, k->lly);
        if (ql_lead_move(k->c, id, "sign", sign, 1, NULL, NULL, &d))
            die("sign", &d);
        entries += 5;
        if ((i % batch == batch - 1 || i == n - 1) &&
            ql_county_batch_commit(k->c, &d) != QL_OK)
            die("commit", &d);
    }
    return entries;
}

int
main(void)
{
    /* One row: qingling's figure, the limit measured now, their ratio. */
    printf("%-44s %12s %12s %7s\n", "row", "qingling", "limit", "ratio");
    bool quick = getenv("QUICK") != NULL && strcmp(getenv("QUICK"), "0");
    int leads = quick ? 400 : 4000, batch = 1000;
    struct county k = {0};
    struct ql_diag d;
    char tmpl[] = "/tmp/qingling-bench-XXXXXX", path[512];
    double t0, t1, rate, lim, small, large;
    uint64_t size;
    int entries;
    FILE *f;
    long bytes;

    if (sodium_init() < 0 || ql_crypto_init(&d) != QL_OK ||
        mkdtemp(tmpl) == NULL)
        return 1;
    snprintf(path, sizeof path, "%s/county.db", tmpl);
    setup(&k, path);
    /* Row 1: bulk throughput. */
    t0 = now_s();
    entries = run_leads(&k, leads, batch);
    t1 = now_s();
    rate = entries / (t1 - t0);
    lim = limit_rate(tmpl, entries, batch * 5);
    printf("%-44s %12.0f %12.0f %7.2f\n",
           "bulk entries/s (4 transitions, 1000/txn)", rate, lim,
           rate / lim);
    /* Row 6: store bytes per entry, with the WAL folded in by a close. */
    if (ql_log_size(ql_county_log(k.c), &size, &d) != QL_OK)
        die("size", &d);
    ql_county_close(k.c);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    bytes = ftell(f);
    fclose(f);
    if (ql_county_open(path, 0, &k.c, &d) != QL_OK)
        die("reopen", &d);
    ql_county_set_now(k.c, NOW);
    printf("%-44s %12.0f %12s %7s\n", "store bytes per entry",
           (double)bytes / (double)size, "-", "-");
    /* Row 7: append cost now against at a larger size. */
    t0 = now_s();
    run_leads(&k, quick ? 100 : 400, batch);
    t1 = now_s();
    small = (t1 - t0);
    run_leads(&k, quick ? 400 : 4000, batch);
    t0 = now_s();
    run_leads(&k, quick ? 100 : 400, batch);
    t1 = now_s();
    large = (t1 - t0);
    printf("%-44s %12.2f %12s %7s\n", "append cost ratio, larger log / smaller",
           large / small, "1.30", "-");
    ql_county_close(k.c);
    ql_key_free(k.admin);
    ql_key_free(k.reg);
    ql_key_free(k.tri);
    ql_key_free(k.dir);
    ql_key_free(k.lly);
    return 0;
}
