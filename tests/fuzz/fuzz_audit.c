/*
 * The auditor's verifier on logs of the fuzzer's making (engine/ql_audit.c,
 * engine/ql_audit_rules.c): the registry, the workflow rules, grants,
 * approvals and commitments as the verifier replays them.
 *
 * A fuzzer cannot forge Ed25519 signatures, so on its own it would never
 * get past entry 0's. This harness signs for it: the input is the text of
 * each entry, entries separated by a line "%%", and every entry is signed
 * by the key of the name on its "actor" line, a key the harness derives
 * from that name (qlf_named_key). In the texts,
 *
 *   {vkey NAME}   becomes the verifier key of NAME's key;
 *   {wf}          the base64 of workflows/gang_lead.lua, {wfhash} its hash;
 *   {cal}         the base64 of workflows/calendars/cn.cal;
 *   {root N}      the base64 root of the first N entries signed so far.
 *
 * The log's checkpoint is signed with the key of the genesis entry's
 * origin. A last part "cosign NAME" adds NAME's cosignature of it.
 * tests/fuzz/mkcorpus.sh turns a real county's log into this form.
 *
 * Invariants: the verdict, the failing entry and the message are the same
 * with one thread and with three (ql_audit.h promises it; checked for one
 * input in four, whose length is a multiple of four); a log that verifies
 * has every entry counted and the root of its entries, and passes the
 * harness's own check of who may sign what (au_recheck).
 */
#include "qlf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_audit.h"
#include "ql_codec.h"
#include "ql_keys.h"
#include "ql_log.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"

#define AU_ENTRIES_MAX 512
#define AU_COSIG_TIME UINT64_C(1767225600)

struct au_log {
    char *note[AU_ENTRIES_MAX];
    size_t len[AU_ENTRIES_MAX];
    uint8_t leaf[AU_ENTRIES_MAX][QL_HASH_LEN];
    size_t n;
    char origin[QL_ORIGIN_MAX + 1];
    char *cp;
    size_t cp_len;
    char cosigner[QL_KEY_NAME_MAX + 1];
    char *cosig;
    /* where each callback is */
    size_t next;
    bool cp_given, cs_given;
};

/* A growing string. */
struct au_buf {
    char *p;
    size_t n, cap;
};

static void
au_put(struct au_buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;

        while (cap < b->n + n + 1)
            cap *= 2;
        QLF_CHECK((b->p = realloc(b->p, cap)) != NULL);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void
au_put_b64(struct au_buf *b, const void *bin, size_t n)
{
    char *s = malloc(ql_base64_len(n) + 1);

    QLF_CHECK(s != NULL);
    ql_base64_encode(s, bin, n);
    au_put(b, s, strlen(s));
    free(s);
}

/* Expands one placeholder at s (len bytes, s[0] == '{'); returns the bytes
 * it used, or 0 when s starts none. */
static size_t
au_placeholder(struct au_log *lg, struct au_buf *b, const char *s, size_t len)
{
    const char *end = memchr(s, '}', len < 300 ? len : 300);
    size_t n = end != NULL ? (size_t)(end - s) + 1 : 0, flen = 0;
    char arg[300], *vkey = NULL;
    const char *file;
    const struct ql_key *k;
    uint8_t h[QL_HASH_LEN];
    char hex[2 * QL_HASH_LEN + 1];
    unsigned long long m;
    char *e = NULL;

    if (n == 0)
        return 0;
    if (n > 7 && memcmp(s, "{vkey ", 6) == 0) {
        memcpy(arg, s + 6, n - 7);
        arg[n - 7] = '\0';
        if ((k = qlf_named_key(arg)) == NULL ||
            ql_key_vkey(k, 0, &vkey, NULL) != QL_OK)
            return 0;
        au_put(b, vkey, strlen(vkey));
        free(vkey);
        return n;
    }
    if ((n == 4 && memcmp(s, "{wf}", 4) == 0) ||
        (n == 8 && memcmp(s, "{wfhash}", 8) == 0)) {
        if ((file = qlf_tree_file("workflows/gang_lead.lua", &flen)) == NULL)
            return 0;
        if (n == 4) {
            au_put_b64(b, file, flen);
        } else {
            ql_hash(ql_profile_default(), h, file, flen);
            ql_hex_encode(hex, h, sizeof h);
            au_put(b, hex, 64);
        }
        return n;
    }
    if (n == 5 && memcmp(s, "{cal}", 5) == 0) {
        if ((file = qlf_tree_file("workflows/calendars/cn.cal", &flen)) == NULL)
            return 0;
        au_put_b64(b, file, flen);
        return n;
    }
    if (n > 7 && memcmp(s, "{root ", 6) == 0) {
        memcpy(arg, s + 6, n - 7);
        arg[n - 7] = '\0';
        m = strtoull(arg, &e, 10);
        if (e == arg || *e != '\0' || m > lg->n)
            return 0;
        ql_merkle_root_of_leaves(ql_profile_default(), h, &lg->leaf[0][0],
                                 (size_t)m);
        au_put_b64(b, h, sizeof h);
        return n;
    }
    return 0;
}

/* The value of the line "key value" in text, into out; false when none. */
static bool
au_line(const char *text, const char *key, char *out, size_t size)
{
    size_t k = strlen(key);
    const char *p = text, *nl;

    for (; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl == NULL)
            nl = p + strlen(p);
        if ((size_t)(nl - p) > k && memcmp(p, key, k) == 0 && p[k] == ' ' &&
            (size_t)(nl - p) - k - 1 < size) {
            memcpy(out, p + k + 1, (size_t)(nl - p) - k - 1);
            out[nl - p - (ptrdiff_t)k - 1] = '\0';
            return true;
        }
        if (*nl == '\0')
            break;
    }
    return false;
}

