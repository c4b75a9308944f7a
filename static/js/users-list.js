// The users list (oneself first, then by name) and the unread total in the tab's title.

import { els, reconcile } from "./dom.js";
import { newUserRow, fillUserRow } from "./rows.js";
import { me, store } from "./state.js";

const rows = new Map(); // userID -> <li>

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

/** Redraws the list in place and the "(3) Private chat" title. */
export function renderUsers() {
  reconcile(els.list, sortedUsers().map(row));
  let total = 0;
  for (const u of store.users.values()) if (u.userID !== me.userID) total += u.unread || 0;
  document.title = (total ? "(" + total + ") " : "") + "Private chat";
}
