package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runnel-dev/runnel/pkg/client"
)

func newValidateCmd() *cobra.Command {
	f := newClientFlags()
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check that a SQL query plans, showing each problem where it is",
		Long: `Plan the query in FILE on the server without creating anything. Each
problem is printed with its line of SQL and a caret under the place; the
exit code is 1 when there are problems.`,
		Example: `  runnel validate -f doubled.sql
  runnel validate -f doubled.sql -o json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			query, err := readQuery(cmd, file)
			if err != nil {
				return err
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			res, err := c.ValidateQuery(cmd.Context(), client.ValidateQueryPost{Query: query})
			if err != nil {
				return err
			}
			name := displayName(file)
			err = emit(cmd.OutOrStdout(), f.output, res, func(w io.Writer) error {
				if len(res.Errors) > 0 {
					return nil
				}
				nodes := 0
				if res.Graph != nil {
					nodes = len(res.Graph.Nodes)
				}
				fmt.Fprintf(w, "%s is valid: %d %s\n", name, nodes, plural(nodes, "node", "nodes"))
				if res.Graph == nil || nodes == 0 {
					return nil
				}
				t := newTable(rcol("NODE"), col("OPERATORS"), col("DESCRIPTION"))
				for _, n := range res.Graph.Nodes {
					t.add(strconv.Itoa(n.NodeID), n.Operator, n.Description)
				}
				return t.render(w)
			})
			if err != nil {
				return err
			}
			if n := len(res.Errors); n > 0 {
				if f.output == formatTable {
					printDiagnostics(cmd.ErrOrStderr(), name, query, res.Errors)
				}
				return silentError{error: fmt.Errorf("%s: %d %s", name, n, plural(n, "problem", "problems")), code: 1}
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	f.registerCompletions(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "SQL file to check, - for standard input (required)")
	_ = cmd.MarkFlagFilename("file", "sql")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// printDiagnostics writes each problem the way compilers do: the message,
// where it is, the line of SQL and carets under the span.
//
//	error: unknown column 'countr' in table 'impulse'
//	 --> query.sql:2:8
//	  |
//	2 | SELECT countr, counter % 3 AS bucket FROM impulse;
//	  |        ^^^^^^
func printDiagnostics(w io.Writer, file, query string, diags []client.SQLDiagnostic) {
	lines := strings.Split(strings.ReplaceAll(query, "\r\n", "\n"), "\n")
	var b strings.Builder
	for i, d := range diags {
		if i > 0 {
			b.WriteByte('\n')
		}
		msg := strings.ReplaceAll(d.Message, "\n", "\n       ")
		fmt.Fprintf(&b, "error: %s\n", msg)
		if d.Span == nil {
			continue
		}
		st, en := d.Span.Start, d.Span.End
		if st.Line < 1 || st.Line > len(lines) {
			fmt.Fprintf(&b, "  --> %s:%d:%d\n", file, st.Line, st.Column)
			continue
		}
		num := strconv.Itoa(st.Line)
		gutter := strings.Repeat(" ", len(num))
		src := []rune(lines[st.Line-1])
		fmt.Fprintf(&b, "%s--> %s:%d:%d\n", gutter, file, st.Line, st.Column)
		fmt.Fprintf(&b, "%s |\n", gutter)
		fmt.Fprintf(&b, "%s | %s\n", num, string(src))
		startCol := min(max(st.Column, 1), len(src)+1)
		endCol := len(src) + 1 // a span over several lines is marked to its first line's end
		if en.Line == st.Line {
			endCol = min(max(en.Column, startCol+1), len(src)+1)
		}
		var caret strings.Builder
		for _, r := range src[:startCol-1] {
			if r == '\t' {
				caret.WriteRune('\t') // keeps the carets under the span whatever the tab width
			} else {
				caret.WriteByte(' ')
			}
		}
		caret.WriteString(strings.Repeat("^", max(1, endCol-startCol)))
		fmt.Fprintf(&b, "%s | %s\n", gutter, caret.String())
	}
	_, _ = io.WriteString(w, b.String())
}
