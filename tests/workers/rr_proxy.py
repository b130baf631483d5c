"""A round-robin TCP proxy for the machines tests: each new connection goes to the next
target that accepts it (no affinity whatsoever), bytes copied both ways until either side
closes. Runs its own event loop in a thread, so that sync and async tests can use it. (The
Node test, tests/node/machines.test.mjs, has its own, with Node's net module.)"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class RoundRobinProxy:
    def __init__(self, targets: list[tuple[str, int]], port: int = 0) -> None:
        self.targets = targets
        self.port = port
        #: connections sent to each target
        self.counts = [0] * len(targets)
        self._next = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RoundRobinProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # the next target that accepts (a load balancer skips a server that is down)
        for _ in range(len(self.targets)):
            index = self._next
            self._next = (index + 1) % len(self.targets)
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.targets[index])
            except OSError:
                continue
            self.counts[index] += 1
            break
        else:
            writer.close()
            return
        await asyncio.gather(self._copy(reader, up_writer), self._copy(up_reader, writer))

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    def stop(self) -> None:
        """Close the proxy and its connections, and end its loop (no coroutine is left for
        the garbage collector to finalize later, in another thread)."""

        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(shut()))
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()
