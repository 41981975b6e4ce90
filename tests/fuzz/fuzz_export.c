/*
 * tlog-tiles exports (engine/ql_audit_source.c, read by `qingling audit
 * verify --export DIR`): any folder of files as an export, through
 * ql_audit_source_export and the whole verifier, ql_audit_run.
 *
 * The input is a small archive of files, each record
 *
 *     1 byte: name length n (1..100) | n bytes: name | 3 bytes: data length
 *     (big-endian) | the data
 *
 * written under a scratch folder (names of [a-z0-9._/] only, no "..", no
 * leading '/'); a shorter last record is cut short. tests/fuzz/mkcorpus.sh
 * packs real exports of a small county this way.
 *
 * Invariants: a log that verifies has the root the checkpoint states,
 * which the entries' own leaf hashes give again; verifying it again with
 * the auditor's state at half its size succeeds (the hash tiles give a
 * consistency proof that holds), and with a changed root at that size
 * fails as a fork.
 */
#include "qlf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ql_audit.h"
#include "ql_merkle.h"
#include "ql_profile.h"

#define EX_FILES_MAX 64

static bool
ex_name_ok(const char *name)
{
    const char *p;

    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL ||
        strstr(name, "//") != NULL || name[strlen(name) - 1] == '/')
        return false;
    for (p = name; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '/'))
            return false;
    return true;
}

/* Creates the folders on the way to dir/name. */
static void
ex_mkdirs(const char *dir, const char *name)
{
    char path[4200];
    size_t i, base = strlen(dir) + 1;

    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return;
    for (i = base; path[i] != '\0'; i++)
        if (path[i] == '/') {
            path[i] = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return;
            path[i] = '/';
        }
}

/* Unpacks the archive into dir; returns the number of files written. */
static size_t
ex_unpack(const uint8_t *data, size_t size, const char *dir)
{
    size_t pos = 0, files = 0, n, len;
    char name[101], path[4200];

    while (pos < size && files < EX_FILES_MAX) {
        n = data[pos++];
        if (n == 0 || n > 100 || size - pos < n)
            break;
        memcpy(name, data + pos, n);
        name[n] = '\0';
        pos += n;
        len = 0;
        if (size - pos >= 3) {
            len = (size_t)data[pos] << 16 | (size_t)data[pos + 1] << 8 |
                  data[pos + 2];
            pos += 3;
        } else {
            pos = size;
        }
        if (len > size - pos)
            len = size - pos;
        if (memchr(name, '\0', n) == NULL && ex_name_ok(name)) {
            ex_mkdirs(dir, name);
            if (snprintf(path, sizeof path, "%s/%s", dir, name) <
                    (int)sizeof path &&
                qlf_write_file(path, data + pos, len))
                files++;
        }
        pos += len;
    }
    return files;
}

/* The root of the entries the source hands over, from their leaf hashes. */
static void
ex_entries_root(const char *dir, uint64_t n, uint8_t root[QL_HASH_LEN],
                uint8_t half[QL_HASH_LEN])
{
    const struct ql_profile *p = ql_profile_default();
    struct ql_audit_source *src = NULL;
    struct ql_audit_entry e;
    uint8_t *leaves;
    uint64_t i;

    QLF_CHECK(n > 0 && n <= 1u << 20);
    QLF_CHECK((leaves = malloc((size_t)n * QL_HASH_LEN)) != NULL);
    QLF_CHECK(ql_audit_source_export(dir, &src, NULL) == QL_OK);
    for (i = 0; i < n; i++) {
        QLF_CHECK(src->next_entry(src->ctx, &e, NULL) == QL_OK);
        QLF_CHECK(e.index == i);
        ql_merkle_leaf_hash(p, leaves + i * QL_HASH_LEN, e.note, e.len);
    }
    ql_merkle_root_of_leaves(p, root, leaves, (size_t)n);
    ql_merkle_root_of_leaves(p, half, leaves, (size_t)(n + 1) / 2);
    ql_audit_source_free(src);
    free(leaves);
}

static ql_err
ex_verify(const char *dir, const struct ql_audit_state *st,
          struct ql_audit_result *res)
{
    struct ql_audit_source *src = NULL;
    struct ql_audit_opts opts;
    ql_err rc;

    memset(&opts, 0, sizeof opts);
    opts.state = st;
    opts.jobs = 1;
    memset(res, 0, sizeof *res);
    if ((rc = ql_audit_source_export(dir, &src, NULL)) != QL_OK)
        return rc;
    rc = ql_audit_run(src, NULL, &opts, res, NULL);
    ql_audit_source_free(src);
    return rc;
}

int
qlf_export(const uint8_t *data, size_t size)
{
    struct ql_audit_result res, again;
    struct ql_audit_state st;
    uint8_t root[QL_HASH_LEN], half[QL_HASH_LEN];
    char dir[4200];
    ql_err rc;

    qlf_setup();
    snprintf(dir, sizeof dir, "%s/export", qlf_scratch());
    qlf_empty_dir(dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        qlf_fail(__FILE__, __LINE__, "cannot make the export folder");
    ex_unpack(data, size, dir);
    rc = ex_verify(dir, NULL, &res);
    qlf_last = rc;
    QLF_CHECK(rc != QL_ENOMEM && rc != QL_EUSAGE);
    if (rc != QL_OK)
        return 0;
    QLF_CHECK(res.entries == res.latest.size && res.latest.size > 0);
    ex_entries_root(dir, res.latest.size, root, half);
    QLF_CHECK(memcmp(root, res.latest.root, QL_HASH_LEN) == 0);

    /* An auditor who saw the first half before: the log extends it. */
    memset(&st, 0, sizeof st);
    snprintf(st.origin, sizeof st.origin, "%s", res.latest.origin);
    st.size = (res.latest.size + 1) / 2;
    memcpy(st.root, half, QL_HASH_LEN);
    QLF_CHECK(ex_verify(dir, &st, &again) == QL_OK);
    /* One who saw another root at that size: a fork. */
    st.root[0] ^= 1;
    rc = ex_verify(dir, &st, &again);
    QLF_CHECK(rc == QL_EINTEGRITY);
    return 0;
}

#ifdef QLF_LIBFUZZER
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return qlf_export(data, size);
}
#endif
