"""The layers import in one direction only: socketio -> engine -> ws, and the HTTP front
(rtio.http) beside socketio: http -> engine, ws. The engine does not know the front (it
answers any HttpRequest); the front needs the engine's interface (its HttpResponse,
PayloadTooLarge and where attach() records the engines) and rtio.ws (the WebSocket switch).

A layer may use the layer below only through its package (``rtio.ws``, ``rtio.engine``),
never through a private module of it, and never import anything above it. The top-level
``rtio.run`` composes them (socketio's ``Server.run`` imports it on use).
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
