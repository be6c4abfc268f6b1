import { TRPCClientError } from "@trpc/client";
import { useEffect, useRef } from "react";
import { loadSession, saveSession, tokenLifetime } from "./session";
import { useTRPCClient } from "./trpc";

const RETRY_MS = 5_000;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Keeps the signed-in user signed in: at three quarters of the access token's
 * lifetime, `auth.refresh` runs over the WebSocket, which rotates the refresh token
 * and switches that very connection to the new access token (its subscriptions go
 * on). Another tab of the same browser may have refreshed first: then this tab
 * adopts the stored token with `auth.useToken` on its own socket instead, since a
 * rotated refresh token used twice would end the session.
 *
 * `onEnded` runs when the server says the session is over (logged out elsewhere,
 * password changed, refresh token refused).
 */
export function useSessionRefresh(onEnded: (reason: string) => void): void {
  const client = useTRPCClient();
  const onEndedRef = useRef(onEnded);
  onEndedRef.current = onEnded;

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let current = loadSession()?.token ?? null;

    function schedule(delay?: number) {
      clearTimeout(timer);
      const session = loadSession();
      const lifetime = session && tokenLifetime(session.token);
      if (!session?.refreshToken || !lifetime) return;
      const due = lifetime.issuedAt + (lifetime.expiresAt - lifetime.issuedAt) * 0.75;
      const wait = delay ?? Math.min(Math.max(due - Date.now(), 1_000), MAX_TIMEOUT_MS);
      timer = setTimeout(() => void refresh(), wait);
    }

    function ended(error: unknown): boolean {
      if (error instanceof TRPCClientError && error.data?.code === "UNAUTHORIZED") {
        onEndedRef.current("Your session has ended. Please log in again.");
        return true;
      }
      return false;
    }

    // One tab at a time: the others then find the stored token already renewed.
    async function refresh(): Promise<void> {
      if ("locks" in navigator) await navigator.locks.request("wirechat.session-refresh", renew);
      else await renew();
    }

    async function renew() {
      if (stopped) return;
      const session = loadSession();
      if (!session?.refreshToken) return;
      try {
        if (session.token !== current) {
          await client.auth.useToken.mutate({ token: session.token }, { context: { socket: true } });
          current = session.token;
        } else {
          const next = await client.auth.refresh.mutate(
            { refreshToken: session.refreshToken },
            { context: { socket: true } },
          );
          if (stopped) return;
          saveSession({ token: next.token, refreshToken: next.refreshToken, user: next.user });
          current = next.token;
        }
        if (!stopped) schedule();
      } catch (error) {
        if (!stopped && !ended(error)) schedule(RETRY_MS);
      }
    }

    schedule();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [client]);
}
