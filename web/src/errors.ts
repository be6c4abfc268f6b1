import { TRPCClientError } from "@trpc/client";

interface Issue {
  path?: (string | number)[];
  message?: string;
}

const PREFIX: Record<string, string> = {
  TOO_MANY_REQUESTS: "Slow down",
  UNAUTHORIZED: "Not signed in",
  FORBIDDEN: "Not allowed",
  NOT_FOUND: "Not found",
  CONFLICT: "Already taken",
  PAYLOAD_TOO_LARGE: "Too large",
  INTERNAL_SERVER_ERROR: "Server error",
};

/** A sentence a person can act on, from whatever a tRPC call threw. */
export function readableError(error: unknown): string {
  if (error instanceof TRPCClientError) {
    const data = error.data as { code?: string; issues?: Issue[] } | undefined;
    const code = data?.code;
    if (!code) return `Cannot reach the server (${error.message}). Check the connection and try again.`;
    if (code === "BAD_REQUEST" && data?.issues?.length) {
      const fields = data.issues.map((issue) => {
        const where = issue.path?.length ? `${issue.path.join(".")}: ` : "";
        return `${where}${issue.message ?? "invalid"}`;
      });
      return `Please check the input — ${fields.join("; ")}`;
    }
    if (code === "UNAUTHORIZED" && /password/i.test(error.message)) {
      return `Sign-in failed: ${error.message}`;
    }
    return `${PREFIX[code] ?? "Request failed"}: ${error.message}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
