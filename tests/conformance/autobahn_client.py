"""The client under test for Autobahn's fuzzing server (``tests/autobahn/client.sh ... --
CMD``): rtio's own WebSocket client, as an echo client with permessage-deflate offered and no
size limits.

    python tests/conformance/autobahn_client.py ws://127.0.0.1:PORT [AGENT]

Asks ``/getCaseCount``, then for each case connects to ``/runCase?case=i&agent=AGENT``,
echoes every message back (text as text, binary as binary) until the server closes, and
finally asks for ``/updateReports``. Prints one line per case and exits non-zero only on an
error of the driver itself (the verdicts are the fuzzing server's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))  # the repo root

from rtio.ws import ConnectionClosed, ConnectionOptions, DeflateOptions, connect

OPTIONS = ConnectionOptions(
    max_message_size=None,
    max_frame_size=None,
    ping_interval=None,
    close_timeout=5.0,
    max_queue=64,
    write_limit=1 << 20,
)
COMPRESSION = DeflateOptions(threshold=0)


async def run_case(base: str, case: int, agent: str) -> None:
    query = urllib.parse.urlencode({"case": case, "agent": agent})
    try:
        ws = await connect(
            f"{base}/runCase?{query}", compression=COMPRESSION, options=OPTIONS
        )
    except (OSError, asyncio.TimeoutError) as exc:
        print(f"case {case}: could not connect: {exc}", flush=True)
        return
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass
    await ws.wait_closed()


async def get_text(url: str) -> str:
    ws = await connect(url, options=OPTIONS)
    try:
        message = await ws.recv()
    finally:
        await ws.close()
    assert isinstance(message, str)
    return message


async def update_reports(base: str, agent: str) -> None:
    query = urllib.parse.urlencode({"agent": agent})
    ws = await connect(f"{base}/updateReports?{query}", options=OPTIONS)
    await ws.wait_closed()


async def main(base: str, agent: str) -> None:
    count = int(await get_text(f"{base}/getCaseCount"))
    print(f"{count} cases", flush=True)
    for case in range(1, count + 1):
        start = time.monotonic()
        await run_case(base, case, agent)
        print(f"case {case}/{count} done in {time.monotonic() - start:.2f}s", flush=True)
    await update_reports(base, agent)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=os.environ.get("AUTOBAHN_URL"))
    parser.add_argument("agent", nargs="?", default=os.environ.get("AUTOBAHN_AGENT", "rtio"))
    args = parser.parse_args()
    if not args.url:
        parser.error("no URL (give one or set AUTOBAHN_URL)")
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args.url.rstrip("/"), args.agent))
    else:
        uvloop.run(main(args.url.rstrip("/"), args.agent))
