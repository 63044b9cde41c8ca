package kubetest_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/runnel-dev/runnel/internal/scheduler"
	"github.com/runnel-dev/runnel/internal/scheduler/kubernetes"
	"github.com/runnel-dev/runnel/internal/scheduler/kubernetes/kubetest"
)

func pod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
}

// eventually fails the test unless cond holds within a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchPods(t *testing.T) {
	client := fake.NewClientset(pod("old"))
	pods := client.CoreV1().Pods("ns")

	var mu sync.Mutex
	var events []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- kubetest.WatchPods(ctx, client, "ns", func(p *corev1.Pod, deleted bool) {
			mu.Lock()
			defer mu.Unlock()
			ev := "+" + p.Name
			if deleted {
				ev = "-" + p.Name
			}
			events = append(events, ev)
		})
	}()
	got := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(events, " ")
	}
	eventually(t, "the existing pod", func() bool { return got() == "+old" })

	bg := context.Background()
	if _, err := pods.Create(bg, pod("new"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Other namespaces are not watched.
	if _, err := client.CoreV1().Pods("other").Create(bg, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(bg, "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "create and delete", func() bool { return got() == "+old +new -old" })

	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("WatchPods returned %v, want context.Canceled", err)
	}
}

func TestKubeletRunsSchedulerPods(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	s, err := kubernetes.New(client, kubernetes.Config{Namespace: "ns", Image: "runnel:test"})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	args := map[string][]string{} // pod name -> worker args
	stopped := map[string]bool{}  // pod name -> its Run returned
	k := &kubetest.Kubelet{Client: client, Namespace: "ns", Run: func(ctx context.Context, p *corev1.Pod) {
		mu.Lock()
		args[p.Name] = p.Spec.Containers[0].Args
		mu.Unlock()
		<-ctx.Done()
		mu.Lock()
		stopped[p.Name] = true
		mu.Unlock()
	}}
	stop, err := k.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}

	req := scheduler.StartRequest{JobID: "job", RunID: 1, Workers: 2, Slots: 1, ControllerAddr: "c:9190"}
	if err := s.StartWorkers(ctx, req); err != nil {
		t.Fatal(err)
	}
	req.RunID = 2
	if err := s.StartWorkers(ctx, req); err != nil {
		t.Fatal(err)
	}
	all := []string{"runnel-job-1-0", "runnel-job-1-1", "runnel-job-2-0", "runnel-job-2-1"}
	// Running lists a pod once its Run has started, which may be before
	// Run has recorded anything: wait for both.
	eventually(t, "four workers", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Equal(k.Running(), all) && len(args) == len(all)
	})
	mu.Lock()
	if got := args["runnel-job-2-1"]; !slices.Contains(got, "job-2-1") {
		t.Errorf("worker args %v lack the worker id", got)
	}
	mu.Unlock()

	if err := s.StopWorkers(ctx, "job", 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "run 1 to stop", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return stopped["runnel-job-1-0"] && stopped["runnel-job-1-1"]
	})
	if got := k.Running(); !slices.Equal(got, all[2:]) {
		t.Errorf("running %v, want %v", got, all[2:])
	}

	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(stopped) != 4 {
		t.Errorf("after stop, %d of 4 workers returned", len(stopped))
	}
}
