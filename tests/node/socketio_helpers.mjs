// Helpers of the socket.io-client integration tests: start/stop tests/node/socketio_server.py
// and wait for what it prints, connect clients, wait for events.
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { io, Manager } from "socket.io-client";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PY = process.env.RTIO_PYTHON || path.join(ROOT, ".venv/bin/python");
const SCRIPT = path.join(ROOT, "tests/node/socketio_server.py");

// The three ways a client reaches the server.
export const MODES = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: { transports: ["polling", "websocket"] },
};

export class ServerProcess {
  static async start(port = 0, script = SCRIPT, extra = []) {
    const server = new ServerProcess();
    server.proc = spawn(PY, [script, "--port", String(port), ...extra], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    server.lines = [];
    server.waiters = [];
    server.exited = new Promise((resolve) => server.proc.on("exit", resolve));
    readline.createInterface({ input: server.proc.stdout }).on("line", (text) => {
      let line;
      try {
        line = JSON.parse(text);
      } catch {
        return;
      }
      server.lines.push(line);
      for (const waiter of [...server.waiters]) {
        if (waiter.pred(line)) {
          server.waiters.splice(server.waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    });
    const listening = await server.waitFor((l) => l.event === "listening", 15000);
    server.port = listening.port;
    server.url = `http://127.0.0.1:${server.port}`;
    return server;
  }

  // The first line (already printed or to come) for which pred is true.
  waitFor(pred, timeout = 5000) {
    const found = this.lines.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = { pred, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        const k = this.waiters.indexOf(waiter);
        if (k >= 0) {
          this.waiters.splice(k, 1);
          reject(new Error(`server printed no matching line within ${timeout} ms`));
        }
      }, timeout).unref();
    });
  }

  reason(sid, event = "disconnect") {
    return this.waitFor((l) => l.event === event && l.sid === sid).then((l) => l.reason);
  }

  async stop(signal = "SIGTERM") {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exited;
  }
}

export function once(emitter, event, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeout} ms`)), timeout);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

// A connected socket (rejects with the connect_error).
export function connect(url, options = {}, nsp = "/") {
  const socket = io(url + nsp, { forceNew: true, reconnection: false, ...options });
  return ready(socket);
}

export function ready(socket) {
  return new Promise((resolve, reject) => {
    const onConnect = () => {
      socket.off("connect_error", onError);
      resolve(socket);
    };
    const onError = (err) => {
      socket.off("connect", onConnect);
      socket.close();
      reject(err);
    };
    socket.once("connect", onConnect);
    socket.once("connect_error", onError);
  });
}

// Connected, and for the upgrade mode, upgraded to WebSocket.
export async function connectIn(mode, url, options = {}, nsp = "/") {
  const socket = await connect(url, { ...MODES[mode], ...options }, nsp);
  await upgraded(mode, socket);
  return socket;
}

export async function upgraded(mode, socket) {
  if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
    await once(socket.io.engine, "upgrade");
  }
}

export function manager(url, options = {}) {
  return new Manager(url, { forceNew: true, reconnection: false, ...options });
}

// Collects every event a socket receives, in order.
export function recorder(socket) {
  const got = [];
  socket.onAny((event, ...args) => got.push([event, ...args]));
  return got;
}

export async function until(check, timeout = 3000) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeout) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
export { io };
