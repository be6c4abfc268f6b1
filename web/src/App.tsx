import { QueryClientProvider } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { createClients, type Clients } from "./client";
import { Chat } from "./components/Chat";
import { SignIn } from "./components/SignIn";
import { loadSession, saveSession, type StoredSession } from "./session";
import { TRPCProvider } from "./trpc";

const ENDED = "Your session has ended. Please log in again.";

/** Signed out: the sign-in form. Signed in: the chat, on clients made for that user. */
export function App() {
  const [session, setSession] = useState(loadSession);
  const [notice, setNotice] = useState<string | null>(null);
  const current = useRef<Clients | null>(null);
  const [clients, setClients] = useState(() => open(session !== null));

  function open(signedIn: boolean): Clients {
    const made = createClients(signedIn, () => signOut(ENDED));
    current.current = made;
    return made;
  }

  // Logging out ends the server's session; when it has already ended (`reason`),
  // there is nothing left to end.
  function signOut(reason?: string) {
    if (loadSession() === null) return; // already signed out (several calls can fail at once)
    saveSession(null);
    current.current?.close(reason === undefined);
    setClients(open(false));
    setSession(null);
    setNotice(reason ?? null);
  }

  function signIn(next: StoredSession) {
    saveSession(next);
    current.current?.close();
    setClients(open(true));
    setSession(next);
    setNotice(null);
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
