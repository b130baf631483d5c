"""Asks a running ``wstest -m fuzzingserver`` to write its reports for one agent.

    python3 update_reports.py ws://127.0.0.1:PORT AGENT

The fuzzing server writes reports/index.json (and the HTML) when a WebSocket opens on
/updateReports?agent=AGENT, before it sends its close frame. So: the opening handshake, then
wait for that frame (or the end of the connection). A client under test normally does this
itself at the end; client.sh calls this too, so that a client that stopped half way still
leaves a report of the cases it ran. Exit status 0 iff the handshake succeeded.
"""

from __future__ import annotations

import base64
import os
import socket
import sys
import urllib.parse


def update_reports(base: str, agent: str, timeout: float = 60.0) -> bool:
    url = urllib.parse.urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    path = "/updateReports?" + urllib.parse.urlencode({"agent": agent})
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                return False
            received += chunk
        head, rest = received.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            return False
        while not rest:  # the close frame comes once the reports are written
            rest = sock.recv(4096)
            if not rest:
                break
    return True


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        ok = update_reports(sys.argv[1].rstrip("/"), sys.argv[2])
    except OSError as exc:
        print(f"update_reports.py: {exc}", file=sys.stderr)
        ok = False
    sys.exit(0 if ok else 1)
