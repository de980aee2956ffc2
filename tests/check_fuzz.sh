#!/usr/bin/env bash
# The libFuzzer targets: each replays its corpus (tests/corpus/<target>: the parser tests'
# responses and every input that once crashed), then fuzzes for FUZZ_SECONDS (default 10;
# `make fuzz` gives 60), both targets at once. Prints "RESULT fuzz <passed> <failed>".
# New inputs go to build/fuzz-corpus/<target>, crashes to build/fuzz-artifacts/.
set -u
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-10}
targets="fuzz_parser fuzz_client fuzz_client_tls fuzz_request"
passed=0 failed=0
mkdir -p build/fuzz-artifacts

for t in $targets; do
    if [ ! -x "build/$t" ]; then
        echo "build/$t is missing (make all builds it; needs clang and libclang-rt-14-dev)"
        failed=$((failed + 2)); continue
    fi
done
[ "$failed" -ne 0 ] && { echo "RESULT fuzz $passed $failed"; exit 1; }

# The corpus of a target: fuzz_client_tls takes fuzz_client's (the same input format).
corpus_of() { local name=${1#fuzz_}; echo "tests/corpus/${name%_tls}"; }

# 1. Regression: every corpus input once.
for t in $targets; do
    if out=$("build/$t" -runs=0 "$(corpus_of "$t")" 2>&1); then
        n=$(ls "$(corpus_of "$t")" | wc -l)
        echo "NOTE $t: corpus of $n inputs replayed"
        passed=$((passed + 1))
    else
        printf '%s\n' "$out" | grep -v '^#\|^INFO' | tail -n 30
        echo "$t: an input of $(corpus_of "$t") fails"
        failed=$((failed + 1))
    fi
done

# 2. Fuzzing, both targets side by side.
pids=()
for t in $targets; do
    name=${t#fuzz_}
    mkdir -p "build/fuzz-corpus/$name"
    "build/$t" -max_total_time="$seconds" -print_final_stats=1 -dict=tests/corpus/http.dict \
        -artifact_prefix="build/fuzz-artifacts/$name-" "build/fuzz-corpus/$name" "$(corpus_of "$t")" \
        >"build/fuzz-$name.log" 2>&1 &
    pids+=($!)
done
i=0
for t in $targets; do
    name=${t#fuzz_}
    if wait "${pids[$i]}"; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build/fuzz-$name.log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "build/fuzz-$name.log")
        cov=$(grep -o 'cov: [0-9]*' "build/fuzz-$name.log" | tail -n 1)
        echo "NOTE $t: ${runs:-?} runs in ${seconds} s (${rate:-?} exec/s), $cov, no crash"
        passed=$((passed + 1))
    else
        grep -v '^#' "build/fuzz-$name.log" | tail -n 40
        art=$(ls -t build/fuzz-artifacts/"$name"-* 2>/dev/null | head -n 1)
        echo "$t found a crash: $art (replay: build/$t $art; keep it as tests/corpus/$name/regress-NAME)"
        failed=$((failed + 1))
    fi
    i=$((i + 1))
done

echo "RESULT fuzz $passed $failed"
[ "$failed" -eq 0 ]
