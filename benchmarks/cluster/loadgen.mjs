// The load generator of the cluster benchmarks (bench.py runs it under `nice`): real
// socket.io-client 4.8 clients (WebSocket only), one JSON object a line on stdin / stdout.
//
//   node benchmarks/cluster/loadgen.mjs '<json config>'
//
// config: {"layout": [{"port", "n", "room"?}, ...], "sender": port?, "target": room?,
//          "count": messages per bcast, "rounds", "payload": bytes of the payload string}
// It connects layout's clients (joining their room, acked), prints {"connected": n}, then
// waits for a line from stdin:
//   {"op": "bcast"}        the sender asks its node to emit `count` messages to `target`,
//                          `rounds` times, each round waiting until every member of
//                          `target` got it; prints {"delivered", "expected", "seconds"}
//   {"op": "fetch", "reps"} the first client asks its node for fetchSockets `reps` times;
//                          prints its answer {"n", "ms": [...]}
//   {"op": "stats", "port"} a client of that port asks for its node's stats
//   {"op": "quit"}
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import readline from "node:readline";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../tests/cluster/package.json"));
const { io } = require("socket.io-client");

const cfg = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const connect = (port) =>
  new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });

const members = [];
const all = [];
let received = 0;
for (const group of cfg.layout) {
  for (let i = 0; i < group.n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, group.n - i) }, () => connect(group.port)));
    for (const s of batch) {
      s.port = group.port;
      all.push(s);
      if (group.room) {
        await s.emitWithAck("join", group.room);
        if (group.room === cfg.target) {
          members.push(s);
          s.on("msg", () => received++);
        }
      }
    }
  }
}
const sender = cfg.sender ? await connect(cfg.sender) : all[0];
out({ connected: all.length, members: members.length });

const payload = "x".repeat(cfg.payload || 100);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const cmd = JSON.parse(line);
  if (cmd.op === "bcast") {
    received = 0;
    const started = performance.now();
    let expected = 0;
    for (let r = 0; r < cfg.rounds; r++) {
      await sender.emitWithAck("bcast", cfg.target, cfg.count, payload);
      expected += cfg.count * members.length;
      const deadline = performance.now() + 10000;
      while (received < expected && performance.now() < deadline) await sleep(1);
    }
    out({ delivered: received, expected, seconds: (performance.now() - started) / 1000 });
  } else if (cmd.op === "fetch") {
    out(await all[0].timeout(60000).emitWithAck("fetch", cmd.reps));
  } else if (cmd.op === "stats") {
    out(await all.find((s) => s.port === cmd.port).emitWithAck("stats"));
  } else if (cmd.op === "quit") {
    break;
  }
}
for (const s of [...all, sender]) s.disconnect();
process.exit(0);
