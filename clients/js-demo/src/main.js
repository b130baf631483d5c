// The rtio chat demo, browser side: plain DOM code on the real socket.io-client.
//
// The events it speaks with rtio/demo/chat.py (the server side):
//   client -> server (each answered through an ack)
//     "join"    {room, rejoin?}        -> {ok, room, members, history} | {ok: false, error}
//               (rejoin: back in a room after a reconnection; the others see no "joined")
//     "leave"   {room}                 -> {ok}
//     "message" {room, text}           -> {ok, id, ts}   (the ack is the delivery tick)
//     "image"   {room, name, mime, data: ArrayBuffer}   -> {ok, id, ts}
//     "typing"  {room, typing: bool}   (no ack)
//   server -> client
//     "rooms"    [{name, count}]       every room and how many are in it, on every change
//     "presence" {room, members: [{id, name}], joined?: name, left?: name}
//     "message"  {id, room, from, text?, image?: {name, mime, data}, ts}
//     "typing"   {room, id, name, typing}
//
// URL parameters (handy for tests and demos): ?name=alice&room=lobby&transports=polling
import { io } from "socket.io-client";
import "./style.css";

const MAX_IMAGE_BYTES = 512 * 1024;
const TYPING_IDLE_MS = 2500;   // stop "typing" after this long without a keystroke
const TYPING_EXPIRE_MS = 6000; // forget someone's "typing" if no update came for this long
const ACK_TIMEOUT_MS = 10000;

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

const state = {
  name: "",
  rooms: [],             // [{name, count}] from the server
  joined: new Map(),     // room -> {messages: [], members: [], typing: Map(id -> {name, timer}), unread}
  active: null,          // the room shown
  typingSent: false,
  typingTimer: null,
};
let socket = null;
let localSeq = 0;

// This tab's random token, sent with the name: the server refuses a name another tab holds,
// but lets this tab back in under its own name (a reconnection while the server still holds
// the old connection). sessionStorage: one per tab, kept across reloads of that tab.
// (crypto.getRandomValues, not randomUUID: the latter needs https or localhost.)
const tabToken = sessionStorage.getItem("rtio-chat-tab") ||
  [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
sessionStorage.setItem("rtio-chat-tab", tabToken);

// ---------------------------------------------------------------- small DOM helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child != null) node.append(child); // strings become text nodes: no HTML injection
  }
  return node;
}

function avatar(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  const span = el("span", { class: "avatar" }, (name[0] || "?").toUpperCase());
  span.style.background = `hsl(${hash % 360} 55% 52%)`;
  return span;
}

