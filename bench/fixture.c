/*
 * Counties for the benchmarks, and the generator of the shared stores
 * (fixture.h). Everything goes through the engine's public interface.
 */
#include "fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "ql_commit.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"

#define WORKFLOW "workflows/gang_lead.lua"
#define CALENDAR "workflows/calendars/cn.cal"

/* Bump when the generator makes different stores from the same inputs. */
#define GENERATOR "qingling-bench-stores/1"

static struct ql_key *
key(const char *name)
{
    struct ql_key *k = NULL;
    struct ql_diag d;

    bench_ok(ql_key_generate(ql_profile_default(), name, &k, &d), &d, name);
    return k;
}

static void
principal(struct bench_county *k, const struct ql_key *p, const char *unit,
          const char *roles)
{
    struct ql_diag d;

    bench_ok(ql_county_principal_add(k->c, p, unit, roles, &d), &d,
             ql_key_name(p));
}

void
bench_county_create(struct bench_county *k, const char *path, size_t nunits,
                    bool commit)
{
    char name[64], logkey[600];
    struct ql_diag d;
    size_t i, len;
    char *text;

    memset(k, 0, sizeof *k);
    bench_unlink_store(path);
    bench_fmt(logkey, sizeof logkey, "%s.logkey", path);
    bench_unlink(logkey);
    k->admin = key("admin");
    k->reg = key("sh-dengji-01");
    k->tri = key("sh-yanpan-01");
    k->dir = key("sh-zhuren-01");
    k->insp = key("dd-pc-01");
    k->nunits = nunits;
    k->unit = calloc(nunits, sizeof *k->unit);
    if (k->unit == NULL)
        bench_die("out of memory");
    bench_ok(ql_county_create(path, "bench.qingling/leads", k->admin, NULL,
                              BENCH_NOW, &d),
             &d, "create");
    bench_county_open(k, path);
    ql_county_set_actor(k->c, k->admin);
    bench_batch_begin(k);
    bench_ok(ql_county_unit_add(k->c, "SH", "扫黑办", QL_KIND_SUPERVISION, &d),
             &d, "unit SH");
    principal(k, k->reg, "SH", "registrar");
    principal(k, k->tri, "SH", "triage");
    principal(k, k->dir, "SH", "director");
    principal(k, k->insp, "SH", "inspector");
    for (i = 0; i < nunits; i++) {
        struct bench_unit *u = &k->unit[i];

        bench_fmt(u->code, sizeof u->code, "U%03zu", i);
        bench_fmt(name, sizeof name, "第%zu镇", i);
        bench_ok(ql_county_unit_add(k->c, u->code, name, QL_KIND_TOWNSHIP, &d),
                 &d, u->code);
        bench_fmt(name, sizeof name, "%s-lly-01", u->code);
        u->lly = key(name);
        bench_fmt(name, sizeof name, "%s-hc-01", u->code);
        u->hc = key(name);
        bench_fmt(name, sizeof name, "%s-hc-02", u->code);
        u->hc2 = key(name);
        bench_fmt(name, sizeof name, "%s-fzr-01", u->code);
        u->head = key(name);
        principal(k, u->lly, u->code, "liaison");
        principal(k, u->hc, u->code, "verifier");
        principal(k, u->hc2, u->code, "verifier");
        principal(k, u->head, u->code, "head");
    }
    text = bench_read_file(WORKFLOW, &len);
    bench_ok(ql_county_workflow_add(k->c, "gang_lead.lua", text, len, NULL,
                                    &d),
             &d, "workflow");
    free(text);
    text = bench_read_file(CALENDAR, &len);
    bench_ok(ql_county_calendar_set(k->c, "cn.cal", text, len, &d), &d,
             "calendar");
    free(text);
    for (i = 0; commit && i < nunits; i++) {
        ql_county_set_actor(k->c, k->unit[i].head);
        bench_ok(ql_commit_sign(k->c, k->unit[i].code, "2025Q4", "2025-12-31",
                                "2025-12-31", NULL, NULL, &d),
                 &d, "commitment");
    }
    bench_batch_commit(k);
}

