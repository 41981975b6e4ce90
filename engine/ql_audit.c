/*
 * The streaming verifier (ql_audit.h): batches, worker threads for the
 * signatures, the Merkle tree of the entries seen so far, checkpoints,
 * cosignatures, and the auditor's state. The rules of who may do what are
 * in ql_audit_rules.c; the two sources in ql_audit_source.c.
 */
#include "ql_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ql_audit_impl.h"
#include "ql_codec.h"
#include "ql_county.h"
#include "ql_keys.h"
#include "ql_log.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_store.h"

/* A batch is flushed past this many bytes of copied notes. */
#define BATCH_BYTES (4u * 1024 * 1024)

ql_err
audit_failf(struct audit_fail *f, uint64_t index, int phase, ql_err code,
            const char *fmt, ...)
{
    va_list ap;
    int n;

    if (f->set)
        return code;
    f->set = true;
    f->index = index;
    f->phase = phase;
    f->code = code;
    n = snprintf(f->msg, sizeof f->msg, "entry %llu: ",
                 (unsigned long long)index);
    if (n > 0 && (size_t)n < sizeof f->msg) {
        va_start(ap, fmt);
        vsnprintf(f->msg + n, sizeof f->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- signature jobs ---- */

/*
 * One signature to check: an entry's by its actor, a checkpoint's by the
 * log key. An entry's note was parsed once by the stream, which also
 * found the actor's signature line: the job holds the text and that
 * signature, and checking it is the Ed25519 verification alone. A
 * checkpoint (one in a thousand entries, and with cosignature lines from
 * an export) keeps its whole note and goes through ql_note_verify.
 */
struct job {
    uint64_t index;
    int phase;
    size_t off, len; /* the text (PH_SIG) or note (PH_CP_SIG) in the arena */
    const struct ql_key *key; /* borrowed from the rules */
    uint64_t cp_size;         /* the checkpoint's size (PH_CP_SIG) */
    uint8_t sig[QL_SIG_MAX];  /* the actor's signature (PH_SIG) */
    size_t sig_len;
    bool twice;               /* the actor signed a second line too */
    bool bad;                 /* the signature does not verify */
    bool oom;                 /* out of memory: no verdict */
    char why[QL_DIAG_MSG];
};

/*
 * The texts of a batch's jobs live back to back in one arena that keeps
 * its size from batch to batch: nothing is allocated per entry.
 */
struct batch {
    struct job *jobs;
    size_t n, cap;
    char *arena;
    size_t bytes, arena_cap;
};

/*
 * Checks one signature job, writing only into it. An entry's job says
 * what ql_note_verify with the actor's key alone would say: the first of
 * the actor's lines is checked, then a second one is refused.
 */
static void
verify_job(const struct batch *b, struct job *j)
{
    const char *text = b->arena + j->off;
    struct ql_note_key nk;
    struct ql_diag dd;
    ql_err rc;

    if (j->bad)
        return; /* settled by the stream: no line by the actor */
    if (j->phase == PH_SIG) {
        if (ql_key_verify(j->key, text, j->len, j->sig, j->sig_len) != QL_OK) {
            j->bad = true;
            snprintf(j->why, sizeof j->why,
                     "signature by key '%s' does not verify",
                     ql_key_name(j->key));
        } else if (j->twice) {
            j->bad = true;
            snprintf(j->why, sizeof j->why,
                     "note has two signatures by key '%s'",
                     ql_key_name(j->key));
        }
        return;
    }
    memset(&nk, 0, sizeof nk);
    nk.key = j->key;
    ql_diag_clear(&dd);
    rc = ql_note_verify(text, j->len, &nk, 1, NULL, &dd);
    if (rc == QL_ENOMEM) {
        j->oom = true;
    } else if (rc != QL_OK || !nk.verified) {
        j->bad = true;
        snprintf(j->why, sizeof j->why, "%s",
                 dd.msg[0] ? dd.msg : "not signed");
    }
}

/*
 * With more than one job the signatures of one batch are checked by a
 * pool of threads while the stream reads and judges the next batch; when
 * the stream has filled it, its thread joins in on what is left of the
 * batch before, settles it, and hands the pool the new one. Jobs are taken
 * one at a time under the mutex, so the work balances itself; each job is
 * written only by the thread that took it.
 */
struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* the threads wait for a batch or the stop */
    pthread_cond_t done; /* the stream waits for the batch's last job */
    struct batch *b;     /* the batch in hand, or NULL */
    size_t next;         /* its first job nobody has taken */
    size_t ndone;
    bool stop;
    pthread_t th[QL_AUDIT_JOBS_MAX];
    size_t nth;
};

static void *
pool_main(void *arg)
{
    struct pool *p = arg;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct batch *b;
        size_t i;

        while (!p->stop && (p->b == NULL || p->next >= p->b->n))
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        b = p->b;
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        verify_job(b, &b->jobs[i]);
        pthread_mutex_lock(&p->mu);
        if (++p->ndone == b->n)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Starts threads - 1 helpers; false when none could be started. */
static bool
pool_start(struct pool *p, unsigned threads)
{
    size_t want = threads > QL_AUDIT_JOBS_MAX ? QL_AUDIT_JOBS_MAX : threads;

    p->b = NULL;
    p->next = p->ndone = 0;
    p->stop = false;
    p->nth = 0;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return false;
    if (pthread_cond_init(&p->work, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        return false;
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        return false;
    }
    while (p->nth + 1 < want &&
           pthread_create(&p->th[p->nth], NULL, pool_main, p) == 0)
        p->nth++;
    if (p->nth > 0)
        return true;
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    return false;
}

static void
pool_stop(struct pool *p)
{
    size_t i;

    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nth; i++)
        pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
}

/* Hands the pool a batch; it must not change until pool_finish. */
static void
pool_submit(struct pool *p, struct batch *b)
{
    pthread_mutex_lock(&p->mu);
    p->b = b;
    p->next = 0;
    p->ndone = 0;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

/* Checks what is left of the batch in hand here, then waits for the rest. */
static void
pool_finish(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->b != NULL && p->next < p->b->n) {
        struct batch *b = p->b;
        size_t i = p->next++;

        pthread_mutex_unlock(&p->mu);
        verify_job(b, &b->jobs[i]);
        pthread_mutex_lock(&p->mu);
        ++p->ndone;
    }
    while (p->b != NULL && p->ndone < p->b->n)
        pthread_cond_wait(&p->done, &p->mu);
    p->b = NULL;
    pthread_mutex_unlock(&p->mu);
}

static void
batch_clear(struct batch *b)
{
    b->n = 0;
    b->bytes = 0;
}

static void
batch_release(struct batch *b)
{
    free(b->jobs);
    free(b->arena);
    memset(b, 0, sizeof *b);
}

/*
 * Adds a job for text (len bytes, copied into the arena) and returns it,
 * zeroed but for its text, index, phase and key.
 */
static ql_err
batch_add(struct batch *b, uint64_t index, int phase, const void *text,
          size_t len, const struct ql_key *key, struct job **out,
          struct ql_diag *d)
{
    struct job *j;

    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct job *p = realloc(b->jobs, cap * sizeof *p);

        if (p == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        b->jobs = p;
        b->cap = cap;
    }
    if (b->bytes + len + 1 > b->arena_cap) {
        size_t cap = b->arena_cap ? b->arena_cap : 64 * 1024;
        char *p;

        while (cap < b->bytes + len + 1)
            cap *= 2;
        if ((p = realloc(b->arena, cap)) == NULL)
            return ql_fail(d, QL_ENOMEM, NULL);
        b->arena = p;
        b->arena_cap = cap;
    }
    j = &b->jobs[b->n];
    memset(j, 0, offsetof(struct job, why));
    j->why[0] = '\0';
    memcpy(b->arena + b->bytes, text, len);
    b->arena[b->bytes + len] = '\0';
    j->off = b->bytes;
    j->len = len;
    j->index = index;
    j->phase = phase;
    j->key = key;
    b->n++;
    b->bytes += len + 1;
    *out = j;
    return QL_OK;
}

/*
 * The job for entry index, signed (it says) by key with key ID id: the
 * text of the parsed note n and the first of the key's signature lines.
 * Whatever ql_note_verify would refuse before any arithmetic (no line by
 * the key, a line of the wrong length) is settled here, in its words.
 */
static ql_err
entry_job(struct batch *b, uint64_t index, const struct ql_note *n,
          const struct ql_key *key, uint32_t id, struct ql_diag *d)
{
    const char *name = ql_key_name(key), *text;
    const struct ql_note_sig *first = NULL;
    size_t i, count = ql_note_sig_count(n), tlen, want;
    struct job *j;
    ql_err rc;

    text = ql_note_text(n, &tlen);
    if ((rc = batch_add(b, index, PH_SIG, text, tlen, key, &j, d)) != QL_OK)
        return rc;
    for (i = 0; i < count; i++) {
        const struct ql_note_sig *sg = ql_note_sig(n, i);

        if (sg->id != id || strcmp(sg->name, name) != 0)
            continue; /* another key's line: ignored, as the spec says */
        if (first != NULL) {
            j->twice = true;
            break;
        }
        first = sg;
    }
    want = ql_profile_sig_len(ql_key_profile(key));
    if (first == NULL) {
        j->bad = true;
        snprintf(j->why, sizeof j->why,
                 "note has no signature by a known key (%zu by unknown "
                 "keys)",
                 count);
    } else if (first->sig_len != want || want > sizeof j->sig) {
        j->bad = true;
        snprintf(j->why, sizeof j->why,
                 "signature by key '%s' is %zu bytes, not %zu", name,
                 first->sig_len + 4, want + 4);
    } else {
        memcpy(j->sig, first->sig, want);
        j->sig_len = want;
    }
    return QL_OK;
}

/* ---- one run ---- */

struct run {
    const struct ql_audit_source *src;
    const struct ql_profile *p;
    const struct ql_audit_opts *o;
    struct ql_audit_result *res;
    struct audit_rules *rules;
    struct audit_fail f;
    struct batch b;       /* the batch the stream is filling */
    struct batch inflight; /* the batch the pool is checking */
    bool pooled;           /* a pool runs: r->pool is set up */
    struct pool pool;
    unsigned jobs;

    /* The roots of the complete subtrees of the entries seen so far. */
    uint8_t stack[64][QL_HASH_LEN];
    size_t depth;
    uint64_t size;

    /* The next checkpoint and cosignature the sources hold. */
    bool cp_have;
    uint64_t cp_size;
    const char *cp_note;
    size_t cp_len;
    bool cs_have;
    uint64_t cs_size;
    const char *cs_name, *cs_line;

    bool have_latest;
    uint64_t latest_size;
    uint8_t latest_root[QL_HASH_LEN];
};

/* The source's hashes as a Merkle store, for proofs and old roots. */
static ql_err
src_get(void *ctx, unsigned level, uint64_t index, uint8_t out[QL_HASH_LEN],
        struct ql_diag *d)
{
    const struct ql_audit_source *src = ctx;

    return src->hash(src->ctx, level, index, out, d);
}

static ql_err
src_root(void *ctx, uint64_t n, uint8_t out[QL_HASH_LEN], struct ql_diag *d)
{
    struct run *r = ctx;
    struct ql_merkle_store ms = {(void *)r->src,
                                 r->src->hash != NULL ? src_get : NULL, NULL};

    return ql_merkle_root(r->p, &ms, n, out, d);
}

/* The root of the first r->size entries, from the stack. */
static void
prefix_root(const struct run *r, uint8_t out[QL_HASH_LEN])
{
    size_t i;

    if (r->depth == 0) {
        ql_merkle_empty_root(r->p, out);
        return;
    }
    memcpy(out, r->stack[r->depth - 1], QL_HASH_LEN);
    for (i = r->depth - 1; i-- > 0;)
        ql_merkle_node_hash(r->p, out, r->stack[i], out);
}

/* Compares the hash the stream completed with the source's stored one. */
static ql_err
check_stored(struct run *r, unsigned level, uint64_t index,
             const uint8_t h[QL_HASH_LEN], struct ql_diag *d)
{
    uint8_t stored[QL_HASH_LEN];
    struct ql_diag dd;
    ql_err rc;

    if (r->src->stride == 0 || level % r->src->stride != 0 ||
        r->src->hash == NULL)
        return QL_OK;
    ql_diag_clear(&dd);
    rc = r->src->hash(r->src->ctx, level, index, stored, &dd);
    if (rc == QL_EINTEGRITY || rc == QL_ENOTFOUND)
        return audit_failf(&r->f, r->size, PH_HASH, QL_EINTEGRITY,
                           "stored hash %u/%llu: %s", level,
                           (unsigned long long)index, dd.msg);
    if (rc != QL_OK)
        return ql_fail(d, rc, "%s", dd.msg);
    if (memcmp(stored, h, QL_HASH_LEN) != 0)
        return audit_failf(&r->f, r->size, PH_HASH, QL_EINTEGRITY,
                           "the stored hash %u/%llu is not the hash of the "
                           "entries",
                           level, (unsigned long long)index);
    return QL_OK;
}

/*
 * Adds leaf r->size to the stack and checks every stored hash it
 * completes: (0, n), then one level up per trailing one bit of n.
 */
static ql_err
push_leaf(struct run *r, const uint8_t leaf[QL_HASH_LEN], struct ql_diag *d)
{
    uint64_t n = r->size;
    unsigned level = 0;
    ql_err rc;

    memcpy(r->stack[r->depth++], leaf, QL_HASH_LEN);
    if ((rc = check_stored(r, 0, n, leaf, d)) != QL_OK)
        return rc;
    while (n & 1) {
        r->depth--;
        ql_merkle_node_hash(r->p, r->stack[r->depth - 1],
                            r->stack[r->depth - 1], r->stack[r->depth]);
        n >>= 1;
        level++;
        if ((rc = check_stored(r, level, n, r->stack[r->depth - 1], d)) !=
            QL_OK)
            return rc;
    }
    return QL_OK;
}

/* Rebuilds a cosignature line from a parsed signature line. */
static ql_err
sig_line(const struct ql_note_sig *s, char **out, struct ql_diag *d)
{
    uint8_t raw[4 + 256];
    char *line;
    size_t n, blen;

    if (s->sig_len > sizeof raw - 4)
        return ql_fail(d, QL_EFORMAT, "signature line too long");
    raw[0] = (uint8_t)(s->id >> 24);
    raw[1] = (uint8_t)(s->id >> 16);
    raw[2] = (uint8_t)(s->id >> 8);
    raw[3] = (uint8_t)s->id;
    memcpy(raw + 4, s->sig, s->sig_len);
    blen = ql_base64_len(4 + s->sig_len);
    n = strlen("\xe2\x80\x94 ") + strlen(s->name) + 1 + blen + 2;
    if ((line = malloc(n)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    snprintf(line, n, "\xe2\x80\x94 %s ", s->name);
    ql_base64_encode(line + strlen(line), raw, 4 + s->sig_len);
    blen = strlen(line); /* room for the newline is reserved above */
    line[blen] = '\n';
    line[blen + 1] = '\0';
    *out = line;
    return QL_OK;
}

/*
 * Checks one cosignature line on the checkpoint text of size s against
 * name's key, which must be an active auditor's at this point.
 */
static ql_err
check_cosig(struct run *r, uint64_t s, const char *text, size_t tlen,
            const char *name, const char *line, struct ql_diag *d)
{
    const struct ql_key *k;
    struct ql_diag dd;
    uint64_t ts = 0;
    char why[QL_DIAG_MSG];
    ql_err rc;

    if ((k = audit_rules_auditor(r->rules, name, why, sizeof why)) == NULL)
        return audit_failf(&r->f, s - 1, PH_COSIG, QL_EVERIFY,
                           "the cosignature of size %llu: %s",
                           (unsigned long long)s, why);
    ql_diag_clear(&dd);
    rc = ql_cosig_verify(k, text, tlen, line, strlen(line), &ts, &dd);
    if (rc == QL_ENOMEM)
        return ql_fail(d, rc, NULL);
    if (rc != QL_OK)
        return audit_failf(&r->f, s - 1, PH_COSIG, QL_EVERIFY,
                           "the cosignature of size %llu by '%s' does not "
                           "verify: %s",
                           (unsigned long long)s, name, dd.msg);
    r->res->cosignatures++;
    return QL_OK;
}

/* Cosignature lines inside a checkpoint note (as an export carries them). */
static ql_err
note_cosigs(struct run *r, uint64_t s, const struct ql_note *n,
            struct ql_diag *d)
{
    const char *text;
    size_t tlen, i;
    ql_err rc = QL_OK;

    text = ql_note_text(n, &tlen);
    for (i = 0; i < ql_note_sig_count(n) && rc == QL_OK; i++) {
        const struct ql_note_sig *sg = ql_note_sig(n, i);
        const struct ql_key *k;
        char why[QL_DIAG_MSG], *line = NULL;

        /* Lines of keys that are not auditors' cosigning keys are not
           ours to judge (the spec: unknown signatures are ignored). */
        k = audit_rules_auditor(r->rules, sg->name, why, sizeof why);
        if (k == NULL || sg->id != ql_key_id(k, QL_KEYTYPE_COSIG))
            continue;
        if ((rc = sig_line(sg, &line, d)) != QL_OK)
            break;
        rc = check_cosig(r, s, text, tlen, sg->name, line, d);
        free(line);
    }
    return rc;
}

static ql_err
next_cp(struct run *r, struct ql_diag *d)
{
    struct ql_diag dd;
    ql_err rc;

    r->cp_have = false;
    if (r->src->next_checkpoint == NULL)
        return QL_OK;
    ql_diag_clear(&dd);
    rc = r->src->next_checkpoint(r->src->ctx, &r->cp_size, &r->cp_note,
                                 &r->cp_len, &dd);
    if (rc == QL_ENOTFOUND)
        return QL_OK;
    if (rc == QL_EINTEGRITY)
        return audit_failf(&r->f, r->size, PH_CP_FORMAT, rc, "%s", dd.msg);
    if (rc != QL_OK)
        return ql_fail(d, rc, "%s", dd.msg);
    r->cp_have = true;
    return QL_OK;
}

static ql_err
next_cs(struct run *r, struct ql_diag *d)
{
    struct ql_diag dd;
    ql_err rc;

    r->cs_have = false;
    if (r->src->next_cosignature == NULL)
        return QL_OK;
    ql_diag_clear(&dd);
    rc = r->src->next_cosignature(r->src->ctx, &r->cs_size, &r->cs_name,
                                  &r->cs_line, &dd);
    if (rc == QL_ENOTFOUND)
        return QL_OK;
    if (rc == QL_EINTEGRITY)
        return audit_failf(&r->f, r->size, PH_COSIG, rc, "%s", dd.msg);
    if (rc != QL_OK)
        return ql_fail(d, rc, "%s", dd.msg);
    r->cs_have = true;
    return QL_OK;
}

/* The checkpoint the source stores for size s = r->size. */
static ql_err
check_checkpoint(struct run *r, const uint8_t root[QL_HASH_LEN],
                 struct ql_diag *d)
{
    uint64_t s = r->size;
    struct ql_note *n = NULL;
    struct ql_checkpoint cp;
    struct ql_diag dd;
    struct job *j;
    const char *text;
    size_t tlen;
    ql_err rc;

    ql_diag_clear(&dd);
    if ((rc = ql_note_parse(r->cp_note, r->cp_len, &n, &dd)) == QL_ENOMEM) {
        rc = ql_fail(d, rc, NULL);
        goto out;
    }
    if (rc != QL_OK) {
        rc = audit_failf(&r->f, s - 1, PH_CP_FORMAT, QL_EINTEGRITY,
                         "the checkpoint of size %llu is malformed: %s",
                         (unsigned long long)s, dd.msg);
        goto out;
    }
    text = ql_note_text(n, &tlen);
    if (ql_checkpoint_parse(text, tlen, &cp, &dd) != QL_OK) {
        rc = audit_failf(&r->f, s - 1, PH_CP_FORMAT, QL_EINTEGRITY,
                         "the checkpoint of size %llu is malformed: %s",
                         (unsigned long long)s, dd.msg);
        goto out;
    }
    if ((rc = batch_add(&r->b, s - 1, PH_CP_SIG, r->cp_note, r->cp_len,
                        audit_rules_log_key(r->rules), &j, d)) != QL_OK)
        goto out;
    j->cp_size = s;
    if (cp.size != s || strcmp(cp.origin, audit_rules_origin(r->rules)) != 0 ||
        memcmp(cp.root, root, QL_HASH_LEN) != 0) {
        rc = audit_failf(&r->f, s - 1, PH_CP_ROOT, QL_EINTEGRITY,
                         "the checkpoint of size %llu does not state the "
                         "log's origin, size and root of its first %llu "
                         "entries",
                         (unsigned long long)s, (unsigned long long)s);
        goto out;
    }
    if ((rc = note_cosigs(r, s, n, d)) != QL_OK)
        goto out;
    r->res->checkpoints++;
    r->have_latest = true;
    r->latest_size = s;
    memcpy(r->latest_root, root, QL_HASH_LEN);
out:
    ql_note_free(n);
    return rc;
}

/* Everything that happens when the stream reaches size r->size. */
static ql_err
at_size(struct run *r, struct ql_diag *d)
{
    uint64_t s = r->size;
    uint8_t root[QL_HASH_LEN];
    ql_err rc;

    /* Most sizes have nothing to compare a root with: fold only if one does. */
    if (!(r->cp_have && r->cp_size <= s) && !(r->cs_have && r->cs_size <= s) &&
        !(r->o->state != NULL && r->o->state->size == s))
        return QL_OK;
    prefix_root(r, root);
    while (r->cp_have && r->cp_size <= s) {
        if (r->cp_size < s)
            return audit_failf(&r->f, s - 1, PH_CP_FORMAT, QL_EINTEGRITY,
                               "the checkpoints are out of order at size "
                               "%llu",
                               (unsigned long long)r->cp_size);
        if ((rc = check_checkpoint(r, root, d)) != QL_OK ||
            (rc = next_cp(r, d)) != QL_OK)
            return rc;
    }
    while (r->cs_have && r->cs_size <= s) {
        struct ql_checkpoint cp;
        char *text = NULL;
        size_t tlen = 0;

        if (r->cs_size < s)
            return audit_failf(&r->f, s - 1, PH_COSIG, QL_EINTEGRITY,
                               "the cosignatures are out of order at size "
                               "%llu",
                               (unsigned long long)r->cs_size);
        /* A cosignature signs the checkpoint text; rebuilt from the log,
           it also says the cosigner saw this log's root. */
        memset(&cp, 0, sizeof cp);
        snprintf(cp.origin, sizeof cp.origin, "%s",
                 audit_rules_origin(r->rules));
        cp.size = s;
        memcpy(cp.root, root, QL_HASH_LEN);
        if ((rc = ql_checkpoint_format(&cp, &text, &tlen, d)) != QL_OK)
            return rc;
        rc = check_cosig(r, s, text, tlen, r->cs_name, r->cs_line, d);
        free(text);
        if (rc != QL_OK || (rc = next_cs(r, d)) != QL_OK)
            return rc;
    }
    if (r->o->state != NULL && r->o->state->size == s &&
        memcmp(r->o->state->root, root, QL_HASH_LEN) != 0)
        return audit_failf(&r->f, s - 1, PH_STATE, QL_EINTEGRITY,
                           "fork: the log's first %llu entries are not the "
                           "ones verified before (another root at that "
                           "size)",
                           (unsigned long long)s);
    return QL_OK;
}

static ql_err
one_entry(struct run *r, const struct ql_audit_entry *ent, struct ql_diag *d)
{
    uint64_t k = r->size;
    uint8_t leaf[QL_HASH_LEN];
    const struct ql_key *key = NULL;
    uint32_t key_id = 0;
    struct ql_note *n = NULL;
    struct ql_entry e;
    struct ql_diag dd;
    const char *text;
    size_t tlen;
    ql_err rc;

    ql_entry_init(&e);
    ql_diag_clear(&dd);
    if (ent->index > k) {
        rc = audit_failf(&r->f, k, PH_ENTRY, QL_EINTEGRITY,
                         "is missing (the next entry stored is %llu)",
                         (unsigned long long)ent->index);
        goto out;
    }
    if (ent->index < k) {
        rc = audit_failf(&r->f, k, PH_ENTRY, QL_EINTEGRITY,
                         "is out of order (entry %llu comes again)",
                         (unsigned long long)ent->index);
        goto out;
    }
    if (ent->len > QL_ENTRY_MAX) {
        rc = audit_failf(&r->f, k, PH_ENTRY, QL_EINTEGRITY,
                         "is %zu bytes, more than an entry may be", ent->len);
        goto out;
    }
    ql_merkle_leaf_hash(r->p, leaf, ent->note, ent->len);
    if (ent->leaf != NULL && memcmp(ent->leaf, leaf, QL_HASH_LEN) != 0) {
        rc = audit_failf(&r->f, k, PH_ENTRY, QL_EINTEGRITY,
                         "the stored leaf hash is not the entry's");
        goto out;
    }
    if ((rc = ql_note_parse(ent->note, ent->len, &n, &dd)) != QL_OK ||
        (text = ql_note_text(n, &tlen),
         (rc = ql_entry_parse(text, tlen, &e, &dd)) != QL_OK)) {
        rc = rc == QL_ENOMEM
                 ? ql_fail(d, rc, NULL)
                 : audit_failf(&r->f, k, PH_ENTRY, QL_EINTEGRITY,
                               "malformed entry: %s", dd.msg);
        goto out;
    }
    if (e.index != k) {
        rc = audit_failf(&r->f, k, PH_ENTRY, QL_EINTEGRITY,
                         "carries index %llu: entries were removed, "
                         "inserted or reordered",
                         (unsigned long long)e.index);
        goto out;
    }
    if ((rc = audit_rules_signer(r->rules, &e, &key, &key_id, &r->f, d)) !=
            QL_OK ||
        (rc = entry_job(&r->b, k, n, key, key_id, d)) != QL_OK ||
        (rc = audit_rules_apply(r->rules, &e, &r->f, d)) != QL_OK ||
        (rc = push_leaf(r, leaf, d)) != QL_OK)
        goto out;
    r->size++;
    rc = at_size(r, d);
out:
    ql_entry_release(&e);
    ql_note_free(n);
    return rc;
}

/* Checks after the last entry: nothing cut off, covered, consistent. */
static ql_err
end_checks(struct run *r, struct ql_diag *d)
{
    const struct ql_audit_state *st = r->o->state;
    uint64_t n = r->size;
    struct ql_merkle_store ms = {(void *)r->src, src_get, NULL};
    struct ql_merkle_proof proof;
    struct ql_diag dd;
    ql_err rc;

    if (n == 0)
        return audit_failf(&r->f, 0, PH_END, QL_EINTEGRITY,
                           "the log is empty");
    if (r->cp_have)
        return audit_failf(&r->f, n, PH_END, QL_EINTEGRITY,
                           "the log ends after %llu entries, but a "
                           "checkpoint covers %llu: entries were removed "
                           "from its end",
                           (unsigned long long)n,
                           (unsigned long long)r->cp_size);
    if (r->cs_have)
        return audit_failf(&r->f, n, PH_END, QL_EINTEGRITY,
                           "the log ends after %llu entries, but a "
                           "cosignature covers %llu: entries were removed "
                           "from its end",
                           (unsigned long long)n,
                           (unsigned long long)r->cs_size);
    if (st != NULL && st->size > n)
        return audit_failf(&r->f, n, PH_END, QL_EINTEGRITY,
                           "rollback: the log has %llu entries, fewer than "
                           "the %llu of the checkpoint verified before",
                           (unsigned long long)n,
                           (unsigned long long)st->size);
    if (!r->have_latest)
        return audit_failf(&r->f, 0, PH_END, QL_EINTEGRITY,
                           "no checkpoint signed by the log key covers the "
                           "log");
    if (r->latest_size != n)
        return audit_failf(&r->f, r->latest_size, PH_END, QL_EINTEGRITY,
                           "entries from %llu on are covered by no "
                           "checkpoint signed by the log key",
                           (unsigned long long)r->latest_size);
    if (st != NULL && st->size > 0 && st->size < n && r->src->hash != NULL) {
        /* The protocol of a monitor: a proof that the new checkpoint
           extends the old one, made from the source's stored hashes. */
        ql_diag_clear(&dd);
        rc = ql_merkle_prove_consistency(r->p, &ms, st->size, n, &proof,
                                         &dd);
        if (rc == QL_OK)
            rc = ql_merkle_verify_consistency(r->p, st->size, n, &proof,
                                              st->root, r->latest_root, &dd);
        if (rc == QL_ENOMEM || rc == QL_ESTORE || rc == QL_EIO)
            return ql_fail(d, rc, "%s", dd.msg);
        if (rc != QL_OK)
            return audit_failf(&r->f, st->size - 1, PH_END, QL_EINTEGRITY,
                               "fork: no consistency proof from the "
                               "checkpoint of size %llu verified before: %s",
                               (unsigned long long)st->size, dd.msg);
    }
    return QL_OK;
}

/*
 * Runs the batch's signature jobs and settles its verdict in r->f: the
 * first failing job, unless the sequential checks failed earlier in log
 * order. Returns QL_ENOMEM when a job could not be judged, else QL_OK.
 */
/* Turns a checked batch's verdicts into the run's failure, in log order. */
static ql_err
settle(struct run *r, struct batch *b, struct ql_diag *d)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        if (b->jobs[i].oom) {
            batch_clear(b);
            return ql_fail(d, QL_ENOMEM, NULL);
        }
    for (i = 0; i < b->n; i++) {
        const struct job *j = &b->jobs[i];

        if (!j->bad)
            continue;
        /* The checks after the last entry come after every entry's,
           whatever index they name. */
        if (!r->f.set || r->f.phase == PH_END || j->index < r->f.index ||
            (j->index == r->f.index && j->phase < r->f.phase)) {
            r->f.set = false;
            if (j->phase == PH_SIG)
                audit_failf(&r->f, j->index, j->phase, QL_EVERIFY,
                            "bad signature by '%s': %s", ql_key_name(j->key),
                            j->why);
            else
                audit_failf(&r->f, j->index, j->phase, QL_EVERIFY,
                            "the checkpoint of size %llu is not signed by "
                            "the log key: %s",
                            (unsigned long long)j->cp_size, j->why);
        }
        break; /* jobs are in log order: the first bad one is the one */
    }
    batch_clear(b);
    return QL_OK;
}

/*
 * Checks the signatures gathered so far. Without a pool, here and now.
 * With one, settles the batch the pool was checking (helping it finish)
 * and hands it the new one, which the next flush settles; the last flush
 * (last) settles that one too.
 */
static ql_err
flush(struct run *r, bool last, struct ql_diag *d)
{
    struct batch t;
    size_t i;
    ql_err rc = QL_OK;

    if (!r->pooled) {
        for (i = 0; i < r->b.n; i++)
            verify_job(&r->b, &r->b.jobs[i]);
        rc = settle(r, &r->b, d);
    } else {
        pool_finish(&r->pool);
        if ((rc = settle(r, &r->inflight, d)) != QL_OK)
            return rc;
        t = r->inflight;
        r->inflight = r->b;
        r->b = t;
        if (r->inflight.n > 0)
            pool_submit(&r->pool, &r->inflight);
        if (last) {
            pool_finish(&r->pool);
            rc = settle(r, &r->inflight, d);
        }
    }
    if (rc == QL_OK && r->o->progress != NULL)
        r->o->progress(r->o->progress_ctx, r->size, r->src->size);
    return rc;
}

ql_err
ql_audit_run(const struct ql_audit_source *src,
             const struct ql_profile *profile,
             const struct ql_audit_opts *opts, struct ql_audit_result *res,
             struct ql_diag *d)
{
    struct ql_audit_opts none;
    struct ql_audit_result local;
    struct run *r = calloc(1, sizeof *r);
    struct ql_audit_entry ent;
    struct ql_diag dd;
    ql_err rc;

    if (r == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    if (opts == NULL) {
        memset(&none, 0, sizeof none);
        opts = &none;
    }
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    res->bad_index = QL_AUDIT_NO_INDEX;
    r->src = src;
    r->p = profile != NULL        ? profile
           : src->profile != NULL ? src->profile
                                  : ql_profile_default();
    r->o = opts;
    r->res = res;
    r->jobs = opts->jobs;
    r->pooled = r->jobs > 1 && pool_start(&r->pool, r->jobs);
    if (src->next_entry == NULL) {
        rc = ql_fail(d, QL_EUSAGE, "the source has no entries to give");
        goto out;
    }
    if ((rc = audit_rules_new(r->p, opts->trust, src->origin, opts->state,
                              src_root, r, &r->rules, d)) != QL_OK)
        goto out;
    /* A source that fails here has its failure recorded in r->f. */
    if (((rc = next_cp(r, d)) != QL_OK ||
         (!r->f.set && (rc = next_cs(r, d)) != QL_OK)) &&
        !r->f.set)
        goto out;
    if (r->cp_have && r->cp_size == 0)
        audit_failf(&r->f, 0, PH_ENTRY, QL_EINTEGRITY,
                    "a checkpoint of the empty log: the genesis entry is "
                    "in every checkpoint");
    while (!r->f.set) {
        ql_diag_clear(&dd);
        rc = src->next_entry(src->ctx, &ent, &dd);
        if (rc == QL_ENOTFOUND)
            break;
        if (rc == QL_EINTEGRITY) {
            audit_failf(&r->f, r->size, PH_ENTRY, rc, "%s", dd.msg);
            break;
        }
        if (rc != QL_OK) {
            rc = ql_fail(d, rc, "%s", dd.msg);
            goto out;
        }
        if ((rc = one_entry(r, &ent, d)) != QL_OK && !r->f.set)
            goto out;
        if ((r->b.n >= QL_AUDIT_BATCH || r->b.bytes >= BATCH_BYTES) &&
            (rc = flush(r, false, d)) != QL_OK)
            goto out;
    }
    if (!r->f.set && (rc = end_checks(r, d)) != QL_OK && !r->f.set)
        goto out;
    if ((rc = flush(r, true, d)) != QL_OK)
        goto out;
    res->leads = audit_rules_leads(r->rules);
    res->declarations = audit_rules_declarations(r->rules);
    if (r->f.set) {
        res->bad_index = r->f.index;
        res->entries = r->f.index < r->size ? r->f.index : r->size;
        rc = ql_fail(d, r->f.code, "%s", r->f.msg);
        goto out;
    }
    res->entries = r->size;
    snprintf(res->latest.origin, sizeof res->latest.origin, "%s",
             audit_rules_origin(r->rules));
    res->latest.size = r->latest_size;
    memcpy(res->latest.root, r->latest_root, QL_HASH_LEN);
    if (opts->cosigner != NULL) {
        char why[QL_DIAG_MSG];
        const struct ql_key *k = audit_rules_auditor(
            r->rules, ql_key_name(opts->cosigner), why, sizeof why);

        res->cosigner_ok = k != NULL && ql_key_same_public(k, opts->cosigner);
    }
    rc = QL_OK;
out:
    if (r->pooled) {
        /* No thread may still hold a job of a batch about to be freed. */
        pool_finish(&r->pool);
        pool_stop(&r->pool);
    }
    batch_release(&r->b);
    batch_release(&r->inflight);
    audit_rules_free(r->rules);
    free(r);
    return rc;
}

ql_err
ql_audit_verify(struct ql_county *c, const struct ql_key *trust,
                struct ql_audit_result *res, struct ql_diag *d)
{
    struct ql_audit_source *src = NULL;
    struct ql_audit_opts o;
    ql_err rc;

    memset(&o, 0, sizeof o);
    o.trust = trust;
    if ((rc = ql_audit_source_store(c, &src, d)) != QL_OK) {
        if (res != NULL) {
            memset(res, 0, sizeof *res);
            res->bad_index = QL_AUDIT_NO_INDEX;
        }
        return rc;
    }
    rc = ql_audit_run(src, ql_log_profile(ql_county_log(c)), &o, res, d);
    ql_audit_source_free(src);
    return rc;
}

/* ---- the store's checkpoint as published, and cosigning ---- */

ql_err
ql_audit_checkpoint(struct ql_county *c, char **note, size_t *len,
                    uint64_t *size, struct ql_diag *d)
{
    static const char SQL[] =
        "SELECT line FROM cosignatures WHERE size = ?1 ORDER BY id";
    struct ql_store *s = ql_county_store(c);
    struct ql_stmt *st = NULL;
    char *cur = NULL, *next = NULL;
    size_t clen, nlen = 0;
    uint64_t got = 0;
    bool row = false;
    ql_err rc;

    if ((rc = ql_store_checkpoint_get(s, UINT64_MAX, &got, &cur, d)) != QL_OK)
        return rc;
    clen = strlen(cur);
    if ((rc = ql_store_prepare(s, SQL, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 1, (int64_t)got, d)) != QL_OK)
        goto out;
    while ((rc = ql_stmt_step(st, &row, d)) == QL_OK && row) {
        const char *line = ql_stmt_text(st, 0);

        if ((rc = ql_note_append(cur, clen, line, strlen(line), &next, &nlen,
                                 d)) != QL_OK)
            goto out;
        free(cur);
        cur = next;
        clen = nlen;
        next = NULL;
    }
    if (rc != QL_OK)
        goto out;
    *note = cur;
    cur = NULL;
    if (len != NULL)
        *len = clen;
    if (size != NULL)
        *size = got;
out:
    ql_stmt_done(st);
    free(cur);
    return rc;
}

ql_err
ql_audit_cosign(struct ql_county *c, const struct ql_key *auditor,
                const struct ql_audit_result *res, int64_t now, char **line,
                bool *already, struct ql_diag *d)
{
    static const char HAVE[] =
        "SELECT line FROM cosignatures WHERE size = ?1 AND cosigner = ?2";
    struct ql_store *s = ql_county_store(c);
    struct ql_stmt *st = NULL;
    struct ql_note *n = NULL;
    struct ql_checkpoint cp;
    char *note = NULL, *mine = NULL;
    const char *text;
    size_t tlen, llen = 0;
    uint64_t got = 0;
    bool row = false;
    ql_err rc;

    if (already != NULL)
        *already = false;
    if (!res->cosigner_ok)
        return ql_fail(d, QL_EDENIED, "'%s' is not an active auditor "
                                      "registered in this log",
                       ql_key_name(auditor));
    if (now < 0)
        return ql_fail(d, QL_EUSAGE, "a cosignature needs a time after 1970");
    if ((rc = ql_store_begin(s, d)) != QL_OK)
        return rc;
    if ((rc = ql_store_checkpoint_get(s, res->latest.size, &got, &note, d)) !=
            QL_OK ||
        (rc = ql_note_parse(note, strlen(note), &n, d)) != QL_OK)
        goto out;
    text = ql_note_text(n, &tlen);
    if ((rc = ql_checkpoint_parse(text, tlen, &cp, d)) != QL_OK)
        goto out;
    if (memcmp(cp.root, res->latest.root, QL_HASH_LEN) != 0) {
        rc = ql_fail(d, QL_EINTEGRITY, "the stored checkpoint of size %llu "
                                       "is not the one verified",
                     (unsigned long long)res->latest.size);
        goto out;
    }
    if ((rc = ql_store_prepare(s, HAVE, &st, d)) != QL_OK ||
        (rc = ql_stmt_bind_int(st, 1, (int64_t)got, d)) != QL_OK ||
        (rc = ql_stmt_bind_text(st, 2, ql_key_name(auditor), d)) != QL_OK ||
        (rc = ql_stmt_step(st, &row, d)) != QL_OK)
        goto out;
    if (row) {
        if ((mine = strdup(ql_stmt_text(st, 0))) == NULL) {
            rc = ql_fail(d, QL_ENOMEM, NULL);
            goto out;
        }
        if (already != NULL)
            *already = true;
    }
    ql_stmt_done(st);
    st = NULL;
    if (!row &&
        ((rc = ql_cosig_sign(auditor, text, tlen, (uint64_t)now, &mine, &llen,
                             d)) != QL_OK ||
         (rc = ql_store_cosignature_put(s, got, ql_key_name(auditor), mine,
                                        now, d)) != QL_OK ||
         (rc = ql_store_commit(s, d)) != QL_OK))
        goto out;
    if (line != NULL) {
        *line = mine;
        mine = NULL;
    }
out:
    ql_stmt_done(st);
    ql_store_rollback(s);
    ql_note_free(n);
    free(note);
    free(mine);
    return rc;
}

/* ---- the state file ---- */

#define STATE_MAGIC "qingling-audit-state/1"

ql_err
ql_audit_state_read(const char *path, struct ql_audit_state *st,
                    struct ql_diag *d)
{
    char buf[1024], origin[QL_ORIGIN_MAX + 2], size_s[32], root_s[64];
    struct ql_audit_state out;
    struct ql_checkpoint cp;
    struct ql_diag dd;
    size_t n;
    int fd;
    ssize_t got;
    char *p, *end;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT)
            return ql_fail(d, QL_ENOTFOUND, "no state file '%s'", path);
        return ql_fail(d, QL_EIO, "cannot open state file '%s': %s", path,
                       strerror(errno));
    }
    n = 0;
    while ((got = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)got;
    close(fd);
    if (got < 0)
        return ql_fail(d, QL_EIO, "cannot read state file '%s'", path);
    buf[n] = '\0';
    if (strlen(buf) != n)
        return ql_fail(d, QL_EFORMAT, "state file '%s' holds a NUL byte",
                       path);
    /* Four lines, in order: the magic, origin, size, root. */
    p = buf;
    if (strncmp(p, STATE_MAGIC "\n", strlen(STATE_MAGIC) + 1) != 0)
        return ql_fail(d, QL_EFORMAT, "state file '%s': line 1 is not '%s'",
                       path, STATE_MAGIC);
    p += strlen(STATE_MAGIC) + 1;
    if (strncmp(p, "origin ", 7) != 0 || (end = strchr(p, '\n')) == NULL ||
        (size_t)(end - p - 7) >= sizeof origin)
        return ql_fail(d, QL_EFORMAT, "state file '%s': line 2 is not "
                                      "'origin NAME'",
                       path);
    memcpy(origin, p + 7, (size_t)(end - p - 7));
    origin[end - p - 7] = '\0';
    p = end + 1;
    if (strncmp(p, "size ", 5) != 0 || (end = strchr(p, '\n')) == NULL ||
        (size_t)(end - p - 5) >= sizeof size_s)
        return ql_fail(d, QL_EFORMAT, "state file '%s': line 3 is not "
                                      "'size N'",
                       path);
    memcpy(size_s, p + 5, (size_t)(end - p - 5));
    size_s[end - p - 5] = '\0';
    p = end + 1;
    if (strncmp(p, "root ", 5) != 0 || (end = strchr(p, '\n')) == NULL ||
        (size_t)(end - p - 5) >= sizeof root_s || end[1] != '\0')
        return ql_fail(d, QL_EFORMAT, "state file '%s': line 4 is not "
                                      "'root BASE64', the last line",
                       path);
    memcpy(root_s, p + 5, (size_t)(end - p - 5));
    root_s[end - p - 5] = '\0';
    /* The three values are a checkpoint's text: let its parser judge. */
    snprintf(buf, sizeof buf, "%s\n%s\n%s\n", origin, size_s, root_s);
    if (ql_checkpoint_parse(buf, strlen(buf), &cp, &dd) != QL_OK)
        return ql_fail(d, QL_EFORMAT, "state file '%s': %s", path, dd.msg);
    memset(&out, 0, sizeof out);
    snprintf(out.origin, sizeof out.origin, "%s", cp.origin);
    out.size = cp.size;
    memcpy(out.root, cp.root, QL_HASH_LEN);
    *st = out;
    return QL_OK;
}

ql_err
ql_audit_state_write(const char *path, const struct ql_audit_state *st,
                     struct ql_diag *d)
{
    char root[64], *tmp = NULL, *text = NULL;
    size_t n, off = 0;
    int fd = -1;
    ql_err rc = QL_OK;

    ql_base64_encode(root, st->root, QL_HASH_LEN);
    n = strlen(path) + 32;
    if ((tmp = malloc(n)) == NULL ||
        (text = malloc(strlen(st->origin) + 160)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, NULL);
        goto out;
    }
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    snprintf(text, strlen(st->origin) + 160,
             STATE_MAGIC "\norigin %s\nsize %llu\nroot %s\n", st->origin,
             (unsigned long long)st->size, root);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0644);
    if (fd < 0) {
        rc = ql_fail(d, QL_EIO, "cannot write state file '%s': %s", tmp,
                     strerror(errno));
        goto out;
    }
    n = strlen(text);
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);

        if (w < 0) {
            rc = ql_fail(d, errno == ENOSPC ? QL_EFULL : QL_EIO,
                         "cannot write state file '%s': %s", tmp,
                         strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = ql_fail(d, errno == ENOSPC ? QL_EFULL : QL_EIO,
                     "cannot sync state file '%s': %s", tmp,
                     strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = ql_fail(d, QL_EIO, "cannot replace state file '%s': %s", path,
                     strerror(errno));
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc != QL_OK && tmp != NULL)
        unlink(tmp);
    free(tmp);
    free(text);
    return rc;
}
