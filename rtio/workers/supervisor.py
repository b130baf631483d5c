"""The supervisor: the parent process of ``--workers N``.

It binds and listens on the port itself (listen(): on Linux one SO_REUSEPORT socket per
worker, over which the kernel spreads the connections; the supervisor keeps them open, so
the connections waiting in a dead worker's backlog wait for its replacement), makes the
hand-off sockets (handoff.py), the bus (relay.py) and the workers' datagram sockets
(peers.py), forks the N workers, then only
watches: it relays the bus,
reaps a worker that exits and forks a new one in its place (same index, so the same id
prefix), and on SIGINT / SIGTERM stops them all gracefully together (SIGTERM to each:
each closes its sessions with a close packet, "server shutting down", as one process
does; the workers stop listening together once all have drained: relay.py), waiting up
to ``stop_timeout`` before SIGKILL. A second SIGINT / SIGTERM kills
them at once. The supervisor runs no event loop and no application code: a worker is
forked from a process that never served, so a restarted worker starts as clean as the
first.

States of one worker slot: :class:`SlotState` STARTING (forked) -> RUNNING (lived past
``settle`` seconds) -> EXITED (reaped) -> STARTING (restarted after a delay) ...; and of
the supervisor: :class:`SupervisorState` RUNNING -> STOPPING -> STOPPED.

A worker that dies within ``settle`` seconds of its start is restarted after a growing
delay (0.1 s doubling to 5 s); after ``max_fast_failures`` such deaths in a row of one
slot the supervisor gives up (:class:`WorkersFailing`: the app cannot start; its
traceback is in the log).

Errors: ``OSError`` when the port cannot be listened on (before any fork);
:class:`WorkersFailing`; ``WorkersUnsupported`` (worker.py) where ``os.fork`` is missing.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from .handoff import MAX_PASSED
from .peers import DATAGRAM
from .relay import Relay
from .worker import Worker, WorkersUnsupported

__all__ = ["SlotState", "SupervisorState", "WorkersFailing", "listen", "supervise"]

log = logging.getLogger("rtio.workers")


class WorkersFailing(RuntimeError):
    """A worker keeps dying right after its start, or found that the app cannot be served
    by several workers: the supervisor gave up."""


#: a worker's exit status when the app cannot be served by several workers
#: (WorkersUnsupported, its reason printed): restarting it would not help (EX_CONFIG)
UNSERVABLE = 78


class SlotState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"


class SupervisorState(enum.Enum):
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(eq=False)
class _Slot:
    index: int
    state: SlotState = SlotState.EXITED
    pid: int = 0
    started: float = 0.0
    fast_failures: int = 0
    restart_at: float = 0.0


def listen(
    host: str | None, port: int, count: int, *, backlog: int = 128
) -> list[socket.socket]:
    """The listening sockets of ``count`` workers (``host`` None: every interface, IPv4
    and IPv6 where the system can). Raises OSError.

    On Linux, one socket per worker, all bound to the port with SO_REUSEPORT: the kernel
    spreads new connections evenly over them (one shared socket would let the worker that
    wakes first take every queued connection). The supervisor keeps them all open, so the
    connections queued for a worker that died wait for its replacement. Elsewhere (no
    balancing SO_REUSEPORT), one socket shared by every worker."""
    balanced = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
    socks: list[socket.socket] = []
    try:
        for _ in range(count if balanced else 1):
            socks.append(_bind(host, port, backlog, balanced))
            port = socks[0].getsockname()[1]  # port 0: the others join the one picked
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks if balanced else socks * count


def _bind(host: str | None, port: int, backlog: int, reuse_port: bool) -> socket.socket:
    # (proto IPPROTO_TCP, not create_server's 0: asyncio sets TCP_NODELAY only on sockets
    # whose proto says TCP, and the accepted ones inherit it; without it a small write
    # after another waits for the client's delayed ACK, 40 ms)
    if host in (None, ""):
        dualstack = socket.has_dualstack_ipv6()
        family, address = (socket.AF_INET6, "::") if dualstack else (socket.AF_INET, "0.0.0.0")
    else:
        dualstack = False
        family, address = (socket.AF_INET6 if ":" in host else socket.AF_INET), host
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dualstack else 1)
        sock.bind((address, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def supervise(
    workers: int,
    serve: Callable[[Worker], None],
    socks: Sequence[socket.socket],
    *,
    stop_timeout: float = 30.0,
    settle: float = 1.0,
    max_fast_failures: int = 8,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run ``workers`` processes each calling ``serve(worker)`` (worker i listening on
    ``socks[i]``: listen()'s) until SIGINT or SIGTERM, restarting any that exits; returns
    once all have stopped."""
    if not hasattr(os, "fork"):
        raise WorkersUnsupported("several workers need os.fork (Linux, macOS, BSD)")
    Supervisor(workers, serve, socks, stop_timeout=stop_timeout, settle=settle,
               max_fast_failures=max_fast_failures).run(on_started)  # fmt: skip


