// End to end: the chat demo (`rtio demo`) in real headless Chromium pages.
//
//   node --test chat.test.mjs        (run by tests/stages/70-e2e-browser.sh)
//
// Environment: CHROMIUM (default /usr/bin/chromium; never downloaded), ARTIFACTS (screenshots
// and server logs go to $ARTIFACTS/e2e/), RTIO_CMD (the command that runs the demo; default
// the repository's .venv/bin/rtio demo), E2E_WORKERS (the demo runs with that many worker
// processes, `rtio demo --workers N`: the last test checks that the pages' sockets were
// served by more than one of them, a socket id's first character naming its worker, and
// that no Engine.IO request was answered 400 but during the restart).
//
// The tests run in order and share the pages: alice and bob (default transports: polling, then
// upgraded to WebSocket) chat, carol joins on long-polling only, alice shares an image, the
// server is restarted under them, bob goes away, and dave comes in through the login form;
// then a name in use is refused, a phone-sized page (390x844) chats, finds the rooms in its
// drawer and leaves every room, and the centre pane offers the rooms to join.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const OUT = path.join(process.env.ARTIFACTS || path.join(ROOT, "artifacts"), "e2e");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const RTIO_CMD = (process.env.RTIO_CMD || `${ROOT}/.venv/bin/rtio demo`).split(" ");
const TIMEOUT = 15_000;
const WORKERS = Number(process.env.E2E_WORKERS || 1);
mkdirSync(OUT, { recursive: true });

// ------------------------------------------------------------------ the server process

async function freePort() {
  const server = net.createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let serverRuns = 0;
async function startServer(port) {
  serverRuns += 1;
  const log = createWriteStream(path.join(OUT, `server-${serverRuns}.log`));
  const args = [...RTIO_CMD.slice(1), "--host", "127.0.0.1", "--port", String(port)];
  const child = spawn(RTIO_CMD[0], args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.exited = exited;
  const deadline = Date.now() + 60_000; // the first run may build the bundle
  while (Date.now() < deadline) {
    const up = await new Promise((resolve) => {
      const sock = net.connect(port, "127.0.0.1", () => { sock.end(); resolve(true); });
      sock.on("error", () => resolve(false));
    });
    if (up) return child;
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  child.kill("SIGKILL");
  throw new Error(`the demo server did not start; see ${OUT}/server-${serverRuns}.log`);
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  const killed = setTimeout(() => child.kill("SIGKILL"), 5000);
  await child.exited;
  clearTimeout(killed);
}

// ------------------------------------------------------------------ page helpers

let browser;
let port;
let server;
const pages = {};
const consoleLog = createWriteStream(path.join(OUT, "browser-console.log"));

// Opens the demo as `name` (?name=... skips the login form, unless `login` is set).
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

async function openPage(name, query = "", { login = false, device = {} } = {}) {
  const context = await browser.newContext({ viewport: { width: 1180, height: 720 }, ...device });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (msg) => consoleLog.write(`[${name}] ${msg.type()}: ${msg.text()}\n`));
  page.on("pageerror", (err) => consoleLog.write(`[${name}] pageerror: ${err.message}\n`));
  page.on("response", (response) => {
    const sid = new URL(response.url()).searchParams.get("sid");
    if (response.status() === 200 && sid && response.request().method() === "GET") {
      response.text().then((body) => { // the socket's CONNECT was accepted in this session
        if (body.includes('40{"sid"')) engineIds.add(sid);
      }).catch(() => {});
    }
    if (response.status() === 400 && response.url().includes("/socket.io/") && !restarting) {
      refused.push({ sid, request: `[${name}] ${response.request().method()} ${response.url()}` });
    }
  });
  await page.goto(`http://127.0.0.1:${port}/?${login ? "" : `name=${name}`}${query}`);
  pages[name] = page;
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(OUT, `${name}.png`) });
}

// every socket id a page had once connected (with workers: its first character, the worker)
const socketIds = new Set();
// Engine.IO requests answered 400 ("Session ID unknown"...) while the server was not
// restarting; those of a session whose socket had connected (engineIds: its CONNECT
// answered in a polling response) are counted: with
// workers, a request that did not reach its session's owner. (A session whose CONNECT was
// refused, a name in use, is closed by the page while its WebSocket probe may still run.)
const refused = [];
const engineIds = new Set();
let restarting = false;

