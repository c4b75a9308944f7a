// The chat page: live updates over Socket.IO on top of the server-rendered first paint.
// This module adopts the first paint, wires the others, and connects. The others:
//   state.js      the store (users, conversations, selection, connection) and its merges
//   outbox.js     unacknowledged messages in localStorage, shared by the user's tabs
//   drafts.js     unsent composer text and the waiting files' list, per conversation (localStorage)
//   socket.js     the one Socket.IO client
//   connection.js connect, reconnect, banner, and the server's news (users, messages)
//   send.js       the outbox sent in order, one at a time; composer; Retry, Discard, Cancel
//   uploads.js    choosing files: the attach button, paste, drag and drop
//   chosen-files.js   the files waiting beside the composer until Send: preview, alt text, Remove
//   lost-files.js the notices of chosen files this device could not keep, until dismissed
//   uploader.js   one upload with its progress bar and Cancel
//   outbox-files.js   a queued message's files, each uploaded once (Idempotency-Key), one tab at a time
//   filestore.js  the waiting and queued files in IndexedDB until their message is sent
//   previews.js   blob: previews of pictures still on this device
//   history.js    fetch messages: newest page, older pages, catch-up after a reconnect
//   reading.js    marking read; `read` events (badges, "Read" ticks)
//   typing.js     "… is typing", both ways
//   editing.js    editing and deleting one's own messages; blocking.js  Block / Unblock
//   navigation.js which conversation is open (list, back link, browser history)
//   search.js     people search, and looking up an unlisted sender
//   message-search.js   searching messages, highlighting matches, jumping to one
//   notifications.js, settings.js   opt-in notifications; the settings pop-over
//   render.js, users-list.js, conversation.js   the views, redrawn from the store in place
//   rows.js       fills the <template> markup of templates/rows.html (a user row, a message)
//   format.js     times and presence in words; dom.js   elements and DOM helpers

import { wireBlocking } from "./blocking.js";
import { wireConnection } from "./connection.js";
import { wireEditing } from "./editing.js";
import { adoptMessages, renderPeerStatus } from "./conversation.js";
import { wireHistory } from "./history.js";
import { wireNavigation } from "./navigation.js";
import { wireNotifications } from "./notifications.js";
import { markRead, wireReading } from "./reading.js";
import { renderAll } from "./render.js";
import { wireMessageSearch } from "./message-search.js";
import { wireSearch } from "./search.js";
import { wireSending } from "./send.js";
import { wireSettings } from "./settings.js";
import { socket } from "./socket.js";
import { current, store, upsertUser } from "./state.js";
import { wireTyping } from "./typing.js";
import { wireUploads } from "./uploads.js";
import { adoptUserRows, renderUsers, wireUsersList } from "./users-list.js";

// The server's state of the first paint (not scraped from the DOM); other conversations
// arrive by socket.
const initial = JSON.parse(document.getElementById("initial-state").textContent);
for (const u of initial.users) upsertUser(u, u.userID === initial.selected);
adoptUserRows();
store.selected = initial.selected && store.users.has(initial.selected) ? initial.selected : null;
if (store.selected) adoptMessages(store.selected);
history.replaceState({ with: store.selected }, "", location.href);

wireConnection();
wireReading();
wireTyping();
wireSending();
wireUploads();
wireEditing();
wireBlocking(() => renderAll());
wireHistory();
wireNavigation();
wireUsersList();
wireSearch();
wireMessageSearch();
wireNotifications();
wireSettings();

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") { markRead(current()); renderUsers(); }
});
// Relative times ("last seen 5 minutes ago") age while the page stays open.
setInterval(() => { renderUsers(); renderPeerStatus(); }, 30000);

renderAll("switch");
socket.connect();
