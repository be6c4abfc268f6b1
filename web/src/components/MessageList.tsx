import { useEffect, useLayoutEffect, useRef } from "react";
import type { Message, User } from "../trpc";
import { MessageItem } from "./MessageItem";

interface Props {
  me: User;
  messages: Message[];
  loaded: boolean;
  hasOlder: boolean;
  loadingOlder: boolean;
  onLoadOlder: () => void;
  onChanged: (message: Message) => void;
}

/**
 * The scrolling timeline. Reaching the top loads the next older page and keeps what
 * was on screen in place; new messages scroll into view only if the reader was
 * already at the bottom.
 */
export function MessageList({ me, messages, loaded, hasOlder, loadingOlder, onLoadOlder, onChanged }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const sentinel = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const previous = useRef({ firstId: 0, lastId: 0, height: 0 });

  const firstId = messages[0]?.id ?? 0;
  const lastId = messages[messages.length - 1]?.id ?? 0;

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const before = previous.current;
    if (before.firstId && firstId < before.firstId && lastId === before.lastId) {
      el.scrollTop += el.scrollHeight - before.height;
    } else if (lastId !== before.lastId && (atBottom.current || !before.lastId)) {
      el.scrollTop = el.scrollHeight;
    }
    previous.current = { firstId, lastId, height: el.scrollHeight };
  }, [firstId, lastId, messages.length]);

  useEffect(() => {
    const el = sentinel.current;
    if (!el || !hasOlder || loadingOlder) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) onLoadOlder();
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [hasOlder, loadingOlder, onLoadOlder]);

  function onScroll() {
    const el = scroller.current;
    if (el) atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }

  return (
    <div className="messages" ref={scroller} onScroll={onScroll} data-testid="messages">
      <div ref={sentinel} className="history-edge">
        {!loaded && "Loading messages…"}
        {loaded && hasOlder && (
          <button type="button" disabled={loadingOlder} onClick={onLoadOlder}>
            {loadingOlder ? "Loading older messages…" : "Load older messages"}
          </button>
        )}
        {loaded && !hasOlder && <span className="muted">Beginning of the conversation</span>}
      </div>
      <ol>
        {messages.map((message) => (
          <MessageItem
            key={message.id}
            message={message}
            mine={message.author.id === me.id}
            onChanged={onChanged}
          />
        ))}
      </ol>
    </div>
  );
}
