/* The log over a store: appending, checkpoints, proofs (ql_log.h). */
#include "ql_log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_keys.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_store.h"

/* Entries with more signers than this are signed at once. */
#define PENDING_SIGNERS 4

/*
 * The signing queue's records are allocated this many at a time and kept
 * for the log's life: a calloc and a free an entry cost about 570
 * instructions on the writing thread.
 */
#define PENDING_BLOCK 64

/* A waiting signing thread is woken when this many entries wait for it. */
#define SIGN_WAKE_AT 16

/*
 * The writing thread stores signed entries, in order, once this many are
 * ready, and this many at most at a time (store_ready).
 */
#define STORE_RUN 64

/* An entry formatted and numbered, waiting for its signatures. */
struct pending {
    uint64_t idx;
    char *text;
    size_t text_len;
    const struct ql_key *signers[PENDING_SIGNERS];
    size_t nsigners;
    const struct ql_profile *profile;
    char *note; /* set by whichever thread signs it, with its leaf hash */
    size_t note_len;
    uint8_t leaf[QL_HASH_LEN];
    ql_err rc;
    bool done; /* signed, by either thread (set under the queue's mutex) */
};

/*
 * Deferred signing (ql_log_defer_begin): appended entries wait here while
 * a second thread signs them. The owning thread stores them, in order, as
 * runs of them are signed, and at the next ql_log_sync the rest, signing
 * beside the signing thread and storing what is signed meanwhile. Only
 * the owning thread appends, reads, stores and syncs; the mutex guards
 * the list, the counters and the done flags against the signing thread.
 */
struct signq {
    pthread_mutex_t mu;
    pthread_cond_t more;   /* the signer waits for work or the stop */
    pthread_cond_t done;   /* the owner waits for the last signatures */
    struct pending **q;
    size_t n, cap;
    size_t made;  /* q[0 .. made) point to records kept for reuse */
    size_t next;  /* the first entry nobody has taken to sign */
    size_t ndone; /* entries signed, whoever signed them */
    size_t nstored; /* q[0 .. nstored) are in the store */
    bool stop;
    bool idle;    /* the signer waits on more */
    bool thread;  /* a signing thread is running */
    pthread_t tid;
};

/*
 * Rows a run hands the store at once: tree hashes go in multiples of the
 * store's largest group of rows a statement (ql_store_tree_put_many), the
 * rest at the run's end. One append adds at most 64 tree hashes, so the buffer
 * is flushed once it has less room than that.
 */
#define SYNC_ENTRIES 64
#define SYNC_GROUP 64
#define SYNC_NODES (2 * SYNC_GROUP + 64)

struct ql_log {
    struct ql_store *store;
    const struct ql_profile *profile;
    char *origin;
    struct ql_merkle_store tree;
    bool deferring;
    uint64_t stored; /* while deferring: entries in the store before the
                        queue (runs of it may be stored too: sq.nstored) */
    struct signq sq;
    /*
     * While deferring, the right edge of the stored tree, so that appends
     * read nothing back. Taken from the store by the first run a batch
     * stores and kept in step by every run after it; any failure or the
     * end of the batch forgets it, and a size other than the next entry's
     * index makes the next run take it again.
     */
    struct ql_merkle_edge edge;
    bool edge_ok;
    /* A run's tree hashes, waiting for one multi-row insert. */
    struct ql_store_tree_row nodes[SYNC_NODES];
    size_t nnodes;
};

static ql_err
tree_get(void *ctx, unsigned level, uint64_t index, uint8_t out[QL_HASH_LEN],
         struct ql_diag *d)
{
    return ql_store_tree_get(ctx, level, index, out, d);
}

static ql_err
tree_put(void *ctx, unsigned level, uint64_t index,
         const uint8_t h[QL_HASH_LEN], struct ql_diag *d)
{
    return ql_store_tree_put(ctx, level, index, h, d);
}

/* Stores the first n buffered tree hashes and keeps the rest in order. */
static ql_err
flush_nodes(struct ql_log *l, size_t n, struct ql_diag *d)
{
    ql_err rc;

    if ((rc = ql_store_tree_put_many(l->store, l->nodes, n, d)) != QL_OK)
        return rc;
    memmove(l->nodes, l->nodes + n, (l->nnodes - n) * sizeof l->nodes[0]);
    l->nnodes -= n;
    return QL_OK;
}

