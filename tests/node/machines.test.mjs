// Several machines behind a load balancer with no affinity (rtio.workers.forward, issue 15):
// a real redis-server, two `rtio serve workers_app:make_app --workers 2` servers with the
// Redis adapter and forwarding on, and a round-robin TCP proxy written here (each new
// connection to the next server) in front. The npm socket.io-client over polling,
// websocket and upgrade connects through the proxy, gets acks from its session's owner,
// and broadcasts from clients of the other server; no "Session ID unknown".
// Run by tests/stages/64-machines.sh.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { connect, once, until } from "./socketio_helpers.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PY = process.env.RTIO_PYTHON || path.join(ROOT, ".venv/bin/python");
const SECRET = "machines-node-test-secret-0123456789";

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function logged(proc) {
  const state = { text: "" };
  proc.stdout.on("data", (d) => (state.text += d));
  proc.stderr.on("data", (d) => (state.text += d));
  return state;
}

async function startRedis(dir) {
  const port = await freePort();
  const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir,
    "--save", "", "--appendonly", "no", "--protected-mode", "no"], { stdio: ["ignore", "pipe", "pipe"] });
  const log = logged(proc);
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  await until(() => log.text.includes("Ready to accept connections"), 10000);
  return { port, async stop() { proc.kill("SIGTERM"); await exited; } };
}

async function startServer(redisPort, workers) {
  const port = await freePort();
  const env = {
    ...process.env,
    RTIO_TEST_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    RTIO_TEST_FORWARD_ADDRESS: `127.0.0.1:${port}`,
    RTIO_TEST_FORWARD_SECRET: SECRET,
  };
  const proc = spawn(PY, ["-m", "rtio", "serve", "workers_app:make_app", "--port", String(port),
    "--workers", String(workers), "--log-level", "info"],
    { cwd: path.join(ROOT, "tests/workers"), stdio: ["ignore", "pipe", "pipe"], env });
  const log = logged(proc);
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  await until(() => (log.text.match(/forwards requests of other machines/g) || []).length >= workers
    && log.text.includes("serving"), 30000);
  return { port, log: () => log.text, async stop() { proc.kill("SIGTERM"); return exited; } };
}

// each new connection to the next target; bytes copied both ways (pipe: back-pressure)
function roundRobinProxy(ports) {
  const counts = ports.map(() => 0);
  let next = 0;
  const open = new Set();
  const server = net.createServer((client) => {
    const index = next;
    next = (next + 1) % ports.length;
    counts[index] += 1;
    const upstream = net.connect(ports[index], "127.0.0.1");
    open.add(client);
    open.add(upstream);
    client.pipe(upstream).on("error", () => {});
    upstream.pipe(client).on("error", () => {});
    const end = () => { client.destroy(); upstream.destroy(); open.delete(client); open.delete(upstream); };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    counts,
    close() { for (const s of open) s.destroy(); server.close(); },
  })));
}

const ask = (socket, ...args) => socket.timeout(10000).emitWithAck(...args);

describe("two servers of 2 workers, a round-robin proxy, no affinity", () => {
  let dir;
  let redis;
  let servers;
  let proxy;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "rtio-machines-"));
    redis = await startRedis(dir);
    servers = [await startServer(redis.port, 2), await startServer(redis.port, 2)];
    proxy = await roundRobinProxy(servers.map((s) => s.port));
  });
  after(async () => {
    proxy?.close();
    const codes = [];
    for (const server of servers || []) codes.push(await server.stop());
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(codes, (servers || []).map(() => 0));
    const counts = [];
    for (const server of servers || []) {
      assert.doesNotMatch(server.log(), /Session ID unknown|Traceback|cannot forward/);
      // each process logs its counts at shutdown
      const found = [...server.log().matchAll(/: (\d+) connections forwarded, (\d+) received/g)];
      assert.equal(found.length, 2, server.log());
      counts.push(...found.map((m) => [Number(m[1]), Number(m[2])]));
    }
    // connections were forwarded, and received forwarded (which server forwards more
    // depends on where each client's connections land)
    assert.ok(counts.some(([forwarded]) => forwarded > 0), JSON.stringify(counts));
    assert.ok(counts.some(([, received]) => received > 0), JSON.stringify(counts));
  });

  for (const [mode, transports] of [
    ["polling", ["polling"]],
    ["websocket", ["websocket"]],
    ["upgrade", ["polling", "websocket"]],
  ]) {
    test(`${mode}: acks from the owner, broadcasts from the other server`, async () => {
      const sockets = [];
      const heard = [];
      const problems = [];
      try {
        // 12 sessions at least, on two processes at least (where a handshake lands depends
        // on how many connections each client opened before: give it room)
        const pids = [];
        for (let i = 0; i < 40 && (i < 12 || new Set(pids).size < 2 || i % 2 === 1); i++) {
          const socket = await connect(proxy.url, { transports });
          pids.push(await ask(socket, "whoami"));
          socket.on("heard", (msg) => heard.push([i, msg]));
          socket.on("disconnect", (reason) => problems.push(`${i} disconnect: ${reason}`));
          socket.on("connect_error", (err) => problems.push(`${i} connect_error: ${err.message}`));
          sockets.push(socket);
        }
        if (mode === "upgrade") {
          await Promise.all(sockets.map((s) =>
            s.io.engine.transport.name === "websocket" ? null : once(s.io.engine, "upgrade", 10000)));
        }
        assert.equal(new Set(pids).size >= 2, true, `sessions on ${new Set(pids).size} processes`);
        for (let round = 0; round < 3; round++) {
          assert.deepEqual(await Promise.all(sockets.map((s) => ask(s, "whoami"))), pids);
        }
        for (let i = 0; i < sockets.length; i += 2) assert.equal(await ask(sockets[i], "join", "even"), true);
        assert.equal(await ask(sockets[1], "count", "even"), sockets.length / 2);
        // a client (of whichever server) shouts to the room, then to everybody
        assert.equal(await ask(sockets[1], "shout", "even", "to evens"), true);
        assert.equal(await ask(sockets[2], "shout", null, "to all"), true);
        const expected = sockets.length / 2 * 2 + sockets.length / 2;
        await until(() => heard.length === expected, 10000);
        for (let i = 0; i < sockets.length; i++) {
          // (two publishers on two servers: no order between their messages)
          const mine = heard.filter(([n]) => n === i).map(([, msg]) => msg).sort();
          assert.deepEqual(mine, i % 2 === 0 ? ["to all", "to evens"] : ["to all"], `client ${i}`);
        }
        assert.deepEqual(problems, []);
        assert.equal(proxy.counts.every((c) => c > 0), true);
      } finally {
        for (const s of sockets) s.close();
      }
    });
  }
});
