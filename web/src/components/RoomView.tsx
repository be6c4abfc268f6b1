import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { TRPCClientError } from "@trpc/client";
import { useEffect } from "react";
import { readableError } from "../errors";
import { useTRPC, type User } from "../trpc";
import { useRoomMessages } from "../useRoomMessages";
import { Composer } from "./Composer";
import { Members } from "./Members";
import { MessageList } from "./MessageList";
import { roomTitle } from "./RoomList";
import { TypingLine } from "./TypingLine";

interface Props {
  me: User;
  roomId: number;
  onOpenRoom: (roomId: number) => void;
  onLeft: () => void;
  onSessionEnded: (reason: string) => void;
}

/** One open room: its timeline, who is in it, who is typing, and the composer. */
export function RoomView({ me, roomId, onOpenRoom, onLeft, onSessionEnded }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const rooms = useQuery(trpc.rooms.list.queryOptions());
  const room = rooms.data?.find((r) => r.id === roomId);
  const { messages, history, stream, upsert } = useRoomMessages(roomId);
  const leave = useMutation(
    trpc.rooms.leave.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.rooms.pathKey() });
        onLeft();
      },
    }),
  );

  const streamError = stream.error;
  useEffect(() => {
    if (streamError instanceof TRPCClientError && streamError.data?.code === "UNAUTHORIZED") {
      onSessionEnded("Your session has ended. Please log in again.");
    }
  }, [streamError, onSessionEnded]);

  return (
    <main className="room" aria-label={room ? roomTitle(room, me) : "Room"}>
      <header className="room-header">
        <h2 data-testid="room-title">{room ? roomTitle(room, me) : `Room ${roomId}`}</h2>
        {room && !room.isDirect && (
          <button type="button" disabled={leave.isPending} onClick={() => leave.mutate({ roomId })}>
            Leave room
          </button>
        )}
      </header>
      {leave.error && <p className="error">{readableError(leave.error)}</p>}
      {stream.error && (
        <p className="error" role="alert">
          Live updates stopped: {readableError(stream.error)}
        </p>
      )}
      <div className="room-body">
        <section className="timeline">
          {history.error ? (
            <p className="error" role="alert">
              {readableError(history.error)}
            </p>
          ) : (
            <MessageList
              me={me}
              messages={messages}
              loaded={history.isSuccess}
              hasOlder={history.hasNextPage}
              loadingOlder={history.isFetchingNextPage}
              onLoadOlder={() => void history.fetchNextPage()}
              onChanged={(message) => upsert([message])}
            />
          )}
          <TypingLine me={me} roomId={roomId} />
          <Composer roomId={roomId} onSent={(message) => upsert([message])} />
        </section>
        <Members me={me} roomId={roomId} direct={room?.isDirect ?? false} onOpenRoom={onOpenRoom} />
      </div>
    </main>
  );
}
