// Captures the bytes that Node's cluster packages publish on Redis, as test vectors for
// rtio.cluster's codecs: real socket.io servers with @socket.io/redis-adapter (classic and
// sharded), @socket.io/redis-emitter, and socket.io-adapter's ClusterAdapterWithHeartbeat,
// against a real redis-server, with real socket.io-client clients.
//
//   node capture.mjs <redis port> <output.json>
//
// A raw subscriber records every PUBLISH (PSUBSCRIBE *) and every SPUBLISH on the channels
// the sharded nodes use (SSUBSCRIBE). Each scenario step runs alone, then waits until the
// bus has been quiet for a moment, so each vector is tagged with the step that caused it.
// With RTIO_PROBES (a JSON list of {name, how, channel, hex}), it also publishes rtio's own
// bytes raw and records what Node's servers and clients made of them ("observed").
// Random ids (adapter uids, request ids, socket ids) are made deterministic so that a
// regeneration gives the same bytes, except the handshake's time, headers and address.
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import crypto from "node:crypto";

const require = createRequire(import.meta.url);
const [redisPort, outFile] = process.argv.slice(2);
if (!redisPort || !outFile) {
  console.error("usage: node capture.mjs <redis port> <output.json>");
  process.exit(2);
}

// -- deterministic ids ------------------------------------------------------------------
// uid2(6) (classic adapter uid and request ids) and randomBytes(8).toString("hex")
// (ClusterAdapter uid and request ids) both read crypto.randomBytes at call time.
const UIDCHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const realRandomBytes = crypto.randomBytes;
let counter6 = 0;
let counter8 = 0;
crypto.randomBytes = function (size, cb) {
  if (cb === undefined && size === 6) {
    const text = "R" + String(++counter6).padStart(5, "0");
    return Buffer.from([...text].map((ch) => UIDCHARS.indexOf(ch)));
  }
  if (cb === undefined && size === 8) {
    const buf = Buffer.alloc(8);
    buf[0] = 0xa0;
    buf.writeUInt32BE(++counter8, 4);
    return buf;
  }
  return realRandomBytes.apply(crypto, arguments);
};
let sidCounter = 0;
require(new URL("node_modules/socket.io/dist/contrib/base64id.js", import.meta.url).pathname).base64id.generateId = () =>
  "S" + String(++sidCounter).padStart(19, "0"); // 20 characters, as real socket ids

const { Server } = require("socket.io");
const { io: connect } = require("socket.io-client");
const { createClient } = require("redis");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");
const { ClusterAdapterWithHeartbeat } = require("socket.io-adapter");

const REDIS_URL = `redis://127.0.0.1:${redisPort}`;
const clients = [];
async function redis() {
  const c = createClient({ url: REDIS_URL });
  c.on("error", (e) => console.error("redis client error", e.message));
  await c.connect();
  clients.push(c);
  return c;
}

// -- the recorder -----------------------------------------------------------------------
const vectors = [];
let current = null;
let lastArrival = Date.now();
function record(how, channel, message) {
  lastArrival = Date.now();
  if (current === null) {
    console.error(`unattributed message on ${channel}`);
    return;
  }
  vectors.push({ step: current, how, channel: channel.toString(), hex: message.toString("hex") });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function quiet(ms = 150, max = 2000) {
  const start = Date.now();
  await sleep(30);
  while (Date.now() - lastArrival < ms && Date.now() - start < max) await sleep(20);
}
async function step(name, fn) {
  await quiet();
  current = name;
  try {
    await fn();
  } catch (e) {
    console.error(`step ${name}: ${e.message}`);
  }
  await quiet();
  current = null;
  if (!vectors.some((v) => v.step === name)) console.error(`step ${name}: nothing captured`);
}

const recorder = await redis();
await recorder.pSubscribe("*", (message, channel) => record("publish", channel, message), true);
const sharded = await redis();
async function ssubscribe(channel) {
  await sharded.sSubscribe(channel, (message, ch) => record("spublish", ch, message), true);
}

// -- servers and clients ----------------------------------------------------------------
async function server(adapter) {
  const http = createServer();
  const io = new Server(http, { adapter });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  io.on("connection", (socket) => {
    const { rooms = "", data } = socket.handshake.query;
    for (const room of rooms.split(",").filter(Boolean)) socket.join(/^\d+$/.test(room) ? Number(room) : room);
    if (data) socket.data = JSON.parse(data);
  });
  return { io, http, port: http.address().port };
}
async function client(node, query, nsp = "/") {
  const socket = connect(`http://127.0.0.1:${node.port}${nsp}`, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    query,
  });
  await new Promise((resolve, reject) => {
    socket.on("connect", resolve);
    socket.on("connect_error", reject);
  });
  socket.onAny(() => {});
  socket.on("ack-me", (...args) => args.pop()("pong", Buffer.from([0xca, 0xfe])));
  return socket;
}
function serverSideAcks(io) {
  io.on("ask", (question, cb) => cb({ answer: question, from: "other" }));
  io.on("ask-binary", (question, cb) => cb(Buffer.from([7, 8, 9])));
}

