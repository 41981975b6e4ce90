/*
 * Tests of ql_lua, the sandbox for workflow files and guards: the hostile
 * scripts of tests/data/hostile, value trees and their order, read-only
 * arguments and state, limits, errors, and the pattern matcher checked
 * against Lua's own string library (a plain lua_State, which only this
 * test opens beside the sandbox).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "ql_lua.h"
#include "ql_test.h"

/* ---- helpers ---- */

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * The hang guard: each hostile case must end within a second. Under
 * valgrind everything is much slower; QL_TEST_TIME_FACTOR stretches it.
 */
static double
hang_limit_ms(void)
{
    const char *f = getenv("QL_TEST_TIME_FACTOR");
    double k = f != NULL ? strtod(f, NULL) : 1.0;

    return 1000.0 * (k >= 1.0 ? k : 1.0);
}

/*
 * The default limits, with the wall clock stretched like the hang guard:
 * under valgrind the clock would otherwise stop scripts before their
 * budgets, and the messages would differ.
 */
static struct ql_lua_limits
test_limits(void)
{
    struct ql_lua_limits lim;
    double k = hang_limit_ms() / 1000.0;

    memset(&lim, 0, sizeof lim);
    lim.load_ms = (uint32_t)(QL_LUA_LOAD_MS_DEFAULT * k);
    lim.call_ms = (uint32_t)(QL_LUA_CALL_MS_DEFAULT * k);
    return lim;
}

static struct ql_lua *
new_state(const struct ql_lua_limits *lim)
{
    struct ql_lua *lua = NULL;
    struct ql_diag d;

    if (ql_lua_new(lim, &lua, &d) != QL_OK)
        fail_msg("ql_lua_new: %s", d.msg);
    return lua;
}

/* Loads code that must load; returns the tree. */
static struct ql_lval *
must_load(struct ql_lua *lua, const char *name, const char *code)
{
    struct ql_lval *v = NULL;
    struct ql_diag d;

    if (ql_lua_load(lua, name, code, strlen(code), &v, &d) != QL_OK)
        fail_msg("loading %s: %s", name, d.msg);
    return v;
}

/* Loads code that must fail with code; the message must hold want. */
static void
load_fails(const char *name, const char *code, ql_err want,
           const char *const *subs)
{
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *v = NULL;
    struct ql_diag d;
    ql_err rc;

    memset(&d, 0, sizeof d);
    rc = ql_lua_load(lua, name, code, strlen(code), &v, &d);
    if (rc != want)
        fail_msg("%s: got %s (%s), want %s", name, ql_errname(rc), d.msg,
                 ql_errname(want));
    for (; subs != NULL && *subs != NULL; subs++)
        if (strstr(d.msg, *subs) == NULL)
            fail_msg("%s: message '%s' lacks '%s'", name, d.msg, *subs);
    assert_null(v);
    ql_lua_free(lua);
}

static void
append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        if (*buf == NULL)
            fail_msg("out of memory");
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void
ser(const struct ql_lval *v, char **buf, size_t *len, size_t *cap)
{
    char tmp[64];
    size_t i;

    switch (v->type) {
    case QL_LVAL_NIL:
        append(buf, len, cap, "nil", 3);
        break;
    case QL_LVAL_BOOLEAN:
        append(buf, len, cap, v->u.boolean ? "true" : "false",
               v->u.boolean ? 4 : 5);
        break;
    case QL_LVAL_INTEGER:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.integer);
        append(buf, len, cap, tmp, strlen(tmp));
        break;
    case QL_LVAL_NUMBER:
        snprintf(tmp, sizeof tmp, "%.17g", v->u.number);
        append(buf, len, cap, tmp, strlen(tmp));
        break;
    case QL_LVAL_STRING:
        append(buf, len, cap, "\"", 1);
        append(buf, len, cap, v->u.string.bytes, v->u.string.len);
        append(buf, len, cap, "\"", 1);
        break;
    case QL_LVAL_FUNCTION:
        append(buf, len, cap, "fn", 2);
        break;
    case QL_LVAL_TABLE:
        append(buf, len, cap, "{", 1);
        for (i = 0; i < v->u.table.count; i++) {
            if (i > 0)
                append(buf, len, cap, ",", 1);
            if (i >= v->u.table.array_len) {
                ser(&v->u.table.entries[i].key, buf, len, cap);
                append(buf, len, cap, "=", 1);
            }
            ser(&v->u.table.entries[i].value, buf, len, cap);
        }
        append(buf, len, cap, "}", 1);
        break;
    }
}

/* A deterministic text form of a tree, caller frees. */
static char *
to_text(const struct ql_lval *v)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;

    append(&buf, &len, &cap, "", 0);
    ser(v, &buf, &len, &cap);
    return buf;
}

static struct ql_lval *
str_val(const char *s)
{
    struct ql_lval *v = NULL;

    assert_int_equal(ql_lval_new_string(s, strlen(s), &v, NULL), QL_OK);
    return v;
}

static struct ql_lval *
int_val(int64_t i)
{
    struct ql_lval *v = NULL;

    assert_int_equal(ql_lval_new_integer(i, &v, NULL), QL_OK);
    return v;
}

static struct ql_lval *
table_val(void)
{
    struct ql_lval *v = NULL;

    assert_int_equal(ql_lval_new_table(&v, NULL), QL_OK);
    return v;
}

static void
set(struct ql_lval *t, const char *k, struct ql_lval *v)
{
    assert_int_equal(ql_lval_set(t, k, v, NULL), QL_OK);
}

static void
push(struct ql_lval *t, struct ql_lval *v)
{
    assert_int_equal(ql_lval_append(t, v, NULL), QL_OK);
}

/* The lead a guard sees in these tests. */
static struct ql_lval *
make_lead(void)
{
    struct ql_lval *lead = table_val(), *fields = table_val(),
                   *list = table_val();

    set(lead, "id", str_val("CG-2026-000017"));
    set(lead, "state", str_val("verify"));
    set(lead, "unit", str_val("城关镇"));
    set(fields, "report", str_val("核查报告"));
    set(fields, "conclusion", str_val("查否"));
    set(fields, "b", int_val(2));
    set(fields, "a", int_val(1));
    set(lead, "fields", fields);
    push(list, int_val(10));
    push(list, int_val(20));
    push(list, int_val(30));
    set(lead, "list", list);
    return lead;
}

static struct ql_lval *
make_ctx(void)
{
    struct ql_lval *ctx = table_val();

    set(ctx, "actor", str_val("张三"));
    set(ctx, "today", str_val("2026-03-01"));
    return ctx;
}

/* Calls fn of tree t with (lead, ctx); returns the code, fills d. */
static ql_err
call_with_lead(struct ql_lua *lua, const struct ql_lval *t, const char *fn,
               bool guard, bool *allowed, char **reason, struct ql_lval **res,
               struct ql_diag *d)
{
    const struct ql_lval *f = ql_lval_get(t, fn);
    struct ql_lval *lead = make_lead(), *ctx = make_ctx();
    const struct ql_lval *args[2] = {lead, ctx};
    static const char *const names[2] = {"lead", "ctx"};
    ql_err rc;

    if (f == NULL)
        fail_msg("no function '%s'", fn);
    if (guard)
        rc = ql_lua_guard(lua, f, args, names, 2, allowed, reason, d);
    else
        rc = ql_lua_call(lua, f, args, names, 2, res, 1, d);
    ql_lval_free(lead);
    ql_lval_free(ctx);
    return rc;
}

/* ---- the hostile suite ---- */

enum mode { LOAD, CALL, GUARD };

struct hostile {
    const char *file;
    enum mode mode;
    const char *fn;
    ql_err code;
    const char *want[3]; /* substrings; "a|b" accepts either */
};

/* Files whose load fails in sealing: a lazy load of them works. */
static const char *const seal_failures[] = {
    "gmatch_kept.lua", "metatable_kept.lua", "globals_metatable.lua", NULL};

static bool
fails_at_seal(const char *file)
{
    const char *const *f;

    for (f = seal_failures; *f != NULL; f++)
        if (strcmp(*f, file) == 0)
            return true;
    return false;
}

