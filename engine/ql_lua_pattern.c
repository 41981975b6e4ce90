/*
 * Lua patterns (reference manual 5.4, section 6.4.1) with counted work.
 *
 * Lua's own matcher backtracks without bound inside one C call, where the
 * count hook never fires: string.find(("a"):rep(1e5), ".-.-.-.-b") runs
 * for hours. This matcher has the same semantics, but every step (a call
 * of the matching function, a character tried by a repetition, a byte of a
 * balance or back reference, a candidate of a plain search) is charged to
 * the call's pattern budget, and running out ends the call with "pattern
 * too complex". The wall clock is checked along the way too.
 *
 * Character classes follow the C locale whatever the process's locale is,
 * so a pattern means the same on every machine. string.rep lives here too:
 * it is the other string function whose cost is not bounded by its input.
 */
#include "ql_lua.h"

#include <limits.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "ql_lua_impl.h"

#define MAX_CAPTURES 32 /* as Lua's LUA_MAXCAPTURES */
#define MAX_DEPTH 200   /* nested matching calls, as Lua's MAXCCALLS */
#define CAP_OPEN (-1)
#define CAP_POSITION (-2)
#define ESC '%'
#define SPECIALS "^$*+?.([%-"
/* Steps are charged in batches to keep the budget's bookkeeping cheap. */
#define STEP_BATCH 64

typedef const unsigned char *uptr;

struct matcher {
    lua_State *L;
    uptr src; /* the whole subject */
    uptr src_end;
    uptr pat_end;
    int depth; /* nested calls left */
    int level; /* captures opened */
    unsigned pending;
    size_t max_string;
    struct {
        uptr start;
        ptrdiff_t len; /* or CAP_OPEN, CAP_POSITION */
    } cap[MAX_CAPTURES];
};

static void
flush(struct matcher *m)
{
    if (m->pending > 0) {
        unsigned n = m->pending;

        m->pending = 0;
        ql_lua_pattern_charge(m->L, n);
    }
}

/* A macro, not a function: it sits on the matcher's hottest path. */
#define STEP(m, n)                                                             \
    do {                                                                       \
        if (((m)->pending += (n)) >= STEP_BATCH)                               \
            flush(m);                                                          \
    } while (0)

/* ---- character classes (C locale, ASCII) ---- */

static bool
is_lower(int c)
{
    return c >= 'a' && c <= 'z';
}

static bool
is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}

static bool
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alpha(int c)
{
    return is_lower(c) || is_upper(c);
}

static bool
is_graph(int c)
{
    return c > 0x20 && c < 0x7F;
}

/* True when c belongs to the class named by letter cl (%a, %D, ...). */
static bool
class_match(int c, int cl)
{
    bool r;

    switch (cl | 0x20) {
    case 'a':
        r = is_alpha(c);
        break;
    case 'c':
        r = c < 0x20 || c == 0x7F;
        break;
    case 'd':
        r = is_digit(c);
        break;
    case 'g':
        r = is_graph(c);
        break;
    case 'l':
        r = is_lower(c);
        break;
    case 'p':
        r = is_graph(c) && !is_alpha(c) && !is_digit(c);
        break;
    case 's':
        r = c == ' ' || (c >= '\t' && c <= '\r');
        break;
    case 'u':
        r = is_upper(c);
        break;
    case 'w':
        r = is_alpha(c) || is_digit(c);
        break;
    case 'x':
        r = is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
        break;
    case 'z':
        r = c == '\0'; /* not in the manual any more, but Lua 5.4 has it */
        break;
    default:
        return cl == c; /* an escaped character stands for itself */
    }
    return is_upper(cl) ? !r : r;
}

/*
 * True when c is in the set [..] that starts at p ('[') and whose closing
 * ']' is at end. The first character after '[' or "[^" is a member even
 * when it is ']'; "x-y" is a range unless '-' is last.
 */
static bool
set_match(int c, uptr p, uptr end)
{
    bool in = true;

    p++;
    if (*p == '^') {
        in = false;
        p++;
    }
    while (p < end) {
        if (*p == ESC) {
            if (class_match(c, p[1]))
                return in;
            p += 2;
        } else if (p + 2 < end && p[1] == '-') {
            if (p[0] <= c && c <= p[2])
                return in;
            p += 3;
        } else {
            if (*p == c)
                return in;
            p++;
        }
    }
    return !in;
}

