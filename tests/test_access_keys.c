/*
 * A key file and a copy of the store in hand: what opens?
 *
 * Read access is enforced by cryptography, not only by checks in code
 * (DESIGN.md section 1). These tests play the holder of one principal's
 * key file and a stolen copy of the store file, who needs no qingling code
 * at all: they read every entry, try to open every grant with the key (with
 * the context anyone can rebuild from the entry's clear lines) and every
 * payload part with every data key a grant gave them. What opens must be
 * exactly the scopes the principal may read: its unit's (every unit's for
 * the supervision office), the secret envelope only for the office's
 * secret roles, and nothing at all for the administrator, an auditor, an
 * engine role, a key the county never registered, or a key that merely
 * bears a registered name.
 *
 * A revoked principal can no longer write (every engine write is refused
 * and the store is left as it was) and opens nothing written after its
 * revocation, though what it read before stays readable to it. And a log
 * that grants the envelope outside the office fails verification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ql_audit.h"
#include "ql_calendar.h"
#include "ql_commit.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_lead.h"
#include "ql_log.h"
#include "ql_profile.h"
#include "ql_seal.h"
#include "ql_store.h"
#include "ql_test.h"

/* 2025-09-15T02:00:00Z, a Monday morning in Asia/Shanghai. */
#define NOW 1757901600
#define ORIGIN "qinghe.test/leads"

enum who {
    ADMIN,
    REG,    /* SH registrar: every unit and the secret envelope */
    DRC,    /* SH director: the same */
    TRI,    /* SH triage: every unit, no envelope */
    INSP,   /* SH inspector: the same */
    DRC2,   /* SH director, revoked by a test */
    IT,     /* SH, role admin: an engine role reads nothing */
    LLY,    /* LT liaison */
    HC,     /* LT verifier */
    HEAD,   /* LT head */
    LTREG,  /* LT liaison and registrar: a secret role outside the office */
    GONE,   /* LT verifier, revoked by a test */
    QLLY,   /* QY liaison */
    QHC,    /* QY verifier */
    AUD,    /* JW auditor */
    AUDREG, /* JW auditor and registrar */
    OUT,    /* never registered */
    FAKE,   /* bears LT verifier's name, another key */
    NKEYS
};

static const struct {
    const char *name, *unit, *roles;
} P[NKEYS] = {
    {"admin", NULL, NULL},
    {"sh-dengji", "SH", "registrar"},
    {"sh-zhuren", "SH", "director"},
    {"sh-yanpan", "SH", "triage"},
    {"sh-pingcha", "SH", "inspector"},
    {"sh-zhuren-2", "SH", "director"},
    {"sh-it", "SH", "admin"},
    {"lt-lly", "LT", "liaison"},
    {"lt-hc", "LT", "verifier"},
    {"lt-fzr", "LT", "head"},
    {"lt-dengji", "LT", "liaison,registrar"},
    {"lt-hc-gone", "LT", "verifier"},
    {"qy-lly", "QY", "liaison"},
    {"qy-hc", "QY", "verifier"},
    {"jw-sj", "JW", "auditor"},
    {"jw-sj-2", "JW", "auditor,registrar"},
    {"outsider", NULL, NULL},
    {"lt-hc", NULL, NULL},
};

/* Scopes a key may open, as bits. */
enum { S_SH = 1, S_LT = 2, S_QY = 4, S_SECRET = 8 };
static const char *const SCOPE[] = {"SH", "LT", "QY", "SECRET"};

static unsigned
may_open(enum who w)
{
    switch (w) {
    case REG:
    case DRC:
    case DRC2:
        return S_SH | S_LT | S_QY | S_SECRET;
    case TRI:
    case INSP:
        return S_SH | S_LT | S_QY;
    case LLY:
    case HC:
    case HEAD:
    case LTREG:
    case GONE:
        return S_LT;
    case QLLY:
    case QHC:
        return S_QY;
    default:
        return 0;
    }
}

static unsigned
scope_bit(const char *scope)
{
    size_t i;

    for (i = 0; i < 4; i++)
        if (strcmp(scope, SCOPE[i]) == 0)
            return 1u << i;
    return 0;
}

/* The county built once: its folder, keys and leads. */
static char *BASE;
static struct ql_key *K[NKEYS];
static char LEAD_LT[QL_ENTRY_WORD_MAX + 1], LEAD_QY[QL_ENTRY_WORD_MAX + 1],
    LEAD_SH[QL_ENTRY_WORD_MAX + 1], LEAD_LT2[QL_ENTRY_WORD_MAX + 1];

struct fx {
    char *dir, *db;
    struct ql_county *c;
};

static struct fx *F;

static void
ok(ql_err rc, const struct ql_diag *d, const char *what)
{
    if (rc != QL_OK)
        fail_msg("%s: %s (%s)", what, d->msg, ql_errname(rc));
}

static void
as(struct ql_county *c, enum who w)
{
    ql_county_set_actor(c, K[w]);
}

static char *
key_file(const char *dir, enum who w)
{
    char name[64];

    snprintf(name, sizeof name, "%s-%d.key", P[w].name, (int)w);
    return qlt_join(dir, name);
}

/*
 * Registers a lead in unit as k with markers (the reporter only when
 * reporter is true), returns its id in id.
 */
static void
add_lead_by(struct ql_county *c, const struct ql_key *k, bool reporter,
            const char *unit, const char *tag, char id[QL_ENTRY_WORD_MAX + 1])
{
    char summary[64], reporter_v[64];
    struct ql_wf_kv f[10] = {
        {"source", "群众举报"}, {"received_at", "2025-09-15"},
        {"channel", "来信"},    {"named", "匿名"},
        {"subjects", "某甲"},   {"locality", "某村"},
        {"industry", "其他"},   {"summary", summary},
        {"reporter", reporter_v}, {NULL, NULL},
    };
    char out[QL_ENTRY_WORD_MAX + 1];
    struct ql_diag d;

    snprintf(summary, sizeof summary, "MKS-%s-%s 强迫交易", unit, tag);
    snprintf(reporter_v, sizeof reporter_v, "MKX-%s-%s 举报人", unit, tag);
    ql_county_set_actor(c, k);
    ok(ql_lead_add(c, "gang_lead", unit, f, reporter ? 9 : 8, out, &d), &d,
       "lead add");
    snprintf(id, QL_ENTRY_WORD_MAX + 1, "%s", out);
}

