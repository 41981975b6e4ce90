/*
 * fixture: counties for the benchmarks, made only through the engine's
 * public interface (ql_county.h, ql_lead.h, ql_commit.h), as the tests
 * make theirs: the registry, one data key per unit (the engine makes it
 * on the unit's first sealed write), leads moved along the default
 * workflow, commitments.
 *
 * The county: the supervision office SH (registrar, triage officer,
 * director, inspector) and handling units U000, U001, ... each with a
 * liaison, two verifiers and a head; the default workflow
 * (workflows/gang_lead.lua) and calendar (workflows/calendars/cn.cal).
 * The clock stands at 2025-09-15T02:00:00Z. Run from the top of the tree.
 *
 * And the generator of the large stores rows 3 to 7 share
 * (bench_stores).
 */
#ifndef BENCH_FIXTURE_H
#define BENCH_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ql_county;
struct ql_key;

/* The fixed clock: 2025-09-15T02:00:00Z. */
#define BENCH_NOW 1757901600

/* Entries one bench_lead_full writes: add, triage, assign, approve, sign. */
#define BENCH_FULL_ENTRIES 5

struct bench_unit {
    char code[8];
    struct ql_key *lly, *hc, *hc2, *head;
};

struct bench_county {
    struct ql_county *c;
    struct ql_key *admin, *reg, *tri, *dir, *insp;
    struct bench_unit *unit;
    size_t nunits;
};

/*
 * Creates the county's store at path with nunits handling units and
 * their principals. With commit, every unit's head signs a commitment
 * for cycle 2025Q4 (cut-off and deadline 2025-12-31), so that status has
 * scopes and verdicts to compute. Leaves it open.
 */
void bench_county_create(struct bench_county *k, const char *path,
                         size_t nunits, bool commit);

/* Opens the county's store at path again (the keys stay in k). */
void bench_county_open(struct bench_county *k, const char *path);

/* Closes the store (the keys stay). */
void bench_county_close(struct bench_county *k);

/* Closes the store and frees every key. */
void bench_county_free(struct bench_county *k);

/*
 * One lead along row 1's path: registered by the office, triaged,
 * assignment to unit u proposed and approved, accepted by the unit's
 * liaison: BENCH_FULL_ENTRIES entries. id (65 bytes, NULL allowed) gets
 * its id.
 */
void bench_lead_full(struct bench_county *k, size_t u, char *id);

/* One lead registered by unit u's liaison in its own unit: one entry. */
void bench_lead_local(struct bench_county *k, size_t u);

/* Batches (ql_county_batch_begin / commit), stopping the run on error. */
void bench_batch_begin(struct bench_county *k);
void bench_batch_commit(struct bench_county *k);

/* The log's size. */
uint64_t bench_log_size(struct bench_county *k);

/* ---- The shared stores ---- */

/*
 * One store the generator makes: count entries, or with by_leads count
 * leads, in a county of BENCH_UNITS units whose heads all committed.
 * Leads go to the units in turn, BENCH_RUN at a time; one in
 * BENCH_FULL_EVERY goes along row 1's path (bench_lead_full), the others
 * are registered by their unit (bench_lead_local); batches of BENCH_BATCH
 * leads, one checkpoint each. Sizes are exact.
 */
#define BENCH_UNITS 100
#define BENCH_RUN 100
#define BENCH_FULL_EVERY 16
#define BENCH_BATCH 1000

struct bench_store {
    /* Asked for. */
    uint64_t count;
    bool by_leads;
    /* Filled by bench_stores. */
    char name[32];      /* "entries-10^6", "leads-10^4" */
    char path[512];     /* the store */
    char admin_pub[512]; /* its administrator's public key file */
    uint64_t entries, leads;
};

/*
 * Opens a store bench_stores made, with the keys it kept: the office's
 * registrar, triage officer and director, and unit U000 alone (its
 * liaison), enough for bench_lead_full(k, 0, ...).
 */
void bench_county_load(struct bench_county *k, const struct bench_store *s);

/*
 * Makes the stores st[0..n) under BENCH_DIR/stores, in one pass that
 * copies the growing store at each size, or reuses them when every one
 * exists from a pass with the same inputs: the same generator
 * parameters and the same bytes of every file BENCH_INPUTS names (the
 * engine and crypto libraries, the workflow, the calendar, this
 * generator's source). BENCH_FRESH=1 forces a new pass. Prints a note
 * row saying which it did. st may be in any order.
 */
void bench_stores(struct bench_store *st, size_t n);

#endif
