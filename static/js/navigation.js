// Which conversation is open: the users list, the back link and the browser's history.

import { renderChosen } from "./chosen-files.js";
import { els } from "./dom.js";
import { draftFor, saveDraft } from "./drafts.js";
import { isEditing, leaveEdit } from "./editing.js";
import { loadLatest } from "./history.js";
import { markRead } from "./reading.js";
import { renderAll } from "./render.js";
import { current, store } from "./state.js";
import { userLink } from "./users-list.js";

// Opens `userID`'s conversation (none for null), with its draft; `push`: false
// when the browser's history already moved (popstate).
function select(userID, push) {
  store.selected = userID && store.users.has(userID) ? userID : null;
  leaveEdit();
  if (push !== false) {
    history.pushState({ with: store.selected }, "", store.selected ? "?with=" + encodeURIComponent(store.selected) : "./");
  }
  const peer = current();
  els.input.value = peer ? draftFor(peer.userID) : "";
  if (peer && !peer.loaded) loadLatest(peer);
  markRead(peer);
  renderChosen(); // the files chosen for that conversation, if any
  renderAll("switch");
}

/** Opens `userID`'s conversation and puts the cursor in the composer. */
export function openConversation(userID) {
  select(userID);
  els.input.focus();
}

/** Opens conversations from the list, goes back from the back link and browser history;
 * keeps the composer's text as the open conversation's draft. */
export function wireNavigation() {
  if (store.selected && !els.input.value) els.input.value = draftFor(store.selected);
  els.input.addEventListener("input", () => {
    if (store.selected && !isEditing()) saveDraft(store.selected, els.input.value);
  });
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