function clock(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

let toastTimer = null;
function toast(text) {
  const node = $("toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.hidden = true), 3500);
}

// ---------------------------------------------------------------- connection state

function setConnection(stateName, text) {
  const node = $("conn");
  node.dataset.state = stateName;
  $("conn-text").textContent = text;
  document.body.dataset.conn = stateName;
}

function connect() {
  const transports = params.get("transports")?.split(",") ?? ["polling", "websocket"];
  // `auth` as a function is called on every (re)connection, so a server restarted with no
  // memory of us still learns our name.
  // closeOnBeforeunload: a closed tab leaves its rooms at once, even on long-polling.
  socket = io({
    transports, closeOnBeforeunload: true, auth: (cb) => cb({ name: state.name, token: tabToken }),
  });
  window.chatSocket = socket; // for curious people in the devtools console

  socket.on("connect", () => {
    const engine = socket.io.engine;
    setConnection("connected", `connected · ${engine.transport.name}`);
    engine.once("upgrade", (transport) => setConnection("connected", `connected · ${transport.name}`));
    // Join again every room we were in: after a server restart the server has forgotten us.
    const rooms = state.joined.size ? [...state.joined.keys()] : [params.get("room") || "lobby"];
    for (const room of rooms) {
      join(room, { show: room === (state.active ?? rooms[0]), rejoin: state.joined.has(room) });
    }
  });
  socket.on("disconnect", (reason) => {
    if (socket.active) setConnection("reconnecting", `reconnecting… (${reason})`);
    else setConnection("disconnected", "disconnected");
    for (const room of state.joined.values()) room.typing.clear();
    renderTyping();
  });
  socket.io.on("reconnect_attempt", (attempt) =>
    setConnection("reconnecting", `reconnecting… (attempt ${attempt})`));
  socket.on("connect_error", (err) => {
    if (socket.active) {
      setConnection("reconnecting", "reconnecting… (server unreachable)");
    } else {
      // Refused by the server's middleware (no name, or a name in use): back to the name
      // form with its message.
      setConnection("disconnected", "refused");
      showLogin(err.message);
    }
  });

  socket.on("rooms", (rooms) => { state.rooms = rooms; renderRooms(); });
  socket.on("presence", onPresence);
  socket.on("message", (message) => addMessage(message));
  socket.on("typing", onTyping);
}

// ---------------------------------------------------------------- rooms

function join(room, { show = true, rejoin = false } = {}) {
  socket.timeout(ACK_TIMEOUT_MS).emit("join", { room, rejoin }, (err, reply) => {
    if (err || !reply?.ok) {
      toast(`Could not join #${room}: ${err ? "no answer" : reply?.error}`);
      return;
    }
    const known = state.joined.get(reply.room);
    const entry = known ?? { messages: [], members: [], typing: new Map(), unread: 0 };
    entry.members = reply.members;
    // The last messages of the room; on a rejoin keep ours and add those we had not seen.
    const seen = new Set(entry.messages.map((m) => m.id));
    const missed = reply.history.filter((m) => !seen.has(m.id)).map(withImageUrl);
    entry.messages = [...entry.messages, ...missed].sort((a, b) => a.ts - b.ts);
    state.joined.set(reply.room, entry);
    if (show || !state.active) showRoom(reply.room);
    else renderRooms();
  });
}

function leave(room) {
  socket.emit("leave", { room });
  state.joined.delete(room);
  if (state.active === room) state.active = null;
  showRoom(state.active ?? state.joined.keys().next().value ?? null);
}

function showRoom(room) {
  stopTyping();
  state.active = room;
  const entry = room && state.joined.get(room);
  if (entry) entry.unread = 0;
  $("empty").hidden = Boolean(entry);
  $("composer").hidden = !entry;
  $("leave-room").hidden = !entry;
  $("room-title").textContent = entry ? `#${room}` : "Pick a room";
  renderRooms();
  renderMessages();
  renderMembers();
  renderTyping();
  if (entry) $("message-input").focus();
}

function renderRooms() {
  const list = $("rooms");
  list.replaceChildren();
  const names = new Set(state.rooms.map((r) => r.name));
  const rooms = [...state.rooms];
  for (const name of state.joined.keys()) if (!names.has(name)) rooms.push({ name, count: 0 });
  for (const { name, count } of rooms) {
    const entry = state.joined.get(name);
    const item = el("li", {
      class: ["room", entry ? "joined" : "", name === state.active ? "active" : ""].join(" "),
      dataset: { room: name },
      title: entry ? `show #${name}` : `join #${name}`,
      onclick: () => { setDrawer(false); if (entry) showRoom(name); else join(name); },
    },
      el("span", { class: "hash" }, "#"),
      el("span", { class: "name" }, name),
      entry?.unread ? el("span", { class: "unread" }, String(entry.unread)) : null,
      el("span", { class: "count", title: "people in the room" }, String(count)),
    );
    list.append(item);
  }
  // The centre pane, when in no room: every room, to join with one click.
  $("room-picker").replaceChildren(...rooms.map(({ name, count }) =>
    el("li", {},
      el("button", { type: "button", class: "ghost", dataset: { room: name }, onclick: () => join(name) },
        `#${name}`, el("span", { class: "muted" }, ` · ${count} ${count === 1 ? "person" : "people"}`)))));
  // The drawer's button (narrow screens) counts the unread messages of the other rooms.
  const unread = [...state.joined.values()].reduce((sum, r) => sum + r.unread, 0);
  $("menu-unread").hidden = unread === 0;
  $("menu-unread").textContent = String(unread);
}

// ---------------------------------------------------------------- the drawer (narrow screens)

function setDrawer(open) {
  document.body.classList.toggle("drawer-open", open);
  $("backdrop").hidden = !open;
  $("menu").setAttribute("aria-expanded", String(open));
}

// ---------------------------------------------------------------- presence

function onPresence({ room, members, joined, left }) {
  const entry = state.joined.get(room);
  if (!entry) return;
  entry.members = members;
  const ids = new Set(members.map((m) => m.id));
  for (const id of entry.typing.keys()) if (!ids.has(id)) entry.typing.delete(id);
  if (joined) addNotice(room, `${joined} joined`);
  if (left) addNotice(room, `${left} left`);
  if (room === state.active) { renderMembers(); renderTyping(); }
}

function renderMembers() {
  const entry = state.joined.get(state.active);
  const members = entry?.members ?? [];
  $("member-count").textContent = String(members.length);
  $("room-count").textContent = entry ? `${members.length} online` : "";
  $("members").replaceChildren(...members.map((m) =>
    el("li", { class: m.id === socket?.id ? "member me" : "member", dataset: { id: m.id } },
      avatar(m.name), el("span", {}, m.name), m.id === socket?.id ? el("em", {}, " (you)") : null)));
}

// ---------------------------------------------------------------- messages

function withImageUrl(message) {
  if (message.image && !message.image.url) {
    const blob = new Blob([message.image.data], { type: message.image.mime });
    message.image.url = URL.createObjectURL(blob);
  }
  return message;
}

function addMessage(message) {
  const entry = state.joined.get(message.room);
  if (!entry || entry.messages.some((m) => m.id === message.id)) return;
  entry.messages.push(withImageUrl(message));
  entry.typing.delete(message.senderId);
  if (message.room === state.active) {
    appendMessageNode(message);
    renderTyping();
  } else {
    entry.unread += 1;
    renderRooms();
  }
}

function addNotice(room, text) {
  const entry = state.joined.get(room);
  const notice = { id: `notice-${++localSeq}`, room, notice: text, ts: Date.now() };
  entry.messages.push(notice);
  if (room === state.active) appendMessageNode(notice);
}

function renderMessages() {
  const list = $("messages");
  list.replaceChildren();
  for (const message of state.joined.get(state.active)?.messages ?? []) appendMessageNode(message);
}

function messageNode(m) {
  if (m.notice) return el("li", { class: "notice" }, m.notice);
  const mine = m.mine || m.senderId === socket?.id;
  const body = m.image
    ? el("img", { class: "shared-image", src: m.image.url, alt: m.image.name || "image" })
    : el("div", { class: "text" }, m.text);
  const meta = el("div", { class: "meta" },
    el("span", { class: "from" }, m.from),
    el("time", { class: "time", datetime: new Date(m.ts).toISOString() }, clock(m.ts)),
    m.status ? el("span", { class: "tick", dataset: { status: m.status }, title: m.status },
      { sending: "◷", sent: "✓", failed: "!" }[m.status]) : null);
  return el("li", { class: mine ? "msg mine" : "msg", dataset: { id: m.id } },
    mine ? null : avatar(m.from), el("div", { class: "bubble" }, meta, body));
}

function appendMessageNode(message) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const node = messageNode(message);
  message.node = node;
  list.append(node);
  if (atBottom || message.mine) list.scrollTop = list.scrollHeight;
  // An image grows the list once it has loaded: keep the bottom in view.
  node.querySelector("img")?.addEventListener("load", () => { list.scrollTop = list.scrollHeight; });
}

function redraw(message) {
  if (message.node?.isConnected) {
    const node = messageNode(message);
    message.node.replaceWith(node);
    message.node = node;
  }
}

// Sends with an ack: the message shows ◷ until the server answers, then ✓ (or ! on timeout).
function sendWithTick(event, payload, message) {
  message.status = "sending";
  addMessage(message);
  socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, reply) => {
    if (err || !reply?.ok) {
      message.status = "failed";
      if (reply?.error) toast(reply.error);
    } else {
      message.status = "sent";
      message.id = reply.id; // the server's id: a rejoin's history will not show it twice
      message.ts = reply.ts;
    }
    redraw(message);
  });
}

