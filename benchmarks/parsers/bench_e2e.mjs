// End-to-end echo and broadcast through an rtio server, JSON clients vs msgpack clients
// (the real npm socket.io-client, with socket.io-msgpack-parser for msgpack), over
// WebSocket, all on this machine: the server is tests/node/msgpack_server.py.
//
//   node benchmarks/parsers/bench_e2e.mjs [--clients 20] [--seconds 3]
//
// echo:      every client keeps one emitWithAck("echo", ...payload) in flight; acks/s.
// broadcast: every client in one room; one client asks the server for broadcasts in a
//            loop; deliveries/s (events received by all clients together).
// Payloads: "small" (an event name and a small object), "binary" (plus a 4 KiB buffer).
// Client and server share the machine's cores: read the figures as relative.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(ROOT, "tests/node/package.json"));
const { io } = require("socket.io-client");
const msgpackParser = require("socket.io-msgpack-parser");
const PY = process.env.RTIO_PYTHON || path.join(ROOT, ".venv/bin/python");

const arg = (name, fallback) => {
  const k = process.argv.indexOf(`--${name}`);
  return k > 0 ? Number(process.argv[k + 1]) : fallback;
};
const CLIENTS = arg("clients", 20);
const SECONDS = arg("seconds", 3);

const PAYLOADS = {
  small: ["chat", { user: "ann", text: "hello world", n: 42 }],
  binary: ["file", { name: "a.bin" }, Buffer.alloc(4096, 7)],
};
const PARSERS = {
  json: {},
  msgpack: { parser: msgpackParser, query: { parser: "msgpack" } },
};

async function startServer() {
  const proc = spawn(PY, [path.join(ROOT, "tests/node/msgpack_server.py")], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).on("line", (text) => {
      const line = JSON.parse(text);
      if (line.event === "listening") resolve(line.port);
    });
    proc.on("exit", (code) => reject(new Error(`server exited (${code})`)));
  });
  return { proc, url: `http://127.0.0.1:${port}` };
}

function connect(url, options) {
  const socket = io(url, { forceNew: true, reconnection: false, transports: ["websocket"], ...options });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

async function echo(sockets, payload) {
  let acks = 0;
  const end = Date.now() + SECONDS * 1000;
  const start = process.hrtime.bigint();
  await Promise.all(
    sockets.map(async (s) => {
      while (Date.now() < end) {
        await s.emitWithAck("echo", ...payload);
        acks++;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return acks / elapsed;
}

async function broadcast(sockets, payload, room) {
  await Promise.all(sockets.map((s) => s.emitWithAck("join", room)));
  let received = 0;
  for (const s of sockets) s.on(payload[0], () => received++);
  const [sender] = sockets;
  const end = Date.now() + SECONDS * 1000;
  const start = process.hrtime.bigint();
  let sent = 0;
  while (Date.now() < end) {
    await sender.emitWithAck("bcast", { room, event: payload[0], args: payload.slice(1) });
    sent++;
  }
  const target = sent * sockets.length;
  while (received < target) await new Promise((r) => setTimeout(r, 1));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  for (const s of sockets) s.off(payload[0]);
  return received / elapsed;
}

const { proc, url } = await startServer();
try {
  console.log(`${CLIENTS} clients over WebSocket, ${SECONDS} s per figure`);
  console.log(`${"payload".padEnd(8)} ${"parser".padEnd(8)} ${"echo acks/s".padStart(12)} ${"broadcast deliveries/s".padStart(23)}`);
  for (const [label, payload] of Object.entries(PAYLOADS)) {
    for (const [name, options] of Object.entries(PARSERS)) {
      const sockets = await Promise.all(Array.from({ length: CLIENTS }, () => connect(url, options)));
      const e = await echo(sockets, payload);
      const b = await broadcast(sockets, payload, `room-${label}-${name}`);
      console.log(`${label.padEnd(8)} ${name.padEnd(8)} ${e.toFixed(0).padStart(12)} ${b.toFixed(0).padStart(23)}`);
      for (const s of sockets) s.close();
    }
  }
} finally {
  proc.kill("SIGTERM");
}