/* Registers a lead in unit as w (with the reporter when w is REG). */
static void
add_lead(struct ql_county *c, enum who w, const char *unit, const char *tag,
         char id[QL_ENTRY_WORD_MAX + 1])
{
    add_lead_by(c, K[w], w == REG, unit, tag, id);
}

static void
move(struct ql_county *c, enum who w, const char *id, const char *t,
     const struct ql_wf_kv *f, size_t n, const char *note)
{
    struct ql_diag d;
    char what[96];

    as(c, w);
    snprintf(what, sizeof what, "%s %s", t, id);
    ok(ql_lead_move(c, id, t, f, n, note, NULL, &d), &d, what);
}

static void
approve(struct ql_county *c, enum who w, const char *id)
{
    struct ql_diag d;

    as(c, w);
    ok(ql_lead_approve(c, id, &d), &d, "approve");
}

/* Takes a lead of unit from registration to VERIFYING in unit. */
static void
to_verifying(struct ql_county *c, const char *id, const char *unit,
             enum who liaison)
{
    char hu[32], note[64];
    struct ql_wf_kv assign[] = {
        {"handling_unit", hu},         {"due_at", "2025-10-15"},
        {"priority", "一般"},          {"assign_no", "交1"},
        {"offence_types", "强迫交易"}, {"umbrella_flag", "否"},
    };
    struct ql_wf_kv sign[] = {{"verifiers", "甲\n乙"}};

    snprintf(hu, sizeof hu, "%s", unit);
    snprintf(note, sizeof note, "MKS-%s-note 领取", unit);
    move(c, TRI, id, "triage", NULL, 0, note);
    move(c, TRI, id, "assign", assign, 6, NULL);
    approve(c, DRC, id);
    move(c, liaison, id, "sign", sign, 1, NULL);
}

static int
group_setup(void **state)
{
    static const char *const units[][3] = {
        {"SH", "青禾县扫黑办", QL_KIND_SUPERVISION},
        {"LT", "青禾县鹭汀镇人民政府", QL_KIND_TOWNSHIP},
        {"QY", "青禾县栖云乡人民政府", QL_KIND_TOWNSHIP},
        {"JW", "青禾县纪委监委", QL_KIND_AUDIT},
    };
    struct ql_county *c = NULL;
    struct ql_diag d;
    char *db, *wf_path, *src;
    size_t i, len;
    struct ql_wf_kv contact[] = {{"contact_log", "MKS-LT-c 电话联系"}};
    struct ql_wf_kv qcontact[] = {{"contact_log", "MKS-QY-c 电话联系"}};

    (void)state;
    ok(ql_crypto_init(&d), &d, "init");
    BASE = qlt_tempdir();
    for (i = 0; i < NKEYS; i++) {
        char *kp = key_file(BASE, (enum who)i);

        ok(ql_key_generate(ql_profile_default(), P[i].name, &K[i], &d), &d,
           "key");
        ok(ql_keyfile_write(kp, K[i], NULL, 0, QL_KEYFILE_PLAINTEXT, &d), &d,
           "key file");
        free(kp);
    }
    db = qlt_join(BASE, "county.db");
    ok(ql_county_create(db, ORIGIN, K[ADMIN], NULL, NOW, &d), &d, "create");
    ok(ql_county_open(db, 0, &c, &d), &d, "open");
    ql_county_set_now(c, NOW);
    as(c, ADMIN);
    for (i = 0; i < 4; i++)
        ok(ql_county_unit_add(c, units[i][0], units[i][1], units[i][2], &d), &d,
           "unit");
    for (i = 0; i < NKEYS; i++)
        if (P[i].unit != NULL)
            ok(ql_county_principal_add(c, K[i], P[i].unit, P[i].roles, &d), &d,
               P[i].name);
    wf_path = qlt_data_path("../../workflows/gang_lead.lua");
    src = qlt_read_file(wf_path, &len);
    ok(ql_county_workflow_add(c, "gang_lead.lua", src, len, NULL, &d), &d,
       "workflow");
    free(src);
    free(wf_path);
    /* Leads of each unit, with sealed and secret markers. */
    add_lead(c, REG, "LT", "1", LEAD_LT);
    to_verifying(c, LEAD_LT, "LT", LLY);
    move(c, HC, LEAD_LT, "contact", contact, 1, "MKS-LT-note2");
    add_lead(c, REG, "QY", "1", LEAD_QY);
    to_verifying(c, LEAD_QY, "QY", QLLY);
    move(c, QHC, LEAD_QY, "contact", qcontact, 1, "MKS-QY-note2");
    add_lead(c, REG, "SH", "1", LEAD_SH);
    move(c, TRI, LEAD_SH, "triage", NULL, 0, "MKS-SH-note");
    add_lead(c, LLY, "LT", "2", LEAD_LT2);
    ql_county_close(c);
    free(db);
    return 0;
}

static int
group_teardown(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NKEYS; i++)
        ql_key_free(K[i]);
    qlt_rmtree(BASE);
    return 0;
}

/* Copies file name of folder from into folder to, if it exists. */
static void
copy_file(const char *from, const char *to, const char *name)
{
    char *a = qlt_join(from, name), *b = qlt_join(to, name), *buf;
    size_t len;

    if (access(a, F_OK) == 0) {
        buf = qlt_read_file(a, &len);
        qlt_write_file(b, buf, len);
        free(buf);
    }
    free(a);
    free(b);
}

