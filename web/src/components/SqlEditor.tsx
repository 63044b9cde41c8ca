// The SQL editor: CodeMirror 6 with SQL highlighting, and the API's
// validation errors shown as lint diagnostics (underlined at their line
// and column, with the message on hover).
import { useEffect, useRef } from "react";
import { EditorState, type Extension } from "@codemirror/state";
import {
  EditorView,
  keymap,
  lineNumbers,
  highlightActiveLine,
  highlightActiveLineGutter,
  drawSelection,
  placeholder as placeholderExt,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { sql, PostgreSQL } from "@codemirror/lang-sql";
import { syntaxHighlighting, HighlightStyle, bracketMatching, indentOnInput } from "@codemirror/language";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { tags as t } from "@lezer/highlight";
import type { SqlDiagnostic } from "../api/types";

const highlight = HighlightStyle.define([
  { tag: t.keyword, color: "#7c3aed", fontWeight: "600" },
  { tag: [t.string, t.special(t.string)], color: "#0f766e" },
  { tag: [t.number, t.bool, t.null], color: "#c2410c" },
  { tag: t.comment, color: "#94a3b8", fontStyle: "italic" },
  { tag: [t.typeName, t.standard(t.name)], color: "#2563eb" },
  { tag: t.operator, color: "#475569" },
  { tag: [t.special(t.name), t.special(t.variableName)], color: "#b45309" },
  { tag: t.punctuation, color: "#64748b" },
]);

const theme = EditorView.theme({
  "&": { backgroundColor: "#fff" },
  ".cm-content": { padding: "10px 0" },
  ".cm-line": { padding: "0 14px 0 8px" },
  ".cm-lintRange-error": {
    backgroundImage: "none",
    textDecoration: "underline wavy #dc2626",
    textDecorationSkipInk: "none",
    textUnderlineOffset: "3px",
    backgroundColor: "rgba(239, 68, 68, 0.08)",
  },
  ".cm-tooltip-lint": { fontFamily: "var(--font)", fontSize: "13px" },
});

/** Converts the API's 1-based line/column spans to editor diagnostics. */
export function toDiagnostics(state: EditorState, errors: SqlDiagnostic[]): Diagnostic[] {
  const doc = state.doc;
  const pos = (line: number, column: number) => {
    const l = doc.line(Math.min(Math.max(1, line), doc.lines));
    return Math.min(l.from + Math.max(0, column - 1), l.to);
  };
  return errors.map((e) => {
    if (!e.span) return { from: 0, to: Math.min(doc.length, doc.line(1).to), severity: "error" as const, message: e.message };
    let from = pos(e.span.start.line, e.span.start.column);
    let to = pos(e.span.end.line, e.span.end.column);
    if (to < from) [from, to] = [to, from];
    if (to === from) {
      // Mark at least one character so that the underline shows.
      if (to < doc.length && doc.sliceString(to, to + 1) !== "\n") to += 1;
      else if (from > 0) from -= 1;
    }
    return { from, to, severity: "error" as const, message: e.message };
  });
}

export interface SqlEditorProps {
  value: string;
  onChange?: (v: string) => void;
  readOnly?: boolean;
  /** Validation errors of `errorsFor` (applied only while it is the text). */
  errors?: SqlDiagnostic[];
  errorsFor?: string;
  placeholder?: string;
  onReady?: (view: EditorView) => void;
  className?: string;
}

export function SqlEditor({ value, onChange, readOnly, errors, errorsFor, placeholder, onReady, className }: SqlEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const change = useRef(onChange);
  change.current = onChange;

  useEffect(() => {
    const exts: Extension[] = [
      lineNumbers(),
      highlightActiveLineGutter(),
      drawSelection(),
      sql({ dialect: PostgreSQL, upperCaseKeywords: true }),
      syntaxHighlighting(highlight),
      bracketMatching(),
      theme,
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ "aria-label": "SQL query", "data-testid": "sql-editor" }),
    ];
    if (readOnly) {
      exts.push(EditorState.readOnly.of(true), EditorView.editable.of(false));
    } else {
      exts.push(
        history(),
        indentOnInput(),
        closeBrackets(),
        highlightActiveLine(),
        lintGutter(),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) change.current?.(u.state.doc.toString());
        }),
      );
      if (placeholder) exts.push(placeholderExt(placeholder));
    }
    const v = new EditorView({ parent: host.current!, state: EditorState.create({ doc: value, extensions: exts }) });
    view.current = v;
    onReady?.(v);
    return () => {
      v.destroy();
      view.current = null;
    };
    // The editor is created once; value changes from outside are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [readOnly]);

  // Outside changes (an example inserted, a read-only query refreshed).
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    const v = view.current;
    if (!v || readOnly) return;
    const current = v.state.doc.toString();
    const applicable = errors && errorsFor === current ? errors : [];
    v.dispatch(setDiagnostics(v.state, toDiagnostics(v.state, applicable)));
  }, [errors, errorsFor, readOnly, value]);

  return <div ref={host} className={`editor-host${readOnly ? " readonly" : ""}${className ? " " + className : ""}`} />;
}

/** Moves the cursor to a 1-based line and column and focuses the editor. */
export function jumpTo(view: EditorView, line: number, column: number) {
  const doc = view.state.doc;
  const l = doc.line(Math.min(Math.max(1, line), doc.lines));
  const at = Math.min(l.from + Math.max(0, column - 1), l.to);
  view.dispatch({ selection: { anchor: at }, scrollIntoView: true });
  view.focus();
}
