// Load generator for bench/run.py: Socket.IO clients over WebSocket only, in one Node process.
//
//   node load.js '<json spec>'
//
// Every scenario prints one JSON line to stdout ({"result": ...}); "idle" first prints
// {"ready": ...} and holds its connections until a line arrives on stdin. Progress and
// errors go to stderr. Every loop is bounded in count and in time: the process exits by
// itself when a scenario's deadline passes.
"use strict";

const { io } = require("socket.io-client");
const { performance } = require("node:perf_hooks");
const readline = require("node:readline");

const spec = JSON.parse(process.argv[2] || "{}");
const DEADLINE_MS = spec.deadlineMs || 120000;

function log(...args) {
  process.stderr.write(args.join(" ") + "\n");
}

function emitResult(result) {
  const cpu = process.cpuUsage();
  result.loadCpuS = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(JSON.stringify({ result }) + "\n");
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summary(values) {
  const s = Float64Array.from(values).sort();
  return {
    n: s.length,
    min: s.length ? s[0] : null,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1] : null,
  };
}

// One client: resolves with {socket, userID, sessionID, usersCount, ms} once `users` arrived.
function connect(url, auth, timeoutMs = 30000) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = io(url, {
      transports: ["websocket"],
      auth,
      reconnection: false,
      forceNew: true,
      timeout: timeoutMs,
    });
    let session = null;
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error("timeout waiting for users"));
    }, timeoutMs);
    socket.on("session", (s) => {
      session = s;
    });
    socket.once("users", (users) => {
      clearTimeout(timer);
      if (!session) {
        socket.close();
        reject(new Error("users before session"));
        return;
      }
      resolve({
        socket,
        userID: session.userID,
        sessionID: session.sessionID,
        usersCount: users.length,
        ms: performance.now() - started,
      });
    });
    socket.on("connect_error", (err) => {
      clearTimeout(timer);
      socket.close();
      reject(new Error("connect_error: " + (err && err.message)));
    });
  });
}

