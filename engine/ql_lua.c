/*
 * ql_lua: one Lua state under limits. This file owns the state's life, the
 * allocator, the count hook, the one protected-call wrapper and the load
 * and call entry points; the libraries, conversions and the pattern
 * matcher live in the other ql_lua_*.c files.
 */
#include "ql_lua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "ql_lua_impl.h"

/*
 * The hook runs every HOOK_EVERY instructions: often enough that a loop of
 * cheap C calls is noticed within a few milliseconds, rarely enough to
 * cost little.
 */
#define HOOK_EVERY 1000
/*
 * Every function call is charged CALL_COST instructions through the call
 * hook: a C function called from C (a metamethod of a table that
 * table.concat walks, say) runs no instruction the count hook could see,
 * and costs as much as a few dozen.
 */
#define CALL_COST 20
#define HOOK_MASK (LUA_MASKCOUNT | LUA_MASKCALL)
/* A long string's header, on top of its bytes, in the allocator's view. */
#define STRING_OVERHEAD 64
/* Allocated bytes, and charged steps, between two looks at the clock. */
#define CLOCK_EVERY_BYTES ((uint64_t)256 << 10)
#define CLOCK_EVERY_STEPS 4096
/* Pattern matching steps allowed: this share of the instruction budget. */
#define PATTERN_SHARE 4
/* Budgets are signed; keep them far from overflow. */
#define BUDGET_MAX ((uint64_t)1 << 60)

struct ql_lua *
ql_lua_of(lua_State *L)
{
    struct ql_lua *q;

    memcpy(&q, lua_getextraspace(L), sizeof q);
    return q;
}

uint64_t
ql_lua_now_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The line of the innermost Lua function from level on, or -1. Only reads
 * the call stack, so it is safe inside the allocator too.
 */
static int
innermost_line(lua_State *L, int level)
{
    lua_Debug ar;
    int i;

    for (i = level; i < level + 16 && lua_getstack(L, i, &ar); i++)
        if (lua_getinfo(L, "l", &ar) && ar.currentline > 0)
            return ar.currentline;
    return -1;
}

static void
fatal_text(const struct ql_lua *q, enum ql_lua_fatal why, char *buf, size_t cap)
{
    switch (why) {
    case QL_LUA_FATAL_STEPS:
        snprintf(buf, cap, "instruction budget exhausted (limit %llu)",
                 (unsigned long long)q->steps_limit);
        break;
    case QL_LUA_FATAL_TIME:
        snprintf(buf, cap, "time limit exceeded (limit %lu ms)",
                 (unsigned long)q->ms_limit);
        break;
    case QL_LUA_FATAL_MEMORY:
        if (q->refused == QL_LUA_REFUSED_STRING)
            snprintf(buf, cap, "string too large (limit %zu bytes)",
                     q->lim.max_string);
        else
            snprintf(buf, cap, "memory limit exceeded (limit %zu bytes)",
                     q->lim.memory);
        break;
    case QL_LUA_FATAL_PATTERN:
        snprintf(buf, cap,
                 "pattern too complex (more than %llu matching steps)",
                 (unsigned long long)(q->steps_limit / PATTERN_SHARE));
        break;
    default:
        snprintf(buf, cap, "script failed");
        break;
    }
}

/* Records why and where the running code must stop; the first reason wins. */
static void
set_fatal(struct ql_lua *q, enum ql_lua_fatal why, const char *src, int line)
{
    char text[128];

    if (q->fatal != QL_LUA_FATAL_NONE)
        return;
    fatal_text(q, why, text, sizeof text);
    q->fatal = why;
    if (line > 0)
        snprintf(q->fatal_msg, sizeof q->fatal_msg, "%.64s:%d: %s", src, line,
                 text);
    else
        snprintf(q->fatal_msg, sizeof q->fatal_msg, "%.64s: %s", src, text);
}

static void hook(lua_State *L, lua_Debug *ar);

/*
 * Makes the count hook run at the next instruction. The allocator cannot
 * raise an error itself, but it may notice first that the budget or the
 * time is gone (a loop of big C calls runs few instructions).
 */
static void
kick(struct ql_lua *q)
{
    if (q->running && q->L != NULL && q->hook_every != 1) {
        q->hook_every = 1;
        lua_sethook(q->L, hook, HOOK_MASK, 1);
    }
}

