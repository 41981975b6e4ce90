/*
 * The libraries a script sees. Lua's own base, table, string, math and
 * utf8 libraries are opened one by one; what reaches outside the state or
 * varies between runs is removed; what can loop in C without bound is
 * replaced by versions here that charge their work to the budget:
 *
 *   pcall, xpcall     never swallow an exhausted limit (it is re-raised);
 *   setmetatable      refuses __gc (a finalizer could run at close) and
 *                     __mode (weak tables make the collector observable);
 *   rawset, rawget,   refuse or look through read-only tables;
 *   rawlen, next
 *   pairs             visits keys in a defined order;
 *   print             does nothing;
 *   table.insert, remove, move, concat, unpack, sort
 *                     loop over lengths a __len metamethod may invent, so
 *                     each element is charged; sort is a stable merge sort
 *                     (Lua's own picks pivots from the clock).
 */
#include "ql_lua.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "ql_lua_impl.h"

/*
 * What one element of a table function costs against the budget: a read
 * and a write through the C API are worth a few instructions. Metamethods
 * they trigger are charged by the call hook.
 */
#define ELEMENT_COST 4

/* ---- base ---- */

static int
sb_print(lua_State *L)
{
    (void)L;
    return 0;
}

/*
 * Ends a pcall or xpcall: an exhausted limit (or memory) is raised again so
 * that the script cannot catch it and carry on.
 */
static int
finish_pcall(lua_State *L, int status, int extra)
{
    struct ql_lua *q = ql_lua_of(L);

    if (status == LUA_OK)
        return lua_gettop(L) - extra;
    if (status == LUA_ERRMEM)
        ql_lua_raise_fatal(L, QL_LUA_FATAL_MEMORY);
    if (q->fatal != QL_LUA_FATAL_NONE)
        ql_lua_raise_fatal(L, q->fatal);
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
}

static int
sb_pcall(lua_State *L)
{
    int status;

    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    return finish_pcall(L, status, 0);
}

/*
 * The message handler xpcall installs in front of the script's own. An
 * error raised by the count hook calls the handler from inside the hook,
 * where Lua runs no hooks: the script's handler would run unmetered. So
 * once a limit is exhausted the script's handler is skipped.
 */
static int
xpcall_msgh(lua_State *L)
{
    if (ql_lua_of(L)->fatal != QL_LUA_FATAL_NONE)
        return 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int
sb_xpcall(lua_State *L)
{
    int n = lua_gettop(L), status;

    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, xpcall_msgh, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    status = lua_pcall(L, n - 2, LUA_MULTRET, 2);
    return finish_pcall(L, status, 2);
}

static int
sb_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);

    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "__gc metamethods are not allowed");
        lua_pushliteral(L, "__mode");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "weak tables (__mode) are not allowed");
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

static int
sb_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (ql_lua_is_proxy(L, 1))
        return ql_lua_readonly_error(L, 1, 2);
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