// Opens `n` clients, at most `concurrency` handshakes in flight; client i goes to urls[i % k].
async function connectMany(urls, n, prefix, concurrency, onSocket) {
  const clients = new Array(n);
  const errors = [];
  let next = 0;
  let presenceEvents = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      try {
        const c = await connect(urls[i % urls.length], { username: `${prefix}${i}` });
        c.socket.on("user connected", () => presenceEvents++);
        c.socket.on("user disconnected", () => presenceEvents++);
        if (onSocket) onSocket(c, i);
        clients[i] = c;
      } catch (err) {
        errors.push(String(err.message || err));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { clients: clients.filter(Boolean), errors, presenceEvents: () => presenceEvents };
}

function closeAll(clients) {
  for (const c of clients) c.socket.close();
}

// N clients connecting at once: time until every one of them has its `users` list.
async function online() {
  const started = performance.now();
  const { clients, errors, presenceEvents } = await connectMany(
    spec.urls, spec.n, spec.prefix, spec.concurrency || spec.n
  );
  const elapsed = performance.now() - started;
  const events = presenceEvents();
  closeAll(clients);
  emitResult({
    scenario: "online",
    n: spec.n,
    connected: clients.length,
    errors: errors.length,
    firstError: errors[0] || null,
    elapsedMs: elapsed,
    handshakeMs: summary(clients.map((c) => c.ms)),
    presenceEventsReceived: events,
  });
}

// `pairs` senders each send `messages` acknowledged messages to their own receiver, with at
// most `window` unacknowledged at a time. Sender i uses urls[0], receiver i urls[last], so
// with two processes every message crosses the message queue. With `spread`, sender i uses
// urls[i % k] and receiver i the next process, urls[(i + 1) % k]: every message still
// crosses, and each process stores the messages of 1/k of the senders.
async function relay() {
  const { urls, pairs, messages } = spec;
  const senderUrls = spec.spread ? urls : [urls[0]];
  const receiverUrls = spec.spread ? [...urls.slice(1), urls[0]] : [urls[urls.length - 1]];
  const windowSize = spec.window || 1;
  const rate = spec.rate || 0; // total msg/s offered (open loop); 0: closed loop, `window` in flight
  const sentAt = new Map(); // clientId -> performance.now() at emit
  const latencies = [];
  const delivered = new Set();
  let duplicates = 0;
  let lastDelivery = 0;

  const senders = await connectMany(senderUrls, pairs, `${spec.prefix}s`, 50);
  const receivers = await connectMany(
    receiverUrls,
    pairs,
    `${spec.prefix}r`,
    50,
    (c) => {
      c.socket.on("private message", (m) => {
        const t = performance.now();
        if (!m.clientId || !sentAt.has(m.clientId)) return;
        if (delivered.has(m.clientId)) {
          duplicates++;
          return;
        }
        delivered.add(m.clientId);
        latencies.push(t - sentAt.get(m.clientId));
        lastDelivery = t;
      });
    }
  );
  if (senders.clients.length !== pairs || receivers.clients.length !== pairs) {
    emitResult({
      scenario: "relay",
      error: "could not connect every client",
      firstError: senders.errors[0] || receivers.errors[0],
    });
    closeAll([...senders.clients, ...receivers.clients]);
    return;
  }

  let acked = 0;
  let ackErrors = 0;
  let firstAckError = null;
  const ackLatencies = [];
  const started = performance.now();

  function runSender(i) {
    return new Promise((resolve) => {
      const sender = senders.clients[i];
      const to = receivers.clients[i].userID;
      let sent = 0;
      let done = 0;
      function sendOne() {
        const seq = sent++;
        const clientId = `${sender.userID}-${seq}`;
        const t = performance.now();
        sentAt.set(clientId, t);
        sender.socket
          .timeout(30000)
          .emit("private message", { content: `message ${seq} from pair ${i}`, to, clientId }, (err, ack) => {
            done++;
            ackLatencies.push(performance.now() - t);
            if (err || !ack || !ack.ok) {
              ackErrors++;
              if (!firstAckError) firstAckError = err ? String(err) : JSON.stringify(ack);
            } else {
              acked++;
            }
            if (rate) {
              if (done === messages) resolve();
            } else if (sent < messages) sendOne();
            else if (done === messages) resolve();
          });
      }
      if (rate) {
        // Open loop: this sender's share of `rate` msg/s, on a fixed schedule, whatever
        // the acks do; senders start staggered across one interval.
        const interval = (1000 * pairs) / rate;
        const start = performance.now() + (interval * i) / pairs;
        const tick = () => {
          while (sent < messages && performance.now() >= start + sent * interval) sendOne();
          if (sent < messages) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
        };
        setTimeout(tick, Math.max(0, start - performance.now()));
      } else {
        for (let k = 0; k < Math.min(windowSize, messages); k++) sendOne();
      }
    });
  }

  await Promise.all(senders.clients.map((_, i) => runSender(i)));
  const ackedAt = performance.now();
  // Deliveries may trail the last ack a little: wait for them, bounded.
  const waitUntil = ackedAt + 5000;
  while (delivered.size < acked && performance.now() < waitUntil) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const end = Math.max(lastDelivery, ackedAt);
  closeAll([...senders.clients, ...receivers.clients]);
  emitResult({
    scenario: "relay",
    pairs,
    messages,
    window: rate ? null : windowSize,
    offeredPerS: rate || null,
    sent: pairs * messages,
    acked,
    ackErrors,
    firstAckError,
    delivered: delivered.size,
    lost: acked - delivered.size,
    duplicates,
    elapsedMs: end - started,
    msgPerS: delivered.size / ((end - started) / 1000),
    latencyMs: summary(latencies),
    ackMs: summary(ackLatencies),
  });
}

// N idle clients: connect them, report, hold them until stdin says so.
async function idle() {
  const started = performance.now();
  const { clients, errors } = await connectMany(
    spec.urls, spec.n, spec.prefix, spec.concurrency || 200
  );
  const elapsed = performance.now() - started;
  let lost = 0;
  for (const c of clients) c.socket.on("disconnect", () => lost++);
  process.stdout.write(
    JSON.stringify({ ready: { connected: clients.length, errors: errors.length, elapsedMs: elapsed } }) +
      "\n"
  );
  const rl = readline.createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once("line", resolve));
  rl.close();
  const stillConnected = clients.filter((c) => c.socket.connected).length;
  closeAll(clients);
  emitResult({
    scenario: "idle",
    n: spec.n,
    connected: clients.length,
    errors: errors.length,
    firstError: errors[0] || null,
    dropped: lost,
    stillConnected,
    elapsedMs: elapsed,
  });
}

// One seeded user per target connecting `repeat` times: connect-to-`users` time. The targets
// take turns, one connection at a time, so that every seed is measured under the same
// conditions (a shared machine's load drifts over a run).
async function connectTime() {
  const targets = spec.targets;
  const times = targets.map(() => []);
  const shape = targets.map(() => ({ usersCount: null, messagesCount: null }));
  for (let i = 0; i < spec.warmup + spec.repeat; i++) {
    for (let t = 0; t < targets.length; t++) {
      const started = performance.now();
      const c = await new Promise((resolve, reject) => {
        const socket = io(targets[t].url, {
          transports: ["websocket"],
          auth: { sessionID: targets[t].sessionID },
          reconnection: false,
          forceNew: true,
        });
        socket.once("users", (users) => resolve({ socket, users, ms: performance.now() - started }));
        socket.on("connect_error", (err) => reject(err));
      });
      if (i >= spec.warmup) times[t].push(c.ms);
      shape[t].usersCount = c.users.length;
      shape[t].messagesCount = c.users.reduce((n, u) => n + u.messages.length, 0);
      await new Promise((resolve) => {
        c.socket.once("disconnect", resolve);
        c.socket.close();
      });
    }
  }
  emitResult({
    scenario: "connect",
    repeat: spec.repeat,
    targets: targets.map((target, t) => ({ key: target.key, ...shape[t], ms: summary(times[t]) })),
  });
}

const scenarios = { online, relay, idle, connect: connectTime };
const timer = setTimeout(() => {
  log(`load: deadline of ${DEADLINE_MS} ms passed`);
  process.exit(3);
}, DEADLINE_MS);
scenarios[spec.scenario]()
  .then(() => {
    clearTimeout(timer);
    process.exit(0);
  })
  .catch((err) => {
    log("load:", err && err.stack ? err.stack : err);
    process.exit(2);
  });
