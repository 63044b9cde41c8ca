package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/runnel-dev/runnel/bench/nexmark"
	"github.com/runnel-dev/runnel/internal/store/postgres/pgtest"
	"github.com/runnel-dev/runnel/pkg/client"
)

// These tests run Runnel as separate processes on PostgreSQL: `runnel
// api`, one or two `runnel controller`s with the process scheduler, and
// the `runnel worker`s those start. They kill parts with SIGKILL and check
// that the committed output equals an uninterrupted run's.

// proc is a runnel process started by a test.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
}

// startProc starts bin with args and env and waits for a log line matching
// re, whose first group it returns.
func startProc(t *testing.T, bin string, env []string, re *regexp.Regexp, args ...string) (*proc, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := &proc{cmd: cmd, lines: make(chan string, 10000)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if testing.Verbose() {
				fmt.Fprintf(os.Stderr, "[%s %d] %s\n", args[0], cmd.Process.Pid, sc.Text())
			}
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	if re == nil {
		return p, ""
	}
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("runnel %s exited before logging %s", args[0], re)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return p, m[1]
			}
		case <-timeout:
			t.Fatalf("runnel %s did not log %s", args[0], re)
		}
	}
}

var (
	grpcAddrRE = regexp.MustCompile(`msg="controller gRPC listening" addr=(127\.0\.0\.1:\d+)`)
	leadingRE  = regexp.MustCompile(`msg="(leading): this controller runs the jobs"`)
	httpAddrRE = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)
)

// distributed is a test deployment: PostgreSQL, a data dir for file://
// checkpoints shared by all processes, and the binary.
type distributed struct {
	t       *testing.T
	bin     string
	db      string
	dataDir string
	env     []string
}

// newDistributed builds the binary; env is added to every process's
// environment after the test settings.
func newDistributed(t *testing.T, env ...string) *distributed {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin := filepath.Join(t.TempDir(), "runnel")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return &distributed{
		t: t, bin: bin, db: pgtest.Schema(t), dataDir: t.TempDir(),
		env: append([]string{
			"RUNNEL_CONTROLLER__SLOTS_PER_WORKER=2",
			"RUNNEL_CONTROLLER__POLL_INTERVAL=100ms",
			"RUNNEL_CONTROLLER__INITIAL_BACKOFF=100ms",
			"RUNNEL_CONTROLLER__HEARTBEAT_INTERVAL=250ms",
			"RUNNEL_CONTROLLER__HEARTBEAT_TIMEOUT=2s",
			"RUNNEL_WORKER__CONTROLLER_TIMEOUT=3s",
		}, env...),
	}
}

func (d *distributed) controller(wantLead bool) (*proc, string) {
	p, addr := startProc(d.t, d.bin, d.env, grpcAddrRE, "controller", "--database-url", d.db, "--data-dir", d.dataDir,
		"--scheduler", "process", "--grpc-addr", "127.0.0.1:0")
	if wantLead {
		d.waitLine(p, leadingRE)
	}
	return p, addr
}

func (d *distributed) waitLine(p *proc, re *regexp.Regexp) {
	d.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				d.t.Fatalf("process exited before logging %s", re)
			}
			if re.MatchString(l) {
				return
			}
		case <-timeout:
			d.t.Fatalf("no log line %s", re)
		}
	}
}

