import {
  TRPCClientError,
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  splitLink,
  wsLink,
  type TRPCLink,
} from "@trpc/client";
import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import { setConnectionStatus } from "./connection";
import { currentToken } from "./session";
import type { AppRouter } from "./trpc";

/**
 * Where the WebSocket server listens. The server that serves this page writes its
 * port into a meta tag; under `vite` (or any other host) it is 3001 on this host.
 */
export function webSocketUrl(): string {
  const port = document.querySelector<HTMLMetaElement>('meta[name="wirechat-ws-port"]')?.content;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.hostname}:${port && /^\d+$/.test(port) ? port : "3001"}`;
}

/** Same origin when served by wirechat; the API port beside Vite's dev server. */
function httpUrl(): string {
  return import.meta.env.DEV ? `${location.protocol}//${location.hostname}:3000/trpc` : "/trpc";
}

export interface Clients {
  queryClient: QueryClient;
  trpcClient: ReturnType<typeof createTRPCClient<AppRouter>>;
  /** Ends the server's session when there is one, then closes the socket. */
  close: (logout?: boolean) => void;
}

function isUnauthorized(error: unknown): boolean {
  return error instanceof TRPCClientError && error.data?.code === "UNAUTHORIZED";
}

/**
 * One set of clients per signed-in user: queries and mutations over `httpBatchLink`,
 * subscriptions (and calls made with `context: { socket: true }`) over one WebSocket.
 * Signed out, there is no socket at all.
 *
 * Both links read the token when they need it (`connectionParams` is a function), so a
 * reconnect presents the token stored at that moment, not the one stored at creation.
 * Signed in, any call answered `UNAUTHORIZED` means the session is over: `onEnded`.
 */
export function createClients(signedIn: boolean, onEnded?: () => void): Clients {
  let ended = false;
  const onError = (error: unknown) => {
    if (signedIn && !ended && isUnauthorized(error)) {
      ended = true;
      onEnded?.();
    }
  };
  const queryClient = new QueryClient({
    queryCache: new QueryCache({ onError }),
    mutationCache: new MutationCache({ onError }),
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        retry: (failures, error) => failures < 1 && !isUnauthorized(error),
        refetchOnWindowFocus: false,
      },
    },
  });
  const http = httpBatchLink({
    url: httpUrl(),
    headers() {
      const token = currentToken();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
  });
  if (!signedIn) {
    setConnectionStatus("offline");
    const trpcClient = createTRPCClient<AppRouter>({ links: [http] });
    return { queryClient, trpcClient, close: () => queryClient.clear() };
  }

  let opened = false;
  let closed = false; // a closed client's late socket events must not touch the badge
  setConnectionStatus("connecting");
  const wsClient = createWSClient({
    url: webSocketUrl(),
    connectionParams: () => {
      const token = currentToken();
      return token ? { token } : null;
    },
    onOpen() {
      if (!closed) setConnectionStatus(opened ? "resumed" : "connected");
      opened = true;
    },
    onClose() {
      if (!closed) setConnectionStatus(opened ? "reconnecting" : "connecting");
    },
  });
  const links: TRPCLink<AppRouter>[] = [
    splitLink({
      condition: (op) => op.type === "subscription" || op.context.socket === true,
      true: wsLink<AppRouter>({ client: wsClient }),
      false: http,
    }),
  ];
  const trpcClient = createTRPCClient<AppRouter>({ links });
  return {
    queryClient,
    trpcClient,
    close(logout = false) {
      closed = true;
      const done = () => {
        void wsClient.close();
        queryClient.clear();
      };
      if (logout) trpcClient.auth.logout.mutate().then(done, done);
      else done();
    },
  };
}
