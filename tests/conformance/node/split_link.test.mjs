// splitLink: subscriptions on one transport, queries and mutations on another.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { EventSource } from 'eventsource';
import {
  createTRPCClient, createWSClient, httpBatchLink, httpBatchStreamLink, httpSubscriptionLink, splitLink, wsLink,
} from '@trpc/client';
import { TRPC_URL, WS_URL, closeAll, record, rejectsWith, within } from './helpers.mjs';

const wsClients = [];
after(() => {
  closeAll();
  for (const ws of wsClients) ws.close();
});

const isSubscription = (op) => op.type === 'subscription';

test('c1 c4 c81 splitLink(wsLink, httpBatchLink) queries, mutates and subscribes', async () => {
  const wsClient = createWSClient({ url: WS_URL, WebSocket });
  wsClients.push(wsClient);
  const c = createTRPCClient({
    links: [splitLink({ condition: isSubscription, true: wsLink({ client: wsClient }), false: httpBatchLink({ url: TRPC_URL }) })],
  });
  const [q, m] = await Promise.all([c.ctxInfo.query(), c.mut.mutate({ s: 1 })]);
  assert.equal(q.transport, 'http');
  assert.deepEqual(m, { got: { s: 1 } });
  const rec = record(c.whoSub);
  await within(rec.done, 3000, 'subscription');
  assert.equal(rec.data[0].transport, 'ws');
  await rejectsWith(c.fail.query(), 'UNAUTHORIZED');
});

test('c41 c57 splitLink(httpSubscriptionLink, httpBatchStreamLink) queries, mutates and subscribes', async () => {
  const c = createTRPCClient({
    links: [splitLink({
      condition: isSubscription,
      true: httpSubscriptionLink({ url: TRPC_URL, EventSource }),
      false: httpBatchStreamLink({ url: TRPC_URL }),
    })],
  });
  assert.deepEqual(await Promise.all([c.hello.query('s'), c.mut.mutate(2)]), [{ hello: 's' }, { got: 2 }]);
  const rec = record(c.ticks, { count: 2, delayMs: 10 });
  await within(rec.done, 3000, 'subscription');
  assert.deepEqual(rec.data, [{ id: '1', data: { n: 1 } }, { id: '2', data: { n: 2 } }]);
});