static int
sb_rawget(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    ql_lua_push_raw(L, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int
sb_rawlen(lua_State *L)
{
    int t = lua_type(L, 1);

    luaL_argexpected(L, t == LUA_TTABLE || t == LUA_TSTRING, 1,
                     "table or string");
    if (t == LUA_TTABLE) {
        ql_lua_push_raw(L, 1);
        lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    } else {
        lua_pushinteger(L, (lua_Integer)lua_rawlen(L, 1));
    }
    return 1;
}

static int
sb_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    ql_lua_push_raw(L, 1);
    lua_replace(L, 1);
    if (lua_next(L, 1))
        return 2;
    lua_pushnil(L);
    return 1;
}

static int
sb_pairs(lua_State *L)
{
    luaL_checkany(L, 1);
    if (luaL_getmetafield(L, 1, "__pairs") != LUA_TNIL) {
        lua_pushvalue(L, 1);
        lua_call(L, 1, 3);
        return 3;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    return ql_lua_sorted_pairs(L, 1);
}

/* ---- pairs in a defined order ---- */

struct key_item {
    int rank; /* 0 number, 1 string, 2 boolean, 3 anything else */
    bool isint;
    lua_Integer i;
    lua_Number n;
    const char *s;
    size_t len;
    lua_Integer order; /* position in the key list, the last tie-break */
};

/* Compares a float that is not an integer value with an integer, exactly. */
static int
float_int_cmp(lua_Number f, lua_Integer i)
{
    lua_Integer t;

    if (f >= 9223372036854775808.0)
        return 1;
    if (f < -9223372036854775808.0)
        return -1;
    t = (lua_Integer)f; /* toward zero, so f lies within (t - 1, t + 1) */
    if (t != i)
        return t < i ? -1 : 1;
    return f < (lua_Number)t ? -1 : f > (lua_Number)t;
}

static int
key_item_cmp(const void *pa, const void *pb)
{
    const struct key_item *a = pa, *b = pb;
    int c = 0;
    size_t m;

    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    switch (a->rank) {
    case 0:
        if (a->isint && b->isint)
            c = (a->i > b->i) - (a->i < b->i);
        else if (!a->isint && !b->isint)
            c = (a->n > b->n) - (a->n < b->n);
        else if (a->isint)
            c = -float_int_cmp(b->n, a->i);
        else
            c = float_int_cmp(a->n, b->i);
        break;
    case 1:
        m = a->len < b->len ? a->len : b->len;
        c = memcmp(a->s, b->s, m);
        if (c == 0)
            c = (a->len > b->len) - (a->len < b->len);
        break;
    case 2:
        c = (int)a->i - (int)b->i;
        break;
    default:
        break;
    }
    if (c != 0)
        return c;
    return (a->order > b->order) - (a->order < b->order);
}

/*
 * The iterator of ql_lua_sorted_pairs. Its upvalues are the table, the
 * sorted key list and a map from key to position; it keeps no state of
 * its own, so it can be called in any order, like next.
 */
static int
pairs_iter(lua_State *L)
{
    lua_Integer j, n;
    int raw;

    lua_settop(L, 2);
    if (lua_isnil(L, 2)) {
        j = 0;
    } else {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(3)) != LUA_TNUMBER)
            return luaL_error(L, "invalid key to 'pairs' iterator");
        j = lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    ql_lua_push_raw(L, lua_upvalueindex(1));
    raw = lua_gettop(L);
    n = (lua_Integer)lua_rawlen(L, lua_upvalueindex(2));
    for (j++; j <= n; j++) {
        ql_lua_charge(L, 1);
        lua_rawgeti(L, lua_upvalueindex(2), j);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, raw) != LUA_TNIL)
            return 2; /* a key removed since pairs() is skipped */
        lua_pop(L, 2);
    }
    lua_pushnil(L);
    return 1;
}

bool
ql_lua_is_pairs_iter(lua_CFunction f)
{
    return f == pairs_iter;
}

/* About n * log2(n), the comparisons of a sort, for the budget. */
static uint64_t
sort_cost(uint64_t n)
{
    uint64_t lg = 1, m = n;

    while (m > 1) {
        m >>= 1;
        lg++;
    }
    return n * lg;
}

