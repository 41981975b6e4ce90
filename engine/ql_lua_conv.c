/*
 * Read-only tables, sealing a state after loading, and conversions between
 * Lua values and value trees.
 *
 * A read-only table is an empty proxy whose metatable sends reads to a
 * hidden table (__index), refuses writes (__newindex), reports the hidden
 * table's length and pairs (__len, __pairs) and is itself protected
 * (__metatable). The hidden table is never handed to a script: rawget,
 * rawlen, next and pairs of this module look through proxies, rawset and
 * setmetatable refuse them.
 */
#include "ql_lua.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "ql_lua_impl.h"

/* Addresses used as private keys: nothing a script can name. */
static const char proxy_key = 'p'; /* metatable: the proxy's label */
static const char snap_key = 's';  /* registry: the upvalue snapshot */

/* Objects one seal may walk; far above any workflow file. */
#define SEAL_MAX_OBJECTS 1000000

bool
ql_lua_is_proxy(lua_State *L, int idx)
{
    bool r;

    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return false;
    r = lua_rawgetp(L, -1, &proxy_key) == LUA_TSTRING;
    lua_pop(L, 2);
    return r;
}

static void lazy_fill(lua_State *L, int h);

void
ql_lua_push_raw(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (!ql_lua_is_proxy(L, idx)) {
        lua_pushvalue(L, idx);
        return;
    }
    lua_getmetatable(L, idx);
    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
    lua_remove(L, -2);
    /* Whoever looks at the hidden table directly sees all of it. */
    lazy_fill(L, lua_gettop(L));
}

/*
 * How a message names key k: "field 'state'", "index 3" or "a key of type
 * boolean"; *plain gets the part after the word ("'state'", "3").
 */
static void
key_desc(lua_State *L, int k, char *buf, size_t cap, const char **plain)
{
    const char *s;
    size_t len, i, n;
    char clean[48];
    int word = 0;

    switch (lua_type(L, k)) {
    case LUA_TSTRING:
        s = lua_tolstring(L, k, &len);
        n = len < sizeof clean - 1 ? len : sizeof clean - 1;
        for (i = 0; i < n; i++)
            clean[i] =
                ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) ? '?' : s[i];
        clean[n] = '\0';
        snprintf(buf, cap, "field '%s%s'", clean, n < len ? "..." : "");
        word = 6;
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, k))
            snprintf(buf, cap, "index %lld", (long long)lua_tointeger(L, k));
        else
            snprintf(buf, cap, "index %g", (double)lua_tonumber(L, k));
        word = 6;
        break;
    default:
        snprintf(buf, cap, "a key of type %s", luaL_typename(L, k));
        break;
    }
    *plain = buf + word;
}

int
ql_lua_readonly_error(lua_State *L, int idx, int kidx)
{
    char desc[80];
    const char *label = "table", *plain;

    key_desc(L, kidx, desc, sizeof desc, &plain);
    if (lua_getmetatable(L, idx)) {
        if (lua_rawgetp(L, -1, &proxy_key) == LUA_TSTRING)
            label = lua_tostring(L, -1);
    }
    if (strcmp(label, "globals") == 0)
        return luaL_error(L,
                          "cannot assign global %s: globals are read-only "
                          "after loading",
                          plain);
    return luaL_error(L, "cannot assign %s: %s is read-only", desc, label);
}

static int
ro_newindex(lua_State *L)
{
    return ql_lua_readonly_error(L, 1, 2);
}

static int
ro_len(lua_State *L)
{
    ql_lua_push_raw(L, 1);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    return 1;
}

static int
ro_pairs(lua_State *L)
{
    return ql_lua_sorted_pairs(L, 1);
}

/* Pushes a proxy metatable over the table at hidden (an absolute index). */
static void
proxy_meta(lua_State *L, int hidden, const char *label)
{
    lua_createtable(L, 0, 6);
    lua_pushvalue(L, hidden);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ro_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, ro_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushliteral(L, "read-only");
    lua_setfield(L, -2, "__metatable");
    lua_pushstring(L, label);
    lua_rawsetp(L, -2, &proxy_key);
}

/* Gives the table at t (empty) a proxy metatable over the table at hidden. */
static void
make_proxy(lua_State *L, int t, int hidden, const char *label)
{
    proxy_meta(L, hidden, label);
    lua_setmetatable(L, t);
}

