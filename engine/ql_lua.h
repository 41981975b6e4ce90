/*
 * ql_lua: the sandbox that runs workflow files and their guards.
 *
 * A struct ql_lua owns one Lua 5.4 state. It loads one workflow file
 * (ql_lua_load), hands back what the file returns as a C value tree (struct
 * ql_lval), and later calls the functions found in that tree (ql_lua_call,
 * ql_lua_guard). Nothing else in the engine sees Lua: the value tree is the
 * whole interface, and docs/lua-sandbox.md describes the rules in full.
 *
 * What a script may do:
 *   - the base, table, string, math and utf8 libraries, minus everything
 *     that reaches outside the state or makes a run differ from the next
 *     (no io, os, debug, package, require, load, loadfile, dofile,
 *     collectgarbage, string.dump, math.random; print does nothing);
 *   - patterns through a matcher of this module whose work is counted;
 *   - pairs() visits keys in a fixed order (numbers, strings, booleans), so
 *     the same script gives the same answer in every run.
 *
 * Limits (struct ql_lua_limits): a memory cap for the whole state, a cap on
 * any one string, an instruction budget and a wall-clock limit for loading
 * and for each call, and a matching-step budget for patterns. Running out
 * of any of them ends the load or call with QL_ESCRIPT and a message such as
 * "gang_lead.lua:42: instruction budget exhausted (limit 1000000)"; the
 * script cannot catch it with pcall.
 *
 * After a successful load every table reachable from the returned value and
 * from the globals is read-only, and the upvalues of every function found
 * then are put back to their loaded values before each call: a guard cannot
 * keep anything from one call to the next. (ql_lua_load_lazy does that
 * work at the first call instead; no call can tell the difference.) Arguments
 * reach a call as read-only tables built fresh for that call.
 *
 * Errors: QL_ESCRIPT for anything the script did (syntax, runtime errors,
 * exhausted limits, values that cannot be converted), with the file name
 * and, where known, the line; QL_EUSAGE for misuse by the caller; QL_ENOMEM
 * when the host runs out of memory or the state cannot even be created.
 * A failed load leaves the state unusable (free it); a failed call leaves it
 * usable.
 *
 * Not thread-safe: one thread at a time per struct ql_lua. Distinct states
 * share nothing.
 */
#ifndef QL_LUA_H
#define QL_LUA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_err.h"

/* Defaults, used for every field of struct ql_lua_limits left at zero. */
#define QL_LUA_MEMORY_DEFAULT ((size_t)32 << 20)
#define QL_LUA_STRING_DEFAULT ((size_t)1 << 20)
#define QL_LUA_LOAD_STEPS_DEFAULT 10000000u
#define QL_LUA_CALL_STEPS_DEFAULT 1000000u
#define QL_LUA_LOAD_MS_DEFAULT 2000u
#define QL_LUA_CALL_MS_DEFAULT 500u

/* Most arguments and results of one call. */
#define QL_LUA_MAX_ARGS 8
#define QL_LUA_MAX_RESULTS 8

/*
 * Limits of one state. Zero means the default above.
 *   memory      bytes the whole state may hold (garbage included until the
 *               collector frees it);
 *   max_string  bytes of any one string the script builds;
 *   load_steps  VM instructions for ql_lua_load; a function call costs
 *               20, allocating 64 bytes costs one, and pattern matching has
 *               its own budget of a quarter as many steps;
 *   call_steps  the same for each ql_lua_call or ql_lua_guard;
 *   load_ms     wall-clock limit of ql_lua_load (CLOCK_MONOTONIC);
 *   call_ms     wall-clock limit of each call.
 */
struct ql_lua_limits {
    size_t memory;
    size_t max_string;
    uint64_t load_steps;
    uint64_t call_steps;
    uint32_t load_ms;
    uint32_t call_ms;
};

struct ql_lua;

/* ---- Value trees ---------------------------------------------------- */

/* Limits of one conversion from Lua to a value tree. */
#define QL_LVAL_MAX_DEPTH 32
#define QL_LVAL_MAX_ENTRIES 100000

