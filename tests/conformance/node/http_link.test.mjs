// httpLink: one HTTP request per operation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTRPCClient, httpLink } from '@trpc/client';
import {
  TRPC_URL, ALT_URL, ERROR_TABLE, recordingFetch, rejectsWith,
} from './helpers.mjs';

function client(opts = {}) {
  const rec = recordingFetch();
  const c = createTRPCClient({ links: [httpLink({ url: TRPC_URL, fetch: rec.fetch, ...opts })] });
  return { c, calls: rec.calls };
}

test('c1 query resolves result.data over GET with the input in the URL', async () => {
  const { c, calls } = client();
  assert.deepEqual(await c.hello.query('x'), { hello: 'x' });
  assert.equal(calls[0].method, 'GET');
  assert.equal(calls[0].url, `${TRPC_URL}/hello?input=${encodeURIComponent('"x"')}`);
  assert.equal(calls[0].status, 200);
  assert.equal(calls[0].contentType, 'application/json');
});

test('c2 query without input sends no input param and the procedure sees None', async () => {
  const { c, calls } = client();
  assert.deepEqual(await c.hello.query(), { hello: null });
  assert.equal(calls[0].url, `${TRPC_URL}/hello`);
});

test('c3 c49 undefined result resolves undefined and None resolves null', async () => {
  const { c } = client();
  assert.equal(await c.undef.query(), undefined);
  assert.equal(await c.none.query(), null);
});

test('c4 mutation POSTs the JSON input with content-type application/json', async () => {
  const { c, calls } = client();
  assert.deepEqual(await c.mut.mutate({ a: 1 }), { got: { a: 1 } });
  assert.equal(calls[0].method, 'POST');
  assert.equal(calls[0].headers['content-type'], 'application/json');
});

test('c5 mutation without input sends an empty body and the procedure sees None', async () => {
  const { c } = client();
  assert.deepEqual(await c.mut.mutate(), { got: null });
});

test('c9 c21 querying a mutation path rejects METHOD_NOT_SUPPORTED with data.path', async () => {
  const { c, calls } = client();
  const err = await rejectsWith(c.mut.query(), 'METHOD_NOT_SUPPORTED', { code: -32005, httpStatus: 405, path: 'mut' });
  assert.match(err.message, /Unsupported GET-request to mutation procedure at path "mut"/);
  assert.equal(calls[0].status, 405);
});

test('c10 mutating a query path rejects METHOD_NOT_SUPPORTED', async () => {
  const { c, calls } = client();
  await rejectsWith(c.hello.mutate('x'), 'METHOD_NOT_SUPPORTED', { httpStatus: 405, path: 'hello' });
  assert.equal(calls[0].status, 405);
});

test('c11 methodOverride POST sends queries as POST bodies on an override server', async () => {
  const rec = recordingFetch();
  const c = createTRPCClient({ links: [httpLink({ url: ALT_URL, methodOverride: 'POST', fetch: rec.fetch })] });
  assert.deepEqual(await c.hello.query('x'), { hello: 'x' });
  assert.deepEqual(await c.mut.mutate({ b: 2 }), { got: { b: 2 } });
  assert.equal(rec.calls[0].method, 'POST');
  assert.ok(!rec.calls[0].url.includes('input='));
});

test('c12 on an override server a mutation queried over GET is still 405', async () => {
  const c = createTRPCClient({ links: [httpLink({ url: ALT_URL })] });
  await rejectsWith(c.mut.query(), 'METHOD_NOT_SUPPORTED', { httpStatus: 405 });
});

test('c13 c21 unknown path rejects NOT_FOUND with code, httpStatus and path', async () => {
  const { c, calls } = client();
  const err = await rejectsWith(c.nope.query(), 'NOT_FOUND', { code: -32004, httpStatus: 404, path: 'nope' });
  assert.equal(err.message, 'No procedure found on path "nope"');
  assert.equal(calls[0].status, 404);
});

test('c14 nested router procedure resolves by dotted path', async () => {
  const { c, calls } = client();
  assert.deepEqual(await c.nested.deep.query('d'), { hello: 'd' });
  assert.ok(calls[0].url.startsWith(`${TRPC_URL}/nested.deep?`));
});

test('c19 plain exception rejects INTERNAL_SERVER_ERROR without leaking its text', async () => {
  const { c, calls } = client();
  const err = await rejectsWith(c.boom.query(), 'INTERNAL_SERVER_ERROR', { code: -32603, httpStatus: 500, path: 'boom' });
  assert.ok(!err.message.includes('secret'), err.message);
  assert.equal(calls[0].status, 500);
});

test('c20 c21 each of the 21 error keys carries its JSON-RPC code and HTTP status', async () => {
  const { c, calls } = client();
  for (const [key, [code, status]] of Object.entries(ERROR_TABLE)) {
    const err = await rejectsWith(c.errorOf.query(key), key, { code, httpStatus: status, path: 'errorOf' });
    assert.equal(err.message, `error ${key}`);
    assert.equal(calls.at(-1).status, status, key);
  }
});

test('c22 an errorFormatter setting data.httpStatus 418 sets the HTTP status', async () => {
  const { c, calls } = client();
  const err = await rejectsWith(c.teapot.query(), 'FORBIDDEN', { httpStatus: 418 });
  assert.equal(err.shape.code, -32003);
  assert.equal(calls[0].status, 418);
});

test('c23 a base URL with its own query string keeps it first and still resolves', async () => {
  const { c, calls } = client({ url: `${TRPC_URL}?tenant=1` });
  assert.deepEqual(await c.hello.query('t'), { hello: 't' });
  assert.equal(calls[0].url, `${TRPC_URL}/hello?tenant=1&input=${encodeURIComponent('"t"')}`);
});

test('c24 query returning a generator over httpLink rejects UNSUPPORTED_MEDIA_TYPE', async () => {
  const { c, calls } = client();
  await rejectsWith(c.gen.query(), 'UNSUPPORTED_MEDIA_TYPE', { code: -32015, httpStatus: 415 });
  assert.equal(calls[0].status, 415);
});

test('c38 headers option reaches createContext; a failing createContext rejects the call', async () => {
  const ok = client({ headers: { 'x-token': 'h1' } });
  const info = await ok.c.ctxInfo.query();
  assert.equal(info.token, 'h1');
  assert.equal(info.transport, 'http');
  const bad = client({ headers: () => ({ 'x-token': 'bad' }) });
  await rejectsWith(bad.c.hello.query('x'), 'UNAUTHORIZED', { httpStatus: 401, path: 'hello' });
});
