package sql

import (
	"strings"
	"unicode/utf8"

	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/lexbase"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/parser"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/scanner"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree"
	"github.com/cockroachdb/errors"
)

// source is the query text as the user wrote it and as it is parsed. The
// two differ where the dialect is bridged at token level (an empty column
// list inserted before WITH), so positions are mapped back.
type source struct {
	orig string
	text string
	ins  []insertion // sorted by at
}

// insertion is n bytes inserted at offset at of the rewritten text.
type insertion struct{ at, n int }

// origOffset maps an offset of the rewritten text to the original.
func (s *source) origOffset(r int) int {
	shift := 0
	for _, in := range s.ins {
		switch {
		case r >= in.at+in.n:
			shift += in.n
		case r >= in.at:
			return in.at - shift
		}
	}
	return min(max(r-shift, 0), len(s.orig))
}

// position turns an offset of the original text into line and column.
func (s *source) position(off int) Position {
	off = min(max(off, 0), len(s.orig))
	before := s.orig[:off]
	line := strings.Count(before, "\n") + 1
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return Position{Line: line, Column: utf8.RuneCountInString(before[lineStart:]) + 1}
}

// span maps a [start, end) range of the rewritten text to a Span.
func (s *source) span(start, end int) *Span {
	a, b := s.origOffset(start), s.origOffset(end)
	if b < a {
		b = a
	}
	return &Span{Start: s.position(a), End: s.position(b)}
}

// statement is one statement of the query.
type statement struct {
	text       string // rewritten text of the statement
	start, end int    // its offsets in the rewritten text
	tokens     []scanner.InspectToken
	ast        tree.Statement
}

// split lexes the query, bridges the dialect, cuts it into statements and
// parses each; syntax errors come back as diagnostics with positions.
func split(query string) (*source, []*statement, []Diagnostic) {
	src := &source{orig: query, text: query}
	toks := scanner.Inspect(query)
	if d := lexError(src, toks); d != nil {
		return src, nil, []Diagnostic{*d}
	}
	src.text, src.ins = addEmptyColumnLists(query, toks)
	if len(src.ins) > 0 {
		toks = scanner.Inspect(src.text)
		if d := lexError(src, toks); d != nil {
			return src, nil, []Diagnostic{*d}
		}
	}

	var stmts []*statement
	var cur []scanner.InspectToken
	flush := func() {
		if len(cur) == 0 {
			return
		}
		st := &statement{start: int(cur[0].Start), end: int(cur[len(cur)-1].End), tokens: cur}
		st.text = src.text[st.start:st.end]
		stmts = append(stmts, st)
		cur = nil
	}
	for _, t := range toks {
		switch t.ID {
		case ';':
			flush()
		case 0: // end of input
			flush()
		default:
			cur = append(cur, t)
		}
	}
	if len(stmts) == 0 {
		return src, nil, []Diagnostic{{Message: "The provided SQL does not contain a query"}}
	}

	var diags []Diagnostic
	for _, st := range stmts {
		parsed, err := parser.Parse(st.text)
		if err != nil {
			diags = append(diags, syntaxDiagnostic(src, st, err))
			continue
		}
		if len(parsed) != 1 {
			diags = append(diags, Diagnostic{Message: "expected one statement", Span: src.span(st.start, st.end)})
			continue
		}
		st.ast = parsed[0].AST
	}
	return src, stmts, diags
}

func lexError(src *source, toks []scanner.InspectToken) *Diagnostic {
	if len(toks) == 0 {
		return nil
	}
	last := toks[len(toks)-1]
	switch {
	case last.ID == lexbase.ERROR:
		return &Diagnostic{Message: "lexical error: " + last.Str, Span: src.span(int(last.Start), int(last.End))}
	case last.ID < 0:
		return &Diagnostic{Message: "lexical error: incomplete input", Span: src.span(int(last.Start), int(last.End))}
	}
	return nil
}

// addEmptyColumnLists turns Arroyo's `CREATE TABLE t WITH (...)`, which
// has no column list, into `CREATE TABLE t() WITH (...)`, which the
// PostgreSQL grammar accepts. It works on the lexer's tokens so that
// strings, comments and quoted names are never mistaken for keywords.
func addEmptyColumnLists(q string, toks []scanner.InspectToken) (string, []insertion) {
	var at []int
	for i := 0; i+2 < len(toks); i++ {
		if toks[i].ID != lexbase.CREATE || toks[i+1].ID != lexbase.TABLE {
			continue
		}
		j := i + 2
		if j+2 < len(toks) && toks[j].ID == lexbase.IF && toks[j+1].ID == lexbase.NOT && toks[j+2].ID == lexbase.EXISTS {
			j += 3
		}
		if j >= len(toks) || !isNameToken(toks[j]) {
			continue
		}
		for j+2 < len(toks) && toks[j+1].ID == '.' && isNameToken(toks[j+2]) {
			j += 2
		}
		if j+1 < len(toks) && toks[j+1].ID == lexbase.WITH {
			at = append(at, int(toks[j].End))
		}
	}
	if len(at) == 0 {
		return q, nil
	}
	var sb strings.Builder
	ins := make([]insertion, 0, len(at))
	prev := 0
	for _, a := range at {
		sb.WriteString(q[prev:a])
		ins = append(ins, insertion{at: sb.Len(), n: 2})
		sb.WriteString("()")
		prev = a
	}
	sb.WriteString(q[prev:])
	return sb.String(), ins
}

// isNameToken reports whether a token can be (part of) a table name: an
// identifier or a keyword spelled as a word.
func isNameToken(t scanner.InspectToken) bool {
	if t.ID == lexbase.IDENT {
		return true
	}
	if t.ID < 256 || t.ID == lexbase.SCONST || t.ID == lexbase.ICONST || t.ID == lexbase.FCONST || t.ID == lexbase.WITH || t.ID == lexbase.ERROR {
		return false
	}
	return lexbase.GetKeywordID(t.Str) == t.ID
}

// syntaxDiagnostic places a parse error. The parser reports where it
// stopped only in the error's detail, as the statement's text up to the
// offending line followed by a caret line; that is read back into an
// offset.
func syntaxDiagnostic(src *source, st *statement, err error) Diagnostic {
	msg := err.Error()
	off := -1
	for _, d := range errors.GetAllDetails(err) {
		rest, ok := strings.CutPrefix(d, "source SQL:\n")
		if !ok {
			continue
		}
		nl := strings.LastIndexByte(rest, '\n')
		if nl < 0 {
			continue
		}
		text, caret := rest[:nl], rest[nl+1:]
		col := strings.IndexByte(caret, '^')
		if col < 0 {
			continue
		}
		lineStart := strings.LastIndexByte(text, '\n') + 1
		off = lineStart + col
		break
	}
	if off < 0 || off > len(st.text) {
		return Diagnostic{Message: msg, Span: src.span(st.start, st.end)}
	}
	abs := st.start + off
	end := abs
	for _, t := range st.tokens {
		if int(t.Start) == abs {
			end = int(t.End)
			break
		}
	}
	if end == abs && abs < st.end {
		_, size := utf8.DecodeRuneInString(src.text[abs:])
		end = abs + size
	}
	return Diagnostic{Message: msg, Span: src.span(abs, end)}
}
