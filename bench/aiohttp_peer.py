#!/usr/bin/python3
"""aiohttp peer: aiohttp_peer.py URL CONCURRENCY TOTAL [SECONDS]

One ClientSession with TCPConnector(limit=CONCURRENCY); CONCURRENCY worker coroutines
(the semaphore pattern, without a semaphore object) each do GET + read the whole body
until TOTAL requests have been started or SECONDS (default 10) have elapsed.
Prints:  RESULT requests=N errors=E seconds=S cpu_us_per_req=C rss_kib=R
Run with Debian's /usr/bin/python3 (python3-aiohttp is installed for it, not for the
pyenv python3 on PATH).
"""
import asyncio
import resource
import sys
import time

import aiohttp


async def main(url, conc, total, secs):
    started = ok = errors = 0
    deadline = time.monotonic() + secs
    # limit_per_host=0: no per-host cap besides `limit`; keepalive_timeout well above
    # the run so connections are never closed by the client between requests.
    conn = aiohttp.TCPConnector(limit=conc, limit_per_host=0, keepalive_timeout=120)
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(session):
        nonlocal started, ok, errors
        while started < total and time.monotonic() < deadline:
            started += 1
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status == 200:
                        ok += 1
                    else:
                        errors += 1
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                errors += 1

    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        t0 = time.monotonic()
        await asyncio.gather(*(worker(session) for _ in range(min(conc, total))))
        elapsed = time.monotonic() - t0
    return ok, errors, elapsed


def cli():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: aiohttp_peer.py URL CONCURRENCY TOTAL [SECONDS]")
    url, conc, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    secs = float(sys.argv[4]) if len(sys.argv) == 5 else 10.0
    ok, errors, elapsed = asyncio.run(main(url, conc, total, secs))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu_us = (ru.ru_utime + ru.ru_stime) * 1e6  # whole process, start-up included
    print("RESULT requests=%d errors=%d seconds=%.3f cpu_us_per_req=%.2f rss_kib=%d"
          % (ok, errors, elapsed, cpu_us / ok if ok else 0.0, ru.ru_maxrss))


if __name__ == "__main__":
    cli()
