// socket.io-client 2.x in headless Chromium (Debian's /usr/bin/chromium, playwright-core;
// skipped without it) against rtio with allow_eio3 and against Node's socket.io with
// allowEIO3: in a browser the 2.x client uses XHR2, so polling carries the v3 *binary*
// payloads (application/octet-stream) both ways, which the client in Node does not.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Proc } from "./eio3_helpers.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CLIENT_JS = readFileSync(
  path.join(HERE, "node_modules/socket.io-client-v2/dist/socket.io.js"),
  "utf8",
);
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}`;

// runs in the page: connect, echo text and binary with acks, answer the server's ack,
// join a room and receive a binary broadcast; returns what it saw
async function scenario(transports) {
  const call = (socket, ...args) =>
    new Promise((resolve, reject) => {
      setTimeout(() => reject(new Error("no ack")), 5000);
      socket.emit(...args, (...answer) => resolve(answer));
    });
  const socket = io({ transports, forceNew: true, reconnection: false });
  socket.on("question", (x, ack) => ack(x + 1, new Uint8Array([7, 7]).buffer));
  await new Promise((resolve, reject) => {
    socket.on("connect", resolve);
    socket.on("connect_error", reject);
  });
  const [text] = await call(socket, "echo", "héllo 😀");
  const [bin] = await call(socket, "echo", new Uint8Array([1, 2, 250]).buffer);
  const [asked] = await call(socket, "ask", { event: "question", args: [41] });
  await call(socket, "join", "r");
  const blob = new Promise((resolve) => socket.on("blob", resolve));
  await call(socket, "broadcast", { room: "r", event: "blob", args: [new Uint8Array([9]).buffer] });
  const got = await blob;
  await new Promise((r) => setTimeout(r, 300));
  const [me] = await call(socket, "whoami");
  const idMatches = me.id === socket.id;
  socket.close();
  return {
    text,
    bin: [...new Uint8Array(bin)],
    asked: [asked[0], [...new Uint8Array(asked[1])]],
    blob: [...new Uint8Array(got)],
    idMatches,
    transport: me.transport,
  };
}

for (const kind of ["rtio", "node"]) {
  describe(`socket.io-client 2.x in Chromium against ${kind}`, { skip }, () => {
    let server;
    let browser;
    let page;
    const types = new Set(); // the Content-Types of polling responses
    before(async () => {
      const { chromium } = await import("playwright-core");
      server = await Proc.start(kind);
      browser = await chromium.launch({ executablePath: CHROMIUM, args: [
          "--no-sandbox",
          "--disable-gpu",
          // the page is Playwright's (route.fulfill), not the server's: without this,
          // Chromium's Local Network Access checks block its WebSocket to 127.0.0.1
          "--disable-features=LocalNetworkAccessChecks",
        ],
      });
      page = await browser.newPage();
      // the page comes from the server's own origin (no CORS), the client inline
      await page.route(`${server.url}/page.html`, (route) =>
        route.fulfill({
          contentType: "text/html",
          body: `<!doctype html><script>${CLIENT_JS.replaceAll("</script", "<\\/script")}</script>`,
        }),
      );
      page.on("response", (res) => {
        if (res.url().includes("transport=polling")) types.add(res.headers()["content-type"]);
      });
      await page.goto(`${server.url}/page.html`);
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });
    for (const [mode, transports] of Object.entries({
      polling: ["polling"],
      websocket: ["websocket"],
      upgrade: ["polling", "websocket"],
    })) {
      test(mode, async () => {
        const seen = await page.evaluate(scenario, transports);
        assert.deepEqual(seen, {
          text: "héllo 😀",
          bin: [1, 2, 250],
          asked: [42, [7, 7]],
          blob: [9],
          idMatches: true,
          transport: mode === "polling" ? "polling" : "websocket",
        });
        if (mode === "polling") {
          // the binary echo came back in a v3 binary payload, not base64
          assert.ok(types.has("application/octet-stream"), [...types].join(", "));
        }
      });
    }
  });
}
