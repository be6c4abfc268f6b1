// Every chat procedure through the vanilla client, typed by the generated AppRouter.
import {
  TRPCClientError,
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  wsLink,
} from '@trpc/client';
import type {
  TRPC_ERROR_CODE_KEY as TRPCErrorCode,
  inferRouterInputs,
  inferRouterOutputs,
} from '@trpc/server';

import type {
  AppRouter,
  ListPublicRoomsInput,
  Message,
  MessageEvent,
  PresenceEvent,
  Room,
  TypingEvent,
  User,
} from '../../clients/ts/app-router';
import type { Equal, Expect, HasAny } from './expect';

const url = 'http://127.0.0.1:3000/trpc';

export const client = createTRPCClient<AppRouter>({
  links: [
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: httpSubscriptionLink({ url }),
      false: httpBatchLink({ url }),
    }),
  ],
});

export const wsClient = createTRPCClient<AppRouter>({
  links: [wsLink({ client: createWSClient({ url: 'ws://127.0.0.1:3001' }) })],
});

type Inputs = inferRouterInputs<AppRouter>;
type Outputs = inferRouterOutputs<AppRouter>;

// No input or output anywhere is `any`.
type _noAnyInputs = Expect<Equal<HasAny<Inputs>, false>>;
type _noAnyOutputs = Expect<Equal<HasAny<Outputs>, false>>;

// Outputs as JSON: times are ISO strings without a transformer.
type _user = Expect<Equal<Outputs['users']['get'], User>>;
type _createdAt = Expect<Equal<Outputs['messages']['send']['createdAt'], string>>;
type _editedAt = Expect<Equal<Outputs['messages']['send']['editedAt'], string | null>>;
type _rooms = Expect<Equal<Outputs['rooms']['list'], Room[]>>;
type _page = Expect<Equal<Outputs['messages']['list']['items'], Message[]>>;
type _cursor = Expect<Equal<Outputs['messages']['list']['nextCursor'], number | null>>;
type _ok = Expect<Equal<Outputs['rooms']['leave'], { ok: true }>>;
type _eventType = Expect<Equal<MessageEvent['type'], 'created' | 'edited' | 'deleted'>>;

// Inputs: defaults are optional, nullables take null, a nullable input may be left out.
type _limit = Expect<Equal<Inputs['messages']['list']['limit'], number | undefined>>;
type _clientId = Expect<
  Equal<Inputs['messages']['send']['clientMessageId'], string | null | undefined>
>;
type _listPublic = Expect<Equal<Inputs['rooms']['listPublic'], ListPublicRoomsInput | void | undefined>>;
type _me = Expect<Equal<Inputs['auth']['me'], void>>;

// Errors: tRPC's default shape, and the issues of a rejected input.
export function describeError(error: unknown): string {
  if (!(error instanceof TRPCClientError)) return String(error);
  const typed = error as TRPCClientError<AppRouter>;
  type _code = Expect<Equal<NonNullable<typeof typed.data>['code'], TRPCErrorCode>>;
  const issues = typed.data?.issues ?? [];
  return issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
}

export async function callEveryProcedure(): Promise<void> {
  const registered = await client.auth.register.mutate({
    username: 'ada',
    password: 'correct horse',
    displayName: 'Ada',
  });
  const loggedIn = await client.auth.login.mutate({ username: 'ada', password: 'correct horse' });
  const token: string = registered.token;
  const me: User = await client.auth.me.query();
  const other = await client.users.get.query({ userId: loggedIn.user.id });

  const room = await client.rooms.create.mutate({ name: 'general', isPrivate: false });
  const direct = await client.rooms.openDirect.mutate({ userId: other.id });
  const mine: Room[] = await client.rooms.list.query();
  const publicRooms = await client.rooms.listPublic.query();
  const nextPublic = await client.rooms.listPublic.query({ cursor: publicRooms.nextCursor });
  const joined = await client.rooms.join.mutate({ roomId: room.id });
  const left = await client.rooms.leave.mutate({ roomId: direct.id });
  const added = await client.rooms.addMember.mutate({ roomId: room.id, userId: me.id });
  const members: User[] = await client.rooms.members.query({ roomId: joined.id });
  const shrunk: Room = await client.rooms.removeMember.mutate({ roomId: room.id, userId: other.id });

  // Sessions: refresh and switch over the socket, log out, change the password.
  const renewed = await wsClient.auth.refresh.mutate({ refreshToken: registered.refreshToken });
  type _renewed = Expect<Equal<typeof renewed, { token: string; refreshToken: string; user: User }>>;
  const switched: User = (await wsClient.auth.useToken.mutate({ token: renewed.token })).user;
  const changed = await client.auth.changePassword.mutate({
    currentPassword: 'correct horse',
    newPassword: 'battery staple',
  });
  const out: true = (await client.auth.logout.mutate()).ok;
  const allOut: true = (await client.auth.logoutAll.mutate()).ok;
  void [shrunk, switched, changed.refreshToken, out, allOut];

  const sent = await client.messages.send.mutate({ roomId: room.id, text: 'hi', clientMessageId: 'c1' });
  const page = await client.messages.list.query({ roomId: room.id, cursor: null, limit: 20 });
  const edited = await client.messages.edit.mutate({ messageId: sent.id, text: 'hello' });
  const deleted = await client.messages.delete.mutate({ messageId: edited.id });
  await client.typing.set.mutate({ roomId: room.id, isTyping: true });

  type _sent = Expect<Equal<typeof sent, Message>>;
  type _deleted = Expect<Equal<typeof deleted.deletedAt, string | null>>;
  type _left = Expect<Equal<typeof left.ok, true>>;
  void [token, mine, nextPublic, added, members, page.items[0]?.author.displayName];

  const messages = wsClient.messages.onMessage.subscribe(
    { roomId: room.id, lastEventId: null },
    {
      onData(event) {
        // A tracked event: its id (to resume from) and the MessageEvent.
        type _event = Expect<Equal<typeof event, { id: string; data: MessageEvent }>>;
        const text: string = event.data.message.text;
        void text;
      },
    },
  );
  const typing = client.typing.onTyping.subscribe(
    { roomId: room.id },
    {
      onData(event) {
        type _typing = Expect<Equal<typeof event, TypingEvent>>;
        const isTyping: boolean = event.isTyping;
        void isTyping;
      },
    },
  );
  const presence = client.presence.onPresence.subscribe(
    { roomId: room.id },
    {
      onData(event) {
        type _presence = Expect<Equal<typeof event, PresenceEvent>>;
        const online: string[] = event.online.map((user) => user.createdAt);
        void online;
      },
    },
  );
  messages.unsubscribe();
  typing.unsubscribe();
  presence.unsubscribe();
}
