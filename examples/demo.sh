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
run "seed 002: awaiting a future that a task sets a second later" "$B/future"
run "seed 004: three spiders sleeping at once" "$B/spiders"
run "asyncio.wait: first completed, a timeout, cancel the rest" "$B/wait_timeout" "$base"

# https: a CA and a certificate for 127.0.0.1 made now with openssl, in a temp
# dir that goes at the end (no key is ever committed); a second server speaks
# TLS with them. The examples trust that CA through SSL_CERT_FILE (OpenSSL's
# own variable), fetch through --cacert.
tls=$(mktemp -d)
tls_pid=
cleanup_tls() { [ -n "$tls_pid" ] && kill -TERM "$tls_pid" 2>/dev/null && wait "$tls_pid" 2>/dev/null; rm -rf "$tls"; }
trap 'kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; cleanup_tls' EXIT
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -days 1 -subj "/CN=async_http.h demo CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null &&
    openssl req "${ec[@]}" -subj "/CN=127.0.0.1" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tls/ext" &&
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 1 \
        -extfile "$tls/ext" -out "$tls/server.pem" 2>/dev/null || { echo "demo: openssl could not make the certificates"; failed=$((failed + 1)); }
"${wrap[@]}" "$B/swapi_server" --port 0 --delay-ms 50 --tls "$tls/server.pem" "$tls/server.key" >"$tls/server.out" 2>&1 &
tls_pid=$!
for _ in $(seq 100); do grep -q '^listening on https://' "$tls/server.out" 2>/dev/null && break; sleep 0.05; done
tls_base=$(sed -n 's/^listening on //p' "$tls/server.out")
printf '\n%s\n' "$(grep '^listening on' "$tls/server.out")"
run "seed 001 over https: ten heroes with gather (SSL_CERT_FILE=the demo CA)" env SSL_CERT_FILE="$tls/ca.pem" "$B/heroes_gather" "$tls_base"
run "fetch --cacert: one hero over https, with the head" "$B/fetch" --cacert "$tls/ca.pem" -i "$tls_base/api/people/1"

printf '\n== stopping the servers ==\n'
kill -TERM "$server_pid"
wait "$server_pid" || failed=$((failed + 1))
cat <&"$server_out"
kill -TERM "$tls_pid"
wait "$tls_pid" || failed=$((failed + 1))
tls_pid=
grep -v '^listening on' "$tls/server.out"
trap - EXIT
cleanup_tls

if [ "$failed" -eq 0 ]; then echo "demo: all examples succeeded"; else echo "demo: $failed failed"; fi
[ "$failed" -eq 0 ]