static const struct hostile hostile_cases[] = {
    {"loop_top.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"loop_top.lua:4:", "instruction budget exhausted"}},
    {"loop_guard.lua",
     CALL,
     "guard",
     QL_ESCRIPT,
     {"loop_guard.lua:4:", "instruction budget exhausted (limit 1000000)"}},
    {"loop_coroutine.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"loop_coroutine.lua:3:", "global 'coroutine'"}},
    {"loop_close.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"loop_close.lua:5:", "instruction budget exhausted"}},
    {"loop_gc.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"loop_gc.lua:2:", "__gc metamethods are not allowed"}},
    {"error_tostring.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"error_tostring.lua:2:", "error object is not a string (a table)"}},
    {"table_growth.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"table_growth.lua:6:", "memory limit exceeded"}},
    {"rep_huge.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"rep_huge.lua:2:", "resulting string too large"}},
    {"rep_empty.lua", LOAD, NULL, QL_OK, {NULL}},
    {"gsub_doubling.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"gsub_doubling.lua:4:",
      "resulting string too large|pattern too complex"}},
    {"concat_vm.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"concat_vm.lua:4:", "string too large (limit 1048576 bytes)"}},
    {"concat_huge.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"concat_huge.lua:6:", "resulting string too large"}},
    {"concat_range.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"concat_range.lua:4:", "instruction budget exhausted"}},
    {"find_pathological.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"find_pathological.lua:2:", "pattern too complex"}},
    {"find_plain.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"find_plain.lua:4:", "pattern too complex"}},
    {"gmatch_pathological.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"gmatch_pathological.lua:3:", "pattern too complex"}},
    {"os_execute.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"os_execute.lua:2:", "global 'os'"}},
    {"io_open.lua", LOAD, NULL, QL_ESCRIPT, {"io_open.lua:2:", "global 'io'"}},
    {"debug_sethook.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"debug_sethook.lua:2:", "global 'debug'"}},
    {"require.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"require.lua:2:", "global 'require'"}},
    {"load_bytecode.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"load_bytecode.lua:3:", "global 'load'"}},
    {"bytecode_chunk.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"bytecode_chunk.lua: binary chunks are refused"}},
    {"string_dump.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"string_dump.lua:2:", "field 'dump'"}},
    {"collectgarbage.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"collectgarbage.lua:2:", "global 'collectgarbage'"}},
    {"string_metatable.lua",
     CALL,
     "guard",
     QL_ESCRIPT,
     {"string_metatable.lua:4:", "attempt to index a string value"}},
    {"string_metatable.lua",
     CALL,
     "rawset_meta",
     QL_ESCRIPT,
     {"string_metatable.lua:8:", "bad argument #1 to 'rawset'"}},
    {"string_metatable.lua",
     CALL,
     "replace_lib",
     QL_ESCRIPT,
     {"string_metatable.lua:12:",
      "cannot assign field 'upper': string is read-only"}},
    {"string_metatable.lua",
     CALL,
     "set_meta",
     QL_ESCRIPT,
     {"string_metatable.lua:16:", "cannot change a protected metatable"}},
    {"mutate_lead.lua",
     CALL,
     "guard",
     QL_ESCRIPT,
     {"mutate_lead.lua:4:", "cannot assign field 'state': lead is read-only"}},
    {"mutate_lead.lua",
     CALL,
     "nested",
     QL_ESCRIPT,
     {"mutate_lead.lua:8:",
      "cannot assign field 'conclusion': lead is read-only"}},
    {"mutate_lead.lua",
     CALL,
     "raw",
     QL_ESCRIPT,
     {"mutate_lead.lua:12:", "lead is read-only"}},
    {"mutate_lead.lua",
     CALL,
     "insert",
     QL_ESCRIPT,
     {"mutate_lead.lua:16:", "cannot assign index 4: lead is read-only"}},
    {"mutate_lead.lua",
     CALL,
     "unprotect",
     QL_ESCRIPT,
     {"mutate_lead.lua:20:", "cannot change a protected metatable"}},
    {"state_global.lua",
     CALL,
     "guard",
     QL_ESCRIPT,
     {"state_global.lua:4:",
      "cannot assign global 'count': globals are read-only after loading"}},
    {"state_upvalue.lua",
     CALL,
     "guard",
     QL_ESCRIPT,
     {"state_upvalue.lua:6:", "cannot assign field 'n': table is read-only"}},
    {"recursion_lua.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"recursion_lua.lua:3:", "stack overflow|memory limit exceeded"}},
    {"recursion_metamethod.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"recursion_metamethod.lua:4:", "stack overflow"}},
    {"recursion_gsub.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"recursion_gsub.lua:3:", "stack overflow"}},
    {"guard_nonboolean.lua",
     GUARD,
     "guard",
     QL_ESCRIPT,
     {"guard_nonboolean.lua:3:",
      "guard returned an integer, expected true or false"}},
    {"guard_nonboolean.lua",
     GUARD,
     "table_reason",
     QL_ESCRIPT,
     {"guard_nonboolean.lua:4:", "guard returned false and a table"}},
    {"guard_nonboolean.lua",
     GUARD,
     "nothing",
     QL_ESCRIPT,
     {"guard_nonboolean.lua:5:", "guard returned nil"}},
    {"pcall_swallow.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"pcall_swallow.lua:4:", "instruction budget exhausted"}},
    {"xpcall_handler.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"xpcall_handler.lua:3:", "instruction budget exhausted"}},
    {"gmatch_kept.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"gmatch_kept.lua: ", "string.gmatch iterator survives loading"}},
    {"metatable_kept.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"metatable_kept.lua: ", "a table with a metatable survives loading"}},
    {"globals_metatable.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"globals_metatable.lua: ", "a table with a metatable survives"}},
    {"table_remove_len.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"table_remove_len.lua:3:", "instruction budget exhausted"}},
    {"table_move_range.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"table_move_range.lua:2:", "instruction budget exhausted"}},
    {"table_sort_len.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"table_sort_len.lua:3:", "memory limit exceeded"}},
    {"cycle.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"cycle.lua: in 'self': a table contains itself"}},
    {"deep.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"deep.lua: ", "tables nested deeper than 32"}},
    {"bad_key.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"bad_key.lua: in 'states': a key of type boolean",
      "keys must be strings or integers"}},
    {"many_entries.lua",
     LOAD,
     NULL,
     QL_ESCRIPT,
     {"many_entries.lua: ", "more than 100000 table entries"}},
    {"return_function.lua",
     CALL,
     "guard",
     QL_ESCRIPT,
     {"return_function.lua: in 'result 1': a call cannot return a "
      "function"}},
};

/* True when msg holds want, or one of its '|'-separated alternatives. */
static bool
holds(const char *msg, const char *want)
{
    char alt[128];
    const char *bar;

    while ((bar = strchr(want, '|')) != NULL) {
        snprintf(alt, sizeof alt, "%.*s", (int)(bar - want), want);
        if (strstr(msg, alt) != NULL)
            return true;
        want = bar + 1;
    }
    return strstr(msg, want) != NULL;
}

/*
 * Runs one hostile case. lazy loads with ql_lua_load_lazy: every case must
 * end the same way, a failed seal showing at the first call (or at
 * ql_lua_seal for a file without functions) instead of at loading.
 */
static void
run_hostile(const struct hostile *h, bool lazy)
{
    char *path = qlt_data_path("hostile/");
    char *file;
    struct ql_lua *lua;
    struct ql_lval *t = NULL, *res = NULL;
    struct ql_diag d;
    size_t len, i;
    double t0, ms;
    char *src, *reason = NULL, first[QL_DIAG_MSG];
    bool allowed = false;
    struct ql_lua_limits lim = test_limits();
    ql_err rc;

    print_message("hostile %s%s%s%s\n", lazy ? "(lazy) " : "", h->file,
                  h->fn ? " " : "", h->fn ? h->fn : "");
    file = qlt_join(path, h->file);
    src = qlt_read_file(file, &len);
    memset(&d, 0, sizeof d);
    t0 = now_ms();
    lua = new_state(&lim);
    if (lazy)
        rc = ql_lua_load_lazy(lua, h->file, src, len, &t, &d);
    else
        rc = ql_lua_load(lua, h->file, src, len, &t, &d);
    if (lazy && fails_at_seal(h->file)) {
        /* Loading works; sealing fails, and fails the same way again. */
        if (rc != QL_OK)
            fail_msg("%s: lazy load failed: %s", h->file, d.msg);
        if (ql_lval_get(t, "guard") != NULL)
            rc = call_with_lead(lua, t, "guard", true, &allowed, &reason, NULL,
                                &d);
        else
            rc = ql_lua_seal(lua, &d);
        assert_int_equal(rc, h->code);
        snprintf(first, sizeof first, "%s", d.msg);
        memset(&d, 0, sizeof d);
        assert_int_equal(ql_lua_seal(lua, &d), h->code);
        assert_string_equal(d.msg, first);
        if (ql_lval_get(t, "guard") != NULL) {
            memset(&d, 0, sizeof d);
            assert_int_equal(
                call_with_lead(lua, t, "guard", false, NULL, NULL, &res, &d),
                h->code);
            assert_string_equal(d.msg, first);
        }
        /* The state holds its file still: it is not free for another. */
        assert_int_equal(ql_lua_load(lua, h->file, "return 1", 8, &res, &d),
                         QL_EUSAGE);
        assert_non_null(strstr(d.msg, "already holds"));
        snprintf(d.msg, sizeof d.msg, "%s", first);
        ql_lval_free(t);
        t = NULL;
        rc = h->code; /* and, as for an eager load, no call follows */
    }
    if (h->mode != LOAD && rc != QL_OK)
        fail_msg("%s: load failed: %s", h->file, d.msg);
    if (h->mode == CALL)
        rc = call_with_lead(lua, t, h->fn, false, NULL, NULL, &res, &d);
    else if (h->mode == GUARD)
        rc = call_with_lead(lua, t, h->fn, true, &allowed, &reason, NULL, &d);
    ms = now_ms() - t0;
    print_message("  %.0f ms: %s\n", ms, rc == QL_OK ? "ok" : d.msg);
    if (rc != h->code)
        fail_msg("%s: got %s (%s), want %s", h->file, ql_errname(rc), d.msg,
                 ql_errname(h->code));
    if (h->code != QL_OK && strstr(d.msg, h->file) == NULL)
        fail_msg("%s: message '%s' does not name the file", h->file, d.msg);
    for (i = 0; i < 3 && h->want[i] != NULL; i++)
        if (!holds(d.msg, h->want[i]))
            fail_msg("%s: message '%s' lacks '%s'", h->file, d.msg, h->want[i]);
    if (ms >= hang_limit_ms())
        fail_msg("%s: took %.0f ms", h->file, ms);
    if (h->mode == LOAD && h->code != QL_OK &&
        !(lazy && fails_at_seal(h->file))) {
        /* A failed load leaves the state unusable, and says so. */
        assert_null(t);
        assert_int_equal(ql_lua_load(lua, h->file, "return 1", 8, &t, &d),
                         QL_EUSAGE);
        assert_non_null(strstr(d.msg, "unusable"));
    } else if (h->mode != LOAD) {
        /* A failed call leaves the state usable. */
        rc = call_with_lead(lua, t, "ok", true, &allowed, &reason, NULL, &d);
        if (rc != QL_OK || !allowed)
            fail_msg("%s: state unusable after the failure: %s", h->file,
                     rc != QL_OK ? d.msg : "ok() said false");
    }
    assert_null(res);
    free(reason);
    ql_lval_free(t);
    ql_lua_free(lua);
    free(src);
    free(file);
    free(path);
}

static void
test_hostile(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof hostile_cases / sizeof hostile_cases[0]; i++)
        run_hostile(&hostile_cases[i], false);
}

/*
 * The same cases loaded lazily: sealing before the first call must stop
 * every one of them where an eager load does, with the same message.
 */
static void
test_hostile_lazy(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof hostile_cases / sizeof hostile_cases[0]; i++)
        run_hostile(&hostile_cases[i], true);
}

/* Upvalues, _ENV included, are put back before each call. */
static void
test_upvalues_restored(void **state)
{
    char *path = qlt_data_path("hostile/state_upvalue.lua");
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = NULL;
    struct ql_diag d;
    const char *fns[] = {"counter", "swap_env"};
    char *src, *reason = NULL;
    size_t len, i;
    bool allowed;
    int k;

    (void)state;
    src = qlt_read_file(path, &len);
    assert_int_equal(ql_lua_load(lua, "state_upvalue.lua", src, len, &t, &d),
                     QL_OK);
    for (i = 0; i < 2; i++) {
        for (k = 0; k < 3; k++) {
            allowed = false;
            assert_int_equal(call_with_lead(lua, t, fns[i], true, &allowed,
                                            &reason, NULL, &d),
                             QL_OK);
            assert_true(allowed);
            assert_null(reason);
        }
    }
    ql_lval_free(t);
    ql_lua_free(lua);
    free(src);
    free(path);
}

/*
 * A lazily loaded state is sealed before the first call's code runs: what
 * the call sees, and what it may change, is what an eagerly loaded state
 * gives. Each case runs on both.
 */
static const char sealed_src[] =
    "local def = {states = {'OPEN'}}\n"
    "local count = 0\n"
    "def.peek = function()\n"
    "  return getmetatable(def) == 'read-only' and #def.states == 1\n"
    "end\n"
    "def.grow = function() def.states[2] = 'X'; return true end\n"
    "def.bump = function() count = count + 1; return count == 1 end\n"
    "def.global = function() seen = true; return true end\n"
    "def.lib = function() string.upper = nil; return true end\n"
    "def.n = 3\n"
    "return def\n";

static const struct {
    const char *fn;
    ql_err code;
    const char *want;
} sealed_cases[] = {
    {"peek", QL_OK, NULL},
    {"bump", QL_OK, NULL},
    {"grow", QL_ESCRIPT,
     "lazy.lua:6: cannot assign index 2: table is read-only"},
    {"bump", QL_OK, NULL},
    {"global", QL_ESCRIPT,
     "lazy.lua:8: cannot assign global 'seen': globals are read-only"},
    {"lib", QL_ESCRIPT,
     "lazy.lua:9: cannot assign field 'upper': string is read-only"},
    {"bump", QL_OK, NULL},
    {"peek", QL_OK, NULL},
};

static void
test_lazy_seal(void **state)
{
    struct ql_lua *lua, *other;
    struct ql_lval *t, *t2 = NULL;
    struct ql_diag d;
    char *texts[2];
    char *reason;
    bool allowed;
    size_t i;
    int lazy;
    ql_err rc;

    (void)state;
    for (lazy = 0; lazy < 2; lazy++) {
        print_message("%s load\n", lazy ? "lazy" : "eager");
        lua = new_state(NULL);
        t = NULL;
        rc = lazy ? ql_lua_load_lazy(lua, "lazy.lua", sealed_src,
                                     strlen(sealed_src), &t, &d)
                  : ql_lua_load(lua, "lazy.lua", sealed_src, strlen(sealed_src),
                                &t, &d);
        assert_int_equal(rc, QL_OK);
        texts[lazy] = to_text(t);
        /* Misuse is refused before sealing and leaves the state as it was. */
        assert_int_equal(
            ql_lua_call(lua, ql_lval_get(t, "n"), NULL, NULL, 0, NULL, 0, &d),
            QL_EUSAGE);
        other = new_state(NULL);
        assert_int_equal(ql_lua_seal(other, &d), QL_EUSAGE);
        assert_int_equal(ql_lua_call(other, ql_lval_get(t, "peek"), NULL, NULL,
                                     0, NULL, 0, &d),
                         QL_EUSAGE);
        ql_lua_free(other);
        for (i = 0; i < sizeof sealed_cases / sizeof sealed_cases[0]; i++) {
            reason = NULL;
            allowed = false;
            memset(&d, 0, sizeof d);
            rc = ql_lua_guard(lua, ql_lval_get(t, sealed_cases[i].fn), NULL,
                              NULL, 0, &allowed, &reason, &d);
            print_message("  %s: %s\n", sealed_cases[i].fn,
                          rc == QL_OK ? "ok" : d.msg);
            assert_int_equal(rc, sealed_cases[i].code);
            if (rc == QL_OK)
                assert_true(allowed);
            else
                assert_non_null(strstr(d.msg, sealed_cases[i].want));
            free(reason);
        }
        /* Sealed by now, in either way: sealing again is nothing. */
        assert_int_equal(ql_lua_seal(lua, &d), QL_OK);
        assert_int_equal(ql_lua_seal(lua, &d), QL_OK);
        assert_int_equal(ql_lua_load_lazy(lua, "x.lua", "return 1", 8, &t2, &d),
                         QL_EUSAGE);
        assert_null(t2);
        ql_lval_free(t);
        ql_lua_free(lua);
    }
    /* Both loads convert the file to the same tree. */
    assert_string_equal(texts[0], texts[1]);
    free(texts[0]);
    free(texts[1]);
    assert_int_equal(ql_lua_seal(NULL, &d), QL_EUSAGE);

    /* A state never called is never sealed, and frees all the same. */
    lua = new_state(NULL);
    assert_int_equal(ql_lua_load_lazy(lua, "lazy.lua", sealed_src,
                                      strlen(sealed_src), &t, &d),
                     QL_OK);
    ql_lval_free(t);
    ql_lua_free(lua);
}

/* ---- value trees ---- */

static const char order_src[] =
    "local t = {}\n"
    "for i = 1, 30 do t['k' .. i] = i end\n"
    "t[1] = 'one'; t[2] = 'two'; t[3] = 'three'\n"
    "t[10] = 'ten'; t[-5] = 'neg'; t[0] = 'zero'\n"
    "t['名称'] = '城关镇'; t.Z = true; t.a = 1.5; t.ab = {x = 1, [1] = 2}\n"
    "local keys = {}\n"
    "for k in pairs(t) do keys[#keys + 1] = tostring(k) end\n"
    "t.keys = table.concat(keys, ',')\n"
    "return t\n";

/* The same definition converts to the same tree in every state. */
static void
test_definition_order(void **state)
{
    char *first = NULL, *text;
    const struct ql_lval *v;
    struct ql_lval *t;
    struct ql_lua *lua;
    int run;

    (void)state;
    for (run = 0; run < 16; run++) {
        lua = new_state(NULL);
        t = must_load(lua, "order.lua", order_src);
        text = to_text(t);
        if (first == NULL) {
            first = text;
            assert_int_equal(ql_lval_len(t), 3);
            assert_string_equal(ql_lval_at(t, 1)->u.string.bytes, "one");
            assert_string_equal(ql_lval_at(t, 3)->u.string.bytes, "three");
            assert_null(ql_lval_at(t, 4));
            assert_null(ql_lval_at(t, 0));
            /* Array part, then integers, then strings bytewise. */
            assert_non_null(strstr(
                text, "{\"one\",\"two\",\"three\",-5=\"neg\",0=\"zero\","
                      "10=\"ten\",\"Z\"=true,\"a\"=1.5,\"ab\"={2,\"x\"=1},"
                      "\"k1\"=1,\"k10\"=10,\"k11\"=11"));
            assert_non_null(strstr(text, "\"名称\"=\"城关镇\"}"));
            v = ql_lval_get(t, "keys");
            assert_non_null(v);
            /* pairs() inside the sandbox visits keys in the same order. */
            assert_non_null(strstr(v->u.string.bytes,
                                   "-5,0,1,2,3,10,Z,a,ab,k1,k10,k11,k12"));
            assert_int_equal(ql_lval_get(t, "k7")->u.integer, 7);
            assert_int_equal(ql_lval_get(t, "Z")->type, QL_LVAL_BOOLEAN);
            assert_null(ql_lval_get(t, "missing"));
            assert_null(ql_lval_get(NULL, "a"));
            assert_null(ql_lval_get(ql_lval_get(t, "a"), "a"));
            assert_int_equal(ql_lval_len(NULL), 0);
        } else {
            assert_string_equal(text, first);
            free(text);
        }
        ql_lval_free(t);
        ql_lua_free(lua);
    }
    free(first);
}

static void
test_lval_builders(void **state)
{
    struct ql_lval *t = table_val(), *v = NULL, *u;
    struct ql_lua *lua;
    struct ql_diag d;
    char *text;

    (void)state;
    set(t, "b", str_val("2"));
    set(t, "a", str_val("1"));
    set(t, "a", str_val("one")); /* replaces */
    push(t, int_val(10));
    push(t, int_val(20));
    assert_int_equal(ql_lval_new_boolean(true, &v, &d), QL_OK);
    set(t, "yes", v);
    assert_int_equal(ql_lval_new_number(0.5, &v, &d), QL_OK);
    set(t, "half", v);
    assert_int_equal(ql_lval_new_nil(&v, &d), QL_OK);
    set(t, "none", v);
    assert_int_equal(ql_lval_new_string("a\0b", 3, &v, &d), QL_OK);
    assert_int_equal(v->u.string.len, 3);
    assert_int_equal(v->u.string.bytes[3], '\0');
    set(t, "nul", v);
    text = to_text(t);
    assert_string_equal(text, "{10,20,\"a\"=\"one\",\"b\"=\"2\",\"half\"=0.5,"
                              "\"none\"=nil,\"nul\"=\"a\0b\",\"yes\"=true}");
    free(text);
    assert_int_equal(ql_lval_len(t), 2);
    assert_int_equal(ql_lval_at(t, 2)->u.integer, 20);
    assert_string_equal(ql_lval_get(t, "a")->u.string.bytes, "one");
    assert_string_equal(ql_lval_type_name(QL_LVAL_FUNCTION), "function");
    assert_string_equal(ql_lval_type_name(QL_LVAL_NIL), "nil");
    assert_string_equal(ql_lval_type_name(QL_LVAL_NUMBER), "number");
    assert_string_equal(ql_lval_type_name((enum ql_lval_type)99), "unknown");

    /* Misuse: the value is taken (freed) even so. */
    u = str_val("not a table");
    assert_int_equal(ql_lval_set(u, "x", str_val("x"), &d), QL_EUSAGE);
    assert_non_null(strstr(d.msg, "needs a table"));
    ql_lval_free(u);
    assert_int_equal(ql_lval_append(NULL, str_val("x"), &d), QL_EUSAGE);
    assert_int_equal(ql_lval_set(t, "x", NULL, &d), QL_EUSAGE);
    assert_int_equal(ql_lval_new_string(NULL, 2, &v, &d), QL_EUSAGE);
    ql_lval_free(t);

    /* Appending the key before a lone integer key joins it to the array. */
    lua = new_state(NULL);
    u = must_load(lua, "holes.lua", "return {[1] = 'a', [3] = 'c', x = 1}");
    assert_int_equal(ql_lval_len(u), 1);
    push(u, str_val("b"));
    assert_int_equal(ql_lval_len(u), 3);
    assert_string_equal(ql_lval_at(u, 3)->u.string.bytes, "c");
    text = to_text(u);
    assert_string_equal(text, "{\"a\",\"b\",\"c\",\"x\"=1}");
    free(text);
    ql_lval_free(u);
    ql_lua_free(lua);
    ql_lval_free(NULL);
}

/* ---- guards and what they see ---- */

static const char view_src[] =
    "CONFIG = {limit = 3, names = {'甲', '乙'}}\n"
    "function describe(t)\n"
    "    local r = {}\n"
    "    for k, v in pairs(t) do r[#r + 1] = tostring(k) .. '=' .. "
    "tostring(v) end\n"
    "    return table.concat(r, ',')\n"
    "end\n"
    "return {\n"
    "    view = function(lead, ctx)\n"
    "        local parts = {\n"
    "            lead.id, lead.state, tostring(#lead.list),\n"
    "            describe(lead.fields), table.concat(lead.list, '+'),\n"
    "            tostring(select('#', table.unpack(lead.list))),\n"
    "            tostring(rawget(lead, 'state')), "
    "tostring(rawlen(lead.list)),\n"
    "            tostring(next(lead.list)), tostring(getmetatable(lead)),\n"
    "            ctx.actor, tostring(next({}) == nil),\n"
    "        }\n"
    "        local sum = 0\n"
    "        for i, v in ipairs(lead.list) do sum = sum + v end\n"
    "        parts[#parts + 1] = tostring(sum)\n"
    "        return table.concat(parts, ';')\n"
    "    end,\n"
    "    config = function() return CONFIG end,\n"
    "    allow = function(lead) return lead.fields.conclusion == '查否' end,\n"
    "    refuse = function(lead)\n"
    "        return false, '结论为' .. lead.fields.conclusion .. '，需补查'\n"
    "    end,\n"
    "    refuse_plain = function() return false end,\n"
    "    objects = function()\n"
    "        local A = {}\n"
    "        A.__index = A\n"
    "        function A.new(b) return setmetatable({b = b}, A) end\n"
    "        function A:get() return self.b end\n"
    "        local closed = false\n"
    "        do\n"
    "            local x <close> = setmetatable({}, {__close = function()\n"
    "                closed = true end})\n"
    "        end\n"
    "        local ok, err = pcall(setmetatable, {}, {__mode = 'k'})\n"
    "        return A.new(5):get() == 5 and closed and not ok and\n"
    "            err:find('__mode') ~= nil\n"
    "    end,\n"
    "    catch = function()\n"
    "        local ok, err = pcall(error, 'x', 0)\n"
    "        local ok2, err2 = pcall(function() local t; return t.x end)\n"
    "        local ok3, v = xpcall(function() error('y', 0) end,\n"
    "            function(m) return 'handled ' .. m end)\n"
    "        return not ok and err == 'x' and not ok2 and\n"
    "            err2:find('attempt to index') ~= nil and not ok3 and\n"
    "            v == 'handled y'\n"
    "    end,\n"
    "    echo = function(...) return ... end,\n"
    "    double = function(x) return x * 2 end,\n"
    "    apply = function(f, x) return f(x) end,\n"
    "    sortkeys = function(t)\n"
    "        local r = {}\n"
    "        for k in pairs(t) do r[#r + 1] = tostring(k) end\n"
    "        return table.concat(r, ' ')\n"
    "    end,\n"
    "}\n";

static void
test_guard_view(void **state)
{
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = must_load(lua, "view.lua", view_src), *res = NULL;
    struct ql_diag d;
    char *reason = NULL, *text;
    bool allowed = false;

    (void)state;
    assert_int_equal(
        call_with_lead(lua, t, "view", false, NULL, NULL, &res, &d), QL_OK);
    assert_int_equal(res->type, QL_LVAL_STRING);
    assert_string_equal(res->u.string.bytes,
                        "CG-2026-000017;verify;3;"
                        "a=1,b=2,conclusion=查否,report=核查报告;10+20+30;3;"
                        "verify;3;1;read-only;张三;true;60");
    ql_lval_free(res);
    res = NULL;

    /* A read-only table from loading converts through its proxy. */
    assert_int_equal(
        call_with_lead(lua, t, "config", false, NULL, NULL, &res, &d), QL_OK);
    text = to_text(res);
    assert_string_equal(text, "{\"limit\"=3,\"names\"={\"甲\",\"乙\"}}");
    free(text);
    ql_lval_free(res);
    res = NULL;

    assert_int_equal(
        call_with_lead(lua, t, "allow", true, &allowed, &reason, NULL, &d),
        QL_OK);
    assert_true(allowed);
    assert_null(reason);
    assert_int_equal(
        call_with_lead(lua, t, "refuse", true, &allowed, &reason, NULL, &d),
        QL_OK);
    assert_false(allowed);
    assert_string_equal(reason, "结论为查否，需补查");
    free(reason);
    reason = NULL;
    assert_int_equal(call_with_lead(lua, t, "refuse_plain", true, &allowed,
                                    &reason, NULL, &d),
                     QL_OK);
    assert_false(allowed);
    assert_null(reason);
    assert_int_equal(
        call_with_lead(lua, t, "objects", true, &allowed, &reason, NULL, &d),
        QL_OK);
    assert_true(allowed);
    assert_int_equal(
        call_with_lead(lua, t, "catch", true, &allowed, &reason, NULL, &d),
        QL_OK);
    assert_true(allowed);
    ql_lval_free(t);
    ql_lua_free(lua);
}

/*
 * Arguments are filled on first use (ql_lua_conv.c, lazy_index); a script
 * cannot tell: each way of reading a table, first or after another, sees
 * the same entries, a table read twice is the same table, and a table
 * returned converts whole.
 */
static const char lazy_src[] =
    "local function show(v)\n"
    "    if type(v) ~= 'table' then return tostring(v) end\n"
    "    local r = {}\n"
    "    for k, x in pairs(v) do r[#r + 1] = tostring(k) .. '=' .. show(x) end\n"
    "    return '{' .. table.concat(r, ',') .. '}'\n"
    "end\n"
    "return {\n"
    "    read = function(t)\n"
    "        return tostring(t.s) .. ';' .. tostring(t.sub == t.sub) .. ';'\n"
    "            .. tostring(t.none) .. ';' .. tostring(t.list[2.0]) .. ';'\n"
    "            .. tostring(t.list['2']) .. ';' .. #t.list .. ';'\n"
    "            .. show(t)\n"
    "    end,\n"
    "    raw = function(t)\n"
    "        local k = next(t)\n"
    "        return tostring(k ~= nil) .. ';' .. tostring(rawget(t, 's'))\n"
    "            .. ';' .. rawlen(t.list) .. ';' .. table.concat(t.list, '+')\n"
    "            .. ';' .. show(t)\n"
    "    end,\n"
    "    walk = function(t)\n"
    "        local r = {}\n"
    "        for i, x in ipairs(t.list) do r[#r + 1] = i .. ':' .. x end\n"
    "        return table.concat(r, ' ') .. ';' .. select('#', table.unpack(t.list))\n"
    "    end,\n"
    "    give = function(t) return t.sub end,\n"
    "    write = function(t) t.sub.k = 1 end,\n"
    "}\n";

static void
test_lazy_arguments(void **state)
{
    static const char *const full =
        "{list={1=10,2=20,3=30},s=文,sub={k=v,n=7}}";
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = must_load(lua, "lazy.lua", lazy_src);
    struct ql_lval *arg = table_val(), *sub = table_val(), *list = table_val();
    struct ql_lval *res[1] = {NULL};
    const struct ql_lval *args[1];
    struct ql_diag d;
    char want[256], *text;
    int round;

    (void)state;
    set(sub, "k", str_val("v"));
    set(sub, "n", int_val(7));
    push(list, int_val(10));
    push(list, int_val(20));
    push(list, int_val(30));
    set(arg, "s", str_val("文"));
    set(arg, "sub", sub);
    set(arg, "list", list);
    args[0] = arg;
    /* Twice each: a second call starts from fresh tables again. */
    for (round = 0; round < 2; round++) {
        assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "read"), args, NULL,
                                     1, res, 1, &d),
                         QL_OK);
        snprintf(want, sizeof want, "文;true;nil;20;nil;3;%s", full);
        assert_string_equal(res[0]->u.string.bytes, want);
        ql_lval_free(res[0]);
        assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "raw"), args, NULL,
                                     1, res, 1, &d),
                         QL_OK);
        snprintf(want, sizeof want, "true;文;3;10+20+30;%s", full);
        assert_string_equal(res[0]->u.string.bytes, want);
        ql_lval_free(res[0]);
        assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "walk"), args, NULL,
                                     1, res, 1, &d),
                         QL_OK);
        assert_string_equal(res[0]->u.string.bytes, "1:10 2:20 3:30;3");
        ql_lval_free(res[0]);
        assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "give"), args, NULL,
                                     1, res, 1, &d),
                         QL_OK);
        text = to_text(res[0]);
        assert_string_equal(text, "{\"k\"=\"v\",\"n\"=7}");
        free(text);
        ql_lval_free(res[0]);
        assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "write"), args, NULL,
                                     1, res, 1, &d),
                         QL_ESCRIPT);
        assert_non_null(strstr(d.msg, "cannot assign field 'k'"));
    }
    ql_lval_free(arg);
    ql_lval_free(t);
    ql_lua_free(lua);
}

/* Arguments of every type arrive intact; results come back the same. */
static void
test_call_values(void **state)
{
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = must_load(lua, "view.lua", view_src);
    struct ql_lval *nested = table_val(), *inner = table_val(), *v = NULL;
    struct ql_lval *res[QL_LUA_MAX_RESULTS] = {NULL};
    const struct ql_lval *args[QL_LUA_MAX_ARGS];
    struct ql_lval *own[6];
    struct ql_diag d;
    char *text;
    int i;

    (void)state;
    push(inner, str_val("x"));
    set(inner, "深", int_val(-7));
    set(nested, "inner", inner);
    push(nested, int_val(1));
    own[0] = int_val(INT64_MIN);
    assert_int_equal(ql_lval_new_number(-0.25, &own[1], &d), QL_OK);
    assert_int_equal(ql_lval_new_string("a\0中", 5, &own[2], &d), QL_OK);
    assert_int_equal(ql_lval_new_boolean(false, &own[3], &d), QL_OK);
    assert_int_equal(ql_lval_new_nil(&own[4], &d), QL_OK);
    own[5] = nested;
    for (i = 0; i < 6; i++)
        args[i] = own[i];
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL, 6, res, 7, &d),
        QL_OK);
    assert_int_equal(res[0]->u.integer, INT64_MIN);
    assert_true(res[1]->type == QL_LVAL_NUMBER && res[1]->u.number == -0.25);
    assert_int_equal(res[2]->u.string.len, 5);
    assert_memory_equal(res[2]->u.string.bytes, "a\0中", 5);
    assert_true(res[3]->type == QL_LVAL_BOOLEAN && !res[3]->u.boolean);
    assert_int_equal(res[4]->type, QL_LVAL_NIL);
    text = to_text(res[5]);
    assert_string_equal(text, "{1,\"inner\"={\"x\",\"深\"=-7}}");
    free(text);
    assert_int_equal(res[6]->type, QL_LVAL_NIL); /* missing result */
    for (i = 0; i < 7; i++)
        ql_lval_free(res[i]);

    /* A function handle is an argument like any other. */
    args[0] = ql_lval_get(t, "double");
    args[1] = own[0];
    ql_lval_free(own[0]);
    own[0] = int_val(21);
    args[1] = own[0];
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "apply"), args, NULL, 2, res, 1, &d),
        QL_OK);
    assert_int_equal(res[0]->u.integer, 42);
    ql_lval_free(res[0]);

    /* pairs() over an argument visits its keys in order. */
    v = table_val();
    set(v, "b", int_val(1));
    set(v, "a", int_val(1));
    set(v, "10", int_val(1));
    push(v, int_val(1));
    push(v, int_val(1));
    args[0] = v;
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "sortkeys"), args, NULL, 1, res, 1, &d),
        QL_OK);
    assert_string_equal(res[0]->u.string.bytes, "1 2 10 a b");
    ql_lval_free(res[0]);
    ql_lval_free(v);
    for (i = 0; i < 6; i++)
        ql_lval_free(own[i]);
    ql_lval_free(t);
    ql_lua_free(lua);
}

/*
 * A pairs() iterator made while loading keeps working and keeps no state;
 * read-only errors name keys of every type.
 */
static void
test_readonly_details(void **state)
{
    static const char src[] =
        "local nxt, tbl = pairs({b = 2, a = 1, [1] = 'x'})\n"
        "_ENV[1] = 'one'\n"
        "return {\n"
        "    first = function() return nxt(tbl, nil) end,\n"
        "    after = function() return nxt(tbl, 1) end,\n"
        "    bad = function() return nxt(tbl, 'zzz') end,\n"
        "    boolkey = function(lead) lead[true] = 1 end,\n"
        "    intglobal = function() _ENV[2] = 1 end,\n"
        "    reads = function() return _ENV[1] end,\n"
        "}\n";
    static const struct {
        const char *fn;
        ql_err code;
        const char *want;
    } cases[] = {
        {"first", QL_OK, "1 \"x\""},
        {"first", QL_OK, "1 \"x\""},
        {"after", QL_OK, "\"a\" 1"},
        {"reads", QL_OK, "\"one\" nil"},
        {"bad", QL_ESCRIPT, "ro.lua:6: invalid key to 'pairs' iterator"},
        {"boolkey", QL_ESCRIPT,
         "ro.lua:7: cannot assign a key of type boolean: lead is read-only"},
        {"intglobal", QL_ESCRIPT,
         "ro.lua:8: cannot assign global 2: globals are read-only"},
    };
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = must_load(lua, "ro.lua", src), *res[2], *lead;
    const struct ql_lval *args[1];
    struct ql_diag d;
    char got[128], *a, *b;
    size_t i;

    (void)state;
    lead = make_lead();
    args[0] = lead;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        res[0] = res[1] = NULL;
        assert_int_equal(ql_lua_call(lua, ql_lval_get(t, cases[i].fn), args,
                                     (const char *const[]){"lead"}, 1, res, 2,
                                     &d),
                         cases[i].code);
        if (cases[i].code != QL_OK) {
            if (strstr(d.msg, cases[i].want) == NULL)
                fail_msg("%s: '%s' lacks '%s'", cases[i].fn, d.msg,
                         cases[i].want);
            continue;
        }
        a = to_text(res[0]);
        b = to_text(res[1]);
        snprintf(got, sizeof got, "%s %s", a, b);
        assert_string_equal(got, cases[i].want);
        free(a);
        free(b);
        ql_lval_free(res[0]);
        ql_lval_free(res[1]);
    }
    ql_lval_free(lead);
    ql_lval_free(t);
    ql_lua_free(lua);
}

/* ---- libraries ---- */

static void
test_utf8_chinese(void **state)
{
    static const char src[] =
        "local s = '涉黑涉恶线索核查'\n"
        "local cps = {}\n"
        "for _, c in utf8.codes(s) do cps[#cps + 1] = c end\n"
        "local chars = {}\n"
        "for ch in s:gmatch(utf8.charpattern) do chars[#chars + 1] = ch end\n"
        "return {\n"
        "    s = s, len = #s, ulen = utf8.len(s), upper = s:upper(),\n"
        "    first = utf8.char(utf8.codepoint(s, 1)), cps = cps,\n"
        "    chars = table.concat(chars, '|'), sub = s:sub(1, 6),\n"
        "    off = utf8.offset(s, 3), bad = utf8.len('\\xff') == nil,\n"
        "    fmt = string.format('%s：%d条', '线索', 3),\n"
        "    found = s:find('线索', 1, true), rep = ('清零'):rep(2, '、'),\n"
        "    gsub = (s:gsub('涉', '[涉]')),\n"
        "}\n";
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = must_load(lua, "utf8.lua", src);
    const struct ql_lval *cps;

    (void)state;
    assert_string_equal(ql_lval_get(t, "s")->u.string.bytes,
                        "涉黑涉恶线索核查");
    assert_int_equal(ql_lval_get(t, "len")->u.integer, 24);
    assert_int_equal(ql_lval_get(t, "ulen")->u.integer, 8);
    assert_string_equal(ql_lval_get(t, "upper")->u.string.bytes,
                        "涉黑涉恶线索核查");
    assert_string_equal(ql_lval_get(t, "first")->u.string.bytes, "涉");
    cps = ql_lval_get(t, "cps");
    assert_int_equal(ql_lval_len(cps), 8);
    assert_int_equal(ql_lval_at(cps, 1)->u.integer, 0x6D89);
    assert_int_equal(ql_lval_at(cps, 2)->u.integer, 0x9ED1);
    assert_string_equal(ql_lval_get(t, "chars")->u.string.bytes,
                        "涉|黑|涉|恶|线|索|核|查");
    assert_string_equal(ql_lval_get(t, "sub")->u.string.bytes, "涉黑");
    assert_int_equal(ql_lval_get(t, "off")->u.integer, 7);
    assert_true(ql_lval_get(t, "bad")->u.boolean);
    assert_string_equal(ql_lval_get(t, "fmt")->u.string.bytes, "线索：3条");
    assert_int_equal(ql_lval_get(t, "found")->u.integer, 13);
    assert_string_equal(ql_lval_get(t, "rep")->u.string.bytes, "清零、清零");
    assert_string_equal(ql_lval_get(t, "gsub")->u.string.bytes,
                        "[涉]黑[涉]恶线索核查");
    ql_lval_free(t);
    ql_lua_free(lua);
}

static void
test_math_and_absent(void **state)
{
    static const char src[] =
        "return {\n"
        "    floor = math.floor(3.7), ceil = math.ceil(3.2),\n"
        "    max = math.max(1, 9, 3), abs = math.abs(-4),\n"
        "    maxint = math.maxinteger, ti = math.type(1),\n"
        "    tf = math.type(1.0), sqrt = math.sqrt(16), idiv = 7 // 2,\n"
        "    mod = -7 % 3, fmt = string.format('%.2f', 2 / 3),\n"
        "    toint = math.tointeger(3.0), huge = math.huge > 1e308,\n"
        "    ult = math.ult(1, -1), pi = math.pi,\n"
        "    absent = table.concat({\n"
        "        tostring(math.random), tostring(math.randomseed),\n"
        "        tostring(os), tostring(io), tostring(debug),\n"
        "        tostring(package), tostring(require), tostring(load),\n"
        "        tostring(dofile), tostring(loadfile),\n"
        "        tostring(collectgarbage), tostring(string.dump),\n"
        "        tostring(string.pack), tostring(coroutine),\n"
        "        tostring(warn), tostring((print('ignored'))),\n"
        "    }, ' '),\n"
        "    version = _VERSION,\n"
        "    pack = table.pack(1, nil, 3).n,\n"
        "}\n";
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = must_load(lua, "math.lua", src);

    (void)state;
    assert_int_equal(ql_lval_get(t, "floor")->u.integer, 3);
    assert_int_equal(ql_lval_get(t, "ceil")->u.integer, 4);
    assert_int_equal(ql_lval_get(t, "max")->u.integer, 9);
    assert_int_equal(ql_lval_get(t, "abs")->u.integer, 4);
    assert_int_equal(ql_lval_get(t, "maxint")->u.integer, INT64_MAX);
    assert_string_equal(ql_lval_get(t, "ti")->u.string.bytes, "integer");
    assert_string_equal(ql_lval_get(t, "tf")->u.string.bytes, "float");
    assert_true(ql_lval_get(t, "sqrt")->u.number == 4.0);
    assert_int_equal(ql_lval_get(t, "idiv")->u.integer, 3);
    assert_int_equal(ql_lval_get(t, "mod")->u.integer, 2);
    assert_string_equal(ql_lval_get(t, "fmt")->u.string.bytes, "0.67");
    assert_int_equal(ql_lval_get(t, "toint")->u.integer, 3);
    assert_true(ql_lval_get(t, "huge")->u.boolean);
    assert_true(ql_lval_get(t, "ult")->u.boolean);
    assert_true(ql_lval_get(t, "pi")->u.number > 3.14159 &&
                ql_lval_get(t, "pi")->u.number < 3.1416);
    assert_string_equal(ql_lval_get(t, "absent")->u.string.bytes,
                        "nil nil nil nil nil nil nil nil nil nil nil nil nil "
                        "nil nil nil");
    assert_string_equal(ql_lval_get(t, "version")->u.string.bytes, "Lua 5.4");
    assert_int_equal(ql_lval_get(t, "pack")->u.integer, 3);
    ql_lval_free(t);
    ql_lua_free(lua);
}

/* ---- differential tests against Lua's own library ---- */

/* Runs code in a plain Lua state; returns its string result or "ERROR". */
static char *
raw_run(const char *code)
{
    lua_State *L = luaL_newstate();
    const char *s;
    char *out;

    assert_non_null(L);
    luaL_openlibs(L);
    if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
        fail_msg("plain Lua failed: %s", lua_tostring(L, -1));
    s = lua_tostring(L, -1);
    out = strdup(s != NULL ? s : "(not a string)");
    lua_close(L);
    return out;
}

/* Runs code in the sandbox (with a generous budget); returns its string. */
static char *
sandbox_run(const char *code)
{
    struct ql_lua_limits lim = {.load_steps = 200000000, .load_ms = 20000};
    struct ql_lua *lua = new_state(&lim);
    struct ql_lval *v = must_load(lua, "diff.lua", code);
    char *out;

    if (v->type != QL_LVAL_STRING)
        fail_msg("sandbox returned a %s", ql_lval_type_name(v->type));
    out = strdup(v->u.string.bytes);
    ql_lval_free(v);
    ql_lua_free(lua);
    return out;
}

/* Fails showing the first line where the two outputs differ. */
static void
same_output(const char *code)
{
    char *a = raw_run(code), *b = sandbox_run(code);
    const char *pa = a, *pb = b, *ea, *eb;
    int line = 1;

    if (strcmp(a, b) != 0) {
        for (;;) {
            ea = strchr(pa, '\n');
            eb = strchr(pb, '\n');
            if (ea == NULL || eb == NULL || ea - pa != eb - pb ||
                memcmp(pa, pb, (size_t)(ea - pa)) != 0)
                break;
            pa = ea + 1;
            pb = eb + 1;
            line++;
        }
        fail_msg("output line %d differs:\n  lua:     %.300s\n  sandbox: "
                 "%.300s",
                 line, pa, pb);
    }
    free(a);
    free(b);
}

/* The harness around a list of pattern cases {subject, pattern, init}. */
static const char pattern_head[] =
    "local function ser(...)\n"
    "    local t = {}\n"
    "    for i = 1, select('#', ...) do\n"
    "        local v = select(i, ...)\n"
    "        t[#t + 1] = type(v) .. ':' .. tostring(v)\n"
    "    end\n"
    "    return table.concat(t, ',')\n"
    "end\n"
    "local function try(f)\n"
    "    local ok, r = pcall(f)\n"
    "    if ok then return r end\n"
    "    return 'error'\n"
    "end\n"
    "local cases = {\n";

static const char pattern_tail[] =
    "}\n"
    "local out = {}\n"
    "for n, c in ipairs(cases) do\n"
    "    local s, p, init = c[1], c[2], c[3]\n"
    "    local function add(f) out[#out + 1] = n .. ' ' .. try(f) end\n"
    "    add(function() return ser(string.find(s, p, init)) end)\n"
    "    add(function() return ser(string.find(s, p, init, true)) end)\n"
    "    add(function() return ser(string.match(s, p, init)) end)\n"
    "    add(function()\n"
    "        local r = {}\n"
    "        for a, b in string.gmatch(s, p, init) do r[#r + 1] = ser(a, b) "
    "end\n"
    "        return table.concat(r, ';')\n"
    "    end)\n"
    "    add(function() return ser(string.gsub(s, p, '<%0>')) end)\n"
    "    add(function() return ser(string.gsub(s, p, '%1|%%')) end)\n"
    "    add(function() return ser(string.gsub(s, p, function(...)\n"
    "        return '[' .. ser(...) .. ']' end)) end)\n"
    "    add(function() return ser(string.gsub(s, p,\n"
    "        {a = 'A', ['1'] = 1, x = false}, 2)) end)\n"
    "end\n"
    "return table.concat(out, '\\n')\n";

static const char *const pattern_cases =
    "{'hello world', 'o', 1}, {'hello world', 'o', 6}, {'hello', 'l+'},\n"
    "{'hello', 'l*', 1}, {'hello', 'l-', 1}, {'hello', 'l?l', 1},\n"
    "{'hello', 'x*'}, {'', ''}, {'', 'a*'}, {'abc', ''}, {'abc', '^'},\n"
    "{'abc', '$'}, {'abc', '^abc$'}, {'abc', '^b'}, {'aaa', '^a-$'},\n"
    "{'a.b', '%.'}, {'a.b', '.'}, {'a+b', 'a+b'}, {'a+b', 'a%+b'},\n"
    "{'key = value', '(%w+)%s*=%s*(%w+)'}, {'2026-03-01', "
    "'(%d+)-(%d+)-(%d+)'},\n"
    "{'  trim  ', '^%s*(.-)%s*$'}, {'x = 1, y = 2', '(%w+) = (%w+)'},\n"
    "{'hello', '()ll()'}, {'hello', '()'}, {'abcabc', '(abc)%1'},\n"
    "{'abab', '(a)(b)%2'}, {'f(a(b)c)d', '%b()'}, {'((x)', '%b()'},\n"
    "{'THE (quick) fox', '%f[%a]%a+'}, {'THE (quick) fox', '%f[%l]%a+'},\n"
    "{'hello world', '%f[%w]%w+%f[%W]'}, {'x1y22z333', '%d+'},\n"
    "{'x1y22z333', '%D+'}, {'a\\tb\\nc', '%s'}, {'a\\tb\\nc', '%S+'},\n"
    "{'aBc', '%u'}, {'aBc', '%l+'}, {'a,b;c', '%p'}, {'a,b;c', '%P+'},\n"
    "{'0x1F', '%x+'}, {'\\1\\2a', '%c+'}, {'a b', '%g+'}, "
    "{'abc', '[a-b]+'},\n"
    "{'abc', '[^a-b]+'}, {'a]b', '[]]'}, {'a]b', '[^]]+'}, {'a-b', "
    "'[a-]+'},\n"
    "{'a-b', '[-a]+'}, {'a%b', '[%%]'}, {'a5b', '[%d]'}, {'a5b', "
    "'[%a%d]+'},\n"
    "{'a^b', '[%^]'}, {'a^b', '[b^]+'}, {'z', '%z'}, {'abc', '%a-c'},\n"
    "{'aaab', 'a-b'}, {'aaab', 'a*b'}, {'aaab', '.-b'}, {'aaab', "
    "'^(a*)(.*)$'},\n"
    "{'one two  three', '%a+', 5}, {'one two', '%a+', -3}, {'one', 'o', "
    "0},\n"
    "{'one', 'e', 10}, {'one', 'e', -10}, {'one', '', 4}, {'one', '', 5},\n"
    "{'a\\0b', '\\0'}, {'a\\0b', '[\\0]'}, {'a\\0b', '%z'}, "
    "{'a\\0b', 'a.b'},\n"
    "{'^ab', '^^'}, {'a$b', 'a$b'}, {'ab$', 'b$'}, {'ab', 'b$$'},\n"
    "{'abc', '(a)(b)(c)'}, {'abc', '((a)(b))'}, {'abc', '(a(b(c)))'},\n"
    "{'abc', '(a'}, {'abc', 'a)'}, {'abc', '%'}, {'abc', '[a'}, "
    "{'abc', '[^'},\n"
    "{'abc', '%1'}, {'abc', '(a%1)'}, {'abc', '%b'}, {'abc', '%ba'},\n"
    "{'abc', '%f'}, {'abc', '%fa'}, {'abc', '(()'}, {'abc', '%g'},\n"
    "{'abc', '[%'}, {'abc', '[a-'}, {'abc', '(%a)%0'}, {'aaa', 'a*', 1},\n"
    "{'baaac', 'a*'}, {'baaac', 'a-'}, {'baaac', 'a?'}, {'abc', '.-'},\n"
    "{'hello', '(h)(e)(l)(l)(o)'}, {'x=1&y=2', '([^&=]+)=([^&=]*)'},\n"
    "{'涉黑涉恶', utf8.charpattern}, {'涉黑', '[\\xe6][\\x80-\\xbf]+'},\n"
    "{'a.b.c', '%.', 3}, {'1.5e10', '^[+-]?%d+%.?%d*[eE]?%d*$'},\n"
    "{'  x', '^%s*'}, {'abc', '^(%a)'}, {'abc', '.', -1}, {'abc', "
    "'()b()'},\n"
    "{'[[x]]', '%[(.-)%]'}, {'a b c', '%s*'}, {'xyz', '[x-z]-$'},\n"
    "{'AbC', '[A-Z]'}, {'test123', '^test(%d+)$'}, {'a,,b', '([^,]*)'},\n";

static void
test_patterns_match_lua(void **state)
{
    size_t n =
        strlen(pattern_head) + strlen(pattern_cases) + strlen(pattern_tail) + 1;
    char *code = malloc(n);

    (void)state;
    assert_non_null(code);
    snprintf(code, n, "%s%s%s", pattern_head, pattern_cases, pattern_tail);
    same_output(code);
    free(code);
}

/* Appends s as a Lua string literal with every byte escaped. */
static void
lua_quote(char **buf, size_t *len, size_t *cap, const char *s)
{
    char tmp[8];

    append(buf, len, cap, "'", 1);
    for (; *s != '\0'; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')) {
            append(buf, len, cap, s, 1);
        } else {
            snprintf(tmp, sizeof tmp, "\\%03d", (unsigned char)*s);
            append(buf, len, cap, tmp, strlen(tmp));
        }
    }
    append(buf, len, cap, "'", 1);
}

/* Random patterns and subjects: the sandbox must agree with Lua on each. */
static void
test_patterns_fuzz(void **state)
{
    static const char *const atoms[] = {
        "a", "b", ".", "%a", "%d", "[ab]", "[^a]",   "%s",    "1",
        " ", "(", ")", "()", "%1", "%b()", "%f[%a]", "[a-c]", "%("};
    static const char *const quant[] = {"", "", "*", "+", "-", "?"};
    static const char subj_chars[] = "ab1 ()c";
    char *code = NULL, pat[64], subj[16];
    size_t len = 0, cap = 0, plen;
    uint64_t seed = 0x5eed1234abcdULL;
    int i, k, n, a;

    (void)state;
    append(&code, &len, &cap, pattern_head, strlen(pattern_head));
    for (i = 0; i < 500; i++) {
        pat[0] = '\0';
        plen = 0;
        if (qlt_rand(&seed) % 5 == 0)
            pat[plen++] = '^';
        n = 1 + (int)(qlt_rand(&seed) % 5);
        for (k = 0; k < n; k++) {
            a = (int)(qlt_rand(&seed) % (sizeof atoms / sizeof atoms[0]));
            plen += (size_t)snprintf(
                pat + plen, sizeof pat - plen, "%s%s", atoms[a],
                a < 10 || a == 16 ? quant[qlt_rand(&seed) % 6] : "");
        }
        if (qlt_rand(&seed) % 6 == 0)
            plen += (size_t)snprintf(pat + plen, sizeof pat - plen, "$");
        n = (int)(qlt_rand(&seed) % 12);
        for (k = 0; k < n; k++)
            subj[k] = subj_chars[qlt_rand(&seed) % (sizeof subj_chars - 1)];
        subj[n] = '\0';
        append(&code, &len, &cap, "{", 1);
        lua_quote(&code, &len, &cap, subj);
        append(&code, &len, &cap, ",", 1);
        lua_quote(&code, &len, &cap, pat);
        append(&code, &len, &cap, "},\n", 3);
    }
    append(&code, &len, &cap, pattern_tail, strlen(pattern_tail));
    same_output(code);
    free(code);
}

/* The table library, string.rep and friends give Lua's own results. */
static void
test_library_matches_lua(void **state)
{
    static const char code[] =
        "local out = {}\n"
        "local function dump(t)\n"
        "    local r = {}\n"
        "    for i = 1, #t do r[i] = tostring(t[i]) end\n"
        "    return table.concat(r, ' ')\n"
        "end\n"
        "local function try(...)\n"
        "    local r = table.pack(pcall(...))\n"
        "    if r[1] then return table.unpack(r, 1, r.n) end\n"
        "    -- Lua 5.4.4 numbers table.remove's position argument 1\n"
        "    return false, (r[2]:gsub('#%d', '#N'))\n"
        "end\n"
        "local function add(...)\n"
        "    local r = {}\n"
        "    for i = 1, select('#', ...) do r[i] = tostring((select(i, ...))) "
        "end\n"
        "    out[#out + 1] = table.concat(r, ',')\n"
        "end\n"
        "local t = {1, 2, 3}\n"
        "table.insert(t, 4); table.insert(t, 1, 0); add(dump(t))\n"
        "add(table.remove(t)); add(table.remove(t, 1)); add(dump(t))\n"
        "add(table.remove({})); add(table.remove({}, 0))\n"
        "add(dump(table.move({1, 2, 3, 4, 5}, 2, 4, 1)))\n"
        "add(dump(table.move({1, 2, 3}, 1, 3, 3)))\n"
        "add(dump(table.move({1, 2, 3}, 1, 3, 2, {9})))\n"
        "add(dump(table.move({1, 2, 3}, 3, 1, 1)))\n"
        "add(table.concat({1, 2, 'x'}, '-'), table.concat({}, ','))\n"
        "add(table.concat({1, 2, 3}, ', ', 2, 3), table.concat({1, 2}, "
        "'', 3))\n"
        "add(try(table.concat, {1, {}, 3}))\n"
        "add(select('#', table.unpack({1, 2, 3})), table.unpack({1, 2, 3}, "
        "2))\n"
        "add(table.unpack({1, 2, 3}, 2, 5)); add(table.unpack({}, 3, 1))\n"
        "local s = {5, 3, 8, 1, 9, 2, 7}; table.sort(s); add(dump(s))\n"
        "table.sort(s, function(a, b) return a > b end); add(dump(s))\n"
        "local w = {'pear', 'apple', 'fig', 'Apple'}; table.sort(w); "
        "add(dump(w))\n"
        "local r = {{k = 3}, {k = 1}, {k = 2}}\n"
        "table.sort(r, function(a, b) return a.k < b.k end)\n"
        "add(r[1].k, r[2].k, r[3].k)\n"
        "add(try(table.sort, {1, 'x', 2}))\n"
        "add(try(table.insert, {}, 5, 1)); add(try(table.insert, {}, 1, "
        "2, 3))\n"
        "add(try(table.remove, {1}, 5))\n"
        "add(string.rep('ab', 3, ','), string.rep('x', 0), string.rep('x', "
        "-1))\n"
        "add(string.rep('', 5), string.rep('a', 1, 'sep'), string.rep('', 3, "
        "'-'))\n"
        "add(table.pack(1, nil, 3).n, #table.pack())\n"
        "add(next({}), rawlen({1, 2}), rawlen('abc'), rawget({5}, 1))\n"
        "local x = {}; rawset(x, 'k', 1); add(x.k)\n"
        "add(try(rawset, x, nil, 1)); add(try(rawlen, 5))\n"
        "add(try(setmetatable, 1, {})); add(try(setmetatable, {}, 1))\n"
        "add(getmetatable(setmetatable({}, {__metatable = 'p'})))\n"
        "add(try(setmetatable, setmetatable({}, {__metatable = 1}), {}))\n"
        "add(try(pairs)); add(select(2, pcall(error)))\n"
        "add(try(pcall)); add(try(xpcall, print))\n"
        "add(xpcall(function(a, b) return a + b end, print, 2, 3))\n"
        "local big = setmetatable({}, {__len = function() return 1 << 31 "
        "end})\n"
        "add(try(table.sort, big)); add(try(table.unpack, {}, 1, 1e7))\n"
        "add(try(table.concat, 'abc')); add(try(table.insert, 'abc', 1))\n"
        "add(try(table.move, {}, 1, math.maxinteger, 2))\n"
        "add(try(table.move, {}, -1, math.maxinteger, 2))\n"
        "add(try(string.rep)); add(try(string.gsub, 'a', 'a', true))\n"
        "add(try(string.find, 'a', '(', 1, true))\n"
        "return table.concat(out, '\\n')\n";

    (void)state;
    same_output(code);
}

/* ---- limits ---- */

/*
 * Lua 5.4 copies the parent's hook into a new thread (lua_newthread), so
 * a coroutine could not escape the count hook if the sandbox ever opened
 * the coroutine library. Checked on a plain state.
 */
static void
raw_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luaL_error(L, "hook fired");
}

static void
test_coroutines_inherit_hook(void **state)
{
    lua_State *L = luaL_newstate(), *co;
    double t0 = now_ms();

    (void)state;
    assert_non_null(L);
    luaL_openlibs(L);
    lua_sethook(L, raw_hook, LUA_MASKCOUNT, 1000);
    co = lua_newthread(L);
    assert_true(lua_gethook(co) == raw_hook);
    assert_int_equal(lua_gethookmask(co), LUA_MASKCOUNT);
    assert_int_equal(lua_gethookcount(co), 1000);
    assert_int_not_equal(luaL_dostring(L,
                                       "local co = coroutine.wrap(function()\n"
                                       "    while true do end\n"
                                       "end)\n"
                                       "co()\n"),
                         LUA_OK);
    assert_non_null(strstr(lua_tostring(L, -1), "hook fired"));
    assert_true(now_ms() - t0 < hang_limit_ms());
    lua_close(L);
}

static void
count_hook(lua_State *L, lua_Debug *ar)
{
    int *n;

    (void)ar;
    memcpy(&n, lua_getextraspace(L), sizeof n);
    (*n)++;
}

/*
 * Why the sandbox refuses __gc instead of bounding it: Lua runs finalizers
 * with hooks switched off, so no budget could stop one. A finalizer of a
 * million iterations runs here without a single count hook call.
 */
static void
test_gc_runs_without_hooks(void **state)
{
    lua_State *L = luaL_newstate();
    int fired = 0, *p = &fired;

    (void)state;
    assert_non_null(L);
    luaL_openlibs(L);
    memcpy(lua_getextraspace(L), &p, sizeof p);
    assert_int_equal(luaL_dostring(L, "setmetatable({}, {__gc = function()\n"
                                      "    for i = 1, 1e6 do end\n"
                                      "    finalized = true\n"
                                      "end})\n"),
                     LUA_OK);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 100);
    lua_gc(L, LUA_GCCOLLECT);
    lua_sethook(L, NULL, 0, 0);
    assert_int_equal(lua_getglobal(L, "finalized"), LUA_TBOOLEAN);
    assert_int_equal(fired, 0);
    lua_close(L);
}

/* The wall clock stops a script whose instruction budget is huge. */
static void
test_time_limit(void **state)
{
    struct ql_lua_limits lim = {.load_steps = 1000000000000ULL,
                                .call_steps = 1000000000000ULL,
                                .load_ms = 40,
                                .call_ms = 40};
    static const char src[] =
        "return {\n"
        "    loop = function() while true do end end,\n"
        "    pattern = function()\n"
        "        return string.find(string.rep('a', 1e5), '.-.-.-.-b')\n"
        "    end,\n"
        "    cfuncs = function()\n"
        "        local s = string.rep('x', 1e6)\n"
        "        while true do local _ = s:upper() end\n"
        "    end,\n"
        "    ok = function() return true end,\n"
        "}\n";
    static const char *const fns[] = {"loop", "pattern", "cfuncs"};
    static const char *const top[] = {
        "top.lua:1:", "time limit exceeded (limit 40 ms)", NULL};
    struct ql_lua *lua = new_state(&lim);
    struct ql_lval *t = must_load(lua, "time.lua", src);
    struct ql_diag d;
    char *reason = NULL;
    bool allowed;
    double t0, ms;
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        print_message("time limit: %s\n", fns[i]);
        t0 = now_ms();
        assert_int_equal(
            call_with_lead(lua, t, fns[i], true, &allowed, &reason, NULL, &d),
            QL_ESCRIPT);
        ms = now_ms() - t0;
        assert_non_null(strstr(d.msg, "time limit exceeded (limit 40 ms)"));
        assert_true(ms >= 35 && ms < hang_limit_ms());
        assert_int_equal(
            call_with_lead(lua, t, "ok", true, &allowed, &reason, NULL, &d),
            QL_OK);
        assert_true(allowed);
    }
    ql_lval_free(t);
    ql_lua_free(lua);

    /* Loading has its own clock. */
    lua = new_state(&lim);
    t = NULL;
    t0 = now_ms();
    assert_int_equal(
        ql_lua_load(lua, "top.lua", "while true do end", 17, &t, &d),
        QL_ESCRIPT);
    assert_true(now_ms() - t0 < hang_limit_ms());
    for (i = 0; top[i] != NULL; i++)
        assert_non_null(strstr(d.msg, top[i]));
    assert_null(t);
    ql_lua_free(lua);
}

/* Small budgets end the same scripts sooner, with the limit named. */
static void
test_small_budgets(void **state)
{
    struct ql_lua_limits lim = {
        .call_steps = 5000, .memory = 1 << 20, .max_string = 4096};
    static const char src[] =
        "return {\n"
        "    loop = function() for i = 1, 1e9 do end end,\n"
        "    grow = function() local t = {} for i = 1, 1e6 do t[i] = i end "
        "end,\n"
        "    long = function() return ('x'):rep(5000) end,\n"
        "    cat = function() local s = ('x'):rep(4000) return s .. s end,\n"
        "    fmt = function() return string.format('%s%s', ('x'):rep(3000),\n"
        "        ('y'):rep(3000)) end,\n"
        "    pat = function() return ('a'):rep(4000):find('.-.-b') end,\n"
        "    ok = function() return true end,\n"
        "}\n";
    static const struct {
        const char *fn;
        const char *want;
    } cases[] = {
        {"loop", "small.lua:2: instruction budget exhausted (limit 5000)"},
        {"grow", "small.lua:3: memory limit exceeded (limit 1048576 "
                 "bytes)|small.lua:3: instruction budget exhausted"},
        {"long", "small.lua:4: resulting string too large (limit 4096 "
                 "bytes)"},
        {"cat", "small.lua:5: string too large (limit 4096 bytes)"},
        {"fmt", "small.lua:6: string too large (limit 4096 bytes)"},
        {"pat", "small.lua:8: pattern too complex (more than 1250 matching "
                "steps)"},
    };
    struct ql_lua *lua = new_state(&lim);
    struct ql_lval *t = must_load(lua, "small.lua", src);
    struct ql_diag d;
    char *reason = NULL;
    bool allowed;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("small budget: %s\n", cases[i].fn);
        assert_int_equal(call_with_lead(lua, t, cases[i].fn, true, &allowed,
                                        &reason, NULL, &d),
                         QL_ESCRIPT);
        if (!holds(d.msg, cases[i].want))
            fail_msg("%s: '%s' lacks '%s'", cases[i].fn, d.msg, cases[i].want);
        assert_int_equal(
            call_with_lead(lua, t, "ok", true, &allowed, &reason, NULL, &d),
            QL_OK);
        assert_true(allowed);
        assert_true(ql_lua_memory(lua) <= lim.memory);
    }
    ql_lval_free(t);
    ql_lua_free(lua);
}

