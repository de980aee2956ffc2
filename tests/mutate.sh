#!/usr/bin/env bash
# tests/mutate.sh - mutation testing: does the suite catch plausible bugs?
#
#   make mutate                      every mutant of tests/mutants.txt
#   bash tests/mutate.sh NAME...     the mutants whose names contain one of the NAMEs
#   bash tests/mutate.sh --check     only whether each mutant still applies (no build)
#
# For each one-line (or few-line) edit of tests/mutants.txt: copy async.h, async_http.h,
# examples/fetch.c and tests/ to a temp dir, apply the edit there, build the mutant's test programs
# (gcc -O1; MUTATE_SAN=1: with ASan+UBSan, slower, also catches memory bugs), run them one
# by one, each under `timeout MUTATE_TIMEOUT` (default 120 s; the per-test watchdog of
# tests/test.h usually ends a hang in 10 s), and stop at the first that fails:
#
#   killed     a test program failed (its first FAIL line is shown)
#   SURVIVED   every test program passed: no test guards this behaviour
#   stale      the text to replace is not in the file any more (the code moved on)
#   ambiguous  the text occurs more than once: make it longer
#   broken     the mutant does not compile (not counted)
#
# The test "check_fetch" is tests/check_fetch.sh on the mutant's build of examples/fetch.c
# (its large download MUTATE_FETCH_MIB, default 64 MiB: enough to see a body kept in memory).
#
# The kill rate is killed / (killed + survived). Stale, ambiguous and broken mutants are
# reported, not failures: they ask for the list to be updated. The working tree is never
# touched. Not part of `make test`; exits 0 unless the unmutated tree fails its tests.
set -u
cd "$(dirname "$0")/.."
list=${MUTANTS:-tests/mutants.txt}
limit=${MUTATE_TIMEOUT:-120}
cc=${MUTATE_CC:-gcc}
flags=(-std=c99 -O1 -g0 -w)
[ "${MUTATE_SAN:-0}" = 1 ] &&
    flags=(-std=c99 -O1 -g -w -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
check_only=0
filters=()
for a in "$@"; do
    if [ "$a" = --check ]; then check_only=1; else filters+=("$a"); fi
done

# The list, parsed: one line per mutant, "index<TAB>name<TAB>file<TAB>tests".
# Applying mutant i to the copy in dir: exit 0 applied, 3 stale, 4 ambiguous.
mutants_py='
import sys
def parse(path):
    ms, m = [], None
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("@ "):
            name, _, what = line[2:].partition(":")
            m = {"name": name.strip(), "what": what.strip(), "file": "", "tests": "", "alts": [([], [])]}
            ms.append(m)
        elif line.startswith("file "):
            m["file"] = line[5:].strip()
        elif line.startswith("tests "):
            m["tests"] = line[6:].strip()
        elif line.strip() == "or":
            m["alts"].append(([], []))
        elif line.startswith("- ") or line == "-":
            m["alts"][-1][0].append(line[2:])
        elif line.startswith("+ ") or line == "+":
            m["alts"][-1][1].append(line[2:])
        else:
            sys.exit("%s: cannot read: %s" % (path, line))
    return ms
cmd, path = sys.argv[1], sys.argv[2]
ms = parse(path)
if cmd == "list":
    defaults = {"async.h": "async async_switch client http",
                "async_http.h": "parser client faults hostile http",
                "examples/fetch.c": "check_fetch"}
    for i, m in enumerate(ms):
        print("%d\t%s\t%s\t%s\t%s" % (i, m["name"], m["file"], m["tests"] or defaults.get(m["file"], ""), m["what"]))
else:
    m = ms[int(sys.argv[3])]
    target = sys.argv[4] + "/" + m["file"]
    text = open(target, encoding="utf-8").read()
    found_twice = False
    for old, new in m["alts"]:
        old, new = "\n".join(old), "\n".join(new)
        n = text.count(old) if old else 0
        if n == 1:
            open(target, "w", encoding="utf-8").write(text.replace(old, new))
            sys.exit(0)
        found_twice = found_twice or n > 1
    sys.exit(4 if found_twice else 3)
'

work=$(mktemp -d /tmp/mutate.XXXXXX)
trap 'rm -rf "$work"' EXIT

# A copy of the tree to mutate: the headers, README.md (check_fetch reads it), fetch.c and
# the tests, nothing else.
fresh_tree() {
    rm -rf "$work/tree"
    mkdir -p "$work/tree/tests" "$work/tree/bin" "$work/tree/examples"
    cp async.h async_http.h README.md "$work/tree/"
    cp tests/*.c tests/*.h tests/*.sh tests/*.py "$work/tree/tests/"
    cp examples/fetch.c "$work/tree/examples/"
}

# Builds the test programs named (async, async_switch, parser, client, ...) in the copy,
# two at a time; 1 if one does not compile.
build() {
    local t src bin extra pids=() ok=0 p
    for t in "$@"; do
        t=${t%@*} # (web@epoll: the program web, run on epoll)
        src=tests/test_$t.c bin=bin/$t extra=()
        [ "$t" = async_switch ] && src=tests/test_async.c extra=(-DASYNC_LC_SWITCH)
        [ "$t" = async_time32 ] && src=tests/test_async.c extra=(-DASYNC_TIME32 -DASYNC_TICK_HZ=1000000)
        [ "$t" = check_fetch ] && src=examples/fetch.c bin=bin/fetch
        [ "$t" = workers ] && extra=(-Wl,--wrap=pthread_create) # as tests/workers.mk builds it
        if [ "$t" = mixed_debug ]; then # as the Makefile builds it: the implementation with NDEBUG
            (cd "$work/tree" && "$cc" "${flags[@]}" -DNDEBUG -DMIXED_DEBUG_IMPL -c "$src" -o bin/mixed_debug_impl.o &&
                "$cc" "${flags[@]}" "$src" bin/mixed_debug_impl.o -o "$bin" >"$work/build_$t.log" 2>&1) &
        else
            (cd "$work/tree" && "$cc" "${flags[@]}" "${extra[@]}" "$src" -o "$bin" -DASYNC_HTTP_TLS -DASYNC_HTTP_ZLIB -luring -lpthread -lssl -lcrypto -lz \
                >"$work/build_$t.log" 2>&1) &
        fi
        pids+=($!)
        if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || ok=1; pids=("${pids[@]:1}"); fi
    done
    for p in "${pids[@]}"; do wait "$p" || ok=1; done
    return $ok
}

# Runs them in order until one fails: prints "<test>: <why>" for it, or nothing.
run_tests() {
    local t out rc line f backend
    for t in "$@"; do
        backend=
        [[ $t == *@* ]] && backend=${t#*@} t=${t%@*}
        if [ "$t" = check_fetch ]; then
            out=$(cd "$work/tree" && B=bin FETCH_BIG_MIB=${MUTATE_FETCH_MIB:-64} timeout -k 5 "$limit" bash tests/check_fetch.sh 2>&1); rc=$?
        else
            out=$(cd "$work/tree" && env ${backend:+ASYNC_IO_BACKEND=$backend} timeout -k 5 "$limit" "./bin/$t" 2>&1); rc=$?
        fi
        line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
        f=$(printf '%s\n' "$line" | awk '{print $4}')
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            echo "$t: still running after ${limit} s"; return
        fi
        if [ "$rc" -ne 0 ] || [ -z "$line" ] || [ "${f:-1}" != 0 ]; then
            why=$(printf '%s\n' "$out" | grep -m1 '^FAIL ' || true)
            [ -z "$why" ] && why="exit $rc$([ -z "$line" ] && echo ', no RESULT line')"
            echo "$t: $why"; return
        fi
    done
}

mapfile -t rows < <(python3 -c "$mutants_py" list "$list") || exit 2
selected() {
    local f
    [ ${#filters[@]} -eq 0 ] && return 0
    for f in "${filters[@]}"; do [[ $1 == *"$f"* ]] && return 0; done
    return 1
}

if [ "$check_only" = 0 ]; then
    fresh_tree
    all_tests="async async_switch async_time32 mixed_debug parser backend client faults hostile http tls web check_fetch"
    # shellcheck disable=SC2086
    if ! build $all_tests; then
        cat "$work"/build_*.log | head -n 30
        echo "mutate: the unmutated tree does not build"; exit 2
    fi
    # shellcheck disable=SC2086
    why=$(run_tests $all_tests)
    if [ -n "$why" ]; then echo "mutate: the unmutated tree fails its tests: $why"; exit 2; fi
    echo "mutate: the unmutated tree passes ($all_tests); ${#rows[@]} mutants in $list"
fi

killed=0 survived=0 stale=0 ambiguous=0 broken=0
survivors=()
start=$SECONDS
for row in "${rows[@]}"; do
    IFS=$'\t' read -r i name file tests what <<<"$row"
    selected "$name" || continue
    fresh_tree
    python3 -c "$mutants_py" apply "$list" "$i" "$work/tree"; rc=$?
    if [ "$rc" -eq 3 ]; then stale=$((stale + 1)); printf '%-10s %-40s %s\n' stale "$name" "(text not found in $file)"; continue; fi
    if [ "$rc" -eq 4 ]; then ambiguous=$((ambiguous + 1)); printf '%-10s %-40s %s\n' ambiguous "$name" "(text found more than once in $file)"; continue; fi
    [ "$rc" -ne 0 ] && { echo "mutate: cannot apply $name"; exit 2; }
    [ "$check_only" = 1 ] && { printf '%-10s %-40s %s\n' applies "$name" "$what"; continue; }
    # shellcheck disable=SC2086
    if ! build $tests; then
        broken=$((broken + 1)); printf '%-10s %-40s %s\n' broken "$name" "(does not compile)"; continue
    fi
    # shellcheck disable=SC2086
    why=$(run_tests $tests)
    if [ -n "$why" ]; then
        killed=$((killed + 1)); printf '%-10s %-40s %s\n' killed "$name" "$why"
    else
        survived=$((survived + 1)); survivors+=("$name: $what")
        printf '%-10s %-40s %s\n' SURVIVED "$name" "$what"
    fi
done

[ "$check_only" = 1 ] && { echo "mutate: $stale stale, $ambiguous ambiguous"; exit 0; }
total=$((killed + survived))
rate=$([ "$total" -gt 0 ] && echo "$((100 * killed / total))%" || echo "-")
echo "mutate: $killed killed, $survived survived, $stale stale, $ambiguous ambiguous, $broken broken;" \
     "kill rate $killed/$total = $rate ($((SECONDS - start)) s)"
for s in "${survivors[@]}"; do echo "  survivor: $s"; done
exit 0