void
ql_lua_expose_loaded(lua_State *L, int idx, const char *name)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 4, NULL);
    if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) == LUA_TTABLE) {
        ql_lua_push_raw(L, idx);
        lua_setfield(L, -2, name);
    }
    lua_pop(L, 1);
}

/*
 * Pushes an empty table with room for every entry of the plain table at t
 * (an absolute index): its array part as long as t's, the rest in its
 * hash part. Filling it with t's entries then allocates nothing.
 */
static void
push_hidden(lua_State *L, int t)
{
    lua_Integer key;
    size_t narr = lua_rawlen(L, t), n = 0, inarr = 0;

    if (narr > INT_MAX)
        narr = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        n++;
        if (lua_isinteger(L, -1) && (key = lua_tointeger(L, -1)) >= 1 &&
            (lua_Unsigned)key <= narr)
            inarr++;
    }
    lua_createtable(L, (int)narr, n - inarr < INT_MAX ? (int)(n - inarr) : 0);
}

/*
 * Moves the contents of the table at t into the empty table at hidden
 * (absolute indices), which push_hidden sized for them.
 */
static void
move_contents(lua_State *L, int t, int hidden)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, hidden);
    }
    /* Clearing existing fields during a traversal is allowed. */
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, t);
    }
}

void
ql_lua_freeze(lua_State *L, int idx, const char *label, bool globals)
{
    int t = lua_absindex(L, idx), hidden;

    luaL_checkstack(L, 8, NULL);
    push_hidden(L, t);
    hidden = lua_gettop(L);
    move_contents(L, t, hidden);
    make_proxy(L, t, hidden, globals ? "globals" : label);
    lua_pop(L, 1);
}

/* Tables, functions and the types that cannot be kept go on the work list. */
static bool
walked(int t)
{
    return t == LUA_TTABLE || t == LUA_TFUNCTION || t == LUA_TUSERDATA ||
           t == LUA_TLIGHTUSERDATA || t == LUA_TTHREAD;
}

/*
 * Makes, for each of the ntabs tables in the list at tabs, what freezing
 * it takes: a hidden table with room for all its contents, so that moving
 * them in allocates nothing, and the proxy metatable over it. Pushes a
 * list of them (hidden, metatable, hidden, ...) and returns its index.
 * Points the registry's loaded-modules entry of the globals at their
 * hidden table, for Lua's error messages.
 */
static int
prepare(lua_State *L, int tabs, lua_Integer ntabs, int globals)
{
    lua_Integer k;
    int prep, t, hidden;

    luaL_checkstack(L, 8, NULL);
    lua_createtable(L, ntabs < INT_MAX / 2 ? (int)(2 * ntabs) : 0, 0);
    prep = lua_gettop(L);
    for (k = 1; k <= ntabs; k++) {
        lua_rawgeti(L, tabs, k);
        t = lua_gettop(L);
        push_hidden(L, t);
        hidden = lua_gettop(L);
        proxy_meta(L, hidden,
                   lua_rawequal(L, t, globals) ? "globals" : "table");
        lua_rawseti(L, prep, 2 * k);
        lua_rawseti(L, prep, 2 * k - 1);
        if (lua_rawequal(L, t, globals) &&
            lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) ==
                LUA_TTABLE) {
            lua_rawgeti(L, prep, 2 * k - 1);
            lua_setfield(L, -2, LUA_GNAME);
        }
        lua_settop(L, prep);
    }
    return prep;
}

/*
 * Freezes the table at t with the hidden table and metatable above it
 * (t + 1, t + 2), made by prepare. Allocates nothing.
 */
static void
commit(lua_State *L, int t)
{
    move_contents(L, t, t + 1);
    lua_pushvalue(L, t + 2);
    lua_setmetatable(L, t);
}

/*
 * Walks what survives loading with an explicit work list (a Lua table, so
 * deep structures use no C stack), then freezes every plain table found.
 * Freezing is in place, so every reference, upvalues included, sees the
 * read-only table afterwards. Every error (a rule broken, memory) is
 * raised before the first table changes: a failed seal leaves the state
 * as loading left it, and a later seal may try again.
 */