static int
setup(void **state)
{
    struct ql_diag d;
    struct fx *f = calloc(1, sizeof *f);

    f->dir = qlt_tempdir();
    copy_file(BASE, f->dir, "county.db");
    copy_file(BASE, f->dir, "county.db.logkey");
    f->db = qlt_join(f->dir, "county.db");
    ok(ql_county_open(f->db, 0, &f->c, &d), &d, "open");
    ql_county_set_now(f->c, NOW);
    F = f;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    ql_county_close(f->c);
    free(f->db);
    qlt_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- the key in hand ---- */

/* What one key opened in a copy of the store. */
struct haul {
    unsigned scopes;   /* scopes of which some grant opened */
    size_t grants;     /* grants opened */
    size_t parts;      /* payload parts opened */
    size_t parts_want; /* payload parts sealed under a key it opened */
    char *text;        /* every opened plaintext, one after another */
    size_t text_len;
};

/* Data keys a haul opened: scope, epoch, key. */
struct opened {
    char scope[QL_ENTRY_WORD_MAX + 1];
    long long epoch;
    struct ql_datakey *key;
};

static void
append_text(struct haul *h, const uint8_t *p, size_t n)
{
    char *grown = realloc(h->text, h->text_len + n + 2);

    assert_non_null(grown);
    memcpy(grown + h->text_len, p, n);
    h->text_len += n;
    grown[h->text_len++] = '\n';
    grown[h->text_len] = '\0';
    h->text = grown;
}

/* Part which (0 sealed, 1 secret) of a lead payload; false when absent. */
static bool
payload_part(const struct ql_entry *e, int which, const uint8_t **p, size_t *n)
{
    size_t at = 0, len = 0;
    int i;

    for (i = 0; i <= which; i++) {
        if (at + 4 > e->payload_len)
            return false;
        len = (size_t)e->payload[at] << 24 | (size_t)e->payload[at + 1] << 16 |
              (size_t)e->payload[at + 2] << 8 | e->payload[at + 3];
        at += 4;
        if (len > e->payload_len - at)
            return false;
        if (i < which)
            at += len;
    }
    *p = e->payload + at;
    *n = len;
    return len > 0;
}

/*
 * Plays the holder of key file key_path and a copy of the store file at
 * db (with its write-ahead log): no county, no qingling checks, only the
 * bytes and the formats docs/formats.md publishes.
 */
static void
steal(const char *key_path, const char *db, struct haul *h)
{
    struct ql_store *s = NULL;
    struct ql_log *log = NULL;
    struct ql_key *k = NULL;
    struct opened *ks = NULL;
    size_t nks = 0, i, j;
    struct ql_diag d;
    uint64_t n = 0, idx;

    memset(h, 0, sizeof *h);
    h->text = calloc(1, 1);
    ok(ql_keyfile_read(key_path, NULL, 0, &k, &d), &d, "key in hand");
    ok(ql_store_open(db, QL_STORE_READONLY, &s, &d), &d, "stolen store");
    ok(ql_log_open(s, &log, &d), &d, "stolen log");
    ok(ql_log_size(log, &n, &d), &d, "size");
    /* First every grant: data keys come from them alone. */
    for (idx = 0; idx < n; idx++) {
        struct ql_entry e;
        const char *epoch;
        char ctx[512];
        size_t at = 0;

        ql_entry_init(&e);
        ok(ql_log_read(log, idx, NULL, NULL, &e, &d), &d, "entry");
        epoch = ql_entry_get_clear(&e, "epoch");
        if (strcmp(e.action, "grant") != 0 || epoch == NULL) {
            ql_entry_release(&e);
            continue;
        }
        snprintf(ctx, sizeof ctx, "qingling-grant/1\n%s\n%s\n%s", ORIGIN,
                 e.unit, epoch);
        while (at + 2 <= e.payload_len) {
            size_t len = (size_t)e.payload[at] << 8 | e.payload[at + 1];
            struct ql_datakey *dk = NULL;

            at += 2;
            assert_true(at + len <= e.payload_len);
            if (ql_datakey_unseal(k, e.payload + at, len, ctx, strlen(ctx), &dk,
                                  &d) == QL_OK) {
                ks = realloc(ks, (nks + 1) * sizeof *ks);
                assert_non_null(ks);
                snprintf(ks[nks].scope, sizeof ks[nks].scope, "%s", e.unit);
                ks[nks].epoch = strtoll(epoch, NULL, 10);
                ks[nks].key = dk;
                nks++;
                h->grants++;
                h->scopes |= scope_bit(e.unit);
            }
            at += len;
        }
        ql_entry_release(&e);
    }
    /* Then every payload part, with every key opened. */
    for (idx = 0; idx < n; idx++) {
        struct ql_entry e;
        int which;

        ql_entry_init(&e);
        ok(ql_log_read(log, idx, NULL, NULL, &e, &d), &d, "entry");
        if (strncmp(e.action, "lead.", 5) != 0 || e.payload_len == 0) {
            ql_entry_release(&e);
            continue;
        }
        for (which = 0; which < 2; which++) {
            const char *scope = which == 0 ? e.unit : "SECRET";
            const char *ep =
                ql_entry_get_clear(&e, which == 0 ? "_epoch" : "_secret_epoch");
            const uint8_t *ct;
            size_t ctlen;
            char ad[512];
            bool sealed_to_me = false, opened = false;

            if (!payload_part(&e, which, &ct, &ctlen))
                continue;
            snprintf(ad, sizeof ad, "qingling-payload/1\n%s\n%s\n%llu\n%s",
                     ORIGIN, e.lead, (unsigned long long)e.index,
                     which == 0 ? "sealed" : "secret");
            for (i = 0; i < nks; i++) {
                uint8_t *plain = NULL;
                size_t plen = 0;

                if (strcmp(ks[i].scope, scope) == 0 && ep != NULL &&
                    ks[i].epoch == strtoll(ep, NULL, 10))
                    sealed_to_me = true;
                if (ql_datakey_decrypt(ks[i].key, ct, ctlen,
                                       (const uint8_t *)ad, strlen(ad), &plain,
                                       &plen, &d) == QL_OK) {
                    append_text(h, plain, plen);
                    ql_datakey_plain_free(plain, plen);
                    opened = true;
                }
            }
            h->parts += opened;
            h->parts_want += sealed_to_me;
            if (opened != sealed_to_me)
                fail_msg("entry %llu part %d of scope %s: opened %d, held %d",
                         (unsigned long long)e.index, which, scope, opened,
                         sealed_to_me);
        }
        ql_entry_release(&e);
    }
    for (j = 0; j < nks; j++)
        ql_datakey_free(ks[j].key);
    free(ks);
    ql_log_free(log);
    ql_store_close(s);
    ql_key_free(k);
}

/*
 * Copies the test's store (closing the county so that everything is in
 * the file and its write-ahead log) into a folder of its own.
 */
static char *
copy_store(void)
{
    char *to = qlt_join(F->dir, "stolen");

    ql_county_close(F->c);
    F->c = NULL;
    assert_int_equal(mkdir(to, 0700), 0);
    copy_file(F->dir, to, "county.db");
    copy_file(F->dir, to, "county.db-wal");
    return to;
}

/* Fails when the haul holds a marker of a scope w may not open. */
static void
check_haul(enum who w, const struct haul *h, unsigned allowed)
{
    char mark[16];
    size_t i;

    for (i = 0; i < 3; i++) {
        snprintf(mark, sizeof mark, "MKS-%s-", SCOPE[i]);
        if (!(allowed & (1u << i)) && strstr(h->text, mark) != NULL)
            fail_msg("%s opened %s content", P[w].name, SCOPE[i]);
        if ((allowed & (1u << i)) && strstr(h->text, mark) == NULL)
            fail_msg("%s did not open its %s content", P[w].name, SCOPE[i]);
        snprintf(mark, sizeof mark, "MKX-%s-", SCOPE[i]);
        if (!(allowed & S_SECRET) && strstr(h->text, mark) != NULL)
            fail_msg("%s opened a reporter's identity", P[w].name);
        if ((allowed & S_SECRET) && strstr(h->text, mark) == NULL)
            fail_msg("%s did not open %s's secret fields", P[w].name, SCOPE[i]);
    }
}

static void
test_every_key_opens_only_its_own(void **state)
{
    char *stolen;
    size_t w;

    (void)state;
    stolen = copy_store();
    for (w = 0; w < NKEYS; w++) {
        char *kp = key_file(BASE, (enum who)w), *db;
        struct haul h;

        db = qlt_join(stolen, "county.db");
        steal(kp, db, &h);
        print_message(
            "%-12s opened %zu grants, %zu payload parts, scopes "
            "%s%s%s%s\n",
            P[w].name, h.grants, h.parts, h.scopes & S_SH ? "SH " : "",
            h.scopes & S_LT ? "LT " : "", h.scopes & S_QY ? "QY " : "",
            h.scopes & S_SECRET ? "SECRET" : "");
        if (h.scopes != may_open((enum who)w))
            fail_msg("%s opened scopes %#x, may open %#x", P[w].name, h.scopes,
                     may_open((enum who)w));
        check_haul((enum who)w, &h, may_open((enum who)w));
        /* The administrator, an auditor, an engine role, an outsider and a
           key bearing a registered name open nothing at all. */
        if (may_open((enum who)w) == 0)
            assert_true(h.grants == 0 && h.parts == 0);
        else
            assert_int_equal(h.parts, h.parts_want);
        free(h.text);
        free(db);
        free(kp);
    }
    free(stolen);
}

/* ---- through the engine, as the principal ---- */

/* The store's evidence: log size and bytes. */
static uint64_t
evidence(uint64_t *size)
{
    struct ql_diag d;

    ok(ql_log_size(ql_county_log(F->c), size, &d), &d, "size");
    return qlt_file_hash(F->db);
}

/* Fails unless a write was refused with QL_EDENIED naming want. */
static void
refused(ql_err rc, const struct ql_diag *d, enum who w, const char *what,
        const char *want)
{
    if (rc != QL_EDENIED)
        fail_msg("%s as %s: %s (%s), want QL_EDENIED", what, P[w].name,
                 ql_errname(rc), d->msg);
    if (strstr(d->msg, want) == NULL)
        fail_msg("%s as %s: '%s' lacks '%s'", what, P[w].name, d->msg, want);
}

/*
 * Every write the engine offers, as w: each must be refused with
 * QL_EDENIED naming why (want), and change nothing.
 */
static void
every_write_refused(enum who w, const char *want)
{
    static const char HASH[] =
        "0000000000000000000000000000000000000000000000000000000000000000";
    struct ql_wf_kv contact[] = {{"contact_log", "MKS-LT-x"}};
    struct ql_wf_kv spot[] = {{"spot_opinion_no", "评1"}};
    struct ql_wf_kv add[] = {{"source", "群众举报"}, {"summary", "MKS-LT-y"}};
    char id[QL_ENTRY_WORD_MAX + 1], *src, *cal, *path;
    uint64_t size0, size1, h0, h1;
    struct ql_diag d;
    size_t len, cal_len;

    path = qlt_data_path("../../workflows/gang_lead.lua");
    src = qlt_read_file(path, &len);
    free(path);
    path = qlt_data_path("../../workflows/calendars/cn.cal");
    cal = qlt_read_file(path, &cal_len);
    free(path);
    h0 = evidence(&size0);
    as(F->c, w);
#define R(what, call) refused((call), &d, w, what, want)
    R("lead add", ql_lead_add(F->c, "gang_lead", "LT", add, 2, id, &d));
    R("lead move",
      ql_lead_move(F->c, LEAD_LT, "contact", contact, 1, NULL, NULL, &d));
    R("lead approve", ql_lead_approve(F->c, LEAD_LT, &d));
    R("lead reject", ql_lead_reject(F->c, LEAD_LT, NULL, &d));
    R("lead migrate", ql_lead_migrate(F->c, LEAD_LT, HASH, NULL, &d));
    R("commit sign", ql_commit_sign(F->c, "LT", "C9", "2025-09-01",
                                    "2025-09-30", NULL, NULL, &d));
    R("commit declare", ql_commit_declare(F->c, "LT", "C9", NULL, &d));
    R("commit sample", ql_commit_sample(F->c, "LT", "C9", NULL, &d));
    R("commit verify", ql_commit_verify(F->c, "LT", "C9", NULL, &d));
    R("commit spotcheck",
      ql_commit_spotcheck(F->c, LEAD_LT, true, spot, 1, NULL, NULL, &d));
    R("unit add",
      ql_county_unit_add(F->c, "XN", "新河镇", QL_KIND_TOWNSHIP, &d));
    R("principal add",
      ql_county_principal_add(F->c, K[OUT], "LT", "verifier", &d));
    R("principal revoke", ql_county_principal_revoke(F->c, P[HC].name, &d));
    R("workflow add",
      ql_county_workflow_add(F->c, "gang_lead.lua", src, len, NULL, &d));
    R("calendar set", ql_county_calendar_set(F->c, "cn.cal", cal, cal_len, &d));
#undef R
    h1 = evidence(&size1);
    assert_int_equal(size1, size0);
    assert_int_equal(h1, h0);
    free(src);
    free(cal);
}

static void
test_keys_outside_the_county_write_nothing(void **state)
{
    (void)state;
    every_write_refused(OUT, "is not registered in this county");
    every_write_refused(FAKE, "is not the key registered under that name");
}

/* Opens a lead as k and says whether its content was readable. */
static bool
readable_by(const struct ql_key *k, const char *id, const char *field,
            char *value, size_t size)
{
    struct ql_lead *l = NULL;
    struct ql_diag d;
    const char *v;
    bool r;

    ql_county_set_actor(F->c, k);
    ok(ql_lead_load(F->c, id, &l, &d), &d, "load");
    r = ql_lead_readable(l);
    v = ql_lead_get(l, field);
    snprintf(value, size, "%s", v ? v : "");
    ql_lead_free(l);
    return r;
}

static bool
readable_as(enum who w, const char *id, const char *field, char *value,
            size_t size)
{
    return readable_by(K[w], id, field, value, size);
}

static void
test_revoked_member(void **state)
{
    struct ql_wf_kv contact[] = {{"contact_log", "MKS-LT-AFTER 再次联系"}};
    struct ql_diag d;
    char value[128], *stolen, *kp, *db;
    struct haul h;

    (void)state;
    /* Before: the member reads its unit's lead. */
    assert_true(readable_as(GONE, LEAD_LT, "summary", value, sizeof value));
    assert_non_null(strstr(value, "MKS-LT-1"));
    as(F->c, ADMIN);
    ok(ql_county_principal_revoke(F->c, P[GONE].name, &d), &d, "revoke");
    every_write_refused(GONE, "has been revoked");
    /* A colleague writes: the unit's next key is never granted to it. */
    move(F->c, HC, LEAD_LT, "contact", contact, 1, "MKS-LT-AFTER-note");
    assert_false(
        readable_as(GONE, LEAD_LT, "contact_log", value, sizeof value));
    assert_true(readable_as(HC, LEAD_LT, "contact_log", value, sizeof value));
    assert_non_null(strstr(value, "MKS-LT-AFTER"));
    /* Nor does the key in hand open it; what came before still opens. */
    stolen = copy_store();
    kp = key_file(BASE, GONE);
    db = qlt_join(stolen, "county.db");
    steal(kp, db, &h);
    assert_null(strstr(h.text, "MKS-LT-AFTER"));
    assert_non_null(strstr(h.text, "MKS-LT-1"));
    assert_int_equal(h.parts, h.parts_want);
    free(h.text);
    free(kp);
    /* The colleague's key opens both. */
    kp = key_file(BASE, HC);
    steal(kp, db, &h);
    assert_non_null(strstr(h.text, "MKS-LT-AFTER"));
    assert_non_null(strstr(h.text, "MKS-LT-1"));
    free(h.text);
    free(kp);
    free(db);
    free(stolen);
}

static void
test_revoked_supervisor(void **state)
{
    struct ql_wf_kv contact[] = {{"contact_log", "MKS-QY-AFTER 再次联系"}};
    struct ql_diag d;
    char id[QL_ENTRY_WORD_MAX + 1], value[128], *stolen, *kp, *db;
    struct haul h;

    (void)state;
    assert_true(readable_as(DRC2, LEAD_QY, "reporter", value, sizeof value));
    assert_non_null(strstr(value, "MKX-QY-1"));
    as(F->c, ADMIN);
    ok(ql_county_principal_revoke(F->c, P[DRC2].name, &d), &d, "revoke");
    every_write_refused(DRC2, "has been revoked");
    /* Every unit's key and the envelope's are renewed on their next use. */
    move(F->c, QHC, LEAD_QY, "contact", contact, 1, NULL);
    add_lead(F->c, REG, "LT", "AFTER", id);
    assert_false(
        readable_as(DRC2, LEAD_QY, "contact_log", value, sizeof value));
    assert_false(readable_as(DRC2, id, "summary", value, sizeof value));
    assert_true(readable_as(DRC, id, "reporter", value, sizeof value));
    assert_non_null(strstr(value, "MKX-LT-AFTER"));
    stolen = copy_store();
    kp = key_file(BASE, DRC2);
    db = qlt_join(stolen, "county.db");
    steal(kp, db, &h);
    assert_null(strstr(h.text, "MKS-QY-AFTER"));
    assert_null(strstr(h.text, "MKS-LT-AFTER"));
    assert_null(strstr(h.text, "MKX-LT-AFTER"));
    assert_non_null(strstr(h.text, "MKX-QY-1"));
    free(h.text);
    free(kp);
    kp = key_file(BASE, DRC);
    steal(kp, db, &h);
    assert_non_null(strstr(h.text, "MKX-LT-AFTER"));
    assert_non_null(strstr(h.text, "MKS-QY-AFTER"));
    free(h.text);
    free(kp);
    free(db);
    free(stolen);
}

/*
 * A secret role outside the office reads nothing of the envelope, even of
 * its own unit's leads, and an engine role in the office reads nothing.
 */
static void
test_secret_roles_outside_the_office(void **state)
{
    char value[128];

    (void)state;
    /* A township member with a secret role: its unit's content, no
       envelope. */
    assert_true(readable_as(LTREG, LEAD_LT, "reporter", value, sizeof value));
    assert_string_equal(value, "");
    assert_true(readable_as(LTREG, LEAD_LT, "summary", value, sizeof value));
    assert_non_null(strstr(value, "MKS-LT-1"));
    /* An auditor with a secret role, an engine role in the office. */
    assert_false(readable_as(AUDREG, LEAD_LT, "reporter", value, sizeof value));
    assert_string_equal(value, "");
    assert_false(readable_as(IT, LEAD_SH, "summary", value, sizeof value));
    assert_string_equal(value, "");
    /* A key bearing a member's name reads as an outsider: sealed. */
    assert_false(readable_as(FAKE, LEAD_LT, "summary", value, sizeof value));
    assert_string_equal(value, "");
    /* The office's registrar opens it. */
    assert_true(readable_as(REG, LEAD_LT, "reporter", value, sizeof value));
    assert_non_null(strstr(value, "MKX-LT-1"));
}

/*
 * Appends a grant entry of epoch of unit's key, signed by signer, to the
 * store at db, as someone holding signer's key file and the log key would,
 * and signs a checkpoint over it. The sealed grant is junk: no auditor can
 * open one. Returns the entry's index.
 */
static uint64_t
forge_grant(const char *db, const struct ql_key *signer, const char *unit,
            const char *epoch, const char *fp, const char *recipient)
{
    const struct ql_key *signers[1] = {signer};
    struct ql_store *s = NULL;
    struct ql_log *log = NULL;
    struct ql_key *lk = NULL;
    struct ql_entry e;
    struct ql_diag d;
    uint8_t payload[2 + 48];
    char lkp[4096];
    uint64_t at = 0;

    snprintf(lkp, sizeof lkp, "%s.logkey", db);
    ok(ql_keyfile_read(lkp, NULL, 0, &lk, &d), &d, "log key");
    ok(ql_store_open(db, 0, &s, &d), &d, "store");
    ok(ql_log_open(s, &log, &d), &d, "log");
    ql_entry_init(&e);
    snprintf(e.action, sizeof e.action, "grant");
    snprintf(e.unit, sizeof e.unit, "%s", unit);
    memset(payload, 7, sizeof payload);
    payload[0] = 0;
    payload[1] = 48;
    ok(ql_time_format(NOW + 60, e.time, sizeof e.time, &d), &d, "time");
    ok(ql_entry_set_actor(&e, ql_key_name(signer), &d), &d, "actor");
    ok(ql_entry_add_clear(&e, "epoch", epoch, &d), &d, "epoch");
    ok(ql_entry_add_clear(&e, "fingerprint", fp, &d), &d, "fingerprint");
    ok(ql_entry_add_clear(&e, "recipients", recipient, &d), &d,
       "recipients");
    ok(ql_entry_set_payload(&e, payload, sizeof payload, &d), &d, "payload");
    ok(ql_store_begin(s, &d), &d, "begin");
    ok(ql_log_append(log, &e, signers, 1, &at, NULL, NULL, &d), &d, "append");
    ok(ql_log_checkpoint(log, lk, NULL, &d), &d, "checkpoint");
    ok(ql_store_commit(s, &d), &d, "commit");
    ql_entry_release(&e);
    ql_log_free(log);
    ql_store_close(s);
    ql_key_free(lk);
    return at;
}

/* Fails unless the store at db fails verification at entry at, naming
   why. */
static void
refused_at(const char *db, uint64_t at, const char *why)
{
    struct ql_audit_result res;
    struct ql_county *c = NULL;
    struct ql_diag d;

    ok(ql_county_open(db, 0, &c, &d), &d, "reopen");
    assert_int_not_equal(ql_audit_verify(c, K[ADMIN], &res, &d), QL_OK);
    if (res.bad_index != at || strstr(d.msg, why) == NULL)
        fail_msg("verification failed at %llu (want %llu): %s (want '%s')",
                 (unsigned long long)res.bad_index, (unsigned long long)at,
                 d.msg, why);
    ql_county_close(c);
}

/*
 * What the engine will not write, an auditor will not accept: the
 * registrar, who holds the envelope, seals it to a township member with
 * a secret role, signs the grant and the log key signs a checkpoint over
 * it. Verification must fail at that entry.
 */
static void
test_verifier_refuses_the_envelope_outside_the_office(void **state)
{
    struct ql_audit_result res;
    struct ql_diag d;
    uint64_t at;

    (void)state;
    ok(ql_audit_verify(F->c, K[ADMIN], &res, &d), &d, "verify before");
    ql_county_close(F->c);
    F->c = NULL;
    at = forge_grant(F->db, K[REG], "SECRET", "1",
                     "00000000000000000000000000000000"
                     "00000000000000000000000000000000",
                     P[LTREG].name);
    refused_at(F->db, at, "who may not read it");
}

/* ---- older epochs ---- */

/* A query of the test's store about one key scope, bound as ?1. */
static struct ql_stmt *
scope_query(const char *sql, const char *scope)
{
    struct ql_stmt *st = NULL;
    struct ql_diag d;

    ok(ql_store_prepare(ql_county_store(F->c), sql, &st, &d), &d, sql);
    ok(ql_stmt_bind_text(st, 1, scope, &d), &d, "bind");
    return st;
}

/* The fingerprint the store recorded for unit's key of epoch. */
static void
fingerprint_of(const char *unit, int64_t epoch, char fp[65])
{
    struct ql_stmt *st = scope_query("SELECT fingerprint FROM datakeys "
                                     "WHERE unit = ?1 AND epoch = ?2",
                                     unit);
    struct ql_diag d;
    bool row = false;

    ok(ql_stmt_bind_int(st, 2, epoch, &d), &d, "bind");
    ok(ql_stmt_step(st, &row, &d), &d, "step");
    assert_true(row);
    snprintf(fp, 65, "%s", ql_stmt_text(st, 0));
    ql_stmt_done(st);
}

/* The epochs of scope's key granted to name, as bits (epoch 1 = bit 0). */
static unsigned
epochs_held(const char *scope, const char *name)
{
    struct ql_stmt *st = scope_query("SELECT epoch FROM grants "
                                     "WHERE unit = ?1 AND principal = ?2",
                                     scope);
    struct ql_diag d;
    unsigned bits = 0;
    bool row = false;

    ok(ql_stmt_bind_text(st, 2, name, &d), &d, "bind");
    while (ql_stmt_step(st, &row, &d) == QL_OK && row)
        bits |= 1u << (ql_stmt_int(st, 0) - 1);
    ql_stmt_done(st);
    return bits;
}

/* Registers a new principal in unit with roles, its key in *k. */
static void
newcomer(const char *name, const char *unit, const char *roles,
         struct ql_key **k)
{
    struct ql_diag d;

    ok(ql_key_generate(ql_profile_default(), name, k, &d), &d, "key");
    as(F->c, ADMIN);
    ok(ql_county_principal_add(F->c, *k, unit, roles, &d), &d, name);
}

/*
 * A verifier joins LT after a colleague's revocation: the lead sealed
 * before stays closed to it until someone who holds the old key writes in
 * the unit (here the office's triage, moving another lead). That write
 * starts the new epoch for every holder but the revoked one, and grants
 * the old epoch to the newcomer, whose key in hand then opens the old
 * content. The log verifies.
 */
static void
test_old_epochs_reach_newcomers(void **state)
{
    struct ql_audit_result res;
    struct ql_key *nk = NULL;
    struct ql_diag d;
    char value[128], *kp, *stolen, *db;
    struct haul h;

    (void)state;
    newcomer("lt-hc-new", "LT", "verifier", &nk);
    ok(ql_county_principal_revoke(F->c, P[GONE].name, &d), &d, "revoke");
    assert_false(readable_by(nk, LEAD_LT, "summary", value, sizeof value));
    assert_int_equal(epochs_held("LT", "lt-hc-new"), 0);
    move(F->c, TRI, LEAD_LT2, "triage", NULL, 0, NULL);
    assert_int_equal(epochs_held("LT", "lt-hc-new"), 3);
    assert_int_equal(epochs_held("LT", P[GONE].name), 1);
    assert_int_equal(epochs_held("LT", P[HC].name), 3);
    assert_true(readable_by(nk, LEAD_LT, "summary", value, sizeof value));
    assert_non_null(strstr(value, "MKS-LT-1"));
    assert_true(readable_by(nk, LEAD_LT, "contact_log", value, sizeof value));
    assert_non_null(strstr(value, "MKS-LT-c"));
    /* Another unit's old key is not the unit's to give. */
    assert_int_equal(epochs_held("QY", "lt-hc-new"), 0);
    ok(ql_audit_verify(F->c, K[ADMIN], &res, &d), &d, "verify");
    ok(ql_county_replay_check(F->c, &d), &d, "replay");
    /* The key in hand opens the old content, not another unit's. */
    kp = qlt_join(F->dir, "new.key");
    ok(ql_keyfile_write(kp, nk, NULL, 0, QL_KEYFILE_PLAINTEXT, &d), &d,
       "key file");
    stolen = copy_store();
    db = qlt_join(stolen, "county.db");
    steal(kp, db, &h);
    assert_non_null(strstr(h.text, "MKS-LT-1"));
    assert_null(strstr(h.text, "MKS-QY-"));
    assert_null(strstr(h.text, "MKX-"));
    assert_int_equal(h.parts, h.parts_want);
    free(h.text);
    free(db);
    free(stolen);
    free(kp);
    ql_key_free(nk);
}

/*
 * A registrar joins the office after a director's revocation and, in a
 * batch, writes first: it starts LT's and the envelope's new epochs
 * without holding the old ones, and the batch then knows every holder of
 * those epochs is served. Later writes in the same batch by holders of
 * the old keys must still grant them: the office's triage in LT, the
 * office's registrar (an envelope holder) in QY. Then the newcomer reads
 * the old leads and their reporters, the revoked director receives no
 * new epoch anywhere, and the log verifies.
 */
static void
test_old_epochs_in_a_batch(void **state)
{
    static const char *const scopes[] = {"SH", "LT", "QY", "SECRET"};
    struct ql_audit_result res;
    struct ql_key *nk = NULL;
    struct ql_diag d;
    char value[128], id[QL_ENTRY_WORD_MAX + 1];
    size_t i;

    (void)state;
    newcomer("sh-dengji-new", "SH", "registrar", &nk);
    ok(ql_county_principal_revoke(F->c, P[DRC2].name, &d), &d, "revoke");
    ok(ql_county_batch_begin(F->c, &d), &d, "batch");
    add_lead_by(F->c, nk, true, "LT", "NEW", id);
    move(F->c, TRI, LEAD_LT2, "triage", NULL, 0, NULL);
    add_lead(F->c, REG, "QY", "NEW", id);
    ok(ql_county_batch_commit(F->c, &d), &d, "commit");
    assert_int_equal(epochs_held("LT", "sh-dengji-new"), 3);
    assert_int_equal(epochs_held("QY", "sh-dengji-new"), 3);
    assert_int_equal(epochs_held("SECRET", "sh-dengji-new"), 3);
    /* SH saw no write since: nothing of it yet, old or new. */
    assert_int_equal(epochs_held("SH", "sh-dengji-new"), 0);
    for (i = 0; i < 4; i++)
        assert_int_equal(epochs_held(scopes[i], P[DRC2].name) & ~1u, 0);
    assert_true(readable_by(nk, LEAD_LT, "summary", value, sizeof value));
    assert_non_null(strstr(value, "MKS-LT-1"));
    assert_true(readable_by(nk, LEAD_QY, "reporter", value, sizeof value));
    assert_non_null(strstr(value, "MKX-QY-1"));
    assert_false(readable_by(nk, LEAD_SH, "summary", value, sizeof value));
    ok(ql_audit_verify(F->c, K[ADMIN], &res, &d), &d, "verify");
    ok(ql_county_replay_check(F->c, &d), &d, "replay");
    ql_key_free(nk);
}

/*
 * Old-epoch grants the engine never writes, each signed with a real key
 * and checkpointed with the log key: verification fails at that entry.
 * The last row is one the engine could have written, and passes.
 */
static void
test_forged_old_epoch_grants(void **state)
{
    enum { NEW, NEW2 };
    struct ql_key *nk[2] = {NULL, NULL};
    struct ql_diag d;
    char fp1[65], fp2[65], wrong[65], dir[64];
    const struct {
        const char *what;
        struct ql_key *const *signer;
        const char *epoch, *fp, *recipient, *why; /* why NULL: verifies */
    } cases[] = {
        {"to a revoked principal", &K[LLY], "1", fp1, "lt-hc-gone",
         "who is not an active principal"},
        {"of an unknown epoch", &K[LLY], "7", fp1, "lt-hc-new2",
         "neither its current epoch 2 nor the next"},
        {"by a member of another unit", &K[QLLY], "1", fp1, "lt-hc-new2",
         "'qy-lly' grants epoch 1 of unit LT's key, which they never held"},
        {"by a newcomer who never held it", &nk[NEW2], "1", fp1, "lt-hc-new",
         "'lt-hc-new2' grants epoch 1 of unit LT's key, which they never "
         "held"},
        {"of another key", &K[LLY], "1", wrong, "lt-hc-new2",
         "grants another key for unit LT epoch 1"},
        {"of the current epoch by a newcomer, to themselves", &nk[NEW2], "2",
         fp2, "lt-hc-new2",
         "'lt-hc-new2' grants unit LT's key, which they do not hold"},
        {"of a new epoch while the current one holds", &K[LLY], "3", wrong,
         "lt-hc-new2", "starts epoch 3 of unit LT's key, but epoch 2 is not "
                       "stale"},
        {"by a holder to a newcomer", &K[LLY], "1", fp1, "lt-hc-new2", NULL},
    };
    size_t i;

    (void)state;
    newcomer("lt-hc-new", "LT", "verifier", &nk[NEW]);
    ok(ql_county_principal_revoke(F->c, P[GONE].name, &d), &d, "revoke");
    move(F->c, TRI, LEAD_LT2, "triage", NULL, 0, NULL);
    newcomer("lt-hc-new2", "LT", "verifier", &nk[NEW2]);
    fingerprint_of("LT", 1, fp1);
    fingerprint_of("LT", 2, fp2);
    memset(wrong, 'a', 64);
    wrong[64] = '\0';
    ql_county_close(F->c);
    F->c = NULL;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *to, *db;
        uint64_t at;

        print_message("old-epoch grant %s\n", cases[i].what);
        snprintf(dir, sizeof dir, "case%zu", i);
        to = qlt_join(F->dir, dir);
        assert_int_equal(mkdir(to, 0700), 0);
        copy_file(F->dir, to, "county.db");
        copy_file(F->dir, to, "county.db-wal");
        copy_file(F->dir, to, "county.db.logkey");
        db = qlt_join(to, "county.db");
        at = forge_grant(db, *cases[i].signer, "LT", cases[i].epoch,
                         cases[i].fp, cases[i].recipient);
        if (cases[i].why != NULL) {
            refused_at(db, at, cases[i].why);
        } else {
            struct ql_audit_result res;
            struct ql_county *c = NULL;

            ok(ql_county_open(db, 0, &c, &d), &d, "reopen");
            ok(ql_audit_verify(c, K[ADMIN], &res, &d), &d, cases[i].what);
            ql_county_close(c);
        }
        free(db);
        free(to);
    }
    ql_key_free(nk[NEW]);
    ql_key_free(nk[NEW2]);
}

