#!/bin/sh
# Runs each test program given, from the top of the tree, and ends with one
# line that sums up every cmocka test: "tests: N passed, N failed".
set -u
# Absolute paths: some tests change into their temporary folders.
QL_TEST_DATA=${QL_TEST_DATA:-$(pwd)/tests/data}
export QL_TEST_DATA
QINGLING_BIN=${QINGLING_BIN:-$(pwd)/${BUILD:-build}/qingling}
export QINGLING_BIN
passed=0
failed=0
bad=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
    echo "== $t"
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | tail -n 1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ]; then
        bad="$bad $t"
        # A crash before cmocka's summary still counts as a failure.
        [ -z "$f" ] && failed=$((failed + 1))
    fi
done
echo
[ -n "$bad" ] && echo "failing programs:$bad"
echo "tests: $passed passed, $failed failed"
[ -z "$bad" ]