func (d *distributed) api(extra ...string) *client.Client {
	args := append([]string{"api", "--database-url", d.db, "--data-dir", d.t.TempDir(), "--http-addr", "127.0.0.1:0"}, extra...)
	_, addr := startProc(d.t, d.bin, d.env, httpAddrRE, args...)
	c, err := client.New("http://" + addr)
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

// q5 renders Nexmark q5 (hot items over sliding windows) at a fixed event
// rate, so that a run lasts long enough to be killed in the middle.
func q5(t *testing.T, dir string, events int64, rate float64) string {
	return renderQ5(t, dir, nexmark.Source{Events: events, Seed: 5, EventRate: rate, FirstEventTime: "2026-01-01T00:00:00Z", EventTimeRate: 500})
}

// renderQ5 renders Nexmark q5 over src into a JSON file sink in dir.
func renderQ5(t *testing.T, dir string, src nexmark.Source) string {
	t.Helper()
	q, err := nexmark.Render("q5", src, nexmark.FileSink(dir, "json"))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func createPipeline(ctx context.Context, t *testing.T, c *client.Client, name, query string, parallelism int) *client.Pipeline {
	t.Helper()
	interval := uint64(time.Second / time.Microsecond)
	p, err := c.CreatePipeline(ctx, client.PipelinePost{Name: name, Query: query, Parallelism: uint64(parallelism), CheckpointIntervalMicros: &interval})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitCheckpoints waits until the job has n completed checkpoints.
func waitCheckpoints(ctx context.Context, t *testing.T, c *client.Client, pipelineID, jobID string, n int) {
	t.Helper()
	for {
		cps, err := c.ListCheckpoints(ctx, pipelineID, jobID)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, cp := range cps {
			if cp.FinishTime != nil {
				done++
			}
		}
		if done >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d checkpoints: %v", n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// workerPIDs lists the `runnel worker` children of pid.
func workerPIDs(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces; fields after its ')' are fixed.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		f := strings.Fields(rest)
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), "worker") {
			out = append(out, child)
		}
	}
	slices.Sort(out)
	return out
}

// TestProcessSchedulerWorkerKill runs Nexmark q5 at parallelism 4 on two
// worker processes (2 slots each), kills one worker with SIGKILL after a
// checkpoint, and checks that the job recovers on new workers and that
// its published rows equal those of an uninterrupted run. The process
// scheduler sees the exit at once, unless the other worker's broken data
// streams are first to fail the run.
func TestProcessSchedulerWorkerKill(t *testing.T) {
	workerFailure(t, syscall.SIGKILL, "worker process exited", "exchange")
}

// TestProcessSchedulerWorkerFreeze is the same with SIGSTOP: the worker
// neither exits nor closes its connections, as on a machine that hangs,
// so only its missed heartbeats give it away.
func TestProcessSchedulerWorkerFreeze(t *testing.T) {
	workerFailure(t, syscall.SIGSTOP, "no heartbeat")
}

// workerFailure sends sig to one worker of a running q5 and checks the job
// recovers exactly once, with one of causes in its log.
func workerFailure(t *testing.T, sig syscall.Signal, causes ...string) {
	d := newDistributed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ctrl, grpcAddr := d.controller(true)
	c := d.api("--controller-addr", grpcAddr)

	wantDir, gotDir := t.TempDir(), t.TempDir()
	base := createPipeline(ctx, t, c, "uninterrupted", q5(t, wantDir, 200000, 20000), 4)
	if _, err := c.WaitForState(ctx, base.ID, client.StateRunning); err != nil {
		t.Fatal(err)
	}
	if n := len(workerPIDs(t, ctrl.cmd.Process.Pid)); n != 2 {
		t.Errorf("%d worker processes for parallelism 4 with 2 slots each, want 2", n)
	}
	if _, err := c.WaitForState(ctx, base.ID, client.StateFinished); err != nil {
		t.Fatal(err)
	}

	p := createPipeline(ctx, t, c, "failed", q5(t, gotDir, 200000, 20000), 4)
	j, err := c.WaitForState(ctx, p.ID, client.StateRunning)
	if err != nil {
		t.Fatal(err)
	}
	waitCheckpoints(ctx, t, c, p.ID, j.ID, 2)
	pids := workerPIDs(t, ctrl.cmd.Process.Pid)
	if len(pids) != 2 {
		t.Fatalf("worker processes %v, want 2", pids)
	}
	if err := syscall.Kill(pids[1], sig); err != nil {
		t.Fatal(err)
	}
	hit := time.Now()
	if _, err := c.WaitForJob(ctx, p.ID, func(j *client.Job) (bool, error) {
		return j.State == client.StateRunning && j.RunID > 1, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("from %s of a worker to Running again: %s", sig, time.Since(hit).Round(time.Millisecond))
	if alive(pids[1]) {
		t.Errorf("the %s worker %d still runs beside the recovery", sig, pids[1])
	}
	errs, err := c.ListJobErrors(ctx, p.ID, j.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(errs.Data, func(m client.JobLogMessage) bool {
		return slices.ContainsFunc(causes, func(c string) bool { return strings.Contains(m.Details, c) })
	}) {
		t.Errorf("no error naming any of %q in the job's log: %+v", causes, errs.Data)
	}
	if _, err := c.WaitForState(ctx, p.ID, client.StateFinished); err != nil {
		t.Fatal(err)
	}
	if left := workerPIDs(t, ctrl.cmd.Process.Pid); len(left) != 0 {
		t.Errorf("worker processes %v still run after the job finished", left)
	}
	want, got := publishedRows(t, wantDir), publishedRows(t, gotDir)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("after the worker's %s: %d rows, want the %d of the uninterrupted run", sig, len(got), len(want))
	}
	t.Logf("%d rows, identical to the uninterrupted run", len(got))
}

// TestControllerFailover runs two controllers on one PostgreSQL; the
// leader is killed with SIGKILL while a job runs, the standby takes the
// lease and recovers the job, and the output equals an uninterrupted run.
func TestControllerFailover(t *testing.T) {
	d := newDistributed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	first, _ := d.controller(true)
	second, _ := d.controller(false)
	// Two API servers on one store, both following the leader recorded in
	// PostgreSQL rather than a fixed controller address.
	c, c2 := d.api(), d.api()

	wantDir, gotDir := t.TempDir(), t.TempDir()
	base := createPipeline(ctx, t, c, "uninterrupted", q5(t, wantDir, 200000, 20000), 2)
	if _, err := c.WaitForState(ctx, base.ID, client.StateFinished); err != nil {
		t.Fatal(err)
	}
	p := createPipeline(ctx, t, c, "failover", q5(t, gotDir, 200000, 20000), 2)
	j, err := c.WaitForState(ctx, p.ID, client.StateRunning)
	if err != nil {
		t.Fatal(err)
	}
	waitCheckpoints(ctx, t, c, p.ID, j.ID, 2)
	workers := workerPIDs(t, first.cmd.Process.Pid)
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	d.waitLine(second, leadingRE)
	t.Logf("from SIGKILL of the leader to the standby leading: %s", time.Since(killed).Round(time.Millisecond))
	if _, err := c.WaitForJob(ctx, p.ID, func(j *client.Job) (bool, error) {
		return j.State == client.StateRunning && j.RunID > 1, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("from SIGKILL of the leader to the job Running again: %s", time.Since(killed).Round(time.Millisecond))
	// The second API server reaches the new leader for live metrics, which
	// only the controller running the job has.
	j2, err := c2.CurrentJob(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for {
		groups, err := c2.OperatorMetricGroups(ctx, p.ID, j2.ID)
		if err != nil {
			t.Fatalf("metrics through the second API server after failover: %v", err)
		}
		if len(groups) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no metrics from the new leader")
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, pid := range workers {
		if alive(pid) {
			t.Errorf("worker %d of the dead leader still runs", pid)
		}
	}
	if _, err := c.WaitForState(ctx, p.ID, client.StateFinished); err != nil {
		t.Fatal(err)
	}
	want, got := publishedRows(t, wantDir), publishedRows(t, gotDir)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("after failover: %d rows, want the %d of the uninterrupted run", len(got), len(want))
	}
	t.Logf("%d rows, identical to the uninterrupted run", len(got))
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	return len(f) > 0 && f[0] != "Z"
}
