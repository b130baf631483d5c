// rtio.engine against the real npm engine.io-client (6.x) in Node: polling only, WebSocket
// only, and polling then upgrade; text and binary both ways; a server close and a heartbeat
// timeout seen by the client. The server is tests/conformance/server.py, started by
// tests/stages/45-engineio-client.sh, which passes its base URL as ENGINE_URL:
//   /engine.io/       the official suite's echo app (pingInterval 300 ms, pingTimeout 200 ms)
//   /engine-control/  the same, plus the message "close" that makes the server close the
//                     session, and /engine-control/stats (close reasons the server reported)
//   /engine-deflate/  the echo app with permessage-deflate on for WebSocket
// The heartbeat timeout goes through a TCP proxy of ours that can freeze: the connection
// stays up but nothing passes, as in a network partition.
import assert from "node:assert/strict";
import net from "node:net";
import { after, describe, test } from "node:test";
import { Socket } from "engine.io-client";

const BASE = process.env.ENGINE_URL;
if (!BASE) throw new Error("ENGINE_URL is not set (run tests/stages/45-engineio-client.sh)");

const MODES = {
  polling: { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"] },
};

const sockets = [];
after(() => {
  for (const socket of sockets) socket.close();
});

function once(emitter, event, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "${event}" within ${timeoutMs} ms`)),
      timeoutMs,
    );
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

// Opens a socket and waits until it is open on its final transport (after the upgrade in
// "upgrade" mode).
async function open(mode, path = "/engine.io/", base = BASE) {
  const socket = new Socket(base, { path, ...MODES[mode] });
  sockets.push(socket);
  const upgraded = mode === "upgrade" ? once(socket, "upgrade") : null;
  await once(socket, "open");
  if (upgraded) await upgraded;
  return socket;
}

// Collects the next n messages.
function messages(socket, n, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const got = [];
    const timer = setTimeout(
      () => reject(new Error(`got ${got.length} of ${n} messages`)),
      timeoutMs,
    );
    const onMessage = (data) => {
      got.push(data);
      if (got.length === n) {
        clearTimeout(timer);
        socket.off("message", onMessage);
        resolve(got);
      }
    };
    socket.on("message", onMessage);
  });
}

function bytes(data) {
  assert.ok(typeof data !== "string", `expected binary, got the string ${data}`);
  return [...new Uint8Array(data instanceof ArrayBuffer ? data : data.buffer.slice(
    data.byteOffset, data.byteOffset + data.byteLength))];
}

async function serverReasons() {
  const resp = await fetch(`${BASE}/engine-control/stats`);
  return (await resp.json()).reasons;
}

// A TCP proxy to the server that can be frozen: bytes and closes are no longer passed
// either way, as in a network partition.
async function freezableProxy() {
  const target = new URL(BASE);
  const state = { frozen: false, connections: new Set() };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    state.connections.add(client).add(upstream);
    client.on("data", (chunk) => state.frozen || upstream.write(chunk));
    upstream.on("data", (chunk) => state.frozen || client.write(chunk));
    const end = () => {
      // a partition: a close on one side does not reach the other once frozen (the
      // server answers node-XMLHttpRequest's polls with "Connection: close")
      if (state.frozen) return;
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    freeze() {
      state.frozen = true;
    },
    close() {
      for (const socket of state.connections) socket.destroy();
      server.close();
    },
  };
}

for (const mode of Object.keys(MODES)) {
  describe(`engine.io-client over ${mode}`, () => {
    test("connects on the expected transport with the server's settings", async () => {
      const socket = await open(mode);
      const expected = mode === "polling" ? "polling" : "websocket";
      assert.equal(socket.transport.name, expected);
      assert.equal(socket.id.length, 20);
      socket.close();
    });

    test("exchanges text and binary both ways, in order", async () => {
      const socket = await open(mode);
      // (an empty text message is left out: engine.io-parser turns "4" into undefined)
      const big = "x".repeat(100_000);
      const texts = ["hello", "é ✓ \u2028 \u{1F600}", big];
      const got = messages(socket, texts.length + 2);
      for (const text of texts) socket.send(text);
      socket.send(Buffer.from([0, 1, 2, 254, 255]));
      socket.send(new Uint8Array([7]).buffer);
      const echoed = await got;
      assert.deepEqual(echoed.slice(0, 2), texts.slice(0, 2));
      assert.ok(echoed[2] === big, "the 100 kB message came back changed");
      assert.deepEqual(bytes(echoed[3]), [0, 1, 2, 254, 255]);
      assert.deepEqual(bytes(echoed[4]), [7]);
      socket.close();
    });

    test("stays open across several heartbeats (pingInterval 300 ms)", async () => {
      const socket = await open(mode);
      let pings = 0;
      socket.on("ping", () => pings++);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal(socket.readyState, "open");
      assert.ok(pings >= 3, `only ${pings} pings in 1.2 s`);
      const got = messages(socket, 1);
      socket.send("still here");
      assert.deepEqual(await got, ["still here"]);
      socket.close();
    });

    test("detects a server close", async () => {
      const socket = await open(mode, "/engine-control/");
      const before = (await serverReasons())["forced close"] ?? 0;
      const closed = once(socket, "close");
      socket.send("close");
      const [reason] = await closed;
      assert.equal(reason, "transport close");
      assert.equal(socket.readyState, "closed");
      assert.equal((await serverReasons())["forced close"], before + 1);
    });

    test("detects a heartbeat timeout when the server goes silent", async () => {
      const proxy = await freezableProxy();
      try {
        const socket = await open(mode, "/engine-control/", proxy.url);
        const before = (await serverReasons())["ping timeout"] ?? 0;
        const closed = once(socket, "close", 3000);
        const frozenAt = Date.now();
        proxy.freeze();
        const [reason, details] = await closed;
        const elapsed = Date.now() - frozenAt;
        assert.equal(reason, "ping timeout", `closed by ${reason}: ${details?.message ?? ""}
          ${details?.description?.message ?? details?.description ?? ""}`);
        // the client gives up pingInterval + pingTimeout (500 ms) after the last ping
        // (slack for a loaded machine; a client that never noticed would hit the 3 s limit)
        assert.ok(elapsed <= 1500, `ping timeout after ${elapsed} ms`);
        // and the server, whose pings are not answered, closes its side on its own timer
        await new Promise((resolve) => setTimeout(resolve, 600));
        assert.ok((await serverReasons())["ping timeout"] > before);
      } finally {
        proxy.close();
      }
    });
  });
}

describe("engine.io-client with permessage-deflate", () => {
  test("compressed frames both ways when the server enables it", async () => {
    // the ws package under engine.io-client offers permessage-deflate (threshold 1 kB)
    const socket = await open("websocket", "/engine-deflate/");
    const ws = socket.transport.ws;
    assert.match(ws.extensions, /permessage-deflate/);
    const big = "compress me ".repeat(20_000);
    const got = messages(socket, 3);
    socket.send(big);
    socket.send("short");
    socket.send(Buffer.alloc(50_000, 7));
    const echoed = await got;
    assert.ok(echoed[0] === big, "the 240 kB message came back changed");
    assert.equal(echoed[1], "short");
    assert.deepEqual(new Set(bytes(echoed[2])), new Set([7]));
    assert.equal(bytes(echoed[2]).length, 50_000);
    socket.close();
  });

  test("not negotiated by default (as in Node)", async () => {
    const socket = await open("websocket", "/engine.io/");
    assert.equal(socket.transport.ws.extensions, "");
    socket.close();
  });
});

describe("engine.io-client upgrade details", () => {
  test("messages sent while the upgrade runs arrive once and in order", async () => {
    const socket = new Socket(BASE, { path: "/engine.io/", ...MODES.upgrade });
    sockets.push(socket);
    await once(socket, "open");
    assert.equal(socket.transport.name, "polling");
    const n = 200;
    const got = messages(socket, n, 5000);
    const upgraded = once(socket, "upgrade");
    for (let i = 0; i < n; i++) socket.send(i % 10 === 0 ? Buffer.from([i & 0xff]) : `m${i}`);
    await upgraded;
    const echoed = await got;
    echoed.forEach((data, i) => {
      if (i % 10 === 0) assert.deepEqual(bytes(data), [i & 0xff]);
      else assert.equal(data, `m${i}`);
    });
    assert.equal(socket.transport.name, "websocket");
    socket.close();
  });

  test("a client close is reported to the server as a transport close", async () => {
    const socket = await open("upgrade", "/engine-control/");
    const before = (await serverReasons())["transport close"] ?? 0;
    socket.close();
    for (let i = 0; i < 50; i++) {
      if (((await serverReasons())["transport close"] ?? 0) > before) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.fail("the server did not report the close");
  });
});
