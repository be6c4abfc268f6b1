// wsLink end to end: splitLink(wsLink for subscriptions, httpBatchLink otherwise), and
// a wsLink-only client doing queries and mutations over the socket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTRPCClient, createWSClient, httpBatchLink, splitLink, wsLink } from '@trpc/client';
import WebSocket from 'ws';
import { TRPC_URL, WS_URL, collector, registerUser } from './helpers.mjs';

function clients(token) {
  const wsClient = createWSClient({ url: WS_URL, WebSocket, connectionParams: { token } });
  const split = createTRPCClient({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: wsLink({ client: wsClient }),
        false: httpBatchLink({ url: TRPC_URL, headers: () => ({ authorization: `Bearer ${token}` }) }),
      }),
    ],
  });
  const wsOnly = createTRPCClient({ links: [wsLink({ client: wsClient })] });
  return { wsClient, split, wsOnly };
}

test('query, mutate and subscribe through splitLink(wsLink, httpBatchLink)', async () => {
  const alice = await registerUser('ws');
  const bob = await registerUser('ws');
  const a = clients(alice.token);
  const b = clients(bob.token);
  try {
    const room = await a.split.rooms.create.mutate({ name: 'ws room' });
    assert.equal((await b.split.rooms.join.mutate({ roomId: room.id })).memberCount, 2);

    const messages = collector();
    const typing = collector();
    const presence = collector();
    const subs = [
      b.split.messages.onMessage.subscribe({ roomId: room.id }, messages.callbacks),
      b.split.typing.onTyping.subscribe({ roomId: room.id }, typing.callbacks),
      a.split.presence.onPresence.subscribe({ roomId: room.id }, presence.callbacks),
    ];
    await messages.until(() => messages.started > 0);
    await typing.until(() => typing.started > 0);
    await presence.until(() => presence.events.some((p) => p.online.some((u) => u.id === bob.user.id)));

    // queries and mutations over the socket itself
    const me = await a.wsOnly.auth.me.query();
    assert.equal(me.id, alice.user.id);
    const sent = await a.wsOnly.messages.send.mutate({ roomId: room.id, text: 'over ws' });
    await a.wsOnly.typing.set.mutate({ roomId: room.id, isTyping: true });
    const members = await a.wsOnly.rooms.members.query({ roomId: room.id });
    assert.deepEqual(members.map((u) => u.id), [alice.user.id, bob.user.id]);

    await messages.until(() => messages.events.length >= 1);
    assert.equal(messages.events[0].id, '1');
    assert.deepEqual(messages.events[0].data, { type: 'created', message: sent });
    await typing.until(() => typing.events.length >= 1);
    assert.deepEqual(typing.events[0], {
      roomId: room.id,
      user: { id: alice.user.id, username: alice.username, displayName: alice.username },
      isTyping: true,
    });

    await assert.rejects(a.wsOnly.rooms.members.query({ roomId: 2 ** 40 }), (err) => {
      assert.equal(err.data.code, 'NOT_FOUND');
      return true;
    });
    for (const s of subs) s.unsubscribe();
  } finally {
    await a.wsClient.close();
    await b.wsClient.close();
  }
});

test('a non-member subscription over wsLink ends with FORBIDDEN', async () => {
  const alice = await registerUser('ws');
  const mallory = await registerUser('ws');
  const room = await alice.client.rooms.create.mutate({ name: 'private', isPrivate: true });
  const m = clients(mallory.token);
  try {
    const refused = collector();
    m.split.messages.onMessage.subscribe({ roomId: room.id }, refused.callbacks);
    await assert.rejects(refused.until(() => false), (err) => err?.data?.code === 'FORBIDDEN');
    assert.equal(refused.started, 0);
  } finally {
    await m.wsClient.close();
  }
});
