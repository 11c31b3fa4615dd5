import { randomUUID } from "node:crypto";
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import { checkCredentials } from "./credentials";
import { db } from "./db";
import { getEnv } from "./env";

function clientIp(headers: Record<string, string | string[] | undefined> | undefined): string {
  const forwarded = headers?.["x-forwarded-for"];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
  return first || "unknown";
}

let options: NextAuthOptions | undefined;

/** Credentials login with JWT sessions that end after SESSION_IDLE_MINUTES without activity. */
export function authOptions(): NextAuthOptions {
  if (options) return options;
  const env = getEnv();
  options = {
    secret: env.authSecret,
    session: { strategy: "jwt", maxAge: env.sessionIdleMinutes * 60, updateAge: 60 },
    pages: { signIn: "/login" },
    providers: [
      CredentialsProvider({
        name: "Email and password",
        credentials: { email: { label: "Email", type: "email" }, password: { label: "Password", type: "password" } },
        async authorize(credentials, req) {
          const headers = req?.headers as Record<string, string | undefined> | undefined;
          const result = await checkCredentials(db(), {
            email: String(credentials?.email ?? "").slice(0, 320),
            password: String(credentials?.password ?? "").slice(0, 1024),
            ip: clientIp(headers),
            userAgent: headers?.["user-agent"] ?? null,
            requestId: randomUUID(),
          });
          if (!result.ok) throw new Error(result.message);
          return { id: result.user.id, email: result.user.email, name: result.user.name };
        },
      }),
    ],
    callbacks: {
      jwt({ token, user }) {
        if (user) token.sub = user.id;
        return token;
      },
      session({ session, token }) {
        if (session.user && token.sub) (session.user as { id?: string }).id = token.sub;
        return session;
      },
    },
  };
  return options;
}
