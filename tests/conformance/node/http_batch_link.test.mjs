// httpBatchLink: operations issued in the same tick share one request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import {
  TRPC_URL, ALT_URL, NOBATCH_URL, recordingFetch, rejectsWith,
} from './helpers.mjs';

function client(opts = {}) {
  const rec = recordingFetch();
  const c = createTRPCClient({ links: [httpBatchLink({ url: TRPC_URL, fetch: rec.fetch, ...opts })] });
  return { c, calls: rec.calls };
}

test('c25 c26 two queries in one tick are one GET batch answered in order with 200', async () => {
  const { c, calls } = client();
  const [a, b] = await Promise.all([c.hello.query('a'), c.hello.query('b')]);
  assert.deepEqual([a, b], [{ hello: 'a' }, { hello: 'b' }]);
  assert.equal(calls.length, 1);
  const input = encodeURIComponent(JSON.stringify({ 0: 'a', 1: 'b' }));
  assert.equal(calls[0].url, `${TRPC_URL}/hello,hello?batch=1&input=${input}`);
  assert.equal(calls[0].status, 200);
});

test('c27 success plus UNAUTHORIZED gives 207; one op resolves, the other rejects', async () => {
  const { c, calls } = client();
  const [ok, bad] = await Promise.allSettled([c.hello.query('a'), c.fail.query()]);
  assert.deepEqual(ok.value, { hello: 'a' });
  await rejectsWith(Promise.reject(bad.reason), 'UNAUTHORIZED', { code: -32001, httpStatus: 401, path: 'fail' });
  assert.equal(calls[0].status, 207);
});

test('c28 two UNAUTHORIZED errors give 401', async () => {
  const { c, calls } = client();
  const results = await Promise.allSettled([c.fail.query(), c.fail.query()]);
  for (const r of results) await rejectsWith(Promise.reject(r.reason), 'UNAUTHORIZED');
  assert.equal(calls[0].status, 401);
});

test('c29 c30 UNAUTHORIZED plus an unknown path give 207 with a NOT_FOUND item', async () => {
  const { c, calls } = client();
  const [a, b, d] = await Promise.allSettled([c.fail.query(), c.nope.query(), c.hello.query('z')]);
  await rejectsWith(Promise.reject(a.reason), 'UNAUTHORIZED');
  await rejectsWith(Promise.reject(b.reason), 'NOT_FOUND', { path: 'nope' });
  assert.deepEqual(d.value, { hello: 'z' });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].status, 207);
});

test('c31 an undefined input is left out of the batch object and arrives as None', async () => {
  const { c, calls } = client();
  const res = await Promise.all([c.hello.query(), c.hello.query('z')]);
  assert.deepEqual(res, [{ hello: null }, { hello: 'z' }]);
  assert.ok(calls[0].url.endsWith(`input=${encodeURIComponent('{"1":"z"}')}`));
});

test('c33 mutations batch as POST with an index-keyed body; a missing key is None', async () => {
  const { c, calls } = client();
  const res = await Promise.all([c.mut.mutate({ a: 1 }), c.mut.mutate()]);
  assert.deepEqual(res, [{ got: { a: 1 } }, { got: null }]);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].method, 'POST');
  assert.equal(calls[0].url, `${TRPC_URL}/mut,mut?batch=1`);
});

test('c35 with batching disabled every op of a batch rejects with the top-level error', async () => {
  const rec = recordingFetch();
  const c = createTRPCClient({ links: [httpBatchLink({ url: NOBATCH_URL, fetch: rec.fetch })] });
  const results = await Promise.allSettled([c.hello.query('a'), c.hello.query('b')]);
  for (const r of results) {
    const err = await rejectsWith(Promise.reject(r.reason), 'BAD_REQUEST', { httpStatus: 400 });
    assert.equal(err.message, 'Batching is not enabled on the server');
    assert.equal(err.data.path, undefined);
  }
  assert.equal(rec.calls[0].status, 400);
});

test('c36 more paths than maxBatchSize reject every op; maxItems keeps batches small', async () => {
  const big = createTRPCClient({ links: [httpBatchLink({ url: ALT_URL })] });
  const results = await Promise.allSettled([1, 2, 3].map((i) => big.hello.query(String(i))));
  for (const r of results) {
    const err = await rejectsWith(Promise.reject(r.reason), 'BAD_REQUEST');
    assert.equal(err.message, 'Batch call exceeds maximum size');
  }
  const rec = recordingFetch();
  const small = createTRPCClient({ links: [httpBatchLink({ url: ALT_URL, maxItems: 2, fetch: rec.fetch })] });
  const ok = await Promise.all([1, 2, 3].map((i) => small.hello.query(String(i))));
  assert.deepEqual(ok.map((r) => r.hello), ['1', '2', '3']);
  assert.equal(rec.calls.length, 2);
});

test('c37 a batch of one is still an array answer', async () => {
  const { c, calls } = client();
  assert.deepEqual(await c.hello.query('solo'), { hello: 'solo' });
  assert.ok(calls[0].url.startsWith(`${TRPC_URL}/hello?batch=1&input=`));
});

test('c38 createContext raising UNAUTHORIZED rejects every op of the batch with its path', async () => {
  const { c, calls } = client({ headers: { 'x-token': 'bad' } });
  const results = await Promise.allSettled([c.hello.query('a'), c.nested.deep.query('b')]);
  await rejectsWith(Promise.reject(results[0].reason), 'UNAUTHORIZED', { path: 'hello' });
  await rejectsWith(Promise.reject(results[1].reason), 'UNAUTHORIZED', { path: 'nested.deep' });
  assert.equal(calls[0].status, 401);
});

test('c39 createContext runs once per batch request and procedures see batchIndex 0..n-1', async () => {
  const { c } = client();
  const infos = await Promise.all([c.ctxInfo.query(), c.ctxInfo.query(), c.ctxInfo.query()]);
  assert.deepEqual(infos.map((i) => i.batchIndex), [0, 1, 2]);
  assert.equal(new Set(infos.map((i) => i.contextId)).size, 1);
  const again = await c.ctxInfo.query();
  assert.notEqual(again.contextId, infos[0].contextId);
});

test('c40 a subscription path inside a batch rejects BAD_REQUEST', async () => {
  const { c } = client();
  const err = await rejectsWith(c.ticks.query(), 'BAD_REQUEST', { path: 'ticks' });
  assert.equal(err.message, 'Cannot batch subscription calls');
});

test('c25 maxURLLength splits a long GET batch into several requests', async () => {
  const { c, calls } = client({ maxURLLength: 120 });
  const res = await Promise.all(['a'.repeat(30), 'b'.repeat(30), 'c'.repeat(30)].map((s) => c.hello.query(s)));
  assert.equal(res.length, 3);
  assert.ok(calls.length >= 2, `${calls.length} requests`);
});
