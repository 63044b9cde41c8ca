package nexmark_test

import (
	"testing"

	"github.com/runnel-dev/runnel/bench/nexmark"
	"github.com/runnel-dev/runnel/internal/sql"
)

// Workers plan a job's query themselves and refuse to run unless their
// program's fingerprint equals the controller's, so planning one query
// must always give one fingerprint, and different queries different ones.
func TestFingerprintIsStable(t *testing.T) {
	src := nexmark.Source{Events: 1000, Seed: 2, EventRate: 500, FirstEventTime: "2026-01-01T00:00:00Z", EventTimeRate: 100}
	seen := map[string]string{}
	for _, name := range nexmark.Names {
		format := "json"
		if name == "q4" { // an updating query needs a changelog format
			format = "debezium_json"
		}
		q, err := nexmark.Render(name, src, nexmark.FileSink(t.TempDir(), format))
		if err != nil {
			t.Fatal(err)
		}
		var fp string
		for i := range 20 {
			p, err := sql.Plan(q, sql.Options{Parallelism: 3})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if i == 0 {
				fp = p.Fingerprint()
			} else if got := p.Fingerprint(); got != fp {
				t.Fatalf("%s: fingerprint %s, then %s", name, fp, got)
			}
		}
		if other, dup := seen[fp]; dup {
			t.Errorf("%s and %s have one fingerprint", name, other)
		}
		seen[fp] = name
	}
}
