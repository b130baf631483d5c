// The application of tests/node/eio3_server.py on Node's socket.io 4 with allowEIO3: the
// reference the socket.io-client 2.x tests (eio3.test.mjs) also run against.
//   node tests/node/eio3_node_server.mjs [port]
import { createServer } from "node:http";
import { Server } from "socket.io";

const out = (fields) => console.log(JSON.stringify(fields));
const http = createServer();
const io = new Server(http, {
  allowEIO3: process.env.NO_EIO3 ? false : true,
  cors: { origin: "*" },
  pingInterval: 500,
  pingTimeout: 1000,
});
const admin = io.of("/admin");

io.use((socket, next) => {
  if (socket.handshake.query.token === "bad") return next(new Error("invalid token"));
  next();
});
admin.use((socket, next) => {
  if (socket.handshake.auth.role !== "admin") return next(new Error("admins only"));
  next();
});

for (const nsp of [io.of("/"), admin]) {
  nsp.on("connection", (socket) => {
    out({ event: "connect", nsp: nsp.name, sid: socket.id });
    socket.on("disconnect", (reason) =>
      out({ event: "disconnect", nsp: nsp.name, sid: socket.id, reason }),
    );
    socket.on("echo", (...args) => {
      const ack = args.pop();
      ack(...args);
    });
    socket.on("whoami", (ack) =>
      ack({
        id: socket.id,
        nsp: nsp.name,
        auth: socket.handshake.auth,
        token: socket.handshake.query.token ?? null,
        transport: socket.conn.transport.name,
      }),
    );
    socket.on("ask", (req, ack) => {
      socket.timeout(3000).emit(req.event, ...(req.args || []), (err, ...answer) =>
        ack(err ? { error: "timeout" } : answer),
      );
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      ack(true);
    });
    socket.on("broadcast", (req, ack) => {
      nsp.to(req.room).emit(req.event, ...(req.args || []));
      ack(true);
    });
    socket.on("drop", () => setTimeout(() => socket.conn.close(), 50));
  });
}

http.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  out({ event: "listening", port: http.address().port });
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => { io.close(); process.exit(0); });