static void *
refuse(struct ql_lua *q, enum ql_lua_refusal why)
{
    q->refused = why;
    q->refused_line = -1;
    if (q->running && q->L != NULL)
        q->refused_line = innermost_line(q->L, 0);
    return NULL;
}

/*
 * memset through a volatile pointer, which the compiler cannot drop as a
 * store to memory about to be freed (the Lua headers are all ql_lua may
 * include, so sodium_memzero is out of reach).
 */
static void *(*const volatile wipe)(void *, int, size_t) = memset;

/*
 * The state's allocator. When ptr is NULL, osize is the type of the new
 * object rather than a size, which lets one long string be refused by
 * itself. Growth is charged to the instruction budget, one step per 64
 * bytes, because C functions that build large strings run few
 * instructions. Shrinking never fails, as Lua requires. A block freed or
 * moved is wiped first: Lua holds a lead's sealed values as strings.
 */
static void *
lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct ql_lua *q = ud;
    size_t old = ptr != NULL ? osize : 0, grow;
    void *np;

    if (nsize == 0) {
        if (ptr != NULL)
            wipe(ptr, 0, old);
        free(ptr);
        q->mem_used -= old;
        return NULL;
    }
    if (nsize > old) {
        grow = nsize - old;
        if (ptr == NULL && osize == LUA_TSTRING &&
            nsize > q->lim.max_string + STRING_OVERHEAD)
            return refuse(q, QL_LUA_REFUSED_STRING);
        if (grow > q->lim.memory - q->mem_used)
            return refuse(q, QL_LUA_REFUSED_TOTAL);
        if (q->running) {
            if (q->steps_left > -(int64_t)BUDGET_MAX)
                q->steps_left -= (int64_t)(grow >> 6);
            q->alloc_clock += grow;
            if (q->steps_left <= 0) {
                kick(q);
            } else if (q->alloc_clock >= CLOCK_EVERY_BYTES) {
                q->alloc_clock = 0;
                if (ql_lua_now_ns() > q->deadline_ns)
                    kick(q);
            }
        }
    }
    /*
     * A block that moves leaves no copy behind: realloc would free the old
     * one unwiped, and string buffers (table.concat, gsub) grow this way.
     */
    if ((np = malloc(nsize)) == NULL) {
        if (nsize <= old)
            return ptr;
        return refuse(q, QL_LUA_REFUSED_HOST);
    }
    if (ptr != NULL) {
        memcpy(np, ptr, old < nsize ? old : nsize);
        wipe(ptr, 0, old);
        free(ptr);
    }
    q->mem_used = q->mem_used - old + nsize;
    return np;
}

/*
 * The hook, for counts and calls: charges the instructions run since the
 * last count (or one call) and ends the script when the budget or the time
 * is gone. Once that happened it raises at every instruction and call, so
 * neither a __close handler nor a pcall in the script gets far.
 */
static void
hook(lua_State *L, lua_Debug *ar)
{
    struct ql_lua *q = ql_lua_of(L);
    int cost;

    if (q->closing) {
        lua_pushliteral(L, "script state is closing");
        lua_error(L);
    }
    if (!q->running)
        return;
    cost = ar->event == LUA_HOOKCOUNT ? q->hook_every : CALL_COST;
    q->steps_left -= cost;
    q->clock_countdown -= cost;
    if (q->fatal == QL_LUA_FATAL_NONE) {
        if (q->steps_left > 0 && q->clock_countdown > 0)
            return;
        if (q->steps_left > 0) {
            q->clock_countdown = CLOCK_EVERY_STEPS;
            if (ql_lua_now_ns() <= q->deadline_ns)
                return;
        }
        /* A call event may stand in a C function: name the Lua line. */
        set_fatal(q,
                  q->steps_left <= 0 ? QL_LUA_FATAL_STEPS : QL_LUA_FATAL_TIME,
                  q->name, innermost_line(L, 0));
        q->hook_every = 1;
        lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    }
    lua_pushstring(L, q->fatal_msg);
    lua_error(L);
}

int
ql_lua_raise_fatal(lua_State *L, enum ql_lua_fatal why)
{
    struct ql_lua *q = ql_lua_of(L);

    set_fatal(q, why, q->name, innermost_line(L, 0));
    lua_pushstring(L, q->fatal_msg);
    return lua_error(L);
}

