// Sessions with the official client (tests/integration/test_node_client.py runs this
// against a server with short tokens: JWT_EXPIRES_IN=EXPIRES_S, TOKEN_GRACE_SECONDS=GRACE_S).
// wsLink: refreshed in-band the socket lives on; unrefreshed it is cut with UNAUTHORIZED
// and a reconnect with a fresh token resumes. httpSubscriptionLink: an expired stream is
// closed and the link comes back with fresh connectionParams.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTRPCClient, createWSClient, httpSubscriptionLink, wsLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { TRPC_URL, WS_URL, collector, httpClient, registerUser } from './helpers.mjs';

const EXPIRES_S = Number(process.env.EXPIRES_S);
const GRACE_S = Number(process.env.GRACE_S);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function expiresAt(token) {
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  return claims.exp * 1000;
}

/** A user whose HTTP client keeps its token fresh (refreshed every half lifetime), as
 * a page would; call `stop()` at the end. */
async function signedIn(prefix) {
  const user = await registerUser(prefix);
  const state = { token: user.token, refreshToken: user.refreshToken };
  const timer = setInterval(async () => {
    const renewed = await httpClient().auth.refresh.mutate({ refreshToken: state.refreshToken });
    Object.assign(state, { token: renewed.token, refreshToken: renewed.refreshToken });
  }, (EXPIRES_S * 1000) / 2);
  return { ...user, state, client: httpClient(() => state.token), stop: () => clearInterval(timer) };
}

/** Sequence numbers of tracked events: lost and duplicated against 1..n. */
function audit(events, n) {
  const ids = events.map((e) => Number(e.id));
  const seen = new Set(ids);
  const lost = [];
  for (let i = 1; i <= n; i += 1) if (!seen.has(i)) lost.push(i);
  return { lost, duplicated: ids.length - seen.size, ordered: ids.every((v, i) => i === 0 || v > ids[i - 1]) };
}

test('a socket refreshed in-band 3 times over 300 messages keeps one connection and gets all 300', async () => {
  const alice = await signedIn('sess');
  const bob = await registerUser('sess');
  const room = await alice.client.rooms.create.mutate({ name: 'refresh', memberIds: [bob.user.id] });
  let auth = { token: bob.token, refreshToken: bob.refreshToken };
  let opens = 0;
  let closes = 0;
  const wsClient = createWSClient({
    url: WS_URL,
    WebSocket,
    // A function: a reconnect would use the token of the moment.
    connectionParams: () => ({ token: auth.token }),
    onOpen: () => {
      opens += 1;
    },
    onClose: () => {
      closes += 1;
    },
  });
  const client = createTRPCClient({ links: [wsLink({ client: wsClient })] });
  try {
    const live = collector();
    const sub = client.messages.onMessage.subscribe({ roomId: room.id }, live.callbacks);
    await live.until(() => live.started > 0);
    const started = Date.now();
    const sendMany = async (from, count) => {
      const texts = Array.from({ length: count }, (_, k) => `m${from + k}`);
      for (let k = 0; k < texts.length; k += 5) {
        await Promise.all(
          texts.slice(k, k + 5).map((text) => alice.client.messages.send.mutate({ roomId: room.id, text })),
        );
      }
    };
    // Four quarters of the stream with an in-band refresh between them, spread over
    // longer than the first token and its grace: only the refreshes keep it alive.
    const step = (EXPIRES_S * 1000) / 3;
    for (let quarter = 0; quarter < 4; quarter += 1) {
      await sendMany(quarter * 75 + 1, 75);
      if (quarter < 3) {
        await sleep(Math.max(0, started + (quarter + 1) * step - Date.now()));
        const renewed = await client.auth.refresh.mutate({ refreshToken: auth.refreshToken });
        assert.equal(renewed.user.id, bob.user.id);
        auth = { token: renewed.token, refreshToken: renewed.refreshToken };
      }
    }
    await sleep(Math.max(0, expiresAt(bob.token) + (GRACE_S + 0.5) * 1000 - Date.now()));
    await live.until(() => live.events.length >= 300, 20000);
    assert.ok(Date.now() > expiresAt(bob.token) + GRACE_S * 1000, 'outlived the first token');
    assert.deepEqual(audit(live.events, 300), { lost: [], duplicated: 0, ordered: true });
    assert.equal(live.error, null);
    assert.equal((await client.auth.me.query()).id, bob.user.id);
    assert.deepEqual({ opens, closes }, { opens: 1, closes: 0 });
    console.log(`[sessions] wsLink: 300 messages, 3 in-band refreshes, ${opens} connection, lost 0, duplicated 0`);
    sub.unsubscribe();
  } finally {
    wsClient.close();
    alice.stop();
  }
});

