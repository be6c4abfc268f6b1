// Every chat procedure through @trpc/tanstack-react-query's options proxy (nothing rendered).
import { useInfiniteQuery, useMutation, useQuery } from '@tanstack/react-query';
import { createTRPCContext, useSubscription } from '@trpc/tanstack-react-query';
import type { inferInput, inferOutput } from '@trpc/tanstack-react-query';

import type { AppRouter, Message, MessageEvent, Room, User } from '../../clients/ts/app-router';
import type { Equal, Expect } from './expect';

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

type TRPC = ReturnType<typeof useTRPC>;

type _getInput = Expect<Equal<inferInput<TRPC['users']['get']>, { userId: number }>>;
type _getOutput = Expect<Equal<inferOutput<TRPC['users']['get']>, User>>;
type _sendOutput = Expect<Equal<inferOutput<TRPC['messages']['send']>, Message>>;

export function useEveryProcedure(roomId: number) {
  const trpc = useTRPC();

  useMutation(trpc.auth.register.mutationOptions());
  useMutation(trpc.auth.login.mutationOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  useMutation(trpc.auth.refresh.mutationOptions());
  useMutation(trpc.auth.useToken.mutationOptions());
  useMutation(trpc.auth.logout.mutationOptions());
  useMutation(trpc.auth.logoutAll.mutationOptions());
  useMutation(trpc.auth.changePassword.mutationOptions());
  const user = useQuery(trpc.users.get.queryOptions({ userId: 1 }));

  useMutation(trpc.rooms.create.mutationOptions());
  useMutation(trpc.rooms.openDirect.mutationOptions());
  const rooms = useQuery(trpc.rooms.list.queryOptions());
  const publicRooms = useInfiniteQuery(
    trpc.rooms.listPublic.infiniteQueryOptions(
      { limit: 20 },
      { getNextPageParam: (page) => page.nextCursor },
    ),
  );
  useMutation(trpc.rooms.join.mutationOptions());
  const leave = useMutation(trpc.rooms.leave.mutationOptions());
  useMutation(trpc.rooms.addMember.mutationOptions());
  const members = useQuery(trpc.rooms.members.queryOptions({ roomId }));
  useMutation(trpc.rooms.removeMember.mutationOptions());

  const send = useMutation(trpc.messages.send.mutationOptions());
  const history = useInfiniteQuery(
    trpc.messages.list.infiniteQueryOptions(
      { roomId, limit: 50 },
      { getNextPageParam: (page) => page.nextCursor },
    ),
  );
  useMutation(trpc.messages.edit.mutationOptions());
  useMutation(trpc.messages.delete.mutationOptions());
  const stream = useSubscription(
    trpc.messages.onMessage.subscriptionOptions(
      { roomId },
      {
        onData(event) {
          type _event = Expect<Equal<typeof event, { id: string; data: MessageEvent }>>;
        },
      },
    ),
  );

  useMutation(trpc.typing.set.mutationOptions());
  const typing = useSubscription(trpc.typing.onTyping.subscriptionOptions({ roomId }));
  const presence = useSubscription(trpc.presence.onPresence.subscriptionOptions({ roomId }));

  type _me = Expect<Equal<typeof me.data, User | undefined>>;
  type _rooms = Expect<Equal<typeof rooms.data, Room[] | undefined>>;
  type _history = Expect<
    Equal<NonNullable<typeof history.data>['pages'][number]['items'], Message[]>
  >;
  type _send = Expect<Equal<Awaited<ReturnType<typeof send.mutateAsync>>, Message>>;
  type _leave = Expect<Equal<Parameters<typeof leave.mutate>[0], { roomId: number }>>;
  type _stream = Expect<Equal<typeof stream.data, { id: string; data: MessageEvent } | undefined>>;
  type _typing = Expect<Equal<NonNullable<typeof typing.data>['isTyping'], boolean>>;
  type _presence = Expect<Equal<NonNullable<typeof presence.data>['online'], User[]>>;

  const roomsKey = trpc.rooms.list.queryKey();
  return { user, publicRooms, members, roomsKey };
}