const context = { versions: {}, classic: {}, sharded: {}, heartbeat: {} };
for (const name of ["socket.io", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "socket.io-adapter", "notepack.io", "redis"]) {
  context.versions[name] = JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, import.meta.url))).version;
}
const info = await recorder.duplicate();
await info.connect();
context.versions["redis-server"] = (await info.info("server")).match(/redis_version:(\S+)/)[1];
await info.quit();

// -- classic adapter (two nodes; B publishes its responses on the specific channel) -------
const A = await server(createAdapter(await redis(), await redis()));
const B = await server(
  createAdapter(await redis(), await redis(), { publishOnSpecificResponseChannel: true, requestsTimeout: 1000 }),
);
A.io.of("/custom");
B.io.of("/custom");
serverSideAcks(B.io);
serverSideAcks(A.io);
context.classic.uidA = A.io.of("/").adapter.uid;
context.classic.uidB = B.io.of("/").adapter.uid;
await sleep(100);
const cA = await client(A, { rooms: "room1" });
const cB = await client(B, { rooms: "room1,123", data: JSON.stringify({ user: "b", n: 1 }) });
const cK = await client(B, { rooms: "kick" });
const cK2 = await client(B, { rooms: "kick2" });
context.classic.sids = { cA: cA.id, cB: cB.id, cK: cK.id, cK2: cK2.id };

await step("classic.emit", () => A.io.emit("hello", "world", 1, 1.5, -3, { a: true, b: null }));
await step("classic.emit.room", () => A.io.to("room1").emit("r", 1));
await step("classic.emit.numeric-room", () => A.io.to(123).emit("n", 2));
await step("classic.emit.two-rooms", () => A.io.to(["room1", "room2"]).emit("two"));
await step("classic.emit.except", () => A.io.except("room1").emit("x", "y"));
await step("classic.emit.volatile", () => A.io.volatile.emit("v"));
await step("classic.emit.compress", () => A.io.compress(false).emit("c"));
await step("classic.emit.binary", () => A.io.emit("bin", Buffer.from([1, 2, 3]), { nested: Buffer.from([0xff]) }));
await step("classic.emit.nsp", () => A.io.of("/custom").emit("in-custom", "z"));
await step("classic.emit.unicode", () => A.io.emit("ünï", "😀", "x".repeat(40)));
await step("classic.socketsJoin", () => A.io.socketsJoin("room3"));
await step("classic.socketsLeave", () => A.io.in("room1").except("123").socketsLeave(["room3"]));
await step("classic.disconnectSockets.close", () => A.io.in("kick").disconnectSockets(true));
await step("classic.disconnectSockets", () => A.io.in("kick2").disconnectSockets());
await step("classic.fetchSockets.specific", () => A.io.in("room1").fetchSockets());
await step("classic.fetchSockets.shared", () => B.io.fetchSockets());
await step("classic.allRooms", () => A.io.of("/").adapter.allRooms());
await step("classic.sockets", async () => {
  // the adapter sends no SOCKETS request itself any more; a hand-made one draws the answers
  await recorder.duplicate().connect().then(async (c) => {
    await c.publish("socket.io-request#/#", JSON.stringify({ uid: "manual", requestId: "RQ0000", type: 0, rooms: ["room1"] }));
    await c.quit();
  });
});
await step("classic.serverSideEmit", () => A.io.serverSideEmit("ping", 1, "two"));
await step("classic.serverSideEmit.ack", () => A.io.serverSideEmitWithAck("ask", "q?").catch(() => {}));
await step("classic.broadcast.ack", () => A.io.timeout(1000).emitWithAck("ack-me", "x").catch(() => {}));
await step("classic.broadcast.ack.room", () => A.io.to("room1").timeout(1000).emitWithAck("ack-me", 1).catch(() => {}));

