#!/bin/bash
# nginx.sh start DIR [CERT KEY] | stop DIR
#   start: builds a private nginx root + config under DIR, starts one worker pinned to
#          CPU 1 (clients run on CPU 0), prints the chosen port and writes it to DIR/port.
#          With CERT and KEY (PEM files) the same worker also serves https on a second
#          port, written to DIR/tls_port: the same root, ssl_session_cache
#          shared:SSL:10m and ssl_session_tickets on (sessions resumable by either).
#   stop:  stops the nginx started in DIR (pid file DIR/nginx.pid) and waits for it to go.
# URLs served on http://127.0.0.1:PORT :
#   /small.json          611-byte SWAPI-like JSON (+ newline = 612 bytes), Content-Length
#   /big.bin             1 MiB of random bytes, Content-Length
#   /chunked/small.json  the same 612 bytes, sent with Transfer-Encoding: chunked
# and on https://127.0.0.1:TLS_PORT the same, plus
#   /close/small.json    the same 612 bytes, each request logged to DIR/close.log as
#                        "$ssl_session_reused $connection_requests" ("r 1": a resumed
#                        session, first request on its connection), so that a run with
#                        "Connection: close" can count every peer's handshakes and
#                        resumptions on the server's side. Nothing else is logged.
# Chunked without an echo module (nginx-light has none): the SSI filter is compiled in
# by default; when it processes a response it drops Content-Length, so nginx falls back
# to chunked encoding for HTTP/1.1. Unlike gzip this needs no special request header,
# so every peer (wrk, curl, aiohttp, ours) sends the same plain GET.
# Nothing under /etc/nginx or /var/log/nginx is touched: -p DIR -c DIR/nginx.conf,
# -e for the early error log, and every pid/temp/log path points into DIR.
set -eu

usage() { echo "usage: $0 start DIR [CERT KEY] | stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || [ $# -eq 4 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
cert=${3:-} key=${4:-}

case $cmd in
start)
    command -v nginx >/dev/null || { echo "MISSING nginx (install nginx-light)" >&2; exit 1; }
    if [ -f "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
        echo "nginx already running in $dir" >&2; exit 1
    fi
    mkdir -p "$dir/root/chunked" "$dir/tmp"
    printf '%s\n' '{"name":"Luke Skywalker","height":"172","mass":"77","hair_color":"blond","skin_color":"fair","eye_color":"blue","birth_year":"19BBY","gender":"male","homeworld":"https://swapi.dev/api/planets/1/","films":["https://swapi.dev/api/films/1/","https://swapi.dev/api/films/2/","https://swapi.dev/api/films/3/"],"species":[],"vehicles":["https://swapi.dev/api/vehicles/14/","https://swapi.dev/api/vehicles/30/"],"starships":["https://swapi.dev/api/starships/12/","https://swapi.dev/api/starships/22/"],"created":"2014-12-09T13:50:51.644Z","edited":"2014-12-20T21:17:56.891000Z","url":"https://swapi.dev/api/people/1/"}' \
        > "$dir/root/small.json"
    cp "$dir/root/small.json" "$dir/root/chunked/small.json"
    mkdir -p "$dir/root/close"
    cp "$dir/root/small.json" "$dir/root/close/small.json"
    head -c 1048576 /dev/urandom > "$dir/root/big.bin"
    # Free port: bind to port 0, read the number, close. A tiny race with other
    # programs is acceptable on this single-user machine.
    # Two at once (both bound before either is closed), so they differ.
    read -r port tls_port < <(python3 -c 'import socket
a = socket.socket(); a.bind(("127.0.0.1", 0)); b = socket.socket(); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
    tls_server=
    if [ -n "$cert" ]; then
        # The same root and settings as the http server, plus TLS: the certificate's
        # own key type (the bench makes an ECDSA P-256 one), OpenSSL's defaults otherwise.
        tls_server="
    log_format handshakes '\$ssl_session_reused \$connection_requests';
    server {
        listen 127.0.0.1:$tls_port ssl backlog=4096;
        root $dir/root;
        ssl_certificate $cert;
        ssl_certificate_key $key;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;
        location /chunked/ { ssi on; ssi_types application/json; }
        location /close/ { access_log $dir/close.log handshakes; }
    }"
    fi
    cat > "$dir/nginx.conf" <<CONF
# user root: the master runs as root here; keep the worker able to read DIR.
user root;
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 10000;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    types { application/json json; application/octet-stream bin; }
    default_type application/octet-stream;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $dir/root;
        # SSI filter => no Content-Length => chunked (see header comment).
        location /chunked/ { ssi on; ssi_types application/json; }
    }$tls_server
}
CONF
    # taskset -c 1: the server gets CPU 1 to itself; clients are pinned to CPU 0.
    # setsid + redirects: detach fully so callers using $(...) do not wait on our pipes.
    setsid taskset -c 1 nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        </dev/null >"$dir/nginx.out" 2>&1 &
    for _ in $(seq 100); do   # up to 5 s for the listener to come up
        # bash's /dev/tcp: a bare connect, so the script needs no curl.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port" > "$dir/port"
            if [ -n "$cert" ]; then echo "$tls_port" > "$dir/tls_port"; fi
            echo "$port"; exit 0
        fi
        sleep 0.05
    done
    echo "nginx did not start; see $dir/error.log $dir/nginx.out" >&2
    cat "$dir/error.log" "$dir/nginx.out" >&2 2>/dev/null || true
    exit 1 ;;
stop)
    [ -f "$dir/nginx.pid" ] || exit 0
    pid=$(cat "$dir/nginx.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/nginx.pid" "$dir/port" "$dir/tls_port" ;;
*) usage ;;
esac
