// Package kubetest stands in for the kubelet in tests of the kubernetes
// scheduler: it watches the pods of a (usually fake) clientset and runs a
// function for each, cancelling it when the pod is deleted. A lifecycle
// test can so run an in-process worker per pod the scheduler creates.
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// WatchPods calls fn(pod, false) once for every pod in namespace that
// exists or is created, and fn(pod, true) once when it is deleted or starts
// terminating, until ctx is done; then it returns ctx.Err(). The calls are
// sequential, in the order the watch reports them.
func WatchPods(ctx context.Context, client kubernetes.Interface, namespace string, fn func(pod *corev1.Pod, deleted bool)) error {
	w, err := startWatch(ctx, client, namespace, fn)
	if err != nil {
		return err
	}
	return w.run(ctx)
}

type podWatch struct {
	w    watch.Interface
	fn   func(*corev1.Pod, bool)
	seen map[types.UID]bool
}

// startWatch opens the watch before listing, so no pod created in between
// is missed; one seen in both is reported once.
func startWatch(ctx context.Context, client kubernetes.Interface, namespace string, fn func(*corev1.Pod, bool)) (*podWatch, error) {
	pods := client.CoreV1().Pods(namespace)
	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("watch pods in %s: %w", namespace, err)
	}
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		w.Stop()
		return nil, fmt.Errorf("list pods in %s: %w", namespace, err)
	}
	pw := &podWatch{w: w, fn: fn, seen: map[types.UID]bool{}}
	for i := range list.Items {
		pw.event(watch.Added, &list.Items[i])
	}
	return pw, nil
}

func (pw *podWatch) run(ctx context.Context) error {
	defer pw.w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-pw.w.ResultChan():
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return errors.New("pod watch closed")
			}
			if pod, ok := ev.Object.(*corev1.Pod); ok {
				pw.event(ev.Type, pod)
			}
		}
	}
}

func (pw *podWatch) event(typ watch.EventType, pod *corev1.Pod) {
	key := podKey(pod)
	gone := typ == watch.Deleted || pod.DeletionTimestamp != nil
	switch running, known := pw.seen[key]; {
	case gone && running:
		pw.seen[key] = false // remembered, so a later Deleted is not reported again
		pw.fn(pod, true)
	case !gone && !known:
		pw.seen[key] = true
		pw.fn(pod, false)
	}
}

// podKey is the pod's UID, or its name where the fake clientset leaves the
// UID empty.
func podKey(pod *corev1.Pod) types.UID {
	if pod.UID != "" {
		return pod.UID
	}
	return types.UID(pod.Namespace + "/" + pod.Name)
}

// Kubelet runs Run for every pod in Namespace, each in its own goroutine
// with a context that is cancelled when the pod is deleted or the Kubelet
// stops.
type Kubelet struct {
	Client    kubernetes.Interface
	Namespace string
	Run       func(ctx context.Context, pod *corev1.Pod)

	mu      sync.Mutex
	running map[types.UID]running
	wg      sync.WaitGroup
}

type running struct {
	name   string
	cancel context.CancelFunc
}

// Start watches the pods and returns once pods that exist already have
// been started; stop cancels every Run and waits for all to return. Start
// a Kubelet once. Pods get no status: a worker run in process should
// advertise a loopback address rather than the pod IP.
func (k *Kubelet) Start(ctx context.Context) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	k.running = map[types.UID]running{}
	w, err := startWatch(ctx, k.Client, k.Namespace, func(pod *corev1.Pod, deleted bool) { k.event(ctx, pod, deleted) })
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.run(ctx) // only ends when ctx is cancelled or the fake watch closes
	}()
	return func() {
		cancel()
		<-done
		k.wg.Wait()
	}, nil
}

// Running returns the sorted names of the pods whose Run has not been
// cancelled.
func (k *Kubelet) Running() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var names []string
	for _, r := range k.running {
		names = append(names, r.name)
	}
	slices.Sort(names)
	return names
}

func (k *Kubelet) event(ctx context.Context, pod *corev1.Pod, deleted bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := podKey(pod)
	if deleted {
		if r, ok := k.running[key]; ok {
			r.cancel()
			delete(k.running, key)
		}
		return
	}
	podCtx, cancel := context.WithCancel(ctx)
	k.running[key] = running{name: pod.Name, cancel: cancel}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		k.Run(podCtx, pod)
	}()
}