enum ql_lval_type {
    QL_LVAL_NIL,
    QL_LVAL_BOOLEAN,
    QL_LVAL_INTEGER,
    QL_LVAL_NUMBER,
    QL_LVAL_STRING,
    QL_LVAL_TABLE,
    QL_LVAL_FUNCTION
};

struct ql_lval_entry;

/*
 * One value. A tree owns everything below it: ql_lval_free frees the node
 * and all its entries. Read the fields directly or through the helpers
 * below.
 *
 *   string    bytes (len of them, may hold NULs) plus a terminating NUL
 *             that is not counted;
 *   table     count entries in a defined order: first the array part, keys
 *             1..array_len in order, then every other key sorted, integer
 *             keys (ascending) before string keys (bytewise, a prefix first).
 *             Keys are only QL_LVAL_INTEGER or QL_LVAL_STRING;
 *   function  a handle to a function of the state named by owner, valid
 *             while that state lives; only ql_lua_call and ql_lua_guard use
 *             it.
 */
struct ql_lval {
    enum ql_lval_type type;
    union {
        bool boolean;
        int64_t integer;
        double number;
        struct {
            char *bytes;
            size_t len;
        } string;
        struct {
            struct ql_lval_entry *entries;
            size_t count;
            size_t array_len;
            size_t cap;
        } table;
        struct {
            const struct ql_lua *owner;
            int ref;
        } function;
    } u;
};

struct ql_lval_entry {
    struct ql_lval key;
    struct ql_lval value;
};

/* Frees v and everything below it; NULL is fine. */
void ql_lval_free(struct ql_lval *v);

/* "nil", "boolean", "integer", "number", "string", "table", "function". */
const char *ql_lval_type_name(enum ql_lval_type t);

/*
 * The value under string key key in table t, borrowed from t; NULL when t
 * is NULL, not a table, or has no such key.
 */
const struct ql_lval *ql_lval_get(const struct ql_lval *t, const char *key);

/* Element i (1-based) of t's array part, borrowed; NULL when out of range. */
const struct ql_lval *ql_lval_at(const struct ql_lval *t, size_t i);

/* Length of t's array part; 0 when t is NULL or not a table. */
size_t ql_lval_len(const struct ql_lval *t);

/*
 * Builders for call arguments. Each sets *out to a caller-owned node;
 * QL_ENOMEM when memory runs out. ql_lval_new_string copies len bytes of s
 * (s may be NULL when len is 0).
 */