/* The end of the single-character class that starts at p. */
static uptr
class_end(struct matcher *m, uptr p)
{
    unsigned char c = *p++;

    if (c == ESC) {
        if (p >= m->pat_end)
            luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (p < m->pat_end && *p == '^')
            p++;
        do {
            if (p >= m->pat_end)
                luaL_error(m->L, "malformed pattern (missing ']')");
            c = *p++;
            if (c == ESC && p < m->pat_end)
                p++;
        } while (p >= m->pat_end || *p != ']');
        return p + 1;
    }
    return p;
}

/* Does character c match the class from p to ep? */
static bool
single_match(int c, uptr p, uptr ep)
{
    switch (*p) {
    case '.':
        return true;
    case ESC:
        return class_match(c, p[1]);
    case '[':
        return set_match(c, p, ep - 1);
    default:
        return *p == c;
    }
}

/* ---- matching ---- */

static uptr do_match(struct matcher *m, uptr s, uptr p);

/* "%bxy" at p (just after "%b"): from x to its balancing y. */
static uptr
match_balance(struct matcher *m, uptr s, uptr p)
{
    int open, close, depth = 1;

    if (p + 1 >= m->pat_end)
        luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= m->src_end || *s != p[0])
        return NULL;
    open = p[0];
    close = p[1];
    while (++s < m->src_end) {
        STEP(m, 1);
        if (*s == close) {
            if (--depth == 0)
                return s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    return NULL;
}

/* "%1".."%9": the text of an earlier, closed capture again. */
static uptr
match_backref(struct matcher *m, uptr s, int digit)
{
    int l = digit - '1';
    size_t len;

    if (l < 0 || l >= m->level || m->cap[l].len == CAP_OPEN)
        luaL_error(m->L, "invalid capture index %%%d in pattern", l + 1);
    if (m->cap[l].len == CAP_POSITION)
        return NULL; /* a position has no text to repeat */
    len = (size_t)m->cap[l].len;
    STEP(m, 1 + (unsigned)(len / 16 < 1024 ? len / 16 : 1024));
    if ((size_t)(m->src_end - s) >= len && memcmp(m->cap[l].start, s, len) == 0)
        return s + len;
    return NULL;
}

static uptr
start_capture(struct matcher *m, uptr s, uptr p, ptrdiff_t what)
{
    uptr r;

    if (m->level >= MAX_CAPTURES)
        luaL_error(m->L, "too many captures");
    m->cap[m->level].start = s;
    m->cap[m->level].len = what;
    m->level++;
    if ((r = do_match(m, s, p)) == NULL)
        m->level--;
    return r;
}

static uptr
end_capture(struct matcher *m, uptr s, uptr p)
{
    int l;
    uptr r;

    for (l = m->level - 1; l >= 0; l--)
        if (m->cap[l].len == CAP_OPEN)
            break;
    if (l < 0)
        luaL_error(m->L, "invalid pattern capture");
    m->cap[l].len = s - m->cap[l].start;
    if ((r = do_match(m, s, p)) == NULL)
        m->cap[l].len = CAP_OPEN;
    return r;
}

/* '*' (and '+' after its first character): longest first, then back off. */
static uptr
max_expand(struct matcher *m, uptr s, uptr p, uptr ep)
{
    ptrdiff_t i = 0;
    uptr r;

    while (s + i < m->src_end && single_match(s[i], p, ep)) {
        STEP(m, 1);
        i++;
    }
    for (; i >= 0; i--)
        if ((r = do_match(m, s + i, ep + 1)) != NULL)
            return r;
    return NULL;
}

/* '-': shortest first, one more character at a time. */
static uptr
min_expand(struct matcher *m, uptr s, uptr p, uptr ep)
{
    uptr r;

    for (;;) {
        if ((r = do_match(m, s, ep + 1)) != NULL)
            return r;
        if (s < m->src_end && single_match(*s, p, ep))
            s++;
        else
            return NULL;
    }
}

/*
 * Matches the pattern from p against the subject from s; returns the end
 * of the match or NULL. Plain items advance in the loop; captures and
 * repetitions recurse, up to MAX_DEPTH levels.
 */
static uptr
do_match(struct matcher *m, uptr s, uptr p)
{
    uptr r = NULL, ep;
    bool ok;
    int prev, cur;

    if (m->depth-- == 0)
        luaL_error(m->L, "pattern too complex");
    for (;;) {
        STEP(m, 1);
        if (p >= m->pat_end) {
            r = s;
            break;
        }
        if (*p == '(') {
            if (p + 1 < m->pat_end && p[1] == ')')
                r = start_capture(m, s, p + 2, CAP_POSITION);
            else
                r = start_capture(m, s, p + 1, CAP_OPEN);
            break;
        }
        if (*p == ')') {
            r = end_capture(m, s, p + 1);
            break;
        }
        if (*p == '$' && p + 1 == m->pat_end) {
            r = s == m->src_end ? s : NULL;
            break;
        }
        if (*p == ESC && p + 1 < m->pat_end && p[1] == 'b') {
            if ((s = match_balance(m, s, p + 2)) == NULL)
                break;
            p += 4;
            continue;
        }
        if (*p == ESC && p + 1 < m->pat_end && p[1] == 'f') {
            p += 2;
            if (p >= m->pat_end || *p != '[')
                luaL_error(m->L, "missing '[' after '%%f' in pattern");
            ep = class_end(m, p);
            prev = s == m->src ? '\0' : s[-1];
            cur = s < m->src_end ? *s : '\0';
            if (set_match(prev, p, ep - 1) || !set_match(cur, p, ep - 1))
                break;
            p = ep;
            continue;
        }
        if (*p == ESC && p + 1 < m->pat_end && is_digit(p[1])) {
            if ((s = match_backref(m, s, p[1])) == NULL)
                break;
            p += 2;
            continue;
        }
        ep = class_end(m, p);
        ok = s < m->src_end && single_match(*s, p, ep);
        if (ep < m->pat_end && *ep == '?') {
            if (ok && (r = do_match(m, s + 1, ep + 1)) != NULL)
                break;
            p = ep + 1;
            continue;
        }
        if (ep < m->pat_end && *ep == '+') {
            r = ok ? max_expand(m, s + 1, p, ep) : NULL;
            break;
        }
        if (ep < m->pat_end && *ep == '*') {
            r = max_expand(m, s, p, ep);
            break;
        }
        if (ep < m->pat_end && *ep == '-') {
            r = min_expand(m, s, p, ep);
            break;
        }
        if (!ok)
            break;
        s++;
        p = ep;
    }
    m->depth++;
    return r;
}

static void
matcher_init(struct matcher *m, lua_State *L, const char *s, size_t ls,
             const char *p, size_t lp)
{
    memset(m, 0, sizeof *m);
    m->L = L;
    m->src = (uptr)s;
    m->src_end = (uptr)s + ls;
    m->pat_end = (uptr)p + lp;
    m->max_string = ql_lua_of(L)->lim.max_string;
}

static void
matcher_reset(struct matcher *m)
{
    m->level = 0;
    m->depth = MAX_DEPTH;
}

/* Pushes capture i; with no captures at all, capture 0 is the whole match. */
static void
push_capture(struct matcher *m, int i, uptr s, uptr e)
{
    if (i >= m->level) {
        if (i != 0)
            luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, (const char *)s, (size_t)(e - s));
        return;
    }
    if (m->cap[i].len == CAP_OPEN)
        luaL_error(m->L, "unfinished capture");
    if (m->cap[i].len == CAP_POSITION)
        lua_pushinteger(m->L, (lua_Integer)(m->cap[i].start - m->src) + 1);
    else
        lua_pushlstring(m->L, (const char *)m->cap[i].start,
                        (size_t)m->cap[i].len);
}

