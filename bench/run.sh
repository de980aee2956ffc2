#!/bin/bash
# run.sh - the `make bench` orchestrator. Method: /work/shared/BENCHMARKS.md, in short:
#
# Method. Real peers on the same machine in the same run, against the same nginx:
# one nginx worker pinned to CPU 1 (bench/nginx.sh: access_log off, keepalive_requests
# 1000000, worker_connections 4096, a private root on a free loopback port; with TLS
# a second port on the same worker), every client pinned to CPU 0 (taskset -c 0).
# Client CPU = user+sys of the client process (getrusage, or GNU time for wrk) over
# the requests it completed; on loopback this includes the TCP (and TLS) work the
# kernel charges to the client. Peak RSS = the client's ru_maxrss. The one nginx
# worker saturates (about 100k small req/s on the reference machine): a client that
# reaches it is server-bound, and CPU per request is what tells clients apart then.
# Each peer runs BENCH_REPEAT times, the rounds interleaved so that drift hits every
# peer alike; the tables keep each peer's median round (by req/s). Absolute figures
# drift by up to 20 % between runs on shared 2-vCPU guests: compare within one run.
# Benchmarks are never tests: nothing here passes or fails on a figure.
#
# HTTP section: each peer once per workload and round, bounded by BENCH_REQUESTS and
# BENCH_SECONDS (ours and wrk by time only, so that the two closest rivals are
# measured over the same span):
#   c100            GET /small.json (612 B), 100 keep-alive connections
#   c1000           GET /small.json, 1000 connections
#   chunked_c100    GET /chunked/small.json (same body, Transfer-Encoding: chunked), 100
#   big_c100        GET /big.bin (1 MiB), 100 connections, BENCH_BIG_REQUESTS requests
#   (c100 and c1000 also run bench/uring_floor.c, the floor under any io_uring client:
#   the same GETs with no client around them, a response counted by its length. Peer
#   floor sets its ring up as ours does; floor_levers adds registered files and a
#   multishot receive into a provided-buffer ring. Their ratios against wrk show how
#   low an io_uring client's CPU per request can go on this machine at all.)
#   c100_epoll, c1000_epoll, big_c100_epoll
#                   ours only, forced onto the epoll backend (bench_client --backend
#                   epoll); compared with wrk's row (epoll too: the same syscalls) and
#                   with ours of the plain workload, which is io_uring unless the
#                   kernel refuses it (then the uring_vs_epoll ratio is not printed).
#                   Run the plain workload in the same run for these ratios.
# https (nginx with TLS on the same worker: a CA and a server certificate for
# 127.0.0.1 made at run time with openssl, ECDSA P-256, in the scratch dir; nothing
# is committed; `listen ... ssl`, ssl_session_cache shared:SSL:10m, session tickets
# on, OpenSSL's defaults otherwise, so TLS 1.3). Ours, libcurl and aiohttp verify the
# server against that CA (ca_file, CURLOPT_CAINFO, an ssl context); wrk cannot
# verify (SSL_VERIFY_NONE), which saves it the certificate check:
#   https_c100      GET /small.json over https, 100 keep-alive connections
#   https_close     GET /close/small.json with "Connection: close", 100 at a time: a
#                   new connection and handshake per request, session resumption on
#                   wherever the peer does it (ours, wrk and libcurl resume; Python's
#                   ssl under asyncio does not, so aiohttp does full handshakes).
#                   handshakes/s = requests/s, CPU per handshake = CPU per request;
#                   nginx logs $ssl_session_reused for that location only, and the
#                   table shows every peer's handshakes and resumptions as nginx saw
#                   them (and ours as its own stats count them).
#   https_c1000_rss GET /small.json over https, 1000 keep-alive connections: ours'
#                   peak RSS (and wrk's beside it)
# Name lookups:
#   dns100          BENCH_DNS_NAMES (100) distinct host names fetched at once, one
#                   request each, every name resolved to 127.0.0.1 by a resolver that
#                   takes BENCH_DNS_LOOKUP_MS (5 ms): ours through the client's
#                   resolver callback (it sleeps on the io's worker pool: its size is
#                   the library's default unless BENCH_DNS_WORKERS says), aiohttp
#                   through a custom AbstractResolver doing `await asyncio.sleep`
#                   (it holds no thread), and aiohttp_thr with the sleep on the
#                   loop's default executor, as aiohttp's default ThreadedResolver
#                   runs getaddrinfo. BENCH_DNS_ROUNDS rounds inside each process,
#                   each on a new client/session (cold cache, empty pool): the
#                   figure is the median round's wall time.
# Loop section: bench/bench_loop vs asyncio_peer.py (yield / tasks / sleeps).
#
# Every peer prints one RESULT line; they are collected and printed as tables, then
# `RATIO <name> <value>` lines for each pair where both sides have a result (ours
# over the peer unless the name says otherwise: below 1 is less CPU, time or memory
# for ours, above 1 more requests or handshakes per second). A peer that is not
# installed is reported as MISSING; nothing is installed.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10]  BENCH_REQUESTS [200000]  BENCH_BIG_REQUESTS [5000]
#   BENCH_YIELDS [10000000]  BENCH_TASKS [1000000]  BENCH_SLEEPS [100000]
#   BENCH_PEERS ["ours wrk libcurl aiohttp floor"] (floor: both floor rows)
#   BENCH_WORKLOADS ["c100 c100_epoll c1000 c1000_epoll chunked_c100 big_c100
#                     big_c100_epoll https_c100 https_close https_c1000_rss dns100"]
#   BENCH_DNS_NAMES [100]  BENCH_DNS_LOOKUP_MS [5]  BENCH_DNS_ROUNDS [10]
#   BENCH_DNS_WORKERS [0: the library's default worker pool]
#   BENCH_LOOP [1] (0 skips the loop section)   BENCH_KEEP [0] (1 keeps logs)
#   BENCH_REPEAT [3]: every peer runs this many times, the rounds interleaved
#   so that drift hits all peers alike; the table keeps each one's median run
#   BENCH_CLIENT [bench/bench_client]  BENCH_LOOP_BIN [bench/bench_loop] (our binaries)
# Smoke run: BENCH_SECONDS=2 BENCH_REQUESTS=20000 BENCH_YIELDS=200000 \
#            BENCH_TASKS=100000 BENCH_SLEEPS=10000 BENCH_REPEAT=1 bench/run.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
SECS=${BENCH_SECONDS:-10}
REQS=${BENCH_REQUESTS:-200000}
BIG_REQS=${BENCH_BIG_REQUESTS:-5000}
YIELDS=${BENCH_YIELDS:-10000000}
TASKS=${BENCH_TASKS:-1000000}
SLEEPS=${BENCH_SLEEPS:-100000}
PEERS=${BENCH_PEERS:-ours wrk libcurl aiohttp floor}
WORKLOADS=${BENCH_WORKLOADS:-c100 c100_epoll c1000 c1000_epoll chunked_c100 big_c100 big_c100_epoll https_c100 https_close https_c1000_rss dns100}
REPEAT=${BENCH_REPEAT:-3}
DNS_NAMES=${BENCH_DNS_NAMES:-100}
DNS_MS=${BENCH_DNS_LOOKUP_MS:-5}
DNS_ROUNDS=${BENCH_DNS_ROUNDS:-10}
DNS_WORKERS=${BENCH_DNS_WORKERS:-0}
PY=/usr/bin/python3   # Debian's python: python3-aiohttp is installed for it only
CC=${CC:-cc}
CLIENT=${BENCH_CLIENT:-$here/bench_client}
LOOPBIN=${BENCH_LOOP_BIN:-$here/bench_loop}

