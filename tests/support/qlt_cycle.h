/*
 * A scripted county for the commitment and status tests: the workflow
 * "commit_flow" (the names the figures and spot-checks read), principals
 * of the office and two units, built once per test program and copied for
 * each test, and helpers that take leads through their steps on given
 * local dates. Used by tests/test_commit.c and tests/test_status.c.
 */
#ifndef QLT_CYCLE_H
#define QLT_CYCLE_H

#include <stdbool.h>

#include "ql_county.h"
#include "ql_keys.h"

enum who { ADMIN, REG, TRI, DIR, INSP, LT_HC, LT_HEAD, QY_HEAD, NKEYS };

struct qlt_person {
    const char *name, *unit, *roles;
};
extern const struct qlt_person PEOPLE[NKEYS];

/* The county every test starts from, built once. */
struct group {
    char *dir, *db;
    struct ql_key *k[NKEYS];
};
extern struct group *G;

/* The test's own copy of it. */
struct fx {
    char *dir, *db;
    struct ql_county *c;
};
extern struct fx *F;

void at(const char *rfc3339);
void on(const char *date);
void as(enum who w);
void ok(ql_err rc, const struct ql_diag *d);
void copy_file(const char *from, const char *to);
int group_setup(void **state);
int group_teardown(void **state);
int setup(void **state);
int teardown(void **state);
void add(char *id, const char *unit, const char *date, const char *named);
void move(enum who w, const char *date, const char *id, const char *t, const char *name, const char *value);
void approve(enum who w, const char *date, const char *id);
void close_lead(const char *id, const char *day, const char *due, const char *finding, const char *feedback);
void sign(enum who head, const char *unit);
void declare(const char *date);
void sample(const char *date);
void verify(const char *date);
void spot_pass(const char *date, const char *id);
void spot_return(const char *date, const char *id, const char *redo);

#endif