/* Signs one entry's text as its actor and appends it to the log. */
static void
au_add(struct au_log *lg, const char *text, size_t len)
{
    struct au_buf b = {NULL, 0, 0};
    char actor[QL_KEY_NAME_MAX + 1];
    const struct ql_key *k = NULL;
    char *note = NULL;
    size_t i = 0, used, note_len = 0;

    while (i < len) {
        const char *brace = memchr(text + i, '{', len - i);
        size_t upto = brace != NULL ? (size_t)(brace - text) : len;

        au_put(&b, text + i, upto - i);
        i = upto;
        if (i >= len)
            break;
        if ((used = au_placeholder(lg, &b, text + i, len - i)) == 0) {
            au_put(&b, "{", 1);
            used = 1;
        }
        i += used;
    }
    if (b.p == NULL)
        au_put(&b, "", 0);
    if (au_line(b.p, "actor", actor, sizeof actor))
        k = qlf_named_key(actor);
    if (k == NULL ||
        ql_note_sign(b.p, b.n, &k, 1, &note, &note_len, NULL) != QL_OK) {
        /* Unsigned: the verifier's parser meets it as it is. */
        note = b.p;
        note_len = b.n;
        b.p = NULL;
    }
    free(b.p);
    if (lg->n == 0 &&
        !au_line(note, "clear origin", lg->origin, sizeof lg->origin))
        snprintf(lg->origin, sizeof lg->origin, "fuzz.example/log");
    lg->note[lg->n] = note;
    lg->len[lg->n] = note_len;
    ql_merkle_leaf_hash(ql_profile_default(), lg->leaf[lg->n], note, note_len);
    lg->n++;
}

static void
au_build(struct au_log *lg, const char *in, size_t size)
{
    size_t pos = 0, end, next;
    const char *sep;

    while (pos < size && lg->n < AU_ENTRIES_MAX) {
        /* The part runs to the next line "%%", if any. */
        end = size;
        next = size;
        for (sep = in + pos;
             (sep = memchr(sep, '%', (size_t)(in + size - sep))) != NULL; sep++)
            if ((sep == in + pos || sep[-1] == '\n') &&
                (size_t)(in + size - sep) >= 3 && memcmp(sep, "%%\n", 3) == 0) {
                end = (size_t)(sep - in);
                next = end + 3;
                break;
            }
        if (next == size && end - pos > 7 &&
            memcmp(in + pos, "cosign ", 7) == 0) {
            size_t n = end - pos - 7;

            while (n > 0 && in[pos + 7 + n - 1] == '\n')
                n--;
            if (n < sizeof lg->cosigner) {
                memcpy(lg->cosigner, in + pos + 7, n);
                lg->cosigner[n] = '\0';
            }
            break;
        }
        au_add(lg, in + pos, end - pos);
        pos = next;
    }
}

static void
au_sign_checkpoint(struct au_log *lg)
{
    const struct ql_key *k, *c;
    struct ql_checkpoint cp;
    char *text = NULL, *line = NULL;
    size_t tlen = 0, llen = 0;

    if (lg->n == 0)
        return;
    if ((k = qlf_named_key(lg->origin)) == NULL) {
        snprintf(lg->origin, sizeof lg->origin, "fuzz.example/log");
        k = qlf_named_key(lg->origin);
    }
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", lg->origin);
    cp.size = lg->n;
    ql_merkle_root_of_leaves(ql_profile_default(), cp.root, &lg->leaf[0][0],
                             lg->n);
    QLF_CHECK(k != NULL);
    QLF_CHECK(ql_checkpoint_sign(k, &cp, &lg->cp, &lg->cp_len, NULL) == QL_OK);
    if (lg->cosigner[0] == '\0' || (c = qlf_named_key(lg->cosigner)) == NULL)
        return;
    QLF_CHECK(ql_checkpoint_format(&cp, &text, &tlen, NULL) == QL_OK);
    if (ql_cosig_sign(c, text, tlen, AU_COSIG_TIME, &line, &llen, NULL) ==
        QL_OK)
        lg->cosig = line;
    free(text);
}