work=$(mktemp -d /tmp/bench.XXXXXX)
results=$work/results  # one line per run: PEER WORKLOAD key=value ...
: > "$results"
cleanup() {
    "$here/nginx.sh" stop "$work/nginx" 2>/dev/null || true
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # turns a signal into a normal exit, so the EXIT trap runs

# 1000 connections need > 1024 fds; 20000 is this machine's hard limit.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

have() { case " $PEERS " in *" $1 "*) return 0 ;; esac; return 1; }
missing() { echo "MISSING $1 (install $2)"; }

# record PEER WORKLOAD LIMIT_S CMD...: run CMD pinned to CPU 0, killed after LIMIT_S
# (so every run stops by itself), keep its RESULT line. With SRV_LOG set (a log of
# nginx's "$ssl_session_reused $connection_requests" lines), the line gets what nginx
# saw during the run: srv_handshakes (connections whose first request it logged) and
# srv_resumed (of which resumed a TLS session).
SRV_LOG=
record() {
    local peer=$1 wl=$2 limit=$3 out line
    shift 3
    if [ -n "$SRV_LOG" ]; then : > "$SRV_LOG"; fi   # nginx appends (O_APPEND): it writes at 0 again
    if out=$(timeout -k 5 "$limit" taskset -c 0 "$@" 2>>"$work/$peer.$wl.log"); then
        line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1 || true)
    else
        line=""
    fi
    if [ -n "$line" ] && [ -n "$SRV_LOG" ]; then
        sleep 0.2   # nginx logs a request as it ends: let the last ones land
        line="$line $(awk '$2 == 1 { h++; if ($1 == "r") r++ } END { printf "srv_handshakes=%d srv_resumed=%d", h, r }' "$SRV_LOG")"
    fi
    if [ -n "$line" ]; then
        echo "$peer $wl ${line#RESULT }" >> "$results"
        printf '%-12s %-15s %s\n' "$peer" "$wl" "$line"
    else
        echo "FAILED $peer $wl (no RESULT line; stderr tail follows)"
        tail -n 5 "$work/$peer.$wl.log" 2>/dev/null | sed 's/^/    /'
    fi
    sleep 1  # let the server and the TCP stack settle between peers
}

