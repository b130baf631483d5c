// rtio against the real npm socket.io-client v4, over WebSocket, polling only, and across
// the polling -> WebSocket upgrade. The server is tests/node/socketio_server.py.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  MODES,
  ServerProcess,
  connect,
  connectIn,
  manager,
  once,
  ready,
  recorder,
  until,
  upgraded,
  io,
} from "./socketio_helpers.mjs";

let server;
const open = [];

before(async () => {
  server = await ServerProcess.start();
});

after(async () => {
  for (const socket of open) socket.close();
  await server.stop();
});

async function client(mode, options = {}, nsp = "/") {
  const socket = await connectIn(mode, server.url, options, nsp);
  open.push(socket);
  return socket;
}

for (const mode of Object.keys(MODES)) {
  describe(`over ${mode}`, () => {
    test("the transport is the one asked for", async () => {
      const socket = await client(mode);
      const me = await socket.emitWithAck("whoami");
      assert.equal(me.transport, mode === "polling" ? "polling" : "websocket");
      assert.equal(me.id, socket.id);
      assert.equal(socket.id.length, 20);
      socket.close();
    });

    test("namespaces with auth, multiplexed on one connection", async () => {
      const m = manager(server.url, MODES[mode]);
      const main = await ready(m.socket("/", { auth: { name: "ann" } }));
      const admin = await ready(m.socket("/admin", { auth: { role: "admin" } }));
      const dyn = await ready(m.socket("/dyn-42", { auth: { x: 1 } }));
      await upgraded(mode, main);
      const [a, b, c] = await Promise.all([
        main.emitWithAck("whoami"),
        admin.emitWithAck("whoami"),
        dyn.emitWithAck("whoami"),
      ]);
      assert.deepEqual([a.nsp, a.name, a.auth], ["/", "ann", { name: "ann" }]);
      assert.deepEqual([b.nsp, b.auth], ["/admin", { role: "admin" }]);
      assert.deepEqual([c.nsp, c.auth], ["/dyn-42", { x: 1 }]);
      assert.deepEqual(b.rooms, [admin.id]);
      // an unknown namespace is refused, the others stay connected
      const nope = m.socket("/nope");
      const [err] = await once(nope, "connect_error");
      assert.equal(err.message, "Invalid namespace");
      assert.ok(main.connected && admin.connected && dyn.connected);
      main.disconnect();
      admin.disconnect();
      dyn.disconnect();
      nope.disconnect();
    });

    test("a middleware refuses with a message and data", async () => {
      await assert.rejects(connect(server.url, { ...MODES[mode], auth: { token: "bad" } }), {
        message: "invalid token",
        data: { code: 401, hint: "retry" },
      });
      await assert.rejects(
        connect(server.url, { ...MODES[mode], auth: { role: "user" } }, "/admin"),
        { message: "admins only", data: { role: "user" } },
      );
    });

    test("events and acks both ways", async () => {
      const socket = await client(mode);
      assert.deepEqual(await socket.emitWithAck("echo", 1, "two", { three: [3] }), 1);
      const all = await new Promise((resolve) =>
        socket.emit("echo", 1, "two", null, (...args) => resolve(args)),
      );
      assert.deepEqual(all, [1, "two", null]);
      // the server asks, the client answers its ack
      socket.on("question", (a, b, cb) => cb(a + b, "ok"));
      const res = await socket.emitWithAck("ask", { event: "question", args: [1, 2] });
      assert.deepEqual(res, { answer: [3, "ok"] });
      // the client does not answer: the server's emit_with_ack times out
      socket.on("ignored", () => {});
      const late = await socket.emitWithAck("ask", { event: "ignored", timeout: 0.2 });
      assert.deepEqual(late, { error: "timeout" });
      // a server-sent event without ack
      const got = once(socket, "hello");
      await socket.emitWithAck("broadcast", { event: "hello", args: ["you"], rooms: [socket.id] });
      assert.deepEqual(await got, ["you"]);
      socket.close();
    });

    test("binary nested in objects, both ways", async () => {
      const socket = await client(mode);
      const payload = {
        file: Buffer.from([0, 1, 2, 255]),
        nested: { list: [Buffer.from("x"), 5, { deep: Buffer.alloc(1000, 7) }] },
        text: "t",
      };
      const [back, second] = await new Promise((resolve) =>
        socket.emit("echo", payload, Buffer.from("second"), (...args) => resolve(args)),
      );
      assert.deepEqual(back, payload);
      assert.ok(Buffer.isBuffer(back.nested.list[0]));
      assert.deepEqual(second, Buffer.from("second"));
      // server -> client binary, and the client's binary ack back to the server
      socket.on("blob", (obj, cb) => {
        assert.ok(Buffer.isBuffer(obj.data));
        cb({ got: obj.data, len: obj.data.length });
      });
      const res = await socket.emitWithAck("ask", {
        event: "blob",
        args: [{ data: Buffer.from([9, 8, 7]) }],
      });
      assert.deepEqual(res, { answer: [{ got: Buffer.from([9, 8, 7]), len: 3 }] });
      socket.close();
    });

    test("rooms and broadcasts with except", async () => {
      const [a, b, c] = await Promise.all([client(mode), client(mode), client(mode)]);
      const [ga, gb, gc] = [recorder(a), recorder(b), recorder(c)];
      assert.deepEqual(await a.emitWithAck("join", "red"), [a.id, "red"].sort());
      await b.emitWithAck("join", ["red", "blue"]);
      await c.emitWithAck("join", "blue");
      // from a socket: to its room, itself excluded
      await a.emitWithAck("broadcast", { event: "r1", rooms: ["red"], self: false });
      // several rooms minus a socket id
      await a.emitWithAck("broadcast", { event: "r2", rooms: ["red", "blue"], except: [b.id] });
      // everyone minus a room
      await a.emitWithAck("broadcast", { event: "r3", except: ["blue"] });
      await b.emitWithAck("leave", "red");
      await a.emitWithAck("broadcast", { event: "r4", rooms: ["red"] });
      // a marker to everyone: after it arrives, nothing earlier is still on its way
      await a.emitWithAck("broadcast", { event: "end", rooms: [a.id, b.id, c.id] });
      await until(() => [ga, gb, gc].every((g) => g.some(([e]) => e === "end")));
      const names = (g) => g.map(([e]) => e);
      assert.deepEqual(names(ga), ["r2", "r3", "r4", "end"]);
      assert.deepEqual(names(gb), ["r1", "end"]);
      assert.deepEqual(names(gc), ["r2", "end"]);
      for (const s of [a, b, c]) s.close();
    });

    test("volatile events reach clients that are ready", async () => {
      const [a, b] = await Promise.all([client(mode), client(mode)]);
      // The client's "upgrade" event fires as it sends "5": one acked round trip after it
      // makes sure the server switched b to the WebSocket (b is writable), as Node needs too.
      await b.emitWithAck("whoami");
      // A polling client is ready only while its next GET waits at the server, and b sends
      // that GET as it reads the ack above: a's broadcast may overtake it (more so with
      // several workers, where the two requests take different paths). So send until one
      // lands: what lands is in order, never twice, and a volatile event does reach a
      // ready client.
      const got = [];
      b.on("v", (n) => got.push(n));
      // a's ack and b's event travel on two connections: give the event time to arrive
      // (a WebSocket b is ready, so its first one must come) before sending another
      const grace = mode === "polling" ? 50 : 3000;
      for (let n = 1; got.length === 0; n++) {
        assert.ok(n <= 40, "no volatile event reached a ready client in 40 tries");
        await a.emitWithAck("broadcast", { event: "v", args: [n], volatile: true, self: false });
        await until(() => got.length > 0, grace).catch(() => {});
      }
      if (mode !== "polling") assert.deepEqual(got, [1]);
      assert.deepEqual(got, [...new Set(got)].sort((x, y) => x - y));
      a.close();
      b.close();
    });

    test("broadcast with acks from many clients, with a timeout", async () => {
      const room = `vote-${mode}`;
      const [a, b, c] = await Promise.all([client(mode), client(mode), client(mode)]);
      for (const s of [a, b, c]) await s.emitWithAck("join", room);
      a.on("vote", (q, cb) => cb(`yes to ${q}`));
      b.on("vote", (q, cb) => setTimeout(() => cb("no", 2), 50));
      c.on("vote", () => {}); // never answers
      const start = Date.now();
      const res = await a.emitWithAck("poll", {
        rooms: [room],
        event: "vote",
        args: ["q1"],
        timeout: 0.4,
      });
      assert.ok(Date.now() - start >= 350);
      assert.deepEqual(res.answers, { [a.id]: "yes to q1", [b.id]: ["no", 2] });
      assert.deepEqual(res.timedOut, [c.id]);
      // when everyone answers, the result comes before the timeout
      c.on("vote2", (cb) => cb("c"));
      a.on("vote2", (cb) => cb("a"));
      b.on("vote2", (cb) => cb("b"));
      const t0 = Date.now();
      const res2 = await a.emitWithAck("poll", { rooms: [room], event: "vote2", timeout: 5 });
      assert.ok(Date.now() - t0 < 2000);
      assert.deepEqual(res2.answers, { [a.id]: "a", [b.id]: "b", [c.id]: "c" });
      assert.deepEqual(res2.timedOut, []);
      for (const s of [a, b, c]) s.close();
    });

    test("handlers of one socket run concurrently once they await (as Node)", async () => {
      // a handler awaiting something slow does not hold back the next event of its socket
      const socket = await client(mode);
      const order = [];
      await Promise.all([
        socket.emitWithAck("sleep", 0.3, "slow").then((t) => order.push(t)),
        socket.emitWithAck("sleep", 0, "fast").then((t) => order.push(t)),
      ]);
      assert.deepEqual(order, ["fast", "slow"]);
      socket.close();
    });

    test("server-wide operations", async () => {
      const room = `team-${mode}`;
      const [a, b, c] = await Promise.all([client(mode), client(mode), client(mode)]);
      await a.emitWithAck("join", `${room}-x`);
      await b.emitWithAck("join", `${room}-x`);
      await a.emitWithAck("server-wide", { op: "sockets_join", rooms: [`${room}-x`], room });
      const members = await c.emitWithAck("server-wide", { op: "fetch_sockets", rooms: [room] });
      assert.deepEqual(members, [a.id, b.id].sort());
      await c.emitWithAck("server-wide", { op: "sockets_leave", rooms: [a.id], room });
      const left = await c.emitWithAck("server-wide", { op: "fetch_sockets", rooms: [room] });
      assert.deepEqual(left, [b.id]);
      const gone = once(b, "disconnect");
      await c.emitWithAck("server-wide", { op: "disconnect_sockets", rooms: [room] });
      assert.deepEqual(await gone, ["io server disconnect", undefined]);
      assert.ok(a.connected && c.connected);
      a.close();
      c.close();
    });

    describe("disconnect reasons, both sides", () => {
      test("the client disconnects", async () => {
        const socket = await client(mode);
        const sid = socket.id;
        const closed = once(socket, "disconnect");
        socket.disconnect();
        assert.equal((await closed)[0], "io client disconnect");
        assert.equal(await server.reason(sid, "disconnecting"), "client namespace disconnect");
        assert.equal(await server.reason(sid), "client namespace disconnect");
      });

      test("the server disconnects the socket", async () => {
        const socket = await client(mode);
        const sid = socket.id;
        await socket.emitWithAck("join", "kept-until-disconnecting");
        const closed = once(socket, "disconnect");
        socket.emit("kick", {});
        assert.equal((await closed)[0], "io server disconnect");
        const line = await server.waitFor((l) => l.event === "disconnecting" && l.sid === sid);
        assert.equal(line.reason, "server namespace disconnect");
        assert.deepEqual(line.rooms, [sid, "kept-until-disconnecting"].sort());
        assert.equal(await server.reason(sid), "server namespace disconnect");
      });

      test("the server disconnects the socket and closes the connection", async () => {
        const m = manager(server.url, MODES[mode]);
        const main = await ready(m.socket("/"));
        const admin = await ready(m.socket("/admin", { auth: { role: "admin" } }));
        await upgraded(mode, main);
        const [mainSid, adminSid] = [main.id, admin.id];
        const closed = [once(main, "disconnect"), once(admin, "disconnect")];
        main.emit("kick", { close: true });
        assert.equal((await closed[0])[0], "io server disconnect");
        assert.equal((await closed[1])[0], "io server disconnect");
        assert.equal(await server.reason(mainSid), "server namespace disconnect");
        assert.equal(await server.reason(adminSid), "server namespace disconnect");
      });

      test("the client closes its transport", async () => {
        const socket = await client(mode);
        const sid = socket.id;
        const closed = once(socket, "disconnect");
        socket.io.engine.close();
        assert.equal((await closed)[0], "forced close"); // the client's name for it
        assert.equal(await server.reason(sid), "transport close");
      });

      test("the client sends an invalid packet", async () => {
        const socket = await client(mode);
        const sid = socket.id;
        const closed = once(socket, "disconnect");
        socket.io.engine.write('2["connect"]'); // a reserved event name
        assert.equal((await closed)[0], "transport close");
        assert.equal(await server.reason(sid), "parse error");
      });

      test("the client sends a packet that is invalid in its state", async () => {
        const socket = await client(mode);
        const sid = socket.id;
        const closed = once(socket, "disconnect");
        socket.io.engine.write('4{"message":"only servers send this"}');
        assert.equal((await closed)[0], "transport close");
        assert.equal(await server.reason(sid), "forced server close");
      });

      test("the client stops answering pings", async () => {
        const socket = await client(mode);
        const sid = socket.id;
        const engine = socket.io.engine;
        const send = engine._sendPacket.bind(engine);
        engine._sendPacket = (type, ...rest) => (type === "pong" ? undefined : send(type, ...rest));
        const closed = once(socket, "disconnect");
        assert.equal(await server.reason(sid), "ping timeout");
        assert.equal((await closed)[0], "transport close");
      });

      test("the client's transport fails", async () => {
        const socket = await client(mode);
        const sid = socket.id;
        const closed = once(socket, "disconnect");
        const engine = socket.io.engine;
        if (engine.transport.name === "websocket") {
          engine.transport.ws._socket.destroy(); // no close frame: an abnormal closure
        } else {
          // a second long-poll on the same session while the client's own is pending
          await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${engine.id}`);
        }
        assert.equal(await server.reason(sid), "transport error");
        assert.ok(["transport close", "transport error"].includes((await closed)[0]));
      });
    });
  });
}

describe("graceful drain", () => {
  for (const mode of Object.keys(MODES)) {
    test(`at SIGTERM a handler at work still answers, then the client is told (${mode})`, async () => {
      const server = await ServerProcess.start();
      const socket = await connect(server.url, { ...MODES[mode], reconnection: false });
      try {
        await upgraded(mode, socket);
        const id = socket.id;
        const events = [];
        socket.on("disconnect", (reason) => events.push(`disconnect: ${reason}`));
        // the handler sleeps 0.5 s; the server is stopped while it runs (shutdown_drain 5 s)
        const answer = socket.timeout(5000).emitWithAck("sleep", 0.5, "done").then((tag) => {
          events.push(`ack: ${tag}`);
        });
        await new Promise((resolve) => setTimeout(resolve, 100));
        const stopped = server.stop("SIGTERM");
        await answer;
        await stopped;
        assert.equal(await server.reason(id), "server shutting down");
        await new Promise((resolve) => setTimeout(resolve, 100));
        // over polling a client caught between two polls (it polls again at once after
        // the ack) may find the server gone rather than get the close packet
        const told = mode === "polling" ? ["transport close", "transport error"] : ["transport close"];
        assert.equal(events.length, 2, events.join(", "));
        assert.equal(events[0], "ack: done");
        assert.ok(told.map((r) => `disconnect: ${r}`).includes(events[1]), events[1]);
      } finally {
        socket.close();
        await server.stop();
      }
    });
  }
});

describe("restarts", () => {
  for (const mode of Object.keys(MODES)) {
    test(`the client reconnects after a server restart (${mode})`, async () => {
      const first = await ServerProcess.start();
      const port = first.port;
      const socket = await connect(first.url, {
        ...MODES[mode],
        reconnection: true,
        reconnectionDelay: 100,
        reconnectionDelayMax: 200,
        randomizationFactor: 0,
        auth: { name: "phoenix" },
      });
      try {
        await upgraded(mode, socket);
        // over polling, stop the server while the client's long-poll is pending, as it is
        // but for a moment after each response (a client caught between two polls sees
        // its next poll fail: "transport error")
        if (mode === "polling") await new Promise((resolve) => setTimeout(resolve, 100));
        const firstId = socket.id;
        const closed = once(socket, "disconnect", 10000);
        await first.stop("SIGTERM");
        assert.equal(await first.reason(firstId), "server shutting down");
        // the close packet reaches the client on every transport (over polling in the
        // answer to its pending long-poll, which the server answers before it stops)
        const [reason] = await closed;
        assert.equal(reason, "transport close");
        assert.ok(socket.active, "the client keeps trying");
        const second = await ServerProcess.start(port);
        try {
          await once(socket, "connect", 10000);
          assert.notEqual(socket.id, firstId);
          const me = await socket.emitWithAck("whoami");
          assert.equal(me.name, "phoenix");
        } finally {
          socket.close();
          await second.stop();
        }
      } finally {
        socket.close();
        await first.stop();
      }
    });
  }
});

// with RTIO_WORKERS=N (stage 62) the process signalled is the supervisor, which serves
// nothing: stopping or killing it is no stall or crash of the workers serving the clients
const SUPERVISED = Number(process.env.RTIO_WORKERS || 1) > 1;

describe("client-side reasons when the server stalls or dies", { skip: SUPERVISED }, () => {
  for (const mode of Object.keys(MODES)) {
    test(`a frozen server: the client sees "ping timeout" (${mode})`, async () => {
      const frozen = await ServerProcess.start();
      const socket = await connectIn(mode, frozen.url);
      try {
        const sid = socket.id;
        const closed = once(socket, "disconnect", 5000);
        frozen.proc.kill("SIGSTOP"); // no more pings from the server
        assert.equal((await closed)[0], "ping timeout");
        frozen.proc.kill("SIGCONT");
        // the server, awake again, finds the client gone
        const reason = await frozen.reason(sid);
        assert.ok(["ping timeout", "transport close", "transport error"].includes(reason), reason);
      } finally {
        socket.close();
        frozen.proc.kill("SIGCONT");
        await frozen.stop();
      }
    });

    test(`a crashed server: the client sees its transport end (${mode})`, async () => {
      const doomed = await ServerProcess.start();
      const socket = await connectIn(mode, doomed.url);
      try {
        const closed = once(socket, "disconnect", 5000);
        await doomed.stop("SIGKILL");
        const [reason] = await closed;
        // a failed long-poll is a "transport error"; a WebSocket that drops, "transport close"
        assert.equal(reason, mode === "polling" ? "transport error" : "transport close");
      } finally {
        socket.close();
      }
    });
  }
});

describe("across the upgrade", () => {
  test("events and acks sent while the transport changes arrive once, in order", async () => {
    // a namespace of its own: the broadcasts below reach this socket only
    const socket = io(`${server.url}/dyn-999`, { forceNew: true, reconnection: false });
    open.push(socket);
    const got = [];
    const sentOver = [];
    socket.io.engine.on("packetCreate", (packet) => {
      if (packet.type === "message") sentOver.push(socket.io.engine.transport.name);
    });
    socket.on("seq", (n) => got.push(n));
    const upgrade = once(socket.io.engine, "upgrade");
    const acks = [];
    const N = 400;
    for (let i = 0; i < N; i++) {
      acks.push(socket.emitWithAck("echo", i));
      socket.emit("broadcast", { event: "seq", args: [i] });
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await Promise.all(acks), [...Array(N).keys()]);
    await upgrade;
    await until(() => got.length >= N);
    assert.deepEqual(got, [...Array(N).keys()]);
    assert.equal(socket.io.engine.transport.name, "websocket");
    // the client flushes its buffer over polling or after the upgrade, as its timing goes;
    // either way the session went from one transport to the other during the test
    assert.equal(sentOver[0], "polling");
    socket.close();
  });
});
