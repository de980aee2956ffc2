#!/usr/bin/env bash
# `make demo`: every example, against a swapi_server on a free loopback port.
# Exits 0 only if every example succeeded. The binaries are in $B (build/).
set -u
cd "$(dirname "$0")/.."
B=${B:-build}

# DEMO_BACKEND=epoll|io_uring: the backend every example uses (the library
# reads ASYNC_IO_BACKEND). DEMO_WRAP=build/no_uring: run every program with
# io_uring refused, as in a Docker container, to see the library fall back to
# epoll by itself.
[ -n "${DEMO_BACKEND:-}" ] && export ASYNC_IO_BACKEND=$DEMO_BACKEND
wrap=()
[ -n "${DEMO_WRAP:-}" ] && wrap=(env -u ASYNC_IO_BACKEND "$DEMO_WRAP")

# The server answers each request after a random 0..50 ms, so that answers
# come back in another order than the requests went out. Port 0: the kernel
# picks a free one, and the server's first line tells which.
coproc SERVER { exec "${wrap[@]}" "$B/swapi_server" --port 0 --delay-ms 50; }
server_pid=$SERVER_PID
exec {server_out}<&"${SERVER[0]}" # bash drops SERVER[] once the server exits
trap 'kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null' EXIT
# What the server says before it listens (the backend, if it fell back) is shown too.
while read -r -t 10 first <&"$server_out" && [[ $first != "listening on http://"* ]]; do echo "$first"; done
if [[ $first != "listening on http://"* ]]; then
    echo "demo: swapi_server did not start" >&2
    exit 1
fi
base=${first#listening on }
echo "$first"

failed=0
run() {
    local title=$1
    shift
    printf '\n== %s ==\n$ %s\n' "$title" "${*#"$B/"}"
    "${wrap[@]}" "$@" || { echo "!! failed (exit $?)"; failed=$((failed + 1)); }
}

run "seed 001: ten heroes with gather" "$B/heroes_gather" "$base"
run "seed 001: ten heroes with as_completed" "$B/heroes_as_completed" "$base"
run "seed 002: a thousand status codes (pool limit 100)" "$B/status_codes" "$base/api/people/1" 1000
run "seed 004: three spiders sleeping at once" "$B/spiders"
run "asyncio.wait: first completed, a timeout, cancel the rest" "$B/wait_timeout" "$base"

printf '\n== stopping the server ==\n'
kill -TERM "$server_pid"
wait "$server_pid" || failed=$((failed + 1))
cat <&"$server_out"
trap - EXIT

if [ "$failed" -eq 0 ]; then echo "demo: all examples succeeded"; else echo "demo: $failed failed"; fi
[ "$failed" -eq 0 ]
