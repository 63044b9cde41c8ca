// A handful of inline stroke icons (24×24 grid).
import type { SVGProps } from "react";

type P = SVGProps<SVGSVGElement>;
const base = {
  viewBox: "0 0 24 24",
  fill: "none",
  stroke: "currentColor",
  strokeWidth: 2,
  strokeLinecap: "round" as const,
  strokeLinejoin: "round" as const,
  "aria-hidden": true,
};

export const Logo = (p: P) => (
  <svg viewBox="0 0 32 32" aria-hidden {...p}>
    <rect width="32" height="32" rx="7" fill="#1d4f7e" />
    <path d="M5 20c4 0 4-8 8-8s4 8 8 8 4-8 6-8" fill="none" stroke="#7dd3fc" strokeWidth="3" strokeLinecap="round" />
  </svg>
);
export const Plus = (p: P) => (
  <svg {...base} {...p}>
    <path d="M12 5v14M5 12h14" />
  </svg>
);
export const Play = (p: P) => (
  <svg {...base} {...p}>
    <path d="M7 5l12 7-12 7z" />
  </svg>
);
export const Pause = (p: P) => (
  <svg {...base} {...p}>
    <path d="M8 5v14M16 5v14" />
  </svg>
);
export const Square = (p: P) => (
  <svg {...base} {...p}>
    <rect x="6" y="6" width="12" height="12" rx="1" />
  </svg>
);
export const Rocket = (p: P) => (
  <svg {...base} {...p}>
    <path d="M5 15c-1 1-1.5 3.5-1.5 5.5C5.5 20.5 8 20 9 19M14 4c3 0 6 3 6 6l-7 7-6-6 7-7zM9 11l-3-1-2 2 4 1M13 15l1 3-2 2-1-4" />
  </svg>
);
export const Trash = (p: P) => (
  <svg {...base} {...p}>
    <path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3" />
  </svg>
);
export const Refresh = (p: P) => (
  <svg {...base} {...p}>
    <path d="M20 11a8 8 0 10-2.3 5.7M20 4v7h-7" />
  </svg>
);
export const Alert = (p: P) => (
  <svg {...base} {...p}>
    <path d="M12 3l10 18H2L12 3zM12 10v5M12 18h.01" />
  </svg>
);
export const AlertCircle = (p: P) => (
  <svg {...base} {...p}>
    <circle cx="12" cy="12" r="9" />
    <path d="M12 7v6M12 16.5h.01" />
  </svg>
);
export const Check = (p: P) => (
  <svg {...base} {...p}>
    <path d="M5 12.5l4.5 4.5L19 7.5" />
  </svg>
);
export const CloudOff = (p: P) => (
  <svg {...base} {...p}>
    <path d="M3 3l18 18M8 8a5 5 0 00-2 9.9h11.5M17.5 18h.5a4 4 0 001-7.9A6 6 0 0010 6.3" />
  </svg>
);
export const Search = (p: P) => (
  <svg {...base} {...p}>
    <circle cx="11" cy="11" r="7" />
    <path d="M20 20l-4-4" />
  </svg>
);
export const Chevron = (p: P) => (
  <svg {...base} {...p}>
    <path d="M9 6l6 6-6 6" />
  </svg>
);
export const Layers = (p: P) => (
  <svg {...base} {...p}>
    <path d="M12 3l9 5-9 5-9-5 9-5zM3 13l9 5 9-5" />
  </svg>
);
export const Clock = (p: P) => (
  <svg {...base} {...p}>
    <circle cx="12" cy="12" r="9" />
    <path d="M12 7v5l3 2" />
  </svg>
);
export const Inbox = (p: P) => (
  <svg {...base} {...p}>
    <path d="M3 13h5l1 3h6l1-3h5M5 5h14l2 8v6H3v-6l2-8z" />
  </svg>
);
export const X = (p: P) => (
  <svg {...base} {...p}>
    <path d="M6 6l12 12M18 6L6 18" />
  </svg>
);
export const Copy = (p: P) => (
  <svg {...base} {...p}>
    <rect x="9" y="9" width="11" height="11" rx="2" />
    <path d="M5 15V5a1 1 0 011-1h9" />
  </svg>
);
