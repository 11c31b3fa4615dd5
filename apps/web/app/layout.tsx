import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import { NavLinks } from "@/components/nav-links";
import { SessionKeepAlive } from "@/components/session-keep-alive";
import { SignOutButton } from "@/components/sign-out-button";
import { isAdministrator, visibleCohorts } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import "./globals.css";

export const dynamic = "force-dynamic";

export const metadata: Metadata = { title: "Depot", description: "Clinical data depot" };
export const viewport: Viewport = { width: "device-width", initialScale: 1 };

export default async function RootLayout({ children }: { children: ReactNode }) {
  const user = await currentUser();
  const admin = user ? isAdministrator(user) : false;
  // Only people who may upload somewhere get the Upload link (a viewer would reach a dead end).
  const mayUpload = user ? admin || (await visibleCohorts(user)).some((c) => c.may.upload) : false;
  const links = [
    { href: "/dashboard", label: "Dashboard" },
    ...(mayUpload ? [{ href: "/upload", label: "Upload" }] : []),
    { href: "/files", label: "Files" },
    { href: "/tokens", label: "Tokens" },
    ...(admin
      ? [
          { href: "/audit", label: "Audit" },
          { href: "/admin", label: "Admin" },
        ]
      : []),
  ];
  return (
    <html lang="en">
      <body>
        <header className="top">
          <strong className="brand">
            <a href={user ? "/dashboard" : "/login"}>Depot</a>
          </strong>
          {user && <NavLinks links={links} />}
          {user && (
            <div className="account">
              <span className="who" data-testid="signed-in-as" title={user.email}>
                {user.name} ({user.email})
              </span>
              <SignOutButton />
            </div>
          )}
        </header>
        <main>{children}</main>
        {user && <SessionKeepAlive />}
      </body>
    </html>
  );
}
