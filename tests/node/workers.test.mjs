// rtio serve --workers N (tests/workers/workers_app.py) against the npm socket.io-client:
// no sticky sessions, so the requests of one session land on any worker and must reach
// their owner. Run by tests/stages/62-workers.sh.
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { connect, once, until } from "./socketio_helpers.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PY = process.env.RTIO_PYTHON || path.join(ROOT, ".venv/bin/python");

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function startWorkers(workers) {
  const port = await freePort();
  const proc = spawn(
    PY,
    ["-m", "rtio", "serve", "workers_app:sio", "--port", String(port), "--workers", String(workers)],
    { cwd: path.join(ROOT, "tests/workers"), stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  await until(() => (log.match(/started \(pid/g) || []).length >= workers && log.includes("serving"), 20000);
  return {
    url: `http://127.0.0.1:${port}`,
    log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      return exited;
    },
  };
}

const ask = (socket, ...args) => socket.timeout(10000).emitWithAck(...args);

for (const workers of [2, 3, 4]) {
  describe(`${workers} workers`, () => {
    let server;
    before(async () => {
      server = await startWorkers(workers);
    });
    after(async () => {
      const code = await server.stop();
      assert.equal(code, 0);
      assert.doesNotMatch(server.log(), /Session ID unknown|Traceback/);
    });

    for (const [mode, transports] of [
      ["polling", ["polling"]],
      ["upgrade", ["polling", "websocket"]],
    ]) {
      test(`many ${mode} clients: each session stays with its worker, broadcasts reach all`, async () => {
        const sockets = [];
        const heard = [];
        const problems = [];
        try {
          for (let i = 0; i < 24; i++) {
            const socket = await connect(server.url, { transports });
            socket.on("heard", (msg) => heard.push([i, msg]));
            socket.on("disconnect", (reason) => problems.push(`${i} disconnect: ${reason}`));
            socket.on("connect_error", (err) => problems.push(`${i} connect_error: ${err.message}`));
            sockets.push(socket);
          }
          const pids = await Promise.all(sockets.map((s) => ask(s, "whoami")));
          assert.equal(new Set(pids).size >= 2, true, `sessions on ${new Set(pids).size} workers`);
          if (mode === "upgrade") {
            await Promise.all(
              sockets.map((s) =>
                s.io.engine.transport.name === "websocket" ? null : once(s.io.engine, "upgrade", 5000),
              ),
            );
          }
          for (let round = 0; round < 3; round++) {
            const again = await Promise.all(sockets.map((s) => ask(s, "whoami")));
            assert.deepEqual(again, pids);
          }
          assert.equal(await ask(sockets[0], "count"), sockets.length);
          assert.equal(await ask(sockets[0], "shout", null, "hello"), true);
          await until(() => heard.length === sockets.length, 5000);
          assert.deepEqual(problems, []);
        } finally {
          for (const s of sockets) s.close();
        }
      });
    }
  });
}
