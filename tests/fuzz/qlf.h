/*
 * qlf: the fuzz harnesses, one function per reader of outside data.
 *
 * Each tests/fuzz/fuzz_<name>.c defines qlf_<name>(), which feeds its bytes
 * to the real library code and checks what must hold whatever the bytes
 * are (a parse that succeeds formats back to the same bytes, a mutated
 * signed input never verifies, ...). The same functions run in two
 * programs:
 *
 *   - the libFuzzer binary $(BUILD)/fuzz/fuzz_<name> (`make fuzz`), built
 *     with clang and -DQLF_LIBFUZZER, whose LLVMFuzzerTestOneInput is the
 *     few lines at the end of each file;
 *   - tests/test_fuzz_regress.c, built by `make test` with the project's
 *     compiler, which replays every corpus and regression file.
 *
 * A broken invariant calls qlf_fail(), which aborts under libFuzzer (so the
 * input is saved as a crash) and fails the cmocka test otherwise. Crashes,
 * leaks and timeouts are the sanitizers' and libFuzzer's to report.
 *
 * Harnesses run from the top of the source tree (or $QLF_ROOT), where
 * they find the default workflow and calendar. Their file-local names
 * carry a short prefix of their own (au_, kf_, ...) although STYLE.md
 * leaves static helpers unprefixed: the regression program compiles every
 * harness into one translation unit.
 */
#ifndef QLF_H
#define QLF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

struct ql_key;

/*
 * The result of the last input's main step: the ql_err of the parse or
 * verification the harness is about, or the exit code of the command it
 * runs. The regression program checks it against what each regression
 * input must give. Harnesses set it; nothing else reads it.
 */
extern int qlf_last;

/* Reports a broken invariant; does not return. */
void qlf_fail(const char *file, int line, const char *what);

#define QLF_CHECK(c)                                                           \
    do {                                                                       \
        if (!(c))                                                              \
            qlf_fail(__FILE__, __LINE__, #c);                                  \
    } while (0)

/* Starts libsodium once; every harness calls it first. */
void qlf_setup(void);

/*
 * The Ed25519 key named name whose 32-byte seed is the byte b repeated (the
 * worked examples of docs/formats.md use 01 to 04). Made once and kept.
 */
const struct ql_key *qlf_seed_key(const char *name, uint8_t b);

/*
 * The key named name whose seed is SHA-256("qlf-seed:" || name): any name
 * a fuzzed log mentions gets a key the harness can sign with. Kept in a
 * small cache; NULL when name is not a valid key name.
 */
const struct ql_key *qlf_named_key(const char *name);

/* A folder of this process's own, removed at exit. */
const char *qlf_scratch(void);

/* Removes everything inside dir (not dir itself). */
void qlf_empty_dir(const char *dir);

/* Writes len bytes to path (created or truncated, mode 0600). */
bool qlf_write_file(const char *path, const void *buf, size_t len);

/*
 * A file of the source tree (relative to $QLF_ROOT, default "."), read
 * once and kept, NUL-terminated; NULL when missing.
 */
const char *qlf_tree_file(const char *rel, size_t *len);

/*
 * With on, sends what stdout and stderr print to /dev/null, for harnesses
 * that run a command's code (which reports on stderr); with !on, puts them
 * back. Sanitizer reports write to file descriptor 2 directly and still
 * show. $QLF_VERBOSE set to anything keeps the output.
 */
void qlf_quiet(bool on);

/* The harnesses. Each returns 0, as libFuzzer wants. */
int qlf_audit(const uint8_t *data, size_t size);
int qlf_calendar(const uint8_t *data, size_t size);
int qlf_checkpoint(const uint8_t *data, size_t size);
int qlf_codec(const uint8_t *data, size_t size);
int qlf_cosig(const uint8_t *data, size_t size);
int qlf_entry(const uint8_t *data, size_t size);
int qlf_export(const uint8_t *data, size_t size);
int qlf_import(const uint8_t *data, size_t size);
int qlf_keyfile(const uint8_t *data, size_t size);
int qlf_merkle(const uint8_t *data, size_t size);
int qlf_note(const uint8_t *data, size_t size);
int qlf_proof(const uint8_t *data, size_t size);
int qlf_seal(const uint8_t *data, size_t size);
int qlf_state(const uint8_t *data, size_t size);
int qlf_vkey(const uint8_t *data, size_t size);
int qlf_workflow(const uint8_t *data, size_t size);

#ifdef QLF_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif

#endif
