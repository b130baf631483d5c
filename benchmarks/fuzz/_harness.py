"""Shared plumbing of the fuzz targets: run one target under atheris (libFuzzer), sort every
exception into "the layer's own" (expected) or a finding, and keep, per finding, the
shortest input that raised it, with its traceback.

A finding does not stop the run (libFuzzer would stop at the first crash): each distinct
(exception type, innermost rtio frame) is written once to ``$FUZZ_FINDINGS/<target>/``
(default ``artifacts/fuzz/findings``), replaced when a shorter input raises it again. A
hang is libFuzzer's ``-timeout`` (the run stops and libFuzzer writes ``timeout-*``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]


class Finding(Exception):
    """A harness check that failed (an invariant of the layer's contract, not a crash)."""


def _site(exc: BaseException) -> str:
    """file:line of the innermost frame in rtio (else the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    site = frames[-1] if frames else None
    for frame in reversed(frames):
        if f"{os.sep}rtio{os.sep}" in frame.filename:
            site = frame
            break
    if site is None:
        return "?"
    try:
        name = str(Path(site.filename).resolve().relative_to(ROOT))
    except ValueError:
        name = site.filename
    return f"{name}:{site.lineno}"


def _slug(key: str) -> str:
    slug = key.replace("/", "_").replace(":", "_").replace("@", "-")
    if len(slug) > 120:
        slug = slug[:100] + hashlib.sha1(slug.encode()).hexdigest()[:8]
    return slug


def run(
    target: str,
    one_input: Callable[[bytes], None],
    allowed: tuple[type[BaseException], ...],
) -> None:
    """Fuzz ``one_input``; exceptions that are instances of ``allowed`` are the layer's own."""
    default = ROOT / "artifacts" / "fuzz" / "findings"
    out = Path(os.environ.get("FUZZ_FINDINGS", default)) / target
    out.mkdir(parents=True, exist_ok=True)
    best = {p.stem: p.stat().st_size for p in out.glob("*.bin")}

    def test_one(data: bytes) -> None:
        try:
            one_input(data)
        except allowed:
            return
        except Exception as exc:  # every other one (RecursionError too) is a finding
            key = f"{type(exc).__name__}@{_site(exc)}"
            slug = _slug(key)
            if slug in best and best[slug] <= len(data):
                return
            new = slug not in best
            best[slug] = len(data)
            (out / (slug + ".bin")).write_bytes(data)
            text = "".join(traceback.format_exception(exc))
            (out / (slug + ".txt")).write_text(
                f"{key}\ninput ({len(data)} bytes): {data!r}\n\n{text}"
            )
            if new:
                print(
                    f"[fuzz:{target}] NEW FINDING {key} ({len(data)} bytes): {data[:80]!r}",
                    file=sys.stderr,
                    flush=True,
                )

    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