# ---- HOOK: the library's HTTP client -----------------------------------------------
# run_ours WORKLOAD URL CONNECTIONS [OPTIONS...]  (uses $SECS of the current workload)
# bench/bench_client [OPTIONS] URL CONNECTIONS TOTAL SECONDS prints the same RESULT line
# as the other HTTP peers: RESULT requests=N errors=E seconds=S cpu_us_per_req=C
# rss_kib=R, and adds backend=NAME connects= handshakes= resumed= lookups= (its stats).
run_ours() {
    if [ ! -x "$CLIENT" ]; then missing_once ours_http "MISSING async_http (not built yet)"; return 0; fi
    local wl=$1 url=$2 conns=$3
    shift 3
    # Bounded by time like wrk (which cannot stop at a count), so that the
    # two closest rivals are measured over the same span.
    record ours "$wl" $((SECS + 60)) "$CLIENT" "$@" "$url" "$conns" 1000000000 "$SECS"
}
# ---- HOOK: the library's event loop ------------------------------------------------
# run_ours_loop yield|tasks|sleeps N: bench/bench_loop prints asyncio_peer.py's formats.
run_ours_loop() {
    if [ ! -x "$LOOPBIN" ]; then missing_once ours_loop "MISSING bench_loop (not built yet)"; return 0; fi
    record ours "$1" 600 "$LOOPBIN" "$1" "$2"
}
# -----------------------------------------------------------------------------------

# Say MISSING once per tool, not once per workload.
declare -A said=()
missing_once() { [ -n "${said[$1]:-}" ] || { echo "$2"; said[$1]=1; }; }

echo "== bench $(date -u +%FT%TZ) $(uname -r) cpus=$(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')) seconds=$SECS requests=$REQS big_requests=$BIG_REQS"