/*
 * Every memory limit from too small to enough: creating, loading and
 * calling either work or fail cleanly (the sanitizers check for leaks).
 */
/*
 * Every memory cap either works or fails cleanly, at creation, loading or
 * calling. Loaded lazily, a cap that loading fits but sealing does not
 * fails at ql_lua_seal (as at the first call) and keeps failing.
 */
static void
memory_sweep(bool lazy)
{
    static const char src[] =
        "local t = {}\n"
        "for i = 1, 200 do t[i] = {i, tostring(i)} end\n"
        "return {n = #t, f = function(x) return {x, #t, ('y'):rep(100)} "
        "end}\n";
    struct ql_lua_limits lim;
    struct ql_lua *lua;
    struct ql_lval *t, *res, *arg;
    const struct ql_lval *args[1];
    struct ql_diag d;
    char first[QL_DIAG_MSG];
    size_t mem;
    int failed_new = 0, failed_load = 0, failed_seal = 0, worked = 0;
    ql_err rc;

    for (mem = 1024; mem <= 160 * 1024; mem += 1024) {
        memset(&lim, 0, sizeof lim);
        lim.memory = mem;
        lim.max_string = 512;
        lua = NULL;
        rc = ql_lua_new(&lim, &lua, &d);
        if (rc != QL_OK) {
            assert_int_equal(rc, QL_ENOMEM);
            assert_non_null(strstr(d.msg, "do"));
            assert_null(lua);
            failed_new++;
            continue;
        }
        t = NULL;
        if (lazy)
            rc = ql_lua_load_lazy(lua, "sweep.lua", src, strlen(src), &t, &d);
        else
            rc = ql_lua_load(lua, "sweep.lua", src, strlen(src), &t, &d);
        if (rc != QL_OK) {
            assert_int_equal(rc, QL_ESCRIPT);
            assert_non_null(strstr(d.msg, "memory limit exceeded"));
            assert_null(t);
            failed_load++;
            ql_lua_free(lua);
            continue;
        }
        arg = int_val(7);
        args[0] = arg;
        res = NULL;
        if (lazy && (rc = ql_lua_seal(lua, &d)) != QL_OK) {
            assert_int_equal(rc, QL_ESCRIPT);
            snprintf(first, sizeof first,
                     "sweep.lua: memory limit exceeded (limit %zu bytes)", mem);
            assert_string_equal(d.msg, first);
            assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "f"), args, NULL,
                                         1, &res, 1, &d),
                             QL_ESCRIPT);
            assert_string_equal(d.msg, first);
            assert_null(res);
            failed_seal++;
        } else if ((rc = ql_lua_call(lua, ql_lval_get(t, "f"), args, NULL, 1,
                                     &res, 1, &d)) == QL_OK) {
            assert_int_equal(ql_lval_at(res, 2)->u.integer, 200);
            worked++;
        } else {
            assert_int_equal(rc, QL_ESCRIPT);
            assert_non_null(strstr(d.msg, "memory limit exceeded"));
        }
        assert_true(ql_lua_memory(lua) <= mem);
        ql_lval_free(res);
        ql_lval_free(arg);
        ql_lval_free(t);
        ql_lua_free(lua);
    }
    print_message("%s: %d caps fail creation, %d loading, %d sealing; %d "
                  "work\n",
                  lazy ? "lazy" : "eager", failed_new, failed_load, failed_seal,
                  worked);
    assert_true(failed_new > 0);
    assert_true(failed_load > 0);
    assert_true(lazy ? failed_seal > 0 : failed_seal == 0);
    assert_true(worked > 0);
}

