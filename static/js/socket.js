// The one Socket.IO client of the page, created unconnected: main.js connects it once every
// handler is in place. `io` comes from the vendored classic script loaded before the modules.

// A page that leaves says goodbye at once, so others see "last seen" now rather than after
// the ping timeout (about 45 s). The browser closes a WebSocket itself; on long-polling a
// beacon carries the close packet ("1"). (closeOnBeforeunload sends nothing while polling
// is paused for the WebSocket upgrade, and a beacon survives the unload.)
export const socket = window.io({ transports: ["polling", "websocket"], autoConnect: false });
addEventListener("pagehide", () => {
  const engine = socket.io.engine;
  if (engine && engine.readyState === "open" && engine.transport.name === "polling") {
    navigator.sendBeacon(engine.transport.uri(), "1");
  }
});