/*
 * A new epoch for more holders than one grant entry carries (150): its
 * grants take several entries in the holders' name order, and the writer
 * who started it may sign the later ones before its own grant comes. The
 * log the engine wrote verifies.
 */
static void
test_new_epoch_for_many_holders(void **state)
{
    struct ql_audit_result res;
    struct ql_key *nk = NULL;
    struct ql_diag d;
    char name[32];
    int i;

    (void)state;
    /* Names that sort before the office's triage, who starts epoch 2. */
    for (i = 0; i < 160; i++) {
        snprintf(name, sizeof name, "aa%03d", i);
        newcomer(name, "LT", "verifier", &nk);
        ql_key_free(nk);
        nk = NULL;
    }
    ok(ql_county_principal_revoke(F->c, P[GONE].name, &d), &d, "revoke");
    move(F->c, TRI, LEAD_LT2, "triage", NULL, 0, NULL);
    assert_int_equal(epochs_held("LT", "aa159"), 3);
    ok(ql_county_replay_check(F->c, &d), &d, "replay");
    ok(ql_audit_verify(F->c, K[ADMIN], &res, &d), &d, "verify");
}

/*
 * The same hand-over without a lead entry: the unit head, who held the
 * old key, shares the unit's keys. A second call finds nobody lacking
 * anything and writes nothing; who may not hold the key is refused and
 * the store is left as it was.
 */
