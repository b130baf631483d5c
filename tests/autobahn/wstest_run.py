"""Runs ``wstest`` (Python 2.7, in the virtualenv of install.sh) on one selection of cases.

    $VENV/bin/python wstest_run.py client|server URL OUTDIR [CASES] [AGENT]

``client``: wstest's fuzzing client tests the server echoing at URL (ws://host:port/path).
``server``: wstest's fuzzing server listens at URL (ws://127.0.0.1:PORT) for a client under
test. CASES are comma separated id patterns (``*``, ``6.*``, ``12.1.*,7.9.5``; a leading
``-`` excludes: ``*,-12.*,-13.*``). Writes OUTDIR/spec.json and OUTDIR/expected_cases.txt
(the ids wstest will run, one a line: a summary calls the absent ones MISSING), then runs
wstest there; its reports go to OUTDIR/reports. Every socket wstest listens on is bound to
127.0.0.1 (wstest's own default is every interface) and its web UI is off.

Written for Python 2.7, in the subset that Python 3 also parses (ruff checks it).
"""

import json
import os
import sys

# the package imports its choosereactor first, as wstest needs, before twisted below
from autobahntestsuite import case, caseset, fuzzing, wstest
from twisted.internet import reactor


def selection(text):
    """(included, excluded) id patterns of a CASES argument."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    return [w for w in words if not w.startswith("-")] or ["*"], [
        w[1:] for w in words if w.startswith("-")
    ]


def make_spec(mode, url, reports, cases, agent):
    included, excluded = selection(cases)
    spec = {
        "outdir": reports,
        "cases": included,
        "exclude-cases": excluded,
        "exclude-agent-cases": {},
    }
    if mode == "client":
        spec["servers"] = [{"agent": agent, "url": url, "options": {"version": 18}}]
    else:
        # RFC 6455 7.1.1: a client may close the TCP connection once the close frames are
        # exchanged; that is no failure (wstest reports it in behaviorClose).
        spec["url"] = url
        spec["options"] = {"failByDrop": False}
    return spec


def expected_cases(spec):
    """The ids wstest will run for spec, in its order; exits on an unknown exact id."""
    cases = caseset.CaseSet(
        case.CaseSetname, case.CaseBasename, case.Cases, case.CaseCategories, case.CaseSubCategories
    )
    unknown = [
        c
        for c in spec["cases"] + spec["exclude-cases"]
        if "*" not in c and c not in cases.CasesIndices
    ]
    if unknown:
        sys.exit("wstest_run.py: no such case: " + " ".join(unknown))
    return cases.parseSpecCases(spec)


def bind_to_loopback():
    listen_ws, listen_tcp = fuzzing.listenWS, reactor.listenTCP

    def loopback_ws(factory, context_factory=None, backlog=50, interface=""):
        return listen_ws(factory, context_factory, backlog, interface or "127.0.0.1")

    def loopback_tcp(port, factory, backlog=50, interface=""):
        return listen_tcp(port, factory, backlog, interface or "127.0.0.1")

    fuzzing.listenWS = loopback_ws
    reactor.listenTCP = loopback_tcp


def main(argv):
    if len(argv) < 3 or argv[0] not in ("client", "server"):
        sys.exit(__doc__)
    mode, url, outdir = argv[:3]
    cases = argv[3] if len(argv) > 3 else "*"
    agent = argv[4] if len(argv) > 4 else "testee"
    outdir = os.path.abspath(outdir)
    spec = make_spec(mode, url, os.path.join(outdir, "reports"), cases, agent)
    spec_path = os.path.join(outdir, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=1)
    ids = expected_cases(spec)
    if not ids:
        sys.exit("wstest_run.py: the selection " + repr(cases) + " has no case")
    with open(os.path.join(outdir, "expected_cases.txt"), "w") as f:
        f.write("\n".join(ids) + "\n")
    bind_to_loopback()
    os.chdir(outdir)
    sys.argv = ["wstest", "-m", "fuzzing" + mode, "-s", spec_path, "-u", "0"]
    wstest.run()


if __name__ == "__main__":
    main(sys.argv[1:])
