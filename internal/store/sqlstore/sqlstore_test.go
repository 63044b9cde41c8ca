package sqlstore

import "testing"

func TestRebind(t *testing.T) {
	numbered := Dialect{NumberedParams: true}
	plain := Dialect{}
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
	} {
		if got := numbered.rebind(tc.in); got != tc.want {
			t.Errorf("numbered rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := plain.rebind(tc.in); got != tc.in {
			t.Errorf("plain rebind(%q) = %q, want it unchanged", tc.in, got)
		}
	}
}