static void
test_key_share(void **state)
{
    static const struct {
        enum who w;
        const char *unit;
        ql_err rc;
        const char *why;
    } refusals[] = {
        {GONE, "LT", QL_EDENIED, "has been revoked"},
        {ADMIN, "LT", QL_EDENIED, "'admin' holds no key to unit LT"},
        {QLLY, "LT", QL_EDENIED, "'qy-lly' holds no key to unit LT"},
        {AUD, "QY", QL_EDENIED, "'jw-sj' holds no key to unit QY"},
        {HEAD, "ZZ", QL_ENOTFOUND, "unknown unit 'ZZ'"},
    };
    struct ql_audit_result res;
    struct ql_key *nk = NULL;
    struct ql_diag d;
    char value[128];
    uint64_t size0, size1, h0, h1;
    size_t i;
    ql_err rc;

    (void)state;
    newcomer("lt-hc-new", "LT", "verifier", &nk);
    as(F->c, ADMIN);
    ok(ql_county_principal_revoke(F->c, P[GONE].name, &d), &d, "revoke");
    as(F->c, HEAD);
    ok(ql_county_key_share(F->c, "LT", &d), &d, "share");
    assert_int_equal(epochs_held("LT", "lt-hc-new"), 3);
    assert_int_equal(epochs_held("LT", P[GONE].name), 1);
    assert_true(readable_by(nk, LEAD_LT, "summary", value, sizeof value));
    assert_non_null(strstr(value, "MKS-LT-1"));
    h0 = evidence(&size0);
    as(F->c, HEAD);
    ok(ql_county_key_share(F->c, "LT", &d), &d, "share again");
    h1 = evidence(&size1);
    assert_int_equal(size1, size0);
    assert_int_equal(h1, h0);
    for (i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        print_message("key share of %s as %s\n", refusals[i].unit,
                      P[refusals[i].w].name);
        as(F->c, refusals[i].w);
        rc = ql_county_key_share(F->c, refusals[i].unit, &d);
        if (rc != refusals[i].rc || strstr(d.msg, refusals[i].why) == NULL)
            fail_msg("%s (%s), want %s naming '%s'", ql_errname(rc), d.msg,
                     ql_errname(refusals[i].rc), refusals[i].why);
        h1 = evidence(&size1);
        assert_int_equal(size1, size0);
        assert_int_equal(h1, h0);
    }
    ok(ql_audit_verify(F->c, K[ADMIN], &res, &d), &d, "verify");
    ql_key_free(nk);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_every_key_opens_only_its_own),
        T(test_keys_outside_the_county_write_nothing),
        T(test_revoked_member),
        T(test_revoked_supervisor),
        T(test_secret_roles_outside_the_office),
        T(test_verifier_refuses_the_envelope_outside_the_office),
        T(test_old_epochs_reach_newcomers),
        T(test_old_epochs_in_a_batch),
        T(test_forged_old_epoch_grants),
        T(test_new_epoch_for_many_holders),
        T(test_key_share),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
