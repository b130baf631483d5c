// End to end: connection state recovery with the real socket.io-client 4.8 (its browser build,
// dist/socket.io.min.js) in headless Chromium pages, against tests/node/recovery_server.py
// (rtio with connection_state_recovery on).
//
//   node --test recovery.test.mjs        (run by tests/stages/70-e2e-browser.sh)
//
// In a page, a socket joins a room, its transport is cut (socket.io.engine.close()); a second
// page's socket has the server emit to it, to its room, to all, with except and to another
// room while it is away; it reconnects and the page itself checks socket.recovered === true,
// the same id and exactly the expected events, in order, before its "connect". Over WebSocket,
// over long-polling, and upgraded from polling to WebSocket. Then a client-side namespace
// disconnect, which must not recover.
//
// The page is served by page.route (no file on the rtio server): it is at the server's own
// origin, so the client talks to rtio as a page served next to it would.
// Environment: CHROMIUM (default /usr/bin/chromium; never downloaded), PYTHON (default the
// repository's .venv/bin/python), ARTIFACTS (the browser console goes to
// $ARTIFACTS/e2e/recovery-console.log).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const OUT = path.join(process.env.ARTIFACTS || path.join(ROOT, "artifacts"), "e2e");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PYTHON = process.env.PYTHON || `${ROOT}/.venv/bin/python`;
const SCRIPT = path.join(ROOT, "tests/node/recovery_server.py");
const CLIENT_JS = [
  `${ROOT}/clients/js-demo/node_modules/socket.io-client/dist/socket.io.min.js`,
  `${ROOT}/tests/node/node_modules/socket.io-client/dist/socket.io.min.js`,
].find((p) => existsSync(p));
const RECOVERABLE = ["transport close", "transport error", "forced close", "ping timeout"];
mkdirSync(OUT, { recursive: true });

// ------------------------------------------------------------------ the server process

// recovery_server.py prints one JSON object a line: listening, connect, disconnect.
class Server {
  static async start() {
    const srv = new Server();
    srv.proc = spawn(PYTHON, [SCRIPT, "--port", "0"], {
      cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, PYTHONPATH: ROOT },
    });
    srv.lines = [];
    srv.waiters = [];
    srv.exited = new Promise((resolve) => srv.proc.once("exit", resolve));
    readline.createInterface({ input: srv.proc.stdout }).on("line", (text) => {
      let line;
      try { line = JSON.parse(text); } catch { return; }
      srv.lines.push(line);
      for (const w of [...srv.waiters]) {
        if (w.pred(line)) { srv.waiters.splice(srv.waiters.indexOf(w), 1); w.resolve(line); }
      }
    });
    srv.url = `http://127.0.0.1:${(await srv.waitFor((l) => l.event === "listening", 20_000)).port}`;
    return srv;
  }

  waitFor(pred, timeout = 10_000) {
    const found = this.lines.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        const k = this.waiters.indexOf(w);
        if (k >= 0) {
          this.waiters.splice(k, 1);
          reject(new Error(`the server printed no matching line within ${timeout} ms`));
        }
      }, timeout).unref();
    });
  }

  reason(sid) {
    return this.waitFor((l) => l.event === "disconnect" && l.sid === sid).then((l) => l.reason);
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGTERM");
    const killed = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(killed);
  }
}

// ------------------------------------------------------------------ the page

// What runs in the page: window.open_(name, options) makes a socket that records every event
// (with the number of events seen at each "connect"); window.call(name, event, arg) emits
// with an ack; window.expectRecovered(...) asserts in the page and throws on a mismatch.
const PAGE = `<!doctype html><meta charset="utf-8"><title>recovery</title>
<script src="/socket.io.min.js"></script>
<script>
window.sockets = {};
window.open_ = (name, options) => new Promise((resolve, reject) => {
  const s = io(location.origin, { forceNew: true, reconnection: false, ...options });
  s.got = [];
  s.connects = [];
  s.onAny((event, ...args) => s.got.push([event, ...args]));
  s.on("connect", () => s.connects.push(s.got.length));
  s.once("connect", () => resolve(s.id));
  s.once("connect_error", (err) => reject(new Error("connect_error: " + err.message)));
  window.sockets[name] = s;
});
window.until = async (check, timeout = 8000) => {
  const end = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + check);
    await new Promise((r) => setTimeout(r, 20));
  }
};
window.upgraded = async (name) => {
  const s = window.sockets[name];
  await window.until(() => s.io.engine && s.io.engine.transport.name === "websocket");
};
window.call = (name, event, arg) => window.sockets[name].timeout(5000).emitWithAck(event, arg);
window.cut = (name) => { const s = window.sockets[name]; const id = s.id; s.io.engine.close(); return id; };
window.reconnect = async (name) => {
  const s = window.sockets[name];
  const before = s.connects.length;
  s.connect();
  await window.until(() => s.connected && s.connects.length > before);
  return { id: s.id, recovered: s.recovered };
};
// The page's own assertion: recovered, same id, exactly want (event, first arg) in order, each
// with a string offset last, all before the new "connect".
window.expectRecovered = (name, id, firstMissed, want) => {
  const s = window.sockets[name];
  const fail = (what) => { throw new Error(name + ": " + what); };
  if (s.recovered !== true) fail("socket.recovered is " + s.recovered);
  if (s.id !== id) fail("id " + s.id + " is not " + id);
  const missed = s.got.slice(firstMissed).map((e) => [e[0], e[1]]);
  if (JSON.stringify(missed) !== JSON.stringify(want)) {
    fail("missed " + JSON.stringify(missed) + ", wanted " + JSON.stringify(want));
  }
  for (const e of s.got.slice(firstMissed)) {
    if (typeof e[e.length - 1] !== "string") fail("no offset on " + JSON.stringify(e));
  }
  if (s.connects.at(-1) !== firstMissed + want.length) {
    fail("connect came after " + s.connects.at(-1) + " events, not " + (firstMissed + want.length));
  }
  return { missed, connects: s.connects };
};
</script>`;

