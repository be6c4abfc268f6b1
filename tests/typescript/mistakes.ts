// Deliberate mistakes: each line marked `// expect-error TSnnnn` must fail with exactly that
// error, and no other line may fail (tests/typescript/test_app_router.py checks both).
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';

import type { AppRouter } from '../../clients/ts/app-router';

const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: '/trpc' })] });
const { useTRPC } = createTRPCContext<AppRouter>();

export async function mistakes(): Promise<void> {
  // A wrong input field (a misspelt name, then an unknown one).
  await client.messages.send.mutate({ roomId: 1, txt: 'hi' }); // expect-error TS2561
  await client.users.get.query({ userId: 1, admin: true }); // expect-error TS2353
  // A missing required field.
  await client.messages.send.mutate({ roomId: 1 }); // expect-error TS2345
  // A field of the wrong type.
  await client.rooms.join.mutate({ roomId: '1' }); // expect-error TS2322
  // A procedure without input given one, and one with input called without.
  await client.rooms.members.query(); // expect-error TS2554
  // A property the output does not have, and one of another type.
  const room = await client.rooms.create.mutate({ name: 'general' });
  console.log(room.title); // expect-error TS2339
  const created: Date = room.createdAt; // expect-error TS2322
  // A mutation called as a query, a query as a mutation, a query subscribed to.
  await client.messages.send.query({ roomId: 1, text: 'hi' }); // expect-error TS2339
  await client.rooms.list.mutate(); // expect-error TS2339
  client.rooms.list.subscribe(undefined, {}); // expect-error TS2339
  // A procedure that does not exist.
  await client.rooms.archive.mutate({ roomId: 1 }); // expect-error TS2339
  // The same mistakes through @trpc/tanstack-react-query's options proxy.
  const trpc = useTRPC();
  trpc.messages.send.queryOptions({ roomId: 1, text: 'hi' }); // expect-error TS2339
  trpc.rooms.list.subscriptionOptions(); // expect-error TS2339
  trpc.users.get.queryOptions({ id: 1 }); // expect-error TS2769
  void created;
}
