// The one Socket.IO client of the page, created unconnected: main.js connects it once every
// handler is in place. `io` comes from the vendored classic script loaded before the modules.

// closeOnBeforeunload: a closed tab says goodbye at once, so others see "last seen" now
// rather than after the ping timeout (about 45 s) when it was still on long-polling.
export const socket = window.io({ transports: ["polling", "websocket"], closeOnBeforeunload: true, autoConnect: false });
