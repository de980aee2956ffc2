#!/bin/bash
# wrk_peer.sh URL CONNECTIONS SECONDS [WRK_ARGS...]
# Runs one wrk thread pinned to CPU 0 (the server is on CPU 1) and prints
#   RESULT requests=N errors=E seconds=S cpu_us_per_req=C rss_kib=R
# wrk's own output goes to stderr. wrk is bounded by time only (-d), not by count.
# cpu = user+sys of the wrk process (GNU time) / completed requests; rss = time's %M.
# WRK_ARGS go to wrk as they are (e.g. -H 'Connection: close'). An https:// URL works
# (Debian's wrk links OpenSSL) but wrk never verifies the server's certificate
# (SSL_VERIFY_NONE in its ssl.c); it keeps each connection's TLS session for the next
# connection it opens (SSL_clear), so a reconnect resumes.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 URL CONNECTIONS SECONDS [WRK_ARGS...]" >&2; exit 2; }
url=$1 conns=$2 secs=$3
shift 3
command -v wrk >/dev/null || { echo "MISSING wrk (install wrk)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "MISSING /usr/bin/time (install time)" >&2; exit 1; }
out=$(mktemp) tim=$(mktemp)
trap 'rm -f "$out" "$tim"' EXIT
# wrk cannot open more sockets than the fd limit; -c is also the number of fds it uses.
ulimit -n 20000 2>/dev/null || true
taskset -c 0 /usr/bin/time -f '%U %S %M' -o "$tim" \
    wrk -t1 -c"$conns" -d"${secs}s" --latency "$@" "$url" > "$out"
cat "$out" >&2
# "  123456 requests in 10.00s, 85.00MB read"; the duration unit may be us/ms/s/m/h.
# Errors = socket errors (connect/read/write/timeout) + non-2xx/3xx responses.
# requests = wrk's count minus the non-2xx/3xx ones, i.e. successful responses only,
# as the other peers count them.
awk -v tim="$(cat "$tim")" '
    / requests in / {
        req = $1; d = $4; sub(/,$/, "", d)
        if (d ~ /us$/) secs = d / 1e6; else if (d ~ /ms$/) secs = d / 1e3
        else if (d ~ /m$/) secs = d * 60; else if (d ~ /h$/) secs = d * 3600
        else secs = d + 0
    }
    /Socket errors:/ { g = $0; gsub(/[^0-9 ]/, " ", g); n = split(g, a, " "); for (i = 1; i <= n; i++) err += a[i] }
    /Non-2xx or 3xx responses:/ { err += $NF; bad = $NF }
    END {
        split(tim, t, " ")
        req -= bad
        cpu = req > 0 ? (t[1] + t[2]) * 1e6 / req : 0
        printf "RESULT requests=%d errors=%d seconds=%.3f cpu_us_per_req=%.2f rss_kib=%d\n", req, err, secs, cpu, t[3]
    }' "$out"
