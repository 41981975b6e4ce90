#!/bin/sh
# The fuzzing side of `make fuzz` (docs/fuzzing.md).
#
#   scripts/fuzz.sh deps
#       Makes sure $FUZZ_CC (default clang) can build a libFuzzer program
#       with AddressSanitizer and UBSan; when it cannot, installs clang and
#       the compiler runtime from Debian's packages through scripts/deps.sh
#       (as root, or through sudo). The normal build never calls this.
#
#   scripts/fuzz.sh run DIR TARGET...
#       Runs DIR/fuzz_TARGET for $FUZZ_TIME seconds (default 60) each,
#       $FUZZ_JOBS (default 1) at a time, on a scratch copy of
#       tests/fuzz/corpus/TARGET and tests/fuzz/regress/TARGET in
#       DIR/work/TARGET (the committed corpus is never written), with
#       tests/fuzz/TARGET.dict when there is one. Prints one line per
#       target; a crash, leak, timeout or broken invariant makes the run
#       fail, naming the target, its log and the input that reproduces it.
set -u
cd "$(dirname "$0")/.." || exit 2

CC_FUZZ=${FUZZ_CC:-clang}

probe() {
    t=$(mktemp -d) || return 1
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
        '{ (void)d; (void)n; return 0; }' >"$t/probe.c"
    "$CC_FUZZ" -fsanitize=fuzzer,address,undefined "$t/probe.c" \
        -o "$t/probe" >/dev/null 2>&1
    ok=$?
    rm -rf "$t"
    return $ok
}

deps() {
    probe && return 0
    echo "qingling: $CC_FUZZ cannot build libFuzzer programs; installing" \
        "clang and its runtime" >&2
    # libclang-rt-dev carries libFuzzer and the sanitizers' runtimes for
    # Debian's default clang.
    sh scripts/deps.sh clang libclang-rt-dev || return 1
    if ! probe; then
        echo "qingling: $CC_FUZZ still cannot link -fsanitize=fuzzer" >&2
        return 1
    fi
}

# Options per target: the largest input worth trying and the time one
# input may take before it counts as a hang. Inputs that cost work by
# design (workflows run Lua, logs are signed and verified) get more.
options() {
    case $1 in
    audit | export) echo "-max_len=65536 -timeout=10" ;;
    workflow) echo "-max_len=16384 -timeout=10" ;;
    import) echo "-max_len=8192 -timeout=5" ;;
    keyfile) echo "-max_len=4200 -timeout=5" ;;
    *) echo "-max_len=4096 -timeout=5" ;;
    esac
}

# run_one DIR NAME: one target; writes DIR/logs/NAME.{log,result}.
run_one() {
    dir=$1 name=$2
    work=$dir/work/$name arts=$dir/artifacts/$name/ log=$dir/logs/$name.log
    mkdir -p "$work" "$arts" "$dir/logs"
    for src in tests/fuzz/corpus/$name tests/fuzz/regress/$name; do
        [ -d "$src" ] && cp -p "$src"/* "$work"/ 2>/dev/null
    done
    dict=""
    [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    # shellcheck disable=SC2046
    "$dir/fuzz_$name" -max_total_time="${FUZZ_TIME:-60}" \
        -artifact_prefix="$arts" -print_final_stats=1 $(options "$name") \
        $dict "$work" >"$log" 2>&1
    echo $? >"$dir/logs/$name.rc"
}

summary() {
    dir=$1 name=$2
    log=$dir/logs/$name.log rc=$(cat "$dir/logs/$name.rc" 2>/dev/null)
    if [ "${rc:-1}" -eq 0 ]; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 |
            sed -n 's/.*\(cov: [0-9]*\).*\(ft: [0-9]*\).*\(corp: [0-9]*\).*/\1 \2 \3/p')
        echo "fuzz: $name: ok, ${runs:-?} inputs, ${secs:-?}/s, $last"
        return 0
    fi
    # The most telling line: a broken invariant, UBSan's, or the first
    # sanitizer or libFuzzer error.
    what=$(grep -m 1 -E 'invariant broken|runtime error' "$log")
    [ -z "$what" ] && what=$(grep -m 1 -oE \
        'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)[^(]*' "$log")
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "fuzz: $name: FAILED (exit $rc): ${what:-see the log}"
    echo "fuzz: $name: log: $log"
    if [ -n "$input" ]; then
        echo "fuzz: $name: reproducing input: $input"
        echo "fuzz: $name: rerun it: $dir/fuzz_$name $input"
    fi
    return 1
}

run() {
    # Harnesses that go through files write them to a scratch folder
    # under TMPDIR: memory is faster than a disk, if there is some.
    if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
        TMPDIR=/dev/shm
        export TMPDIR
    fi
    dir=$1
    shift
    jobs=${FUZZ_JOBS:-1}
    failed=""
    set -- "$@"
    while [ $# -gt 0 ]; do
        batch=""
        i=0
        while [ $# -gt 0 ] && [ "$i" -lt "$jobs" ]; do
            run_one "$dir" "$1" &
            batch="$batch $1"
            i=$((i + 1))
            shift
        done
        wait
        for name in $batch; do
            summary "$dir" "$name" || failed="$failed $name"
        done
    done
    if [ -n "$failed" ]; then
        echo "fuzz: failing targets:$failed"
        echo "fuzz: turn each input into a regression (docs/fuzzing.md)"
        return 1
    fi
}

case ${1:-} in
deps) deps ;;
run)
    shift
    [ $# -ge 2 ] || { echo "usage: scripts/fuzz.sh run DIR TARGET..." >&2; exit 2; }
    run "$@"
    ;;
*)
    echo "usage: scripts/fuzz.sh deps | run DIR TARGET..." >&2
    exit 2
    ;;
esac