/* Pushes every capture (or the whole match when s is given and none). */
static int
push_captures(struct matcher *m, uptr s, uptr e)
{
    int i, n = (m->level == 0 && s != NULL) ? 1 : m->level;

    luaL_checkstack(m->L, n, "too many captures");
    for (i = 0; i < n; i++)
        push_capture(m, i, s, e);
    return n;
}

/* A 1-based start position, negative from the end, as string.find reads it. */
static size_t
start_pos(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0)
        return 1;
    if (pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static bool
no_specials(const char *p, size_t lp)
{
    size_t i;

    for (i = 0; i < lp; i++)
        if (p[i] != '\0' && strchr(SPECIALS, p[i]) != NULL)
            return false;
    return true;
}

/* A plain substring search, charged by the bytes it compares. */
static uptr
plain_find(lua_State *L, uptr s, size_t ls, uptr p, size_t lp)
{
    uptr end, hit;

    if (lp == 0)
        return s;
    if (lp > ls)
        return NULL;
    end = s + (ls - lp) + 1; /* one past the last possible start */
    while (s < end) {
        hit = memchr(s, p[0], (size_t)(end - s));
        ql_lua_pattern_charge(L, (uint64_t)((hit ? hit : end) - s) / 16 + 1);
        if (hit == NULL)
            return NULL;
        ql_lua_pattern_charge(L, lp / 16 + 1);
        if (memcmp(hit + 1, p + 1, lp - 1) == 0)
            return hit;
        s = hit + 1;
    }
    return NULL;
}

static int
find_aux(lua_State *L, bool find)
{
    size_t ls, lp, init;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    struct matcher m;
    uptr s1, e;
    bool anchor;
    int n;

    init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || no_specials(p, lp))) {
        e = plain_find(L, (uptr)s + init, ls - init, (uptr)p, lp);
        if (e != NULL) {
            lua_pushinteger(L, (lua_Integer)(e - (uptr)s) + 1);
            lua_pushinteger(L, (lua_Integer)(e - (uptr)s + lp));
            return 2;
        }
        luaL_pushfail(L);
        return 1;
    }
    anchor = lp > 0 && *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    matcher_init(&m, L, s, ls, p, lp);
    s1 = (uptr)s + init;
    do {
        matcher_reset(&m);
        if ((e = do_match(&m, s1, (uptr)p)) != NULL) {
            flush(&m);
            if (!find)
                return push_captures(&m, s1, e);
            lua_pushinteger(L, (lua_Integer)(s1 - (uptr)s) + 1);
            lua_pushinteger(L, (lua_Integer)(e - (uptr)s));
            n = push_captures(&m, NULL, NULL);
            return n + 2;
        }
    } while (s1++ < m.src_end && !anchor);
    flush(&m);
    luaL_pushfail(L);
    return 1;
}

