/* Streaming verification of a county's log (ql_audit.h). */
#include "ql_audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_county.h"
#include "ql_keys.h"
#include "ql_log.h"
#include "ql_merkle.h"
#include "ql_note.h"
#include "ql_profile.h"
#include "ql_store.h"

/* A registered key, as the log said at the point being verified. */
struct known {
    struct ql_key *key;
    bool revoked;
};

struct verifier {
    struct ql_county *c;
    const struct ql_profile *p;
    const struct ql_key *trust;
    struct ql_key *admin, *log_key;
    struct known *keys;
    size_t nkeys;
    /* The roots of the complete subtrees of the prefix seen so far. */
    uint8_t stack[64][QL_HASH_LEN];
    size_t depth;
    uint64_t size;
    uint64_t next_cp; /* the next checkpoint size to check */
    bool have_cp;
    struct ql_audit_result *res;
};

static struct known *
find_key(struct verifier *v, const char *name)
{
    size_t i;

    for (i = 0; i < v->nkeys; i++)
        if (strcmp(ql_key_name(v->keys[i].key), name) == 0)
            return &v->keys[i];
    return NULL;
}

static ql_err
bad(struct verifier *v, uint64_t idx, ql_err code, struct ql_diag *d,
    const char *why)
{
    v->res->bad_index = idx;
    return ql_fail(d, code, "entry %llu: %s", (unsigned long long)idx, why);
}

/* Folds the stack into the root of the prefix of v->size leaves. */
static void
prefix_root(const struct verifier *v, uint8_t out[QL_HASH_LEN])
{
    size_t i;

    if (v->depth == 0) {
        ql_merkle_empty_root(v->p, out);
        return;
    }
    memcpy(out, v->stack[v->depth - 1], QL_HASH_LEN);
    for (i = v->depth - 1; i-- > 0;)
        ql_merkle_node_hash(v->p, out, v->stack[i], out);
}

static void
push_leaf(struct verifier *v, const uint8_t leaf[QL_HASH_LEN])
{
    uint64_t n = v->size;

    memcpy(v->stack[v->depth++], leaf, QL_HASH_LEN);
    /* Each trailing one bit of the old size completes one more subtree. */
    while (n & 1) {
        v->depth--;
        ql_merkle_node_hash(v->p, v->stack[v->depth - 1],
                            v->stack[v->depth - 1], v->stack[v->depth]);
        n >>= 1;
    }
    v->size++;
}

/* Checks the stored checkpoint for the current size, if there is one. */
static ql_err
check_checkpoint(struct verifier *v, struct ql_diag *d)
{
    struct ql_checkpoint cp;
    uint8_t root[QL_HASH_LEN];
    char *note = NULL;
    uint64_t got = 0;
    ql_err rc;

    rc = ql_store_checkpoint_get(ql_county_store(v->c), v->size, &got, &note,
                                 d);
    if (rc == QL_ENOTFOUND)
        return QL_OK;
    if (rc != QL_OK)
        return rc;
    if (v->log_key == NULL) {
        free(note);
        return bad(v, v->size, QL_EINTEGRITY, d, "checkpoint before genesis");
    }
    rc = ql_checkpoint_open(note, strlen(note), v->log_key, NULL, 0, &cp, d);
    if (rc != QL_OK) {
        char why[2 * QL_DIAG_MSG];

        snprintf(why, sizeof why, "checkpoint at size %llu: %s",
                 (unsigned long long)v->size, d ? d->msg : "");
        free(note);
        return bad(v, v->size - 1, QL_EVERIFY, d, why);
    }
    prefix_root(v, root);
    if (cp.size != v->size || memcmp(cp.root, root, QL_HASH_LEN) != 0 ||
        strcmp(cp.origin, ql_county_origin(v->c)) != 0) {
        free(note);
        return bad(v, v->size - 1, QL_EINTEGRITY, d,
                   "the checkpoint's root is not the root of the entries");
    }
    free(note);
    v->res->checkpoints++;
    return QL_OK;
}

