package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/bench/nexmark"
	"github.com/runnel-dev/runnel/internal/connectors/filesystem"
	"github.com/runnel-dev/runnel/pkg/client"
)

// TestKilledClusterResumesExactlyOnce kills the whole `runnel cluster`
// process (SIGKILL, no shutdown) while a Nexmark windowed query (q5) writes
// files, starts it again on the same data dir, and checks that the job
// recovers from its last checkpoint and that the published rows equal
// those of an uninterrupted run of the same query. It logs the time from
// the kill to the job running again.
func TestKilledClusterResumesExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "runnel")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dataDir := t.TempDir()
	src := nexmark.Source{Events: 60000, Seed: 3, EventRate: 20000, FirstEventTime: "2026-01-01T00:00:00Z", EventTimeRate: 4000}
	query := func(dir string) string { return renderQ5(t, dir, src) }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, addr, _ := startClusterBinary(t, bin, dataDir)
	c, err := client.New("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	interval := uint64(time.Second / time.Microsecond)
	run := func(name, dir string) *client.Pipeline {
		p, err := c.CreatePipeline(ctx, client.PipelinePost{Name: name, Query: query(dir), Parallelism: 1, CheckpointIntervalMicros: &interval})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	wantDir, gotDir := t.TempDir(), t.TempDir()
	base := run("uninterrupted", wantDir)
	if _, err := c.WaitForState(ctx, base.ID, client.StateFinished); err != nil {
		t.Fatal(err)
	}
	p := run("killed", gotDir)
	j, err := c.WaitForState(ctx, p.ID, client.StateRunning)
	if err != nil {
		t.Fatal(err)
	}
	for {
		cps, err := c.ListCheckpoints(ctx, p.ID, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) >= 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()

	_, addr, _ = startClusterBinary(t, bin, dataDir)
	if c, err = client.New("http://" + addr); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForJob(ctx, p.ID, func(j *client.Job) (bool, error) {
		return j.State == client.StateRunning && j.RunID > 1, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("from SIGKILL to Running again: %s", time.Since(killed).Round(time.Millisecond))
	if _, err := c.WaitForState(ctx, p.ID, client.StateFinished); err != nil {
		t.Fatal(err)
	}
	want, got := publishedRows(t, wantDir), publishedRows(t, gotDir)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("after the kill: %d rows, want the %d of the uninterrupted run\n got %v\nwant %v", len(got), len(want), got, want)
	}
}

// publishedRows reads every published (not hidden) file in dir, sorted.
func publishedRows(t *testing.T, dir string) []string {
	t.Helper()
	rows, err := filesystem.PublishedLines(dir)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
