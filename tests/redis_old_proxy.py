#!/usr/bin/env python3
"""redis_old_proxy.py -- a test-only Redis that says it is 6.0.

Debian 12 ships no Redis older than 6.2, so tests/test_lifecycle.c checks
that pmqd refuses one through this proxy: it listens on a Unix socket,
forwards every byte to the real (private) Redis and back, and rewrites the
"redis_version:" field of the server's replies to a 6.0 version of the same
length (so that RESP's bulk lengths stay right).

    python3 redis_old_proxy.py LISTEN_SOCKET REDIS_SOCKET
"""
import asyncio
import os
import re
import sys

FIELD = b"redis_version:"
VERSION = re.compile(rb"redis_version:([0-9.]+)\r\n")


def old(match):
    real = match.group(1)
    fake = (b"6.0.0" + b"0" * len(real))[: len(real)]  # "7.0.15" -> "6.0.00"
    return FIELD + fake + b"\r\n"


async def pipe(reader, writer, rewrite):
    held = b""  # an unfinished line: the field may be cut by a read
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if not rewrite:
                writer.write(data)
            else:
                # Every RESP reply ends with CRLF: hold only an unfinished line.
                held += data
                cut = held.rfind(b"\r\n")
                cut = cut + 2 if cut >= 0 else 0
                writer.write(VERSION.sub(old, held[:cut]))
                held = held[cut:]
            await writer.drain()
        if held:
            writer.write(held)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def serve(client_reader, client_writer, redis_path):
    redis_reader, redis_writer = await asyncio.open_unix_connection(redis_path)
    await asyncio.gather(
        pipe(client_reader, redis_writer, False),
        pipe(redis_reader, client_writer, True),
    )


async def main(listen_path, redis_path):
    if os.path.exists(listen_path):
        os.unlink(listen_path)
    server = await asyncio.start_unix_server(
        lambda r, w: serve(r, w, redis_path), path=listen_path
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
