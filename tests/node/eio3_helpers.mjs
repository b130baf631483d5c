// Helpers of the socket.io-client 2.x tests: start tests/node/eio3_server.py (rtio) or
// eio3_node_server.mjs (Node's socket.io with allowEIO3) and read the JSON lines they print.
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const PY = process.env.RTIO_PYTHON || path.join(ROOT, ".venv/bin/python");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const SERVERS = {
  rtio: (extra = []) => [PY, [path.join(HERE, "eio3_server.py"), ...extra]],
  "rtio-front": (extra = []) => [
    PY,
    [path.join(HERE, "eio3_server.py"), "--front", "rtio", ...extra],
  ],
  node: (extra = []) => [process.execPath, [path.join(HERE, "eio3_node_server.mjs")]],
};
export const MODES = {
  polling: ["polling"],
  websocket: ["websocket"],
  upgrade: ["polling", "websocket"],
};

export class Proc {
  static async start(kind, extra = [], env = {}) {
    const [cmd, args] = SERVERS[kind](extra);
    const p = new Proc();
    p.lines = [];
    p.stderr = "";
    p.proc = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env } });
    p.proc.stderr.on("data", (d) => (p.stderr += d));
    p.exited = new Promise((r) => p.proc.on("exit", r));
    readline.createInterface({ input: p.proc.stdout }).on("line", (t) => {
      try {
        p.lines.push(JSON.parse(t));
      } catch {}
    });
    const listening = await p.waitFor((l) => l.event === "listening", 15000);
    p.url = `http://127.0.0.1:${listening.port}`;
    return p;
  }
  async waitFor(pred, timeout = 5000) {
    const end = Date.now() + timeout;
    while (Date.now() < end) {
      const found = this.lines.find(pred);
      if (found) return found;
      await sleep(20);
    }
    throw new Error("no matching line from the server");
  }
  async stop() {
    if (this.proc.exitCode === null) this.proc.kill("SIGTERM");
    await this.exited;
  }
}

