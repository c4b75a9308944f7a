// The page's fixed elements and the few DOM helpers every view uses. User-supplied strings
// only ever go through textContent, never innerHTML.

const $ = (id) => document.getElementById(id);

export const app = $("app");

// `log` and `messages` are replaced when another conversation opens (see conversation.js).
export const els = {
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
  settings: $("settings"),
  settingsPeer: document.querySelector(".settings-form input[name=peer]"),
  composerTo: document.querySelector("#composer input[name=to]"),
  send: $("send"),
  blockButton: $("block"),
  blockNote: $("block-note"),
  editingNote: $("editing-note"),
  deleteDialog: $("delete-dialog"),
  blockedSetting: $("blocked-setting"),
  blockedList: $("blocked-list"),
};

/** Writes `text` only when it differs, so live regions announce real changes only. */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Sets an attribute, or removes it for null, undefined and false. */
export function setAttr(node, name, value) {
  if (value === null || value === undefined || value === false) node.removeAttribute(name);
  else if (node.getAttribute(name) !== String(value)) node.setAttribute(name, value);
}

/** A fresh copy of the first element of the server-rendered <template id="…">. */
export function cloneTemplate(id) {
  return $(id).content.firstElementChild.cloneNode(true);
}

/** Puts `wanted` nodes in `parent` in this order, moving as little as possible; keeps focus. */
export function reconcile(parent, wanted) {
  const focused = parent.contains(document.activeElement) ? document.activeElement : null;
  const keep = new Set(wanted);
  for (const child of [...parent.children]) if (!keep.has(child)) child.remove();
  wanted.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
  });
  if (focused && document.activeElement !== focused && focused.isConnected) focused.focus();
}
