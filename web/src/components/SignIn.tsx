import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { readableError } from "../errors";
import type { StoredSession } from "../session";
import { useTRPC } from "../trpc";

interface Props {
  notice: string | null;
  onSignedIn: (session: StoredSession) => void;
}

/** Log in, or sign up with a new username. */
export function SignIn({ notice, onSignedIn }: Props) {
  const trpc = useTRPC();
  const [mode, setMode] = useState<"login" | "register">("login");
  const login = useMutation(trpc.auth.login.mutationOptions());
  const register = useMutation(trpc.auth.register.mutationOptions());
  const active = mode === "login" ? login : register;

  function done(result: { token: string; user: StoredSession["user"] }) {
    const refreshToken =
      "refreshToken" in result && typeof result.refreshToken === "string" ? result.refreshToken : null;
    onSignedIn({ token: result.token, refreshToken, user: result.user });
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const username = String(form.get("username") ?? "").trim();
    const password = String(form.get("password") ?? "");
    if (mode === "login") {
      login.mutate({ username, password }, { onSuccess: done });
    } else {
      const displayName = String(form.get("displayName") ?? "").trim();
      register.mutate(
        { username, password, ...(displayName ? { displayName } : {}) },
        { onSuccess: done },
      );
    }
  }

  function switchTo(next: "login" | "register") {
    login.reset();
    register.reset();
    setMode(next);
  }

  return (
    <main className="signin">
      <h1>wirechat</h1>
      {notice && <p className="notice">{notice}</p>}
      <form onSubmit={submit} aria-label={mode === "login" ? "Log in" : "Sign up"}>
        <label>
          Username
          <input name="username" autoComplete="username" required />
        </label>
        {mode === "register" && (
          <label>
            Display name <small>(optional)</small>
            <input name="displayName" autoComplete="nickname" />
          </label>
        )}
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={mode === "login" ? "current-password" : "new-password"}
            required
          />
        </label>
        {active.error && (
          <p className="error" role="alert">
            {readableError(active.error)}
          </p>
        )}
        <button type="submit" disabled={active.isPending}>
          {mode === "login" ? "Log in" : "Sign up"}
        </button>
      </form>
      <p>
        {mode === "login" ? (
          <>
            New here?{" "}
            <button type="button" className="link" onClick={() => switchTo("register")}>
              Create an account
            </button>
          </>
        ) : (
          <>
            Have an account?{" "}
            <button type="button" className="link" onClick={() => switchTo("login")}>
              Log in
            </button>
          </>
        )}
      </p>
    </main>
  );
}
