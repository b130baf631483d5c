// One process of the mixed-cluster tests (tests/cluster/test_cluster_mixed.py), driven over
// stdin / stdout, one JSON object a line:
//
//   node mixed_node.mjs server <redis port> <name> [classic|sharded]   a socket.io 4.8
//       server with @socket.io/redis-adapter 8.3 (createAdapter, or createShardedAdapter)
//       on a free port; prints {"ready": port, uid}
//   node mixed_node.mjs clients                      socket.io-client 4.8 clients
//   node mixed_node.mjs emitter <redis port>         @socket.io/redis-emitter 5.1
//
// Each command {"id", "op", ...} is answered by {"id", "result"} or {"id", "error"};
// clients also print {"client", "event", "args"} for every event they receive and
// {"client", "disconnect": reason}. Bytes travel as {"$bin": "<hex>"} both ways.
import { createRequire } from "node:module";
import { createServer } from "node:http";
import readline from "node:readline";

const require = createRequire(import.meta.url);
// node-redis 4.7 can throw "Socket closed unexpectedly" (an 'error' emitted, or a rejected
// sSubscribe that @socket.io/redis-adapter does not await) when Redis dies: logged, as a
// production server would, so that the Redis-restart test sees what the node does next
process.on("uncaughtException", (e) => console.error("uncaught", e && e.stack ? e.stack : e));
process.on("unhandledRejection", (e) => console.error("unhandled rejection", e && e.stack ? e.stack : e));
const [mode, redisPort, name, wire = "classic"] = process.argv.slice(2);

const toJs = (v) => {
  if (Array.isArray(v)) return v.map(toJs);
  if (v && typeof v === "object") {
    if (typeof v.$bin === "string") return Buffer.from(v.$bin, "hex");
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJs(x)]));
  }
  return v;
};
const toJson = (v) => {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return { $bin: Buffer.from(v).toString("hex") };
  if (Array.isArray(v)) return v.map(toJson);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
};
const out = (obj) => process.stdout.write(JSON.stringify(toJson(obj)) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function redis() {
  const { createClient } = require("redis");
  const c = createClient({ url: `redis://127.0.0.1:${redisPort}` });
  c.on("error", (e) => console.error("redis client error", e.message));
  await c.connect();
  return c;
}

function select(target, cmd) {
  let op = target;
  if (cmd.to) op = op.to(cmd.to);
  if (cmd.except) op = op.except(cmd.except);
  if (cmd.local) op = op.local;
  if (cmd.volatile) op = op.volatile;
  if (cmd.timeout) op = op.timeout(cmd.timeout);
  return op;
}

const handlers = {};
async function serve(lines) {
  for await (const line of lines) {
    if (!line.trim()) continue;
    const cmd = toJs(JSON.parse(line));
    try {
      const fn = handlers[cmd.op];
      if (!fn) throw new Error(`unknown op ${cmd.op}`);
      out({ id: cmd.id, result: (await fn(cmd)) ?? null });
    } catch (e) {
      out({ id: cmd.id, error: String(e && e.message ? e.message : e) });
    }
  }
  process.exit(0);
}

if (mode === "server") {
  const { Server } = require("socket.io");
  const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
  const http = createServer();
  const adapter = wire === "sharded"
    ? createShardedAdapter(await redis(), await redis())
    : createAdapter(await redis(), await redis(), { requestsTimeout: 3000 });
  const io = new Server(http, { adapter });
  const heard = [];
  io.on("connection", (socket) => {
    const auth = socket.handshake.auth || {};
    socket.data = { node: name, user: auth.user };
    for (const room of auth.rooms || []) socket.join(room);
  });
  for (const event of ["ping", "job"]) {
    io.on(event, (...args) => {
      const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
      heard.push([event, ...args]);
      if (cb) cb(["pong", name, ...args]);
    });
  }
  let fetched = [];
  Object.assign(handlers, {
    emit: (c) => void select(io, c).emit(c.event, ...(c.args || [])),
    emitWithAck: async (c) => await select(io, c).emitWithAck(c.event, ...(c.args || [])),
    fetch: async (c) => {
      fetched = await select(io, c).fetchSockets();
      return fetched.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data, auth: s.handshake.auth, address: s.handshake.address }));
    },
    remote: (c) => {
      const s = fetched.find((x) => x.id === c.sid);
      if (!s) throw new Error(`not fetched: ${c.sid}`);
      if (c.action === "emit") s.emit(c.event, ...(c.args || []));
      else if (c.action === "join") s.join(c.room);
      else if (c.action === "leave") s.leave(c.room);
      else if (c.action === "disconnect") s.disconnect(!!c.close);
    },
    join: (c) => void select(io, c).socketsJoin(c.rooms),
    leave: (c) => void select(io, c).socketsLeave(c.rooms),
    disconnect: (c) => void select(io, c).disconnectSockets(!!c.close),
    sse: (c) => void io.serverSideEmit(c.event, ...(c.args || [])),
    sseAck: async (c) => await io.serverSideEmitWithAck(c.event, ...(c.args || [])),
    serverCount: async () => await io.of("/").adapter.serverCount(),
    // the sharded adapter (a ClusterAdapter) has no allRooms: its own rooms only
    allRooms: async (c, a = io.of("/").adapter) => [...(a.allRooms ? await a.allRooms() : a.rooms.keys())],
    members: (c) => [...(io.of("/").adapter.rooms.get(c.room) || [])],
    heard: () => heard,
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  out({ ready: http.address().port, uid: io.of("/").adapter.uid });
  await serve(readline.createInterface({ input: process.stdin }));
} else if (mode === "clients") {
  const { io: connect } = require("socket.io-client");
  const clients = {};
  const acks = {};
  Object.assign(handlers, {
    connect: (c) =>
      new Promise((resolve, reject) => {
        const socket = connect(`http://127.0.0.1:${c.port}`, { transports: ["websocket"], forceNew: true, reconnection: false, auth: c.auth || {} });
        clients[c.client] = socket;
        socket.onAny((event, ...args) => {
          const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
          out({ client: c.client, event, args });
          if (cb) cb(acks[c.client]?.[event] ?? null);
        });
        socket.on("disconnect", (reason) => out({ client: c.client, disconnect: reason }));
        socket.on("connect", () => resolve(socket.id));
        socket.on("connect_error", (e) => reject(e));
      }),
    ack: (c) => {
      (acks[c.client] ||= {})[c.event] = c.value;
    },
    close: (c) => void clients[c.client]?.disconnect(),
  });
  out({ ready: 0 });
  await serve(readline.createInterface({ input: process.stdin }));
} else if (mode === "emitter") {
  const { Emitter } = require("@socket.io/redis-emitter");
  const emitter = new Emitter(await redis());
  Object.assign(handlers, {
    emit: (c) => void select(emitter, c).emit(c.event, ...(c.args || [])),
    join: (c) => void select(emitter, c).socketsJoin(c.rooms),
    leave: (c) => void select(emitter, c).socketsLeave(c.rooms),
    disconnect: (c) => void select(emitter, c).disconnectSockets(!!c.close),
    sse: (c) => void emitter.serverSideEmit(c.event, ...(c.args || [])),
  });
  out({ ready: 0 });
  await serve(readline.createInterface({ input: process.stdin }));
} else {
  console.error("usage: node mixed_node.mjs server <redis port> <name> | clients | emitter <redis port>");
  process.exit(2);
}
await sleep(0);
