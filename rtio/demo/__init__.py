"""The chat demo that ``rtio demo`` serves.

- ``rtio/demo/chat.py``: the server side, on rtio's public API (the file to read and copy).
- ``clients/js-demo/``: the browser side (socket.io-client, bundled with esbuild into
  ``clients/js-demo/dist/``). :func:`find_bundle` finds that build, and builds it first
  (``npm ci`` + ``npm run build``) when it is missing or older than its sources.
- ``rtio/demo/static/``: that build as package data of the wheel and the sdist
  (scripts/build-wheels.sh copies it there), used when there is no checkout: after
  ``pip install rtio``, ``rtio demo`` needs neither npm nor the repository.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["BundleNotFound", "find_bundle"]

log = logging.getLogger("rtio.demo")

JS_DEMO = Path(__file__).resolve().parents[2] / "clients" / "js-demo"
PACKAGED = Path(__file__).resolve().parent / "static"


class BundleNotFound(Exception):
    """The browser app is neither built nor buildable here."""


def _newest_source(project: Path) -> float:
    sources = [project / "index.html", project / "build.mjs", project / "package-lock.json"]
    sources += (project / "src").rglob("*")
    return max((p.stat().st_mtime for p in sources if p.is_file()), default=0.0)


def _npm(project: Path, *args: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise BundleNotFound("npm is not installed: it is needed once to build the demo's bundle")
    log.info("building the demo's browser bundle: npm %s", " ".join(args))
    try:
        subprocess.run([npm, *args, "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=project, check=True)
    except subprocess.CalledProcessError as exc:
        raise BundleNotFound(f"`npm {' '.join(args)}` failed in {project}") from exc


def find_bundle(project: Path = JS_DEMO, packaged: Path = PACKAGED) -> Path:
    """The directory holding the built browser app (its ``index.html`` and ``assets/``).

    ``$RTIO_DEMO_DIST`` overrides it. In a git checkout it is ``clients/js-demo/dist``,
    built (or rebuilt) first when needed; in an installed package, the build shipped in
    the wheel (``rtio/demo/static``).
    """
    override = os.environ.get("RTIO_DEMO_DIST")
    if override:
        dist = Path(override)
        if not (dist / "index.html").is_file():
            raise BundleNotFound(f"$RTIO_DEMO_DIST={override} has no index.html")
        return dist
    dist = project / "dist"
    index = dist / "index.html"
    if not (project / "package.json").is_file():
        if index.is_file():
            return dist
        if (packaged / "index.html").is_file():
            return packaged
        raise BundleNotFound(
            f"this installation of rtio has no built browser app ({packaged}) and there are "
            f"no demo sources at {project}: install a wheel built by scripts/build-wheels.sh, "
            "or run rtio from its git checkout")
    if index.is_file() and index.stat().st_mtime >= _newest_source(project):
        return dist
    # node_modules is reinstalled when the lock changes (scripts/demo.sh keeps the same stamp).
    want = hashlib.sha256((project / "package-lock.json").read_bytes()).hexdigest()
    stamp = project / "node_modules" / ".rtio-lock-sha256"
    if not stamp.is_file() or stamp.read_text().strip() != want:
        _npm(project, "ci")
        stamp.write_text(want + "\n")
    _npm(project, "run", "build")
    return dist
