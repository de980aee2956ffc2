#!/usr/bin/env bash
# The examples, checked by what they print: runs `make demo`'s script, then
# spiders on virtual time, then fetch and swapi_server against a server of
# its own on a free loopback port. Ends with "RESULT examples <passed> <failed>".
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
. tests/checklib.sh
server_pid=

cleanup() { [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; }
trap cleanup EXIT

# The lines of one section of the demo's output (after "== TITLE ...").
section() { awk -v t="== $1" 'index($0, "== ") == 1 { on = index($0, t) == 1; next } on && !/^\$ /' <<<"$demo"; }

# ---- make demo ----
run bash examples/demo.sh
demo=$out demo_rc=$rc
dead_port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' <<<"$demo") # stopped: nobody listens there now

demo_ok() { [ "$demo_rc" -eq 0 ] && [[ $demo == *"demo: all examples succeeded" ]]; }
check "make demo: every example succeeds" demo_ok

gather_ok() {
    out=$(section "seed 001: ten heroes with gather")
    [ "$(grep '^Got hero ' <<<"$out" | sort -k3n | tr '\n' ' ')" = "$(printf 'Got hero %d ' $(seq 10))" ] &&
        [ "$(tail -n 1 <<<"$out")" = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" ] && [ "$(wc -l <<<"$out")" -eq 11 ]
}
check "heroes_gather: ten heroes as they come, then the list in order" gather_ok

as_completed_ok() {
    out=$(section "seed 001: ten heroes with as_completed")
    [ "$(grep -c '^Got hero [0-9]*: .' <<<"$out")" -eq 10 ] &&
        [ "$(sed -n 's/^Got hero [0-9]*: //p' <<<"$out" | sort -u | wc -l)" -eq 10 ] &&
        [ "$(sed -n 's/^Got hero \([0-9]*\): .*/\1/p' <<<"$out" | sort -n | tr '\n' ' ')" = "$(seq 10 | tr '\n' ' ')" ] &&
        grep -qx 'Got hero 1: Luke Skywalker' <<<"$out" && grep -qx 'Got hero 4: Darth Vader' <<<"$out"
}
check "heroes_as_completed: ten distinct names" as_completed_ok

status_codes_ok() {
    out=$(section "seed 002: a thousand")
    [ "$(head -n 1 <<<"$out")" = "200: 1000" ] && grep -q '^1000 requests in [0-9.]* s$' <<<"$out" &&
        [ "$(wc -l <<<"$out")" -eq 2 ]
}
check "status_codes: 200: 1000" status_codes_ok

future_lines=$(printf '%s\n' "Is the future done? no" "Is the future done? yes" 42)
future_ok() { [ "$(section "seed 002: awaiting")" = "$future_lines" ]; }
check "future: not done, awaited, done, 42" future_ok

spider_lines=$(printf '%s\n' "Blog 1" "News 1" "Forum 1" "Blog 2" "News 2" "Forum 2" "Blog 3" "News 3" "Forum 3")
spiders_real_ok() {
    out=$(section "seed 004")
    [ "$(head -n 9 <<<"$out")" = "$spider_lines" ] && [[ $(tail -n 1 <<<"$out") =~ ^3\.[0-4][0-9]$ ]]
}
check "spiders: interleaved, about 3 s of real time" spiders_real_ok

wait_timeout_ok() {
    out=$(section "asyncio.wait")
    [ "$(sed -n 's/^[0-9.]* s  hero \([0-9]\) \(done\|cancelled\).*/\1 \2/p' <<<"$out" | tr '\n' ,)" = \
        "5 done,1 done,3 done,6 done,2 cancelled,4 cancelled," ] &&
        grep -qx '4 done, 2 cancelled, 0 failed' <<<"$out"
}
check "wait_timeout: the fast ones done, the slow ones cancelled" wait_timeout_ok

https_heroes_ok() {
    out=$(section "seed 001 over https: ten heroes with gather")
    [ "$(grep -c '^Got hero ' <<<"$out")" -eq 10 ] && [ "$(tail -n 1 <<<"$out")" = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" ]
}
check "heroes_gather over https (the demo's own CA, made at run time)" https_heroes_ok

https_fetch_ok() {
    out=$(section "fetch --cacert: one hero over https")
    [ "$(head -n 1 <<<"$out")" = "HTTP/1.1 200 OK" ] && grep -q '^{"name": "Luke Skywalker",.*"url": "https://127.0.0.1:[0-9]*/api/people/1/"}$' <<<"$out"
}
check "fetch --cacert -i over https: head and body" https_fetch_ok

# Under DEMO_WRAP=build/no_uring (io_uring refused), the server must have said
# that it fell back to epoll, and run on it.
server_stop_ok() {
    out=$(section "stopping the servers")
    [ "$(grep -c '^stopped by SIGTERM: ' <<<"$out")" -eq 2 ] || return 1
    grep -q '^stopped by SIGTERM: 1024 requests on [0-9]* connections' <<<"$out" || return 1
    [ -z "${DEMO_WRAP:-}" ] && return 0
    grep -q '^stopped by .*(epoll)$' <<<"$out" && grep -q '^async_io: using epoll, io_uring is refused: ' <<<"$demo"
}
check "swapi_server: stops on SIGTERM and says what it served" server_stop_ok

spiders_virtual_ok() {
    run "$B/spiders" --virtual
    [ "$rc" -eq 0 ] && [ "$out" = "$spider_lines"$'\n'"3.00" ]
}
check "spiders --virtual: the same lines, exactly 3.00, at once" spiders_virtual_ok

future_virtual_ok() {
    run "$B/future" --virtual
    [ "$rc" -eq 0 ] && [ "$out" = "$future_lines" ]
}
check "future --virtual: the same lines" future_virtual_ok

# ---- a server of our own for fetch, no delay unless a request asks ----
coproc SERVER { exec "$B/swapi_server"; }
server_pid=$SERVER_PID
exec {server_out}<&"${SERVER[0]}"
read -r -t 10 first <&"$server_out"
base=${first#listening on }
if [[ $base != http://127.0.0.1:* ]]; then
    echo "FAIL swapi_server did not start"
    echo "RESULT examples $passed $((failed + 1))"
    exit 1
fi
luke='{"name": "Luke Skywalker", "height": "172", "mass": "77", "birth_year": "19BBY", "gender": "male", "url": "'$base'/api/people/1/"}'

fetch_include_ok() {
    run "$B/fetch" -i "$base/api/people/1"
    [ "$rc" -eq 0 ] && [ "$out" = "$(printf '%s\n' "HTTP/1.1 200 OK" "Server: swapi_server (async_http.h)" \
        "Content-Type: application/json" "Content-Length: $((${#luke} + 1))" "" "$luke")" ]
}
check "fetch -i: status line, headers, empty line, body" fetch_include_ok

fetch_body_ok() {
    run "$B/fetch" "$base/api/people/1"
    [ "$rc" -eq 0 ] && [ "$out" = "$luke" ] && [ -z "$err" ]
}
check "fetch: the body alone" fetch_body_ok

fetch_404_ok() {
    run "$B/fetch" -i "$base/api/people/101"
    [ "$rc" -eq 0 ] && [ "$(head -n 1 <<<"$out")" = "HTTP/1.1 404 Not Found" ] &&
        [ "$(tail -n 1 <<<"$out")" = '{"detail": "Not Found"}' ]
}
check "fetch: a 404 is a response (exit 0)" fetch_404_ok

fetch_refused_ok() {
    run "$B/fetch" "http://127.0.0.1:$dead_port/api/people/1"
    [ "$rc" -eq 7 ] && [ -z "$out" ] &&
        [ "$err" = "fetch: http://127.0.0.1:$dead_port/api/people/1: connection refused: 127.0.0.1 port $dead_port" ]
}
check "fetch: a refused connection (exit 7, as curl; the URL and why)" fetch_refused_ok

fetch_read_timeout_ok() {
    run "$B/fetch" --read-timeout 0.2 "$base/api/people/1?delay_ms=3000"
    [ "$rc" -eq 28 ] && [[ $err == "fetch: $base/api/people/1?delay_ms=3000: timed out: the read timeout (0.2 s) passed"* ]]
}
check "fetch --read-timeout 0.2 against a 3 s delay" fetch_read_timeout_ok

fetch_total_timeout_ok() {
    run "$B/fetch" --timeout 0.25 "$base/api/people/2" "$base/api/people/3?delay_ms=3000"
    [ "$rc" -eq 28 ] && [[ $out == '{"name": "C-3PO"'* ]] &&
        [ "$err" = "fetch: $base/api/people/3?delay_ms=3000: timed out: the total timeout (0.25 s) passed" ]
}
check "fetch --timeout 0.25: one in time, one timed out" fetch_total_timeout_ok

fetch_usage_ok() {
    run "$B/fetch"
    [ "$rc" -eq 2 ] && [[ $err == usage:* ]] || return 1
    run "$B/fetch" --timeout soon "$base/api/people/1"
    [ "$rc" -eq 2 ] && [[ $err == "fetch: --timeout: 'soon' is not a number of seconds"* ]] || return 1
    run "$B/fetch" -W "$base/api/people/1" # -W: no such option (-Z is curl's --parallel, taken)
    [ "$rc" -eq 2 ] && [ -z "$out" ]
}
check "fetch: usage errors (exit 2)" fetch_usage_ok

fetch_post_ok() {
    run "$B/fetch" -d 'name=Luke&side=light' "$base/api/echo"
    [ "$rc" -eq 0 ] && [ "$out" = $'POST /api/echo\nname=Luke&side=light' ] || return 1
    run "$B/fetch" -X PUT -d 'x' "$base/api/echo?id=1"
    [ "$rc" -eq 0 ] && [ "$out" = $'PUT /api/echo?id=1\nx' ]
}
check "fetch -d: POSTs the data (and -X PUT -d)" fetch_post_ok

fetch_header_ok() {
    run "$B/fetch" -i -H 'Connection: close' "$base/api/people/1"
    [ "$rc" -eq 0 ] && grep -qx 'Connection: close' <<<"$out" || return 1
    run "$B/fetch" -H 'Bad Name: x' "$base/api/people/1"
    [ "$rc" -eq 43 ] &&
        [ "$err" = "fetch: $base/api/people/1: invalid request header: header 1 ('Bad...'): not a token's character in the name" ]
}
check "fetch -H: the header is sent; a malformed one fails" fetch_header_ok

# What would split the request fails before a byte goes out (the library checks it, not fetch).
fetch_refuses_ok() {
    run "$B/fetch" -X $'GET /x HTTP/1.1\r\nX-Inj3: y\r\n' "$base/api/echo"
    [ "$rc" -eq 43 ] && [ "$err" = "fetch: $base/api/echo: invalid request method: a character no token has at 3" ] || return 1
    run "$B/fetch" -H $'X-C: a\x01b' "$base/api/echo"
    [ "$rc" -eq 43 ] && [[ $err == *"a control character in the value" ]] || return 1
    run "$B/fetch" -H 'Content-Length: 50' -d abc "$base/api/echo"
    [ "$rc" -eq 43 ] && [[ $err == *"Content-Length differs from the body's length" ]]
}
check "fetch: an injected method, a control character, a lying Content-Length: refused" fetch_refuses_ok

fetch_order_ok() {
    # The first answer comes last; the output keeps argument order.
    run "$B/fetch" "$base/api/people/4?delay_ms=300" "$base/api/people/1"
    [ "$rc" -eq 0 ] && [ "$(sed 's/", "height.*//' <<<"$out" | tr '\n' ,)" = '{"name": "Darth Vader,{"name": "Luke Skywalker,' ]
}
check "fetch: two URLs printed in argument order" fetch_order_ok

pipelined_ok() {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/${base##*:}"
    printf 'GET /api/people/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/people/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$fd"
    out=$(timeout 5 cat <&"$fd" | tr -d '\r')
    exec {fd}>&-
    [ "$(grep -c '^HTTP/1.1 200 OK$' <<<"$out")" -eq 2 ] &&
        [ "$(grep -o '"name": "[^"]*"' <<<"$out" | tr '\n' ,)" = '"name": "Luke Skywalker","name": "C-3PO",' ]
}
check "swapi_server: two pipelined requests, answered in order" pipelined_ok

reset_ok() {
    # A client resets its connection in the middle of a request: the next ones get their answers.
    python3 - "${base##*:}" <<'PY' || return 1
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/pe")
time.sleep(0.2)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
time.sleep(0.2)
PY
    local i
    for i in 1 2 3; do
        run "$B/fetch" -s "$base/api/people/1"
        [ "$rc" -eq 0 ] && grep -q '"name": "Luke Skywalker"' <<<"$out" || return 1
    done
}
check "swapi_server: a client that resets mid-request harms none after it" reset_ok

too_large_ok() {
    run "$B/fetch" -i -H "X-Padding: $(printf '%9000s' '')x" "$base/api/people/1"
    [ "$rc" -eq 0 ] && [ "$(head -n 1 <<<"$out")" = "HTTP/1.1 431 Request Header Fields Too Large" ] &&
        grep -qx 'Connection: close' <<<"$out"
}
check "swapi_server: a head over 8 KiB gets 431" too_large_ok

threads_ok() {
    # Four loops on four threads, each with its own client: the counts summed.
    run "$B/status_codes" --threads 4 --limit 10 "$base/api/people/2" 1000
    [ "$rc" -eq 0 ] && [ "$(head -n 1 <<<"$out")" = "200: 1000" ] &&
        grep -q '^1000 requests in [0-9.]* s on 4 threads$' <<<"$out" && [ "$(wc -l <<<"$out")" -eq 2 ]
}
check "status_codes --threads 4: 200: 1000, summed over four loops" threads_ok

thousand_ok() {
    # Each answer waits 300 ms, so all thousand requests are open at once.
    run "$B/status_codes" --limit 1000 "$base/api/people/2?delay_ms=300" 1000
    [ "$rc" -eq 0 ] && [ "$(head -n 1 <<<"$out")" = "200: 1000" ] || return 1
    kill -TERM "$server_pid"
    wait "$server_pid"
    rc=$?
    server_pid=
    out=$(cat <&"$server_out")
    [ "$rc" -eq 0 ] && [[ $out =~ ^stopped\ by\ SIGTERM:\ .*at\ most\ ([0-9]+)\ at\ once\ \((io_uring|epoll)\)$ ]] &&
        [ "${BASH_REMATCH[1]}" -ge 1000 ]
}
check "swapi_server: 1000 connections at once, then a clean stop" thousand_ok

# A swapi_server of its own (args as given), its output in $1: its pid in srv_pid, its port in srv_port.
own_server() {
    local log=$1 i
    shift
    "$B/swapi_server" --port 0 "$@" >"$log" 2>&1 &
    srv_pid=$!
    for i in $(seq 100); do
        srv_port=$(sed -n 's|^listening on https\{0,1\}://127.0.0.1:\([0-9]*\)$|\1|p' "$log")
        [ -n "$srv_port" ] && return 0
        sleep 0.1
    done
    return 1
}

# What the server at $srv_port answers to the raw request bytes $1 (\r\n
# and \t written out), until it closes or 5 s pass.
raw_exchange() {
    python3 - "$srv_port" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].replace("\\r\\n", "\r\n").replace("\\t", "\t").encode())
s.settimeout(5)
got = b""
try:
    while True:
        d = s.recv(65536)
        if not d: break
        got += d
except OSError:
    pass
sys.stdout.write(got.decode(errors="replace").replace("\r", ""))
PY
}

smuggle_ok() {
    # Two Content-Length lines, or a space before a header's colon: 400 and a close, not a
    # second request read out of the body (RFC 9112 5.1, 6.3).
    local head log out ok=0
    log=$(mktemp)
    own_server "$log" || { rm -f "$log"; return 1; }
    for head in 'Content-Length: 0\r\nContent-Length: 39' 'Content-Length : 39'; do
        out=$(raw_exchange "GET /api/people/1 HTTP/1.1\r\nHost: x\r\n$head\r\n\r\nGET /api/people/4 HTTP/1.1\r\nHost: x\r\n\r\n")
        [ "$(head -n 1 <<<"$out")" = "HTTP/1.1 400 Bad Request" ] && ! grep -q Vader <<<"$out" || ok=1
    done
    kill -TERM "$srv_pid"
    wait "$srv_pid"
    rm -f "$log"
    return $ok
}
check "swapi_server: two lengths, or a space before a colon, get 400 (no request smuggled in a body)" smuggle_ok

host_ok() {
    # HTTP/1.1 with no Host or two, or a version that is no digit: 400. HTTP/1.0
    # needs no Host, and a later 1.x is answered as 1.1 (RFC 9112 3.2, RFC 9110 2.5).
    local log out ok=0 req
    log=$(mktemp)
    own_server "$log" || { rm -f "$log"; return 1; }
    for req in 'GET /api/people/1 HTTP/1.1\r\n\r\n' 'GET /api/people/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' \
               'GET /api/people/1 HTTP/1.x\r\nHost: a\r\n\r\n'; do
        out=$(raw_exchange "$req")
        [ "$(head -n 1 <<<"$out")" = "HTTP/1.1 400 Bad Request" ] && ! grep -q Skywalker <<<"$out" || ok=1
    done
    for req in 'GET /api/people/1 HTTP/1.0\r\n\r\n' 'GET /api/people/1 HTTP/1.9\r\nHost: a\r\nConnection: close\r\n\r\n'; do
        out=$(raw_exchange "$req")
        [ "$(head -n 1 <<<"$out")" = "HTTP/1.1 200 OK" ] && grep -q Skywalker <<<"$out" || ok=1
    done
    kill -TERM "$srv_pid"
    wait "$srv_pid"
    rm -f "$log"
    return $ok
}
check "swapi_server: HTTP/1.1 without a Host or with two gets 400; 1.0 needs none" host_ok

spec_ok() {
    # RFC 9112 and 9110 as nginx reads them: a folded header line gets 400 (5.2); close in
    # a Connection list, or on a second Connection line, closes (9.6); a 405 says what is
    # allowed; HTTP/2.0 in a request line gets 505; empty lines before a request are passed
    # over (2.2).
    local log out ok=0 req
    log=$(mktemp)
    own_server "$log" || { rm -f "$log"; return 1; }
    for req in 'GET /api/people/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n 0\r\n\r\nx' \
               'GET /api/people/1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tfolded\r\n\r\n'; do
        out=$(raw_exchange "$req")
        [ "$(head -n 1 <<<"$out")" = "HTTP/1.1 400 Bad Request" ] || ok=1
    done
    for req in 'GET /api/people/1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n' \
               'GET /api/people/1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n' \
               '\r\n\r\nGET /api/people/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'; do
        out=$(raw_exchange "$req")
        [ "$(head -n 1 <<<"$out")" = "HTTP/1.1 200 OK" ] && grep -q '^Connection: close$' <<<"$out" || ok=1
    done
    out=$(raw_exchange 'POST /api/people/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    [ "$(head -n 1 <<<"$out")" = "HTTP/1.1 405 Method Not Allowed" ] && grep -q '^Allow: GET, HEAD$' <<<"$out" || ok=1
    out=$(raw_exchange 'GET /api/people/1 HTTP/2.0\r\nHost: x\r\n\r\n')
    [ "$(head -n 1 <<<"$out")" = "HTTP/1.1 505 HTTP Version Not Supported" ] || ok=1
    kill -TERM "$srv_pid"
    wait "$srv_pid"
    rm -f "$log"
    return $ok
}
check "swapi_server: folded lines 400, close in any Connection line, Allow on 405, 505, empty lines before a request" spec_ok

echo "RESULT examples $passed $failed"
[ "$failed" -eq 0 ]
