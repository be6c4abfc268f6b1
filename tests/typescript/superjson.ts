// The superjson flavour (`wirechat codegen --transformer superjson`): times arrive as Dates,
// and every link must be given the transformer, as with a Node server that uses superjson.
// tests/typescript/test_app_router.py generates ./app-router.d.ts next to a copy of this file.
import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  httpBatchStreamLink,
  httpSubscriptionLink,
  splitLink,
  wsLink,
} from '@trpc/client';
import type { inferRouterOutputs } from '@trpc/server';
import superjson from 'superjson';

import type { AppRouter, MessageEvent } from './app-router';
import type { Equal, Expect, HasAny } from './expect';

const url = 'http://127.0.0.1:3000/trpc';

export const client = createTRPCClient<AppRouter>({
  links: [
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: httpSubscriptionLink({ url, transformer: superjson }),
      false: splitLink({
        condition: (op) => op.context.stream === true,
        true: httpBatchStreamLink({ url, transformer: superjson }),
        false: httpBatchLink({ url, transformer: superjson }),
      }),
    }),
  ],
});

export const wsClient = createTRPCClient<AppRouter>({
  links: [wsLink({ client: createWSClient({ url: 'ws://127.0.0.1:3001' }), transformer: superjson })],
});

type Outputs = inferRouterOutputs<AppRouter>;
type _noAny = Expect<Equal<HasAny<Outputs>, false>>;
type _createdAt = Expect<Equal<Outputs['messages']['send']['createdAt'], Date>>;
type _editedAt = Expect<Equal<Outputs['messages']['send']['editedAt'], Date | null>>;
type _userCreatedAt = Expect<Equal<Outputs['auth']['me']['createdAt'], Date>>;
type _text = Expect<Equal<Outputs['messages']['send']['text'], string>>;

export async function withDates(): Promise<number> {
  const sent = await client.messages.send.mutate({ roomId: 1, text: 'hi' });
  const page = await client.messages.list.query({ roomId: 1 });
  wsClient.messages.onMessage.subscribe(
    { roomId: 1 },
    {
      onData(event) {
        type _event = Expect<Equal<typeof event, { id: string; data: MessageEvent }>>;
        const at: Date = event.data.message.createdAt;
        void at;
      },
    },
  );
  return sent.createdAt.getTime() - (page.items[0]?.createdAt.getTime() ?? 0);
}

// Without the transformer the link does not type-check.
export const forgotten = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url })] }); // expect-error TS2345