class Supervisor:
    """The parent's loop (see the module's docstring)."""

    def __init__(
        self,
        workers: int,
        serve: Callable[[Worker], None],
        socks: Sequence[socket.socket],
        *,
        stop_timeout: float,
        settle: float,
        max_fast_failures: int,
    ) -> None:
        self.workers = workers
        self._serve = serve
        if len(socks) != workers:
            raise ValueError("one listening socket per worker")
        self._socks = socks
        self.stop_timeout = stop_timeout
        self.settle = settle
        self.max_fast_failures = max_fast_failures
        self.state = SupervisorState.RUNNING
        self.slots = [_Slot(i) for i in range(workers)]
        self._selector = selectors.DefaultSelector()
        self.relay = Relay(self._selector)
        # one datagram socket pair per worker: [0] it receives on, [1] the others send on
        self._handoff = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
                         for _ in range(workers)]  # fmt: skip
        for receive, send in self._handoff:
            receive.setblocking(False)
            send.setblocking(False)
            # room for a datagram of MAX_PASSED bytes (macOS allows 2 KiB by default;
            # Linux caps this at net.core.wmem_max, about 200 KiB by default)
            with contextlib.suppress(OSError):
                send.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_PASSED + 4096)
                receive.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MAX_PASSED)
        # and one per worker for the bus's messages from the other workers (peers.py)
        self._peers = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
                       for _ in range(workers)]  # fmt: skip
        for receive, send in self._peers:
            receive.setblocking(False)
            send.setblocking(False)
            with contextlib.suppress(OSError):
                # (what all the workers sent and the receiver has not read yet)
                send.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * DATAGRAM)
                receive.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * DATAGRAM)
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        self._signals = 0
        self._kill_at = 0.0
        #: restarts done (a worker died and was replaced)
        self.restarts = 0

    # -- the loop -------------------------------------------------------------------------------

    def run(self, on_started: Callable[[], None] | None = None) -> None:
        previous = {sig: signal.getsignal(sig)
                    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)}  # fmt: skip
        old_wakeup = signal.set_wakeup_fd(self._wakeup_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select up through the fd
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, None)
        try:
            for slot in self.slots:
                self._spawn(slot)
            if on_started is not None:
                on_started()
            while self.state is not SupervisorState.STOPPED:
                self._step()
        except BaseException:
            self._kill_all(signal.SIGKILL)
            self._reap(block=True)
            raise
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close()

    def _step(self) -> None:
        now = time.monotonic()
        timeout = 0.5
        for slot in self.slots:
            if slot.state is SlotState.EXITED and self.state is SupervisorState.RUNNING:
                timeout = min(timeout, max(0.0, slot.restart_at - now))
        events = self._selector.select(timeout)
        signalled = not events  # (a timeout: reap anyway, should a SIGCHLD have been missed)
        for key, mask in events:
            if key.data is None:
                self._drain_wakeup()
                signalled = True
            else:
                self.relay.handle(key.data, mask)
        if signalled:  # SIGCHLD, SIGINT, SIGTERM write the wake-up fd: no waitpid per relay
            self._reap(block=False)
        now = time.monotonic()
        if self.state is SupervisorState.RUNNING:
            for slot in self.slots:
                if slot.state is SlotState.STARTING and now - slot.started >= self.settle:
                    slot.state = SlotState.RUNNING
                    slot.fast_failures = 0
                elif slot.state is SlotState.EXITED and now >= slot.restart_at:
                    self.restarts += 1
                    self._spawn(slot)
        elif self.state is SupervisorState.STOPPING:
            if all(slot.state is SlotState.EXITED for slot in self.slots):
                self.state = SupervisorState.STOPPED
            elif now >= self._kill_at:
                log.warning("workers still running %.0f s after SIGTERM: killing them",
                            self.stop_timeout)  # fmt: skip
                self._kill_all(signal.SIGKILL)
                self._kill_at = now + 3600.0

    def _drain_wakeup(self) -> None:
        try:
            while self._wakeup_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second %s: killing the workers", signal.Signals(signum).name)
            self._kill_all(signal.SIGKILL)
            return
        self.stop()

    def stop(self) -> None:
        """Stop every worker gracefully (SIGTERM), then return from run()."""
        if self.state is not SupervisorState.RUNNING:
            return
        log.info("stopping %d workers", self.workers)
        self.state = SupervisorState.STOPPING
        self.relay.stop_together()  # (before the workers can answer the SIGTERM)
        self._kill_at = time.monotonic() + self.stop_timeout
        self._kill_all(signal.SIGTERM)

    def _kill_all(self, sig: int) -> None:
        for slot in self.slots:
            if slot.state is not SlotState.EXITED and slot.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, sig)

    # -- workers --------------------------------------------------------------------------------

    def _spawn(self, slot: _Slot) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            parent_end.close()
            self._run_child(slot.index, child_end)
        child_end.close()
        slot.pid = pid
        slot.started = time.monotonic()
        slot.state = SlotState.STARTING
        self.relay.add(slot.index, parent_end)
        log.info("worker %d started (pid %d)", slot.index, pid)

    def _run_child(self, index: int, bus_sock: socket.socket) -> None:
        """In the forked child: serve, then exit (never return into the parent's code)."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            os.close(self._selector.fileno())  # (not its close(): the parent's registrations)
            self.relay.forget()
            self._wakeup_r.close()
            self._wakeup_w.close()
            outboxes = [send for _receive, send in self._handoff]
            inbox = self._handoff[index][0]
            for i, (receive, _send) in enumerate(self._handoff):
                if i != index:
                    receive.close()
            for i, (receive, _send) in enumerate(self._peers):
                if i != index:
                    receive.close()
            mine = self._socks[index]
            for other in set(self._socks) - {mine}:
                other.close()
            worker = Worker(index, self.workers, sock=mine, outboxes=outboxes,
                            inbox=inbox, bus_sock=bus_sock,
                            peer_outboxes=[send for _receive, send in self._peers],
                            peer_inbox=self._peers[index][0])  # fmt: skip
            self._serve(worker)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except WorkersUnsupported as exc:
            print(f"rtio: worker {index}: {exc}", file=sys.stderr)
            code = UNSERVABLE
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _reap(self, *, block: bool) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((s for s in self.slots if s.pid == pid and s.state is not SlotState.EXITED),
                        None)  # fmt: skip
            if slot is not None:
                self._exited(slot, status)

    def _exited(self, slot: _Slot, status: int) -> None:
        now = time.monotonic()
        lived = now - slot.started
        slot.state = SlotState.EXITED
        self.relay.remove(slot.index)
        if os.WIFSIGNALED(status):
            how = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            how = f"exited with status {os.waitstatus_to_exitcode(status)}"
        if self.state is not SupervisorState.RUNNING:
            log.info("worker %d (pid %d) stopped: %s", slot.index, slot.pid, how)
            return
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == UNSERVABLE:
            self.stop()
            raise WorkersFailing(f"worker {slot.index} cannot serve this app (see above)")
        if lived < self.settle:
            slot.fast_failures += 1
            if slot.fast_failures >= self.max_fast_failures:
                self.stop()
                raise WorkersFailing(
                    f"worker {slot.index} died {slot.fast_failures} times within "
                    f"{self.settle:.0f} s of its start (last: {how}): giving up")
            delay = min(0.1 * 2 ** (slot.fast_failures - 1), 5.0)
        else:
            slot.fast_failures = 0
            delay = 0.0
        slot.restart_at = now + delay
        log.warning("worker %d (pid %d) %s after %.1f s: restarting it%s", slot.index, slot.pid,
                    how, lived, f" in {delay:.1f} s" if delay else "")  # fmt: skip

    def _close(self) -> None:
        self.relay.close()
        self._selector.close()
        for receive, send in (*self._handoff, *self._peers):
            receive.close()
            send.close()
        self._wakeup_r.close()
        self._wakeup_w.close()
