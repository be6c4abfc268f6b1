import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { readableError } from "../errors";
import { useTRPC, type Message } from "../trpc";

interface Props {
  message: Message;
  mine: boolean;
  onChanged: (message: Message) => void;
}

const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** One message; its author can edit or delete it. */
export function MessageItem({ message, mine, onChanged }: Props) {
  const trpc = useTRPC();
  const [editing, setEditing] = useState(false);
  const edit = useMutation(
    trpc.messages.edit.mutationOptions({
      onSuccess: (updated) => {
        onChanged(updated);
        setEditing(false);
      },
    }),
  );
  const remove = useMutation(trpc.messages.delete.mutationOptions({ onSuccess: onChanged }));
  const error = edit.error ?? remove.error;

  function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const text = String(new FormData(event.currentTarget).get("text") ?? "");
    edit.mutate({ messageId: message.id, text });
  }

  return (
    <li className={mine ? "message mine" : "message"} data-message-id={message.id}>
      <div className="meta">
        <strong>{message.author.displayName}</strong>{" "}
        <time dateTime={message.createdAt}>{time.format(new Date(message.createdAt))}</time>
        {message.editedAt && <small className="muted"> (edited)</small>}
      </div>
      {editing ? (
        <form className="edit" onSubmit={save}>
          <input name="text" defaultValue={message.text} aria-label="Edit message" autoFocus />
          <button type="submit" disabled={edit.isPending}>
            Save
          </button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <p className="text">{message.text}</p>
      )}
      {mine && !editing && (
        <div className="actions">
          <button type="button" className="link" onClick={() => setEditing(true)}>
            Edit
          </button>
          <button
            type="button"
            className="link"
            disabled={remove.isPending}
            onClick={() => remove.mutate({ messageId: message.id })}
          >
            Delete
          </button>
        </div>
      )}
      {error && <p className="error">{readableError(error)}</p>}
    </li>
  );
}