int
ql_lua_sorted_pairs(lua_State *L, int idx)
{
    struct key_item *items;
    lua_Integer n = 0, k;
    int t = lua_absindex(L, idx), raw, keys, sorted, pos;

    luaL_checkstack(L, 12, NULL);
    ql_lua_push_raw(L, t);
    raw = lua_gettop(L);
    lua_newtable(L);
    keys = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, raw)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, ++n);
    }
    ql_lua_charge(L, sort_cost((uint64_t)n));
    items = lua_newuserdatauv(L, (size_t)n * sizeof *items + 1, 0);
    for (k = 0; k < n; k++) {
        struct key_item *it = &items[k];

        memset(it, 0, sizeof *it);
        it->order = k + 1;
        switch (lua_rawgeti(L, keys, k + 1)) {
        case LUA_TNUMBER:
            it->rank = 0;
            it->isint = lua_isinteger(L, -1);
            if (it->isint)
                it->i = lua_tointeger(L, -1);
            else
                it->n = lua_tonumber(L, -1);
            break;
        case LUA_TSTRING:
            /* The key list keeps the string alive while items points in. */
            it->rank = 1;
            it->s = lua_tolstring(L, -1, &it->len);
            break;
        case LUA_TBOOLEAN:
            it->rank = 2;
            it->i = lua_toboolean(L, -1);
            break;
        default:
            it->rank = 3;
            break;
        }
        lua_pop(L, 1);
    }
    if (n > 1)
        qsort(items, (size_t)n, sizeof *items, key_item_cmp);
    lua_createtable(L, n < INT_MAX ? (int)n : 0, 0);
    sorted = lua_gettop(L);
    lua_createtable(L, 0, n < INT_MAX ? (int)n : 0);
    pos = lua_gettop(L);
    for (k = 0; k < n; k++) {
        lua_rawgeti(L, keys, items[k].order);
        lua_pushvalue(L, -1);
        lua_rawseti(L, sorted, k + 1);
        lua_pushinteger(L, k + 1);
        lua_rawset(L, pos);
    }
    lua_pushvalue(L, t);
    lua_pushvalue(L, sorted);
    lua_pushvalue(L, pos);
    lua_pushcclosure(L, pairs_iter, 3);
    lua_pushvalue(L, t);
    lua_pushnil(L);
    return 3;
}

/* ---- table ---- */

#define TAB_R 1
#define TAB_W 2
#define TAB_L 4

/* A table, or something whose metatable provides what the function needs. */
static void
check_tab(lua_State *L, int arg, int what)
{
    int n;
    bool ok;

    if (lua_type(L, arg) == LUA_TTABLE)
        return;
    ok = lua_getmetatable(L, arg);
    n = ok ? 1 : 0;
    if (ok && (what & TAB_R)) {
        lua_pushliteral(L, "__index");
        ok = lua_rawget(L, -1 - n++) != LUA_TNIL;
    }
    if (ok && (what & TAB_W)) {
        lua_pushliteral(L, "__newindex");
        ok = lua_rawget(L, -1 - n++) != LUA_TNIL;
    }
    if (ok && (what & TAB_L)) {
        lua_pushliteral(L, "__len");
        ok = lua_rawget(L, -1 - n++) != LUA_TNIL;
    }
    if (!ok)
        luaL_checktype(L, arg, LUA_TTABLE);
    lua_pop(L, n);
}

static int
t_insert(lua_State *L)
{
    lua_Integer pos, e, i;

    check_tab(L, 1, TAB_R | TAB_W | TAB_L);
    e = (lua_Integer)((lua_Unsigned)luaL_len(L, 1) + 1u);
    switch (lua_gettop(L)) {
    case 2:
        pos = e;
        break;
    case 3:
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2,
                      "position out of bounds");
        for (i = e; i > pos; i--) {
            ql_lua_charge(L, ELEMENT_COST);
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i);
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos);
    return 0;
}

static int
t_remove(lua_State *L)
{
    lua_Integer size, pos;

    check_tab(L, 1, TAB_R | TAB_W | TAB_L);
    size = luaL_len(L, 1);
    pos = luaL_optinteger(L, 2, size);
    if (pos != size)
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2,
                      "position out of bounds");
    lua_geti(L, 1, pos);
    for (; pos < size; pos++) {
        ql_lua_charge(L, ELEMENT_COST);
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

static int
t_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    lua_Integer t = luaL_checkinteger(L, 4);
    lua_Integer n, i;
    int tt = !lua_isnoneornil(L, 5) ? 5 : 1;

    check_tab(L, 1, TAB_R);
    check_tab(L, tt, TAB_W);
    if (e >= f) {
        luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3,
                      "too many elements to move");
        n = e - f + 1;
        luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4,
                      "destination wrap around");
        if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
            for (i = 0; i < n; i++) {
                ql_lua_charge(L, ELEMENT_COST);
                lua_geti(L, 1, f + i);
                lua_seti(L, tt, t + i);
            }
        } else {
            for (i = n - 1; i >= 0; i--) {
                ql_lua_charge(L, ELEMENT_COST);
                lua_geti(L, 1, f + i);
                lua_seti(L, tt, t + i);
            }
        }
    }
    lua_pushvalue(L, tt);
    return 1;
}

