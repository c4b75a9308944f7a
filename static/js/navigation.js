// Which conversation is open: the users list, the back link and the browser's history.

import { els } from "./dom.js";
import { loadLatest } from "./history.js";
import { markRead } from "./reading.js";
import { renderAll } from "./render.js";
import { current, store } from "./state.js";
import { userLink } from "./users-list.js";

// Opens `userID`'s conversation (none for null), keeping each one's draft; `push`: false
// when the browser's history already moved (popstate).
function select(userID, push) {
  if (store.selected) store.drafts.set(store.selected, els.input.value);
  store.selected = userID && store.users.has(userID) ? userID : null;
  if (push !== false) {
    history.pushState({ with: store.selected }, "", store.selected ? "?with=" + encodeURIComponent(store.selected) : "./");
  }
  const peer = current();
  els.input.value = (peer && store.drafts.get(peer.userID)) || "";
  if (peer && !peer.loaded) loadLatest(peer);
  markRead(peer);
  renderAll("switch");
}

/** Opens `userID`'s conversation and puts the cursor in the composer. */
export function openConversation(userID) {
  select(userID);
  els.input.focus();
}

/** Opens conversations from the list, goes back from the back link and browser history. */
export function wireNavigation() {
  els.list.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.user");
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    openConversation(a.dataset.userId);
  });
  els.back.addEventListener("click", (ev) => {
    ev.preventDefault();
    const was = store.selected;
    select(null);
    const link = was && userLink(was);
    if (link) link.focus();
  });
  window.addEventListener("popstate", () => {
    select(new URLSearchParams(location.search).get("with"), false);
  });
}