void
ql_lua_charge(lua_State *L, uint64_t n)
{
    struct ql_lua *q = ql_lua_of(L);

    if (!q->running)
        return;
    if (n > BUDGET_MAX)
        n = BUDGET_MAX;
    q->steps_left -= (int64_t)n;
    q->clock_countdown -= (int64_t)n;
    if (q->fatal != QL_LUA_FATAL_NONE)
        ql_lua_raise_fatal(L, q->fatal);
    if (q->steps_left <= 0)
        ql_lua_raise_fatal(L, QL_LUA_FATAL_STEPS);
    if (q->clock_countdown <= 0) {
        q->clock_countdown = CLOCK_EVERY_STEPS;
        if (ql_lua_now_ns() > q->deadline_ns)
            ql_lua_raise_fatal(L, QL_LUA_FATAL_TIME);
    }
}

void
ql_lua_pattern_charge(lua_State *L, uint64_t n)
{
    struct ql_lua *q = ql_lua_of(L);

    if (!q->running)
        return;
    if (n > BUDGET_MAX)
        n = BUDGET_MAX;
    q->pattern_left -= (int64_t)n;
    q->clock_countdown -= (int64_t)n;
    if (q->fatal != QL_LUA_FATAL_NONE)
        ql_lua_raise_fatal(L, q->fatal);
    if (q->pattern_left <= 0)
        ql_lua_raise_fatal(L, QL_LUA_FATAL_PATTERN);
    if (q->clock_countdown <= 0) {
        q->clock_countdown = CLOCK_EVERY_STEPS;
        if (ql_lua_now_ns() > q->deadline_ns)
            ql_lua_raise_fatal(L, QL_LUA_FATAL_TIME);
    }
}

/*
 * The message handler of the host's protected calls. It only notes where
 * the error happened (the innermost Lua line and a few callers): building
 * a string here could fail for want of memory, and the error object is
 * never converted, so a __tostring metamethod never runs.
 */
static int
msgh(lua_State *L)
{
    struct ql_lua *q = ql_lua_of(L);
    lua_Debug ar;
    int level;

    q->err_line = -1;
    q->ntrace = 0;
    for (level = 1; level < 64 && q->ntrace < QL_LUA_TRACE_MAX &&
                    lua_getstack(L, level, &ar);
         level++) {
        if (!lua_getinfo(L, "l", &ar) || ar.currentline <= 0)
            continue;
        if (q->err_line < 0)
            q->err_line = ar.currentline;
        else
            q->trace[q->ntrace++] = ar.currentline;
    }
    return 1;
}

/*
 * Copies at most cap - 1 bytes of a script's message into dst for a
 * one-line diagnostic: control characters become spaces, and a cut never
 * splits a UTF-8 sequence.
 */
static void
clean_copy(char *dst, size_t cap, const char *src, size_t len)
{
    size_t i, n = len < cap - 1 ? len : cap - 1;
    unsigned char c;

    if (n < len)
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    for (i = 0; i < n; i++) {
        c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7F) ? ' ' : (char)c;
    }
    dst[n] = '\0';
}

/* " (called from lines 12, 30)" from what msgh saw, or "". */
static void
format_trace(const struct ql_lua *q, char *buf, size_t cap)
{
    size_t used;
    int i;

    buf[0] = '\0';
    if (q->ntrace == 0)
        return;
    snprintf(buf, cap, " (called from line%s %d", q->ntrace > 1 ? "s" : "",
             q->trace[0]);
    for (i = 1; i < q->ntrace; i++) {
        used = strlen(buf);
        snprintf(buf + used, cap - used, ", %d", q->trace[i]);
    }
    used = strlen(buf);
    snprintf(buf + used, cap - used, ")");
}

