package kubernetes_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/runnel-dev/runnel/internal/controller"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/output"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
	"github.com/runnel-dev/runnel/internal/scheduler"
	"github.com/runnel-dev/runnel/internal/scheduler/kubernetes"
	"github.com/runnel-dev/runnel/internal/scheduler/kubernetes/kubetest"
	"github.com/runnel-dev/runnel/internal/sql"
	"github.com/runnel-dev/runnel/internal/state"
	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/sqlite"
	"github.com/runnel-dev/runnel/internal/worker"
)

const (
	namespace = "runnel"
	slots     = 2
)

// lifecycleSQL is unbounded and keeps keyed window state, so that the
// rescale and the stop each carry state over a checkpoint.
const lifecycleSQL = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '500');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT counter % 8 AS k, tumble(interval '1 second') AS window, count(*) AS n FROM impulse GROUP BY k, window;`

var podConfig = kubernetes.Config{
	Namespace: namespace,
	Image:     "runnel:lifecycle",
	Resources: kubernetes.Resources{CPURequest: "250m", MemoryRequest: "64Mi", MemoryLimit: "128Mi"},
	Owner:     &kubernetes.Owner{APIVersion: "v1", Kind: "Pod", Name: "runnel-controller-0", UID: "controller-uid"},
}

// transitions records every state change per job, as the controller
// reports them.
type transitions struct {
	mu   sync.Mutex
	jobs map[string][]lifecycle.State
}

func (tr *transitions) add(jobID string, from, to lifecycle.State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.jobs == nil {
		tr.jobs = map[string][]lifecycle.State{}
	}
	if len(tr.jobs[jobID]) == 0 {
		tr.jobs[jobID] = append(tr.jobs[jobID], from)
	}
	tr.jobs[jobID] = append(tr.jobs[jobID], to)
}

func (tr *transitions) all() map[string][]lifecycle.State {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return maps.Clone(tr.jobs)
}

func (tr *transitions) of(jobID string) []lifecycle.State {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.jobs[jobID])
}

// workerConfig reads a worker's identity from its pod's container args,
// which the scheduler made from scheduler.WorkerArgs.
func workerConfig(pod *corev1.Pod) (worker.Config, error) {
	args := pod.Spec.Containers[0].Args
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfg worker.Config
	fs.StringVar(&cfg.ControllerAddr, "controller-addr", "", "")
	fs.StringVar(&cfg.JobID, "job-id", "", "")
	fs.Int64Var(&cfg.RunID, "run-id", 0, "")
	fs.StringVar(&cfg.WorkerID, "worker-id", "", "")
	fs.IntVar(&cfg.Slots, "slots", 0, "")
	fs.StringVar(&cfg.ListenAddr, "listen-addr", "", "")
	if len(args) == 0 || args[0] != "worker" {
		return cfg, fmt.Errorf("pod %s: args %q do not start a worker", pod.Name, args)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return cfg, fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	return cfg, nil
}

// lockedBuffer is an io.Writer safe for the goroutines that log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// failureLog keeps the warnings of controller, runner and workers and
// shows them if the test fails. It never writes to t itself, so that a
// goroutine logging after the test cannot make it panic.
func failureLog(t *testing.T) *slog.Logger {
	buf := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warnings:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type env struct {
	t       *testing.T
	client  *fake.Clientset
	sched   *kubernetes.Scheduler
	kubelet *kubetest.Kubelet
	store   store.Store
	trans   *transitions
	addr    string // the controller's gRPC address
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	log := failureLog(t)
	e := &env{t: t, client: fake.NewClientset(), trans: &transitions{}}
	var err error
	if e.sched, err = kubernetes.New(e.client, podConfig); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	cpDir := t.TempDir()
	cpURL := (&url.URL{Scheme: "file", Path: cpDir}).String()
	dial := grpc.WithTransportCredentials(insecure.NewCredentials())
	runner, err := scheduler.NewRunner(scheduler.RunnerConfig{
		Scheduler:         e.sched,
		ControllerAddr:    e.addr,
		CheckpointURL:     cpURL,
		Slots:             slots,
		StartupTimeout:    10 * time.Second,
		HeartbeatInterval: 50 * time.Millisecond,
		HeartbeatTimeout:  2 * time.Second,
		DialOptions:       []grpc.DialOption{dial},
		Logger:            log,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterWorkerControlServiceServer(srv, runner.ControlService())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})

	// The kubelet runs each pod's worker in this process. Pods have no IP,
	// so the worker listens on loopback instead of the pod's listen flag.
	e.kubelet = &kubetest.Kubelet{Client: e.client, Namespace: namespace, Run: func(ctx context.Context, pod *corev1.Pod) {
		cfg, err := workerConfig(pod)
		if err != nil {
			t.Error(err)
			return
		}
		cfg.ListenAddr = "127.0.0.1:0"
		cfg.HeartbeatTimeout = 2 * time.Second
		cfg.DialOptions = []grpc.DialOption{dial}
		cfg.Logger = log
		_ = worker.Run(ctx, cfg) // how a worker ends shows in the job's states
	}}
	stopKubelet, err := e.kubelet.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopKubelet)

	st, err := sqlite.Open(ctx, t.TempDir()+"/runnel.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e.store = st
	cps, err := state.Open(ctx, cpURL)
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := controller.New(controller.Config{
		Store: st, Runner: runner, Hub: output.NewHub(32), Logger: log,
		Checkpoints:       cps,
		CheckpointTimeout: 10 * time.Second,
		PollInterval:      20 * time.Millisecond,
		InitialBackoff:    10 * time.Millisecond,
		MaxBackoff:        40 * time.Millisecond,
		StopTimeout:       10 * time.Second,
		OnTransition:      e.trans.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("controller did not stop")
		}
	})
	return e
}

func (e *env) create(query string, parallelism int) store.Pipeline {
	e.t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	p := store.Pipeline{
		OrgID: store.DefaultOrg, ID: store.NewID("pl"), Name: "k8s-lifecycle", Query: query,
		Parallelism: parallelism, Graph: []byte(`{"nodes":[],"edges":[]}`), CreatedAt: now,
		Job: store.Job{
			OrgID: store.DefaultOrg, ID: store.NewID("job"), CreatedAt: now,
			Config: store.JobConfig{Stop: lifecycle.StopNone, CheckpointInterval: 200 * time.Millisecond, RestartMode: store.RestartSafe, UpdatedAt: now},
			Status: store.JobStatus{State: lifecycle.Created},
		},
	}
	p.Job.PipelineID = p.ID
	if err := e.store.CreatePipeline(context.Background(), p, 0); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) patch(p store.Pipeline, patch store.ConfigPatch) {
	e.t.Helper()
	if _, err := e.store.UpdateJobConfig(context.Background(), store.DefaultOrg, p.ID, patch, 0); err != nil {
		e.t.Fatal(err)
	}
}

// waitJob polls the stored job until cond holds.
func (e *env) waitJob(p store.Pipeline, what string, cond func(store.Job) bool) store.Job {
	e.t.Helper()
	var j store.Job
	e.eventually(what, func() bool {
		var err error
		if j, err = e.store.GetJob(context.Background(), store.DefaultOrg, p.ID, p.Job.ID); err != nil {
			e.t.Fatal(err)
		}
		if j.Status.State == lifecycle.Failed {
			e.t.Fatalf("job failed waiting for %s: %+v", what, j.Status.Failure)
		}
		return cond(j)
	})
	return j
}

func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; transitions so far %v", what, e.trans.all())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// podActions are the pod creates and deletes made so far, as "create
// name" and "delete name".
func (e *env) podActions() []string {
	var out []string
	for _, a := range e.client.Actions() {
		if a.GetResource().Resource != "pods" {
			continue
		}
		switch a := a.(type) {
		case k8stesting.CreateAction:
			out = append(out, "create "+a.GetObject().(*corev1.Pod).Name)
		case k8stesting.DeleteAction:
			out = append(out, "delete "+a.GetName())
		}
	}
	return out
}

func (e *env) podNames() []string {
	e.t.Helper()
	list, err := e.client.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// checkPods checks that the pods of run are exactly the workers a
// StartRequest for it asks for, each as the scheduler describes it.
func (e *env) checkPods(jobID string, run int64, workers int) []string {
	e.t.Helper()
	sel := kubernetes.RunSelector(jobID, run).String()
	list, err := e.client.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(list.Items) != workers {
		e.t.Fatalf("run %d has %d pods, want %d", run, len(list.Items), workers)
	}
	req := scheduler.StartRequest{JobID: jobID, RunID: run, Workers: workers, Slots: slots, ControllerAddr: e.addr}
	var names []string
	for i := range workers {
		name := kubernetes.PodName(jobID, run, i)
		names = append(names, name)
		idx := slices.IndexFunc(list.Items, func(p corev1.Pod) bool { return p.Name == name })
		if idx < 0 {
			e.t.Errorf("run %d: no pod %s", run, name)
			continue
		}
		pod := list.Items[idx]
		workerID := scheduler.WorkerID(jobID, run, i)
		wantLabels := map[string]string{
			kubernetes.LabelName:      "runnel",
			kubernetes.LabelComponent: "worker",
			kubernetes.LabelJobID:     kubernetes.LabelValue(jobID),
			kubernetes.LabelRunID:     strconv.FormatInt(run, 10),
			kubernetes.LabelWorkerID:  kubernetes.LabelValue(workerID),
		}
		if !maps.Equal(pod.Labels, wantLabels) {
			e.t.Errorf("pod %s labels %v, want %v", name, pod.Labels, wantLabels)
		}
		if got := pod.Annotations[kubernetes.LabelWorkerID]; got != workerID {
			e.t.Errorf("pod %s worker id annotation %q, want %q", name, got, workerID)
		}
		wantOwner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "runnel-controller-0", UID: "controller-uid"}}
		if !slices.Equal(pod.OwnerReferences, wantOwner) {
			e.t.Errorf("pod %s owners %+v, want %+v", name, pod.OwnerReferences, wantOwner)
		}
		if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || len(pod.Spec.Containers) != 1 {
			e.t.Fatalf("pod %s: restart policy %q, %d containers", name, pod.Spec.RestartPolicy, len(pod.Spec.Containers))
		}
		c := pod.Spec.Containers[0]
		wantArgs := append(scheduler.WorkerArgs(req, i), "--listen-addr", net.JoinHostPort("0.0.0.0", strconv.Itoa(kubernetes.DefaultWorkerPort)))
		if c.Name != kubernetes.ContainerName || c.Image != podConfig.Image || !slices.Equal(c.Args, wantArgs) {
			e.t.Errorf("pod %s container %s image %s args %q, want %s %s %q", name, c.Name, c.Image, c.Args, kubernetes.ContainerName, podConfig.Image, wantArgs)
		}
		// Resources are per slot, so each worker asks for slots times as
		// much; the unset cpu limit stays unset.
		wantRes := corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		}
		if !apiequality.Semantic.DeepEqual(c.Resources, wantRes) {
			e.t.Errorf("pod %s resources %v, want %v", name, c.Resources, wantRes)
		}
	}
	return names
}

// TestKubernetesLifecycle runs a job on worker pods through start,
// rescale and a checkpointed stop, with a real controller and in-process
// workers started by a fake kubelet for every pod the scheduler creates.
func TestKubernetesLifecycle(t *testing.T) {
	e := newEnv(t)
	p := e.create(lifecycleSQL, 4)
	jobID := p.Job.ID

	// Run 1: parallelism 4 on workers of 2 slots is 2 pods.
	j := e.waitJob(p, "run 1 running", func(j store.Job) bool { return j.Status.State == lifecycle.Running })
	prog, err := sql.Plan(lifecycleSQL, sql.Options{Parallelism: 4})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status.RunID != 1 || j.Status.Tasks == nil || *j.Status.Tasks != prog.Tasks() {
		t.Fatalf("run 1 status %+v, want run 1 with %d tasks", j.Status, prog.Tasks())
	}
	run1 := e.checkPods(jobID, 1, 2)
	if got := e.kubelet.Running(); !slices.Equal(got, sorted(run1)) {
		t.Errorf("kubelet runs %v, want %v", got, sorted(run1))
	}

	// Rescale every node to 2: one worker of 2 slots.
	overrides := map[int]int{}
	for _, n := range prog.Nodes {
		overrides[n.ID] = 2
	}
	e.patch(p, store.ConfigPatch{ParallelismOverrides: overrides})
	rescaled, err := prog.WithParallelism(overrides)
	if err != nil {
		t.Fatal(err)
	}
	j = e.waitJob(p, "run 2 running", func(j store.Job) bool {
		return j.Status.State == lifecycle.Running && j.Status.RunID == 2
	})
	if j.Status.Tasks == nil || *j.Status.Tasks != rescaled.Tasks() {
		t.Errorf("run 2 tasks %v, want %d", j.Status.Tasks, rescaled.Tasks())
	}
	run2 := e.checkPods(jobID, 2, 1)
	if got := e.podNames(); !slices.Equal(got, run2) {
		t.Errorf("pods after the rescale %v, want only %v", got, run2)
	}
	// The kubelet sees the deletes through its watch, a moment later.
	e.eventually("run 1's workers to stop", func() bool { return slices.Equal(e.kubelet.Running(), run2) })

	// Checkpoints go on in run 2: one completes after the rescale's.
	cps, err := e.store.ListCheckpoints(context.Background(), store.DefaultOrg, jobID)
	if err != nil {
		t.Fatal(err)
	}
	var rescaleEpoch int64
	for _, c := range cps {
		rescaleEpoch = max(rescaleEpoch, c.Epoch)
	}
	e.eventually("a checkpoint of run 2", func() bool {
		cps, err := e.store.ListCheckpoints(context.Background(), store.DefaultOrg, jobID)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(cps, func(c store.Checkpoint) bool {
			return c.Epoch > rescaleEpoch && c.State == store.CheckpointReady && !c.Stopping
		})
	})

	stop := lifecycle.StopCheckpoint
	e.patch(p, store.ConfigPatch{Stop: &stop})
	e.waitJob(p, "stopped", func(j store.Job) bool { return j.Status.State == lifecycle.Stopped })
	if got := e.podNames(); len(got) != 0 {
		t.Errorf("pods left after the stop: %v", got)
	}
	e.eventually("every worker to stop", func() bool { return len(e.kubelet.Running()) == 0 })

	wantStates := []lifecycle.State{
		lifecycle.Created, lifecycle.Compiling, lifecycle.Scheduling, lifecycle.Running,
		lifecycle.Rescaling, lifecycle.Scheduling, lifecycle.Running,
		lifecycle.CheckpointStopping, lifecycle.Stopped,
	}
	if got := e.trans.of(jobID); !slices.Equal(got, wantStates) {
		t.Errorf("transitions %v, want %v", got, wantStates)
	}

	// Creates in worker order, deletes in name order (the scheduler deletes
	// what a list returns, which the fake sorts).
	var want []string
	for _, n := range run1 {
		want = append(want, "create "+n)
	}
	for _, n := range sorted(run1) {
		want = append(want, "delete "+n)
	}
	want = append(want, "create "+run2[0], "delete "+run2[0])
	if got := e.podActions(); !slices.Equal(got, want) {
		t.Errorf("pod actions\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
