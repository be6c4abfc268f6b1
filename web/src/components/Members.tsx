import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect } from "react";
import { readableError } from "../errors";
import { useTRPC, type User } from "../trpc";

interface Props {
  me: User;
  roomId: number;
  /** A direct room already is the conversation with each member. */
  direct: boolean;
  onOpenRoom: (roomId: number) => void;
}

/** Who is in the room and who is online; start a direct conversation with any of them. */
export function Members({ me, roomId, direct, onOpenRoom }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const members = useQuery(trpc.rooms.members.queryOptions({ roomId }));
  const presence = useSubscription(trpc.presence.onPresence.subscriptionOptions({ roomId }));
  const online = new Set(presence.data?.online.map((user) => user.id));
  const openDirect = useMutation(
    trpc.rooms.openDirect.mutationOptions({
      onSuccess: (room) => {
        queryClient.setQueryData(trpc.rooms.list.queryKey(), (rooms) =>
          rooms?.some((r) => r.id === room.id) ? rooms : [...(rooms ?? []), room],
        );
        onOpenRoom(room.id);
      },
    }),
  );

  // Someone online we do not list has just joined: fetch the member list again.
  const known = members.data;
  const snapshot = presence.data;
  useEffect(() => {
    if (!known || !snapshot) return;
    const ids = new Set(known.map((user) => user.id));
    if (snapshot.online.some((user) => !ids.has(user.id))) {
      void queryClient.invalidateQueries({ queryKey: trpc.rooms.members.queryKey({ roomId }) });
    }
  }, [known, snapshot, queryClient, trpc, roomId]);

  return (
    <aside className="members" aria-label="Members">
      <h3>Members</h3>
      {members.error && <p className="error">{readableError(members.error)}</p>}
      {openDirect.error && <p className="error">{readableError(openDirect.error)}</p>}
      <ul data-testid="members">
        {members.data?.map((user) => (
          <li key={user.id} data-online={online.has(user.id)}>
            <span className={online.has(user.id) ? "dot online" : "dot"} aria-hidden="true" />
            <span>
              {user.displayName} <small className="muted">@{user.username}</small>
              <span className="sr">{online.has(user.id) ? " (online)" : " (offline)"}</span>
            </span>
            {user.id !== me.id && !direct && (
              <button
                type="button"
                className="link"
                disabled={openDirect.isPending}
                onClick={() => openDirect.mutate({ userId: user.id })}
                aria-label={`Message ${user.username}`}
              >
                Message
              </button>
            )}
          </li>
        ))}
      </ul>
    </aside>
  );
}