test('an unrefreshed socket is cut with UNAUTHORIZED after the grace and resumes on a fresh token', async () => {
  const alice = await signedIn('sess');
  const carol = await registerUser('sess');
  const room = await alice.client.rooms.create.mutate({ name: 'expiry', memberIds: [carol.user.id] });
  const first = createWSClient({ url: WS_URL, WebSocket, connectionParams: () => ({ token: carol.token }) });
  const live = collector();
  let sent = 0;
  const send = async (n) => {
    for (let i = 0; i < n; i += 1) {
      sent += 1;
      await alice.client.messages.send.mutate({ roomId: room.id, text: `e${sent}` });
    }
  };
  try {
    createTRPCClient({ links: [wsLink({ client: first })] }).messages.onMessage.subscribe(
      { roomId: room.id },
      live.callbacks,
    );
    await live.until(() => live.started > 0);
    await send(5);
    await live.until(() => live.events.length >= 5);
    const deadline = expiresAt(carol.token) + GRACE_S * 1000;
    await live.until(() => live.error !== null, deadline - Date.now() + 5000);
    assert.equal(live.error.data.code, 'UNAUTHORIZED');
    assert.ok(Date.now() >= deadline - 200, `cut ${deadline - Date.now()} ms before the grace ended`);
  } finally {
    first.close();
  }
  await send(5); // while carol is away

  const renewed = await httpClient().auth.refresh.mutate({ refreshToken: carol.refreshToken });
  const second = createWSClient({ url: WS_URL, WebSocket, connectionParams: () => ({ token: renewed.token }) });
  const resumed = collector();
  try {
    createTRPCClient({ links: [wsLink({ client: second })] }).messages.onMessage.subscribe(
      { roomId: room.id, lastEventId: live.events.at(-1).id },
      resumed.callbacks,
    );
    await resumed.until(() => resumed.events.length >= 5);
    await send(5);
    await resumed.until(() => resumed.events.length >= 10);
    const all = [...live.events, ...resumed.events];
    assert.deepEqual(audit(all, 15), { lost: [], duplicated: 0, ordered: true });
    console.log('[sessions] wsLink: cut with UNAUTHORIZED after the grace, resumed, lost 0, duplicated 0');
  } finally {
    second.close();
    alice.stop();
  }
});

test('an SSE stream outliving its token is closed and the link comes back with fresh connectionParams', async () => {
  const alice = await signedIn('sess');
  const dave = await signedIn('sess');
  const room = await alice.client.rooms.create.mutate({ name: 'sse expiry', memberIds: [dave.user.id] });
  const client = createTRPCClient({
    links: [
      httpSubscriptionLink({
        url: TRPC_URL,
        EventSource,
        // The page keeps its token fresh over HTTP (SSE has no way in-band); the stream
        // keeps the token it was opened with until it is closed.
        connectionParams: async () => ({ token: dave.state.token }),
      }),
    ],
  });
  const live = collector();
  const sub = client.messages.onMessage.subscribe({ roomId: room.id }, live.callbacks);
  try {
    await live.until(() => live.started > 0);
    const deadline = expiresAt(dave.token) + GRACE_S * 1000;
    let n = 0;
    while (Date.now() < deadline + 1500) {
      n += 1;
      await alice.client.messages.send.mutate({ roomId: room.id, text: `s${n}` });
      await sleep(100);
    }
    await live.until(() => live.events.length >= n, 10000);
    assert.equal(live.error, null);
    assert.ok(live.started >= 2, 'the stream was closed and opened again');
    assert.deepEqual(audit(live.events, n), { lost: [], duplicated: 0, ordered: true });
    console.log(`[sessions] httpSubscriptionLink: ${n} messages across the expiry, reconnected, lost 0, duplicated 0`);
  } finally {
    sub.unsubscribe();
    alice.stop();
    dave.stop();
  }
});