/* The put of a sync: buffers the hash for flush_nodes. */
static ql_err
tree_put_later(void *ctx, unsigned level, uint64_t index,
               const uint8_t h[QL_HASH_LEN], struct ql_diag *d)
{
    struct ql_log *l = ctx;
    struct ql_store_tree_row *w;

    if (l->nnodes == SYNC_NODES)
        return ql_fail(d, QL_EUSAGE, "too many tree hashes waiting");
    w = &l->nodes[l->nnodes++];
    w->level = level;
    w->idx = index;
    memcpy(w->hash, h, QL_HASH_LEN);
    return QL_OK;
}

ql_err
ql_log_init(struct ql_store *s, const char *origin, const struct ql_profile *p,
            struct ql_diag *d)
{
    char *old = NULL;
    ql_err rc;

    if (!ql_key_name_valid(origin))
        return ql_fail(d, QL_EUSAGE,
                       "invalid log origin '%s': it names the log key, so it "
                       "must be a key name (no spaces or '+')",
                       origin);
    rc = ql_store_meta_get(s, "origin", &old, d);
    free(old);
    if (rc == QL_OK)
        return ql_fail(d, QL_EEXIST, "the store already holds a log");
    if (rc != QL_ENOTFOUND)
        return rc;
    if ((rc = ql_store_meta_put(s, "origin", origin, d)) != QL_OK ||
        (rc = ql_store_meta_put(s, "profile", ql_profile_name(p), d)) != QL_OK)
        return rc;
    return QL_OK;
}

