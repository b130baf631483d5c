"""rtio.cluster stands beside the protocol layers: it imports none of rtio's other packages,
except the adapters that join it to rtio.socketio (rtio/cluster/redis/adapter.py, its
sharded variant sharded.py, the parts that handle rtio.socketio's values: results.py,
serving.py, and rtio/cluster/convert.py, shared with rtio.workers), which import
rtio.socketio's public names only (cluster.py, the membership, knows the adapters through
a protocol only); its codecs import no I/O: only
rtio.cluster.redis touches asyncio and redis-py."""

from __future__ import annotations

import ast
from pathlib import Path

CLUSTER = Path(__file__).resolve().parents[2] / "rtio" / "cluster"
IO_MODULES = {"asyncio", "redis", "socket", "aiohttp", "time", "random"}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


ADAPTER_MODULES = (
    "adapter.py",
    "sharded.py",
    "results.py",
    "serving.py",
    "streams.py",
    "streams_requests.py",
    "streams_sessions.py",
)
ADAPTERS = (*(CLUSTER / "redis" / name for name in ADAPTER_MODULES), CLUSTER / "convert.py")


def test_cluster_imports_no_other_rtio_package() -> None:
    bad = [
        f"{path.relative_to(CLUSTER)}: {name}"
        for path in CLUSTER.rglob("*.py")
        for name in imports(path)
        if name.startswith("rtio.")
        and not name.startswith("rtio.cluster")
        and not (path in ADAPTERS and name == "rtio.socketio")
    ]
    assert bad == []


def test_only_the_adapter_imports_rtio_socketio_and_only_its_public_names() -> None:
    importers = {
        path.relative_to(CLUSTER).as_posix()
        for path in CLUSTER.rglob("*.py")
        for name in imports(path)
        if name.startswith("rtio.socketio")
    }
    assert importers == {f"redis/{name}" for name in ADAPTER_MODULES} | {"convert.py"}
    import rtio.socketio

    for path in ADAPTERS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "rtio.socketio":
                assert all(alias.name in rtio.socketio.__all__ for alias in node.names)


def test_the_codecs_and_policies_are_sans_io() -> None:
    sans_io = [p for p in CLUSTER.rglob("*.py") if p.name != "link.py" and p.parent.name != "redis"]
    sans_io.append(CLUSTER / "redis" / "policy.py")
    bad = [
        f"{path.relative_to(CLUSTER)}: {name}"
        for path in sans_io
        for name in imports(path)
        if name.split(".")[0] in IO_MODULES
    ]
    assert bad == []
