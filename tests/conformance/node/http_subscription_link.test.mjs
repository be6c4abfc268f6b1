// httpSubscriptionLink over the `eventsource` polyfill (Node 20 has no EventSource).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { createTRPCClient, httpSubscriptionLink } from '@trpc/client';
import {
  TRPC_URL, ALT_URL, CLIENT_11_0, assertTRPCError, closeAll, record, serverEvents, sleep, uniqueTag,
  waitFor, within,
} from './helpers.mjs';

// 11.0.0 takes the EventSource option but its reconnect check reads the global
// `EventSource.CLOSED`; give it the global a browser has.
if (CLIENT_11_0) globalThis.EventSource ??= EventSource;

after(closeAll);

/** A client whose EventSource requests are logged (url + headers, incl. Last-Event-ID). */
function client(url = TRPC_URL, opts = {}) {
  const requests = [];
  const c = createTRPCClient({
    links: [httpSubscriptionLink({
      url,
      EventSource,
      eventSourceOptions: () => ({
        fetch: (input, init) => {
          requests.push({ url: String(input), headers: Object.fromEntries(new Headers(init?.headers).entries()) });
          return fetch(input, init);
        },
      }),
      ...opts,
    })],
  });
  return { c, requests };
}

test('c54 c55 c57 c58 tracked values reach onData as {id,data}; return completes without reconnect', async () => {
  const { c, requests } = client();
  const tag = uniqueTag('sse-ticks');
  const rec = record(c.ticks, { count: 3, delayMs: 20, tag });
  assert.equal(await within(rec.done, 3000, 'completion'), 'complete');
  assert.equal(rec.started, 1);
  assert.deepEqual(rec.data, [1, 2, 3].map((n) => ({ id: String(n), data: { n } })));
  assert.equal(rec.stopped, 1);
  assert.equal(rec.errors.length, 0);
  await sleep(300);
  assert.equal(requests.length, 1, 'no reconnect after return');
  assert.deepEqual((await serverEvents(tag)).filter((e) => e !== 'closed').length, 1);
});

test('c56 untracked values reach onData as the raw value', async () => {
  const { c } = client();
  const rec = record(c.plain, 2);
  await within(rec.done, 3000, 'completion');
  assert.deepEqual(rec.data, [{ plain: 0 }, { plain: 1 }]);
});

test('c59 FORBIDDEN during iteration reaches onError and does not reconnect', async () => {
  const { c, requests } = client();
  const rec = record(c.subFail);
  assert.equal(await within(rec.done, 3000, 'error'), 'error');
  assert.deepEqual(rec.data, ['before']);
  assertTRPCError(rec.errors[0], 'FORBIDDEN', { code: -32003, httpStatus: 403, path: 'subFail' });
  await sleep(300);
  assert.equal(requests.length, 1);
});

test('c60 c66 connectionParams reach createContext; a failing createContext is onError UNAUTHORIZED', async () => {
  const good = client(TRPC_URL, { connectionParams: async () => ({ token: 't' }) });
  const rec = record(good.c.whoSub);
  await within(rec.done, 3000, 'completion');
  assert.deepEqual(rec.data, [{ token: 't', params: { token: 't' }, transport: 'sse' }]);
  assert.ok(good.requests[0].url.includes(`connectionParams=${encodeURIComponent('{"token":"t"}')}`));
  const bad = client(TRPC_URL, { connectionParams: { token: 'bad' } });
  const failed = record(bad.c.whoSub);
  assert.equal(await within(failed.done, 3000, 'error'), 'error');
  assert.equal(failed.started, 1, 'connected came before the error');
  assertTRPCError(failed.errors[0], 'UNAUTHORIZED', { httpStatus: 401 });
});

test('c68 closing the subscription cancels the server generator within 1 s', async () => {
  const { c } = client();
  const tag = uniqueTag('sse-idle');
  const rec = record(c.idle, tag);
  await waitFor(async () => (await serverEvents(tag)).includes('started'), 2000, 'idle started');
  rec.sub.unsubscribe();
  await waitFor(async () => (await serverEvents(tag)).includes('cancelled'), 1000, 'generator cancelled');
});

describe('reconnects (EventSource waits 3 s before each)', { concurrency: true }, () => {
  test('c61 INTERNAL_SERVER_ERROR keeps the subscription and the EventSource reconnects', async () => {
    const { c, requests } = client();
    const tag = uniqueTag('flaky');
    const rec = record(c.flaky, tag);
    await within(rec.done, 8000, 'completion after reconnect').catch(async (err) => {
      throw new Error(`${err.message}: ${JSON.stringify({ rec, requests, server: await serverEvents(tag) })}`);
    });
    assert.equal(rec.errors.length, 0);
    assert.deepEqual(rec.data, [{ attempt: 2 }]);
    assert.ok(rec.states.includes('connecting'));
    assert.deepEqual(await serverEvents(tag), [1, 2]);
    assert.ok(requests.length >= 2);
  });

  test('c62 c69 maxDurationMs ends the stream; the client resumes with Last-Event-ID', async () => {
    const { c, requests } = client(ALT_URL);
    const tag = uniqueTag('sse-resume');
    const rec = record(c.ticks, { count: 3, delayMs: 300, tag });
    await within(rec.done, 6000, 'completion after resume').catch((err) => {
      throw new Error(`${err.message}: ${JSON.stringify({ rec, requests })}`);
    });
    assert.equal(rec.errors.length, 0);
    assert.deepEqual(rec.data.map((d) => d.id), ['1', '2', '3']);
    assert.equal(requests[1].headers['last-event-id'], '2');
    const seen = (await serverEvents(tag, ALT_URL)).filter((e) => e !== 'closed');
    assert.deepEqual(seen[0], { lastEventId: null, header: null, transport: 'sse' });
    assert.deepEqual(seen[1], { lastEventId: '2', header: '2', transport: 'sse' });
  });

  test('c70 an untracked value after tracked id 3 keeps Last-Event-ID 3 for the reconnect', async () => {
    const { c, requests } = client(ALT_URL);
    const tag = uniqueTag('mixed');
    const rec = record(c.mixed, tag);
    await within(rec.done, 8000, 'completion after resume');
    assert.deepEqual(rec.data, [{ id: '3', data: 'tracked' }, 'untracked', 'resumed']);
    assert.equal(requests[1].headers['last-event-id'], '3');
    assert.deepEqual(await serverEvents(tag, ALT_URL), [{ header: null }, { header: '3' }]);
  });
});