static int
s_find(lua_State *L)
{
    return find_aux(L, true);
}

static int
s_match(lua_State *L)
{
    return find_aux(L, false);
}

/*
 * The iterator string.gmatch returns. Upvalues: subject, pattern, where to
 * start next (0-based) and the end of the last match (-1: none), so an
 * empty match right after a match is skipped, as in Lua.
 */
static int
gmatch_iter(lua_State *L)
{
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    lua_Integer pos = lua_tointeger(L, lua_upvalueindex(3));
    lua_Integer last = lua_tointeger(L, lua_upvalueindex(4));
    struct matcher m;
    uptr src, e;

    matcher_init(&m, L, s, ls, p, lp);
    for (src = (uptr)s + pos; src <= m.src_end; src++) {
        matcher_reset(&m);
        e = do_match(&m, src, (uptr)p);
        if (e != NULL && (last < 0 || e != (uptr)s + last)) {
            flush(&m);
            lua_pushinteger(L, (lua_Integer)(e - (uptr)s));
            lua_replace(L, lua_upvalueindex(3));
            lua_pushinteger(L, (lua_Integer)(e - (uptr)s));
            lua_replace(L, lua_upvalueindex(4));
            return push_captures(&m, src, e);
        }
    }
    flush(&m);
    /* Nothing more: later calls need not search again. */
    lua_pushinteger(L, (lua_Integer)ls + 1);
    lua_replace(L, lua_upvalueindex(3));
    return 0;
}

bool
ql_lua_is_gmatch_iter(lua_CFunction f)
{
    return f == gmatch_iter;
}

static int
s_gmatch(lua_State *L)
{
    size_t ls, lp, init;

    luaL_checklstring(L, 1, &ls);
    luaL_checklstring(L, 2, &lp);
    init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls)
        init = ls + 1;
    lua_settop(L, 2);
    lua_pushinteger(L, (lua_Integer)init);
    lua_pushinteger(L, -1);
    lua_pushcclosure(L, gmatch_iter, 4);
    return 1;
}

static size_t
string_cap(lua_State *L)
{
    return ql_lua_of(L)->lim.max_string;
}

static int
too_large(lua_State *L)
{
    size_t max = string_cap(L);

    return luaL_error(L, "resulting string too large (limit %d bytes)",
                      (int)(max < INT_MAX ? max : INT_MAX));
}

static void
add_capped(struct matcher *m, luaL_Buffer *b, const void *s, size_t l)
{
    if (l > m->max_string - luaL_bufflen(b))
        too_large(m->L);
    luaL_addlstring(b, (const char *)s, l);
}

/* Adds the string on top of the stack to b (luaL_addvalue's rules). */
static void
add_top_capped(struct matcher *m, luaL_Buffer *b)
{
    size_t l;

    lua_tolstring(m->L, -1, &l);
    if (l > m->max_string - luaL_bufflen(b))
        too_large(m->L);
    luaL_addvalue(b);
}

