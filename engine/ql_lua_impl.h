/*
 * The inside of ql_lua, shared by engine/ql_lua*.c and nothing else.
 *
 * This header names lua_State only as an incomplete struct so that it does
 * not include the Lua headers itself (scripts/lint.sh allows those in
 * engine/ql_lua*.c only).
 */
#ifndef QL_LUA_IMPL_H
#define QL_LUA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql_lua.h"

struct lua_State;

/* Why the running load or call must end; once set it stays set. */
enum ql_lua_fatal {
    QL_LUA_FATAL_NONE,
    QL_LUA_FATAL_STEPS,
    QL_LUA_FATAL_TIME,
    QL_LUA_FATAL_MEMORY,
    QL_LUA_FATAL_PATTERN
};

/* What the allocator refused last. */
enum ql_lua_refusal {
    QL_LUA_REFUSED_NONE,
    QL_LUA_REFUSED_TOTAL,
    QL_LUA_REFUSED_STRING,
    QL_LUA_REFUSED_HOST
};

enum ql_lua_phase { QL_LUA_FRESH, QL_LUA_LOADED, QL_LUA_BROKEN };

/* Room for a Lua short source name (LUA_IDSIZE is 60). */
#define QL_LUA_NAME_MAX 64
/* Lua lines kept for the traceback of one error. */
#define QL_LUA_TRACE_MAX 4

struct ql_lua {
    struct lua_State *L;
    struct ql_lua_limits lim;
    enum ql_lua_phase phase;
    char name[QL_LUA_NAME_MAX]; /* as Lua prints the chunk name */

    /* Allocator. mem_used never exceeds lim.memory. */
    size_t mem_used;
    enum ql_lua_refusal refused;
    int refused_line;
    uint64_t alloc_clock; /* bytes allocated since the clock was read */

    /* Budgets of the running load or call. */
    bool running;
    bool closing;
    int64_t steps_left;
    int64_t pattern_left;
    uint64_t steps_limit;
    uint64_t deadline_ns;
    uint32_t ms_limit;
    int hook_every;
    int64_t clock_countdown;
    enum ql_lua_fatal fatal;
    char fatal_msg[QL_DIAG_MSG];

    /* Calls finished: tables handed to a call are filled from the
       caller's tree only while this is the number they carry. */
    uint64_t calls;
    /* The argument tables kept for reuse (ql_lua_conv.c): how many the
       call numbered pool_call has taken. */
    uint64_t pool_call;
    size_t pool_used;

    /* Where the last error escaping to the host was raised (msgh). */
    int err_line;
    int trace[QL_LUA_TRACE_MAX];
    int ntrace;

    /* False until the state is read-only (see ql_lua_load_lazy). */
    bool sealed;
};

/* The struct ql_lua of any thread of its state. */
struct ql_lua *ql_lua_of(struct lua_State *L);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ql_lua_now_ns(void);

/*
 * Charges n steps of work done in C to the instruction budget (from a C
 * function the script called) and checks the clock now and then; raises
 * the fatal error when the budget or the time is gone.
 */
void ql_lua_charge(struct lua_State *L, uint64_t n);

/* The same for one pattern matching step, against the pattern budget. */
void ql_lua_pattern_charge(struct lua_State *L, uint64_t n);

/*
 * Records fatal reason why at the innermost Lua line (the first reason of
 * a run wins) and raises it. Never returns.
 */
int ql_lua_raise_fatal(struct lua_State *L, enum ql_lua_fatal why);

/* ---- Libraries (ql_lua_lib.c, ql_lua_pattern.c) ---- */

/* Opens the sandbox's libraries in L; raises on memory errors. */
void ql_lua_open_libs(struct lua_State *L);

/* Sets find, match, gmatch, gsub and rep in the table at index idx. */
void ql_lua_pattern_register(struct lua_State *L, int idx);

/* True when the C function f is the iterator string.gmatch returns. */
bool ql_lua_is_gmatch_iter(int (*f)(struct lua_State *));

/* True when f is the iterator pairs() returns. */
bool ql_lua_is_pairs_iter(int (*f)(struct lua_State *));

