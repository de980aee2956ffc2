#!/usr/bin/python3
"""Scheduler peer (stock asyncio loop):
  asyncio_peer.py yield N   one task doing N `await asyncio.sleep(0)`
                            -> RESULT ns_per_yield=X rss_kib=R
  asyncio_peer.py tasks N   N tasks each doing one `await asyncio.sleep(0)`, one gather
                            -> RESULT ns_per_task=X rss_kib=R
  asyncio_peer.py sleeps N  N tasks each sleeping uniform random 0-100 ms (seed 1)
                            -> RESULT wall_ms=W late_p50_ms=A late_p99_ms=B rss_kib=R
Timing covers creating the tasks through the end of the gather (not interpreter start).
Lateness of a wake-up = actual wake time - (the time its sleep began + its delay): how
late the loop's timers fire (bench_loop measures the same). Wall time runs from just
before the tasks are created to the last wake-up.
Percentiles are nearest-rank on the sorted lateness list.
ASYNCIO_PEER_NOGC=1 disables the cyclic GC (BENCHMARKS.md quotes tasks both ways).
"""
import asyncio
import gc
import os
import random
import resource
import sys
import time


def rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def bench_yield(n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await asyncio.sleep(0)
    return (time.perf_counter_ns() - t0) / n


async def bench_tasks(n):
    async def one():
        await asyncio.sleep(0)
    t0 = time.perf_counter_ns()
    await asyncio.gather(*[asyncio.create_task(one()) for _ in range(n)])
    return (time.perf_counter_ns() - t0) / n


async def bench_sleeps(n):
    rng = random.Random(1)
    delays = [rng.uniform(0.0, 0.1) for _ in range(n)]
    late = [0.0] * n

    async def one(i, t0):
        began = time.monotonic()
        await asyncio.sleep(delays[i])
        late[i] = time.monotonic() - (began + delays[i])

    t0 = time.monotonic()
    await asyncio.gather(*[asyncio.create_task(one(i, t0)) for i in range(n)])
    wall = time.monotonic() - t0
    late.sort()
    pick = lambda q: late[min(n - 1, max(0, int(q * n + 0.999999) - 1))]
    return wall, pick(0.50), pick(0.99)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("yield", "tasks", "sleeps"):
        sys.exit("usage: asyncio_peer.py yield N | tasks N | sleeps N")
    what, n = sys.argv[1], int(sys.argv[2])
    if n < 1:
        sys.exit("N must be positive")
    if os.environ.get("ASYNCIO_PEER_NOGC") == "1":
        gc.disable()
    if what == "yield":
        ns = asyncio.run(bench_yield(n))
        print("RESULT ns_per_yield=%.1f rss_kib=%d" % (ns, rss_kib()))
    elif what == "tasks":
        ns = asyncio.run(bench_tasks(n))
        print("RESULT ns_per_task=%.1f rss_kib=%d" % (ns, rss_kib()))
    else:
        wall, p50, p99 = asyncio.run(bench_sleeps(n))
        print("RESULT wall_ms=%.1f late_p50_ms=%.3f late_p99_ms=%.3f rss_kib=%d"
              % (wall * 1e3, p50 * 1e3, p99 * 1e3, rss_kib()))


if __name__ == "__main__":
    main()
