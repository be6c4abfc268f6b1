import { useMutation } from "@tanstack/react-query";
import { TRPCClientError } from "@trpc/client";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { readableError } from "../errors";
import { useTRPC, type Message } from "../trpc";

interface Props {
  roomId: number;
  onSent: (message: Message) => void;
}

interface Outgoing {
  clientMessageId: string;
  text: string;
  error: string | null;
}

/** Works over plain http too, where `crypto.randomUUID` is missing. */
function newClientMessageId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Only a failure that never reached the server is worth retrying by itself. */
function isNetworkError(error: unknown): boolean {
  return error instanceof TRPCClientError && !error.data;
}

const TYPING_REPEAT_MS = 3_000;
const TYPING_IDLE_MS = 4_000;

/**
 * The message box. Every send carries a `clientMessageId`, and a retry (automatic after
 * a network failure, or the Retry button) reuses it, so the server stores it once.
 */
export function Composer({ roomId, onSent }: Props) {
  const trpc = useTRPC();
  const [text, setText] = useState("");
  const [outbox, setOutbox] = useState<Outgoing[]>([]);
  const told = useRef(false); // what the server was last told
  const lastTrueAt = useRef(0);
  const idleTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const trailing = useRef<ReturnType<typeof setTimeout>>(undefined);

  const typing = useMutation(trpc.typing.set.mutationOptions());
  const send = useMutation(
    trpc.messages.send.mutationOptions({
      retry: (failures, error) => failures < 3 && isNetworkError(error),
      onSuccess: (message, input) => {
        setOutbox((items) => items.filter((item) => item.clientMessageId !== input.clientMessageId));
        onSent(message);
      },
      onError: (error, input) => {
        setOutbox((items) =>
          items.map((item) =>
            item.clientMessageId === input.clientMessageId
              ? { ...item, error: readableError(error) }
              : item,
          ),
        );
      },
    }),
  );

  function sayTyping() {
    lastTrueAt.current = Date.now();
    told.current = true;
    typing.mutate({ roomId, isTyping: true });
  }

  /**
   * `isTyping: true` at most once per TYPING_REPEAT_MS (the server forgets it after
   * 5 s, and limits typing.set per user and room), `false` only after a `true`: a
   * burst of short messages costs one pair per window, not one per message.
   */
  function setTyping(isTyping: boolean) {
    clearTimeout(idleTimer.current);
    clearTimeout(trailing.current);
    if (!isTyping) {
      if (told.current) {
        told.current = false;
        typing.mutate({ roomId, isTyping: false });
      }
      return;
    }
    idleTimer.current = setTimeout(() => setTyping(false), TYPING_IDLE_MS);
    const wait = lastTrueAt.current + TYPING_REPEAT_MS - Date.now();
    if (wait <= 0) sayTyping();
    else if (!told.current) trailing.current = setTimeout(sayTyping, wait);
  }

  useEffect(
    () => () => {
      clearTimeout(idleTimer.current);
      clearTimeout(trailing.current);
    },
    [],
  );

  function dispatch(item: Outgoing) {
    send.mutate({ roomId, text: item.text, clientMessageId: item.clientMessageId });
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const body = text.trim();
    if (!body) return;
    const item = { clientMessageId: newClientMessageId(), text: body, error: null };
    setOutbox((items) => [...items, item]);
    setText("");
    setTyping(false);
    dispatch(item);
  }

  function retry(item: Outgoing) {
    setOutbox((items) =>
      items.map((i) => (i.clientMessageId === item.clientMessageId ? { ...i, error: null } : i)),
    );
    dispatch(item);
  }

  function discard(item: Outgoing) {
    setOutbox((items) => items.filter((i) => i.clientMessageId !== item.clientMessageId));
  }

  return (
    <div className="composer">
      {outbox.length > 0 && (
        <ul className="outbox" data-testid="outbox">
          {outbox.map((item) => (
            <li key={item.clientMessageId} className={item.error ? "failed" : "sending"}>
              <span className="text">{item.text}</span>
              {item.error ? (
                <>
                  <span className="error" role="alert">
                    {item.error}
                  </span>
                  <button type="button" onClick={() => retry(item)}>
                    Retry
                  </button>
                  <button type="button" className="link" onClick={() => discard(item)}>
                    Discard
                  </button>
                </>
              ) : (
                <span className="muted">sending…</span>
              )}
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={submit}>
        <input
          value={text}
          onChange={(event) => {
            setText(event.target.value);
            setTyping(event.target.value.trim() !== "");
          }}
          onBlur={() => setTyping(false)}
          placeholder="Write a message"
          aria-label="Message"
          maxLength={4000}
        />
        <button type="submit" disabled={!text.trim()}>
          Send
        </button>
      </form>
    </div>
  );
}