/* A replacement string: "%0".."%9" insert captures, "%%" a percent sign. */
static void
add_template(struct matcher *m, luaL_Buffer *b, uptr s, uptr e, const char *t,
             size_t l)
{
    lua_State *L = m->L;
    const char *end = t + l, *esc;

    while (t < end) {
        esc = memchr(t, ESC, (size_t)(end - t));
        if (esc == NULL) {
            add_capped(m, b, t, (size_t)(end - t));
            break;
        }
        add_capped(m, b, t, (size_t)(esc - t));
        t = esc + 1;
        if (t < end && *t == ESC) {
            add_capped(m, b, t, 1);
        } else if (t < end && is_digit((unsigned char)*t)) {
            if (*t == '0') {
                add_capped(m, b, s, (size_t)(e - s));
            } else {
                push_capture(m, *t - '1', s, e);
                luaL_tolstring(L, -1, NULL);
                lua_remove(L, -2);
                add_top_capped(m, b);
            }
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", ESC);
        }
        t++;
    }
}

/*
 * Adds the replacement for the match s..e; repl is argument 3 of type tr
 * (a string template is passed as t, l). Steps are charged before any
 * script code runs.
 */
static void
add_replacement(struct matcher *m, luaL_Buffer *b, uptr s, uptr e, int tr,
                const char *t, size_t l)
{
    lua_State *L = m->L;
    int n;

    if (tr == LUA_TFUNCTION) {
        flush(m);
        lua_pushvalue(L, 3);
        n = push_captures(m, s, e);
        lua_call(L, n, 1);
    } else if (tr == LUA_TTABLE) {
        flush(m);
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    } else {
        add_template(m, b, s, e, t, l);
        return;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        add_capped(m, b, s, (size_t)(e - s)); /* keep the original text */
    } else if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    } else {
        add_top_capped(m, b);
    }
}

static int
s_gsub(lua_State *L)
{
    size_t ls, lp, lt = 0;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *t = NULL;
    int tr = lua_type(L, 3);
    lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
    struct matcher m;
    luaL_Buffer b;
    uptr src = (uptr)s, e, last = NULL;
    bool anchor;

    luaL_argexpected(L,
                     tr == LUA_TNUMBER || tr == LUA_TSTRING ||
                         tr == LUA_TFUNCTION || tr == LUA_TTABLE,
                     3, "string/function/table");
    if (tr == LUA_TNUMBER || tr == LUA_TSTRING)
        t = lua_tolstring(L, 3, &lt);
    luaL_buffinit(L, &b);
    anchor = lp > 0 && *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    matcher_init(&m, L, s, ls, p, lp);
    while (n < max_n) {
        matcher_reset(&m);
        e = do_match(&m, src, (uptr)p);
        if (e != NULL && e != last) {
            n++;
            add_replacement(&m, &b, src, e, tr, t, lt);
            src = last = e;
        } else if (src < m.src_end) {
            add_capped(&m, &b, src++, 1);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    flush(&m);
    add_capped(&m, &b, src, (size_t)(m.src_end - src));
    luaL_pushresult(&b);
    lua_pushinteger(L, n);
    return 2;
}

/*
 * string.rep with the string cap checked before any work: Lua's own copies
 * an empty string n times (string.rep("", 1e18) never ends) and relies on
 * memory alone for the size.
 */
static int
s_rep(lua_State *L)
{
    size_t l, lsep, total, max = string_cap(L), k, count;
    const char *s = luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &lsep);
    luaL_Buffer b;
    char *out;

    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    if ((lua_Unsigned)n - 1u > (lua_Unsigned)max)
        return too_large(L);
    count = (size_t)n;
    if (l > 0 && count > max / l)
        return too_large(L);
    total = l * count;
    if (lsep > 0 && count - 1 > (max - total) / lsep)
        return too_large(L);
    total += lsep * (count - 1);
    out = luaL_buffinitsize(L, &b, total);
    for (k = 0; k < count; k++) {
        memcpy(out, s, l);
        out += l;
        if (lsep > 0 && k + 1 < count) {
            memcpy(out, sep, lsep);
            out += lsep;
        }
    }
    luaL_pushresultsize(&b, total);
    return 1;
}

void
ql_lua_pattern_register(lua_State *L, int idx)
{
    static const luaL_Reg fns[] = {{"find", s_find}, {"gmatch", s_gmatch},
                                   {"gsub", s_gsub}, {"match", s_match},
                                   {"rep", s_rep},   {NULL, NULL}};

    idx = lua_absindex(L, idx);
    lua_pushvalue(L, idx);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}