function sendText(text) {
  const room = state.active;
  const message = { id: `local-${++localSeq}`, room, from: state.name, text, ts: Date.now(), mine: true };
  sendWithTick("message", { room, text }, message);
}

async function sendImage(file) {
  if (!file.type.startsWith("image/")) return toast("Only images can be shared.");
  if (file.size > MAX_IMAGE_BYTES) return toast("That image is over 512 KB; pick a smaller one.");
  const room = state.active;
  const data = await file.arrayBuffer(); // sent as a binary attachment, not base64
  const image = { name: file.name, mime: file.type, data };
  const message = { id: `local-${++localSeq}`, room, from: state.name, image, ts: Date.now(), mine: true };
  sendWithTick("image", { room, name: file.name, mime: file.type, data }, withImageUrl(message));
}

// ---------------------------------------------------------------- typing indicators

function onTyping({ room, id, name, typing }) {
  const entry = state.joined.get(room);
  if (!entry) return;
  clearTimeout(entry.typing.get(id)?.timer);
  if (typing) {
    const timer = setTimeout(() => { entry.typing.delete(id); renderTyping(); }, TYPING_EXPIRE_MS);
    entry.typing.set(id, { name, timer });
  } else {
    entry.typing.delete(id);
  }
  if (room === state.active) renderTyping();
}

