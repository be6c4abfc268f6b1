import { useConnectionStatus } from "../connection";

const LABEL = {
  offline: "offline",
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  resumed: "resumed",
} as const;

/** The live connection's state, as wsLink reports it. */
export function ConnectionBadge() {
  const status = useConnectionStatus();
  return (
    <span className={`badge badge-${status}`} data-testid="connection" data-status={status}>
      {LABEL[status]}
    </span>
  );
}
