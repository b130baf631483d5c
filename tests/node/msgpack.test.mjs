// rtio's msgpack parser against the real npm socket.io-client + socket.io-msgpack-parser,
// over WebSocket, polling only and across the upgrade; and JSON and msgpack clients in one
// room, each receiving a broadcast in its own format, encoded once per parser.
// The server is tests/node/msgpack_server.py (the parser chosen by ?parser=msgpack).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import msgpackParser from "socket.io-msgpack-parser";
import { MODES, connectIn, once, recorder, until } from "./socketio_helpers.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PY = process.env.RTIO_PYTHON || path.join(ROOT, ".venv/bin/python");

let proc;
let url;
const open = [];

before(async () => {
  proc = spawn(PY, [path.join(ROOT, "tests/node/msgpack_server.py")], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = readline.createInterface({ input: proc.stdout });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start")), 15000);
    lines.on("line", (text) => {
      const line = JSON.parse(text);
      if (line.event === "listening") {
        clearTimeout(timer);
        resolve(line.port);
      }
    });
    proc.on("exit", (code) => reject(new Error(`server exited (${code})`)));
  });
  url = `http://127.0.0.1:${port}`;
});

after(async () => {
  for (const socket of open) socket.close();
  if (proc.exitCode === null) {
    proc.kill("SIGTERM");
    await once(proc, "exit");
  }
});

const MSGPACK = { parser: msgpackParser, query: { parser: "msgpack" } };

async function client(mode, options = {}) {
  const socket = await connectIn(mode, url, options);
  open.push(socket);
  return socket;
}

const bytes = (...values) => Buffer.from(values);

// Every argument of the ack (emitWithAck resolves with the first only).
const call = (socket, event, ...args) =>
  new Promise((resolve) => socket.emit(event, ...args, (...answer) => resolve(answer)));

for (const mode of Object.keys(MODES)) {
  describe(`msgpack over ${mode}`, () => {
    test("the connection speaks msgpack on the transport asked for", async () => {
      const socket = await client(mode, MSGPACK);
      const me = await socket.emitWithAck("whoami");
      assert.deepEqual(me, {
        id: socket.id,
        parser: "msgpack",
        transport: mode === "polling" ? "polling" : "websocket",
      });
      socket.close();
    });

    test("nested data, binary, dates and numbers JSON cannot carry, echoed", async () => {
      const socket = await client(mode, MSGPACK);
      const sent = [
        "text é 日本 🎉",
        { nested: { list: [1, [2, [3, { deep: true }]]], empty: {}, none: null } },
        bytes(0, 1, 2, 254, 255),
        { file: Buffer.alloc(100000, 7), parts: [bytes(1), bytes(2, 3)] },
        new Date(1700000000123),
        [NaN, Infinity, -Infinity, -1.5, 2 ** 53 - 1, -(2 ** 31)],
        new Uint8Array([9, 8, 7]).buffer, // Node's notepack sends an ArrayBuffer as ext 0
        undefined, // notepack's undefined: None on the server, null on the way back
      ];
      const back = await call(socket, "echo", ...sent);
      const expected = [...sent];
      expected[6] = bytes(9, 8, 7); // bytes on the server, a Buffer back
      expected[7] = null;
      assert.deepEqual(back, expected);
      assert.ok(back[4] instanceof Date);
      socket.close();
    });

    test("acks both ways", async () => {
      const socket = await client(mode, MSGPACK);
      socket.on("question", (a, b, callback) => callback({ sum: a + b, bin: bytes(a, b) }));
      const answer = await socket.emitWithAck("ask", { event: "question", args: [2, 3] });
      assert.deepEqual(answer, [{ sum: 5, bin: bytes(2, 3) }]);
      socket.close();
    });

    test("values only Python writes", async () => {
      const socket = await client(mode, MSGPACK);
      const got = await socket.emitWithAck("python-values");
      assert.deepEqual(got, {
        date: new Date(Date.UTC(2024, 1, 29, 12, 30, 45, 678)),
        intKeys: { 1: "one", 2: "two" },
        tuple: [1, [2, 3]],
        bytes: bytes(0, 1, 254, 255),
        beyond64: 2 ** 70,
        nan: NaN,
        inf: [Infinity, -Infinity],
      });
      socket.close();
    });
  });
}

describe("JSON and msgpack clients in one room", () => {
  test("one broadcast reaches both kinds, each in its format, encoded once per parser", async () => {
    const clients = await Promise.all([
      client("websocket", MSGPACK),
      client("polling", MSGPACK),
      client("websocket"),
      client("polling"),
      client("upgrade", MSGPACK),
      client("upgrade"),
    ]);
    const parsers = await Promise.all(clients.map((s) => s.emitWithAck("whoami")));
    assert.deepEqual(
      parsers.map((p) => p.parser),
      ["msgpack", "msgpack", "json", "json", "msgpack", "json"],
    );
    await Promise.all(clients.map((s) => s.emitWithAck("join", "room")));
    const got = clients.map(recorder);
    const args = ["hello", { n: 1, list: [true, null] }, bytes(1, 2, 3), { inner: [bytes(4)] }];
    const sender = clients[2];
    const counts = await sender.emitWithAck("bcast", { room: "room", event: "news", args });
    assert.deepEqual(counts, { json: 1, msgpack: 1 });
    await until(() => got.every((g) => g.length === 1));
    for (const g of got) assert.deepEqual(g, [["news", ...args]]);
    // A room of one kind costs one encoding only.
    const [onlyMsgpack] = clients;
    await onlyMsgpack.emitWithAck("join", "msgpack-only");
    const counts2 = await sender.emitWithAck("bcast", {
      room: "msgpack-only",
      event: "news",
      args: ["x"],
    });
    assert.deepEqual(counts2, { json: 0, msgpack: 1 });
    for (const s of clients) s.close();
  });
});
