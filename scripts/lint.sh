#!/bin/sh
# Checks the layering rules of STYLE.md §1 that a compiler cannot:
#  - only crypto/ includes sodium.h;
#  - only engine/ql_store*.c includes sqlite3.h;
#  - only engine/ql_lua*.c include the Lua headers;
#  - crypto/ includes nothing from engine/ or cli/; engine/ nothing from cli/;
#  - library code never prints or exits.
set -u
cd "$(dirname "$0")/.." || exit 2
bad=0
complain() { echo "lint: $*"; bad=1; }

for f in $(grep -l '#include <sodium.h>' engine/* cli/* tests/*.c 2>/dev/null); do
    complain "$f includes sodium.h (only crypto/ may)"
done
for f in $(grep -l '#include <sqlite3.h>' crypto/* cli/* engine/* 2>/dev/null); do
    case "$f" in engine/ql_store*.c) ;; *) complain "$f includes sqlite3.h (only engine/ql_store may)" ;; esac
done
for f in $(grep -lE '#include <(lua|lauxlib|lualib)\.h>' crypto/* cli/* engine/* 2>/dev/null); do
    case "$f" in engine/ql_lua*.c) ;; *) complain "$f includes a Lua header (only engine/ql_lua may)" ;; esac
done
for f in crypto/*.[ch]; do
    [ -e "$f" ] || continue
    for h in $(sed -n 's/^#include "\(.*\)"/\1/p' "$f"); do
        [ -e "crypto/$h" ] || complain "$f includes \"$h\" from outside crypto/"
    done
done
for f in engine/*.[ch]; do
    [ -e "$f" ] || continue
    for h in $(sed -n 's/^#include "\(.*\)"/\1/p' "$f"); do
        [ -e "engine/$h" ] || [ -e "crypto/$h" ] || complain "$f includes \"$h\" from outside engine/ and crypto/"
    done
done
for f in crypto/*.c engine/*.c; do
    [ -e "$f" ] || continue
    if grep -nE '\b(printf|fprintf|puts|perror|exit|abort)\s*\(' "$f" | grep -v snprintf | grep -v '^\s*/\*' >/dev/null; then
        complain "$f prints or exits (library code must not)"
        grep -nE '\b(printf|fprintf|puts|perror|exit|abort)\s*\(' "$f" | grep -v snprintf
    fi
done
if grep -nE '\b(sprintf|strcpy|strcat|atoi|alloca)\s*\(' crypto/*.c engine/*.c cli/*.c 2>/dev/null | grep -v snprintf; then
    complain "a banned function is used (STYLE.md §5)"
fi
[ "$bad" -eq 0 ] && echo "lint: clean"
exit "$bad"
