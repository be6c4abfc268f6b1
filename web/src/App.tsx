import { QueryClientProvider } from "@tanstack/react-query";
import { useState } from "react";
import { createClients } from "./client";
import { Chat } from "./components/Chat";
import { SignIn } from "./components/SignIn";
import { loadSession, saveSession, type StoredSession } from "./session";
import { TRPCProvider } from "./trpc";

/** Signed out: the sign-in form. Signed in: the chat, on clients made for that user. */
export function App() {
  const [session, setSession] = useState(loadSession);
  const [clients, setClients] = useState(() => createClients(session !== null));
  const [notice, setNotice] = useState<string | null>(null);

  function signIn(next: StoredSession) {
    saveSession(next);
    clients.close();
    setClients(createClients(true));
    setSession(next);
    setNotice(null);
  }

  function signOut(reason?: string) {
    saveSession(null);
    clients.close();
    setClients(createClients(false));
    setSession(null);
    setNotice(reason ?? null);
  }

  return (
    <QueryClientProvider client={clients.queryClient}>
      <TRPCProvider trpcClient={clients.trpcClient} queryClient={clients.queryClient}>
        {session ? (
          <Chat key={session.user.id} me={session.user} onSignOut={signOut} />
        ) : (
          <SignIn notice={notice} onSignedIn={signIn} />
        )}
      </TRPCProvider>
    </QueryClientProvider>
  );
}
