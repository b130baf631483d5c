"""Sums up an Autobahn|Testsuite run: counts per group, the cases that did not pass, one line.

    python3 summarize.py OUTDIR [--agent NAME] [--require-all] [--wall SECONDS]

Reads OUTDIR/reports/index.json (wstest's verdicts) and OUTDIR/expected_cases.txt (what
wstest_run.py selected: a selected case absent from the report is MISSING). Prints a table
of behaviors per case group, the ids of every case that is not OK, and last the line

  autobahn: N cases, OK=.., NON-STRICT=.., INFORMATIONAL=.., UNIMPLEMENTED=.., FAILED=.., MISSING=..

It also writes OUTDIR/summary.json. Exit status 0 iff FAILED and MISSING are 0 (and with
--require-all UNIMPLEMENTED too: 12.* and 13.* are UNIMPLEMENTED without permessage-deflate);
2 when there is no report at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KINDS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "MISSING")
GROUPS = {
    "1": "framing",
    "2": "pings/pongs",
    "3": "reserved bits",
    "4": "opcodes",
    "5": "fragmentation",
    "6": "UTF-8",
    "7": "close handling",
    "9": "limits/performance",
    "10": "auto-fragmentation",
    "12": "compression: payloads",
    "13": "compression: parameters",
}


def id_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case_id.split("."))


def verdicts(outdir: Path, agent: str | None) -> dict[str, str] | str:
    """case id -> behavior for every selected case, or why there is no report."""
    index_path = outdir / "reports" / "index.json"
    if not index_path.is_file():
        return f"no {index_path} (see wstest.log beside it)"
    index = json.loads(index_path.read_text())
    if agent not in index and len(index) == 1:
        agent = next(iter(index))
    found = {
        case_id: result.get("behavior", "?") for case_id, result in index.get(agent, {}).items()
    }
    expected_path = outdir / "expected_cases.txt"
    expected = expected_path.read_text().split() if expected_path.is_file() else []
    if not found and not expected:
        return "the report is empty: no case ran"
    for case_id in expected:
        found.setdefault(case_id, "MISSING")
    return dict(sorted(found.items(), key=lambda item: id_key(item[0])))


def table(results: dict[str, str]) -> list[str]:
    per_group: dict[str, Counter[str]] = {}
    for case_id, behavior in results.items():
        per_group.setdefault(case_id.split(".")[0], Counter())[behavior] += 1
    head = f"{'group':<28}{'cases':>6}" + "".join(f"{kind[:7]:>8}" for kind in KINDS)
    lines = [head, "-" * len(head)]
    for group, counts in per_group.items():
        name = f"{group} {GROUPS.get(group, '')}"
        cells = "".join(f"{counts[kind]:>8}" for kind in KINDS)
        lines.append(f"{name:<28}{sum(counts.values()):>6}{cells}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--agent")
    parser.add_argument("--require-all", action="store_true", help="UNIMPLEMENTED fails too")
    parser.add_argument("--wall", type=float, help="seconds the run took (kept in summary.json)")
    args = parser.parse_args()

    results = verdicts(args.outdir, args.agent)
    if isinstance(results, str):
        print(results)
        print("autobahn: 0 cases, no report")
        return 2
    counts = Counter(behavior if behavior in KINDS else "FAILED" for behavior in results.values())
    line = f"autobahn: {len(results)} cases, " + ", ".join(f"{k}={counts[k]}" for k in KINDS)

    print("\n".join(table(results)))
    for kind in KINDS[1:]:
        ids = [c for c, b in results.items() if b == kind or (kind == "FAILED" and b not in KINDS)]
        if ids:
            print(f"{kind} ({len(ids)}): {' '.join(ids)}")
    summary = {
        "line": line,
        "counts": {kind: counts[kind] for kind in KINDS},
        "not_ok": {case_id: b for case_id, b in results.items() if b != "OK"},
        "require_all": args.require_all,
        "wall_seconds": args.wall,
    }
    (args.outdir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(line)
    bad = (
        counts["FAILED"] + counts["MISSING"] + (counts["UNIMPLEMENTED"] if args.require_all else 0)
    )
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
