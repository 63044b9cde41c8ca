// What the console shows instead of a page when a request failed: the API
// is unreachable, the object is not found, or the API returned an error
// (whose `error` message is shown as is).
import { Component, type ErrorInfo, type ReactNode } from "react";
import { isApiError } from "../api/client";
import { AlertCircle, CloudOff, Refresh, Search } from "./icons";
import { Link } from "../lib/router";

export interface ErrorViewProps {
  error: unknown;
  /** What was being loaded, e.g. "pipeline" or "errors". */
  what: string;
  onRetry?: () => void;
  compact?: boolean;
  /** What to say under a not-found heading. */
  notFoundDetail?: string;
}

export function describeError(error: unknown): { kind: "unreachable" | "notfound" | "api" | "client"; status?: number; message: string } {
  if (isApiError(error)) {
    if (error.unreachable) return { kind: "unreachable", status: error.status, message: error.message };
    if (error.notFound) return { kind: "notfound", status: 404, message: error.message };
    return { kind: "api", status: error.status, message: error.message };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { kind: "client", message };
}

export function ErrorView({ error, what, onRetry, compact, notFoundDetail }: ErrorViewProps) {
  const d = describeError(error);
  const cls = `state-view${compact ? " compact" : ""}`;
  const retry = onRetry && (
    <button className="btn" onClick={onRetry}>
      <Refresh className="icon" />
      Try again
    </button>
  );
  if (d.kind === "unreachable") {
    return (
      <div className={`${cls} offline`} role="alert" data-testid="error-unreachable">
        <div className="glyph">
          <CloudOff />
        </div>
        <h2>Can't reach the Runnel API</h2>
        <p>
          The console could not load the {what} because the API at <code>/api/v1</code> did not answer
          {d.status ? ` (HTTP ${d.status})` : ""}. Check that <code>runnel cluster</code> is running and reachable
          from this browser; the console keeps retrying.
        </p>
        {retry && <div className="buttons">{retry}</div>}
      </div>
    );
  }
  if (d.kind === "notfound") {
    return (
      <div className={cls} role="alert" data-testid="error-notfound">
        <div className="glyph">
          <Search />
        </div>
        <h2>{d.message || `The ${what} was not found`}</h2>
        <p>{notFoundDetail ?? "It may have been deleted, or the link may be wrong."}</p>
        <div className="buttons">
          <Link className="btn" to="/pipelines">
            All pipelines
          </Link>
        </div>
      </div>
    );
  }
  return (
    <div className={`${cls} error`} role="alert" data-testid="error-api">
      <div className="glyph">
        <AlertCircle />
      </div>
      <h2>{d.kind === "api" ? `Couldn't load the ${what}` : "Something went wrong in the console"}</h2>
      <p>
        {d.kind === "api" ? `The API answered HTTP ${d.status}:` : "This is a bug in the console; reloading may help."}
      </p>
      <div className="error-message">{d.message}</div>
      {retry && <div className="buttons">{retry}</div>}
    </div>
  );
}

/** An inline, one-line version for panels and dialogs. */
export function InlineError({ error, prefix }: { error: unknown; prefix?: string }) {
  const d = describeError(error);
  return (
    <div className="alert error" role="alert">
      <AlertCircle />
      <div className="body">
        {prefix && <strong>{prefix} </strong>}
        {d.kind === "unreachable" ? "The Runnel API could not be reached." : d.message}
      </div>
    </div>
  );
}

interface BoundaryState {
  error: Error | null;
}

/** Catches render errors so that a bug never leaves a blank screen. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey?: string }, BoundaryState> {
  state: BoundaryState = { error: null };
  static getDerivedStateFromError(error: Error): BoundaryState {
    return { error };
  }
  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error("console render error", error, info.componentStack);
  }
  componentDidUpdate(prev: { resetKey?: string }) {
    if (prev.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }
  render() {
    if (this.state.error) {
      return (
        <div className="card">
          <ErrorView error={this.state.error} what="page" onRetry={() => this.setState({ error: null })} />
        </div>
      );
    }
    return this.props.children;
  }
}