static ql_err
add_key(struct verifier *v, const char *vkey, uint64_t idx, struct ql_diag *d)
{
    struct known *grown;
    struct ql_key *k = NULL;

    if (ql_key_parse_vkey(vkey, false, &k, d) != QL_OK)
        return bad(v, idx, QL_EINTEGRITY, d, "registers a malformed key");
    if (find_key(v, ql_key_name(k)) != NULL ||
        strcmp(ql_key_name(k), ql_key_name(v->admin)) == 0) {
        ql_key_free(k);
        return bad(v, idx, QL_EINTEGRITY, d, "registers a name twice");
    }
    grown = realloc(v->keys, (v->nkeys + 1) * sizeof *grown);
    if (grown == NULL) {
        ql_key_free(k);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    v->keys = grown;
    v->keys[v->nkeys].key = k;
    v->keys[v->nkeys].revoked = false;
    v->nkeys++;
    return QL_OK;
}

static ql_err
genesis(struct verifier *v, const struct ql_entry *e, struct ql_diag *d)
{
    const char *admin = ql_entry_get_clear(e, "admin_key");
    const char *logk = ql_entry_get_clear(e, "log_key");

    if (e->index != 0 || strcmp(e->action, "genesis") != 0 || admin == NULL ||
        logk == NULL)
        return bad(v, e->index, QL_EINTEGRITY, d,
                   "the log does not start with a genesis entry");
    if (ql_key_parse_vkey(admin, false, &v->admin, d) != QL_OK ||
        ql_key_parse_vkey(logk, false, &v->log_key, d) != QL_OK)
        return bad(v, 0, QL_EINTEGRITY, d, "genesis names malformed keys");
    if (v->trust != NULL && !ql_key_same_public(v->trust, v->admin))
        return bad(v, 0, QL_EVERIFY, d,
                   "genesis names another administrator than the trusted "
                   "key");
    if (strcmp(ql_key_name(v->log_key), ql_county_origin(v->c)) != 0)
        return bad(v, 0, QL_EINTEGRITY, d, "the log key is not the log's");
    return QL_OK;
}

static ql_err
verify_entry(void *ctx, uint64_t idx, const void *note, size_t len,
             const uint8_t leaf[32], struct ql_diag *d)
{
    struct verifier *v = ctx;
    struct ql_note_key nk = {0};
    struct ql_note *n = NULL;
    struct ql_entry e;
    uint8_t mine[QL_HASH_LEN];
    const char *text;
    size_t text_len;
    struct known *k = NULL;
    bool registry;
    ql_err rc = QL_OK;

    ql_entry_init(&e);
    ql_merkle_leaf_hash(v->p, mine, note, len);
    if (memcmp(mine, leaf, QL_HASH_LEN) != 0) {
        rc = bad(v, idx, QL_EINTEGRITY, d, "stored leaf hash does not match");
        goto out;
    }
    if (ql_note_parse(note, len, &n, d) != QL_OK ||
        (text = ql_note_text(n, &text_len),
         ql_entry_parse(text, text_len, &e, d) != QL_OK)) {
        rc = bad(v, idx, QL_EINTEGRITY, d, "malformed entry");
        goto out;
    }
    if (e.index != idx) {
        rc = bad(v, idx, QL_EINTEGRITY, d, "carries another index");
        goto out;
    }
    if (idx == 0 && (rc = genesis(v, &e, d)) != QL_OK)
        goto out;
    registry = idx == 0 || strcmp(e.action, "unit.add") == 0 ||
               strncmp(e.action, "principal.", 10) == 0 ||
               strcmp(e.action, "workflow.add") == 0 ||
               strcmp(e.action, "calendar.set") == 0 ||
               strcmp(e.action, "lead.migrate") == 0;
    if (registry) {
        if (strcmp(e.actor, ql_key_name(v->admin)) != 0) {
            rc = bad(v, idx, QL_EVERIFY, d,
                     "a registry entry not signed by the administrator");
            goto out;
        }
        nk.key = v->admin;
    } else {
        k = find_key(v, e.actor);
        if (k == NULL) {
            rc = bad(v, idx, QL_EVERIFY, d, "signed by an unregistered key");
            goto out;
        }
        if (k->revoked) {
            rc = bad(v, idx, QL_EVERIFY, d, "signed by a revoked key");
            goto out;
        }
        nk.key = k->key;
    }
    if (ql_note_verify(note, len, &nk, 1, NULL, d) != QL_OK || !nk.verified) {
        rc = bad(v, idx, QL_EVERIFY, d, "bad signature");
        goto out;
    }
    if (strcmp(e.action, "principal.add") == 0) {
        const char *vk = ql_entry_get_clear(&e, "key");

        if (vk == NULL) {
            rc = bad(v, idx, QL_EINTEGRITY, d, "registers no key");
            goto out;
        }
        if ((rc = add_key(v, vk, idx, d)) != QL_OK)
            goto out;
    } else if (strcmp(e.action, "principal.revoke") == 0) {
        const char *who = ql_entry_get_clear(&e, "principal");
        struct known *r = who ? find_key(v, who) : NULL;

        if (r == NULL || r->revoked) {
            rc = bad(v, idx, QL_EINTEGRITY, d, "revokes an unknown key");
            goto out;
        }
        r->revoked = true;
    }
    push_leaf(v, leaf);
    v->res->entries++;
    rc = check_checkpoint(v, d);
out:
    ql_entry_release(&e);
    ql_note_free(n);
    return rc;
}

ql_err
ql_audit_verify(struct ql_county *c, const struct ql_key *trust,
                struct ql_audit_result *res, struct ql_diag *d)
{
    struct verifier *v = calloc(1, sizeof *v);
    struct ql_audit_result local;
    struct ql_store *s = ql_county_store(c);
    uint64_t size = 0;
    size_t i;
    ql_err rc;

    if (v == NULL)
        return ql_fail(d, QL_ENOMEM, NULL);
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    v->c = c;
    v->p = ql_log_profile(ql_county_log(c));
    v->trust = trust;
    v->res = res;
    if ((rc = ql_store_begin_read(s, d)) != QL_OK)
        goto out;
    if ((rc = ql_store_log_size(s, &size, d)) == QL_OK &&
        (rc = ql_store_entry_walk(s, 0, size, verify_entry, v, d)) == QL_OK &&
        size == 0)
        rc = ql_fail(d, QL_EINTEGRITY, "the log is empty");
    ql_store_rollback(s);
out:
    for (i = 0; i < v->nkeys; i++)
        ql_key_free(v->keys[i].key);
    free(v->keys);
    ql_key_free(v->admin);
    ql_key_free(v->log_key);
    free(v);
    return rc;
}
