import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC, type User } from "../trpc";
import { useSessionRefresh } from "../useSessionRefresh";
import { ConnectionBadge } from "./ConnectionBadge";
import { RoomList } from "./RoomList";
import { RoomView } from "./RoomView";

interface Props {
  me: User;
  onSignOut: (reason?: string) => void;
}

/** The signed-in page: rooms on the left, the open room on the right. */
export function Chat({ me, onSignOut }: Props) {
  const trpc = useTRPC();
  const [roomId, setRoomId] = useState<number | null>(null);
  useSessionRefresh(onSignOut);
  // A stored token can be expired or from another server: ask who we are once. An
  // UNAUTHORIZED answer signs out (the query cache's handler, see client.ts).
  useQuery(trpc.auth.me.queryOptions());

  return (
    <div className="chat">
      <header className="topbar">
        <strong className="brand">wirechat</strong>
        <ConnectionBadge />
        <span className="me" data-testid="me">
          {me.displayName} <small>@{me.username}</small>
        </span>
        <button type="button" onClick={() => onSignOut()}>
          Log out
        </button>
      </header>
      <RoomList me={me} selected={roomId} onSelect={setRoomId} />
      {roomId === null ? (
        <main className="room empty">
          <p>Pick a room on the left, join a public one, or create your own.</p>
        </main>
      ) : (
        <RoomView
          key={roomId}
          me={me}
          roomId={roomId}
          onOpenRoom={setRoomId}
          onLeft={() => setRoomId(null)}
          onSessionEnded={onSignOut}
        />
      )}
    </div>
  );
}
