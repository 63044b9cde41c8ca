// Validate-as-you-type: the query is sent to validate_query a moment after
// the last keystroke; older answers are dropped.
import { useEffect, useState } from "react";
import { api, isApiError } from "../api/client";
import type { QueryValidationResult } from "../api/types";

export interface Validation {
  status: "empty" | "checking" | "valid" | "invalid" | "error";
  /** The text the result is for. */
  text: string;
  result?: QueryValidationResult;
  /** The last graph of a valid query, kept while the text is invalid. */
  lastGraph?: QueryValidationResult["graph"];
  error?: unknown;
}

export function useValidation(query: string, delayMs = 450): Validation {
  const [v, setV] = useState<Validation>({ status: "empty", text: "" });
  useEffect(() => {
    if (!query.trim()) {
      setV((old) => ({ status: "empty", text: query, lastGraph: old.lastGraph }));
      return;
    }
    setV((old) => (old.text === query && old.status !== "error" ? old : { ...old, status: "checking" }));
    const ctl = new AbortController();
    const t = window.setTimeout(async () => {
      try {
        const result = await api.validateQuery(query, ctl.signal);
        if (ctl.signal.aborted) return;
        const ok = result.errors.length === 0 && !!result.graph;
        setV((old) => ({
          status: ok ? "valid" : "invalid",
          text: query,
          result,
          lastGraph: ok ? result.graph : old.lastGraph,
        }));
      } catch (e) {
        if (ctl.signal.aborted || (e instanceof DOMException && e.name === "AbortError")) return;
        setV((old) => ({ status: "error", text: query, error: e, lastGraph: old.lastGraph }));
      }
    }, delayMs);
    return () => {
      ctl.abort();
      window.clearTimeout(t);
    };
  }, [query, delayMs]);
  return v;
}

export function isUnreachable(e: unknown): boolean {
  return isApiError(e) && e.unreachable;
}