static void
test_memory_sweep(void **state)
{
    (void)state;
    memory_sweep(false);
    memory_sweep(true);
}

/* ---- errors ---- */

static void
test_script_errors(void **state)
{
    static const char *const syn[] = {"syn.lua:2:", "near", NULL};
    static const char *const lvl0[] = {"e.lua:1: boom", NULL};
    static const char *const num[] = {"e.lua:1: 42", NULL};
    static const char *const nl[] = {"e.lua:1: line1 line2", NULL};
    static const char *const nil[] = {
        "e.lua:1: error object is not a string (a nil)", NULL};
    static const char *const deep[] = {
        "e.lua:1: deep (called from lines 2, 3, 4)", NULL};
    static const char *const conv[] = {
        "e.lua: in 'a': a key of type number (not an integer)", NULL};
    static const char *const flt[] = {"e.lua:1: 1.5", NULL};
    static const char *const bytes[] = {
        "e.lua: in '[33]': strings of more than 33554432 bytes in all", NULL};
    char longname[128];
    struct ql_lua *lua;
    struct ql_lval *v = NULL;
    struct ql_diag d;
    const char *p;
    int n;

    (void)state;
    load_fails("syn.lua", "local x =\n= 2\n", QL_ESCRIPT, syn);
    load_fails("e.lua", "error('boom', 0)", QL_ESCRIPT, lvl0);
    load_fails("e.lua", "error(42)", QL_ESCRIPT, num);
    load_fails("e.lua", "error('line1\\nline2', 0)", QL_ESCRIPT, nl);
    load_fails("e.lua", "error()", QL_ESCRIPT, nil);
    load_fails("e.lua",
               "local function f() error('deep', 0) end\n"
               "local function g() f() end\n"
               "local function h() g() end\n"
               "h()\n",
               QL_ESCRIPT, deep);
    load_fails("e.lua", "return {a = {[1.5] = 1}}", QL_ESCRIPT, conv);
    load_fails("e.lua", "error(1.5)", QL_ESCRIPT, flt);
    load_fails("e.lua",
               "local s = ('x'):rep(1 << 20)\n"
               "local t = {}\n"
               "for i = 1, 40 do t[i] = s end\n"
               "return t\n",
               QL_ESCRIPT, bytes);

    /* A long file name is shortened once, the way Lua does it. */
    memset(longname, 'd', sizeof longname);
    memcpy(longname + 100, "/flow.lua", 10);
    lua = new_state(NULL);
    assert_int_equal(
        ql_lua_load(lua, longname, "local x = nil + 1", 17, &v, &d),
        QL_ESCRIPT);
    assert_true(strncmp(d.msg, "...", 3) == 0);
    for (n = 0, p = d.msg; (p = strstr(p, "flow.lua:1:")) != NULL; p++)
        n++;
    assert_int_equal(n, 1);
    assert_non_null(strstr(d.msg, "attempt to perform arithmetic"));
    ql_lua_free(lua);
}

