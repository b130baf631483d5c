// The app of apps.py on Node socket.io 4.8, for rtio.client's tests.
//   node node_server.mjs PORT [json|msgpack] [recovery]
// Prints "listening PORT" once it accepts connections; exits on SIGTERM.
import { createServer } from "node:http";
import { Server } from "socket.io";
import msgpackParser from "socket.io-msgpack-parser";

const port = Number(process.argv[2] || 0);
const parser = process.argv[3] === "msgpack" ? { parser: msgpackParser } : {};
const http = createServer();
const recovery = process.argv[4] === "recovery"
  ? { connectionStateRecovery: { maxDisconnectionDuration: 10000, skipMiddlewares: true } }
  : {};
const io = new Server(http, { pingInterval: 500, pingTimeout: 400, ...parser, ...recovery });

function register(nsp) {
  nsp.on("connection", (socket) => {
    socket.on("echo", (...args) => {
      const ack = args.pop();
      ack(...args);
    });
    socket.on("whoami", (ack) => ack({ id: socket.id, nsp: nsp.name, auth: socket.handshake.auth }));
    socket.on("ask", (req, ack) => {
      socket.timeout((req.timeout ?? 2) * 1000).emit(req.event, ...(req.args || []), (err, ...answer) => {
        ack(err ? { error: "timeout" } : { answer });
      });
    });
    socket.on("join", (room, ack) => { socket.join(room); ack(true); });
    socket.on("to_room", (req, ack) => { nsp.to(req.room).emit(req.event, ...(req.args || [])); ack(true); });
    socket.on("kick", () => socket.disconnect());
  });
}

io.use((socket, next) => {
  if (socket.handshake.auth.token === "bad") {
    const err = new Error("invalid token");
    err.data = { code: 401 };
    return next(err);
  }
  next();
});
const admin = io.of("/admin");
admin.use((socket, next) => {
  if (socket.handshake.auth.role !== "admin") {
    const err = new Error("admins only");
    err.data = { role: socket.handshake.auth.role ?? null };
    return next(err);
  }
  next();
});
register(io.of("/"));
register(admin);

http.listen(port, "127.0.0.1", () => {
  console.log(`listening ${http.address().port}`);
});
process.on("SIGTERM", () => {
  io.close();
  process.exit(0);
});
