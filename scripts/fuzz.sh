#!/bin/sh
# usage: scripts/fuzz.sh [SECONDS] [HARNESS...]
#
# Builds the libFuzzer harnesses of tests/fuzz (build-fuzz: clang, -DQCAL_FUZZ=ON, ASan + UBSan)
# and fuzzes each named harness (default: all of onnx image stats job qdq) for SECONDS (default
# 60), one after the other, in one process each. Inputs: the seed corpus tests/fuzz/corpus/<h>,
# the regression inputs tests/fuzz/regress/<h> and the units found by earlier runs, kept in
# build-fuzz/fuzz-work/<h>/corpus. A finding (crash, sanitizer report, leak, timeout, out of
# memory) is written to build-fuzz/fuzz-work/<h>/artifacts/ and makes the script exit non-zero
# after the other harnesses ran. Prints executions per second and total executions per harness.
#
# FUZZ_SKIP_PENDING=1 (scripts/test.sh sets it): a harness whose reproducers of known, not yet
# fixed bugs (tests/fuzz/pending/<h>) still fail is not fuzzed (it would only find them again)
# and is reported as skipped; once they pass it is fuzzed again. Without it every harness runs.
set -eu
cd "$(dirname "$0")/.."
secs=60
if [ $# -gt 0 ]; then
    secs=$1
    shift
fi
case $secs in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number: $secs" >&2; exit 2 ;; esac
all="onnx image stats job qdq"
harnesses=${*:-$all}
for h in $harnesses; do
    case " $all " in *" $h "*) ;; *) echo "fuzz.sh: unknown harness $h (one of: $all)" >&2; exit 2 ;; esac
done

targets=
for h in $harnesses; do targets="$targets fuzz_$h"; done
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQCAL_FUZZ=ON >/dev/null
# shellcheck disable=SC2086
cmake --build build-fuzz -j"$(nproc)" --target $targets

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Huge allocations fail (the code must handle NULL) instead of aborting; the 1 GiB cap keeps a
# single hostile size from eating the machine, the RSS limit below catches the rest.
export ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=1024:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The harnesses' private folders; removed at the end even when a harness died.
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
TMPDIR=$(mktemp -d "$base/qcal-fuzz-run.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT INT TERM

status=0
summary=
for h in $harnesses; do
    case $h in
    onnx | qdq) maxlen=262144 ;;
    stats) maxlen=131072 ;;
    image) maxlen=65536 ;;
    job) maxlen=8192 ;;
    esac
    work=build-fuzz/fuzz-work/$h
    mkdir -p "$work/corpus" "$work/artifacts"
    set -- -max_total_time="$secs" -max_len="$maxlen" -rss_limit_mb=2560 -malloc_limit_mb=2048 \
        -timeout=25 -print_final_stats=1 -artifact_prefix="$work/artifacts/"
    [ -f "tests/fuzz/dict/$h.dict" ] && set -- "$@" -dict="tests/fuzz/dict/$h.dict"
    set -- "$@" "$work/corpus" "tests/fuzz/corpus/$h"
    [ -d "tests/fuzz/regress/$h" ] && set -- "$@" "tests/fuzz/regress/$h"
    if [ "${FUZZ_SKIP_PENDING:-0}" = 1 ] && [ -d "tests/fuzz/pending/$h" ] &&
        [ -n "$(ls -A "tests/fuzz/pending/$h")" ] &&
        ! "build-fuzz/tests/fuzz/fuzz_$h" -runs=0 -artifact_prefix="$work/pending-" \
            "tests/fuzz/pending/$h" >"$work/pending.log" 2>&1; then
        line="fuzz_$h: SKIPPED: a known bug in tests/fuzz/pending/$h still fails ($work/pending.log)"
        echo "$line" >&2
        summary="$summary$line
"
        continue
    fi
    echo "== fuzz_$h: $secs s" >&2
    rc=0
    "build-fuzz/tests/fuzz/fuzz_$h" "$@" >"$work/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
    if [ "$rc" -ne 0 ]; then
        status=1
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written|^ *#[0-9]+ 0x' "$work/log" | head -n 30 >&2
        line="fuzz_$h: FINDING (exit $rc) after ${execs:-?} executions, see $work/log and $work/artifacts/"
    else
        line="fuzz_$h: ${rate:-?} exec/s, ${execs:-?} executions in $secs s, no finding"
    fi
    echo "$line" >&2
    summary="$summary$line
"
done
printf '\n%s' "$summary"
exit $status
