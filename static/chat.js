// The chat panel: live updates over Socket.IO on top of the server-rendered first paint.
// Every user-supplied string goes through textContent, never innerHTML.
(function () {
  "use strict";

  const app = document.getElementById("app");
  if (!app) return;
  const me = { userID: app.dataset.userId, username: app.dataset.username };
  const els = {
    list: document.getElementById("user-list"),
    messages: document.getElementById("messages"),
    heading: document.getElementById("conversation-heading"),
    peerStatus: document.getElementById("peer-status"),
    composer: document.getElementById("composer"),
    input: document.getElementById("message-input"),
    banner: document.getElementById("banner"),
    typing: document.getElementById("typing"),
    older: document.getElementById("load-older"),
    back: document.getElementById("back"),
  };
  const users = new Map(); // userID -> {userID, username, connected, messages: Map(id -> msg), hasMore, unread, lastSeen}
  const outboxKey = "chat-outbox:" + me.userID;
  let selected = app.dataset.peer || null;
  let typingTimer = null;
  let lastTypingSent = 0;

  const socket = io({ transports: ["polling", "websocket"] });

  // --- outbox: messages not yet acknowledged survive a reload ---------------------------
  function loadOutbox() {
    try { return JSON.parse(localStorage.getItem(outboxKey)) || []; } catch (e) { return []; }
  }
  function saveOutbox(list) { localStorage.setItem(outboxKey, JSON.stringify(list)); }
  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // --- rendering --------------------------------------------------------------------------
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function sortedUsers() {
    return [...users.values()].sort((a, b) => {
      if (a.userID === me.userID) return -1;
      if (b.userID === me.userID) return 1;
      return a.username.localeCompare(b.username);
    });
  }
  function renderUsers() {
    els.list.replaceChildren();
    for (const u of sortedUsers()) {
      const li = el("li");
      const a = el("a", "user" + (u.userID === selected ? " selected" : ""));
      a.href = "?with=" + encodeURIComponent(u.userID);
      a.dataset.userId = u.userID;
      if (u.userID === selected) a.setAttribute("aria-current", "true");
      a.append(el("span", "name", u.username + (u.userID === me.userID ? " (yourself)" : "")));
      const status = u.connected ? "online" : "offline";
      a.append(el("span", "status " + status, status));
      if (u.unread) a.append(el("span", "badge", u.unread + " unread"));
      a.addEventListener("click", (ev) => { ev.preventDefault(); select(u.userID); });
      li.append(a);
      els.list.append(li);
    }
    const total = [...users.values()].reduce((n, u) => n + (u.unread || 0), 0);
    document.title = (total ? "(" + total + ") " : "") + "Private chat";
  }
  function formatTime(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }
  function renderMessage(m, peer) {
    const own = m.from === me.userID;
    const li = el("li", "message" + (own ? " own" : ""));
    if (m.id) li.dataset.id = m.id;
    li.append(el("span", "sender", own ? me.username : peer.username));
    if (m.createdAt) {
      const t = el("time", null, formatTime(m.createdAt));
      t.dateTime = m.createdAt;
      li.append(t);
    }
    li.append(el("p", "content", m.content));
    if (own) li.append(el("span", "state", m.state || "sent"));
    if (m.state === "failed") {
      const retry = el("button", "retry", "Retry");
      retry.type = "button";
      retry.addEventListener("click", () => { m.state = "sending"; renderConversation(); sendPending(m); });
      li.append(retry);
    }
    return li;
  }
  function conversationMessages(peer) {
    const all = [...peer.messages.values()];
    for (const m of loadOutbox()) if (m.to === peer.userID && !all.some((x) => x.clientId === m.clientId)) all.push(m);
    return all.sort((a, b) => (a.id || Infinity) - (b.id || Infinity));
  }
  function renderConversation(keepScroll) {
    const peer = users.get(selected);
    document.body.classList.toggle("has-peer", !!peer);
    if (!peer) { els.composer.hidden = true; els.older.hidden = true; return; }
    els.heading.textContent = peer.userID === me.userID ? peer.username + " (yourself)" : peer.username;
    els.peerStatus.textContent = peer.connected ? "online" : (peer.lastSeen ? "offline, last seen " + formatTime(peer.lastSeen) : "offline");
    els.composer.hidden = false;
    els.older.hidden = !peer.hasMore;
    const box = els.messages;
    const fromBottom = box.scrollHeight - box.scrollTop;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.replaceChildren(...conversationMessages(peer).map((m) => renderMessage(m, peer)));
    if (keepScroll) box.scrollTop = box.scrollHeight - fromBottom;
    else if (atBottom || keepScroll === undefined) box.scrollTop = box.scrollHeight;
  }

  // --- state ------------------------------------------------------------------------------
  function upsertUser(u) {
    const existing = users.get(u.userID);
    const user = existing || { userID: u.userID, messages: new Map(), unread: 0, hasMore: false };
    user.username = u.username;
    user.connected = u.connected;
    if ("lastSeen" in u) user.lastSeen = u.lastSeen;
    if ("hasMore" in u && !existing) user.hasMore = u.hasMore;
    if ("unread" in u) user.unread = u.unread;
    for (const m of u.messages || []) addMessage(user, m);
    users.set(u.userID, user);
    return user;
  }
  function addMessage(user, m) {
    if (m.id === undefined) return false;
    const fresh = !user.messages.has(m.id);
    user.messages.set(m.id, Object.assign({}, m, { state: user.messages.get(m.id)?.state || "sent" }));
    if (m.clientId) saveOutbox(loadOutbox().filter((p) => p.clientId !== m.clientId));
    return fresh;
  }
  function peerOf(m) { return m.from === me.userID ? m.to : m.from; }
  function markRead(peer) {
    if (!peer || document.hidden) return;
    const ids = [...peer.messages.values()].filter((m) => m.from === peer.userID).map((m) => m.id);
    if (!ids.length) { peer.unread = 0; return; }
    const upTo = Math.max(...ids);
    if (peer.readUpTo >= upTo) return;
    peer.readUpTo = upTo;
    peer.unread = 0;
    socket.emit("read", { with: peer.userID, upTo: upTo });
  }
  function select(userID) {
    selected = userID;
    history.replaceState(null, "", "?with=" + encodeURIComponent(userID));
    const peer = users.get(userID);
    markRead(peer);
    renderUsers();
    renderConversation();
    els.typing.textContent = "";
    els.input.focus();
  }

  // --- sending ----------------------------------------------------------------------------
  function sendPending(m) {
    if (!socket.connected) return;
    socket.timeout(10000).emit("private message", { content: m.content, to: m.to, clientId: m.clientId }, (err, ack) => {
      if (err) { m.state = "failed"; renderConversation(); return; }
      if (ack && ack.ok) {
        const peer = users.get(ack.message.to === me.userID ? ack.message.from : ack.message.to);
        saveOutbox(loadOutbox().filter((p) => p.clientId !== m.clientId));
        if (peer) addMessage(peer, ack.message);
      } else {
        saveOutbox(loadOutbox().filter((p) => p.clientId !== m.clientId));
        showBanner("Not sent: " + ((ack && ack.detail) || "unknown error"), true);
      }
      renderConversation();
    });
  }
  els.composer.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const content = els.input.value;
    if (!content.trim() || !selected) return;
    const m = { clientId: newClientId(), content: content, from: me.userID, to: selected, state: "sending" };
    saveOutbox(loadOutbox().concat([m]));
    els.input.value = "";
    renderConversation();
    sendPending(m);
    els.input.focus();
  });
  els.input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      els.composer.requestSubmit();
    }
  });
  els.input.addEventListener("input", () => {
    const now = Date.now();
    if (selected && selected !== me.userID && now - lastTypingSent > 3000) {
      lastTypingSent = now;
      socket.emit("typing", { to: selected });
    }
  });
  els.older.addEventListener("click", () => {
    const peer = users.get(selected);
    if (!peer) return;
    const ids = [...peer.messages.keys()];
    const before = ids.length ? Math.min(...ids) : undefined;
    socket.emit("fetch messages", { with: peer.userID, before: before }, (ack) => {
      if (!ack || !ack.ok) return;
      for (const m of ack.messages) addMessage(peer, m);
      peer.hasMore = ack.hasMore;
      renderConversation(true);
    });
  });
  els.back.addEventListener("click", (ev) => {
    ev.preventDefault();
    selected = null;
    history.replaceState(null, "", "./");
    document.body.classList.remove("has-peer");
    renderUsers();
  });

  // --- connection -------------------------------------------------------------------------
  function showBanner(text, isError) {
    els.banner.textContent = text;
    els.banner.classList.toggle("error", !!isError);
    els.banner.hidden = !text;
  }
  socket.on("connect", () => {
    showBanner("");
    for (const m of loadOutbox()) sendPending(m);
  });
  socket.on("disconnect", () => showBanner("Connection lost. Reconnecting… Messages you send will be delivered when it is back."));
  socket.on("connect_error", (err) => {
    if (err && err.message === "invalid username") { window.location.reload(); return; }
    showBanner("Cannot reach the chat (" + (err && err.message) + "). Retrying…");
  });
  socket.on("session", ({ userID }) => { me.userID = userID; });
  socket.on("users", (list) => {
    for (const u of list) upsertUser(u);
    if (selected) markRead(users.get(selected));
    renderUsers();
    renderConversation();
  });
  socket.on("user connected", (u) => { upsertUser(u); renderUsers(); if (u.userID === selected) renderConversation(); });
  socket.on("user disconnected", (id) => {
    const u = users.get(id);
    if (u) { u.connected = false; u.lastSeen = new Date().toISOString(); renderUsers(); if (id === selected) renderConversation(); }
  });
  socket.on("private message", (m) => {
    const peerId = peerOf(m);
    const peer = users.get(peerId);
    if (!peer) return;
    if (addMessage(peer, m) && m.from !== me.userID) {
      if (peerId === selected && !document.hidden) markRead(peer);
      else peer.unread = (peer.unread || 0) + 1;
      if (peerId === selected) els.typing.textContent = "";
    }
    renderUsers();
    if (peerId === selected) renderConversation();
  });
  socket.on("read", ({ by, with: other, upTo }) => {
    if (by === me.userID) {
      const peer = users.get(other);
      if (peer) { peer.readUpTo = Math.max(peer.readUpTo || 0, upTo); peer.unread = [...peer.messages.values()].filter((m) => m.from === other && m.id > upTo).length; renderUsers(); }
    } else {
      const peer = users.get(by);
      if (!peer) return;
      for (const m of peer.messages.values()) if (m.from === me.userID && m.id <= upTo) m.state = "read";
      if (by === selected) renderConversation();
    }
  });
  socket.on("typing", ({ from }) => {
    if (from !== selected) return;
    const peer = users.get(from);
    els.typing.textContent = (peer ? peer.username : "Someone") + " is typing…";
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { els.typing.textContent = ""; }, 5000);
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden && selected) { markRead(users.get(selected)); renderUsers(); } });

  // Before the socket connects, the server-rendered page is what people see.
  for (const t of document.querySelectorAll("#messages time")) t.textContent = formatTime(t.dateTime);
})();