void
bench_county_open(struct bench_county *k, const char *path)
{
    struct ql_diag d;

    bench_ok(ql_county_open(path, 0, &k->c, &d), &d, "open");
    ql_county_set_now(k->c, BENCH_NOW);
    /* A batch needs an actor before its first write names one. */
    ql_county_set_actor(k->c, k->admin != NULL ? k->admin : k->reg);
}

void
bench_county_close(struct bench_county *k)
{
    ql_county_close(k->c);
    k->c = NULL;
}

void
bench_county_free(struct bench_county *k)
{
    size_t i;

    bench_county_close(k);
    for (i = 0; i < k->nunits; i++) {
        ql_key_free(k->unit[i].lly);
        ql_key_free(k->unit[i].hc);
        ql_key_free(k->unit[i].hc2);
        ql_key_free(k->unit[i].head);
    }
    free(k->unit);
    ql_key_free(k->admin);
    ql_key_free(k->reg);
    ql_key_free(k->tri);
    ql_key_free(k->dir);
    ql_key_free(k->insp);
    memset(k, 0, sizeof *k);
}

void
bench_lead_full(struct bench_county *k, size_t u, char *id_out)
{
    static const struct ql_wf_kv reg[] = {
        {"source", "群众举报"},  {"received_at", "2025-09-10"},
        {"channel", "来电"},      {"named", "匿名"},
        {"subjects", "张某某"},   {"locality", "桐渡镇"},
        {"industry", "自然资源"}, {"summary", "非法采砂，强迫村民购买"}};
    static const struct ql_wf_kv sign[] = {{"verifiers", "甲\n乙"}};
    struct ql_wf_kv assign[] = {
        {"handling_unit", k->unit[u].code},
        {"priority", "一般"},
        {"due_at", "2025-10-15"},
        {"assign_no", "青扫交〔2025〕1号"},
        {"offence_types", "非法采矿"},
        {"umbrella_flag", "否"}};
    char id[QL_ENTRY_WORD_MAX + 1];
    struct ql_diag d;

    ql_county_set_actor(k->c, k->reg);
    bench_ok(ql_lead_add(k->c, NULL, NULL, reg, 8, id, &d), &d, "add");
    ql_county_set_actor(k->c, k->tri);
    bench_ok(ql_lead_move(k->c, id, "triage", NULL, 0, NULL, NULL, &d), &d,
             "triage");
    bench_ok(ql_lead_move(k->c, id, "assign", assign, 6, NULL, NULL, &d), &d,
             "assign");
    ql_county_set_actor(k->c, k->dir);
    bench_ok(ql_lead_approve(k->c, id, &d), &d, "approve");
    ql_county_set_actor(k->c, k->unit[u].lly);
    bench_ok(ql_lead_move(k->c, id, "sign", sign, 1, NULL, NULL, &d), &d,
             "sign");
    if (id_out != NULL)
        bench_fmt(id_out, QL_ENTRY_WORD_MAX + 1, "%s", id);
}

void
bench_lead_local(struct bench_county *k, size_t u)
{
    static const struct ql_wf_kv reg[] = {
        {"source", "自行发现(摸排)"}, {"received_at", "2025-09-12"},
        {"channel", "来访"},          {"named", "匿名"},
        {"subjects", "王某某\n李某某"}, {"locality", "本镇"},
        {"industry", "乡村治理"},     {"summary", "把持村务，强揽工程"}};
    char id[QL_ENTRY_WORD_MAX + 1];
    struct ql_diag d;

    ql_county_set_actor(k->c, k->unit[u].lly);
    bench_ok(ql_lead_add(k->c, NULL, NULL, reg, 8, id, &d), &d, "add");
}

void
bench_batch_begin(struct bench_county *k)
{
    struct ql_diag d;

    bench_ok(ql_county_batch_begin(k->c, &d), &d, "batch");
}

