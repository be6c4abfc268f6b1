import { useSyncExternalStore } from "react";

/**
 * The WebSocket as a person cares about it. "resumed" means the socket came back
 * after a drop and wsLink re-sent each subscription with the last event id it saw,
 * so the server replayed whatever was missed in between.
 */
export type ConnectionStatus = "offline" | "connecting" | "connected" | "reconnecting" | "resumed";

let status: ConnectionStatus = "offline";
const listeners = new Set<() => void>();

export function setConnectionStatus(next: ConnectionStatus): void {
  if (next === status) return;
  status = next;
  for (const listener of listeners) listener();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useConnectionStatus(): ConnectionStatus {
  return useSyncExternalStore(subscribe, () => status);
}