/*
 * The key path a conversion error names is written only when the error
 * happens; it must read as it always did: dots before names, brackets
 * around integers, each name cut at 40 bytes, the whole at 127, and the
 * result's number first for what a call returns.
 */
static void
test_conversion_paths(void **state)
{
    static const char long_src[] =
        "local function k(c) return c:rep(45) end\n"
        "return {[k'a'] = {[k'b'] = {[k'c'] = {[k'd'] = {[k'e'] = "
        "{[true] = 1}}}}}}\n";
    static const char *const mixed[] = {
        "e.lua: in 'a.b[3][-2]': a key of type boolean", NULL};
    static const char *const root[] = {
        "e.lua: in the returned value: a key of type number (not an "
        "integer)",
        NULL};
    static const char *const deep[] = {
        "e.lua: in 'x[1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1]"
        "[1][1][1][1][1][1][1][1][1][1][1][1][1]': tables nested deeper "
        "than 32",
        NULL};
    static const char *const cycle[] = {
        "e.lua: in 'a.back': a table contains itself", NULL};
    static const char fn_src[] =
        "return {first = function() return {x = {function() end}} end,\n"
        "        second = function() return 1, {y = {[7] = print}} end,\n"
        "        ok = function() return {x = {1}} end}\n";
    struct ql_lua *lua;
    struct ql_lval *t, *res[2] = {NULL, NULL};
    const char *const *want;
    char wantlong[160], *p;
    struct ql_diag d;
    size_t i;

    (void)state;
    load_fails("e.lua", "return {a = {b = {[3] = {[-2] = {[true] = 1}}}}}",
               QL_ESCRIPT, mixed);
    load_fails("e.lua", "return {[1.5] = 1}", QL_ESCRIPT, root);
    load_fails("e.lua",
               "local t = {}\nlocal c = t\n"
               "for i = 1, 33 do c[1] = {}; c = c[1] end\n"
               "return {x = t}\n",
               QL_ESCRIPT, deep);
    load_fails("e.lua", "local a = {}\na.back = a\nreturn {a = a}\n",
               QL_ESCRIPT, cycle);

    /* 40 + 1 + 40 + 1 + 40 + 1 + 4 bytes: the fourth name is cut short
       at the path's end and the fifth left out. */
    p = wantlong;
    p += snprintf(p, 8, "in '");
    for (i = 0; i < 127; i++)
        *p++ = (i + 1) % 41 == 0 ? '.' : (char)('a' + i / 41);
    snprintf(p, 40, "': a key of type boolean");
    want = (const char *const[]){wantlong, NULL};
    load_fails("long.lua", long_src, QL_ESCRIPT, want);

    lua = new_state(NULL);
    t = must_load(lua, "fn.lua", fn_src);
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "first"), NULL, NULL, 0, res, 1, &d),
        QL_ESCRIPT);
    assert_non_null(strstr(
        d.msg, "fn.lua: in 'result 1.x[1]': a call cannot return a function"));
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "second"), NULL, NULL, 0, res, 2, &d),
        QL_ESCRIPT);
    assert_non_null(
        strstr(d.msg, "fn.lua: in 'result 2.y[7]': a call cannot return"));
    /* The path of a failed conversion does not stay for the next one. */
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "ok"), NULL, NULL, 0, res, 1, &d),
        QL_OK);
    assert_int_equal(ql_lval_at(ql_lval_get(res[0], "x"), 1)->u.integer, 1);
    ql_lval_free(res[0]);
    ql_lval_free(t);
    ql_lua_free(lua);
}

