// httpBatchStreamLink: one batch request answered as JSONL, each op settling on its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTRPCClient, httpBatchLink, httpBatchStreamLink } from '@trpc/client';
import {
  TRPC_URL, ALT_URL, NOBATCH_URL, CLIENT_11_0, recordingFetch, rejectsWith, serverEvents, uniqueTag,
  waitFor,
} from './helpers.mjs';

function client(opts = {}) {
  const rec = recordingFetch();
  const c = createTRPCClient({ links: [httpBatchStreamLink({ url: TRPC_URL, fetch: rec.fetch, ...opts })] });
  return { c, calls: rec.calls };
}

test('c41 c43 streamed batch resolves the same values as httpBatchLink', async () => {
  const { c, calls } = client();
  const plain = createTRPCClient({ links: [httpBatchLink({ url: TRPC_URL })] });
  const ops = (x) => [x.hello.query('a'), x.undef.query(), x.none.query(), x.nested.deep.query('n')];
  const streamed = await Promise.all(ops(c));
  assert.deepEqual(streamed, await Promise.all(ops(plain)));
  assert.equal(calls.length, 1);
  assert.equal(calls[0].headers['trpc-accept'], 'application/jsonl');
  assert.ok(calls[0].url.includes('batch=1'));
  assert.equal(calls[0].status, 200);
});

test('c42 streamHeader accept streams too', async () => {
  const { c, calls } = client({ streamHeader: 'accept' });
  assert.deepEqual(await Promise.all([c.hello.query('x'), c.hello.query('y')]), [{ hello: 'x' }, { hello: 'y' }]);
  if (CLIENT_11_0) {
    // 11.0.0 has no streamHeader option: it always asks with trpc-accept.
    assert.equal(calls[0].headers['trpc-accept'], 'application/jsonl');
    return;
  }
  assert.equal(calls[0].headers.accept, 'application/jsonl');
  assert.equal(calls[0].headers['trpc-accept'], undefined);
});

test('c44 a fast call resolves before a slow call of the same batch completes', async () => {
  const { c } = client();
  const t0 = Date.now();
  let fastAt = 0;
  let slowAt = 0;
  await Promise.all([
    c.slow.query().then(() => { slowAt = Date.now() - t0; }),
    c.hello.query('fast').then(() => { fastAt = Date.now() - t0; }),
  ]);
  assert.ok(slowAt >= 290, `slow at ${slowAt}`);
  assert.ok(fastAt < 200, `fast at ${fastAt} ms (should be flushed before slow completes)`);
});

test('c45 c46 an error chunk rejects its op with the shape; all-failing batch is still 200', async () => {
  const { c, calls } = client();
  const [ok, bad] = await Promise.allSettled([c.hello.query('a'), c.fail.query()]);
  assert.deepEqual(ok.value, { hello: 'a' });
  const err = await rejectsWith(Promise.reject(bad.reason), 'UNAUTHORIZED', { code: -32001, httpStatus: 401, path: 'fail' });
  assert.equal(err.message, 'nope');
  const both = await Promise.allSettled([c.fail.query(), c.nope.query()]);
  await rejectsWith(Promise.reject(both[0].reason), 'UNAUTHORIZED');
  await rejectsWith(Promise.reject(both[1].reason), 'NOT_FOUND');
  assert.equal(calls.at(-1).status, 200);
});

test('c48 a top-level failure while streaming rejects every op with its message', async () => {
  const rec = recordingFetch();
  const c = createTRPCClient({ links: [httpBatchStreamLink({ url: ALT_URL, fetch: rec.fetch })] });
  const results = await Promise.allSettled([1, 2, 3].map((i) => c.hello.query(String(i))));
  if (CLIENT_11_0) {
    // 11.0.0 reads any answer as JSONL, so the JSON error (what its own server sends
    // too) rejects every op, but only as "Stream closed", without the server's error.
    for (const r of results) assert.equal(r.reason?.message, 'Stream closed');
    assert.equal(rec.calls[0].status, 400);
    return;
  }
  for (const r of results) {
    const err = await rejectsWith(Promise.reject(r.reason), 'BAD_REQUEST');
    assert.equal(err.message, 'Batch call exceeds maximum size');
  }
  assert.equal(rec.calls[0].status, 400);
  const off = createTRPCClient({ links: [httpBatchStreamLink({ url: NOBATCH_URL })] });
  const err = await rejectsWith(off.hello.query('x'), 'BAD_REQUEST');
  assert.equal(err.message, 'Batching is not enabled on the server');
});

test('c49 undefined result resolves undefined', async () => {
  const { c } = client();
  assert.equal(await c.undef.query(), undefined);
});

test('c50 an async-generator query is an async iterable for the client', async () => {
  const { c } = client();
  const items = [];
  for await (const item of await c.gen.query()) items.push(item);
  assert.deepEqual(items, [0, 1, 2]);
});

test('c51 a generator raising mid-way throws a TRPCClientError with its code', async () => {
  const { c } = client();
  const items = [];
  await rejectsWith((async () => {
    for await (const item of await c.genFail.query()) items.push(item);
  })(), 'FORBIDDEN', { code: -32003 });
  assert.deepEqual(items, [1]);
});

test('c52 aborting the fetch cancels the running procedure within 1 s', async () => {
  const { c } = client();
  const tag = uniqueTag('hang');
  const ac = new AbortController();
  const pending = c.hang.query(tag, { signal: ac.signal });
  await waitFor(async () => (await serverEvents(tag)).includes('started'), 2000, 'hang started');
  ac.abort();
  await assert.rejects(pending);
  await waitFor(async () => (await serverEvents(tag)).includes('cancelled'), 1000, 'server-side cancellation');
});

test('c53 keep-alive spaces between lines do not disturb the client', async () => {
  const c = createTRPCClient({ links: [httpBatchStreamLink({ url: ALT_URL, maxItems: 2 })] });
  // alt server pings every 50 ms; the 300 ms call sees several pings first.
  assert.deepEqual(await Promise.all([c.sleep.query(300), c.hello.query('p')]), [300, { hello: 'p' }]);
});
