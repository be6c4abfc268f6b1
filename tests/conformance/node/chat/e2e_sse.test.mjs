// httpSubscriptionLink (Server-Sent Events) end to end: the token travels in
// connectionParams (browsers cannot set headers on EventSource); resume with lastEventId.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTRPCClient, httpSubscriptionLink, splitLink, httpBatchLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import { TRPC_URL, collector, registerUser } from './helpers.mjs';

function sseClient(token) {
  return createTRPCClient({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: TRPC_URL,
          EventSource,
          connectionParams: token ? { token } : undefined,
        }),
        false: httpBatchLink({
          url: TRPC_URL,
          headers: () => (token ? { authorization: `Bearer ${token}` } : {}),
        }),
      }),
    ],
  });
}

test('onMessage over SSE with a connectionParams token, then resumed with lastEventId', async () => {
  const alice = await registerUser('sse');
  const bob = await registerUser('sse');
  const room = await alice.client.rooms.create.mutate({ name: 'sse', memberIds: [bob.user.id] });
  const bobSse = sseClient(bob.token);

  const live = collector();
  const sub = bobSse.messages.onMessage.subscribe({ roomId: room.id }, live.callbacks);
  await live.until(() => live.started > 0);
  // `connected` (onStarted) comes after the server attached the stream: send at once.
  const one = await alice.client.messages.send.mutate({ roomId: room.id, text: 'one' });
  const two = await alice.client.messages.send.mutate({ roomId: room.id, text: 'two' });
  await live.until(() => live.events.length >= 2);
  sub.unsubscribe();
  assert.deepEqual(
    live.events.map((e) => [e.data.type, e.data.message.id, e.data.message.text]),
    [
      ['created', one.id, 'one'],
      ['created', two.id, 'two'],
    ],
  );
  assert.deepEqual(
    live.events.map((e) => e.id),
    ['1', '2'],
  );

  // while bob is away: a new message, an edit of "one"
  const three = await alice.client.messages.send.mutate({ roomId: room.id, text: 'three' });
  await alice.client.messages.edit.mutate({ messageId: one.id, text: 'one, edited' });

  const resumed = collector();
  const again = bobSse.messages.onMessage.subscribe(
    { roomId: room.id, lastEventId: live.events[0].id },
    resumed.callbacks,
  );
  await resumed.until(() => resumed.events.length >= 3);
  const four = await alice.client.messages.send.mutate({ roomId: room.id, text: 'four' });
  await resumed.until(() => resumed.events.length >= 4);
  again.unsubscribe();
  assert.deepEqual(
    resumed.events.map((e) => [e.id, e.data.type, e.data.message.id]),
    [
      ['2', 'created', two.id],
      ['3', 'created', three.id],
      ['4', 'edited', one.id],
      ['5', 'created', four.id],
    ],
  );
  assert.equal(resumed.events[2].data.message.text, 'one, edited');
  assert.ok(resumed.events[2].data.message.editedAt);
});

test('onMessage over SSE without a token ends with UNAUTHORIZED', async () => {
  const alice = await registerUser('sse');
  const room = await alice.client.rooms.create.mutate({ name: 'sse anon' });
  const anon = collector();
  sseClient(null).messages.onMessage.subscribe({ roomId: room.id }, anon.callbacks);
  await assert.rejects(
    anon.until(() => false, 5000),
    (err) => err?.data?.code === 'UNAUTHORIZED',
  );
});
