import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect, useState } from "react";
import { useTRPC, type User } from "../trpc";

interface Props {
  me: User;
  roomId: number;
}

// The server clears a typing flag after 5 s; this only covers a lost "stopped" event.
const STALE_MS = 6_000;

/** "alice is typing…", from `typing.onTyping`. */
export function TypingLine({ me, roomId }: Props) {
  const trpc = useTRPC();
  const [typing, setTyping] = useState<ReadonlyMap<number, { name: string; at: number }>>(
    () => new Map(),
  );

  useSubscription(
    trpc.typing.onTyping.subscriptionOptions(
      { roomId },
      {
        onData: (event) => {
          if (event.user.id === me.id) return;
          setTyping((current) => {
            const next = new Map(current);
            if (event.isTyping) next.set(event.user.id, { name: event.user.displayName, at: Date.now() });
            else next.delete(event.user.id);
            return next;
          });
        },
      },
    ),
  );

  useEffect(() => {
    if (typing.size === 0) return;
    const timer = setInterval(() => {
      setTyping((current) => {
        const fresh = [...current].filter(([, entry]) => Date.now() - entry.at < STALE_MS);
        return fresh.length === current.size ? current : new Map(fresh);
      });
    }, 1_000);
    return () => clearInterval(timer);
  }, [typing.size]);

  const names = [...typing.values()].map((entry) => entry.name);
  return (
    <p className="typing" data-testid="typing" aria-live="polite">
      {names.length === 0
        ? "\u00a0"
        : `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…`}
    </p>
  );
}