/* Adds the value on top to b, within the string cap. */
static void
add_value_capped(lua_State *L, luaL_Buffer *b, size_t max)
{
    size_t len;

    lua_tolstring(L, -1, &len);
    if (len > max - luaL_bufflen(b))
        luaL_error(L, "resulting string too large (limit %d bytes)",
                   (int)(max < INT_MAX ? max : INT_MAX));
    luaL_addvalue(b);
}

static int
t_concat(lua_State *L)
{
    size_t lsep, max = ql_lua_of(L)->lim.max_string;
    const char *sep = luaL_optlstring(L, 2, "", &lsep);
    lua_Integer i, last;
    luaL_Buffer b;

    check_tab(L, 1, TAB_R | TAB_L);
    i = luaL_optinteger(L, 3, 1);
    last = lua_isnoneornil(L, 4) ? luaL_len(L, 1) : luaL_checkinteger(L, 4);
    luaL_buffinit(L, &b);
    for (; i <= last; i++) {
        ql_lua_charge(L, ELEMENT_COST);
        lua_geti(L, 1, i);
        if (!lua_isstring(L, -1))
            return luaL_error(L,
                              "invalid value (%s) at index %I in table for "
                              "'concat'",
                              luaL_typename(L, -1), (LUAI_UACINT)i);
        add_value_capped(L, &b, max);
        if (i < last) {
            if (lsep > max - luaL_bufflen(&b))
                return luaL_error(L,
                                  "resulting string too large (limit %d "
                                  "bytes)",
                                  (int)(max < INT_MAX ? max : INT_MAX));
            luaL_addlstring(&b, sep, lsep);
        }
        if (i == LUA_MAXINTEGER)
            break;
    }
    luaL_pushresult(&b);
    return 1;
}

static int
t_unpack(lua_State *L)
{
    lua_Unsigned n;
    lua_Integer i = luaL_optinteger(L, 2, 1);
    lua_Integer e =
        lua_isnoneornil(L, 3) ? luaL_len(L, 1) : luaL_checkinteger(L, 3);

    if (i > e)
        return 0;
    n = (lua_Unsigned)e - (lua_Unsigned)i;
    if (n >= (lua_Unsigned)INT_MAX || !lua_checkstack(L, (int)(++n)))
        return luaL_error(L, "too many results to unpack");
    ql_lua_charge(L, n * ELEMENT_COST);
    for (; i < e; i++)
        lua_geti(L, 1, i);
    lua_geti(L, 1, e);
    return (int)n;
}

/* True when the element at a sorts before the one at b (stack indexes). */
static bool
sort_less(lua_State *L, int cmp, int tmp, lua_Integer a, lua_Integer b)
{
    bool r;

    ql_lua_charge(L, ELEMENT_COST);
    if (cmp) {
        lua_pushvalue(L, cmp);
        lua_rawgeti(L, tmp, a);
        lua_rawgeti(L, tmp, b);
        lua_call(L, 2, 1);
        r = lua_toboolean(L, -1);
        lua_pop(L, 1);
        return r;
    }
    lua_rawgeti(L, tmp, a);
    lua_rawgeti(L, tmp, b);
    r = lua_compare(L, -2, -1, LUA_OPLT);
    lua_pop(L, 2);
    return r;
}

/*
 * A stable bottom-up merge sort over the positions 1..n; the elements are
 * read once into a private table and written back at the end, so a
 * comparison function that changes the table sees what Lua's sort would
 * let it see, and an inconsistent one still ends.
 */