/* ---- the log as a source ---- */

static ql_err
au_next_entry(void *ctx, struct ql_audit_entry *e, struct ql_diag *d)
{
    struct au_log *lg = ctx;

    if (lg->next >= lg->n)
        return ql_fail(d, QL_ENOTFOUND, "no more entries");
    e->index = lg->next;
    e->note = lg->note[lg->next];
    e->len = lg->len[lg->next];
    e->leaf = lg->leaf[lg->next];
    lg->next++;
    return QL_OK;
}

static ql_err
au_next_checkpoint(void *ctx, uint64_t *size, const char **note, size_t *len,
                   struct ql_diag *d)
{
    struct au_log *lg = ctx;

    if (lg->cp == NULL || lg->cp_given)
        return ql_fail(d, QL_ENOTFOUND, "no more checkpoints");
    lg->cp_given = true;
    *size = lg->n;
    *note = lg->cp;
    *len = lg->cp_len;
    return QL_OK;
}

static ql_err
au_next_cosignature(void *ctx, uint64_t *size, const char **cosigner,
                    const char **line, struct ql_diag *d)
{
    struct au_log *lg = ctx;

    if (lg->cosig == NULL || lg->cs_given)
        return ql_fail(d, QL_ENOTFOUND, "no more cosignatures");
    lg->cs_given = true;
    *size = lg->n;
    *cosigner = lg->cosigner;
    *line = lg->cosig;
    return QL_OK;
}

static ql_err
au_hash(void *ctx, unsigned level, uint64_t index, uint8_t out[QL_HASH_LEN],
        struct ql_diag *d)
{
    struct au_log *lg = ctx;
    uint64_t first;

    if (level >= 10 || index > (uint64_t)AU_ENTRIES_MAX >> level ||
        ((index + 1) << level) > lg->n)
        return ql_fail(d, QL_EINTEGRITY, "no tree hash %u/%llu", level,
                       (unsigned long long)index);
    first = index << level;
    ql_merkle_root_of_leaves(ql_profile_default(), out, lg->leaf[first],
                             (size_t)1 << level);
    return QL_OK;
}

static ql_err
au_run(struct au_log *lg, unsigned jobs, struct ql_audit_result *res,
       struct ql_diag *d)
{
    struct ql_audit_source src;
    struct ql_audit_opts opts;

    memset(&src, 0, sizeof src);
    src.ctx = lg;
    src.size = lg->n;
    src.stride = 1;
    src.next_entry = au_next_entry;
    src.next_checkpoint = au_next_checkpoint;
    src.next_cosignature = au_next_cosignature;
    src.hash = au_hash;
    lg->next = 0;
    lg->cp_given = lg->cs_given = false;
    memset(&opts, 0, sizeof opts);
    opts.trust = qlf_named_key("admin");
    opts.jobs = jobs;
    memset(res, 0, sizeof *res);
    ql_diag_clear(d);
    return ql_audit_run(&src, NULL, &opts, res, d);
}

/* True when the comma-separated roles hold role exactly. */
static bool
au_has_role(const char *roles, const char *role)
{
    size_t n = strlen(role);
    const char *p = roles, *comma;

    for (;;) {
        comma = strchr(p, ',');
        if ((comma != NULL ? (size_t)(comma - p) : strlen(p)) == n &&
            strncmp(p, role, n) == 0)
            return true;
        if (comma == NULL)
            return false;
        p = comma + 1;
    }
}

/*
 * Rechecks a log the verifier accepted with rules of its own, written from
 * docs/auditing.md rather than from the verifier: entry 0 is the genesis,
 * signed by the administrator it names; every later entry is signed by
 * the administrator or by a principal registered before it and not
 * revoked; registry entries come from the administrator or a principal
 * with role admin; and nobody approves a proposal of their own.
 */