command -v taskset >/dev/null || { missing taskset util-linux; exit 1; }
command -v timeout >/dev/null || { missing timeout coreutils; exit 1; }

# ---- peer availability (reported, never silently skipped) ----
ok_wrk=1 ok_curl=1 ok_aio=1 ok_py=1 ok_nginx=1 ok_floor=1 tbase=
command -v nginx >/dev/null || { missing nginx nginx-light; ok_nginx=0; }
if have wrk; then
    command -v wrk >/dev/null || { missing wrk wrk; ok_wrk=0; }
    [ -x /usr/bin/time ] || { missing "wrk's /usr/bin/time" time; ok_wrk=0; }
fi
if have libcurl; then
    # Built fresh into the scratch dir each run: no binary left in the tree.
    "$CC" -std=c99 -O2 -Wall -Wextra -Wpedantic -o "$work/curl_multi" "$here/curl_multi.c" \
        -lcurl 2>"$work/curl_multi.build.log" || { missing libcurl libcurl4-openssl-dev; ok_curl=0; }
fi
if have floor; then
    "$CC" -std=c99 -O2 -Wall -Wextra -Wpedantic -o "$work/uring_floor" "$here/uring_floor.c" \
        -luring 2>"$work/uring_floor.build.log" || { missing floor liburing-dev; ok_floor=0; }
fi
[ -x "$PY" ] || { missing asyncio python3; ok_py=0; ok_aio=0; }
if have aiohttp && [ "$ok_py" = 1 ]; then
    "$PY" -c 'import aiohttp' 2>/dev/null || { missing aiohttp python3-aiohttp; ok_aio=0; }
fi

# ---- https: a CA and a server certificate for 127.0.0.1, made now (never committed) ----
ok_tls=0
case " $WORKLOADS " in *" https_"*)
    tls=$work/tls
    mkdir -p "$tls"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    if ! command -v openssl >/dev/null; then
        missing "https workloads' certificates" openssl
    elif openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=async_http.h bench CA" \
            -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>"$tls/openssl.log" &&
        openssl req "${ec[@]}" -subj "/CN=127.0.0.1" -keyout "$tls/server.key" \
            -out "$tls/server.csr" 2>>"$tls/openssl.log" &&
        printf 'subjectAltName=IP:127.0.0.1\n' > "$tls/ext" &&
        openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
            -CAcreateserial -days 2 -extfile "$tls/ext" -out "$tls/server.pem" 2>>"$tls/openssl.log"; then
        ok_tls=1
    else
        echo "FAILED openssl could not make the certificates; https workloads skipped:"
        tail -n 5 "$tls/openssl.log" | sed 's/^/    /'
    fi ;;
esac

