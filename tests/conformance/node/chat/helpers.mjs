// Shared bits of the chat end-to-end tests (tests/integration/test_node_client.py runs
// them with `node --test`, TRPC_URL and WS_URL pointing at a live wirechat process).
import { createTRPCClient, httpBatchLink } from '@trpc/client';

export const TRPC_URL = process.env.TRPC_URL;
export const WS_URL = process.env.WS_URL;
export const PASSWORD = 'correct horse battery';

let counter = 0;
export function uniqueName(prefix) {
  counter += 1;
  return `${prefix}_${process.pid}_${counter}_${Math.random().toString(36).slice(2, 7)}`;
}

export function httpClient(getToken = () => null) {
  return createTRPCClient({
    links: [
      httpBatchLink({
        url: TRPC_URL,
        headers() {
          const token = getToken();
          return token ? { authorization: `Bearer ${token}` } : {};
        },
      }),
    ],
  });
}

export async function registerUser(prefix) {
  const anon = httpClient();
  const username = uniqueName(prefix);
  const result = await anon.auth.register.mutate({ username, password: PASSWORD });
  return { ...result, username, client: httpClient(() => result.token) };
}

/** Collects a subscription's callbacks; `next(n)` waits for n more data events. */
export function collector() {
  const events = [];
  const waiters = [];
  let error = null;
  let started = 0;
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  return {
    events,
    get error() {
      return error;
    },
    get started() {
      return started;
    },
    callbacks: {
      onStarted() {
        started += 1;
        wake();
      },
      onData(value) {
        events.push(value);
        wake();
      },
      onError(err) {
        error = err;
        wake();
      },
    },
    async until(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (error) throw error;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out; events so far: ${JSON.stringify(events)}`);
        await new Promise((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, left);
        });
      }
    },
  };
}
