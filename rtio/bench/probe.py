"""Readings of a local process from /proc (Linux): CPU time and resident memory, and
finding the process that listens on a loopback TCP port.

Owns file reads only; no clock of its own beyond what the caller passes. Every reading
returns None when /proc is missing, the process is gone or not ours to read (the report
then says so): a bench against a remote or foreign server still runs, without these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessProbe", "Reading", "find_listener_pid", "self_cpu_seconds"]

_PROC = Path("/proc")
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


@dataclass(frozen=True)
class Reading:
    """One reading: ``cpu_s`` user+system seconds of all the process's threads so far,
    ``rss_bytes`` its resident set."""

    cpu_s: float
    rss_bytes: int


class ProcessProbe:
    """Reads /proc/PID/stat (utime + stime) and /proc/PID/status (VmRSS)."""

    def __init__(self, pid: int, proc: Path = _PROC) -> None:
        if pid <= 0:
            raise ValueError(f"not a process id: {pid}")
        self.pid = pid
        self._dir = proc / str(pid)

    def read(self) -> Reading | None:
        try:
            stat = (self._dir / "stat").read_text()
            status = (self._dir / "status").read_text()
        except OSError:
            return None
        return parse_reading(stat, status)


def parse_reading(stat: str, status: str) -> Reading | None:
    """A Reading from the texts of /proc/PID/stat and /proc/PID/status."""
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    except (IndexError, ValueError):
        return None
    rss = None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            try:
                rss = int(parts[1]) * 1024  # kB
            except (IndexError, ValueError):
                return None
            break
    if rss is None:
        return None
    return Reading(ticks / _CLK_TCK, rss)


def self_cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads)."""
    times = os.times()
    return times.user + times.system


def find_listener_pid(port: int, proc: Path = _PROC) -> int | None:
    """The PID of the process listening on TCP ``port`` of this machine, from
    /proc/net/tcp{,6} (the socket's inode) and /proc/*/fd (who holds it); None when none
    or when the holder's fds are not readable by us."""
    inodes = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10 or cols[3] != _LISTEN:
                continue
            local_port = int(cols[1].rsplit(":", 1)[1], 16)
            if local_port == port and cols[9] != "0":
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    try:
        entries = list(proc.iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return int(entry.name)
            except OSError:
                continue
    return None