/* Maps a failed protected call to a diagnostic; the error object is on top. */
static ql_err
report(struct ql_lua *q, int status, struct ql_diag *d)
{
    lua_State *L = q->L;
    char text[200], trace[64];
    const char *s;
    size_t len, nlen = strlen(q->name);
    int t = lua_type(L, -1);

    format_trace(q, trace, sizeof trace);
    if (q->fatal == QL_LUA_FATAL_MEMORY && q->refused == QL_LUA_REFUSED_HOST)
        return ql_fail(d, QL_ENOMEM, "out of memory running '%s'", q->name);
    if (q->fatal != QL_LUA_FATAL_NONE)
        return ql_fail(d, QL_ESCRIPT, "%s%s", q->fatal_msg, trace);
    s = t == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (status == LUA_ERRMEM ||
        (s != NULL && len == 17 && memcmp(s, "not enough memory", 17) == 0)) {
        if (q->refused == QL_LUA_REFUSED_HOST)
            return ql_fail(d, QL_ENOMEM, "out of memory running '%s'", q->name);
        set_fatal(q, QL_LUA_FATAL_MEMORY, q->name, q->refused_line);
        return ql_fail(d, QL_ESCRIPT, "%s", q->fatal_msg);
    }
    if (s != NULL) {
        clean_copy(text, sizeof text, s, len);
    } else if (t == LUA_TNUMBER && lua_isinteger(L, -1)) {
        snprintf(text, sizeof text, "%lld", (long long)lua_tointeger(L, -1));
    } else if (t == LUA_TNUMBER) {
        snprintf(text, sizeof text, "%.14g", (double)lua_tonumber(L, -1));
    } else {
        snprintf(text, sizeof text, "error object is not a string (a %s)",
                 lua_typename(L, t));
    }
    if (strncmp(text, q->name, nlen) == 0 && text[nlen] == ':')
        return ql_fail(d, QL_ESCRIPT, "%s%s", text, trace);
    if (q->err_line > 0)
        return ql_fail(d, QL_ESCRIPT, "%s:%d: %s%s", q->name, q->err_line, text,
                       trace);
    return ql_fail(d, QL_ESCRIPT, "%s: %s%s", q->name, text, trace);
}

/* Forgets how the last load, call or seal ended, before the next one. */
static void
clear_outcome(struct ql_lua *q)
{
    q->fatal = QL_LUA_FATAL_NONE;
    q->fatal_msg[0] = '\0';
    q->refused = QL_LUA_REFUSED_NONE;
    q->refused_line = -1;
    q->err_line = -1;
    q->ntrace = 0;
}

/* Arms the budgets of one load or call; user code may run after this. */
static void
start(struct ql_lua *q, uint64_t steps, uint32_t ms)
{
    if (steps > BUDGET_MAX)
        steps = BUDGET_MAX;
    q->steps_limit = steps;
    q->steps_left = (int64_t)steps;
    /* A matching step costs a few instructions' time. */
    q->pattern_left =
        (int64_t)(steps / PATTERN_SHARE > 0 ? steps / PATTERN_SHARE : 1);
    q->ms_limit = ms;
    q->deadline_ns = ql_lua_now_ns() + (uint64_t)ms * 1000000u;
    q->clock_countdown = CLOCK_EVERY_STEPS;
    q->alloc_clock = 0;
    clear_outcome(q);
    q->hook_every =
        steps < HOOK_EVERY ? (int)(steps > 0 ? steps : 1) : HOOK_EVERY;
    lua_sethook(q->L, hook, HOOK_MASK, q->hook_every);
    q->running = true;
}

/*
 * The one protected-call wrapper: runs f(ud) with msgh as the message
 * handler and maps any failure to a diagnostic. Only calls that cannot
 * raise run outside it.
 */
static ql_err
run(struct ql_lua *q, lua_CFunction f, void *ud, struct ql_diag *d)
{
    lua_State *L = q->L;
    ql_err rc = QL_OK;
    int status;

    lua_settop(L, 0);
    lua_pushcfunction(L, msgh);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, ud);
    status = lua_pcall(L, 1, 0, 1);
    q->running = false;
    if (status != LUA_OK)
        rc = report(q, status, d);
    lua_settop(L, 0);
    return rc;
}

static int
setup(lua_State *L)
{
    ql_lua_open_libs(L);
    return 0;
}

void
ql_lua_free(struct ql_lua *q)
{
    if (q == NULL)
        return;
    if (q->L != NULL) {
        /*
         * No script code should run while closing (__gc is refused), but
         * if some did, the hook stops it at once.
         */
        q->running = false;
        q->closing = true;
        lua_sethook(q->L, hook, HOOK_MASK, 1);
        lua_close(q->L);
    }
    free(q);
}

ql_err
ql_lua_new(const struct ql_lua_limits *limits, struct ql_lua **out,
           struct ql_diag *d)
{
    struct ql_lua *q;
    ql_err rc;

