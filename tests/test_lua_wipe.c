/*
 * The sandbox's allocator wipes what it frees or moves (engine/ql_lua.c):
 * a guard reads a lead's sealed values as Lua strings, and the state
 * keeps a call's argument tables until the next call, so freed string
 * bytes must not linger in the C heap.
 *
 * This program replaces free() for the whole process: while a check is
 * on, a block handed to free() that still holds the marker fails the
 * test. ASan replaces free() itself, so under it the test only says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_lua.h"

#if defined(__SANITIZE_ADDRESS__)
#define WIPE_CHECKED 0
#else
#define WIPE_CHECKED 1
#endif

/* A value no other code of the test holds while the check is on. */
#define MARKER "reporter-SECRET-4f1c9a"

static bool checking;
static unsigned long found, freed;

#if WIPE_CHECKED
void __libc_free(void *p);

/* True when the n bytes at p hold the marker. */
static bool
holds_marker(const unsigned char *p, size_t n)
{
    size_t m = sizeof MARKER - 1, i;

    for (i = 0; i + m <= n; i++)
        if (p[i] == (unsigned char)MARKER[0] && memcmp(p + i, MARKER, m) == 0)
            return true;
    return false;
}

/* glibc's free, after a look at what is freed while checking. */
void
free(void *p)
{
    size_t n;

    if (checking && p != NULL) {
        n = malloc_usable_size(p);
        freed++;
        if (holds_marker(p, n))
            found++;
    }
    __libc_free(p);
}
#endif

static const char SRC[] =
    "local kept\n"
    "return {\n"
    "  guard = function(lead, ctx)\n"
    "    local f = lead.fields\n"
    "    local s = f.reporter .. '/' .. table.concat(f.lines, ',')\n"
    "    local t = {}\n"
    "    for i = 1, 50 do t[i] = s:rep(2) .. i end\n"
    "    kept = s:gsub('SECRET', 'x')\n"
    "    return #s > 0 and kept ~= nil\n"
    "  end,\n"
    "}\n";

/* {fields = {reporter = M, lines = {M.."-1", M.."-2", ...}}} */
static struct ql_lval *
lead_tree(int round)
{
    struct ql_lval *lead = NULL, *fields = NULL, *lines = NULL, *v = NULL;
    char buf[64];
    int i;

    assert_int_equal(ql_lval_new_table(&lead, NULL), QL_OK);
    assert_int_equal(ql_lval_new_table(&fields, NULL), QL_OK);
    assert_int_equal(ql_lval_new_table(&lines, NULL), QL_OK);
    for (i = 0; i < 5 + round; i++) {
        snprintf(buf, sizeof buf, "%s-%d-%d", MARKER, round, i);
        assert_int_equal(ql_lval_new_string(buf, strlen(buf), &v, NULL),
                         QL_OK);
        assert_int_equal(ql_lval_append(lines, v, NULL), QL_OK);
    }
    snprintf(buf, sizeof buf, "%s-%d", MARKER, round);
    assert_int_equal(ql_lval_new_string(buf, strlen(buf), &v, NULL), QL_OK);
    assert_int_equal(ql_lval_set(fields, "reporter", v, NULL), QL_OK);
    assert_int_equal(ql_lval_set(fields, "lines", lines, NULL), QL_OK);
    assert_int_equal(ql_lval_set(lead, "fields", fields, NULL), QL_OK);
    return lead;
}

static void
test_freed_lua_memory_is_wiped(void **state)
{
    static const char *const names[1] = {"lead"};
    struct ql_lua *lua = NULL;
    struct ql_lval *t = NULL, *lead;
    const struct ql_lval *args[1];
    struct ql_diag d;
    char *reason;
    bool allowed;
    int round;

    (void)state;
    if (!WIPE_CHECKED) {
        print_message("free() belongs to ASan here: not checked\n");
        return;
    }
    assert_int_equal(ql_lua_new(NULL, &lua, &d), QL_OK);
    assert_int_equal(ql_lua_load(lua, "wipe.lua", SRC, strlen(SRC), &t, &d),
                     QL_OK);
    for (round = 0; round < 20; round++) {
        lead = lead_tree(round);
        args[0] = lead;
        reason = NULL;
        allowed = false;
        checking = true;
        assert_int_equal(ql_lua_guard(lua, ql_lval_get(t, "guard"), args,
                                      names, 1, &allowed, &reason, &d),
                         QL_OK);
        checking = false;
        assert_true(allowed);
        assert_null(reason);
        ql_lval_free(lead);
    }
    ql_lval_free(t);
    /* Closing the state frees whatever the collector had not. */
    checking = true;
    ql_lua_free(lua);
    checking = false;
    print_message("%lu blocks freed, %lu held the marker\n", freed, found);
    assert_true(freed > 100);
    assert_int_equal(found, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freed_lua_memory_is_wiped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
