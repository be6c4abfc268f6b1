import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useCallback, useMemo, useRef, useState } from "react";
import { useTRPC, type Message } from "./trpc";

const PAGE = 50;

/** Of two versions of one message, the later one: deletion wins, then the later edit. */
function later(a: Message, b: Message): Message {
  if (a.deletedAt) return a;
  if (b.deletedAt) return b;
  return (b.editedAt ?? "") >= (a.editedAt ?? "") ? b : a;
}

/**
 * A room's timeline: history pages (newest first, cursor paging) merged with what
 * arrived live, one entry per message id, in id order, deleted ones left out.
 *
 * The stream is `messages.onMessage`, whose events are tracked: after a dropped socket
 * wsLink re-subscribes with the last event id it saw and the server replays the gap,
 * so merging by id is all it takes to show each message once.
 */
export function useRoomMessages(roomId: number) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [live, setLive] = useState<ReadonlyMap<number, Message>>(() => new Map());
  const started = useRef(false);

  const history = useInfiniteQuery(
    trpc.messages.list.infiniteQueryOptions(
      { roomId, limit: PAGE },
      {
        getNextPageParam: (page) => page.nextCursor ?? undefined,
        // The stream keeps the timeline current; refetching every page would only cost.
        staleTime: Infinity,
        gcTime: 0,
      },
    ),
  );

  const upsert = useCallback((messages: readonly Message[]) => {
    setLive((current) => {
      const next = new Map(current);
      for (const message of messages) {
        const known = next.get(message.id);
        next.set(message.id, known ? later(known, message) : message);
      }
      return next;
    });
  }, []);

  const stream = useSubscription(
    trpc.messages.onMessage.subscriptionOptions(
      { roomId },
      {
        onStarted: () => {
          // The first start has no lastEventId, so the stream begins live: whatever was
          // stored between the history read and now comes from a fresh newest page.
          // Later starts are resumes, where the server replays from lastEventId.
          if (started.current) return;
          started.current = true;
          void queryClient
            .fetchQuery(trpc.messages.list.queryOptions({ roomId, limit: PAGE }, { staleTime: 0 }))
            .then((page) => upsert(page.items), () => undefined);
        },
        onData: (event) => upsert([event.data.message]),
      },
    ),
  );

  const messages = useMemo(() => {
    const byId = new Map<number, Message>();
    for (const page of history.data?.pages ?? []) {
      for (const message of page.items) byId.set(message.id, message);
    }
    for (const message of live.values()) {
      const known = byId.get(message.id);
      byId.set(message.id, known ? later(known, message) : message);
    }
    return [...byId.values()].filter((m) => !m.deletedAt).sort((a, b) => a.id - b.id);
  }, [history.data, live]);

  return { messages, history, stream, upsert };
}
