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

/** The `iat` and `exp` claims of a JWT, in milliseconds; null when unreadable. */
export function tokenLifetime(token: string): { issuedAt: number; expiresAt: number } | null {
  try {
    const payload = token.split(".")[1] ?? "";
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as { iat?: unknown; exp?: unknown };
    if (typeof claims.exp !== "number") return null;
    const issuedAt = typeof claims.iat === "number" ? claims.iat : claims.exp - 60;
    return { issuedAt: issuedAt * 1000, expiresAt: claims.exp * 1000 };
  } catch {
    return null;
  }
}