static int
t_sort(lua_State *L)
{
    lua_Integer n, i, width, lo, mid, hi, a, b, o;
    lua_Integer *idx, *buf, *swap;
    int cmp = 0, tmp;

    check_tab(L, 1, TAB_R | TAB_W | TAB_L);
    n = luaL_len(L, 1);
    if (n < 2)
        return 0;
    luaL_argcheck(L, n < INT_MAX, 1, "array too big");
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TFUNCTION);
        cmp = 2;
    }
    lua_settop(L, 2);
    lua_createtable(L, (int)n, 0);
    tmp = lua_gettop(L);
    for (i = 1; i <= n; i++) {
        ql_lua_charge(L, ELEMENT_COST);
        lua_geti(L, 1, i);
        lua_rawseti(L, tmp, i);
    }
    idx = lua_newuserdatauv(L, 2 * (size_t)n * sizeof *idx, 0);
    buf = idx + n;
    for (i = 0; i < n; i++)
        idx[i] = i + 1;
    for (width = 1; width < n; width *= 2) {
        for (lo = 0; lo < n; lo += 2 * width) {
            mid = lo + width < n ? lo + width : n;
            hi = lo + 2 * width < n ? lo + 2 * width : n;
            a = lo;
            b = mid;
            for (o = lo; o < hi; o++) {
                if (a < mid &&
                    (b >= hi || !sort_less(L, cmp, tmp, idx[b], idx[a])))
                    buf[o] = idx[a++];
                else
                    buf[o] = idx[b++];
            }
        }
        swap = idx;
        idx = buf;
        buf = swap;
    }
    for (i = 0; i < n; i++) {
        ql_lua_charge(L, ELEMENT_COST);
        lua_rawgeti(L, tmp, idx[i]);
        lua_seti(L, 1, i + 1);
    }
    return 0;
}

/* ---- opening ---- */

/*
 * Freezes the library table on top and points the registry's list of
 * loaded modules at its hidden table. Lua finds function names for error
 * messages there ("bad argument #2 to 'table.insert'"); scripts cannot
 * reach the registry.
 */
static void
freeze_lib(lua_State *L, const char *name)
{
    ql_lua_freeze(L, -1, name, false);
    ql_lua_expose_loaded(L, -1, name);
}

/* Clears the named fields of the table on top. */
static void
drop(lua_State *L, const char *const *names)
{
    for (; *names != NULL; names++) {
        lua_pushnil(L);
        lua_setfield(L, -2, *names);
    }
}

void
ql_lua_open_libs(lua_State *L)
{
    static const luaL_Reg base_fns[] = {
        {"next", sb_next},     {"pairs", sb_pairs},
        {"pcall", sb_pcall},   {"print", sb_print},
        {"rawget", sb_rawget}, {"rawlen", sb_rawlen},
        {"rawset", sb_rawset}, {"setmetatable", sb_setmetatable},
        {"xpcall", sb_xpcall}, {NULL, NULL}};
    static const char *const base_drop[] = {
        "collectgarbage", "dofile", "load", "loadfile",
        "require",        "warn",   NULL};
    static const luaL_Reg table_fns[] = {
        {"concat", t_concat}, {"insert", t_insert}, {"move", t_move},
        {"remove", t_remove}, {"sort", t_sort},     {"unpack", t_unpack},
        {NULL, NULL}};
    static const char *const string_drop[] = {"dump", "pack", "packsize",
                                              "unpack", NULL};
    static const char *const math_drop[] = {"random", "randomseed", NULL};

    luaL_checkstack(L, 8, NULL);
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_setfuncs(L, base_fns, 0);
    drop(L, base_drop);
    lua_pop(L, 1);

    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_setfuncs(L, table_fns, 0);
    freeze_lib(L, "table");
    lua_pop(L, 1);

    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    drop(L, string_drop);
    ql_lua_pattern_register(L, -1);
    /* The string metatable stays private: getmetatable("") hides it. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushliteral(L, "read-only");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    freeze_lib(L, "string");
    lua_pop(L, 1);

    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    drop(L, math_drop);
    freeze_lib(L, "math");
    lua_pop(L, 1);

    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    freeze_lib(L, "utf8");
    lua_pop(L, 1);
}
