// One Node socket.io 4.8 node of the cluster benchmarks (bench.py), with
// @socket.io/redis-adapter 8.3 (createAdapter, or createShardedAdapter): the same events as
// server.py (join, bcast, fetch; stats answers zeros). Uses the npm packages of
// tests/cluster (npm ci there).
//
//   node benchmarks/cluster/server.mjs PORT REDIS_PORT classic|sharded
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../tests/cluster/package.json"));
const { Server } = require("socket.io");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const [port, redisPort, wire] = process.argv.slice(2);
const redis = async () => {
  const c = createClient({ url: `redis://127.0.0.1:${redisPort}` });
  c.on("error", (e) => console.error("redis", e.message));
  await c.connect();
  return c;
};
const pub = await redis();
const sub = await redis();
const adapter = wire === "sharded" ? createShardedAdapter(pub, sub) : createAdapter(pub, sub, { requestsTimeout: 10000 });
const http = createServer();
const io = new Server(http, { adapter, cors: { origin: "*" }, pingInterval: 25000, pingTimeout: 20000 });
io.on("connection", (socket) => {
  socket.on("join", (room, ack) => { socket.join(room); ack(room); });
  socket.on("bcast", (room, count, payload, ack) => {
    for (let i = 0; i < count; i++) io.to(room).emit("msg", payload);
    ack(count);
  });
  socket.on("fetch", async (reps, ack) => {
    const ms = [];
    let n = 0;
    for (let i = 0; i < reps; i++) {
      const t = process.hrtime.bigint();
      n = (await io.fetchSockets()).length;
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    ack({ n, ms });
  });
  socket.on("stats", (ack) => ack({ received: 0, skipped: 0 }));
});
http.listen(Number(port), "127.0.0.1", () => console.log("ready"));
