// People search (find someone outside the capped list), and looking up someone unlisted
// who wrote first.

import { els, setText } from "./dom.js";
import { openConversation } from "./navigation.js";
import { fillUserRow, newUserRow } from "./rows.js";
import { store, upsertUser } from "./state.js";

let searchTimer = null;
let searchSeq = 0;
let found = new Map(); // userID -> the last results' entries
const lookups = new Map(); // userID -> the lookup under way

async function runSearch() {
  const q = els.search.value.trim();
  const seq = ++searchSeq;
  if (!q) {
    els.searchResults.hidden = true;
    els.searchResults.replaceChildren();
    setText(els.searchStatus, "");
    return;
  }
  let users;
  try {
    const res = await fetch("/api/users?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (res.status === 401) { location.assign("./"); return; }
    users = res.ok ? (await res.json()).users : null;
  } catch (e) {
    users = null;
  }
  if (seq !== searchSeq) return; // a newer search is under way
  if (!users) { setText(els.searchStatus, "Search is unavailable right now."); return; }
  found = new Map(users.map((u) => [u.userID, u]));
  els.searchResults.replaceChildren(...users.map((u) => fillUserRow(newUserRow(true), u)));
  els.searchResults.hidden = !users.length;
  const n = users.length;
  setText(els.searchStatus, n ? n + (n === 1 ? " person" : " people") + " found" : "Nobody found");
}

/** Searches as one types (debounced); a result opens that conversation. */
export function wireSearch() {
  els.search.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 200); });
  els.search.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { els.search.value = ""; runSearch(); } });
  els.searchForm.addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(searchTimer); runSearch(); });
  els.searchResults.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.result");
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    const u = found.get(a.dataset.userId);
    // A server-rendered result (no script data) is followed as a plain link.
    if (!u && !store.users.has(a.dataset.userId)) return;
    ev.preventDefault();
    if (u) upsertUser(u, false);
    els.search.value = "";
    runSearch();
    openConversation(a.dataset.userId);
  });
}

/** Learns the name of an unlisted user (who wrote to us) and lists them; the peer or null. */
export function lookupUser(userID) {
  if (!lookups.has(userID)) {
    lookups.set(userID, fetch("/api/users/" + encodeURIComponent(userID), { credentials: "same-origin" })
      .then((res) => (res.ok ? res.json() : null))
      .then((body) => (body && body.user ? upsertUser(body.user, false) : null))
      .catch(() => null)
      .finally(() => lookups.delete(userID)));
  }
  return lookups.get(userID);
}
