// Times and presence in words. chat/relative_time.py words the server's first paint the same
// way, so that the script's first update changes nothing.

import { me, store } from "./state.js";

const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const STEPS = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];

/** "just now", "3 hours ago", "yesterday", …; "" for a malformed time. */
export function ago(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  if (isNaN(seconds)) return "";
  if (seconds > -45) return "just now";
  let value = seconds;
  for (const [size, unit] of STEPS) {
    if (Math.abs(value) < size) return rtf.format(Math.round(value), unit);
    value /= size;
  }
  return "";
}

/** A message time in local time: the hour today, date and hour before. */
export function formatTime(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const today = d.toDateString() === new Date().toDateString();
  return today
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/** The full local date and time, for a title attribute. */
export function fullTime(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleString();
}

/**
 * A user's presence as this page knows it: {state: "online"|"offline"|"unknown", text, title}.
 * Oneself is online unless this tab lost its connection; while it is lost (and until the
 * next `users` list) nobody else's status is known.
 */
export function presence(u) {
  if (u.userID === me.userID) {
    return store.linkDown ? { state: "offline", text: "offline", title: "" } : { state: "online", text: "online", title: "" };
  }
  if (!store.statusKnown) return { state: "unknown", text: "status unknown", title: "Reconnecting…" };
  if (u.connected) return { state: "online", text: "online", title: "" };
  if (u.lastSeen) return { state: "offline", text: "last seen " + ago(u.lastSeen), title: fullTime(u.lastSeen) };
  return { state: "offline", text: "offline", title: "" };
}

/** The name as listed: "(you)" marks oneself. */
export function displayName(u) {
  return u.username + (u.userID === me.userID ? " (you)" : "");
}

/** A file size in words, as Jinja's filesizeformat writes it on the first paint ("12.3 kB"). */
export function fileSize(bytes) {
  if (bytes === 1) return "1 Byte";
  if (bytes < 1000) return bytes + " Bytes";
  const units = ["kB", "MB", "GB", "TB"];
  let i = 0;
  while (i < units.length - 1 && bytes >= 1000 ** (i + 2)) i++;
  return (bytes / 1000 ** (i + 1)).toFixed(1) + " " + units[i];
}
