// The load generator of the recovery benchmark (bench_recovery_node.py runs it under
// `nice`): real socket.io-client 4.8 clients (WebSocket only), one JSON object a line on
// stdin / stdout.
//
//   node benchmarks/cluster/recovery_loadgen.mjs '{"port", "clients", "count", "rounds", "payload", "room"?}'
//
// Connects `clients` clients (each joins `room` when given), prints {"connected": n}, then
// answers lines from stdin:
//   {"op": "burst"}          the first client asks for burst(count), `rounds` times, each
//                            time waiting until every client got the count; prints
//                            {"delivered", "expected", "seconds"}
//   {"op": "cut"}            the first client's transport is cut (socket.io.engine.close());
//                            prints {"pid"} once the close went out
//   {"op": "restore", "offset"}  it reconnects claiming `offset` as its last one; prints
//                            {"ms" (connect() to "connect"), "recovered", "missed"}
//   {"op": "quit"}
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import readline from "node:readline";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../tests/cluster/streams/package.json"));
const { io } = require("socket.io-client");

const cfg = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let received = 0;
const connect = () =>
  new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${cfg.port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
    s.on("msg", () => received++);
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });

const all = [];
for (let i = 0; i < cfg.clients; i += 50) {
  all.push(...(await Promise.all(Array.from({ length: Math.min(50, cfg.clients - i) }, connect))));
}
if (cfg.room) for (const s of all) await s.emitWithAck("join", cfg.room);
const first = all[0];
out({ connected: all.length });

const payload = "x".repeat(cfg.payload || 100);
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const cmd = JSON.parse(line);
  if (cmd.op === "burst") {
    received = 0;
    const started = performance.now();
    let expected = 0;
    for (let r = 0; r < cfg.rounds; r++) {
      await first.timeout(30000).emitWithAck("burst", cfg.count, payload);
      expected += cfg.count * all.length;
      const deadline = performance.now() + 30000;
      while (received < expected && performance.now() < deadline) await sleep(1);
    }
    out({ delivered: received, expected, seconds: (performance.now() - started) / 1000 });
  } else if (cmd.op === "cut") {
    const pid = first._pid;
    first.io.engine.close();
    await sleep(300); // the server sees the close and saves the session
    out({ pid });
  } else if (cmd.op === "restore") {
    first._lastOffset = cmd.offset;
    let missed = 0;
    const count = (event) => { if (event === "msg" || event === "news") missed++; };
    first.onAny(count);
    const started = performance.now();
    const connected = new Promise((resolve, reject) => {
      first.once("connect", resolve);
      first.once("connect_error", reject);
    });
    first.connect();
    await connected;
    const ms = performance.now() - started;
    first.offAny(count);
    out({ ms, recovered: first.recovered, missed });
  } else if (cmd.op === "quit") {
    break;
  }
}
for (const s of all) s.disconnect();
process.exit(0);
