// Everything the page shows, redrawn from the store at once.

import { renderConversation } from "./conversation.js";
import { renderSearchScope } from "./message-search.js";
import { renderUsers } from "./users-list.js";

/** Redraws the users list and the open conversation (see renderConversation for `how`). */
export function renderAll(how) {
  renderUsers();
  renderConversation(how);
  renderSearchScope();
}
