#!/bin/bash
# run.sh - the `make bench` orchestrator. Method: /work/shared/BENCHMARKS.md.
#
# HTTP section: one nginx worker on CPU 1 (bench/nginx.sh), every client on CPU 0,
# each peer once per workload, bounded by BENCH_REQUESTS and BENCH_SECONDS:
#   c100          GET /small.json (612 B), 100 keep-alive connections
#   c1000         GET /small.json, 1000 connections
#   chunked_c100  GET /chunked/small.json (same body, Transfer-Encoding: chunked), 100
#   big_c100      GET /big.bin (1 MiB), 100 connections, BENCH_BIG_REQUESTS requests
# Loop section: bench/bench_loop vs asyncio_peer.py (yield / tasks / sleeps).
#
# Every peer prints one RESULT line; they are collected and printed as a table,
# then `RATIO <name> <value>` lines for each pair where both sides have a result.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10]  BENCH_REQUESTS [200000]  BENCH_BIG_REQUESTS [5000]
#   BENCH_YIELDS [10000000]  BENCH_TASKS [1000000]  BENCH_SLEEPS [100000]
#   BENCH_PEERS ["ours wrk libcurl aiohttp"]
#   BENCH_WORKLOADS ["c100 c1000 chunked_c100 big_c100"]
#   BENCH_LOOP [1] (0 skips the loop section)   BENCH_KEEP [0] (1 keeps logs)
#   BENCH_REPEAT [3]: every peer runs this many times, the rounds interleaved
#   so that drift hits all peers alike; the table keeps each one's median run
#   BENCH_CLIENT [bench/bench_client]  BENCH_LOOP_BIN [bench/bench_loop] (our binaries)
# Smoke run: BENCH_SECONDS=2 BENCH_REQUESTS=20000 BENCH_YIELDS=200000 \
#            BENCH_TASKS=100000 BENCH_SLEEPS=10000 bench/run.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
SECS=${BENCH_SECONDS:-10}
REQS=${BENCH_REQUESTS:-200000}
BIG_REQS=${BENCH_BIG_REQUESTS:-5000}
YIELDS=${BENCH_YIELDS:-10000000}
TASKS=${BENCH_TASKS:-1000000}
SLEEPS=${BENCH_SLEEPS:-100000}
PEERS=${BENCH_PEERS:-ours wrk libcurl aiohttp}
WORKLOADS=${BENCH_WORKLOADS:-c100 c1000 chunked_c100 big_c100}
REPEAT=${BENCH_REPEAT:-3}
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
# (so every run stops by itself), keep its RESULT line.
record() {
    local peer=$1 wl=$2 limit=$3 out line
    shift 3
    if out=$(timeout -k 5 "$limit" taskset -c 0 "$@" 2>>"$work/$peer.$wl.log"); then
        line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1 || true)
    else
        line=""
    fi
    if [ -n "$line" ]; then
        echo "$peer $wl ${line#RESULT }" >> "$results"
        printf '%-8s %-13s %s\n' "$peer" "$wl" "$line"
    else
        echo "FAILED $peer $wl (no RESULT line; stderr tail follows)"
        tail -n 5 "$work/$peer.$wl.log" 2>/dev/null | sed 's/^/    /'
    fi
    sleep 1  # let the server and the TCP stack settle between peers
}