async function connection(page, state) {
  await page.locator(`#conn[data-state="${state}"]`).waitFor({ timeout: 30_000 });
  if (state === "connected") {
    const [id, sid] = await page.evaluate(() => [window.chatSocket.id, window.chatSocket.io.engine.id])
      .catch(() => []);
    if (id) socketIds.add(id);
    if (sid) engineIds.add(sid);
  }
}

function message(page, text) {
  return page.locator("#messages .msg", { hasText: text });
}

async function say(page, text) {
  await page.fill("#message-input", text);
  await page.press("#message-input", "Enter");
  // The ack from the server turns ◷ into ✓.
  await message(page, text).locator('.tick[data-status="sent"]').waitFor();
}

async function membersOf(page) {
  return page.locator("#members li span:not(.avatar)").allTextContents();
}

async function waitMembers(page, names) {
  const want = [...names].sort().join(",");
  await page.waitForFunction((w) => {
    const got = [...document.querySelectorAll("#members li span:not(.avatar)")]
      .map((n) => n.textContent).sort().join(",");
    return got === w;
  }, want, { timeout: TIMEOUT }).catch(async () => {
    assert.fail(`members: wanted ${want}, got ${(await membersOf(page)).sort().join(",")}`);
  });
}

async function roomCount(page, room) {
  return page.locator(`#rooms li[data-room="${room}"] .count`).textContent();
}

async function waitRoomCount(page, room, count) {
  await page.waitForFunction(([r, c]) =>
    document.querySelector(`#rooms li[data-room="${r}"] .count`)?.textContent === c,
  [room, String(count)], { timeout: TIMEOUT }).catch(async () => {
    assert.fail(`#${room} count: wanted ${count}, got ${await roomCount(page, room)}`);
  });
}

// The element's box lies wholly inside the page's viewport (not cut off, not off screen).
async function inViewport(page, selector) {
  const box = await page.locator(selector).boundingBox();
  const { width, height } = page.viewportSize();
  assert.ok(box, `${selector} has no box (hidden?)`);
  assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= width && box.y + box.height <= height,
    `${selector} at ${JSON.stringify(box)} is not inside the ${width}x${height} viewport`);
}

async function transportOf(page) {
  return page.evaluate(() => window.chatSocket.io.engine.transport.name);
}

// ------------------------------------------------------------------ the scenarios