ql_err
ql_log_open(struct ql_store *s, struct ql_log **out, struct ql_diag *d)
{
    struct ql_log *l = NULL;
    char *profile = NULL;
    ql_err rc;

    if ((l = calloc(1, sizeof *l)) == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    l->store = s;
    if ((rc = ql_store_meta_get(s, "origin", &l->origin, d)) != QL_OK ||
        (rc = ql_store_meta_get(s, "profile", &profile, d)) != QL_OK) {
        if (rc == QL_ENOTFOUND)
            rc = ql_fail(d, QL_ESTORE, "the store holds no log: run "
                                       "'qingling init' first");
        goto fail;
    }
    if ((l->profile = ql_profile_find(profile)) == NULL) {
        rc = ql_fail(d, QL_EUNSUPPORTED, "the log uses algorithm profile '%s', "
                                         "which this qingling lacks",
                     profile);
        goto fail;
    }
    l->tree.ctx = s;
    l->tree.get = tree_get;
    l->tree.put = tree_put;
    free(profile);
    *out = l;
    return QL_OK;
fail:
    free(profile);
    ql_log_free(l);
    return rc;
}

void
ql_log_free(struct ql_log *l)
{
    size_t i;

    if (l == NULL)
        return;
    ql_log_defer_end(l);
    for (i = 0; i < l->sq.made; i += PENDING_BLOCK)
        free(l->sq.q[i]);
    free(l->sq.q);
    free(l->origin);
    free(l);
}

const char *
ql_log_origin(const struct ql_log *l)
{
    return l->origin;
}

const struct ql_profile *
ql_log_profile(const struct ql_log *l)
{
    return l->profile;
}

ql_err
ql_log_size(struct ql_log *l, uint64_t *size, struct ql_diag *d)
{
    if (l->deferring) {
        *size = l->stored + l->sq.n;
        return QL_OK;
    }
    return ql_store_log_size(l->store, size, d);
}

/* Stores a signed entry note at index idx with its leaf and tree hashes. */
static ql_err
store_note(struct ql_log *l, uint64_t idx, const char *note, size_t len,
           struct ql_diag *d)
{
    uint8_t leaf[QL_HASH_LEN];
    ql_err rc;

    if (len > QL_ENTRY_MAX)
        return ql_fail(d, QL_ETOOBIG,
                       "signed entry is %zu bytes, more than %d", len,
                       QL_ENTRY_MAX);
    ql_merkle_leaf_hash(l->profile, leaf, note, len);
    if ((rc = ql_store_entry_append(l->store, idx, note, len, leaf, d)) !=
        QL_OK)
        goto out;
    if (l->edge_ok && l->edge.size == idx)
        rc = ql_merkle_edge_append(l->profile, &l->edge, &l->tree, leaf, d);
    else
        rc = ql_merkle_append(l->profile, &l->tree, idx, leaf, d);
out:
    if (rc != QL_OK || l->edge.size != idx + 1)
        l->edge_ok = false;
    return rc;
}

/*
 * Stores the signed entries q[0 .. n), the first at index first, with
 * their tree hashes: multi-row inserts, and appends to the kept edge,
 * which is taken from the store if it is not at first. Whatever the run,
 * the store then holds every tree hash of the entries it holds.
 */
static ql_err
store_queue(struct ql_log *l, struct pending *const *q, size_t n,
            uint64_t first, struct ql_diag *d)
{
    struct ql_merkle_store later = {l, NULL, tree_put_later};
    struct ql_store_entry_row rows[SYNC_ENTRIES];
    struct pending *p;
    uint64_t at = first;
    size_t i, nrows = 0;
    ql_err rc = QL_OK;

    l->nnodes = 0;
    if ((!l->edge_ok || l->edge.size != first) &&
        (rc = ql_merkle_edge_load(l->profile, &l->tree, first, &l->edge, d)) !=
            QL_OK)
        goto out;
    l->edge_ok = true;
    for (i = 0; i < n; i++) {
        p = q[i];
        if (p->rc != QL_OK) {
            rc = ql_fail(d, p->rc, "cannot sign entry %llu",
                         (unsigned long long)p->idx);
            goto out;
        }
        /* Rows are numbered from first: the queue must be dense. */
        if (p->idx != first + i) {
            rc = ql_fail(d, QL_EUSAGE, "queued entry %llu is out of order",
                         (unsigned long long)p->idx);
            goto out;
        }
        if (p->note_len > QL_ENTRY_MAX) {
            rc = ql_fail(d, QL_ETOOBIG,
                         "signed entry %llu is %zu bytes, "
                         "more than %d",
                         (unsigned long long)p->idx, p->note_len, QL_ENTRY_MAX);
            goto out;
        }
        if (nrows == SYNC_ENTRIES) {
            if ((rc = ql_store_entries_append(l->store, at, rows, nrows, d)) !=
                QL_OK)
                goto out;
            at += nrows;
            nrows = 0;
        }
        rows[nrows].note = p->note;
        rows[nrows].len = p->note_len;
        rows[nrows].leaf_hash = p->leaf;
        nrows++;
        if (SYNC_NODES - l->nnodes < 64 &&
            (rc = flush_nodes(l, l->nnodes - l->nnodes % SYNC_GROUP, d)) !=
                QL_OK)
            goto out;
        if ((rc = ql_merkle_edge_append(l->profile, &l->edge, &later, p->leaf,
                                        d)) != QL_OK)
            goto out;
    }
    if ((rc = ql_store_entries_append(l->store, at, rows, nrows, d)) == QL_OK)
        rc = flush_nodes(l, l->nnodes, d);
out:
    l->nnodes = 0;
    if (rc != QL_OK)
        l->edge_ok = false;
    return rc;
}

/* ---- deferred signing ---- */

/* Frees what p holds; defer fills it anew for its next entry. */
static void
pending_clear(struct pending *p)
{
    free(p->text);
    free(p->note);
    p->text = p->note = NULL;
}

static void
sign_pending(struct pending *p)
{
    p->rc = ql_note_sign(p->text, p->text_len, p->signers, p->nsigners,
                         &p->note, &p->note_len, NULL);
    if (p->rc == QL_OK)
        ql_merkle_leaf_hash(p->profile, p->leaf, p->note, p->note_len);
}

/*
 * Signs p, which the caller took, and marks it done. Called with the
 * mutex held, which it lets go while signing.
 */
static void
sign_taken(struct signq *q, struct pending *p)
{
    pthread_mutex_unlock(&q->mu);
    sign_pending(p);
    pthread_mutex_lock(&q->mu);
    p->done = true;
    q->ndone++;
}

/*
 * Takes the next unsigned entry, or NULL when none is left. Called with
 * the mutex held.
 */
static struct pending *
take(struct signq *q)
{
    return q->next < q->n ? q->q[q->next++] : NULL;
}

static void *
signer_main(void *arg)
{
    struct signq *q = arg;
    struct pending *p;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->next == q->n && !q->stop) {
            q->idle = true;
            pthread_cond_wait(&q->more, &q->mu);
            q->idle = false;
        }
        if ((p = take(q)) == NULL)
            break;
        sign_taken(q, p);
        pthread_cond_signal(&q->done);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/*
 * On the owning thread: stores the signed entries that follow the stored
 * ones, up to STORE_RUN of them, if at least min are ready; *stored says
 * whether it tried (a failure may have stored part of the run). Called with the
 * mutex held, which it lets go while storing. The records stay in the queue
 * (ql_log_read reads them) until the sync drops it.
 */
static ql_err
store_ready(struct ql_log *l, size_t min, bool *stored, struct ql_diag *d)
{
    struct signq *q = &l->sq;
    struct pending *run[STORE_RUN];
    size_t from = q->nstored, k = 0;
    ql_err rc;

    *stored = false;
    /* Stored entries are all signed: fewer than min signed, none ready. */
    if (q->ndone - q->nstored < min)
        return QL_OK;
    while (k < STORE_RUN && from + k < q->n && q->q[from + k]->done) {
        run[k] = q->q[from + k];
        k++;
    }
    if (k == 0 || k < min)
        return QL_OK;
    pthread_mutex_unlock(&q->mu);
    rc = store_queue(l, run, k, l->stored + from, d);
    pthread_mutex_lock(&q->mu);
    if (rc == QL_OK)
        q->nstored += k;
    *stored = true;
    return rc;
}

ql_err
ql_log_defer_begin(struct ql_log *l, struct ql_diag *d)
{
    struct signq *q = &l->sq;
    ql_err rc;

    if (l->deferring)
        return QL_OK;
    if ((rc = ql_store_log_size(l->store, &l->stored, d)) != QL_OK)
        return rc;
    q->n = q->next = q->ndone = q->nstored = 0;
    q->stop = q->idle = q->thread = false;
    l->nnodes = 0;
    if (pthread_mutex_init(&q->mu, NULL) != 0)
        return ql_fail(d, QL_ENOMEM, "cannot set up the signing queue");
    if (pthread_cond_init(&q->more, NULL) != 0) {
        pthread_mutex_destroy(&q->mu);
        return ql_fail(d, QL_ENOMEM, "cannot set up the signing queue");
    }
    if (pthread_cond_init(&q->done, NULL) != 0) {
        pthread_cond_destroy(&q->more);
        pthread_mutex_destroy(&q->mu);
        return ql_fail(d, QL_ENOMEM, "cannot set up the signing queue");
    }
    /* Without a second thread the owner signs everything at the sync. */
    q->thread = pthread_create(&q->tid, NULL, signer_main, q) == 0;
    l->deferring = true;
    l->edge_ok = false;
    return QL_OK;
}

/*
 * Drops every queued entry. The list and its records stay for the next
 * sync and the next batch (see PENDING_BLOCK).
 */
static void
drop_queue(struct signq *q)
{
    size_t i;

    for (i = 0; i < q->n; i++)
        pending_clear(q->q[i]);
    q->n = q->next = q->ndone = q->nstored = 0;
}

void
ql_log_defer_end(struct ql_log *l)
{
    struct signq *q = &l->sq;

    if (!l->deferring)
        return;
    pthread_mutex_lock(&q->mu);
    q->next = q->n; /* nothing more to take */
    q->stop = true;
    pthread_cond_signal(&q->more);
    pthread_mutex_unlock(&q->mu);
    if (q->thread)
        pthread_join(q->tid, NULL);
    drop_queue(q);
    pthread_cond_destroy(&q->done);
    pthread_cond_destroy(&q->more);
    pthread_mutex_destroy(&q->mu);
    /* The list and its empty pendings stay for the next batch. */
    q->stop = q->idle = q->thread = false;
    l->deferring = false;
    l->edge_ok = false;
    l->nnodes = 0;
}

ql_err
ql_log_sync(struct ql_log *l, struct ql_diag *d)
{
    struct signq *q = &l->sq;
    struct pending *p;
    ql_err rc = QL_OK;
    bool stored;
    size_t n;

    if (!l->deferring || q->n == 0)
        return QL_OK;
    /*
     * Beside the signing thread: store what is signed, in order, else
     * sign the next entry, else wait for the signing thread's last
     * signatures. Storing overlaps the signatures left.
     */
    pthread_mutex_lock(&q->mu);
    if (q->idle && q->next < q->n)
        pthread_cond_signal(&q->more);
    while (rc == QL_OK && q->nstored < q->n) {
        if ((rc = store_ready(l, 1, &stored, d)) != QL_OK || stored)
            continue;
        if ((p = take(q)) != NULL)
            sign_taken(q, p);
        else
            pthread_cond_wait(&q->done, &q->mu);
    }
    if (rc != QL_OK) {
        /* Nothing more is signed; the signing thread finishes its own. */
        size_t taken = q->next;

        q->next = q->n;
        while (q->ndone < taken)
            pthread_cond_wait(&q->done, &q->mu);
    }
    n = q->n;
    drop_queue(q);
    pthread_mutex_unlock(&q->mu);
    /* After a failure the caller rolls back; the count is read anew. */
    if (rc == QL_OK)
        l->stored += n;
    else if (ql_store_log_size(l->store, &l->stored, NULL) != QL_OK)
        l->stored = 0;
    return rc;
}

/* Queues an entry's text for signing; takes text on success. */
static ql_err
defer(struct ql_log *l, uint64_t idx, char *text, size_t text_len,
      const struct ql_key *const *signers, size_t nsigners,
      struct ql_diag *d)
{
    struct signq *q = &l->sq;
    struct pending *p = NULL, **grown;
    size_t i;

    /*
     * Only this thread changes the list and made; the signer reads q->q
     * under the mutex, and a pending at q->n or later is nobody's yet.
     */
    pthread_mutex_lock(&q->mu);
    if (q->n == q->made) {
        if (q->made == q->cap) {
            size_t cap = q->cap ? q->cap * 2 : PENDING_BLOCK;

            if ((grown = realloc(q->q, cap * sizeof *grown)) == NULL)
                goto nomem;
            q->q = grown;
            q->cap = cap;
        }
        /* A block of PENDING_BLOCK records; q->q[k * PENDING_BLOCK] is
           the block's start, which ql_log_free frees. */
        if ((p = malloc(PENDING_BLOCK * sizeof *p)) == NULL)
            goto nomem;
        for (i = 0; i < PENDING_BLOCK; i++)
            q->q[q->made++] = &p[i];
    }
    /* Every field but leaf, which a signature writes (not zeroed: a
       block of records cost as much to clear as the callocs it saves). */
    p = q->q[q->n];
    p->idx = idx;
    p->profile = l->profile;
    p->text = text;
    p->text_len = text_len;
    memcpy(p->signers, signers, nsigners * sizeof *signers);
    p->nsigners = nsigners;
    p->note = NULL;
    p->note_len = 0;
    p->rc = QL_OK;
    p->done = false;
    q->n++;
    /*
     * The signer outpaces the writer, so it empties the queue and waits
     * again; waking it for every entry cost a futex call and a context
     * switch each. It is woken when a run of entries waits; a sync signs
     * the rest itself.
     */
    if (q->idle && q->n - q->next >= SIGN_WAKE_AT)
        pthread_cond_signal(&q->more);
    pthread_mutex_unlock(&q->mu);
    return QL_OK;
nomem:
    pthread_mutex_unlock(&q->mu);
    return ql_fail(d, QL_ENOMEM, NULL);
}

/*
 * Stores a run of signed entries once one is ready, so that storing goes
 * on beside the signing thread instead of after it, at the sync.
 */
static ql_err
store_some(struct ql_log *l, struct ql_diag *d)
{
    struct signq *q = &l->sq;
    bool stored;
    ql_err rc;

    pthread_mutex_lock(&q->mu);
    rc = store_ready(l, STORE_RUN, &stored, d);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* ---- appending ---- */

ql_err
ql_log_append(struct ql_log *l, struct ql_entry *e,
              const struct ql_key *const *signers, size_t nsigners,
              uint64_t *idx, char **note, size_t *note_len, struct ql_diag *d)
{
    char *text = NULL, *signed_note = NULL;
    size_t text_len = 0, signed_len = 0, i;
    uint64_t size;
    ql_err rc;

    if (!ql_store_in_transaction(l->store))
        return ql_fail(d, QL_EUSAGE, "appending outside a transaction");
    if (signers == NULL || nsigners == 0)
        return ql_fail(d, QL_EUSAGE, "an entry needs a signing key");
    for (i = 0; i < nsigners; i++)
        if (signers[i] == NULL || !ql_key_has_secret(signers[i]))
            return ql_fail(d, QL_EUSAGE, "key '%s' has no secret half",
                           signers[i] ? ql_key_name(signers[i]) : "(none)");
    /* A caller that wants the signed note now gets it signed now. */
    if (l->deferring && (note != NULL || nsigners > PENDING_SIGNERS) &&
        (rc = ql_log_sync(l, d)) != QL_OK)
        return rc;
    if ((rc = ql_log_size(l, &size, d)) != QL_OK)
        return rc;
    e->index = size;
    if ((rc = ql_entry_format(e, &text, &text_len, d)) != QL_OK)
        goto out;
    if (l->deferring && note == NULL && nsigners <= PENDING_SIGNERS) {
        if ((rc = defer(l, size, text, text_len, signers, nsigners, d)) ==
            QL_OK) {
            text = NULL;
            rc = store_some(l, d);
        }
    } else if ((rc = ql_note_sign(text, text_len, signers, nsigners,
                                  &signed_note, &signed_len, d)) == QL_OK &&
               (rc = store_note(l, size, signed_note, signed_len, d)) ==
                   QL_OK &&
               l->deferring) {
        l->stored++;
    }
    if (rc != QL_OK)
        goto out;
    if (idx != NULL)
        *idx = size;
    if (note != NULL) {
        *note = signed_note;
        signed_note = NULL;
        if (note_len != NULL)
            *note_len = signed_len;
    }
out:
    free(text);
    free(signed_note);
    return rc;
}

ql_err
ql_log_append_note(struct ql_log *l, const char *note, size_t len,
                   struct ql_diag *d)
{
    struct ql_note *n = NULL;
    struct ql_entry e;
    const char *text;
    size_t text_len;
    uint64_t size;
    ql_err rc;

    ql_entry_init(&e);
    if (!ql_store_in_transaction(l->store))
        return ql_fail(d, QL_EUSAGE, "appending outside a transaction");
    if ((rc = ql_log_sync(l, d)) != QL_OK ||
        (rc = ql_store_log_size(l->store, &size, d)) != QL_OK ||
        (rc = ql_note_parse(note, len, &n, d)) != QL_OK)
        goto out;
    text = ql_note_text(n, &text_len);
    if ((rc = ql_entry_parse(text, text_len, &e, d)) != QL_OK)
        goto out;
    if (e.index != size) {
        rc = ql_fail(d, QL_EFORMAT, "entry has index %llu, the log expects "
                                    "%llu",
                     (unsigned long long)e.index, (unsigned long long)size);
        goto out;
    }
    if ((rc = store_note(l, size, note, len, d)) == QL_OK && l->deferring)
        l->stored++;
out:
    ql_entry_release(&e);
    ql_note_free(n);
    return rc;
}

ql_err
ql_log_checkpoint(struct ql_log *l, const struct ql_key *log_key, char **note,
                  struct ql_diag *d)
{
    struct ql_checkpoint cp;
    char *signed_note = NULL, *have = NULL;
    size_t signed_len = 0;
    uint64_t size, got;
    ql_err rc;

    if (!ql_store_in_transaction(l->store))
        return ql_fail(d, QL_EUSAGE, "checkpoint outside a transaction");
    if (strcmp(ql_key_name(log_key), l->origin) != 0)
        return ql_fail(d, QL_EUSAGE, "log key '%s' does not belong to log "
                                     "'%s'",
                       ql_key_name(log_key), l->origin);
    if ((rc = ql_log_sync(l, d)) != QL_OK ||
        (rc = ql_store_log_size(l->store, &size, d)) != QL_OK)
        return rc;
    rc = ql_store_checkpoint_get(l->store, size, &got, &have, d);
    if (rc == QL_OK) {
        /* This size is signed already: hand back what is stored. */
        if (note != NULL)
            *note = have;
        else
            free(have);
        return QL_OK;
    }
    if (rc != QL_ENOTFOUND)
        return rc;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", l->origin);
    cp.size = size;
    if (l->edge_ok && l->edge.size == size)
        ql_merkle_edge_root(l->profile, &l->edge, cp.root);
    else if ((rc = ql_merkle_root(l->profile, &l->tree, size, cp.root, d)) !=
             QL_OK)
        goto out;
    if ((rc = ql_checkpoint_sign(log_key, &cp, &signed_note, &signed_len, d)) !=
            QL_OK ||
        (rc = ql_store_checkpoint_put(l->store, size, signed_note, d)) != QL_OK)
        goto out;
    if (note != NULL) {
        *note = signed_note;
        signed_note = NULL;
    }
out:
    free(signed_note);
    return rc;
}

ql_err
ql_log_root(struct ql_log *l, uint64_t size, uint8_t root[32],
            struct ql_diag *d)
{
    ql_err rc;

    if ((rc = ql_log_sync(l, d)) != QL_OK)
        return rc;
    return ql_merkle_root(l->profile, &l->tree, size, root, d);
}

ql_err
ql_log_prove_inclusion(struct ql_log *l, uint64_t index, uint64_t size,
                       struct ql_merkle_proof *out, struct ql_diag *d)
{
    ql_err rc;

    if ((rc = ql_log_sync(l, d)) != QL_OK)
        return rc;
    return ql_merkle_prove_inclusion(l->profile, &l->tree, index, size, out,
                                     d);
}

ql_err
ql_log_prove_consistency(struct ql_log *l, uint64_t m, uint64_t n,
                         struct ql_merkle_proof *out, struct ql_diag *d)
{
    ql_err rc;

    if ((rc = ql_log_sync(l, d)) != QL_OK)
        return rc;
    return ql_merkle_prove_consistency(l->profile, &l->tree, m, n, out, d);
}

/* Parses a queued entry's text (it was formatted by ql_entry_format). */
static ql_err
read_pending(const struct pending *p, struct ql_entry *e, struct ql_diag *d)
{
    struct ql_entry tmp;
    ql_err rc;

    if (e == NULL)
        return QL_OK;
    ql_entry_init(&tmp);
    if ((rc = ql_entry_parse(p->text, p->text_len, &tmp, d)) != QL_OK) {
        ql_entry_release(&tmp);
        return rc;
    }
    *e = tmp;
    return QL_OK;
}

ql_err
ql_log_read(struct ql_log *l, uint64_t idx, char **note, size_t *note_len,
            struct ql_entry *e, struct ql_diag *d)
{
    struct ql_note *n = NULL;
    struct ql_entry tmp;
    char *buf = NULL;
    size_t len = 0, text_len;
    const char *text;
    ql_err rc;

    ql_entry_init(&tmp);
    if (l->deferring && idx >= l->stored) {
        /* Not signed yet: the text is all there is to read. */
        if (note == NULL && idx - l->stored < l->sq.n)
            return read_pending(l->sq.q[idx - l->stored], e, d);
        if ((rc = ql_log_sync(l, d)) != QL_OK)
            return rc;
    }
    if ((rc = ql_store_entry_get(l->store, idx, &buf, &len, d)) != QL_OK)
        return rc;
    if (e != NULL) {
        if ((rc = ql_note_parse(buf, len, &n, d)) != QL_OK ||
            (text = ql_note_text(n, &text_len),
             (rc = ql_entry_parse(text, text_len, &tmp, d)) != QL_OK)) {
            char why[QL_DIAG_MSG];

            /* Running out of memory says nothing about the entry. */
            if (rc == QL_ENOMEM)
                goto out;
            snprintf(why, sizeof why, "%s", d != NULL ? d->msg : "");
            rc = ql_fail(d, QL_EINTEGRITY, "entry %llu is damaged: %s",
                         (unsigned long long)idx, why);
            goto out;
        }
        if (tmp.index != idx) {
            rc = ql_fail(d, QL_EINTEGRITY, "entry %llu carries index %llu",
                         (unsigned long long)idx,
                         (unsigned long long)tmp.index);
            goto out;
        }
        *e = tmp;
        ql_entry_init(&tmp);
    }
    if (note != NULL) {
        *note = buf;
        buf = NULL;
        if (note_len != NULL)
            *note_len = len;
    }
out:
    ql_entry_release(&tmp);
    ql_note_free(n);
    free(buf);
    return rc;
}