    if (out == NULL)
        return ql_fail(d, QL_EUSAGE, "no place for the script state");
    q = calloc(1, sizeof *q);
    if (q == NULL)
        return ql_fail(d, QL_ENOMEM, "out of memory creating a script state");
    if (limits != NULL)
        q->lim = *limits;
    if (q->lim.memory == 0)
        q->lim.memory = QL_LUA_MEMORY_DEFAULT;
    if (q->lim.max_string == 0)
        q->lim.max_string = QL_LUA_STRING_DEFAULT;
    if (q->lim.load_steps == 0)
        q->lim.load_steps = QL_LUA_LOAD_STEPS_DEFAULT;
    if (q->lim.call_steps == 0)
        q->lim.call_steps = QL_LUA_CALL_STEPS_DEFAULT;
    if (q->lim.load_ms == 0)
        q->lim.load_ms = QL_LUA_LOAD_MS_DEFAULT;
    if (q->lim.call_ms == 0)
        q->lim.call_ms = QL_LUA_CALL_MS_DEFAULT;
    if (q->lim.max_string > q->lim.memory) {
        rc = ql_fail(d, QL_EUSAGE,
                     "string limit %zu is above the memory limit %zu",
                     q->lim.max_string, q->lim.memory);
        goto out;
    }
    snprintf(q->name, sizeof q->name, "?");
    q->err_line = -1;
    q->hook_every = HOOK_EVERY;
    q->L = lua_newstate(lua_alloc, q);
    if (q->L == NULL) {
        rc = ql_fail(d, QL_ENOMEM, "a script state does not fit in %zu bytes",
                     q->lim.memory);
        goto out;
    }
    memcpy(lua_getextraspace(q->L), &q, sizeof q);
    /* Before any code runs; threads made later copy it. */
    lua_sethook(q->L, hook, HOOK_MASK, HOOK_EVERY);
    if ((rc = run(q, setup, NULL, d)) != QL_OK) {
        rc = ql_fail(d, QL_ENOMEM,
                     "the script libraries do not fit in %zu bytes",
                     q->lim.memory);
        goto out;
    }
    *out = q;
    q = NULL;
out:
    ql_lua_free(q);
    return rc;
}

size_t
ql_lua_memory(const struct ql_lua *q)
{
    return q != NULL ? q->mem_used : 0;
}

/* The chunk name as Lua prints it for "@name" (see lua_Debug.short_src). */
static void
chunk_id(char *out, size_t cap, const char *name)
{
    size_t n = strlen(name);

    if (n < LUA_IDSIZE)
        snprintf(out, cap, "%s", name);
    else
        snprintf(out, cap, "...%s", name + n - (LUA_IDSIZE - 4));
}

/* Registry key of a lazily loaded file's value until the state is sealed. */
static const char root_key = 'r';

struct load_job {
    struct ql_lua *q;
    const char *src;
    size_t len;
    const char *chunk;
    bool lazy;
    struct ql_lval *result;
};

static int
load_main(lua_State *L)
{
    struct load_job *j = lua_touserdata(L, 1);
    struct ql_lua_conv c;

    if (luaL_loadbufferx(L, j->src, j->len, j->chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    /* What follows is C work bounded by the conversion limits. */
    j->q->running = false;
    memset(&c, 0, sizeof c);
    c.lua = j->q;
    c.functions = true;
    ql_lua_to_lval(L, -1, &c, j->result);
    if (j->lazy) {
        /* Kept for seal_main; the registry is out of the script's reach. */
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &root_key);
        return 0;
    }
    ql_lua_seal_state(L, -1);
    return 0;
}

/* Seals a lazily loaded state (see ql_lua_load_lazy). */
static int
seal_main(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &root_key);
    ql_lua_seal_state(L, -1);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &root_key);
    return 0;
}

/*
 * Seals q when a lazy load left that to now. Runs like the end of
 * load_main: no budget is armed (the work is bounded by the objects the
 * file left), and the allocator's cap holds. A seal fails before it
 * changes anything (see ql_lua_seal_state), so the state stays as loaded
 * and the next call tries again: a file that breaks a rule fails the same
 * way each time, and running out of memory passes once there is some.
 */
static ql_err
seal(struct ql_lua *q, struct ql_diag *d)
{
    ql_err rc;

    if (q->sealed)
        return QL_OK;
    q->running = false;
    clear_outcome(q);
    if ((rc = run(q, seal_main, NULL, d)) != QL_OK)
        return rc;
    q->sealed = true;
    return QL_OK;
}