static void
au_recheck(const struct au_log *lg)
{
    static struct {
        char name[QL_KEY_NAME_MAX + 1];
        bool admin, revoked;
    } prs[AU_ENTRIES_MAX];
    static char actors[AU_ENTRIES_MAX][QL_KEY_NAME_MAX + 1];
    char admin[QL_KEY_NAME_MAX + 1] = "";
    size_t npr = 0, i, j, tlen = 0;

    for (i = 0; i < lg->n; i++) {
        struct ql_note *n = NULL;
        struct ql_entry e;
        const char *text, *v;
        bool registry;
        size_t who = SIZE_MAX;

        ql_entry_init(&e);
        QLF_CHECK(ql_note_parse(lg->note[i], lg->len[i], &n, NULL) == QL_OK);
        text = ql_note_text(n, &tlen);
        QLF_CHECK(ql_entry_parse(text, tlen, &e, NULL) == QL_OK);
        QLF_CHECK(e.index == i);
        snprintf(actors[i], sizeof actors[i], "%s", e.actor);
        if (i == 0) {
            QLF_CHECK(strcmp(e.action, "genesis") == 0);
            v = ql_entry_get_clear(&e, "admin_key");
            QLF_CHECK(v != NULL && strchr(v, '+') != NULL);
            snprintf(admin, sizeof admin, "%.*s", (int)(strchr(v, '+') - v), v);
            QLF_CHECK(strcmp(e.actor, admin) == 0);
        } else if (strcmp(e.actor, admin) != 0) {
            for (j = 0; j < npr && who == SIZE_MAX; j++)
                if (strcmp(prs[j].name, e.actor) == 0)
                    who = j;
            QLF_CHECK(who != SIZE_MAX && !prs[who].revoked);
        }
        registry = strcmp(e.action, "unit.add") == 0 ||
                   strcmp(e.action, "principal.add") == 0 ||
                   strcmp(e.action, "principal.revoke") == 0 ||
                   strcmp(e.action, "workflow.add") == 0 ||
                   strcmp(e.action, "calendar.set") == 0;
        if (i > 0 && registry)
            QLF_CHECK(who == SIZE_MAX || prs[who].admin);
        if (strcmp(e.action, "principal.add") == 0 && npr < AU_ENTRIES_MAX) {
            const char *roles = ql_entry_get_clear(&e, "roles");

            v = ql_entry_get_clear(&e, "key");
            QLF_CHECK(v != NULL && strchr(v, '+') != NULL && roles != NULL);
            snprintf(prs[npr].name, sizeof prs[npr].name, "%.*s",
                     (int)(strchr(v, '+') - v), v);
            prs[npr].admin = au_has_role(roles, "admin");
            prs[npr].revoked = false;
            npr++;
        }
        if (strcmp(e.action, "principal.revoke") == 0) {
            v = ql_entry_get_clear(&e, "principal");
            for (j = 0; v != NULL && j < npr; j++)
                if (strcmp(prs[j].name, v) == 0)
                    prs[j].revoked = true;
        }
        if (strcmp(e.action, "lead.approve") == 0) {
            unsigned long long p;
            char *end = NULL;

            v = ql_entry_get_clear(&e, "_proposal");
            QLF_CHECK(v != NULL);
            p = strtoull(v, &end, 10);
            QLF_CHECK(*end == '\0' && p < i);
            QLF_CHECK(strcmp(actors[p], e.actor) != 0);
        }
        ql_entry_release(&e);
        ql_note_free(n);
    }
}

int
qlf_audit(const uint8_t *data, size_t size)
{
    static struct au_log lg;
    struct ql_audit_result r1, r3;
    struct ql_diag d1, d3;
    uint8_t root[QL_HASH_LEN];
    ql_err rc1, rc3;
    size_t i;

    qlf_setup();
    memset(&lg, 0, sizeof lg);
    au_build(&lg, (const char *)data, size);
    au_sign_checkpoint(&lg);
    rc1 = au_run(&lg, 1, &r1, &d1);
    qlf_last = rc1;
    /* Threads cost time: one input in four is verified on three too. */
    if (size % 4 == 0) {
        rc3 = au_run(&lg, 3, &r3, &d3);
        QLF_CHECK(rc1 == rc3 && r1.bad_index == r3.bad_index);
        if (rc1 != QL_OK)
            QLF_CHECK(strcmp(d1.msg, d3.msg) == 0);
    }
    QLF_CHECK(rc1 == QL_OK || rc1 == QL_EINTEGRITY || rc1 == QL_EVERIFY);
    if (rc1 == QL_OK) {
        QLF_CHECK(r1.entries == lg.n && r1.latest.size == lg.n);
        ql_merkle_root_of_leaves(ql_profile_default(), root, &lg.leaf[0][0],
                                 lg.n);
        QLF_CHECK(memcmp(root, r1.latest.root, QL_HASH_LEN) == 0);
        QLF_CHECK(r1.cosignatures == (lg.cosig != NULL ? 1u : 0u));
        au_recheck(&lg);
    }
    for (i = 0; i < lg.n; i++)
        free(lg.note[i]);
    free(lg.cp);
    free(lg.cosig);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_audit(data, size);
}
#endif
