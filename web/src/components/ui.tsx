// Small shared building blocks: badge, spinner, dialogs, empty states.
import { useEffect, useId, useRef, type ReactNode } from "react";
import { isTransitional, stateDescription, stateTone } from "../lib/states";

export function Spinner({ large, label }: { large?: boolean; label?: string }) {
  return <span className={`spinner${large ? " lg" : ""}`} role="status" aria-label={label ?? "Loading"} />;
}

export function Loading({ what }: { what: string }) {
  return (
    <div className="loading">
      <Spinner large label={`Loading ${what}`} />
      <span>Loading {what}…</span>
    </div>
  );
}

export function StateBadge({ state }: { state: string | undefined | null }) {
  const s = state ?? "Unknown";
  return (
    <span
      className={`badge tone-${stateTone(state)}${isTransitional(state) ? " pulse" : ""}`}
      data-state={s}
      title={stateDescription(state)}
    >
      <span className="dot" />
      {s}
    </span>
  );
}

export function EmptyState({
  icon,
  title,
  children,
  actions,
  compact,
  testId,
}: {
  icon?: ReactNode;
  title: string;
  children?: ReactNode;
  actions?: ReactNode;
  compact?: boolean;
  testId?: string;
}) {
  return (
    <div className={`state-view${compact ? " compact" : ""}`} data-testid={testId}>
      {icon && <div className="glyph">{icon}</div>}
      <h2>{title}</h2>
      {children && <p>{children}</p>}
      {actions && <div className="buttons">{actions}</div>}
    </div>
  );
}

/** A modal dialog; Escape and a click outside close it. */
export function Dialog({
  title,
  children,
  footer,
  onClose,
  wide,
  testId,
}: {
  title: string;
  children: ReactNode;
  footer: ReactNode;
  onClose: () => void;
  wide?: boolean;
  testId?: string;
}) {
  const id = useId();
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const el = ref.current;
    const first = el?.querySelector<HTMLElement>("input, select, textarea") ?? el?.querySelector<HTMLElement>(".dialog-footer .btn:last-child");
    first?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      prev?.focus?.();
    };
  }, [onClose]);
  return (
    <div
      className="overlay"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div className={`dialog${wide ? " wide" : ""}`} role="dialog" aria-modal="true" aria-labelledby={id} ref={ref} data-testid={testId}>
        <div className="dialog-header">
          <h2 id={id}>{title}</h2>
        </div>
        <div className="dialog-body">{children}</div>
        <div className="dialog-footer">{footer}</div>
      </div>
    </div>
  );
}

export function ConfirmDialog({
  title,
  body,
  confirmLabel,
  danger,
  busy,
  error,
  onConfirm,
  onCancel,
}: {
  title: string;
  body: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: string | null;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <Dialog
      title={title}
      onClose={onCancel}
      testId="confirm-dialog"
      footer={
        <>
          <button className="btn" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
          <button className={`btn ${danger ? "danger" : "primary"}`} onClick={onConfirm} disabled={busy}>
            {busy && <Spinner />}
            {confirmLabel}
          </button>
        </>
      }
    >
      <p>{body}</p>
      {error && (
        <div className="alert error" role="alert">
          <div className="body">{error}</div>
        </div>
      )}
    </Dialog>
  );
}