void
bench_batch_commit(struct bench_county *k)
{
    struct ql_diag d;

    bench_ok(ql_county_batch_commit(k->c, &d), &d, "commit");
}

uint64_t
bench_log_size(struct bench_county *k)
{
    struct ql_diag d;
    uint64_t n = 0;

    bench_ok(ql_log_size(ql_county_log(k->c), &n, &d), &d, "size");
    return n;
}

/* ---- The shared stores ---- */

/* The hash of everything a store depends on, in hex. */
static void
inputs_hash(char hex[65])
{
    char params[160], *list, *p, *file;
    crypto_hash_sha256_state h;
    unsigned char out[32];
    const char *env = getenv("BENCH_INPUTS");
    size_t len;

    crypto_hash_sha256_init(&h);
    bench_fmt(params, sizeof params,
              "%s units=%d full_every=%d batch=%d run=%d\n", GENERATOR,
              BENCH_UNITS, BENCH_FULL_EVERY, BENCH_BATCH, BENCH_RUN);
    crypto_hash_sha256_update(&h, (const unsigned char *)params,
                              strlen(params));
    if (env == NULL || *env == '\0')
        bench_die("BENCH_INPUTS names no files (run through make bench)");
    list = strdup(env);
    if (list == NULL)
        bench_die("out of memory");
    for (p = strtok(list, " "); p != NULL; p = strtok(NULL, " ")) {
        file = bench_read_file(p, &len);
        crypto_hash_sha256_update(&h, (const unsigned char *)p, strlen(p) + 1);
        crypto_hash_sha256_update(&h, (const unsigned char *)file, len);
        free(file);
    }
    free(list);
    crypto_hash_sha256_final(&h, out);
    sodium_bin2hex(hex, 65, out, sizeof out);
}

/* Where the store and its companions live. */
static void
name_store(struct bench_store *s, const char *dir)
{
    char count[32];

    bench_fmt(s->name, sizeof s->name, "%s-%s",
             s->by_leads ? "leads" : "entries",
             bench_count(s->count, count, sizeof count));
    bench_fmt(s->path, sizeof s->path, "%s/%s.db", dir, s->name);
    bench_fmt(s->admin_pub, sizeof s->admin_pub, "%s/%s.admin.pub", dir,
             s->name);
}

/* Reads the stamp beside s: true when it was made from these inputs. */
static bool
stamp_matches(struct bench_store *s, const char *hash, double *built,
              double *seconds)
{
    char path[600], key[600], got[65];
    unsigned long long entries, leads;
    FILE *f;
    bool ok;

    bench_fmt(path, sizeof path, "%s.stamp", s->path);
    bench_fmt(key, sizeof key, "%s.lly.key", s->path);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    ok = fscanf(f, "%64s %llu %llu %lf %lf", got, &entries, &leads, built,
                seconds) == 5 &&
         strcmp(got, hash) == 0 && bench_file_size(s->path) > 0 &&
         bench_file_size(s->admin_pub) > 0 && bench_file_size(key) > 0;
    fclose(f);
    if (ok) {
        s->entries = entries;
        s->leads = leads;
    }
    return ok;
}

static void
stamp_write(const struct bench_store *s, const char *hash, double seconds)
{
    char path[600];
    FILE *f;

    bench_fmt(path, sizeof path, "%s.stamp", s->path);
    f = fopen(path, "w");
    if (f == NULL ||
        fprintf(f, "%s %llu %llu %.0f %.1f\n", hash,
                (unsigned long long)s->entries, (unsigned long long)s->leads,
                (double)time(NULL), seconds) < 0 ||
        fclose(f) != 0)
        bench_die("cannot write '%s'", path);
}

/* The keys kept beside a store, for bench_county_load. */
static const char *const KEPT[] = {".reg.key", ".tri.key", ".dir.key",
                                   ".lly.key"};