function renderTyping() {
  const names = [...(state.joined.get(state.active)?.typing.values() ?? [])].map((t) => t.name);
  const text = names.length === 0 ? ""
    : names.length === 1 ? `${names[0]} is typing…`
    : names.length <= 3 ? `${names.join(", ")} are typing…`
    : "several people are typing…";
  $("typing").textContent = text;
}

function keystroke() {
  if (!state.active || !socket?.connected) return;
  if (!state.typingSent) {
    state.typingSent = true;
    socket.emit("typing", { room: state.active, typing: true });
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (state.typingSent && state.active && socket?.connected) {
    socket.emit("typing", { room: state.active, typing: false });
  }
  state.typingSent = false;
}

// ---------------------------------------------------------------- wiring

function showLogin(error = "") {
  $("login").hidden = false;
  $("app").hidden = true;
  $("login-error").textContent = error;
  $("login-name").value = state.name;
}

function start(name) {
  state.name = name.trim().slice(0, 24);
  localStorage.setItem("rtio-chat-name", state.name);
  $("login").hidden = true;
  $("app").hidden = false;
  $("me-name").textContent = state.name;
  if (socket) {
    socket.connect(); // after a refusal: try again with the new name
  } else {
    connect();
  }
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  start($("login-name").value);
});

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("message-input");
  const text = input.value.trim();
  if (!text || !state.active) return;
  stopTyping();
  sendText(text);
  input.value = "";
});
$("message-input").addEventListener("input", keystroke);
$("message-input").addEventListener("blur", stopTyping);

$("image-input").addEventListener("change", (event) => {
  const [file] = event.target.files;
  event.target.value = "";
  if (file && state.active) sendImage(file);
});
// Pasting an image into the message box shares it too.
$("message-input").addEventListener("paste", (event) => {
  const file = [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
  if (file && state.active) { event.preventDefault(); sendImage(file); }
});

$("new-room-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("new-room-name");
  const room = input.value.trim().toLowerCase();
  if (room) join(room);
  input.value = "";
  setDrawer(false);
});

$("menu").addEventListener("click", () => setDrawer(!document.body.classList.contains("drawer-open")));
$("backdrop").addEventListener("click", () => setDrawer(false));
document.addEventListener("keydown", (event) => { if (event.key === "Escape") setDrawer(false); });

$("leave-room").addEventListener("click", () => state.active && leave(state.active));

const initialName = params.get("name") || localStorage.getItem("rtio-chat-name") || "";
if (params.get("name")) start(initialName);
else showLogin();