/*
 * Pushes what pairs(t) returns for the table at idx (read-only or not):
 * an iterator that visits the keys in the defined order (numbers, then
 * strings bytewise, then booleans, then other keys as found), t and nil.
 * Returns 3.
 */
int ql_lua_sorted_pairs(struct lua_State *L, int idx);

/* ---- Read-only tables and conversions (ql_lua_conv.c) ---- */

/* True when the value at idx is a read-only proxy table. */
bool ql_lua_is_proxy(struct lua_State *L, int idx);

/*
 * Pushes the table whose raw contents the value at idx (a table) shows:
 * the hidden table of a proxy, or the table itself.
 */
void ql_lua_push_raw(struct lua_State *L, int idx);

/*
 * Makes the table at idx read-only in place: its contents move to a hidden
 * table and it becomes an empty proxy. label names it in errors ("lead",
 * "string", "table"); globals picks the message for the global table.
 */
void ql_lua_freeze(struct lua_State *L, int idx, const char *label,
                   bool globals);

/*
 * Sets the registry's loaded-modules entry name to the hidden table of the
 * read-only table at idx, so Lua's error messages can still name library
 * functions; scripts cannot reach the registry.
 */
void ql_lua_expose_loaded(struct lua_State *L, int idx, const char *name);

/* Refuses a write into the proxy at idx, naming key at kidx. */
int ql_lua_readonly_error(struct lua_State *L, int idx, int kidx);

/*
 * After loading: freezes every table reachable from the value at idx and
 * from the globals, and records the upvalues of every function found there
 * in the registry, so ql_lua_restore_upvalues can put them back. Raises an
 * error naming what cannot be kept, or for memory, always before it has
 * changed a table: a failed seal can be tried again.
 */
void ql_lua_seal_state(struct lua_State *L, int idx);

/* Puts the recorded upvalues back (before each call). */
void ql_lua_restore_upvalues(struct lua_State *L);

/*
 * One conversion from Lua values to value trees. The key path an error
 * names ("transitions[3].from") is written only when an error needs it:
 * where holds its start ("result 1", or empty), and keys the stack slots
 * of the keys on the way down, which stay on the stack until the value
 * under them is converted.
 */
struct ql_lua_conv {
    struct ql_lua *lua;
    size_t entries; /* table entries converted so far */
    size_t bytes;   /* string bytes copied so far */
    bool functions; /* may functions be returned (load) or not (call) */
    int depth;
    const void *path[QL_LVAL_MAX_DEPTH + 1]; /* tables on the way down */
    int keys[QL_LVAL_MAX_DEPTH + 1];         /* their keys' stack slots */
    int nkeys;
    char where[128]; /* start of the key path for messages */
};

/*
 * Converts the value at idx into *out (a NIL node the caller owns, so a
 * raised error leaves a tree the caller can still free). Raises a
 * positioned error on values that cannot be converted.
 */
void ql_lua_to_lval(struct lua_State *L, int idx, struct ql_lua_conv *c,
                    struct ql_lval *out);

/*
 * Pushes a fresh read-only copy of v, labelled label. v was checked with
 * ql_lval_check_arg first.
 */
void ql_lua_push_lval(struct lua_State *L, const struct ql_lval *v,
                      const char *label);

/* ---- Value trees (ql_lua_lval.c) ---- */

/* Frees what v owns and leaves it NIL (v itself is not freed). */
void ql_lval_clear(struct ql_lval *v);

/* The order of keys in a table: integers, ascending, then strings. */
int ql_lval_key_cmp(const struct ql_lval *a, const struct ql_lval *b);

/*
 * Puts the entries of t in the defined order and sets array_len; keys are
 * distinct.
 */
void ql_lval_sort(struct ql_lval *t);

/*
 * QL_OK when v can be passed to a call of lua: keys strings or integers,
 * depth within QL_LVAL_MAX_DEPTH, strings within max_string, functions of
 * lua only. QL_EUSAGE naming what is wrong otherwise.
 */
ql_err ql_lval_check_arg(const struct ql_lval *v, const struct ql_lua *lua,
                         size_t max_string, const char *name,
                         struct ql_diag *d) QL_MUST_CHECK;

#endif
