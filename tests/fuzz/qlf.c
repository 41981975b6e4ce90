/* Shared by every fuzz harness (qlf.h). */
#include "qlf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ql_keys.h"
#include "ql_profile.h"

int qlf_last;

/* The real stdout and stderr while qlf_quiet is on; NULL otherwise. */
static FILE *saved_out, *saved_err;

#ifdef QLF_LIBFUZZER
void
qlf_fail(const char *file, int line, const char *what)
{
    fprintf(saved_err != NULL ? saved_err : stderr,
            "%s:%d: invariant broken: %s\n", file, line, what);
    abort();
}
#endif

void
qlf_quiet(bool on)
{
    static FILE *devnull;
    static int verbose = -1;

    if (verbose < 0)
        verbose = getenv("QLF_VERBOSE") != NULL;
    if (verbose)
        return;
    if (on && saved_out == NULL) {
        if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
            return;
        fflush(stdout);
        fflush(stderr);
        saved_out = stdout;
        saved_err = stderr;
        /* The GNU C library documents stdout and stderr as assignable. */
        stdout = devnull;
        stderr = devnull;
    } else if (!on && saved_out != NULL) {
        fflush(devnull);
        stdout = saved_out;
        stderr = saved_err;
        saved_out = saved_err = NULL;
    }
}

void
qlf_setup(void)
{
    static bool done;
    struct ql_diag d;

    if (done)
        return;
    if (ql_crypto_init(&d) != QL_OK)
        qlf_fail(__FILE__, __LINE__, "ql_crypto_init");
    done = true;
}

const struct ql_key *
qlf_seed_key(const char *name, uint8_t b)
{
    /* The worked examples use four keys; a few more slots cost nothing. */
    static struct {
        char name[64];
        uint8_t b;
        struct ql_key *k;
    } keys[16];
    static size_t n;
    uint8_t seed[32];
    struct ql_key *k = NULL;
    size_t i;

    for (i = 0; i < n; i++)
        if (keys[i].b == b && strcmp(keys[i].name, name) == 0)
            return keys[i].k;
    memset(seed, b, sizeof seed);
    if (n == sizeof keys / sizeof keys[0] || strlen(name) >= 64 ||
        ql_key_from_seed(ql_profile_default(), name, seed, &k, NULL) != QL_OK)
        qlf_fail(__FILE__, __LINE__, "qlf_seed_key");
    snprintf(keys[n].name, sizeof keys[n].name, "%s", name);
    keys[n].b = b;
    keys[n].k = k;
    return keys[n++].k;
}

#define NAMED_KEYS 128

const struct ql_key *
qlf_named_key(const char *name)
{
    static struct {
        char *name;
        struct ql_key *k;
    } cache[NAMED_KEYS];
    static size_t next;
    uint8_t seed[QL_HASH_LEN];
    struct ql_bytes parts[2];
    struct ql_key *k = NULL;
    size_t i;

    for (i = 0; i < NAMED_KEYS; i++)
        if (cache[i].name != NULL && strcmp(cache[i].name, name) == 0)
            return cache[i].k;
    if (!ql_key_name_valid(name))
        return NULL;
    parts[0].p = "qlf-seed:";
    parts[0].len = 9;
    parts[1].p = name;
    parts[1].len = strlen(name);
    ql_hash_parts(ql_profile_default(), seed, parts, 2);
    if (ql_key_from_seed(ql_profile_default(), name, seed, &k, NULL) != QL_OK)
        return NULL;
    /* Round robin: a key stays valid until the next call at the least. */
    i = next;
    next = (next + 1) % NAMED_KEYS;
    free(cache[i].name);
    ql_key_free(cache[i].k);
    cache[i].name = strdup(name);
    cache[i].k = k;
    if (cache[i].name == NULL)
        qlf_fail(__FILE__, __LINE__, "out of memory");
    return k;
}

/* Removes everything below path; with self, path too. */
static void
qlf_rm(const char *path, bool self)
{
    struct stat st;
    struct dirent *de;
    DIR *dir;

    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode) && (dir = opendir(path)) != NULL) {
        while ((de = readdir(dir)) != NULL) {
            size_t n;
            char *sub;

            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            n = strlen(path) + strlen(de->d_name) + 2;
            if ((sub = malloc(n)) == NULL)
                continue;
            snprintf(sub, n, "%s/%s", path, de->d_name);
            qlf_rm(sub, true);
            free(sub);
        }
        closedir(dir);
        if (self)
            rmdir(path);
    } else if (self) {
        unlink(path);
    }
}

static char *scratch;

static void
qlf_scratch_remove(void)
{
    if (scratch != NULL)
        qlf_rm(scratch, true);
    free(scratch);
    scratch = NULL;
}

const char *
qlf_scratch(void)
{
    const char *tmp = getenv("TMPDIR");
    size_t n;

    if (scratch != NULL)
        return scratch;
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    n = strlen(tmp) + 16;
    if ((scratch = malloc(n)) == NULL)
        qlf_fail(__FILE__, __LINE__, "out of memory");
    snprintf(scratch, n, "%s/qlf.XXXXXX", tmp);
    if (mkdtemp(scratch) == NULL)
        qlf_fail(__FILE__, __LINE__, "mkdtemp");
    atexit(qlf_scratch_remove);
    return scratch;
}

void
qlf_empty_dir(const char *dir)
{
    qlf_rm(dir, false);
}

bool
qlf_write_file(const char *path, const void *buf, size_t len)
{
    const char *p = buf;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0;

    while (ok && len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        if (ok) {
            p += w;
            len -= (size_t)w;
        }
    }
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    return ok;
}

const char *
qlf_tree_file(const char *rel, size_t *len)
{
    static struct {
        const char *rel;
        char *text;
        size_t len;
    } files[8];
    static size_t n;
    const char *root = getenv("QLF_ROOT");
    char path[4096];
    FILE *f;
    long size;
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(files[i].rel, rel) == 0) {
            if (len != NULL)
                *len = files[i].len;
            return files[i].text;
        }
    if (n == sizeof files / sizeof files[0])
        return NULL;
    snprintf(path, sizeof path, "%s/%s", root != NULL ? root : ".", rel);
    if ((f = fopen(path, "rb")) == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 ||
        (files[n].text = malloc((size_t)size + 1)) == NULL ||
        fread(files[n].text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(files[n].text);
        files[n].text = NULL;
        return NULL;
    }
    fclose(f);
    files[n].text[size] = '\0';
    files[n].rel = rel;
    files[n].len = (size_t)size;
    if (len != NULL)
        *len = files[n].len;
    return files[n++].text;
}