# ---- HTTP section ----
if [ "$ok_nginx" = 1 ] && [ -n "$WORKLOADS" ]; then
    if [ "$ok_tls" = 1 ]; then
        port=$("$here/nginx.sh" start "$work/nginx" "$tls/server.pem" "$tls/server.key")
        tbase=https://127.0.0.1:$(cat "$work/nginx/tls_port")
        ca=$tls/ca.pem
    else
        port=$("$here/nginx.sh" start "$work/nginx")
    fi
    base=http://127.0.0.1:$port
    echo "nginx on $base${tbase:+ and $tbase} (worker pinned to CPU 1); clients on CPU 0"
    if [ "$ok_tls" = 1 ]; then
        echo "https: ours, libcurl and aiohttp verify nginx's certificate (a CA made for this run); wrk does not verify (SSL_VERIFY_NONE)"
    fi
    for round in $(seq "$REPEAT"); do
    for wl in $WORKLOADS; do
        TOTAL=$REQS
        # Per workload: which peers run, and the options each needs.
        wl_peers="ours wrk libcurl aiohttp"
        case $wl in c100|c1000) wl_peers="$wl_peers floor floor_levers" ;; esac
        ours_opts=() wrk_opts=() curl_opts=() aio_opts=()
        SRV_LOG=
        case $wl in
        c100) url=$base/small.json conns=100 ;;
        c1000) url=$base/small.json conns=1000 ;;
        chunked_c100) url=$base/chunked/small.json conns=100 ;;
        big_c100) url=$base/big.bin conns=100 TOTAL=$BIG_REQS ;;
        c100_epoll|c1000_epoll|big_c100_epoll)
            conns=100 url=$base/small.json wl_peers=ours ours_opts=(--backend epoll)
            case $wl in c1000_*) conns=1000 ;; big_*) url=$base/big.bin ;; esac ;;
        https_*)
            if [ "$ok_tls" != 1 ]; then missing_once "$wl" "MISSING $wl (no certificates: see above)"; continue; fi
            ours_opts=(--tls-ca "$ca") curl_opts=(--cacert "$ca") aio_opts=(--cafile "$ca")
            case $wl in
            https_c100) url=$tbase/small.json conns=100 ;;
            https_close)
                url=$tbase/close/small.json conns=100 SRV_LOG=$work/nginx/close.log
                ours_opts+=(--close) wrk_opts=(-H "Connection: close") curl_opts+=(--close) aio_opts+=(--close) ;;
            https_c1000_rss) url=$tbase/small.json conns=1000 wl_peers="ours wrk" ;;
            *) echo "unknown workload $wl"; continue ;;
            esac ;;
        dns100)
            url=$base/small.json conns=$DNS_NAMES wl_peers="ours aiohttp aiohttp_thr"
            ours_opts=(--names "$DNS_NAMES" --lookup-ms "$DNS_MS" --rounds "$DNS_ROUNDS")
            if [ "$DNS_WORKERS" != 0 ]; then ours_opts+=(--workers "$DNS_WORKERS"); fi
            aio_opts=(--names "$DNS_NAMES" --lookup-ms "$DNS_MS" --rounds "$DNS_ROUNDS") ;;
        *) echo "unknown workload $wl"; continue ;;
        esac
        runs() { case " $wl_peers " in *" $1 "*) have "${2:-$1}" ;; *) return 1 ;; esac; }
        limit=$((SECS + 60))
        if runs ours; then run_ours "$wl" "$url" "$conns" ${ours_opts[@]+"${ours_opts[@]}"}; fi
        if runs wrk && [ "$ok_wrk" = 1 ]; then
            record wrk "$wl" "$limit" "$here/wrk_peer.sh" "$url" "$conns" "$SECS" ${wrk_opts[@]+"${wrk_opts[@]}"}
        fi
        if runs libcurl && [ "$ok_curl" = 1 ]; then
            record libcurl "$wl" "$limit" "$work/curl_multi" ${curl_opts[@]+"${curl_opts[@]}"} "$url" "$conns" "$TOTAL" "$SECS"
        fi
        if runs aiohttp && [ "$ok_aio" = 1 ]; then
            record aiohttp "$wl" "$limit" "$PY" "$here/aiohttp_peer.py" ${aio_opts[@]+"${aio_opts[@]}"} "$url" "$conns" "$TOTAL" "$SECS"
        fi
        if runs floor && [ "$ok_floor" = 1 ]; then
            record floor "$wl" "$limit" "$work/uring_floor" "$url" "$conns" "$SECS"
        fi
        if runs floor_levers floor && [ "$ok_floor" = 1 ]; then
            record floor_levers "$wl" "$limit" "$work/uring_floor" --levers "$url" "$conns" "$SECS"
        fi
        if runs aiohttp_thr aiohttp && [ "$ok_aio" = 1 ]; then
            record aiohttp_thr "$wl" "$limit" "$PY" "$here/aiohttp_peer.py" --thread-lookups ${aio_opts[@]+"${aio_opts[@]}"} "$url" "$conns" "$TOTAL" "$SECS"
        fi
    done
    done
    SRV_LOG=
    "$here/nginx.sh" stop "$work/nginx"
fi

