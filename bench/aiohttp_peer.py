#!/usr/bin/python3
"""aiohttp peer: aiohttp_peer.py [options] URL CONCURRENCY TOTAL [SECONDS]

One ClientSession with TCPConnector(limit=CONCURRENCY); CONCURRENCY worker coroutines
(the semaphore pattern, without a semaphore object) each do GET + read the whole body
until TOTAL requests have been started or SECONDS (default 10) have elapsed.
Prints:  RESULT requests=N errors=E seconds=S cpu_us_per_req=C rss_kib=R

Options (bench/bench_client.c's, in aiohttp's terms):
  --cafile FILE   https: verify the server against FILE's CA (an ssl context made by
                  ssl.create_default_context(cafile=FILE), given to the connector).
                  Python's ssl under asyncio does not resume TLS sessions.
  --close         TCPConnector(force_close=True) and a "Connection: close" header:
                  every request on a connection (and a handshake) of its own.
  --names N --lookup-ms M [--rounds R] [--thread-lookups]
                  N distinct host names (h0.bench.test ...) resolved to 127.0.0.1 by
                  a custom resolver (aiohttp.abc.AbstractResolver) that takes M ms:
                  `await asyncio.sleep(M / 1000)` (no thread), or with
                  --thread-lookups a time.sleep on the loop's default executor, as
                  aiohttp's default ThreadedResolver runs getaddrinfo. URL's host is
                  replaced by each name (port and path kept), the N requests start at
                  once, one each, on a new connector and session (cold DNS cache).
                  R rounds; seconds= is the median round's wall time, requests= one
                  round's count, cpu_us_per_req the process's CPU over every request.
Run with Debian's /usr/bin/python3 (python3-aiohttp is installed for it, not for the
pyenv python3 on PATH).
"""
import argparse
import asyncio
import resource
import socket
import ssl
import sys
import time
import urllib.parse

import aiohttp
import aiohttp.abc

NAMES_SUFFIX = ".bench.test"


class SlowResolver(aiohttp.abc.AbstractResolver):
    """Every *.bench.test name is 127.0.0.1, found after `ms` milliseconds."""

    def __init__(self, ms, in_thread):
        self.delay = ms / 1000.0
        self.in_thread = in_thread

    async def resolve(self, host, port=0, family=socket.AF_INET):
        if not host.endswith(NAMES_SUFFIX):
            raise OSError("no such name: %s" % host)
        if self.in_thread:
            await asyncio.get_running_loop().run_in_executor(None, time.sleep, self.delay)
        else:
            await asyncio.sleep(self.delay)
        return [{"hostname": host, "host": "127.0.0.1", "port": port,
                 "family": socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self):
        pass


async def load(url, conc, total, secs, ssl_ctx, close):
    started = ok = errors = 0
    deadline = time.monotonic() + secs
    # limit_per_host=0: no per-host cap besides `limit`; keepalive_timeout well above
    # the run so connections are never closed by the client between requests.
    conn = aiohttp.TCPConnector(limit=conc, limit_per_host=0, keepalive_timeout=None if close else 120,
                                force_close=close, ssl=ssl_ctx)
    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"Connection": "close"} if close else None
    said = False

    async def worker(session):
        nonlocal started, ok, errors, said
        while started < total and time.monotonic() < deadline:
            started += 1
            try:
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    if resp.status == 200:
                        ok += 1
                    else:
                        errors += 1
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                if not said:
                    print("aiohttp_peer: first failed request: %r" % e, file=sys.stderr)
                    said = True
                errors += 1

    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        t0 = time.monotonic()
        await asyncio.gather(*(worker(session) for _ in range(min(conc, total))))
        elapsed = time.monotonic() - t0
    return ok, errors, elapsed


async def names_round(url, conc, names, ms, in_thread, ssl_ctx):
    parts = urllib.parse.urlsplit(url)
    port = ":%d" % parts.port if parts.port else ""
    urls = [urllib.parse.urlunsplit((parts.scheme, "h%d%s%s" % (i, NAMES_SUFFIX, port),
                                     parts.path, parts.query, ""))
            for i in range(names)]
    conn = aiohttp.TCPConnector(limit=max(conc, names), limit_per_host=0,
                                resolver=SlowResolver(ms, in_thread),
                                ssl=ssl_ctx)
    timeout = aiohttp.ClientTimeout(total=30)
    ok = errors = 0

    async def one(session, u):
        nonlocal ok, errors
        try:
            async with session.get(u) as resp:
                await resp.read()
                if resp.status == 200:
                    ok += 1
                else:
                    errors += 1
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            print("aiohttp_peer: %s: %r" % (u, e), file=sys.stderr)
            errors += 1

    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        t0 = time.monotonic()
        await asyncio.gather(*(one(session, u) for u in urls))
        elapsed = time.monotonic() - t0
    return ok, errors, elapsed


async def names_main(url, conc, a, ssl_ctx):
    ok = errors = 0
    walls = []
    for _ in range(a.rounds):
        o, e, w = await names_round(url, conc, a.names, a.lookup_ms, a.thread_lookups, ssl_ctx)
        ok, errors = ok + o, errors + e
        walls.append(w)
    walls.sort()
    print("aiohttp_peer: %d rounds of %d names, %d ms lookups (%s): fastest %.1f ms, median %.1f ms, "
          "slowest %.1f ms" % (a.rounds, a.names, a.lookup_ms, "thread" if a.thread_lookups else "asyncio.sleep",
                               walls[0] * 1e3, walls[(len(walls) - 1) // 2] * 1e3, walls[-1] * 1e3),
          file=sys.stderr)
    return ok, errors, walls[(len(walls) - 1) // 2]


def cli():
    p = argparse.ArgumentParser(description="aiohttp peer of bench/bench_client")
    p.add_argument("--cafile")
    p.add_argument("--close", action="store_true")
    p.add_argument("--names", type=int, default=0)
    p.add_argument("--lookup-ms", type=int, default=0)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--thread-lookups", action="store_true")
    p.add_argument("url")
    p.add_argument("concurrency", type=int)
    p.add_argument("total", type=int)
    p.add_argument("seconds", type=float, nargs="?", default=10.0)
    a = p.parse_args()
    ssl_ctx = ssl.create_default_context(cafile=a.cafile) if a.cafile else None
    if a.names:
        ok, errors, elapsed = asyncio.run(names_main(a.url, a.concurrency, a, ssl_ctx))
        per_round = ok // a.rounds
    else:
        ok, errors, elapsed = asyncio.run(load(a.url, a.concurrency, a.total, a.seconds, ssl_ctx, a.close))
        per_round = ok
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu_us = (ru.ru_utime + ru.ru_stime) * 1e6  # whole process, start-up included
    print("RESULT requests=%d errors=%d seconds=%.6f cpu_us_per_req=%.2f rss_kib=%d"
          % (per_round, errors, elapsed, cpu_us / ok if ok else 0.0, ru.ru_maxrss))


if __name__ == "__main__":
    cli()
