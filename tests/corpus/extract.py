#!/usr/bin/env python3
"""Builds the fuzzers' seed corpus from the responses in tests/test_parser.c.

Every run of adjacent C string literals (HEAD200 expanded) that starts like a
response ("HTTP", "http", "SSH") or is the argument of CASE(...) becomes one
seed. For fuzz_parser (4 control bytes, see tests/fuzz_parser.c) each response
is written twice, with and without the close at the end, and once more
pipelined; for fuzz_client (2 control bytes, see tests/fuzz_client.c) once.
A few generated inputs (long chunk extensions, many chunks, header floods)
are added by hand. Run from the top directory:

    python3 tests/corpus/extract.py

Files found by fuzzing (crashes, regressions) live beside these as
parser/regress-* and client/regress-*; this script never removes them.
"""
import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "test_parser.c")
MACROS = {"HEAD200": b"HTTP/1.1 200 OK\r\n"}


def decode_literal(body):
    """The bytes of a C string literal's body (between the quotes)."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("latin-1")
            i += 1
            continue
        e = body[i + 1]
        i += 2
        simple = {"n": 10, "r": 13, "t": 9, '"': 34, "\\": 92, "'": 39, "?": 63, "a": 7, "b": 8,
                  "f": 12, "v": 11}
        if e in simple:
            out.append(simple[e])
        elif e == "x":
            j = i
            while j < len(body) and body[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(body[i:j], 16) & 0xFF)
            i = j
        elif e in "01234567":
            j = i - 1
            k = j
            while k < len(body) and k < j + 3 and body[k] in "01234567":
                k += 1
            out.append(int(body[j:k], 8) & 0xFF)
            i = k
        else:
            raise ValueError("escape \\" + e)
    return bytes(out)


TOKEN = re.compile(r'"((?:[^"\\\n]|\\.)*)"|\b(HEAD200)\b|(\S)', re.S)


def literal_runs(src):
    """(preceding text, bytes) for each run of adjacent literals / macros."""
    # drop comments, which hold quotes of their own
    src = re.sub(r"/\*.*?\*/", lambda m: " " * len(m.group(0)), src, flags=re.S)
    runs = []
    cur, start = None, 0
    for m in TOKEN.finditer(src):
        if m.group(1) is not None or m.group(2) is not None:
            piece = decode_literal(m.group(1)) if m.group(1) is not None else MACROS[m.group(2)]
            if cur is None:
                cur, start = bytearray(), m.start()
            cur += piece
        else:
            if cur is not None:
                runs.append((src[max(0, start - 8):start], bytes(cur)))
                cur = None
    return runs


def cases():
    src = open(SRC, encoding="latin-1").read()
    seen = []
    for before, data in literal_runs(src):
        if before.rstrip().endswith("CASE(") or data[:4] in (b"HTTP", b"http", b"SSH-"):
            if data not in seen:
                seen.append(data)
    # generated ones, as test_parser.c builds them
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    seen.append(chunked + b"5;x=" + b"a" * 4200)
    seen.append(chunked + b"5;x=" + b"a" * 4090 + b"\r\nhello\r\n0\r\n\r\n")
    seen.append(chunked + b"".join(b"1;i=%d\r\n%c\r\n" % (i, 97 + i % 26) for i in range(300)) + b"0\r\n\r\n")
    seen.append(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 200 + b"Content-Length: 0\r\n\r\n")
    seen.append(b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * 3000 + b"\r\nContent-Length: 0\r\n\r\n")
    seen.append(b"HTTP/1.1 100 Continue\r\n\r\n" * 20 + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    seen.append(chunked + b"fffffffffffffffffffff\r\n")
    return seen


def write(dirname, name, data):
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, name), "wb") as f:
        f.write(data)


def main():
    parser_dir = os.path.join(HERE, "parser")
    client_dir = os.path.join(HERE, "client")
    for d in (parser_dir, client_dir):
        if os.path.isdir(d):
            for f in os.listdir(d):
                if f.startswith("seed-"):
                    os.remove(os.path.join(d, f))
    all_cases = cases()
    for i, data in enumerate(all_cases):
        tag = hashlib.sha1(data).hexdigest()[:8]
        # fuzz_parser: flags (2: eof, 8: pipelined), head_cap, max_headers, seed
        write(parser_dir, "seed-%03d-%s" % (i, tag), bytes([0, 0, 0, i & 255]) + data)
        write(parser_dir, "seed-%03d-%s-eof" % (i, tag), bytes([2, 0, 0, i & 255]) + data)
        write(parser_dir, "seed-%03d-%s-pipe" % (i, tag), bytes([10, 0, 0, i & 255]) + data)
        # fuzz_client: mode (method, how the server ends), limits
        write(client_dir, "seed-%03d-%s" % (i, tag), bytes([0, 0]) + data)
    print("%d responses -> %s, %s" % (len(all_cases), parser_dir, client_dir), file=sys.stderr)


if __name__ == "__main__":
    main()