static void
test_usage_errors(void **state)
{
    struct ql_lua_limits bad = {.memory = 1000, .max_string = 2000};
    struct ql_lua *lua = NULL, *other;
    struct ql_lval *t, *t2, *v = NULL, *res = NULL, *deep, *cur, *arg;
    struct ql_lval forged;
    const struct ql_lval *args[QL_LUA_MAX_ARGS + 1];
    struct ql_diag d;
    char *reason = NULL, *big;
    bool allowed;
    int i;

    (void)state;
    assert_int_equal(ql_lua_new(&bad, &lua, &d), QL_EUSAGE);
    assert_non_null(strstr(d.msg, "above the memory limit"));
    assert_null(lua);
    assert_int_equal(ql_lua_new(NULL, NULL, &d), QL_EUSAGE);
    assert_int_equal(ql_lua_load(NULL, "x", "", 0, &v, &d), QL_EUSAGE);
    ql_lua_free(NULL);
    assert_int_equal(ql_lua_memory(NULL), 0);

    lua = new_state(NULL);
    other = new_state(NULL);
    assert_int_equal(ql_lua_load(lua, "x.lua", NULL, 3, &v, &d), QL_EUSAGE);
    /* Calling before loading. */
    memset(&forged, 0, sizeof forged);
    forged.type = QL_LVAL_FUNCTION;
    forged.u.function.owner = lua;
    forged.u.function.ref = 1;
    assert_int_equal(ql_lua_call(lua, &forged, NULL, NULL, 0, NULL, 0, &d),
                     QL_EUSAGE);
    assert_non_null(strstr(d.msg, "not loaded"));

    t = must_load(lua, "use.lua", view_src);
    t2 = must_load(other, "other.lua", "return {f = function() end}");
    assert_int_equal(ql_lua_load(lua, "again.lua", "return 1", 8, &v, &d),
                     QL_EUSAGE);
    assert_non_null(strstr(d.msg, "already holds 'use.lua'"));

    /* Handles: of another state, not functions, forged. */
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t2, "f"), NULL, NULL, 0, NULL, 0, &d),
        QL_EUSAGE);
    assert_non_null(strstr(d.msg, "does not belong to 'use.lua'"));
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "missing"), NULL, NULL, 0, NULL, 0, &d),
        QL_EUSAGE);
    assert_int_equal(ql_lua_call(lua, t, NULL, NULL, 0, NULL, 0, &d),
                     QL_EUSAGE);
    assert_non_null(strstr(d.msg, "not table"));
    assert_int_equal(ql_lua_call(lua, &forged, NULL, NULL, 0, NULL, 0, &d),
                     QL_EUSAGE);
    assert_non_null(strstr(d.msg, "is not a function"));

    /* Counts. */
    for (i = 0; i <= QL_LUA_MAX_ARGS; i++)
        args[i] = t;
    assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL,
                                 QL_LUA_MAX_ARGS + 1, NULL, 0, &d),
                     QL_EUSAGE);
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), NULL, NULL, 1, NULL, 0, &d),
        QL_EUSAGE);
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), NULL, NULL, 0, NULL, 1, &d),
        QL_EUSAGE);
    assert_int_equal(ql_lua_guard(lua, ql_lval_get(t, "allow"), NULL, NULL, 0,
                                  NULL, &reason, &d),
                     QL_EUSAGE);

    /* Arguments that cannot be passed. */
    args[0] = NULL;
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL, 1, &res, 1, &d),
        QL_EUSAGE);
    assert_non_null(strstr(d.msg, "argument 1"));
    arg = table_val();
    set(arg, "x", int_val(1));
    arg->u.table.entries[0].key.type = QL_LVAL_BOOLEAN;
    args[0] = arg;
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL, 1, &res, 1, &d),
        QL_EUSAGE);
    assert_non_null(strstr(d.msg, "key of type boolean"));
    arg->u.table.entries[0].key.type = QL_LVAL_STRING;
    ql_lval_free(arg);
    /* Appending takes the node, so the chain is built from the inside. */
    deep = table_val();
    for (i = 0; i < 40; i++) {
        cur = table_val();
        push(cur, deep);
        deep = cur;
    }
    args[0] = deep;
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL, 1, &res, 1, &d),
        QL_EUSAGE);
    assert_non_null(strstr(d.msg, "deeper than 32"));
    ql_lval_free(deep);
    big = calloc(1, QL_LUA_STRING_DEFAULT + 2);
    assert_non_null(big);
    memset(big, 'x', QL_LUA_STRING_DEFAULT + 1);
    arg = str_val(big);
    args[0] = arg;
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL, 1, &res, 1, &d),
        QL_EUSAGE);
    assert_non_null(strstr(d.msg, "more than the limit"));
    ql_lval_free(arg);
    free(big);
    args[0] = ql_lval_get(t2, "f");
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL, 1, &res, 1, &d),
        QL_EUSAGE);
    assert_non_null(strstr(d.msg, "another script state"));
    arg = table_val();
    set(arg, "x", int_val(1));
    arg->u.table.entries[0].value.type = (enum ql_lval_type)77;
    args[0] = arg;
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL, 1, &res, 1, &d),
        QL_EUSAGE);
    assert_non_null(strstr(d.msg, "unknown type"));
    arg->u.table.entries[0].value.type = QL_LVAL_INTEGER;
    ql_lval_free(arg);
    memset(&forged, 0, sizeof forged);
    forged.type = QL_LVAL_STRING;
    forged.u.string.len = 3;
    args[0] = &forged;
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL, 1, &res, 1, &d),
        QL_EUSAGE);
    assert_non_null(strstr(d.msg, "string without bytes"));
    forged.type = QL_LVAL_TABLE;
    forged.u.table.count = 2;
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL, 1, &res, 1, &d),
        QL_EUSAGE);
    assert_non_null(strstr(d.msg, "table without entries"));
    assert_null(res);

    /* A function result is refused; the state still works. */
    args[0] = ql_lval_get(t, "double");
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "echo"), args, NULL, 1, &res, 1, &d),
        QL_ESCRIPT);
    assert_non_null(strstr(d.msg, "cannot return a function"));
    assert_int_equal(ql_lua_guard(lua, ql_lval_get(t, "refuse_plain"), NULL,
                                  NULL, 0, &allowed, &reason, &d),
                     QL_OK);
    assert_false(allowed);
    ql_lval_free(t);
    ql_lval_free(t2);
    ql_lua_free(lua);
    ql_lua_free(other);
}

