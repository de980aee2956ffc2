# tests/checklib.sh - what the check_*.sh scripts share; sourced, not run (not
# named check_*.sh: tests/run.sh runs every one of those).
#   run COMMAND...       its stdout in $out, its stderr in $err, its exit status in $rc
#   check NAME FUNC...   one test: counts it in $passed or $failed; on failure shows
#                        what the test looked at ($out, $err, $rc)
passed=0 failed=0
out= err= rc=0

run() {
    local e
    e=$(mktemp)
    out=$("$@" 2>"$e")
    rc=$?
    err=$(cat "$e")
    rm -f "$e"
}

check() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name (exit $rc)"
        printf '%s\n' "$out" | head -n 40 | sed 's/^/     | /'
        [ -n "$err" ] && printf '%s\n' "$err" | head -n 10 | sed 's/^/     ! /'
    fi
    return 0
}
