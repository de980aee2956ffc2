#!/usr/bin/env bash
# check_avr.sh - async.h on a 16-bit-int target: tests/avr_timers.c built for an ATmega2560
# (avr-gcc, -Werror: a constant that does not fit an int is a warning there) and run under
# simavr, with 64-bit time and with ASYNC_TIME32, both coroutine variants. A timer that
# never fires leaves simavr running: 60 s and it counts as a failure.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
passed=0 failed=0
if ! command -v avr-gcc >/dev/null || ! command -v simavr >/dev/null; then
    echo "NOTE avr: skipped, gcc-avr (with avr-libc) or simavr is not installed"
    echo "RESULT avr 0 0"
    exit 0
fi
mkdir -p "$B"
for variant in "64:" "32:-DASYNC_TIME32" "64:-DASYNC_LC_SWITCH" "32:-DASYNC_TIME32 -DASYNC_LC_SWITCH"; do
    bytes=$((${variant%%:*} / 8)) flags=${variant#*:}
    elf="$B/avr_timers_${bytes}$( [[ $flags == *SWITCH* ]] && echo _switch).elf"
    # shellcheck disable=SC2086
    if ! avr-gcc -mmcu=atmega2560 -std=c99 -Os -Wall -Wextra -Wpedantic -Werror $flags -I. tests/avr_timers.c -o "$elf"; then
        failed=$((failed + 1)); echo "FAIL avr ($flags): does not build"; continue
    fi
    out=$(timeout 60 simavr -m atmega2560 -f 16000000 "$elf" 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
    want="sizeof(int) 2, time $bytes bytes: gather 0, 0 of 24 late or early."
    if grep -qxF "$want" <<<"$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        printf '%s\n' "$out" | tail -n 5
        echo "FAIL avr ($flags): not '$want' (a timer that never fired, or one at the wrong time)"
    fi
done
echo "RESULT avr $passed $failed"
[ "$failed" -eq 0 ]