void
ql_lua_seal_state(lua_State *L, int idx)
{
    int root = lua_absindex(L, idx), seen, todo, tabs, snap, globals, prep, i;
    int ups;
    lua_Integer ntodo = 0, ntabs = 0, nsnap = 0, k;
    size_t count = 0;
    lua_CFunction cf;

    luaL_checkstack(L, 16, NULL);
    lua_newtable(L);
    seen = lua_gettop(L);
    lua_newtable(L);
    todo = lua_gettop(L);
    lua_newtable(L);
    tabs = lua_gettop(L);
    lua_newtable(L);
    snap = lua_gettop(L);
    lua_newtable(L);
    ups = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    globals = lua_gettop(L);
    /* A file that returns nil (or a number) has nothing of its own to
       seal; a nil could not even be a key of `seen`. */
    if (walked(lua_type(L, root))) {
        lua_pushvalue(L, root);
        lua_rawseti(L, todo, ++ntodo);
    }
    lua_pushvalue(L, globals);
    lua_rawseti(L, todo, ++ntodo);
    while (ntodo > 0) {
        int t;

        lua_rawgeti(L, todo, ntodo);
        lua_pushnil(L);
        lua_rawseti(L, todo, ntodo--);
        t = lua_type(L, -1);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, seen) != LUA_TNIL) {
            lua_pop(L, 2);
            continue;
        }
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushboolean(L, 1);
        lua_rawset(L, seen);
        if (++count > SEAL_MAX_OBJECTS)
            luaL_error(L, "more than %d tables and functions survive loading",
                       SEAL_MAX_OBJECTS);
        switch (t) {
        case LUA_TTABLE:
            if (ql_lua_is_proxy(L, -1))
                break; /* read-only already, contents included */
            if (lua_getmetatable(L, -1))
                luaL_error(L, "a table with a metatable survives loading; "
                              "metatables may only be set inside a call");
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                if (walked(lua_type(L, -1))) {
                    lua_pushvalue(L, -1);
                    lua_rawseti(L, todo, ++ntodo);
                }
                if (walked(lua_type(L, -2))) {
                    lua_pushvalue(L, -2);
                    lua_rawseti(L, todo, ++ntodo);
                }
                lua_pop(L, 1);
            }
            lua_pushvalue(L, -1);
            lua_rawseti(L, tabs, ++ntabs);
            break;
        case LUA_TFUNCTION:
            if (lua_iscfunction(L, -1)) {
                cf = lua_tocfunction(L, -1);
                if (ql_lua_is_gmatch_iter(cf))
                    luaL_error(L, "a string.gmatch iterator survives "
                                  "loading; a later call could keep state "
                                  "in it");
                if (ql_lua_is_pairs_iter(cf)) {
                    /* Its other upvalues are private key lists. */
                    lua_getupvalue(L, -1, 1);
                    lua_rawseti(L, todo, ++ntodo);
                } else if (lua_getupvalue(L, -1, 1) != NULL) {
                    luaL_error(L, "a C function with upvalues survives "
                                  "loading");
                }
                break;
            }
            for (i = 1; lua_getupvalue(L, -1, i) != NULL; i++) {
                /*
                 * Closures of one file share upvalues (_ENV, a local
                 * function): setting one through any of them sets it for
                 * all, so each is recorded, and put back, once.
                 */
                lua_pushlightuserdata(L, lua_upvalueid(L, -2, i));
                if (lua_rawget(L, ups) != LUA_TNIL) {
                    lua_pop(L, 2);
                    continue;
                }
                lua_pop(L, 1);
                lua_pushlightuserdata(L, lua_upvalueid(L, -2, i));
                lua_pushboolean(L, 1);
                lua_rawset(L, ups);
                lua_pushvalue(L, -2);
                lua_rawseti(L, snap, ++nsnap);
                lua_pushinteger(L, i);
                lua_rawseti(L, snap, ++nsnap);
                lua_pushvalue(L, -1);
                lua_rawseti(L, snap, ++nsnap); /* nil leaves a hole */
                if (walked(lua_type(L, -1)))
                    lua_rawseti(L, todo, ++ntodo);
                else
                    lua_pop(L, 1);
            }
            break;
        case LUA_TUSERDATA:
        case LUA_TLIGHTUSERDATA:
        case LUA_TTHREAD:
            luaL_error(L, "a %s survives loading", luaL_typename(L, -1));
            break;
        default:
            break;
        }
        lua_pop(L, 1);
    }
    prep = prepare(L, tabs, ntabs, globals);
    lua_pushinteger(L, nsnap);
    lua_setfield(L, snap, "n");
    lua_pushvalue(L, snap);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &snap_key);
    luaL_checkstack(L, 8, NULL);
    /* Nothing below allocates, so nothing below can fail. */
    for (k = 1; k <= ntabs; k++) {
        lua_rawgeti(L, tabs, k);
        lua_rawgeti(L, prep, 2 * k - 1);
        lua_rawgeti(L, prep, 2 * k);
        commit(L, lua_gettop(L) - 2);
        lua_pop(L, 3);
    }
    lua_settop(L, seen - 1);
}

