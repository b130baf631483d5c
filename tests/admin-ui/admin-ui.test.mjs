// The Socket.IO admin UI's own web app (ui/dist of @socket.io/admin-ui 0.5.1) against rtio's
// sio.instrument(), in headless Chromium: log in with the password, see the server's
// sockets, its rooms and the server itself, make a socket join a room, disconnect one.
// server.py serves rtio, the UI's files (same origin) and /state (the sockets' rooms).
//
//   node --test admin-ui.test.mjs        (run by tests/stages/71-admin-ui-browser.sh)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PYTHON = process.env.PYTHON || `${ROOT}/.venv/bin/python`;
const OUT = path.join(process.env.ARTIFACTS || path.join(ROOT, "artifacts"), "admin-ui");
mkdirSync(OUT, { recursive: true });

async function freePort() {
  const server = net.createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(check, what, timeout = 15000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const result = await check();
    if (result) return result;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

let server;
let browser;
let base;
const logs = [];

async function state() {
  return await (await fetch(`${base}/state`)).json();
}

before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(PYTHON, [path.join(HERE, "server.py"), String(port)], {
    cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONPATH: ROOT },
  });
  server.stdout.on("data", (d) => logs.push(String(d)));
  server.stderr.on("data", (d) => logs.push(String(d)));
  // the server's own two clients are in: alice in "lobby", bob in "lobby" and "vip"
  await until(async () => {
    assert.equal(server.exitCode, null, `server.py exited:\n${logs.join("")}`);
    try {
      const rooms = Object.values(await state());
      return rooms.length === 2 && rooms.filter((r) => r.includes("vip")).length === 1;
    } catch {
      return false;
    }
  }, "the server and its two clients");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-dev-shm-usage"],
  });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
});

test("the admin UI logs in, shows sockets and rooms, and disconnects a socket", async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(m.text()));
  // its fonts and icons come from CDNs: not needed, and the test must not need the internet
  await page.route(/^https?:\/\/(fonts\.googleapis\.com|cdn\.jsdelivr\.net)\//, (r) => r.abort());
  const ui = `${base}/admin-ui/index.html`;
  try {
    await page.goto(ui);
    await page.getByLabel("Server URL").fill(base);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByText("Invalid credentials").waitFor({ timeout: 10000 });
    await page.getByLabel("Password").fill("s3cret");
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByText(/^connected$/i).first().waitFor({ timeout: 10000 });
    await page.screenshot({ path: path.join(OUT, "1-dashboard.png") });

    const sockets = await state();
    const [alice, bob] = Object.entries(sockets)
      .sort((a, b) => a[1].length - b[1].length).map(([sid]) => sid);

    await page.goto(`${ui}#/sockets/`);
    const table = page.locator("table").first();
    await until(async () => {
      const text = await table.innerText();
      return text.includes(alice) && text.includes(bob);
    }, "both sockets in the Sockets page");
    assert.match(await table.innerText(), /WebSocket/);
    await page.screenshot({ path: path.join(OUT, "2-sockets.png") });

    await page.goto(`${ui}#/rooms/`);
    await until(async () => {
      const rows = await page.locator("table tbody tr").allInnerTexts();
      const lobby = rows.find((r) => r.startsWith("lobby"));
      const vip = rows.find((r) => r.startsWith("vip"));
      return lobby && /\b2\b/.test(lobby) && vip && /\b1\b/.test(vip);
    }, "lobby (2) and vip (1) in the Rooms page");
    await page.screenshot({ path: path.join(OUT, "3-rooms.png") });

    await page.goto(`${ui}#/servers/`);
    await page.getByText("rtio-e2e").waitFor({ timeout: 10000 });
    await page.screenshot({ path: path.join(OUT, "4-servers.png") });

    // alice's details: make her join a room, then disconnect her socket
    await page.goto(`${ui}#/n/%2F/sockets/${alice}`);
    await page.getByText("Socket details").first().waitFor({ timeout: 10000 });
    await page.getByLabel("Join a room").fill("from-the-ui");
    await page.locator("button[type=submit]:has(i.mdi-tag-plus-outline)").click();
    await until(async () => (await state())[alice]?.includes("from-the-ui"),
      "alice in the room from-the-ui");
    await page.screenshot({ path: path.join(OUT, "5-socket-joined.png") });
    // two logout buttons: the client's (its whole connection), then the socket's
    await page.locator("button:has(i.mdi-logout)").nth(1).click();
    await until(async () => !(alice in (await state())), "alice's socket gone");
    assert.ok(bob in (await state()), "bob is still connected");
    await page.getByText(/^disconnected$/i).first().waitFor({ timeout: 10000 });
    await page.screenshot({ path: path.join(OUT, "6-socket-disconnected.png") });

    await page.goto(`${ui}#/sockets/`);
    await until(async () => {
      const text = await page.locator("table").first().innerText();
      return !text.includes(alice) && text.includes(bob);
    }, "only bob in the Sockets page");
  } catch (err) {
    await page.screenshot({ path: path.join(OUT, "failure.png") }).catch(() => {});
    console.log(`browser console:\n${consoleLines.join("\n")}\nserver:\n${logs.join("")}`);
    throw err;
  } finally {
    await page.close();
  }
});