describe("chat demo in headless Chromium", { timeout: 240_000 }, () => {
  before(async () => {
    port = await freePort();
    server = await startServer(port);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"],
    });
  });

  after(async () => {
    for (const [name, page] of Object.entries(pages)) {
      await shot(page, `final-${name}`).catch(() => {});
    }
    await browser?.close();
    if (server) await stopServer(server);
    consoleLog.end();
  });

  test("two pages chat in a room: messages, presence, typing", async () => {
    const alice = await openPage("alice");
    const bob = await openPage("bob");
    await connection(alice, "connected");
    await connection(bob, "connected");
    await waitMembers(alice, ["alice", "bob"]);
    await waitMembers(bob, ["alice", "bob"]);
    await waitRoomCount(alice, "lobby", 2);
    await waitRoomCount(bob, "lobby", 2);
    assert.equal(await alice.locator("#room-title").textContent(), "#lobby");

    // Typing: bob sees alice typing, and it goes away once she sends.
    await alice.locator("#message-input").pressSequentially("hello b", { delay: 20 });
    await bob.locator("#typing", { hasText: "alice is typing" }).waitFor();
    await shot(bob, "01-bob-sees-alice-typing");
    await alice.locator("#message-input").pressSequentially("ob", { delay: 20 });
    await alice.press("#message-input", "Enter");
    await message(alice, "hello bob").locator('.tick[data-status="sent"]').waitFor();
    await message(bob, "hello bob").locator(".from", { hasText: "alice" }).waitFor();
    await bob.waitForFunction(() => document.querySelector("#typing").textContent === "");

    await say(bob, "hi alice, bob here");
    await message(alice, "hi alice, bob here").locator(".from", { hasText: "bob" }).waitFor();
    // The time of each message is shown as HH:MM.
    assert.match(await message(alice, "hi alice").locator(".time").textContent(), /\d\d:\d\d/);
    await shot(alice, "02-alice-chat");
    await shot(bob, "02-bob-chat");
  });

  test("rooms: create, join and leave keep every page's counts right", async () => {
    const { alice, bob } = pages;
    await alice.fill("#new-room-name", "design");
    await alice.press("#new-room-name", "Enter");
    await alice.locator("#room-title", { hasText: "#design" }).waitFor();
    await waitRoomCount(bob, "design", 1);
    await waitRoomCount(alice, "lobby", 2); // alice is in both rooms
    await bob.click('#rooms li[data-room="design"]');
    await bob.locator("#room-title", { hasText: "#design" }).waitFor();
    await waitMembers(alice, ["alice", "bob"]);
    await waitRoomCount(alice, "design", 2);
    await say(bob, "design talk");
    await message(alice, "design talk").waitFor();
    await shot(alice, "03-alice-room-design");
    await bob.click("#leave-room");
    await bob.locator("#room-title", { hasText: "#lobby" }).waitFor();
    await waitMembers(alice, ["alice"]);
    await waitRoomCount(alice, "design", 1);
    await waitRoomCount(bob, "design", 1);
    await waitRoomCount(bob, "lobby", 2);
    await alice.click('#rooms li[data-room="lobby"]');
    await alice.locator("#room-title", { hasText: "#lobby" }).waitFor();
  });

  test("a third page on long-polling only chats with them", async () => {
    const { alice, bob } = pages;
    const carol = await openPage("carol", "&transports=polling");
    await connection(carol, "connected");
    assert.equal(await transportOf(carol), "polling");
    await carol.locator("#conn", { hasText: "polling" }).waitFor();
    // The last messages of the room are shown on joining.
    await message(carol, "hello bob").waitFor();
    await message(carol, "hi alice, bob here").waitFor();
    for (const page of [alice, bob, carol]) {
      await waitMembers(page, ["alice", "bob", "carol"]);
      await waitRoomCount(page, "lobby", 3);
    }
    await say(carol, "carol on long-polling says hi");
    await message(alice, "carol on long-polling says hi").waitFor();
    await message(bob, "carol on long-polling says hi").waitFor();
    await say(alice, "welcome carol");
    await message(carol, "welcome carol").waitFor();
    await bob.locator("#message-input").pressSequentially("typing for carol", { delay: 15 });
    await carol.locator("#typing", { hasText: "bob is typing" }).waitFor();
    await bob.press("#message-input", "Enter");
    await message(carol, "typing for carol").waitFor();
    // The others were upgraded to WebSocket; carol stayed on polling.
    assert.equal(await transportOf(alice), "websocket");
    assert.equal(await transportOf(carol), "polling");
    await shot(carol, "04-carol-polling");
  });

  test("an image shared by one page appears in the others", async () => {
    const { alice, bob, carol } = pages;
    // A 96x64 PNG drawn by the browser itself.
    const png = Buffer.from(await alice.evaluate(async () => {
      const canvas = Object.assign(document.createElement("canvas"), { width: 96, height: 64 });
      const g = canvas.getContext("2d");
      const grad = g.createLinearGradient(0, 0, 96, 64);
      grad.addColorStop(0, "#5b5bd6");
      grad.addColorStop(1, "#ff6b6b");
      g.fillStyle = grad;
      g.fillRect(0, 0, 96, 64);
      g.fillStyle = "#fff";
      g.font = "bold 22px sans-serif";
      g.fillText("rtio", 26, 40);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
      const bytes = new Uint8Array(await blob.arrayBuffer());
      return btoa(String.fromCharCode(...bytes));
    }), "base64");
    await alice.setInputFiles("#image-input", { name: "rtio.png", mimeType: "image/png", buffer: png });
    await alice.locator('#messages .msg.mine img.shared-image').waitFor();
    await alice.locator('#messages .msg.mine:has(img) .tick[data-status="sent"]').waitFor();
    for (const page of [bob, carol]) {
      const img = page.locator("#messages .msg img.shared-image").last();
      await img.waitFor();
      // Decoded to the right size: the bytes came through intact.
      await page.waitForFunction(() => {
        const imgs = document.querySelectorAll("#messages img.shared-image");
        const last = imgs[imgs.length - 1];
        return last?.complete && last.naturalWidth === 96 && last.naturalHeight === 64;
      });
    }
    await shot(bob, "05-bob-sees-image");
    await shot(carol, "05-carol-sees-image-over-polling");
  });

  test("the server restarts: pages show reconnecting, then connected, and chat again", async () => {
    const { alice, bob, carol } = pages;
    restarting = true; // the old sessions' requests get "Session ID unknown" until the pages reconnect
    await stopServer(server);
    for (const page of [alice, bob, carol]) await connection(page, "reconnecting");
    await shot(alice, "06-alice-reconnecting");
    server = await startServer(port);
    for (const page of [alice, bob, carol]) await connection(page, "connected");
    restarting = false;
    await shot(alice, "07-alice-back");
    // The new server knows nobody: each page joins its rooms again.
    for (const page of [alice, bob, carol]) await waitMembers(page, ["alice", "bob", "carol"]);
    await say(alice, "still here after the restart");
    await message(bob, "still here after the restart").waitFor();
    await message(carol, "still here after the restart").waitFor();
    await say(carol, "me too, on polling");
    await message(alice, "me too, on polling").waitFor();
    await message(bob, "me too, on polling").waitFor();
    await shot(bob, "08-bob-chat-after-restart");
  });

  test("leaving: presence and counts drop when a page goes away", async () => {
    const { alice, carol } = pages;
    await pages.bob.context().close();
    delete pages.bob;
    for (const page of [alice, carol]) {
      await waitMembers(page, ["alice", "carol"]);
      await waitRoomCount(page, "lobby", 2);
    }
    await alice.locator("#messages .notice", { hasText: "bob left" }).waitFor();
    await shot(alice, "09-alice-after-bob-left");
  });

  test("a newcomer picks a name on the login form and is seen by the others", async () => {
    const { alice, carol } = pages;
    const dave = await openPage("dave", "", { login: true });
    await dave.locator("#login-form").waitFor();
    assert.equal(await dave.locator("#app").isHidden(), true);
    await shot(dave, "10-dave-login");
    // Blank names pass the form but not the server's middleware: its refusal is shown.
    await dave.fill("#login-name", "   ");
    await dave.press("#login-name", "Enter");
    await dave.locator("#login-error", { hasText: "Pick a name to come in." }).waitFor();
    assert.equal(await dave.locator("#login").isVisible(), true);
    await shot(dave, "10-dave-refused");
    await dave.fill("#login-name", "dave");
    await dave.press("#login-name", "Enter");
    await connection(dave, "connected");
    assert.equal(await dave.locator("#me-name").textContent(), "dave");
    // The lobby's last messages (since the restart) are there for the newcomer too.
    await message(dave, "still here after the restart").waitFor();
    await message(dave, "me too, on polling").waitFor();
    for (const page of [alice, carol, dave]) {
      await waitMembers(page, ["alice", "carol", "dave"]);
      await waitRoomCount(page, "lobby", 3);
    }
    await alice.locator("#messages .notice", { hasText: "dave joined" }).waitFor();
    await shot(dave, "11-dave-in-the-lobby");
  });

  test("a name in use is refused, on the login form and from ?name=", async () => {
    const { alice } = pages;
    const erin = await openPage("erin", "", { login: true });
    await erin.fill("#login-name", "ALICE");
    await erin.press("#login-name", "Enter");
    await erin.locator("#login-error", { hasText: "The name ALICE is taken: pick another." }).waitFor();
    assert.equal(await erin.locator("#login").isVisible(), true);
    assert.equal(await erin.locator("#login-name").inputValue(), "ALICE"); // kept, to edit
    await shot(erin, "12-erin-name-taken");
    await erin.fill("#login-name", "erin");
    await erin.press("#login-name", "Enter");
    await connection(erin, "connected");
    await alice.locator("#messages .notice", { hasText: "erin joined" }).waitFor();
    const twin = await openPage("carol-twin", "", { login: true });
    await twin.goto(`http://127.0.0.1:${port}/?name=carol`);
    await twin.locator("#login-error", { hasText: "The name carol is taken" }).waitFor();
    await twin.context().close();
    delete pages["carol-twin"];
  });

  test("on a phone (390x844): Send on screen, the rooms in a drawer, the picker after leaving", async () => {
    const { alice } = pages;
    const fay = await openPage("fay", "", { device: PHONE });
    await connection(fay, "connected");
    await fay.locator("#room-title", { hasText: "#lobby" }).waitFor();
    // Nothing wider than the screen; the composer and its Send button wholly on screen.
    assert.ok(await fay.evaluate(() => document.documentElement.scrollWidth <= innerWidth),
      "the page scrolls sideways");
    for (const selector of ["#message-input", "#send", "#leave-room", "#menu"]) {
      await inViewport(fay, selector);
    }
    assert.equal(await fay.locator("#sidebar").isVisible(), true); // there, but off screen:
    assert.ok((await fay.locator("#sidebar").boundingBox()).x + 1 < 0, "the drawer shows while closed");
    await shot(fay, "13-phone-lobby");
    await fay.fill("#message-input", "hello from a phone");
    await fay.click("#send");
    await message(fay, "hello from a phone").locator('.tick[data-status="sent"]').waitFor();
    await message(alice, "hello from a phone").waitFor();

    // The rooms: a drawer from the top bar's button; picking one closes it.
    await fay.click("#menu");
    await fay.locator("body.drawer-open").waitFor();
    await fay.waitForFunction(() => document.querySelector("#sidebar").getBoundingClientRect().x === 0);
    await inViewport(fay, '#rooms li[data-room="lobby"]');
    await inViewport(fay, "#new-room-name");
    await shot(fay, "14-phone-drawer");
    await fay.fill("#new-room-name", "phones");
    await fay.press("#new-room-name", "Enter");
    await fay.locator("#room-title", { hasText: "#phones" }).waitFor();
    await fay.waitForFunction(() => !document.body.classList.contains("drawer-open"));
    await waitRoomCount(alice, "phones", 1);
    await fay.click("#menu");
    await fay.click('#rooms li[data-room="lobby"]');
    await fay.locator("#room-title", { hasText: "#lobby" }).waitFor();
    assert.equal(await fay.locator("#backdrop").isHidden(), true);

    // Leaving every room: the centre pane lists the rooms to join, one tap away.
    await fay.click("#leave-room");
    await fay.locator("#room-title", { hasText: "#phones" }).waitFor();
    await fay.click("#leave-room");
    await fay.locator("#room-title", { hasText: "Pick a room" }).waitFor();
    await fay.locator('#room-picker button[data-room="lobby"]').waitFor();
    await inViewport(fay, '#room-picker button[data-room="lobby"]');
    await shot(fay, "15-phone-no-room-picker");
    await fay.click('#room-picker button[data-room="lobby"]');
    await fay.locator("#room-title", { hasText: "#lobby" }).waitFor();
    await inViewport(fay, "#send");
  });

  test("a wide page that leaves its last room is offered the rooms too", async () => {
    const { carol } = pages;
    await carol.click("#leave-room");
    await carol.locator("#room-title", { hasText: "Pick a room" }).waitFor();
    await carol.locator('#room-picker button[data-room="lobby"]', { hasText: "people" }).waitFor();
    await shot(carol, "16-carol-no-room-picker");
    await carol.click('#room-picker button[data-room="lobby"]');
    await carol.locator("#room-title", { hasText: "#lobby" }).waitFor();
  });

  test(`with ${WORKERS} workers: the pages were served by more than one`,
    { skip: WORKERS < 2 && "one process" }, () => {
      const workers = new Set([...socketIds].map((id) => id[0]));
      consoleLog.write(`socket ids: ${[...socketIds].join(" ")}\n`);
      assert.ok(socketIds.size >= 8, `only ${socketIds.size} sockets seen`);
      assert.ok(workers.size >= 2,
        `all ${socketIds.size} sockets on one worker (${[...workers]}): nothing crossed workers`);
      const lost = refused.filter((r) => engineIds.has(r.sid)).map((r) => r.request);
      assert.deepEqual(lost, [], "requests of connected sessions refused (400) outside the restart");
    });
});
