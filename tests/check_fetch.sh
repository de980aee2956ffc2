#!/usr/bin/env bash
# fetch (examples/fetch.c) against real servers: nginx (files, gzip, TLS with
# certificates made now) and a scripted one (tests/fetch_server.py): the
# options (tests/check_examples.sh has --timeout and --read-timeout), the
# bytes on disk (sha256), the peak memory of a 256 MiB download, -w's fields,
# -v's heads, the progress meter on a terminal (script(1)) and off one, the
# exit code of each failure class, and side by side with curl: the same
# stdout bytes and exit code. Runs on the backend ASYNC_IO_BACKEND names
# (tests/run.sh runs it on both). Ends "RESULT fetch <passed> <failed>".
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
F=$PWD/$B/fetch
BIG_MIB=${FETCH_BIG_MIB:-256} # the large download: big enough that a buffered body would show
. tests/checklib.sh
T=$(mktemp -d /tmp/check_fetch_XXXXXX)
chmod 755 "$T" # nginx's workers read it
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---- the servers ----
python3 tests/fetch_server.py >"$T/py.out" 2>&1 &
pids+=($!)
free_ports=$(python3 -c 'import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
read -r NG_PORT GOOD_PORT OTHER_PORT DEAD_PORT <<<"$free_ports" # nobody listens on DEAD_PORT

mkdir -p "$T/www/dir" "$T/pki"
openssl rand -out "$T/www/big.bin" $((BIG_MIB << 20))
sha "$T/www/big.bin" >"$T/big.sha" & # while the rest starts
sha_pid=$!
printf 'a small file\n' >"$T/www/small.txt"
for i in $(seq 400); do echo "line $i of a text that compresses well"; done >"$T/www/text.txt"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
(
    cd "$T/pki" &&
        openssl req -x509 "${ec[@]}" -days 1 -subj "/CN=check_fetch CA" -keyout ca.key -out ca.pem &&
        for name in good other; do
            openssl req "${ec[@]}" -subj "/CN=$name" -keyout $name.key -out $name.csr &&
                if [ $name = good ]; then san=IP:127.0.0.1,DNS:localhost; else san=DNS:other.example; fi &&
                printf 'subjectAltName=%s\n' "$san" >$name.ext &&
                openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile $name.ext -out $name.pem || exit 1
        done
) >/dev/null 2>&1 || echo "FAIL openssl could not make the certificates"
tls() { printf 'server { listen 127.0.0.1:%s ssl; ssl_certificate %s; ssl_certificate_key %s; root %s; }' \
    "$1" "$T/pki/$2.pem" "$T/pki/$2.key" "$T/www"; }
cat >"$T/nginx.conf" <<EOF
daemon off; worker_processes 1; pid $T/nginx.pid; error_log $T/error.log crit;
events { worker_connections 64; }
http {
    access_log off; default_type application/octet-stream; types { text/plain txt; }
    client_body_temp_path $T; proxy_temp_path $T; fastcgi_temp_path $T; uwsgi_temp_path $T; scgi_temp_path $T;
    server { listen 127.0.0.1:$NG_PORT; root $T/www; gzip on; gzip_types text/plain; gzip_min_length 0; }
    $(tls "$GOOD_PORT" good)
    $(tls "$OTHER_PORT" other)
}
EOF
nginx -p "$T" -c "$T/nginx.conf" >/dev/null 2>&1 &
pids+=($!)

for _ in $(seq 100); do
    grep -q '^port ' "$T/py.out" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$NG_PORT") 2>/dev/null && break
    sleep 0.05
done
PY=http://127.0.0.1:$(sed -n 's/^port //p' "$T/py.out")
NG=http://127.0.0.1:$NG_PORT
GOOD=https://127.0.0.1:$GOOD_PORT
OTHER=https://127.0.0.1:$OTHER_PORT
DEAD=http://127.0.0.1:$DEAD_PORT
if [ "$PY" = http://127.0.0.1: ] || ! (exec 3<>"/dev/tcp/127.0.0.1/$NG_PORT") 2>/dev/null; then
    echo "FAIL the servers did not start"; cat "$T/py.out" "$T/error.log" 2>/dev/null
    echo "RESULT fetch $passed $((failed + 1))"
    exit 1
fi

# ---- the command line ----
help_ok() {
    run "$F" --help
    [ "$rc" -eq 0 ] && [ -z "$err" ] && [[ $out == "usage: fetch [OPTIONS] URL..."* ]] || return 1
    local o
    for o in -o --output -O --output-dir -i -I -w -f -s -S -# -v -X -H -A -e -u -d --data-binary \
        --data-urlencode --json -G -L --max-redirs --compressed -k --cacert -x --noproxy -m \
        --connect-timeout --retry --parallel-max -Z --parallel -g --globoff -h --help --version; do
        grep -qe "\\(^\\| \\)$o[ ,]" <<<"$out" || { out="not in --help: $o"; return 1; }
    done
    grep -q '^  28  timed out' <<<"$out"
}
check "-h/--help: the options, one line each, on stdout, exit 0" help_ok

version_ok() {
    run "$F" --version
    [ "$rc" -eq 0 ] && [[ $(sed -n 1p <<<"$out") =~ ^fetch\ [0-9]+\.[0-9]+\.[0-9]+ ]] &&
        grep -qx "backend: ${ASYNC_IO_BACKEND:-\\(io_uring\\|epoll\\)}" <<<"$out" &&
        grep -q '^TLS: on (OpenSSL ' <<<"$out" && grep -q '^zlib: on (' <<<"$out" || return 1
    out=$(ASYNC_IO_BACKEND=epoll "$F" --version)
    grep -qx "backend: epoll" <<<"$out"
}
check "--version: the version, the backend that runs (epoll when asked), TLS and zlib on" version_ok

unknown_ok() {
    run "$F" -W "$PY/echo"
    [ "$rc" -eq 2 ] && [ -z "$out" ] && [ "$err" = "fetch: unknown option '-W'"$'\n'"fetch: try 'fetch --help' for the options" ] || return 1
    run "$F" --bogus "$PY/echo"
    [ "$rc" -eq 2 ] && [[ $err == "fetch: unknown option '--bogus'"$'\n'* ]] || return 1
    run "$F" -sW "$PY/echo" # in a bundle of short options too
    [ "$rc" -eq 2 ] && [[ $err == "fetch: unknown option '-W'"$'\n'* ]]
}
check "an unknown option: named, with a hint, exit 2" unknown_ok

# As curl 7.88: a long option by a prefix that is no other's, --no-FLAG, "--"
# before URLs only, "-" alone an unknown option.
long_options_ok() {
    run "$F" -s --max-t 5 --compress --no-silent -o /dev/null -w '%{http_code}' "$PY/gzip"
    [ "$rc" -eq 0 ] && [ "$out" = 200 ] || return 1
    run "$F" --ver "$PY/echo" # --verbose or --version
    [ "$rc" -eq 2 ] && [[ $err == "fetch: unknown option '--ver'"$'\n'* ]] || return 1
    run "$F" -s -L --no-location -f --no-fail "$PY/redir/1"
    [ "$rc" -eq 0 ] && [ "$out" = "redirect 1" ] || return 1
    run "$F" -s -v --no-verb "$PY/echo" # --no- takes a whole name
    [ "$rc" -eq 2 ] && [[ $err == "fetch: unknown option '--no-verb'"$'\n'* ]] || return 1
    run "$F" -s --no-max-time 5 "$PY/echo" # and a flag's
    [ "$rc" -eq 2 ] && [[ $err == "fetch: --no-max-time: the option is not one that is on or off"$'\n'* ]] || return 1
    run "$F" -s -o /dev/null -w '%{urlnum} %{url_effective} %{exitcode}\n' -- "$PY/files/a" -v
    [ "$rc" -eq 6 ] && [ "$out" = "0 $PY/files/a 0"$'\n'"1 http://-v/ 6" ] || return 1
    run "$F" - "$PY/echo"
    [ "$rc" -eq 2 ] && [ "$err" = "fetch: unknown option '-'"$'\n'"fetch: try 'fetch --help' for the options" ] || return 1
    run "$F" -sZg --no-parallel --no-globoff "$PY/files/{a}"
    [ "$rc" -eq 0 ] && [ "$out" = "file {a}" ]
}
check "long options as curl: a prefix (--max-t, not --ver), --no-FLAG, --, - alone; -Z -g taken" long_options_ok

usage_ok() {
    run "$F" "$PY/echo" -o
    [ "$rc" -eq 2 ] && [[ $err == "fetch: -o needs a value"* ]] || return 1
    run "$F" --max-redirs many "$PY/echo"
    [ "$rc" -eq 2 ] && [[ $err == "fetch: --max-redirs: 'many' is not a count"* ]] || return 1
    run "$F" -I -d x "$PY/echo"
    [ "$rc" -eq 2 ] && [[ $err == *"two methods"* ]] || return 1
    run "$F" -s --fail-with-body -f "$PY/status/404" # as curl: "is badly used here"
    [ "$rc" -eq 2 ] && [ -z "$out" ] && [[ $err == "fetch: --fail and --fail-with-body"* ]] || return 1
    run "$F" -s
    [ "$rc" -eq 2 ] && [[ $err == "usage: fetch [OPTIONS] URL..."* ]]
}
check "usage errors: a missing value, a bad count, -I with -d, -f with --fail-with-body, no URL (exit 2)" usage_ok

bundle_ok() {
    run "$F" -sSLo "$T/bundle.out" "$PY/redir/2"
    [ "$rc" -eq 0 ] && [ "$(cat "$T/bundle.out")" = landed ] || return 1
    run "$F" -sw'%{http_code}' "$PY/files/a" -o/dev/null
    [ "$rc" -eq 0 ] && [ "$out" = 200 ]
}
check "short options together (-sSLo FILE) and values attached (-w'...', -o/dev/null)" bundle_ok

readme_ok() {
    local section o code
    section=$(awk '/^### The `fetch` tool/ { on = 1; next } on && /^### / { exit } on' README.md)
    run "$F" --help
    for o in $(grep -o -- '--[a-z][a-z-]*' <<<"$out" | sort -u); do
        # the whole name: --head must not pass on --header's account
        grep -qE -- "$o([^a-z-]|\$)" <<<"$section" || { out="README lacks $o"; return 1; }
    done
    for code in $(sed -n 's/^  *\([0-9][0-9]*\)  .*/\1/p' <<<"$out"); do
        grep -q "^| $code |" <<<"$section" || { out="README lacks exit code $code"; return 1; }
    done
}
check "README's fetch section names every option and exit code of --help" readme_ok

# ---- output ----
big_ok() {
    local rss
    [ -x /usr/bin/time ] || { out="/usr/bin/time is missing (apt-get install time): it measures the peak RSS"; return 1; }
    /usr/bin/time -f %M -o "$T/rss" "$F" -s -o "$T/big.out" "$NG/big.bin" 2>"$T/stderr"
    rc=$?
    rss=$(tail -n 1 "$T/rss")
    out="peak RSS $rss KiB for $BIG_MIB MiB"
    echo "NOTE fetch -o: peak RSS ${rss} KiB for a ${BIG_MIB} MiB body (${ASYNC_IO_BACKEND:-default backend})"
    wait "$sha_pid"
    [ "$rc" -eq 0 ] && [ "$(sha "$T/big.out")" = "$(cat "$T/big.sha")" ] && [ "$rss" -lt 40960 ]
}
check "-o: a ${BIG_MIB} MiB body streamed to disk: the same sha256, peak RSS under 40 MiB" big_ok
rm -f "$T/big.out"

remote_name_ok() {
    mkdir -p "$T/o1" && cd "$T/o1" || return 1
    run "$F" -s -O "$PY/files/report.txt?x=1#top" -O "$NG/small.txt"
    cd - >/dev/null || return 1
    [ "$rc" -eq 0 ] && [ "$(ls "$T/o1" | tr '\n' ' ')" = "report.txt small.txt " ] &&
        [ "$(cat "$T/o1/report.txt")" = "file report.txt" ] && [ "$(sha "$T/o1/small.txt")" = "$(sha "$T/www/small.txt")" ] || return 1
    run "$F" -s --output-dir "$T/o2/deep" --create-dirs -O "$NG/text.txt" -o named "$PY/files/b"
    [ "$rc" -eq 0 ] && [ "$(sha "$T/o2/deep/text.txt")" = "$(sha "$T/www/text.txt")" ] &&
        [ "$(cat "$T/o2/deep/named")" = "file b" ] || return 1
    run "$F" -O "$PY/"
    [ "$rc" -eq 23 ] && [ "$err" = "fetch: $PY/: -O: the URL has no file name" ]
}
check "-O: the URL's last segment (no query); --output-dir, --create-dirs; no name: exit 23" remote_name_ok

order_ok() {
    run "$F" -s -o "$T/first.out" "$PY/files/1" "$PY/slow?ms=200" "$PY/files/3" -o - -w '<%{url_effective}>'
    [ "$rc" -eq 0 ] && [ "$out" = "<$PY/files/1>slow"$'\n'"<$PY/slow?ms=200>file 3"$'\n'"<$PY/files/3>" ] &&
        [ "$(cat "$T/first.out")" = "file 1" ]
}
check "-o per URL in order (- is stdout); the rest and -w on stdout in argument order" order_ok

write_error_ok() {
    run "$F" -o "$T/no/such/dir/x" "$PY/files/a"
    [ "$rc" -eq 23 ] && [ "$err" = "fetch: $PY/files/a: cannot write $T/no/such/dir/x: No such file or directory" ] || return 1
    "$F" "$NG/text.txt" >/dev/full 2>"$T/stderr"
    rc=$? err=$(cat "$T/stderr")
    [ "$rc" -eq 23 ] && [[ $err == *"No space left on device" ]] || return 1
    run "$F" -o /dev/full -w '%{size_download}' "$NG/big.bin" # stops at the first failed write
    [ "$rc" -eq 23 ] && [ "$err" = "fetch: $NG/big.bin: cannot write /dev/full: No space left on device" ] &&
        [ "$out" -lt $((BIG_MIB << 19)) ]
}
check "a file or stdout that cannot be written: exit 23, the transfer stopped" write_error_ok

empty_ok() {
    rm -f "$T/empty.out" "$T/fail.out"
    run "$F" -s -o "$T/empty.out" "$PY/status/204"
    [ "$rc" -eq 0 ] && [ -f "$T/empty.out" ] && [ ! -s "$T/empty.out" ] || return 1
    run "$F" -s -f -o "$T/fail.out" "$PY/status/404"
    [ "$rc" -eq 22 ] && [ ! -e "$T/fail.out" ]
}
check "-o: an empty body makes an empty file; -f on a 404 makes none" empty_ok

# ---- the progress meter ----
DRIP="$PY/drip?n=6&ms=50" # 384 KiB over 0.3 s; the check reads the meter's last line
on_tty() { script -qec "$1" /dev/null </dev/null; }

meter_ok() {
    out=$(on_tty "'$F' -o '$T/drip.out' '$DRIP'")
    [ "$(stat -c %s "$T/drip.out")" -eq 393216 ] && [[ $out == *$'\r'* ]] &&
        grep -q '100%.*384\.0 KiB of 384\.0 KiB.*/s  ETA 0:00:00  1/1 done' <<<"$out" || return 1
    out=$(on_tty "'$F' -# -o '$T/drip.out' '$PY/drip?n=2&ms=0'")
    [[ $out == *"################################################## 100.0%"* ]]
}
check "progress meter on a terminal: bytes, rate, ETA; -# a bar" meter_ok

# When on, the meter always draws its last line: a quick transfer shows that it is off.
meter_quiet_ok() {
    out=$(on_tty "'$F' -s -o '$T/quiet.out' '$PY/files/a'")
    [ -z "$out" ] || return 1
    out=$(on_tty "'$F' --no-progress-meter -o '$T/quiet.out' '$PY/files/a'")
    [ -z "$out" ] || return 1
    out=$(on_tty "'$F' -v -o '$T/quiet.out' '$PY/files/a'") # -v's lines, no meter among them
    [[ $out == *"< HTTP/1.1 200 OK"* ]] && [[ $out != *ETA* ]] || return 1
    out=$(on_tty "'$F' '$PY/files/a'") # the body on the terminal: no meter over it
    [ "$(tr -d '\r' <<<"$out")" = "file a" ] || return 1
    out=$(on_tty "'$F' -sS -o '$T/quiet.out' '$DEAD/x'")
    [ "$(tr -d '\r' <<<"$out")" = "fetch: $DEAD/x: connection refused: 127.0.0.1 port $DEAD_PORT" ] || return 1
    run "$F" -o "$T/quiet.out" "$PY/files/a" # stderr not a terminal
    [ "$rc" -eq 0 ] && [ -z "$err" ] || return 1
    run "$F" -s -d @"$T/no-such-file" "$PY/echo" # -s: no error line of any kind, as curl
    [ "$rc" -eq 26 ] && [ -z "$err" ] || return 1
    run "$F" -s -x 'http://[bad' "$PY/echo"
    [ "$rc" -eq 3 ] && [ -z "$err" ] || return 1
    run "$F" -sS -d @"$T/no-such-file" "$PY/echo"
    [ "$rc" -eq 26 ] && [[ $err == "fetch: cannot read $T/no-such-file"* ]]
}
check "no meter with -s, --no-progress-meter, -v, a body on the terminal, or stderr not one; -sS: errors only; -s hides every error" meter_quiet_ok

# ---- heads ----
verbose_ok() {
    run "$F" -v -A t "$PY/echo"
    local port=${PY##*:}
    [ "$rc" -eq 0 ] && [[ $out == "GET /echo"* ]] &&
        grep -qx "\\* Connected to 127.0.0.1 port $port" <<<"$err" && grep -qx '> GET /echo HTTP/1.1' <<<"$err" &&
        grep -qx "> Host: 127.0.0.1:$port" <<<"$err" && grep -qx '> Accept: \*/\*' <<<"$err" &&
        grep -qx '< HTTP/1.1 200 OK' <<<"$err" && grep -qx '< Content-Type: text/plain' <<<"$err" || return 1
    run "$F" -v --cacert "$T/pki/ca.pem" "$GOOD/small.txt"
    [ "$rc" -eq 0 ] && grep -q '^\* TLS: TLSv1\.[23] .*ALPN http/1.1' <<<"$err" && grep -qx '< HTTP/1.1 200 OK' <<<"$err" || return 1
    run "$F" -v -L "$PY/redir/1"
    grep -qx "\\* Following the redirect to $PY/redir/0" <<<"$err" && grep -qx '< HTTP/1.1 302 Found' <<<"$err" || return 1
    run "$F" -v -x "$PY" https://example.invalid/ # the proxy's exchange too, as curl shows it
    grep -qx '> CONNECT example.invalid:443 HTTP/1.1' <<<"$err" && grep -qx '< HTTP/1.1 403 Forbidden' <<<"$err"
}
check "-v: both heads (> and <), the connection, TLS, the redirect, a proxy's CONNECT; the body alone on stdout" verbose_ok

head_ok() {
    run "$F" -I -w '%{method}' "$PY/status/200"
    [ "$rc" -eq 0 ] && [ "$out" = $'HTTP/1.1 200 OK\nContent-Length: 11\n\nHEAD' ] || return 1
    run "$F" -i -L "$PY/redir/1"
    [ "$out" = $'HTTP/1.1 302 Found\nLocation: /redir/0\nContent-Length: 11\n\nHTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 7\n\nlanded' ] || return 1
    run "$F" -s -i -o "$T/head.out" "$PY/files/x"
    [ -z "$out" ] && [ "$(cat "$T/head.out")" = $'HTTP/1.1 200 OK\nContent-Length: 7\n\nfile x' ]
}
check "-I: the head alone; -i -L: each head, then the last body; -i -o: into the file" head_ok

# ---- -w ----
num='[0-9]+\.[0-9]{6}'
write_out_ok() {
    local w='%{http_code} %{url_effective} %{size_download} %{time_total} %{time_connect} %{time_appconnect} %{num_redirects} %{remote_ip}\n'
    run "$F" -s -L -w "$w" "$PY/redir/2"
    [[ $out =~ ^landed$'\n'200\ $PY/redir/0\ 7\ ($num)\ ($num)\ 0\.000000\ 2\ 127\.0\.0\.1$ ]] || return 1
    awk -v t="${BASH_REMATCH[1]}" -v c="${BASH_REMATCH[2]}" 'BEGIN { exit !(c > 0 && c <= t && t < 5) }' || return 1
    run "$F" -s --cacert "$T/pki/ca.pem" -o /dev/null -w "$w" "$GOOD/text.txt"
    [[ $out =~ ^200\ $GOOD/text.txt\ $(stat -c %s "$T/www/text.txt")\ ($num)\ ($num)\ ($num)\ 0\ 127\.0\.0\.1$ ]] || return 1
    awk -v t="${BASH_REMATCH[1]}" -v c="${BASH_REMATCH[2]}" -v a="${BASH_REMATCH[3]}" \
        'BEGIN { exit !(c > 0 && c <= a && a <= t && t < 5) }' || return 1
    run "$F" -s -w '%{http_code} %{exitcode} %{errormsg} %{time_total}\n' "$DEAD/"
    [ "$rc" -eq 7 ] && [[ $out =~ ^000\ 7\ connection\ refused:\ 127\.0\.0\.1\ port\ $DEAD_PORT\ $num$ ]] || return 1
    run "$F" -s -w '%{bogus}|%{method} %{scheme} %{http_version} %header{content-type}%{stderr}to stderr' -d x "$PY/echo" -o /dev/null
    [ "$out" = "|POST HTTP 1.1 text/plain" ] && [ "$err" = "fetch: unknown --write-out variable: 'bogus'"$'\n'"to stderr" ]
}
check "-w: the fields parse and are plausible (http, https, -L, a failure); %{stderr}, %header{}" write_out_ok

# ---- -f ----
fail_ok() {
    run "$F" -f "$PY/status/404"
    [ "$rc" -eq 22 ] && [ -z "$out" ] && [ "$err" = "fetch: $PY/status/404: the requested URL returned error: 404 Not Found" ] || return 1
    run "$F" -s --fail-with-body "$PY/status/500"
    [ "$rc" -eq 22 ] && [ "$out" = "status 500" ] && [ -z "$err" ] || return 1
    run "$F" "$PY/status/404"
    [ "$rc" -eq 0 ] && [ "$out" = "status 404" ]
}
check "-f: exit 22 on a 404 and no body; --fail-with-body keeps it; without -f a 404 is an answer" fail_ok

# ---- redirects ----
redirects_ok() {
    run "$F" -s "$PY/redir/2"
    [ "$rc" -eq 0 ] && [ "$out" = "redirect 2" ] || return 1
    run "$F" -s -L -o "$T/redir.out" "$PY/redir/3?code=301"
    [ "$rc" -eq 0 ] && [ "$(cat "$T/redir.out")" = landed ] || return 1
    run "$F" -L --max-redirs 2 "$PY/redir/3"
    [ "$rc" -eq 47 ] && [ -z "$out" ] && [[ $err == "fetch: $PY/redir/3: too many redirects: more than 2"* ]] || return 1
    run "$F" -L --max-redirs 0 "$PY/redir/1"
    [ "$rc" -eq 47 ] && [ -z "$out" ] || return 1
    run "$F" -L --max-redirs 0 "$PY/files/a"
    [ "$rc" -eq 0 ] && [ "$out" = "file a" ]
}
check "redirects: not followed without -L; -L -o keeps only the last body; --max-redirs N: exit 47" redirects_ok

# ---- the request ----
echo_ok() {
    printf 'X-From-File: 1\r\n\nX-Second: two\n' >"$T/headers"
    run "$F" -s -A 'agent/1' -e 'http://from/' -u 'ann:s3cret' -H 'X-One: 1' -H 'Accept:' -H 'X-Empty;' -H @"$T/headers" "$PY/echo"
    [ "$out" = "GET /echo
authorization: Basic YW5uOnMzY3JldA==
host: 127.0.0.1:${PY##*:}
referer: http://from/
user-agent: agent/1
x-empty: 
x-from-file: 1
x-one: 1
x-second: two" ] || return 1
    run "$F" -s "$PY/echo"
    grep -qx 'user-agent: fetch/[0-9.]*' <<<"$out" && grep -qx 'accept: \*/\*' <<<"$out" && ! grep -q accept-encoding <<<"$out" || return 1
    run "$F" -s -H 'User-Agent:' "$PY/echo"
    [ "$rc" -eq 0 ] && grep -q '^host: ' <<<"$out" && ! grep -qi '^user-agent' <<<"$out" || return 1
    run "$F" -s -u 'ann' "$PY/echo" # no password: an empty one, as curl sends when not asked
    grep -qx 'authorization: Basic YW5uOg==' <<<"$out"
}
check "-A -e -u -H (NAME: drops, NAME; empty, @FILE; User-Agent: drops the default; -u USER alone); the default User-Agent, Accept, no Accept-Encoding" echo_ok

lenient_ok() {
    # As curl takes them: 0 seconds is no limit, -H "" and -e '' add nothing, NAME=TEXT with an @
    # in NAME is still NAME=TEXT, and a head of 150 fields and 30 KiB is read.
    run "$F" -s -m 0 --connect-timeout 0 --read-timeout 0 -H "" -H "X-Kept: 1" -e '' "$PY/echo"
    [ "$rc" -eq 0 ] && grep -qx 'x-kept: 1' <<<"$out" && ! grep -q '^referer' <<<"$out" || return 1
    run "$F" -s --data-urlencode 'a@b=c d' "$PY/echo"
    [ "$rc" -eq 0 ] && grep -qx 'a@b=c+d' <<<"$out" || return 1 # NAME as it is, TEXT encoded
    run "$F" -s -o /dev/null -w '%{http_code}' "$PY/cookies"
    [ "$rc" -eq 0 ] && [ "$out" = 200 ]
}
check "-m 0, -H '', -e '', --data-urlencode NAME@=TEXT, a head of 150 fields: as curl" lenient_ok

data_ok() {
    printf 'a=1\r\nb=2\n' >"$T/data"
    run "$F" -s -d @"$T/data" -d c=3 "$PY/echo"
    [ "$(head -n 1 <<<"$out")" = "POST /echo" ] && grep -qx 'content-type: application/x-www-form-urlencoded' <<<"$out" &&
        [ "$(tail -n 1 <<<"$out")" = "a=1b=2&c=3" ] || return 1
    run "$F" -s --data-binary @"$T/data" "$PY/echo"
    [[ $out == *$'\n\na=1\r\nb=2' ]] || return 1
    run "$F" -s --json '{"a":' --json ' 1}' "$PY/echo"
    grep -qx 'content-type: application/json' <<<"$out" && grep -qx 'accept: application/json' <<<"$out" &&
        [ "$(tail -n 1 <<<"$out")" = '{"a": 1}' ] || return 1
    run "$F" -s -G --data-urlencode 'q=a b&c' --data-urlencode @"$T/data" -d x=y "$PY/echo?k=v"
    [ "$(head -n 1 <<<"$out")" = "GET /echo?k=v&q=a+b%26c&a%3d1%0d%0ab%3d2%0a&x=y" ] || return 1
    run "$F" -s -X PUT --data-raw @raw "$PY/echo"
    [ "$(head -n 1 <<<"$out")" = "PUT /echo" ] && [ "$(tail -n 1 <<<"$out")" = "@raw" ] || return 1
    out=$(printf 'from stdin' | "$F" -s -d @- "$PY/echo")
    [ "$(tail -n 1 <<<"$out")" = "from stdin" ]
}
check "-d (@FILE without newlines, joined by &), --data-binary, --json, -G --data-urlencode, --data-raw, -X, @-" data_ok

no_scheme_ok() {
    run "$F" -s "127.0.0.1:${PY##*:}/files/plain"
    [ "$rc" -eq 0 ] && [ "$out" = "file plain" ]
}
check "a URL without a scheme is http://" no_scheme_ok

# ---- the connection ----
compressed_ok() {
    run "$F" -s --compressed -w '\n%{size_download}' "$NG/text.txt"
    [ "$(head -n -1 <<<"$out")" = "$(cat "$T/www/text.txt")" ] && [ "$(tail -n 1 <<<"$out")" -lt 4000 ] || return 1
    run "$F" -s -o "$T/gz.out" "$PY/gzip"
    [ "$(head -c 2 "$T/gz.out" | od -An -tx1 | tr -d ' ')" = 1f8b ] || return 1
    run "$F" -s --compressed "$PY/gzip"
    [ "$out" = "$(for _ in $(seq 100); do echo 'hello gzip'; done)" ]
}
check "--compressed: asked for, decoded (nginx, a scripted gzip); without it the bytes as sent" compressed_ok

tls_ok() {
    run "$F" -s --cacert "$T/pki/ca.pem" "$GOOD/small.txt"
    [ "$rc" -eq 0 ] && [ "$out" = "a small file" ] || return 1
    run "$F" "$GOOD/small.txt"
    [ "$rc" -eq 60 ] && [[ $err == *"not trusted"* ]] || return 1
    run "$F" --cacert "$T/pki/ca.pem" "$OTHER/small.txt"
    [ "$rc" -eq 60 ] && [[ $err == *"not for this host"* ]] || return 1
    run "$F" -s -k "$OTHER/small.txt"
    [ "$rc" -eq 0 ] && [ "$out" = "a small file" ] || return 1
    run "$F" -s --capath "$T/pki" "$GOOD/small.txt" # no hashed links in it: not trusted
    [ "$rc" -eq 60 ] || return 1
    run "$F" --cacert "$T/no-such-ca.pem" "$GOOD/small.txt" # as curl: 77, the file named
    [ "$rc" -eq 77 ] && [[ $err == *"TLS error: cannot load the trusted certificates $T/no-such-ca.pem: No such file or directory" ]] || return 1
    run "$F" "https://${NG#http://}/" # a server that does not speak TLS
    [ "$rc" -eq 35 ]
}
check "https: --cacert, -k, --capath; an untrusted or misnamed certificate (60), an unreadable CA file (77), no TLS (35)" tls_ok

proxy_ok() {
    run "$F" -s -x "$PY" http://example.invalid/echo
    [ "$(head -n 1 <<<"$out")" = "GET http://example.invalid/echo" ] || return 1
    run "$F" -s -x "${PY#http://}" --noproxy 127.0.0.1 "$NG/small.txt"
    [ "$out" = "a small file" ] || return 1
    out=$(http_proxy=$PY "$F" -s http://example.invalid/echo)
    [ "$(head -n 1 <<<"$out")" = "GET http://example.invalid/echo" ] || return 1
    run "$F" -x "$PY" https://example.invalid/
    [ "$rc" -eq 56 ] && [[ $err == *"the proxy refused"* ]]
}
check "-x (with and without http://), --noproxy, http_proxy; a refused CONNECT (56)" proxy_ok

proxy_as_curl_ok() {
    run env no_proxy=127.0.0.1 "$F" -s -x "127.0.0.1:$DEAD_PORT" "$NG/small.txt" # no_proxy counts with -x
    [ "$out" = "a small file" ] || return 1
    run "$F" -s -x "127.0.0.1:$DEAD_PORT" --noproxy 10.0.0.1,127.0.0.0/8 "$NG/small.txt" # a network, as curl 7.86
    [ "$out" = "a small file" ] || return 1
    run env http_proxy="127.0.0.1:$DEAD_PORT" "$F" -s -x "" "$NG/small.txt" # -x "": no proxy at all
    [ "$out" = "a small file" ] || return 1
    run env https_proxy=https://127.0.0.1:1 http_proxy=socks5://127.0.0.1:1 "$F" -s "$NG/small.txt"
    [ "$out" = "a small file" ] || return 1 # proxies it cannot use are left out, not fatal
    run "$F" -x 127.0.0.1 "$NG/small.txt" # no port: curl's 1080
    [ "$rc" -eq 7 ] && [[ $err == *"connection refused: 127.0.0.1 port 1080" ]] || return 1
    run "$F" -x 'u@x:pw@127.0.0.1' "$NG/small.txt" # the last '@' ends the credentials
    [ "$rc" -eq 7 ] && [[ $err == *"connection refused: 127.0.0.1 port 1080" ]] || return 1
    run "$F" -x http://proxy.invalid:3128 "$NG/small.txt"
    [ "$rc" -eq 5 ] && [[ $err == *"the proxy's host name (proxy.invalid)" ]]
}
check "proxies as curl: no_proxy with -x, a network in --noproxy, -x \"\", an unusable one from the environment, 1080 by default, its name unknown (5)" proxy_as_curl_ok

timeouts_ok() {
    run "$F" -m 0.1 "$PY/slow?ms=1000"
    [ "$rc" -eq 28 ] && [[ $err == *"total timeout (0.1 s)"* ]] || return 1
    run "$F" --connect-timeout 0.1 "https://${PY#http://}/" # the TLS handshake never ends
    [ "$rc" -eq 28 ] && [[ $err == *"connect timeout (0.1 s)"* ]] || return 1
    # -m is each transfer's, from its own start: not the wait for its turn (1.2 s for the last)
    run "$F" -s --parallel-max 1 -m 1 "$PY/slow?ms=400&a" "$PY/slow?ms=400&b" "$PY/slow?ms=400&c"
    [ "$rc" -eq 0 ] && [ "$out" = $'slow\nslow\nslow' ]
}
check "-m and --connect-timeout (the handshake is part of the connect): exit 28; -m from each transfer's turn" timeouts_ok

retry_ok() {
    run "$F" --retry 2 --retry-delay 0.05 "$PY/flaky/r1/2"
    [ "$rc" -eq 0 ] && [ "$out" = $'try 1\ntry 2\nok after 2' ] &&
        [ "$(grep -c "^fetch: $PY/flaky/r1/2: HTTP 503; retrying in 0.05 s" <<<"$err")" -eq 2 ] || return 1
    run "$F" -s --retry 3 --retry-delay 0 -o "$T/retry.out" "$PY/flaky/r2/1"
    [ "$rc" -eq 0 ] && [ "$(cat "$T/retry.out")" = "ok after 1" ] || return 1
    run "$F" --retry 1 -o /dev/null "$PY/flaky/r4/1?after=0" # the server's Retry-After
    [ "$rc" -eq 0 ] && [[ $err == *"HTTP 503; retrying in 0 s (0 retries left)" ]] || return 1
    run "$F" -f --retry 1 --retry-delay 0 "$PY/flaky/r3/5"
    [ "$rc" -eq 22 ] && [ "$(grep -c retrying <<<"$err")" -eq 1 ] || return 1
    run "$F" --retry 2 --retry-delay 0 "$DEAD/"
    [ "$rc" -eq 7 ] && ! grep -q retrying <<<"$err" || return 1
    run "$F" --retry 1 --retry-delay 0 --retry-connrefused "$DEAD/"
    [ "$rc" -eq 7 ] && [ "$(grep -c retrying <<<"$err")" -eq 1 ] || return 1
    run "$F" --retry 1 --retry-delay 0 -m 0.1 "$PY/slow?ms=1000"
    [ "$rc" -eq 28 ] && [ "$(grep -c retrying <<<"$err")" -eq 1 ]
}
check "--retry: 503 and timeouts retried (a file starts over; Retry-After), refused only with --retry-connrefused" retry_ok

# Each request waits at the server until a third (or all four) are in flight at
# once: with the limit two at a time wait out the 500 ms, without it all four
# meet at once; a broken limit lets a third in.
parallel_ok() {
    local tag=$RANDOM$RANDOM a b
    a="$PY/conc/a$tag?until=3&ms=500" b="$PY/conc/b$tag?until=4&ms=5000"
    run "$F" -s --parallel-max 2 "$a" "$a" "$a" "$a"
    [ "$rc" -eq 0 ] && [ "$("$F" -s "$PY/maxconc/a$tag")" = 2 ] || return 1
    run "$F" -s "$b" "$b" "$b" "$b"
    [ "$rc" -eq 0 ] && [ "$("$F" -s "$PY/maxconc/b$tag")" = 4 ]
}
check "--parallel-max 2: two requests at a time (four without it)" parallel_ok

# ---- exit codes, one per class ----
codes_ok() {
    local code args
    while IFS='|' read -r code args; do
        eval "set -- $args"
        run "$F" "$@"
        [ "$rc" -eq "$code" ] && [[ $err == "fetch: "* ]] || { out="expected $code from fetch $args"; return 1; }
    done <<EOF
1|foo://example.invalid/
3|'http://[::1'
6|http://nosuchhost.invalid/
7|$DEAD/
8|$PY/bad
8|$PY/chunks/and-length
18|$PY/cut
22|-f $PY/status/503
23|-o $T/no/dir/x $PY/files/a
26|-d @$T/no/such/file $PY/echo
28|-m 0.1 '$PY/slow?ms=1000'
35|https://${NG#http://}/
43|-H 'Bad Name: x' $PY/echo
47|-L --max-redirs 1 $PY/redir/2
52|$PY/silent
56|-x $PY https://example.invalid/
56|$PY/chunks/bad
56|$PY/bighead
60|$GOOD/small.txt
61|--compressed $PY/badgzip
61|--compressed $PY/coding/br
2|--no-such-option $PY/echo
EOF
    run "$F" -s "$DEAD/" "$PY/files/a" -f "$PY/status/404" "$PY/files/b" # the last to fail, in argument order
    [ "$rc" -eq 22 ] && [ "$out" = $'file a\nfile b' ]
}
check "exit codes: one per class (curl's numbers: bad chunks and a head too large 56, a head's framing 8, a coding not decoded 61); several URLs: the last failure's" codes_ok

# What fetch does with -X and a body on a redirect (README, "Unlike curl"): the library's rules.
redirect_method_ok() {
    run "$F" -s -L -X PUT -d x "$PY/moved?code=302&to=/echo"
    [ "$(head -n 1 <<<"$out")" = "PUT /echo" ] && [ "$(tail -n 1 <<<"$out")" = x ] || return 1
    run "$F" -s -L -X PUT -d x "$PY/moved?code=303&to=/echo"
    [ "$(head -n 1 <<<"$out")" = "GET /echo" ] && ! grep -q '^content-length' <<<"$out"
}
check "-L -X PUT -d x: a 302 keeps the method and the body, a 303 makes a GET without it" redirect_method_ok

# ---- side by side with curl: the same stdout bytes and exit code ----
printf 'k=v\r\n&w=1\n' >"$T/form"
printf '{"from": "a file"}\n' >"$T/body.json"
printf 'X-A: 1\nX-B: 2\n' >"$T/hfile"
same=(
    "-A t $PY/echo"
    "-A t -d a=1 -d b=2 $PY/echo"
    "-A t -d @$T/form --data-binary @$T/form $PY/echo"
    "-A t --data-urlencode 'q=a b&c' --data-urlencode =x/y --data-urlencode n@$T/form -G $PY/echo?z=1"
    "-A t --data-urlencode 'p=a/b:c' $PY/echo"
    "-A t --json '{\"a\":1}' $PY/echo"
    "-A t --json @$T/body.json $PY/echo"
    "-A t -H 'X-One: 1' -H Accept: -H X-Empty\\; -H @$T/hfile $PY/echo"
    "-A t -u ann:secret -e http://ref/ $PY/echo"
    "-A t -X PUT -d x $PY/echo"
    "-A t -X DELETE $PY/echo"
    "-A t 127.0.0.1:${PY##*:}/echo"
    "$PY/redir/2"
    "-L $PY/redir/3 -w '%{http_code} %{num_redirects} %{url_effective} %{size_download}\\n'"
    "-A t -L -d x $PY/redir/1?code=307"
    "-A t -L -d x $PY/redir/1?code=303"
    "-L --max-redirs 1 $PY/redir/3"
    "-L --max-redirs 0 $PY/redir/3"
    "-w '%{redirect_url} %{http_code}\\n' $PY/redir/2?abs=1"
    "-L --max-redirs 1 -w '%{redirect_url} %{http_code} %{num_redirects}\\n' $PY/redir/3"
    "-L -o /dev/null -w '%{num_connects}\\n' $PY/redir/3"
    "-f $PY/status/404"
    "--fail-with-body $PY/status/500"
    "-w '%{http_code}\\n' $PY/status/404"
    "-o /dev/null -w '%{size_download} %{http_code} %{content_type} %{http_version} %{scheme} %{num_connects}\\n' $NG/small.txt"
    "$NG/no-such-file"
    "$NG/text.txt"
    "--compressed $NG/text.txt"
    "$PY/gzip"
    "--compressed $PY/gzip"
    "--compressed $PY/badgzip"
    "--cacert $T/pki/ca.pem $GOOD/small.txt $NG/small.txt"
    "-k $OTHER/small.txt"
    "$OTHER/small.txt"
    "--cacert $T/pki/ca.pem $OTHER/small.txt"
    "https://${NG#http://}/"
    "-x $PY https://example.invalid/"
    "$DEAD/"
    "http://nosuchhost.invalid/"
    "foo://example.invalid/"
    "'http://[::1'"
    "-m 0.1 $PY/slow?ms=1000"
    "$PY/cut"
    "$PY/silent"
    "-sSf $PY/files/a $PY/status/404"
    "--bogus $PY/echo"
    "-A t -- $PY/echo"
    "-A t --verb $PY/echo"
    "-L --no-location $PY/redir/1"
    "-"
    "--fail --fail-with-body $PY/status/404"
    "--parallel-max 0 $PY/files/a"
    "-Z -g $PY/files/{a}"
    "$PY/chunks/bad"
    "$PY/bighead"
    "--compressed $PY/coding/foo"
    "-A t -d a --json b $PY/echo"
    "-A t -e 'http://ref/;auto' $PY/echo"
    "-A t -e ';auto' $PY/echo"
    "-A t $PY/echo/../files/x"
    "-A t -G -d b=2 $PY/echo?"
    "-A t -G -d '' $PY/echo?"
    "-A t --compressed -H Accept-Encoding: $PY/echo"
    "-o /dev/null -w '%{url_effective}\\n' HTTP://127.0.0.1:${PY##*:}/a/./b/../../files/a#top"
    "-o /dev/null -w '%{url_effective}\\n' http://127.0.0.1:${PY##*:}"
    "-A t -o /dev/null -w '%{size_request}\\n' -d abc $PY/echo"
    "-f -w '%{size_download}\\n' $PY/status/404"
    "-w '%{remote_port}|%{scheme}|%{http_version}\\n' $DEAD/"
    "-w '%{http_version}|%header{content-length}|%{num_headers}\\n' $PY/cut"
    "-L --max-redirs 0 -w '%{http_version}|%{content_type}\\n' '$PY/moved?code=301&to=/echo'"
    "-o /dev/null -w '%{redirect_url}\\n' '$PY/moved?code=302&to=/next%23frag#orig'"
    "-o /dev/null -w '%{redirect_url}\\n' '$PY/moved?code=302&to=/next#orig'"
    "-m 0.3 -o /dev/null -w '%{http_version}|%header{content-length}\\n' '$PY/drip?n=10&ms=100'"
    "--compressed -w '%{http_version}|%header{content-encoding}\\n' $PY/coding/foo"
    "-A t -w '%{urlnum} %{num_headers}\\n' $PY/files/a $PY/echo"
    "-m 5000000000 --connect-timeout 1e12 $PY/files/a"
)
# The same stdout bytes and exit code as curl for the invocation in $args.
curl_same_ok() {
    local mine theirs mine_rc
    eval "set -- $args"
    mine=$("$F" -s "$@" 2>/dev/null | od -c; exit "${PIPESTATUS[0]}")
    mine_rc=$?
    theirs=$(curl -s "$@" 2>/dev/null | od -c; exit "${PIPESTATUS[0]}")
    rc=$?
    out="fetch exit $mine_rc, curl exit $rc"$'\n'"$(diff <(echo "$mine") <(echo "$theirs") | head -n 20)"
    err=
    [ "$mine" = "$theirs" ] && [ "$mine_rc" -eq "$rc" ]
}
for args in "${same[@]}"; do
    check "same as curl: $args" curl_same_ok
done

# -O and -o: the same files, named the same.
files_same_ok() {
    local d
    for d in fetch curl; do
        mkdir -p "$T/same_$d" && (cd "$T/same_$d" && "${d/fetch/$F}" -s -O "$PY/files/one.txt?q=1" -o two "$NG/text.txt" \
            -w '%{filename_effective} %{size_download}\n' >stdout)
    done
    diff -r "$T/same_fetch" "$T/same_curl" >/dev/null
}
check "same as curl: -O URL?q=1 -o two URL -w '%{filename_effective} ...' (the files)" files_same_ok

# -I and -i: the same heads, but with LF line ends where curl keeps CRLF.
heads_same_ok() {
    local a
    for a in "-I $PY/status/200" "-i -L $PY/redir/2" "-i $PY/echo -A t" "-i -x $PY https://example.invalid/"; do
        # shellcheck disable=SC2086
        [ "$("$F" -s $a | od -c)" = "$(curl -s $a | tr -d '\r' | od -c)" ] || { out="differs: $a"; return 1; }
    done
}
check "same as curl, CR aside: -I, -i -L, -i, -i through a proxy (its head first)" heads_same_ok

echo "RESULT fetch $passed $failed"
[ "$failed" -eq 0 ]
