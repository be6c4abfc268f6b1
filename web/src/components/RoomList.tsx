import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { FormEvent } from "react";
import { readableError } from "../errors";
import { useTRPC, type Room, type User } from "../trpc";

interface Props {
  me: User;
  selected: number | null;
  onSelect: (roomId: number) => void;
}

const PUBLIC_PAGE = 100;

/** A direct room is named after both users; show the other one. */
export function roomTitle(room: Room, me: User): string {
  if (!room.isDirect) return room.name;
  const other = room.name.split(", ").find((name) => name !== me.username);
  return `@${other ?? room.name}`;
}

/** The caller's rooms, the public ones to join, and a form to create one. */
export function RoomList({ me, selected, onSelect }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // Nothing pushes room-list changes, so poll gently; joins and creates refresh at once.
  const mine = useQuery(trpc.rooms.list.queryOptions(undefined, { refetchInterval: 15_000 }));
  // Pages of 100 (the most one holds), oldest rooms first; "More rooms" asks for the
  // next. The poll refetches every page loaded so far.
  const publicRooms = useInfiniteQuery(
    trpc.rooms.listPublic.infiniteQueryOptions(
      { limit: PUBLIC_PAGE },
      {
        getNextPageParam: (page) => page.nextCursor ?? undefined,
        refetchInterval: 15_000,
      },
    ),
  );
  // Show a room the moment the server answers, before the lists are fetched again.
  const remember = (room: Room) => {
    queryClient.setQueryData(trpc.rooms.list.queryKey(), (rooms) =>
      rooms?.some((r) => r.id === room.id) ? rooms : [...(rooms ?? []), room],
    );
    onSelect(room.id);
    void refresh();
  };
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.rooms.list.queryKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.rooms.listPublic.pathKey() }),
    ]);
  const create = useMutation(trpc.rooms.create.mutationOptions({ onSuccess: remember }));
  const join = useMutation(trpc.rooms.join.mutationOptions({ onSuccess: remember }));

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    create.mutate(
      { name: String(form.get("name") ?? "").trim(), isPrivate: form.get("isPrivate") === "on" },
      { onSuccess: () => formElement.reset() },
    );
  }

  const memberOf = new Set(mine.data?.map((room) => room.id));
  const joinable = (publicRooms.data?.pages ?? [])
    .flatMap((page) => page.items)
    .filter((room) => !memberOf.has(room.id));

  return (
    <nav className="rooms" aria-label="Rooms">
      <h2>Your rooms</h2>
      {mine.error && <p className="error">{readableError(mine.error)}</p>}
      <ul data-testid="my-rooms">
        {mine.data?.map((room) => (
          <li key={room.id}>
            <button
              type="button"
              className={room.id === selected ? "room-link selected" : "room-link"}
              onClick={() => onSelect(room.id)}
            >
              {roomTitle(room, me)}
              {room.isPrivate && !room.isDirect && <small> (private)</small>}
            </button>
          </li>
        ))}
        {mine.data?.length === 0 && <li className="muted">No rooms yet.</li>}
      </ul>

      <form className="create-room" onSubmit={submit} aria-label="Create a room">
        <input name="name" placeholder="New room name" aria-label="New room name" required />
        <label className="inline">
          <input type="checkbox" name="isPrivate" /> private
        </label>
        <button type="submit" disabled={create.isPending}>
          Create
        </button>
        {create.error && <p className="error">{readableError(create.error)}</p>}
      </form>

      <h2>Public rooms</h2>
      {publicRooms.error && <p className="error">{readableError(publicRooms.error)}</p>}
      {join.error && <p className="error">{readableError(join.error)}</p>}
      <ul data-testid="public-rooms">
        {joinable.map((room) => (
          <li key={room.id}>
            <span>
              {room.name}{" "}
              <small className="muted">
                {room.memberCount} {room.memberCount === 1 ? "member" : "members"}
              </small>
            </span>
            <button
              type="button"
              disabled={join.isPending}
              onClick={() => join.mutate({ roomId: room.id })}
              aria-label={`Join ${room.name}`}
            >
              Join
            </button>
          </li>
        ))}
        {publicRooms.isSuccess && !publicRooms.hasNextPage && joinable.length === 0 && (
          <li className="muted">Nothing new to join.</li>
        )}
      </ul>
      <div className="row">
        {publicRooms.hasNextPage && (
          <button
            type="button"
            className="link"
            disabled={publicRooms.isFetchingNextPage}
            onClick={() => void publicRooms.fetchNextPage()}
          >
            {publicRooms.isFetchingNextPage ? "Loading…" : "More rooms"}
          </button>
        )}
        <button type="button" className="link" onClick={() => void refresh()}>
          Refresh
        </button>
      </div>
    </nav>
  );
}
