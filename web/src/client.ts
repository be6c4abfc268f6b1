import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  splitLink,
  wsLink,
  type TRPCLink,
} from "@trpc/client";
import { QueryClient } from "@tanstack/react-query";
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
  close: () => void;
}

/**
 * One set of clients per signed-in user: queries and mutations over `httpBatchLink`,
 * subscriptions over one WebSocket. Signed out, there is no socket at all.
 *
 * Both links read the token when they need it (`connectionParams` is a function), so a
 * reconnect presents the token stored at that moment, not the one stored at creation.
 */
export function createClients(signedIn: boolean): Clients {
  const queryClient = new QueryClient({
    defaultOptions: {
      queries: { staleTime: 10_000, retry: 1, refetchOnWindowFocus: false },
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
  setConnectionStatus("connecting");
  const wsClient = createWSClient({
    url: webSocketUrl(),
    connectionParams: () => {
      const token = currentToken();
      return token ? { token } : null;
    },
    onOpen() {
      setConnectionStatus(opened ? "resumed" : "connected");
      opened = true;
    },
    onClose() {
      setConnectionStatus(opened ? "reconnecting" : "connecting");
    },
  });
  const links: TRPCLink<AppRouter>[] = [
    splitLink({
      condition: (op) => op.type === "subscription",
      true: wsLink<AppRouter>({ client: wsClient }),
      false: http,
    }),
  ];
  const trpcClient = createTRPCClient<AppRouter>({ links });
  return {
    queryClient,
    trpcClient,
    close() {
      void wsClient.close();
      queryClient.clear();
      setConnectionStatus("offline");
    },
  };
}
