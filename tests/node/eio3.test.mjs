// socket.io-client 2.x (Engine.IO v3, the Socket.IO v4 protocol) against rtio with
// allow_eio3=True (tests/node/eio3_server.py) and, as the reference, against Node's
// socket.io 4 with allowEIO3 (eio3_node_server.mjs): the same scenarios must pass on both.
// Over polling, websocket and the upgrade: connect, auth (query), echo, acks both ways,
// binary, rooms shared with a 4.x client, namespaces, refusals, the v3 heartbeat (the
// client pings), reconnection. And with allow_eio3 off: Node's refusal.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import io2 from "socket.io-client-v2";
import { io as io4 } from "socket.io-client";
import { MODES, Proc, SERVERS, sleep } from "./eio3_helpers.mjs";

function once(emitter, event, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeout} ms`)), timeout);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args.length > 1 ? args : args[0]);
    });
  });
}

// emit with an ack; resolves with the ack's arguments
function call(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event}`)), 5000);
    socket.emit(event, ...args, (...answer) => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

const clients = [];
function v2(url, transports, opts = {}) {
  const socket = io2(url, { transports, forceNew: true, reconnection: false, ...opts });
  clients.push(socket);
  return socket;
}

for (const kind of Object.keys(SERVERS)) {
  describe(`socket.io-client 2.x against ${kind}`, () => {
    let server;
    before(async () => {
      server = await Proc.start(kind);
    });
    after(async () => {
      for (const c of clients.splice(0)) c.close();
      await server.stop();
    });

    for (const [mode, transports] of Object.entries(MODES)) {
      describe(mode, () => {
        test("connect, echo, whoami: the ids agree, the query is the handshake's", async () => {
          const socket = v2(`${server.url}`, transports, { query: { token: "t1" } });
          await once(socket, "connect");
          const [echoed] = await call(socket, "echo", "hi", { n: 1, s: "é✓😀" });
          assert.equal(echoed, "hi");
          const [a, b] = await call(socket, "echo", "x", [1, "é✓😀"]);
          assert.deepEqual([a, b], ["x", [1, "é✓😀"]]);
          const [me] = await call(socket, "whoami");
          assert.equal(me.id, socket.id);
          assert.equal(me.nsp, "/");
          assert.equal(me.token, "t1");
          assert.deepEqual(me.auth, {});
          if (mode === "upgrade") {
            await sleep(300);
            const [again] = await call(socket, "whoami");
            assert.equal(again.transport, "websocket");
          } else {
            assert.equal(me.transport, mode);
          }
          socket.close();
        });

        test("the server asks for an ack; binary both ways", async () => {
          const socket = v2(server.url, transports);
          socket.on("question", (x, ack) => ack(x * 2, Buffer.from([9, 8])));
          await once(socket, "connect");
          const [answer] = await call(socket, "ask", { event: "question", args: [21] });
          assert.equal(answer[0], 42);
          assert.deepEqual([...answer[1]], [9, 8]);
          const [buf, nested] = await call(socket, "echo", Buffer.from([1, 2, 3]), {
            deep: [Buffer.from([255, 0])],
          });
          assert.ok(Buffer.isBuffer(buf));
          assert.deepEqual([...buf], [1, 2, 3]);
          assert.deepEqual([...nested.deep[0]], [255, 0]);
          socket.close();
        });

        test("a namespace with auth in its query; refusals reach the client's error event", async () => {
          const ok = v2(`${server.url}/admin`, transports, { query: { role: "admin" } });
          await once(ok, "connect");
          const [me] = await call(ok, "whoami");
          assert.equal(me.nsp, "/admin");
          assert.equal(me.id, ok.id);
          assert.equal(me.auth.role, "admin");
          const refused = v2(`${server.url}/admin`, transports, { query: { role: "user" } });
          assert.equal(await once(refused, "error"), "admins only");
          const bad = v2(server.url, transports, { query: { token: "bad" } });
          assert.equal(await once(bad, "error"), "invalid token");
          ok.close();
          refused.close();
          bad.close();
        });

        test("a room shared with a 4.x client: text and binary broadcasts reach both", async () => {
          const old = v2(server.url, transports);
          const cur = io4(server.url, { transports, forceNew: true, reconnection: false });
          clients.push(cur);
          await Promise.all([once(old, "connect"), once(cur, "connect")]);
          await call(old, "join", "mixed");
          await new Promise((r) => cur.emit("join", "mixed", r));
          const got = Promise.all([once(old, "news"), once(cur, "news")]);
          await new Promise((r) => cur.emit("broadcast", { room: "mixed", event: "news", args: ["hello", 7] }, r));
          for (const args of await got) assert.deepEqual(args, ["hello", 7]);
          const bin = Promise.all([once(old, "blob"), once(cur, "blob")]);
          await call(old, "broadcast", { room: "mixed", event: "blob", args: [Buffer.from([5, 6, 7])] });
          for (const data of await bin) assert.deepEqual([...data], [5, 6, 7]);
          old.close();
          cur.close();
        });

        test("the client's pings keep the connection (past pingInterval + pingTimeout)", async () => {
          const socket = v2(server.url, transports);
          await once(socket, "connect");
          let disconnected = null;
          socket.on("disconnect", (r) => (disconnected = r));
          await sleep(2200);
          assert.equal(disconnected, null);
          const [echoed] = await call(socket, "echo", "still here");
          assert.equal(echoed, "still here");
          const id = socket.id;
          socket.close();
          const reason = await server.waitFor((l) => l.event === "disconnect" && l.sid === id);
          assert.equal(reason.reason, "client namespace disconnect");
        });

        test("reconnection after the server drops the connection", async () => {
          const socket = v2(server.url, transports, { reconnection: true, reconnectionDelay: 100 });
          await once(socket, "connect");
          const first = socket.id;
          socket.emit("drop");
          assert.equal(await once(socket, "disconnect"), "transport close");
          await once(socket, "reconnect", 8000);
          assert.notEqual(socket.id, first);
          const [echoed] = await call(socket, "echo", "back");
          assert.equal(echoed, "back");
          socket.close();
        });
      });
    }
  });
}

for (const kind of Object.keys(SERVERS)) {
  test(`${kind} without allowEIO3 refuses a v3 client: 400, code 5`, async () => {
    const server = await Proc.start(kind, ["--no-eio3"], { NO_EIO3: "1" });
    try {
      const res = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling`);
      assert.equal(res.status, 400);
      assert.deepEqual(await res.json(), { code: 5, message: "Unsupported protocol version" });
      const socket = v2(server.url, ["polling"]);
      await once(socket, "connect_error");
      socket.close();
      if (kind !== "node") {
        await sleep(200);
        assert.match(server.stderr, /Engine\.IO protocol version 3.*allow_eio3=True/);
      }
    } finally {
      await server.stop();
    }
  });
}