/* ql_lua_load and ql_lua_load_lazy. */
static ql_err
load(struct ql_lua *q, const char *chunkname, const char *src, size_t len,
     bool lazy, struct ql_lval **result, struct ql_diag *d)
{
    struct load_job j;
    char *chunk = NULL;
    size_t n;
    ql_err rc;

    memset(&j, 0, sizeof j);
    if (q == NULL || chunkname == NULL || (src == NULL && len > 0) ||
        result == NULL)
        return ql_fail(d, QL_EUSAGE,
                       "loading a script needs a state, a "
                       "name, the text and a result place");
    if (q->phase == QL_LUA_LOADED)
        return ql_fail(d, QL_EUSAGE, "script state already holds '%s'",
                       q->name);
    if (q->phase == QL_LUA_BROKEN)
        return ql_fail(d, QL_EUSAGE,
                       "script state is unusable after a failed load of "
                       "'%s'",
                       q->name);
    chunk_id(q->name, sizeof q->name, chunkname);
    q->phase = QL_LUA_BROKEN; /* until the load succeeds */
    if (len > 0 && src[0] == LUA_SIGNATURE[0]) {
        rc = ql_fail(d, QL_ESCRIPT,
                     "%s: binary chunks are refused, only Lua text loads",
                     q->name);
        goto out;
    }
    n = strlen(chunkname);
    if ((chunk = malloc(n + 2)) == NULL ||
        (j.result = calloc(1, sizeof *j.result)) == NULL) {
        rc = ql_fail(d, QL_ENOMEM, "out of memory loading '%s'", q->name);
        goto out;
    }
    chunk[0] = '@';
    memcpy(chunk + 1, chunkname, n + 1);
    j.q = q;
    j.src = src != NULL ? src : "";
    j.len = len;
    j.chunk = chunk;
    j.lazy = lazy;
    start(q, q->lim.load_steps, q->lim.load_ms);
    if ((rc = run(q, load_main, &j, d)) != QL_OK)
        goto out;
    q->phase = QL_LUA_LOADED;
    q->sealed = !lazy;
    *result = j.result;
    j.result = NULL;
out:
    ql_lval_free(j.result);
    free(chunk);
    return rc;
}

ql_err
ql_lua_load(struct ql_lua *q, const char *chunkname, const char *src,
            size_t len, struct ql_lval **result, struct ql_diag *d)
{
    return load(q, chunkname, src, len, false, result, d);
}

ql_err
ql_lua_load_lazy(struct ql_lua *q, const char *chunkname, const char *src,
                 size_t len, struct ql_lval **result, struct ql_diag *d)
{
    return load(q, chunkname, src, len, true, result, d);
}

/* Longest argument label kept, NUL included; a longer name is cut. */
#define LABEL_MAX 32

struct call_job {
    struct ql_lua *q;
    int ref;
    const struct ql_lval *const *args;
    const char *labels[QL_LUA_MAX_ARGS]; /* the caller's names, or buf */
    char buf[QL_LUA_MAX_ARGS][LABEL_MAX];
    size_t nargs;
    struct ql_lval *res[QL_LUA_MAX_RESULTS];
    size_t nres;
};

static int
call_main(lua_State *L)
{
    struct call_job *j = lua_touserdata(L, 1);
    struct ql_lua_conv c;
    size_t i;
    int base;

    ql_lua_restore_upvalues(L);
    luaL_checkstack(L, (int)(j->nargs + j->nres) + 8, NULL);
    base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, j->ref);
    for (i = 0; i < j->nargs; i++)
        ql_lua_push_lval(L, j->args[i], j->labels[i]);
    lua_call(L, (int)j->nargs, (int)j->nres);
    j->q->running = false;
    for (i = 0; i < j->nres; i++) {
        memset(&c, 0, sizeof c);
        c.lua = j->q;
        c.functions = false;
        /* "result N" without snprintf: a call converts a result or two. */
        memcpy(c.where, "result ", 7);
        c.where[7] = (char)('1' + i); /* i < QL_LUA_MAX_RESULTS <= 9 */
        ql_lua_to_lval(L, base + 1 + (int)i, &c, j->res[i]);
    }
    return 0;
}

/*
 * Checks that fn is a function of q. Only reads the registry, so it runs
 * outside protected mode.
 */
