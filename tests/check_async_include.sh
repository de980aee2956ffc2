#!/usr/bin/env bash
# async.h's implementation included after a system header (so clock_gettime is
# not visible): the build must stop with one message that says what to do,
# not a page of follow-on errors. Ends with "RESULT <suite> <passed> <failed>".
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0
src=$(mktemp --suffix=.c)
trap 'rm -f "$src"' EXIT
printf '#include <stdio.h>\n#define ASYNC_IMPLEMENTATION\n#include "%s/async.h"\nint main(void) { return 0; }\n' "$PWD" >"$src"
for cc in gcc clang; do
    command -v "$cc" >/dev/null || continue
    out=$("$cc" -std=c99 -c "$src" -o /dev/null 2>&1)
    errors=$(grep -c ': error:' <<<"$out")
    if [ "$errors" -eq 1 ] && grep -q 'Include async.h before any system header' <<<"$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $cc: expected one error naming the include order, got $errors:"
        printf '%s\n' "$out" | head -n 20
    fi
done
echo "RESULT async-include-order $passed $failed"
[ "$failed" -eq 0 ]
