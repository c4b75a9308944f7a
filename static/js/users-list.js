// The users list (oneself first, then by name) and the unread total in the tab's title.
// The list is one Tab stop (roving tabindex): Up/Down/Home/End move between people, Enter
// opens the conversation (the rows are links).

import { els, reconcile } from "./dom.js";
import { newUserRow, fillUserRow } from "./rows.js";
import { me, store } from "./state.js";

const rows = new Map(); // userID -> <li>
let roving = null; // userID of the row that takes the list's Tab stop

/** Takes over the server-rendered rows of listed users instead of building new ones. */
export function adoptUserRows() {
  for (const li of els.list.children) {
    const a = li.querySelector("a.user");
    if (a && store.users.has(a.dataset.userId)) rows.set(a.dataset.userId, li);
  }
}

/** The row link of `userID`, if listed. */
export function userLink(userID) {
  const li = rows.get(userID);
  return li ? li.querySelector("a.user") : null;
}

function sortedUsers() {
  return [...store.users.values()].sort((a, b) => {
    if (a.userID === me.userID) return -1;
    if (b.userID === me.userID) return 1;
    // The server's order (case-folded name), so the first paint does not reshuffle.
    const x = a.username.toLowerCase(), y = b.username.toLowerCase();
    return x < y ? -1 : x > y ? 1 : a.userID < b.userID ? -1 : 1;
  });
}

function row(u) {
  let li = rows.get(u.userID);
  if (!li) {
    li = newUserRow(false);
    rows.set(u.userID, li);
  }
  const unread = u.userID === me.userID ? 0 : u.unread || 0;
  return fillUserRow(li, u, { selected: u.userID === store.selected, unread });
}

// The row to Tab into: the one last moved to, else the open conversation, else the first.
function setTabStop(links) {
  const ids = links.map((a) => a.dataset.userId);
  if (!ids.includes(roving)) roving = ids.includes(store.selected) ? store.selected : ids[0];
  for (const a of links) a.tabIndex = a.dataset.userId === roving ? 0 : -1;
}

function listLinks() {
  return [...els.list.querySelectorAll("a.user")];
}

/** Redraws the list in place and the "(3) Private chat" title. */
export function renderUsers() {
  reconcile(els.list, sortedUsers().map(row));
  setTabStop(listLinks());
  let total = 0;
  for (const u of store.users.values()) if (u.userID !== me.userID) total += u.unread || 0;
  document.title = (total ? "(" + total + ") " : "") + "Private chat";
}

const MOVES = {
  ArrowDown: (i, n) => Math.min(i + 1, n - 1),
  ArrowUp: (i) => Math.max(i - 1, 0),
  Home: () => 0,
  End: (i, n) => n - 1,
};

/** Moves focus along the list with the arrow keys, Home and End. */
export function wireUsersList() {
  els.list.addEventListener("keydown", (ev) => {
    const move = MOVES[ev.key];
    const a = ev.target.closest("a.user");
    if (!move || !a || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    ev.preventDefault(); // the page would scroll instead
    const links = listLinks();
    const next = links[move(links.indexOf(a), links.length)];
    roving = next.dataset.userId;
    setTabStop(links);
    next.focus();
  });
  els.list.addEventListener("focusin", (ev) => {
    const a = ev.target.closest("a.user");
    if (a && a.dataset.userId !== roving) { roving = a.dataset.userId; setTabStop(listLinks()); }
  });
}