static ql_err
check_fn(struct ql_lua *q, const struct ql_lval *fn, struct ql_diag *d)
{
    int t;

    if (q->phase != QL_LUA_LOADED)
        return ql_fail(d, QL_EUSAGE, "script state '%s' is not loaded",
                       q->name);
    if (fn == NULL || fn->type != QL_LVAL_FUNCTION)
        return ql_fail(d, QL_EUSAGE, "calling needs a function, not %s",
                       fn == NULL ? "nothing" : ql_lval_type_name(fn->type));
    if (fn->u.function.owner != q || fn->u.function.ref <= 0)
        return ql_fail(d, QL_EUSAGE, "function handle does not belong to '%s'",
                       q->name);
    lua_settop(q->L, 0);
    t = lua_rawgeti(q->L, LUA_REGISTRYINDEX, fn->u.function.ref);
    lua_settop(q->L, 0);
    if (t != LUA_TFUNCTION)
        return ql_fail(d, QL_EUSAGE,
                       "function handle %d is not a function of '%s'",
                       fn->u.function.ref, q->name);
    return QL_OK;
}

/*
 * The line where fn (checked by check_fn) is defined, or -1; only a
 * guard's message about its answer needs it, so it is looked up then.
 */
static int
fn_line(struct ql_lua *q, const struct ql_lval *fn)
{
    lua_Debug ar;

    memset(&ar, 0, sizeof ar);
    lua_settop(q->L, 0);
    lua_rawgeti(q->L, LUA_REGISTRYINDEX, fn->u.function.ref);
    if (!lua_getinfo(q->L, ">S", &ar))
        ar.linedefined = -1;
    lua_settop(q->L, 0);
    return ar.linedefined;
}

ql_err
ql_lua_seal(struct ql_lua *q, struct ql_diag *d)
{
    if (q == NULL)
        return ql_fail(d, QL_EUSAGE, "no script state to seal");
    if (q->phase != QL_LUA_LOADED)
        return ql_fail(d, QL_EUSAGE, "script state '%s' is not loaded",
                       q->name);
    return seal(q, d);
}

/* A name of LABEL_MAX bytes or more, cut into buf (LABEL_MAX bytes). */
static const char *
cut_label(char *buf, const char *name)
{
    snprintf(buf, LABEL_MAX, "%s", name);
    return buf;
}

/* "argument N" in buf (LABEL_MAX bytes), for an argument without a name. */
static const char *
arg_label(char *buf, size_t i)
{
    snprintf(buf, LABEL_MAX, "argument %d", (int)i + 1);
    return buf;
}

_Static_assert(QL_LUA_MAX_RESULTS <= 9, "results are named by one digit");

/*
 * ql_lua_call into result nodes the caller provides: res[0..nresults)
 * point at NIL nodes, which the conversion fills (even on failure, when
 * the caller clears them). A guard keeps its two on the stack.
 */
static ql_err
call(struct ql_lua *q, const struct ql_lval *fn,
     const struct ql_lval *const *args, const char *const *names, size_t nargs,
     struct ql_lval *const *res, size_t nresults, struct ql_diag *d)
{
    struct call_job j;
    size_t i;
    ql_err rc;

    memset(&j, 0, sizeof j);
    if (nargs > QL_LUA_MAX_ARGS || nresults > QL_LUA_MAX_RESULTS)
        return ql_fail(d, QL_EUSAGE,
                       "a call takes at most %d arguments and %d results",
                       QL_LUA_MAX_ARGS, QL_LUA_MAX_RESULTS);
    if ((rc = check_fn(q, fn, d)) != QL_OK)
        return rc;
    for (i = 0; i < nargs; i++) {
        /* A short name is used as it is: no copy on every call. */
        if (names != NULL && names[i] != NULL &&
            strnlen(names[i], LABEL_MAX) < LABEL_MAX)
            j.labels[i] = names[i];
        else if (names != NULL && names[i] != NULL)
            j.labels[i] = cut_label(j.buf[i], names[i]);
        else
            j.labels[i] = arg_label(j.buf[i], i);
        if ((rc = ql_lval_check_arg(args[i], q, q->lim.max_string, j.labels[i],
                                    d)) != QL_OK)
            return rc;
    }
    /* Nothing has run in the state since a lazy load: seal it now. */
    if ((rc = seal(q, d)) != QL_OK)
        return rc;
    j.q = q;
    j.ref = fn->u.function.ref;
    j.args = args;
    j.nargs = nargs;
    for (i = 0; i < nresults; i++)
        j.res[i] = res[i];
    j.nres = nresults;
    start(q, q->lim.call_steps, q->lim.call_ms);
    rc = run(q, call_main, &j, d);
    /* The arguments' trees die with the call (see lazy_index). */
    q->calls++;
    return rc;
}