static void
keep_keys(const struct bench_county *k, const char *path)
{
    const struct ql_key *keys[] = {k->reg, k->tri, k->dir, k->unit[0].lly};
    struct ql_diag d;
    char p[700];
    size_t i;

    for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        bench_fmt(p, sizeof p, "%s%s", path, KEPT[i]);
        bench_unlink(p);
        bench_ok(ql_keyfile_write(p, keys[i], NULL, 0, QL_KEYFILE_PLAINTEXT,
                                  &d),
                 &d, "key file");
    }
}

static struct ql_key *
read_key(const char *path, const char *ext)
{
    struct ql_key *key = NULL;
    struct ql_diag d;
    char p[700];

    bench_fmt(p, sizeof p, "%s%s", path, ext);
    bench_ok(ql_keyfile_read(p, NULL, 0, &key, &d), &d, "key file");
    return key;
}

void
bench_county_load(struct bench_county *k, const struct bench_store *s)
{
    memset(k, 0, sizeof *k);
    k->reg = read_key(s->path, KEPT[0]);
    k->tri = read_key(s->path, KEPT[1]);
    k->dir = read_key(s->path, KEPT[2]);
    k->nunits = 1;
    k->unit = calloc(1, sizeof *k->unit);
    if (k->unit == NULL)
        bench_die("out of memory");
    bench_fmt(k->unit[0].code, sizeof k->unit[0].code, "U000");
    k->unit[0].lly = read_key(s->path, KEPT[3]);
    bench_county_open(k, s->path);
}

/* Removes a store and everything beside it. */
static void
remove_store(const char *path)
{
    static const char *const ext[] = {".logkey",  ".stamp",   ".reg.key",
                                      ".tri.key", ".dir.key", ".lly.key"};
    char p[600];
    size_t i;

    bench_unlink_store(path);
    for (i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        bench_fmt(p, sizeof p, "%s%s", path, ext[i]);
        bench_unlink(p);
    }
}

/* The entries a store of s's size has once made (an estimate for leads). */
static uint64_t
entries_of(const struct bench_store *s)
{
    return s->by_leads
               ? s->count + s->count * (BENCH_FULL_ENTRIES - 1) /
                                BENCH_FULL_EVERY
               : s->count;
}

static int
by_size(const void *a, const void *b)
{
    const struct bench_store *x = *(struct bench_store *const *)a;
    const struct bench_store *y = *(struct bench_store *const *)b;
    uint64_t ex = entries_of(x), ey = entries_of(y);

    return ex < ey ? -1 : ex > ey;
}

/* Whether the growing store has reached s's size. */
static bool
reached(const struct bench_store *s, uint64_t entries, uint64_t leads)
{
    return s->by_leads ? leads >= s->count : entries >= s->count;
}