let server;
let browser;
let context;
const consoleLog = createWriteStream(path.join(OUT, "recovery-console.log"));

async function openPage(name) {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (msg) => consoleLog.write(`[${name}] ${msg.type()}: ${msg.text()}\n`));
  page.on("pageerror", (err) => consoleLog.write(`[${name}] pageerror: ${err.message}\n`));
  await page.goto(`${server.url}/recovery.html`);
  await page.waitForFunction(() => typeof window.io === "function" && window.open_);
  return page;
}

describe("connection state recovery in headless Chromium", { timeout: 60_000 }, () => {
  before(async () => {
    assert.ok(CLIENT_JS, "no socket.io-client dist/socket.io.min.js (npm ci clients/js-demo)");
    const clientJs = readFileSync(CLIENT_JS);
    server = await Server.start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage",
        // a page fulfilled by page.route counts as public: let its WebSocket reach 127.0.0.1
        "--disable-features=LocalNetworkAccessChecks"],
    });
    context = await browser.newContext();
    await context.route(`${server.url}/recovery.html`, (route) =>
      route.fulfill({ status: 200, contentType: "text/html", body: PAGE }));
    await context.route(`${server.url}/socket.io.min.js`, (route) =>
      route.fulfill({ status: 200, contentType: "text/javascript", body: clientJs }));
  });

  after(async () => {
    await browser?.close();
    if (server) await server.stop();
    consoleLog.end();
  });

  const MODES = [["websocket", ["websocket"]], ["polling", ["polling"]],
    ["upgrade", ["polling", "websocket"]]];
  for (const [mode, transports] of MODES) {
    test(`over ${mode}: recovered, same id, exactly the missed events in order`, async () => {
      const pa = await openPage(`a-${mode}`);
      const pb = await openPage(`b-${mode}`);
      const id = await pa.evaluate((t) => window.open_("a", { transports: t }), transports);
      const bid = await pb.evaluate((t) => window.open_("b", { transports: t }), transports);
      if (mode === "upgrade") await pa.evaluate(() => window.upgraded("a"));
      await pa.evaluate(() => window.until(() => window.sockets.a.got.length === 1)); // welcome
      assert.deepEqual(await pa.evaluate(() => window.call("a", "join", "r")), [id, "r"].sort());
      await pb.evaluate(() => window.call("b", "join", "r"));
      const whoBefore = await pa.evaluate(() => window.call("a", "whoami"));
      assert.equal(whoBefore.recovered, false);

      const reason = server.reason(id);
      assert.equal(await pa.evaluate(() => window.cut("a")), id);
      assert.ok(RECOVERABLE.includes(await reason), `server saw ${await reason}`);
      const sends = [
        { event: "news", args: [1] }, // to all: yes
        { to: ["r"], event: "news", args: [2] }, // its room: yes
        { to: ["other"], event: "news", args: [3] }, // another room: no
        { except: ["r"], event: "news", args: [4] }, // except its room: no
        { to: [id], event: "news", args: [5] }, // to the socket itself: yes
        { to: ["r"], except: [bid], event: "news", args: [6] }, // its room except another: yes
        { to: ["other", "r"], event: "news", args: [7] }, // another room and its own: yes, once
      ];
      for (const req of sends) {
        assert.equal(await pb.evaluate((r) => window.call("b", "send", r), req), true);
      }

      const back = await pa.evaluate(() => window.reconnect("a"));
      assert.deepEqual(back, { id, recovered: true });
      const want = [["news", 1], ["news", 2], ["news", 5], ["news", 6], ["news", 7]];
      const checked = await pa.evaluate(
        ([i, w]) => window.expectRecovered("a", i, 1, w), [id, want]);
      assert.deepEqual(checked.missed, want);
      assert.deepEqual(checked.connects, [0, 1 + want.length]);
      await server.waitFor((l) => l.event === "connect" && l.sid === id && l.recovered);
      const whoAfter = await pa.evaluate(() => window.call("a", "whoami"));
      assert.deepEqual(whoAfter, { ...whoBefore, recovered: true });

      // live again: the next event to its room arrives once, after the missed ones
      await pb.evaluate(() => window.call("b", "send", { to: ["r"], event: "news", args: [8] }));
      await pa.evaluate(() => window.until(() => window.sockets.a.got.length === 7));
      assert.deepEqual(await pa.evaluate(() => window.sockets.a.got.at(-1).slice(0, 2)), ["news", 8]);
      await pa.close();
      await pb.close();
    });
  }

  test("a client-side namespace disconnect is not recovered", async () => {
    const pa = await openPage("a-nsp");
    const id = await pa.evaluate(() => window.open_("a", { transports: ["websocket"] }));
    await pa.evaluate(() => window.until(() => window.sockets.a.got.length === 1));
    const reason = server.reason(id);
    await pa.evaluate(() => window.sockets.a.disconnect());
    assert.equal(await reason, "client namespace disconnect");
    const back = await pa.evaluate(() => window.reconnect("a"));
    assert.equal(back.recovered, false);
    assert.notEqual(back.id, id);
    // a new socket: the server's connect handler ran again and sent a new welcome
    await pa.evaluate(() => window.until(() => window.sockets.a.got.length === 2));
    assert.deepEqual(await pa.evaluate(() => window.sockets.a.got.map((e) => e[0])),
      ["welcome", "welcome"]);
    await pa.close();
  });
});
