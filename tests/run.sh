#!/usr/bin/env bash
# Runs the test binaries, then the checks that are not binaries, and ends with
# the line "N passed, N failed" (exit 1 on any failure).
#
#   tests/run.sh BIN... [--both BIN...]
#
# The binaries after --both talk to sockets: they run once on each backend
# (ASYNC_IO_BACKEND=io_uring, then epoll), and so do tests/check_examples.sh,
# whose demo runs the second time under build/no_uring (io_uring refused, as in
# Docker: the library must fall back to epoll by itself), and
# tests/check_fetch.sh.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
passed=0 failed=0
declare -A by_backend_p=() by_backend_f=()

# One binary or script, which prints "RESULT <suite> <passed> <failed>".
run_one() {
    local bin=$1 label=$2 out rc line suite p f
    out=$("$bin" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
    if [ -z "$line" ]; then
        printf '%s\n' "$out" | tail -n 20
        echo "FAIL $bin ($label): crashed or printed no RESULT (exit $rc)"
        failed=$((failed + 1)); p=0 f=1
    else
        printf '%s\n' "$out" | grep '^NOTE ' | sort -u | sed 's/^NOTE /  /'
        read -r _ suite p f <<<"$line"
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
        [ "$f" -ne 0 ] && printf '%s\n' "$out" | grep -v '^RESULT ' | tail -n 40
        printf '%-28s %4d passed, %d failed  (%s%s)\n' "$suite" "$p" "$f" "$bin" "${label:+, $label}"
        passed=$((passed + p)); failed=$((failed + f))
    fi
    if [ -n "$label" ]; then
        by_backend_p[$label]=$(( ${by_backend_p[$label]:-0} + p ))
        by_backend_f[$label]=$(( ${by_backend_f[$label]:-0} + f ))
    fi
}

single=() both=()
while [ $# -gt 0 ]; do
    if [ "$1" = --both ]; then shift; both+=("$@"); break; fi
    single+=("$1"); shift
done

for bin in "${single[@]}"; do run_one "$bin" ""; done
for backend in io_uring epoll; do
    for bin in "${both[@]}" tests/check_examples.sh tests/check_fetch.sh; do
        if [ "$backend" = epoll ] && [ "$bin" = tests/check_examples.sh ]; then
            ASYNC_IO_BACKEND=epoll DEMO_WRAP=$B/no_uring run_one "$bin" epoll
        else
            ASYNC_IO_BACKEND=$backend run_one "$bin" "$backend"
        fi
    done
done
# The other checks that are scripts, once.
for bin in tests/check_*.sh; do
    case $bin in tests/check_examples.sh | tests/check_fetch.sh) ;; *) run_one "$bin" "" ;; esac
done

# A named check: passes when the command succeeds.
check() {
    local name=$1; shift
    if out=$("$@" 2>&1); then
        printf '%-28s passed\n' "$name"; passed=$((passed + 1))
    else
        printf '%s\n' "$out" | tail -n 30
        printf '%-28s FAILED\n' "$name"; failed=$((failed + 1))
    fi
}

if command -v arm-none-eabi-gcc >/dev/null; then
    check "embedded (cortex-m4)" make -s embedded
else
    echo "embedded (cortex-m4)         skipped: arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi)"
fi

for backend in io_uring epoll; do
    echo "on $backend: ${by_backend_p[$backend]:-0} passed, ${by_backend_f[$backend]:-0} failed (the socket tests)"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
