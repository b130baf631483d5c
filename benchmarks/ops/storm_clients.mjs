// The clients of the reconnect-storm measurement (benchmarks/ops/reconnect_storm.py): N npm
// socket.io-client sockets with the client's default reconnection (1 s, 50 % jitter, doubling
// to 5 s), over WebSocket.
//
//   node storm_clients.mjs URL N PROBES DEADLINE_S
//
// 1. Connects the N sockets, 200 at a time, and prints {"phase":"connected"}.
// 2. Waits for the server to go away (its restart is the storm: every socket reconnects at
//    once). From the first "disconnect" (t0) it records, per socket, when it was connected
//    again, every failed attempt by its message (a 503 from admission control reads
//    "websocket error: Unexpected server response: 503"; attempts before the restarted
//    server listens, counted apart too, "websocket error: connect ECONNREFUSED ..."), and
//    sockets that drop again once back.
// 3. The first PROBES sockets, once back, echo every 100 ms (an ack with a 5 s timeout):
//    the service that clients already let in get while the storm goes on.
// 4. When all are back (plus 2 s) or at DEADLINE_S after t0, prints {"phase":"result", ...}
//    and exits.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

// socket.io-client from tests/node (the stages install it there with npm ci)
const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), "../../tests/node/"));
const { io } = require("socket.io-client");

const [url, nArg, probesArg, deadlineArg] = process.argv.slice(2);
const N = Number(nArg);
const PROBES = Number(probesArg);
const DEADLINE_MS = Number(deadlineArg) * 1000;

const sockets = [];
let t0 = null; // the first disconnect: the server is gone
const backAt = new Array(N).fill(null); // ms after t0 each socket connected again
const tries = new Array(N).fill(0); // reconnect attempts of each socket since t0
const lastTry = new Array(N).fill(null); // ms after t0 of each socket's last attempt
const failures = {}; // failed reconnect attempts by message
let attempts = 0;
let droppedAgain = 0;
let firstBack = null; // ms after t0 the first socket was back: the server listened again
let failedWhileDown = 0; // failed attempts before that
const echoes = []; // [ms after t0, latency ms] of the probes
let echoTimeouts = 0;
let cpuAtT0 = null;

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function probe(socket) {
  while (socket.connected && !finished) {
    const sent = Date.now();
    try {
      await socket.timeout(5000).emitWithAck("echo", sent);
      echoes.push([sent - t0, Date.now() - sent]);
    } catch {
      echoTimeouts++;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

let finished = false;

function open(i) {
  const socket = io(url, { transports: ["websocket"], forceNew: true });
  sockets.push(socket);
  // counted from t0 only: a first connect under admission control may be retried too
  socket.io.on("reconnect_attempt", () => {
    if (t0 === null) return;
    attempts++;
    tries[i]++;
    lastTry[i] = Date.now() - t0;
  });
  socket.io.on("reconnect_error", (err) => {
    if (t0 === null) return;
    // "websocket error" says nothing more: the ws library's event under it does
    // ("Unexpected server response: 503", "connect ECONNREFUSED ...")
    const detail = err && err.description && err.description.message;
    const key = String(err && err.message) + (detail ? `: ${detail}` : "");
    failures[key] = (failures[key] || 0) + 1;
    // before the first socket is back the server was still starting: not its doing
    if (firstBack === null) failedWhileDown++;
  });
  socket.on("disconnect", () => {
    if (t0 === null) {
      t0 = Date.now();
      cpuAtT0 = process.cpuUsage();
    } else if (backAt[i] !== null) {
      droppedAgain++;
    }
  });
  // a first connect refused (503 under admission control) is retried by the client itself
  return new Promise((resolve) => {
    socket.once("connect", () => {
      socket.on("connect", () => {
        if (t0 !== null && backAt[i] === null) {
          backAt[i] = Date.now() - t0;
          if (firstBack === null) firstBack = backAt[i];
          if (i < PROBES) probe(socket);
        }
      });
      resolve();
    });
  });
}

for (let i = 0; i < N; i += 200) {
  const batch = [];
  for (let j = i; j < Math.min(N, i + 200); j++) batch.push(open(j));
  await Promise.all(batch);
}
out({ phase: "connected", sockets: N });

const started = Date.now();
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const now = Date.now();
    if (t0 === null) {
      if (now - started > 60_000) {
        clearInterval(tick);
        resolve();
      }
      return;
    }
    const back = backAt.filter((t) => t !== null).length;
    const allBack = back === N;
    if ((allBack && now - t0 > Math.max(...backAt) + 2000) || now - t0 > DEADLINE_MS) {
      clearInterval(tick);
      resolve();
    }
  }, 100);
});
finished = true;

const back = backAt.filter((t) => t !== null).sort((a, b) => a - b);
const stormEnd = back.length === N ? back[back.length - 1] : DEADLINE_MS;
const during = echoes.filter(([at]) => at <= stormEnd).map(([, ms]) => ms).sort((a, b) => a - b);
const cpu = cpuAtT0 ? process.cpuUsage(cpuAtT0) : { user: 0, system: 0 };
out({
  phase: "result",
  sockets: N,
  back: back.length,
  back_ms: { p50: pct(back, 50), p90: pct(back, 90), p99: pct(back, 99), max: back.at(-1) ?? null },
  attempts,
  failed_attempts: failures,
  failed_while_down: failedWhileDown,
  first_back_ms: firstBack,
  dropped_again: droppedAgain,
  probe_echoes: during.length,
  probe_echo_ms: { p50: pct(during, 50), p99: pct(during, 99), max: during.at(-1) ?? null },
  probe_echo_timeouts: echoTimeouts,
  client_cpu_s: (cpu.user + cpu.system) / 1e6,
  elapsed_ms: t0 === null ? null : Date.now() - t0,
  // the sockets never back: how often they tried, and when they last did (still trying?)
  not_back: notBack(),
});
function notBack() {
  const idx = [...backAt.keys()].filter((i) => backAt[i] === null);
  if (idx.length === 0) return null;
  const t = idx.map((i) => tries[i]).sort((a, b) => a - b);
  const last = idx.map((i) => lastTry[i] ?? -1).sort((a, b) => a - b);
  return {
    sockets: idx.length,
    attempts: { min: t[0], p50: pct(t, 50), max: t.at(-1) },
    last_attempt_ms: { min: last[0], p50: pct(last, 50), max: last.at(-1) },
  };
}
for (const s of sockets) s.close();
process.exit(0);