void
bench_stores(struct bench_store *st, size_t n)
{
    struct bench_store **order = calloc(n, sizeof *order);
    struct bench_county k;
    char dir[600], chain[700], hash[65], what[256];
    const char *fresh = getenv("BENCH_FRESH");
    uint64_t leads = 0, entries;
    double t0, built = 0, seconds = 0, oldest = 0, total = 0;
    size_t i, next = 0, w = 0;
    bool reuse = fresh == NULL || *fresh == '\0' || strcmp(fresh, "0") == 0;
    struct ql_diag d;

    if (order == NULL)
        bench_die("out of memory");
    bench_fmt(dir, sizeof dir, "%s/stores", bench_dir());
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        bench_die("cannot make '%s': %s", dir, strerror(errno));
    inputs_hash(hash);
    what[0] = '\0';
    for (i = 0; i < n; i++) {
        char count[32];

        order[i] = &st[i];
        name_store(&st[i], dir);
        w += (size_t)snprintf(what + w, sizeof what - w, "%s%s %s",
                              i ? ", " : "",
                              bench_count(st[i].count, count, sizeof count),
                              st[i].by_leads ? "leads" : "entries");
        if (w >= sizeof what)
            w = sizeof what - 1;
        if (reuse && !stamp_matches(&st[i], hash, &built, &seconds))
            reuse = false;
        if (oldest == 0 || built < oldest)
            oldest = built;
        /* Each stamp counts from the start of its pass. */
        total = seconds > total ? seconds : total;
    }
    if (reuse) {
        bench_note("stores %s: reused, made %.0f min ago from the same "
                   "engine, crypto, workflow and generator (%.0f s then)",
                   what, ((double)time(NULL) - oldest) / 60, total);
        free(order);
        return;
    }
    qsort(order, n, sizeof *order, by_size);
    bench_fmt(chain, sizeof chain, "%s/growing.db", dir);
    remove_store(chain);
    for (i = 0; i < n; i++)
        remove_store(order[i]->path);
    t0 = bench_now();
    bench_county_create(&k, chain, BENCH_UNITS, true);
    entries = bench_log_size(&k);
    while (next < n) {
        size_t b;

        bench_batch_begin(&k);
        for (b = 0; b < BENCH_BATCH && !reached(order[next], entries, leads);
             b++) {
            /* Runs of BENCH_RUN leads a unit, as each unit imports its
               own list: the units fill evenly, and consecutive writes by
               one liaison are what an import is. */
            size_t u = (size_t)(leads / BENCH_RUN % BENCH_UNITS);
            bool full;

            /* A unit's first sealed write adds its data key's grant
               entry, so near a size the log is asked, not counted. */
            if (!order[next]->by_leads && order[next]->count - entries < 16) {
                entries = bench_log_size(&k);
                if (reached(order[next], entries, leads))
                    break;
            }
            /* A lead of five entries only where it fits below an entry
               count asked for, so that sizes come out exact. */
            full = leads % BENCH_FULL_EVERY == 0 &&
                        (order[next]->by_leads ||
                         order[next]->count - entries >= BENCH_FULL_ENTRIES);

            if (full) {
                bench_lead_full(&k, u, NULL);
                entries += BENCH_FULL_ENTRIES;
            } else {
                bench_lead_local(&k, u);
                entries++;
            }
            leads++;
        }
        bench_batch_commit(&k);
        entries = bench_log_size(&k);
        if (!order[next]->by_leads && entries > order[next]->count)
            bench_die("the store grew past %llu entries, to %llu",
                      (unsigned long long)order[next]->count,
                      (unsigned long long)entries);
        while (next < n && reached(order[next], entries, leads)) {
            struct bench_store *s = order[next];
            char from[800], to[800];

            s->entries = entries;
            s->leads = leads;
            /* A closed store has no WAL: the copy is the whole store. */
            bench_county_close(&k);
            bench_fmt(from, sizeof from, "%s-wal", chain);
            if (bench_file_size(from) >= 0)
                bench_die("'%s' outlived the close", from);
            bench_unlink_store(s->path);
            if (next + 1 == n) {
                if (rename(chain, s->path) != 0)
                    bench_die("cannot rename '%s': %s", chain,
                              strerror(errno));
            } else {
                bench_copy_file(chain, s->path);
            }
            bench_fmt(from, sizeof from, "%s.logkey", chain);
            bench_fmt(to, sizeof to, "%s.logkey", s->path);
            bench_copy_file(from, to);
            bench_unlink(s->admin_pub);
            bench_ok(ql_keyfile_write_public(s->admin_pub, k.admin, &d), &d,
                     "admin key");
            keep_keys(&k, s->path);
            stamp_write(s, hash, bench_now() - t0);
            next++;
            if (next < n)
                bench_county_open(&k, chain);
        }
    }
    remove_store(chain);
    bench_county_free(&k);
    t0 = bench_now() - t0;
    bench_note("stores %s: made in this run, %.0f s, %.0f entries/s (%d "
               "units, runs of %d leads a unit, 1 in %d along row 1's "
               "path, the rest registered by the unit)",
               what, t0, (double)entries / t0, BENCH_UNITS, BENCH_RUN,
               BENCH_FULL_EVERY);
    free(order);
}
