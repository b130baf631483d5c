// The Node socket.io 4.8 server of the recovery benchmark (bench_recovery_node.py), the same
// events as recovery_server.py (join, burst): connection state recovery on or off, in memory
// (Node's SessionAwareAdapter when on) or with @socket.io/redis-streams-adapter 0.3.1
// (maxLen 200,000). Uses the npm packages of tests/cluster/streams (npm ci there).
//
//   node benchmarks/cluster/recovery_server.mjs PORT memory|streams on|off [REDIS_PORT]
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../tests/cluster/streams/package.json"));
const { Server } = require("socket.io");

const [port, mode, recovery, redisPort] = process.argv.slice(2);
const opts = { cors: { origin: "*" }, pingInterval: 25000, pingTimeout: 20000 };
if (recovery === "on") opts.connectionStateRecovery = { maxDisconnectionDuration: 120000 };
if (mode === "streams") {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-streams-adapter");
  const redis = createClient({ url: `redis://127.0.0.1:${redisPort}` });
  redis.on("error", (e) => console.error("redis", e.message));
  await redis.connect();
  opts.adapter = createAdapter(redis, { maxLen: 200000 });
} else if (mode !== "memory") {
  throw new Error(`mode must be memory or streams, not ${mode}`);
}
const http = createServer();
const io = new Server(http, opts);
io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack([...socket.rooms].sort());
  });
  socket.on("burst", (count, payload, ack) => {
    for (let i = 0; i < count; i++) io.emit("msg", payload);
    ack(count);
  });
});
http.listen(Number(port), "127.0.0.1", () => console.log("ready"));