/*
 * Argument tables are kept from one call for the next (ql_lua_conv.c):
 * each call still sees only its own arguments, under its own labels, a
 * table that held many entries is made afresh, and a state's memory does
 * not grow with the number of calls.
 */
static const char kept_src[] =
    "local function show(v)\n"
    "    if type(v) ~= 'table' then return tostring(v) end\n"
    "    local r = {}\n"
    "    for k, x in pairs(v) do\n"
    "        r[#r + 1] = tostring(k) .. '=' .. show(x)\n"
    "    end\n"
    "    return '{' .. table.concat(r, ',') .. '}#' .. #v\n"
    "end\n"
    "return {\n"
    "    show = function(a, b)\n"
    "        return show(a) .. '|' .. show(b)\n"
    "    end,\n"
    "    pick = function(a, b)\n"
    "        return tostring(a.x) .. ';' .. tostring(a.t and a.t[1]) .. ';'\n"
    "            .. tostring(b and b.x)\n"
    "    end,\n"
    "    write_a = function(a) a.x = 1 end,\n"
    "    write_b = function(a, b) b.x = 1 end,\n"
    "    fail = function(a) local x = a.x; local t = a.t; error('late') end,\n"
    "}\n";

/* {x=<x>, t={1..n}} as a tree, or {} when x is NULL. */
static struct ql_lval *
kept_arg(const char *x, int n)
{
    struct ql_lval *a = table_val(), *t;
    int i;

    if (x == NULL)
        return a;
    t = table_val();
    for (i = 1; i <= n; i++)
        push(t, int_val(i));
    set(a, "x", str_val(x));
    set(a, "t", t);
    return a;
}

