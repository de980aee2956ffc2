#!/usr/bin/env bash
# Runs every test binary given, then the checks that are not binaries, and
# ends with the line "N passed, N failed" (exit 1 on any failure).
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0

# A test binary (or tests/check_*.sh script) prints "RESULT <suite> <passed> <failed>".
for bin in "$@" tests/check_*.sh; do
    [ -e "$bin" ] || continue
    out=$("$bin" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
    if [ -z "$line" ]; then
        printf '%s\n' "$out" | tail -n 20
        echo "FAIL $bin: crashed or printed no RESULT (exit $rc)"
        failed=$((failed + 1)); continue
    fi
    printf '%s\n' "$out" | grep '^NOTE ' | sort -u | sed 's/^NOTE /  /'
    read -r _ suite p f <<<"$line"
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    [ "$f" -ne 0 ] && printf '%s\n' "$out" | grep -v '^RESULT ' | tail -n 40
    printf '%-28s %4d passed, %d failed  (%s)\n' "$suite" "$p" "$f" "$bin"
    passed=$((passed + p)); failed=$((failed + f))
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

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