// -- the emitter, against the classic nodes ---------------------------------------------
const emitter = new Emitter(await redis());
await step("emitter.emit", () => emitter.emit("from-emitter", 1, "a"));
await step("emitter.emit.room", () => emitter.to("room1").emit("e-room"));
await step("emitter.emit.numeric-room", () => emitter.to(123).emit("e-num"));
await step("emitter.emit.except", () => emitter.except("room1").emit("e-except"));
await step("emitter.emit.volatile", () => emitter.volatile.emit("e-volatile"));
await step("emitter.emit.compress", () => emitter.compress(false).emit("e-compress"));
await step("emitter.emit.binary", () => emitter.emit("e-bin", Buffer.from([0, 1, 2])));
await step("emitter.emit.nsp", () => emitter.of("/custom").to(["room1", "room2"]).emit("e-nsp"));
await step("emitter.socketsJoin", () => emitter.in("room1").socketsJoin("room4"));
await step("emitter.socketsLeave", () => emitter.socketsLeave(["room4", "room3"]));
await step("emitter.disconnectSockets", () => emitter.in("nobody").disconnectSockets(true));
await step("emitter.serverSideEmit", () => emitter.serverSideEmit("from-emitter", { k: 1 }));

// -- sharded adapter (two nodes, dynamic subscription mode) ------------------------------
const C = await server(createShardedAdapter(await redis(), await redis()));
const D = await server(createShardedAdapter(await redis(), await redis()));
serverSideAcks(C.io);
serverSideAcks(D.io);
context.sharded.uidC = C.io.of("/").adapter.uid;
context.sharded.uidD = D.io.of("/").adapter.uid;
const longRoom = "abcdefghijklmnopqrst"; // 20 characters: looks like a socket id
context.sharded.longRoom = longRoom;
for (const ch of ["socket.io#/#", `socket.io#/#${context.sharded.uidC}#`, `socket.io#/#${context.sharded.uidD}#`,
  "socket.io#/#room1#", "socket.io#/#123#", `socket.io#/#${longRoom}#`]) {
  await ssubscribe(ch);
}
const cC = await client(C, { rooms: "room1" });
const cD = await client(D, { rooms: `room1,123,${longRoom}`, data: JSON.stringify({ user: "d" }) });
const cDk = await client(D, { rooms: "kick" });
context.sharded.sids = { cC: cC.id, cD: cD.id, cDk: cDk.id };
await step("sharded.emit", () => C.io.emit("hello", "world", 1, { a: true }));
await step("sharded.emit.room", () => C.io.to("room1").emit("r", 1));
await step("sharded.emit.numeric-room", () => C.io.to(123).emit("n"));
await step("sharded.emit.socket-id-like-room", () => C.io.to(longRoom).emit("l"));
await step("sharded.emit.two-rooms", () => C.io.to(["room1", "room2"]).emit("two"));
await step("sharded.emit.except", () => C.io.except("room1").emit("x"));
await step("sharded.emit.volatile", () => C.io.volatile.emit("v"));
await step("sharded.emit.binary", () => C.io.emit("bin", Buffer.from([1, 2, 3])));
await step("sharded.socketsJoin", () => C.io.socketsJoin("room3"));
await step("sharded.socketsLeave", () => C.io.in("room1").socketsLeave("room3"));
await step("sharded.disconnectSockets", () => C.io.in("kick").disconnectSockets(true));
// the recorder's SSUBSCRIBE counts in SHARDNUMSUB: requests expecting answers time out
await step("sharded.fetchSockets", () => C.io.in("room1").timeout(300).fetchSockets().catch(() => {}));
await step("sharded.serverSideEmit", () => C.io.serverSideEmit("ping", 1));
// (these wait 5 s for the recorder's answer in the background; the step does not)
await step("sharded.serverSideEmit.ack", () => void C.io.serverSideEmitWithAck("ask", "q?").catch(() => {}));
await step("sharded.serverSideEmit.ack.binary", () =>
  void C.io.serverSideEmitWithAck("ask-binary", Buffer.from([4, 5])).catch(() => {}));
