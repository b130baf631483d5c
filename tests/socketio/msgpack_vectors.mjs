// Byte vectors from the real npm socket.io-msgpack-parser (notepack.io 2.2), both ways.
//
//   node tests/socketio/msgpack_vectors.mjs < request.json > answer.json
//
// tests/socketio/test_msgpack_node.py runs it once per session, from tests/node, with TZ=UTC.
//
// request: {"decode": ["<hex>", ...]}   messages encoded by rtio, for the JS decoder
// answer:  {"versions": {...},
//           "encoded": {"<case>": "<hex>", ...},   the JS encoder's bytes for each case below
//           "decoded": [{"ok": true, "packet": <described>} | {"ok": false, "error": "..."}],
//           "roundtrip": {"<case>": <the JS decoder's answer for the JS encoder's bytes>}}
//
// The JS decoder runs its own checks (Decoder.prototype.add: decode, then checkPacket).
// Decoded values are described as JSON with tags for what JSON cannot say:
//   {"$undefined": true}, {"$num": "NaN" | "Infinity" | "-Infinity" | "-0"},
//   {"$double": "<16 hex digits>"} for a number that is not a safe integer,
//   {"$buffer": "<hex>"}, {"$arraybuffer": "<hex>"}, {"$date": <ms> | "Invalid"},
//   {"$object": [[key, value], ...]} for objects (keys in order).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(new URL("../node/package.json", import.meta.url));
const parser = require("socket.io-msgpack-parser");
const versions = {
  "socket.io-msgpack-parser": require("socket.io-msgpack-parser/package.json").version,
  "notepack.io": require("notepack.io/package.json").version,
  node: process.version,
};

const bytes = (n, fill) => Buffer.alloc(n, fill);
const arrayBuffer = (values) => new Uint8Array(values).buffer;
const filled = (n, v) => new Uint8Array(n).fill(v).buffer;

// Packets in the key order of our encoder (type, nsp, data, id), so that cases marked
// "exact" on the Python side must come out byte for byte the same.
const CASES = {
  connect: { type: 0, nsp: "/" },
  connect_nsp: { type: 0, nsp: "/admin" },
  connect_auth: { type: 0, nsp: "/admin", data: { token: "123" } },
  connect_reply: { type: 0, nsp: "/", data: { sid: "oSO0OpakMV_3jnilAAAA" } },
  disconnect: { type: 1, nsp: "/chat" },
  event: { type: 2, nsp: "/", data: ["hello", "world"] },
  event_ack: { type: 2, nsp: "/", data: ["msg", 1, true, false, null], id: 7 },
  event_nsp_ack: { type: 2, nsp: "/admin", data: ["project:delete", 123], id: 456 },
  event_number_name: { type: 2, nsp: "/", data: [42, "x"] },
  ack: { type: 3, nsp: "/", data: ["ok"], id: 7 },
  ack_empty: { type: 3, nsp: "/admin", data: [], id: 0 },
  ack_big_id: { type: 3, nsp: "/", data: [], id: 4294967296 },
  connect_error_str: { type: 4, nsp: "/", data: "nope" },
  connect_error_obj: {
    type: 4,
    nsp: "/",
    data: { message: "Not authorized", data: { code: 401 } },
  },
  ints: {
    type: 2,
    nsp: "/",
    data: [
      "ints", 0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296,
      9007199254740991, -1, -32, -33, -128, -129, -32768, -32769, -2147483648,
      -2147483649, -9007199254740991,
    ],
  },
  big_ints: { type: 2, nsp: "/", data: ["big", 2 ** 53, 2 ** 63, -(2 ** 63)] },
  floats: {
    type: 2,
    nsp: "/",
    data: ["floats", 1.5, -0.25, Math.PI, 123.456, 1e-300, 5e-324, -2.5e-10],
  },
  non_finite: { type: 2, nsp: "/", data: ["nf", NaN, Infinity, -Infinity] },
  strings: {
    type: 2,
    nsp: "/",
    data: [
      "strings", "", "a".repeat(31), "b".repeat(32), "c".repeat(255), "d".repeat(256),
      "e".repeat(65535), "f".repeat(65536), "héllo wörld ✓ 🎉", "\u0000nul", "日本語".repeat(20),
    ],
  },
  unicode_nsp: { type: 2, nsp: "/ünï", data: ["é"] },
  buffers: {
    type: 2,
    nsp: "/",
    data: ["bin", Buffer.from([1, 2, 3]), bytes(0), bytes(1, 9), bytes(8, 8), bytes(255, 7),
      bytes(256, 6), bytes(65535, 5), bytes(65536, 4)],
  },
  binary_ack: { type: 3, nsp: "/", data: [Buffer.from("ack")], id: 15 },
  nested: {
    type: 2,
    nsp: "/",
    data: [
      "nested",
      { a: { b: { c: [1, [2, [3, { d: "e" }]]] } }, list: [{ x: 1 }, { y: [true, null] }] },
      [[[[]]]],
      {},
    ],
  },
  large_containers: {
    type: 2,
    nsp: "/",
    data: [
      "large",
      Array.from({ length: 16 }, (_, i) => i),
      Array.from({ length: 70000 }, (_, i) => i % 3),
      Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])),
      Object.fromEntries(Array.from({ length: 65536 }, (_, i) => [`k${i}`, i % 2 === 0])),
    ],
  },
  dates: {
    type: 2,
    nsp: "/",
    data: ["dates", new Date(0), new Date(1700000000123), new Date(-1), new Date(-62135596800000),
      new Date(253402300799999)],
  },
  // Decode-only cases: values Python does not write the same way.
  array_buffers: {
    type: 2,
    nsp: "/",
    data: ["ab", arrayBuffer([1, 2, 3]), new ArrayBuffer(0), arrayBuffer([9]), filled(2, 2),
      filled(4, 4), filled(8, 8), filled(16, 16), filled(300, 3), filled(70000, 7)],
  },
  typed_arrays: { type: 2, nsp: "/", data: ["ta", new Uint8Array([1]), new Uint16Array([1, 2])] },
  undefined_values: {
    type: 2,
    nsp: "/",
    data: ["undef", undefined, [undefined], { a: undefined, b: 1 }],
  },
  connect_data_undefined: { type: 0, nsp: "/", data: undefined },
  disconnect_undefined: { type: 1, nsp: "/", data: undefined, id: undefined },
  event_id_undefined: { type: 2, nsp: "/", data: ["x"], id: undefined },
  integral_floats: { type: 2, nsp: "/", data: ["if", 1.0, -0, 2 ** 31 + 0.0] },
  // What socket.io-client's Socket.emit really hands the encoder (socket.js: type, data,
  // options, id; then nsp), and what Node's server writes for an ack (id, type, data, nsp).
  client_emit: { type: 2, data: ["chat", "hi"], options: { compress: true }, id: 3, nsp: "/" },
  server_ack: { id: 9, type: 3, data: ["done"], nsp: "/admin" },
  to_json: { type: 2, nsp: "/", data: ["tj", { toJSON: () => ({ via: "toJSON" }) }] },
  // notepack 2.2 writes an integral Number at or beyond 2**64 through its uint64/int64 path
  // with 32-bit arithmetic: 1e300 and 2**64 come out as wrong integers (a notepack bug).
  notepack_big_integral: { type: 2, nsp: "/", data: ["bi", 1e300, 2 ** 64, -(2 ** 64)] },
  function_values: { type: 2, nsp: "/", data: ["fn", { keep: 1, drop: () => 1 }] },
};

