// Message search (PROTOCOL.md B9): all conversations or the open one, matches highlighted
// with <mark> around text nodes (never markup from the content), a result opens its
// conversation at that message, with the history around it loaded.

import { cloneTemplate, els, setText } from "./dom.js";
import { displayName, formatTime, fullTime } from "./format.js";
import { loadAround } from "./history.js";
import { openConversation } from "./navigation.js";
import { lookupUser } from "./search.js";
import { socket } from "./socket.js";
import { config, me, peerOf, store } from "./state.js";
import { renderConversation } from "./conversation.js";

const $ = (id) => document.getElementById(id);
const form = $("message-search-form");
const input = $("message-search");
const here = $("message-search-here");
const results = $("message-results");
const status = $("message-search-status");
const WORD = /[\p{L}\p{N}]+/gu; // a word, as the server splits them (B9)

let seq = 0;
let timer = null;

/** Appends `text` to `node` as text nodes, with every word that a query word begins marked. */
export function highlight(node, text, words) {
  let at = 0;
  for (const match of text.matchAll(WORD)) {
    const word = match[0].toLowerCase();
    const hit = words.filter((w) => word.startsWith(w)).sort((a, b) => b.length - a.length)[0];
    if (!hit) continue;
    const start = match.index;
    // A marked prefix is as long as the query word, in the original's own characters.
    const end = start + [...match[0]].slice(0, [...hit].length).join("").length;
    node.append(document.createTextNode(text.slice(at, start)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(start, end);
    node.append(mark);
    at = end;
  }
  node.append(document.createTextNode(text.slice(at)));
}

function hitItem(m, words) {
  const li = cloneTemplate("message-hit-template");
  const a = li.querySelector("a");
  const peerId = peerOf(m);
  const peer = store.users.get(peerId);
  a.href = "?with=" + encodeURIComponent(peerId) + "#m-" + m.id;
  a.dataset.peer = peerId;
  a.dataset.id = m.id;
  const who = m.from === me.userID ? "You to " + (peer ? displayName(peer) : "someone") : (peer ? peer.username : "Someone");
  setText(li.querySelector(".hit-peer"), who);
  const time = li.querySelector("time");
  time.dateTime = m.createdAt;
  time.title = fullTime(m.createdAt);
  setText(time, formatTime(m.createdAt));
  highlight(li.querySelector(".hit-content"), m.content, words);
  return li;
}

function clear() {
  results.replaceChildren();
  results.hidden = true;
  setText(status, "");
}

async function run() {
  const q = input.value.trim();
  const words = (q.match(WORD) || []).map((w) => w.toLowerCase());
  const mine = ++seq;
  if (!words.length) { clear(); return; }
  if (!socket.connected) { setText(status, "Search needs the connection; it is not back yet."); return; }
  const req = { q: q.slice(0, 200), limit: 20 };
  if (here.checked && store.selected) req.with = store.selected;
  setText(status, "Searching…");
  const ack = await new Promise((resolve) => {
    socket.timeout(config.sendTimeoutMs).emit("search messages", req, (err, res) => resolve(err ? null : res));
  });
  if (mine !== seq) return; // a newer search is under way
  if (!ack || !ack.ok) { setText(status, "Search is unavailable right now."); return; }
  // Unlisted peers (found only by search) need their names before they can be shown.
  await Promise.all(ack.messages.map(peerOf).filter((id) => !store.users.has(id)).map(lookupUser));
  if (mine !== seq) return;
  results.replaceChildren(...ack.messages.map((m) => hitItem(m, words)));
  results.hidden = !ack.messages.length;
  const n = ack.messages.length;
  setText(status, n ? n + (ack.hasMore ? "+" : "") + (n === 1 ? " message" : " messages") + " found" : "No messages found");
}

/** Opens the conversation of message `id` with `peerId`, scrolled to it and focused. */
async function jumpTo(peerId, id) {
  openConversation(peerId);
  await loadAround(store.users.get(peerId), id);
  if (store.selected !== peerId) return;
  renderConversation();
  const li = document.getElementById("m-" + id);
  if (!li) { setText(status, "That message is no longer there."); return; }
  for (const old of els.messages.querySelectorAll(".found")) old.classList.remove("found");
  li.classList.add("found");
  li.tabIndex = -1;
  li.scrollIntoView({ block: "center" });
  li.focus({ preventScroll: true });
}

/** Shows the message search, searching as one types (debounced); a result jumps to it. */
export function wireMessageSearch() {
  form.hidden = false;
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 250); });
  input.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { input.value = ""; run(); } });
  here.addEventListener("change", run);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(timer); run(); });
  results.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.hit");
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    jumpTo(a.dataset.peer, Number(a.dataset.id));
  });
}

/** Keeps "Only the open conversation" usable only while one is open. */
export function renderSearchScope() {
  here.disabled = !store.selected;
  if (!store.selected) here.checked = false;
}
