// A Node socket.io 4.8 node with @socket.io/redis-streams-adapter 0.3.1 and connection state
// recovery on, for the mixed recovery tests (tests/cluster/test_cluster_streams.py):
//
//   node streams_node.mjs <redis port>
//
// Listens on a free port and prints {"event": "listening", "port"}; then
// {"event": "connect", "sid", "recovered"} and {"event": "disconnect", "sid", "reason"} for
// each socket. The app is the one of test_cluster_streams.py's rtio nodes: "join(room)" ->
// rooms, "whoami()" -> {id, rooms, data, recovered}, "send({to, except, event, args})" -> true;
// a new socket gets data {"node": "node"} and a "welcome" event, a recovered one neither;
// "fetch()" -> io.fetchSockets() as {id, rooms, data}; "sse()" -> the answers to
// serverSideEmitWithAck("ping", "from node"); "ask_all()" -> the sorted answers to
// io.timeout(3000).emitWithAck("ask", 1); "ask_me()": the server emits "ask" to this socket
// with an ack (printed as {"event": "answer"}); the server answers "ping" with ["node", arg].
import { createServer } from "node:http";
import { createClient } from "redis";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-streams-adapter";

const [redisPort] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const redis = createClient({ url: `redis://127.0.0.1:${redisPort}` });
redis.on("error", (e) => console.error("redis client error", e.message));
await redis.connect();

const http = createServer();
const io = new Server(http, {
  adapter: createAdapter(redis, { blockTimeInMs: 1000 }),
  connectionStateRecovery: { maxDisconnectionDuration: 120000 },
  pingInterval: 1000,
  pingTimeout: 1000,
});

io.on("connection", (socket) => {
  out({ event: "connect", sid: socket.id, recovered: socket.recovered });
  if (!socket.recovered) {
    socket.data = { node: "node" };
    socket.emit("welcome", socket.id);
  }
  socket.on("disconnect", (reason) => out({ event: "disconnect", sid: socket.id, reason }));
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack([...socket.rooms].sort());
  });
  socket.on("whoami", (ack) =>
    ack({ id: socket.id, rooms: [...socket.rooms].sort(), data: socket.data, recovered: socket.recovered }),
  );
  socket.on("fetch", async (ack) => {
    const sockets = await io.fetchSockets();
    ack(sockets.map((s) => ({ id: s.id, rooms: [...s.rooms].sort(), data: s.data })));
  });
  socket.on("sse", async (ack) => {
    try {
      ack(await io.serverSideEmitWithAck("ping", "from node"));
    } catch (e) {
      ack({ error: String(e) });
    }
  });
  socket.on("ask_me", (ack) => {
    socket.emit("ask", "acked", (answer) => out({ event: "answer", sid: socket.id, answer }));
    ack(true);
  });
  socket.on("ask_all", async (ack) => {
    try {
      ack((await io.timeout(3000).emitWithAck("ask", 1)).sort());
    } catch (e) {
      ack({ error: String(e) });
    }
  });
  socket.on("send", (req, ack) => {
    let op = io;
    for (const room of req.to || []) op = op.to(room);
    for (const room of req.except || []) op = op.except(room);
    op.emit(req.event, ...(req.args || []));
    ack(true);
  });
});

io.on("ping", (arg, ack) => ack(["node", arg]));

http.listen(0, "127.0.0.1", () => out({ event: "listening", port: http.address().port }));
const stop = () => {
  io.close();
  redis.quit().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