ql_err
ql_lua_call(struct ql_lua *q, const struct ql_lval *fn,
            const struct ql_lval *const *args, const char *const *names,
            size_t nargs, struct ql_lval **results, size_t nresults,
            struct ql_diag *d)
{
    struct ql_lval *res[QL_LUA_MAX_RESULTS] = {NULL};
    size_t i;
    ql_err rc;

    if (q == NULL || (results == NULL && nresults > 0) ||
        (args == NULL && nargs > 0))
        return ql_fail(d, QL_EUSAGE,
                       "calling needs a state and room for "
                       "its arguments and results");
    if (nresults > QL_LUA_MAX_RESULTS)
        return ql_fail(d, QL_EUSAGE,
                       "a call takes at most %d arguments and %d results",
                       QL_LUA_MAX_ARGS, QL_LUA_MAX_RESULTS);
    for (i = 0; i < nresults; i++)
        if ((res[i] = calloc(1, sizeof *res[i])) == NULL) {
            rc = ql_fail(d, QL_ENOMEM, "out of memory calling '%s'", q->name);
            goto out;
        }
    if ((rc = call(q, fn, args, names, nargs, res, nresults, d)) != QL_OK)
        goto out;
    for (i = 0; i < nresults; i++) {
        results[i] = res[i];
        res[i] = NULL; /* ownership moved to the caller */
    }
out:
    for (i = 0; i < nresults; i++)
        ql_lval_free(res[i]);
    return rc;
}

/* "a number", "an integer", "nil": how a message names a value's type. */
static const char *
with_article(enum ql_lval_type t)
{
    switch (t) {
    case QL_LVAL_NIL:
        return "nil";
    case QL_LVAL_BOOLEAN:
        return "a boolean";
    case QL_LVAL_INTEGER:
        return "an integer";
    case QL_LVAL_NUMBER:
        return "a number";
    case QL_LVAL_STRING:
        return "a string";
    case QL_LVAL_TABLE:
        return "a table";
    case QL_LVAL_FUNCTION:
        return "a function";
    }
    return "an unknown value";
}

ql_err
ql_lua_guard(struct ql_lua *q, const struct ql_lval *fn,
             const struct ql_lval *const *args, const char *const *names,
             size_t nargs, bool *allowed, char **reason, struct ql_diag *d)
{
    struct ql_lval r[2], *const res[2] = {&r[0], &r[1]};
    char *copy = NULL;
    ql_err rc;

    memset(r, 0, sizeof r); /* NIL */
    if (allowed == NULL || reason == NULL)
        return ql_fail(d, QL_EUSAGE, "a guard call needs room for its answer");
    if (q == NULL || (args == NULL && nargs > 0))
        return ql_fail(d, QL_EUSAGE,
                       "calling needs a state and room for "
                       "its arguments and results");
    if ((rc = call(q, fn, args, names, nargs, res, 2, d)) != QL_OK)
        goto out;
    if (r[0].type != QL_LVAL_BOOLEAN) {
        rc = ql_fail(d, QL_ESCRIPT,
                     "%s:%d: guard returned %s, expected true or false",
                     q->name, fn_line(q, fn), with_article(r[0].type));
        goto out;
    }
    if (!r[0].u.boolean && r[1].type != QL_LVAL_NIL) {
        if (r[1].type != QL_LVAL_STRING) {
            rc = ql_fail(d, QL_ESCRIPT,
                         "%s:%d: guard returned false and %s, expected a "
                         "reason string",
                         q->name, fn_line(q, fn), with_article(r[1].type));
            goto out;
        }
        if ((copy = malloc(r[1].u.string.len + 1)) == NULL) {
            rc = ql_fail(d, QL_ENOMEM, "out of memory calling '%s'", q->name);
            goto out;
        }
        memcpy(copy, r[1].u.string.bytes, r[1].u.string.len + 1);
    }
    *allowed = r[0].u.boolean;
    *reason = copy;
    copy = NULL;
out:
    free(copy);
    ql_lval_clear(&r[0]);
    ql_lval_clear(&r[1]);
    return rc;
}
