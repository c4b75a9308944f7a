// Files listed beside the composer whose bytes this device does not have: chosen a moment
// before a reload, before IndexedDB stored them (chosen-files.js lists a file at once), or
// evicted by the browser since. Each shows a notice, per conversation, until the user
// dismisses it: a chosen file never disappears unseen.

import { cloneTemplate, els, reconcile, setAttr, setText } from "./dom.js";
import { changeDraftFiles, draftFilesFor, markDraftFiles } from "./drafts.js";
import { store } from "./state.js";

const ui = { list: document.getElementById("lost-files") };
const notices = new Map(); // key -> <li>

function notice(f) {
  if (!notices.has(f.key)) {
    const li = cloneTemplate("lost-file-template");
    li.dataset.key = f.key;
    setText(li.querySelector(".lost-text"), String(f.name) + " could not be kept; choose it again.");
    setAttr(li.querySelector(".lost-dismiss"), "aria-label", "Dismiss the notice about " + f.name);
    notices.set(f.key, li);
  }
  return notices.get(f.key);
}

/** Shows the notices of the open conversation's files that could not be kept. */
export function renderLost() {
  const lost = store.selected ? draftFilesFor(store.selected).filter((f) => f.state === "lost") : [];
  reconcile(ui.list, lost.map(notice));
  ui.list.hidden = !lost.length;
}

/** Notes that the file listed under `key` for `peer` could not be kept, and shows it. */
export function markLost(peer, key) {
  markDraftFiles(peer, [key], "lost");
  renderLost();
}

/** Wires Dismiss: the notice and its listing go. */
export function wireLostFiles() {
  ui.list.addEventListener("click", (ev) => {
    const li = ev.target.closest(".lost-dismiss") && ev.target.closest("li");
    if (!li || !store.selected) return;
    changeDraftFiles(store.selected, (l) => l.filter((f) => f.key !== li.dataset.key));
    notices.delete(li.dataset.key);
    renderLost();
    els.input.focus();
  });
}