function describe(value) {
  if (value === undefined) return { $undefined: true };
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") {
    if (Number.isNaN(value)) return { $num: "NaN" };
    if (value === Infinity) return { $num: "Infinity" };
    if (value === -Infinity) return { $num: "-Infinity" };
    if (Object.is(value, -0)) return { $num: "-0" };
    if (Number.isSafeInteger(value)) return value;
    const b = Buffer.alloc(8);
    b.writeDoubleBE(value);
    return { $double: b.toString("hex") };
  }
  if (Buffer.isBuffer(value)) return { $buffer: value.toString("hex") };
  if (value instanceof ArrayBuffer) return { $arraybuffer: Buffer.from(value).toString("hex") };
  if (value instanceof Date) {
    const t = value.getTime();
    return { $date: Number.isNaN(t) ? "Invalid" : t };
  }
  if (Array.isArray(value)) return value.map(describe);
  return { $object: Object.keys(value).map((k) => [k, describe(value[k])]) };
}

function decode(hex) {
  const decoder = new parser.Decoder();
  let packet;
  decoder.on("decoded", (p) => {
    packet = p;
  });
  try {
    decoder.add(Buffer.from(hex, "hex"));
  } catch (err) {
    return { ok: false, error: String(err && err.message) };
  }
  return { ok: true, packet: describe(packet) };
}

const request = JSON.parse(readFileSync(0, "utf8") || "{}");
const encoder = new parser.Encoder();
const encoded = {};
for (const [name, packet] of Object.entries(CASES)) {
  const out = encoder.encode(packet);
  if (out.length !== 1) throw new Error(`${name}: ${out.length} messages`);
  encoded[name] = Buffer.from(out[0]).toString("hex");
}
const decoded = (request.decode || []).map(decode);
// The JS decoder on the JS encoder's own bytes: what a JS peer makes of each case.
const roundtrip = Object.fromEntries(Object.entries(encoded).map(([k, v]) => [k, decode(v)]));
process.stdout.write(JSON.stringify({ versions, encoded, decoded, roundtrip }));
