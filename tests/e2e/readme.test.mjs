// End to end: the README's Quickstart, as written, in headless Chromium. The Python server
// block runs (its port moved to a free one) and the HTML page is opened from a file, as the
// README says. The page's <script src="https://cdn.socket.io/..."> is answered with the
// same client from clients/js-demo/node_modules (the tests do not need the internet).
//
//   node --test readme.test.mjs        (run by tests/stages/70-e2e-browser.sh)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PYTHON = process.env.PYTHON || `${ROOT}/.venv/bin/python`;
const CLIENT_JS = `${ROOT}/clients/js-demo/node_modules/socket.io-client/dist/socket.io.min.js`;

// The first ```LANG block after the README heading "## Quickstart".
function quickstartBlock(lang) {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("\n## Quickstart\n"));
  const match = section.match(new RegExp("```" + lang + "\\n([\\s\\S]*?)```"));
  assert.ok(match, `no ${lang} block in the README's Quickstart`);
  return match[1];
}

async function freePort() {
  const server = net.createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let server;
let browser;
let dir;
let port;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "rtio-quickstart-"));
  port = await freePort();
  const python = quickstartBlock("python");
  const html = quickstartBlock("html");
  assert.match(python, /8000/);
  assert.match(html, /8000/);
  writeFileSync(path.join(dir, "server.py"), python.replaceAll("8000", String(port)));
  writeFileSync(path.join(dir, "index.html"), html.replaceAll("8000", String(port)));
  server = spawn(PYTHON, ["server.py"], {
    cwd: dir, stdio: "ignore", env: { ...process.env, PYTHONPATH: ROOT },
  });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((resolve) => {
      const sock = net.connect(port, "127.0.0.1", () => { sock.end(); resolve(true); });
      sock.on("error", () => resolve(false));
    });
    if (up) break;
    assert.equal(server.exitCode, null, "the quickstart server exited");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
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

test("the README quickstart: a page from a file chats with the Python server", async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  await page.route("https://cdn.socket.io/**", (route) =>
    route.fulfill({ contentType: "text/javascript", body: readFileSync(CLIENT_JS) }));
  const acks = [];
  page.on("console", (msg) => { if (msg.text().startsWith("ack:")) acks.push(msg.text()); });
  await page.goto(`file://${dir}/index.html`);
  // The server broadcast our line back as "<first 4 characters of our id>: hello".
  await page.waitForFunction(() => /^.{4}: hello$/.test(document.body.innerText.trim()));
  const id = await page.evaluate(() => socket.id);
  assert.equal(await page.evaluate(() => document.body.innerText.trim()), `${id.slice(0, 4)}: hello`);
  for (let i = 0; i < 50 && acks.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(acks, ["ack: got it"]);
});