# ---- loop section ----
if [ "${BENCH_LOOP:-1}" = 1 ]; then
    for round in $(seq "$REPEAT"); do
    for what in yield tasks sleeps; do
        case $what in yield) n=$YIELDS ;; tasks) n=$TASKS ;; sleeps) n=$SLEEPS ;; esac
        if have ours; then run_ours_loop "$what" "$n"; fi
        if [ "$ok_py" = 1 ]; then record asyncio "$what" 600 "$PY" "$here/asyncio_peer.py" "$what" "$n"; fi
    done
    done
fi

# ---- each peer's median run per workload (by req/s, or the loop's headline figure) ----
awk '
    { key = $1 " " $2; delete v
      for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      if ("requests" in v) fig = v["seconds"] > 0 ? v["requests"] / v["seconds"] : 0
      else if ("ns_per_yield" in v) fig = v["ns_per_yield"]
      else if ("ns_per_task" in v) fig = v["ns_per_task"]
      else fig = v["late_p99_ms"]
      n[key]++; f[key, n[key]] = fig + 0; line[key, n[key]] = $0
      if (!(key in order)) { order[key] = ++nkeys; keys[nkeys] = key } }
    END {
      for (k = 1; k <= nkeys; k++) {
          key = keys[k]; m = n[key]
          for (i = 1; i <= m; i++) idx[i] = i
          for (i = 2; i <= m; i++) for (j = i; j > 1 && f[key, idx[j]] < f[key, idx[j - 1]]; j--) { t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t }
          print line[key, idx[int((m + 1) / 2)]]
      }
    }
' "$results" > "$results.median"
echo
echo "($REPEAT interleaved rounds; each figure below is that peer's median round)"

# ---- tables and ratios (awk over the collected RESULT lines) ----
echo
awk -v names="$DNS_NAMES" -v ms="$DNS_MS" -v rounds="$DNS_ROUNDS" '
    { peer = $1; wl = $2; delete v
      for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      rss = v["rss_kib"] / 1024
      if ("requests" in v) {
          rps = v["seconds"] > 0 ? v["requests"] / v["seconds"] : 0
          if (wl == "https_close") {
              hs[++nh] = sprintf("%-11s %12.0f %16.1f %8.1f %6d %9s %8s %9s %8s", peer, rps, v["cpu_us_per_req"], rss,
                                 v["errors"], v["srv_handshakes"], v["srv_resumed"],
                                 peer == "ours" ? v["handshakes"] : "-", peer == "ours" ? v["resumed"] : "-")
          } else if (wl == "dns100") {
              dn[++nd] = sprintf("%-11s %9.1f %12.1f %8.1f %6d %8s", peer, v["seconds"] * 1e3, v["cpu_us_per_req"], rss,
                                 v["errors"], peer == "ours" ? v["lookups"] / rounds : "-")
          } else {
              if (!http++) printf "%-12s %-15s %10s %12s %9s %7s  %s\n", "peer", "workload", "req/s", "cpu_us/req", "rss_MiB", "errors", "notes"
              note = peer == "ours" ? "backend=" v["backend"] : ""
              if (peer == "wrk" && wl ~ /^https/) note = "no certificate check"
              if (peer ~ /^floor/) note = "io_uring alone, no HTTP client" (peer == "floor_levers" ? ", fixed files + multishot" : "")
              printf "%-12s %-15s %10.0f %12.2f %9.1f %7d  %s\n", peer, wl, rps, v["cpu_us_per_req"], rss, v["errors"], note
          }
      } else {
          fig = ""
          for (i = 3; i <= NF; i++) if ($i !~ /^rss_kib=/) fig = fig " " $i
          loop[++nl] = sprintf("%-8s %-8s %9.1f %s", peer, wl, rss, fig)
      }
    }
    END {
      if (nh) {
          printf "\nhttps_close: \"Connection: close\", a new connection and TLS handshake per request, 100 at a time\n"
          printf "%-11s %12s %16s %8s %6s %18s %18s\n", "", "", "", "", "", "as nginx saw it", "client stats"
          printf "%-11s %12s %16s %8s %6s %9s %8s %9s %8s\n", "peer", "handshakes/s", "cpu_us/handshake", "rss_MiB", "errors",
                 "handshakes", "resumed", "handshakes", "resumed"
          for (i = 1; i <= nh; i++) print hs[i]
      }
      if (nd) {
          printf "\ndns100: %d host names fetched at once, one request each, every lookup %d ms (median of %d rounds)\n", names, ms, rounds
          printf "%-11s %9s %12s %8s %6s %8s\n", "peer", "wall_ms", "cpu_us/req", "rss_MiB", "errors", "lookups"
          for (i = 1; i <= nd; i++) print dn[i]
      }
      if (nl) { printf "\n%-8s %-8s %9s %s\n", "peer", "loop", "rss_MiB", "figures"; for (i = 1; i <= nl; i++) print loop[i] }
    }
