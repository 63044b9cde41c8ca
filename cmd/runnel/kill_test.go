package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/pkg/client"
)

// TestKilledClusterResumesExactlyOnce kills the whole `runnel cluster`
// process (SIGKILL, no shutdown) while a job writes files, starts it again
// on the same data dir, and checks that the job recovers from its last
// checkpoint and that the published output holds every row exactly once.
// It logs the time from the kill to the job running again.
func TestKilledClusterResumesExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "runnel")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dataDir, outDir := t.TempDir(), t.TempDir()
	const n = 30000
	query := fmt.Sprintf(`CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '5000', message_count = '%d');
CREATE TABLE out WITH (connector = 'filesystem', path = '%s', format = 'json');
INSERT INTO out SELECT counter FROM impulse;`, n, outDir)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, addr, _ := startClusterBinary(t, bin, dataDir)
	c, err := client.New("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	interval := uint64(time.Second / time.Microsecond)
	p, err := c.CreatePipeline(ctx, client.PipelinePost{Name: "counted", Query: query, Parallelism: 1, CheckpointIntervalMicros: &interval})
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.WaitForState(ctx, p.ID, client.StateRunning)
	if err != nil {
		t.Fatal(err)
	}
	for {
		cps, err := c.ListCheckpoints(ctx, p.ID, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) >= 2 {
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

	seen := make([]int, n)
	entries, err := os.ReadDir(outDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := os.Open(filepath.Join(outDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var row struct{ Counter int }
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row.Counter < 0 || row.Counter >= n {
				t.Fatalf("%s: %q: %v", e.Name(), sc.Text(), err)
			}
			seen[row.Counter]++
		}
		_ = f.Close()
	}
	for i, k := range seen {
		if k != 1 {
			t.Fatalf("counter %d published %d times after the kill and restart", i, k)
		}
	}
}