/* "{1=1,2=2,...}#n" */
static void
seq_text(char *buf, size_t cap, int n)
{
    size_t used = 1;
    int i;

    snprintf(buf, cap, "{");
    for (i = 1; i <= n; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%d=%d",
                                 i > 1 ? "," : "", i, i);
    snprintf(buf + used, cap - used, "}#%d", n);
}

static void
test_kept_argument_tables(void **state)
{
    /* Sizes across the kept limit (64 entries) and back. */
    static const int sizes[] = {3, 0, 100, 2, 65, 64, 1, 0, 200, 5};
    static const char *const ab[2] = {"lead", "ctx"};
    static const char *const ba[2] = {"ctx", "lead"};
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = must_load(lua, "kept.lua", kept_src);
    struct ql_lval *a, *b, *res[1] = {NULL};
    const struct ql_lval *args[2];
    struct ql_diag d;
    char x[32], seq[2048], want[4200];
    size_t i, mem10 = 0;

    (void)state;
    for (i = 0; i < 1000; i++) {
        int n = sizes[i % (sizeof sizes / sizeof sizes[0])];

        snprintf(x, sizeof x, "call%zu", i);
        a = kept_arg(x, n);
        b = kept_arg(i % 3 == 0 ? NULL : "b", 1);
        args[0] = a;
        args[1] = b;
        assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "show"), args, ab, 2,
                                     res, 1, &d),
                         QL_OK);
        seq_text(seq, sizeof seq, n);
        snprintf(want, sizeof want, "{t=%s,x=%s}#0|%s", seq, x,
                 i % 3 == 0 ? "{}#0" : "{t={1=1}#1,x=b}#0");
        assert_string_equal(res[0]->u.string.bytes, want);
        ql_lval_free(res[0]);
        /* A lazy read of the same kind of tables. */
        assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "pick"), args, ab, 2,
                                     res, 1, &d),
                         QL_OK);
        snprintf(want, sizeof want, "%s;%s;%s", x, n > 0 ? "1" : "nil",
                 i % 3 == 0 ? "nil" : "b");
        assert_string_equal(res[0]->u.string.bytes, want);
        ql_lval_free(res[0]);
        /* A call that fails half way leaves nothing for the next. */
        if (i % 7 == 0)
            assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "fail"), args,
                                         ab, 2, res, 1, &d),
                             QL_ESCRIPT);
        /* Kept tables take the label of their new call. */
        if (i % 50 == 0) {
            assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "write_a"),
                                         args, ba, 2, res, 1, &d),
                             QL_ESCRIPT);
            assert_non_null(strstr(d.msg, "ctx is read-only"));
            assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "write_b"),
                                         args, ab, 2, res, 1, &d),
                             QL_ESCRIPT);
            assert_non_null(strstr(d.msg, "ctx is read-only"));
            assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "write_a"),
                                         args, NULL, 2, res, 1, &d),
                             QL_ESCRIPT);
            assert_non_null(strstr(d.msg, "argument 1 is read-only"));
        }
        ql_lval_free(a);
        ql_lval_free(b);
        if (i == 9)
            mem10 = ql_lua_memory(lua);
    }
    /* Garbage comes and goes; what is kept stays small. */
    print_message("memory after 10 calls %zu, after 1000 %zu\n", mem10,
                  ql_lua_memory(lua));
    assert_true(ql_lua_memory(lua) < mem10 + 256 * 1024);
    ql_lval_free(t);
    ql_lua_free(lua);
}

/* More tables in one call than are kept: each one is still its own. */
static void
test_many_argument_tables(void **state)
{
    static const char src[] =
        "return { sum = function(a)\n"
        "    local s, n = 0, 0\n"
        "    for i = 1, #a do s = s + a[i].v; n = n + #a[i].l end\n"
        "    return s .. '/' .. n .. '/' .. tostring(a[1] == a[2])\n"
        "end }\n";
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = must_load(lua, "many.lua", src);
    struct ql_lval *a, *e, *l, *res[1] = {NULL};
    const struct ql_lval *args[1];
    struct ql_diag d;
    char want[64];
    int round, i, k, n;

    (void)state;
    for (round = 0; round < 3; round++) {
        n = round == 1 ? 5 : 40;
        a = table_val();
        for (i = 1; i <= n; i++) {
            e = table_val();
            l = table_val();
            for (k = 0; k < i % 4; k++)
                push(l, int_val(k));
            set(e, "v", int_val(i + round));
            set(e, "l", l);
            push(a, e);
        }
        args[0] = a;
        assert_int_equal(ql_lua_call(lua, ql_lval_get(t, "sum"), args, NULL,
                                     1, res, 1, &d),
                         QL_OK);
        /* sum of i + round, sum of i % 4 */
        for (i = 1, k = 0; i <= n; i++)
            k += i % 4;
        snprintf(want, sizeof want, "%d/%d/false",
                 n * (n + 1) / 2 + n * round, k);
        assert_string_equal(res[0]->u.string.bytes, want);
        ql_lval_free(res[0]);
        ql_lval_free(a);
    }
    ql_lval_free(t);
    ql_lua_free(lua);
}

/*
 * Closures share upvalues; each shared one is put back once, through
 * whichever closure the seal met first, and every closure sees it put
 * back. Lazy and eager states alike.
 */
static void
test_shared_upvalues_restored(void **state)
{
    static const char src[] =
        "local n, env_seen = 0, nil\n"
        "local function bump() n = n + 1; return n end\n"
        "local t = {}\n"
        "t.a = function() return bump() end\n"
        "t.b = function() n = n + 10; return n end\n"
        "t.c = function() return n end\n"
        "t.d = function() local f = bump; bump = nil; return f() end\n"
        "t.e = function() return bump ~= nil end\n"
        "return t\n";
    static const struct {
        const char *fn;
        int64_t want;
    } seq[] = {{"a", 1}, {"a", 1}, {"b", 10}, {"c", 0}, {"d", 1},
               {"e", 1}, {"b", 10}, {"c", 0}};
    struct ql_lval *res[1] = {NULL}, *t;
    struct ql_lua *lua;
    struct ql_diag d;
    size_t i;
    int lazy;

    (void)state;
    for (lazy = 0; lazy < 2; lazy++) {
        lua = new_state(NULL);
        t = NULL;
        if (lazy)
            assert_int_equal(ql_lua_load_lazy(lua, "up.lua", src, strlen(src),
                                              &t, &d),
                             QL_OK);
        else
            t = must_load(lua, "up.lua", src);
        for (i = 0; i < sizeof seq / sizeof seq[0]; i++) {
            print_message("%s %s\n", lazy ? "lazy" : "eager", seq[i].fn);
            assert_int_equal(ql_lua_call(lua, ql_lval_get(t, seq[i].fn), NULL,
                                         NULL, 0, res, 1, &d),
                             QL_OK);
            if (res[0]->type == QL_LVAL_BOOLEAN)
                assert_int_equal(res[0]->u.boolean, seq[i].want != 0);
            else
                assert_int_equal(res[0]->u.integer, seq[i].want);
            ql_lval_free(res[0]);
        }
        ql_lval_free(t);
        ql_lua_free(lua);
    }
}

/*
 * A guard's answer is checked as before now that its results live on the
 * stack: the line of the guard in the message, the reason copied, and a
 * table among the results freed.
 */
static void
test_guard_answers(void **state)
{
    static const char src[] =
        "return {\n"
        "  yes = function() return true end,\n"
        "  no = function() return false, 'nein' end,\n"
        "  bare = function() return false end,\n"
        "  table = function() return {1, {2}} end,\n"
        "  reason = function() return false, {x = 'y'} end,\n"
        "}\n";
    static const struct {
        const char *fn;
        ql_err code;
        bool allowed;
        const char *reason;
    } cases[] = {
        {"yes", QL_OK, true, NULL},
        {"no", QL_OK, false, "nein"},
        {"bare", QL_OK, false, NULL},
        {"table", QL_ESCRIPT, false,
         "answers.lua:5: guard returned a table, expected true or false"},
        {"reason", QL_ESCRIPT, false,
         "answers.lua:6: guard returned false and a table, expected a "
         "reason string"},
    };
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = must_load(lua, "answers.lua", src);
    struct ql_diag d;
    char *reason;
    bool allowed;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s\n", cases[i].fn);
        reason = NULL;
        allowed = !cases[i].allowed;
        assert_int_equal(ql_lua_guard(lua, ql_lval_get(t, cases[i].fn), NULL,
                                      NULL, 0, &allowed, &reason, &d),
                         cases[i].code);
        if (cases[i].code != QL_OK) {
            assert_string_equal(d.msg, cases[i].reason);
            continue;
        }
        assert_int_equal(allowed, cases[i].allowed);
        if (cases[i].reason == NULL)
            assert_null(reason);
        else
            assert_string_equal(reason, cases[i].reason);
        free(reason);
    }
    ql_lval_free(t);
    ql_lua_free(lua);
}

/*
 * A kept argument table must not know the keys of the call before.
 * The first call gets a lead with a field 'informant' and a 10-line list;
 * the second a lead without them. next(t, k) for a key t never had raises
 * "invalid key to 'next'", so a table that answered would tell.
 */
static void
test_kept_tables_forget_keys(void **state)
{
    static const char src[] =
        "return { probe = function(lead)\n"
        "    local f = lead.fields\n"
        "    local _ = f.summary\n"
        "    local had = pcall(next, f, 'informant')\n"
        "    local list = pcall(next, f.tags or {}, 9)\n"
        "    return tostring(had) .. '/' .. tostring(list)\n"
        "end }\n";
    static const char *const names[1] = {"lead"};
    struct ql_lua *lua = new_state(NULL);
    struct ql_lval *t = must_load(lua, "probe.lua", src);
    struct ql_lval *a, *f, *tags, *res[1] = {NULL};
    const struct ql_lval *args[1];
    struct ql_diag d;
    int i;

    (void)state;
    /* Call 1: a lead with an informant and ten tags, all read. */
    a = table_val();
    f = table_val();
    tags = table_val();
    for (i = 1; i <= 10; i++)
        push(tags, int_val(i));
    set(f, "summary", str_val("one"));
    set(f, "informant", str_val("Zhang San 138-0000-0000"));
    set(f, "tags", tags);
    set(a, "fields", f);
    args[0] = a;
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "probe"), args, names, 1, res, 1, &d),
        QL_OK);
    print_message("call 1 (has informant, 10 tags): %s\n",
                  res[0]->u.string.bytes);
    ql_lval_free(res[0]);
    ql_lval_free(a);
    /* Call 2: another lead, no informant, two tags. */
    a = table_val();
    f = table_val();
    tags = table_val();
    push(tags, int_val(1));
    push(tags, int_val(2));
    set(f, "summary", str_val("two"));
    set(f, "tags", tags);
    set(a, "fields", f);
    args[0] = a;
    assert_int_equal(
        ql_lua_call(lua, ql_lval_get(t, "probe"), args, names, 1, res, 1, &d),
        QL_OK);
    print_message("call 2 (no informant, 2 tags): %s\n",
                  res[0]->u.string.bytes);
    /* A fresh table would answer false/false: the key was never in it. */
    assert_string_equal(res[0]->u.string.bytes, "false/false");
    ql_lval_free(res[0]);
    ql_lval_free(a);
    ql_lval_free(t);
    ql_lua_free(lua);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_hostile_lazy),
        cmocka_unit_test(test_upvalues_restored),
        cmocka_unit_test(test_lazy_seal),
        cmocka_unit_test(test_definition_order),
        cmocka_unit_test(test_lval_builders),
        cmocka_unit_test(test_guard_view),
        cmocka_unit_test(test_readonly_details),
        cmocka_unit_test(test_call_values),
        cmocka_unit_test(test_lazy_arguments),
        cmocka_unit_test(test_utf8_chinese),
        cmocka_unit_test(test_math_and_absent),
        cmocka_unit_test(test_patterns_match_lua),
        cmocka_unit_test(test_patterns_fuzz),
        cmocka_unit_test(test_library_matches_lua),
        cmocka_unit_test(test_coroutines_inherit_hook),
        cmocka_unit_test(test_gc_runs_without_hooks),
        cmocka_unit_test(test_time_limit),
        cmocka_unit_test(test_small_budgets),
        cmocka_unit_test(test_memory_sweep),
        cmocka_unit_test(test_script_errors),
        cmocka_unit_test(test_conversion_paths),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_kept_argument_tables),
        cmocka_unit_test(test_kept_tables_forget_keys),
        cmocka_unit_test(test_many_argument_tables),
        cmocka_unit_test(test_shared_upvalues_restored),
        cmocka_unit_test(test_guard_answers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
