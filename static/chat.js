// The chat page: live updates over Socket.IO on top of the server-rendered first paint.
// Every user-supplied string goes through textContent, never innerHTML; the DOM is updated in
// place (keyed by user and message) so that focus, scroll position and live regions survive.
(function () {
  "use strict";

  const app = document.getElementById("app");
  if (!app) return;
  const $ = (id) => document.getElementById(id);
  const me = { userID: app.dataset.userId, username: app.dataset.username };
  const els = {
    list: $("user-list"),
    search: $("user-search"),
    searchForm: $("search-form"),
    searchResults: $("search-results"),
    searchStatus: $("search-status"),
    messages: $("messages"),
    log: $("log"),
    scroller: $("scroller"),
    empty: $("empty-hint"),
    heading: $("conversation-heading"),
    peerStatus: $("peer-status"),
    composer: $("composer"),
    input: $("message-input"),
    banner: $("banner"),
    typing: $("typing"),
    older: $("load-older"),
    back: $("back"),
    notify: $("notify"),
    notifySetting: $("notify-setting"),
    logout: $("logout-form"),
    settingsPeer: document.querySelector(".settings-form input[name=peer]"),
  };
  const USERS_LIMIT = Number(app.dataset.usersLimit) || Infinity;
  const SEND_TIMEOUT_MS = 10000;
  const TYPING_EVERY_MS = 3000; // at most one "typing" event per 3 s
  const TYPING_SHOWN_MS = 5000; // a peer's indicator clears after this long without news
  const OUTBOX = "chat-outbox:" + me.userID;
  const NOTIFY = "chat-notify:" + me.userID;

  const users = new Map(); // userID -> peer (see upsertUser)
  const drafts = new Map(); // userID -> unsent composer text
  let selected = null;
  let lastTypingSent = 0;
  let flushing = false;
  let inflight = null; // clientId of the message awaiting its ack
  let flushTimer = null;
  let loadingOlder = false;
  let linkDown = false; // the connection failed or dropped and is not back yet

  // --- outbox: messages not yet acknowledged, in localStorage so they survive a reload ------
  // Every change reads, modifies and writes the stored list, so that tabs sharing it do not
  // overwrite each other's entries.
  let memoryOutbox = []; // used only when localStorage is unavailable
  function outbox() {
    try {
      const raw = JSON.parse(localStorage.getItem(OUTBOX));
      return Array.isArray(raw) ? raw : [];
    } catch (e) {
      return memoryOutbox.slice();
    }
  }
  function saveOutbox(list) {
    memoryOutbox = list;
    try {
      if (list.length) localStorage.setItem(OUTBOX, JSON.stringify(list));
      else localStorage.removeItem(OUTBOX);
    } catch (e) { /* storage disabled or full: the in-memory copy still sends */ }
  }
  function changeOutbox(fn) { saveOutbox(fn(outbox())); }
  function dropFromOutbox(clientId) { changeOutbox((list) => list.filter((p) => p.clientId !== clientId)); }
  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  // --- small helpers -----------------------------------------------------------------------
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
  function setAttr(node, name, value) {
    if (value === null || value === undefined || value === false) node.removeAttribute(name);
    else if (node.getAttribute(name) !== String(value)) node.setAttribute(name, value);
  }
  // Puts `wanted` nodes in `parent` in this order, moving as little as possible, and keeps focus.
  function reconcile(parent, wanted) {
    const focused = parent.contains(document.activeElement) ? document.activeElement : null;
    const keep = new Set(wanted);
    for (const child of [...parent.children]) if (!keep.has(child)) child.remove();
    wanted.forEach((node, i) => {
      if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
    });
    if (focused && document.activeElement !== focused && focused.isConnected) focused.focus();
  }
  const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  function ago(iso) {
    const seconds = (Date.parse(iso) - Date.now()) / 1000;
    if (isNaN(seconds)) return "";
    if (seconds > -45) return "just now";
    const steps = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];
    let value = seconds;
    for (const [size, unit] of steps) {
      if (Math.abs(value) < size) return rtf.format(Math.round(value), unit);
      value /= size;
    }
    return "";
  }
  function formatTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    const today = d.toDateString() === new Date().toDateString();
    return today
      ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }
  // Oneself is online unless this tab has lost its connection.
  function isOnline(u) { return u.userID === me.userID ? !linkDown : !!u.connected; }
  function statusText(u) {
    if (isOnline(u)) return "online";
    if (u.userID === me.userID) return "offline";
    return u.lastSeen ? "last seen " + ago(u.lastSeen) : "offline";
  }
  function displayName(u) { return u.username + (u.userID === me.userID ? " (you)" : ""); }

  // --- state ------------------------------------------------------------------------------
  // A peer: {userID, username, connected, lastSeen, messages: Map(id -> message), hasMore,
  // loaded (history fetched), unread, readUpTo (how far they read mine), myReadUpTo,
  // typingUntil}.
  function upsertUser(u, loaded) {
    let peer = users.get(u.userID);
    if (!peer) {
      peer = { userID: u.userID, messages: new Map(), hasMore: false, loaded: false, unread: 0, readUpTo: 0, myReadUpTo: 0, typingUntil: 0 };
      users.set(u.userID, peer);
    }
    if (u.username) peer.username = u.username;
    if ("connected" in u) peer.connected = !!u.connected;
    if ("lastSeen" in u) peer.lastSeen = u.lastSeen;
    else if (u.connected) peer.lastSeen = null;
    if (typeof u.unread === "number") peer.unread = u.unread;
    if (typeof u.readUpTo === "number") peer.readUpTo = Math.max(peer.readUpTo, u.readUpTo);
    const hadHistory = peer.loaded;
    for (const m of u.messages || []) addMessage(peer, m);
    if (loaded && !hadHistory) {
      peer.loaded = true;
      peer.hasMore = !!u.hasMore;
    }
    if (peer.unread === 0) peer.myReadUpTo = Math.max(peer.myReadUpTo, newestFrom(peer, peer.userID));
    return peer;
  }
  function addMessage(peer, m) {
    if (typeof m.id !== "number") return false;
    const fresh = !peer.messages.has(m.id);
    if (fresh) peer.messages.set(m.id, m);
    if (m.clientId && m.from === me.userID) dropFromOutbox(m.clientId);
    return fresh;
  }
  function newestFrom(peer, userID) {
    let newest = 0;
    for (const m of peer.messages.values()) if (m.from === userID && m.id > newest) newest = m.id;
    return newest;
  }
  function newestId(peer) { let n = 0; for (const id of peer.messages.keys()) if (id > n) n = id; return n; }
  function oldestId(peer) { let n = Infinity; for (const id of peer.messages.keys()) if (id < n) n = id; return n === Infinity ? undefined : n; }
  function peerOf(m) { return m.from === me.userID ? m.to : m.from; }
  function current() { return selected ? users.get(selected) : null; }
  function pendingFor(peerId) { return outbox().filter((p) => p.to === peerId); }

  // --- rendering: users list ---------------------------------------------------------------
  const userNodes = new Map(); // userID -> <li>
  function sortedUsers() {
    return [...users.values()].sort((a, b) => {
      if (a.userID === me.userID) return -1;
      if (b.userID === me.userID) return 1;
      // The server's order (case-folded name), so the first paint does not reshuffle.
      const x = a.username.toLowerCase(), y = b.username.toLowerCase();
      return x < y ? -1 : x > y ? 1 : a.userID < b.userID ? -1 : 1;
    });
  }
  function userNode(u) {
    let li = userNodes.get(u.userID);
    if (!li) {
      li = el("li");
      const a = el("a", "user");
      a.href = "?with=" + encodeURIComponent(u.userID);
      a.dataset.userId = u.userID;
      a.append(el("span", "name"), el("span", "status"), el("span", "badge"));
      li.append(a);
      userNodes.set(u.userID, li);
    }
    const a = li.firstElementChild;
    const status = statusText(u);
    const unread = u.userID === me.userID ? 0 : u.unread || 0;
    setText(a.querySelector(".name"), displayName(u));
    const statusNode = a.querySelector(".status");
    setText(statusNode, status);
    statusNode.className = "status " + (isOnline(u) ? "online" : "offline");
    const badge = a.querySelector(".badge");
    setText(badge, unread ? String(unread) : "");
    badge.hidden = !unread;
    // The accessible name starts with the username and spells out status and unread count.
    setAttr(a, "aria-label", displayName(u) + ", " + status + (unread ? ", " + unread + " unread" : ""));
    a.classList.toggle("selected", u.userID === selected);
    setAttr(a, "aria-current", u.userID === selected ? "page" : null);
    return li;
  }
  function renderUsers() {
    reconcile(els.list, sortedUsers().map(userNode));
    let total = 0;
    for (const u of users.values()) if (u.userID !== me.userID) total += u.unread || 0;
    document.title = (total ? "(" + total + ") " : "") + "Private chat";
  }

  // --- rendering: the conversation --------------------------------------------------------
  let msgNodes = new Map(); // "id:<id>" or "c:<clientId>" -> <li>
  let renderedPeer = null;
  function messageState(peer, m) {
    if (m.id === undefined) {
      if (m.failed) return ["failed", "Not sent: " + m.failed];
      return m.clientId === inflight || socket.connected ? ["sending", "Sending…"] : ["queued", "Waiting for connection"];
    }
    if (peer.userID !== me.userID && peer.readUpTo >= m.id) return ["read", "Read"];
    return ["sent", "Sent"];
  }
  function buildMessage(m, peer) {
    const own = m.from === me.userID;
    const li = el("li", "message" + (own ? " own" : ""));
    const meta = el("p", "meta");
    meta.append(el("span", "sender", own ? me.username : peer.username), " ", el("time"));
    li.append(meta, el("p", "content", m.content));
    return li;
  }
  function updateMessage(li, m, peer) {
    if (m.id !== undefined) li.dataset.id = m.id;
    if (m.clientId) li.dataset.clientId = m.clientId;
    const time = li.querySelector("time");
    const iso = m.createdAt || m.queuedAt;
    if (time && iso) {
      setAttr(time, "datetime", iso);
      setText(time, formatTime(iso));
      setAttr(time, "title", new Date(iso).toLocaleString());
    }
    if (m.from !== me.userID) return;
    const [state, text] = messageState(peer, m);
    let stateNode = li.querySelector(".state");
    if (!stateNode) { stateNode = el("p", "state"); li.append(stateNode); }
    setText(stateNode, text);
    setAttr(stateNode, "data-state", state);
    let actions = li.querySelector(".actions");
    if (state === "failed" && !actions) {
      actions = el("p", "actions");
      const retry = el("button", "retry", "Retry");
      retry.type = "button";
      retry.addEventListener("click", () => retrySend(m.clientId));
      const discard = el("button", "discard", "Discard");
      discard.type = "button";
      discard.addEventListener("click", () => { dropFromOutbox(m.clientId); renderConversation(); els.input.focus(); });
      actions.append(retry, " ", discard);
      li.append(actions);
    } else if (state !== "failed" && actions) {
      const hadFocus = actions.contains(document.activeElement);
      actions.remove();
      if (hadFocus) els.input.focus();
    }
  }
  function conversationItems(peer) {
    const stored = [...peer.messages.values()].sort((a, b) => a.id - b.id);
    const known = new Set(stored.map((m) => m.clientId).filter(Boolean));
    const pending = pendingFor(peer.userID).filter((p) => !known.has(p.clientId));
    return stored.concat(pending);
  }
  // how: "switch" (new conversation: to the bottom), "older" (keep the view still), or
  // undefined (follow new messages only if the reader is already at the bottom).
  function renderConversation(how) {
    const peer = current();
    document.body.classList.toggle("has-peer", !!peer);
    els.composer.hidden = !peer;
    if (els.settingsPeer) els.settingsPeer.value = peer ? peer.userID : "";
    if (!peer) {
      setText(els.heading, "Pick someone to chat with");
      setText(els.peerStatus, "");
      els.older.hidden = true;
      reconcile(els.messages, []);
      msgNodes = new Map();
      renderedPeer = null;
      els.empty.hidden = false;
      setText(els.empty, "Pick someone from the list to see your conversation.");
      renderTyping();
      return;
    }
    const box = els.scroller;
    const switching = renderedPeer !== peer.userID;
    if (switching) {
      how = "switch";
      msgNodes = new Map();
      renderedPeer = peer.userID;
    }
    const fromBottom = box.scrollHeight - box.scrollTop;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    setText(els.heading, displayName(peer));
    setText(els.peerStatus, peer.userID === me.userID ? "notes to yourself" : statusText(peer));
    els.older.hidden = !peer.hasMore;
    const items = conversationItems(peer);
    const next = new Map();
    const nodes = items.map((m) => {
      const key = m.id !== undefined ? "id:" + m.id : "c:" + m.clientId;
      // A pending message keeps its node when its ack turns it into a stored one.
      let li = msgNodes.get(key) || (m.clientId && msgNodes.get("c:" + m.clientId));
      if (!li) li = buildMessage(m, peer);
      updateMessage(li, m, peer);
      next.set(key, li);
      if (m.clientId) next.set("c:" + m.clientId, li);
      return li;
    });
    if (switching) {
      // A fresh log region: screen readers announce what is added to a live region, and a
      // whole history appearing at once is not news. A new region's content is not announced.
      const log = els.log.cloneNode(false);
      const list = els.messages.cloneNode(false);
      list.append(...nodes);
      log.append(list);
      els.log.replaceWith(log);
      els.log = log;
      els.messages = list;
    } else {
      reconcile(els.messages, nodes);
    }
    msgNodes = next;
    els.empty.hidden = items.length > 0;
    setText(els.empty, "No messages yet. Say hello!");
    if (how === "older") box.scrollTop = box.scrollHeight - fromBottom;
    else if (how === "switch" || how === "bottom" || atBottom) box.scrollTop = box.scrollHeight;
    renderTyping();
  }
  function renderTyping() {
    const peer = current();
    const typing = peer && peer.typingUntil > Date.now();
    setText(els.typing, typing ? peer.username + " is typing…" : "");
  }
  function renderAll(how) {
    renderUsers();
    renderConversation(how);
  }

  // --- reading ----------------------------------------------------------------------------
  // Opening a conversation in a visible tab marks it read up to the peer's newest message.
  function markRead(peer) {
    if (!peer || peer.userID === me.userID || document.visibilityState !== "visible") return;
    const upTo = newestFrom(peer, peer.userID);
    if (peer.unread === 0 && upTo <= peer.myReadUpTo) return;
    peer.unread = 0;
    if (!upTo || !socket.connected) return;
    peer.myReadUpTo = Math.max(peer.myReadUpTo, upTo);
    socket.emit("read", { with: peer.userID, upTo: upTo });
  }

  // --- selecting a conversation ------------------------------------------------------------
  function select(userID, push) {
    if (selected) drafts.set(selected, els.input.value);
    selected = userID && users.has(userID) ? userID : null;
    if (push !== false) history.pushState({ with: selected }, "", selected ? "?with=" + encodeURIComponent(selected) : "./");
    const peer = current();
    els.input.value = (peer && drafts.get(peer.userID)) || "";
    if (peer && !peer.loaded) loadLatest(peer);
    markRead(peer);
    renderAll("switch");
  }
  function openConversation(userID) {
    select(userID);
    els.input.focus();
  }
  els.list.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.user");
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    openConversation(a.dataset.userId);
  });
  els.back.addEventListener("click", (ev) => {
    ev.preventDefault();
    const was = selected;
    select(null);
    const link = was && userNodes.get(was);
    if (link) link.firstElementChild.focus();
  });
  window.addEventListener("popstate", () => {
    select(new URLSearchParams(location.search).get("with"), false);
  });

  // --- history: older pages and catch-up after a reconnect ----------------------------------
  function fetchPage(peer, before, limit) {
    return new Promise((resolve) => {
      if (!socket.connected) { resolve(null); return; }
      const req = { with: peer.userID };
      if (before !== undefined) req.before = before;
      if (limit) req.limit = limit;
      socket.timeout(SEND_TIMEOUT_MS).emit("fetch messages", req, (err, ack) => {
        if (!err && ack && !ack.ok && ack.error === "rate_limited") {
          setTimeout(() => fetchPage(peer, before, limit).then(resolve), ack.retryAfterMs || 500);
          return;
        }
        resolve(err || !ack || !ack.ok ? null : ack);
      });
    });
  }
  // Fetches pages backwards from `before` (newest when undefined) until reaching `knownId`,
  // so that every message after `knownId` is present once, whatever the gap's size.
  async function catchUp(peer, knownId, before) {
    for (let guard = 0; guard < 100; guard++) {
      const ack = await fetchPage(peer, before, 100);
      if (!ack) return;
      for (const m of ack.messages) addMessage(peer, m);
      if (!ack.hasMore || !ack.messages.length || ack.messages[0].id <= knownId) return;
      before = ack.messages[0].id;
    }
  }
  // A conversation added by hand (search, first message) gets its newest page on opening.
  async function loadLatest(peer) {
    const ack = await fetchPage(peer, undefined);
    if (!ack) return;
    for (const m of ack.messages) addMessage(peer, m);
    peer.loaded = true;
    peer.hasMore = ack.hasMore;
    markRead(current());
    renderAll();
  }
  async function loadOlder() {
    const peer = current();
    if (!peer || !peer.hasMore || loadingOlder) return;
    loadingOlder = true;
    els.older.setAttribute("aria-disabled", "true");
    setText(els.older, "Loading older messages…");
    const ack = await fetchPage(peer, oldestId(peer));
    loadingOlder = false;
    els.older.removeAttribute("aria-disabled");
    setText(els.older, "Load older messages");
    if (!ack) return;
    for (const m of ack.messages) addMessage(peer, m);
    peer.hasMore = ack.hasMore;
    const hadFocus = document.activeElement === els.older;
    if (current() === peer) renderConversation("older");
    if (hadFocus && els.older.hidden) els.scroller.focus();
  }
  els.older.addEventListener("click", loadOlder);
  els.scroller.addEventListener("scroll", () => {
    if (els.scroller.scrollTop < 80 && els.scroller.scrollHeight > els.scroller.clientHeight) loadOlder();
  }, { passive: true });

  // --- sending: one message at a time, in order, each with its clientId ----------------------
  const PERMANENT = new Set(["invalid_payload", "unknown_recipient", "too_long", "empty"]);
  let sendGeneration = 0; // bumped on disconnect: acks of an older connection are only data
  function nextToSend() {
    for (const p of outbox()) {
      if (!p.failed) return p;
      // A message that failed for a passing reason holds back later ones, so none overtakes it.
      if (!p.permanent) return null;
    }
    return null;
  }
  function flush() {
    clearTimeout(flushTimer);
    if (flushing || !socket.connected) return;
    const m = nextToSend();
    if (!m) return;
    flushing = true;
    inflight = m.clientId;
    const generation = sendGeneration;
    renderConversation();
    socket.timeout(SEND_TIMEOUT_MS).emit("private message", { content: m.content, to: m.to, clientId: m.clientId }, (err, ack) => {
      if (generation !== sendGeneration) {
        if (!err && ack && ack.ok) acked(ack.message);
        return;
      }
      flushing = false;
      inflight = null;
      if (err) {
        // No ack: if the connection is gone the message stays queued for the reconnect.
        if (socket.connected) markFailed(m.clientId, "the server did not answer", false);
      } else if (ack && ack.ok) {
        acked(ack.message);
      } else if (ack && ack.error === "rate_limited") {
        flushTimer = setTimeout(flush, ack.retryAfterMs || 1000);
        renderConversation();
        return;
      } else {
        const code = (ack && ack.error) || "invalid_payload";
        markFailed(m.clientId, (ack && ack.detail) || code, PERMANENT.has(code));
      }
      renderAll();
      flush();
    });
  }
  function acked(message) {
    dropFromOutbox(message.clientId);
    const peer = users.get(peerOf(message));
    if (peer) addMessage(peer, message);
  }
  function markFailed(clientId, detail, permanent) {
    changeOutbox((list) => list.map((p) => (p.clientId === clientId ? Object.assign({}, p, { failed: detail, permanent: permanent }) : p)));
  }
  function retrySend(clientId) {
    changeOutbox((list) => list.map((p) => (p.clientId === clientId ? Object.assign({}, p, { failed: undefined, permanent: undefined }) : p)));
    renderConversation();
    els.input.focus();
    flush();
  }
  els.composer.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const content = els.input.value;
    if (!content.trim() || !selected) return;
    const m = { clientId: newClientId(), content: content, from: me.userID, to: selected, queuedAt: new Date().toISOString() };
    changeOutbox((list) => list.concat([m]));
    els.input.value = "";
    drafts.delete(selected);
    lastTypingSent = 0;
    renderConversation("bottom");
    flush();
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
    if (!selected || selected === me.userID || !els.input.value.trim() || !socket.connected) return;
    if (now - lastTypingSent < TYPING_EVERY_MS) return;
    lastTypingSent = now;
    socket.emit("typing", { to: selected });
  });
  window.addEventListener("storage", (ev) => {
    if (ev.key === OUTBOX) renderConversation(); // another tab queued or sent something
  });
  if (els.logout) els.logout.addEventListener("submit", () => saveOutbox([]));

  // --- people search: find someone outside the list and start a conversation ----------------
  let searchTimer = null;
  let searchSeq = 0;
  let searchFound = new Map(); // userID -> the last results' entries
  async function runSearch() {
    const q = els.search.value.trim();
    const seq = ++searchSeq;
    if (!q) { els.searchResults.hidden = true; els.searchResults.replaceChildren(); setText(els.searchStatus, ""); return; }
    let found;
    try {
      const res = await fetch("/api/users?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (res.status === 401) { location.assign("./"); return; }
      found = res.ok ? (await res.json()).users : null;
    } catch (e) { found = null; }
    if (seq !== searchSeq) return; // a newer search is under way
    if (!found) { setText(els.searchStatus, "Search is unavailable right now."); return; }
    searchFound = new Map(found.map((u) => [u.userID, u]));
    els.searchResults.replaceChildren(...found.map((u) => {
      const li = el("li");
      const a = el("a", "user result", displayName(u) + ", " + statusText(u));
      a.href = "?with=" + encodeURIComponent(u.userID);
      a.dataset.userId = u.userID;
      li.append(a);
      return li;
    }));
    els.searchResults.hidden = !found.length;
    setText(els.searchStatus, found.length ? found.length + (found.length === 1 ? " person" : " people") + " found" : "Nobody found");
  }
  els.search.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 200); });
  els.search.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { els.search.value = ""; runSearch(); } });
  els.searchForm.addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(searchTimer); runSearch(); });
  els.searchResults.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.result");
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    const u = searchFound.get(a.dataset.userId);
    // A server-rendered result (no script data) is followed as a plain link.
    if (!u && !users.has(a.dataset.userId)) return;
    ev.preventDefault();
    if (u) upsertUser(u, false);
    els.search.value = "";
    runSearch();
    openConversation(a.dataset.userId);
  });
  // Someone outside the list wrote to us: learn their name and add them.
  const lookups = new Map();
  function lookupUser(userID) {
    if (!lookups.has(userID)) {
      lookups.set(userID, fetch("/api/users/" + encodeURIComponent(userID), { credentials: "same-origin" })
        .then((res) => (res.ok ? res.json() : null))
        .then((body) => (body && body.user ? upsertUser(body.user, false) : null))
        .catch(() => null)
        .finally(() => lookups.delete(userID)));
    }
    return lookups.get(userID);
  }

  // --- the settings pop-over closes like a menu: Escape, or a click elsewhere ------------------
  const settings = $("settings");
  settings.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && settings.open) { settings.open = false; settings.querySelector("summary").focus(); }
  });
  document.addEventListener("click", (ev) => { if (settings.open && !settings.contains(ev.target)) settings.open = false; });

  // --- attention: unread count in the title, opt-in notifications ---------------------------
  function notificationsWanted() {
    return "Notification" in window && Notification.permission === "granted" && localStorage.getItem(NOTIFY) === "on";
  }
  function renderNotifyButton() {
    const supported = "Notification" in window && Notification.permission !== "denied";
    els.notifySetting.hidden = !supported;
    setText(els.notify, notificationsWanted() ? "Turn off notifications" : "Turn on notifications");
  }
  els.notify.addEventListener("click", async () => {
    if (notificationsWanted()) localStorage.removeItem(NOTIFY);
    else if ((await Notification.requestPermission()) === "granted") localStorage.setItem(NOTIFY, "on");
    renderNotifyButton();
  });
  function notify(peer, m) {
    if (!document.hidden || !notificationsWanted()) return;
    try {
      const n = new Notification(peer.username, { body: m.content.slice(0, 200), tag: "chat-" + peer.userID });
      n.addEventListener("click", () => { window.focus(); openConversation(peer.userID); n.close(); });
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  }

  // --- connection ---------------------------------------------------------------------------
  // A page that leaves says goodbye at once, so others see "last seen" now rather than after
  // the ping timeout (about 45 s). The browser closes a WebSocket itself; on long-polling a
  // beacon carries the close packet ("1"). (closeOnBeforeunload sent nothing while polling
  // was paused for the WebSocket upgrade, and a beacon survives the unload.)
  const socket = io({ transports: ["polling", "websocket"] });
  addEventListener("pagehide", () => {
    const engine = socket.io.engine;
    if (engine && engine.readyState === "open" && engine.transport.name === "polling") navigator.sendBeacon(engine.transport.uri(), "1");
  });
  let retryConnect = 1000;
  // Which transport carries the connection (polling until the WebSocket upgrade), for support.
  socket.io.on("open", () => {
    app.dataset.transport = socket.io.engine.transport.name;
    socket.io.engine.on("upgrade", (transport) => { app.dataset.transport = transport.name; });
  });
  function showBanner(text, isError) {
    setText(els.banner, text);
    els.banner.classList.toggle("error", !!isError);
  }
  socket.on("connect", () => {
    retryConnect = 1000;
    linkDown = false;
    app.dataset.connection = "online";
    showBanner("");
    renderUsers();
    // Transient failures are retried on every (re)connection; refused messages wait for the user.
    changeOutbox((list) => list.map((p) => (p.failed && !p.permanent ? Object.assign({}, p, { failed: undefined }) : p)));
    renderConversation();
    flush();
  });
  socket.on("disconnect", (reason) => {
    sendGeneration++;
    flushing = false;
    inflight = null;
    linkDown = true;
    app.dataset.connection = "offline";
    showBanner("Connection lost. Reconnecting… Messages you send will be sent when the connection is back.");
    renderAll();
    if (reason === "io server disconnect") {
      // The server closed this socket: logged out in another tab, or the session ended.
      fetch("/api/users?q=", { credentials: "same-origin" }).then((res) => {
        if (res.status === 401) location.assign("./");
        else setTimeout(() => socket.connect(), retryConnect);
      }, () => setTimeout(() => socket.connect(), retryConnect));
    }
  });
  socket.on("connect_error", (err) => {
    const why = err && err.message;
    linkDown = true;
    app.dataset.connection = "offline";
    renderUsers();
    if (why === "invalid username") { location.assign("./"); return; } // session is gone
    const reason = { "rate limited": " (too many connections, slowing down)", unavailable: " (the server is having trouble)" }[why] || "";
    showBanner("Cannot reach the chat" + reason + ". Retrying… Messages you send will be sent when the connection is back.", true);
    if (!socket.active) {
      // Refused by the server (rate limited, storage down): retry ourselves, backing off.
      setTimeout(() => socket.connect(), retryConnect);
      retryConnect = Math.min(retryConnect * 2, 30000);
    }
  });
  socket.on("session", ({ userID }) => {
    if (userID !== me.userID) location.reload(); // another login replaced the cookie
  });
  socket.on("users", (list) => {
    const listed = new Set();
    const gaps = [];
    for (const u of list) {
      listed.add(u.userID);
      const known = users.get(u.userID);
      const knownId = known && known.loaded ? newestId(known) : 0;
      const peer = upsertUser(u, true);
      const first = u.messages && u.messages.length ? u.messages[0].id : undefined;
      // More was missed than one page holds: fetch the pages in between.
      if (knownId && u.hasMore && first !== undefined && first > knownId) gaps.push(catchUp(peer, knownId, first));
    }
    for (const peer of users.values()) {
      // Added by hand (search, first message): not in the capped list, so fetch their news.
      if (!listed.has(peer.userID) && peer.loaded) gaps.push(catchUp(peer, newestId(peer), undefined));
    }
    const open = current();
    if (open && !open.loaded) loadLatest(open); // opened before the connection was up
    markRead(open);
    renderAll();
    if (gaps.length) Promise.all(gaps).then(() => { markRead(current()); renderAll(); });
  });
  socket.on("user connected", (u) => {
    // A full (capped) list only follows the people it shows; others are found by search.
    if (!users.has(u.userID) && users.size >= USERS_LIMIT) return;
    upsertUser({ userID: u.userID, username: u.username, connected: true, lastSeen: null }, false);
    renderAll();
  });
  socket.on("user disconnected", (id) => {
    const u = users.get(id);
    if (!u) return;
    u.connected = false;
    u.lastSeen = new Date().toISOString();
    renderAll();
  });
  async function onMessage(m) {
    const peerId = peerOf(m);
    let peer = users.get(peerId);
    if (!peer) peer = await lookupUser(peerId);
    if (!peer) return;
    if (addMessage(peer, m) && m.from !== me.userID) {
      peer.typingUntil = 0;
      if (peerId === selected && document.visibilityState === "visible") markRead(peer);
      else if (peerId !== me.userID) peer.unread = (peer.unread || 0) + 1;
      notify(peer, m);
    }
    renderUsers();
    if (peerId === selected) renderConversation();
  }
  socket.on("private message", onMessage);
  socket.on("read", ({ by, with: other, upTo }) => {
    if (by === me.userID) {
      // This user read (in some tab): unread badges follow everywhere.
      const peer = users.get(other);
      if (!peer) return;
      peer.myReadUpTo = Math.max(peer.myReadUpTo, upTo);
      peer.unread = [...peer.messages.values()].filter((m) => m.from === other && m.id > peer.myReadUpTo).length;
    } else {
      // The peer read our messages: ticks turn to "Read".
      const peer = users.get(by);
      if (!peer) return;
      peer.readUpTo = Math.max(peer.readUpTo, upTo);
    }
    renderAll();
  });
  let typingTimer = null;
  socket.on("typing", ({ from }) => {
    const peer = users.get(from);
    if (!peer) return;
    peer.typingUntil = Date.now() + TYPING_SHOWN_MS;
    renderTyping();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(renderTyping, TYPING_SHOWN_MS + 50);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") { markRead(current()); renderUsers(); }
  });
  // Relative times ("last seen 5 minutes ago") age while the page stays open.
  setInterval(() => { renderUsers(); if (current()) setText(els.peerStatus, current().userID === me.userID ? "notes to yourself" : statusText(current())); }, 30000);

  // --- first paint: adopt the server-rendered nodes, then take over --------------------------
  const initial = JSON.parse($("initial-state").textContent);
  for (const u of initial.users) upsertUser(u, u.userID === initial.selected);
  for (const li of els.list.children) {
    const a = li.querySelector("a.user");
    if (a && users.has(a.dataset.userId)) {
      userNodes.set(a.dataset.userId, li);
      if (!a.querySelector(".badge")) a.append(el("span", "badge"));
    }
  }
  selected = initial.selected && users.has(initial.selected) ? initial.selected : null;
  if (selected) {
    renderedPeer = selected;
    for (const li of els.messages.children) if (li.dataset.id) msgNodes.set("id:" + li.dataset.id, li);
  }
  history.replaceState({ with: selected }, "", location.href);
  renderNotifyButton();
  renderAll("switch");
})();