# ---- HOOK: the library's HTTP client -----------------------------------------------
# run_ours WORKLOAD URL CONNECTIONS  (uses $TOTAL and $SECS of the current workload)
# bench/bench_client URL CONNECTIONS TOTAL SECONDS prints the same RESULT line as the
# other HTTP peers: RESULT requests=N errors=E seconds=S cpu_us_per_req=C rss_kib=R
run_ours() {
    if [ ! -x "$CLIENT" ]; then missing_once ours_http "MISSING async_http (not built yet)"; return 0; fi
    # Bounded by time like wrk (which cannot stop at a count), so that the
    # two closest rivals are measured over the same span.
    record ours "$1" $((SECS + 60)) "$CLIENT" "$2" "$3" 1000000000 "$SECS"
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
ok_wrk=1 ok_curl=1 ok_aio=1 ok_py=1 ok_nginx=1
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
[ -x "$PY" ] || { missing asyncio python3; ok_py=0; ok_aio=0; }
if have aiohttp && [ "$ok_py" = 1 ]; then
    "$PY" -c 'import aiohttp' 2>/dev/null || { missing aiohttp python3-aiohttp; ok_aio=0; }
fi

# ---- HTTP section ----
if [ "$ok_nginx" = 1 ] && [ -n "$WORKLOADS" ]; then
    port=$("$here/nginx.sh" start "$work/nginx")
    base=http://127.0.0.1:$port
    echo "nginx on $base (worker pinned to CPU 1); clients on CPU 0"
    for round in $(seq "$REPEAT"); do
    for wl in $WORKLOADS; do
        TOTAL=$REQS
        case $wl in
        c100) url=$base/small.json conns=100 ;;
        c1000) url=$base/small.json conns=1000 ;;
        chunked_c100) url=$base/chunked/small.json conns=100 ;;
        big_c100) url=$base/big.bin conns=100 TOTAL=$BIG_REQS ;;
        *) echo "unknown workload $wl"; continue ;;
        esac
        limit=$((SECS + 60))
        if have ours; then run_ours "$wl" "$url" "$conns"; fi
        if have wrk && [ "$ok_wrk" = 1 ]; then
            record wrk "$wl" "$limit" "$here/wrk_peer.sh" "$url" "$conns" "$SECS"
        fi
        if have libcurl && [ "$ok_curl" = 1 ]; then
            record libcurl "$wl" "$limit" "$work/curl_multi" "$url" "$conns" "$TOTAL" "$SECS"
        fi
        if have aiohttp && [ "$ok_aio" = 1 ]; then
            record aiohttp "$wl" "$limit" "$PY" "$here/aiohttp_peer.py" "$url" "$conns" "$TOTAL" "$SECS"
        fi
    done
    done
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

# ---- table and ratios (awk over the collected RESULT lines) ----
echo
awk '
    { peer = $1; wl = $2; delete v
      for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      rss = v["rss_kib"] / 1024
      if ("requests" in v) {
          if (!http++) printf "%-8s %-13s %10s %12s %9s %7s\n", "peer", "workload", "req/s", "cpu_us/req", "rss_MiB", "errors"
          rps = v["seconds"] > 0 ? v["requests"] / v["seconds"] : 0
          printf "%-8s %-13s %10.0f %12.2f %9.1f %7d\n", peer, wl, rps, v["cpu_us_per_req"], rss, v["errors"]
      } else {
          fig = ""
          for (i = 3; i <= NF; i++) if ($i !~ /^rss_kib=/) fig = fig " " $i
          loop[++nl] = sprintf("%-8s %-8s %9.1f %s", peer, wl, rss, fig)
      }
    }
    END { if (nl) { printf "\n%-8s %-8s %9s %s\n", "peer", "loop", "rss_MiB", "figures"; for (i = 1; i <= nl; i++) print loop[i] } }
'  "$results.median"
echo
awk '
    { for (i = 3; i <= NF; i++) { split($i, kv, "="); r[$1, $2, kv[1]] = kv[2] }
      seen[$1, $2] = 1 }
    function ratio(name, a, b) { if (b + 0 > 0) printf "RATIO %s %.3g\n", name, a / b }
    function rps(p, w) { return r[p, w, "seconds"] > 0 ? r[p, w, "requests"] / r[p, w, "seconds"] : 0 }
    END {
        nw = split("c100 c1000 chunked_c100 big_c100", W, " ")
        np = split("wrk libcurl aiohttp", P, " ")
        for (i = 1; i <= nw; i++) {
            w = W[i]
            if (!((("ours", w) in seen))) continue
            printf "RATIO rss_%s_mib %.3g\n", w, r["ours", w, "rss_kib"] / 1024
            for (j = 1; j <= np; j++) {
                p = P[j]
                if (!(((p, w) in seen))) continue
                ratio("rps_" w "_vs_" p, rps("ours", w), rps(p, w))
                ratio("client_cpu_per_req_" w "_vs_" p, r["ours", w, "cpu_us_per_req"], r[p, w, "cpu_us_per_req"])
                ratio("rss_" w "_vs_" p, r["ours", w, "rss_kib"], r[p, w, "rss_kib"])
            }
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
