// Subscribers for tests/scaleout/test_process_crash.py: one unmodified @trpc/client
// (createWSClient + wsLink) per user, each with messages.onMessage on one room, each
// starting on its own process. When a socket is lost the client reconnects by itself;
// its `url` option is an async function, re-evaluated on every connect, that returns
// the next process answering /health (nextLiveUrl), so a client of a killed process
// resumes on another one and resubscribes with the last tracked id it saw.
//
// The reconnections are held until the test writes "RELEASE" on stdin, so the test can
// first watch the killed process's users go offline; the first connections are not held.
//
// Environment: PROCS (JSON [[httpUrl, wsUrl], ...]), SUBSCRIBERS (JSON [{token, start}]),
// ROOM_ID, EXPECTED (events each subscriber must end with), TIMEOUT_MS.
// stdout: "READY" once every subscriber saw `started`; "RECONNECTED <n>" each time a held
// client got its url; at the end one "RESULT <json>" line.
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import WebSocket from 'ws';

const env = process.env;
const procs = JSON.parse(env.PROCS);
const specs = JSON.parse(env.SUBSCRIBERS);
const roomId = Number(env.ROOM_ID);
const expected = Number(env.EXPECTED);
const timeoutMs = Number(env.TIMEOUT_MS ?? 60000);

let release;
const released = new Promise((resolve) => {
  release = resolve;
});
let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  if (buffer.includes('RELEASE')) release();
  if (buffer.includes('FINISH')) finish('finish requested');
});

async function isLive(httpUrl) {
  try {
    const response = await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(500) });
    return response.ok;
  } catch {
    return false;
  }
}

let heldReconnects = 0;
const subscribers = specs.map((spec, index) => {
  const state = {
    index,
    ids: [], // tracked ids, in arrival order, duplicates included
    messageIds: [],
    urls: [], // the WebSocket URL of each connection
    starts: 0,
    errors: [],
    states: [],
  };
  let next = spec.start;
  // nextLiveUrl: this subscriber's process first, then the next ones that answer /health.
  async function nextLiveUrl() {
    if (state.urls.length > 0) {
      await released;
      heldReconnects++;
      process.stdout.write(`RECONNECTED ${heldReconnects}\n`);
    }
    for (;;) {
      for (let k = 0; k < procs.length; k++) {
        const [httpUrl, wsUrl] = procs[(next + k) % procs.length];
        if (await isLive(httpUrl)) {
          next = (next + k) % procs.length;
          state.urls.push(wsUrl);
          return wsUrl;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  const wsClient = createWSClient({
    url: nextLiveUrl,
    WebSocket,
    connectionParams: { token: spec.token },
    onClose(cause) {
      state.states.push(`close:${cause?.code ?? '?'}`);
      next = (next + 1) % procs.length; // the one that dropped us goes to the back
    },
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
        state.ids.push(Number(event.id));
        state.messageIds.push(event.data.message.id);
        maybeFinish();
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
  }
}

function complete(s) {
  return new Set(s.ids).size >= expected;
}

let settle = null;
function maybeFinish() {
  if (settle === null && subscribers.every(complete)) {
    // Keep listening a little: a duplicate arriving late must be seen.
    settle = setTimeout(() => finish('complete'), 500);
  }
}

let finished = false;
function finish(reason) {
  if (finished) return;
  finished = true;
  const result = {
    reason,
    heldReconnects,
    subscribers: subscribers.map((s) => ({
      index: s.index,
      ids: s.ids,
      messageIds: s.messageIds,
      urls: s.urls,
      starts: s.starts,
      errors: s.errors,
      states: s.states,
    })),
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  for (const s of subscribers) s.close();
  setTimeout(() => process.exit(0), 200);
}

setTimeout(() => finish('timeout'), timeoutMs);
