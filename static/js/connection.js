// The connection: session, reconnects, the banner, and the server's news (`users` with the
// catch-up it implies, arrivals and departures, messages).

import { app, els, setText } from "./dom.js";
import { catchUp, loadLatest } from "./history.js";
import { notify } from "./notifications.js";
import { markRead } from "./reading.js";
import { renderConversation } from "./conversation.js";
import { renderAll } from "./render.js";
import { lookupUser } from "./search.js";
import { resumeSending, suspendSending } from "./send.js";
import { socket } from "./socket.js";
import { addMessage, config, current, me, newestId, peerOf, store, upsertUser } from "./state.js";
import { renderUsers } from "./users-list.js";

const OFFLINE_NOTE = " Messages you send will be sent when the connection is back.";
let retryConnect = 1000;

function showBanner(text, isError) {
  setText(els.banner, text);
  els.banner.classList.toggle("error", !!isError);
}

// The link is down: oneself is offline, and others' status is unknown until `users` comes.
function lost() {
  store.linkDown = true;
  store.statusKnown = false;
  app.dataset.connection = "offline";
}

function onConnect() {
  retryConnect = 1000;
  store.linkDown = false;
  app.dataset.connection = "online";
  showBanner("");
  renderUsers();
  resumeSending();
}

function onDisconnect(reason) {
  suspendSending();
  lost();
  showBanner("Connection lost. Reconnecting…" + OFFLINE_NOTE);
  renderAll();
  if (reason === "io server disconnect") {
    // The server closed this socket: logged out in another tab, or the session ended.
    fetch("/api/users?q=", { credentials: "same-origin" }).then((res) => {
      if (res.status === 401) location.assign("./");
      else setTimeout(() => socket.connect(), retryConnect);
    }, () => setTimeout(() => socket.connect(), retryConnect));
  }
}

function onConnectError(err) {
  const why = err && err.message;
  lost();
  renderAll();
  if (why === "invalid username") { location.assign("./"); return; } // session is gone
  const reason = { "rate limited": " (too many connections, slowing down)", unavailable: " (the server is having trouble)" }[why] || "";
  showBanner("Cannot reach the chat" + reason + ". Retrying…" + OFFLINE_NOTE, true);
  if (!socket.active) {
    // Refused by the server (rate limited, storage down): retry ourselves, backing off.
    setTimeout(() => socket.connect(), retryConnect);
    retryConnect = Math.min(retryConnect * 2, 30000);
  }
}

// The full list (PROTOCOL.md A2.4): live status again, and whatever was missed meanwhile.
function onUsers(list) {
  store.statusKnown = true;
  const listed = new Set();
  const gaps = [];
  for (const u of list) {
    listed.add(u.userID);
    const known = store.users.get(u.userID);
    const knownId = known && known.loaded ? newestId(known) : 0;
    const peer = upsertUser(u, true);
    const first = u.messages && u.messages.length ? u.messages[0].id : undefined;
    // More was missed than one page holds: fetch the pages in between.
    if (knownId && u.hasMore && first !== undefined && first > knownId) gaps.push(catchUp(peer, knownId, first));
  }
  for (const peer of store.users.values()) {
    // Added by hand (search, first message): not in the capped list, so fetch their news.
    if (!listed.has(peer.userID) && peer.loaded) gaps.push(catchUp(peer, newestId(peer), undefined));
  }
  const open = current();
  if (open && !open.loaded) loadLatest(open); // opened before the connection was up
  markRead(open);
  renderAll();
  if (gaps.length) Promise.all(gaps).then(() => { markRead(current()); renderAll(); });
}

function onUserConnected(u) {
  // A full (capped) list only follows the people it shows; others are found by search.
  if (!store.users.has(u.userID) && store.users.size >= config.usersLimit) return;
  upsertUser({ userID: u.userID, username: u.username, connected: true, lastSeen: null }, false);
  renderAll();
}

function onUserDisconnected(id) {
  const u = store.users.get(id);
  if (!u) return;
  u.connected = false;
  u.lastSeen = new Date().toISOString();
  renderAll();
}

async function onMessage(m) {
  const peerId = peerOf(m);
  const peer = store.users.get(peerId) || (await lookupUser(peerId));
  if (!peer) return;
  if (addMessage(peer, m) && m.from !== me.userID) {
    peer.typingUntil = 0;
    if (peerId === store.selected && document.visibilityState === "visible") markRead(peer);
    else if (peerId !== me.userID) peer.unread = (peer.unread || 0) + 1;
    notify(peer, m);
  }
  renderUsers();
  if (peerId === store.selected) renderConversation();
}

/** Registers the connection's handlers (before main.js connects the socket). */
export function wireConnection() {
  // Which transport carries the connection (polling until the WebSocket upgrade), for support.
  socket.io.on("open", () => {
    app.dataset.transport = socket.io.engine.transport.name;
    socket.io.engine.on("upgrade", (transport) => { app.dataset.transport = transport.name; });
  });
  socket.on("connect", onConnect);
  socket.on("disconnect", onDisconnect);
  socket.on("connect_error", onConnectError);
  socket.on("session", ({ userID }) => {
    if (userID !== me.userID) location.reload(); // another login replaced the cookie
  });
  socket.on("users", onUsers);
  socket.on("user connected", onUserConnected);
  socket.on("user disconnected", onUserDisconnected);
  socket.on("private message", onMessage);
}
