// Subscribers for tests/integration/test_loss.py: N unmodified @trpc/client wsLink
// clients, each on its own WebSocket, each with messages.onMessage on one room. Every
// socket is terminate()d (abrupt TCP close, no closing handshake) at random moments;
// the client reconnects by itself and resubscribes with the last tracked id it saw.
//
// Environment: WS_URL, TOKENS (JSON array, one per subscriber), ROOM_ID, EXPECTED
// (events each subscriber must end with), KILL_MIN_MS, KILL_MAX_MS, TIMEOUT_MS,
// SETTLE_MS (how long to keep listening after the last subscriber is complete).
// stdout: "READY" once every subscriber saw `started`, then one "RESULT <json>" line.
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import WebSocket from 'ws';

const env = process.env;
const tokens = JSON.parse(env.TOKENS);
const roomId = Number(env.ROOM_ID);
const expected = Number(env.EXPECTED);
const killMin = Number(env.KILL_MIN_MS ?? 150);
const killMax = Number(env.KILL_MAX_MS ?? 900);
const timeoutMs = Number(env.TIMEOUT_MS ?? 45000);
const settleMs = Number(env.SETTLE_MS ?? 700);

const subscribers = tokens.map((token, index) => {
  const state = {
    index,
    events: [], // [trackedId, type, messageId, text]
    kills: 0,
    starts: 0,
    opens: 0,
    errors: [],
    sockets: new Set(),
    done: false,
  };
  class KillableWebSocket extends WebSocket {
    constructor(url) {
      super(url);
      state.sockets.add(this);
      this.on('open', () => state.opens++);
      this.on('close', () => state.sockets.delete(this));
      this.on('error', () => {});
    }
  }
  const wsClient = createWSClient({
    url: env.WS_URL,
    WebSocket: KillableWebSocket,
    connectionParams: { token },
  });
  const client = createTRPCClient({ links: [wsLink({ client: wsClient })] });
  const subscription = client.messages.onMessage.subscribe(
    { roomId },
    {
      onStarted() {
        state.starts++;
        if (state.starts === 1) maybeReady();
      },
      onData(event) {
        const msg = event.data.message;
        state.events.push([event.id, event.data.type, msg.id, msg.text]);
        if (state.events.length >= expected && !state.done) {
          state.done = true;
          maybeFinish();
        }
      },
      onError(err) {
        state.errors.push(String(err?.message ?? err));
      },
    },
  );
  state.close = () => {
    subscription.unsubscribe();
    wsClient.close();
  };
  return state;
});

let readySent = false;
function maybeReady() {
  if (!readySent && subscribers.every((s) => s.starts > 0)) {
    readySent = true;
    process.stdout.write('READY\n');
    for (const s of subscribers) scheduleKill(s);
  }
}

let killing = true;
function scheduleKill(state) {
  const delay = killMin + Math.random() * (killMax - killMin);
  setTimeout(() => {
    if (!killing) return;
    for (const socket of state.sockets) {
      if (socket.readyState === WebSocket.OPEN) {
        socket.terminate();
        state.kills++;
      }
    }
    scheduleKill(state);
  }, delay);
}

let finished = false;
function maybeFinish(force = false) {
  if (finished || (!force && !subscribers.every((s) => s.done))) return;
  finished = true;
  killing = false;
  // Keep listening a little: a duplicate or a stray event would show up now.
  setTimeout(
    () => {
      const result = subscribers.map((s) => ({
        index: s.index,
        events: s.events,
        kills: s.kills,
        starts: s.starts,
        opens: s.opens,
        errors: s.errors,
      }));
      process.stdout.write(`RESULT ${JSON.stringify({ timedOut: force, subscribers: result })}\n`);
      for (const s of subscribers) s.close();
      setTimeout(() => process.exit(0), 200);
    },
    force ? 0 : settleMs,
  );
}

setTimeout(() => maybeFinish(true), timeoutMs);
