/*
 * Helpers shared by the test programs. Include after <cmocka.h>'s
 * prerequisites; every helper fails the running test (cmocka's fail_msg)
 * rather than returning an error, so tests stay short.
 */
#ifndef QL_TEST_H
#define QL_TEST_H

#include <stddef.h>
#include <stdint.h>

/* Path of a file under tests/data ($QL_TEST_DATA); caller frees. */
char *qlt_data_path(const char *name);

/* Whole file, NUL-terminated; *len (may be NULL) gets its size. Caller frees. */
char *qlt_read_file(const char *path, size_t *len);

/* Writes len bytes to path (created or truncated, mode 0600). */
void qlt_write_file(const char *path, const void *buf, size_t len);

/* Decodes lowercase or uppercase hex into out; returns the byte count. */
size_t qlt_unhex(const char *hex, uint8_t *out, size_t cap);

/* A fresh temporary folder under $TMPDIR (or /tmp); caller frees the name. */
char *qlt_tempdir(void);

/* Removes a folder tree made by qlt_tempdir (rm -rf), and frees the name. */
void qlt_rmtree(char *dir);

/* "dir/name", caller frees. */
char *qlt_join(const char *dir, const char *name);

/* A deterministic pseudo-random generator for property tests (xorshift). */
uint64_t qlt_rand(uint64_t *state);

/* What a run of the qingling binary did. */
struct qlt_run {
    int status;   /* exit code, or 128 + signal */
    char *out;    /* stdout, NUL-terminated */
    char *err;    /* stderr, NUL-terminated */
    size_t out_len, err_len;
};

/*
 * Runs the qingling binary ($QINGLING_BIN, default build/qingling) with
 * argv (NULL-terminated, without the program name), the extra environment
 * entries env ("NAME=value", NULL-terminated, may be NULL) added to a clean
 * environment (PATH, HOME, TMPDIR kept; every QINGLING_ variable dropped),
 * and stdin_text fed on standard input (NULL: /dev/null). Free with
 * qlt_run_free.
 */
void qlt_exec(struct qlt_run *r, const char *const *argv,
              const char *const *env, const char *stdin_text);
void qlt_run_free(struct qlt_run *r);

/*
 * Like qlt_exec, with the child's RLIMIT_FSIZE set to fsize bytes and
 * SIGXFSZ ignored, as on a disk that fills up: a write past fsize fails
 * with EFBIG. Its standard output and error are pipes, so the limit does
 * not cut what it prints.
 */
void qlt_exec_fsize(struct qlt_run *r, const char *const *argv,
                    const char *const *env, const char *stdin_text,
                    long long fsize);

/* SHA-256-free fingerprint of a file's bytes, to compare stores. */
uint64_t qlt_file_hash(const char *path);

#endif
