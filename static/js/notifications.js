// Opt-in browser notifications for messages that arrive while the tab is hidden.

import { els, setText } from "./dom.js";
import { openConversation } from "./navigation.js";
import { me } from "./state.js";

const NOTIFY_KEY = "chat-notify:" + me.userID;

function wanted() {
  return "Notification" in window && Notification.permission === "granted" && localStorage.getItem(NOTIFY_KEY) === "on";
}

function renderButton() {
  els.notifySetting.hidden = !("Notification" in window && Notification.permission !== "denied");
  setText(els.notify, wanted() ? "Turn off notifications" : "Turn on notifications");
}

/** Shows the setting's button when the browser allows notifications, and toggles them. */
export function wireNotifications() {
  els.notify.addEventListener("click", async () => {
    if (wanted()) localStorage.removeItem(NOTIFY_KEY);
    else if ((await Notification.requestPermission()) === "granted") localStorage.setItem(NOTIFY_KEY, "on");
    renderButton();
  });
  renderButton();
}

/** Notifies of message `m` from `peer` when the tab is hidden and the user asked for it. */
export function notify(peer, m) {
  if (!document.hidden || !wanted()) return;
  try {
    const n = new Notification(peer.username, { body: m.content.slice(0, 200), tag: "chat-" + peer.userID });
    n.addEventListener("click", () => { window.focus(); openConversation(peer.userID); n.close(); });
  } catch (e) { /* some browsers only allow notifications from a service worker */ }
}
