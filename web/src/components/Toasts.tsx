// Transient messages, mostly for failed actions ("Couldn't stop p1: …").
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";
import { X } from "./icons";

export interface Toast {
  id: number;
  kind: "error" | "success" | "info";
  title: string;
  body?: string;
}

interface ToastApi {
  show: (t: Omit<Toast, "id">) => void;
}

const Ctx = createContext<ToastApi>({ show: () => {} });

export function useToasts(): ToastApi {
  return useContext(Ctx);
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setToasts((ts) => ts.filter((t) => t.id !== id)), []);
  const show = useCallback(
    (t: Omit<Toast, "id">) => {
      const id = next.current++;
      setToasts((ts) => [...ts.slice(-3), { ...t, id }]);
      window.setTimeout(() => dismiss(id), t.kind === "error" ? 9000 : 4000);
    },
    [dismiss],
  );
  const api = useMemo(() => ({ show }), [show]);
  return (
    <Ctx.Provider value={api}>
      {children}
      <div className="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast ${t.kind}`} role={t.kind === "error" ? "alert" : "status"}>
            <div className="body">
              <div className="title">{t.title}</div>
              {t.body && <div>{t.body}</div>}
            </div>
            <button className="btn ghost sm" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
              <X className="icon" />
            </button>
          </div>
        ))}
      </div>
    </Ctx.Provider>
  );
}
