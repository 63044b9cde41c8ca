package sql

import (
	"slices"
	"testing"
)

// A filter on ROW_NUMBER's numbers is pushed into the operator as a
// limit; the results are those of the same filter evaluated on every row
// (`row_num + 0` is not a bare column, so it is never pushed down).
func TestTopNPushdown(t *testing.T) {
	var rows [][3]any
	for i := 0; i < 60; i++ {
		rows = append(rows, [3]any{string(rune('a' + i*7%5)), i, i / 3})
	}
	path := events(t, rows)
	const q = `SELECT k, n, row_num FROM (
  SELECT k, window, n, ROW_NUMBER() OVER (PARTITION BY window ORDER BY n DESC, k) AS row_num
  FROM (SELECT k, tumble(interval '10 seconds') AS window, count(*) AS n FROM ev GROUP BY k, window) AS c
) AS r WHERE `
	for _, c := range [][2]string{
		{"row_num = 1", "row_num + 0 = 1"},
		{"2 >= row_num AND k <> 'b'", "2 >= row_num + 0 AND k <> 'b'"},
		{"row_num < 3", "row_num + 0 < 3"},
		{"row_num = 1 OR k = 'c'", "row_num + 0 = 1 OR k = 'c'"},
		{"row_num = 2", "row_num + 0 = 2"},
	} {
		for _, par := range []int{1, 2} {
			got := runQuery(t, ddl(path)+q+c[0], par)
			want := runQuery(t, ddl(path)+q+c[1], par)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Fatalf("%s (par %d): got %v, want %v", c[0], par, got, want)
			}
		}
	}
}
