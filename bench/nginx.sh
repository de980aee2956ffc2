#!/bin/bash
# nginx.sh start DIR | stop DIR
#   start: builds a private nginx root + config under DIR, starts one worker pinned to
#          CPU 1 (clients run on CPU 0), prints the chosen port and writes it to DIR/port.
#   stop:  stops the nginx started in DIR (pid file DIR/nginx.pid) and waits for it to go.
# URLs served on http://127.0.0.1:PORT :
#   /small.json          611-byte SWAPI-like JSON (+ newline = 612 bytes), Content-Length
#   /big.bin             1 MiB of random bytes, Content-Length
#   /chunked/small.json  the same 612 bytes, sent with Transfer-Encoding: chunked
# Chunked without an echo module (nginx-light has none): the SSI filter is compiled in
# by default; when it processes a response it drops Content-Length, so nginx falls back
# to chunked encoding for HTTP/1.1. Unlike gzip this needs no special request header,
# so every peer (wrk, curl, aiohttp, ours) sends the same plain GET.
# Nothing under /etc/nginx or /var/log/nginx is touched: -p DIR -c DIR/nginx.conf,
# -e for the early error log, and every pid/temp/log path points into DIR.
set -eu

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

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
    head -c 1048576 /dev/urandom > "$dir/root/big.bin"
    # Free port: bind to port 0, read the number, close. A tiny race with other
    # programs is acceptable on this single-user machine.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
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
    }
}
CONF
    # taskset -c 1: the server gets CPU 1 to itself; clients are pinned to CPU 0.
    # setsid + redirects: detach fully so callers using $(...) do not wait on our pipes.
    setsid taskset -c 1 nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        </dev/null >"$dir/nginx.out" 2>&1 &
    for _ in $(seq 100); do   # up to 5 s for the listener to come up
        # bash's /dev/tcp: a bare connect, so the script needs no curl.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port" > "$dir/port"; echo "$port"; exit 0
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
    rm -f "$dir/nginx.pid" "$dir/port" ;;
*) usage ;;
esac
