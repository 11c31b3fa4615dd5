import type { Metadata } from "next";
import type { ReactNode } from "react";
import { SessionKeepAlive } from "@/components/session-keep-alive";
import { SignOutButton } from "@/components/sign-out-button";
import { isAdministrator } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import "./globals.css";

export const dynamic = "force-dynamic";

export const metadata: Metadata = { title: "Depot", description: "Clinical data depot" };

export default async function RootLayout({ children }: { children: ReactNode }) {
  const user = await currentUser();
  return (
    <html lang="en">
      <body>
        <header className="top">
          <strong>Depot</strong>
          <nav>
            {user && (
              <>
                <a href="/dashboard">Dashboard</a>
                <a href="/upload">Upload</a>
                <a href="/files">Files</a>
                <a href="/tokens">Tokens</a>
                {isAdministrator(user) && <a href="/audit">Audit</a>}
                {isAdministrator(user) && <a href="/admin">Admin</a>}
              </>
            )}
          </nav>
          {user && (
            <>
              <span className="who" data-testid="signed-in-as">
                {user.name} ({user.email})
              </span>
              <SignOutButton />
            </>
          )}
        </header>
        <main>{children}</main>
        {user && <SessionKeepAlive />}
      </body>
    </html>
  );
}
