// Shared by the *.test.mjs files: server URLs (set by test_node_client.py), a
// recording fetch, subscription recorders and polling helpers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TRPCClientError } from '@trpc/client';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run through tests/conformance/test_node_client.py)`);
  return value;
}

/** http://host:port/trpc of the main `wirechat serve` process. */
export const TRPC_URL = required('TRPC_URL');
/** ws://host:port of the standalone WebSocket server (WS_PORT). */
export const WS_URL = required('WS_URL');
/** alt_server.py: method override on, maxBatchSize 2, SSE maxDurationMs 800, JSONL ping 50 ms. */
export const ALT_URL = required('ALT_URL');
/** alt_server.py with batching disabled. */
export const NOBATCH_URL = required('NOBATCH_URL');

/** The version of the @trpc/client actually loaded (its own package.json). */
export const CLIENT_VERSION = loadedClientVersion();
// test_node_client.py says which release it meant to load: a pin that silently
// failed would otherwise test the other release twice.
if (process.env.TRPC_CLIENT_VERSION && process.env.TRPC_CLIENT_VERSION !== CLIENT_VERSION) {
  throw new Error(`expected @trpc/client ${process.env.TRPC_CLIENT_VERSION}, loaded ${CLIENT_VERSION}`);
}

function loadedClientVersion() {
  let dir = path.dirname(fileURLToPath(import.meta.resolve('@trpc/client')));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name === '@trpc/client') return pkg.version;
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('@trpc/client has no package.json');
    dir = parent;
  }
}

/** Under @trpc/client 11.0.0, the first 11.x release: COVERAGE.md lists how it differs. */
export const CLIENT_11_0 = CLIENT_VERSION === '11.0.0';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let counter = 0;
export const uniqueTag = (prefix) => `${prefix}-${process.pid}-${Date.now()}-${++counter}`;

/** Poll `fn` until it returns a truthy value; fail after `timeoutMs`. */
export async function waitFor(fn, timeoutMs = 2000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A fetch that records every request and response (url, method, headers, status). */
export function recordingFetch() {
  const calls = [];
  const fetchFn = async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input.url;
    const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries());
    const entry = { url, method: init.method ?? 'GET', headers, status: null, contentType: null };
    calls.push(entry);
    const res = await fetch(input, init);
    entry.status = res.status;
    entry.contentType = res.headers.get('content-type');
    return res;
  };
  return { fetch: fetchFn, calls };
}

/** What a demo procedure recorded under `tag` (the `events` query). */
export async function serverEvents(tag, base = TRPC_URL) {
  const res = await fetch(`${base}/events?input=${encodeURIComponent(JSON.stringify(tag))}`);
  const body = await res.json();
  return body.result.data;
}

/** Assert a TRPCClientError with the given key, JSON-RPC code and HTTP status. */
export function assertTRPCError(err, key, { code, httpStatus, path } = {}) {
  assert.ok(err instanceof TRPCClientError, `expected TRPCClientError, got ${err}`);
  assert.equal(err.data?.code, key, `data.code: ${JSON.stringify(err.shape)}`);
  if (code !== undefined) assert.equal(err.shape.code, code);
  if (httpStatus !== undefined) assert.equal(err.data.httpStatus, httpStatus);
  if (path !== undefined) assert.equal(err.data.path, path);
  assert.equal(typeof err.shape.message, 'string');
  assert.equal(err.message, err.shape.message);
  return err;
}

/** Await `promise`, expecting it to reject with a TRPCClientError of `key`. */
export async function rejectsWith(promise, key, extra) {
  try {
    const value = await promise;
    assert.fail(`expected ${key}, resolved with ${JSON.stringify(value)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return assertTRPCError(err, key, extra);
  }
}

const openRecords = new Set();

/** Unsubscribe every subscription made by `record` (call from `after`). */
export function closeAll() {
  for (const rec of openRecords) rec.sub.unsubscribe();
  openRecords.clear();
}

/** Subscribe through the proxy client and record every callback. */
export function record(procedure, input) {
  const rec = {
    started: 0, stopped: 0, completed: 0, data: [], errors: [], states: [],
  };
  rec.done = new Promise((resolve) => { rec._resolve = resolve; });
  rec.sub = procedure.subscribe(input, {
    onStarted() { rec.started += 1; },
    onData(value) { rec.data.push(value); },
    onError(err) { rec.errors.push(err); rec._resolve('error'); },
    onStopped() { rec.stopped += 1; },
    onComplete() { rec.completed += 1; rec._resolve('complete'); },
    onConnectionStateChange(state) { rec.states.push(state.state); },
  });
  openRecords.add(rec);
  return rec;
}

/** Resolve with `promise` or fail after `ms`. */
export function within(promise, ms, what = 'promise') {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} not settled within ${ms} ms`)), ms); }),
  ]);
}

export const ERROR_TABLE = {
  PARSE_ERROR: [-32700, 400],
  BAD_REQUEST: [-32600, 400],
  INTERNAL_SERVER_ERROR: [-32603, 500],
  NOT_IMPLEMENTED: [-32603, 501],
  BAD_GATEWAY: [-32603, 502],
  SERVICE_UNAVAILABLE: [-32603, 503],
  GATEWAY_TIMEOUT: [-32603, 504],
  UNAUTHORIZED: [-32001, 401],
  PAYMENT_REQUIRED: [-32002, 402],
  FORBIDDEN: [-32003, 403],
  NOT_FOUND: [-32004, 404],
  METHOD_NOT_SUPPORTED: [-32005, 405],
  TIMEOUT: [-32008, 408],
  CONFLICT: [-32009, 409],
  PRECONDITION_FAILED: [-32012, 412],
  PAYLOAD_TOO_LARGE: [-32013, 413],
  UNSUPPORTED_MEDIA_TYPE: [-32015, 415],
  UNPROCESSABLE_CONTENT: [-32022, 422],
  PRECONDITION_REQUIRED: [-32028, 428],
  TOO_MANY_REQUESTS: [-32029, 429],
  CLIENT_CLOSED_REQUEST: [-32099, 499],
};
