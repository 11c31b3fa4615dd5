"use client";

import { usePathname } from "next/navigation";

/** The header's links, the current page marked (aria-current) so people and screen readers see where they are. */
export function NavLinks({ links }: { links: { href: string; label: string }[] }) {
  const path = usePathname() ?? "";
  return (
    <nav aria-label="Main">
      {links.map((l) => {
        const current = path === l.href || path.startsWith(`${l.href}/`);
        return (
          <a key={l.href} href={l.href} aria-current={current ? "page" : undefined}>
            {l.label}
          </a>
        );
      })}
    </nav>
  );
}
