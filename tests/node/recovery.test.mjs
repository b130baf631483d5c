// Connection state recovery against the real npm socket.io-client 4.8: the client's
// transport is cut (socket.io.engine.close()), events go out while it is away (to all, to
// its room, to its id, with except, to other rooms, volatile, with acks), it reconnects with
// its pid and offset and must get recovered === true, its id, rooms and data, and exactly
// the events meant for it, in order, before its "connect". Then what must not recover: a
// client namespace disconnect, an unknown pid, a bad offset, an expired session, a server
// restart (in memory). The server is tests/node/recovery_server.py.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { MODES, ServerProcess, connectIn, io, ready, recorder, until, upgraded } from "./socketio_helpers.mjs";

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "recovery_server.py");
const RECOVERABLE = ["transport close", "transport error", "forced close", "ping timeout"];

let server;
const open = [];

before(async () => {
  server = await ServerProcess.start(0, SCRIPT);
});

after(async () => {
  for (const socket of open) socket.close();
  await server.stop();
});

function client(url, options = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, ...options });
  open.push(socket);
  return socket;
}

function call(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

// Cut the transport; resolves with the server's disconnect reason.
async function cut(srv, socket) {
  const id = socket.id;
  socket.io.engine.close();
  return srv.reason(id);
}

for (const mode of Object.keys(MODES)) {
  describe(`recovery over ${mode}`, () => {
    test("id, rooms, data and exactly the missed events, in order, before connect", async () => {
      const a = client(server.url, MODES[mode]);
      const got = recorder(a);
      const order = [];
      a.on("connect", () => order.push(got.length));
      await ready(a);
      await upgraded(mode, a);
      await until(() => got.length === 1);
      assert.equal(got[0][0], "welcome");
      assert.equal(typeof got[0].at(-1), "string"); // the offset, last
      assert.equal(a.recovered, false);
      const b = await connectIn(mode, server.url);
      open.push(b);
      b.on("acked", (x, ack) => ack("ok"));
      assert.deepEqual(await call(a, "join", "r"), [a.id, "r"].sort());
      const id = a.id;
      const before = await call(a, "whoami");

      assert.ok(RECOVERABLE.includes(await cut(server, a)));
      const sends = [
        { event: "news", args: [1] }, // to all: yes
        { to: ["r"], event: "news", args: [2] }, // its room: yes
        { to: ["other"], event: "news", args: [3] }, // another room: no
        { except: ["r"], event: "news", args: [4] }, // except its room: no
        { to: [id], event: "news", args: [5] }, // its id: yes
        { to: ["r"], except: [b.id], event: "news", args: [6] }, // except another: yes
        { event: "news", args: [7], volatile: true }, // volatile: no
      ];
      for (const req of sends) assert.equal(await call(b, "send", req), true);
      assert.ok((await call(b, "send_ack", { event: "acked", args: [8] })) >= 1); // acked: no
      assert.equal(await call(b, "send", { event: "news", args: [9] }), true);

      a.connect();
      await until(() => a.connected, 5000);
      assert.equal(a.recovered, true);
      assert.equal(a.id, id);
      await server.waitFor((l) => l.event === "connect" && l.sid === id && l.recovered);
      const missed = got.slice(1);
      assert.deepEqual(
        missed.map((e) => [e[0], e[1]]),
        [["news", 1], ["news", 2], ["news", 5], ["news", 6], ["news", 9]],
      );
      for (const e of missed) assert.equal(typeof e.at(-1), "string");
      assert.equal(new Set(got.map((e) => e.at(-1))).size, got.length);
      // the welcome came after the first "connect", the missed events before the second
      assert.deepEqual(order, [0, 6]);
      const now = await call(a, "whoami");
      assert.deepEqual(now, { ...before, recovered: true });

      // on from there: live events, and a second cut recovers again
      await call(b, "send", { to: ["r"], event: "news", args: [10] });
      await until(() => got.length === 7);
      assert.ok(RECOVERABLE.includes(await cut(server, a)));
      await call(b, "send", { to: ["r"], event: "news", args: [11] });
      a.connect();
      await until(() => a.connected && got.length === 8, 5000);
      assert.equal(a.recovered, true);
      assert.deepEqual(got.slice(6).map((e) => e[1]), [10, 11]);
      a.close();
      b.close();
    });
  });
}

test("the client's own reconnection recovers", async () => {
  const a = client(server.url, {
    transports: ["websocket"],
    reconnection: true,
    reconnectionDelay: 1500,
    randomizationFactor: 0,
  });
  const got = recorder(a);
  await ready(a);
  await until(() => got.length === 1);
  const id = a.id;
  const b = client(server.url, { transports: ["websocket"] });
  await ready(b);
  const reason = new Promise((resolve) => a.once("disconnect", resolve));
  assert.ok(RECOVERABLE.includes(await cut(server, a)));
  assert.equal(await reason, "forced close"); // what the client reports
  await call(b, "send", { event: "news", args: ["away"] });
  await new Promise((resolve) => a.once("connect", resolve));
  assert.equal(a.recovered, true);
  assert.equal(a.id, id);
  await until(() => got.length === 2);
  assert.equal(got[1][1], "away");
  a.close();
  b.close();
});

test("a client namespace disconnect is not recovered", async () => {
  const a = client(server.url, { transports: ["websocket"] });
  const got = recorder(a);
  await ready(a);
  await until(() => got.length === 1);
  const id = a.id;
  a.disconnect();
  assert.equal(await server.reason(id), "client namespace disconnect");
  a.connect();
  await until(() => a.connected, 5000);
  assert.equal(a.recovered, false);
  assert.notEqual(a.id, id);
  a.close();
});

test("an unknown pid or a bad offset is not recovered", async () => {
  const a = client(server.url, { transports: ["websocket"], autoConnect: false });
  a._pid = "unknown-pid";
  a._lastOffset = "nope";
  const got = recorder(a);
  a.connect();
  await ready(a);
  assert.equal(a.recovered, false);
  await until(() => got.length === 1); // a new socket: welcome
  const id = a.id;
  assert.ok(RECOVERABLE.includes(await cut(server, a)));
  a._lastOffset = "0-999999"; // a real pid, an offset never given
  a.connect();
  await until(() => a.connected, 5000);
  assert.equal(a.recovered, false);
  assert.notEqual(a.id, id);
  a.close();
});

test("an expired session is not recovered", async () => {
  const short = await ServerProcess.start(0, SCRIPT, ["--max-duration", "0.3"]);
  try {
    const a = client(short.url, { transports: ["websocket"] });
    const got = recorder(a);
    await ready(a);
    await until(() => got.length === 1);
    const id = a.id;
    assert.ok(RECOVERABLE.includes(await cut(short, a)));
    await new Promise((r) => setTimeout(r, 1000));
    a.connect();
    await until(() => a.connected, 5000);
    assert.equal(a.recovered, false);
    assert.notEqual(a.id, id);
    a.close();
  } finally {
    await short.stop();
  }
});

test("a server restart loses the sessions (in memory)", async () => {
  let srv = await ServerProcess.start(0, SCRIPT);
  const port = srv.port;
  try {
    const a = client(srv.url, {
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 200,
      randomizationFactor: 0,
    });
    const got = recorder(a);
    await ready(a);
    await until(() => got.length === 1);
    const id = a.id;
    await srv.stop();
    srv = await ServerProcess.start(port, SCRIPT);
    await new Promise((resolve) => a.once("connect", resolve));
    assert.equal(a.recovered, false);
    assert.notEqual(a.id, id);
    a.close();
  } finally {
    await srv.stop();
  }
});