'  "$results.median"
echo
awk '
    { for (i = 3; i <= NF; i++) { split($i, kv, "="); r[$1, $2, kv[1]] = kv[2] }
      seen[$1, $2] = 1 }
    function ratio(name, a, b) { if (b + 0 > 0) printf "RATIO %s %.3g\n", name, a / b }
    function rps(p, w) { return r[p, w, "seconds"] > 0 ? r[p, w, "requests"] / r[p, w, "seconds"] : 0 }
    function cpu(p, w) { return r[p, w, "cpu_us_per_req"] }
    END {
        # Ours against each peer on the same workload.
        nw = split("c100 c1000 chunked_c100 big_c100 https_c100", W, " ")
        np = split("wrk libcurl aiohttp", P, " ")
        for (i = 1; i <= nw; i++) {
            w = W[i]
            if (!((("ours", w) in seen))) continue
            printf "RATIO rss_%s_mib %.3g\n", w, r["ours", w, "rss_kib"] / 1024
            for (j = 1; j <= np; j++) {
                p = P[j]
                if (!(((p, w) in seen))) continue
                ratio("rps_" w "_vs_" p, rps("ours", w), rps(p, w))
                ratio("client_cpu_per_req_" w "_vs_" p, cpu("ours", w), cpu(p, w))
                ratio("rss_" w "_vs_" p, r["ours", w, "rss_kib"], r[p, w, "rss_kib"])
            }
        }
        # The floor (no client around io_uring) against wrk, and ours against the floor.
        split("c100 c1000", F, " ")
        for (i = 1; i in F; i++) {
            w = F[i]
            split("floor floor_levers", FL, " ")
            for (j = 1; j in FL; j++) {
                if (!((FL[j], w) in seen)) continue
                if (("wrk", w) in seen) ratio("client_cpu_per_req_" w "_" FL[j] "_vs_wrk", cpu(FL[j], w), cpu("wrk", w))
                if (("ours", w) in seen) ratio("client_cpu_per_req_" w "_vs_" FL[j], cpu("ours", w), cpu(FL[j], w))
            }
        }
        # The epoll backend: against wrk (epoll as well) and against ours on io_uring.
        split("c100 c1000 big_c100", E, " ")
        for (i = 1; i in E; i++) {
            w = E[i]; we = w "_epoll"
            if (!(("ours", we) in seen)) continue
            if (r["ours", we, "backend"] != "epoll") { printf "NOTE ours %s ran on %s, not epoll: no ratios\n", we, r["ours", we, "backend"]; continue }
            printf "RATIO rss_%s_mib %.3g\n", we, r["ours", we, "rss_kib"] / 1024
            if (("wrk", w) in seen) {
                ratio("rps_" we "_vs_wrk", rps("ours", we), rps("wrk", w))
                ratio("client_cpu_per_req_" we "_vs_wrk", cpu("ours", we), cpu("wrk", w))
            }
            if (!(("ours", w) in seen)) continue
            if (r["ours", w, "backend"] != "io_uring") { printf "NOTE ours %s ran on %s, not io_uring: no %s_uring_vs_epoll ratios\n", w, r["ours", w, "backend"], w; continue }
            ratio("rps_" w "_uring_vs_epoll", rps("ours", w), rps("ours", we))
            ratio("client_cpu_per_req_" w "_uring_vs_epoll", cpu("ours", w), cpu("ours", we))
        }
        # https, a handshake per request: handshakes/s = requests/s, CPU per handshake = per request.
        w = "https_close"
        if (("ours", w) in seen) {
            for (j = 1; j <= np; j++) {
                p = P[j]
                if (!(((p, w) in seen))) continue
                ratio("handshakes_per_s_vs_" p, rps("ours", w), rps(p, w))
                ratio("cpu_per_handshake_vs_" p, cpu("ours", w), cpu(p, w))
            }
            ratio("tls_resumed_share_ours", r["ours", w, "resumed"], r["ours", w, "handshakes"])
        }
        # Absolute: our peak RSS at 1,000 https connections (MiB); wrk beside it.
        w = "https_c1000_rss"
        if (("ours", w) in seen) {
            printf "RATIO rss_mib_https_c1000 %.3g\n", r["ours", w, "rss_kib"] / 1024
            if (("wrk", w) in seen) {
                ratio("rss_https_c1000_vs_wrk", r["ours", w, "rss_kib"], r["wrk", w, "rss_kib"])
                ratio("client_cpu_per_req_https_c1000_vs_wrk", cpu("ours", w), cpu("wrk", w))
            }
        }
        # 100 names at once, slow lookups: the median round of wall time, ours over theirs.
        w = "dns100"
        if (("ours", w) in seen) {
            printf "RATIO dns100_ms_ours %.3g\n", r["ours", w, "seconds"] * 1e3
            if (("aiohttp", w) in seen) ratio("dns100_time_vs_aiohttp", r["ours", w, "seconds"], r["aiohttp", w, "seconds"])
            if (("aiohttp_thr", w) in seen) ratio("dns100_time_vs_aiohttp_threaded", r["ours", w, "seconds"], r["aiohttp_thr", w, "seconds"])
        }
        # Loop: asyncio / ours, so a value above 1 means ours is faster (or smaller).
        split("yield:ns_per_yield tasks:ns_per_task sleeps:wall_ms sleeps:late_p50_ms sleeps:late_p99_ms", M, " ")
        for (i = 1; i in M; i++) {
            split(M[i], wm, ":")
            if (("ours", wm[1]) in seen && ("asyncio", wm[1]) in seen)
                ratio(wm[2] "_asyncio_vs_ours", r["asyncio", wm[1], wm[2]], r["ours", wm[1], wm[2]])
        }
        # Absolute: 100k sleeps over 0-100 ms, p99 of the lateness (machine: the header line)
        if (("ours", "sleeps") in seen) printf "RATIO late_p99_ms_ours %s\n", r["ours", "sleeps", "late_p99_ms"]
        split("yield tasks sleeps", L, " ")
        for (i = 1; i <= 3; i++)
            if (("ours", L[i]) in seen && ("asyncio", L[i]) in seen)
                ratio("rss_" L[i] "_asyncio_vs_ours", r["asyncio", L[i], "rss_kib"], r["ours", L[i], "rss_kib"])
    }
' "$results.median"

# ---- embedded: async.h's code on a Cortex-M4 (make embedded), in bytes of text ----
if command -v arm-none-eabi-gcc >/dev/null && sizes=$(make -s -C "$here/.." embedded 2>/dev/null); then
    printf '%s\n' "$sizes" | awk '
        /^small program/ { printf "RATIO embedded_small_program_async_text_bytes %s\n", $(NF - 2) }
        /all of it/      { printf "RATIO embedded_library_text_bytes %s\n", $(NF - 2) }'
else
    echo "MISSING embedded sizes (install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
fi
