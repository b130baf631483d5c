"""The layers import in one direction only: socketio -> engine -> ws, and the HTTP front
(rtio.http) beside socketio: http -> engine, ws. The engine does not know the front (it
answers any HttpRequest); the front needs the engine's interface (its HttpResponse,
PayloadTooLarge and where attach() records the engines) and rtio.ws (the WebSocket switch).

Beside them: rtio.client (above socketio, engine and ws, whose codecs it uses), rtio.asgi
(a third front), rtio.cluster (adapters, above socketio) and rtio.testing (clients of a
Server for tests).

A layer may use the layer below only through its package (``rtio.ws``, ``rtio.engine``),
never through a private module of it, and never import anything above it. The top-level
``rtio.run`` composes them (socketio's ``Server.run`` imports it on use).

Across all of rtio (layers or not): no import cycle, counting imports under
``TYPE_CHECKING`` and inside functions, and no module over 600 lines (STYLE.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

RTIO = Path(__file__).resolve().parent.parent / "rtio"
BELOW = {
    "ws": set(),
    "engine": {"ws"},
    "socketio": {"engine"},
    "http": {"engine", "ws"},
    # the client speaks the same wire with the codecs of the layers below it
    "client": {"socketio", "engine", "ws"},
    # the ASGI front: the engine's HttpRequest and WebSocket, a Server to serve
    "asgi": {"socketio", "engine", "ws"},
    # adapters between nodes: subclasses of the Socket.IO layer's Adapter
    "cluster": {"socketio"},
    # clients of a Server for an app's tests
    "testing": {"client", "socketio", "engine", "ws"},
}
LAYERS = tuple(BELOW)
#: subpackages documented as public paths (docs/PARSERS.md)
PUBLIC_SUBPACKAGES = {"rtio.socketio.parsers"}


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_layers_import_downwards_only() -> None:
    problems = []
    for layer in LAYERS:
        for path in (RTIO / layer).rglob("*.py"):
            for name in imported_modules(path):
                parts = name.split(".")
                if parts[0] != "rtio" or len(parts) < 2 or parts[1] == layer:
                    continue
                other = parts[1]
                if other not in LAYERS:
                    continue
                if other not in BELOW[layer]:
                    problems.append(f"{path.relative_to(RTIO)} imports {name} (not below it)")
                elif len(parts) > 2 and name not in PUBLIC_SUBPACKAGES:
                    problems.append(f"{path.relative_to(RTIO)} imports {name} (private module)")
    assert problems == []


# -- the import graph of every module ---------------------------------------------------------

#: the longest a module of rtio may be (STYLE.md: "keep files under 600 lines")
MAX_LINES = 600
#: modules allowed over MAX_LINES, each with the work that removes it
TOO_LONG_FOR_NOW: set[str] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(RTIO.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(RTIO.rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """The rtio modules ``name`` imports, anywhere in it (module level, functions,
    ``if TYPE_CHECKING:``): ``from pkg import mod`` counts as ``pkg.mod`` when ``mod`` is a
    module, else as ``pkg``; a relative import is resolved against ``name``'s package."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    found.add(f"{target}.{alias.name}")
                elif target in MODULES:
                    found.add(target)
    found.discard(name)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted:
    every module of one imports every other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # (recursion: the depth is at most the module count)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_import_cycles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": set()}
    assert import_cycles(graph) == [["a", "b", "c"], ["d", "e"]]


def test_relative_imports_count() -> None:
    source = RTIO / "client" / "socket.py"
    assert "rtio.client.acks" in imports_of("rtio.client.socket", source)
    assert "rtio.socketio" in imports_of("rtio.client.socket", source)


def test_no_import_cycle_in_rtio() -> None:
    graph = {name: imports_of(name, path) for name, path in MODULES.items()}
    assert sum(map(len, graph.values())) > 100  # the parser does see the imports
    cycles = import_cycles(graph)
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_module_over_600_lines() -> None:
    too_long = {}
    for path in MODULES.values():
        relative = path.relative_to(RTIO.parent).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES and relative not in TOO_LONG_FOR_NOW:
            too_long[relative] = lines
    assert too_long == {}
    for relative in TOO_LONG_FOR_NOW:  # an allowance ends with the module's split
        assert len((RTIO.parent / relative).read_text().splitlines()) > MAX_LINES, relative
