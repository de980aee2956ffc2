#!/usr/bin/env bash
# A build that cannot work stops with one message that says what to do, not a
# page of follow-on errors; what can work still builds. With gcc and clang:
#   - async.h's implementation after a system header (clock_gettime unseen),
#     alone and with async_http.h's;
#   - async_http.h's backend and client with ASYNC_TIME32 (they count
#     nanoseconds), while its parser alone builds with it.
# Ends with "RESULT <suite> <passed> <failed>".
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0
src=$(mktemp --suffix=.c)
trap 'rm -f "$src"' EXIT

# expect CC WHAT MESSAGE FLAGS...: one error naming MESSAGE, or none if MESSAGE is empty.
expect() {
    local cc=$1 what=$2 message=$3 out errors
    shift 3
    out=$("$cc" -std=c99 -Wall -Wextra -Wpedantic -Werror "$@" -c "$src" -o /dev/null 2>&1)
    errors=$(grep -c ': error:' <<<"$out")
    if { [ -z "$message" ] && [ "$errors" -eq 0 ] && [ -z "$out" ]; } ||
        { [ -n "$message" ] && [ "$errors" -eq 1 ] && grep -qF "$message" <<<"$out"; }; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $cc, $what: expected ${message:+one error naming \"$message\"}${message:-a clean build}; got $errors errors:"
        printf '%s\n' "$out" | head -n 20
    fi
}

for cc in gcc clang; do
    command -v "$cc" >/dev/null || continue
    printf '#include <stdio.h>\n#define ASYNC_IMPLEMENTATION\n#include "%s/async.h"\nint main(void) { return 0; }\n' "$PWD" >"$src"
    expect "$cc" "async.h after a system header" 'Include async.h before any system header'
    printf '#include <stdio.h>\n#define ASYNC_IMPLEMENTATION\n#define ASYNC_HTTP_IMPLEMENTATION\n#include "%s/async.h"\n#include "%s/async_http.h"\nint main(void) { return 0; }\n' "$PWD" "$PWD" >"$src"
    expect "$cc" "both headers after a system header" 'Include async.h before any system header'
    expect "$cc" "both headers after a system header, no liburing" 'Include async.h before any system header' -DASYNC_HTTP_NO_URING
    printf '#define ASYNC_IMPLEMENTATION\n#define ASYNC_HTTP_IMPLEMENTATION\n#include "%s/async.h"\n#include "%s/async_http.h"\nint main(void) { return 0; }\n' "$PWD" "$PWD" >"$src"
    expect "$cc" "async_http.h with ASYNC_TIME32" 'async_http.h counts time in nanoseconds' -DASYNC_TIME32
    expect "$cc" "the parser alone with ASYNC_TIME32" '' -DASYNC_TIME32 -DASYNC_HTTP_PARSER_ONLY
done
echo "RESULT build-errors $passed $failed"
[ "$failed" -eq 0 ]