await step("sharded.broadcast.ack", () => C.io.timeout(300).emitWithAck("ack-me", "x").catch(() => {}));

// -- ClusterAdapterWithHeartbeat: message types 1, 2 and 13 (not sent by the sharded adapter)
class CapturingHeartbeatAdapter extends ClusterAdapterWithHeartbeat {
  constructor(nsp) {
    super(nsp, { heartbeatInterval: 400, heartbeatTimeout: 5000 });
  }
  doPublish(message) {
    if (!heartbeatOn) return Promise.resolve("");
    return pub.publish("capture-cluster#/#", JSON.stringify(message)).then(() => "");
  }
  doPublishResponse(requesterUid, response) {
    return pub.publish(`capture-cluster#/#${requesterUid}#`, JSON.stringify(response)).then(() => {});
  }
  serverCount() {
    return Promise.resolve(1);
  }
}
const pub = await redis();
let H;
let heartbeatOn = true;
await step("heartbeat.initial", async () => {
  H = new Server({ adapter: CapturingHeartbeatAdapter }); // the namespace calls init()
  context.heartbeat.uid = H.of("/").adapter.uid;
  await sleep(20);
});
await step("heartbeat.heartbeat", async () => {
  const seen = vectors.length;
  for (let i = 0; i < 60 && vectors.length === seen; i++) await sleep(20);
});
await step("heartbeat.close", async () => {
  H.of("/").adapter.close();
  heartbeatOn = false;
  await sleep(20);
});

// -- probes: rtio's bytes (from regen_vectors.py) published raw, and what Node made of them
const observed = {};
const show = (args) => args.map((x) => (Buffer.isBuffer(x) || x instanceof ArrayBuffer ? "buffer:" + Buffer.from(x).toString("hex") : JSON.stringify(x)));
const watch = (target, event, name) => target.on(event, (...args) => {
  if (typeof args[args.length - 1] === "function") args.pop();
  observed[name] = show(args);
});
watch(B.io, "probe-bin", "classic.serverSideEmit.binary");
watch(cB, "probe-bcast", "classic.broadcast.binary");
watch(cA, "probe-emitter", "emitter.emit.binary");
watch(D.io, "probe-bin", "sharded.serverSideEmit.binary");
watch(cD, "probe-bcast", "sharded.broadcast.binary");
for (const probe of JSON.parse(process.env.RTIO_PROBES || "[]")) {
  await step(`probe.${probe.name}`, async () => {
    const payload = Buffer.from(probe.hex, "hex");
    await (probe.how === "spublish" ? pub.sPublish(probe.channel, payload) : pub.publish(probe.channel, payload));
  });
}

// -- done ------------------------------------------------------------------------------
for (const s of [cA, cB, cK, cK2, cC, cD, cDk]) s.disconnect();
for (const node of [A, B, C, D]) node.io.close();
await sleep(100);
for (const c of clients) await c.quit().catch(() => {});
writeFileSync(outFile, JSON.stringify({ context, vectors, observed }, null, 1) + "\n");
console.error(`captured ${vectors.length} messages in ${new Set(vectors.map((v) => v.step)).size} steps`);
process.exit(0);
