package sql

import (
	"sort"
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
	watermarks []watermarkDecl
}

// split lexes the query, bridges the dialect, cuts it into statements and
// parses each; syntax errors come back as diagnostics with positions.
func split(query string) (*source, []*statement, []Diagnostic) {
	src := &source{orig: query, text: query}
	toks := scanner.Inspect(query)
	if d := lexError(src, toks); d != nil {
		return src, nil, []Diagnostic{*d}
	}
	quoted, qins := quoteWindowNames(query, toks)
	if len(qins) > 0 {
		toks = scanner.Inspect(quoted)
	}
	text, eins := addEmptyColumnLists(quoted, toks)
	src.text, src.ins = text, composeInsertions(qins, eins)
	if len(src.ins) > 0 {
		toks = scanner.Inspect(src.text)
		if d := lexError(src, toks); d != nil {
			return src, nil, []Diagnostic{*d}
		}
	}

	var wms []watermarkDecl
	src.text, wms = stripWatermarks(src.text, toks)
	if len(wms) > 0 {
		toks = scanner.Inspect(src.text)
	}

	var stmts []*statement
	var cur []scanner.InspectToken
	flush := func() {
		if len(cur) == 0 {
			return
		}
		st := &statement{start: int(cur[0].Start), end: int(cur[len(cur)-1].End), tokens: cur}
		st.text = src.text[st.start:st.end]
		for _, w := range wms {
			if w.at >= st.start && w.at < st.end {
				st.watermarks = append(st.watermarks, w)
			}
		}
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

// watermarkDecl is a `WATERMARK FOR col [AS expr]` clause of CREATE TABLE,
// which the PostgreSQL grammar lacks.
type watermarkDecl struct {
	at     int // offset of WATERMARK in the rewritten text
	column string
	expr   string // empty without AS
}

// stripWatermarks blanks out `, WATERMARK FOR col [AS expr]` items of
// CREATE TABLE column lists (keeping every offset, so positions need no
// mapping) and returns them.
func stripWatermarks(q string, toks []scanner.InspectToken) (string, []watermarkDecl) {
	var decls []watermarkDecl
	buf := []byte(q)
	inCreate, depth := false, 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.ID == ';':
			inCreate, depth = false, 0
			continue
		case t.ID == lexbase.CREATE && i+1 < len(toks) && toks[i+1].ID == lexbase.TABLE:
			inCreate, depth = true, 0
			continue
		case t.ID == '(':
			depth++
			continue
		case t.ID == ')':
			depth--
			continue
		}
		if !inCreate || depth != 1 || !strings.EqualFold(t.Str, "watermark") || t.ID == lexbase.SCONST {
			continue
		}
		if i+2 >= len(toks) || toks[i+1].ID != lexbase.FOR || !isNameToken(toks[i+2]) {
			continue
		}
		d := watermarkDecl{at: int(t.Start), column: toks[i+2].Str}
		// The item ends at the next comma or closing parenthesis at depth 1.
		j, dd := i+3, 0
		exprStart := -1
		if j < len(toks) && toks[j].ID == lexbase.AS {
			exprStart = int(toks[j].End)
			j++
		}
		for ; j < len(toks); j++ {
			if toks[j].ID == '(' {
				dd++
			} else if toks[j].ID == ')' {
				if dd == 0 {
					break
				}
				dd--
			} else if (toks[j].ID == ',' && dd == 0) || toks[j].ID == ';' || toks[j].ID == 0 {
				break
			}
		}
		if j >= len(toks) {
			continue
		}
		end := int(toks[j].Start)
		if exprStart >= 0 {
			d.expr = strings.TrimSpace(q[exprStart:end])
		}
		from := int(t.Start)
		if i > 0 && toks[i-1].ID == ',' {
			from = int(toks[i-1].Start)
		} else if toks[j].ID == ',' {
			end = int(toks[j].End)
		}
		for k := from; k < end; k++ {
			if buf[k] != '\n' {
				buf[k] = ' '
			}
		}
		decls = append(decls, d)
		i = j - 1
	}
	if len(decls) == 0 {
		return q, nil
	}
	return string(buf), decls
}

// quoteWindowNames quotes the reserved word WINDOW where Arroyo's dialect
// uses it as a name (`tumble(...) AS window`, `GROUP BY window`,
// `window.start`): everywhere except a WINDOW clause, where it is followed
// by a window's name.
func quoteWindowNames(q string, toks []scanner.InspectToken) (string, []insertion) {
	var at []int
	for i, t := range toks {
		if t.ID != lexbase.WINDOW {
			continue
		}
		if i+2 < len(toks) && isNameToken(toks[i+1]) && toks[i+2].ID == lexbase.AS {
			continue
		}
		at = append(at, int(t.Start), int(t.End))
	}
	if len(at) == 0 {
		return q, nil
	}
	var sb strings.Builder
	ins := make([]insertion, 0, len(at))
	prev := 0
	for _, a := range at {
		sb.WriteString(q[prev:a])
		ins = append(ins, insertion{at: sb.Len(), n: 1})
		sb.WriteByte('"')
		prev = a
	}
	sb.WriteString(q[prev:])
	return sb.String(), ins
}

// composeInsertions merges insertions made into a text (first, in the
// coordinates of the text they produced) with insertions made after them
// (second, in the coordinates of the final text).
func composeInsertions(first, second []insertion) []insertion {
	if len(first) == 0 {
		return second
	}
	out := make([]insertion, 0, len(first)+len(second))
	for _, f := range first {
		shift, before := 0, 0
		for _, s := range second {
			if s.at-before <= f.at {
				shift += s.n
			}
			before += s.n
		}
		out = append(out, insertion{at: f.at + shift, n: f.n})
	}
	out = append(out, second...)
	sort.Slice(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out
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