ql_err ql_lval_new_nil(struct ql_lval **out, struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_lval_new_boolean(bool b, struct ql_lval **out,
                           struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_lval_new_integer(int64_t i, struct ql_lval **out,
                           struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_lval_new_number(double n, struct ql_lval **out,
                          struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_lval_new_string(const char *s, size_t len, struct ql_lval **out,
                          struct ql_diag *d) QL_MUST_CHECK;
ql_err ql_lval_new_table(struct ql_lval **out, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Sets t[key] = v, replacing an earlier value under key. Takes v in every
 * case (it is freed when the call fails). QL_EUSAGE when t is not a table
 * or v is NULL.
 */
ql_err ql_lval_set(struct ql_lval *t, const char *key, struct ql_lval *v,
                   struct ql_diag *d) QL_MUST_CHECK;

/* Appends v to t's array part; takes v as ql_lval_set does. */
ql_err ql_lval_append(struct ql_lval *t, struct ql_lval *v,
                      struct ql_diag *d) QL_MUST_CHECK;

/* ---- States ---------------------------------------------------------- */

/*
 * Creates a state with the given limits (NULL: all defaults). *out is
 * caller-owned (ql_lua_free). QL_ENOMEM when the state does not fit in the
 * memory limit or the host has no memory; QL_EUSAGE for limits that cannot
 * work (a string cap above the memory cap).
 */
ql_err ql_lua_new(const struct ql_lua_limits *limits, struct ql_lua **out,
                  struct ql_diag *d) QL_MUST_CHECK;

/* Closes the state; NULL is fine. Value trees it returned stay valid, but
 * their function handles must not be used any more. */
void ql_lua_free(struct ql_lua *lua);

/*
 * Compiles src (len bytes of Lua text; binary chunks are refused) under the
 * name chunkname (used in messages, e.g. "gang_lead.lua"), runs it under
 * the load limits, and converts its first return value (nil when none) into
 * *result, caller-owned. Then makes the state read-only as described at the
 * top. A state loads one file: a second load is QL_EUSAGE.
 *
 * QL_ESCRIPT for syntax and runtime errors, exhausted limits and values
 * that cannot be converted: keys other than strings and integers, tables
 * nested deeper than QL_LVAL_MAX_DEPTH or holding more than
 * QL_LVAL_MAX_ENTRIES entries in all, cycles, threads and userdata.
 * Conversion never calls a metamethod. Also QL_ESCRIPT when something that
 * would let a later call keep state survives loading: a table with a
 * metatable, a string.gmatch iterator.
 */
ql_err ql_lua_load(struct ql_lua *lua, const char *chunkname, const char *src,
                   size_t len, struct ql_lval **result,
                   struct ql_diag *d) QL_MUST_CHECK;

/*
 * As ql_lua_load, but leaves making the state read-only (freezing its
 * tables, recording its upvalues) to the first ql_lua_call or ql_lua_guard.
 * Nothing runs in the state in between, so every call sees exactly the
 * state ql_lua_load would have left, and a caller that never calls skips
 * the work. What moves is where sealing's own errors show (a table with a
 * metatable, a string.gmatch iterator, too many objects, the memory cap):
 * the call fails with the message ql_lua_load would have given. A failed
 * seal changes nothing, so the next call tries again; a file that breaks a
 * rule fails the same way every time. Meant for a source that ql_lua_load
 * accepted before.
 */
ql_err ql_lua_load_lazy(struct ql_lua *lua, const char *chunkname,
                        const char *src, size_t len, struct ql_lval **result,
                        struct ql_diag *d) QL_MUST_CHECK;

/*
 * Seals now a state that ql_lua_load_lazy left unsealed, with the errors
 * its next call would report; QL_OK when it is sealed already (every
 * ql_lua_load). QL_EUSAGE when the state holds no loaded file.
 */
ql_err ql_lua_seal(struct ql_lua *lua, struct ql_diag *d) QL_MUST_CHECK;

/*
 * Calls fn (a function handle from this state's load result) with nargs
 * arguments (at most QL_LUA_MAX_ARGS; args may be NULL when nargs is 0),
 * under the call limits. Tables among the arguments arrive as fresh
 * read-only tables; assigning into one fails with "<name> is read-only",
 * where the name is names[i] (names may be NULL: "argument i"). The
 * arguments are read during the call only, strings by their length: an
 * argument's string needs no NUL after it, so a caller may point into a
 * longer text. The state may keep the tables it made for one call and
 * hand them, emptied, to the next; no script can tell.
 *
 * On success results[0..nresults) (nresults at most QL_LUA_MAX_RESULTS)
 * each receive a caller-owned tree, NIL for missing results; on failure
 * results is untouched. A call may not return functions (QL_ESCRIPT).
 * QL_EUSAGE when the state is not loaded, fn is not a function of this
 * state, or an argument cannot be passed (a key that is neither a string
 * nor an integer, a tree deeper than QL_LVAL_MAX_DEPTH, a string longer
 * than the string cap, a function of another state).
 */
ql_err ql_lua_call(struct ql_lua *lua, const struct ql_lval *fn,
                   const struct ql_lval *const *args, const char *const *names,
                   size_t nargs, struct ql_lval **results, size_t nresults,
                   struct ql_diag *d) QL_MUST_CHECK;

/*
 * Calls a guard as ql_lua_call does and checks its answer: `true`, or
 * `false` optionally followed by a reason string. *allowed gets the answer;
 * *reason gets a caller-owned copy of the reason (free()) or NULL. Any
 * other answer is QL_ESCRIPT ("guard returned a number, expected true or
 * false"), naming the line where the guard is defined.
 */
ql_err ql_lua_guard(struct ql_lua *lua, const struct ql_lval *fn,
                    const struct ql_lval *const *args, const char *const *names,
                    size_t nargs, bool *allowed, char **reason,
                    struct ql_diag *d) QL_MUST_CHECK;

/* Bytes the state holds now (live data and uncollected garbage). */
size_t ql_lua_memory(const struct ql_lua *lua);

#endif
