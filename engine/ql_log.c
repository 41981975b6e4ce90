/* The log over a store: appending, checkpoints, proofs (ql_log.h). */
#include "ql_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_keys.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_store.h"

struct ql_log {
    struct ql_store *store;
    const struct ql_profile *profile;
    char *origin;
    struct ql_merkle_store tree;
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
    if (l == NULL)
        return;
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
            QL_OK ||
        (rc = ql_merkle_append(l->profile, &l->tree, idx, leaf, d)) != QL_OK)
        return rc;
    return QL_OK;
}

ql_err
ql_log_append(struct ql_log *l, struct ql_entry *e,
              const struct ql_key *const *signers, size_t nsigners,
              uint64_t *idx, char **note, size_t *note_len, struct ql_diag *d)
{
    char *text = NULL, *signed_note = NULL;
    size_t text_len = 0, signed_len = 0;
    uint64_t size;
    ql_err rc;

    if (!ql_store_in_transaction(l->store))
        return ql_fail(d, QL_EUSAGE, "appending outside a transaction");
    if ((rc = ql_store_log_size(l->store, &size, d)) != QL_OK)
        return rc;
    e->index = size;
    if ((rc = ql_entry_format(e, &text, &text_len, d)) != QL_OK ||
        (rc = ql_note_sign(text, text_len, signers, nsigners, &signed_note,
                           &signed_len, d)) != QL_OK ||
        (rc = store_note(l, size, signed_note, signed_len, d)) != QL_OK)
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
    if ((rc = ql_store_log_size(l->store, &size, d)) != QL_OK ||
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
    rc = store_note(l, size, note, len, d);
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
    if ((rc = ql_store_log_size(l->store, &size, d)) != QL_OK)
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
    if ((rc = ql_merkle_root(l->profile, &l->tree, size, cp.root, d)) !=
            QL_OK ||
        (rc = ql_checkpoint_sign(log_key, &cp, &signed_note, &signed_len, d)) !=
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
    return ql_merkle_root(l->profile, &l->tree, size, root, d);
}

ql_err
ql_log_prove_inclusion(struct ql_log *l, uint64_t index, uint64_t size,
                       struct ql_merkle_proof *out, struct ql_diag *d)
{
    return ql_merkle_prove_inclusion(l->profile, &l->tree, index, size, out,
                                     d);
}

ql_err
ql_log_prove_consistency(struct ql_log *l, uint64_t m, uint64_t n,
                         struct ql_merkle_proof *out, struct ql_diag *d)
{
    return ql_merkle_prove_consistency(l->profile, &l->tree, m, n, out, d);
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
