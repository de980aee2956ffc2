#!/usr/bin/env bash
# check_embedded.sh - examples/embedded.c on QEMU's mps2-an386 (a Cortex-M4):
# both coroutine variants, started at tick 0 and 1 s before the 32-bit
# millisecond counter wraps. QEMU runs on virtual time that skips the idle
# waits (-icount sleep=off): each run takes a fraction of a second and its
# times are exact. Checked: the workers hold the semaphore one at a time,
# in order and on time (across the wrap), the interrupt wakes its task
# three times, the program exits cleanly (semihosting exit status 0); and
# the small program, idling in the library's own WFI, ends cleanly too.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
passed=0 failed=0
if ! command -v qemu-system-arm >/dev/null || ! command -v arm-none-eabi-gcc >/dev/null; then
    echo "NOTE embedded: skipped, qemu-system-arm or gcc-arm-none-eabi is not installed"
    echo "RESULT embedded 0 0"
    exit 0
fi
make -s "$B/embedded_goto.elf" "$B/embedded_switch.elf" "$B/embedded_goto_wrap.elf" "$B/embedded_switch_wrap.elf" \
    "$B/embedded_small.elf" \
    || { echo "RESULT embedded 0 1"; exit 1; }

expect_holds="0 hold 1|200 free 1|200 hold 2|400 free 2|400 hold 3|600 free 3|600 hold 1|800 free 1|800 hold 2|1000 free 2|1000 hold 3|1200 free 3"

check() { # check IMAGE START
    local elf=$1 start=$2 out rc why=""
    out=$(timeout 10 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -icount shift=0,sleep=off -kernel "$elf" 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] || why="exit status $rc (124: QEMU still running after 10 s)"
    [ -z "$why" ] && [ "$(printf '%s\n' "$out" | head -n 1)" != "0 start $start" ] && why="first line is not '0 start $start'"
    [ -z "$why" ] && [ "$(printf '%s\n' "$out" | grep -E ' (hold|free) ' | paste -sd '|')" != "$expect_holds" ] \
        && why="the semaphore's holders are not one at a time, in order, on time"
    [ -z "$why" ] && [ "$(printf '%s\n' "$out" | grep -c ' irq [123]$')" -ne 3 ] && why="the interrupt did not wake its task 3 times"
    [ -z "$why" ] && ! printf '%s\n' "$out" | awk '$1 < last { exit 1 } { last = $1 }' && why="time went backwards"
    [ -z "$why" ] && ! printf '%s\n' "$out" | grep -qx '1200 most holders 1' && why="more than one holder at a time"
    [ -z "$why" ] && ! printf '%s\n' "$out" | grep -qx '1200 results 60' && why="the gathered results are wrong"
    [ -z "$why" ] && [ "$(printf '%s\n' "$out" | tail -n 1)" != "1200 exit 0" ] && why="no clean exit"
    if [ -z "$why" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        printf '%s\n' "$out" | tail -n 20
        echo "FAIL $elf: $why"
    fi
}

check "$B/embedded_goto.elf" 0
check "$B/embedded_switch.elf" 0
check "$B/embedded_goto_wrap.elf" 4294966296
check "$B/embedded_switch_wrap.elf" 4294966296
# The small program: no idle hook (the library's own WFI on a Cortex-M), five
# seconds of blinking; it must end, and cleanly.
if timeout 10 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0,sleep=off -kernel "$B/embedded_small.elf" >/dev/null 2>&1; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    echo "FAIL $B/embedded_small.elf: no clean exit"
fi
echo "RESULT embedded $passed $failed"
[ "$failed" -eq 0 ]
