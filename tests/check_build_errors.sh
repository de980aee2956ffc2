#!/usr/bin/env bash
# A build that cannot work stops with one message that says what to do, not a
# page of follow-on errors; what can work still builds. With gcc and clang:
#   - async.h's implementation after a system header (clock_gettime unseen),
#     alone and with async_http.h's;
#   - async_http.h's backend and client with ASYNC_TIME32 (they count
#     nanoseconds), while its parser alone builds with it;
#   - async_http.h where POSIX.1-2008 is not visible (-std=c99 after
#     async.h in a file without the implementation, or _POSIX_C_SOURCE
#     200112L), while it builds first in such a file, alone with
#     ASYNC_HTTP_NO_URING, and its implementation in a file of its own;
#   - the implementation in a GNU mode keeps the file's extensions (M_PI);
#   - both implementations build clean under a stricter warning set than
#     the Makefile's (-Wformat=2 -Wshadow -Wconversion ...);
#   - files built with and without ASYNC_TIME32, or ASYNC_HTTP_NO_URING,
#     do not link together;
#   - both implementations, and a coroutine of each variant, build as C++
#     (g++ and clang++, C++11 and C++20) without a warning.
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
    expect "$cc" "both implementations, TLS and zlib, under a strict warning set" '' -DASYNC_HTTP_TLS \
        -DASYNC_HTTP_ZLIB -Wformat=2 -Wshadow -Wcast-align -Wstrict-prototypes -Wmissing-prototypes -Wundef \
        -Wconversion -Wredundant-decls
    expect "$cc" "both headers with _POSIX_C_SOURCE 200112L" 'async_http.h needs POSIX.1-2008' -D_POSIX_C_SOURCE=200112L
    printf '#include "%s/async.h"\n#include "%s/async_http.h"\nint main(void) { return 0; }\n' "$PWD" "$PWD" >"$src"
    expect "$cc" "a plain file, async.h first, -std=c99" 'async_http.h needs POSIX.1-2008'
    expect "$cc" "a plain file, async.h first, -std=gnu99" '' -std=gnu99
    expect "$cc" "a plain file, async.h first, no liburing" '' -DASYNC_HTTP_NO_URING
    printf '#include "%s/async_http.h"\n#include "%s/async.h"\nint main(void) { return 0; }\n' "$PWD" "$PWD" >"$src"
    expect "$cc" "a plain file, async_http.h first" ''
    printf '#define ASYNC_HTTP_IMPLEMENTATION\n#include "%s/async.h"\n#include "%s/async_http.h"\n' "$PWD" "$PWD" >"$src"
    expect "$cc" "async_http.h's implementation without async.h's" ''
    printf '#define ASYNC_IMPLEMENTATION\n#include "%s/async.h"\n#include <math.h>\ndouble pi(void);\ndouble pi(void) { return M_PI; }\n' "$PWD" >"$src"
    expect "$cc" "the implementation, then M_PI, -std=gnu99" '' -std=gnu99
done

# link WANT WHAT HEADER FLAGS_A FLAGS_B: a file that inits a loop (and an io
# with async_http.h), built with FLAGS_A, linked with the implementation
# built with FLAGS_B: WANT is "links" or "fails" (an undefined reference).
link() {
    local want=$1 what=$2 header=$3 fa=$4 fb=$5 dir out libs= io=
    dir=$(mktemp -d)
    if [ "$header" = async_http.h ]; then
        libs="-luring -lpthread"
        io='static async_io io; if (async_io_init(&io, &l, 0) == 0) async_io_exit(&io);'
    fi
    printf '#include "%s/%s"\nint main(void) { static async_loop l; async_loop_init(&l, 0); %s return 0; }\n' \
        "$PWD" "$header" "$io" >"$dir/a.c"
    printf '#define ASYNC_IMPLEMENTATION\n#define ASYNC_HTTP_IMPLEMENTATION\n#include "%s/%s"\n' "$PWD" "$header" >"$dir/b.c"
    out=$(gcc -std=gnu99 $fa -c "$dir/a.c" -o "$dir/a.o" 2>&1 && gcc -std=gnu99 $fb -c "$dir/b.c" -o "$dir/b.o" 2>&1 &&
        gcc "$dir/a.o" "$dir/b.o" -o "$dir/x" $libs 2>&1)
    if { [ "$want" = fails ] && grep -q 'undefined reference' <<<"$out"; } || { [ "$want" = links ] && [ -x "$dir/x" ]; }; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $what: expected the link to $want; got:"
        printf '%s\n' "$out" | head -n 10
    fi
    rm -rf "$dir"
}
link links "async.h, the same settings" async.h "" ""
link links "async.h, NDEBUG in one file only" async.h -DNDEBUG ""
link fails "ASYNC_TIME32 in one file only" async.h -DASYNC_TIME32 ""
link fails "ASYNC_TIME32 in the implementation only" async.h "" -DASYNC_TIME32
link links "async_http.h, the same settings" async_http.h "" ""
link fails "ASYNC_HTTP_NO_URING in one file only" async_http.h -DASYNC_HTTP_NO_URING ""
link fails "ASYNC_HTTP_NO_URING in the implementation only" async_http.h "" -DASYNC_HTTP_NO_URING
# C++: the implementations (with TLS and zlib), and a coroutine that awaits.
printf '#define ASYNC_IMPLEMENTATION\n#define ASYNC_HTTP_IMPLEMENTATION\n#define ASYNC_HTTP_TLS\n#define ASYNC_HTTP_ZLIB\n#include "%s/async.h"\n#include "%s/async_http.h"\nint co(async_task *t);\nint co(async_task *t) {\n    ASYNC_BEGIN(t);\n    ASYNC_AWAIT(t, &t[1].future);\n    ASYNC_YIELD(t);\n    ASYNC_END(t);\n}\n' "$PWD" "$PWD" >"$src"
for cxx in g++ clang++; do
    command -v "$cxx" >/dev/null || continue
    for std in c++11 c++20; do
        for variant in "" -DASYNC_LC_SWITCH; do
            out=$("$cxx" -x c++ -std=$std -Wall -Wextra -Wpedantic -Werror $variant -c "$src" -o /dev/null 2>&1)
            if [ -z "$out" ]; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
                echo "FAIL $cxx -std=$std $variant: the implementations as C++:"
                printf '%s\n' "$out" | head -n 20
            fi
        done
    done
done
echo "RESULT build-errors $passed $failed"
[ "$failed" -eq 0 ]
