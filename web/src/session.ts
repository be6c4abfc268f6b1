import type { User } from "./trpc";

/** What a sign-in leaves in `localStorage`: the access token and who it belongs to. */
export interface StoredSession {
  token: string;
  refreshToken: string | null;
  user: User;
}

const KEY = "wirechat.session";

export function loadSession(): StoredSession | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const value = JSON.parse(raw) as Partial<StoredSession>;
    if (typeof value.token !== "string" || !value.user) return null;
    return { token: value.token, refreshToken: value.refreshToken ?? null, user: value.user };
  } catch {
    return null;
  }
}

export function saveSession(session: StoredSession | null): void {
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
}

/** The token as stored now: links read it on every request and reconnect. */
export function currentToken(): string | null {
  return loadSession()?.token ?? null;
}