void
ql_lua_restore_upvalues(lua_State *L)
{
    lua_Integer n, i;
    int snap, up;

    luaL_checkstack(L, 6, NULL);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &snap_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    snap = lua_gettop(L);
    lua_pushliteral(L, "n");
    lua_rawget(L, snap);
    n = lua_tointeger(L, -1);
    lua_pop(L, 1);
    for (i = 1; i + 2 <= n; i += 3) {
        lua_rawgeti(L, snap, i);
        lua_rawgeti(L, snap, i + 1);
        up = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        lua_rawgeti(L, snap, i + 2);
        lua_setupvalue(L, -2, up);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/*
 * Writes the key path of the value being converted into buf (cap bytes):
 * where, then ".key" or "[n]" for each key on the way down, a key cut at
 * 40 bytes and the whole at the buffer's end. Only an error reads it, so
 * it is written then rather than at every entry.
 */
static void
path_text(lua_State *L, const struct ql_lua_conv *c, char *buf, size_t cap)
{
    size_t used, len;
    const char *s;
    int i, k;

    snprintf(buf, cap, "%s", c->where);
    for (i = 0; i < c->nkeys; i++) {
        used = strlen(buf);
        if (used + 1 >= cap)
            break;
        k = c->keys[i];
        if (lua_type(L, k) == LUA_TSTRING) {
            s = lua_tolstring(L, k, &len);
            snprintf(buf + used, cap - used, "%s%.*s", used > 0 ? "." : "",
                     (int)(len < 40 ? len : 40), s);
        } else {
            snprintf(buf + used, cap - used, "[%lld]",
                     (long long)lua_tointeger(L, k));
        }
    }
}

/* Raises a conversion error that names where in the value it happened. */
static int
conv_error(lua_State *L, struct ql_lua_conv *c, const char *what)
{
    char path[sizeof c->where];

    path_text(L, c, path, sizeof path);
    if (path[0] != '\0')
        lua_pushfstring(L, "in '%s': %s", path, what);
    else
        lua_pushfstring(L, "in the returned value: %s", what);
    return lua_error(L);
}

/* The host ran out of memory: report it as such (QL_ENOMEM). */
static int
host_oom(lua_State *L, struct ql_lua_conv *c)
{
    c->lua->refused = QL_LUA_REFUSED_HOST;
    lua_pushliteral(L, "not enough memory");
    return lua_error(L);
}

static void to_lval(lua_State *L, int idx, struct ql_lua_conv *c,
                    struct ql_lval *out);

static void
table_to_lval(lua_State *L, int idx, struct ql_lua_conv *c, struct ql_lval *out)
{
    struct ql_lval_entry *e;
    const void *self;
    size_t n = 0, i;
    const char *s;
    size_t len;
    char what[96];
    int raw, d, kt;

    luaL_checkstack(L, 8, NULL);
    if (c->depth >= QL_LVAL_MAX_DEPTH) {
        snprintf(what, sizeof what, "tables nested deeper than %d",
                 QL_LVAL_MAX_DEPTH);
        conv_error(L, c, what);
    }
    /* Read-only tables are converted from what they show. */
    ql_lua_push_raw(L, idx);
    raw = lua_gettop(L);
    self = lua_topointer(L, raw);
    for (d = 0; d < c->depth; d++)
        if (c->path[d] == self)
            conv_error(L, c, "a table contains itself");
    lua_pushnil(L);
    while (lua_next(L, raw)) {
        lua_pop(L, 1);
        if (++n > QL_LVAL_MAX_ENTRIES - c->entries) {
            snprintf(what, sizeof what, "more than %d table entries",
                     QL_LVAL_MAX_ENTRIES);
            conv_error(L, c, what);
        }
    }
    c->entries += n;
    out->type = QL_LVAL_TABLE;
    if ((out->u.table.entries = calloc(n > 0 ? n : 1, sizeof *e)) == NULL)
        host_oom(L, c);
    out->u.table.cap = n;
    /* The zeroed entries are NIL pairs, safe to free at any point. */
    out->u.table.count = n;
    c->path[c->depth++] = self;
    i = 0;
    lua_pushnil(L);
    while (i < n && lua_next(L, raw)) {
        e = &out->u.table.entries[i++];
        kt = lua_type(L, -2);
        if (kt == LUA_TSTRING) {
            s = lua_tolstring(L, -2, &len);
            if (len > c->lua->lim.memory - c->bytes)
                conv_error(L, c, "strings too large in all");
            if ((e->key.u.string.bytes = malloc(len + 1)) == NULL)
                host_oom(L, c);
            memcpy(e->key.u.string.bytes, s, len + 1);
            e->key.u.string.len = len;
            e->key.type = QL_LVAL_STRING;
            c->bytes += len;
        } else if (kt == LUA_TNUMBER && lua_isinteger(L, -2)) {
            e->key.type = QL_LVAL_INTEGER;
            e->key.u.integer = (int64_t)lua_tointeger(L, -2);
        } else {
            snprintf(what, sizeof what,
                     "a key of type %s; keys must be strings or integers",
                     kt == LUA_TNUMBER ? "number (not an integer)"
                                       : lua_typename(L, kt));
            conv_error(L, c, what);
        }
        /* The key stays in its slot while the value is converted. */
        c->keys[c->nkeys++] = lua_gettop(L) - 1;
        to_lval(L, lua_gettop(L), c, &e->value);
        c->nkeys--;
        lua_pop(L, 1);
    }
    if (i < n) /* cannot happen: nothing runs between the two passes */
        out->u.table.count = i;
    else if (i == n && lua_next(L, raw))
        conv_error(L, c, "a table changed while it was converted");
    c->depth--;
    lua_pop(L, 1);
    ql_lval_sort(out);
}

static void
to_lval(lua_State *L, int idx, struct ql_lua_conv *c, struct ql_lval *out)
{
    char what[96];
    const char *s;
    size_t len;
    int t = lua_type(L, idx);

    switch (t) {
    case LUA_TNIL:
        out->type = QL_LVAL_NIL;
        break;
    case LUA_TBOOLEAN:
        out->type = QL_LVAL_BOOLEAN;
        out->u.boolean = lua_toboolean(L, idx);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            out->type = QL_LVAL_INTEGER;
            out->u.integer = (int64_t)lua_tointeger(L, idx);
        } else {
            out->type = QL_LVAL_NUMBER;
            out->u.number = (double)lua_tonumber(L, idx);
        }
        break;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        if (len > c->lua->lim.memory - c->bytes) {
            snprintf(what, sizeof what, "strings of more than %zu bytes in all",
                     c->lua->lim.memory);
            conv_error(L, c, what);
        }
        if ((out->u.string.bytes = malloc(len + 1)) == NULL)
            host_oom(L, c);
        memcpy(out->u.string.bytes, s, len + 1);
        out->u.string.len = len;
        out->type = QL_LVAL_STRING;
        c->bytes += len;
        break;
    case LUA_TTABLE:
        table_to_lval(L, idx, c, out);
        break;
    case LUA_TFUNCTION:
        if (!c->functions)
            conv_error(L, c, "a call cannot return a function");
        luaL_checkstack(L, 2, NULL);
        lua_pushvalue(L, idx);
        out->u.function.ref = luaL_ref(L, LUA_REGISTRYINDEX);
        out->u.function.owner = c->lua;
        out->type = QL_LVAL_FUNCTION;
        break;
    default:
        snprintf(what, sizeof what, "a value of type %s cannot be converted",
                 lua_typename(L, t));
        conv_error(L, c, what);
        break;
    }
}

void
ql_lua_to_lval(lua_State *L, int idx, struct ql_lua_conv *c,
               struct ql_lval *out)
{
    to_lval(L, lua_absindex(L, idx), c, out);
}

/*
 * Tables handed to a call are filled on first use. A guard reads a few of
 * a lead's fields, and converting every field for every call cost more
 * than running the guard. The hidden table of such a proxy starts empty,
 * with a metatable of its own whose __index (lazy_index) converts the
 * value under the key from the caller's tree and keeps it, so the next
 * read finds it and a table read twice is the same table. Whatever looks
 * at the hidden table directly (pairs, next, rawget, #, the table library,
 * conversion back to a tree) goes through ql_lua_push_raw, which fills it
 * first (lazy_fill) and drops that metatable. No script reaches the hidden
 * table or its metatable.
 *
 * The tree is the caller's and lives for the call only. Each loader
 * carries the number of the call it was made for (ql_lua.calls); one that
 * runs later, from a table that escaped the call, which the sandbox's
 * rules should make impossible, raises an error instead of reading freed
 * memory.
 *
 * Upvalues of lazy_index: 1 the tree (light userdata), 2 the call's
 * number, 3 the label.
 */

/* The value under the Lua key at k in table t, or NULL. */
static const struct ql_lval *
lval_lookup(const struct ql_lval *t, lua_State *L, int k)
{
    struct ql_lval key;
    lua_Integer i = 0;
    size_t lo = t->u.table.array_len, hi = t->u.table.count, mid;
    int isnum = 0, c;

    memset(&key, 0, sizeof key);
    switch (lua_type(L, k)) {
    case LUA_TSTRING:
        key.type = QL_LVAL_STRING;
        key.u.string.bytes = (char *)lua_tolstring(L, k, &key.u.string.len);
        break;
    case LUA_TNUMBER:
        /* 2.0 and 2 are the same key, as in any table. */
        i = lua_tointegerx(L, k, &isnum);
        if (!isnum)
            return NULL;
        if (i >= 1 && (uint64_t)i <= t->u.table.array_len)
            return &t->u.table.entries[i - 1].value;
        key.type = QL_LVAL_INTEGER;
        key.u.integer = (int64_t)i;
        break;
    default:
        return NULL;
    }
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = ql_lval_key_cmp(&t->u.table.entries[mid].key, &key);
        if (c == 0)
            return &t->u.table.entries[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* True when the loader at fn still belongs to the running call. */
static bool
lazy_current(lua_State *L, int fn)
{
    bool yes;

    lua_getupvalue(L, fn, 2);
    yes = (uint64_t)lua_tointeger(L, -1) == ql_lua_of(L)->calls;
    lua_pop(L, 1);
    return yes;
}

/* __index of a lazy hidden table: (hidden, key) -> value. */
static int
lazy_index(lua_State *L)
{
    const struct ql_lval *t = lua_touserdata(L, lua_upvalueindex(1));
    const struct ql_lval *v;

    if ((uint64_t)lua_tointeger(L, lua_upvalueindex(2)) !=
        ql_lua_of(L)->calls)
        return luaL_error(L, "argument '%s' is no longer available",
                          lua_tostring(L, lua_upvalueindex(3)));
    lua_settop(L, 2);
    if ((v = lval_lookup(t, L, 2)) == NULL) {
        lua_pushnil(L);
        return 1;
    }
    ql_lua_push_lval(L, v, lua_tostring(L, lua_upvalueindex(3)));
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/*
 * Fills the lazy hidden table at h with every entry not read yet and makes
 * it a plain table. Other tables are left alone.
 */
static void
lazy_fill(lua_State *L, int h)
{
    const struct ql_lval *t;
    const struct ql_lval_entry *e;
    const char *label;
    size_t i;
    int fn;

    if (lua_type(L, h) != LUA_TTABLE || !lua_getmetatable(L, h))
        return;
    luaL_checkstack(L, 8, NULL);
    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
    fn = lua_gettop(L);
    if (lua_tocfunction(L, fn) != lazy_index) {
        lua_pop(L, 2);
        return;
    }
    if (lazy_current(L, fn)) {
        lua_getupvalue(L, fn, 1);
        t = lua_touserdata(L, -1);
        lua_getupvalue(L, fn, 3);
        label = lua_tostring(L, -1);
        for (i = 0; i < t->u.table.count; i++) {
            e = &t->u.table.entries[i];
            if (e->key.type == QL_LVAL_INTEGER)
                lua_pushinteger(L, (lua_Integer)e->key.u.integer);
            else
                lua_pushlstring(
                    L, e->key.u.string.len > 0 ? e->key.u.string.bytes : "",
                    e->key.u.string.len);
            lua_pushvalue(L, -1);
            if (lua_rawget(L, h) != LUA_TNIL) {
                lua_pop(L, 2);
                continue;
            }
            lua_pop(L, 1);
            ql_lua_push_lval(L, &e->value, label);
            lua_rawset(L, h);
        }
    }
    /* Stale or filled: from now on a plain table. */
    lua_settop(L, fn - 2);
    lua_pushnil(L);
    lua_setmetatable(L, h);
}

/*
 * Argument tables are kept for reuse. Building a read-only table (the
 * proxy, its metatable, the hidden table, the loader's metatable and
 * closure) took about 7,000 instructions, a guard call builds three or
 * four, and the tables die with the call: nothing a script can write
 * outlives it (globals and the tables left by loading are read-only,
 * upvalues are put back before each call, the registry is out of reach).
 * So the state keeps the first POOL_KITS tables of a call in the registry
 * and the next call hands them out again, in the same order, each with a
 * new hidden table pointed at the new tree (see reuse_kit: an emptied one
 * would still answer next() for the last call's keys); what is kept is
 * the proxy, its metatable and the loader, never a value.
 *
 * The pool is a table with kit k at 2k - 1 (the proxy) and 2k (the hidden
 * table's loader metatable); the hidden table is the proxy metatable's
 * __index. How many kits this call took is counted in the struct ql_lua
 * (pool_call, pool_used): a push reads and writes it, and a Lua table
 * there cost some 400 instructions a push.
 */
static const char pool_key = 'k'; /* registry: the pool */
#define POOL_KITS 16

/*
 * Pushes the hidden table's loader metatable for v: __index a lazy_index
 * closure over v, this call's number and label.
 */
static void
push_loader_meta(lua_State *L, const struct ql_lval *v, const char *label)
{
    lua_createtable(L, 0, 1);
    lua_pushlightuserdata(L, (void *)v);
    lua_pushinteger(L, (lua_Integer)ql_lua_of(L)->calls);
    lua_pushstring(L, label);
    lua_pushcclosure(L, lazy_index, 3);
    lua_setfield(L, -2, "__index");
}

/*
 * Pushes a new read-only table for the table v, and its loader metatable
 * (nil when v is empty, which needs none) above it.
 */
static void
push_new_kit(lua_State *L, const struct ql_lval *v, const char *label)
{
    size_t n = v->u.table.count;
    int hidden;

    lua_createtable(
        L, v->u.table.array_len < INT_MAX ? (int)v->u.table.array_len : 0,
        n - v->u.table.array_len < INT_MAX ? (int)(n - v->u.table.array_len)
                                           : 0);
    hidden = lua_gettop(L);
    lua_newtable(L);
    make_proxy(L, lua_gettop(L), hidden, label);
    lua_remove(L, hidden);
    if (n == 0) {
        lua_pushnil(L);
        return;
    }
    /* Filled on first use (see lazy_index). */
    push_loader_meta(L, v, label);
    lua_getmetatable(L, -2);
    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
    lua_pushvalue(L, -3);
    lua_setmetatable(L, -2);
    lua_pop(L, 2);
}

/*
 * Points the kept kit at p (proxy) and lm (loader metatable) at v for this
 * call: a new hidden table behind the proxy, with the loader, or with no
 * metatable when v is empty. The old hidden table is not emptied and kept:
 * Lua leaves a key set to nil in its slot (and an array part its size), so
 * next() on it would still accept the last call's keys, and a guard could
 * learn which fields an earlier lead had. The old one is garbage now.
 */
static void
reuse_kit(lua_State *L, int p, int lm, const struct ql_lval *v,
          const char *label)
{
    size_t n = v->u.table.count, arr = v->u.table.array_len;
    const char *old;
    int top = lua_gettop(L), meta, h, fn;

    lua_getmetatable(L, p);
    meta = lua_gettop(L);
    lua_createtable(L, arr < INT_MAX ? (int)arr : 0,
                    n - arr < INT_MAX ? (int)(n - arr) : 0);
    h = lua_gettop(L);
    lua_pushliteral(L, "__index");
    lua_pushvalue(L, h);
    lua_rawset(L, meta);
    if (lua_rawgetp(L, meta, &proxy_key) != LUA_TSTRING ||
        strcmp(lua_tostring(L, -1), label) != 0) {
        lua_pushstring(L, label);
        lua_rawsetp(L, meta, &proxy_key);
    }
    if (n == 0) {
        lua_settop(L, top);
        return;
    }
    lua_pushliteral(L, "__index");
    lua_rawget(L, lm);
    fn = lua_gettop(L);
    lua_pushlightuserdata(L, (void *)v);
    lua_setupvalue(L, fn, 1);
    lua_pushinteger(L, (lua_Integer)ql_lua_of(L)->calls);
    lua_setupvalue(L, fn, 2);
    lua_getupvalue(L, fn, 3);
    old = lua_tostring(L, -1);
    if (old == NULL || strcmp(old, label) != 0) {
        lua_pushstring(L, label);
        lua_setupvalue(L, fn, 3);
    }
    lua_pushvalue(L, lm);
    lua_setmetatable(L, h);
    lua_settop(L, top);
}

/* Pushes a read-only table for the table v, kept or new (see above). */
static void
push_table(lua_State *L, const struct ql_lval *v, const char *label)
{
    struct ql_lua *q = ql_lua_of(L);
    size_t used;
    int pool, p, lm;

    luaL_checkstack(L, 12, NULL);
    if (q->pool_call != q->calls) {
        q->pool_call = q->calls;
        q->pool_used = 0;
    }
    used = q->pool_used;
    if (used >= POOL_KITS) {
        push_new_kit(L, v, label);
        lua_pop(L, 1);
        return;
    }
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &pool_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 2 * POOL_KITS, 0);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &pool_key);
    }
    pool = lua_gettop(L);
    lua_rawgeti(L, pool, 2 * (lua_Integer)used + 1);
    p = lua_gettop(L);
    lua_rawgeti(L, pool, 2 * (lua_Integer)used + 2);
    lm = lua_gettop(L);
    if (lua_type(L, p) == LUA_TTABLE && lua_type(L, lm) == LUA_TTABLE) {
        reuse_kit(L, p, lm, v, label);
    } else {
        lua_settop(L, pool);
        push_new_kit(L, v, label);
        /* An empty table's kit gets its loader metatable when reused. */
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            push_loader_meta(L, v, label);
        }
        lm = lua_gettop(L);
        p = lm - 1;
        lua_pushvalue(L, p);
        lua_rawseti(L, pool, 2 * (lua_Integer)used + 1);
        lua_pushvalue(L, lm);
        lua_rawseti(L, pool, 2 * (lua_Integer)used + 2);
    }
    q->pool_used = used + 1;
    lua_settop(L, p);
    lua_remove(L, pool);
}

void
ql_lua_push_lval(lua_State *L, const struct ql_lval *v, const char *label)
{
    luaL_checkstack(L, 6, NULL);
    switch (v->type) {
    case QL_LVAL_NIL:
        lua_pushnil(L);
        break;
    case QL_LVAL_BOOLEAN:
        lua_pushboolean(L, v->u.boolean);
        break;
    case QL_LVAL_INTEGER:
        lua_pushinteger(L, (lua_Integer)v->u.integer);
        break;
    case QL_LVAL_NUMBER:
        lua_pushnumber(L, (lua_Number)v->u.number);
        break;
    case QL_LVAL_STRING:
        lua_pushlstring(L, v->u.string.len > 0 ? v->u.string.bytes : "",
                        v->u.string.len);
        break;
    case QL_LVAL_FUNCTION:
        if (lua_rawgeti(L, LUA_REGISTRYINDEX, v->u.function.ref) !=
            LUA_TFUNCTION)
            luaL_error(L, "argument '%s' holds a stale function handle", label);
        break;
    case QL_LVAL_TABLE:
        push_table(L, v, label);
        break;
    }
}
