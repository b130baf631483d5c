"""Regenerate the cluster vectors from the npm packages and check they still match.

    python tests/cluster/regen_vectors.py            # capture, compare with vectors.json
    python tests/cluster/regen_vectors.py --write    # capture and overwrite vectors.json

Starts a throwaway redis-server (tests/cluster/redis_server.py), runs capture.mjs against it
(node, with tests/cluster/node_modules installed from the lockfile), and compares message by
message: the same steps, channels and bytes, except inside a fetchSockets answer, whose
handshake (time, issued, headers with a random WebSocket key and port) changes every run and
is compared with those fields masked. Exit status 0: match; 1: a difference (printed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from redis_server import RedisServer  # noqa: E402

from rtio.cluster.wire import decode  # noqa: E402

VOLATILE = {"time", "issued", "headers"}


def masked(value: Any) -> Any:
    if isinstance(value, dict):
        if "handshake" in value and isinstance(value["handshake"], dict):
            value = {**value, "handshake": {k: v for k, v in value["handshake"].items()
                                            if k not in VOLATILE}}  # fmt: skip
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def key(vector: dict[str, str]) -> tuple[Any, ...]:
    payload = bytes.fromhex(vector["hex"])
    if b"handshake" in payload:
        return (vector["channel"], "masked", json.dumps(masked(decode(payload)), default=repr))
    return (vector["channel"], "bytes", vector["hex"])


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems = []
    if old["context"]["versions"] != new["context"]["versions"]:
        problems.append(f"versions: {old['context']['versions']} -> {new['context']['versions']}")
    by_step: dict[str, list[list[tuple[Any, ...]]]] = defaultdict(lambda: [[], []])
    for index, fixture in enumerate((old, new)):
        for vector in fixture["vectors"]:
            by_step[vector["step"]][index].append(key(vector))
    for step, (was, now) in by_step.items():
        if sorted(was) != sorted(now):  # several nodes answer in any order
            problems.append(f"{step}:\n  fixture: {sorted(was)}\n  now:     {sorted(now)}")
    return problems


def main() -> int:
    write = "--write" in sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="rtio-redis-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            out = Path(tmp) / "vectors.json"
            subprocess.run(
                ["node", str(HERE / "capture.mjs"), str(server.port), str(out)],
                cwd=HERE, check=True, timeout=120,
            )  # fmt: skip
            new = json.loads(out.read_text())
        finally:
            server.stop()
    fixture = HERE / "vectors.json"
    steps = len({v["step"] for v in new["vectors"]})
    print(f"captured {len(new['vectors'])} messages in {steps} steps")
    if write:
        fixture.write_text(json.dumps(new, indent=1) + "\n")
        print(f"wrote {fixture}")
        return 0
    problems = compare(json.loads(fixture.read_text()), new)
    for problem in problems:
        print(problem)
    print("vectors: match" if not problems else f"vectors: {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
