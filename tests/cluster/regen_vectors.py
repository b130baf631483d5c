"""Regenerate the cluster vectors from the npm packages and check they still match.

    python tests/cluster/regen_vectors.py            # capture, compare with vectors.json
    python tests/cluster/regen_vectors.py --write    # capture and overwrite vectors.json

Starts a throwaway redis-server (tests/cluster/redis_server.py), runs capture.mjs against it
(node, with tests/cluster/node_modules installed from the lockfile), and compares message by
message: the same steps, channels and bytes, except inside a fetchSockets answer, whose
handshake (time, issued, headers with a random WebSocket key and port) changes every run and
is compared with those fields masked.

It also publishes bytes made by rtio's codecs (PROBES: binary in a classic broadcast and
serverSideEmit, a sharded broadcast and serverSideEmit, the emitter) and checks what Node's
servers and clients received: rtio's messages are accepted by Node's, binary intact.
Exit status 0: all match; 1: a difference (printed).
"""

from __future__ import annotations

import json
import os
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

from rtio.cluster import classic, messages  # noqa: E402
from rtio.cluster.emitter import EmitterWire  # noqa: E402
from rtio.cluster.messages import ClusterMessage  # noqa: E402
from rtio.cluster.sharded import ShardedChannels  # noqa: E402
from rtio.cluster.wire import WireOptions, WirePacket, decode  # noqa: E402

VOLATILE = {"time", "issued", "headers"}


def probes() -> list[tuple[dict[str, str], list[str]]]:
    """(what to publish, what Node must observe), built with rtio's codecs."""
    uid, shard_uid = "rtioPY", "f" * 16
    sharded = ShardedChannels("/", shard_uid)
    classic_channels = classic.ClassicChannels("/", uid)
    emit = classic.ServerSideEmitRequest(uid, ["probe-bin", b"\x01\x02", "text"])
    bcast = classic.BroadcastMessage(
        uid, WirePacket(["probe-bcast", b"\x03\x04"], nsp="/"), WireOptions(("room1",))
    )
    s_bcast = ClusterMessage(
        shard_uid,
        "/",
        messages.Broadcast(WirePacket(["probe-bcast", b"\x05"]), WireOptions(("room1",))),
    )
    s_emit = ClusterMessage(shard_uid, "/", messages.ServerSideEmit(["probe-bin", b"\x06", 7]))
    e_channel, e_payload = EmitterWire().emit("probe-emitter", [b"\x07", {"k": 1}])

    def probe(name: str, how: str, channel: str, payload: bytes) -> dict[str, str]:
        return {"name": name, "how": how, "channel": channel, "hex": payload.hex()}

    return [
        (probe("classic.serverSideEmit.binary", "publish", classic_channels.request,
               classic.serialize_request(emit)), ["buffer:0102", '"text"']),
        (probe("classic.broadcast.binary", "publish", classic_channels.for_broadcast(("room1",)),
               bcast.serialize()), ["buffer:0304"]),
        (probe("sharded.broadcast.binary", "spublish", sharded.for_message(s_bcast),
               s_bcast.serialize()), ["buffer:05"]),
        (probe("sharded.serverSideEmit.binary", "spublish", sharded.for_message(s_emit),
               s_emit.serialize()), ["buffer:06", "7"]),
        (probe("emitter.emit.binary", "publish", e_channel, e_payload),
         ["buffer:07", '{"k":1}']),
    ]  # fmt: skip


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
            expected = probes()
            env = {**os.environ, "RTIO_PROBES": json.dumps([p for p, _ in expected])}
            subprocess.run(
                ["node", str(HERE / "capture.mjs"), str(server.port), str(out)],
                cwd=HERE, check=True, timeout=120, env=env,
            )  # fmt: skip
            new = json.loads(out.read_text())
        finally:
            server.stop()
    observed = new.pop("observed")
    new["vectors"] = [v for v in new["vectors"] if not v["step"].startswith("probe.")]
    problems = []
    for probe, want in expected:
        got = observed.get(probe["name"])
        print(f"probe {probe['name']}: Node received {got}")
        if got != want:
            problems.append(f"probe {probe['name']}: Node received {got}, expected {want}")
    fixture = HERE / "vectors.json"
    steps = len({v["step"] for v in new["vectors"]})
    print(f"captured {len(new['vectors'])} messages in {steps} steps")
    if write and not problems:
        fixture.write_text(json.dumps(new, indent=1) + "\n")
        print(f"wrote {fixture}")
        return 0
    problems += compare(json.loads(fixture.read_text()), new)
    for problem in problems:
        print(problem)
    print("vectors: match" if not problems else f"vectors: {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
