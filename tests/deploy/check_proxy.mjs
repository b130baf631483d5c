// The npm socket.io-client (Node) through a TLS proxy, as tests/deploy/check_proxy.py does
// with python-socketio: polling, WebSocket, and polling upgraded to WebSocket; text and
// binary with acks both ways; the page's Origin accepted; X-Forwarded-Proto seen by rtio.
// Run by tests/stages/33-deploy.sh from tests/node (where socket.io-client is installed):
//
//   node ../deploy/check_proxy.mjs NAME https://127.0.0.1:PORT CA_FILE
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

// socket.io-client is tests/node's (this file lives beside it, not under it)
const require = createRequire(path.join(process.cwd(), "package.json"));
const { io } = require("socket.io-client");

const [name, url, caFile] = process.argv.slice(2);
const ca = readFileSync(caFile); // the proxy's certificate is verified against it

async function check(transports) {
  const started = Date.now();
  const socket = io(url, {
    transports, ca, reconnection: false, timeout: 10_000, extraHeaders: { Origin: url },
  });
  try {
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    socket.on("question", (q, answer) => answer(`answer to ${q}`));
    const reply = await socket.timeout(10_000).emitWithAck("echo", { text: "hé", bin: Buffer.from([0, 255]) });
    assert.equal(reply.data.text, "hé");
    assert.deepEqual([...reply.data.bin], [0, 255]);
    assert.equal(reply.forwarded_proto, "https");
    assert.equal(await socket.timeout(10_000).emitWithAck("ask_me", "x"), "answer to x");
    if (transports.length > 1 && socket.io.engine.transport.name !== "websocket") {
      await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
    }
    const want = transports.length === 1 ? transports[0] : "websocket";
    assert.equal(socket.io.engine.transport.name, want);
    console.log(`${name} (npm socket.io-client): ${transports.join("+")} ok, on ${want} ` +
      `(${((Date.now() - started) / 1000).toFixed(2)} s)`);
  } finally {
    socket.close();
  }
}

for (const transports of [["polling"], ["websocket"], ["polling", "websocket"]]) {
  await check(transports);
}
